#pragma once
// Pieces shared by the engines' `cellfit fit` drivers (fit.cpp: gradient, fit_ga.cpp: GA).

#include <string>
#include <vector>

#include "app/commands.hpp"
#include "io/config.hpp"
#include "io/h5.hpp"
#include "model/parameter_space.hpp"

namespace cellfit::app {

// Seconds as h:mm:ss ("?" when unknown).
std::string hms(double s);

// The target traces [stimulus][site][sample] (fit.target type "file" or "synthetic") and,
// for a synthetic target, the ground truth (physical [P]). Throws config_error/io_error.
void make_target(const run_config& rc, const parameter_space& space, std::vector<double>& target,
                 std::vector<double>& truth, bool quiet);

// /fit/param_names, /fit/bounds/*, /fit/parameters/*.
void write_fit_parameters(h5::file& f, const parameter_space& space);

// The per-parameter GT error table on stdout.
void print_gt_table(const parameter_space& space, const std::vector<double>& initial,
                    const std::vector<double>& best, const std::vector<double>& truth,
                    const char* initial_label = "initial");

// `cellfit fit --engine ga` (fit_ga.cpp); rc already loaded and checked for [fit].
int run_ga_fit(run_config& rc, const fit_options& o);

}  // namespace cellfit::app
