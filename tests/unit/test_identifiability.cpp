// The tangent-linear Jacobian of the traces (sim/sensitivity.hpp) against central finite
// differences of the simulator, and the identifiability analysis built on it
// (gradient/identifiability.hpp): its residuals sum to the loss, J^T r is half the adjoint's
// gradient, and the covariance inverts the information.
#include <gtest/gtest.h>

#include <cmath>

#include <Eigen/Dense>

#include "common/error.hpp"
#include "gradient/gradient_fit.hpp"
#include "gradient/identifiability.hpp"
#include "io/config.hpp"
#include "sim/batch_simulator.hpp"
#include "sim/sensitivity.hpp"

namespace {

using namespace cellfit;

// Paper 000's toy, small: the jk chain, 3 random-step stimuli at compartment 0, every
// compartment recorded; 12 per-compartment conductances.
const char* toy_config = R"(
[model]
morphology = "builtin:chain6"
axial_weight = 0.5
[model.mechanisms.jk]
regions = "all"
[simulation]
dt_ms = 0.1
t_stop_ms = 5.0
record_sites = "all"
[[stimulus]]
type = "random_steps"
sites = [0]
intervals = 48
hazard = 0.05
i_min = 0
i_max = 20
count = 3
seed = 7
[fit]
[[fit.parameter]]
name = "jk.gnabar"
scope = "per_compartment"
bounds = [1.0, 500.0]
[[fit.parameter]]
name = "jk.gkbar"
scope = "per_compartment"
bounds = [1.0, 500.0]
)";

// A cable cell with passive parameters (cm and Ra seed the matrix, not a mechanism) and a
// reversal potential and a shared conductance.
const char* cable_config = R"(
[model]
morphology = "builtin:ball_and_stick"
[model.mechanisms.hh]
regions = "all"
[simulation]
dt_ms = 0.025
t_stop_ms = 12.0
record_every = 4
record_sites = [0, -1]
[[protocol]]
name = "long"
[[protocol.stimulus]]
sites = [0]
amplitude = 0.5
delay_ms = 1.0
[[protocol]]
name = "short"
t_stop_ms = 9.0
[[protocol.stimulus]]
sites = [0]
amplitude = 0.2
delay_ms = 2.0
[fit]
[[fit.parameter]]
name = "cm@dend"
bounds = [0.5, 4.0]
[[fit.parameter]]
name = "Ra"
bounds = [30.0, 400.0]
[[fit.parameter]]
name = "hh.gkbar"
bounds = [0.001, 1.0]
[[fit.parameter]]
name = "hh.el"
bounds = [-80.0, -40.0]
[[fit.parameter]]
name = "hh.gnabar@soma"
bounds = [0.01, 1.0]
)";

std::vector<double> perturbed(const parameter_space& space, double spread) {
  std::vector<double> p = space.initial_values();
  for (std::size_t i = 0; i < p.size(); ++i) p[i] *= 1.0 + spread * std::sin(3.0 * i + 1.0);
  return p;
}

// dV/dtheta by central differences of the simulator, relative step h. Their truncation
// error is O(h^2) times the trajectory's third derivative, large on an action potential's
// upstroke: on the toy it is 7.7e-5 of the column at h = 1e-5, 7.8e-7 at 1e-6, 6e-8 at 1e-7
// (converging on the tangent-linear values), so h = 1e-7; rounding stays below 1e-8 there.
std::vector<double> fd_jacobian(const run_config& rc, const parameter_space& space,
                                const std::vector<double>& p, double h) {
  const std::size_t P = p.size();
  std::vector<double> J;
  for (std::size_t j = 0; j < P; ++j) {
    std::vector<double> up = p, down = p;
    const double step = h * std::abs(p[j]);
    up[j] += step;
    down[j] -= step;
    const auto a = simulate_batch(rc.model, {space.to_set(up)}, rc.stimuli, rc.settings);
    const auto b = simulate_batch(rc.model, {space.to_set(down)}, rc.stimuli, rc.settings);
    if (J.empty()) J.assign(a.voltage.size() * P, 0.0);
    for (std::size_t i = 0; i < a.voltage.size(); ++i) {
      J[i * P + j] = (a.voltage[i] - b.voltage[i]) / (2 * step);
    }
  }
  return J;
}

