// BluePyOpt's axon replacement (model.replace_axon): sections, diameters, nseg, refusals.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/error.hpp"
#include "config_refusal.hpp"
#include "io/config.hpp"
#include "model/axon_replacement.hpp"
#include "model/cable_geometry.hpp"
#include "model/morphology.hpp"

namespace {

using cellfit::test::config_refusal;

cellfit::section line(cellfit::region type, int parent, double y0, double y1, double d0,
                      double d1) {
  cellfit::section s;
  s.type = type;
  s.parent = parent;
  s.points = {{0, y0, 0, d0}, {0, y1, 0, d1}};
  return s;
}

// soma[0] from y = 10 to -10 (its 1 end at y = -10), then an axon chain: axon[0] 20 um,
// axon[1] 30 um (its middle 45 um from the soma's centre), axon[2] 80 um tapering 1.2 -> 0.4
// (its middle 100 um away), and a dendrite.
cellfit::morphology chain_axon() {
  cellfit::morphology m;
  m.source = "chain";
  m.sections.push_back(line(cellfit::region::soma, -1, 10, -10, 20, 20));
  m.sections.push_back(line(cellfit::region::axon, 0, -10, -30, 2, 1.6));
  m.sections.push_back(line(cellfit::region::axon, 1, -30, -60, 1.6, 1.2));
  m.sections.push_back(line(cellfit::region::axon, 2, -60, -140, 1.2, 0.4));
  m.sections.push_back(line(cellfit::region::basal, 0, 10, 60, 2, 1));
  const char* names[] = {"soma[0]", "axon[0]", "axon[1]", "axon[2]", "dend[0]"};
  for (std::size_t i = 0; i < m.sections.size(); ++i) m.sections[i].name = names[i];
  return m;
}

TEST(axon_replacement, two_sections_after_the_others) {
  const auto r = cellfit::replace_axon(chain_axon(), {1, 1, 1, 1, 1});
  ASSERT_EQ(r.sections.size(), 4u);
  EXPECT_EQ(r.sections[0].name, "soma[0]");
  EXPECT_EQ(r.sections[1].name, "dend[0]");
  EXPECT_EQ(r.sections[1].parent, 0);
  for (int k = 0; k < 2; ++k) {
    const auto& s = r.sections[static_cast<std::size_t>(2 + k)];
    EXPECT_EQ(s.name, "axon[" + std::to_string(k) + "]");
    EXPECT_EQ(s.type, cellfit::region::axon);
    EXPECT_EQ(s.parent, k == 0 ? 0 : 2);
    EXPECT_EQ(s.parent_x, 1.0);
    EXPECT_DOUBLE_EQ(s.length_um(), 30.0);
    EXPECT_FALSE(s.has_pt3d);
    EXPECT_TRUE(s.keeps_nseg);
    EXPECT_EQ(s.nseg, 1);
  }
  // axon[0]'s diam (1.8, one segment); axon[2] is the first whose middle is beyond 60 um.
  EXPECT_DOUBLE_EQ(r.sections[2].mean_diam_um(), 1.8);
  EXPECT_DOUBLE_EQ(r.sections[3].mean_diam_um(), 0.8);
}

TEST(axon_replacement, diameters_depend_on_the_nseg_before_replacement) {
  // axon[2] with nseg 3: the middle segment, 1.2 -> 0.4 over its middle third, gives 0.8 too;
  // with nseg 2 the segment holding 0.5 is the second half: mean 0.6.
  const auto r = cellfit::replace_axon(chain_axon(), {1, 1, 1, 2, 1});
  EXPECT_DOUBLE_EQ(r.sections[3].mean_diam_um(), 0.6);
  // axon[0] with nseg 2: 0.5 lies in the second half, 1.8 -> 1.6: mean 1.7.
  const auto s = cellfit::replace_axon(chain_axon(), {1, 2, 1, 1, 1});
  EXPECT_DOUBLE_EQ(s.sections[2].mean_diam_um(), 1.7);
}

TEST(axon_replacement, no_axon_one_section_and_a_short_axon) {
  // No axon: 1 um each (ball_and_stick).
  const auto b = cellfit::load_morphology("builtin:ball_and_stick");
  const auto rb = cellfit::replace_axon(b, {1, 5});
  ASSERT_EQ(rb.sections.size(), 4u);
  EXPECT_DOUBLE_EQ(rb.sections[2].mean_diam_um(), 1.0);
  EXPECT_DOUBLE_EQ(rb.sections[3].mean_diam_um(), 1.0);
  // One section (tree184's 400 um, 1 um axon on the soma's middle): its diam for both.
  const auto t = cellfit::load_morphology("builtin:tree184");
  const auto rt = cellfit::replace_axon(t, std::vector<int>(t.sections.size(), 1));
  EXPECT_EQ(rt.sections.size(), t.sections.size() + 1);
  EXPECT_DOUBLE_EQ(rt.sections[rt.sections.size() - 2].mean_diam_um(), 1.0);
  EXPECT_DOUBLE_EQ(rt.sections.back().mean_diam_um(), 1.0);
  // Several sections, none with its middle beyond 60 um: axon[0]'s diam for both.
  auto m = chain_axon();
  m.sections.erase(m.sections.begin() + 3);
  m.sections[3].name = "dend[0]";
  const auto rs = cellfit::replace_axon(m, {1, 1, 1, 1});
  EXPECT_DOUBLE_EQ(rs.sections[3].mean_diam_um(), 1.8);
}

TEST(axon_replacement, refusals) {
  auto m = chain_axon();
  m.sections[4].parent = 2;  // dend[0] on axon[1]
  EXPECT_THROW(cellfit::replace_axon(m, {1, 1, 1, 1, 1}), cellfit::morphology_error);
  auto n = chain_axon();
  n.sections[0].name = "soma_0";
  EXPECT_THROW(cellfit::replace_axon(n, {1, 1, 1, 1, 1}), cellfit::morphology_error);
  const auto c = cellfit::load_morphology("builtin:chain6");
  EXPECT_THROW(cellfit::replace_axon(c, std::vector<int>(c.sections.size(), 1)),
               cellfit::morphology_error);
}

TEST(axon_replacement, config_option) {
  const auto rc = cellfit::parse_config(
      "[model]\nmorphology = \"builtin:tree184\"\nreplace_axon = true\n"
      "nseg_rule = \"bluepyopt\"\nnseg_length_um = 10.0\n",
      "run.toml", {});
  const auto& secs = rc.model.morph.sections;
  ASSERT_EQ(secs.size(), 185u);
  EXPECT_EQ(secs[183].name, "axon[0]");
  EXPECT_EQ(secs[184].name, "axon[1]");
  // The new sections keep BluePyOpt's nseg 1 whatever the rule; the rule gives the others.
  EXPECT_EQ(rc.model.geom.nseg[183], 1);
  EXPECT_EQ(rc.model.geom.nseg[184], 1);
  EXPECT_EQ(rc.model.geom.nseg[0], 1 + 2 * 2);
  // Explicit entries name the new sections.
  const auto named = cellfit::parse_config(
      "[model]\nreplace_axon = true\nnseg = {\"axon[1]\" = 3, axonal = 5}\n", "run.toml", {});
  EXPECT_EQ(named.model.geom.nseg[2], 5);
  EXPECT_EQ(named.model.geom.nseg[3], 3);
  const auto off = cellfit::parse_config("[model]\nreplace_axon = false\n", "run.toml", {});
  EXPECT_EQ(off.model.morph.sections.size(), 2u);
}

TEST(axon_replacement, config_refusals_name_file_line_and_key) {
  const std::string point =
      config_refusal("[model]\nmorphology = \"builtin:chain6\"\nreplace_axon = true\n");
  EXPECT_NE(point.find("run.toml:3: model.replace_axon: builtin:chain6 is a point model"),
            std::string::npos)
      << point;
  const std::string mode = config_refusal("[model]\nmode = \"point\"\n\nreplace_axon = true\n");
  EXPECT_NE(mode.find("run.toml:4: model.replace_axon: builtin:ball_and_stick is a point model"),
            std::string::npos)
      << mode;
  const std::string typed = config_refusal("[model]\nreplace_axon = \"yes\"\n");
  EXPECT_NE(typed.find("run.toml:2: model.replace_axon: expected true or false"), std::string::npos)
      << typed;
  // The old axon's name is gone after replacement; a name it never had is refused as before.
  const std::string gone = config_refusal(
      "[model]\nmorphology = \"builtin:tree184\"\nreplace_axon = true\nnseg = {\"axon[2]\" = 3}\n");
  EXPECT_NE(gone.find("run.toml:4: model.nseg.axon[2]: no section list or section 'axon[2]'"),
            std::string::npos)
      << gone;
}

}  // namespace
