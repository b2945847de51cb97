#include "io/config.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <toml.hpp>

#include "common/error.hpp"
#include "common/quote.hpp"
#include "common/rng.hpp"
#include "common/text_file.hpp"
#include "features/feature_library.hpp"
#include "io/detail/toml_limits.hpp"
#include "model/ion_layout.hpp"

namespace cellfit {

namespace {

std::string where(const toml::value& v, const std::string& key) {
  const auto loc = v.location();
  std::string w = loc.file_name();
  if (w.rfind("--set", 0) == 0) return w + ": " + key;  // a command-line override
  if (loc.line() > 0) w += ":" + std::to_string(loc.line());
  return w + ": " + key;
}

// toml11 formats its errors over several lines with a source excerpt; cellfit reports one
// printable line: "file:line: <kind>: what (detail)".
std::string one_line_toml_error(const std::string& msg, const std::string& fallback_file,
                                const std::string& kind = "syntax error") {
  std::istringstream in(msg);
  std::string line, what, file = fallback_file, number, detail;
  while (std::getline(in, line)) {
    const auto err = line.find("[error] ");
    if (err != std::string::npos && what.empty()) {
      what = line.substr(err + 8);
      const auto colon = what.find(": ");
      if (what.rfind("toml::", 0) == 0 && colon != std::string::npos) what = what.substr(colon + 2);
      continue;
    }
    const auto arrow = line.find("--> ");
    if (arrow != std::string::npos) {
      file = line.substr(arrow + 4);
      continue;
    }
    const auto bar = line.find(" | ");
    if (bar != std::string::npos && number.empty()) {
      const std::string n = line.substr(0, bar);
      const auto first = n.find_first_not_of(' ');
      if (first != std::string::npos && n.find_first_not_of("0123456789 ") == std::string::npos) {
        number = n.substr(first);
      }
    }
    const auto caret = line.find("^-");
    if (caret != std::string::npos && detail.empty()) {
      detail = line.substr(line.find_first_not_of("^-", caret));
      while (!detail.empty() && detail.front() == ' ') detail.erase(detail.begin());
    }
  }
  if (what.empty()) what = msg.substr(0, msg.find('\n'));  // not in toml11's layout
  std::string out =
      file + (number.empty() ? "" : ":" + number) + ": " + kind + ": " + printable_text(what);
  if (!detail.empty()) out += " (" + printable_text(detail) + ")";
  return out;
}

// Keys come from the document: a quoted key may hold any character.
[[noreturn]] void fail(const toml::value& v, const std::string& key, const std::string& what) {
  throw config_error("cellfit::config: " + where(v, printable_text(key)) + ": " + what);
}

// A TOML table whose keys are checked off as they are read; finish() refuses the rest.
class table_reader {
 public:
  table_reader(const toml::value& v, std::string name) : v_(v), name_(std::move(name)) {
    if (!v.is_table()) fail(v, name_, "expected a table");
  }
  bool has(const std::string& key) const { return v_.as_table().count(key) != 0; }
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
      msg << "must be in " << (open_low ? "(" : "[") << lo << ", " << hi << "], got " << v;
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
      if (!used_.count(k)) fail(val, key_name(k), "unknown key");
    }
  }
  const toml::value& value() const { return v_; }

 private:
  const toml::value& v_;
  std::string name_;
  std::set<std::string> used_;
};

double positive(const toml::value& v, const std::string& key, double x) {
  if (!(x > 0)) fail(v, key, "must be positive, got " + std::to_string(x));
  return x;
}

// What site parsing needs of a cell.
struct cable_model_view {
  const morphology& morph;
  const cable_geometry& geom;
};

// Sites: "all", a region or section list name, "section[i](x)", an index, or an array of
// these. Negative indices count from the end.
std::vector<int> parse_sites(const toml::value& x, const std::string& key,
                             const cable_model_view& cell) {
  const cable_geometry& g = cell.geom;
  std::vector<int> out;
  const int n = g.n_compartments();
  auto add_one = [&](const toml::value& e) {
    if (e.is_integer()) {
      const long long i = e.as_integer();
      const long long k = i < 0 ? n + i : i;
      if (k < 0 || k >= n) {
        fail(e, key,
             "compartment " + std::to_string(i) + " out of range (the model has " +
                 std::to_string(n) + ")");
      }
      out.push_back(static_cast<int>(k));
    } else if (e.is_string()) {
      const std::string text = e.as_string().str;
      try {
        const auto open = text.find('(');
        if (open != std::string::npos) {  // section(x)
          const std::string arg = text.substr(open + 1);
          std::size_t used = 0;
          double xv = std::nan("");
          try {
            xv = std::stod(arg, &used);
          } catch (const std::exception&) {
            used = 0;
          }
          if (used == 0 || arg.substr(used) != ")")
            fail(e, key, "expected section(x) such as \"soma[0](0.5)\", got \"" + text + "\"");
          out.push_back(compartment_at(cell.morph, g, text.substr(0, open), xv));
        } else {
          const auto r = compartments_in_region(g, text);
          out.insert(out.end(), r.begin(), r.end());
        }
      } catch (const config_error& err) {
        const std::string what = err.what();
        const std::string prefix = "cellfit::config: ";
        fail(e, key, what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what);
      }
    } else {
      fail(e, key, "expected a compartment index, a region name or section(x)");
    }
  };
  if (x.is_array()) {
    for (const auto& e : x.as_array()) add_one(e);
  } else {
    add_one(x);
  }
  if (out.empty()) fail(x, key, "selects no compartment");
  // A compartment named twice (an index and its region, say) is one site.
  std::vector<int> unique;
  std::vector<char> seen(static_cast<std::size_t>(n), 0);
  for (int c : out) {
    if (!seen[static_cast<std::size_t>(c)]) {
      seen[static_cast<std::size_t>(c)] = 1;
      unique.push_back(c);
    }
  }
  return unique;
}

// Order of application of overlapping scopes: the broadest first, so the most specific
// value wins whatever order the keys are written in.
int scope_rank(const std::string& scope) {
  if (scope == "all" || scope == "per_compartment") return 0;
  if (scope == "dend") return 1;
  return 2;
}

void sort_by_scope(parameter_set& set) {
  std::stable_sort(set.begin(), set.end(),
                   [](const parameter_override& a, const parameter_override& b) {
                     return scope_rank(a.scope) < scope_rank(b.scope);
                   });
}

std::vector<std::string> string_list(const toml::value& x, const std::string& key) {
  std::vector<std::string> out;
  if (x.is_string()) {
    out.push_back(x.as_string().str);
  } else if (x.is_array()) {
    for (const auto& e : x.as_array()) {
      if (!e.is_string()) fail(e, key, "expected strings");
      out.push_back(e.as_string().str);
    }
  } else {
    fail(x, key, "expected a string or an array of strings");
  }
  return out;
}

// "mech.param" or "mech.param@region" -> override skeleton.
parameter_override parse_param_key(const toml::value& at, const std::string& key) {
  parameter_override o;
  std::string k = key;
  const auto atpos = k.find('@');
  if (atpos != std::string::npos) {
    o.scope = k.substr(atpos + 1);
    k = k.substr(0, atpos);
  }
  const auto dot = k.find('.');
  if (dot == std::string::npos) fail(at, key, "expected 'mechanism.parameter[@region]'");
  o.mechanism = k.substr(0, dot);
  o.param = k.substr(dot + 1);
  return o;
}

