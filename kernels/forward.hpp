#pragma once
// Batched forward simulation of one morphology for many independent cells.
//
// Scheme: NEURON's fixed step with secondorder = 0. Per step n (t_n -> t_n + dt):
//   1. assemble the backward-Euler system for dv = V(n+1) - V(n) with each mechanism's
//      current linearised at V(n) and the injected current evaluated at t_n + dt/2,
//   2. solve it with the Hines algorithm (parent index < child index: one elimination sweep
//      towards the root, one substitution sweep away from it),
//   3. V(n+1) = V(n) + dv,
//   4. advance the states by cnexp at V(n+1) (staggered half a step, as in NEURON), in
//      catalogue order; a concentration a mechanism writes reaches the ion as soon as that
//      mechanism has advanced. At the start of the next step the reversal potentials of the
//      species with concentrations in use are recomputed by Nernst and the summed ion
//      currents cleared (NEURON's ion_cur), before the currents of step n+1.
// Rows are in current units (nA in cable mode, model units in point mode):
//   (C_i/dt + a_i g_i + sum_j G_ij) dv_i - sum_j G_ij dv_j
//       = -a_i i_ion,i(V) + sum_j G_ij (V_j - V_i) + I_ext,i
// with C_i the node capacitance, a_i the area factor that turns a channel's current density
// into a current, and G_ij the axial conductance; the matrix is symmetric. A voltage clamp
// (NEURON's SEClamp) is an electrode current g_c (v_c - V) linearised as NEURON does: g_c
// joins the diagonal and g_c (v_c - V(n)) the right-hand side, both at t_n + dt/2. A
// conductance synapse driven by given input times (ExpSyn, Exp2Syn) is the same term with
// its conductance as NEURON's BREAKPOINT sees it in step n and its reversal for v_c: the
// conductance does not depend on V, so it is precomputed on the host (stimulus.hpp).
//
// Parallelism: one work item is a tile of `lanes` cells that runs the whole time loop, so its
// working set stays in cache on a host; see batch_layout.hpp for the memory layout. A cell
// whose voltage leaves [-v_bound, v_bound] or becomes NaN is recorded as failed at that step;
// its lanes keep running (lanes never branch) but nothing of it reaches other cells.
// Precondition: v_bound_mv <= 400 (the channels' fast exponentials assume it; the config
// enforces it).

#include <stdexcept>
#include <type_traits>

#include <Kokkos_Core.hpp>

#include "kernels/batch_layout.hpp"
#include "kernels/catalogue.hpp"
#include "kernels/hines.hpp"
#include "kernels/types.hpp"

