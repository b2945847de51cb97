#include "features/feature_library.hpp"
#include "common/suggest.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <numeric>
#include <optional>
#include <sstream>
#include <thread>

#include "common/error.hpp"
#include "features/detail/trace_context.hpp"

namespace cellfit::features {

double value::mean() const {
  if (!ok || values.empty()) return std::numeric_limits<double>::quiet_NaN();
  double sum = 0;
  for (double x : values) sum += x;
  return sum / static_cast<double>(values.size());
}

namespace {

using detail::index_list;
using detail::trace_context;

// Every feature, in the order of the table below (available() lists them in this order).
enum class fid : std::size_t {
  spike_count,
  spike_count_stimint,
  Spikecount,
  Spikecount_stimint,
  peak_time,
  peak_voltage,
  mean_frequency,
  time_to_first_spike,
  time_to_second_spike,
  time_to_last_spike,
  inv_time_to_first_spike,
  all_ISI_values,
  ISI_values,
  inv_first_ISI,
  inv_last_ISI,
  ISI_CV,
  doublet_ISI,
  adaptation_index,
  adaptation_index2,
  AP_height,
  AP_amplitude,
  AP_amplitude_from_voltagebase,
  AP1_amp,
  AP2_amp,
  APlast_amp,
  mean_AP_amplitude,
  AP_begin_voltage,
  AP_begin_time,
  AP_width,
  AP_duration,
  AP_duration_half_width,
  min_AHP_values,
  AHP_depth_abs,
  AHP_depth,
  AHP_depth_abs_slow,
  AHP_slow_time,
  AHP_depth_slow,
  fast_AHP,
  voltage_base,
  steady_state_voltage,
  steady_state_voltage_stimend,
  voltage_deflection,
  voltage_deflection_vb_ssse,
  ohmic_input_resistance,
  ohmic_input_resistance_vb_ssse,
  decay_time_constant_after_stim,
  minimum_voltage,
  maximum_voltage,
  maximum_voltage_from_voltagebase,
  sag_amplitude,
  sag_ratio1,
  sag_ratio2,
  count_
};
constexpr std::size_t n_features = static_cast<std::size_t>(fid::count_);

class evaluation;
using feature_fn = value (*)(evaluation&);

struct entry {
  fid id;
  const char* name;
  feature_fn fn;
};

// One trace's context plus the features computed so far (a feature used by several others,
// e.g. AP_amplitude by AP1_amp and APlast_amp, is computed once).
class evaluation {
 public:
  evaluation(const trace& tr, const settings& s) : ctx(tr, s) {}
  const value& get(fid f);
  trace_context ctx;