// A relative input path written in a config file is relative to that file's directory;
// one given on the command line (--set) is relative to the working directory.
std::string resolve_path(const toml::value& v, const std::string& config_path) {
  const std::string value = v.as_string().str;
  if (value.empty() || value[0] == '/' || value.rfind("builtin:", 0) == 0) return value;
  if (v.location().file_name().rfind("--set", 0) == 0) return value;
  const auto slash = config_path.rfind('/');
  if (slash == std::string::npos) return value;
  return config_path.substr(0, slash + 1) + value;
}

// The text of a cellfit error after its "cellfit::<where>: ".
std::string without_prefix(const std::string& msg) {
  const auto colon = msg.rfind("cellfit::", 0) == 0 ? msg.find(": ") : std::string::npos;
  return colon == std::string::npos ? msg : msg.substr(colon + 2);
}

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

// A morphology that cannot be read, or a built-in that does not exist, is reported at its
// key (`at`, null for the default); errors inside an SWC file name that file and line.
morphology load_model_morphology(const toml::value* at, const std::string& spec) {
  if (at == nullptr) return load_morphology(spec);
  try {
    return read_at_key(*at, "model.morphology", [&] { return load_morphology(spec); });
  } catch (const morphology_error& e) {
    // Errors inside a file name that file; a built-in or a file type that does not exist is
    // the config's error.
    const bool file_type = std::string(e.what()).find("file extension") != std::string::npos;
    if (spec.rfind("builtin:", 0) != 0 && !file_type) throw;
    throw morphology_error("cellfit::config: " + where(*at, "model.morphology") + ": " +
                           without_prefix(e.what()));
  }
}

