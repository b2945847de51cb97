// Compartment graphs given by values ([model.graph]): the passive linear system against its
// exact solution, the graph against a morphology with the same capacitances and conductances,
// paper 001's Table 1 passive figures, exact gradients of C and g, and the refusals.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "config_refusal.hpp"
#include "io/config.hpp"
#include "model/parameter_space.hpp"
#include "model/value_graph.hpp"
#include "sim/batch_simulator.hpp"
#include "space_gradient.hpp"

namespace {

// Paper 001, Table 1: soma, apical and basal dendrites (C in pF, leaks and couplings in nS,
// V_leak -65 mV), the passive part only (no AdEx), a constant current into the soma.
struct passive_cell {
  double c_pf[3] = {125.0, 100.0, 50.0};
  double g_leak_ns[3] = {10.0, 2.0, 5.0};
  double g_as_ns = 5.0, g_bs_ns = 5.0;
  double e_leak_mv = -65.0;
  double i_soma_na = 0.28;
};

std::string num(double x) {
  char b[40];
  std::snprintf(b, sizeof b, "%.17g", x);
  return b;
}

std::string graph_config(const passive_cell& p, double dt_ms, double t_stop_ms) {
  const char* names[3] = {"soma", "apical", "basal"};
  std::string s = "[model]\nv_init = " + num(p.e_leak_mv) + "\n";
  for (int k = 0; k < 3; ++k) {
    s += "[[model.graph.compartment]]\nname = \"" + std::string(names[k]) +
         "\"\nc_pf = " + num(p.c_pf[k]) + "\ng_leak_ns = " + num(p.g_leak_ns[k]) +
         "\ne_leak_mv = " + num(p.e_leak_mv) + "\n";
  }
  s += "[[model.graph.edge]]\nfrom = \"soma\"\nto = \"apical\"\ng_ns = " + num(p.g_as_ns) +
       "\n[[model.graph.edge]]\nfrom = \"basal\"\nto = \"soma\"\ng_ns = " + num(p.g_bs_ns) +
       "\n[simulation]\ndt_ms = " + num(dt_ms) + "\nt_stop_ms = " + num(t_stop_ms) +
       "\nrecord_sites = [\"soma\", \"apical\", \"basal\"]\n"
       "[[stimulus]]\nsites = \"soma\"\namplitude = " +
       num(p.i_soma_na) + "\ndelay_ms = 0.0\nduration_ms = " + num(2 * t_stop_ms) + "\n";
  return s;
}

// The linear system C du/dt = -K u + I of u = v - E_leak (pF, nS, pA: mV and ms).
struct linear_system {
  Eigen::Matrix3d K;
  Eigen::Vector3d C, I;
  explicit linear_system(const passive_cell& p) {
    K.setZero();
    for (int k = 0; k < 3; ++k) K(k, k) = p.g_leak_ns[k];
    const auto couple = [&](int a, int b, double g) {
      K(a, a) += g;
      K(b, b) += g;
      K(a, b) -= g;
      K(b, a) -= g;
    };
    couple(0, 1, p.g_as_ns);
    couple(0, 2, p.g_bs_ns);
    C << p.c_pf[0], p.c_pf[1], p.c_pf[2];
    I << 1000.0 * p.i_soma_na, 0.0, 0.0;
  }
  Eigen::Vector3d steady() const { return K.ldlt().solve(I); }
  // Decay rates (1/ms) of C^-1 K, ascending, and the exact u(t) from u(0) = 0:
  // u(t) = u_ss - C^-1/2 Q exp(-L t) Q^T C^1/2 u_ss with C^-1/2 K C^-1/2 = Q L Q^T.
  Eigen::SelfAdjointEigenSolver<Eigen::Matrix3d> modes() const {
    const Eigen::Vector3d r = C.cwiseSqrt().cwiseInverse();
    return Eigen::SelfAdjointEigenSolver<Eigen::Matrix3d>(r.asDiagonal() * K * r.asDiagonal());
  }
  Eigen::Vector3d exact(double t_ms) const {
    const auto es = modes();
    const Eigen::Vector3d uss = steady();
    const Eigen::Vector3d decay = (-es.eigenvalues().array() * t_ms).exp();
    const Eigen::Vector3d y = es.eigenvectors().transpose() * (C.cwiseSqrt().asDiagonal() * uss);
    return uss -
           C.cwiseSqrt().cwiseInverse().asDiagonal() * (es.eigenvectors() * decay.asDiagonal() * y);
  }
};

cellfit::simulation_result run(const cellfit::run_config& rc) {
  return cellfit::simulate_batch(rc.model, {{}}, rc.stimuli, rc.settings);
}

// The worst |v - v_exact| (mV) over the samples of a run at dt_ms, and the worst difference to
// the backward Euler recurrence (I + dt C^-1 K) u_{n+1} = u_n + dt C^-1 I.
struct errors {
  double exact = 0, recurrence = 0;
};
errors trace_errors(const passive_cell& p, double dt_ms, double t_stop_ms) {
  const auto rc = cellfit::parse_config(graph_config(p, dt_ms, t_stop_ms), "graph.toml", {});
  const auto r = run(rc);
  const linear_system ls(p);
  const Eigen::Matrix3d step =
      Eigen::Matrix3d::Identity() + dt_ms * ls.C.cwiseInverse().asDiagonal() * ls.K;
  const Eigen::Vector3d forcing = dt_ms * ls.C.cwiseInverse().cwiseProduct(ls.I);
  const auto lu = step.partialPivLu();
  Eigen::Vector3d u = Eigen::Vector3d::Zero();
  errors e;
  for (std::size_t n = 0; n < r.n_samples; ++n) {
    if (n > 0) u = lu.solve(u + forcing);
    const Eigen::Vector3d x = ls.exact(static_cast<double>(n) * dt_ms);
    for (std::size_t k = 0; k < 3; ++k) {
      const double v = r.voltage[k * r.n_samples + n] - p.e_leak_mv;
      e.exact = std::max(e.exact, std::fabs(v - x(static_cast<Eigen::Index>(k))));
      e.recurrence = std::max(e.recurrence, std::fabs(v - u(static_cast<Eigen::Index>(k))));
    }
  }
  return e;
}

TEST(value_graph, builds_the_kernel_inputs_by_the_documented_rule) {
  const passive_cell p;
  const auto rc = cellfit::parse_config(graph_config(p, 0.025, 10.0), "graph.toml", {});
  const auto& g = rc.model.geom;
  ASSERT_EQ(g.n_compartments(), 3);
  ASSERT_EQ(g.n_nodes(), 3);  // no junction nodes
  EXPECT_FALSE(g.point_model);
  EXPECT_TRUE(rc.model.morph.value_graph);
  for (int c = 0; c < 3; ++c) {
    const std::size_t cu = static_cast<std::size_t>(c);
    EXPECT_DOUBLE_EQ(g.area_um2[cu], 100.0 * p.c_pf[c]);  // cm 1 uF/cm2 gives C
    EXPECT_EQ(rc.model.cm[cu], 1.0);
  }
  EXPECT_EQ(g.parent[1], 0);
  EXPECT_EQ(g.parent[2], 0);
  EXPECT_DOUBLE_EQ(g.g_axial[1], p.g_as_ns * 1e-3);             // uS
  EXPECT_DOUBLE_EQ(rc.model.ra_ohm_cm[1], 1000.0 / p.g_as_ns);  // the edge's MOhm
  EXPECT_EQ(rc.model.geom.region_of[1], cellfit::region::apical);
  // The leaks are pas densities on the nominal areas: g A = g_leak.
  const auto* pas = rc.model.placement("pas");
  ASSERT_NE(pas, nullptr);
  ASSERT_EQ(pas->compartments.size(), 3U);
  for (int c = 0; c < 3; ++c) {
    const std::size_t cu = static_cast<std::size_t>(c);
    EXPECT_NEAR(pas->params[0][cu] * g.area_um2[cu] * 10.0, p.g_leak_ns[c], 1e-12);  // nS
    EXPECT_EQ(pas->params[1][cu], p.e_leak_mv);
  }
  EXPECT_EQ(rc.model.mechanisms.size(), 1U);  // no hh by default in a graph
  // Sites by compartment name, with or without (0.5).
  EXPECT_EQ(rc.settings.record_compartments, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(cellfit::compartment_name(rc.model.morph, g, 2), "basal");
}

// Test (1): steady state = K^-1 I exactly (backward Euler's fixed point), the trace = the
// backward Euler recurrence to rounding, and the exact solution to first order in dt.
TEST(value_graph, a_passive_graph_solves_its_linear_system) {
  const passive_cell p;
  const linear_system ls(p);
  const Eigen::Vector3d uss = ls.steady();
  {
    const auto rc = cellfit::parse_config(graph_config(p, 0.1, 3000.0), "graph.toml", {});
    const auto r = run(rc);
    for (std::size_t k = 0; k < 3; ++k) {
      const double v = r.voltage[(k + 1) * r.n_samples - 1];
      EXPECT_NEAR(v, p.e_leak_mv + uss(static_cast<Eigen::Index>(k)), 1e-9) << k;
    }
    std::printf("  steady state (mV): soma %.9f apical %.9f basal %.9f\n",
                r.voltage[r.n_samples - 1], r.voltage[2 * r.n_samples - 1],
                r.voltage[3 * r.n_samples - 1]);
  }
  const double t_stop = 100.0;
  const errors coarse = trace_errors(p, 0.1, t_stop), mid = trace_errors(p, 0.05, t_stop),
               fine = trace_errors(p, 0.025, t_stop);
  for (const errors& e : {coarse, mid, fine}) EXPECT_LT(e.recurrence, 1e-9);
  // First order: halving dt halves the error.
  const double r1 = coarse.exact / mid.exact, r2 = mid.exact / fine.exact;
  std::printf(
      "  max |v - exact| (mV): dt 0.1 %.3e, 0.05 %.3e, 0.025 %.3e (ratios %.3f %.3f); "
      "vs backward Euler recurrence %.1e\n",
      coarse.exact, mid.exact, fine.exact, r1, r2, fine.recurrence);
  EXPECT_NEAR(r1, 2.0, 0.1);
  EXPECT_NEAR(r2, 2.0, 0.05);
  EXPECT_LT(fine.exact, 0.02);
}

// Test (3): paper 001's Table 1 passive part. The paper states no input resistance or time
// constant; they follow from the table: R_in = (K^-1)_ss and the membrane time constants
// 1/eigenvalues of C^-1 K. The simulated soma deflection under 280 pA gives R_in, and the late
// decay after the step gives the slowest time constant (backward Euler's decay per step is
// 1/(1 + dt/tau), so the trace's rate is ln(1 + dt/tau)/dt exactly).
TEST(value_graph, paper_001_table_1_passive_figures) {
  const passive_cell p;
  const linear_system ls(p);
  const double r_in_mohm = 1000.0 * ls.K.inverse()(0, 0);
  const auto es = ls.modes();
  const double tau_slow = 1.0 / es.eigenvalues()(0);
  std::printf("  Table 1 passive: R_in(soma) %.6f MOhm; tau %.6f %.6f %.6f ms\n", r_in_mohm,
              tau_slow, 1.0 / es.eigenvalues()(1), 1.0 / es.eigenvalues()(2));
  const double dt = 0.025;
  auto rc = cellfit::parse_config(graph_config(p, dt, 1500.0), "graph.toml", {});
  rc.stimuli[0].components[0].duration_ms = 1000.0;  // off at 1000 ms, then decay
  const auto r = run(rc);
  const double v_ss = r.voltage[static_cast<std::size_t>(1000.0 / dt) - 1];
  EXPECT_NEAR((v_ss - p.e_leak_mv) / p.i_soma_na, r_in_mohm, 1e-8);  // mV / nA = MOhm
  // Rate between 1200 and 1300 ms, where the next mode is 1e-7 of the slowest and the
  // deflection still far above rounding.
  const std::size_t a = static_cast<std::size_t>(1200.0 / dt),
                    b = static_cast<std::size_t>(1300.0 / dt);
  const double rate = std::log((r.voltage[a] - p.e_leak_mv) / (r.voltage[b] - p.e_leak_mv)) / 100.0;
  const double expected = std::log(1.0 + dt / tau_slow) / dt;
  EXPECT_NEAR(rate, expected, 1e-7 * expected);
  std::printf("  simulated: R_in %.9f MOhm, slowest tau (backward Euler) %.9f ms, expected %.9f\n",
              (v_ss - p.e_leak_mv) / p.i_soma_na, 1.0 / rate, 1.0 / expected);
}

// Test (2): the graph equals a morphology whose areas and axial conductances give the same C
// and g: a soma with two one-segment dendrites attached at its middle (no junction node), cm 1,
// Ra 100 ohm cm, pas of the same densities and hh on the soma in both.
TEST(value_graph, equals_a_morphology_with_the_same_values) {
  using namespace cellfit;
  morphology m;
  m.source = "three cylinders";
  const double len[3] = {20.0, 300.0, 150.0}, diam[3] = {20.0, 2.0, 3.0};
  const region type[3] = {region::soma, region::apical, region::basal};
  const char* names[3] = {"soma[0]", "apic[0]", "dend[0]"};
  for (int k = 0; k < 3; ++k) {
    section s;
    s.name = names[k];
    s.type = type[k];
    s.parent = k == 0 ? -1 : 0;
    s.parent_x = k == 0 ? 1.0 : 0.5;
    s.points = {point3d{0, 0, 0, diam[k]}, point3d{len[k], 0, 0, diam[k]}};
    m.sections.push_back(s);
  }
  discretization_options opt;
  opt.ra_ohm_cm = 100.0;
  const cable_geometry geo = discretize(m, opt);
  ASSERT_EQ(geo.n_nodes(), 3);
  const double gpas[3] = {3e-4, 1e-4, 2e-4};  // S/cm2
  std::string text = "[model]\nv_init = -65.0\n";
  const char* gnames[3] = {"soma", "apical", "basal"};
  for (int k = 0; k < 3; ++k) {
    const std::size_t ku = static_cast<std::size_t>(k);
    text += "[[model.graph.compartment]]\nname = \"" + std::string(gnames[k]) +
            "\"\nc_pf = " + num(geo.area_um2[ku] / 100.0) + "\n";
  }
  for (int k = 1; k < 3; ++k) {
    text += "[[model.graph.edge]]\nfrom = \"soma\"\nto = \"" + std::string(gnames[k]) +
            "\"\ng_ns = " + num(geo.g_axial[static_cast<std::size_t>(k)] * 1000.0) + "\n";
  }
  text += R"toml(
[model.mechanisms.hh]
regions = ["soma"]
[model.mechanisms.pas]
g = { soma = 3e-4, apical = 1e-4, basal = 2e-4 }
e = -65.0
[simulation]
dt_ms = 0.025
t_stop_ms = 40.0
record_sites = ["soma", "apical", "basal"]
[[stimulus]]
sites = "apical(0.5)"
amplitude = 0.4
delay_ms = 2.0
duration_ms = 30.0
)toml";
  const auto rc = parse_config(text, "graph.toml", {});
  cell_model cable = rc.model;  // the same mechanisms on the same compartment numbers
  cable.morph = m;
  cable.geom = geo;
  for (std::size_t c = 0; c < 3; ++c) cable.ra_ohm_cm[c] = geo.ra_ohm_cm[c];
  EXPECT_EQ(rc.model.placement("pas")->params[0], std::vector<double>(gpas, gpas + 3));
  const auto a = simulate_batch(rc.model, {{}}, rc.stimuli, rc.settings);
  const auto b = simulate_batch(cable, {{}}, rc.stimuli, rc.settings);
  ASSERT_EQ(a.voltage.size(), b.voltage.size());
  double worst = 0, swing = 0;
  for (std::size_t k = 0; k < a.voltage.size(); ++k) {
    worst = std::max(worst, std::fabs(a.voltage[k] - b.voltage[k]));
    swing = std::max(swing, std::fabs(a.voltage[k] + 65.0));
  }
  std::printf("  graph vs morphology: worst difference %.3e mV (largest deflection %.1f mV)\n",
              worst, swing);
  EXPECT_GT(swing, 50.0);  // the soma fires
  EXPECT_LT(worst, 1e-9);
}

// C and g as fit parameters (cm and Ra of the compartments) with exact gradients.
TEST(value_graph, capacitances_and_couplings_have_exact_gradients) {
  const passive_cell p;
  const std::string fit = graph_config(p, 0.025, 30.0) + R"(
[[fit.parameter]]
name = "cm@apical"
bounds = [0.5, 2.0]
[[fit.parameter]]
name = "cm@soma"
bounds = [0.5, 2.0]
[[fit.parameter]]
name = "Ra@apical"
bounds = [20.0, 1000.0]
transform = "log"
[[fit.parameter]]
name = "Ra@basal"
bounds = [20.0, 1000.0]
[[fit.parameter]]
name = "pas.g@basal"
bounds = [1e-5, 1e-3]
)";
  const auto rc = cellfit::parse_config(fit, "fit.toml", {});
  const cellfit::parameter_space space(rc.model, rc.fit.parameters);
  auto truth = space.model_values();
  for (std::size_t i = 0; i < truth.size(); ++i) truth[i] *= i % 2 ? 0.85 : 1.2;
  const double worst = cellfit::test::check_space_gradient(rc, space, truth);
  std::printf("  %zu parameters, worst relative difference to finite differences %.2e\n",
              space.size(), worst);
  // Ra of a compartment is its edge's resistance: 1000 / g_ns MOhm.
  EXPECT_DOUBLE_EQ(space.model_values()[2], 1000.0 / p.g_as_ns);
  // The root has no edge: Ra over all is the edges' (200 MOhm each), Ra of the root alone is
  // refused.
  auto one = rc.fit.parameters;
  one.resize(1);
  one[0].mechanism = "";
  one[0].param = "Ra";
  one[0].scope = "all";
  one[0].lower = 20.0;
  one[0].upper = 1000.0;
  EXPECT_DOUBLE_EQ(cellfit::parameter_space(rc.model, one).model_values()[0], 200.0);
  one[0].scope = "soma";
  try {
    cellfit::parameter_space(rc.model, one);
    ADD_FAILURE() << "Ra@soma accepted";
  } catch (const cellfit::config_error& e) {
    EXPECT_NE(std::string(e.what()).find("only the root of the value graph"), std::string::npos)
        << e.what();
  }
}