namespace cellfit {

// One mechanism's instances: the nodes it sits on, for each of its ions the row of that
// species' views at the node, its constants (globals, then derived), and per instance and
// cell its parameters and states.
template <class Mechanism, class Real, class MemorySpace>
struct mechanism_views {
  using mechanism = Mechanism;
  Kokkos::View<const int*, MemorySpace> nodes;                          // [instance] -> node
  Kokkos::View<const int**, Kokkos::LayoutRight, MemorySpace> ion_row;  // [instance][ion]
  Kokkos::View<const Real*, MemorySpace> constants;                     // [n_constants]
  batch_view4<Real, MemorySpace> params;  // [tile][param][instance][lane]
  batch_view4<Real, MemorySpace> states;  // [tile][state][instance][lane]
  KOKKOS_INLINE_FUNCTION int size() const { return static_cast<int>(nodes.extent(0)); }
};

// One ion species at the nodes where it exists (rows): reversal potential, concentrations,
// and the current density of the species summed over the node's mechanisms (NEURON's ica).
// A species the model does not use has 0 rows.
template <class Real, class MemorySpace>
struct ion_views {
  batch_view3<Real, MemorySpace> e, ci, co, isum;       // [tile][row][lane]
  Kokkos::View<const Real*, MemorySpace> e0, ci0, co0;  // [row] values at initialisation
  Kokkos::View<const int*, MemorySpace> nernst_at;      // [row] e follows ci, co there (else e0)
  Real nernst_mv = 0;                                   // RT/(zF) in mV: e = nernst_mv ln(co/ci)
  int nernst = 0;      // at some row: e recomputed at initialisation and every step
  int accumulate = 0;  // some mechanism reads isum: sum the species' currents every step
  int dynamic = 0;     // changes during a run (nernst, a written concentration, or isum)
  KOKKOS_INLINE_FUNCTION int rows() const { return static_cast<int>(e.extent(1)); }
};

template <class Real, class MemorySpace>
using forward_mechanisms = mechanism_set<mechanism_views, Real, MemorySpace, catalogue>;

// Everything the forward kernel reads and writes. Built on the host by the batch simulator
// (src/sim); all views live in MemorySpace.
template <class Real, class MemorySpace>
struct forward_problem {
  using memory_space = MemorySpace;
  int n_nodes = 0;
  int n_tiles = 0;
  int lanes = 1;
  int n_steps = 0;
  int record_every = 1;
  int n_samples = 0;  // n_steps / record_every + 1 (t = 0 included)
  Real dt_ms = 0;
  Real v_bound_mv = 0;
  // Whether any ion species changes during a run: then each step advances every mechanism,
  // updates the ions, and only then evaluates the currents (NEURON's nrn_state, ion_cur,
  // nrn_cur); otherwise one fused pass per mechanism does both (same result, less traffic).
  int ion_dynamics = 0;

  // Geometry (shared by all cells).
  Kokkos::View<const int*, MemorySpace> parent;        // [node], -1 for the root (node 0)
  Kokkos::View<const Real*, MemorySpace> area_factor;  // [node] density -> current
  // Passive matrix terms: the axial conductance G_i of node i to its parent and the
  // constant part of the diagonal, C_i/dt + sum of G_ij. Per cell ([tile][node][lane]) when
  // the parameter sets change cm or Ra; otherwise one copy for all cells (tile extent 1,
  // read at tile 0: see passive_tile), so a batch that fits no passive property pays
  // nothing for the option.
  batch_view3<Real, MemorySpace> g_axial;
  batch_view3<Real, MemorySpace> d_const;
  int passive_per_cell = 0;  // 1: per cell (read per lane); 0: shared (read once, broadcast)
  KOKKOS_INLINE_FUNCTION int passive_tile(int tile) const { return passive_per_cell ? tile : 0; }

  forward_mechanisms<Real, MemorySpace> mechs;
  ion_views<Real, MemorySpace> ions[n_ion_species];

  // Injected current, sampled at t_n + dt/2 for each step n: [stimulus][site][step].
  Kokkos::View<const int*, MemorySpace> inject_node;  // [site]
  Kokkos::View<const Real***, Kokkos::LayoutRight, MemorySpace> i_ext;
  Kokkos::View<const int*, MemorySpace> stimulus_of_cell;  // [cell]
  // Voltage clamps and conductance synapses at the same sites and steps: conductance g (uS,
  // 0 where none is on), with g v_c (g e_syn) already in i_ext, so a site's electrode current
  // is i_ext - g_ext V. Extent 0 when no stimulus has a clamp or a conductance synapse (then
  // no cell pays for it).
  Kokkos::View<const Real***, Kokkos::LayoutRight, MemorySpace> g_ext;

  Kokkos::View<const int*, MemorySpace> record_node;  // [site]
  batch_view4<Real, MemorySpace> recorded;            // [tile][site][sample][lane]

