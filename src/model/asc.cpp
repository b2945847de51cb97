#include "model/asc.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <sstream>
#include <utility>
#include <vector>

#include <Eigen/Core>
#include <Eigen/Eigenvalues>

#include "common/error.hpp"
#include "model/import3d.hpp"

// The reader follows NEURON's Import3d_Neurolucida3 (read_nlcda3.hoc) production by
// production, so that a file gives the same sections in both: the same points end up in the
// same sections (including Import3d's habits, such as a marker that opens a branch lending it
// its points), and the soma contour is reduced by the same arithmetic (contour2centroid in
// import3d_gui.hoc). Where Import3d would silently stop or loop on malformed input, this
// reader refuses it instead.

namespace cellfit {

namespace {

constexpr double pi = 3.14159265358979323846;

// At most this many characters of user text are quoted in a message.
constexpr std::size_t quote_limit = 40;

// Splits and sets nest by recursion; deeper nesting than any reconstruction has (branch
// orders stay in the hundreds) is refused before it can exhaust the stack.
constexpr int max_nesting = 5000;

std::string quote(const std::string& s) {
  if (s.size() <= quote_limit) return "'" + s + "'";
  return "'" + s.substr(0, quote_limit) + "...'";
}

// ---------------------------------------------------------------------------------------
// Tokens. Import3d's lexer works line by line: ';' starts a comment to the end of the line,
// a number is whatever C's "%lf" reads, "set"/"RGB" are recognised as word prefixes, a string
// ends on its own line.

enum class tok { eof, number, lpar, rpar, comma, bar, set, rgb, string, label, lspine, rspine };

struct token {
  tok kind = tok::eof;
  double value = 0;  // numbers
  std::string text;  // the source text (a string's contents without the quotes)
  int line = 0;
};

std::string describe(const token& t) {
  switch (t.kind) {
    case tok::eof:
      return "the end of the file";
    case tok::string:
      return "the string \"" +
             (t.text.size() <= quote_limit ? t.text : t.text.substr(0, quote_limit) + "...") + "\"";
    default:
      return quote(t.text);
  }
}

class lexer {
 public:
  explicit lexer(std::string name) : name_(std::move(name)) {}

  std::vector<token> run(const std::string& text) {
    std::vector<token> out;
    std::istringstream in(text);
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      lex_line(line, line_no, out);
    }
    token end;
    end.line = std::max(line_no, 1);
    out.push_back(end);
    return out;
  }

 private:
  [[noreturn]] void fail(int line, const std::string& what) const {
    throw morphology_error("cellfit::asc: " + name_ + ":" + std::to_string(line) + ": " + what);
  }

  static bool is_label_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
  }

  // "set" and "RGB" are tokens when the line goes on after them (Import3d scans " set %[^@]").
  static bool word_prefix(const std::string& s, std::size_t pos, const char* word) {
    const std::size_t n = std::char_traits<char>::length(word);
    if (s.compare(pos, n, word) != 0) return false;
    std::size_t q = pos + n;
    while (q < s.size() && std::isspace(static_cast<unsigned char>(s[q]))) ++q;
    return q < s.size();
  }

