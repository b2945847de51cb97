// Protocols: injection sites are points as IClamps are, several elements act together in
// one cell, every protocol has a distinct name.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "config_refusal.hpp"
#include "ga/objectives.hpp"
#include "io/config.hpp"
#include "sim/batch_simulator.hpp"

namespace {

using cellfit::test::config_refusal;

int spikes_at(const cellfit::simulation_result& r, std::size_t cell, std::size_t site) {
  const double* v = &r.voltage[(cell * r.n_sites + site) * r.n_samples];
  int n = 0;
  for (std::size_t k = 1; k < r.n_samples; ++k) n += v[k - 1] < -20.0 && v[k] >= -20.0;
  return n;
}

// A ball-and-stick hh cell with `soma_nseg` soma compartments, a somatic step at `sites`.
std::string soma_step(int soma_nseg, const std::string& where) {
  return "[model]\nnseg = { soma = " + std::to_string(soma_nseg) +
         ", dend = 5 }\n[simulation]\nt_stop_ms = 100.0\nrecord_sites = \"soma[0](0.5)\"\n"
         "[[stimulus]]\n" +
         where + "\namplitude = 0.4\ndelay_ms = 10.0\nduration_ms = 80.0\n";
}

TEST(protocols, soma_is_one_point_whatever_its_nseg) {
  const auto one = cellfit::parse_config(soma_step(1, "sites = \"soma\""), "run.toml", {});
  const auto three = cellfit::parse_config(soma_step(3, "sites = \"soma\""), "run.toml", {});
  const auto every = cellfit::parse_config(soma_step(3, "every = \"soma\""), "run.toml", {});
  // soma[0](0.5) is the middle one of three soma compartments (Hines order: 0, 1, 2).
  EXPECT_EQ(one.stimuli.at(0).components.at(0).sites, std::vector<int>{0});
  EXPECT_EQ(three.stimuli.at(0).components.at(0).sites, std::vector<int>{1});
  EXPECT_EQ(every.stimuli.at(0).components.at(0).sites, (std::vector<int>{0, 1, 2}));
  // One electrode of 0.4 nA fires the cell alike at nseg 1 and 3; the same current in every
  // soma compartment (three times the charge) fires it much more.
  const auto run = [](const cellfit::run_config& rc) {
    return spikes_at(cellfit::simulate_batch(rc.model, rc.sets, rc.stimuli, rc.settings), 0, 0);
  };
  const int n1 = run(one), n3 = run(three), n_every = run(every);
  EXPECT_GT(n1, 0);
  EXPECT_EQ(n1, n3);
  EXPECT_GT(n_every, n3);
}

TEST(protocols, a_section_list_is_not_a_point) {
  const std::string why = config_refusal(soma_step(1, "sites = \"dend\""));
  EXPECT_NE(why.find("run.toml:7: stimulus[0].sites: \"dend\" is a section list, not a point"),
            std::string::npos)
      << why;
  EXPECT_NE(why.find("every = \"dend\""), std::string::npos) << why;
  EXPECT_NE(config_refusal(soma_step(1, "sites = [\"soma\", \"alldend\"]")).find("not a point"),
            std::string::npos);
  EXPECT_NE(config_refusal(soma_step(1, "sites = \"soma\"\nevery = \"dend\""))
                .find("give sites (points) or every (all compartments of regions), not both"),
            std::string::npos);
  EXPECT_NE(config_refusal("[[stimulus]]\namplitude = 0.1\n").find("stimulus[0].sites: missing"),
            std::string::npos);
  // Recordings take a list as all its compartments, as before.
  EXPECT_EQ(config_refusal("[simulation]\nrecord_sites = \"dend\"\n"), "");
}

constexpr const char* two_clamps = R"toml(
[simulation]
t_stop_ms = 60.0
record_sites = ["soma[0](0.5)", "dend[0](0.9)"]
[[stimulus]]
name = "alone"
sites = "soma"
amplitude = 0.2
[[protocol]]
name = "together"
[[protocol.stimulus]]
type = "step"
sites = "soma"
amplitude = 0.2
delay_ms = 5.0
duration_ms = 20.0
[[protocol.stimulus]]
type = "ramp"
sites = "dend[0](0.9)"
amplitude_start = 0.0
amplitude_end = 0.5
delay_ms = 15.0
duration_ms = 30.0
[[protocol.stimulus]]
type = "holding"
sites = 0
amplitude = -0.01
[[protocol]]
name = "rest"
)toml";

