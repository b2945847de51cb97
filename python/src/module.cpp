// cellfit._core: the compiled part of the Python module. A binding layer only: every call
// goes to the library the command line uses (cellfit_app, cellfit_core); the Python package
// (python/cellfit/__init__.py) turns arguments into the shapes taken here and results into
// documented objects.
//
// Processes: the module runs in one process with the local (no-MPI) communication context
// and never initialises MPI; python/cellfit/__init__.py refuses an import in a world of
// several ranks (docs/python.md).
//
// Threads and the GIL: every call that simulates, fits or computes features releases the GIL
// while C++ runs; Python objects are read before and built after.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>
#include <Kokkos_Core.hpp>

#include "app/commands.hpp"
#include "app/fit_common.hpp"
#include "app/identifiability.hpp"
#include "common/error.hpp"
#include "common/signals.hpp"
#include "features/feature_library.hpp"
#include "features/sweep_statistics.hpp"
#include "gradient/gradient_fit.hpp"
#include "gradient/identifiability.hpp"
#include "io/config.hpp"
#include "io/config_units.hpp"
#include "io/recording.hpp"
#include "model/parameter_space.hpp"
#include "sim/batch_simulator.hpp"

namespace nb = nanobind;

namespace cellfit::python {

namespace {

using array_in = nb::ndarray<const double, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using matrix_in = nb::ndarray<const double, nb::ndim<2>, nb::c_contig, nb::device::cpu>;

// A numpy array that owns `v` (moved into a capsule).
template <class T>
nb::object to_numpy(std::vector<T> v, std::vector<std::size_t> shape) {
  auto* owner = new std::vector<T>(std::move(v));
  nb::capsule del(owner, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::ndarray<nb::numpy, T>(owner->data(), shape.size(), shape.data(), del).cast();
}

template <class T>
nb::object to_numpy(std::vector<T> v) {
  const std::size_t n = v.size();
  return to_numpy(std::move(v), {n});
}

nb::list string_list(const std::vector<std::string>& v) {
  nb::list out;
  for (const auto& s : v) out.append(nb::str(s.c_str()));
  return out;
}

bool kokkos_started = false;

// Calls that run Kokkos kernels take turns: the default execution space instance (Serial,
// OpenMP) is not meant to be entered from several host threads at once. The GIL is released
// first, so other Python threads (and feature computations) go on while one waits.
std::mutex kernel_mutex;
class kernel_turn {
 public:
  kernel_turn() : lock_(kernel_mutex) {}

 private:
  nb::gil_scoped_release unlocked_;  // declared first: released before the lock is taken
  std::lock_guard<std::mutex> lock_;
};

void initialize_kokkos() {
  if (kokkos_started || Kokkos::is_initialized()) return;
  // Kokkos reads its settings (threads, device) from the environment (KOKKOS_NUM_THREADS,
  // OMP_NUM_THREADS, ...); there is no command line to pass.
  int argc = 1;
  char name[] = "cellfit";
  char* argv[] = {name, nullptr};
  Kokkos::initialize(argc, argv);
  kokkos_started = true;
}

void finalize_kokkos() {
  if (kokkos_started) {
    Kokkos::finalize();
    kokkos_started = false;
  }
}

// The world size a launcher (mpirun, srun) announces in the environment; 1 without one.
int launcher_world_size() {
  // Open MPI, MPICH/Hydra (and Intel MPI), MVAPICH.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE"}) {
    if (const char* v = std::getenv(name)) {
      const int n = std::atoi(v);
      if (n > 0) return n;
    }
  }
  return 1;
}

// "mech.param" or "mech.param@scope" = a value or one value per instance -> an override.
parameter_override override_of(const std::string& key, const std::vector<double>& values) {
  parameter_override o;
  std::string name = key;
  const auto at = key.find('@');
  if (at != std::string::npos) {
    name = key.substr(0, at);
    o.scope = key.substr(at + 1);
  }
  const auto dot = name.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == name.size()) {
    throw config_error("cellfit::python: parameter '" + key +
                       "': expected mechanism.parameter or mechanism.parameter@scope");
  }
  o.mechanism = name.substr(0, dot);
  o.param = name.substr(dot + 1);
  o.values = values;
  return o;
}

// An identifiability analysis as a dict of numpy arrays (cellfit.Identifiability's fields).
nb::dict identifiability_dict(const identifiability_result& r, const residual_jacobian& rj,
                              const std::vector<std::string>& names) {
  const std::size_t P = r.n_params;
  nb::dict d;
  d["names"] = string_list(names);
  d["params"] = to_numpy(r.params);
  d["scale"] = to_numpy(r.scale);
  d["n_residuals"] = r.n_residuals;
  d["rss"] = r.rss;
  d["sigma2"] = r.sigma2;
  d["noise_mv"] = r.noise_mv;
  d["gauss_newton"] = to_numpy(r.gauss_newton, {P, P});
  d["fisher"] = to_numpy(r.fisher, {P, P});
  d["fisher_relative"] = to_numpy(r.fisher_relative, {P, P});
  d["eigenvalues"] = to_numpy(r.eigenvalues);
  d["eigenvectors"] = to_numpy(r.eigenvectors, {P, P});
  d["covariance"] = to_numpy(r.covariance, {P, P});
  d["std_error"] = to_numpy(r.std_error);
  d["relative_std_error"] = to_numpy(r.relative_std_error);
  d["correlation"] = to_numpy(r.correlation, {P, P});
  d["condition_number"] = r.condition_number;
  d["numerically_singular"] = r.numerically_singular;
  d["residuals"] = to_numpy(rj.residual);
  d["jacobian"] = to_numpy(rj.jacobian, {rj.n_residuals, P});
  d["jacobian_seconds"] = rj.seconds;
  return d;
}

// The model a config builds, its fit problem (when it has [fit]) and, once asked for, the
// target traces of its loss.
class model {
 public:
  model(const std::string& path, const std::string& text, const std::string& name,
        const std::vector<std::string>& overrides) {
    rc_ = text.empty() ? load_config(path, overrides) : parse_config(text, name, overrides);
    if (!rc_.fit.parameters.empty())
      space_ = std::make_unique<parameter_space>(rc_.model, rc_.fit.parameters);
  }