  void lex_line(std::string line, int line_no, std::vector<token>& out) const {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    std::size_t pos = 0;
    const auto push = [&](tok kind, std::size_t end) {
      token t;
      t.kind = kind;
      t.text = line.substr(pos, end - pos);
      t.line = line_no;
      out.push_back(std::move(t));
      pos = end;
    };
    for (;;) {
      while (pos < line.size() && std::isspace(static_cast<unsigned char>(line[pos]))) ++pos;
      if (pos >= line.size() || line[pos] == ';') return;
      const char c = line[pos];
      const char* begin = line.c_str() + pos;
      char* end = nullptr;
      const double v = std::strtod(begin, &end);
      if (end != begin) {
        push(tok::number, pos + static_cast<std::size_t>(end - begin));
        out.back().value = v;
        continue;
      }
      switch (c) {
        case '(':
          push(tok::lpar, pos + 1);
          continue;
        case ')':
          push(tok::rpar, pos + 1);
          continue;
        case ',':
          push(tok::comma, pos + 1);
          continue;
        case '|':
          push(tok::bar, pos + 1);
          continue;
        case '<':
          push(tok::lspine, pos + 1);
          continue;
        case '>':
          push(tok::rspine, pos + 1);
          continue;
        default:
          break;
      }
      if (word_prefix(line, pos, "set") || word_prefix(line, pos, "Set") ||
          word_prefix(line, pos, "SET")) {
        push(tok::set, pos + 3);
        continue;
      }
      if (word_prefix(line, pos, "RGB")) {
        push(tok::rgb, pos + 3);
        continue;
      }
      if (c == '"') {
        const std::size_t close = line.find('"', pos + 1);
        if (close == std::string::npos) {
          fail(line_no, "unterminated string " + quote(line.substr(pos)) +
                            " (a string ends on its own line)");
        }
        token t;
        t.kind = tok::string;
        t.text = line.substr(pos + 1, close - pos - 1);
        t.line = line_no;
        out.push_back(std::move(t));
        pos = close + 1;
        continue;
      }
      if (is_label_char(c)) {
        std::size_t e = pos;
        while (e < line.size() && is_label_char(line[e])) ++e;
        push(tok::label, e);
        continue;
      }
      fail(line_no, "unexpected character " + quote(std::string(1, c)));
    }
  }

  std::string name_;
};

// ---------------------------------------------------------------------------------------
// Parser: Import3d's recursive descent, collecting contours and tree sections.

struct asc_point {
  double x = 0, y = 0, z = 0, d = 0;
  int line = 0;
};

struct raw_section {
  bool contour = false;
  int type = 0;     // 1 soma contour; 2 axon, 3 dendrite, 4 apical, 0 another tree
  int parent = -1;  // index into the parser's sections, -1 for a root
  std::vector<asc_point> points;
  int line = 0;  // the contour's '(' or the section's first point
};

class parser {
 public:
  parser(std::vector<token> tokens, std::string name)
      : t_(std::move(tokens)), name_(std::move(name)) {}

  std::vector<raw_section> run() {
    if (cur().kind == tok::eof) fail(cur().line, "no objects (an empty file)");
    objects();
    if (cur().kind != tok::eof) {
      if (cur().kind == tok::rpar) fail(cur().line, "unbalanced ')': no object is open here");
      fail(cur().line, "expected '(' to start an object, found " + describe(cur()));
    }
    return std::move(sections_);
  }

 private:
  const token& cur() const { return t_[pos_]; }
  const token& ahead(std::size_t k) const { return t_[std::min(pos_ + k, t_.size() - 1)]; }
  void next() {
    if (pos_ + 1 < t_.size()) ++pos_;
  }

  [[noreturn]] void fail(int line, const std::string& what) const {
    throw morphology_error("cellfit::asc: " + name_ + ":" + std::to_string(line) + ": " + what);
  }

  void expect(tok kind, const char* what) const {
    if (cur().kind != kind)
      fail(cur().line, std::string("expected ") + what + ", found " + describe(cur()));
  }

  // A ')' closing what was opened on `open_line`; unbalanced parentheses end up here.
  void close(int open_line, const char* what) {
    if (cur().kind == tok::eof) {
      fail(cur().line, std::string("end of file inside the ") + what + " opened on line " +
                           std::to_string(open_line) + " (unbalanced parentheses)");
    }
    if (cur().kind != tok::rpar) {
      fail(cur().line, std::string("expected ')' to close the ") + what + " opened on line " +
                           std::to_string(open_line) + ", found " + describe(cur()));
    }
    next();
  }

  void optional_comma() {
    if (cur().kind == tok::comma) next();
  }

