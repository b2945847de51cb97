// Parameter densities as functions of path distance from the soma: the expression language
// (BluePyOpt's spelling and the plain one), named shapes, fixed parameters in
// [model.mechanisms], fitted parameters (linear factors, the weighted gradient against
// finite differences), --set, and the one-line errors for bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "common/error.hpp"
#include "io/config.hpp"
#include "model/distance_function.hpp"
#include "model/parameter_space.hpp"
#include "sim/batch_simulator.hpp"
#include "sim/gradient.hpp"
#include "space_gradient.hpp"

namespace {

using cellfit::distance_function;

const char* l5pc_ih = "(-0.8696 + 2.087*math.exp(({distance})*0.0031))*{value}";

TEST(distance_function, bluepyopt_and_plain_spellings_agree_with_python) {
  const distance_function bpo(l5pc_ih);
  const distance_function plain("(-0.8696 + 2.087*exp(distance*0.0031))*value");
  EXPECT_EQ(bpo.expression(), "(-0.8696 + 2.087*exp((distance)*0.0031))*value");
  EXPECT_TRUE(bpo.uses_value());
  for (double d : {0.0, 12.5, 350.0, 1234.5678}) {
    // Python: (-0.8696 + 2.087*math.exp((d)*0.0031))*v, operation for operation.
    const double want = (-0.8696 + 2.087 * std::exp(d * 0.0031)) * 8e-5;
    EXPECT_EQ(bpo(d, 8e-5), want) << d;
    EXPECT_EQ(plain(d, 8e-5), want) << d;
  }
  // Python's precedence: ** right associative and above unary minus; comparisons are 0/1.
  EXPECT_EQ(distance_function("-{distance}**2")(3, 0), -9);
  EXPECT_EQ(distance_function("2**3**2")(0, 0), 512);
  EXPECT_EQ(distance_function("(distance > 100) * value")(150, 2), 2);
  EXPECT_EQ(distance_function("distance < 100 ? value : 0")(150, 2), 0);
  // Python's constants, every digit.
  EXPECT_EQ(distance_function("math.pi")(0, 0), 3.14159265358979323846);
  EXPECT_EQ(distance_function("math.e")(0, 0), 2.71828182845904523536);
  EXPECT_EQ(distance_function("pi + _pi")(0, 0), 2 * 3.14159265358979323846);
  EXPECT_FALSE(distance_function("exp(distance/100)").uses_value());
}

std::string error_of(const std::string& text) {
  try {
    distance_function f(text);
  } catch (const cellfit::config_error& e) {
    return e.what();
  }
  return "";
}

TEST(distance_function, bad_expressions_say_where) {
  EXPECT_NE(error_of("value*(distance+").find("at column 17"), std::string::npos)
      << error_of("value*(distance+");
  EXPECT_NE(error_of("value*foo(distance)").find("unknown name 'foo'"), std::string::npos);
  EXPECT_NE(error_of("value*foo(distance)").find("at column 7"), std::string::npos);
  EXPECT_NE(error_of("value*dist").find("unknown name 'dist'"), std::string::npos);
  EXPECT_NE(error_of("{constant}*{value}").find("unknown placeholder {constant}"),
            std::string::npos);
  EXPECT_NE(error_of("{distance*value").find("'{' without '}'"), std::string::npos);
  EXPECT_NE(error_of("distance = 3").find("assigns"), std::string::npos);
  EXPECT_NE(error_of("1, 2").find("several"), std::string::npos);
  EXPECT_NE(error_of(" ").find("empty"), std::string::npos);
  // A column in the text as written, not in its translation.
  EXPECT_NE(error_of("math.exp({distance}) ** * 2").find("at column 25"), std::string::npos)
      << error_of("math.exp({distance}) ** * 2");
}

TEST(distance_function, shapes_expand_to_their_formulas) {
  using cellfit::find_distribution_shape;
  using cellfit::shape_expression;
  const double d = 432.1, v = 2.5;
  const distance_function lin(
      shape_expression(*find_distribution_shape("linear"), {{"slope", 0.01}}));
  EXPECT_DOUBLE_EQ(lin(d, v), v * (1 + 0.01 * d));
  const distance_function ex(
      shape_expression(*find_distribution_shape("exponential"),
                       {{"offset", -0.8696}, {"scale", 2.087}, {"rate", 0.0031}}));
  EXPECT_EQ(ex(d, v), distance_function(l5pc_ih)(d, v));  // bit for bit
  const distance_function sig(
      shape_expression(*find_distribution_shape("sigmoid"),
                       {{"scale", 15.0}, {"midpoint", 300.0}, {"width", 50.0}}));
  EXPECT_DOUBLE_EQ(sig(d, v), v * 15 / (1 + std::exp((300 - d) / 50)));
  const distance_function step(
      shape_expression(*find_distribution_shape("step"),
                       {{"start", 685.0}, {"end", 885.0}, {"inside", 10.0}, {"outside", 1.0}}));
  EXPECT_EQ(step(684.9, v), v);
  EXPECT_EQ(step(685, v), 10 * v);
  EXPECT_EQ(step(885, v), 10 * v);
  EXPECT_EQ(step(885.1, v), v);
  const distance_function open(
      shape_expression(*find_distribution_shape("step"), {{"start", 100.0}}));
  EXPECT_EQ(open(1e6, v), v);
  EXPECT_EQ(open(99, v), 0);
  EXPECT_THROW(shape_expression(*find_distribution_shape("exponential"), {}),
               cellfit::config_error);
  EXPECT_THROW(
      shape_expression(*find_distribution_shape("sigmoid"), {{"midpoint", 1.0}, {"width", 0.0}}),
      cellfit::config_error);
}

// branched.swc: soma, basal and apical trees, an axon; nseg 3 so that distances vary along
// each section.
std::string branched(const std::string& mechanisms, const std::string& rest = "") {
  return std::string(R"(
[model]
morphology = ")") +
         CELLFIT_SOURCE_DIR + R"(/examples/data/branched.swc"
nseg = 3
)" + mechanisms +
         R"(
[simulation]
dt_ms = 0.025
t_stop_ms = 6.0
record_every = 2
record_sites = [0, 4, 13]
[[stimulus]]
sites = [0]
amplitude = 0.6
delay_ms = 1.0
)" + rest;
}

