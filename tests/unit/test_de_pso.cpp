// Differential evolution and particle swarm: the DE trial (donors, mutation, binomial
// crossover, bound repair) and the PSO move against the formulas written out, the greedy
// replacement and personal bests, and both strategies against random search with the same
// number of evaluations on a shifted sphere in the unit cube.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "common/error.hpp"
#include "config_refusal.hpp"
#include "ga/differential_evolution.hpp"
#include "ga/genetic_fit.hpp"
#include "ga/particle_swarm.hpp"
#include "ga/random_stream.hpp"
#include "io/config.hpp"

namespace {

using namespace cellfit;

// n members of P genes, all in [0.3, 0.7] and all different, so that base + F (a - b) stays
// in the cube for F <= 1 (and + F (best - x) too for F <= 0.5).
std::vector<std::vector<double>> inner_population(std::size_t n, std::size_t P) {
  std::vector<std::vector<double>> pop(n, std::vector<double>(P));
  for (std::size_t i = 0; i < n; ++i) {
    ga::random_stream r(17, 0, i, ga::purpose::initialize);
    for (double& x : pop[i]) x = 0.3 + 0.4 * r.uniform();
  }
  return pop;
}

TEST(de_operators, donors_are_distinct_members_other_than_the_target) {
  const std::size_t n = 7;
  std::set<std::size_t> seen;
  for (auto s : {ga::de_strategy::rand1bin, ga::de_strategy::best1bin,
                 ga::de_strategy::current_to_best1bin}) {
    for (std::uint64_t k = 0; k < 300; ++k) {
      const std::size_t target = k % n, best = (k / n) % n;
      ga::random_stream r(5, 1, k, ga::purpose::donors);
      const ga::de_donors d = ga::pick_donors(n, target, best, s, r);
      EXPECT_NE(d.r1, target);
      EXPECT_NE(d.r2, target);
      EXPECT_NE(d.r1, d.r2);
      if (s == ga::de_strategy::rand1bin) {
        EXPECT_NE(d.base, target);
        EXPECT_NE(d.base, d.r1);
        EXPECT_NE(d.base, d.r2);
        seen.insert(d.base);
      } else {
        EXPECT_EQ(d.base, s == ga::de_strategy::best1bin ? best : target);
      }
    }
  }
  EXPECT_EQ(seen.size(), n);  // every member serves as a base
  ga::random_stream r(5, 1, 0, ga::purpose::donors);
  EXPECT_THROW(ga::pick_donors(3, 0, 0, ga::de_strategy::rand1bin, r), internal_error);
}

TEST(de_operators, with_cr_one_the_trial_is_the_mutant) {
  const std::size_t n = 6, P = 5;
  const auto pop = inner_population(n, P);
  ga::de_settings s;
  s.cr = 1.0;
  s.f = 0.5;
  for (auto strat : {ga::de_strategy::rand1bin, ga::de_strategy::best1bin,
                     ga::de_strategy::current_to_best1bin}) {
    s.strategy = strat;
    for (std::uint64_t k = 0; k < 60; ++k) {
      const std::size_t target = k % n, best = 2;
      ga::random_stream pick(9, 3, k, ga::purpose::donors);
      const ga::de_donors d = ga::pick_donors(n, target, best, strat, pick);
      ga::random_stream cross(9, 3, k, ga::purpose::recombine);
      const auto u = ga::make_trial(pop, target, best, d, s, cross);
      ASSERT_EQ(u.size(), P);
      for (std::size_t j = 0; j < P; ++j) {
        double v = pop[d.base][j] + 0.5 * (pop[d.r1][j] - pop[d.r2][j]);
        if (strat == ga::de_strategy::current_to_best1bin)
          v += 0.5 * (pop[best][j] - pop[target][j]);
        ASSERT_GT(v, 0.0);
        ASSERT_LT(v, 1.0);
        EXPECT_DOUBLE_EQ(u[j], v) << ga::de_strategy_name(strat) << " gene " << j;
      }
    }
  }
}

TEST(de_operators, with_cr_zero_only_the_j_rand_gene_changes) {
  const std::size_t n = 5, P = 6;
  const auto pop = inner_population(n, P);
  ga::de_settings s;
  s.cr = 0.0;
  std::set<std::size_t> changed_genes;
  for (std::uint64_t k = 0; k < 200; ++k) {
    const std::size_t target = k % n;
    ga::random_stream pick(4, 2, k, ga::purpose::donors);
    const ga::de_donors d = ga::pick_donors(n, target, 0, s.strategy, pick);
    ga::random_stream cross(4, 2, k, ga::purpose::recombine);
    const auto u = ga::make_trial(pop, target, 0, d, s, cross);
    // j_rand is the stream's first draw.
    ga::random_stream again(4, 2, k, ga::purpose::recombine);
    const std::size_t j_rand = static_cast<std::size_t>(again.index(P));
    int changed = 0;
    for (std::size_t j = 0; j < P; ++j) {
      if (u[j] != pop[target][j]) {
        ++changed;
        EXPECT_EQ(j, j_rand);
        changed_genes.insert(j);
      }
    }
    EXPECT_EQ(changed, 1);  // the members differ in every gene, so the mutant gene differs
  }
  EXPECT_EQ(changed_genes.size(), P);
}

TEST(de_operators, an_out_of_bounds_gene_lands_between_its_base_and_the_bound) {
  // F = 2 on members at the corners sends most mutant genes out of the cube.
  const std::size_t n = 6, P = 8;
  std::vector<std::vector<double>> pop(n, std::vector<double>(P));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < P; ++j)
      pop[i][j] = ((i + j) % 3 == 0) ? 0.0 : ((i * j) % 2 ? 1.0 : 0.6);
  ga::de_settings s;
  s.f = 2.0;
  s.cr = 1.0;
  int below = 0, above = 0;
  for (std::uint64_t k = 0; k < 300; ++k) {
    const std::size_t target = k % n;
    ga::random_stream pick(1, 1, k, ga::purpose::donors);
    const ga::de_donors d = ga::pick_donors(n, target, 0, s.strategy, pick);
    ga::random_stream cross(1, 1, k, ga::purpose::recombine);
    const auto u = ga::make_trial(pop, target, 0, d, s, cross);
    for (std::size_t j = 0; j < P; ++j) {
      const double base = pop[d.base][j];
      const double v = base + 2.0 * (pop[d.r1][j] - pop[d.r2][j]);
      ASSERT_GE(u[j], 0.0);
      ASSERT_LE(u[j], 1.0);
      if (v < 0) {
        ++below;
        EXPECT_LE(u[j], base);
        if (base == 0.0) {
          EXPECT_EQ(u[j], 0.0);
        }
      } else if (v > 1) {
        ++above;
        EXPECT_GE(u[j], base);
        if (base == 1.0) {
          EXPECT_EQ(u[j], 1.0);
        }
      } else {
        EXPECT_DOUBLE_EQ(u[j], v);
      }
    }
  }
  EXPECT_GT(below, 100);
  EXPECT_GT(above, 100);
}

