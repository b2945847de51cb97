// Question: how do the GA and the gradient engine scale with ranks, nodes and problem size?
// The experiment designs of paper 004 (NeuroGPU-EA), run through the real engines
// (ga::run_genetic_fit, run_gradient_fit) under mpirun or srun, one study per launch:
//
//   population  GA at population 500..5000 on the ranks given (here --sizes, default
//               128..1024), 8 stimuli x 20 features: problem-size scaling.
//   strong      fixed population (paper: 3000; here --population, default 512) on
//               1, 2, 4, ... ranks (or nodes with --per node): paper 004 Table 1.
//   weak        fixed population per rank or node (paper: 250 per node; here
//               --weak-population, default 256) on 1, 2, 4, ... ranks/nodes: Table 2.
//   stimuli     stimuli 1..18 (--sizes) at a fixed population (paper: 500; here 128).
//   features    score functions 1..180 (--sizes) at a fixed population and 8 stimuli.
//   gradient    gradient engine: a fixed total of stimuli (strong, --gradient-stimuli,
//               default 64) and a fixed number per rank (weak, --gradient-per-rank, default
//               16), rank sweeps; time per epoch (forward + adjoint over every stimulus,
//               reduction, Adam update). The host kernel runs cells in SIMD tiles of 8 or
//               more: fewer than 8 stimuli on a rank run unvectorised (several times slower
//               per cell), which a strong sweep over too few stimuli shows as a slowdown.
//
// Score functions (features study). A score function is one (stimulus, eFEL feature) target;
// the scorer (ga/objectives.hpp) computes, per cell, the distinct features targeted on that
// cell's stimulus, and refuses two targets of one pair, so the scoring work grows only with
// distinct pairs: repeating a feature would not cost anything. n score functions are dealt
// round-robin over the stimuli: target k goes to stimulus k mod S and is the next feature of
// that stimulus's list (default_ga_features() first, then the rest of
// features::available(), in order), skipping the features that cannot be computed on that
// stimulus's target trace. So n < S scores only n of the S stimuli (the others are simulated
// but not scored), and n >= S adds features to every stimulus in turn; both grow the
// feature-extraction work with n. The objectives are grouped as in a fit (--grouping,
// default per_feature: one objective per feature name); the other studies score the 20
// default features (or the config's fit.ga.features) on every stimulus.
//
// --model CONFIG (e.g. examples/l5pc/ttpc_paper004.toml, paper 004's own cell) replaces the
// built-in problem with the config's model, stimuli, parameters, synthetic target and GA
// settings (algorithm, variation, and selection and grouping unless given here); --set
// overrides its values (shortened stimuli) and is recorded in the output's settings.
//
// Rank sweeps in one launch. Each point runs on a sub-communicator of the first k ranks of
// MPI_COMM_WORLD (--per rank), or of the ranks of the first k nodes (--per node; nodes
// ordered by their lowest world rank). The other ranks wait in MPI_Ibarrier polled with
// MPI_Test and a 2 ms sleep, so they take no core from the working ranks (an oversubscribed
// run is not distorted by busy-waiting idle ranks). `mpirun -np 4 scaling --study strong` or
// `srun -N 16 scaling --study strong --per node` thus runs a whole study in one job.
// population, stimuli and features run every point on all the ranks given.
//
// Per point: generation 0 (random genomes; it includes the engine's first-touch setup and a
// plan made before any rate is measured) is reported separately (gen0_wall_s) and left out
// of the averages; the stage times (simulate, copy, score, communicate, select: from
// ga_result.history, the slowest rank's simulate/copy/score) and the wall time are the mean
// over generations 1..G (--generations, default 3; with G = 0, generation 0 itself). For the
// gradient engine the epochs 1..E are averaged likewise (epoch 0 apart); its simulate_s
// column is the epoch less the reduction (forward + adjoint + Adam update), score, copy and
// select are 0. With --repeats R each point runs R times and the run with the least wall
// time is kept.
//
// Efficiency (units = ranks, or nodes with --per node; u0, T0: the first point's):
//   strong, gradient-strong   T0 u0 / (T u)        = T(1) / (k T(k)) when u0 = 1
//   weak, gradient-weak       T0 / T               = T(1) / T(k)
//   population, stimuli       (T0 / x0) / (T / x)  cost per individual / stimulus
//   features                  not defined (NaN): the simulation does not grow with x
// overlap_efficiency = (simulate + copy + score) / wall (1: no overlap, up to 2).
// A point is oversubscribed when a node runs more of its ranks than it has hardware
// threads (std::thread::hardware_concurrency()).
//
// Results must not depend on the number of ranks (docs/parallel.md): in a rank sweep with a
// fixed problem (strong, gradient-strong) every point's history and hall of fame (GA) or
// loss history and best parameters (gradient) are compared bit for bit with the first
// point's. Output (rank 0): a table on stdout, progress on stderr, --csv and --h5 (columns
// as datasets /scaling/<column>, with attributes machine, commit, command, settings, date).
// Exit status: 0; 1 on an error (bad option, config, file); 2 when a result differs between
// rank counts.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <mpi.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <Kokkos_Core.hpp>

#include "bench_info.hpp"
#include "comm/context.hpp"
#include "comm/mpi_context.hpp"
#include "common/error.hpp"
#include "common/rng.hpp"
#include "features/feature_library.hpp"
#include "ga/genetic_fit.hpp"
#include "ga/objectives.hpp"
#include "gradient/gradient_fit.hpp"
#include "io/config.hpp"
#include "io/h5.hpp"
#include "model/parameter_space.hpp"
#include "sched/load_balance.hpp"
#include "sim/batch_simulator.hpp"

