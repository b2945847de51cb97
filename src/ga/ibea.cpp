// IBEA fitness and environmental selection.
//
// Pair terms without exponentials. With u the objectives normalised to [0, 1] and
// lambda = 1 / (kappa c), the term that a contributes to b's fitness is
//   exp(-lambda I(a, b)) = exp(-lambda max_k (u_ak - u_bk)) = min_k e_ak f_bk,
//   e_ak = exp(-lambda (u_ak - 1/2)),  f_bk = exp(lambda (u_bk - 1/2)),
// because exp is decreasing. So the n^2 pair terms are a multiply and a min per objective on
// factors computed once (2 n m exps), and the column sums run on 8-lane tiles of b with four
// a's in flight (36 M pairs x 20 objectives in about 25 ms on one Zen 4 core, about the
// multiply and min throughput of the core). The factors lie in [exp(-lambda/2),
// exp(lambda/2)], so lambda <= 500 (kappa >= 0.002) keeps every product and every sum of up
// to 1e6 of them finite and normal. The product is at least as accurate as evaluating
// exp(-lambda I) (a few ulp).
//
// The iterative reduction (Zitzler & Kuenzli): remove the worst, subtract its term from
// everyone else's fitness, repeat. Applying each removal to every remaining individual
// streams all their factors through the cache once per removal; instead removals are
// collected in blocks of 32 and each block is applied to every remaining individual at once
// with the column-sum kernel (tiles of b x the block's a). Inside a block the worst is found
// lazily: fitness only falls as individuals leave, so a value brought up to date some
// removals ago is an upper bound. The top of a max-heap of such bounds is brought up to date
// (its value at the block start minus its terms from the block's removals so far, which are
// in L1) and pushed back, until the top is current: that one is the worst. Rows that are
// identical have identical fitness at every step and are tracked as one group (a population
// with hundreds of identical failed individuals would otherwise refresh each of them after
// every removal). A value that falls below 1/16 of its last exact sum is summed again from
// scratch over the individuals still present, so that subtracting large terms (a removed
// individual that dominated it) never leaves only rounding error behind.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "ga/detail/selection_checks.hpp"
#include "ga/selection.hpp"
#include "kernels/kmath.hpp"

