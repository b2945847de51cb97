// Properties of the batched simulator: FP32 vs FP64, independence of the cells of a batch
// (and of the tile width), divergence isolated to the failing cell, the jk channel against
// its published formulas.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "common/error.hpp"
#include "io/config.hpp"
#include "kernels/channels/jk.hpp"
#include "sim/batch_simulator.hpp"

#include "l5pc_test_cell.hpp"

namespace {

const char* ball_and_stick = R"(
[model]
morphology = "builtin:ball_and_stick"
[simulation]
dt_ms = 0.025
t_stop_ms = 100.0
record_sites = [0, -1]
[[stimulus]]
type = "step"
sites = [0]
amplitudes = [0.02, 0.5]
delay_ms = 10.0
duration_ms = 80.0
)";

std::vector<double> spikes(const double* v, std::size_t n, double dt) {
  std::vector<double> t;
  for (std::size_t k = 1; k < n; ++k) {
    if (v[k - 1] < -20 && v[k] >= -20)
      t.push_back(dt * (k - 1 + (-20 - v[k - 1]) / (v[k] - v[k - 1])));
  }
  return t;
}

TEST(simulator, fp32_agrees_with_fp64) {
  auto rc = cellfit::parse_config(ball_and_stick, "bs", {});
  const auto r64 = cellfit::simulate_batch(rc.model, rc.sets, rc.stimuli, rc.settings);
  rc.settings.prec = cellfit::precision::fp32;
  const auto r32 = cellfit::simulate_batch(rc.model, rc.sets, rc.stimuli, rc.settings);
  ASSERT_EQ(r64.voltage.size(), r32.voltage.size());
  const std::size_t ns = r64.n_samples;
  // Subthreshold cell: traces within 0.01 mV.
  for (std::size_t k = 0; k < 2 * ns; ++k) ASSERT_NEAR(r32.voltage[k], r64.voltage[k], 1e-2);
  // Spiking cell: same spikes within 0.05 ms at both sites.
  for (std::size_t site = 0; site < 2; ++site) {
    const double* a = &r64.voltage[(2 + site) * ns];
    const double* b = &r32.voltage[(2 + site) * ns];
    const auto sa = spikes(a, ns, 0.025), sb = spikes(b, ns, 0.025);
    ASSERT_GT(sa.size(), 3u);
    ASSERT_EQ(sa.size(), sb.size());
    for (std::size_t k = 0; k < sa.size(); ++k) EXPECT_NEAR(sa[k], sb[k], 0.05);
  }
}

TEST(simulator, cells_are_independent_of_batch_and_tile_width) {
  auto rc = cellfit::parse_config(
      ball_and_stick, "bs",
      {"batch.parameter_sets=20", "batch.vary=[\"hh.gnabar\", \"hh.gkbar\"]"});
  // 20 sets x 2 stimuli = 40 cells: one 32-lane tile and one padded tile.
  const auto all = cellfit::simulate_batch(rc.model, rc.sets, rc.stimuli, rc.settings);
  const std::size_t per_cell = all.n_sites * all.n_samples;
  // Bit for bit: the scheduler splits a population across ranks and chunks, and a fit must
  // not depend on how (same seed, same result on any number of ranks).
  for (std::size_t set : {0u, 7u, 19u}) {
    // The same cells alone (2 cells: the one-lane kernel).
    const auto alone = cellfit::simulate_batch(rc.model, {rc.sets[set]}, rc.stimuli, rc.settings);
    for (std::size_t c = 0; c < 2; ++c) {
      for (std::size_t k = 0; k < per_cell; ++k) {
        ASSERT_EQ(alone.voltage[c * per_cell + k], all.voltage[(set * 2 + c) * per_cell + k])
            << "set " << set << " stimulus " << c << " sample " << k;
      }
    }
  }
  // Five sets (10 cells: the narrow tile when the machine has one).
  const std::vector<cellfit::parameter_set> five(rc.sets.begin() + 3, rc.sets.begin() + 8);
  const auto some = cellfit::simulate_batch(rc.model, five, rc.stimuli, rc.settings);
  for (std::size_t k = 0; k < some.voltage.size(); ++k) {
    ASSERT_EQ(some.voltage[k], all.voltage[3 * 2 * per_cell + k]) << "value " << k;
  }
}

