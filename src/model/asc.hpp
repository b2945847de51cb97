#pragma once
// Neurolucida ASC (V3 text) reader that builds the cell NEURON's Import3d_Neurolucida3 and
// Import3d_GUI.instantiate() build from the same file: the soma contour turned into
// Import3d's centroid section, the trees (Axon, Dendrite, Apical) attached to it, sections
// named and ordered as in NEURON. What is read and what is skipped: docs/morphology.md.

#include <string>

#include "model/morphology.hpp"

namespace cellfit {

// Reads and converts an .asc file. Every refusal is a morphology_error
// "cellfit::asc: FILE:LINE: ..." naming the offending token or value (an unreadable file is
// an io_error).
morphology read_asc(const std::string& path);

// The same on text already in memory; `name` is used as the source and in messages.
morphology parse_asc(const std::string& text, const std::string& name);

}  // namespace cellfit
