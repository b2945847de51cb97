// Config errors name the file, line and key; overrides apply; values are checked.
#include <gtest/gtest.h>

#include <string>

#include "common/error.hpp"
#include "common/suggest.hpp"
#include "config_refusal.hpp"
#include "io/config.hpp"

namespace {

using cellfit::test::config_refusal;

TEST(config, defaults_give_the_builtin_problem) {
  const auto rc = cellfit::load_config("", {});
  EXPECT_EQ(rc.source, "builtin:default");
  EXPECT_EQ(rc.model.geom.n_compartments(), 6);
  EXPECT_EQ(rc.sets.size(), 4u);
  EXPECT_EQ(rc.stimuli.size(), 6u);
}

TEST(config, unknown_key_names_file_line_and_key) {
  const auto m =
      config_refusal("[model]\nmorphology = \"builtin:chain6\"\n\n[simulation]\ndt = 0.1\n");
  EXPECT_NE(m.find("run.toml:5"), std::string::npos) << m;
  EXPECT_NE(m.find("simulation.dt"), std::string::npos) << m;
  EXPECT_NE(m.find("unknown key"), std::string::npos) << m;
}

TEST(config, mistyped_names_get_the_closest_known_one) {
  using cellfit::closest_name;
  using cellfit::edit_distance;
  EXPECT_EQ(edit_distance("dtms", "dt_ms"), 1u);
  EXPECT_EQ(edit_distance("gnbaar", "gnabar"), 1u);  // a swap of neighbours counts once
  EXPECT_EQ(edit_distance("Spikecount", "spikecount"), 0u);
  EXPECT_EQ(closest_name("optimiser", {"optimizer", "epochs", "lr"}), "optimizer");
  EXPECT_EQ(closest_name("tstop", {"t_stop_ms", "dt_ms"}), "");  // too far to be a typo
  EXPECT_EQ(closest_name("xyz", {"lr", "epochs"}), "");
  // In the messages: keys of a table, mechanisms, stimulus types (a mechanism's parameters:
  // tests/cli/test_fit.sh).
  EXPECT_NE(config_refusal("[simulation]\ndtms = 0.1\n")
                .find("run.toml:2: simulation.dtms: unknown key (did you mean 'dt_ms'?)"),
            std::string::npos);
  EXPECT_NE(config_refusal("", {"fit.gradient.optimiser=\"adam\""})
                .find("--set fit.gradient.optimiser: unknown key (did you mean 'optimizer'?)"),
            std::string::npos);
  EXPECT_NE(config_refusal("[model.mechanisms.hhh]\nregions = \"soma\"\n")
                .find("unknown mechanism (did you mean 'hh'?)"),
            std::string::npos);
  EXPECT_NE(config_refusal("[[stimulus]]\ntype = \"stpe\"\nsites = [0]\n")
                .find("unknown stimulus type 'stpe' (did you mean 'step'?)"),
            std::string::npos);
  EXPECT_NE(config_refusal("", {"simulation.record_sites=[\"soma\", \"apicl\"]"})
                .find("unknown region 'apicl' (did you mean 'apical'?)"),
            std::string::npos);
}

TEST(config, a_region_list_naming_an_absent_region_is_refused) {
  const std::string head = "[model]\nmorphology = \"builtin:ball_and_stick\"\n";
  const std::string m =
      config_refusal(head + "[model.mechanisms.hh]\nregions = [\"soma\", \"axon\"]\n");
  EXPECT_NE(m.find("run.toml:4: model.mechanisms.hh.regions: 'axon' selects no compartment of "
                   "builtin:ball_and_stick (its regions: soma, basal, dend)"),
            std::string::npos)
      << m;
  EXPECT_EQ(config_refusal(head + "[model.mechanisms.hh]\nregions = [\"soma\", \"dend\"]\n"), "");
}

TEST(config, wrong_type_and_impossible_values) {
  EXPECT_NE(config_refusal("[simulation]\ndt_ms = \"fast\"\n").find("expected a number"),
            std::string::npos);
  EXPECT_NE(config_refusal("[simulation]\ndt_ms = -0.1\n")
                .find("run.toml:2: simulation.dt_ms: must be > 0, got -0.1"),
            std::string::npos);
  EXPECT_NE(config_refusal("[simulation]\ndt_ms = nan\n").find("not finite"), std::string::npos);
  EXPECT_NE(config_refusal("[simulation]\nt_stop_ms = 1.01\ndt_ms = 0.025\n")
                .find("whole, positive number"),
            std::string::npos);
  EXPECT_NE(config_refusal("[simulation]\nprecision = \"fp16\"\n").find("fp16"), std::string::npos);
  EXPECT_NE(config_refusal("[simulation]\nrecord_sites = [0, 17]\n").find("out of range"),
            std::string::npos);
  EXPECT_NE(config_refusal("[simulation]\nrecord_sites = \"dendrites\"\n").find("unknown region"),
            std::string::npos);
  EXPECT_NE(config_refusal("[model.mechanisms.hh]\ngnabar = -inf\n").find("not finite"),
            std::string::npos);
  EXPECT_NE(config_refusal("[model.mechanisms.hh]\ngnax = 1\n").find("model.mechanisms.hh.gnax"),
            std::string::npos);
  EXPECT_NE(
      config_refusal("[[stimulus]]\ntype = \"pulse\"\nsites = [0]\n").find("unknown stimulus type"),
      std::string::npos);
  EXPECT_NE(config_refusal("[batch]\nvary = [\"hh.gx\"]\n").find("hh.gx"), std::string::npos);
  EXPECT_NE(config_refusal("[model\n").find("syntax error"), std::string::npos);
}

TEST(config, range_errors_name_the_value_and_keys_must_apply) {
  EXPECT_NE(
      config_refusal("[model]\n\n\nnseg = -1\n").find("run.toml:4: model.nseg: must be in [0"),
      std::string::npos);
  EXPECT_NE(config_refusal("", {"simulation.dt_ms=-1"}).find("--set simulation.dt_ms"),
            std::string::npos);
  EXPECT_NE(config_refusal("", {"model.nseg=4294967297"}).find("must be in"), std::string::npos);
  EXPECT_NE(config_refusal("", {"model.max_compartment_um=1e-300"}).find("more than 100000"),
            std::string::npos);
  EXPECT_NE(config_refusal("", {"model.v_init=300"}).find("model.v_init: must be in"),
            std::string::npos);
  EXPECT_NE(config_refusal("[model]\nv_init = -150\n[simulation]\nv_bound_mv = 100\n")
                .find("initial potential"),
            std::string::npos);
  EXPECT_NE(config_refusal("[[stimulus]]\nsites = [0]\ncount = 3\n")
                .find("stimulus[0].count: unknown key"),
            std::string::npos);
  EXPECT_NE(config_refusal("[[stimulus]]\ntype = \"holding\"\nsites = [0]\ndelay_ms = 3\n")
                .find("unknown key"),
            std::string::npos);
  EXPECT_NE(config_refusal("[batch]\nseed = 3\n[[batch.set]]\n\"hh.gl\" = 0.001\n")
                .find("does not apply"),
            std::string::npos);
  EXPECT_NE(config_refusal("[batch]\nvary = [\"hh.gnabar@soma\"]\n").find("without a region"),
            std::string::npos);
  EXPECT_NE(
      config_refusal("[model.mechanisms.hh]\nregions = \"axon\"\n").find("selects no compartment"),
      std::string::npos);
}

TEST(config, overlapping_scopes_apply_broadest_first) {
  for (const char* table : {"{all = 0.5, soma = 0.1}", "{soma = 0.1, all = 0.5}"}) {
    const auto rc = cellfit::parse_config(
        std::string("[model.mechanisms.hh]\ngnabar = ") + table + "\n", "run.toml", {});
    EXPECT_DOUBLE_EQ(rc.model.mechanisms[0].params[0][0], 0.1);  // soma
    EXPECT_DOUBLE_EQ(rc.model.mechanisms[0].params[0][3], 0.5);  // dendrite
  }
  const auto rc =
      cellfit::parse_config("[model]\ncm = {basal = 2.0, dend = 1.5}\n", "run.toml", {});
  EXPECT_DOUBLE_EQ(rc.model.cm[2], 2.0);
}

TEST(config, sites_are_unique_and_random_step_tables_differ) {
  const auto rc = cellfit::parse_config(R"(
[[stimulus]]
sites = [0, 0, "soma"]
amplitude = 0.5
[[stimulus]]
type = "random_steps"
sites = [1]
[[stimulus]]
type = "random_steps"
sites = [1]
)",
                                        "run.toml", {});
  EXPECT_EQ(rc.stimuli[0].components[0].sites, std::vector<int>{0});
  EXPECT_NE(rc.stimuli[1].components[0].levels, rc.stimuli[2].components[0].levels);
}

