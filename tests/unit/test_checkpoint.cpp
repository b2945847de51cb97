// Checkpoints: the GA and gradient evaluation logs survive a save/load bit for bit; a
// checkpoint is refused (config_error naming the key) for another problem or engine and
// accepted when only run-control keys changed; unreadable files are io_errors and no load
// touches the file. End to end: a GA fit (three strategies) and a gradient fit (Adam and
// L-BFGS-B) stopped part way and resumed from the checkpoint file end exactly where the
// uninterrupted run ends.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "ga/genetic_fit.hpp"
#include "ga/objectives.hpp"
#include "gradient/gradient_fit.hpp"
#include "io/checkpoint.hpp"
#include "io/config.hpp"
#include "io/h5.hpp"
#include "model/parameter_space.hpp"
#include "scratch_dir.hpp"
#include "sim/batch_simulator.hpp"

namespace {

using namespace cellfit;
namespace fs = std::filesystem;

using cellfit::test::scratch_dir;

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The bit patterns: exact comparison that also holds for NaN and tells -0 from 0.
std::vector<std::uint64_t> bits(const std::vector<double>& v) {
  std::vector<std::uint64_t> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) std::memcpy(&out[i], &v[i], sizeof(double));
  return out;
}

// A small GA problem: hh ball-and-stick, 3 conductances, 3 somatic steps, with the
// scheduler's chunks small enough that a generation runs in several pipeline chunks.
const char* ga_config = R"(
[model]
morphology = "builtin:ball_and_stick"
celsius = 6.3
v_init = -65.0
[model.mechanisms.hh]
regions = "all"
[simulation]
dt_ms = 0.05
t_stop_ms = 40.0
record_sites = [0]
[[stimulus]]
type = "step"
sites = "soma"
amplitudes = [-0.1, 0.3, 0.8]
delay_ms = 5.0
duration_ms = 30.0
[fit]
engine = "ga"
output = "ga_fit.h5"
checkpoint_every = 2
[[fit.parameter]]
name = "hh.gnabar"
bounds = [0.05, 0.3]
[[fit.parameter]]
name = "hh.gkbar"
bounds = [0.01, 0.08]
[[fit.parameter]]
name = "hh.gl"
bounds = [1e-4, 1e-3]
transform = "log"
[fit.ga]
population = 12
offspring = 12
generations = 6
seed = 5
objective = "mse"
[fit.gradient]
epochs = 7
[parallel]
overlap = true
chunks = 4
min_chunk_cells = 3
)";

checkpoint::identity ga_identity(const std::vector<std::string>& overrides = {},
                                 const std::vector<std::string>& extra = {}) {
  return checkpoint::make_identity(parse_config(ga_config, "ga.toml", overrides), "ga", extra);
}

// ---------------------------------------------------------------------------------------
// Logs by hand
// ---------------------------------------------------------------------------------------

ga::ga_log sample_ga_log() {
  ga::ga_log g;
  g.n_params = 3;
  g.n_objectives = 2;
  g.evaluated = {4, 2, 3};
  for (int i = 0; i < 9 * 3; ++i) g.genomes.push_back(std::sqrt(i + 0.5) / 6.0);
  g.genomes[1] = 0.0;
  g.genomes[2] = 1.0;
  g.genomes[5] = std::nextafter(1.0, 0.0);
  for (int i = 0; i < 9 * 2; ++i) g.objectives.push_back(1.0 / (i + 3.0));
  g.objectives[0] = 250.0;
  g.objectives[3] = -0.0;
  g.objectives[7] = 4.9e-320;  // subnormal
  g.objectives[8] = std::numeric_limits<double>::infinity();
  g.diverged = {0, 3, 1};
  g.wall_s = {0.125, 1.0 / 3.0, 2.5};
  g.simulate_s = {0.1, 0.2, 0.3};
  g.copy_s = {0.01, 0.02, 0.03};
  g.score_s = {0.4, 0.5, 0.6};
  g.communicate_s = {1e-6, 2e-6, 3e-6};
  g.select_s = {0.7, 0.8, 0.9};
  g.simulations = {12, 18, 27};
  return g;
}

gradient_log sample_gradient_log() {
  gradient_log g;
  g.n_params = 2;
  g.x = {-2.3025850929940455, 0.1, -2.1, 0.2, -1.9, 0.30000000000000004, -1.8, 0.4};
  const double nan = std::numeric_limits<double>::quiet_NaN();
  g.grad = {1e-3, -2e-3, 5e-4, -0.0, 1.0 / 7.0, 3e-5, nan, nan};  // the last without gradient
  g.loss = {12.5, 3.25, std::nan(""), 0.0078125};
  g.diverged = {0, 0, 2, 0};
  g.with_gradient = {1, 1, 1, 0};
  g.wall_s = {0.5, 1.0, 1.5, 2.0};
  g.simulations = {4, 8, 12, 14};
  return g;
}

