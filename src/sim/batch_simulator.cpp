#include "sim/batch_simulator.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <unistd.h>
#include <cmath>
#include <limits>

#include <Kokkos_Core.hpp>

#include "common/error.hpp"
#include "kernels/forward.hpp"

namespace cellfit {

int simulation_settings::n_steps() const {
  return static_cast<int>(std::llround(t_stop_ms / dt_ms));
}

std::size_t simulation_result::n_failed() const {
  std::size_t n = 0;
  for (int s : failed_step) n += s >= 0;
  return n;
}

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

template <class Mechanism, class Real, class Mem>
mechanism_views<Mechanism, Real, Mem> make_mechanism(
    const cell_model& model,
    const std::vector<std::vector<std::vector<std::vector<double>>>>& values, std::size_t n_stimuli,
    int n_tiles, int lanes, std::size_t n_cells) {
  mechanism_views<Mechanism, Real, Mem> mv;
  std::size_t mi = 0;
  while (mi < model.mechanisms.size() && model.mechanisms[mi].name != Mechanism::name) ++mi;
  const bool present = mi < model.mechanisms.size();
  const std::size_t n = present ? model.mechanisms[mi].compartments.size() : 0;
  const std::string label = std::string("cellfit::sim::") + Mechanism::name;
  Kokkos::View<int*, Mem> nodes(label + "::nodes", n);
  auto nodes_h = Kokkos::create_mirror_view(nodes);
  for (std::size_t j = 0; j < n; ++j) {
    nodes_h(j) = model.geom.node_of[static_cast<std::size_t>(model.mechanisms[mi].compartments[j])];
  }
  Kokkos::deep_copy(nodes, nodes_h);
  mv.nodes = nodes;
  mv.params = batch_view4<Real, Mem>(label + "::params", n_tiles, Mechanism::n_params, n, lanes);
  mv.states = batch_view4<Real, Mem>(label + "::states", n_tiles,
                                     Mechanism::n_states > 0 ? Mechanism::n_states : 1, n, lanes);
  if (present) {
    auto ph = Kokkos::create_mirror_view(mv.params);
    const std::size_t padded = static_cast<std::size_t>(n_tiles) * static_cast<std::size_t>(lanes);
    for (std::size_t c = 0; c < padded; ++c) {
      // Padding lanes repeat the last cell so that they compute finite, ignored values.
      const std::size_t cell = std::min(c, n_cells - 1);
      const auto& v = values[cell / n_stimuli][mi];
      const int tile = static_cast<int>(c / static_cast<std::size_t>(lanes));
      const int lane = static_cast<int>(c % static_cast<std::size_t>(lanes));
      for (int k = 0; k < Mechanism::n_params; ++k) {
        for (std::size_t j = 0; j < n; ++j) {
          ph(tile, k, j, lane) = static_cast<Real>(v[static_cast<std::size_t>(k)][j]);
        }
      }
    }
    Kokkos::deep_copy(mv.params, ph);
  }
  return mv;
}

template <class Real, int lanes>
simulation_result run(const cell_model& model, const std::vector<parameter_set>& sets,
                      const std::vector<stimulus>& stimuli, const simulation_settings& s,
                      const progress_callback& progress) {
  using space = device_space;
  using mem = device_memory;
  const auto t_setup = clock_type::now();
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
  p.q10_hh = static_cast<Real>(std::pow(3.0, (model.celsius - 6.3) / 10.0));

  // Geometry: capacitance, area factor and the constant part of the diagonal.
  {
    Kokkos::View<int*, mem> parent("cellfit::sim::parent", n_nodes);
    Kokkos::View<Real*, mem> gax("cellfit::sim::g_axial", n_nodes);
    Kokkos::View<Real*, mem> dconst("cellfit::sim::d_const", n_nodes);
    Kokkos::View<Real*, mem> afac("cellfit::sim::area_factor", n_nodes);
    auto parent_h = Kokkos::create_mirror_view(parent);
    auto gax_h = Kokkos::create_mirror_view(gax);
    auto dconst_h = Kokkos::create_mirror_view(dconst);
    auto afac_h = Kokkos::create_mirror_view(afac);
    std::vector<double> dsum(static_cast<std::size_t>(n_nodes), 0.0);
    for (int i = 0; i < n_nodes; ++i) {
      const std::size_t iu = static_cast<std::size_t>(i);
      const int c = g.compartment_of[iu];
      double cap = 0, af = 0;  // junction nodes: no membrane
      if (c >= 0) {
        const double cm = model.cm[static_cast<std::size_t>(c)];
        if (g.point_model) {
          cap = cm;
          af = 1.0;
        } else {
          cap = cm * g.area_um2[iu] * 1e-5;  // uF/cm2 * um2 -> nF
          af = g.area_um2[iu] * 1e-2;        // mA/cm2 * um2 -> nA
        }
      }
      dsum[iu] += cap / s.dt_ms;
      if (g.parent[iu] >= 0) {
        dsum[iu] += g.g_axial[iu];
        dsum[static_cast<std::size_t>(g.parent[iu])] += g.g_axial[iu];
      }
      parent_h(i) = g.parent[iu];
      gax_h(i) = static_cast<Real>(g.g_axial[iu]);
      afac_h(i) = static_cast<Real>(af);
    }
    for (int i = 0; i < n_nodes; ++i)
      dconst_h(i) = static_cast<Real>(dsum[static_cast<std::size_t>(i)]);
    Kokkos::deep_copy(parent, parent_h);
    Kokkos::deep_copy(gax, gax_h);
    Kokkos::deep_copy(dconst, dconst_h);
    Kokkos::deep_copy(afac, afac_h);
    p.parent = parent;
    p.g_axial = gax;
    p.d_const = dconst;
    p.area_factor = afac;
  }

  // Parameters of every set, resolved once per set.
  std::vector<std::vector<std::vector<std::vector<double>>>> values;
  values.reserve(sets.size());
  for (const auto& set : sets) values.push_back(resolve_parameters(model, set));
  p.hh = make_mechanism<channels::hh, Real, mem>(model, values, n_stim, n_tiles, lanes, n_cells);
  p.pas = make_mechanism<channels::pas, Real, mem>(model, values, n_stim, n_tiles, lanes, n_cells);
  p.jk = make_mechanism<channels::jk, Real, mem>(model, values, n_stim, n_tiles, lanes, n_cells);

  // Stimuli sampled at step midpoints.
  {
    const sampled_stimuli st = sample_stimuli(stimuli, static_cast<std::size_t>(n_steps), s.dt_ms);
    Kokkos::View<int*, mem> inj("cellfit::sim::inject_node", st.sites.size());
    Kokkos::View<Real***, Kokkos::LayoutRight, mem> iext("cellfit::sim::i_ext", n_stim,
                                                         st.sites.size(), n_steps);
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
          iext_h(a, k, n) = static_cast<Real>(st.at(a, k, static_cast<std::size_t>(n)));
        }
      }
    }
    for (std::size_t c = 0; c < stim_of_h.extent(0); ++c) {
      stim_of_h(c) = static_cast<int>(std::min(c, n_cells - 1) % n_stim);
    }
    Kokkos::deep_copy(inj, inj_h);
    Kokkos::deep_copy(iext, iext_h);
    Kokkos::deep_copy(stim_of, stim_of_h);
    p.inject_node = inj;
    p.i_ext = iext;
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

  space exec;
  initialize_states(exec, p);
  exec.fence();
  simulation_result r;
  r.setup_seconds = seconds_since(t_setup);

  const auto t_kernel = clock_type::now();
  // Chunks of about a second of work each when progress is reported, one call otherwise.
  const double work = static_cast<double>(n_cells) * g.n_compartments() * n_steps;
  const int chunks =
      progress ? static_cast<int>(std::min<double>(n_tiles, std::max(1.0, work / 2e7))) : 1;
  for (int k = 0; k < chunks; ++k) {
    const int b = static_cast<int>(static_cast<long long>(n_tiles) * k / chunks);
    const int e = static_cast<int>(static_cast<long long>(n_tiles) * (k + 1) / chunks);
    simulate<lanes>(exec, p, b, e);
    exec.fence();
    if (progress) {
      progress(std::min(n_cells, static_cast<std::size_t>(e) * lanes), n_cells,
               seconds_since(t_kernel));
    }
  }
  r.kernel_seconds = seconds_since(t_kernel);

  auto rec_h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), p.recorded);
  auto fail_h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), p.failed_step);
  r.n_cells = n_cells;
  r.n_sites = n_sites;
  r.n_samples = static_cast<std::size_t>(p.n_samples);
  r.voltage.resize(n_cells * n_sites * r.n_samples);
  r.failed_step.resize(n_cells);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (std::size_t c = 0; c < n_cells; ++c) {
    const int tile = static_cast<int>(c / lanes);
    const int lane = static_cast<int>(c % lanes);
    const int failed = fail_h(c);
    r.failed_step[c] = failed;
    // Samples at or after the failure are not a trajectory of the model: make that explicit.
    const std::size_t first_bad =
        failed < 0 ? r.n_samples
                   : static_cast<std::size_t>((failed + s.record_every - 1) / s.record_every);
    for (std::size_t k = 0; k < n_sites; ++k) {
      double* out = &r.voltage[(c * n_sites + k) * r.n_samples];
      for (std::size_t t = 0; t < r.n_samples; ++t) {
        out[t] = t >= first_bad ? nan : static_cast<double>(rec_h(tile, k, t, lane));
      }
    }
  }
  return r;
}

