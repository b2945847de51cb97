// The scheduler and what runs under it: plans cover the (set x stimulus) matrix exactly once
// in contiguous rank-ordered runs, with shares that follow the measured rates and chunks that
// respect their limits; the double-buffered pipeline gives the serial results, never lets a
// simulation overwrite a buffer that is still being scored, stops cleanly and rethrows a
// stage's exception after the other stage has finished; the local communication context is
// the identity of every collective and agree() keeps the exception's class; a SIGUSR1 inside
// a stop_scope only records a stop request.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstddef>
#include <limits>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <typeinfo>
#include <utility>
#include <vector>

#include "comm/context.hpp"
#include "common/error.hpp"
#include "common/signals.hpp"
#include "sched/load_balance.hpp"
#include "sched/pipeline.hpp"
#include "sched/plan.hpp"

namespace {

using namespace cellfit;

// ---------------------------------------------------------------------------------------
// Plans
// ---------------------------------------------------------------------------------------

// The properties every plan has, whatever the request: checked on many random requests.
void check_plan(const sched::plan_request& q, const std::vector<sched::rank_resources>& ranks,
                const sched::plan& p) {
  SCOPED_TRACE(::testing::Message()
               << q.n_sets << " sets x " << q.n_stimuli << " stimuli, " << ranks.size()
               << " ranks, axis " << (q.axis == sched::split_axis::sets ? "sets" : "stimuli")
               << ", max_chunks " << q.max_chunks << ", min_chunk_cells " << q.min_chunk_cells);
  ASSERT_EQ(p.n_sets, q.n_sets);
  ASSERT_EQ(p.n_stimuli, q.n_stimuli);
  ASSERT_EQ(p.n_ranks, static_cast<int>(ranks.size()));
  const bool by_sets = q.axis == sched::split_axis::sets;
  const std::size_t n_units = by_sets ? q.n_sets : q.n_stimuli;
  const std::size_t unit_cells = by_sets ? q.n_stimuli : q.n_sets;
  if (n_units == 0 || unit_cells == 0) {
    EXPECT_TRUE(p.blocks.empty());
    return;
  }

  // Every cell exactly once.
  std::vector<int> covered(q.n_sets * q.n_stimuli, 0);
  for (const sched::block& b : p.blocks) {
    ASSERT_GT(b.n_cells(), 0u) << "empty block on rank " << b.rank;
    ASSERT_LE(b.first_set + b.n_sets, q.n_sets);
    ASSERT_LE(b.first_stimulus + b.n_stimuli, q.n_stimuli);
    for (std::size_t i = b.first_set; i < b.first_set + b.n_sets; ++i)
      for (std::size_t s = b.first_stimulus; s < b.first_stimulus + b.n_stimuli; ++s)
        ++covered[i * q.n_stimuli + s];
  }
  for (std::size_t c = 0; c < covered.size(); ++c) ASSERT_EQ(covered[c], 1) << "cell " << c;

  // Ordered by rank, then chunk; chunks numbered 0, 1, ... per rank; the split axis is cut
  // into contiguous runs in block order and the other axis is whole.
  std::size_t next_unit = 0;
  std::vector<std::vector<std::size_t>> units_of(ranks.size());  // chunk sizes per rank
  for (std::size_t k = 0; k < p.blocks.size(); ++k) {
    const sched::block& b = p.blocks[k];
    ASSERT_GE(b.rank, 0);
    ASSERT_LT(b.rank, p.n_ranks);
    if (k > 0) {
      const sched::block& a = p.blocks[k - 1];
      ASSERT_TRUE(a.rank < b.rank || (a.rank == b.rank && a.chunk + 1 == b.chunk))
          << "block " << k << " (rank " << b.rank << " chunk " << b.chunk << ") after rank "
          << a.rank << " chunk " << a.chunk;
    }
    if (k == 0 || p.blocks[k - 1].rank != b.rank) {
      EXPECT_EQ(b.chunk, 0);
    }
    EXPECT_EQ(b.device, ranks[static_cast<std::size_t>(b.rank)].device);
    const std::size_t first = by_sets ? b.first_set : b.first_stimulus;
    const std::size_t n = by_sets ? b.n_sets : b.n_stimuli;
    EXPECT_EQ(first, next_unit) << "block " << k << " is not contiguous with the one before";
    next_unit = first + n;
    if (by_sets) {
      EXPECT_EQ(b.first_stimulus, 0u);
      EXPECT_EQ(b.n_stimuli, q.n_stimuli);
    } else {
      EXPECT_EQ(b.first_set, 0u);
      EXPECT_EQ(b.n_sets, q.n_sets);
    }
    units_of[static_cast<std::size_t>(b.rank)].push_back(n);
    EXPECT_GT(b.cost_s, 0.0);
  }
  EXPECT_EQ(next_unit, n_units);

  // Chunks: at most max_chunks (at least one), within one unit of each other, at least
  // min_chunk_cells cells when there is more than one, and as many as those limits allow.
  const std::size_t max_chunks = static_cast<std::size_t>(std::max(1, q.max_chunks));
  const std::size_t min_units =
      std::max<std::size_t>(1, (q.min_chunk_cells + unit_cells - 1) / unit_cells);
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    const auto& sizes = units_of[r];
    if (sizes.empty()) continue;
    std::size_t units = 0;
    for (std::size_t s : sizes) units += s;
    EXPECT_LE(sizes.size(), max_chunks) << "rank " << r;
    const auto [lo, hi] = std::minmax_element(sizes.begin(), sizes.end());
    EXPECT_LE(*hi - *lo, 1u) << "rank " << r << ": unbalanced chunks";
    if (sizes.size() > 1) {
      EXPECT_GE(*lo * unit_cells, q.min_chunk_cells) << "rank " << r << ": chunk too small";
    }
    if (sizes.size() < max_chunks) {
      EXPECT_LT(units, (sizes.size() + 1) * min_units)
          << "rank " << r << ": " << units << " units could be cut into more than " << sizes.size()
          << " chunks";
    }
  }
}

