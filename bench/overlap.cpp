// Question: how much wall time does overlapping simulation with feature scoring save per GA
// generation?
//
// Runs the real engine (ga::run_genetic_fit) on one problem twice per repeat, with
// [parallel] overlap off and on, alternating which goes first so drift on a shared machine
// hits both alike. The problem gives scoring as much weight next to simulation as a small
// model allows: the builtin ball-and-stick cell (6 compartments) with hh, S somatic steps
// (default 8 amplitudes), all 20 default GA features per stimulus (io/config.hpp
// default_ga_features()), targets from a synthetic ground truth, dt 0.025 ms. Even so,
// simulating costs several times more than scoring here (the footer prints the ratio).
//
// What the two modes do (sched/pipeline.hpp; genetic_fit.cpp distributed_evaluator):
//   off: one chunk per generation (the engine plans max_chunks = 1 without overlap);
//        simulate, then score, on the calling thread; scoring uses every core.
//   on:  --chunks chunks; simulate chunk k+1 on the calling thread (Kokkos Serial: this
//        core) while a second thread scores chunk k on the other cores (cores - 1 threads).
// Per configuration the table gives the stages per generation (generations 0..G, from
// ga_result.history), the wall time per generation, the overlap efficiency
// (simulate + copy + score) / wall, and the speedup wall_off / wall_on. Of the repeats the
// best one (least wall time) of each mode is shown; the footer gives the median of the
// per-repeat ratios, and splits the saving into stage time that ran concurrently (overlap
// proper), work outside every stage, and stages that got cheaper or dearer (the off run is
// also a one-chunk plan, and scores on more threads). Every run must give the same result
// bit for bit (history and hall of fame): overlap only reorders work.
// Exit status: 0; 1 on a cellfit error; 2 when two runs differ.

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <Kokkos_Core.hpp>

#include "bench_info.hpp"
#include "common/error.hpp"
#include "ga/genetic_fit.hpp"
#include "ga/objectives.hpp"
#include "io/config.hpp"
#include "model/parameter_space.hpp"
#include "sched/pipeline.hpp"
#include "sim/batch_simulator.hpp"

namespace {

using cellfit::bench::cpu_model;
using cellfit::bench::run_command;
namespace ga = cellfit::ga;
namespace sched = cellfit::sched;

// Step amplitudes (nA): one hyperpolarising step, then subthreshold to strongly spiking.
std::vector<double> amplitudes(int n) {
  std::vector<double> a(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) a[static_cast<std::size_t>(i)] = -0.1 + 0.12 * i;
  return a;
}

std::string problem_text(int n_stimuli, double t_stop_ms, double dt_ms) {
  std::ostringstream t;
  t << "[model]\nmorphology = \"builtin:ball_and_stick\"\ncelsius = 6.3\nv_init = -65.0\n"
    << "[model.mechanisms.hh]\nregions = \"all\"\n"
    << "[simulation]\ndt_ms = " << dt_ms << "\nt_stop_ms = " << t_stop_ms
    << "\nrecord_sites = [0]\n"
    << "[[stimulus]]\ntype = \"step\"\nsites = \"soma\"\namplitudes = [";
  const auto a = amplitudes(n_stimuli);
  for (std::size_t i = 0; i < a.size(); ++i) t << (i ? ", " : "") << a[i];
  t << "]\ndelay_ms = " << 0.1 * t_stop_ms << "\nduration_ms = " << 0.8 * t_stop_ms << "\n";
  return t.str();
}

std::vector<cellfit::fit_parameter> hh_parameters() {
  using cellfit::transform_kind;
  std::vector<cellfit::fit_parameter> p(3);
  p[0] = {"hh", "gnabar", "all", 0.05, 0.3, transform_kind::linear, {}, "bench"};
  p[1] = {"hh", "gkbar", "all", 0.01, 0.08, transform_kind::linear, {}, "bench"};
  p[2] = {"hh", "gl", "all", 1e-4, 1e-3, transform_kind::log, {}, "bench"};
  return p;
}

// The scoring threads the engine uses on one rank; mirrors distributed_evaluator's
// constructor (src/ga/genetic_fit.cpp), which does not expose the number.
unsigned engine_score_threads(const sched::parallel_settings& par, unsigned scorer_threads) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  unsigned t = par.score_threads > 0 ? static_cast<unsigned>(par.score_threads)
                                     : (par.overlap && cores > 1 ? cores - 1 : cores);
  if (scorer_threads > 0 && par.score_threads <= 0) t = scorer_threads;
  return t;
}

// One run of one mode: its stages summed over generations 0..G.
struct run_times {
  bool overlap = false;
  int repeat = 0;
  std::size_t chunks = 0;
  unsigned score_threads = 0;
  sched::stage_times total;
  std::size_t generations = 0;  // G + 1 evaluated generations

