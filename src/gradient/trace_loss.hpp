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

#include <cstddef>
#include <vector>

#include "features/spike_trains.hpp"

namespace cellfit {

enum class loss_kind { mse, normalized };

struct loss_settings {
  loss_kind kind = loss_kind::normalized;
  double spike_weight = 0;          // 1/ms^2 in the loss's units
  double spike_threshold_mv = -20;  // eFEL's default threshold
};

class trace_loss {
 public:
  // target: [cell][site][sample]; sample_ms the time between samples. A cell's target may
  // end in NaN (a protocol shorter than the run, as simulate writes it): the loss of that
  // cell covers its samples before the first NaN of its first site, nothing after.
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
  std::vector<std::size_t> samples_;                 // [cell] samples the loss covers
};

}  // namespace cellfit
