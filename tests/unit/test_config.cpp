// Config errors name the file, line and key; overrides apply; values are checked.
#include <gtest/gtest.h>

#include <string>

#include "common/error.hpp"
#include "io/config.hpp"

namespace {

std::string config_refusal(const std::string& text, const std::vector<std::string>& sets = {}) {
  try {
    cellfit::parse_config(text, "run.toml", sets);
  } catch (const cellfit::config_error& e) {
    return e.what();
  } catch (const cellfit::usage_error& e) {
    return e.what();
  }
  return "";
}

TEST(config, defaults_give_the_builtin_problem) {
  const auto rc = cellfit::load_config("", {});
  EXPECT_EQ(rc.source, "builtin:default");
  EXPECT_EQ(rc.model.geom.n_compartments(), 6);
  EXPECT_EQ(rc.sets.size(), 4u);
  EXPECT_EQ(rc.stimuli.size(), 6u);
}

TEST(config, unknown_key_names_file_line_and_key) {
  const auto m = config_refusal("[model]\nmorphology = \"builtin:chain6\"\n\n[simulation]\ndt = 0.1\n");
  EXPECT_NE(m.find("run.toml:5"), std::string::npos) << m;
  EXPECT_NE(m.find("simulation.dt"), std::string::npos) << m;
  EXPECT_NE(m.find("unknown key"), std::string::npos) << m;
}

TEST(config, wrong_type_and_impossible_values) {
  EXPECT_NE(config_refusal("[simulation]\ndt_ms = \"fast\"\n").find("expected a number"), std::string::npos);
  EXPECT_NE(config_refusal("[simulation]\ndt_ms = -0.1\n").find("must be positive"), std::string::npos);
  EXPECT_NE(config_refusal("[simulation]\ndt_ms = nan\n").find("not finite"), std::string::npos);
  EXPECT_NE(config_refusal("[simulation]\nt_stop_ms = 1.01\ndt_ms = 0.025\n").find("whole number"),
            std::string::npos);
  EXPECT_NE(config_refusal("[simulation]\nprecision = \"fp16\"\n").find("fp16"), std::string::npos);
  EXPECT_NE(config_refusal("[simulation]\nrecord_sites = [0, 17]\n").find("out of range"), std::string::npos);
  EXPECT_NE(config_refusal("[simulation]\nrecord_sites = \"dendrites\"\n").find("unknown region"),
            std::string::npos);
  EXPECT_NE(config_refusal("[model.mechanisms.hh]\ngnabar = -inf\n").find("not finite"), std::string::npos);
  EXPECT_NE(config_refusal("[model.mechanisms.hh]\ngnax = 1\n").find("model.mechanisms.hh.gnax"),
            std::string::npos);
  EXPECT_NE(config_refusal("[[stimulus]]\ntype = \"pulse\"\nsites = [0]\n").find("unknown stimulus type"),
            std::string::npos);
  EXPECT_NE(config_refusal("[batch]\nvary = [\"hh.gx\"]\n").find("hh.gx"), std::string::npos);
  EXPECT_NE(config_refusal("[model\n").find("syntax error"), std::string::npos);
}

TEST(config, set_overrides_apply_and_are_checked) {
  const auto rc = cellfit::parse_config("[simulation]\ndt_ms = 0.1\n[[stimulus]]\nsites = [0]\namplitude = 1.0\n",
                                        "run.toml",
                                        {"simulation.dt_ms=0.05", "model.morphology=builtin:tree184",
                                         "stimulus.0.amplitude=2.5"});
  EXPECT_DOUBLE_EQ(rc.settings.dt_ms, 0.05);
  EXPECT_EQ(rc.model.geom.n_compartments(), 184);
  EXPECT_DOUBLE_EQ(rc.stimuli[0].components[0].amplitude, 2.5);
  EXPECT_NE(config_refusal("", {"simulation.bogus=1"}).find("simulation.bogus"), std::string::npos);
  EXPECT_NE(config_refusal("", {"simulation"}).find("section.key=value"), std::string::npos);
  EXPECT_NE(config_refusal("[[stimulus]]\nsites = [0]\n", {"stimulus.3.amplitude=1"}).find("not an index"),
            std::string::npos);
}

TEST(config, regions_and_per_region_parameters) {
  const auto rc = cellfit::parse_config(R"(
[model]
morphology = "builtin:ball_and_stick"
cm = {default = 1.0, basal = 2.0}
[model.mechanisms.hh]
regions = "soma"
gnabar = {soma = 0.2}
[model.mechanisms.pas]
regions = ["basal"]
e = -65.0
)",
                                        "run.toml", {});
  ASSERT_EQ(rc.model.mechanisms.size(), 2u);
  EXPECT_EQ(rc.model.mechanisms[0].compartments, std::vector<int>{0});
  EXPECT_DOUBLE_EQ(rc.model.mechanisms[0].params[0][0], 0.2);
  EXPECT_EQ(rc.model.mechanisms[1].compartments.size(), 5u);
  EXPECT_DOUBLE_EQ(rc.model.mechanisms[1].params[1][4], -65.0);
  EXPECT_DOUBLE_EQ(rc.model.cm[0], 1.0);
  EXPECT_DOUBLE_EQ(rc.model.cm[3], 2.0);
}

TEST(config, missing_files) {
  EXPECT_THROW(cellfit::load_config("/nonexistent/run.toml", {}), cellfit::io_error);
  EXPECT_THROW(cellfit::parse_config("[model]\nmorphology = \"/nonexistent.swc\"\n", "run.toml", {}),
               cellfit::io_error);
}

}  // namespace