TEST(sched_plan, every_cell_is_covered_exactly_once_for_random_requests) {
  std::mt19937_64 rng(20240607);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int trial = 0; trial < 3000; ++trial) {
    sched::plan_request q;
    q.n_sets = static_cast<std::size_t>(pick(0, 60));
    q.n_stimuli = static_cast<std::size_t>(pick(0, 12));
    q.axis = pick(0, 1) ? sched::split_axis::sets : sched::split_axis::stimuli;
    q.cell_cost_cs = 1.0 + pick(0, 1000);
    q.max_chunks = pick(-1, 7);
    q.min_chunk_cells = static_cast<std::size_t>(pick(0, 3) == 0 ? 0 : pick(1, 80));
    std::vector<sched::rank_resources> ranks(static_cast<std::size_t>(pick(1, 9)));
    const int rate_mode = pick(0, 2);  // all known, all unknown, mixed
    for (auto& r : ranks) {
      r.device = pick(-1, 3);
      const bool known = rate_mode == 0 || (rate_mode == 2 && pick(0, 1) == 1);
      r.rate_cs = known ? std::exp(std::uniform_real_distribution<double>(0.0, 20.0)(rng))
                        : (pick(0, 1) ? 0.0 : -1.0);
    }
    const sched::plan p = sched::make_plan(q, ranks);
    check_plan(q, ranks, p);
    if (::testing::Test::HasFatalFailure() || ::testing::Test::HasNonfatalFailure()) {
      FAIL() << "trial " << trial;
    }
  }
}

// The units each rank gets along the split axis.
std::vector<std::size_t> shares(const sched::plan& p, sched::split_axis axis) {
  std::vector<std::size_t> out(static_cast<std::size_t>(p.n_ranks), 0);
  for (const auto& b : p.blocks)
    out[static_cast<std::size_t>(b.rank)] +=
        axis == sched::split_axis::sets ? b.n_sets : b.n_stimuli;
  return out;
}

std::vector<sched::rank_resources> with_rates(const std::vector<double>& rates) {
  std::vector<sched::rank_resources> r(rates.size());
  for (std::size_t k = 0; k < rates.size(); ++k) r[k].rate_cs = rates[k];
  return r;
}

TEST(sched_plan, shares_are_proportional_to_the_rates) {
  sched::plan_request q;
  q.n_sets = 100;
  q.n_stimuli = 3;
  q.max_chunks = 1;
  const auto p = sched::make_plan(q, with_rates({1e6, 3e6}));
  EXPECT_EQ(shares(p, q.axis), (std::vector<std::size_t>{25, 75}));
  // Proportional shares equalise the predicted times.
  ASSERT_EQ(p.blocks.size(), 2u);
  EXPECT_DOUBLE_EQ(p.blocks[0].cost_s, 25 * 3 * q.cell_cost_cs / 1e6);
  EXPECT_DOUBLE_EQ(p.blocks[1].cost_s, 75 * 3 * q.cell_cost_cs / 3e6);
  EXPECT_DOUBLE_EQ(p.makespan_s(), 75e-6);

  // Along the stimuli too.
  q.axis = sched::split_axis::stimuli;
  q.n_sets = 1;
  q.n_stimuli = 8;
  EXPECT_EQ(shares(sched::make_plan(q, with_rates({1, 3})), q.axis),
            (std::vector<std::size_t>{2, 6}));

  // Largest remainder: exact shares 0.7, 1.4, 2.1, 2.8 give floors 0, 1, 2, 2 and the two
  // leftover units go to the largest fractions (0.8, then 0.7).
  q.n_stimuli = 7;
  EXPECT_EQ(shares(sched::make_plan(q, with_rates({1, 2, 3, 4})), q.axis),
            (std::vector<std::size_t>{1, 1, 2, 3}));
  // Ties go to the lower rank: 2.5 and 7.5.
  q.axis = sched::split_axis::sets;
  q.n_sets = 10;
  q.n_stimuli = 2;
  EXPECT_EQ(shares(sched::make_plan(q, with_rates({1, 3})), q.axis),
            (std::vector<std::size_t>{3, 7}));
}

