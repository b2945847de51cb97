#pragma once
// BluePyOpt's axon replacement (NrnFileMorphology with do_replace_axon = True): the axon of a
// reconstructed cell is cut where reconstructions lose it and replaced by a 60 um stub of two
// sections, as in Blue Brain's L5PC models. docs/morphology.md states the rule.

#include <vector>

#include "model/morphology.hpp"

namespace cellfit {

// The stub BluePyOpt puts in place of the axon: two sections of this length each.
constexpr double replacement_axon_section_um = 30.0;

// The morphology with every axon section deleted and two new sections appended in NEURON's
// section order: axon[0] (its 0 end on soma[0](1)) and axon[1] (on axon[0](1)), each 30 um
// long, without 3-D points (section::has_pt3d false) and of nseg 1 (BluePyOpt's
// 1 + 2 int(30 / 40), set after its nseg rule, so section::keeps_nseg). Their diameters are
// taken from the old axon as BluePyOpt takes them: no axon, 1 um each; one section, its diam
// for both; several, axon[0]'s diam for axon[0] and for axon[1] the diam of the first axon
// section whose middle lies more than 60 um from soma[0](0.5) (axon[0]'s again when none
// does). "diam" is NEURON's sec.diam, the segment holding x = 0.5, so it depends on the nseg
// each section has when the replacement runs: nseg[s] for section s of `m` (BluePyOpt sets
// nseg before it replaces the axon).
// Throws morphology_error for a point model, a cell without soma[0], and a cell where a
// section that is not axon hangs on the axon (deleting the axon would cut it off).
morphology replace_axon(const morphology& m, const std::vector<int>& nseg);

}  // namespace cellfit
