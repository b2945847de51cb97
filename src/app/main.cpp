// cellfit: fit biophysical multi-compartment neuron models to voltage data.
// Entry point: parses the command line, runs a subcommand, maps errors to exit codes.

#include <cstdio>
#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>
#include <Kokkos_Core.hpp>

#include "app/commands.hpp"
#include "common/error.hpp"
#include "io/config.hpp"

namespace {

int report(const char* kind, const std::exception& e, int code) {
  std::cerr << "cellfit: " << kind << e.what() << "\n";
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace cellfit;
  CLI::App cli{"cellfit: fit biophysical multi-compartment neuron models to voltage data"};
  cli.require_subcommand(1);
  cli.set_version_flag("--version", "cellfit 0.1.0");

  app::simulate_options sim;
  auto* simulate = cli.add_subcommand(
      "simulate",
      "Simulate a batch of parameter sets x stimuli and write the voltage traces (HDF5).\n"
      "Without CONFIG runs the built-in default problem (ball-and-stick hh cell).");
  simulate->add_option("config", sim.config, "TOML config (docs/config.md)");
  simulate->add_option("--set", sim.overrides,
                       "Override a config value: section.key=value (repeatable)");
  simulate->add_option("--out", sim.out, "Output HDF5 file (default: output.file, sim.h5)");
  simulate->add_flag("--quiet,-q", sim.quiet, "No progress output");

  app::fit_options fit;
  auto* fit_cmd = cli.add_subcommand(
      "fit",
      "Fit the [[fit.parameter]]s of a model to target traces (synthetic or HDF5) and write\n"
      "the fit result (HDF5). Progress, one line per epoch, on stderr.");
  fit_cmd->add_option("config", fit.config, "TOML config with a [fit] section (docs/config.md)")
      ->required();
  fit_cmd->add_option("--engine", fit.engine, "gradient (default: the config's fit.engine)");
  fit_cmd->add_option("--set", fit.overrides,
                      "Override a config value: section.key=value (repeatable)");
  fit_cmd->add_option("--out", fit.out, "Output HDF5 file (default: fit.output, fit.h5)");
  fit_cmd->add_flag("--quiet,-q", fit.quiet, "No progress output");

  app::info_options info;
  auto* info_cmd = cli.add_subcommand(
      "info", "Describe a morphology: sections, compartments, total area, regions.");
  info_cmd
      ->add_option("morphology", info.morphology,
                   "SWC file or builtin:ball_and_stick|chain6|tree184|random_tree:N[:SEED]")
      ->required();
  info_cmd->add_option("--nseg", info.nseg, "Segments per section (default: the morphology's)");
  info_cmd->add_option("--max-compartment-um", info.max_compartment_um,
                       "Split sections into compartments no longer than this");
  info_cmd->add_option("--ra", info.ra, "Axial resistivity, ohm cm (default 35.4)");
  info_cmd->add_option("--export-swc", info.swc_out,
                       "Also write the morphology as SWC (three-point soma) to this file");

  app::features_options feat;
  auto* features_cmd = cli.add_subcommand(
      "features",
      "eFEL features (eFEL 5.7 definitions and defaults) of the traces of a `cellfit simulate`\n"
      "output: a table on stdout (one row per cell, the mean of each feature's values) and\n"
      "optionally HDF5. docs/features.md lists the features.");
  features_cmd->add_option("traces", feat.traces, "HDF5 file written by cellfit simulate")
      ->required();
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
  features_cmd->add_option("--site", feat.site, "Recorded site (index into /traces/sites; 0)");
  features_cmd->add_option("--threshold", feat.threshold_mv, "Spike threshold, mV (-20)");
  features_cmd->add_option("--derivative-threshold", feat.derivative_threshold,
                           "dV/dt threshold for AP onsets, mV/ms (10)");
  features_cmd->add_option("--out", feat.out, "Also write the features to this HDF5 file");
  features_cmd->add_option("--threads", feat.threads, "Host threads (0: all cores)");

  auto* config_cmd =
      cli.add_subcommand("default-config", "Print the built-in default problem's config");

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = cli.exit(e);
    return rc == 0 ? exit_ok : exit_usage;
  }

  try {
    if (config_cmd->parsed()) {
      std::cout << default_config_text();
      return exit_ok;
    }
    // Host-only, and Kokkos would claim its --threads option.
    if (features_cmd->parsed()) return app::run_features(feat);
    Kokkos::ScopeGuard kokkos(argc, argv);
    if (simulate->parsed()) return app::run_simulate(sim);
    if (info_cmd->parsed()) return app::run_info(info);
    if (fit_cmd->parsed()) return app::run_fit(fit);
  } catch (const usage_error& e) {
    return report("usage error: ", e, exit_usage);
  } catch (const config_error& e) {
    return report("config error: ", e, exit_config);
  } catch (const morphology_error& e) {
    return report("morphology error: ", e, exit_morphology);
  } catch (const io_error& e) {
    return report("I/O error: ", e, exit_io);
  } catch (const error& e) {
    return report("error: ", e, exit_failure);
  } catch (const std::exception& e) {
    return report("internal error (please report): ", e, exit_internal);
  }
  return exit_usage;
}
