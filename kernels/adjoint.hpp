#pragma once
// Reverse-mode discrete adjoint of the forward kernel: exact gradients of a trace loss with
// respect to every channel parameter of every compartment, for the simulator actually run.
//
// Step n of the forward kernel maps (V(n), s(n-1)) to (V(n+1), s(n)):
//   s(n) = A(s(n-1), V(n), p, ions)  (cnexp; s(0) = s(-1), the initial states, at n = 0)
//   V(n+1) = V(n) + M(n)^-1 r(n)
// Walking the steps backwards, for step n:
//   mu = M(n)^-1 lambda_V(n+1)          (Hines solve; M is symmetric)
//   lambda_V(n)  = lambda_V(n+1) - L mu - G_c mu + sum_mechanisms mu dF/dV,
//   lambda_s(n) += mu dF/ds,  grad_p += mu dF/dp,  with F = -a (i + g dv) per instance
//   then through the state map: lambda_V(n) += lambda_s . dA/dV, grad_p += lambda_s . dA/dp,
//   lambda_s(n-1) = lambda_s . dA/ds(n-1); at n = 0 through the INITIAL block's parameters.
// The channel derivatives come from the channels' own code run on dual numbers
// (kernels/dual.hpp): there is no second, hand-written derivative of any channel.
//
// The loss is the caller's: the forward pass records the traces, the caller computes the
// loss and its derivative with respect to every recorded sample (`seed`), and the backward
// pass injects the seed at the step that produced each sample. Any loss of the recorded
// traces (MSE, spike timing, ...) thus has an exact gradient.
//
// G_c: the voltage clamps' conductances at step n (diagonal; also in M(n)).
//
// Memory (checkpointing): the steps are cut into segments of `checkpoint_every` (K) steps.
// The forward pass stores the state (V and gates) at the start of every segment and the
// full trajectory of the last segment; the backward pass walks the segments from the last,
// recomputing each earlier segment's trajectory from its checkpoint with the forward step
// itself (so the recomputed trajectory is bitwise the stored one, and the gradient does not
// depend on K). K = n_steps keeps the whole trajectory (no recomputation); K ~ sqrt(n_steps)
// needs O(sqrt(n_steps)) memory per cell for one extra forward pass.
//
// Lanes: as in the forward kernel, the lanes of a tile are the innermost loop, so the dual
// arithmetic of the channel derivatives is vectorised across cells on a host.
// Ions: a species whose values change during a run (concentrations written by a mechanism,
// reversal potentials by Nernst, summed currents read by a mechanism) is part of the state:
// its e, ci, co and isum rows are checkpointed and stored with the segments, and it has
// adjoint variables. Within step n the forward order is: advance every mechanism in
// catalogue order (a concentration written by one is seen by the ones after it), Nernst,
// clear the summed currents, currents (summed per species). The backward step reverses
// exactly that: currents (with the summed-current adjoint that step n+1's advances left),
// Nernst, then the advances from the last mechanism to the first, restoring each written
// concentration to the value the earlier mechanisms saw.

#include <stdexcept>

#include <Kokkos_Core.hpp>

#include "kernels/dual.hpp"
#include "kernels/forward.hpp"

