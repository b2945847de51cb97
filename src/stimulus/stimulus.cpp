#include "stimulus/stimulus.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "common/error.hpp"
#include "common/quote.hpp"
#include "common/rng.hpp"
#include "common/text_file.hpp"
#include "io/h5.hpp"

namespace cellfit {

const char* stimulus_kind_name(stimulus_kind k) {
  switch (k) {
    case stimulus_kind::step:
      return "step";
    case stimulus_kind::ramp:
      return "ramp";
    case stimulus_kind::noise:
      return "noise";
    case stimulus_kind::random_steps:
      return "random_steps";
    case stimulus_kind::waveform:
      return "waveform";
    case stimulus_kind::holding:
      return "holding";
    case stimulus_kind::seclamp:
      return "seclamp";
    case stimulus_kind::exp_syn:
      return "exp_syn";
    case stimulus_kind::exp2_syn:
      return "exp2_syn";
    case stimulus_kind::current_exp_syn:
      return "current_exp_syn";
  }
  return "?";
}

double stimulus_component::value(std::size_t site_index, double t) const {
  const double t0 = delay_ms, t1 = delay_ms + duration_ms;
  const bool on = t >= t0 && t < t1;
  switch (kind) {
    case stimulus_kind::step:
      return on ? amplitude : 0.0;
    case stimulus_kind::holding:
      return amplitude;
    case stimulus_kind::ramp:
      return on ? amplitude + (amplitude_end - amplitude) * (t - t0) / duration_ms : 0.0;
    case stimulus_kind::noise: {
      if (!on) return 0.0;
      const auto k = static_cast<std::uint64_t>(std::floor((t - t0) / sample_ms));
      return amplitude +
             stdev * normal01(counter_hash(seed, static_cast<std::uint64_t>(site_index), k));
    }
    case stimulus_kind::random_steps: {
      if (!on) return 0.0;
      const auto& lv = levels[site_index];
      auto k = static_cast<std::size_t>(std::floor((t - t0) / duration_ms * lv.size()));
      return lv[std::min(k, lv.size() - 1)];
    }
    case stimulus_kind::waveform: {
      const auto& w = *waveform;
      if (w.t_ms.empty() || t < w.t_ms.front() || t > w.t_ms.back()) return 0.0;
      const auto it = std::upper_bound(w.t_ms.begin(), w.t_ms.end(), t);
      if (it == w.t_ms.end()) return scale * w.i.back();
      const std::size_t k = static_cast<std::size_t>(it - w.t_ms.begin());
      const double f = (t - w.t_ms[k - 1]) / (w.t_ms[k] - w.t_ms[k - 1]);
      return scale * (w.i[k - 1] + f * (w.i[k] - w.i[k - 1]));
    }
    case stimulus_kind::seclamp:
    case stimulus_kind::exp_syn:
    case stimulus_kind::exp2_syn:
    case stimulus_kind::current_exp_syn:
      return 0.0;  // not a function of t alone: see clamp_level and synapse_per_step
  }
  return 0.0;
}

bool stimulus_component::clamp_level(double t, double& vc_mv) const {
  // SEClamp's thresholds tc2 = dur1 + dur2 and tc3 = tc2 + dur3, summed as it sums them.
  const double tc2 = clamp_dur_ms[0] + clamp_dur_ms[1];
  const double tc3 = tc2 + clamp_dur_ms[2];
  vc_mv = 0.0;
  if (t < clamp_dur_ms[0]) {
    vc_mv = clamp_mv[0];
  } else if (t < tc2) {
    vc_mv = clamp_mv[1];
  } else if (t < tc3) {
    vc_mv = clamp_mv[2];
  } else {
    return false;
  }
  return true;
}

std::vector<double> random_step_levels(std::uint64_t seed, std::uint64_t stimulus_index,
                                       std::uint64_t site, int n_intervals, double hazard,
                                       int i_min, int i_max) {
  const std::uint64_t key = counter_hash(seed, stimulus_index, site);
  const int n_change =
      std::min(n_intervals - 1, std::max(0, static_cast<int>(std::lround(hazard * n_intervals))));
  // Change points without replacement among the n_intervals steps (partial Fisher-Yates).
  std::vector<int> pool(static_cast<std::size_t>(n_intervals));
  for (int i = 0; i < n_intervals; ++i) pool[static_cast<std::size_t>(i)] = i;
  for (int c = 0; c < n_change; ++c) {
    const auto j = static_cast<std::size_t>(
        uniform_index(counter_hash(key, 1, static_cast<std::uint64_t>(c)),
                      static_cast<std::uint64_t>(c), static_cast<std::uint64_t>(n_intervals)));
    std::swap(pool[static_cast<std::size_t>(c)], pool[j]);
  }
  std::vector<int> changes(pool.begin(), pool.begin() + n_change);
  std::sort(changes.begin(), changes.end());
  std::vector<double> out(static_cast<std::size_t>(n_intervals));
  int segment = 0;
  double level = static_cast<double>(uniform_index(counter_hash(key, 2, 0), 0,
                                                   static_cast<std::uint64_t>(i_max - i_min))) +
                 i_min;
  for (int i = 0; i < n_intervals; ++i) {
    while (segment < n_change && changes[static_cast<std::size_t>(segment)] == i) {
      ++segment;
      level = static_cast<double>(
                  uniform_index(counter_hash(key, 2, static_cast<std::uint64_t>(segment)), 0,
                                static_cast<std::uint64_t>(i_max - i_min))) +
              i_min;
    }
    out[static_cast<std::size_t>(i)] = level;
  }
  out.front() = 0.0;
  out.back() = 0.0;
  return out;
}

std::vector<double> poisson_train(std::uint64_t seed, double rate_hz, double start_ms,
                                  double stop_ms) {
  std::vector<double> out;
  if (!(rate_hz > 0)) return out;
  const double mean_interval_ms = 1000.0 / rate_hz;
  // A bound on the draws far above the expected count, so that intervals below the
  // resolution of t (a rate far beyond the precondition) cannot loop forever.
  const double expected = (stop_ms - start_ms) / mean_interval_ms;
  const auto max_draws = static_cast<std::uint64_t>(std::min(10.0 * expected + 1000.0, 1e9));
  double t = start_ms;
  for (std::uint64_t k = 0; k < max_draws; ++k) {
    // 1 - u in (0, 1]: log is finite.
    t += -std::log(1.0 - uniform01(counter_hash(seed, 0x5079, k))) * mean_interval_ms;
    if (!(t < stop_ms)) break;
    out.push_back(t);
  }
  return out;
}

std::vector<double> neuron_clock(std::size_t n_steps, double dt_ms) {
  std::vector<double> clock(n_steps + 1);
  double t = 0.0;
  clock[0] = t;
  for (std::size_t n = 0; n < n_steps; ++n) {
    // fadvance: half a step before the currents, half after.
    t += 0.5 * dt_ms;
    t += 0.5 * dt_ms;
    clock[n + 1] = t;
  }
  return clock;
}

std::size_t delivery_step(const std::vector<double>& clock, double dt_ms, double t_ms) {
  // Events up to t + dt/2 are delivered at the end of the step that reached t (the clock
  // increases, so the first such t is found by bisection).
  const auto it = std::lower_bound(clock.begin(), clock.end(), t_ms,
                                   [&](double t, double e) { return t + 0.5 * dt_ms < e; });
  const auto n = static_cast<std::size_t>(it - clock.begin());
  return std::min(n, clock.size() - 1);
}

exp2_syn_constants exp2_syn_setup(double tau1_ms, double tau2_ms) {
  double tau1 = tau1_ms;
  const double tau2 = tau2_ms;
  if (tau1 / tau2 > 0.9999) tau1 = 0.9999 * tau2;
  if (tau1 / tau2 < 1e-9) tau1 = tau2 * 1e-9;
  // The time of the peak of exp(-t/tau2) - exp(-t/tau1), and its height.
  const double t_peak = (tau1 * tau2) / (tau2 - tau1) * std::log(tau2 / tau1);
  const double peak = -std::exp(-t_peak / tau1) + std::exp(-t_peak / tau2);
  return {tau1, 1.0 / peak};
}

std::vector<double> synapse_per_step(const stimulus_component& c, std::size_t n_steps,
                                     double dt_ms) {
  std::vector<double> out(n_steps, 0.0);
  const std::vector<double> clock = neuron_clock(n_steps, dt_ms);
  std::vector<std::size_t> at(c.events_ms.size());
  for (std::size_t k = 0; k < at.size(); ++k) at[k] = delivery_step(clock, dt_ms, c.events_ms[k]);
  // cnexp's update of x' = -x/tau over one step, x += (1 - exp(-dt/tau)) (0 - x), as NEURON
  // writes it; the state decays at the end of each step (nrn_state), before that step's
  // events are delivered.
  const auto decay_factor = [&](double tau) { return 1.0 - std::exp(dt_ms * (-1.0 / tau)); };
  std::size_t next = 0;
  if (c.kind == stimulus_kind::exp2_syn) {
    const exp2_syn_constants k = exp2_syn_setup(c.tau1_ms, c.tau2_ms);
    const double a1 = decay_factor(k.tau1_ms), a2 = decay_factor(c.tau2_ms);
    double rise = 0, decay = 0;  // Exp2Syn's A and B: g = B - A
    for (std::size_t n = 0; n < n_steps; ++n) {
      if (n > 0) {
        rise += a1 * (0.0 - rise);
        decay += a2 * (0.0 - decay);
      }
      for (; next < at.size() && at[next] == n; ++next) {
        rise += c.weight * k.factor;
        decay += c.weight * k.factor;
      }
      out[n] = decay - rise;
    }
    return out;
  }
  const double a = decay_factor(c.tau_ms);
  double x = 0;
  for (std::size_t n = 0; n < n_steps; ++n) {
    if (n > 0) x += a * (0.0 - x);
    for (; next < at.size() && at[next] == n; ++next) x += c.weight;
    out[n] = x;
  }
  return out;
}

std::shared_ptr<const waveform_samples> read_waveform(const std::string& path,
                                                      const std::string& dataset) {
  auto w = std::make_shared<waveform_samples>();
  w->source = path;
  const bool is_h5 =
      path.size() > 3 && (path.substr(path.size() - 3) == ".h5" ||
                          (path.size() > 5 && path.substr(path.size() - 5) == ".hdf5"));
  if (is_h5) {
    const std::string ds = dataset.empty() ? "/waveform" : dataset;
    h5::file f = h5::file::open_read(path);
    std::vector<std::size_t> dims;
    const std::vector<double> data = f.read_doubles(ds, dims);
    if (dims.size() == 2 && dims[0] == 2) {
      w->t_ms.assign(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(dims[1]));
      w->i.assign(data.begin() + static_cast<std::ptrdiff_t>(dims[1]), data.end());
    } else if (dims.size() == 1) {
      if (!f.has_attribute(ds, "dt_ms")) {
        throw config_error("cellfit::stimulus: " + path + ":" + ds +
                           ": a 1-D waveform needs an attribute dt_ms");
      }
      const double dt = f.read_attribute_double(ds, "dt_ms");
      w->i = data;
      for (std::size_t k = 0; k < data.size(); ++k) w->t_ms.push_back(k * dt);
    } else {
      throw config_error("cellfit::stimulus: " + path + ":" + ds +
                         ": expected a 1-D dataset (with dt_ms) or a [2][n] dataset");
    }
  } else {
    std::istringstream in(read_text_file(path, "stimulus"));  // a directory is an I/O error
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      for (char& c : line) {
        if (c == ',' || c == ';' || c == '\t') c = ' ';
      }
      std::istringstream fields(line);
      std::string a, b;
      if (!(fields >> a)) continue;
      if (a[0] == '#') continue;
      if (!(fields >> b)) {
        throw config_error("cellfit::stimulus: " + path + ":" + std::to_string(line_no) +
                           ": expected two columns (t_ms, current)");
      }
      char* ea = nullptr;
      char* eb = nullptr;
      const double t = std::strtod(a.c_str(), &ea);
      const double i = std::strtod(b.c_str(), &eb);
      if (*ea != '\0' || *eb != '\0') {
        if (w->t_ms.empty()) continue;  // a header line
        throw config_error("cellfit::stimulus: " + path + ":" + std::to_string(line_no) +
                           ": not a number: " + quote_value(line));
      }
      w->t_ms.push_back(t);
      w->i.push_back(i);
    }
  }
  if (w->t_ms.size() < 2) {
    throw config_error("cellfit::stimulus: waveform " + path + " has fewer than two samples");
  }
  for (std::size_t k = 0; k < w->t_ms.size(); ++k) {
    if (!std::isfinite(w->t_ms[k]) || !std::isfinite(w->i[k])) {
      throw config_error("cellfit::stimulus: waveform " + path + ": sample " + std::to_string(k) +
                         " is not finite");
    }
    if (k > 0 && !(w->t_ms[k] > w->t_ms[k - 1])) {
      throw config_error("cellfit::stimulus: waveform " + path + ": times must increase (sample " +
                         std::to_string(k) + ")");
    }
  }
  return w;
}