void build_model(table_reader& t, cell_model& m, const std::string& source) {
  std::string morph = "builtin:ball_and_stick";
  if (t.has("morphology")) {
    const toml::value& mv = t.get("morphology");
    if (!mv.is_string()) fail(mv, "model.morphology", "expected a string");
    morph = resolve_path(mv, source);
  }
  m.morph = load_model_morphology(t.has("morphology") ? &t.at("morphology") : nullptr, morph);
  // mode: "cable" (geometry from the morphology) or "point" (one compartment per section,
  // no geometry, uniform axial weight: paper 000's model). chain6 is a point model.
  const std::string mode = t.string("mode", m.morph.point_model ? "point" : "cable");
  if (mode != "cable" && mode != "point") {
    fail(t.at("mode"), "model.mode", "expected \"cable\" or \"point\", got \"" + mode + "\"");
  }
  if (mode == "cable" && m.morph.point_model) {
    fail(t.at("mode"), "model.mode", m.morph.source + " is a point model (no geometry)");
  }
  m.morph.point_model = mode == "point";
  // cm: a number, or a table of region -> number with an optional "default" (broad names
  // first, then the specific ones). Read before discretising: the d_lambda rule needs it.
  const bool point = m.morph.point_model;
  const double cm_default = point ? 0.45 : 1.0;
  std::map<region, double> cm_of;
  for (region r : {region::soma, region::axon, region::basal, region::apical, region::other})
    cm_of[r] = cm_default;
  if (t.has("cm")) {
    const toml::value& cv = t.get("cm");
    if (cv.is_table()) {
      table_reader ct(cv, "model.cm");
      const double def = positive(cv, "model.cm.default", ct.number("default", cm_default));
      for (auto& [r, value] : cm_of) value = def;
      for (const char* name : {"dend", "soma", "axon", "basal", "apical", "other"}) {
        if (!ct.has(name)) continue;
        const double val = positive(cv, std::string("model.cm.") + name, ct.number(name, def));
        for (auto& [r, value] : cm_of)
          if (section_list_contains(name, r)) value = val;
      }
      ct.finish();
    } else {
      const double val = positive(cv, "model.cm", table_reader::as_number(cv, "model.cm"));
      for (auto& [r, value] : cm_of) value = val;
    }
  }

  discretization_options opt;
  // nseg: a number for every section, or a table of section lists (region names, BluePyOpt's
  // list names) and section names -> number; the most specific entry wins.
  if (t.has("nseg") && t.get("nseg").is_table()) {
    const toml::value& nv = t.get("nseg");
    for (const auto& [key, value] : nv.as_table()) {
      const std::string name = "model.nseg." + key;
      if (!value.is_integer()) fail(value, name, "expected an integer");
      const long long n = value.as_integer();
      if (n < 1 || n > max_nseg)
        fail(value, name,
             "must be in [1, " + std::to_string(max_nseg) + "], got " + std::to_string(n));
      if (section_list_rank(key) >= 0) {
        opt.nseg_by_list[key] = static_cast<int>(n);
        continue;
      }
      const auto& secs = m.morph.sections;
      if (std::none_of(secs.begin(), secs.end(), [&](const section& x) { return x.name == key; })) {
        fail(value, name,
             "no section list or section '" + key + "' in " + m.morph.source +
                 " (lists: allsect, alldend, somatic, axonal, basal, apical, other; sections " +
                 secs.front().name + " .. " + secs.back().name + ")");
      }
      opt.nseg_by_section[key] = static_cast<int>(n);
    }
  } else {
    opt.nseg = static_cast<int>(t.integer("nseg", 0, 0, max_nseg));
  }
  const std::string rule = t.string("nseg_rule", "fixed");
  if (rule == "fixed") {
    opt.rule = nseg_rule::fixed;
  } else if (rule == "d_lambda") {
    opt.rule = nseg_rule::d_lambda;
  } else if (rule == "bluepyopt") {
    opt.rule = nseg_rule::bluepyopt;
  } else if (rule == "max_length") {
    opt.rule = nseg_rule::max_length;
  } else {
    fail(t.at("nseg_rule"), "model.nseg_rule",
         "expected \"fixed\", \"d_lambda\", \"bluepyopt\" or \"max_length\", got \"" + rule + "\"");
  }
  if (opt.rule != nseg_rule::fixed && opt.nseg > 0) {
    fail(t.at("nseg"), "model.nseg",
         "a number for every section and nseg_rule = \"" + rule +
             "\" contradict each other: give one, or a table of explicit exceptions");
  }
  auto only_with = [&](const char* key, nseg_rule r) {
    if (t.has(key) && opt.rule != r)
      fail(t.at(key), std::string("model.") + key, "applies only with a different nseg_rule");
  };
  only_with("d_lambda", nseg_rule::d_lambda);
  only_with("d_lambda_freq_hz", nseg_rule::d_lambda);
  only_with("nseg_length_um", nseg_rule::bluepyopt);
  only_with("max_length_um", nseg_rule::max_length);
  opt.d_lambda = t.number("d_lambda", 0.1, 0.0, 1e3, true);
  opt.d_lambda_freq_hz = t.number("d_lambda_freq_hz", 100.0, 0.0, 1e9, true);
  opt.nseg_length_um = t.number("nseg_length_um", 40.0, 0.0, 1e9, true);
  if (opt.rule == nseg_rule::max_length) {
    if (!t.has("max_length_um"))
      fail(t.at("nseg_rule"), "model.nseg_rule", "\"max_length\" needs model.max_length_um");
    opt.max_length_um = t.number("max_length_um", 1.0, 0.0, 1e9, true);
  }
  opt.cm_uf_cm2 = cm_of;
  opt.max_compartment_um = t.number("max_compartment_um", 0.0, 0.0, 1e9);
  opt.ra_ohm_cm = t.positive("ra", 35.4);
  opt.axial_weight = t.positive("axial_weight", 0.5);
  m.geom = discretize(m.morph, opt);
  m.celsius = t.number("celsius", 6.3);
  m.v_init_mv = t.number("v_init", point ? -60.0 : -65.0, -200.0, 200.0);
  m.cm.resize(static_cast<std::size_t>(m.geom.n_compartments()));
  for (int c = 0; c < m.geom.n_compartments(); ++c)
    m.cm[static_cast<std::size_t>(c)] = cm_of[m.geom.region_of[static_cast<std::size_t>(c)]];

  // Mechanisms: [model.mechanisms.<name>] with `regions` and parameter defaults.
  if (t.has("mechanisms")) {
    const toml::value& mv = t.get("mechanisms");
    table_reader mt(mv, "model.mechanisms");
    for (const auto& info : mechanism_catalogue()) {
      if (!mt.has(info.name)) continue;
      const toml::value& one = mt.get(info.name);
      table_reader ot(one, "model.mechanisms." + info.name);
      std::vector<int> comps;
      const std::vector<std::string> regions =
          ot.has("regions") ? string_list(ot.get("regions"), ot.key_name("regions"))
                            : std::vector<std::string>{"all"};
      for (const auto& r : regions) {
        try {
          const auto c = compartments_in_region(m.geom, r);
          comps.insert(comps.end(), c.begin(), c.end());
        } catch (const config_error& e) {
          fail(one, ot.key_name("regions"), e.what());
        }
      }
      std::sort(comps.begin(), comps.end());
      comps.erase(std::unique(comps.begin(), comps.end()), comps.end());
      if (comps.empty()) {
        fail(ot.at("regions"), ot.key_name("regions"),
             "selects no compartment of " + m.morph.source + " (its regions: see cellfit info)");
      }
      mechanism_placement pl;
      pl.name = info.name;
      pl.compartments = comps;
      for (std::size_t k = 0; k < info.param_names.size(); ++k) {
        pl.params.emplace_back(comps.size(), info.defaults[k]);
      }
      m.mechanisms.push_back(pl);
      // Parameter defaults: number (everywhere) or table region -> number.
      for (std::size_t k = 0; k < info.param_names.size(); ++k) {
        const std::string& pn = info.param_names[k];
        if (!ot.has(pn)) continue;
        const toml::value& pv = ot.get(pn);
        parameter_set set;
        if (pv.is_table()) {
          table_reader pt(pv, ot.key_name(pn));
          for (const auto& [rk, rv] : pv.as_table()) {
            parameter_override o{info.name, pn, rk, {table_reader::as_number(rv, pt.key_name(rk))}};
            pt.get(rk);
            set.push_back(o);
          }
          pt.finish();
        } else {
          set.push_back({info.name, pn, "all", {table_reader::as_number(pv, ot.key_name(pn))}});
        }
        sort_by_scope(set);
        for (const auto& o : set) {
          try {
            check_override(m, o, ot.key_name(pn));
          } catch (const config_error& e) {
            fail(pv, ot.key_name(pn), e.what());
          }
        }
        const auto resolved = resolve_parameters(m, set);
        m.mechanisms.back().params = resolved.back();
      }
      // GLOBALs: one number for the model.
      m.mechanisms.back().globals = info.global_defaults;
      for (std::size_t k = 0; k < info.global_names.size(); ++k) {
        const std::string& gn = info.global_names[k];
        if (!ot.has(gn)) continue;
        m.mechanisms.back().globals[k] = table_reader::as_number(ot.get(gn), ot.key_name(gn));
      }
      ot.finish();
    }
    // A mechanism the catalogue does not have: say which ones it has.
    for (const auto& [key, value] : mv.as_table()) {
      if (!find_mechanism(key)) {
        fail(value, "model.mechanisms." + key,
             "unknown mechanism (the catalogue: " + catalogue_names() + ")");
      }
    }
    mt.finish();
  } else {
    // Default: hh everywhere in cable models, jk everywhere in point models.
    const mechanism_info& info = *find_mechanism(point ? "jk" : "hh");
    mechanism_placement pl;
    pl.name = info.name;
    for (int c = 0; c < m.geom.n_compartments(); ++c) pl.compartments.push_back(c);
    for (double d : info.defaults) pl.params.emplace_back(pl.compartments.size(), d);
    m.mechanisms.push_back(pl);
  }
  // Ions: [model.ions.<species>] e, ci, co (a number, or a table region -> number) and style.
  if (t.has("ions")) {
    const toml::value& iv = t.get("ions");
    table_reader it(iv, "model.ions");
    for (const auto& [species, one] : iv.as_table()) {
      it.get(species);
      table_reader st(one, "model.ions." + species);
      ion_settings is;
      is.species = species;
      if (ion_species_index(species) < 0) {
        fail(one, "model.ions." + species, "no mechanism of the catalogue uses this ion species");
      }
      is.style = st.string("style", "auto");
      if (is.style != "auto" && is.style != "nernst" && is.style != "fixed") {
        fail(st.get("style"), st.key_name("style"),
             "expected \"auto\", \"nernst\" or \"fixed\", got \"" + is.style + "\"");
      }
      for (const auto& [key, dst] : std::initializer_list<
               std::pair<const char*, std::vector<std::pair<std::string, double>>*>>{
               {"e", &is.e_mv}, {"ci", &is.ci_mm}, {"co", &is.co_mm}}) {
        if (!st.has(key)) continue;
        const toml::value& kv = st.get(key);
        if (kv.is_table()) {
          table_reader kt(kv, st.key_name(key));
          for (const auto& [region, val] : kv.as_table()) {
            kt.get(region);
            try {
              compartments_in_region(m.geom, region);
            } catch (const config_error& e) {
              fail(val, kt.key_name(region), e.what());
            }
            dst->emplace_back(region, table_reader::as_number(val, kt.key_name(region)));
          }
          kt.finish();
          // Broad regions first, so that a specific one overrides them ("all", "dend", ...).
          std::stable_sort(dst->begin(), dst->end(), [](const auto& a, const auto& b) {
            return scope_rank(a.first) < scope_rank(b.first);
          });
        } else {
          dst->emplace_back("all", table_reader::as_number(kv, st.key_name(key)));
        }
        if (std::string(key) != "e") {
          for (const auto& rv : *dst) {
            if (!(rv.second > 0)) fail(kv, st.key_name(key), "a concentration must be > 0 mM");
          }
        }
      }
      st.finish();
      m.ions.push_back(is);
    }
    it.finish();
  }
  std::vector<ion_layout> layouts;
  try {
    layouts = layout_ions(m);  // two writers of one concentration, ions without values
  } catch (const config_error& e) {
    fail(t.at("mechanisms"), "model.mechanisms", e.what());
  }
  // Values for an ion that no mechanism of this model uses would be ignored: say so.
  for (const ion_settings& is : m.ions) {
    const int k = ion_species_index(is.species);
    if (k >= 0 && layouts[static_cast<std::size_t>(k)].nodes.empty()) {
      std::string used;
      for (const auto& mech : m.mechanisms) used += (used.empty() ? "" : ", ") + mech.name;
      const toml::value& iv = t.get("ions").as_table().at(is.species);
      fail(iv, "model.ions." + is.species,
           "no mechanism of this model uses " + is.species + " (mechanisms: " +
               (used.empty() ? std::string("none") : used) + "): these values would be ignored");
    }
  }
  t.finish();
}

