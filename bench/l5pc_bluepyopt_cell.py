"""BluePyOpt's L5PC cell built with BluePyOpt's own classes, for the scripts that run it as
the peer: bench/bluepyopt_l5pc.py (the fitting problem, side by side) and
tests/validation/test_l5pc_release_neuron.py (the released parameters, spike by spike).

The facts are BluePyOpt's examples/l5pc config (mechanisms.json, parameters.json and the
released values of its 20 free parameters); cellfit's side of the same cell is
examples/l5pc/*.toml.
"""
import glob
import os
import shutil
import subprocess
import sys

DT_MS = 0.025

# Mechanisms per section list (mechanisms.json).
MECHANISMS = {
    "all": ["pas"],
    "apical": ["Im", "NaTs2_t", "SKv3_1", "Ih"],
    "axonal": ["NaTa_t", "Nap_Et2", "K_Pst", "K_Tst", "SK_E2", "SKv3_1", "Ca_HVA", "Ca_LVAst",
               "CaDynamics_E2"],
    "somatic": ["NaTs2_t", "SKv3_1", "SK_E2", "CaDynamics_E2", "Ca_HVA", "Ca_LVAst", "Ih"],
    "basal": ["Ih"],
}
# (NEURON name, section list, value); section parameters first, as parameters.json lists them.
SECTION_PARAMETERS = [
    ("g_pas", "all", 3e-5), ("e_pas", "all", -75.0), ("cm", "all", 1.0), ("Ra", "all", 100.0),
    ("ena", "apical", 50.0), ("ek", "apical", -85.0), ("cm", "apical", 2.0),
    ("ena", "somatic", 50.0), ("ek", "somatic", -85.0), ("cm", "basal", 2.0),
    ("ena", "axonal", 50.0), ("ek", "axonal", -85.0),
]
# The range parameters that are never free.
FIXED_RANGE_PARAMETERS = [("gIhbar_Ih", "basal", 8e-5), ("gIhbar_Ih", "somatic", 8e-5)]
# The released values of the 20 free parameters.
RELEASED_RANGE_PARAMETERS = [
    ("gNaTs2_tbar_NaTs2_t", "apical", 0.026145), ("gSKv3_1bar_SKv3_1", "apical", 0.004226),
    ("gImbar_Im", "apical", 0.000143),
    ("gNaTa_tbar_NaTa_t", "axonal", 3.137968), ("gNap_Et2bar_Nap_Et2", "axonal", 0.006827),
    ("gK_Pstbar_K_Pst", "axonal", 0.973538), ("gK_Tstbar_K_Tst", "axonal", 0.089259),
    ("gSK_E2bar_SK_E2", "axonal", 0.007104), ("gSKv3_1bar_SKv3_1", "axonal", 1.021945),
    ("gCa_HVAbar_Ca_HVA", "axonal", 0.000990), ("gCa_LVAstbar_Ca_LVAst", "axonal", 0.008752),
    ("gamma_CaDynamics_E2", "axonal", 0.002910), ("decay_CaDynamics_E2", "axonal", 287.198731),
    ("gNaTs2_tbar_NaTs2_t", "somatic", 0.983955), ("gSKv3_1bar_SKv3_1", "somatic", 0.303472),
    ("gSK_E2bar_SK_E2", "somatic", 0.008407), ("gCa_HVAbar_Ca_HVA", "somatic", 0.000994),
    ("gCa_LVAstbar_Ca_LVAst", "somatic", 0.000333),
    ("gamma_CaDynamics_E2", "somatic", 0.000609), ("decay_CaDynamics_E2", "somatic", 210.485284),
]
# The apical Ih density: BluePyOpt's exponential scaler of the path distance from the soma.
IH_APICAL = "(-0.8696 + 2.087*math.exp(({distance})*0.0031))*{value}"
GLOBAL_PARAMETERS = [("v_init", -65.0), ("celsius", 34.0)]


def morphology():
    """C060114A7.asc as the installed bluepyopt ships it, or None when it does not."""
    import bluepyopt

    path = os.path.join(os.path.dirname(bluepyopt.__file__),
                        "tests/test_ephys/testdata/acc/l5pc/C060114A7.asc")
    return path if os.path.exists(path) else None


