// NSGA-II and IBEA environmental selection against plain reference implementations written
// from the definitions (Deb's pairwise non-dominated sort, DEAP's crowding distance,
// BluePyOpt's IBEA fitness, Zitzler & Kuenzli's removal loop summed from scratch in long
// double). The fast implementations must give the same fronts, bit-identical crowding
// distances, the same selections, and IBEA fitness to 1e-12 relative.
// tests/validation/test_selection_deap.py compares with DEAP and BluePyOpt themselves.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "ga/selection.hpp"

namespace {

using cellfit::ga::ibea_reduction;
using cellfit::ga::objective_matrix;

// Uniform values, or small integers (levels > 0: many ties and duplicate rows).
objective_matrix random_matrix(std::size_t n, std::size_t m, std::uint64_t seed, int levels = 0) {
  objective_matrix o{n, m, std::vector<double>(n * m)};
  for (std::size_t i = 0; i < n * m; ++i) {
    const double u = cellfit::uniform01(cellfit::counter_hash(seed, 7, i));
    o.values[i] = levels > 0 ? std::floor(u * levels) : u;
  }
  return o;
}

// Feature z-scores with failed features (250), failed individuals and copies, like a GA
// population (the same recipe as bench/selection_cost).
objective_matrix realistic_matrix(std::size_t n, std::size_t m, std::uint64_t seed) {
  objective_matrix o{n, m, std::vector<double>(n * m)};
  for (std::size_t i = 0; i < n; ++i) {
    double* row = &o.values[i * m];
    const auto u = [&](std::uint64_t what) {
      return cellfit::uniform01(cellfit::counter_hash(seed, what, i));
    };
    if (i > 0 && u(1) < 0.1) {
      const std::size_t src = cellfit::uniform_index(cellfit::counter_hash(seed, 2, i), 0, i);
      std::copy(&o.values[src * m], &o.values[src * m] + m, row);
    } else if (u(3) < 0.15) {
      std::fill(row, row + m, 250.0);
    } else {
      for (std::size_t k = 0; k < m; ++k)
        row[k] = u(10 + k) < 0.1
                     ? 250.0
                     : std::abs(cellfit::normal01(cellfit::counter_hash(seed, 100 + k, i))) *
                           (0.5 + 5 * u(4));
    }
  }
  return o;
}

// ---- references ----------------------------------------------------------------------

bool dominates(const objective_matrix& o, std::size_t a, std::size_t b) {
  bool strictly = false;
  for (std::size_t k = 0; k < o.m; ++k) {
    if (o(a, k) > o(b, k)) return false;
    if (o(a, k) < o(b, k)) strictly = true;
  }
  return strictly;
}

// Deb et al. 2002, fast non-dominated sort, every front.
std::vector<int> reference_fronts(const objective_matrix& o) {
  const std::size_t n = o.n;
  std::vector<int> count(n, 0), front(n, -1);
  std::vector<std::vector<std::size_t>> dominated(n);
  for (std::size_t a = 0; a < n; ++a)
    for (std::size_t b = 0; b < n; ++b)
      if (dominates(o, a, b)) {
        dominated[a].push_back(b);
        ++count[b];
      }
  std::vector<std::size_t> current;
  for (std::size_t i = 0; i < n; ++i)
    if (count[i] == 0) current.push_back(i);
  for (int f = 0; !current.empty(); ++f) {
    std::vector<std::size_t> next;
    for (std::size_t p : current) {
      front[p] = f;
      for (std::size_t q : dominated[p])
        if (--count[q] == 0) next.push_back(q);
    }
    current = next;
  }
  return front;
}

// DEAP's assignCrowdingDist per front, literally: the front's list stable-sorted by objective
// 0, then that list by objective 1, and so on. The list starts in order of first occurrence
// of each row, identical rows together in index order (DEAP's order for its first front).
std::vector<double> reference_crowding(const objective_matrix& o, const std::vector<int>& front) {
  const std::size_t n = o.n;
  std::vector<double> d(n, 0.0);
  std::vector<std::size_t> first(n);
  for (std::size_t i = 0; i < n; ++i) {
    first[i] = i;
    for (std::size_t j = 0; j < i; ++j)
      if (std::equal(&o.values[j * o.m], &o.values[j * o.m] + o.m, &o.values[i * o.m])) {
        first[i] = j;
        break;
      }
  }
  const int fronts = n == 0 ? 0 : *std::max_element(front.begin(), front.end()) + 1;
  for (int f = 0; f < fronts; ++f) {
    std::vector<std::size_t> members;
    for (std::size_t i = 0; i < n; ++i)
      if (front[i] == f) members.push_back(i);
    std::stable_sort(members.begin(), members.end(),
                     [&](std::size_t a, std::size_t b) { return first[a] < first[b]; });
    for (std::size_t k = 0; k < o.m; ++k) {
      std::stable_sort(members.begin(), members.end(),
                       [&](std::size_t a, std::size_t b) { return o(a, k) < o(b, k); });
      const double inf = std::numeric_limits<double>::infinity();
      d[members.front()] = inf;
      d[members.back()] = inf;
      const double lo = o(members.front(), k), hi = o(members.back(), k);
      if (lo == hi) continue;
      const double norm = static_cast<double>(o.m) * (hi - lo);
      for (std::size_t q = 1; q + 1 < members.size(); ++q)
        d[members[q]] += (o(members[q + 1], k) - o(members[q - 1], k)) / norm;
    }
  }
  return d;
}

// BluePyOpt's _calc_fitness_components: normalised epsilon indicators, c = max |I| taken
// literally, exp(-I / (kappa c)); the terms as a matrix T[a][b] in long double.
std::vector<long double> reference_terms(const objective_matrix& o, double kappa, double* c_out) {
  const std::size_t n = o.n, m = o.m;
  std::vector<double> range(m);
  for (std::size_t k = 0; k < m; ++k) {
    double lo = o(0, k), hi = o(0, k);
    for (std::size_t i = 0; i < n; ++i) {
      lo = std::min(lo, o(i, k));
      hi = std::max(hi, o(i, k));
    }
    range[k] = hi - lo == 0 ? 1.0 : hi - lo;
  }
  std::vector<long double> indicator(n * n);
  double c = 0;
  for (std::size_t a = 0; a < n; ++a)
    for (std::size_t b = 0; b < n; ++b) {
      long double i = -1e300L;
      for (std::size_t k = 0; k < m; ++k)
        i = std::max(i, (static_cast<long double>(o(a, k)) - o(b, k)) / range[k]);
      indicator[a * n + b] = i;
      c = std::max(c, static_cast<double>(std::abs(i)));
    }
  *c_out = c;
  std::vector<long double> t(n * n);
  for (std::size_t i = 0; i < n * n; ++i)
    t[i] = c == 0 ? 0.0L : std::exp(-indicator[i] / (static_cast<long double>(kappa) * c));
  return t;
}

// Zitzler & Kuenzli's reduction, every fitness summed from scratch in long double.
struct reference_ibea {
  std::vector<std::size_t> selected;
  std::vector<long double> fitness;
};
reference_ibea reference_iterative(const objective_matrix& o, std::size_t k, double kappa) {
  double c = 0;
  const std::vector<long double> t = reference_terms(o, kappa, &c);
  const std::size_t n = o.n;
  std::vector<char> alive(n, 1);
  reference_ibea r;
  r.fitness.assign(n, 0.0L);
  const auto same_row = [&](std::size_t a, std::size_t b) {
    return std::equal(&o.values[a * o.m], &o.values[a * o.m] + o.m, &o.values[b * o.m]);
  };
  // Identical rows have the same fitness by definition; summing each in its own order
  // would make their tie depend on long double rounding.
  const auto refresh = [&] {
    for (std::size_t b = 0; b < n; ++b) {
      if (!alive[b]) continue;
      std::size_t first = 0;
      while (!(alive[first] && same_row(first, b))) ++first;
      if (first < b) {
        r.fitness[b] = r.fitness[first];
        continue;
      }
      long double s = 0;
      for (std::size_t a = 0; a < n; ++a)
        if (alive[a] && a != b) s += t[a * n + b];
      r.fitness[b] = s;
    }
  };
  refresh();
  for (std::size_t left = n; left > k; --left) {
    std::size_t worst = n;
    for (std::size_t i = 0; i < n; ++i)
      if (alive[i] && (worst == n || r.fitness[i] >= r.fitness[worst])) worst = i;
    alive[worst] = 0;
    refresh();
  }
  for (std::size_t i = 0; i < n; ++i)
    if (alive[i]) r.selected.push_back(i);
  return r;
}

void expect_fitness_near(double got, long double want, double rel) {
  EXPECT_NEAR(got, static_cast<double>(want), rel * std::abs(static_cast<double>(want)) + 1e-300)
      << "relative error "
      << std::abs(got - static_cast<double>(want)) / std::abs(static_cast<double>(want));
}

// ---- NSGA-II ---------------------------------------------------------------------------

TEST(selection_nsga2, fronts_match_deb_sort) {
  struct c {
    std::size_t n, m;
    int levels;
  };
  for (const c& t :
       {c{1, 3, 0}, c{2, 2, 0}, c{50, 1, 0}, c{300, 2, 0}, c{300, 3, 0}, c{400, 5, 0},
        c{300, 20, 0}, c{300, 2, 10}, c{300, 4, 3}, c{200, 20, 2}, c{1500, 3, 0}, c{1300, 4, 6}}) {
    const auto o = random_matrix(t.n, t.m, 11 + t.n + t.m, t.levels);
    EXPECT_EQ(cellfit::ga::nondominated_fronts(o), reference_fronts(o))
        << "n " << t.n << " m " << t.m << " levels " << t.levels;
  }
}

TEST(selection_nsga2, realistic_matrix_fronts_and_crowding) {
  for (std::size_t n : {100, 700, 2100}) {
    const auto o = realistic_matrix(n, 20, n);
    const auto r = cellfit::ga::select_nsga2(o, n / 2);
    const auto fronts = reference_fronts(o);
    EXPECT_EQ(r.front, fronts);
    const auto crowd = reference_crowding(o, fronts);
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(r.crowding[i], crowd[i]) << i;  // bitwise
  }
}

TEST(selection_nsga2, crowding_is_deaps_formula_bit_for_bit) {
  for (std::size_t m : {1, 2, 3, 7}) {
    const auto o = random_matrix(500, m, 3 * m, m == 7 ? 4 : 0);
    const auto r = cellfit::ga::select_nsga2(o, 250);
    const auto crowd = reference_crowding(o, r.front);
    for (std::size_t i = 0; i < o.n; ++i) EXPECT_EQ(r.crowding[i], crowd[i]) << "m " << m;
  }
}

TEST(selection_nsga2, selects_whole_fronts_then_crowding_then_lower_index) {
  for (std::size_t m : {2, 3, 20}) {
    for (int levels : {0, 5}) {
      const auto o = random_matrix(400, m, 100 + m, levels);
      for (std::size_t k : {0, 1, 37, 200, 399, 400}) {
        const auto r = cellfit::ga::select_nsga2(o, k);
        const auto fronts = reference_fronts(o);
        const auto crowd = reference_crowding(o, fronts);
        std::vector<std::size_t> want;
        for (int f = 0; want.size() < k; ++f) {
          std::vector<std::size_t> members;
          for (std::size_t i = 0; i < o.n; ++i)
            if (fronts[i] == f) members.push_back(i);
          if (want.size() + members.size() > k)
            std::sort(members.begin(), members.end(), [&](std::size_t a, std::size_t b) {
              return crowd[a] > crowd[b] || (crowd[a] == crowd[b] && a < b);
            });
          for (std::size_t i = 0; i < members.size() && want.size() < k; ++i)
            want.push_back(members[i]);
        }
        EXPECT_EQ(r.selected, want) << "m " << m << " levels " << levels << " k " << k;
      }
    }
  }
}

TEST(selection_nsga2, small_example_by_hand) {
  // Front 0: (1,4) (2,2) (4,1); front 1: (3,3) (2,5) [dominated by (1,4)... and (2,2)];
  // front 2: (4,4); (2,2) appears twice (identical rows share a front).
  const objective_matrix o{7, 2, {1, 4, 2, 2, 4, 1, 3, 3, 2, 5, 4, 4, 2, 2}};
  const auto r = cellfit::ga::select_nsga2(o, 5);
  EXPECT_EQ(r.front, (std::vector<int>{0, 0, 0, 1, 1, 2, 0}));
  const double inf = std::numeric_limits<double>::infinity();
  // Front 0 by objective 0: (1,4)[0] (2,2)[1] (2,2)[6] (4,1)[2]; by objective 1:
  // (4,1)[2] (2,2)[1] (2,2)[6] (1,4)[0]. Range 3 in both, norm 2 * 3 = 6.
  EXPECT_EQ(r.crowding[0], inf);
  EXPECT_EQ(r.crowding[2], inf);
  EXPECT_DOUBLE_EQ(r.crowding[1], (2.0 - 1.0) / 6 + (2.0 - 1.0) / 6);
  EXPECT_DOUBLE_EQ(r.crowding[6], (4.0 - 2.0) / 6 + (4.0 - 2.0) / 6);
  EXPECT_EQ(r.crowding[3], inf);
  EXPECT_EQ(r.crowding[4], inf);
  EXPECT_EQ(r.crowding[5], inf);
  // Front 0 (4 individuals, index order), then one of front 1: both inf, lower index.
  EXPECT_EQ(r.selected, (std::vector<std::size_t>{0, 1, 2, 6, 3}));
}

TEST(selection_nsga2, degenerate_inputs) {
  const auto empty = cellfit::ga::select_nsga2(objective_matrix{}, 0);
  EXPECT_TRUE(empty.selected.empty());
  EXPECT_TRUE(empty.front.empty());
  const objective_matrix same{5, 3, std::vector<double>(15, 250.0)};
  const auto r = cellfit::ga::select_nsga2(same, 2);
  EXPECT_EQ(r.front, std::vector<int>(5, 0));
  EXPECT_EQ(r.selected, (std::vector<std::size_t>{0, 4}));  // the two inf (boundary) ones
  const objective_matrix none{4, 0, {}};
  EXPECT_EQ(cellfit::ga::select_nsga2(none, 3).selected, (std::vector<std::size_t>{0, 1, 2}));
}

TEST(selection_nsga2, refuses_bad_input) {
  objective_matrix o = random_matrix(10, 2, 1);
  EXPECT_THROW(cellfit::ga::select_nsga2(o, 11), cellfit::error);
  o.values[5] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(cellfit::ga::select_nsga2(o, 5), cellfit::error);
  o.values[5] = std::numeric_limits<double>::infinity();
  EXPECT_THROW(cellfit::ga::select_nsga2(o, 5), cellfit::error);
  o.values.pop_back();
  EXPECT_THROW(cellfit::ga::select_nsga2(o, 5), cellfit::error);
}

// ---- IBEA ------------------------------------------------------------------------------

TEST(selection_ibea, fitness_is_bluepyopts_and_c_is_one) {
  for (std::size_t m : {1, 2, 3, 5, 20, 21, 37}) {
    for (double kappa : {0.05, 0.01, 0.5}) {
      const auto o = random_matrix(150, m, 40 + m);
      double c = 0;
      const auto t = reference_terms(o, kappa, &c);
      EXPECT_EQ(c, 1.0);  // docs/ga.md: the largest |I| is exactly 1
      const auto f = cellfit::ga::ibea_fitness(o, kappa);
      for (std::size_t b = 0; b < o.n; ++b) {
        long double want = 0;
        for (std::size_t a = 0; a < o.n; ++a)
          if (a != b) want += t[a * o.n + b];
        expect_fitness_near(f[b], want, 1e-12);
      }
    }
  }
}

TEST(selection_ibea, realistic_matrix_fitness) {
  const auto o = realistic_matrix(400, 20, 9);
  double c = 0;
  const auto t = reference_terms(o, 0.05, &c);
  EXPECT_EQ(c, 1.0);
  const auto f = cellfit::ga::ibea_fitness(o, 0.05);
  for (std::size_t b = 0; b < o.n; ++b) {
    long double want = 0;
    for (std::size_t a = 0; a < o.n; ++a)
      if (a != b) want += t[a * o.n + b];
    expect_fitness_near(f[b], want, 1e-12);
  }
  // Identical rows, identical fitness (bitwise), as in BluePyOpt.
  int copies = 0;
  for (std::size_t a = 0; a < o.n; ++a) {
    for (std::size_t b = a + 1; b < o.n; ++b) {
      if (std::equal(&o.values[a * 20], &o.values[a * 20] + 20, &o.values[b * 20])) {
        EXPECT_EQ(f[a], f[b]);
        ++copies;
      }
    }
  }
  EXPECT_GT(copies, 10);
}

TEST(selection_ibea, truncate_keeps_the_k_best_lower_index_on_ties) {
  const auto o = realistic_matrix(300, 20, 4);
  const auto r = cellfit::ga::select_ibea(o, 120, 0.05, ibea_reduction::truncate);
  std::vector<std::size_t> order(o.n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return r.fitness[a] < r.fitness[b]; });
  std::vector<std::size_t> want(order.begin(), order.begin() + 120);
  std::sort(want.begin(), want.end());
  EXPECT_EQ(r.selected, want);
  EXPECT_EQ(r.fitness, cellfit::ga::ibea_fitness(o, 0.05));
}

