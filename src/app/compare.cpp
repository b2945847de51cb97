// cellfit compare: the GA, the gradient engine and the hybrid on one problem with one budget
// (single-cell simulations, or wall time), in the spirit of paper 000's Table 4. Prints a
// table, writes compare.h5 and, through scripts/plot_compare.py (matplotlib), PNG plots of
// loss against simulations and wall time and of target against fitted traces.
//
// Every engine is measured on one scale: the gradient engine's trace loss (fit.gradient.loss)
// of the best point found so far (hybrid/progress_curve.hpp). The budget counts the
// simulations each optimiser runs; the passes that only report (the GA generations' best on
// the trace-loss scale, each engine's best traces) are not counted.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "app/commands.hpp"
#include "app/fit_common.hpp"
#include "app/model_export.hpp"
#include "app/python_script.hpp"
#include "common/error.hpp"
#include "hybrid/hybrid_fit.hpp"
#include "hybrid/progress_curve.hpp"
#include "io/config_units.hpp"
#include "io/h5.hpp"
#include "sim/batch_simulator.hpp"

namespace cellfit::app {

const char* compare_config_text() {
  return R"(# cellfit compare's built-in problem: paper 000's toy (the jk model on a 6-compartment
# chain, per-compartment gNa and gK: 12 parameters) with a synthetic ground truth, 20
# random-step stimuli at every compartment, every compartment recorded.
[model]
morphology = "builtin:chain6"
axial_weight = 0.5

[model.mechanisms.jk]
regions = "all"

[simulation]
dt_ms = 0.1
t_stop_ms = 5.0
record_sites = "all"

[[stimulus]]
type = "random_steps"
every = "all"
intervals = 48
hazard = 0.05
i_min = 0
i_max = 20
count = 20
seed = 20230619

[fit]
output = "compare_fit.h5"
# The budget of each engine, in single-cell simulations.
max_simulations = 2000000

[[fit.parameter]]
name = "jk.gnabar"
scope = "per_compartment"
bounds = [1.0, 500.0]

[[fit.parameter]]
name = "jk.gkbar"
scope = "per_compartment"
bounds = [1.0, 500.0]

[fit.target]
type = "synthetic"
low = 0.7
high = 1.3
seed = 20230619

[fit.ga]
algorithm = "mu_plus_lambda"
selection = "single"
population = 100
offspring = 100
objective = "mse"
grouping = "sum"
seed = 1

[fit.gradient]
optimizer = "adam"
lr = 0.5
loss = "normalized"
spike_weight = 0          # paper 000's loss: the trace MSE alone

[fit.hybrid]
polish = 3
ga_fraction = 0.5
)";
}

namespace {

using clock_type = std::chrono::steady_clock;

struct engine_run {
  std::string engine;
  progress_curve curve;
  std::vector<double> best;     // physical [P]
  std::vector<double> voltage;  // best traces [stimulus][site][sample]
  double simulations = 0, wall_s = 0, final_loss = NAN, gt_error = -1;
  std::string stop_reason;
};

// At most one progress line every `every_s` seconds (and the first).
class throttle {
 public:
  explicit throttle(double every_s) : every_s_(every_s) {}
  bool due() {
    const auto now = clock_type::now();
    if (printed_ && std::chrono::duration<double>(now - last_).count() < every_s_) return false;
    printed_ = true;
    last_ = now;
    return true;
  }