  batch_view3<Real, MemorySpace> v;             // [tile][node][lane], mV
  batch_view3<Real, MemorySpace> d;             // scratch: diagonal
  batch_view3<Real, MemorySpace> rhs;           // scratch: right-hand side / dv
  Kokkos::View<int*, MemorySpace> failed_step;  // [cell], -1 if it never failed
};

namespace detail {

template <int N>
inline constexpr int at_least_one = N > 0 ? N : 1;

// NEURON's nrn_nernst: e = (RT/zF) ln(co/ci), with its guards for non-positive
// concentrations (+-1e6 mV), written as selects.
template <class T>
KOKKOS_FORCEINLINE_FUNCTION T nernst(T ci, T co, T factor_mv) {
  const T ok_ci = kmath::select(ci > T(0), ci, T(1));
  const T ok_co = kmath::select(co > T(0), co, T(1));
  const T e = factor_mv * kmath::log(ok_co / ok_ci);
  return kmath::select(ci > T(0), kmath::select(co > T(0), e, T(-1e6)), T(1e6));
}

// Pointers to the ion values one instance of M reads and writes, at its lane 0.
template <class M, class Real, class MemorySpace>
struct ion_access {
  static constexpr int n = at_least_one<M::n_ions>;
  Real* in[ion_slots * n] = {};  // the slots M reads, else null
  Real* isum[n] = {};            // where its ion currents are summed, else null
  Real* ci[n] = {};              // concentrations it writes, else null
  Real* co[n] = {};

  template <class IonArray, class MV>
  KOKKOS_FORCEINLINE_FUNCTION ion_access(IonArray const& ions, MV const& mv, int tile, int j) {
    for (int k = 0; k < M::n_ions; ++k) {
      auto const& io = ions[M::ion(k).species];
      const int row = mv.ion_row(j, k);
      if (M::ion(k).read_e) in[ion_slots * k + ion_e] = &io.e(tile, row, 0);
      if (M::ion(k).read_ci) in[ion_slots * k + ion_ci] = &io.ci(tile, row, 0);
      if (M::ion(k).read_co) in[ion_slots * k + ion_co] = &io.co(tile, row, 0);
      if (M::ion(k).read_i) in[ion_slots * k + ion_i] = &io.isum(tile, row, 0);
      if (M::ion(k).write_i && io.accumulate) isum[k] = &io.isum(tile, row, 0);
      if (M::ion(k).write_ci_state >= 0) ci[k] = &io.ci(tile, row, 0);
      if (M::ion(k).write_co_state >= 0) co[k] = &io.co(tile, row, 0);
    }
  }

  // The ion inputs of lane l, as value type T.
  template <class T>
  KOKKOS_FORCEINLINE_FUNCTION void gather(int l, T* ion) const {
    for (int k = 0; k < M::n_ions; ++k) {
      for (int q = 0; q < ion_slots; ++q) {
        if (M::ion(k).reads(q)) {
          ion[ion_slots * k + q] = T(in[ion_slots * k + q][l]);
        } else {
          ion[ion_slots * k + q] = T(0);
        }
      }
    }
  }

  // The concentrations lane l's states now hold, written to the ion (after init/advance).
  KOKKOS_FORCEINLINE_FUNCTION void write_concentrations(int l, const Real* st) const {
    for (int k = 0; k < M::n_ions; ++k) {
      if (M::ion(k).write_ci_state >= 0) ci[k][l] = st[M::ion(k).write_ci_state];
      if (M::ion(k).write_co_state >= 0) co[k][l] = st[M::ion(k).write_co_state];
    }
  }

  KOKKOS_FORCEINLINE_FUNCTION void add_currents(int l, const Real* i_ion) const {
    for (int k = 0; k < M::n_ions; ++k) {
      if (M::ion(k).write_i && isum[k]) isum[k][l] += i_ion[k];
    }
  }
};

template <class Real, class MemorySpace, int Lanes>
struct forward_functor {
  forward_problem<Real, MemorySpace> p;

  // V(n+1) = V(n) + dv for one node, called by the Hines sweep once dv is final, and the
  // divergence check of every node: |V| beyond v_bound or NaN marks the lane failed.
  struct add_dv {
    forward_problem<Real, MemorySpace> const& p;
    int tile;
    int* lane_failed;  // int, not bool: a branch-free `|=` keeps the lane loop vectorised
    KOKKOS_FORCEINLINE_FUNCTION void operator()(int i) const {
      const Real* const dv = &p.rhs(tile, i, 0);
      Real* const v = &p.v(tile, i, 0);
      const Real bound = p.v_bound_mv;
      CELLFIT_LANE_LOOP
      for (int l = 0; l < Lanes; ++l) {
        v[l] += dv[l];
        lane_failed[l] |= static_cast<int>(!(kmath::abs(v[l]) <= bound));
      }
    }
  };

