#pragma once
// Compartment graphs given by values rather than geometry: capacitances (pF) per compartment
// and coupling conductances (nS) per edge of a tree, as in paper 001's tables, turned into the
// same kernel inputs a morphology gives (node areas and axial conductances), so that
// mechanisms (densities), stimuli (nA), recordings, features, fits and gradients work
// unchanged (docs/model.md, "Value graphs").
//
// The rule: compartment k gets the nominal membrane area A_k at which cm = 1 uF/cm2 makes its
// capacitance C_k (A_k um2 = 100 C_k pF), so a density d in S/cm2 on it is the conductance
// 1000 C_k d nS (a leak of g nS is pas.g = g / (1000 C_k) S/cm2). An edge of g nS is the axial
// conductance g * 1e-3 uS between the child and its parent. cm stays a factor on C_k (the
// model's cm of 1 gives the C_k written), and the edge's "Ra" is its resistance 1000 / g in MOhm
// (the child compartment holds it), so fitting cm or Ra fits C_k or the coupling.

#include <string>
#include <vector>

#include "common/error.hpp"
#include "model/cable_geometry.hpp"
#include "model/morphology.hpp"

namespace cellfit {

struct graph_compartment {
  std::string name;
  region type = region::other;
  double c_pf = 0;
  bool has_leak = false;  // g_leak_ns and e_leak_mv given: pas on this compartment
  double g_leak_ns = 0;
  double e_leak_mv = 0;
};

struct graph_edge {
  std::string from, to;
  double g_ns = 0;
};

struct value_graph {
  std::vector<graph_compartment> compartments;  // the first one is the root
  std::vector<graph_edge> edges;
};

// A value graph that is not a tree of valid values; `compartment` or `edge` is the index of
// the entry at fault (-1 if none), for the config reader to report its line.
class value_graph_error : public config_error {
 public:
  value_graph_error(const std::string& what, int compartment, int edge)
      : config_error(what), compartment_(compartment), edge_(edge) {}
  int compartment() const { return compartment_; }
  int edge() const { return edge_; }

 private:
  int compartment_, edge_;
};

// The region a section list name of one region names ("soma", "axon", "basal", "apical",
// "other"); false for any other text. region_name is the inverse.
bool parse_region_name(const std::string& name, region& out);

// Nominal membrane area (um2) of a compartment of c_pf pF, and the pas.g (S/cm2) that gives
// g_ns nS on it.
inline double graph_area_um2(double c_pf) { return 100.0 * c_pf; }
inline double graph_leak_s_cm2(double g_ns, double c_pf) { return g_ns / (1000.0 * c_pf); }

struct value_graph_model {
  morphology morph;     // one section per compartment, named as it (value_graph = true)
  cable_geometry geom;  // cable model: node k is compartment k, in Hines order from the root
  // [compartment] the index in value_graph::compartments it came from
  std::vector<int> entry_of;
};

// Checks the graph (names unique and usable as sites, C > 0, g_leak >= 0, edges between known
// compartments with g > 0, a tree: connected, no cycle) and builds the model's morphology and
// geometry, numbering the compartments breadth first from the root (children in the order
// listed). `source` names the graph in messages and as the morphology's source. Throws
// value_graph_error with a one-line message.
value_graph_model build_value_graph(const value_graph& vg, const std::string& source);

}  // namespace cellfit