  nb::dict info() const {
    const auto& s = rc_.settings;
    nb::dict d;
    d["source"] = rc_.source;
    d["morphology"] = rc_.model.morph.source;
    d["point_model"] = rc_.model.geom.point_model;
    d["value_graph"] = rc_.model.morph.value_graph;
    d["n_compartments"] = rc_.model.geom.n_compartments();
    d["dt_ms"] = s.dt_ms;
    d["t_stop_ms"] = s.t_stop_ms;
    d["record_every"] = s.record_every;
    d["sample_interval_ms"] = s.dt_ms * s.record_every;
    d["n_samples"] = s.n_samples();
    d["precision"] = std::string(s.prec == precision::fp32 ? "fp32" : "fp64");
    d["celsius"] = rc_.model.celsius;
    d["v_init_mv"] = rc_.model.v_init_mv;
    d["n_parameter_sets"] = rc_.sets.size();
    d["has_fit"] = rc_.fit.present;
    d["warnings"] = string_list(implausible_values(rc_));
    d["engine"] = rc_.fit.engine;
    d["target"] = rc_.fit.target.type;
    d["output"] = rc_.output;
    d["fit_output"] = rc_.fit.output;
    d["ensemble_members"] = rc_.fit.ensemble.present ? rc_.fit.ensemble.values.size() : 0;
    return d;
  }

  nb::list mechanisms() const {
    nb::list out;
    for (const auto& pl : rc_.model.mechanisms) {
      const mechanism_info& info = *find_mechanism(pl.name);
      nb::dict d, params, units, globals;
      d["name"] = pl.name;
      d["compartments"] =
          to_numpy(std::vector<std::int64_t>(pl.compartments.begin(), pl.compartments.end()));
      for (std::size_t k = 0; k < info.param_names.size(); ++k) {
        units[info.param_names[k].c_str()] = info.param_units[k];
        if (info.is_global(static_cast<int>(k))) {
          // One value for the model (every instance holds it).
          globals[info.param_names[k].c_str()] =
              pl.params[k].empty() ? info.defaults[k] : pl.params[k].front();
        } else {
          params[info.param_names[k].c_str()] = to_numpy(pl.params[k]);
        }
      }
      d["parameters"] = params;
      d["units"] = units;
      d["globals"] = globals;
      out.append(d);
    }
    return out;
  }

