#include "io/feature_targets.hpp"
#include "common/suggest.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <optional>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "features/feature_library.hpp"

namespace cellfit {

namespace {

using json = nlohmann::ordered_json;

json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw io_error("cellfit::features: cannot read " + path);
  try {
    return json::parse(in);
  } catch (const json::parse_error& e) {
    throw io_error("cellfit::features: " + path + " is not valid JSON: " + e.what());
  }
}

double number(const json& v, const std::string& where) {
  if (!v.is_number()) throw config_error("cellfit::features: " + where + ": expected a number");
  const double x = v.get<double>();
  if (!std::isfinite(x)) throw config_error("cellfit::features: " + where + ": not finite");
  return x;
}

std::string known_features() {
  std::string known;
  for (const auto& k : features::available()) known += (known.empty() ? "" : ", ") + k;
  return known;
}

ga::feature_target make_target(std::size_t stim, std::size_t site, const std::string& name,
                               double mean, double sd, const std::string& where) {
  if (!features::is_known(name)) {
    throw config_error("cellfit::features: " + where + ": feature '" + name +
                       "' is not in cellfit's library" + did_you_mean(name, features::available()) +
                       " (known: " + known_features() + ")");
  }
  if (!(sd > 0)) {
    throw config_error("cellfit::features: " + where + ": std of " + name + " must be > 0, got " +
                       std::to_string(sd));
  }
  ga::feature_target t;
  t.stimulus = stim;
  t.feature = name;
  t.mean = mean;
  t.std = sd;
  t.site = site;
  return t;
}

// An eFEL setting from a JSON value of the type eFEL gives it; nullopt when cellfit's
// settings do not express `name`.
std::optional<features::named_setting> efel_setting(const std::string& name, const json& v,
                                                    const std::function<void(std::string)>& bad) {
  const auto& names = features::efel_setting_names();
  const auto it =
      std::find_if(names.begin(), names.end(), [&](const auto& n) { return n.first == name; });
  if (it == names.end()) return std::nullopt;
  features::named_setting x;
  x.name = name;
  switch (it->second) {
    case features::setting_type::text:
      if (!v.is_string()) bad("expected a string");
      x.text = v.get<std::string>();
      break;
    case features::setting_type::boolean:
      if (v.is_boolean()) {
        x.number = v.get<bool>() ? 1 : 0;
      } else if (v.is_number()) {
        x.number = v.get<double>();
      } else {
        bad("expected true or false");
      }
      break;
    default:
      if (!v.is_number()) bad("expected a number");
      x.number = v.get<double>();
      break;
  }
  // The value's domain, named after the JSON key.
  try {
    features::settings probe;
    features::apply(probe, x);
    features::check_settings(probe);
  } catch (const config_error& e) {
    const std::string what = e.what();
    bad(v.dump() + ": " + what.substr(what.rfind(": ") + 2));
  }
  return x;
}

std::string cellfit_settings() {
  std::string known;
  for (const auto& n : features::efel_setting_names())
    known += (known.empty() ? "" : ", ") + n.first;
  return known;
}

// The per-feature entries of BluePyOpt's list layout beside "feature" and "val" (or "mean"
// and "std"): eFEL settings (by their eFEL names, in eFELFeature's groups, or as BluePyOpt's
// evaluators spell them), the target's own window and current, and bookkeeping. Whatever
// cellfit cannot honour is refused, never dropped: a fit scored otherwise than its file says
// would be compared unfairly with BluePyOpt's.
void read_feature_settings(const json& e, ga::feature_target& t, const std::string& where) {
  for (const auto& [key, v] : e.items()) {
    const auto bad = [&, k = key](const std::string& why) {
      throw config_error("cellfit::features: " + where + " " + t.feature + ": " + k + ": " + why);
    };
    if (key == "feature" || key == "val" || key == "mean" || key == "std") continue;
    // Bookkeeping of the extraction (number of traces, feature id) and comments.
    if (key == "n" || key == "fid" || key == "comment" || key == "__comment") continue;
    if (key == "weight") {
      if (!v.is_number() || v.get<double>() != 1.0) {
        bad("cellfit's objectives are unweighted; only 1 is accepted");
      }
      continue;
    }
    if (key == "max_score" || key == "force_max_score") {
      bad("not per feature in cellfit: every feature scores at most fit.ga.penalty");
    }
    if (key == "stim_start" || key == "stim_end" || key == "stimulus_current") {
      const double x = number(v, where + " " + t.feature + ": " + key);
      (key == "stim_start" ? t.stim_start_ms
       : key == "stim_end" ? t.stim_end_ms
                           : t.stimulus_current_na) = x;
      continue;
    }
    if (key == "double_settings" || key == "int_settings" || key == "string_settings" ||
        key == "efel_settings") {
      if (!v.is_object()) bad("expected an object of eFEL settings");
      for (const auto& [name, value] : v.items()) {
        const auto bad_setting = [&, group = key, n = name](const std::string& why) {
          throw config_error("cellfit::features: " + where + " " + t.feature + ": " + group + "." +
                             n + ": " + why);
        };
        const auto x = efel_setting(name, value, bad_setting);
        if (!x) {
          bad_setting("not an eFEL setting cellfit can honour (it has: " + cellfit_settings() +
                      ")");
        }
        t.efel.push_back(*x);
      }
      continue;
    }
    // BluePyOpt's spellings, then eFEL's own names given directly.
    const std::string name = key == "threshold"     ? std::string("Threshold")
                             : key == "strict_stim" ? std::string("strict_stiminterval")
                                                    : key;
    const auto x = efel_setting(name, v, bad);
    if (!x) {
      bad("not a per-feature setting cellfit can honour (it has: threshold, strict_stim, "
          "stim_start, stim_end, stimulus_current, weight 1, double_settings, int_settings, "
          "string_settings, efel_settings and the eFEL settings " +
          cellfit_settings() + ")");
    }
    t.efel.push_back(*x);
  }
}

}  // namespace

