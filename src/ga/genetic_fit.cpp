#include "ga/genetic_fit.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "common/error.hpp"
#include "ga/cma_es.hpp"
#include "ga/random_stream.hpp"
#include "ga/variation.hpp"
#include "gradient/gradient_fit.hpp"

namespace cellfit::ga {

const char* strategy_name(strategy s) {
  switch (s) {
    case strategy::mu_comma_lambda:
      return "mu_comma_lambda";
    case strategy::mu_plus_lambda:
      return "mu_plus_lambda";
    case strategy::cmaes:
      return "cmaes";
  }
  return "?";
}

const char* selection_name(selection_kind s) {
  switch (s) {
    case selection_kind::ibea:
      return "ibea";
    case selection_kind::nsga2:
      return "nsga2";
    case selection_kind::single:
      return "single";
  }
  return "?";
}

std::vector<double> to_unit(const parameter_space& space, const std::vector<double>& physical) {
  std::vector<double> u(physical.size());
  for (std::size_t i = 0; i < u.size(); ++i) {
    const double lo = space.lower(i), hi = space.upper(i);
    if (space.parameters()[space.group_of(i)].transform == transform_kind::log) {
      u[i] = (std::log(physical[i]) - std::log(lo)) / (std::log(hi) - std::log(lo));
    } else {
      u[i] = (physical[i] - lo) / (hi - lo);
    }
    u[i] = std::clamp(u[i], 0.0, 1.0);
  }
  return u;
}

std::vector<double> from_unit(const parameter_space& space, const std::vector<double>& u) {
  std::vector<double> p(u.size());
  for (std::size_t i = 0; i < u.size(); ++i) {
    const double lo = space.lower(i), hi = space.upper(i);
    if (u[i] <= 0 || u[i] >= 1) {
      p[i] = u[i] <= 0 ? lo : hi;  // the bounds exactly, whatever the transform's rounding
    } else if (space.parameters()[space.group_of(i)].transform == transform_kind::log) {
      p[i] = std::exp(std::log(lo) + u[i] * (std::log(hi) - std::log(lo)));
    } else {
      p[i] = lo + u[i] * (hi - lo);
    }
    p[i] = std::clamp(p[i], lo, hi);  // exp/log round-off at the bounds
  }
  return p;
}

namespace {

using clock_type = std::chrono::steady_clock;
double since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

// One generation's evaluated genomes.
struct evaluated {
  std::vector<std::vector<double>> genomes;  // unit cube
  objective_matrix obj;
  int diverged = 0;
};

double row_sum(const objective_matrix& o, std::size_t i) {
  double s = 0;
  for (std::size_t k = 0; k < o.m; ++k) s += o(i, k);
  return s;
}

class evaluator {
 public:
  evaluator(const ga_problem& p, std::size_t& sims) : p_(p), sims_(sims) {}

  evaluated operator()(std::vector<std::vector<double>> genomes, double& t_sim, double& t_score) {
    evaluated e;
    e.genomes = std::move(genomes);
    std::vector<parameter_set> sets;
    sets.reserve(e.genomes.size());
    for (const auto& g : e.genomes) sets.push_back(p_.space->to_set(from_unit(*p_.space, g)));
    auto t0 = clock_type::now();
    const simulation_result r = simulate_batch(*p_.model, sets, p_.stimuli, p_.settings);
    t_sim += since(t0);
    sims_ += r.n_cells;
    e.diverged = static_cast<int>(r.n_failed());
    t0 = clock_type::now();
    e.obj = p_.objectives->score(r, e.genomes.size());
    t_score += since(t0);
    return e;
  }

 private:
  const ga_problem& p_;
  std::size_t& sims_;
};

// Keeps the best `size` distinct individuals by summed objective (ties: first seen).
class hall_of_fame {
 public:
  explicit hall_of_fame(std::size_t size) : size_(size) {}
  void update(const parameter_space& space, const evaluated& e) {
    for (std::size_t i = 0; i < e.obj.n; ++i) {
      const double total = row_sum(e.obj, i);
      if (!std::isfinite(total)) continue;
      if (items_.size() == size_ && !(total < items_.back().total)) continue;
      const auto params = from_unit(space, e.genomes[i]);
      if (std::any_of(items_.begin(), items_.end(),
                      [&](const ga_individual& x) { return x.params == params; }))
        continue;
      ga_individual ind{
          params,
          {e.obj.values.begin() + i * e.obj.m, e.obj.values.begin() + (i + 1) * e.obj.m},
          total};
      const auto pos =
          std::upper_bound(items_.begin(), items_.end(), total,
                           [](double t, const ga_individual& x) { return t < x.total; });
      items_.insert(pos, std::move(ind));
      if (items_.size() > size_) items_.pop_back();
    }
  }
  const std::vector<ga_individual>& items() const { return items_; }

