// BluePyOpt's features.json read by read_bluepyopt_targets: both layouts, the per-feature
// settings (threshold, strict_stim, interp_step, eFEL's settings groups, the target's own
// window and current) carried to the scorer and honoured there, and every entry that cannot
// be honoured refused with one line naming the file, protocol, feature and key. The files
// are written by the tests.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "ga/objectives.hpp"
#include "io/feature_targets.hpp"
#include "scratch_dir.hpp"

namespace {

namespace fs = std::filesystem;
using cellfit::ga::feature_target;

using cellfit::test::scratch_dir;

// Three recordings named as BluePyOpt's L5PC names its sites.
cellfit::simulation_settings l5pc_like_recordings() {
  cellfit::simulation_settings sim;
  sim.dt_ms = 0.1;
  sim.t_stop_ms = 300;
  sim.record_compartments = {0, 40, 60};
  sim.record_names = {"soma", "dend1", "dend2"};
  return sim;
}

const char* protocols_json = R"({
  "bAP": {"stimuli": [{"delay": 100, "amp": 1.0, "duration": 5, "totduration": 300}]},
  "Step1": {"stimuli": [{"delay": 50, "amp": 0.5, "duration": 200, "totduration": 300},
                        {"delay": 0, "amp": -0.1, "duration": 300, "totduration": 300}]}
})";

cellfit::bluepyopt_targets read(const scratch_dir& dir, const std::string& features) {
  return cellfit::read_bluepyopt_targets(dir.write("features.json", features),
                                         dir.write("protocols.json", protocols_json), {}, 0,
                                         l5pc_like_recordings());
}

// The message with which a features.json is refused ("" if it is read).
std::string refusal(const scratch_dir& dir, const std::string& features) {
  try {
    read(dir, features);
  } catch (const cellfit::config_error& e) {
    return e.what();
  }
  return "";
}

// A features.json in the list layout with one entry for AP_width on Step1 at the soma.
std::string one_entry(const std::string& extra_keys) {
  return R"({"Step1": {"soma.v": [{"feature": "AP_width", "val": [2, 0.5])" + extra_keys + "}]}}";
}

TEST(feature_targets, l5pc_layout_with_efels_old_names) {
  scratch_dir dir;
  const auto bp = read(dir, R"({
    "bAP": {"soma": {"Spikecount": [1.0, 0.01], "AP_width": [2.0, 0.5]},
            "dend1": {"AP_amplitude_from_voltagebase": [45, 10]},
            "dend2": {"AP_amplitude_from_voltagebase": [36, 9.33]}},
    "Step1": {"soma": {"AHP_slow_time": [0.1599, 0.0483], "Spikecount_stimint": [6, 1]}}
  })");
  ASSERT_EQ(bp.targets.size(), 6u);
  EXPECT_TRUE(bp.notes.empty());
  EXPECT_EQ(bp.targets[0].feature, "Spikecount");
  EXPECT_EQ(bp.targets[0].stimulus, 0u);
  EXPECT_EQ(bp.targets[2].feature, "AP_amplitude_from_voltagebase");
  EXPECT_EQ(bp.targets[2].site, 1u);
  EXPECT_EQ(bp.targets[3].site, 2u);
  EXPECT_DOUBLE_EQ(bp.targets[3].std, 9.33);
  EXPECT_EQ(bp.targets[5].feature, "Spikecount_stimint");
  EXPECT_EQ(bp.targets[5].stimulus, 1u);
  for (const auto& t : bp.targets) {
    EXPECT_TRUE(t.efel.empty());
    EXPECT_TRUE(std::isnan(t.stim_start_ms));
  }
}

