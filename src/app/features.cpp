// cellfit features: eFEL features of the traces a `cellfit simulate` run wrote, one row per
// cell, printed as a table and optionally written to HDF5.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "app/commands.hpp"
#include "app/recording_input.hpp"
#include "common/error.hpp"
#include "common/quote.hpp"
#include "features/feature_library.hpp"
#include "features/sweep_statistics.hpp"
#include "io/bluepyopt_export.hpp"
#include "io/h5.hpp"
#include "io/recording.hpp"

namespace cellfit::app {

namespace {

struct input {
  std::vector<double> t_ms;
  std::vector<double> voltage;  // [cell][site][sample]
  std::size_t n_cells = 0, n_sites = 0, n_samples = 0;
  std::vector<std::int64_t> sites, stimulus_of, failed_step;
  std::vector<std::string> site_names;                         // when the file has them
  std::vector<double> start_ms, end_ms, amplitude, t_stop_ms;  // per stimulus, when given
};

input read_input(const std::string& path) {
  const h5::file f = h5::file::open_read(path);
  const std::string where = "cellfit::features: " + path + ": ";
  for (const char* name : {"/traces/voltage", "/traces/time_ms"}) {
    if (!f.exists(name)) {
      throw io_error(where + "no dataset '" + name + "' (not a `cellfit simulate` output?)");
    }
  }
  input in;
  std::vector<std::size_t> dims;
  in.voltage = f.read_doubles("/traces/voltage", dims);
  if (dims.size() != 3) {
    throw io_error(where + "/traces/voltage has " + std::to_string(dims.size()) +
                   " dimensions, expected 3 ([cell][site][sample])");
  }
  in.n_cells = dims[0];
  in.n_sites = dims[1];
  in.n_samples = dims[2];
  in.t_ms = f.read_doubles("/traces/time_ms", dims);
  if (dims.size() != 1 || dims[0] != in.n_samples) {
    throw io_error(where + "/traces/time_ms has " + std::to_string(in.t_ms.size()) +
                   " samples, /traces/voltage " + std::to_string(in.n_samples));
  }
  auto ints = [&](const char* name, std::size_t n) {
    std::vector<std::int64_t> out;
    if (!f.exists(name)) return out;
    std::vector<std::size_t> d;
    out = f.read_ints(name, d);
    if (out.size() != n) {
      throw io_error(where + name + " has " + std::to_string(out.size()) + " entries, expected " +
                     std::to_string(n));
    }
    return out;
  };
  in.sites = ints("/traces/sites", in.n_sites);
  if (f.exists("/traces/site_names")) {
    in.site_names = f.read_strings("/traces/site_names");
    if (in.site_names.size() != in.n_sites) in.site_names.clear();
  }
  in.stimulus_of = ints("/traces/stimulus", in.n_cells);
  in.failed_step = ints("/traces/failed_step", in.n_cells);
  if (f.exists("/stimuli/start_ms") && f.exists("/stimuli/end_ms")) {
    in.start_ms = f.read_doubles("/stimuli/start_ms", dims);
    in.end_ms = f.read_doubles("/stimuli/end_ms", dims);
    if (f.exists("/stimuli/amplitude")) in.amplitude = f.read_doubles("/stimuli/amplitude", dims);
    if (f.exists("/stimuli/t_stop_ms")) in.t_stop_ms = f.read_doubles("/stimuli/t_stop_ms", dims);
  }
  return in;
}

// A per-stimulus value from the file, NaN when absent.
double per_stimulus(const std::vector<double>& v, std::int64_t s) {
  if (s < 0 || static_cast<std::size_t>(s) >= v.size()) return std::nan("");
  return v[static_cast<std::size_t>(s)];
}

void write_output(const std::string& path, const features_options& o,
                  const std::vector<std::string>& names, const features::settings& s,
                  const std::vector<features::trace>& traces,
                  const std::vector<std::vector<features::value>>& values, std::size_t site) {
  h5::atomic_output out(path);
  {
    h5::file f = h5::file::create(out.temp_path());
    const std::size_t n_cells = traces.size();
    f.write("/features/names", names);
    std::vector<double> start(n_cells), end(n_cells), current(n_cells);
    for (std::size_t c = 0; c < n_cells; ++c) {
      start[c] = traces[c].stim_start_ms;
      end[c] = traces[c].stim_end_ms;
      current[c] = traces[c].stimulus_current_na;
    }
    f.write("/features/stim_start_ms", start, {n_cells});
    f.write("/features/stim_end_ms", end, {n_cells});
    f.write("/features/stimulus_current_na", current, {n_cells});
    for (std::size_t k = 0; k < names.size(); ++k) {
      const std::string g = "/features/" + names[k];
      std::vector<double> mean(n_cells), flat;
      std::vector<std::int64_t> offsets{0}, ok(n_cells);
      std::vector<std::string> reason(n_cells);
      for (std::size_t c = 0; c < n_cells; ++c) {
        const features::value& v = values[c][k];
        mean[c] = v.mean();
        ok[c] = v.ok ? 1 : 0;
        reason[c] = v.reason;
        if (v.ok) flat.insert(flat.end(), v.values.begin(), v.values.end());
        offsets.push_back(static_cast<std::int64_t>(flat.size()));
      }
      f.write(g + "/mean", mean, {n_cells});
      f.write(g + "/values", flat, {flat.size()});
      f.write(g + "/offsets", offsets, {offsets.size()});
      f.write(g + "/ok", ok, {n_cells});
      f.write(g + "/reason", reason);
    }
    const std::string a = "/features";
    f.attribute(a, "source", o.traces);
    f.attribute(a, "site_index", static_cast<std::int64_t>(site));
    f.attribute(a, "efel_version_matched", std::string("5.7.34"));
    f.attribute(a, "Threshold", s.threshold_mv);
    f.attribute(a, "DerivativeThreshold", s.derivative_threshold);
    f.attribute(a, "DownDerivativeThreshold", s.down_derivative_threshold);
    f.attribute(a, "interp_step", s.interp_step_ms);
    f.attribute(a, "DerivativeWindow", static_cast<std::int64_t>(s.derivative_window));
    f.attribute(a, "spike_skipf", s.spike_skipf);
    f.attribute(a, "max_spike_skip", static_cast<std::int64_t>(s.max_spike_skip));
    f.attribute(a, "voltage_base_start_perc", s.voltage_base_start_perc);
    f.attribute(a, "voltage_base_end_perc", s.voltage_base_end_perc);
    f.attribute(a, "voltage_base_mode",
                std::string(s.base_mode == features::voltage_base_mode::mean ? "mean" : "median"));
    f.attribute(a, "precision_threshold", s.precision_threshold);
    f.attribute(a, "sahp_start", s.sahp_start_ms);
    f.attribute(a, "ignore_first_ISI", static_cast<std::int64_t>(s.ignore_first_isi));
    f.attribute(a, "strict_stiminterval", static_cast<std::int64_t>(s.strict_stiminterval));
    f.attribute(a, "decay_start_after_stim", s.decay_start_after_stim_ms);
    f.attribute(a, "decay_end_after_stim", s.decay_end_after_stim_ms);
    f.attribute("/", "cellfit_version", std::string("0.1.0"));
    f.attribute("/", "command", std::string("features"));
    f.close();  // checked: only a complete file is renamed into place
  }
  out.commit();
}

// Whether `path` is a `cellfit simulate` output (read with its per-stimulus windows) rather
// than a recording.
bool is_simulate_output(const std::string& path) {
  const auto dot = path.find_last_of('.');
  const std::string ext = dot == std::string::npos ? "" : path.substr(dot + 1);
  if ((ext != "h5" && ext != "hdf5") || path.find(":/") != std::string::npos) return false;
  const h5::file f = h5::file::open_read(path);
  return f.exists("/traces/voltage");
}

std::string file_stem(const std::string& path) {
  std::string p = path.substr(0, path.find(":/"));
  const auto slash = p.find_last_of('/');
  if (slash != std::string::npos) p = p.substr(slash + 1);
  const auto dot = p.find_last_of('.');
  return dot == std::string::npos || dot == 0 ? p : p.substr(0, dot);
}

// The feature table's header (after the caller's leading columns): one column per feature,
// at least 12 wide. Returns the widths.
std::vector<int> print_feature_header(const std::vector<std::string>& names) {
  std::vector<int> width;
  for (const auto& n : names) {
    width.push_back(std::max<int>(12, static_cast<int>(n.size())));
    std::printf(" %*s", width.back(), n.c_str());
  }
  std::printf("\n");
  return width;
}

// One row's feature columns: the mean of each feature's values, or n/a with the reason
// added to `notes` as "<label> <feature>: <reason>".
void print_feature_row(const std::vector<features::value>& row,
                       const std::vector<std::string>& names, const std::vector<int>& width,
                       const std::string& label, std::vector<std::string>& notes) {
  for (std::size_t k = 0; k < names.size(); ++k) {
    const features::value& v = row[k];
    if (v.ok) {
      std::printf(" %*.6g", width[k], v.mean());
    } else {
      std::printf(" %*s", width[k], "n/a");
      notes.push_back(label + " " + names[k] + ": " + v.reason);
    }
  }
  std::printf("\n");
}

struct recorded_input {
  std::string file;
  recorded_sweep sweep;
  std::string protocol;
  detected_step step;
};

int run_recording_features(const features_options& o, const std::vector<std::string>& names,
                           const features::settings& s) {
  const std::string where = "cellfit::features: ";
  std::vector<std::string> files{o.traces};
  files.insert(files.end(), o.more.begin(), o.more.end());
  std::vector<recorded_input> in;
  for (const auto& file : files) {
    recording r = read_recording_input(file);
    for (const std::size_t k : select_sweeps(r, o.sweeps)) {
      recorded_input x;
      x.file = file;
      x.sweep = r.sweeps[k];  // a copy: a selection may name a sweep twice
      x.protocol = !o.protocol.empty()         ? o.protocol
                   : !x.sweep.protocol.empty() ? x.sweep.protocol
                                               : file_stem(file);
      x.step = detect_step(x.sweep);
      in.push_back(std::move(x));
    }
  }
  std::vector<features::trace> traces(in.size());
  for (std::size_t c = 0; c < in.size(); ++c) {
    const recorded_input& x = in[c];
    features::trace& tr = traces[c];
    tr.t_ms = x.sweep.t_ms.data();
    tr.v_mv = x.sweep.v_mv.data();
    tr.n = x.sweep.t_ms.size();
    tr.stim_start_ms = !std::isnan(o.stim_start_ms) ? o.stim_start_ms
                       : x.step.found               ? x.step.start_ms
                                                    : std::nan("");
    tr.stim_end_ms = !std::isnan(o.stim_end_ms) ? o.stim_end_ms
                     : x.step.found             ? x.step.end_ms
                                                : std::nan("");
    if (std::isnan(tr.stim_start_ms)) {
      throw usage_error(where + x.file + ": sweep " + printable_text(x.sweep.name) +
                        " has no recorded step current to take the stimulus window from: pass "
                        "--stim-start MS and --stim-end MS");
    }
    tr.stimulus_current_na = !std::isnan(o.current_na) ? o.current_na
                             : x.step.found            ? x.step.amplitude_na
                                                       : 0.0;
  }
  const std::vector<std::vector<features::value>> values =
      features::compute_batch(traces, names, s, o.threads);

  std::printf("cellfit features: %zu recorded sweep(s)\n%-24s %-16s %9s %9s", in.size(), "sweep",
              "protocol", "start_ms", "end_ms");
  const std::vector<int> width = print_feature_header(names);
  std::vector<std::string> notes;
  for (std::size_t c = 0; c < in.size(); ++c) {
    std::printf("%-24s %-16s %9.6g %9.6g", printable_text(in[c].sweep.name).c_str(),
                printable_text(in[c].protocol).c_str(), traces[c].stim_start_ms,
                traces[c].stim_end_ms);
    print_feature_row(values[c], names, width, in[c].file + " " + in[c].sweep.name, notes);
  }

  // Protocols in order of first appearance; the statistics over each one's sweeps.
  std::vector<protocol_targets> protocols;
  std::vector<std::vector<std::size_t>> members;
  for (std::size_t c = 0; c < in.size(); ++c) {
    std::size_t p = 0;
    while (p < protocols.size() && protocols[p].name != in[c].protocol) ++p;
    if (p == protocols.size()) {
      protocols.emplace_back();
      protocols.back().name = in[c].protocol;
      members.emplace_back();
    }
    members[p].push_back(c);
  }
  features::statistics_settings st;
  st.default_std = o.default_std;
  for (std::size_t p = 0; p < protocols.size(); ++p) {
    protocol_targets& pr = protocols[p];
    std::vector<std::vector<features::value>> v;
    double start = 0, end = 0, total = 0, amp = 0, hold = 0;
    bool known = true;
    for (const std::size_t c : members[p]) {
      v.push_back(values[c]);
      start += traces[c].stim_start_ms;
      end += traces[c].stim_end_ms;
      total += in[c].sweep.t_ms.back();
      amp += traces[c].stimulus_current_na;
      hold += in[c].step.holding_na;
      known = known && in[c].step.found;
    }
    // The protocol's stimulus: the mean over its sweeps (BluePyEfe averages the eCode
    // parameters of the recordings it matched).
    const double m = static_cast<double>(members[p].size());
    pr.stim_start_ms = start / m;
    pr.stim_end_ms = end / m;
    pr.total_ms = total / m;
    pr.amplitude_na = amp / m;
    pr.holding_na = hold / m;
    pr.stimulus_known = known;
    pr.sweeps = static_cast<int>(members[p].size());
    pr.features = features::statistics_over_sweeps(v, names, st);
  }
  std::printf("\nmean (std) over each protocol's sweeps:\n");
  for (const auto& pr : protocols) {
    std::printf("  %s: %d sweep(s)\n", printable_text(pr.name).c_str(), pr.sweeps);
    for (const auto& f : pr.features) {
      if (f.ok) {
        std::printf("    %-32s %14.8g (%.4g), n = %d\n", f.feature.c_str(), f.mean, f.std, f.n);
      } else {
        std::printf("    %-32s n/a: %s\n", f.feature.c_str(), f.reason.c_str());
      }
    }
  }
  if (!notes.empty()) {
    std::printf("\nnot computable:\n");
    for (const auto& n : notes) std::printf("  %s\n", n.c_str());
  }
  if (!o.out.empty()) {
    write_output(o.out, o, names, s, traces, values, 0);
    std::printf("-> %s\n", o.out.c_str());
  }
  if (!o.out_features.empty()) {
    write_features_json(o.out_features, protocols);
    std::printf("-> %s\n", o.out_features.c_str());
  }
  if (!o.out_protocols.empty()) {
    write_protocols_json(o.out_protocols, protocols);
    std::printf("-> %s\n", o.out_protocols.c_str());
  }
  return exit_ok;
}

}  // namespace

int run_features(const features_options& o) {
  const std::string where = "cellfit::features: ";
  std::vector<std::string> names;
  for (const auto& n : o.features) {
    if (!n.empty()) names.push_back(n);
  }
  if (names.empty()) throw usage_error(where + "--features names no feature");
  if (names.size() == 1 && names[0] == "all") names = features::available();
  features::check_names(names);
  if (std::isnan(o.stim_start_ms) != std::isnan(o.stim_end_ms)) {
    throw usage_error(where + "give both --stim-start and --stim-end, or neither");
  }
  if (!std::isnan(o.stim_start_ms) && !(o.stim_end_ms > o.stim_start_ms)) {
    throw usage_error(where + "--stim-end must be greater than --stim-start");
  }
  features::settings s;
  s.threshold_mv = o.threshold_mv;
  s.derivative_threshold = o.derivative_threshold;
  features::check_settings(s);
  if (!o.out.empty()) check_writable(o.out, "features");
  if (!o.out_features.empty()) check_writable(o.out_features, "features");
  if (!o.out_protocols.empty()) check_writable(o.out_protocols, "features");
  if (!(o.default_std > 0)) throw usage_error(where + "--default-std must be > 0");
  const bool recordings = !o.more.empty() || !o.sweeps.empty() || !o.protocol.empty() ||
                          !o.out_features.empty() || !o.out_protocols.empty() ||
                          !is_simulate_output(o.traces);
  if (recordings) return run_recording_features(o, names, s);

  const input in = read_input(o.traces);
  // --site: an index, or a recording's name.
  std::size_t site = in.n_sites;
  const bool numeric =
      !o.site.empty() && o.site.find_first_not_of("0123456789") == std::string::npos;
  if (numeric && o.site.size() < 10) {
    site = static_cast<std::size_t>(std::stoul(o.site));
  } else {
    for (std::size_t k = 0; k < in.site_names.size(); ++k)
      if (in.site_names[k] == o.site) site = k;
  }
  if (site >= in.n_sites) {
    std::string recorded;
    for (const auto& n : in.site_names) recorded += (recorded.empty() ? "" : ", ") + n;
    throw usage_error(where + "--site " + printable_text(o.site) + ": " + o.traces + " has " +
                      std::to_string(in.n_sites) + " recorded site(s) (0.." +
                      std::to_string(in.n_sites == 0 ? 0 : in.n_sites - 1) +
                      (recorded.empty() ? std::string() : ": " + recorded) + ")");
  }

  std::vector<features::trace> traces(in.n_cells);
  std::vector<bool> diverged(in.n_cells, false);
  for (std::size_t c = 0; c < in.n_cells; ++c) {
    const std::int64_t stim =
        in.stimulus_of.empty() ? static_cast<std::int64_t>(c) : in.stimulus_of[c];
    features::trace& tr = traces[c];
    tr.t_ms = in.t_ms.data();
    tr.v_mv = &in.voltage[(c * in.n_sites + site) * in.n_samples];
    tr.n = in.n_samples;
    const double stop = per_stimulus(in.t_stop_ms, stim);  // the protocol's end: NaN after it
    if (!std::isnan(stop)) {
      tr.n = static_cast<std::size_t>(
          std::upper_bound(in.t_ms.begin(), in.t_ms.end(), stop + 1e-9) - in.t_ms.begin());
    }
    tr.stim_start_ms =
        std::isnan(o.stim_start_ms) ? per_stimulus(in.start_ms, stim) : o.stim_start_ms;
    tr.stim_end_ms = std::isnan(o.stim_end_ms) ? per_stimulus(in.end_ms, stim) : o.stim_end_ms;
    if (std::isnan(tr.stim_start_ms) || std::isnan(tr.stim_end_ms)) {
      throw usage_error(where + o.traces + ": no stimulus window for cell " + std::to_string(c) +
                        (in.start_ms.empty() ? " (the file has no /stimuli/start_ms)"
                                             : " (its stimulus has no step or waveform)") +
                        ": pass --stim-start MS and --stim-end MS");
    }
    const double amp = per_stimulus(in.amplitude, stim);
    tr.stimulus_current_na = !std::isnan(o.current_na) ? o.current_na : std::isnan(amp) ? 0 : amp;
    diverged[c] = !in.failed_step.empty() && in.failed_step[c] >= 0;
  }

  std::vector<std::vector<features::value>> values =
      features::compute_batch(traces, names, s, o.threads);
  for (std::size_t c = 0; c < in.n_cells; ++c) {
    if (!diverged[c]) continue;
    for (auto& v : values[c]) {
      v = features::value{};
      v.reason =
          "the simulation of this cell diverged at step " + std::to_string(in.failed_step[c]);
    }
  }

  // Table: the mean of each feature's values, n/a with the reasons below.
  std::printf("cellfit features: %s, %zu cells, site %zu", o.traces.c_str(), in.n_cells, site);
  if (!in.sites.empty()) std::printf(" (compartment %lld)", static_cast<long long>(in.sites[site]));
  if (!in.site_names.empty()) std::printf(" %s", in.site_names[site].c_str());
  std::printf("\n%6s %9s %9s", "cell", "start_ms", "end_ms");
  const std::vector<int> width = print_feature_header(names);
  std::vector<std::string> notes;
  for (std::size_t c = 0; c < in.n_cells; ++c) {
    std::printf("%6zu %9.6g %9.6g", c, traces[c].stim_start_ms, traces[c].stim_end_ms);
    print_feature_row(values[c], names, width, "cell " + std::to_string(c), notes);
  }
  if (!notes.empty()) {
    std::printf("\nnot computable:\n");
    for (const auto& n : notes) std::printf("  %s\n", n.c_str());
  }
  if (!o.out.empty()) {
    write_output(o.out, o, names, s, traces, values, site);
    std::printf("-> %s\n", o.out.c_str());
  }
  return exit_ok;
}

}  // namespace cellfit::app
