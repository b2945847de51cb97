#include "ga/variation.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace cellfit::ga {

namespace {

// Deb's spread factor for one side of the pair: beta measures the room to that bound.
double spread(double beta, double eta, double u) {
  const double alpha = 2.0 - std::pow(beta, -(eta + 1.0));
  if (u <= 1.0 / alpha) return std::pow(u * alpha, 1.0 / (eta + 1.0));
  return std::pow(1.0 / (2.0 - u * alpha), 1.0 / (eta + 1.0));
}

}  // namespace

void sbx_crossover(std::vector<double>& a, std::vector<double>& b, double eta, random_stream& r) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    // Draw every number whatever the branch, so a gene's draws do not depend on its values.
    const double u_cross = r.uniform(), u = r.uniform(), u_swap = r.uniform();
    if (u_cross > 0.5) continue;
    if (std::abs(a[i] - b[i]) <= 1e-14) continue;
    const double x1 = std::min(a[i], b[i]), x2 = std::max(a[i], b[i]);
    const double d = x2 - x1;
    const double bq1 = spread(1.0 + 2.0 * x1 / d, eta, u);
    const double bq2 = spread(1.0 + 2.0 * (1.0 - x2) / d, eta, u);
    double c1 = std::clamp(0.5 * (x1 + x2 - bq1 * d), 0.0, 1.0);
    double c2 = std::clamp(0.5 * (x1 + x2 + bq2 * d), 0.0, 1.0);
    if (u_swap <= 0.5) std::swap(c1, c2);
    a[i] = c1;
    b[i] = c2;
  }
}

void polynomial_mutation(std::vector<double>& x, double eta, double gene_prob, random_stream& r) {
  const double power = 1.0 / (eta + 1.0);
  for (double& g : x) {
    const double u_gene = r.uniform(), u = r.uniform();
    if (u_gene > gene_prob) continue;
    double dq;
    if (u < 0.5) {
      const double xy = 1.0 - g;  // 1 - distance to the lower bound
      const double val = 2.0 * u + (1.0 - 2.0 * u) * std::pow(xy, eta + 1.0);
      dq = std::pow(val, power) - 1.0;
    } else {
      const double xy = g;  // 1 - distance to the upper bound
      const double val = 2.0 * (1.0 - u) + 2.0 * (u - 0.5) * std::pow(xy, eta + 1.0);
      dq = 1.0 - std::pow(val, power);
    }
    g = std::clamp(g + dq, 0.0, 1.0);
  }
}

}  // namespace cellfit::ga
