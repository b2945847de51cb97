#pragma once
// The hybrid engine: the genetic algorithm for global search, then a gradient polish of its
// best individuals (DESIGN section 3). Both phases run on the same kernels and the same
// ranks:
//   1. run_genetic_fit over the GA problem (features or trace MSE objectives);
//   2. the `polish` best distinct individuals of the hall of fame (best first) are
//      broadcast from rank 0, and run_gradient_fit starts from each in turn (Adam or
//      L-BFGS-B on the trace loss; stimuli split across the ranks as in a gradient fit);
//   3. the result is the polished point with the least trace loss.
// A budget (gradient_settings.max_simulations / max_wall_s, the whole run's) is shared:
// ga_fraction of it goes to the GA, the rest in equal parts to the polishes (a polish that
// converges early leaves its rest to the next).
//
// Every rank of the problems' communicator calls it (a collective); the GA part of the
// result is complete on rank 0 only, the polish part on every rank.

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "ga/genetic_fit.hpp"
#include "gradient/gradient_fit.hpp"

namespace cellfit {

struct hybrid_settings {
  int polish = 3;            // hall-of-fame individuals polished (at most the hall of fame)
  double ga_fraction = 0.5;  // share of a budget given to the GA, in (0, 1)
};

struct hybrid_result {
  ga::ga_result ga;                         // the global search (rank 0; elsewhere the plan)
  std::vector<std::vector<double>> starts;  // physical [K][P]: the polished individuals
  std::vector<fit_result> polished;         // [K], in the order of `starts`
  std::size_t best = 0;                     // index into polished of the least loss
  std::vector<double> best_params;          // physical [P]
  double best_loss = 0;                     // trace loss (gradient_settings.loss)
  std::size_t simulations = 0;              // GA + polishes (single-cell passes)
  double wall_seconds = 0;
  std::string stop_reason;  // the GA's, then "polished" (or the last polish's "budget")
};

// Which phase is running, for progress output: phase 0 is the GA, k >= 1 polish k of K.
struct hybrid_callbacks {
  ga::generation_callback on_generation;
  epoch_callback on_epoch;
  std::function<void(int phase, int of, const std::vector<double>& start)> on_phase;
};

// ga_problem and fit_problem describe the same model, stimuli and communicator; the fit
// problem carries the target traces (a hybrid fit needs traces: config_error otherwise).
hybrid_result run_hybrid_fit(const ga::ga_problem& gp, const ga::ga_settings& gs,
                             const fit_problem& fp, const gradient_settings& grad,
                             const hybrid_settings& hs, const hybrid_callbacks& cb = {});

// The trace loss (gradient_settings.loss, as the gradient engine reports it) of each
// physical parameter set, simulated on the calling rank alone; NaN for a set whose cells
// all diverge. Used to put GA generations on the gradient engine's scale.
std::vector<double> trace_losses(const fit_problem& fp, const gradient_settings& grad,
                                 const std::vector<std::vector<double>>& params);

}  // namespace cellfit
