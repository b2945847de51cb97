#pragma once
// SWC reader (NeuroMorpho conventions). Validates the file completely before anything uses
// it: every refusal names the file, the line and the sample id.

#include <string>
#include <vector>

namespace cellfit {

struct swc_sample {
  int id = 0;
  int type = 0;  // 1 soma, 2 axon, 3 basal dendrite, 4 apical dendrite, others kept as is
  double x = 0, y = 0, z = 0;  // um
  double radius = 0;           // um
  int parent = -1;             // sample id, -1 for a root
  int line = 0;                // 1-based line in the file
};

// Ranges of the numeric fields, in um, far beyond any real cell in any unit an SWC file
// uses. Coordinates and radii are stored in single precision (as NEURON's pt3d does) and
// enter lengths, areas and axial resistances; within these ranges all of those stay finite
// and non-zero, so a bad value is refused at its own line rather than far downstream.
inline constexpr double swc_max_abs_coordinate_um = 1e9;
inline constexpr double swc_min_radius_um = 1e-6;
inline constexpr double swc_max_radius_um = 1e6;

// Whether a coordinate or a radius, stored as NEURON stores it (detail/neuron_float.hpp),
// lies in the ranges above. The SWC writer asks the same of every value it writes, so that
// whatever the reader accepts exports to a file it accepts again.
bool swc_coordinate_in_range(double v_um);
bool swc_radius_in_range(double r_um);

// Reads and checks an SWC file: lines end at \n, \r\n or \r; exactly 7 numeric fields per
// sample line; unique ids, parents that exist, no cycles, one connected tree, coordinates
// and radii in the ranges above. Samples are returned in file order. Throws morphology_error
// (bad content) or io_error (unreadable file, a directory).
std::vector<swc_sample> read_swc(const std::string& path);

// The same checks on text already in memory; `name` is used in messages.
std::vector<swc_sample> parse_swc(const std::string& text, const std::string& name);

}  // namespace cellfit