TEST(config, set_overrides_apply_and_are_checked) {
  const auto rc = cellfit::parse_config(
      "[simulation]\ndt_ms = 0.1\n[[stimulus]]\nsites = [0]\namplitude = 1.0\n", "run.toml",
      {"simulation.dt_ms=0.05", "model.morphology=builtin:tree184", "stimulus.0.amplitude=2.5"});
  EXPECT_DOUBLE_EQ(rc.settings.dt_ms, 0.05);
  EXPECT_EQ(rc.model.geom.n_compartments(), 184);
  EXPECT_DOUBLE_EQ(rc.stimuli[0].components[0].amplitude, 2.5);
  EXPECT_NE(config_refusal("", {"simulation.bogus=1"}).find("simulation.bogus"), std::string::npos);
  EXPECT_NE(config_refusal("", {"simulation"}).find("section.key=value"), std::string::npos);
  EXPECT_NE(config_refusal("[[stimulus]]\nsites = [0]\n", {"stimulus.3.amplitude=1"})
                .find("not an index"),
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

TEST(config, nseg_by_region_and_point_mode) {
  const auto a = cellfit::parse_config(
      "[model]\nmorphology = \"builtin:tree184\"\nnseg = {soma = 3, apical = 3}\n", "run.toml", {});
  EXPECT_EQ(a.model.geom.n_compartments(), 184 + 2 + 81 * 2);
  const auto b = cellfit::parse_config(
      "[model]\nmorphology = \"builtin:tree184\"\nmode = \"point\"\naxial_weight = 0.01\n",
      "run.toml", {});
  EXPECT_TRUE(b.model.geom.point_model);
  EXPECT_EQ(b.model.geom.n_nodes(), 184);  // no junction nodes in point models
  EXPECT_EQ(b.model.mechanisms[0].name, "jk");
  EXPECT_DOUBLE_EQ(b.model.geom.g_axial[5], 0.01);
  EXPECT_NE(config_refusal("[model]\nmorphology = \"builtin:chain6\"\nmode = \"cable\"\n")
                .find("point model"),
            std::string::npos);
  EXPECT_NE(config_refusal("[model]\nmode = \"sphere\"\n").find("run.toml:2: model.mode"),
            std::string::npos);
}

// toml11 parses nested arrays and inline tables by recursion (a few thousand levels overflow
// the stack) and takes time growing with the square of a dotted key's parts and of a line's
// values: such text is refused before toml11 sees it, naming the line and the limit.
TEST(config, nesting_deeper_than_64_levels_is_refused_before_parsing) {
  const auto npos = std::string::npos;
  const std::string arrays = "a = " + std::string(6000, '[') + std::string(6000, ']') + "\n";
  EXPECT_NE(config_refusal(arrays).find("run.toml:1: nesting deeper than 64 levels: 'a = [[[["),
            npos)
      << config_refusal(arrays);
  std::string tables = "[model]\nx = ";
  for (int i = 0; i < 5000; ++i) tables += "{a=";
  tables += "1" + std::string(5000, '}') + "\n";
  EXPECT_NE(config_refusal(tables).find("run.toml:2: nesting deeper than 64 levels"), npos);
  std::string header = "[a";
  for (int i = 0; i < 30000; ++i) header += ".a";
  EXPECT_NE(config_refusal("# x\n" + header + "]\n").find("run.toml:2: nesting deeper than 64"),
            npos);
  EXPECT_NE(config_refusal(header.substr(1) + " = 1\n").find("run.toml:1: nesting deeper"), npos);
  // Every level counts: table headers, dotted keys, inline tables and arrays.
  std::string mixed = "[a.b]\nc.d = {e = ";
  for (int i = 0; i < 60; ++i) mixed += "[";
  EXPECT_NE(config_refusal(mixed + "\n").find("run.toml:2: nesting deeper than 64"), npos);
  // 64 levels pass on to the key checks; 65 do not.
  const std::string at_limit = "a = " + std::string(63, '[') + std::string(63, ']') + "\n";
  EXPECT_NE(config_refusal(at_limit).find("run.toml:1: a: unknown key"), npos)
      << config_refusal(at_limit);
  const std::string over = "a = " + std::string(64, '[') + std::string(64, ']') + "\n";
  EXPECT_NE(config_refusal(over).find("nesting deeper than 64 levels"), npos);
}

TEST(config, set_values_have_the_same_limits) {
  const auto npos = std::string::npos;
  const auto deep = config_refusal("", {"simulation.dt_ms=" + std::string(6000, '[')});
  EXPECT_NE(deep.find("cellfit::config: --set simulation.dt_ms: nesting deeper than 64 levels"),
            npos)
      << deep;
  std::string tables;
  for (int i = 0; i < 5000; ++i) tables += "{a=";
  EXPECT_NE(config_refusal("", {"model.x=" + tables}).find("nesting deeper"), npos);
  std::string path = "a";
  for (int i = 0; i < 100; ++i) path += ".a";
  EXPECT_NE(config_refusal("", {path + "=1"}).find("nesting deeper than 64 levels"), npos);
  EXPECT_NE(config_refusal("", {"model.x=" + std::string(5000, '7')}).find("longer than 4096"),
            npos);
}

TEST(config, size_and_line_length_are_limited) {
  const auto npos = std::string::npos;
  const std::string big = "[model]\n" + std::string(70000, '#') + "\n";
  EXPECT_EQ(config_refusal(big),
            "cellfit::config: run.toml:2: larger than 65536 bytes, the limit for a config");
  const std::string wide = "[model]\n# " + std::string(5000, 'x') + "\n";
  EXPECT_NE(config_refusal(wide).find("run.toml:2: line longer than 4096 bytes: '# xxxx"), npos)
      << config_refusal(wide);
  std::string values = "a = [";
  for (int i = 0; i < 3000; ++i) values += "1,";
  EXPECT_NE(config_refusal(values + "]\n").find("run.toml:1: line longer than 4096 bytes"), npos);
}

// Brackets, braces, dots and quotes inside strings and comments are not structure.
TEST(config, limits_skip_strings_and_comments) {
  const std::string brackets(100, '[');
  std::string dots = "a";
  for (int i = 0; i < 100; ++i) dots += ".a";
  const std::string body = brackets + "\n" + dots + " = \"x\"\n\"\"\" ' \\";
  const std::string text =
      "# " + brackets + "\n[output] # {{{{\nfile = '''\n" + body + "'''  # " + brackets + "\n";
  EXPECT_EQ(cellfit::parse_config(text, "run.toml", {}).output, body);
  const auto basic = cellfit::parse_config(
      "[output]\nfile = \"" + brackets + "\\\"" + brackets + "\"\n", "run.toml", {});
  EXPECT_EQ(basic.output, brackets + "\"" + brackets);
  const auto set = cellfit::parse_config("", "run.toml", {"output.file='" + brackets + "'"});
  EXPECT_EQ(set.output, brackets);
}

// Whatever the document or a --set holds, a refusal is one printable line with a location.
TEST(config, refusals_are_one_printable_line_with_a_location) {
  const auto npos = std::string::npos;
  // A file the config names that cannot be read is reported at the key that names it.
  const auto missing = [] {
    try {
      cellfit::parse_config("[model]\nmorphology = \"/nonexistent.swc\"\n", "run.toml", {});
    } catch (const cellfit::io_error& e) {
      return std::string(e.what());
    }
    return std::string();
  }();
  EXPECT_NE(missing.find("cellfit::config: run.toml:2: model.morphology: cannot open "
                         "'/nonexistent.swc': No such file or directory"),
            npos)
      << missing;
  const auto unknown = [] {
    try {
      cellfit::parse_config("\n[model]\nmorphology = \"builtin:nope\"\n", "run.toml", {});
    } catch (const cellfit::morphology_error& e) {
      return std::string(e.what());
    }
    return std::string();
  }();
  EXPECT_NE(unknown.find("run.toml:3: model.morphology: unknown built-in"), npos) << unknown;
  // Terminal escapes and tabs in values and keys come out escaped.
  const auto esc = config_refusal("[model]\nmode = \"\\u001b[31m\\tpoint\"\n");
  EXPECT_NE(esc.find("run.toml:2: model.mode: expected \"cable\" or \"point\", got "
                     "\"\\x1b[31m\\x09point\""),
            npos)
      << esc;
  EXPECT_NE(config_refusal("[model]\n\"\\u001b[2J\" = 1\n").find("model.\\x1b[2J: unknown key"),
            npos);
  // A --set that creates tables is located at the override, not in an unknown file.
  EXPECT_EQ(config_refusal("", {"a.b=1"}), "cellfit::config: --set a.b: a: unknown key");
  // A bare --set word with control bytes is a string; one that is not UTF-8 is refused.
  EXPECT_NE(config_refusal("", {"fit.engine=\x1b[31m"}).find("got \"\\x1b[31m\""), npos);
  EXPECT_NE(config_refusal("", {"fit.engine=\xff\xfe"})
                .find("--set fit.engine: '\\xff\\xfe' is neither a TOML value nor a UTF-8 word"),
            npos)
      << config_refusal("", {"fit.engine=\xff\xfe"});
  // toml11's own errors, whatever their kind, become one line.
  for (const char* text : {"a = \"\xff\"\n", "a = \"\"\"\xff\"\"\"\n", "[a]\n[a]\n"}) {
    const auto m = config_refusal(text);
    EXPECT_EQ(m.find('\n'), npos) << m;
    EXPECT_NE(m.find("run.toml:"), npos) << m;
  }
}

TEST(config, a_directory_is_an_io_error) {
  const std::string dir = ::testing::TempDir();
  try {
    cellfit::load_config(dir, {});
    ADD_FAILURE() << "a directory read as a config";
  } catch (const cellfit::io_error& e) {
    EXPECT_EQ(std::string(e.what()), "cellfit::config: " + dir + ": is a directory");
  }
}

TEST(config, missing_files) {
  EXPECT_THROW(cellfit::load_config("/nonexistent/run.toml", {}), cellfit::io_error);
  EXPECT_THROW(
      cellfit::parse_config("[model]\nmorphology = \"/nonexistent.swc\"\n", "run.toml", {}),
      cellfit::io_error);
}

}  // namespace

namespace {

TEST(config, nseg_rules_lists_and_section_names) {
  // tree184: soma, axon, 101 basal, 81 apical sections. BluePyOpt's lists and a section
  // name; the most specific entry wins.
  const auto a = cellfit::parse_config(
      "[model]\nmorphology = \"builtin:tree184\"\n"
      "nseg = {allsect = 3, alldend = 5, apical = 1, \"dend[4]\" = 7}\n",
      "run.toml", {});
  const auto& g = a.model.geom;
  const auto& secs = a.model.morph.sections;
  for (std::size_t s = 0; s < secs.size(); ++s) {
    const int want = secs[s].name == "dend[4]"                 ? 7
                     : secs[s].type == cellfit::region::apical ? 1
                     : secs[s].type == cellfit::region::basal  ? 5
                                                               : 3;
    EXPECT_EQ(g.nseg[s], want) << secs[s].name;
  }
  // BluePyOpt's rule: 1 + 2 int(L / 40); the ball-and-stick dendrite is 500 um, the soma 20.
  const auto b = cellfit::parse_config("[model]\nnseg_rule = \"bluepyopt\"\n", "run.toml", {});
  EXPECT_EQ(b.model.geom.nseg[0], 1);
  EXPECT_EQ(b.model.geom.nseg[1], 1 + 2 * 12);
  // NEURON's plain ceil(L / max): even counts stay even.
  const auto c = cellfit::parse_config(
      "[model]\nnseg_rule = \"max_length\"\nmax_length_um = 50.0\n", "run.toml", {});
  EXPECT_EQ(c.model.geom.nseg[1], 10);
  // d_lambda: more segments at a higher frequency, always odd.
  const auto d1 = cellfit::parse_config("[model]\nnseg_rule = \"d_lambda\"\n", "run.toml", {});
  const auto d2 = cellfit::parse_config(
      "[model]\nnseg_rule = \"d_lambda\"\nd_lambda_freq_hz = 10000.0\ncm = 2.0\n", "run.toml", {});
  EXPECT_EQ(d1.model.geom.nseg[1] % 2, 1);
  EXPECT_EQ(d2.model.geom.nseg[1] % 2, 1);
  EXPECT_GT(d2.model.geom.nseg[1], d1.model.geom.nseg[1]);
}

TEST(config, nseg_rule_errors_name_the_key) {
  EXPECT_NE(config_refusal("[model]\nnseg = {\"dend[99]\" = 3}\n")
                .find("run.toml:2: model.nseg.dend[99]: no section list or section 'dend[99]'"),
            std::string::npos);
  EXPECT_NE(config_refusal("[model]\nnseg = {\"dend[99]\" = 3}\n").find("soma[0] .. dend[0]"),
            std::string::npos);
  EXPECT_NE(
      config_refusal("[model]\nnseg = {axonal = 0}\n").find("model.nseg.axonal: must be in [1"),
      std::string::npos);
  EXPECT_NE(config_refusal("[model]\nnseg = 3\nnseg_rule = \"d_lambda\"\n").find("contradict"),
            std::string::npos);
  EXPECT_NE(
      config_refusal("[model]\nnseg_rule = \"max_length\"\n").find("needs model.max_length_um"),
      std::string::npos);
  EXPECT_NE(config_refusal("[model]\nnseg_rule = \"lambda\"\n").find("run.toml:2: model.nseg_rule"),
            std::string::npos);
  EXPECT_NE(config_refusal("[model]\nd_lambda = 0.1\n").find("model.d_lambda: applies only"),
            std::string::npos);
  EXPECT_NE(
      config_refusal("[model]\nnseg_rule = \"d_lambda\"\nd_lambda = 0.0\n").find("must be in (0"),
      std::string::npos);
}

TEST(config, section_x_sites_follow_neurons_node_rule) {
  // ball_and_stick: soma[0] (nseg 1) is compartment 0, dend[0] (nseg 5) compartments 1..5.
  const auto rc = cellfit::parse_config(
      "[simulation]\nrecord_sites = [\"soma[0](0.5)\", \"dend[0](0.2)\", \"dend[0](0.5)\", "
      "\"dend[0](0.99)\", \"dend[0](0.1999)\"]\n",
      "run.toml", {});
  EXPECT_EQ(rc.settings.record_compartments, (std::vector<int>{0, 2, 3, 5, 1}));
  const auto lists = cellfit::parse_config(
      "[simulation]\nrecord_sites = [\"somatic\", \"alldend\"]\n", "run.toml", {});
  EXPECT_EQ(lists.settings.record_compartments, (std::vector<int>{0, 1, 2, 3, 4, 5}));
  EXPECT_NE(config_refusal("[simulation]\nrecord_sites = \"dend[7](0.5)\"\n")
                .find("run.toml:2: simulation.record_sites: no section 'dend[7]'"),
            std::string::npos);
  EXPECT_NE(config_refusal("[simulation]\nrecord_sites = \"dend[0](1.5)\"\n")
                .find("x must lie inside (0, 1)"),
            std::string::npos);
  EXPECT_NE(config_refusal("[simulation]\nrecord_sites = \"dend[0](1.0)\"\n")
                .find("x must lie inside (0, 1)"),
            std::string::npos);
  EXPECT_NE(config_refusal("[simulation]\nrecord_sites = \"dend[0](half)\"\n")
                .find("expected section(x)"),
            std::string::npos);
  const std::string unknown = config_refusal("[simulation]\nrecord_sites = \"nowhere\"\n");
  EXPECT_NE(unknown.find("run.toml:2: simulation.record_sites: unknown region 'nowhere'"),
            std::string::npos)
      << unknown;
}

TEST(config, ion_values_no_mechanism_uses_are_refused) {
  const std::string why = config_refusal("[model]\n[model.ions.ca]\nci = 5e-5\n");
  EXPECT_NE(why.find("run.toml:2: model.ions.ca: no mechanism of this model uses ca (mechanisms: "
                     "hh): these values would be ignored"),
            std::string::npos)
      << why;
  EXPECT_EQ(config_refusal("[model]\n[model.ions.na]\ne = 55.0\n[model.mechanisms.hh_nmodl]\n"
                           "regions = \"all\"\n"),
            "");
}

}  // namespace