 private:
  std::size_t size_;
  std::vector<ga_individual> items_;
};

// The survivors of a selection and what tournaments compare them by (lower key wins).
struct survivors {
  evaluated pop;
  std::vector<double> key1, key2;
};

survivors environmental_selection(const evaluated& pool, std::size_t mu, const ga_settings& s) {
  survivors out;
  std::vector<std::size_t> pick;
  std::vector<double> k1(pool.obj.n), k2(pool.obj.n, 0.0);
  switch (s.selection) {
    case selection_kind::nsga2: {
      const nsga2_result r = select_nsga2(pool.obj, mu);
      pick = r.selected;
      for (std::size_t i = 0; i < pool.obj.n; ++i) {
        k1[i] = r.front[i];
        k2[i] = -r.crowding[i];  // larger crowding distance wins
      }
      break;
    }
    case selection_kind::ibea: {
      const ibea_result r = select_ibea(pool.obj, mu, s.ibea_kappa);
      pick = r.selected;
      for (std::size_t i = 0; i < pool.obj.n; ++i) k1[i] = r.fitness[i];  // lower is better
      break;
    }
    case selection_kind::single: {
      std::vector<std::size_t> order(pool.obj.n);
      std::iota(order.begin(), order.end(), 0);
      for (std::size_t i = 0; i < pool.obj.n; ++i) k1[i] = row_sum(pool.obj, i);
      std::stable_sort(order.begin(), order.end(),
                       [&](std::size_t a, std::size_t b) { return k1[a] < k1[b]; });
      pick.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(mu));
      break;
    }
  }
  out.pop.obj.n = pick.size();
  out.pop.obj.m = pool.obj.m;
  for (std::size_t i : pick) {
    out.pop.genomes.push_back(pool.genomes[i]);
    out.pop.obj.values.insert(out.pop.obj.values.end(), pool.obj.values.begin() + i * pool.obj.m,
                              pool.obj.values.begin() + (i + 1) * pool.obj.m);
    out.key1.push_back(k1[i]);
    out.key2.push_back(k2[i]);
  }
  return out;
}

evaluated concat(const evaluated& a, const evaluated& b) {
  evaluated c = a;
  c.genomes.insert(c.genomes.end(), b.genomes.begin(), b.genomes.end());
  c.obj.n = a.obj.n + b.obj.n;
  c.obj.values.insert(c.obj.values.end(), b.obj.values.begin(), b.obj.values.end());
  return c;
}

std::size_t tournament(const survivors& s, int size, random_stream& r) {
  std::size_t best = r.index(s.pop.genomes.size());
  for (int k = 1; k < size; ++k) {
    const std::size_t c = r.index(s.pop.genomes.size());
    if (s.key1[c] < s.key1[best] || (s.key1[c] == s.key1[best] && s.key2[c] < s.key2[best]) ||
        (s.key1[c] == s.key1[best] && s.key2[c] == s.key2[best] && c < best))
      best = c;
  }
  return best;
}

std::vector<std::vector<double>> make_offspring(const survivors& parents, std::size_t lambda,
                                                std::uint64_t generation, const ga_settings& s) {
  std::vector<std::vector<double>> kids(lambda);
  for (std::size_t j = 0; j < lambda; j += 2) {
    random_stream mate(s.seed, generation, j, purpose::mate);
    std::vector<double> a = parents.pop.genomes[tournament(parents, s.tournament, mate)];
    std::vector<double> b = parents.pop.genomes[tournament(parents, s.tournament, mate)];
    random_stream cross(s.seed, generation, j, purpose::crossover);
    if (cross.uniform() < s.crossover_prob) sbx_crossover(a, b, s.eta_crossover, cross);
    kids[j] = std::move(a);
    if (j + 1 < lambda) kids[j + 1] = std::move(b);
  }
  for (std::size_t i = 0; i < lambda; ++i) {
    random_stream mut(s.seed, generation, i, purpose::mutate);
    if (mut.uniform() < s.mutation_prob)
      polynomial_mutation(kids[i], s.eta_mutation, s.gene_mutation_prob, mut);
  }
  return kids;
}

std::vector<ga_individual> snapshot(const parameter_space& space, const evaluated& e) {
  std::vector<ga_individual> out(e.obj.n);
  for (std::size_t i = 0; i < e.obj.n; ++i) {
    out[i].params = from_unit(space, e.genomes[i]);
    out[i].objectives.assign(e.obj.values.begin() + i * e.obj.m,
                             e.obj.values.begin() + (i + 1) * e.obj.m);
    out[i].total = row_sum(e.obj, i);
  }
  return out;
}

}  // namespace

