#pragma once
// Multi-objective environmental selection for the genetic algorithm: NSGA-II (Deb et al.
// 2002, as DEAP's selNSGA2) and IBEA (Zitzler & Kuenzli 2004, fitness as BluePyOpt's
// selIBEA). Host code, single-threaded, blocking; the cost and the exact semantics
// (including where they differ from DEAP and BluePyOpt) are in docs/ga.md, "Selection".
//
// Every function is deterministic: ties are broken by the lower input index, which is kept.
// All objectives are minimised. Preconditions, checked (cellfit::error otherwise):
// values.size() == n * m, every value finite, k <= n.

#include <cstddef>
#include <vector>

namespace cellfit::ga {

// n individuals x m objectives, row-major, all minimised. Caller guarantees finite values
// (failed individuals already carry a large penalty).
struct objective_matrix {
  std::size_t n = 0, m = 0;
  std::vector<double> values;  // [n][m]
  double operator()(std::size_t i, std::size_t k) const { return values[i * m + k]; }
};

struct nsga2_result {
  std::vector<std::size_t> selected;  // k indices into the input, in selection order
  std::vector<int> front;             // [n] 0-based non-dominated front of each input individual
  std::vector<double> crowding;       // [n] crowding distance within its front (inf at the front's
                                      // boundaries)
};

// NSGA-II environmental selection of k <= n individuals (Deb et al. 2002, as DEAP selNSGA2
// with nd='standard'): whole fronts while they fit (each in index order), then the last front
// by crowding distance descending; ties broken by lower index, so the result is deterministic.
// Every individual gets its front and crowding distance, also those in fronts after the last
// one selected. Crowding distance is DEAP's formula operation for operation (sum over
// objectives of the neighbours' gap / (m x the front's range), inf for the first and last of
// the front in each objective), with DEAP's order among tied values in the first front, so
// equal to DEAP's bit for bit there; in a later front DEAP's tie order depends on how its
// sort reached the front, and this uses first occurrence (docs/ga.md). Where crowding
// distances tie at the cut DEAP keeps its list order and this keeps the lower index. Cost:
// O(m n + m n^2 / 512 + n F) for F fronts; about 8 ms at n = 6000, m = 20 (docs/ga.md).
nsga2_result select_nsga2(const objective_matrix& obj, std::size_t k);

// The 0-based non-dominated front of every individual (what select_nsga2 returns in
// `front`). Identical rows do not dominate each other and share a front.
std::vector<int> nondominated_fronts(const objective_matrix& obj);

// How IBEA reduces the population to k.
enum class ibea_reduction {
  // Zitzler & Kuenzli's environmental selection: remove the worst individual, update the
  // fitness of the others, repeat until k remain.
  iterative,
  // BluePyOpt's _environmental_selection: keep the k best by the fitness of the whole
  // population, computed once.
  truncate,
};

struct ibea_result {
  std::vector<std::size_t> selected;  // k survivors, sorted by index
  std::vector<double> fitness;        // [n] IBEA fitness after environmental selection (for
                                      // survivors; removed ones keep their value at removal).
                                      // LOWER IS BETTER (BluePyOpt's ibea_fitness sign).
};

// IBEA fitness of every individual: BluePyOpt's ibea_fitness, lower is better,
//   fitness(b) = sum over a != b of exp(-I(a, b) / (kappa c)),
// with I the additive epsilon indicator on objectives normalised to [0, 1] by the
// population's range per objective (an objective without range contributes 0), and c the
// largest |I|, which is 1 whenever some objective has a range (docs/ga.md proves it); when
// no objective has a range every fitness is 0. Zitzler & Kuenzli's F is the negative of
// this. Precondition: kappa >= 0.002 (the factors exp(+-1/(2 kappa)) must stay finite).
// Cost O(m n^2): about 27 ms at n = 6000, m = 20.
std::vector<double> ibea_fitness(const objective_matrix& obj, double kappa = 0.05);

// IBEA (Zitzler & Kuenzli 2004) with the additive epsilon indicator on objectives normalised
// to [0,1] per objective, as BluePyOpt's selIBEA computes it, scaling kappa (default 0.05).
// iterative: remove the worst one at a time and update the others until k remain; the
// normalisation and c stay those of the whole input, as in the paper. The worst is the
// highest fitness; among equal fitness the higher index goes first (the lower one is kept).
// Survivors get their fitness among the survivors. truncate: see
// ibea_reduction; fitness is then ibea_fitness() for everyone. Cost at n = 6000, m = 20,
// k = 3000: about 40 ms (iterative), 27 ms (truncate).
ibea_result select_ibea(const objective_matrix& obj, std::size_t k, double kappa = 0.05,
                        ibea_reduction reduction = ibea_reduction::iterative);

}  // namespace cellfit::ga