namespace cellfit::ga {

namespace {

// A fixed 8-lane double vector (GCC/Clang vector extension): the compiler lowers it to one
// AVX-512 register, two AVX2 or four SSE2 registers, or scalars, whatever -march allows.
// GCC 12 did not vectorise the plain-loop version of the column sums across b (2-4x slower).
constexpr std::size_t lanes = 8;
using v8d = double __attribute__((vector_size(64)));
using v8l = std::int64_t __attribute__((vector_size(64)));
const v8l lane_id = {0, 1, 2, 3, 4, 5, 6, 7};
constexpr std::size_t none_index = static_cast<std::size_t>(-1);

inline v8d load8(const double* p) {
  v8d v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline v8d splat(double x) { return v8d{x, x, x, x, x, x, x, x}; }
// The second operand when equal; no NaN can reach here.
inline v8d vmin(v8d a, v8d b) { return a < b ? a : b; }
inline double lane_sum(v8d v) {
  double s = 0.0;
  for (std::size_t l = 0; l < lanes; ++l) s += v[l];
  return s;
}

constexpr std::size_t round_up(std::size_t x, std::size_t to) { return (x + to - 1) / to * to; }

// The e and f factors of the population. Objectives are padded to a multiple of 4 with
// copies of objective 0 (which leaves every min unchanged); individuals are padded to a
// multiple of 8 with zero factors (their terms are 0).
struct factors {
  std::size_t n = 0, np = 0, mp = 0;
  std::vector<double> e_rows;  // [np][mp]
  std::vector<v8d> f_tiles;    // [np / 8][mp], lane l = individual 8 tile + l; 64-byte aligned
  void resize(std::size_t n_, std::size_t mp_) {
    n = n_;
    np = round_up(std::max<std::size_t>(n_, 1), lanes);
    mp = mp_;
    e_rows.assign(np * mp, 0.0);
    f_tiles.assign(np / lanes * mp, v8d{});
  }
  const double* e(std::size_t a) const { return &e_rows[a * mp]; }
  double f(std::size_t b, std::size_t k) const { return f_tiles[(b / lanes) * mp + k][b % lanes]; }
  void set_f(std::size_t b, std::size_t k, double v) {
    f_tiles[(b / lanes) * mp + k][b % lanes] = v;
  }
};

// Lane l: sum over the rows a < count (a multiple of 4) of e of min_k e[a][k] f[k][l],
// leaving out row diag + l (diag: a multiple of 8, or none_index). Four a's in flight; the
// four products of an objective are formed before the four mins (GCC schedules that order
// about 10% faster on Zen 4). Partial sums by a mod 4, combined as (s0 + s1) + (s2 + s3).
inline v8d tile_sums(const v8d* f, const double* e, std::size_t count, std::size_t mp,
                     std::size_t diag = none_index) {
  v8d s0{}, s1{}, s2{}, s3{};
  for (std::size_t a = 0; a < count; a += 4, e += 4 * mp) {
    v8d t0 = splat(e[0]) * f[0], t1 = splat(e[mp]) * f[0];
    v8d t2 = splat(e[2 * mp]) * f[0], t3 = splat(e[3 * mp]) * f[0];
    for (std::size_t k = 1; k < mp; ++k) {
      const v8d p0 = splat(e[k]) * f[k], p1 = splat(e[mp + k]) * f[k];
      const v8d p2 = splat(e[2 * mp + k]) * f[k], p3 = splat(e[3 * mp + k]) * f[k];
      t0 = vmin(p0, t0);
      t1 = vmin(p1, t1);
      t2 = vmin(p2, t2);
      t3 = vmin(p3, t3);
    }
    if (diag != none_index && a - diag < lanes) {
      // Row a + r is individual b = diag + (a - diag + r): its own term is not summed.
      const auto own = static_cast<std::int64_t>(a - diag);
      t0 = lane_id == own ? v8d{} : t0;
      t1 = lane_id == own + 1 ? v8d{} : t1;
      t2 = lane_id == own + 2 ? v8d{} : t2;
      t3 = lane_id == own + 3 ? v8d{} : t3;
    }
    s0 += t0;
    s1 += t1;
    s2 += t2;
    s3 += t3;
  }
  return (s0 + s1) + (s2 + s3);
}

// fitness(b) = sum over a != b of the pair term. BluePyOpt sums every a and subtracts b's
// own term (about 1), which leaves only rounding error when the fitness is tiny (an
// individual far from all others); here b's own term is never added. Every member of a
// group of identical rows gets the first member's value, so that they tie exactly (as in
// BluePyOpt, where their columns are the same).
std::vector<double> fitness_of(const factors& x,
                               const std::vector<std::vector<std::uint32_t>>& groups) {
  std::vector<double> fit(x.n);
  for (std::size_t tile = 0; tile < x.np / lanes; ++tile) {
    const v8d s = tile_sums(&x.f_tiles[tile * x.mp], x.e_rows.data(), x.np, x.mp, tile * lanes);
    for (std::size_t l = 0; l < lanes && tile * lanes + l < x.n; ++l) fit[tile * lanes + l] = s[l];
  }
  for (const auto& g : groups)
    for (std::size_t i = 1; i < g.size(); ++i) fit[g[i]] = fit[g[0]];
  return fit;
}

struct normalised {
  bool any_range = false;
  factors all;
};

normalised make_factors(const objective_matrix& obj, double kappa) {
  const std::size_t n = obj.n, m = obj.m;
  normalised z;
  z.all.resize(n, round_up(std::max<std::size_t>(m, 1), 4));
  std::vector<double> lo(m), range(m);
  for (std::size_t k = 0; k < m; ++k) {
    double a = obj.values[k], b = obj.values[k];
    for (std::size_t i = 1; i < n; ++i) {
      a = std::min(a, obj.values[i * m + k]);
      b = std::max(b, obj.values[i * m + k]);
    }
    lo[k] = a;
    range[k] = b - a;
    z.any_range = z.any_range || range[k] > 0.0;
  }
  // c = max |I| = 1 (docs/ga.md), so lambda = 1 / kappa.
  const double lambda = 1.0 / kappa;
  const std::size_t mp = z.all.mp;
  std::vector<double> x(n * mp), fx(n * mp);  // lambda (u - 1/2), row-major
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t k = 0; k < mp; ++k) {
      const std::size_t kk = k < m ? k : 0;
      const double u =
          m == 0 || range[kk] == 0.0 ? 0.0 : (obj.values[i * m + kk] - lo[kk]) / range[kk];
      x[i * mp + k] = lambda * (u - 0.5);
    }
  }
  // |x| <= lambda / 2 <= 250: kmath's branch-free exp (about 1 ulp) vectorises here.
  for (std::size_t j = 0; j < n * mp; ++j) {
    z.all.e_rows[j] = kmath::exp_bounded(-x[j]);
    fx[j] = kmath::exp_bounded(x[j]);
  }
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t k = 0; k < mp; ++k) z.all.set_f(i, k, fx[i * mp + k]);
  return z;
}

