// [model]: morphology, discretisation, passive properties, mechanisms and ions.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>

#include <toml.hpp>

#include "common/error.hpp"
#include "common/suggest.hpp"
#include "io/config.hpp"
#include "io/detail/config_reader.hpp"
#include "io/detail/config_sections.hpp"
#include "model/axon_replacement.hpp"
#include "model/distance_function.hpp"
#include "model/ion_layout.hpp"
#include "model/value_graph.hpp"

namespace cellfit::detail {

namespace {

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

// BluePyOpt's axon replacement (model.replace_axon = true, at `at`). BluePyOpt sets every
// section's nseg by its rule first and reads the old axon's diameters after, so the old
// sections get the nseg the configured rule gives them; section names in model.nseg name the
// new axon[0] and axon[1], not the old sections of those names.
void replace_model_axon(const toml::value& at, morphology& morph,
                        const discretization_options& opt) {
  if (morph.point_model) {
    fail(at, "model.replace_axon",
         morph.source + " is a point model (no geometry): there is no axon to replace");
  }
  discretization_options before = opt;
  std::vector<int> nseg;
  for (const section& s : morph.sections) {
    if (s.type == region::axon) before.nseg_by_section.erase(s.name);
  }
  try {
    for (const section& s : morph.sections) nseg.push_back(choose_nseg(s, before));
    morph = replace_axon(morph, nseg);
  } catch (const error& e) {
    fail(at, "model.replace_axon", without_prefix(e.what()));
  }
}

// One entry of a mechanism parameter: a value over a scope, maybe distributed.
struct region_value {
  std::string scope;
  double value = 0;
  std::optional<distance_function> distribution;
  const toml::value* at = nullptr;  // for messages
  std::string key;
};

// {value = ..., distribution = ...} (a distributed value) rather than region -> value.
bool is_distributed(const toml::value& v) {
  return v.is_table() && (v.as_table().count("value") || v.as_table().count("distribution"));
}

region_value read_region_value(const toml::value& v, const std::string& key,
                               const std::string& scope, const cell_model& m) {
  region_value e;
  e.scope = scope;
  e.at = &v;
  e.key = key;
  if (!is_distributed(v)) {
    if (v.is_table()) {
      fail(v, key, "expected a number or {value = ..., distribution = ...}");
    }
    e.value = table_reader::as_number(v, key);
    return e;
  }
  table_reader t(v, key);
  if (!t.has("value")) fail(v, key + ".value", "missing (the value the distribution scales)");
  e.value = table_reader::as_number(t.get("value"), t.key_name("value"));
  if (t.has("distribution")) {
    e.at = &t.at("distribution");
    e.key = t.key_name("distribution");
    e.distribution = read_distribution(t.get("distribution"), e.key, m.distributions);
  }
  t.finish();
  return e;
}

// Sets parameter k of placement `pl` over the entry's scope: the value, or the distribution
// of it at each compartment (checked: finite, the sign of the value, a scope that selects
// some compartment).
void apply_region_value(const cell_model& m, mechanism_placement& pl, std::size_t k,
                        const region_value& e) {
  const std::vector<int> in = scope_compartments(m, e.scope);
  std::vector<std::size_t> inst;
  std::vector<int> comps;
  for (std::size_t j = 0; j < pl.compartments.size(); ++j) {
    if (std::binary_search(in.begin(), in.end(), pl.compartments[j])) {
      inst.push_back(j);
      comps.push_back(pl.compartments[j]);
    }
  }
  auto& vals = pl.params[k];
  if (!e.distribution) {
    for (std::size_t j : inst) vals[j] = e.value;
    return;
  }
  if (inst.empty()) {
    fail(*e.at, e.key,
         "the distribution's scope '" + e.scope + "' selects no compartment where " + pl.name +
             " is inserted in " + m.morph.source);
  }
  std::vector<double> got;
  try {
    got = distributed_values(*e.distribution, m, comps, e.value);
  } catch (const config_error& err) {
    fail(*e.at, e.key, err.what());
  }
  for (std::size_t i = 0; i < inst.size(); ++i) vals[inst[i]] = got[i];
}

// [model.distributions]: name -> an expression or a {shape = ...} table, compiled once here
// (errors at the declaration), used by name in mechanism parameters and fit parameters.
void read_distributions(const toml::value& v, cell_model& m) {
  table_reader t(v, "model.distributions");
  for (const auto& [name, def] : v.as_table()) {
    t.get(name);
    const std::string key = t.key_name(name);
    const bool ident =
        !name.empty() && (name[0] < '0' || name[0] > '9') &&
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") ==
            std::string::npos;
    if (!ident || name == "distance" || name == "value") {
      fail(def, key,
           "a distribution's name is a word of letters, digits and '_' other than distance and "
           "value");
    }
    const distance_function f = read_distribution(def, key, {});
    m.distributions[name] = f.text();
  }
  t.finish();
}

// model.<key>: one positive number for every region, or a table of section lists -> number
// with an optional "default"; broad lists apply before specific ones (alldend before apical).
std::map<region, double> region_values(table_reader& t, const std::string& key, double def) {
  std::map<region, double> out;
  const std::string name = "model." + key;
  auto checked = [&](const toml::value& v, const std::string& k) {
    const double x = table_reader::as_number(v, k);
    if (!(x > 0) || !std::isfinite(x)) fail(v, k, "must be positive and finite");
    return x;
  };
  double all = def;
  const toml::value* table = nullptr;
  if (t.has(key)) {
    const toml::value& v = t.get(key);
    if (v.is_table()) {
      table = &v;
      if (v.as_table().count("default"))
        all = checked(v.as_table().at("default"), name + ".default");
    } else {
      all = checked(v, name);
    }
  }
  for (region r : {region::soma, region::axon, region::basal, region::apical, region::other})
    out[r] = all;
  if (!table) return out;
  for (int rank = 0; rank <= 2; ++rank) {
    for (const auto& [list, v] : table->as_table()) {
      if (list == "default") continue;
      const int rk = section_list_rank(list);
      if (rk < 0) {
        fail(v, name + "." + list,
             "unknown section list (default, all, dend, soma, axon, basal, apical, other; or "
             "BluePyOpt's allsect, alldend, somatic, axonal)");
      }
      if (rk != rank) continue;
      const double x = checked(v, name + "." + list);
      for (auto& [r, value] : out)
        if (section_list_contains(list, r)) value = x;
    }
  }
  return out;
}

// The morphology and its discretisation from [model]'s geometry keys; cm and Ra per region.
void build_cable(table_reader& t, cell_model& m, const std::string& source,
                 std::map<region, double>& cm_of, std::map<region, double>& ra_of) {
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
  // cm and Ra: a number, or a table of section lists -> number with an optional "default".
  // Read before discretising: the d_lambda rule needs both.
  const bool point = m.morph.point_model;
  const double cm_default = point ? 0.45 : 1.0;
  cm_of = region_values(t, "cm", cm_default);
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
      opt.nseg_by_section[key] = static_cast<int>(n);  // checked once the sections are final
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
  if (t.has("ra") && point) fail(t.at("ra"), "model.ra", "a point model has no axial resistivity");
  opt.ra_of = region_values(t, "ra", 35.4);
  ra_of = opt.ra_of;
  opt.ra_ohm_cm = opt.ra_of.at(region::soma);
  opt.axial_weight = t.positive("axial_weight", 0.5);
  if (t.boolean("replace_axon", false)) replace_model_axon(t.at("replace_axon"), m.morph, opt);
  // Sections named in model.nseg: those of the final morphology (after axon replacement).
  if (t.has("nseg") && t.get("nseg").is_table()) {
    const auto& secs = m.morph.sections;
    for (const auto& [key, value] : t.get("nseg").as_table()) {
      if (section_list_rank(key) >= 0) continue;
      if (std::none_of(secs.begin(), secs.end(), [&](const section& x) { return x.name == key; })) {
        fail(value, "model.nseg." + key,
             "no section list or section '" + key + "' in " + m.morph.source +
                 " (lists: allsect, alldend, somatic, axonal, basal, apical, other; sections " +
                 secs.front().name + " .. " + secs.back().name + ")");
      }
    }
  }
  m.geom = discretize(m.morph, opt);
}

// A graph compartment's leak, as pas parameters.
struct graph_leak {
  int compartment = 0;
  double g_s_cm2 = 0, e_mv = 0;
};

// [model.graph]: compartments and edges given by values (model/value_graph.hpp) instead of a
// morphology. Refusals name the entry at fault. Returns the leaks, to insert as pas.
std::vector<graph_leak> build_graph(table_reader& t, cell_model& m, const std::string& source) {
  for (const char* key :
       {"morphology", "mode", "nseg", "nseg_rule", "d_lambda", "d_lambda_freq_hz", "nseg_length_um",
        "max_length_um", "max_compartment_um", "ra", "axial_weight", "replace_axon"}) {
    if (t.has(key)) {
      fail(t.at(key), std::string("model.") + key,
           "does not apply to a model given by model.graph (its compartments and edges are "
           "values, not geometry)");
    }
  }
  const toml::value& gv = t.get("graph");
  table_reader gt(gv, "model.graph");
  const auto entries = [&](const char* key) -> const toml::array& {
    if (!gt.has(key)) fail(gv, gt.key_name(key), "missing");
    const toml::value& v = gt.get(key);
    if (!v.is_array()) fail(v, gt.key_name(key), "expected an array of tables");
    return v.as_array();
  };
  const toml::array& comps = entries("compartment");
  const toml::array& edges = gt.has("edge") ? entries("edge") : toml::array{};
  value_graph vg;
  for (std::size_t k = 0; k < comps.size(); ++k) {
    const std::string key = "model.graph.compartment[" + std::to_string(k) + "]";
    table_reader ct(comps[k], key);
    graph_compartment c;
    if (!ct.has("name")) fail(comps[k], key + ".name", "missing");
    c.name = ct.string("name", "");
    if (!ct.has("c_pf")) fail(comps[k], key + ".c_pf", "missing (the capacitance in pF)");
    c.c_pf = ct.number("c_pf", 0.0);
    const std::string type =
        ct.string("region", parse_region_name(c.name, c.type) ? c.name : "other");
    if (!parse_region_name(type, c.type)) {
      fail(ct.at("region"), ct.key_name("region"),
           "expected \"soma\", \"axon\", \"basal\", \"apical\" or \"other\", got \"" + type + "\"");
    }
    if (ct.has("g_leak_ns") != ct.has("e_leak_mv")) {
      fail(comps[k], key,
           "g_leak_ns and e_leak_mv go together (the leak's conductance and reversal potential)");
    }
    c.has_leak = ct.has("g_leak_ns");
    c.g_leak_ns = ct.number("g_leak_ns", 0.0);
    c.e_leak_mv = ct.number("e_leak_mv", 0.0);
    ct.finish();
    vg.compartments.push_back(c);
  }
  for (std::size_t e = 0; e < edges.size(); ++e) {
    const std::string key = "model.graph.edge[" + std::to_string(e) + "]";
    table_reader et(edges[e], key);
    graph_edge ed;
    for (const char* k : {"from", "to", "g_ns"}) {
      if (!et.has(k)) fail(edges[e], et.key_name(k), "missing");
    }
    ed.from = et.string("from", "");
    ed.to = et.string("to", "");
    ed.g_ns = et.number("g_ns", 0.0);
    et.finish();
    vg.edges.push_back(ed);
  }
  gt.finish();
  const std::string name = "model.graph of " + source;
  value_graph_model built;
  try {
    built = build_value_graph(vg, name);
  } catch (const value_graph_error& err) {
    std::string what = err.what();
    const std::string prefix = "cellfit::config: " + name + ": ";
    if (what.rfind(prefix, 0) == 0) what.erase(0, prefix.size());
    if (err.edge() >= 0) {
      fail(edges[static_cast<std::size_t>(err.edge())],
           "model.graph.edge[" + std::to_string(err.edge()) + "]", what);
    }
    if (err.compartment() >= 0) {
      fail(comps[static_cast<std::size_t>(err.compartment())],
           "model.graph.compartment[" + std::to_string(err.compartment()) + "]", what);
    }
    fail(gv, "model.graph", what);
  }
  m.morph = std::move(built.morph);
  m.geom = std::move(built.geom);
  // The leaks as pas on their compartments (inserted once the mechanisms are read).
  std::vector<graph_leak> leaks;
  for (std::size_t c = 0; c < built.entry_of.size(); ++c) {
    const graph_compartment& gc = vg.compartments[static_cast<std::size_t>(built.entry_of[c])];
    if (gc.has_leak) {
      leaks.push_back({static_cast<int>(c), graph_leak_s_cm2(gc.g_leak_ns, gc.c_pf), gc.e_leak_mv});
    }
  }
  return leaks;
}

// The graph's leaks as pas, in the catalogue's place among the mechanisms; refused beside a
// pas of [model.mechanisms] (one leak, given once).
void insert_graph_leak(table_reader& t, cell_model& m, const std::vector<graph_leak>& leaks) {
  if (leaks.empty()) return;
  if (m.placement("pas")) {
    fail(t.at("mechanisms"), "model.mechanisms.pas",
         "model.graph gives leaks (g_leak_ns) already: give the leak in one place");
  }
  const mechanism_info& info = *find_mechanism("pas");
  mechanism_placement pl;
  pl.name = "pas";
  pl.params.resize(info.param_names.size());
  for (const auto& l : leaks) {
    pl.compartments.push_back(l.compartment);
    pl.params[static_cast<std::size_t>(info.param_index("g"))].push_back(l.g_s_cm2);
    pl.params[static_cast<std::size_t>(info.param_index("e"))].push_back(l.e_mv);
  }
  const std::vector<std::string> order = catalogue_list();
  const auto rank = [&](const std::string& name) {
    return std::find(order.begin(), order.end(), name) - order.begin();
  };
  auto it = m.mechanisms.begin();
  while (it != m.mechanisms.end() && rank(it->name) < rank("pas")) ++it;
  m.mechanisms.insert(it, pl);
}

}  // namespace

void build_model(table_reader& t, cell_model& m, const std::string& source) {
  const bool graph = t.has("graph");
  std::map<region, double> cm_of, ra_of;
  std::vector<graph_leak> leaks;
  if (graph) {
    leaks = build_graph(t, m, source);
    cm_of = region_values(t, "cm", 1.0);
  } else {
    build_cable(t, m, source, cm_of, ra_of);
  }
  const bool point = m.morph.point_model;
  m.celsius = t.number("celsius", 6.3);
  m.v_init_mv = t.number("v_init", point ? -60.0 : -65.0, -200.0, 200.0);
  m.cm.resize(static_cast<std::size_t>(m.geom.n_compartments()));
  m.ra_ohm_cm.resize(m.cm.size());
  for (int c = 0; c < m.geom.n_compartments(); ++c) {
    const std::size_t cu = static_cast<std::size_t>(c);
    m.cm[cu] = cm_of.at(m.geom.region_of[cu]);
    // A value graph's Ra is its edges' resistance (model/value_graph.hpp).
    m.ra_ohm_cm[cu] = point   ? 0.0
                      : graph ? m.geom.ra_ohm_cm[static_cast<std::size_t>(m.geom.node_of[cu])]
                              : ra_of.at(m.geom.region_of[cu]);
  }

  if (t.has("distributions")) read_distributions(t.get("distributions"), m);

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
        std::vector<int> c;
        try {
          c = scope_compartments(m, r);
        } catch (const config_error& e) {
          fail(one, ot.key_name("regions"), e.what());
        }
        // A list naming a region this cell lacks is a typo or the wrong morphology; the
        // mechanism would silently be missing where the user expects it.
        if (c.empty() && regions.size() > 1) {
          std::string present;
          for (const char* list : {"soma", "axon", "basal", "apical", "dend", "other"}) {
            if (!compartments_in_region(m.geom, list).empty()) {
              present += (present.empty() ? "" : ", ") + std::string(list);
            }
          }
          fail(ot.at("regions"), ot.key_name("regions"),
               "'" + r + "' selects no compartment of " + m.morph.source +
                   " (its regions: " + present + ")");
        }
        comps.insert(comps.end(), c.begin(), c.end());
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
      // Parameter defaults: a number (everywhere), a table region -> number, or a
      // distribution {value, distribution} (everywhere, or as the entry of a region).
      for (std::size_t k = 0; k < info.param_names.size(); ++k) {
        const std::string& pn = info.param_names[k];
        if (!ot.has(pn)) continue;
        const toml::value& pv = ot.get(pn);
        if (info.is_global(static_cast<int>(k)) && !pv.is_integer() && !pv.is_floating()) {
          fail(pv, ot.key_name(pn), "a GLOBAL is one number for the model");
        }
        std::vector<region_value> entries;
        if (pv.is_table() && !is_distributed(pv)) {
          table_reader pt(pv, ot.key_name(pn));
          for (const auto& [rk, rv] : pv.as_table()) {
            pt.get(rk);
            entries.push_back(read_region_value(rv, pt.key_name(rk), rk, m));
          }
          pt.finish();
        } else {
          entries.push_back(read_region_value(pv, ot.key_name(pn), "all", m));
        }
        // Broad scopes first, so that a specific one overrides them whatever the key order.
        std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
          return scope_precedence(a.scope) < scope_precedence(b.scope);
        });
        for (const region_value& e : entries) {
          try {
            check_override(m, {info.name, pn, e.scope, {e.value}}, e.key);
          } catch (const config_error& err) {
            fail(*e.at, e.key, err.what());
          }
          apply_region_value(m, m.mechanisms.back(), k, e);
        }
      }
      ot.finish();
    }
    // A mechanism the catalogue does not have: say which ones it has.
    for (const auto& [key, value] : mv.as_table()) {
      if (!find_mechanism(key)) {
        fail(value, "model.mechanisms." + key,
             "unknown mechanism" + did_you_mean(key, catalogue_list()) +
                 " (the catalogue: " + catalogue_names() + ")");
      }
    }
    mt.finish();
  } else if (!graph) {
    // Default: hh everywhere in cable models, jk everywhere in point models (none in value
    // graphs, whose leaks are their membrane).
    const mechanism_info& info = *find_mechanism(point ? "jk" : "hh");
    mechanism_placement pl;
    pl.name = info.name;
    for (int c = 0; c < m.geom.n_compartments(); ++c) pl.compartments.push_back(c);
    for (double d : info.defaults) pl.params.emplace_back(pl.compartments.size(), d);
    m.mechanisms.push_back(pl);
  }
  insert_graph_leak(t, m, leaks);
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
            return scope_precedence(a.first) < scope_precedence(b.first);
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

}  // namespace cellfit::detail
