#pragma once
// The genetic algorithm's fit loop over the batched simulator: an evolutionary strategy
// ((mu, lambda) or (mu + lambda), paper 004 Algorithm 1; or CMA-ES) in the unit cube of the
// parameter space, multi-objective selection (IBEA, NSGA-II) or a single summed objective,
// objectives from ga::scorer (feature z-scores or trace MSE). Host driver; blocks.
//
// Genomes live in [0, 1]^P: a linear or sigmoid parameter maps its physical bounds linearly
// onto [0, 1], a log parameter its log bounds. Every random number comes from a stream keyed
// by (seed, generation, individual, purpose), so a run repeats bit for bit and does not
// depend on the number of threads or ranks.
//
// Generation g >= 1 (mu = population, lambda = offspring):
//   parents   <- the mu survivors of generation g-1
//   offspring <- lambda children: two parents by tournament, SBX with crossover_prob,
//                polynomial mutation with mutation_prob (genes with gene_mutation_prob)
//   evaluate offspring (simulate every stimulus, score)
//   survivors <- select mu from offspring (comma) or from parents + offspring (plus)
// Generation 0 evaluates mu uniform random genomes.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ga/objectives.hpp"
#include "ga/selection.hpp"
#include "model/cell_model.hpp"
#include "model/parameter_space.hpp"
#include "sim/batch_simulator.hpp"
#include "stimulus/stimulus.hpp"

namespace cellfit::ga {

enum class strategy { mu_comma_lambda, mu_plus_lambda, cmaes };
enum class selection_kind { ibea, nsga2, single };

const char* strategy_name(strategy s);
const char* selection_name(selection_kind s);

struct ga_settings {
  strategy algorithm = strategy::mu_plus_lambda;
  selection_kind selection = selection_kind::ibea;  // BluePyOpt's default
  int population = 100;                             // mu
  int offspring = 100;                              // lambda (CMA-ES: 0 = 4 + 3 ln P)
  int generations = 50;
  double crossover_prob = 1.0, mutation_prob = 1.0;  // BluePyOpt's defaults
  double gene_mutation_prob = 0.5;
  double eta_crossover = 10, eta_mutation = 10;
  int tournament = 2;
  int hall_of_fame = 10;
  double ibea_kappa = 0.05;
  double cmaes_sigma = 0.3;  // initial step, fraction of the unit cube
  std::uint64_t seed = 1;
  bool record_population = true;
};

struct ga_problem {
  const cell_model* model = nullptr;
  const parameter_space* space = nullptr;
  std::vector<stimulus> stimuli;
  simulation_settings settings;
  const scorer* objectives = nullptr;
  std::vector<double> ground_truth;  // physical [P]; empty when unknown
};

struct ga_history {
  // Per generation 0..G: best and median summed objective of the population, GT error of the
  // best, wall time so far, and the time in each stage of the generation.
  std::vector<double> best, median, gt_error, wall_s;
  std::vector<double> simulate_s, score_s, select_s;
  std::vector<int> diverged;  // cells that diverged in the generation's evaluations
};

struct ga_individual {
  std::vector<double> params;      // physical [P]
  std::vector<double> objectives;  // [M]
  double total = 0;                // sum of objectives
};

struct ga_result {
  ga_history history;
  std::vector<ga_individual> hall_of_fame;  // best first (by summed objective)
  // Per recorded generation: the population after selection (CMA-ES: its samples).
  std::vector<std::vector<ga_individual>> populations;
  std::size_t simulations = 0;  // single-cell simulations
  double wall_seconds = 0;
  std::string stop_reason = "generations";
};

struct generation_report {
  int generation = 0, planned = 0;
  double best = 0, median = 0, gt_error = -1;
  double simulate_s = 0, score_s = 0, select_s = 0, elapsed_s = 0;
  int diverged = 0, evaluated = 0;
};
using generation_callback = std::function<void(const generation_report&)>;

// Physical values <-> unit-cube genome (see the header comment).
std::vector<double> to_unit(const parameter_space& space, const std::vector<double>& physical);
std::vector<double> from_unit(const parameter_space& space, const std::vector<double>& u);

ga_result run_genetic_fit(const ga_problem& problem, const ga_settings& settings,
                          const generation_callback& on_generation = {});

}  // namespace cellfit::ga
