#include "sim/gradient.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include <Kokkos_Core.hpp>

#include "common/error.hpp"
#include "kernels/adjoint.hpp"
#include "model/ion_layout.hpp"
#include "sim/forward_setup.hpp"

namespace cellfit {

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

double machine_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 0.0;
}

std::size_t state_rows(const cell_model& model) {
  std::size_t rows = 0;
  for (const auto& pl : model.mechanisms) {
    rows += static_cast<std::size_t>(find_mechanism(pl.name)->n_states) * pl.compartments.size();
  }
  return rows;
}

template <class V>
double bytes_of(V const& v) {
  return static_cast<double>(v.span()) * sizeof(typename V::value_type);
}

// dL/dcm and dL/dRa per compartment from the adjoint's dL/d(C_i/dt) and dL/dG_i:
// C_i/dt = cm_c capacitance_per_cm(i) / dt, and G_i is proportional to 1/Ra of its section,
// so dG_i/dRa = -G_i / Ra (the Ra of ra_compartment(i)).
template <class Adjoint>
void passive_gradients(const cell_model& model, const std::vector<parameter_set>& sets,
                       std::size_t n_stim, double dt_ms, Adjoint const& a, gradient_result& r) {
  const cable_geometry& g = model.geom;
  const int lanes = a.f.lanes;
  const std::size_t pg = model.mechanisms.size();
  auto gc = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), a.grad_cap);
  auto gg = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), a.grad_g);
  const std::size_t n_comp = static_cast<std::size_t>(g.n_compartments());
  for (std::size_t set = 0; set < sets.size(); ++set) {
    const auto values = resolve_parameters(model, sets[set]);
    const auto& cm = values[pg][passive_cm];
    const auto& ra = values[pg][passive_ra];
    const detail::passive_terms terms = detail::make_passive_terms(model, cm, ra, dt_ms);
    for (std::size_t x = 0; x < n_stim; ++x) {
      const std::size_t c = set * n_stim + x;
      const int tile = static_cast<int>(c / static_cast<std::size_t>(lanes));
      const int lane = static_cast<int>(c % static_cast<std::size_t>(lanes));
      std::vector<std::vector<double>> out(2, std::vector<double>(n_comp, 0.0));
      if (r.failed_step[c] < 0) {
        for (int i = 0; i < g.n_nodes(); ++i) {
          const std::size_t iu = static_cast<std::size_t>(i);
          const int comp = g.compartment_of[iu];
          if (comp >= 0) {
            out[passive_cm][static_cast<std::size_t>(comp)] +=
                gc(tile, i, lane) * detail::capacitance_per_cm(g, i) / dt_ms;
          }
          if (g.parent[iu] < 0 || g.point_model) continue;
          const std::size_t rc = static_cast<std::size_t>(ra_compartment(g, i));
          out[passive_ra][rc] -= gg(tile, i, lane) * terms.g_axial[iu] / ra[rc];
        }
      }
      r.grad[c][pg] = std::move(out);
    }
  }
}

