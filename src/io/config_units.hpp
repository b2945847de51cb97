#pragma once
// Values of a run config that are almost certainly in the wrong unit (config_units.cpp).

#include <string>
#include <vector>

#include "io/config.hpp"

namespace cellfit {

// simulation.dt_ms > 1 ms, model.celsius > 60 (kelvin?), and in cable models stimulus
// currents beyond 20 nA (pA?) and conductance densities (S/cm2 parameters) beyond 10 S/cm2
// (mS/cm2?). One message per mistake, naming the key, the value and the likely intent;
// empty when all is plausible.
std::vector<std::string> implausible_values(const run_config& rc);

// Prints them to stderr as "cellfit COMMAND: warning: ..." (call on one rank only).
void warn_implausible_values(const run_config& rc, const char* command);

}  // namespace cellfit
