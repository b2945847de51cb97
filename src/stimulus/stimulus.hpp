#pragma once
// Injected-current protocols. A stimulus is what one simulated cell receives: one or more
// components, each injecting a current (nA in cable models, model units in point models)
// at a set of compartments, clamping the voltage at one (NEURON's SEClamp), or a synapse
// driven by given input spike times (NEURON's ExpSyn and Exp2Syn, or a current that jumps
// at each input and decays). Components are pure functions of (site, t), seeded where
// random, so the same stimulus is reproduced exactly on any rank.

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

enum class stimulus_kind {
  step,
  ramp,
  noise,
  random_steps,
  waveform,
  holding,
  seclamp,
  exp_syn,
  exp2_syn,
  current_exp_syn
};

const char* stimulus_kind_name(stimulus_kind k);

// Synapses act through a state that jumps at input events; conductance synapses (exp_syn,
// exp2_syn) add g (e - V) at their site, the current synapse adds its state as a current.
inline bool is_synapse(stimulus_kind k) {
  return k == stimulus_kind::exp_syn || k == stimulus_kind::exp2_syn ||
         k == stimulus_kind::current_exp_syn;
}
inline bool is_conductance_synapse(stimulus_kind k) {
  return k == stimulus_kind::exp_syn || k == stimulus_kind::exp2_syn;
}

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
  // Synapses: each event adds `weight` (uS for exp_syn and exp2_syn, nA or model units for
  // current_exp_syn) to the state, which decays with tau_ms (exp2_syn: rise tau1_ms < decay
  // tau2_ms, NEURON's normalisation so that one event's peak conductance is the weight);
  // conductance synapses reverse at e_mv. events_ms: when the events arrive (input spike
  // time plus the connection delay), non-decreasing; the same at every site.
  double weight = 0;
  double tau_ms = 0;
  double tau1_ms = 0, tau2_ms = 0;
  double e_mv = 0;
  std::vector<double> events_ms;

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
// first to its last non-zero sample; a voltage clamp alone: its second level; synapses
// alone: from their first event in the run to its end. NaN where there is none (a holding
// current alone, synapses without an event in the run).
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

// A homogeneous Poisson train of rate_hz on [start_ms, stop_ms): exponential intervals from
// counter-based draws keyed by `seed` alone, so one seed gives one train on every rank and
// in every protocol. Sorted; empty when rate_hz is 0. Preconditions: rate_hz >= 0,
// start_ms <= stop_ms, finite, rate_hz (stop_ms - start_ms) / 1000 spikes expected within
// what memory holds.
std::vector<double> poisson_train(std::uint64_t seed, double rate_hz, double start_ms,
                                  double stop_ms);

// NEURON's fixed-step clock: t_n after n steps of dt_ms, accumulated as fadvance does (two
// half steps per step, rounding included), for n = 0..n_steps.
std::vector<double> neuron_clock(std::size_t n_steps, double dt_ms);

// The step from which an event arriving at t_ms acts, as NEURON's fixed step delivers it:
// at the end of the step that reaches the first t_n with t_ms <= t_n + dt/2 (events with
// t_ms <= dt/2 at finitialize, n = 0), so that step n's currents see it. clock: neuron_clock.
// clock.size() - 1 (no step of the run) for an event after the run.
std::size_t delivery_step(const std::vector<double>& clock, double dt_ms, double t_ms);

// Exp2Syn's INITIAL block: tau1 moved to 0.9999 tau2 when closer to tau2 than that and to
// 1e-9 tau2 when below it, then the factor that makes one event's peak conductance equal to
// its weight. Precondition: 0 < tau1_ms < tau2_ms.
struct exp2_syn_constants {
  double tau1_ms, factor;
};
exp2_syn_constants exp2_syn_setup(double tau1_ms, double tau2_ms);

// A synapse's state as NEURON uses it in each of n_steps steps: the value its BREAKPOINT
// sees in step n (after the events delivered before step n, see delivery_step, and the
// cnexp decays of the steps before). exp_syn, exp2_syn: conductance (uS); current_exp_syn:
// the current. Precondition: is_synapse(c.kind).
std::vector<double> synapse_per_step(const stimulus_component& c, std::size_t n_steps,
                                     double dt_ms);

// Reads a two-column (t_ms, current) CSV file, or a dataset of an HDF5 file with an
// attribute dt_ms (or a [2][n] dataset of times and currents). Throws io_error/config_error.
std::shared_ptr<const waveform_samples> read_waveform(const std::string& path,
                                                      const std::string& dataset);

// Every stimulus sampled at the midpoints t_n + dt/2 of n_steps steps (NEURON evaluates
// electrode currents there; a synapse's state is taken as its BREAKPOINT sees it, see
// synapse_per_step), on the union of their injection sites. The electrode current of step
// n at a site is current + g (vc - V) + g_syn (e_syn - V), with g = 1/rs (uS) where a clamp
// is on and 0 elsewhere; clamp conductances and levels are empty when no stimulus has a
// clamp, synaptic ones when none has a conductance synapse. Several clamps (synapses) at
// one site add their conductances; the level (reversal) is then their conductance-weighted
// mean, 0 where the conductance is 0.
struct sampled_stimuli {
  std::vector<int> sites;            // compartments
  std::vector<double> current;       // [stimulus][site][step], nA (model units in point models)
  std::vector<double> clamp_g_us;    // [stimulus][site][step], or empty
  std::vector<double> clamp_mv;      // [stimulus][site][step], or empty
  std::vector<double> synapse_g_us;  // [stimulus][site][step], or empty
  std::vector<double> synapse_e_mv;  // [stimulus][site][step], or empty
  std::size_t n_stimuli = 0, n_steps = 0;
  std::size_t index(std::size_t s, std::size_t site, std::size_t step) const {
    return (s * sites.size() + site) * n_steps + step;
  }
  double at(std::size_t s, std::size_t site, std::size_t step) const {
    return current[index(s, site, step)];
  }
  bool has_clamp() const { return !clamp_g_us.empty(); }
  bool has_synapse_conductance() const { return !synapse_g_us.empty(); }
};

sampled_stimuli sample_stimuli(const std::vector<stimulus>& stimuli, std::size_t n_steps,
                               double dt_ms);

}  // namespace cellfit