  // Counts one level of nesting for the lifetime of the object.
  class nesting {
   public:
    explicit nesting(parser& p) : p_(p) {
      if (++p_.depth_ > max_nesting) {
        p_.fail(p_.cur().line, "objects nested more than " + std::to_string(max_nesting) +
                                   " deep (unbalanced parentheses?)");
      }
    }
    ~nesting() { --p_.depth_; }
    nesting(const nesting&) = delete;
    nesting& operator=(const nesting&) = delete;

   private:
    parser& p_;
  };

  void objects() {
    object();
    for (;;) {
      optional_comma();
      if (cur().kind != tok::lpar) break;
      object();
    }
  }

  void object() {
    expect(tok::lpar, "'(' to start an object");
    switch (ahead(1).kind) {
      case tok::string:
        contour();
        break;
      case tok::label:
        marker_or_property();
        break;
      case tok::lpar:
        tree_or_text();
        break;
      case tok::set:
        set_of_objects();
        break;
      default:
        fail(ahead(1).line,
             "expected a contour, tree, marker or property after '(', found " + describe(ahead(1)));
    }
  }

  void marker_or_property() {
    if (ahead(2).kind == tok::lpar) {
      marker();
    } else {
      property();
    }
  }

  // '(' Label values... ')'
  void property() {
    const int open = cur().line;
    next();
    expect(tok::label, "a property name");
    properties_.push_back(cur().text);
    next();
    while (cur().kind == tok::number || cur().kind == tok::string || cur().kind == tok::label ||
           cur().kind == tok::rgb) {
      if (cur().kind == tok::rgb) {
        next();
        expect(tok::lpar, "'(' after RGB");
        next();
        for (int k = 0; k < 3; ++k) {
          if (k > 0) optional_comma();
          expect(tok::number, "a colour component");
          next();
        }
        expect(tok::rpar, "')' closing the RGB colour");
      }
      next();
    }
    close(open, "property");
  }

  // Leading '(' Label ...')' and '(' Set ... ')' items of a contour, tree or spine.
  void properties() {
    properties_.clear();
    while (cur().kind == tok::lpar && (ahead(1).kind == tok::label || ahead(1).kind == tok::set)) {
      if (ahead(1).kind == tok::label) {
        property();
      } else {
        set_of_objects();
      }
      optional_comma();
    }
  }

  // '(' Set "name" objects... ')': its objects count as if outside.
  void set_of_objects() {
    const nesting level(*this);
    const int open = cur().line;
    next();
    next();
    expect(tok::string, "the set's name (a string)");
    next();
    if (cur().kind != tok::rpar) objects();
    close(open, "set");
  }

  // '(' x [,] y [[,] z [[,] d [,] [label] [bezier]]] ')'; appended to the point list unless a
  // spine's.
  asc_point point(bool keep) {
    expect(tok::lpar, "'(' to start a point");
    const int open = cur().line;
    asc_point p;
    p.line = open;
    next();
    expect(tok::number, "the point's x coordinate");
    p.x = cur().value;
    next();
    optional_comma();
    expect(tok::number, "the point's y coordinate");
    p.y = cur().value;
    next();
    optional_comma();
    if (cur().kind == tok::number) {
      p.z = cur().value;
      next();
      optional_comma();
      if (cur().kind == tok::number) {
        p.d = cur().value;
        next();
        optional_comma();
        if (cur().kind == tok::label) next();
        optional_comma();
        if (cur().kind == tok::lpar) {  // Bezier control values
          const int bopen = cur().line;
          next();
          for (int k = 0; k < 4; ++k) {
            if (k > 0) optional_comma();
            expect(tok::number, "a number of the point's Bezier values");
            next();
          }
          close(bopen, "Bezier values");
        }
      }
    }
    close(open, "point");
    if (keep) points_.push_back(p);
    return p;
  }

  void points() {
    point(true);
    for (;;) {
      optional_comma();
      if (cur().kind != tok::lpar) break;
      point(true);
    }
  }

