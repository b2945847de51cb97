// The Hines solve against a dense LU solve of the same symmetric tree matrix.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <random>

#include "kernels/hines.hpp"

namespace {

template <int Lanes>
void check_random_trees(std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int trial = 0; trial < 20; ++trial) {
    const int n = 1 + static_cast<int>(u(gen) * 300);
    Kokkos::View<int*, Kokkos::HostSpace> parent("parent", n);
    // Each lane has its own conductances (a batch that fits Ra).
    cellfit::batch_view3<double, Kokkos::HostSpace> g("g", 1, n, Lanes);
    cellfit::batch_view3<double, Kokkos::HostSpace> d("d", 1, n, Lanes), rhs("rhs", 1, n, Lanes);
    parent(0) = -1;
    for (int i = 1; i < n; ++i) {
      // Mix of chains and bushy branching.
      parent(i) = u(gen) < 0.5 ? i - 1 : static_cast<int>(u(gen) * i);
      for (int l = 0; l < Lanes; ++l) g(0, i, l) = 0.01 + 10.0 * u(gen);
    }
    std::vector<Eigen::MatrixXd> dense(Lanes, Eigen::MatrixXd::Zero(n, n));
    std::vector<Eigen::VectorXd> b(Lanes, Eigen::VectorXd(n));
    for (int l = 0; l < Lanes; ++l) {
      for (int i = 0; i < n; ++i) {
        // Zero-capacitance junction rows are allowed: the diagonal is then only the sum of
        // the axial conductances, as for NEURON's zero-area nodes.
        const double cap = (i > 0 && u(gen) < 0.2) ? 0.0 : 0.1 + u(gen) * 5.0;
        dense[l](i, i) += cap;
        b[l](i) = u(gen) * 2.0 - 1.0;
        rhs(0, i, l) = b[l](i);
      }
      for (int i = 1; i < n; ++i) {
        const int p = parent(i);
        dense[l](i, i) += g(0, i, l);
        dense[l](p, p) += g(0, i, l);
        dense[l](i, p) -= g(0, i, l);
        dense[l](p, i) -= g(0, i, l);
      }
      for (int i = 0; i < n; ++i) d(0, i, l) = dense[l](i, i);
    }
    std::vector<int> visited;
    cellfit::hines_solve<Lanes, double, Kokkos::HostSpace>(
        0, n, parent, g, 0, d, rhs, [&](int i) { visited.push_back(i); }, std::true_type{});
    ASSERT_EQ(static_cast<int>(visited.size()), n);
    for (int i = 0; i < n; ++i) ASSERT_EQ(visited[static_cast<std::size_t>(i)], i);
    for (int l = 0; l < Lanes; ++l) {
      const Eigen::VectorXd x = dense[l].partialPivLu().solve(b[l]);
      const double scale = x.cwiseAbs().maxCoeff();
      for (int i = 0; i < n; ++i) {
        ASSERT_NEAR(rhs(0, i, l), x(i), 1e-11 * scale)
            << "n=" << n << " node " << i << " lane " << l;
      }
    }
  }
}

TEST(hines, matches_dense_solve_one_lane) { check_random_trees<1>(11); }
TEST(hines, matches_dense_solve_eight_lanes) { check_random_trees<8>(12); }
TEST(hines, matches_dense_solve_thirty_two_lanes) { check_random_trees<32>(13); }

}  // namespace
