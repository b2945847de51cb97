// The passive properties cm and Ra as parameters: per-region values in the model, overrides
// per parameter set (each cell of a batch with its own matrix), their exact gradients
// against central finite differences, and the refusals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "config_refusal.hpp"
#include "io/config.hpp"
#include "model/parameter_space.hpp"
#include "sim/batch_simulator.hpp"
#include "sim/gradient.hpp"
#include "space_gradient.hpp"

namespace {

// A soma with hh and a five-segment dendrite with pas, attached at soma(1) (a junction
// node), plus a second dendrite attached at soma(0.5) through the builtin tree.
std::string cell_with(const std::string& ra) {
  return R"(
[model]
morphology = "builtin:ball_and_stick"
ra = )" + ra +
         R"(
cm = { default = 1.0, basal = 1.5 }
[model.mechanisms.hh]
regions = ["soma"]
[model.mechanisms.pas]
regions = ["basal"]
g = 5e-4
e = -65.0
[simulation]
dt_ms = 0.025
t_stop_ms = 12.0
record_every = 4
record_sites = [0, -1]
[[stimulus]]
sites = "soma"
amplitude = 0.6
delay_ms = 1.0
duration_ms = 10.0
)";
}
const std::string cell = cell_with("{ default = 120.0, soma = 80.0 }");

cellfit::parameter_override passive(const std::string& param, const std::string& scope,
                                    std::vector<double> values) {
  return {"", param, scope, std::move(values)};
}

TEST(passive, model_ra_and_cm_per_section_list) {
  const auto rc = cellfit::parse_config(cell, "cell.toml", {});
  const auto& g = rc.model.geom;
  for (int c = 0; c < g.n_compartments(); ++c) {
    const bool soma = g.region_of[static_cast<std::size_t>(c)] == cellfit::region::soma;
    EXPECT_EQ(rc.model.ra_ohm_cm[static_cast<std::size_t>(c)], soma ? 80.0 : 120.0);
    EXPECT_EQ(rc.model.cm[static_cast<std::size_t>(c)], soma ? 1.0 : 1.5);
  }
  // The junction node at soma(1) is joined by the soma's last half segment (Ra 80).
  for (int i = 1; i < g.n_nodes(); ++i) {
    const int rc_comp = cellfit::ra_compartment(g, i);
    ASSERT_GE(rc_comp, 0);
    EXPECT_EQ(g.ra_ohm_cm[static_cast<std::size_t>(i)],
              rc.model.ra_ohm_cm[static_cast<std::size_t>(rc_comp)]);
  }
  // Setting Ra per parameter set gives the model that has it in its config (G scales as
  // 1/Ra; the two differ by the rounding of that scaling).
  const auto uniform = cellfit::parse_config(cell_with("120.0"), "uniform.toml", {});
  const auto a = cellfit::simulate_batch(rc.model, {{}}, rc.stimuli, rc.settings);
  const auto b = cellfit::simulate_batch(uniform.model, {{passive("Ra", "soma", {80.0})}},
                                         uniform.stimuli, uniform.settings);
  ASSERT_EQ(a.voltage.size(), b.voltage.size());
  for (std::size_t k = 0; k < a.voltage.size(); ++k)
    ASSERT_NEAR(a.voltage[k], b.voltage[k], 1e-9) << k;
}

// A batch in which cells have their own cm and Ra: every cell equals its run alone, bit for
// bit, and a cell with the model's values equals the shared-matrix run.
TEST(passive, cells_of_one_batch_have_their_own_matrix) {
  const auto rc = cellfit::parse_config(cell, "cell.toml", {});
  const std::vector<cellfit::parameter_set> sets = {
      {},
      {passive("cm", "soma", {2.0}), passive("Ra", "basal", {300.0})},
      {passive("Ra", "all", {40.0})},
  };
  const auto all = cellfit::simulate_batch(rc.model, sets, rc.stimuli, rc.settings);
  const std::size_t per_cell = all.voltage.size() / sets.size();
  std::vector<double> spikes_at_end(sets.size());
  for (std::size_t k = 0; k < sets.size(); ++k) {
    const auto one = cellfit::simulate_batch(rc.model, {sets[k]}, rc.stimuli, rc.settings);
    ASSERT_EQ(one.voltage.size(), per_cell);
    for (std::size_t q = 0; q < per_cell; ++q) {
      ASSERT_EQ(one.voltage[q], all.voltage[k * per_cell + q]) << "set " << k << " sample " << q;
    }
    spikes_at_end[k] = one.voltage[per_cell - 1];
  }
  // The properties act: different sets, different traces.
  EXPECT_NE(spikes_at_end[0], spikes_at_end[1]);
  EXPECT_NE(spikes_at_end[0], spikes_at_end[2]);
}

