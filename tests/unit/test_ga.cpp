// The genetic algorithm: variation operators stay in bounds and repeat from their keys,
// CMA-ES converges on a quadratic, the scorer penalises what cannot be scored, and whole GA
// fits (features and trace MSE, IBEA / NSGA-II / CMA-ES / DE / PSO) recover a synthetic
// ground truth, repeat bit for bit, do not depend on the number of scoring threads, and
// complete when some individuals diverge.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/error.hpp"
#include "ga/cma_es.hpp"
#include "ga/genetic_fit.hpp"
#include "ga/objectives.hpp"
#include "ga/random_stream.hpp"
#include "ga/variation.hpp"
#include "gradient/gradient_fit.hpp"
#include "io/config.hpp"
#include "model/parameter_space.hpp"
#include "sim/batch_simulator.hpp"

namespace {

using namespace cellfit;

TEST(ga_variation, random_streams_repeat_and_differ_by_key) {
  ga::random_stream a(7, 3, 11, ga::purpose::mate), b(7, 3, 11, ga::purpose::mate);
  ga::random_stream c(7, 3, 12, ga::purpose::mate), d(7, 3, 11, ga::purpose::mutate);
  int same_c = 0, same_d = 0;
  for (int k = 0; k < 100; ++k) {
    const double x = a.uniform();
    EXPECT_EQ(x, b.uniform());
    EXPECT_GE(x, 0.0);
    EXPECT_LT(x, 1.0);
    same_c += x == c.uniform();
    same_d += x == d.uniform();
  }
  EXPECT_EQ(same_c, 0);
  EXPECT_EQ(same_d, 0);
}

TEST(ga_variation, sbx_and_polynomial_mutation_stay_in_bounds) {
  double spread_lo = 0, spread_hi = 0;
  for (double eta : {1.0, 100.0}) {
    double spread = 0;
    for (std::uint64_t k = 0; k < 2000; ++k) {
      ga::random_stream r(1, 0, k, ga::purpose::crossover);
      std::vector<double> a = {0.0, 0.3, 0.999, 0.5}, b = {1.0, 0.7, 0.2, 0.5};
      const auto a0 = a, b0 = b;
      ga::sbx_crossover(a, b, eta, r);
      for (std::size_t i = 0; i < a.size(); ++i) {
        ASSERT_GE(a[i], 0.0);
        ASSERT_LE(a[i], 1.0);
        ASSERT_GE(b[i], 0.0);
        ASSERT_LE(b[i], 1.0);
      }
      EXPECT_EQ(a[3], 0.5);  // equal genes are not crossed
      EXPECT_EQ(b[3], 0.5);
      // Distance of each child to its nearer parent.
      for (double c : {a[1], b[1]}) spread += std::min(std::abs(c - a0[1]), std::abs(c - b0[1]));
      ga::random_stream m(1, 0, k, ga::purpose::mutate);
      ga::polynomial_mutation(a, eta, 1.0, m);
      for (double x : a) {
        ASSERT_GE(x, 0.0);
        ASSERT_LE(x, 1.0);
      }
    }
    (eta == 1.0 ? spread_lo : spread_hi) = spread;
  }
  // A larger distribution index keeps children nearer their parents.
  EXPECT_LT(spread_hi, 0.2 * spread_lo);
}

TEST(ga_variation, polynomial_mutation_respects_gene_probability) {
  int changed = 0;
  const int n = 20000;
  ga::random_stream r(3, 1, 2, ga::purpose::mutate);
  std::vector<double> x(n, 0.5);
  ga::polynomial_mutation(x, 20.0, 0.25, r);
  for (double v : x) changed += v != 0.5;
  EXPECT_NEAR(changed / double(n), 0.25, 0.02);
}

TEST(ga_cma_es, converges_on_a_shifted_quadratic) {
  const std::vector<double> opt = {0.2, 0.7, 0.45, 0.9, 0.33};
  ga::cma_es es(std::vector<double>(5, 0.5), 0.3, 0, 42);
  double best = 1e300;
  for (int g = 0; g < 150; ++g) {
    const auto xs = es.ask(static_cast<std::uint64_t>(g));
    std::vector<double> cost;
    for (const auto& x : xs) {
      double c = 0;
      for (std::size_t i = 0; i < x.size(); ++i) c += (i + 1.0) * (x[i] - opt[i]) * (x[i] - opt[i]);
      cost.push_back(c);
      best = std::min(best, c);
    }
    es.tell(xs, cost);
  }
  EXPECT_LT(best, 1e-10);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(es.mean()[i], opt[i], 1e-4);
}

// A small hh ball-and-stick problem: 3 parameters, 3 somatic steps.
const char* hh_problem = R"(
[model]
morphology = "builtin:ball_and_stick"
celsius = 6.3
v_init = -65.0
[model.mechanisms.hh]
regions = "all"
[simulation]
dt_ms = 0.05
t_stop_ms = 80.0
record_sites = [0]
[[stimulus]]
type = "step"
sites = "soma"
amplitudes = [-0.1, 0.3, 0.8]
delay_ms = 10.0
duration_ms = 60.0
)";

