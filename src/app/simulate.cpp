#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "app/commands.hpp"
#include "app/model_export.hpp"
#include "common/error.hpp"
#include "io/config.hpp"
#include "io/config_units.hpp"
#include "io/h5.hpp"
#include "sched/load_balance.hpp"
#include "sim/batch_simulator.hpp"

namespace cellfit::app {

namespace {

void write_traces(const std::string& path, const run_config& rc, const simulation_result& r,
                  double wall_s) {
  h5::atomic_output out(path);
  {
    h5::file f = h5::file::create(out.temp_path());
    const auto& s = rc.settings;
    f.write("/traces/voltage", r.voltage, {r.n_cells, r.n_sites, r.n_samples});
    f.attribute("/traces/voltage", "dt_ms", s.dt_ms);
    f.attribute("/traces/voltage", "units", std::string("mV"));
    f.attribute("/traces/voltage", "record_every", static_cast<std::int64_t>(s.record_every));
    f.attribute("/traces/voltage", "sample_interval_ms", s.dt_ms * s.record_every);
    std::vector<std::int64_t> sites(s.record_compartments.begin(), s.record_compartments.end());
    f.write("/traces/sites", sites, {sites.size()});
    f.write("/traces/site_names", s.site_names());
    std::vector<double> t(r.n_samples);
    for (std::size_t k = 0; k < t.size(); ++k)
      t[k] = static_cast<double>(k) * s.record_every * s.dt_ms;
    f.write("/traces/time_ms", t, {t.size()});
    std::vector<std::int64_t> failed(r.failed_step.begin(), r.failed_step.end());
    f.write("/traces/failed_step", failed, {failed.size()});
    std::vector<std::int64_t> set_of(r.n_cells), stim_of(r.n_cells);
    for (std::size_t c = 0; c < r.n_cells; ++c) {
      set_of[c] = static_cast<std::int64_t>(c / rc.stimuli.size());
      stim_of[c] = static_cast<std::int64_t>(c % rc.stimuli.size());
    }
    f.write("/traces/parameter_set", set_of, {set_of.size()});
    f.write("/traces/stimulus", stim_of, {stim_of.size()});

    // Stimuli as injected (sampled at step midpoints).
    const sampled_stimuli st =
        sample_stimuli(rc.stimuli, static_cast<std::size_t>(s.n_steps()), s.dt_ms);
    std::vector<std::string> names;
    for (const auto& x : rc.stimuli) names.push_back(x.name);
    f.write("/stimuli/names", names);
    std::vector<std::int64_t> inj(st.sites.begin(), st.sites.end());
    f.write("/stimuli/sites", inj, {inj.size()});
    f.write("/stimuli/current", st.current, {st.n_stimuli, st.sites.size(), st.n_steps});
    f.attribute("/stimuli/current", "units",
                std::string(rc.model.geom.point_model ? "model" : "nA"));
    f.attribute("/stimuli/current", "t0_ms", 0.5 * s.dt_ms);
    if (st.has_clamp()) {
      // Voltage clamps: conductance 1/rs (0 where off) and command level, same layout.
      const std::vector<std::size_t> dims{st.n_stimuli, st.sites.size(), st.n_steps};
      f.write("/stimuli/clamp_conductance", st.clamp_g_us, dims);
      f.attribute("/stimuli/clamp_conductance", "units", std::string("uS"));
      f.write("/stimuli/clamp_voltage", st.clamp_mv, dims);
      f.attribute("/stimuli/clamp_voltage", "units", std::string("mV"));
    }
    if (st.has_synapse_conductance()) {
      // Conductance synapses: conductance in each step (as NEURON's BREAKPOINT sees it) and
      // reversal (conductance-weighted mean where several share a site), same layout.
      const std::vector<std::size_t> dims{st.n_stimuli, st.sites.size(), st.n_steps};
      f.write("/stimuli/synaptic_conductance", st.synapse_g_us, dims);
      f.attribute("/stimuli/synaptic_conductance", "units",
                  std::string(rc.model.geom.point_model ? "model" : "uS"));
      f.write("/stimuli/synaptic_reversal", st.synapse_e_mv, dims);
      f.attribute("/stimuli/synaptic_reversal", "units", std::string("mV"));
    }
    // Each stimulus's window and step amplitude: the defaults of `cellfit features`.
    std::vector<double> w_start, w_end, w_amp, t_stop;
    for (const auto& x : rc.stimuli) {
      const stimulus_window w = active_window(x, stimulus_duration_ms(x, s.t_stop_ms));
      t_stop.push_back(stimulus_duration_ms(x, s.t_stop_ms));
      w_start.push_back(w.start_ms);
      w_end.push_back(w.end_ms);
      w_amp.push_back(w.amplitude);
    }
    f.write("/stimuli/start_ms", w_start, {w_start.size()});
    f.write("/stimuli/end_ms", w_end, {w_end.size()});
    f.write("/stimuli/amplitude", w_amp, {w_amp.size()});
    f.write("/stimuli/t_stop_ms", t_stop, {t_stop.size()});

    // Parameter values of every set: /parameters/<mechanism>/<param> [set][instance].
    std::vector<std::vector<std::vector<std::vector<double>>>> values;
    for (const auto& set : rc.sets) values.push_back(resolve_parameters(rc.model, set));
    for (std::size_t mi = 0; mi < rc.model.mechanisms.size(); ++mi) {
      const auto& pl = rc.model.mechanisms[mi];
      const mechanism_info& info = *find_mechanism(pl.name);
      std::vector<std::int64_t> comps(pl.compartments.begin(), pl.compartments.end());
      f.write("/parameters/" + pl.name + "/compartments", comps, {comps.size()});
      for (std::size_t k = 0; k < info.param_names.size(); ++k) {
        std::vector<double> v;
        for (const auto& set_values : values) {
          v.insert(v.end(), set_values[mi][k].begin(), set_values[mi][k].end());
        }
        const std::string name = "/parameters/" + pl.name + "/" + info.param_names[k];
        f.write(name, v, {rc.sets.size(), pl.compartments.size()});
        f.attribute(name, "units", info.param_units[k]);
      }
    }
    write_model(f, rc.model);

    f.attribute("/", "cellfit_version", std::string("0.1.0"));
    f.attribute("/", "command", std::string("simulate"));
    f.attribute("/", "config", rc.source);
    f.attribute("/", "precision", std::string(s.prec == precision::fp32 ? "fp32" : "fp64"));
    f.attribute("/", "t_stop_ms", s.t_stop_ms);
    f.attribute("/", "celsius", rc.model.celsius);
    f.attribute("/", "v_init_mv", rc.model.v_init_mv);
    f.attribute("/", "n_parameter_sets", static_cast<std::int64_t>(rc.sets.size()));
    f.attribute("/", "n_stimuli", static_cast<std::int64_t>(rc.stimuli.size()));
    f.attribute("/", "n_failed", static_cast<std::int64_t>(r.n_failed()));
    f.attribute("/", "wall_seconds", wall_s);
    f.attribute("/", "simulations", static_cast<std::int64_t>(r.n_cells));
    f.close();  // checked: only a completely written file is renamed into place
  }
  out.commit();
}

}  // namespace

void check_writable(const std::string& out, const std::string& command, const char* role) {
  if (out.empty())
    throw usage_error("cellfit::" + command + ": the " + role + " file name is empty");
  const std::string real = h5::follow_links(out);
  struct stat st {};
  if (real.back() == '/' || (::stat(real.c_str(), &st) == 0 && S_ISDIR(st.st_mode))) {
    throw io_error("cellfit::" + command + ": " + role + " '" + out +
                   "' is a directory, not a file name");
  }
  const int stale = h5::remove_stale_temporaries(out);
  if (stale > 0) {
    std::fprintf(stderr, "cellfit %s: removed %d temporar%s left beside %s by a killed run\n",
                 command.c_str(), stale, stale == 1 ? "y" : "ies", out.c_str());
  }
  const std::string probe = real + ".tmp.probe." + std::to_string(::getpid());
  if (FILE* f = std::fopen(probe.c_str(), "wb")) {
    std::fclose(f);
    std::remove(probe.c_str());
  } else {
    throw io_error("cellfit::" + command + ": cannot write the " + role + " '" + out +
                   "': " + std::strerror(errno));
  }
}

int run_simulate(const simulate_options& o) {
  const auto t0 = std::chrono::steady_clock::now();
  const comm::context_ptr ctx = o.comm ? o.comm : comm::make_local_context();
  const bool root = ctx->rank() == 0;
  const bool quiet = o.quiet || !root;
  run_config rc;
  std::string out;
  comm::agree(*ctx, [&] {
    rc = load_config(o.config, o.overrides);
    if (root) warn_implausible_values(rc, "simulate");
    out = o.out.empty() ? rc.output : o.out;
    // Refuse an unwritable destination before spending the simulation time.
    if (root) check_writable(out, "simulate");
  });
  const auto& s = rc.settings;
  const std::size_t n_cells = rc.sets.size() * rc.stimuli.size();
  const double cstep = static_cast<double>(n_cells) * rc.model.geom.n_compartments() * s.n_steps();
  if (!quiet) {
    std::cerr << "cellfit simulate: " << rc.source << ": " << rc.model.morph.source << ", "
              << rc.model.geom.n_compartments() << " compartments, " << rc.sets.size()
              << " parameter sets x " << rc.stimuli.size() << " stimuli = " << n_cells << " cells, "
              << s.n_steps() << " steps of " << s.dt_ms << " ms, "
              << (s.prec == precision::fp32 ? "fp32" : "fp64");
    if (ctx->size() > 1) std::cerr << ", " << ctx->size() << " ranks";
    std::cerr << "\n";
  }
  progress_callback progress;
  if (!quiet) {
    // At most one line every two seconds, and the last one (rank 0's share).
    progress = [last = -1e9](std::size_t done, std::size_t all, double sec) mutable {
      if (done < all && sec - last < 2.0) return;
      last = sec;
      const double eta = done > 0 ? sec * (static_cast<double>(all) / done - 1.0) : 0.0;
      std::fprintf(stderr, "  simulated %zu/%zu cells  %.1f s  ETA %.1f s\n", done, all, sec, eta);
    };
  }
  // The parameter sets are split across the ranks (sched/load_balance.hpp); each rank's share
  // is a contiguous run of cells, so rank 0 gathers the traces in cell order.
  sched::plan_request q;
  q.n_sets = rc.sets.size();
  q.n_stimuli = rc.stimuli.size();
  q.axis = sched::split_axis::sets;
  q.cell_cost_cs = static_cast<double>(rc.model.geom.n_compartments()) * s.n_steps();
  q.max_chunks = 1;
  const sched::plan plan = sched::make_plan(
      q, std::vector<sched::rank_resources>(static_cast<std::size_t>(ctx->size())));
  simulation_result r;
  comm::agree(*ctx, [&] {
    check_batch(rc.model, rc.sets, rc.stimuli, s);
    for (const sched::block& b : plan.blocks_of(ctx->rank())) {
      const std::vector<parameter_set> mine(
          rc.sets.begin() + static_cast<std::ptrdiff_t>(b.first_set),
          rc.sets.begin() + static_cast<std::ptrdiff_t>(b.first_set + b.n_sets));
      r = simulate_batch(rc.model, mine, rc.stimuli, s, progress);
    }
  });
  if (ctx->size() > 1) {
    std::vector<double> failed(r.failed_step.begin(), r.failed_step.end());
    failed.push_back(r.kernel_seconds);
    const std::vector<double> v = ctx->gather(r.voltage, 0);
    std::vector<std::size_t> counts;
    const std::vector<double> f = ctx->gather(failed, 0, &counts);
    if (!root) return exit_ok;
    r.voltage = v;
    r.failed_step.clear();
    r.kernel_seconds = 0;
    std::size_t at = 0;
    for (std::size_t c : counts) {
      for (std::size_t k = 0; k + 1 < c; ++k) r.failed_step.push_back(static_cast<int>(f[at + k]));
      r.kernel_seconds = std::max(r.kernel_seconds, f[at + c - 1]);
      at += c;
    }
    r.n_cells = n_cells;
    r.n_sites = s.record_compartments.size();
    r.n_samples = static_cast<std::size_t>(s.n_samples());
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  write_traces(out, rc, r, wall);

  // Summary on stdout: per cell, spikes at the first recorded site (upward crossings of
  // -20 mV) and the voltage range.
  std::printf("cellfit simulate: %zu cells (%zu diverged), %zu sites, %zu samples -> %s\n",
              r.n_cells, r.n_failed(), r.n_sites, r.n_samples, out.c_str());
  std::printf("kernel %.3f s, %.3g compartment-steps/s\n", r.kernel_seconds,
              r.kernel_seconds > 0 ? cstep / r.kernel_seconds : 0.0);
  const std::size_t show = std::min<std::size_t>(r.n_cells, 48);
  std::printf("%6s %6s %-24s %7s %9s %9s\n", "cell", "set", "stimulus", "spikes", "v_min", "v_max");
  for (std::size_t c = 0; c < show; ++c) {
    const double* v = &r.voltage[c * r.n_sites * r.n_samples];
    int spikes = 0;
    double lo = v[0], hi = v[0];
    for (std::size_t k = 1; k < r.n_samples; ++k) {
      spikes += v[k - 1] < -20.0 && v[k] >= -20.0;
      lo = std::min(lo, v[k]);
      hi = std::max(hi, v[k]);
    }
    const std::string& sname = rc.stimuli[c % rc.stimuli.size()].name;
    if (r.failed_step[c] >= 0) {
      std::printf("%6zu %6zu %-24s diverged at step %d\n", c, c / rc.stimuli.size(), sname.c_str(),
                  r.failed_step[c]);
    } else {
      std::printf("%6zu %6zu %-24s %7d %9.2f %9.2f\n", c, c / rc.stimuli.size(), sname.c_str(),
                  spikes, lo, hi);
    }
  }
  if (show < r.n_cells) std::printf("... %zu more cells in %s\n", r.n_cells - show, out.c_str());
  if (r.n_failed() == r.n_cells) {
    std::fprintf(stderr, "cellfit simulate: every cell diverged (traces written to %s)\n",
                 out.c_str());
    return exit_diverged;
  }
  return exit_ok;
}

}  // namespace cellfit::app
