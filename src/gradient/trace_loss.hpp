#pragma once
// Losses of recorded traces against target traces, with their derivatives with respect to
// every recorded sample (the seed of the adjoint's backward pass). For a batch of cells
// (stimuli) with S recorded sites and T samples (paper 000's definitions):
//   mse:        L = the mean over cells, sites and samples of (V - target)^2
//   normalized: L = mse / S (paper 000's "normalised loss", its tables' unit)
// plus, when spike_weight > 0, a spike-timing term: upward crossings of the threshold are
// located by linear interpolation between samples (a crossing time differentiable in the
// two samples around it), matched in order with the target's, and
//   spike_weight * the mean over cells and sites of sum_i (t_i - t_target,i)^2
// (divided by S when normalized). An unmatched spike costs a constant (the trace length
// squared) with no gradient; the trace term drives spike counts together.
//
// The spike-train losses compare the spikes alone (features/spike_trains.hpp), with the
// same interpolated crossing times, as the mean over cells and sites of
//   spike_time: paper 001 eq. 14 summed over in-order pairs, plus (trace length)^2 per
//               unmatched spike
//   van_rossum: van Rossum's D^2 with time constant van_rossum_tau_ms
// Each crossing time is a differentiable function of the two samples around it, so dL/dv is
// exact for a fixed spike count and fixed matching; an unmatched spike adds a constant. The
// gamma factor (paper 003) counts coincidences, piecewise constant in the spike times: it is
// a GA objective only (ga/objectives.hpp).

#include <cstddef>
#include <vector>

#include "features/spike_trains.hpp"

namespace cellfit {

enum class loss_kind { mse, normalized, spike_time, van_rossum };

// "mse", "normalized", "spike_time", "van_rossum" (the config's names).
const char* loss_kind_name(loss_kind k);
// Whether the loss compares spike trains rather than traces.
bool is_spike_loss(loss_kind k);

struct loss_settings {
  loss_kind kind = loss_kind::normalized;
  double spike_weight = 0;          // 1/ms^2 in the loss's units
  double spike_threshold_mv = -20;  // eFEL's default threshold
  double van_rossum_tau_ms = 10;    // van_rossum: the kernel's time constant
};

class trace_loss {
 public:
  // target: [cell][site][sample]; sample_ms the time between samples. A cell's target may
  // end in NaN (a protocol shorter than the run, as simulate writes it): the loss of that
  // cell covers its samples before the first NaN of its first site, nothing after.
  // config_error: a spike_time loss against targets without any spike, or a van_rossum
  // loss with van_rossum_tau_ms <= 0.
  trace_loss(loss_settings s, std::vector<double> target, std::size_t n_cells, std::size_t n_sites,
             std::size_t n_samples, double sample_ms);

  // Contribution of one cell to L (the batch loss is the sum over cells); writes
  // dL/dv into dv. Thread-compatible (no shared state is written).
  double operator()(std::size_t cell, const double* v, double* dv) const;

  // The normalised loss (L / S) from a value of L (identity when kind is normalized).
  double normalized(double loss) const;
  const std::vector<double>& target() const { return target_; }

 private:
  loss_settings s_;
  std::vector<double> target_;
  std::size_t n_cells_, n_sites_, n_samples_;
  double sample_ms_;
  std::vector<std::vector<double>> target_spikes_;  // [cell * sites + site] crossing times
  std::vector<std::size_t> samples_;                // [cell] samples the loss covers
  double spike_loss(std::size_t cell, std::size_t len, const double* v, double* dv) const;
};

}  // namespace cellfit
