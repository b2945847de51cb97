// The gradient engine's pieces: parameter transforms, the map from fit parameters to
// per-instance values and back (region scopes sum their instances), and the whole chain
// dL/dx = (adjoint gradient) x (scope sums) x (transform Jacobian) against central finite
// differences of the simulated loss, for the trace and the spike-timing losses.
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.hpp"
#include "gradient/gradient_fit.hpp"
#include "gradient/trace_loss.hpp"
#include "io/config.hpp"
#include "model/parameter_space.hpp"
#include "sim/batch_simulator.hpp"
#include "sim/gradient.hpp"

namespace {

using cellfit::fit_parameter;
using cellfit::transform_kind;

const char* cable_config = R"(
[model]
morphology = "builtin:ball_and_stick"
[model.mechanisms.hh]
regions = "all"
[simulation]
dt_ms = 0.025
t_stop_ms = 15.0
record_every = 4
record_sites = [0, -1]
[[stimulus]]
sites = [0]
amplitude = 0.4
delay_ms = 1.0
[[stimulus]]
sites = [0]
amplitude = 0.7
delay_ms = 2.0
)";

std::vector<fit_parameter> cable_parameters() {
  std::vector<fit_parameter> p(4);
  p[0] = {"hh", "gnabar", "soma", 0.01, 1.0, transform_kind::log, {}, "test"};
  p[1] = {"hh", "gnabar", "dend", 0.01, 1.0, transform_kind::sigmoid, {}, "test"};
  p[2] = {"hh", "gkbar", "per_compartment", 0.001, 0.5, transform_kind::linear, {}, "test"};
  p[3] = {"hh", "el", "all", -80.0, -40.0, transform_kind::sigmoid, {-60.0}, "test"};
  return p;
}

TEST(parameter_space, transforms_round_trip_and_jacobian) {
  auto rc = cellfit::parse_config(cable_config, "space", {});
  const cellfit::parameter_space space(rc.model, cable_parameters());
  ASSERT_EQ(space.size(), 1u + 1u + 6u + 1u);
  EXPECT_EQ(space.names()[0], "hh.gnabar@soma");
  EXPECT_EQ(space.names()[2], "hh.gkbar[0]");
  const auto p0 = space.initial_values();
  EXPECT_DOUBLE_EQ(p0[0], 0.12);
  EXPECT_DOUBLE_EQ(p0.back(), -60.0);
  const auto x = space.to_optimizer(p0);
  const auto back = space.to_physical(x);
  for (std::size_t i = 0; i < p0.size(); ++i)
    EXPECT_NEAR(back[i], p0[i], 1e-12 * (1 + std::fabs(p0[i])));
  const auto jac = space.jacobian(x);
  for (std::size_t i = 0; i < x.size(); ++i) {
    auto xp = x, xm = x;
    const double h = 1e-6;
    xp[i] += h;
    xm[i] -= h;
    const double fd = (space.to_physical(xp)[i] - space.to_physical(xm)[i]) / (2 * h);
    EXPECT_NEAR(jac[i], fd, 1e-7 * (1 + std::fabs(fd))) << space.names()[i];
  }
  // Sigmoid parameters stay inside their bounds for any x.
  std::vector<double> far(x.size(), 50.0);
  const auto pf = space.to_physical(far);
  EXPECT_LE(pf[1], 1.0);
  EXPECT_LE(pf.back(), -40.0);
}