void build_settings(table_reader& t, run_config& rc) {
  simulation_settings& s = rc.settings;
  s.dt_ms = t.positive("dt_ms", 0.025);
  s.t_stop_ms = t.positive("t_stop_ms", 100.0);
  const double steps = s.t_stop_ms / s.dt_ms;
  if (steps > 1e9) fail(t.at("t_stop_ms"), "simulation.t_stop_ms", "more than 1e9 steps");
  if (std::fabs(steps - std::round(steps)) > 1e-6 || std::round(steps) < 1) {
    fail(t.at("t_stop_ms"), "simulation.t_stop_ms",
         "must be a whole, positive number of dt_ms steps");
  }
  s.record_every = static_cast<int>(t.integer("record_every", 1, 1, 1000000000));
  s.v_bound_mv = t.number("v_bound_mv", 400.0, 0.0, 400.0, true);
  if (std::fabs(rc.model.v_init_mv) > s.v_bound_mv) {
    fail(t.at("v_bound_mv"), "simulation.v_bound_mv",
         "the initial potential (model.v_init) lies outside [-v_bound_mv, v_bound_mv]");
  }
  const std::string prec = t.string("precision", "fp64");
  if (prec == "fp64") {
    s.prec = precision::fp64;
  } else if (prec == "fp32") {
    s.prec = precision::fp32;
  } else {
    fail(t.get("precision"), "simulation.precision",
         "expected \"fp64\" or \"fp32\", got \"" + prec + "\"");
  }
  if (t.has("record_sites")) {
    s.record_compartments = parse_sites(t.get("record_sites"), "simulation.record_sites",
                                        {rc.model.morph, rc.model.geom});
  } else {
    s.record_compartments = compartments_in_region(rc.model.geom, "all");
  }
  t.finish();
}

void build_stimuli(const toml::value& arr, run_config& rc) {
  if (!arr.is_array()) fail(arr, "stimulus", "expected [[stimulus]] tables");
  std::size_t index = 0;
  for (const auto& entry : arr.as_array()) {
    const std::string name = "stimulus[" + std::to_string(index) + "]";
    table_reader t(entry, name);
    const std::string type = t.string("type", "step");
    const std::string label = t.string("name", name);
    stimulus_component c;
    if (!t.has("sites")) fail(entry, t.key_name("sites"), "missing (compartments to inject into)");
    c.sites = parse_sites(t.get("sites"), t.key_name("sites"), {rc.model.morph, rc.model.geom});
    // Each type reads only the keys it uses; finish() refuses any other.
    const double t_stop = rc.settings.t_stop_ms;
    auto read_window = [&]() {
      c.delay_ms = t.number("delay_ms", 0.0, 0.0, t_stop);
      c.duration_ms = t.number("duration_ms", t_stop - c.delay_ms, 0.0, 1e12);
    };
    auto read_count = [&]() { return static_cast<int>(t.integer("count", 1, 1, 1000000)); };
    auto read_seed = [&]() {
      // Keyed by the table index too, so two tables with the same seed differ.
      return counter_hash(static_cast<std::uint64_t>(
                              t.integer("seed", 1, 0, std::numeric_limits<long long>::max())),
                          index, 0x57);
    };
    const double holding = type == "holding" ? 0.0 : t.number("holding", 0.0);
    std::vector<stimulus> made;
    auto emit = [&](stimulus_component comp, const std::string& nm) {
      stimulus st;
      st.name = nm;
      st.components.push_back(std::move(comp));
      if (holding != 0) {
        stimulus_component h;
        h.kind = stimulus_kind::holding;
        h.sites = st.components.front().sites;
        h.amplitude = holding;
        st.components.push_back(h);
      }
      made.push_back(std::move(st));
    };
    if (type == "step") {
      c.kind = stimulus_kind::step;
      read_window();
      if (t.has("amplitudes")) {
        if (t.has("amplitude"))
          fail(t.at("amplitude"), t.key_name("amplitude"),
               "give amplitude or amplitudes, not both");
        const toml::value& av = t.get("amplitudes");
        if (!av.is_array() || av.as_array().empty()) {
          fail(av, t.key_name("amplitudes"), "expected a non-empty array of numbers");
        }
        for (const auto& a : av.as_array()) {
          c.amplitude = table_reader::as_number(a, t.key_name("amplitudes"));
          std::ostringstream nm;
          nm << label << " " << c.amplitude;
          emit(c, nm.str());
        }
      } else {
        c.amplitude = t.number("amplitude", 0.0);
        emit(c, label);
      }
    } else if (type == "holding") {
      c.kind = stimulus_kind::holding;
      c.amplitude = t.number("amplitude", 0.0);
      emit(c, label);
    } else if (type == "ramp") {
      c.kind = stimulus_kind::ramp;
      read_window();
      c.amplitude = t.number("amplitude_start", 0.0);
      c.amplitude_end = t.number("amplitude_end", 0.0);
      if (!(c.duration_ms > 0))
        fail(t.at("duration_ms"), t.key_name("duration_ms"), "a ramp needs duration_ms > 0");
      emit(c, label);
    } else if (type == "noise") {
      c.kind = stimulus_kind::noise;
      read_window();
      c.amplitude = t.number("mean", 0.0);
      c.stdev = t.number("std", 0.0, 0.0, 1e12);
      c.sample_ms = t.positive("sample_ms", rc.settings.dt_ms);
      const int count = read_count();
      const std::uint64_t seed = read_seed();
      for (int k = 0; k < count; ++k) {
        c.seed = counter_hash(seed, static_cast<std::uint64_t>(k), 0x4e);
        emit(c, count > 1 ? label + " #" + std::to_string(k) : label);
      }
    } else if (type == "random_steps") {
      c.kind = stimulus_kind::random_steps;
      read_window();
      const int n_int = static_cast<int>(t.integer("intervals", 48, 2, 1000000));
      const double hazard = t.number("hazard", 0.05, 0.0, 1.0);
      const int i_min = static_cast<int>(t.integer("i_min", 0, -1000000000, 1000000000));
      const int i_max = static_cast<int>(t.integer("i_max", 20, -1000000000, 1000000000));
      if (i_max <= i_min) fail(t.at("i_max"), t.key_name("i_max"), "must exceed i_min");
      if (!(c.duration_ms > 0)) fail(t.at("duration_ms"), t.key_name("duration_ms"), "must be > 0");
      const int count = read_count();
      const std::uint64_t seed = read_seed();
      for (int k = 0; k < count; ++k) {
        c.levels.clear();
        for (std::size_t site = 0; site < c.sites.size(); ++site) {
          c.levels.push_back(random_step_levels(seed, static_cast<std::uint64_t>(k), site, n_int,
                                                hazard, i_min, i_max));
        }
        emit(c, count > 1 ? label + " #" + std::to_string(k) : label);
      }
    } else if (type == "waveform") {
      c.kind = stimulus_kind::waveform;
      if (!t.has("file")) fail(entry, t.key_name("file"), "missing (CSV or HDF5 waveform)");
      const toml::value& fv = t.get("file");
      if (!fv.is_string()) fail(fv, t.key_name("file"), "expected a string");
      const std::string file = resolve_path(fv, rc.source);
      c.scale = t.number("scale", 1.0);
      const std::string dataset = t.string("dataset", "");
      c.waveform =
          read_at_key(fv, t.key_name("file"), [&] { return read_waveform(file, dataset); });
      c.delay_ms = 0;
      c.duration_ms = t_stop;
      emit(c, label);
    } else {
      fail(t.get("type"), t.key_name("type"),
           "unknown stimulus type '" + type +
               "' (step, ramp, noise, random_steps, waveform, holding)");
    }
    t.finish();
    for (auto& st : made) rc.stimuli.push_back(std::move(st));
    ++index;
  }
}