 private:
  double every_s_;
  bool printed_ = false;
  clock_type::time_point last_;
};

void write_compare(const std::string& path, const run_config& rc, const parameter_space& space,
                   const fit_problem& fp, const std::vector<engine_run>& runs, double budget_sims,
                   double budget_s, const comm::context& ctx) {
  h5::atomic_output out(path);
  {
    h5::file f = h5::file::create(out.temp_path());
    const std::size_t P = space.size(), E = runs.size();
    const auto& s = rc.settings;
    const std::size_t n_stim = fp.stimuli.size(), n_sites = s.record_compartments.size();
    const std::size_t n_samples = static_cast<std::size_t>(s.n_samples());
    std::vector<std::string> names, reasons;
    std::vector<double> sims, wall, compute, loss, gte;
    for (const auto& r : runs) {
      names.push_back(r.engine);
      reasons.push_back(r.stop_reason);
      sims.push_back(r.simulations);
      wall.push_back(r.wall_s);
      compute.push_back(r.wall_s * ctx.size());
      loss.push_back(r.final_loss);
      gte.push_back(r.gt_error);
      const std::string g = "/compare/" + r.engine;
      const std::size_t n = r.curve.loss.size();
      f.write(g + "/history/simulations", r.curve.simulations, {n});
      f.write(g + "/history/wall_s", r.curve.wall_s, {n});
      f.write(g + "/history/loss", r.curve.loss, {n});
      f.write(g + "/history/gt_error", r.curve.gt_error, {n});
      std::vector<std::int64_t> phase(r.curve.phase.begin(), r.curve.phase.end());
      f.write(g + "/history/phase", phase, {n});
      f.write(g + "/best/params", r.best, {P});
      f.write(g + "/best/voltage", r.voltage, {n_stim, n_sites, n_samples});
    }
    f.write("/compare/engines", names);
    f.write("/compare/table/engine", names);
    f.write("/compare/table/simulations", sims, {E});
    f.write("/compare/table/wall_s", wall, {E});
    f.write("/compare/table/compute_rank_s", compute, {E});
    f.write("/compare/table/final_loss", loss, {E});
    f.write("/compare/table/gt_error", gte, {E});
    f.write("/compare/table/stop_reason", reasons);
    f.write("/compare/target/voltage", fp.target, {n_stim, n_sites, n_samples});
    std::vector<std::int64_t> sites(s.record_compartments.begin(), s.record_compartments.end());
    f.write("/compare/target/sites", sites, {sites.size()});
    f.write("/compare/target/site_names", s.site_names());
    std::vector<double> t(n_samples);
    for (std::size_t k = 0; k < n_samples; ++k)
      t[k] = static_cast<double>(k) * s.record_every * s.dt_ms;
    f.write("/compare/time_ms", t, {n_samples});
    std::vector<std::string> stim_names;
    for (const auto& x : fp.stimuli) stim_names.push_back(x.name);
    f.write("/compare/stimuli/names", stim_names);
    write_fit_parameters(f, space);
    if (!fp.ground_truth.empty()) f.write("/fit/ground_truth/params", fp.ground_truth, {P});
    write_model(f, rc.model);

    const gradient_settings& g = rc.fit.gradient;
    f.attribute("/", "cellfit_version", std::string("0.1.0"));
    f.attribute("/", "command", std::string("compare"));
    f.attribute("/", "config", rc.source);
    f.attribute("/", "loss", std::string(loss_kind_name(g.loss.kind)));
    f.attribute("/", "budget_simulations", budget_sims);
    f.attribute("/", "budget_seconds", budget_s);
    f.attribute("/", "ranks", static_cast<std::int64_t>(ctx.size()));
    f.attribute("/", "communicator", ctx.name());
    f.close();
  }
  out.commit();
}

void print_table(const std::vector<engine_run>& runs, int ranks, bool has_truth,
                 const char* loss_name) {
  std::printf("\n%-9s %6s %12s %10s %12s %13s %12s  %s\n", "engine", "ranks", "simulations",
              "wall [s]", "compute", loss_name, "GT error", "stop");
  for (const auto& r : runs) {
    char gt[32] = "-";
    if (has_truth) std::snprintf(gt, sizeof gt, "%.4g", r.gt_error);
    char compute[32];
    std::snprintf(compute, sizeof compute, "%.1f rank-s", r.wall_s * ranks);
    std::printf("%-9s %6d %12.0f %10.2f %12s %13.5g %12s  %s\n", r.engine.c_str(), ranks,
                r.simulations, r.wall_s, compute, r.final_loss, gt, r.stop_reason.c_str());
  }
}

}  // namespace

