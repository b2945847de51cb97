// The kernels' vectorisable exp/log against the C library.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "kernels/kmath.hpp"

namespace {

TEST(kmath, exp_fp64_within_one_ulp_over_the_range) {
  std::mt19937_64 gen(7);
  std::uniform_real_distribution<double> wide(-700.0, 700.0), narrow(-2.0, 2.0);
  double worst = 0;
  for (int i = 0; i < 200000; ++i) {
    const double x = i % 2 ? wide(gen) : narrow(gen);
    const double ref = std::exp(x);
    worst = std::max(worst, std::fabs(cellfit::kmath::exp(x) - ref) / ref);
  }
  EXPECT_LT(worst, 3.5e-16);
  EXPECT_EQ(cellfit::kmath::exp(0.0), 1.0);
}

TEST(kmath, exp_fp32_within_two_ulp) {
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> dist(-80.0f, 80.0f);
  double worst = 0;
  for (int i = 0; i < 200000; ++i) {
    const float x = dist(gen);
    const double ref = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::fabs(cellfit::kmath::exp(x) - ref) / ref);
  }
  EXPECT_LT(worst, 2.4e-7);
}

TEST(kmath, log_fp64_and_fp32) {
  std::mt19937_64 gen(3);
  std::uniform_real_distribution<double> e(-300.0, 300.0);
  double worst = 0, worstf = 0;
  for (int i = 0; i < 200000; ++i) {
    const double y = std::exp(e(gen));
    const double ref = std::log(y);
    if (std::fabs(ref) > 1e-3) {
      worst = std::max(worst, std::fabs(cellfit::kmath::log(y) - ref) / std::fabs(ref));
    }
    const float yf = static_cast<float>(std::exp(e(gen) / 10.0));
    const double reff = std::log(static_cast<double>(yf));
    if (std::fabs(reff) > 1e-2) {
      worstf = std::max(worstf, std::fabs(cellfit::kmath::log(yf) - reff) / std::fabs(reff));
    }
  }
  EXPECT_LT(worst, 4.5e-16);
  EXPECT_LT(worstf, 4e-7);
  EXPECT_NEAR(cellfit::kmath::log(1.0), 0.0, 1e-300);
  EXPECT_NEAR(cellfit::kmath::log(2.0), std::log(2.0), 1e-16);
}

TEST(kmath, nan_propagates_and_extremes_stay_finite_or_infinite) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(std::isnan(cellfit::kmath::exp(nan)));
  EXPECT_TRUE(std::isnan(cellfit::kmath::log(nan)));
  EXPECT_TRUE(std::isnan(cellfit::kmath::exp(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_GE(cellfit::kmath::exp(-1e300), 0.0);
  EXPECT_LT(cellfit::kmath::exp(-1e300), 1e-300);
  EXPECT_GT(cellfit::kmath::exp(1e300), 1e307);
  EXPECT_GE(cellfit::kmath::exp(-1e30f), 0.0f);
  EXPECT_GT(cellfit::kmath::exp(1e30f), 1e37f);
}

}  // namespace
