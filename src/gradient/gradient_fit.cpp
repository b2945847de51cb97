#include "gradient/gradient_fit.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <LBFGSB.h>
#include <Eigen/Core>

#include "common/error.hpp"

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
            const epoch_callback& cb, int planned)
      : p_(p),
        s_(s),
        r_(r),
        cb_(cb),
        planned_(planned),
        loss_(s.loss, p.target, p.stimuli.size(), p.settings.record_compartments.size(),
              static_cast<std::size_t>(p.settings.n_samples()),
              p.settings.dt_ms * p.settings.record_every),
        t0_(clock_type::now()),
        last_(t0_) {}

  // Loss and (if with_gradient) dL/dx at x (optimiser coordinates); records one iteration.
  double operator()(const std::vector<double>& x, std::vector<double>& grad_x,
                    bool with_gradient = true) {
    const parameter_space& space = *p_.space;
    const std::vector<double> phys = space.to_physical(x);
    adjoint_options opt = s_.adjoint;
    opt.gradient = with_gradient;
    const gradient_result g = loss_gradient(
        *p_.model, {space.to_set(phys)}, p_.stimuli, p_.settings,
        [this](std::size_t c, const double* v, double* dv) { return loss_(c, v, dv); }, opt);
    r_.simulations += (with_gradient ? 2 : 1) * g.n_cells;
    r_.checkpoint_every = g.checkpoint_every;
    r_.n_segments = g.n_segments;
    r_.peak_bytes = std::max(r_.peak_bytes, g.peak_bytes);
    double loss = 0;
    int diverged = 0;
    std::vector<double> grad_p(space.size(), 0.0);
    for (std::size_t c = 0; c < g.n_cells; ++c) {
      if (g.failed_step[c] >= 0) {
        ++diverged;
        continue;
      }
      loss += g.loss[c];
      if (with_gradient) space.accumulate(g.grad[c], grad_p);
    }
    if (diverged == static_cast<int>(g.n_cells)) loss = std::numeric_limits<double>::quiet_NaN();
    const std::vector<double> jac = space.jacobian(x);
    grad_x.resize(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) grad_x[i] = grad_p[i] * jac[i];

    auto& h = r_.history;
    const auto now = clock_type::now();
    h.loss.push_back(loss);
    h.normalized_loss.push_back(loss_.normalized(loss));
    h.wall_s.push_back(std::chrono::duration<double>(now - t0_).count());
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
      r_.best_voltage = g.voltage;
    }
    if (cb_) {
      epoch_report e;
      e.iteration = static_cast<int>(h.loss.size()) - 1;
      e.planned = planned_;
      e.loss = loss;
      e.normalized_loss = h.normalized_loss.back();
      e.gt_error = gte;
      e.epoch_seconds = std::chrono::duration<double>(now - last_).count();
      e.elapsed_seconds = h.wall_s.back();
      e.diverged = diverged;
      cb_(e);
    }
    last_ = now;
    return loss;
  }

  int iterations() const { return static_cast<int>(r_.history.loss.size()); }

 private:
  const fit_problem& p_;
  const gradient_settings& s_;
  fit_result& r_;
  const epoch_callback& cb_;
  int planned_;
  trace_loss loss_;
  clock_type::time_point t0_, last_;
};

bool early_stop(const fit_history& h, const gradient_settings& s) {
  if (!(s.early_stop > 0)) return false;
  const std::size_t n = h.loss.size();
  if (n <= static_cast<std::size_t>(s.patience)) return false;
  const double before = h.loss[n - 1 - static_cast<std::size_t>(s.patience)], now = h.loss[n - 1];
  return std::isfinite(before) && std::isfinite(now) &&
         (before - now) <= s.early_stop * std::fabs(before);
}

void run_adam(evaluator& f, const parameter_space& space, const gradient_settings& s,
              std::vector<double> x, fit_result& r) {
  const std::vector<double> lo = space.x_lower(), hi = space.x_upper();
  std::vector<double> m(x.size(), 0.0), v(x.size(), 0.0), g;
  r.stop_reason = "epochs";
  for (int t = 0; t <= s.epochs; ++t) {
    const double loss = f(x, g, t < s.epochs);  // the last point needs no gradient
    if (!std::isfinite(loss)) {
      r.stop_reason = "diverged";
      return;
    }
    if (t == s.epochs) return;
    if (early_stop(r.history, s)) {
      r.stop_reason = "early_stop";
      return;
    }
    const double b1t = 1 - std::pow(s.beta1, t + 1), b2t = 1 - std::pow(s.beta2, t + 1);
    for (std::size_t i = 0; i < x.size(); ++i) {
      m[i] = s.beta1 * m[i] + (1 - s.beta1) * g[i];
      v[i] = s.beta2 * v[i] + (1 - s.beta2) * g[i] * g[i];
      const double step = s.lr * (m[i] / b1t) / (std::sqrt(v[i] / b2t) + s.epsilon);
      x[i] = std::clamp(x[i] - step, lo[i], hi[i]);  // projected onto the bounds
    }
  }
}

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
  LBFGSpp::LBFGSBSolver<double> solver(param);
  std::vector<double> xv(n), gv;
  // The evaluation budget: the line search may take several evaluations per iteration.
  const int max_evals = 3 * s.epochs + 1;
  auto objective = [&](const vec& xe, vec& ge) {
    if (f.iterations() >= max_evals) throw stop_fit{"evaluations"};
    for (std::size_t i = 0; i < n; ++i) xv[i] = xe[static_cast<Eigen::Index>(i)];
    const double loss = f(xv, gv);
    if (!std::isfinite(loss)) throw stop_fit{"diverged"};
    for (std::size_t i = 0; i < n; ++i) ge[static_cast<Eigen::Index>(i)] = gv[i];
    if (early_stop(r.history, s)) throw stop_fit{"early_stop"};
    return loss;
  };
  double fx = 0;
  try {
    const int k = solver.minimize(objective, x, fx, lb, ub);
    r.stop_reason = k >= s.epochs ? "epochs" : "converged";
  } catch (const stop_fit& e) {
    r.stop_reason = e.reason;
  } catch (const std::exception& e) {
    // LBFGS++ ends a failed line search with an exception; the best point is kept.
    r.stop_reason = std::string("lbfgsb: ") + e.what();
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

fit_result run_gradient_fit(const fit_problem& p, const gradient_settings& s,
                            const epoch_callback& on_epoch) {
  if (!p.model || !p.space) throw internal_error("cellfit::gradient_fit: incomplete problem");
  if (s.epochs < 0) throw config_error("cellfit::gradient_fit: epochs must be >= 0");
  const auto t0 = clock_type::now();
  fit_result r;
  r.initial = p.space->initial_values();
  if (!p.ground_truth.empty()) r.initial_gt_error = gt_error(r.initial, p.ground_truth);
  const std::vector<double> x0 = p.space->to_optimizer(r.initial);
  const int planned = s.optimizer == optimizer_kind::adam ? s.epochs + 1 : s.epochs;
  evaluator f(p, s, r, on_epoch, planned);
  if (s.optimizer == optimizer_kind::adam) {
    run_adam(f, *p.space, s, x0, r);
  } else {
    run_lbfgsb(f, *p.space, s, x0, r);
  }
  if (r.best.empty()) {  // every evaluation diverged
    r.best = r.initial;
    r.best_loss = std::numeric_limits<double>::quiet_NaN();
  }
  r.wall_seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  return r;
}

}  // namespace cellfit