TEST(differential_evolution, a_trial_replaces_its_target_when_it_costs_no_more) {
  ga::differential_evolution de({}, 4, 2, 3);
  const auto g0 = de.ask(0);
  ASSERT_EQ(g0.size(), 4u);
  // Generation 0 is the GA's: uniform genomes keyed (seed, 0, i, initialize).
  ga::random_stream r(3, 0, 1, ga::purpose::initialize);
  EXPECT_EQ(g0[1][0], r.uniform());
  de.tell(g0, {4.0, 3.0, NAN, 1.0});
  EXPECT_EQ(de.best(), 3u);
  const auto g1 = de.ask(1);
  EXPECT_EQ(g1, de.ask(1));  // a pure function of the state
  const auto changed = de.tell(g1, {4.0, 3.5, 100.0, NAN});
  EXPECT_EQ(changed, (std::vector<bool>{true, false, true, false}));
  EXPECT_EQ(de.population()[0], g1[0]);  // equal cost: the trial moves in
  EXPECT_EQ(de.population()[1], g0[1]);
  EXPECT_EQ(de.population()[2], g1[2]);  // anything finite beats a non-finite cost
  EXPECT_EQ(de.population()[3], g0[3]);
  EXPECT_EQ(de.cost(), (std::vector<double>{4.0, 3.0, 100.0, 1.0}));
  EXPECT_THROW(ga::differential_evolution({}, 3, 2, 3), config_error);
  ga::de_settings best;
  best.strategy = ga::de_strategy::best1bin;
  EXPECT_NO_THROW(ga::differential_evolution(best, 3, 2, 3));
}

