#pragma once
// Injected-current protocols. A stimulus is what one simulated cell receives: one or more
// components, each injecting a current (nA in cable models, model units in point models)
// at a set of compartments, or clamping the voltage at one (NEURON's SEClamp). Components
// are pure functions of (site, t), seeded where random, so the same stimulus is reproduced
// exactly on any rank.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cellfit {

struct waveform_samples {
  std::string source;
  std::vector<double> t_ms;  // strictly increasing
  std::vector<double> i;     // current at t_ms
};

enum class stimulus_kind { step, ramp, noise, random_steps, waveform, holding, seclamp };

const char* stimulus_kind_name(stimulus_kind k);

struct stimulus_component {
  stimulus_kind kind = stimulus_kind::step;
  std::vector<int> sites;    // compartment indices
  double amplitude = 0;      // step, holding: level; ramp: start level; noise: mean
  double amplitude_end = 0;  // ramp: level at delay + duration
  double stdev = 0;          // noise
  double delay_ms = 0;
  double duration_ms = 0;
  double sample_ms = 0;                     // noise: how long each random level is held
  std::uint64_t seed = 0;                   // noise, random_steps
  std::vector<std::vector<double>> levels;  // random_steps: [site][interval]
  std::shared_ptr<const waveform_samples> waveform;
  double scale = 1.0;  // waveform
  // seclamp (NEURON's SEClamp, one site): series resistance and three levels, each held for
  // its duration from t = 0 on; off (no current) after the last.
  double rs_mohm = 1.0;
  std::array<double, 3> clamp_mv = {0, 0, 0};
  std::array<double, 3> clamp_dur_ms = {0, 0, 0};

  // Current at compartment sites[site_index] at time t_ms (0 for a clamp: its current
  // depends on V, see clamp_level).
  double value(std::size_t site_index, double t_ms) const;
  // A clamp's command voltage at t_ms, as SEClamp's vstim() picks it: amp1 while t < dur1,
  // amp2 while t < dur1 + dur2, amp3 while t < dur1 + dur2 + dur3. False once it is off.
  bool clamp_level(double t_ms, double& vc_mv) const;
};

struct stimulus {
  std::string name;
  std::vector<stimulus_component> components;
  // The protocol's own duration (BluePyOpt's totduration); 0: the run's t_stop_ms. A cell
  // is simulated for its protocol's duration; its trace is NaN after it.
  double t_stop_ms = 0;
};

// The duration of stimulus x in a run of t_stop_ms.
inline double stimulus_duration_ms(const stimulus& x, double run_t_stop_ms) {
  return x.t_stop_ms > 0 ? x.t_stop_ms : run_t_stop_ms;
}

// Where a stimulus is on (eFEL's stim_start/stim_end, the default window of `cellfit
// features` and of the GA's features): its first step (else its first component that is not
// a holding current) from delay to delay + duration, clipped to the run; a waveform from its
// first to its last non-zero sample; a voltage clamp alone: its second level. NaN where
// there is none (a holding current alone).
// amplitude: the step's (NaN for other kinds).
struct stimulus_window {
  double start_ms, end_ms, amplitude;
};
stimulus_window active_window(const stimulus& x, double t_stop_ms);

// Paper 000's random_steps levels for one site: `n_intervals` equal intervals; round(hazard *
// n_intervals) change points drawn without replacement; between them constant integer
// levels uniform in [i_min, i_max); the first and the last interval are zero.
std::vector<double> random_step_levels(std::uint64_t seed, std::uint64_t stimulus_index,
                                       std::uint64_t site, int n_intervals, double hazard,
                                       int i_min, int i_max);

// Reads a two-column (t_ms, current) CSV file, or a dataset of an HDF5 file with an
// attribute dt_ms (or a [2][n] dataset of times and currents). Throws io_error/config_error.
std::shared_ptr<const waveform_samples> read_waveform(const std::string& path,
                                                      const std::string& dataset);

// Every stimulus sampled at the midpoints t_n + dt/2 of n_steps steps (NEURON evaluates
// electrode currents there), on the union of their injection sites. The electrode current
// of step n at a site is current + g (vc - V), with g = 1/rs (uS) where a clamp is on and 0
// elsewhere; clamp conductances and levels are empty when no stimulus has a clamp.
struct sampled_stimuli {
  std::vector<int> sites;          // compartments
  std::vector<double> current;     // [stimulus][site][step], nA (model units in point models)
  std::vector<double> clamp_g_us;  // [stimulus][site][step], or empty
  std::vector<double> clamp_mv;    // [stimulus][site][step], or empty
  std::size_t n_stimuli = 0, n_steps = 0;
  std::size_t index(std::size_t s, std::size_t site, std::size_t step) const {
    return (s * sites.size() + site) * n_steps + step;
  }
  double at(std::size_t s, std::size_t site, std::size_t step) const {
    return current[index(s, site, step)];
  }
  bool has_clamp() const { return !clamp_g_us.empty(); }
};

sampled_stimuli sample_stimuli(const std::vector<stimulus>& stimuli, std::size_t n_steps,
                               double dt_ms);

}  // namespace cellfit
