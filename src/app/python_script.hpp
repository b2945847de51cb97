#pragma once
// The plotting scripts the commands run (scripts/plot_compare.py for `cellfit compare`,
// scripts/plot_result.py for `cellfit plot`): matplotlib draws, the binary does not link it.

#include <string>
#include <vector>

namespace cellfit::app {

// The path of scripts/NAME: $ENV_VAR when set, else ../share/cellfit/NAME beside the
// binary (an installed cellfit), else the source tree's scripts/NAME (a build directory).
// "" when none exists.
std::string find_script(const std::string& name, const char* env_var);

// Runs `python3 SCRIPT ARGS...` with the process's stdout and stderr and blocks until it
// ends; returns its exit status (127: python3 could not be started, 128: killed by a
// signal).
int run_python_script(const std::string& script, const std::vector<std::string>& args);

}  // namespace cellfit::app
