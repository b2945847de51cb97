// The spike-train losses (features/spike_trains.hpp): crossing times against a hand
// computation, each distance against hand values or an independent numerical integral, the
// gamma factor's defining properties (1 for identical trains, about 0 for independent
// Poisson trains), the derivatives with respect to spike times and to trace samples against
// central differences, the GA's spike objectives, and bad input refused.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "config_refusal.hpp"
#include "features/spike_trains.hpp"
#include "ga/objectives.hpp"
#include "gradient/trace_loss.hpp"
#include "io/config.hpp"
#include "model/parameter_space.hpp"
#include "sim/batch_simulator.hpp"

namespace {

using cellfit::test::config_refusal;

TEST(spike_trains, crossings_are_interpolated_between_the_samples_around_them) {
  // dt 0.1 ms, threshold -20: up 4->5 (-30 -> 10) and 8->9 (-25 -> -20, lands on 9).
  const double v[] = {-65, -64, -60, -50, -30, 10, 30, -10, -25, -20, 0, -70};
  std::vector<std::size_t> before;
  const auto t = cellfit::threshold_crossings(v, 12, 0.1, -20.0, before);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(before[0], 4u);
  EXPECT_EQ(before[1], 8u);
  EXPECT_NEAR(t[0], 0.1 * (4 + 10.0 / 40.0), 1e-15);  // 0.425 ms
  EXPECT_NEAR(t[1], 0.9, 1e-15);
  // A NaN sample is never a crossing (a diverged trace).
  const double w[] = {-70, NAN, 20, -70, 20};
  EXPECT_EQ(cellfit::threshold_crossings(w, 5, 1.0, 0.0).size(), 1u);
}

TEST(spike_trains, spike_time_loss_by_hand) {
  const std::vector<double> model = {10, 21, 40}, target = {11, 20};
  std::vector<double> d(3, -1);
  // (10-11)^2 + (21-20)^2 + one unmatched spike at cost 100.
  EXPECT_DOUBLE_EQ(cellfit::spike_time_loss(model, target, 100, d.data()), 102.0);
  EXPECT_DOUBLE_EQ(d[0], -2.0);
  EXPECT_DOUBLE_EQ(d[1], 2.0);
  EXPECT_DOUBLE_EQ(d[2], 0.0);
  EXPECT_DOUBLE_EQ(cellfit::spike_time_loss({}, target, 7, nullptr), 14.0);
  EXPECT_DOUBLE_EQ(cellfit::spike_time_loss(target, target, 7, nullptr), 0.0);
}

TEST(spike_trains, gamma_factor_by_hand) {
  const std::vector<double> model = {10, 20.5, 50}, target = {10.5, 23, 30, 49};
  // Window 2 ms: 10.5~10 and 49~50 coincide, 23 (2.5 from 20.5) and 30 do not.
  EXPECT_EQ(cellfit::coincidences(model, target, 2.0), 2u);
  // Each model spike counts once: two target spikes near one model spike give one.
  EXPECT_EQ(cellfit::coincidences({10}, {9, 11}, 2.0), 1u);
  EXPECT_EQ(cellfit::coincidences({9, 11}, {10}, 2.0), 1u);
  // Greedy in time order still finds the greatest matching.
  EXPECT_EQ(cellfit::coincidences({8.5, 10.5}, {10, 12}, 2.0), 2u);
  const double r_exp = 4.0 / 100.0, r_model = 3.0 / 100.0, D = 2.0;
  const double gamma = 2.0 / (1.0 - 2.0 * D * r_exp) * (2.0 - 2.0 * D * 4.0 * r_exp) / 7.0;
  EXPECT_NEAR(gamma, 0.4625850340136054, 1e-15);
  EXPECT_NEAR(cellfit::gamma_factor(model, target, D, 100.0), gamma, 1e-15);
  EXPECT_NEAR(cellfit::gamma_factor_loss(model, target, D, 100.0),
              1.0 + 2.0 * std::fabs(r_exp - r_model) / r_exp - gamma, 1e-15);
  EXPECT_NEAR(cellfit::gamma_factor_loss(model, target, D, 100.0), 1.0374149659863946, 1e-14);
}

TEST(spike_trains, gamma_factor_is_one_for_identical_and_near_zero_for_independent_trains) {
  const std::vector<double> t = {3, 17.5, 40, 41.5, 90};
  EXPECT_NEAR(cellfit::gamma_factor(t, t, 1.0, 100.0), 1.0, 1e-15);
  EXPECT_NEAR(cellfit::gamma_factor_loss(t, t, 1.0, 100.0), 0.0, 1e-15);
  // Independent homogeneous Poisson trains at the same rate (20 Hz, 10 s, window 2 ms):
  // the coincidences match the Poisson expectation, so Gamma averages to 0. One pair has
  // a standard deviation near 0.02; the mean of 100 pairs lies within 0.01 of 0.
  std::mt19937_64 rng(12345);
  const double rate = 0.02, duration = 10000.0;
  auto poisson = [&] {
    std::exponential_distribution<double> isi(rate);
    std::vector<double> s;
    for (double x = isi(rng); x < duration; x += isi(rng)) s.push_back(x);
    return s;
  };
  double sum = 0;
  const int pairs = 100;
  for (int i = 0; i < pairs; ++i) {
    const auto a = poisson(), b = poisson();
    sum += cellfit::gamma_factor(a, b, 2.0, duration);
  }
  EXPECT_LT(std::fabs(sum / pairs), 0.01);
}

// (1/tau) int (f - g)^2 dt on a fine grid (midpoint rule, the traces decayed step by step),
// independent of the closed form.
double van_rossum_numerical(const std::vector<double>& a, const std::vector<double>& b, double tau,
                            double t_end) {
  const double h = 1e-5;
  const double decay = std::exp(-h / tau);
  double f = 0, g = 0, sum = 0;
  std::size_t i = 0, j = 0;
  // Sample at the midpoints t = (n + 1/2) h; a spike at s counts from the first midpoint
  // after it, with the decay from s to that midpoint.
  for (long n = 0;; ++n) {
    const double t = (static_cast<double>(n) + 0.5) * h;
    if (t > t_end) break;
    f *= decay;
    g *= decay;
    while (i < a.size() && a[i] <= t) f += std::exp(-(t - a[i++]) / tau);
    while (j < b.size() && b[j] <= t) g += std::exp(-(t - b[j++]) / tau);
    sum += (f - g) * (f - g);
  }
  return sum * h / tau;
}

TEST(spike_trains, van_rossum_matches_the_integral_of_the_filtered_trains) {
  const std::vector<double> a = {5, 12, 30}, b = {6, 25};
  const double tau = 4.0;
  const double closed = cellfit::van_rossum_distance2(a, b, tau, nullptr);
  EXPECT_NEAR(closed, van_rossum_numerical(a, b, tau, 150.0), 1e-5);
  // One spike each, d apart: 1 - e^{-d/tau}; against nothing: 1/2 per isolated spike.
  EXPECT_NEAR(cellfit::van_rossum_distance2({10}, {13}, tau, nullptr), 1 - std::exp(-0.75), 1e-15);
  EXPECT_NEAR(cellfit::van_rossum_distance2({10}, {}, tau, nullptr), 0.5, 1e-15);
  EXPECT_NEAR(cellfit::van_rossum_distance2(a, a, tau, nullptr), 0.0, 1e-15);
}

TEST(spike_trains, derivatives_in_the_spike_times_match_central_differences) {
  const std::vector<double> model = {5.3, 12.2, 29.0, 33.1}, target = {6, 25, 31};
  for (int which = 0; which < 2; ++which) {
    auto loss = [&](const std::vector<double>& m, double* d) {
      return which == 0 ? cellfit::spike_time_loss(m, target, 50.0, d)
                        : cellfit::van_rossum_distance2(m, target, 4.0, d);
    };
    std::vector<double> d(model.size());
    loss(model, d.data());
    for (std::size_t i = 0; i < model.size(); ++i) {
      const double h = 1e-5;
      auto p = model, m = model;
      p[i] += h;
      m[i] -= h;
      const double fd = (loss(p, nullptr) - loss(m, nullptr)) / (2 * h);
      EXPECT_NEAR(d[i], fd, 1e-8 * (1 + std::fabs(fd))) << which << " spike " << i;
    }
  }
}

// trace_loss's dL/dv for the spike losses, against central differences in the samples
// next to each crossing (the chain through the interpolated crossing time).
TEST(trace_loss, spike_losses_seed_the_adjoint_with_exact_sample_derivatives) {
  const std::size_t n = 40;
  const double dt = 0.5;
  auto spikes_at = [&](std::vector<double> when) {
    std::vector<double> v(n, -70.0);
    for (double w : when) {
      const auto k = static_cast<std::size_t>(w);
      v[k] = -40 + 3 * (w - static_cast<double>(k));
      v[k + 1] = 10 + 5 * (w - static_cast<double>(k));
    }
    return v;
  };
  const auto target = spikes_at({5.2, 17.6});
  const auto model = spikes_at({6.1, 15.3, 30.5});
  for (cellfit::loss_kind kind : {cellfit::loss_kind::spike_time, cellfit::loss_kind::van_rossum}) {
    cellfit::loss_settings s;
    s.kind = kind;
    s.van_rossum_tau_ms = 3.0;
    const cellfit::trace_loss loss(s, target, 1, 1, n, dt);
    std::vector<double> dv(n, 123.0), scratch(n);
    const double L = loss(0, model.data(), dv.data());
    EXPECT_GT(L, 0);
    std::size_t nonzero = 0;
    for (std::size_t k = 0; k < n; ++k) {
      const double h = 1e-6;
      auto p = model, m = model;
      p[k] += h;
      m[k] -= h;
      const double fd =
          (loss(0, p.data(), scratch.data()) - loss(0, m.data(), scratch.data())) / (2 * h);
      EXPECT_NEAR(dv[k], fd, 1e-6 * (1 + std::fabs(fd)))
          << cellfit::loss_kind_name(kind) << " " << k;
      if (dv[k] != 0) ++nonzero;
    }
    // The two samples around each crossing (spike_time: the two matched spikes only).
    EXPECT_EQ(nonzero, kind == cellfit::loss_kind::spike_time ? 4u : 6u);
  }
}

TEST(trace_loss, a_spike_time_loss_needs_target_spikes) {
  const std::vector<double> flat(20, -70.0);
  cellfit::loss_settings s;
  s.kind = cellfit::loss_kind::spike_time;
  EXPECT_THROW(cellfit::trace_loss(s, flat, 1, 1, 20, 0.1), cellfit::config_error);
  // van Rossum's distance to an empty train is defined (each model spike costs 1/2).
  s.kind = cellfit::loss_kind::van_rossum;
  const cellfit::trace_loss vr(s, flat, 1, 1, 20, 0.1);
  std::vector<double> v = flat, dv(20);
  v[5] = 0;
  EXPECT_NEAR(vr(0, v.data(), dv.data()), 0.5, 1e-15);
  s.van_rossum_tau_ms = 0;
  EXPECT_THROW(cellfit::trace_loss(s, flat, 1, 1, 20, 0.1), cellfit::config_error);
}

const char* spiking_config = R"(
[model]
morphology = "builtin:ball_and_stick"
[model.mechanisms.hh]
regions = "all"
[simulation]
dt_ms = 0.025
t_stop_ms = 60.0
record_sites = [0]
[[stimulus]]
type = "step"
sites = "soma"
amplitudes = [0.3, 0.6]
delay_ms = 5.0
duration_ms = 50.0
)";

