#include "ga/genetic_fit.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <numeric>
#include <thread>

#include "common/error.hpp"
#include "ga/cma_es.hpp"
#include "ga/random_stream.hpp"
#include "ga/variation.hpp"
#include "gradient/gradient_fit.hpp"
#include "sched/load_balance.hpp"

namespace cellfit::ga {

const char* strategy_name(strategy s) {
  switch (s) {
    case strategy::mu_comma_lambda:
      return "mu_comma_lambda";
    case strategy::mu_plus_lambda:
      return "mu_plus_lambda";
    case strategy::cmaes:
      return "cmaes";
    case strategy::de:
      return "de";
    case strategy::pso:
      return "pso";
  }
  return "?";
}

bool summed_objective(strategy s) {
  return s == strategy::cmaes || s == strategy::de || s == strategy::pso;
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

// What a generation's distributed evaluation leaves on rank 0.
struct evaluation {
  evaluated e;
  sched::stage_times times;
  std::size_t cells = 0;
  bool incomplete = false;  // a rank skipped chunks after a stop request
  bool stop = false;        // a rank has a stop request
};

// Evaluates genomes on every rank of the context (a collective): each rank simulates and
// scores the sets of its plan blocks through the pipeline, and rank 0 gathers the
// objective rows. Ranks own contiguous runs of sets in rank order, so the gathered rows are
// already in set order.
class distributed_evaluator {
 public:
  // Per-rank results sent to rank 0 after the rows.
  enum trailer : std::size_t {
    t_diverged,
    t_cells,
    t_kernel_s,
    t_incomplete,
    t_stop,
    t_simulate_s,
    t_copy_s,
    t_score_s,
    t_size
  };

  distributed_evaluator(const ga_problem& p, const comm::context& ctx,
                        const std::function<bool()>& stop)
      : p_(p), ctx_(ctx), stop_(stop) {
    cell_cost_ = static_cast<double>(p.model->geom.n_compartments()) * p.settings.n_steps();
    // Every rank's device, for the plan.
    const auto devices = ctx.gather_all({static_cast<double>(p.device)});
    resources_.resize(devices.size());
    for (std::size_t r = 0; r < devices.size(); ++r) {
      resources_[r].device = static_cast<int>(devices[r]);
    }
    const sched::parallel_settings& par = p.parallel;
    min_chunk_cells_ =
        par.min_chunk_cells > 0 ? par.min_chunk_cells : (p.device < 0 ? std::size_t{64} : 4096);
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    cores = std::max(1u, cores / static_cast<unsigned>(std::max(1, ctx.local_size())));
    threads_ = par.score_threads > 0 ? static_cast<unsigned>(par.score_threads)
                                     : (par.overlap && cores > 1 ? cores - 1 : cores);
    if (p.objectives->threads() > 0 && par.score_threads <= 0) threads_ = p.objectives->threads();
    // The last chunk's scoring has no simulation beside it: it may use the simulating core.
    last_threads_ = par.score_threads > 0 || p.objectives->threads() > 0 ? threads_ : cores;
  }

  // The measured rates (compartment-steps per second) of every rank, as rank 0 knows them.
  std::vector<double> rates() const {
    std::vector<double> r(resources_.size());
    for (std::size_t k = 0; k < r.size(); ++k) r[k] = resources_[k].rate_cs;
    return r;
  }
  void set_rates(const std::vector<double>& r) {
    for (std::size_t k = 0; k < r.size() && k < resources_.size(); ++k)
      resources_[k].rate_cs = r[k];
  }
  const sched::plan& plan() const { return plan_; }

  evaluation operator()(std::vector<std::vector<double>> genomes) {
    const std::size_t n = genomes.size(), M = p_.objectives->n_objectives();
    const std::size_t S = p_.stimuli.size();
    sched::plan_request q;
    q.n_sets = n;
    q.n_stimuli = S;
    q.axis = sched::split_axis::sets;
    q.cell_cost_cs = cell_cost_;
    // The same chunks with and without overlap, so that switching it changes only whether
    // the stages run side by side.
    q.max_chunks = std::max(1, p_.parallel.chunks);
    q.min_chunk_cells = min_chunk_cells_;
    plan_ = sched::make_plan(q, resources_);
    const std::vector<sched::block> mine = plan_.blocks_of(ctx_.rank());
    const std::size_t first = mine.empty() ? 0 : mine.front().first_set;
    std::size_t my_sets = 0;
    for (const auto& b : mine) my_sets += b.n_sets;

    std::vector<double> payload(my_sets * M + t_size, 0.0);
    sched::stage_times t;
    comm::agree(ctx_, [&] {
      simulation_result buffer[2];
      double diverged = 0, cells = 0, kernel = 0;
      sched::pipeline_stages st;
      st.simulate = [&](std::size_t k, int b) {
        const sched::block& blk = mine[k];
        std::vector<parameter_set> sets;
        sets.reserve(blk.n_sets);
        for (std::size_t i = 0; i < blk.n_sets; ++i) {
          sets.push_back(p_.space->to_set(from_unit(*p_.space, genomes[blk.first_set + i])));
        }
        const auto t0 = clock_type::now();
        buffer[b] = simulate_batch(*p_.model, sets, p_.stimuli, p_.settings);
        const double total = since(t0);
        diverged += static_cast<double>(buffer[b].n_failed());
        cells += static_cast<double>(buffer[b].n_cells);
        kernel += buffer[b].kernel_seconds;
        return std::make_pair(buffer[b].kernel_seconds, total - buffer[b].kernel_seconds);
      };
      st.score = [&](std::size_t k, int b) {
        const sched::block& blk = mine[k];
        const unsigned th = k + 1 == mine.size() ? last_threads_ : threads_;
        const objective_matrix o = p_.objectives->score(buffer[b], blk.n_sets, th);
        std::copy(o.values.begin(), o.values.end(),
                  payload.begin() + static_cast<std::ptrdiff_t>((blk.first_set - first) * M));
      };
      st.stop = stop_;
      const bool complete = sched::run_pipeline(mine.size(), p_.parallel.overlap, st, t);
      double* tr = payload.data() + my_sets * M;
      tr[t_diverged] = diverged;
      tr[t_cells] = cells;
      tr[t_kernel_s] = kernel;
      tr[t_incomplete] = complete ? 0 : 1;
      tr[t_stop] = stop_ && stop_() ? 1 : 0;
      tr[t_simulate_s] = t.simulate_s;
      tr[t_copy_s] = t.copy_s;
      tr[t_score_s] = t.score_s;
    });
    const auto t_comm = clock_type::now();
    std::vector<std::size_t> counts;
    const std::vector<double> all = ctx_.gather(payload, 0, &counts);
    evaluation out;
    out.times.communicate_s = since(t_comm);
    if (ctx_.rank() != 0) return out;

    out.e.genomes = std::move(genomes);
    out.e.obj.n = n;
    out.e.obj.m = M;
    out.e.obj.values.reserve(n * M);
    std::size_t at = 0;
    for (std::size_t r = 0; r < counts.size(); ++r) {
      const std::size_t rows = counts[r] - t_size;
      out.e.obj.values.insert(out.e.obj.values.end(), all.begin() + static_cast<std::ptrdiff_t>(at),
                              all.begin() + static_cast<std::ptrdiff_t>(at + rows));
      const double* tr = all.data() + at + rows;
      out.e.diverged += static_cast<int>(tr[t_diverged]);
      out.cells += static_cast<std::size_t>(tr[t_cells]);
      out.incomplete = out.incomplete || tr[t_incomplete] != 0;
      out.stop = out.stop || tr[t_stop] != 0;
      // Stages run side by side on the ranks: the slowest rank's time is the generation's.
      out.times.simulate_s = std::max(out.times.simulate_s, tr[t_simulate_s]);
      out.times.copy_s = std::max(out.times.copy_s, tr[t_copy_s]);
      out.times.score_s = std::max(out.times.score_s, tr[t_score_s]);
      if (tr[t_cells] > 0 && tr[t_kernel_s] > 0) {
        resources_[r].rate_cs = tr[t_cells] * cell_cost_ / tr[t_kernel_s];
      }
      at += counts[r];
    }
    if (out.e.obj.values.size() != n * M && !out.incomplete) {
      throw internal_error("cellfit::ga: gathered " + std::to_string(out.e.obj.values.size()) +
                           " objective values, expected " + std::to_string(n * M));
    }
    return out;
  }

 private:
  const ga_problem& p_;
  const comm::context& ctx_;
  const std::function<bool()>& stop_;
  std::vector<sched::rank_resources> resources_;
  sched::plan plan_;
  double cell_cost_ = 1;
  std::size_t min_chunk_cells_ = 64;
  unsigned threads_ = 1, last_threads_ = 1;
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

// DE's population or PSO's personal bests as evaluated rows: generation 0's rows, then the
// rows of the members tell() changed.
void update_members(evaluated& members, const evaluated& e, const std::vector<bool>& changed) {
  if (members.genomes.empty()) {
    members.genomes = e.genomes;
    members.obj = e.obj;
    return;
  }
  const std::size_t m = e.obj.m;
  for (std::size_t i = 0; i < changed.size(); ++i) {
    if (!changed[i]) continue;
    members.genomes[i] = e.genomes[i];
    std::copy(e.obj.values.begin() + static_cast<std::ptrdiff_t>(i * m),
              e.obj.values.begin() + static_cast<std::ptrdiff_t>((i + 1) * m),
              members.obj.values.begin() + static_cast<std::ptrdiff_t>(i * m));
  }
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
                          const generation_callback& on_generation, const ga_control& control) {
  if (p.model == nullptr || p.space == nullptr || p.objectives == nullptr)
    throw internal_error("cellfit::ga: incomplete problem");
  const parameter_space& space = *p.space;
  const bool cma = s.algorithm == strategy::cmaes;
  const bool de = s.algorithm == strategy::de;
  const bool pso = s.algorithm == strategy::pso;
  const std::size_t mu = static_cast<std::size_t>(s.population);
  // DE and PSO evaluate one genome per member.
  const std::size_t lambda = de || pso ? mu : static_cast<std::size_t>(s.offspring);
  if (!cma && s.algorithm == strategy::mu_comma_lambda && lambda < mu) {
    throw config_error("cellfit::ga: (mu, lambda) needs fit.ga.offspring >= fit.ga.population (" +
                       std::to_string(lambda) + " < " + std::to_string(mu) + ")");
  }
  const comm::context_ptr ctx_owner = p.comm ? p.comm : comm::make_local_context();
  const comm::context& ctx = *ctx_owner;
  const bool root = ctx.rank() == 0;
  const std::size_t P = space.size(), M = p.objectives->n_objectives();

  ga_result res;
  ga_history& h = res.history;
  ga_log& log = res.log;
  log.n_params = P;
  log.n_objectives = M;
  const ga_log* resume = root ? control.resume : nullptr;
  if (resume && (resume->n_params != P || resume->n_objectives != M)) {
    throw config_error("cellfit::ga: the checkpoint has " + std::to_string(resume->n_params) +
                       " parameters and " + std::to_string(resume->n_objectives) +
                       " objectives, this fit " + std::to_string(P) + " and " + std::to_string(M));
  }
  const std::function<bool()> stop = control.stop_requested;
  distributed_evaluator evaluate(p, ctx, stop);
  hall_of_fame hof(static_cast<std::size_t>(std::max(1, s.hall_of_fame)));
  const auto t_start = clock_type::now();
  std::size_t replay_from = 0;  // offset of the next replayed genome in resume->genomes
  double wall_offset = 0;       // wall time of the replayed generations

  auto record = [&](int g, const evaluated& pop, int diverged, const sched::stage_times& t,
                    int n_evaluated, bool replayed) {
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
    h.wall_s.push_back(t.wall_s);
    h.simulate_s.push_back(t.simulate_s);
    h.copy_s.push_back(t.copy_s);
    h.score_s.push_back(t.score_s);
    h.communicate_s.push_back(t.communicate_s);
    h.select_s.push_back(t.select_s);
    const double gen_wall =
        h.wall_s.size() > 1 ? t.wall_s - h.wall_s[h.wall_s.size() - 2] : t.wall_s;
    sched::stage_times w = t;
    w.wall_s = gen_wall;
    h.overlap.push_back(w.overlap_efficiency());
    h.diverged.push_back(diverged);
    if (s.record_population) res.populations.push_back(snapshot(space, pop));
    if (on_generation) {
      generation_report rep;
      rep.generation = g;
      rep.planned = s.generations;
      rep.best = best;
      rep.median = median;
      rep.gt_error = gte;
      rep.times = w;
      rep.elapsed_s = t.wall_s;
      rep.diverged = diverged;
      rep.evaluated = n_evaluated;
      rep.replayed = replayed;
      on_generation(rep);
    }
  };

  // Rank 0's algorithm state.
  std::unique_ptr<cma_es> es;
  if (cma && root) {
    es = std::make_unique<cma_es>(to_unit(space, space.initial_values()), s.cmaes_sigma,
                                  s.offspring, s.seed);
  }
  // Checked on every rank, so that a refusal is the same everywhere.
  std::unique_ptr<differential_evolution> dev;
  if (de) dev = std::make_unique<differential_evolution>(s.de, mu, P, s.seed);
  std::unique_ptr<particle_swarm> swarm;
  if (pso) swarm = std::make_unique<particle_swarm>(s.pso, mu, P, s.seed);
  evaluated members;  // DE's population or PSO's personal bests, with their objectives
  survivors parents;
  evaluation pending;  // the generation being evaluated
  bool pending_replay = false;
  double produce_s = 0;  // making the generation's genomes (variation, CMA-ES sampling)

  // The genomes of generation g (rank 0).
  auto produce = [&](int g) {
    const auto t0 = clock_type::now();
    std::vector<std::vector<double>> out;
    if (cma) {
      out = es->ask(static_cast<std::uint64_t>(g));
    } else if (de) {
      out = dev->ask(static_cast<std::uint64_t>(g));
    } else if (pso) {
      out = swarm->ask(static_cast<std::uint64_t>(g));
    } else if (g == 0) {
      out.assign(mu, std::vector<double>(P));
      for (std::size_t i = 0; i < mu; ++i) {
        random_stream r(s.seed, 0, i, purpose::initialize);
        for (double& x : out[i]) x = r.uniform();
      }
    } else {
      out = make_offspring(parents, lambda, static_cast<std::uint64_t>(g), s);
    }
    produce_s = since(t0);
    return out;
  };

  // Generation g's evaluation is in `pending` (rank 0): hall of fame, selection, history,
  // log, checkpoint.
  auto finish = [&](int g) {
    evaluation& ev = pending;
    sched::stage_times t = ev.times;
    const std::size_t n = ev.e.genomes.size();
    if (pending_replay) {
      const std::size_t k = static_cast<std::size_t>(g);
      t.simulate_s = resume->simulate_s[k];
      t.copy_s = resume->copy_s[k];
      t.score_s = resume->score_s[k];
      t.communicate_s = resume->communicate_s[k];
      t.select_s = resume->select_s[k];
      ev.e.diverged = resume->diverged[k];
      res.simulations = static_cast<std::size_t>(resume->simulations[k]);
    } else {
      res.simulations += ev.cells;
    }
    hof.update(space, ev.e);
    const auto t0 = clock_type::now();
    int n_evaluated = static_cast<int>(n);
    const int diverged = ev.e.diverged;
    if (cma || de || pso) {
      std::vector<double> cost(ev.e.obj.n);
      for (std::size_t i = 0; i < ev.e.obj.n; ++i) cost[i] = row_sum(ev.e.obj, i);
      if (cma) es->tell(ev.e.genomes, cost);
      if (de) update_members(members, ev.e, dev->tell(ev.e.genomes, cost));
      if (pso) update_members(members, ev.e, swarm->tell(ev.e.genomes, cost));
    } else if (g == 0 || s.algorithm != strategy::mu_plus_lambda) {
      parents = environmental_selection(ev.e, mu, s);
    } else {
      parents = environmental_selection(concat(parents.pop, ev.e), mu, s);
    }
    if (!pending_replay) t.select_s = produce_s + since(t0);
    t.wall_s =
        pending_replay ? resume->wall_s[static_cast<std::size_t>(g)] : wall_offset + since(t_start);
    const evaluated& population = cma ? ev.e : de || pso ? members : parents.pop;
    record(g, population, diverged, t, n_evaluated, pending_replay);

    log.evaluated.push_back(n);
    for (const auto& x : ev.e.genomes) log.genomes.insert(log.genomes.end(), x.begin(), x.end());
    log.objectives.insert(log.objectives.end(), ev.e.obj.values.begin(), ev.e.obj.values.end());
    log.diverged.push_back(diverged);
    log.wall_s.push_back(t.wall_s);
    log.simulate_s.push_back(t.simulate_s);
    log.copy_s.push_back(t.copy_s);
    log.score_s.push_back(t.score_s);
    log.communicate_s.push_back(t.communicate_s);
    log.select_s.push_back(t.select_s);
    log.simulations.push_back(static_cast<double>(res.simulations));
    if (pending_replay) {
      ++res.replayed;
      wall_offset = t.wall_s;
    } else if (control.checkpoint && control.checkpoint_every > 0 &&
               (g + 1) % control.checkpoint_every == 0 && g < s.generations) {
      control.checkpoint(log);
    }
  };

  // The generation loop; every rank runs it. Per generation: rank 0 finishes the previous
  // generation and decides (agreed, so an error there stops every rank), broadcasts the
  // genomes, and the ranks evaluate them together.
  enum action : int { evaluate_genomes = 0, replay_genomes = 1, stop_run = 2 };
  std::vector<std::vector<double>> genomes;
  for (int g = 0;; ++g) {
    std::vector<double> msg;
    comm::agree(ctx, [&] {
      if (!root) return;
      if (g > 0) {
        if (pending.incomplete) {  // a stop request cut the evaluation short: discard it
          res.stop_reason = "interrupted";
        } else {
          finish(g - 1);
        }
      }
      const bool stop_now = res.stop_reason == "interrupted" ||
                            (g <= s.generations && (pending.stop || (stop && stop())));
      // The budget: decided here on rank 0 and sent with the stop message. A replayed
      // generation is inside the budget it was run with.
      const bool replaying = resume && static_cast<std::size_t>(g) < resume->generations();
      if (!stop_now && !replaying && g <= s.generations && g > 0) {
        const std::size_t next = cma ? static_cast<std::size_t>(es->lambda()) : lambda;
        const double cells = static_cast<double>(next * p.stimuli.size());
        if ((s.max_simulations > 0 &&
             static_cast<double>(res.simulations) + cells > s.max_simulations) ||
            (s.max_wall_s > 0 && wall_offset + since(t_start) >= s.max_wall_s)) {
          res.stop_reason = "budget";
          msg = {static_cast<double>(stop_run), 0.0};
          return;
        }
      }
      if (g > s.generations || stop_now) {
        if (stop_now) {
          res.stop_reason = "interrupted";
          if (control.checkpoint) control.checkpoint(log);
        }
        msg = {static_cast<double>(stop_run), stop_now ? 1.0 : 0.0};
        return;
      }
      genomes = produce(g);
      pending = evaluation{};
      pending_replay = resume && static_cast<std::size_t>(g) < resume->generations();
      if (pending_replay) {
        const std::size_t k = static_cast<std::size_t>(g);
        if (resume->evaluated[k] != genomes.size()) {
          throw config_error("cellfit::ga: the checkpoint does not match this run: generation " +
                             std::to_string(g) + " evaluated " +
                             std::to_string(resume->evaluated[k]) + " genomes there, " +
                             std::to_string(genomes.size()) + " here");
        }
        for (std::size_t i = 0; i < genomes.size(); ++i) {
          for (std::size_t j = 0; j < P; ++j) {
            if (genomes[i][j] != resume->genomes[(replay_from + i) * P + j]) {
              throw config_error(
                  "cellfit::ga: the checkpoint does not match this run: generation " +
                  std::to_string(g) + ", individual " + std::to_string(i) +
                  " differs (changed seed, algorithm or settings?)");
            }
          }
        }
        pending.e.genomes = genomes;
        pending.e.obj.n = genomes.size();
        pending.e.obj.m = M;
        pending.e.obj.values.assign(
            resume->objectives.begin() + static_cast<std::ptrdiff_t>(replay_from * M),
            resume->objectives.begin() +
                static_cast<std::ptrdiff_t>((replay_from + genomes.size()) * M));
        replay_from += genomes.size();
        msg = {static_cast<double>(replay_genomes)};
        return;
      }
      msg = {static_cast<double>(evaluate_genomes), static_cast<double>(genomes.size())};
      for (const auto& x : genomes) msg.insert(msg.end(), x.begin(), x.end());
      const std::vector<double> rates = evaluate.rates();
      msg.insert(msg.end(), rates.begin(), rates.end());
    });
    const auto t_comm = clock_type::now();
    ctx.broadcast(msg, 0);
    const double comm_s = since(t_comm);
    const int act = static_cast<int>(msg.at(0));
    if (act == stop_run) {
      if (msg.at(1) != 0) res.stop_reason = "interrupted";
      break;
    }
    if (act == replay_genomes) continue;
    if (!root) {
      const std::size_t n = static_cast<std::size_t>(msg.at(1));
      genomes.assign(n, std::vector<double>(P));
      for (std::size_t i = 0; i < n; ++i)
        std::copy(msg.begin() + static_cast<std::ptrdiff_t>(2 + i * P),
                  msg.begin() + static_cast<std::ptrdiff_t>(2 + (i + 1) * P), genomes[i].begin());
    }
    evaluate.set_rates(
        {msg.begin() + static_cast<std::ptrdiff_t>(2 + genomes.size() * P), msg.end()});
    evaluation ev = evaluate(std::move(genomes));
    ev.times.communicate_s += comm_s;
    if (root) pending = std::move(ev);
  }
  res.plan = evaluate.plan();
  if (!root) return res;
  res.hall_of_fame = hof.items();
  if (res.hall_of_fame.empty() && res.stop_reason != "interrupted") res.stop_reason = "diverged";
  res.wall_seconds = wall_offset + since(t_start);
  return res;
}

}  // namespace cellfit::ga