  // States of step n-1 advanced by cnexp at V(n) (if Advance; not at step 0, where the
  // states are fresh from initialisation), then the current and conductance at V(n) added
  // to the system (if Currents). Both read the same states and V, so without ion dynamics
  // they share one pass: NEURON's nrn_state of step n-1 followed by nrn_cur of step n.
  // One cell per tile on a host (a batch too small to fill a vector of cells): the pass
  // runs across the mechanism's instances instead, which are independent, so that the lane
  // loop's SIMD width is spent on compartments. Per block of instances: V, the ion values
  // and the area factors gathered, states and currents computed in a loop the compiler
  // vectorises (one instance per compartment: the gathers and the concentration stores never
  // meet), then the currents and conductances added to their nodes in index order. Each
  // instance does the operations of the lane loop in the same order: the results equal those
  // of a cell in a wider tile bit for bit.
  static constexpr bool across_instances =
      Lanes == 1 && Kokkos::SpaceAccessibility<Kokkos::HostSpace, MemorySpace>::accessible;
  static constexpr int instance_block = 64;

  template <bool Advance, bool Currents, class MV>
  KOKKOS_FORCEINLINE_FUNCTION void channel_pass_instances(MV const& mv, int tile) const {
    using M = typename MV::mechanism;
    constexpr int ns = at_least_one<M::n_states>;
    constexpr int np = at_least_one<M::n_params>;
    constexpr int ni = at_least_one<M::n_ions>;
    constexpr int nc = at_least_one<M::n_constants>;
    constexpr int B = instance_block;
    Real cst[nc] = {};
    for (int k = 0; k < M::n_constants; ++k) cst[k] = mv.constants(k);
    const Real dt = p.dt_ms;
    const int n = mv.size();
    if (n == 0) return;
    const int* const node_of = mv.nodes.data();
    const Real* const v0 = &p.v(tile, 0, 0);  // node i at v0[i] (one lane)
    Real* const d0 = &p.d(tile, 0, 0);
    Real* const r0 = &p.rhs(tile, 0, 0);
    const Real* const af0 = p.area_factor.data();
    const Real* pp[np];
    Real* sp[ns];
    for (int k = 0; k < M::n_params; ++k) pp[k] = &mv.params(tile, k, 0, 0);
    for (int k = 0; k < M::n_states; ++k) sp[k] = &mv.states(tile, k, 0, 0);
    // The ion values of instance j at base[k][slot][row(j, k)].
    Real* base[ni][ion_slots] = {};
    const int* rows[ni] = {};
    const int row_stride = mv.ion_row.extent(1) > 0 ? static_cast<int>(mv.ion_row.extent(1)) : 1;
    for (int k = 0; k < M::n_ions; ++k) {
      auto const& io = p.ions[M::ion(k).species];
      if (io.rows() == 0) continue;
      base[k][ion_e] = &io.e(tile, 0, 0);
      base[k][ion_ci] = &io.ci(tile, 0, 0);
      base[k][ion_co] = &io.co(tile, 0, 0);
      base[k][ion_i] = &io.isum(tile, 0, 0);
      rows[k] = &mv.ion_row(0, k);
    }
    Real i_buf[B], g_buf[B], i_ion_buf[ni][B];
    for (int j0 = 0; j0 < n; j0 += B) {
      const int m = n - j0 < B ? n - j0 : B;
      CELLFIT_LANE_LOOP
      for (int b = 0; b < m; ++b) {
        const int j = j0 + b;
        const int node = node_of[j];
        const Real vj = v0[node];
        Real par[np];
        Real st[ns];
        Real ion[ion_slots * ni];
        for (int k = 0; k < M::n_params; ++k) par[k] = pp[k][j];
        for (int k = 0; k < M::n_states; ++k) st[k] = sp[k][j];
        for (int k = 0; k < M::n_ions; ++k) {
          const int row = rows[k][j * row_stride];
          for (int q = 0; q < ion_slots; ++q)
            ion[ion_slots * k + q] = M::ion(k).reads(q) ? base[k][q][row] : Real(0);
        }
        if constexpr (Advance && M::n_states > 0) {
          M::advance(vj, dt, par, cst, st, ion);
          for (int k = 0; k < M::n_states; ++k) sp[k][j] = st[k];
          for (int k = 0; k < M::n_ions; ++k) {
            const int row = rows[k][j * row_stride];
            if (M::ion(k).write_ci_state >= 0) base[k][ion_ci][row] = st[M::ion(k).write_ci_state];
            if (M::ion(k).write_co_state >= 0) base[k][ion_co][row] = st[M::ion(k).write_co_state];
          }
        }
        if constexpr (Currents) {
          Real g;
          Real i_ion[ni];
          i_buf[b] = M::current(vj, par, cst, st, ion, i_ion, g);
          g_buf[b] = g;
          for (int k = 0; k < M::n_ions; ++k) i_ion_buf[k][b] = i_ion[k];
        }
      }
      if constexpr (Currents) {
        for (int b = 0; b < m; ++b) {
          const int j = j0 + b;
          const int node = node_of[j];
          const Real af = af0[node];  // as the lane loop writes it (the same contractions)
          r0[node] -= af * i_buf[b];
          d0[node] += af * g_buf[b];
          for (int k = 0; k < M::n_ions; ++k) {
            if (M::ion(k).write_i && p.ions[M::ion(k).species].accumulate)
              base[k][ion_i][rows[k][j * row_stride]] += i_ion_buf[k][b];
          }
        }
      }
    }
  }