namespace cellfit {

// The adjoint's per-mechanism storage.
template <class Mechanism, class Real, class MemorySpace>
struct mechanism_adjoint_views {
  batch_view4<Real, MemorySpace> ckpt;  // [tile][segment][state * n + instance][lane]
  batch_view4<Real, MemorySpace> seg;   // [tile][k = 0..K][row][lane]: s(n0 + k - 1)
  batch_view4<Real, MemorySpace> grad;  // like the parameters: [tile][param][instance][lane]
  batch_view3<Real, MemorySpace> lam;   // scratch [tile][state * n + instance][lane]
};

// A dynamic ion species' stored values (rows field * rows + row, fields e, ci, co, isum)
// and adjoint variables; 0 rows for a species that does not change.
template <class Real, class MemorySpace>
struct ion_adjoint_views {
  batch_view4<Real, MemorySpace> ckpt;  // [tile][segment][field * rows + row][lane]
  batch_view4<Real, MemorySpace> seg;   // [tile][k = 0..K][field * rows + row][lane]
  batch_view3<Real, MemorySpace> lam_e, lam_ci, lam_co, lam_isum;  // [tile][row][lane]
};

template <class Real, class MemorySpace>
using adjoint_mechanisms = mechanism_set<mechanism_adjoint_views, Real, MemorySpace, catalogue>;

template <class Real, class MemorySpace>
struct adjoint_problem {
  forward_problem<Real, MemorySpace> f;
  int checkpoint_every = 1;               // K: steps per segment
  int n_segments = 1;                     // ceil(n_steps / K)
  batch_view4<Real, MemorySpace> ckpt_v;  // [tile][segment][node][lane]: V(segment start)
  batch_view4<Real, MemorySpace> seg_v;   // [tile][k = 0..K][node][lane]: V(n0 + k)
  batch_view4<Real, MemorySpace> seed;    // [tile][site][sample][lane]: dL/dV(sample)
  batch_view3<Real, MemorySpace> lam_v;   // scratch [tile][node][lane]
  adjoint_mechanisms<Real, MemorySpace> mechs;
  ion_adjoint_views<Real, MemorySpace> ions[n_ion_species];
  // Gradients of the passive matrix terms, when asked for (tile extent 0 otherwise):
  // dL/d(C_i/dt) and dL/dG_i (G_i the axial conductance of node i to its parent), per cell.
  batch_view3<Real, MemorySpace> grad_cap;  // [tile][node][lane]
  batch_view3<Real, MemorySpace> grad_g;    // [tile][node][lane]
};

namespace detail {

struct no_visit {
  KOKKOS_INLINE_FUNCTION void operator()(int) const {}
};

// Copies rows of lanes between the live state and stored slots.
template <int Lanes, class Src, class Dst>
KOKKOS_FORCEINLINE_FUNCTION void copy_rows(int rows, Src const& src, Dst const& dst) {
  for (int q = 0; q < rows; ++q) {
    const auto* const s = src(q);
    auto* const d = dst(q);
    CELLFIT_LANE_LOOP
    for (int l = 0; l < Lanes; ++l) d[l] = s[l];
  }
}

// The ion slots mechanism M reads, as a compact list (the dual directions of its inputs).
template <class M>
struct ion_inputs {
  static constexpr int count = [] {
    int c = 0;
    for (int k = 0; k < M::n_ions; ++k) {
      for (int q = 0; q < ion_slots; ++q) c += M::ion(k).reads(q) ? 1 : 0;
    }
    return c;
  }();
  // slot(i): the flat index ion_slots * k + q of the i-th input.
  static constexpr int slot(int i) {
    for (int k = 0; k < M::n_ions; ++k) {
      for (int q = 0; q < ion_slots; ++q) {
        if (M::ion(k).reads(q) && i-- == 0) return ion_slots * k + q;
      }
    }
    return 0;
  }
};

template <class Real, class MemorySpace, int Lanes>
struct adjoint_functor {
  adjoint_problem<Real, MemorySpace> a;
  // The dual-number loops run over chunks of at most 8 lanes (one AVX-512 register of FP64).
  static constexpr int dual_chunk = Lanes < 8 ? Lanes : 8;

  // Pointer to field `field` (0 e, 1 ci, 2 co, 3 isum) of the live values of species s.
  KOKKOS_FORCEINLINE_FUNCTION Real* live_ion(int s, int field, int tile, int r) const {
    auto const& io = a.f.ions[s];
    switch (field) {
      case 0:
        return &io.e(tile, r, 0);
      case 1:
        return &io.ci(tile, r, 0);
      case 2:
        return &io.co(tile, r, 0);
      default:
        return &io.isum(tile, r, 0);
    }
  }

  // Stores (ToStore) or restores the live V, states and dynamic ion values of the tile
  // to/from slot `k` of the checkpoints (Ckpt) or of the segment.
  template <bool ToStore, bool Ckpt>
  KOKKOS_FORCEINLINE_FUNCTION void exchange(int tile, int k) const {
    const auto& f = a.f;
    auto const& vv = Ckpt ? a.ckpt_v : a.seg_v;
    auto live_v = [&](int q) { return &f.v(tile, q, 0); };
    auto slot_v = [&](int q) { return &vv(tile, k, q, 0); };
    if constexpr (ToStore) {
      copy_rows<Lanes>(f.n_nodes, live_v, slot_v);
    } else {
      copy_rows<Lanes>(f.n_nodes, slot_v, live_v);
    }
    f.mechs.for_each([&](auto const& mv) {
      using M = typename std::decay_t<decltype(mv)>::mechanism;
      if constexpr (M::n_states > 0) {
        auto const& av = a.mechs.template get<M>();
        auto const& sv = Ckpt ? av.ckpt : av.seg;
        const int ni = mv.size();
        auto live = [&](int q) { return &mv.states(tile, q / ni, q % ni, 0); };
        auto slot = [&](int q) { return &sv(tile, k, q, 0); };
        if constexpr (ToStore) {
          copy_rows<Lanes>(M::n_states * ni, live, slot);
        } else {
          copy_rows<Lanes>(M::n_states * ni, slot, live);
        }
      }
    });
    for (int s = 0; s < n_ion_species; ++s) {
      if (!f.ions[s].dynamic) continue;
      auto const& sv = Ckpt ? a.ions[s].ckpt : a.ions[s].seg;
      const int rows = f.ions[s].rows();
      auto live = [&](int q) { return live_ion(s, q / rows, tile, q % rows); };
      auto slot = [&](int q) { return &sv(tile, k, q, 0); };
      if constexpr (ToStore) {
        copy_rows<Lanes>(4 * rows, live, slot);
      } else {
        copy_rows<Lanes>(4 * rows, slot, live);
      }
    }
  }