// dL/dp of fitted cm, Ra (per section list, and cm per compartment), e_pas and a channel
// density, through the parameter space, against central finite differences of the loss.
TEST(passive, fitted_cm_and_ra_gradients_match_finite_differences) {
  const std::string fit = cell + R"(
[[fit.parameter]]
name = "cm@soma"
bounds = [0.5, 3.0]
[[fit.parameter]]
name = "cm"
scope = "per_compartment"
bounds = [0.5, 3.0]
[[fit.parameter]]
name = "Ra@soma"
bounds = [20.0, 400.0]
transform = "log"
[[fit.parameter]]
name = "Ra@basal"
bounds = [20.0, 400.0]
[[fit.parameter]]
name = "pas.e"
bounds = [-90.0, -50.0]
[[fit.parameter]]
name = "hh.gnabar"
bounds = [0.05, 0.3]
)";
  // cm@soma and cm per_compartment overlap at the soma: refused; fit the dendrite's values.
  auto rc = cellfit::parse_config(fit, "fit.toml", {});
  EXPECT_THROW(cellfit::parameter_space(rc.model, rc.fit.parameters), cellfit::config_error);
  rc.fit.parameters[1].scope = "basal";
  const cellfit::parameter_space space(rc.model, rc.fit.parameters);
  ASSERT_TRUE(space.has_passive());
  auto truth = space.model_values();
  for (std::size_t i = 0; i < truth.size(); ++i) truth[i] *= i % 2 ? 0.9 : 1.15;
  const double worst = cellfit::test::check_space_gradient(rc, space, truth);
  std::printf("  %zu parameters, worst relative difference to finite differences %.2e\n",
              space.size(), worst);
  const auto& s = rc.settings;
  const auto target = cellfit::simulate_batch(rc.model, {space.to_set(truth)}, rc.stimuli, s);
  const auto x = space.to_optimizer(space.model_values());
  cellfit::adjoint_options opt;
  opt.passive_gradient = true;
  const auto g = cellfit::loss_gradient(rc.model, {space.to_set(space.to_physical(x))}, rc.stimuli,
                                        s, target.voltage, opt);
  // Checkpointed: the same gradient, bit for bit.
  opt.checkpoint_every = 7;
  const auto gc = cellfit::loss_gradient(rc.model, {space.to_set(space.to_physical(x))}, rc.stimuli,
                                         s, target.voltage, opt);
  EXPECT_EQ(gc.grad, g.grad);
  // Without passive_gradient, the passive entry is empty and accumulating it is a bug.
  const auto gn = cellfit::loss_gradient(rc.model, {space.to_set(space.to_physical(x))}, rc.stimuli,
                                         s, target.voltage);
  std::vector<double> gq(space.size(), 0.0);
  EXPECT_THROW(space.accumulate(gn.grad[0], gq), cellfit::internal_error);
}