TEST(selection_ibea, iterative_matches_zitzler_kuenzli_summed_from_scratch) {
  struct c {
    std::size_t n, m, k;
    double kappa;
  };
  // Several blocks of 32 removals, tiles rebuilt as lanes die, groups of identical rows.
  for (const c& t :
       {c{40, 2, 20, 0.05}, c{120, 3, 60, 0.05}, c{200, 20, 100, 0.05}, c{300, 5, 37, 0.05},
        c{250, 20, 240, 0.05}, c{150, 4, 75, 0.5}, c{150, 2, 30, 0.01}}) {
    const auto o = random_matrix(t.n, t.m, 70 + t.n + t.m);
    const auto r = cellfit::ga::select_ibea(o, t.k, t.kappa);
    const auto want = reference_iterative(o, t.k, t.kappa);
    EXPECT_EQ(r.selected, want.selected) << "n " << t.n << " m " << t.m << " k " << t.k;
    for (std::size_t i = 0; i < o.n; ++i) expect_fitness_near(r.fitness[i], want.fitness[i], 1e-11);
  }
}

TEST(selection_ibea, iterative_on_realistic_matrix_with_copies) {
  const auto o = realistic_matrix(260, 20, 21);
  const auto r = cellfit::ga::select_ibea(o, 100);
  const auto want = reference_iterative(o, 100, 0.05);
  // Among identical rows the reference (>= scan) also removes the higher index first.
  EXPECT_EQ(r.selected, want.selected);
  for (std::size_t i = 0; i < o.n; ++i) expect_fitness_near(r.fitness[i], want.fitness[i], 1e-11);
}

