#pragma once
// Path distances from the soma as NEURON's distance() measures them, and BluePyOpt's
// soma-distance location (NrnSomaDistanceCompLocation) built on them.

#include <string>
#include <vector>

#include "model/cable_geometry.hpp"
#include "model/morphology.hpp"

namespace cellfit {

// NEURON's distance(1, x) of section `sec` with the origin set by distance(0, 0.5) on
// soma[0]: the path length (um) along the sections between two node positions. A point x is
// the section's end for x = 0 or 1 and otherwise the centre of the segment holding x (so is
// the origin, and so is where a child attached inside its parent branches off). nseg[s] is
// the nseg of section s. Throws morphology_error when there is no soma[0].
double neuron_distance_um(const morphology& m, const std::vector<int>& nseg, int sec, double x);

struct section_point {
  int section = -1;
  double x = 0;
};

// BluePyOpt's NrnSomaDistanceCompLocation(soma_distance = distance_um, seclist_name = list):
// every section of the list, in section order, whose distances at x = 0 and x = 1 (above)
// bracket distance_um (ends included) is a candidate at
// x = (distance_um - nearer) / (farther - nearer); the last candidate wins.
// Throws config_error (messages start "cellfit::config: ") for an unknown list, a negative or
// non-finite distance, a distance no section of the list reaches (naming the farthest), and
// a point that lands on a section end (x = 0 or 1: NEURON's zero-area node there is no
// compartment) or on a section with both ends equally far (BluePyOpt divides by zero).
section_point soma_distance_point(const morphology& m, const std::vector<int>& nseg,
                                  const std::string& list, double distance_um);

// The compartment NEURON uses for that section(x) (compartment_at's rule).
int soma_distance_compartment(const morphology& m, const cable_geometry& g, const std::string& list,
                              double distance_um);

}  // namespace cellfit
