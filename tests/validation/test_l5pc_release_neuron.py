#!/usr/bin/env python3
"""BluePyOpt's L5PC with its released parameters: cellfit against the same cell built by
BluePyOpt in NEURON, spike by spike.

usage: test_l5pc_release_neuron.py CELLFIT_BINARY MOD_DIR [--t-stop MS]

cellfit simulates examples/l5pc/l5pc_release.toml (C060114A7.asc from the installed bluepyopt,
axon replacement, BluePyOpt's nseg rule, the mechanisms/l5pc channel set per section list,
the apical Ih distribution, Step1: 0.458 nA from 700 to 2700 ms on a -0.126 nA holding
current, 3000 ms, recorded at soma[0](0.5) and 660 um from the soma on the apical list).

NEURON, in a process of its own, builds the same cell with BluePyOpt's classes: a CellModel of
NrnFileMorphology(do_replace_axon=True), NrnMODMechanism per section list (the same .mod
files, compiled here by nrnivmodl) and frozen NrnSectionParameter / NrnRangeParameter /
NrnGlobalParameter values with NrnSegmentSomaDistanceScaler for the apical Ih, and runs
BluePyOpt's SweepProtocol (two NrnSquarePulse at soma[0](0.5), CompRecording at the soma and
at NrnSomaDistanceCompLocation(660 um, apical)) with NrnSimulator at fixed dt 0.025 ms,
secondorder 0.

Both run at the same time (two processes). The test requires the same recorded compartments,
the same number of somatic spikes (upward crossings of -20 mV, eFEL's threshold, interpolated
linearly between samples) with every spike time within 0.01 ms, and on the dendrite, where
the back-propagated spikes ride on a slow depolarisation and reach only about -55 mV (so no
fixed threshold counts them reliably), the time of the dendritic maximum within 10 ms after
each somatic spike (a parabola through the three samples around it) within 0.01 ms. It prints
spike counts, the worst time differences, the RMS and maximum voltage difference per
recording, and both run times.
Exit 0 on success, 1 on a mismatch, 77 when neuron, bluepyopt or h5py is missing.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
# BluePyOpt's L5PC cell, shared with bench/bluepyopt_l5pc.py.
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
import l5pc_bluepyopt_cell as cell_def  # noqa: E402

SPIKE_TIME_TOL_MS = 0.01
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CONFIG = os.path.join(ROOT, "examples", "l5pc", "l5pc_release.toml")
DT_MS = cell_def.DT_MS
THRESHOLD_MV = -20.0
BAP_WINDOW_MS = 10.0

STEP = {"amp": 0.458, "delay": 700.0, "duration": 2000.0}
HOLDING_NA = -0.126
T_STOP_MS = 3000.0


# ---------------------------------------------------------------------------------------
# The NEURON side, run as `test_l5pc_release_neuron.py --neuron ASC MECH_DIR T_STOP OUT.npz`.


def neuron_traces(asc, mech_dir, t_stop, out):
    import bluepyopt.ephys as ephys

    sim = cell_def.simulator(ephys, mech_dir, "fixed")
    cell, _ = cell_def.cell_model(
        ephys, asc, cell_def.FIXED_RANGE_PARAMETERS + cell_def.RELEASED_RANGE_PARAMETERS)

    soma = cell_def.soma_location(ephys)
    dend1 = cell_def.apical_point(ephys, "dend1", 660)
    stimuli = [
        ephys.stimuli.NrnSquarePulse(step_amplitude=STEP["amp"], step_delay=STEP["delay"],
                                     step_duration=STEP["duration"], location=soma,
                                     total_duration=t_stop),
        ephys.stimuli.NrnSquarePulse(step_amplitude=HOLDING_NA, step_delay=0.0,
                                     step_duration=t_stop, location=soma, total_duration=t_stop),
    ]
    recordings = [ephys.recordings.CompRecording(name=f"Step1.{n}.v", location=l, variable="v")
                  for n, l in (("soma", soma), ("dend1", dend1))]
    protocol = ephys.protocols.SweepProtocol("Step1", stimuli, recordings)

    # Where dend1 lands (section(x)), to check that both record the same compartment.
    cell.freeze({})
    cell.instantiate(sim=sim)
    icell = cell.icell
    seg = dend1.instantiate(sim=sim, icell=icell)
    # The recorded node is the centre of the segment that holds x.
    nseg = seg.sec.nseg
    node_x = (min(int(nseg * seg.x), nseg - 1) + 0.5) / nseg
    where = f"{seg.sec.name().split('.')[-1]}({node_x:.6g})"
    nseg_total = sum(sec.nseg for sec in icell.all)
    cell.destroy(sim=sim)

    start = time.perf_counter()
    responses = protocol.run(cell_model=cell, param_values={}, sim=sim, isolate=False)
    wall = time.perf_counter() - start
    np.savez(out, t_soma=responses["Step1.soma.v"]["time"].to_numpy(),
             v_soma=responses["Step1.soma.v"]["voltage"].to_numpy(),
             t_dend1=responses["Step1.dend1.v"]["time"].to_numpy(),
             v_dend1=responses["Step1.dend1.v"]["voltage"].to_numpy(),
             dend1_site=np.array(where), segments=np.array(nseg_total), wall_s=np.array(wall))


# ---------------------------------------------------------------------------------------


def spike_times(t, v, threshold):
    """Upward crossings of threshold, interpolated linearly between samples (ms)."""
    i = np.nonzero((v[:-1] < threshold) & (v[1:] >= threshold))[0]
    return t[i] + (threshold - v[i]) * (t[i + 1] - t[i]) / (v[i + 1] - v[i])


def bap_peaks(t, v, spikes):
    """Time (ms) and value (mV) of v's maximum within BAP_WINDOW_MS after each spike time."""
    times, peaks = [], []
    for ts in spikes:
        w = np.nonzero((t >= ts) & (t <= ts + BAP_WINDOW_MS))[0]
        i = int(w[np.argmax(v[w])])
        i = min(max(i, 1), len(v) - 2)
        a, b, c = v[i - 1], v[i], v[i + 1]
        den = a - 2 * b + c
        shift = 0.5 * (a - c) / den if den != 0 else 0.0  # vertex of the parabola, in samples
        times.append(t[i] + shift * (t[i + 1] - t[i]))
        peaks.append(b - 0.25 * (a - c) * shift)
    return np.array(times), np.array(peaks)


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "--neuron":
        neuron_traces(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cellfit")
    ap.add_argument("mod_dir")
    ap.add_argument("--t-stop", type=float, default=T_STOP_MS)
    args = ap.parse_args()
    try:
        import bluepyopt
        import h5py
        import neuron  # noqa: F401
    except ImportError as e:
        print(f"test_l5pc_release_neuron: skipped ({e}; pip install neuron bluepyopt h5py)")
        return 77
    asc = cell_def.morphology()
    if asc is None:
        print(f"test_l5pc_release_neuron: skipped (bluepyopt {bluepyopt.__version__} ships no "
              "C060114A7.asc)")
        return 77
    cellfit = os.path.realpath(args.cellfit)
    with tempfile.TemporaryDirectory() as work:
        mech_dir = cell_def.nrnivmodl(os.path.realpath(args.mod_dir), work)
        nrn_out = os.path.join(work, "neuron.npz")
        # An empty working directory: NEURON loads an x86_64/ it finds there by itself, and
        # the mechanisms must be loaded once, by BluePyOpt's mechanisms_directory.
        run_dir = os.path.join(work, "run")
        os.makedirs(run_dir)
        start = time.perf_counter()
        nrn = subprocess.Popen([sys.executable, os.path.realpath(__file__), "--neuron", asc,
                                mech_dir, repr(args.t_stop), nrn_out],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=run_dir)
        out = os.path.join(work, "cellfit.h5")
        r = subprocess.run([cellfit, "simulate", CONFIG, "--set", f"model.morphology={asc}",
                            "--set", f"simulation.t_stop_ms={args.t_stop!r}",
                            "--out", out, "--quiet"], capture_output=True, text=True)
        cellfit_wall = time.perf_counter() - start
        if r.returncode != 0:
            nrn.kill()
            sys.exit(f"cellfit simulate failed ({r.returncode}): {r.stderr.strip()}")
        nrn_stdout, nrn_stderr = nrn.communicate()
        if nrn.returncode != 0:
            sys.exit(f"the NEURON side failed: {nrn_stderr.strip()[-3000:]}")
        ref = np.load(nrn_out)
        with h5py.File(out, "r") as f:
            v = f["/traces/voltage"][()]
            t = f["/traces/time_ms"][()]
            # Each recording as section(x) of its compartment's node.
            sections = [s.decode() if isinstance(s, bytes) else str(s)
                        for s in f["/model/compartments/section"][()]]
            x = f["/model/compartments/x"][()]
            names = [f"{sections[c]}({x[c]:.6g})" for c in f["/traces/sites"][()]]
            n_comp = len(sections)
    print(f"L5PC release, Step1 ({STEP['amp']} nA from {STEP['delay']:g} ms on "
          f"{HOLDING_NA} nA holding), {args.t_stop:g} ms at dt {DT_MS} ms: NEURON "
          f"{int(ref['segments'])} segments, cellfit {n_comp} compartments; NEURON "
          f"{float(ref['wall_s']):.1f} s, cellfit {cellfit_wall:.1f} s (wall, side by side)")
    failures = 0
    if int(ref["segments"]) != n_comp:
        print("  segment counts differ")
        failures += 1
    if len(ref["t_soma"]) != len(t) or np.max(np.abs(ref["t_soma"] - t)) > 1e-6:
        sys.exit(f"time axes differ (NEURON {len(ref['t_soma'])} samples, cellfit {len(t)})")
    if str(ref["dend1_site"]) != names[1]:
        print(f"  dend1: NEURON records {ref['dend1_site']}, cellfit {names[1]}")
        failures += 1
    sn = spike_times(t, ref["v_soma"], THRESHOLD_MV)
    sc = spike_times(t, v[0, 0], THRESHOLD_MV)
    events = {"soma": (sn, sc, "spikes")}
    if len(sn) == len(sc):
        events["dend1"] = (bap_peaks(t, ref["v_dend1"], sn)[0], bap_peaks(t, v[0, 1], sc)[0],
                           "bAP peaks")
    for k, name in enumerate(("soma", "dend1")):
        diff = v[0, k] - ref[f"v_{name}"]
        rms = float(np.sqrt(np.mean(diff ** 2)))
        worst = int(np.argmax(np.abs(diff)))
        line = f"  {name} ({names[k]}): "
        if name in events:
            en, ec, what = events[name]
            line += f"{what} NEURON {len(en)}, cellfit {len(ec)}"
            if len(en) == len(ec):
                d = float(np.max(np.abs(ec - en))) if len(en) else 0.0
                line += f", worst time difference {d:.3g} ms"
                if d > SPIKE_TIME_TOL_MS:
                    failures += 1
                    first = int(np.argmax(np.abs(ec - en) > SPIKE_TIME_TOL_MS))
                    line += (f" (> {SPIKE_TIME_TOL_MS} ms from event {first}: NEURON "
                             f"{en[first]:.4f}, cellfit {ec[first]:.4f} ms)")
            else:
                failures += 1
                line += (f" (NEURON {np.array2string(en[:12], precision=3)}, cellfit "
                         f"{np.array2string(ec[:12], precision=3)})")
            line += "; "
        line += (f"RMS difference {rms:.3g} mV, max {abs(diff[worst]):.3g} mV at "
                 f"{t[worst]:.3f} ms")
        print(line)
    print("test_l5pc_release_neuron: " + ("FAILED" if failures else "ok"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