template <int Lanes>
gradient_result run(const cell_model& model, const std::vector<parameter_set>& sets,
                    const std::vector<stimulus>& stimuli, const simulation_settings& s,
                    const trace_loss_function& loss, int K, const adjoint_options& opt) {
  using mem = device_memory;
  const auto t_setup = clock_type::now();
  const std::size_t n_cells = sets.size() * stimuli.size();
  const std::size_t n_sites = s.record_compartments.size();
  const std::size_t n_samples = static_cast<std::size_t>(s.n_samples());
  adjoint_problem<double, mem> a;
  a.f = detail::build_forward_problem<double, Lanes>(model, sets, stimuli, s);
  const int n_tiles = a.f.n_tiles, n_steps = a.f.n_steps, n_nodes = a.f.n_nodes;
  a.checkpoint_every = K;
  a.n_segments = (n_steps + K - 1) / K;
  const auto noinit = [](const char* label) {
    return Kokkos::view_alloc(std::string(label), Kokkos::WithoutInitializing);
  };
  a.ckpt_v = batch_view4<double, mem>(noinit("cellfit::gradient::ckpt_v"), n_tiles, a.n_segments,
                                      n_nodes, Lanes);
  a.seg_v =
      batch_view4<double, mem>(noinit("cellfit::gradient::seg_v"), n_tiles, K + 1, n_nodes, Lanes);
  a.lam_v = batch_view3<double, mem>("cellfit::gradient::lam_v", n_tiles, n_nodes, Lanes);
  a.seed = batch_view4<double, mem>("cellfit::gradient::seed", n_tiles, n_sites, n_samples, Lanes);
  double trajectory = bytes_of(a.ckpt_v) + bytes_of(a.seg_v);
  double other = bytes_of(a.lam_v) + 2 * bytes_of(a.seed);
  a.f.mechs.for_each_host([&](auto& mv) {
    using M = typename std::decay_t<decltype(mv)>::mechanism;
    auto& av = a.mechs.template get<M>();
    const std::string label = std::string("cellfit::gradient::") + M::name;
    const std::size_t rows = static_cast<std::size_t>(M::n_states) * mv.nodes.extent(0);
    av.ckpt = batch_view4<double, mem>(noinit((label + "::ckpt").c_str()), n_tiles, a.n_segments,
                                       rows, Lanes);
    av.seg =
        batch_view4<double, mem>(noinit((label + "::seg").c_str()), n_tiles, K + 1, rows, Lanes);
    av.grad = batch_view4<double, mem>(label + "::grad", mv.params.extent(0), mv.params.extent(1),
                                       mv.params.extent(2), mv.params.extent(3));
    av.lam = batch_view3<double, mem>(label + "::lam", n_tiles, rows, Lanes);
    trajectory += bytes_of(av.ckpt) + bytes_of(av.seg);
    other += bytes_of(mv.params) + bytes_of(mv.states) + 3 * bytes_of(av.grad) + bytes_of(av.lam);
  });
  if (opt.passive_gradient) {
    a.grad_cap = batch_view3<double, mem>("cellfit::gradient::grad_cap", n_tiles, n_nodes, Lanes);
    a.grad_g = batch_view3<double, mem>("cellfit::gradient::grad_g", n_tiles, n_nodes, Lanes);
    other += bytes_of(a.grad_cap) + bytes_of(a.grad_g);
  }
  for (int s_ = 0; s_ < n_ion_species; ++s_) {
    const auto& io = a.f.ions[s_];
    auto& ia = a.ions[s_];
    const std::string label = std::string("cellfit::gradient::ion_") + ion_species_table[s_].name;
    const std::size_t rows = io.dynamic ? static_cast<std::size_t>(io.rows()) : 0;
    ia.ckpt = batch_view4<double, mem>(noinit((label + "::ckpt").c_str()), n_tiles, a.n_segments,
                                       4 * rows, Lanes);
    ia.seg = batch_view4<double, mem>(noinit((label + "::seg").c_str()), n_tiles, K + 1, 4 * rows,
                                      Lanes);
    ia.lam_e = batch_view3<double, mem>(label + "::lam_e", n_tiles, rows, Lanes);
    ia.lam_ci = batch_view3<double, mem>(label + "::lam_ci", n_tiles, rows, Lanes);
    ia.lam_co = batch_view3<double, mem>(label + "::lam_co", n_tiles, rows, Lanes);
    ia.lam_isum = batch_view3<double, mem>(label + "::lam_isum", n_tiles, rows, Lanes);
    trajectory += bytes_of(ia.ckpt) + bytes_of(ia.seg);
    other += 4 * bytes_of(ia.lam_e) + bytes_of(io.e) + bytes_of(io.ci) + bytes_of(io.co) +
             bytes_of(io.isum);
  }

  gradient_result r;
  r.n_cells = n_cells;
  r.n_sites = n_sites;
  r.n_samples = n_samples;
  r.checkpoint_every = K;
  r.n_segments = a.n_segments;
  r.trajectory_bytes = trajectory;
  r.peak_bytes = r.trajectory_bytes + other + bytes_of(a.f.v) + bytes_of(a.f.d) +
                 bytes_of(a.f.rhs) + bytes_of(a.f.recorded) + bytes_of(a.f.i_ext) +
                 bytes_of(a.f.g_ext);

  device_space exec;
  initialize_states(exec, a.f);
  exec.fence();
  const double setup_s = seconds_since(t_setup);
  const auto t_fwd = clock_type::now();
  adjoint_forward<Lanes>(exec, a);
  exec.fence();
  r.forward_seconds = seconds_since(t_fwd);
  r.setup_seconds = setup_s;

  // The loss and its derivative with respect to each recorded sample, on the host.
  auto rec_h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), a.f.recorded);
  auto fail_h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), a.f.failed_step);
  auto seed_h = Kokkos::create_mirror_view(a.seed);
  Kokkos::deep_copy(seed_h, 0.0);
  r.loss.assign(n_cells, std::numeric_limits<double>::quiet_NaN());
  r.failed_step.assign(n_cells, -1);
  r.voltage.resize(n_cells * n_sites * n_samples);
  std::vector<double> dv(n_sites * n_samples);
  for (std::size_t c = 0; c < n_cells; ++c) {
    const int tile = static_cast<int>(c / Lanes), lane = static_cast<int>(c % Lanes);
    double* v = &r.voltage[c * n_sites * n_samples];
    // Every cell runs to the longest protocol (padded); a shorter one's trace ends at its
    // own end, NaN after it as simulate writes it, and its loss sees nothing beyond.
    const int steps = static_cast<int>(
        std::llround(stimulus_duration_ms(stimuli[c % stimuli.size()], s.t_stop_ms) / s.dt_ms));
    const std::size_t keep =
        std::min(n_samples, static_cast<std::size_t>(steps / s.record_every + 1));
    for (std::size_t k = 0; k < n_sites; ++k) {
      for (std::size_t t = 0; t < n_samples; ++t) {
        v[k * n_samples + t] = t < keep ? static_cast<double>(rec_h(tile, k, t, lane))
                                        : std::numeric_limits<double>::quiet_NaN();
      }
    }
    r.failed_step[c] = fail_h(c);
    if (fail_h(c) >= 0) continue;  // no gradient through a diverged cell
    std::fill(dv.begin(), dv.end(), 0.0);
    const double l = loss(c, v, dv.data());
    r.loss[c] = l;
    bool finite = std::isfinite(l);
    for (double x : dv) finite = finite && std::isfinite(x);
    if (!finite) {
      throw internal_error("cellfit::gradient: the loss of cell " + std::to_string(c) +
                           " or its derivative is not finite");
    }
    for (std::size_t k = 0; k < n_sites; ++k) {
      for (std::size_t t = 0; t < n_samples; ++t) seed_h(tile, k, t, lane) = dv[k * n_samples + t];
    }
  }
  if (!opt.gradient) return r;
  Kokkos::deep_copy(a.seed, seed_h);

  const auto t_bwd = clock_type::now();
  adjoint_backward<Lanes>(exec, a);
  exec.fence();
  r.backward_seconds = seconds_since(t_bwd);

  // Gradients per mechanism of the model, in model.mechanisms order, then the passive group.
  r.grad.assign(n_cells, {});
  for (auto& g : r.grad) g.resize(model.mechanisms.size() + 1);
  if (opt.passive_gradient) passive_gradients(model, sets, stimuli.size(), s.dt_ms, a, r);
  a.f.mechs.for_each_host([&](auto& mv) {
    using M = typename std::decay_t<decltype(mv)>::mechanism;
    std::size_t mi = 0;
    while (mi < model.mechanisms.size() && model.mechanisms[mi].name != M::name) ++mi;
    if (mi == model.mechanisms.size()) return;
    auto g =
        Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), a.mechs.template get<M>().grad);
    const std::size_t n_inst = model.mechanisms[mi].compartments.size();
    for (std::size_t c = 0; c < n_cells; ++c) {
      const bool ok = r.failed_step[c] < 0;
      std::vector<std::vector<double>> per_param(static_cast<std::size_t>(M::n_params),
                                                 std::vector<double>(n_inst));
      for (std::size_t k = 0; k < per_param.size(); ++k) {
        for (std::size_t j = 0; j < n_inst; ++j)
          per_param[k][j] = ok ? g(c / Lanes, k, j, c % Lanes) : 0.0;
      }
      r.grad[c][mi] = std::move(per_param);
    }
  });
  return r;
}

}  // namespace

