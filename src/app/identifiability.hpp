#pragma once
// The problem of a `cellfit fit` result rebuilt for the identifiability analysis, shared by
// the command (identifiability.cpp) and the Python module.

#include <memory>
#include <string>
#include <vector>

#include "app/commands.hpp"
#include "gradient/identifiability.hpp"
#include "io/config.hpp"
#include "model/parameter_space.hpp"

namespace cellfit::app {

struct fit_identifiability {
  std::string config_source;         // where the config came from (recorded path or --config)
  std::vector<std::string> names;    // [P]
  std::vector<double> ground_truth;  // [P] when the fit's target was synthetic, else empty
  std::string at;                    // the point analysed
  std::string loss;                  // "normalized" or "mse": the residuals' weights
  residual_jacobian residuals;       // at the point
  identifiability_result result;
};

// Reads the fit file, rebuilds its problem (the recorded config, or o.config) and analyses
// it at o.at. Throws io_error for a missing or foreign file, config_error for a fit without
// a recorded config (and no --config), with a features target, or whose parameters or
// recordings differ from the config's. Blocks (Kokkos must be initialised).
fit_identifiability analyse_fit_file(const identifiability_options& o);

}  // namespace cellfit::app
