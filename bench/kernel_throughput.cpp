// Question: how many compartment-steps per second does one core of cellfit's batched hh
// simulator deliver, next to NEURON running the same model, dt, duration and number of
// cells on the same machine in the same run?
//
// For each morphology (tree184 exported to SWC and read by both simulators through their
// own SWC readers; ball_and_stick built by both from the same numbers), batch size and
// precision, cellfit simulates `batch` copies of the cell (hh everywhere, a step at the
// soma) and NEURON simulates the same number of cells on one thread (bench/neuron_
// throughput.py). Prints a table and writes CSV. Timings are kernel-only for cellfit
// (setup excluded) and finitialize..tstop for NEURON (cell building excluded).

#include <array>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <Kokkos_Core.hpp>

#include "bench_info.hpp"
#include "io/config.hpp"
#include "model/morphology.hpp"
#include "sim/batch_simulator.hpp"

namespace {

using cellfit::bench::cpu_model;
using cellfit::bench::run_command;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cellfit kernel throughput vs NEURON (compartment-steps per second, one core)"};
  std::string morphs = "tree184,ball_and_stick", batches = "1,8,64,256,1024", precs = "fp64,fp32";
  double t_stop = 50.0, dt = 0.025;
  std::string csv = "kernel_throughput.csv", python = "python3";
  bool no_neuron = false, smoke = false;
  app.add_option("--morphologies", morphs, "tree184,ball_and_stick");
  app.add_option("--batches", batches, "comma-separated batch sizes (cells)");
  app.add_option("--precisions", precs, "fp64,fp32");
  app.add_option("--t-stop-ms", t_stop, "simulated time per cell");
  app.add_option("--dt-ms", dt, "time step");
  app.add_option("--csv", csv, "CSV output");
  app.add_option("--python", python, "Python with the neuron package");
  app.add_flag("--no-neuron", no_neuron, "skip the NEURON runs");
  app.add_flag("--smoke", smoke, "tiny run for CTest (batches 1,40; 2 ms)");
  CLI11_PARSE(app, argc, argv);
  if (smoke) {
    batches = "1,40";
    t_stop = 2.0;
  }
  Kokkos::ScopeGuard kokkos(argc, argv);

  const std::string src = CELLFIT_SOURCE_DIR;
  const std::string commit =
      trim(run_command("git -C '" + src + "' rev-parse --short HEAD 2>/dev/null"));
  const std::string neuron_script = src + "/bench/neuron_throughput.py";
  char host[256] = "unknown";
  gethostname(host, sizeof host);
  std::printf("# kernel_throughput: machine %s (%s), commit %s, Kokkos %s, one thread\n", host,
              cpu_model().c_str(), commit.empty() ? "unknown" : commit.c_str(),
              Kokkos::DefaultExecutionSpace::name());
  std::printf(
      "# hh everywhere, dt %.4g ms, %.4g ms per cell, step 0.5 nA (tree184: 2 nA) at the soma\n",
      dt, t_stop);
  std::printf("%-15s %6s %5s %6s %12s %14s %14s %8s\n", "morphology", "batch", "prec", "comps",
              "cellfit_s", "cellfit_cs/s", "neuron_cs/s", "ratio");

  std::ofstream out(csv);
  out << "morphology,batch,precision,compartments,steps,cellfit_seconds,cellfit_cstep_per_s,"
         "neuron_seconds,neuron_cstep_per_s,ratio,machine,commit\n";
  int status = 0;
  for (const std::string& morph : split(morphs)) {
    std::string morph_spec = "builtin:" + morph, neuron_morph = morph;
    double amp = 0.5;
    if (morph == "tree184") {
      // Both simulators read the same SWC file through their own readers.
      const std::string swc = "kernel_throughput_tree184.swc";
      cellfit::write_swc(cellfit::load_morphology("builtin:tree184"), swc);
      morph_spec = swc;
      neuron_morph = swc;
      amp = 2.0;
    } else if (morph != "ball_and_stick") {
      std::fprintf(stderr, "kernel_throughput: unknown morphology %s\n", morph.c_str());
      return 2;
    }
    for (const std::string& b : split(batches)) {
      const int batch = std::stoi(b);
      double neuron_rate = 0, neuron_s = 0;
      if (!no_neuron) {
        std::ostringstream cmd;
        cmd << python << " '" << neuron_script << "' '" << neuron_morph << "' " << batch << " "
            << t_stop << " " << dt << " " << amp << " 2>/dev/null";
        std::istringstream res(run_command(cmd.str()));
        std::string last, line;
        while (std::getline(res, line)) last = line;
        double ncomp = 0, nsteps = 0;
        std::istringstream fields(last);
        if (fields >> neuron_s >> ncomp >> nsteps && neuron_s > 0) {
          neuron_rate = ncomp * nsteps / neuron_s;
        } else {
          std::fprintf(stderr, "kernel_throughput: NEURON run failed (%s)\n", cmd.str().c_str());
          status = 1;
        }
      }
      for (const std::string& prec : split(precs)) {
        std::ostringstream text;
        text << "[model]\nmorphology = \"" << morph_spec << "\"\n"
             << "[simulation]\ndt_ms = " << dt << "\nt_stop_ms = " << t_stop
             << "\nrecord_sites = [0]\nprecision = \"" << prec << "\"\n"
             << "[batch]\nparameter_sets = " << batch << "\n"
             << "[[stimulus]]\nsites = [0]\namplitude = " << amp << "\ndelay_ms = 1.0\n";
        const auto rc = cellfit::parse_config(text.str(), "kernel_throughput", {});
        const auto r = cellfit::simulate_batch(rc.model, rc.sets, rc.stimuli, rc.settings);
        const double ncomp = rc.model.geom.n_compartments();
        const double cs = static_cast<double>(batch) * ncomp * rc.settings.n_steps();
        const double rate = cs / r.kernel_seconds;
        const double ratio = neuron_rate > 0 ? rate / neuron_rate : 0.0;
        std::printf("%-15s %6d %5s %6.0f %12.4f %14.4g %14.4g %8.2f\n", morph.c_str(), batch,
                    prec.c_str(), ncomp, r.kernel_seconds, rate, neuron_rate, ratio);
        out << morph << "," << batch << "," << prec << "," << ncomp << "," << rc.settings.n_steps()
            << "," << r.kernel_seconds << "," << rate << "," << neuron_s << "," << neuron_rate
            << "," << ratio << ",\"" << cpu_model() << "\"," << commit << "\n";
        if (r.n_failed() != 0) {
          std::fprintf(stderr, "kernel_throughput: %zu cells diverged\n", r.n_failed());
          status = 1;
        }
      }
    }
  }
  std::printf("# wrote %s\n", csv.c_str());
  return status;
}
