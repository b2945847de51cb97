#include "model/value_graph.hpp"

#include <cmath>
#include <map>
#include <numeric>
#include <sstream>

#include "common/suggest.hpp"

namespace cellfit {

bool parse_region_name(const std::string& name, region& out) {
  for (region r : {region::soma, region::axon, region::basal, region::apical, region::other}) {
    if (name == region_name(r)) {
      out = r;
      return true;
    }
  }
  return false;
}

namespace {

std::string num(double x) {
  std::ostringstream s;
  s << x;
  return s.str();
}

// A compartment name is a site and a scope: a plain word that is not an index and not a
// section(x) point. A section list name (soma, apical, ...) names its region, so it may be used
// only for the one compartment of that region.
std::string name_problem(const value_graph& vg, std::size_t k) {
  const graph_compartment& c = vg.compartments[k];
  if (c.name.empty()) return "a compartment needs a name";
  const bool word = c.name.find_first_not_of(
                        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789_.[]") == std::string::npos;
  if (!word || (c.name[0] >= '0' && c.name[0] <= '9') || c.name[0] == '-') {
    return "compartment name '" + c.name +
           "': use letters, digits, '_', '.', '[' and ']', not starting with a digit";
  }
  if (section_list_rank(c.name) >= 0) {
    region named = region::other;
    if (!parse_region_name(c.name, named) || named != c.type) {
      return "compartment name '" + c.name +
             "' is a section list name: it may name only a compartment of that region (soma, "
             "axon, basal, apical, other)";
    }
    for (std::size_t j = 0; j < vg.compartments.size(); ++j) {
      if (j != k && vg.compartments[j].type == c.type) {
        return "compartment name '" + c.name + "' is a section list name, but compartment '" +
               vg.compartments[j].name + "' is in region " + region_name(c.type) +
               " too: give each its own name";
      }
    }
  }
  return "";
}

}  // namespace

value_graph_model build_value_graph(const value_graph& vg, const std::string& source) {
  const std::string at = "cellfit::config: " + source + ": ";
  const std::size_t n = vg.compartments.size();
  if (n == 0) throw value_graph_error(at + "a value graph needs at least one compartment", -1, -1);
  std::map<std::string, std::size_t> index;
  std::vector<std::string> names;
  for (std::size_t k = 0; k < n; ++k) {
    const graph_compartment& c = vg.compartments[k];
    const int ki = static_cast<int>(k);
    const std::string problem = name_problem(vg, k);
    if (!problem.empty()) throw value_graph_error(at + problem, ki, -1);
    const auto [it, fresh] = index.emplace(c.name, k);
    if (!fresh) {
      throw value_graph_error(at + "duplicate compartment name '" + c.name + "' (compartments " +
                                  std::to_string(it->second) + " and " + std::to_string(k) + ")",
                              ki, -1);
    }
    names.push_back(c.name);
    if (!(c.c_pf > 0) || !std::isfinite(c.c_pf)) {
      throw value_graph_error(
          at + "compartment '" + c.name + "': c_pf = " + num(c.c_pf) + " must be > 0", ki, -1);
    }
    if (c.has_leak && (!(c.g_leak_ns >= 0) || !std::isfinite(c.g_leak_ns))) {
      throw value_graph_error(
          at + "compartment '" + c.name + "': g_leak_ns = " + num(c.g_leak_ns) + " must be >= 0",
          ki, -1);
    }
    if (c.has_leak && !std::isfinite(c.e_leak_mv)) {
      throw value_graph_error(at + "compartment '" + c.name + "': e_leak_mv is not finite", ki, -1);
    }
  }
  // Edges: known ends, positive conductances, no cycle (union-find over the compartments).
  std::vector<std::size_t> root_of(n);
  std::iota(root_of.begin(), root_of.end(), std::size_t{0});
  const auto find = [&](std::size_t x) {
    while (root_of[x] != x) x = root_of[x] = root_of[root_of[x]];
    return x;
  };
  std::vector<std::vector<std::pair<std::size_t, std::size_t>>> adjacent(n);  // (other, edge)
  for (std::size_t e = 0; e < vg.edges.size(); ++e) {
    const graph_edge& ed = vg.edges[e];
    const int ei = static_cast<int>(e);
    const std::string label = "edge " + std::to_string(e) + " (" + ed.from + " -- " + ed.to + ")";
    for (const std::string* end : {&ed.from, &ed.to}) {
      if (!index.count(*end)) {
        throw value_graph_error(
            at + label + ": unknown compartment '" + *end + "'" + did_you_mean(*end, names), -1,
            ei);
      }
    }
    if (!(ed.g_ns > 0) || !std::isfinite(ed.g_ns)) {
      throw value_graph_error(at + label + ": g_ns = " + num(ed.g_ns) +
                                  " must be > 0 (compartments that are not coupled have no edge)",
                              -1, ei);
    }
    const std::size_t a = index.at(ed.from), b = index.at(ed.to);
    if (a == b) {
      throw value_graph_error(at + label + " joins a compartment to itself", -1, ei);
    }
    if (find(a) == find(b)) {
      throw value_graph_error(at + label +
                                  " closes a cycle: the compartments must form a tree (one path "
                                  "between any two)",
                              -1, ei);
    }
    root_of[find(a)] = find(b);
    adjacent[a].emplace_back(b, e);
    adjacent[b].emplace_back(a, e);
  }
  for (std::size_t k = 1; k < n; ++k) {
    if (find(k) != find(0)) {
      throw value_graph_error(at + "compartment '" + vg.compartments[k].name +
                                  "' is not connected to '" + vg.compartments[0].name +
                                  "' (the first compartment, the root): the graph must be one "
                                  "tree",
                              static_cast<int>(k), -1);
    }
  }

  // Hines order: breadth first from the root, so every parent precedes its children.
  value_graph_model out;
  std::vector<int> order_of(n, -1), parent(n, -1);
  std::vector<double> g_ns(n, 0.0);
  out.entry_of.push_back(0);
  order_of[0] = 0;
  for (std::size_t q = 0; q < out.entry_of.size(); ++q) {
    const std::size_t k = static_cast<std::size_t>(out.entry_of[q]);
    for (const auto& [other, e] : adjacent[k]) {
      if (order_of[other] >= 0) continue;
      order_of[other] = static_cast<int>(out.entry_of.size());
      parent[other] = order_of[k];
      g_ns[other] = vg.edges[e].g_ns;
      out.entry_of.push_back(static_cast<int>(other));
    }
  }

  morphology& m = out.morph;
  m.source = source;
  m.value_graph = true;
  cable_geometry& g = out.geom;
  g.point_model = false;
  for (std::size_t c = 0; c < n; ++c) {
    const std::size_t k = static_cast<std::size_t>(out.entry_of[c]);
    const graph_compartment& gc = vg.compartments[k];
    const double area = graph_area_um2(gc.c_pf);
    // A nominal cylinder of that area (L = diam), for listings and exports; the geometry below
    // does not use it.
    const double d = std::sqrt(area / std::acos(-1.0));
    section s;
    s.name = gc.name;
    s.type = gc.type;
    s.parent = parent[k];
    s.parent_x = 0.5;
    s.has_pt3d = false;
    s.keeps_nseg = true;
    s.points = {point3d{0, 0, 0, d}, point3d{d, 0, 0, d}};
    m.sections.push_back(s);

    const int ci = static_cast<int>(c);
    g.parent.push_back(parent[k]);
    g.area_um2.push_back(area);
    g.g_axial.push_back(parent[k] < 0 ? 0.0 : g_ns[k] * 1e-3);      // nS -> uS
    g.ra_ohm_cm.push_back(parent[k] < 0 ? 0.0 : 1000.0 / g_ns[k]);  // MOhm, see the header
    g.section_of.push_back(ci);
    g.x.push_back(0.5);
    g.compartment_of.push_back(ci);
    g.node_of.push_back(ci);
    g.region_of.push_back(gc.type);
    g.nseg.push_back(1);
    g.distance_um.push_back(0.0);
    g.total_area_um2 += area;
  }
  return out;
}

}  // namespace cellfit