void expect_same_log(const ga::ga_log& a, const ga::ga_log& b) {
  EXPECT_EQ(a.n_params, b.n_params);
  EXPECT_EQ(a.n_objectives, b.n_objectives);
  EXPECT_EQ(a.evaluated, b.evaluated);
  EXPECT_EQ(bits(a.genomes), bits(b.genomes));
  EXPECT_EQ(bits(a.objectives), bits(b.objectives));
  EXPECT_EQ(a.diverged, b.diverged);
  EXPECT_EQ(bits(a.wall_s), bits(b.wall_s));
  EXPECT_EQ(bits(a.simulate_s), bits(b.simulate_s));
  EXPECT_EQ(bits(a.copy_s), bits(b.copy_s));
  EXPECT_EQ(bits(a.score_s), bits(b.score_s));
  EXPECT_EQ(bits(a.communicate_s), bits(b.communicate_s));
  EXPECT_EQ(bits(a.select_s), bits(b.select_s));
  EXPECT_EQ(bits(a.simulations), bits(b.simulations));
}

void expect_same_log(const gradient_log& a, const gradient_log& b) {
  EXPECT_EQ(a.n_params, b.n_params);
  EXPECT_EQ(bits(a.x), bits(b.x));
  EXPECT_EQ(bits(a.grad), bits(b.grad));
  EXPECT_EQ(bits(a.loss), bits(b.loss));
  EXPECT_EQ(a.diverged, b.diverged);
  EXPECT_EQ(a.with_gradient, b.with_gradient);
  EXPECT_EQ(bits(a.wall_s), bits(b.wall_s));
  EXPECT_EQ(bits(a.simulations), bits(b.simulations));
}

TEST(checkpoint, ga_log_round_trips_exactly) {
  scratch_dir dir;
  const auto id = ga_identity();
  const std::string path = dir.file("ga.ckpt");
  const ga::ga_log log = sample_ga_log();
  checkpoint::save(path, id, log);
  expect_same_log(checkpoint::load_ga(path, id), log);
  // No temporary file is left beside it.
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"ga.ckpt"});

  // A log of no generations keeps its sizes.
  ga::ga_log empty;
  empty.n_params = 3;
  empty.n_objectives = 5;
  checkpoint::save(path, id, empty);
  const ga::ga_log e = checkpoint::load_ga(path, id);
  EXPECT_EQ(e.generations(), 0u);
  EXPECT_EQ(e.n_params, 3u);
  EXPECT_EQ(e.n_objectives, 5u);
  EXPECT_TRUE(e.genomes.empty());
}

TEST(checkpoint, gradient_log_round_trips_exactly) {
  scratch_dir dir;
  auto id = ga_identity();
  id.engine = "gradient";
  const std::string path = dir.file("grad.ckpt");
  const gradient_log log = sample_gradient_log();
  checkpoint::save(path, id, log);
  expect_same_log(checkpoint::load_gradient(path, id), log);

  gradient_log empty;
  empty.n_params = 2;
  checkpoint::save(path, id, empty);
  const gradient_log e = checkpoint::load_gradient(path, id);
  EXPECT_EQ(e.size(), 0u);
  EXPECT_EQ(e.n_params, 2u);
}

TEST(checkpoint, save_replaces_an_existing_checkpoint_whole) {
  scratch_dir dir;
  const auto id = ga_identity();
  const std::string path = dir.file("ga.ckpt");
  checkpoint::save(path, id, sample_ga_log());
  ga::ga_log shorter = sample_ga_log();
  shorter.evaluated = {4};
  shorter.genomes.resize(4 * 3);
  shorter.objectives.resize(4 * 2);
  for (auto* v : {&shorter.wall_s, &shorter.simulate_s, &shorter.copy_s, &shorter.score_s,
                  &shorter.communicate_s, &shorter.select_s, &shorter.simulations})
    v->resize(1);
  shorter.diverged.resize(1);
  checkpoint::save(path, id, shorter);
  expect_same_log(checkpoint::load_ga(path, id), shorter);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"ga.ckpt"});
}

TEST(checkpoint, a_checkpoint_inside_a_fit_output_loads) {
  // `cellfit fit` puts the same group into its output beside the results.
  scratch_dir dir;
  const auto id = ga_identity();
  const std::string path = dir.file("fit.h5");
  {
    h5::file f = h5::file::create(path);
    f.write("/fit/best", std::vector<double>{1, 2, 3}, {3});
    checkpoint::write(f, id, sample_ga_log());
    f.close();
  }
  expect_same_log(checkpoint::load_ga(path, id), sample_ga_log());
}

