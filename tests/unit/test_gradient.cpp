// The discrete adjoint against central finite differences of the same simulator, for every
// parameter of every compartment, on hh, pas and jk cells (with and without geometry).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>

#include "common/error.hpp"
#include "io/config.hpp"
#include "sim/batch_simulator.hpp"
#include "sim/gradient.hpp"

#include "l5pc_test_cell.hpp"

namespace {

double mse(const std::vector<double>& v, const std::vector<double>& target) {
  double s = 0;
  for (std::size_t k = 0; k < v.size(); ++k) s += (v[k] - target[k]) * (v[k] - target[k]);
  return s / static_cast<double>(v.size());
}

// Perturbs every default by U(0.8, 1.2) per instance (the point where gradients are taken);
// a GLOBAL, one value for the model, by one factor at every instance.
cellfit::parameter_set random_point(const cellfit::cell_model& m, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(0.8, 1.2);
  cellfit::parameter_set set;
  for (const auto& pl : m.mechanisms) {
    const auto* info = cellfit::find_mechanism(pl.name);
    for (std::size_t k = 0; k < info->param_names.size(); ++k) {
      if (info->is_global(static_cast<int>(k))) {
        set.push_back({pl.name, info->param_names[k], "all", {pl.params[k][0] * u(gen)}});
        continue;
      }
      cellfit::parameter_override o{pl.name, info->param_names[k], "per_compartment", {}};
      for (double d : pl.params[k]) o.values.push_back(d * u(gen));
      set.push_back(o);
    }
  }
  return set;
}

// fd_step: the relative step of the central differences. Their error is truncation
// (O(step^2)) plus rounding of the loss (O(eps / step)); parameters with small gradients
// (CaDynamics_E2's decay) need a larger step than 1e-5 for the rounding to stay below 1e-6.
void check_gradient(const std::string& config, double tolerance, double fd_step = 1e-5) {
  auto rc = cellfit::parse_config(config, "gradient", {});
  ASSERT_EQ(rc.stimuli.size(), 1u);
  // Target: the traces of one random point; gradient at another.
  const auto truth = random_point(rc.model, 1);
  const auto here = random_point(rc.model, 2);
  const auto target = cellfit::simulate_batch(rc.model, {truth}, rc.stimuli, rc.settings);
  const auto g = cellfit::loss_gradient(rc.model, {here}, rc.stimuli, rc.settings, target.voltage);
  ASSERT_EQ(g.n_cells, 1u);
  ASSERT_EQ(g.failed_step[0], -1);
  ASSERT_EQ(g.n_segments, 1);  // the whole trajectory was kept
  // Checkpointed every 3 steps (and every step): the recomputed trajectory is the stored
  // one, so the gradient is identical, not just close.
  for (int K : {3, 1}) {
    cellfit::adjoint_options opt;
    opt.checkpoint_every = K;
    const auto gc =
        cellfit::loss_gradient(rc.model, {here}, rc.stimuli, rc.settings, target.voltage, opt);
    ASSERT_GT(gc.n_segments, 1);
    if (K == 3) {
      EXPECT_LT(gc.trajectory_bytes, g.trajectory_bytes);
    }
    EXPECT_EQ(gc.loss, g.loss);
    EXPECT_EQ(gc.grad, g.grad) << "checkpoint_every " << K;
  }
  // The loss alone (no backward pass): the same loss, no gradient.
  {
    cellfit::adjoint_options opt;
    opt.gradient = false;
    const auto gl =
        cellfit::loss_gradient(rc.model, {here}, rc.stimuli, rc.settings, target.voltage, opt);
    EXPECT_EQ(gl.loss, g.loss);
    EXPECT_TRUE(gl.grad.empty());
    EXPECT_EQ(gl.backward_seconds, 0.0);
  }
  const auto base = cellfit::simulate_batch(rc.model, {here}, rc.stimuli, rc.settings);
  EXPECT_NEAR(g.loss[0], mse(base.voltage, target.voltage), 1e-12 * (1 + g.loss[0]));
  ASSERT_GT(g.loss[0], 1e-6);

  int checked = 0;
  double worst = 0;
  for (std::size_t o = 0; o < here.size(); ++o) {
    const auto& ov = here[o];
    std::size_t mi = 0;
    while (rc.model.mechanisms[mi].name != ov.mechanism) ++mi;
    const int k = cellfit::find_mechanism(ov.mechanism)->param_index(ov.param);
    for (std::size_t j = 0; j < ov.values.size(); ++j) {
      const double x = ov.values[j];
      const double h = fd_step * std::fabs(x);
      auto plus = here, minus = here;
      plus[o].values[j] = x + h;
      minus[o].values[j] = x - h;
      const double lp =
          mse(cellfit::simulate_batch(rc.model, {plus}, rc.stimuli, rc.settings).voltage,
              target.voltage);
      const double lm =
          mse(cellfit::simulate_batch(rc.model, {minus}, rc.stimuli, rc.settings).voltage,
              target.voltage);
      const double fd = (lp - lm) / (2 * h);
      // A GLOBAL's one value sets every instance: its gradient is the sum over them.
      const auto& per_instance = g.grad[0][mi][static_cast<std::size_t>(k)];
      double adj = per_instance[j];
      if (ov.scope == "all") adj = std::accumulate(per_instance.begin(), per_instance.end(), 0.0);
      // Relative to the largest gradient of this parameter family, so near-zero entries do
      // not demand more digits than the finite difference has.
      double scale = ov.scope == "all" ? std::fabs(adj) : 0.0;
      for (double v : per_instance) scale = std::max(scale, std::fabs(v));
      const double err = std::fabs(adj - fd) / std::max(scale, 1e-300);
      worst = std::max(worst, err);
      EXPECT_LE(err, tolerance) << ov.mechanism << "." << ov.param << "[" << j << "]: adjoint "
                                << adj << " finite difference " << fd;
      ++checked;
    }
  }
  EXPECT_GT(checked, 5);
  std::printf("  %d gradient entries, worst relative difference to finite differences %.2e\n",
              checked, worst);
}

TEST(gradient, hh_ball_and_stick_matches_finite_differences) {
  check_gradient(R"(
[model]
morphology = "builtin:ball_and_stick"
[simulation]
dt_ms = 0.025
t_stop_ms = 12.0
record_every = 4
record_sites = [0, -1]
[[stimulus]]
sites = [0]
amplitude = 0.6
delay_ms = 1.0
duration_ms = 10.0
)",
                 1e-5);
}