  // '(' "name" properties points ')': "CellBody", "Cell Body" and "Soma" contours of at least
  // three points are somata; others (and their points) are read and left out.
  void contour() {
    const int open = cur().line;
    const std::size_t begin = points_.size();
    next();
    const std::string name = cur().text;
    const bool soma = name == "CellBody" || name == "Cell Body" || name == "Soma";
    next();
    properties();
    if (cur().kind != tok::lpar) {
      fail(cur().line, "contour " + quote(name) + " has no points (found " + describe(cur()) + ")");
    }
    points();
    close(open, "contour");
    if (soma && points_.size() - begin > 2) {
      raw_section s;
      s.contour = true;
      s.type = 1;
      s.points.assign(points_.begin() + static_cast<std::ptrdiff_t>(begin), points_.end());
      s.line = open;
      sections_.push_back(std::move(s));
    }
  }

  // '(' Label properties points ')'
  void marker() {
    const int open = cur().line;
    next();
    next();
    properties();
    points();
    close(open, "marker");
  }

  // Skips a marker after a branch's points: its parentheses balanced, its content unread.
  void skip_marker() {
    expect(tok::lpar, "'(' to start a marker");
    const int open = cur().line;
    int depth = 1;
    while (depth > 0) {
      next();
      if (cur().kind == tok::eof) {
        fail(cur().line, "end of file inside the marker opened on line " + std::to_string(open) +
                             " (unbalanced parentheses)");
      }
      if (cur().kind == tok::rpar) --depth;
      if (cur().kind == tok::lpar) ++depth;
    }
    next();
  }

  // A text object '(' properties point "text" ')' looks like a tree up to its string.
  void tree_or_text() {
    const std::size_t start = pos_, npoints = points_.size();
    next();
    properties();
    // What is not a point here is an error as a tree too, and reported as one.
    if (cur().kind == tok::lpar && ahead(1).kind == tok::number) point(false);
    if (cur().kind == tok::string && ahead(1).kind == tok::rpar) {
      next();
      next();
      return;
    }
    pos_ = start;
    points_.resize(npoints);
    tree();
  }

  // '(' properties branch ')': the type comes from the last leading property.
  void tree() {
    const int open = cur().line;
    next();
    properties();
    int type = 0;
    if (!properties_.empty()) {
      const std::string& last = properties_.back();
      if (last == "Axon") type = 2;
      if (last == "Dendrite") type = 3;
      if (last == "Apical") type = 4;
    }
    if (cur().kind != tok::lpar || ahead(1).kind == tok::lpar) {
      fail(cur().line,
           "a tree with no points (found " + describe(cur()) + " where its first point should be)");
    }
    branch(-1, type);
    close(open, "tree");
  }

  // points, then markers, then an end word or a split into child branches.
  void branch(int parent, int type) {
    const nesting level(*this);
    const std::size_t begin = points_.size();
    const int first_line = cur().line;
    if (cur().kind != tok::lpar || ahead(1).kind == tok::lpar) {
      fail(cur().line, "a branch with no points (found " + describe(cur()) +
                           " where its first point should be)");
    }
    tree_points();
    if (points_.size() == begin) fail(first_line, "a branch with no points");
    raw_section s;
    s.type = type;
    s.parent = parent;
    s.line = points_[begin].line;
    // A child starts at its parent's last point unless its own first point is already there;
    // the added point takes the child's first diameter.
    if (parent >= 0) {
      const asc_point& last = sections_[static_cast<std::size_t>(parent)].points.back();
      const asc_point& own = points_[begin];
      if (last.x != own.x || last.y != own.y || last.z != own.z) {
        asc_point p = last;
        p.d = own.d;
        p.line = own.line;
        s.points.push_back(p);
      }
    }
    s.points.insert(s.points.end(), points_.begin() + static_cast<std::ptrdiff_t>(begin),
                    points_.end());
    const int me = static_cast<int>(sections_.size());
    sections_.push_back(std::move(s));
    branch_end(me, type);
  }