TEST(checkpoint, digest_tells_data_apart) {
  const std::string a = checkpoint::digest("target.traces", {1.0, 2.0, 3.0});
  EXPECT_EQ(a, checkpoint::digest("target.traces", {1.0, 2.0, 3.0}));
  EXPECT_EQ(a.rfind("target.traces = ", 0), 0u);
  EXPECT_EQ(a.size(), std::string("target.traces = ").size() + 16);
  EXPECT_NE(a, checkpoint::digest("target.traces", {1.0, 2.0, std::nextafter(3.0, 4.0)}));
  EXPECT_NE(a, checkpoint::digest("target.traces", {1.0, 3.0, 2.0}));
  EXPECT_NE(checkpoint::digest("x", {0.0}), checkpoint::digest("x", {-0.0}));
  EXPECT_NE(checkpoint::digest("x", {}), checkpoint::digest("x", {0.0}));
}

// ---------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------

TEST(checkpoint, identity_leaves_out_run_control_keys) {
  const auto base = ga_identity();
  ASSERT_FALSE(base.lines.empty());
  EXPECT_EQ(base.engine, "ga");
  EXPECT_TRUE(std::is_sorted(base.lines.begin(), base.lines.end()));
  for (const char* set :
       {"fit.ga.generations=50", "fit.gradient.epochs=99", "fit.output=elsewhere.h5",
        "fit.checkpoint_every=1", "fit.checkpoint=/tmp/x.ckpt", "fit.ga.threads=3",
        "parallel.overlap=false", "parallel.chunks=9", "parallel.min_chunk_cells=100",
        "parallel.score_threads=2", "output.file=other.h5"}) {
    SCOPED_TRACE(set);
    const auto id = ga_identity({set});
    EXPECT_EQ(id.lines, base.lines);
  }
  // All at once, with [parallel] left out of the config altogether.
  std::string no_parallel = ga_config;
  no_parallel = no_parallel.substr(0, no_parallel.find("[parallel]"));
  const auto id = checkpoint::make_identity(
      parse_config(no_parallel, "ga.toml", {"fit.ga.generations=3", "fit.output=o.h5"}), "ga", {});
  EXPECT_EQ(id.lines, base.lines);
}

TEST(checkpoint, identity_holds_what_the_fit_computes) {
  const auto base = ga_identity();
  for (const char* set : {"fit.ga.population=16", "fit.ga.seed=6", "fit.ga.offspring=14",
                          "fit.ga.objective=features", "fit.parameter.0.bounds.1=0.4",
                          "fit.parameter.2.transform=linear", "simulation.dt_ms=0.025",
                          "stimulus.0.delay_ms=6.0", "fit.target.seed=3", "model.celsius=20.0"}) {
    SCOPED_TRACE(set);
    EXPECT_NE(ga_identity({set}).lines, base.lines);
  }
  // The driver's digests of the data are part of it.
  EXPECT_NE(ga_identity({}, {checkpoint::digest("target.traces", {1.0})}).lines, base.lines);
}

// load_ga's config_error message, or "" when it loads.
std::string refusal(const std::string& path, const checkpoint::identity& id) {
  try {
    checkpoint::load_ga(path, id);
  } catch (const config_error& e) {
    return e.what();
  }
  return "";
}