namespace {

namespace ga = cellfit::ga;
namespace comm = cellfit::comm;
using cellfit::bench::cpu_model;
using cellfit::bench::run_command;

constexpr double nan_value = std::numeric_limits<double>::quiet_NaN();

// ---------------------------------------------------------------------------------------
// Options

struct options {
  std::string study;
  std::vector<int> sizes;    // population / stimuli / features: the study's axis
  std::vector<int> ranks;    // rank sweeps: units (ranks or nodes)
  std::string per = "rank";  // "rank" or "node"
  int population = 0;        // strong: total; stimuli/features: fixed (0: the study's default)
  int weak_population = 256;
  int stimuli = 8;
  int gradient_stimuli = 64, gradient_per_rank = 16;
  int generations = 3, repeats = 1;
  double t_stop_ms = 100.0, dt_ms = 0.025, lr = 0.002;
  std::string selection = "ibea", grouping = "per_feature";
  // With --model and no --selection / --grouping: the config's fit.ga settings.
  bool selection_given = false, grouping_given = false;
  int chunks = 4;
  bool no_overlap = false;
  std::uint64_t seed = 7;
  std::string model;
  std::vector<std::string> sets;
  std::string csv, h5;
  bool smoke = false, no_check = false;
};

bool is_rank_sweep(const std::string& study) {
  return study == "strong" || study == "weak" || study == "gradient";
}

// ---------------------------------------------------------------------------------------
// The problem

// Somatic step amplitudes (nA) of the built-in problem: i = 0..n-1 runs through 18 levels
// from 0.2 to 0.9 nA (all spiking, so every default feature is defined), in an order that
// spreads the first few over the range; from the 19th stimulus on the levels repeat.
double amplitude(int i) { return 0.2 + 0.7 * static_cast<double>((i * 7) % 18) / 17.0; }

std::string builtin_text(int n_stimuli, double t_stop_ms, double dt_ms) {
  std::ostringstream t;
  t << "[model]\nmorphology = \"builtin:ball_and_stick\"\ncelsius = 6.3\nv_init = -65.0\n"
    << "[model.mechanisms.hh]\nregions = \"all\"\n"
    << "[simulation]\ndt_ms = " << dt_ms << "\nt_stop_ms = " << t_stop_ms
    << "\nrecord_sites = [0]\n"
    << "[[stimulus]]\ntype = \"step\"\nsites = \"soma\"\namplitudes = [";
  for (int i = 0; i < n_stimuli; ++i) t << (i ? ", " : "") << amplitude(i);
  t << "]\ndelay_ms = " << 0.1 * t_stop_ms << "\nduration_ms = " << 0.8 * t_stop_ms << "\n";
  return t.str();
}

std::vector<cellfit::fit_parameter> builtin_parameters() {
  using cellfit::transform_kind;
  std::vector<cellfit::fit_parameter> p(3);
  p[0] = {"hh", "gnabar", "all", 0.05, 0.3, transform_kind::linear, {}, "scaling"};
  p[1] = {"hh", "gkbar", "all", 0.01, 0.08, transform_kind::linear, {}, "scaling"};
  p[2] = {"hh", "gl", "all", 1e-4, 1e-3, transform_kind::log, {}, "scaling"};
  return p;
}

// The feature list of the features study: the fit's list first, then every other feature
// of the library, in its order.
std::vector<std::string> all_features(const std::vector<std::string>& first) {
  std::vector<std::string> out = first;
  for (const std::string& f : cellfit::features::available()) {
    if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
  }
  return out;
}

// One point's problem: model, stimuli, parameters, synthetic ground truth, feature targets
// (and target traces for the gradient engine). Built the same way on every rank.
struct problem {
  cellfit::run_config rc;
  std::unique_ptr<cellfit::parameter_space> space;
  std::vector<double> truth, traces;
  std::vector<ga::feature_target> targets;
  std::vector<ga::feature_window> windows;
  std::size_t dropped = 0;
  ga::scoring_settings scoring;
  std::unique_ptr<ga::scorer> scorer;
};

ga::objective_grouping grouping_of(const std::string& g) {
  if (g == "per_feature") return ga::objective_grouping::per_feature;
  if (g == "per_stimulus_feature") return ga::objective_grouping::per_stimulus_feature;
  return ga::objective_grouping::sum;
}

// n_stimuli stimuli; score_functions > 0: that many (stimulus, feature) targets dealt
// round-robin (the header comment), 0: the fit's features on every stimulus. with_scorer
// false: the gradient engine's problem (target traces only).
std::unique_ptr<problem> make_problem(const options& o, int n_stimuli, int score_functions,
                                      bool with_scorer) {
  auto p = std::make_unique<problem>();
  cellfit::run_config& rc = p->rc;
  std::vector<cellfit::fit_parameter> params;
  std::vector<std::string> feature_list = cellfit::default_ga_features();
  if (o.model.empty()) {
    rc = cellfit::parse_config(builtin_text(n_stimuli, o.t_stop_ms, o.dt_ms), "scaling", {});
    params = builtin_parameters();
  } else {
    rc = cellfit::load_config(o.model, o.sets);
    if (rc.fit.parameters.empty()) {
      throw cellfit::config_error("cellfit::scaling: " + o.model +
                                  " has no [[fit.parameter]]: --model needs the parameters "
                                  "to vary (docs/config.md)");
    }
    params = rc.fit.parameters;
    if (!rc.fit.ga.features.empty()) feature_list = rc.fit.ga.features;
    // Cycle the config's stimuli to n_stimuli.
    const std::vector<cellfit::stimulus> base = rc.stimuli;
    rc.stimuli.clear();
    for (int i = 0; i < n_stimuli; ++i) {
      cellfit::stimulus s = base[static_cast<std::size_t>(i) % base.size()];
      if (i >= static_cast<int>(base.size())) s.name += "#" + std::to_string(i);
      rc.stimuli.push_back(s);
    }
  }
  p->space = std::make_unique<cellfit::parameter_space>(rc.model, params);
  const cellfit::parameter_space& space = *p->space;

  // Synthetic ground truth: each scalar's model value x U(low, high) (the config's
  // fit.target, as `cellfit fit` makes it), clipped into the bounds.
  p->truth = space.model_values();
  const cellfit::target_settings& ts = rc.fit.target;
  for (std::size_t i = 0; i < p->truth.size(); ++i) {
    const double f =
        ts.low + (ts.high - ts.low) * cellfit::uniform01(cellfit::counter_hash(ts.seed, i, 0x67));
    p->truth[i] = std::min(space.upper(i), std::max(space.lower(i), p->truth[i] * f));
  }
  const cellfit::simulation_result r =
      cellfit::simulate_batch(rc.model, {space.to_set(p->truth)}, rc.stimuli, rc.settings);
  if (r.n_failed() > 0) {
    throw cellfit::config_error("cellfit::scaling: " + std::to_string(r.n_failed()) +
                                " target cells diverge at the synthetic ground truth");
  }
  p->traces = r.voltage;
  if (!with_scorer) return p;

  ga::scoring_settings& ss = p->scoring;
  const cellfit::ga_fit_settings& gs = rc.fit.ga;
  ss.grouping = !o.model.empty() && !o.grouping_given ? gs.grouping : grouping_of(o.grouping);
  ss.penalty = gs.penalty > 0 ? gs.penalty : 250.0;
  ss.feature_site = static_cast<std::size_t>(gs.feature_site);
  ss.efel.threshold_mv = gs.threshold_mv;
  ss.efel.derivative_threshold = gs.derivative_threshold;
  p->windows = ga::stimulus_windows(rc.stimuli, rc.settings.t_stop_ms);
  std::vector<std::string> dropped;
  const std::vector<std::string> names =
      score_functions > 0 ? all_features(feature_list) : feature_list;
  std::vector<ga::feature_target> all = ga::targets_from_traces(
      p->traces, p->windows, names, rc.settings, ss, ts.std_fraction, ts.std_floor, dropped);
  if (score_functions <= 0) {
    p->targets = std::move(all);
    p->dropped = dropped.size();
  } else {
    // Round-robin over the stimuli, each stimulus's computable features in list order.
    std::vector<std::vector<ga::feature_target>> per(rc.stimuli.size());
    for (const auto& t : all) per[t.stimulus].push_back(t);
    const std::size_t want = static_cast<std::size_t>(score_functions);
    for (std::size_t round = 0; p->targets.size() < want; ++round) {
      bool any = false;
      for (std::size_t s = 0; s < per.size() && p->targets.size() < want; ++s) {
        if (round < per[s].size()) {
          p->targets.push_back(per[s][round]);
          any = true;
        }
      }
      if (!any) {
        throw cellfit::config_error("cellfit::scaling: " + std::to_string(score_functions) +
                                    " score functions asked for, but only " +
                                    std::to_string(all.size()) +
                                    " (stimulus, feature) pairs can be computed on the " +
                                    std::to_string(rc.stimuli.size()) +
                                    " stimuli of this problem: use more stimuli "
                                    "(--stimuli) or fewer score functions");
      }
    }
  }
  if (p->targets.empty()) {
    throw cellfit::config_error(
        "cellfit::scaling: no feature can be computed on the target traces (" +
        std::to_string(dropped.size()) + " dropped, e.g. " +
        (dropped.empty() ? std::string("none") : dropped.front()) +
        "): lengthen --t-stop or use stronger stimuli");
  }
  p->scorer = std::make_unique<ga::scorer>(ss, p->targets, p->windows, rc.settings);
  return p;
}

// ---------------------------------------------------------------------------------------
// Ranks, nodes and sub-communicators

struct topology {
  bool mpi = false;
  int rank = 0, size = 1;
  std::vector<int> node_of;   // [world rank] -> node index (by lowest world rank)
  std::vector<int> cores_of;  // [world rank] -> hardware threads of its node
  int nodes = 1;
};

topology discover(bool mpi) {
  topology t;
  t.mpi = mpi;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (!mpi) {
    t.node_of = {0};
    t.cores_of = {cores};
    return t;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &t.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &t.size);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, t.rank, MPI_INFO_NULL, &node);
  int leader = t.rank;
  MPI_Allreduce(MPI_IN_PLACE, &leader, 1, MPI_INT, MPI_MIN, node);
  MPI_Comm_free(&node);
  const int mine[2] = {leader, cores};
  std::vector<int> all(2 * static_cast<std::size_t>(t.size));
  MPI_Allgather(mine, 2, MPI_INT, all.data(), 2, MPI_INT, MPI_COMM_WORLD);
  std::set<int> leaders;
  for (int r = 0; r < t.size; ++r) leaders.insert(all[2 * static_cast<std::size_t>(r)]);
  const std::vector<int> sorted(leaders.begin(), leaders.end());
  t.nodes = static_cast<int>(sorted.size());
  for (int r = 0; r < t.size; ++r) {
    const int l = all[2 * static_cast<std::size_t>(r)];
    t.node_of.push_back(
        static_cast<int>(std::lower_bound(sorted.begin(), sorted.end(), l) - sorted.begin()));
    t.cores_of.push_back(all[2 * static_cast<std::size_t>(r) + 1]);
  }
  return t;
}

