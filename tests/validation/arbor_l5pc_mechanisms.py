"""cellfit's L5PC mechanisms (mechanisms/l5pc/*.mod) on one compartment against NEURON running
the same .mod files and against Arbor's built-in `bbp` catalogue, mechanism by mechanism.

usage: arbor_l5pc_mechanisms.py [CELLFIT_BINARY [MOD_DIR]] [--dt DT] [--no-half-dt]
                                [--keep-build]
(defaults: build/src/cellfit, mechanisms/l5pc). Exits 0 when every check below holds, 1
otherwise, 77 (skipped) when `import arbor` fails (pip install arbor).

The three simulators get the same cell: one cylinder, L = diam = 50 um (NEURON: one section,
nseg 1; Arbor: one CV via cv_policy_single; cellfit: an SWC one-point soma of radius 25 um,
which cellfit, like NEURON's Import3d, turns into that cylinder: the script checks
`cellfit info`'s area against pi 50 50 um2), cm 1 uF/cm2, pas g 3e-5 S/cm2 e -75 mV,
celsius 34 (Arbor tempK 307.15), v_init -65 mV, ena 50 mV, ek -85 mV, fixed step dt 0.025 ms,
600 ms. The stimulus is a staircase of somatic current steps followed by a hyperpolarising
step (STEPS below, scaled per case), so that each channel is driven through activation,
inactivation, and the hyperpolarised range where Ih, Ca_LVAst de-inactivation and rebound act.
NEURON and Arbor get one IClamp / i_clamp per step; cellfit gets the summed staircase as one
`waveform` stimulus (a CSV; each [[stimulus]] table of a cellfit config is a separate cell, so
separate step tables would not add up), whose edges are ramps of +-1 us around grid times:
cellfit samples currents at the step midpoints, as NEURON does, and gets exactly NEURON's
amplitudes there.

Calcium. With no mechanism writing cai, NEURON keeps eca fixed at its default (132.458 mV,
the Nernst value for cai 5e-5 mM, cao 2 mM at 6.3 degC), and Arbor's neuron_cable_properties
uses the same fixed value: the Ca_HVA / Ca_LVAst cases run that way in all three (cellfit:
[model.ions.ca] e, ion style "auto" = NEURON's rule). When CaDynamics_E2 writes cai, NEURON's
ion_style rules switch eca to a Nernst potential recomputed every step from cai and cao at
celsius, and so does cellfit's "auto" style. Arbor does not: a mechanism writing cai leaves
eca at its initial value unless the cell's ca reversal-potential method is set, so the
CaDynamics cases set decor.set_ion("ca", method="nernst/x=ca") (with int_con 5e-5 mM,
ext_con 2 mM, NEURON's cai0/cao0; cellfit: [model.ions.ca] ci, co) so that all three compute
the same eca(t).

The NEURON side compiles the .mod files of MOD_DIR with nrnivmodl in a temporary directory.

Checks (per case; figures printed one line per case):
* cellfit vs NEURON: max |dV| < 1e-6 mV over the whole run, at dt and at dt/2, and equal
  spike counts. Both integrate the same equations with the same scheme (backward Euler for V,
  cnexp's exact exponential for gates, concentration writers first, eca by Nernst every
  step), so only rounding separates them (observed <= 6e-9 mV, in the spiking sets).
* cellfit vs Arbor: spike counts (upward 0 mV crossings) equal and spike times within 0.1 ms;
  max |dV| over the run at dt 0.025 ms within the case's bound (CASES), and in the spiking
  sets also max |dV| away from spikes (samples more than 2 ms from any spike of either trace)
  within a second bound; a gap above 1e-7 mV must shrink by at least 1.5x at dt/2 (the
  "ratio" column), and cases marked "round" must stay below 1e-7 mV.

Where the cellfit-Arbor differences come from, and the bounds. The mechanisms' equations are
the same on all sides (in NEURON these .mod files reproduce Blue Brain's published ones bit
for bit); cellfit matches NEURON to rounding, so the cellfit-Arbor gap is NEURON's:
* "pade": Arbor's modcc integrates `SOLVE ... METHOD cnexp` gates with the (1,1) Pade
  approximant exp(z) ~ (2 + z)/(2 - z) (modcc/solvers.cpp, exp_pade_11); NEURON and cellfit
  use the exact exp. The per-step error is O((dt/tau)^3), so the V gap is O(dt^2): it drops
  by 4x at dt/2. Fast gates (Na m, tau ~0.1 ms) give the largest gaps.
* "cai": step order for concentrations. NEURON and cellfit move mechanisms that write an ion
  concentration ahead of all others (nrn_writes_conc), so SK_E2 advances z with the new
  cai(t+dt); Arbor advances every mechanism first and writes cai afterwards
  (update_ion_state), so SK_E2 sees cai(t). This is O(dt) (ratio ~2) and shows only where
  SK_E2 reads CaDynamics_E2's cai.
* "round": rounding only. Arbor's files fold the +-10 mV shifts and q10 into the constants and
  use exprelr() instead of the `if (v == c) v = v + 0.0001` guards (identical except at the
  exact singular voltage); Arbor's SK_E2 sets zInf = 0 below cai = 1e-7 mM where Blue Brain's
  adds 1e-7 mM (not reached here: cai >= minCai). Cases with no cnexp gate stay at ~1e-12 mV.
* "shift": in spiking cases a small gap moves later spikes by a fraction of a step; max |dV|
  then measures a shifted upstroke (tens of mV: dV/dt ~ 700 mV/ms times a 0.07 ms shift), so
  there the spike times and the off-spike gap are the real measures.
The measured ratios (NEURON 9.0.2, Arbor 0.12.2) are 3.9-4.0 in every "pade" case, 2.0 for
SK_E2+Ca_HVA+CaDynamics_E2, 3.5 and 3.8 for the spiking sets (Pade-dominated; the soma set's
off-spike gap: 5.5), i.e. every gap above rounding is the leading discretisation term of a
known cause, C dt^p with p = 2 (or 1), not a model difference (a wrong constant or equation
gives a gap that does not shrink with dt). Each bound is therefore that term as measured at
dt 0.025 ms, times a margin: the observed gap x 2, rounded up on a 1-2-5 scale (e.g. NaTs2_t
0.089 -> 0.2 mV, Ca_HVA 1.5e-4 -> 5e-4 mV, Ih 1.8e-7 -> 5e-7 mV), 1e-9 mV for "round" cases.
The bounds apply at dt 0.025 ms (not with --dt); the ratio check needs the dt/2 rerun (not
with --no-half-dt).
"""
import argparse
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CELLFIT = REPO / "build" / "src" / "cellfit"
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