TEST(protocols, elements_act_together_in_one_cell) {
  const auto rc = cellfit::parse_config(two_clamps, "run.toml", {});
  ASSERT_EQ(rc.stimuli.size(), 3u);  // [[stimulus]] tables first, then [[protocol]]s
  EXPECT_EQ(rc.stimuli[0].name, "alone");
  const auto& p = rc.stimuli[1];
  EXPECT_EQ(p.name, "together");
  ASSERT_EQ(p.components.size(), 3u);
  EXPECT_EQ(p.components[0].kind, cellfit::stimulus_kind::step);
  EXPECT_EQ(p.components[1].kind, cellfit::stimulus_kind::ramp);
  EXPECT_EQ(p.components[1].sites, std::vector<int>{5});  // dend[0](0.9): segment 4 of 5
  EXPECT_EQ(p.components[2].kind, cellfit::stimulus_kind::holding);
  EXPECT_TRUE(rc.stimuli[2].components.empty());
  // The sampled currents are the elements' sum at each site.
  const std::size_t n = 2400;
  const auto s = cellfit::sample_stimuli(rc.stimuli, n, 0.025);
  ASSERT_EQ(s.sites, (std::vector<int>{0, 5}));
  EXPECT_DOUBLE_EQ(s.at(1, 0, 10 * 40), 0.2 - 0.01);  // t = 10 ms: step + holding
  EXPECT_DOUBLE_EQ(s.at(1, 0, 40 * 40), -0.01);       // t = 40 ms: holding only
  EXPECT_NEAR(s.at(1, 1, 30 * 40), 0.5 * (30.0125 - 15.0) / 30.0, 1e-15);
  EXPECT_EQ(s.at(2, 0, 400), 0.0);
  // Each protocol is one cell of the batch.
  const auto r = cellfit::simulate_batch(rc.model, rc.sets, rc.stimuli, rc.settings);
  EXPECT_EQ(r.n_cells, 3u);
  EXPECT_EQ(r.n_failed(), 0u);
}

TEST(protocols, names_are_unique_and_elements_are_single_currents) {
  std::string dup = two_clamps;
  dup.replace(dup.find("name = \"rest\""), 13, "name = \"alone\"");
  const std::string why = config_refusal(dup);
  EXPECT_NE(why.find("protocol[1].name: the name \"alone\" is already used (run.toml:6)"),
            std::string::npos)
      << why;
  EXPECT_NE(config_refusal("[[stimulus]]\nname = \"a\"\nsites = 0\n[[stimulus]]\nname = \"a\"\n"
                           "sites = 0\n")
                .find("run.toml:5: stimulus[1].name: the name \"a\" is already used"),
            std::string::npos);
  EXPECT_NE(config_refusal("[[protocol]]\n[[protocol.stimulus]]\nsites = 0\n")
                .find("protocol[0].name: missing"),
            std::string::npos);
  EXPECT_NE(config_refusal("[[protocol]]\nname = \"p\"\n[[protocol.stimulus]]\nsites = 0\n"
                           "amplitudes = [0.1, 0.2]\n")
                .find("protocol[0].stimulus[0].amplitudes: a protocol element is one current"),
            std::string::npos);
  EXPECT_NE(config_refusal("[[protocol]]\nname = \"p\"\n[[protocol.stimulus]]\ntype = \"noise\"\n"
                           "sites = 0\ncount = 2\n")
                .find("a protocol element is one current"),
            std::string::npos);
  EXPECT_NE(config_refusal("[[protocol]]\nname = \"p\"\n[[protocol.stimulus]]\nsites = 0\n"
                           "colour = 1\n")
                .find("protocol[0].stimulus[0].colour: unknown key"),
            std::string::npos);
}

TEST(protocols, random_elements_differ_between_protocols_and_repeat) {
  const std::string one = R"(
[[protocol]]
name = "a"
[[protocol.stimulus]]
type = "noise"
sites = 0
std = 0.1
seed = 7
)";
  const std::string two = one +
                          "[[protocol]]\nname = \"b\"\n[[protocol.stimulus]]\ntype = "
                          "\"noise\"\nsites = 0\nstd = 0.1\nseed = 7\n";
  const auto a = cellfit::parse_config(one, "run.toml", {});
  const auto b = cellfit::parse_config(two, "run.toml", {});
  const auto sa = cellfit::sample_stimuli(a.stimuli, 100, 0.025);
  const auto sb = cellfit::sample_stimuli(b.stimuli, 100, 0.025);
  for (std::size_t k = 0; k < 100; ++k) EXPECT_EQ(sa.at(0, 0, k), sb.at(0, 0, k));
  int same = 0;
  for (std::size_t k = 0; k < 100; ++k) same += sb.at(0, 0, k) == sb.at(1, 0, k);
  EXPECT_LT(same, 5);
}

