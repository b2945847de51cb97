#include "ga/cma_es.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/error.hpp"
#include "ga/random_stream.hpp"

namespace cellfit::ga {

cma_es::cma_es(std::vector<double> mean, double sigma, int lambda, std::uint64_t seed)
    : n_(static_cast<int>(mean.size())), seed_(seed), sigma_(sigma) {
  if (n_ < 1) throw internal_error("cellfit::cma_es: no parameters");
  lambda_ = lambda > 0 ? lambda : 4 + static_cast<int>(std::floor(3.0 * std::log(n_)));
  if (lambda_ < 2) lambda_ = 2;
  mu_ = lambda_ / 2;
  w_.resize(static_cast<std::size_t>(mu_));
  for (int i = 0; i < mu_; ++i) w_[i] = std::log(mu_ + 0.5) - std::log(i + 1.0);
  const double sw = std::accumulate(w_.begin(), w_.end(), 0.0);
  double sw2 = 0;
  for (double& w : w_) {
    w /= sw;
    sw2 += w * w;
  }
  mueff_ = 1.0 / sw2;
  const double n = n_;
  cc_ = (4 + mueff_ / n) / (n + 4 + 2 * mueff_ / n);
  cs_ = (mueff_ + 2) / (n + mueff_ + 5);
  c1_ = 2 / ((n + 1.3) * (n + 1.3) + mueff_);
  cmu_ = std::min(1 - c1_, 2 * (mueff_ - 2 + 1 / mueff_) / ((n + 2) * (n + 2) + mueff_));
  damps_ = 1 + 2 * std::max(0.0, std::sqrt((mueff_ - 1) / (n + 1)) - 1) + cs_;
  chin_ = std::sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n));
  m_ = Eigen::Map<const Eigen::VectorXd>(mean.data(), n_);
  pc_ = Eigen::VectorXd::Zero(n_);
  ps_ = Eigen::VectorXd::Zero(n_);
  c_ = Eigen::MatrixXd::Identity(n_, n_);
  b_ = Eigen::MatrixXd::Identity(n_, n_);
  d_ = Eigen::VectorXd::Ones(n_);
}

std::vector<std::vector<double>> cma_es::ask(std::uint64_t generation) const {
  std::vector<std::vector<double>> out(static_cast<std::size_t>(lambda_));
  Eigen::VectorXd z(n_);
  for (int k = 0; k < lambda_; ++k) {
    random_stream r(seed_, generation, static_cast<std::uint64_t>(k), purpose::sample);
    for (int i = 0; i < n_; ++i) z[i] = r.normal();
    const Eigen::VectorXd x = m_ + sigma_ * (b_ * d_.cwiseProduct(z));
    auto& o = out[static_cast<std::size_t>(k)];
    o.resize(static_cast<std::size_t>(n_));
    for (int i = 0; i < n_; ++i) o[i] = std::clamp(x[i], 0.0, 1.0);
  }
  return out;
}

void cma_es::tell(const std::vector<std::vector<double>>& samples,
                  const std::vector<double>& cost) {
  std::vector<std::size_t> order(samples.size());
  std::iota(order.begin(), order.end(), 0);
  // Non-finite costs last; ties by sample index, so the update is deterministic.
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const bool fa = std::isfinite(cost[a]), fb = std::isfinite(cost[b]);
    if (fa != fb) return fa;
    return fa && cost[a] < cost[b];
  });
  const Eigen::VectorXd old = m_;
  Eigen::MatrixXd y(n_, mu_);
  m_.setZero();
  for (int i = 0; i < mu_; ++i) {
    const Eigen::VectorXd x = Eigen::Map<const Eigen::VectorXd>(samples[order[i]].data(), n_);
    y.col(i) = (x - old) / sigma_;
    m_ += w_[i] * x;
  }
  const Eigen::VectorXd step = (m_ - old) / sigma_;
  // C^(-1/2) step = B D^-1 B^T step
  const Eigen::VectorXd white = b_ * (b_.transpose() * step).cwiseQuotient(d_);
  ps_ = (1 - cs_) * ps_ + std::sqrt(cs_ * (2 - cs_) * mueff_) * white;
  ++generations_;
  const double ps_norm = ps_.norm();
  const bool hsig =
      ps_norm / std::sqrt(1 - std::pow(1 - cs_, 2.0 * generations_)) / chin_ < 1.4 + 2.0 / (n_ + 1);
  pc_ = (1 - cc_) * pc_ + (hsig ? std::sqrt(cc_ * (2 - cc_) * mueff_) : 0.0) * step;
  Eigen::MatrixXd rank_mu = Eigen::MatrixXd::Zero(n_, n_);
  for (int i = 0; i < mu_; ++i) rank_mu += w_[i] * y.col(i) * y.col(i).transpose();
  c_ = (1 - c1_ - cmu_) * c_ + c1_ * (pc_ * pc_.transpose() + (hsig ? 0.0 : cc_ * (2 - cc_)) * c_) +
       cmu_ * rank_mu;
  sigma_ *= std::exp((cs_ / damps_) * (ps_norm / chin_ - 1));
  // A step beyond the cube's diagonal only produces clipped samples.
  sigma_ = std::min(sigma_, 2.0);
  c_ = 0.5 * (c_ + c_.transpose());
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(c_);
  b_ = eig.eigenvectors();
  d_ = eig.eigenvalues().cwiseMax(1e-20).cwiseSqrt();
}

}  // namespace cellfit::ga
