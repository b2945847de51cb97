// Every mechanism of the catalogue runs on dual numbers: derivatives of its one definition
// (hand-written or generated from NMODL) match central finite differences in every input
// (v, parameters, states, the ion values it reads), which is what the adjoint relies on;
// didv matches d(current)/dv; and the claims the adjoint uses to skip directions hold.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "kernels/catalogue.hpp"
#include "kernels/dual.hpp"

namespace {

using cellfit::ion_slots;

template <class M>
struct inputs {
  static constexpr int np = M::n_params, ns = M::n_states, nion = ion_slots * M::n_ions;
  static constexpr int n = 1 + np + ns + nion;
};

// Inputs: v, then the parameters, then the states, then every ion slot; outputs: advanced
// states, current and the per-ion currents.
template <class M>
void check_mechanism(double v, std::uint64_t seed) {
  constexpr int np = inputs<M>::np, ns = inputs<M>::ns, nion = inputs<M>::nion;
  constexpr int n_in = inputs<M>::n;
  constexpr int np1 = np > 0 ? np : 1, ns1 = ns > 0 ? ns : 1, ni1 = nion > 0 ? nion : 1;
  constexpr int nions1 = M::n_ions > 0 ? M::n_ions : 1;
  using D = cellfit::dual<double, n_in>;
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(0.8, 1.2), s01(0.05, 0.95);
  double p[np1] = {}, s[ns1] = {}, ion[ni1] = {};
  for (int k = 0; k < np; ++k) p[k] = M::param_defaults[k] * u(gen);
  for (int k = 0; k < ns; ++k) s[k] = s01(gen);
  for (int k = 0; k < M::n_ions; ++k) {
    const auto& sp = cellfit::ion_species_table[M::ion(k).species];
    ion[ion_slots * k + cellfit::ion_e] = sp.e0_mv * u(gen);
    ion[ion_slots * k + cellfit::ion_ci] = sp.ci0_mm * u(gen);
    ion[ion_slots * k + cellfit::ion_co] = sp.co0_mm * u(gen);
    ion[ion_slots * k + cellfit::ion_i] = 1e-3 * (u(gen) - 1.0);
  }
  for (int k = 0; k < M::n_ions; ++k) {  // a concentration state near the ion's own scale
    if (M::ion(k).write_ci_state >= 0)
      s[M::ion(k).write_ci_state] = ion[ion_slots * k + cellfit::ion_ci];
    if (M::ion(k).write_co_state >= 0)
      s[M::ion(k).write_co_state] = ion[ion_slots * k + cellfit::ion_co];
  }
  double c[M::n_constants > 0 ? M::n_constants : 1] = {};
  M::constants(34.0, c);
  const double dt = 0.025;

  // Everything at once on duals.
  D vd = D::variable(v, 0), pd[np1], sd[ns1], iond[ni1], iiond[nions1];
  for (int k = 0; k < np; ++k) pd[k] = D::variable(p[k], 1 + k);
  for (int k = 0; k < ns; ++k) sd[k] = D::variable(s[k], 1 + np + k);
  for (int k = 0; k < nion; ++k) iond[k] = D::variable(ion[k], 1 + np + ns + k);
  D g_dual;
  const D i_dual = M::current(vd, pd, c, sd, iond, iiond, g_dual);
  M::advance(vd, D(dt), pd, c, sd, iond);

  // The same functions on doubles, perturbed one input at a time.
  auto evaluate = [&](int which, double h, double out_states[ns1], double out_ion[nions1]) {
    double vv = v, pp[np1], ss[ns1], ii[ni1], io[nions1] = {};
    for (int k = 0; k < np; ++k) pp[k] = p[k];
    for (int k = 0; k < ns; ++k) ss[k] = s[k];
    for (int k = 0; k < nion; ++k) ii[k] = ion[k];
    if (which == 0) {
      vv += h;
    } else if (which > 0 && which <= np) {
      pp[which - 1] += h;
    } else if (which > np && which <= np + ns) {
      ss[which - 1 - np] += h;
    } else if (which > np + ns) {
      ii[which - 1 - np - ns] += h;
    }  // which < 0: unperturbed
    double g;
    const double i = M::current(vv, pp, c, ss, ii, io, g);
    M::advance(vv, dt, pp, c, ss, ii);
    for (int k = 0; k < ns; ++k) out_states[k] = ss[k];
    for (int k = 0; k < M::n_ions; ++k) out_ion[k] = io[k];
    return i;
  };
  double g0, io0[nions1] = {};
  const double i0 = M::current(v, p, c, s, ion, io0, g0);
  EXPECT_NEAR(i_dual.v, i0, 1e-14 * (1 + std::fabs(i0))) << M::name;
  EXPECT_NEAR(i_dual.d[0], g0, 1e-7 * (1 + std::fabs(g0))) << M::name << ": didv";
  // The adjoint skips the parameter directions of the state map when the mechanism says
  // its states do not read the parameters, and every ion slot it does not declare: hold it
  // to both.
  for (int k = 0; k < ns; ++k) {
    if (!M::gates_read_params) {
      for (int q = 0; q < np; ++q) {
        EXPECT_EQ(sd[k].d[1 + q], 0.0) << M::name << " state " << k << " reads parameter " << q;
      }
    }
    for (int q = 0; q < nion; ++q) {
      if (!M::ion(q / ion_slots).reads(q % ion_slots)) {
        EXPECT_EQ(sd[k].d[1 + np + ns + q], 0.0) << M::name << " state reads ion slot " << q;
      }
    }
  }
  for (int q = 0; q < nion; ++q) {
    if (!M::ion(q / ion_slots).reads(q % ion_slots)) {
      EXPECT_EQ(i_dual.d[1 + np + ns + q], 0.0) << M::name << " current reads ion slot " << q;
    }
  }
  for (int in = 0; in < n_in; ++in) {
    const double x = in == 0         ? v
                     : in <= np      ? p[in - 1]
                     : in <= np + ns ? s[in - 1 - np]
                                     : ion[in - 1 - np - ns];
    const double h = 1e-6 * (std::fabs(x) > 0 ? std::fabs(x) : 1.0);
    double plus[ns1], minus[ns1], ip_ion[nions1], im_ion[nions1];
    const double ip = evaluate(in, h, plus, ip_ion), im = evaluate(in, -h, minus, im_ion);
    const double fd_i = (ip - im) / (2 * h);
    EXPECT_NEAR(i_dual.d[in], fd_i, 1e-6 * (1 + std::fabs(fd_i)))
        << M::name << " current, input " << in;
    for (int k = 0; k < M::n_ions; ++k) {
      const double fd = (ip_ion[k] - im_ion[k]) / (2 * h);
      EXPECT_NEAR(iiond[k].d[in], fd, 1e-6 * (1 + std::fabs(fd)))
          << M::name << " ion current " << k << ", input " << in;
    }
    for (int k = 0; k < ns; ++k) {
      const double fd = (plus[k] - minus[k]) / (2 * h);
      EXPECT_NEAR(sd[k].d[in], fd, 1e-6 * (1 + std::fabs(fd)) * (1 + std::fabs(s[k])))
          << M::name << " state " << k << ", input " << in;
    }
  }
}

template <class... M>
void check_all(cellfit::type_list<M...>, double v, std::uint64_t seed) {
  (check_mechanism<M>(v, seed), ...);
}

TEST(dual, every_mechanism_derivatives_match_finite_differences) {
  std::uint64_t seed = 1;
  // -39.99999: hh's vtrap series branch; -35 and -25: the `v == c` guards of the L5PC set.
  for (double v : {-90.0, -65.0, -40.0, -39.99999, -55.0, -35.0, -25.0, 20.0, 30.0}) {
    check_all(cellfit::catalogue{}, v, seed++);
  }
}

TEST(dual, jk_derivatives_match_finite_differences) {
  for (double v : {-100.0, -60.0, -30.0, 0.0, 20.0}) check_mechanism<cellfit::channels::jk>(v, 2);
}

}  // namespace