 private:
  std::array<std::optional<value>, n_features> memo_;
};

std::string number(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

value fail(std::string reason) {
  value r;
  r.reason = std::move(reason);
  return r;
}

// A computed array: empty is a failure (eFEL returns None for an empty C++ feature), as is
// a value that is not finite (eFEL would return nan or inf).
value result(std::vector<double> values, const char* empty_reason) {
  value r;
  if (values.empty()) {
    r.reason = empty_reason;
    return r;
  }
  for (double x : values) {
    if (!std::isfinite(x)) {
      r.reason = "not finite (" + number(x) + ")";
      r.values = std::move(values);
      return r;
    }
  }
  r.ok = true;
  r.values = std::move(values);
  return r;
}

value scalar(double x) { return result({x}, "no value"); }

std::string needs(std::size_t want, const char* what, std::size_t have) {
  return "needs " + std::to_string(want) + " " + what + ", found " + std::to_string(have);
}

// ---- spike timing ---------------------------------------------------------------------

value spike_count(evaluation& e) {
  const index_list& p = e.ctx.peak_indices();
  return scalar(p.ok ? static_cast<double>(p.idx.size()) : 0.0);
}

value spike_count_stimint(evaluation& e) {
  const value& pt = e.get(fid::peak_time);
  if (!pt.ok) return scalar(0.0);
  std::size_t n = 0;
  for (double t : pt.values) n += t >= e.ctx.stim_start() && t <= e.ctx.stim_end();
  return scalar(static_cast<double>(n));
}

// eFEL's names before 5.0 for spike_count and spike_count_stimint, which it still computes
// (deprecated) and BluePyOpt's L5PC example uses.
value Spikecount(evaluation& e) { return e.get(fid::spike_count); }
value Spikecount_stimint(evaluation& e) { return e.get(fid::spike_count_stimint); }

value peak_time(evaluation& e) {
  const index_list& p = e.ctx.peak_indices();
  if (!p.ok) return fail(p.reason);
  std::vector<double> out;
  for (std::size_t k : p.idx) out.push_back(e.ctx.t()[k]);
  return result(std::move(out), "no spikes");
}

value peak_voltage(evaluation& e) {
  const index_list& p = e.ctx.peak_indices();
  if (!p.ok) return fail(p.reason);
  std::vector<double> out;
  for (std::size_t k : p.idx) out.push_back(e.ctx.v()[k]);
  return result(std::move(out), "no spikes");
}

value mean_frequency(evaluation& e) {
  const value& pt = e.get(fid::peak_time);
  if (!pt.ok) return pt;
  const double start = e.ctx.stim_start(), end = e.ctx.stim_end();
  // eFEL's firing_rate: spikes in [stim_start, stim_end] over the time from stim_start to
  // the last of them (0 when there is none, which gives -0 Hz for stim_start > 0).
  double last = 0.;
  int count = 0;
  for (double t : pt.values) {
    if (t >= start && t <= end) {
      last = t;
      ++count;
    }
  }
  if (last == start) return fail("no spike after stim_start (division by zero)");
  return scalar(count * 1000 / (last - start));
}

value time_to_first_spike(evaluation& e) {
  const value& pt = e.get(fid::peak_time);
  if (!pt.ok) return pt;
  return scalar(pt.values[0] - e.ctx.stim_start());
}

value time_to_second_spike(evaluation& e) {
  const value& pt = e.get(fid::peak_time);
  if (!pt.ok) return pt;
  if (pt.values.size() < 2) return fail(needs(2, "spikes", pt.values.size()));
  return scalar(pt.values[1] - e.ctx.stim_start());
}

value time_to_last_spike(evaluation& e) {
  const value& pt = e.get(fid::peak_time);
  if (!pt.ok) return pt;
  return scalar(pt.values.back() - e.ctx.stim_start());
}

value inv_time_to_first_spike(evaluation& e) {
  const value& t1 = e.get(fid::time_to_first_spike);
  if (!t1.ok) return t1;
  return scalar(1000.0 / t1.values[0]);
}

value all_ISI_values(evaluation& e) {
  const value& pt = e.get(fid::peak_time);
  if (!pt.ok) return pt;
  if (pt.values.size() < 2) return fail(needs(2, "spikes", pt.values.size()));
  std::vector<double> isi;
  for (std::size_t i = 1; i < pt.values.size(); ++i) {
    isi.push_back(pt.values[i] - pt.values[i - 1]);
  }
  return result(std::move(isi), "no ISI");
}

// all_ISI_values without the first ISI when ignore_first_isi (eFEL's Python ISI features).
std::vector<double> used_isis(const value& isi, const settings& s) {
  std::vector<double> out = isi.values;
  if (s.ignore_first_isi && !out.empty()) out.erase(out.begin());
  return out;
}

value ISI_values(evaluation& e) {
  const value& isi = e.get(fid::all_ISI_values);
  if (!isi.ok) return isi;
  return result(used_isis(isi, e.ctx.config()),
                "no ISI left after ignoring the first (ignore_first_isi; needs 3 spikes)");
}

value inv_first_ISI(evaluation& e) {
  const value& isi = e.get(fid::all_ISI_values);
  if (!isi.ok) return isi;
  return scalar(1000.0 / isi.values.front());
}

value inv_last_ISI(evaluation& e) {
  const value& isi = e.get(fid::all_ISI_values);
  if (!isi.ok) return isi;
  return scalar(1000.0 / isi.values.back());
}

value ISI_CV(evaluation& e) {
  const value& isi = e.get(fid::all_ISI_values);
  if (!isi.ok) return isi;
  const std::vector<double> x = used_isis(isi, e.ctx.config());
  if (x.size() < 2) {
    return fail(needs(2, "ISIs", x.size()) +
                (e.ctx.config().ignore_first_isi ? " (the first is ignored)" : ""));
  }
  // numpy: std with ddof = 1 over the mean.
  const double n = static_cast<double>(x.size());
  const double m = std::accumulate(x.begin(), x.end(), 0.0) / n;
  double ss = 0;
  for (double xi : x) ss += (xi - m) * (xi - m);
  return scalar(std::sqrt(ss / (n - 1)) / m);
}

value doublet_ISI(evaluation& e) {
  const value& pt = e.get(fid::peak_time);
  if (!pt.ok) return pt;
  if (pt.values.size() < 2) return fail(needs(2, "spikes", pt.values.size()));
  return scalar(pt.values[1] - pt.values[0]);
}

// Mean of (ISI[i] - ISI[i-1]) / (ISI[i] + ISI[i-1]) over the spikes within the stimulus,
// after dropping the first `skip` of them; at least `min_kept` (>= 3) spikes must remain.
value adaptation(const std::vector<double>& times, std::size_t skip, std::size_t min_kept,
                 const char* need) {
  std::vector<double> kept(times.begin() + static_cast<std::ptrdiff_t>(skip), times.end());
  if (kept.size() < min_kept) return fail(need);
  std::vector<double> isi;
  for (std::size_t i = 1; i < kept.size(); ++i) isi.push_back(kept[i] - kept[i - 1]);
  double adi = 0;
  for (std::size_t i = 1; i < isi.size(); ++i) {
    adi = adi + (isi[i] - isi[i - 1]) / (isi[i] + isi[i - 1]);
  }
  return scalar(adi / static_cast<double>(isi.size() - 1));
}

std::vector<double> times_in_stimulus(const evaluation& e, const std::vector<double>& times) {
  std::vector<double> in;
  for (double t : times) {
    if (t >= e.ctx.stim_start() && t <= e.ctx.stim_end()) in.push_back(t);
  }
  return in;
}

value adaptation_index(evaluation& e) {
  const settings& s = e.ctx.config();
  if (s.spike_skipf < 0 || s.spike_skipf >= 1) return fail("spike_skipf must lie in [0, 1)");
  const value& pt = e.get(fid::peak_time);
  if (!pt.ok) return pt;
  const std::vector<double> in = times_in_stimulus(e, pt.values);
  auto skip = static_cast<std::size_t>(static_cast<int>(in.size() * s.spike_skipf + 0.5));
  if (s.max_spike_skip < static_cast<int>(skip)) {
    skip = static_cast<std::size_t>(std::max(0, s.max_spike_skip));
  }
  skip = std::min(skip, in.size());
  return adaptation(in, skip, 4, "needs 4 spikes within the stimulus after skipping spike_skipf");
}

value adaptation_index2(evaluation& e) {
  const value& pt = e.get(fid::peak_time);
  if (!pt.ok) return pt;
  if (pt.values.size() < 4) return fail(needs(4, "spikes", pt.values.size()));
  const std::vector<double> in = times_in_stimulus(e, pt.values);
  if (in.size() < 4) return fail(needs(4, "spikes within the stimulus", in.size()));
  // eFEL counts the 4 spikes before dropping the first.
  return adaptation(in, 1, 3, "needs 4 spikes within the stimulus");
}

// ---- spike shape ----------------------------------------------------------------------

value AP_height(evaluation& e) { return e.get(fid::peak_voltage); }

value AP_amplitude(evaluation& e) {
  const index_list& begin = e.ctx.ap_begin_indices();
  if (!begin.ok) return fail(begin.reason);
  const value& pv = e.get(fid::peak_voltage);
  if (!pv.ok) return pv;
  const value& pt = e.get(fid::peak_time);
  std::vector<double> during;
  for (std::size_t i = 0; i < pt.values.size(); ++i) {
    if (pt.values[i] >= e.ctx.stim_start() && pt.values[i] <= e.ctx.stim_end()) {
      during.push_back(pv.values[i]);
    }
  }
  if (during.size() > begin.idx.size()) {
    return fail("more spikes during the stimulus than AP onsets found");
  }
  for (std::size_t i = 0; i < during.size(); ++i) during[i] -= e.ctx.v()[begin.idx[i]];
  return result(std::move(during), "no spikes during the stimulus");
}

// Every peak, in or out of the stimulus, against one baseline (unlike AP_amplitude, which
// needs an onset per spike): usable at dendritic sites where a back-propagating spike has no
// sharp onset.
value AP_amplitude_from_voltagebase(evaluation& e) {
  const value& base = e.get(fid::voltage_base);
  if (!base.ok) return base;
  const value& pv = e.get(fid::peak_voltage);
  if (!pv.ok) return pv;
  std::vector<double> out;
  for (double peak : pv.values) out.push_back(peak - base.values[0]);
  return result(std::move(out), "no spikes");
}

value AP1_amp(evaluation& e) {
  const value& a = e.get(fid::AP_amplitude);
  if (!a.ok) return a;
  return scalar(a.values.front());
}

value AP2_amp(evaluation& e) {
  const value& a = e.get(fid::AP_amplitude);
  if (!a.ok) return a;
  if (a.values.size() < 2) return fail(needs(2, "AP amplitudes", a.values.size()));
  return scalar(a.values[1]);
}

value APlast_amp(evaluation& e) {
  const value& a = e.get(fid::AP_amplitude);
  if (!a.ok) return a;
  return scalar(a.values.back());
}

value mean_AP_amplitude(evaluation& e) {
  const value& a = e.get(fid::AP_amplitude);
  if (!a.ok) return a;
  double sum = 0.0;
  for (double x : a.values) sum += x;
  return scalar(sum / static_cast<double>(a.values.size()));
}

value AP_begin_voltage(evaluation& e) {
  const index_list& begin = e.ctx.ap_begin_indices();
  if (!begin.ok) return fail(begin.reason);
  std::vector<double> out;
  for (std::size_t k : begin.idx) out.push_back(e.ctx.v()[k]);
  return result(std::move(out), "no AP onsets");
}

value AP_begin_time(evaluation& e) {
  const index_list& begin = e.ctx.ap_begin_indices();
  if (!begin.ok) return fail(begin.reason);
  std::vector<double> out;
  for (std::size_t k : begin.idx) out.push_back(e.ctx.t()[k]);
  return result(std::move(out), "no AP onsets");
}

value AP_width(evaluation& e) {
  const index_list& peaks = e.ctx.peak_indices();
  if (!peaks.ok) return fail(peaks.reason);
  const index_list& ahp = e.ctx.min_ahp_indices();
  if (!ahp.ok) return fail(ahp.reason);
  const std::vector<double>& t = e.ctx.t();
  const std::vector<double>& v = e.ctx.v();
  const double thr = e.ctx.config().threshold_mv;
  // Segments [0 or stimulus onset, AHP 1), [AHP 1, AHP 2), ...: in each, the time from the
  // first sample at or above the threshold to the next one at or below it.
  std::vector<std::size_t> bounds;
  if (e.ctx.config().strict_stiminterval) {
    const std::size_t from = e.ctx.first_at_or_after(e.ctx.stim_start());
    const std::size_t to = e.ctx.first_at_or_after(e.ctx.stim_end());
    bounds.push_back(from);
    for (std::size_t k : ahp.idx) {
      if (from < k && k < to) bounds.push_back(k);
    }
  } else {
    bounds.push_back(0);
    bounds.insert(bounds.end(), ahp.idx.begin(), ahp.idx.end());
  }
  std::vector<double> width;
  for (std::size_t i = 0; i + 1 < bounds.size(); ++i) {
    std::size_t onset = bounds[i];
    while (onset < bounds[i + 1] && !(v[onset] >= thr)) ++onset;
    std::size_t end = onset;
    while (end < bounds[i + 1] && !(v[end] <= thr)) ++end;
    width.push_back(t[end] - t[onset]);
  }
  return result(std::move(width), "no AHP minimum to end a spike");
}

value AP_duration(evaluation& e) {
  const index_list& begin = e.ctx.ap_begin_indices();
  if (!begin.ok) return fail(begin.reason);
  const index_list& end = e.ctx.ap_end_indices();
  if (!end.ok) return fail(end.reason);
  const std::size_t m = std::min(begin.idx.size(), end.idx.size());
  std::vector<double> out(m);
  for (std::size_t i = 0; i < m; ++i) out[i] = e.ctx.t()[end.idx[i]] - e.ctx.t()[begin.idx[i]];
  return result(std::move(out), "no AP onset with an end");
}

value AP_duration_half_width(evaluation& e) {
  const index_list& rise = e.ctx.ap_rise_indices();
  if (!rise.ok) return fail(rise.reason);
  const index_list& fall = e.ctx.ap_fall_indices();
  if (!fall.ok) return fail(fall.reason);
  std::vector<double> out(rise.idx.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = e.ctx.t()[fall.idx[i]] - e.ctx.t()[rise.idx[i]];
  }
  return result(std::move(out), "no half-height crossings");
}

value min_AHP_values(evaluation& e) {
  const index_list& ahp = e.ctx.min_ahp_indices();
  if (!ahp.ok) return fail(ahp.reason);
  std::vector<double> out;
  for (std::size_t k : ahp.idx) out.push_back(e.ctx.v()[k]);
  return result(std::move(out), "no AHP minima");
}

value AHP_depth_abs(evaluation& e) { return e.get(fid::min_AHP_values); }

value AHP_depth(evaluation& e) {
  const value& base = e.get(fid::voltage_base);
  if (!base.ok) return base;
  const value& mins = e.get(fid::min_AHP_values);
  if (!mins.ok) return mins;
  std::vector<double> out;
  for (double m : mins.values) out.push_back(m - base.values[0]);
  return result(std::move(out), "no AHP minima");
}

// The minimum from sahp_start after each spike but the first and last to the next spike,
// as an index per spike pair (spikes 2..n-1).
struct slow_ahp {
  bool ok = false;
  std::string reason;
  std::vector<std::size_t> idx;
};

slow_ahp find_slow_ahp(evaluation& e) {
  slow_ahp r;
  const index_list& peaks = e.ctx.peak_indices();
  if (!peaks.ok) {
    r.reason = peaks.reason;
    return r;
  }
  const std::vector<std::size_t>& p = peaks.idx;
  if (p.size() < 3) {
    r.reason = needs(3, "spikes", p.size());
    return r;
  }
  const std::vector<double>& t = e.ctx.t();
  const std::vector<double>& v = e.ctx.v();
  for (std::size_t i = 0; i + 2 < p.size(); ++i) {
    const double t_start = t[p[i + 1]] + e.ctx.config().sahp_start_ms;
    std::size_t from = p[i + 1];
    while (from < p[i + 2] && !(t[from] >= t_start)) ++from;
    std::size_t best = p[i + 2];
    for (std::size_t k = from; k < p[i + 2]; ++k) {
      if (best == p[i + 2] || v[k] < v[best]) best = k;
    }
    r.idx.push_back(best);
  }
  r.ok = true;
  return r;
}

value AHP_depth_abs_slow(evaluation& e) {
  const slow_ahp s = find_slow_ahp(e);
  if (!s.ok) return fail(s.reason);
  std::vector<double> out;
  for (std::size_t k : s.idx) out.push_back(e.ctx.v()[k]);
  return result(std::move(out), "no slow AHP");
}

value AHP_slow_time(evaluation& e) {
  const slow_ahp s = find_slow_ahp(e);
  if (!s.ok) return fail(s.reason);
  const std::vector<double>& t = e.ctx.t();
  const std::vector<std::size_t>& p = e.ctx.peak_indices().idx;
  std::vector<double> out;
  for (std::size_t i = 0; i < s.idx.size(); ++i) {
    out.push_back((t[s.idx[i]] - t[p[i + 1]]) / (t[p[i + 2]] - t[p[i + 1]]));
  }
  return result(std::move(out), "no slow AHP");
}

value AHP_depth_slow(evaluation& e) {
  const value& base = e.get(fid::voltage_base);
  if (!base.ok) return base;
  const value& slow = e.get(fid::AHP_depth_abs_slow);
  if (!slow.ok) return slow;
  std::vector<double> out;
  for (double m : slow.values) out.push_back(m - base.values[0]);
  return result(std::move(out), "no slow AHP");
}

value fast_AHP(evaluation& e) {
  const index_list& begin = e.ctx.ap_begin_indices();
  if (!begin.ok) return fail(begin.reason);
  const index_list& ahp = e.ctx.min_ahp_indices();
  if (!ahp.ok) return fail(ahp.reason);
  // One value per onset but the last (eFEL's definition): V at the onset minus the AHP
  // minimum after that spike.
  std::vector<double> out(begin.idx.size() - 1);
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (i >= ahp.idx.size()) {
      return fail("fewer AHP minima than AP onsets (eFEL reads past its array here)");
    }
    out[i] = e.ctx.v()[begin.idx[i]] - e.ctx.v()[ahp.idx[i]];
  }
  return result(std::move(out), needs(2, "AP onsets", begin.idx.size()).c_str());
}

// ---- subthreshold ---------------------------------------------------------------------

value voltage_base(evaluation& e) {
  const settings& s = e.ctx.config();
  const std::vector<double>& t = e.ctx.t();
  const std::vector<double>& v = e.ctx.v();
  const double from = e.ctx.stim_start() * s.voltage_base_start_perc;
  const double to = e.ctx.stim_start() * s.voltage_base_end_perc;
  if (from >= to) {
    return fail("empty voltage_base window [" + number(from) + ", " + number(to) +
                "] ms (stim_start * voltage_base_start/end_perc)");
  }
  // eFEL's get_time_index: the first sample at or after `from` (0 if none) to the last
  // sample not after `to` (within precision_threshold).
  std::size_t first = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] >= from) {
      first = i;
      break;
    }
  }
  std::size_t last = t.size();
  for (std::size_t i = t.size() - 1; i > 0; --i) {
    if (t[i] - to < s.precision_threshold) {
      last = i + 1;
      break;
    }
  }
  if (first >= last) return fail("no samples in the voltage_base window");
  std::vector<double> w(v.begin() + static_cast<std::ptrdiff_t>(first),
                        v.begin() + static_cast<std::ptrdiff_t>(last));
  if (s.base_mode == voltage_base_mode::mean) {
    return scalar(std::accumulate(w.begin(), w.end(), 0.0) / static_cast<double>(w.size()));
  }
  std::sort(w.begin(), w.end());
  const std::size_t n = w.size();
  return scalar(n % 2 != 0 ? w[n / 2] : (w[(n - 1) / 2] + w[n / 2]) / 2.0);
}

