#include "model/swc.hpp"

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <unordered_map>

#include "common/error.hpp"
#include "common/quote.hpp"
#include "common/text_file.hpp"
#include "model/detail/neuron_float.hpp"

namespace cellfit {

namespace {

[[noreturn]] void fail(const std::string& name, int line, const std::string& what) {
  throw morphology_error("cellfit::swc: " + printable_text(name, std::string::npos) + ":" +
                         std::to_string(line) + ": " + what);
}

std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// A numeric field: `ok` false when the text is not a number; `range` false when it is a
// number that does not fit a double (strtod's ERANGE: 1e400, 1e-400).
struct parsed_number {
  bool ok = false;
  bool range = true;
  double value = 0;
};

parsed_number parse_real(std::string_view t) {
  parsed_number r;
  const std::string s(t);  // strtod needs a terminated string
  char* end = nullptr;
  errno = 0;
  r.value = std::strtod(s.c_str(), &end);
  r.ok = !s.empty() && end == s.c_str() + s.size();
  r.range = errno != ERANGE;
  return r;
}

parsed_number parse_integer(std::string_view t) {
  parsed_number r;
  const std::string s(t);
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  r.ok = !s.empty() && end == s.c_str() + s.size();
  r.range = errno != ERANGE && v >= -1 && v <= INT_MAX;
  r.value = static_cast<double>(v);
  return r;
}

// Splits one line (comment removed) at blanks; counts every field but keeps the first 7.
std::size_t split_fields(std::string_view line, std::string_view (&tok)[7]) {
  std::size_t count = 0, i = 0;
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f'; };
  while (i < line.size()) {
    while (i < line.size() && blank(line[i])) ++i;
    if (i == line.size()) break;
    const std::size_t start = i;
    while (i < line.size() && !blank(line[i])) ++i;
    if (count < 7) tok[count] = line.substr(start, i - start);
    ++count;
  }
  return count;
}

// Rounding moves a value by less than one part in 1e6, so only values that close to a bound
// need the stored value (two conversions through text) to decide.
constexpr double rounding_margin = 1e-6;

}  // namespace

bool swc_coordinate_in_range(double v_um) {
  // The first test also keeps the conversion to float defined (and refuses NaN).
  if (!(std::fabs(v_um) <= 2 * swc_max_abs_coordinate_um)) return false;
  if (std::fabs(v_um) <= swc_max_abs_coordinate_um * (1 - rounding_margin)) return true;
  return std::fabs(detail::neuron_float(v_um)) <= static_cast<float>(swc_max_abs_coordinate_um);
}

bool swc_radius_in_range(double r_um) {
  if (!(r_um > 0 && r_um <= 2 * swc_max_radius_um)) return false;
  if (r_um >= swc_min_radius_um * (1 + rounding_margin) &&
      r_um <= swc_max_radius_um * (1 - rounding_margin)) {
    return true;
  }
  // As morphology_from_swc stores it: a float radius doubled into a NEURON diameter.
  const float diam = detail::neuron_float(static_cast<double>(static_cast<float>(r_um)) * 2);
  const float r = diam / 2;
  return r >= static_cast<float>(swc_min_radius_um) && r <= static_cast<float>(swc_max_radius_um);
}

std::vector<swc_sample> parse_swc(const std::string& text, const std::string& name) {
  std::vector<swc_sample> samples;
  std::unordered_map<int, std::size_t> index_of;
  int line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    // A line ends at \n, \r\n or a lone \r (classic Mac OS files).
    std::size_t end = text.find_first_of("\r\n", pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end;
    if (pos < text.size()) {
      pos += text[pos] == '\r' && pos + 1 < text.size() && text[pos + 1] == '\n' ? 2 : 1;
    }
    ++line_no;
    line = line.substr(0, line.find('#'));
    std::string_view tok[7];
    const std::size_t nfields = split_fields(line, tok);
    if (nfields == 0) continue;
    if (nfields != 7) {
      fail(name, line_no,
           "expected 7 fields (id type x y z radius parent), found " + std::to_string(nfields));
    }
    swc_sample s;
    s.line = line_no;
    auto to_int = [&](std::string_view t, const char* what) {
      const parsed_number v = parse_integer(t);
      if (!v.ok) fail(name, line_no, std::string("bad ") + what + " " + quote_value(t));
      if (!v.range) fail(name, line_no, std::string(what) + " " + quote_value(t) + " out of range");
      return static_cast<int>(v.value);
    };
    s.id = to_int(tok[0], "sample id");
    s.type = to_int(tok[1], "type");
    s.parent = to_int(tok[6], "parent id");
    const std::string sid = "sample " + std::to_string(s.id) + ": ";
    // Coordinates and radii become single precision (NEURON's pt3d) and enter lengths,
    // areas and axial resistances: the ranges keep all of those finite and non-zero.
    static const char* const axis[3] = {"x", "y", "z"};
    double* const coord[3] = {&s.x, &s.y, &s.z};
    for (int k = 0; k < 3; ++k) {
      const std::string_view t = tok[2 + k];
      const parsed_number v = parse_real(t);
      if (!v.ok) fail(name, line_no, std::string("bad ") + axis[k] + " " + quote_value(t));
      if (std::isnan(v.value) || (v.range && std::isinf(v.value))) {
        fail(name, line_no, sid + "non-finite coordinate " + axis[k] + " " + quote_value(t));
      }
      if (!v.range || !swc_coordinate_in_range(v.value)) {
        fail(name, line_no,
             sid + axis[k] + " " + quote_value(t) + " out of range [-" +
                 number_text(swc_max_abs_coordinate_um) + ", " +
                 number_text(swc_max_abs_coordinate_um) + "] um");
      }
      *coord[k] = v.value;
    }
    {
      const std::string_view t = tok[5];
      const parsed_number v = parse_real(t);
      if (!v.ok) fail(name, line_no, "bad radius " + quote_value(t));
      if (std::isnan(v.value) || (v.range && std::isinf(v.value))) {
        fail(name, line_no, sid + "non-finite radius " + quote_value(t));
      }
      if (!(v.value > 0) && v.range) {
        fail(name, line_no, sid + "non-positive radius " + quote_value(t));
      }
      if (!v.range || !swc_radius_in_range(v.value)) {
        fail(name, line_no,
             sid + "radius " + quote_value(t) + " out of range [" + number_text(swc_min_radius_um) +
                 ", " + number_text(swc_max_radius_um) + "] um");
      }
      s.radius = v.value;
    }
    if (s.id < 0) fail(name, line_no, sid + "negative sample id");
    if (s.parent < -1) {
      fail(name, line_no, sid + "parent id " + quote_value(tok[6]) + " is not -1 or an id");
    }
    if (s.parent == s.id) fail(name, line_no, sid + "is its own parent");
    const auto [it, fresh] = index_of.emplace(s.id, samples.size());
    if (!fresh) {
      fail(name, line_no,
           sid + "duplicate id (first on line " + std::to_string(samples[it->second].line) + ")");
    }
    samples.push_back(s);
  }
  if (samples.empty()) {
    if (line_no == 0) {
      throw morphology_error("cellfit::swc: " + printable_text(name, std::string::npos) +
                             ": no samples (empty file)");
    }
    fail(name, line_no, "no samples");
  }

  // Parents must exist; exactly one root; no cycles (walk up with a visit mark).
  int roots = 0;
  for (const auto& s : samples) {
    if (s.parent == -1) {
      ++roots;
      if (roots > 1) {
        fail(name, s.line,
             "sample " + std::to_string(s.id) +
                 ": a second root (parent -1): the morphology is disconnected");
      }
    } else if (!index_of.count(s.parent)) {
      fail(name, s.line,
           "sample " + std::to_string(s.id) + ": unknown parent id " + std::to_string(s.parent));
    }
  }
  // state: 0 unvisited, 1 on current path, 2 known to reach the root
  std::vector<char> state(samples.size(), 0);
  for (std::size_t k = 0; k < samples.size(); ++k) {
    std::vector<std::size_t> path;
    std::size_t cur = k;
    while (state[cur] == 0) {
      state[cur] = 1;
      path.push_back(cur);
      if (samples[cur].parent == -1) break;
      cur = index_of[samples[cur].parent];
      if (state[cur] == 1) {
        fail(name, samples[cur].line,
             "sample " + std::to_string(samples[cur].id) +
                 ": cycle in parent links (the samples do not form a tree)");
      }
    }
    for (auto q : path) state[q] = 2;
  }
  if (roots == 0) fail(name, samples.front().line, "no root sample (parent -1): not a tree");
  return samples;
}

std::vector<swc_sample> read_swc(const std::string& path) {
  return parse_swc(read_text_file(path, "swc"), path);
}

}  // namespace cellfit
