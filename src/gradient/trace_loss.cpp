#include "gradient/trace_loss.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "common/error.hpp"
#include "sim/gradient.hpp"

namespace cellfit {

namespace {

// A number as a message shows it (6 significant digits, no trailing zeros).
std::string shortest(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

}  // namespace

const char* loss_kind_name(loss_kind k) {
  switch (k) {
    case loss_kind::mse:
      return "mse";
    case loss_kind::normalized:
      return "normalized";
    case loss_kind::spike_time:
      return "spike_time";
    case loss_kind::van_rossum:
      return "van_rossum";
  }
  return "?";
}

bool is_spike_loss(loss_kind k) { return k == loss_kind::spike_time || k == loss_kind::van_rossum; }

trace_loss::trace_loss(loss_settings s, std::vector<double> target, std::size_t n_cells,
                       std::size_t n_sites, std::size_t n_samples, double sample_ms)
    : s_(s),
      target_(std::move(target)),
      n_cells_(n_cells),
      n_sites_(n_sites),
      n_samples_(n_samples),
      sample_ms_(sample_ms) {
  if (target_.size() != n_cells * n_sites * n_samples) {
    throw internal_error("cellfit::trace_loss: target size does not match the recordings");
  }
  samples_.resize(n_cells);
  for (std::size_t c = 0; c < n_cells; ++c) {
    samples_[c] =
        n_sites > 0 ? samples_before_nan(&target_[c * n_sites * n_samples], n_samples) : n_samples;
  }
  if (s_.kind == loss_kind::van_rossum && !(s_.van_rossum_tau_ms > 0)) {
    throw config_error("cellfit::trace_loss: fit.gradient.van_rossum_tau_ms = " +
                       shortest(s_.van_rossum_tau_ms) + ": must be > 0");
  }
  if (s_.spike_weight > 0 || is_spike_loss(s_.kind)) {
    target_spikes_.resize(n_cells * n_sites);
    std::size_t total = 0;
    for (std::size_t i = 0; i < n_cells * n_sites; ++i) {
      target_spikes_[i] = threshold_crossings(&target_[i * n_samples], samples_[i / n_sites],
                                              sample_ms, s_.spike_threshold_mv);
      total += target_spikes_[i].size();
    }
    // Without a target spike the spike-time loss only counts the model's spikes, at a
    // constant cost each: no gradient leads anywhere, so the fit is refused.
    if (s_.kind == loss_kind::spike_time && total == 0 && n_cells * n_sites > 0) {
      throw config_error(
          "cellfit::trace_loss: fit.gradient.loss = \"spike_time\": the target traces have no "
          "spike (no upward crossing of fit.gradient.spike_threshold_mv = " +
          shortest(s_.spike_threshold_mv) + " mV)");
    }
  }
}

double trace_loss::normalized(double loss) const {
  // The spike losses are already means over the sites.
  return s_.kind == loss_kind::mse ? loss / static_cast<double>(n_sites_) : loss;
}

double trace_loss::spike_loss(std::size_t cell, std::size_t len, const double* v,
                              double* dv) const {
  // The mean over cells and sites.
  const double w = 1.0 / (static_cast<double>(n_cells_) * static_cast<double>(n_sites_));
  const double th = s_.spike_threshold_mv, h = sample_ms_;
  const double duration = static_cast<double>(std::max<std::size_t>(len, 1)) * h;
  std::vector<std::size_t> before;
  std::vector<double> dl_dt;
  double loss = 0;
  for (std::size_t site = 0; site < n_sites_; ++site) {
    const double* vs = v + site * n_samples_;
    double* ds = dv + site * n_samples_;
    std::fill(ds, ds + len, 0.0);
    const auto t = threshold_crossings(vs, len, h, th, before);
    const auto& ts = target_spikes_[cell * n_sites_ + site];
    dl_dt.assign(t.size(), 0.0);
    const double l = s_.kind == loss_kind::spike_time
                         ? spike_time_loss(t, ts, duration * duration, dl_dt.data())
                         : van_rossum_distance2(t, ts, s_.van_rossum_tau_ms, dl_dt.data());
    loss += w * l;
    for (std::size_t i = 0; i < t.size(); ++i) {
      // t = h (k + (th - v_k) / b), b = v_{k+1} - v_k:
      // dt/dv_k = h (th - v_{k+1}) / b^2, dt/dv_{k+1} = -h (th - v_k) / b^2
      const std::size_t k = before[i];
      const double b = vs[k + 1] - vs[k];
      ds[k] += w * dl_dt[i] * h * (th - vs[k + 1]) / (b * b);
      ds[k + 1] -= w * dl_dt[i] * h * (th - vs[k]) / (b * b);
    }
  }
  return loss;
}

double trace_loss::operator()(std::size_t cell, const double* v, double* dv) const {
  // mse: the mean over cells, sites and samples; normalized: that over the number of sites.
  const double S = static_cast<double>(n_sites_);
  const double site_norm = s_.kind == loss_kind::normalized ? 1.0 / (S * S) : 1.0 / S;
  // A protocol shorter than the run: its samples only (the rest of dv stays 0). The target
  // ends at the protocol's end, and so does v (NaN after it).
  const std::size_t len =
      std::min(samples_[cell], n_sites_ > 0 ? samples_before_nan(v, n_samples_) : n_samples_);
  const std::size_t n = std::max<std::size_t>(len, 1);
  const double w = site_norm / (static_cast<double>(n_cells_) * static_cast<double>(n));
  if (is_spike_loss(s_.kind)) return spike_loss(cell, len, v, dv);
  const double* t = &target_[cell * n_sites_ * n_samples_];
  double sum = 0;
  for (std::size_t site = 0; site < n_sites_; ++site) {
    for (std::size_t k = 0; k < len; ++k) {
      const std::size_t i = site * n_samples_ + k;
      const double diff = v[i] - t[i];
      sum += diff * diff;
      dv[i] = 2.0 * w * diff;
    }
  }
  double loss = w * sum;
  if (s_.spike_weight > 0) {
    const double ws = s_.spike_weight * site_norm / static_cast<double>(n_cells_);
    const double miss =
        (static_cast<double>(n) * sample_ms_) * (static_cast<double>(n) * sample_ms_);
    const double th = s_.spike_threshold_mv, h = sample_ms_;
    for (std::size_t site = 0; site < n_sites_; ++site) {
      const double* vs = v + site * n_samples_;
      double* ds = dv + site * n_samples_;
      const auto& ts = target_spikes_[cell * n_sites_ + site];
      std::size_t i = 0;
      for (std::size_t k = 0; k + 1 < len; ++k) {
        if (!(vs[k] < th && vs[k + 1] >= th)) continue;
        const double b = vs[k + 1] - vs[k];
        const double tk = h * (static_cast<double>(k) + (th - vs[k]) / b);
        if (i < ts.size()) {
          const double e = tk - ts[i];
          loss += ws * e * e;
          // d t / d v_k = h (th - v_{k+1}) / b^2,  d t / d v_{k+1} = -h (th - v_k) / b^2
          ds[k] += 2.0 * ws * e * h * (th - vs[k + 1]) / (b * b);
          ds[k + 1] += -2.0 * ws * e * h * (th - vs[k]) / (b * b);
        } else {
          loss += ws * miss;
        }
        ++i;
      }
      if (i < ts.size()) loss += ws * miss * static_cast<double>(ts.size() - i);
    }
  }
  return loss;
}

}  // namespace cellfit
