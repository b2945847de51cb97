#pragma once
// Making plans (plan.hpp) from a cost model.
//
// Cost model: simulating one cell costs compartments x steps compartment-steps, the same for
// every cell of a fit (one model, one time grid), and rank r simulates rate[r]
// compartment-steps per second (measured: the engines report each rank's rate from the
// previous generation or epoch; before any measurement all ranks count as equal). Rank r
// gets a contiguous share of the cells proportional to its rate (largest remainder), which
// equalises the predicted times; its share is cut into pipeline chunks of at least
// min_chunk_cells cells (a chunk smaller than a SIMD tile or a GPU launch wastes lanes).
//
// Which axis is split is the engine's requirement, not a placement decision: the GA scores
// an individual on all its stimuli together (split sets), the gradient engine has one
// parameter set (split stimuli).

#include <cstddef>
#include <vector>

#include "sched/plan.hpp"

namespace cellfit::sched {

enum class split_axis { sets, stimuli };

struct rank_resources {
  int device = -1;       // node-local GPU index, -1: host
  double rate_cs = 0.0;  // compartment-steps per second; <= 0: unknown (taken as equal)
};

struct plan_request {
  std::size_t n_sets = 0, n_stimuli = 0;
  split_axis axis = split_axis::sets;
  double cell_cost_cs = 1.0;  // compartments x steps of one cell
  int max_chunks = 4;         // pipeline chunks per rank (1: no pipelining)
  std::size_t min_chunk_cells = 1;
};

// Deterministic: the same request and resources give the same plan on every rank.
plan make_plan(const plan_request& request, const std::vector<rank_resources>& ranks);

// The device of this rank: node-local rank modulo the node's devices (-1 when it has none).
int device_for_local_rank(int local_rank, int devices_on_node);

}  // namespace cellfit::sched