struct spiking_fixture {
  cellfit::run_config rc = cellfit::parse_config(spiking_config, "spikes", {});
  cellfit::parameter_space space{
      rc.model, {{"hh", "gnabar", "all", 0.05, 0.3, cellfit::transform_kind::linear, {}, "test"}}};
  std::vector<double> target =
      cellfit::simulate_batch(rc.model, {space.to_set({0.12})}, rc.stimuli, rc.settings).voltage;
  cellfit::ga::objective_matrix score(cellfit::ga::objective_kind kind, std::vector<double> gnabar,
                                      double window_ms = 2.0) const {
    cellfit::ga::scoring_settings s;
    s.kind = kind;
    s.penalty = 1e12;
    s.gamma_window_ms = window_ms;
    const cellfit::ga::scorer sc(s, target, rc.stimuli.size(), rc.settings);
    std::vector<cellfit::parameter_set> sets;
    for (double g : gnabar) sets.push_back(space.to_set({g}));
    const auto r = cellfit::simulate_batch(rc.model, sets, rc.stimuli, rc.settings);
    return sc.score(r, gnabar.size());
  }
};

TEST(ga_scorer, spike_objectives_are_zero_at_the_target_and_grow_away_from_it) {
  const spiking_fixture f;
  for (auto kind :
       {cellfit::ga::objective_kind::spike_time, cellfit::ga::objective_kind::gamma_factor,
        cellfit::ga::objective_kind::van_rossum}) {
    SCOPED_TRACE(cellfit::ga::objective_kind_name(kind));
    const auto o = f.score(kind, {0.12, 0.06});
    ASSERT_EQ(o.m, 2u);
    for (std::size_t s = 0; s < 2; ++s) {
      EXPECT_NEAR(o.values[s], 0.0, 1e-12);
      EXPECT_GT(o.values[o.m + s], 1e-3);
    }
  }
}

