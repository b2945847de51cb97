#include "features/spike_trains.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace cellfit {

const char* spike_distance_name(spike_distance d) {
  switch (d) {
    case spike_distance::spike_time:
      return "spike_time";
    case spike_distance::gamma_factor:
      return "gamma_factor";
    case spike_distance::van_rossum:
      return "van_rossum";
  }
  return "?";
}

std::vector<double> threshold_crossings(const double* v, std::size_t n, double dt, double threshold,
                                        std::vector<std::size_t>& before) {
  std::vector<double> t;
  before.clear();
  for (std::size_t k = 0; k + 1 < n; ++k) {
    // False for NaN samples: a diverged trace has no spikes after it diverges.
    if (v[k] < threshold && v[k + 1] >= threshold) {
      t.push_back(dt * (static_cast<double>(k) + (threshold - v[k]) / (v[k + 1] - v[k])));
      before.push_back(k);
    }
  }
  return t;
}

std::vector<double> threshold_crossings(const double* v, std::size_t n, double dt,
                                        double threshold) {
  std::vector<std::size_t> before;
  return threshold_crossings(v, n, dt, threshold, before);
}

double spike_time_loss(const std::vector<double>& model, const std::vector<double>& target,
                       double miss_cost, double* dl_dt) {
  const std::size_t matched = std::min(model.size(), target.size());
  double loss = 0;
  for (std::size_t i = 0; i < matched; ++i) {
    const double e = model[i] - target[i];
    loss += e * e;
    if (dl_dt) dl_dt[i] = 2.0 * e;
  }
  if (dl_dt) std::fill(dl_dt + matched, dl_dt + model.size(), 0.0);
  const std::size_t unmatched = std::max(model.size(), target.size()) - matched;
  return loss + miss_cost * static_cast<double>(unmatched);
}

std::size_t coincidences(const std::vector<double>& model, const std::vector<double>& target,
                         double window_ms) {
  // Both sorted and every window of the same width: taking, for each target spike in turn,
  // the earliest model spike still free within its window gives the greatest matching.
  std::size_t n = 0, j = 0;
  for (double s : target) {
    while (j < model.size() && model[j] < s - window_ms) ++j;
    if (j < model.size() && model[j] <= s + window_ms) {
      ++n;
      ++j;
    }
  }
  return n;
}

std::string gamma_factor_refusal(std::size_t n_target, double window_ms, double duration_ms) {
  if (n_target == 0) return "the target has no spike (its rate divides eq. 3)";
  const double r = static_cast<double>(n_target) / duration_ms;
  if (!(1.0 - 2.0 * window_ms * r > 0)) {
    std::ostringstream m;
    m << "the target fires at " << 1000.0 * r
      << " Hz, so 1 - 2 window rate = " << 1.0 - 2.0 * window_ms * r
      << " <= 0 (eq. 2): use a window below " << 0.5 / r << " ms";
    return m.str();
  }
  return {};
}

double gamma_factor(const std::vector<double>& model, const std::vector<double>& target,
                    double window_ms, double duration_ms) {
  const double n_exp = static_cast<double>(target.size());
  const double n_model = static_cast<double>(model.size());
  const double r_exp = n_exp / duration_ms;
  const double n_coinc = static_cast<double>(coincidences(model, target, window_ms));
  return 2.0 / (1.0 - 2.0 * window_ms * r_exp) * (n_coinc - 2.0 * window_ms * n_exp * r_exp) /
         (n_exp + n_model);
}

double gamma_factor_loss(const std::vector<double>& model, const std::vector<double>& target,
                         double window_ms, double duration_ms) {
  const double r_data = static_cast<double>(target.size()) / duration_ms;
  const double r_model = static_cast<double>(model.size()) / duration_ms;
  return 1.0 + 2.0 * std::fabs(r_data - r_model) / r_data -
         gamma_factor(model, target, window_ms, duration_ms);
}

double van_rossum_distance2(const std::vector<double>& model, const std::vector<double>& target,
                            double tau_ms, double* dl_dt) {
  // (1/tau) int_0^inf e^{-(t-a)/tau} H(t-a) e^{-(t-b)/tau} H(t-b) dt = e^{-|a-b|/tau} / 2.
  auto kernel_sum = [tau_ms](const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (double x : a)
      for (double y : b) s += std::exp(-std::fabs(x - y) / tau_ms);
    return s;
  };
  const double d2 =
      0.5 * (kernel_sum(model, model) + kernel_sum(target, target)) - kernel_sum(model, target);
  if (dl_dt) {
    // d/dt_i e^{-|t_i - y|/tau} = -sign(t_i - y) e^{-|t_i - y|/tau} / tau; the model-model
    // sum holds each pair twice, which cancels its 1/2.
    for (std::size_t i = 0; i < model.size(); ++i) {
      double g = 0;
      for (std::size_t j = 0; j < model.size(); ++j) {
        const double x = model[i] - model[j];
        if (x != 0) g -= std::copysign(std::exp(-std::fabs(x) / tau_ms), x);
      }
      for (double y : target) {
        const double x = model[i] - y;
        if (x != 0) g += std::copysign(std::exp(-std::fabs(x) / tau_ms), x);
      }
      dl_dt[i] = g / tau_ms;
    }
  }
  return d2;
}

}  // namespace cellfit