value steady_state_voltage(evaluation& e) {
  const std::vector<double>& t = e.ctx.t();
  const std::vector<double>& v = e.ctx.v();
  // Summed backwards from the end, as eFEL sums.
  double sum = 0;
  int count = 0;
  for (std::size_t i = t.size(); i > 0 && t[i - 1] > e.ctx.stim_end(); --i) {
    sum += v[i - 1];
    ++count;
  }
  if (count == 0) return fail("no samples after stim_end");
  return scalar(sum / count);
}

value steady_state_voltage_stimend(evaluation& e) {
  const std::vector<double>& v = e.ctx.v();
  const double end = e.ctx.stim_end(), start = e.ctx.stim_start();
  const std::size_t from = e.ctx.first_at_or_after(end - 0.1 * (end - start));
  const std::size_t to = e.ctx.first_at_or_after(end);
  if (to <= from) return fail("no samples in the last 10% of the stimulus");
  const double sum = std::accumulate(v.begin() + static_cast<std::ptrdiff_t>(from),
                                     v.begin() + static_cast<std::ptrdiff_t>(to), 0.0);
  return scalar(sum / static_cast<double>(to - from));
}

value voltage_deflection(evaluation& e) {
  const std::vector<double>& t = e.ctx.t();
  const std::vector<double>& v = e.ctx.v();
  constexpr std::size_t window = 5;
  // Mean before stim_start against the mean of the 5 samples that end 5 samples before the
  // first sample after stim_end.
  std::size_t end_index = 0;
  double base = 0.;
  int base_size = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] < e.ctx.stim_start()) {
      base += v[i];
      ++base_size;
    }
    if (t[i] > e.ctx.stim_end()) {
      end_index = i;
      break;
    }
  }
  if (base_size == 0) return fail("no samples before stim_start");
  base /= base_size;
  if (!(end_index >= 2 * window && end_index - window < v.size())) {
    return fail("fewer than 10 samples before the first sample after stim_end, or none after it");
  }
  double wind = 0.;
  for (std::size_t i = end_index - 2 * window; i < end_index - window; ++i) wind += v[i];
  wind /= window;
  return scalar(wind - base);
}

