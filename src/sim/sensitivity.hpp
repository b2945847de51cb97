#pragma once
// Sensitivities of the recorded traces to fitted parameters: the tangent-linear (forward
// mode) counterpart of sim/gradient.hpp. The forward kernel is templated on its value type,
// so it runs unchanged on dual numbers (kernels/dual.hpp) whose derivative parts are seeded
// with d(instance value)/d(parameter); every recorded sample then carries dV/dtheta, exact to
// rounding, for all stimuli at once. This gives the whole Jacobian of the traces in
// ceil(P / sensitivity_width) forward passes, where the adjoint would need one backward pass
// per recorded sample. Host driver; blocks.

#include <vector>

#include "model/cell_model.hpp"
#include "model/parameter_space.hpp"
#include "sim/batch_simulator.hpp"
#include "stimulus/stimulus.hpp"

namespace cellfit {

// Parameters differentiated per forward pass (the width of the dual numbers).
inline constexpr int sensitivity_width = 4;

struct trace_sensitivity {
  std::size_t n_cells = 0, n_sites = 0, n_samples = 0, n_params = 0;
  std::vector<double> voltage;   // [cell][site][sample], mV; NaN after a protocol's end
  std::vector<double> jacobian;  // [cell][site][sample][param]: dV/dtheta (mV per unit)
  std::vector<int> failed_step;  // [cell], -1 if it did not diverge
  int passes = 0;                // forward passes run
  double seconds = 0;            // wall time of the passes
};

// The traces of one parameter set (`physical`, the scalars of `space`, physical units) for
// every stimulus (cell = stimulus) and their derivatives with respect to those scalars.
// FP64 only (settings.precision is ignored). Throws config_error on bad settings; a cell
// that diverges is reported in failed_step (its derivatives are then meaningless).
trace_sensitivity trace_jacobian(const cell_model& model, const parameter_space& space,
                                 const std::vector<double>& physical,
                                 const std::vector<stimulus>& stimuli,
                                 const simulation_settings& settings);

}  // namespace cellfit
