#pragma once
// The mechanism sets the benchmarks time, as the [model] table of a cellfit config (TOML),
// so that cellfit builds them through its config reader and bench/neuron_throughput.py
// builds the same model in NEURON from the same text.
//
//   l5pc      the L5PC channel distribution of BluePyOpt's L5PC example (Hay et al. 2011;
//             mechanisms/l5pc): soma NaTs2_t, SKv3_1, SK_E2, CaDynamics_E2, Ca_HVA,
//             Ca_LVAst, Ih; axon NaTa_t, Nap_Et2, K_Pst, K_Tst, SK_E2, SKv3_1, Ca_HVA,
//             Ca_LVAst, CaDynamics_E2; apical NaTs2_t, SKv3_1, Im, Ih; basal Ih; pas
//             everywhere. The example's released conductances (those of
//             tests/validation/data/l5pc_ball_and_stick.toml), Ih uniform at 8e-5 S/cm2 (the
//             example grows it exponentially along the apical dendrite), g_pas 3e-5, e_pas
//             -75, cm 1 (soma, axon) / 2 (dendrites), Ra 100, celsius 34, ena 50, ek -85;
//             calcium by Nernst from cai (CaDynamics_E2) and cao 2 mM.
//   hh        the hand-written hh everywhere (defaults: celsius 6.3, ena 50, ek -77).
//   hh_nmodl  the same channel generated from mechanisms/builtin/hh_nmodl.mod, reading ena
//             and ek from the ions, set to hh's defaults (na e 50, k e -77).
// and, to attribute the cost mechanism by mechanism (defaults, celsius 34):
//   pas       pas everywhere;
//   mech:X    pas and the catalogue's mechanism X everywhere (ions at NEURON's defaults).

#include <sstream>
#include <stdexcept>
#include <string>

namespace cellfit::bench {

inline const char* const l5pc_mechanisms_toml = R"(celsius = 34.0
ra = 100.0
cm = { default = 1.0, apical = 2.0, basal = 2.0 }
[model.mechanisms.pas]
regions = "all"
g = 3e-5
e = -75.0
[model.mechanisms.Ih]
regions = ["soma", "apical", "basal"]
gIhbar = 8e-5
[model.mechanisms.NaTs2_t]
regions = ["soma", "apical"]
gNaTs2_tbar = { soma = 0.983955, apical = 0.026145 }
[model.mechanisms.SKv3_1]
regions = ["soma", "axon", "apical"]
gSKv3_1bar = { soma = 0.303472, axon = 1.021945, apical = 0.004226 }
[model.mechanisms.SK_E2]
regions = ["soma", "axon"]
gSK_E2bar = { soma = 0.008407, axon = 0.007104 }
[model.mechanisms.CaDynamics_E2]
regions = ["soma", "axon"]
gamma = { soma = 0.000609, axon = 0.002910 }
decay = { soma = 210.485284, axon = 287.198731 }
[model.mechanisms.Ca_HVA]
regions = ["soma", "axon"]
gCa_HVAbar = { soma = 0.000994, axon = 0.000990 }
[model.mechanisms.Ca_LVAst]
regions = ["soma", "axon"]
gCa_LVAstbar = { soma = 0.000333, axon = 0.008752 }
[model.mechanisms.Im]
regions = "apical"
gImbar = 0.000143
[model.mechanisms.NaTa_t]
regions = "axon"
gNaTa_tbar = 3.137968
[model.mechanisms.Nap_Et2]
regions = "axon"
gNap_Et2bar = 0.006827
[model.mechanisms.K_Pst]
regions = "axon"
gK_Pstbar = 0.973538
[model.mechanisms.K_Tst]
regions = "axon"
gK_Tstbar = 0.089259
[model.ions.na]
e = 50.0
[model.ions.k]
e = -85.0
)";

inline bool known_mechanism_set(const std::string& set) {
  return set == "l5pc" || set == "hh" || set == "hh_nmodl" || set == "pas" ||
         (set.rfind("mech:", 0) == 0 && set.size() > 5);
}

// The [model] table: morphology (SWC path or builtin:...), optional max_compartment_um
// (0: one compartment per section unless the morphology says otherwise) and the set.
inline std::string model_toml(const std::string& set, const std::string& morphology,
                              double max_compartment_um = 0) {
  std::ostringstream t;
  t << "[model]\nmorphology = \"" << morphology << "\"\n";
  if (max_compartment_um > 0) t << "max_compartment_um = " << max_compartment_um << "\n";
  if (set == "l5pc") {
    t << l5pc_mechanisms_toml;
  } else if (set == "hh") {
    t << "[model.mechanisms.hh]\nregions = \"all\"\n";
  } else if (set == "hh_nmodl") {
    t << "[model.mechanisms.hh_nmodl]\nregions = \"all\"\n"
      << "[model.ions.na]\ne = 50.0\n[model.ions.k]\ne = -77.0\n";
  } else if (set == "pas" || set.rfind("mech:", 0) == 0) {
    t << "celsius = 34.0\n[model.mechanisms.pas]\nregions = \"all\"\n";
    if (set != "pas") t << "[model.mechanisms." << set.substr(5) << "]\nregions = \"all\"\n";
  } else {
    throw std::invalid_argument("unknown mechanism set " + set +
                                " (l5pc, hh, hh_nmodl, pas, mech:NAME)");
  }
  return t.str();
}

// Somatic step (nA) that makes the cell fire on tree184-sized cells.
inline double default_amplitude_na(const std::string& set) { return set == "l5pc" ? 1.0 : 2.0; }

}  // namespace cellfit::bench
