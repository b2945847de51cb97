#include "features/sweep_statistics.hpp"

#include <cmath>

namespace cellfit::features {

std::vector<sweep_statistics> statistics_over_sweeps(const std::vector<std::vector<value>>& values,
                                                     const std::vector<std::string>& names,
                                                     const statistics_settings& s) {
  std::vector<sweep_statistics> out(names.size());
  for (std::size_t k = 0; k < names.size(); ++k) {
    sweep_statistics& r = out[k];
    r.feature = names[k];
    std::vector<double> x;
    std::string first_reason;
    for (std::size_t w = 0; w < values.size(); ++w) {
      const value& v = values[w][k];
      const double m = v.mean();
      if (v.ok && std::isfinite(m)) {
        x.push_back(m);
      } else if (first_reason.empty()) {
        first_reason = "sweep " + std::to_string(w) + ": " +
                       (v.reason.empty() ? std::string("not finite") : v.reason);
      }
    }
    r.n = static_cast<int>(x.size());
    if (r.n < s.min_values || x.empty()) {
      r.reason = std::to_string(r.n) + " of " + std::to_string(values.size()) +
                 " sweeps give the feature, " + std::to_string(std::max(1, s.min_values)) +
                 " needed" + (first_reason.empty() ? "" : " (" + first_reason + ")");
      continue;
    }
    double sum = 0;
    for (double v : x) sum += v;
    r.mean = sum / static_cast<double>(x.size());
    double ss = 0;
    for (double v : x) ss += (v - r.mean) * (v - r.mean);
    r.std = std::sqrt(ss / static_cast<double>(x.size()));
    if (r.std == 0.0) r.std = s.default_std;
    if (s.std_fraction > 0) {
      const double bound = r.mean == 0.0 ? s.std_fraction : std::abs(s.std_fraction * r.mean);
      if (r.std < bound) r.std = bound;
    }
    r.ok = true;
  }
  return out;
}

}  // namespace cellfit::features
