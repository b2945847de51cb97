#pragma once
// CMA-ES, (mu/mu_w, lambda) with rank-one and rank-mu updates and cumulative step-size
// adaptation, as in Hansen's tutorial ("The CMA Evolution Strategy", 2016), on the GA's unit
// cube: samples are clipped to [0, 1] before evaluation and the update uses the clipped
// points, so the distribution learns from what was evaluated. Host only (Eigen).

#include <cstdint>
#include <vector>

#include <Eigen/Dense>

namespace cellfit::ga {

class cma_es {
 public:
  // mean: start point in [0, 1]^n; sigma: initial step (fraction of the cube); lambda >= 2
  // samples per generation (0: 4 + floor(3 ln n)).
  cma_es(std::vector<double> mean, double sigma, int lambda, std::uint64_t seed);

  int lambda() const { return lambda_; }
  double sigma() const { return sigma_; }
  const Eigen::VectorXd& mean() const { return m_; }

  // The lambda samples of `generation` (keyed by (seed, generation, sample)), clipped.
  std::vector<std::vector<double>> ask(std::uint64_t generation) const;
  // Updates from the samples of ask() and their costs (lower is better; non-finite costs
  // rank last).
  void tell(const std::vector<std::vector<double>>& samples, const std::vector<double>& cost);

 private:
  int n_, lambda_, mu_;
  std::uint64_t seed_;
  std::vector<double> w_;
  double mueff_, cc_, cs_, c1_, cmu_, damps_, chin_;
  double sigma_;
  int generations_ = 0;
  Eigen::VectorXd m_, pc_, ps_;
  Eigen::MatrixXd c_, b_;
  Eigen::VectorXd d_;
};

}  // namespace cellfit::ga
