#pragma once
// A plan: which rank, device and pipeline chunk simulates which block of the
// (parameter set x stimulus) matrix. A plain value that only describes the distribution;
// make_plan (load_balance.hpp) makes one, the engines consume it and never compute
// placement themselves. Printable (summary()) and recorded in the fit output (/fit/plan).

#include <cstddef>
#include <string>
#include <vector>

namespace cellfit::sched {

// A rectangle of the matrix: parameter sets [first_set, first_set + n_sets) x stimuli
// [first_stimulus, first_stimulus + n_stimuli), simulated as one batch.
struct block {
  int rank = 0;
  int device = -1;  // node-local GPU index; -1: host cores
  int chunk = 0;    // position in the rank's pipeline (chunks run in this order)
  std::size_t first_set = 0, n_sets = 0;
  std::size_t first_stimulus = 0, n_stimuli = 0;
  double cost_s = 0;  // predicted simulation time (cost model)

  std::size_t n_cells() const { return n_sets * n_stimuli; }
};

struct plan {
  std::size_t n_sets = 0, n_stimuli = 0;
  int n_ranks = 1;
  std::vector<block> blocks;  // ordered by rank, then chunk

  // The blocks of one rank, in pipeline order.
  std::vector<block> blocks_of(int rank) const;
  // Predicted time of the slowest rank (s): the makespan the cost model minimises.
  double makespan_s() const;
  // Human-readable, one line per rank.
  std::string summary() const;
};

}  // namespace cellfit::sched
