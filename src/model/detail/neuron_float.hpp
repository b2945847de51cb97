#pragma once
// NEURON stores 3-D points as float and Import3d hands them over as "%.8g" text: cellfit
// stores SWC coordinates and diameters the same way, so that areas and axial resistances
// agree with NEURON to rounding. Shared by the SWC reader (range checks on the stored
// value), the Import3d conversion and the SWC writer.

#include <cstdio>
#include <cstdlib>

namespace cellfit::detail {

// `v` as NEURON stores it. Idempotent: neuron_float(neuron_float(v)) == neuron_float(v).
// Precondition: |v| within single precision's range (the SWC reader checks it first).
inline float neuron_float(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.8g", v);
  return static_cast<float>(std::strtod(buf, nullptr));
}

}  // namespace cellfit::detail
