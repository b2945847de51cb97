#pragma once
// The parameters an optimiser moves: each is mechanism.param (or a passive property, cm or
// Ra, with mechanism "") over a scope ("all", a region, or "per_compartment", which makes
// one scalar per instance), with bounds in physical units
// and a transform into the optimiser's coordinates:
//   linear:  x = p                       (bounds [lo, hi] on x)
//   log:     x = ln p                    (lo > 0; bounds [ln lo, ln hi] on x)
//   sigmoid: p = lo + (hi - lo) s(x)     (s the logistic function; x unbounded)
// The map from physical values to per-instance parameters is linear (a scalar sets all the
// instances of its scope, or value * factor_i with a distribution of path distance), so a
// gradient per instance maps back by summation over the scope (weighted by factor_i).
// Shared by the gradient engine and the genetic algorithm.

#include <string>
#include <vector>

#include "model/cell_model.hpp"

namespace cellfit {

enum class transform_kind { linear, log, sigmoid };

struct fit_parameter {
  std::string mechanism, param;  // mechanism "": the passive properties (param cm or Ra)
  std::string scope = "all";     // "all", a region name, or "per_compartment"
  double lower = 0, upper = 0;
  transform_kind transform = transform_kind::linear;
  std::vector<double> initial;  // physical; empty: the model's values
  std::string where;            // config location, for messages
  // A distribution over the scope (model/distance_function.hpp): instance i gets
  // value * factor_i, factor_i = f(distance_i, 1); f must be linear in value. Empty: the
  // value everywhere in the scope.
  std::string distribution = {};
};

const char* transform_name(transform_kind t);

class parameter_space {
 public:
  // Checks every parameter against the model (mechanism inserted, parameter known, scope
  // valid and non-empty, bounds finite with lower < upper, log bounds positive, initial
  // values inside the bounds, no two parameters setting the same instance). Throws
  // config_error naming `where`.
  parameter_space(const cell_model& model, std::vector<fit_parameter> params);

  std::size_t size() const { return entries_.size(); }  // P scalars
  const std::vector<std::string>& names() const { return names_; }
  const std::vector<fit_parameter>& parameters() const { return params_; }
  // Whether some scalar is a passive property (cm, Ra): the gradient then needs
  // adjoint_options::passive_gradient.
  bool has_passive() const;
  // Index of the fit parameter each scalar belongs to.
  std::size_t group_of(std::size_t i) const { return entries_[i].group; }

  // Physical values: the model's (mean over the scope for a shared scalar; for a
  // distributed one the mean of default / factor over the instances with a factor) and
  // initial. Both are base values: a distribution multiplies them per instance.
  std::vector<double> model_values() const;
  std::vector<double> initial_values() const;
  double lower(std::size_t i) const;
  double upper(std::size_t i) const;

  // Physical values -> the parameter set that the simulator applies.
  parameter_set to_set(const std::vector<double>& physical) const;

  // Transforms (elementwise), and dp/dx at x.
  std::vector<double> to_optimizer(const std::vector<double>& physical) const;
  std::vector<double> to_physical(const std::vector<double>& x) const;
  std::vector<double> jacobian(const std::vector<double>& x) const;
  // Bounds of x (+-infinity for sigmoid).
  std::vector<double> x_lower() const;
  std::vector<double> x_upper() const;

  // dL/d(physical) from a gradient per instance [mechanism][param][instance] (the
  // layout of gradient_result::grad for one cell, the passive group last), added into `out`.
  void accumulate(const std::vector<std::vector<std::vector<double>>>& grad,
                  std::vector<double>& out) const;

  // The instances scalar i sets, each with d(instance value)/d(scalar i) (mechanism index in
  // the resolve_parameters layout, the passive group last). The map is linear, so these are
  // its exact derivatives: the seeds of a tangent-linear simulation.
  struct instance_weight {
    std::size_t mech = 0, param = 0, instance = 0;
    double factor = 1;
  };
  std::vector<instance_weight> instance_weights(std::size_t i) const;

 private:
  struct entry {
    std::size_t group = 0;
    std::size_t mech = 0;   // index in model.mechanisms
    std::size_t param = 0;  // index in the mechanism's parameters
    std::vector<std::size_t> instances;
    // Distributed: factor of every instance of the mechanism (1 outside the scope); empty: 1.
    std::vector<double> factors;
  };
  std::vector<fit_parameter> params_;
  std::vector<double> model_values_;
  std::vector<entry> entries_;
  std::vector<std::string> names_;
};

}  // namespace cellfit
