#pragma once
// Counter-based random numbers: a value is a pure function of (seed, counters), so streams
// keyed by (seed, generation, individual) or (seed, stimulus, site) give the same numbers
// whatever the order of evaluation or the number of ranks. SplitMix64 finaliser.

#include <cmath>
#include <cstdint>

namespace cellfit {

inline std::uint64_t mix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

inline std::uint64_t counter_hash(std::uint64_t seed, std::uint64_t a, std::uint64_t b) {
  return mix64(mix64(mix64(seed) ^ a) ^ (b * 0xd6e8feb86659fd93ull));
}

// Uniform in [0, 1) with 53 random bits.
inline double uniform01(std::uint64_t key) {
  return static_cast<double>(mix64(key) >> 11) * 0x1.0p-53;
}

// Uniform integer in [lo, hi) (hi > lo); the bias of the modulo is below 2^-40 here.
inline std::uint64_t uniform_index(std::uint64_t key, std::uint64_t lo, std::uint64_t hi) {
  return lo + mix64(key ^ 0x5851f42d4c957f2dull) % (hi - lo);
}

// Standard normal by Box-Muller from two counter draws.
inline double normal01(std::uint64_t key) {
  const double u1 = 1.0 - uniform01(key);  // (0, 1]
  const double u2 = uniform01(key ^ 0xa0761d6478bd642full);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace cellfit