TEST(feature_targets, per_feature_settings_are_read) {
  scratch_dir dir;
  const auto bp = read(dir, R"({
    "bAP": {"dend1": [{"feature": "AP_amplitude_from_voltagebase", "mean": 45, "std": 10,
                       "threshold": -55, "n": 11, "fid": 553, "weight": 1}]},
    "Step1": {"soma.v": [
      {"feature": "Spikecount", "val": [8, 3], "strict_stim": true, "interp_step": 0.025,
       "stim_start": 60, "stim_end": 200, "stimulus_current": 0.4},
      {"feature": "AP_width", "val": [2, 0.5], "double_settings": {"DerivativeThreshold": 15},
       "int_settings": {"strict_stiminterval": 0, "DerivativeWindow": 4},
       "string_settings": {"voltage_base_mode": "median"},
       "efel_settings": {"ignore_first_ISI": false}, "sahp_start": 4.0}]}
  })");
  ASSERT_EQ(bp.targets.size(), 3u);
  using ns = cellfit::features::named_setting;
  EXPECT_EQ(bp.targets[0].site, 1u);
  EXPECT_EQ(bp.targets[0].efel, (std::vector<ns>{{"Threshold", -55, ""}}));
  EXPECT_EQ(bp.targets[1].efel,
            (std::vector<ns>{{"strict_stiminterval", 1, ""}, {"interp_step", 0.025, ""}}));
  EXPECT_EQ(bp.targets[1].stim_start_ms, 60);
  EXPECT_EQ(bp.targets[1].stim_end_ms, 200);
  EXPECT_EQ(bp.targets[1].stimulus_current_na, 0.4);
  EXPECT_EQ(bp.targets[2].efel, (std::vector<ns>{{"DerivativeThreshold", 15, ""},
                                                 {"strict_stiminterval", 0, ""},
                                                 {"DerivativeWindow", 4, ""},
                                                 {"voltage_base_mode", 0, "median"},
                                                 {"ignore_first_ISI", 0, ""},
                                                 {"sahp_start", 4, ""}}));
  cellfit::features::settings s;
  for (const auto& x : bp.targets[2].efel) cellfit::features::apply(s, x);
  EXPECT_EQ(s.derivative_threshold, 15);
  EXPECT_EQ(s.derivative_window, 4);
  EXPECT_EQ(s.base_mode, cellfit::features::voltage_base_mode::median);
  EXPECT_FALSE(s.ignore_first_isi);
  EXPECT_EQ(s.sahp_start_ms, 4);
}

TEST(feature_targets, what_cannot_be_honoured_is_refused) {
  scratch_dir dir;
  const std::string file = dir.file("features.json");
  // Every message is one line that names the file, the protocol and location, the feature
  // and the key.
  auto expect_refused = [&](const std::string& features, const std::string& want) {
    const std::string msg = refusal(dir, features);
    EXPECT_NE(msg.find(want), std::string::npos) << "message: " << msg << "\nwanted: " << want;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_EQ(msg.rfind("cellfit::features: " + file + ": ", 0), 0u) << msg;
  };
  // A feature cellfit does not compute, in either layout.
  expect_refused(R"({"Step1": {"soma": {"Spikecont": [1, 1]}}})",
                 "Step1.soma: feature 'Spikecont' is not in cellfit's library (did you mean "
                 "'Spikecount'?) (known: ");
  expect_refused(R"({"Step1": {"soma.v": [{"feature": "burst_number", "val": [1, 1]}]}})",
                 "Step1.soma.v[0]: feature 'burst_number' is not in cellfit's library");
  // eFEL settings cellfit does not implement, directly and in a settings group.
  expect_refused(one_entry(R"(, "min_spike_height": 10)"),
                 "Step1.soma.v[0] AP_width: min_spike_height: not a per-feature setting cellfit "
                 "can honour");
  expect_refused(one_entry(R"(, "double_settings": {"burst_factor": 2})"),
                 "Step1.soma.v[0] AP_width: double_settings.burst_factor: not an eFEL setting "
                 "cellfit can honour");
  // Values of the wrong type or outside their domain.
  expect_refused(one_entry(R"(, "threshold": "-55")"),
                 "Step1.soma.v[0] AP_width: threshold: expected a number");
  expect_refused(one_entry(R"(, "interp_step": 0)"),
                 "Step1.soma.v[0] AP_width: interp_step: 0: must be > 0");
  expect_refused(one_entry(R"(, "strict_stim": 2)"),
                 "Step1.soma.v[0] AP_width: strict_stim: 2: not a boolean (true, false, 1 or 0)");
  expect_refused(one_entry(R"(, "int_settings": {"DerivativeWindow": 2.5})"),
                 "Step1.soma.v[0] AP_width: int_settings.DerivativeWindow: 2.5: not an integer");
  expect_refused(one_entry(R"(, "string_settings": {"voltage_base_mode": "mode"})"),
                 "AP_width: string_settings.voltage_base_mode: \"mode\": expected \"mean\" or "
                 "\"median\"");
  expect_refused(one_entry(R"(, "efel_settings": [1])"),
                 "Step1.soma.v[0] AP_width: efel_settings: expected an object of eFEL settings");
  expect_refused(one_entry(R"(, "stim_start": "late")"),
                 "Step1.soma.v[0] AP_width: stim_start: expected a number");
  // Scoring rules that are not per feature in cellfit.
  expect_refused(one_entry(R"(, "weight": 2)"),
                 "Step1.soma.v[0] AP_width: weight: cellfit's objectives are unweighted");
  expect_refused(one_entry(R"(, "max_score": 100)"),
                 "Step1.soma.v[0] AP_width: max_score: not per feature in cellfit");
  expect_refused(one_entry(R"(, "force_max_score": true)"),
                 "Step1.soma.v[0] AP_width: force_max_score: not per feature in cellfit");
  // Bookkeeping and settings cellfit honours are accepted.
  EXPECT_EQ(refusal(dir, one_entry(R"(, "n": 3, "fid": 7, "comment": "x", "threshold": -30)")), "");
}