  // Restores fields [f0, f1) of every dynamic species from segment slot k.
  KOKKOS_FORCEINLINE_FUNCTION void restore_ions(int tile, int k, int f0, int f1) const {
    for (int s = 0; s < n_ion_species; ++s) {
      if (!a.f.ions[s].dynamic) continue;
      const int rows = a.f.ions[s].rows();
      for (int field = f0; field < f1; ++field) {
        auto slot = [&](int q) { return &a.ions[s].seg(tile, k, field * rows + q, 0); };
        auto live = [&](int q) { return live_ion(s, field, tile, q); };
        copy_rows<Lanes>(rows, slot, live);
      }
    }
  }

  // Adjoint pointers of the ion inputs of instance j of M (null for a static species).
  template <class M, class MV>
  KOKKOS_FORCEINLINE_FUNCTION void ion_lambdas(MV const& mv, int tile, int j, Real** lam_in,
                                               Real** lam_isum) const {
    for (int i = 0; i < ion_inputs<M>::count; ++i) {
      const int flat = ion_inputs<M>::slot(i);
      const int k = flat / ion_slots, q = flat % ion_slots;
      const int s = M::ion(k).species;
      const int row = mv.ion_row(j, k);
      auto const& la = a.ions[s];
      if (!a.f.ions[s].dynamic) {
        lam_in[i] = nullptr;
      } else {
        lam_in[i] = q == ion_e    ? &la.lam_e(tile, row, 0)
                    : q == ion_ci ? &la.lam_ci(tile, row, 0)
                    : q == ion_co ? &la.lam_co(tile, row, 0)
                                  : &la.lam_isum(tile, row, 0);
      }
    }
    for (int k = 0; k < M::n_ions; ++k) {
      const int s = M::ion(k).species;
      lam_isum[k] = M::ion(k).write_i && a.f.ions[s].accumulate
                        ? &a.ions[s].lam_isum(tile, mv.ion_row(j, k), 0)
                        : nullptr;
    }
  }

  // Diagonal contribution a g(V(n), s(n)) of every mechanism at its node; `k` is step n's
  // index in the segment. The live ions hold step n's values.
  template <class MV>
  KOKKOS_FORCEINLINE_FUNCTION void add_conductance(MV const& mv, int tile, int k) const {
    using M = typename MV::mechanism;
    constexpr int ns = at_least_one<M::n_states>;
    constexpr int np = at_least_one<M::n_params>;
    constexpr int ni = at_least_one<M::n_ions>;
    constexpr int nc = at_least_one<M::n_constants>;
    auto const& seg_s = a.mechs.template get<M>().seg;
    Real cst[nc] = {};
    for (int q = 0; q < M::n_constants; ++q) cst[q] = mv.constants(q);
    const int n_inst = mv.size();
    for (int j = 0; j < n_inst; ++j) {
      const int node = mv.nodes(j);
      const Real af = a.f.area_factor(node);
      const Real* pp[np];
      const Real* sp[ns];
      for (int q = 0; q < M::n_params; ++q) pp[q] = &mv.params(tile, q, j, 0);
      for (int q = 0; q < M::n_states; ++q) sp[q] = &seg_s(tile, k + 1, q * n_inst + j, 0);
      const ion_access<M, Real, MemorySpace> io(a.f.ions, mv, tile, j);
      const Real* const vv = &a.seg_v(tile, k, node, 0);
      Real* const dd = &a.f.d(tile, node, 0);
      CELLFIT_LANE_LOOP
      for (int l = 0; l < Lanes; ++l) {
        Real par[np], st[ns], ion[ion_slots * ni], i_ion[ni];
        for (int q = 0; q < M::n_params; ++q) par[q] = pp[q][l];
        for (int q = 0; q < M::n_states; ++q) st[q] = sp[q][l];
        io.gather(l, ion);
        Real g;
        M::current(vv[l], par, cst, st, ion, i_ion, g);
        dd[l] += af * g;
      }
    }
  }