TEST(checkpoint, another_problem_is_refused_naming_the_key) {
  scratch_dir dir;
  const std::string path = dir.file("ga.ckpt");
  const auto base = ga_identity({}, {checkpoint::digest("target.traces", {1.0, 2.0})});
  checkpoint::save(path, base, sample_ga_log());
  const std::string before = bytes_of(path);
  ASSERT_FALSE(before.empty());

  // Run-control keys may change.
  EXPECT_EQ(refusal(path, ga_identity({"fit.ga.generations=60", "parallel.chunks=1"},
                                      {checkpoint::digest("target.traces", {1.0, 2.0})})),
            "");

  struct refused_case {
    std::vector<std::string> set;
    std::vector<std::string> extra;
    std::string key;  // the key the message must name
  };
  const std::vector<std::string> same_data = {checkpoint::digest("target.traces", {1.0, 2.0})};
  const std::vector<refused_case> cases = {
      {{"fit.ga.population=16"}, same_data, "fit.ga.population"},
      {{"fit.parameter.1.bounds.1=0.09"}, same_data, "fit.parameter.1.bounds.1"},
      {{"fit.ga.seed=77"}, same_data, "fit.ga.seed"},
      // A key that is only set here.
      {{"fit.ga.eta_mutation=20"}, same_data, "fit.ga.eta_mutation"},
      // Other target data.
      {{}, {checkpoint::digest("target.traces", {1.0, 2.5})}, "target.traces"},
      // Data that the checkpoint has and this run lacks.
      {{}, {}, "target.traces"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.key);
    const std::string msg = refusal(path, ga_identity(c.set, c.extra));
    ASSERT_NE(msg, "") << "a checkpoint of another problem was accepted";
    EXPECT_NE(msg.find(c.key), std::string::npos) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_EQ(msg.rfind("cellfit::checkpoint:", 0), 0u) << msg;
  }
  // The value on each side is named too.
  const std::string msg = refusal(path, ga_identity({"fit.ga.population=16"}, same_data));
  EXPECT_NE(msg.find("fit.ga.population = 12"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fit.ga.population = 16"), std::string::npos) << msg;

  // A key that the checkpoint has and this run lacks.
  const std::string path2 = dir.file("ga2.ckpt");
  checkpoint::save(path2, ga_identity({"fit.ga.eta_crossover=30"}, same_data), sample_ga_log());
  const std::string before2 = bytes_of(path2);
  const std::string msg2 = refusal(path2, base);
  EXPECT_NE(msg2.find("fit.ga.eta_crossover"), std::string::npos) << msg2;

  // Nothing was written to the refused files.
  EXPECT_EQ(bytes_of(path), before);
  EXPECT_EQ(bytes_of(path2), before2);
}

TEST(checkpoint, another_engine_is_refused) {
  scratch_dir dir;
  const auto ga_id = ga_identity();
  auto gradient_id = ga_id;
  gradient_id.engine = "gradient";
  const std::string ga_path = dir.file("ga.ckpt"), gradient_path = dir.file("gradient.ckpt");
  checkpoint::save(ga_path, ga_id, sample_ga_log());
  checkpoint::save(gradient_path, gradient_id, sample_gradient_log());
  const std::string ga_bytes = bytes_of(ga_path), gradient_bytes = bytes_of(gradient_path);

  try {
    checkpoint::load_gradient(ga_path, gradient_id);
    ADD_FAILURE() << "a GA checkpoint was loaded into a gradient fit";
  } catch (const config_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("ga fit"), std::string::npos) << msg;
    EXPECT_NE(msg.find("gradient fit"), std::string::npos) << msg;
  }
  EXPECT_THROW(checkpoint::load_ga(gradient_path, ga_id), config_error);
  EXPECT_EQ(bytes_of(ga_path), ga_bytes);
  EXPECT_EQ(bytes_of(gradient_path), gradient_bytes);
}

TEST(checkpoint, a_loader_refuses_the_other_engines_file_whatever_the_identity) {
  // The file records what it holds (/checkpoint@kind): load_gradient must not take a GA
  // checkpoint for a gradient one even when the identity it is given says "ga" (and the
  // other way round). That is "written for another engine": a config_error (checkpoint.hpp),
  // not an io_error about a missing attribute.
  scratch_dir dir;
  const auto ga_id = ga_identity();
  auto gradient_id = ga_id;
  gradient_id.engine = "gradient";
  const std::string ga_path = dir.file("ga.ckpt"), gradient_path = dir.file("gradient.ckpt");
  checkpoint::save(ga_path, ga_id, sample_ga_log());
  checkpoint::save(gradient_path, gradient_id, sample_gradient_log());
  EXPECT_THROW(checkpoint::load_gradient(ga_path, ga_id), config_error);
  EXPECT_THROW(checkpoint::load_ga(gradient_path, gradient_id), config_error);
}

TEST(checkpoint, unreadable_files_are_io_errors) {
  scratch_dir dir;
  const auto id = ga_identity();
  auto gradient_id = id;
  gradient_id.engine = "gradient";

  // Missing.
  EXPECT_THROW(checkpoint::load_ga(dir.file("missing.ckpt"), id), io_error);
  EXPECT_THROW(checkpoint::load_gradient(dir.file("missing.ckpt"), gradient_id), io_error);
  EXPECT_FALSE(fs::exists(dir.file("missing.ckpt")));

  // Not HDF5.
  const std::string text = dir.file("notes.ckpt");
  {
    std::ofstream out(text, std::ios::binary);
    out << "this is not an HDF5 file\n";
  }
  const std::string text_bytes = bytes_of(text);
  EXPECT_THROW(checkpoint::load_ga(text, id), io_error);
  EXPECT_THROW(checkpoint::load_gradient(text, gradient_id), io_error);
  EXPECT_EQ(bytes_of(text), text_bytes);

  // HDF5 without /checkpoint (a `cellfit simulate` output, say).
  const std::string sim = dir.file("sim.h5");
  {
    h5::file f = h5::file::create(sim);
    f.write("/traces/voltage", std::vector<double>{-65, -64, -63}, {1, 1, 3});
    f.close();
  }
  const std::string sim_bytes = bytes_of(sim);
  try {
    checkpoint::load_ga(sim, id);
    ADD_FAILURE() << "a file without /checkpoint was loaded";
  } catch (const io_error& e) {
    EXPECT_NE(std::string(e.what()).find(sim), std::string::npos) << e.what();
  }
  EXPECT_THROW(checkpoint::load_gradient(sim, gradient_id), io_error);
  EXPECT_EQ(bytes_of(sim), sim_bytes);

  // A /checkpoint group that is not cellfit's (no format attribute).
  const std::string other = dir.file("other.h5");
  {
    h5::file f = h5::file::create(other);
    f.write("/checkpoint/identity", std::vector<std::string>{"a = 1"});
    f.close();
  }
  EXPECT_THROW(checkpoint::load_ga(other, id), io_error);

  // A checkpoint cannot be saved where there is no directory; nothing is left behind.
  EXPECT_THROW(checkpoint::save(dir.file("no/such/dir/x.ckpt"), id, sample_ga_log()), io_error);
}

// ---------------------------------------------------------------------------------------
// Replay: stop, checkpoint, resume, compare with the run that was never stopped
// ---------------------------------------------------------------------------------------

struct ga_fixture {
  run_config rc;
  parameter_space space;
  std::vector<double> truth;
  std::vector<double> traces;
  ga::scorer objectives;
  checkpoint::identity id;

  static std::vector<double> scaled_truth(const parameter_space& s) {
    std::vector<double> t = s.model_values();
    t[0] *= 1.1;
    t[1] *= 0.9;
    t[2] *= 1.2;
    return t;
  }
  static ga::scoring_settings mse() {
    ga::scoring_settings s;
    s.kind = ga::objective_kind::mse;
    s.penalty = 1e4;
    s.threads = 1;
    return s;
  }

  ga_fixture()
      : rc(parse_config(ga_config, "ga.toml", {})),
        space(rc.model, rc.fit.parameters),
        truth(scaled_truth(space)),
        traces(simulate_batch(rc.model, {space.to_set(truth)}, rc.stimuli, rc.settings).voltage),
        objectives(mse(), traces, rc.stimuli.size(), rc.settings),
        id(checkpoint::make_identity(rc, "ga", {checkpoint::digest("target.traces", traces)})) {}

  ga::ga_problem problem() const {
    ga::ga_problem p;
    p.model = &rc.model;
    p.space = &space;
    p.stimuli = rc.stimuli;
    p.settings = rc.settings;
    p.objectives = &objectives;
    p.ground_truth = truth;
    p.parallel = rc.parallel;
    return p;
  }
};

void expect_same_fit(const ga::ga_result& a, const ga::ga_result& b) {
  EXPECT_EQ(bits(a.history.best), bits(b.history.best));
  EXPECT_EQ(bits(a.history.median), bits(b.history.median));
  EXPECT_EQ(bits(a.history.gt_error), bits(b.history.gt_error));
  EXPECT_EQ(a.history.diverged, b.history.diverged);
  ASSERT_EQ(a.hall_of_fame.size(), b.hall_of_fame.size());
  for (std::size_t i = 0; i < a.hall_of_fame.size(); ++i) {
    EXPECT_EQ(bits(a.hall_of_fame[i].params), bits(b.hall_of_fame[i].params)) << i;
    EXPECT_EQ(bits(a.hall_of_fame[i].objectives), bits(b.hall_of_fame[i].objectives)) << i;
  }
  ASSERT_EQ(a.populations.size(), b.populations.size());
  for (std::size_t g = 0; g < a.populations.size(); ++g) {
    ASSERT_EQ(a.populations[g].size(), b.populations[g].size()) << "generation " << g;
    for (std::size_t i = 0; i < a.populations[g].size(); ++i) {
      EXPECT_EQ(bits(a.populations[g][i].params), bits(b.populations[g][i].params))
          << "generation " << g << ", individual " << i;
      EXPECT_EQ(bits(a.populations[g][i].objectives), bits(b.populations[g][i].objectives));
    }
  }
  EXPECT_EQ(a.log.evaluated, b.log.evaluated);
  EXPECT_EQ(bits(a.log.genomes), bits(b.log.genomes));
  EXPECT_EQ(bits(a.log.objectives), bits(b.log.objectives));
  EXPECT_EQ(a.simulations, b.simulations);
  EXPECT_EQ(a.stop_reason, b.stop_reason);
}

ga::ga_settings ga_variant(const ga_fixture& f, int variant) {
  ga::ga_settings s = f.rc.fit.ga.algorithm;
  if (variant == 1) {
    s.algorithm = ga::strategy::mu_comma_lambda;
    s.selection = ga::selection_kind::nsga2;
    s.offspring = 14;
  } else if (variant == 2) {
    s.algorithm = ga::strategy::cmaes;
    s.offspring = 0;
  } else if (variant == 3) {
    s.algorithm = ga::strategy::de;
    s.de.strategy = ga::de_strategy::best1bin;
  } else if (variant == 4) {
    s.algorithm = ga::strategy::pso;
  }
  return s;
}

TEST(replay_ga, an_interrupted_run_resumes_bit_for_bit) {
  ga_fixture f;
  scratch_dir dir;
  const ga::ga_problem p = f.problem();
  for (int variant = 0; variant < 5; ++variant) {
    const ga::ga_settings s = ga_variant(f, variant);
    SCOPED_TRACE(ga::strategy_name(s.algorithm));
    ASSERT_EQ(s.generations, 6);
    const ga::ga_result reference = ga::run_genetic_fit(p, s);
    ASSERT_EQ(reference.stop_reason, "generations");
    ASSERT_EQ(reference.history.best.size(), 7u);

    // Stopped once the third generation has finished: the checkpoint has generations 0-2.
    const std::string path = dir.file("ga_" + std::to_string(variant) + ".ckpt");
    int finished = 0, checkpoints = 0;
    ga::ga_control stop;
    stop.stop_requested = [&] { return finished >= 3; };
    stop.checkpoint = [&](const ga::ga_log& lg) {
      ++checkpoints;
      checkpoint::save(path, f.id, lg);
    };
    const ga::ga_result cut = ga::run_genetic_fit(
        p, s, [&](const ga::generation_report&) { ++finished; }, stop);
    EXPECT_EQ(cut.stop_reason, "interrupted");
    EXPECT_EQ(checkpoints, 1);
    EXPECT_EQ(finished, 3);
    ASSERT_EQ(cut.history.best.size(), 3u);
    for (std::size_t g = 0; g < 3; ++g) EXPECT_EQ(cut.history.best[g], reference.history.best[g]);

    const ga::ga_log saved = checkpoint::load_ga(path, f.id);
    ASSERT_EQ(saved.generations(), 3u);
    expect_same_log(saved, cut.log);

    ga::ga_control resume;
    resume.resume = &saved;
    std::vector<bool> replayed;
    const ga::ga_result resumed = ga::run_genetic_fit(
        p, s, [&](const ga::generation_report& r) { replayed.push_back(r.replayed); }, resume);
    EXPECT_EQ(resumed.replayed, 3);
    EXPECT_EQ(replayed, (std::vector<bool>{true, true, true, false, false, false, false}));
    expect_same_fit(resumed, reference);
  }
}

TEST(replay_ga, a_stop_inside_a_generation_discards_it_and_resumes_bit_for_bit) {
  // The stop request is polled before each pipeline chunk too; a generation cut short is
  // not logged. Stop at a few different polls: before the first generation is complete
  // (an empty checkpoint), inside a later generation, and between generations.
  ga_fixture f;
  scratch_dir dir;
  const ga::ga_problem p = f.problem();
  const ga::ga_settings s = f.rc.fit.ga.algorithm;
  const ga::ga_result reference = ga::run_genetic_fit(p, s);
  ASSERT_GT(reference.plan.blocks.size(), 1u) << "the test needs several chunks a generation";
  for (int stop_at : {3, 10, 13, 20}) {
    SCOPED_TRACE(::testing::Message() << "stop from poll " << stop_at);
    const std::string path = dir.file("ga_" + std::to_string(stop_at) + ".ckpt");
    int polls = 0, finished = 0;
    ga::ga_control stop;
    stop.stop_requested = [&] { return ++polls >= stop_at; };
    stop.checkpoint = [&](const ga::ga_log& lg) { checkpoint::save(path, f.id, lg); };
    const ga::ga_result cut = ga::run_genetic_fit(
        p, s, [&](const ga::generation_report&) { ++finished; }, stop);
    EXPECT_EQ(cut.stop_reason, "interrupted");
    const ga::ga_log saved = checkpoint::load_ga(path, f.id);
    EXPECT_EQ(saved.generations(), static_cast<std::size_t>(finished));
    EXPECT_LT(finished, 7);
    ga::ga_control resume;
    resume.resume = &saved;
    const ga::ga_result resumed = ga::run_genetic_fit(p, s, {}, resume);
    EXPECT_EQ(resumed.replayed, finished);
    expect_same_fit(resumed, reference);
  }
}

TEST(replay_ga, periodic_checkpoints_and_extending_a_finished_run) {
  ga_fixture f;
  const ga::ga_problem p = f.problem();
  ga::ga_settings s = f.rc.fit.ga.algorithm;
  std::vector<ga::ga_log> logs;
  ga::ga_control every;
  every.checkpoint_every = 2;
  every.checkpoint = [&](const ga::ga_log& lg) { logs.push_back(lg); };
  const ga::ga_result reference = ga::run_genetic_fit(p, s, {}, every);
  ASSERT_EQ(logs.size(), 3u);  // after generations 1, 3 and 5
  EXPECT_EQ(logs[0].generations(), 2u);
  EXPECT_EQ(logs[1].generations(), 4u);
  EXPECT_EQ(logs[2].generations(), 6u);

  ga::ga_control resume;
  resume.resume = &logs[1];
  const ga::ga_result resumed = ga::run_genetic_fit(p, s, {}, resume);
  EXPECT_EQ(resumed.replayed, 4);
  expect_same_fit(resumed, reference);

  // [parallel] may change on resume: the placement never changes a result.
  ga::ga_problem serial = p;
  serial.parallel.overlap = false;
  serial.parallel.chunks = 1;
  serial.parallel.min_chunk_cells = 1000;
  const ga::ga_result resumed_serial = ga::run_genetic_fit(serial, s, {}, resume);
  EXPECT_EQ(resumed_serial.plan.blocks.size(), 1u);
  expect_same_fit(resumed_serial, reference);

  // A finished run extended by two generations is the run made with two more.
  resume.resume = &reference.log;
  s.generations = 8;
  const ga::ga_result extended = ga::run_genetic_fit(p, s, {}, resume);
  EXPECT_EQ(extended.replayed, 7);
  expect_same_fit(extended, ga::run_genetic_fit(p, s));
}

TEST(replay_ga, a_log_of_another_run_is_refused) {
  ga_fixture f;
  const ga::ga_problem p = f.problem();
  ga::ga_settings s = f.rc.fit.ga.algorithm;
  s.generations = 2;
  const ga::ga_result original = ga::run_genetic_fit(p, s);
  ga::ga_control resume;
  resume.resume = &original.log;

  ga::ga_settings other = s;
  other.seed = s.seed + 1;
  EXPECT_THROW(ga::run_genetic_fit(p, other, {}, resume), config_error);
  other = s;
  other.population = 10;
  other.offspring = 10;
  EXPECT_THROW(ga::run_genetic_fit(p, other, {}, resume), config_error);
  other = s;
  other.eta_mutation = 30;  // the same generation 0, other children
  EXPECT_THROW(ga::run_genetic_fit(p, other, {}, resume), config_error);
  ga::ga_log fewer = original.log;
  fewer.n_params = 2;
  resume.resume = &fewer;
  EXPECT_THROW(ga::run_genetic_fit(p, s, {}, resume), config_error);
}

TEST(replay_ga, de_and_pso_logs_extend_and_refuse_other_settings) {
  ga_fixture f;
  const ga::ga_problem p = f.problem();
  for (int variant : {3, 4}) {
    ga::ga_settings s = ga_variant(f, variant);
    SCOPED_TRACE(ga::strategy_name(s.algorithm));
    s.generations = 3;
    const ga::ga_result original = ga::run_genetic_fit(p, s);
    ga::ga_control resume;
    resume.resume = &original.log;
    // Extended by two generations: the run made with five.
    ga::ga_settings longer = s;
    longer.generations = 5;
    const ga::ga_result extended = ga::run_genetic_fit(p, longer, {}, resume);
    EXPECT_EQ(extended.replayed, 4);
    expect_same_fit(extended, ga::run_genetic_fit(p, longer));
    // The same generation 0, other moves: refused at generation 1.
    ga::ga_settings other = s;
    other.de.f = 0.5;
    other.pso.w = 0.5;
    try {
      ga::run_genetic_fit(p, other, {}, resume);
      ADD_FAILURE() << "resumed with other settings";
    } catch (const config_error& e) {
      EXPECT_NE(std::string(e.what()).find("generation 1, individual 0 differs"), std::string::npos)
          << e.what();
    }
  }
}

// The gradient engine's problem: two conductances of the hh ball-and-stick cell against
// traces simulated at known values (tests/unit/test_fit.cpp).
const char* gradient_config = R"(
[model]
morphology = "builtin:ball_and_stick"
[model.mechanisms.hh]
regions = "all"
[simulation]
dt_ms = 0.025
t_stop_ms = 15.0
record_every = 4
record_sites = [0, -1]
[[stimulus]]
sites = [0]
amplitude = 0.4
delay_ms = 1.0
[[stimulus]]
sites = [0]
amplitude = 0.7
delay_ms = 2.0
[fit]
engine = "gradient"
[[fit.parameter]]
name = "hh.gnabar"
bounds = [0.02, 0.5]
transform = "log"
[[fit.parameter]]
name = "hh.gkbar"
bounds = [0.005, 0.2]
transform = "sigmoid"
[fit.gradient]
optimizer = "adam"
epochs = 8
lr = 0.1
)";

