#pragma once
// A parameter density as a function of path distance from the soma, as BluePyOpt's
// NrnSegmentSomaDistanceScaler gives it: an expression of `distance` (um along the sections
// from soma[0](0.5) to the compartment's node, the centre of its segment) and `value` (the
// parameter's base value), evaluated once per compartment when the model is set up.
//
// Two spellings are accepted (docs/config.md, "Distributions"):
//   BluePyOpt's: (-0.8696 + 2.087*math.exp(({distance})*0.0031))*{value}
//   plain:       (-0.8696 + 2.087*exp(distance*0.0031))*value
// BluePyOpt's is translated to the plain one ({distance} -> distance, {value} -> value,
// math.f -> f, math.pi -> pi, ** -> ^), which muParser (Debian libmuparser-dev) compiles.
// The operators and their precedence are Python's for what both have: ^ is right
// associative and binds tighter than unary minus (-2^2 = -4, 2^3^2 = 512); comparisons
// (<, <=, >, >=, ==, !=) give 1 or 0, `c ? a : b` chooses.
//
// Named shapes (linear, exponential, sigmoid, step) expand to expressions of the same kind
// (distribution_shapes()).

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/cell_model.hpp"

namespace cellfit {

class distance_function {
 public:
  // Compiles `text`. Throws config_error without a location (the caller names the key):
  // "cannot parse distribution "<text>": <why> at column N", for a syntax error, an unknown
  // name or function, or a BluePyOpt placeholder other than {distance} and {value}.
  // `name`: the name it was declared under ([model.distributions]), for messages.
  explicit distance_function(std::string text, std::string name = {});

  const std::string& text() const { return text_; }              // as written
  const std::string& expression() const { return expression_; }  // the plain spelling
  bool uses_value() const { return uses_value_; }
  // "exp" = "<text>", or "<text>" without a name: how messages refer to it.
  std::string describe() const;

  // f(distance_um, value). Evaluation writes into the compiled expression's variables:
  // not safe to call at the same time from two threads on copies of one function.
  double operator()(double distance_um, double value) const;

 private:
  struct compiled;
  std::string text_, name_, expression_;
  bool uses_value_ = false;
  std::shared_ptr<compiled> impl_;
};

// A named shape: its formula (for docs and messages) and its parameters with defaults
// (NaN: required). Every shape multiplies `value`, so it is linear in the fitted value.
struct distribution_shape {
  std::string name, formula;
  std::vector<std::pair<std::string, double>> parameters;
};
const std::vector<distribution_shape>& distribution_shapes();
const distribution_shape* find_distribution_shape(const std::string& name);

// The plain-spelling expression of `shape` with `params` (every required parameter present,
// no unknown one: the caller checks against distribution_shapes()), numbers with every digit.
std::string shape_expression(const distribution_shape& shape,
                             const std::map<std::string, double>& params);

// "compartment 12 (apic[3](0.5), 312.5 um from soma[0](0.5))", for messages.
std::string describe_compartment(const cell_model& m, int compartment);

// f(distance_c, value) at each compartment c of `compartments`. Throws config_error
// (without a location) naming the first compartment where the result is not finite or has
// the opposite sign of `value` (a negative density from a non-negative value). Point models
// have no path distances: refused.
std::vector<double> distributed_values(const distance_function& f, const cell_model& m,
                                       const std::vector<int>& compartments, double value);

// factor_c = f(distance_c, 1) for a fitted parameter, whose per-compartment values must be
// value * factor_c: throws config_error (without a location) naming the first compartment
// where f is not linear in value to rounding (f(d, 0) != 0 or f(d, 2) != 2 f(d, 1)), or
// where the factor is not finite or negative.
std::vector<double> linear_factors(const distance_function& f, const cell_model& m,
                                   const std::vector<int>& compartments);

}  // namespace cellfit
