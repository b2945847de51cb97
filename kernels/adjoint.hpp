#pragma once
// Reverse-mode discrete adjoint of the forward kernel: exact gradients of a trace loss with
// respect to every channel parameter of every compartment, for the simulator actually run.
//
// Per tile: the forward time loop is run again, storing V at every step and the gates
// after each step's cnexp update; then the steps are walked backwards. For step n
// (V(n+1) = V(n) + M(n)^-1 r(n), gates s(n) = A(s(n-1), V(n)) for n >= 1):
//   mu = M(n)^-1 lambda_V(n+1)          (Hines solve; M is symmetric)
//   lambda_V(n)  = lambda_V(n+1) - L mu + sum_channels mu dF/dV,
//   lambda_s(n) += mu dF/ds,  grad_p += mu dF/dp,  with F = -a (i + g dv) per instance
//   then through the gate map: lambda_V(n) += lambda_s . dA/dV, grad_p += lambda_s . dA/dp,
//   lambda_s(n-1) = lambda_s . dA/ds(n-1).
// The channel derivatives come from the channels' own code run on dual numbers
// (kernels/dual.hpp): there is no second, hand-written derivative of any channel.
// Loss: mean over recorded sites and samples of (V - target)^2, per cell.
//
// Memory: the stored trajectory is (n_steps + 1) x (nodes + gate states) per cell.

#include <stdexcept>

#include <Kokkos_Core.hpp>

#include "kernels/dual.hpp"
#include "kernels/forward.hpp"

namespace cellfit {

template <class Real, class MemorySpace>
struct adjoint_problem {
  forward_problem<Real, MemorySpace> f;
  batch_view4<Real, MemorySpace> traj_v;   // [tile][step 0..N][node][lane]
  batch_view4<Real, MemorySpace> traj_hh;  // [tile][step 0..N-1][state * n + instance][lane]
  batch_view4<Real, MemorySpace> traj_jk;
  batch_view4<Real, MemorySpace> target;   // [tile][site][sample][lane]
  batch_view4<Real, MemorySpace> grad_hh;  // like the parameters: [tile][param][instance][lane]
  batch_view4<Real, MemorySpace> grad_pas;
  batch_view4<Real, MemorySpace> grad_jk;
  batch_view3<Real, MemorySpace> lam_v;   // scratch [tile][node][lane]
  batch_view3<Real, MemorySpace> lam_hh;  // scratch [tile][state * n + instance][lane]
  batch_view3<Real, MemorySpace> lam_jk;
  batch_view3<Real, MemorySpace> lam_tmp;  // scratch for the gate map
  Kokkos::View<Real*, MemorySpace> loss;   // [cell]
};

namespace detail {

struct no_visit {
  KOKKOS_INLINE_FUNCTION void operator()(int) const {}
};

template <class Real, class MemorySpace, int Lanes>
struct adjoint_functor {
  adjoint_problem<Real, MemorySpace> a;

  template <class MV, class TV>
  KOKKOS_FORCEINLINE_FUNCTION void save_states(MV const& mv, TV const& traj, int tile,
                                               int n) const {
    using M = typename MV::mechanism;
    const int ni = mv.size();
    for (int k = 0; k < M::n_states; ++k) {
      for (int j = 0; j < ni; ++j) {
        for (int l = 0; l < Lanes; ++l) traj(tile, n, k * ni + j, l) = mv.states(tile, k, j, l);
      }
    }
  }

  // Diagonal contribution a g(V(n), s(n)) of every channel at its node.
  template <class MV, class TV>
  KOKKOS_FORCEINLINE_FUNCTION void add_conductance(MV const& mv, TV const& traj, int tile,
                                                   int n) const {
    using M = typename MV::mechanism;
    constexpr int ns = M::n_states > 0 ? M::n_states : 1;
    const int ni = mv.size();
    for (int j = 0; j < ni; ++j) {
      const int node = mv.nodes(j);
      const Real af = a.f.area_factor(node);
      for (int l = 0; l < Lanes; ++l) {
        Real par[M::n_params], st[ns];
        for (int k = 0; k < M::n_params; ++k) par[k] = mv.params(tile, k, j, l);
        for (int k = 0; k < M::n_states; ++k) st[k] = traj(tile, n, k * ni + j, l);
        Real g;
        M::current(a.traj_v(tile, n, node, l), par, st, g);
        a.f.d(tile, node, l) += af * g;
      }
    }
  }