# Tolerances (see the docstring).
CF_NRN_TOL = 1e-6       # mV, cellfit vs NEURON, every case, at dt and dt/2
SPIKE_TOL = 0.1         # ms, cellfit vs Arbor spike times
SPIKE_WINDOW = 2.0      # ms either side of a spike left out of the off-spike gap
ROUNDING = 1e-7         # mV: a cellfit-Arbor gap below this needs no dt-halving evidence
MIN_RATIO = 1.5         # a larger gap must shrink at least this much at dt/2

CAUSES = {"round": "rounding only",
          "pade": "Arbor's Pade exp in cnexp, O(dt^2), ratio ~4",
          "cai": "SK_E2 sees cai(t) in Arbor (write order), O(dt), ratio ~2, + Pade",
          "shift": "Pade shifts spikes by a fraction of a step: see spikes, off-spike gap"}

# (name, mechanisms {name: {parameter: value}}, staircase scale, calcium mode,
#  cellfit-Arbor max|dV| bound (mV, dt 0.025 ms), off-spike bound (mV) or None, cause)
CASES = [
    ("pas", {}, 1.0, "none", 1e-9, None, "round"),
    ("NaTs2_t", {"NaTs2_t": {"gNaTs2_tbar": 0.01}}, 1.0, "none", 0.2, None, "pade"),
    ("NaTa_t", {"NaTa_t": {"gNaTa_tbar": 0.01}}, 1.0, "none", 0.2, None, "pade"),
    ("Nap_Et2", {"Nap_Et2": {"gNap_Et2bar": 5e-5}}, 1.0, "none", 1e-3, None, "pade"),
    ("K_Pst", {"K_Pst": {"gK_Pstbar": 0.0003}}, 2.0, "none", 2e-5, None, "pade"),
    ("K_Tst", {"K_Tst": {"gK_Tstbar": 0.0003}}, 1.5, "none", 2e-4, None, "pade"),
    ("SKv3_1", {"SKv3_1": {"gSKv3_1bar": 0.0003}}, 2.0, "none", 5e-5, None, "pade"),
    ("SK_E2 (cai fixed)", {"SK_E2": {"gSK_E2bar": 0.008407}}, 1.0, "fixed", 1e-9, None,
     "round"),
    ("Ca_HVA (eca fixed)", {"Ca_HVA": {"gCa_HVAbar": 3e-5}}, 1.0, "fixed", 5e-4, None,
     "pade"),
    ("Ca_LVAst (eca fixed)", {"Ca_LVAst": {"gCa_LVAstbar": 0.0005}}, 1.0, "fixed", 1e-3,
     None, "pade"),
    ("Ih", {"Ih": {"gIhbar": 2e-4}}, 1.5, "none", 5e-7, None, "pade"),
    ("Im", {"Im": {"gImbar": 0.0005}}, 2.0, "none", 2e-5, None, "pade"),
    ("CaDynamics_E2", {"CaDynamics_E2": {}}, 1.0, "nernst", 1e-9, None, "round"),
    ("Ca_HVA+CaDynamics_E2", {"Ca_HVA": {"gCa_HVAbar": 0.000994},
                              "CaDynamics_E2": {"gamma": 0.05, "decay": 80.0}},
     1.0, "nernst", 1e-2, None, "pade"),
    ("Ca_LVAst+CaDynamics_E2", {"Ca_LVAst": {"gCa_LVAstbar": 0.000333},
                                "CaDynamics_E2": {"gamma": 0.05, "decay": 80.0}},
     1.0, "nernst", 5e-4, None, "pade"),
    # Max |dV| on the kick's spike (3.2 mV); off it, the O(dt) write-order gap (0.77 mV).
    ("SK_E2+Ca_HVA+CaDynamics_E2", {"SK_E2": {"gSK_E2bar": 0.008407},
                                    "Ca_HVA": {"gCa_HVAbar": 0.000994},
                                    "CaDynamics_E2": {"gamma": 0.05, "decay": 80.0}},
     1.0, "nernst", 10.0, 2.0, "cai"),
    # All somatic channels of the L5PC release parameter set (spiking). Max |dV| (49 mV) is a
    # 0.07 ms shift of an upstroke, hence the loose bound; off-spike gap 0.26 mV.
    ("soma set (release)", {"NaTs2_t": {"gNaTs2_tbar": 0.983955},
                            "SKv3_1": {"gSKv3_1bar": 0.303472},
                            "SK_E2": {"gSK_E2bar": 0.008407},
                            "Ca_HVA": {"gCa_HVAbar": 0.000994},
                            "Ca_LVAst": {"gCa_LVAstbar": 0.000333},
                            "CaDynamics_E2": {"gamma": 0.000609, "decay": 210.485284},
                            "Ih": {"gIhbar": 8e-5}}, 4.0, "nernst", 100.0, 0.5, "shift"),
    # All axonal channels of the L5PC release parameter set (spiking). Max |dV| 7.4 mV,
    # off-spike 0.02 mV.
    ("axon set (release)", {"NaTa_t": {"gNaTa_tbar": 3.137968},
                            "Nap_Et2": {"gNap_Et2bar": 0.006827},
                            "K_Pst": {"gK_Pstbar": 0.973538},
                            "K_Tst": {"gK_Tstbar": 0.089259},
                            "SK_E2": {"gSK_E2bar": 0.007104},
                            "SKv3_1": {"gSKv3_1bar": 1.021945},
                            "Ca_HVA": {"gCa_HVAbar": 0.000990},
                            "Ca_LVAst": {"gCa_LVAstbar": 0.008752},
                            "CaDynamics_E2": {"gamma": 0.002910, "decay": 287.198731}},
     8.0, "nernst", 20.0, 0.05, "shift"),
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


def stimulus_current(t, scale):
    """The summed IClamp current at time t (NEURON's rule: on for delay <= t < delay + dur)."""
    return sum(amp * (scale if scaled else 1.0)
               for delay, dur, amp, scaled in STEPS if delay <= t < delay + dur)


def write_waveform(path, scale, eps=1e-3):
    """The staircase as one cellfit waveform: piecewise linear, each edge a ramp over
    [edge - eps, edge + eps]. Both simulators sample the current at step midpoints
    (n + 1/2) dt, at least dt/2 from any edge (the edges lie on the step grid), so with
    eps < dt/2 cellfit's interpolation returns exactly NEURON's amplitude at every step."""
    edges = sorted({e for d, w, _, _ in STEPS for e in (d, d + w)})
    pts = [(0.0, stimulus_current(0.0, scale))]
    for e in edges:
        pts.append((e - eps, stimulus_current(e - eps, scale)))
        pts.append((e + eps, stimulus_current(e + eps, scale)))
    pts.append((TSTOP, stimulus_current(TSTOP, scale)))
    with open(path, "w") as f:
        f.write("t_ms,current_nA\n")
        for t, i in pts:
            f.write("%r,%r\n" % (t, i))


def cellfit_config(mechs, ca_mode, dt, swc, csv):
    """The case as a cellfit config (TOML): the same cylinder, mechanisms and stimulus."""
    lines = ["[model]", "morphology = %s" % toml_str(swc), "celsius = %r" % CELSIUS,
             "v_init = %r" % V_INIT, "cm = %r" % CM, "ra = 100.0",
             "[model.mechanisms.pas]", "g = %r" % G_PAS, "e = %r" % E_PAS]
    for mech, pars in mechs.items():
        lines.append("[model.mechanisms.%s]" % mech)
        lines += ["%s = %r" % (p, float(v)) for p, v in pars.items()]
    # Reversal potentials only for the ions the case's mechanisms use (cellfit, like NEURON,
    # refuses values for an ion no mechanism there uses).
    if any(m in mechs for m in ("NaTs2_t", "NaTa_t", "Nap_Et2")):
        lines += ["[model.ions.na]", "e = %r" % ENA]
    if any(m in mechs for m in ("K_Pst", "K_Tst", "SKv3_1", "SK_E2", "Im")):
        lines += ["[model.ions.k]", "e = %r" % EK]
    if ca_mode != "none":
        lines += ["[model.ions.ca]", "ci = %r" % CAI0, "co = %r" % CAO0]
        if ca_mode == "fixed":   # NEURON's sec.eca (used where nothing reads cai: style auto)
            lines.append("e = %r" % ECA_FIXED)
    lines += ["[simulation]", "dt_ms = %r" % dt, "t_stop_ms = %r" % TSTOP,
              'record_sites = "all"',
              "[[stimulus]]", 'type = "waveform"', 'sites = "soma"',
              "file = %s" % toml_str(csv)]
    return "\n".join(lines) + "\n"


def toml_str(path):
    return '"%s"' % str(path).replace("\\", "\\\\").replace('"', '\\"')


def run_cellfit(binary, work, tag, mechs, scale, ca_mode, dt):
    work = Path(work)
    swc = work / "soma.swc"
    if not swc.exists():
        # One-point soma, radius 25 um: Import3d's (and cellfit's) 50 x 50 um cylinder.
        swc.write_text("1 1 0 0 0 25 -1\n")
    csv = work / ("stim_%s.csv" % tag)
    write_waveform(csv, scale)
    cfg = work / ("case_%s.toml" % tag)
    cfg.write_text(cellfit_config(mechs, ca_mode, dt, swc, csv))
    out = work / ("case_%s.h5" % tag)
    r = subprocess.run([str(binary), "simulate", str(cfg), "--out", str(out), "--quiet"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("cellfit simulate %s failed (%d):\n%s%s"
                           % (cfg, r.returncode, r.stdout, r.stderr))
    import h5py
    with h5py.File(out, "r") as f:
        v = f["/traces/voltage"][0, 0, :]
        failed = int(f["/traces/failed_step"][0]) if "/traces/failed_step" in f else -1
    if failed >= 0:
        raise RuntimeError("cellfit: %s diverged at step %d" % (cfg, failed))
    return np.asarray(v, dtype=float)


def check_area(binary, work):
    """cellfit's compartment for the one-point soma must be NEURON's 50 x 50 um cylinder."""
    swc = Path(work) / "soma.swc"
    swc.write_text("1 1 0 0 0 25 -1\n")
    r = subprocess.run([str(binary), "info", str(swc)], capture_output=True, text=True)
    area = None
    for line in r.stdout.splitlines():
        if line.startswith("total area"):
            area = float(line.split()[2])
    want = math.pi * LENGTH * DIAM
    if r.returncode != 0 or area is None or abs(area - want) > 0.01:
        raise RuntimeError("cellfit info %s: total area %s um2, want %.2f\n%s%s"
                           % (swc, area, want, r.stdout, r.stderr))
    return area


def max_abs(a, b):
    n = min(len(a), len(b))
    return float(np.max(np.abs(a[:n] - b[:n])))


def off_spike_gap(a, b, spikes, dt):
    """max |a - b| over the samples more than SPIKE_WINDOW from every time in spikes."""
    n = min(len(a), len(b))
    t = np.arange(n) * dt
    keep = np.ones(n, bool)
    for ts in spikes:
        keep &= np.abs(t - ts) > SPIKE_WINDOW
    return float(np.max(np.abs(a[:n] - b[:n])[keep])) if keep.any() else 0.0


def spike_shift(ta, tb):
    k = min(len(ta), len(tb))
    return float(np.max(np.abs(ta[:k] - tb[:k]))) if k else 0.0


def run_case(h, A, binary, work, idx, mechs, scale, ca_mode, dt):
    vn, cn = run_neuron(h, mechs, scale, ca_mode, dt)
    va, ca = run_arbor(A, mechs, scale, ca_mode, dt)
    vc = run_cellfit(binary, work, "%d_%g" % (idx, dt), mechs, scale, ca_mode, dt)
    if len(vc) != len(vn):
        raise RuntimeError("cellfit gave %d samples, NEURON %d" % (len(vc), len(vn)))
    r = {"vmin": vn.min(), "vmax": vn.max(),
         "cf_nrn": max_abs(vc, vn), "cf_arb": max_abs(vc, va),
         "tc": spike_times(vc, dt), "tn": spike_times(vn, dt), "ta": spike_times(va, dt),
         "dcai": None}
    r["cf_arb_off"] = off_spike_gap(vc, va, np.concatenate([r["tc"], r["ta"]]), dt)
    if cn is not None and ca is not None:
        r["dcai"] = max_abs(cn, ca) / cn.max()
    return r


def check(name, r, half, bound, bound_off, cause, bounds_apply):
    """The failed checks of one case, as messages."""
    bad = []
    cf_nrn = max([r["cf_nrn"]] + ([half["cf_nrn"]] if half else []))
    if not cf_nrn < CF_NRN_TOL:
        bad.append("cellfit-NEURON max|dV| %.3g mV >= %g mV" % (cf_nrn, CF_NRN_TOL))
    for res, tag in ((r, "dt"), (half, "dt/2")):
        if res is not None and len(res["tc"]) != len(res["tn"]):
            bad.append("spike count at %s: cellfit %d, NEURON %d"
                       % (tag, len(res["tc"]), len(res["tn"])))
    if len(r["tc"]) != len(r["ta"]):
        bad.append("spike count: cellfit %d, Arbor %d" % (len(r["tc"]), len(r["ta"])))
    shift = spike_shift(r["tc"], r["ta"])
    if not shift < SPIKE_TOL:
        bad.append("spike times cellfit-Arbor differ by %.3g ms >= %g" % (shift, SPIKE_TOL))
    if bounds_apply and not r["cf_arb"] <= bound:
        bad.append("cellfit-Arbor max|dV| %.3g mV > bound %g mV" % (r["cf_arb"], bound))
    if bounds_apply and bound_off is not None and not r["cf_arb_off"] <= bound_off:
        bad.append("cellfit-Arbor off-spike max|dV| %.3g mV > bound %g mV"
                   % (r["cf_arb_off"], bound_off))
    if half is not None and r["cf_arb"] > ROUNDING and \
            not r["cf_arb"] >= MIN_RATIO * half["cf_arb"]:
        bad.append("cellfit-Arbor gap %.3g mV does not shrink at dt/2 (%.3g mV)"
                   % (r["cf_arb"], half["cf_arb"]))
    if cause == "round" and not r["cf_arb"] <= ROUNDING:
        bad.append("cellfit-Arbor gap %.3g mV, expected rounding only" % r["cf_arb"])
    return ["%s: %s" % (name, b) for b in bad]


def g(x, fmt="%.3g"):
    return "-" if x is None else fmt % x


def main():
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("cellfit", nargs="?", default=str(DEFAULT_CELLFIT),
                    help="the cellfit binary (default: build/src/cellfit)")
    ap.add_argument("moddir", nargs="?", default=str(DEFAULT_MODDIR),
                    help="the .mod files NEURON compiles (default: mechanisms/l5pc)")
    ap.add_argument("--dt", type=float, default=DT)
    ap.add_argument("--no-half-dt", action="store_true",
                    help="skip the reruns at dt/2 (and the ratio check)")
    ap.add_argument("--keep-build", action="store_true",
                    help="keep the NEURON build and the cellfit configs and outputs")
    args = ap.parse_args()

    try:
        import arbor as A
    except ImportError as e:
        print("SKIP: cannot import arbor (%s); pip install arbor" % e)
        return 77
    from neuron import h

    binary = Path(args.cellfit).resolve()
    bounds_apply = abs(args.dt - DT) < 1e-12    # the bounds are for dt 0.025 ms
    work = tempfile.mkdtemp(prefix="cellfit_l5pc_arbor_")
    failures = []
    try:
        area = check_area(binary, work)
        h.nrn_load_dll(build_mechanisms(args.moddir, work))
        h.load_file("stdrun.hoc")
        print("NEURON %s | Arbor %s | %s | dt %g ms, %g ms | cylinder L = diam = %g um "
              "(cellfit area %.2f um2)"
              % (h.nrnversion(), A.__version__, binary, args.dt, TSTOP, LENGTH, area))
        hdr = "%-27s %13s | %-17s | %-32s | %-15s | %-21s | %-8s | %s"
        row = "%-27s %6.1f %6.1f | %8s %8s | %9s %9s %5s %6s | %8s %6s | %7s %13s | %8s | %s"
        print(hdr % ("", "", "cellfit-NEURON", "cellfit-Arbor max|dV| mV",
                     "off-spike, mV", "spikes", "NRN-Arb", ""))
        print(row.replace("%6.1f %6.1f", "%13s") % (
            "case", "V range (mV)", "dt", "dt/2", "dt", "dt/2", "ratio", "bound", "dt",
            "bound", "cf/N/A", "max|dt| cf-A", "dcai rel", "cause"))
        for idx, (name, mechs, scale, ca_mode, bound, bound_off, cause) in enumerate(CASES):
            r = run_case(h, A, binary, work, idx, mechs, scale, ca_mode, args.dt)
            half = (None if args.no_half_dt else
                    run_case(h, A, binary, work, idx, mechs, scale, ca_mode, args.dt / 2))
            bad = check(name, r, half, bound, bound_off, cause, bounds_apply)
            ratio = (r["cf_arb"] / half["cf_arb"]
                     if half is not None and half["cf_arb"] > 0 else None)
            spiking = len(r["tc"]) or len(r["tn"]) or len(r["ta"])
            print(row % (name, r["vmin"], r["vmax"], g(r["cf_nrn"], "%.2g"),
                         g(half and half["cf_nrn"], "%.2g"), g(r["cf_arb"]),
                         g(half and half["cf_arb"]), g(ratio, "%.1f"), g(bound, "%g"),
                         g(r["cf_arb_off"]) if bound_off is not None else "",
                         g(bound_off, "%g") if bound_off is not None else "",
                         "%d/%d/%d" % (len(r["tc"]), len(r["tn"]), len(r["ta"]))
                         if spiking else "",
                         g(spike_shift(r["tc"], r["ta"])) if spiking else "",
                         g(r["dcai"], "%.2g") if r["dcai"] is not None else "",
                         cause + ("  FAIL" if bad else "")))
            sys.stdout.flush()
            failures += bad
    except RuntimeError as e:
        failures.append(str(e))
    finally:
        if args.keep_build:
            print("NEURON build and cellfit runs kept in", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("causes: " + "; ".join("%s: %s" % kv for kv in CAUSES.items()))
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("OK: cellfit-NEURON max|dV| < %g mV in every case; cellfit-Arbor within the bounds, "
          "spike counts equal, spike times within %g ms" % (CF_NRN_TOL, SPIKE_TOL))
    return 0


if __name__ == "__main__":
    sys.exit(main())
