#include "io/feature_targets.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>

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

void add_target(bluepyopt_targets& out, std::size_t stim, std::size_t site, const std::string& name,
                double mean, double sd, const std::string& where) {
  if (!features::is_known(name)) {
    out.notes.push_back(where + ": feature " + name + " is not in cellfit's library, left out");
    return;
  }
  if (!(sd > 0)) {
    throw config_error("cellfit::features: " + where + ": std of " + name + " must be > 0, got " +
                       std::to_string(sd));
  }
  out.targets.push_back({stim, name, mean, sd, site});
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
          add_target(out, stim, site, fname, number(ms[0], w + "." + fname),
                     number(ms[1], w + "." + fname), w);
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
          add_target(out, stim, site, fname, mean, sd, we);
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
