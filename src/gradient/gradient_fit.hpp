#pragma once
// The gradient engine's fit loop: parameters in optimiser coordinates (parameter_space
// transforms), the batch loss and its exact gradient from the discrete adjoint
// (sim/gradient.hpp), and Adam or L-BFGS-B (bounds respected) on top. Host driver; blocks.
//
// One iteration ("epoch") is one forward + adjoint pass over every stimulus. Adam records
// iterations 0..epochs (the loss before each update and after the last); L-BFGS-B records
// every function evaluation (its line search may evaluate several times per iteration).
//
// Distributed (problem.comm with several ranks): the stimuli are split across ranks by the
// plan (sched/load_balance.hpp); each rank runs forward + adjoint for its stimuli and the
// per-stimulus losses and gradients are combined with one MPI_Allreduce into a
// [stimulus][...] table in which each entry has exactly one contributing rank, so the sum is
// exact; every rank then adds the rows in stimulus order. Loss, gradient and so every
// optimiser step are bit-identical on every rank and for any number of ranks.
//
// Checkpoint/restart: the evaluation log (every point evaluated with its loss and gradient)
// replays the deterministic optimiser (Adam or L-BFGS-B) exactly; a resumed fit replays it,
// checking every point, and goes on, on any number of ranks.

#include <functional>
#include <string>
#include <vector>

#include "comm/context.hpp"
#include "gradient/trace_loss.hpp"
#include "model/cell_model.hpp"
#include "model/parameter_space.hpp"
#include "sched/plan.hpp"
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
  // fit.gradient.spike_weight was written in the config (even as 0): the user chose the
  // loss, so a spiking target is not warned about (app::warn_spiking_target).
  bool spike_weight_given = false;
  // Early stopping: stop when the relative loss decrease over the last `patience`
  // iterations is below early_stop (0: never).
  double early_stop = 0;
  int patience = 10;
  adjoint_options adjoint;
  // Budget (0: none): no evaluation starts that would take the single-cell passes past
  // max_simulations, nor after max_wall_s seconds (agreed over the ranks); the fit then
  // ends with stop_reason "budget".
  double max_simulations = 0;
  double max_wall_s = 0;
};

struct fit_problem {
  const cell_model* model = nullptr;
  const parameter_space* space = nullptr;
  std::vector<stimulus> stimuli;
  simulation_settings settings;
  std::vector<double> target;        // [stimulus][site][sample]
  std::vector<double> ground_truth;  // physical [P]; empty when unknown
  comm::context_ptr comm;            // null: one process
  int device = -1;                   // this rank's node-local GPU (-1: host)
  // The starting point, physical [P] (the same on every rank); empty: the parameters'
  // initial values (parameter_space::initial_values).
  std::vector<double> initial;
};

// Every evaluation of a fit, enough to replay it (see the header comment).
struct gradient_log {
  std::size_t n_params = 0;
  std::vector<double> x;            // [evaluation][P], optimiser coordinates
  std::vector<double> grad;         // [evaluation][P], d loss / dx; NaN without a gradient
  std::vector<double> loss;         // [evaluation]
  std::vector<int> diverged;        // [evaluation]
  std::vector<int> with_gradient;   // [evaluation]
  std::vector<double> wall_s;       // [evaluation]
  std::vector<double> simulations;  // [evaluation]: single-cell passes so far

  std::size_t size() const { return loss.size(); }
  // As one vector and back (to broadcast a resumed log to every rank).
  std::vector<double> pack() const;
  static gradient_log unpack(const std::vector<double>& v);
};

struct gradient_control {
  const gradient_log* resume = nullptr;  // replay this first (every rank)
  int checkpoint_every = 0;              // evaluations between checkpoints (0: only on stop)
  std::function<void(const gradient_log&)> checkpoint;  // rank 0; throws on failure
  std::function<bool()> stop_requested;                 // polled after each evaluation
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
  // Traces at the best parameters [stimulus][site][sample] (rank 0).
  std::vector<double> best_voltage;
  std::size_t simulations = 0;  // single-cell forward and adjoint passes
  std::string stop_reason;      // "epochs", "early_stop", "converged", "diverged", "budget", ...
  int checkpoint_every = 0, n_segments = 0;
  double peak_bytes = 0;
  double wall_seconds = 0;
  int replayed = 0;  // evaluations taken from control.resume
  gradient_log log;
  sched::plan plan;  // the last evaluation's
};

// Reported after every iteration (for progress lines).
struct epoch_report {
  int iteration = 0, planned = 0;
  double loss = 0, normalized_loss = 0, gt_error = -1;
  double epoch_seconds = 0, elapsed_seconds = 0;
  double communicate_s = 0;  // in the reduction
  int diverged = 0;
  bool replayed = false;  // taken from a resumed checkpoint
};
using epoch_callback = std::function<void(const epoch_report&)>;

// Mean |a - b| per fit parameter group (paper 000 eq. 17) and over all scalars.
std::vector<double> gt_error_by_group(const parameter_space& space, const std::vector<double>& a,
                                      const std::vector<double>& b);
double gt_error(const std::vector<double>& a, const std::vector<double>& b);

// One evaluation of the fit's loss as an iteration of run_gradient_fit makes it (one forward
// pass, and with_gradient the adjoint, over every stimulus of the problem, on the ranks of
// problem.comm; a collective), at physical parameter values [P] (the space's order). Blocks.
struct loss_evaluation {
  double loss = 0;               // settings.loss over all stimuli; +infinity if a cell diverged
  std::vector<double> gradient;  // dL/d(physical) [P]; empty without gradient
  int diverged = 0;              // cells that diverged
};
loss_evaluation evaluate_loss(const fit_problem& problem, const gradient_settings& settings,
                              const std::vector<double>& physical, bool with_gradient = true);

// Every rank of problem.comm calls it (a collective); every rank gets the same result
// (best_voltage on rank 0 only). on_epoch is called on every rank (print on rank 0).
fit_result run_gradient_fit(const fit_problem& problem, const gradient_settings& settings,
                            const epoch_callback& on_epoch = {},
                            const gradient_control& control = {});

}  // namespace cellfit
