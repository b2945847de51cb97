// Question: when the protocols of a fit differ in duration (BluePyOpt's L5PC: bAP 600 ms and
// three steps of 3000 ms), how much does simulate_batch's rule (group cells by duration when
// that costs fewer lane-steps, else pad every cell to the longest) save against padding?
//
// hh on tree184, N parameter sets x the L5PC's four durations (scaled by --scale), FP64.
// Runs the same cells three ways in one process, side by side: the rule as simulate_batch
// applies it, every protocol padded to the longest (all durations equal), and each duration
// group alone (the lower bound). Prints a table and writes CSV.

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <Kokkos_Core.hpp>

#include "bench_info.hpp"
#include "io/config.hpp"
#include "sim/batch_simulator.hpp"

namespace {

double seconds(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string config(int sets, double scale) {
  char text[2048];
  std::snprintf(text, sizeof text, R"(
[model]
morphology = "builtin:tree184"
[simulation]
dt_ms = 0.1
t_stop_ms = %g
record_sites = [0]
[batch]
vary = ["hh.gnabar"]
parameter_sets = %d
[[protocol]]
name = "bAP"
t_stop_ms = %g
[[protocol.stimulus]]
sites = "soma"
amplitude = 1.9
delay_ms = %g
duration_ms = %g
)",
                3000 * scale, sets, 600 * scale, 295 * scale, 5 * scale);
  std::string out = text;
  for (int k = 1; k <= 3; ++k) {
    std::snprintf(text, sizeof text,
                  "[[protocol]]\nname = \"Step%d\"\n[[protocol.stimulus]]\nsites = \"soma\"\n"
                  "amplitude = %g\ndelay_ms = %g\nduration_ms = %g\n",
                  k, 0.2 + 0.1 * k, 700 * scale, 2000 * scale);
    out += text;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Protocol durations: grouping by duration against padding"};
  std::string csv = "protocol_durations.csv";
  bool smoke = false;
  std::vector<int> set_counts = {1, 4, 32};
  app.add_option("--csv", csv, "CSV output");
  app.add_option("--sets", set_counts, "parameter sets (each x 4 protocols)");
  app.add_flag("--smoke", smoke, "tiny run for CTest (durations / 100)");
  CLI11_PARSE(app, argc, argv);
  Kokkos::ScopeGuard kokkos(argc, argv);
  const double scale = smoke ? 0.01 : 0.2;
  if (smoke) set_counts = {1, 8};

  std::printf("# protocol_durations: %s, commit %s, load %s\n", cellfit::bench::cpu_model().c_str(),
              cellfit::bench::run_command("git rev-parse --short HEAD 2>/dev/null").c_str(),
              cellfit::bench::load_average().c_str());
  std::printf("# tree184 hh FP64, dt 0.1 ms; protocols bAP %g ms, Step1-3 %g ms\n", 600 * scale,
              3000 * scale);
  std::printf("%5s %7s %8s %12s %12s %12s %9s %9s\n", "sets", "cells", "rule", "rule_s", "padded_s",
              "groups_s", "pad/rule", "cost_rat");
  std::ofstream out(csv);
  out << "sets,cells,rule,rule_s,padded_s,groups_s,padded_over_rule,padded_over_grouped_cost\n";
  for (int sets : set_counts) {
    const auto rc = cellfit::parse_config(config(sets, scale), "bench", {});
    auto padded = rc.stimuli;
    for (auto& x : padded) x.t_stop_ms = 0;
    const auto plan = cellfit::plan_durations(rc.sets.size(), rc.stimuli, rc.settings);
    const double t_rule =
        seconds([&] { cellfit::simulate_batch(rc.model, rc.sets, rc.stimuli, rc.settings); });
    const double t_pad =
        seconds([&] { cellfit::simulate_batch(rc.model, rc.sets, padded, rc.settings); });
    double t_groups = 0;
    for (const auto& g : plan.groups) {
      std::vector<cellfit::stimulus> sub;
      for (std::size_t k : g) sub.push_back(padded[k]);
      auto s = rc.settings;
      s.t_stop_ms = cellfit::stimulus_duration_ms(rc.stimuli[g.front()], rc.settings.t_stop_ms);
      t_groups += seconds([&] { cellfit::simulate_batch(rc.model, rc.sets, sub, s); });
    }
    const char* rule = plan.grouped() ? "grouped" : "padded";
    std::printf("%5d %7zu %8s %12.3f %12.3f %12.3f %9.2f %9.2f\n", sets, rc.sets.size() * 4, rule,
                t_rule, t_pad, t_groups, t_pad / t_rule, plan.padded_cost / plan.grouped_cost);
    out << sets << "," << rc.sets.size() * 4 << "," << rule << "," << t_rule << "," << t_pad << ","
        << t_groups << "," << t_pad / t_rule << "," << plan.padded_cost / plan.grouped_cost << "\n";
  }
  return 0;
}