std::vector<fit_parameter> hh_parameters() {
  std::vector<fit_parameter> p(3);
  p[0] = {"hh", "gnabar", "all", 0.05, 0.3, transform_kind::linear, {}, "test"};
  p[1] = {"hh", "gkbar", "all", 0.01, 0.08, transform_kind::linear, {}, "test"};
  p[2] = {"hh", "gl", "all", 1e-4, 1e-3, transform_kind::log, {}, "test"};
  return p;
}

const std::vector<std::string> test_features = {
    "spike_count",        "mean_frequency", "time_to_first_spike", "AP_height",
    "AP_width",           "AHP_depth_abs",  "voltage_base",        "steady_state_voltage_stimend",
    "voltage_deflection", "minimum_voltage"};

struct hh_fixture {
  run_config rc = parse_config(hh_problem, "ga_test", {});
  parameter_space space{rc.model, hh_parameters()};
  std::vector<double> truth;
  std::vector<double> traces;
  std::vector<ga::feature_window> windows = ga::stimulus_windows(rc.stimuli, rc.settings.t_stop_ms);

  hh_fixture() {
    truth = space.model_values();
    truth[0] *= 1.1;
    truth[1] *= 0.9;
    truth[2] *= 1.2;
    traces = simulate_batch(rc.model, {space.to_set(truth)}, rc.stimuli, rc.settings).voltage;
  }
  ga::scorer feature_scorer(unsigned threads = 0) const {
    ga::scoring_settings s;
    s.threads = threads;
    std::vector<std::string> dropped;
    auto targets = ga::targets_from_traces(traces, windows, test_features, rc.settings, s, 0.05,
                                           0.05, dropped);
    return ga::scorer(s, targets, windows, rc.settings);
  }
  ga::ga_problem problem(const ga::scorer& sc) const {
    ga::ga_problem p;
    p.model = &rc.model;
    p.space = &space;
    p.stimuli = rc.stimuli;
    p.settings = rc.settings;
    p.objectives = &sc;
    p.ground_truth = truth;
    return p;
  }
};

double max_relative_error(const std::vector<double>& a, const std::vector<double>& b) {
  double e = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    e = std::max(e, std::abs(a[i] - b[i]) / std::abs(b[i]));
  return e;
}

