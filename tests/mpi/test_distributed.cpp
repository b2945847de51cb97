// Distributed runs against one-process runs in the same program (run under mpirun -np 1, 2
// and 4): the context's collectives, error agreement, the GA and gradient engines giving
// bit-identical results on any number of ranks, and a run interrupted on N ranks resuming
// on one rank to the uninterrupted result.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "ga/genetic_fit.hpp"
#include "ga/objectives.hpp"
#include "gradient/gradient_fit.hpp"
#include "io/config.hpp"
#include "model/parameter_space.hpp"
#include "mpi_test.hpp"
#include "sim/batch_simulator.hpp"

namespace {

using namespace cellfit;
using test::world;

TEST(comm, collectives_give_the_same_values_on_every_rank) {
  const comm::context& ctx = *world();
  const int R = ctx.size(), r = ctx.rank();
  std::vector<double> v(static_cast<std::size_t>(R) + 1, 0.0);
  v[static_cast<std::size_t>(r)] = r + 1.5;
  v.back() = 1.0;
  ctx.sum(v);
  for (int k = 0; k < R; ++k) EXPECT_EQ(v[static_cast<std::size_t>(k)], k + 1.5);
  EXPECT_EQ(v.back(), static_cast<double>(R));
  EXPECT_EQ(ctx.max(10 * r + 3), 10 * (R - 1) + 3);

  std::vector<double> b = r == R - 1 ? std::vector<double>{4, 5, 6} : std::vector<double>{1};
  ctx.broadcast(b, R - 1);
  EXPECT_EQ(b, (std::vector<double>{4, 5, 6}));
  std::string s = r == 0 ? "from rank 0" : "";
  ctx.broadcast(s, 0);
  EXPECT_EQ(s, "from rank 0");

  // Rank k contributes k + 1 values 10k, 10k + 1, ...
  std::vector<double> mine;
  for (int k = 0; k <= r; ++k) mine.push_back(10.0 * r + k);
  std::vector<double> expect;
  std::vector<std::size_t> expect_counts;
  for (int q = 0; q < R; ++q) {
    for (int k = 0; k <= q; ++k) expect.push_back(10.0 * q + k);
    expect_counts.push_back(static_cast<std::size_t>(q) + 1);
  }
  std::vector<std::size_t> counts;
  const auto all = ctx.gather_all(mine, &counts);
  EXPECT_EQ(all, expect);
  EXPECT_EQ(counts, expect_counts);
  const auto at_root = ctx.gather(mine, 0, &counts);
  if (r == 0) {
    EXPECT_EQ(at_root, expect);
    EXPECT_EQ(counts, expect_counts);
  } else {
    EXPECT_TRUE(at_root.empty());
  }

  // Even and odd ranks in two contexts.
  const comm::context_ptr half = ctx.split(r % 2);
  EXPECT_EQ(half->size(), (R + 1 - r % 2) / 2);
  EXPECT_EQ(half->rank(), r / 2);
  EXPECT_EQ(half->max(r), r % 2 == 0 ? (R - 1) / 2 * 2 : (R % 2 == 0 ? R - 1 : R - 2));
  EXPECT_GE(ctx.local_size(), 1);
  EXPECT_LT(ctx.local_rank(), ctx.local_size());
}

TEST(comm, an_error_on_one_rank_stops_every_rank_with_its_exit_code) {
  const comm::context& ctx = *world();
  const bool culprit = ctx.rank() == ctx.size() - 1;
  auto failing = [&] {
    if (culprit) throw config_error("cellfit::test: bad value on the last rank");
  };
  if (ctx.size() == 1) {
    EXPECT_THROW(comm::agree(ctx, failing), config_error);
  } else {
    try {
      comm::agree(ctx, failing);
      ADD_FAILURE() << "no rank threw";
    } catch (const peer_error& e) {
      EXPECT_EQ(e.exit_code(), exit_config);
      EXPECT_NE(std::string(e.what()).find("rank " + std::to_string(ctx.size() - 1)),
                std::string::npos)
          << e.what();
    }
  }
  // The largest exit code wins when several ranks fail differently.
  auto several = [&] {
    if (ctx.rank() % 2 == 0) throw io_error("cellfit::test: unreadable");
    throw usage_error("cellfit::test: usage");
  };
  if (ctx.size() > 1) {
    try {
      comm::agree(ctx, several);
      ADD_FAILURE() << "no rank threw";
    } catch (const peer_error& e) {
      EXPECT_EQ(e.exit_code(), exit_io);
    }
  }
  // The ranks are still in step: nothing failed, nothing thrown, collectives still match.
  EXPECT_NO_THROW(comm::agree(ctx, [] {}));
  EXPECT_EQ(ctx.max(1), 1);
}

const char* hh_problem = R"(
[model]
morphology = "builtin:ball_and_stick"
celsius = 6.3
v_init = -65.0
[model.mechanisms.hh]
regions = "all"
[simulation]
dt_ms = 0.05
t_stop_ms = 60.0
record_sites = [0]
[[stimulus]]
type = "step"
sites = "soma"
amplitudes = [-0.1, 0.3, 0.8]
delay_ms = 10.0
duration_ms = 40.0
)";

