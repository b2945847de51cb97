#include "model/import3d.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <utility>

#include "common/error.hpp"
#include "model/detail/neuron_float.hpp"

namespace cellfit {

std::string import3d_type_name(int type) {
  switch (type) {
    case 1:
      return "soma";
    case 2:
      return "axon";
    case 3:
      return "dend";
    case 4:
      return "apic";
    default:
      return type < 0 ? "minus_" + std::to_string(-static_cast<long>(type))
                      : "dend_" + std::to_string(type);
  }
}

namespace {

// chk_valid's test, on the points as the reader made them (before rounding).
bool dropped_by_instantiate(const import3d_section& s) {
  if (s.parent < 0) return false;
  if (s.points.size() <= 1) return true;
  if (s.points.size() == 2) {
    const point3d& a = s.points[0];
    const point3d& b = s.points[1];
    return a.x == b.x && a.y == b.y && a.z == b.z;
  }
  return false;
}

}  // namespace

morphology import3d_instantiate(std::vector<import3d_section> list, const std::string& source,
                                const std::string& reader) {
  const std::size_t n = list.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (list[i].parent >= static_cast<int>(i)) {
      throw internal_error("cellfit::import3d: section " + std::to_string(i) +
                           " precedes its parent");
    }
  }

  // Dropped sections hand their children to their own parent at their own parent_x. Import3d
  // does it from the end of its list, one dropped section at a time; resolving parents first
  // (the given order) reaches the same attachment: the nearest kept ancestor, at the
  // parent_x of the dropped section that hangs from it.
  std::vector<char> dropped(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    dropped[i] = dropped_by_instantiate(list[i]) ? 1 : 0;
    const int p = list[i].parent;
    if (p >= 0 && dropped[static_cast<std::size_t>(p)]) {
      list[i].parent = list[static_cast<std::size_t>(p)].parent;
      list[i].parent_x = list[static_cast<std::size_t>(p)].parent_x;
    }
  }

  // Import3d's list order, over the kept sections.
  std::vector<std::size_t> by_position;
  by_position.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (!dropped[i]) by_position.push_back(i);
  }
  std::sort(by_position.begin(), by_position.end(), [&](std::size_t a, std::size_t b) {
    return list[a].list_position < list[b].list_position;
  });
  std::vector<std::string> name(n);
  {
    std::vector<std::pair<int, int>> count;  // (type, sections so far), few types
    for (auto i : by_position) {
      const int type = list[i].type;
      auto it =
          std::find_if(count.begin(), count.end(), [&](const auto& c) { return c.first == type; });
      if (it == count.end()) it = count.insert(count.end(), {type, 0});
      name[i] = import3d_type_name(type) + "[" + std::to_string(it->second++) + "]";
    }
  }

  // Compartments are numbered parent before child (Hines order), so sections must be too.
  // Import3d's list satisfies that for every file it reads (SWC parents have smaller ids,
  // Neurolucida sections are listed depth first); for SWC files whose parents come later in
  // the file, which Import3d refuses, the reader's own parent-first order is kept instead.
  // Either way the names are those of Import3d's order.
  std::vector<std::size_t> order = by_position;
  {
    std::vector<std::size_t> rank(n, n);
    for (std::size_t k = 0; k < order.size(); ++k) rank[order[k]] = k;
    const bool parents_first = std::all_of(order.begin(), order.end(), [&](std::size_t i) {
      const int p = list[i].parent;
      return p < 0 || rank[static_cast<std::size_t>(p)] < rank[i];
    });
    if (!parents_first) {
      order.clear();
      for (std::size_t i = 0; i < n; ++i) {
        if (!dropped[i]) order.push_back(i);
      }
    }
  }

  morphology m;
  m.source = source;
  m.sections.reserve(order.size());
  std::vector<int> new_index(n, -1);
  for (auto i : order) {
    import3d_section& s = list[i];
    const auto fail = [&](const std::string& what) {
      throw morphology_error("cellfit::" + reader + ": " + s.origin + ": " + what);
    };
    if (s.points.size() < 2) fail("a section of fewer than two points (" + name[i] + ")");
    section sec;
    sec.name = std::move(name[i]);
    sec.type = region_of_swc_type(s.type);
    sec.parent = s.parent < 0 ? -1 : new_index[static_cast<std::size_t>(s.parent)];
    sec.parent_x = s.parent_x;
    sec.points.reserve(s.points.size());
    for (const auto& p : s.points) {
      sec.points.push_back({detail::neuron_float(p.x), detail::neuron_float(p.y),
                            detail::neuron_float(p.z), detail::neuron_float(p.diam)});
    }
    if (!(sec.length_um() > 0)) fail("a section of zero length (" + sec.name + ")");
    new_index[i] = static_cast<int>(m.sections.size());
    m.sections.push_back(std::move(sec));
  }
  return m;
}

}  // namespace cellfit