struct gradient_fixture {
  run_config rc = parse_config(gradient_config, "gradient.toml", {});
  parameter_space space{rc.model, rc.fit.parameters};
  std::vector<double> truth = {0.1, 0.045};
  fit_problem problem;
  checkpoint::identity id;

  gradient_fixture() {
    problem.model = &rc.model;
    problem.space = &space;
    problem.stimuli = rc.stimuli;
    problem.settings = rc.settings;
    problem.target =
        simulate_batch(rc.model, {space.to_set(truth)}, rc.stimuli, rc.settings).voltage;
    problem.ground_truth = truth;
    id = checkpoint::make_identity(rc, "gradient",
                                   {checkpoint::digest("target.traces", problem.target)});
  }
};

void expect_same_fit(const fit_result& a, const fit_result& b) {
  EXPECT_EQ(bits(a.history.loss), bits(b.history.loss));
  EXPECT_EQ(bits(a.history.normalized_loss), bits(b.history.normalized_loss));
  EXPECT_EQ(bits(a.history.gt_error), bits(b.history.gt_error));
  EXPECT_EQ(a.history.diverged, b.history.diverged);
  EXPECT_EQ(bits(a.best), bits(b.best));
  EXPECT_EQ(bits({a.best_loss}), bits({b.best_loss}));
  EXPECT_EQ(bits(a.log.x), bits(b.log.x));
  EXPECT_EQ(bits(a.log.grad), bits(b.log.grad));
  EXPECT_EQ(a.log.with_gradient, b.log.with_gradient);
  EXPECT_EQ(bits(a.best_voltage), bits(b.best_voltage));
  EXPECT_EQ(a.simulations, b.simulations);
  EXPECT_EQ(a.stop_reason, b.stop_reason);
}