TEST(sched_plan, largest_remainder_shares_sum_exactly_for_random_rates) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 500; ++trial) {
    const std::size_t R = 1 + rng() % 8;
    std::vector<double> rates(R);
    for (double& r : rates) r = std::uniform_real_distribution<double>(0.01, 100.0)(rng);
    sched::plan_request q;
    q.n_sets = rng() % 200;
    q.n_stimuli = 1 + rng() % 4;
    const auto s = shares(sched::make_plan(q, with_rates(rates)), q.axis);
    double total = 0;
    for (double r : rates) total += r;
    std::size_t sum = 0;
    double smallest_with_extra = 2, largest_without = -1;
    for (std::size_t r = 0; r < R; ++r) {
      const double exact = static_cast<double>(q.n_sets) * rates[r] / total;
      const double fl = std::floor(exact);
      ASSERT_TRUE(static_cast<double>(s[r]) == fl || static_cast<double>(s[r]) == fl + 1)
          << "rank " << r << " got " << s[r] << " units of an exact share " << exact;
      const double frac = exact - fl;
      if (static_cast<double>(s[r]) == fl + 1) {
        smallest_with_extra = std::min(smallest_with_extra, frac);
      } else {
        largest_without = std::max(largest_without, frac);
      }
      sum += s[r];
    }
    ASSERT_EQ(sum, q.n_sets);
    // The leftover units went to the largest fractional parts.
    ASSERT_GE(smallest_with_extra + 1e-12, largest_without) << "trial " << trial;
  }
}

TEST(sched_plan, unknown_rates_split_equally) {
  sched::plan_request q;
  q.n_sets = 12;
  q.n_stimuli = 2;
  const std::vector<std::size_t> equal = {4, 4, 4};
  EXPECT_EQ(shares(sched::make_plan(q, with_rates({0, 0, 0})), q.axis), equal);
  EXPECT_EQ(shares(sched::make_plan(q, with_rates({-1, -1, -1})), q.axis), equal);
  // One unknown rate makes every rate count as equal (a mix of measured and guessed rates
  // would not equalise anything).
  EXPECT_EQ(shares(sched::make_plan(q, with_rates({5e8, 0, 1e6})), q.axis), equal);
  EXPECT_EQ(shares(sched::make_plan(q, with_rates({5e8, -3, 1e6})), q.axis), equal);
  EXPECT_EQ(
      shares(sched::make_plan(q, with_rates({5e8, std::numeric_limits<double>::quiet_NaN(), 1e6})),
             q.axis),
      equal);
  // 13 units on 3 equal ranks: 5, 4, 4.
  q.n_sets = 13;
  EXPECT_EQ(shares(sched::make_plan(q, with_rates({0, 0, 0})), q.axis),
            (std::vector<std::size_t>{5, 4, 4}));
}

TEST(sched_plan, chunks_respect_min_chunk_cells_and_max_chunks) {
  sched::plan_request q;
  q.n_sets = 40;
  q.n_stimuli = 4;  // 160 cells on one rank
  q.max_chunks = 4;
  q.min_chunk_cells = 1;
  auto chunk_sets = [&] {
    std::vector<std::size_t> out;
    for (const auto& b : sched::make_plan(q, with_rates({0})).blocks) out.push_back(b.n_sets);
    return out;
  };
  EXPECT_EQ(chunk_sets(), (std::vector<std::size_t>{10, 10, 10, 10}));
  q.min_chunk_cells = 64;  // 16 sets per chunk at least: two chunks of 20
  EXPECT_EQ(chunk_sets(), (std::vector<std::size_t>{20, 20}));
  q.min_chunk_cells = 41;  // 11 sets at least: three chunks
  EXPECT_EQ(chunk_sets(), (std::vector<std::size_t>{13, 13, 14}));
  q.min_chunk_cells = 1000;  // more than there is: one chunk
  EXPECT_EQ(chunk_sets(), (std::vector<std::size_t>{40}));
  q.min_chunk_cells = 1;
  q.max_chunks = 1;
  EXPECT_EQ(chunk_sets(), (std::vector<std::size_t>{40}));
  q.max_chunks = 0;  // no pipelining either
  EXPECT_EQ(chunk_sets(), (std::vector<std::size_t>{40}));
  q.max_chunks = 64;  // never more chunks than units
  EXPECT_EQ(chunk_sets().size(), 40u);
}

TEST(sched_plan, the_same_request_gives_the_same_plan) {
  sched::plan_request q;
  q.n_sets = 37;
  q.n_stimuli = 5;
  q.cell_cost_cs = 1234.5;
  q.max_chunks = 3;
  q.min_chunk_cells = 7;
  std::vector<sched::rank_resources> ranks = with_rates({3.5e7, 1.1e7, 9e8});
  ranks[2].device = 1;
  const auto a = sched::make_plan(q, ranks), b = sched::make_plan(q, ranks);
  ASSERT_EQ(a.blocks.size(), b.blocks.size());
  ASSERT_FALSE(a.blocks.empty());
  for (std::size_t k = 0; k < a.blocks.size(); ++k) {
    const auto &x = a.blocks[k], &y = b.blocks[k];
    EXPECT_EQ(x.rank, y.rank);
    EXPECT_EQ(x.device, y.device);
    EXPECT_EQ(x.chunk, y.chunk);
    EXPECT_EQ(x.first_set, y.first_set);
    EXPECT_EQ(x.n_sets, y.n_sets);
    EXPECT_EQ(x.first_stimulus, y.first_stimulus);
    EXPECT_EQ(x.n_stimuli, y.n_stimuli);
    EXPECT_EQ(x.cost_s, y.cost_s);
  }
  EXPECT_EQ(a.summary(), b.summary());
}

