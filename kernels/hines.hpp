#pragma once
// Hines' O(N) direct solve of the symmetric tree-structured system of one cell's backward-
// Euler step, for the Lanes cells of one tile at once.
//
// Matrix: diagonal d[i]; off-diagonal -g[i] between node i and parent[i] (both ways);
// nodes numbered so that parent[i] < i and node 0 is the root. g is read at tile g_tile;
// PerCell (std::true_type / std::false_type) says whether each lane has its own value
// (g_tile = the tile) or all share lane 0's (g_tile = 0, broadcast: no per-lane loads). On return
// rhs holds the solution; d is overwritten (with the reciprocal of each eliminated pivot, which the
// substitution reuses: one division per node instead of two). `visit(i)` runs once node i's
// solution is final (root first, then in index order), so a caller can fuse the voltage update into
// the sweep.

#include <type_traits>

#include <Kokkos_Core.hpp>

#include "kernels/batch_layout.hpp"

#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDA_ARCH__)
#define CELLFIT_LANE_LOOP _Pragma("GCC ivdep")
#elif defined(__clang__)
#define CELLFIT_LANE_LOOP _Pragma("clang loop vectorize(enable)")
#else
#define CELLFIT_LANE_LOOP
#endif

namespace cellfit {

template <int Lanes, class Real, class MemorySpace, class ParentView, class ConductanceView,
          class Visit, class PerCell>
KOKKOS_FORCEINLINE_FUNCTION void hines_solve(int tile, int n, ParentView const& parent,
                                             ConductanceView const& g, int g_tile,
                                             batch_view3<Real, MemorySpace> const& d,
                                             batch_view3<Real, MemorySpace> const& rhs,
                                             Visit const& visit, PerCell) {
  constexpr bool per_cell = PerCell::value;
  // Elimination towards the root: fold each node's row into its parent's.
  for (int i = n - 1; i > 0; --i) {
    const int pi = parent(i);
    const auto* const gi = &g(g_tile, i, 0);
    const Real g0 = gi[0];
    Real* const di = &d(tile, i, 0);
    const Real* const ri = &rhs(tile, i, 0);
    Real* const dp = &d(tile, pi, 0);
    Real* const rp = &rhs(tile, pi, 0);
    CELLFIT_LANE_LOOP
    for (int l = 0; l < Lanes; ++l) {
      const Real gl = per_cell ? gi[l] : g0;
      const Real inv = Real(1) / di[l];
      const Real f = gl * inv;
      di[l] = inv;
      dp[l] -= f * gl;
      rp[l] += f * ri[l];
    }
  }
  {
    const Real* const d0 = &d(tile, 0, 0);
    Real* const r0 = &rhs(tile, 0, 0);
    CELLFIT_LANE_LOOP
    for (int l = 0; l < Lanes; ++l) r0[l] /= d0[l];
  }
  visit(0);
  // Substitution away from it.
  for (int i = 1; i < n; ++i) {
    const int pi = parent(i);
    const auto* const gi = &g(g_tile, i, 0);
    const Real g0 = gi[0];
    const Real* const di = &d(tile, i, 0);
    const Real* const rp = &rhs(tile, pi, 0);
    Real* const ri = &rhs(tile, i, 0);
    CELLFIT_LANE_LOOP
    for (int l = 0; l < Lanes; ++l) ri[l] = (ri[l] + (per_cell ? gi[l] : g0) * rp[l]) * di[l];
    visit(i);
  }
}

}  // namespace cellfit