  // Reverse of the current evaluation at step n (index k): mu dF/d(V, s, p, ions) with
  // F = -a (i + g dv), plus lambda_isum . d i_ion / d(V, s, p, ions) for the species whose
  // summed current a mechanism reads in step n+1.
  template <class MV>
  KOKKOS_FORCEINLINE_FUNCTION void channel_adjoint(MV const& mv, int tile, int k) const {
    using M = typename MV::mechanism;
    constexpr int ns = at_least_one<M::n_states>;
    constexpr int np = at_least_one<M::n_params>;
    constexpr int ni = at_least_one<M::n_ions>;
    constexpr int nc = at_least_one<M::n_constants>;
    constexpr int nin = ion_inputs<M>::count;
    constexpr int nd = 1 + ns + M::n_params + nin;
    using D = dual<Real, nd>;
    auto const& av = a.mechs.template get<M>();
    Real cst[nc] = {};
    for (int q = 0; q < M::n_constants; ++q) cst[q] = mv.constants(q);
    const int n_inst = mv.size();
    for (int j = 0; j < n_inst; ++j) {
      const int node = mv.nodes(j);
      const Real af = a.f.area_factor(node);
      const Real* pp[np];
      const Real* sp[ns];
      Real* gp[np];
      Real* lp[ns];
      Real* lin[nin > 0 ? nin : 1];
      Real* lisum[ni];
      for (int q = 0; q < M::n_params; ++q) {
        pp[q] = &mv.params(tile, q, j, 0);
        gp[q] = &av.grad(tile, q, j, 0);
      }
      for (int q = 0; q < M::n_states; ++q) {
        sp[q] = &av.seg(tile, k + 1, q * n_inst + j, 0);
        lp[q] = &av.lam(tile, q * n_inst + j, 0);
      }
      ion_lambdas<M>(mv, tile, j, lin, lisum);
      const ion_access<M, Real, MemorySpace> io(a.f.ions, mv, tile, j);
      for (int l0 = 0; l0 < Lanes; l0 += dual_chunk) {
        const Real* const v0p = &a.seg_v(tile, k, node, l0);
        const Real* const v1p = &a.seg_v(tile, k + 1, node, l0);
        const Real* const mup = &a.f.rhs(tile, node, l0);
        Real* const lvp = &a.lam_v(tile, node, l0);
        CELLFIT_LANE_LOOP
        for (int l = 0; l < dual_chunk; ++l) {
          const int lane = l0 + l;
          const Real mu = mup[l];
          const Real dv = v1p[l] - v0p[l];
          const D vd = D::variable(v0p[l], 0);
          D st[ns], par[np], ion[ion_slots * ni], i_ion[ni];
          for (int q = 0; q < M::n_states; ++q) st[q] = D::variable(sp[q][lane], 1 + q);
          for (int q = 0; q < M::n_params; ++q) par[q] = D::variable(pp[q][lane], 1 + ns + q);
          io.gather(lane, ion);
          for (int q = 0; q < nin; ++q) {
            const int flat = ion_inputs<M>::slot(q);
            ion[flat] = D::variable(ion[flat].v, 1 + ns + M::n_params + q);
          }
          D g;
          const D i = M::current(vd, par, cst, st, ion, i_ion, g);
          const D F = -(D(af) * (i + g * D(dv)));
          Real w[nd];
          for (int q = 0; q < nd; ++q) w[q] = mu * F.d[q];
          for (int kk = 0; kk < M::n_ions; ++kk) {
            if (lisum[kk]) {
              const Real li = lisum[kk][lane];
              for (int q = 0; q < nd; ++q) w[q] += li * i_ion[kk].d[q];
            }
          }
          lvp[l] += w[0];
          for (int q = 0; q < M::n_states; ++q) lp[q][lane] += w[1 + q];
          for (int q = 0; q < M::n_params; ++q) gp[q][lane] += w[1 + ns + q];
          for (int q = 0; q < nin; ++q) {
            if (lin[q]) lin[q][lane] += w[1 + ns + M::n_params + q];
          }
        }
      }
    }
  }

