#pragma once
// The gradient engine's fit loop: parameters in optimiser coordinates (parameter_space
// transforms), the batch loss and its exact gradient from the discrete adjoint
// (sim/gradient.hpp), and Adam or L-BFGS-B (bounds respected) on top. Host driver; blocks.
//
// One iteration ("epoch") is one forward + adjoint pass over every stimulus. Adam records
// iterations 0..epochs (the loss before each update and after the last); L-BFGS-B records
// every function evaluation (its line search may evaluate several times per iteration).

#include <functional>
#include <string>
#include <vector>

#include "gradient/trace_loss.hpp"
#include "model/cell_model.hpp"
#include "model/parameter_space.hpp"
#include "sim/batch_simulator.hpp"
#include "sim/gradient.hpp"
#include "stimulus/stimulus.hpp"

namespace cellfit {

enum class optimizer_kind { adam, lbfgsb };

struct gradient_settings {
  optimizer_kind optimizer = optimizer_kind::adam;
  int epochs = 200;
  double lr = 0.5;  // Adam step in optimiser coordinates (paper 000: 0.5 on conductances)
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;
  int lbfgs_memory = 10;
  loss_settings loss;
  // Early stopping: stop when the relative loss decrease over the last `patience`
  // iterations is below early_stop (0: never).
  double early_stop = 0;
  int patience = 10;
  adjoint_options adjoint;
};

struct fit_problem {
  const cell_model* model = nullptr;
  const parameter_space* space = nullptr;
  std::vector<stimulus> stimuli;
  simulation_settings settings;
  std::vector<double> target;        // [stimulus][site][sample]
  std::vector<double> ground_truth;  // physical [P]; empty when unknown
};

struct fit_history {
  std::vector<double> loss, normalized_loss, wall_s, gt_error;
  std::vector<std::vector<double>> gt_error_by_group;  // [iteration][fit parameter]
  std::vector<int> diverged;                           // cells that diverged per iteration
};

struct fit_result {
  fit_history history;
  std::vector<double> initial, best;  // physical [P]
  double best_loss = 0;
  double initial_gt_error = 0;
  std::vector<double> best_voltage;  // traces at the best parameters [stimulus][site][sample]
  std::size_t simulations = 0;       // single-cell forward and adjoint passes
  std::string stop_reason;           // "epochs", "early_stop", "converged", "diverged", ...
  int checkpoint_every = 0, n_segments = 0;
  double peak_bytes = 0;
  double wall_seconds = 0;
};

// Reported after every iteration (for progress lines).
struct epoch_report {
  int iteration = 0, planned = 0;
  double loss = 0, normalized_loss = 0, gt_error = -1;
  double epoch_seconds = 0, elapsed_seconds = 0;
  int diverged = 0;
};
using epoch_callback = std::function<void(const epoch_report&)>;

// Mean |a - b| per fit parameter group (paper 000 eq. 17) and over all scalars.
std::vector<double> gt_error_by_group(const parameter_space& space, const std::vector<double>& a,
                                      const std::vector<double>& b);
double gt_error(const std::vector<double>& a, const std::vector<double>& b);

fit_result run_gradient_fit(const fit_problem& problem, const gradient_settings& settings,
                            const epoch_callback& on_epoch = {});

}  // namespace cellfit
