// Question: what does one generation's environmental selection cost, NSGA-II and IBEA, as
// the population grows (20 objectives, k = n/2 selected, one core)?
//
// Two kinds of objective matrices, seeded from cellfit's counter-based generator:
//   uniform:   every objective uniform in [0, 1) (no ties; with 20 objectives nearly every
//              individual is non-dominated: one or two fronts).
//   realistic: feature z-scores |N(0, 1)| x (0.5 + 5 q) with a per-individual quality q,
//              10% of features failed (penalty 250), 15% of individuals failed entirely
//              (every objective 250) and 5% exact copies of an earlier individual, as in a
//              GA population of electrophysiological feature fits: many ties.
// Times are the best of --repeats calls of select_nsga2 and select_ibea (iterative, the
// default, and truncate, BluePyOpt's one-shot reduction). Prints a table and writes CSV.
// bench/selection_peers.py times DEAP and BluePyOpt on the same matrices.
//
// --save-matrices DIR writes each matrix (same layout as IN below) for the peers script.
// Hidden mode for the validation test: selection_cost --dump IN OUT [--k K] [--kappa X]
// reads IN (uint64 n, uint64 m, n*m float64, little-endian) and writes OUT:
// uint64 n, uint64 k; NSGA-II selected[k] (uint64), front[n] (int64), crowding[n] (float64);
// IBEA iterative selected[k], fitness[n]; IBEA truncate selected[k], fitness[n].

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include <CLI/CLI.hpp>

#include "bench_info.hpp"
#include "common/error.hpp"
#include "common/rng.hpp"
#include "ga/selection.hpp"

namespace {

using cellfit::bench::cpu_model;
using cellfit::bench::run_command;

using cellfit::ga::objective_matrix;

objective_matrix uniform_matrix(std::size_t n, std::size_t m, std::uint64_t seed) {
  objective_matrix o{n, m, std::vector<double>(n * m)};
  for (std::size_t i = 0; i < n * m; ++i)
    o.values[i] = cellfit::uniform01(cellfit::counter_hash(seed, 1, i));
  return o;
}

objective_matrix realistic_matrix(std::size_t n, std::size_t m, std::uint64_t seed) {
  constexpr double penalty = 250.0;
  objective_matrix o{n, m, std::vector<double>(n * m)};
  for (std::size_t i = 0; i < n; ++i) {
    const auto draw = [&](std::uint64_t what) { return cellfit::counter_hash(seed, 2 + what, i); };
    double* row = &o.values[i * m];
    if (i > 0 && cellfit::uniform01(draw(0)) < 0.05) {
      const std::size_t src = cellfit::uniform_index(draw(1), 0, i);
      std::copy(&o.values[src * m], &o.values[src * m] + m, row);
      continue;
    }
    if (cellfit::uniform01(draw(2)) < 0.15) {
      std::fill(row, row + m, penalty);
      continue;
    }
    const double q = cellfit::uniform01(draw(3));
    for (std::size_t k = 0; k < m; ++k) {
      const std::uint64_t key = cellfit::counter_hash(seed, 100 + k, i);
      row[k] = cellfit::uniform01(key ^ 0x3c6ef372fe94f82bull) < 0.1
                   ? penalty
                   : std::abs(cellfit::normal01(key)) * (0.5 + 5.0 * q);
    }
  }
  return o;
}

template <class F>
double best_ms(int repeats, F&& f) {
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  return best;
}

std::vector<std::size_t> parse_sizes(const std::string& s) {
  std::vector<std::size_t> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) {
    if (item.empty()) continue;
    std::size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || v <= 0)
      throw cellfit::usage_error("cellfit::selection_cost: --sizes takes positive integers, not '" +
                                 item + "'");
    out.push_back(static_cast<std::size_t>(v));
  }
  return out;
}

template <class T>
void put(std::ofstream& out, const T& x) {
  out.write(reinterpret_cast<const char*>(&x), sizeof x);
}

void save_matrix(const objective_matrix& obj, const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  put(out, static_cast<std::uint64_t>(obj.n));
  put(out, static_cast<std::uint64_t>(obj.m));
  out.write(reinterpret_cast<const char*>(obj.values.data()),
            static_cast<std::streamsize>(obj.values.size() * sizeof(double)));
  if (!out) throw cellfit::io_error("cellfit::selection_cost: cannot write " + path);
}