  // Reverse of s(n) = A(s(n-1), V(n), p, ions) (n >= 1; index k in the segment):
  // lambda_s(n) -> lambda_s(n-1), lambda_V(n), grad, and the ion inputs' adjoints. A
  // written concentration first hands its adjoint to the state that holds it and is set
  // back to the value the mechanisms before this one saw.
  template <class MV>
  KOKKOS_FORCEINLINE_FUNCTION void gate_adjoint(MV const& mv, int tile, int k) const {
    using M = typename MV::mechanism;
    if constexpr (M::n_states > 0) {
      constexpr int ns = M::n_states;
      constexpr int np = at_least_one<M::n_params>;
      constexpr int ni = at_least_one<M::n_ions>;
      constexpr int nc = at_least_one<M::n_constants>;
      constexpr int nin = ion_inputs<M>::count;
      // Directions: V, the states, the parameters only where the states read them (most
      // gate maps depend on V and the gates alone), and the ion inputs.
      constexpr int npd = M::gates_read_params ? M::n_params : 0;
      constexpr int nd = 1 + ns + npd + nin;
      using D = dual<Real, nd>;
      auto const& av = a.mechs.template get<M>();
      Real cst[nc] = {};
      for (int q = 0; q < M::n_constants; ++q) cst[q] = mv.constants(q);
      const Real dt = a.f.dt_ms;
      const int n_inst = mv.size();
      for (int j = 0; j < n_inst; ++j) {
        const int node = mv.nodes(j);
        const Real* pp[np];
        const Real* sp[ns];
        Real* gp[np];
        Real* lp[ns];
        Real* lin[nin > 0 ? nin : 1];
        Real* lisum[ni];
        for (int q = 0; q < M::n_params; ++q) {
          pp[q] = &mv.params(tile, q, j, 0);
          gp[q] = &av.grad(tile, q, j, 0);
        }
        for (int q = 0; q < ns; ++q) {
          sp[q] = &av.seg(tile, k, q * n_inst + j, 0);
          lp[q] = &av.lam(tile, q * n_inst + j, 0);
        }
        ion_lambdas<M>(mv, tile, j, lin, lisum);
        const ion_access<M, Real, MemorySpace> io(a.f.ions, mv, tile, j);
        if constexpr (mechanism_writes_concentration<M>()) {
          for (int kk = 0; kk < M::n_ions; ++kk) {
            const int s = M::ion(kk).species;
            const int row = mv.ion_row(j, kk);
            const int rows = a.f.ions[s].rows();
            auto const& la = a.ions[s];
            for (int which = 0; which < 2; ++which) {
              const int st_index =
                  which == 0 ? M::ion(kk).write_ci_state : M::ion(kk).write_co_state;
              if (st_index < 0) continue;
              Real* const lc = which == 0 ? &la.lam_ci(tile, row, 0) : &la.lam_co(tile, row, 0);
              Real* const live = which == 0 ? io.ci[kk] : io.co[kk];
              const Real* const old = &la.seg(tile, k, (1 + which) * rows + row, 0);
              for (int l = 0; l < Lanes; ++l) {
                lp[st_index][l] += lc[l];
                lc[l] = Real(0);
                live[l] = old[l];
              }
            }
          }
        }
        for (int l0 = 0; l0 < Lanes; l0 += dual_chunk) {
          const Real* const vp = &a.seg_v(tile, k, node, l0);
          Real* const lvp = &a.lam_v(tile, node, l0);
          CELLFIT_LANE_LOOP
          for (int l = 0; l < dual_chunk; ++l) {
            const int lane = l0 + l;
            D vd = D::variable(vp[l], 0);
            D st[ns], par[np], ion[ion_slots * ni];
            for (int q = 0; q < ns; ++q) st[q] = D::variable(sp[q][lane], 1 + q);
            for (int q = 0; q < M::n_params; ++q) {
              par[q] = npd > 0 ? D::variable(pp[q][lane], (1 + ns + q) % nd) : D(pp[q][lane]);
            }
            io.gather(lane, ion);
            for (int q = 0; q < nin; ++q) {
              const int flat = ion_inputs<M>::slot(q);
              ion[flat] = D::variable(ion[flat].v, 1 + ns + npd + q);
            }
            M::advance(vd, D(dt), par, cst, st, ion);
            Real w[nd] = {};
            for (int r = 0; r < ns; ++r) {
              const Real lr = lp[r][lane];
              for (int q = 0; q < nd; ++q) w[q] += lr * st[r].d[q];
            }
            lvp[l] += w[0];
            for (int q = 0; q < ns; ++q) lp[q][lane] = w[1 + q];
            for (int q = 0; q < npd; ++q) gp[q][lane] += w[1 + ns + q];
            for (int q = 0; q < nin; ++q) {
              if (lin[q]) lin[q][lane] += w[1 + ns + npd + q];
            }
          }
        }
      }
    }
  }

  // Reverse of the initial states' dependence on the parameters (INITIAL blocks that read
  // them): grad += lambda_s(0) . d init / dp.
  template <class MV>
  KOKKOS_FORCEINLINE_FUNCTION void init_adjoint(MV const& mv, int tile) const {
    using M = typename MV::mechanism;
    if constexpr (M::n_states > 0 && M::init_reads_params && M::n_params > 0) {
      constexpr int ns = M::n_states;
      constexpr int np = M::n_params;
      constexpr int ni = at_least_one<M::n_ions>;
      constexpr int nc = at_least_one<M::n_constants>;
      using D = dual<Real, np>;
      auto const& av = a.mechs.template get<M>();
      Real cst[nc] = {};
      for (int q = 0; q < M::n_constants; ++q) cst[q] = mv.constants(q);
      const int n_inst = mv.size();
      for (int j = 0; j < n_inst; ++j) {
        const int node = mv.nodes(j);
        const ion_access<M, Real, MemorySpace> io(a.f.ions, mv, tile, j);
        for (int l = 0; l < Lanes; ++l) {
          D par[np], st[ns], ion[ion_slots * ni];
          for (int q = 0; q < np; ++q) par[q] = D::variable(mv.params(tile, q, j, l), q);
          io.gather(l, ion);
          for (int kk = 0; kk < M::n_ions; ++kk) {
            if (M::ion(kk).write_ci_state >= 0) {
              const int s = M::ion(kk).species;
              st[M::ion(kk).write_ci_state] = D(a.f.ions[s].ci0(mv.ion_row(j, kk)));
            }
            if (M::ion(kk).write_co_state >= 0) {
              const int s = M::ion(kk).species;
              st[M::ion(kk).write_co_state] = D(a.f.ions[s].co0(mv.ion_row(j, kk)));
            }
          }
          M::init(D(a.seg_v(tile, 0, node, l)), par, cst, st, ion);
          for (int r = 0; r < ns; ++r) {
            Real lr = av.lam(tile, r * n_inst + j, l);
            // A written concentration's adjoint is still with the ion at step 0.
            for (int kk = 0; kk < M::n_ions; ++kk) {
              const int s = M::ion(kk).species;
              if (!a.f.ions[s].dynamic) continue;
              if (M::ion(kk).write_ci_state == r)
                lr += a.ions[s].lam_ci(tile, mv.ion_row(j, kk), l);
              if (M::ion(kk).write_co_state == r)
                lr += a.ions[s].lam_co(tile, mv.ion_row(j, kk), l);
            }
            for (int q = 0; q < np; ++q) av.grad(tile, q, j, l) += lr * st[r].d[q];
          }
        }
      }
    }
  }

