#pragma once
// Where each ion species of the catalogue exists in a model (the nodes of the mechanisms
// that use it, NEURON's rule: an ion is present in a section when a mechanism there uses
// it), its values at initialisation, and how it behaves during a run. Host code.

#include <vector>

#include "model/cell_model.hpp"

namespace cellfit {

struct ion_layout {
  std::vector<int> nodes;  // rows: the nodes where the species exists, ascending
  std::vector<double> e0_mv, ci0_mm, co0_mm;  // [row] values at initialisation
  std::vector<char> nernst_at;  // [row] e from ci, co at initialisation and every step there
  bool nernst = false;          // at some row
  bool accumulate = false;  // some mechanism reads the summed current
  bool written = false;     // some mechanism writes a concentration
  bool dynamic = false;     // any of the three: the values change during a run
  double nernst_mv = 0;     // RT/(zF) in mV at the model's celsius
  int row_of(int node) const;  // -1 if absent
};

// NEURON 9's constants (its nrnunits.lib, not the legacy ones): R in J/(K mol),
// FARADAY in C/mol.
inline constexpr double gas_constant = 8.31446261815324;
inline constexpr double faraday_constant = 96485.33212331001;

// One layout per species of the catalogue's ion table. Throws config_error for two
// mechanisms writing the same concentration at one compartment, or a species outside na,
// k, ca that a mechanism reads while neither the config nor a mechanism gives its values.
std::vector<ion_layout> layout_ions(const cell_model& m);

// Index of a species in the catalogue's ion table, -1 if unknown.
int ion_species_index(const std::string& name);

}  // namespace cellfit
