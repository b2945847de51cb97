#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "app/commands.hpp"
#include "common/error.hpp"
#include "io/config.hpp"
#include "model/cable_geometry.hpp"
#include "model/cell_model.hpp"
#include "model/morphology.hpp"

namespace cellfit::app {

namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

int print_catalogue() {
  for (const auto& m : mechanism_catalogue()) {
    std::printf("%s  (%s)\n", m.name.c_str(), m.source.c_str());
    for (std::size_t k = 0; k < m.param_names.size(); ++k) {
      std::printf("  %-7s %-16s %-10s default %g\n",
                  m.is_global(static_cast<int>(k)) ? "GLOBAL" : "RANGE", m.param_names[k].c_str(),
                  m.param_units[k].empty() ? "1" : m.param_units[k].c_str(), m.defaults[k]);
    }
    if (!m.state_names.empty()) {
      std::printf("  STATE  ");
      for (const auto& st : m.state_names) std::printf(" %s", st.c_str());
      std::printf("\n");
    }
    for (const auto& io : m.ions) {
      const std::string& sp = io.species;
      std::string reads, writes;
      auto add = [](std::string& list, const std::string& what) {
        list += (list.empty() ? "" : ", ") + what;
      };
      if (io.read_e) add(reads, "e" + sp);
      if (io.read_ci) add(reads, sp + "i");
      if (io.read_co) add(reads, sp + "o");
      if (io.read_i) add(reads, "i" + sp);
      if (io.write_i) add(writes, "i" + sp);
      if (io.write_ci) add(writes, sp + "i");
      if (io.write_co) add(writes, sp + "o");
      std::printf("  ION     %-4s READ %s%s%s\n", sp.c_str(), reads.empty() ? "-" : reads.c_str(),
                  writes.empty() ? "" : "  WRITE ", writes.c_str());
    }
  }
  return 0;
}

// One row per section in cellfit's order: its NEURON name, its parent's name and where on
// the parent it attaches, its 3-D points, length, mean diameter and membrane area (the sum
// over its compartments), full precision, for comparison with NEURON (tests/validation).
void write_sections_csv(const morphology& m, const cable_geometry& g, const std::string& path) {
  if (m.point_model) {
    throw usage_error("cellfit::info: --sections-csv: " + m.source +
                      " is a point model (no geometry)");
  }
  std::vector<double> area(m.sections.size(), 0.0);
  for (int node = 0; node < g.n_nodes(); ++node) {
    const auto k = static_cast<std::size_t>(node);
    area[static_cast<std::size_t>(g.section_of[k])] += g.area_um2[k];
  }
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    throw io_error("cellfit::info: cannot write '" + path + "': " + std::strerror(errno));
  }
  std::fprintf(f, "name,parent,parent_x,n3d,length_um,diam_um,area_um2,nseg\n");
  for (std::size_t i = 0; i < m.sections.size(); ++i) {
    const section& s = m.sections[i];
    const std::string parent =
        s.parent < 0 ? "" : m.sections[static_cast<std::size_t>(s.parent)].name;
    // diam: NEURON's sec.diam, the segment holding x = 0.5.
    std::fprintf(f, "%s,%s,%.17g,%zu,%.17g,%.17g,%.17g,%d\n", s.name.c_str(), parent.c_str(),
                 s.parent < 0 ? 0.0 : s.parent_x, s.has_pt3d ? s.points.size() : std::size_t{0},
                 s.length_um(), segment_diam_um(s, g.nseg[i], 0.5), area[i], g.nseg[i]);
  }
  const bool failed = std::ferror(f) != 0;
  if (std::fclose(f) != 0 || failed) {
    throw io_error("cellfit::info: error writing '" + path + "'");
  }
}

}  // namespace