TEST(ga_scorer, ground_truth_scores_zero_and_failures_score_the_penalty) {
  hh_fixture f;
  const ga::scorer sc = f.feature_scorer();
  EXPECT_EQ(sc.n_objectives(), test_features.size());
  // Subthreshold and hyperpolarising steps have no spikes at the ground truth: their spike
  // features have no target.
  EXPECT_LT(sc.targets().size(), test_features.size() * 3);
  // Ground truth, a cell that diverges (v_bound below the spike peak), and one that does not
  // spike where the target does (gnabar at its lower bound... and no sodium at all).
  std::vector<double> silent = f.truth;
  silent[0] = 0.0;
  simulation_settings s = f.rc.settings;
  const auto ok = simulate_batch(f.rc.model, {f.space.to_set(f.truth), f.space.to_set(silent)},
                                 f.rc.stimuli, s);
  const auto m = sc.score(ok, 2);
  for (std::size_t k = 0; k < m.m; ++k) EXPECT_EQ(m(0, k), 0.0) << sc.objective_names()[k];
  const auto it = std::find(sc.objective_names().begin(), sc.objective_names().end(), "AP_height");
  ASSERT_NE(it, sc.objective_names().end());
  EXPECT_EQ(m(1, static_cast<std::size_t>(it - sc.objective_names().begin())), 250.0);
  s.v_bound_mv = 10.0;  // every spiking cell "diverges"
  const auto bad = simulate_batch(f.rc.model, {f.space.to_set(f.truth)}, f.rc.stimuli, s);
  ASSERT_GT(bad.n_failed(), 0u);
  const auto mb = sc.score(bad, 1);
  EXPECT_GT(mb(0, 0), 0.0);
  for (std::size_t k = 0; k < mb.m; ++k) {
    EXPECT_TRUE(std::isfinite(mb(0, k)));
    EXPECT_LE(mb(0, k), 250.0);
  }
}

TEST(ga_fit, ibea_recovers_the_ground_truth_from_features) {
  hh_fixture f;
  const ga::scorer sc = f.feature_scorer();
  ga::ga_settings g;
  g.population = 40;
  g.offspring = 40;
  g.generations = 25;
  g.seed = 3;
  const auto r = ga::run_genetic_fit(f.problem(sc), g);
  ASSERT_EQ(r.history.best.size(), 26u);
  const auto& best = r.hall_of_fame.front();
  EXPECT_LT(best.total, r.history.best.front());
  EXPECT_LT(r.history.gt_error.back(), 0.5 * r.history.gt_error.front());
  EXPECT_LT(max_relative_error(best.params, f.truth), 0.10);
  EXPECT_EQ(r.simulations, 40u * 3u * 26u);
  ASSERT_EQ(r.populations.size(), 26u);
  EXPECT_EQ(r.populations.back().size(), 40u);
}

TEST(ga_fit, nsga2_and_cmaes_recover_the_ground_truth_from_traces) {
  hh_fixture f;
  ga::scoring_settings s;
  s.kind = ga::objective_kind::mse;
  s.penalty = 1e4;
  const ga::scorer sc(s, f.traces, f.rc.stimuli.size(), f.rc.settings);
  EXPECT_EQ(sc.n_objectives(), 3u);
  ga::ga_settings g;
  g.selection = ga::selection_kind::nsga2;
  g.population = 40;
  g.offspring = 40;
  g.generations = 25;
  const auto r = ga::run_genetic_fit(f.problem(sc), g);
  // The spikes dominate the MSE: the conductances are found to 2%, the leak (which only the
  // subthreshold step constrains) to 40% in 25 generations of 40.
  const auto& best = r.hall_of_fame.front().params;
  EXPECT_LT(max_relative_error({best[0], best[1]}, {f.truth[0], f.truth[1]}), 0.02);
  EXPECT_LT(std::abs(best[2] - f.truth[2]) / f.truth[2], 0.4);
  EXPECT_LT(r.history.best.back(), 0.05 * r.history.best.front());

  ga::scoring_settings s1 = s;
  s1.grouping = ga::objective_grouping::sum;
  const ga::scorer sc1(s1, f.traces, f.rc.stimuli.size(), f.rc.settings);
  ga::ga_settings c;
  c.algorithm = ga::strategy::cmaes;
  c.offspring = 0;
  c.generations = 120;
  c.cmaes_sigma = 0.3;
  const auto rc = ga::run_genetic_fit(f.problem(sc1), c);
  EXPECT_LT(max_relative_error(rc.hall_of_fame.front().params, f.truth), 0.01);
}

