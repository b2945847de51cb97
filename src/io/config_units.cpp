// Values that parse and run but are almost certainly in the wrong unit (docs/config.md,
// "Units"): a warning names the key, the value and the likely mistake; never an error, since
// an unusual model may mean them.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "io/config_units.hpp"
#include "model/cell_model.hpp"
#include "stimulus/stimulus.hpp"

namespace cellfit {

namespace {

std::string number(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return buf;
}

bool is_conductance_density(const std::string& unit) {
  return unit == "S/cm2" || unit == "mho/cm2" || unit == "S/cm^2";
}

// Above any channel density of published models (BluePyOpt's L5PC axon: ~3 S/cm2), and
// where values in mS/cm2 (hh's 120, 36) land.
constexpr double max_plausible_s_per_cm2 = 10.0;
constexpr double max_plausible_amplitude_na = 20.0;
// Far above a unitary synaptic conductance (0.1-10 nS) and a lumped input of many; where
// weights written in nS land.
constexpr double max_plausible_synapse_us = 1.0;
constexpr double max_plausible_dt_ms = 1.0;
constexpr double max_plausible_celsius = 60.0;

}  // namespace

std::vector<std::string> implausible_values(const run_config& rc) {
  std::vector<std::string> out;
  const auto& s = rc.settings;
  if (s.dt_ms > max_plausible_dt_ms) {
    out.push_back("simulation.dt_ms = " + number(s.dt_ms) + ": the step is in ms, and " +
                  number(s.dt_ms) + " ms is far coarser than the 0.01-0.1 ms neurons need (" +
                  number(s.dt_ms) + " us would be dt_ms = " + number(s.dt_ms / 1000) + ")");
  }
  if (rc.model.celsius > max_plausible_celsius) {
    out.push_back("model.celsius = " + number(rc.model.celsius) +
                  ": degrees Celsius, not kelvin (" + number(rc.model.celsius) + " K is " +
                  number(rc.model.celsius - 273.15) + " degC)");
  }
  // nA and S/cm2 hold in cable models; point models use their own units.
  if (rc.model.geom.point_model) return out;

  double worst_na = 0, worst_us = 0;
  for (const auto& st : rc.stimuli) {
    for (const auto& c : st.components) {
      if (c.kind == stimulus_kind::seclamp) continue;
      if (is_conductance_synapse(c.kind)) {
        worst_us = std::max(worst_us, std::fabs(c.weight));
        continue;
      }
      if (c.kind == stimulus_kind::current_exp_syn) {
        worst_na = std::max(worst_na, std::fabs(c.weight));
        continue;
      }
      worst_na = std::max({worst_na, std::fabs(c.amplitude), std::fabs(c.amplitude_end)});
      for (const auto& row : c.levels)
        for (double x : row) worst_na = std::max(worst_na, std::fabs(x));
      if (c.waveform) {
        for (double x : c.waveform->i) worst_na = std::max(worst_na, std::fabs(x * c.scale));
      }
    }
  }
  if (worst_na > max_plausible_amplitude_na) {
    out.push_back("a stimulus injects " + number(worst_na) +
                  " nA: currents are in nA (as NEURON's IClamp amp); " + number(worst_na) +
                  " pA would be " + number(worst_na / 1000) + " nA");
  }
  if (worst_us > max_plausible_synapse_us) {
    out.push_back("a synapse's weight is " + number(worst_us) +
                  " uS: conductance weights are in uS (as NEURON's NetCon weight onto an "
                  "ExpSyn); " +
                  number(worst_us) + " nS would be " + number(worst_us / 1000) + " uS");
  }

  // The largest conductance density of each parameter, over the model's values, the
  // parameter sets and the fit's initial values.
  std::vector<std::pair<std::string, double>> worst;
  const auto note = [&](const std::string& label, double x) {
    if (!(std::fabs(x) > max_plausible_s_per_cm2)) return;
    for (auto& w : worst) {
      if (w.first == label) {
        w.second = std::max(w.second, std::fabs(x));
        return;
      }
    }
    worst.emplace_back(label, std::fabs(x));
  };
  const auto density = [](const std::string& mech, const std::string& param) {
    const mechanism_info* info = find_mechanism(mech);
    if (!info) return false;
    const int k = info->param_index(param);
    return k >= 0 && is_conductance_density(info->param_units[static_cast<std::size_t>(k)]);
  };
  for (const auto& m : rc.model.mechanisms) {
    const mechanism_info* info = find_mechanism(m.name);
    if (!info) continue;
    for (std::size_t k = 0; k < m.params.size() && k < info->param_names.size(); ++k) {
      if (!is_conductance_density(info->param_units[k])) continue;
      for (double x : m.params[k]) note(m.name + "." + info->param_names[k], x);
    }
  }
  for (const auto& set : rc.sets) {
    for (const auto& o : set) {
      if (!density(o.mechanism, o.param)) continue;
      for (double x : o.values) note(o.mechanism + "." + o.param, x);
    }
  }
  for (const auto& p : rc.fit.parameters) {
    if (!density(p.mechanism, p.param)) continue;
    for (double x : p.initial) note(p.mechanism + "." + p.param, x);
  }
  for (const auto& [label, x] : worst) {
    out.push_back(label + " = " + number(x) + ": conductance densities are in S/cm2; " + number(x) +
                  " mS/cm2 would be " + number(x / 1000) + " S/cm2");
  }
  return out;
}

void warn_implausible_values(const run_config& rc, const char* command) {
  for (const auto& w : implausible_values(rc))
    std::fprintf(stderr, "cellfit %s: warning: %s\n", command, w.c_str());
}

}  // namespace cellfit
