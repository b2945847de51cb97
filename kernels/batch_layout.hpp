#pragma once
// Memory layout of per-cell data in the batched kernels.
//
// Every per-cell array is indexed (tile, row..., lane) with cell = tile * lanes + lane.
// On a host the lane index is the fastest one (LayoutRight): the W cells of a tile sit in
// one or two cache lines per row, the innermost lane loop is unit-stride and vectorises, and
// a tile's whole working set (a few hundred bytes per compartment) stays in L1/L2 while the
// tile runs its time loop. On a GPU lanes = 1 and the layout is LayoutLeft, so the tile
// (= cell) index is fastest and consecutive threads read consecutive addresses (coalesced).
// Either way the batch index is the fastest-varying one.

#include <Kokkos_Core.hpp>

#include "kernels/types.hpp"

namespace cellfit {

template <class MemorySpace>
using batch_layout =
    std::conditional_t<Kokkos::SpaceAccessibility<Kokkos::HostSpace, MemorySpace>::accessible,
                       Kokkos::LayoutRight, Kokkos::LayoutLeft>;

template <class Real, class MemorySpace>
using batch_view3 = Kokkos::View<Real***, batch_layout<MemorySpace>, MemorySpace>;  // tile,row,lane
template <class Real, class MemorySpace>
using batch_view4 =
    Kokkos::View<Real****, batch_layout<MemorySpace>, MemorySpace>;  // tile,a,b,lane

}  // namespace cellfit