int run_info(const info_options& o) {
  if (o.mechanisms) return print_catalogue();
  if (o.morphology.empty()) {
    throw usage_error("cellfit::info: give a MORPHOLOGY, or --mechanisms for the catalogue");
  }
  if (o.nseg < 0) throw usage_error("cellfit::info: --nseg must be >= 0");
  if (!(o.max_compartment_um >= 0))
    throw usage_error("cellfit::info: --max-compartment-um must be >= 0");
  if (!(o.ra > 0)) throw usage_error("cellfit::info: --ra must be positive");
  const bool config = ends_with(o.morphology, ".toml");
  if (!config && !o.overrides.empty())
    throw usage_error("cellfit::info: --set applies to a TOML config only");
  if (config && (o.nseg != 0 || o.max_compartment_um != 0 || o.ra != 35.4)) {
    throw usage_error(
        "cellfit::info: --nseg, --max-compartment-um and --ra apply to a morphology; a config "
        "sets them in [model] (or with --set model.KEY=VALUE)");
  }
  run_config rc;
  if (config) {
    rc = load_config(o.morphology, o.overrides);
  } else {
    rc.model.morph = load_morphology(o.morphology);
    discretization_options opt;
    opt.nseg = o.nseg;
    opt.max_compartment_um = o.max_compartment_um;
    opt.ra_ohm_cm = o.ra;
    rc.model.geom = discretize(rc.model.morph, opt);
  }
  const morphology& m = rc.model.morph;
  const cable_geometry& g = rc.model.geom;
  if (config) std::printf("config         %s\n", o.morphology.c_str());
  std::printf("morphology     %s\n", m.source.c_str());
  std::printf("model          %s\n", m.point_model   ? "point compartments (no geometry)"
                                     : m.value_graph ? "value graph (capacitances, conductances)"
                                                     : "cable");
  std::printf("sections       %zu\n", m.sections.size());
  std::printf("compartments   %d\n", g.n_compartments());
  std::printf("solver nodes   %d (%d zero-area junctions)\n", g.n_nodes(),
              g.n_nodes() - g.n_compartments());
  if (!m.point_model) std::printf("total area     %.6g um2\n", g.total_area_um2);
  struct tally {
    int sections = 0, compartments = 0;
    double area = 0, length = 0;
    double cm = 0, ra = 0;  // the model's values (one per region)
  };
  std::map<std::string, tally> by_region;
  for (const auto& s : m.sections) {
    auto& t = by_region[region_name(s.type)];
    ++t.sections;
    t.length += s.length_um();
  }
  for (int c = 0; c < g.n_compartments(); ++c) {
    auto& t = by_region[region_name(g.region_of[static_cast<std::size_t>(c)])];
    ++t.compartments;
    t.area += g.area_um2[static_cast<std::size_t>(g.node_of[static_cast<std::size_t>(c)])];
    if (config) {  // a bare morphology has no membrane yet
      t.cm = rc.model.cm[static_cast<std::size_t>(c)];
      t.ra = rc.model.ra_ohm_cm[static_cast<std::size_t>(c)];
    }
  }
  std::printf("\n%-8s %9s %13s %12s %12s", "region", "sections", "compartments", "length_um",
              "area_um2");
  std::printf(config ? " %8s %8s\n" : "\n", "cm", "Ra");
  for (const auto& [name, t] : by_region) {
    if (m.point_model) {  // no geometry: lengths, areas and Ra do not exist
      std::printf("%-8s %9d %13d %12s %12s", name.c_str(), t.sections, t.compartments, "-", "-");
    } else if (m.value_graph) {  // nominal areas (100 um2 per pF), no lengths
      std::printf("%-8s %9d %13d %12s %12.6g", name.c_str(), t.sections, t.compartments, "-",
                  t.area);
    } else {
      std::printf("%-8s %9d %13d %12.6g %12.6g", name.c_str(), t.sections, t.compartments, t.length,
                  t.area);
    }
    if (!config) {
      std::printf("\n");
    } else if (m.point_model || m.value_graph) {  // a graph's Ra is per edge: see below
      std::printf(" %8.4g %8s\n", t.cm, "-");
    } else {
      std::printf(" %8.4g %8.4g\n", t.cm, t.ra);
    }
  }
  if (!o.swc_out.empty()) {
    write_swc(m, o.swc_out);
    std::printf("\nwrote %s\n", o.swc_out.c_str());
  }
  if (o.compartments && m.value_graph) {
    // The graph as given: capacitance (cm times the value written), the edge to the parent,
    // and the leak when pas is inserted.
    const mechanism_placement* pas = rc.model.placement("pas");
    std::printf("\n%6s  %-16s %-8s %10s %-16s %10s %10s %10s\n", "index", "compartment", "list",
                "C_pF", "parent", "g_nS", "g_leak_nS", "e_leak_mV");
    for (int c = 0; c < g.n_compartments(); ++c) {
      const std::size_t cu = static_cast<std::size_t>(c);
      const std::size_t node = static_cast<std::size_t>(g.node_of[cu]);
      const double c_pf = rc.model.cm[cu] * g.area_um2[node] * 1e-2;
      const int p = g.parent[node];
      const std::string parent =
          p < 0 ? "-" : compartment_name(m, g, g.compartment_of[static_cast<std::size_t>(p)]);
      char gc[32] = "-", gl[32] = "-", el[32] = "-";
      if (p >= 0) std::snprintf(gc, sizeof gc, "%.6g", 1000.0 / rc.model.ra_ohm_cm[cu]);
      if (pas != nullptr) {
        const auto& pc = pas->compartments;
        const auto at = std::lower_bound(pc.begin(), pc.end(), c);
        if (at != pc.end() && *at == c) {
          const std::size_t j = static_cast<std::size_t>(at - pc.begin());
          std::snprintf(gl, sizeof gl, "%.6g", pas->params[0][j] * 10.0 * g.area_um2[node]);
          std::snprintf(el, sizeof el, "%.6g", pas->params[1][j]);
        }
      }
      std::printf("%6d  %-16s %-8s %10.6g %-16s %10s %10s %10s\n", c,
                  compartment_name(m, g, c).c_str(), region_name(g.region_of[cu]), c_pf,
                  parent.c_str(), gc, gl, el);
    }
  } else if (o.compartments) {
    // The sites a config can name: index, section(x), section list, path distance from
    // soma[0](0.5), area.
    std::printf("\n%6s  %-22s %-8s %14s %12s\n", "index", "section(x)", "list", "distance_um",
                "area_um2");
    for (int c = 0; c < g.n_compartments(); ++c) {
      const std::size_t node = static_cast<std::size_t>(g.node_of[static_cast<std::size_t>(c)]);
      const std::string name = compartment_name(m, g, c);
      const char* where = name.c_str();
      const char* list = region_name(g.region_of[static_cast<std::size_t>(c)]);
      if (m.point_model) {
        std::printf("%6d  %-22s %-8s %14s %12s\n", c, where, list, "-", "-");
      } else {
        std::printf("%6d  %-22s %-8s %14.6g %12.6g\n", c, where, list,
                    g.distance_um[static_cast<std::size_t>(c)], g.area_um2[node]);
      }
    }
  }
  if (config) {
    // The recorded sites as the config names them resolve to these compartments.
    std::printf("\n%-11s %6s  %s\n", "record site", "index", "section(x)");
    const auto& sites = rc.settings.record_compartments;
    for (std::size_t k = 0; k < sites.size(); ++k) {
      const std::size_t node =
          static_cast<std::size_t>(g.node_of[static_cast<std::size_t>(sites[k])]);
      const section& s = m.sections[static_cast<std::size_t>(g.section_of[node])];
      std::printf("%-11zu %6d  %s(%.17g)\n", k, sites[k], s.name.c_str(), g.x[node]);
    }
  }
  if (!o.sections_csv.empty()) {
    write_sections_csv(m, g, o.sections_csv);
    std::printf("\nwrote %s\n", o.sections_csv.c_str());
  }
  return 0;
}

}  // namespace cellfit::app
