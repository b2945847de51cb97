#pragma once
// Differential evolution (Storn & Price 1997, J. Global Optim. 11:341) on the GA's unit
// cube, minimising one cost per genome (the summed objective). Generation 0 is the GA's:
// `population` uniform random genomes. Generation g >= 1 makes one trial per target x_i,
//
//   mutant  v = x_r0 + F (x_r1 - x_r2)                       rand1bin
//             = x_best + F (x_r1 - x_r2)                     best1bin
//             = x_i + F (x_best - x_i) + F (x_r1 - x_r2)     currenttobest1bin
//   trial   u_j = v_j if U_j < CR or j = j_rand, else x_ij   (binomial crossover)
//
// with r0, r1, r2 distinct members other than i, and x_best the lowest cost of generation
// g-1 (ties: the lowest index). All trials are evaluated together, then each trial replaces
// its target when it costs no more (one-to-one greedy selection, synchronous generations).
//
// Bounds: a mutant gene outside [0, 1] that the crossover keeps is replaced by a random
// point between the base vector's gene (x_r0, x_best or x_i) and the violated bound (the
// "bounce-back" of Price, Storn & Lampinen 2005), so a trial never leaves the cube and a
// base on the bound stays there.
//
// Random numbers: the members of trial i in generation g come from the stream
// (seed, g, i, donors), its crossover and bound repair from (seed, g, i, recombine); the
// crossover stream draws j_rand first, then two numbers per gene whatever the branch.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ga/random_stream.hpp"

namespace cellfit::ga {

enum class de_strategy { rand1bin, best1bin, current_to_best1bin };

// "rand1bin", "best1bin", "currenttobest1bin" (the fit.ga.de_strategy values).
const char* de_strategy_name(de_strategy s);

struct de_settings {
  de_strategy strategy = de_strategy::rand1bin;
  // F = 0.8: Storn & Price's range is (0, 2] with [0.5, 1] the useful one; 0.8 keeps the
  // population's spread with the small populations an expensive neuron fit affords, and
  // is the differential weight nevergrad's DE uses, the peer these fits are compared with.
  double f = 0.8;
  double cr = 0.9;  // crossover rate in [0, 1]
};

// The smallest population the strategy can draw its distinct members from (4 for
// rand1bin: the target and three others; 3 for the others).
std::size_t de_min_population(de_strategy s);

// The members trial `target` is built from.
struct de_donors {
  std::size_t base = 0, r1 = 0, r2 = 0;
};

// Draws the donors of `target` in a population of n (n >= de_min_population): r1 and r2
// (and r0 for rand1bin) uniform, distinct and other than the target, by rejection; base is
// r0, best or the target itself.
de_donors pick_donors(std::size_t n, std::size_t target, std::size_t best, de_strategy s,
                      random_stream& r);

// The trial of `target` from its donors (mutation, binomial crossover, bound repair; see
// the header comment). pop: [n][P] in [0, 1].
std::vector<double> make_trial(const std::vector<std::vector<double>>& pop, std::size_t target,
                               std::size_t best, const de_donors& d, const de_settings& s,
                               random_stream& r);

// The algorithm's state: the population and its costs. Host only; rank 0 owns it.
class differential_evolution {
 public:
  // population >= de_min_population(s.strategy), n_params >= 1; s.f in (0, 2], s.cr in [0, 1].
  differential_evolution(const de_settings& s, std::size_t population, std::size_t n_params,
                         std::uint64_t seed);

  // The genomes to evaluate in `generation`: generation 0's random population (keyed like the
  // GA's: (seed, 0, i, initialize)), or one trial per member after it.
  std::vector<std::vector<double>> ask(std::uint64_t generation) const;
  // The costs (lower is better; non-finite costs lose to every finite one) of the genomes
  // ask() gave, in order. Generation 0's become the population; later, trial i replaces
  // member i when its cost is <= the member's. Returns which members changed.
  std::vector<bool> tell(const std::vector<std::vector<double>>& genomes,
                         const std::vector<double>& cost);

  const std::vector<std::vector<double>>& population() const { return pop_; }
  const std::vector<double>& cost() const { return cost_; }
  std::size_t best() const;  // the member of lowest cost (ties: lowest index)

 private:
  de_settings s_;
  std::size_t n_, p_;
  std::uint64_t seed_;
  std::vector<std::vector<double>> pop_;
  std::vector<double> cost_;
};

}  // namespace cellfit::ga
