#pragma once
// The cellfit subcommands. Each returns the process exit status and throws cellfit::error
// subclasses for bad input (main maps them to exit codes).

#include <limits>
#include <string>
#include <vector>

#include "comm/context.hpp"

namespace cellfit::app {

struct simulate_options {
  std::string config;  // empty: the built-in default problem
  std::vector<std::string> overrides;
  std::string out;  // empty: the config's output.file
  bool quiet = false;
  comm::context_ptr comm;  // the ranks (main sets it): parameter sets split, rank 0 writes
};
int run_simulate(const simulate_options& o);

struct fit_options {
  std::string config;
  std::string engine;  // empty: the config's fit.engine
  std::vector<std::string> overrides;
  std::string out;  // empty: the config's fit.output
  bool quiet = false;
  std::string resume;         // checkpoint (or finished fit output) to continue
  std::string checkpoint;     // empty: the config's fit.checkpoint, else out + ".ckpt"
  int checkpoint_every = -1;  // < 0: the config's fit.checkpoint_every
  bool fresh = false;         // start over an earlier run's checkpoint (moved to CKPT.prev)
  comm::context_ptr comm;     // the ranks of the run (main sets it; null: one process)
  int member = -1;            // >= 0: one member of a [fit.ensemble] (set by the ensemble)
};
int run_fit(const fit_options& o);
// The output of member `member` of a [fit.ensemble] fit whose output is `out`:
// fit.h5 -> fit.m<member>.h5 (a name without extension gets ".m<member>.h5").
std::string ensemble_member_output(const std::string& out, int member);

struct compare_options {
  std::string config;  // empty: the built-in problem (compare_config_text)
  std::vector<std::string> overrides;
  std::string out_dir = ".";         // compare.h5 and the PNGs
  double budget_simulations = 0;     // per engine; 0: fit.max_simulations, else the GA's
  double budget_seconds = 0;         // per engine, wall time (instead of simulations)
  std::vector<std::string> engines;  // empty: ga, gradient, hybrid
  bool plots = true;
  bool quiet = false;
  comm::context_ptr comm;
};
int run_compare(const compare_options& o);
// The built-in problem of `cellfit compare` (paper 000's toy) as TOML text.
const char* compare_config_text();

// Throws io_error unless `out` names a file that can be created (checked before long runs),
// naming it by its role ("output", "checkpoint"); removes stale temporaries of it that a
// killed run left (h5::remove_stale_temporaries).
void check_writable(const std::string& out, const std::string& command,
                    const char* role = "output");

struct info_options {
  std::string morphology;              // a morphology spec, or a TOML config (.toml)
  std::vector<std::string> overrides;  // --set, with a config
  int nseg = 0;
  double max_compartment_um = 0;
  double ra = 35.4;
  std::string swc_out;
  std::string sections_csv;   // per-section table (name, parent, L, diam, area, n3d)
  bool compartments = false;  // print the compartment table
  bool mechanisms = false;    // list the catalogue instead
};
int run_info(const info_options& o);

struct features_options {
  std::string traces;             // a `cellfit simulate` output, or the first recording
  std::vector<std::string> more;  // further recordings
  std::string sweeps;             // sweep selection (indices or names, comma-separated)
  std::string protocol;           // the protocol all sweeps belong to ("": from each file)
  std::string out_features, out_protocols;  // BluePyOpt's features.json / protocols.json
  double default_std = 1e-3;  // the std of a feature whose sweeps agree exactly (BluePyEfe's)
  std::vector<std::string> features;
  double stim_start_ms = std::numeric_limits<double>::quiet_NaN();  // NaN: from the file
  double stim_end_ms = std::numeric_limits<double>::quiet_NaN();
  double current_na = std::numeric_limits<double>::quiet_NaN();  // NaN: the step's amplitude

  std::string site = "0";  // index into the recorded sites, or a recording name
  double threshold_mv = -20.0;
  double derivative_threshold = 10.0;
  std::string out;  // empty: table only
  unsigned threads = 0;
};
int run_features(const features_options& o);

struct plot_options {
  std::string file;  // a `cellfit fit` or `cellfit simulate` output
  std::string out_dir = ".";
  int dpi = 0;  // 0: the script's default
};
// PNG plots of a fit or simulate result (scripts/plot_result.py); throws io_error for a
// missing, unreadable or foreign file.
int run_plot(const plot_options& o);

struct identifiability_options {
  std::string fit;     // a `cellfit fit` output (gradient, GA or hybrid; trace target)
  std::string config;  // empty: the config the fit recorded (/fit/config)
  std::vector<std::string> overrides;  // --set, after the recorded ones
  std::string out;                     // empty: FIT_identifiability.h5 beside FIT
  std::string at = "best";             // the point analysed: best, truth (ground truth) or initial
  double noise_mv = 0;  // > 0: the target's noise (mV); 0: estimated from the residuals
  bool plot = true;     // the PNG (OUT with .png) through scripts/plot_identifiability.py
  int dpi = 0;
  bool quiet = false;
};
// `cellfit identifiability`: the Fisher information of a fit's trace loss at its best (or
// another) point, its spectrum, standard errors, correlations and weakest directions: a
// table on stdout, HDF5 (atomically) and a PNG. Blocks.
int run_identifiability(const identifiability_options& o);

struct import_options {
  std::string config_dir;  // BluePyOpt's parameters/mechanisms/protocols(/features).json
  std::string morphology;
  std::string out;
  bool replace_axon = false;
  double dt_ms = 0.025;
};
// Writes the cellfit config equivalent to BluePyOpt's config files (atomically; nothing on
// error).
int run_import_bluepyopt(const import_options& o);

}  // namespace cellfit::app
