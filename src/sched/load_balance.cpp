#include "sched/load_balance.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "common/error.hpp"

namespace cellfit::sched {

std::vector<block> plan::blocks_of(int rank) const {
  std::vector<block> out;
  for (const block& b : blocks) {
    if (b.rank == rank) out.push_back(b);
  }
  return out;
}

double plan::makespan_s() const {
  std::vector<double> t(static_cast<std::size_t>(n_ranks), 0.0);
  for (const block& b : blocks) t[static_cast<std::size_t>(b.rank)] += b.cost_s;
  return t.empty() ? 0.0 : *std::max_element(t.begin(), t.end());
}

std::string plan::summary() const {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "plan: %zu sets x %zu stimuli on %d rank%s, %zu blocks\n",
                n_sets, n_stimuli, n_ranks, n_ranks == 1 ? "" : "s", blocks.size());
  out += line;
  for (int r = 0; r < n_ranks; ++r) {
    const auto mine = blocks_of(r);
    std::size_t cells = 0;
    double cost = 0;
    for (const block& b : mine) {
      cells += b.n_cells();
      cost += b.cost_s;
    }
    if (mine.empty()) {
      std::snprintf(line, sizeof line, "  rank %d: idle\n", r);
    } else {
      const block& a = mine.front();
      const block& z = mine.back();
      std::snprintf(line, sizeof line,
                    "  rank %d (%s%s): sets %zu-%zu x stimuli %zu-%zu, %zu cells in %zu "
                    "chunk%s, predicted %.3g s\n",
                    r, a.device < 0 ? "host" : "gpu ",
                    a.device < 0 ? "" : std::to_string(a.device).c_str(), a.first_set,
                    z.first_set + z.n_sets - 1, a.first_stimulus,
                    z.first_stimulus + z.n_stimuli - 1, cells, mine.size(),
                    mine.size() == 1 ? "" : "s", cost);
    }
    out += line;
  }
  return out;
}

int device_for_local_rank(int local_rank, int devices_on_node) {
  return devices_on_node > 0 ? local_rank % devices_on_node : -1;
}

plan make_plan(const plan_request& q, const std::vector<rank_resources>& ranks) {
  if (ranks.empty()) throw internal_error("cellfit::sched: a plan needs at least one rank");
  plan p;
  p.n_sets = q.n_sets;
  p.n_stimuli = q.n_stimuli;
  p.n_ranks = static_cast<int>(ranks.size());
  const bool by_sets = q.axis == split_axis::sets;
  const std::size_t n_units = by_sets ? q.n_sets : q.n_stimuli;  // split along this axis
  const std::size_t unit_cells = by_sets ? q.n_stimuli : q.n_sets;
  if (n_units == 0 || unit_cells == 0) return p;

  // Rates: unknown ones (and all, if any is unknown) count as equal.
  std::vector<double> rate(ranks.size());
  bool known = true;
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    known = known && std::isfinite(ranks[r].rate_cs) && ranks[r].rate_cs > 0;
    rate[r] = ranks[r].rate_cs;
  }
  if (!known) std::fill(rate.begin(), rate.end(), 1.0);
  const double total_rate = std::accumulate(rate.begin(), rate.end(), 0.0);

  // Largest remainder: floor of each share, then the leftover units to the largest
  // fractional parts (ties to the lower rank), so the shares sum to n_units exactly.
  std::vector<std::size_t> share(ranks.size());
  std::vector<std::pair<double, std::size_t>> frac(ranks.size());
  std::size_t given = 0;
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    const double exact = static_cast<double>(n_units) * rate[r] / total_rate;
    share[r] = static_cast<std::size_t>(std::floor(exact));
    given += share[r];
    frac[r] = {exact - std::floor(exact), r};
  }
  std::stable_sort(frac.begin(), frac.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t k = 0; given < n_units; ++k, ++given) share[frac[k % frac.size()].second]++;

  std::size_t first = 0;
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    const std::size_t units = share[r];
    if (units == 0) continue;
    // Chunks of at least min_chunk_cells cells, at most max_chunks, at least one unit each.
    const std::size_t min_units =
        std::max<std::size_t>(1, (q.min_chunk_cells + unit_cells - 1) / unit_cells);
    std::size_t chunks = std::max<std::size_t>(1, units / min_units);
    chunks = std::min<std::size_t>(chunks, static_cast<std::size_t>(std::max(1, q.max_chunks)));
    for (std::size_t c = 0; c < chunks; ++c) {
      const std::size_t b = units * c / chunks, e = units * (c + 1) / chunks;
      block blk;
      blk.rank = static_cast<int>(r);
      blk.device = ranks[r].device;
      blk.chunk = static_cast<int>(c);
      if (by_sets) {
        blk.first_set = first + b;
        blk.n_sets = e - b;
        blk.first_stimulus = 0;
        blk.n_stimuli = q.n_stimuli;
      } else {
        blk.first_set = 0;
        blk.n_sets = q.n_sets;
        blk.first_stimulus = first + b;
        blk.n_stimuli = e - b;
      }
      // Before any measurement, predict with nominal rates (one host core of a current
      // x86 machine, one data-centre GPU), which only affect the printed prediction.
      const double predict_rate = known ? rate[r] : (ranks[r].device < 0 ? 5e7 : 2e9);
      blk.cost_s = static_cast<double>(blk.n_cells()) * q.cell_cost_cs / predict_rate;
      p.blocks.push_back(blk);
    }
    first += units;
  }
  return p;
}

}  // namespace cellfit::sched
