#include "ga/objectives.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "common/error.hpp"
#include "features/spike_trains.hpp"
#include "sim/gradient.hpp"

namespace cellfit::ga {

const char* objective_kind_name(objective_kind k) {
  switch (k) {
    case objective_kind::features:
      return "features";
    case objective_kind::mse:
      return "mse";
    case objective_kind::spike_time:
      return "spike_time";
    case objective_kind::gamma_factor:
      return "gamma_factor";
    case objective_kind::van_rossum:
      return "van_rossum";
  }
  return "?";
}

objective_kind objective_kind_from(const std::string& name) {
  for (objective_kind k :
       {objective_kind::features, objective_kind::mse, objective_kind::spike_time,
        objective_kind::gamma_factor, objective_kind::van_rossum}) {
    if (name == objective_kind_name(k)) return k;
  }
  throw internal_error("cellfit::ga: unknown objective kind " + name);
}

namespace {

// A number as a message shows it (6 significant digits, no trailing zeros).
std::string shortest(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

std::vector<double> sample_times(const simulation_settings& sim) {
  std::vector<double> t(static_cast<std::size_t>(sim.n_samples()));
  for (std::size_t k = 0; k < t.size(); ++k) {
    t[k] = static_cast<double>(k) * sim.dt_ms * sim.record_every;
  }
  return t;
}

// NaN-aware equality of a target's optional overrides.
bool same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

bool same_overrides(const feature_target& a, const feature_target& b) {
  return a.efel == b.efel && same(a.stim_start_ms, b.stim_start_ms) &&
         same(a.stim_end_ms, b.stim_end_ms) && same(a.stimulus_current_na, b.stimulus_current_na);
}

// The samples of a trace within its protocol's duration.
std::size_t samples_within(const std::vector<double>& t_ms, const feature_window& w) {
  if (!(w.t_stop_ms > 0)) return t_ms.size();
  const auto end = std::upper_bound(t_ms.begin(), t_ms.end(), w.t_stop_ms + 1e-9);
  return static_cast<std::size_t>(end - t_ms.begin());
}

}  // namespace

std::vector<feature_window> stimulus_windows(const std::vector<stimulus>& stimuli,
                                             double t_stop_ms) {
  std::vector<feature_window> w(stimuli.size());
  for (std::size_t s = 0; s < stimuli.size(); ++s) {
    const stimulus_window a =
        active_window(stimuli[s], stimulus_duration_ms(stimuli[s], t_stop_ms));
    w[s] = {a.start_ms, a.end_ms, std::isnan(a.amplitude) ? 0.0 : a.amplitude,
            stimuli[s].t_stop_ms};
  }
  return w;
}

scorer::scorer(const scoring_settings& s, std::vector<feature_target> targets,
               std::vector<feature_window> windows, const simulation_settings& sim)
    : s_(s),
      targets_(std::move(targets)),
      windows_(std::move(windows)),
      n_stimuli_(windows_.size()),
      time_ms_(sample_times(sim)) {
  if (s_.kind != objective_kind::features) throw internal_error("cellfit::scorer: not features");
  if (s_.feature_site >= sim.record_compartments.size()) {
    throw config_error("cellfit::ga: fit.ga.feature_site " + std::to_string(s_.feature_site) +
                       " is not a recorded site (simulation.record_sites has " +
                       std::to_string(sim.record_compartments.size()) + ")");
  }
  if (targets_.empty()) throw config_error("cellfit::ga: no feature targets to fit");
  std::vector<std::string> names;
  for (auto& t : targets_) {
    if (t.site == feature_target::scoring_site) t.site = s_.feature_site;
    if (t.site >= sim.record_compartments.size()) {
      throw config_error("cellfit::ga: a target of " + t.feature + " names recorded site " +
                         std::to_string(t.site) + ", the fit records " +
                         std::to_string(sim.record_compartments.size()));
    }
    if (t.stimulus >= n_stimuli_) {
      throw config_error("cellfit::ga: a target of " + t.feature + " names stimulus " +
                         std::to_string(t.stimulus) + ", the fit has " +
                         std::to_string(n_stimuli_));
    }
    if (!(t.std > 0) || !std::isfinite(t.mean)) {
      throw config_error("cellfit::ga: the target of " + t.feature + " on stimulus " +
                         std::to_string(t.stimulus) + " needs a finite mean and std > 0 (mean " +
                         std::to_string(t.mean) + ", std " + std::to_string(t.std) + ")");
    }
    features::settings own = s_.efel;
    try {
      for (const auto& x : t.efel) features::apply(own, x);
      features::check_settings(own);
    } catch (const config_error& e) {
      throw config_error("cellfit::ga: the target of " + t.feature + " on stimulus " +
                         std::to_string(t.stimulus) + ": " + e.what());
    }
    const feature_window& w = windows_[t.stimulus];
    const double start = std::isnan(t.stim_start_ms) ? w.start_ms : t.stim_start_ms;
    const double end = std::isnan(t.stim_end_ms) ? w.end_ms : t.stim_end_ms;
    const bool own_window = !std::isnan(t.stim_start_ms) || !std::isnan(t.stim_end_ms);
    if (own_window && !(end > start)) {
      throw config_error("cellfit::ga: the target of " + t.feature + " on stimulus " +
                         std::to_string(t.stimulus) + " has an empty window [" +
                         std::to_string(start) + ", " + std::to_string(end) + "] ms");
    }
    names.push_back(t.feature);
  }
  features::check_names(names);
  group_targets();
}

scorer::scorer(const scoring_settings& s, std::vector<double> target_traces, std::size_t n_stimuli,
               const simulation_settings& sim)
    : s_(s),
      target_traces_(std::move(target_traces)),
      n_stimuli_(n_stimuli),
      time_ms_(sample_times(sim)) {
  if (s_.kind == objective_kind::features) throw internal_error("cellfit::scorer: features");
  const std::size_t n_sites = sim.record_compartments.size();
  const std::size_t n_samples = static_cast<std::size_t>(sim.n_samples());
  const std::size_t per = n_sites * n_samples;
  if (target_traces_.size() != n_stimuli_ * per) {
    throw internal_error("cellfit::scorer: target traces do not match the recording");
  }
  const std::string kind = objective_kind_name(s_.kind);
  if (s_.grouping == objective_grouping::sum) {
    names_ = {kind};
  } else {
    for (std::size_t k = 0; k < n_stimuli_; ++k)
      names_.push_back(kind + "[stim " + std::to_string(k) + "]");
  }
  if (s_.kind == objective_kind::mse) return;

  if (s_.kind == objective_kind::gamma_factor && !(s_.gamma_window_ms > 0)) {
    throw config_error("cellfit::ga: fit.ga.gamma_window_ms = " + shortest(s_.gamma_window_ms) +
                       ": must be > 0");
  }
  if (s_.kind == objective_kind::van_rossum && !(s_.van_rossum_tau_ms > 0)) {
    throw config_error("cellfit::ga: fit.ga.van_rossum_tau_ms = " + shortest(s_.van_rossum_tau_ms) +
                       ": must be > 0");
  }
  const double h = sample_ms_ = sim.dt_ms * sim.record_every;
  const double th = s_.efel.threshold_mv;
  target_samples_.resize(n_stimuli_);
  target_spikes_.resize(n_stimuli_ * n_sites);
  std::size_t total = 0;
  for (std::size_t k = 0; k < n_stimuli_; ++k) {
    const double* t = &target_traces_[k * per];
    target_samples_[k] = n_sites > 0 ? samples_before_nan(t, n_samples) : n_samples;
    for (std::size_t site = 0; site < n_sites; ++site) {
      auto& ts = target_spikes_[k * n_sites + site];
      ts = threshold_crossings(t + site * n_samples, target_samples_[k], h, th);
      total += ts.size();
      if (s_.kind != objective_kind::gamma_factor) continue;
      const std::string why = gamma_factor_refusal(ts.size(), s_.gamma_window_ms,
                                                   static_cast<double>(target_samples_[k]) * h);
      if (!why.empty()) {
        const std::string stim =
            k < s_.stimulus_names.size() ? s_.stimulus_names[k] : std::to_string(k);
        const std::string where =
            site < s_.site_names.size() ? s_.site_names[site] : std::to_string(site);
        throw config_error("cellfit::ga: fit.ga.objective = \"gamma_factor\": stimulus '" + stim +
                           "' at site '" + where + "' (threshold " + shortest(th) +
                           " mV, fit.ga.threshold_mv): " + why);
      }
    }
  }
  if (s_.kind == objective_kind::spike_time && total == 0 && n_stimuli_ * n_sites > 0) {
    throw config_error(
        "cellfit::ga: fit.ga.objective = \"spike_time\": the target traces have no spike (no "
        "upward crossing of fit.ga.threshold_mv = " +
        shortest(th) + " mV)");
  }
}

double scorer::spike_score(const double* v, std::size_t stimulus, std::size_t n_sites,
                           std::size_t n_samples) const {
  const double h = sample_ms_;
  const std::size_t len = target_samples_[stimulus];
  const double duration = static_cast<double>(std::max<std::size_t>(len, 1)) * h;
  double sum = 0;
  for (std::size_t site = 0; site < n_sites; ++site) {
    const auto t = threshold_crossings(v + site * n_samples, len, h, s_.efel.threshold_mv);
    const auto& ts = target_spikes_[stimulus * n_sites + site];
    switch (s_.kind) {
      case objective_kind::spike_time:
        sum += spike_time_loss(t, ts, duration * duration, nullptr);
        break;
      case objective_kind::gamma_factor:
        sum += gamma_factor_loss(t, ts, s_.gamma_window_ms, duration);
        break;
      case objective_kind::van_rossum:
        sum += van_rossum_distance2(t, ts, s_.van_rossum_tau_ms, nullptr);
        break;
      case objective_kind::features:
      case objective_kind::mse:
        throw internal_error("cellfit::scorer: not a spike-train objective");
    }
  }
  return n_sites > 0 ? sum / static_cast<double>(n_sites) : 0.0;
}

void scorer::group_targets() {
  std::map<std::string, std::size_t> index;
  objective_of_.resize(targets_.size());
  for (std::size_t t = 0; t < targets_.size(); ++t) {
    std::string key;
    switch (s_.grouping) {
      case objective_grouping::per_feature:
        key = targets_[t].feature;
        break;
      case objective_grouping::per_stimulus_feature: {
        const feature_target& x = targets_[t];
        const bool named = x.stimulus < s_.stimulus_names.size() && x.site < s_.site_names.size();
        key = named ? s_.stimulus_names[x.stimulus] + "." + s_.site_names[x.site] + "." + x.feature
                    : "stim" + std::to_string(x.stimulus) + "." + x.feature;
        break;
      }
      case objective_grouping::sum:
        key = "sum";
        break;
    }
    auto it = index.find(key);
    if (it == index.end()) {
      it = index.emplace(key, names_.size()).first;
      names_.push_back(key);
    }
    objective_of_[t] = it->second;
  }
  // per_feature: the mean over the stimuli that target a feature, so every objective stays
  // on the z-score scale whatever the number of stimuli; the others add.
  divisor_.assign(names_.size(), 1.0);
  if (s_.grouping == objective_grouping::per_feature) {
    std::fill(divisor_.begin(), divisor_.end(), 0.0);
    for (std::size_t o : objective_of_) divisor_[o] += 1;
  }
  std::vector<std::vector<std::size_t>> groups_of_stim(n_stimuli_);
  for (std::size_t t = 0; t < targets_.size(); ++t) {
    const feature_target& x = targets_[t];
    std::size_t gi = groups_.size();
    for (std::size_t g : groups_of_stim[x.stimulus]) {
      if (groups_[g].site == x.site && same_overrides(targets_[groups_[g].like], x)) gi = g;
    }
    if (gi == groups_.size()) {
      trace_group g;
      g.stimulus = x.stimulus;
      g.site = x.site;
      g.like = t;
      g.efel = s_.efel;
      for (const auto& setting : x.efel) features::apply(g.efel, setting);
      g.window = windows_[x.stimulus];
      if (!std::isnan(x.stim_start_ms)) g.window.start_ms = x.stim_start_ms;
      if (!std::isnan(x.stim_end_ms)) g.window.end_ms = x.stim_end_ms;
      if (!std::isnan(x.stimulus_current_na)) g.window.current_na = x.stimulus_current_na;
      groups_.push_back(std::move(g));
      groups_of_stim[x.stimulus].push_back(gi);
    }
    trace_group& g = groups_[gi];
    if (std::find(g.features.begin(), g.features.end(), x.feature) != g.features.end()) {
      throw config_error("cellfit::ga: two targets for " + x.feature + " on stimulus " +
                         std::to_string(x.stimulus) + " at recorded site " +
                         std::to_string(x.site) + " with the same settings");
    }
    g.features.push_back(x.feature);
    g.targets.push_back(t);
  }
}

objective_matrix scorer::score(const simulation_result& r, std::size_t n_individuals) const {
  return score(r, n_individuals, s_.threads);
}

objective_matrix scorer::score(const simulation_result& r, std::size_t n_individuals,
                               unsigned threads) const {
  objective_matrix obj;
  obj.n = n_individuals;
  obj.m = names_.size();
  obj.values.assign(obj.n * obj.m, 0.0);
  const std::size_t n_sites = r.n_sites, n_samples = r.n_samples;
  if (r.n_cells < n_individuals * n_stimuli_) throw internal_error("cellfit::scorer: short batch");

  if (s_.kind != objective_kind::features && s_.kind != objective_kind::mse) {
    for (std::size_t i = 0; i < n_individuals; ++i) {
      for (std::size_t s = 0; s < n_stimuli_; ++s) {
        const std::size_t c = i * n_stimuli_ + s;
        double v = s_.penalty;
        if (r.failed_step[c] < 0) {
          v = spike_score(&r.voltage[c * n_sites * n_samples], s, n_sites, n_samples);
          if (!(v <= s_.penalty)) v = s_.penalty;  // also NaN
        }
        const std::size_t o = s_.grouping == objective_grouping::sum ? 0 : s;
        obj.values[i * obj.m + o] += v;
      }
    }
    return obj;
  }
  if (s_.kind == objective_kind::mse) {
    for (std::size_t i = 0; i < n_individuals; ++i) {
      for (std::size_t s = 0; s < n_stimuli_; ++s) {
        const std::size_t c = i * n_stimuli_ + s;
        double v = s_.penalty;
        if (r.failed_step[c] < 0) {
          const double* a = &r.voltage[c * n_sites * n_samples];
          const double* b = &target_traces_[s * n_sites * n_samples];
          // A target sample that is NaN is not part of the trace (after a protocol's end).
          double sum = 0;
          std::size_t n = 0;
          for (std::size_t k = 0; k < n_sites * n_samples; ++k) {
            if (std::isnan(b[k])) continue;
            sum += (a[k] - b[k]) * (a[k] - b[k]);
            ++n;
          }
          v = n > 0 ? sum / static_cast<double>(n) : s_.penalty;
          if (!(v <= s_.penalty)) v = s_.penalty;  // also NaN
        }
        const std::size_t o = s_.grouping == objective_grouping::sum ? 0 : s;
        obj.values[i * obj.m + o] += v;
      }
    }
    return obj;
  }

  for (const trace_group& g : groups_) {
    std::vector<features::trace> traces;
    std::vector<std::size_t> who;
    for (std::size_t i = 0; i < n_individuals; ++i) {
      const std::size_t c = i * n_stimuli_ + g.stimulus;
      if (r.failed_step[c] >= 0) {
        for (std::size_t t : g.targets) obj.values[i * obj.m + objective_of_[t]] += s_.penalty;
        continue;
      }
      features::trace tr{};
      tr.t_ms = time_ms_.data();
      tr.v_mv = &r.voltage[(c * n_sites + g.site) * n_samples];
      tr.n = samples_within(time_ms_, g.window);
      tr.stim_start_ms = g.window.start_ms;
      tr.stim_end_ms = g.window.end_ms;
      tr.stimulus_current_na = g.window.current_na;
      traces.push_back(tr);
      who.push_back(i);
    }
    const auto values = features::compute_batch(traces, g.features, g.efel, threads);
    for (std::size_t k = 0; k < who.size(); ++k) {
      for (std::size_t f = 0; f < g.targets.size(); ++f) {
        const std::size_t t = g.targets[f];
        const features::value& v = values[k][f];
        double z = s_.penalty;
        if (v.ok) {
          z = std::abs(v.mean() - targets_[t].mean) / targets_[t].std;
          if (!(z <= s_.penalty)) z = s_.penalty;
        }
        obj.values[who[k] * obj.m + objective_of_[t]] += z;
      }
    }
  }
  // A division, not a weight per term, so a mean of penalties is the penalty exactly.
  for (std::size_t i = 0; i < obj.n; ++i)
    for (std::size_t o = 0; o < obj.m; ++o) obj.values[i * obj.m + o] /= divisor_[o];
  return obj;
}

std::vector<feature_target> targets_from_traces(const std::vector<double>& traces,
                                                const std::vector<feature_window>& windows,
                                                const std::vector<std::string>& feature_names,
                                                const simulation_settings& sim,
                                                const scoring_settings& s, double std_fraction,
                                                double std_floor,
                                                std::vector<std::string>& dropped) {
  features::check_names(feature_names);
  const std::vector<double> t = sample_times(sim);
  const std::size_t n_sites = sim.record_compartments.size(), n_samples = t.size();
  std::vector<features::trace> tr(windows.size());
  for (std::size_t k = 0; k < windows.size(); ++k) {
    tr[k].t_ms = t.data();
    tr[k].v_mv = &traces[(k * n_sites + s.feature_site) * n_samples];
    tr[k].n = samples_within(t, windows[k]);
    tr[k].stim_start_ms = windows[k].start_ms;
    tr[k].stim_end_ms = windows[k].end_ms;
    tr[k].stimulus_current_na = windows[k].current_na;
  }
  const auto values = features::compute_batch(tr, feature_names, s.efel, s.threads);
  std::vector<feature_target> out;
  for (std::size_t k = 0; k < windows.size(); ++k) {
    for (std::size_t f = 0; f < feature_names.size(); ++f) {
      const features::value& v = values[k][f];
      const double m = v.ok ? v.mean() : std::nan("");
      if (!v.ok || !std::isfinite(m)) {
        dropped.push_back("stimulus " + std::to_string(k) + ": " + feature_names[f] + ": " +
                          (v.ok ? std::string("not finite") : v.reason));
        continue;
      }
      out.push_back({k, feature_names[f], m, std::max(std_fraction * std::abs(m), std_floor)});
    }
  }
  return out;
}

}  // namespace cellfit::ga