sampled_stimuli sample_stimuli(const std::vector<stimulus>& stimuli, std::size_t n_steps,
                               double dt_ms) {
  sampled_stimuli out;
  std::map<int, std::size_t> slot;
  for (const auto& s : stimuli) {
    for (const auto& c : s.components) {
      for (int site : c.sites) {
        if (!slot.count(site)) slot[site] = 0;
      }
    }
  }
  for (auto& [site, k] : slot) {
    k = out.sites.size();
    out.sites.push_back(site);
  }
  out.n_stimuli = stimuli.size();
  out.n_steps = n_steps;
  const std::size_t size = out.n_stimuli * out.sites.size() * n_steps;
  out.current.assign(size, 0.0);
  for (const auto& s : stimuli) {
    for (const auto& c : s.components) {
      if (c.kind == stimulus_kind::seclamp) {
        out.clamp_g_us.assign(size, 0.0);
        out.clamp_mv.assign(size, 0.0);
      }
      if (is_conductance_synapse(c.kind)) {
        out.synapse_g_us.assign(size, 0.0);
        out.synapse_e_mv.assign(size, 0.0);
      }
    }
  }
  for (std::size_t s = 0; s < stimuli.size(); ++s) {
    for (const auto& c : stimuli[s].components) {
      if (is_synapse(c.kind)) {
        // One state sequence, the same at every site of the component.
        const std::vector<double> x = synapse_per_step(c, n_steps, dt_ms);
        for (int site : c.sites) {
          const std::size_t first = out.index(s, slot[site], 0);
          for (std::size_t n = 0; n < n_steps; ++n) {
            if (c.kind == stimulus_kind::current_exp_syn) {
              out.current[first + n] += x[n];
              continue;
            }
            // Conductances add; the reversal is their weighted mean, as for clamps below.
            // (Exp2Syn's B - A may round to a hair below 0, so a sum may cancel to 0.)
            const double g_old = out.synapse_g_us[first + n], g = g_old + x[n];
            if (x[n] == 0) continue;
            double& e = out.synapse_e_mv[first + n];
            e = g_old == 0 ? c.e_mv : g == 0 ? 0.0 : (g_old * e + x[n] * c.e_mv) / g;
            out.synapse_g_us[first + n] = g;
          }
        }
        continue;
      }
      for (std::size_t k = 0; k < c.sites.size(); ++k) {
        const std::size_t first = out.index(s, slot[c.sites[k]], 0);
        for (std::size_t n = 0; n < n_steps; ++n) {
          const double t = (static_cast<double>(n) + 0.5) * dt_ms;
          if (c.kind != stimulus_kind::seclamp) {
            out.current[first + n] += c.value(k, t);
            continue;
          }
          // Two clamps at one site act as two electrodes (as two SEClamps in NEURON): their
          // conductances add, and the level is their conductance-weighted mean.
          double vc = 0;
          if (!c.clamp_level(t, vc)) continue;
          const double g = 1.0 / c.rs_mohm;
          const double g_old = out.clamp_g_us[first + n];
          out.clamp_mv[first + n] =
              g_old == 0 ? vc : (g_old * out.clamp_mv[first + n] + g * vc) / (g_old + g);
          out.clamp_g_us[first + n] = g_old + g;
        }
      }
    }
  }
  return out;
}