void build_batch(table_reader& t, run_config& rc) {
  if (t.has("set")) {
    for (const char* k : {"parameter_sets", "low", "high", "seed", "per_compartment", "vary"}) {
      if (t.has(k))
        fail(t.at(k), t.key_name(k), "does not apply with [[batch.set]] (explicit sets)");
    }
  }
  const int n_sets = static_cast<int>(t.integer("parameter_sets", 1, 1, 100000000));
  const std::uint64_t seed =
      static_cast<std::uint64_t>(t.integer("seed", 1, 0, std::numeric_limits<long long>::max()));
  const double low = t.number("low", 0.7), high = t.number("high", 1.3);
  if (!(high >= low)) fail(t.at("high"), "batch.high", "must be >= batch.low");
  const bool per_comp = t.boolean("per_compartment", false);
  std::vector<std::string> vary;
  if (t.has("vary")) vary = string_list(t.get("vary"), "batch.vary");
  if (t.has("set")) {
    const toml::value& sv = t.get("set");
    if (!sv.is_array() || sv.as_array().empty())
      fail(sv, "batch.set", "expected one or more [[batch.set]] tables");
    std::size_t k = 0;
    for (const auto& entry : sv.as_array()) {
      if (!entry.is_table()) fail(entry, "batch.set", "expected a table");
      parameter_set set;
      for (const auto& [key, val] : entry.as_table()) {
        const std::string nm = "batch.set[" + std::to_string(k) + "]." + key;
        parameter_override o = parse_param_key(val, key);
        if (val.is_array()) {
          o.scope = "per_compartment";
          for (const auto& e : val.as_array()) o.values.push_back(table_reader::as_number(e, nm));
        } else {
          o.values.push_back(table_reader::as_number(val, nm));
        }
        try {
          check_override(rc.model, o, nm);
        } catch (const config_error& e) {
          fail(val, nm, e.what());
        }
        set.push_back(o);
      }
      sort_by_scope(set);
      rc.sets.push_back(set);
      ++k;
    }
  } else {
    // n_sets sets; each varied parameter's defaults multiplied by U(low, high), one factor
    // for all instances or one per compartment.
    for (int k = 0; k < n_sets; ++k) {
      parameter_set set;
      for (std::size_t v = 0; v < vary.size(); ++v) {
        parameter_override o = parse_param_key(t.get("vary"), vary[v]);
        if (o.scope != "all") {
          fail(t.get("vary"), "batch.vary",
               "'" + vary[v] + "': vary takes mechanism.parameter without a region");
        }
        o.scope = "per_compartment";
        const mechanism_placement* pl = rc.model.placement(o.mechanism);
        const mechanism_info* info = find_mechanism(o.mechanism);
        if (!pl || !info || info->param_index(o.param) < 0) {
          fail(t.get("vary"), "batch.vary",
               "'" + vary[v] + "' names no inserted mechanism parameter");
        }
        const auto& defaults = pl->params[static_cast<std::size_t>(info->param_index(o.param))];
        const double common =
            low + (high - low) * uniform01(counter_hash(seed, static_cast<std::uint64_t>(k), v));
        for (std::size_t j = 0; j < defaults.size(); ++j) {
          const double f =
              per_comp ? low + (high - low) *
                                   uniform01(counter_hash(
                                       counter_hash(seed, static_cast<std::uint64_t>(k), v), j, 1))
                       : common;
          o.values.push_back(defaults[j] * f);
        }
        set.push_back(o);
      }
      rc.sets.push_back(set);
    }
  }
  t.finish();
}

transform_kind parse_transform(const toml::value& v, const std::string& key) {
  if (!v.is_string()) fail(v, key, "expected \"linear\", \"log\" or \"sigmoid\"");
  const std::string t = v.as_string().str;
  if (t == "linear") return transform_kind::linear;
  if (t == "log") return transform_kind::log;
  if (t == "sigmoid") return transform_kind::sigmoid;
  fail(v, key, "expected \"linear\", \"log\" or \"sigmoid\", got \"" + t + "\"");
}

