#include "model/morphology.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "model/asc.hpp"
#include "model/import3d.hpp"

namespace cellfit {

const char* region_name(region r) {
  switch (r) {
    case region::soma:
      return "soma";
    case region::axon:
      return "axon";
    case region::basal:
      return "basal";
    case region::apical:
      return "apical";
    default:
      return "other";
  }
}

region region_of_swc_type(int type) {
  switch (type) {
    case 1:
      return region::soma;
    case 2:
      return region::axon;
    case 3:
      return region::basal;
    case 4:
      return region::apical;
    default:
      return region::other;
  }
}

namespace {

point3d make_point(double x, double y, double z, double d) {
  return {neuron_float(x), neuron_float(y), neuron_float(z), neuron_float(d)};
}

const char* neuron_type_name(region r) {
  switch (r) {
    case region::soma:
      return "soma";
    case region::axon:
      return "axon";
    case region::basal:
      return "dend";
    case region::apical:
      return "apic";
    default:
      return "dend_5";
  }
}

void name_sections(morphology& m) {
  std::map<std::string, int> count;
  for (auto& s : m.sections) {
    const std::string base = neuron_type_name(s.type);
    s.name = base + "[" + std::to_string(count[base]++) + "]";
  }
}

// A straight cylinder from `from` along `dir` (unit vector).
section cylinder(region type, int parent, double parent_x, const double from[3],
                 const double dir[3], double length, double diam, int nseg) {
  section s;
  s.type = type;
  s.parent = parent;
  s.parent_x = parent_x;
  s.nseg = nseg;
  s.points.push_back(make_point(from[0], from[1], from[2], diam));
  s.points.push_back(make_point(from[0] + dir[0] * length, from[1] + dir[1] * length,
                                from[2] + dir[2] * length, diam));
  return s;
}

morphology ball_and_stick() {
  morphology m;
  m.source = "builtin:ball_and_stick";
  const double o[3] = {0, 0, 0}, ex[3] = {1, 0, 0}, soma_end[3] = {20, 0, 0};
  m.sections.push_back(cylinder(region::soma, -1, 1.0, o, ex, 20.0, 20.0, 1));
  m.sections.push_back(cylinder(region::basal, 0, 1.0, soma_end, ex, 500.0, 2.0, 5));
  name_sections(m);
  return m;
}

morphology chain(int n) {
  morphology m;
  m.source = "builtin:chain6";
  m.point_model = true;
  const double ex[3] = {1, 0, 0};
  for (int i = 0; i < n; ++i) {
    const double from[3] = {10.0 * i, 0, 0};
    m.sections.push_back(
        cylinder(i == 0 ? region::soma : region::basal, i - 1, 1.0, from, ex, 10.0, 1.0, 1));
  }
  name_sections(m);
  return m;
}

// Full binary subtree of `count` (odd) sections grown from `parent` at parent_x, breadth
// first; children taper by 2^(-2/3) (Rall's 3/2 rule) and get shorter with depth.
void grow_binary(morphology& m, region type, int parent, double parent_x, const double from[3],
                 const double dir[3], double diam, double length, int count) {
  struct bud {
    int parent;
    double parent_x;
    double from[3];
    double dir[3];
    double diam, length;
  };
  std::vector<bud> queue;
  queue.push_back(
      {parent, parent_x, {from[0], from[1], from[2]}, {dir[0], dir[1], dir[2]}, diam, length});
  int made = 0;
  for (std::size_t q = 0; q < queue.size() && made < count; ++q) {
    const bud b = queue[q];
    m.sections.push_back(cylinder(type, b.parent, b.parent_x, b.from, b.dir, b.length, b.diam, 1));
    ++made;
    const int me = static_cast<int>(m.sections.size()) - 1;
    const point3d& end = m.sections.back().points.back();
    if (made + 2 * static_cast<int>(queue.size() - q - 1) + 2 > count) continue;
    const double cd = b.diam * 0.6299605249474366, cl = b.length * 0.85;
    // Two children turned +-30 degrees in the plane of dir and z.
    for (int sgn = -1; sgn <= 1; sgn += 2) {
      const double c = std::cos(0.5235987755982988), s = sgn * std::sin(0.5235987755982988);
      double nd[3] = {b.dir[0] * c - b.dir[1] * s, b.dir[0] * s + b.dir[1] * c, b.dir[2]};
      const double norm = std::sqrt(nd[0] * nd[0] + nd[1] * nd[1] + nd[2] * nd[2]);
      for (double& x : nd) x /= norm;
      queue.push_back({me, 1.0, {end.x, end.y, end.z}, {nd[0], nd[1], nd[2]}, cd, cl});
    }
  }
  if (made != count) throw internal_error("cellfit::morphology: binary tree size mismatch");
}

morphology tree184() {
  morphology m;
  m.source = "builtin:tree184";
  const double o[3] = {-10, 0, 0}, ex[3] = {1, 0, 0};
  m.sections.push_back(cylinder(region::soma, -1, 1.0, o, ex, 20.0, 20.0, 1));
  const double ax_from[3] = {0, -10, 0}, ax_dir[3] = {0, -1, 0};
  m.sections.push_back(cylinder(region::axon, 0, 0.5, ax_from, ax_dir, 400.0, 1.0, 1));
  // 101 basal sections in three stems of 33, 33 and 35; 81 apical sections in one trunk.
  const int stems[3] = {33, 33, 35};
  for (int k = 0; k < 3; ++k) {
    const double a = -0.6 - 1.0 * k;
    const double dir[3] = {std::cos(a), std::sin(a), 0.0};
    const double from[3] = {10 * dir[0], 10 * dir[1], 0.0};
    grow_binary(m, region::basal, 0, 0.5, from, dir, 1.6, 60.0, stems[k]);
  }
  const double up[3] = {0, 1, 0}, ap_from[3] = {0, 10, 0};
  grow_binary(m, region::apical, 0, 0.5, ap_from, up, 3.0, 120.0, 81);
  name_sections(m);
  return m;
}

morphology random_tree(int n, std::uint64_t seed) {
  if (n < 1) throw morphology_error("cellfit::morphology: random_tree needs N >= 1");
  morphology m;
  m.source = "builtin:random_tree:" + std::to_string(n) + ":" + std::to_string(seed);
  const double o[3] = {-10, 0, 0}, ex[3] = {1, 0, 0};
  m.sections.push_back(cylinder(region::soma, -1, 1.0, o, ex, 20.0, 20.0, 1));
  for (int i = 1; i < n; ++i) {
    const std::uint64_t key = counter_hash(seed, static_cast<std::uint64_t>(i), 0x72ee);
    // Attach to the soma centre or to the 1 end of an earlier dendrite section.
    const int parent = static_cast<int>(uniform_index(key, 0, static_cast<std::uint64_t>(i)));
    const bool on_soma = parent == 0;
    const auto& ps = m.sections[static_cast<std::size_t>(parent)];
    const double ang = 6.283185307179586 * uniform01(counter_hash(key, 2, 0));
    const double dir[3] = {std::cos(ang), std::sin(ang),
                           0.2 * (uniform01(counter_hash(key, 3, 0)) - 0.5)};
    const double from[3] = {on_soma ? 10 * dir[0] : ps.points.back().x,
                            on_soma ? 10 * dir[1] : ps.points.back().y,
                            on_soma ? 0.0 : ps.points.back().z};
    const double diam = on_soma ? 2.0 : std::max(0.3, ps.points.back().diam * 0.8);
    const double len = 20.0 + 80.0 * uniform01(counter_hash(key, 4, 0));
    const region type = uniform01(counter_hash(key, 5, 0)) < 0.5 ? region::basal : region::apical;
    const region t = on_soma ? type : ps.type;
    m.sections.push_back(cylinder(t, parent, on_soma ? 0.5 : 1.0, from, dir, len, diam, 1));
  }
  name_sections(m);
  return m;
}

double dist(const point3d& a, const point3d& b) {
  // Float differences as NEURON's nrn_pt3dmodified forms them.
  const double dx = static_cast<float>(a.x - b.x), dy = static_cast<float>(a.y - b.y),
               dz = static_cast<float>(a.z - b.z);
  return std::sqrt(dx * dx + dy * dy + dz * dz);
}

}  // namespace

double section::length_um() const {
  double arc = 0;
  for (std::size_t i = 1; i < points.size(); ++i) arc += dist(points[i], points[i - 1]);
  return arc;
}

double section::mean_diam_um() const {
  double integral = 0;
  for (std::size_t i = 1; i < points.size(); ++i) {
    integral += 0.5 * (points[i].diam + points[i - 1].diam) * dist(points[i], points[i - 1]);
  }
  return integral / length_um();
}

morphology morphology_from_swc(const std::vector<swc_sample>& samples, const std::string& source) {
  const std::size_t n = samples.size();
  std::map<int, std::size_t> index_of;
  for (std::size_t i = 0; i < n; ++i) index_of[samples[i].id] = i;
  std::vector<int> parent_index(n, -1);
  std::vector<std::vector<std::size_t>> children(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (samples[i].parent >= 0) {
      parent_index[i] = static_cast<int>(index_of[samples[i].parent]);
      children[static_cast<std::size_t>(parent_index[i])].push_back(i);
    }
  }
  auto fail = [&](std::size_t i, const std::string& what) -> void {
    throw morphology_error("cellfit::swc: " + source + ":" + std::to_string(samples[i].line) +
                           ": sample " + std::to_string(samples[i].id) + ": " + what);
  };

  // Import3d's three-point soma: a root soma sample with exactly two soma children that
  // are leaves, equal diameters, and |(|p2-p1| + |p3-p1|)/d - 1| < 0.01. It becomes a
  // one-point (sphere) soma.
  std::vector<char> dropped(n, 0);
  std::size_t root = 0;
  while (parent_index[root] != -1) ++root;
  auto is_three_point_soma = [&]() {
    if (samples[root].type != 1) return false;
    std::vector<std::size_t> soma_leaves;
    for (auto c : children[root]) {
      if (samples[c].type == 1 && children[c].empty()) soma_leaves.push_back(c);
    }
    if (soma_leaves.size() != 2) return false;
    for (auto c : children[root]) {
      if (samples[c].type == 1 && !children[c].empty()) return false;
    }
    const auto& p1 = samples[root];
    const auto& p2 = samples[soma_leaves[0]];
    const auto& p3 = samples[soma_leaves[1]];
    const float d1 = static_cast<float>(p1.radius) * 2, d2 = static_cast<float>(p2.radius) * 2,
                d3 = static_cast<float>(p3.radius) * 2;
    if (d1 != d2 || d1 != d3) return false;
    auto len = [](const swc_sample& a, const swc_sample& b) {
      return std::sqrt((a.x - b.x) * (a.x - b.x) + (a.y - b.y) * (a.y - b.y) +
                       (a.z - b.z) * (a.z - b.z));
    };
    if (std::fabs((len(p2, p1) + len(p3, p1)) / d1 - 1.0) >= 0.01) return false;
    dropped[soma_leaves[0]] = dropped[soma_leaves[1]] = 1;
    return true;
  };
  is_three_point_soma();

  // Section boundaries (Import3d's mark_branch): a dendrite sample continues its section
  // only if it has exactly one child, that child is the next line and of the same type. Soma
  // samples and the root continue into a next-line child of the same type whatever other
  // children they have (those attach along the section, see below).
  auto continues = [&](std::size_t i) {
    std::size_t live = 0;
    bool next_same = false;
    for (auto c : children[i]) {
      if (dropped[c]) continue;
      ++live;
      next_same = next_same || (c == i + 1 && samples[c].type == samples[i].type);
    }
    if (!next_same) return false;
    return live == 1 || samples[i].type == 1 || parent_index[i] < 0;
  };

  std::vector<import3d_section> list;
  std::vector<int> section_of(n, -1);
  std::vector<char> sphere;                      // per section: a one-point soma made a cylinder
  std::vector<std::size_t> run_first, run_last;  // per section: its first and last sample
  // Sections are made breadth first from the root, so parents precede children;
  // import3d_instantiate then lists and names them in Import3d's order.
  std::vector<std::size_t> starts{root};
  for (std::size_t k = 0; k < starts.size(); ++k) {
    const std::size_t s0 = starts[k];
    std::vector<std::size_t> run{s0};
    while (continues(run.back())) run.push_back(run.back() + 1);
    const int sec_index = static_cast<int>(list.size());
    for (auto i : run) section_of[i] = sec_index;
    section sec;
    sec.type = region_of_swc_type(samples[s0].type);
    for (auto i : run) {
      sec.points.push_back(
          make_point(samples[i].x, samples[i].y, samples[i].z,
                     static_cast<double>(static_cast<float>(samples[i].radius)) * 2));
    }
    if (parent_index[s0] >= 0) {
      const std::size_t ps = static_cast<std::size_t>(parent_index[s0]);
      const int psec = section_of[ps];
      sec.parent = psec;
      const std::size_t pu = static_cast<std::size_t>(psec);
      // Where the parent sample sits in its section decides the attachment (Import3d): a
      // sphere soma and interior points take a wire at 0.5 (no point prepended); the first
      // and last points attach at 0 and 1 and the parent's point starts the child, with
      // the child's diameter when a neurite leaves the soma, else the parent's.
      point3d p0 = make_point(samples[ps].x, samples[ps].y, samples[ps].z,
                              static_cast<double>(static_cast<float>(samples[ps].radius)) * 2);
      if (samples[ps].type == 1 && samples[s0].type != 1) p0.diam = sec.points.front().diam;
      const bool at_first = run_first[pu] == ps;
      const bool at_last = run_last[pu] == ps;
      if (sphere[pu] != 0 || (!at_first && !at_last)) {
        sec.parent_x = 0.5;
        if (sec.points.size() < 2) {
          // A one-sample child of a wire point starts at that point with its own diameter.
          p0.diam = sec.points.front().diam;
          sec.points.insert(sec.points.begin(), p0);
        }
      } else {
        sec.parent_x = at_last ? 1.0 : 0.0;
        sec.points.insert(sec.points.begin(), p0);
      }
    }
    const bool is_sphere = sec.points.size() == 1;
    if (is_sphere) {
      if (sec.type != region::soma || sec.parent >= 0) {
        fail(s0, "a one-sample section that is not the soma");
      }
      // Import3d's sphere_rep: a cylinder along x with length = diameter.
      const point3d c = sec.points.front();
      const double d = c.diam;
      sec.points = {make_point(c.x - d / 2, c.y, c.z, d), make_point(c.x, c.y, c.z, d),
                    make_point(c.x + d / 2, c.y, c.z, d)};
      sec.points.front().diam = sec.points.back().diam = sec.points[1].diam = c.diam;
    }
    // Import3d lists SWC sections in file order of their first sample and names them in
    // that order; import3d_instantiate also drops zero-length two-point sections first.
    list.push_back({samples[s0].type, sec.parent, sec.parent_x, std::move(sec.points), s0,
                    source + ":" + std::to_string(samples[s0].line) + ": sample " +
                        std::to_string(samples[s0].id)});
    sphere.push_back(is_sphere ? 1 : 0);
    run_first.push_back(run.front());
    run_last.push_back(run.back());
    // Children of every sample of this run start new sections (in file order).
    std::vector<std::size_t> next;
    for (auto i : run) {
      for (auto c : children[i]) {
        if (!dropped[c] && section_of[c] < 0 && !(continues(i) && c == i + 1)) next.push_back(c);
      }
    }
    std::sort(next.begin(), next.end());
    starts.insert(starts.end(), next.begin(), next.end());
  }
  return import3d_instantiate(std::move(list), source, "swc");
}

namespace {

// The reader is chosen by the file's extension, in any letter case.
morphology load_morphology_file(const std::string& path) {
  const auto slash = path.find_last_of('/');
  const auto dot = path.find_last_of('.');
  std::string ext;
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) {
    ext = path.substr(dot);
    for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (ext == ".swc") return morphology_from_swc(read_swc(path), path);
  if (ext == ".asc") return read_asc(path);
  throw morphology_error(
      "cellfit::morphology: '" + path + "': " +
      (ext.empty() ? std::string("no file extension") : "unknown file extension '" + ext + "'") +
      " (known: .swc, .asc, or builtin:NAME)");
}

}  // namespace

void write_swc(const morphology& m, const std::string& path) {
  std::ofstream out(path);
  if (!out) throw io_error("cellfit::morphology: cannot write '" + path + "'");
  out << "# written by cellfit from " << m.source << "\n";
  out.precision(9);
  // Three-point soma from the root section: centre, and +-r along y.
  const section& soma = m.sections.front();
  double cx = 0, cy = 0, cz = 0;
  for (const auto& p : soma.points) {
    cx += p.x;
    cy += p.y;
    cz += p.z;
  }
  cx /= soma.points.size();
  cy /= soma.points.size();
  cz /= soma.points.size();
  const double r = soma.points.front().diam / 2;
  out << "1 1 " << cx << " " << cy << " " << cz << " " << r << " -1\n";
  out << "2 1 " << cx << " " << cy - r << " " << cz << " " << r << " 1\n";
  out << "3 1 " << cx << " " << cy + r << " " << cz << " " << r << " 1\n";
  int next_id = 4;
  std::vector<int> last_id(m.sections.size(), 1);
  for (std::size_t s = 1; s < m.sections.size(); ++s) {
    const section& sec = m.sections[s];
    const int type = static_cast<int>(sec.type) <= 4 ? static_cast<int>(sec.type) : 5;
    int parent = sec.parent == 0 ? 1 : last_id[static_cast<std::size_t>(sec.parent)];
    // Children of dendrites start at the parent's last sample, which Import3d prepends.
    const std::size_t first = sec.parent == 0 ? 0 : 1;
    for (std::size_t k = first; k < sec.points.size(); ++k) {
      const auto& p = sec.points[k];
      out << next_id << " " << type << " " << p.x << " " << p.y << " " << p.z << " " << p.diam / 2
          << " " << parent << "\n";
      parent = next_id++;
    }
    last_id[s] = parent;
  }
  if (!out) throw io_error("cellfit::morphology: error writing '" + path + "'");
}

morphology load_morphology(const std::string& spec) {
  const std::string prefix = "builtin:";
  if (spec.rfind(prefix, 0) != 0) return load_morphology_file(spec);
  const std::string what = spec.substr(prefix.size());
  if (what == "ball_and_stick") return ball_and_stick();
  if (what == "chain6") return chain(6);
  if (what == "tree184") return tree184();
  if (what.rfind("random_tree:", 0) == 0) {
    std::istringstream in(what.substr(12));
    std::string ns, ss, rest;
    std::getline(in, ns, ':');
    std::getline(in, ss, ':');
    std::getline(in, rest);
    if (!rest.empty() || (!ss.empty() && ss[0] == '-')) {
      throw morphology_error("cellfit::morphology: '" + spec +
                             "': expected builtin:random_tree:N[:SEED] with SEED >= 0");
    }
    char* end = nullptr;
    const long count = std::strtol(ns.c_str(), &end, 10);
    if (ns.empty() || *end != '\0' || count < 1 || count > 10000000) {
      throw morphology_error("cellfit::morphology: '" + spec +
                             "': expected builtin:random_tree:N[:SEED] with N >= 1");
    }
    std::uint64_t seed = 1;
    if (!ss.empty()) {
      seed = std::strtoull(ss.c_str(), &end, 10);
      if (*end != '\0') throw morphology_error("cellfit::morphology: '" + spec + "': bad seed");
    }
    return random_tree(static_cast<int>(count), seed);
  }
  throw morphology_error("cellfit::morphology: unknown built-in '" + spec +
                         "' (ball_and_stick, chain6, tree184, random_tree:N[:SEED])");
}

}  // namespace cellfit