  template <bool Advance, bool Currents, class MV>
  KOKKOS_FORCEINLINE_FUNCTION void channel_pass(MV const& mv, int tile) const {
    using M = typename MV::mechanism;
    if constexpr (across_instances) {
      if constexpr (!(Advance && !Currents && M::n_states == 0)) {
        channel_pass_instances<Advance, Currents>(mv, tile);
      }
      return;
    }
    constexpr int ns = at_least_one<M::n_states>;
    constexpr int np = at_least_one<M::n_params>;
    constexpr int ni = at_least_one<M::n_ions>;
    constexpr int nc = at_least_one<M::n_constants>;
    if constexpr (Advance && !Currents && M::n_states == 0) return;
    Real cst[nc] = {};
    for (int k = 0; k < M::n_constants; ++k) cst[k] = mv.constants(k);
    const Real dt = p.dt_ms;
    const int n = mv.size();
    for (int j = 0; j < n; ++j) {
      const int node = mv.nodes(j);
      const Real* const vv = &p.v(tile, node, 0);
      Real* const dd = &p.d(tile, node, 0);
      Real* const rr = &p.rhs(tile, node, 0);
      const Real af = p.area_factor(node);
      const Real* pp[np];
      Real* sp[ns];
      for (int k = 0; k < M::n_params; ++k) pp[k] = &mv.params(tile, k, j, 0);
      for (int k = 0; k < M::n_states; ++k) sp[k] = &mv.states(tile, k, j, 0);
      const ion_access<M, Real, MemorySpace> io(p.ions, mv, tile, j);
      CELLFIT_LANE_LOOP
      for (int l = 0; l < Lanes; ++l) {
        Real par[np];
        Real st[ns];
        Real ion[ion_slots * ni];
        for (int k = 0; k < M::n_params; ++k) par[k] = pp[k][l];
        for (int k = 0; k < M::n_states; ++k) st[k] = sp[k][l];
        io.gather(l, ion);
        if constexpr (Advance && M::n_states > 0) {
          M::advance(vv[l], dt, par, cst, st, ion);
          for (int k = 0; k < M::n_states; ++k) sp[k][l] = st[k];
          io.write_concentrations(l, st);
        }
        if constexpr (Currents) {
          Real g;
          Real i_ion[ni];
          const Real i = M::current(vv[l], par, cst, st, ion, i_ion, g);
          rr[l] -= af * i;
          dd[l] += af * g;
          io.add_currents(l, i_ion);
        }
      }
    }
  }

