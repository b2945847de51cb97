// cellfit: fit biophysical multi-compartment neuron models to voltage data.
// Entry point: parses the command line, runs a subcommand, maps errors to exit codes.

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <Kokkos_Core.hpp>

#include "app/commands.hpp"
#include "comm/mpi_context.hpp"
#include "common/error.hpp"
#include "io/config.hpp"

namespace {

// Kokkos's arguments, plus the GPU of this rank when Kokkos has a GPU backend and the user
// chose none: one rank per GPU, the node-local rank picks it (docs/gpu.md).
std::vector<char*> kokkos_arguments(int argc, char** argv, const cellfit::comm::context& ctx,
                                    std::string& device_arg) {
  std::vector<char*> args(argv, argv + argc);
#if defined(KOKKOS_ENABLE_CUDA) || defined(KOKKOS_ENABLE_HIP) || defined(KOKKOS_ENABLE_SYCL)
  bool chosen = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    chosen = chosen || a.rfind("--kokkos-device-id", 0) == 0 ||
             a.rfind("--kokkos-map-device-id-by", 0) == 0;
  }
  // Kokkos 4.1 and later map ranks to devices by node-local rank themselves; with an older
  // Kokkos the user states the devices per node (jobs/*.sbatch do).
  const char* per_node = std::getenv("CELLFIT_GPUS_PER_NODE");
  if (!chosen && per_node && std::atoi(per_node) > 0) {
    device_arg = "--kokkos-device-id=" + std::to_string(ctx.local_rank() % std::atoi(per_node));
    args.push_back(device_arg.data());
  }
#else
  (void)ctx;
  (void)device_arg;
#endif
  args.push_back(nullptr);
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace cellfit;
  CLI::App cli{"cellfit: fit biophysical multi-compartment neuron models to voltage data"};
  cli.require_subcommand(1);
  cli.set_version_flag("--version", "cellfit 0.1.0");

  // A file name given as "" would otherwise read as "not given" and fall back to the default.
  const CLI::Validator file_name(
      [](std::string& v) { return v.empty() ? std::string("an empty file name") : std::string(); },
      "FILE");
  app::simulate_options sim;
  auto* simulate = cli.add_subcommand(
      "simulate",
      "Simulate a batch of parameter sets x stimuli and write the voltage traces (HDF5).\n"
      "Without CONFIG runs the built-in default problem (ball-and-stick hh cell).");
  simulate->add_option("config", sim.config, "TOML config (docs/config.md)");
  simulate->add_option("--set", sim.overrides,
                       "Override a config value: section.key=value (repeatable)");
  simulate->add_option("--out", sim.out, "Output HDF5 file (default: output.file, sim.h5)")
      ->check(file_name);
  simulate->add_flag("--quiet,-q", sim.quiet, "No progress output");

  app::fit_options fit;
  auto* fit_cmd = cli.add_subcommand(
      "fit",
      "Fit the [[fit.parameter]]s of a model to target traces (synthetic or HDF5) and write\n"
      "the fit result (HDF5) and a summary with the fitted values on stdout. Progress on\n"
      "stderr: one line per epoch (gradient), per generation (GA), both in turn (hybrid).");
  fit_cmd->add_option("config", fit.config, "TOML config with a [fit] section (docs/config.md)")
      ->required();
  fit_cmd->add_option("--engine", fit.engine,
                      "gradient, ga or hybrid (default: the config's fit.engine)");
  fit_cmd->add_option("--set", fit.overrides,
                      "Override a config value: section.key=value (repeatable)");
  fit_cmd->add_option("--out", fit.out, "Output HDF5 file (default: fit.output, fit.h5)")
      ->check(file_name);
  fit_cmd->add_flag("--quiet,-q", fit.quiet, "No progress output");
  fit_cmd
      ->add_option("--resume", fit.resume,
                   "Continue from a checkpoint (or a finished fit's output, to run more\n"
                   "generations/epochs); the result is that of an uninterrupted run, on any\n"
                   "number of ranks")
      ->check(file_name);
  fit_cmd
      ->add_option("--checkpoint", fit.checkpoint,
                   "Checkpoint file (default: fit.checkpoint, else OUT.ckpt)")
      ->check(file_name);
  fit_cmd->add_flag("--fresh", fit.fresh,
                    "Start afresh when the checkpoint file holds an earlier run's checkpoint:\n"
                    "it is moved to CKPT.prev, not deleted (a checkpoint written on Ctrl-C\n"
                    "is moved aside without this flag)");
  fit_cmd
      ->add_option("--checkpoint-every", fit.checkpoint_every,
                   "Generations/evaluations between checkpoints (default: "
                   "fit.checkpoint_every, 10; 0: only on SIGTERM/SIGUSR1)")
      ->check(CLI::Range(0, 1000000000));

