#include "io/recording.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "common/error.hpp"
#include "common/text_file.hpp"
#include "io/h5.hpp"

namespace cellfit {

namespace {

const char* const where = "cellfit::recording: ";

std::string number(double x) {
  std::ostringstream os;
  os.precision(12);  // enough to tell samples apart in a message
  os << x;
  return os.str();
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string extension(const std::string& path) {
  const auto slash = path.find_last_of('/');
  const auto dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  return lower(path.substr(dot + 1));
}

// Time stamps: finite and non-decreasing; `label(k)` names sample k in a message.
template <class Label>
void check_times(const std::vector<double>& t, const std::vector<double>& v, const Label& label) {
  for (std::size_t k = 0; k < t.size(); ++k) {
    if (!std::isfinite(t[k])) throw io_error(where + label(k) + ": time " + number(t[k]));
    if (!std::isfinite(v[k])) throw io_error(where + label(k) + ": voltage " + number(v[k]));
    if (k > 0 && t[k] < t[k - 1]) {
      throw io_error(where + label(k) + ": time " + number(t[k]) + " ms is before the previous " +
                     number(t[k - 1]) + " ms (time stamps must not decrease)");
    }
  }
  if (t.size() < 2) throw io_error(where + label(0) + ": fewer than 2 samples");
}

// ---- text and CSV -------------------------------------------------------------------------

// Fields separated by commas, semicolons, tabs or spaces (runs of them count once).
std::vector<std::string> split_fields(std::string line) {
  for (char& c : line) {
    if (c == ',' || c == ';' || c == '\t' || c == '\r') c = ' ';
  }
  std::istringstream in(line);
  std::vector<std::string> out;
  std::string f;
  while (in >> f) out.push_back(f);
  return out;
}

bool parse_number(const std::string& s, double& x) {
  const char* b = s.c_str();
  char* e = nullptr;
  x = std::strtod(b, &e);
  return e != b && *e == '\0';
}

enum class column_kind { time, voltage, current };
struct column {
  std::string name;
  column_kind kind = column_kind::voltage;
  double scale = 1;  // to ms, mV or nA
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

column classify(const std::string& raw) {
  column c;
  c.name = raw;
  const std::string n = lower(raw);
  if (n == "t" || n == "time" || n == "t_ms" || n == "time_ms") {
    c.kind = column_kind::time;
  } else if (n == "t_s" || n == "time_s") {
    c.kind = column_kind::time;
    c.scale = 1e3;
  } else if (n == "i" || n.rfind("i_", 0) == 0 || n.rfind("current", 0) == 0 ||
             (n.size() > 1 && n[0] == 'i' && std::isdigit(static_cast<unsigned char>(n[1])))) {
    c.kind = column_kind::current;
    if (ends_with(n, "_pa")) c.scale = 1e-3;
  } else {
    c.kind = column_kind::voltage;
    if (ends_with(n, "_v")) c.scale = 1e3;
  }
  return c;
}

recording read_columns(const std::string& path, bool csv) {
  const std::string text = read_text_file(path, "recording");
  recording r;
  r.source = path;
  r.format = csv ? "csv" : "text";
  std::vector<column> cols;
  std::vector<std::vector<double>> data;
  std::size_t line_no = 0, header_line = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    ++line_no;
    const auto hash = line.find('#');
    if (hash != std::string::npos) line.erase(hash);
    const std::vector<std::string> fields = split_fields(line);
    if (fields.empty()) continue;
    std::vector<double> row(fields.size());
    bool numeric = true;
    for (std::size_t k = 0; k < fields.size(); ++k)
      numeric = numeric && parse_number(fields[k], row[k]);
    if (cols.empty() && !numeric) {
      // A header line: names the columns.
      for (const auto& f : fields) cols.push_back(classify(f));
      header_line = line_no;
      continue;
    }
    if (cols.empty()) {
      if (csv) {
        throw io_error(where + path + ":" + std::to_string(line_no) +
                       ": no header line naming the columns (e.g. \"t_ms,v_mv\")");
      }
      if (fields.size() != 2 && fields.size() != 3) {
        throw io_error(where + path + ":" + std::to_string(line_no) + ": " +
                       std::to_string(fields.size()) +
                       " columns; without a header a text recording has 2 (t_ms v_mv) or 3 "
                       "(t_ms v_mv i_na)");
      }
      cols.push_back({"t_ms", column_kind::time, 1});
      cols.push_back({"v_mv", column_kind::voltage, 1});
      if (fields.size() == 3) cols.push_back({"i_na", column_kind::current, 1});
      data.assign(cols.size(), {});
    }
    if (data.empty()) data.assign(cols.size(), {});
    if (fields.size() != cols.size()) {
      throw io_error(where + path + ":" + std::to_string(line_no) + ": " +
                     std::to_string(fields.size()) + " values, expected " +
                     std::to_string(cols.size()));
    }
    for (std::size_t k = 0; k < fields.size(); ++k) {
      if (!parse_number(fields[k], row[k])) {
        throw io_error(where + path + ":" + std::to_string(line_no) + ": column " +
                       std::to_string(k + 1) + " (" + cols[k].name + "): \"" + fields[k] +
                       "\" is not a number");
      }
      data[k].push_back(row[k] * cols[k].scale);
    }
  }
  std::vector<std::size_t> t_col, v_cols, i_cols;
  for (std::size_t k = 0; k < cols.size(); ++k) {
    (cols[k].kind == column_kind::time      ? t_col
     : cols[k].kind == column_kind::voltage ? v_cols
                                            : i_cols)
        .push_back(k);
  }
  const std::string head = path + (header_line > 0 ? ":" + std::to_string(header_line) : "");
  if (cols.empty() || data.empty() || data[0].empty())
    throw io_error(where + path + ": no samples");
  if (t_col.size() != 1) {
    throw io_error(where + head + ": " + std::to_string(t_col.size()) +
                   " time columns (t, time, t_ms, time_ms, t_s or time_s), expected 1");
  }
  if (v_cols.empty()) throw io_error(where + head + ": no voltage column");
  if (!i_cols.empty() && i_cols.size() != 1 && i_cols.size() != v_cols.size()) {
    throw io_error(where + head + ": " + std::to_string(i_cols.size()) + " current columns for " +
                   std::to_string(v_cols.size()) + " voltage columns (give one, or one per sweep)");
  }
  for (std::size_t s = 0; s < v_cols.size(); ++s) {
    recorded_sweep w;
    w.name = cols[v_cols[s]].name;
    w.t_ms = data[t_col[0]];
    w.v_mv = data[v_cols[s]];
    if (!i_cols.empty()) w.i_na = data[i_cols[i_cols.size() == 1 ? 0 : s]];
    check_times(w.t_ms, w.v_mv,
                [&](std::size_t k) { return path + ": sample " + std::to_string(k); });
    r.sweeps.push_back(std::move(w));
  }
  return r;
}

// ---- HDF5 ---------------------------------------------------------------------------------

std::string first_existing(const h5::file& f, const std::string& group,
                           std::initializer_list<const char*> names) {
  for (const char* n : names) {
    const std::string p = (group == "/" ? "" : group) + "/" + n;
    if (f.exists(p)) return p;
  }
  return "";
}

recording read_hdf5_group(const h5::file& f, const std::string& path, const std::string& group) {
  recording r;
  r.source = path;
  r.format = "hdf5";
  const std::string tn = first_existing(f, group, {"t", "time", "t_ms", "time_ms"});
  const std::string vn = first_existing(f, group, {"v", "voltage", "v_mv", "voltage_mv"});
  if (tn.empty() || vn.empty()) {
    throw io_error(where + path + ":" + group +
                   ": no time dataset (t, time, t_ms, time_ms) and voltage dataset (v, voltage, "
                   "v_mv, voltage_mv)");
  }
  std::vector<std::size_t> td, vd;
  const std::vector<double> t = f.read_doubles(tn, td);
  const std::vector<double> v = f.read_doubles(vn, vd);
  const std::size_t n = t.size();
  if (td.size() != 1 || (vd.size() != 1 && vd.size() != 2) || vd.back() != n) {
    throw io_error(where + path + ":" + vn + ": shape does not match " + tn + " (" +
                   std::to_string(n) + " samples): expected [sample] or [sweep][sample]");
  }
  const std::size_t n_sweeps = vd.size() == 1 ? 1 : vd[0];
  std::vector<double> i;
  const std::string in = first_existing(f, group, {"i", "i_na", "current"});
  std::vector<std::size_t> id;
  if (!in.empty()) {
    i = f.read_doubles(in, id);
    if (id.back() != n || (id.size() == 2 && id[0] != n_sweeps) || id.size() > 2) {
      throw io_error(where + path + ":" + in + ": shape does not match " + vn);
    }
  }
  for (std::size_t s = 0; s < n_sweeps; ++s) {
    recorded_sweep w;
    w.name = n_sweeps == 1 ? vn : vn + "[" + std::to_string(s) + "]";
    w.sweep = static_cast<std::int64_t>(s);
    w.t_ms = t;
    w.v_mv.assign(v.begin() + static_cast<std::ptrdiff_t>(s * n),
                  v.begin() + static_cast<std::ptrdiff_t>((s + 1) * n));
    if (!i.empty()) {
      const std::size_t o = id.size() == 2 ? s * n : 0;
      w.i_na.assign(i.begin() + static_cast<std::ptrdiff_t>(o),
                    i.begin() + static_cast<std::ptrdiff_t>(o + n));
    }
    check_times(w.t_ms, w.v_mv, [&](std::size_t k) {
      return path + ":" + w.name + " sample " + std::to_string(k);
    });
    r.sweeps.push_back(std::move(w));
  }
  return r;
}

recording read_cellfit_traces(const h5::file& f, const std::string& path) {
  recording r;
  r.source = path;
  r.format = "hdf5";
  std::vector<std::size_t> vd, td;
  const std::vector<double> v = f.read_doubles("/traces/voltage", vd);
  const std::vector<double> t = f.read_doubles("/traces/time_ms", td);
  if (vd.size() != 3 || td.size() != 1 || td[0] != vd[2]) {
    throw io_error(where + path +
                   ":/traces/voltage: expected [cell][site][sample] with /traces/time_ms [sample]");
  }
  const std::size_t n = vd[2];
  for (std::size_t c = 0; c < vd[0]; ++c) {
    for (std::size_t site = 0; site < vd[1]; ++site) {
      recorded_sweep w;
      w.name = "cell " + std::to_string(c) + " site " + std::to_string(site);
      w.sweep = static_cast<std::int64_t>(c);
      const std::size_t o = (c * vd[1] + site) * n;
      // A protocol shorter than the run ends in NaN samples: its recording ends there.
      std::size_t m = n;
      while (m > 0 && std::isnan(v[o + m - 1])) --m;
      w.t_ms.assign(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(m));
      w.v_mv.assign(v.begin() + static_cast<std::ptrdiff_t>(o),
                    v.begin() + static_cast<std::ptrdiff_t>(o + m));
      check_times(w.t_ms, w.v_mv, [&](std::size_t k) {
        return path + ":/traces/voltage[" + std::to_string(c) + "][" + std::to_string(site) +
               "] sample " + std::to_string(k);
      });
      r.sweeps.push_back(std::move(w));
    }
  }
  return r;
}

// ---- NWB ----------------------------------------------------------------------------------

double attribute_or(const h5::file& f, const std::string& obj, const char* name, double fallback) {
  return f.has_attribute(obj, name) ? f.read_attribute_double(obj, name) : fallback;
}

std::string string_attribute_or(const h5::file& f, const std::string& obj, const char* name) {
  return f.has_attribute(obj, name) ? f.read_attribute_string(obj, name) : std::string();
}

// The values of a TimeSeries' data in `target_unit` (volts -> mV: 1e3, amperes -> nA: 1e9).
std::vector<double> series_data(const h5::file& f, const std::string& path,
                                const std::string& series, const std::string& si_unit,
                                double to_target) {
  const std::string d = series + "/data";
  std::vector<std::size_t> dims;
  std::vector<double> x = f.read_doubles(d, dims);
  if (dims.size() != 1) {
    throw io_error(where + path + ":" + d + ": " + std::to_string(dims.size()) +
                   " dimensions, expected 1");
  }
  const double conversion = attribute_or(f, d, "conversion", 1.0);
  const double offset = attribute_or(f, d, "offset", 0.0);
  const std::string unit = lower(string_attribute_or(f, d, "unit"));
  // NWB stores data x conversion (+ offset) in the SI unit named by `unit`.
  double scale = to_target;
  if (unit.empty() || unit == si_unit || unit == si_unit.substr(0, si_unit.size() - 1) ||
      unit == si_unit.substr(0, 1)) {
    scale = to_target;
  } else if (si_unit == "volts" && (unit == "mv" || unit == "millivolts")) {
    scale = 1.0;
  } else if (si_unit == "amperes" && (unit == "na" || unit == "nanoamperes")) {
    scale = 1.0;
  } else if (si_unit == "amperes" && (unit == "pa" || unit == "picoamperes")) {
    scale = 1e-3;
  } else {
    throw io_error(where + path + ":" + d + "@unit = \"" + unit + "\", expected \"" + si_unit +
                   "\"");
  }
  for (double& v : x) v = (v * conversion + offset) * scale;
  return x;
}

std::vector<double> series_time_ms(const h5::file& f, const std::string& path,
                                   const std::string& series, std::size_t n) {
  std::vector<std::size_t> dims;
  std::vector<double> t;
  if (f.exists(series + "/timestamps")) {
    t = f.read_doubles(series + "/timestamps", dims);
    if (t.size() != n) {
      throw io_error(where + path + ":" + series + "/timestamps: " + std::to_string(t.size()) +
                     " stamps for " + std::to_string(n) + " samples");
    }
    for (double& x : t) x *= 1e3;
    return t;
  }
  const std::string st = series + "/starting_time";
  if (!f.exists(st)) {
    throw io_error(where + path + ":" + series + ": neither timestamps nor starting_time");
  }
  const std::vector<double> t0 = f.read_doubles(st, dims);
  const double rate = attribute_or(f, st, "rate", std::nan(""));
  if (t0.size() != 1 || !(rate > 0) || !std::isfinite(rate)) {
    throw io_error(where + path + ":" + st + "@rate = " + number(rate) + " Hz: must be > 0");
  }
  t.resize(n);
  // Sample k at starting_time + k / rate (NWB's definition), not accumulated.
  for (std::size_t k = 0; k < n; ++k) t[k] = (t0[0] + static_cast<double>(k) / rate) * 1e3;
  return t;
}

std::int64_t sweep_number(const h5::file& f, const std::string& series) {
  return f.has_attribute(series, "sweep_number")
             ? static_cast<std::int64_t>(f.read_attribute_double(series, "sweep_number"))
             : -1;
}

recording read_nwb(const std::string& path) {
  const h5::file f = h5::file::open_read(path);
  recording r;
  r.source = path;
  r.format = "nwb";
  if (!f.is_group("/acquisition"))
    throw io_error(where + path + ": no /acquisition group (not NWB?)");
  // Stimulus series by sweep number.
  std::vector<std::pair<std::int64_t, std::string>> stimuli;
  if (f.is_group("/stimulus/presentation")) {
    for (const auto& m : f.members("/stimulus/presentation")) {
      const std::string s = "/stimulus/presentation/" + m;
      if (string_attribute_or(f, s, "neurodata_type") == "CurrentClampStimulusSeries") {
        stimuli.emplace_back(sweep_number(f, s), s);
      }
    }
  }
  // NWB 2.4's icephys tables link each response to its stimulus, row by row.
  std::vector<std::string> table_responses, table_stimuli;
  const std::string table = "/general/intracellular_ephys/intracellular_recordings";
  if (f.exists(table + "/responses/response") && f.exists(table + "/stimuli/stimulus")) {
    table_responses = f.read_reference_paths(table + "/responses/response", "timeseries");
    table_stimuli = f.read_reference_paths(table + "/stimuli/stimulus", "timeseries");
    if (table_responses.size() != table_stimuli.size()) table_responses.clear();
  }
  for (const auto& m : f.members("/acquisition")) {
    const std::string s = "/acquisition/" + m;
    if (string_attribute_or(f, s, "neurodata_type") != "CurrentClampSeries") continue;
    recorded_sweep w;
    w.name = m;
    w.sweep = sweep_number(f, s);
    w.protocol = string_attribute_or(f, s, "stimulus_description");
    if (w.protocol == "N/A") w.protocol.clear();  // pynwb's "not given"
    w.v_mv = series_data(f, path, s, "volts", 1e3);
    w.t_ms = series_time_ms(f, path, s, w.v_mv.size());
    std::string stimulus;
    for (std::size_t k = 0; k < table_responses.size(); ++k) {
      if (table_responses[k] == s && !table_stimuli[k].empty()) stimulus = table_stimuli[k];
    }
    for (const auto& st : stimuli) {
      if (stimulus.empty() && w.sweep >= 0 && st.first == w.sweep) stimulus = st.second;
    }
    if (!stimulus.empty()) {
      for (const auto& st : stimuli) {
        if (st.second != stimulus) continue;
        std::vector<double> i = series_data(f, path, st.second, "amperes", 1e9);
        const std::vector<double> ti = series_time_ms(f, path, st.second, i.size());
        if (ti != w.t_ms) {
          // A stimulus sampled on another time base: the last stimulus sample at or before
          // each response time (a current is piecewise constant between its samples).
          w.i_na.resize(w.t_ms.size());
          for (std::size_t k = 0; k < w.t_ms.size(); ++k) {
            const auto it = std::upper_bound(ti.begin(), ti.end(), w.t_ms[k]);
            const std::size_t j = static_cast<std::size_t>(it - ti.begin());
            w.i_na[k] = j == 0 ? i.front() : i[j - 1];
          }
        } else {
          w.i_na = std::move(i);
        }
        break;
      }
    }
    check_times(w.t_ms, w.v_mv,
                [&](std::size_t k) { return path + ":" + s + " sample " + std::to_string(k); });
    r.sweeps.push_back(std::move(w));
  }
  if (r.sweeps.empty()) {
    throw io_error(where + path + ": no CurrentClampSeries under /acquisition");
  }
  std::stable_sort(
      r.sweeps.begin(), r.sweeps.end(),
      [](const recorded_sweep& a, const recorded_sweep& b) { return a.sweep < b.sweep; });
  return r;
}

}  // namespace

recording read_recording(const std::string& spec) {
  // "file.h5:/group": the part after the last ':/' names a group.
  std::string path = spec, group;
  const auto colon = spec.rfind(":/");
  if (colon != std::string::npos && colon > 0) {
    path = spec.substr(0, colon);
    group = spec.substr(colon + 1);
  }
  const std::string ext = extension(path);
  if (ext == "txt" || ext == "dat") return read_columns(path, false);
  if (ext == "csv") return read_columns(path, true);
  if (ext == "nwb") return read_nwb(path);
  if (ext == "h5" || ext == "hdf5") {
    const h5::file f = h5::file::open_read(path);
    if (!group.empty()) {
      if (!f.is_group(group)) throw io_error(where + path + ": no group '" + group + "'");
      return read_hdf5_group(f, spec, group);
    }
    if (f.exists("/traces/voltage") && f.exists("/traces/time_ms")) {
      return read_cellfit_traces(f, path);
    }
    if (first_existing(f, "/", {"t", "time", "t_ms", "time_ms"}).empty()) {
      throw io_error(where + path +
                     ": no dataset '/traces/voltage' (a `cellfit simulate` output) and no time "
                     "and voltage datasets at the root (name a group: file.h5:/group)");
    }
    return read_hdf5_group(f, path, "/");
  }
  if (ext == "abf") {
    // The library does not run Python; the commands read ABF through app/recording_input.
    throw io_error(where + path +
                   ": ABF is read by the commands and the Python module (through pyabf), not "
                   "by this reader");
  }
  throw io_error(where + path + ": unknown recording format \"." + ext +
                 "\" (expected .txt, .dat, .csv, .h5, .hdf5 or .nwb)");
}

std::vector<std::size_t> select_sweeps(const recording& r, const std::string& selection) {
  std::vector<std::size_t> out;
  if (selection.empty()) {
    for (std::size_t k = 0; k < r.sweeps.size(); ++k) out.push_back(k);
    return out;
  }
  std::stringstream ss(selection);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    std::size_t found = r.sweeps.size();
    for (std::size_t k = 0; k < r.sweeps.size(); ++k)
      if (r.sweeps[k].name == item) found = k;
    if (found == r.sweeps.size() && item.find_first_not_of("0123456789") == std::string::npos &&
        item.size() < 10) {
      found = static_cast<std::size_t>(std::stoul(item));
    }
    if (found >= r.sweeps.size()) {
      throw usage_error(std::string(where) + r.source + ": no sweep \"" + item + "\" (it has " +
                        std::to_string(r.sweeps.size()) + ": 0.." +
                        std::to_string(r.sweeps.empty() ? 0 : r.sweeps.size() - 1) + ")");
    }
    out.push_back(found);
  }
  return out;
}

std::vector<double> resample_sweep(const recorded_sweep& s, const std::vector<double>& at_ms,
                                   const std::string& at) {
  const std::vector<double>& t = s.t_ms;
  const std::size_t n = at_ms.size();
  if (n == 0) return {};
  const double t0_ms = at_ms.front(), t_end = at_ms.back();
  const double tol = 1e-9 * std::max(1.0, std::abs(t_end));
  if (t.size() < 2 || t.front() > t0_ms + tol || t.back() < t_end - tol) {
    throw io_error(where + at + ": the recording covers " +
                   (t.empty() ? std::string("nothing")
                              : number(t.front()) + " to " + number(t.back()) + " ms") +
                   ", the simulation " + number(t0_ms) + " to " + number(t_end) + " ms");
  }
  std::vector<double> out(n);
  std::size_t j = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const double x = at_ms[k];
    // The segment [t[j], t[j+1]] with t[j+1] >= x, the first such: at a repeated stamp this
    // is the segment that ends there (eFEL's LinearInterpolation takes the same one).
    while (j + 2 < t.size() && t[j + 1] < x) ++j;
    const double dx = t[j + 1] - t[j];
    if (x <= t[j]) {
      out[k] = s.v_mv[j];
    } else if (x >= t[j + 1] || dx <= 0) {
      out[k] = s.v_mv[j + 1];
    } else {
      out[k] = s.v_mv[j] + (s.v_mv[j + 1] - s.v_mv[j]) * (x - t[j]) / dx;
    }
  }
  return out;
}

detected_step detect_step(const recorded_sweep& s) {
  detected_step d;
  const std::vector<double>& i = s.i_na;
  if (i.size() < 3) return d;
  d.holding_na = i.front();
  double largest = 0;
  for (double x : i) largest = std::max(largest, std::abs(x - d.holding_na));
  if (!(largest > 0)) return d;
  const double tol = 1e-6 * largest;
  std::size_t first = i.size(), last = 0;
  for (std::size_t k = 0; k < i.size(); ++k) {
    if (std::abs(i[k] - d.holding_na) > tol) {
      first = std::min(first, k);
      last = k;
    }
  }
  d.found = true;
  d.start_ms = s.t_ms[first];
  d.end_ms = last + 1 < i.size() ? s.t_ms[last + 1] : s.t_ms[last];
  std::vector<double> step(i.begin() + static_cast<std::ptrdiff_t>(first),
                           i.begin() + static_cast<std::ptrdiff_t>(last + 1));
  std::nth_element(step.begin(), step.begin() + static_cast<std::ptrdiff_t>(step.size() / 2),
                   step.end());
  d.amplitude_na = step[step.size() / 2] - d.holding_na;
  return d;
}

}  // namespace cellfit
