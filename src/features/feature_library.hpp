#pragma once
// Electrophysiological features of voltage traces with eFEL's definitions, defaults and
// edge-case behaviour (eFEL 5.7, BlueBrain/eFEL): the trace is resampled at
// settings::interp_step_ms exactly as eFEL resamples it, spikes are the maxima between an
// upward and the next downward crossing of the threshold, AP onsets come from the
// derivative threshold, and so on (docs/features.md lists every feature, its definition
// and where it may fail).
//
// A feature that cannot be computed for a trace (no spikes, too few spikes, NaN samples, a
// window outside the trace, a failed feature it depends on) is a value with ok == false and
// a reason; nothing here throws for bad trace content. A value that eFEL would return as
// NaN or infinity is also reported as not ok (the values are kept for inspection).
//
// Thread-safety: every function may be called concurrently; there is no global or static
// mutable state.

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace cellfit::features {

enum class voltage_base_mode { mean, median };

// eFEL's settings (their eFEL names in the comments) with eFEL's defaults.
struct settings {
  double threshold_mv = -20.0;               // Threshold
  double derivative_threshold = 10.0;        // DerivativeThreshold, mV/ms (= V/s)
  double down_derivative_threshold = -12.0;  // DownDerivativeThreshold, mV/ms
  double interp_step_ms = 0.1;               // interp_step: traces are linearly resampled
  int derivative_window = 3;                 // DerivativeWindow, samples
  double spike_skipf = 0.1;                  // spike_skipf (adaptation_index), in [0, 1)
  int max_spike_skip = 2;                    // max_spike_skip (adaptation_index)
  double voltage_base_start_perc = 0.9;      // voltage_base_start_perc, of stim_start
  double voltage_base_end_perc = 1.0;        // voltage_base_end_perc, of stim_start
  voltage_base_mode base_mode = voltage_base_mode::mean;  // voltage_base_mode
  double precision_threshold = 1e-10;                     // precision_threshold, ms
  double sahp_start_ms = 5.0;                             // sahp_start (AHP_depth_abs_slow)
  bool ignore_first_isi = true;                           // ignore_first_ISI (ISI_CV, ISI_values)
  bool strict_stiminterval = false;        // strict_stiminterval: spikes only in the stimulus
  double decay_start_after_stim_ms = 1.0;  // decay_start_after_stim (a trace key in eFEL)
  double decay_end_after_stim_ms = 10.0;   // decay_end_after_stim (a trace key in eFEL)
};

// Throws cellfit::config_error naming the first setting outside its domain
// (interp_step_ms <= 0, derivative_window < 1, spike_skipf outside [0, 1), ...).
void check_settings(const settings& s);

// One eFEL setting by eFEL's name, as a per-feature entry of BluePyOpt's features.json or
// eFEL's set_setting gives it.
enum class setting_type { number, integer, boolean, text };
struct named_setting {
  std::string name;   // eFEL's name: "Threshold", "interp_step", "strict_stiminterval", ...
  double number = 0;  // number and integer settings; booleans as 0 or 1
  std::string text;   // text settings (voltage_base_mode)
  bool operator==(const named_setting& o) const {
    return name == o.name && number == o.number && text == o.text;
  }
};

// The eFEL settings that `settings` expresses (the fields above under their eFEL names,
// without the trace keys decay_*_after_stim), with their types.
const std::vector<std::pair<std::string, setting_type>>& efel_setting_names();
// Sets eFEL setting x.name on s. Throws config_error "cellfit::features: setting NAME =
// VALUE: why"
// for a name efel_setting_names() lacks, an integer or boolean that is not one, or a text
// value eFEL does not know; the domain of the result is check_settings's business.
void apply(settings& s, const named_setting& x);

// One voltage trace; the arrays are not owned and must outlive the call.
struct trace {
  const double* t_ms = nullptr;  // non-decreasing sample times (a time may repeat)
  const double* v_mv = nullptr;
  std::size_t n = 0;  // samples
  double stim_start_ms = 0, stim_end_ms = 0;
  double stimulus_current_na = 0;  // eFEL's "stimulus_current" (ohmic_input_resistance)
};

// One feature of one trace.
struct value {
  bool ok = false;
  std::vector<double> values;  // eFEL returns arrays; scalar features have one element
  std::string reason;          // when !ok: why
  // Mean of the values (BluePyOpt scores the mean); NaN if !ok.
  double mean() const;
};

// The names this library computes, in a fixed order.
const std::vector<std::string>& available();
bool is_known(const std::string& name);
// Throws cellfit::config_error naming an unknown feature (and listing the known ones).
void check_names(const std::vector<std::string>& names);

// Several features of one trace, in the order of `names`. Intermediates (resampled trace,
// peaks, AP onsets, AHP minima, ISIs) are computed once per call. Throws config_error only
// for an unknown name; bad trace content or settings give values with ok == false.
std::vector<value> compute(const trace& tr, const std::vector<std::string>& names,
                           const settings& s = {});

// Many traces on a pool of n_threads host threads (0: std::thread::hardware_concurrency());
// blocks until all are done. Result [trace][feature]; the same for any n_threads.
std::vector<std::vector<value>> compute_batch(const std::vector<trace>& traces,
                                              const std::vector<std::string>& names,
                                              const settings& s = {}, unsigned n_threads = 0);

}  // namespace cellfit::features