constexpr const char* recorded = R"toml(
[simulation]
t_stop_ms = 60.0
[[simulation.recording]]
name = "soma"
site = "soma"
[[simulation.recording]]
name = "tip"
site = "dend[0](0.95)"
[[protocol]]
name = "Step1"
[[protocol.stimulus]]
sites = "soma"
amplitude = 0.5
delay_ms = 10.0
duration_ms = 40.0
)toml";

TEST(protocols, recordings_are_named_points) {
  const auto rc = cellfit::parse_config(recorded, "run.toml", {});
  EXPECT_EQ(rc.settings.record_compartments, (std::vector<int>{0, 5}));
  EXPECT_EQ(rc.settings.site_names(), (std::vector<std::string>{"soma", "tip"}));
  EXPECT_EQ(rc.settings.find_site("tip"), 1);
  EXPECT_EQ(rc.settings.find_site("dend"), -1);
  // record_sites are named by their section(x).
  const auto plain =
      cellfit::parse_config("[simulation]\nrecord_sites = [0, \"dend[0](0.3)\"]\n", "run.toml", {});
  EXPECT_EQ(plain.settings.site_names(),
            (std::vector<std::string>{"soma[0](0.5)", "dend[0](0.3)"}));
  std::string twice = recorded;
  twice.replace(twice.find("name = \"tip\""), 12, "name = \"soma\"");
  EXPECT_NE(config_refusal(twice).find(
                "run.toml:8: simulation.recording[1].name: the name \"soma\" is already used"),
            std::string::npos);
  std::string list = recorded;
  list.replace(list.find("site = \"dend[0](0.95)\""), 22, "site = \"dend\"");
  EXPECT_NE(config_refusal(list).find("\"dend\" is a section list, not a point"),
            std::string::npos);
  EXPECT_EQ(config_refusal(list).find("every"), std::string::npos);
  std::string dotted = recorded;
  dotted.replace(dotted.find("name = \"tip\""), 12, "name = \"t.v\"");
  EXPECT_NE(config_refusal(dotted).find("a recording name is a non-empty word"), std::string::npos);
  EXPECT_NE(config_refusal(std::string(recorded) + "[fit.ga]\nfeature_site = \"axon\"\n")
                .find("fit.ga.feature_site: no recording named \"axon\" (recordings: soma, tip)"),
            std::string::npos);
  EXPECT_NE(
      config_refusal(std::string(recorded).replace(std::string(recorded).find("t_stop_ms = 60.0"),
                                                   16, "t_stop_ms = 60.0\nrecord_sites = [0]"))
          .find("give record_sites or [[simulation.recording]] tables, not both"),
      std::string::npos);
}

TEST(protocols, feature_targets_are_scored_at_their_recording) {
  const auto rc = cellfit::parse_config(recorded, "run.toml", {});
  const auto r = cellfit::simulate_batch(rc.model, rc.sets, rc.stimuli, rc.settings);
  ASSERT_EQ(r.n_failed(), 0u);
  // The peak voltage at each recording, as the scorer computes it.
  cellfit::ga::scoring_settings s;
  s.grouping = cellfit::ga::objective_grouping::per_stimulus_feature;
  s.stimulus_names = {"Step1"};
  s.site_names = rc.settings.site_names();
  const auto windows = cellfit::ga::stimulus_windows(rc.stimuli, rc.settings.t_stop_ms);
  // Each recording's maximum_voltage, computed alone.
  std::vector<double> t(r.n_samples);
  for (std::size_t k = 0; k < t.size(); ++k) t[k] = 0.025 * static_cast<double>(k);
  double peak[2];
  for (std::size_t site = 0; site < 2; ++site) {
    cellfit::features::trace tr{t.data(),          &r.voltage[site * r.n_samples],
                                r.n_samples,       windows[0].start_ms,
                                windows[0].end_ms, 0.5};
    const auto v = cellfit::features::compute(tr, {"maximum_voltage"});
    ASSERT_TRUE(v[0].ok);
    peak[site] = v[0].mean();
  }
  ASSERT_GT(std::abs(peak[0] - peak[1]), 1.0);
  // Each target's mean is the other site's value plus its own offset of 1 std, so a site
  // mix-up changes the scores.
  std::vector<cellfit::ga::feature_target> targets = {
      {0, "maximum_voltage", peak[0] + 0.5, 0.5, 0},
      {0, "maximum_voltage", peak[1] - 1.0, 0.5, 1},
  };
  const cellfit::ga::scorer sc(s, targets, windows, rc.settings);
  EXPECT_EQ(sc.objective_names(),
            (std::vector<std::string>{"Step1.soma.maximum_voltage", "Step1.tip.maximum_voltage"}));
  const auto obj = sc.score(r, 1);
  EXPECT_NEAR(obj.values[0], 1.0, 1e-12);
  EXPECT_NEAR(obj.values[1], 2.0, 1e-12);
}

