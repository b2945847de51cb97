// cellfit identifiability: what a fit's data can tell about its parameters. The Fisher
// information of the trace loss from the exact Jacobian of the residuals (tangent-linear
// simulation, sim/sensitivity.hpp), analysed by gradient/identifiability.hpp; a table on
// stdout, /identifiability/... in HDF5 (docs/hdf5.md) and a PNG drawn by
// scripts/plot_identifiability.py.

#include "app/identifiability.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>

#include "app/fit_common.hpp"
#include "app/python_script.hpp"
#include "common/error.hpp"
#include "io/h5.hpp"

namespace cellfit::app {

namespace {

std::vector<double> read_vector(const h5::file& f, const std::string& name, std::size_t n,
                                const std::string& where) {
  std::vector<std::size_t> dims;
  std::vector<double> v = f.read_doubles(name, dims);
  if (v.size() != n) {
    throw io_error(where + name + " has " + std::to_string(v.size()) + " values, the fit " +
                   std::to_string(n) + " parameters");
  }
  return v;
}

std::string default_output(const std::string& fit) {
  const std::filesystem::path p(fit);
  return (p.parent_path() / (p.stem().string() + "_identifiability.h5")).string();
}

std::string png_of(const std::string& out) {
  std::filesystem::path p(out);
  p.replace_extension(".png");
  return p.string();
}

void write_result(const std::string& path, const identifiability_options& o,
                  const fit_identifiability& a) {
  const identifiability_result& r = a.result;
  const std::size_t P = r.n_params;
  h5::atomic_output out(path);
  {
    h5::file f = h5::file::create(out.temp_path());
    f.write("/identifiability/param_names", a.names);
    f.write("/identifiability/params", r.params, {P});
    f.write("/identifiability/scale", r.scale, {P});
    if (!a.ground_truth.empty()) {
      f.write("/identifiability/ground_truth", a.ground_truth, {P});
    }
    f.write("/identifiability/gauss_newton", r.gauss_newton, {P, P});
    f.write("/identifiability/fisher", r.fisher, {P, P});
    f.write("/identifiability/fisher_relative", r.fisher_relative, {P, P});
    f.write("/identifiability/eigenvalues", r.eigenvalues, {P});
    f.write("/identifiability/eigenvectors", r.eigenvectors, {P, P});
    f.write("/identifiability/covariance", r.covariance, {P, P});
    f.write("/identifiability/std_error", r.std_error, {P});
    f.write("/identifiability/relative_std_error", r.relative_std_error, {P});
    f.write("/identifiability/correlation", r.correlation, {P, P});
    f.attribute("/", "cellfit_version", std::string("0.1.0"));
    f.attribute("/", "command", std::string("identifiability"));
    f.attribute("/", "fit", o.fit);
    f.attribute("/", "config", a.config_source);
    f.attribute("/", "at", a.at);
    f.attribute("/", "loss", a.loss);
    f.attribute("/", "noise_mv", r.noise_mv);
    f.attribute("/", "sigma2", r.sigma2);
    f.attribute("/", "rss", r.rss);
    f.attribute("/", "n_residuals", static_cast<std::int64_t>(r.n_residuals));
    f.attribute("/", "n_params", static_cast<std::int64_t>(P));
    f.attribute("/", "condition_number", r.condition_number);
    f.attribute("/", "numerically_singular", static_cast<std::int64_t>(r.numerically_singular));
    f.attribute("/", "tangent_passes", static_cast<std::int64_t>(a.residuals.passes));
    f.attribute("/", "jacobian_seconds", a.residuals.seconds);
    f.close();
  }
  out.commit();
}

// "0.93 jk.gkbar[5] - 0.31 jk.gkbar[4] ..." : the entries of eigenvector row k above 0.1 in
// magnitude (at most 4), largest first.
std::string direction_text(const identifiability_result& r, const std::vector<std::string>& names,
                           std::size_t k) {
  const std::size_t P = r.n_params;
  std::vector<std::size_t> idx(P);
  std::iota(idx.begin(), idx.end(), 0);
  const double* v = &r.eigenvectors[k * P];
  std::sort(idx.begin(), idx.end(),
            [v](std::size_t a, std::size_t b) { return std::abs(v[a]) > std::abs(v[b]); });
  std::string s;
  char buf[64];
  for (std::size_t m = 0; m < std::min<std::size_t>(4, P); ++m) {
    const std::size_t j = idx[m];
    if (m > 0 && std::abs(v[j]) < 0.1) break;
    std::snprintf(buf, sizeof buf, "%s%.2f ", m == 0 ? "" : (v[j] < 0 ? "- " : "+ "),
                  m == 0 ? v[j] : std::abs(v[j]));
    s += buf + names[j] + " ";
  }
  return s;
}

void print_table(const identifiability_options& o, const fit_identifiability& a,
                 const std::string& out) {
  const identifiability_result& r = a.result;
  const std::size_t P = r.n_params;
  std::printf("cellfit identifiability: %s at %s: %zu residuals, %zu parameters, %s loss %.6g\n",
              o.fit.c_str(), a.at.c_str(), r.n_residuals, P, a.loss.c_str(), r.rss);
  if (r.noise_mv > 0) {
    std::printf("noise: %.4g mV per target sample (given)\n", r.noise_mv);
  } else {
    std::printf(
        "noise: estimated from the fit: residual s.d. %.4g mV per sample (weighted "
        "RSS/(N-P) = %.4g)\n",
        r.residual_sd_mv, r.sigma2);
  }
  std::printf("exact Jacobian: %d tangent-linear passes, %.3f s\n", a.residuals.passes,
              a.residuals.seconds);
  const bool truth = a.ground_truth.size() == P;
  std::printf("%-28s %12s %12s %10s%s\n", "parameter", "value", "std error", "rel. s.e.",
              truth ? "  ground truth" : "");
  for (std::size_t i = 0; i < P; ++i) {
    std::printf("%-28s %12.6g %12.4g %10.4g", a.names[i].c_str(), r.params[i], r.std_error[i],
                r.relative_std_error[i]);
    if (truth) std::printf(" %13.6g", a.ground_truth[i]);
    std::printf("\n");
  }
  std::printf(
      "eigenvalues of the information in relative coordinates (smallest first; a\n"
      "direction with eigenvalue l is known to a relative s.d. of 1/sqrt(l)):\n");
  std::printf("%4s %12s %12s  %s\n", "k", "eigenvalue", "rel. s.d.", "direction (largest entries)");
  for (std::size_t k = 0; k < P; ++k) {
    const double l = r.eigenvalues[k];
    std::printf("%4zu %12.4g %12.4g  %s\n", k, l, l > 0 ? 1.0 / std::sqrt(l) : INFINITY,
                direction_text(r, a.names, k).c_str());
  }
  std::printf("condition number %.4g", r.condition_number);
  if (r.numerically_singular > 0) {
    std::printf(" (%d eigenvalue%s at rounding level: not identifiable at all)",
                r.numerically_singular, r.numerically_singular == 1 ? "" : "s");
  }
  // The pair of distinct parameters with the strongest correlation.
  double best = 0;
  std::size_t bi = 0, bj = 0;
  for (std::size_t i = 0; i < P; ++i) {
    for (std::size_t j = i + 1; j < P; ++j) {
      if (std::abs(r.correlation[i * P + j]) > std::abs(best)) {
        best = r.correlation[i * P + j];
        bi = i;
        bj = j;
      }
    }
  }
  std::printf("\n");
  if (P > 1) {
    std::printf("strongest correlation %.3f: %s and %s\n", best, a.names[bi].c_str(),
                a.names[bj].c_str());
  }
  std::printf("-> %s\n", out.c_str());
}

}  // namespace

fit_identifiability analyse_fit_file(const identifiability_options& o) {
  const std::string where = "cellfit::identifiability: " + o.fit + ": ";
  std::error_code ec;
  if (!std::filesystem::exists(o.fit, ec)) throw io_error(where + "no such file");
  const h5::file f = h5::file::open_read(o.fit);  // io_error: not HDF5
  if (!f.exists("/fit/best/params") || !f.exists("/fit/param_names")) {
    throw io_error(where + "not a cellfit fit result (no /fit/best/params)");
  }
  fit_identifiability a;
  a.at = o.at;
  run_config rc;
  if (!o.config.empty()) {
    rc = load_config(o.config, o.overrides);
    a.config_source = o.config;
  } else if (f.exists("/fit/config/text")) {
    const auto text = f.read_strings("/fit/config/text");
    const auto path = f.read_strings("/fit/config/path");
    std::vector<std::string> overrides;
    if (f.exists("/fit/config/overrides")) overrides = f.read_strings("/fit/config/overrides");
    overrides.insert(overrides.end(), o.overrides.begin(), o.overrides.end());
    if (text.size() != 1 || path.size() != 1) {
      throw io_error(where + "/fit/config/text and /fit/config/path must hold one string each");
    }
    rc = parse_config(text[0], path[0], overrides);
    a.config_source = path[0];
  } else {
    throw config_error(where +
                       "records no config (a fit written before cellfit recorded it): give the "
                       "fit's config with --config CONFIG");
  }
  if (!rc.fit.present || rc.fit.parameters.empty()) {
    throw config_error(where + "its config " + a.config_source + " has no [fit] parameters");
  }
  if (rc.fit.target.type == "features" || !f.exists("/fit/target/voltage")) {
    throw config_error(where +
                       "fitted to features, not traces: the identifiability analysis needs a "
                       "trace target (fit.target.type synthetic or file)");
  }
  const parameter_space space(rc.model, rc.fit.parameters);
  const std::size_t P = space.size();
  a.names = f.read_strings("/fit/param_names");
  if (a.names != space.names()) {
    throw config_error(where + "its parameters (" + std::to_string(a.names.size()) +
                       ") are not those of the config " + a.config_source + " (" +
                       std::to_string(P) + "): give the fit's own config");
  }
  std::vector<std::size_t> dims;
  const std::vector<double> target = f.read_doubles("/fit/target/voltage", dims);
  const auto& s = rc.settings;
  const std::vector<std::size_t> want = {rc.stimuli.size(), s.record_compartments.size(),
                                         static_cast<std::size_t>(s.n_samples())};
  if (dims != want) {
    throw config_error(where + "/fit/target/voltage is not [" + std::to_string(want[0]) +
                       " stimuli x " + std::to_string(want[1]) + " sites x " +
                       std::to_string(want[2]) + " samples] as the config " + a.config_source +
                       " records them (BluePyOpt protocols, or another config?)");
  }
  if (f.exists("/fit/ground_truth/params")) {
    a.ground_truth = read_vector(f, "/fit/ground_truth/params", P, where);
  }
  std::vector<double> point;
  if (o.at == "best") {
    point = read_vector(f, "/fit/best/params", P, where);
  } else if (o.at == "initial") {
    if (!f.exists("/fit/initial/params")) {
      // Only the gradient engine starts from one point; a GA starts from a population.
      throw config_error(where +
                         "has no single starting point (/fit/initial/params: a gradient fit's): "
                         "--at best or --at truth");
    }
    point = read_vector(f, "/fit/initial/params", P, where);
  } else if (o.at == "truth") {
    if (a.ground_truth.empty()) {
      throw config_error(where + "has no ground truth (the target was not synthetic): --at best");
    }
    point = a.ground_truth;
  } else {
    throw usage_error("cellfit::identifiability: --at " + o.at +
                      ": expected best, truth or initial");
  }
  const loss_kind loss = rc.fit.gradient.loss.kind;
  // The analysis is that of the trace residuals (a Gauss-Newton Fisher matrix); a spike-train
  // loss has no residual per sample.
  if (is_spike_loss(loss)) {
    throw config_error(where + "fit.gradient.loss = \"" + loss_kind_name(loss) +
                       "\": identifiability analyses the trace losses (\"mse\", "
                       "\"normalized\") only");
  }
  a.loss = loss_kind_name(loss);
  a.residuals = trace_residual_jacobian(rc.model, space, point, rc.stimuli, s, target, loss);
  identifiability_settings settings;
  settings.noise_mv = o.noise_mv;
  a.result = analyse_identifiability(a.residuals, point, settings);
  return a;
}

int run_identifiability(const identifiability_options& o) {
  const std::string out = o.out.empty() ? default_output(o.fit) : o.out;
  check_writable(out, "identifiability");
  if (!o.quiet) {
    std::fprintf(stderr, "cellfit identifiability: %s: the exact Jacobian of the residuals...\n",
                 o.fit.c_str());
  }
  const fit_identifiability a = analyse_fit_file(o);
  write_result(out, o, a);
  print_table(o, a, out);
  std::fflush(stdout);
  if (!o.plot) return exit_ok;
  const std::string script = find_script("plot_identifiability.py", "CELLFIT_PLOT_IDENTIFIABILITY");
  if (script.empty()) {
    throw error(
        "cellfit::identifiability: scripts/plot_identifiability.py not found (set "
        "CELLFIT_PLOT_IDENTIFIABILITY to its path, or --no-plot)");
  }
  const std::string png = png_of(out);
  std::vector<std::string> args = {out, "--png", png};
  if (o.dpi > 0) {
    args.push_back("--dpi");
    args.push_back(std::to_string(o.dpi));
  }
  const int rc = run_python_script(script, args);
  if (rc == 3) {
    throw error(
        "cellfit::identifiability: matplotlib or h5py is missing (pip install matplotlib "
        "h5py), or --no-plot; the result is in " +
        out);
  }
  if (rc != 0) {
    throw error("cellfit::identifiability: " + script + " failed (exit status " +
                std::to_string(rc) + "); the result is in " + out);
  }
  std::printf("-> %s\n", png.c_str());
  return exit_ok;
}

}  // namespace cellfit::app
