#pragma once
// A cell model: discretised morphology, membrane capacitance, and the mechanisms inserted
// in each compartment with their default parameter values. Parameter sets (the things
// engines vary) are lists of overrides applied on top of the defaults.

#include <map>
#include <string>
#include <vector>

#include "model/cable_geometry.hpp"
#include "model/morphology.hpp"

namespace cellfit {

// How a mechanism uses one ion species (the catalogue's kernels/mechanism.hpp ion_use).
struct ion_use_info {
  std::string species;
  bool read_e = false, read_ci = false, read_co = false, read_i = false, write_i = false;
  bool write_ci = false, write_co = false;
};

// Static description of a mechanism of the catalogue (kernels/catalogue.hpp).
struct mechanism_info {
  std::string name;
  std::string source;  // the .mod file it was generated from, or the hand-written header
  // The parameters: the RANGE ones, then the n_globals GLOBAL ones (one value per model:
  // set with scope "all" only).
  std::vector<std::string> param_names;
  std::vector<std::string> param_units;
  std::vector<double> defaults;
  int n_globals = 0;
  std::vector<std::string> state_names;
  std::vector<ion_use_info> ions;
  int n_states = 0;
  int param_index(const std::string& p) const;  // -1 if unknown
  bool is_global(int k) const { return k >= static_cast<int>(param_names.size()) - n_globals; }
};

// Every mechanism of the catalogue, in the order the kernels run them.
const std::vector<mechanism_info>& mechanism_catalogue();
const mechanism_info* find_mechanism(const std::string& name);
// "hh, pas, jk, ..." for messages.
std::string catalogue_names();
// The catalogue's mechanism names, in its order.
std::vector<std::string> catalogue_list();

struct mechanism_placement {
  std::string name;
  std::vector<int> compartments;            // where it is inserted, ascending
  std::vector<std::vector<double>> params;  // [param][instance] default values
};

// An ion species' settings: reversal potential and concentrations, each a default with
// per-region values applied in order, and how e is found. NEURON's rules by default
// (style "auto"): e is computed by Nernst from the concentrations at initialisation and
// every step when some mechanism reads or writes a concentration of the species, and is a
// fixed value otherwise; "nernst" and "fixed" force one or the other.
struct ion_settings {
  std::string species;
  std::string style = "auto";
  std::vector<std::pair<std::string, double>> e_mv, ci_mm, co_mm;  // (region, value)
};
struct cell_model {
  morphology morph;
  cable_geometry geom;
  std::vector<double> cm;  // [compartment] uF/cm2 (cable) or model units (point)
  // [compartment] axial resistivity (ohm cm) of the compartment's section; 0 in point models
  std::vector<double> ra_ohm_cm;
  double celsius = 6.3;
  double v_init_mv = -65.0;
  std::vector<mechanism_placement> mechanisms;  // at most one per catalogue entry
  std::vector<ion_settings> ions;               // species given in the config
  // Named distributions ([model.distributions]): name -> expression of distance and value
  // (model/distance_function.hpp), for mechanism parameters and fitted parameters to use.
  std::map<std::string, std::string> distributions;

  const mechanism_placement* placement(const std::string& name) const;
};

// The passive properties as a parameter group beside the mechanisms: cm (uF/cm2; model
// units in point models) and Ra (ohm cm, NEURON's section Ra: one value per section), one
// instance per compartment. Overrides and fit parameters name them without a mechanism
// ("cm", "Ra@apical": mechanism ""); in the per-mechanism layouts (resolve_parameters,
// gradient_result::grad) they follow the mechanisms, at index model.mechanisms.size().
inline constexpr int passive_cm = 0, passive_ra = 1;
const mechanism_info& passive_info();
// The group as a placement: every compartment, params [cm, Ra] from the model.
mechanism_placement passive_placement(const cell_model& m);

// What an override or fit parameter names: a mechanism of the model, or the passive group
// (mechanism ""). info is null for an unknown mechanism, placement null when the mechanism
// is not inserted; index is the group's position in the per-mechanism layouts.
struct parameter_group {
  const mechanism_info* info = nullptr;
  const mechanism_placement* placement = nullptr;
  std::size_t index = 0;
  mechanism_placement passive;  // storage for the passive group's placement
};
parameter_group find_parameter_group(const cell_model& m, const std::string& mechanism);

// "hh.gnabar", or "cm" for a passive property.
std::string parameter_label(const std::string& mechanism, const std::string& param);

// One override: mechanism.param over a scope: "all", a region name, or "per_compartment"
// (values then has one entry per instance of the mechanism, in compartment order).
struct parameter_override {
  std::string mechanism;
  std::string param;
  std::string scope = "all";
  std::vector<double> values;  // one value, or one per instance for per_compartment
  // A distribution over a region scope: instance j of the scope gets values[0] * factors[j]
  // (one factor per instance of the mechanism, in compartment order; those outside the
  // scope are not used). Empty: the one value everywhere in the scope.
  std::vector<double> factors = {};
};

using parameter_set = std::vector<parameter_override>;

// The compartments a scope names: a section list or region name (compartments_in_region),
// a section name ("apic[3]": its compartments), or a section(x) point ("apic[3](0.5)": the
// compartment NEURON's node rule gives). Ascending. Throws config_error for a name that is
// none of these, naming the lists and the range of section names.
std::vector<int> scope_compartments(const cell_model& m, const std::string& scope);

// Precedence of a scope when several set the same value: all 0, dend 1, one region 2, a
// section 3, a section(x) point 4 (broad ones apply first, the specific ones override).
int scope_precedence(const std::string& scope);

// Checks an override against the model: mechanism inserted, parameter known, scope valid,
// values finite and of the right count. Throws config_error naming `where`.
void check_override(const cell_model& m, const parameter_override& o, const std::string& where);

// Per-instance values of every mechanism parameter after applying `set` to the defaults:
// result[mechanism][param][instance], the passive group last (passive_placement).
std::vector<std::vector<std::vector<double>>> resolve_parameters(const cell_model& m,
                                                                 const parameter_set& set);

}  // namespace cellfit
