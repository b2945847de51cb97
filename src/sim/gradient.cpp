#include "sim/gradient.hpp"

#include <unistd.h>

#include <limits>

#include <Kokkos_Core.hpp>

#include "common/error.hpp"
#include "kernels/adjoint.hpp"
#include "sim/forward_setup.hpp"

namespace cellfit {

namespace {

template <class MV>
batch_view4<double, device_memory> zeros_like_params(MV const& mv, const std::string& label) {
  return batch_view4<double, device_memory>(label, mv.params.extent(0), mv.params.extent(1),
                                            mv.params.extent(2), mv.params.extent(3));
}

template <class MV>
batch_view4<double, device_memory> trajectory(MV const& mv, int n_steps, const std::string& label) {
  using M = typename MV::mechanism;
  const std::size_t rows =
      static_cast<std::size_t>(M::n_states > 0 ? M::n_states : 1) * mv.nodes.extent(0);
  return batch_view4<double, device_memory>(
      label, mv.params.extent(0), static_cast<std::size_t>(n_steps), rows, mv.params.extent(3));
}

}  // namespace

gradient_result loss_gradient(const cell_model& model, const std::vector<parameter_set>& sets,
                              const std::vector<stimulus>& stimuli, const simulation_settings& s,
                              const std::vector<double>& target) {
  check_batch(model, sets, stimuli, s);
  constexpr int lanes = 1;  // the adjoint evaluates dual numbers lane by lane
  const std::size_t n_cells = sets.size() * stimuli.size();
  const std::size_t n_sites = s.record_compartments.size();
  const std::size_t n_samples = static_cast<std::size_t>(s.n_samples());
  if (target.size() != n_cells * n_sites * n_samples) {
    throw config_error("cellfit::gradient: target has " + std::to_string(target.size()) +
                       " values, the recordings " + std::to_string(n_cells) + " cells x " +
                       std::to_string(n_sites) + " sites x " + std::to_string(n_samples) +
                       " samples");
  }
  // The whole trajectory is stored (no checkpointing yet): refuse what cannot fit.
  {
    std::size_t state_rows = 0;
    for (const auto& pl : model.mechanisms) {
      state_rows += static_cast<std::size_t>(find_mechanism(pl.name)->n_states) * pl.compartments.size();
    }
    const double bytes = 8.0 * static_cast<double>(n_cells) * (s.n_steps() + 1.0) *
                         static_cast<double>(static_cast<std::size_t>(model.geom.n_nodes()) + state_rows);
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    const double ram = pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 0.0;
    if (ram > 0 && bytes > 0.8 * ram) {
      throw config_error("cellfit::gradient: the stored trajectory needs " + std::to_string(bytes / 1e9) +
                         " GB, more than 80% of this machine's memory: use fewer cells or steps per call");
    }
  }
  adjoint_problem<double, device_memory> a;
  a.f = detail::build_forward_problem<double, lanes>(model, sets, stimuli, s);
  const int n_tiles = a.f.n_tiles, n_steps = a.f.n_steps, n_nodes = a.f.n_nodes;
  a.traj_v = batch_view4<double, device_memory>("cellfit::gradient::traj_v", n_tiles, n_steps + 1,
                                                n_nodes, lanes);
  a.traj_hh = trajectory(a.f.hh, n_steps, "cellfit::gradient::traj_hh");
  a.traj_jk = trajectory(a.f.jk, n_steps, "cellfit::gradient::traj_jk");
  a.grad_hh = zeros_like_params(a.f.hh, "cellfit::gradient::grad_hh");
  a.grad_pas = zeros_like_params(a.f.pas, "cellfit::gradient::grad_pas");
  a.grad_jk = zeros_like_params(a.f.jk, "cellfit::gradient::grad_jk");
  a.lam_v = batch_view3<double, device_memory>("cellfit::gradient::lam_v", n_tiles, n_nodes, lanes);
  a.lam_hh = batch_view3<double, device_memory>("cellfit::gradient::lam_hh", n_tiles,
                                                a.traj_hh.extent(2), lanes);
  a.lam_jk = batch_view3<double, device_memory>("cellfit::gradient::lam_jk", n_tiles,
                                                a.traj_jk.extent(2), lanes);
  a.lam_tmp = batch_view3<double, device_memory>("cellfit::gradient::lam_tmp", n_tiles, 1, lanes);
  a.loss = Kokkos::View<double*, device_memory>("cellfit::gradient::loss",
                                                static_cast<std::size_t>(n_tiles) * lanes);
  a.target = batch_view4<double, device_memory>("cellfit::gradient::target", n_tiles, n_sites,
                                                n_samples, lanes);
  {
    auto th = Kokkos::create_mirror_view(a.target);
    for (std::size_t c = 0; c < static_cast<std::size_t>(n_tiles) * lanes; ++c) {
      const std::size_t src = std::min(c, n_cells - 1);
      for (std::size_t k = 0; k < n_sites; ++k) {
        for (std::size_t t = 0; t < n_samples; ++t) {
          th(c / lanes, k, t, c % lanes) = target[(src * n_sites + k) * n_samples + t];
        }
      }
    }
    Kokkos::deep_copy(a.target, th);
  }
  device_space exec;
  initialize_states(exec, a.f);
  loss_gradient<lanes>(exec, a);
  exec.fence();

  gradient_result r;
  r.n_cells = n_cells;
  auto loss_h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), a.loss);
  auto fail_h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), a.f.failed_step);
  auto g_hh = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), a.grad_hh);
  auto g_pas = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), a.grad_pas);
  auto g_jk = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), a.grad_jk);
  r.loss.resize(n_cells);
  r.failed_step.resize(n_cells);
  r.grad.resize(n_cells);
  for (std::size_t c = 0; c < n_cells; ++c) {
    r.failed_step[c] = fail_h(c);
    r.loss[c] = fail_h(c) >= 0 ? std::numeric_limits<double>::quiet_NaN() : loss_h(c);
    for (const auto& pl : model.mechanisms) {
      const auto& g = pl.name == "hh" ? g_hh : (pl.name == "pas" ? g_pas : g_jk);
      std::vector<std::vector<double>> per_param(g.extent(1),
                                                 std::vector<double>(pl.compartments.size()));
      for (std::size_t k = 0; k < g.extent(1); ++k) {
        for (std::size_t j = 0; j < pl.compartments.size(); ++j)
          per_param[k][j] = g(c / lanes, k, j, c % lanes);
      }
      r.grad[c].push_back(per_param);
    }
  }
  return r;
}

}  // namespace cellfit
