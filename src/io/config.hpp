#pragma once
// The TOML configuration of a run (format: docs/config.md). Every key is checked: an unknown
// key, a value of the wrong type or an impossible value is a config_error that names the
// file, the line and the key. `--set section.key=value` overrides are applied to the parsed
// document before it is interpreted, so they are checked the same way.

#include <cstdint>
#include <string>
#include <vector>

#include "ga/genetic_fit.hpp"
#include "gradient/gradient_fit.hpp"
#include "hybrid/hybrid_fit.hpp"
#include "model/cell_model.hpp"
#include "model/parameter_space.hpp"
#include "sched/pipeline.hpp"
#include "sim/batch_simulator.hpp"
#include "stimulus/stimulus.hpp"

namespace cellfit {

// One recorded sweep that is the target of one stimulus ([[fit.target.recording]]).
struct recording_target {
  std::string stimulus;  // a stimulus name
  std::string file;      // any format read_recording reads (io/recording.hpp)
  std::string sweep;     // index or name of the sweep in the file ("": the first)
  std::string site;      // recorded site: index or recording name ("": 0)
  std::string where;     // "config:line: fit.target.recording[k]", for messages
};

// Where the traces to fit come from.
struct target_settings {
  std::string type = "synthetic";  // "synthetic", "file" or "features"
  // synthetic: ground truth = the model's values x U(low, high) per fitted scalar (seeded),
  // then simulated with the fit's stimuli and recordings.
  double low = 0.7, high = 1.3;
  std::uint64_t seed = 20230619;
  // file: traces [stimulus][site][sample] (cellfit simulate's /traces/voltage), or a
  // recording (io/recording.hpp) whose sweeps (all, or those `sweeps` names) are the
  // stimuli's targets in order at site 0; or one recording per stimulus and site.
  std::string file, dataset = "/traces/voltage", sweeps;
  std::vector<recording_target> recordings;
  // GA feature targets computed from synthetic or file traces: std = max(std_fraction |mean|,
  // std_floor).
  double std_fraction = 0.05, std_floor = 0.01;
  // features: feature means and stds in BluePyOpt's features.json layout; protocols_file
  // (BluePyOpt's protocols.json), when given, replaces the config's stimuli.
  std::string features_file, protocols_file;
};

// The GA's objectives and algorithm ([fit.ga]).
struct ga_fit_settings {
  ga::ga_settings algorithm;
  // "features", "mse", or a spike-train distance: "spike_time", "gamma_factor", "van_rossum"
  // (spikes are crossings of threshold_mv)
  std::string objective = "features";
  double gamma_window_ms = 2;     // gamma_factor's coincidence window (Jolivet et al. 2004)
  double van_rossum_tau_ms = 10;  // van_rossum's time constant
  ga::objective_grouping grouping = ga::objective_grouping::per_feature;
  std::vector<std::string> features;  // default: default_ga_features()
  int feature_site = 0;               // index into simulation.record_sites
  double penalty = 0;  // 0: 250 features, 1e4 mse/gamma_factor/van_rossum, 1e12 spike_time
  int threads = 0;     // scoring threads; 0: all
  double threshold_mv = -20.0, derivative_threshold = 10.0;
  // Override the stimulus window taken from each stimulus's step (negative: not given).
  double stim_start_ms = -1, stim_end_ms = -1;
  // Set when the config gives a multi-objective selection to a strategy that does not use
  // it (cmaes, de, pso); `cellfit fit` prints it as a warning.
  std::string selection_warning;
};

// The 20 features a GA fit scores by default (paper 004 scores 20 per stimulus).
const std::vector<std::string>& default_ga_features();

// Independent fits side by side ([fit.ensemble]): one member per value of one config key,
// members spread over groups of ranks (sub-communicators).
struct ensemble_settings {
  bool present = false;
  std::string vary;                 // a config key, as for --set
  std::vector<std::string> values;  // TOML text of each member's value
  int groups = 0;                   // 0: min(members, ranks)
};

// The [fit] section (docs/config.md).
struct fit_settings {
  bool present = false;
  std::string engine = "gradient";
  std::vector<fit_parameter> parameters;
  target_settings target;
  gradient_settings gradient;
  ga_fit_settings ga;
  hybrid_settings hybrid;  // [fit.hybrid]
  // A budget for any engine (0: none): single-cell simulations, and seconds of wall time
  // (copied into gradient.max_* and ga.algorithm.max_*).
  double max_simulations = 0, max_seconds = 0;
  std::string output = "fit.h5";
  // Checkpoints (docs/checkpoint.md): every N generations (GA) or evaluations (gradient),
  // and on SIGTERM/SIGUSR1; 0: only on a signal. File: default output + ".ckpt".
  int checkpoint_every = 10;
  std::string checkpoint;
  ensemble_settings ensemble;
};

struct run_config {
  std::string source;  // config file, or "builtin:default"
  cell_model model;
  std::vector<parameter_set> sets;  // at least one (the defaults)
  std::vector<stimulus> stimuli;    // at least one
  simulation_settings settings;
  std::string output = "sim.h5";
  fit_settings fit;
  sched::parallel_settings parallel;  // [parallel]
  bool has_batch = false;             // a [batch] section was given
  // The document after --set overrides, one "key = value" line per leaf value, sorted
  // (array elements as key.0, key.1, ...): what a checkpoint compares to refuse a resume
  // with another problem.
  std::vector<std::string> canonical;
  // The TOML text as read (before overrides) and the --set overrides applied to it: with
  // `source` (against which relative paths resolve) they rebuild this config exactly, so a
  // fit's output records them for later analysis (`cellfit identifiability`).
  std::string text;
  std::vector<std::string> overrides;
};

// Reads `path` (or the built-in default problem when path is empty) and applies
// `overrides` ("a.b.c=value"; value in TOML syntax, bare words taken as strings).
run_config load_config(const std::string& path, const std::vector<std::string>& overrides);

// The same from TOML text in memory (`name` is used in messages).
run_config parse_config(const std::string& text, const std::string& name,
                        const std::vector<std::string>& overrides);

// The built-in default problem as TOML text (ball-and-stick hh cell, 4 parameter sets x 6
// step amplitudes); `cellfit simulate` with no CONFIG runs it.
const char* default_config_text();

}  // namespace cellfit