// Which world ranks work at a point of `units` ranks or nodes.
struct membership {
  std::vector<bool> active;  // [world rank]
  int ranks = 0, nodes = 0, ranks_per_node = 0, cores_per_node = 0;
  bool oversubscribed = false;
};

membership members(const topology& t, int units, bool per_node) {
  membership m;
  m.active.assign(static_cast<std::size_t>(t.size), false);
  std::map<int, int> on_node;
  for (int r = 0; r < t.size; ++r) {
    const bool a = per_node ? t.node_of[static_cast<std::size_t>(r)] < units : r < units;
    m.active[static_cast<std::size_t>(r)] = a;
    if (!a) continue;
    ++m.ranks;
    ++on_node[t.node_of[static_cast<std::size_t>(r)]];
  }
  m.nodes = static_cast<int>(on_node.size());
  m.cores_per_node = std::numeric_limits<int>::max();
  for (int r = 0; r < t.size; ++r) {
    if (!m.active[static_cast<std::size_t>(r)]) continue;
    const int n = on_node[t.node_of[static_cast<std::size_t>(r)]];
    m.ranks_per_node = std::max(m.ranks_per_node, n);
    m.cores_per_node = std::min(m.cores_per_node, t.cores_of[static_cast<std::size_t>(r)]);
    m.oversubscribed = m.oversubscribed || n > t.cores_of[static_cast<std::size_t>(r)];
  }
  return m;
}

// The context of this rank's point (null on an idle rank). A collective over the world.
comm::context_ptr sub_context(const topology& t, const membership& m) {
  if (!t.mpi) return comm::make_local_context();
  const bool a = m.active[static_cast<std::size_t>(t.rank)];
  MPI_Comm part = MPI_COMM_NULL;
  MPI_Comm_split(MPI_COMM_WORLD, a ? 0 : MPI_UNDEFINED, t.rank, &part);
  if (!a) return nullptr;
  comm::context_ptr ctx = comm::make_mpi_context(part);  // duplicates part
  MPI_Comm_free(&part);
  return ctx;
}