const char* ih_mechanisms = R"(
[model.distributions]
exp = "(-0.8696 + 2.087*math.exp(({distance})*0.0031))*{value}"
rise = { shape = "linear", slope = 0.004 }
[model.mechanisms.Ih]
regions = ["soma", "basal", "apical"]
gIhbar = { all = 8e-5, apical = { value = 8e-5, distribution = "exp" } }
[model.mechanisms.pas]
g = { value = 3e-5, distribution = "rise" }
e = -75.0
)";

TEST(distribution_config, fixed_parameters_follow_path_distance) {
  const auto rc = cellfit::parse_config(branched(ih_mechanisms), "dist.toml", {});
  const auto& m = rc.model;
  const auto* ih = m.placement("Ih");
  const auto* pas = m.placement("pas");
  ASSERT_TRUE(ih && pas);
  int apical = 0;
  for (std::size_t j = 0; j < ih->compartments.size(); ++j) {
    const int c = ih->compartments[j];
    const double d = m.geom.distance_um[static_cast<std::size_t>(c)];
    if (m.geom.region_of[static_cast<std::size_t>(c)] == cellfit::region::apical) {
      ++apical;
      EXPECT_EQ(ih->params[0][j], (-0.8696 + 2.087 * std::exp(d * 0.0031)) * 8e-5) << c;
    } else {
      EXPECT_EQ(ih->params[0][j], 8e-5) << c;
    }
  }
  EXPECT_GT(apical, 3);
  for (std::size_t j = 0; j < pas->compartments.size(); ++j) {
    const double d = m.geom.distance_um[static_cast<std::size_t>(pas->compartments[j])];
    EXPECT_DOUBLE_EQ(pas->params[0][j], 3e-5 * (1 + 0.004 * d));
  }
  EXPECT_EQ(m.distributions.count("exp"), 1u);
  // The same with the expression written in place, and with the shape: the same values.
  const auto inline_expr = cellfit::parse_config(branched(R"(
[model.mechanisms.Ih]
regions = ["soma", "basal", "apical"]
gIhbar = { apical = { value = 8e-5, distribution = "(-0.8696 + 2.087*exp(distance*0.0031))*value" }, all = 8e-5 }
[model.mechanisms.pas]
g = { value = 3e-5, distribution = { shape = "linear", slope = 0.004 } }
e = -75.0
)"),
                                                 "inline.toml", {});
  EXPECT_EQ(inline_expr.model.placement("Ih")->params, ih->params);
  // BluePyOpt's dist_param_names: numbers for the placeholders.
  const auto with_params = cellfit::parse_config(branched(R"(
[model.distributions]
exp = { expression = "({offset} + {scale}*math.exp(({distance})*{rate}))*{value}", offset = -0.8696, scale = 2.087, rate = 0.0031 }
[model.mechanisms.Ih]
regions = ["soma", "basal", "apical"]
gIhbar = { apical = { value = 8e-5, distribution = "exp" }, all = 8e-5 }
)"),
                                                 "params.toml", {});
  EXPECT_EQ(with_params.model.placement("Ih")->params, ih->params);
  EXPECT_EQ(inline_expr.model.placement("pas")->params, pas->params);
}