  nb::dict parameters() const {
    nb::dict d;
    std::vector<std::string> names, groups, transforms, units, scopes;
    std::vector<double> lo, hi, initial, model_values;
    std::vector<std::int64_t> group_of;
    if (space_) {
      const parameter_space& sp = *space_;
      names = sp.names();
      initial = sp.initial_values();
      model_values = sp.model_values();
      for (std::size_t i = 0; i < sp.size(); ++i) {
        lo.push_back(sp.lower(i));
        hi.push_back(sp.upper(i));
        group_of.push_back(static_cast<std::int64_t>(sp.group_of(i)));
        const fit_parameter& fp = sp.parameters()[sp.group_of(i)];
        transforms.push_back(transform_name(fp.transform));
        scopes.push_back(fp.scope);
        const mechanism_info* info = find_mechanism(fp.mechanism);
        const int k = info ? info->param_index(fp.param) : -1;
        units.push_back(k >= 0 ? info->param_units[static_cast<std::size_t>(k)] : "");
      }
      for (const auto& fp : sp.parameters())
        groups.push_back(fp.mechanism + "." + fp.param + (fp.scope == "all" ? "" : "@" + fp.scope));
    }
    d["names"] = string_list(names);
    d["lower"] = to_numpy(lo);
    d["upper"] = to_numpy(hi);
    d["initial"] = to_numpy(initial);
    d["model_values"] = to_numpy(model_values);
    d["units"] = string_list(units);
    d["transforms"] = string_list(transforms);
    d["scopes"] = string_list(scopes);
    d["groups"] = string_list(groups);
    d["group_of"] = to_numpy(group_of);
    return d;
  }

  nb::dict compartments() const {
    const morphology& m = rc_.model.morph;
    const cable_geometry& g = rc_.model.geom;
    std::vector<std::string> names, sections, lists;
    std::vector<double> x, distance, area;
    for (int c = 0; c < g.n_compartments(); ++c) {
      const auto cu = static_cast<std::size_t>(c);
      const auto node = static_cast<std::size_t>(g.node_of[cu]);
      names.push_back(compartment_name(m, g, c));
      sections.push_back(m.sections[static_cast<std::size_t>(g.section_of[node])].name);
      lists.push_back(region_name(g.region_of[cu]));
      x.push_back(g.x[node]);
      distance.push_back(m.point_model || m.value_graph ? std::nan("") : g.distance_um[cu]);
      area.push_back(m.point_model ? std::nan("") : g.area_um2[node]);
    }
    nb::dict d;
    d["names"] = string_list(names);
    d["sections"] = string_list(sections);
    d["section_lists"] = string_list(lists);
    d["x"] = to_numpy(x);
    d["distance_um"] = to_numpy(distance);
    d["area_um2"] = to_numpy(area);
    return d;
  }

  nb::dict sites() const {
    const auto& s = rc_.settings;
    nb::dict d;
    d["names"] = string_list(s.site_names());
    d["compartments"] = to_numpy(
        std::vector<std::int64_t>(s.record_compartments.begin(), s.record_compartments.end()));
    return d;
  }

  nb::list stimuli() const {
    nb::list out;
    for (const auto& x : rc_.stimuli) {
      const double t_stop = stimulus_duration_ms(x, rc_.settings.t_stop_ms);
      const stimulus_window w = active_window(x, t_stop);
      nb::dict d;
      d["name"] = x.name;
      d["start_ms"] = w.start_ms;
      d["end_ms"] = w.end_ms;
      d["amplitude_na"] = w.amplitude;
      d["t_stop_ms"] = t_stop;
      d["n_components"] = x.components.size();
      out.append(d);
    }
    return out;
  }

