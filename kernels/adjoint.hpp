#pragma once
// Reverse-mode discrete adjoint of the forward kernel: exact gradients of a trace loss with
// respect to every channel parameter of every compartment, for the simulator actually run.
//
// Step n of the forward kernel maps (V(n), s(n-1)) to (V(n+1), s(n)):
//   s(n) = A(s(n-1), V(n), p)  (cnexp; s(0) = s(-1), the initial gates, at n = 0)
//   V(n+1) = V(n) + M(n)^-1 r(n)
// Walking the steps backwards, for step n:
//   mu = M(n)^-1 lambda_V(n+1)          (Hines solve; M is symmetric)
//   lambda_V(n)  = lambda_V(n+1) - L mu + sum_channels mu dF/dV,
//   lambda_s(n) += mu dF/ds,  grad_p += mu dF/dp,  with F = -a (i + g dv) per instance
//   then through the gate map: lambda_V(n) += lambda_s . dA/dV, grad_p += lambda_s . dA/dp,
//   lambda_s(n-1) = lambda_s . dA/ds(n-1).
// The channel derivatives come from the channels' own code run on dual numbers
// (kernels/dual.hpp): there is no second, hand-written derivative of any channel.
//
// The loss is the caller's: the forward pass records the traces, the caller computes the
// loss and its derivative with respect to every recorded sample (`seed`), and the backward
// pass injects the seed at the step that produced each sample. Any loss of the recorded
// traces (MSE, spike timing, ...) thus has an exact gradient.
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

#include <stdexcept>

#include <Kokkos_Core.hpp>

#include "kernels/dual.hpp"
#include "kernels/forward.hpp"

namespace cellfit {

template <class Real, class MemorySpace>
struct adjoint_problem {
  forward_problem<Real, MemorySpace> f;
  int checkpoint_every = 1;                // K: steps per segment
  int n_segments = 1;                      // ceil(n_steps / K)
  batch_view4<Real, MemorySpace> ckpt_v;   // [tile][segment][node][lane]: V(segment start)
  batch_view4<Real, MemorySpace> ckpt_hh;  // [tile][segment][state * n + instance][lane]
  batch_view4<Real, MemorySpace> ckpt_jk;
  batch_view4<Real, MemorySpace> seg_v;   // [tile][k = 0..K][node][lane]: V(n0 + k)
  batch_view4<Real, MemorySpace> seg_hh;  // [tile][k = 0..K][row][lane]: s(n0 + k - 1)
  batch_view4<Real, MemorySpace> seg_jk;
  batch_view4<Real, MemorySpace> seed;     // [tile][site][sample][lane]: dL/dV(sample)
  batch_view4<Real, MemorySpace> grad_hh;  // like the parameters: [tile][param][instance][lane]
  batch_view4<Real, MemorySpace> grad_pas;
  batch_view4<Real, MemorySpace> grad_jk;
  batch_view3<Real, MemorySpace> lam_v;   // scratch [tile][node][lane]
  batch_view3<Real, MemorySpace> lam_hh;  // scratch [tile][state * n + instance][lane]
  batch_view3<Real, MemorySpace> lam_jk;
  batch_view3<Real, MemorySpace> lam_tmp;  // scratch of stateless mechanisms
};

namespace detail {

struct no_visit {
  KOKKOS_INLINE_FUNCTION void operator()(int) const {}
};

// Copies the gates of every instance (the live states, or one stored row) into another
// view of rows; used for checkpoints and segment trajectories.
template <int Lanes, class Src, class Dst>
KOKKOS_FORCEINLINE_FUNCTION void copy_rows(int rows, Src const& src, Dst const& dst) {
  for (int q = 0; q < rows; ++q) {
    const auto* const s = src(q);
    auto* const d = dst(q);
    CELLFIT_LANE_LOOP
    for (int l = 0; l < Lanes; ++l) d[l] = s[l];
  }
}

template <class Real, class MemorySpace, int Lanes>
struct adjoint_functor {
  adjoint_problem<Real, MemorySpace> a;
  // The dual-number loops run over chunks of at most 8 lanes (one AVX-512 register of FP64).
  static constexpr int dual_chunk = Lanes < 8 ? Lanes : 8;

  // Live states of a mechanism as rows state * n + instance.
  template <class MV>
  KOKKOS_FORCEINLINE_FUNCTION static int state_rows(MV const& mv) {
    return MV::mechanism::n_states * mv.size();
  }

