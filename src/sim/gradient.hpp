#pragma once
// Exact gradients of a trace loss through the simulator (discrete adjoint, kernels/
// adjoint.hpp): for every cell (parameter set x stimulus), the loss
//   L = mean over recorded sites and samples of (V - target)^2
// and dL/dp for every parameter of every mechanism instance. Host driver; blocks.

#include <vector>

#include "model/cell_model.hpp"
#include "sim/batch_simulator.hpp"
#include "stimulus/stimulus.hpp"

namespace cellfit {

struct gradient_result {
  std::size_t n_cells = 0;
  std::vector<double> loss;  // [cell]; NaN for a cell that diverged
  // [cell][mechanism (model.mechanisms order)][param][instance]
  std::vector<std::vector<std::vector<std::vector<double>>>> grad;
  std::vector<int> failed_step;  // [cell], -1 if it did not diverge
};

// `target` is [cell][site][sample] like simulation_result::voltage, for the settings'
// recording sites and samples. FP64 only. Throws config_error on a shape mismatch.
gradient_result loss_gradient(const cell_model& model, const std::vector<parameter_set>& sets,
                              const std::vector<stimulus>& stimuli,
                              const simulation_settings& settings,
                              const std::vector<double>& target);

}  // namespace cellfit
