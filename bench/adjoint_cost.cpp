// Question: what does one exact gradient cost, as a multiple of a forward simulation of
// the same batch on the same machine in the same run, with the whole trajectory stored and
// with checkpointing (about sqrt(n_steps) steps per segment)?
//
// Problems (batch 100 cells each): paper 000's toy (jk on chain6, 100 random_steps
// stimuli, 5 ms at dt 0.1), its 184-compartment test cell (jk on tree184 in point mode,
// stimulated at every 18th compartment, all recorded), the hh cable tree184 (50 ms at
// dt 0.025, a somatic step, 4 sites recorded: long trajectories) and the same cable with the
// L5PC channel set translated from NMODL (bench/mechanism_sets.hpp: 12 mechanisms by
// region, calcium dynamics, celsius 34; 50 ms at dt 0.025, a 1 nA somatic step that makes
// it fire, 4 sites recorded). Forward = the forward kernel of `cellfit simulate`; gradient =
// forward pass + backward pass of the adjoint (setup and the host loss excluded from both).
// Prints a table and writes CSV; --problems picks some.

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <Kokkos_Core.hpp>

#include "bench_info.hpp"
#include "io/config.hpp"
#include "mechanism_sets.hpp"
#include "sim/batch_simulator.hpp"
#include "sim/gradient.hpp"

namespace {

using cellfit::bench::cpu_model;
using cellfit::bench::run_command;

struct problem {
  std::string name;
  std::string toml;
};

// The L5PC set on tree184: 100 parameter sets drawn around the set's conductances (one
// factor per compartment), 50 ms.
std::string l5pc_tree184_toml() {
  std::ostringstream t;
  t << cellfit::bench::model_toml("l5pc", "builtin:tree184") << R"(
[simulation]
dt_ms = 0.025
t_stop_ms = 50.0
record_sites = [0, 50, 100, -1]
[batch]
parameter_sets = 100
vary = ["NaTs2_t.gNaTs2_tbar", "SKv3_1.gSKv3_1bar", "Ih.gIhbar"]
per_compartment = true
seed = 7
[[stimulus]]
type = "step"
sites = "soma"
amplitude = 1.0
delay_ms = 5.0
duration_ms = 40.0
)";
  return t.str();
}

const problem problems[] = {
    {"toy_jk_chain6", R"(
[model]
morphology = "builtin:chain6"
axial_weight = 0.5
[simulation]
dt_ms = 0.1
t_stop_ms = 5.0
[[stimulus]]
type = "random_steps"
every = "all"
i_max = 20
count = 100
seed = 20230619
)"},
    {"test_jk_tree184", R"(
[model]
morphology = "builtin:tree184"
mode = "point"
axial_weight = 0.01
[model.mechanisms.jk]
regions = "all"
[simulation]
dt_ms = 0.1
t_stop_ms = 5.0
[[stimulus]]
type = "random_steps"
sites = [0, 18, 36, 54, 72, 90, 108, 126, 144, 162, 180]
i_max = 10
count = 100
seed = 20230619
)"},
    {"hh_tree184_50ms", R"(
[model]
morphology = "builtin:tree184"
[simulation]
dt_ms = 0.025
t_stop_ms = 50.0
record_sites = [0, 50, 100, -1]
[batch]
parameter_sets = 100
vary = ["hh.gnabar", "hh.gkbar"]
per_compartment = true
seed = 7
[[stimulus]]
type = "step"
sites = "soma"
amplitude = 0.3
delay_ms = 5.0
duration_ms = 40.0
)"},
    {"l5pc_tree184_50ms", l5pc_tree184_toml()},
};