TEST(sched_plan, blocks_of_and_makespan) {
  sched::plan_request q;
  q.n_sets = 30;
  q.n_stimuli = 1;
  q.max_chunks = 3;
  q.cell_cost_cs = 10;
  const auto p = sched::make_plan(q, with_rates({1, 2}));
  const auto r0 = p.blocks_of(0), r1 = p.blocks_of(1);
  ASSERT_EQ(r0.size(), 3u);
  ASSERT_EQ(r1.size(), 3u);
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(r0[static_cast<std::size_t>(c)].chunk, c);
    EXPECT_EQ(r1[static_cast<std::size_t>(c)].rank, 1);
  }
  EXPECT_TRUE(p.blocks_of(2).empty());
  // Both ranks predict 10 units x 10 cs / rate 1 = 20 x 10 / 2 = 100 s.
  EXPECT_DOUBLE_EQ(p.makespan_s(), 100.0);
  EXPECT_EQ(sched::make_plan(sched::plan_request{}, with_rates({1})).makespan_s(), 0.0);
  EXPECT_THROW(sched::make_plan(q, {}), internal_error);
}

TEST(sched_plan, summary_mentions_every_rank) {
  sched::plan_request q;
  q.n_sets = 2;  // three equal ranks: one of them has nothing to do
  q.n_stimuli = 3;
  std::vector<sched::rank_resources> ranks(3);
  ranks[0].device = -1;
  ranks[1].device = 1;
  ranks[2].device = 0;
  const auto p = sched::make_plan(q, ranks);
  const std::string s = p.summary();
  EXPECT_NE(s.find("2 sets x 3 stimuli on 3 ranks"), std::string::npos) << s;
  for (int r = 0; r < 3; ++r)
    EXPECT_NE(s.find("rank " + std::to_string(r)), std::string::npos) << s;
  EXPECT_NE(s.find("rank 0 (host)"), std::string::npos) << s;
  EXPECT_NE(s.find("rank 1 (gpu 1)"), std::string::npos) << s;
  EXPECT_NE(s.find("rank 2: idle"), std::string::npos) << s;
  // One line per rank after the heading.
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 4);
}

TEST(sched_device, device_for_local_rank_wraps_over_the_node_devices) {
  EXPECT_EQ(sched::device_for_local_rank(0, 4), 0);
  EXPECT_EQ(sched::device_for_local_rank(3, 4), 3);
  EXPECT_EQ(sched::device_for_local_rank(5, 4), 1);
  EXPECT_EQ(sched::device_for_local_rank(2, 1), 0);
  EXPECT_EQ(sched::device_for_local_rank(0, 0), -1);
  EXPECT_EQ(sched::device_for_local_rank(7, 0), -1);
}

// ---------------------------------------------------------------------------------------
// The pipeline
// ---------------------------------------------------------------------------------------

// What the stages did, in the order it happened (one mutex orders the whole log).
struct event {
  enum kind_type { simulate_begin, simulate_end, score_begin, score_end } kind;
  std::size_t chunk;
  int buffer;
  std::thread::id thread;
};

class event_log {
 public:
  void add(event::kind_type k, std::size_t chunk, int buffer) {
    std::lock_guard<std::mutex> lock(m_);
    events_.push_back({k, chunk, buffer, std::this_thread::get_id()});
  }
  std::vector<event> events() const {
    std::lock_guard<std::mutex> lock(m_);
    return events_;
  }
  // Position of the first event of this kind and chunk; npos when it never happened.
  std::size_t position(event::kind_type k, std::size_t chunk) const {
    std::lock_guard<std::mutex> lock(m_);
    for (std::size_t i = 0; i < events_.size(); ++i)
      if (events_[i].kind == k && events_[i].chunk == chunk) return i;
    return npos;
  }
  std::size_t count(event::kind_type k) const {
    std::lock_guard<std::mutex> lock(m_);
    return static_cast<std::size_t>(
        std::count_if(events_.begin(), events_.end(), [&](const event& e) { return e.kind == k; }));
  }
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

 private:
  mutable std::mutex m_;
  std::vector<event> events_;
};

// Stages that simulate into two real buffers and score from them into per-chunk slots, with
// small varying pauses so that the two threads interleave differently from chunk to chunk.
struct buffered_stages {
  static constexpr std::size_t width = 64;
  std::vector<double> buffer[2] = {std::vector<double>(width), std::vector<double>(width)};
  std::vector<double> results;
  event_log log;

  explicit buffered_stages(std::size_t n_chunks) : results(n_chunks, -1.0) {}

  // Integers, so that every sum is exact whatever the compiler contracts into FMAs, and a
  // chunk scored from another chunk's buffer gives another sum.
  static double value(std::size_t chunk, std::size_t i) {
    return static_cast<double>(chunk * 1000 + i);
  }
  static double expected(std::size_t chunk) {
    double s = 0;
    for (std::size_t i = 0; i < width; ++i) s += value(chunk, i) * static_cast<double>(i + 1);
    return s;
  }