  double per_gen(double x) const { return x / static_cast<double>(generations); }
};

run_times times_of(const ga::ga_result& r, bool overlap, int repeat, unsigned threads) {
  run_times t;
  t.overlap = overlap;
  t.repeat = repeat;
  t.chunks = r.plan.blocks_of(0).size();
  t.score_threads = threads;
  const ga::ga_history& h = r.history;
  t.generations = h.wall_s.size();
  for (std::size_t g = 0; g < t.generations; ++g) {
    t.total.simulate_s += h.simulate_s[g];
    t.total.copy_s += h.copy_s[g];
    t.total.score_s += h.score_s[g];
    t.total.communicate_s += h.communicate_s[g];
    t.total.select_s += h.select_s[g];
  }
  t.total.wall_s = h.wall_s.empty() ? 0.0 : h.wall_s.back();  // cumulative
  return t;
}

// "" when a and b are the same bit for bit, else what differs.
std::string difference(const ga::ga_result& a, const ga::ga_result& b) {
  const ga::ga_history &x = a.history, &y = b.history;
  if (x.best != y.best) return "history.best";
  if (x.median != y.median) return "history.median";
  if (x.gt_error != y.gt_error) return "history.gt_error";
  if (x.diverged != y.diverged) return "history.diverged";
  if (a.hall_of_fame.size() != b.hall_of_fame.size()) return "hall of fame size";
  for (std::size_t i = 0; i < a.hall_of_fame.size(); ++i) {
    if (a.hall_of_fame[i].params != b.hall_of_fame[i].params)
      return "hall of fame " + std::to_string(i) + " params";
    if (a.hall_of_fame[i].objectives != b.hall_of_fame[i].objectives)
      return "hall of fame " + std::to_string(i) + " objectives";
  }
  return "";
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cellfit overlap: GA generation wall time with simulate/score overlap off and on"};
  int population = 64, generations = 3, n_stimuli = 8, chunks = 4, score_threads = 0;
  int repeats = 3;
  double t_stop = 100.0, dt = 0.025;
  std::size_t min_chunk_cells = 0;
  std::uint64_t seed = 7;
  std::string csv = "overlap.csv";
  bool smoke = false;
  app.add_option("--population", population, "mu = lambda")->check(CLI::PositiveNumber);
  app.add_option("--generations", generations, "generations after generation 0")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--stimuli", n_stimuli, "somatic steps (-0.1 nA, then +0.12 nA each)")
      ->check(CLI::PositiveNumber);
  app.add_option("--t-stop", t_stop, "simulated ms per cell (step from 10% to 90%)")
      ->check(CLI::PositiveNumber);
  app.add_option("--dt", dt, "time step (ms)")->check(CLI::PositiveNumber);
  app.add_option("--chunks", chunks, "pipeline chunks with overlap on")->check(CLI::PositiveNumber);
  app.add_option("--min-chunk-cells", min_chunk_cells, "smallest chunk (0: the engine's, 64)");
  app.add_option("--score-threads", score_threads, "scoring threads in both modes (0: engine's)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--repeats", repeats, "off/on pairs, alternating order")
      ->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "GA seed");
  app.add_option("--csv", csv, "CSV output");
  app.add_flag("--smoke", smoke,
               "tiny run for CTest (population 8, 1 generation, 1 repeat, 30 ms, 16-cell chunks)");
  CLI11_PARSE(app, argc, argv);
  if (smoke) {
    population = 8;
    generations = 1;
    repeats = 1;
    t_stop = 30.0;
    min_chunk_cells = 16;  // 8 x 8 cells would otherwise make one chunk: nothing to overlap
  }
  Kokkos::ScopeGuard kokkos(argc, argv);

  int status = 0;
  try {
    const cellfit::run_config rc =
        cellfit::parse_config(problem_text(n_stimuli, t_stop, dt), "overlap", {});
    const cellfit::parameter_space space(rc.model, hh_parameters());
    std::vector<double> truth = space.model_values();
    truth[0] *= 1.1;
    truth[1] *= 0.9;
    truth[2] *= 1.2;
    const std::vector<double> traces =
        cellfit::simulate_batch(rc.model, {space.to_set(truth)}, rc.stimuli, rc.settings).voltage;
    const auto windows = ga::stimulus_windows(rc.stimuli, rc.settings.t_stop_ms);
    ga::scoring_settings ss;  // threads 0: the engine chooses per mode
    std::vector<std::string> dropped;
    const auto targets = ga::targets_from_traces(traces, windows, cellfit::default_ga_features(),
                                                 rc.settings, ss, 0.05, 0.05, dropped);
    const ga::scorer sc(ss, targets, windows, rc.settings);

    ga::ga_problem problem;
    problem.model = &rc.model;
    problem.space = &space;
    problem.stimuli = rc.stimuli;
    problem.settings = rc.settings;
    problem.objectives = &sc;
    problem.ground_truth = truth;
    problem.parallel.chunks = chunks;
    problem.parallel.min_chunk_cells = min_chunk_cells;
    problem.parallel.score_threads = score_threads;
    ga::ga_settings gs;
    gs.population = population;
    gs.offspring = population;
    gs.generations = generations;
    gs.seed = seed;
    gs.record_population = false;

    char host[256] = "unknown";
    gethostname(host, sizeof host);
    const std::string commit =
        run_command("git -C '" CELLFIT_SOURCE_DIR "' rev-parse --short HEAD 2>/dev/null");
    const std::size_t cells = static_cast<std::size_t>(population) * rc.stimuli.size();
    std::printf("# overlap: machine %s (%s, %u hardware threads), commit %s, Kokkos %s\n", host,
                cpu_model().c_str(), std::thread::hardware_concurrency(),
                commit.empty() ? "unknown" : commit.c_str(), Kokkos::DefaultExecutionSpace::name());
    std::printf(
        "# ball_and_stick hh (%d compartments), %zu steps of %g..%g nA, t_stop %g ms, dt %g ms; "
        "%zu feature targets (%zu features, %zu pairs dropped), %zu objectives\n",
        rc.model.geom.n_compartments(), rc.stimuli.size(), amplitudes(n_stimuli).front(),
        amplitudes(n_stimuli).back(), t_stop, dt, targets.size(),
        cellfit::default_ga_features().size(), dropped.size(), sc.n_objectives());
    std::printf(
        "# GA %s/%s, population = offspring = %d, generations 0..%d (%zu cells each), seed %llu; "
        "stages per generation, best of %d alternating off/on repeats (least wall)\n",
        ga::strategy_name(gs.algorithm), ga::selection_name(gs.selection), population, generations,
        cells, static_cast<unsigned long long>(seed), repeats);

    std::vector<run_times> runs;
    ga::ga_result reference;
    bool have_reference = false;
    std::string mismatch;
    for (int r = 0; r < repeats; ++r) {
      // Even repeats run off first, odd ones on first.
      for (int k = 0; k < 2; ++k) {
        const bool overlap = (k == 1) == (r % 2 == 0);
        ga::ga_problem p = problem;
        p.parallel.overlap = overlap;
        const ga::ga_result res = ga::run_genetic_fit(p, gs);
        runs.push_back(times_of(res, overlap, r, engine_score_threads(p.parallel, sc.threads())));
        if (!have_reference) {
          reference = res;
          have_reference = true;
        } else if (mismatch.empty()) {
          const std::string d = difference(reference, res);
          if (!d.empty())
            mismatch = d + " differs (repeat " + std::to_string(r) + ", overlap " +
                       (overlap ? "on" : "off") + ")";
        }
      }
    }

    // Best (least wall) run of each mode, and the ratio of each repeat's pair.
    const run_times* best[2] = {nullptr, nullptr};
    std::vector<double> ratios(static_cast<std::size_t>(repeats), 0.0);
    std::vector<double> wall_of[2];
    for (const run_times& t : runs) {
      const run_times*& b = best[t.overlap];
      if (!b || t.total.wall_s < b->total.wall_s) b = &t;
      wall_of[t.overlap].push_back(t.total.wall_s);
    }
    for (std::size_t r = 0; r < ratios.size(); ++r) ratios[r] = wall_of[0][r] / wall_of[1][r];
    const double speedup = best[0]->total.wall_s / best[1]->total.wall_s;

    std::printf("%-7s %6s %9s %10s %8s %9s %9s %9s %9s %8s %8s\n", "overlap", "chunks", "score_thr",
                "simulate_s", "copy_s", "score_s", "select_s", "comm_s", "wall_s", "overlap",
                "speedup");
    std::ofstream out(csv);
    out << "row,repeat,overlap,chunks,score_threads,population,generations,stimuli,t_stop_ms,"
           "dt_ms,cells_per_generation,simulate_s,copy_s,score_s,communicate_s,select_s,wall_s,"
           "overlap_efficiency,speedup,machine,cpu,commit\n";
    auto csv_row = [&](const char* row, const run_times& t, double s) {
      out << row << ',' << t.repeat << ',' << (t.overlap ? 1 : 0) << ',' << t.chunks << ','
          << t.score_threads << ',' << population << ',' << generations << ',' << rc.stimuli.size()
          << ',' << t_stop << ',' << dt << ',' << cells << ',' << t.per_gen(t.total.simulate_s)
          << ',' << t.per_gen(t.total.copy_s) << ',' << t.per_gen(t.total.score_s) << ','
          << t.per_gen(t.total.communicate_s) << ',' << t.per_gen(t.total.select_s) << ','
          << t.per_gen(t.total.wall_s) << ',' << t.total.overlap_efficiency() << ',' << s << ",\""
          << host << "\",\"" << cpu_model() << "\"," << commit << '\n';
    };
    for (const run_times& t : runs)
      csv_row("run", t, t.overlap ? ratios[static_cast<std::size_t>(t.repeat)] : 1.0);
    for (int m = 0; m < 2; ++m) {
      const run_times& t = *best[m];
      const double s = m ? speedup : 1.0;
      std::printf("%-7s %6zu %9u %10.4f %8.4f %9.4f %9.4f %9.4f %9.4f %8.3f %8.3f\n",
                  m ? "on" : "off", t.chunks, t.score_threads, t.per_gen(t.total.simulate_s),
                  t.per_gen(t.total.copy_s), t.per_gen(t.total.score_s),
                  t.per_gen(t.total.select_s), t.per_gen(t.total.communicate_s),
                  t.per_gen(t.total.wall_s), t.total.overlap_efficiency(), s);
      csv_row("best", t, s);
    }
    // Where the saving comes from (ms per generation), an exact split:
    //   overlap:  stages - wall in the on run (stage time that ran concurrently; a lower
    //             bound, as untimed work in that run would hide behind it)
    //   untimed:  wall - stages in the off run (work outside every stage)
    //   simulate + copy getting cheaper in smaller chunks (without overlap the engine plans
    //             one chunk), and the rest (scoring on fewer threads, select, communicate).
    const run_times &off = *best[0], &on = *best[1];
    auto stages = [](const run_times& t) {
      const sched::stage_times& x = t.total;
      return x.simulate_s + x.copy_s + x.score_s + x.select_s + x.communicate_s;
    };
    auto ms = [](const run_times& t, double x) { return 1e3 * t.per_gen(x); };
    const double saved_ms = ms(off, off.total.wall_s) - ms(on, on.total.wall_s);
    const double hidden_ms = ms(on, stages(on) - on.total.wall_s);
    const double untimed_ms = ms(off, off.total.wall_s - stages(off));
    const double simcopy_ms = ms(off, off.total.simulate_s + off.total.copy_s) -
                              ms(on, on.total.simulate_s + on.total.copy_s);
    const double rest_ms = saved_ms - hidden_ms - untimed_ms - simcopy_ms;
    const double hideable_ms = ms(on, on.total.score_s) * static_cast<double>(on.chunks - 1) /
                               static_cast<double>(on.chunks);
    auto sim_score = [](const run_times& t) {
      return (t.total.simulate_s + t.total.copy_s) / std::max(t.total.score_s, 1e-300);
    };
    std::printf(
        "# seconds per generation; overlap = (simulate + copy + score) / wall (1: one after "
        "another, 2: fully overlapped); speedup = wall_off / wall_on (best runs); median of "
        "the %d paired ratios %.3f\n",
        repeats, median(ratios));
    std::printf(
        "# saved %.2f ms per generation = %.2f overlap (stages - wall of the on run; ideally "
        "~%.2f, all but the last chunk's scoring) + %.2f untimed in the off run (wall - stages) + "
        "%.2f cheaper simulate + copy (%zu chunks vs %zu) + %.2f score, select, communicate "
        "(score on %u vs %u threads)\n",
        saved_ms, hidden_ms, hideable_ms, untimed_ms, simcopy_ms, on.chunks, off.chunks, rest_ms,
        on.score_threads, off.score_threads);
    std::printf(
        "# overlap saves %.1f%% of the generation wall time (%.1f%% from simulate and score "
        "running concurrently); simulate:score ratio %.1f (off run, scoring on %u threads; %.1f "
        "on %u in the on run); CSV: %s\n",
        100.0 * (1.0 - 1.0 / speedup), 100.0 * hidden_ms / ms(off, off.total.wall_s),
        sim_score(off), off.score_threads, sim_score(on), on.score_threads, csv.c_str());
    if (mismatch.empty()) {
      std::printf("# results bit-identical across all %zu runs (history, hall of fame)\n",
                  runs.size());
    } else {
      std::printf("# MISMATCH: %s: overlap changed a result\n", mismatch.c_str());
      std::fprintf(stderr, "cellfit::overlap: %s\n", mismatch.c_str());
      status = 2;
    }
  } catch (const cellfit::error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return status;
}
