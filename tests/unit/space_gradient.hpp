#pragma once
// dL/dx of a fit's parameter space (the adjoint, the scope sums and distributions, the
// transforms) against central finite differences of the simulated MSE, for the unit tests
// of parameter kinds.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "io/config.hpp"
#include "model/parameter_space.hpp"
#include "sim/batch_simulator.hpp"
#include "sim/gradient.hpp"

namespace cellfit::test {

// The loss loss_gradient(target) computes: per cell the mean squared difference over its
// sites and the samples before its protocol's end (NaN after it), summed over the cells.
inline double batch_mse(const simulation_result& r, const std::vector<double>& target) {
  const std::size_t per_cell = r.n_sites * r.n_samples;
  double total = 0;
  for (std::size_t c = 0; c < r.n_cells; ++c) {
    double s = 0;
    std::size_t n = 0;
    for (std::size_t i = c * per_cell; i < (c + 1) * per_cell; ++i) {
      if (std::isnan(target[i])) continue;
      s += (r.voltage[i] - target[i]) * (r.voltage[i] - target[i]);
      ++n;
    }
    total += s / static_cast<double>(n);
  }
  return total;
}

// Target: the traces at physical values `truth` (one cell per stimulus); the gradient at the
// model's values, in optimiser coordinates, each entry against (L(x + h) - L(x - h)) / 2h with h =
// 1e-5 |x_i|. Expects every entry within `tolerance` relative; returns the worst relative
// difference.
inline double check_space_gradient(const run_config& rc, const parameter_space& space,
                                   const std::vector<double>& truth, double tolerance = 1e-5,
                                   adjoint_options opt = {}) {
  const auto& s = rc.settings;
  opt.passive_gradient = opt.passive_gradient || space.has_passive();
  const auto target = simulate_batch(rc.model, {space.to_set(truth)}, rc.stimuli, s);
  auto loss = [&](const std::vector<double>& x) {
    const auto r = simulate_batch(rc.model, {space.to_set(space.to_physical(x))}, rc.stimuli, s);
    return batch_mse(r, target.voltage);
  };
  const auto x = space.to_optimizer(space.model_values());
  const auto g = loss_gradient(rc.model, {space.to_set(space.to_physical(x))}, rc.stimuli, s,
                               target.voltage, opt);
  double total = 0;
  std::vector<double> gp(space.size(), 0.0);
  for (std::size_t c = 0; c < g.n_cells; ++c) {
    total += g.loss[c];
    space.accumulate(g.grad[c], gp);
  }
  EXPECT_NEAR(total, loss(x), 1e-12 * total);
  EXPECT_GT(total, 1e-6);
  const auto jac = space.jacobian(x);
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double h = 1e-5 * std::fabs(x[i]);  // relative: densities are ~1e-5 in linear units
    auto xp = x, xm = x;
    xp[i] += h;
    xm[i] -= h;
    const double fd = (loss(xp) - loss(xm)) / (2 * h);
    const double adj = gp[i] * jac[i];
    EXPECT_GT(std::fabs(fd), 0.0) << space.names()[i];
    EXPECT_LE(std::fabs(adj - fd), tolerance * std::fabs(fd))
        << space.names()[i] << ": adjoint " << adj << " finite difference " << fd;
    worst = std::max(worst, std::fabs(adj - fd) / std::fabs(fd));
  }
  return worst;
}

}  // namespace cellfit::test