// Compartment names that are not region names are sites, scopes and mechanism regions like
// section names; a single compartment needs no edge; the root may be any region.
TEST(value_graph, names_are_sites_and_scopes) {
  const std::string text = R"toml(
[model]
[[model.graph.compartment]]
name = "d1"
region = "basal"
c_pf = 20.0
g_leak_ns = 1.0
e_leak_mv = -70.0
[[model.graph.compartment]]
name = "soma"
c_pf = 100.0
[[model.graph.compartment]]
name = "d2"
region = "basal"
c_pf = 30.0
[[model.graph.edge]]
from = "soma"
to = "d2"
g_ns = 3.0
[[model.graph.edge]]
from = "soma"
to = "d1"
g_ns = 2.0
[model.mechanisms.hh]
regions = ["soma", "d2"]
gnabar = { d2 = 0.05 }
[simulation]
dt_ms = 0.025
t_stop_ms = 5.0
[[simulation.recording]]
name = "far"
site = "d2"
[[stimulus]]
sites = ["d1", "soma"]
amplitude = 0.1
)toml";
  const auto rc = cellfit::parse_config(text, "graph.toml", {});
  const auto& g = rc.model.geom;
  // Breadth first from the root d1: d1, soma, d2.
  EXPECT_EQ(cellfit::compartment_name(rc.model.morph, g, 0), "d1");
  EXPECT_EQ(cellfit::compartment_name(rc.model.morph, g, 1), "soma");
  EXPECT_EQ(cellfit::compartment_name(rc.model.morph, g, 2), "d2");
  EXPECT_EQ(g.parent, (std::vector<int>{-1, 0, 1}));
  EXPECT_DOUBLE_EQ(g.g_axial[2], 3e-3);
  EXPECT_EQ(rc.settings.record_compartments, std::vector<int>{2});
  const auto* hh = rc.model.placement("hh");
  ASSERT_NE(hh, nullptr);
  EXPECT_EQ(hh->compartments, (std::vector<int>{1, 2}));
  EXPECT_EQ(hh->params[0], (std::vector<double>{0.12, 0.05}));
  const auto* pas = rc.model.placement("pas");
  ASSERT_NE(pas, nullptr);
  EXPECT_EQ(pas->compartments, std::vector<int>{0});
  EXPECT_EQ(rc.model.mechanisms.front().name, "hh");  // the catalogue's order kept
  EXPECT_EQ(cellfit::scope_compartments(rc.model, "basal"), (std::vector<int>{0, 2}));
  const auto r = cellfit::simulate_batch(rc.model, {{}}, rc.stimuli, rc.settings);
  EXPECT_EQ(r.n_failed(), 0U);
  // One compartment, no edge.
  const auto one = cellfit::parse_config(
      "[[model.graph.compartment]]\nname = \"soma\"\nc_pf = 10.0\n", "one.toml", {});
  EXPECT_EQ(one.model.geom.n_compartments(), 1);
  EXPECT_TRUE(one.model.mechanisms.empty());
}