// DE and PSO on the summed trace MSE, against random search with the same number of
// simulations (generation 0 alone, with as many genomes; same seed). Spike timing makes
// the landscape a narrow basin in a field of values near 1000 (docs/ga.md has these runs
// for three seeds): in seed 2 random search reaches 253, DE rand1bin 10, best1bin 0.76
// (the conductances to 2.3%), PSO 57.
TEST(ga_fit, de_and_pso_beat_random_search_on_traces) {
  hh_fixture f;
  ga::scoring_settings s;
  s.kind = ga::objective_kind::mse;
  s.penalty = 1e4;
  s.grouping = ga::objective_grouping::sum;
  const ga::scorer sc(s, f.traces, f.rc.stimuli.size(), f.rc.settings);
  const int population = 20, generations = 30;
  ga::ga_settings rs;
  rs.selection = ga::selection_kind::single;
  rs.population = population * (generations + 1);
  rs.generations = 0;
  rs.seed = 2;
  const auto random = ga::run_genetic_fit(f.problem(sc), rs);
  const double random_best = random.hall_of_fame.front().total;
  struct variant {
    ga::strategy alg;
    ga::de_strategy de;
    double below;  // fraction of random search's best
  };
  for (const variant v : {variant{ga::strategy::de, ga::de_strategy::rand1bin, 0.2},
                          variant{ga::strategy::de, ga::de_strategy::best1bin, 0.01},
                          variant{ga::strategy::pso, ga::de_strategy::rand1bin, 0.5}}) {
    SCOPED_TRACE(::testing::Message()
                 << ga::strategy_name(v.alg) << " " << ga::de_strategy_name(v.de));
    ga::ga_settings g;
    g.algorithm = v.alg;
    g.de.strategy = v.de;
    g.population = population;
    g.generations = generations;
    g.seed = 2;
    const auto r = ga::run_genetic_fit(f.problem(sc), g);
    EXPECT_EQ(r.simulations, random.simulations);
    ASSERT_EQ(r.history.best.size(), static_cast<std::size_t>(generations + 1));
    ASSERT_EQ(r.populations.size(), static_cast<std::size_t>(generations + 1));
    EXPECT_EQ(r.populations.back().size(), static_cast<std::size_t>(population));
    // Generation 0 is the GA's, and the recorded population (DE's members, PSO's personal
    // bests) only improves and holds the best evaluated.
    EXPECT_EQ(r.log.genomes[0], random.log.genomes[0]);
    for (std::size_t k = 1; k < r.history.best.size(); ++k)
      EXPECT_LE(r.history.best[k], r.history.best[k - 1]);
    EXPECT_EQ(r.history.best.back(), r.hall_of_fame.front().total);
    EXPECT_LT(r.hall_of_fame.front().total, v.below * random_best);
    if (v.de == ga::de_strategy::best1bin) {
      EXPECT_LT(max_relative_error(r.hall_of_fame.front().params, f.truth), 0.05);
    }
  }
}

void expect_identical(const ga::ga_result& a, const ga::ga_result& b) {
  EXPECT_EQ(a.history.best, b.history.best);
  EXPECT_EQ(a.history.median, b.history.median);
  EXPECT_EQ(a.history.gt_error, b.history.gt_error);
  ASSERT_EQ(a.hall_of_fame.size(), b.hall_of_fame.size());
  for (std::size_t i = 0; i < a.hall_of_fame.size(); ++i) {
    EXPECT_EQ(a.hall_of_fame[i].params, b.hall_of_fame[i].params);
    EXPECT_EQ(a.hall_of_fame[i].objectives, b.hall_of_fame[i].objectives);
  }
  ASSERT_EQ(a.populations.size(), b.populations.size());
  for (std::size_t g = 0; g < a.populations.size(); ++g) {
    for (std::size_t i = 0; i < a.populations[g].size(); ++i) {
      EXPECT_EQ(a.populations[g][i].params, b.populations[g][i].params);
    }
  }
}

TEST(ga_fit, a_seeded_run_repeats_bit_for_bit_whatever_the_scoring_threads) {
  hh_fixture f;
  const ga::scorer one = f.feature_scorer(1), two = f.feature_scorer(2);
  for (auto sel : {ga::selection_kind::ibea, ga::selection_kind::nsga2}) {
    for (auto alg : {ga::strategy::mu_comma_lambda, ga::strategy::mu_plus_lambda}) {
      ga::ga_settings g;
      g.algorithm = alg;
      g.selection = sel;
      g.population = 12;
      g.offspring = 16;
      g.generations = 3;
      g.seed = 99;
      const auto a = ga::run_genetic_fit(f.problem(one), g);
      const auto b = ga::run_genetic_fit(f.problem(two), g);
      expect_identical(a, b);
      g.seed = 100;
      const auto c = ga::run_genetic_fit(f.problem(one), g);
      EXPECT_NE(a.populations.back().front().params, c.populations.back().front().params);
    }
  }
}

