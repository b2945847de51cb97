// The eFEL-compatible feature library on analytic traces: a piecewise-linear spike train
// with known spike times, heights, AHPs and widths; an exponential step response; and the
// edge cases (NaN, too short, no spikes, a spike cut off at the end, a trace starting above
// the threshold); thread-count independence of compute_batch. The comparison with eFEL
// itself is tests/validation/test_efel.sh.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "features/detail/trace_context.hpp"
#include "features/feature_library.hpp"

namespace {

namespace ft = cellfit::features;

struct owned_trace {
  std::vector<double> t, v;
  double start = 0, end = 0, current = 0;
  ft::trace view() const {
    ft::trace tr;
    tr.t_ms = t.data();
    tr.v_mv = v.data();
    tr.n = t.size();
    tr.stim_start_ms = start;
    tr.stim_end_ms = end;
    tr.stimulus_current_na = current;
    return tr;
  }
};

// Baseline -70 mV; each spike rises linearly from -70 mV 1 ms before its peak to +40 mV,
// falls to -80 mV 2.5 ms after it and recovers linearly to -70 mV 10 ms later.
double spike_train_v(double t, const std::vector<double>& peaks) {
  for (double p : peaks) {
    const double x = t - p;
    if (x >= -1.0 && x <= 0.0) return 40.0 - 110.0 * (-x);
    if (x > 0.0 && x <= 2.5) return 40.0 - 48.0 * x;
    if (x > 2.5 && x <= 12.5) return -80.0 + (x - 2.5);
  }
  return -70.0;
}

const std::vector<double> train_peaks = {100, 150, 210, 280, 360};

// Sampled every 0.1 ms (t = k / 10, exact to rounding), stimulus 50..450 ms.
owned_trace spike_train(double t_stop = 500.0, const std::vector<double>& peaks = train_peaks) {
  owned_trace tr;
  for (int k = 0; k * 0.1 <= t_stop + 1e-9; ++k) {
    const double t = k / 10.0;
    tr.t.push_back(t);
    tr.v.push_back(spike_train_v(t, peaks));
  }
  tr.start = 50;
  tr.end = 450;
  return tr;
}

const ft::value& get(const std::vector<ft::value>& vs, const std::vector<std::string>& names,
                     const std::string& name) {
  for (std::size_t k = 0; k < names.size(); ++k) {
    if (names[k] == name) return vs[k];
  }
  throw std::runtime_error("no " + name);
}

double scalar(const std::vector<ft::value>& vs, const std::vector<std::string>& names,
              const std::string& name) {
  const ft::value& v = get(vs, names, name);
  EXPECT_TRUE(v.ok) << name << ": " << v.reason;
  EXPECT_EQ(v.values.size(), 1u) << name;
  return v.ok && !v.values.empty() ? v.values[0] : std::nan("");
}

TEST(features, names_and_unknown_names) {
  for (const char* n : {"spike_count",
                        "spike_count_stimint",
                        "mean_frequency",
                        "time_to_first_spike",
                        "time_to_last_spike",
                        "inv_first_ISI",
                        "all_ISI_values",
                        "ISI_CV",
                        "doublet_ISI",
                        "adaptation_index2",
                        "AP_height",
                        "AP_amplitude",
                        "AP1_amp",
                        "APlast_amp",
                        "AP_width",
                        "AP_duration_half_width",
                        "AHP_depth_abs",
                        "AHP_depth",
                        "AHP_depth_abs_slow",
                        "fast_AHP",
                        "voltage_base",
                        "steady_state_voltage",
                        "steady_state_voltage_stimend",
                        "voltage_deflection",
                        "ohmic_input_resistance",
                        "decay_time_constant_after_stim",
                        "minimum_voltage",
                        "maximum_voltage",
                        "Spikecount",
                        "Spikecount_stimint",
                        "AP_amplitude_from_voltagebase",
                        "AHP_slow_time"}) {
    EXPECT_TRUE(ft::is_known(n)) << n;
  }
  // eFEL's names are case-sensitive.
  EXPECT_FALSE(ft::is_known("spikecount"));
  EXPECT_NO_THROW(ft::check_names({"spike_count", "AP_width"}));
  try {
    ft::check_names({"spike_count", "AP_widht"});
    FAIL() << "no exception";
  } catch (const cellfit::config_error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown feature 'AP_widht'"), std::string::npos);
  }
  const owned_trace tr = spike_train();
  EXPECT_THROW(ft::compute(tr.view(), {"nope"}), cellfit::config_error);
  EXPECT_THROW(ft::check_settings([] {
                 ft::settings s;
                 s.interp_step_ms = 0;
                 return s;
               }()),
               cellfit::config_error);
  EXPECT_NO_THROW(ft::check_settings({}));
}

TEST(features, spike_train_timing) {
  const owned_trace tr = spike_train();
  const std::vector<std::string> names = {"spike_count",
                                          "spike_count_stimint",
                                          "peak_time",
                                          "all_ISI_values",
                                          "doublet_ISI",
                                          "inv_first_ISI",
                                          "ISI_CV",
                                          "mean_frequency",
                                          "time_to_first_spike",
                                          "time_to_last_spike",
                                          "adaptation_index2",
                                          "ISI_values"};
  const auto vs = ft::compute(tr.view(), names);
  EXPECT_EQ(scalar(vs, names, "spike_count"), 5);
  EXPECT_EQ(scalar(vs, names, "spike_count_stimint"), 5);
  const ft::value& pt = get(vs, names, "peak_time");
  ASSERT_TRUE(pt.ok) << pt.reason;
  ASSERT_EQ(pt.values.size(), train_peaks.size());
  for (std::size_t k = 0; k < train_peaks.size(); ++k) {
    EXPECT_NEAR(pt.values[k], train_peaks[k], 1e-9);
  }
  const ft::value& isi = get(vs, names, "all_ISI_values");
  ASSERT_EQ(isi.values.size(), 4u);
  const double want_isi[] = {50, 60, 70, 80};
  for (int k = 0; k < 4; ++k)
    EXPECT_NEAR(isi.values[static_cast<std::size_t>(k)], want_isi[k], 1e-9);
  EXPECT_EQ(get(vs, names, "ISI_values").values.size(), 3u);  // ignore_first_ISI
  EXPECT_NEAR(scalar(vs, names, "doublet_ISI"), 50, 1e-9);
  EXPECT_NEAR(scalar(vs, names, "inv_first_ISI"), 20, 1e-9);
  // Without the first ISI: 60, 70, 80: mean 70, sample std 10.
  EXPECT_NEAR(scalar(vs, names, "ISI_CV"), 10.0 / 70.0, 1e-12);
  EXPECT_NEAR(scalar(vs, names, "mean_frequency"), 5 * 1000.0 / (360 - 50), 1e-9);
  EXPECT_NEAR(scalar(vs, names, "time_to_first_spike"), 50, 1e-9);
  EXPECT_NEAR(scalar(vs, names, "time_to_last_spike"), 310, 1e-9);
  // Spikes 2..5: ISIs 60, 70, 80.
  EXPECT_NEAR(scalar(vs, names, "adaptation_index2"), (10.0 / 130 + 10.0 / 150) / 2, 1e-9);
}

TEST(features, spike_train_shape) {
  const owned_trace tr = spike_train();
  const std::vector<std::string> names = {"AP_height",
                                          "AP_amplitude",
                                          "AP1_amp",
                                          "APlast_amp",
                                          "AHP_depth_abs",
                                          "AHP_depth",
                                          "voltage_base",
                                          "AP_width",
                                          "AP_duration_half_width",
                                          "fast_AHP",
                                          "AHP_depth_abs_slow",
                                          "AP_begin_voltage",
                                          "AP_amplitude_from_voltagebase"};
  const auto vs = ft::compute(tr.view(), names);
  // The resampled times are accumulated sums of 0.1 ms, off by up to ~1e-11 ms late in the
  // trace; on a 110 mV/ms rise that is ~1e-9 mV.
  auto all_near = [&](const std::string& name, double want, std::size_t n, double tol) {
    const ft::value& v = get(vs, names, name);
    ASSERT_TRUE(v.ok) << name << ": " << v.reason;
    ASSERT_EQ(v.values.size(), n) << name;
    for (double x : v.values) EXPECT_NEAR(x, want, tol) << name;
    EXPECT_NEAR(v.mean(), want, tol) << name;
  };
  all_near("AP_height", 40, 5, 1e-7);
  // The AP begins where dV/dt first exceeds 10 mV/ms for 3 samples: the foot of the rise.
  all_near("AP_begin_voltage", -70, 5, 1e-7);
  all_near("AP_amplitude", 110, 5, 1e-7);
  all_near("AP1_amp", 110, 1, 1e-7);
  // Peak (40 mV) against the baseline (-70 mV), for every spike.
  all_near("AP_amplitude_from_voltagebase", 110, 5, 1e-7);
  all_near("APlast_amp", 110, 1, 1e-7);
  all_near("AHP_depth_abs", -80, 5, 1e-7);
  all_near("AHP_depth", -10, 5, 1e-7);
  all_near("voltage_base", -70, 1, 1e-12);
  // -20 mV is crossed 0.545 ms before the peak and 1.25 ms after it: the first samples at
  // or beyond it are 0.5 ms before and 1.3 ms after.
  all_near("AP_width", 1.8, 5, 1e-7);
  // Half height -15 mV: on the rise exactly 0.5 ms before the peak, on the fall closest at
  // 1.1 ms after it.
  all_near("AP_duration_half_width", 1.6, 5, 1e-7);
  // One value per spike but the last: -70 - (-80).
  all_near("fast_AHP", 10, 4, 1e-7);
  // From 5 ms after spikes 2..4 to the next spike: the recovery at 5 ms (-77.5 mV), or one
  // sample later if rounding puts the resampled time just before it.
  all_near("AHP_depth_abs_slow", -77.45, 3, 0.05 + 1e-7);
}

TEST(features, subthreshold_step_response) {
  // A 10 mV exponential charge (tau 10 ms) during 20..120 ms and the discharge after it.
  owned_trace tr;
  const double tau = 10;
  for (int k = 0; k <= 2000; ++k) {
    const double t = k / 10.0;
    double v = -70;
    if (t > 20 && t <= 120) v += 10 * (1 - std::exp(-(t - 20) / tau));
    if (t > 120) v += 10 * (1 - std::exp(-100 / tau)) * std::exp(-(t - 120) / tau);
    tr.t.push_back(t);
    tr.v.push_back(v);
  }
  tr.start = 20;
  tr.end = 120;
  tr.current = 0.05;
  const std::vector<std::string> names = {"spike_count",
                                          "voltage_base",
                                          "steady_state_voltage_stimend",
                                          "maximum_voltage",
                                          "minimum_voltage",
                                          "voltage_deflection",
                                          "ohmic_input_resistance",
                                          "decay_time_constant_after_stim",
                                          "AP_amplitude",
                                          "mean_frequency"};
  const auto vs = ft::compute(tr.view(), names);
  EXPECT_EQ(scalar(vs, names, "spike_count"), 0);
  EXPECT_DOUBLE_EQ(scalar(vs, names, "voltage_base"), -70);
  EXPECT_NEAR(scalar(vs, names, "steady_state_voltage_stimend"), -60, 2e-3);
  EXPECT_NEAR(scalar(vs, names, "maximum_voltage"), -60, 1e-3);
  EXPECT_DOUBLE_EQ(scalar(vs, names, "minimum_voltage"), -70);
  EXPECT_NEAR(scalar(vs, names, "voltage_deflection"), 10, 1e-3);
  EXPECT_NEAR(scalar(vs, names, "ohmic_input_resistance"), 10 / 0.05, 0.02);
  EXPECT_NEAR(scalar(vs, names, "decay_time_constant_after_stim"), tau, 1e-6);
  for (const char* n : {"AP_amplitude", "mean_frequency"}) {
    const ft::value& v = get(vs, names, n);
    EXPECT_FALSE(v.ok) << n;
    EXPECT_NE(v.reason.find("no spikes"), std::string::npos) << v.reason;
    EXPECT_TRUE(std::isnan(v.mean()));
  }
}

TEST(features, bad_traces_are_values_not_exceptions) {
  const std::vector<std::string> names = ft::available();
  auto expect_all_fail = [&](const owned_trace& tr, const std::string& why) {
    std::vector<ft::value> vs;
    ASSERT_NO_THROW(vs = ft::compute(tr.view(), names));
    ASSERT_EQ(vs.size(), names.size());
    for (std::size_t k = 0; k < vs.size(); ++k) {
      EXPECT_FALSE(vs[k].ok) << names[k];
      EXPECT_NE(vs[k].reason.find(why), std::string::npos) << names[k] << ": " << vs[k].reason;
      EXPECT_TRUE(std::isnan(vs[k].mean()));
    }
  };
  owned_trace nan_tr = spike_train();
  nan_tr.v[1234] = std::numeric_limits<double>::quiet_NaN();
  expect_all_fail(nan_tr, "NaN");
  owned_trace inf_tr = spike_train();
  inf_tr.v[10] = std::numeric_limits<double>::infinity();
  expect_all_fail(inf_tr, "infinite");
  owned_trace short_tr;
  short_tr.t = {0, 1};
  short_tr.v = {-70, -70};
  short_tr.end = 1;
  expect_all_fail(short_tr, "too short");
  owned_trace back = spike_train();
  back.t[100] = back.t[99] - 0.01;
  expect_all_fail(back, "time decreases");
  owned_trace window = spike_train();
  window.end = window.start;
  expect_all_fail(window, "stim_end");
  ft::trace empty{};
  EXPECT_NO_THROW(ft::compute(empty, {"spike_count"}));
}

TEST(features, efel_old_spike_count_names_and_amplitude_from_voltagebase) {
  const std::vector<std::string> names = {"spike_count", "Spikecount", "spike_count_stimint",
                                          "Spikecount_stimint", "AP_amplitude_from_voltagebase"};
  // Two of five spikes before the stimulus: counted by Spikecount, not by its _stimint;
  // AP_amplitude_from_voltagebase has every spike, against the base before stim_start.
  owned_trace late = spike_train();
  late.start = 200;
  auto vs = ft::compute(late.view(), names);
  EXPECT_EQ(scalar(vs, names, "Spikecount"), 5);
  EXPECT_EQ(scalar(vs, names, "Spikecount_stimint"), 3);
  EXPECT_EQ(scalar(vs, names, "Spikecount"), scalar(vs, names, "spike_count"));
  EXPECT_EQ(scalar(vs, names, "Spikecount_stimint"), scalar(vs, names, "spike_count_stimint"));
  ASSERT_TRUE(vs[4].ok) << vs[4].reason;
  EXPECT_EQ(vs[4].values.size(), 5u);
  // No spikes: counts are 0, the amplitude is not computable.
  ft::settings high;
  high.threshold_mv = 50;
  vs = ft::compute(late.view(), names, high);
  EXPECT_EQ(scalar(vs, names, "Spikecount"), 0);
  EXPECT_EQ(scalar(vs, names, "Spikecount_stimint"), 0);
  EXPECT_FALSE(vs[4].ok);
  // No baseline window (stim_start 0): not computable either, with the base's reason.
  owned_trace at_zero = spike_train();
  at_zero.start = 0;
  vs = ft::compute(at_zero.view(), names);
  EXPECT_FALSE(vs[4].ok);
  EXPECT_NE(vs[4].reason.find("voltage_base"), std::string::npos) << vs[4].reason;
}

TEST(features, spike_counting_edge_cases) {
  const std::vector<std::string> names = {"spike_count", "all_ISI_values", "AP_amplitude"};
  // One spike: no ISI.
  owned_trace one = spike_train(500, {100});
  auto vs = ft::compute(one.view(), names);
  EXPECT_EQ(scalar(vs, names, "spike_count"), 1);
  EXPECT_FALSE(vs[1].ok);
  EXPECT_EQ(vs[1].reason, "needs 2 spikes, found 1");
  // Stopped at the peak of the third spike: it is not counted (eFEL needs the downward
  // crossing).
  owned_trace cut = spike_train(210);
  vs = ft::compute(cut.view(), names);
  EXPECT_EQ(scalar(vs, names, "spike_count"), 2);
  // Stopped at the peak of the only spike: no spike at all.
  owned_trace cut1 = spike_train(100);
  vs = ft::compute(cut1.view(), names);
  EXPECT_EQ(scalar(vs, names, "spike_count"), 0);
  EXPECT_FALSE(vs[2].ok);
  EXPECT_NE(vs[2].reason.find("never back down"), std::string::npos) << vs[2].reason;
  // Starting above the threshold (falling from 0 mV): that first descent is no spike.
  owned_trace above = spike_train();
  for (std::size_t k = 0; k < above.t.size() && above.t[k] < 20; ++k) {
    above.v[k] = above.t[k] < 10 ? -7 * above.t[k] : -70;
  }
  vs = ft::compute(above.view(), names);
  EXPECT_EQ(scalar(vs, names, "spike_count"), 5);
  // strict_stiminterval: only spikes within the stimulus count.
  owned_trace late = spike_train();
  late.start = 120;
  ft::settings strict;
  strict.strict_stiminterval = true;
  vs = ft::compute(late.view(), names, strict);
  EXPECT_EQ(scalar(vs, names, "spike_count"), 4);
  // Threshold above every peak: no spikes, and spike_count is 0, not a failure.
  ft::settings high;
  high.threshold_mv = 50;
  vs = ft::compute(spike_train().view(), names, high);
  EXPECT_EQ(scalar(vs, names, "spike_count"), 0);
}

TEST(features, resampling_is_efels) {
  std::vector<double> x = {0.0, 0.25, 0.5}, y = {0.0, 1.0, 3.0}, xi, yi;
  ft::detail::resample(x.data(), y.data(), x.size(), 0.1, xi, yi);
  // numpy.arange(0, 0.5, 0.1) plus the end point, times accumulated by repeated addition.
  ASSERT_EQ(xi.size(), 6u);
  ASSERT_EQ(yi.size(), 6u);
  EXPECT_EQ(xi[3], 0.1 + 0.1 + 0.1);
  EXPECT_DOUBLE_EQ(yi[1], 0.4);
  EXPECT_DOUBLE_EQ(yi[3], 1.0 + 2.0 * (xi[3] - 0.25) / 0.25);
  EXPECT_DOUBLE_EQ(yi[5], 3.0);
  // eFEL's first_min_element: the first sample followed by two samples no lower.
  const std::vector<double> v = {5, 3, 4, 2, 2, 6, 1};
  EXPECT_EQ(ft::detail::first_local_min(v, 0, v.size()), 3u);
  EXPECT_EQ(ft::detail::first_local_min(v, 0, 3), 1u);
  EXPECT_EQ(ft::detail::first_local_min(v, 2, 2), 2u);
}

TEST(features, batch_is_independent_of_thread_count) {
  std::vector<owned_trace> owned;
  for (int k = 0; k < 37; ++k) {
    std::vector<double> peaks;
    for (int j = 0; j < k % 7; ++j) peaks.push_back(60 + j * (40 + k));
    owned.push_back(spike_train(400 + k, peaks));
    if (k % 11 == 3) owned.back().v[50] = std::nan("");
  }
  std::vector<ft::trace> traces;
  for (const auto& o : owned) traces.push_back(o.view());
  const std::vector<std::string>& names = ft::available();
  const auto ref = ft::compute_batch(traces, names, {}, 1);
  ASSERT_EQ(ref.size(), traces.size());
  for (std::size_t k = 0; k < traces.size(); ++k) {
    const auto one = ft::compute(traces[k], names);
    for (std::size_t f = 0; f < names.size(); ++f) {
      EXPECT_EQ(one[f].values, ref[k][f].values);
      EXPECT_EQ(one[f].reason, ref[k][f].reason);
    }
  }
  for (unsigned n : {2u, 3u, 8u, 0u}) {
    const auto got = ft::compute_batch(traces, names, {}, n);
    ASSERT_EQ(got.size(), ref.size());
    for (std::size_t k = 0; k < ref.size(); ++k) {
      for (std::size_t f = 0; f < names.size(); ++f) {
        EXPECT_EQ(got[k][f].ok, ref[k][f].ok) << n << " threads, trace " << k << " " << names[f];
        EXPECT_EQ(got[k][f].values, ref[k][f].values) << n << " threads, trace " << k;
        EXPECT_EQ(got[k][f].reason, ref[k][f].reason);
      }
    }
  }
  EXPECT_TRUE(ft::compute_batch({}, names, {}, 4).empty());
}

}  // namespace
