// Stimulus generators: timing at step midpoints (NEURON's IClamp convention), seeded
// randomness, paper 000's random_steps, waveform files.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>

#include "common/error.hpp"
#include "stimulus/stimulus.hpp"

namespace {

using cellfit::stimulus;
using cellfit::stimulus_component;
using cellfit::stimulus_kind;

stimulus one(stimulus_component c) {
  stimulus s;
  s.name = "s";
  s.components.push_back(std::move(c));
  return s;
}

TEST(stimulus, step_covers_exactly_duration_over_dt_steps) {
  stimulus_component c;
  c.kind = stimulus_kind::step;
  c.sites = {0};
  c.amplitude = 0.5;
  c.delay_ms = 1.0;
  c.duration_ms = 2.0;
  const auto st = cellfit::sample_stimuli({one(c)}, 200, 0.025);
  int on = 0, first = -1;
  for (std::size_t n = 0; n < 200; ++n) {
    if (st.at(0, 0, n) != 0.0) {
      ++on;
      if (first < 0) first = static_cast<int>(n);
      EXPECT_DOUBLE_EQ(st.at(0, 0, n), 0.5);
    }
  }
  EXPECT_EQ(on, 80);     // dur / dt
  EXPECT_EQ(first, 40);  // the step from t = 1.0 to 1.025 (midpoint 1.0125 >= delay)
}

TEST(stimulus, ramp_is_linear_and_holding_is_constant) {
  stimulus_component r;
  r.kind = stimulus_kind::ramp;
  r.sites = {0};
  r.amplitude = 0.0;
  r.amplitude_end = 1.0;
  r.delay_ms = 0.0;
  r.duration_ms = 10.0;
  EXPECT_NEAR(r.value(0, 5.0), 0.5, 1e-15);
  EXPECT_NEAR(r.value(0, 2.5), 0.25, 1e-15);
  EXPECT_EQ(r.value(0, 10.0), 0.0);
  stimulus_component h;
  h.kind = stimulus_kind::holding;
  h.amplitude = -0.1;
  EXPECT_EQ(h.value(0, 123.0), -0.1);
  // Components of one stimulus add up at a shared site.
  h.sites = {0};
  stimulus s = one(r);
  s.components.push_back(h);
  const auto st = cellfit::sample_stimuli({s}, 400, 0.025);
  EXPECT_NEAR(st.at(0, 0, 200), 0.5 + 0.5 * 0.0025 - 0.1, 1e-12);
}

TEST(stimulus, noise_is_seeded_with_the_requested_statistics) {
  stimulus_component c;
  c.kind = stimulus_kind::noise;
  c.sites = {0, 3};
  c.amplitude = 0.2;
  c.stdev = 0.05;
  c.delay_ms = 0;
  c.duration_ms = 1000;
  c.sample_ms = 0.1;
  c.seed = 42;
  const auto a = cellfit::sample_stimuli({one(c)}, 10000, 0.1);
  const auto b = cellfit::sample_stimuli({one(c)}, 10000, 0.1);
  EXPECT_EQ(a.current, b.current);
  double mean = 0, var = 0;
  for (std::size_t n = 0; n < 10000; ++n) mean += a.at(0, 0, n) / 10000;
  for (std::size_t n = 0; n < 10000; ++n) var += std::pow(a.at(0, 0, n) - mean, 2) / 9999;
  EXPECT_NEAR(mean, 0.2, 0.003);
  EXPECT_NEAR(std::sqrt(var), 0.05, 0.002);
  EXPECT_NE(a.at(0, 0, 7), a.at(0, 1, 7));  // independent per site
  c.seed = 43;
  const auto d = cellfit::sample_stimuli({one(c)}, 10000, 0.1);
  EXPECT_NE(a.current, d.current);
}

TEST(stimulus, random_steps_follow_paper_000) {
  std::set<std::vector<double>> distinct;
  for (std::uint64_t k = 0; k < 50; ++k) {
    const auto lv = cellfit::random_step_levels(20230619, k, 0, 48, 0.05, 0, 20);
    ASSERT_EQ(lv.size(), 48u);
    EXPECT_EQ(lv.front(), 0.0);
    EXPECT_EQ(lv.back(), 0.0);
    int changes = 0;
    for (std::size_t i = 1; i + 1 < lv.size(); ++i) {
      EXPECT_GE(lv[i], 0.0);
      EXPECT_LT(lv[i], 20.0);
      EXPECT_EQ(lv[i], std::floor(lv[i]));
      if (i > 1) changes += lv[i] != lv[i - 1];
    }
    EXPECT_LE(changes, 2);  // round(0.05 * 48) = 2 change points
    distinct.insert(lv);
    EXPECT_EQ(lv, cellfit::random_step_levels(20230619, k, 0, 48, 0.05, 0, 20));
  }
  EXPECT_GT(distinct.size(), 40u);
}

TEST(stimulus, waveform_csv_is_interpolated) {
  const std::string path = ::testing::TempDir() + "/wave.csv";
  {
    std::ofstream f(path);
    f << "t_ms,i_na\n0,0\n10,1\n20,0\n";
  }
  stimulus_component c;
  c.kind = stimulus_kind::waveform;
  c.sites = {0};
  c.waveform = cellfit::read_waveform(path, "");
  c.delay_ms = 0;
  c.duration_ms = 100;
  EXPECT_NEAR(c.value(0, 5.0), 0.5, 1e-15);
  EXPECT_NEAR(c.value(0, 15.0), 0.5, 1e-15);
  EXPECT_EQ(c.value(0, 25.0), 0.0);
  {
    std::ofstream f(path);
    f << "0,0\n5,oops\n";
  }
  EXPECT_THROW(cellfit::read_waveform(path, ""), cellfit::config_error);
  EXPECT_THROW(cellfit::read_waveform("/nonexistent.csv", ""), cellfit::io_error);
}

}  // namespace