TEST(selection_ibea, cancellation_is_summed_again) {
  // Two identical individuals P far from four others Q: P's fitness is 1 (the other P) plus
  // about 3e-6, each Q's about 1.3e-3, so a P leaves first. The other P then keeps only the
  // small part, which must not be the rounding error of (1 + 3e-6) - 1 (3e-11 relative).
  objective_matrix o{6, 3, {0, 0, 1, 0, 0, 1}};
  for (double x : {0.0, 1.0 / 3, 2.0 / 3, 1.0}) o.values.insert(o.values.end(), {x, 1 - x, 0.0});
  for (std::size_t k : {5, 3}) {
    const auto r = cellfit::ga::select_ibea(o, k);
    const auto want = reference_iterative(o, k, 0.05);
    EXPECT_EQ(r.selected, want.selected);
    EXPECT_EQ(r.selected.front(), 0u);  // index 1 left first
    for (std::size_t i = 0; i < o.n; ++i) expect_fitness_near(r.fitness[i], want.fitness[i], 1e-12);
  }
}

TEST(selection_ibea, degenerate_inputs) {
  const objective_matrix same{6, 3, std::vector<double>(18, 250.0)};
  for (auto red : {ibea_reduction::iterative, ibea_reduction::truncate}) {
    const auto r = cellfit::ga::select_ibea(same, 4, 0.05, red);
    EXPECT_EQ(r.selected, (std::vector<std::size_t>{0, 1, 2, 3}));
    EXPECT_EQ(r.fitness, std::vector<double>(6, 0.0));
  }
  const auto o = random_matrix(30, 4, 2);
  EXPECT_EQ(cellfit::ga::select_ibea(o, 30).fitness, cellfit::ga::ibea_fitness(o));
  EXPECT_TRUE(cellfit::ga::select_ibea(o, 0).selected.empty());
  EXPECT_TRUE(cellfit::ga::select_ibea(objective_matrix{}, 0).selected.empty());
  const objective_matrix one{1, 2, {3.0, 4.0}};
  EXPECT_EQ(cellfit::ga::select_ibea(one, 1).fitness, std::vector<double>{0.0});
}

TEST(selection_ibea, refuses_bad_input) {
  const auto o = random_matrix(10, 2, 1);
  EXPECT_THROW(cellfit::ga::select_ibea(o, 11), cellfit::error);
  EXPECT_THROW(cellfit::ga::select_ibea(o, 5, 0.001), cellfit::error);
  EXPECT_THROW(cellfit::ga::ibea_fitness(o, -1.0), cellfit::error);
  auto bad = o;
  bad.values[3] = -std::numeric_limits<double>::infinity();
  EXPECT_THROW(cellfit::ga::select_ibea(bad, 5), cellfit::error);
}

}  // namespace
