#pragma once
// Lays a batch of (parameter set x stimulus) cells out as a forward_problem in the default
// memory space: geometry, parameters, sampled stimuli, recording sites, state. Shared by
// the forward driver (batch_simulator.cpp) and the gradient driver. Host code; blocks.

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <Kokkos_Core.hpp>

#include "kernels/forward.hpp"
#include "model/cell_model.hpp"
#include "model/ion_layout.hpp"
#include "sim/batch_simulator.hpp"
#include "stimulus/stimulus.hpp"

namespace cellfit::detail {

template <class Real, class Mem>
Kokkos::View<const Real*, Mem> upload(const std::string& label, const std::vector<double>& v) {
  Kokkos::View<Real*, Mem> out(label, v.size());
  auto h = Kokkos::create_mirror_view(out);
  for (std::size_t k = 0; k < v.size(); ++k) h(k) = static_cast<Real>(v[k]);
  Kokkos::deep_copy(out, h);
  return out;
}

// One mechanism's views: where it sits, its ion rows, constants, and every cell's
// parameters (padding lanes repeat the last cell so that they compute finite, ignored
// values).
template <class Mechanism, class Real, class Mem>
void make_mechanism(mechanism_views<Mechanism, Real, Mem>& mv, const cell_model& model,
                    const std::vector<ion_layout>& ions,
                    const std::vector<std::vector<std::vector<std::vector<double>>>>& values,
                    std::size_t n_stimuli, int n_tiles, int lanes, std::size_t n_cells) {
  using M = Mechanism;
  std::size_t mi = 0;
  while (mi < model.mechanisms.size() && model.mechanisms[mi].name != M::name) ++mi;
  const bool present = mi < model.mechanisms.size();
  const std::size_t n = present ? model.mechanisms[mi].compartments.size() : 0;
  const std::string label = std::string("cellfit::sim::") + M::name;
  Kokkos::View<int*, Mem> nodes(label + "::nodes", n);
  auto nodes_h = Kokkos::create_mirror_view(nodes);
  for (std::size_t j = 0; j < n; ++j) {
    nodes_h(j) = model.geom.node_of[static_cast<std::size_t>(model.mechanisms[mi].compartments[j])];
  }
  Kokkos::deep_copy(nodes, nodes_h);
  mv.nodes = nodes;
  constexpr int ni = M::n_ions > 0 ? M::n_ions : 1;
  Kokkos::View<int**, Kokkos::LayoutRight, Mem> rows(label + "::ion_row", n, ni);
  auto rows_h = Kokkos::create_mirror_view(rows);
  for (std::size_t j = 0; j < n; ++j) {
    for (int k = 0; k < ni; ++k) {
      rows_h(j, k) =
          k < M::n_ions ? ions[static_cast<std::size_t>(M::ion(k).species)].row_of(nodes_h(j)) : 0;
    }
  }
  Kokkos::deep_copy(rows, rows_h);
  mv.ion_row = rows;
  std::vector<double> constants(static_cast<std::size_t>(M::n_constants > 0 ? M::n_constants : 1));
  M::constants(model.celsius, constants.data());
  constants.resize(static_cast<std::size_t>(M::n_constants));
  mv.constants = upload<Real, Mem>(label + "::constants", constants);
  mv.params = batch_view4<Real, Mem>(label + "::params", n_tiles, M::n_params, n, lanes);
  mv.states = batch_view4<Real, Mem>(label + "::states", n_tiles, M::n_states > 0 ? M::n_states : 1,
                                     n, lanes);
  if (present) {
    auto ph = Kokkos::create_mirror_view(mv.params);
    const std::size_t padded = static_cast<std::size_t>(n_tiles) * static_cast<std::size_t>(lanes);
    for (std::size_t c = 0; c < padded; ++c) {
      const std::size_t cell = std::min(c, n_cells - 1);
      const auto& v = values[cell / n_stimuli][mi];
      const int tile = static_cast<int>(c / static_cast<std::size_t>(lanes));
      const int lane = static_cast<int>(c % static_cast<std::size_t>(lanes));
      for (int k = 0; k < M::n_params; ++k) {
        for (std::size_t j = 0; j < n; ++j) {
          ph(tile, k, j, lane) = static_cast<Real>(v[static_cast<std::size_t>(k)][j]);
        }
      }
    }
    Kokkos::deep_copy(mv.params, ph);
  }
}

// The ion species' views and flags (their values are set by initialize_states).
template <class Real, class Mem>
void make_ions(forward_problem<Real, Mem>& p, const std::vector<ion_layout>& ions, int n_tiles,
               int lanes) {
  p.ion_dynamics = 0;
  for (int s = 0; s < n_ion_species; ++s) {
    const ion_layout& il = ions[static_cast<std::size_t>(s)];
    auto& io = p.ions[s];
    const std::string label = std::string("cellfit::sim::ion_") + ion_species_table[s].name;
    const std::size_t rows = il.nodes.size();
    io.e = batch_view3<Real, Mem>(label + "::e", n_tiles, rows, lanes);
    io.ci = batch_view3<Real, Mem>(label + "::ci", n_tiles, rows, lanes);
    io.co = batch_view3<Real, Mem>(label + "::co", n_tiles, rows, lanes);
    io.isum = batch_view3<Real, Mem>(label + "::isum", n_tiles, rows, lanes);
    io.e0 = upload<Real, Mem>(label + "::e0", il.e0_mv);
    io.ci0 = upload<Real, Mem>(label + "::ci0", il.ci0_mm);
    io.co0 = upload<Real, Mem>(label + "::co0", il.co0_mm);
    {
      Kokkos::View<int*, Mem> at(label + "::nernst_at", rows);
      auto at_h = Kokkos::create_mirror_view(at);
      for (std::size_t r = 0; r < rows; ++r) at_h(r) = il.nernst_at[r];
      Kokkos::deep_copy(at, at_h);
      io.nernst_at = at;
    }
    io.nernst_mv = static_cast<Real>(il.nernst_mv);
    io.nernst = il.nernst ? 1 : 0;
    io.accumulate = il.accumulate ? 1 : 0;
    io.dynamic = il.dynamic ? 1 : 0;
    if (il.dynamic) p.ion_dynamics = 1;
  }
}

// The factor that turns a current density at node i into a current: mA/cm2 * um2 -> nA
// (cable), 1 (point models). Junction nodes have no membrane.
inline double area_factor(const cable_geometry& g, int i) {
  return g.point_model ? 1.0 : g.area_um2[static_cast<std::size_t>(i)] * 1e-2;
}

// Node capacitance per unit cm: C_i = cm * capacitance_per_cm(g, i) (nF per uF/cm2 in cable
// models: uF/cm2 * um2 -> nF; 1 in point models, where cm is the capacitance itself).
inline double capacitance_per_cm(const cable_geometry& g, int i) {
  if (g.compartment_of[static_cast<std::size_t>(i)] < 0) return 0.0;
  return g.point_model ? 1.0 : g.area_um2[static_cast<std::size_t>(i)] * 1e-5;
}

// The passive terms of one cell's matrix for cm and Ra per compartment: G_i of node i to its
// parent (the geometry's, scaled by model Ra / cell Ra: G is proportional to 1/Ra, and a
// cell with the model's Ra gets the geometry's value bit for bit) and d_const_i = C_i/dt +
// sum of G_ij.
struct passive_terms {
  std::vector<double> g_axial, d_const;  // [node]
};
inline passive_terms make_passive_terms(const cell_model& model, const std::vector<double>& cm,
                                        const std::vector<double>& ra, double dt_ms) {
  const cable_geometry& g = model.geom;
  const std::size_t n = static_cast<std::size_t>(g.n_nodes());
  passive_terms t;
  t.g_axial.assign(n, 0.0);
  t.d_const.assign(n, 0.0);
  for (std::size_t iu = 0; iu < n; ++iu) {
    const int i = static_cast<int>(iu);
    const int c = g.compartment_of[iu];
    if (c >= 0) t.d_const[iu] += cm[static_cast<std::size_t>(c)] * capacitance_per_cm(g, i) / dt_ms;
    if (g.parent[iu] < 0) continue;
    double gax = g.g_axial[iu];
    if (!g.point_model) {
      const std::size_t rc = static_cast<std::size_t>(ra_compartment(g, i));
      if (ra[rc] != g.ra_ohm_cm[iu]) gax *= g.ra_ohm_cm[iu] / ra[rc];
    }
    t.g_axial[iu] = gax;
    t.d_const[iu] += gax;
    t.d_const[static_cast<std::size_t>(g.parent[iu])] += gax;
  }
  return t;
}

// Precondition: settings validated (simulate_batch does it). State: V = v_init, gates not
// yet initialised (call initialize_states).
template <class Real, int lanes>
forward_problem<Real, device_memory> build_forward_problem(const cell_model& model,
                                                           const std::vector<parameter_set>& sets,
                                                           const std::vector<stimulus>& stimuli,
                                                           const simulation_settings& s) {
  using mem = device_memory;
  const cable_geometry& g = model.geom;
  const std::size_t n_stim = stimuli.size();
  const std::size_t n_cells = sets.size() * n_stim;
  const int n_tiles = static_cast<int>((n_cells + lanes - 1) / lanes);
  const int n_nodes = g.n_nodes();
  const int n_steps = s.n_steps();

  forward_problem<Real, mem> p;
  p.n_nodes = n_nodes;
  p.n_tiles = n_tiles;
  p.lanes = lanes;
  p.n_steps = n_steps;
  p.record_every = s.record_every;
  p.n_samples = s.n_samples();
  p.dt_ms = static_cast<Real>(s.dt_ms);
  p.v_bound_mv = static_cast<Real>(s.v_bound_mv);

  // Geometry: parents and area factors, shared by all cells.
  {
    Kokkos::View<int*, mem> parent("cellfit::sim::parent", n_nodes);
    Kokkos::View<Real*, mem> afac("cellfit::sim::area_factor", n_nodes);
    auto parent_h = Kokkos::create_mirror_view(parent);
    auto afac_h = Kokkos::create_mirror_view(afac);
    for (int i = 0; i < n_nodes; ++i) {
      const std::size_t iu = static_cast<std::size_t>(i);
      parent_h(i) = g.parent[iu];
      afac_h(i) = static_cast<Real>(g.compartment_of[iu] < 0 ? 0.0 : area_factor(g, i));
    }
    Kokkos::deep_copy(parent, parent_h);
    Kokkos::deep_copy(afac, afac_h);
    p.parent = parent;
    p.area_factor = afac;
  }

  // Parameters of every set, resolved once per set; the passive group is the last entry.
  std::vector<std::vector<std::vector<std::vector<double>>>> values;
  values.reserve(sets.size());
  for (const auto& set : sets) values.push_back(resolve_parameters(model, set));

  // Passive matrix terms: once for all cells unless some set changes cm or Ra.
  {
    const std::size_t pg = model.mechanisms.size();
    bool per_cell = false;
    for (const auto& v : values)
      per_cell = per_cell || v[pg][0] != model.cm || v[pg][1] != model.ra_ohm_cm;
    const int tiles = per_cell ? n_tiles : 1;
    batch_view3<Real, mem> gax("cellfit::sim::g_axial", tiles, n_nodes, lanes);
    batch_view3<Real, mem> dconst("cellfit::sim::d_const", tiles, n_nodes, lanes);
    auto gax_h = Kokkos::create_mirror_view(gax);
    auto dconst_h = Kokkos::create_mirror_view(dconst);
    const passive_terms shared = make_passive_terms(model, model.cm, model.ra_ohm_cm, s.dt_ms);
    for (int tile = 0; tile < tiles; ++tile) {
      for (int lane = 0; lane < lanes; ++lane) {
        const std::size_t cell = std::min(
            static_cast<std::size_t>(tile) * lanes + static_cast<std::size_t>(lane), n_cells - 1);
        const auto& pv = values[cell / n_stim][pg];
        const passive_terms terms =
            per_cell ? make_passive_terms(model, pv[0], pv[1], s.dt_ms) : shared;
        for (int i = 0; i < n_nodes; ++i) {
          const std::size_t iu = static_cast<std::size_t>(i);
          gax_h(tile, i, lane) = static_cast<Real>(terms.g_axial[iu]);
          dconst_h(tile, i, lane) = static_cast<Real>(terms.d_const[iu]);
        }
      }
    }
    Kokkos::deep_copy(gax, gax_h);
    Kokkos::deep_copy(dconst, dconst_h);
    p.g_axial = gax;
    p.d_const = dconst;
    p.passive_per_cell = per_cell ? 1 : 0;
  }

  const std::vector<ion_layout> ions = layout_ions(model);
  make_ions(p, ions, n_tiles, lanes);
  p.mechs.for_each_host(
      [&](auto& mv) { make_mechanism(mv, model, ions, values, n_stim, n_tiles, lanes, n_cells); });

  // Stimuli sampled at step midpoints; clamps and conductance synapses as a conductance and
  // its current at V = 0.
  {
    const sampled_stimuli st = sample_stimuli(stimuli, static_cast<std::size_t>(n_steps), s.dt_ms);
    const bool clamp = st.has_clamp(), synapse = st.has_synapse_conductance();
    const std::size_t n_clamp_stim = clamp || synapse ? n_stim : 0;
    Kokkos::View<int*, mem> inj("cellfit::sim::inject_node", st.sites.size());
    Kokkos::View<Real***, Kokkos::LayoutRight, mem> iext("cellfit::sim::i_ext", n_stim,
                                                         st.sites.size(), n_steps);
    Kokkos::View<Real***, Kokkos::LayoutRight, mem> gext("cellfit::sim::g_ext", n_clamp_stim,
                                                         n_clamp_stim ? st.sites.size() : 0,
                                                         n_clamp_stim ? n_steps : 0);
    auto gext_h = Kokkos::create_mirror_view(gext);
    Kokkos::View<int*, mem> stim_of("cellfit::sim::stimulus_of_cell",
                                    static_cast<std::size_t>(n_tiles) * lanes);
    auto inj_h = Kokkos::create_mirror_view(inj);
    auto iext_h = Kokkos::create_mirror_view(iext);
    auto stim_of_h = Kokkos::create_mirror_view(stim_of);
    for (std::size_t k = 0; k < st.sites.size(); ++k) {
      inj_h(k) = g.node_of[static_cast<std::size_t>(st.sites[k])];
    }
    for (std::size_t a = 0; a < n_stim; ++a) {
      for (std::size_t k = 0; k < st.sites.size(); ++k) {
        for (int n = 0; n < n_steps; ++n) {
          const std::size_t q = st.index(a, k, static_cast<std::size_t>(n));
          double i = st.current[q], g_total = 0;
          if (clamp) {
            i += st.clamp_g_us[q] * st.clamp_mv[q];
            g_total += st.clamp_g_us[q];
          }
          if (synapse) {
            i += st.synapse_g_us[q] * st.synapse_e_mv[q];
            g_total += st.synapse_g_us[q];
          }
          if (n_clamp_stim) gext_h(a, k, n) = static_cast<Real>(g_total);
          iext_h(a, k, n) = static_cast<Real>(i);
        }
      }
    }
    for (std::size_t c = 0; c < stim_of_h.extent(0); ++c) {
      stim_of_h(c) = static_cast<int>(std::min(c, n_cells - 1) % n_stim);
    }
    Kokkos::deep_copy(inj, inj_h);
    Kokkos::deep_copy(iext, iext_h);
    Kokkos::deep_copy(gext, gext_h);
    Kokkos::deep_copy(stim_of, stim_of_h);
    p.inject_node = inj;
    p.i_ext = iext;
    p.g_ext = gext;
    p.stimulus_of_cell = stim_of;
  }

  const std::size_t n_sites = s.record_compartments.size();
  {
    Kokkos::View<int*, mem> rec("cellfit::sim::record_node", n_sites);
    auto rec_h = Kokkos::create_mirror_view(rec);
    for (std::size_t k = 0; k < n_sites; ++k) {
      rec_h(k) = g.node_of[static_cast<std::size_t>(s.record_compartments[k])];
    }
    Kokkos::deep_copy(rec, rec_h);
    p.record_node = rec;
  }
  p.recorded = batch_view4<Real, mem>(
      Kokkos::view_alloc("cellfit::sim::recorded", Kokkos::WithoutInitializing), n_tiles, n_sites,
      p.n_samples, lanes);
  p.v = batch_view3<Real, mem>("cellfit::sim::v", n_tiles, n_nodes, lanes);
  p.d = batch_view3<Real, mem>("cellfit::sim::d", n_tiles, n_nodes, lanes);
  p.rhs = batch_view3<Real, mem>("cellfit::sim::rhs", n_tiles, n_nodes, lanes);
  p.failed_step = Kokkos::View<int*, mem>("cellfit::sim::failed_step",
                                          static_cast<std::size_t>(n_tiles) * lanes);
  Kokkos::deep_copy(p.v, static_cast<Real>(model.v_init_mv));

  return p;
}

}  // namespace cellfit::detail