int run_compare(const compare_options& o) {
  const comm::context_ptr ctx = o.comm ? o.comm : comm::make_local_context();
  const comm::context& comm = *ctx;
  const bool root = comm.rank() == 0;
  const bool quiet = o.quiet || !root;
  run_config rc;
  std::vector<std::string> engines = o.engines;
  if (engines.empty()) engines = {"ga", "gradient", "hybrid"};
  const std::string h5_path = (std::filesystem::path(o.out_dir) / "compare.h5").string();
  comm::agree(comm, [&] {
    rc = o.config.empty() ? parse_config(compare_config_text(), "builtin:compare", o.overrides)
                          : load_config(o.config, o.overrides);
    if (root) warn_implausible_values(rc, "compare");
    for (const auto& e : engines) {
      if (e != "ga" && e != "gradient" && e != "hybrid")
        throw usage_error("cellfit::compare: --engines: unknown engine '" + e +
                          "' (ga, gradient, hybrid)");
    }
    if (!rc.fit.present) {
      throw config_error("cellfit::compare: " + rc.source +
                         " has no [fit] section (parameters to fit, target)");
    }
    if (rc.fit.target.type == "features") {
      throw config_error("cellfit::compare: " + rc.source +
                         ": the engines are compared on target traces; fit.target.type = "
                         "\"features\" has none (use \"synthetic\" or \"file\")");
    }
    if (rc.has_batch || rc.fit.ensemble.present) {
      throw config_error("cellfit::compare: " + rc.source +
                         ": [batch] and [fit.ensemble] do not apply to compare");
    }
    if (rc.settings.prec != precision::fp64) {
      throw config_error("cellfit::compare: " + rc.source +
                         ": the gradient engine runs in fp64 (simulation.precision)");
    }
    if (!root) return;
    std::error_code ec;
    std::filesystem::create_directories(o.out_dir, ec);
    if (ec) {
      throw io_error("cellfit::compare: --out-dir " + o.out_dir + ": " + ec.message());
    }
    check_writable(h5_path, "compare");
  });

  fit_run run;
  run.ctx = ctx;
  run.root = root;
  run.quiet = quiet;
  ga_state st;
  fit_problem fp;
  comm::agree(comm, [&] {
    setup_ga(rc, run, st);
    fp = trace_problem_of(rc, st, ctx);
  });
  const parameter_space& space = *st.space;
  const ga::ga_problem gp = ga_problem_of(rc, st, ctx);

  // The budget: --budget-seconds, else --budget, else fit.max_seconds / fit.max_simulations,
  // else what the config's GA would spend.
  const double S = static_cast<double>(fp.stimuli.size());
  const ga::ga_settings& ga0 = rc.fit.ga.algorithm;
  double budget_s = o.budget_seconds > 0 ? o.budget_seconds : 0;
  double budget_sims = 0;
  if (budget_s <= 0) {
    budget_sims = o.budget_simulations > 0 ? o.budget_simulations : rc.fit.max_simulations;
    if (budget_sims <= 0 && o.budget_simulations <= 0 && rc.fit.max_seconds > 0)
      budget_s = rc.fit.max_seconds;
  }
  if (budget_s <= 0 && budget_sims <= 0) {
    budget_sims = (ga0.population + static_cast<double>(ga0.generations) * ga0.offspring) * S;
  }
  // Generations and epochs the budget allows (the budget stops each engine exactly).
  auto generations_for = [&](double sims) {
    if (budget_s > 0) return 1000000000;
    const double lambda = ga0.algorithm == ga::strategy::cmaes && ga0.offspring <= 0
                              ? 4 + 3 * std::log(static_cast<double>(space.size()))
                              : ga0.offspring;
    return std::max(0, static_cast<int>(std::ceil((sims - ga0.population * S) / (lambda * S))));
  };
  auto epochs_for = [&](double sims) {
    if (budget_s > 0) return 10000000;
    return std::max(1, static_cast<int>(sims / (2 * S)));
  };
  const char* loss_name = rc.fit.gradient.loss.kind == loss_kind::mse          ? "loss (mse)"
                          : rc.fit.gradient.loss.kind == loss_kind::normalized ? "loss (norm.)"
                                                                               : "loss (spikes)";
  if (!quiet) {
    std::fprintf(stderr, "cellfit compare: %s; engines", rc.source.c_str());
    for (const auto& e : engines) std::fprintf(stderr, " %s", e.c_str());
    if (budget_s > 0) {
      std::fprintf(stderr, "; budget %.4g s of wall time each", budget_s);
    } else {
      std::fprintf(stderr, "; budget %.0f single-cell simulations each", budget_sims);
    }
    std::fprintf(stderr, "; %d rank%s\n", comm.size(), comm.size() == 1 ? "" : "s");
  }

  std::vector<engine_run> runs;
  for (std::size_t k = 0; k < engines.size(); ++k) {
    const std::string& e = engines[k];
    if (!quiet) std::fprintf(stderr, "[%zu/%zu] %s\n", k + 1, engines.size(), e.c_str());
    engine_run out;
    out.engine = e;
    throttle every(2.0);
    ga::generation_callback on_gen;
    epoch_callback on_epoch;
    if (!quiet) {
      on_gen = [&every, budget_sims](const ga::generation_report& g) {
        if (!every.due() || g.replayed) return;
        std::fprintf(stderr, "  gen %5d  best objective %.5g  %.1f s%s\n", g.generation, g.best,
                     g.elapsed_s, budget_sims > 0 ? "" : " (wall-time budget)");
      };
      on_epoch = [&every](const epoch_report& r) {
        if (!every.due()) return;
        std::fprintf(stderr, "  evaluation %5d  loss %.5g  %.1f s\n", r.iteration, r.loss,
                     r.elapsed_seconds);
      };
    }
    if (e == "ga") {
      ga::ga_settings gs = ga0;
      gs.generations = generations_for(budget_sims);
      gs.max_simulations = budget_sims;
      gs.max_wall_s = budget_s;
      gs.record_population = false;
      const ga::ga_result r = ga::run_genetic_fit(gp, gs, on_gen);
      comm::agree(comm, [&] {
        if (!root) return;
        out.curve = ga_curve(r, fp, rc.fit.gradient);
        out.best = r.hall_of_fame.empty() ? space.initial_values() : r.hall_of_fame.front().params;
        out.simulations = static_cast<double>(r.simulations);
        out.wall_s = r.wall_seconds;
        out.stop_reason = r.stop_reason;
      });
    } else if (e == "gradient") {
      gradient_settings g = rc.fit.gradient;
      g.epochs = epochs_for(budget_sims);
      g.max_simulations = budget_sims;
      g.max_wall_s = budget_s;
      const fit_result r = run_gradient_fit(fp, g, on_epoch);
      comm::agree(comm, [&] {
        if (!root) return;
        out.curve = gradient_curve(r, fp);
        out.best = r.best;
        out.simulations = r.log.simulations.empty() ? 0.0 : r.log.simulations.back();
        out.wall_s = r.wall_seconds;
        out.stop_reason = r.stop_reason;
      });
    } else {
      const hybrid_settings& hs = rc.fit.hybrid;
      ga::ga_settings gs = ga0;
      gs.generations = generations_for(hs.ga_fraction * budget_sims);
      gs.record_population = false;
      gradient_settings g = rc.fit.gradient;
      g.epochs = epochs_for((1 - hs.ga_fraction) * budget_sims / hs.polish);
      g.max_simulations = budget_sims;
      g.max_wall_s = budget_s;
      hybrid_callbacks cb;
      cb.on_generation = on_gen;
      cb.on_epoch = on_epoch;
      if (!quiet) {
        cb.on_phase = [](int phase, int of, const std::vector<double>&) {
          if (phase > 0) std::fprintf(stderr, "  polish %d/%d\n", phase, of);
        };
      }
      const hybrid_result r = run_hybrid_fit(gp, gs, fp, g, hs, cb);
      comm::agree(comm, [&] {
        if (!root) return;
        out.curve = hybrid_curve(r, fp, rc.fit.gradient);
        out.best = r.best_params;
        double sims = r.ga.simulations;
        for (const auto& p : r.polished)
          sims += p.log.simulations.empty() ? 0.0 : p.log.simulations.back();
        out.simulations = sims;
        out.wall_s = r.wall_seconds;
        out.stop_reason = r.stop_reason;
      });
    }
    comm::agree(comm, [&] {
      if (!root) return;
      out.final_loss = out.curve.loss.empty() ? NAN : out.curve.loss.back();
      if (!fp.ground_truth.empty()) out.gt_error = gt_error(out.best, fp.ground_truth);
      const simulation_result b =
          simulate_batch(rc.model, {space.to_set(out.best)}, fp.stimuli, fp.settings);
      out.voltage = b.voltage;
      if (!quiet) {
        std::fprintf(stderr, "  %s: %.0f simulations, %.2f s, %s %.5g", e.c_str(), out.simulations,
                     out.wall_s, loss_name, out.final_loss);
        if (out.gt_error >= 0) std::fprintf(stderr, ", GT error %.4g", out.gt_error);
        std::fprintf(stderr, " (%s)\n", out.stop_reason.c_str());
      }
    });
    runs.push_back(std::move(out));
  }

  comm::agree(comm, [&] {
    if (root) write_compare(h5_path, rc, space, fp, runs, budget_sims, budget_s, comm);
  });
  if (!root) return exit_ok;

  if (budget_s > 0) {
    std::printf("cellfit compare: %s, budget %.4g s of wall time per engine\n", rc.source.c_str(),
                budget_s);
  } else {
    std::printf("cellfit compare: %s, budget %.0f single-cell simulations per engine\n",
                rc.source.c_str(), budget_sims);
  }
  print_table(runs, comm.size(), !fp.ground_truth.empty(), loss_name);
  std::printf("\n%s: the best point found so far (trace loss of fit.gradient.loss)%s\n", loss_name,
              fp.ground_truth.empty() ? "" : "; GT error: mean |g* - g| over the parameters");
  std::printf("results: %s\n", h5_path.c_str());
  if (!o.plots) return exit_ok;
  const std::string script = find_script("plot_compare.py", "CELLFIT_PLOT_COMPARE");
  const int rc_plot =
      script.empty() ? 127 : run_python_script(script, {h5_path, "--out-dir", o.out_dir});
  if (rc_plot != 0) {
    std::fprintf(stderr,
                 "cellfit compare: warning: no PNG plots (%s); the results are in %s; plot them "
                 "later with: python3 scripts/plot_compare.py %s --out-dir %s\n",
                 script.empty()   ? "scripts/plot_compare.py not found"
                 : rc_plot == 127 ? "python3 could not be started"
                 : rc_plot == 3   ? "matplotlib or h5py is missing: pip install matplotlib h5py"
                                  : "the plot script failed",
                 h5_path.c_str(), h5_path.c_str(), o.out_dir.c_str());
  }
  return exit_ok;
}

}  // namespace cellfit::app
