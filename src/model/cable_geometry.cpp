#include "model/cable_geometry.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/error.hpp"
#include "common/suggest.hpp"

namespace cellfit {

namespace {

constexpr double pi = 3.14159265358979323846;

struct segment_geometry {
  std::vector<double> area_um2;  // [segment]
  std::vector<double> diam_um;   // [segment] NEURON's seg.diam: the mean over the segment
  std::vector<double> r_left;    // [segment] MOhm, left half
  std::vector<double> r_right;   // [segment] MOhm, right half
};

// NEURON's diam_from_list: walk the 3-D points once, integrating each half segment; an
// interval that crosses a half-segment boundary is split there with the diameter linear in
// arc length. Per piece of length delta and end diameters y1, y2: area += pi/2 (y1 + y2)
// sqrt(delta^2 + ((y2 - y1)/2)^2) (truncated cone side), ri += 4 Ra delta / (pi y1 y2).
segment_geometry integrate_section(const section& s, int nseg, double ra) {
  const std::size_t npt = s.points.size();
  std::vector<double> arc(npt, 0.0);
  for (std::size_t i = 1; i < npt; ++i) {
    const auto& a = s.points[i];
    const auto& b = s.points[i - 1];
    const double dx = static_cast<float>(a.x - b.x), dy = static_cast<float>(a.y - b.y),
                 dz = static_cast<float>(a.z - b.z);
    arc[i] = arc[i - 1] + std::sqrt(dx * dx + dy * dy + dz * dz);
  }
  const double ds = arc[npt - 1] / nseg;
  segment_geometry g;
  g.area_um2.resize(static_cast<std::size_t>(nseg));
  g.diam_um.resize(static_cast<std::size_t>(nseg));
  g.r_left.resize(static_cast<std::size_t>(nseg));
  g.r_right.resize(static_cast<std::size_t>(nseg));
  std::size_t j = 0;
  double x1 = arc[0];
  double y1 = std::fabs(static_cast<double>(s.points[0].diam));
  for (int inode = 0; inode < nseg; ++inode) {
    double area = 0, diam = 0;
    double si = inode * ds;
    for (int ihalf = 0; ihalf < 2; ++ihalf) {
      const double sip = si + ds / 2;
      double ri = 0;
      for (;;) {
        const std::size_t jp = j + 1;
        const double xj = arc[j], xjp = arc[jp];
        const double dj = std::fabs(static_cast<double>(s.points[j].diam));
        const double djp = std::fabs(static_cast<double>(s.points[jp].diam));
        double x2, y2;
        std::size_t jnext;
        if (xjp > sip || jp == npt - 1) {
          const double frac = std::fabs(xjp - xj) < 1e-10 ? 1.0 : (sip - xj) / (xjp - xj);
          x2 = sip;
          y2 = (1.0 - frac) * dj + frac * djp;
          jnext = j;
        } else {
          x2 = xjp;
          y2 = djp;
          jnext = jp;
        }
        double delta = x2 - x1;
        diam += (y2 + y1) * delta;  // before the clamp, as NEURON sums it
        if (delta < 1e-15) delta = 1e-15;
        double temp = y2 * y1 / delta;
        if (temp == 0) temp = 1e-15;
        ri += 1.0 / temp;
        temp = 0.5 * (y2 - y1);
        temp = std::sqrt(delta * delta + temp * temp);
        area += (y2 + y1) * temp;
        x1 = x2;
        y1 = y2;
        if (j == jnext) break;
        j = jnext;
      }
      const double r_mohm = ri * ra / pi * (4.0 * 0.01);
      if (ihalf == 0) {
        g.r_left[static_cast<std::size_t>(inode)] = r_mohm;
      } else {
        g.r_right[static_cast<std::size_t>(inode)] = r_mohm;
      }
      si = sip;
    }
    g.area_um2[static_cast<std::size_t>(inode)] = area * 0.5 * pi;
    g.diam_um[static_cast<std::size_t>(inode)] = diam * (0.5 / ds);
  }
  return g;
}

int checked_nseg(double want, const section& s, const char* rule) {
  if (!(want <= max_nseg)) {
    throw config_error(std::string("cellfit::config: ") + rule + " gives section " + s.name +
                       " more than " + std::to_string(max_nseg) + " segments");
  }
  return std::max(1, static_cast<int>(want));
}

}  // namespace

int section_list_rank(const std::string& list) {
  if (list == "all" || list == "allsect") return 0;
  if (list == "dend" || list == "alldend") return 1;
  if (list == "soma" || list == "somatic" || list == "axon" || list == "axonal" ||
      list == "basal" || list == "apical" || list == "other")
    return 2;
  return -1;
}

bool section_list_contains(const std::string& list, region r) {
  if (list == "all" || list == "allsect") return true;
  if (list == "dend" || list == "alldend") return r == region::basal || r == region::apical;
  if (list == "somatic") return r == region::soma;
  if (list == "axonal") return r == region::axon;
  return list == region_name(r);
}

double lambda_f_um(const section& s, double freq_hz, double ra_ohm_cm, double cm_uf_cm2) {
  constexpr double pi = 3.14159265358979323846;
  if (cm_uf_cm2 == 0) return 1e10;
  // The section's length in units of lambda, integrated over its 3-D points (NEURON's arc3d
  // accumulates in double and stores float, as section points are stored).
  double lam = 0, arc = 0;
  for (std::size_t i = 1; i < s.points.size(); ++i) {
    const point3d& a = s.points[i - 1];
    const point3d& b = s.points[i];
    const double next =
        static_cast<float>(arc + std::sqrt((b.x - a.x) * (b.x - a.x) + (b.y - a.y) * (b.y - a.y) +
                                           (b.z - a.z) * (b.z - a.z)));
    lam += (next - arc) / std::sqrt(a.diam + b.diam);
    arc = next;
  }
  lam *= std::sqrt(2.0) * 1e-5 * std::sqrt(4 * pi * freq_hz * ra_ohm_cm * cm_uf_cm2);
  return s.length_um() / lam;
}

int choose_nseg(const section& s, const discretization_options& opt) {
  if (opt.nseg > max_nseg)
    throw config_error("cellfit::config: nseg above " + std::to_string(max_nseg));
  const double L = s.length_um();
  int n = opt.nseg > 0 && !s.keeps_nseg ? opt.nseg : s.nseg;
  switch (s.keeps_nseg ? nseg_rule::fixed : opt.rule) {
    case nseg_rule::fixed:
      break;
    case nseg_rule::d_lambda: {
      double cm = 1.0;
      if (const auto it = opt.cm_uf_cm2.find(s.type); it != opt.cm_uf_cm2.end()) cm = it->second;
      const double lambda =
          lambda_f_um(s, opt.d_lambda_freq_hz, section_ra_ohm_cm(opt, s.type), cm);
      // NEURON's CellBuilder: nseg = int((L/(d_lambda*lambda_f(freq)) + .999)/2)*2 + 1
      n = checked_nseg(std::floor((L / (opt.d_lambda * lambda) + 0.999) / 2) * 2 + 1, s,
                       "model.nseg_rule = \"d_lambda\"");
      break;
    }
    case nseg_rule::bluepyopt:
      n = checked_nseg(1 + 2 * std::floor(L / opt.nseg_length_um), s,
                       "model.nseg_rule = \"bluepyopt\"");
      break;
    case nseg_rule::max_length:
      n = checked_nseg(std::ceil(L / opt.max_length_um), s, "model.max_length_um");
      break;
  }
  // Explicit values: the most specific list, then the section's own name.
  int rank = -1;
  for (const auto& [list, value] : opt.nseg_by_list) {
    const int r = section_list_rank(list);
    if (r > rank && section_list_contains(list, s.type)) {
      rank = r;
      n = value;
    }
  }
  if (const auto it = opt.nseg_by_section.find(s.name); it != opt.nseg_by_section.end())
    n = it->second;
  if (opt.max_compartment_um > 0) {
    int k = checked_nseg(std::ceil(L / opt.max_compartment_um), s, "model.max_compartment_um");
    if (k % 2 == 0) ++k;
    n = std::max(n, k);
  }
  return std::max(n, 1);
}

double segment_diam_um(const section& s, int nseg, double x) {
  // Segment diameters depend on no resistivity; any positive value serves.
  const segment_geometry sg = integrate_section(s, nseg, 1.0);
  const int k = std::min(static_cast<int>(nseg * x), nseg - 1);
  return sg.diam_um[static_cast<std::size_t>(std::max(k, 0))];
}

double section_ra_ohm_cm(const discretization_options& opt, region r) {
  const auto it = opt.ra_of.find(r);
  return it == opt.ra_of.end() ? opt.ra_ohm_cm : it->second;
}

int ra_compartment(const cable_geometry& g, int node) {
  const std::size_t i = static_cast<std::size_t>(node);
  if (g.parent[i] < 0) return -1;
  const int c = g.compartment_of[i];
  return c >= 0 ? c : g.compartment_of[static_cast<std::size_t>(g.parent[i])];
}

cable_geometry discretize(const morphology& m, const discretization_options& opt) {
  if (m.sections.empty())
    throw morphology_error("cellfit::morphology: " + m.source + ": no sections");
  if (!(opt.ra_ohm_cm > 0) || !std::isfinite(opt.ra_ohm_cm)) {
    throw config_error("cellfit::config: model.ra must be positive and finite");
  }
  for (const auto& [r, ra] : opt.ra_of) {
    if (!(ra > 0) || !std::isfinite(ra)) {
      throw config_error("cellfit::config: model.ra." + std::string(region_name(r)) +
                         " must be positive and finite");
    }
  }
  cable_geometry g;
  g.point_model = m.point_model;
  const std::size_t nsec = m.sections.size();
  // Which sections need a junction node at their 1 end, or the root at its 0 end.
  std::vector<char> needs_end(nsec, 0);
  bool root_start = false;
  for (std::size_t s = 1; s < nsec; ++s) {
    const section& sec = m.sections[s];
    if (sec.parent < 0 || static_cast<std::size_t>(sec.parent) >= s) {
      throw morphology_error("cellfit::morphology: " + m.source + ": section " + sec.name +
                             " does not follow its parent");
    }
    if (!m.point_model) {
      if (sec.parent_x == 1.0) needs_end[static_cast<std::size_t>(sec.parent)] = 1;
      if (sec.parent_x == 0.0) {
        // x = 0 of a non-root section is where that section itself attaches.
        if (m.sections[static_cast<std::size_t>(sec.parent)].parent < 0) root_start = true;
      }
    }
  }

  std::vector<int> first_node(nsec, -1), end_node(nsec, -1), attach_of(nsec, -1);
  auto add_node = [&](int parent, double area, double gax, int sec, double x) {
    g.parent.push_back(parent);
    g.area_um2.push_back(area);
    g.g_axial.push_back(gax);
    g.ra_ohm_cm.push_back(
        m.point_model ? 0.0
                      : section_ra_ohm_cm(opt, m.sections[static_cast<std::size_t>(sec)].type));
    g.section_of.push_back(sec);
    g.x.push_back(x);
    const int id = static_cast<int>(g.parent.size()) - 1;
    if (area > 0) {
      g.compartment_of.push_back(static_cast<int>(g.node_of.size()));
      g.node_of.push_back(id);
      g.region_of.push_back(m.sections[static_cast<std::size_t>(sec)].type);
      g.total_area_um2 += area;
    } else {
      g.compartment_of.push_back(-1);
    }
    return id;
  };

  g.nseg.resize(nsec);
  for (std::size_t s = 0; s < nsec; ++s) {
    const section& sec = m.sections[s];
    const int si = static_cast<int>(s);
    if (m.point_model) {
      g.nseg[s] = 1;
      const int parent = s == 0 ? -1 : first_node[static_cast<std::size_t>(sec.parent)];
      first_node[s] = add_node(parent, 1.0, s == 0 ? 0.0 : opt.axial_weight, si, 0.5);
      continue;
    }
    if (sec.points.size() < 2) {
      throw morphology_error("cellfit::morphology: " + m.source + ": section " + sec.name +
                             " has fewer than two 3-D points");
    }
    for (const auto& p : sec.points) {
      if (!std::isfinite(p.x) || !std::isfinite(p.y) || !std::isfinite(p.z) ||
          !std::isfinite(p.diam) || !(p.diam > 0)) {
        throw morphology_error("cellfit::morphology: " + m.source + ": section " + sec.name +
                               " has a non-finite coordinate or non-positive diameter");
      }
    }
    if (!(sec.length_um() > 0)) {
      throw morphology_error("cellfit::morphology: " + m.source + ": section " + sec.name +
                             " has zero length");
    }
    const int nseg = choose_nseg(sec, opt);
    g.nseg[s] = nseg;
    const segment_geometry sg = integrate_section(sec, nseg, section_ra_ohm_cm(opt, sec.type));

    // The node this section's 0 end connects to, and its first segment's conductance to it.
    int attach = -1;
    if (s == 0) {
      if (root_start) attach = add_node(-1, 0.0, 0.0, si, 0.0);
    } else {
      const std::size_t ps = static_cast<std::size_t>(sec.parent);
      const double px = sec.parent_x;
      if (px == 1.0) {
        attach = end_node[ps];
      } else if (px == 0.0) {
        attach = attach_of[ps];
      } else {
        const int k = std::min(static_cast<int>(g.nseg[ps] * px), g.nseg[ps] - 1);
        attach = first_node[ps] + k;
      }
      if (attach < 0) throw internal_error("cellfit::discretize: missing attachment node");
    }
    attach_of[s] = attach;
    for (int k = 0; k < nseg; ++k) {
      const std::size_t ku = static_cast<std::size_t>(k);
      const int parent = k == 0 ? attach : static_cast<int>(g.parent.size()) - 1;
      const double r = k == 0 ? sg.r_left[0] : sg.r_right[ku - 1] + sg.r_left[ku];
      const double gax = parent < 0 ? 0.0 : 1.0 / r;
      const int id = add_node(parent, sg.area_um2[ku], gax, si, (k + 0.5) / nseg);
      if (k == 0) first_node[s] = id;
    }
    if (needs_end[s]) {
      end_node[s] = add_node(static_cast<int>(g.parent.size()) - 1, 0.0,
                             1.0 / sg.r_right[static_cast<std::size_t>(nseg) - 1], si, 1.0);
    }
  }
  g.distance_um = path_distances_um(m, g);
  return g;
}

std::vector<double> path_distances_um(const morphology& m, const cable_geometry& g) {
  const std::size_t nsec = m.sections.size();
  // The distance of each section's 0 end from the root section's middle (NEURON's
  // distance() with the origin at soma[0](0.5)), parents first (parent < child).
  std::vector<double> start(nsec, 0.0), length(nsec, 0.0);
  for (std::size_t s = 0; s < nsec; ++s) {
    const section& sec = m.sections[s];
    length[s] = m.point_model ? 0.0 : sec.length_um();
    if (s == 0 || sec.parent < 0) continue;
    const std::size_t p = static_cast<std::size_t>(sec.parent);
    start[s] =
        p == 0 ? std::fabs(sec.parent_x - 0.5) * length[0] : start[p] + sec.parent_x * length[p];
  }
  std::vector<double> out(static_cast<std::size_t>(g.n_compartments()));
  for (int c = 0; c < g.n_compartments(); ++c) {
    const int node = g.node_of[static_cast<std::size_t>(c)];
    const std::size_t s = static_cast<std::size_t>(g.section_of[static_cast<std::size_t>(node)]);
    const double x = g.x[static_cast<std::size_t>(node)];
    out[static_cast<std::size_t>(c)] =
        s == 0 ? std::fabs(x - 0.5) * length[0] : start[s] + x * length[s];
  }
  return out;
}

std::vector<int> compartments_in_region(const cable_geometry& g, const std::string& name) {
  if (section_list_rank(name) < 0) {
    throw config_error("cellfit::config: unknown region '" + name + "'" +
                       did_you_mean(name, {"all", "soma", "axon", "basal", "apical", "dend",
                                           "other", "allsect", "somatic", "axonal", "alldend"}) +
                       " (all, soma, axon, basal, apical, dend, other; or BluePyOpt's allsect, "
                       "somatic, axonal, alldend)");
  }
  std::vector<int> out;
  for (int c = 0; c < g.n_compartments(); ++c) {
    if (section_list_contains(name, g.region_of[static_cast<std::size_t>(c)])) out.push_back(c);
  }
  return out;
}

int compartment_at(const morphology& m, const cable_geometry& g, const std::string& name,
                   double x) {
  const auto it = std::find_if(m.sections.begin(), m.sections.end(),
                               [&](const section& s) { return s.name == name; });
  if (it == m.sections.end()) {
    throw config_error("cellfit::config: no section '" + name + "' in " + m.source + " (sections " +
                       m.sections.front().name + " .. " + m.sections.back().name + ")");
  }
  if (!(x > 0.0 && x < 1.0)) {
    throw config_error("cellfit::config: " + name + "(" + std::to_string(x) +
                       "): x must lie inside (0, 1) (the 0 and 1 ends are not compartments)");
  }
  const int s = static_cast<int>(it - m.sections.begin());
  const int nseg = g.nseg[static_cast<std::size_t>(s)];
  // NEURON's node_index(): segment int(nseg x), the last one for x * nseg == nseg.
  const int k = std::min(static_cast<int>(nseg * x), nseg - 1);
  int seen = 0;
  for (int c = 0; c < g.n_compartments(); ++c) {
    if (g.section_of[static_cast<std::size_t>(g.node_of[static_cast<std::size_t>(c)])] != s)
      continue;
    if (seen++ == k) return c;
  }
  throw internal_error("cellfit::compartment_at: section " + name + " has no compartment " +
                       std::to_string(k));
}

int soma_point(const morphology& m, const cable_geometry& g) {
  if (!m.value_graph) return compartment_at(m, g, "soma[0]", 0.5);
  const std::vector<int> soma = compartments_in_region(g, "soma");
  if (soma.empty()) {
    throw config_error("cellfit::config: " + m.source +
                       " has no compartment of region soma: name a compartment instead");
  }
  return soma.front();
}

std::string compartment_name(const morphology& m, const cable_geometry& g, int c) {
  const std::size_t node = static_cast<std::size_t>(g.node_of[static_cast<std::size_t>(c)]);
  if (m.value_graph) return m.sections[static_cast<std::size_t>(g.section_of[node])].name;
  char x[32];
  std::snprintf(x, sizeof x, "(%.6g)", g.x[node]);
  return m.sections[static_cast<std::size_t>(g.section_of[node])].name + x;
}

}  // namespace cellfit