value voltage_deflection_vb_ssse(evaluation& e) {
  const value& base = e.get(fid::voltage_base);
  if (!base.ok) return base;
  const value& ss = e.get(fid::steady_state_voltage_stimend);
  if (!ss.ok) return ss;
  return scalar(ss.values[0] - base.values[0]);
}

value ohmic(const value& deflection, double current) {
  if (!deflection.ok) return deflection;
  if (current == 0) {
    return fail(
        "stimulus current is zero (give the step's current: --current of cellfit features, "
        "stimulus_current of a feature target, stimulus_current_na in Python)");
  }
  return scalar(deflection.values[0] / current);
}

value ohmic_input_resistance(evaluation& e) {
  return ohmic(e.get(fid::voltage_deflection), e.ctx.stimulus_current());
}

value ohmic_input_resistance_vb_ssse(evaluation& e) {
  return ohmic(e.get(fid::voltage_deflection_vb_ssse), e.ctx.stimulus_current());
}

value decay_time_constant_after_stim(evaluation& e) {
  const settings& s = e.ctx.config();
  if (s.decay_start_after_stim_ms >= s.decay_end_after_stim_ms) {
    return fail("decay_start_after_stim_ms must be less than decay_end_after_stim_ms");
  }
  const std::vector<double>& t = e.ctx.t();
  const std::vector<double>& v = e.ctx.v();
  const std::size_t start_index = e.ctx.first_at_or_after(e.ctx.stim_start());
  if (start_index >= t.size()) return fail("stim_start after the end of the trace");
  const std::size_t from = e.ctx.first_at_or_after(e.ctx.stim_end() + s.decay_start_after_stim_ms);
  const std::size_t to = e.ctx.first_at_or_after(e.ctx.stim_end() + s.decay_end_after_stim_ms);
  if (to <= from) return fail("no samples in the decay window after stim_end");
  // Straight-line fit of log|V - V(stim_start)| against t; eFEL's sums, in its order.
  const double reference = v[start_index];
  double sx = 0., sy = 0., sxx = 0., sxy = 0.;
  for (std::size_t i = from; i < to; ++i) {
    const double x = t[i], y = std::log(std::abs(v[i] - reference));
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const double n = static_cast<double>(to - from);
  const double delta = n * sxx - sx * sx;
  const double slope = (n * sxy - sx * sy) / delta;
  return scalar(std::abs(-1.0 / slope));
}

// eFEL's maxmin_voltage: over [first sample at or after stim_start, first sample at or
// after min(stim_end, last time)); the sample at the end if that range is empty.
value extreme_voltage(evaluation& e, bool maximum) {
  const std::vector<double>& t = e.ctx.t();
  const std::vector<double>& v = e.ctx.v();
  if (e.ctx.stim_start() > t.back()) return fail("stim_start after the end of the trace");
  const double end = std::min(e.ctx.stim_end(), t.back());
  const std::size_t from = e.ctx.first_at_or_after(e.ctx.stim_start());
  const std::size_t to = e.ctx.first_at_or_after(end);
  if (from >= t.size() || to >= t.size()) return fail("stimulus outside the trace");
  if (from >= to) return scalar(v[to]);
  const auto b = v.begin() + static_cast<std::ptrdiff_t>(from);
  const auto en = v.begin() + static_cast<std::ptrdiff_t>(to);
  return scalar(maximum ? *std::max_element(b, en) : *std::min_element(b, en));
}

value minimum_voltage(evaluation& e) { return extreme_voltage(e, false); }
value maximum_voltage(evaluation& e) { return extreme_voltage(e, true); }

value maximum_voltage_from_voltagebase(evaluation& e) {
  const value& mx = e.get(fid::maximum_voltage);
  if (!mx.ok) return mx;
  const value& base = e.get(fid::voltage_base);
  if (!base.ok) return base;
  return scalar(mx.values[0] - base.values[0]);
}

value sag_amplitude(evaluation& e) {
  const value& ss = e.get(fid::steady_state_voltage_stimend);
  if (!ss.ok) return ss;
  const value& defl = e.get(fid::voltage_deflection_vb_ssse);
  if (!defl.ok) return defl;
  const value& mn = e.get(fid::minimum_voltage);
  if (!mn.ok) return mn;
  if (defl.values[0] > 0) return fail("the voltage deflection is positive (no hyperpolarisation)");
  return scalar(ss.values[0] - mn.values[0]);
}

value sag_ratio1(evaluation& e) {
  const value& sag = e.get(fid::sag_amplitude);
  if (!sag.ok) return sag;
  const value& base = e.get(fid::voltage_base);
  const value& mn = e.get(fid::minimum_voltage);
  if (mn.values[0] == base.values[0]) return fail("voltage_base equals minimum_voltage");
  return scalar(sag.values[0] / (base.values[0] - mn.values[0]));
}

value sag_ratio2(evaluation& e) {
  const value& base = e.get(fid::voltage_base);
  if (!base.ok) return base;
  const value& mn = e.get(fid::minimum_voltage);
  if (!mn.ok) return mn;
  const value& ss = e.get(fid::steady_state_voltage_stimend);
  if (!ss.ok) return ss;
  if (mn.values[0] == base.values[0]) return fail("voltage_base equals minimum_voltage");
  return scalar((base.values[0] - ss.values[0]) / (base.values[0] - mn.values[0]));
}

// ---- the table --------------------------------------------------------------------------

#define CELLFIT_FEATURE(name) \
  entry { fid::name, #name, &name }

const std::array<entry, n_features>& table() {
  static const std::array<entry, n_features> t = {{
      CELLFIT_FEATURE(spike_count),
      CELLFIT_FEATURE(spike_count_stimint),
      CELLFIT_FEATURE(Spikecount),
      CELLFIT_FEATURE(Spikecount_stimint),
      CELLFIT_FEATURE(peak_time),
      CELLFIT_FEATURE(peak_voltage),
      CELLFIT_FEATURE(mean_frequency),
      CELLFIT_FEATURE(time_to_first_spike),
      CELLFIT_FEATURE(time_to_second_spike),
      CELLFIT_FEATURE(time_to_last_spike),
      CELLFIT_FEATURE(inv_time_to_first_spike),
      CELLFIT_FEATURE(all_ISI_values),
      CELLFIT_FEATURE(ISI_values),
      CELLFIT_FEATURE(inv_first_ISI),
      CELLFIT_FEATURE(inv_last_ISI),
      CELLFIT_FEATURE(ISI_CV),
      CELLFIT_FEATURE(doublet_ISI),
      CELLFIT_FEATURE(adaptation_index),
      CELLFIT_FEATURE(adaptation_index2),
      CELLFIT_FEATURE(AP_height),
      CELLFIT_FEATURE(AP_amplitude),
      CELLFIT_FEATURE(AP_amplitude_from_voltagebase),
      CELLFIT_FEATURE(AP1_amp),
      CELLFIT_FEATURE(AP2_amp),
      CELLFIT_FEATURE(APlast_amp),
      CELLFIT_FEATURE(mean_AP_amplitude),
      CELLFIT_FEATURE(AP_begin_voltage),
      CELLFIT_FEATURE(AP_begin_time),
      CELLFIT_FEATURE(AP_width),
      CELLFIT_FEATURE(AP_duration),
      CELLFIT_FEATURE(AP_duration_half_width),
      CELLFIT_FEATURE(min_AHP_values),
      CELLFIT_FEATURE(AHP_depth_abs),
      CELLFIT_FEATURE(AHP_depth),
      CELLFIT_FEATURE(AHP_depth_abs_slow),
      CELLFIT_FEATURE(AHP_slow_time),
      CELLFIT_FEATURE(AHP_depth_slow),
      CELLFIT_FEATURE(fast_AHP),
      CELLFIT_FEATURE(voltage_base),
      CELLFIT_FEATURE(steady_state_voltage),
      CELLFIT_FEATURE(steady_state_voltage_stimend),
      CELLFIT_FEATURE(voltage_deflection),
      CELLFIT_FEATURE(voltage_deflection_vb_ssse),
      CELLFIT_FEATURE(ohmic_input_resistance),
      CELLFIT_FEATURE(ohmic_input_resistance_vb_ssse),
      CELLFIT_FEATURE(decay_time_constant_after_stim),
      CELLFIT_FEATURE(minimum_voltage),
      CELLFIT_FEATURE(maximum_voltage),
      CELLFIT_FEATURE(maximum_voltage_from_voltagebase),
      CELLFIT_FEATURE(sag_amplitude),
      CELLFIT_FEATURE(sag_ratio1),
      CELLFIT_FEATURE(sag_ratio2),
  }};
  return t;
}

#undef CELLFIT_FEATURE

const value& evaluation::get(fid f) {
  auto& slot = memo_[static_cast<std::size_t>(f)];
  if (!slot) {
    if (!ctx.usable()) {
      slot = fail(ctx.unusable_reason());
    } else {
      slot = table()[static_cast<std::size_t>(f)].fn(*this);
    }
  }
  return *slot;
}

// Position of `name` in the table, or n_features.
std::size_t find(const std::string& name) {
  const auto& t = table();
  for (std::size_t k = 0; k < t.size(); ++k) {
    if (name == t[k].name) return k;
  }
  return n_features;
}

std::vector<fid> resolve(const std::vector<std::string>& names) {
  check_names(names);
  std::vector<fid> ids;
  ids.reserve(names.size());
  for (const auto& nm : names) ids.push_back(static_cast<fid>(find(nm)));
  return ids;
}

std::vector<value> compute_ids(const trace& tr, const std::vector<fid>& ids, const settings& s) {
  evaluation e(tr, s);
  std::vector<value> out;
  out.reserve(ids.size());
  for (fid f : ids) out.push_back(e.get(f));
  return out;
}

}  // namespace

void check_settings(const settings& s) {
  auto bad = [](const std::string& what) {
    throw config_error("cellfit::features: setting " + what);
  };
  if (!(s.interp_step_ms > 0) || !std::isfinite(s.interp_step_ms)) {
    bad("interp_step_ms = " + number(s.interp_step_ms) + ": must be > 0");
  }
  if (!std::isfinite(s.threshold_mv)) bad("threshold_mv must be finite");
  if (!std::isfinite(s.derivative_threshold)) bad("derivative_threshold must be finite");
  if (!std::isfinite(s.down_derivative_threshold)) bad("down_derivative_threshold must be finite");
  if (s.derivative_window < 1) {
    bad("derivative_window = " + std::to_string(s.derivative_window) + ": must be >= 1");
  }
  if (!(s.spike_skipf >= 0 && s.spike_skipf < 1)) {
    bad("spike_skipf = " + number(s.spike_skipf) + ": must lie in [0, 1)");
  }
  if (s.max_spike_skip < 0) bad("max_spike_skip must be >= 0");
  if (!std::isfinite(s.sahp_start_ms)) bad("sahp_start_ms must be finite");
  if (!(s.decay_start_after_stim_ms < s.decay_end_after_stim_ms)) {
    bad("decay_start_after_stim_ms must be less than decay_end_after_stim_ms");
  }
}

const std::vector<std::pair<std::string, setting_type>>& efel_setting_names() {
  static const std::vector<std::pair<std::string, setting_type>> names = {
      {"Threshold", setting_type::number},
      {"DerivativeThreshold", setting_type::number},
      {"DownDerivativeThreshold", setting_type::number},
      {"interp_step", setting_type::number},
      {"DerivativeWindow", setting_type::integer},
      {"spike_skipf", setting_type::number},
      {"max_spike_skip", setting_type::integer},
      {"voltage_base_start_perc", setting_type::number},
      {"voltage_base_end_perc", setting_type::number},
      {"voltage_base_mode", setting_type::text},
      {"precision_threshold", setting_type::number},
      {"sahp_start", setting_type::number},
      {"ignore_first_ISI", setting_type::boolean},
      {"strict_stiminterval", setting_type::boolean},
  };
  return names;
}

void apply(settings& s, const named_setting& x) {
  auto bad = [&](const std::string& why) {
    const std::string shown = x.text.empty() ? number(x.number) : "\"" + x.text + "\"";
    throw config_error("cellfit::features: setting " + x.name + " = " + shown + ": " + why);
  };
  const auto& names = efel_setting_names();
  const auto it =
      std::find_if(names.begin(), names.end(), [&](const auto& n) { return n.first == x.name; });
  if (it == names.end()) bad("not an eFEL setting cellfit implements");
  const double v = x.number;
  switch (it->second) {
    case setting_type::number:
      if (!std::isfinite(v)) bad("not a finite number");
      break;
    case setting_type::integer:
      if (!(std::abs(v) < 1e9) || v != std::floor(v)) bad("not an integer");
      break;
    case setting_type::boolean:
      if (v != 0 && v != 1) bad("not a boolean (true, false, 1 or 0)");
      break;
    case setting_type::text:
      if (x.text != "mean" && x.text != "median") {
        bad("expected \"mean\" or \"median\"");
      }
      break;
  }
  const std::string& n = x.name;
  if (n == "Threshold") s.threshold_mv = v;
  if (n == "DerivativeThreshold") s.derivative_threshold = v;
  if (n == "DownDerivativeThreshold") s.down_derivative_threshold = v;
  if (n == "interp_step") s.interp_step_ms = v;
  if (n == "DerivativeWindow") s.derivative_window = static_cast<int>(v);
  if (n == "spike_skipf") s.spike_skipf = v;
  if (n == "max_spike_skip") s.max_spike_skip = static_cast<int>(v);
  if (n == "voltage_base_start_perc") s.voltage_base_start_perc = v;
  if (n == "voltage_base_end_perc") s.voltage_base_end_perc = v;
  if (n == "voltage_base_mode") {
    s.base_mode = x.text == "median" ? voltage_base_mode::median : voltage_base_mode::mean;
  }
  if (n == "precision_threshold") s.precision_threshold = v;
  if (n == "sahp_start") s.sahp_start_ms = v;
  if (n == "ignore_first_ISI") s.ignore_first_isi = v != 0;
  if (n == "strict_stiminterval") s.strict_stiminterval = v != 0;
}

const std::vector<std::string>& available() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (std::size_t k = 0; k < table().size(); ++k) {
      if (static_cast<std::size_t>(table()[k].id) != k) {
        throw internal_error("cellfit::features: feature table out of order at " +
                             std::string(table()[k].name));
      }
      n.emplace_back(table()[k].name);
    }
    return n;
  }();
  return names;
}