  // values: [n_sets][P] physical fit parameter values (empty with n_sets 0), or overrides:
  // one {name: values} per set; neither: the config's own sets.
  nb::dict simulate(matrix_in values, bool use_values, nb::list overrides, bool use_overrides,
                    bool progress) {
    std::vector<parameter_set> sets;
    if (use_values) {
      const parameter_space& sp = require_space("simulate(params=array)");
      if (values.shape(1) != sp.size()) {
        throw config_error("cellfit::python: simulate: params has " +
                           std::to_string(values.shape(1)) + " columns, the fit has " +
                           std::to_string(sp.size()) + " parameters (" + join(sp.names()) + ")");
      }
      for (std::size_t i = 0; i < values.shape(0); ++i) {
        std::vector<double> row(values.data() + i * sp.size(), values.data() + (i + 1) * sp.size());
        for (std::size_t k = 0; k < row.size(); ++k) {
          if (row[k] < sp.lower(k) || row[k] > sp.upper(k)) {
            throw config_error("cellfit::python: simulate: params[" + std::to_string(i) + "][" +
                               std::to_string(k) + "] (" + sp.names()[k] + " = " +
                               std::to_string(row[k]) + ") lies outside its bounds [" +
                               std::to_string(sp.lower(k)) + ", " + std::to_string(sp.upper(k)) +
                               "]");
          }
        }
        sets.push_back(sp.to_set(row));
      }
    } else if (use_overrides) {
      for (std::size_t i = 0; i < overrides.size(); ++i) {
        parameter_set set;
        for (auto [key, value] : nb::cast<nb::dict>(overrides[i])) {
          const std::string k = nb::cast<std::string>(key);
          const std::vector<double> v = nb::cast<std::vector<double>>(value);
          parameter_override o = override_of(k, v);
          if (o.values.size() > 1 && o.scope == "all") o.scope = "per_compartment";
          check_override(rc_.model, o, "simulate(params[" + std::to_string(i) + "]['" + k + "'])");
          set.push_back(std::move(o));
        }
        sets.push_back(std::move(set));
      }
    } else {
      sets = rc_.sets;
    }
    if (sets.empty()) throw config_error("cellfit::python: simulate: no parameter sets given");
    simulation_result r;
    {
      const kernel_turn turn;
      progress_callback report;
      if (progress) {
        report = [last = -1e9](std::size_t done, std::size_t all, double sec) mutable {
          if (done < all && sec - last < 2.0) return;
          last = sec;
          std::fprintf(stderr, "  simulated %zu/%zu cells  %.1f s\n", done, all, sec);
        };
      }
      check_batch(rc_.model, sets, rc_.stimuli, rc_.settings);
      r = simulate_batch(rc_.model, sets, rc_.stimuli, rc_.settings, report);
    }
    const auto& s = rc_.settings;
    nb::dict d;
    d["voltage"] = to_numpy(std::move(r.voltage), {r.n_cells, r.n_sites, r.n_samples});
    std::vector<double> t(r.n_samples);
    for (std::size_t k = 0; k < t.size(); ++k)
      t[k] = static_cast<double>(k) * s.record_every * s.dt_ms;
    d["time_ms"] = to_numpy(std::move(t));
    d["failed_step"] =
        to_numpy(std::vector<std::int64_t>(r.failed_step.begin(), r.failed_step.end()));
    d["n_sets"] = sets.size();
    d["kernel_seconds"] = r.kernel_seconds;
    return d;
  }

  nb::object target() {
    {
      const kernel_turn turn;
      ensure_target();
    }
    const auto& s = rc_.settings;
    return to_numpy(problem_.target, {rc_.stimuli.size(), s.record_compartments.size(),
                                      static_cast<std::size_t>(s.n_samples())});
  }

  nb::object ground_truth() {
    {
      const kernel_turn turn;
      ensure_target();
    }
    if (problem_.ground_truth.empty()) return nb::none();
    return to_numpy(problem_.ground_truth);
  }

  nb::tuple loss_and_gradient(array_in physical, bool with_gradient) {
    const std::vector<double> p(physical.data(), physical.data() + physical.shape(0));
    loss_evaluation e;
    {
      const kernel_turn turn;
      ensure_target();
      e = evaluate_loss(problem_, rc_.fit.gradient, p, with_gradient);
    }
    nb::object grad = with_gradient ? to_numpy(std::move(e.gradient)) : nb::none();
    return nb::make_tuple(e.loss, grad, e.diverged);
  }

