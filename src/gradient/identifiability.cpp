#include "gradient/identifiability.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <Eigen/Dense>

#include "common/error.hpp"
#include "sim/gradient.hpp"
#include "sim/sensitivity.hpp"

namespace cellfit {

residual_jacobian trace_residual_jacobian(const cell_model& model, const parameter_space& space,
                                          const std::vector<double>& physical,
                                          const std::vector<stimulus>& stimuli,
                                          const simulation_settings& settings,
                                          const std::vector<double>& target, loss_kind loss) {
  const std::size_t n_cells = stimuli.size(), n_sites = settings.record_compartments.size();
  const std::size_t n_samples = static_cast<std::size_t>(settings.n_samples());
  const std::size_t per_cell = n_sites * n_samples;
  if (target.size() != n_cells * per_cell) {
    throw config_error("cellfit::identifiability: the target has " + std::to_string(target.size()) +
                       " values, the recordings " + std::to_string(n_cells) + " stimuli x " +
                       std::to_string(n_sites) + " sites x " + std::to_string(n_samples) +
                       " samples");
  }
  const trace_sensitivity ts = trace_jacobian(model, space, physical, stimuli, settings);
  for (std::size_t c = 0; c < n_cells; ++c) {
    if (ts.failed_step[c] >= 0) {
      throw config_error("cellfit::identifiability: stimulus " + std::to_string(c) +
                         " diverges at step " + std::to_string(ts.failed_step[c]) +
                         " at the analysed parameters: no derivatives there");
    }
  }
  const std::size_t P = space.size();
  residual_jacobian r;
  r.n_params = P;
  r.passes = ts.passes;
  r.seconds = ts.seconds;
  // The weights of trace_loss's trace term: the mean over cells and over each cell's samples
  // and sites, divided once more by the number of sites for the normalised loss.
  const double S = static_cast<double>(n_sites);
  const double site_norm = loss == loss_kind::normalized ? 1.0 / (S * S) : 1.0 / S;
  for (std::size_t c = 0; c < n_cells; ++c) {
    const double* t = &target[c * per_cell];
    const double* v = &ts.voltage[c * per_cell];
    const std::size_t len =
        n_sites > 0 ? std::min(samples_before_nan(t, n_samples), samples_before_nan(v, n_samples))
                    : 0;
    const double w = site_norm / (static_cast<double>(n_cells) *
                                  static_cast<double>(std::max<std::size_t>(len, 1)));
    const double sw = std::sqrt(w);
    for (std::size_t site = 0; site < n_sites; ++site) {
      for (std::size_t k = 0; k < len; ++k) {
        const std::size_t i = site * n_samples + k;
        r.residual.push_back(sw * (v[i] - t[i]));
        r.weight.push_back(w);
        const double* dv = &ts.jacobian[(c * per_cell + i) * P];
        for (std::size_t j = 0; j < P; ++j) r.jacobian.push_back(sw * dv[j]);
      }
    }
  }
  r.n_residuals = r.residual.size();
  return r;
}

identifiability_result analyse_identifiability(const residual_jacobian& rj,
                                               const std::vector<double>& physical,
                                               const identifiability_settings& o) {
  using matrix = Eigen::MatrixXd;
  const std::size_t N = rj.n_residuals, P = rj.n_params;
  if (physical.size() != P) {
    throw internal_error("cellfit::identifiability: " + std::to_string(physical.size()) +
                         " values for " + std::to_string(P) + " parameters");
  }
  if (o.noise_mv < 0 || !std::isfinite(o.noise_mv)) {
    throw config_error("cellfit::identifiability: the noise level must be >= 0 mV, not " +
                       std::to_string(o.noise_mv));
  }
  if (o.noise_mv == 0 && N <= P) {
    throw config_error("cellfit::identifiability: " + std::to_string(N) + " residuals for " +
                       std::to_string(P) +
                       " parameters leave no residual variance to estimate: give the noise "
                       "level of the data (--noise-mv)");
  }
  const Eigen::Index n = static_cast<Eigen::Index>(N), p = static_cast<Eigen::Index>(P);
  Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> J(
      rj.jacobian.data(), n, p);
  identifiability_result r;
  r.n_residuals = N;
  r.n_params = P;
  r.params = physical;
  r.noise_mv = o.noise_mv;
  double rss_mv2 = 0;
  for (std::size_t i = 0; i < N; ++i) {
    r.rss += rj.residual[i] * rj.residual[i];
    rss_mv2 += rj.residual[i] * rj.residual[i] / rj.weight[i];
  }
  r.residual_sd_mv = std::sqrt(rss_mv2 / static_cast<double>(N - P));
  const matrix jtj = J.transpose() * J;
  matrix F;
  if (o.noise_mv > 0) {
    // The information of independent noise on every target sample: J_v = J / sqrt(w).
    matrix Jv = J;
    for (Eigen::Index i = 0; i < n; ++i)
      Jv.row(i) /= std::sqrt(rj.weight[static_cast<std::size_t>(i)]);
    r.sigma2 = o.noise_mv * o.noise_mv;
    F = Jv.transpose() * Jv / r.sigma2;
  } else {
    r.sigma2 = r.rss / static_cast<double>(N - P);
    F = jtj / r.sigma2;
  }
  r.scale.resize(P);
  for (std::size_t j = 0; j < P; ++j) r.scale[j] = physical[j] != 0 ? std::abs(physical[j]) : 1.0;
  const Eigen::Map<const Eigen::VectorXd> scale(r.scale.data(), p);
  const matrix Fr = scale.asDiagonal() * F * scale.asDiagonal();

  const Eigen::SelfAdjointEigenSolver<matrix> eig(Fr);
  if (eig.info() != Eigen::Success) {
    throw internal_error("cellfit::identifiability: the eigen-decomposition did not converge");
  }
  const Eigen::VectorXd lambda = eig.eigenvalues();  // ascending
  matrix V = eig.eigenvectors();                     // columns
  const double top = lambda.size() > 0 ? lambda(p - 1) : 0.0;
  const double floor = top > 0 ? top * 1e-16 : std::numeric_limits<double>::min();
  Eigen::VectorXd inv(p);
  for (Eigen::Index k = 0; k < p; ++k) {
    if (lambda(k) <= floor) ++r.numerically_singular;
    inv(k) = 1.0 / std::max(lambda(k), floor);
    // A sign convention, so that files and tables compare: the largest entry is positive.
    Eigen::Index big = 0;
    V.col(k).cwiseAbs().maxCoeff(&big);
    if (V(big, k) < 0) V.col(k) = -V.col(k);
  }
  const matrix cov_r = V * inv.asDiagonal() * V.transpose();
  const matrix cov = scale.asDiagonal() * cov_r * scale.asDiagonal();
  r.condition_number = lambda(0) > 0 ? top / lambda(0) : std::numeric_limits<double>::infinity();

  auto flat = [P](const matrix& m) {
    std::vector<double> out(P * P);
    for (std::size_t i = 0; i < P; ++i) {
      for (std::size_t j = 0; j < P; ++j) {
        out[i * P + j] = m(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j));
      }
    }
    return out;
  };
  r.gauss_newton = flat(jtj);
  r.fisher = flat(F);
  r.fisher_relative = flat(Fr);
  r.covariance = flat(cov);
  r.eigenvectors = flat(V.transpose());
  r.eigenvalues.assign(lambda.data(), lambda.data() + p);
  r.std_error.resize(P);
  r.relative_std_error.resize(P);
  r.correlation.resize(P * P);
  for (std::size_t i = 0; i < P; ++i) {
    const Eigen::Index ii = static_cast<Eigen::Index>(i);
    r.std_error[i] = std::sqrt(cov(ii, ii));
    r.relative_std_error[i] = std::sqrt(cov_r(ii, ii));
    for (std::size_t j = 0; j < P; ++j) {
      const Eigen::Index jj = static_cast<Eigen::Index>(j);
      r.correlation[i * P + j] = cov_r(ii, jj) / std::sqrt(cov_r(ii, ii) * cov_r(jj, jj));
    }
  }
  return r;
}

}  // namespace cellfit