TEST(ga_scorer, a_diverged_cell_scores_the_penalty_and_nothing_else_changes) {
  const spiking_fixture f;
  cellfit::ga::scoring_settings s;
  s.kind = cellfit::ga::objective_kind::van_rossum;
  s.penalty = 1e4;
  const cellfit::ga::scorer sc(s, f.target, f.rc.stimuli.size(), f.rc.settings);
  auto r = cellfit::simulate_batch(f.rc.model, {f.space.to_set({0.12}), f.space.to_set({0.1})},
                                   f.rc.stimuli, f.rc.settings);
  const auto clean = sc.score(r, 2);
  // Individual 0's second stimulus diverges at sample 100: NaN from there on.
  const std::size_t per = r.n_sites * r.n_samples;
  r.failed_step[1] = 100;
  std::fill(r.voltage.begin() + static_cast<std::ptrdiff_t>(per + 100),
            r.voltage.begin() + static_cast<std::ptrdiff_t>(2 * per), NAN);
  const auto o = sc.score(r, 2);
  EXPECT_EQ(o.values[0], clean.values[0]);
  EXPECT_EQ(o.values[1], 1e4);
  EXPECT_EQ(o.values[2], clean.values[2]);
  EXPECT_EQ(o.values[3], clean.values[3]);
}

