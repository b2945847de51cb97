#pragma once
// Fits of different engines on one scale, for `cellfit compare` and the hybrid's history:
// per iteration (GA generation, gradient evaluation) the single-cell simulations and wall
// time spent so far, and the best point found so far with its trace loss (the gradient
// engine's loss, gradient_settings.loss) and its GT error. A GA's points are ranked by its
// own objectives (features or MSE); their trace losses are computed afterwards by
// simulating the best point of each generation (trace_losses, hybrid_fit.hpp), which is
// counted apart from the fit's simulations (`extra_simulations`).

#include <cstddef>
#include <vector>

#include "ga/genetic_fit.hpp"
#include "gradient/gradient_fit.hpp"
#include "hybrid/hybrid_fit.hpp"

namespace cellfit {

struct progress_curve {
  std::vector<double> simulations, wall_s, loss, gt_error;  // [iteration]; gt_error -1: unknown
  std::vector<int> phase;                                   // 0: GA, k >= 1: polish k
  std::vector<std::vector<double>> best;                    // physical [iteration][P]
  std::size_t extra_simulations = 0;  // simulated to put GA points on the trace-loss scale

  void append(const progress_curve& c, double simulations_offset, double wall_offset);
};

// The best evaluated individual so far after each generation, physical [generation][P]
// (from the evaluation log, so whatever the selection kept). Rank 0's result only.
std::vector<std::vector<double>> ga_best_so_far(const ga::ga_result& r,
                                                const parameter_space& space);

// A GA run (rank 0): simulates each generation's best-so-far once (on this rank).
progress_curve ga_curve(const ga::ga_result& r, const fit_problem& fp,
                        const gradient_settings& grad, int phase = 0);

// A gradient fit: its own losses, best so far.
progress_curve gradient_curve(const fit_result& r, const fit_problem& fp, int phase = 0);

// A hybrid run (rank 0): the GA, then each polish after it.
progress_curve hybrid_curve(const hybrid_result& r, const fit_problem& fp,
                            const gradient_settings& grad);

}  // namespace cellfit