  nb::dict identifiability(array_in physical, double noise_mv) {
    const std::vector<double> p(physical.data(), physical.data() + physical.shape(0));
    residual_jacobian rj;
    identifiability_result r;
    {
      const kernel_turn turn;
      ensure_target();
      const parameter_space& sp = *space_;
      if (p.size() != sp.size()) {
        throw config_error("cellfit::python: identifiability: params has " +
                           std::to_string(p.size()) + " values, the fit " +
                           std::to_string(sp.size()) + " parameters");
      }
      rj = trace_residual_jacobian(rc_.model, sp, p, rc_.stimuli, rc_.settings, problem_.target,
                                   rc_.fit.gradient.loss.kind);
      identifiability_settings st;
      st.noise_mv = noise_mv;
      r = analyse_identifiability(rj, p, st);
    }
    return identifiability_dict(r, rj, space_->names());
  }

 private:
  static std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  }

  const parameter_space& require_space(const char* what) const {
    if (!space_) {
      throw config_error("cellfit::python: " + std::string(what) + ": " + rc_.source +
                         " has no [[fit.parameter]] (the parameters a vector's entries are)");
    }
    return *space_;
  }

  // The gradient engine's problem, as `cellfit fit --engine gradient` builds it. The caller
  // holds a kernel_turn (the GIL is released).
  void ensure_target() {
    if (target_ready_) return;
    app::fit_options o;
    o.engine = "gradient";
    app::check_fit_config(rc_, o);
    if (rc_.fit.target.type == "features") {
      throw config_error("cellfit::python: " + rc_.source +
                         ": the trace loss needs a trace target (fit.target.type synthetic or "
                         "file), not features");
    }
    const parameter_space& sp = require_space("loss_and_gradient");
    problem_.model = &rc_.model;
    problem_.space = &sp;
    problem_.stimuli = rc_.stimuli;
    problem_.settings = rc_.settings;
    app::make_target(rc_, sp, problem_.target, problem_.ground_truth, true);
    target_ready_ = true;
  }

  run_config rc_;
  std::unique_ptr<parameter_space> space_;
  fit_problem problem_;
  bool target_ready_ = false;
};

nb::list catalogue() {
  nb::list out;
  for (const auto& m : mechanism_catalogue()) {
    nb::dict d, params, globals;
    d["name"] = m.name;
    d["source"] = m.source;
    for (std::size_t k = 0; k < m.param_names.size(); ++k) {
      auto& dst = m.is_global(static_cast<int>(k)) ? globals : params;
      dst[m.param_names[k].c_str()] = nb::make_tuple(m.defaults[k], m.param_units[k]);
    }
    d["parameters"] = params;
    d["globals"] = globals;
    d["states"] = string_list(m.state_names);
    nb::list ions;
    for (const auto& io : m.ions) ions.append(nb::str(io.species.c_str()));
    d["ions"] = ions;
    out.append(d);
  }
  return out;
}

// One keyword of cellfit.features(**settings) into the library's settings (same names).
void set_setting(features::settings& s, const std::string& key, nb::handle value) {
  using S = features::settings;
  static const std::pair<const char*, double S::*> reals[] = {
      {"threshold_mv", &S::threshold_mv},
      {"derivative_threshold", &S::derivative_threshold},
      {"down_derivative_threshold", &S::down_derivative_threshold},
      {"interp_step_ms", &S::interp_step_ms},
      {"spike_skipf", &S::spike_skipf},
      {"voltage_base_start_perc", &S::voltage_base_start_perc},
      {"voltage_base_end_perc", &S::voltage_base_end_perc},
      {"precision_threshold", &S::precision_threshold},
      {"sahp_start_ms", &S::sahp_start_ms},
      {"decay_start_after_stim_ms", &S::decay_start_after_stim_ms},
      {"decay_end_after_stim_ms", &S::decay_end_after_stim_ms}};
  static const std::pair<const char*, int S::*> integers[] = {
      {"derivative_window", &S::derivative_window}, {"max_spike_skip", &S::max_spike_skip}};
  static const std::pair<const char*, bool S::*> flags[] = {
      {"ignore_first_isi", &S::ignore_first_isi}, {"strict_stiminterval", &S::strict_stiminterval}};
  for (const auto& [name, field] : reals) {
    if (key == name) {
      s.*field = nb::cast<double>(value);
      return;
    }
  }
  for (const auto& [name, field] : integers) {
    if (key == name) {
      s.*field = nb::cast<int>(value);
      return;
    }
  }
  for (const auto& [name, field] : flags) {
    if (key == name) {
      s.*field = nb::cast<bool>(value);
      return;
    }
  }
  if (key == "voltage_base_mode") {
    const std::string m = nb::cast<std::string>(value);
    if (m != "mean" && m != "median") {
      throw config_error("cellfit::python: features: voltage_base_mode '" + m +
                         "': expected mean or median");
    }
    s.base_mode =
        m == "mean" ? features::voltage_base_mode::mean : features::voltage_base_mode::median;
    return;
  }
  throw config_error("cellfit::python: features: unknown setting '" + key + "'");
}