void check_kappa(double kappa, const char* where) {
  if (!(kappa >= 0.002) || !std::isfinite(kappa))
    throw error(std::string("cellfit::ga::") + where + ": kappa = " + std::to_string(kappa) +
                " is outside [0.002, inf) (exp(1/kappa) must stay finite)");
}

// Groups of identical rows, each sorted by index, in order of their first member.
std::vector<std::vector<std::uint32_t>> identical_rows(const objective_matrix& obj) {
  const std::size_t n = obj.n, m = obj.m;
  std::vector<std::uint32_t> rows(n);
  std::iota(rows.begin(), rows.end(), std::uint32_t{0});
  const auto cmp = [&](std::uint32_t a, std::uint32_t b) {
    for (std::size_t k = 0; k < m; ++k) {
      const double x = obj.values[a * m + k], y = obj.values[b * m + k];
      if (x != y) return x < y ? -1 : 1;
    }
    return 0;
  };
  std::sort(rows.begin(), rows.end(), [&](std::uint32_t a, std::uint32_t b) {
    const int c = cmp(a, b);
    return c < 0 || (c == 0 && a < b);
  });
  std::vector<std::vector<std::uint32_t>> groups;
  for (std::size_t r = 0; r < n; ++r) {
    if (r == 0 || cmp(rows[r - 1], rows[r]) != 0) groups.emplace_back();
    groups.back().push_back(rows[r]);
  }
  std::sort(groups.begin(), groups.end(),
            [](const auto& a, const auto& b) { return a.front() < b.front(); });
  return groups;
}

// Zitzler & Kuenzli's loop in blocks of removals (see the top of this file). Within a group
// of identical rows the highest index leaves first.
class iterative_reduction {
 public:
  iterative_reduction(const factors& x, const std::vector<double>& fitness,
                      std::vector<std::vector<std::uint32_t>> groups)
      : x_(x), groups_(std::move(groups)), removed_at_(x.n, never) {
    const std::size_t g = groups_.size();
    base_.resize(g);
    count_.resize(g);
    next_.resize(g);
    for (std::size_t i = 0; i < g; ++i) {
      base_[i] = fitness[groups_[i][0]];
      count_[i] = groups_[i].size();
      next_[i] = groups_[i].back();
    }
    exact_ = base_;
    current_ = base_;
    since_.assign(g, 0);
    block_cols_.assign(x.mp * block, 0.0);
    block_rows_.assign(block * x.mp, 0.0);
    fb_.resize(x.mp);
  }

  // Removes individuals until k remain. fitness[i]: for each removed i its value at removal,
  // for each survivor its final value.
  void run(std::size_t k, std::vector<double>& fitness) {
    const std::size_t removals = x_.n - k;
    std::size_t step = 0;
    build_tiles();
    build_heap();
    while (step < removals) {
      std::pop_heap(heap_.begin(), heap_.end(), worse_on_top{});
      const entry top = heap_.back();
      const std::uint32_t g = top.group;
      heap_.pop_back();
      if (since_[g] != step || top.value != current_[g]) {
        // A bound, not the value now: bring it up to date and try again.
        if (since_[g] != step) catch_up(g, step);
        push(g);
        continue;
      }
      const std::uint32_t p = groups_[g][--count_[g]];
      if (count_[g] > 0) next_[g] = groups_[g][count_[g] - 1];
      fitness[p] = current_[g];
      removed_at_[p] = step;
      const std::size_t slot = step - block_start_;
      for (std::size_t q = 0; q < x_.mp; ++q) {
        block_cols_[q * block + slot] = x_.e(p)[q];
        block_rows_[slot * x_.mp + q] = x_.e(p)[q];
      }
      ++step;
      if (slot + 1 == block || step == removals) apply_block(step);
      // The heap's other entries stay upper bounds of the values after the block.
      if (count_[g] > 0) push(g);
    }
    for (std::size_t g = 0; g < groups_.size(); ++g)
      for (std::size_t c = 0; c < count_[g]; ++c) fitness[groups_[g][c]] = base_[g];
  }

