#include "model/morphology.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "model/asc.hpp"
#include "model/detail/neuron_float.hpp"
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

using detail::neuron_float;

point3d make_point(double x, double y, double z, double d) {
  return {neuron_float(x), neuron_float(y), neuron_float(z), neuron_float(d)};
}

// A sample's point: its radius as a float, doubled into NEURON's diameter.
point3d sample_point(const swc_sample& s) {
  return make_point(s.x, s.y, s.z, static_cast<double>(static_cast<float>(s.radius)) * 2);
}

// Import3d's sphere_rep of a one-point soma at c (diameter c.diam): a cylinder along x with
// length = diameter.
std::vector<point3d> sphere_points(const point3d& c) {
  const double d = c.diam;
  std::vector<point3d> p = {make_point(c.x - d / 2, c.y, c.z, d), make_point(c.x, c.y, c.z, d),
                            make_point(c.x + d / 2, c.y, c.z, d)};
  for (auto& q : p) q.diam = c.diam;
  return p;
}

// The ends of a sphere_rep are stored points like any other: in range, so that the cell
// exports.
bool sphere_in_range(const std::vector<point3d>& sphere) {
  return swc_coordinate_in_range(sphere.front().x) && swc_coordinate_in_range(sphere.back().x);
}

// Import3d's test for NeuroMorpho's three-point soma (root p1, leaves p2 and p3): equal
// diameters and |(|p2 - p1| + |p3 - p1|) / d - 1| < 0.01.
bool three_point_soma_shape(const swc_sample& p1, const swc_sample& p2, const swc_sample& p3) {
  const float d1 = static_cast<float>(p1.radius) * 2, d2 = static_cast<float>(p2.radius) * 2,
              d3 = static_cast<float>(p3.radius) * 2;
  if (d1 != d2 || d1 != d3) return false;
  auto len = [](const swc_sample& a, const swc_sample& b) {
    return std::sqrt((a.x - b.x) * (a.x - b.x) + (a.y - b.y) * (a.y - b.y) +
                     (a.z - b.z) * (a.z - b.z));
  };
  return std::fabs((len(p2, p1) + len(p3, p1)) / d1 - 1.0) < 0.01;
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
    if (!three_point_soma_shape(samples[root], samples[soma_leaves[0]], samples[soma_leaves[1]])) {
      return false;
    }
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
    for (auto i : run) sec.points.push_back(sample_point(samples[i]));
    if (parent_index[s0] >= 0) {
      const std::size_t ps = static_cast<std::size_t>(parent_index[s0]);
      const int psec = section_of[ps];
      sec.parent = psec;
      const std::size_t pu = static_cast<std::size_t>(psec);
      // Where the parent sample sits in its section decides the attachment (Import3d): a
      // sphere soma and interior points take a wire at 0.5 (no point prepended); the first
      // and last points attach at 0 and 1 and the parent's point starts the child, with
      // the child's diameter when a neurite leaves the soma, else the parent's.
      point3d p0 = sample_point(samples[ps]);
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
      sec.points = sphere_points(sec.points.front());
      if (!sphere_in_range(sec.points)) {
        fail(s0, "the soma sphere (a cylinder of length = diameter along x) reaches beyond x = " +
                     std::string(sec.points.front().x < 0 ? "-" : "") + "1e+09 um");
      }
    }
    // Import3d lists SWC sections in file order of their first sample and names them in
    // that order; import3d_instantiate also drops zero-length two-point sections first.
    list.push_back({samples[s0].type, sec.parent, sec.parent_x, std::move(sec.points), s0,
                    source + ":" + std::to_string(samples[s0].line) + ": sample " +
                        std::to_string(samples[s0].id)});
    sphere.push_back(is_sphere ? 1 : 0);
    run_first.push_back(run.front());
    run_last.push_back(run.back());
    // Children of every sample of this run start new sections (in file order). continues()
    // walks all children of i: asked once per sample, not once per child, so that a sample
    // with many children (a star) costs linear time.
    std::vector<std::size_t> next;
    for (auto i : run) {
      const bool goes_on = continues(i);
      for (auto c : children[i]) {
        if (!dropped[c] && section_of[c] < 0 && !(goes_on && c == i + 1)) next.push_back(c);
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
  // A path that names nothing readable is an I/O error whatever its name.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw io_error("cellfit::morphology: '" + path + "': " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw io_error("cellfit::morphology: '" + path + "': is a directory");
  throw morphology_error(
      "cellfit::morphology: '" + path + "': " +
      (ext.empty() ? std::string("no file extension") : "unknown file extension '" + ext + "'") +
      " (known: .swc, .asc, or builtin:NAME)");
}

}  // namespace

namespace {

int swc_type_of(region r) {
  const int t = static_cast<int>(r);
  return t <= 4 ? t : 5;
}

// A number written so that it reads back as the same value where the reader uses it: a
// float (every stored point; the reader keeps points as floats) in the 9 significant digits
// that give back that float, anything else (`exact`: the three-point soma, whose shape the
// reader tests in double precision) in the 17 that give back the double.
std::string swc_number(double v, bool exact = false) {
  char buf[40];
  const bool is_float = std::fabs(v) <= std::numeric_limits<float>::max() &&
                        static_cast<double>(static_cast<float>(v)) == v;
  std::snprintf(buf, sizeof buf, is_float && !exact ? "%.9g" : "%.17g", v);
  return buf;
}

bool sample_in_range(const swc_sample& s) {
  return swc_coordinate_in_range(s.x) && swc_coordinate_in_range(s.y) &&
         swc_coordinate_in_range(s.z) && swc_radius_in_range(s.radius);
}

// The root section as NeuroMorpho's three-point soma: the centre (the middle point of a
// sphere, else the mean of the points) and two leaves at +-r, r half the root's first
// diameter. The leaves go along y (NeuroMorpho's convention); where that would not read back
// as this sphere (a leaf out of range, or r lost in the rounding of a huge coordinate) they
// go along the axis nearest the origin, the centre moved toward the origin by r if needed.
// Every candidate is checked with the reader's own tests; none passes only for roots whose
// sphere would have no length in single precision or reach out of range, or with soma-type
// children (they would hide the three-point shape from Import3d). The caller then writes
// the root section point by point.
std::optional<std::array<swc_sample, 3>> three_point_soma(const morphology& m) {
  const section& root = m.sections.front();
  for (std::size_t s = 1; s < m.sections.size(); ++s) {
    if (m.sections[s].parent == 0 && m.sections[s].type == region::soma) return std::nullopt;
  }
  point3d c = root.points[root.points.size() / 2];
  if (root.points.size() != 3) {
    double x = 0, y = 0, z = 0;
    for (const auto& p : root.points) {
      x += p.x;
      y += p.y;
      z += p.z;
    }
    const double n = static_cast<double>(root.points.size());
    c = make_point(x / n, y / n, z / n, 0);
  }
  const double r = root.points.front().diam / 2.0;
  const double centre[3] = {c.x, c.y, c.z};
  int nearest = 0;
  for (int k = 1; k < 3; ++k) {
    if (std::fabs(centre[k]) < std::fabs(centre[nearest])) nearest = k;
  }
  for (const int axis : {1, nearest}) {
    for (const bool shift : {false, true}) {
      double p[3] = {centre[0], centre[1], centre[2]};
      if (shift) p[axis] -= std::copysign(r, p[axis]);
      std::array<swc_sample, 3> out;
      for (int j = 0; j < 3; ++j) {
        double q[3] = {p[0], p[1], p[2]};
        if (j > 0) q[axis] += j == 1 ? -r : r;
        out[j].id = j + 1;
        out[j].type = 1;
        out[j].x = q[0];
        out[j].y = q[1];
        out[j].z = q[2];
        out[j].radius = r;
        out[j].parent = j == 0 ? -1 : 1;
      }
      if (!sample_in_range(out[0]) || !sample_in_range(out[1]) || !sample_in_range(out[2])) {
        continue;
      }
      if (!three_point_soma_shape(out[0], out[1], out[2])) continue;
      section sphere;
      sphere.points = sphere_points(sample_point(out[0]));
      if (!(sphere.length_um() > 0) || !sphere_in_range(sphere.points)) continue;
      return out;
    }
  }
  return std::nullopt;
}

}  // namespace

void write_swc(const morphology& m, const std::string& path) {
  if (m.sections.empty()) {
    throw morphology_error("cellfit::morphology: " + m.source + ": no sections to write");
  }
  if (m.value_graph) {
    throw morphology_error("cellfit::morphology: " + m.source +
                           ": a value graph has no geometry to write as SWC");
  }
  // The source is a path: a newline in it must not end the comment.
  std::string text = "# written by cellfit from ";
  for (const char c : m.source) text += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c;
  text += "\n";
  auto emit = [&text](int id, int type, const point3d& p, double radius, int parent,
                      bool exact = false) {
    text += std::to_string(id) + " " + std::to_string(type) + " " + swc_number(p.x, exact) + " " +
            swc_number(p.y, exact) + " " + swc_number(p.z, exact) + " " +
            swc_number(radius, exact) + " " + std::to_string(parent) + "\n";
  };
  // point_id[s]: the samples written for section s's own points (without the one Import3d
  // prepends from the parent), in order.
  std::vector<std::vector<int>> point_id(m.sections.size());
  int next_id = 1;
  const section& root = m.sections.front();
  const auto soma = three_point_soma(m);
  if (soma) {
    for (const auto& s : *soma) emit(s.id, 1, {s.x, s.y, s.z, 0}, s.radius, s.parent, true);
    point_id[0] = {1};
    next_id = 4;
  } else {
    // The root's own points, one sample each: Import3d rebuilds the same section.
    for (const auto& p : root.points) {
      emit(next_id, swc_type_of(root.type), p, p.diam / 2, next_id == 1 ? -1 : next_id - 1);
      point_id[0].push_back(next_id++);
    }
  }
  for (std::size_t s = 1; s < m.sections.size(); ++s) {
    const section& sec = m.sections[s];
    const auto& pid = point_id[static_cast<std::size_t>(sec.parent)];
    // Where the section attaches, and whether its first point is the one Import3d prepends
    // from the parent's sample (at the first or last sample of the parent's run: x = 0 or 1)
    // or a point of its own (a wire from an interior sample, or from the soma centre).
    int attach = 0;
    std::size_t first = 0;
    if (sec.parent == 0 && soma) {
      attach = 1;
    } else if (sec.parent_x == 1.0) {
      attach = pid.back();
      first = 1;
    } else if (sec.parent_x == 0.0) {
      attach = pid.front();
      first = 1;
    } else {
      attach = pid[pid.size() / 2];
    }
    int parent = attach;
    for (std::size_t k = first; k < sec.points.size(); ++k) {
      const auto& p = sec.points[k];
      emit(next_id, swc_type_of(sec.type), p, p.diam / 2, parent);
      point_id[s].push_back(next_id);
      parent = next_id++;
    }
  }
  std::ofstream out(path, std::ios::binary);
  if (!out) throw io_error("cellfit::morphology: cannot write '" + path + "'");
  out << text;
  out.close();
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
