#pragma once
// Branch-free exponential for the kernels.
//
// The host kernels must vectorise across the lanes of a cell tile, and glibc's scalar exp()
// prevents that (its vector variants are only used under -ffast-math, which would also remove
// the NaN checks that detect diverging cells). This exp is a Cody-Waite reduction
// x = n ln2 + r, |r| <= ln2/2, a degree-11 (FP64) or degree-6 (FP32) near-minimax polynomial
// for e^r, and 2^n built in the exponent bits: about 1 ulp, NaN in -> NaN out, no branches
// and no tables, so GCC and Clang vectorise loops that call it. Inputs are clamped to
// [-708, 709] (FP64) / [-87, 88] (FP32): the result there is a tiny normal number instead of
// a subnormal or 0, and a huge finite number instead of inf.
// log() below is built the same way (jk's rate functions need it).
// On a GPU the vendor exp is already vectorised and is used instead.

#include <cmath>
#include <cstdint>
#include <cstring>

#include <Kokkos_Core.hpp>

namespace cellfit::kmath {

namespace detail {

// Clamp to [lo, hi] written with 0/1 masks instead of `x < lo ? lo : x`: with constant arms,
// GCC threads such selects into branches when exp feeds another inlined function (jk's
// log(a e^x + 1)), and the lane loop then no longer vectorises. NaN stays NaN (both masks 0);
// an infinite x gives NaN (inf * 0), which the divergence check then flags.
template <class Real>
KOKKOS_FORCEINLINE_FUNCTION Real clamp_select(Real x, Real lo, Real hi) {
  const Real below = static_cast<Real>(x < lo), above = static_cast<Real>(x > hi);
  return x * (Real(1) - below - above) + lo * below + hi * above;
}

// Lower clamp only, for arguments known to be <= 0 (one mask instead of two).
template <class Real>
KOKKOS_FORCEINLINE_FUNCTION Real clamp_below(Real x, Real lo) {
  const Real below = static_cast<Real>(x < lo);
  return x + (lo - x) * below;
}

// e^x for x in [-708, 709] (FP64) / [-87, 88] (FP32); no range handling.
KOKKOS_FORCEINLINE_FUNCTION double exp_core(double x) {
  constexpr double log2e = 1.4426950408889634074;
  constexpr double ln2_hi = 6.93147180369123816490e-01;
  constexpr double ln2_lo = 1.90821492927058770002e-10;
  constexpr double shifter = 0x1.8p52;  // adding it rounds x log2(e) to an integer n
  double kd = x * log2e + shifter;
  std::uint64_t ki;
  std::memcpy(&ki, &kd, sizeof ki);
  kd -= shifter;
  const double r = (x - kd * ln2_hi) - kd * ln2_lo;  // |r| <= ln2/2
  // Near-minimax (Chebyshev-node interpolation) degree-11 polynomial for e^r on
  // [-ln2/2, ln2/2]: 2.2e-16 relative.
  double p = 2.511015364692893e-08;
  p = p * r + 2.763279054211718e-07;
  p = p * r + 2.7557240604663896e-06;
  p = p * r + 2.4801485074105115e-05;
  p = p * r + 0.00019841269890340666;
  p = p * r + 0.0013888888952696516;
  p = p * r + 0.00833333333331949;
  p = p * r + 0.04166666666648666;
  p = p * r + 0.1666666666666668;
  p = p * r + 0.5000000000000019;
  p = p * r + 1.0;
  p = p * r + 1.0;
  // 2^n from the exponent bits (n is in the normal range after the clamp).
  const std::uint64_t sbits = (ki + 1023u) << 52;
  double scale;
  std::memcpy(&scale, &sbits, sizeof scale);
  return p * scale;
}

KOKKOS_FORCEINLINE_FUNCTION float exp_core(float x) {
  constexpr float log2e = 1.44269504088896341f;
  constexpr float ln2_hi = 0.693145751953125f;
  constexpr float ln2_lo = 1.428606765330187045e-06f;
  constexpr float shifter = 0x1.8p23f;
  float kd = x * log2e + shifter;
  std::uint32_t ki;
  std::memcpy(&ki, &kd, sizeof ki);
  kd -= shifter;
  const float r = (x - kd * ln2_hi) - kd * ln2_lo;
  // Degree-6 near-minimax polynomial: 8.3e-8 relative.
  float p = 0.0013941213255748153f;
  p = p * r + 0.008375209756195545f;
  p = p * r + 0.04166635125875473f;
  p = p * r + 0.16666413843631744f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const std::uint32_t sbits = (ki + 127u) << 23;
  float scale;
  std::memcpy(&scale, &sbits, sizeof scale);
  return p * scale;
}

template <class Real>
struct exp_range;
template <>
struct exp_range<double> {
  static constexpr double lo = -708.0, hi = 709.0;
};
template <>
struct exp_range<float> {
  static constexpr float lo = -87.0f, hi = 88.0f;
};

template <class Real>
KOKKOS_FORCEINLINE_FUNCTION Real exp_poly(Real x) {
  return exp_core(clamp_select(x, exp_range<Real>::lo, exp_range<Real>::hi));
}

}  // namespace detail

#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__) || defined(__SYCL_DEVICE_ONLY__)
#define CELLFIT_DEVICE_MATH 1
#endif

// e^x for any x (clamped to the normal range; NaN in -> NaN out).
KOKKOS_FORCEINLINE_FUNCTION double exp(double x) {
#ifdef CELLFIT_DEVICE_MATH
  return ::exp(x);
#else
  return detail::exp_poly(x);
#endif
}

KOKKOS_FORCEINLINE_FUNCTION float exp(float x) {
#ifdef CELLFIT_DEVICE_MATH
  return ::expf(x);
#else
  return detail::exp_poly(x);
#endif
}

// e^x for x <= 0 (rates times -dt): only the lower clamp. Precondition: x <= 0 or NaN.
template <class Real>
KOKKOS_FORCEINLINE_FUNCTION Real exp_nonpositive(Real x) {
#ifdef CELLFIT_DEVICE_MATH
  return exp(x);
#else
  return detail::exp_core(detail::clamp_below(x, detail::exp_range<Real>::lo));
#endif
}

// e^x for |x| <= 700 (FP64) / 85 (FP32), no range handling: for rate functions whose
// argument is bounded while the membrane potential is (the kernels check every node's |V|
// against v_bound every step, and the config caps v_bound; after a cell fails its values
// are discarded). Outside that range the result is unspecified; NaN still gives NaN.
template <class Real>
KOKKOS_FORCEINLINE_FUNCTION Real exp_bounded(Real x) {
#ifdef CELLFIT_DEVICE_MATH
  return exp(x);
#else
  return detail::exp_core(x);
#endif
}

template <class Real>
KOKKOS_FORCEINLINE_FUNCTION Real abs(Real x) {
  return x < Real(0) ? -x : x;
}

// c ? a : b for a value type, written so that channel code can select between two values
// of any type (a dual number selects component by component, see dual.hpp).
template <class Real>
KOKKOS_FORCEINLINE_FUNCTION Real select(bool c, Real a, Real b) {
  return c ? a : b;
}

namespace detail {

// Natural logarithm for normal positive arguments: y = 2^e m with m in [sqrt(1/2), sqrt(2)),
// log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, odd series to s^21. Adding y - y
// (0 for finite y, NaN otherwise) keeps NaN in -> NaN out, which the bit manipulation loses.
KOKKOS_FORCEINLINE_FUNCTION double log_poly(double y) {
  constexpr double ln2 = 0.69314718055994530942;
  std::uint64_t bits;
  std::memcpy(&bits, &y, sizeof bits);
  // Shift by sqrt(1/2)'s mantissa so the reduced m lands in [sqrt(1/2), sqrt(2)).
  const std::uint64_t off = bits - 0x3fe6a09e667f3bcdull;
  const std::int64_t e = static_cast<std::int64_t>(off) >> 52;
  const std::uint64_t mbits = (off & 0x000fffffffffffffull) + 0x3fe6a09e667f3bcdull;
  double m;
  std::memcpy(&m, &mbits, sizeof m);
  const double s = (m - 1.0) / (m + 1.0);
  const double s2 = s * s;
  double p = 1.0 / 21.0;
  p = p * s2 + 1.0 / 19.0;
  p = p * s2 + 1.0 / 17.0;
  p = p * s2 + 1.0 / 15.0;
  p = p * s2 + 1.0 / 13.0;
  p = p * s2 + 1.0 / 11.0;
  p = p * s2 + 1.0 / 9.0;
  p = p * s2 + 1.0 / 7.0;
  p = p * s2 + 1.0 / 5.0;
  p = p * s2 + 1.0 / 3.0;
  p = p * s2 + 1.0;
  return static_cast<double>(e) * ln2 + 2.0 * s * p + (y - y);
}

KOKKOS_FORCEINLINE_FUNCTION float log_poly(float y) {
  constexpr float ln2 = 0.693147180559945f;
  std::uint32_t bits;
  std::memcpy(&bits, &y, sizeof bits);
  const std::uint32_t off = bits - 0x3f3504f3u;
  const std::int32_t e = static_cast<std::int32_t>(off) >> 23;
  const std::uint32_t mbits = (off & 0x007fffffu) + 0x3f3504f3u;
  float m;
  std::memcpy(&m, &mbits, sizeof m);
  const float s = (m - 1.0f) / (m + 1.0f);
  const float s2 = s * s;
  float p = 1.0f / 9.0f;
  p = p * s2 + 1.0f / 7.0f;
  p = p * s2 + 1.0f / 5.0f;
  p = p * s2 + 1.0f / 3.0f;
  p = p * s2 + 1.0f;
  return static_cast<float>(e) * ln2 + 2.0f * s * p + (y - y);
}

}  // namespace detail

KOKKOS_FORCEINLINE_FUNCTION double log(double x) {
#ifdef CELLFIT_DEVICE_MATH
  return ::log(x);
#else
  return detail::log_poly(x);
#endif
}

KOKKOS_FORCEINLINE_FUNCTION float log(float x) {
#ifdef CELLFIT_DEVICE_MATH
  return ::logf(x);
#else
  return detail::log_poly(x);
#endif
}

// Square root (the hardware instruction vectorises).
KOKKOS_FORCEINLINE_FUNCTION double sqrt(double x) { return std::sqrt(x); }
KOKKOS_FORCEINLINE_FUNCTION float sqrt(float x) { return std::sqrt(x); }

// a^b = exp(b ln a) for a > 0: NMODL's ^ and pow() with a non-integer or variable exponent.
template <class Real>
KOKKOS_FORCEINLINE_FUNCTION Real pow(Real a, Real b) {
  return exp(b * log(a));
}

}  // namespace cellfit::kmath