TEST(parameter_space, bad_parameters_are_refused) {
  auto rc = cellfit::parse_config(cable_config, "space", {});
  auto with = [&](auto edit) {
    auto p = cable_parameters();
    edit(p);
    return cellfit::parameter_space(rc.model, p);
  };
  EXPECT_THROW(with([](auto& p) { p[0].lower = 2.0; }), cellfit::config_error);  // lower > upper
  EXPECT_THROW(with([](auto& p) { p[0].upper = NAN; }), cellfit::config_error);
  EXPECT_THROW(with([](auto& p) { p[0].mechanism = "nax"; }), cellfit::config_error);
  EXPECT_THROW(with([](auto& p) { p[0].param = "gbar"; }), cellfit::config_error);
  EXPECT_THROW(with([](auto& p) { p[0].scope = "apical"; }), cellfit::config_error);  // no apical
  EXPECT_THROW(with([](auto& p) { p[1].scope = "all"; }), cellfit::config_error);     // overlap
  EXPECT_THROW(with([](auto& p) { p[3].initial = {-90.0}; }), cellfit::config_error);
  EXPECT_THROW(with([](auto& p) { p[2].initial = {0.1, 0.2}; }), cellfit::config_error);
  EXPECT_THROW(with([](auto& p) { p[0].lower = 0.0; }), cellfit::config_error);  // log at 0
  EXPECT_THROW(cellfit::parameter_space(rc.model, {}), cellfit::config_error);
}

// dL/dx from the adjoint through scopes and transforms, against finite differences of the
// loss of simulated traces.
void check_chain(const cellfit::loss_settings& ls, double tolerance) {
  auto rc = cellfit::parse_config(cable_config, "chain", {});
  const cellfit::parameter_space space(rc.model, cable_parameters());
  const auto& s = rc.settings;
  // Target: a shifted point (the spike loss needs spikes in both).
  auto truth = space.initial_values();
  for (std::size_t i = 0; i < truth.size(); ++i) truth[i] = truth[i] * (i % 2 ? 0.93 : 1.06);
  const auto target = cellfit::simulate_batch(rc.model, {space.to_set(truth)}, rc.stimuli, s);
  const cellfit::trace_loss loss(ls, target.voltage, rc.stimuli.size(),
                                 s.record_compartments.size(),
                                 static_cast<std::size_t>(s.n_samples()), s.dt_ms * s.record_every);
  auto fn = [&](std::size_t c, const double* v, double* dv) { return loss(c, v, dv); };
  auto total = [&](const std::vector<double>& x) {
    const auto r =
        cellfit::simulate_batch(rc.model, {space.to_set(space.to_physical(x))}, rc.stimuli, s);
    const std::size_t per = r.n_sites * r.n_samples;
    std::vector<double> dv(per);
    double L = 0;
    for (std::size_t c = 0; c < r.n_cells; ++c) L += loss(c, &r.voltage[c * per], dv.data());
    return L;
  };
  const auto x = space.to_optimizer(space.initial_values());
  const auto g =
      cellfit::loss_gradient(rc.model, {space.to_set(space.to_physical(x))}, rc.stimuli, s, fn);
  std::vector<double> gp(space.size(), 0.0);
  double L = 0;
  for (std::size_t c = 0; c < g.n_cells; ++c) {
    L += g.loss[c];
    space.accumulate(g.grad[c], gp);
  }
  EXPECT_NEAR(L, total(x), 1e-12 * L);
  if (ls.spike_weight > 0) {
    // The spike term is present: the same traces without it give a smaller loss.
    cellfit::loss_settings plain = ls;
    plain.spike_weight = 0;
    const cellfit::trace_loss trace_only(
        plain, target.voltage, rc.stimuli.size(), s.record_compartments.size(),
        static_cast<std::size_t>(s.n_samples()), s.dt_ms * s.record_every);
    const std::size_t per = g.n_sites * g.n_samples;
    std::vector<double> dv(per);
    double L0 = 0;
    for (std::size_t c = 0; c < g.n_cells; ++c) L0 += trace_only(c, &g.voltage[c * per], dv.data());
    EXPECT_GT(L - L0, 1e-3 * L);
  }
  const auto jac = space.jacobian(x);
  double scale = 0;
  for (std::size_t i = 0; i < x.size(); ++i) scale = std::max(scale, std::fabs(gp[i] * jac[i]));
  // Matched spikes move with the parameters: a spike loss has a gradient here.
  EXPECT_GT(scale, 0);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double h = 1e-5 * (1 + std::fabs(x[i]));
    auto xp = x, xm = x;
    xp[i] += h;
    xm[i] -= h;
    const double fd = (total(xp) - total(xm)) / (2 * h);
    const double adj = gp[i] * jac[i];
    EXPECT_LE(std::fabs(adj - fd), tolerance * std::max(std::fabs(fd), 1e-3 * scale))
        << space.names()[i] << ": adjoint " << adj << " finite difference " << fd;
  }
}