  template <class MV>
  KOKKOS_FORCEINLINE_FUNCTION void advance_and_add_currents(MV const& mv, int tile,
                                                            bool advance) const {
    if (advance && MV::mechanism::n_states > 0) {
      channel_pass<true, true>(mv, tile);
    } else {
      channel_pass<false, true>(mv, tile);
    }
  }

  // NEURON's ion_cur: reversal potentials by Nernst where the species' concentrations are
  // in use, and the summed currents cleared before the mechanisms add theirs.
  KOKKOS_FORCEINLINE_FUNCTION void update_ions(int tile) const {
    for (int s = 0; s < n_ion_species; ++s) {
      auto const& io = p.ions[s];
      const int rows = io.rows();
      if (io.nernst) {
        const Real f = io.nernst_mv;
        for (int r = 0; r < rows; ++r) {
          if (!io.nernst_at(r)) continue;
          Real* const e = &io.e(tile, r, 0);
          const Real* const ci = &io.ci(tile, r, 0);
          const Real* const co = &io.co(tile, r, 0);
          CELLFIT_LANE_LOOP
          for (int l = 0; l < Lanes; ++l) e[l] = nernst(ci[l], co[l], f);
        }
      }
      if (io.accumulate) {
        for (int r = 0; r < rows; ++r) {
          Real* const is = &io.isum(tile, r, 0);
          for (int l = 0; l < Lanes; ++l) is[l] = Real(0);
        }
      }
    }
  }

  KOKKOS_FORCEINLINE_FUNCTION void record(int tile, int sample) const {
    const int n_sites = static_cast<int>(p.record_node.extent(0));
    for (int s = 0; s < n_sites; ++s) {
      const Real* const vv = &p.v(tile, p.record_node(s), 0);
      CELLFIT_LANE_LOOP
      for (int l = 0; l < Lanes; ++l) p.recorded(tile, s, sample, l) = vv[l];
    }
  }

  // Every mechanism's states advanced over one step at the current V (NEURON's nrn_state).
  KOKKOS_FORCEINLINE_FUNCTION void advance_states(int tile) const {
    p.mechs.for_each([&](auto const& mv) { channel_pass<true, false>(mv, tile); });
  }

  // One step n -> n+1 of every lane of the tile (see the scheme at the top of this file).
  // The passive terms are read per lane only when the cells have their own (compile-time
  // choice, so a batch without fitted cm or Ra broadcasts one value per node).
  KOKKOS_FORCEINLINE_FUNCTION void step(const int tile, const int step, int* lane_failed) const {
    if (p.passive_per_cell) {
      step_impl(tile, step, lane_failed, std::true_type{});
    } else {
      step_impl(tile, step, lane_failed, std::false_type{});
    }
  }

