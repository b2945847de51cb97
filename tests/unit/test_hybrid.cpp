// Budgets, starting points and the hybrid engine: a simulation budget stops the GA and the
// gradient engine exactly where the equivalent generations / evaluations would; the
// gradient engine starts where it is told; trace_losses agrees with the gradient engine's
// loss; the hybrid polishes the GA's best to paper 000's toy ground truth within its budget;
// progress curves are best-so-far on one scale.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "common/error.hpp"
#include "ga/genetic_fit.hpp"
#include "ga/objectives.hpp"
#include "gradient/gradient_fit.hpp"
#include "hybrid/hybrid_fit.hpp"
#include "hybrid/progress_curve.hpp"
#include "io/config.hpp"
#include "model/parameter_space.hpp"
#include "sim/batch_simulator.hpp"

namespace {

using namespace cellfit;

// Paper 000's toy with 6 stimuli.
const char* toy = R"(
[model]
morphology = "builtin:chain6"
axial_weight = 0.5
[model.mechanisms.jk]
regions = "all"
[simulation]
dt_ms = 0.1
t_stop_ms = 5.0
record_sites = "all"
[[stimulus]]
type = "random_steps"
every = "all"
intervals = 48
hazard = 0.05
i_min = 0
i_max = 20
count = 6
seed = 20230619
)";

struct toy_fixture {
  run_config rc = parse_config(toy, "hybrid_test", {});
  parameter_space space{rc.model, parameters()};
  std::vector<double> truth, traces;
  std::unique_ptr<ga::scorer> mse;

  static std::vector<fit_parameter> parameters() {
    std::vector<fit_parameter> p(2);
    p[0] = {"jk", "gnabar", "per_compartment", 1.0, 500.0, transform_kind::linear, {}, "test"};
    p[1] = {"jk", "gkbar", "per_compartment", 1.0, 500.0, transform_kind::linear, {}, "test"};
    return p;
  }
  toy_fixture() {
    truth = space.model_values();
    for (std::size_t i = 0; i < truth.size(); ++i) truth[i] *= 0.8 + 0.05 * static_cast<double>(i);
    traces = simulate_batch(rc.model, {space.to_set(truth)}, rc.stimuli, rc.settings).voltage;
    ga::scoring_settings s;
    s.kind = ga::objective_kind::mse;
    s.grouping = ga::objective_grouping::sum;
    s.penalty = 1e4;
    mse = std::make_unique<ga::scorer>(s, traces, rc.stimuli.size(), rc.settings);
  }
  ga::ga_problem ga_problem() const {
    ga::ga_problem p;
    p.model = &rc.model;
    p.space = &space;
    p.stimuli = rc.stimuli;
    p.settings = rc.settings;
    p.objectives = mse.get();
    p.ground_truth = truth;
    return p;
  }
  fit_problem gradient_problem() const {
    fit_problem p;
    p.model = &rc.model;
    p.space = &space;
    p.stimuli = rc.stimuli;
    p.settings = rc.settings;
    p.target = traces;
    p.ground_truth = truth;
    return p;
  }
  static ga::ga_settings ga_settings() {
    ga::ga_settings g;
    g.algorithm = ga::strategy::mu_plus_lambda;
    g.selection = ga::selection_kind::single;
    g.population = 20;
    g.offspring = 20;
    g.seed = 5;
    return g;
  }
};

TEST(budget, ga_stops_where_the_equivalent_generations_would) {
  toy_fixture f;
  ga::ga_settings by_generations = toy_fixture::ga_settings();
  by_generations.generations = 7;
  const auto a = ga::run_genetic_fit(f.ga_problem(), by_generations);
  ga::ga_settings by_budget = toy_fixture::ga_settings();
  by_budget.generations = 1000;
  // Room for 7 generations after the first and part of an 8th, which must not start.
  by_budget.max_simulations = (20.0 + 7 * 20 + 10) * 6;
  const auto b = ga::run_genetic_fit(f.ga_problem(), by_budget);
  EXPECT_EQ(a.stop_reason, "generations");
  EXPECT_EQ(b.stop_reason, "budget");
  EXPECT_EQ(b.simulations, a.simulations);
  EXPECT_EQ(a.history.best, b.history.best);
  ASSERT_FALSE(b.hall_of_fame.empty());
  EXPECT_EQ(a.hall_of_fame.front().params, b.hall_of_fame.front().params);
  // A wall-time budget ends a run that would otherwise take 10^9 generations.
  ga::ga_settings by_time = toy_fixture::ga_settings();
  by_time.generations = 1000000000;
  by_time.max_wall_s = 0.2;
  const auto c = ga::run_genetic_fit(f.ga_problem(), by_time);
  EXPECT_EQ(c.stop_reason, "budget");
  EXPECT_GT(c.history.best.size(), 1u);
}

