#pragma once
// A cell model: discretised morphology, membrane capacitance, and the mechanisms inserted
// in each compartment with their default parameter values. Parameter sets (the things
// engines vary) are lists of overrides applied on top of the defaults.

#include <string>
#include <vector>

#include "model/cable_geometry.hpp"
#include "model/morphology.hpp"

namespace cellfit {

// Static description of a channel of the kernel library (kernels/channels/).
struct mechanism_info {
  std::string name;
  std::vector<std::string> param_names;
  std::vector<std::string> param_units;
  std::vector<double> defaults;
  int n_states = 0;
  int param_index(const std::string& p) const;  // -1 if unknown
};

// hh, pas, jk, in the order the kernels expect them.
const std::vector<mechanism_info>& mechanism_catalogue();
const mechanism_info* find_mechanism(const std::string& name);

struct mechanism_placement {
  std::string name;
  std::vector<int> compartments;            // where it is inserted, ascending
  std::vector<std::vector<double>> params;  // [param][instance] default values
};

struct cell_model {
  morphology morph;
  cable_geometry geom;
  std::vector<double> cm;  // [compartment] uF/cm2 (cable) or model units (point)
  double celsius = 6.3;
  double v_init_mv = -65.0;
  std::vector<mechanism_placement> mechanisms;  // at most one per catalogue entry

  const mechanism_placement* placement(const std::string& name) const;
};

// One override: mechanism.param over a scope: "all", a region name, or "per_compartment"
// (values then has one entry per instance of the mechanism, in compartment order).
struct parameter_override {
  std::string mechanism;
  std::string param;
  std::string scope = "all";
  std::vector<double> values;  // one value, or one per instance for per_compartment
};

using parameter_set = std::vector<parameter_override>;

// Checks an override against the model: mechanism inserted, parameter known, scope valid,
// values finite and of the right count. Throws config_error naming `where`.
void check_override(const cell_model& m, const parameter_override& o, const std::string& where);

// Per-instance values of every mechanism parameter after applying `set` to the defaults:
// result[mechanism][param][instance].
std::vector<std::vector<std::vector<double>>> resolve_parameters(const cell_model& m,
                                                                 const parameter_set& set);

}  // namespace cellfit
