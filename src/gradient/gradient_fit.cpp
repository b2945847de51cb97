#include "gradient/gradient_fit.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <LBFGSB.h>
#include <Eigen/Core>

#include "common/error.hpp"
#include "sched/load_balance.hpp"

namespace cellfit {

namespace {

using clock_type = std::chrono::steady_clock;

// Thrown from inside the L-BFGS-B objective to end the fit early.
struct stop_fit {
  std::string reason;
};

class evaluator {
 public:
  evaluator(const fit_problem& p, const gradient_settings& s, fit_result& r,
            const epoch_callback& cb, int planned, const comm::context& ctx,
            const gradient_control& control)
      : p_(p),
        s_(s),
        r_(r),
        cb_(cb),
        planned_(planned),
        ctx_(ctx),
        control_(control),
        loss_(s.loss, p.target, p.stimuli.size(), p.settings.record_compartments.size(),
              static_cast<std::size_t>(p.settings.n_samples()),
              p.settings.dt_ms * p.settings.record_every),
        t0_(clock_type::now()),
        last_(t0_) {
    cell_cost_ = static_cast<double>(p.model->geom.n_compartments()) * p.settings.n_steps();
    const auto devices = ctx.gather_all({static_cast<double>(p.device)});
    resources_.resize(devices.size());
    for (std::size_t k = 0; k < devices.size(); ++k)
      resources_[k].device = static_cast<int>(devices[k]);
    r_.log.n_params = p.space->size();
  }

  // Loss and (if with_gradient) dL/dx at x (optimiser coordinates); records one iteration.
  // A collective: every rank calls it with the same x.
  double operator()(const std::vector<double>& x, std::vector<double>& grad_x,
                    bool with_gradient = true) {
    const parameter_space& space = *p_.space;
    const std::size_t P = space.size();
    const std::vector<double> phys = space.to_physical(x);
    const std::size_t e = r_.log.size();
    const gradient_log* old = control_.resume;
    double loss = 0, comm_s = 0;
    int diverged = 0;
    bool stop = false;
    grad_x.assign(x.size(), 0.0);
    const bool replay = old && e < old->size() && (old->with_gradient[e] || !with_gradient);
    if (replay) {
      for (std::size_t i = 0; i < P; ++i) {
        if (old->x[e * P + i] != x[i]) {
          throw config_error(
              "cellfit::gradient_fit: the checkpoint does not match this run: "
              "evaluation " +
              std::to_string(e) + " is at other parameters (changed optimiser settings?)");
        }
      }
      loss = old->loss[e];
      diverged = old->diverged[e];
      for (std::size_t i = 0; i < P; ++i) grad_x[i] = old->grad[e * P + i];
      r_.simulations = static_cast<std::size_t>(old->simulations[e]);
      ++r_.replayed;
    } else {
      const double cost = static_cast<double>((with_gradient ? 2 : 1) * p_.stimuli.size());
      if (s_.max_simulations > 0 && static_cast<double>(r_.simulations) + cost > s_.max_simulations)
        throw stop_fit{"budget"};
      if (over_time_) throw stop_fit{"budget"};
      comm_s = evaluate(x, phys, grad_x, with_gradient, loss, diverged, stop);
    }

    auto& h = r_.history;
    const auto now = clock_type::now();
    h.loss.push_back(loss);
    h.normalized_loss.push_back(loss_.normalized(loss));
    const double wall =
        replay ? old->wall_s[e] : wall_offset_ + std::chrono::duration<double>(now - t0_).count();
    if (replay) wall_offset_ = wall;
    h.wall_s.push_back(wall);
    h.diverged.push_back(diverged);
    double gte = -1;
    if (!p_.ground_truth.empty()) {
      gte = gt_error(phys, p_.ground_truth);
      h.gt_error.push_back(gte);
      h.gt_error_by_group.push_back(gt_error_by_group(space, phys, p_.ground_truth));
    }
    if (std::isfinite(loss) && (r_.best.empty() || loss < r_.best_loss)) {
      r_.best = phys;
      r_.best_loss = loss;
    }
    auto& lg = r_.log;
    lg.x.insert(lg.x.end(), x.begin(), x.end());
    if (with_gradient) {
      lg.grad.insert(lg.grad.end(), grad_x.begin(), grad_x.end());
    } else {
      lg.grad.insert(lg.grad.end(), P, std::numeric_limits<double>::quiet_NaN());
    }
    lg.loss.push_back(loss);
    lg.diverged.push_back(diverged);
    lg.with_gradient.push_back(with_gradient ? 1 : 0);
    lg.wall_s.push_back(wall);
    lg.simulations.push_back(static_cast<double>(r_.simulations));
    if (cb_) {
      epoch_report rep;
      rep.iteration = static_cast<int>(h.loss.size()) - 1;
      rep.planned = planned_;
      rep.loss = loss;
      rep.normalized_loss = h.normalized_loss.back();
      rep.gt_error = gte;
      rep.epoch_seconds = std::chrono::duration<double>(now - last_).count();
      rep.elapsed_seconds = wall;
      rep.communicate_s = comm_s;
      rep.diverged = diverged;
      rep.replayed = replay;
      cb_(rep);
    }
    last_ = now;
    // Checkpoints are taken after complete evaluations; a stop request ends the fit here.
    if (!replay) {
      const bool due = control_.checkpoint_every > 0 &&
                       static_cast<int>(lg.size()) % control_.checkpoint_every == 0;
      if (stop || due) {
        comm::agree(ctx_, [&] {
          if (ctx_.rank() == 0 && control_.checkpoint) control_.checkpoint(lg);
        });
      }
      if (stop) throw stop_fit{"interrupted"};
    }
    return loss;
  }

