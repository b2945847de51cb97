// Path distances as NEURON's distance() measures them, BluePyOpt's soma-distance location, and
// the { section_list, soma_distance_um } site that names it in a config.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "config_refusal.hpp"
#include "io/config.hpp"
#include "model/cable_geometry.hpp"
#include "model/morphology.hpp"
#include "model/soma_distance.hpp"

namespace {

using cellfit::test::config_refusal;

std::string point_refusal(const cellfit::morphology& m, const std::vector<int>& nseg,
                          const std::string& list, double d) {
  try {
    cellfit::soma_distance_point(m, nseg, list, d);
  } catch (const cellfit::config_error& e) {
    return e.what();
  }
  return "";
}

TEST(soma_distance, distances_are_measured_between_nodes) {
  // ball_and_stick: soma[0] L 20, dend[0] L 500 on soma[0](1).
  const auto m = cellfit::load_morphology("builtin:ball_and_stick");
  const std::vector<int> nseg{1, 5};
  EXPECT_DOUBLE_EQ(cellfit::neuron_distance_um(m, nseg, 1, 0.0), 10.0);
  EXPECT_DOUBLE_EQ(cellfit::neuron_distance_um(m, nseg, 1, 1.0), 510.0);
  EXPECT_DOUBLE_EQ(cellfit::neuron_distance_um(m, nseg, 1, 0.5), 260.0);
  // Inside a section x is rounded to its segment's centre (0.15 -> 0.1).
  EXPECT_DOUBLE_EQ(cellfit::neuron_distance_um(m, nseg, 1, 0.15), 60.0);
  EXPECT_DOUBLE_EQ(cellfit::neuron_distance_um(m, nseg, 0, 0.2), 0.0);
  EXPECT_DOUBLE_EQ(cellfit::neuron_distance_um(m, nseg, 0, 0.0), 10.0);
  // An even soma: the origin soma[0](0.5) is the centre of its second segment, x = 0.75.
  EXPECT_DOUBLE_EQ(cellfit::neuron_distance_um(m, {2, 5}, 1, 0.0), 5.0);
  EXPECT_DOUBLE_EQ(cellfit::neuron_distance_um(m, {2, 5}, 0, 0.0), 15.0);
}

TEST(soma_distance, children_inside_a_parent_branch_off_at_its_node) {
  // A section on dend(0.3) of nseg 3 leaves from the centre of dend's first segment.
  cellfit::morphology m = cellfit::load_morphology("builtin:ball_and_stick");
  cellfit::section c = m.sections[1];
  c.parent = 1;
  c.parent_x = 0.3;
  c.name = "dend[1]";
  m.sections.push_back(c);
  EXPECT_NEAR(cellfit::neuron_distance_um(m, {1, 3, 1}, 2, 0.0), 10 + 500.0 / 6, 1e-12);
  EXPECT_NEAR(cellfit::neuron_distance_um(m, {1, 3, 1}, 2, 1.0), 10 + 500.0 / 6 + 500, 1e-12);
}

TEST(soma_distance, picks_the_last_section_that_spans_the_distance) {
  const auto m = cellfit::load_morphology("builtin:tree184");
  const std::vector<int> nseg(m.sections.size(), 3);
  const double d = 150;
  int last = -1;
  int candidates = 0;
  for (std::size_t s = 0; s < m.sections.size(); ++s) {
    if (m.sections[s].type != cellfit::region::basal) continue;
    const int si = static_cast<int>(s);
    const double a = cellfit::neuron_distance_um(m, nseg, si, 0.0);
    const double b = cellfit::neuron_distance_um(m, nseg, si, 1.0);
    if (a <= d && d <= b) {
      last = si;
      ++candidates;
    }
  }
  ASSERT_GT(candidates, 1);
  const auto p = cellfit::soma_distance_point(m, nseg, "basal", d);
  EXPECT_EQ(p.section, last);
  const double a = cellfit::neuron_distance_um(m, nseg, last, 0.0);
  const double b = cellfit::neuron_distance_um(m, nseg, last, 1.0);
  EXPECT_DOUBLE_EQ(p.x, (d - a) / (b - a));
}

TEST(soma_distance, resolves_to_the_compartment_of_section_x) {
  const auto m = cellfit::load_morphology("builtin:ball_and_stick");
  cellfit::discretization_options opt;
  const auto g = cellfit::discretize(m, opt);
  // 260 um: dend[0](0.5), its third segment, compartment 3; 61 um: x = 0.102, compartment 1.
  EXPECT_EQ(cellfit::soma_distance_compartment(m, g, "basal", 260), 3);
  EXPECT_EQ(cellfit::soma_distance_compartment(m, g, "alldend", 61), 1);
  EXPECT_EQ(cellfit::soma_distance_compartment(m, g, "allsect", 509), 5);
}

TEST(soma_distance, refusals_say_why) {
  const auto m = cellfit::load_morphology("builtin:ball_and_stick");
  const std::vector<int> nseg{1, 5};
  EXPECT_NE(point_refusal(m, nseg, "basal", 600).find("beyond the farthest point of basal (510 um"),
            std::string::npos);
  EXPECT_NE(point_refusal(m, nseg, "basal", 5).find("basal spans 10 .. 510 um"), std::string::npos);
  EXPECT_NE(point_refusal(m, nseg, "basal", -1).find("finite and >= 0, got -1"), std::string::npos);
  EXPECT_NE(point_refusal(m, nseg, "basal", std::nan("")).find("finite"), std::string::npos);
  EXPECT_NE(point_refusal(m, nseg, "dendrites", 10).find("unknown section list 'dendrites'"),
            std::string::npos);
  EXPECT_NE(point_refusal(m, nseg, "axonal", 10).find("axonal has no section"), std::string::npos);
  EXPECT_NE(point_refusal(m, nseg, "basal", 510).find("lands on the 1 end of dend[0]"),
            std::string::npos);
  EXPECT_NE(point_refusal(m, nseg, "somatic", 10).find("equally far"), std::string::npos);
}

TEST(soma_distance, config_sites_at_a_distance) {
  const auto rc = cellfit::parse_config(
      "[simulation]\nrecord_sites = [0, { section_list = \"basal\", soma_distance_um = 260 },\n"
      "  { section_list = \"alldend\", soma_distance_um = 61.0 }]\n",
      "run.toml", {});
  EXPECT_EQ(rc.settings.record_compartments, (std::vector<int>{0, 3, 1}));
  const auto one = cellfit::parse_config(
      "[simulation]\nrecord_sites = { section_list = \"apical\", soma_distance_um = 300 }\n"
      "[model]\nmorphology = \"builtin:tree184\"\n",
      "run.toml", {});
  ASSERT_EQ(one.settings.record_compartments.size(), 1u);
  const int c = one.settings.record_compartments[0];
  EXPECT_EQ(one.model.geom.region_of[static_cast<std::size_t>(c)], cellfit::region::apical);
}

TEST(soma_distance, config_refusals_name_file_line_and_value) {
  const std::string beyond = config_refusal(
      "[simulation]\nrecord_sites = [0,\n  { section_list = \"basal\", soma_distance_um = 600 "
      "}]\n");
  EXPECT_NE(beyond.find("run.toml:3: simulation.record_sites: soma_distance_um = 600 lies beyond "
                        "the farthest point of basal (510 um from soma[0](0.5))"),
            std::string::npos)
      << beyond;
  const std::string negative = config_refusal(
      "[simulation]\nrecord_sites = { section_list = \"basal\", soma_distance_um = -5 }\n");
  EXPECT_NE(negative.find("run.toml:2: simulation.record_sites: soma_distance_um must be finite "
                          "and >= 0, got -5"),
            std::string::npos)
      << negative;
  const std::string infinite = config_refusal(
      "[simulation]\nrecord_sites = { section_list = \"basal\", soma_distance_um = inf }\n");
  EXPECT_NE(infinite.find("run.toml:2: simulation.record_sites.soma_distance_um: value is not "
                          "finite"),
            std::string::npos)
      << infinite;
  const std::string unknown = config_refusal(
      "[simulation]\nrecord_sites = { section_list = \"dendrites\", soma_distance_um = 5 }\n");
  EXPECT_NE(unknown.find("run.toml:2: simulation.record_sites: unknown section list 'dendrites'"),
            std::string::npos)
      << unknown;
  const std::string extra = config_refusal(
      "[simulation]\nrecord_sites = { section_list = \"basal\", soma_distance_um = 50, x = 0.5 "
      "}\n");
  EXPECT_NE(extra.find("run.toml:2: simulation.record_sites.x: unknown key"), std::string::npos)
      << extra;
  const std::string missing =
      config_refusal("[simulation]\nrecord_sites = { section_list = \"basal\" }\n");
  EXPECT_NE(missing.find("run.toml:2: simulation.record_sites: a point at a distance needs "
                         "section_list and soma_distance_um"),
            std::string::npos)
      << missing;
  const std::string typed =
      config_refusal("[simulation]\nrecord_sites = { section_list = 4, soma_distance_um = 50 }\n");
  EXPECT_NE(typed.find("simulation.record_sites.section_list: expected a string"),
            std::string::npos)
      << typed;
  const std::string point = config_refusal(
      "[model]\nmorphology = \"builtin:chain6\"\n[simulation]\n"
      "record_sites = { section_list = \"basal\", soma_distance_um = 5 }\n");
  EXPECT_NE(point.find("run.toml:4: simulation.record_sites: builtin:chain6 is a point model"),
            std::string::npos)
      << point;
}

}  // namespace
