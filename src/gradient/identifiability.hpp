#pragma once
// What the data can tell about the fitted parameters: the Gauss-Newton (Fisher) information
// of the trace loss at a parameter point, from the exact Jacobian of the residuals
// (sim/sensitivity.hpp), its eigen-spectrum, standard errors, correlations and the
// directions the data do not constrain. Host code; blocks. docs/identifiability.md states the
// formulas.
//
// Residuals: r_i = sqrt(w_c) (V_i - target_i) over every stimulus c, recorded site and
// sample the fit's loss covers, with w_c the weight of the loss (gradient/trace_loss.hpp),
// so sum r_i^2 is the loss L and 2 J^T J its Gauss-Newton Hessian (J = dr/dtheta, theta in
// physical units).
// Noise model: with noise_mv > 0 each target sample carries independent noise of that
// standard deviation (mV), and the information is F = J_v^T J_v / noise_mv^2 with J_v =
// dV/dtheta; otherwise the residual variance is estimated from the fit,
// sigma^2 = RSS / (N - P), and F = J^T J / sigma^2. The covariance is F^-1.
// The spectrum is that of F in relative coordinates (d theta_j / |theta_j|, dimensionless,
// as in a fit in log coordinates): an eigenvalue lambda means that the data constrain the
// direction to a relative standard deviation of 1 / sqrt(lambda).

#include <string>
#include <vector>

#include "gradient/trace_loss.hpp"
#include "model/cell_model.hpp"
#include "model/parameter_space.hpp"
#include "sim/batch_simulator.hpp"
#include "stimulus/stimulus.hpp"

namespace cellfit {

// The weighted residuals of a trace loss and their Jacobian.
struct residual_jacobian {
  std::size_t n_residuals = 0, n_params = 0;
  std::vector<double> residual;  // [N], sqrt(w) (V - target)
  std::vector<double> weight;    // [N], w of each residual (the loss's weight of that sample)
  std::vector<double> jacobian;  // [N][P], dr/dtheta (physical units)
  int passes = 0;                // forward passes of the tangent-linear simulation
  double seconds = 0;
};

// Residuals and exact Jacobian at `physical` against `target` ([stimulus][site][sample], the
// layout of simulation_result::voltage; NaN after a protocol's end). Throws config_error on
// a shape mismatch or when a cell diverges at `physical`.
residual_jacobian trace_residual_jacobian(const cell_model& model, const parameter_space& space,
                                          const std::vector<double>& physical,
                                          const std::vector<stimulus>& stimuli,
                                          const simulation_settings& settings,
                                          const std::vector<double>& target, loss_kind loss);

struct identifiability_settings {
  double noise_mv = 0;  // > 0: the target's noise (mV); 0: sigma^2 = RSS / (N - P)
};

struct identifiability_result {
  std::size_t n_residuals = 0, n_params = 0;
  std::vector<double> params;           // [P] physical values analysed
  std::vector<double> scale;            // [P] |theta| (1 where theta = 0): the relative coordinates
  double rss = 0;                       // sum of squared residuals: the loss at params
  double sigma2 = 0;                    // residual variance used (RSS / (N - P), or from noise_mv)
  double residual_sd_mv = 0;            // the residuals' s.d. in mV, weights divided out:
                                        // sqrt(sum r_i^2 / w_i / (N - P))
  double noise_mv = 0;                  // as given (0: estimated)
  std::vector<double> gauss_newton;     // [P][P] J^T J (half the loss's Gauss-Newton Hessian)
  std::vector<double> fisher;           // [P][P] information F, physical units
  std::vector<double> fisher_relative;  // [P][P] diag(scale) F diag(scale)
  std::vector<double> eigenvalues;      // [P] of fisher_relative, ascending
  std::vector<double> eigenvectors;     // [P][P] row k: unit eigenvector of eigenvalues[k]
  std::vector<double> covariance;       // [P][P] F^-1, physical units
  std::vector<double> std_error;        // [P] physical units
  std::vector<double> relative_std_error;  // [P] std_error / scale
  std::vector<double> correlation;         // [P][P]
  double condition_number = 0;             // largest / smallest eigenvalue
  // Eigenvalues at or below 1e-16 of the largest carry no information distinguishable from
  // rounding; they are floored there when inverting (their directions' errors are huge but
  // finite) and counted here.
  int numerically_singular = 0;
};

// The analysis of a residual Jacobian at `physical`. Throws config_error when N <= P and no
// noise level is given (no residual variance to estimate).
identifiability_result analyse_identifiability(const residual_jacobian& rj,
                                               const std::vector<double>& physical,
                                               const identifiability_settings& settings = {});

}  // namespace cellfit