void build_ga(const toml::value& v, run_config& rc) {
  table_reader t(v, "fit.ga");
  ga_fit_settings& g = rc.fit.ga;
  ga::ga_settings& a = g.algorithm;
  const std::string alg = t.string("algorithm", ga::strategy_name(a.algorithm));
  if (alg == "mu_comma_lambda") {
    a.algorithm = ga::strategy::mu_comma_lambda;
  } else if (alg == "mu_plus_lambda") {
    a.algorithm = ga::strategy::mu_plus_lambda;
  } else if (alg == "cmaes") {
    a.algorithm = ga::strategy::cmaes;
  } else {
    fail(t.at("algorithm"), "fit.ga.algorithm",
         "expected \"mu_comma_lambda\", \"mu_plus_lambda\" or \"cmaes\", got \"" + alg + "\"");
  }
  const std::string sel = t.string("selection", ga::selection_name(a.selection));
  if (sel == "ibea") {
    a.selection = ga::selection_kind::ibea;
  } else if (sel == "nsga2") {
    a.selection = ga::selection_kind::nsga2;
  } else if (sel == "single") {
    a.selection = ga::selection_kind::single;
  } else {
    fail(t.at("selection"), "fit.ga.selection",
         "expected \"ibea\", \"nsga2\" or \"single\", got \"" + sel + "\"");
  }
  a.population = static_cast<int>(t.integer("population", a.population, 2, 10000000));
  a.offspring =
      static_cast<int>(t.integer("offspring", a.algorithm == ga::strategy::cmaes ? 0 : a.population,
                                 a.algorithm == ga::strategy::cmaes ? 0 : 1, 10000000));
  a.generations = static_cast<int>(t.integer("generations", a.generations, 0, 100000000));
  a.crossover_prob = t.number("crossover_prob", a.crossover_prob, 0.0, 1.0);
  a.mutation_prob = t.number("mutation_prob", a.mutation_prob, 0.0, 1.0);
  a.gene_mutation_prob = t.number("gene_mutation_prob", a.gene_mutation_prob, 0.0, 1.0);
  a.eta_crossover = t.number("eta_crossover", a.eta_crossover, 0.0, 1e6, true);
  a.eta_mutation = t.number("eta_mutation", a.eta_mutation, 0.0, 1e6, true);
  a.tournament = static_cast<int>(t.integer("tournament", a.tournament, 1, 1000));
  a.hall_of_fame = static_cast<int>(t.integer("hall_of_fame", a.hall_of_fame, 1, 1000000));
  a.ibea_kappa = t.number("ibea_kappa", a.ibea_kappa, 0.0, 1e6, true);
  a.cmaes_sigma = t.number("cmaes_sigma", a.cmaes_sigma, 0.0, 10.0, true);
  a.seed = static_cast<std::uint64_t>(
      t.integer("seed", static_cast<long long>(a.seed), 0, std::numeric_limits<long long>::max()));
  a.record_population = t.boolean("record_population", a.record_population);
  g.objective = t.string("objective", g.objective);
  if (g.objective != "features" && g.objective != "mse") {
    fail(t.at("objective"), "fit.ga.objective",
         "expected \"features\" or \"mse\", got \"" + g.objective + "\"");
  }
  const std::string grouping = t.string("grouping", "per_feature");
  if (grouping == "per_feature") {
    g.grouping = ga::objective_grouping::per_feature;
  } else if (grouping == "per_stimulus_feature") {
    g.grouping = ga::objective_grouping::per_stimulus_feature;
  } else if (grouping == "sum") {
    g.grouping = ga::objective_grouping::sum;
  } else {
    fail(t.at("grouping"), "fit.ga.grouping",
         "expected \"per_feature\", \"per_stimulus_feature\" or \"sum\", got \"" + grouping + "\"");
  }
  if (t.has("features")) {
    const toml::value& fv = t.get("features");
    g.features = string_list(fv, "fit.ga.features");
    if (g.features.empty()) fail(fv, "fit.ga.features", "needs at least one feature");
    for (const auto& name : g.features) {
      if (!features::is_known(name)) {
        std::string known;
        for (const auto& k : features::available()) known += (known.empty() ? "" : ", ") + k;
        fail(fv, "fit.ga.features", "unknown feature '" + name + "' (known: " + known + ")");
      }
    }
  }
  g.feature_site = static_cast<int>(t.integer("feature_site", g.feature_site, 0, 1000000000));
  g.penalty = t.number("penalty", g.penalty, 0.0, 1e300);
  g.threads = static_cast<int>(t.integer("threads", g.threads, 0, 4096));
  g.threshold_mv = t.number("threshold_mv", g.threshold_mv, -400.0, 400.0);
  g.derivative_threshold = t.positive("derivative_threshold", g.derivative_threshold);
  if (t.has("stim_start_ms")) g.stim_start_ms = t.number("stim_start_ms", 0.0, 0.0, 1e12);
  if (t.has("stim_end_ms")) g.stim_end_ms = t.number("stim_end_ms", 0.0, 0.0, 1e12);
  if (t.has("stim_start_ms") != t.has("stim_end_ms")) {
    fail(v, "fit.ga.stim_start_ms", "give both stim_start_ms and stim_end_ms, or neither");
  }
  if (t.has("stim_end_ms") && !(g.stim_end_ms > g.stim_start_ms)) {
    fail(t.at("stim_end_ms"), "fit.ga.stim_end_ms", "must exceed fit.ga.stim_start_ms");
  }
  t.finish();
}

// A value as TOML text (for --set): numbers with every digit, arrays and strings as written.
std::string toml_text(const toml::value& v) {
  if (v.is_floating()) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", v.as_floating());
    std::string s = buf;
    if (s.find_first_of(".en") == std::string::npos) s += ".0";  // stays a float
    return s;
  }
  if (v.is_integer()) return std::to_string(v.as_integer());
  if (v.is_boolean()) return v.as_boolean() ? "true" : "false";
  if (v.is_string()) {
    std::string s = "\"";
    for (char c : v.as_string().str) {
      if (c == '"' || c == '\\') s += '\\';
      s += c;
    }
    return s + "\"";
  }
  if (v.is_array()) {
    std::string s = "[";
    for (const auto& x : v.as_array()) s += (s.size() > 1 ? ", " : "") + toml_text(x);
    return s + "]";
  }
  fail(v, "value", "cannot be used here (a table)");
}

