#pragma once
// The one place that names Kokkos execution/memory spaces and the floating-point types.
// Kernels are templated on the real type (FP64 and FP32 builds of the same source) and on
// the execution space; everything else refers to the aliases below.

#include <cstdint>

#include <Kokkos_Core.hpp>

namespace cellfit {

using real_type = double;    // default precision of host logic and of HDF5 output
using real32_type = float;   // the reduced-precision kernel build

using device_space = Kokkos::DefaultExecutionSpace;
using device_memory = device_space::memory_space;
using host_space = Kokkos::DefaultHostExecutionSpace;
using host_memory = Kokkos::HostSpace;

// Number of cells one kernel work item advances together. On a host the lanes form the
// innermost, unit-stride loop that the compiler vectorises; on a GPU each thread owns one
// cell and consecutive threads touch consecutive addresses, so one lane suffices.
template <class ExecutionSpace, class Real>
struct lane_width {
#if defined(KOKKOS_ENABLE_CUDA) || defined(KOKKOS_ENABLE_HIP) || defined(KOKKOS_ENABLE_SYCL)
  static constexpr int value =
      Kokkos::SpaceAccessibility<ExecutionSpace, Kokkos::HostSpace>::accessible
          ? (sizeof(Real) == 4 ? 16 : 8)
          : 1;
#else
  static constexpr int value = sizeof(Real) == 4 ? 16 : 8;
#endif
};

}  // namespace cellfit
