#include "io/bluepyopt_import.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/suggest.hpp"
#include "io/feature_targets.hpp"
#include "model/cell_model.hpp"
#include "sim/batch_simulator.hpp"
#include "stimulus/stimulus.hpp"

namespace cellfit {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

[[noreturn]] void refuse(const std::string& where, const std::string& why) {
  throw config_error("cellfit::import: " + where + ": " + why);
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw io_error("cellfit::import: cannot read " + path);
  try {
    return json::parse(in);
  } catch (const json::parse_error& e) {
    throw io_error("cellfit::import: " + path + " is not valid JSON: " + e.what());
  }
}

double number(const json& v, const std::string& where) {
  if (!v.is_number()) refuse(where, "expected a number");
  return v.get<double>();
}

std::string text(const json& e, const char* key, const std::string& where) {
  if (!e.contains(key)) refuse(where, std::string("missing \"") + key + "\"");
  if (!e[key].is_string()) refuse(where + "." + key, "expected a string");
  return e[key].get<std::string>();
}

// The shortest decimal that reads back as x, positional where that is short (100.0, not
// 1e+02), always with a '.' or an exponent (a TOML float).
std::string num(double x) {
  char buf[64];
  const double a = std::abs(x);
  const bool positional = a == 0 || (a >= 1e-4 && a < 1e15);
  for (int digits = positional ? 1 : 0; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, positional ? "%.*f" : "%.*e", digits, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  return buf;
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// BluePyOpt's section lists; how broad each is (a narrower value applies after a broader
// one, in cellfit as in BluePyOpt's file order).
const std::vector<std::string> section_lists = {"all",    "allsect", "alldend", "somatic",
                                                "axonal", "basal",   "apical"};
int breadth(const std::string& list) {
  if (list == "all" || list == "allsect") return 0;
  if (list == "alldend") return 1;
  return 2;
}
bool covers(const std::string& wide, const std::string& narrow) {
  if (breadth(wide) == 0 || wide == narrow) return true;
  return wide == "alldend" && (narrow == "basal" || narrow == "apical");
}
void check_list(const std::string& list, const std::string& where) {
  if (std::find(section_lists.begin(), section_lists.end(), list) == section_lists.end()) {
    refuse(where, "unknown section list '" + list +
                      "' (all, allsect, alldend, somatic, axonal, basal, apical)");
  }
}

// One value of a parameter on a section list: fixed, or fitted within bounds (written at
// the midpoint, which every fit starts from unless told otherwise).
struct region_value {
  std::string list;
  double value = 0;
  std::string distribution;  // a name in [model.distributions], or empty
  bool fitted = false;
  double lower = 0, upper = 0;
};

// A quantity set per section list: a mechanism's RANGE parameter, cm, a reversal potential.
struct quantity {
  std::string key;  // "NaTs2_t.gNaTs2_tbar", "cm", "ena"
  std::vector<region_value> values;
};

struct converter {
  std::string dir, mech_file, param_file, proto_file, feature_file;
  // mechanisms.json: mechanism -> section lists, in file order.
  std::vector<std::pair<std::string, std::vector<std::string>>> mechanisms;
  std::vector<quantity> quantities;
  std::vector<std::pair<std::string, std::string>> distributions;  // name, expression
  std::vector<std::pair<std::string, double>> mech_globals;        // "Ih.ehcn", value
  double celsius = std::nan(""), v_init = std::nan("");
  std::ostringstream protocols_toml, recordings_toml;
  std::vector<std::string> recording_names = {"soma"};
  std::vector<std::pair<std::string, json>> recordings;  // name, definition (for checks)
  std::vector<stimulus> protocol_stimuli;                // names only, for features.json
  double t_stop_ms = 0;

  std::vector<std::string>* lists_of(const std::string& mech) {
    for (auto& [m, lists] : mechanisms) {
      if (m == mech) return &lists;
    }
    return nullptr;
  }

  void read_mechanisms() {
    const json j = read_json(mech_file);
    if (!j.is_object()) refuse(mech_file, "expected {\"<section list>\": [mechanisms]}");
    for (const auto& [list, names] : j.items()) {
      const std::string where = mech_file + ": " + list;
      check_list(list, where);
      if (!names.is_array()) refuse(where, "expected a list of mechanism names");
      for (const auto& n : names) {
        if (!n.is_string()) refuse(where, "expected mechanism names (strings)");
        const std::string mech = n.get<std::string>();
        if (!find_mechanism(mech)) {
          refuse(where, "unknown mechanism '" + mech + "'" + did_you_mean(mech, catalogue_list()) +
                            " (catalogue: " + catalogue_names() + ")");
        }
        auto* lists = lists_of(mech);
        if (!lists) {
          mechanisms.push_back({mech, {}});
          lists = &mechanisms.back().second;
        }
        if (std::find(lists->begin(), lists->end(), list) == lists->end()) lists->push_back(list);
      }
    }
  }

  std::string distribution_name(const std::string& expression, const std::string& dist_type) {
    for (const auto& [name, expr] : distributions) {
      if (expr == expression) return name;
    }
    std::string name = dist_type;
    const bool word = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    });
    const auto taken = [&](const std::string& n) {
      return std::any_of(distributions.begin(), distributions.end(),
                         [&](const auto& d) { return d.first == n; });
    };
    if (!word || taken(name)) {
      int k = 1;
      do {
        name = "distribution" + std::to_string(k++);
      } while (taken(name));
    }
    distributions.push_back({name, expression});
    return name;
  }

  void add(const std::string& key, region_value v, const std::string& where) {
    auto it = std::find_if(quantities.begin(), quantities.end(),
                           [&](const quantity& q) { return q.key == key; });
    if (it == quantities.end()) {
      quantities.push_back({key, {}});
      it = quantities.end() - 1;
    }
    for (const auto& prev : it->values) {
      if (prev.list == v.list) refuse(where, key + " on " + v.list + " is set twice");
      if (breadth(prev.list) > breadth(v.list)) {
        refuse(where, key + " on " + v.list + " comes after " + prev.list +
                          ": list the broader section list first (cellfit applies it first)");
      }
    }
    it->values.push_back(std::move(v));
  }

  // The mechanism and parameter a NEURON RANGE name such as "g_pas" or "gIhbar_Ih" names;
  // the longest mechanism suffix wins (mechanism names contain underscores).
  static bool is_global_of(const mechanism_info& m, const std::string& param) {
    const int k = m.param_index(param);
    return k >= 0 && m.is_global(k);
  }

  std::pair<std::string, std::string> split_range_name(const std::string& name) {
    std::pair<std::string, std::string> best;
    for (const auto& m : mechanism_catalogue()) {
      const std::string tail = "_" + m.name;
      if (name.size() > tail.size() &&
          name.compare(name.size() - tail.size(), tail.size(), tail) == 0 &&
          m.name.size() > best.first.size()) {
        const std::string param = name.substr(0, name.size() - tail.size());
        const int k = m.param_index(param);
        if (k >= 0 && !m.is_global(k)) best = {m.name, param};
      }
    }
    return best;
  }

  void read_parameters() {
    const json j = read_json(param_file);
    if (!j.is_array()) refuse(param_file, "expected a list of parameters");
    std::size_t k = 0;
    for (const auto& p : j) {
      const std::string at = param_file + ": [" + std::to_string(k++) + "]";
      if (!p.is_object()) refuse(at, "expected an object");
      const std::string name = text(p, "param_name", at);
      const std::string where = at + " (" + name + ")";
      const std::string type = text(p, "type", where);
      for (const auto& [key, v] : p.items()) {
        static const char* known[] = {"param_name", "type", "sectionlist", "mech",   "mech_param",
                                      "dist_type",  "dist", "value",       "bounds", "__comment"};
        if (std::none_of(std::begin(known), std::end(known),
                         [&, kk = key](const char* n) { return kk == n; })) {
          refuse(where + "." + key, "unknown key");
        }
      }
      region_value rv;
      if (p.contains("value")) {
        rv.value = number(p["value"], where + ".value");
      } else if (p.contains("bounds")) {
        const json& b = p["bounds"];
        if (!b.is_array() || b.size() != 2) refuse(where + ".bounds", "expected [lower, upper]");
        rv.lower = number(b[0], where + ".bounds");
        rv.upper = number(b[1], where + ".bounds");
        if (!(rv.lower < rv.upper)) refuse(where + ".bounds", "needs lower < upper");
        rv.fitted = true;
        rv.value = 0.5 * (rv.lower + rv.upper);
      } else {
        refuse(where, "needs \"value\" (fixed) or \"bounds\" (fitted)");
      }

      if (type == "global") {
        if (rv.fitted) refuse(where + ".bounds", "cellfit fits mechanism parameters, not globals");
        if (name == "celsius") {
          celsius = rv.value;
        } else if (name == "v_init") {
          v_init = rv.value;
        } else {
          // A mechanism's GLOBAL, NEURON-style "<global>_<mechanism>".
          bool found = false;
          for (const auto& m : mechanism_catalogue()) {
            const std::string tail = "_" + m.name;
            if (name.size() > tail.size() &&
                name.compare(name.size() - tail.size(), tail.size(), tail) == 0 &&
                is_global_of(m, name.substr(0, name.size() - tail.size()))) {
              if (!lists_of(m.name)) {
                refuse(where,
                       "mechanism '" + m.name + "' is not inserted anywhere (" + mech_file + ")");
              }
              mech_globals.push_back(
                  {m.name + "." + name.substr(0, name.size() - tail.size()), rv.value});
              found = true;
            }
          }
          if (!found) {
            refuse(where + ".param_name",
                   "unknown global '" + name + "' (celsius, v_init, or <GLOBAL>_<mechanism>)");
          }
        }
        continue;
      }
      if (type != "section" && type != "range") {
        refuse(where + ".type",
               "expected \"global\", \"section\" or \"range\", got \"" + type + "\"");
      }
      rv.list = text(p, "sectionlist", where);
      check_list(rv.list, where + ".sectionlist");
      if (p.contains("dist")) {
        if (!p["dist"].is_string()) refuse(where + ".dist", "expected an expression");
        rv.distribution = distribution_name(p["dist"].get<std::string>(),
                                            p.contains("dist_type") && p["dist_type"].is_string()
                                                ? p["dist_type"].get<std::string>()
                                                : "");
      } else if (p.contains("dist_type") && p["dist_type"] != "uniform") {
        refuse(where + ".dist_type", "not \"uniform\" but no \"dist\" expression");
      }

      std::string mech, param;
      if (type == "range") {
        mech = text(p, "mech", where);
        param = text(p, "mech_param", where);
        const mechanism_info* m = find_mechanism(mech);
        if (!m) {
          refuse(where + ".mech",
                 "unknown mechanism '" + mech + "'" + did_you_mean(mech, catalogue_list()));
        }
        if (m->param_index(param) < 0 || m->is_global(m->param_index(param))) {
          refuse(where + ".mech_param", "'" + mech + "' has no RANGE parameter '" + param + "'");
        }
      } else if (name == "cm" || name == "Ra" || name == "ena" || name == "ek" || name == "eca") {
        // cm and Ra are cellfit parameters (fittable); reversal potentials are ion settings.
        if (rv.fitted && name != "cm" && name != "Ra") {
          refuse(where + ".bounds", "cellfit fits mechanism parameters, cm and Ra, not " + name);
        }
        if (!rv.distribution.empty()) refuse(where + ".dist", name + " has no distribution here");
        add(name, rv, where);
        continue;
      } else {
        std::tie(mech, param) = split_range_name(name);
        if (mech.empty()) {
          refuse(where + ".param_name", "unknown section parameter '" + name +
                                            "' (cm, Ra, ena, ek, eca, or <parameter>_<mechanism>)");
        }
      }
      const auto* lists = lists_of(mech);
      const bool inserted =
          lists && std::any_of(lists->begin(), lists->end(),
                               [&](const std::string& l) { return covers(l, rv.list); });
      if (!inserted) {
        refuse(where,
               "mechanism '" + mech + "' is not inserted on " + rv.list + " (" + mech_file + ")");
      }
      add(mech + "." + param, rv, where);
    }
  }

  void read_protocols() {
    const json j = read_json(proto_file);
    if (!j.is_object() || j.empty()) refuse(proto_file, "expected {\"<protocol>\": {...}}");
    for (const auto& [pname, proto] : j.items()) {
      const std::string where = proto_file + ": " + pname;
      if (!proto.is_object()) refuse(where, "expected an object");
      for (const auto& [key, v] : proto.items()) {
        if (key != "stimuli" && key != "extra_recordings") refuse(where + "." + key, "unknown key");
      }
      if (!proto.contains("stimuli") || !proto["stimuli"].is_array() || proto["stimuli"].empty()) {
        refuse(where + ".stimuli", "expected a non-empty list of stimuli");
      }
      double total = 0;
      std::ostringstream stimuli;
      std::size_t k = 0;
      for (const auto& s : proto["stimuli"]) {
        const std::string w = where + ".stimuli[" + std::to_string(k) + "]";
        if (!s.is_object()) refuse(w, "expected an object");
        for (const auto& [key, v] : s.items()) {
          if (key != "delay" && key != "amp" && key != "duration" && key != "totduration") {
            refuse(w + "." + key,
                   "unknown key (a step at the soma: delay, amp, duration, "
                   "totduration)");
          }
        }
        for (const char* key : {"delay", "amp", "duration", "totduration"}) {
          if (!s.contains(key)) refuse(w, std::string("missing \"") + key + "\"");
        }
        const double delay = number(s["delay"], w + ".delay");
        const double amp = number(s["amp"], w + ".amp");
        const double duration = number(s["duration"], w + ".duration");
        const double tot = number(s["totduration"], w + ".totduration");
        if (delay < 0 || duration < 0 || !(tot > 0)) {
          refuse(w, "negative delay or duration, or totduration <= 0");
        }
        total = std::max(total, tot);
        // As BluePyOpt's L5PC: a further stimulus over the whole protocol is a holding
        // current.
        const bool holding = k > 0 && delay == 0 && duration >= tot;
        stimuli << "[[protocol.stimulus]]\n";
        if (holding) {
          stimuli << "type = \"holding\"\nsites = \"soma\"\namplitude = " << num(amp) << "\n";
        } else {
          stimuli << "type = \"step\"\nsites = \"soma\"\namplitude = " << num(amp)
                  << "\ndelay_ms = " << num(delay) << "\nduration_ms = " << num(duration) << "\n";
        }
        ++k;
      }
      protocols_toml << "\n[[protocol]]\nname = " << quoted(pname) << "\n";
      protocols_toml << "t_stop_ms = " << num(total) << "\n" << stimuli.str();
      t_stop_ms = std::max(t_stop_ms, total);
      stimulus st;
      st.name = pname;
      protocol_stimuli.push_back(st);

      if (proto.contains("extra_recordings")) {
        const json& rs = proto["extra_recordings"];
        if (!rs.is_array()) refuse(where + ".extra_recordings", "expected a list");
        std::size_t r = 0;
        for (const auto& rec : rs) {
          read_recording(rec, where + ".extra_recordings[" + std::to_string(r++) + "]");
        }
      }
    }
  }

  void read_recording(const json& rec, const std::string& where) {
    if (!rec.is_object()) refuse(where, "expected an object");
    for (const auto& [key, v] : rec.items()) {
      // arbor_branch_index*: where BluePyOpt's Arbor export finds the site; cellfit finds it
      // from somadistance and seclist_name as NEURON does.
      if (key != "var" && key != "somadistance" && key != "type" && key != "name" &&
          key != "seclist_name" && key.rfind("arbor_branch_index", 0) != 0) {
        refuse(where + "." + key, "unknown key");
      }
    }
    const std::string type = text(rec, "type", where);
    if (type != "somadistance") {
      refuse(where + ".type", "\"" + type + "\": cellfit reads \"somadistance\" recordings");
    }
    if (rec.contains("var") && rec["var"] != "v") {
      refuse(where + ".var", "cellfit records the membrane potential \"v\" only");
    }
    const std::string name = text(rec, "name", where);
    const std::string list = text(rec, "seclist_name", where);
    check_list(list, where + ".seclist_name");
    if (!rec.contains("somadistance")) refuse(where, "missing \"somadistance\"");
    const double distance = number(rec["somadistance"], where + ".somadistance");
    if (name == "soma" || name.empty() || name.find_first_of(". /") != std::string::npos) {
      refuse(where + ".name", "\"" + name + "\": a word without '.', '/' or spaces, not soma");
    }
    const json def = {{"list", list}, {"distance", distance}};
    for (const auto& [n, d] : recordings) {
      if (n == name) {
        if (d != def) refuse(where + ".name", "recording " + name + " defined twice, differently");
        return;
      }
    }
    recordings.push_back({name, def});
    recording_names.push_back(name);
    recordings_toml << "\n[[simulation.recording]]\nname = " << quoted(name)
                    << "\nsite = { section_list = " << quoted(list)
                    << ", soma_distance_um = " << num(distance) << " }\n";
  }

  // features.json: every protocol and location must be defined here; the features and
  // their settings are checked by the reader cellfit fit uses.
  void check_features() {
    const json j = read_json(feature_file);
    if (!j.is_object()) refuse(feature_file, "expected {\"<protocol>\": {\"<location>\": ...}}");
    for (const auto& [pname, locations] : j.items()) {
      const std::string where = feature_file + ": " + pname;
      if (std::none_of(protocol_stimuli.begin(), protocol_stimuli.end(),
                       [&, pn = pname](const stimulus& s) { return s.name == pn; })) {
        refuse(where, "no protocol of that name in " + proto_file);
      }
      if (!locations.is_object()) refuse(where, "expected an object of locations");
      for (const auto& [loc, feats] : locations.items()) {
        const std::string rec = loc.size() > 2 && loc.compare(loc.size() - 2, 2, ".v") == 0
                                    ? loc.substr(0, loc.size() - 2)
                                    : loc;
        if (std::find(recording_names.begin(), recording_names.end(), rec) ==
            recording_names.end()) {
          std::string known;
          for (const auto& n : recording_names) known += (known.empty() ? "" : ", ") + n;
          refuse(where + "." + loc,
                 "names a recording not defined in " + proto_file + " (recordings: " + known + ")");
        }
      }
    }
    simulation_settings sim;
    sim.record_names = recording_names;
    sim.record_compartments.assign(recording_names.size(), 0);
    read_bluepyopt_targets(feature_file, "", protocol_stimuli, 0, sim);
  }

  std::string region_table(const quantity& q, bool cm_names) const {
    // A single value on every section is a plain number.
    if (q.values.size() == 1 && breadth(q.values[0].list) == 0 &&
        q.values[0].distribution.empty()) {
      return num(q.values[0].value);
    }
    std::string out = "{ ";
    bool first = true;
    for (const auto& v : q.values) {
      std::string key = v.list;
      if (cm_names) {
        // [model] cm names regions, not BluePyOpt's section lists.
        key = breadth(v.list) == 0  ? "default"
              : v.list == "alldend" ? "dend"
              : v.list == "somatic" ? "soma"
              : v.list == "axonal"  ? "axon"
                                    : v.list;
      } else if (v.list == "allsect") {
        key = "all";
      }
      out += (first ? "" : ", ") + key + " = ";
      out += v.distribution.empty() ? num(v.value)
                                    : "{ value = " + num(v.value) +
                                          ", distribution = " + quoted(v.distribution) + " }";
      first = false;
    }
    return out + " }";
  }

  std::string toml(const bluepyopt_import_options& o) const {
    std::ostringstream t;
    t << "# BluePyOpt's config layout in " << dir << " as a cellfit config\n"
      << "# (cellfit import-bluepyopt). Fitted parameters start at the middle of their bounds.\n"
      << "[model]\nmorphology = " << quoted(fs::absolute(o.morphology).lexically_normal().string())
      << "\nreplace_axon = " << (o.replace_axon ? "true" : "false")
      << "\nnseg_rule = \"bluepyopt\"\n";
    for (const auto& q : quantities) {
      if (q.key == "cm") t << "cm = " << region_table(q, true) << "\n";
      if (q.key == "Ra") t << "ra = " << region_table(q, true) << "\n";
    }
    if (!std::isnan(celsius)) t << "celsius = " << num(celsius) << "\n";
    if (!std::isnan(v_init)) t << "v_init = " << num(v_init) << "\n";
    if (!distributions.empty()) {
      t << "\n[model.distributions]\n";
      for (const auto& [name, expr] : distributions) t << name << " = " << quoted(expr) << "\n";
    }
    const std::pair<const char*, const char*> ions[] = {{"ena", "na"}, {"ek", "k"}, {"eca", "ca"}};
    for (const auto& [key, ion] : ions) {
      for (const auto& q : quantities) {
        if (q.key == key)
          t << "\n[model.ions." << ion << "]\ne = " << region_table(q, false) << "\n";
      }
    }
    for (const auto& [mech, lists] : mechanisms) {
      t << "\n[model.mechanisms." << mech << "]\nregions = ";
      if (lists.size() == 1) {
        t << quoted(lists[0]) << "\n";
      } else {
        t << "[";
        for (std::size_t k = 0; k < lists.size(); ++k) t << (k ? ", " : "") << quoted(lists[k]);
        t << "]\n";
      }
      for (const auto& q : quantities) {
        if (q.key.rfind(mech + ".", 0) == 0) {
          t << q.key.substr(mech.size() + 1) << " = " << region_table(q, false) << "\n";
        }
      }
      for (const auto& [g, value] : mech_globals) {
        if (g.rfind(mech + ".", 0) == 0)
          t << g.substr(mech.size() + 1) << " = " << num(value) << "\n";
      }
    }
    t << "\n[simulation]\ndt_ms = " << num(o.dt_ms) << "\nt_stop_ms = " << num(t_stop_ms) << "\n"
      << "\n[[simulation.recording]]\nname = \"soma\"\nsite = \"soma\"\n"
      << recordings_toml.str() << protocols_toml.str();

    std::ostringstream fit;
    for (const auto& q : quantities) {
      for (const auto& v : q.values) {
        if (!v.fitted) continue;
        fit << "\n[[fit.parameter]]\nname = "
            << quoted(q.key + (breadth(v.list) == 0 ? "" : "@" + v.list)) << "\nbounds = ["
            << num(v.lower) << ", " << num(v.upper) << "]\n";
        if (!v.distribution.empty()) fit << "distribution = " << quoted(v.distribution) << "\n";
      }
    }
    if (!fit.str().empty()) {
      t << "\n[fit]\nengine = \"ga\"\n" << fit.str();
      if (!feature_file.empty()) {
        t << "\n[fit.target]\ntype = \"features\"\nfeatures_file = "
          << quoted(fs::absolute(feature_file).lexically_normal().string()) << "\n"
          << "\n[fit.ga]\ngrouping = \"per_stimulus_feature\"\n";
      }
    }
    return t.str();
  }
};

}  // namespace

std::string bluepyopt_config_to_toml(const bluepyopt_import_options& o) {
  if (!(o.dt_ms > 0)) throw config_error("cellfit::import: dt_ms must be > 0");
  std::error_code ec;
  if (!fs::is_directory(o.config_dir, ec)) {
    throw io_error("cellfit::import: " + o.config_dir + ": no such directory");
  }
  if (!fs::is_regular_file(o.morphology, ec)) {
    throw io_error("cellfit::import: " + o.morphology + ": no such morphology file");
  }
  converter c;
  c.dir = o.config_dir;
  const fs::path d(o.config_dir);
  c.mech_file = (d / "mechanisms.json").string();
  c.param_file = (d / "parameters.json").string();
  c.proto_file = (d / "protocols.json").string();
  if (fs::exists(d / "features.json", ec)) c.feature_file = (d / "features.json").string();
  c.read_mechanisms();
  c.read_parameters();
  c.read_protocols();
  if (!c.feature_file.empty()) c.check_features();
  return c.toml(o);
}

}  // namespace cellfit
