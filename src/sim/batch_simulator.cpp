#include "sim/batch_simulator.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>

#include <unistd.h>
#include <cmath>
#include <limits>

#include <Kokkos_Core.hpp>

#include "common/error.hpp"
#include "kernels/forward.hpp"
#include "sim/forward_setup.hpp"

namespace cellfit {

int simulation_settings::n_steps() const {
  return static_cast<int>(std::llround(t_stop_ms / dt_ms));
}

std::string simulation_settings::site_name(std::size_t k) const {
  if (record_names.size() == record_compartments.size()) return record_names.at(k);
  return "compartment " + std::to_string(record_compartments.at(k));
}

std::vector<std::string> simulation_settings::site_names() const {
  std::vector<std::string> out;
  for (std::size_t k = 0; k < record_compartments.size(); ++k) out.push_back(site_name(k));
  return out;
}

int simulation_settings::find_site(const std::string& name) const {
  for (std::size_t k = 0; k < record_compartments.size(); ++k) {
    if (site_name(k) == name) return static_cast<int>(k);
  }
  return -1;
}

std::size_t simulation_result::n_failed() const {
  std::size_t n = 0;
  for (int s : failed_step) n += s >= 0;
  return n;
}

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

template <class Real, int lanes>
simulation_result run(const cell_model& model, const std::vector<parameter_set>& sets,
                      const std::vector<stimulus>& stimuli, const simulation_settings& s,
                      const progress_callback& progress) {
  using space = device_space;
  const auto t_setup = clock_type::now();
  const cable_geometry& g = model.geom;
  const std::size_t n_cells = sets.size() * stimuli.size();
  const int n_tiles = static_cast<int>((n_cells + lanes - 1) / lanes);
  const int n_steps = s.n_steps();
  const std::size_t n_sites = s.record_compartments.size();
  auto p = detail::build_forward_problem<Real, lanes>(model, sets, stimuli, s);

  space exec;
  initialize_states(exec, p);
  exec.fence();
  simulation_result r;
  r.setup_seconds = seconds_since(t_setup);

  const auto t_kernel = clock_type::now();
  // Chunks of about a second of work each when progress is reported, one call otherwise.
  const double work = static_cast<double>(n_cells) * g.n_compartments() * n_steps;
  const int chunks =
      progress ? static_cast<int>(std::min<double>(n_tiles, std::max(1.0, work / 2e7))) : 1;
  for (int k = 0; k < chunks; ++k) {
    const int b = static_cast<int>(static_cast<long long>(n_tiles) * k / chunks);
    const int e = static_cast<int>(static_cast<long long>(n_tiles) * (k + 1) / chunks);
    simulate<lanes>(exec, p, b, e);
    exec.fence();
    if (progress) {
      progress(std::min(n_cells, static_cast<std::size_t>(e) * lanes), n_cells,
               seconds_since(t_kernel));
    }
  }
  r.kernel_seconds = seconds_since(t_kernel);

  auto rec_h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), p.recorded);
  auto fail_h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), p.failed_step);
  r.n_cells = n_cells;
  r.n_sites = n_sites;
  r.n_samples = static_cast<std::size_t>(p.n_samples);
  r.voltage.resize(n_cells * n_sites * r.n_samples);
  r.failed_step.resize(n_cells);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (std::size_t c = 0; c < n_cells; ++c) {
    const int tile = static_cast<int>(c / lanes);
    const int lane = static_cast<int>(c % lanes);
    const int failed = fail_h(c);
    r.failed_step[c] = failed;
    // Samples at or after the failure are not a trajectory of the model: make that explicit.
    const std::size_t first_bad =
        failed < 0 ? r.n_samples
                   : static_cast<std::size_t>((failed + s.record_every - 1) / s.record_every);
    for (std::size_t k = 0; k < n_sites; ++k) {
      double* out = &r.voltage[(c * n_sites + k) * r.n_samples];
      for (std::size_t t = 0; t < r.n_samples; ++t) {
        out[t] = t >= first_bad ? nan : static_cast<double>(rec_h(tile, k, t, lane));
      }
    }
  }
  return r;
}

