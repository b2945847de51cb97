#include "sched/pipeline.hpp"

#include <chrono>
#include <exception>
#include <future>

namespace cellfit::sched {

stage_times& stage_times::operator+=(const stage_times& o) {
  simulate_s += o.simulate_s;
  copy_s += o.copy_s;
  score_s += o.score_s;
  communicate_s += o.communicate_s;
  select_s += o.select_s;
  wall_s += o.wall_s;
  return *this;
}

namespace {

using clock_type = std::chrono::steady_clock;

double timed(const std::function<void(std::size_t, int)>& f, std::size_t k, int buffer) {
  const auto t0 = clock_type::now();
  f(k, buffer);
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

}  // namespace

bool run_pipeline(std::size_t n_chunks, bool overlap, const pipeline_stages& st,
                  stage_times& times) {
  auto stopped = [&] { return st.stop && st.stop(); };
  if (!overlap) {
    for (std::size_t k = 0; k < n_chunks; ++k) {
      if (stopped()) return false;
      const auto [kernel, copy] = st.simulate(k, 0);
      times.simulate_s += kernel;
      times.copy_s += copy;
      times.score_s += timed(st.score, k, 0);
    }
    return true;
  }
  std::future<double> scoring;  // score(k - 1), in flight while simulate(k) runs
  std::exception_ptr failure;
  bool complete = true;
  auto fence = [&] {
    if (!scoring.valid()) return;
    try {
      times.score_s += scoring.get();
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  };
  for (std::size_t k = 0; k < n_chunks && !failure; ++k) {
    if (stopped()) {
      complete = false;
      break;
    }
    const int buffer = static_cast<int>(k % 2);
    try {
      const auto [kernel, copy] = st.simulate(k, buffer);
      times.simulate_s += kernel;
      times.copy_s += copy;
    } catch (...) {
      failure = std::current_exception();
    }
    fence();  // score(k - 1) done: buffer (k + 1) % 2 is free for simulate(k + 1)
    if (failure) break;
    scoring = std::async(std::launch::async, timed, std::cref(st.score), k, buffer);
  }
  fence();
  if (failure) std::rethrow_exception(failure);
  return complete;
}

}  // namespace cellfit::sched