  bool removed(std::size_t i) const { return removed_at_[i] != never; }

 private:
  struct entry {
    double value;
    std::uint32_t index;  // the group's member to remove next
    std::uint32_t group;
  };
  // Max-heap order: higher fitness on top, and among equal fitness the higher index. An
  // entry's value is an upper bound of its group's value now (values only fall).
  struct worse_on_top {
    bool operator()(const entry& a, const entry& b) const {
      return a.value < b.value || (a.value == b.value && a.index < b.index);
    }
  };
  static constexpr std::size_t never = static_cast<std::size_t>(-1);
  static constexpr std::size_t block = 32;

  void push(std::uint32_t g) {
    heap_.push_back({current_[g], next_[g], g});
    std::push_heap(heap_.begin(), heap_.end(), worse_on_top{});
  }

  void build_heap() {
    heap_.clear();
    for (std::size_t g = 0; g < groups_.size(); ++g)
      heap_.push_back({current_[g], next_[g], static_cast<std::uint32_t>(g)});
    std::make_heap(heap_.begin(), heap_.end(), worse_on_top{});
  }

  // f tiles of the groups still present (rebuilt when an eighth of the lanes are dead).
  void build_tiles() {
    tile_group_.clear();
    for (std::size_t g = 0; g < groups_.size(); ++g)
      if (count_[g] > 0) tile_group_.push_back(static_cast<std::uint32_t>(g));
    live_lanes_ = tile_group_.size();
    const std::size_t tiles = (tile_group_.size() + lanes - 1) / lanes;
    tile_group_.resize(tiles * lanes, none);
    tiles_.assign(tiles * x_.mp, v8d{});
    for (std::size_t t = 0; t < tile_group_.size(); ++t) {
      if (tile_group_[t] == none) continue;
      const std::size_t b = groups_[tile_group_[t]][0];
      for (std::size_t k = 0; k < x_.mp; ++k)
        tiles_[(t / lanes) * x_.mp + k][t % lanes] = x_.f(b, k);
    }
  }

  // Subtracts the terms of this block's removals from every group still present.
  void apply_block(std::size_t step) {
    const std::size_t used = step - block_start_, mp = x_.mp;
    std::fill(block_rows_.begin() + static_cast<std::ptrdiff_t>(used * mp), block_rows_.end(), 0.0);
    std::size_t live = 0;
    for (std::size_t t = 0; t < tile_group_.size() / lanes; ++t) {
      const v8d s = tile_sums(&tiles_[t * mp], block_rows_.data(), round_up(used, 4), mp);
      for (std::size_t l = 0; l < lanes; ++l) {
        const std::uint32_t g = tile_group_[t * lanes + l];
        if (g == none || count_[g] == 0) continue;
        ++live;
        const double before = base_[g];
        base_[g] -= s[l];
        if (base_[g] < exact_[g] * (1.0 / 16.0))
          base_[g] = exact_[g] = std::min(sum_after(groups_[g][0], step - 1), before);
        current_[g] = base_[g];
        since_[g] = step;
      }
    }
    block_start_ = step;
    std::fill(block_cols_.begin(), block_cols_.end(), 0.0);
    if (live * 8 < live_lanes_ * 7) build_tiles();
  }

  // current = base - the terms of this block's removals so far (the unused slots hold zero
  // factors, so their terms are 0 and the sum only grows as the block fills).
  void catch_up(std::uint32_t g, std::size_t step) {
    const std::size_t mp = x_.mp, b = groups_[g][0];
    for (std::size_t k = 0; k < mp; ++k) fb_[k] = x_.f(b, k);
    const double* r = block_cols_.data();
    v8d t0 = load8(r) * splat(fb_[0]), t1 = load8(r + 8) * splat(fb_[0]);
    v8d t2 = load8(r + 16) * splat(fb_[0]), t3 = load8(r + 24) * splat(fb_[0]);
    for (std::size_t k = 1; k < mp; ++k) {
      const double* rk = r + k * block;
      const v8d p0 = load8(rk) * splat(fb_[k]), p1 = load8(rk + 8) * splat(fb_[k]);
      const v8d p2 = load8(rk + 16) * splat(fb_[k]), p3 = load8(rk + 24) * splat(fb_[k]);
      t0 = vmin(p0, t0);
      t1 = vmin(p1, t1);
      t2 = vmin(p2, t2);
      t3 = vmin(p3, t3);
    }
    const double value = base_[g] - lane_sum((t0 + t1) + (t2 + t3));
    // Never above the previous value: the heap's stale values must stay upper bounds.
    current_[g] =
        value < exact_[g] * (1.0 / 16.0) ? std::min(sum_after(b, step - 1), current_[g]) : value;
    since_[g] = step;
  }