// Stops the fit from the stop_at-th evaluation, resumes it from the checkpoint file, and
// compares with the uninterrupted fit.
void interrupt_and_resume(const gradient_fixture& f, const gradient_settings& s, int stop_at,
                          const std::string& path) {
  const fit_result reference = run_gradient_fit(f.problem, s);
  ASSERT_GT(reference.log.size(), static_cast<std::size_t>(stop_at) + 1)
      << "the fit ends before the interruption (" << reference.stop_reason << ")";

  int polls = 0, checkpoints = 0;
  gradient_control stop;
  stop.stop_requested = [&] { return ++polls >= stop_at; };
  stop.checkpoint = [&](const gradient_log& lg) {
    ++checkpoints;
    checkpoint::save(path, f.id, lg);
  };
  const fit_result cut = run_gradient_fit(f.problem, s, {}, stop);
  EXPECT_EQ(cut.stop_reason, "interrupted");
  EXPECT_EQ(checkpoints, 1);
  // The evaluation during which the stop arrived is complete and in the checkpoint.
  ASSERT_EQ(cut.history.loss.size(), static_cast<std::size_t>(stop_at));
  for (int e = 0; e < stop_at; ++e)
    EXPECT_EQ(cut.history.loss[static_cast<std::size_t>(e)],
              reference.history.loss[static_cast<std::size_t>(e)]);

  const gradient_log saved = checkpoint::load_gradient(path, f.id);
  ASSERT_EQ(saved.size(), static_cast<std::size_t>(stop_at));
  expect_same_log(saved, cut.log);

  gradient_control resume;
  resume.resume = &saved;
  int replayed_reports = 0;
  const fit_result resumed = run_gradient_fit(
      f.problem, s, [&](const epoch_report& r) { replayed_reports += r.replayed ? 1 : 0; }, resume);
  EXPECT_EQ(resumed.replayed, stop_at);
  EXPECT_EQ(replayed_reports, stop_at);
  expect_same_fit(resumed, reference);
}