def simulator(ephys, mech_dir, mode="fixed"):
    """NrnSimulator: "fixed" (dt 0.025 ms, secondorder 0, NEURON's scheme that cellfit
    reproduces) or "cvode" (BluePyOpt's default)."""
    if mode == "fixed":
        sim = ephys.simulators.NrnSimulator(dt=DT_MS, cvode_active=False,
                                            mechanisms_directory=mech_dir)
        sim.neuron.h.secondorder = 0
        return sim
    return ephys.simulators.NrnSimulator(mechanisms_directory=mech_dir)


def cell_model(ephys, asc, range_parameters, free=()):
    """The CellModel on `asc` with axon replacement: the mechanisms, the section parameters,
    `range_parameters` [(name, section list, value)] frozen, the apical Ih distribution, the
    globals, and `free` [(BluePyOpt name "param.list", low, high)] left free.
    Returns (cell, free parameter names)."""
    loc = {name: ephys.locations.NrnSeclistLocation(name, seclist_name=name)
           for name in MECHANISMS}
    mechs = [ephys.mechanisms.NrnMODMechanism(name=f"{m}.{sl}", suffix=m, locations=[loc[sl]],
                                              preloaded=True)
             for sl, ms in MECHANISMS.items() for m in ms]
    uniform = ephys.parameterscalers.NrnSegmentLinearScaler()
    params = [ephys.parameters.NrnSectionParameter(
        name=f"{p}.{sl}", param_name=p, value_scaler=uniform, value=v, frozen=True,
        locations=[loc[sl]]) for p, sl, v in SECTION_PARAMETERS]
    params += [ephys.parameters.NrnRangeParameter(
        name=f"{p}.{sl}", param_name=p, value_scaler=uniform, value=v, frozen=True,
        locations=[loc[sl]]) for p, sl, v in range_parameters]
    params.append(ephys.parameters.NrnRangeParameter(
        name="gIhbar_Ih.apical", param_name="gIhbar_Ih",
        value_scaler=ephys.parameterscalers.NrnSegmentSomaDistanceScaler(distribution=IH_APICAL),
        value=8e-5, frozen=True, locations=[loc["apical"]]))
    params += [ephys.parameters.NrnGlobalParameter(name=p, param_name=p, value=v, frozen=True)
               for p, v in GLOBAL_PARAMETERS]
    free_names = []
    for bname, lo, hi in free:
        pname, sl = bname.split(".")
        params.append(ephys.parameters.NrnRangeParameter(
            name=bname, param_name=pname, value_scaler=uniform, bounds=[lo, hi], frozen=False,
            locations=[loc[sl]]))
        free_names.append(bname)
    cell = ephys.models.CellModel(
        "l5pc", morph=ephys.morphologies.NrnFileMorphology(asc, do_replace_axon=True),
        mechs=mechs, params=params)
    return cell, free_names


def soma_location(ephys):
    """soma[0](0.5), where BluePyOpt's L5PC injects and records."""
    return ephys.locations.NrnSeclistCompLocation(name="soma", seclist_name="somatic",
                                                  sec_index=0, comp_x=0.5)


def apical_point(ephys, name, soma_distance_um):
    """The apical recording site at a path distance from the soma (BluePyOpt's rule)."""
    return ephys.locations.NrnSomaDistanceCompLocation(name=name, soma_distance=soma_distance_um,
                                                       seclist_name="apical")


def nrnivmodl(mod_dir, work):
    """Compiles mod_dir's .mod files for NEURON in work/; returns the directory BluePyOpt
    loads <arch>/.libs/libnrnmech.so from. Exits with NEURON's output when it fails."""
    mech = os.path.join(work, "mechanisms")
    os.makedirs(mech)
    for f in glob.glob(os.path.join(mod_dir, "*.mod")):
        shutil.copy(f, mech)
    r = subprocess.run(["nrnivmodl", "mechanisms"], cwd=work, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"nrnivmodl failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return work
