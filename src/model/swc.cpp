#include "model/swc.hpp"

#include <cmath>
#include <fstream>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include "common/error.hpp"
#include "common/quote.hpp"

namespace cellfit {

namespace {

[[noreturn]] void fail(const std::string& name, int line, const std::string& what) {
  throw morphology_error("cellfit::swc: " + name + ":" + std::to_string(line) + ": " + what);
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

}  // namespace

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
    std::string_view fields[7];
    const std::size_t nfields = split_fields(line, fields);
    if (nfields == 0) continue;
    if (nfields != 7) {
      fail(name, line_no,
           "expected 7 fields (id type x y z radius parent), found " + std::to_string(nfields));
    }
    const std::string tok[7] = {std::string(fields[0]), std::string(fields[1]),
                                std::string(fields[2]), std::string(fields[3]),
                                std::string(fields[4]), std::string(fields[5]),
                                std::string(fields[6])};
    swc_sample s;
    s.line = line_no;
    auto to_int = [&](const std::string& t, const char* what) {
      std::size_t used = 0;
      long v = 0;
      try {
        v = std::stol(t, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != t.size()) fail(name, line_no, std::string("bad ") + what + " " + quote_value(t));
      if (v < -1 || v > 2147483647L)
        fail(name, line_no, std::string(what) + " " + quote_value(t) + " out of range");
      return static_cast<int>(v);
    };
    auto to_real = [&](const std::string& t, const char* what) {
      std::size_t used = 0;
      double v = 0;
      try {
        v = std::stod(t, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != t.size()) fail(name, line_no, std::string("bad ") + what + " " + quote_value(t));
      return v;
    };
    s.id = to_int(tok[0], "sample id");
    s.type = to_int(tok[1], "type");
    s.x = to_real(tok[2], "x");
    s.y = to_real(tok[3], "y");
    s.z = to_real(tok[4], "z");
    s.radius = to_real(tok[5], "radius");
    s.parent = to_int(tok[6], "parent id");
    const std::string sid = "sample " + std::to_string(s.id) + ": ";
    if (!std::isfinite(s.x) || !std::isfinite(s.y) || !std::isfinite(s.z)) {
      fail(name, line_no, sid + "non-finite coordinate");
    }
    if (!std::isfinite(s.radius)) {
      fail(name, line_no, sid + "non-finite radius " + quote_value(tok[5]));
    }
    if (!(s.radius > 0)) fail(name, line_no, sid + "non-positive radius " + quote_value(tok[5]));
    if (s.id < 0) fail(name, line_no, sid + "negative sample id");
    if (s.parent < -1) {
      fail(name, line_no, sid + "parent id " + quote_value(tok[6]) + " is not -1 or an id");
    }
    if (s.parent == s.id) fail(name, line_no, sid + "is its own parent");
    if (index_of.count(s.id)) {
      fail(name, line_no,
           sid + "duplicate id (first on line " + std::to_string(samples[index_of[s.id]].line) +
               ")");
    }
    index_of[s.id] = samples.size();
    samples.push_back(s);
  }
  if (samples.empty()) fail(name, line_no, "no samples");

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
  std::ifstream in(path);
  if (!in) throw io_error("cellfit::swc: cannot open '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw io_error("cellfit::swc: error reading '" + path + "'");
  return parse_swc(text.str(), path);
}

}  // namespace cellfit
