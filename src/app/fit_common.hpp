#pragma once
// Pieces shared by the engines' `cellfit fit` drivers (fit.cpp: gradient, fit_ga.cpp: GA).

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/commands.hpp"
#include "comm/context.hpp"
#include "ga/genetic_fit.hpp"
#include "ga/objectives.hpp"
#include "gradient/gradient_fit.hpp"
#include "io/checkpoint.hpp"
#include "io/config.hpp"
#include "io/h5.hpp"
#include "model/parameter_space.hpp"
#include "sched/plan.hpp"

namespace cellfit::app {

// Seconds as h:mm:ss ("?" when unknown).
std::string hms(double s);

// The target traces [stimulus][site][sample] (fit.target type "file" or "synthetic") and,
// for a synthetic target, the ground truth (physical [P]). Throws config_error/io_error.
void make_target(const run_config& rc, const parameter_space& space, std::vector<double>& target,
                 std::vector<double>& truth, bool quiet);

// A gradient-side fit (engine gradient or hybrid) of target traces that spike, with the
// trace MSE alone because fit.gradient.spike_weight was not given: the MSE of spike trains
// that are out of step has local minima far from the truth, so this prints a warning naming
// the remedies (a spike-timing term, a start near the target, the hybrid's GA search; or
// spike_weight = 0 written out to keep the MSE alone).
// Call on rank 0.
void warn_spiking_target(const run_config& rc, const std::vector<double>& target);

// The root attribute `target` of a fit output: the target file, the recordings of
// [[fit.target.recording]] (comma-separated), the features file, or "synthetic".
std::string target_label(const target_settings& t);

// /fit/config/{text,path,overrides}: the config as read, its absolute path (relative paths
// in it resolve against that) and the --set overrides, so that an analysis of the result
// (`cellfit identifiability`) rebuilds the same problem without the original command line.
void write_config_record(h5::file& f, const run_config& rc);

// /fit/param_names, /fit/bounds/*, /fit/parameters/*.
void write_fit_parameters(h5::file& f, const parameter_space& space);

// /fit/time_ms [sample] (the times of the target and best traces) and, with `names`,
// /fit/stimuli/names [stimulus] (the GA writes its own with the windows).
void write_fit_time(h5::file& f, const run_config& rc, bool names);

// The per-parameter GT error table on stdout.
void print_gt_table(const parameter_space& space, const std::vector<double>& initial,
                    const std::vector<double>& best, const std::vector<double>& truth,
                    const char* initial_label = "initial");

// The fitted values on stdout, one row per scalar (name, unit, initial, best and, when
// `truth` is not empty, the ground truth), all in physical units.
void print_fitted_values(const parameter_space& space, const std::vector<double>& initial,
                         const std::vector<double>& best, const std::vector<double>& truth,
                         const char* initial_label = "initial");

// The ranks, files and checkpoint settings of one `cellfit fit`, the same for both engines.
struct fit_run {
  comm::context_ptr ctx;
  bool root = true;        // rank 0: prints, reads checkpoints, writes files
  bool quiet = false;      // no progress output (always on ranks other than 0)
  std::string out;         // the fit output
  std::string checkpoint;  // where checkpoints go
  std::string resume;      // the checkpoint to continue ("" : a fresh fit)
  int checkpoint_every = 0;
};

// Resolves and checks the files on rank 0 (a collective; errors agreed): the output must be
// writable, the checkpoint file must not hold an earlier run's checkpoint unless that is
// what is being resumed, a resumed file must exist.
fit_run prepare_fit_run(const run_config& rc, const fit_options& o);

// /fit/plan: the blocks of the last plan [block][rank, device, chunk, first_set, n_sets,
// first_stimulus, n_stimuli], their predicted cost, and the summary as an attribute.
void write_plan(h5::file& f, const sched::plan& p, const comm::context& ctx);

// After a complete fit (its output holds the whole log): the periodic checkpoint file is
// no longer needed (rank 0).
void remove_checkpoint(const fit_run& r);

// The checks of a fit's config that need no simulation (engine, [fit], precision, the
// parameters against the model); returns the engine. Throws cellfit::error.
std::string check_fit_config(const run_config& rc, const fit_options& o);

// The line printed when a signal stopped the fit (rank 0).
void print_interrupted(const fit_run& r, const std::string& what, const fit_options& o);

// Runs write_result (rank 0); if it fails with an I/O error (a full disk, a vanished
// directory), runs save_checkpoint so that the fit can be resumed instead of lost, and throws
// the I/O error extended by where the state went and the command that continues it.
void write_or_save_state(const fit_run& r, const fit_options& o,
                         const std::function<void()>& write_result,
                         const std::function<void()>& save_checkpoint);

// The progress lines of `cellfit fit` on stderr (rank 0).
// lbfgsb: the lines count loss evaluations ("evaluation k (at most N)"), not epochs.
epoch_callback epoch_progress_printer(bool lbfgsb = false);
ga::generation_callback ga_progress_printer();

// The GA's view of a fit problem: scoring, stimulus windows, feature targets, and the target
// traces and ground truth when the target is traces.
struct ga_setup {
  ga::scoring_settings scoring;
  std::vector<ga::feature_window> windows;
  std::vector<ga::feature_target> targets;
  std::vector<double> target_traces, truth;
  std::vector<std::string> notes;
};

// The problem of a GA fit, built the same way on every rank.
struct ga_state {
  std::unique_ptr<parameter_space> space;
  ga_setup g;
  std::unique_ptr<ga::scorer> scorer;
  checkpoint::identity id;
};

// Builds the GA problem from rc (BluePyOpt protocols replace rc.stimuli); prints the header
// and notes unless run.quiet. Throws config_error.
void setup_ga(run_config& rc, const fit_run& run, ga_state& st);

// The problem built by setup_ga as the GA sees it, and as the gradient engine does (the
// target traces; empty for a features target), on the ranks of ctx. They point into rc and
// st, which must outlive them.
ga::ga_problem ga_problem_of(const run_config& rc, const ga_state& st, comm::context_ptr ctx);
fit_problem trace_problem_of(const run_config& rc, const ga_state& st, comm::context_ptr ctx);

// `cellfit fit --engine ga` (fit_ga.cpp); rc already loaded and checked for [fit].
int run_ga_fit(run_config& rc, const fit_options& o);

// `cellfit fit --engine hybrid` (fit_hybrid.cpp).
int run_hybrid_fit_command(run_config& rc, const fit_options& o);

// A [fit.ensemble] (fit_ensemble.cpp): every member through run_fit on its group's ranks.
int run_ensemble(const run_config& rc, const fit_options& o);

}  // namespace cellfit::app
