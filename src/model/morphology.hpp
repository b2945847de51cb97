#pragma once
// Sections of a neuron, each an unbranched cable described by 3-D points (NEURON's pt3d),
// connected into a tree. Built from SWC and Neurolucida ASC files the way NEURON's Import3d
// does it (names included: docs/morphology.md), or by the built-in generators.
// Discretisation into compartments is in cable_geometry.hpp.

#include <cstdint>
#include <string>
#include <vector>

#include "model/swc.hpp"

namespace cellfit {

enum class region : int { soma = 1, axon = 2, basal = 3, apical = 4, other = 5 };

const char* region_name(region r);
// region of an SWC type (1-4; anything else is `other`).
region region_of_swc_type(int type);

struct point3d {
  double x = 0, y = 0, z = 0;  // um
  double diam = 0;             // um
};

struct section {
  std::string name;  // "soma[0]", "dend[12]", ... (NEURON Import3d names)
  region type = region::other;
  int parent = -1;              // parent section, -1 for the root; parent < own index
  double parent_x = 1.0;        // where on the parent this section's 0 end attaches
  std::vector<point3d> points;  // at least two
  int nseg = 1;
  // false: a section NEURON holds without 3-D points, its L and diam set directly
  // (BluePyOpt's replacement axon); `points` then hold a straight cylinder of that L and diam
  // so that geometry, export and plots treat it like any other section.
  bool has_pt3d = true;
  // true: nseg rules leave `nseg` as it is (BluePyOpt sets the replacement axon's nseg after
  // its own rule has run); explicit model.nseg entries still apply.
  bool keeps_nseg = false;

  double length_um() const;
  // Diameter averaged over the length (NEURON's diam of a one-segment section).
  double mean_diam_um() const;
};

struct morphology {
  std::string source;  // file name or builtin:... spec
  std::vector<section> sections;
  // Point-compartment graph for models with no geometry (paper 000's jk toy): every section
  // is one compartment with the given axial weight to its parent.
  bool point_model = false;
  // A compartment graph given by values (model/value_graph.hpp): one section per compartment,
  // named as it, with a nominal geometry; there are no 3-D points, lengths or path distances.
  bool value_graph = false;
};

// Loads a morphology spec: a path to an .swc or .asc file (the extension, in any case, picks
// the reader) or one of
//   builtin:ball_and_stick      soma (L = diam = 20 um) + a 500 um, 2 um dendrite of nseg 5
//   builtin:chain6              6 point compartments in a line (paper 000 toy)
//   builtin:tree184             soma, axon, 101 basal and 81 apical sections (nseg 1 each)
//   builtin:random_tree:N[:SEED] a seeded random tree of N single-compartment sections
// Throws morphology_error / io_error with the spec, file and line.
morphology load_morphology(const std::string& spec);

// NEURON Import3d's interpretation of SWC samples (soma conventions, section splitting,
// section names in file order of each section's first sample).
morphology morphology_from_swc(const std::vector<swc_sample>& samples, const std::string& source);

// Writes the morphology as SWC (three-point soma, one sample per 3-D point, children
// connected at their parent's 1 end or the soma centre) so that NEURON's Import3d and
// cellfit read back the same cell. Throws io_error.
void write_swc(const morphology& m, const std::string& path);

}  // namespace cellfit