struct ga_fixture {
  run_config rc = parse_config(hh_problem, "mpi_ga", {});
  parameter_space space{rc.model, params()};
  std::vector<double> truth;
  ga::scorer scorer = make_scorer();

  static std::vector<fit_parameter> params() {
    std::vector<fit_parameter> p(3);
    p[0] = {"hh", "gnabar", "all", 0.05, 0.3, transform_kind::linear, {}, "test"};
    p[1] = {"hh", "gkbar", "all", 0.01, 0.08, transform_kind::linear, {}, "test"};
    p[2] = {"hh", "gl", "all", 1e-4, 1e-3, transform_kind::log, {}, "test"};
    return p;
  }
  ga::scorer make_scorer() {
    truth = space.model_values();
    truth[0] *= 1.1;
    truth[1] *= 0.9;
    const auto traces =
        simulate_batch(rc.model, {space.to_set(truth)}, rc.stimuli, rc.settings).voltage;
    const auto windows = ga::stimulus_windows(rc.stimuli, rc.settings.t_stop_ms);
    ga::scoring_settings s;
    s.threads = 1;
    std::vector<std::string> dropped;
    const auto targets = ga::targets_from_traces(
        traces, windows, {"spike_count", "AP_height", "voltage_base", "minimum_voltage"},
        rc.settings, s, 0.05, 0.05, dropped);
    return ga::scorer(s, targets, windows, rc.settings);
  }
  ga::ga_problem problem(comm::context_ptr ctx, bool overlap = true) const {
    ga::ga_problem p;
    p.model = &rc.model;
    p.space = &space;
    p.stimuli = rc.stimuli;
    p.settings = rc.settings;
    p.objectives = &scorer;
    p.ground_truth = truth;
    p.comm = std::move(ctx);
    p.parallel.overlap = overlap;
    p.parallel.chunks = 3;
    p.parallel.min_chunk_cells = 3;  // several chunks even for small populations
    return p;
  }
};

void expect_identical(const ga::ga_result& a, const ga::ga_result& b) {
  EXPECT_EQ(a.history.best, b.history.best);
  EXPECT_EQ(a.history.median, b.history.median);
  EXPECT_EQ(a.history.gt_error, b.history.gt_error);
  EXPECT_EQ(a.history.diverged, b.history.diverged);
  EXPECT_EQ(a.simulations, b.simulations);
  ASSERT_EQ(a.hall_of_fame.size(), b.hall_of_fame.size());
  for (std::size_t i = 0; i < a.hall_of_fame.size(); ++i) {
    EXPECT_EQ(a.hall_of_fame[i].params, b.hall_of_fame[i].params) << i;
    EXPECT_EQ(a.hall_of_fame[i].objectives, b.hall_of_fame[i].objectives) << i;
  }
  ASSERT_EQ(a.populations.size(), b.populations.size());
  for (std::size_t g = 0; g < a.populations.size(); ++g) {
    ASSERT_EQ(a.populations[g].size(), b.populations[g].size());
    for (std::size_t i = 0; i < a.populations[g].size(); ++i) {
      EXPECT_EQ(a.populations[g][i].params, b.populations[g][i].params) << g << " " << i;
      EXPECT_EQ(a.populations[g][i].objectives, b.populations[g][i].objectives) << g << " " << i;
    }
  }
}

