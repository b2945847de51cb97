// Question: how much faster are the kernels' vectorisable exp/log than the C library's in
// the loops the channels run (a batch of lanes, no -ffast-math)? Google Benchmark reports
// items per second for each; compare the rows of one run.

#include <cmath>
#include <vector>

#include <benchmark/benchmark.h>

#include "kernels/kmath.hpp"

namespace {

constexpr int lanes = 4096;

template <class Real>
std::vector<Real> arguments() {
  std::vector<Real> x(lanes);
  for (int i = 0; i < lanes; ++i)
    x[static_cast<std::size_t>(i)] = static_cast<Real>(-40.0 + 80.0 * i / lanes);
  return x;
}

template <class Real>
void bm_kmath_exp(benchmark::State& state) {
  const auto x = arguments<Real>();
  std::vector<Real> y(lanes);
  for (auto _ : state) {
#pragma GCC ivdep
    for (int i = 0; i < lanes; ++i)
      y[static_cast<std::size_t>(i)] = cellfit::kmath::exp(x[static_cast<std::size_t>(i)]);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * lanes);
}

template <class Real>
void bm_std_exp(benchmark::State& state) {
  const auto x = arguments<Real>();
  std::vector<Real> y(lanes);
  for (auto _ : state) {
    for (int i = 0; i < lanes; ++i)
      y[static_cast<std::size_t>(i)] = std::exp(x[static_cast<std::size_t>(i)]);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * lanes);
}

template <class Real>
void bm_kmath_log(benchmark::State& state) {
  auto x = arguments<Real>();
  for (auto& v : x) v = std::exp(v / 4) + Real(1);
  std::vector<Real> y(lanes);
  for (auto _ : state) {
#pragma GCC ivdep
    for (int i = 0; i < lanes; ++i)
      y[static_cast<std::size_t>(i)] = cellfit::kmath::log(x[static_cast<std::size_t>(i)]);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * lanes);
}

template <class Real>
void bm_std_log(benchmark::State& state) {
  auto x = arguments<Real>();
  for (auto& v : x) v = std::exp(v / 4) + Real(1);
  std::vector<Real> y(lanes);
  for (auto _ : state) {
    for (int i = 0; i < lanes; ++i)
      y[static_cast<std::size_t>(i)] = std::log(x[static_cast<std::size_t>(i)]);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * lanes);
}

BENCHMARK_TEMPLATE(bm_kmath_exp, double);
BENCHMARK_TEMPLATE(bm_std_exp, double);
BENCHMARK_TEMPLATE(bm_kmath_exp, float);
BENCHMARK_TEMPLATE(bm_std_exp, float);
BENCHMARK_TEMPLATE(bm_kmath_log, double);
BENCHMARK_TEMPLATE(bm_std_log, double);

}  // namespace

BENCHMARK_MAIN();