// A three-level voltage clamp at the soma (10 MOhm, so the soma still moves), off for the
// last 2 ms: the clamp's conductance in M(n) and its -g V(n) in r(n) are in the adjoint.
TEST(gradient, hh_ball_and_stick_under_a_voltage_clamp_matches_finite_differences) {
  check_gradient(R"(
[model]
morphology = "builtin:ball_and_stick"
[simulation]
dt_ms = 0.025
t_stop_ms = 12.0
record_every = 4
record_sites = [0, -1]
[[protocol]]
name = "vc"
[[protocol.stimulus]]
type = "seclamp"
sites = "soma"
rs_mohm = 10.0
amp1 = -70.0
dur1 = 2.0
amp2 = -20.0
dur2 = 6.0
amp3 = -60.0
dur3 = 2.0
)",
                 1e-5);
}

// Synaptic input: an Exp2Syn and a current synapse on the dendrite, an inhibitory ExpSyn
// and a voltage clamp sharing the soma (their conductances add in M(n)), a Poisson-driven
// ExpSyn; the cell fires. Synaptic conductances are given per step, so the adjoint sees
// them exactly as it sees a clamp's.
TEST(gradient, hh_ball_and_stick_with_synapses_matches_finite_differences) {
  check_gradient(R"toml(
[model]
morphology = "builtin:ball_and_stick"
[simulation]
dt_ms = 0.025
t_stop_ms = 12.0
record_every = 4
record_sites = [0, -1]
[[protocol]]
name = "syn"
[[protocol.stimulus]]
type = "exp2_syn"
sites = "dend[0](0.5)"
weight = 0.02
tau1 = 0.3
tau2 = 3.0
e = 0.0
spikes = [1.0, 2.5, 2.5, 6.0]
delay_ms = 0.5
[[protocol.stimulus]]
type = "exp_syn"
sites = "soma"
weight = 0.005
tau = 4.0
e = -80.0
spikes = [3.0, 8.0]
[[protocol.stimulus]]
type = "seclamp"
sites = "soma"
rs_mohm = 50.0
amp1 = -60.0
dur1 = 4.0
[[protocol.stimulus]]
type = "current_exp_syn"
sites = "dend[0](0.9)"
weight = 0.1
tau = 2.0
spikes = [0.0, 5.0]
[[protocol.stimulus]]
type = "exp_syn"
sites = "dend[0](0.3)"
weight = 0.003
tau = 1.5
rate_hz = 400.0
seed = 5
)toml",
                 1e-5);
}