// A trace whose spikes peak at -40 mV, as a back-propagating spike far out on the apical
// tree: spikes for a -55 mV threshold, none for eFEL's default -20 mV.
std::vector<double> small_spikes(std::size_t n) {
  std::vector<double> v(n, -70.0);
  for (double peak_ms : {100.0, 150.0, 200.0}) {
    for (std::size_t k = 0; k < n; ++k) {
      const double x = static_cast<double>(k) * 0.1 - peak_ms;
      if (x >= -1 && x <= 0) v[k] = -40 - 30 * (-x);
      if (x > 0 && x <= 3) v[k] = -40 - 10 * x;
    }
  }
  return v;
}

TEST(feature_targets, scorer_honours_each_targets_settings) {
  cellfit::simulation_settings sim;
  sim.dt_ms = 0.1;
  sim.t_stop_ms = 300;
  sim.record_compartments = {0};
  const std::size_t n = static_cast<std::size_t>(sim.n_samples());
  cellfit::simulation_result r;
  r.n_cells = 1;
  r.n_sites = 1;
  r.n_samples = n;
  r.voltage = small_spikes(n);
  r.failed_step = {-1};
  const std::vector<cellfit::ga::feature_window> windows = {{50, 250, 0.5, 0}};
  cellfit::ga::scoring_settings s;
  s.grouping = cellfit::ga::objective_grouping::per_stimulus_feature;

  // The same feature at the default threshold, at -55 mV, and at -55 mV in a window that
  // holds only the last spike.
  std::vector<feature_target> targets(3);
  for (std::size_t k = 0; k < 3; ++k) {
    targets[k].stimulus = 0;
    targets[k].site = 0;
    targets[k].std = 1;
  }
  targets[0].feature = "Spikecount";
  targets[0].mean = 3;
  targets[1].feature = "Spikecount_stimint";
  targets[1].mean = 3;
  targets[1].efel = {{"Threshold", -55, ""}};
  targets[2].feature = "spike_count_stimint";
  targets[2].mean = 3;
  targets[2].efel = {{"Threshold", -55, ""}};
  targets[2].stim_start_ms = 180;
  const cellfit::ga::scorer sc(s, targets, windows, sim);
  const auto obj = sc.score(r, 1);
  ASSERT_EQ(obj.m, 3u);
  EXPECT_EQ(obj.values[0], 3.0);  // no spike at -20 mV: |0 - 3|
  EXPECT_EQ(obj.values[1], 0.0);  // three at -55 mV
  EXPECT_EQ(obj.values[2], 2.0);  // one from 180 ms on: |1 - 3|

  // A target's settings are checked with the fit's: a bad value is refused up front.
  targets[0].efel = {{"interp_step", -1, ""}};
  try {
    cellfit::ga::scorer bad(s, targets, windows, sim);
    FAIL() << "no exception";
  } catch (const cellfit::config_error& e) {
    EXPECT_NE(std::string(e.what()).find("the target of Spikecount on stimulus 0"),
              std::string::npos)
        << e.what();
  }
  targets[0].efel.clear();
  targets[0].stim_end_ms = 10;
  EXPECT_THROW(cellfit::ga::scorer(s, targets, windows, sim), cellfit::config_error);
}

}  // namespace