void build_fit(const toml::value& fv, run_config& rc) {
  table_reader t(fv, "fit");
  fit_settings& f = rc.fit;
  f.present = true;
  f.engine = t.string("engine", f.engine);
  if (f.engine != "gradient" && f.engine != "ga" && f.engine != "hybrid") {
    fail(t.at("engine"), "fit.engine",
         "expected \"gradient\", \"ga\" or \"hybrid\", got \"" + f.engine + "\"");
  }
  f.output = t.string("output", f.output);
  if (t.has("parameter")) {
    const toml::value& pv = t.get("parameter");
    if (!pv.is_array()) fail(pv, "fit.parameter", "expected [[fit.parameter]] tables");
    std::size_t k = 0;
    for (const auto& e : pv.as_array()) {
      const std::string nm = "fit.parameter[" + std::to_string(k++) + "]";
      table_reader pt(e, nm);
      fit_parameter p;
      if (!pt.has("name"))
        fail(e, nm + ".name", "missing (mechanism.parameter, e.g. \"hh.gnabar\")");
      const toml::value& nv = pt.get("name");
      if (!nv.is_string()) fail(nv, nm + ".name", "expected a string");
      const parameter_override o = parse_param_key(nv, nv.as_string().str);
      p.mechanism = o.mechanism;
      p.param = o.param;
      p.scope = pt.string("scope", o.scope);
      if (!pt.has("bounds")) fail(e, nm + ".bounds", "missing ([lower, upper] in physical units)");
      const toml::value& bv = pt.get("bounds");
      if (!bv.is_array() || bv.as_array().size() != 2)
        fail(bv, nm + ".bounds", "expected [lower, upper]");
      p.lower = table_reader::as_number(bv.as_array()[0], nm + ".bounds");
      p.upper = table_reader::as_number(bv.as_array()[1], nm + ".bounds");
      if (pt.has("transform"))
        p.transform = parse_transform(pt.get("transform"), nm + ".transform");
      if (pt.has("initial")) {
        const toml::value& iv = pt.get("initial");
        if (iv.is_array()) {
          for (const auto& x : iv.as_array())
            p.initial.push_back(table_reader::as_number(x, nm + ".initial"));
        } else {
          p.initial.push_back(table_reader::as_number(iv, nm + ".initial"));
        }
      }
      const auto loc = e.location();
      p.where =
          loc.file_name() + (loc.line() > 0 ? ":" + std::to_string(loc.line()) : "") + ": " + nm;
      pt.finish();
      f.parameters.push_back(p);
    }
  }
  if (t.has("target")) {
    table_reader tt(t.get("target"), "fit.target");
    target_settings& g = f.target;
    g.type = tt.string("type", g.type);
    if (g.type == "synthetic") {
      g.low = tt.number("low", g.low, 0.0, 1e6);
      g.high = tt.number("high", g.high, 0.0, 1e6);
      if (!(g.high >= g.low)) fail(tt.at("high"), "fit.target.high", "must be >= fit.target.low");
      g.seed = static_cast<std::uint64_t>(tt.integer("seed", static_cast<long long>(g.seed), 0,
                                                     std::numeric_limits<long long>::max()));
    } else if (g.type == "file") {
      if (!tt.has("file")) fail(t.get("target"), "fit.target.file", "missing (HDF5 traces to fit)");
      const toml::value& fv2 = tt.get("file");
      if (!fv2.is_string()) fail(fv2, "fit.target.file", "expected a string");
      g.file = resolve_path(fv2, rc.source);
      g.dataset = tt.string("dataset", g.dataset);
    } else if (g.type == "features") {
      if (!tt.has("features_file")) {
        fail(t.get("target"), "fit.target.features_file",
             "missing (feature means and stds, BluePyOpt's features.json layout)");
      }
      const toml::value& ff = tt.get("features_file");
      if (!ff.is_string()) fail(ff, "fit.target.features_file", "expected a string");
      g.features_file = resolve_path(ff, rc.source);
      if (tt.has("protocols_file")) {
        const toml::value& pf = tt.get("protocols_file");
        if (!pf.is_string()) fail(pf, "fit.target.protocols_file", "expected a string");
        g.protocols_file = resolve_path(pf, rc.source);
      }
    } else {
      fail(tt.at("type"), "fit.target.type",
           "expected \"synthetic\", \"file\" or \"features\", got \"" + g.type + "\"");
    }
    if (g.type != "features") {
      g.std_fraction = tt.number("std_fraction", g.std_fraction, 0.0, 1e6);
      g.std_floor = tt.number("std_floor", g.std_floor, 0.0, 1e12, true);
    }
    tt.finish();
  }
  if (t.has("gradient")) {
    table_reader gt(t.get("gradient"), "fit.gradient");
    gradient_settings& g = f.gradient;
    const std::string opt = gt.string("optimizer", "adam");
    if (opt == "adam") {
      g.optimizer = optimizer_kind::adam;
    } else if (opt == "lbfgsb") {
      g.optimizer = optimizer_kind::lbfgsb;
    } else {
      fail(gt.at("optimizer"), "fit.gradient.optimizer",
           "expected \"adam\" or \"lbfgsb\", got \"" + opt + "\"");
    }
    g.epochs = static_cast<int>(gt.integer("epochs", g.epochs, 0, 10000000));
    g.lr = gt.positive("lr", g.lr);
    g.beta1 = gt.number("beta1", g.beta1, 0.0, 1.0);
    g.beta2 = gt.number("beta2", g.beta2, 0.0, 1.0);
    if (!(g.beta1 < 1)) fail(gt.at("beta1"), "fit.gradient.beta1", "must be < 1");
    if (!(g.beta2 < 1)) fail(gt.at("beta2"), "fit.gradient.beta2", "must be < 1");
    g.epsilon = gt.positive("epsilon", g.epsilon);
    g.lbfgs_memory = static_cast<int>(gt.integer("lbfgs_memory", g.lbfgs_memory, 1, 1000));
    const std::string loss = gt.string("loss", "normalized");
    if (loss == "mse") {
      g.loss.kind = loss_kind::mse;
    } else if (loss == "normalized") {
      g.loss.kind = loss_kind::normalized;
    } else {
      fail(gt.at("loss"), "fit.gradient.loss",
           "expected \"mse\" or \"normalized\", got \"" + loss + "\"");
    }
    g.loss.spike_weight = gt.number("spike_weight", 0.0, 0.0, 1e12);
    g.loss.spike_threshold_mv = gt.number("spike_threshold_mv", -20.0, -400.0, 400.0);
    g.early_stop = gt.number("early_stop", 0.0, 0.0, 1.0);
    g.patience = static_cast<int>(gt.integer("patience", g.patience, 1, 1000000));
    g.adjoint.checkpoint_every = static_cast<int>(gt.integer("checkpoint_every", 0, 0, 1000000000));
    g.adjoint.memory_budget_bytes = 1e6 * gt.number("memory_budget_mb", 0.0, 0.0, 1e12);
    gt.finish();
  }
  if (t.has("ga")) build_ga(t.get("ga"), rc);
  if (t.has("hybrid")) {
    table_reader ht(t.get("hybrid"), "fit.hybrid");
    f.hybrid.polish = static_cast<int>(ht.integer("polish", f.hybrid.polish, 1, 1000000));
    f.hybrid.ga_fraction = ht.number("ga_fraction", f.hybrid.ga_fraction, 0.0, 1.0);
    if (!(f.hybrid.ga_fraction > 0 && f.hybrid.ga_fraction < 1))
      fail(ht.at("ga_fraction"), "fit.hybrid.ga_fraction", "must lie strictly between 0 and 1");
    ht.finish();
  }
  f.max_simulations = t.number("max_simulations", 0.0, 0.0, 1e18);
  f.max_seconds = t.number("max_seconds", 0.0, 0.0, 1e12);
  f.gradient.max_simulations = f.ga.algorithm.max_simulations = f.max_simulations;
  f.gradient.max_wall_s = f.ga.algorithm.max_wall_s = f.max_seconds;
  f.checkpoint_every =
      static_cast<int>(t.integer("checkpoint_every", f.checkpoint_every, 0, 1000000000));
  f.checkpoint = t.string("checkpoint", f.checkpoint);
  if (t.has("ensemble")) {
    table_reader et(t.get("ensemble"), "fit.ensemble");
    ensemble_settings& e = f.ensemble;
    e.present = true;
    e.vary = et.string("vary", "");
    if (e.vary.empty() || e.vary.rfind("fit.ensemble", 0) == 0 ||
        e.vary.find('=') != std::string::npos) {
      fail(et.at("vary"), "fit.ensemble.vary",
           "expected the config key each member changes, e.g. \"fit.target.seed\"");
    }
    if (!et.has("values") || !et.get("values").is_array() || et.get("values").as_array().empty()) {
      fail(et.at("values"), "fit.ensemble.values",
           "expected a non-empty array, one value per member");
    }
    for (const auto& x : et.get("values").as_array()) e.values.push_back(toml_text(x));
    e.groups = static_cast<int>(et.integer("groups", 0, 0, 1000000));
    et.finish();
  }
  t.finish();
}

void build_parallel(const toml::value& v, run_config& rc) {
  table_reader t(v, "parallel");
  sched::parallel_settings& p = rc.parallel;
  p.overlap = t.boolean("overlap", p.overlap);
  p.chunks = static_cast<int>(t.integer("chunks", p.chunks, 1, 1024));
  p.min_chunk_cells = static_cast<std::size_t>(t.integer("min_chunk_cells", 0, 0, 1000000000));
  p.score_threads = static_cast<int>(t.integer("score_threads", 0, 0, 4096));
  t.finish();
}

// One line per leaf: "a.b.c = value", numbers with every digit.
void flatten(const toml::value& v, const std::string& key, std::vector<std::string>& out) {
  if (v.is_table()) {
    for (const auto& [k, x] : v.as_table()) flatten(x, key.empty() ? k : key + "." + k, out);
    return;
  }
  if (v.is_array()) {
    std::size_t i = 0;
    for (const auto& x : v.as_array()) flatten(x, key + "." + std::to_string(i++), out);
    if (i == 0) out.push_back(key + " = []");
    return;
  }
  std::ostringstream s;
  s << key << " = ";
  if (v.is_floating()) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", v.as_floating());
    s << buf;
  } else if (v.is_integer()) {
    s << v.as_integer();
  } else if (v.is_boolean()) {
    s << (v.as_boolean() ? "true" : "false");
  } else if (v.is_string()) {
    s << '"' << v.as_string().str << '"';
  } else {
    s << toml::format(v);
  }
  out.push_back(s.str());
}

