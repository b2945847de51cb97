// Question: what does the mechanism catalogue cost per compartment-step on one core: the
// L5PC channel set (translated from mechanisms/l5pc/*.mod) next to NEURON running the same
// .mod files compiled by nrnivmodl, and the generated hh (mechanisms/builtin/hh_nmodl.mod)
// next to the hand-written hh, side by side in one run on the same machine?
//
// Mechanism sets (bench/mechanism_sets.hpp): l5pc (BluePyOpt's L5PC distribution by region,
// celsius 34), hh (hand-written) and hh_nmodl (generated; ena 50, ek -77 through the ions).
// Morphologies: tree184 exported to SWC and read by both simulators through their own SWC
// readers, as is (184 compartments) and with max_compartment_um 16 (722 compartments).
// cellfit simulates `batch` copies of the cell (a step at the middle of the soma that makes
// it fire) in FP64 and FP32, built from a TOML text through the config reader; NEURON
// (bench/neuron_throughput.py, with the same [model] text) simulates one cell, fixed step,
// on one thread. Repeats run the sets of a row alternately and keep each one's fastest
// run. Timings are kernel-only for cellfit (setup excluded) and finitialize..tstop for
// NEURON (cell building excluded). Prints a table and writes CSV: ratio = cellfit / NEURON
// (one cell), vs_hh = this set / hh at the same row.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <Kokkos_Core.hpp>

#include "bench_info.hpp"
#include "io/config.hpp"
#include "mechanism_sets.hpp"
#include "model/cable_geometry.hpp"
#include "model/morphology.hpp"
#include "sim/batch_simulator.hpp"

namespace {

namespace fs = std::filesystem;
using cellfit::bench::cpu_model;
using cellfit::bench::load_average;
using cellfit::bench::run_command;

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

std::string shell_quote(const std::string& s) { return "'" + s + "'"; }

struct morph_case {
  std::string name;
  double max_compartment_um;
};

morph_case morph_of(const std::string& name) {
  if (name == "tree184") return {name, 0.0};
  if (name == "tree184_16um") return {name, 16.0};
  throw std::invalid_argument("unknown morphology " + name + " (tree184, tree184_16um)");
}

// The config of one run: the set's [model] table, the simulation and a step at `site`.
std::string config_text(const std::string& set, const std::string& swc, double max_um, double dt,
                        double t_stop, const std::string& prec, int batch, int site, double amp,
                        double delay) {
  std::ostringstream t;
  t << cellfit::bench::model_toml(set, swc, max_um) << "[simulation]\ndt_ms = " << dt
    << "\nt_stop_ms = " << t_stop << "\nrecord_sites = [" << site << "]\nprecision = \"" << prec
    << "\"\n[batch]\nparameter_sets = " << batch << "\n[[stimulus]]\nsites = [" << site
    << "]\namplitude = " << amp << "\ndelay_ms = " << delay << "\n";
  return t.str();
}

// The soma compartment nearest the middle of the soma (NEURON's soma(0.5)).
int soma_middle(const cellfit::cable_geometry& g) {
  int best = 0;
  double dist = 1e300;
  for (int c : cellfit::compartments_in_region(g, "soma")) {
    const double d =
        std::abs(g.x[static_cast<std::size_t>(g.node_of[static_cast<std::size_t>(c)])] - 0.5);
    if (d < dist) {
      dist = d;
      best = c;
    }
  }
  return best;
}

int count_spikes(const std::vector<double>& v, std::size_t n) {
  int k = 0;
  for (std::size_t i = 1; i < n; ++i) k += (v[i - 1] < -20.0 && v[i] >= -20.0) ? 1 : 0;
  return k;
}

// nrnivmodl on the .mod files the sets need, in `dir` (reused while it is newer than every
// .mod file). Returns the path of libnrnmech.so, "" on failure.
std::string compile_nrnmech(const std::string& src, const std::string& dir) {
  std::vector<fs::path> mods;
  for (const char* sub : {"mechanisms/l5pc", "mechanisms/builtin"}) {
    for (const auto& e : fs::directory_iterator(fs::path(src) / sub)) {
      if (e.path().extension() == ".mod") mods.push_back(e.path());
    }
  }
  const fs::path lib = fs::path(dir) / "x86_64" / "libnrnmech.so";
  bool fresh = fs::exists(lib);
  for (const auto& m : mods) {
    if (fresh && fs::last_write_time(m) > fs::last_write_time(lib)) fresh = false;
  }
  if (fresh) return lib.string();
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".mod") fs::remove(e.path());
  }
  for (const auto& m : mods) fs::copy_file(m, fs::path(dir) / m.filename());
  std::printf("# compiling %zu .mod files with nrnivmodl in %s ...\n", mods.size(), dir.c_str());
  std::fflush(stdout);
  run_command("cd " + shell_quote(dir) + " && nrnivmodl > nrnivmodl.log 2>&1");
  if (!fs::exists(lib)) {
    std::fprintf(stderr, "mechanism_throughput: nrnivmodl failed, see %s/nrnivmodl.log\n",
                 dir.c_str());
    return "";
  }
  return lib.string();
}