  sched::pipeline_stages stages() {
    sched::pipeline_stages st;
    st.simulate = [this](std::size_t k, int b) {
      log.add(event::simulate_begin, k, b);
      for (std::size_t i = 0; i < width; ++i) {
        buffer[b][i] = value(k, i);
        if (i % 16 == 0 && k % 3 == 1) std::this_thread::yield();
      }
      if (k % 2 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
      log.add(event::simulate_end, k, b);
      return std::make_pair(0.5, 0.25);
    };
    st.score = [this](std::size_t k, int b) {
      log.add(event::score_begin, k, b);
      double s = 0;
      for (std::size_t i = 0; i < width; ++i) {
        s += buffer[b][i] * static_cast<double>(i + 1);
        if (i % 16 == 0 && k % 3 == 2) std::this_thread::yield();
      }
      if (k % 2 == 1) std::this_thread::sleep_for(std::chrono::microseconds(300));
      results[k] = s;
      log.add(event::score_end, k, b);
    };
    return st;
  }
};

TEST(pipeline, overlap_and_serial_give_the_same_results) {
  for (std::size_t n : {0u, 1u, 2u, 3u, 8u}) {
    buffered_stages serial(n), overlapped(n);
    sched::stage_times ts, to;
    EXPECT_TRUE(sched::run_pipeline(n, false, serial.stages(), ts));
    EXPECT_TRUE(sched::run_pipeline(n, true, overlapped.stages(), to));
    EXPECT_EQ(serial.results, overlapped.results) << n << " chunks";
    for (std::size_t k = 0; k < n; ++k)
      EXPECT_EQ(overlapped.results[k], buffered_stages::expected(k));
    for (auto* s : {&serial, &overlapped}) {
      EXPECT_EQ(s->log.count(event::simulate_begin), n);
      EXPECT_EQ(s->log.count(event::score_end), n);
    }
  }
}

TEST(pipeline, serial_stages_alternate_on_the_calling_thread) {
  buffered_stages s(4);
  sched::stage_times t;
  ASSERT_TRUE(sched::run_pipeline(4, false, s.stages(), t));
  const auto ev = s.log.events();
  ASSERT_EQ(ev.size(), 16u);
  for (std::size_t k = 0; k < 4; ++k) {
    EXPECT_EQ(ev[4 * k].kind, event::simulate_begin);
    EXPECT_EQ(ev[4 * k + 1].kind, event::simulate_end);
    EXPECT_EQ(ev[4 * k + 2].kind, event::score_begin);
    EXPECT_EQ(ev[4 * k + 3].kind, event::score_end);
    for (std::size_t j = 0; j < 4; ++j) {
      EXPECT_EQ(ev[4 * k + j].chunk, k);
      EXPECT_EQ(ev[4 * k + j].thread, std::this_thread::get_id());
    }
  }
}

TEST(pipeline, double_buffer_is_never_overwritten_while_scored) {
  for (int repeat = 0; repeat < 20; ++repeat) {
    const std::size_t n = 9;
    buffered_stages s(n);
    sched::stage_times t;
    ASSERT_TRUE(sched::run_pipeline(n, true, s.stages(), t));
    const auto ev = s.log.events();
    auto at = [&](event::kind_type k, std::size_t c) { return s.log.position(k, c); };
    for (std::size_t k = 0; k < n; ++k) {
      SCOPED_TRACE(::testing::Message() << "repeat " << repeat << ", chunk " << k);
      const std::size_t sb = at(event::simulate_begin, k), se = at(event::simulate_end, k);
      const std::size_t cb = at(event::score_begin, k), ce = at(event::score_end, k);
      ASSERT_NE(sb, event_log::npos);
      ASSERT_NE(ce, event_log::npos);
      // simulate(k) writes buffer k % 2 on the calling thread; score(k) reads that buffer,
      // after simulate(k) has returned.
      EXPECT_EQ(ev[sb].buffer, static_cast<int>(k % 2));
      EXPECT_EQ(ev[cb].buffer, ev[sb].buffer);
      EXPECT_EQ(ev[sb].thread, std::this_thread::get_id());
      EXPECT_GT(cb, se);
      // simulate(k + 2) reuses the buffer: only once score(k) has finished with it.
      if (k + 2 < n) {
        EXPECT_GT(at(event::simulate_begin, k + 2), ce);
      }
      // One scoring stage at a time, in chunk order.
      if (k + 1 < n) {
        EXPECT_GT(at(event::score_begin, k + 1), ce);
      }
      EXPECT_EQ(s.results[k], buffered_stages::expected(k));
    }
  }
}

TEST(pipeline, scoring_runs_beside_the_next_simulation) {
  // score(0) waits (up to a generous bound, only so that a broken pipeline cannot hang the
  // test) until simulate(1) has begun: with overlap they run at the same time, without it
  // simulate(1) only begins after score(0) has returned.
  for (bool overlap : {true, false}) {
    std::mutex m;
    std::condition_variable cv;
    bool simulate1_began = false, seen_by_score0 = false;
    std::thread::id score_thread;
    sched::pipeline_stages st;
    st.simulate = [&](std::size_t k, int) {
      if (k == 1) {
        std::lock_guard<std::mutex> lock(m);
        simulate1_began = true;
        cv.notify_all();
      }
      return std::make_pair(0.0, 0.0);
    };
    st.score = [&](std::size_t k, int) {
      if (k != 0) return;
      std::unique_lock<std::mutex> lock(m);
      seen_by_score0 = cv.wait_for(lock, std::chrono::seconds(overlap ? 10 : 0),
                                   [&] { return simulate1_began; });
      score_thread = std::this_thread::get_id();
    };
    sched::stage_times t;
    ASSERT_TRUE(sched::run_pipeline(3, overlap, st, t));
    EXPECT_EQ(seen_by_score0, overlap);
    EXPECT_EQ(score_thread != std::this_thread::get_id(), overlap);
  }
}

TEST(pipeline, a_stop_request_skips_the_chunks_not_started) {
  for (bool overlap : {true, false}) {
    SCOPED_TRACE(overlap ? "overlap" : "serial");
    const std::size_t n = 6;
    buffered_stages s(n);
    sched::pipeline_stages st = s.stages();
    int polls = 0;
    // True once two chunks have started.
    st.stop = [&] {
      ++polls;
      return s.log.count(event::simulate_begin) >= 2;
    };
    sched::stage_times t;
    EXPECT_FALSE(sched::run_pipeline(n, overlap, st, t));
    EXPECT_EQ(polls, 3);  // before chunks 0, 1 and 2
    EXPECT_EQ(s.log.count(event::simulate_begin), 2u);
    // The started chunks were scored completely before run_pipeline returned.
    EXPECT_EQ(s.log.count(event::score_end), 2u);
    EXPECT_EQ(s.results[0], buffered_stages::expected(0));
    EXPECT_EQ(s.results[1], buffered_stages::expected(1));
    for (std::size_t k = 2; k < n; ++k) EXPECT_EQ(s.results[k], -1.0);
    EXPECT_DOUBLE_EQ(t.simulate_s, 2 * 0.5);
  }
  // A stop that never comes, and one that is there from the start.
  for (bool overlap : {true, false}) {
    buffered_stages s(3);
    sched::pipeline_stages st = s.stages();
    st.stop = [] { return false; };
    sched::stage_times t;
    EXPECT_TRUE(sched::run_pipeline(3, overlap, st, t));
    buffered_stages none(3);
    sched::pipeline_stages st2 = none.stages();
    st2.stop = [] { return true; };
    EXPECT_FALSE(sched::run_pipeline(3, overlap, st2, t));
    EXPECT_EQ(none.log.count(event::simulate_begin), 0u);
  }
}

// Stages that record begin/end and throw from one stage at one chunk.
struct throwing_stages {
  std::atomic<int> simulate_started{0}, simulate_finished{0}, score_started{0}, score_finished{0};
  // The counts as the caller sees them once the exception has arrived.
  int at_catch_simulate_started = -1, at_catch_simulate_finished = -1;
  int at_catch_score_started = -1, at_catch_score_finished = -1;