  const CLI::Validator positive(
      [](std::string& v) {
        double x = 0;
        try {
          x = std::stod(v);
        } catch (const std::exception&) {
          return "expected a number, got '" + v + "'";
        }
        return std::isfinite(x) && x > 0 ? std::string() : "must be > 0, got " + v;
      },
      "> 0");
  app::compare_options cmp;
  auto* compare_cmd = cli.add_subcommand(
      "compare",
      "Fit one problem with the GA, the gradient engine and the hybrid (GA, then gradient\n"
      "polish) on the same budget; print a table (simulations, wall time, final loss, GT\n"
      "error), write compare.h5 and PNG plots (loss vs simulations and wall time, target vs\n"
      "fitted traces). Without CONFIG runs the built-in problem (paper 000's toy).");
  compare_cmd->add_option("config", cmp.config,
                          "TOML config with a [fit] section and a trace target (synthetic or "
                          "file)");
  compare_cmd->add_option("--set", cmp.overrides,
                          "Override a config value: section.key=value (repeatable)");
  compare_cmd->add_option("--out-dir", cmp.out_dir, "Where compare.h5 and the PNGs go (.)")
      ->check(file_name);
  compare_cmd
      ->add_option("--budget", cmp.budget_simulations,
                   "Single-cell simulations per engine (default: fit.max_simulations, else what "
                   "the config's GA spends)")
      ->check(positive);
  compare_cmd
      ->add_option("--budget-seconds", cmp.budget_seconds,
                   "Wall time per engine instead of a number of simulations")
      ->check(positive);
  compare_cmd
      ->add_option("--engines", cmp.engines, "Engines to run, comma-separated (ga,gradient,hybrid)")
      ->delimiter(',');
  bool no_plots = false, print_compare_config = false;
  compare_cmd->add_flag("--no-plots", no_plots, "Write no PNG (only compare.h5)");
  compare_cmd->add_flag("--print-config", print_compare_config,
                        "Print the built-in problem's config (TOML) and exit: save it, edit it "
                        "and pass it as CONFIG");
  compare_cmd->add_flag("--quiet,-q", cmp.quiet, "No progress output");

  app::info_options info;
  auto* info_cmd = cli.add_subcommand(
      "info",
      "Describe a morphology (sections, compartments, total area, regions), or with\n"
      "--mechanisms the mechanism catalogue.");
  info_cmd->add_option(
      "morphology", info.morphology,
      "SWC or Neurolucida ASC file, builtin:ball_and_stick|chain6|tree184|random_tree:N[:SEED],\n"
      "or a TOML config (.toml): its model as [model] builds it, and its record sites");
  info_cmd->add_option("--set", info.overrides,
                       "With a config: override a value, section.key=value (repeatable)");
  info_cmd->add_flag("--mechanisms", info.mechanisms,
                     "List the mechanism catalogue: parameters (units, defaults), GLOBALs, "
                     "states, ions read and written");
  info_cmd->add_option("--nseg", info.nseg, "Segments per section (default: the morphology's)");
  info_cmd->add_option("--max-compartment-um", info.max_compartment_um,
                       "Split sections into compartments no longer than this");
  info_cmd->add_option("--ra", info.ra, "Axial resistivity, ohm cm (default 35.4)");
  info_cmd
      ->add_option("--export-swc", info.swc_out,
                   "Also write the morphology as SWC (three-point soma) to this file")
      ->check(file_name);
  info_cmd->add_flag("--compartments", info.compartments,
                     "Print the compartment table: index, section(x), section list, path distance "
                     "from soma[0](0.5), area (the sites a config can name)");
  info_cmd
      ->add_option("--sections-csv", info.sections_csv,
                   "Also write one CSV row per section (name, parent, parent_x, n3d, L, mean "
                   "diam, area) to this file")
      ->check(file_name);