  void tree_points() {
    tree_point();
    for (;;) {
      optional_comma();
      if (cur().kind != tok::lpar || ahead(1).kind != tok::number) break;
      tree_point();
    }
  }

  void tree_point() {
    if (ahead(1).kind == tok::label) {
      marker_or_property();
      return;
    }
    point(true);
    while (cur().kind == tok::lspine) spine();
  }

  // '<' properties point '>': recorded by Import3d, no part of the geometry.
  void spine() {
    const int open = cur().line;
    next();
    properties();
    point(false);
    if (cur().kind != tok::rspine) {
      fail(cur().line, "expected '>' to close the spine opened on line " + std::to_string(open) +
                           ", found " + describe(cur()));
    }
    next();
  }

  void branch_end(int me, int type) {
    optional_comma();
    if (cur().kind == tok::lpar) {
      while (ahead(1).kind == tok::label) skip_marker();
    }
    optional_comma();
    if (cur().kind == tok::lpar) {
      const int open = cur().line;
      next();
      branch(me, type);
      while (cur().kind == tok::bar) {
        next();
        branch(me, type);
      }
      close(open, "split");
    } else if (cur().kind == tok::label) {
      next();  // an end word: Normal, Incomplete, High, Low, Generated, Midpoint, Origin, ...
    }
  }

  std::vector<token> t_;
  std::size_t pos_ = 0;
  int depth_ = 0;
  std::string name_;
  std::vector<asc_point> points_;        // every point read so far, in file order
  std::vector<std::string> properties_;  // names of the latest leading properties
  std::vector<raw_section> sections_;    // contours and tree sections, in file order
};

// ---------------------------------------------------------------------------------------
// Soma contours to a centroid section (import3d_gui.hoc contour2centroid and
// contourstack2centroid, import3d_sec.hoc contourcenter and approximate_contour_by_circle).

using coords = std::array<std::vector<double>, 3>;
using vec3 = std::array<double, 3>;

// Vector.interpolate: yd at xd by linear interpolation of (xs, ys), held constant outside;
// steps where xs does not increase are skipped.
std::vector<double> interpolate(const std::vector<double>& xd, const std::vector<double>& xs,
                                const std::vector<double>& ys) {
  const std::size_t nd = xd.size(), ns = xs.size();
  std::vector<double> yd(nd);
  std::size_t id = 0;
  for (; id < nd && xd[id] <= xs[0]; ++id) yd[id] = ys[0];
  for (std::size_t is = 1; is < ns && id < nd; ++is) {
    if (xs[is] <= xs[is - 1]) continue;
    for (; id < nd && xd[id] <= xs[is]; ++id) {
      const double theta = (xd[id] - xs[is - 1]) / (xs[is] - xs[is - 1]);
      yd[id] = (1. - theta) * ys[is - 1] + theta * ys[is];
    }
  }
  for (; id < nd; ++id) yd[id] = ys[ns - 1];
  return yd;
}