TEST(pso_move, one_particle_by_hand) {
  // Without the attraction terms the move is deterministic: v <- w v, x <- x + v.
  ga::pso_settings s;
  s.w = 0.5;
  s.c1 = s.c2 = 0.0;
  std::vector<double> x = {0.5, 0.9, 0.1}, v = {0.2, 0.4, -0.3};
  ga::random_stream r0(1, 1, 0, ga::purpose::velocity);
  ga::pso_move(x, v, {0.0, 0.0, 0.0}, {1.0, 1.0, 1.0}, s, r0);
  EXPECT_EQ(v, (std::vector<double>{0.1, 0.0, 0.0}));  // the last two stop on a bound
  EXPECT_EQ(x, (std::vector<double>{0.6, 1.0, 0.0}));

  // The full update, with the stream's draws (r1 then r2 per gene) written out.
  s = ga::pso_settings{};
  s.vmax = 0.3;
  const std::vector<double> x0 = {0.40, 0.95, 0.20, 0.70}, v0 = {0.05, 0.90, -0.90, 0.0};
  const std::vector<double> p = {0.45, 0.90, 0.25, 0.70}, g = {0.60, 0.10, 0.80, 0.70};
  x = x0;
  v = v0;
  ga::random_stream r(7, 4, 2, ga::purpose::velocity), draws(7, 4, 2, ga::purpose::velocity);
  ga::pso_move(x, v, p, g, s, r);
  for (std::size_t j = 0; j < x.size(); ++j) {
    const double r1 = draws.uniform(), r2 = draws.uniform();
    double vj = 0.7298 * v0[j] + 1.49618 * r1 * (p[j] - x0[j]) + 1.49618 * r2 * (g[j] - x0[j]);
    vj = std::min(0.3, std::max(-0.3, vj));
    double xj = x0[j] + vj;
    if (xj < 0 || xj > 1) {
      xj = xj < 0 ? 0.0 : 1.0;
      vj = 0.0;
    }
    EXPECT_DOUBLE_EQ(v[j], vj) << "gene " << j;
    EXPECT_DOUBLE_EQ(x[j], xj) << "gene " << j;
  }
  // Gene 0 moves up (both bests lie above it), every speed is within vmax, and gene 3, on
  // both bests with no velocity, stays where it is.
  EXPECT_GT(x[0], 0.40);
  for (double vj : v) EXPECT_LE(std::abs(vj), 0.3);
  EXPECT_EQ(x[3], 0.70);
  EXPECT_EQ(v[3], 0.0);
}

