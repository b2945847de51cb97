#pragma once
// The pieces every section of the config reader shares: locations for messages, a table
// whose keys are checked off as they are read, sites, scopes and paths. Internal to io/.

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <toml.hpp>

#include "common/error.hpp"
#include "common/suggest.hpp"
#include "model/cable_geometry.hpp"
#include "model/distance_function.hpp"
#include "model/morphology.hpp"
#include "model/parameter_space.hpp"

namespace cellfit::detail {

// "file:line: key" for a value of the document ("--set a.b: key" for an override).
std::string where(const toml::value& v, const std::string& key);

// toml11 formats its errors over several lines with a source excerpt; cellfit reports one
// printable line: "file:line: <kind>: what (detail)".
std::string one_line_toml_error(const std::string& msg, const std::string& fallback_file,
                                const std::string& kind = "syntax error");

// Throws config_error "cellfit::config: file:line: key: what".
[[noreturn]] void fail(const toml::value& v, const std::string& key, const std::string& what);

// A TOML table whose keys are checked off as they are read; finish() refuses the rest.
class table_reader {
 public:
  table_reader(const toml::value& v, std::string name) : v_(v), name_(std::move(name)) {
    if (!v.is_table()) fail(v, name_, "expected a table");
  }
  // Every key asked about is a key this table knows: finish() suggests the closest one for
  // a key nobody asked about.
  bool has(const std::string& key) const {
    asked_.insert(key);
    return v_.as_table().count(key) != 0;
  }
  const toml::value& get(const std::string& key) {
    used_.insert(key);
    return v_.as_table().at(key);
  }
  std::string key_name(const std::string& key) const {
    return name_.empty() ? key : name_ + "." + key;
  }
  double number(const std::string& key, double def) {
    if (!has(key)) return def;
    return as_number(get(key), key_name(key));
  }
  static double as_number(const toml::value& x, const std::string& name) {
    double r = 0;
    if (x.is_floating()) {
      r = x.as_floating();
    } else if (x.is_integer()) {
      r = static_cast<double>(x.as_integer());
    } else {
      fail(x, name, "expected a number");
    }
    if (!std::isfinite(r)) fail(x, name, "value is not finite");
    return r;
  }
  long long integer(const std::string& key, long long def) {
    if (!has(key)) return def;
    const toml::value& x = get(key);
    if (!x.is_integer()) fail(x, key_name(key), "expected an integer");
    return x.as_integer();
  }
  // An integer in [lo, hi], refused with its own location otherwise.
  long long integer(const std::string& key, long long def, long long lo, long long hi) {
    const long long v = integer(key, def);
    if (v < lo || v > hi) {
      fail(at(key), key_name(key),
           "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
               std::to_string(v));
    }
    return v;
  }
  // A number in [lo, hi] (or > lo when open_low).
  double number(const std::string& key, double def, double lo, double hi, bool open_low = false) {
    const double v = number(key, def);
    if ((open_low ? !(v > lo) : !(v >= lo)) || !(v <= hi)) {
      std::ostringstream msg;
      if (hi == std::numeric_limits<double>::max()) {
        msg << "must be " << (open_low ? "> " : ">= ") << lo << ", got " << v;
      } else {
        msg << "must be in " << (open_low ? "(" : "[") << lo << ", " << hi << "], got " << v;
      }
      fail(at(key), key_name(key), msg.str());
    }
    return v;
  }
  double positive(const std::string& key, double def) {
    return number(key, def, 0.0, std::numeric_limits<double>::max(), true);
  }
  // The value of `key` if present (for error locations), else the table itself.
  const toml::value& at(const std::string& key) const {
    return has(key) ? v_.as_table().at(key) : v_;
  }
  bool boolean(const std::string& key, bool def) {
    if (!has(key)) return def;
    const toml::value& x = get(key);
    if (!x.is_boolean()) fail(x, key_name(key), "expected true or false");
    return x.as_boolean();
  }
  std::string string(const std::string& key, const std::string& def) {
    if (!has(key)) return def;
    const toml::value& x = get(key);
    if (!x.is_string()) fail(x, key_name(key), "expected a string");
    return x.as_string().str;
  }
  void finish() const {
    for (const auto& [k, val] : v_.as_table()) {
      if (used_.count(k)) continue;
      std::vector<std::string> known(asked_.begin(), asked_.end());
      known.insert(known.end(), used_.begin(), used_.end());
      fail(val, key_name(k), "unknown key" + did_you_mean(k, known));
    }
  }
  const toml::value& value() const { return v_; }

 private:
  const toml::value& v_;
  std::string name_;
  std::set<std::string> used_;
  mutable std::set<std::string> asked_;
};

double positive(const toml::value& v, const std::string& key, double x);

// What site parsing needs of a cell.
struct cable_model_view {
  const morphology& morph;
  const cable_geometry& geom;
};

// What a list of sites is for. A recording site list or a scope takes a region or section
// list name as every compartment in it; an injection site or a named recording is a point,
// as an IClamp is: "soma" (and "somatic") is soma[0](0.5), another list name is refused
// (for injections, `every` asks for all its compartments).
enum class site_use { compartments, injection, point };

// Sites: "all", a region or section list name, "section[i](x)", an index, a point at a path
// distance { section_list = "apical", soma_distance_um = 660 } (BluePyOpt's rule,
// model/soma_distance.hpp), or an array of these. Negative indices count from the end; a
// compartment named twice is one site.
std::vector<int> parse_sites(const toml::value& x, const std::string& key,
                             const cable_model_view& cell, site_use use = site_use::compartments);

// Order of application of overlapping scopes: the broadest first, so the most specific
// value wins whatever order the keys are written in.
void sort_by_scope(parameter_set& set);

// A string or an array of strings.
std::vector<std::string> string_list(const toml::value& x, const std::string& key);

// "mech.param" or "mech.param@region" -> override skeleton.
parameter_override parse_param_key(const toml::value& at, const std::string& key);

// A distribution (docs/config.md, "Distributions"): the name of one declared in
// [model.distributions] (`declared`: name -> expression), an expression of distance and
// value, or a table {shape = "<name>", <the shape's parameters>}. Compiled here, so that a
// syntax error, an unknown name or a missing shape parameter is reported at `key`.
distance_function read_distribution(const toml::value& v, const std::string& key,
                                    const std::map<std::string, std::string>& declared);

// A relative input path written in a config file is relative to that file's directory;
// one given on the command line (--set) is relative to the working directory.
std::string resolve_path(const toml::value& v, const std::string& config_path);

// The text of a cellfit error after its "cellfit::<where>: ".
std::string without_prefix(const std::string& msg);

// An input file named in the config (a morphology, a waveform) that cannot be read is an
// error of the config: reported at its key, with the reader's reason.
template <class Read>
auto read_at_key(const toml::value& at, const std::string& key, Read&& read) -> decltype(read()) {
  try {
    return read();
  } catch (const io_error& e) {
    throw io_error("cellfit::config: " + where(at, key) + ": " + without_prefix(e.what()));
  }
}

// A value as TOML text (for --set): numbers with every digit, arrays and strings as written.
std::string as_toml_text(const toml::value& v);

}  // namespace cellfit::detail