TEST(passive, refusals_name_the_parameter) {
  using cellfit::test::config_refusal;
  const std::string base = cell;
  auto fit_with = [&](const std::string& p) {
    try {
      auto rc = cellfit::parse_config(base + "[[fit.parameter]]\n" + p + "\n", "fit.toml", {});
      cellfit::parameter_space space(rc.model, rc.fit.parameters);
    } catch (const cellfit::config_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(fit_with("name = \"Ra\"\nscope = \"per_compartment\"\nbounds = [10, 200]")
                .find("Ra is one value per section"),
            std::string::npos);
  EXPECT_NE(fit_with("name = \"Ra@basal\"\nbounds = [10, 200]\ndistribution = \"value\"")
                .find("Ra is one value per section"),
            std::string::npos);
  EXPECT_NE(fit_with("name = \"cm\"\nbounds = [0, 2]").find("bounds above 0"), std::string::npos);
  EXPECT_NE(fit_with("name = \"Rm\"\nbounds = [1, 2]").find("mechanism.parameter"),
            std::string::npos);
  EXPECT_NE(config_refusal(base + "[[batch.set]]\n\"Ra@soma\" = -5.0\n").find("must be positive"),
            std::string::npos);
  EXPECT_NE(
      config_refusal(base + "[[batch.set]]\n\"Ra\" = [1.0, 2.0]\n").find("one value per section"),
      std::string::npos);
  EXPECT_NE(config_refusal(base + "[batch]\nvary = [\"Ra\"]\n").find("batch.vary"),
            std::string::npos);
  std::string bad_ra = base;
  bad_ra.replace(bad_ra.find("soma = 80.0"), 11, "soma = -8.0");
  EXPECT_NE(config_refusal(bad_ra).find("model.ra.soma"), std::string::npos);
  std::string bad_list = base;
  bad_list.replace(bad_list.find("soma = 80.0"), 11, "dendrite = 8");
  EXPECT_NE(config_refusal(bad_list).find("unknown section list"), std::string::npos);
  EXPECT_NE(config_refusal(R"(
[model]
morphology = "builtin:chain6"
ra = 100.0
)")
                .find("point model"),
            std::string::npos);
}

}  // namespace

namespace {

// A GLOBAL (Ih's ehcn) is one value per model, fitted like any parameter: one value per
// cell, at every instance, with its exact gradient.
TEST(globals, a_fitted_global_has_the_finite_difference_gradient) {
  const std::string text = cell_with("100.0") + R"(
[model.mechanisms.Ih]
regions = ["all"]
gIhbar = 2e-4
ehcn = -40.0
[[fit.parameter]]
name = "Ih.ehcn"
bounds = [-60.0, -20.0]
[[fit.parameter]]
name = "Ih.gIhbar"
bounds = [1e-5, 1e-3]
transform = "log"
)";
  auto rc = cellfit::parse_config(text, "globals.toml", {});
  const auto* ih = rc.model.placement("Ih");
  ASSERT_NE(ih, nullptr);
  const auto* info = cellfit::find_mechanism("Ih");
  const int k = info->param_index("ehcn");
  ASSERT_TRUE(info->is_global(k));
  for (double e : ih->params[static_cast<std::size_t>(k)]) EXPECT_EQ(e, -40.0);
  const cellfit::parameter_space space(rc.model, rc.fit.parameters);
  auto truth = space.model_values();
  truth[0] = -30.0;
  truth[1] *= 1.3;
  cellfit::test::check_space_gradient(rc, space, truth);
  // One value for the model: not per region, per compartment or distributed.
  rc.fit.parameters[0].scope = "soma";
  EXPECT_THROW(cellfit::parameter_space(rc.model, rc.fit.parameters), cellfit::config_error);
  std::string by_region = text;
  by_region.replace(by_region.find("ehcn = -40.0"), 12, "ehcn = { soma = -40.0 }");
  EXPECT_NE(cellfit::test::config_refusal(by_region).find("a GLOBAL is one number"),
            std::string::npos);
  EXPECT_NE(cellfit::test::config_refusal(text + "[[batch.set]]\n\"Ih.ehcn@soma\" = -30.0\n")
                .find("is a GLOBAL"),
            std::string::npos);
}

}  // namespace

namespace {

// Parameter scopes name locations as stimuli and recordings do: a section, or the node of
// section(x); the most specific scope wins whatever the order of the keys.
TEST(scopes, a_section_and_a_section_point_are_scopes) {
  const std::string text = cell_with("100.0") + R"toml(
[model.mechanisms.Ih]
regions = ["dend[0]"]
gIhbar = { "dend[0](0.3)" = 3e-4, all = 1e-4 }
)toml";
  const auto rc = cellfit::parse_config(text, "scopes.toml", {});
  const auto& g = rc.model.geom;
  const auto dend = cellfit::scope_compartments(rc.model, "dend[0]");
  ASSERT_EQ(dend.size(), 5u);  // the dendrite's five segments, not the soma
  const int point = cellfit::compartment_at(rc.model.morph, g, "dend[0]", 0.3);
  EXPECT_EQ(cellfit::scope_compartments(rc.model, "dend[0](0.3)"), std::vector<int>{point});
  const auto* ih = rc.model.placement("Ih");
  ASSERT_NE(ih, nullptr);
  EXPECT_EQ(ih->compartments, dend);
  for (std::size_t j = 0; j < dend.size(); ++j) {
    EXPECT_EQ(ih->params[0][j], dend[j] == point ? 3e-4 : 1e-4) << j;
  }
  // A fit parameter and an override on a section.
  auto fit = cellfit::parse_config(
      text + "[[fit.parameter]]\nname = \"cm@dend[0]\"\nbounds = [0.5, 3]\n", "fit.toml", {});
  const cellfit::parameter_space space(fit.model, fit.fit.parameters);
  EXPECT_EQ(space.names(), std::vector<std::string>{"cm@dend[0]"});
  const auto values = cellfit::resolve_parameters(fit.model, space.to_set({2.5}));
  const auto& cm = values.back()[cellfit::passive_cm];
  for (int c = 0; c < g.n_compartments(); ++c) {
    const bool in = std::count(dend.begin(), dend.end(), c) > 0;
    EXPECT_EQ(cm[static_cast<std::size_t>(c)], in ? 2.5 : 1.0) << c;
  }
  // Refused: an unknown section, x outside (0, 1), a malformed point, Ra at a point.
  using cellfit::test::config_refusal;
  EXPECT_NE(
      config_refusal(text + "[[batch.set]]\n\"cm@dend[7]\" = 2.0\n").find("soma[0] .. dend[0]"),
      std::string::npos);
  EXPECT_NE(config_refusal(text + "[[batch.set]]\n\"cm@dend[0](1.5)\" = 2.0\n").find("x must"),
            std::string::npos);
  EXPECT_NE(config_refusal(text + "[[batch.set]]\n\"cm@dend[0](0.5\" = 2.0\n")
                .find("expected section(x)"),
            std::string::npos);
  EXPECT_NE(
      config_refusal(text + "[[batch.set]]\n\"Ra@dend[0](0.5)\" = 50.0\n").find("not a point"),
      std::string::npos);
  EXPECT_EQ(config_refusal(text + "[[batch.set]]\n\"Ra@dend[0]\" = 50.0\n"), "");
}

}  // namespace

