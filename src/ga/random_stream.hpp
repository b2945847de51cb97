#pragma once
// A sequence of random numbers keyed by (seed, generation, individual, purpose): the n-th
// draw is a pure function of the key and n, so a GA run repeats bit for bit and does not
// depend on how the population is split across threads or ranks.

#include <cstdint>

#include "common/rng.hpp"

namespace cellfit::ga {

// What a stream is for; distinct purposes never share draws.
enum class purpose : std::uint64_t {
  initialize = 1,
  mate = 2,
  crossover = 3,
  mutate = 4,
  sample = 5,
  donors = 6,     // differential evolution: the members a trial is built from
  recombine = 7,  // differential evolution: binomial crossover and bound repair
  velocity = 8,   // particle swarm: initial velocities and the moves
};

class random_stream {
 public:
  random_stream(std::uint64_t seed, std::uint64_t generation, std::uint64_t individual, purpose p)
      : key_(counter_hash(counter_hash(seed, generation, individual), static_cast<std::uint64_t>(p),
                          0x47412d7374726d31ull)) {}

  double uniform() { return uniform01(next_key()); }  // [0, 1)
  double normal() { return normal01(next_key()); }
  std::uint64_t index(std::uint64_t n) { return uniform_index(next_key(), 0, n); }  // [0, n)

 private:
  std::uint64_t next_key() { return counter_hash(key_, counter_++, 0x9e37); }
  std::uint64_t key_;
  std::uint64_t counter_ = 0;
};

}  // namespace cellfit::ga