  // One pass at physical values outside any fit's history (evaluate_loss): the loss, and
  // dL/d(physical) in grad_p when with_gradient.
  double once(const std::vector<double>& phys, bool with_gradient, std::vector<double>& grad_p,
              int& diverged) {
    const std::vector<double> x = p_.space->to_optimizer(phys);
    std::vector<double> grad_x(x.size(), 0.0);
    double loss = 0;
    bool stop = false;
    evaluate(x, phys, grad_x, with_gradient, loss, diverged, stop);
    grad_p = with_gradient ? last_grad_p_ : std::vector<double>{};
    return loss;
  }

  int iterations() const { return static_cast<int>(r_.history.loss.size()); }
  const sched::plan& plan() const { return plan_; }

 private:
  // The distributed forward + adjoint pass; returns the time spent in the reduction.
  double evaluate(const std::vector<double>& x, const std::vector<double>& phys,
                  std::vector<double>& grad_x, bool with_gradient, double& loss, int& diverged,
                  bool& stop) {
    const parameter_space& space = *p_.space;
    const std::size_t P = space.size(), S = p_.stimuli.size();
    const std::size_t R = static_cast<std::size_t>(ctx_.size());
    sched::plan_request q;
    q.n_sets = 1;
    q.n_stimuli = S;
    q.axis = sched::split_axis::stimuli;
    q.cell_cost_cs = cell_cost_;
    q.max_chunks = 1;  // nothing to overlap with: the loss is computed inside the pass
    plan_ = sched::make_plan(q, resources_);
    const std::vector<sched::block> mine = plan_.blocks_of(ctx_.rank());

    // [stimulus][loss, diverged, grad_p[P]] then [rank][cells, kernel_s, stop, over_time].
    // Each entry has one contributing rank, so the sum is exact whatever the number of ranks.
    const std::size_t W = 2 + P, RW = 4;
    std::vector<double> table(S * W + R * RW, 0.0);
    comm::agree(ctx_, [&] {
      adjoint_options opt = s_.adjoint;
      opt.passive_gradient = space.has_passive();
      opt.gradient = with_gradient;
      double cells = 0, kernel = 0;
      for (const sched::block& b : mine) {
        const std::vector<stimulus> stim(
            p_.stimuli.begin() + static_cast<std::ptrdiff_t>(b.first_stimulus),
            p_.stimuli.begin() + static_cast<std::ptrdiff_t>(b.first_stimulus + b.n_stimuli));
        const std::size_t first = b.first_stimulus;
        const gradient_result g = loss_gradient(
            *p_.model, {space.to_set(phys)}, stim, p_.settings,
            [this, first](std::size_t c, const double* v, double* dv) {
              return loss_(first + c, v, dv);
            },
            opt);
        r_.checkpoint_every = g.checkpoint_every;
        r_.n_segments = g.n_segments;
        r_.peak_bytes = std::max(r_.peak_bytes, g.peak_bytes);
        cells += static_cast<double>(g.n_cells);
        kernel += g.forward_seconds + g.backward_seconds;
        for (std::size_t c = 0; c < g.n_cells; ++c) {
          double* row = &table[(first + c) * W];
          if (g.failed_step[c] >= 0) {
            row[1] = 1;
            continue;
          }
          row[0] = g.loss[c] + 0.0;  // + 0.0: no negative zero, which a sum would not keep
          if (with_gradient) {
            std::vector<double> gp(P, 0.0);
            space.accumulate(g.grad[c], gp);
            for (std::size_t i = 0; i < P; ++i) row[2 + i] = gp[i] + 0.0;
          }
        }
      }
      double* mine_row = &table[S * W + static_cast<std::size_t>(ctx_.rank()) * RW];
      mine_row[0] = cells;
      mine_row[1] = kernel;
      mine_row[2] = control_.stop_requested && control_.stop_requested() ? 1 : 0;
      mine_row[3] =
          s_.max_wall_s > 0 &&
                  wall_offset_ + std::chrono::duration<double>(clock_type::now() - t0_).count() >=
                      s_.max_wall_s
              ? 1
              : 0;
    });
    const auto t_comm = clock_type::now();
    ctx_.sum(table);
    const double comm_s = std::chrono::duration<double>(clock_type::now() - t_comm).count();

    // Every rank adds the rows in stimulus order.
    std::vector<double> grad_p(P, 0.0);
    loss = 0;
    diverged = 0;
    for (std::size_t c = 0; c < S; ++c) {
      const double* row = &table[c * W];
      if (row[1] != 0) {
        ++diverged;
        continue;
      }
      loss += row[0];
      for (std::size_t i = 0; i < P; ++i) grad_p[i] += row[2 + i];
    }
    // A stimulus that diverged has no loss to add: leaving it out would reward the optimiser
    // for driving cells into divergence. The evaluation counts as infinitely bad instead, so
    // it is never the best point and the optimisers step back from it (run_adam, run_lbfgsb).
    if (diverged > 0) loss = std::numeric_limits<double>::infinity();
    stop = false;
    for (std::size_t r = 0; r < R; ++r) {
      const double* t = &table[S * W + r * RW];
      if (t[0] > 0 && t[1] > 0) resources_[r].rate_cs = t[0] * cell_cost_ / t[1];
      stop = stop || t[2] != 0;
      over_time_ = over_time_ || t[3] != 0;
    }
    r_.simulations += (with_gradient ? 2 : 1) * S;
    last_grad_p_ = grad_p;
    if (with_gradient) {
      const std::vector<double> jac = space.jacobian(x);
      for (std::size_t i = 0; i < x.size(); ++i) grad_x[i] = grad_p[i] * jac[i];
    }
    return comm_s;
  }