TEST(distribution_config, round_trips_through_set) {
  const auto base = cellfit::parse_config(branched(ih_mechanisms), "dist.toml", {});
  // Built from a plain model by --set alone.
  const auto set = cellfit::parse_config(
      branched(R"(
[model.mechanisms.Ih]
regions = ["soma", "basal", "apical"]
gIhbar = 8e-5
[model.mechanisms.pas]
g = 3e-5
e = -75.0
)"),
      "plain.toml",
      {"model.distributions.exp=(-0.8696 + 2.087*math.exp(({distance})*0.0031))*{value}",
       "model.distributions.rise.shape=linear", "model.distributions.rise.slope=0.004",
       "model.mechanisms.Ih.gIhbar={ all = 8e-5, apical = { value = 8e-5, distribution = \"exp\" } "
       "}",
       "model.mechanisms.pas.g={ value = 3e-5, distribution = \"x\" }",
       "model.mechanisms.pas.g.distribution=rise"});
  EXPECT_EQ(set.model.placement("Ih")->params, base.model.placement("Ih")->params);
  EXPECT_EQ(set.model.placement("pas")->params, base.model.placement("pas")->params);
  // Every canonical line of the distributed config, given back as --set, changes nothing.
  std::vector<std::string> again;
  for (const auto& line : base.canonical) {
    if (line.rfind("model.distributions", 0) != 0 && line.rfind("model.mechanisms", 0) != 0)
      continue;
    const auto eq = line.find(" = ");
    again.push_back(line.substr(0, eq) + "=" + line.substr(eq + 3));
  }
  ASSERT_FALSE(again.empty());
  const auto back = cellfit::parse_config(branched(ih_mechanisms), "dist.toml", again);
  EXPECT_EQ(back.canonical, base.canonical);
  EXPECT_EQ(back.model.placement("Ih")->params, base.model.placement("Ih")->params);
  // A distribution changed on the command line.
  const auto other = cellfit::parse_config(branched(ih_mechanisms), "dist.toml",
                                           {"model.distributions.exp=value*exp(distance/300)"});
  EXPECT_NE(other.model.placement("Ih")->params, base.model.placement("Ih")->params);
}

