#pragma once
// The point-compartment Na/K channel set of Jones & Kording (paper 000): shifted kinetics
// with Vs = v + 49.2 mV in every rate and current term, m^2 h sodium, first-order n
// potassium with a factor-2 rate, and a leak. Constants and equations: papers/README.md 4.2.
// Units are the paper's (currents in the units of the injected amplitudes, Cm = 0.45); the
// gates are integrated by cnexp like every other channel here.

#include <Kokkos_Core.hpp>

// dual.hpp (which includes kmath.hpp): the channel templates must see kmath's dual-number
// overloads at their definition, so the adjoint can run them on dual numbers.
#include "kernels/dual.hpp"
#include "kernels/mechanism.hpp"

namespace cellfit::channels {

struct jk {
  static constexpr const char* name = "jk";
  static constexpr const char* source = "kernels/channels/jk.hpp (hand-written)";
  static constexpr int n_params = 6;
  static constexpr int n_states = 3;
  // Whether advance() reads the parameters; the adjoint differentiates the gate map with
  // respect to them only if so (tests/unit/test_dual.cpp checks the claim).
  static constexpr bool gates_read_params = false;
  enum param : int { gnabar, gkbar, gl, el, ena, ek };
  enum state : int { m, h, n };
  static constexpr const char* param_names[n_params] = {"gnabar", "gkbar", "gl", "el", "ena", "ek"};
  static constexpr const char* param_units[n_params] = {"", "", "", "mV", "mV", "mV"};
  static constexpr double param_defaults[n_params] = {100.0, 45.0, 1.0 / 37.0, -74.0, 90.0, -80.0};
  static constexpr const char* state_names[n_states] = {"m", "h", "n"};
  static constexpr double v_shift = 49.2;
  static constexpr int n_globals = 0;
  static constexpr int n_constants = 0;
  static constexpr int n_ions = 0;
  KOKKOS_INLINE_FUNCTION static constexpr ion_use ion(int) {
    return {-1, false, false, false, false, false, -1, -1};
  }
  static constexpr bool init_reads_params = false;

  static void constants(double /*celsius*/, double* /*out*/) {}

  // Steady state of each gate and its rate 1/tau (1/ms); see hh::rates.
  template <class T>
  KOKKOS_FORCEINLINE_FUNCTION static void rates(T v, T inf[3], T rate[3]) {
    const T vs = v + T(v_shift);
    const T eps = T(1e-8);
    T alpha = T(1.841) * kmath::log(T(0.102) * kmath::exp_bounded(T(0.17) * vs) + T(1));
    T beta = T(2.010) * kmath::log(T(266.087) * kmath::exp_bounded(T(-0.139) * vs) + T(1));
    T sum = alpha + beta + eps;
    inf[m] = alpha / sum;
    rate[m] = sum;
    alpha = T(0.128) * kmath::exp_bounded((T(17) - vs) * T(1.0 / 18.0));
    beta = T(4) / (T(1) + kmath::exp_bounded((T(40) - vs) * T(1.0 / 5.0)));
    sum = alpha + beta + eps;
    inf[h] = alpha / sum;
    rate[h] = sum;
    alpha = T(0.114) * kmath::log(T(0.007) * kmath::exp_bounded(T(0.140) * vs) + T(1));
    beta = T(0.25) * kmath::exp_bounded((T(20) - vs) * T(1.0 / 40.0));
    sum = alpha + beta + eps;
    inf[n] = alpha / sum;
    // dn/dt = 2 (n_inf - n) / tau_n: the effective rate is 2 / tau_n.
    rate[n] = T(2) * sum;
  }

  template <class T, class C>
  KOKKOS_FORCEINLINE_FUNCTION static void init(T v, const T*, const C*, T* s, const T*) {
    T inf[3], rate[3];
    rates(v, inf, rate);
    s[m] = inf[m];
    s[h] = inf[h];
    s[n] = inf[n];
  }

  template <class T, class C>
  KOKKOS_FORCEINLINE_FUNCTION static T current(T v, const T* p, const C*, const T* s, const T*, T*,
                                               T& didv) {
    const T vs = v + T(v_shift);
    const T gna = p[gnabar] * s[m] * s[m] * s[h];
    const T gk = p[gkbar] * s[n];
    didv = gna + gk + p[gl];
    return gna * (vs - p[ena]) + gk * (vs - p[ek]) + p[gl] * (vs - p[el]);
  }

  template <class T, class C>
  KOKKOS_FORCEINLINE_FUNCTION static void advance(T v, T dt, const T*, const C*, T* s, const T*) {
    T inf[3], rate[3];
    rates(v, inf, rate);
    s[m] = s[m] + (T(1) - kmath::exp_nonpositive(-dt * rate[m])) * (inf[m] - s[m]);
    s[h] = s[h] + (T(1) - kmath::exp_nonpositive(-dt * rate[h])) * (inf[h] - s[h]);
    s[n] = s[n] + (T(1) - kmath::exp_nonpositive(-dt * rate[n])) * (inf[n] - s[n]);
  }
};

}  // namespace cellfit::channels
