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

// Reads and checks an SWC file: lines end at \n, \r\n or \r; exactly 7 numeric fields per
// sample line; unique ids, parents that exist, no cycles, one connected tree, finite
// coordinates and positive finite radii. Samples are returned in file order. Throws
// morphology_error (bad content) or io_error (unreadable file).
std::vector<swc_sample> read_swc(const std::string& path);

// The same checks on text already in memory; `name` is used in messages.
std::vector<swc_sample> parse_swc(const std::string& text, const std::string& name);

}  // namespace cellfit
