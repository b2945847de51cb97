#include "model/soma_distance.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "common/error.hpp"

namespace cellfit {

namespace {

std::string um(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

// Where x lies along a section (um from its 0 end), rounded to a node as NEURON's distance()
// rounds it.
double node_position_um(const section& s, int nseg, double x) {
  const double L = s.length_um();
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return L;
  const int k = std::min(static_cast<int>(nseg * x), nseg - 1);
  return (k + 0.5) / nseg * L;
}

int soma0_of(const morphology& m) {
  for (std::size_t i = 0; i < m.sections.size(); ++i)
    if (m.sections[i].name == "soma[0]") return static_cast<int>(i);
  throw morphology_error("cellfit::morphology: " + m.source +
                         ": no soma[0] to measure distances from");
}

// Distance (um) between two node positions (section, um along it) of the tree.
double tree_distance_um(const morphology& m, const std::vector<int>& nseg, int sa, double ua,
                        int sb, double ub) {
  // The sections from a up to the root, with the position where the path from a enters each.
  std::vector<double> entry(m.sections.size(), std::numeric_limits<double>::quiet_NaN());
  std::vector<double> climbed(m.sections.size(), 0.0);  // path length from a to that entry
  double path = 0;
  for (int s = sa; s >= 0;) {
    const auto su = static_cast<std::size_t>(s);
    entry[su] = ua;
    climbed[su] = path;
    const section& sec = m.sections[su];
    if (sec.parent < 0) break;
    path += ua;
    const auto pu = static_cast<std::size_t>(sec.parent);
    ua = node_position_um(m.sections[pu], nseg[pu], sec.parent_x);
    s = sec.parent;
  }
  path = 0;
  for (int s = sb; s >= 0;) {
    const auto su = static_cast<std::size_t>(s);
    if (!std::isnan(entry[su])) return climbed[su] + path + std::fabs(entry[su] - ub);
    const section& sec = m.sections[su];
    if (sec.parent < 0) break;
    path += ub;
    const auto pu = static_cast<std::size_t>(sec.parent);
    ub = node_position_um(m.sections[pu], nseg[pu], sec.parent_x);
    s = sec.parent;
  }
  throw morphology_error("cellfit::morphology: " + m.source + ": sections " +
                         m.sections[static_cast<std::size_t>(sa)].name + " and " +
                         m.sections[static_cast<std::size_t>(sb)].name + " are not connected");
}

[[noreturn]] void refuse(const std::string& what) {
  throw config_error("cellfit::config: " + what);
}

}  // namespace

double neuron_distance_um(const morphology& m, const std::vector<int>& nseg, int sec, double x) {
  const int o = soma0_of(m);
  const auto ou = static_cast<std::size_t>(o), su = static_cast<std::size_t>(sec);
  return tree_distance_um(m, nseg, o, node_position_um(m.sections[ou], nseg[ou], 0.5), sec,
                          node_position_um(m.sections[su], nseg[su], x));
}

section_point soma_distance_point(const morphology& m, const std::vector<int>& nseg,
                                  const std::string& list, double distance_um) {
  if (section_list_rank(list) < 0) {
    refuse("unknown section list '" + list +
           "' (allsect, alldend, somatic, axonal, basal, apical, or all, dend, soma, axon, "
           "other)");
  }
  if (!std::isfinite(distance_um) || distance_um < 0) {
    refuse("soma_distance_um must be finite and >= 0, got " + um(distance_um));
  }
  if (m.point_model) refuse(m.source + " is a point model: it has no path distances");
  if (m.value_graph) refuse(m.source + " is a value graph: it has no path distances");
  section_point found;
  double nearest = std::numeric_limits<double>::infinity(), farthest = -1;
  double lo_found = 0, hi_found = 0;
  for (std::size_t s = 0; s < m.sections.size(); ++s) {
    if (!section_list_contains(list, m.sections[s].type)) continue;
    const int si = static_cast<int>(s);
    const double d0 = neuron_distance_um(m, nseg, si, 0.0);
    const double d1 = neuron_distance_um(m, nseg, si, 1.0);
    const double lo = std::min(d0, d1), hi = std::max(d0, d1);
    nearest = std::min(nearest, lo);
    farthest = std::max(farthest, hi);
    if (lo <= distance_um && distance_um <= hi) {
      found.section = si;
      lo_found = lo;
      hi_found = hi;
    }
  }
  if (farthest < 0) refuse("section list " + list + " has no section in " + m.source);
  if (found.section < 0) {
    if (distance_um > farthest) {
      refuse("soma_distance_um = " + um(distance_um) + " lies beyond the farthest point of " +
             list + " (" + um(farthest) + " um from soma[0](0.5))");
    }
    refuse("no section of " + list + " reaches soma_distance_um = " + um(distance_um) + " (" +
           list + " spans " + um(nearest) + " .. " + um(farthest) + " um from soma[0](0.5))");
  }
  const std::string& name = m.sections[static_cast<std::size_t>(found.section)].name;
  if (!(hi_found > lo_found)) {
    refuse("soma_distance_um = " + um(distance_um) + " on " + list + " falls on " + name +
           ", whose ends are equally far from soma[0](0.5) (BluePyOpt divides by zero there)");
  }
  found.x = (distance_um - lo_found) / (hi_found - lo_found);
  if (!(found.x > 0 && found.x < 1)) {
    refuse("soma_distance_um = " + um(distance_um) + " on " + list + " lands on the " +
           (found.x > 0 ? "1" : "0") + " end of " + name +
           " (NEURON's zero-area node there is no compartment): choose a distance off the "
           "branch point");
  }
  return found;
}

int soma_distance_compartment(const morphology& m, const cable_geometry& g, const std::string& list,
                              double distance_um) {
  const section_point p = soma_distance_point(m, g.nseg, list, distance_um);
  return compartment_at(m, g, m.sections[static_cast<std::size_t>(p.section)].name, p.x);
}

}  // namespace cellfit
