#include "model/ion_layout.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/error.hpp"
#include "kernels/catalogue.hpp"

namespace cellfit {

int ion_layout::row_of(int node) const {
  const auto it = std::lower_bound(nodes.begin(), nodes.end(), node);
  return it != nodes.end() && *it == node ? static_cast<int>(it - nodes.begin()) : -1;
}

int ion_species_index(const std::string& name) {
  for (int s = 0; s < n_ion_species; ++s) {
    if (name == ion_species_table[s].name) return s;
  }
  return -1;
}

std::vector<ion_layout> layout_ions(const cell_model& m) {
  std::vector<ion_layout> out(static_cast<std::size_t>(n_ion_species));
  std::vector<bool> values_given(out.size(), false);
  // Nodes where a mechanism reads or writes a concentration of the species: NEURON's ion
  // style there computes e by Nernst; elsewhere e is a fixed value (decided per section in
  // NEURON, per node here: mechanisms are inserted per compartment).
  std::vector<std::vector<int>> conc_nodes(out.size());
  for (const auto& pl : m.mechanisms) {
    const mechanism_info* info = find_mechanism(pl.name);
    for (const auto& use : info->ions) {
      const auto s = static_cast<std::size_t>(ion_species_index(use.species));
      const bool conc = use.read_ci || use.read_co || use.write_ci || use.write_co;
      for (int c : pl.compartments) {
        const int node = m.geom.node_of[static_cast<std::size_t>(c)];
        out[s].nodes.push_back(node);
        if (conc) conc_nodes[s].push_back(node);
      }
      if (use.read_i) out[s].accumulate = true;
      if (use.write_ci || use.write_co) out[s].written = true;
    }
  }
  for (std::size_t s = 0; s < out.size(); ++s) {
    auto& io = out[s];
    std::sort(io.nodes.begin(), io.nodes.end());
    io.nodes.erase(std::unique(io.nodes.begin(), io.nodes.end()), io.nodes.end());
    const ion_species_info& sp = ion_species_table[s];
    io.e0_mv.assign(io.nodes.size(), sp.e0_mv);
    io.ci0_mm.assign(io.nodes.size(), sp.ci0_mm);
    io.co0_mm.assign(io.nodes.size(), sp.co0_mm);
    // NEURON's nrn_nernst: ktf = 1000 R (celsius + 273.15) / F, e = ktf / z ln(co/ci).
    io.nernst_mv = ((1000.0 * gas_constant) * (m.celsius + 273.15)) / faraday_constant / sp.valence;
    io.nernst_at.assign(io.nodes.size(), 0);
    for (int node : conc_nodes[s]) io.nernst_at[static_cast<std::size_t>(io.row_of(node))] = 1;
  }
  // Two writers of one concentration at the same compartment.
  for (std::size_t s = 0; s < out.size(); ++s) {
    for (const char* which : {"ci", "co"}) {
      std::vector<std::pair<int, std::string>> writes;  // (node, mechanism)
      for (const auto& pl : m.mechanisms) {
        for (const auto& use : find_mechanism(pl.name)->ions) {
          if (ion_species_index(use.species) != static_cast<int>(s)) continue;
          if (!(std::string(which) == "ci" ? use.write_ci : use.write_co)) continue;
          for (int c : pl.compartments) {
            writes.emplace_back(m.geom.node_of[static_cast<std::size_t>(c)], pl.name);
          }
        }
      }
      std::sort(writes.begin(), writes.end());
      for (std::size_t k = 1; k < writes.size(); ++k) {
        if (writes[k].first == writes[k - 1].first) {
          const std::string conc = std::string(ion_species_table[s].name) +
                                   (std::string(which) == "ci" ? "i" : "o");
          throw config_error("cellfit::config: model.mechanisms: " + writes[k - 1].second +
                             " and " + writes[k].second + " both write " + conc +
                             " in the same compartment (NEURON allows one writer)");
        }
      }
    }
  }
  // Config values, region by region in the order given.
  for (const auto& is : m.ions) {
    const int si = ion_species_index(is.species);
    if (si < 0) {
      throw config_error("cellfit::config: model.ions." + is.species +
                         ": no mechanism of the catalogue uses this ion species");
    }
    auto& io = out[static_cast<std::size_t>(si)];
    values_given[static_cast<std::size_t>(si)] = true;
    auto apply = [&](const std::vector<std::pair<std::string, double>>& vals,
                     std::vector<double>& dst) {
      for (const auto& [region, value] : vals) {
        for (int c : compartments_in_region(m.geom, region)) {
          const int r = io.row_of(m.geom.node_of[static_cast<std::size_t>(c)]);
          if (r >= 0) dst[static_cast<std::size_t>(r)] = value;
        }
      }
    };
    apply(is.e_mv, io.e0_mv);
    apply(is.ci_mm, io.ci0_mm);
    apply(is.co_mm, io.co0_mm);
    if (is.style == "nernst") io.nernst_at.assign(io.nodes.size(), 1);
    if (is.style == "fixed") io.nernst_at.assign(io.nodes.size(), 0);
  }
  for (auto& io : out) {
    io.nernst = std::find(io.nernst_at.begin(), io.nernst_at.end(), 1) != io.nernst_at.end();
  }
  for (std::size_t s = 3; s < out.size(); ++s) {  // beyond na, k, ca: no meaningful default
    if (!out[s].nodes.empty() && !values_given[s] && !out[s].written) {
      throw config_error("cellfit::config: model.ions: a mechanism reads ion '" +
                         std::string(ion_species_table[s].name) +
                         "', which no mechanism writes: give its values in [model.ions." +
                         ion_species_table[s].name + "] (e, ci, co)");
    }
  }
  for (auto& io : out) io.dynamic = !io.nodes.empty() && (io.nernst || io.accumulate || io.written);
  return out;
}

}  // namespace cellfit
