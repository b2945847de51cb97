// Voltage clamp (NEURON's SEClamp) as a protocol element: its levels as SEClamp's vstim()
// picks them, its samples, the voltage it holds, cells without a clamp left untouched, and
// the refusals of bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "config_refusal.hpp"
#include "io/config.hpp"
#include "sim/batch_simulator.hpp"
#include "stimulus/stimulus.hpp"

namespace {

using cellfit::test::config_refusal;

// A ball-and-stick hh cell (soma 0, dendrite 1..5) with one clamp element `clamp` (the
// lines after `type = "seclamp"`) in protocol "vc", and a somatic step in protocol "step".
std::string clamp_config(const std::string& clamp, double t_stop_ms = 30.0) {
  return "[model]\nmorphology = \"builtin:ball_and_stick\"\n[simulation]\nt_stop_ms = " +
         std::to_string(t_stop_ms) +
         "\nrecord_sites = [0, -1]\n"
         "[[protocol]]\nname = \"vc\"\n[[protocol.stimulus]]\ntype = \"seclamp\"\n" +
         clamp +
         "\n[[protocol]]\nname = \"step\"\n[[protocol.stimulus]]\nsites = \"soma\"\n"
         "amplitude = 0.3\ndelay_ms = 5.0\nduration_ms = 20.0\n";
}

cellfit::stimulus_component three_levels() {
  cellfit::stimulus_component c;
  c.kind = cellfit::stimulus_kind::seclamp;
  c.sites = {0};
  c.rs_mohm = 10.0;
  c.clamp_mv = {-70.0, -20.0, -60.0};
  c.clamp_dur_ms = {1.0, 2.0, 0.5};
  return c;
}

TEST(seclamp, levels_follow_vstim_and_the_clamp_is_off_after_the_last) {
  const auto c = three_levels();
  double vc = 1;
  EXPECT_TRUE(c.clamp_level(0.0, vc));
  EXPECT_EQ(vc, -70.0);
  EXPECT_TRUE(c.clamp_level(0.999, vc));
  EXPECT_EQ(vc, -70.0);
  EXPECT_TRUE(c.clamp_level(1.0, vc));  // t < dur1 fails at dur1: the second level
  EXPECT_EQ(vc, -20.0);
  EXPECT_TRUE(c.clamp_level(2.999, vc));
  EXPECT_EQ(vc, -20.0);
  EXPECT_TRUE(c.clamp_level(3.0, vc));
  EXPECT_EQ(vc, -60.0);
  EXPECT_FALSE(c.clamp_level(3.5, vc));  // off: no current, vc = 0 as SEClamp sets it
  EXPECT_EQ(vc, 0.0);
  // A level of duration 0 is skipped.
  auto skip = c;
  skip.clamp_dur_ms = {0.0, 2.0, 0.0};
  EXPECT_TRUE(skip.clamp_level(0.0, vc));
  EXPECT_EQ(vc, -20.0);
  EXPECT_FALSE(skip.clamp_level(2.0, vc));
  EXPECT_EQ(c.value(0, 0.5), 0.0);  // no current of its own
}

TEST(seclamp, sampled_at_step_midpoints_as_a_conductance_and_a_level) {
  cellfit::stimulus clamp{"vc", {three_levels()}};
  cellfit::stimulus_component step;
  step.sites = {2};
  step.amplitude = 0.5;
  step.duration_ms = 10;
  cellfit::stimulus other{"step", {step}};
  const double dt = 0.25;
  const auto st = cellfit::sample_stimuli({clamp, other}, 16, dt);
  ASSERT_TRUE(st.has_clamp());
  ASSERT_EQ(st.sites, (std::vector<int>{0, 2}));
  for (std::size_t n = 0; n < 16; ++n) {
    const double t = (static_cast<double>(n) + 0.5) * dt;
    const double level = t < 1.0 ? -70.0 : t < 3.0 ? -20.0 : t < 3.5 ? -60.0 : 0.0;
    const double g = t < 3.5 ? 0.1 : 0.0;
    EXPECT_EQ(st.clamp_mv[st.index(0, 0, n)], level) << n;
    EXPECT_EQ(st.clamp_g_us[st.index(0, 0, n)], g) << n;
    EXPECT_EQ(st.at(0, 0, n), 0.0);
    // The step's stimulus has no clamp anywhere, the clamp's no step current.
    EXPECT_EQ(st.clamp_g_us[st.index(1, 0, n)], 0.0);
    EXPECT_EQ(st.clamp_g_us[st.index(1, 1, n)], 0.0);
    EXPECT_EQ(st.at(1, 1, n), 0.5);
    EXPECT_EQ(st.at(0, 1, n), 0.0);
  }
  // Two electrodes at one site: conductances add, the level is their weighted mean.
  auto second = three_levels();
  second.rs_mohm = 30.0;
  second.clamp_mv = {-10.0, -10.0, -10.0};
  const auto two = cellfit::sample_stimuli({{"two", {three_levels(), second}}}, 2, dt);
  EXPECT_NEAR(two.clamp_g_us[0], 0.1 + 1.0 / 30.0, 1e-15);
  EXPECT_NEAR(two.clamp_mv[0], (0.1 * -70.0 + (1.0 / 30.0) * -10.0) / (0.1 + 1.0 / 30.0), 1e-12);
  // No clamp: nothing sampled for clamps.
  EXPECT_FALSE(cellfit::sample_stimuli({other}, 4, dt).has_clamp());
}

TEST(seclamp, holds_the_soma_and_lets_go_after_the_last_level) {
  const auto rc = cellfit::parse_config(clamp_config("sites = \"soma\"\nrs_mohm = 0.001\n"
                                                     "amp1 = -70.0\ndur1 = 5.0\n"
                                                     "amp2 = -20.0\ndur2 = 10.0\n"
                                                     "amp3 = -70.0\ndur3 = 5.0\n"),
                                        "run.toml", {});
  ASSERT_EQ(rc.stimuli.size(), 2u);
  ASSERT_EQ(rc.stimuli[0].components.size(), 1u);
  const auto& c = rc.stimuli[0].components[0];
  EXPECT_EQ(c.kind, cellfit::stimulus_kind::seclamp);
  EXPECT_EQ(c.sites, std::vector<int>{0});
  EXPECT_EQ(c.rs_mohm, 0.001);
  const auto r = cellfit::simulate_batch(rc.model, rc.sets, rc.stimuli, rc.settings);
  ASSERT_EQ(r.failed_step[0], -1);
  const double dt = rc.settings.dt_ms;
  auto v = [&](std::size_t cell, std::size_t site, double t_ms) {
    const auto k = static_cast<std::size_t>(std::lround(t_ms / dt / rc.settings.record_every));
    return r.voltage[(cell * r.n_sites + site) * r.n_samples + k];
  };
  // 1 kOhm in series: the soma sits within a few uV of the command (hh currents are nA).
  EXPECT_NEAR(v(0, 0, 4.9), -70.0, 0.01);
  EXPECT_NEAR(v(0, 0, 14.9), -20.0, 0.05);
  EXPECT_NEAR(v(0, 0, 19.9), -70.0, 0.01);
  EXPECT_GT(v(0, 1, 14.9), -60.0);  // the dendrite follows, attenuated
  // Off after 20 ms: the soma drifts back towards rest on its own.
  EXPECT_GT(std::fabs(v(0, 0, 29.9) + 70.0), 1.0);

  // The step protocol runs alone and beside the clamp alike, bit for bit: cells without a
  // clamp are untouched by the clamp arrays.
  const auto alone = cellfit::simulate_batch(rc.model, rc.sets, {rc.stimuli[1]}, rc.settings);
  for (std::size_t site = 0; site < r.n_sites; ++site) {
    for (std::size_t k = 0; k < r.n_samples; ++k) {
      ASSERT_EQ(r.voltage[(1 * r.n_sites + site) * r.n_samples + k],
                alone.voltage[site * r.n_samples + k]);
    }
  }
}

TEST(seclamp, bad_input_is_refused_naming_file_line_key_and_value) {
  const std::string levels = "amp1 = -70.0\ndur1 = 5.0\n";
  struct refusal {
    std::string clamp, expect;
  };
  const std::vector<refusal> cases = {
      {"sites = \"soma\"\nrs_mohm = 0.0\n" + levels,
       "run.toml:11: protocol[0].stimulus[0].rs_mohm: the series resistance must be > 0 MOhm, "
       "got 0"},
      {"sites = \"soma\"\nrs_mohm = -2.5\n" + levels,
       "run.toml:11: protocol[0].stimulus[0].rs_mohm: the series resistance must be > 0 MOhm, "
       "got -2.5"},
      {"sites = \"soma\"\nrs_mohm = nan\n" + levels,
       "run.toml:11: protocol[0].stimulus[0].rs_mohm: value is not finite"},
      {"sites = \"soma\"\nrs_mohm = inf\n" + levels,
       "run.toml:11: protocol[0].stimulus[0].rs_mohm: value is not finite"},
      {"sites = \"soma\"\namp1 = -70.0\ndur1 = -5.0\n",
       "run.toml:12: protocol[0].stimulus[0].dur1: must be in [0, 1e+12], got -5"},
      {"sites = \"soma\"\namp1 = -70.0\ndur1 = 5.0\ndur3 = -1\n",
       "run.toml:13: protocol[0].stimulus[0].dur3: must be in [0, 1e+12], got -1"},
      {"sites = \"soma\"\namp1 = -70.0\n",
       "protocol[0].stimulus[0].dur1: a voltage clamp needs a level held for some time"},
      {"sites = \"dend\"\n" + levels,
       "run.toml:10: protocol[0].stimulus[0].sites: \"dend\" is a section list, not a point"},
      {"sites = [0, 3]\n" + levels,
       "run.toml:10: protocol[0].stimulus[0].sites: a voltage clamp is one electrode at one "
       "point, got 2 sites"},
      {"every = \"soma\"\n" + levels,
       "run.toml:10: protocol[0].stimulus[0].every: a voltage clamp is one electrode"},
      {"sites = \"soma\"\nholding = 0.1\n" + levels,
       "run.toml:11: protocol[0].stimulus[0].holding: unknown key"},
      {"sites = \"soma\"\namp4 = 3.0\n" + levels,
       "run.toml:11: protocol[0].stimulus[0].amp4: unknown key"},
  };
  for (const auto& c : cases) {
    const std::string why = config_refusal(clamp_config(c.clamp));
    EXPECT_NE(why.find(c.expect), std::string::npos) << c.clamp << "\n -> " << why;
    EXPECT_EQ(why.find('\n'), std::string::npos) << why;
  }
  // [[stimulus]] tables read the same element.
  const std::string stim =
      "[model]\nmorphology = \"builtin:ball_and_stick\"\n[[stimulus]]\ntype = \"seclamp\"\n"
      "sites = \"soma\"\nrs_mohm = 0\ndur1 = 1.0\n";
  EXPECT_NE(config_refusal(stim).find("run.toml:6: stimulus[0].rs_mohm: the series resistance"),
            std::string::npos)
      << config_refusal(stim);
}

}  // namespace