template <class F>
double best_of(int repeats, F&& f) {
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) best = std::min(best, f());
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cellfit gradient cost: (forward + adjoint) / forward, batch of 100 cells"};
  std::string csv = "adjoint_cost.csv";
  std::string which;
  int repeats = 3;
  bool smoke = false;
  app.add_option("--csv", csv, "CSV output");
  app.add_option("--repeats", repeats, "best of this many runs per timing")
      ->check(CLI::PositiveNumber);
  app.add_option("--problems", which,
                 "comma-separated subset of toy_jk_chain6, test_jk_tree184, hh_tree184_50ms, "
                 "l5pc_tree184_50ms (default: all)");
  app.add_flag("--smoke", smoke,
               "tiny run for CTest (toy problem, and l5pc_tree184 for 1 ms and 10 cells; one "
               "repeat)");
  CLI11_PARSE(app, argc, argv);
  if (smoke) repeats = 1;

  Kokkos::ScopeGuard kokkos(argc, argv);
  char host[256] = "unknown";
  gethostname(host, sizeof host);
  const std::string commit =
      run_command("git -C '" CELLFIT_SOURCE_DIR "' rev-parse --short HEAD 2>/dev/null");
  std::printf(
      "# adjoint_cost: machine %s (%s), commit %s, Kokkos %s, %d thread(s), best of %d, load %s\n",
      host, cpu_model().c_str(), commit.empty() ? "unknown" : commit.c_str(),
      Kokkos::DefaultExecutionSpace::name(), Kokkos::DefaultExecutionSpace().concurrency(), repeats,
      cellfit::bench::load_average().c_str());
  std::printf("%-17s %5s %6s %6s %10s %10s %10s %8s %6s %12s\n", "problem", "cells", "steps", "K",
              "forward_s", "adj_fwd_s", "adj_bwd_s", "ratio", "segs", "traj_MB");
  std::ofstream out(csv);
  out << "problem,cells,steps,checkpoint_every,segments,forward_s,adjoint_forward_s,"
         "adjoint_backward_s,ratio,trajectory_bytes,peak_bytes,machine,commit\n";
  for (const auto& p : problems) {
    if (smoke && p.name != "toy_jk_chain6" && p.name != "l5pc_tree184_50ms") continue;
    if (!which.empty() && ("," + which + ",").find("," + p.name + ",") == std::string::npos) {
      continue;
    }
    auto rc = cellfit::parse_config(p.toml, p.name, {});
    if (smoke && p.name == "toy_jk_chain6") rc.stimuli.resize(10);
    if (smoke && p.name == "l5pc_tree184_50ms") {
      rc.sets.resize(10);
      rc.settings.t_stop_ms = 1.0;
    }
    const std::size_t cells = rc.sets.size() * rc.stimuli.size();
    const auto fwd = cellfit::simulate_batch(rc.model, rc.sets, rc.stimuli, rc.settings);
    const double t_fwd = best_of(repeats, [&] {
      return cellfit::simulate_batch(rc.model, rc.sets, rc.stimuli, rc.settings).kernel_seconds;
    });
    // Target: the traces of the batch shifted by 1 mV (any target gives the same cost).
    std::vector<double> target = fwd.voltage;
    for (double& v : target) v += 1.0;
    const int n_steps = rc.settings.n_steps();
    const int sqrt_k = std::max(1, static_cast<int>(std::lround(std::sqrt(double(n_steps)))));
    for (int K : {n_steps, sqrt_k}) {
      cellfit::adjoint_options opt;
      opt.checkpoint_every = K;
      cellfit::gradient_result g;
      double af = 1e300, ab = 1e300;
      for (int r = 0; r < repeats; ++r) {
        g = cellfit::loss_gradient(rc.model, rc.sets, rc.stimuli, rc.settings, target, opt);
        if (g.forward_seconds + g.backward_seconds < af + ab) {
          af = g.forward_seconds;
          ab = g.backward_seconds;
        }
      }
      const double ratio = (af + ab) / t_fwd;
      std::printf("%-17s %5zu %6d %6d %10.4f %10.4f %10.4f %7.2fx %6d %12.2f\n", p.name.c_str(),
                  cells, n_steps, K, t_fwd, af, ab, ratio, g.n_segments, g.trajectory_bytes / 1e6);
      out << p.name << ',' << cells << ',' << n_steps << ',' << K << ',' << g.n_segments << ','
          << t_fwd << ',' << af << ',' << ab << ',' << ratio << ',' << g.trajectory_bytes << ','
          << g.peak_bytes << ",\"" << host << "\"," << commit << '\n';
    }
  }
  std::printf("# ratio = (adjoint forward + backward kernel time) / forward kernel time; CSV: %s\n",
              csv.c_str());
  return 0;
}