  // The independent variables of one instance's local derivatives, in the order
  // (V, states of trajectory step `step`, parameters).
  template <class MV, class TV, class D, int NS>
  KOKKOS_FORCEINLINE_FUNCTION void seed_duals(MV const& mv, TV const& traj, int tile, int step,
                                              int j, int l, Real v, D& vd, D (&st)[NS],
                                              D* par) const {
    using M = typename MV::mechanism;
    const int ni = mv.size();
    vd = D::variable(v, 0);
    for (int k = 0; k < M::n_states; ++k)
      st[k] = D::variable(traj(tile, step, k * ni + j, l), 1 + k);
    for (int k = 0; k < M::n_params; ++k)
      par[k] = D::variable(mv.params(tile, k, j, l), 1 + NS + k);
  }

  // mu dF/d(V, s, p) for F = -a (i + g dv): into lambda_V, lambda_s and the gradient.
  template <class MV, class TV, class LV, class GV>
  KOKKOS_FORCEINLINE_FUNCTION void channel_adjoint(MV const& mv, TV const& traj, LV const& lam,
                                                   GV const& grad, int tile, int n) const {
    using M = typename MV::mechanism;
    constexpr int ns = M::n_states > 0 ? M::n_states : 1;
    constexpr int nd = 1 + ns + M::n_params;
    using D = dual<Real, nd>;
    const int ni = mv.size();
    for (int j = 0; j < ni; ++j) {
      const int node = mv.nodes(j);
      const Real af = a.f.area_factor(node);
      for (int l = 0; l < Lanes; ++l) {
        const Real mu = a.f.rhs(tile, node, l);
        const Real v0 = a.traj_v(tile, n, node, l);
        const Real dv = a.traj_v(tile, n + 1, node, l) - v0;
        D vd, st[ns], par[M::n_params];
        seed_duals(mv, traj, tile, n, j, l, v0, vd, st, par);
        D g;
        const D i = M::current(vd, par, st, g);
        const D F = -(D(af) * (i + g * D(dv)));
        a.lam_v(tile, node, l) += mu * F.d[0];
        for (int k = 0; k < M::n_states; ++k) lam(tile, k * ni + j, l) += mu * F.d[1 + k];
        for (int k = 0; k < M::n_params; ++k) grad(tile, k, j, l) += mu * F.d[1 + ns + k];
      }
    }
  }

  // Through s(n) = A(s(n-1), V(n), p): lambda_s(n) -> lambda_s(n-1), lambda_V(n), grad.
  template <class MV, class TV, class LV, class GV>
  KOKKOS_FORCEINLINE_FUNCTION void gate_adjoint(MV const& mv, TV const& traj, LV const& lam,
                                                GV const& grad, int tile, int n) const {
    using M = typename MV::mechanism;
    if (M::n_states == 0) return;
    constexpr int ns = M::n_states > 0 ? M::n_states : 1;
    constexpr int nd = 1 + ns + M::n_params;
    using D = dual<Real, nd>;
    const int ni = mv.size();
    for (int j = 0; j < ni; ++j) {
      const int node = mv.nodes(j);
      for (int l = 0; l < Lanes; ++l) {
        D vd, st[ns], par[M::n_params];
        seed_duals(mv, traj, tile, n - 1, j, l, a.traj_v(tile, n, node, l), vd, st, par);
        M::advance(vd, D(a.f.dt_ms), D(a.f.q10_hh), par, st);
        Real lam_out[ns];
        for (int k = 0; k < ns; ++k) lam_out[k] = Real(0);
        for (int k = 0; k < M::n_states; ++k) {
          const Real lk = lam(tile, k * ni + j, l);
          a.lam_v(tile, node, l) += lk * st[k].d[0];
          for (int q = 0; q < M::n_states; ++q) lam_out[q] += lk * st[k].d[1 + q];
          for (int q = 0; q < M::n_params; ++q) grad(tile, q, j, l) += lk * st[k].d[1 + ns + q];
        }
        for (int k = 0; k < M::n_states; ++k) lam(tile, k * ni + j, l) = lam_out[k];
      }
    }
  }