  // Reverse of Nernst at step n: lambda_e -> lambda_ci, lambda_co (live ions hold step n's
  // concentrations); the summed-current adjoints of step n are consumed.
  KOKKOS_FORCEINLINE_FUNCTION void ion_adjoint(int tile) const {
    for (int s = 0; s < n_ion_species; ++s) {
      auto const& io = a.f.ions[s];
      if (!io.dynamic) continue;
      auto const& la = a.ions[s];
      const int rows = io.rows();
      const Real f = io.nernst_mv;
      for (int r = 0; r < rows; ++r) {
        Real* const le = &la.lam_e(tile, r, 0);
        Real* const lci = &la.lam_ci(tile, r, 0);
        Real* const lco = &la.lam_co(tile, r, 0);
        Real* const lis = &la.lam_isum(tile, r, 0);
        const Real* const ci = &io.ci(tile, r, 0);
        const Real* const co = &io.co(tile, r, 0);
        const bool follows = io.nernst && io.nernst_at(r);
        for (int l = 0; l < Lanes; ++l) {
          if (follows) {
            const Real ok = static_cast<Real>(ci[l] > Real(0) && co[l] > Real(0));
            lci[l] -= ok * le[l] * f / ci[l];
            lco[l] += ok * le[l] * f / co[l];
          }
          le[l] = Real(0);  // a fixed e carries nothing further back
          lis[l] = Real(0);
        }
      }
    }
  }

  // The voltage clamps and conductance synapses of step n: their conductance on the diagonal
  // of M(n) (Diagonal), or the reverse of their right-hand side g_c (v_c - V(n)),
  // lambda_V(n) -= g_c mu. Their conductances are given per step (they hold no parameter and
  // no state that depends on V), so nothing else flows through them.
  template <bool Diagonal>
  KOKKOS_FORCEINLINE_FUNCTION void clamp_terms(int tile, int n) const {
    const auto& f = a.f;
    const int n_inject = static_cast<int>(f.inject_node.extent(0));
    for (int s = 0; s < n_inject; ++s) {
      const int node = f.inject_node(s);
      Real* const dd = &f.d(tile, node, 0);
      const Real* const mu = &f.rhs(tile, node, 0);
      Real* const lv = &a.lam_v(tile, node, 0);
      for (int l = 0; l < Lanes; ++l) {
        const Real g = f.g_ext(f.stimulus_of_cell(tile * Lanes + l), s, n);
        if constexpr (Diagonal) {
          dd[l] += g;
        } else {
          lv[l] -= g * mu[l];
        }
      }
    }
  }

  // The passive terms' share of step n (k in the segment), with mu = M(n)^-1 lambda_V(n+1)
  // in rhs. Step n solves M dv = r and sets V(n+1) = V(n) + dv, so dL/dM = -mu dv^T and
  // dL/dr = mu. C_i/dt sits on the diagonal only: dL/d(C_i/dt) = -mu_i dv_i. G_i (node i,
  // parent p) adds G to M_ii and M_pp, -G to M_ip and M_pi, and G (V_p - V_i) to r_i
  // (the opposite to r_p), so dL/dG_i = (mu_i - mu_p) (V_p(n+1) - V_i(n+1)).
  KOKKOS_FORCEINLINE_FUNCTION void passive_gradient(int tile, int k) const {
    const auto& f = a.f;
    for (int i = 0; i < f.n_nodes; ++i) {
      const Real* const mu = &f.rhs(tile, i, 0);
      const Real* const v0 = &a.seg_v(tile, k, i, 0);
      const Real* const v1 = &a.seg_v(tile, k + 1, i, 0);
      Real* const gc = &a.grad_cap(tile, i, 0);
      CELLFIT_LANE_LOOP
      for (int l = 0; l < Lanes; ++l) gc[l] -= mu[l] * (v1[l] - v0[l]);
    }
    for (int i = 1; i < f.n_nodes; ++i) {
      const int pi = f.parent(i);
      const Real* const mi = &f.rhs(tile, i, 0);
      const Real* const mp = &f.rhs(tile, pi, 0);
      const Real* const vi = &a.seg_v(tile, k + 1, i, 0);
      const Real* const vp = &a.seg_v(tile, k + 1, pi, 0);
      Real* const gg = &a.grad_g(tile, i, 0);
      CELLFIT_LANE_LOOP
      for (int l = 0; l < Lanes; ++l) gg[l] += (mi[l] - mp[l]) * (vp[l] - vi[l]);
    }
  }

