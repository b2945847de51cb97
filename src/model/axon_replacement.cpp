#include "model/axon_replacement.hpp"

#include <cmath>
#include <string>

#include "common/error.hpp"
#include "model/cable_geometry.hpp"
#include "model/soma_distance.hpp"

namespace cellfit {

namespace {

// BluePyOpt's axon_stub_length: the first axon section farther than this gives axon[1]'s
// diameter.
constexpr double stub_length_um = 2 * replacement_axon_section_um;

[[noreturn]] void refuse(const morphology& m, const std::string& what) {
  throw morphology_error("cellfit::morphology: " + m.source + ": axon replacement: " + what);
}

// A straight cylinder of the stub's length from `from` along a coordinate axis, so that its
// length is exactly 30 um whatever the rounding of the coordinates.
section stub(const point3d& from, int axis, double sign, double diam, int parent) {
  section s;
  s.type = region::axon;
  s.parent = parent;
  s.parent_x = 1.0;
  s.nseg = 1;  // 1 + 2 int(30 / 40)
  s.has_pt3d = false;
  s.keeps_nseg = true;
  point3d a = from, b = from;
  a.diam = b.diam = diam;
  double* coord[3] = {&b.x, &b.y, &b.z};
  *coord[axis] += sign * replacement_axon_section_um;
  s.points = {a, b};
  return s;
}

}  // namespace

morphology replace_axon(const morphology& m, const std::vector<int>& nseg) {
  if (m.point_model) refuse(m, "a point model has no axon to replace");
  if (nseg.size() != m.sections.size())
    throw internal_error("cellfit::replace_axon: one nseg per section expected");
  int soma0 = -1;
  std::vector<int> axonal;
  for (std::size_t s = 0; s < m.sections.size(); ++s) {
    if (m.sections[s].name == "soma[0]") soma0 = static_cast<int>(s);
    if (m.sections[s].type == region::axon) axonal.push_back(static_cast<int>(s));
  }
  if (soma0 < 0) refuse(m, "no soma[0] to attach the new axon to");
  for (const section& s : m.sections) {
    if (s.type != region::axon && s.parent >= 0 &&
        m.sections[static_cast<std::size_t>(s.parent)].type == region::axon) {
      refuse(m, "section " + s.name + " hangs on axon section " +
                    m.sections[static_cast<std::size_t>(s.parent)].name +
                    ", which the replacement deletes");
    }
  }

  auto diam_of = [&](int s) {
    const auto su = static_cast<std::size_t>(s);
    return segment_diam_um(m.sections[su], nseg[su], 0.5);
  };
  double d1 = 1, d2 = 1;
  if (!axonal.empty()) {
    d1 = d2 = diam_of(axonal.front());
    if (axonal.size() > 1) {
      for (int s : axonal) {
        if (neuron_distance_um(m, nseg, s, 0.5) > stub_length_um) {
          d2 = diam_of(s);
          break;
        }
      }
    }
  }

  morphology out;
  out.source = m.source;
  std::vector<int> new_index(m.sections.size(), -1);
  for (std::size_t s = 0; s < m.sections.size(); ++s) {
    if (m.sections[s].type == region::axon) continue;
    section copy = m.sections[s];
    if (copy.parent >= 0) copy.parent = new_index[static_cast<std::size_t>(copy.parent)];
    new_index[s] = static_cast<int>(out.sections.size());
    out.sections.push_back(copy);
  }
  // The stub continues soma[0]'s axis (rounded to a coordinate axis) beyond its 1 end.
  const section& soma = m.sections[static_cast<std::size_t>(soma0)];
  const point3d& p0 = soma.points.front();
  const point3d& p1 = soma.points.back();
  const double dir[3] = {p1.x - p0.x, p1.y - p0.y, p1.z - p0.z};
  int axis = 1;  // -y when the soma has no axis
  double sign = -1, longest = 0;
  for (int k = 0; k < 3; ++k) {
    if (std::fabs(dir[k]) > longest) {
      longest = std::fabs(dir[k]);
      axis = k;
      sign = dir[k] < 0 ? -1 : 1;
    }
  }
  const int soma_new = new_index[static_cast<std::size_t>(soma0)];
  out.sections.push_back(stub(p1, axis, sign, d1, soma_new));
  out.sections.back().name = "axon[0]";
  const point3d end0 = out.sections.back().points.back();
  out.sections.push_back(stub(end0, axis, sign, d2, static_cast<int>(out.sections.size()) - 1));
  out.sections.back().name = "axon[1]";
  return out;
}

}  // namespace cellfit