bluepyopt_targets read_bluepyopt_targets(const std::string& features_file,
                                         const std::string& protocols_file,
                                         const std::vector<stimulus>& config_stimuli,
                                         int soma_point, const simulation_settings& sim) {
  bluepyopt_targets out;
  std::vector<std::string> names;
  if (!protocols_file.empty()) {
    const json pj = read_json(protocols_file);
    if (!pj.is_object())
      throw config_error("cellfit::features: " + protocols_file +
                         ": expected an object of protocols");
    for (const auto& [pname, proto] : pj.items()) {
      const std::string where = protocols_file + ": " + pname;
      if (!proto.is_object() || !proto.contains("stimuli") || !proto["stimuli"].is_array() ||
          proto["stimuli"].empty()) {
        throw config_error("cellfit::features: " + where + ": expected {\"stimuli\": [...]}");
      }
      if (proto.contains("extra_recordings") && proto["extra_recordings"].is_array()) {
        for (const auto& x : proto["extra_recordings"]) {
          const std::string name = x.is_object() && x.contains("name") && x["name"].is_string()
                                       ? x["name"].get<std::string>()
                                       : "";
          if (name.empty() || sim.find_site(name) < 0) {
            out.notes.push_back(where + ": extra recording " + (name.empty() ? "?" : name) +
                                " is not among the config's recordings, left out");
          }
        }
      }
      stimulus st;
      st.name = pname;
      std::size_t k = 0;
      for (const auto& e : proto["stimuli"]) {
        const std::string w = where + ".stimuli[" + std::to_string(k) + "]";
        if (!e.is_object()) throw config_error("cellfit::features: " + w + ": expected an object");
        for (const char* key : {"delay", "amp", "duration", "totduration"}) {
          if (!e.contains(key)) {
            throw config_error("cellfit::features: " + w + ": missing \"" + key + "\"");
          }
        }
        stimulus_component c;
        c.sites = {soma_point};
        c.delay_ms = number(e["delay"], w + ".delay");
        c.duration_ms = number(e["duration"], w + ".duration");
        c.amplitude = number(e["amp"], w + ".amp");
        const double tot = number(e["totduration"], w + ".totduration");
        if (c.delay_ms < 0 || c.duration_ms < 0 || tot <= 0) {
          throw config_error("cellfit::features: " + w +
                             ": negative delay/duration or totduration <= 0");
        }
        out.t_stop_ms = std::max(out.t_stop_ms, tot);
        st.t_stop_ms = std::max(st.t_stop_ms, tot);
        c.kind = (k > 0 && c.delay_ms == 0 && c.duration_ms >= tot) ? stimulus_kind::holding
                                                                    : stimulus_kind::step;
        st.components.push_back(c);
        ++k;
      }
      out.stimuli.push_back(std::move(st));
      names.push_back(pname);
    }
    // Each protocol lasts its totduration; the run, the longest of them.
    for (auto& st : out.stimuli) {
      if (st.t_stop_ms == out.t_stop_ms) st.t_stop_ms = 0;
    }
  } else {
    for (const auto& s : config_stimuli) names.push_back(s.name);
  }

  const json fj = read_json(features_file);
  if (!fj.is_object())
    throw config_error("cellfit::features: " + features_file + ": expected an object of protocols");
  for (const auto& [pname, locations] : fj.items()) {
    const std::string where = features_file + ": " + pname;
    const auto it = std::find(names.begin(), names.end(), pname);
    if (it == names.end()) {
      std::string known;
      for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
      throw config_error("cellfit::features: " + where + ": no stimulus of that name (" +
                         (protocols_file.empty() ? "config stimuli: " : "protocols: ") + known +
                         ")");
    }
    const std::size_t stim = static_cast<std::size_t>(it - names.begin());
    if (!locations.is_object())
      throw config_error("cellfit::features: " + where + ": expected an object of locations");
    for (const auto& [loc, feats] : locations.items()) {
      const std::string w = where + "." + loc;
      // "dend1" or "dend1.v": the recording of that name; "soma" alone: the feature site.
      const std::string rec = loc.size() > 2 && loc.compare(loc.size() - 2, 2, ".v") == 0
                                  ? loc.substr(0, loc.size() - 2)
                                  : loc;
      std::size_t site = ga::feature_target::scoring_site;
      const int rec_index = sim.find_site(rec);
      if (rec_index >= 0) {
        site = static_cast<std::size_t>(rec_index);
      } else if (rec != "soma") {
        std::string known;
        for (const auto& n : sim.site_names()) known += (known.empty() ? "" : ", ") + n;
        out.notes.push_back(w + ": no recording named " + rec + " (recordings: " + known +
                            "), left out");
        continue;
      }
      if (feats.is_object()) {
        for (const auto& [fname, ms] : feats.items()) {
          if (!ms.is_array() || ms.size() != 2) {
            throw config_error("cellfit::features: " + w + "." + fname + ": expected [mean, std]");
          }
          out.targets.push_back(make_target(stim, site, fname, number(ms[0], w + "." + fname),
                                            number(ms[1], w + "." + fname), w));
        }
      } else if (feats.is_array()) {
        std::size_t k = 0;
        for (const auto& e : feats) {
          const std::string we = w + "[" + std::to_string(k++) + "]";
          if (!e.is_object() || !e.contains("feature") || !e["feature"].is_string()) {
            throw config_error("cellfit::features: " + we + ": expected {\"feature\": name, ...}");
          }
          const std::string fname = e["feature"].get<std::string>();
          double mean = 0, sd = 0;
          if (e.contains("val")) {
            if (!e["val"].is_array() || e["val"].size() != 2)
              throw config_error("cellfit::features: " + we + ".val: expected [mean, std]");
            mean = number(e["val"][0], we + ".val");
            sd = number(e["val"][1], we + ".val");
          } else if (e.contains("mean") && e.contains("std")) {
            mean = number(e["mean"], we + ".mean");
            sd = number(e["std"], we + ".std");
          } else {
            throw config_error("cellfit::features: " + we +
                               ": needs \"val\": [mean, std] or \"mean\" and \"std\"");
          }
          ga::feature_target t = make_target(stim, site, fname, mean, sd, we);
          read_feature_settings(e, t, we);
          out.targets.push_back(std::move(t));
        }
      } else {
        throw config_error("cellfit::features: " + w +
                           ": expected an object or an array of features");
      }
    }
  }
  if (out.targets.empty()) {
    throw config_error("cellfit::features: " + features_file +
                       ": no usable feature target at the recorded sites");
  }
  return out;
}

}  // namespace cellfit
