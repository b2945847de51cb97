#pragma once
// Forward-mode dual numbers: a value and N partial derivatives, propagated through the
// channel functions (kernels/channels/) by running them on dual<Real, N> instead of Real.
// This is how the adjoint gets each channel's local derivatives from the one definition
// of the channel (no hand-written derivative copy that could drift). Device-callable.

#include <Kokkos_Core.hpp>

#include "kernels/kmath.hpp"

namespace cellfit {

template <class Real, int N>
struct dual {
  Real v = Real(0);
  Real d[N] = {};

  dual() = default;
  KOKKOS_INLINE_FUNCTION dual(Real value) : v(value) {}  // NOLINT: constants promote
  // The i-th independent variable with value x.
  KOKKOS_INLINE_FUNCTION static dual variable(Real x, int i) {
    dual r(x);
    r.d[i] = Real(1);
    return r;
  }
};

#define CELLFIT_DUAL_T template <class Real, int N>
#define CELLFIT_DUAL dual<Real, N>

CELLFIT_DUAL_T KOKKOS_INLINE_FUNCTION CELLFIT_DUAL operator-(const CELLFIT_DUAL& a) {
  CELLFIT_DUAL r(-a.v);
  for (int i = 0; i < N; ++i) r.d[i] = -a.d[i];
  return r;
}
CELLFIT_DUAL_T KOKKOS_INLINE_FUNCTION CELLFIT_DUAL operator+(const CELLFIT_DUAL& a,
                                                             const CELLFIT_DUAL& b) {
  CELLFIT_DUAL r(a.v + b.v);
  for (int i = 0; i < N; ++i) r.d[i] = a.d[i] + b.d[i];
  return r;
}
CELLFIT_DUAL_T KOKKOS_INLINE_FUNCTION CELLFIT_DUAL operator-(const CELLFIT_DUAL& a,
                                                             const CELLFIT_DUAL& b) {
  CELLFIT_DUAL r(a.v - b.v);
  for (int i = 0; i < N; ++i) r.d[i] = a.d[i] - b.d[i];
  return r;
}
CELLFIT_DUAL_T KOKKOS_INLINE_FUNCTION CELLFIT_DUAL operator*(const CELLFIT_DUAL& a,
                                                             const CELLFIT_DUAL& b) {
  CELLFIT_DUAL r(a.v * b.v);
  for (int i = 0; i < N; ++i) r.d[i] = a.d[i] * b.v + a.v * b.d[i];
  return r;
}
CELLFIT_DUAL_T KOKKOS_INLINE_FUNCTION CELLFIT_DUAL operator/(const CELLFIT_DUAL& a,
                                                             const CELLFIT_DUAL& b) {
  const Real inv = Real(1) / b.v;
  CELLFIT_DUAL r(a.v * inv);
  for (int i = 0; i < N; ++i) r.d[i] = (a.d[i] - r.v * b.d[i]) * inv;
  return r;
}
// Compound assignments: the forward kernel accumulates currents and fluxes in place, and a
// tangent-linear simulation (src/sim/sensitivity.cpp) runs it on dual numbers.
CELLFIT_DUAL_T KOKKOS_INLINE_FUNCTION CELLFIT_DUAL& operator+=(CELLFIT_DUAL& a,
                                                               const CELLFIT_DUAL& b) {
  a = a + b;
  return a;
}
CELLFIT_DUAL_T KOKKOS_INLINE_FUNCTION CELLFIT_DUAL& operator-=(CELLFIT_DUAL& a,
                                                               const CELLFIT_DUAL& b) {
  a = a - b;
  return a;
}
CELLFIT_DUAL_T KOKKOS_INLINE_FUNCTION CELLFIT_DUAL& operator*=(CELLFIT_DUAL& a,
                                                               const CELLFIT_DUAL& b) {
  a = a * b;
  return a;
}
CELLFIT_DUAL_T KOKKOS_INLINE_FUNCTION CELLFIT_DUAL& operator/=(CELLFIT_DUAL& a,
                                                               const CELLFIT_DUAL& b) {
  a = a / b;
  return a;
}
CELLFIT_DUAL_T KOKKOS_INLINE_FUNCTION bool operator<(const CELLFIT_DUAL& a, const CELLFIT_DUAL& b) {
  return a.v < b.v;
}
CELLFIT_DUAL_T KOKKOS_INLINE_FUNCTION bool operator>(const CELLFIT_DUAL& a, const CELLFIT_DUAL& b) {
  return a.v > b.v;
}
CELLFIT_DUAL_T KOKKOS_INLINE_FUNCTION bool operator<=(const CELLFIT_DUAL& a,
                                                      const CELLFIT_DUAL& b) {
  return a.v <= b.v;
}
CELLFIT_DUAL_T KOKKOS_INLINE_FUNCTION bool operator>=(const CELLFIT_DUAL& a,
                                                      const CELLFIT_DUAL& b) {
  return a.v >= b.v;
}
// Exact comparisons of values: NMODL's `if (v == c)` guards compare the value only.
CELLFIT_DUAL_T KOKKOS_INLINE_FUNCTION bool operator==(const CELLFIT_DUAL& a,
                                                      const CELLFIT_DUAL& b) {
  return a.v == b.v;
}
CELLFIT_DUAL_T KOKKOS_INLINE_FUNCTION bool operator!=(const CELLFIT_DUAL& a,
                                                      const CELLFIT_DUAL& b) {
  return a.v != b.v;
}

namespace kmath {

// f(a) with f' given: the chain rule for one-argument functions.
template <class Real, int N>
KOKKOS_INLINE_FUNCTION dual<Real, N> chain(const dual<Real, N>& a, Real f, Real df) {
  dual<Real, N> r(f);
  for (int i = 0; i < N; ++i) r.d[i] = df * a.d[i];
  return r;
}

CELLFIT_DUAL_T KOKKOS_INLINE_FUNCTION CELLFIT_DUAL exp(const CELLFIT_DUAL& a) {
  const Real e = exp(a.v);
  return chain(a, e, e);
}
CELLFIT_DUAL_T KOKKOS_INLINE_FUNCTION CELLFIT_DUAL exp_bounded(const CELLFIT_DUAL& a) {
  const Real e = exp_bounded(a.v);
  return chain(a, e, e);
}
CELLFIT_DUAL_T KOKKOS_INLINE_FUNCTION CELLFIT_DUAL exp_nonpositive(const CELLFIT_DUAL& a) {
  const Real e = exp_nonpositive(a.v);
  return chain(a, e, e);
}
CELLFIT_DUAL_T KOKKOS_INLINE_FUNCTION CELLFIT_DUAL log(const CELLFIT_DUAL& a) {
  return chain(a, log(a.v), Real(1) / a.v);
}
CELLFIT_DUAL_T KOKKOS_INLINE_FUNCTION CELLFIT_DUAL sqrt(const CELLFIT_DUAL& a) {
  const Real r = sqrt(a.v);
  return chain(a, r, Real(0.5) / r);
}
// a^b = exp(b ln a) for a > 0 (NMODL's ^ and pow() with a non-integer or variable exponent).
CELLFIT_DUAL_T KOKKOS_INLINE_FUNCTION CELLFIT_DUAL pow(const CELLFIT_DUAL& a,
                                                       const CELLFIT_DUAL& b) {
  return exp(b * log(a));
}
// Component-wise selects: a select of whole structs becomes a select of addresses, which
// stops GCC from vectorising the lane loop around it.
CELLFIT_DUAL_T KOKKOS_INLINE_FUNCTION CELLFIT_DUAL select(bool c, const CELLFIT_DUAL& a,
                                                          const CELLFIT_DUAL& b) {
  CELLFIT_DUAL r(c ? a.v : b.v);
  for (int i = 0; i < N; ++i) r.d[i] = c ? a.d[i] : b.d[i];
  return r;
}
CELLFIT_DUAL_T KOKKOS_INLINE_FUNCTION CELLFIT_DUAL abs(const CELLFIT_DUAL& a) {
  const Real sign = a.v < Real(0) ? Real(-1) : Real(1);
  CELLFIT_DUAL r(sign * a.v);
  for (int i = 0; i < N; ++i) r.d[i] = sign * a.d[i];
  return r;
}

}  // namespace kmath

#undef CELLFIT_DUAL_T
#undef CELLFIT_DUAL

}  // namespace cellfit