  // Stores (to_store) or restores the live V and gates of the tile from/to slot `k` of
  // views [tile][slot][row][lane].
  template <bool ToStore, class VV, class SH, class SJ>
  KOKKOS_FORCEINLINE_FUNCTION void exchange(int tile, int k, VV const& vv, SH const& sh,
                                            SJ const& sj) const {
    const auto& f = a.f;
    auto live_v = [&](int q) { return &f.v(tile, q, 0); };
    auto slot_v = [&](int q) { return &vv(tile, k, q, 0); };
    auto live_hh = [&](int q) {
      const int ni = f.hh.size();
      return &f.hh.states(tile, q / ni, q % ni, 0);
    };
    auto slot_hh = [&](int q) { return &sh(tile, k, q, 0); };
    auto live_jk = [&](int q) {
      const int ni = f.jk.size();
      return &f.jk.states(tile, q / ni, q % ni, 0);
    };
    auto slot_jk = [&](int q) { return &sj(tile, k, q, 0); };
    if constexpr (ToStore) {
      copy_rows<Lanes>(f.n_nodes, live_v, slot_v);
      copy_rows<Lanes>(state_rows(f.hh), live_hh, slot_hh);
      copy_rows<Lanes>(state_rows(f.jk), live_jk, slot_jk);
    } else {
      copy_rows<Lanes>(f.n_nodes, slot_v, live_v);
      copy_rows<Lanes>(state_rows(f.hh), slot_hh, live_hh);
      copy_rows<Lanes>(state_rows(f.jk), slot_jk, live_jk);
    }
  }

  // Diagonal contribution a g(V(n), s(n)) of every channel at its node; `k` is step n's
  // index in the segment.
  template <class MV, class SV>
  KOKKOS_FORCEINLINE_FUNCTION void add_conductance(MV const& mv, SV const& seg_s, int tile,
                                                   int k) const {
    using M = typename MV::mechanism;
    constexpr int ns = M::n_states > 0 ? M::n_states : 1;
    const int ni = mv.size();
    for (int j = 0; j < ni; ++j) {
      const int node = mv.nodes(j);
      const Real af = a.f.area_factor(node);
      const Real* pp[M::n_params];
      const Real* sp[ns];
      for (int q = 0; q < M::n_params; ++q) pp[q] = &mv.params(tile, q, j, 0);
      for (int q = 0; q < M::n_states; ++q) sp[q] = &seg_s(tile, k + 1, q * ni + j, 0);
      const Real* const vv = &a.seg_v(tile, k, node, 0);
      Real* const dd = &a.f.d(tile, node, 0);
      CELLFIT_LANE_LOOP
      for (int l = 0; l < Lanes; ++l) {
        Real par[M::n_params], st[ns];
        for (int q = 0; q < M::n_params; ++q) par[q] = pp[q][l];
        for (int q = 0; q < M::n_states; ++q) st[q] = sp[q][l];
        Real g;
        M::current(vv[l], par, st, g);
        dd[l] += af * g;
      }
    }
  }

  // mu dF/d(V, s, p) for F = -a (i + g dv) at step n (index k in the segment): into
  // lambda_V, lambda_s and the gradient.
  template <class MV, class SV, class LV, class GV>
  KOKKOS_FORCEINLINE_FUNCTION void channel_adjoint(MV const& mv, SV const& seg_s, LV const& lam,
                                                   GV const& grad, int tile, int k) const {
    using M = typename MV::mechanism;
    constexpr int ns = M::n_states > 0 ? M::n_states : 1;
    constexpr int nd = 1 + ns + M::n_params;
    using D = dual<Real, nd>;
    const int ni = mv.size();
    for (int j = 0; j < ni; ++j) {
      const int node = mv.nodes(j);
      const Real af = a.f.area_factor(node);
      const Real* pp[M::n_params];
      const Real* sp[ns];
      Real* gp[M::n_params];
      Real* lp[ns];
      for (int q = 0; q < M::n_params; ++q) {
        pp[q] = &mv.params(tile, q, j, 0);
        gp[q] = &grad(tile, q, j, 0);
      }
      for (int q = 0; q < M::n_states; ++q) {
        sp[q] = &seg_s(tile, k + 1, q * ni + j, 0);
        lp[q] = &lam(tile, q * ni + j, 0);
      }
      for (int l0 = 0; l0 < Lanes; l0 += dual_chunk) {
        const Real* const v0p = &a.seg_v(tile, k, node, l0);
        const Real* const v1p = &a.seg_v(tile, k + 1, node, l0);
        const Real* const mup = &a.f.rhs(tile, node, l0);
        Real* const lvp = &a.lam_v(tile, node, l0);
        if (l0 > 0) {
          for (int q = 0; q < M::n_params; ++q) {
            pp[q] += dual_chunk;
            gp[q] += dual_chunk;
          }
          for (int q = 0; q < M::n_states; ++q) {
            sp[q] += dual_chunk;
            lp[q] += dual_chunk;
          }
        }
        CELLFIT_LANE_LOOP
        for (int l = 0; l < dual_chunk; ++l) {
          const Real mu = mup[l];
          const Real dv = v1p[l] - v0p[l];
          const D vd = D::variable(v0p[l], 0);
          D st[ns], par[M::n_params];
          for (int q = 0; q < M::n_states; ++q) st[q] = D::variable(sp[q][l], 1 + q);
          for (int q = 0; q < M::n_params; ++q) par[q] = D::variable(pp[q][l], 1 + ns + q);
          D g;
          const D i = M::current(vd, par, st, g);
          const D F = -(D(af) * (i + g * D(dv)));
          lvp[l] += mu * F.d[0];
          for (int q = 0; q < M::n_states; ++q) lp[q][l] += mu * F.d[1 + q];
          for (int q = 0; q < M::n_params; ++q) gp[q][l] += mu * F.d[1 + ns + q];
        }
      }
    }
  }