// The validation test's entry point (see the top of this file).
int dump(const std::string& in_path, const std::string& out_path, long long k_arg, double kappa) {
  std::ifstream in(in_path, std::ios::binary);
  std::uint64_t n = 0, m = 0;
  in.read(reinterpret_cast<char*>(&n), sizeof n);
  in.read(reinterpret_cast<char*>(&m), sizeof m);
  objective_matrix obj{n, m, std::vector<double>(n * m)};
  in.read(reinterpret_cast<char*>(obj.values.data()),
          static_cast<std::streamsize>(obj.values.size() * sizeof(double)));
  if (!in) throw cellfit::io_error("cellfit::selection_cost: cannot read " + in_path);
  const std::size_t k = k_arg < 0 ? n / 2 : static_cast<std::size_t>(k_arg);

  const auto nsga = cellfit::ga::select_nsga2(obj, k);
  const auto it = cellfit::ga::select_ibea(obj, k, kappa, cellfit::ga::ibea_reduction::iterative);
  const auto tr = cellfit::ga::select_ibea(obj, k, kappa, cellfit::ga::ibea_reduction::truncate);
  std::ofstream out(out_path, std::ios::binary);
  put(out, n);
  put(out, static_cast<std::uint64_t>(k));
  for (std::size_t i : nsga.selected) put(out, static_cast<std::uint64_t>(i));
  for (int f : nsga.front) put(out, static_cast<std::int64_t>(f));
  for (double c : nsga.crowding) put(out, c);
  for (const auto* r : {&it, &tr}) {
    for (std::size_t i : r->selected) put(out, static_cast<std::uint64_t>(i));
    for (double f : r->fitness) put(out, f);
  }
  if (!out) throw cellfit::io_error("cellfit::selection_cost: cannot write " + out_path);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cellfit selection cost: NSGA-II and IBEA environmental selection, k = n/2"};
  std::string sizes_arg = "500,1000,2000,3000,4000,5000,6000", csv = "selection_cost.csv";
  std::size_t m = 20;
  int repeats = 5;
  double kappa = 0.05;
  std::uint64_t seed = 20240611;
  bool smoke = false;
  std::string save_dir;
  std::vector<std::string> dump_paths;
  long long dump_k = -1;
  app.add_option("--sizes", sizes_arg, "population sizes, comma separated");
  app.add_option("--objectives", m, "objectives per individual")->check(CLI::PositiveNumber);
  app.add_option("--repeats", repeats, "best of this many runs per timing")
      ->check(CLI::PositiveNumber);
  app.add_option("--kappa", kappa, "IBEA scaling factor");
  app.add_option("--seed", seed, "seed of the objective matrices");
  app.add_option("--csv", csv, "CSV output");
  app.add_flag("--smoke", smoke, "tiny run for CTest (n = 200, one repeat)");
  app.add_option("--save-matrices", save_dir,
                 "also write each matrix to DIR/<matrix>_<n>.bin (read by selection_peers.py)");
  app.add_option("--dump", dump_paths, "IN OUT: run every selection on IN, write OUT (tests)")
      ->expected(2)
      ->group("");
  app.add_option("--k", dump_k, "individuals to select with --dump (default n/2)")->group("");
  CLI11_PARSE(app, argc, argv);

  try {
    if (!dump_paths.empty()) return dump(dump_paths[0], dump_paths[1], dump_k, kappa);
    if (smoke) {
      sizes_arg = "200";
      repeats = 1;
    }
    const std::vector<std::size_t> sizes = parse_sizes(sizes_arg);

    char host[256] = "unknown";
    gethostname(host, sizeof host);
    const std::string commit =
        run_command("git -C '" CELLFIT_SOURCE_DIR "' rev-parse --short HEAD 2>/dev/null");
    std::printf(
        "# selection_cost: machine %s (%s), commit %s, one thread, %zu objectives, k = n/2, "
        "kappa %g, best of %d\n",
        host, cpu_model().c_str(), commit.empty() ? "unknown" : commit.c_str(), m, kappa, repeats);
    std::printf("%-10s %6s %6s %7s %10s %10s %10s\n", "matrix", "n", "k", "fronts", "nsga2_ms",
                "ibea_ms", "ibea_tr_ms");
    std::ofstream out(csv);
    out << "matrix,n,m,k,fronts,nsga2_ms,ibea_ms,ibea_truncate_ms,kappa,repeats,machine,cpu,"
           "commit\n";
    for (const char* kind : {"uniform", "realistic"}) {
      for (std::size_t n : sizes) {
        const objective_matrix obj = std::string(kind) == "uniform" ? uniform_matrix(n, m, seed)
                                                                    : realistic_matrix(n, m, seed);
        const std::size_t k = n / 2;
        if (!save_dir.empty())
          save_matrix(obj, save_dir + "/" + kind + "_" + std::to_string(n) + ".bin");
        cellfit::ga::nsga2_result nr;
        const double t_nsga = best_ms(repeats, [&] { nr = cellfit::ga::select_nsga2(obj, k); });
        const double t_ibea = best_ms(repeats, [&] { cellfit::ga::select_ibea(obj, k, kappa); });
        const double t_tr = best_ms(repeats, [&] {
          cellfit::ga::select_ibea(obj, k, kappa, cellfit::ga::ibea_reduction::truncate);
        });
        const int fronts = *std::max_element(nr.front.begin(), nr.front.end()) + 1;
        std::printf("%-10s %6zu %6zu %7d %10.2f %10.2f %10.2f\n", kind, n, k, fronts, t_nsga,
                    t_ibea, t_tr);
        out << kind << ',' << n << ',' << m << ',' << k << ',' << fronts << ',' << t_nsga << ','
            << t_ibea << ',' << t_tr << ',' << kappa << ',' << repeats << ",\"" << host << "\",\""
            << cpu_model() << "\"," << commit << '\n';
      }
    }
    std::printf("# ibea = iterative reduction (default), ibea_tr = truncate (BluePyOpt); CSV: %s\n",
                csv.c_str());
  } catch (const cellfit::error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