// The message of the config error `text` (a [model.mechanisms] block) raises, or "".
std::string config_error_of(const std::string& mechanisms, const std::string& rest = "",
                            const std::vector<std::string>& set = {}) {
  try {
    cellfit::parse_config(branched(mechanisms, rest), "bad.toml", set);
  } catch (const cellfit::config_error& e) {
    return e.what();
  }
  return "";
}

void expect_one_line(const std::string& msg, const std::vector<std::string>& parts) {
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_EQ(msg.rfind("cellfit::config: ", 0), 0u) << msg;
  for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "[" << p << "] " << msg;
}

TEST(distribution_config, bad_distributions_are_one_line_errors) {
  const std::string pre = "[model.mechanisms.pas]\n";
  // Line numbers: branched() puts [model] on line 2, [model.mechanisms.pas] on line 5.
  expect_one_line(
      config_error_of(pre + "g = { value = 1e-4, distribution = \"value*(1 + \" }"),
      {"bad.toml:6", "model.mechanisms.pas.g.distribution", "value*(1 + ", "at column"});
  expect_one_line(config_error_of(pre + "g = { value = 1e-4, distribution = \"value*dist\" }"),
                  {"bad.toml:6", "unknown name 'dist'", "at column 7"});
  expect_one_line(config_error_of(pre + "g = { value = 1e-4, distribution = \"value*cosh2(1)\" }"),
                  {"unknown name 'cosh2'"});
  expect_one_line(config_error_of(pre + "g = { value = 1e-4, distribution = \"expo\" }"),
                  {"no distribution named \"expo\""});
  // NaN below 50 um, negative beyond 100 um: the compartment, its section and distance.
  expect_one_line(
      config_error_of(pre + "g = { value = 1e-4, distribution = \"value*log(distance - 50)\" }"),
      {"bad.toml:6",
       "gives nan at compartment 0 (soma[0](0.166667), 5.33333 um from soma[0](0.5))"});
  expect_one_line(
      config_error_of(pre + "g = { value = 1e-4, distribution = \"value*(1 - distance/100)\" }"),
      {"bad.toml:6", "the opposite sign of the value 0.0001", "dend[", "um from soma[0](0.5)"});
  expect_one_line(
      config_error_of(pre + "g = { value = 1e-4, distribution = \"value*exp(10*distance)\" }"),
      {"gives inf at compartment"});
  // A scope where the mechanism is not inserted.
  expect_one_line(config_error_of("[model.mechanisms.pas]\nregions = \"soma\"\n"
                                  "g = { apical = { value = 1e-4, distribution = \"value\" } }"),
                  {"bad.toml:7", "scope 'apical' selects no compartment where pas is inserted"});
  expect_one_line(
      config_error_of(pre + "g = { sideways = { value = 1e-4, distribution = \"value\" } }"),
      {"bad.toml:6", "sideways"});
  // Declarations and shapes.
  expect_one_line(config_error_of("[model.distributions]\nvalue = \"value\"\n"),
                  {"bad.toml:6", "model.distributions.value", "other than distance and value"});
  expect_one_line(config_error_of("[model.distributions]\nd = { shape = \"cubic\" }\n"),
                  {"model.distributions.d.shape", "unknown shape \"cubic\""});
  expect_one_line(
      config_error_of("[model.distributions]\nd = { shape = \"sigmoid\", width = 5 }\n"),
      {"model.distributions.d.midpoint", "missing"});
  expect_one_line(
      config_error_of("[model.distributions]\nd = { shape = \"linear\", slope = 1, rate = 2 }\n"),
      {"model.distributions.d.rate", "unknown key"});
  expect_one_line(
      config_error_of("[model.distributions]\nd = { expression = \"{c}*{value}\", k = 2 }\n"),
      {"bad.toml:6", "model.distributions.d.k", "no placeholder {k}"});
  expect_one_line(
      config_error_of("[model.distributions]\nd = { expression = \"{c}*{k}*{value}\", k = 2 }\n"),
      {"bad.toml:6", "model.distributions.d", "unknown placeholder {c}"});
  expect_one_line(
      config_error_of("[model.distributions]\nd = { expression = \"{k}*{value}\", k = \"a\" }\n"),
      {"model.distributions.d.k", "expected a number"});
  expect_one_line(config_error_of(pre + "g = { value = 1e-4, distribution = 3 }"),
                  {"expected a string"});
  expect_one_line(config_error_of(pre + "g = { distribution = \"value\" }"),
                  {"model.mechanisms.pas.g.value", "missing"});
  // From --set: named as such.
  expect_one_line(config_error_of(pre + "g = { value = 1e-4 }", "",
                                  {"model.mechanisms.pas.g.distribution=value*("}),
                  {"--set model.mechanisms.pas.g.distribution", "at column"});
  // Point models have no distances.
  try {
    cellfit::parse_config(R"(
[model]
morphology = "builtin:chain6"
[model.mechanisms.jk]
gl = { value = 0.03, distribution = "value" }
)",
                          "point.toml", {});
    ADD_FAILURE() << "a distribution on a point model was accepted";
  } catch (const cellfit::config_error& e) {
    expect_one_line(e.what(), {"point.toml:5", "point model"});
  }
}