TEST(distributed_ga, every_rank_count_gives_the_one_process_result) {
  ga_fixture f;
  const comm::context& ctx = *world();
  struct variant {
    ga::strategy alg;
    ga::selection_kind sel;
    bool overlap;
  };
  for (const variant v : {variant{ga::strategy::mu_plus_lambda, ga::selection_kind::ibea, true},
                          variant{ga::strategy::mu_comma_lambda, ga::selection_kind::nsga2, false},
                          variant{ga::strategy::cmaes, ga::selection_kind::single, true},
                          variant{ga::strategy::de, ga::selection_kind::single, false},
                          variant{ga::strategy::pso, ga::selection_kind::single, true}}) {
    ga::ga_settings s;
    s.algorithm = v.alg;
    s.selection = v.sel;
    s.population = 10;
    s.offspring = v.alg == ga::strategy::cmaes ? 9 : 14;
    s.generations = 3;
    s.seed = 5;
    const ga::ga_result dist = ga::run_genetic_fit(f.problem(world(), v.overlap), s);
    // The plan used every rank that had work and covered every individual (DE and PSO
    // evaluate one genome per member of the population).
    std::size_t covered = 0;
    for (const auto& b : dist.plan.blocks) covered += b.n_sets;
    const bool per_member = v.alg == ga::strategy::de || v.alg == ga::strategy::pso;
    EXPECT_EQ(covered, static_cast<std::size_t>(per_member ? s.population : s.offspring));
    EXPECT_EQ(dist.plan.n_ranks, ctx.size());
    if (ctx.rank() != 0) continue;
    const ga::ga_result one =
        ga::run_genetic_fit(f.problem(comm::make_local_context(), !v.overlap), s);
    SCOPED_TRACE(ga::strategy_name(v.alg));
    expect_identical(dist, one);
    EXPECT_EQ(dist.history.best.size(), 4u);
  }
}

TEST(distributed_ga, interrupted_on_all_ranks_resumes_on_one_to_the_same_result) {
  ga_fixture f;
  const comm::context& ctx = *world();
  for (auto alg : {ga::strategy::mu_plus_lambda, ga::strategy::de, ga::strategy::pso}) {
    ga::ga_settings s;
    s.algorithm = alg;
    s.population = 8;
    s.offspring = 12;
    s.generations = 5;
    s.seed = 11;
    // Rank 0 asks to stop once generation 2 is recorded (as a signal would).
    int recorded = 0;
    ga::ga_log saved;
    int checkpoints = 0;
    ga::ga_control c;
    c.stop_requested = [&] { return ctx.rank() == 0 && recorded >= 3; };
    c.checkpoint = [&](const ga::ga_log& log) {
      saved = log;
      ++checkpoints;
    };
    c.checkpoint_every = 2;
    const ga::ga_result cut = ga::run_genetic_fit(
        f.problem(world()), s, [&](const ga::generation_report&) { ++recorded; }, c);
    EXPECT_EQ(cut.stop_reason, "interrupted");
    if (ctx.rank() != 0) continue;
    SCOPED_TRACE(ga::strategy_name(alg));
    EXPECT_EQ(saved.generations(), 3u);
    EXPECT_EQ(checkpoints, 2);  // after generation 1 (every 2) and on the stop
    ga::ga_control resume;
    resume.resume = &saved;
    const ga::ga_result resumed =
        ga::run_genetic_fit(f.problem(comm::make_local_context()), s, {}, resume);
    const ga::ga_result whole = ga::run_genetic_fit(f.problem(comm::make_local_context()), s);
    EXPECT_EQ(resumed.replayed, 3);
    EXPECT_EQ(resumed.stop_reason, "generations");
    expect_identical(resumed, whole);
  }
}