// The widest tile the batch fills; padding lanes cost as much as real ones.
template <class Real>
simulation_result run_width(const cell_model& model, const std::vector<parameter_set>& sets,
                            const std::vector<stimulus>& stimuli, const simulation_settings& s,
                            const progress_callback& progress) {
  constexpr int wide = lane_width<device_space, Real>::value;
  constexpr int narrow = narrow_lane_width<device_space, Real>::value;
  const std::size_t n_cells = sets.size() * stimuli.size();
  if (n_cells >= static_cast<std::size_t>(wide))
    return run<Real, wide>(model, sets, stimuli, s, progress);
  if (narrow > 1 && n_cells >= static_cast<std::size_t>(narrow)) {
    return run<Real, narrow>(model, sets, stimuli, s, progress);
  }
  return run<Real, 1>(model, sets, stimuli, s, progress);
}

}  // namespace

void check_batch(const cell_model& model, const std::vector<parameter_set>& sets,
                 const std::vector<stimulus>& stimuli, const simulation_settings& s) {
  auto bad = [](const std::string& what) { throw config_error("cellfit::simulate: " + what); };
  if (!(s.dt_ms > 0) || !std::isfinite(s.dt_ms)) bad("dt_ms must be positive and finite");
  if (!(s.t_stop_ms > 0) || !std::isfinite(s.t_stop_ms))
    bad("t_stop_ms must be positive and finite");
  if (s.n_steps() < 1) bad("t_stop_ms / dt_ms gives no step");
  if (s.record_every < 1) bad("record_every must be >= 1");
  if (!(s.v_bound_mv > 0) || s.v_bound_mv > 400) bad("v_bound_mv must be in (0, 400] mV");
  if (sets.empty()) bad("no parameter set");
  if (stimuli.empty()) bad("no stimulus");
  for (const auto& x : stimuli) {
    const double steps = x.t_stop_ms / s.dt_ms;
    if (x.t_stop_ms != 0 && (!(x.t_stop_ms > 0) || x.t_stop_ms > s.t_stop_ms ||
                             std::fabs(steps - std::round(steps)) > 1e-6)) {
      bad("protocol '" + x.name + "': t_stop_ms " + std::to_string(x.t_stop_ms) +
          " must be a whole number of dt_ms steps within the run's t_stop_ms " +
          std::to_string(s.t_stop_ms));
    }
  }
  for (int c : s.record_compartments) {
    if (c < 0 || c >= model.geom.n_compartments()) {
      bad("recording site " + std::to_string(c) + " is not a compartment (0.." +
          std::to_string(model.geom.n_compartments() - 1) + ")");
    }
  }
  for (std::size_t k = 0; k < sets.size(); ++k) {
    for (const auto& o : sets[k]) check_override(model, o, "parameter set " + std::to_string(k));
  }
  // Refuse a run whose traces cannot fit in memory before allocating anything: the
  // recorded voltages are held twice (kernel layout and output order) as 8-byte values.
  {
    const double n_cells = static_cast<double>(sets.size()) * static_cast<double>(stimuli.size());
    const double bytes = 2.0 * 8.0 * n_cells * static_cast<double>(s.record_compartments.size()) *
                         static_cast<double>(s.n_samples());
    std::size_t inject_sites = 0;
    for (const auto& st : stimuli) {
      for (const auto& c : st.components) inject_sites += c.sites.size();
    }
    // The sampled stimulus table [stimulus][site][step] is held about three times.
    const double stim_bytes = 3.0 * 8.0 * static_cast<double>(inject_sites) * s.n_steps();
    const double state_bytes =
        8.0 * n_cells * (3.0 * model.geom.n_nodes() + 12.0 * model.geom.n_compartments()) +
        stim_bytes;
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    const double ram =
        pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 0.0;
    if (ram > 0 && bytes + state_bytes > 0.8 * ram) {
      char msg[256];
      std::snprintf(msg, sizeof msg,
                    "%.3g cells x %zu sites x %d samples need %.3g GB, more than 80%% of this "
                    "machine's %.3g GB: record fewer sites, use record_every, or split the batch",
                    n_cells, s.record_compartments.size(), s.n_samples(),
                    (bytes + state_bytes) / 1e9, ram / 1e9);
      bad(msg);
    }
  }
}

