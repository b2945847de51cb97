#include "sim/sensitivity.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include <Kokkos_Core.hpp>

#include "common/error.hpp"
#include "kernels/dual.hpp"
#include "sim/forward_setup.hpp"

namespace cellfit {

namespace {

using dual_type = dual<double, sensitivity_width>;

// Seeds derivative slot k of every cell with d(instance value)/d(scalar) for the passive
// group: C_i/dt is linear in cm, and G_i is proportional to 1/Ra, so dG_i/dRa = -G_i/Ra
// (entering d_const at the node and at its parent, as make_passive_terms sums them).
void seed_passive(forward_problem<dual_type, device_memory>& p, const cell_model& model,
                  const std::vector<double>& ra, const parameter_space::instance_weight& w, int k,
                  double dt_ms) {
  const cable_geometry& g = model.geom;
  auto gax = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), p.g_axial);
  auto dc = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), p.d_const);
  const int tiles = static_cast<int>(dc.extent(0)), lanes = static_cast<int>(dc.extent(2));
  for (int i = 0; i < g.n_nodes(); ++i) {
    const std::size_t iu = static_cast<std::size_t>(i);
    for (int t = 0; t < tiles; ++t) {
      for (int l = 0; l < lanes; ++l) {
        if (w.param == static_cast<std::size_t>(passive_cm)) {
          if (g.compartment_of[iu] == static_cast<int>(w.instance)) {
            dc(t, i, l).d[k] += w.factor * detail::capacitance_per_cm(g, i) / dt_ms;
          }
        } else if (g.parent[iu] >= 0 && !g.point_model &&
                   ra_compartment(g, i) == static_cast<int>(w.instance)) {
          const double dg = -w.factor * gax(t, i, l).v / ra[w.instance];
          gax(t, i, l).d[k] += dg;
          dc(t, i, l).d[k] += dg;
          dc(t, g.parent[iu], l).d[k] += dg;
        }
      }
    }
  }
  Kokkos::deep_copy(p.g_axial, gax);
  Kokkos::deep_copy(p.d_const, dc);
}

}  // namespace

trace_sensitivity trace_jacobian(const cell_model& model, const parameter_space& space,
                                 const std::vector<double>& physical,
                                 const std::vector<stimulus>& stimuli,
                                 const simulation_settings& settings) {
  if (physical.size() != space.size()) {
    throw internal_error("cellfit::sensitivity: " + std::to_string(physical.size()) +
                         " values for " + std::to_string(space.size()) + " parameters");
  }
  simulation_settings s = settings;
  s.prec = precision::fp64;
  const parameter_set set = space.to_set(physical);
  check_batch(model, {set}, stimuli, s);
  const auto t0 = std::chrono::steady_clock::now();
  const std::size_t P = space.size(), n_cells = stimuli.size();
  const std::size_t n_sites = s.record_compartments.size();
  const std::size_t n_samples = static_cast<std::size_t>(s.n_samples());
  const std::size_t pg = model.mechanisms.size();
  const std::vector<double> ra = resolve_parameters(model, set)[pg][passive_ra];

  trace_sensitivity r;
  r.n_cells = n_cells;
  r.n_sites = n_sites;
  r.n_samples = n_samples;
  r.n_params = P;
  r.voltage.assign(n_cells * n_sites * n_samples, std::numeric_limits<double>::quiet_NaN());
  r.jacobian.assign(r.voltage.size() * P, std::numeric_limits<double>::quiet_NaN());
  r.failed_step.assign(n_cells, -1);
  // One cell per tile: a tile's lanes would share nothing here (every cell has the same
  // parameters), and the dual numbers already give each operation sensitivity_width lanes.
  constexpr int lanes = 1;
  device_space exec;
  for (std::size_t first = 0; first < P; first += sensitivity_width) {
    const std::size_t width = std::min<std::size_t>(sensitivity_width, P - first);
    auto p = detail::build_forward_problem<dual_type, lanes>(model, {set}, stimuli, s);
    for (std::size_t k = 0; k < width; ++k) {
      const int slot = static_cast<int>(k);
      const auto weights = space.instance_weights(first + k);
      p.mechs.for_each_host([&](auto& mv) {
        using M = typename std::decay_t<decltype(mv)>::mechanism;
        std::size_t mi = 0;
        while (mi < pg && model.mechanisms[mi].name != M::name) ++mi;
        if (mi == pg) return;
        bool any = false;
        for (const auto& w : weights) any = any || w.mech == mi;
        if (!any) return;
        auto ph = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), mv.params);
        for (const auto& w : weights) {
          if (w.mech != mi) continue;
          for (std::size_t t = 0; t < ph.extent(0); ++t) {
            ph(t, w.param, w.instance, 0).d[slot] += w.factor;
          }
        }
        Kokkos::deep_copy(mv.params, ph);
      });
      for (const auto& w : weights) {
        if (w.mech == pg) seed_passive(p, model, ra, w, slot, s.dt_ms);
      }
    }
    initialize_states(exec, p);
    simulate<lanes>(exec, p, 0, p.n_tiles);
    exec.fence();
    ++r.passes;
    auto rec = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), p.recorded);
    auto fail = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), p.failed_step);
    for (std::size_t c = 0; c < n_cells; ++c) {
      r.failed_step[c] = fail(c);
      // Every cell runs to the longest protocol; a shorter one's trace ends at its own end
      // (NaN after it, as simulate writes it).
      const int steps =
          static_cast<int>(std::llround(stimulus_duration_ms(stimuli[c], s.t_stop_ms) / s.dt_ms));
      const std::size_t keep =
          std::min(n_samples, static_cast<std::size_t>(steps / s.record_every + 1));
      for (std::size_t site = 0; site < n_sites; ++site) {
        for (std::size_t t = 0; t < keep; ++t) {
          const dual_type& v =
              rec(static_cast<int>(c), static_cast<int>(site), static_cast<int>(t), 0);
          const std::size_t i = (c * n_sites + site) * n_samples + t;
          r.voltage[i] = v.v;
          for (std::size_t k = 0; k < width; ++k) r.jacobian[i * P + first + k] = v.d[k];
        }
      }
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace cellfit