// voltage [trace][sample] against time_ms [sample]; per trace its window and current.
// Returns [trace][feature] of (values or None, reason).
nb::list compute_features(array_in time_ms, matrix_in voltage, array_in start_ms, array_in end_ms,
                          array_in current_na, const std::vector<std::string>& names,
                          nb::dict settings, unsigned threads) {
  features::check_names(names);
  features::settings s;
  for (auto [key, value] : settings) set_setting(s, nb::cast<std::string>(key), value);
  features::check_settings(s);
  const std::size_t n_traces = voltage.shape(0), n = voltage.shape(1);
  if (time_ms.shape(0) != n) {
    throw config_error("cellfit::python: features: time_ms has " +
                       std::to_string(time_ms.shape(0)) + " samples, voltage " + std::to_string(n));
  }
  std::vector<features::trace> traces(n_traces);
  for (std::size_t i = 0; i < n_traces; ++i) {
    traces[i].t_ms = time_ms.data();
    traces[i].v_mv = voltage.data() + i * n;
    traces[i].n = n;
    traces[i].stim_start_ms = start_ms.data()[i];
    traces[i].stim_end_ms = end_ms.data()[i];
    traces[i].stimulus_current_na = current_na.data()[i];
  }
  std::vector<std::vector<features::value>> values;
  {
    nb::gil_scoped_release unlocked;
    values = features::compute_batch(traces, names, s, threads);
  }
  nb::list out;
  for (auto& row : values) {
    nb::list r;
    for (auto& v : row) {
      nb::object arr = v.ok ? to_numpy(std::move(v.values)) : nb::none();
      r.append(nb::make_tuple(arr, v.reason));
    }
    out.append(r);
  }
  return out;
}

// The sweeps of a recording file: a list of dicts with numpy arrays (io/recording.hpp).
nb::list read_recording_file(const std::string& path) {
  recording r;
  {
    nb::gil_scoped_release unlocked;
    r = read_recording(path);
  }
  nb::list out;
  for (auto& w : r.sweeps) {
    const detected_step step = detect_step(w);
    const double nan = std::nan("");
    nb::dict d;
    d["name"] = w.name;
    d["protocol"] = w.protocol;
    d["sweep_number"] = w.sweep;
    d["format"] = r.format;
    d["stim_start_ms"] = step.found ? step.start_ms : nan;
    d["stim_end_ms"] = step.found ? step.end_ms : nan;
    d["stimulus_current_na"] = step.found ? step.amplitude_na : nan;
    d["holding_current_na"] = step.found ? step.holding_na : nan;
    d["time_ms"] = to_numpy(std::move(w.t_ms));
    d["voltage_mv"] = to_numpy(std::move(w.v_mv));
    d["current_na"] = w.i_na.empty() ? nb::none() : to_numpy(std::move(w.i_na));
    out.append(d);
  }
  return out;
}