  // One backward step n (index k in the current segment).
  KOKKOS_FORCEINLINE_FUNCTION void backward_step(int tile, int n, int k) const {
    const auto& f = a.f;
    const int nn = f.n_nodes;
    if ((n + 1) % f.record_every == 0) {
      const int sample = (n + 1) / f.record_every;
      const int n_sites = static_cast<int>(f.record_node.extent(0));
      for (int s = 0; s < n_sites; ++s) {
        Real* const lv = &a.lam_v(tile, f.record_node(s), 0);
        const Real* const sd = &a.seed(tile, s, sample, 0);
        CELLFIT_LANE_LOOP
        for (int l = 0; l < Lanes; ++l) lv[l] += sd[l];
      }
    }
    // The ions as the currents of step n saw them.
    if (f.ion_dynamics) restore_ions(tile, k + 1, 0, 4);
    // mu = M(n)^-1 lambda_V(n+1).
    const int pt = f.passive_tile(tile);
    for (int i = 0; i < nn; ++i) {
      const Real* const dc = &f.d_const(pt, i, 0);
      Real* const dd = &f.d(tile, i, 0);
      Real* const rr = &f.rhs(tile, i, 0);
      const Real* const lv = &a.lam_v(tile, i, 0);
      CELLFIT_LANE_LOOP
      for (int l = 0; l < Lanes; ++l) {
        dd[l] = dc[l];
        rr[l] = lv[l];
      }
    }
    f.mechs.for_each([&](auto const& mv) { add_conductance(mv, tile, k); });
    const bool clamps = f.g_ext.extent(0) != 0;
    if (clamps) clamp_terms<true>(tile, n);
    // Per lane either way: a shared copy holds the same value in every lane, and the adjoint's
    // cost is in its dual-number channel terms, not here.
    hines_solve<Lanes, Real, MemorySpace>(tile, nn, f.parent, f.g_axial, pt, f.d, f.rhs, no_visit{},
                                          std::true_type{});
    if (a.grad_cap.extent(0) != 0) passive_gradient(tile, k);
    // lambda_V(n) = lambda_V(n+1) - L mu + mechanism terms.
    for (int i = 1; i < nn; ++i) {
      const int pi = f.parent(i);
      const Real* const g = &f.g_axial(pt, i, 0);
      const Real* const mi = &f.rhs(tile, i, 0);
      const Real* const mp = &f.rhs(tile, pi, 0);
      Real* const li = &a.lam_v(tile, i, 0);
      Real* const lp = &a.lam_v(tile, pi, 0);
      CELLFIT_LANE_LOOP
      for (int l = 0; l < Lanes; ++l) {
        const Real flux = g[l] * (mi[l] - mp[l]);
        li[l] -= flux;
        lp[l] += flux;
      }
    }
    if (clamps) clamp_terms<false>(tile, n);
    f.mechs.for_each([&](auto const& mv) { channel_adjoint(mv, tile, k); });
    if (f.ion_dynamics) ion_adjoint(tile);
    if (n >= 1) {
      // The advances saw the reversal potentials and summed currents of step n-1.
      if (f.ion_dynamics) {
        restore_ions(tile, k, 0, 1);
        restore_ions(tile, k, 3, 4);
      }
      f.mechs.for_each_reverse([&](auto const& mv) { gate_adjoint(mv, tile, k); });
    } else {
      f.mechs.for_each([&](auto const& mv) { init_adjoint(mv, tile); });
    }
  }

  // Runs steps [n0, n1) forward from the live state, storing the segment trajectory.
  KOKKOS_FORCEINLINE_FUNCTION void run_segment(int tile, int n0, int n1, int* failed,
                                               bool record) const {
    forward_functor<Real, MemorySpace, Lanes> fwd{a.f};
    exchange<true, false>(tile, 0);
    for (int n = n0; n < n1; ++n) {
      fwd.step(tile, n, failed);
      exchange<true, false>(tile, n - n0 + 1);
      if (record && (n + 1) % a.f.record_every == 0) fwd.record(tile, (n + 1) / a.f.record_every);
    }
  }

