#include "ga/particle_swarm.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.hpp"

namespace cellfit::ga {

namespace {

double rank_key(double c) { return std::isfinite(c) ? c : std::numeric_limits<double>::infinity(); }

}  // namespace

void pso_move(std::vector<double>& x, std::vector<double>& v, const std::vector<double>& pbest,
              const std::vector<double>& gbest, const pso_settings& s, random_stream& r) {
  for (std::size_t j = 0; j < x.size(); ++j) {
    const double r1 = r.uniform(), r2 = r.uniform();
    double vj = s.w * v[j] + s.c1 * r1 * (pbest[j] - x[j]) + s.c2 * r2 * (gbest[j] - x[j]);
    vj = std::clamp(vj, -s.vmax, s.vmax);
    double xj = x[j] + vj;
    if (xj < 0.0) {
      xj = 0.0;
      vj = 0.0;
    } else if (xj > 1.0) {
      xj = 1.0;
      vj = 0.0;
    }
    x[j] = xj;
    v[j] = vj;
  }
}

particle_swarm::particle_swarm(const pso_settings& s, std::size_t particles, std::size_t n_params,
                               std::uint64_t seed)
    : s_(s), n_(particles), dim_(n_params), seed_(seed) {
  if (particles < 1 || n_params < 1)
    throw internal_error("cellfit::particle_swarm: no particles or no parameters");
  if (!(s.vmax > 0)) throw internal_error("cellfit::particle_swarm: vmax must be > 0");
}

std::size_t particle_swarm::best() const {
  std::size_t b = 0;
  for (std::size_t i = 1; i < p_cost_.size(); ++i)
    if (rank_key(p_cost_[i]) < rank_key(p_cost_[b])) b = i;
  return b;
}

std::vector<std::vector<double>> particle_swarm::ask(std::uint64_t generation) {
  if (asked_ && next_generation_ == generation) return next_x_;
  next_x_.assign(n_, std::vector<double>(dim_));
  next_v_.assign(n_, std::vector<double>(dim_));
  if (generation == 0) {
    for (std::size_t i = 0; i < n_; ++i) {
      random_stream pos(seed_, 0, i, purpose::initialize);
      random_stream vel(seed_, 0, i, purpose::velocity);
      for (std::size_t j = 0; j < dim_; ++j) {
        next_x_[i][j] = pos.uniform();
        next_v_[i][j] = std::clamp(0.5 * (vel.uniform() - next_x_[i][j]), -s_.vmax, s_.vmax);
      }
    }
  } else {
    if (p_.size() != n_) throw internal_error("cellfit::particle_swarm: ask before tell");
    const std::vector<double>& g = p_[best()];
    for (std::size_t i = 0; i < n_; ++i) {
      next_x_[i] = x_[i];
      next_v_[i] = v_[i];
      random_stream r(seed_, generation, i, purpose::velocity);
      pso_move(next_x_[i], next_v_[i], p_[i], g, s_, r);
    }
  }
  asked_ = true;
  next_generation_ = generation;
  return next_x_;
}

std::vector<bool> particle_swarm::tell(const std::vector<std::vector<double>>& positions,
                                       const std::vector<double>& cost) {
  if (!asked_ || positions.size() != n_ || cost.size() != n_ || positions != next_x_)
    throw internal_error("cellfit::particle_swarm: tell without the positions of ask()");
  x_ = next_x_;
  v_ = next_v_;
  asked_ = false;
  std::vector<bool> changed(n_, true);
  if (p_.empty()) {
    p_ = x_;
    p_cost_ = cost;
    return changed;
  }
  for (std::size_t i = 0; i < n_; ++i) {
    changed[i] = rank_key(cost[i]) < rank_key(p_cost_[i]);
    if (!changed[i]) continue;
    p_[i] = x_[i];
    p_cost_[i] = cost[i];
  }
  return changed;
}

}  // namespace cellfit::ga