  app::features_options feat;
  auto* features_cmd = cli.add_subcommand(
      "features",
      "eFEL features (eFEL 5.7 definitions and defaults) of the traces of a `cellfit simulate`\n"
      "output: a table on stdout (one row per cell, the mean of each feature's values) and\n"
      "optionally HDF5. Also of recordings (.txt, .csv, .h5, .nwb, .abf; docs/features.md,\n"
      "\"Recordings\"), whose repeated sweeps of a protocol average into feature targets\n"
      "(--out-features, BluePyOpt's features.json).");
  features_cmd
      ->add_option("traces", feat.traces, "HDF5 file written by cellfit simulate, or a recording")
      ->required();
  features_cmd->add_option("more", feat.more, "Further recordings");
  features_cmd->add_option("--sweeps", feat.sweeps,
                           "Recorded sweeps to use: indices or names, comma-separated (all)");
  features_cmd->add_option("--protocol", feat.protocol,
                           "Protocol of all the sweeps (default: NWB's stimulus_description, "
                           "else the file name)");
  features_cmd
      ->add_option("--out-features", feat.out_features,
                   "Write feature means and stds over each protocol's sweeps (BluePyOpt "
                   "features.json)")
      ->check(file_name);
  features_cmd
      ->add_option("--out-protocols", feat.out_protocols,
                   "Write the protocols' step stimuli read from the recorded current "
                   "(BluePyOpt protocols.json)")
      ->check(file_name);
  features_cmd->add_option("--default-std", feat.default_std,
                           "Std of a feature whose sweeps agree exactly, or of one sweep (1e-3, "
                           "BluePyEfe's default_std_value)");
  features_cmd->add_option("--features", feat.features, "Feature names, comma-separated, or all")
      ->required()
      ->delimiter(',');
  features_cmd->add_option("--stim-start", feat.stim_start_ms,
                           "Stimulus start, ms (default: each cell's stimulus, from the file)");
  features_cmd->add_option("--stim-end", feat.stim_end_ms,
                           "Stimulus end, ms (default: each cell's stimulus, from the file)");
  features_cmd->add_option("--current", feat.current_na,
                           "Stimulus current, nA, for ohmic_input_resistance (default: the "
                           "step's amplitude, from the file)");
  features_cmd->add_option(
      "--site", feat.site,
      "Recorded site: index into /traces/sites (0), or a name from /traces/site_names");
  features_cmd->add_option("--threshold", feat.threshold_mv, "Spike threshold, mV (-20)");
  features_cmd->add_option("--derivative-threshold", feat.derivative_threshold,
                           "dV/dt threshold for AP onsets, mV/ms (10)");
  features_cmd->add_option("--out", feat.out, "Also write the features to this HDF5 file")
      ->check(file_name);
  features_cmd->add_option("--threads", feat.threads, "Host threads (0: all cores)");

  app::import_options imp;
  auto* import_cmd = cli.add_subcommand(
      "import-bluepyopt",
      "Write the cellfit config equivalent to BluePyOpt's config files (parameters.json,\n"
      "mechanisms.json, protocols.json and, if present, features.json of one directory).\n"
      "docs/config.md describes the mapping.");
  import_cmd->add_option("--config-dir", imp.config_dir, "Directory of BluePyOpt's JSON files")
      ->required();
  import_cmd->add_option("--morphology", imp.morphology, "SWC or ASC morphology file")->required();
  import_cmd->add_option("--out", imp.out, "The cellfit config (TOML) to write")
      ->required()
      ->check(file_name);
  import_cmd->add_flag("--replace-axon", imp.replace_axon,
                       "BluePyOpt's axon replacement (its L5PC example uses it)");
  import_cmd->add_option("--dt", imp.dt_ms, "Time step of the config, ms (0.025)");

  app::plot_options plot;
  auto* plot_cmd = cli.add_subcommand(
      "plot",
      "PNG plots of a result file (python3 with matplotlib and h5py). A fit: loss history\n"
      "(log scale), target vs best traces per stimulus and recording, the fitted values\n"
      "within their bounds (with the ground truth when known) and, for the GA, the\n"
      "population's summed objectives per generation. A simulate output: its traces.\n"
      "The PNGs are named after the file: FIT_loss.png, FIT_traces.png, ...");
  plot_cmd->add_option("file", plot.file, "HDF5 file written by cellfit fit or cellfit simulate")
      ->required()
      ->check(file_name);
  plot_cmd->add_option("--out-dir", plot.out_dir, "Where the PNGs go (.)")->check(file_name);
  plot_cmd->add_option("--dpi", plot.dpi, "Resolution of the PNGs (90)")
      ->check(CLI::Range(10, 1200));