  // The fitness of individual b (present) among the individuals present after removal
  // `step` (b itself left out).
  double sum_after(std::size_t b, std::size_t step) {
    const std::size_t mp = x_.mp;
    if (e_cols_.empty()) {  // rarely needed
      e_cols_.assign(mp * x_.np, 0.0);
      for (std::size_t a = 0; a < x_.n; ++a)
        for (std::size_t k = 0; k < mp; ++k) e_cols_[k * x_.np + a] = x_.e(a)[k];
    }
    v8d acc{};
    for (std::size_t a0 = 0; a0 < x_.np; a0 += lanes) {
      v8d t = load8(&e_cols_[a0]) * splat(x_.f(b, 0));
      for (std::size_t k = 1; k < mp; ++k)
        t = vmin(load8(&e_cols_[k * x_.np + a0]) * splat(x_.f(b, k)), t);
      v8d present{};
      for (std::size_t l = 0; l < lanes; ++l) {
        const std::size_t a = a0 + l;
        present[l] = a < x_.n && a != b && (removed_at_[a] == never || removed_at_[a] > step);
      }
      acc += t * present;
    }
    return lane_sum(acc);
  }

  static constexpr std::uint32_t none = static_cast<std::uint32_t>(-1);

  const factors& x_;
  std::vector<std::vector<std::uint32_t>> groups_;
  // Per group: value after the last applied block, last exact sum, value now (as of since_).
  std::vector<double> base_, exact_, current_;
  std::vector<std::size_t> count_, since_;
  std::vector<std::uint32_t> next_;      // the member to remove next
  std::vector<std::size_t> removed_at_;  // per individual
  std::vector<double> e_cols_;           // [mp][np], built by the first sum_after
  std::size_t block_start_ = 0;
  std::vector<double> block_cols_;  // [mp][32]: e factors of this block's removals
  std::vector<double> block_rows_;  // [32][mp]: the same, row-major, unused rows zero
  std::vector<v8d> tiles_;          // f tiles of the groups in tile_group_
  std::vector<std::uint32_t> tile_group_;
  std::size_t live_lanes_ = 0;
  std::vector<double> fb_;
  std::vector<entry> heap_;
};

}  // namespace

std::vector<double> ibea_fitness(const objective_matrix& obj, double kappa) {
  detail::check_selection_input(obj, 0, "ibea_fitness");
  check_kappa(kappa, "ibea_fitness");
  const normalised z = make_factors(obj, kappa);
  if (!z.any_range) return std::vector<double>(obj.n, 0.0);
  return fitness_of(z.all, identical_rows(obj));
}

ibea_result select_ibea(const objective_matrix& obj, std::size_t k, double kappa,
                        ibea_reduction reduction) {
  detail::check_selection_input(obj, k, "select_ibea");
  check_kappa(kappa, "select_ibea");
  const std::size_t n = obj.n;
  ibea_result r;
  const normalised z = make_factors(obj, kappa);
  std::vector<std::vector<std::uint32_t>> groups = identical_rows(obj);
  r.fitness = z.any_range ? fitness_of(z.all, groups) : std::vector<double>(n, 0.0);

  if (reduction == ibea_reduction::truncate || !z.any_range) {
    // BluePyOpt: a stable sort by fitness, the first k. Also the iterative result when every
    // fitness is 0 (nothing changes as individuals leave).
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return r.fitness[a] < r.fitness[b]; });
    r.selected.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k));
    std::sort(r.selected.begin(), r.selected.end());
    return r;
  }

  iterative_reduction loop(z.all, r.fitness, std::move(groups));
  loop.run(k, r.fitness);
  for (std::size_t i = 0; i < n; ++i)
    if (!loop.removed(i)) r.selected.push_back(i);
  return r;
}

}  // namespace cellfit::ga