std::size_t samples_before_nan(const double* v, std::size_t n) {
  std::size_t k = 0;
  while (k < n && !std::isnan(v[k])) ++k;
  return k;
}

double adjoint_trajectory_bytes_per_cell(const cell_model& model, const simulation_settings& s,
                                         int K) {
  double ion_rows = 0;
  for (const auto& io : layout_ions(model)) {
    if (io.dynamic) ion_rows += 4.0 * static_cast<double>(io.nodes.size());
  }
  const double rows = static_cast<double>(model.geom.n_nodes() + state_rows(model)) + ion_rows;
  const int n_steps = s.n_steps();
  const double segments = std::ceil(static_cast<double>(n_steps) / K);
  return 8.0 * rows * (segments + K + 1.0);
}

gradient_result loss_gradient(const cell_model& model, const std::vector<parameter_set>& sets,
                              const std::vector<stimulus>& stimuli, const simulation_settings& s,
                              const trace_loss_function& loss, const adjoint_options& opt) {
  check_batch(model, sets, stimuli, s);
  if (s.prec != precision::fp64) {
    throw config_error("cellfit::gradient: the adjoint runs in fp64 only (simulation.precision)");
  }
  const std::size_t n_cells = sets.size() * stimuli.size();
  const int n_steps = s.n_steps();
  const double budget =
      opt.memory_budget_bytes > 0 ? opt.memory_budget_bytes : 0.4 * machine_bytes();
  auto need = [&](int K) {
    return adjoint_trajectory_bytes_per_cell(model, s, K) * static_cast<double>(n_cells);
  };
  int K = opt.checkpoint_every;
  if (K < 0) throw config_error("cellfit::gradient: checkpoint_every must be >= 0");
  if (K == 0) {
    K = n_steps;
    if (budget > 0 && need(K) > budget) {
      K = std::max(1, static_cast<int>(std::lround(std::sqrt(static_cast<double>(n_steps)))));
    }
  }
  K = std::min(K, n_steps);
  if (budget > 0 && need(K) > budget) {
    char msg[256];
    std::snprintf(msg, sizeof msg,
                  "the adjoint of %zu cells x %d steps needs %.3g GB with checkpoints every %d "
                  "steps, more than the %.3g GB budget: fewer cells per batch or a larger budget",
                  n_cells, n_steps, need(K) / 1e9, K, budget / 1e9);
    throw config_error(std::string("cellfit::gradient: ") + msg);
  }
  // 8 lanes, not the forward kernel's 32: GCC vectorises the dual-number loops of 8 lanes
  // but not those of a 32-lane tile, even chunked by 8 (measured with bench/adjoint_cost:
  // backward pass of hh on tree184 0.9 s at 8 lanes, 3.8 s at 32).
  constexpr int narrow = narrow_lane_width<device_space, double>::value;
  if (narrow > 1 && n_cells >= static_cast<std::size_t>(narrow)) {
    return run<narrow>(model, sets, stimuli, s, loss, K, opt);
  }
  return run<1>(model, sets, stimuli, s, loss, K, opt);
}

