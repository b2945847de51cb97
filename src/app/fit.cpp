// cellfit fit: fit the [[fit.parameter]]s of a model to target traces with the gradient
// engine, print a progress line per epoch, and write the fit contract (docs/hdf5.md).

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "app/commands.hpp"
#include "app/fit_common.hpp"
#include "app/model_export.hpp"
#include "app/recording_input.hpp"
#include "common/error.hpp"
#include "common/rng.hpp"
#include "common/signals.hpp"
#include "gradient/gradient_fit.hpp"
#include "io/checkpoint.hpp"
#include "io/config.hpp"
#include "io/config_units.hpp"
#include "io/h5.hpp"
#include "io/recording.hpp"
#include "model/parameter_space.hpp"
#include "sim/batch_simulator.hpp"

namespace cellfit::app {

std::string hms(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const long t = std::lround(s);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  return buf;
}

void warn_spiking_target(const run_config& rc, const std::vector<double>& target) {
  const loss_settings& l = rc.fit.gradient.loss;
  if (rc.fit.gradient.spike_weight_given || l.spike_weight > 0 || is_spike_loss(l.kind)) return;
  const std::size_t n_samples = static_cast<std::size_t>(rc.settings.n_samples());
  if (n_samples < 2) return;
  std::size_t crossings = 0;
  for (std::size_t trace = 0; trace + 1 <= target.size() / n_samples; ++trace) {
    const double* v = target.data() + trace * n_samples;
    for (std::size_t k = 1; k < n_samples; ++k) {
      if (v[k - 1] < l.spike_threshold_mv && v[k] >= l.spike_threshold_mv) ++crossings;
    }
  }
  if (crossings == 0) return;
  std::ostringstream msg;
  msg << "cellfit fit: warning: the target traces spike (" << crossings << " crossings of "
      << l.spike_threshold_mv
      << " mV) and the loss is their MSE alone, which has local minima far from the truth when "
         "spike trains are out of step: add a spike-timing term (fit.gradient.spike_weight = 1), "
         "start near the target, or search first with --engine hybrid (docs/gradient.md); write "
         "spike_weight = 0 to keep the MSE alone\n";
  std::cerr << msg.str();
}

namespace {

// Whether fit.target.file is an HDF5 file holding fit.target.dataset (traces on the
// simulation's grid) rather than a recording.
bool is_trace_dataset(const std::string& file, const std::string& dataset) {
  const auto dot = file.find_last_of('.');
  const std::string ext = dot == std::string::npos ? "" : file.substr(dot + 1);
  if (ext != "h5" && ext != "hdf5") return false;
  return h5::file::open_read(file).exists(dataset);
}

// The target traces [stimulus][site][sample] from recordings: each sweep linearly resampled
// onto the simulation's sample times (a recording must cover all of them).
std::vector<double> recorded_target(const run_config& rc) {
  const auto& s = rc.settings;
  const target_settings& t = rc.fit.target;
  const std::size_t n_stim = rc.stimuli.size(), n_sites = s.record_compartments.size();
  const std::size_t n_samples = static_cast<std::size_t>(s.n_samples());
  // The sample times as `cellfit simulate` writes them.
  std::vector<double> times(n_samples);
  for (std::size_t k = 0; k < n_samples; ++k) {
    times[k] = static_cast<double>(k) * s.record_every * s.dt_ms;
  }
  std::vector<double> target(n_stim * n_sites * n_samples, std::nan(""));
  std::vector<std::string> source(n_stim * n_sites);
  auto place = [&](std::size_t stim, std::size_t site, const recording& r, std::size_t sweep,
                   const std::string& at) {
    const std::size_t cell = stim * n_sites + site;
    if (!source[cell].empty()) {
      throw config_error("cellfit::fit: " + at + ": stimulus " + rc.stimuli[stim].name + ", site " +
                         s.site_name(site) + " already has a target (" + source[cell] + ")");
    }
    const std::string what = r.source + " sweep " + r.sweeps[sweep].name;
    const auto v = resample_sweep(r.sweeps[sweep], times, at + ": " + what);
    std::copy(v.begin(), v.end(), target.begin() + static_cast<std::ptrdiff_t>(cell * n_samples));
    source[cell] = what;
  };
  if (t.recordings.empty()) {
    // One file: its (selected) sweeps are the stimuli's targets in order, at site 0.
    const recording r = read_recording_input(t.file);
    const auto sweeps = select_sweeps(r, t.sweeps);
    if (n_sites != 1 || sweeps.size() != n_stim) {
      throw config_error("cellfit::fit: fit.target.file " + t.file + ": " +
                         std::to_string(sweeps.size()) + " sweep(s) for " + std::to_string(n_stim) +
                         " stimuli x " + std::to_string(n_sites) +
                         " recorded sites: a recording file gives one sweep per stimulus at one "
                         "site (select them with fit.target.sweeps, or use "
                         "[[fit.target.recording]] tables)");
    }
    for (std::size_t k = 0; k < n_stim; ++k) place(k, 0, r, sweeps[k], "fit.target.file");
  } else {
    for (const recording_target& x : t.recordings) {
      std::size_t stim = n_stim;
      for (std::size_t k = 0; k < n_stim; ++k)
        if (rc.stimuli[k].name == x.stimulus) stim = k;
      if (stim == n_stim) {
        std::string names;
        for (const auto& st : rc.stimuli) names += (names.empty() ? "" : ", ") + st.name;
        throw config_error("cellfit::fit: " + x.where + ": stimulus \"" + x.stimulus +
                           "\" is not one of the fit's stimuli (" + names + ")");
      }
      std::size_t site = 0;
      if (!x.site.empty()) {
        const int named = s.find_site(x.site);
        if (named >= 0) {
          site = static_cast<std::size_t>(named);
        } else if (x.site.find_first_not_of("0123456789") == std::string::npos &&
                   x.site.size() < 10) {
          site = static_cast<std::size_t>(std::stoul(x.site));
        } else {
          site = n_sites;
        }
        if (site >= n_sites) {
          throw config_error("cellfit::fit: " + x.where + ": site \"" + x.site +
                             "\": the fit records " + std::to_string(n_sites) + " site(s)");
        }
      }
      const recording r = read_recording_input(x.file);
      const auto sweeps = select_sweeps(r, x.sweep.empty() ? "0" : x.sweep);
      if (sweeps.size() != 1) {
        throw config_error("cellfit::fit: " + x.where + ": sweep \"" + x.sweep + "\" names " +
                           std::to_string(sweeps.size()) + " sweeps, expected one");
      }
      place(stim, site, r, sweeps[0], x.where);
    }
    for (std::size_t cell = 0; cell < source.size(); ++cell) {
      if (source[cell].empty()) {
        throw config_error(
            "cellfit::fit: [[fit.target.recording]] gives no recording for "
            "stimulus " +
            rc.stimuli[cell / n_sites].name + ", site " + s.site_name(cell % n_sites));
      }
    }
  }
  return target;
}

}  // namespace

std::string target_label(const target_settings& t) {
  if (t.type == "features") return t.features_file;
  if (t.type != "file") return "synthetic";
  if (t.recordings.empty()) return t.file;
  std::string files;
  for (const auto& r : t.recordings) files += (files.empty() ? "" : ",") + r.file;
  return files;
}

void make_target(const run_config& rc, const parameter_space& space, std::vector<double>& target,
                 std::vector<double>& truth, bool quiet) {
  const auto& s = rc.settings;
  const std::size_t n_stim = rc.stimuli.size(), n_sites = s.record_compartments.size();
  const std::size_t n_samples = static_cast<std::size_t>(s.n_samples());
  const target_settings& t = rc.fit.target;
  if (t.type == "file" && (!t.recordings.empty() || !is_trace_dataset(t.file, t.dataset))) {
    target = recorded_target(rc);
    return;
  }
  if (t.type == "file") {
    h5::file f = h5::file::open_read(t.file);
    std::vector<std::size_t> dims;
    target = f.read_doubles(t.dataset, dims);
    if (dims.size() != 3 || dims[0] != n_stim || dims[1] != n_sites || dims[2] != n_samples) {
      std::string shape;
      for (std::size_t d : dims) shape += (shape.empty() ? "" : " x ") + std::to_string(d);
      throw config_error("cellfit::fit: " + t.file + ":" + t.dataset + " has shape [" + shape +
                         "], the fit records [" + std::to_string(n_stim) + " stimuli x " +
                         std::to_string(n_sites) + " sites x " + std::to_string(n_samples) +
                         " samples]");
    }
    const std::string sites_name = t.dataset.substr(0, t.dataset.rfind('/') + 1) + "sites";
    if (f.exists(sites_name)) {
      std::vector<std::size_t> sd;
      const auto sites = f.read_ints(sites_name, sd);
      for (std::size_t k = 0; k < n_sites && k < sites.size(); ++k) {
        if (sites[k] != s.record_compartments[k]) {
          throw config_error("cellfit::fit: " + t.file + ":" + sites_name + "[" +
                             std::to_string(k) + "] is compartment " + std::to_string(sites[k]) +
                             ", the fit records compartment " +
                             std::to_string(s.record_compartments[k]));
        }
      }
    }
    for (std::size_t i = 0; i < target.size(); ++i) {
      if (!std::isfinite(target[i])) {
        throw config_error("cellfit::fit: " + t.file + ":" + t.dataset + " value " +
                           std::to_string(i) + " is not finite");
      }
    }
    return;
  }
  // Synthetic: the model's values x U(low, high), one factor per fitted scalar.
  truth = space.model_values();
  for (std::size_t i = 0; i < truth.size(); ++i) {
    truth[i] *= t.low + (t.high - t.low) * uniform01(counter_hash(t.seed, i, 0x67));
    if (truth[i] < space.lower(i) || truth[i] > space.upper(i)) {
      throw config_error("cellfit::fit: the synthetic ground truth of " + space.names()[i] + " (" +
                         std::to_string(truth[i]) + ") lies outside its bounds [" +
                         std::to_string(space.lower(i)) + ", " + std::to_string(space.upper(i)) +
                         "]: widen the bounds or narrow fit.target.low/high");
    }
  }
  if (!quiet) std::cerr << "  simulating the synthetic target (seed " << t.seed << ")\n";
  const simulation_result r = simulate_batch(rc.model, {space.to_set(truth)}, rc.stimuli, s);
  if (r.n_failed() > 0) {
    throw config_error("cellfit::fit: " + std::to_string(r.n_failed()) + " of " +
                       std::to_string(r.n_cells) +
                       " target cells diverge at the synthetic ground truth (|V| > "
                       "simulation.v_bound_mv or NaN): raise v_bound_mv or narrow "
                       "fit.target.low/high");
  }
  target = r.voltage;
}

void write_config_record(h5::file& f, const run_config& rc) {
  if (rc.text.empty()) return;
  std::string path = rc.source;
  // A built-in problem has no file; any other source is a path, recorded absolute so that
  // the result can be analysed from another directory.
  if (path.rfind("builtin:", 0) != 0) {
    std::error_code ec;
    const auto abs = std::filesystem::absolute(path, ec);
    if (!ec) path = abs.string();
  }
  f.write("/fit/config/text", std::vector<std::string>{rc.text});
  f.write("/fit/config/path", std::vector<std::string>{path});
  if (!rc.overrides.empty()) f.write("/fit/config/overrides", rc.overrides);
}

void write_fit_parameters(h5::file& f, const parameter_space& space) {
  const std::size_t P = space.size();
  f.write("/fit/param_names", space.names());
  std::vector<double> lo(P), hi(P);
  for (std::size_t i = 0; i < P; ++i) {
    lo[i] = space.lower(i);
    hi[i] = space.upper(i);
  }
  f.write("/fit/bounds/lower", lo, {P});
  f.write("/fit/bounds/upper", hi, {P});
  std::vector<std::string> groups, transforms, distributions;
  for (const auto& p : space.parameters()) {
    groups.push_back(parameter_label(p.mechanism, p.param) +
                     (p.scope == "all" ? "" : "@" + p.scope));
    transforms.push_back(transform_name(p.transform));
    distributions.push_back(p.distribution);
  }
  f.write("/fit/parameters/names", groups);
  f.write("/fit/parameters/transforms", transforms);
  f.write("/fit/parameters/distributions", distributions);
  std::vector<std::int64_t> group_of(P);
  for (std::size_t i = 0; i < P; ++i) group_of[i] = static_cast<std::int64_t>(space.group_of(i));
  f.write("/fit/parameters/of_param", group_of, {P});
}

void write_fit_time(h5::file& f, const run_config& rc, bool names) {
  const auto& s = rc.settings;
  std::vector<double> t(static_cast<std::size_t>(s.n_samples()));
  for (std::size_t k = 0; k < t.size(); ++k)
    t[k] = static_cast<double>(k) * s.record_every * s.dt_ms;
  f.write("/fit/time_ms", t, {t.size()});
  if (!names) return;
  std::vector<std::string> stim_names;
  for (const auto& st : rc.stimuli) stim_names.push_back(st.name);
  f.write("/fit/stimuli/names", stim_names);
}

void print_gt_table(const parameter_space& space, const std::vector<double>& initial,
                    const std::vector<double>& best, const std::vector<double>& truth,
                    const char* initial_label) {
  const auto first = gt_error_by_group(space, initial, truth);
  const auto last = gt_error_by_group(space, best, truth);
  std::printf("%-28s %12s %12s %10s\n", "GT error (mean |g* - g|)", initial_label, "best",
              "decrease");
  for (std::size_t k = 0; k < first.size(); ++k) {
    const auto& fp = space.parameters()[k];
    const std::string name =
        parameter_label(fp.mechanism, fp.param) + (fp.scope == "all" ? "" : "@" + fp.scope);
    std::printf("%-28s %12.5g %12.5g %9.2f%%\n", name.c_str(), first[k], last[k],
                first[k] > 0 ? 100.0 * (1 - last[k] / first[k]) : 0.0);
  }
}

void print_fitted_values(const parameter_space& space, const std::vector<double>& initial,
                         const std::vector<double>& best, const std::vector<double>& truth,
                         const char* initial_label) {
  const bool known = truth.size() == space.size();
  std::printf("%-28s %-8s %12s %12s%s\n", "fitted values", "unit", initial_label, "best",
              known ? "  ground truth" : "");
  for (std::size_t i = 0; i < space.size(); ++i) {
    const fit_parameter& fp = space.parameters()[space.group_of(i)];
    std::string unit;
    const mechanism_info* info =
        fp.mechanism.empty() ? &passive_info() : find_mechanism(fp.mechanism);
    if (info) {
      const int k = info->param_index(fp.param);
      if (k >= 0) unit = info->param_units[static_cast<std::size_t>(k)];
    }
    std::printf("%-28s %-8s %12.6g %12.6g", space.names()[i].c_str(), unit.c_str(),
                i < initial.size() ? initial[i] : std::nan(""),
                i < best.size() ? best[i] : std::nan(""));
    if (known) std::printf(" %13.6g", truth[i]);
    std::printf("\n");
  }
}

epoch_callback epoch_progress_printer(bool lbfgsb) {
  return [lbfgsb](const epoch_report& e) {
    if (e.replayed) return;
    const double per = e.iteration > 0 ? e.elapsed_seconds / e.iteration : e.epoch_seconds;
    const double eta = per * std::max(0, e.planned - 1 - e.iteration);
    char gt[48] = "";
    if (e.gt_error >= 0) std::snprintf(gt, sizeof gt, "  GT error %.4g", e.gt_error);
    char div[64] = "";
    if (e.diverged > 0)
      std::snprintf(div, sizeof div, "  (%d cells diverged: step rejected)", e.diverged);
    if (lbfgsb) {
      // L-BFGS-B counts loss evaluations (line searches make several per iteration); it
      // usually converges before the most it may make, so that is shown as a bound.
      std::fprintf(stderr,
                   "  evaluation %4d (at most %d)  loss %.5g  normalized %.5g%s  %.3f s/eval%s\n",
                   e.iteration + 1, e.planned, e.loss, e.normalized_loss, gt, e.epoch_seconds, div);
      return;
    }
    std::fprintf(stderr, "  epoch %4d/%d  loss %.5g  normalized %.5g%s  %.3f s/epoch  ETA %s%s\n",
                 e.iteration, e.planned - 1, e.loss, e.normalized_loss, gt, e.epoch_seconds,
                 hms(eta).c_str(), div);
  };
}

fit_run prepare_fit_run(const run_config& rc, const fit_options& o) {
  fit_run r;
  r.ctx = o.comm ? o.comm : comm::make_local_context();
  r.root = r.ctx->rank() == 0;
  r.quiet = o.quiet || !r.root;
  r.out = o.out.empty() ? rc.fit.output : o.out;
  r.checkpoint = !o.checkpoint.empty()        ? o.checkpoint
                 : !rc.fit.checkpoint.empty() ? rc.fit.checkpoint
                                              : r.out + ".ckpt";
  r.resume = o.resume;
  r.checkpoint_every = o.checkpoint_every >= 0 ? o.checkpoint_every : rc.fit.checkpoint_every;
  comm::agree(*r.ctx, [&] {
    if (!r.root) return;
    check_writable(r.out, "fit");
    check_writable(r.checkpoint, "fit", "checkpoint");
    if (r.checkpoint == r.out) {
      throw usage_error("cellfit::fit: the checkpoint file is the output file (" + r.out +
                        "): give --checkpoint another name");
    }
    if (!r.resume.empty() && !std::ifstream(r.resume)) {
      throw io_error("cellfit::fit: --resume " + r.resume + ": no such file");
    }
    if (r.resume != r.checkpoint && std::ifstream(r.checkpoint)) {
      // An earlier run's checkpoint. One written on Ctrl-C belongs to an interactive
      // session that is iterating on its config, so it is moved aside with a note; one a
      // scheduler's signal or the periodic schedule wrote belongs to a job that should be
      // resumed, so a new fit refuses to start unless asked (--fresh). Neither is deleted.
      const std::string cause = checkpoint::read_written_on(r.checkpoint);
      if (!o.fresh && cause != "SIGINT") {
        throw io_error("cellfit::fit: " + r.checkpoint + " holds the checkpoint of an earlier run" +
                       (cause.empty() ? std::string() : " (written on " + cause + ")") +
                       ": continue it with --resume " + r.checkpoint +
                       ", or start afresh with --fresh (it is kept as " + r.checkpoint + ".prev)");
      }
      const std::string kept = r.checkpoint + ".prev";
      if (std::rename(r.checkpoint.c_str(), kept.c_str()) != 0) {
        throw io_error("cellfit::fit: cannot move the earlier checkpoint " + r.checkpoint + " to " +
                       kept + ": " + std::strerror(errno));
      }
      if (r.root) {
        std::cerr << "cellfit: note: " << r.checkpoint << " held the checkpoint of an earlier run"
                  << (cause == "SIGINT" ? " stopped with Ctrl-C" : "") << "; kept as " << kept
                  << " (continue it with --resume " << kept << ")\n";
      }
    }
  });
  return r;
}

void write_plan(h5::file& f, const sched::plan& p, const comm::context& ctx) {
  const std::size_t B = p.blocks.size();
  std::vector<std::int64_t> table;
  std::vector<double> cost;
  for (const auto& b : p.blocks) {
    table.insert(table.end(),
                 {b.rank, b.device, b.chunk, static_cast<std::int64_t>(b.first_set),
                  static_cast<std::int64_t>(b.n_sets), static_cast<std::int64_t>(b.first_stimulus),
                  static_cast<std::int64_t>(b.n_stimuli)});
    cost.push_back(b.cost_s);
  }
  if (B > 0) {
    f.write("/fit/plan/blocks", table, {B, 7});
    f.write("/fit/plan/cost_s", cost, {B});
  } else {
    f.write("/fit/plan/summary", std::vector<std::string>{p.summary()});
  }
  f.write("/fit/plan/columns", std::vector<std::string>{"rank", "device", "chunk", "first_set",
                                                        "n_sets", "first_stimulus", "n_stimuli"});
  f.attribute("/fit/plan/columns", "summary", p.summary());
  f.attribute("/", "ranks", static_cast<std::int64_t>(ctx.size()));
  f.attribute("/", "communicator", ctx.name());
}

void remove_checkpoint(const fit_run& r) {
  if (r.root) std::remove(r.checkpoint.c_str());
}

namespace {

std::string resume_command(const fit_run& r, const fit_options& o) {
  std::string cmd = "cellfit fit " + o.config;
  for (const auto& x : o.overrides) cmd += " --set " + x;
  if (!o.engine.empty()) cmd += " --engine " + o.engine;
  if (!o.out.empty()) cmd += " --out " + o.out;
  return cmd + " --resume " + r.checkpoint;
}

}  // namespace

void write_or_save_state(const fit_run& r, const fit_options& o,
                         const std::function<void()>& write_result,
                         const std::function<void()>& save_checkpoint) {
  if (!r.root) return;
  try {
    write_result();
  } catch (const io_error& e) {
    std::string what = e.what();
    try {
      save_checkpoint();
      what += "; the fit's state is saved in " + r.checkpoint +
              ": free space and continue with: " + resume_command(r, o);
    } catch (const error& c) {
      what += "; saving the fit's state failed too (" + std::string(c.what()) + ")";
    }
    throw io_error(what);
  }
}

void print_interrupted(const fit_run& r, const std::string& what, const fit_options& o) {
  if (!r.root) return;
  const std::string cmd = resume_command(r, o);
  std::fprintf(stderr,
               "cellfit fit: stopped by a signal after %s; checkpoint written to %s\n"
               "  continue with: %s\n",
               what.c_str(), r.checkpoint.c_str(), cmd.c_str());
}

namespace {

void write_fit(const std::string& path, const run_config& rc, const parameter_space& space,
               const fit_result& r, const std::vector<double>& target,
               const std::vector<double>& truth, const gradient_settings& g,
               const checkpoint::identity& id, const comm::context& ctx) {
  h5::atomic_output out(path);
  {
    h5::file f = h5::file::create(out.temp_path());
    const auto& h = r.history;
    const std::size_t n = h.loss.size(), P = space.size();
    f.write("/fit/history/loss", h.loss, {n});
    f.write("/fit/history/normalized_loss", h.normalized_loss, {n});
    f.write("/fit/history/wall_s", h.wall_s, {n});
    std::vector<std::int64_t> div(h.diverged.begin(), h.diverged.end());
    f.write("/fit/history/diverged_cells", div, {n});
    if (!truth.empty()) {
      f.write("/fit/history/gt_error", h.gt_error, {n});
      std::vector<double> by;
      for (const auto& row : h.gt_error_by_group) by.insert(by.end(), row.begin(), row.end());
      f.write("/fit/history/gt_error_by_parameter", by, {n, space.parameters().size()});
      f.write("/fit/ground_truth/params", truth, {P});
    }
    f.write("/fit/best/params", r.best, {P});
    f.write("/fit/initial/params", r.initial, {P});
    write_fit_parameters(f, space);

    const auto& s = rc.settings;
    const std::size_t n_stim = rc.stimuli.size(), n_sites = s.record_compartments.size();
    const std::size_t n_samples = static_cast<std::size_t>(s.n_samples());
    f.write("/fit/target/voltage", target, {n_stim, n_sites, n_samples});
    write_fit_time(f, rc, true);
    if (!r.best_voltage.empty()) {
      f.write("/fit/best/voltage", r.best_voltage, {n_stim, n_sites, n_samples});
    }
    std::vector<std::int64_t> sites(s.record_compartments.begin(), s.record_compartments.end());
    f.write("/fit/target/sites", sites, {sites.size()});
    f.write("/fit/target/site_names", s.site_names());
    write_model(f, rc.model);
    write_config_record(f, rc);

    f.attribute("/", "cellfit_version", std::string("0.1.0"));
    f.attribute("/", "command", std::string("fit"));
    f.attribute("/", "config", rc.source);
    f.attribute("/", "engine", std::string("gradient"));
    f.attribute("/", "optimizer",
                std::string(g.optimizer == optimizer_kind::adam ? "adam" : "lbfgsb"));
    f.attribute("/", "loss", std::string(loss_kind_name(g.loss.kind)));
    f.attribute("/", "final_loss", n > 0 ? h.loss.back() : r.best_loss);
    f.attribute("/", "best_loss", r.best_loss);
    if (!truth.empty()) f.attribute("/", "gt_error", gt_error(r.best, truth));
    f.attribute("/", "initial_gt_error", r.initial_gt_error);
    f.attribute("/", "wall_seconds", r.wall_seconds);
    f.attribute("/", "simulations", static_cast<std::int64_t>(r.simulations));
    f.attribute("/", "iterations", static_cast<std::int64_t>(n));
    f.attribute("/", "stop_reason", r.stop_reason);
    f.attribute("/", "checkpoint_every", static_cast<std::int64_t>(r.checkpoint_every));
    f.attribute("/", "adjoint_peak_bytes", r.peak_bytes);
    f.attribute("/", "target", target_label(rc.fit.target));
    f.attribute("/", "replayed", static_cast<std::int64_t>(r.replayed));
    write_plan(f, r.plan, ctx);
    checkpoint::write(f, id, r.log);
    f.close();
  }
  out.commit();
}

}  // namespace

std::string check_fit_config(const run_config& rc, const fit_options& o) {
  const std::string engine = o.engine.empty() ? rc.fit.engine : o.engine;
  if (engine != "gradient" && engine != "ga" && engine != "hybrid") {
    throw usage_error("cellfit::fit: --engine " + engine + ": expected gradient, ga or hybrid");
  }
  if (!rc.fit.present) {
    throw config_error("cellfit::fit: " + rc.source +
                       " has no [fit] section (parameters to fit, target, optimiser)");
  }
  if (rc.has_batch) {
    throw config_error("cellfit::fit: " + rc.source +
                       ": [batch] does not apply to fit (the optimiser chooses the parameters)");
  }
  if (engine != "ga" && rc.settings.prec != precision::fp64) {
    throw config_error("cellfit::fit: " + rc.source +
                       ": the gradient engine runs in fp64 (simulation.precision)");
  }
  // The parameters against the model (mechanism, scope, bounds, initial values).
  const parameter_space space(rc.model, rc.fit.parameters);
  return engine;
}

int run_fit(const fit_options& o) {
  const comm::context_ptr ctx = o.comm ? o.comm : comm::make_local_context();
  run_config rc;
  std::string engine;
  // Setup errors (config, files) are the same on every rank: agreed, printed once.
  comm::agree(*ctx, [&] {
    rc = load_config(o.config, o.overrides);
    engine = check_fit_config(rc, o);
  });
  // Once per command: not again for each member of an ensemble.
  if (ctx->rank() == 0 && o.member < 0) warn_implausible_values(rc, "fit");
  if (ctx->rank() == 0 && o.member < 0 && engine != "gradient" &&
      !rc.fit.ga.selection_warning.empty()) {
    std::cerr << "cellfit fit: warning: " << rc.fit.ga.selection_warning << "\n";
  }
  if (rc.fit.ensemble.present && o.member < 0) return run_ensemble(rc, o);
  if (engine == "ga") return run_ga_fit(rc, o);
  if (engine == "hybrid") return run_hybrid_fit_command(rc, o);
  const fit_run run = prepare_fit_run(rc, o);
  const comm::context& comm = *run.ctx;
  std::unique_ptr<parameter_space> space_owner;
  fit_problem p;
  checkpoint::identity id;
  gradient_log resumed;
  const gradient_settings& g = rc.fit.gradient;
  const auto& s = rc.settings;
  comm::agree(comm, [&] {
    space_owner = std::make_unique<parameter_space>(rc.model, rc.fit.parameters);
    const parameter_space& space = *space_owner;
    if (!run.quiet) {
      std::cerr << "cellfit fit: " << rc.source << ": " << rc.model.morph.source << ", "
                << rc.model.geom.n_compartments() << " compartments, " << space.size()
                << " parameters, " << rc.stimuli.size() << " stimuli, "
                << s.record_compartments.size() << " recorded sites, " << s.n_steps()
                << " steps of " << s.dt_ms << " ms; "
                << (g.optimizer == optimizer_kind::adam
                        ? "Adam, " + std::to_string(g.epochs) + " epochs"
                        : "L-BFGS-B, at most " + std::to_string(g.epochs) + " iterations (" +
                              std::to_string(3 * g.epochs + 1) + " loss evaluations)")
                << "; " << comm.size() << " rank" << (comm.size() == 1 ? "" : "s") << "\n";
    }
    p.model = &rc.model;
    p.space = &space;
    p.stimuli = rc.stimuli;
    p.settings = s;
    p.comm = run.ctx;
    make_target(rc, space, p.target, p.ground_truth, run.quiet);
    if (run.root && o.member <= 0) warn_spiking_target(rc, p.target);
    id = checkpoint::make_identity(rc, "gradient", {checkpoint::digest("target.traces", p.target)});
  });
  // The resumed log: read on rank 0 (agreed), then on every rank (each runs the optimiser).
  std::vector<double> packed;
  comm::agree(comm, [&] {
    if (run.root && !run.resume.empty()) packed = checkpoint::load_gradient(run.resume, id).pack();
  });
  if (!run.resume.empty()) {
    comm.broadcast(packed, 0);
    resumed = gradient_log::unpack(packed);
    if (!run.quiet) {
      std::cerr << "  resuming from " << run.resume << ": " << resumed.size()
                << " evaluations to replay\n";
    }
  }
  const parameter_space& space = *space_owner;

  epoch_callback progress;
  if (!run.quiet) progress = epoch_progress_printer(g.optimizer == optimizer_kind::lbfgsb);
  gradient_control control;
  control.resume = run.resume.empty() ? nullptr : &resumed;
  control.checkpoint_every = run.checkpoint_every;
  control.checkpoint = [&](const gradient_log& lg) { checkpoint::save(run.checkpoint, id, lg); };
  control.stop_requested = [] { return signals::stop_requested() != 0; };
  fit_result r;
  {
    const signals::stop_scope graceful;
    r = run_gradient_fit(p, g, progress, control);
  }
  if (r.stop_reason == "interrupted") {
    print_interrupted(run, std::to_string(r.history.loss.size()) + " evaluations", o);
    return exit_interrupted;
  }
  comm::agree(comm, [&] {
    write_or_save_state(
        run, o, [&] { write_fit(run.out, rc, space, r, p.target, p.ground_truth, g, id, comm); },
        [&] { checkpoint::save(run.checkpoint, id, r.log); });
  });
  remove_checkpoint(run);
  if (!run.root) return std::isfinite(r.best_loss) ? exit_ok : exit_diverged;

  const auto& h = r.history;
  const bool lbfgsb = g.optimizer == optimizer_kind::lbfgsb;
  // Adam's history holds the loss before each update and after the last.
  const std::size_t count = lbfgsb || h.loss.empty() ? h.loss.size() : h.loss.size() - 1;
  std::printf("cellfit fit: %zu %s (stopped: %s), %.2f s, %zu single-cell simulations -> %s\n",
              count, lbfgsb ? "L-BFGS-B loss evaluations" : "Adam epochs", r.stop_reason.c_str(),
              r.wall_seconds, r.simulations, run.out.c_str());
  if (r.replayed > 0)
    std::printf("resumed: %d evaluations replayed from %s\n", r.replayed, run.resume.c_str());
  if (!h.loss.empty()) {
    std::printf("loss %.6g -> %.6g (best %.6g); normalized %.6g -> %.6g\n", h.loss.front(),
                h.loss.back(), r.best_loss, h.normalized_loss.front(), h.normalized_loss.back());
  }
  std::printf("adjoint: checkpoint every %d steps, peak memory %.3g MB\n", r.checkpoint_every,
              r.peak_bytes / 1e6);
  if (comm.size() > 1) std::printf("%s", r.plan.summary().c_str());
  print_fitted_values(space, r.initial, r.best, p.ground_truth);
  if (!p.ground_truth.empty()) print_gt_table(space, r.initial, r.best, p.ground_truth);
  if (!std::isfinite(r.best_loss)) {
    std::fprintf(stderr,
                 "cellfit fit: %d of %zu cells diverge at the starting point (|V| > "
                 "simulation.v_bound_mv or NaN); no point to fit from: change the initial values "
                 "(result written to %s)\n",
                 h.diverged.empty() ? 0 : h.diverged.front(), p.stimuli.size(), run.out.c_str());
    return exit_diverged;
  }
  return exit_ok;
}

}  // namespace cellfit::app