// Test (4): refusals, each one line naming the file, the line and the entry.
TEST(value_graph, refusals_name_the_entry) {
  const std::string head = "[model]\n";
  const auto comp = [](const std::string& name, const std::string& rest = "c_pf = 10.0") {
    return "[[model.graph.compartment]]\nname = \"" + name + "\"\n" + rest + "\n";
  };
  const auto edge = [](const std::string& a, const std::string& b, const std::string& g = "5.0") {
    return "[[model.graph.edge]]\nfrom = \"" + a + "\"\nto = \"" + b + "\"\ng_ns = " + g + "\n";
  };
  const std::string abc = comp("soma") + comp("a") + comp("b");
  struct refusal {
    std::string text, expect;
  };
  const std::vector<refusal> cases = {
      {abc + edge("soma", "a") + edge("a", "b") + edge("b", "soma"),
       "model.graph.edge[2]: edge 2 (b -- soma) closes a cycle"},
      {abc + edge("soma", "a") + edge("a", "x"),
       "model.graph.edge[1]: edge 1 (a -- x): unknown compartment 'x'"},
      {abc + edge("soma", "a"), "model.graph.compartment[2]: compartment 'b' is not connected"},
      {comp("soma") + comp("a", "c_pf = 0.0") + edge("soma", "a"),
       "model.graph.compartment[1]: compartment 'a': c_pf = 0 must be > 0"},
      {comp("soma") + comp("a", "c_pf = -3.0") + edge("soma", "a"), "c_pf = -3 must be > 0"},
      {comp("soma") + comp("a") + edge("soma", "a", "-1.0"),
       "model.graph.edge[0]: edge 0 (soma -- a): g_ns = -1 must be > 0"},
      {comp("soma") + comp("a") + comp("a") + edge("soma", "a"),
       "model.graph.compartment[2]: duplicate compartment name 'a' (compartments 1 and 2)"},
      {comp("soma") + comp("a", "c_pf = 1.0\ng_leak_ns = -2.0\ne_leak_mv = -65.0") +
           edge("soma", "a"),
       "g_leak_ns = -2 must be >= 0"},
      {comp("soma") + comp("a", "c_pf = 1.0\ng_leak_ns = 2.0"),
       "g_leak_ns and e_leak_mv go together"},
      {comp("soma") + comp("apical", "c_pf = 1.0\nregion = \"basal\"") + edge("soma", "apical"),
       "compartment name 'apical' is a section list name"},
      {comp("soma") + comp("a", "c_pf = 1.0\nregion = \"dend\""), "expected \"soma\", \"axon\""},
  };
  for (std::size_t k = 0; k < cases.size(); ++k) {
    const std::string msg = cellfit::test::config_refusal(head + cases[k].text);
    EXPECT_NE(msg.find(cases[k].expect), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_EQ(msg.rfind("cellfit::config: run.toml:", 0), 0U) << msg;
  }
  // Geometry keys do not apply; a leak given twice is refused.
  EXPECT_NE(cellfit::test::config_refusal("[model]\nra = 100.0\n" + comp("soma"))
                .find("model.ra: does not apply to a model given by model.graph"),
            std::string::npos);
  EXPECT_NE(cellfit::test::config_refusal(
                head + comp("soma", "c_pf = 1.0\ng_leak_ns = 2.0\ne_leak_mv = -65.0") +
                "[model.mechanisms.pas]\ng = 1e-4\n")
                .find("give the leak in one place"),
            std::string::npos);
  EXPECT_NE(cellfit::test::config_refusal(head + comp("soma") + comp("b") + edge("soma", "b") +
                                          "[simulation]\nrecord_sites = \"c\"\n")
                .find("simulation.record_sites"),
            std::string::npos);
}

}  // namespace