TEST(ga_fit, de_and_pso_repeat_bit_for_bit_whatever_the_scoring_threads) {
  hh_fixture f;
  const ga::scorer one = f.feature_scorer(1), two = f.feature_scorer(2);
  for (auto alg : {ga::strategy::de, ga::strategy::pso}) {
    SCOPED_TRACE(ga::strategy_name(alg));
    ga::ga_settings g;
    g.algorithm = alg;
    g.population = 8;
    g.generations = 3;
    g.seed = 99;
    g.de.strategy = ga::de_strategy::current_to_best1bin;
    const auto a = ga::run_genetic_fit(f.problem(one), g);
    const auto b = ga::run_genetic_fit(f.problem(two), g);
    expect_identical(a, b);
    EXPECT_EQ(a.log.genomes, b.log.genomes);
    g.seed = 100;
    const auto c = ga::run_genetic_fit(f.problem(one), g);
    EXPECT_NE(a.log.genomes, c.log.genomes);
  }
}

TEST(ga_fit, diverging_individuals_are_penalised_and_the_run_completes) {
  hh_fixture f;
  const ga::scorer sc = f.feature_scorer();
  ga::ga_problem p = f.problem(sc);
  // A potassium reversal allowed up to +600 mV drives part of the population beyond the
  // simulator's divergence bound (|V| > 200 mV).
  auto params = hh_parameters();
  params.push_back({"hh", "ek", "all", -100.0, 600.0, transform_kind::linear, {}, "test"});
  const parameter_space wide(f.rc.model, params);
  p.space = &wide;
  p.ground_truth.clear();
  p.settings.v_bound_mv = 200.0;
  ga::ga_settings g;
  g.population = 20;
  g.offspring = 20;
  g.generations = 4;
  const auto r = ga::run_genetic_fit(p, g);
  const int diverged = std::accumulate(r.history.diverged.begin(), r.history.diverged.end(), 0);
  EXPECT_GT(diverged, 0);
  EXPECT_LT(diverged, 20 * 3 * 5);
  ASSERT_EQ(r.history.best.size(), 5u);
  for (double b : r.history.best) EXPECT_TRUE(std::isfinite(b));
  // Every recorded individual has finite objectives no larger than the penalty.
  for (const auto& pop : r.populations)
    for (const auto& ind : pop)
      for (double o : ind.objectives) {
        EXPECT_TRUE(std::isfinite(o));
        EXPECT_LE(o, 250.0);
      }
}

TEST(ga_fit, comma_strategy_needs_enough_offspring) {
  hh_fixture f;
  const ga::scorer sc = f.feature_scorer();
  ga::ga_settings g;
  g.algorithm = ga::strategy::mu_comma_lambda;
  g.population = 20;
  g.offspring = 10;
  EXPECT_THROW(ga::run_genetic_fit(f.problem(sc), g), config_error);
}

TEST(ga_units, unit_cube_round_trip) {
  hh_fixture f;
  const auto u = ga::to_unit(f.space, f.truth);
  const auto p = ga::from_unit(f.space, u);
  for (std::size_t i = 0; i < p.size(); ++i) {
    EXPECT_NEAR(p[i], f.truth[i], 1e-12 * std::abs(f.truth[i]));
  }
  const auto lo = ga::from_unit(f.space, {0.0, 0.0, 0.0});
  const auto hi = ga::from_unit(f.space, {1.0, 1.0, 1.0});
  EXPECT_DOUBLE_EQ(lo[2], 1e-4);
  EXPECT_DOUBLE_EQ(hi[2], 1e-3);
  EXPECT_NEAR(ga::from_unit(f.space, {0.5, 0.5, 0.5})[2], std::sqrt(1e-4 * 1e-3), 1e-15);
}

}  // namespace