// Column by column: the norm of the difference within tol of the column's norm, and every
// entry above a hundredth of the column's largest within tol of itself (ignoring NaN past a
// protocol's end, where both are NaN). Smaller entries are left to the norm: the differences'
// rounding (about 3e-8 in absolute terms on the toy) would dominate them.
void expect_jacobian_close(const std::vector<double>& exact, const std::vector<double>& fd,
                           std::size_t P, double tol, const std::vector<std::string>& names) {
  ASSERT_EQ(exact.size(), fd.size());
  const std::size_t N = exact.size() / P;
  for (std::size_t j = 0; j < P; ++j) {
    double norm = 0, diff = 0, top = 0;
    for (std::size_t i = 0; i < N; ++i) {
      const double e = exact[i * P + j], d = fd[i * P + j];
      if (std::isnan(d)) {
        EXPECT_TRUE(std::isnan(e));
        continue;
      }
      norm += e * e;
      diff += (e - d) * (e - d);
      top = std::max(top, std::abs(e));
    }
    ASSERT_GT(norm, 0) << names[j];
    EXPECT_LT(std::sqrt(diff / norm), tol) << names[j];
    int bad = 0;
    for (std::size_t i = 0; i < N; ++i) {
      const double e = exact[i * P + j], d = fd[i * P + j];
      if (std::isnan(d) || std::abs(e) < 1e-2 * top) continue;
      if (std::abs(e - d) > tol * std::abs(e)) {
        ++bad;
        ADD_FAILURE() << names[j] << " residual " << i << ": exact " << e << ", differences " << d
                      << " (column's largest " << top << ")";
      }
    }
    EXPECT_EQ(bad, 0) << names[j];
  }
}

TEST(identifiability, toy_jacobian_matches_finite_differences) {
  const auto rc = parse_config(toy_config, "toy", {});
  const parameter_space space(rc.model, rc.fit.parameters);
  ASSERT_EQ(space.size(), 12u);
  const auto p = perturbed(space, 0.2);
  const trace_sensitivity s = trace_jacobian(rc.model, space, p, rc.stimuli, rc.settings);
  EXPECT_EQ(s.passes, 3);  // 12 parameters, 4 per pass
  // The values are the plain simulator's: the duals carry the same arithmetic (up to the
  // compiler's contractions, which may differ between lane widths).
  const auto plain = simulate_batch(rc.model, {space.to_set(p)}, rc.stimuli, rc.settings);
  ASSERT_EQ(s.voltage.size(), plain.voltage.size());
  for (std::size_t i = 0; i < s.voltage.size(); ++i) {
    ASSERT_NEAR(s.voltage[i], plain.voltage[i], 1e-9) << i;
  }
  expect_jacobian_close(s.jacobian, fd_jacobian(rc, space, p, 1e-7), space.size(), 1e-5,
                        space.names());
}

TEST(identifiability, passive_and_shared_parameters_match_finite_differences) {
  const auto rc = parse_config(cable_config, "cable", {});
  const parameter_space space(rc.model, rc.fit.parameters);
  const auto p = perturbed(space, 0.1);
  const trace_sensitivity s = trace_jacobian(rc.model, space, p, rc.stimuli, rc.settings);
  expect_jacobian_close(s.jacobian, fd_jacobian(rc, space, p, 1e-7), space.size(), 1e-5,
                        space.names());
}

