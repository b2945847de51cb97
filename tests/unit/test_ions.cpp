// Ion species: where they exist, NEURON's rules for when e follows Nernst, the values from
// the config, and the refusal of two writers of one concentration.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "common/error.hpp"
#include "io/config.hpp"
#include "model/ion_layout.hpp"

namespace {

cellfit::cell_model model_of(const std::string& mechanisms) {
  return cellfit::parse_config("[model]\nmorphology = \"builtin:ball_and_stick\"\ncelsius = 34.0\n" +
                                   mechanisms,
                               "ions", {})
      .model;
}

const cellfit::ion_layout& species(const std::vector<cellfit::ion_layout>& l, const char* name) {
  return l[static_cast<std::size_t>(cellfit::ion_species_index(name))];
}

TEST(ions, exist_where_their_mechanisms_are_and_follow_neurons_nernst_rules) {
  // Ca_HVA reads eca only: a fixed eca (NEURON's 132.458 default), no dynamics.
  auto l = cellfit::layout_ions(model_of("[model.mechanisms.Ca_HVA]\nregions = \"soma\"\n"));
  const auto& ca = species(l, "ca");
  ASSERT_EQ(ca.nodes.size(), 1u);
  EXPECT_FALSE(ca.nernst);
  EXPECT_FALSE(ca.dynamic);
  EXPECT_DOUBLE_EQ(ca.e0_mv[0], 132.4579341637009);
  EXPECT_TRUE(species(l, "na").nodes.empty());

  // With CaDynamics_E2 writing cai: Nernst every step, summed currents, dynamic.
  l = cellfit::layout_ions(model_of(
      "[model.mechanisms.Ca_HVA]\nregions = \"soma\"\n[model.mechanisms.CaDynamics_E2]\n"
      "regions = \"soma\"\n"));
  const auto& ca2 = species(l, "ca");
  EXPECT_TRUE(ca2.nernst && ca2.accumulate && ca2.written && ca2.dynamic);
  // NEURON's nrn_nernst at 34 C for cai 5e-5, cao 2 (R, F of NEURON 9).
  const double ktf = 1000.0 * 8.31446261815324 * (34.0 + 273.15) / 96485.33212331001;
  EXPECT_NEAR(ca2.nernst_mv * std::log(2.0 / 5e-5), ktf / 2 * std::log(2.0 / 5e-5), 1e-12);

  // Per compartment, as NEURON decides per section: Ca_HVA on the dendrite without
  // CaDynamics_E2 there keeps the fixed eca; the soma, where cai is written, follows Nernst.
  l = cellfit::layout_ions(model_of(
      "[model.mechanisms.Ca_HVA]\nregions = \"all\"\n[model.mechanisms.CaDynamics_E2]\n"
      "regions = \"soma\"\n"));
  const auto& ca3 = species(l, "ca");
  ASSERT_EQ(ca3.nodes.size(), 6u);
  EXPECT_EQ(ca3.nernst_at[0], 1);
  for (std::size_t r = 1; r < 6; ++r) EXPECT_EQ(ca3.nernst_at[r], 0) << r;

  // style = "fixed" keeps e; values per region from the config.
  l = cellfit::layout_ions(model_of(
      "[model.mechanisms.NaTs2_t]\nregions = \"all\"\n[model.ions.na]\ne = { all = 50.0, "
      "soma = 55.0 }\n"));
  const auto& na = species(l, "na");
  ASSERT_EQ(na.nodes.size(), 6u);
  EXPECT_EQ(na.e0_mv[0], 55.0);
  EXPECT_EQ(na.e0_mv[5], 50.0);
  EXPECT_FALSE(na.dynamic);
  l = cellfit::layout_ions(model_of(
      "[model.mechanisms.Ca_HVA]\nregions = \"soma\"\n[model.mechanisms.CaDynamics_E2]\n"
      "regions = \"soma\"\n[model.ions.ca]\nstyle = \"fixed\"\ne = 120.0\n"));
  EXPECT_FALSE(species(l, "ca").nernst);
  EXPECT_EQ(species(l, "ca").e0_mv[0], 120.0);
}

TEST(ions, two_writers_of_one_concentration_are_refused) {
  auto m = model_of("[model.mechanisms.CaDynamics_E2]\nregions = \"all\"\n");
  m.mechanisms.push_back(m.mechanisms.back());  // a second writer of cai at the same nodes
  try {
    cellfit::layout_ions(m);
    FAIL() << "accepted two writers of cai";
  } catch (const cellfit::config_error& e) {
    EXPECT_NE(std::string(e.what()).find("both write cai in the same compartment"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