bool is_known(const std::string& name) { return find(name) < n_features; }

void check_names(const std::vector<std::string>& names) {
  for (const auto& nm : names) {
    if (is_known(nm)) continue;
    std::string known;
    for (const auto& k : available()) known += (known.empty() ? "" : ", ") + k;
    throw config_error("cellfit::features: unknown feature '" + nm + "'" +
                       did_you_mean(nm, available()) + " (known: " + known + ")");
  }
}

std::vector<value> compute(const trace& tr, const std::vector<std::string>& names,
                           const settings& s) {
  return compute_ids(tr, resolve(names), s);
}

std::vector<std::vector<value>> compute_batch(const std::vector<trace>& traces,
                                              const std::vector<std::string>& names,
                                              const settings& s, unsigned n_threads) {
  const std::vector<fid> ids = resolve(names);
  std::vector<std::vector<value>> out(traces.size());
  if (n_threads == 0) n_threads = std::max(1u, std::thread::hardware_concurrency());
  const std::size_t n_workers = std::min<std::size_t>(n_threads, traces.size());
  if (n_workers <= 1) {
    for (std::size_t k = 0; k < traces.size(); ++k) out[k] = compute_ids(traces[k], ids, s);
    return out;
  }
  // Each trace is computed by exactly one worker into its own slot, so the result does not
  // depend on the number of workers or on scheduling.
  std::atomic<std::size_t> next{0};
  std::vector<std::exception_ptr> errors(n_workers);
  auto work = [&](std::size_t w) {
    try {
      for (std::size_t k = next++; k < traces.size(); k = next++) {
        out[k] = compute_ids(traces[k], ids, s);
      }
    } catch (...) {
      errors[w] = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(n_workers - 1);
  for (std::size_t w = 1; w < n_workers; ++w) pool.emplace_back(work, w);
  work(0);
  for (auto& th : pool) th.join();
  for (const auto& err : errors) {
    if (err) std::rethrow_exception(err);
  }
  return out;
}

}  // namespace cellfit::features
