#include "app/model_export.hpp"

#include <cmath>

namespace cellfit::app {

point3d point_at(const section& s, double x) {
  std::vector<double> arc(s.points.size(), 0.0);
  for (std::size_t i = 1; i < s.points.size(); ++i) {
    const auto& a = s.points[i];
    const auto& b = s.points[i - 1];
    arc[i] = arc[i - 1] + std::sqrt((a.x - b.x) * (a.x - b.x) + (a.y - b.y) * (a.y - b.y) +
                                    (a.z - b.z) * (a.z - b.z));
  }
  const double target = x * arc.back();
  for (std::size_t i = 1; i < s.points.size(); ++i) {
    if (arc[i] >= target || i + 1 == s.points.size()) {
      const double span = arc[i] - arc[i - 1];
      const double f = span > 0 ? (target - arc[i - 1]) / span : 0.0;
      const auto& a = s.points[i - 1];
      const auto& b = s.points[i];
      return {a.x + f * (b.x - a.x), a.y + f * (b.y - a.y), a.z + f * (b.z - a.z),
              a.diam + f * (b.diam - a.diam)};
    }
  }
  return s.points.front();
}

void write_model(h5::file& f, const cell_model& m) {
  const cable_geometry& g = m.geom;
  const std::size_t n = static_cast<std::size_t>(g.n_compartments());
  std::vector<std::string> section_name, region;
  std::vector<double> x, area, centre, cm;
  std::vector<std::int64_t> parent;
  for (std::size_t c = 0; c < n; ++c) {
    const int node = g.node_of[c];
    const std::size_t nu = static_cast<std::size_t>(node);
    const section& s = m.morph.sections[static_cast<std::size_t>(g.section_of[nu])];
    section_name.push_back(s.name);
    region.push_back(region_name(g.region_of[c]));
    x.push_back(g.x[nu]);
    area.push_back(g.point_model ? 0.0 : g.area_um2[nu]);
    const point3d p = point_at(s, g.x[nu]);
    centre.insert(centre.end(), {p.x, p.y, p.z});
    cm.push_back(m.cm[c]);
    // Nearest compartment towards the root (through junction nodes).
    int up = g.parent[nu];
    while (up >= 0 && g.compartment_of[static_cast<std::size_t>(up)] < 0) {
      up = g.parent[static_cast<std::size_t>(up)];
    }
    parent.push_back(up < 0 ? -1 : g.compartment_of[static_cast<std::size_t>(up)]);
  }
  f.write("/model/compartments/section", section_name);
  f.write("/model/compartments/region", region);
  f.write("/model/compartments/x", x, {n});
  f.write("/model/compartments/area_um2", area, {n});
  f.write("/model/compartments/centre_um", centre, {n, 3});
  f.write("/model/compartments/distance_um",
          g.distance_um.size() == n ? g.distance_um : path_distances_um(m.morph, g), {n});
  f.write("/model/compartments/cm", cm, {n});
  f.write("/model/compartments/parent", parent, {n});
  f.attribute("/model/compartments/section", "morphology", m.morph.source);
}

}  // namespace cellfit::app
