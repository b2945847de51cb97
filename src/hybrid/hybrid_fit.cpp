#include "hybrid/hybrid_fit.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "comm/context.hpp"
#include "common/error.hpp"
#include "gradient/trace_loss.hpp"
#include "sim/batch_simulator.hpp"

namespace cellfit {

namespace {

using clock_type = std::chrono::steady_clock;

double since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

}  // namespace

std::vector<double> trace_losses(const fit_problem& fp, const gradient_settings& grad,
                                 const std::vector<std::vector<double>>& params) {
  std::vector<double> out(params.size(), std::numeric_limits<double>::quiet_NaN());
  if (params.empty()) return out;
  const std::size_t S = fp.stimuli.size(), sites = fp.settings.record_compartments.size();
  const std::size_t samples = static_cast<std::size_t>(fp.settings.n_samples());
  const trace_loss loss(grad.loss, fp.target, S, sites, samples,
                        fp.settings.dt_ms * fp.settings.record_every);
  std::vector<parameter_set> sets;
  sets.reserve(params.size());
  for (const auto& p : params) sets.push_back(fp.space->to_set(p));
  const simulation_result r = simulate_batch(*fp.model, sets, fp.stimuli, fp.settings);
  std::vector<double> dv(sites * samples);
  for (std::size_t i = 0; i < params.size(); ++i) {
    // As the gradient engine adds it: the cells that did not diverge, in stimulus order.
    double sum = 0;
    std::size_t ok = 0;
    for (std::size_t k = 0; k < S; ++k) {
      const std::size_t cell = i * S + k;
      if (r.failed_step[cell] >= 0) continue;
      sum += loss(k, &r.voltage[cell * sites * samples], dv.data());
      ++ok;
    }
    if (ok > 0) out[i] = sum;
  }
  return out;
}

hybrid_result run_hybrid_fit(const ga::ga_problem& gp, const ga::ga_settings& gs,
                             const fit_problem& fp, const gradient_settings& grad,
                             const hybrid_settings& hs, const hybrid_callbacks& cb) {
  if (fp.target.empty()) {
    throw config_error(
        "cellfit::hybrid: the gradient polish fits target traces: use fit.target.type = "
        "\"synthetic\" or \"file\"");
  }
  if (hs.polish < 1) throw config_error("cellfit::hybrid: fit.hybrid.polish must be >= 1");
  if (!(hs.ga_fraction > 0 && hs.ga_fraction < 1)) {
    throw config_error("cellfit::hybrid: fit.hybrid.ga_fraction must lie in (0, 1), got " +
                       std::to_string(hs.ga_fraction));
  }
  const comm::context_ptr ctx_owner = fp.comm ? fp.comm : comm::make_local_context();
  const comm::context& ctx = *ctx_owner;
  const auto t0 = clock_type::now();
  const std::size_t P = fp.space->size();
  hybrid_result res;

  // 1. Global search, with its share of the budget.
  ga::ga_settings ga_s = gs;
  if (grad.max_simulations > 0) ga_s.max_simulations = hs.ga_fraction * grad.max_simulations;
  if (grad.max_wall_s > 0) ga_s.max_wall_s = hs.ga_fraction * grad.max_wall_s;
  if (cb.on_phase) cb.on_phase(0, hs.polish, {});
  res.ga = ga::run_genetic_fit(gp, ga_s, cb.on_generation);

  // 2. The starting points, from rank 0's hall of fame: [GA simulations, K, K x P].
  std::vector<double> msg;
  comm::agree(ctx, [&] {
    if (ctx.rank() != 0) return;
    const auto& hof = res.ga.hall_of_fame;
    const std::size_t K = std::min(hof.size(), static_cast<std::size_t>(hs.polish));
    msg = {static_cast<double>(res.ga.simulations), static_cast<double>(K)};
    for (std::size_t k = 0; k < K; ++k) {
      if (hof[k].params.size() != P) throw internal_error("cellfit::hybrid: genome size");
      msg.insert(msg.end(), hof[k].params.begin(), hof[k].params.end());
    }
  });
  ctx.broadcast(msg, 0);
  const double ga_simulations = msg.at(0);
  const std::size_t K = static_cast<std::size_t>(msg.at(1));
  for (std::size_t k = 0; k < K; ++k) {
    res.starts.emplace_back(msg.begin() + static_cast<std::ptrdiff_t>(2 + k * P),
                            msg.begin() + static_cast<std::ptrdiff_t>(2 + (k + 1) * P));
  }
  res.stop_reason = res.ga.stop_reason;
  res.simulations = static_cast<std::size_t>(ga_simulations);
  if (K == 0) {  // every individual diverged: nothing to polish
    res.best_params = fp.space->initial_values();
    res.best_loss = std::numeric_limits<double>::quiet_NaN();
    res.stop_reason = "diverged";
    res.wall_seconds = since(t0);
    return res;
  }

  // 3. Polish each start with what is left of the budget, shared equally among the rest.
  // The count of the optimiser's own passes (the same on every rank) decides what is left;
  // the forward pass for the best traces (rank 0) is counted in the total only.
  double used = ga_simulations;
  res.best_loss = std::numeric_limits<double>::infinity();
  for (std::size_t k = 0; k < K; ++k) {
    fit_problem p = fp;
    p.initial = res.starts[k];
    gradient_settings g = grad;
    const double parts = static_cast<double>(K - k);
    if (grad.max_simulations > 0) {
      g.max_simulations = std::max(0.0, (grad.max_simulations - used) / parts);
      // At least one gradient evaluation, so that every start has a loss.
      g.max_simulations = std::max(g.max_simulations, 2.0 * static_cast<double>(fp.stimuli.size()));
    }
    if (grad.max_wall_s > 0) g.max_wall_s = std::max(1e-3, (grad.max_wall_s - since(t0)) / parts);
    if (cb.on_phase) cb.on_phase(static_cast<int>(k) + 1, static_cast<int>(K), res.starts[k]);
    fit_result r = run_gradient_fit(p, g, cb.on_epoch);
    used += r.log.simulations.empty() ? 0.0 : r.log.simulations.back();
    res.simulations += r.simulations;
    if (std::isfinite(r.best_loss) && r.best_loss < res.best_loss) {
      res.best_loss = r.best_loss;
      res.best = k;
    }
    res.stop_reason = r.stop_reason == "budget" ? "budget" : "polished";
    res.polished.push_back(std::move(r));
  }
  if (!std::isfinite(res.best_loss)) {  // every polish diverged: keep the GA's best
    res.best_loss = std::numeric_limits<double>::quiet_NaN();
    res.best_params = res.starts.front();
    res.stop_reason = "diverged";
  } else {
    res.best_params = res.polished[res.best].best;
  }
  res.wall_seconds = since(t0);
  return res;
}

}  // namespace cellfit
