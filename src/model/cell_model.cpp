#include "model/cell_model.hpp"
#include "common/suggest.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "common/error.hpp"
#include "kernels/catalogue.hpp"

namespace cellfit {

namespace {

template <class M>
mechanism_info describe() {
  mechanism_info info;
  info.name = M::name;
  info.source = M::source;
  for (int k = 0; k < M::n_params; ++k) {
    info.param_names.emplace_back(M::param_names[k]);
    info.param_units.emplace_back(M::param_units[k]);
    info.defaults.push_back(M::param_defaults[k]);
  }
  info.n_globals = M::n_globals;
  for (int k = 0; k < M::n_states; ++k) info.state_names.emplace_back(M::state_names[k]);
  for (int k = 0; k < M::n_ions; ++k) {
    const ion_use u = M::ion(k);
    ion_use_info i;
    i.species = ion_species_table[u.species].name;
    i.read_e = u.read_e;
    i.read_ci = u.read_ci;
    i.read_co = u.read_co;
    i.read_i = u.read_i;
    i.write_i = u.write_i;
    i.write_ci = u.write_ci_state >= 0;
    i.write_co = u.write_co_state >= 0;
    info.ions.push_back(i);
  }
  info.n_states = M::n_states;
  return info;
}

template <class... M>
std::vector<mechanism_info> describe_all(type_list<M...>) {
  return {describe<M>()...};
}

}  // namespace

int mechanism_info::param_index(const std::string& p) const {
  const auto it = std::find(param_names.begin(), param_names.end(), p);
  return it == param_names.end() ? -1 : static_cast<int>(it - param_names.begin());
}

const std::vector<mechanism_info>& mechanism_catalogue() {
  static const std::vector<mechanism_info> all = describe_all(catalogue{});
  return all;
}

std::string catalogue_names() {
  std::string out;
  for (const auto& m : mechanism_catalogue()) out += (out.empty() ? "" : ", ") + m.name;
  return out;
}

std::vector<std::string> catalogue_list() {
  std::vector<std::string> out;
  for (const auto& m : mechanism_catalogue()) out.push_back(m.name);
  return out;
}

const mechanism_info* find_mechanism(const std::string& name) {
  for (const auto& m : mechanism_catalogue()) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

const mechanism_placement* cell_model::placement(const std::string& name) const {
  for (const auto& p : mechanisms) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const mechanism_info& passive_info() {
  static const mechanism_info info = [] {
    mechanism_info i;
    i.name = "";
    i.source = "the membrane capacitance and the sections' axial resistivity";
    i.param_names = {"cm", "Ra"};
    i.param_units = {"uF/cm2", "ohm cm"};
    i.defaults = {1.0, 35.4};
    return i;
  }();
  return info;
}

mechanism_placement passive_placement(const cell_model& m) {
  mechanism_placement pl;
  pl.name = "";
  pl.compartments.resize(m.cm.size());
  for (std::size_t c = 0; c < m.cm.size(); ++c) pl.compartments[c] = static_cast<int>(c);
  pl.params = {m.cm, m.ra_ohm_cm};
  return pl;
}

std::vector<int> scope_compartments(const cell_model& m, const std::string& scope) {
  if (section_list_rank(scope) >= 0) return compartments_in_region(m.geom, scope);
  const auto& secs = m.morph.sections;
  const auto open = scope.find('(');
  const std::string name = open == std::string::npos ? scope : scope.substr(0, open);
  const auto it =
      std::find_if(secs.begin(), secs.end(), [&](const section& x) { return x.name == name; });
  if (it == secs.end() || secs.empty()) {
    throw config_error(
        "cellfit::config: unknown scope '" + scope + "'" +
        did_you_mean(scope, {"all", "soma", "axon", "basal", "apical", "dend", "other", "allsect",
                             "somatic", "axonal", "alldend"}) +
        " (a section list: all, soma, axon, basal, apical, dend, other, allsect, "
        "somatic, axonal, alldend; a section " +
        (secs.empty() ? std::string() : secs.front().name + " .. " + secs.back().name) +
        "; or section(x))");
  }
  if (open != std::string::npos) {
    const std::string xs = scope.substr(open + 1);
    char* end = nullptr;
    const double x = std::strtod(xs.c_str(), &end);
    if (xs.size() < 2 || end != xs.c_str() + xs.size() - 1 || xs.back() != ')') {
      throw config_error("cellfit::config: scope '" + scope + "': expected section(x), e.g. " +
                         name + "(0.5)");
    }
    return {compartment_at(m.morph, m.geom, name, x)};
  }
  const int s = static_cast<int>(it - secs.begin());
  std::vector<int> out;
  for (int c = 0; c < m.geom.n_compartments(); ++c) {
    const int node = m.geom.node_of[static_cast<std::size_t>(c)];
    if (m.geom.section_of[static_cast<std::size_t>(node)] == s) out.push_back(c);
  }
  return out;
}

int scope_precedence(const std::string& scope) {
  if (scope == "per_compartment") return 0;
  const int r = section_list_rank(scope);
  if (r >= 0) return r;
  return scope.find('(') == std::string::npos ? 3 : 4;
}

parameter_group find_parameter_group(const cell_model& m, const std::string& mechanism) {
  parameter_group g;
  if (mechanism.empty()) {
    g.info = &passive_info();
    g.passive = passive_placement(m);
    g.placement = &g.passive;
    g.index = m.mechanisms.size();
    return g;
  }
  g.info = find_mechanism(mechanism);
  while (g.index < m.mechanisms.size() && m.mechanisms[g.index].name != mechanism) ++g.index;
  if (g.index < m.mechanisms.size()) g.placement = &m.mechanisms[g.index];
  return g;
}

std::string parameter_label(const std::string& mechanism, const std::string& param) {
  return mechanism.empty() ? param : mechanism + "." + param;
}

void check_override(const cell_model& m, const parameter_override& o, const std::string& where) {
  const parameter_group grp = find_parameter_group(m, o.mechanism);
  const mechanism_info* info = grp.info;
  const std::string label = parameter_label(o.mechanism, o.param);
  if (!info) {
    throw config_error("cellfit::config: " + where + ": unknown mechanism '" + o.mechanism + "'" +
                       did_you_mean(o.mechanism, catalogue_list()));
  }
  const mechanism_placement* pl = grp.placement;
  if (!pl) {
    throw config_error("cellfit::config: " + where + ": mechanism '" + o.mechanism +
                       "' is not inserted in the model");
  }
  if (info->param_index(o.param) < 0) {
    std::string known;
    for (const auto& n : info->param_names) known += (known.empty() ? "" : ", ") + n;
    throw config_error("cellfit::config: " + where + ": '" + o.mechanism + "' has no parameter '" +
                       o.param + "'" + did_you_mean(o.param, info->param_names) + " (" + known +
                       ")");
  }
  if (info->is_global(info->param_index(o.param)) && (o.scope != "all" || !o.factors.empty())) {
    throw config_error("cellfit::config: " + where + ": " + label +
                       " is a GLOBAL, one value for the model: not per region, compartment or "
                       "distribution");
  }
  if (o.mechanism.empty() && o.param == "Ra") {
    if (m.geom.point_model) {
      throw config_error("cellfit::config: " + where +
                         ": Ra: a point model has no axial resistivity");
    }
    if (o.scope == "per_compartment" || !o.factors.empty() || scope_precedence(o.scope) == 4) {
      throw config_error("cellfit::config: " + where +
                         ": Ra is one value per section; give a section list or a section, not " +
                         (o.scope == "per_compartment" ? "per_compartment"
                          : o.factors.empty()          ? "a point"
                                                       : "a distribution"));
    }
  }
  if (o.mechanism.empty()) {
    for (double v : o.values) {
      if (!(v > 0)) {
        throw config_error("cellfit::config: " + where + ": " + label + " = " + std::to_string(v) +
                           " must be positive");
      }
    }
  }
  if (o.scope == "per_compartment") {
    if (o.values.size() != pl->compartments.size()) {
      throw config_error("cellfit::config: " + where + ": " + label + " per_compartment needs " +
                         std::to_string(pl->compartments.size()) + " values, got " +
                         std::to_string(o.values.size()));
    }
  } else {
    scope_compartments(m, o.scope);  // throws for an unknown scope
    if (o.values.size() != 1) {
      throw config_error("cellfit::config: " + where + ": " + label +
                         " needs one value for scope '" + o.scope + "'");
    }
  }
  if (!o.factors.empty() &&
      (o.scope == "per_compartment" || o.factors.size() != pl->compartments.size())) {
    throw internal_error("cellfit::check_override: " + label + ": " +
                         std::to_string(o.factors.size()) + " distribution factors for scope '" +
                         o.scope + "' and " + std::to_string(pl->compartments.size()) +
                         " instances");
  }
  for (double f : o.factors) {
    if (!std::isfinite(f)) {
      throw config_error("cellfit::config: " + where + ": " + label +
                         ": a distribution factor is not finite");
    }
  }
  for (double v : o.values) {
    if (!std::isfinite(v)) {
      throw config_error("cellfit::config: " + where + ": " + label + " = " + std::to_string(v) +
                         " is not finite");
    }
  }
}

std::vector<std::vector<std::vector<double>>> resolve_parameters(const cell_model& m,
                                                                 const parameter_set& set) {
  std::vector<std::vector<std::vector<double>>> out;
  for (const auto& pl : m.mechanisms) out.push_back(pl.params);
  out.push_back({m.cm, m.ra_ohm_cm});
  for (const auto& o : set) {
    const parameter_group grp = find_parameter_group(m, o.mechanism);
    if (!grp.placement) {
      throw internal_error("cellfit::resolve_parameters: unchecked override " + o.mechanism);
    }
    const mechanism_placement& pl = *grp.placement;
    const int pi = grp.info->param_index(o.param);
    auto& vals = out[grp.index][static_cast<std::size_t>(pi)];
    if (o.scope == "per_compartment") {
      vals = o.values;
    } else {
      const std::vector<int> in = scope_compartments(m, o.scope);
      for (std::size_t j = 0; j < pl.compartments.size(); ++j) {
        if (std::binary_search(in.begin(), in.end(), pl.compartments[j])) {
          vals[j] = o.factors.empty() ? o.values[0] : o.values[0] * o.factors[j];
        }
      }
    }
  }
  return out;
}

}  // namespace cellfit