TEST(replay_gradient, adam_resumes_bit_for_bit) {
  gradient_fixture f;
  scratch_dir dir;
  const gradient_settings s = f.rc.fit.gradient;
  ASSERT_EQ(s.optimizer, optimizer_kind::adam);
  interrupt_and_resume(f, s, 4, dir.file("adam.ckpt"));
}

TEST(replay_gradient, lbfgsb_resumes_bit_for_bit) {
  gradient_fixture f;
  scratch_dir dir;
  gradient_settings s = f.rc.fit.gradient;
  s.optimizer = optimizer_kind::lbfgsb;
  s.epochs = 5;
  interrupt_and_resume(f, s, 5, dir.file("lbfgsb.ckpt"));
}

TEST(replay_gradient, periodic_checkpoints_and_refused_logs) {
  gradient_fixture f;
  const gradient_settings s = f.rc.fit.gradient;
  std::vector<gradient_log> logs;
  gradient_control every;
  every.checkpoint_every = 3;
  every.checkpoint = [&](const gradient_log& lg) { logs.push_back(lg); };
  const fit_result reference = run_gradient_fit(f.problem, s, {}, every);
  ASSERT_EQ(reference.log.size(), 9u);  // epochs + 1
  ASSERT_EQ(logs.size(), 3u);
  EXPECT_EQ(logs[0].size(), 3u);
  EXPECT_EQ(logs[1].size(), 6u);
  EXPECT_EQ(logs[2].size(), 9u);

  gradient_control resume;
  resume.resume = &logs[1];
  const fit_result resumed = run_gradient_fit(f.problem, s, {}, resume);
  EXPECT_EQ(resumed.replayed, 6);
  expect_same_fit(resumed, reference);

  // A finished fit extended by two epochs is the fit made with two more (its last point,
  // logged without a gradient, is evaluated again with one).
  gradient_settings longer = s;
  longer.epochs = 10;
  gradient_control extend;
  extend.resume = &reference.log;
  const fit_result extended = run_gradient_fit(f.problem, longer, {}, extend);
  EXPECT_GE(extended.replayed, 8);
  expect_same_fit(extended, run_gradient_fit(f.problem, longer));

  // Another learning rate reaches other points after the first: refused.
  gradient_settings other = s;
  other.lr = 0.05;
  EXPECT_THROW(run_gradient_fit(f.problem, other, {}, resume), config_error);
  gradient_log wrong = logs[1];
  wrong.n_params = 3;
  resume.resume = &wrong;
  EXPECT_THROW(run_gradient_fit(f.problem, s, {}, resume), config_error);
}

}  // namespace