// Applies "a.b.c=value" to the document; array elements are addressed by index
// (stimulus.0.amplitude). The value is TOML; a bare word is taken as a string.
void apply_override(toml::value& doc, const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw usage_error("cellfit::config: --set " + quote_value(text) +
                      ": expected section.key=value");
  }
  const std::string path = text.substr(0, eq);
  const std::string raw = text.substr(eq + 1);
  std::vector<std::string> parts;
  std::string cur;
  std::istringstream ps(path);
  while (std::getline(ps, cur, '.')) parts.push_back(cur);
  if (parts.size() > static_cast<std::size_t>(detail::max_config_nesting)) {
    throw config_error("cellfit::config: --set " + quote_value(path) + ": nesting deeper than " +
                       std::to_string(detail::max_config_nesting) + " levels");
  }
  // The name toml11 gives every value of this override: its location in messages.
  const std::string name = "--set " + printable_text(path);
  detail::check_toml_limits(raw, name, detail::toml_text::value, static_cast<int>(parts.size()));
  const auto parse_v = [&name](const std::string& toml_text) {
    std::istringstream in(toml_text);
    return toml::parse(in, name).as_table().at("v");
  };
  toml::value val;
  try {
    val = parse_v("v = " + raw);
  } catch (const std::exception&) {
    // A bare word: the string itself (parsed as a quoted string, so it keeps a location).
    std::string quoted = "v = \"";
    for (char c : raw) {
      if (c == '\n') {
        throw usage_error("cellfit::config: " + name + ": a value cannot span lines");
      }
      if (c == '"' || c == '\\') quoted += '\\';
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        char esc[8];
        std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned>(c));
        quoted += esc;
      } else {
        quoted += c;
      }
    }
    try {
      val = parse_v(quoted + "\"");
    } catch (const std::exception&) {  // not UTF-8
      throw config_error("cellfit::config: " + name + ": " + quote_value(raw) +
                         " is neither a TOML value nor a UTF-8 word");
    }
  }
  toml::value* node = &doc;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const bool last = i + 1 == parts.size();
    const std::string& p = parts[i];
    if (node->is_array()) {
      char* end = nullptr;
      const long idx = std::strtol(p.c_str(), &end, 10);
      if (*end != '\0' || idx < 0 || static_cast<std::size_t>(idx) >= node->as_array().size()) {
        throw config_error("cellfit::config: " + name + ": " + quote_value(p) +
                           " is not an index of this array");
      }
      node = &node->as_array()[static_cast<std::size_t>(idx)];
      if (last) *node = val;
      continue;
    }
    if (!node->is_table()) {
      throw config_error("cellfit::config: " + name + ": " + quote_value(p) +
                         " is not inside a table");
    }
    auto& tab = node->as_table();
    if (last) {
      tab[p] = val;
    } else {
      if (!tab.count(p)) tab[p] = parse_v("v = {}");  // located at this override
      node = &tab[p];
    }
  }
}

}  // namespace

const std::vector<std::string>& default_ga_features() {
  static const std::vector<std::string> names = {"spike_count",
                                                 "mean_frequency",
                                                 "time_to_first_spike",
                                                 "time_to_last_spike",
                                                 "inv_first_ISI",
                                                 "ISI_CV",
                                                 "doublet_ISI",
                                                 "adaptation_index2",
                                                 "AP_height",
                                                 "AP_amplitude",
                                                 "AP_width",
                                                 "AP_duration_half_width",
                                                 "AHP_depth_abs",
                                                 "AHP_depth",
                                                 "fast_AHP",
                                                 "voltage_base",
                                                 "steady_state_voltage_stimend",
                                                 "voltage_deflection",
                                                 "minimum_voltage",
                                                 "maximum_voltage"};
  return names;
}

const char* default_config_text() {
  return R"(# cellfit built-in default problem: the ball-and-stick hh cell (soma + 5 dendrite
# compartments), 4 parameter sets (gnabar, gkbar x U(0.7, 1.3)) x 6 somatic current steps.
[model]
morphology = "builtin:ball_and_stick"

[model.mechanisms.hh]
regions = "all"

[simulation]
dt_ms = 0.025
t_stop_ms = 200.0
record_sites = [0, -1]

[batch]
parameter_sets = 4
vary = ["hh.gnabar", "hh.gkbar"]
seed = 20230619

[[stimulus]]
type = "step"
sites = "soma"
amplitudes = [0.0, 0.1, 0.2, 0.4, 0.8, 1.6]
delay_ms = 20.0
duration_ms = 150.0
)";
}

namespace {

run_config interpret(toml::value doc, const std::string& source,
                     const std::vector<std::string>& overrides) {
  run_config rc;
  rc.source = source;
  for (const auto& o : overrides) apply_override(doc, o);

  try {
    table_reader top(doc, "");
    {
      static const toml::value empty = toml::table{};
      table_reader mt(top.has("model") ? top.get("model") : empty, "model");
      build_model(mt, rc.model, rc.source);
    }
    {
      static const toml::value empty = toml::table{};
      table_reader st(top.has("simulation") ? top.get("simulation") : empty, "simulation");
      build_settings(st, rc);
    }
    {
      static const toml::value empty = toml::table{};
      table_reader bt(top.has("batch") ? top.get("batch") : empty, "batch");
      build_batch(bt, rc);
    }
    if (top.has("stimulus")) build_stimuli(top.get("stimulus"), rc);
    if (rc.stimuli.empty()) {
      stimulus none;
      none.name = "none";
      rc.stimuli.push_back(none);
    }
    rc.has_batch = top.has("batch");
    if (top.has("fit")) build_fit(top.get("fit"), rc);
    if (top.has("parallel")) build_parallel(top.get("parallel"), rc);
    if (top.has("output")) {
      table_reader ot(top.get("output"), "output");
      rc.output = ot.string("file", rc.output);
      ot.finish();
    }
    top.finish();
    flatten(doc, "", rc.canonical);
    std::sort(rc.canonical.begin(), rc.canonical.end());
  } catch (const toml::exception& e) {
    throw config_error("cellfit::config: " + one_line_toml_error(e.what(), source, "error"));
  }
  return rc;
}

toml::value parse_text(const std::string& text, const std::string& name) {
  detail::check_toml_limits(text, name);
  try {
    std::istringstream in(text);
    return toml::parse(in, name);
  } catch (const std::exception& e) {
    // toml11 throws syntax_error, and std::runtime_error from some of its own checks.
    throw config_error("cellfit::config: " + one_line_toml_error(e.what(), name));
  }
}

// Values of the document reach messages in many places (a mode, a feature name, a file
// name, a region): whatever they hold, a message leaves the config reader as one printable
// line of the same class.
template <class Build>
run_config printable_errors(Build&& build) {
  const auto printable = [](const error& e) {
    return printable_text(e.what(), std::string_view::npos);
  };
  try {
    return build();
  } catch (const usage_error& e) {
    throw usage_error(printable(e));
  } catch (const config_error& e) {
    throw config_error(printable(e));
  } catch (const morphology_error& e) {
    throw morphology_error(printable(e));
  } catch (const io_error& e) {
    throw io_error(printable(e));
  }
}

}  // namespace

run_config parse_config(const std::string& text, const std::string& name,
                        const std::vector<std::string>& overrides) {
  return printable_errors([&] { return interpret(parse_text(text, name), name, overrides); });
}

run_config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  if (path.empty()) return parse_config(default_config_text(), "builtin:default", overrides);
  return printable_errors([&] {
    const std::string text = read_text_file(path, "config", detail::max_config_bytes);
    return interpret(parse_text(text, path), path, overrides);
  });
}

}  // namespace cellfit