// The residuals are those of the fit's loss: sum r^2 is the loss, and 2 J^T r is the
// gradient the adjoint computes (two independent derivative codes agreeing).
TEST(identifiability, residuals_are_the_loss_and_jt_r_the_adjoint_gradient) {
  const auto rc = parse_config(cable_config, "cable", {});
  const parameter_space space(rc.model, rc.fit.parameters);
  const auto truth = perturbed(space, 0.1);
  const auto here = perturbed(space, -0.05);
  fit_problem fp;
  fp.model = &rc.model;
  fp.space = &space;
  fp.stimuli = rc.stimuli;
  fp.settings = rc.settings;
  fp.target = simulate_batch(rc.model, {space.to_set(truth)}, rc.stimuli, rc.settings).voltage;
  for (loss_kind kind : {loss_kind::normalized, loss_kind::mse}) {
    gradient_settings g;
    g.loss.kind = kind;
    const loss_evaluation e = evaluate_loss(fp, g, here, true);
    const residual_jacobian rj =
        trace_residual_jacobian(rc.model, space, here, rc.stimuli, rc.settings, fp.target, kind);
    const std::size_t P = space.size();
    double rss = 0;
    std::vector<double> jtr(P, 0.0);
    for (std::size_t i = 0; i < rj.n_residuals; ++i) {
      rss += rj.residual[i] * rj.residual[i];
      for (std::size_t j = 0; j < P; ++j) jtr[j] += rj.jacobian[i * P + j] * rj.residual[i];
    }
    EXPECT_NEAR(rss, e.loss, 1e-12 * e.loss);
    for (std::size_t j = 0; j < P; ++j) {
      EXPECT_NEAR(2 * jtr[j], e.gradient[j], 1e-7 * std::abs(e.gradient[j])) << space.names()[j];
    }
  }
}

TEST(identifiability, analysis_inverts_the_information) {
  const auto rc = parse_config(toy_config, "toy", {});
  const parameter_space space(rc.model, rc.fit.parameters);
  const auto truth = perturbed(space, 0.2);
  const auto target =
      simulate_batch(rc.model, {space.to_set(truth)}, rc.stimuli, rc.settings).voltage;
  const auto here = perturbed(space, 0.19);
  const residual_jacobian rj = trace_residual_jacobian(rc.model, space, here, rc.stimuli,
                                                       rc.settings, target, loss_kind::normalized);
  const std::size_t P = space.size();
  for (double noise : {0.0, 0.5}) {
    identifiability_settings st;
    st.noise_mv = noise;
    const identifiability_result r = analyse_identifiability(rj, here, st);
    ASSERT_EQ(r.eigenvalues.size(), P);
    EXPECT_TRUE(std::is_sorted(r.eigenvalues.begin(), r.eigenvalues.end()));
    if (noise == 0) {
      EXPECT_NEAR(r.sigma2, r.rss / static_cast<double>(rj.n_residuals - P), 1e-15);
    }
    Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> F(
        r.fisher.data(), P, P),
        C(r.covariance.data(), P, P), V(r.eigenvectors.data(), P, P);
    const Eigen::MatrixXd I = F * C;
    EXPECT_LT((I - Eigen::MatrixXd::Identity(P, P)).norm(), 1e-6);
    EXPECT_LT((V * V.transpose() - Eigen::MatrixXd::Identity(P, P)).norm(), 1e-10);
    for (std::size_t i = 0; i < P; ++i) {
      EXPECT_NEAR(r.correlation[i * P + i], 1.0, 1e-12);
      EXPECT_NEAR(r.std_error[i], std::sqrt(C(i, i)), 1e-12 * std::sqrt(C(i, i)));
      EXPECT_NEAR(r.relative_std_error[i], r.std_error[i] / std::abs(here[i]),
                  1e-9 * r.relative_std_error[i]);
    }
  }
  // Noise given in mV: the information is J_v^T J_v / noise^2, so errors scale with noise.
  identifiability_settings a, b;
  a.noise_mv = 0.5;
  b.noise_mv = 1.0;
  const auto ra = analyse_identifiability(rj, here, a), rb = analyse_identifiability(rj, here, b);
  for (std::size_t i = 0; i < P; ++i) {
    EXPECT_NEAR(rb.std_error[i], 2 * ra.std_error[i], 1e-9 * rb.std_error[i]);
  }
}

TEST(identifiability, refusals) {
  const auto rc = parse_config(toy_config, "toy", {});
  const parameter_space space(rc.model, rc.fit.parameters);
  const auto p = space.initial_values();
  EXPECT_THROW(trace_residual_jacobian(rc.model, space, p, rc.stimuli, rc.settings, {1.0, 2.0},
                                       loss_kind::normalized),
               config_error);
  residual_jacobian tiny;
  tiny.n_params = p.size();
  tiny.n_residuals = 3;
  tiny.residual.assign(3, 0.1);
  tiny.weight.assign(3, 1.0);
  tiny.jacobian.assign(3 * p.size(), 1.0);
  EXPECT_THROW(analyse_identifiability(tiny, p), config_error);
}

}  // namespace