const char* cable_problem = R"(
[model]
morphology = "builtin:ball_and_stick"
celsius = 6.3
[model.mechanisms.hh]
regions = "all"
[simulation]
dt_ms = 0.05
t_stop_ms = 30.0
record_sites = [0, -1]
[[stimulus]]
type = "step"
sites = "soma"
amplitudes = [0.05, 0.1, 0.2, 0.3, 0.45]
delay_ms = 5.0
duration_ms = 20.0
)";

struct gradient_fixture {
  run_config rc = parse_config(cable_problem, "mpi_gradient", {});
  parameter_space space{rc.model, params()};
  std::vector<double> truth = {0.1, 0.045};
  std::vector<double> target =
      simulate_batch(rc.model, {space.to_set(truth)}, rc.stimuli, rc.settings).voltage;

  static std::vector<fit_parameter> params() {
    std::vector<fit_parameter> p(2);
    p[0] = {"hh", "gnabar", "all", 0.02, 0.5, transform_kind::log, {}, "test"};
    p[1] = {"hh", "gkbar", "all", 0.005, 0.2, transform_kind::sigmoid, {}, "test"};
    return p;
  }
  fit_problem problem(comm::context_ptr ctx) const {
    fit_problem p;
    p.model = &rc.model;
    p.space = &space;
    p.stimuli = rc.stimuli;
    p.settings = rc.settings;
    p.target = target;
    p.ground_truth = truth;
    p.comm = std::move(ctx);
    return p;
  }
};

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

TEST(distributed_gradient, every_rank_count_gives_the_one_process_result) {
  gradient_fixture f;
  for (auto opt : {optimizer_kind::adam, optimizer_kind::lbfgsb}) {
    gradient_settings s;
    s.optimizer = opt;
    s.lr = 0.1;
    s.epochs = 8;
    const fit_result dist = run_gradient_fit(f.problem(world()), s);
    const fit_result one = run_gradient_fit(f.problem(comm::make_local_context()), s);
    // Every rank holds the same result, equal to the one-process run bit for bit.
    EXPECT_EQ(dist.history.loss, one.history.loss);
    EXPECT_EQ(dist.history.gt_error, one.history.gt_error);
    EXPECT_EQ(dist.best, one.best);
    EXPECT_TRUE(same_bits(dist.log.grad, one.log.grad));  // NaN: the last point's gradient
    // Rank 0 also simulates the traces at the best point for the output.
    if (world()->rank() == 0) {
      EXPECT_EQ(dist.simulations, one.simulations);
    }
    EXPECT_LT(dist.history.loss.back(), dist.history.loss.front());
  }
}

TEST(distributed_gradient, interrupted_on_all_ranks_resumes_on_one_to_the_same_result) {
  gradient_fixture f;
  for (auto opt : {optimizer_kind::adam, optimizer_kind::lbfgsb}) {
    gradient_settings s;
    s.optimizer = opt;
    s.lr = 0.1;
    s.epochs = 10;
    int evaluations = 0;
    gradient_log saved;
    gradient_control c;
    c.stop_requested = [&] { return world()->rank() == world()->size() - 1 && evaluations >= 4; };
    c.checkpoint = [&](const gradient_log& log) { saved = log; };
    const fit_result cut = run_gradient_fit(
        f.problem(world()), s, [&](const epoch_report&) { ++evaluations; }, c);
    EXPECT_EQ(cut.stop_reason, "interrupted");
    EXPECT_EQ(cut.history.loss.size(), 5u);  // the stop is seen after the 5th evaluation
    if (world()->rank() != 0) continue;
    ASSERT_EQ(saved.size(), 5u);
    gradient_control r;
    r.resume = &saved;
    const fit_result resumed = run_gradient_fit(f.problem(comm::make_local_context()), s, {}, r);
    const fit_result whole = run_gradient_fit(f.problem(comm::make_local_context()), s);
    EXPECT_EQ(resumed.replayed, 5);
    EXPECT_EQ(resumed.history.loss, whole.history.loss);
    EXPECT_EQ(resumed.best, whole.best);
    EXPECT_EQ(resumed.stop_reason, whole.stop_reason);
  }
}

}  // namespace
