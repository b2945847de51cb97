#pragma once
// Writes the discretised model under /model in an HDF5 file: one row per compartment with
// its section, position and geometry, so results can be mapped back onto the morphology.

#include "io/h5.hpp"
#include "model/cell_model.hpp"

namespace cellfit::app {

void write_model(h5::file& f, const cell_model& m);

// 3-D position (um) of a point at fraction x along a section (linear in arc length).
point3d point_at(const section& s, double x);

}  // namespace cellfit::app
