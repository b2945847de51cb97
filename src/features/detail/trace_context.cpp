#include "features/detail/trace_context.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace cellfit::features::detail {

namespace {

std::string number(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

index_list failed(std::string reason) {
  index_list r;
  r.reason = std::move(reason);
  return r;
}

index_list found(std::vector<std::size_t> idx, const char* empty_reason) {
  index_list r;
  if (idx.empty()) {
    r.reason = empty_reason;
  } else {
    r.ok = true;
    r.idx = std::move(idx);
  }
  return r;
}

}  // namespace

void resample(const double* x, const double* y, std::size_t n, double step, std::vector<double>& xi,
              std::vector<double>& yi) {
  xi.clear();
  yi.clear();
  const double start = x[0], stop = x[n - 1];
  // Accumulated, not start + k * step: eFEL (like numpy.arange) adds the step, and the
  // rounding decides which sample a threshold crossing lands on.
  const auto count = static_cast<std::size_t>(std::ceil((stop - start) / step));
  double at = start;
  for (std::size_t k = 0; k < count; ++k) {
    xi.push_back(at);
    at += step;
  }
  if (xi.back() < stop) xi.push_back(at);

  std::size_t j = 0;
  for (const double xk : xi) {
    while (x[j + 1] < xk) {
      ++j;
      if (j + 1 >= n) {
        j = n - 1;
        break;
      }
    }
    if (j == n - 1) {
      yi.push_back(y[j]);
      break;
    }
    const double slope = (y[j + 1] - y[j]) / (x[j + 1] - x[j]);
    yi.push_back(y[j] + slope * (xk - x[j]));
  }
  // eFEL stops filling values at the last input point; the times beyond it (never more
  // than rounding produces) have no voltage and are dropped.
  xi.resize(yi.size());
}

std::size_t first_local_min(const std::vector<double>& v, std::size_t begin, std::size_t end) {
  if (begin == end) return end;
  std::size_t lowest = begin, lowest_min = begin;
  int rises = 0;
  for (std::size_t k = begin + 1; k != end; ++k) {
    if (v[k] < v[lowest]) lowest = k;
    if (v[k] >= v[lowest_min]) ++rises;
    if (v[k] < v[lowest_min]) {
      rises = 0;
      lowest_min = k;
    }
    if (rises == 2) return lowest_min;
  }
  return lowest;
}

trace_context::trace_context(const trace& tr, const settings& s)
    : s_(s),
      stim_start_(tr.stim_start_ms),
      stim_end_(tr.stim_end_ms),
      current_(tr.stimulus_current_na) {
  if (tr.t_ms == nullptr || tr.v_mv == nullptr || tr.n < 3) {
    unusable_ = "trace too short: " + std::to_string(tr.n) + " samples (eFEL needs at least 3)";
    return;
  }
  for (std::size_t k = 0; k < tr.n; ++k) {
    if (std::isnan(tr.v_mv[k]) || std::isnan(tr.t_ms[k])) {
      unusable_ = "trace contains NaN (sample " + std::to_string(k) + ")";
      return;
    }
    if (!std::isfinite(tr.v_mv[k]) || !std::isfinite(tr.t_ms[k])) {
      unusable_ = "trace contains an infinite value (sample " + std::to_string(k) + ")";
      return;
    }
    // A repeated time stamp (NEURON's variable-step output at every event) is resampled the
    // way eFEL's LinearInterpolation takes it: the value before the event at that time, the
    // one after it afterwards. eFEL cannot interpolate a trace that starts with a repeat.
    if (k > 0 && (tr.t_ms[k] < tr.t_ms[k - 1] || (k == 1 && tr.t_ms[1] == tr.t_ms[0]))) {
      unusable_ =
          std::string(k == 1 && tr.t_ms[1] == tr.t_ms[0] ? "the first two time stamps are equal"
                                                         : "time decreases") +
          " at sample " + std::to_string(k) + " (" + number(tr.t_ms[k - 1]) + " then " +
          number(tr.t_ms[k]) + " ms)";
      return;
    }
  }
  if (!std::isfinite(stim_start_) || !std::isfinite(stim_end_)) {
    unusable_ = "stim_start/stim_end not finite";
    return;
  }
  if (!(stim_end_ > stim_start_)) {
    unusable_ = "stim_end (" + number(stim_end_) + " ms) must be greater than stim_start (" +
                number(stim_start_) + " ms)";
    return;
  }
  if (!(s.interp_step_ms > 0) || !std::isfinite(s.interp_step_ms)) {
    unusable_ = "interp_step_ms must be > 0";
    return;
  }
  if (s.derivative_window < 1) {
    unusable_ = "derivative_window must be >= 1";
    return;
  }
  if ((tr.t_ms[tr.n - 1] - tr.t_ms[0]) / s.interp_step_ms > 1e8) {
    unusable_ = "interp_step_ms too small for the trace's duration (over 1e8 samples)";
    return;
  }
  resample(tr.t_ms, tr.v_mv, tr.n, s.interp_step_ms, t_, v_);
  if (t_.size() < 3) {
    unusable_ = "trace too short: shorter than 3 resampling steps";
  }
}

std::size_t trace_context::first_at_or_after(double time) const {
  return static_cast<std::size_t>(
      std::find_if(t_.begin(), t_.end(), [time](double x) { return x >= time; }) - t_.begin());
}

const std::vector<double>& trace_context::dvdt() {
  if (!dvdt_) {
    // Both derivatives as eFEL forms them (forward/backward at the ends, central inside,
    // with a unit step), then divided sample by sample.
    const std::size_t n = v_.size();
    auto central = [n](const std::vector<double>& y, std::size_t i) {
      if (i == 0) return (y[1] - y[0]) / 1.0;
      if (i == n - 1) return (y[n - 1] - y[n - 2]) / 1.0;
      return ((y[i + 1] - y[i - 1]) / 2) / 1.0;
    };
    std::vector<double> d(n);
    for (std::size_t i = 0; i < n; ++i) d[i] = central(v_, i) / central(t_, i);
    dvdt_ = std::move(d);
  }
  return *dvdt_;
}

const index_list& trace_context::peak_indices() {
  if (!peaks_) peaks_ = find_peaks();
  return *peaks_;
}
const index_list& trace_context::min_ahp_indices() {
  if (!min_ahp_) min_ahp_ = find_min_ahp();
  return *min_ahp_;
}
const index_list& trace_context::ap_begin_indices() {
  if (!ap_begin_) ap_begin_ = find_ap_begin();
  return *ap_begin_;
}
const index_list& trace_context::ap_end_indices() {
  if (!ap_end_) ap_end_ = find_ap_end();
  return *ap_end_;
}
const index_list& trace_context::ap_rise_indices() {
  if (!ap_rise_) ap_rise_ = find_ap_rise();
  return *ap_rise_;
}
const index_list& trace_context::ap_fall_indices() {
  if (!ap_fall_) ap_fall_ = find_ap_fall();
  return *ap_fall_;
}

index_list trace_context::find_peaks() const {
  const double thr = s_.threshold_mv;
  const std::string at = " (threshold " + number(thr) + " mV)";
  std::vector<std::size_t> up, down;
  // Strict on both sides: a sample exactly at the threshold is neither below nor above.
  for (std::size_t i = 1; i < v_.size(); ++i) {
    if (v_[i] > thr && v_[i - 1] < thr) {
      up.push_back(i);
    } else if (v_[i] < thr && v_[i - 1] > thr) {
      down.push_back(i);
    }
  }
  if (down.empty()) {
    return failed(up.empty() ? "no spikes: the voltage never crosses the threshold" + at
                             : "no complete spike: the voltage crosses the threshold upwards "
                               "but never back down" +
                                   at);
  }
  if (up.empty()) {
    return failed("no spikes: the voltage never rises through the threshold" + at);
  }
  // A trace that starts above the threshold: its first downward crossing ends no spike.
  while (!down.empty() && down.front() < up.front()) down.erase(down.begin());
  // A spike still above the threshold at the end of the trace is not counted.
  if (up.size() > down.size()) up.resize(down.size());

  std::vector<std::size_t> peaks;
  for (std::size_t i = 0; i < up.size(); ++i) {
    double best = -1e9;
    std::size_t at_best = 0;
    bool set = false;
    for (std::size_t j = up[i]; j <= down[i]; ++j) {
      if (best < v_[j]) {
        best = v_[j];
        at_best = j;
        set = true;
      }
    }
    if (!set) continue;
    if (s_.strict_stiminterval && !(t_[at_best] >= stim_start_ && t_[at_best] <= stim_end_)) {
      continue;
    }
    peaks.push_back(at_best);
  }
  if (peaks.empty()) {
    return failed(s_.strict_stiminterval
                      ? "no spikes within the stimulus (strict_stiminterval)"
                      : "no complete spike: the voltage crosses the threshold upwards but "
                        "ends above it" +
                            at);
  }
  return found(std::move(peaks), "no spikes");
}

index_list trace_context::find_min_ahp() {
  const index_list& peaks = peak_indices();
  if (!peaks.ok) return peaks;
  const std::size_t end = s_.strict_stiminterval ? first_at_or_after(stim_end_) : t_.size();
  std::vector<std::size_t> bounds = peaks.idx;
  bounds.push_back(end);
  std::vector<std::size_t> ahp;
  for (std::size_t i = 0; i + 1 < bounds.size(); ++i) {
    // eFEL would read outside the trace here; no peak lies past `end` unless strict.
    if (bounds[i] > bounds[i + 1]) continue;
    const std::size_t k = first_local_min(v_, bounds[i], bounds[i + 1]);
    // A minimum on the last sample is the trace running out, not an AHP.
    if (k != end - 1) ahp.push_back(k);
  }
  return found(std::move(ahp),
               "no AHP minimum: the voltage still falls at the end of the trace after the "
               "only spike");
}

index_list trace_context::find_ap_begin() {
  const index_list& peaks = peak_indices();
  if (!peaks.ok) return peaks;
  const std::vector<double>& d = dvdt();
  const double dth = s_.derivative_threshold;
  const std::size_t n = v_.size();
  const auto width = static_cast<std::size_t>(s_.derivative_window);
  const std::size_t stim_begin = first_at_or_after(stim_start_);

  // Search windows: from (just before) the stimulus onset to the first spike, then from
  // each AHP minimum to the next spike. Without AHP minima (one spike whose minimum is the
  // trace's last sample) eFEL goes on with the onset window alone.
  std::vector<std::size_t> minima;
  minima.push_back(stim_begin > 1 ? stim_begin - 2 : 0);
  const index_list& ahp = min_ahp_indices();
  if (ahp.ok) {
    for (std::size_t k : ahp.idx) {
      if (k > stim_begin) minima.push_back(k);
    }
  }
  std::vector<std::size_t> after;
  for (std::size_t p : peaks.idx) {
    if (p > stim_begin) after.push_back(p);
  }
  if (minima.size() < after.size()) {
    return failed("more spikes than AHP minima to search AP onsets from");
  }
  if (n < width) return failed("trace shorter than derivative_window");

  std::vector<std::size_t> begins;
  for (std::size_t i = 0; i < after.size(); ++i) {
    std::size_t newbegin = after[i];
    std::size_t begin = minima[i];
    bool skip = false;
    for (;;) {
      // The last sample in [minima[i], newbegin) with dV/dt <= threshold, plus one: the
      // onset of the final rise (searching backwards avoids a crossing long before it).
      begin = minima[i];
      for (std::size_t k = newbegin; k > minima[i]; --k) {
        if (d[k - 1] <= dth) {
          begin = k;
          break;
        }
      }
      if (begin > n - width) begin = n - width;
      if (begin == minima[i]) {
        skip = true;  // no rise between these minima
        break;
      }
      newbegin = begin - 1;
      // The rise must stay above the threshold for derivative_window samples.
      bool steady = true;
      for (std::size_t k = begin; k < begin + width; ++k) {
        if (d[k] < dth) {
          steady = false;
          break;
        }
      }
      if (steady) break;
    }
    if (!skip) begins.push_back(begin);
  }
  return found(std::move(begins),
               "no AP onset: dV/dt never rises above derivative_threshold "
               "before a spike");
}

index_list trace_context::find_ap_end() {
  const index_list& peaks = peak_indices();
  if (!peaks.ok) return peaks;
  const std::vector<double>& d = dvdt();
  const double dth = s_.down_derivative_threshold;
  const std::size_t n = v_.size();
  const std::size_t stim_begin = first_at_or_after(stim_start_);
  std::vector<std::size_t> bounds;
  for (std::size_t p : peaks.idx) {
    if (p > stim_begin) bounds.push_back(p);
  }
  bounds.push_back(n - 1);
  std::vector<std::size_t> ends;
  for (std::size_t i = 0; i + 1 < bounds.size(); ++i) {
    const std::size_t from = bounds[i] + 1, to = bounds[i + 1];
    if (from >= to || from >= n || to >= n) continue;
    // From the steepest fall, the first sample where the fall has slowed past the
    // threshold.
    const auto steepest = std::min_element(d.begin() + from, d.begin() + to);
    const auto slowed =
        std::find_if(steepest, d.begin() + to, [dth](double x) { return x >= dth; });
    if (slowed != d.begin() + to) ends.push_back(static_cast<std::size_t>(slowed - d.begin()));
  }
  return found(std::move(ends),
               "no AP end: the repolarisation never slows past "
               "down_derivative_threshold");
}

index_list trace_context::find_ap_rise() {
  const index_list& begin = ap_begin_indices();
  if (!begin.ok) return begin;
  const std::vector<std::size_t>& peaks = peak_indices().idx;
  // eFEL pairs the i-th onset with the i-th peak of the whole trace.
  const std::size_t m = std::min(begin.idx.size(), peaks.size());
  std::vector<std::size_t> rise(m);
  for (std::size_t i = 0; i < m; ++i) {
    const std::size_t b = begin.idx[i], p = peaks[i];
    if (p < b) {
      return failed("AP onsets and peaks out of order (a spike before the stimulus?)");
    }
    const double half = (v_[p] + v_[b]) / 2.;
    std::size_t best = b;
    double best_dist = 0;
    for (std::size_t k = b; k < p; ++k) {
      const double dist = std::fabs(v_[k] - half);
      if (k == b || dist < best_dist) {
        best = k;
        best_dist = dist;
      }
    }
    rise[i] = best;
  }
  return found(std::move(rise), "no AP onset paired with a peak");
}

index_list trace_context::find_ap_fall() {
  const index_list& begin = ap_begin_indices();
  if (!begin.ok) return begin;
  const index_list& end = ap_end_indices();
  if (!end.ok) return end;
  const std::vector<std::size_t>& peaks = peak_indices().idx;
  const std::size_t n = v_.size();
  const std::size_t m = std::min(begin.idx.size(), peaks.size());
  // Entries that eFEL skips stay 0, as in eFEL (AP_duration_half_width then gives
  // t[0] - t[rise]: eFEL's value, meaningless as a width).
  std::vector<std::size_t> fall(m, 0);
  for (std::size_t i = 0; i < m; ++i) {
    // A spike without an AP end (the trace stops while it repolarises): eFEL reads past the
    // end of its array here, which in practice lands on a skipped entry; skip it.
    if (i >= end.idx.size()) continue;
    const std::size_t b = begin.idx[i], p = peaks[i], e = end.idx[i];
    if (p >= n || b >= n || e >= n || p > e) continue;
    const double half = (v_[p] + v_[b]) / 2.;
    std::size_t best = p;
    double best_dist = 0;
    for (std::size_t k = p; k < e; ++k) {
      const double dist = std::fabs(v_[k] - half);
      if (k == p || dist < best_dist) {
        best = k;
        best_dist = dist;
      }
    }
    fall[i] = best;
  }
  return found(std::move(fall), "no AP onset paired with a peak");
}

}  // namespace cellfit::features::detail