TEST(gradient_fit, trace_loss_gradient_through_scopes_and_transforms) {
  check_chain({cellfit::loss_kind::mse, 0.0, -20.0}, 1e-5);
}

TEST(gradient_fit, spike_timing_loss_gradient) {
  check_chain({cellfit::loss_kind::normalized, 50.0, -20.0}, 1e-5);
}

// The spike-train losses alone (no trace term): t* moves with the two samples around each
// crossing; the counts are stable under the steps here (x +- 1e-5 (1 + |x|)).
TEST(gradient_fit, spike_time_loss_gradient) {
  cellfit::loss_settings ls;
  ls.kind = cellfit::loss_kind::spike_time;
  check_chain(ls, 1e-5);
}

TEST(gradient_fit, van_rossum_loss_gradient) {
  cellfit::loss_settings ls;
  ls.kind = cellfit::loss_kind::van_rossum;
  ls.van_rossum_tau_ms = 2.0;
  check_chain(ls, 1e-5);
}

TEST(trace_loss, threshold_crossings_are_interpolated) {
  const double v[] = {-70, -30, -10, 20, -40, -60, 0};
  const auto t = cellfit::threshold_crossings(v, 7, 0.5, -20.0);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_DOUBLE_EQ(t[0], 0.5 * (1 + 10.0 / 20.0));
  EXPECT_DOUBLE_EQ(t[1], 0.5 * (5 + 40.0 / 60.0));
}

TEST(gradient_fit, adam_and_lbfgsb_recover_a_region_scoped_truth) {
  auto rc = cellfit::parse_config(cable_config, "fit", {});
  std::vector<fit_parameter> p(2);
  p[0] = {"hh", "gnabar", "all", 0.02, 0.5, transform_kind::log, {}, "test"};
  p[1] = {"hh", "gkbar", "all", 0.005, 0.2, transform_kind::sigmoid, {}, "test"};
  const cellfit::parameter_space space(rc.model, p);
  const std::vector<double> truth = {0.1, 0.045};
  cellfit::fit_problem fp;
  fp.model = &rc.model;
  fp.space = &space;
  fp.stimuli = rc.stimuli;
  fp.settings = rc.settings;
  fp.target =
      cellfit::simulate_batch(rc.model, {space.to_set(truth)}, rc.stimuli, rc.settings).voltage;
  fp.ground_truth = truth;
  cellfit::gradient_settings gs;
  gs.optimizer = cellfit::optimizer_kind::lbfgsb;
  gs.epochs = 60;
  const auto r = cellfit::run_gradient_fit(fp, gs);
  EXPECT_LT(cellfit::gt_error(r.best, truth), 1e-4) << r.stop_reason;
  gs.optimizer = cellfit::optimizer_kind::adam;
  gs.lr = 0.1;  // log/sigmoid coordinates
  gs.epochs = 150;
  const auto a = cellfit::run_gradient_fit(fp, gs);
  EXPECT_LT(cellfit::gt_error(a.best, truth), 0.1 * cellfit::gt_error(a.initial, truth));
  EXPECT_EQ(a.history.loss.size(), 151u);
  // Early stopping ends a converged fit before its epochs are spent.
  gs.early_stop = 1e-3;
  gs.patience = 5;
  gs.epochs = 2000;
  const auto e = cellfit::run_gradient_fit(fp, gs);
  EXPECT_EQ(e.stop_reason, "early_stop");
  EXPECT_LT(e.history.loss.size(), 2001u);
}

}  // namespace
