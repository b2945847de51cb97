#include "hybrid/progress_curve.hpp"

#include <cmath>

namespace cellfit {

void progress_curve::append(const progress_curve& c, double simulations_offset,
                            double wall_offset) {
  // Best so far across the two parts: a later point replaces the best only by a lower loss.
  double best_loss = loss.empty() ? INFINITY : loss.back();
  for (std::size_t i = 0; i < c.loss.size(); ++i) {
    simulations.push_back(simulations_offset + c.simulations[i]);
    wall_s.push_back(wall_offset + c.wall_s[i]);
    phase.push_back(c.phase[i]);
    const double li = std::isfinite(c.loss[i]) ? c.loss[i] : INFINITY;
    if (!best.empty() && !(li < best_loss)) {
      loss.push_back(loss.back());
      gt_error.push_back(gt_error.back());
      best.push_back(best.back());
      continue;
    }
    best_loss = li;
    loss.push_back(li);
    gt_error.push_back(c.gt_error[i]);
    best.push_back(c.best[i]);
  }
  extra_simulations += c.extra_simulations;
}

std::vector<std::vector<double>> ga_best_so_far(const ga::ga_result& r,
                                                const parameter_space& space) {
  const ga::ga_log& lg = r.log;
  const std::size_t P = lg.n_params, M = lg.n_objectives;
  std::vector<std::vector<double>> out;
  std::vector<double> best_genome;
  double best_total = INFINITY;
  std::size_t at = 0;
  for (std::size_t g = 0; g < lg.generations(); ++g) {
    for (std::size_t i = 0; i < lg.evaluated[g]; ++i, ++at) {
      double total = 0;
      for (std::size_t m = 0; m < M; ++m) total += lg.objectives[at * M + m];
      if (std::isfinite(total) && total < best_total) {
        best_total = total;
        best_genome.assign(lg.genomes.begin() + static_cast<std::ptrdiff_t>(at * P),
                           lg.genomes.begin() + static_cast<std::ptrdiff_t>((at + 1) * P));
      }
    }
    out.push_back(best_genome.empty() ? space.initial_values() : ga::from_unit(space, best_genome));
  }
  return out;
}

progress_curve ga_curve(const ga::ga_result& r, const fit_problem& fp,
                        const gradient_settings& grad, int phase) {
  progress_curve c;
  c.best = ga_best_so_far(r, *fp.space);
  c.loss = trace_losses(fp, grad, c.best);
  c.extra_simulations = c.best.size() * fp.stimuli.size();
  for (std::size_t g = 0; g < c.best.size(); ++g) {
    c.simulations.push_back(r.log.simulations[g]);
    c.wall_s.push_back(r.log.wall_s[g]);
    c.gt_error.push_back(fp.ground_truth.empty() ? -1.0 : gt_error(c.best[g], fp.ground_truth));
    c.phase.push_back(phase);
  }
  // Best so far on the trace-loss scale too (the GA ranks by its own objectives).
  progress_curve out;
  out.append(c, 0, 0);
  out.extra_simulations = c.extra_simulations;
  return out;
}

progress_curve gradient_curve(const fit_result& r, const fit_problem& fp, int phase) {
  progress_curve c;
  const gradient_log& lg = r.log;
  const std::size_t P = lg.n_params;
  for (std::size_t e = 0; e < lg.size(); ++e) {
    const std::vector<double> x(lg.x.begin() + static_cast<std::ptrdiff_t>(e * P),
                                lg.x.begin() + static_cast<std::ptrdiff_t>((e + 1) * P));
    const std::vector<double> phys = fp.space->to_physical(x);
    c.simulations.push_back(lg.simulations[e]);
    c.wall_s.push_back(lg.wall_s[e]);
    c.loss.push_back(std::isfinite(lg.loss[e]) ? lg.loss[e] : INFINITY);
    c.gt_error.push_back(fp.ground_truth.empty() ? -1.0 : gt_error(phys, fp.ground_truth));
    c.phase.push_back(phase);
    c.best.push_back(phys);
  }
  progress_curve out;
  out.append(c, 0, 0);
  return out;
}

progress_curve hybrid_curve(const hybrid_result& r, const fit_problem& fp,
                            const gradient_settings& grad) {
  progress_curve out = ga_curve(r.ga, fp, grad, 0);
  double sims = r.ga.log.simulations.empty() ? 0.0 : r.ga.log.simulations.back();
  double wall = r.ga.wall_seconds;
  for (std::size_t k = 0; k < r.polished.size(); ++k) {
    const fit_result& f = r.polished[k];
    out.append(gradient_curve(f, fp, static_cast<int>(k) + 1), sims, wall);
    sims += f.log.simulations.empty() ? 0.0 : f.log.simulations.back();
    wall += f.wall_seconds;
  }
  return out;
}

}  // namespace cellfit