  KOKKOS_FUNCTION void operator()(const int tile) const {
    const auto& f = a.f;
    const int nn = f.n_nodes, ns = f.n_steps;
    const int n_sites = static_cast<int>(f.record_node.extent(0));
    forward_functor<Real, MemorySpace, Lanes> fwd{f};
    int failed[Lanes];
    for (int l = 0; l < Lanes; ++l) failed[l] = 0;

    // Forward, storing the trajectory.
    for (int i = 0; i < nn; ++i) {
      for (int l = 0; l < Lanes; ++l) a.traj_v(tile, 0, i, l) = f.v(tile, i, l);
    }
    for (int n = 0; n < ns; ++n) {
      fwd.step(tile, n, failed);
      save_states(f.hh, a.traj_hh, tile, n);
      save_states(f.jk, a.traj_jk, tile, n);
      for (int i = 0; i < nn; ++i) {
        for (int l = 0; l < Lanes; ++l) a.traj_v(tile, n + 1, i, l) = f.v(tile, i, l);
      }
    }
    // Loss over the recorded samples.
    const Real norm = Real(1) / static_cast<Real>(n_sites * f.n_samples);
    for (int l = 0; l < Lanes; ++l) {
      Real sum = 0;
      for (int k = 0; k < f.n_samples; ++k) {
        for (int s = 0; s < n_sites; ++s) {
          const Real diff =
              a.traj_v(tile, k * f.record_every, f.record_node(s), l) - a.target(tile, s, k, l);
          sum += diff * diff;
        }
      }
      const int cell = tile * Lanes + l;
      a.loss(cell) = sum * norm;
      // A diverged cell has no meaningful gradient; the driver reports it.
      if (failed[l] && f.failed_step(cell) < 0) f.failed_step(cell) = 1;
    }

    // Backward.
    for (int i = 0; i < nn; ++i) {
      for (int l = 0; l < Lanes; ++l) a.lam_v(tile, i, l) = Real(0);
    }
    for (int q = 0; q < static_cast<int>(a.lam_hh.extent(1)); ++q) {
      for (int l = 0; l < Lanes; ++l) a.lam_hh(tile, q, l) = Real(0);
    }
    for (int q = 0; q < static_cast<int>(a.lam_jk.extent(1)); ++q) {
      for (int l = 0; l < Lanes; ++l) a.lam_jk(tile, q, l) = Real(0);
    }
    for (int n = ns - 1; n >= 0; --n) {
      if ((n + 1) % f.record_every == 0) {
        const int k = (n + 1) / f.record_every;
        for (int s = 0; s < n_sites; ++s) {
          const int node = f.record_node(s);
          for (int l = 0; l < Lanes; ++l) {
            a.lam_v(tile, node, l) +=
                Real(2) * norm * (a.traj_v(tile, n + 1, node, l) - a.target(tile, s, k, l));
          }
        }
      }
      // mu = M(n)^-1 lambda_V(n+1).
      for (int i = 0; i < nn; ++i) {
        for (int l = 0; l < Lanes; ++l) {
          f.d(tile, i, l) = f.d_const(i);
          f.rhs(tile, i, l) = a.lam_v(tile, i, l);
        }
      }
      add_conductance(f.hh, a.traj_hh, tile, n);
      add_conductance(f.pas, a.traj_hh, tile, n);  // pas has no states: traj unused
      add_conductance(f.jk, a.traj_jk, tile, n);
      hines_solve<Lanes, Real, MemorySpace>(tile, nn, f.parent, f.g_axial, f.d, f.rhs, no_visit{});
      // lambda_V(n) = lambda_V(n+1) - L mu + channel terms.
      for (int i = 1; i < nn; ++i) {
        const int pi = f.parent(i);
        const Real g = f.g_axial(i);
        for (int l = 0; l < Lanes; ++l) {
          const Real flux = g * (f.rhs(tile, i, l) - f.rhs(tile, pi, l));
          a.lam_v(tile, i, l) -= flux;
          a.lam_v(tile, pi, l) += flux;
        }
      }
      channel_adjoint(f.hh, a.traj_hh, a.lam_hh, a.grad_hh, tile, n);
      channel_adjoint(f.pas, a.traj_hh, a.lam_tmp, a.grad_pas, tile, n);
      channel_adjoint(f.jk, a.traj_jk, a.lam_jk, a.grad_jk, tile, n);
      if (n >= 1) {
        gate_adjoint(f.hh, a.traj_hh, a.lam_hh, a.grad_hh, tile, n);
        gate_adjoint(f.jk, a.traj_jk, a.lam_jk, a.grad_jk, tile, n);
      }
    }
  }
};

}  // namespace detail

// Runs forward and adjoint for tiles [0, f.n_tiles). Preconditions: the forward problem
// laid out with Lanes lanes, states initialised, gradients zeroed. Non-blocking.
template <int Lanes, class ExecutionSpace, class Real, class MemorySpace>
void loss_gradient(ExecutionSpace const& space, adjoint_problem<Real, MemorySpace> const& a) {
  static_assert(Kokkos::SpaceAccessibility<ExecutionSpace, MemorySpace>::accessible,
                "cellfit::loss_gradient: the execution space cannot reach the problem");
  if (a.f.lanes != Lanes)
    throw std::invalid_argument("cellfit::loss_gradient: lane width mismatch");
  Kokkos::parallel_for("cellfit::kernels::adjoint",
                       Kokkos::RangePolicy<ExecutionSpace>(space, 0, a.f.n_tiles),
                       detail::adjoint_functor<Real, MemorySpace, Lanes>{a});
}

}  // namespace cellfit