TEST(ga_scorer, spike_objectives_refuse_targets_they_cannot_score) {
  spiking_fixture f;
  EXPECT_THROW(f.score(cellfit::ga::objective_kind::gamma_factor, {0.12}, 0.0),
               cellfit::config_error);
  // A window so wide that 1 - 2 window rate <= 0.
  EXPECT_THROW(f.score(cellfit::ga::objective_kind::gamma_factor, {0.12}, 1000.0),
               cellfit::config_error);
  std::fill(f.target.begin(), f.target.end(), -65.0);  // no spike anywhere
  EXPECT_THROW(f.score(cellfit::ga::objective_kind::gamma_factor, {0.12}), cellfit::config_error);
  EXPECT_THROW(f.score(cellfit::ga::objective_kind::spike_time, {0.12}), cellfit::config_error);
  try {
    f.score(cellfit::ga::objective_kind::gamma_factor, {0.12});
  } catch (const cellfit::config_error& e) {
    EXPECT_NE(std::string(e.what()).find("has no spike"), std::string::npos) << e.what();
  }
}

TEST(config, spike_losses_and_their_settings) {
  EXPECT_EQ(config_refusal("", {"fit.gradient.loss=\"spike_time\""}), "");
  EXPECT_EQ(
      config_refusal("", {"fit.gradient.loss=\"van_rossum\"", "fit.gradient.van_rossum_tau_ms=5"}),
      "");
  EXPECT_EQ(config_refusal("", {"fit.ga.objective=\"gamma_factor\"", "fit.ga.gamma_window_ms=4"}),
            "");
  const auto gamma = config_refusal("", {"fit.gradient.loss=\"gamma_factor\""});
  EXPECT_NE(gamma.find("fit.gradient.loss"), std::string::npos) << gamma;
  EXPECT_NE(gamma.find("GA objective"), std::string::npos) << gamma;
  const auto window = config_refusal("", {"fit.ga.gamma_window_ms=0"});
  EXPECT_NE(window.find("fit.ga.gamma_window_ms"), std::string::npos) << window;
  const auto tau = config_refusal("", {"fit.gradient.van_rossum_tau_ms=-1"});
  EXPECT_NE(tau.find("fit.gradient.van_rossum_tau_ms"), std::string::npos) << tau;
  EXPECT_NE(config_refusal("", {"fit.ga.van_rossum_tau_ms=0"}), "");
  EXPECT_NE(config_refusal("", {"fit.ga.objective=\"spikes\""}), "");
  const auto weight =
      config_refusal("", {"fit.gradient.loss=\"spike_time\"", "fit.gradient.spike_weight=1"});
  EXPECT_NE(weight.find("fit.gradient.spike_weight"), std::string::npos) << weight;
}

}  // namespace