// The widest tile the batch fills; padding lanes cost as much as real ones.
template <class Real>
simulation_result run_width(const cell_model& model, const std::vector<parameter_set>& sets,
                            const std::vector<stimulus>& stimuli, const simulation_settings& s,
                            const progress_callback& progress) {
  constexpr int wide = lane_width<device_space, Real>::value;
  constexpr int narrow = narrow_lane_width<device_space, Real>::value;
  const std::size_t n_cells = sets.size() * stimuli.size();
  if (n_cells >= static_cast<std::size_t>(wide))
    return run<Real, wide>(model, sets, stimuli, s, progress);
  if (narrow > 1 && n_cells >= static_cast<std::size_t>(narrow)) {
    return run<Real, narrow>(model, sets, stimuli, s, progress);
  }
  return run<Real, 1>(model, sets, stimuli, s, progress);
}

}  // namespace

simulation_result simulate_batch(const cell_model& model, const std::vector<parameter_set>& sets,
                                 const std::vector<stimulus>& stimuli, const simulation_settings& s,
                                 const progress_callback& progress) {
  auto bad = [](const std::string& what) { throw config_error("cellfit::simulate: " + what); };
  if (!(s.dt_ms > 0) || !std::isfinite(s.dt_ms)) bad("dt_ms must be positive and finite");
  if (!(s.t_stop_ms > 0) || !std::isfinite(s.t_stop_ms))
    bad("t_stop_ms must be positive and finite");
  if (s.n_steps() < 1) bad("t_stop_ms / dt_ms gives no step");
  if (s.record_every < 1) bad("record_every must be >= 1");
  if (!(s.v_bound_mv > 0) || s.v_bound_mv > 400) bad("v_bound_mv must be in (0, 400] mV");
  if (sets.empty()) bad("no parameter set");
  if (stimuli.empty()) bad("no stimulus");
  for (int c : s.record_compartments) {
    if (c < 0 || c >= model.geom.n_compartments()) {
      bad("recording site " + std::to_string(c) + " is not a compartment (0.." +
          std::to_string(model.geom.n_compartments() - 1) + ")");
    }
  }
  for (std::size_t k = 0; k < sets.size(); ++k) {
    for (const auto& o : sets[k]) check_override(model, o, "parameter set " + std::to_string(k));
  }
  // Refuse a run whose traces cannot fit in memory before allocating anything: the
  // recorded voltages are held twice (kernel layout and output order) as 8-byte values.
  {
    const double n_cells = static_cast<double>(sets.size()) * static_cast<double>(stimuli.size());
    const double bytes = 2.0 * 8.0 * n_cells * static_cast<double>(s.record_compartments.size()) *
                         static_cast<double>(s.n_samples());
    std::size_t inject_sites = 0;
    for (const auto& st : stimuli) {
      for (const auto& c : st.components) inject_sites += c.sites.size();
    }
    // The sampled stimulus table [stimulus][site][step] is held about three times.
    const double stim_bytes = 3.0 * 8.0 * static_cast<double>(inject_sites) * s.n_steps();
    const double state_bytes =
        8.0 * n_cells * (3.0 * model.geom.n_nodes() + 12.0 * model.geom.n_compartments()) +
        stim_bytes;
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    const double ram =
        pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 0.0;
    if (ram > 0 && bytes + state_bytes > 0.8 * ram) {
      char msg[256];
      std::snprintf(msg, sizeof msg,
                    "%.3g cells x %zu sites x %d samples need %.3g GB, more than 80%% of this "
                    "machine's %.3g GB: record fewer sites, use record_every, or split the batch",
                    n_cells, s.record_compartments.size(), s.n_samples(),
                    (bytes + state_bytes) / 1e9, ram / 1e9);
      bad(msg);
    }
  }
  if (s.prec == precision::fp32) return run_width<real32_type>(model, sets, stimuli, s, progress);
  return run_width<real_type>(model, sets, stimuli, s, progress);
}

}  // namespace cellfit