struct neuron_run {
  double seconds = 0, rate = 0;
  int compartments = 0, spikes = -1;
};

struct timing {
  double seconds = 1e300;
  int spikes = -1;
  std::size_t failed = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "cellfit mechanism catalogue throughput: L5PC set vs NEURON, generated vs hand-written hh "
      "(compartment-steps per second, one core)"};
  std::string sets_opt = "l5pc,hh,hh_nmodl", morphs = "tree184,tree184_16um";
  std::string batches = "1,8,64,1024", precs = "fp64,fp32";
  double t_stop = 50.0, dt = 0.025, delay = 1.0, max_csteps = 2e8, min_t_stop = 10.0;
  int repeats = 2, neuron_repeats = 10;
  std::string csv = "mechanism_throughput.csv", python = "python3";
  std::string nrnmech_dir = "mechanism_throughput_nrnmech";
  bool no_neuron = false, smoke = false;
  app.add_option("--sets", sets_opt,
                 "mechanism sets: l5pc, hh, hh_nmodl; pas, mech:NAME (pas + NAME everywhere)");
  app.add_option("--morphologies", morphs, "tree184 (184 compartments), tree184_16um (722)");
  app.add_option("--batches", batches, "comma-separated batch sizes (cells)");
  app.add_option("--precisions", precs, "fp64,fp32");
  app.add_option("--t-stop-ms", t_stop,
                 "simulated time per cell (NEURON, and cellfit rows "
                 "within --max-csteps)");
  app.add_option("--max-csteps", max_csteps,
                 "cellfit rows with more compartment-steps than this simulate less time")
      ->check(CLI::PositiveNumber);
  app.add_option("--min-t-stop-ms", min_t_stop, "but never less than this")
      ->check(CLI::PositiveNumber);
  app.add_option("--dt-ms", dt, "time step")->check(CLI::PositiveNumber);
  app.add_option("--delay-ms", delay, "start of the somatic step");
  app.add_option("--repeats", repeats, "cellfit: best of this many runs per row and set")
      ->check(CLI::PositiveNumber);
  app.add_option("--neuron-repeats", neuron_repeats, "NEURON: best of this many runs")
      ->check(CLI::PositiveNumber);
  app.add_option("--csv", csv, "CSV output");
  app.add_option("--python", python, "Python with the neuron package");
  app.add_option("--nrnmech-dir", nrnmech_dir,
                 "where nrnivmodl compiles the .mod files (reused while newer than them)");
  app.add_flag("--no-neuron", no_neuron, "skip the NEURON runs");
  app.add_flag("--smoke", smoke, "tiny run for CTest (tree184, batches 1,8, 2 ms, one repeat)");
  CLI11_PARSE(app, argc, argv);
  if (smoke) {
    morphs = "tree184";
    batches = "1,8";
    t_stop = 2.0;
    min_t_stop = 2.0;
    repeats = neuron_repeats = 1;
  }
  const std::vector<std::string> sets = split(sets_opt);
  for (const auto& s : sets) {
    if (!cellfit::bench::known_mechanism_set(s)) {
      std::fprintf(stderr,
                   "mechanism_throughput: unknown set %s (l5pc, hh, hh_nmodl, pas, mech:NAME)\n",
                   s.c_str());
      return 2;
    }
  }
  Kokkos::ScopeGuard kokkos(argc, argv);

  const std::string src = CELLFIT_SOURCE_DIR;
  const std::string commit = run_command("git -C '" + src + "' rev-parse --short HEAD 2>/dev/null");
  const std::string neuron_script = src + "/bench/neuron_throughput.py";
  char host[256] = "unknown";
  gethostname(host, sizeof host);
  std::printf(
      "# mechanism_throughput: machine %s (%s), commit %s, Kokkos %s, one thread, load %s\n", host,
      cpu_model().c_str(), commit.empty() ? "unknown" : commit.c_str(),
      Kokkos::DefaultExecutionSpace::name(), load_average().c_str());
  std::printf(
      "# dt %.4g ms, %.4g ms per cell (cellfit rows above %.3g compartment-steps: less, "
      ">= %.4g ms), step from %.4g ms at the soma (l5pc %.3g nA, hh %.3g nA); cellfit best "
      "of %d, NEURON (one cell) best of %d\n",
      dt, t_stop, max_csteps, min_t_stop, delay, cellfit::bench::default_amplitude_na("l5pc"),
      cellfit::bench::default_amplitude_na("hh"), repeats, neuron_repeats);

  int status = 0;
  std::string nrnmech;
  const bool needs_lib =
      std::any_of(sets.begin(), sets.end(), [](const std::string& s) { return s != "hh"; });
  if (!no_neuron && needs_lib) {
    nrnmech = compile_nrnmech(src, nrnmech_dir);
    if (nrnmech.empty()) status = 1;
  }

  std::printf("%-9s %-13s %5s %5s %5s %6s %10s %12s %6s %12s %6s %8s %7s\n", "set", "morphology",
              "comps", "batch", "prec", "ms", "cellfit_s", "cellfit_cs/s", "spikes", "neuron_cs/s",
              "n_spk", "ratio", "vs_hh");
  std::ofstream out(csv);
  out << "set,morphology,compartments,batch,precision,steps,t_stop_ms,cellfit_seconds,"
         "cellfit_cstep_per_s,spikes,neuron_seconds,neuron_cstep_per_s,neuron_spikes,ratio,"
         "vs_hh,machine,commit\n";

  // Both simulators read the same SWC file through their own readers.
  const std::string swc = "mechanism_throughput_tree184.swc";
  cellfit::write_swc(cellfit::load_morphology("builtin:tree184"), swc);

  try {
    for (const std::string& mname : split(morphs)) {
      const morph_case mc = morph_of(mname);
      // NEURON, one cell per set, with the [model] text cellfit reads.
      std::map<std::string, neuron_run> neuron;
      std::map<std::string, int> site_of, ncomp_of;
      for (const auto& set : sets) {
        const auto rc0 = cellfit::parse_config(
            config_text(set, swc, mc.max_compartment_um, dt, t_stop, "fp64", 1, 0, 0.0, delay),
            "mechanism_throughput", {});
        site_of[set] = soma_middle(rc0.model.geom);
        ncomp_of[set] = rc0.model.geom.n_compartments();
        if (no_neuron || (set != "hh" && nrnmech.empty())) continue;
        const std::string model_file = "mechanism_throughput_" + set + "_" + mname + ".toml";
        std::ofstream(model_file) << cellfit::bench::model_toml(set, swc, mc.max_compartment_um);
        std::ostringstream cmd;
        cmd << python << " " << shell_quote(neuron_script) << " " << shell_quote(swc) << " 1 "
            << t_stop << " " << dt << " " << cellfit::bench::default_amplitude_na(set)
            << " --delay-ms " << delay << " --repeats " << neuron_repeats << " --config "
            << shell_quote(model_file);
        if (set != "hh") cmd << " --nrnmech " << shell_quote(nrnmech);
        cmd << " 2>/dev/null";
        std::istringstream res(run_command(cmd.str()));
        std::string last, line;
        while (std::getline(res, line)) last = line;
        neuron_run nr;
        double nsteps = 0;
        std::istringstream fields(last);
        if (fields >> nr.seconds >> nr.compartments >> nsteps >> nr.spikes && nr.seconds > 0) {
          nr.rate = nr.compartments * nsteps / nr.seconds;
          if (nr.compartments != ncomp_of[set]) {
            std::fprintf(stderr, "mechanism_throughput: NEURON has %d compartments, cellfit %d\n",
                         nr.compartments, ncomp_of[set]);
            status = 1;
          }
        } else {
          std::fprintf(stderr, "mechanism_throughput: NEURON run failed (%s)\n", cmd.str().c_str());
          status = 1;
        }
        neuron[set] = nr;
      }

      for (const std::string& b : split(batches)) {
        const int batch = std::stoi(b);
        for (const std::string& prec : split(precs)) {
          // The sets of a row alternate within each repeat (the machine's load drifts).
          std::map<std::string, timing> best;
          std::map<std::string, int> steps_of;
          std::map<std::string, cellfit::run_config> rcs;
          for (const auto& set : sets) {
            const int full = static_cast<int>(std::llround(t_stop / dt));
            const int floor_steps = std::min(full, static_cast<int>(std::llround(min_t_stop / dt)));
            const double per_step = static_cast<double>(batch) * ncomp_of[set];
            const int steps =
                std::max(floor_steps, std::min(full, static_cast<int>(max_csteps / per_step)));
            steps_of[set] = steps;
            rcs.emplace(set, cellfit::parse_config(
                                 config_text(set, swc, mc.max_compartment_um, dt, steps * dt, prec,
                                             batch, site_of[set],
                                             cellfit::bench::default_amplitude_na(set), delay),
                                 "mechanism_throughput", {}));
          }
          for (int r = 0; r < repeats; ++r) {
            for (const auto& set : sets) {
              const auto& rc = rcs.at(set);
              const auto res = cellfit::simulate_batch(rc.model, rc.sets, rc.stimuli, rc.settings);
              timing& t = best[set];
              if (res.kernel_seconds < t.seconds) t.seconds = res.kernel_seconds;
              t.spikes = count_spikes(res.voltage, res.n_samples);
              t.failed = std::max(t.failed, res.n_failed());
            }
          }
          for (const auto& set : sets) {
            const timing& t = best[set];
            const double cs = static_cast<double>(batch) * ncomp_of[set] * steps_of[set];
            const double rate = cs / t.seconds;
            const neuron_run nr = neuron.count(set) ? neuron[set] : neuron_run{};
            const double ratio = nr.rate > 0 ? rate / nr.rate : 0.0;
            double vs_hh = 0;
            if (best.count("hh")) {
              const double hh_rate =
                  static_cast<double>(batch) * ncomp_of["hh"] * steps_of["hh"] / best["hh"].seconds;
              vs_hh = rate / hh_rate;
            }
            std::printf("%-9s %-13s %5d %5d %5s %6.4g %10.4f %12.4g %6d %12.4g %6d %8.2f %7.3f\n",
                        set.c_str(), mname.c_str(), ncomp_of[set], batch, prec.c_str(),
                        steps_of[set] * dt, t.seconds, rate, t.spikes, nr.rate, nr.spikes, ratio,
                        vs_hh);
            std::fflush(stdout);
            out << set << ',' << mname << ',' << ncomp_of[set] << ',' << batch << ',' << prec << ','
                << steps_of[set] << ',' << steps_of[set] * dt << ',' << t.seconds << ',' << rate
                << ',' << t.spikes << ',' << nr.seconds << ',' << nr.rate << ',' << nr.spikes << ','
                << ratio << ',' << vs_hh << ",\"" << cpu_model() << "\"," << commit << '\n';
            if (t.failed != 0) {
              std::fprintf(stderr, "mechanism_throughput: %zu cells diverged\n", t.failed);
              status = 1;
            }
          }
        }
      }
    }
  } catch (const std::exception& e) {  // a config the reader refuses, an unknown morphology
    std::fprintf(stderr, "mechanism_throughput: %s\n", e.what());
    return 2;
  }
  std::printf(
      "# cs/s = compartment-steps per second; ratio = cellfit (batch) / NEURON (one cell); "
      "vs_hh = set / hh at the same row; spikes at the soma of cell 0; load now %s\n",
      load_average().c_str());
  std::printf("# wrote %s\n", csv.c_str());
  return status;
}