// The step of a recorded current (detect_step): (start_ms, end_ms, amplitude_na, holding_na),
// NaN without one.
nb::tuple step_of_current(array_in time_ms, array_in current_na) {
  if (time_ms.shape(0) != current_na.shape(0)) {
    throw config_error("cellfit::python: time_ms has " + std::to_string(time_ms.shape(0)) +
                       " samples, current_na " + std::to_string(current_na.shape(0)));
  }
  recorded_sweep w;
  w.t_ms.assign(time_ms.data(), time_ms.data() + time_ms.shape(0));
  w.i_na.assign(current_na.data(), current_na.data() + current_na.shape(0));
  const detected_step d = detect_step(w);
  const double nan = std::nan("");
  return d.found ? nb::make_tuple(d.start_ms, d.end_ms, d.amplitude_na, d.holding_na)
                 : nb::make_tuple(nan, nan, nan, nan);
}

// rows [sweep][feature] of (values or None); returns per feature (ok, mean, std, n, reason).
nb::list sweep_statistics(nb::list rows, const std::vector<std::string>& names, double default_std,
                          int min_values, double std_fraction) {
  std::vector<std::vector<features::value>> values;
  for (nb::handle row : rows) {
    std::vector<features::value> r;
    for (nb::handle x : row) {
      features::value v;
      if (!x.is_none()) {
        v.ok = true;
        v.values = nb::cast<std::vector<double>>(x);
        if (v.values.empty()) {
          v.ok = false;
          v.reason = "no values";
        }
      } else {
        v.reason = "not computable";
      }
      r.push_back(std::move(v));
    }
    if (r.size() != names.size()) {
      throw config_error("cellfit::python: average_features: a sweep has " +
                         std::to_string(r.size()) + " features, expected " +
                         std::to_string(names.size()));
    }
    values.push_back(std::move(r));
  }
  features::statistics_settings st;
  st.default_std = default_std;
  st.min_values = min_values;
  st.std_fraction = std_fraction;
  nb::list out;
  for (const auto& x : features::statistics_over_sweeps(values, names, st)) {
    out.append(nb::make_tuple(x.ok, x.mean, x.std, x.n, x.reason));
  }
  return out;
}

// Runs a CLI command's code with cellfit's signal handlers in place (a signal stops a fit
// gracefully, as in the CLI) and Python's back afterwards.
template <class F>
int run_command(F&& f) {
  int code = 0;
  {
    const kernel_turn turn;
    const signals::handler_scope handlers;
    code = f();
  }
  std::fflush(stdout);
  std::fflush(stderr);
  return code;
}

int run_fit(const std::string& config, const std::string& engine,
            const std::vector<std::string>& overrides, const std::string& out, bool quiet,
            const std::string& resume, const std::string& checkpoint, int checkpoint_every,
            bool fresh) {
  app::fit_options o;
  o.config = config;
  o.engine = engine;
  o.overrides = overrides;
  o.out = out;
  o.quiet = quiet;
  o.resume = resume;
  o.checkpoint = checkpoint;
  o.checkpoint_every = checkpoint_every;
  o.fresh = fresh;
  return run_command([&] { return app::run_fit(o); });
}

// The analysis of a `cellfit fit` result (as `cellfit identifiability` makes it, without
// files): the dict of identifiability_dict plus where the config came from and the point.
nb::dict analyse_fit(const std::string& fit, const std::string& config,
                     const std::vector<std::string>& overrides, const std::string& at,
                     double noise_mv) {
  app::identifiability_options o;
  o.fit = fit;
  o.config = config;
  o.overrides = overrides;
  o.at = at;
  o.noise_mv = noise_mv;
  app::fit_identifiability a;
  {
    const kernel_turn turn;
    a = app::analyse_fit_file(o);
  }
  nb::dict d = identifiability_dict(a.result, a.residuals, a.names);
  d["config"] = a.config_source;
  d["at"] = a.at;
  d["loss"] = a.loss;
  d["ground_truth"] = a.ground_truth.empty() ? nb::none() : to_numpy(a.ground_truth);
  return d;
}

int run_compare(const std::string& config, const std::vector<std::string>& overrides,
                const std::string& out_dir, double budget_simulations, double budget_seconds,
                const std::vector<std::string>& engines, bool plots, bool quiet) {
  app::compare_options o;
  o.config = config;
  o.overrides = overrides;
  o.out_dir = out_dir;
  o.budget_simulations = budget_simulations;
  o.budget_seconds = budget_seconds;
  o.engines = engines;
  o.plots = plots;
  o.quiet = quiet;
  return run_command([&] { return app::run_compare(o); });
}

}  // namespace

}  // namespace cellfit::python