TEST(particle_swarm, personal_bests_follow_the_costs_and_the_global_best_leads) {
  ga::pso_settings s;
  ga::particle_swarm swarm(s, 3, 2, 11);
  const auto x0 = swarm.ask(0);
  EXPECT_EQ(x0, swarm.ask(0));
  ga::random_stream r(11, 0, 2, ga::purpose::initialize);
  EXPECT_EQ(x0[2][0], r.uniform());  // the GA's generation 0
  swarm.tell(x0, {2.0, 1.0, 3.0});
  // Initial velocities: half the way to a uniform point, so the first move stays inside.
  ga::random_stream u(11, 0, 0, ga::purpose::velocity);
  EXPECT_EQ(swarm.velocities()[0][0], 0.5 * (u.uniform() - x0[0][0]));
  EXPECT_EQ(swarm.best(), 1u);
  const auto x1 = swarm.ask(1);
  // Only an improvement moves a personal best (an equal cost does not); NaN never does.
  const auto changed = swarm.tell(x1, {2.0, 0.5, NAN});
  EXPECT_EQ(changed, (std::vector<bool>{false, true, false}));
  EXPECT_EQ(swarm.personal_best()[0], x0[0]);
  EXPECT_EQ(swarm.personal_best()[1], x1[1]);
  EXPECT_EQ(swarm.personal_best()[2], x0[2]);
  EXPECT_EQ(swarm.positions(), x1);
  EXPECT_EQ(swarm.personal_best_cost(), (std::vector<double>{2.0, 0.5, 3.0}));
  EXPECT_EQ(swarm.best(), 1u);
  EXPECT_THROW(swarm.tell(x1, {1.0, 1.0, 1.0}), internal_error);  // not asked
}

// Shifted, scaled sphere with its minimum 0 inside the cube.
double sphere(const std::vector<double>& x) {
  static const double opt[] = {0.21, 0.77, 0.5, 0.33, 0.9, 0.62};
  double c = 0;
  for (std::size_t i = 0; i < x.size(); ++i) c += (i + 1.0) * (x[i] - opt[i]) * (x[i] - opt[i]);
  return c;
}

template <class Strategy>
double minimise(Strategy& s, int generations) {
  double best = INFINITY;
  for (int g = 0; g <= generations; ++g) {
    const auto xs = s.ask(static_cast<std::uint64_t>(g));
    std::vector<double> cost;
    for (const auto& x : xs) {
      cost.push_back(sphere(x));
      best = std::min(best, cost.back());
    }
    s.tell(xs, cost);
  }
  return best;
}

// Seed 1, 30 members, 100 generations (3030 evaluations): random search reaches 0.064;
// rand1bin with F = 0.8 about 2e-4 (a large F converges slowly but steadily), best1bin,
// currenttobest1bin and PSO below 1e-7.
TEST(de_pso, beat_random_search_with_the_same_budget_on_a_sphere) {
  const std::size_t n = 30, P = 6;
  const int generations = 100;
  double random_best = INFINITY;
  for (std::size_t k = 0; k < n * (generations + 1); ++k) {
    ga::random_stream r(1, 0, k, ga::purpose::sample);
    std::vector<double> x(P);
    for (double& v : x) v = r.uniform();
    random_best = std::min(random_best, sphere(x));
  }
  for (auto strat : {ga::de_strategy::rand1bin, ga::de_strategy::best1bin,
                     ga::de_strategy::current_to_best1bin}) {
    ga::de_settings s;
    s.strategy = strat;
    ga::differential_evolution de(s, n, P, 1);
    const double best = minimise(de, generations);
    SCOPED_TRACE(ga::de_strategy_name(strat));
    EXPECT_LT(best, (strat == ga::de_strategy::rand1bin ? 1e-2 : 1e-5) * random_best);
    EXPECT_EQ(de.cost()[de.best()], best);  // the population holds the best ever evaluated
  }
  ga::particle_swarm swarm({}, n, P, 1);
  const double pso_best = minimise(swarm, generations);
  EXPECT_LT(pso_best, 1e-5 * random_best);
  EXPECT_EQ(swarm.personal_best_cost()[swarm.best()], pso_best);
}