  app::identifiability_options ident;
  bool ident_no_plot = false;
  auto* ident_cmd = cli.add_subcommand(
      "identifiability",
      "What a fit's data can tell: the Fisher (Gauss-Newton) information of its trace loss\n"
      "from the exact Jacobian of the residuals, its eigen-spectrum, per-parameter standard\n"
      "errors and correlations, and the directions the data do not constrain. A table on\n"
      "stdout, HDF5 (/identifiability/...) and a PNG. docs/identifiability.md.");
  ident_cmd->add_option("fit", ident.fit, "HDF5 file written by cellfit fit (trace target)")
      ->required()
      ->check(file_name);
  ident_cmd
      ->add_option("--config", ident.config,
                   "The fit's config (default: the one the fit recorded in /fit/config)")
      ->check(file_name);
  ident_cmd->add_option("--set", ident.overrides,
                        "Override a config value: section.key=value (repeatable)");
  ident_cmd
      ->add_option("--out", ident.out,
                   "Output HDF5 file (default: FIT_identifiability.h5 beside FIT); the PNG "
                   "takes its name with .png")
      ->check(file_name);
  ident_cmd->add_option("--at", ident.at, "The point analysed: best (default), truth or initial")
      ->check(CLI::IsMember({"best", "truth", "initial"}));
  ident_cmd
      ->add_option("--noise-mv", ident.noise_mv,
                   "Standard deviation of the target's noise, mV (default: estimated from "
                   "the fit's residuals, RSS/(N-P))")
      ->check(positive);
  ident_cmd->add_flag("--no-plot", ident_no_plot, "Write no PNG");
  ident_cmd->add_option("--dpi", ident.dpi, "Resolution of the PNG (90)")
      ->check(CLI::Range(10, 1200));
  ident_cmd->add_flag("--quiet,-q", ident.quiet, "No progress output");

  auto* config_cmd =
      cli.add_subcommand("default-config", "Print the built-in default problem's config");

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = cli.exit(e);
    return rc == 0 ? exit_ok : exit_usage;
  }

  // MPI when a launcher started us (mpirun, srun); otherwise one process without MPI.
  std::unique_ptr<comm::mpi_session> mpi;
  comm::context_ptr world;
  try {
    if (comm::launched_by_mpi()) {
      mpi = std::make_unique<comm::mpi_session>(argc, argv);
      world = comm::make_mpi_context(MPI_COMM_WORLD);
    } else {
      world = comm::make_local_context();
    }
  } catch (const std::exception& e) {
    std::cerr << "cellfit: " << comm::describe(e) << "\n";
    return exit_failure;
  }
  cmp.plots = !no_plots;
  ident.plot = !ident_no_plot;
  fit.comm = world;
  sim.comm = world;
  cmp.comm = world;

  int code = exit_usage;
  try {
    if (config_cmd->parsed()) {
      if (world->rank() == 0) std::cout << default_config_text();
      code = exit_ok;
    } else if (features_cmd->parsed()) {
      // Host-only, and Kokkos would claim its --threads option.
      code = app::run_features(feat);
    } else if (compare_cmd->parsed() && print_compare_config) {
      if (!cmp.config.empty()) {
        throw usage_error(
            "cellfit::compare: --print-config prints the built-in problem; it takes no CONFIG");
      }
      if (world->rank() == 0) std::cout << app::compare_config_text();
      code = exit_ok;
    } else if (plot_cmd->parsed()) {
      code = app::run_plot(plot);  // host only: python3 draws
    } else if (import_cmd->parsed()) {
      code = app::run_import_bluepyopt(imp);
    } else {
      std::string device_arg;
      std::vector<char*> kargs = kokkos_arguments(argc, argv, *world, device_arg);
      int kargc = static_cast<int>(kargs.size()) - 1;
      Kokkos::ScopeGuard kokkos(kargc, kargs.data());
      if (simulate->parsed()) code = app::run_simulate(sim);
      if (info_cmd->parsed()) code = app::run_info(info);
      if (fit_cmd->parsed()) code = app::run_fit(fit);
      if (compare_cmd->parsed()) code = app::run_compare(cmp);
      // One process's work (the tangent-linear passes take seconds): rank 0 runs it, so a
      // launch under mpirun writes one file.
      if (ident_cmd->parsed())
        code = world->rank() == 0 ? app::run_identifiability(ident) : exit_ok;
    }
  } catch (const peer_error& e) {
    code = e.exit_code();  // agreed across ranks and already reported
  } catch (const std::exception& e) {
    code = exit_code_of(e);
    if (world->size() > 1) {
      // Not agreed: this rank alone failed outside a collective section. Stop every rank
      // rather than leave the others waiting.
      std::cerr << "cellfit: [rank " << world->rank() << "] " << comm::describe(e) << "\n";
      world.reset();
      fit.comm.reset();
      sim.comm.reset();
      cmp.comm.reset();
      comm::abort_world(code);
    }
    std::cerr << "cellfit: " << comm::describe(e) << "\n";
  }
  return code;
}