TEST(budget, gradient_stops_before_an_evaluation_that_would_overrun) {
  toy_fixture f;
  gradient_settings g;
  g.epochs = 30;
  const fit_result full = run_gradient_fit(f.gradient_problem(), g);
  gradient_settings b = g;
  b.max_simulations = 10 * 2 * 6 + 5;  // 10 evaluations of forward + adjoint, not 11
  const fit_result cut = run_gradient_fit(f.gradient_problem(), b);
  EXPECT_EQ(cut.stop_reason, "budget");
  ASSERT_EQ(cut.log.size(), 10u);
  EXPECT_LE(cut.log.simulations.back(), b.max_simulations);
  for (std::size_t e = 0; e < cut.log.size(); ++e) EXPECT_EQ(cut.log.loss[e], full.log.loss[e]);
  b.optimizer = optimizer_kind::lbfgsb;
  const fit_result cut_lbfgs = run_gradient_fit(f.gradient_problem(), b);
  EXPECT_EQ(cut_lbfgs.stop_reason, "budget");
  EXPECT_LE(cut_lbfgs.log.simulations.back(), b.max_simulations);
}

TEST(budget, gradient_starts_at_the_given_point_and_trace_losses_agree) {
  toy_fixture f;
  fit_problem p = f.gradient_problem();
  p.initial = f.truth;
  for (double& x : p.initial) x *= 1.05;
  gradient_settings g;
  g.epochs = 0;
  const fit_result r = run_gradient_fit(p, g);
  EXPECT_EQ(r.initial, p.initial);
  ASSERT_EQ(r.log.size(), 1u);
  const auto losses = trace_losses(p, g, {p.initial, f.truth});
  EXPECT_NEAR(losses[0], r.history.loss[0], 1e-12 * r.history.loss[0]);
  EXPECT_GT(losses[0], 0.0);
  EXPECT_EQ(losses[1], 0.0);
  p.initial.pop_back();
  EXPECT_THROW(run_gradient_fit(p, g), internal_error);
}

TEST(hybrid, polishes_the_ga_best_to_the_ground_truth_within_the_budget) {
  toy_fixture f;
  ga::ga_settings gs = toy_fixture::ga_settings();
  gs.generations = 1000;
  gradient_settings g;
  g.optimizer = optimizer_kind::lbfgsb;
  g.epochs = 200;
  g.max_simulations = 30000;
  hybrid_settings hs;
  hs.polish = 2;
  hs.ga_fraction = 0.4;
  int phases = 0;
  hybrid_callbacks cb;
  cb.on_phase = [&](int, int, const std::vector<double>&) { ++phases; };
  const fit_problem fp = f.gradient_problem();
  const hybrid_result r = run_hybrid_fit(f.ga_problem(), gs, fp, g, hs, cb);
  EXPECT_EQ(phases, 3);
  EXPECT_EQ(r.ga.stop_reason, "budget");
  EXPECT_LE(static_cast<double>(r.ga.simulations), 0.4 * 30000);
  ASSERT_EQ(r.starts.size(), 2u);
  ASSERT_EQ(r.polished.size(), 2u);
  EXPECT_EQ(r.starts[0], r.ga.hall_of_fame[0].params);
  double used = static_cast<double>(r.ga.simulations);
  for (const auto& p : r.polished) used += p.log.simulations.back();
  EXPECT_LE(used, 30000.0);
  // The polish gets from the GA's best to the ground truth.
  const double start = gt_error(r.starts[r.best], f.truth);
  EXPECT_LT(gt_error(r.best_params, f.truth), 1e-3 * start);
  EXPECT_LE(r.best_loss, trace_losses(fp, g, {r.starts[0]})[0]);

  // The curve: the GA's generations, then each polish; best so far, on one scale.
  const progress_curve c = hybrid_curve(r, fp, g);
  ASSERT_EQ(c.loss.size(),
            r.ga.history.best.size() + r.polished[0].log.size() + r.polished[1].log.size());
  EXPECT_EQ(c.phase.front(), 0);
  EXPECT_EQ(c.phase.back(), 2);
  for (std::size_t i = 1; i < c.loss.size(); ++i) {
    EXPECT_LE(c.loss[i], c.loss[i - 1]);
    EXPECT_GT(c.simulations[i], c.simulations[i - 1]);
  }
  EXPECT_EQ(c.loss.back(), r.best_loss);
  EXPECT_EQ(c.extra_simulations, r.ga.history.best.size() * f.rc.stimuli.size());
}

TEST(hybrid, refuses_what_it_cannot_polish) {
  toy_fixture f;
  fit_problem fp = f.gradient_problem();
  fp.target.clear();
  ga::ga_settings gs = toy_fixture::ga_settings();
  gs.generations = 1;
  EXPECT_THROW(run_hybrid_fit(f.ga_problem(), gs, fp, {}, {}), config_error);
  hybrid_settings bad;
  bad.ga_fraction = 1.0;
  EXPECT_THROW(run_hybrid_fit(f.ga_problem(), gs, f.gradient_problem(), {}, bad), config_error);
}

}  // namespace
