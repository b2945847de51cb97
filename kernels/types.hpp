#pragma once
// The one place that names Kokkos execution/memory spaces and the floating-point types.
// Kernels are templated on the real type (FP64 and FP32 builds of the same source) and on
// the execution space; everything else refers to the aliases below.

#include <cstdint>

#include <Kokkos_Core.hpp>

namespace cellfit {

using real_type = double;   // default precision of host logic and of HDF5 output
using real32_type = float;  // the reduced-precision kernel build

using device_space = Kokkos::DefaultExecutionSpace;
using device_memory = device_space::memory_space;
using host_space = Kokkos::DefaultHostExecutionSpace;
using host_memory = Kokkos::HostSpace;

// Number of cells one kernel work item advances together (the most; a driver may pick a
// narrower width for small batches, see narrow_lane_width). On a host the lanes form the
// innermost, unit-stride loop that the compiler vectorises; 32 lanes are two to four SIMD
// registers, which gives the independent operations needed to hide the latency of the
// exp/division chains (measured: FP64 tree184, 8 lanes 5.9e7, 16 lanes 7.3e7, 32 lanes 7.9e7
// compartment-steps/s on one AVX-512 core). On a GPU each thread owns one cell and
// consecutive threads touch consecutive addresses, so one lane suffices.
template <class ExecutionSpace, class Real>
struct lane_width {
  static constexpr int value =
      Kokkos::SpaceAccessibility<ExecutionSpace, Kokkos::HostSpace>::accessible ? 32 : 1;
};

// A narrower width for batches smaller than lane_width: 8 cells (one AVX-512 register of
// FP64, half of one in FP32).
template <class ExecutionSpace, class Real>
struct narrow_lane_width {
  static constexpr int value = lane_width<ExecutionSpace, Real>::value == 1 ? 1 : 8;
};

}  // namespace cellfit