// Two protocols of 40 and 100 ms in a run of 100 ms, `sets` parameter sets.
std::string two_durations(int sets) {
  return R"toml(
[simulation]
t_stop_ms = 100.0
record_sites = [0, -1]
[batch]
vary = ["hh.gnabar"]
parameter_sets = )toml" +
         std::to_string(sets) + R"toml(
[[protocol]]
name = "short"
t_stop_ms = 40.0
[[protocol.stimulus]]
sites = "soma"
amplitude = 0.5
delay_ms = 10.0
duration_ms = 20.0
[[protocol]]
name = "long"
[[protocol.stimulus]]
sites = "soma"
amplitude = 0.3
delay_ms = 10.0
duration_ms = 80.0
)toml";
}

TEST(protocols, shorter_protocols_end_early_grouped_or_padded) {
  for (int sets : {1, 16}) {
    auto rc = cellfit::parse_config(two_durations(sets), "run.toml", {});
    ASSERT_EQ(rc.stimuli[0].t_stop_ms, 40.0);
    ASSERT_EQ(rc.stimuli[1].t_stop_ms, 0.0);  // the run's
    const auto plan = cellfit::plan_durations(rc.sets.size(), rc.stimuli, rc.settings, 8);
    EXPECT_EQ(plan.groups.size(), 2u);
    // One set: two cells fill one tile either way, so padding (one batch) is cheaper; 16
    // sets: the short protocol's 16 cells would run 60 ms for nothing.
    EXPECT_EQ(plan.grouped(), sets == 16) << plan.grouped_cost << " " << plan.padded_cost;
    const auto r = cellfit::simulate_batch(rc.model, rc.sets, rc.stimuli, rc.settings);
    // Each protocol alone, in a run of its own duration.
    for (std::size_t k = 0; k < 2; ++k) {
      auto alone = rc.settings;
      alone.t_stop_ms = k == 0 ? 40.0 : 100.0;
      auto x = rc.stimuli[k];
      x.t_stop_ms = 0;
      const auto a = cellfit::simulate_batch(rc.model, rc.sets, {x}, alone);
      for (std::size_t i = 0; i < rc.sets.size(); ++i) {
        const std::size_t c = i * 2 + k;
        EXPECT_EQ(r.failed_step[c], -1);
        for (std::size_t site = 0; site < 2; ++site) {
          const double* v = &r.voltage[(c * 2 + site) * r.n_samples];
          const double* w = &a.voltage[(i * 2 + site) * a.n_samples];
          for (std::size_t n = 0; n < a.n_samples; ++n) ASSERT_EQ(v[n], w[n]) << sets << " " << n;
          for (std::size_t n = a.n_samples; n < r.n_samples; ++n) ASSERT_TRUE(std::isnan(v[n]));
        }
      }
    }
  }
}

TEST(protocols, a_protocol_duration_lies_within_the_run) {
  std::string longer = two_durations(1);
  longer.replace(longer.find("t_stop_ms = 40.0"), 16, "t_stop_ms = 140.0");
  EXPECT_NE(config_refusal(longer).find("protocol[0].t_stop_ms: must be in (0, 100]"),
            std::string::npos)
      << config_refusal(longer);
  std::string odd = two_durations(1);
  odd.replace(odd.find("t_stop_ms = 40.0"), 16, "t_stop_ms = 40.01");
  EXPECT_NE(config_refusal(odd).find("must be a whole number of simulation.dt_ms steps"),
            std::string::npos);
}

}  // namespace
