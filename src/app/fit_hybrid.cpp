// cellfit fit --engine hybrid: the genetic algorithm for global search, then a gradient
// polish of the best individuals of its hall of fame (hybrid/hybrid_fit.hpp). Writes the fit
// contract with the history on the gradient engine's loss scale (docs/hdf5.md).

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "app/fit_common.hpp"
#include "app/model_export.hpp"
#include "common/error.hpp"
#include "hybrid/hybrid_fit.hpp"
#include "hybrid/progress_curve.hpp"
#include "io/h5.hpp"

namespace cellfit::app {

namespace {

std::vector<double> rows(const std::vector<std::vector<double>>& v) {
  std::vector<double> out;
  for (const auto& r : v) out.insert(out.end(), r.begin(), r.end());
  return out;
}

void write_hybrid_fit(const std::string& path, const run_config& rc, const parameter_space& space,
                      const hybrid_result& r, const progress_curve& c, const fit_problem& fp,
                      const comm::context& ctx) {
  const gradient_settings& g = rc.fit.gradient;
  h5::atomic_output out(path);
  {
    h5::file f = h5::file::create(out.temp_path());
    const std::size_t n = c.loss.size(), P = space.size(), K = r.starts.size();
    f.write("/fit/history/loss", c.loss, {n});
    f.write("/fit/history/wall_s", c.wall_s, {n});
    f.write("/fit/history/simulations", c.simulations, {n});
    std::vector<std::int64_t> phase(c.phase.begin(), c.phase.end());
    f.write("/fit/history/phase", phase, {n});
    if (!fp.ground_truth.empty()) {
      f.write("/fit/history/gt_error", c.gt_error, {n});
      f.write("/fit/ground_truth/params", fp.ground_truth, {P});
    }
    f.write("/fit/best/params", r.best_params, {P});
    write_fit_parameters(f, space);
    const auto& s = rc.settings;
    const std::size_t n_stim = fp.stimuli.size(), n_sites = s.record_compartments.size();
    const std::size_t n_samples = static_cast<std::size_t>(s.n_samples());
    f.write("/fit/target/voltage", fp.target, {n_stim, n_sites, n_samples});
    write_fit_time(f, rc, true);
    std::vector<std::int64_t> sites(s.record_compartments.begin(), s.record_compartments.end());
    f.write("/fit/target/sites", sites, {sites.size()});
    f.write("/fit/target/site_names", s.site_names());
    if (!r.polished.empty() && !r.polished[r.best].best_voltage.empty()) {
      f.write("/fit/best/voltage", r.polished[r.best].best_voltage, {n_stim, n_sites, n_samples});
    }
    // The two phases in their own terms.
    const auto& gh = r.ga.history;
    f.write("/fit/hybrid/ga/history/loss", gh.best, {gh.best.size()});
    f.write("/fit/hybrid/ga/history/wall_s", gh.wall_s, {gh.wall_s.size()});
    if (!r.ga.hall_of_fame.empty()) {
      f.write("/fit/hybrid/ga/best/params", r.ga.hall_of_fame.front().params, {P});
      f.attribute("/fit/hybrid/ga/best/params", "objective", r.ga.hall_of_fame.front().total);
    }
    f.attribute("/fit/hybrid/ga/history/loss", "stop_reason", r.ga.stop_reason);
    if (K > 0) {
      f.write("/fit/hybrid/starts", rows(r.starts), {K, P});
      std::vector<std::vector<double>> best;
      std::vector<double> loss, wall, sims;
      std::vector<std::string> reasons;
      for (const auto& p : r.polished) {
        best.push_back(p.best);
        loss.push_back(p.best_loss);
        wall.push_back(p.wall_seconds);
        sims.push_back(static_cast<double>(p.simulations));
        reasons.push_back(p.stop_reason);
      }
      f.write("/fit/hybrid/polished/best_params", rows(best), {K, P});
      f.write("/fit/hybrid/polished/best_loss", loss, {K});
      f.write("/fit/hybrid/polished/wall_s", wall, {K});
      f.write("/fit/hybrid/polished/simulations", sims, {K});
      f.write("/fit/hybrid/polished/stop_reason", reasons);
    }
    write_model(f, rc.model);
    write_config_record(f, rc);

    f.attribute("/", "cellfit_version", std::string("0.1.0"));
    f.attribute("/", "command", std::string("fit"));
    f.attribute("/", "config", rc.source);
    f.attribute("/", "engine", std::string("hybrid"));
    f.attribute("/", "optimizer",
                std::string(g.optimizer == optimizer_kind::adam ? "adam" : "lbfgsb"));
    f.attribute("/", "loss", std::string(loss_kind_name(g.loss.kind)));
    f.attribute("/", "final_loss", r.best_loss);
    f.attribute("/", "best_loss", r.best_loss);
    if (!fp.ground_truth.empty())
      f.attribute("/", "gt_error", gt_error(r.best_params, fp.ground_truth));
    f.attribute("/", "wall_seconds", r.wall_seconds);
    f.attribute("/", "simulations", static_cast<std::int64_t>(r.simulations));
    f.attribute("/", "evaluation_simulations", static_cast<std::int64_t>(c.extra_simulations));
    f.attribute("/", "iterations", static_cast<std::int64_t>(n));
    f.attribute("/", "stop_reason", r.stop_reason);
    f.attribute("/", "polish", static_cast<std::int64_t>(rc.fit.hybrid.polish));
    f.attribute("/", "ga_fraction", rc.fit.hybrid.ga_fraction);
    f.attribute("/", "best_polish", static_cast<std::int64_t>(r.best));
    f.attribute("/", "target", target_label(rc.fit.target));
    write_plan(f, r.polished.empty() ? r.ga.plan : r.polished.back().plan, ctx);
    f.close();
  }
  out.commit();
}

}  // namespace

int run_hybrid_fit_command(run_config& rc, const fit_options& o) {
  if (!o.resume.empty()) {
    throw usage_error(
        "cellfit::fit: --resume is not available with --engine hybrid (a hybrid fit writes no "
        "checkpoint): run the GA with --engine ga and checkpoints instead");
  }
  const fit_run run = prepare_fit_run(rc, o);
  const comm::context& comm = *run.ctx;
  ga_state st;
  fit_problem fp;
  comm::agree(comm, [&] {
    if (rc.fit.target.type == "features") {
      throw config_error("cellfit::fit: " + rc.source +
                         ": --engine hybrid polishes on target traces; fit.target.type = "
                         "\"features\" has none (use --engine ga)");
    }
    setup_ga(rc, run, st);
    fp = trace_problem_of(rc, st, run.ctx);
    if (run.root && o.member <= 0) warn_spiking_target(rc, fp.target);
  });
  const ga::ga_problem gp = ga_problem_of(rc, st, run.ctx);
  const gradient_settings& grad = rc.fit.gradient;
  const hybrid_settings& hs = rc.fit.hybrid;
  if (!run.quiet) {
    std::cerr << "  then a gradient polish ("
              << (grad.optimizer == optimizer_kind::adam ? "Adam" : "L-BFGS-B") << ", "
              << grad.epochs << " epochs) of the " << hs.polish << " best individuals";
    if (rc.fit.max_simulations > 0)
      std::cerr << "; budget " << rc.fit.max_simulations << " simulations, " << 100 * hs.ga_fraction
                << "% to the GA";
    std::cerr << "\n";
  }
  hybrid_callbacks cb;
  if (!run.quiet) {
    cb.on_generation = ga_progress_printer();
    cb.on_epoch = epoch_progress_printer(grad.optimizer == optimizer_kind::lbfgsb);
    cb.on_phase = [](int phase, int of, const std::vector<double>&) {
      if (phase == 0) {
        std::fprintf(stderr, "  phase GA\n");
      } else {
        std::fprintf(stderr, "  phase polish %d/%d\n", phase, of);
      }
    };
  }
  const hybrid_result r = run_hybrid_fit(gp, rc.fit.ga.algorithm, fp, grad, hs, cb);
  progress_curve c;
  comm::agree(comm, [&] {
    if (!run.root) return;
    c = hybrid_curve(r, fp, grad);
    write_hybrid_fit(run.out, rc, *st.space, r, c, fp, comm);
  });
  if (!run.root) return std::isfinite(r.best_loss) ? exit_ok : exit_diverged;

  std::printf(
      "cellfit fit: hybrid: GA %zu generations (%s), then %zu polish%s (%s); %.2f s, %zu "
      "single-cell simulations -> %s\n",
      r.ga.history.best.size(), r.ga.stop_reason.c_str(), r.polished.size(),
      r.polished.size() == 1 ? "" : "es", r.stop_reason.c_str(), r.wall_seconds, r.simulations,
      run.out.c_str());
  if (!c.loss.empty()) {
    const std::size_t ga_n = r.ga.history.best.size();
    std::printf("loss (%s): GA best %.6g, polished best %.6g (polish %zu of %zu)\n",
                loss_kind_name(grad.loss.kind), c.loss[std::min(ga_n, c.loss.size()) - 1],
                r.best_loss, r.best + 1, r.polished.size());
  }
  if (!r.starts.empty())
    print_fitted_values(*st.space, r.starts[r.best], r.best_params, fp.ground_truth, "GA start");
  if (!fp.ground_truth.empty() && !r.starts.empty()) {
    print_gt_table(*st.space, r.starts[r.best], r.best_params, fp.ground_truth, "GA start");
  }
  if (!std::isfinite(r.best_loss)) {
    std::fprintf(stderr, "cellfit fit: every polish diverged (result written to %s)\n",
                 run.out.c_str());
    return exit_diverged;
  }
  return exit_ok;
}

}  // namespace cellfit::app
