// Discretisation: NEURON's segment areas and axial resistances, Hines order, built-ins.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "common/error.hpp"
#include "model/cable_geometry.hpp"
#include "model/morphology.hpp"

namespace {

constexpr double pi = 3.14159265358979323846;

TEST(geometry, cylinder_areas_and_axial_conductances) {
  // ball_and_stick: soma L = diam = 20, nseg 1; dendrite L 500, diam 2, nseg 5 at soma(1).
  const auto m = cellfit::load_morphology("builtin:ball_and_stick");
  cellfit::discretization_options opt;
  opt.ra_ohm_cm = 100.0;
  const auto g = cellfit::discretize(m, opt);
  ASSERT_EQ(g.n_compartments(), 6);
  ASSERT_EQ(g.n_nodes(), 7);  // + the soma's x = 1 junction node
  EXPECT_NEAR(g.area_um2[0], pi * 20 * 20, 1e-9);
  const int d0 = g.node_of[1];
  EXPECT_NEAR(g.area_um2[static_cast<std::size_t>(d0)], pi * 2 * 100, 1e-9);
  // Half-segment resistance in MOhm: 1e-2 Ra (L/2) / (pi d^2 / 4).
  const auto half = [](double ra, double len, double d) {
    return 1e-2 * ra * len / (pi * d * d / 4);
  };
  const int junction = g.parent[static_cast<std::size_t>(d0)];
  EXPECT_EQ(g.compartment_of[static_cast<std::size_t>(junction)], -1);
  EXPECT_NEAR(1.0 / g.g_axial[static_cast<std::size_t>(junction)], half(100, 10, 20), 1e-12);
  EXPECT_NEAR(1.0 / g.g_axial[static_cast<std::size_t>(d0)], half(100, 50, 2), 1e-9);
  EXPECT_NEAR(1.0 / g.g_axial[static_cast<std::size_t>(g.node_of[2])], 2 * half(100, 50, 2), 1e-9);
}

TEST(geometry, frustum_area_and_resistance) {
  cellfit::morphology m;
  m.source = "frustum";
  cellfit::section s;
  s.type = cellfit::region::soma;
  s.points = {{0, 0, 0, 2}, {10, 0, 0, 4}};
  s.nseg = 1;
  m.sections.push_back(s);
  const auto g = cellfit::discretize(m, {});
  // Truncated cone side area: pi (r1 + r2) sqrt(L^2 + (r2 - r1)^2).
  EXPECT_NEAR(g.area_um2[0], pi * (1 + 2) * std::sqrt(100.0 + 1.0), 1e-9);
}

TEST(geometry, hines_order_and_builtin_tree184) {
  const auto m = cellfit::load_morphology("builtin:tree184");
  std::map<cellfit::region, int> count;
  for (const auto& s : m.sections) ++count[s.type];
  EXPECT_EQ(count[cellfit::region::soma], 1);
  EXPECT_EQ(count[cellfit::region::axon], 1);
  EXPECT_EQ(count[cellfit::region::basal], 101);
  EXPECT_EQ(count[cellfit::region::apical], 81);
  const auto g = cellfit::discretize(m, {});
  EXPECT_EQ(g.n_compartments(), 184);
  EXPECT_EQ(g.parent[0], -1);
  for (int i = 1; i < g.n_nodes(); ++i) {
    EXPECT_GE(g.parent[static_cast<std::size_t>(i)], 0);
    EXPECT_LT(g.parent[static_cast<std::size_t>(i)], i);
    EXPECT_GT(g.g_axial[static_cast<std::size_t>(i)], 0.0);
  }
}

TEST(geometry, max_compartment_length_gives_odd_nseg) {
  const auto m = cellfit::load_morphology("builtin:ball_and_stick");
  cellfit::discretization_options opt;
  opt.max_compartment_um = 40;  // dendrite 500 um -> 13 (odd ceil), soma 20 um -> 1
  const auto g = cellfit::discretize(m, opt);
  EXPECT_EQ(g.nseg[1], 13);
  EXPECT_EQ(g.n_compartments(), 14);
}

TEST(geometry, random_tree_any_size_and_seeded) {
  const auto a = cellfit::discretize(cellfit::load_morphology("builtin:random_tree:500:3"), {});
  const auto b = cellfit::discretize(cellfit::load_morphology("builtin:random_tree:500:3"), {});
  const auto c = cellfit::discretize(cellfit::load_morphology("builtin:random_tree:500:4"), {});
  EXPECT_EQ(a.n_compartments(), 500);
  EXPECT_EQ(a.parent, b.parent);
  EXPECT_NE(a.parent, c.parent);
  EXPECT_THROW(cellfit::load_morphology("builtin:random_tree:0"), cellfit::morphology_error);
  EXPECT_THROW(cellfit::load_morphology("builtin:nope"), cellfit::morphology_error);
}

TEST(geometry, point_model_chain6) {
  const auto m = cellfit::load_morphology("builtin:chain6");
  cellfit::discretization_options opt;
  opt.axial_weight = 0.5;
  const auto g = cellfit::discretize(m, opt);
  ASSERT_EQ(g.n_nodes(), 6);
  for (int i = 1; i < 6; ++i) {
    EXPECT_EQ(g.parent[static_cast<std::size_t>(i)], i - 1);
    EXPECT_DOUBLE_EQ(g.g_axial[static_cast<std::size_t>(i)], 0.5);
  }
}

TEST(geometry, swc_export_keeps_the_tree) {
  const auto m = cellfit::load_morphology("builtin:tree184");
  const std::string path = ::testing::TempDir() + "/tree184.swc";
  cellfit::write_swc(m, path);
  const auto back = cellfit::load_morphology(path);
  const auto g1 = cellfit::discretize(m, {});
  const auto g2 = cellfit::discretize(back, {});
  EXPECT_EQ(g2.n_compartments(), 184);
  EXPECT_EQ(g2.n_nodes(), g1.n_nodes());
  EXPECT_NEAR(g2.area_um2[0], g1.area_um2[0], 1e-9);  // the soma
  // Import3d starts each child section with its parent's diameter, so tapered children gain
  // some area on the way back: the exported SWC is a cell of its own, not a lossless copy.
  EXPECT_GE(g2.total_area_um2, g1.total_area_um2);
}

}  // namespace
