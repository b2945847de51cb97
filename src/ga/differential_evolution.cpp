#include "ga/differential_evolution.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "common/error.hpp"

namespace cellfit::ga {

namespace {

// Non-finite costs rank after every finite one.
double rank_key(double c) { return std::isfinite(c) ? c : std::numeric_limits<double>::infinity(); }

// A member other than the target and `taken` (up to two indices; n_taken of them valid).
std::size_t draw_other(std::size_t n, std::size_t target, const std::size_t* taken,
                       std::size_t n_taken, random_stream& r) {
  for (;;) {
    const std::size_t k = static_cast<std::size_t>(r.index(n));
    if (k == target) continue;
    if (std::find(taken, taken + n_taken, k) != taken + n_taken) continue;
    return k;
  }
}

}  // namespace

const char* de_strategy_name(de_strategy s) {
  switch (s) {
    case de_strategy::rand1bin:
      return "rand1bin";
    case de_strategy::best1bin:
      return "best1bin";
    case de_strategy::current_to_best1bin:
      return "currenttobest1bin";
  }
  return "?";
}

std::size_t de_min_population(de_strategy s) { return s == de_strategy::rand1bin ? 4 : 3; }

de_donors pick_donors(std::size_t n, std::size_t target, std::size_t best, de_strategy s,
                      random_stream& r) {
  if (n < de_min_population(s) || target >= n || best >= n)
    throw internal_error("cellfit::ga::pick_donors: population too small or index out of range");
  de_donors d;
  std::size_t taken[2] = {0, 0};
  if (s == de_strategy::rand1bin) {
    d.base = draw_other(n, target, taken, 0, r);
    taken[0] = d.base;
    d.r1 = draw_other(n, target, taken, 1, r);
    taken[1] = d.r1;
    d.r2 = draw_other(n, target, taken, 2, r);
  } else {
    d.base = s == de_strategy::best1bin ? best : target;
    d.r1 = draw_other(n, target, taken, 0, r);
    taken[0] = d.r1;
    d.r2 = draw_other(n, target, taken, 1, r);
  }
  return d;
}

std::vector<double> make_trial(const std::vector<std::vector<double>>& pop, std::size_t target,
                               std::size_t best, const de_donors& d, const de_settings& s,
                               random_stream& r) {
  const std::vector<double>& x = pop[target];
  const std::vector<double>& base = pop[d.base];
  const std::vector<double>& a = pop[d.r1];
  const std::vector<double>& b = pop[d.r2];
  const std::vector<double>& xb = pop[best];
  const std::size_t P = x.size();
  const bool to_best = s.strategy == de_strategy::current_to_best1bin;
  const std::size_t j_rand = static_cast<std::size_t>(r.index(P));
  std::vector<double> u(P);
  for (std::size_t j = 0; j < P; ++j) {
    // Both numbers are drawn for every gene, so a gene's draws do not depend on the others.
    const double u_cross = r.uniform(), u_bound = r.uniform();
    if (!(u_cross < s.cr || j == j_rand)) {
      u[j] = x[j];
      continue;
    }
    double v = base[j] + s.f * (a[j] - b[j]);
    if (to_best) v += s.f * (xb[j] - x[j]);
    if (v < 0.0) {
      v = base[j] - u_bound * base[j];
    } else if (v > 1.0) {
      v = base[j] + u_bound * (1.0 - base[j]);
    }
    u[j] = std::clamp(v, 0.0, 1.0);  // round-off of the repair
  }
  return u;
}

differential_evolution::differential_evolution(const de_settings& s, std::size_t population,
                                               std::size_t n_params, std::uint64_t seed)
    : s_(s), n_(population), p_(n_params), seed_(seed) {
  if (n_params < 1) throw internal_error("cellfit::differential_evolution: no parameters");
  if (population < de_min_population(s.strategy)) {
    throw config_error(
        "cellfit::ga: de_strategy " + std::string(de_strategy_name(s.strategy)) +
        " needs fit.ga.population >= " + std::to_string(de_min_population(s.strategy)) + ", got " +
        std::to_string(population));
  }
  if (!(s.f > 0 && s.f <= 2) || !(s.cr >= 0 && s.cr <= 1))
    throw internal_error("cellfit::differential_evolution: F or CR out of range");
}

std::size_t differential_evolution::best() const {
  std::size_t b = 0;
  for (std::size_t i = 1; i < cost_.size(); ++i)
    if (rank_key(cost_[i]) < rank_key(cost_[b])) b = i;
  return b;
}

std::vector<std::vector<double>> differential_evolution::ask(std::uint64_t generation) const {
  std::vector<std::vector<double>> out(n_, std::vector<double>(p_));
  if (generation == 0) {
    for (std::size_t i = 0; i < n_; ++i) {
      random_stream r(seed_, 0, i, purpose::initialize);
      for (double& x : out[i]) x = r.uniform();
    }
    return out;
  }
  if (pop_.size() != n_) throw internal_error("cellfit::differential_evolution: ask before tell");
  const std::size_t b = best();
  for (std::size_t i = 0; i < n_; ++i) {
    random_stream pick(seed_, generation, i, purpose::donors);
    const de_donors d = pick_donors(n_, i, b, s_.strategy, pick);
    random_stream cross(seed_, generation, i, purpose::recombine);
    out[i] = make_trial(pop_, i, b, d, s_, cross);
  }
  return out;
}

std::vector<bool> differential_evolution::tell(const std::vector<std::vector<double>>& genomes,
                                               const std::vector<double>& cost) {
  if (genomes.size() != n_ || cost.size() != n_)
    throw internal_error("cellfit::differential_evolution: tell with the wrong number of genomes");
  std::vector<bool> changed(n_, true);
  if (pop_.empty()) {
    pop_ = genomes;
    cost_ = cost;
    return changed;
  }
  for (std::size_t i = 0; i < n_; ++i) {
    changed[i] = rank_key(cost[i]) <= rank_key(cost_[i]);
    if (!changed[i]) continue;
    pop_[i] = genomes[i];
    cost_[i] = cost[i];
  }
  return changed;
}

}  // namespace cellfit::ga