  const fit_problem& p_;
  const gradient_settings& s_;
  fit_result& r_;
  const epoch_callback& cb_;
  int planned_;
  const comm::context& ctx_;
  const gradient_control& control_;
  trace_loss loss_;
  clock_type::time_point t0_, last_;
  double wall_offset_ = 0;
  bool over_time_ = false;  // max_wall_s reached on some rank (agreed in the reduction)
  double cell_cost_ = 1;
  std::vector<sched::rank_resources> resources_;
  sched::plan plan_;
  std::vector<double> last_grad_p_;  // dL/d(physical) of the last evaluation
};

bool early_stop(const fit_history& h, const gradient_settings& s) {
  if (!(s.early_stop > 0)) return false;
  const std::size_t n = h.loss.size();
  if (n <= static_cast<std::size_t>(s.patience)) return false;
  const double before = h.loss[n - 1 - static_cast<std::size_t>(s.patience)], now = h.loss[n - 1];
  return std::isfinite(before) && std::isfinite(now) &&
         (before - now) <= s.early_stop * std::fabs(before);
}

// The evaluation budget of L-BFGS-B: the line search may take several per iteration.
int lbfgsb_max_evaluations(int epochs) { return 3 * epochs + 1; }

// The step-size backoff after a rejected step: halve the step, at most this many times in a
// fit (2^-10: a thousand times shorter steps than asked for means the optimiser is stuck at
// the edge of the region where the cells run).
constexpr int max_backoffs = 10;

void run_adam(evaluator& f, const parameter_space& space, const gradient_settings& s,
              std::vector<double> x, fit_result& r) {
  const std::vector<double> lo = space.x_lower(), hi = space.x_upper();
  std::vector<double> m(x.size(), 0.0), v(x.size(), 0.0), g;
  // The last accepted point (every cell ran there), its gradient and Adam's moments there.
  std::vector<double> x_ok, g_ok, m_ok, v_ok;
  int steps = 0, backoffs = 0;
  double scale = 1;
  auto step_from = [&](const std::vector<double>& from) {
    const double b1t = 1 - std::pow(s.beta1, steps + 1), b2t = 1 - std::pow(s.beta2, steps + 1);
    for (std::size_t i = 0; i < x.size(); ++i) {
      m[i] = s.beta1 * m_ok[i] + (1 - s.beta1) * g_ok[i];
      v[i] = s.beta2 * v_ok[i] + (1 - s.beta2) * g_ok[i] * g_ok[i];
      const double step = scale * s.lr * (m[i] / b1t) / (std::sqrt(v[i] / b2t) + s.epsilon);
      x[i] = std::clamp(from[i] - step, lo[i], hi[i]);  // projected onto the bounds
    }
  };
  r.stop_reason = "epochs";
  for (int t = 0; t <= s.epochs; ++t) {
    const double loss = f(x, g, t < s.epochs);  // the last point needs no gradient
    if (!std::isfinite(loss)) {
      // Some cell diverged: reject the step, go back to the last accepted point and try a
      // step half as long. At the starting point there is nothing to go back to.
      if (x_ok.empty()) {
        r.stop_reason = "diverged";
        return;
      }
      if (t == s.epochs) return;
      if (++backoffs > max_backoffs) {
        r.stop_reason = "step_backoff";
        return;
      }
      scale *= 0.5;
      step_from(x_ok);
      continue;
    }
    if (t == s.epochs) return;
    if (early_stop(r.history, s)) {
      r.stop_reason = "early_stop";
      return;
    }
    x_ok = x;
    g_ok = g;
    m_ok = m;
    v_ok = v;
    step_from(x_ok);
    ++steps;
  }
}

// Thrown from the L-BFGS-B objective at a point where some cell diverged: the solver is
// restarted from the best point with a shorter first step (LBFGS++'s line search cannot take
// an infinite function value).
struct rejected_step {
  double distance;  // from the restart point, in optimiser coordinates
};

void run_lbfgsb(evaluator& f, const parameter_space& space, const gradient_settings& s,
                const std::vector<double>& x0, fit_result& r) {
  using vec = Eigen::VectorXd;
  const std::size_t n = x0.size();
  const std::vector<double> lo = space.x_lower(), hi = space.x_upper();
  vec x(static_cast<Eigen::Index>(n)), lb(static_cast<Eigen::Index>(n)),
      ub(static_cast<Eigen::Index>(n));
  for (std::size_t i = 0; i < n; ++i) {
    const auto k = static_cast<Eigen::Index>(i);
    x[k] = x0[i];
    lb[k] = lo[i];
    ub[k] = hi[i];
  }
  LBFGSpp::LBFGSBParam<double> param;
  param.m = s.lbfgs_memory;
  param.max_iterations = s.epochs;
  param.epsilon = 1e-10;
  param.epsilon_rel = 1e-10;
  param.max_linesearch = 40;
  std::vector<double> xv(n), gv;
  const int max_evals = lbfgsb_max_evaluations(s.epochs);
  // The best point so far (every cell ran there) with its loss and gradient: a restart begins
  // there without evaluating it again.
  vec best_x, best_g;
  double best_loss = std::numeric_limits<double>::infinity();
  bool restarted = false;
  auto objective = [&](const vec& xe, vec& ge) {
    if (restarted && xe == best_x) {
      ge = best_g;
      return best_loss;
    }
    if (f.iterations() >= max_evals) throw stop_fit{"evaluations"};
    for (std::size_t i = 0; i < n; ++i) xv[i] = xe[static_cast<Eigen::Index>(i)];
    const double loss = f(xv, gv);
    if (!std::isfinite(loss)) {
      if (best_x.size() == 0) throw stop_fit{"diverged"};
      throw rejected_step{(xe - best_x).norm()};
    }
    for (std::size_t i = 0; i < n; ++i) ge[static_cast<Eigen::Index>(i)] = gv[i];
    if (loss < best_loss) {
      best_loss = loss;
      best_x = xe;
      best_g = ge;
    }
    if (early_stop(r.history, s)) throw stop_fit{"early_stop"};
    return loss;
  };
  for (int backoffs = 0;; ++backoffs) {
    LBFGSpp::LBFGSBSolver<double> solver(param);
    double fx = 0;
    try {
      const int k = solver.minimize(objective, x, fx, lb, ub);
      r.stop_reason = k >= s.epochs ? "epochs" : "converged";
    } catch (const rejected_step& e) {
      // Restart at the best point; the solver's first step there has unit length (its first
      // direction is normalised), so capping the step caps the distance.
      if (backoffs >= max_backoffs) {
        r.stop_reason = "step_backoff";
        return;
      }
      param.max_step = 0.5 * e.distance;
      x = best_x;
      restarted = true;
      continue;
    } catch (const stop_fit& e) {
      r.stop_reason = e.reason;
    } catch (const error&) {
      throw;  // bad input, a failed rank: not the optimiser's business
    } catch (const internal_error&) {
      throw;
    } catch (const std::exception& e) {
      // LBFGS++ ends a failed line search with an exception (the same on every rank: it sees
      // the same numbers); the best point is kept.
      r.stop_reason = std::string("lbfgsb: ") + e.what();
    }
    return;
  }
}

}  // namespace

double gt_error(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += std::fabs(a[i] - b[i]);
  return a.empty() ? 0.0 : s / static_cast<double>(a.size());
}

std::vector<double> gt_error_by_group(const parameter_space& space, const std::vector<double>& a,
                                      const std::vector<double>& b) {
  std::vector<double> sum(space.parameters().size(), 0.0), count(sum.size(), 0.0);
  for (std::size_t i = 0; i < a.size(); ++i) {
    sum[space.group_of(i)] += std::fabs(a[i] - b[i]);
    count[space.group_of(i)] += 1;
  }
  for (std::size_t k = 0; k < sum.size(); ++k) sum[k] /= std::max(count[k], 1.0);
  return sum;
}

std::vector<double> gradient_log::pack() const {
  std::vector<double> v = {static_cast<double>(n_params), static_cast<double>(size())};
  v.insert(v.end(), x.begin(), x.end());
  v.insert(v.end(), grad.begin(), grad.end());
  v.insert(v.end(), loss.begin(), loss.end());
  v.insert(v.end(), diverged.begin(), diverged.end());
  v.insert(v.end(), with_gradient.begin(), with_gradient.end());
  v.insert(v.end(), wall_s.begin(), wall_s.end());
  v.insert(v.end(), simulations.begin(), simulations.end());
  return v;
}

gradient_log gradient_log::unpack(const std::vector<double>& v) {
  gradient_log g;
  if (v.size() < 2) throw internal_error("cellfit::gradient_fit: short packed log");
  g.n_params = static_cast<std::size_t>(v[0]);
  const std::size_t E = static_cast<std::size_t>(v[1]), P = g.n_params;
  if (v.size() != 2 + E * (2 * P + 5))
    throw internal_error("cellfit::gradient_fit: packed log size");
  std::size_t at = 2;
  auto take = [&](std::vector<double>& out, std::size_t n) {
    out.resize(n);
    for (std::size_t k = 0; k < n; ++k) out[k] = v[at + k];
    at += n;
  };
  auto take_ints = [&](std::vector<int>& out, std::size_t n) {
    out.resize(n);
    for (std::size_t k = 0; k < n; ++k) out[k] = static_cast<int>(v[at + k]);
    at += n;
  };
  take(g.x, E * P);
  take(g.grad, E * P);
  take(g.loss, E);
  take_ints(g.diverged, E);
  take_ints(g.with_gradient, E);
  take(g.wall_s, E);
  take(g.simulations, E);
  return g;
}

loss_evaluation evaluate_loss(const fit_problem& p, const gradient_settings& s,
                              const std::vector<double>& physical, bool with_gradient) {
  if (!p.model || !p.space) throw internal_error("cellfit::gradient_fit: incomplete problem");
  if (physical.size() != p.space->size()) {
    throw config_error("cellfit::gradient_fit: " + std::to_string(physical.size()) +
                       " parameter values given, the fit has " + std::to_string(p.space->size()));
  }
  // No budget applies to a single evaluation.
  gradient_settings once = s;
  once.max_simulations = 0;
  once.max_wall_s = 0;
  const comm::context_ptr local = p.comm ? p.comm : comm::make_local_context();
  fit_result r;
  const epoch_callback no_report;
  const gradient_control no_control;
  evaluator f(p, once, r, no_report, 1, *local, no_control);
  loss_evaluation e;
  e.loss = f.once(physical, with_gradient, e.gradient, e.diverged);
  return e;
}

fit_result run_gradient_fit(const fit_problem& p, const gradient_settings& s,
                            const epoch_callback& on_epoch, const gradient_control& control) {
  if (!p.model || !p.space) throw internal_error("cellfit::gradient_fit: incomplete problem");
  if (s.epochs < 0) throw config_error("cellfit::gradient_fit: epochs must be >= 0");
  const double one_evaluation = 2.0 * static_cast<double>(p.stimuli.size());
  if (s.max_simulations > 0 && s.max_simulations < one_evaluation) {
    throw config_error("cellfit::gradient_fit: a budget of " + std::to_string(s.max_simulations) +
                       " simulations is less than one evaluation (" +
                       std::to_string(one_evaluation) +
                       ": forward + adjoint per stimulus); raise fit.max_simulations");
  }
  const auto t0 = clock_type::now();
  fit_result r;
  r.initial = p.initial.empty() ? p.space->initial_values() : p.initial;
  if (r.initial.size() != p.space->size()) {
    throw internal_error("cellfit::gradient_fit: the starting point has " +
                         std::to_string(r.initial.size()) + " values, the space " +
                         std::to_string(p.space->size()));
  }
  if (!p.ground_truth.empty()) r.initial_gt_error = gt_error(r.initial, p.ground_truth);
  const std::vector<double> x0 = p.space->to_optimizer(r.initial);
  // Evaluations at most: Adam one per epoch and the last point; L-BFGS-B's line search may
  // take several per iteration (run_lbfgsb's budget).
  const int planned =
      s.optimizer == optimizer_kind::adam ? s.epochs + 1 : lbfgsb_max_evaluations(s.epochs);
  const comm::context_ptr ctx_owner = p.comm ? p.comm : comm::make_local_context();
  const comm::context& ctx = *ctx_owner;
  if (control.resume && control.resume->n_params != p.space->size()) {
    throw config_error("cellfit::gradient_fit: the checkpoint has " +
                       std::to_string(control.resume->n_params) + " parameters, this fit " +
                       std::to_string(p.space->size()));
  }
  evaluator f(p, s, r, on_epoch, planned, ctx, control);
  try {
    if (s.optimizer == optimizer_kind::adam) {
      run_adam(f, *p.space, s, x0, r);
    } else {
      run_lbfgsb(f, *p.space, s, x0, r);
    }
  } catch (const stop_fit& e) {
    r.stop_reason = e.reason;
  }
  r.plan = f.plan();
  if (r.best.empty()) {  // every evaluation diverged
    r.best = r.initial;
    r.best_loss = std::numeric_limits<double>::quiet_NaN();
  }
  if (ctx.rank() == 0 && r.stop_reason != "interrupted") {
    // The traces at the best point, for the output (one forward pass).
    const simulation_result b =
        simulate_batch(*p.model, {p.space->to_set(r.best)}, p.stimuli, p.settings);
    r.best_voltage = b.voltage;
    r.simulations += b.n_cells;
  }
  r.wall_seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  return r;
}

}  // namespace cellfit