double mean(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// contourcenter: the contour's points from the first to the last (the closing edge is not
// walked) resampled at 101 equally spaced arc lengths, arc length measured in the x-y plane
// only; returns their mean and replaces `c` with them.
vec3 resample_contour(coords& c) {
  const std::size_t n = c[0].size();
  std::vector<double> arc(n, 0.0);
  for (std::size_t i = 1; i < n; ++i) {
    const double dx = c[0][i] - c[0][i - 1], dy = c[1][i] - c[1][i - 1];
    arc[i] = arc[i - 1] + std::sqrt(dx * dx + dy * dy);
  }
  const double step = arc[n - 1] / 100;
  std::vector<double> at(101);
  for (std::size_t k = 0; k < at.size(); ++k) at[k] = static_cast<double>(k) * step;
  vec3 centre{};
  for (int k = 0; k < 3; ++k) {
    c[k] = interpolate(at, arc, c[k]);
    centre[k] = mean(c[k]);
  }
  return centre;
}

coords coords_of(const std::vector<asc_point>& pts) {
  coords c;
  for (const auto& p : pts) {
    c[0].push_back(p.x);
    c[1].push_back(p.y);
    c[2].push_back(p.z);
  }
  return c;
}

double dot(const vec3& a, const vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

// Keeps a strictly increasing run of `d` (with `r` alongside), dropping from the end every
// value not above its predecessor, as contour2centroid's "make it convex" loop does.
void keep_increasing(std::vector<double>& d, std::vector<double>& r) {
  long j = static_cast<long>(d.size()) - 1;
  while (j > 0) {
    const auto u = static_cast<std::size_t>(j);
    if (d[u] <= d[u - 1]) {
      d.erase(d.begin() + j);
      r.erase(r.begin() + j);
      if (j != static_cast<long>(d.size())) ++j;
    }
    --j;
  }
}

// One contour: the principal axis of its resampled perimeter, the perimeter split into the
// two sides between its extreme points along that axis, and 21 points along the axis whose
// diameters are the distances between the sides.
std::vector<point3d> contour_centroid(const raw_section& s, const std::string& where) {
  const auto fail = [&](const std::string& what) {
    throw morphology_error("cellfit::asc: " + where + ": soma contour: " + what);
  };
  coords c = coords_of(s.points);
  const vec3 centre = resample_contour(c);
  const std::size_t n = c[0].size();
  coords p;
  for (int k = 0; k < 3; ++k) {
    p[k].resize(n);
    for (std::size_t i = 0; i < n; ++i) p[k][i] = c[k][i] - centre[k];
  }
  Eigen::Matrix3d scatter;
  for (int a = 0; a < 3; ++a) {
    for (int b = a; b < 3; ++b) {
      double sum = 0;
      for (std::size_t i = 0; i < n; ++i) sum += p[a][i] * p[b][i];
      scatter(a, b) = scatter(b, a) = sum;
    }
  }
  // Eigenvalues ascending: the major axis has the largest, the minor the middle one.
  const Eigen::SelfAdjointEigenSolver<Eigen::Matrix3d> eig(scatter);
  if (eig.info() != Eigen::Success) fail("no principal axes");
  vec3 major{eig.eigenvectors()(0, 2), eig.eigenvectors()(1, 2), eig.eigenvectors()(2, 2)};
  vec3 minor{eig.eigenvectors()(0, 1), eig.eigenvectors()(1, 1), 0.0};
  // Import3d makes the major axis' largest component positive.
  int big = 0;
  for (int k = 1; k < 3; ++k) {
    if (std::fabs(major[static_cast<std::size_t>(k)]) >
        std::fabs(major[static_cast<std::size_t>(big)]))
      big = k;
  }
  if (major[static_cast<std::size_t>(big)] < 0) {
    for (double& v : major) v = -v;
  }
  const double minor_norm = std::sqrt(dot(minor, minor));
  if (!(minor_norm / (std::sqrt(dot(major, major)) + 1e-100) >= 1e-6)) {
    fail(
        "no second axis in the x-y plane (NEURON: \"Failed to compute soma centroid from "
        "contour\")");
  }
  for (double& v : minor) v /= minor_norm;

  std::vector<double> along(n), across(n);
  for (std::size_t i = 0; i < n; ++i) {
    const vec3 q{p[0][i], p[1][i], p[2][i]};
    along[i] = dot(q, major);
    across[i] = dot(q, minor);
  }
  // Start at the maximum along the axis; side 1 runs back from the minimum to it, side 2
  // from the minimum on to the end.
  const auto imax = std::max_element(along.begin(), along.end()) - along.begin();
  std::rotate(along.begin(), along.begin() + imax, along.end());
  std::rotate(across.begin(), across.begin() + imax, across.end());
  const auto imin = std::min_element(along.begin(), along.end()) - along.begin();
  std::vector<double> d2(along.begin() + imin, along.end()),
      r2(across.begin() + imin, across.end());
  std::vector<double> d1(along.begin(), along.begin() + imin),
      r1(across.begin(), across.begin() + imin);
  std::reverse(d1.begin(), d1.end());
  std::reverse(r1.begin(), r1.end());
  keep_increasing(d1, r1);
  keep_increasing(d2, r2);
  if (d1.empty() || d2.empty()) fail("it has no extent along its principal axis");
  std::vector<double> both(d1);
  both.insert(both.end(), d2.begin(), d2.end());
  std::sort(both.begin(), both.end());
  if (both.size() < 3) fail("too few distinct points along its principal axis");
  const double lo = both[1], hi = both[both.size() - 2];
  if (!(hi > lo)) fail("it has no extent along its principal axis");
  // Vector.indgen(lo, hi, step)
  const double step = (hi - lo) / 20;
  const auto count = static_cast<std::size_t>(std::floor((hi - lo) / step + 1e-9) + 1);
  std::vector<double> t(count);
  for (std::size_t k = 0; k < count; ++k) t[k] = static_cast<double>(k) * step + lo;
  const std::vector<double> side1 = interpolate(t, d1, r1), side2 = interpolate(t, d2, r2);
  std::vector<point3d> out(count);
  for (std::size_t k = 0; k < count; ++k) {
    out[k] = {major[0] * t[k] + centre[0], major[1] * t[k] + centre[1], major[2] * t[k] + centre[2],
              std::fabs(side1[k] - side2[k])};
  }
  // No zero-diameter ends.
  out.front().diam = (out[0].diam + out[1].diam) / 2;
  out.back().diam = (out[count - 1].diam + out[count - 2].diam) / 2;
  return out;
}

// approximate_contour_by_circle: the centre of the resampled contour; as diameter, the mean
// distance of the resampled points from it plus the closed perimeter over 2 pi.
point3d contour_circle(const raw_section& s) {
  const std::size_t n = s.points.size();
  double perimeter = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const asc_point& a = s.points[i];
    const asc_point& b = s.points[(i + 1) % n];
    const double dx = a.x - b.x, dy = a.y - b.y, dz = a.z - b.z;
    perimeter += std::sqrt(dx * dx + dy * dy + dz * dz);
  }
  coords c = coords_of(s.points);
  const vec3 centre = resample_contour(c);
  std::vector<double> r(c[0].size());
  for (std::size_t i = 0; i < r.size(); ++i) {
    const double dx = c[0][i] - centre[0], dy = c[1][i] - centre[1], dz = c[2][i] - centre[2];
    r[i] = std::sqrt(dx * dx + dy * dy + dz * dz);
  }
  return {centre[0], centre[1], centre[2], mean(r) + perimeter / (2 * pi)};
}

struct box {
  double lo[3], hi[3];
};

box bounding_box(const raw_section& s) {
  box b{{s.points[0].x, s.points[0].y, s.points[0].z},
        {s.points[0].x, s.points[0].y, s.points[0].z}};
  for (const auto& p : s.points) {
    const double v[3] = {p.x, p.y, p.z};
    for (int k = 0; k < 3; ++k) {
      b.lo[k] = std::min(b.lo[k], v[k]);
      b.hi[k] = std::max(b.hi[k], v[k]);
    }
  }
  return b;
}

bool overlap_in_xy(const box& a, const box& b) {
  for (int k = 0; k < 2; ++k) {
    if (a.lo[k] > b.hi[k] || b.lo[k] > a.hi[k]) return false;
  }
  return true;
}

std::string format_point(const asc_point& p) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "(%.8g %.8g %.8g %.8g)", p.x, p.y, p.z, p.d);
  return buf;
}

}  // namespace