// A world barrier that does not spin: idle ranks (and working ranks that finished first)
// sleep between polls, leaving the cores to the ranks still working.
void quiet_barrier(const topology& t) {
  if (!t.mpi) return;
  MPI_Request req;
  MPI_Ibarrier(MPI_COMM_WORLD, &req);
  int done = 0;
  for (;;) {
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (done) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// ---------------------------------------------------------------------------------------
// Points

struct point {
  std::string study, engine = "ga";
  int units = 1, ranks = 1, nodes = 1, ranks_per_node = 1, cores_per_node = 1;
  int population = 0, stimuli = 0, score_functions = 0, objectives = 0, generations = 0;
  double simulate_s = 0, copy_s = 0, score_s = 0, communicate_s = 0, select_s = 0;
  double wall_s = 0, gen0_wall_s = 0, efficiency = nan_value, overlap = nan_value;
  bool oversubscribed = false;
  double simulations = 0, best = nan_value;
  double x = 0;  // the study's axis value (size or units)
};

// What a rank-sweep check compares.
struct fingerprint {
  std::vector<double> a, b;  // GA: history best/median + hall of fame; gradient: loss, best
};

ga::selection_kind selection_of(const std::string& s) {
  if (s == "nsga2") return ga::selection_kind::nsga2;
  if (s == "single") return ga::selection_kind::single;
  return ga::selection_kind::ibea;
}

int gpu_device(const comm::context& ctx) {
#if defined(KOKKOS_ENABLE_CUDA) || defined(KOKKOS_ENABLE_HIP) || defined(KOKKOS_ENABLE_SYCL)
  const char* per_node = std::getenv("CELLFIT_GPUS_PER_NODE");
  if (per_node && std::atoi(per_node) > 0)
    return cellfit::sched::device_for_local_rank(ctx.local_rank(), std::atoi(per_node));
#else
  (void)ctx;
#endif
  return -1;
}

// One GA point on ctx (every rank of ctx calls it); fills pt and fp on rank 0 of ctx.
void run_ga_point(const options& o, const problem& p, const comm::context_ptr& ctx, int population,
                  point& pt, fingerprint& fp) {
  ga::ga_problem gp;
  gp.model = &p.rc.model;
  gp.space = p.space.get();
  gp.stimuli = p.rc.stimuli;
  gp.settings = p.rc.settings;
  gp.objectives = p.scorer.get();
  gp.ground_truth = p.truth;
  gp.comm = ctx;
  gp.parallel = p.rc.parallel;
  gp.parallel.chunks = o.chunks;
  gp.parallel.overlap = !o.no_overlap;
  gp.device = gpu_device(*ctx);
  ga::ga_settings gs = o.model.empty() ? ga::ga_settings{} : p.rc.fit.ga.algorithm;
  if (o.model.empty() || o.selection_given) gs.selection = selection_of(o.selection);
  gs.population = population;
  gs.offspring = population;
  gs.generations = o.generations;
  gs.seed = o.seed;
  gs.record_population = false;
  if (gs.algorithm == ga::strategy::cmaes) gs.algorithm = ga::strategy::mu_plus_lambda;

  pt.population = population;
  pt.stimuli = static_cast<int>(p.rc.stimuli.size());
  pt.score_functions = static_cast<int>(p.targets.size());
  pt.objectives = static_cast<int>(p.scorer->n_objectives());
  pt.generations = o.generations;
  double best_wall = std::numeric_limits<double>::infinity();
  for (int rep = 0; rep < o.repeats; ++rep) {
    const ga::ga_result res = ga::run_genetic_fit(gp, gs);
    if (ctx->rank() != 0) continue;
    const ga::ga_history& h = res.history;
    const std::size_t G = h.wall_s.size();
    if (G == 0) throw cellfit::internal_error("cellfit::scaling: the GA recorded no generation");
    const std::size_t from = G > 1 ? 1 : 0;
    point q = pt;
    for (std::size_t g = from; g < G; ++g) {
      q.simulate_s += h.simulate_s[g];
      q.copy_s += h.copy_s[g];
      q.score_s += h.score_s[g];
      q.communicate_s += h.communicate_s[g];
      q.select_s += h.select_s[g];
      q.wall_s += g > 0 ? h.wall_s[g] - h.wall_s[g - 1] : h.wall_s[0];
    }
    const double n = static_cast<double>(G - from);
    q.simulate_s /= n;
    q.copy_s /= n;
    q.score_s /= n;
    q.communicate_s /= n;
    q.select_s /= n;
    q.wall_s /= n;
    q.gen0_wall_s = h.wall_s[0];
    q.overlap = q.wall_s > 0 ? (q.simulate_s + q.copy_s + q.score_s) / q.wall_s : nan_value;
    q.simulations = static_cast<double>(res.simulations);
    q.best = h.best.back();
    if (q.wall_s < best_wall) {
      best_wall = q.wall_s;
      pt = q;
    }
    fp.a = h.best;
    fp.a.insert(fp.a.end(), h.median.begin(), h.median.end());
    fp.b.clear();
    for (const auto& ind : res.hall_of_fame) {
      fp.b.insert(fp.b.end(), ind.params.begin(), ind.params.end());
      fp.b.insert(fp.b.end(), ind.objectives.begin(), ind.objectives.end());
    }
  }
}

// One gradient point on ctx (every rank of ctx calls it).
void run_gradient_point(const options& o, const problem& p, const comm::context_ptr& ctx, point& pt,
                        fingerprint& fp) {
  cellfit::fit_problem fp_problem;
  fp_problem.model = &p.rc.model;
  fp_problem.space = p.space.get();
  fp_problem.stimuli = p.rc.stimuli;
  fp_problem.settings = p.rc.settings;
  fp_problem.target = p.traces;
  fp_problem.ground_truth = p.truth;
  fp_problem.comm = ctx;
  fp_problem.device = gpu_device(*ctx);
  cellfit::gradient_settings gs;
  gs.optimizer = cellfit::optimizer_kind::adam;
  gs.epochs = o.generations;
  gs.lr = o.lr;

  pt.engine = "gradient";
  pt.population = 1;
  pt.stimuli = static_cast<int>(p.rc.stimuli.size());
  pt.generations = o.generations;
  double best_wall = std::numeric_limits<double>::infinity();
  for (int rep = 0; rep < o.repeats; ++rep) {
    std::vector<double> epoch_s, comm_s;
    const cellfit::fit_result res =
        cellfit::run_gradient_fit(fp_problem, gs, [&](const cellfit::epoch_report& e) {
          if (e.replayed) return;
          epoch_s.push_back(e.epoch_seconds);
          comm_s.push_back(e.communicate_s);
        });
    if (ctx->rank() != 0) continue;
    const std::size_t E = epoch_s.size();
    if (E == 0) throw cellfit::internal_error("cellfit::scaling: the fit recorded no epoch");
    const std::size_t from = E > 1 ? 1 : 0;
    point q = pt;
    for (std::size_t e = from; e < E; ++e) {
      q.communicate_s += comm_s[e];
      q.wall_s += epoch_s[e];
    }
    const double n = static_cast<double>(E - from);
    q.communicate_s /= n;
    q.wall_s /= n;
    q.simulate_s = q.wall_s - q.communicate_s;
    q.gen0_wall_s = epoch_s[0];
    q.simulations = static_cast<double>(res.simulations);
    q.best = res.best_loss;
    if (q.wall_s < best_wall) {
      best_wall = q.wall_s;
      pt = q;
    }
    fp.a = res.history.loss;
    fp.b = res.best;
  }
}

// ---------------------------------------------------------------------------------------
// Output

std::string date_now() {
  char buf[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", std::localtime(&now));
  return buf;
}

struct run_info {
  std::string host, cpu, commit, command, settings, date;
};

const char* csv_header =
    "study,engine,per,units,ranks,nodes,ranks_per_node,cores_per_node,population,stimuli,"
    "score_functions,objectives,generations,simulate_s,copy_s,score_s,communicate_s,select_s,"
    "wall_s,gen0_wall_s,efficiency,overlap_efficiency,oversubscribed,simulations,best,host,cpu,"
    "commit";

std::string quoted(const std::string& s) {
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

void write_csv(const std::string& path, const std::vector<point>& pts, const std::string& per,
               const run_info& info) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp);
    if (!out) throw cellfit::io_error("cellfit::scaling: cannot write " + tmp);
    out.precision(9);
    out << csv_header << '\n';
    for (const point& p : pts) {
      out << p.study << ',' << p.engine << ',' << per << ',' << p.units << ',' << p.ranks << ','
          << p.nodes << ',' << p.ranks_per_node << ',' << p.cores_per_node << ',' << p.population
          << ',' << p.stimuli << ',' << p.score_functions << ',' << p.objectives << ','
          << p.generations << ',' << p.simulate_s << ',' << p.copy_s << ',' << p.score_s << ','
          << p.communicate_s << ',' << p.select_s << ',' << p.wall_s << ',' << p.gen0_wall_s << ','
          << p.efficiency << ',' << p.overlap << ',' << (p.oversubscribed ? 1 : 0) << ','
          << p.simulations << ',' << p.best << ',' << quoted(info.host) << ',' << quoted(info.cpu)
          << ',' << quoted(info.commit) << '\n';
    }
    out.flush();
    if (!out) throw cellfit::io_error("cellfit::scaling: writing " + tmp + " failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw cellfit::io_error("cellfit::scaling: cannot rename " + tmp + " to " + path);
  }
}

void write_h5(const std::string& path, const std::vector<point>& pts, const std::string& per,
              const run_info& info) {
  namespace h5 = cellfit::h5;
  h5::atomic_output out(path);
  {
    h5::file f = h5::file::create(out.temp_path());
    const std::size_t n = pts.size();
    auto strings = [&](const char* name, auto get) {
      std::vector<std::string> v;
      for (const point& p : pts) v.push_back(get(p));
      f.write(std::string("/scaling/") + name, v);
    };
    auto ints = [&](const char* name, auto get) {
      std::vector<std::int64_t> v;
      for (const point& p : pts) v.push_back(static_cast<std::int64_t>(get(p)));
      f.write(std::string("/scaling/") + name, v, {n});
    };
    auto reals = [&](const char* name, auto get) {
      std::vector<double> v;
      for (const point& p : pts) v.push_back(get(p));
      f.write(std::string("/scaling/") + name, v, {n});
    };
    strings("study", [](const point& p) { return p.study; });
    strings("engine", [](const point& p) { return p.engine; });
    strings("per", [&](const point&) { return per; });
    ints("units", [](const point& p) { return p.units; });
    ints("ranks", [](const point& p) { return p.ranks; });
    ints("nodes", [](const point& p) { return p.nodes; });
    ints("ranks_per_node", [](const point& p) { return p.ranks_per_node; });
    ints("cores_per_node", [](const point& p) { return p.cores_per_node; });
    ints("population", [](const point& p) { return p.population; });
    ints("stimuli", [](const point& p) { return p.stimuli; });
    ints("score_functions", [](const point& p) { return p.score_functions; });
    ints("objectives", [](const point& p) { return p.objectives; });
    ints("generations", [](const point& p) { return p.generations; });
    reals("simulate_s", [](const point& p) { return p.simulate_s; });
    reals("copy_s", [](const point& p) { return p.copy_s; });
    reals("score_s", [](const point& p) { return p.score_s; });
    reals("communicate_s", [](const point& p) { return p.communicate_s; });
    reals("select_s", [](const point& p) { return p.select_s; });
    reals("wall_s", [](const point& p) { return p.wall_s; });
    reals("gen0_wall_s", [](const point& p) { return p.gen0_wall_s; });
    reals("efficiency", [](const point& p) { return p.efficiency; });
    reals("overlap_efficiency", [](const point& p) { return p.overlap; });
    ints("oversubscribed", [](const point& p) { return p.oversubscribed ? 1 : 0; });
    reals("simulations", [](const point& p) { return p.simulations; });
    reals("best", [](const point& p) { return p.best; });
    f.attribute("/scaling", "machine", info.cpu);
    f.attribute("/scaling", "host", info.host);
    f.attribute("/scaling", "commit", info.commit);
    f.attribute("/scaling", "command", info.command);
    f.attribute("/scaling", "settings", info.settings);
    f.attribute("/scaling", "date", info.date);
    f.attribute("/scaling", "points", static_cast<std::int64_t>(n));
    f.close();
  }
  out.commit();
}

void print_table(const std::vector<point>& pts, bool per_node) {
  std::printf("%-16s %5s %5s %6s %4s %4s %4s %10s %8s %8s %8s %8s %9s %8s %6s %7s %4s\n", "study",
              per_node ? "nodes" : "ranks", per_node ? "ranks" : "nodes", "pop", "stim", "sf",
              "obj", "simulate_s", "copy_s", "score_s", "comm_s", "select_s", "wall_s", "gen0_s",
              "eff", "overlap", "ovs");
  for (const point& p : pts) {
    std::printf(
        "%-16s %5d %5d %6d %4d %4d %4d %10.4f %8.4f %8.4f %8.4f %8.4f %9.4f %8.4f %6.3f %7.3f "
        "%4s\n",
        p.study.c_str(), per_node ? p.nodes : p.ranks, per_node ? p.ranks : p.nodes, p.population,
        p.stimuli, p.score_functions, p.objectives, p.simulate_s, p.copy_s, p.score_s,
        p.communicate_s, p.select_s, p.wall_s, p.gen0_wall_s, p.efficiency, p.overlap,
        p.oversubscribed ? "yes" : "no");
  }
}

void set_efficiency(std::vector<point>& pts, const std::string& study) {
  std::vector<point*> of;
  for (point& p : pts)
    if (p.study == study) of.push_back(&p);
  if (of.empty()) return;
  const point& r = *of.front();
  for (point* p : of) {
    if (!(p->wall_s > 0) || !(r.wall_s > 0)) continue;
    if (study == "strong" || study == "gradient-strong") {
      p->efficiency = r.wall_s * r.units / (p->wall_s * p->units);
    } else if (study == "weak" || study == "gradient-weak") {
      p->efficiency = r.wall_s / p->wall_s;
    } else if (study == "population" || study == "stimuli") {
      p->efficiency = (r.wall_s / r.x) / (p->wall_s / p->x);
    }
  }
}

std::string join(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

// Checks that a file can be created at path (rank 0, before any work).
void check_writable(const std::string& path) {
  const std::string probe = path + ".probe." + std::to_string(getpid());
  {
    std::ofstream f(probe);
    if (!f) {
      throw cellfit::io_error("cellfit::scaling: cannot create files next to " + path +
                              " (does the directory exist and is it writable?)");
    }
  }
  std::remove(probe.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  // MPI first (only when a launcher started us), so that only rank 0 prints --help.
  std::unique_ptr<comm::mpi_session> session;
  comm::context_ptr world;
  bool mpi = false;
  try {
    mpi = comm::launched_by_mpi();
    if (mpi) {
      session = std::make_unique<comm::mpi_session>(argc, argv);
      world = comm::make_mpi_context(MPI_COMM_WORLD);
    } else {
      world = comm::make_local_context();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cellfit::scaling: %s\n", comm::describe(e).c_str());
    return 1;
  }
  const bool root = world->rank() == 0;
  // srun without an MPI plugin that suits this MPI starts N singletons, each rank 0 of 1,
  // which would all run the whole study and write the same files.
  if (const char* tasks = std::getenv("SLURM_STEP_NUM_TASKS")) {
    if (std::atoi(tasks) > 1 && world->size() == 1 && std::getenv("SLURM_PROCID") &&
        !std::getenv("OMPI_COMM_WORLD_SIZE")) {
      std::fprintf(stderr,
                   "cellfit::scaling: srun started %s tasks but MPI sees each as a job of one "
                   "rank: choose Slurm's MPI plugin (srun --mpi=pmix or pmi2) or launch with "
                   "mpirun\n",
                   tasks);
      return 1;
    }
  }

  options o;
  CLI::App app{
      "cellfit scaling: paper 004's scaling studies of the GA (and of the gradient engine) over "
      "MPI ranks and nodes, one study per launch.\n"
      "Run under mpirun/srun, e.g. `mpirun -np 4 scaling --study strong` or `srun -N 16 "
      "scaling --study strong --per node`. Rank sweeps run each point on the first k ranks "
      "(or nodes) of the launch while the others sleep. Writes a table (stdout), --csv and "
      "--h5 (rank 0); progress on stderr. Exit 0; 1 on an error; 2 when a result differs "
      "between rank counts (strong sweeps compare every point with the first)."};
  app.add_option("--study", o.study,
                 "population | strong | weak | stimuli | features | gradient:\n"
                 "  population: GA at each population of --sizes on all ranks (paper: 500..5000)\n"
                 "  strong: --population fixed, rank/node counts of --ranks (paper: 3000, 1..16)\n"
                 "  weak: --weak-population per rank/node, counts of --ranks (paper: 250/node)\n"
                 "  stimuli: stimulus counts of --sizes at --population (paper: 1..18 at 500)\n"
                 "  features: score functions of --sizes, --stimuli stimuli (paper: 1..180)\n"
                 "  gradient: gradient engine, --gradient-stimuli in all (strong) and\n"
                 "            --gradient-per-rank per rank/node (weak), counts of --ranks")
      ->required()
      ->check(CLI::IsMember({"population", "strong", "weak", "stimuli", "features", "gradient"}));
  app.add_option("--sizes", o.sizes,
                 "the study's axis, comma-separated: populations (population; default "
                 "128,256,512,1024), stimulus counts (stimuli; 1,2,4,8,12,18), score functions "
                 "(features; 1,10,20,40,80,120,180)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  app.add_option("--ranks", o.ranks,
                 "rank sweeps: rank counts (node counts with --per node), comma-separated "
                 "(default 1,2,4,... up to all of the launch)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  app.add_option(
         "--per", o.per,
         "rank: --ranks counts ranks; node: --ranks counts nodes (each point uses all "
         "the ranks of its nodes), and --weak-population / --gradient-per-rank are per node")
      ->check(CLI::IsMember({"rank", "node"}));
  app.add_option("--population", o.population,
                 "strong: the fixed population (default 512; paper 3000); stimuli, features: the "
                 "fixed population (default 128; paper 500); population = offspring")
      ->check(CLI::PositiveNumber);
  app.add_option("--weak-population", o.weak_population,
                 "weak: population per rank (per node with --per node; default 256; paper 250 "
                 "per node)")
      ->check(CLI::PositiveNumber);
  app.add_option(
         "--stimuli", o.stimuli,
         "stimuli of the population, strong, weak and features studies (default and paper 8)")
      ->check(CLI::PositiveNumber);
  app.add_option("--gradient-stimuli", o.gradient_stimuli,
                 "gradient strong sweep: total stimuli (default 64; below 8 cells per rank the "
                 "host kernel does not vectorise)")
      ->check(CLI::PositiveNumber);
  app.add_option("--gradient-per-rank", o.gradient_per_rank,
                 "gradient weak sweep: stimuli per rank (per node with --per node; default 16)")
      ->check(CLI::PositiveNumber);
  app.add_option("--generations", o.generations,
                 "GA generations after generation 0 (gradient: Adam epochs after epoch 0); the "
                 "times are their mean (default 3)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--repeats", o.repeats,
                 "runs per point; the one with the least wall time is kept (default 1)")
      ->check(CLI::PositiveNumber);
  app.add_option("--t-stop", o.t_stop_ms,
                 "built-in problem: simulated ms per cell, step from 10% to 90% (default 100)")
      ->check(CLI::PositiveNumber);
  app.add_option("--dt", o.dt_ms, "built-in problem: time step, ms (default 0.025)")
      ->check(CLI::PositiveNumber);
  app.add_option("--lr", o.lr, "gradient: Adam step in optimiser coordinates (default 0.002)")
      ->check(CLI::PositiveNumber);
  CLI::Option* selection_opt =
      app.add_option("--selection", o.selection,
                     "GA selection: ibea (default), nsga2, single; with --model default the "
                     "config's fit.ga.selection")
          ->check(CLI::IsMember({"ibea", "nsga2", "single"}));
  CLI::Option* grouping_opt =
      app.add_option("--grouping", o.grouping,
                     "GA objectives: per_feature (default), per_stimulus_feature, sum; with "
                     "--model default the config's fit.ga.grouping")
          ->check(CLI::IsMember({"per_feature", "per_stimulus_feature", "sum"}));
  app.add_option("--chunks", o.chunks, "pipeline chunks per rank and generation (default 4)")
      ->check(CLI::PositiveNumber);
  app.add_flag("--no-overlap", o.no_overlap, "simulate and score one after another");
  app.add_option("--seed", o.seed, "GA seed (default 7)");
  app.add_option("--model", o.model,
                 "use this config's model, stimuli (cycled to the count needed), "
                 "[[fit.parameter]]s, fit.target (synthetic ground truth) and fit.ga settings "
                 "(features, algorithm, variation; selection and grouping unless given) "
                 "instead of the built-in ball-and-stick hh problem; --t-stop and --dt do not "
                 "apply")
      ->check(CLI::ExistingFile);
  app.add_option("--set", o.sets, "with --model: override a config value, section.key=value");
  app.add_option("--csv", o.csv, "CSV output (default scaling_<study>.csv)");
  app.add_option("--h5", o.h5, "HDF5 output (default scaling_<study>.h5)");
  app.add_flag("--smoke", o.smoke,
               "tiny fast run for CTest: 1 generation, 30 ms cells, small populations");
  app.add_flag("--no-check", o.no_check,
               "do not compare the results of a strong sweep's points (exit 2 on a difference)");
  app.allow_extras();
  try {
    app.parse(argc, argv);
    for (const std::string& x : app.remaining()) {
      if (x.rfind("--kokkos", 0) != 0)
        throw CLI::ExtrasError("cellfit scaling", std::vector<std::string>{x});
    }
  } catch (const CLI::ParseError& e) {
    if (root) {
      const int rc = app.exit(e);
      return rc == 0 ? 0 : 1;
    }
    return e.get_exit_code() == 0 ? 0 : 1;
  }
  o.selection_given = selection_opt->count() > 0;
  o.grouping_given = grouping_opt->count() > 0;
  const bool per_node = o.per == "node";
  const int fixed_default = o.study == "strong" ? 512 : 128;
  if (o.smoke) {
    o.generations = std::min(o.generations, 1);
    o.t_stop_ms = std::min(o.t_stop_ms, 30.0);
    o.stimuli = std::min(o.stimuli, 2);
    o.weak_population = std::min(o.weak_population, 8);
    o.gradient_stimuli = std::min(o.gradient_stimuli, 4);
    o.gradient_per_rank = std::min(o.gradient_per_rank, 2);
    if (o.population <= 0) o.population = 16;
    if (o.sizes.empty()) {
      if (o.study == "population") o.sizes = {8, 16};
      if (o.study == "stimuli") o.sizes = {1, 2};
      if (o.study == "features") o.sizes = {1, 5};
    }
  }
  if (o.population <= 0) o.population = fixed_default;
  if (o.sizes.empty()) {
    if (o.study == "population") o.sizes = {128, 256, 512, 1024};
    if (o.study == "stimuli") o.sizes = {1, 2, 4, 8, 12, 18};
    if (o.study == "features") o.sizes = {1, 10, 20, 40, 80, 120, 180};
  }
  if (o.csv.empty()) o.csv = "scaling_" + o.study + ".csv";
  if (o.h5.empty()) o.h5 = "scaling_" + o.study + ".h5";

  // Kokkos's arguments, plus this rank's GPU when Kokkos has a GPU backend and
  // CELLFIT_GPUS_PER_NODE is set (as cellfit itself does it, docs/gpu.md).
  std::vector<char*> kargs(argv, argv + argc);
  std::string device_arg;
#if defined(KOKKOS_ENABLE_CUDA) || defined(KOKKOS_ENABLE_HIP) || defined(KOKKOS_ENABLE_SYCL)
  {
    const char* per = std::getenv("CELLFIT_GPUS_PER_NODE");
    bool chosen = false;
    for (int i = 1; i < argc; ++i)
      chosen = chosen || std::string(argv[i]).rfind("--kokkos-device-id", 0) == 0;
    if (!chosen && per && std::atoi(per) > 0) {
      device_arg = "--kokkos-device-id=" + std::to_string(world->local_rank() % std::atoi(per));
      kargs.push_back(device_arg.data());
    }
  }
#endif
  kargs.push_back(nullptr);
  int kargc = static_cast<int>(kargs.size()) - 1;
  Kokkos::ScopeGuard kokkos(kargc, kargs.data());

  int status = 0;
  try {
    topology topo;
    std::vector<int> axis;  // units (rank sweeps) or sizes
    run_info info;
    comm::agree(*world, [&] {
      topo = discover(mpi);
      const int avail = per_node ? topo.nodes : topo.size;
      if (is_rank_sweep(o.study)) {
        axis = o.ranks;
        if (axis.empty()) {
          for (int k = 1; k < avail; k *= 2) axis.push_back(k);
          axis.push_back(avail);
        }
        for (int k : axis) {
          if (k > avail) {
            throw cellfit::usage_error("cellfit::scaling: --ranks " + std::to_string(k) +
                                       " but the launch has " + std::to_string(avail) +
                                       (per_node ? " node(s)" : " rank(s)") +
                                       ": start more ranks (mpirun -np, srun -n/-N) or list fewer");
          }
        }
      } else {
        axis = o.sizes;
      }
      std::sort(axis.begin(), axis.end());
      axis.erase(std::unique(axis.begin(), axis.end()), axis.end());
      if (root) {
        check_writable(o.csv);
        check_writable(o.h5);
        char host[256] = "unknown";
        gethostname(host, sizeof host);
        info.host = host;
        info.cpu = cpu_model();
        info.commit =
            run_command("git -C '" CELLFIT_SOURCE_DIR "' rev-parse --short HEAD 2>/dev/null");
        if (info.commit.empty()) info.commit = "unknown";
        for (int i = 0; i < argc; ++i) info.command += (i ? " " : "") + std::string(argv[i]);
        info.date = date_now();
        std::ostringstream s;
        s << "study=" << o.study << " per=" << o.per << " axis=" << join(axis)
          << " population=" << o.population << " weak_population=" << o.weak_population
          << " stimuli=" << o.stimuli << " gradient_stimuli=" << o.gradient_stimuli
          << " gradient_per_rank=" << o.gradient_per_rank << " generations=" << o.generations
          << " repeats=" << o.repeats
          << " selection=" << (o.model.empty() || o.selection_given ? o.selection : "config")
          << " grouping=" << (o.model.empty() || o.grouping_given ? o.grouping : "config")
          << " chunks=" << o.chunks << " overlap=" << (o.no_overlap ? 0 : 1) << " seed=" << o.seed
          << " model=" << (o.model.empty() ? "builtin:ball_and_stick hh" : o.model);
        if (o.model.empty()) s << " t_stop_ms=" << o.t_stop_ms << " dt_ms=" << o.dt_ms;
        // The overrides say what ran (e.g. shortened stimuli of a --model config).
        for (const std::string& set : o.sets) s << " set:" << set;
        s << " lr=" << o.lr << " world_ranks=" << topo.size << " world_nodes=" << topo.nodes
          << " kokkos=" << Kokkos::DefaultExecutionSpace::name();
        info.settings = s.str();
      }
    });
    if (root) {
      std::printf("# scaling %s: machine %s (%s, %d hardware threads), commit %s, Kokkos %s\n",
                  o.study.c_str(), info.host.c_str(), info.cpu.c_str(), topo.cores_of[0],
                  info.commit.c_str(), Kokkos::DefaultExecutionSpace::name());
      std::printf("# %s\n", info.settings.c_str());
      std::printf(
          "# launch: %d rank(s) on %d node(s); times in seconds per generation (epoch), "
          "mean of generations 1..%d; gen0_s: generation 0 alone\n",
          topo.size, topo.nodes, std::max(1, o.generations));
      std::fflush(stdout);
    }

    // The list of points: (study label, units, axis value).
    struct plan_entry {
      std::string study;
      int units = 1, x = 0;
    };
    std::vector<plan_entry> plan;
    for (int x : axis) {
      if (o.study == "gradient") continue;
      plan.push_back(
          {o.study, is_rank_sweep(o.study) ? x : (per_node ? topo.nodes : topo.size), x});
    }
    if (o.study == "gradient") {
      for (int x : axis) plan.push_back({"gradient-strong", x, x});
      for (int x : axis) plan.push_back({"gradient-weak", x, x});
    }

    std::vector<point> pts;
    std::map<std::string, fingerprint> reference;
    std::string mismatch;
    const auto t_study = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < plan.size(); ++i) {
      const plan_entry& e = plan[i];
      const membership m = members(topo, e.units, per_node);
      point pt;
      pt.study = e.study;
      pt.units = e.units;
      pt.ranks = m.ranks;
      pt.nodes = m.nodes;
      pt.ranks_per_node = m.ranks_per_node;
      pt.cores_per_node = m.cores_per_node;
      pt.oversubscribed = m.oversubscribed;
      pt.x = e.x;
      fingerprint fp;
      if (root) {
        std::fprintf(stderr, "scaling: [%zu/%zu] %s, %d rank(s) on %d node(s)%s ...\n", i + 1,
                     plan.size(), e.study.c_str(), m.ranks, m.nodes,
                     m.oversubscribed ? " (oversubscribed)" : "");
      }
      std::exception_ptr failure;
      comm::context_ptr ctx;
      try {
        ctx = sub_context(topo, m);
      } catch (...) {
        failure = std::current_exception();
      }
      if (ctx && !failure) {
        try {
          std::unique_ptr<problem> p;
          // Built on every working rank; agreed so that a bad problem stops them together.
          comm::agree(*ctx, [&] {
            const int units = e.units;
            if (e.study == "gradient-strong") {
              p = make_problem(o, o.gradient_stimuli, 0, false);
            } else if (e.study == "gradient-weak") {
              p = make_problem(o, o.gradient_per_rank * units, 0, false);
            } else if (e.study == "stimuli") {
              p = make_problem(o, e.x, 0, true);
            } else if (e.study == "features") {
              p = make_problem(o, o.stimuli, e.x, true);
            } else {
              p = make_problem(o, o.stimuli, 0, true);
            }
          });
          if (e.study == "gradient-strong" || e.study == "gradient-weak") {
            run_gradient_point(o, *p, ctx, pt, fp);
          } else {
            const int pop = e.study == "population" ? e.x
                            : e.study == "weak"     ? o.weak_population * e.units
                                                    : o.population;
            run_ga_point(o, *p, ctx, pop, pt, fp);
          }
        } catch (...) {
          failure = std::current_exception();
        }
      }
      ctx.reset();
      quiet_barrier(topo);
      comm::agree(*world, [&] {
        if (failure) std::rethrow_exception(failure);
      });
      if (!root) continue;
      const bool fixed_problem = e.study == "strong" || e.study == "gradient-strong";
      if (fixed_problem && !o.no_check) {
        auto it = reference.find(e.study);
        if (it == reference.end()) {
          reference[e.study] = fp;
        } else if (mismatch.empty() && (it->second.a != fp.a || it->second.b != fp.b)) {
          mismatch = e.study + ": the result on " + std::to_string(pt.ranks) +
                     " rank(s) differs from the result on " + std::to_string(pts.front().ranks) +
                     " rank(s) (" + (it->second.a != fp.a ? "history" : "best/hall of fame") + ")";
        }
      }
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t_study).count();
      const char* unit = pt.engine == "ga" ? "generation" : "epoch";
      std::fprintf(stderr,
                   "scaling: [%zu/%zu] %s: %.4f s per %s (%s 0: %.4f s), overlap %.2f; %.1f s "
                   "so far\n",
                   i + 1, plan.size(), e.study.c_str(), pt.wall_s, unit, unit, pt.gen0_wall_s,
                   pt.overlap, elapsed);
      pts.push_back(pt);
    }

    comm::agree(*world, [&] {
      if (!root) return;
      for (const char* s : {"population", "strong", "weak", "stimuli", "features",
                            "gradient-strong", "gradient-weak"})
        set_efficiency(pts, s);
      print_table(pts, per_node);
      std::printf(
          "# efficiency: strong T0 u0 / (T u), weak T0 / T (u: %s, 0: the first point), "
          "population/stimuli (T0/x0) / (T/x); overlap = (simulate + copy + score) / wall; ovs: "
          "more ranks than hardware threads on a node\n",
          per_node ? "nodes" : "ranks");
      if (o.study == "gradient")
        std::printf("# gradient: simulate_s = epoch - communicate (forward + adjoint + update)\n");
      write_csv(o.csv, pts, o.per, info);
      write_h5(o.h5, pts, o.per, info);
      if (o.no_check || !(o.study == "strong" || o.study == "gradient")) {
        std::printf("# CSV: %s, HDF5: %s\n", o.csv.c_str(), o.h5.c_str());
      } else if (mismatch.empty()) {
        std::printf("# results bit-identical across rank counts; CSV: %s, HDF5: %s\n",
                    o.csv.c_str(), o.h5.c_str());
      } else {
        std::printf("# MISMATCH: %s; CSV: %s, HDF5: %s\n", mismatch.c_str(), o.csv.c_str(),
                    o.h5.c_str());
        std::fprintf(stderr, "cellfit::scaling: %s\n", mismatch.c_str());
        status = 2;
      }
      std::fflush(stdout);
    });
    std::vector<double> st = {static_cast<double>(status)};
    world->broadcast(st, 0);
    status = static_cast<int>(st[0]);
  } catch (const cellfit::peer_error&) {
    status = 1;  // reported by the rank that failed
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cellfit::scaling: [rank %d] %s\n", world->rank(),
                 comm::describe(e).c_str());
    if (world->size() > 1) {
      world.reset();
      comm::abort_world(1);
    }
    status = 1;
  }
  world.reset();
  return status;
}
