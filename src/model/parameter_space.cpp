#include "model/parameter_space.hpp"
#include "common/suggest.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <sstream>

#include "common/error.hpp"
#include "model/distance_function.hpp"

namespace cellfit {

namespace {

[[noreturn]] void bad(const fit_parameter& p, const std::string& what) {
  throw config_error("cellfit::config: " + p.where + ": " + parameter_label(p.mechanism, p.param) +
                     (p.scope == "all" ? "" : "@" + p.scope) + ": " + what);
}

std::string num(double x) {
  std::ostringstream s;
  s << x;
  return s.str();
}

double logistic(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

const char* transform_name(transform_kind t) {
  switch (t) {
    case transform_kind::linear:
      return "linear";
    case transform_kind::log:
      return "log";
    case transform_kind::sigmoid:
      return "sigmoid";
  }
  return "?";
}

parameter_space::parameter_space(const cell_model& model, std::vector<fit_parameter> params)
    : params_(std::move(params)) {
  if (params_.empty()) throw config_error("cellfit::config: fit: no [[fit.parameter]] to fit");
  std::set<std::pair<std::pair<std::size_t, std::size_t>, std::size_t>> taken;
  for (std::size_t g = 0; g < params_.size(); ++g) {
    const fit_parameter& p = params_[g];
    const parameter_group grp = find_parameter_group(model, p.mechanism);
    const std::size_t mi = grp.index;
    const mechanism_info* info = grp.info;
    if (!info)
      bad(p,
          "unknown mechanism '" + p.mechanism + "'" + did_you_mean(p.mechanism, catalogue_list()));
    if (!grp.placement) bad(p, "mechanism '" + p.mechanism + "' is not inserted");
    const int pk = info->param_index(p.param);
    if (pk < 0) {
      bad(p, p.mechanism.empty() ? "unknown parameter (cm, Ra, or mechanism.parameter)"
                                 : "'" + p.mechanism + "' has no parameter '" + p.param + "'" +
                                       did_you_mean(p.param, info->param_names));
    }
    if (info->is_global(pk) && (p.scope != "all" || !p.distribution.empty())) {
      bad(p, "a GLOBAL is one value for the model: scope all, without a distribution");
    }
    if (p.mechanism.empty()) {
      if (!(p.lower > 0)) bad(p, "a passive property needs bounds above 0, got " + num(p.lower));
      if (pk == passive_ra && model.geom.point_model) bad(p, "a point model has no Ra");
      if (pk == passive_ra && (p.scope == "per_compartment" || !p.distribution.empty() ||
                               scope_precedence(p.scope) == 4)) {
        bad(p,
            "Ra is one value per section: give a section list as scope, without a "
            "distribution");
      }
    }
    if (!std::isfinite(p.lower) || !std::isfinite(p.upper) || !(p.lower < p.upper)) {
      bad(p, "impossible bounds [" + num(p.lower) + ", " + num(p.upper) +
                 "]: need finite lower < upper");
    }
    if (p.transform == transform_kind::log && !(p.lower > 0)) {
      bad(p, "the log transform needs lower > 0, got " + num(p.lower));
    }
    const mechanism_placement& pl = *grp.placement;
    std::vector<std::size_t> inst;
    if (p.scope == "per_compartment" || p.scope == "all") {
      for (std::size_t j = 0; j < pl.compartments.size(); ++j) inst.push_back(j);
    } else {
      std::vector<int> comps;
      try {
        comps = scope_compartments(model, p.scope);
      } catch (const config_error& e) {
        bad(p, e.what());
      }
      for (std::size_t j = 0; j < pl.compartments.size(); ++j) {
        if (std::binary_search(comps.begin(), comps.end(), pl.compartments[j])) inst.push_back(j);
      }
      if (inst.empty()) {
        bad(p, p.mechanism.empty() ? "no compartment in region " + p.scope
                                   : "'" + p.mechanism + "' is not inserted in region " + p.scope);
      }
    }
    // A value graph's Ra is the resistance of a compartment's edge to its parent: the root
    // has none, so a scope's Ra leaves it out (its value is not used).
    if (p.mechanism.empty() && pk == passive_ra && model.morph.value_graph) {
      inst.erase(std::remove_if(inst.begin(), inst.end(),
                                [&](std::size_t j) {
                                  const int c = pl.compartments[j];
                                  const std::size_t node = static_cast<std::size_t>(
                                      model.geom.node_of[static_cast<std::size_t>(c)]);
                                  return model.geom.parent[node] < 0;
                                }),
                 inst.end());
      if (inst.empty()) {
        bad(p,
            "the scope holds only the root of the value graph, which has no edge to a parent "
            "(a graph's Ra is the resistance of a compartment's edge to its parent, MOhm)");
      }
    }
    for (std::size_t j : inst) {
      if (!taken.insert({{mi, static_cast<std::size_t>(pk)}, j}).second) {
        bad(p, "overlaps another fit parameter (compartment " + std::to_string(pl.compartments[j]) +
                   " is set twice)");
      }
    }
    const auto& defaults = pl.params[static_cast<std::size_t>(pk)];
    std::vector<double> factors;
    if (!p.distribution.empty()) {
      if (p.scope == "per_compartment") bad(p, "a per_compartment parameter has no distribution");
      std::vector<int> comps;
      for (std::size_t j : inst) comps.push_back(pl.compartments[j]);
      std::vector<double> f;
      try {
        f = linear_factors(distance_function(p.distribution), model, comps);
      } catch (const config_error& e) {
        bad(p, e.what());
      }
      factors.assign(pl.compartments.size(), 1.0);
      for (std::size_t k = 0; k < inst.size(); ++k) factors[inst[k]] = f[k];
    }
    auto add = [&](std::vector<std::size_t> instances, const std::string& name) {
      double mean = 0;
      std::size_t n = 0;
      for (std::size_t j : instances) {
        if (factors.empty()) {
          mean += defaults[j];
          ++n;
        } else if (factors[j] != 0) {
          mean += defaults[j] / factors[j];
          ++n;
        }
      }
      if (n == 0) {
        bad(p, "the distribution is 0 at every compartment of scope '" + p.scope + "'");
      }
      model_values_.push_back(mean / static_cast<double>(n));
      entries_.push_back({g, mi, static_cast<std::size_t>(pk), std::move(instances), factors});
      names_.push_back(name);
    };
    const std::string base = parameter_label(p.mechanism, p.param);
    if (p.scope == "per_compartment") {
      for (std::size_t j : inst) add({j}, base + "[" + std::to_string(pl.compartments[j]) + "]");
    } else {
      add(inst, p.scope == "all" ? base : base + "@" + p.scope);
    }
    const std::size_t n_new = p.scope == "per_compartment" ? inst.size() : 1;
    if (!p.initial.empty() && p.initial.size() != 1 && p.initial.size() != n_new) {
      bad(p, "initial has " + std::to_string(p.initial.size()) + " values, expected 1 or " +
                 std::to_string(n_new));
    }
    for (std::size_t k = entries_.size() - n_new; k < entries_.size(); ++k) {
      const double x0 = p.initial.empty()
                            ? model_values_[k]
                            : p.initial[p.initial.size() == 1 ? 0 : k - (entries_.size() - n_new)];
      if (!std::isfinite(x0) || x0 < p.lower || x0 > p.upper) {
        bad(p, "initial value " + num(x0) + " (" + names_[k] + ") lies outside the bounds [" +
                   num(p.lower) + ", " + num(p.upper) + "]");
      }
      if (p.transform == transform_kind::sigmoid && !(x0 > p.lower && x0 < p.upper)) {
        bad(p, "the sigmoid transform needs an initial value strictly inside the bounds, got " +
                   num(x0));
      }
    }
  }
}

std::vector<double> parameter_space::model_values() const { return model_values_; }

std::vector<double> parameter_space::initial_values() const {
  std::vector<double> out(entries_.size());
  std::size_t first = 0;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (i == 0 || entries_[i].group != entries_[i - 1].group) first = i;
    const auto& init = params_[entries_[i].group].initial;
    if (init.empty()) {
      out[i] = model_values_[i];
    } else {
      out[i] = init.size() == 1 ? init[0] : init[i - first];
    }
  }
  return out;
}

double parameter_space::lower(std::size_t i) const { return params_[entries_[i].group].lower; }
double parameter_space::upper(std::size_t i) const { return params_[entries_[i].group].upper; }

parameter_set parameter_space::to_set(const std::vector<double>& physical) const {
  parameter_set set;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const fit_parameter& p = params_[entries_[i].group];
    if (p.scope == "per_compartment") {
      if (set.empty() || i == 0 || entries_[i].group != entries_[i - 1].group) {
        set.push_back({p.mechanism, p.param, "per_compartment", {}});
      }
      set.back().values.push_back(physical[i]);
    } else {
      set.push_back({p.mechanism, p.param, p.scope, {physical[i]}, entries_[i].factors});
    }
  }
  return set;
}

std::vector<double> parameter_space::to_optimizer(const std::vector<double>& p) const {
  std::vector<double> x(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) {
    const double lo = lower(i), hi = upper(i);
    switch (params_[entries_[i].group].transform) {
      case transform_kind::linear:
        x[i] = p[i];
        break;
      case transform_kind::log:
        x[i] = std::log(p[i]);
        break;
      case transform_kind::sigmoid: {
        const double u = std::clamp((p[i] - lo) / (hi - lo), 1e-15, 1 - 1e-15);
        x[i] = std::log(u / (1 - u));
        break;
      }
    }
  }
  return x;
}

std::vector<double> parameter_space::to_physical(const std::vector<double>& x) const {
  std::vector<double> p(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double lo = lower(i), hi = upper(i);
    switch (params_[entries_[i].group].transform) {
      case transform_kind::linear:
        p[i] = x[i];
        break;
      case transform_kind::log:
        p[i] = std::exp(x[i]);
        break;
      case transform_kind::sigmoid:
        p[i] = lo + (hi - lo) * logistic(x[i]);
        break;
    }
  }
  return p;
}

std::vector<double> parameter_space::jacobian(const std::vector<double>& x) const {
  std::vector<double> d(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double lo = lower(i), hi = upper(i);
    switch (params_[entries_[i].group].transform) {
      case transform_kind::linear:
        d[i] = 1;
        break;
      case transform_kind::log:
        d[i] = std::exp(x[i]);
        break;
      case transform_kind::sigmoid: {
        const double s = logistic(x[i]);
        d[i] = (hi - lo) * s * (1 - s);
        break;
      }
    }
  }
  return d;
}

std::vector<double> parameter_space::x_lower() const {
  std::vector<double> b(entries_.size());
  for (std::size_t i = 0; i < b.size(); ++i) {
    switch (params_[entries_[i].group].transform) {
      case transform_kind::linear:
        b[i] = lower(i);
        break;
      case transform_kind::log:
        b[i] = std::log(lower(i));
        break;
      case transform_kind::sigmoid:
        b[i] = -std::numeric_limits<double>::infinity();
        break;
    }
  }
  return b;
}

std::vector<double> parameter_space::x_upper() const {
  std::vector<double> b(entries_.size());
  for (std::size_t i = 0; i < b.size(); ++i) {
    switch (params_[entries_[i].group].transform) {
      case transform_kind::linear:
        b[i] = upper(i);
        break;
      case transform_kind::log:
        b[i] = std::log(upper(i));
        break;
      case transform_kind::sigmoid:
        b[i] = std::numeric_limits<double>::infinity();
        break;
    }
  }
  return b;
}

bool parameter_space::has_passive() const {
  return std::any_of(params_.begin(), params_.end(),
                     [](const fit_parameter& p) { return p.mechanism.empty(); });
}

void parameter_space::accumulate(const std::vector<std::vector<std::vector<double>>>& grad,
                                 std::vector<double>& out) const {
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const auto& e = entries_[i];
    if (e.mech >= grad.size() || e.param >= grad[e.mech].size()) {
      throw internal_error("cellfit::parameter_space: no gradient for " + names_[i] +
                           " (passive properties need adjoint_options::passive_gradient)");
    }
    if (e.factors.empty()) {
      for (std::size_t j : e.instances) out[i] += grad[e.mech][e.param][j];
    } else {
      for (std::size_t j : e.instances) out[i] += grad[e.mech][e.param][j] * e.factors[j];
    }
  }
}

std::vector<parameter_space::instance_weight> parameter_space::instance_weights(
    std::size_t i) const {
  const entry& e = entries_.at(i);
  std::vector<instance_weight> out;
  out.reserve(e.instances.size());
  for (std::size_t j : e.instances) {
    out.push_back({e.mech, e.param, j, e.factors.empty() ? 1.0 : e.factors[j]});
  }
  return out;
}

}  // namespace cellfit