ga_result run_genetic_fit(const ga_problem& p, const ga_settings& s,
                          const generation_callback& on_generation) {
  if (p.model == nullptr || p.space == nullptr || p.objectives == nullptr)
    throw internal_error("cellfit::ga: incomplete problem");
  const parameter_space& space = *p.space;
  const bool cma = s.algorithm == strategy::cmaes;
  const std::size_t mu = static_cast<std::size_t>(s.population);
  const std::size_t lambda = static_cast<std::size_t>(s.offspring);
  if (!cma && s.algorithm == strategy::mu_comma_lambda && lambda < mu) {
    throw config_error("cellfit::ga: (mu, lambda) needs fit.ga.offspring >= fit.ga.population (" +
                       std::to_string(lambda) + " < " + std::to_string(mu) + ")");
  }
  ga_result res;
  ga_history& h = res.history;
  evaluator evaluate(p, res.simulations);
  hall_of_fame hof(static_cast<std::size_t>(std::max(1, s.hall_of_fame)));
  const auto t_start = clock_type::now();

  auto record = [&](int g, const evaluated& pop, int diverged, double t_sim, double t_score,
                    double t_select, int n_evaluated) {
    std::vector<double> totals(pop.obj.n);
    for (std::size_t i = 0; i < pop.obj.n; ++i) totals[i] = row_sum(pop.obj, i);
    std::vector<double> sorted = totals;
    std::sort(sorted.begin(), sorted.end());
    const double best = sorted.empty() ? NAN : sorted.front();
    const double median = sorted.empty() ? NAN : sorted[(sorted.size() - 1) / 2];
    double gte = -1;
    if (!p.ground_truth.empty() && !pop.genomes.empty()) {
      const std::size_t ib =
          static_cast<std::size_t>(std::min_element(totals.begin(), totals.end()) - totals.begin());
      gte = gt_error(from_unit(space, pop.genomes[ib]), p.ground_truth);
    }
    h.best.push_back(best);
    h.median.push_back(median);
    h.gt_error.push_back(gte);
    h.wall_s.push_back(since(t_start));
    h.simulate_s.push_back(t_sim);
    h.score_s.push_back(t_score);
    h.select_s.push_back(t_select);
    h.diverged.push_back(diverged);
    if (s.record_population) res.populations.push_back(snapshot(space, pop));
    if (on_generation) {
      generation_report rep;
      rep.generation = g;
      rep.planned = s.generations;
      rep.best = best;
      rep.median = median;
      rep.gt_error = gte;
      rep.simulate_s = t_sim;
      rep.score_s = t_score;
      rep.select_s = t_select;
      rep.elapsed_s = h.wall_s.back();
      rep.diverged = diverged;
      rep.evaluated = n_evaluated;
      on_generation(rep);
    }
  };

  if (cma) {
    cma_es es(to_unit(space, space.initial_values()), s.cmaes_sigma, s.offspring, s.seed);
    for (int g = 0; g <= s.generations; ++g) {
      double t_sim = 0, t_score = 0;
      evaluated e = evaluate(es.ask(static_cast<std::uint64_t>(g)), t_sim, t_score);
      hof.update(space, e);
      const auto t0 = clock_type::now();
      std::vector<double> cost(e.obj.n);
      for (std::size_t i = 0; i < e.obj.n; ++i) cost[i] = row_sum(e.obj, i);
      es.tell(e.genomes, cost);
      record(g, e, e.diverged, t_sim, t_score, since(t0), static_cast<int>(e.obj.n));
    }
  } else {
    // Generation 0: mu uniform genomes.
    std::vector<std::vector<double>> init(mu, std::vector<double>(space.size()));
    for (std::size_t i = 0; i < mu; ++i) {
      random_stream r(s.seed, 0, i, purpose::initialize);
      for (double& x : init[i]) x = r.uniform();
    }
    double t_sim = 0, t_score = 0;
    evaluated e0 = evaluate(std::move(init), t_sim, t_score);
    hof.update(space, e0);
    auto t0 = clock_type::now();
    survivors parents = environmental_selection(e0, mu, s);
    record(0, parents.pop, e0.diverged, t_sim, t_score, since(t0), static_cast<int>(mu));
    for (int g = 1; g <= s.generations; ++g) {
      t_sim = t_score = 0;
      t0 = clock_type::now();
      auto kids = make_offspring(parents, lambda, static_cast<std::uint64_t>(g), s);
      double t_select = since(t0);
      evaluated off = evaluate(std::move(kids), t_sim, t_score);
      hof.update(space, off);
      t0 = clock_type::now();
      if (s.algorithm == strategy::mu_plus_lambda) {
        parents = environmental_selection(concat(parents.pop, off), mu, s);
      } else {
        parents = environmental_selection(off, mu, s);
      }
      t_select += since(t0);
      record(g, parents.pop, off.diverged, t_sim, t_score, t_select, static_cast<int>(lambda));
    }
  }
  res.hall_of_fame = hof.items();
  if (res.hall_of_fame.empty()) res.stop_reason = "diverged";
  res.wall_seconds = since(t_start);
  return res;
}

}  // namespace cellfit::ga
