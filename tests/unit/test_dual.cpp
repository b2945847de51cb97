// The channels run on dual numbers: derivatives of their one definition match central
// finite differences (what the adjoint will rely on), and didv matches d(current)/dv.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/channels/hh.hpp"
#include "kernels/channels/jk.hpp"
#include "kernels/channels/pas.hpp"
#include "kernels/dual.hpp"

namespace {

// Inputs: v, then the parameters, then the states; outputs: advanced states and current.
template <class M>
void check_channel(double v, std::uint64_t seed) {
  constexpr int np = M::n_params, ns = M::n_states > 0 ? M::n_states : 1;
  constexpr int n_in = 1 + np + ns;
  using D = cellfit::dual<double, n_in>;
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(0.8, 1.2), s01(0.05, 0.95);
  double p[np], s[ns];
  for (int k = 0; k < np; ++k) p[k] = M::param_defaults[k] * u(gen);
  for (int k = 0; k < ns; ++k) s[k] = s01(gen);
  const double dt = 0.025, q10 = 1.7;

  // Everything at once on duals.
  D vd = D::variable(v, 0), pd[np], sd[ns];
  for (int k = 0; k < np; ++k) pd[k] = D::variable(p[k], 1 + k);
  for (int k = 0; k < ns; ++k) sd[k] = D::variable(s[k], 1 + np + k);
  D g_dual;
  const D i_dual = M::current(vd, pd, sd, g_dual);
  M::advance(vd, D(dt), D(q10), pd, sd);

  // The same functions on doubles, perturbed one input at a time.
  auto evaluate = [&](int which, double h, double out_states[ns]) {
    double vv = v, pp[np], ss[ns];
    for (int k = 0; k < np; ++k) pp[k] = p[k];
    for (int k = 0; k < ns; ++k) ss[k] = s[k];
    if (which == 0) {
      vv += h;
    } else if (which > 0 && which <= np) {
      pp[which - 1] += h;
    } else if (which > np) {
      ss[which - 1 - np] += h;
    }  // which < 0: unperturbed
    double g;
    const double i = M::current(vv, pp, ss, g);
    M::advance(vv, dt, q10, pp, ss);
    for (int k = 0; k < ns; ++k) out_states[k] = ss[k];
    return i;
  };
  double base[ns];
  double g0;
  const double i0 = M::current(v, p, s, g0);
  EXPECT_NEAR(i_dual.v, i0, 1e-14 * (1 + std::fabs(i0)));
  EXPECT_NEAR(i_dual.d[0], g0, 1e-12 * (1 + std::fabs(g0)));  // didv is d(current)/dv
  evaluate(-1, 0, base);
  // The adjoint skips the parameter directions of the gate map when the channel says its
  // gates do not read the parameters: hold it to that.
  if (!M::gates_read_params) {
    for (int k = 0; k < M::n_states; ++k) {
      for (int q = 0; q < np; ++q) {
        EXPECT_EQ(sd[k].d[1 + q], 0.0) << M::name << " state " << k << " reads parameter " << q;
      }
    }
  }
  for (int in = 0; in < n_in; ++in) {
    if (in > np && M::n_states == 0) continue;
    const double x = in == 0 ? v : (in <= np ? p[in - 1] : s[in - 1 - np]);
    const double h = 1e-6 * (1 + std::fabs(x));
    double plus[ns], minus[ns];
    const double ip = evaluate(in, h, plus), im = evaluate(in, -h, minus);
    const double fd_i = (ip - im) / (2 * h);
    EXPECT_NEAR(i_dual.d[in], fd_i, 1e-6 * (1 + std::fabs(fd_i)))
        << M::name << " current, input " << in;
    for (int k = 0; k < M::n_states; ++k) {
      const double fd = (plus[k] - minus[k]) / (2 * h);
      EXPECT_NEAR(sd[k].d[in], fd, 1e-6 * (1 + std::fabs(fd)))
          << M::name << " state " << k << ", input " << in;
    }
  }
}

TEST(dual, hh_derivatives_match_finite_differences) {
  for (double v : {-90.0, -65.0, -40.0, -39.99999, -55.0, -20.0, 30.0})
    check_channel<cellfit::channels::hh>(v, 1);
}

TEST(dual, jk_derivatives_match_finite_differences) {
  for (double v : {-100.0, -60.0, -30.0, 0.0, 20.0}) check_channel<cellfit::channels::jk>(v, 2);
}

TEST(dual, pas_derivatives_match_finite_differences) {
  check_channel<cellfit::channels::pas>(-50.0, 3);
}

}  // namespace