  // Through s(n) = A(s(n-1), V(n), p) (n >= 1; index k in the segment): lambda_s(n) ->
  // lambda_s(n-1), lambda_V(n), grad.
  template <class MV, class SV, class LV, class GV>
  KOKKOS_FORCEINLINE_FUNCTION void gate_adjoint(MV const& mv, SV const& seg_s, LV const& lam,
                                                GV const& grad, int tile, int k) const {
    using M = typename MV::mechanism;
    if constexpr (M::n_states > 0) {
      constexpr int ns = M::n_states;
      // Directions: V, the gates, and the parameters only where the gates read them
      // (most gate maps depend on V and the gates alone: 4 directions instead of 10).
      constexpr int np = M::gates_read_params ? M::n_params : 0;
      constexpr int nd = 1 + ns + np;
      using D = dual<Real, nd>;
      const int ni = mv.size();
      const Real dt = a.f.dt_ms, q10 = a.f.q10_hh;
      for (int j = 0; j < ni; ++j) {
        const int node = mv.nodes(j);
        const Real* pp[M::n_params];
        const Real* sp[ns];
        Real* gp[M::n_params];
        Real* lp[ns];
        for (int q = 0; q < M::n_params; ++q) {
          pp[q] = &mv.params(tile, q, j, 0);
          gp[q] = &grad(tile, q, j, 0);
        }
        for (int q = 0; q < ns; ++q) {
          sp[q] = &seg_s(tile, k, q * ni + j, 0);
          lp[q] = &lam(tile, q * ni + j, 0);
        }
        for (int l0 = 0; l0 < Lanes; l0 += dual_chunk) {
          const Real* const vp = &a.seg_v(tile, k, node, l0);
          Real* const lvp = &a.lam_v(tile, node, l0);
          if (l0 > 0) {
            for (int q = 0; q < M::n_params; ++q) {
              pp[q] += dual_chunk;
              gp[q] += dual_chunk;
            }
            for (int q = 0; q < ns; ++q) {
              sp[q] += dual_chunk;
              lp[q] += dual_chunk;
            }
          }
          CELLFIT_LANE_LOOP
          for (int l = 0; l < dual_chunk; ++l) {
            D vd = D::variable(vp[l], 0);
            D st[ns], par[M::n_params];
            for (int q = 0; q < ns; ++q) st[q] = D::variable(sp[q][l], 1 + q);
            for (int q = 0; q < M::n_params; ++q)
              par[q] = np > 0 ? D::variable(pp[q][l], (1 + ns + q) % nd) : D(pp[q][l]);
            M::advance(vd, D(dt), D(q10), par, st);
            Real lam_out[ns] = {};
            Real lam_v = Real(0);
            Real g_out[M::n_params] = {};
            for (int r = 0; r < ns; ++r) {
              const Real lr = lp[r][l];
              lam_v += lr * st[r].d[0];
              for (int q = 0; q < ns; ++q) lam_out[q] += lr * st[r].d[1 + q];
              for (int q = 0; q < np; ++q) g_out[q] += lr * st[r].d[1 + ns + q];
            }
            lvp[l] += lam_v;
            for (int q = 0; q < ns; ++q) lp[q][l] = lam_out[q];
            for (int q = 0; q < np; ++q) gp[q][l] += g_out[q];
          }
        }
      }
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
    // mu = M(n)^-1 lambda_V(n+1).
    for (int i = 0; i < nn; ++i) {
      const Real dc = f.d_const(i);
      Real* const dd = &f.d(tile, i, 0);
      Real* const rr = &f.rhs(tile, i, 0);
      const Real* const lv = &a.lam_v(tile, i, 0);
      CELLFIT_LANE_LOOP
      for (int l = 0; l < Lanes; ++l) {
        dd[l] = dc;
        rr[l] = lv[l];
      }
    }
    add_conductance(f.hh, a.seg_hh, tile, k);
    add_conductance(f.pas, a.seg_hh, tile, k);  // pas has no states: seg unused
    add_conductance(f.jk, a.seg_jk, tile, k);
    hines_solve<Lanes, Real, MemorySpace>(tile, nn, f.parent, f.g_axial, f.d, f.rhs, no_visit{});
    // lambda_V(n) = lambda_V(n+1) - L mu + channel terms.
    for (int i = 1; i < nn; ++i) {
      const int pi = f.parent(i);
      const Real g = f.g_axial(i);
      const Real* const mi = &f.rhs(tile, i, 0);
      const Real* const mp = &f.rhs(tile, pi, 0);
      Real* const li = &a.lam_v(tile, i, 0);
      Real* const lp = &a.lam_v(tile, pi, 0);
      CELLFIT_LANE_LOOP
      for (int l = 0; l < Lanes; ++l) {
        const Real flux = g * (mi[l] - mp[l]);
        li[l] -= flux;
        lp[l] += flux;
      }
    }
    channel_adjoint(f.hh, a.seg_hh, a.lam_hh, a.grad_hh, tile, k);
    channel_adjoint(f.pas, a.seg_hh, a.lam_tmp, a.grad_pas, tile, k);
    channel_adjoint(f.jk, a.seg_jk, a.lam_jk, a.grad_jk, tile, k);
    if (n >= 1) {
      gate_adjoint(f.hh, a.seg_hh, a.lam_hh, a.grad_hh, tile, k);
      gate_adjoint(f.jk, a.seg_jk, a.lam_jk, a.grad_jk, tile, k);
    }
  }

  // Runs steps [n0, n1) forward from the live state, storing the segment trajectory.
  KOKKOS_FORCEINLINE_FUNCTION void run_segment(int tile, int n0, int n1, int* failed,
                                               bool record) const {
    forward_functor<Real, MemorySpace, Lanes> fwd{a.f};
    exchange<true>(tile, 0, a.seg_v, a.seg_hh, a.seg_jk);
    for (int n = n0; n < n1; ++n) {
      fwd.step(tile, n, failed);
      exchange<true>(tile, n - n0 + 1, a.seg_v, a.seg_hh, a.seg_jk);
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
      exchange<true>(tile, c, a.ckpt_v, a.ckpt_hh, a.ckpt_jk);
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
    for (int i = 0; i < f.n_nodes; ++i) {
      for (int l = 0; l < Lanes; ++l) a.lam_v(tile, i, l) = Real(0);
    }
    for (int q = 0; q < static_cast<int>(a.lam_hh.extent(1)); ++q) {
      for (int l = 0; l < Lanes; ++l) a.lam_hh(tile, q, l) = Real(0);
    }
    for (int q = 0; q < static_cast<int>(a.lam_jk.extent(1)); ++q) {
      for (int l = 0; l < Lanes; ++l) a.lam_jk(tile, q, l) = Real(0);
    }
    int failed[Lanes];
    for (int l = 0; l < Lanes; ++l) failed[l] = 0;
    for (int c = a.n_segments - 1; c >= 0; --c) {
      const int n0 = c * K;
      const int n1 = n0 + K < f.n_steps ? n0 + K : f.n_steps;
      if (c + 1 != a.n_segments) {
        exchange<false>(tile, c, a.ckpt_v, a.ckpt_hh, a.ckpt_jk);
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
// samples are in a.seed, accumulated into a.grad_* (zero them first). Precondition:
// adjoint_forward ran on the same problem. Non-blocking.
template <int Lanes, class ExecutionSpace, class Real, class MemorySpace>
void adjoint_backward(ExecutionSpace const& space, adjoint_problem<Real, MemorySpace> const& a) {
  using F = detail::adjoint_functor<Real, MemorySpace, Lanes>;
  detail::launch_adjoint<Lanes, typename F::backward_tag>(space, a,
                                                          "cellfit::kernels::adjoint_backward");
}

}  // namespace cellfit
