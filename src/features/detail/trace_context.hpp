#pragma once
// One trace resampled as eFEL resamples it, and the index-valued intermediates that eFEL's
// spike-shape features share (peaks, AHP minima, AP begin/end/rise/fall indices), each
// computed at most once, on first use. Not thread-safe: one context per trace and thread.
//
// Every algorithm follows eFEL 5.7's C++ core (SpikeEvent.cpp, SpikeShape.cpp, Utils.cpp)
// step for step, including its tie-breaking and its order of floating-point operations:
// a feature's value depends on which resampled sample an index lands on, so "nearly the
// same" arithmetic would move indices and change values by far more than rounding.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "features/feature_library.hpp"

namespace cellfit::features::detail {

// Indices into the resampled trace, or why there are none.
struct index_list {
  bool ok = false;
  std::vector<std::size_t> idx;
  std::string reason;
};

class trace_context {
 public:
  // Validates and resamples the trace; usable() says whether that worked.
  trace_context(const trace& tr, const settings& s);

  bool usable() const { return unusable_.empty(); }
  const std::string& unusable_reason() const { return unusable_; }

  const settings& config() const { return s_; }
  const std::vector<double>& t() const { return t_; }
  const std::vector<double>& v() const { return v_; }
  double stim_start() const { return stim_start_; }
  double stim_end() const { return stim_end_; }
  double stimulus_current() const { return current_; }

  // First index with t >= time (t().size() if none).
  std::size_t first_at_or_after(double time) const;

  // dV/dt from central differences of V and of t (eFEL's getCentralDifferenceDerivative).
  const std::vector<double>& dvdt();

  const index_list& peak_indices();
  const index_list& min_ahp_indices();
  const index_list& ap_begin_indices();
  const index_list& ap_end_indices();
  const index_list& ap_rise_indices();
  const index_list& ap_fall_indices();

 private:
  index_list find_peaks() const;
  index_list find_min_ahp();
  index_list find_ap_begin();
  index_list find_ap_end();
  index_list find_ap_rise();
  index_list find_ap_fall();

  settings s_;
  std::string unusable_;
  std::vector<double> t_, v_;
  double stim_start_ = 0, stim_end_ = 0, current_ = 0;
  std::optional<std::vector<double>> dvdt_;
  std::optional<index_list> peaks_, min_ahp_, ap_begin_, ap_end_, ap_rise_, ap_fall_;
};

// eFEL's LinearInterpolation: samples at x0, x0 + step, x0 + 2 step, ... (accumulated, as
// eFEL does) up to and including the first point at or past the last time, values linearly
// interpolated. Preconditions: n >= 3, x non-decreasing with x[1] > x[0], step > 0 (at a
// repeated x the segment ending there is used up to it, the one starting there after it).
void resample(const double* x, const double* y, std::size_t n, double step, std::vector<double>& xi,
              std::vector<double>& yi);

// eFEL's first_min_element: the first sample followed by two samples no lower than it, or
// the overall (first) minimum if there is none; `end` for an empty range.
std::size_t first_local_min(const std::vector<double>& v, std::size_t begin, std::size_t end);

}  // namespace cellfit::features::detail