// The one-cell kernel runs the mechanisms across their instances (vectorised over
// compartments). hh cells alone equal themselves in a tile bit for bit (above); with the
// twelve L5PC mechanisms, calcium dynamics and summed ion currents the one-cell kernel and a
// tile round differently in places (the compiler contracts some products and sums into FMAs
// in one and not the other), so the two agree to rounding, not bit for bit.
TEST(simulator, l5pc_cells_alone_agree_with_the_same_cells_in_a_tile) {
  auto rc = cellfit::parse_config(
      cellfit_test::l5pc_tree_config(), "l5pc",
      {"batch.parameter_sets=20", "batch.vary=[\"NaTs2_t.gNaTs2_tbar\", \"SK_E2.gSK_E2bar\"]",
       "simulation.t_stop_ms=40"});
  const auto all = cellfit::simulate_batch(rc.model, rc.sets, rc.stimuli, rc.settings);
  const std::size_t per_cell = all.n_sites * all.n_samples;
  for (std::size_t set : {0u, 11u, 19u}) {
    const auto alone = cellfit::simulate_batch(rc.model, {rc.sets[set]}, rc.stimuli, rc.settings);
    ASSERT_EQ(alone.voltage.size(), per_cell);
    double worst = 0, swing = 0;
    for (std::size_t k = 0; k < per_cell; ++k) {
      worst = std::max(worst, std::fabs(alone.voltage[k] - all.voltage[set * per_cell + k]));
      swing = std::max(swing, std::fabs(alone.voltage[k] - alone.voltage[0]));
    }
    EXPECT_LT(worst, 1e-9) << "set " << set;
    EXPECT_GT(swing, 60.0) << "set " << set << ": the cell should fire";
    std::printf("  set %zu: max |V_alone - V_tile| = %.2e mV\n", set, worst);
  }
}

TEST(simulator, a_diverging_cell_fails_alone) {
  auto rc = cellfit::parse_config(ball_and_stick, "bs", {});
  std::vector<cellfit::parameter_set> sets = rc.sets;
  // A leak towards +5 V drives |V| past the bound (every stimulus of set 1); an absurd
  // electrode current overflows to inf/NaN (stimulus 2 of every set).
  sets.push_back({{"hh", "el", "all", {5000.0}}, {"hh", "gl", "all", {1.0}}});
  sets.push_back(rc.sets[0]);
  auto stimuli = rc.stimuli;
  stimuli.push_back(stimuli[1]);
  stimuli[2].components[0].amplitude = 1e308;
  const auto r = cellfit::simulate_batch(rc.model, sets, stimuli, rc.settings);
  const auto ref = cellfit::simulate_batch(rc.model, rc.sets, rc.stimuli, rc.settings);
  ASSERT_EQ(r.n_cells, 9u);
  EXPECT_EQ(r.n_failed(), 5u);
  const std::size_t per_cell = r.n_sites * r.n_samples;
  for (std::size_t c : {2u, 3u, 4u, 5u, 8u}) {
    EXPECT_GE(r.failed_step[c], 1) << c;
    // Samples from the failure on are NaN, never a silent number.
    EXPECT_TRUE(std::isnan(r.voltage[c * per_cell + per_cell - 1])) << c;
  }
  for (std::size_t c : {0u, 1u}) {
    EXPECT_EQ(r.failed_step[c], -1);
    EXPECT_EQ(r.failed_step[c + 6], -1);
    for (std::size_t k = 0; k < per_cell; ++k) {
      ASSERT_NEAR(r.voltage[c * per_cell + k], ref.voltage[c * per_cell + k], 1e-9);
      ASSERT_NEAR(r.voltage[(c + 6) * per_cell + k], ref.voltage[c * per_cell + k], 1e-9);
    }
  }
}

TEST(simulator, rejects_bad_settings_before_running) {
  auto rc = cellfit::parse_config(ball_and_stick, "bs", {});
  auto s = rc.settings;
  s.record_compartments = {99};
  EXPECT_THROW(cellfit::simulate_batch(rc.model, rc.sets, rc.stimuli, s), cellfit::config_error);
  s = rc.settings;
  s.dt_ms = -1;
  EXPECT_THROW(cellfit::simulate_batch(rc.model, rc.sets, rc.stimuli, s), cellfit::config_error);
  std::vector<cellfit::parameter_set> bad = {{{"hh", "gnabar", "all", {std::nan("")}}}};
  EXPECT_THROW(cellfit::simulate_batch(rc.model, bad, rc.stimuli, rc.settings),
               cellfit::config_error);
  bad = {{{"hh", "nosuch", "all", {1.0}}}};
  EXPECT_THROW(cellfit::simulate_batch(rc.model, bad, rc.stimuli, rc.settings),
               cellfit::config_error);
}