stimulus_window active_window(const stimulus& x, double t_stop_ms) {
  const double nan = std::nan("");
  const stimulus_component* pick = nullptr;
  for (const auto& c : x.components) {
    if (c.kind == stimulus_kind::step) pick = pick ? pick : &c;
  }
  for (const auto& c : x.components) {
    if (c.kind != stimulus_kind::holding && c.kind != stimulus_kind::seclamp &&
        !is_synapse(c.kind)) {
      pick = pick ? pick : &c;
    }
  }
  // A clamp alone: its second level (a clamp protocol's test pulse).
  for (const auto& c : x.components) {
    if (pick == nullptr && c.kind == stimulus_kind::seclamp) {
      const double t0 = c.clamp_dur_ms[0];
      return {std::min(t0, t_stop_ms), std::min(t0 + c.clamp_dur_ms[1], t_stop_ms), nan};
    }
  }
  // Synapses alone: from the first event in the run to its end (the response outlasts the
  // input).
  if (pick == nullptr) {
    double first = nan;
    for (const auto& c : x.components) {
      if (!is_synapse(c.kind) || c.events_ms.empty()) continue;
      if (c.events_ms.front() < t_stop_ms && !(c.events_ms.front() >= first)) {
        first = std::max(c.events_ms.front(), 0.0);
      }
    }
    if (!std::isnan(first)) return {first, t_stop_ms, nan};
  }
  if (pick == nullptr) return {nan, nan, nan};
  const double amp = pick->kind == stimulus_kind::step ? pick->amplitude : nan;
  if (pick->kind != stimulus_kind::waveform) {
    return {pick->delay_ms, std::min(pick->delay_ms + pick->duration_ms, t_stop_ms), amp};
  }
  double first = nan, last = nan;
  for (std::size_t k = 0; k < pick->waveform->t_ms.size(); ++k) {
    if (pick->waveform->i[k] * pick->scale == 0) continue;
    if (std::isnan(first)) first = pick->waveform->t_ms[k];
    last = pick->waveform->t_ms[k];
  }
  return {std::max(first, 0.0), std::min(last, t_stop_ms), amp};
}

}  // namespace cellfit