morphology parse_asc(const std::string& text, const std::string& name) {
  std::vector<raw_section> raw = parser(lexer(name).run(text), name).run();
  const auto where = [&](int line) { return name + ":" + std::to_string(line); };
  const auto fail = [&](int line, const std::string& what) {
    throw morphology_error("cellfit::asc: " + where(line) + ": " + what);
  };

  // Values that reach NEURON must be numbers; tree diameters must be positive (as in SWC).
  for (const auto& s : raw) {
    for (const auto& p : s.points) {
      if (!std::isfinite(p.x) || !std::isfinite(p.y) || !std::isfinite(p.z) ||
          !std::isfinite(p.d)) {
        fail(p.line, "point " + format_point(p) + ": a non-finite value");
      }
      if (!s.contour && !(p.d > 0)) {
        char d[64];
        std::snprintf(d, sizeof d, "%.8g", p.d);
        fail(p.line, "point " + format_point(p) + ": diameter " + d + " is not positive");
      }
    }
  }

  // Import3d lists the soma contours first, then the tree sections in file order (depth
  // first: a branch before its children). Contours whose x-y bounding box overlaps the
  // previous contour's form a stack with the first of them; each stack or lone contour is a
  // soma.
  std::vector<std::size_t> contours, trees;
  for (std::size_t i = 0; i < raw.size(); ++i) (raw[i].contour ? contours : trees).push_back(i);
  std::vector<std::vector<std::size_t>> somata;
  for (std::size_t k = 0; k < contours.size(); ++k) {
    if (k > 0 &&
        overlap_in_xy(bounding_box(raw[contours[k - 1]]), bounding_box(raw[contours[k]]))) {
      somata.back().push_back(contours[k]);
    } else {
      somata.push_back({contours[k]});
    }
  }
  if (somata.empty()) {
    fail(trees.empty() ? 1 : raw[trees.front()].line,
         "no soma: no \"CellBody\" (or \"Cell Body\", \"Soma\") contour of three or more points");
  }
  if (somata.size() > 1) {
    std::string lines;
    for (const auto& s : somata)
      lines += (lines.empty() ? "" : ", ") + std::to_string(raw[s.front()].line);
    fail(raw[somata[1].front()].line,
         std::to_string(somata.size()) + " separate soma contours (lines " + lines +
             "): NEURON's Import3d makes a cell of each; cellfit needs one cell");
  }

  std::vector<import3d_section> list;
  list.reserve(trees.size() + 1);
  {
    const std::vector<std::size_t>& stack = somata.front();
    const raw_section& head = raw[stack.front()];
    import3d_section soma;
    soma.type = 1;
    soma.origin = where(head.line);
    soma.list_position = 0;
    if (stack.size() == 1) {
      soma.points = contour_centroid(head, soma.origin);
    } else {
      // A stack: one point per contour, its centre and circle-equivalent diameter.
      for (auto i : stack) soma.points.push_back(contour_circle(raw[i]));
    }
    list.push_back(std::move(soma));
  }
  // Tree sections follow in file order; a tree's root connects by a wire to the middle of
  // the soma (NEURON's pt3dstyle, so its own points start at its first point).
  std::vector<int> index_of(raw.size(), -1);
  for (auto i : trees) {
    const raw_section& s = raw[i];
    import3d_section sec;
    sec.type = s.type;
    sec.parent = s.parent < 0 ? 0 : index_of[static_cast<std::size_t>(s.parent)];
    sec.parent_x = s.parent < 0 ? 0.5 : 1.0;
    for (const auto& p : s.points) sec.points.push_back({p.x, p.y, p.z, p.d});
    sec.list_position = contours.size() + list.size() - 1;
    sec.origin = where(s.line);
    index_of[i] = static_cast<int>(list.size());
    list.push_back(std::move(sec));
  }
  return import3d_instantiate(std::move(list), name, "asc");
}

morphology read_asc(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw io_error("cellfit::asc: cannot open '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw io_error("cellfit::asc: error reading '" + path + "'");
  return parse_asc(text.str(), path);
}

}  // namespace cellfit