  template <class PerCell>
  KOKKOS_FORCEINLINE_FUNCTION void step_impl(const int tile, const int step, int* lane_failed,
                                             PerCell per_cell_tag) const {
    constexpr bool per_cell = PerCell::value;
    const int n = p.n_nodes;
    const int n_inject = static_cast<int>(p.inject_node.extent(0));
    const int pt = p.passive_tile(tile);
    // 1. Assembly: constant part of the diagonal, axial currents at V(n). One pass in
    // index order: a node's row is initialised before any of its children (higher
    // indices) add their flux to it.
    {
      Real* const d0 = &p.d(tile, 0, 0);
      Real* const r0 = &p.rhs(tile, 0, 0);
      const Real* const dc = &p.d_const(pt, 0, 0);
      const Real dc0 = dc[0];
      CELLFIT_LANE_LOOP
      for (int l = 0; l < Lanes; ++l) {
        d0[l] = per_cell ? dc[l] : dc0;
        r0[l] = Real(0);
      }
    }
    for (int i = 1; i < n; ++i) {
      const int pi = p.parent(i);
      const Real* const g = &p.g_axial(pt, i, 0);
      const Real* const dc = &p.d_const(pt, i, 0);
      const Real g0 = g[0], dc0 = dc[0];
      const Real* const vi = &p.v(tile, i, 0);
      const Real* const vp = &p.v(tile, pi, 0);
      Real* const di = &p.d(tile, i, 0);
      Real* const ri = &p.rhs(tile, i, 0);
      Real* const rp = &p.rhs(tile, pi, 0);
      CELLFIT_LANE_LOOP
      for (int l = 0; l < Lanes; ++l) {
        const Real flux = (per_cell ? g[l] : g0) * (vp[l] - vi[l]);
        di[l] = per_cell ? dc[l] : dc0;
        ri[l] = flux;
        rp[l] -= flux;
      }
    }
    // States to step n (advanced at V(n)), then currents and conductances at V(n).
    if (p.ion_dynamics) {
      if (step > 0) advance_states(tile);
      update_ions(tile);
      p.mechs.for_each([&](auto const& mv) { channel_pass<false, true>(mv, tile); });
    } else {
      p.mechs.for_each([&](auto const& mv) { advance_and_add_currents(mv, tile, step > 0); });
    }
    // Electrode currents at t_n + dt/2; clamps and synapses linearised at V(n) (g = 0 where
    // off).
    const bool clamps = p.g_ext.extent(0) != 0;
    for (int s = 0; s < n_inject; ++s) {
      const int node = p.inject_node(s);
      Real* const rr = &p.rhs(tile, node, 0);
      if (clamps) {
        Real* const dd = &p.d(tile, node, 0);
        const Real* const vv = &p.v(tile, node, 0);
        for (int l = 0; l < Lanes; ++l) {
          const int x = p.stimulus_of_cell(tile * Lanes + l);
          const Real g = p.g_ext(x, s, step);
          rr[l] += p.i_ext(x, s, step) - g * vv[l];
          dd[l] += g;
        }
      } else {
        for (int l = 0; l < Lanes; ++l) {
          const int cell = tile * Lanes + l;
          rr[l] += p.i_ext(p.stimulus_of_cell(cell), s, step);
        }
      }
    }
    // 2.-3. Hines solve with V += dv and the divergence check fused into its substitution
    // sweep. Every node is checked every step: the channels' fast exponentials rely on
    // |V| <= v_bound for every cell that has not failed.
    hines_solve<Lanes, Real, MemorySpace>(tile, n, p.parent, p.g_axial, pt, p.d, p.rhs,
                                          add_dv{p, tile, lane_failed}, per_cell_tag);
    // 4. The states are advanced at V(n+1) at the start of the next step (and after the loop).
  }

  KOKKOS_FUNCTION void operator()(const int tile) const {
    int lane_failed[Lanes];
    for (int l = 0; l < Lanes; ++l) lane_failed[l] = 0;
    record(tile, 0);
    for (int n = 0; n < p.n_steps; ++n) {
      step(tile, n, lane_failed);
      if ((n + 1) % p.record_every == 0) record(tile, (n + 1) / p.record_every);
      for (int l = 0; l < Lanes; ++l) {
        const int cell = tile * Lanes + l;
        if (lane_failed[l] && p.failed_step(cell) < 0) p.failed_step(cell) = n + 1;
      }
    }
    // Leave the states at the final time, so a later call continues the trajectory.
    if (p.n_steps > 0) advance_states(tile);
  }
};

template <class Real, class MemorySpace>
struct init_functor {
  forward_problem<Real, MemorySpace> p;
  int lanes;

