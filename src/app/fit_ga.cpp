// cellfit fit --engine ga: fit the [[fit.parameter]]s with the genetic algorithm (or CMA-ES)
// against feature targets or target traces, print a progress line per generation, and write
// the fit contract plus /fit/population and /fit/hall_of_fame (docs/hdf5.md).

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <utility>

#include "app/fit_common.hpp"
#include "app/model_export.hpp"
#include "common/error.hpp"
#include "common/signals.hpp"
#include "ga/genetic_fit.hpp"
#include "ga/objectives.hpp"
#include "gradient/gradient_fit.hpp"
#include "io/checkpoint.hpp"
#include "io/feature_targets.hpp"
#include "model/cable_geometry.hpp"
#include "sim/batch_simulator.hpp"

namespace cellfit::app {

namespace {

// A target's own eFEL settings and window (features.json's per-feature entries), as
// " Threshold=-55 stim_start=300"; empty when it has none.
std::string own_settings(const ga::feature_target& t) {
  std::string out;
  char item[160];
  for (const auto& x : t.efel) {
    std::snprintf(item, sizeof item, " %s=%.17g%s", x.name.c_str(), x.number, x.text.c_str());
    out += item;
  }
  const std::pair<const char*, double> window[] = {{"stim_start", t.stim_start_ms},
                                                   {"stim_end", t.stim_end_ms},
                                                   {"stimulus_current", t.stimulus_current_na}};
  for (const auto& [key, x] : window) {
    if (!std::isnan(x)) {
      std::snprintf(item, sizeof item, " %s=%.17g", key, x);
      out += item;
    }
  }
  return out;
}

std::vector<double> flatten(const std::vector<std::vector<ga::ga_individual>>& pops,
                            bool objectives, std::size_t width) {
  std::vector<double> out;
  for (const auto& pop : pops) {
    for (const auto& ind : pop) {
      const auto& v = objectives ? ind.objectives : ind.params;
      out.insert(out.end(), v.begin(), v.end());
      if (v.size() != width) throw internal_error("cellfit::fit: ragged population record");
    }
  }
  return out;
}

void write_ga_fit(const std::string& path, const run_config& rc, const parameter_space& space,
                  const ga::ga_result& r, const ga_setup& g, const ga::scorer& sc,
                  const std::vector<double>& best_voltage, const checkpoint::identity& id,
                  const comm::context& ctx) {
  const ga::ga_settings& a = rc.fit.ga.algorithm;
  h5::atomic_output out(path);
  {
    h5::file f = h5::file::create(out.temp_path());
    const auto& h = r.history;
    const std::size_t n = h.best.size(), P = space.size(), M = sc.n_objectives();
    f.write("/fit/history/loss", h.best, {n});
    f.write("/fit/history/median", h.median, {n});
    f.write("/fit/history/wall_s", h.wall_s, {n});
    f.write("/fit/history/simulate_s", h.simulate_s, {n});
    f.write("/fit/history/score_s", h.score_s, {n});
    f.write("/fit/history/select_s", h.select_s, {n});
    f.write("/fit/history/copy_s", h.copy_s, {n});
    f.write("/fit/history/communicate_s", h.communicate_s, {n});
    f.write("/fit/history/overlap_efficiency", h.overlap, {n});
    std::vector<std::int64_t> div(h.diverged.begin(), h.diverged.end());
    f.write("/fit/history/diverged_cells", div, {n});
    if (!g.truth.empty()) {
      f.write("/fit/history/gt_error", h.gt_error, {n});
      f.write("/fit/ground_truth/params", g.truth, {P});
    }
    const ga::ga_individual& best = r.hall_of_fame.front();
    f.write("/fit/best/params", best.params, {P});
    f.write("/fit/best/objectives", best.objectives, {M});
    write_fit_parameters(f, space);
    f.write("/fit/objective_names", sc.objective_names());

    const std::size_t H = r.hall_of_fame.size();
    f.write("/fit/hall_of_fame/params", flatten({r.hall_of_fame}, false, P), {H, P});
    f.write("/fit/hall_of_fame/objectives", flatten({r.hall_of_fame}, true, M), {H, M});
    std::vector<double> totals;
    for (const auto& x : r.hall_of_fame) totals.push_back(x.total);
    f.write("/fit/hall_of_fame/total", totals, {H});
    if (!r.populations.empty()) {
      const std::size_t G = r.populations.size(), N = r.populations.front().size();
      f.write("/fit/population/params", flatten(r.populations, false, P), {G, N, P});
      f.write("/fit/population/objectives", flatten(r.populations, true, M), {G, N, M});
    }

    const auto& s = rc.settings;
    const std::size_t n_stim = rc.stimuli.size(), n_sites = s.record_compartments.size();
    const std::size_t n_samples = static_cast<std::size_t>(s.n_samples());
    if (!g.target_traces.empty()) {
      f.write("/fit/target/voltage", g.target_traces, {n_stim, n_sites, n_samples});
    }
    f.write("/fit/best/voltage", best_voltage, {n_stim, n_sites, n_samples});
    std::vector<std::int64_t> sites(s.record_compartments.begin(), s.record_compartments.end());
    f.write("/fit/target/sites", sites, {sites.size()});
    f.write("/fit/target/site_names", s.site_names());
    if (!sc.targets().empty()) {
      std::vector<std::string> names, settings;
      std::vector<std::int64_t> stim, site;
      std::vector<double> mean, sd;
      for (const auto& t : sc.targets()) {
        names.push_back(t.feature);
        const std::string own = own_settings(t);
        settings.push_back(own.empty() ? own : own.substr(1));
        stim.push_back(static_cast<std::int64_t>(t.stimulus));
        site.push_back(static_cast<std::int64_t>(t.site));
        mean.push_back(t.mean);
        sd.push_back(t.std);
      }
      const std::size_t T = names.size();
      f.write("/fit/target/features/name", names);
      f.write("/fit/target/features/stimulus", stim, {T});
      f.write("/fit/target/features/site", site, {T});
      f.write("/fit/target/features/mean", mean, {T});
      f.write("/fit/target/features/std", sd, {T});
      f.write("/fit/target/features/settings", settings);
    }
    std::vector<std::string> stim_names;
    std::vector<double> win;
    for (std::size_t k = 0; k < n_stim; ++k) {
      stim_names.push_back(rc.stimuli[k].name);
      win.push_back(g.windows[k].start_ms);
      win.push_back(g.windows[k].end_ms);
    }
    f.write("/fit/stimuli/names", stim_names);
    f.write("/fit/stimuli/window_ms", win, {n_stim, 2});
    write_fit_time(f, rc, false);
    write_model(f, rc.model);
    write_config_record(f, rc);

    f.attribute("/", "cellfit_version", std::string("0.1.0"));
    f.attribute("/", "command", std::string("fit"));
    f.attribute("/", "config", rc.source);
    f.attribute("/", "engine", std::string("ga"));
    f.attribute("/", "algorithm", std::string(ga::strategy_name(a.algorithm)));
    f.attribute("/", "selection", std::string(ga::selection_name(a.selection)));
    f.attribute("/", "objective", rc.fit.ga.objective);
    f.attribute("/", "population", static_cast<std::int64_t>(a.population));
    f.attribute("/", "offspring", static_cast<std::int64_t>(a.offspring));
    f.attribute("/", "generations", static_cast<std::int64_t>(a.generations));
    f.attribute("/", "seed", static_cast<std::int64_t>(a.seed));
    f.attribute("/", "penalty", g.scoring.penalty);
    f.attribute("/", "final_loss", n > 0 ? h.best.back() : best.total);
    f.attribute("/", "best_loss", best.total);
    if (!g.truth.empty()) f.attribute("/", "gt_error", gt_error(best.params, g.truth));
    f.attribute("/", "wall_seconds", r.wall_seconds);
    f.attribute("/", "simulations", static_cast<std::int64_t>(r.simulations));
    f.attribute("/", "iterations", static_cast<std::int64_t>(n));
    f.attribute("/", "stop_reason", r.stop_reason);
    f.attribute("/", "target", target_label(rc.fit.target));
    f.attribute("/", "replayed", static_cast<std::int64_t>(r.replayed));
    f.attribute("/", "overlap", static_cast<std::int64_t>(rc.parallel.overlap ? 1 : 0));
    write_plan(f, r.plan, ctx);
    checkpoint::write(f, id, r.log);
    f.close();
  }
  out.commit();
}

}  // namespace

void setup_ga(run_config& rc, const fit_run& run, ga_state& st) {
  const ga_fit_settings& gs = rc.fit.ga;
  const target_settings& ts = rc.fit.target;
  st.space = std::make_unique<parameter_space>(rc.model, rc.fit.parameters);
  const parameter_space& space = *st.space;
  ga_setup& g = st.g;

  // Stimuli from BluePyOpt protocols replace the config's.
  bluepyopt_targets bp;
  if (ts.type == "features") {
    if (gs.objective != "features") {
      throw config_error("cellfit::fit: " + rc.source +
                         ": fit.target.type = \"features\" needs fit.ga.objective = \"features\"");
    }
    bp = read_bluepyopt_targets(ts.features_file, ts.protocols_file, rc.stimuli,
                                soma_point(rc.model.morph, rc.model.geom), rc.settings);
    if (!bp.stimuli.empty()) {
      rc.stimuli = bp.stimuli;
      rc.settings.t_stop_ms = bp.t_stop_ms;
    }
    g.notes = bp.notes;
  }
  auto& sc = g.scoring;
  sc.kind = ga::objective_kind_from(gs.objective);
  sc.grouping = gs.grouping;
  // Spike-time scores reach (trace length)^2 per unmatched spike: a diverged cell must score
  // worse than any trace that runs.
  const double default_penalty = sc.kind == ga::objective_kind::features     ? 250.0
                                 : sc.kind == ga::objective_kind::spike_time ? 1e12
                                                                             : 1e4;
  sc.penalty = gs.penalty > 0 ? gs.penalty : default_penalty;
  sc.gamma_window_ms = gs.gamma_window_ms;
  sc.van_rossum_tau_ms = gs.van_rossum_tau_ms;
  sc.feature_site = static_cast<std::size_t>(gs.feature_site);
  for (const auto& x : rc.stimuli) sc.stimulus_names.push_back(x.name);
  sc.site_names = rc.settings.site_names();
  sc.threads = static_cast<unsigned>(gs.threads);
  sc.efel.threshold_mv = gs.threshold_mv;
  sc.efel.derivative_threshold = gs.derivative_threshold;
  if (sc.feature_site >= rc.settings.record_compartments.size()) {
    throw config_error("cellfit::fit: " + rc.source + ": fit.ga.feature_site " +
                       std::to_string(gs.feature_site) + " is not a recorded site (" +
                       std::to_string(rc.settings.record_compartments.size()) +
                       " in simulation.record_sites)");
  }
  g.windows = ga::stimulus_windows(rc.stimuli, rc.settings.t_stop_ms);
  for (std::size_t k = 0; k < g.windows.size(); ++k) {
    auto& w = g.windows[k];
    if (gs.stim_start_ms >= 0) {
      w.start_ms = gs.stim_start_ms;
      w.end_ms = gs.stim_end_ms;
    }
    if (sc.kind == ga::objective_kind::features && !(w.end_ms > w.start_ms)) {
      throw config_error("cellfit::fit: " + rc.source + ": stimulus '" + rc.stimuli[k].name +
                         "' has no stimulus window for the features (no step or waveform "
                         "within t_stop_ms): set fit.ga.stim_start_ms and fit.ga.stim_end_ms");
    }
  }

  const ga::ga_settings& a = gs.algorithm;
  const std::vector<std::string>& feature_names =
      gs.features.empty() ? default_ga_features() : gs.features;
  if (!run.quiet) {
    std::cerr << "cellfit fit: " << rc.source << ": " << rc.model.morph.source << ", "
              << rc.model.geom.n_compartments() << " compartments, " << space.size()
              << " parameters, " << rc.stimuli.size() << " stimuli, " << rc.settings.n_steps()
              << " steps of " << rc.settings.dt_ms << " ms; GA " << ga::strategy_name(a.algorithm);
    if (ga::summed_objective(a.algorithm)) {
      std::cerr << " (summed objective)";
    } else {
      std::cerr << " + " << ga::selection_name(a.selection);
    }
    if (a.algorithm == ga::strategy::de) {
      std::cerr << " " << ga::de_strategy_name(a.de.strategy) << " F " << a.de.f << " CR "
                << a.de.cr;
    }
    std::cerr << ", population " << a.population;
    if (a.algorithm != ga::strategy::de && a.algorithm != ga::strategy::pso)
      std::cerr << ", offspring " << a.offspring;
    std::cerr << ", " << a.generations << " generations, objective " << gs.objective << "\n";
  }
  if (ts.type == "features") {
    g.targets = bp.targets;
  } else {
    make_target(rc, space, g.target_traces, g.truth, run.quiet);
    if (sc.kind == ga::objective_kind::features) {
      std::vector<std::string> dropped;
      g.targets = ga::targets_from_traces(g.target_traces, g.windows, feature_names, rc.settings,
                                          sc, ts.std_fraction, ts.std_floor, dropped);
      // One note per feature: the stimuli it is left out on and the first reason.
      std::vector<std::pair<std::string, std::string>> by_feature;  // feature, stimuli
      std::vector<std::string> reasons;
      for (const auto& d : dropped) {
        const std::string stim = d.substr(d.find(' ') + 1, d.find(':') - d.find(' ') - 1);
        const std::string rest = d.substr(d.find(": ") + 2);
        const std::string feature = rest.substr(0, rest.find(':'));
        auto it = std::find_if(by_feature.begin(), by_feature.end(),
                               [&](const auto& x) { return x.first == feature; });
        if (it == by_feature.end()) {
          by_feature.emplace_back(feature, stim);
          reasons.push_back(rest.substr(rest.find(": ") + 2));
        } else {
          it->second += ", " + stim;
        }
      }
      for (std::size_t k = 0; k < by_feature.size(); ++k) {
        const bool several = by_feature[k].second.find(',') != std::string::npos;
        g.notes.push_back(by_feature[k].first + " has no target on stimul" +
                          (several ? "i " : "us ") + by_feature[k].second + " (" + reasons[k] +
                          ")");
      }
      if (g.targets.empty()) {
        throw config_error(
            "cellfit::fit: " + rc.source + ": no feature can be computed on the target traces (" +
            (dropped.empty() ? std::string("none requested") : dropped.front()) + ")");
      }
    }
  }
  if (!run.quiet) {
    for (const auto& n : g.notes) std::cerr << "  note: " << n << "\n";
  }
  st.scorer = std::make_unique<ga::scorer>(
      sc.kind != ga::objective_kind::features
          ? ga::scorer(sc, g.target_traces, rc.stimuli.size(), rc.settings)
          : ga::scorer(sc, g.targets, g.windows, rc.settings));
  const ga::scorer& scorer = *st.scorer;
  if (!run.quiet) {
    std::cerr << "  " << scorer.n_objectives() << " objectives";
    if (!scorer.targets().empty())
      std::cerr << " from " << scorer.targets().size() << " feature targets";
    std::cerr << "\n";
  }
  std::vector<std::string> extra;
  if (!g.target_traces.empty())
    extra.push_back(checkpoint::digest("target.traces", g.target_traces));
  for (std::size_t k = 0; k < scorer.targets().size(); ++k) {
    const auto& t = scorer.targets()[k];
    char line[256];
    std::snprintf(line, sizeof line, "target.features.%05zu = %zu %s %.17g %.17g", k, t.stimulus,
                  t.feature.c_str(), t.mean, t.std);
    // A target's own settings change its score, so a resume must see them too.
    const std::string own = line + own_settings(t);
    extra.push_back(own);
  }
  st.id = checkpoint::make_identity(rc, "ga", extra);
}

ga::ga_problem ga_problem_of(const run_config& rc, const ga_state& st, comm::context_ptr ctx) {
  ga::ga_problem p;
  p.model = &rc.model;
  p.space = st.space.get();
  p.stimuli = rc.stimuli;
  p.settings = rc.settings;
  p.objectives = st.scorer.get();
  p.ground_truth = st.g.truth;
  p.comm = std::move(ctx);
  p.parallel = rc.parallel;
  return p;
}

fit_problem trace_problem_of(const run_config& rc, const ga_state& st, comm::context_ptr ctx) {
  fit_problem p;
  p.model = &rc.model;
  p.space = st.space.get();
  p.stimuli = rc.stimuli;
  p.settings = rc.settings;
  p.target = st.g.target_traces;
  p.ground_truth = st.g.truth;
  p.comm = std::move(ctx);
  return p;
}

ga::generation_callback ga_progress_printer() {
  return [](const ga::generation_report& e) {
    if (e.replayed) return;
    const double per = e.generation > 0 ? e.elapsed_s / (e.generation + 1) : e.elapsed_s;
    const double eta = per * std::max(0, e.planned - e.generation);
    char gt[48] = "";
    if (e.gt_error >= 0) std::snprintf(gt, sizeof gt, "  GT error %.4g", e.gt_error);
    char div[48] = "";
    if (e.diverged > 0) std::snprintf(div, sizeof div, "  (%d cells diverged)", e.diverged);
    const auto& t = e.times;
    std::fprintf(stderr,
                 "  gen %4d/%d  best %.5g  median %.5g%s  sim %.2f s  copy %.2f s  score %.2f s"
                 "  comm %.3f s  select %.3f s  overlap %.2f  ETA %s%s\n",
                 e.generation, e.planned, e.best, e.median, gt, t.simulate_s, t.copy_s, t.score_s,
                 t.communicate_s, t.select_s, t.overlap_efficiency(), hms(eta).c_str(), div);
  };
}

int run_ga_fit(run_config& rc, const fit_options& o) {
  const fit_run run = prepare_fit_run(rc, o);
  const comm::context& comm = *run.ctx;
  ga_state st;
  comm::agree(comm, [&] { setup_ga(rc, run, st); });
  const parameter_space& space = *st.space;
  const ga_setup& g = st.g;
  const ga::scorer& scorer = *st.scorer;
  const ga::ga_settings& a = rc.fit.ga.algorithm;
  ga::ga_log resumed;
  comm::agree(comm, [&] {
    if (run.root && !run.resume.empty()) {
      resumed = checkpoint::load_ga(run.resume, st.id);
      if (!run.quiet) {
        std::cerr << "  resuming from " << run.resume << ": " << resumed.generations()
                  << " generations to replay\n";
      }
    }
  });

  const ga::ga_problem p = ga_problem_of(rc, st, run.ctx);

  ga::generation_callback progress;
  if (!run.quiet) progress = ga_progress_printer();
  ga::ga_control control;
  control.resume = run.resume.empty() ? nullptr : &resumed;
  control.checkpoint_every = run.checkpoint_every;
  control.checkpoint = [&](const ga::ga_log& lg) { checkpoint::save(run.checkpoint, st.id, lg); };
  control.stop_requested = [] { return signals::stop_requested() != 0; };
  ga::ga_result r;
  {
    const signals::stop_scope graceful;
    r = ga::run_genetic_fit(p, a, progress, control);
  }
  if (!run.quiet) std::cerr << "  " << r.plan.summary();
  if (r.stop_reason == "interrupted") {
    print_interrupted(run, std::to_string(r.history.best.size()) + " generations", o);
    return exit_interrupted;
  }
  comm::agree(comm, [&] {
    if (!run.root) return;
    const ga::ga_individual& best = r.hall_of_fame.front();
    const simulation_result bv =
        simulate_batch(rc.model, {space.to_set(best.params)}, rc.stimuli, rc.settings);
    r.simulations += bv.n_cells;
    write_or_save_state(
        run, o, [&] { write_ga_fit(run.out, rc, space, r, g, scorer, bv.voltage, st.id, comm); },
        [&] { checkpoint::save(run.checkpoint, st.id, r.log); });
  });
  remove_checkpoint(run);
  // Every simulated cell diverged: the hall of fame holds penalties only (exit 6, as
  // `cellfit simulate` does). Counted on rank 0, which holds the history.
  std::vector<double> all_diverged = {0.0};
  if (run.root) {
    std::size_t cells = 0, failed = 0;
    for (std::size_t n : r.log.evaluated) cells += n * rc.stimuli.size();
    for (int d : r.history.diverged) failed += static_cast<std::size_t>(d);
    all_diverged[0] = cells > 0 && failed >= cells ? 1.0 : 0.0;
  }
  comm.broadcast(all_diverged, 0);
  if (!run.root) return all_diverged[0] != 0 ? exit_diverged : exit_ok;

  const ga::ga_individual& best = r.hall_of_fame.front();
  const auto& h = r.history;
  std::size_t diverged = 0;
  for (int d : h.diverged) diverged += static_cast<std::size_t>(d);
  std::printf("cellfit fit: %zu generations (%s), %.2f s, %zu single-cell simulations -> %s\n",
              h.best.size(), r.stop_reason.c_str(), r.wall_seconds, r.simulations, run.out.c_str());
  if (r.replayed > 0) {
    std::printf("resumed: %d generations replayed from %s\n", r.replayed, run.resume.c_str());
  }
  std::printf("best summed objective %.6g -> %.6g (%zu objectives); %zu cells diverged\n",
              h.best.front(), best.total, scorer.n_objectives(), diverged);
  sched::stage_times sum;
  for (std::size_t k = 0; k < h.best.size(); ++k) {
    sum.simulate_s += h.simulate_s[k];
    sum.copy_s += h.copy_s[k];
    sum.score_s += h.score_s[k];
    sum.communicate_s += h.communicate_s[k];
    sum.select_s += h.select_s[k];
  }
  sum.wall_s = h.wall_s.empty() ? 0.0 : h.wall_s.back();
  std::printf(
      "time: simulate %.2f s, copy %.2f s, score %.2f s, communicate %.3f s, select %.3f s;"
      " wall %.2f s, overlap efficiency %.2f (%d rank%s, overlap %s)\n",
      sum.simulate_s, sum.copy_s, sum.score_s, sum.communicate_s, sum.select_s, sum.wall_s,
      sum.overlap_efficiency(), comm.size(), comm.size() == 1 ? "" : "s",
      rc.parallel.overlap ? "on" : "off");
  std::vector<double> start = space.initial_values();
  if (!r.populations.empty()) {
    const auto& pop0 = r.populations.front();
    start = std::min_element(pop0.begin(), pop0.end(), [](const auto& x, const auto& y) {
              return x.total < y.total;
            })->params;
  }
  print_fitted_values(space, start, best.params, g.truth, "gen 0 best");
  if (!g.truth.empty()) print_gt_table(space, start, best.params, g.truth, "gen 0 best");
  if (all_diverged[0] != 0) {
    std::fprintf(stderr,
                 "cellfit fit: every simulated cell diverged: no individual was scored "
                 "(result written to %s)\n",
                 run.out.c_str());
    return exit_diverged;
  }
  return exit_ok;
}

}  // namespace cellfit::app
