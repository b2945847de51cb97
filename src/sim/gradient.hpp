#pragma once
// Exact gradients of a trace loss through the simulator (discrete adjoint, kernels/
// adjoint.hpp). For every cell (parameter set x stimulus) the forward pass records the
// traces, a loss function of the recorded traces gives the loss and its derivative with
// respect to every recorded sample, and the backward pass turns that into dL/dp for every
// parameter of every mechanism instance. Host driver; blocks.

#include <functional>
#include <vector>

#include "model/cell_model.hpp"
#include "sim/batch_simulator.hpp"
#include "stimulus/stimulus.hpp"

namespace cellfit {

// Loss of one cell from its recorded traces v [site][sample] (mV); writes dL/dv into dv
// (same shape, zeroed by the caller) and returns L. Called on the host, cell by cell.
using trace_loss_function = std::function<double(std::size_t cell, const double* v, double* dv)>;

struct adjoint_options {
  // Steps between checkpoints; 0 picks one: the whole trajectory when it fits the memory
  // budget, otherwise about sqrt(n_steps) (memory O(sqrt(n_steps)) per cell).
  int checkpoint_every = 0;
  // Memory the stored trajectory may use; 0: 40% of this machine's memory.
  double memory_budget_bytes = 0;
  // false: the loss only (forward pass; grad left empty), e.g. an optimiser's last point.
  bool gradient = true;
  // Also the gradients of the passive properties cm and Ra (the passive group of grad);
  // otherwise that entry is left empty and the backward pass skips their terms.
  bool passive_gradient = false;
};

struct gradient_result {
  std::size_t n_cells = 0, n_sites = 0, n_samples = 0;
  std::vector<double> loss;  // [cell]; NaN for a cell that diverged
  // [cell][mechanism (model.mechanisms order, then the passive group: cm, Ra per
  // compartment, empty unless adjoint_options::passive_gradient)][param][instance]; zero for
  // a diverged cell
  std::vector<std::vector<std::vector<std::vector<double>>>> grad;
  std::vector<int> failed_step;  // [cell], -1 if it did not diverge
  std::vector<double> voltage;   // [cell][site][sample] recorded traces, mV
  int checkpoint_every = 0;      // K used
  int n_segments = 0;
  double trajectory_bytes = 0;  // checkpoints + segment buffers
  double peak_bytes = 0;        // everything the adjoint allocated (problem, trajectory, scratch)
  double forward_seconds = 0, backward_seconds = 0;  // kernel time of each pass
  double setup_seconds = 0;                          // layout, copies, initialisation
};

// The samples of a target trace before its first NaN: a protocol shorter than the run ends
// there (simulate writes NaN after it), and trace losses cover only those samples.
std::size_t samples_before_nan(const double* v, std::size_t n);

// Bytes of stored trajectory per cell for checkpoint interval K (documented for the
// reports; the driver uses it to pick K).
double adjoint_trajectory_bytes_per_cell(const cell_model& model,
                                         const simulation_settings& settings, int K);

// Runs forward and backward for the batch. FP64 only. Protocols of different durations run
// padded to the longest (the loss sees each one's own samples: the traces passed to `loss`
// and returned in voltage are NaN after a protocol's end). Throws config_error on bad settings
// or when even the checkpointed trajectory cannot fit the memory budget.
gradient_result loss_gradient(const cell_model& model, const std::vector<parameter_set>& sets,
                              const std::vector<stimulus>& stimuli,
                              const simulation_settings& settings, const trace_loss_function& loss,
                              const adjoint_options& options = {});

// The mean squared error over recorded sites and samples against `target`
// ([cell][site][sample] like simulation_result::voltage). Throws config_error on a shape
// mismatch.
gradient_result loss_gradient(const cell_model& model, const std::vector<parameter_set>& sets,
                              const std::vector<stimulus>& stimuli,
                              const simulation_settings& settings,
                              const std::vector<double>& target,
                              const adjoint_options& options = {});

}  // namespace cellfit
