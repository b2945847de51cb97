#pragma once
// Feature targets written in BluePyOpt's features.json / protocols.json layout (the layout
// read_bluepyopt_targets reads, io/feature_targets.hpp), from feature statistics over
// recorded sweeps: what BluePyEfe produces for BluePyOpt.

#include <string>
#include <vector>

#include "features/sweep_statistics.hpp"

namespace cellfit {

// One protocol's targets: its step stimulus and the statistics of its features.
struct protocol_targets {
  std::string name;
  std::string location = "soma";
  double stim_start_ms = 0, stim_end_ms = 0;  // the window the features were computed in
  double total_ms = 0;                        // the recording's duration (totduration)
  bool stimulus_known = false;                // amplitude and holding come from the recording
  double amplitude_na = 0, holding_na = 0;
  int sweeps = 0;
  std::vector<features::sweep_statistics> features;  // entries with ok == false are left out
};

// features.json: {"<protocol>": {"<location>": [{"feature", "val": [mean, std], "n",
// "stim_start", "stim_end"[, "stimulus_current"]}, ...]}}. Written atomically; throws
// io_error.
void write_features_json(const std::string& path, const std::vector<protocol_targets>& p);

// protocols.json: {"<protocol>": {"stimuli": [step, holding]}} for the protocols whose
// stimulus is known (the holding entry only when the holding current is not 0). Throws
// io_error; usage_error when no protocol has a known stimulus.
void write_protocols_json(const std::string& path, const std::vector<protocol_targets>& p);

}  // namespace cellfit
