#pragma once
// The genetic algorithm's fit loop over the batched simulator: an evolutionary strategy
// ((mu, lambda) or (mu + lambda), paper 004 Algorithm 1; or CMA-ES, differential evolution,
// particle swarm) in the unit cube of the parameter space, multi-objective selection (IBEA,
// NSGA-II) or a single summed objective, objectives from ga::scorer (feature z-scores or
// trace MSE). Host driver; blocks.
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
// Generation 0 evaluates mu uniform random genomes. CMA-ES (ga/cma_es.hpp), differential
// evolution (ga/differential_evolution.hpp) and particle swarm (ga/particle_swarm.hpp) make
// and select genomes their own way, on the summed objective; DE and PSO start from the
// GA's generation 0 and evaluate mu genomes in every generation.
//
// Distributed (problem.comm with several ranks; docs/architecture.md): rank 0 owns the
// algorithm's state. Each generation it broadcasts the genomes to evaluate; every rank
// simulates and scores the sets the plan (sched/load_balance.hpp) gives it, through the
// double-buffered pipeline (sched/pipeline.hpp); the objective rows are gathered on rank 0,
// which selects and makes the next genomes. Placement never changes a result: a cell's
// trace does not depend on its batch, so the run is bit-identical on any number of ranks.
//
// Checkpoint/restart: the evaluation log (every evaluated genome and its objectives, per
// generation) is all the state there is besides the seed: replaying it through the same
// deterministic selection and variation rebuilds parents, hall of fame, CMA-ES, DE and PSO
// state (populations, velocities, personal bests) and history exactly. A resumed run replays the
// log (checking every genome against it) and goes on, on any number of ranks.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "comm/context.hpp"
#include "ga/differential_evolution.hpp"
#include "ga/objectives.hpp"
#include "ga/particle_swarm.hpp"
#include "ga/selection.hpp"
#include "model/cell_model.hpp"
#include "model/parameter_space.hpp"
#include "sched/pipeline.hpp"
#include "sched/plan.hpp"
#include "sim/batch_simulator.hpp"
#include "stimulus/stimulus.hpp"

namespace cellfit::ga {

enum class strategy { mu_comma_lambda, mu_plus_lambda, cmaes, de, pso };
enum class selection_kind { ibea, nsga2, single };

const char* strategy_name(strategy s);
const char* selection_name(selection_kind s);

// Whether the strategy minimises the summed objective itself (CMA-ES, DE, PSO), so that
// ga_settings::selection is not used.
bool summed_objective(strategy s);

struct ga_settings {
  strategy algorithm = strategy::mu_plus_lambda;
  selection_kind selection = selection_kind::ibea;  // BluePyOpt's default
  int population = 100;                             // mu
  int offspring = 100;  // lambda (CMA-ES: 0 = 4 + 3 ln P; DE, PSO: not used, mu)
  int generations = 50;
  double crossover_prob = 1.0, mutation_prob = 1.0;  // BluePyOpt's defaults
  double gene_mutation_prob = 0.5;
  double eta_crossover = 10, eta_mutation = 10;
  int tournament = 2;
  int hall_of_fame = 10;
  double ibea_kappa = 0.05;
  double cmaes_sigma = 0.3;  // initial step, fraction of the unit cube
  de_settings de;            // strategy::de
  pso_settings pso;          // strategy::pso
  std::uint64_t seed = 1;
  bool record_population = true;
  // Budget (0: none): no generation starts that would take the single-cell simulations
  // past max_simulations, nor after max_wall_s seconds; the run then ends with
  // stop_reason "budget".
  double max_simulations = 0;
  double max_wall_s = 0;
};

struct ga_problem {
  const cell_model* model = nullptr;
  const parameter_space* space = nullptr;
  std::vector<stimulus> stimuli;
  simulation_settings settings;
  const scorer* objectives = nullptr;
  std::vector<double> ground_truth;  // physical [P]; empty when unknown
  comm::context_ptr comm;            // null: one process
  sched::parallel_settings parallel;
  int device = -1;  // this rank's node-local GPU (-1: host)
};

// Everything needed to replay a run up to some generation (rank 0).
struct ga_log {
  std::size_t n_params = 0, n_objectives = 0;
  std::vector<std::size_t> evaluated;  // [generation]: genomes evaluated
  std::vector<double> genomes;         // [evaluation][P], unit cube, generations in order
  std::vector<double> objectives;      // [evaluation][M]
  std::vector<int> diverged;           // [generation]
  // [generation]: wall time so far, and the stages of the generation (sched::stage_times).
  std::vector<double> wall_s, simulate_s, copy_s, score_s, communicate_s, select_s;
  std::vector<double> simulations;  // [generation]: single-cell simulations so far

  std::size_t generations() const { return evaluated.size(); }
};

// Checkpointing (rank 0 writes; the other ranks pass an empty control).
struct ga_control {
  const ga_log* resume = nullptr;  // replay this log first
  int checkpoint_every = 0;        // generations between checkpoints (0: only when stopped)
  // Writes a checkpoint of the log (rank 0); throws cellfit::error on failure.
  std::function<void(const ga_log&)> checkpoint;
  // Stop requests (SIGTERM, SIGUSR1): polled between pipeline chunks and generations.
  std::function<bool()> stop_requested;
};

struct ga_history {
  // Per generation 0..G: best and median summed objective of the population, GT error of the
  // best, wall time so far, and the time in each stage of the generation.
  std::vector<double> best, median, gt_error, wall_s;
  std::vector<double> simulate_s, copy_s, score_s, communicate_s, select_s;
  std::vector<double> overlap;  // (simulate + copy + score) / generation wall
  std::vector<int> diverged;    // cells that diverged in the generation's evaluations
};

struct ga_individual {
  std::vector<double> params;      // physical [P]
  std::vector<double> objectives;  // [M]
  double total = 0;                // sum of objectives
};

struct ga_result {
  ga_history history;
  std::vector<ga_individual> hall_of_fame;  // best first (by summed objective)
  // Per recorded generation: the population after selection (CMA-ES: its samples; DE: the
  // population after the replacements; PSO: the personal bests).
  std::vector<std::vector<ga_individual>> populations;
  std::size_t simulations = 0;  // single-cell simulations
  double wall_seconds = 0;
  // "generations", "budget" (ga_settings.max_*), "interrupted" (a signal), "diverged"
  std::string stop_reason = "generations";
  int replayed = 0;  // generations taken from control.resume
  ga_log log;
  sched::plan plan;  // the last generation's
};

struct generation_report {
  int generation = 0, planned = 0;
  double best = 0, median = 0, gt_error = -1;
  sched::stage_times times;
  double elapsed_s = 0;
  int diverged = 0, evaluated = 0;
  bool replayed = false;
};
using generation_callback = std::function<void(const generation_report&)>;

// Physical values <-> unit-cube genome (see the header comment).
std::vector<double> to_unit(const parameter_space& space, const std::vector<double>& physical);
std::vector<double> from_unit(const parameter_space& space, const std::vector<double>& u);

// Every rank of problem.comm calls it (a collective); the result is complete on rank 0 only
// (elsewhere: the plan). on_generation is called on rank 0.
ga_result run_genetic_fit(const ga_problem& problem, const ga_settings& settings,
                          const generation_callback& on_generation = {},
                          const ga_control& control = {});

}  // namespace cellfit::ga
