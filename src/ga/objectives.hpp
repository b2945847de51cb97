#pragma once
// The GA's objectives, computed from a batch of simulated traces (individual x stimulus,
// stimulus fastest, as simulate_batch lays them out):
//  * features: per feature target (stimulus, eFEL feature, mean, std) the score
//    |mean(f) - mean| / std (BluePyOpt's convention), capped at `penalty`; a feature that
//    cannot be computed, or a cell that diverged, scores `penalty` (250, BluePyOpt's value).
//    Scores are grouped into objectives per feature name (mean over the stimuli that have a
//    target for it), per (stimulus, feature) pair, or summed into one.
//  * mse: per stimulus, the mean squared difference to the target traces over the recorded
//    sites and samples, capped at `penalty`; a diverged cell scores `penalty`.
//  * spike_time, gamma_factor, van_rossum: per stimulus, a distance between the spike trains
//    (upward crossings of efel.threshold_mv, interpolated; features/spike_trains.hpp) of the
//    trace and the target, the mean over the recorded sites, capped at `penalty`; a diverged
//    cell scores `penalty`. gamma_factor scores paper 003's loss (eq. 3), 1 + 2|dr|/r - Gamma.
// Scoring runs on a pool of host threads (features::compute_batch) and is deterministic.

#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "features/feature_library.hpp"
#include "ga/selection.hpp"
#include "sim/batch_simulator.hpp"

namespace cellfit::ga {

struct feature_target {
  static constexpr std::size_t scoring_site = static_cast<std::size_t>(-1);
  std::size_t stimulus = 0;
  std::string feature;
  double mean = 0, std = 1;
  std::size_t site = scoring_site;  // recorded site; scoring_site: settings.feature_site
  // This target's own eFEL settings, applied over scoring_settings::efel (BluePyOpt's
  // per-feature entries such as a -55 mV threshold at a dendritic site).
  std::vector<features::named_setting> efel{};
  // This target's own stimulus window and current; NaN: its stimulus's (feature_window).
  double stim_start_ms = std::numeric_limits<double>::quiet_NaN();
  double stim_end_ms = std::numeric_limits<double>::quiet_NaN();
  double stimulus_current_na = std::numeric_limits<double>::quiet_NaN();
};

enum class objective_kind { features, mse, spike_time, gamma_factor, van_rossum };

// The config's name of each kind ("features", "mse", "spike_time", ...).
const char* objective_kind_name(objective_kind k);
objective_kind objective_kind_from(const std::string& name);  // internal_error if unknown
enum class objective_grouping { per_feature, per_stimulus_feature, sum };

// The stimulus window and current of each stimulus, as eFEL needs them.
struct feature_window {
  double start_ms = 0, end_ms = 0, current_na = 0;
  double t_stop_ms = 0;  // the protocol's duration: its trace ends there; 0: the run's
};

struct scoring_settings {
  objective_kind kind = objective_kind::features;
  objective_grouping grouping = objective_grouping::per_feature;
  double penalty = 250;
  double gamma_window_ms = 2;     // gamma_factor: the coincidence window
  double van_rossum_tau_ms = 10;  // van_rossum: the kernel's time constant
  std::size_t feature_site = 0;   // index into the recorded sites
  unsigned threads = 0;           // 0: all hardware threads
  features::settings efel;
  // Names of the stimuli (protocols) and recorded sites, for objective names such as
  // "Step1.soma.AP_height" (per_stimulus_feature; BluePyOpt's naming); empty: by index.
  std::vector<std::string> stimulus_names, site_names;
};

class scorer {
 public:
  // Feature objectives. `windows` has one entry per stimulus; every target's feature must be
  // known, its std > 0, its own eFEL settings valid over s.efel and its own window, if any,
  // not empty (config_error otherwise).
  scorer(const scoring_settings& s, std::vector<feature_target> targets,
         std::vector<feature_window> windows, const simulation_settings& sim);
  // Trace-MSE or spike-train objectives against target traces [stimulus][site][sample].
  // config_error for spike trains: a gamma window or van Rossum tau <= 0, a spike_time
  // target without any spike, or a gamma_factor target (stimulus, site) that it cannot score
  // (no spike, or 1 - 2 window rate <= 0).
  scorer(const scoring_settings& s, std::vector<double> target_traces, std::size_t n_stimuli,
         const simulation_settings& sim);

  const std::vector<std::string>& objective_names() const { return names_; }
  std::size_t n_objectives() const { return names_.size(); }
  const std::vector<feature_target>& targets() const { return targets_; }

  // Objectives of the first n_individuals x n_stimuli cells of `r`. Blocks.
  objective_matrix score(const simulation_result& r, std::size_t n_individuals) const;
  // The same on `threads` host threads (0: all) instead of the settings' number.
  objective_matrix score(const simulation_result& r, std::size_t n_individuals,
                         unsigned threads) const;
  unsigned threads() const { return s_.threads; }

 private:
  void group_targets();
  scoring_settings s_;
  std::vector<feature_target> targets_;
  std::vector<feature_window> windows_;
  std::vector<double> target_traces_;
  std::vector<std::vector<double>> target_spikes_;  // [stimulus * sites + site]
  std::vector<std::size_t> target_samples_;         // [stimulus] samples before NaN
  double sample_ms_ = 0;
  double spike_score(const double* v, std::size_t stimulus, std::size_t n_sites,
                     std::size_t n_samples) const;
  std::size_t n_stimuli_ = 0;
  std::vector<double> time_ms_;
  std::vector<std::string> names_;
  std::vector<std::size_t> objective_of_;  // per target
  std::vector<double> divisor_;            // per objective (per_feature: its targets)
  // The targets by (stimulus, site, own settings and window), each trace's features
  // computed in one batch.
  struct trace_group {
    std::size_t stimulus = 0, site = 0;
    std::size_t like = 0;               // a target whose settings and window the group uses
    features::settings efel;            // s_.efel with that target's own settings
    feature_window window;              // the stimulus's, with that target's own overrides
    std::vector<std::string> features;  // distinct
    std::vector<std::size_t> targets;   // [feature k] -> target
  };
  std::vector<trace_group> groups_;
};

// The window of each stimulus (active_window, stimulus/stimulus.hpp: NaN where it has none)
// and its step amplitude (0 for other kinds).
std::vector<feature_window> stimulus_windows(const std::vector<stimulus>& stimuli,
                                             double t_stop_ms);

// Feature targets from traces [stimulus][site][sample] (e.g. a synthetic ground truth):
// mean = the feature's value, std = max(std_fraction |mean|, std_floor). Pairs whose feature
// cannot be computed on the target are left out and listed in `dropped` ("stim 3:
// AP_width: no spikes").
std::vector<feature_target> targets_from_traces(const std::vector<double>& traces,
                                                const std::vector<feature_window>& windows,
                                                const std::vector<std::string>& feature_names,
                                                const simulation_settings& sim,
                                                const scoring_settings& s, double std_fraction,
                                                double std_floor,
                                                std::vector<std::string>& dropped);

}  // namespace cellfit::ga
