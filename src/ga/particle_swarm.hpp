#pragma once
// Global-best particle swarm optimisation with an inertia weight (Kennedy & Eberhart 1995;
// Shi & Eberhart 1998) on the GA's unit cube, minimising one cost per position (the summed
// objective). Particle i has a position x_i, a velocity v_i and its personal best p_i; g is
// the best personal best of the swarm (ties: the lowest index). Each generation moves every
// particle, gene by gene, with fresh uniform r1, r2 in [0, 1):
//
//   v <- w v + c1 r1 (p - x) + c2 r2 (g - x),   clamped to [-vmax, vmax]
//   x <- x + v;  a coordinate that leaves [0, 1] stops on the bound with its velocity zeroed
//
// then evaluates the swarm; a particle whose cost is below its personal best's takes the new
// position as its personal best. The update is synchronous: g is the best after the whole
// previous generation, as batched evaluation needs.
//
// Defaults w = 0.7298, c1 = c2 = 1.49618 are Clerc & Kennedy's (2002) constriction
// coefficients written as an inertia weight (Eberhart & Shi 2000). vmax = 0.2 of the cube:
// with Eberhart & Shi's clamp at the whole width the swarm settled on poor regions of the
// hh fits in docs/ga.md far more often.
//
// Generation 0: positions uniform in the cube, keyed like the GA's generation 0
// ((seed, 0, i, initialize)); velocities (u - x) / 2 with u uniform from (seed, 0, i,
// velocity) (SPSO 2007's "half-diff" start, which keeps the first move inside the cube),
// clamped to vmax. The move of particle i in generation g draws r1 then r2 per gene from
// (seed, g, i, velocity).

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ga/random_stream.hpp"

namespace cellfit::ga {

struct pso_settings {
  double w = 0.7298;    // inertia weight
  double c1 = 1.49618;  // cognitive (personal best) acceleration
  double c2 = 1.49618;  // social (global best) acceleration
  double vmax = 0.2;    // velocity clamp per coordinate, fraction of the cube (> 0)
};

// One particle's move (see the header comment): updates x and v in place.
void pso_move(std::vector<double>& x, std::vector<double>& v, const std::vector<double>& pbest,
              const std::vector<double>& gbest, const pso_settings& s, random_stream& r);

// The swarm's state. Host only; rank 0 owns it.
class particle_swarm {
 public:
  particle_swarm(const pso_settings& s, std::size_t particles, std::size_t n_params,
                 std::uint64_t seed);

  // The positions to evaluate in `generation` (the moves are kept until tell(); asking twice
  // for the same generation gives the same positions).
  std::vector<std::vector<double>> ask(std::uint64_t generation);
  // The costs (lower is better; non-finite costs lose to every finite one) of the positions
  // ask() gave, in order: the particles move there and update their personal bests. Returns
  // which personal bests changed.
  std::vector<bool> tell(const std::vector<std::vector<double>>& positions,
                         const std::vector<double>& cost);

  const std::vector<std::vector<double>>& positions() const { return x_; }
  const std::vector<std::vector<double>>& velocities() const { return v_; }
  const std::vector<std::vector<double>>& personal_best() const { return p_; }
  const std::vector<double>& personal_best_cost() const { return p_cost_; }
  std::size_t best() const;  // the particle with the best personal best (ties: lowest index)

 private:
  pso_settings s_;
  std::size_t n_, dim_;
  std::uint64_t seed_;
  std::vector<std::vector<double>> x_, v_, p_;
  std::vector<double> p_cost_;
  std::vector<std::vector<double>> next_x_, next_v_;  // ask()'s moves, until tell()
  std::uint64_t next_generation_ = 0;
  bool asked_ = false;
};

}  // namespace cellfit::ga