TEST(gradient, hh_and_pas_on_a_branched_random_tree) {
  check_gradient(R"(
[model]
morphology = "builtin:random_tree:8:5"
[model.mechanisms.hh]
regions = "soma"
[model.mechanisms.pas]
regions = "dend"
[simulation]
dt_ms = 0.025
t_stop_ms = 8.0
record_every = 2
[[stimulus]]
sites = [0]
amplitude = 1.0
delay_ms = 1.0
)",
                 1e-5);
}

TEST(gradient, l5pc_mechanisms_by_region_with_calcium_match_finite_differences) {
  check_gradient(cellfit_test::l5pc_tree_config(), 1e-5, 1e-4);
}

TEST(gradient, hh_random_tree_of_60_compartments) {
  check_gradient(R"(
[model]
morphology = "builtin:random_tree:60:11"
[simulation]
dt_ms = 0.05
t_stop_ms = 6.0
record_every = 4
record_sites = [0, 10, -1]
[[stimulus]]
sites = [0]
amplitude = 2.0
delay_ms = 0.5
)",
                 1e-5);
}

TEST(gradient, hh_on_the_chain6_point_model) {
  check_gradient(R"(
[model]
morphology = "builtin:chain6"
[model.mechanisms.hh]
regions = "all"
[simulation]
dt_ms = 0.05
t_stop_ms = 8.0
record_every = 2
[[stimulus]]
sites = [0, 3]
amplitude = 15.0
delay_ms = 1.0
)",
                 1e-5);
}

TEST(gradient, jk_ball_and_stick_as_a_point_model) {
  check_gradient(R"(
[model]
morphology = "builtin:ball_and_stick"
mode = "point"
axial_weight = 0.5
[model.mechanisms.jk]
regions = "all"
[simulation]
dt_ms = 0.1
t_stop_ms = 5.0
[[stimulus]]
type = "random_steps"
every = "all"
seed = 8
)",
                 1e-5);
}

TEST(gradient, jk_random_tree_of_60_compartments) {
  check_gradient(R"(
[model]
morphology = "builtin:random_tree:60:13"
mode = "point"
axial_weight = 0.2
[model.mechanisms.jk]
regions = "all"
[simulation]
dt_ms = 0.1
t_stop_ms = 5.0
record_sites = [0, 7, 30, -1]
[[stimulus]]
type = "random_steps"
sites = [0, 20, 40]
i_max = 30
seed = 9
)",
                 1e-5);
}