TEST(jk, rates_match_the_published_equations) {
  // papers/README.md 4.2, written out with the C library's exp and log.
  for (double v = -120; v <= 60; v += 0.37) {
    const double vs = v + 49.2, eps = 1e-8;
    const double am = 1.841 * std::log(0.102 * std::exp(0.17 * vs) + 1);
    const double bm = 2.010 * std::log(266.087 * std::exp(-0.139 * vs) + 1);
    const double ah = 0.128 * std::exp((17 - vs) / 18), bh = 4 / (1 + std::exp((40 - vs) / 5));
    const double an = 0.114 * std::log(0.007 * std::exp(0.140 * vs) + 1);
    const double bn = 0.25 * std::exp((20 - vs) / 40);
    double inf[3], rate[3];
    cellfit::channels::jk::rates(v, inf, rate);
    EXPECT_NEAR(inf[0], am / (am + bm + eps), 1e-13);
    EXPECT_NEAR(inf[1], ah / (ah + bh + eps), 1e-13);
    EXPECT_NEAR(inf[2], an / (an + bn + eps), 1e-13);
    EXPECT_NEAR(rate[0] / (am + bm + eps), 1.0, 1e-13);
    EXPECT_NEAR(rate[1] / (ah + bh + eps), 1.0, 1e-13);
    EXPECT_NEAR(rate[2] / (2 * (an + bn + eps)), 1.0, 1e-13);
  }
}

TEST(jk, chain6_toy_responds_to_random_steps) {
  auto rc = cellfit::parse_config(R"(
[model]
morphology = "builtin:chain6"
[simulation]
dt_ms = 0.1
t_stop_ms = 5.0
[[stimulus]]
type = "random_steps"
every = "all"
count = 4
i_max = 20
seed = 20230619
)",
                                  "toy", {});
  EXPECT_TRUE(rc.model.geom.point_model);
  EXPECT_EQ(rc.stimuli.size(), 4u);
  const auto r = cellfit::simulate_batch(rc.model, rc.sets, rc.stimuli, rc.settings);
  EXPECT_EQ(r.n_failed(), 0u);
  EXPECT_EQ(r.n_sites, 6u);
  EXPECT_EQ(r.n_samples, 51u);
  // At rest without input the cell stays near V0; with input it moves.
  double moved = 0;
  for (double v : r.voltage) moved = std::max(moved, std::fabs(v + 60.0));
  EXPECT_GT(moved, 1.0);
}

}  // namespace

namespace {

// hh on a model, or hh_nmodl (NEURON's hh.mod written here and translated) with the same
// reversal potentials given to the na and k ions.
std::string hh_tree(const char* mechanism, double celsius) {
  std::string c = std::string(R"(
[model]
morphology = "builtin:tree184"
celsius = )") + std::to_string(celsius) +
                  R"(
[model.mechanisms.)" +
                  mechanism + R"(]
regions = "all"
)";
  if (std::string(mechanism) == "hh_nmodl")
    c += "[model.ions.na]\ne = 50.0\n[model.ions.k]\ne = -77.0\n";
  return c + R"(
[simulation]
dt_ms = 0.025
t_stop_ms = 60.0
record_sites = [0, 90, 183]
[[stimulus]]
type = "step"
sites = [0]
amplitudes = [0.05, 1.0, 3.0]
delay_ms = 5.0
duration_ms = 50.0
)";
}

}  // namespace

// The generated hh equals the hand-tuned one to rounding: same spikes, traces within 1e-9
// mV over 60 ms of repetitive firing on tree184, at two temperatures (q10 1 and 3).
TEST(catalogue, generated_hh_equals_hand_written_hh) {
  for (double celsius : {6.3, 16.3}) {
    const auto a = cellfit::parse_config(hh_tree("hh", celsius), "hh", {});
    const auto b = cellfit::parse_config(hh_tree("hh_nmodl", celsius), "hh_nmodl", {});
    const auto ra = cellfit::simulate_batch(a.model, {{}}, a.stimuli, a.settings);
    const auto rb = cellfit::simulate_batch(b.model, {{}}, b.stimuli, b.settings);
    ASSERT_EQ(ra.voltage.size(), rb.voltage.size());
    double worst = 0;
    for (std::size_t k = 0; k < ra.voltage.size(); ++k)
      worst = std::max(worst, std::fabs(ra.voltage[k] - rb.voltage[k]));
    EXPECT_LT(worst, 1e-9) << "celsius " << celsius;
    const std::size_t n = ra.n_samples;
    const auto sa = spikes(&ra.voltage[(2 * ra.n_sites) * n], n, 0.025);
    const auto sb = spikes(&rb.voltage[(2 * rb.n_sites) * n], n, 0.025);
    EXPECT_GT(sa.size(), 2u);
    EXPECT_EQ(sa.size(), sb.size());
    std::printf("  celsius %.1f: %zu spikes, max |V_hh - V_hh_nmodl| = %.2e mV\n", celsius,
                sa.size(), worst);
  }
}
