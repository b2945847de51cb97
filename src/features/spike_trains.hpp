#pragma once
// Distances between spike trains, each with its derivative with respect to the model's spike
// times where it has one, for the losses of both engines (gradient/trace_loss.hpp,
// ga/objectives.hpp). Times are in ms; trains are sorted ascending. Host code, thread-safe
// (no shared state).
//
//  * spike_time (paper 001 eq. 14, L = (t_out - t_ref)^2, summed over spikes): the model's
//    and the target's spikes are matched in order (first with first, ...);
//      L = sum_i (t_i - s_i)^2 + miss_cost * |N_model - N_target|.
//    An unmatched spike costs a constant with no derivative, so the derivative is that of
//    the matched pairs: exact while the spike counts stay fixed.
//  * gamma_factor (paper 003 eqs. 2-3, the coincidence factor of Jolivet et al. 2004):
//      Gamma = 2 / (1 - 2 D r_exp) * (N_coinc - 2 D N_exp r_exp) / (N_exp + N_model),
//      loss  = 1 + 2 |r_exp - r_model| / r_exp - Gamma,
//    with D the coincidence window (ms), r = spike count / duration, and N_coinc the number
//    of target spikes with a model spike within +-D (each model spike counts once). A count:
//    piecewise constant in the spike times, so it has no useful derivative.
//  * van_rossum (van Rossum 2001): each train convolved with exp(-t/tau) H(t), and
//      D^2 = (1/tau) int (f - g)^2 dt
//          = 1/2 [sum_ij e^{-|t_i-t_j|/tau} + sum_ij e^{-|s_i-s_j|/tau}
//                 - 2 sum_ij e^{-|t_i-s_j|/tau}]
//    (the integral over all time after the first spike, so spikes near the end of a trace
//    weigh as much as the others). Smooth in every t_i except where t_i meets another spike.

#include <cstddef>
#include <string>
#include <vector>

namespace cellfit {

enum class spike_distance { spike_time, gamma_factor, van_rossum };

// "spike_time", "gamma_factor", "van_rossum".
const char* spike_distance_name(spike_distance d);

// Upward crossings of `threshold` in v[0..n) with samples `dt` apart, linearly interpolated
// between the samples k and k+1 around each crossing (v_k < threshold <= v_{k+1}):
//   t = dt (k + (threshold - v_k) / (v_{k+1} - v_k))   [ms]
std::vector<double> threshold_crossings(const double* v, std::size_t n, double dt,
                                        double threshold);
// The same with the index k of the sample before each crossing.
std::vector<double> threshold_crossings(const double* v, std::size_t n, double dt, double threshold,
                                        std::vector<std::size_t>& before);

// Paper 001 eq. 14 summed over in-order pairs, plus miss_cost per unmatched spike. When
// dl_dt is not null it receives dL/dt_i for each model spike (0 for unmatched ones).
double spike_time_loss(const std::vector<double>& model, const std::vector<double>& target,
                       double miss_cost, double* dl_dt);

// Coincidences: target spikes with a model spike within +-window_ms, each model spike used
// at most once (the greatest such matching).
std::size_t coincidences(const std::vector<double>& model, const std::vector<double>& target,
                         double window_ms);

// Paper 003 eq. 2 over a recording of duration_ms. Preconditions: target not empty,
// window_ms > 0, 2 window_ms N_target / duration_ms < 1.
double gamma_factor(const std::vector<double>& model, const std::vector<double>& target,
                    double window_ms, double duration_ms);
// Paper 003 eq. 3 (the quantity it minimises); same preconditions.
double gamma_factor_loss(const std::vector<double>& model, const std::vector<double>& target,
                         double window_ms, double duration_ms);

// van Rossum's D^2 with time constant tau_ms > 0; dl_dt (if not null) receives dD^2/dt_i.
double van_rossum_distance2(const std::vector<double>& model, const std::vector<double>& target,
                            double tau_ms, double* dl_dt);

// Why the gamma factor cannot be computed against `target` over duration_ms with this
// window (no target spike, or a rate so high that 1 - 2 D r <= 0); empty if it can.
std::string gamma_factor_refusal(std::size_t n_target, double window_ms, double duration_ms);

}  // namespace cellfit
