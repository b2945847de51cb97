#pragma once
// NEURON's hh.mod (Hodgkin-Huxley squid axon), term for term: the same rate functions, the
// same vtrap() guard, q10 = 3^((celsius - 6.3)/10), and cnexp integration of m, h, n.
// NEURON evaluates hh.mod's rates from a 1 mV lookup table by default (usetable_hh = 1);
// this is the table-free form, i.e. NEURON with usetable_hh = 0.
//
// Units: v, reversal potentials in mV; conductances in S/cm2; current density in mA/cm2;
// dt in ms. All functions are templated on the value type so that the adjoint can run them
// on a dual-number type: they are the single definition of this channel.

#include <cmath>

#include <Kokkos_Core.hpp>

// dual.hpp (which includes kmath.hpp): the channel templates must see kmath's dual-number
// overloads at their definition, so the adjoint can run them on dual numbers.
#include "kernels/dual.hpp"
#include "kernels/mechanism.hpp"

namespace cellfit::channels {

struct hh {
  static constexpr const char* name = "hh";
  static constexpr const char* source = "kernels/channels/hh.hpp (hand-written)";
  static constexpr int n_params = 6;
  static constexpr int n_states = 3;
  // Whether advance() reads the parameters; the adjoint differentiates the gate map with
  // respect to them only if so (tests/unit/test_dual.cpp checks the claim).
  static constexpr bool gates_read_params = false;
  enum param : int { gnabar, gkbar, gl, el, ena, ek };
  enum state : int { m, h, n };
  static constexpr const char* param_names[n_params] = {"gnabar", "gkbar", "gl", "el", "ena", "ek"};
  static constexpr const char* param_units[n_params] = {"S/cm2", "S/cm2", "S/cm2",
                                                        "mV",    "mV",    "mV"};
  static constexpr double param_defaults[n_params] = {0.12, 0.036, 0.0003, -54.3, 50.0, -77.0};
  static constexpr const char* state_names[n_states] = {"m", "h", "n"};
  static constexpr int n_globals = 0;
  // constants: q10 = 3^((celsius - 6.3)/10), once per run rather than in every rates().
  static constexpr int n_constants = 1;
  static constexpr int n_ions = 0;  // ena, ek are its own parameters (NEURON's hh reads the ions)
  KOKKOS_INLINE_FUNCTION static constexpr ion_use ion(int) {
    return {-1, false, false, false, false, false, -1, -1};
  }
  static constexpr bool init_reads_params = false;

  static void constants(double celsius, double* out) {
    out[0] = std::pow(3.0, (celsius - 6.3) / 10.0);
  }

  // hh.mod's vtrap(x, y) = x / (exp(x / y) - 1), with its series guard near x = 0, given
  // e = exp(x / y). Both branches are evaluated and one selected (a branch-free lane loop).
  template <class T>
  KOKKOS_FORCEINLINE_FUNCTION static T vtrap(T x, T y, T e) {
    const T xy = x * (T(1) / y);
    const T small = y * (T(1) - xy * T(0.5));
    const T large = x / (e - T(1));
    return kmath::select(kmath::abs(xy) < T(1e-6), small, large);
  }

  // Steady state of each gate and its rate 1/tau (1/ms) at membrane potential v: hh.mod's
  // rates() with the same algebra, arranged for speed (exp is most of the cost of a step):
  // the three exponentials in (v + c)/10 are one exp times constants, exp(-(v+65)/20) is
  // exp(-(v+65)/80)^4, divisions by constants are products, and tau itself is never formed
  // (cnexp needs dt/tau). The results equal hh.mod's to a few ulp.
  template <class T>
  KOKKOS_FORCEINLINE_FUNCTION static void rates(T v, T q10, T inf[3], T rate[3]) {
    const T e40 = kmath::exp_bounded(-(v + T(40)) * T(0.1));  // exp(-(v+40)/10)
    const T e65_80 = kmath::exp_bounded(-(v + T(65)) * T(1.0 / 80.0));
    const T e65_20 = (e65_80 * e65_80) * (e65_80 * e65_80);
    const T e65_18 = kmath::exp_bounded(-(v + T(65)) * T(1.0 / 18.0));
    T alpha = T(0.1) * vtrap(-(v + T(40)), T(10), e40);
    T beta = T(4) * e65_18;
    T sum = alpha + beta;
    rate[m] = q10 * sum;
    inf[m] = alpha / sum;
    alpha = T(0.07) * e65_20;
    beta = T(1) / (e40 * T(1.6487212707001282) + T(1));  // exp(-(v+35)/10) = e40 e^0.5
    sum = alpha + beta;
    rate[h] = q10 * sum;
    inf[h] = alpha / sum;
    alpha = T(0.01) * vtrap(-(v + T(55)), T(10), e40 * T(0.22313016014842982));  // e40 e^-1.5
    beta = T(0.125) * e65_80;
    sum = alpha + beta;
    rate[n] = q10 * sum;
    inf[n] = alpha / sum;
  }

  // INITIAL block: gates at steady state.
  template <class T, class C>
  KOKKOS_FORCEINLINE_FUNCTION static void init(T v, const T* /*p*/, const C* c, T* s,
                                               const T* /*ion*/) {
    T inf[3], rate[3];
    rates(v, T(c[0]), inf, rate);
    s[m] = inf[m];
    s[h] = inf[h];
    s[n] = inf[n];
  }

  // BREAKPOINT block: total ionic current density and its derivative with respect to v.
  template <class T, class C>
  KOKKOS_FORCEINLINE_FUNCTION static T current(T v, const T* p, const C* /*c*/, const T* s,
                                               const T* /*ion*/, T* /*i_ion*/, T& didv) {
    const T gna = p[gnabar] * s[m] * s[m] * s[m] * s[h];
    const T n2 = s[n] * s[n];
    const T gk = p[gkbar] * n2 * n2;
    didv = gna + gk + p[gl];
    return gna * (v - p[ena]) + gk * (v - p[ek]) + p[gl] * (v - p[el]);
  }

  // DERIVATIVE block integrated by cnexp over dt at the new membrane potential v.
  template <class T, class C>
  KOKKOS_FORCEINLINE_FUNCTION static void advance(T v, T dt, const T* /*p*/, const C* c, T* s,
                                                  const T* /*ion*/) {
    T inf[3], rate[3];
    rates(v, T(c[0]), inf, rate);
    s[m] = s[m] + (T(1) - kmath::exp_nonpositive(-dt * rate[m])) * (inf[m] - s[m]);
    s[h] = s[h] + (T(1) - kmath::exp_nonpositive(-dt * rate[h])) * (inf[h] - s[h]);
    s[n] = s[n] + (T(1) - kmath::exp_nonpositive(-dt * rate[n])) * (inf[n] - s[n]);
  }
};

}  // namespace cellfit::channels
