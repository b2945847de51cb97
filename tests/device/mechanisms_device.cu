// Compile-only check that every mechanism of the catalogue (hand-written and generated from
// NMODL) is device code: init, advance and current called from a CUDA kernel on double,
// float and dual numbers. Built by tests/device/compile_mechanisms.sh with nvcc against a
// stand-in for Kokkos' function-attribute macros (a CUDA Kokkos is not needed to catch a
// host-only construct in a mechanism: a static array, a std:: call, an exception).
#include "kernels/catalogue.hpp"
#include "kernels/dual.hpp"

namespace {

using cellfit::dual;

__device__ double value(double x) { return x; }
__device__ double value(float x) { return x; }
template <int N>
__device__ double value(const dual<double, N>& x) {
  return x.v;
}

template <class M, class T>
__device__ double run_one() {
  T p[M::n_params > 0 ? M::n_params : 1] = {};
  T s[M::n_states > 0 ? M::n_states : 1] = {};
  T ion[4 * (M::n_ions > 0 ? M::n_ions : 1)] = {};
  T i_ion[M::n_ions > 0 ? M::n_ions : 1];
  double c[M::n_constants > 0 ? M::n_constants : 1] = {};
  for (int k = 0; k < M::n_ions; ++k) {
    if (M::ion(k).reads(cellfit::ion_e)) ion[4 * k] = T(1.0);
  }
  T g;
  M::init(T(-65.0), p, c, s, ion);
  M::advance(T(-65.0), T(0.025), p, c, s, ion);
  const T i = M::current(T(-65.0), p, c, s, ion, i_ion, g);
  return value(i) + value(g);
}

template <class... M>
__global__ void every_mechanism(double* out, cellfit::type_list<M...>) {
  out[0] = (run_one<M, double>() + ... + 0.0) + (run_one<M, float>() + ... + 0.0) +
           (run_one<M, dual<double, 6>>() + ... + 0.0);
}

}  // namespace

void launch(double* out) { every_mechanism<<<1, 1>>>(out, cellfit::catalogue{}); }
