#pragma once
// The last step NEURON's Import3d takes for every file format (Import3d_GUI.instantiate):
// from the reader's list of sections to NEURON sections. Shared by the SWC and the
// Neurolucida readers so that both name, drop and round sections the same way.

#include <cstddef>
#include <string>
#include <vector>

#include "model/morphology.hpp"

namespace cellfit {

// Import3d's name for a section type: 1 soma, 2 axon, 3 dend, 4 apic, other n >= 0 dend_n,
// negative n minus_n.
std::string import3d_type_name(int type);

// One section as a reader lists it, before instantiate().
struct import3d_section {
  int type = 0;           // the reader's type number (SWC type; ASC: 1 soma, 2/3/4 trees, 0)
  int parent = -1;        // index into the list handed to import3d_instantiate, -1 for a root
  double parent_x = 1.0;  // where on the parent the 0 end attaches
  // The points NEURON gets with pt3dadd, unrounded: a section connected by a wire (Import3d's
  // `first = 1`) already lacks the wire's start point.
  std::vector<point3d> points;
  // Position in Import3d's own section list: names are counted per type in this order.
  std::size_t list_position = 0;
  std::string origin;  // "FILE:LINE" (and ": sample ID") for messages
};

// Import3d_GUI.instantiate():
//  * non-root sections with one point, or with two points at the same place, are dropped
//    and their children attach where the dropped section attached (chk_valid/rm0len);
//  * names are type[i], i counting each type in list_position order;
//  * points are rounded as NEURON stores them.
// Sections come out in list_position order when every parent precedes its children in it,
// otherwise in the given order (see the .cpp).
// Preconditions: every parent precedes its children in `list`; list_positions are distinct.
// `reader` ("swc", "asc") starts messages. Throws morphology_error for a section that is
// left with zero length or fewer than two points.
morphology import3d_instantiate(std::vector<import3d_section> list, const std::string& source,
                                const std::string& reader);

}  // namespace cellfit
