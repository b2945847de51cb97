#include "io/bluepyopt_export.hpp"

#include <fstream>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "io/h5.hpp"

namespace cellfit {

namespace {

using json = nlohmann::ordered_json;

void write_json(const std::string& path, const json& j) {
  h5::atomic_output out(path);
  {
    std::ofstream f(out.temp_path());
    f << j.dump(2) << "\n";
    f.close();
    if (!f) throw io_error("cellfit::features: cannot write " + path);
  }
  out.commit();
}

}  // namespace

void write_features_json(const std::string& path, const std::vector<protocol_targets>& p) {
  json root = json::object();
  for (const auto& pr : p) {
    json list = json::array();
    for (const auto& f : pr.features) {
      if (!f.ok) continue;
      json e = json::object();
      e["feature"] = f.feature;
      e["val"] = {f.mean, f.std};
      e["n"] = f.n;
      e["stim_start"] = pr.stim_start_ms;
      e["stim_end"] = pr.stim_end_ms;
      if (pr.stimulus_known) e["stimulus_current"] = pr.amplitude_na;
      list.push_back(e);
    }
    root[pr.name][pr.location] = list;
  }
  write_json(path, root);
}

void write_protocols_json(const std::string& path, const std::vector<protocol_targets>& p) {
  json root = json::object();
  for (const auto& pr : p) {
    if (!pr.stimulus_known) continue;
    json stimuli = json::array();
    stimuli.push_back({{"delay", pr.stim_start_ms},
                       {"amp", pr.amplitude_na},
                       {"duration", pr.stim_end_ms - pr.stim_start_ms},
                       {"totduration", pr.total_ms}});
    if (pr.holding_na != 0.0) {
      stimuli.push_back({{"delay", 0.0},
                         {"amp", pr.holding_na},
                         {"duration", pr.total_ms},
                         {"totduration", pr.total_ms}});
    }
    root[pr.name]["stimuli"] = stimuli;
  }
  if (root.empty()) {
    throw usage_error("cellfit::features: " + path +
                      ": no protocol has a recorded stimulus current to describe");
  }
  write_json(path, root);
}

}  // namespace cellfit