  // Forward pass: records the traces, stores the checkpoints and the last segment.
  struct forward_tag {};
  KOKKOS_FUNCTION void operator()(forward_tag, const int tile) const {
    const auto& f = a.f;
    forward_functor<Real, MemorySpace, Lanes> fwd{f};
    const int K = a.checkpoint_every;
    int failed[Lanes];
    for (int l = 0; l < Lanes; ++l) failed[l] = 0;
    fwd.record(tile, 0);
    for (int c = 0; c < a.n_segments; ++c) {
      const int n0 = c * K;
      const int n1 = n0 + K < f.n_steps ? n0 + K : f.n_steps;
      exchange<true, true>(tile, c);
      if (c + 1 == a.n_segments) {
        run_segment(tile, n0, n1, failed, true);
      } else {
        for (int n = n0; n < n1; ++n) {
          fwd.step(tile, n, failed);
          if ((n + 1) % f.record_every == 0) fwd.record(tile, (n + 1) / f.record_every);
        }
      }
    }
    for (int l = 0; l < Lanes; ++l) {
      const int cell = tile * Lanes + l;
      // The step is not tracked here; the driver reports the cell as diverged.
      if (failed[l] && f.failed_step(cell) < 0) f.failed_step(cell) = 1;
    }
  }

  // Backward pass: the segments from the last, each earlier one recomputed first.
  struct backward_tag {};
  KOKKOS_FUNCTION void operator()(backward_tag, const int tile) const {
    const auto& f = a.f;
    const int K = a.checkpoint_every;
    auto zero = [&](batch_view3<Real, MemorySpace> const& view) {
      for (int q = 0; q < static_cast<int>(view.extent(1)); ++q) {
        for (int l = 0; l < Lanes; ++l) view(tile, q, l) = Real(0);
      }
    };
    zero(a.lam_v);
    f.mechs.for_each([&](auto const& mv) {
      using M = typename std::decay_t<decltype(mv)>::mechanism;
      zero(a.mechs.template get<M>().lam);
    });
    for (int s = 0; s < n_ion_species; ++s) {
      zero(a.ions[s].lam_e);
      zero(a.ions[s].lam_ci);
      zero(a.ions[s].lam_co);
      zero(a.ions[s].lam_isum);
    }
    int failed[Lanes];
    for (int l = 0; l < Lanes; ++l) failed[l] = 0;
    for (int c = a.n_segments - 1; c >= 0; --c) {
      const int n0 = c * K;
      const int n1 = n0 + K < f.n_steps ? n0 + K : f.n_steps;
      if (c + 1 != a.n_segments) {
        exchange<false, true>(tile, c);
        run_segment(tile, n0, n1, failed, false);
      }
      for (int n = n1 - 1; n >= n0; --n) backward_step(tile, n, n - n0);
    }
  }
};

}  // namespace detail

namespace detail {

template <int Lanes, class Tag, class ExecutionSpace, class Real, class MemorySpace>
void launch_adjoint(ExecutionSpace const& space, adjoint_problem<Real, MemorySpace> const& a,
                    const char* label) {
  static_assert(Kokkos::SpaceAccessibility<ExecutionSpace, MemorySpace>::accessible,
                "cellfit::adjoint: the execution space cannot reach the problem");
  if (a.f.lanes != Lanes) throw std::invalid_argument("cellfit::adjoint: lane width mismatch");
  Kokkos::parallel_for(label, Kokkos::RangePolicy<ExecutionSpace, Tag>(space, 0, a.f.n_tiles),
                       adjoint_functor<Real, MemorySpace, Lanes>{a});
}

}  // namespace detail

// Forward pass of the adjoint for tiles [0, f.n_tiles): records the traces into
// a.f.recorded and stores what the backward pass needs. Preconditions: the forward problem
// laid out with Lanes lanes, states initialised. Non-blocking.
template <int Lanes, class ExecutionSpace, class Real, class MemorySpace>
void adjoint_forward(ExecutionSpace const& space, adjoint_problem<Real, MemorySpace> const& a) {
  using F = detail::adjoint_functor<Real, MemorySpace, Lanes>;
  detail::launch_adjoint<Lanes, typename F::forward_tag>(space, a,
                                                         "cellfit::kernels::adjoint_forward");
}

// Backward pass: gradients of the loss whose derivatives with respect to the recorded
// samples are in a.seed, accumulated into the mechanisms' grad views (zero them first).
// Precondition: adjoint_forward ran on the same problem. Non-blocking.
template <int Lanes, class ExecutionSpace, class Real, class MemorySpace>
void adjoint_backward(ExecutionSpace const& space, adjoint_problem<Real, MemorySpace> const& a) {
  using F = detail::adjoint_functor<Real, MemorySpace, Lanes>;
  detail::launch_adjoint<Lanes, typename F::backward_tag>(space, a,
                                                          "cellfit::kernels::adjoint_backward");
}

}  // namespace cellfit