duration_plan plan_durations(std::size_t n_sets, const std::vector<stimulus>& stimuli,
                             const simulation_settings& s, int lanes) {
  if (lanes <= 0) {
    lanes = s.prec == precision::fp32 ? lane_width<device_space, real32_type>::value
                                      : lane_width<device_space, real_type>::value;
  }
  duration_plan plan;
  std::map<long long, std::vector<std::size_t>> by_steps;
  for (std::size_t k = 0; k < stimuli.size(); ++k) {
    by_steps[std::llround(stimulus_duration_ms(stimuli[k], s.t_stop_ms) / s.dt_ms)].push_back(k);
  }
  const auto tiles = [&](std::size_t cells) {
    return static_cast<double>((cells + static_cast<std::size_t>(lanes) - 1) /
                               static_cast<std::size_t>(lanes)) *
           lanes;
  };
  for (auto& [steps, members] : by_steps) {
    plan.grouped_cost += tiles(n_sets * members.size()) * static_cast<double>(steps);
    plan.groups.push_back(std::move(members));
  }
  plan.padded_cost = tiles(n_sets * stimuli.size()) * static_cast<double>(s.n_steps());
  return plan;
}

namespace {

template <class Real>
simulation_result run_grouped(const cell_model& model, const std::vector<parameter_set>& sets,
                              const std::vector<stimulus>& stimuli, const simulation_settings& s,
                              const progress_callback& progress) {
  const duration_plan plan =
      plan_durations(sets.size(), stimuli, s, lane_width<device_space, Real>::value);
  // One group: no stimulus is shorter than the run (check_batch), so nothing to cut.
  if (plan.groups.size() == 1) return run_width<Real>(model, sets, stimuli, s, progress);
  simulation_result r;
  if (!plan.grouped()) {
    r = run_width<Real>(model, sets, stimuli, s, progress);  // padded to the longest
  } else {
    // Each group of equal duration is a batch of its own; results go back in the run's
    // order (stimulus fastest) with the run's sample count.
    const std::size_t S = stimuli.size(), n_sites = s.record_compartments.size();
    r.n_cells = sets.size() * S;
    r.n_sites = n_sites;
    r.n_samples = static_cast<std::size_t>(s.n_samples());
    r.voltage.assign(r.n_cells * n_sites * r.n_samples, std::nan(""));
    r.failed_step.assign(r.n_cells, -1);
    std::size_t done = 0;
    for (const auto& members : plan.groups) {
      std::vector<stimulus> sub;
      for (std::size_t k : members) sub.push_back(stimuli[k]);
      simulation_settings gs = s;
      gs.t_stop_ms = stimulus_duration_ms(sub.front(), s.t_stop_ms);
      const simulation_result g = run_width<Real>(model, sets, sub, gs, {});
      r.kernel_seconds += g.kernel_seconds;
      r.setup_seconds += g.setup_seconds;
      for (std::size_t i = 0; i < sets.size(); ++i) {
        for (std::size_t j = 0; j < members.size(); ++j) {
          const std::size_t from = i * members.size() + j, to = i * S + members[j];
          r.failed_step[to] = g.failed_step[from];
          for (std::size_t k = 0; k < n_sites; ++k) {
            std::copy_n(&g.voltage[(from * n_sites + k) * g.n_samples], g.n_samples,
                        &r.voltage[(to * n_sites + k) * r.n_samples]);
          }
        }
      }
      done += sets.size() * members.size();
      if (progress) progress(done, r.n_cells, r.kernel_seconds);
    }
    return r;
  }
  // Padded: cut every shorter protocol's trace at its end.
  for (std::size_t c = 0; c < r.n_cells; ++c) {
    const stimulus& x = stimuli[c % stimuli.size()];
    const int steps =
        static_cast<int>(std::llround(stimulus_duration_ms(x, s.t_stop_ms) / s.dt_ms));
    const std::size_t keep = static_cast<std::size_t>(steps / s.record_every + 1);
    if (r.failed_step[c] > steps) r.failed_step[c] = -1;  // diverged after its end
    for (std::size_t k = 0; k < r.n_sites; ++k) {
      double* v = &r.voltage[(c * r.n_sites + k) * r.n_samples];
      std::fill(v + std::min(keep, r.n_samples), v + r.n_samples, std::nan(""));
    }
  }
  return r;
}

}  // namespace

simulation_result simulate_batch(const cell_model& model, const std::vector<parameter_set>& sets,
                                 const std::vector<stimulus>& stimuli, const simulation_settings& s,
                                 const progress_callback& progress) {
  check_batch(model, sets, stimuli, s);
  if (s.prec == precision::fp32) return run_grouped<real32_type>(model, sets, stimuli, s, progress);
  return run_grouped<real_type>(model, sets, stimuli, s, progress);
}

}  // namespace cellfit
