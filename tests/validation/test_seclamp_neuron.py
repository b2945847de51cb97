#!/usr/bin/env python3
"""Voltage clamp (type = "seclamp") in cellfit against NEURON's SEClamp, trace by trace.

usage: test_seclamp_neuron.py CELLFIT_BINARY

The ball-and-stick hh cell (cellfit's builtin:ball_and_stick; in NEURON the same 3-D points,
nseg 1 and 5, hh everywhere, Ra 35.4, cm 1, celsius 6.3, v_init -65), dt 0.025 ms, 60 ms.
Protocols, each one cell in one `cellfit simulate` run:
  rs1     SEClamp at soma(0.5): -70 mV for 10 ms, -20 mV for 20 ms, -70 mV for 20 ms, rs 1 MOhm,
          then off for 10 ms (the cell spikes on its own when released);
  rs10    the same with rs 10 MOhm (the soma escapes the command during the spikes);
  mixed   rs 10 MOhm at soma(0.5) with levels -65, 0, -80 (5, 15, 25 ms) and an IClamp of 0.3 nA
          at dend(0.9) from 5 to 45 ms;
  dend    a clamp at dend(0.5) (rs 2 MOhm, -40 mV for 30 ms, dur2 = 0, -75 mV for 10 ms).
Voltages at soma(0.5), dend(0.5) and dend(0.9) must equal NEURON's to 1e-6 mV RMS (both
FP64). Exit 0 on success, 1 on a mismatch, 77 when neuron, h5py or numpy is missing.
"""
import math
import os
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
    from neuron import h
except ImportError as e:  # pragma: no cover
    print(f"test_seclamp_neuron: skipped ({e})")
    sys.exit(77)

RMS_TOL = 1e-6
DT, TSTOP, V_INIT = 0.025, 60.0, -65.0
# name: (clamp site in NEURON, clamp site in cellfit, rs, (amp, dur) x 3, IClamp or None)
PROTOCOLS = {
    "rs1": ("soma", 0.5, "soma", 1.0, ((-70.0, 10.0), (-20.0, 20.0), (-70.0, 20.0)), None),
    "rs10": ("soma", 0.5, "soma", 10.0, ((-70.0, 10.0), (-20.0, 20.0), (-70.0, 20.0)), None),
    "mixed": ("soma", 0.5, "soma", 10.0, ((-65.0, 5.0), (0.0, 15.0), (-80.0, 25.0)),
              (0.3, 5.0, 40.0)),
    "dend": ("dend", 0.5, "dend[0](0.5)", 2.0, ((-40.0, 30.0), (10.0, 0.0), (-75.0, 10.0)), None),
}
# Recorded: soma(0.5) is compartment 0, dend(0.5) 3, dend(0.9) 5 (Hines order).
RECORD = (("soma", 0.5, 0), ("dend", 0.5, 3), ("dend", 0.9, 5))


def config():
    lines = ["[model]", 'morphology = "builtin:ball_and_stick"', f"v_init = {V_INIT}",
             "[simulation]", f"dt_ms = {DT}", f"t_stop_ms = {TSTOP}",
             f"record_sites = {[c for _, _, c in RECORD]}"]
    for name, (_, _, site, rs, levels, iclamp) in PROTOCOLS.items():
        lines += ["[[protocol]]", f'name = "{name}"', "[[protocol.stimulus]]",
                  'type = "seclamp"', f'sites = "{site}"', f"rs_mohm = {rs}"]
        for k, (amp, dur) in enumerate(levels, 1):
            lines += [f"amp{k} = {amp}", f"dur{k} = {dur}"]
        if iclamp:
            amp, delay, dur = iclamp
            lines += ["[[protocol.stimulus]]", 'sites = "dend[0](0.9)"', f"amplitude = {amp}",
                      f"delay_ms = {delay}", f"duration_ms = {dur}"]
    return "\n".join(lines) + "\n"


def neuron_traces():
    h.load_file("stdrun.hoc")
    soma = h.Section(name="soma")
    dend = h.Section(name="dend")
    h.pt3dadd(0, 0, 0, 20, sec=soma)
    h.pt3dadd(20, 0, 0, 20, sec=soma)
    h.pt3dadd(20, 0, 0, 2, sec=dend)
    h.pt3dadd(520, 0, 0, 2, sec=dend)
    dend.nseg = 5
    dend.connect(soma(1))
    secs = {"soma": soma, "dend": dend}
    for sec in secs.values():
        sec.Ra = 35.4
        sec.cm = 1.0
        sec.insert("hh")
    h.celsius = 6.3
    h.usetable_hh = 0
    out = {}
    for name, (sec, x, _, rs, levels, iclamp) in PROTOCOLS.items():
        vc = h.SEClamp(secs[sec](x))
        vc.rs = rs
        (vc.amp1, vc.dur1), (vc.amp2, vc.dur2), (vc.amp3, vc.dur3) = levels
        ic = None
        if iclamp:
            ic = h.IClamp(dend(0.9))
            ic.amp, ic.delay, ic.dur = iclamp
        recs = []
        for rsec, rx, _ in RECORD:
            vec = h.Vector()
            vec.record(secs[rsec](rx)._ref_v)
            recs.append(vec)
        h.dt = DT
        h.steps_per_ms = 1.0 / DT
        h.secondorder = 0
        h.finitialize(V_INIT)
        h.continuerun(TSTOP)
        out[name] = np.array([np.array(v) for v in recs])
        del vc, ic
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    cellfit = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as work:
        cfg = os.path.join(work, "seclamp.toml")
        out = os.path.join(work, "seclamp.h5")
        with open(cfg, "w") as f:
            f.write(config())
        subprocess.run([cellfit, "simulate", cfg, "--out", out, "--quiet"], check=True,
                       stdout=subprocess.DEVNULL)
        with h5py.File(out, "r") as f:
            volt = f["/traces/voltage"][...]
            sites = list(f["/traces/sites"][...])
            centres = f["/model/compartments/centre_um"][...]
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["/stimuli/names"][...]]
    if sites != [c for _, _, c in RECORD] or names != list(PROTOCOLS):
        print(f"unexpected sites {sites} or protocols {names}")
        return 1
    # The recorded compartments are the NEURON segments named (centres on the x axis).
    for sec, x, c in RECORD:
        want = 10.0 if sec == "soma" else 20.0 + 500.0 * x
        if abs(centres[c][0] - want) > 1e-9:
            print(f"compartment {c} is at x = {centres[c][0]}, {sec}({x}) at {want}")
            return 1
    ref = neuron_traces()
    ok, worst = True, 0.0
    for k, name in enumerate(PROTOCOLS):
        if ref[name].shape != volt[k].shape:
            print(f"{name}: NEURON {ref[name].shape} samples, cellfit {volt[k].shape}")
            return 1
        for j, (sec, x, _) in enumerate(RECORD):
            diff = volt[k, j] - ref[name][j]
            rms = math.sqrt(float(np.mean(diff * diff)))
            worst = max(worst, rms)
            bad = not rms <= RMS_TOL
            ok &= not bad
            print(f"{name:6s} {sec}({x}): RMS {rms:.3e} mV, max |dV| {np.max(np.abs(diff)):.3e} mV, "
                  f"V at 25 ms {ref[name][j][int(round(25 / DT))]:.4f} mV" + ("  FAIL" if bad else ""))
    print(f"worst RMS difference {worst:.3e} mV (tolerance {RMS_TOL:g})")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
