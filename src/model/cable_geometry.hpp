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

// How a section's nseg is chosen when no explicit value names it (model.nseg_rule).
enum class nseg_rule {
  fixed,       // the morphology's nseg (1 for files), or `nseg` for every section
  d_lambda,    // NEURON's d_lambda rule (CellBuilder): odd nseg with segments no longer than
               // d_lambda times the AC length constant at d_lambda_freq_hz
  bluepyopt,   // BluePyOpt's 1 + 2 int(L / nseg_length_um)
  max_length,  // NEURON's plain ceil(L / max_length_um)
};

struct discretization_options {
  int nseg = 0;  // > 0: every section gets this nseg (nseg_rule fixed)
  // Explicit nseg by section list (region names and BluePyOpt's list names, see
  // section_list_rank) and by section name ("apic[3]"); the most specific entry wins and
  // overrides the rule.
  std::map<std::string, int> nseg_by_list;
  std::map<std::string, int> nseg_by_section;
  nseg_rule rule = nseg_rule::fixed;
  double d_lambda = 0.1, d_lambda_freq_hz = 100;  // nseg_rule d_lambda
  double nseg_length_um = 40;                     // nseg_rule bluepyopt
  double max_length_um = 0;                       // nseg_rule max_length
  std::map<region, double> cm_uf_cm2;  // membrane capacitance per region (d_lambda); 1 if absent
  double max_compartment_um = 0;       // > 0: nseg = max(nseg, odd ceil(L / max))
  double ra_ohm_cm = 35.4;             // axial resistivity (cable models)
  std::map<region, double> ra_of;      // per region, overriding ra_ohm_cm (NEURON's sec.Ra)
  double axial_weight = 0.5;           // conductance between neighbours (point models)
};

// Whether a section list name covers a region, and how specific the name is (for
// precedence: allsect 0, alldend/dend 1, one region 2), or -1 for an unknown name. Lists:
// all/allsect, alldend/dend (basal and apical), soma/somatic, axon/axonal, basal, apical,
// other (BluePyOpt's names beside cellfit's region names).
int section_list_rank(const std::string& list);
bool section_list_contains(const std::string& list, region r);

// NEURON's lambda_f(freq): the AC length constant (um) of a section at freq_hz, from its 3-D
// points (stdlib.hoc), for axial resistivity ra_ohm_cm and capacitance cm_uf_cm2.
double lambda_f_um(const section& s, double freq_hz, double ra_ohm_cm, double cm_uf_cm2);

// The nseg a section gets under `opt` (explicit entries, the rule, max_compartment_um). A
// section that keeps its nseg (section::keeps_nseg) is left out of the rule.
int choose_nseg(const section& s, const discretization_options& opt);

// NEURON's sec(x).diam (um) for a section of nseg segments: the diameter averaged over the
// length of the segment that holds x (the first for x = 0, the last for x = 1), integrated
// over the 3-D points as NEURON's diam_from_list does. Precondition: 0 <= x <= 1.
double segment_diam_um(const section& s, int nseg, double x);

struct cable_geometry {
  bool point_model = false;
  std::vector<int> parent;       // [node] -1 for the root
  std::vector<double> area_um2;  // [node] 0 for junction nodes; 1 in point models
  std::vector<double> g_axial;   // [node] to parent: uS (cable) or model units (point)
  // [node] the axial resistivity (ohm cm) g_axial[node] was computed with: that of the
  // node's section, whose half segments alone join the node to its parent. g_axial is
  // proportional to 1/Ra. 0 in point models (no resistivity).
  std::vector<double> ra_ohm_cm;
  std::vector<int> section_of;      // [node]
  std::vector<double> x;            // [node] position along the section, 0..1
  std::vector<int> compartment_of;  // [node] compartment index or -1
  std::vector<int> node_of;         // [compartment] node index
  std::vector<region> region_of;    // [compartment]
  std::vector<int> nseg;            // [section]
  std::vector<double> distance_um;  // [compartment] path distance from the root's middle
  double total_area_um2 = 0;

  int n_nodes() const { return static_cast<int>(parent.size()); }
  int n_compartments() const { return static_cast<int>(node_of.size()); }
};

cable_geometry discretize(const morphology& m, const discretization_options& opt);

// The axial resistivity (ohm cm) of sections of region r under `opt`.
double section_ra_ohm_cm(const discretization_options& opt, region r);

// The compartment whose Ra sets node i's conductance to its parent: the node itself, or for
// a zero-area junction node (a section's 1 end) the segment before it in the same
// section; -1 for the root. Precondition: cable model.
int ra_compartment(const cable_geometry& g, int node);

// Path distance (um) of every compartment from the middle of the root section (soma[0](0.5),
// NEURON's distance() origin as BluePyOpt sets it), along the sections; 0 in point models.
std::vector<double> path_distances_um(const morphology& m, const cable_geometry& g);

// Compartment indices of a region or section list name ("all", "soma", "axon", "basal",
// "apical", "dend" = basal and apical, "other"; BluePyOpt's "allsect", "somatic", "axonal",
// "alldend"). Throws config_error for an unknown name.
std::vector<int> compartments_in_region(const cable_geometry& g, const std::string& name);

// The compartment that serves section(x), 0 < x < 1, by NEURON's node_index() rule (segment
// int(nseg x)). Throws config_error naming the valid sections or x.
int compartment_at(const morphology& m, const cable_geometry& g, const std::string& name, double x);

// The compartment of the point "soma" names (an IClamp's site, a feature's): soma[0](0.5), or
// in a value graph its soma compartment (the first of region soma). Throws config_error if
// there is none.
int soma_point(const morphology& m, const cable_geometry& g);

// The section(x) that names compartment c, as `cellfit info --compartments` prints it
// ("soma[0](0.5)", x with 6 significant digits): a site name that compartment_at reads back.
// A value graph's compartment is its name.
std::string compartment_name(const morphology& m, const cable_geometry& g, int c);

}  // namespace cellfit