TEST(gradient, zero_at_the_ground_truth) {
  auto rc = cellfit::parse_config(
      "[model]\nmorphology = \"builtin:chain6\"\n[simulation]\ndt_ms = 0.1\n"
      "t_stop_ms = 5.0\n[[stimulus]]\ntype = \"random_steps\"\nevery = \"all\"\n",
      "truth", {});
  const auto truth = random_point(rc.model, 7);
  const auto target = cellfit::simulate_batch(rc.model, {truth}, rc.stimuli, rc.settings);
  const auto g = cellfit::loss_gradient(rc.model, {truth}, rc.stimuli, rc.settings, target.voltage);
  EXPECT_EQ(g.loss[0], 0.0);
  for (const auto& mech : g.grad[0]) {
    for (const auto& param : mech) {
      for (double v : param) EXPECT_EQ(v, 0.0);
    }
  }
}

TEST(gradient, target_shape_is_checked) {
  auto rc = cellfit::parse_config("[model]\nmorphology = \"builtin:chain6\"\n", "shape", {});
  EXPECT_THROW(cellfit::loss_gradient(rc.model, rc.sets, rc.stimuli, rc.settings, {1.0, 2.0}),
               cellfit::config_error);
}

TEST(gradient, jk_chain6_point_model_matches_finite_differences) {
  check_gradient(R"(
[model]
morphology = "builtin:chain6"
[simulation]
dt_ms = 0.1
t_stop_ms = 5.0
[[stimulus]]
type = "random_steps"
every = "all"
seed = 3
)",
                 1e-5);
}

// A batch that fills 8-lane tiles (with padding): each cell's gradient equals the gradient
// of that cell alone, so lanes neither mix nor depend on their neighbours.
TEST(gradient, batched_lanes_equal_single_cells) {
  auto rc = cellfit::parse_config(R"(
[model]
morphology = "builtin:chain6"
[simulation]
dt_ms = 0.1
t_stop_ms = 5.0
[[stimulus]]
type = "random_steps"
every = "all"
count = 11
seed = 5
)",
                                  "lanes", {});
  const auto truth = random_point(rc.model, 3);
  const auto here = random_point(rc.model, 4);
  const auto target = cellfit::simulate_batch(rc.model, {truth}, rc.stimuli, rc.settings);
  cellfit::adjoint_options opt;
  opt.checkpoint_every = 4;
  const auto g =
      cellfit::loss_gradient(rc.model, {here}, rc.stimuli, rc.settings, target.voltage, opt);
  ASSERT_EQ(g.n_cells, 11u);
  const std::size_t per_cell = g.n_sites * g.n_samples;
  for (std::size_t c = 0; c < g.n_cells; ++c) {
    std::vector<double> t(target.voltage.begin() + static_cast<long>(c * per_cell),
                          target.voltage.begin() + static_cast<long>((c + 1) * per_cell));
    const auto one = cellfit::loss_gradient(rc.model, {here}, {rc.stimuli[c]}, rc.settings, t);
    EXPECT_NEAR(one.loss[0], g.loss[c], 1e-12 * one.loss[0]);
    for (std::size_t m = 0; m < one.grad[0].size(); ++m) {
      for (std::size_t k = 0; k < one.grad[0][m].size(); ++k) {
        for (std::size_t j = 0; j < one.grad[0][m][k].size(); ++j) {
          EXPECT_NEAR(one.grad[0][m][k][j], g.grad[c][m][k][j],
                      1e-10 * (1 + std::fabs(one.grad[0][m][k][j])));
        }
      }
    }
  }
}

TEST(gradient, budget_too_small_is_refused) {
  auto rc = cellfit::parse_config("[model]\nmorphology = \"builtin:chain6\"\n", "budget", {});
  const auto target = cellfit::simulate_batch(rc.model, rc.sets, rc.stimuli, rc.settings);
  cellfit::adjoint_options opt;
  opt.memory_budget_bytes = 100;
  EXPECT_THROW(
      cellfit::loss_gradient(rc.model, rc.sets, rc.stimuli, rc.settings, target.voltage, opt),
      cellfit::config_error);
}

}  // namespace
