#pragma once
// A small tree carrying the twelve L5PC mechanisms (generated from mechanisms/l5pc/*.mod) by
// region as in the L5PC, with calcium dynamics (CaDynamics_E2 writes cai, eca follows Nernst,
// SK_E2 reads cai): shared by the gradient and the simulator tests.

#include <string>

namespace cellfit_test {

inline std::string l5pc_tree_config() {
  return std::string(R"(
[model]
morphology = ")") +
         CELLFIT_SOURCE_DIR + R"(/examples/data/branched.swc"
nseg = 2
celsius = 34.0
ra = 100.0
cm = { default = 1.0, basal = 2.0, apical = 2.0 }
[model.ions.na]
e = 50.0
[model.ions.k]
e = -85.0
[model.mechanisms.pas]
g = 3e-5
e = -75.0
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
gamma = { soma = 0.000609, axon = 0.00291 }
decay = { soma = 210.485291, axon = 287.198731 }
[model.mechanisms.Ca_HVA]
regions = ["soma", "axon", "apical"]
gCa_HVAbar = { soma = 0.000994, axon = 0.00099, apical = 0.000555 }
[model.mechanisms.Ca_LVAst]
regions = ["soma", "axon"]
gCa_LVAstbar = { soma = 0.000333, axon = 0.008752 }
[model.mechanisms.Ih]
regions = ["soma", "basal", "apical"]
gIhbar = 8e-5
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
[simulation]
dt_ms = 0.025
t_stop_ms = 10.0
record_every = 4
record_sites = [0, 2, 13] # soma, basal, apical tip (sections in Import3d's order, axon last)
[[stimulus]]
sites = [0]
amplitude = 1.5
delay_ms = 1.0
)";
}

}  // namespace cellfit_test
