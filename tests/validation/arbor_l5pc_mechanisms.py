"""Compares cellfit's L5PC mechanisms (mechanisms/l5pc/*.mod) run in NEURON with Arbor's
built-in `bbp` catalogue, one mechanism at a time, on a one-compartment cell.

Both simulators get the same cell: one cylinder, L = diam = 50 um (NEURON: one section,
nseg 1; Arbor: one CV via cv_policy_single), cm 1 uF/cm2, pas g 3e-5 S/cm2 e -75 mV,
celsius 34 (Arbor tempK 307.15), v_init -65 mV, ena 50 mV, ek -85 mV, fixed step dt 0.025 ms,
600 ms. The stimulus is a staircase of somatic current steps followed by a hyperpolarising
step (STEPS below, scaled per case), so that each channel is driven through activation,
inactivation, and the hyperpolarised range where Ih, Ca_LVAst de-inactivation and rebound act.

Calcium. With no mechanism writing cai, NEURON keeps eca fixed at its default (132.458 mV,
the Nernst value for cai 5e-5 mM, cao 2 mM at 6.3 degC), and Arbor's neuron_cable_properties
uses the same fixed value: the Ca_HVA / Ca_LVAst cases run that way in both. When
CaDynamics_E2 writes cai, NEURON's ion_style rules switch eca to a Nernst potential
recomputed every step from cai and cao at celsius. Arbor does not: a mechanism writing cai
leaves eca at its initial value unless the cell's ca reversal-potential method is set, so the
CaDynamics cases set decor.set_ion("ca", method="nernst/x=ca") (with int_con 5e-5 mM,
ext_con 2 mM, NEURON's cai0/cao0) so that both simulators compute the same eca(t).

The NEURON side compiles the .mod files with nrnivmodl in a temporary directory.

Where the differences come from (the mechanisms' equations are the same on both sides; in
NEURON these .mod files reproduce Blue Brain's published ones bit for bit):
* Arbor's modcc integrates `SOLVE ... METHOD cnexp` gates with the (1,1) Pade approximant
  exp(z) ~ (2 + z)/(2 - z) (modcc/solvers.cpp, exp_pade_11); NEURON uses the exact exp.
  The per-step error is O((dt/tau)^3), so the V gap is O(dt^2): it drops by 4x at dt/2 (the
  "ratio" column). Fast gates (Na m, tau ~0.1 ms) give the largest gaps.
* Step order for concentrations: NEURON moves mechanisms that write an ion concentration
  ahead of all others (nrn_writes_conc), so SK_E2 advances z with the new cai(t+dt); Arbor
  advances every mechanism first and writes cai afterwards (update_ion_state), so SK_E2 sees
  cai(t). This is O(dt) (ratio ~2) and shows only where SK_E2 reads CaDynamics_E2's cai.
* Rounding-level only: Arbor's files fold the +-10 mV shifts and q10 into the constants and
  use exprelr() instead of the `if (v == c) v = v + 0.0001` guards (identical except at the
  exact singular voltage); Arbor's SK_E2 sets zInf = 0 below cai = 1e-7 mM where Blue Brain's
  adds 1e-7 mM (not reached here: cai >= minCai).
* In spiking cases a small gap moves later spikes by a fraction of a step; max|dV| then
  measures a shifted upstroke (tens of mV) and the spike-time column is the better measure.

usage: arbor_l5pc_mechanisms.py [--moddir DIR] [--dt DT] [--no-half-dt] [--keep-build]
Prints one line per case: the NEURON voltage range, max |V_neuron - V_arbor| over the run at
dt and at dt/2 and their ratio, max |cai_neuron - cai_arbor| (absolute and relative to the
peak cai) where calcium is dynamic, and spike counts with the largest spike-time difference.
Reporting only; it exits 0 unless a simulator fails.
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MODDIR = REPO / "mechanisms" / "l5pc"

DT = 0.025          # ms
TSTOP = 600.0       # ms
V_INIT = -65.0      # mV
CELSIUS = 34.0      # degC
LENGTH = DIAM = 50.0  # um
CM = 1.0            # uF/cm2
G_PAS, E_PAS = 3e-5, -75.0
ENA, EK = 50.0, -85.0
CAI0, CAO0 = 5e-5, 2.0          # mM, NEURON's cai0_ca_ion / cao0_ca_ion defaults
ECA_FIXED = 132.4579341637009   # mV, NEURON's default eca (Nernst at 6.3 degC)
# (delay ms, duration ms, amplitude nA, scaled): 2 ms kicks that fire the fast channels, a
# staircase whose amplitudes are multiplied by each case's scale, and a hyperpolarising step
# (Ih activation, Ca_LVAst de-inactivation) ended by a kick (rebound).
STEPS = [(20.0, 2.0, 2.5, False),
         (100.0, 100.0, 0.03, True), (200.0, 100.0, 0.08, True), (300.0, 100.0, 0.15, True),
         (430.0, 100.0, -0.06, False), (530.0, 2.0, 2.5, False)]

CASES = [
    ("pas", {}, 1.0, "none"),
    ("NaTs2_t", {"NaTs2_t": {"gNaTs2_tbar": 0.01}}, 1.0, "none"),
    ("NaTa_t", {"NaTa_t": {"gNaTa_tbar": 0.01}}, 1.0, "none"),
    ("Nap_Et2", {"Nap_Et2": {"gNap_Et2bar": 5e-5}}, 1.0, "none"),
    ("K_Pst", {"K_Pst": {"gK_Pstbar": 0.0003}}, 2.0, "none"),
    ("K_Tst", {"K_Tst": {"gK_Tstbar": 0.0003}}, 1.5, "none"),
    ("SKv3_1", {"SKv3_1": {"gSKv3_1bar": 0.0003}}, 2.0, "none"),
    ("SK_E2 (cai fixed)", {"SK_E2": {"gSK_E2bar": 0.008407}}, 1.0, "fixed"),
    ("Ca_HVA (eca fixed)", {"Ca_HVA": {"gCa_HVAbar": 3e-5}}, 1.0, "fixed"),
    ("Ca_LVAst (eca fixed)", {"Ca_LVAst": {"gCa_LVAstbar": 0.0005}}, 1.0, "fixed"),
    ("Ih", {"Ih": {"gIhbar": 2e-4}}, 1.5, "none"),
    ("Im", {"Im": {"gImbar": 0.0005}}, 2.0, "none"),
    ("CaDynamics_E2", {"CaDynamics_E2": {}}, 1.0, "nernst"),
    ("Ca_HVA+CaDynamics_E2", {"Ca_HVA": {"gCa_HVAbar": 0.000994},
                              "CaDynamics_E2": {"gamma": 0.05, "decay": 80.0}},
     1.0, "nernst"),
    ("Ca_LVAst+CaDynamics_E2", {"Ca_LVAst": {"gCa_LVAstbar": 0.000333},
                                "CaDynamics_E2": {"gamma": 0.05, "decay": 80.0}},
     1.0, "nernst"),
    ("SK_E2+Ca_HVA+CaDynamics_E2", {"SK_E2": {"gSK_E2bar": 0.008407},
                                    "Ca_HVA": {"gCa_HVAbar": 0.000994},
                                    "CaDynamics_E2": {"gamma": 0.05, "decay": 80.0}},
     1.0, "nernst"),
    # All somatic channels of the L5PC release parameter set (spiking).
    ("soma set (release)", {"NaTs2_t": {"gNaTs2_tbar": 0.983955},
                            "SKv3_1": {"gSKv3_1bar": 0.303472},
                            "SK_E2": {"gSK_E2bar": 0.008407},
                            "Ca_HVA": {"gCa_HVAbar": 0.000994},
                            "Ca_LVAst": {"gCa_LVAstbar": 0.000333},
                            "CaDynamics_E2": {"gamma": 0.000609, "decay": 210.485284},
                            "Ih": {"gIhbar": 8e-5}}, 4.0, "nernst"),
    # All axonal channels of the L5PC release parameter set (spiking).
    ("axon set (release)", {"NaTa_t": {"gNaTa_tbar": 3.137968},
                            "Nap_Et2": {"gNap_Et2bar": 0.006827},
                            "K_Pst": {"gK_Pstbar": 0.973538},
                            "K_Tst": {"gK_Tstbar": 0.089259},
                            "SK_E2": {"gSK_E2bar": 0.007104},
                            "SKv3_1": {"gSKv3_1bar": 1.021945},
                            "Ca_HVA": {"gCa_HVAbar": 0.000990},
                            "Ca_LVAst": {"gCa_LVAstbar": 0.008752},
                            "CaDynamics_E2": {"gamma": 0.002910, "decay": 287.198731}},
     8.0, "nernst"),
]


def build_mechanisms(moddir, workdir):
    for f in sorted(Path(moddir).glob("*.mod")):
        shutil.copy(f, workdir)
    r = subprocess.run(["nrnivmodl", "."], cwd=workdir, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("nrnivmodl failed:\n" + r.stdout + r.stderr)
    for lib in Path(workdir).rglob("libnrnmech.so"):
        return str(lib)
    sys.exit("nrnivmodl produced no libnrnmech.so in " + workdir)


def run_neuron(h, mechs, scale, ca_mode, dt):
    sec = h.Section(name="cyl")
    sec.L, sec.diam, sec.nseg, sec.cm, sec.Ra = LENGTH, DIAM, 1, CM, 100.0
    sec.insert("pas")
    sec.g_pas, sec.e_pas = G_PAS, E_PAS
    for mech, pars in mechs.items():
        sec.insert(mech)
        for p, val in pars.items():
            setattr(sec(0.5), "%s_%s" % (p, mech), val)
    for ion, e in (("na", ENA), ("k", EK)):
        if h.ismembrane(ion + "_ion", sec=sec):
            setattr(sec, "e" + ion, e)
    if ca_mode == "fixed":
        sec.eca = ECA_FIXED
    clamps = []
    for delay, dur, amp, scaled in STEPS:
        ic = h.IClamp(sec(0.5))
        ic.delay, ic.dur, ic.amp = delay, dur, amp * (scale if scaled else 1.0)
        clamps.append(ic)
    v = h.Vector().record(sec(0.5)._ref_v)
    cai = h.Vector().record(sec(0.5)._ref_cai) if ca_mode != "none" else None
    h.celsius, h.dt, h.steps_per_ms, h.secondorder = CELSIUS, dt, 1.0 / dt, 0
    h.finitialize(V_INIT)
    while h.t < TSTOP - dt / 2:
        h.fadvance()
    out = (np.array(v), np.array(cai) if cai is not None else None)
    del clamps, sec
    return out


def run_arbor(A, mechs, scale, ca_mode, dt):
    U = A.units
    tree = A.segment_tree()
    tree.append(A.mnpos, A.mpoint(-LENGTH / 2, 0, 0, DIAM / 2),
                A.mpoint(LENGTH / 2, 0, 0, DIAM / 2), tag=1)
    decor = A.decor()
    decor.set_property(Vm=V_INIT * U.mV, cm=CM * U.uF / U.cm2, rL=100.0 * U.Ohm * U.cm,
                       tempK=(CELSIUS + 273.15) * U.Kelvin)
    decor.set_ion("na", rev_pot=ENA * U.mV)
    decor.set_ion("k", rev_pot=EK * U.mV)
    if ca_mode == "nernst":
        decor.set_ion("ca", int_con=CAI0 * U.mM, ext_con=CAO0 * U.mM,
                      method=A.mechanism("nernst/x=ca"))
    else:
        decor.set_ion("ca", int_con=CAI0 * U.mM, ext_con=CAO0 * U.mM,
                      rev_pot=ECA_FIXED * U.mV)
    decor.paint("(all)", A.density("pas/e=%r" % E_PAS, {"g": G_PAS}))  # e is GLOBAL in Arbor
    for mech, pars in mechs.items():
        decor.paint("(all)", A.density(mech, pars))
    for delay, dur, amp, scaled in STEPS:
        a = amp * (scale if scaled else 1.0)
        decor.place("(location 0 0.5)", A.i_clamp(delay * U.ms, dur * U.ms, a * U.nA))
    cell = A.cable_cell(A.morphology(tree), decor, A.label_dict(),
                        discretization=A.cv_policy_single())

    props = A.neuron_cable_properties()
    props.catalogue.extend(A.bbp_catalogue(), "")

    class Recipe(A.recipe):
        def __init__(self):
            A.recipe.__init__(self)

        def num_cells(self):
            return 1

        def cell_kind(self, gid):
            return A.cell_kind.cable

        def cell_description(self, gid):
            return cell

        def probes(self, gid):
            ps = [A.cable_probe_membrane_voltage("(location 0 0.5)", "Um")]
            if ca_mode != "none":
                ps.append(A.cable_probe_ion_int_concentration("(location 0 0.5)", "ca",
                                                              "cai"))
            return ps

        def global_properties(self, kind):
            return props

    sim = A.simulation(Recipe())
    sched = A.regular_schedule(dt * U.ms)
    hv = sim.sample((0, "Um"), sched)
    hc = sim.sample((0, "cai"), sched) if ca_mode != "none" else None
    sim.run(TSTOP * U.ms, dt * U.ms)
    v = sim.samples(hv)[0][0][:, 1]
    cai = None
    if hc is not None:
        got = sim.samples(hc)   # empty where no mechanism on the cell touches cai
        cai = got[0][0][:, 1] if got else None
    return v, cai


def spike_times(v, dt):
    """Upward 0 mV crossings, linearly interpolated (ms)."""
    i = np.where((v[1:] >= 0.0) & (v[:-1] < 0.0))[0]
    return (i + v[i] / (v[i] - v[i + 1])) * dt


def compare(h, A, mechs, scale, ca_mode, dt):
    vn, cn = run_neuron(h, mechs, scale, ca_mode, dt)
    va, ca = run_arbor(A, mechs, scale, ca_mode, dt)
    n = min(len(vn), len(va))
    r = {"vmin": vn.min(), "vmax": vn.max(), "dv": np.max(np.abs(vn[:n] - va[:n])),
         "dcai": None, "tn": spike_times(vn[:n], dt), "ta": spike_times(va[:n], dt)}
    if cn is not None and ca is not None:
        r["dcai"] = np.max(np.abs(cn[:n] - ca[:n]))
        r["caimax"] = cn.max()
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--moddir", default=str(DEFAULT_MODDIR))
    ap.add_argument("--dt", type=float, default=DT)
    ap.add_argument("--no-half-dt", action="store_true",
                    help="skip the rerun at dt/2 (the ratio column shows how the gap scales)")
    ap.add_argument("--keep-build", action="store_true")
    args = ap.parse_args()

    import arbor as A
    from neuron import h

    work = tempfile.mkdtemp(prefix="cellfit_l5pc_nrn_")
    try:
        h.nrn_load_dll(build_mechanisms(args.moddir, work))
        h.load_file("stdrun.hoc")
        print("NEURON %s | Arbor %s | dt %g ms, %g ms | cylinder L = diam = %g um"
              % (h.nrnversion(), A.__version__, args.dt, TSTOP, LENGTH))
        print("%-27s %15s %11s %11s %6s %13s %9s %10s"
              % ("case", "V range (mV)", "max|dV| mV", "at dt/2", "ratio",
                 "max|dcai| mM", "(rel)", "spikes N/A, max|dt_spike| ms"))
        for name, mechs, scale, ca_mode in CASES:
            r = compare(h, A, mechs, scale, ca_mode, args.dt)
            half = None if args.no_half_dt else compare(h, A, mechs, scale, ca_mode,
                                                         args.dt / 2)
            hv = ("%11.3g %6.1f" % (half["dv"], r["dv"] / half["dv"])
                  if half is not None and half["dv"] > 0 else " " * 18)
            dc = ("%13.3g %9.2g" % (r["dcai"], r["dcai"] / r["caimax"])
                  if r["dcai"] is not None else " " * 23)
            sp = ""
            if len(r["tn"]) or len(r["ta"]):
                k = min(len(r["tn"]), len(r["ta"]))
                shift = np.max(np.abs(r["tn"][:k] - r["ta"][:k])) if k else float("nan")
                sp = "%3d/%-3d %.3g" % (len(r["tn"]), len(r["ta"]), shift)
            print("%-27s %7.1f %7.1f %11.3g %s %s   %s"
                  % (name, r["vmin"], r["vmax"], r["dv"], hv, dc, sp))
            sys.stdout.flush()
    finally:
        if args.keep_build:
            print("NEURON build kept in", work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