gradient_result loss_gradient(const cell_model& model, const std::vector<parameter_set>& sets,
                              const std::vector<stimulus>& stimuli, const simulation_settings& s,
                              const std::vector<double>& target, const adjoint_options& opt) {
  const std::size_t n_cells = sets.size() * stimuli.size();
  const std::size_t n_sites = s.record_compartments.size();
  const std::size_t n_samples = static_cast<std::size_t>(s.n_samples());
  const std::size_t per_cell = n_sites * n_samples;
  if (target.size() != n_cells * per_cell) {
    throw config_error("cellfit::gradient: target has " + std::to_string(target.size()) +
                       " values, the recordings " + std::to_string(n_cells) + " cells x " +
                       std::to_string(n_sites) + " sites x " + std::to_string(n_samples) +
                       " samples");
  }
  // The mean over a cell's sites and samples; a protocol shorter than the run covers its
  // own samples (the target is NaN after its end, as simulate writes it).
  auto mse = [&](std::size_t c, const double* v, double* dv) {
    const double* t = &target[c * per_cell];
    const std::size_t n =
        n_sites > 0 ? std::min(samples_before_nan(t, n_samples), samples_before_nan(v, n_samples))
                    : n_samples;
    const double norm = 1.0 / static_cast<double>(std::max<std::size_t>(n * n_sites, 1));
    double sum = 0;
    for (std::size_t site = 0; site < n_sites; ++site) {
      for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = site * n_samples + k;
        const double diff = v[i] - t[i];
        sum += diff * diff;
        dv[i] = 2.0 * norm * diff;
      }
    }
    return sum * norm;
  };
  return loss_gradient(model, sets, stimuli, s, mse, opt);
}

}  // namespace cellfit