TEST(de_pso_config, keys_defaults_and_refusals) {
  const run_config rc = parse_config("", "run.toml", {"fit.ga.algorithm=\"de\""});
  const ga::ga_settings& a = rc.fit.ga.algorithm;
  EXPECT_EQ(a.algorithm, ga::strategy::de);
  EXPECT_EQ(a.selection, ga::selection_kind::single);  // the summed objective
  EXPECT_EQ(a.de.strategy, ga::de_strategy::rand1bin);
  EXPECT_EQ(a.de.f, 0.8);
  EXPECT_EQ(a.de.cr, 0.9);
  EXPECT_EQ(a.offspring, a.population);
  EXPECT_TRUE(rc.fit.ga.selection_warning.empty());
  const run_config p =
      parse_config("", "run.toml",
                   {"fit.ga.algorithm=\"pso\"", "fit.ga.selection=\"nsga2\"", "fit.ga.pso_w=0.5",
                    "fit.ga.pso_c1=2.0", "fit.ga.pso_c2=1.0", "fit.ga.pso_vmax=0.25",
                    "fit.ga.population=12", "fit.ga.offspring=30"});
  const ga::ga_settings& b = p.fit.ga.algorithm;
  EXPECT_EQ(b.algorithm, ga::strategy::pso);
  EXPECT_EQ(b.selection, ga::selection_kind::single);
  EXPECT_NE(p.fit.ga.selection_warning.find("fit.ga.selection = \"nsga2\" is not used"),
            std::string::npos);
  EXPECT_EQ(b.pso.w, 0.5);
  EXPECT_EQ(b.pso.c1, 2.0);
  EXPECT_EQ(b.pso.c2, 1.0);
  EXPECT_EQ(b.pso.vmax, 0.25);
  EXPECT_EQ(b.offspring, 12);  // one position per particle
  EXPECT_EQ(parse_config("", "run.toml", {"fit.ga.de_strategy=\"currenttobest1bin\""})
                .fit.ga.algorithm.de.strategy,
            ga::de_strategy::current_to_best1bin);
  // The GA strategies keep their selection.
  EXPECT_EQ(parse_config("", "run.toml", {}).fit.ga.algorithm.selection, ga::selection_kind::ibea);

  using cellfit::test::config_refusal;
  const auto refused = [](std::vector<std::string> sets, const std::string& what) {
    sets.insert(sets.begin(), "fit.ga.algorithm=\"de\"");
    const std::string msg = config_refusal("", sets);
    EXPECT_NE(msg.find(what), std::string::npos) << "message: " << msg;
  };
  refused({"fit.ga.de_f=0"}, "fit.ga.de_f: must be in (0, 2], got 0");
  refused({"fit.ga.de_f=2.5"}, "fit.ga.de_f: must be in (0, 2], got 2.5");
  refused({"fit.ga.de_cr=1.5"}, "fit.ga.de_cr: must be in [0, 1], got 1.5");
  refused({"fit.ga.de_cr=-0.1"}, "fit.ga.de_cr: must be in [0, 1], got -0.1");
  refused({"fit.ga.de_strategy=\"rand2bin\""},
          "fit.ga.de_strategy: expected \"rand1bin\", \"best1bin\" or \"currenttobest1bin\", got "
          "\"rand2bin\"");
  refused({"fit.ga.population=3"},
          "fit.ga.population: de_strategy \"rand1bin\" needs a population of at least 4, got 3");
  refused({"fit.ga.pso_vmax=-0.5"}, "fit.ga.pso_vmax: must be > 0, got -0.5");
  refused({"fit.ga.pso_vmax=0"}, "fit.ga.pso_vmax: must be > 0, got 0");
  refused({"fit.ga.pso_w=1.5"}, "fit.ga.pso_w: must be in [0, 1], got 1.5");
  refused({"fit.ga.pso_c1=-1"}, "fit.ga.pso_c1: must be in [0, 4], got -1");
  refused(
      {"fit.ga.algorithm=\"ga\""},
      "expected \"mu_comma_lambda\", \"mu_plus_lambda\", \"cmaes\", \"de\" or \"pso\", got \"ga\"");
}

}  // namespace