namespace {

// Protocols of different durations in one gradient: every cell runs to the longest (padded),
// the loss covers each protocol's own samples, and the shorter protocol's gradient is the
// one it has run alone for its own duration.
TEST(gradient_durations, protocols_of_different_durations) {
  const std::string text = R"toml(
[model]
morphology = "builtin:ball_and_stick"
[simulation]
dt_ms = 0.025
t_stop_ms = 16.0
record_every = 4
record_sites = [0, -1]
[[protocol]]
name = "long"
[[protocol.stimulus]]
sites = "soma"
amplitude = 0.5
delay_ms = 1.0
duration_ms = 12.0
[[protocol]]
name = "short"
t_stop_ms = 9.0
[[protocol.stimulus]]
sites = "soma"
amplitude = 0.8
delay_ms = 2.0
duration_ms = 5.0
[[fit.parameter]]
name = "hh.gnabar"
bounds = [0.05, 0.3]
[[fit.parameter]]
name = "hh.gkbar"
bounds = [0.01, 0.1]
)toml";
  const auto rc = cellfit::parse_config(text, "durations.toml", {});
  const cellfit::parameter_space space(rc.model, rc.fit.parameters);
  auto truth = space.model_values();
  truth[0] *= 1.2;
  truth[1] *= 0.85;
  cellfit::test::check_space_gradient(rc, space, truth);

  // The short protocol's gradient equals that of a run of it alone, 9 ms long.
  const auto here = space.to_set(space.model_values());
  const auto target =
      cellfit::simulate_batch(rc.model, {space.to_set(truth)}, rc.stimuli, rc.settings);
  const auto both =
      cellfit::loss_gradient(rc.model, {here}, rc.stimuli, rc.settings, target.voltage);
  ASSERT_EQ(both.n_cells, 2u);
  const std::size_t n_samples = both.n_samples, per_cell = both.n_sites * n_samples;
  // Its trace ends at 9 ms (NaN after), as simulate writes it.
  const std::size_t keep = static_cast<std::size_t>(9.0 / (0.025 * 4)) + 1;
  EXPECT_TRUE(std::isnan(both.voltage[per_cell + keep]));
  EXPECT_FALSE(std::isnan(both.voltage[per_cell + keep - 1]));
  cellfit::simulation_settings alone = rc.settings;
  alone.t_stop_ms = 9.0;
  const auto short_target =
      cellfit::simulate_batch(rc.model, {space.to_set(truth)}, {rc.stimuli[1]}, alone);
  const auto one =
      cellfit::loss_gradient(rc.model, {here}, {rc.stimuli[1]}, alone, short_target.voltage);
  EXPECT_NEAR(both.loss[1], one.loss[0], 1e-12 * one.loss[0]);
  const auto* hh = rc.model.placement("hh");
  ASSERT_NE(hh, nullptr);
  for (std::size_t k = 0; k < both.grad[1][0].size(); ++k) {
    for (std::size_t j = 0; j < both.grad[1][0][k].size(); ++j) {
      const double a = both.grad[1][0][k][j], b = one.grad[0][0][k][j];
      EXPECT_NEAR(a, b, 1e-10 * (1 + std::fabs(b))) << "param " << k << " instance " << j;
    }
  }
}

}  // namespace
