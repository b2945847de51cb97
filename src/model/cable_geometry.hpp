#pragma once
// Discretisation of a morphology into the nodes of the cable equation, with NEURON's
// semantics: a section of nseg segments has a node at each segment centre; a child attached
// at its parent's 1 end (or 0 end of the root) attaches to a zero-area node there, exactly
// like NEURON's x = 1 node; a child attached anywhere else attaches to the centre node of the
// parent segment that contains the point. Segment areas and axial resistances integrate
// the truncated cones between 3-D points (NEURON's nrn_area_ri / diam_from_list).
//
// Nodes are numbered in Hines order (every node's parent has a smaller index, node 0 is
// the root). Compartments are the nodes that have membrane (segment centres), numbered in
// the same order; zero-area junction nodes are internal to the solver.

#include <map>
#include <string>
#include <vector>

#include "model/morphology.hpp"

namespace cellfit {

// The most segments one section may have (refused beyond, rather than overflowing).
constexpr int max_nseg = 100000;

struct discretization_options {
  int nseg = 0;                   // > 0: every section gets this nseg
  std::map<region, int> nseg_by_region;  // > 0: sections of that region get this nseg
  double max_compartment_um = 0;  // > 0: nseg = max(nseg, odd ceil(L / max))
  double ra_ohm_cm = 35.4;        // axial resistivity (cable models)
  double axial_weight = 0.5;      // conductance between neighbours (point models)
};

struct cable_geometry {
  bool point_model = false;
  std::vector<int> parent;          // [node] -1 for the root
  std::vector<double> area_um2;     // [node] 0 for junction nodes; 1 in point models
  std::vector<double> g_axial;      // [node] to parent: uS (cable) or model units (point)
  std::vector<int> section_of;      // [node]
  std::vector<double> x;            // [node] position along the section, 0..1
  std::vector<int> compartment_of;  // [node] compartment index or -1
  std::vector<int> node_of;         // [compartment] node index
  std::vector<region> region_of;    // [compartment]
  std::vector<int> nseg;            // [section]
  double total_area_um2 = 0;

  int n_nodes() const { return static_cast<int>(parent.size()); }
  int n_compartments() const { return static_cast<int>(node_of.size()); }
};

cable_geometry discretize(const morphology& m, const discretization_options& opt);

// Compartment indices of a region name ("all", "soma", "axon", "basal", "apical", "dend" =
// basal and apical). Throws config_error for an unknown name.
std::vector<int> compartments_in_region(const cable_geometry& g, const std::string& name);

}  // namespace cellfit