  template <class MV>
  KOKKOS_FORCEINLINE_FUNCTION void init_mech(MV const& mv, int tile, int l) const {
    using M = typename MV::mechanism;
    constexpr int ns = at_least_one<M::n_states>;
    constexpr int np = at_least_one<M::n_params>;
    constexpr int ni = at_least_one<M::n_ions>;
    constexpr int nc = at_least_one<M::n_constants>;
    Real cst[nc] = {};
    for (int k = 0; k < M::n_constants; ++k) cst[k] = mv.constants(k);
    for (int j = 0; j < mv.size(); ++j) {
      Real par[np];
      Real st[ns] = {};
      Real ion[ion_slots * ni];
      for (int k = 0; k < M::n_params; ++k) par[k] = mv.params(tile, k, j, l);
      const ion_access<M, Real, MemorySpace> io(p.ions, mv, tile, j);
      io.gather(l, ion);
      // A concentration state starts from the ion's value (NEURON copies the ion's cai into
      // the state before the INITIAL block runs).
      for (int k = 0; k < M::n_ions; ++k) {
        if (M::ion(k).write_ci_state >= 0) st[M::ion(k).write_ci_state] = io.ci[k][l];
        if (M::ion(k).write_co_state >= 0) st[M::ion(k).write_co_state] = io.co[k][l];
      }
      M::init(p.v(tile, mv.nodes(j), l), par, cst, st, ion);
      for (int k = 0; k < M::n_states; ++k) mv.states(tile, k, j, l) = st[k];
      io.write_concentrations(l, st);
    }
  }

  KOKKOS_FUNCTION void operator()(const int cell) const {
    const int tile = cell / lanes;
    const int l = cell % lanes;
    // NEURON's ion_init: concentrations, then reversal potentials where they are computed.
    for (int s = 0; s < n_ion_species; ++s) {
      auto const& io = p.ions[s];
      for (int r = 0; r < io.rows(); ++r) {
        io.ci(tile, r, l) = io.ci0(r);
        io.co(tile, r, l) = io.co0(r);
        io.e(tile, r, l) = io.nernst_at(r) ? nernst(io.ci0(r), io.co0(r), io.nernst_mv) : io.e0(r);
        io.isum(tile, r, l) = Real(0);
      }
    }
    p.mechs.for_each([&](auto const& mv) { init_mech(mv, tile, l); });
    p.failed_step(cell) = -1;
  }
};

}  // namespace detail

// Sets every gate to its steady state at the current V (NEURON's finitialize) and clears the
// failure marks. Non-blocking: fence `space` before reading results.
template <class ExecutionSpace, class Real, class MemorySpace>
void initialize_states(ExecutionSpace const& space, forward_problem<Real, MemorySpace> const& p) {
  static_assert(Kokkos::SpaceAccessibility<ExecutionSpace, MemorySpace>::accessible,
                "cellfit::initialize_states: the execution space cannot reach the problem");
  Kokkos::parallel_for("cellfit::kernels::initialize_states",
                       Kokkos::RangePolicy<ExecutionSpace>(space, 0, p.n_tiles * p.lanes),
                       detail::init_functor<Real, MemorySpace>{p, p.lanes});
}

// Runs n_steps steps for the cells of tiles [tile_begin, tile_end) and records the voltage at
// the recording sites every record_every steps (t = 0 included). Tiles are independent, so
// a batch may be run in several calls (for progress reports). Precondition: p.lanes ==
// Lanes and the states initialised. Non-blocking: fence `space` before reading results.
template <int Lanes, class ExecutionSpace, class Real, class MemorySpace>
void simulate(ExecutionSpace const& space, forward_problem<Real, MemorySpace> const& p,
              int tile_begin, int tile_end) {
  static_assert(Kokkos::SpaceAccessibility<ExecutionSpace, MemorySpace>::accessible,
                "cellfit::simulate: the execution space cannot reach the problem");
  constexpr int lanes = Lanes;
  if (p.lanes != lanes) throw std::invalid_argument("cellfit::simulate: lane width mismatch");
  Kokkos::parallel_for("cellfit::kernels::forward",
                       Kokkos::RangePolicy<ExecutionSpace>(space, tile_begin, tile_end),
                       detail::forward_functor<Real, MemorySpace, lanes>{p});
}

}  // namespace cellfit