// The fit section of a distributed fit on branched.swc.
const char* fit_section = R"(
[fit]
[[fit.parameter]]
name = "Ih.gIhbar@apical"
distribution = "exp"
bounds = [1e-5, 1e-2]
transform = "log"
[[fit.parameter]]
name = "pas.g"
scope = "dend"
distribution = { shape = "sigmoid", offset = 0.5, scale = 1.5, midpoint = 60, width = 20 }
bounds = [1e-6, 1e-3]
[[fit.parameter]]
name = "hh.gnabar@soma"
bounds = [0.01, 1.0]
)";

const char* fit_mechanisms = R"(
[model.distributions]
exp = "(-0.8696 + 2.087*math.exp(({distance})*0.0031))*{value}"
[model.mechanisms.hh]
regions = "soma"
[model.mechanisms.Ih]
regions = ["soma", "basal", "apical"]
gIhbar = { all = 8e-5, apical = { value = 2e-3, distribution = "exp" } }
[model.mechanisms.pas]
g = 3e-5
e = -65.0
)";

TEST(distribution_fit, factors_base_values_and_the_parameter_set) {
  auto rc = cellfit::parse_config(branched(fit_mechanisms, fit_section), "fit.toml", {});
  ASSERT_EQ(rc.fit.parameters.size(), 3u);
  EXPECT_FALSE(rc.fit.parameters[0].distribution.empty());
  const cellfit::parameter_space space(rc.model, rc.fit.parameters);
  ASSERT_EQ(space.size(), 3u);
  // The model's value of a distributed scalar is the base value the model distributed.
  const auto mv = space.model_values();
  EXPECT_NEAR(mv[0], 2e-3, 1e-15);
  double mean = 0;
  int n = 0;
  for (int c : rc.model.placement("pas")->compartments) {
    const auto k = static_cast<std::size_t>(c);
    const cellfit::region r = rc.model.geom.region_of[k];
    if (r != cellfit::region::apical && r != cellfit::region::basal) continue;
    mean += 3e-5 / (0.5 + 1.5 / (1 + std::exp((60 - rc.model.geom.distance_um[k]) / 20)));
    ++n;
  }
  EXPECT_NEAR(mv[1], mean / n, 1e-12 * mv[1]);
  // to_set -> per-instance values = value * factor over the scope, the rest untouched.
  const std::vector<double> p = {4e-3, 2e-5, 0.2};
  const auto values = cellfit::resolve_parameters(rc.model, space.to_set(p));
  const auto& m = rc.model;
  for (std::size_t mi = 0; mi < m.mechanisms.size(); ++mi) {
    const auto& pl = m.mechanisms[mi];
    for (std::size_t j = 0; j < pl.compartments.size(); ++j) {
      const auto c = static_cast<std::size_t>(pl.compartments[j]);
      const double d = m.geom.distance_um[c];
      const cellfit::region r = m.geom.region_of[c];
      if (pl.name == "Ih") {
        const double want = r == cellfit::region::apical
                                ? 4e-3 * ((-0.8696 + 2.087 * std::exp(d * 0.0031)) * 1)
                                : 8e-5;
        EXPECT_DOUBLE_EQ(values[mi][0][j], want) << c;
      } else if (pl.name == "pas") {
        const bool dend = r == cellfit::region::apical || r == cellfit::region::basal;
        const double want = dend ? 2e-5 * (0.5 + 1.5 / (1 + std::exp((60 - d) / 20))) : 3e-5;
        EXPECT_DOUBLE_EQ(values[mi][0][j], want) << c;
      }
    }
  }
  // accumulate weights the per-instance gradient by the factors.
  std::vector<std::vector<std::vector<double>>> grad;
  for (const auto& pl : m.mechanisms) {
    grad.emplace_back(pl.params.size(), std::vector<double>(pl.compartments.size(), 1.0));
  }
  std::vector<double> g(3, 0.0);
  space.accumulate(grad, g);
  double want_ih = 0;
  const auto* ih = m.placement("Ih");
  for (int c : ih->compartments) {
    if (m.geom.region_of[static_cast<std::size_t>(c)] == cellfit::region::apical)
      want_ih +=
          -0.8696 + 2.087 * std::exp(m.geom.distance_um[static_cast<std::size_t>(c)] * 0.0031);
  }
  EXPECT_NEAR(g[0], want_ih, 1e-12 * want_ih);
  EXPECT_EQ(g[2], static_cast<double>(m.placement("hh")->compartments.size()));
}