  sched::pipeline_stages stages(bool throw_in_score, std::size_t bad_chunk) {
    sched::pipeline_stages st;
    st.simulate = [this, throw_in_score, bad_chunk](std::size_t k, int) {
      ++simulate_started;
      // Leave the scoring of the chunk before time to be still running.
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (!throw_in_score && k == bad_chunk) {
        ++simulate_finished;
        throw config_error("cellfit::test: simulate " + std::to_string(k));
      }
      ++simulate_finished;
      return std::make_pair(0.0, 0.0);
    };
    st.score = [this, throw_in_score, bad_chunk](std::size_t k, int) {
      ++score_started;
      // Slow enough that the other stage is still busy when this one throws or returns.
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      ++score_finished;
      if (throw_in_score && k == bad_chunk)
        throw io_error("cellfit::test: score " + std::to_string(k));
    };
    return st;
  }
  void snapshot() {
    at_catch_simulate_started = simulate_started;
    at_catch_simulate_finished = simulate_finished;
    at_catch_score_started = score_started;
    at_catch_score_finished = score_finished;
  }
};

TEST(pipeline, an_exception_in_score_is_rethrown_after_the_simulation_finished) {
  for (bool overlap : {true, false}) {
    SCOPED_TRACE(overlap ? "overlap" : "serial");
    const std::size_t n = 8;
    throwing_stages s;
    sched::stage_times t;
    bool caught = false;
    try {
      sched::run_pipeline(n, overlap, s.stages(true, 1), t);
    } catch (const io_error& e) {
      s.snapshot();
      caught = true;
      EXPECT_EQ(typeid(e), typeid(io_error));
      EXPECT_STREQ(e.what(), "cellfit::test: score 1");
    }
    ASSERT_TRUE(caught);
    // Nothing was still running when the exception reached the caller, and the pipeline
    // stopped instead of running the remaining chunks.
    EXPECT_EQ(s.at_catch_simulate_started, s.at_catch_simulate_finished);
    EXPECT_EQ(s.at_catch_score_started, s.at_catch_score_finished);
    EXPECT_LE(s.at_catch_simulate_started, 3);
    EXPECT_GE(s.at_catch_score_started, 2);
    // Nothing more happens afterwards either.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(s.score_started.load(), s.at_catch_score_started);
    EXPECT_EQ(s.simulate_started.load(), s.at_catch_simulate_started);
  }
}

TEST(pipeline, an_exception_in_simulate_is_rethrown_after_the_scoring_finished) {
  for (bool overlap : {true, false}) {
    SCOPED_TRACE(overlap ? "overlap" : "serial");
    const std::size_t n = 8;
    throwing_stages s;
    sched::stage_times t;
    bool caught = false;
    try {
      sched::run_pipeline(n, overlap, s.stages(false, 2), t);
    } catch (const config_error& e) {
      s.snapshot();
      caught = true;
      EXPECT_EQ(typeid(e), typeid(config_error));
      EXPECT_STREQ(e.what(), "cellfit::test: simulate 2");
    }
    ASSERT_TRUE(caught);
    EXPECT_EQ(s.at_catch_simulate_started, 3);  // chunks 0, 1, 2
    // score(0) and score(1) (in flight while simulate(2) threw) finished first; the failed
    // chunk was not scored.
    EXPECT_EQ(s.at_catch_score_started, 2);
    EXPECT_EQ(s.at_catch_score_finished, 2);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(s.score_started.load(), 2);
    EXPECT_EQ(s.simulate_started.load(), 3);
  }
}

TEST(pipeline, stage_times_accumulate) {
  for (bool overlap : {true, false}) {
    sched::pipeline_stages st;
    st.simulate = [](std::size_t k, int) { return std::make_pair(0.25 * (k + 1), 0.125); };
    st.score = [](std::size_t, int) { std::this_thread::sleep_for(std::chrono::milliseconds(1)); };
    sched::stage_times t;
    t.simulate_s = 10;
    t.copy_s = 20;
    t.score_s = 30;
    t.communicate_s = 40;
    t.select_s = 50;
    t.wall_s = 60;
    ASSERT_TRUE(sched::run_pipeline(4, overlap, st, t));
    EXPECT_DOUBLE_EQ(t.simulate_s, 10 + 0.25 * (1 + 2 + 3 + 4));
    EXPECT_DOUBLE_EQ(t.copy_s, 20 + 4 * 0.125);
    EXPECT_GT(t.score_s, 30.0);  // the scoring thread's busy time was added
    EXPECT_EQ(t.communicate_s, 40.0);
    EXPECT_EQ(t.select_s, 50.0);
    EXPECT_EQ(t.wall_s, 60.0);
    const double after_one = t.score_s;
    ASSERT_TRUE(sched::run_pipeline(2, overlap, st, t));
    EXPECT_GT(t.score_s, after_one);
    EXPECT_DOUBLE_EQ(t.simulate_s, 10 + 0.25 * (1 + 2 + 3 + 4) + 0.25 * (1 + 2));
  }
}

TEST(pipeline, stage_times_add_and_overlap_efficiency) {
  sched::stage_times a, b;
  a.simulate_s = 1;
  a.copy_s = 0.5;
  a.score_s = 1.5;
  a.communicate_s = 7;
  a.select_s = 11;
  a.wall_s = 2;
  // Communication and selection are not simulation or scoring work.
  EXPECT_DOUBLE_EQ(a.overlap_efficiency(), 1.5);
  EXPECT_EQ(b.overlap_efficiency(), 0.0);  // no wall time: 0, not a division by zero
  b.simulate_s = 2;
  b.copy_s = 1;
  b.score_s = 3;
  b.communicate_s = 1;
  b.select_s = 1;
  b.wall_s = 6;
  EXPECT_DOUBLE_EQ(b.overlap_efficiency(), 1.0);
  sched::stage_times& r = (a += b);
  EXPECT_EQ(&r, &a);
  EXPECT_DOUBLE_EQ(a.simulate_s, 3);
  EXPECT_DOUBLE_EQ(a.copy_s, 1.5);
  EXPECT_DOUBLE_EQ(a.score_s, 4.5);
  EXPECT_DOUBLE_EQ(a.communicate_s, 8);
  EXPECT_DOUBLE_EQ(a.select_s, 12);
  EXPECT_DOUBLE_EQ(a.wall_s, 8);
  EXPECT_DOUBLE_EQ(a.overlap_efficiency(), 9.0 / 8.0);
}

// ---------------------------------------------------------------------------------------
// The local communication context
// ---------------------------------------------------------------------------------------

TEST(comm_local, collectives_are_identities) {
  const comm::context_ptr ctx = comm::make_local_context();
  ASSERT_TRUE(ctx);
  EXPECT_EQ(ctx->rank(), 0);
  EXPECT_EQ(ctx->size(), 1);
  EXPECT_EQ(ctx->local_rank(), 0);
  EXPECT_EQ(ctx->local_size(), 1);
  EXPECT_EQ(ctx->name(), "local");

  const std::vector<double> v0 = {1.5, -0.0, 3e300, -7.25};
  std::vector<double> v = v0;
  ctx->sum(v);
  EXPECT_EQ(v, v0);
  EXPECT_TRUE(std::signbit(v[1]));
  EXPECT_EQ(ctx->max(-42), -42);
  EXPECT_EQ(ctx->max(1LL << 40), 1LL << 40);
  ctx->broadcast(v, 0);
  EXPECT_EQ(v, v0);
  std::string s = "hello";
  ctx->broadcast(s, 0);
  EXPECT_EQ(s, "hello");

  std::vector<std::size_t> counts = {9, 9, 9};
  EXPECT_EQ(ctx->gather(v0, 0, &counts), v0);
  EXPECT_EQ(counts, (std::vector<std::size_t>{4}));
  EXPECT_EQ(ctx->gather(v0, 0), v0);
  counts.clear();
  EXPECT_EQ(ctx->gather_all(v0, &counts), v0);
  EXPECT_EQ(counts, (std::vector<std::size_t>{4}));
  EXPECT_TRUE(ctx->gather({}, 0, &counts).empty());
  EXPECT_EQ(counts, (std::vector<std::size_t>{0}));
  ctx->barrier();

  const comm::context_ptr sub = ctx->split(3);
  ASSERT_TRUE(sub);
  EXPECT_EQ(sub->size(), 1);
  EXPECT_EQ(sub->rank(), 0);
}

// Runs agree() with f and returns the class of what came out ("" when nothing).
template <class F>
std::string thrown_type(const comm::context& ctx, F f) {
  try {
    comm::agree(ctx, f);
  } catch (const std::exception& e) {
    return typeid(e).name();
  }
  return "";
}

TEST(comm_local, agree_rethrows_the_original_exception) {
  const comm::context_ptr ctx = comm::make_local_context();
  int calls = 0;
  EXPECT_NO_THROW(comm::agree(*ctx, [&] { ++calls; }));
  EXPECT_EQ(calls, 1);

  // The exception itself, not peer_error or a base class: main() maps the class to its exit
  // code, so a one-rank run must keep it.
  try {
    comm::agree(*ctx, [] { throw config_error("cellfit::config: run.toml:3: bad"); });
    FAIL() << "agree() swallowed the exception";
  } catch (const config_error& e) {
    EXPECT_STREQ(e.what(), "cellfit::config: run.toml:3: bad");
    EXPECT_EQ(comm::describe(e), "config error: cellfit::config: run.toml:3: bad");
    EXPECT_EQ(exit_code_of(e), exit_config);
  }
  EXPECT_EQ(thrown_type(*ctx, [] { throw config_error("x"); }), typeid(config_error).name());
  EXPECT_EQ(thrown_type(*ctx, [] { throw io_error("x"); }), typeid(io_error).name());
  EXPECT_EQ(thrown_type(*ctx, [] { throw morphology_error("x"); }),
            typeid(morphology_error).name());
  EXPECT_EQ(thrown_type(*ctx, [] { throw internal_error("x"); }), typeid(internal_error).name());
  EXPECT_EQ(thrown_type(*ctx, [] { throw std::out_of_range("x"); }),
            typeid(std::out_of_range).name());
  try {
    comm::agree(*ctx, [] { throw peer_error("cellfit::comm: rank 3 failed", exit_io); });
    FAIL() << "agree() swallowed the exception";
  } catch (const peer_error& e) {
    EXPECT_EQ(e.exit_code(), exit_io);
  }
  // Not even a std::exception: still the same object.
  try {
    comm::agree(*ctx, [] { throw 17; });
    FAIL() << "agree() swallowed the exception";
  } catch (int x) {
    EXPECT_EQ(x, 17);
  }
}

TEST(comm_local, describe_names_the_class) {
  EXPECT_EQ(comm::describe(usage_error("u")), "usage error: u");
  EXPECT_EQ(comm::describe(morphology_error("m")), "morphology error: m");
  EXPECT_EQ(comm::describe(io_error("i")), "I/O error: i");
  EXPECT_EQ(comm::describe(error("e")), "error: e");
  EXPECT_EQ(comm::describe(internal_error("b")), "internal error (please report): b");
  EXPECT_EQ(comm::describe(std::runtime_error("r")), "internal error (please report): r");
}

// ---------------------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------------------

TEST(signals, sigusr1_inside_a_scope_only_requests_a_stop) {
  // Only SIGUSR1 and only inside a scope: outside one the signal kills the process.
  signals::clear_stop_request();
  ASSERT_EQ(signals::stop_requested(), 0);
  {
    const signals::stop_scope scope;
    EXPECT_EQ(signals::stop_requested(), 0);
    ASSERT_EQ(std::raise(SIGUSR1), 0);
    // raise() returns after the handler has run on this thread.
    EXPECT_EQ(signals::stop_requested(), SIGUSR1);
    signals::clear_stop_request();
    EXPECT_EQ(signals::stop_requested(), 0);
    // Once cleared, the next signal is again a stop request, not a kill.
    ASSERT_EQ(std::raise(SIGUSR1), 0);
    EXPECT_EQ(signals::stop_requested(), SIGUSR1);
    signals::clear_stop_request();
  }
  EXPECT_EQ(signals::stop_requested(), 0);
  // A second scope works the same (the handlers are installed once).
  {
    const signals::stop_scope scope;
    ASSERT_EQ(std::raise(SIGUSR1), 0);
    EXPECT_EQ(signals::stop_requested(), SIGUSR1);
    signals::clear_stop_request();
  }
  EXPECT_EQ(signals::stop_requested(), 0);
}

}  // namespace
