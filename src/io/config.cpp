#include "io/config.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include <toml.hpp>

#include "common/error.hpp"
#include "common/quote.hpp"
#include "common/rng.hpp"
#include "common/text_file.hpp"
#include "io/detail/config_reader.hpp"
#include "io/detail/config_sections.hpp"
#include "io/detail/toml_limits.hpp"

namespace cellfit {

using namespace detail;

namespace {

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
  const cable_model_view cell{rc.model.morph, rc.model.geom};
  if (t.has("recording")) {
    // Named recordings, each at one point: traces are "<protocol>.<name>.v".
    if (t.has("record_sites")) {
      fail(t.at("record_sites"), "simulation.record_sites",
           "give record_sites or [[simulation.recording]] tables, not both");
    }
    const toml::value& rv = t.get("recording");
    if (!rv.is_array() || rv.as_array().empty())
      fail(rv, "simulation.recording", "expected one or more [[simulation.recording]] tables");
    std::size_t k = 0;
    for (const auto& entry : rv.as_array()) {
      table_reader r(entry, "simulation.recording[" + std::to_string(k++) + "]");
      if (!r.has("name")) fail(entry, r.key_name("name"), "missing (e.g. \"soma\")");
      const std::string name = r.string("name", "");
      if (name.empty() || name.find_first_of(". \t/") != std::string::npos) {
        fail(r.at("name"), r.key_name("name"),
             "a recording name is a non-empty word without '.', '/' or spaces, got \"" + name +
                 "\"");
      }
      if (s.find_site(name) >= 0)
        fail(r.at("name"), r.key_name("name"), "the name \"" + name + "\" is already used");
      if (!r.has("site"))
        fail(entry, r.key_name("site"), "missing (a point such as \"soma\" or \"dend[2](0.5)\")");
      const auto c = parse_sites(r.get("site"), r.key_name("site"), cell, site_use::point);
      if (c.size() != 1)
        fail(r.at("site"), r.key_name("site"), "a recording is at one point, not a list");
      s.record_compartments.push_back(c.front());
      s.record_names.push_back(name);
      r.finish();
    }
  } else {
    s.record_compartments =
        t.has("record_sites") ? parse_sites(t.get("record_sites"), "simulation.record_sites", cell)
                              : compartments_in_region(rc.model.geom, "all");
    for (int c : s.record_compartments)
      s.record_names.push_back(compartment_name(rc.model.morph, rc.model.geom, c));
  }
  t.finish();
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
        const parameter_group grp = find_parameter_group(rc.model, o.mechanism);
        const mechanism_placement* pl = grp.placement;
        const mechanism_info* info = grp.info;
        if (!pl || !info || info->param_index(o.param) < 0) {
          fail(t.get("vary"), "batch.vary",
               "'" + vary[v] + "' names no inserted mechanism parameter");
        }
        if (o.mechanism.empty() && o.param == "Ra") {
          fail(t.get("vary"), "batch.vary",
               "'Ra' is one value per section: vary it with [[batch.set]] entries (\"Ra@apical\")");
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
# Units are NEURON's: ms, mV, nA, uF/cm2, S/cm2 (conductance densities), ohm cm, um, degC;
# `cellfit info --mechanisms` lists every mechanism parameter with its unit.
[model]
morphology = "builtin:ball_and_stick"
celsius = 6.3                # degC (not kelvin)
v_init = -65.0               # mV

[model.mechanisms.hh]
regions = "all"              # hh's defaults: gnabar 0.12, gkbar 0.036, gl 0.0003 S/cm2

[simulation]
dt_ms = 0.025                # ms
t_stop_ms = 200.0            # ms
record_sites = [0, -1]       # compartments: the soma and the dendrite's far end

[batch]
parameter_sets = 4
vary = ["hh.gnabar", "hh.gkbar"]
seed = 20230619

[[stimulus]]
type = "step"
sites = "soma"
amplitudes = [0.0, 0.1, 0.2, 0.4, 0.8, 1.6]   # nA (0.1 nA = 100 pA), one stimulus each
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
    build_stimuli(top.has("stimulus") ? &top.get("stimulus") : nullptr,
                  top.has("protocol") ? &top.get("protocol") : nullptr, rc);
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
  return printable_errors([&] {
    run_config rc = interpret(parse_text(text, name), name, overrides);
    rc.text = text;
    rc.overrides = overrides;
    return rc;
  });
}

run_config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  if (path.empty()) return parse_config(default_config_text(), "builtin:default", overrides);
  return printable_errors([&] {
    const std::string text = read_text_file(path, "config", detail::max_config_bytes);
    run_config rc = interpret(parse_text(text, path), path, overrides);
    rc.text = text;
    rc.overrides = overrides;
    return rc;
  });
}

}  // namespace cellfit