NB_MODULE(_core, m) {
  using namespace cellfit::python;
  m.doc() = "cellfit's C++ library (the package cellfit wraps it; see docs/python.md)";

  // The exception classes: cellfit.Error and one subclass per error class of the library.
  static nb::exception<cellfit::error> error(m, "Error", PyExc_RuntimeError);
  static nb::exception<cellfit::usage_error> usage(m, "UsageError", error.ptr());
  static nb::exception<cellfit::config_error> config(m, "ConfigError", error.ptr());
  static nb::exception<cellfit::morphology_error> morph(m, "MorphologyError", error.ptr());
  static nb::exception<cellfit::io_error> io(m, "FileError", error.ptr());
  static nb::exception<cellfit::internal_error> internal(m, "InternalError", PyExc_RuntimeError);

  m.def("_initialize", &initialize_kokkos, "Start Kokkos (once).");
  m.def("_finalize", &finalize_kokkos, "Finalise Kokkos (at exit).");
  m.def("launcher_world_size", &launcher_world_size,
        "The number of ranks a launcher (mpirun, srun) announces; 1 without one.");
  m.def("catalogue", &catalogue, "The mechanism catalogue.");
  m.def(
      "feature_names", [] { return cellfit::features::available(); },
      "The features the library computes.");
  m.def("compute_features", &compute_features, nb::arg("time_ms"), nb::arg("voltage"),
        nb::arg("stim_start_ms"), nb::arg("stim_end_ms"), nb::arg("current_na"), nb::arg("names"),
        nb::arg("settings"), nb::arg("threads"));
  m.def("read_recording", &read_recording_file, nb::arg("path"));
  m.def("step_of_current", &step_of_current, nb::arg("time_ms"), nb::arg("current_na"));
  m.def("sweep_statistics", &sweep_statistics, nb::arg("rows"), nb::arg("names"),
        nb::arg("default_std"), nb::arg("min_values"), nb::arg("std_fraction"));
  m.def("run_fit", &run_fit, nb::arg("config"), nb::arg("engine"), nb::arg("overrides"),
        nb::arg("out"), nb::arg("quiet"), nb::arg("resume"), nb::arg("checkpoint"),
        nb::arg("checkpoint_every"), nb::arg("fresh"));
  m.def("ensemble_member_output", &cellfit::app::ensemble_member_output, nb::arg("out"),
        nb::arg("member"), "The output file of one member of an ensemble fit.");
  m.def("analyse_fit", &analyse_fit, nb::arg("fit"), nb::arg("config"), nb::arg("overrides"),
        nb::arg("at"), nb::arg("noise_mv"));
  m.def("run_compare", &run_compare, nb::arg("config"), nb::arg("overrides"), nb::arg("out_dir"),
        nb::arg("budget_simulations"), nb::arg("budget_seconds"), nb::arg("engines"),
        nb::arg("plots"), nb::arg("quiet"));

  nb::class_<model>(m, "Model")
      .def(nb::init<const std::string&, const std::string&, const std::string&,
                    const std::vector<std::string>&>(),
           nb::arg("path"), nb::arg("text"), nb::arg("name"), nb::arg("overrides"))
      .def("info", &model::info)
      .def("mechanisms", &model::mechanisms)
      .def("parameters", &model::parameters)
      .def("compartments", &model::compartments)
      .def("sites", &model::sites)
      .def("stimuli", &model::stimuli)
      .def("simulate", &model::simulate, nb::arg("values"), nb::arg("use_values"),
           nb::arg("overrides"), nb::arg("use_overrides"), nb::arg("progress"))
      .def("target", &model::target)
      .def("ground_truth", &model::ground_truth)
      .def("loss_and_gradient", &model::loss_and_gradient, nb::arg("params"),
           nb::arg("with_gradient"))
      .def("identifiability", &model::identifiability, nb::arg("params"), nb::arg("noise_mv"));
}