TEST(distribution_fit, non_linear_and_empty_distributions_are_refused) {
  auto refused = [](const std::string& param) {
    try {
      auto rc = cellfit::parse_config(
          branched(fit_mechanisms, "[fit]\n[[fit.parameter]]\n" + param), "fit.toml", {});
      cellfit::parameter_space space(rc.model, rc.fit.parameters);
    } catch (const cellfit::config_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string head = "name = \"pas.g\"\nbounds = [1e-6, 1e-3]\n";
  expect_one_line(
      refused(head + "distribution = \"value + 1e-7*distance\""),
      {"fit.toml:", "fit.parameter[0]", "not linear in value", "value + 1e-7*distance"});
  expect_one_line(refused(head + "distribution = \"value^2\""), {"not linear in value"});
  expect_one_line(refused(head + "distribution = \"value*(1 - distance/50)\""),
                  {"negative factor", "um from soma[0](0.5)"});
  expect_one_line(refused(head + "distribution = \"value*log(distance)\""),
                  {"gives -inf for value 1 at compartment 1 (soma[0](0.5), 0 um"});
  expect_one_line(refused(head + "distribution = \"value*(distance > 1e6)\""),
                  {"the distribution is 0 at every compartment"});
  expect_one_line(refused(head + "scope = \"per_compartment\"\ndistribution = \"value\""),
                  {"fit.parameter[0].distribution", "per_compartment"});
  expect_one_line(refused(head + "distribution = \"exq\""), {"no distribution named \"exq\""});
  expect_one_line(
      refused("name = \"hh.gnabar@apical\"\nbounds = [0.01, 1]\ndistribution = \"value\""),
      {"not inserted in region apical"});
}

// dL/dx through the distributions and transforms against central finite differences of the
// simulated loss.
TEST(distribution_fit, gradient_matches_finite_differences) {
  auto rc = cellfit::parse_config(branched(fit_mechanisms, fit_section), "grad.toml", {});
  const cellfit::parameter_space space(rc.model, rc.fit.parameters);
  auto truth = space.model_values();
  for (std::size_t i = 0; i < truth.size(); ++i) truth[i] *= i % 2 ? 0.8 : 1.25;
  cellfit::test::check_space_gradient(rc, space, truth);
}

}  // namespace
