#pragma once
// NEURON's passive leak (pas): i = g (v - e). Units: g in S/cm2, e in mV, i in mA/cm2.

#include <Kokkos_Core.hpp>

#include "kernels/mechanism.hpp"

namespace cellfit::channels {

struct pas {
  static constexpr const char* name = "pas";
  static constexpr const char* source = "kernels/channels/pas.hpp (hand-written)";
  static constexpr int n_params = 2;
  static constexpr int n_states = 0;
  // Whether advance() reads the parameters; the adjoint differentiates the gate map with
  // respect to them only if so (tests/unit/test_dual.cpp checks the claim).
  static constexpr bool gates_read_params = false;
  static constexpr bool init_reads_params = false;
  enum param : int { g, e };
  static constexpr const char* param_names[n_params] = {"g", "e"};
  static constexpr const char* param_units[n_params] = {"S/cm2", "mV"};
  static constexpr double param_defaults[n_params] = {0.001, -70.0};
  static constexpr const char* state_names[1] = {""};
  static constexpr int n_globals = 0;
  static constexpr int n_constants = 0;
  static constexpr int n_ions = 0;
  KOKKOS_INLINE_FUNCTION static constexpr ion_use ion(int) {
    return {-1, false, false, false, false, false, -1, -1};
  }

  static void constants(double /*celsius*/, double* /*out*/) {}

  template <class T, class C>
  KOKKOS_FORCEINLINE_FUNCTION static void init(T, const T*, const C*, T*, const T*) {}

  template <class T, class C>
  KOKKOS_FORCEINLINE_FUNCTION static T current(T v, const T* p, const C*, const T*, const T*, T*,
                                               T& didv) {
    didv = p[g];
    return p[g] * (v - p[e]);
  }

  template <class T, class C>
  KOKKOS_FORCEINLINE_FUNCTION static void advance(T, T, const T*, const C*, T*, const T*) {}
};

}  // namespace cellfit::channels
