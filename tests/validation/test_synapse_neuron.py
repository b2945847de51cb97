#!/usr/bin/env python3
"""Synapses (exp_syn, exp2_syn, current_exp_syn) in cellfit against NEURON, trace by trace.

usage: test_synapse_neuron.py CELLFIT_BINARY MOD_FILE

The ball-and-stick hh cell (cellfit's builtin:ball_and_stick; in NEURON the same 3-D points,
nseg 1 and 5, hh everywhere, Ra 35.4, cm 1, celsius 6.3, v_init -65), dt 0.025 ms, 200 ms.
In NEURON each synapse is an ExpSyn, an Exp2Syn or the CurrentExpSyn of MOD_FILE (compiled
here by nrnivmodl), driven by a NetCon without a source whose events are queued by
NetCon.event(spike + delay) at finitialize. Protocols, each one cell in one `cellfit
simulate` run:
  exp_syn   an excitatory ExpSyn at dend(0.7) (spikes delayed by 1 ms; two at one time, one
            exactly half a step past a multiple of dt) and an inhibitory one at soma(0.5);
  exp2_syn  Exp2Syns at dend(0.3) (excitatory) and dend(0.9) (inhibitory);
  mixed     at soma(0.5) an SEClamp (rs 20 MOhm, -65 mV for 30 ms, then off), an ExpSyn and an
            Exp2Syn together; an IClamp at dend(0.9); a current synapse at dend(0.5);
  seed001   current synapses with paper 001's Figure 5 input (tau 5 ms): 1 nA at dend(0.9)
            at 10, 30, 70, 100, 110, 150, 190 ms, 0.3 nA at the soma at 20, 80, 140 ms.
Voltages at soma(0.5), dend(0.5) and dend(0.9) must equal NEURON's to 1e-6 mV at every
sample (both FP64). Exit 0 on success, 1 on a mismatch, 77 when neuron, h5py or numpy is
missing.
"""
import math
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
    from neuron import h
except ImportError as e:  # pragma: no cover
    print(f"test_synapse_neuron: skipped ({e})")
    sys.exit(77)

MAX_TOL = 1e-6
DT, TSTOP, V_INIT = 0.025, 200.0, -65.0
# A synapse: (type, section, x, parameters, spike times, delay). Sites in cellfit are
# "soma" (soma[0](0.5)) and "dend[0](x)".
PROTOCOLS = {
    "exp_syn": [
        ("exp_syn", "dend", 0.7, {"weight": 0.01, "tau": 2.0, "e": 0.0},
         [5.0, 15.0, 15.0, 30.0125, 45.0, 120.0], 1.0),
        ("exp_syn", "soma", 0.5, {"weight": 0.003, "tau": 5.0, "e": -75.0},
         [25.0, 35.0, 80.0], 0.0),
    ],
    "exp2_syn": [
        ("exp2_syn", "dend", 0.3, {"weight": 0.01, "tau1": 0.5, "tau2": 5.0, "e": 0.0},
         [2.0, 10.0, 10.5, 30.0, 60.0125, 150.0], 0.3),
        ("exp2_syn", "dend", 0.9, {"weight": 0.005, "tau1": 1.0, "tau2": 8.0, "e": -80.0},
         [20.0, 50.0, 155.0], 0.0),
    ],
    "mixed": [
        ("seclamp", "soma", 0.5, {"rs_mohm": 20.0, "amp1": -65.0, "dur1": 30.0}, None, None),
        ("exp_syn", "soma", 0.5, {"weight": 0.02, "tau": 3.0, "e": 0.0},
         [10.0, 40.0, 41.0, 100.0], 0.0),
        ("exp2_syn", "soma", 0.5, {"weight": 0.01, "tau1": 0.2, "tau2": 4.0, "e": -70.0},
         [12.0, 45.0, 101.0], 0.0),
        ("step", "dend", 0.9, {"amplitude": 0.1, "delay_ms": 20.0, "duration_ms": 40.0},
         None, None),
        ("current_exp_syn", "dend", 0.5, {"weight": 0.3, "tau": 5.0}, [15.0, 70.0, 130.0], 0.5),
    ],
    "seed001": [
        ("current_exp_syn", "dend", 0.9, {"weight": 1.0, "tau": 5.0},
         [10.0, 30.0, 70.0, 100.0, 110.0, 150.0, 190.0], 0.0),
        ("current_exp_syn", "soma", 0.5, {"weight": 0.3, "tau": 5.0}, [20.0, 80.0, 140.0], 0.0),
    ],
}
# Recorded: soma(0.5) is compartment 0, dend(0.5) 3, dend(0.9) 5 (Hines order).
RECORD = (("soma", 0.5, 0), ("dend", 0.5, 3), ("dend", 0.9, 5))


def cellfit_site(sec, x):
    return "soma" if sec == "soma" else f"dend[0]({x})"


def config():
    lines = ["[model]", 'morphology = "builtin:ball_and_stick"', f"v_init = {V_INIT}",
             "[simulation]", f"dt_ms = {DT}", f"t_stop_ms = {TSTOP}",
             f"record_sites = {[c for _, _, c in RECORD]}"]
    for name, elements in PROTOCOLS.items():
        lines += ["[[protocol]]", f'name = "{name}"']
        for kind, sec, x, params, spikes, delay in elements:
            lines += ["[[protocol.stimulus]]", f'type = "{kind}"',
                      f'sites = "{cellfit_site(sec, x)}"']
            lines += [f"{k} = {v!r}" for k, v in params.items()]
            if spikes is not None:
                lines += [f"spikes = {spikes!r}", f"delay_ms = {delay!r}"]
    return "\n".join(lines) + "\n"


def neuron_traces(mod_lib):
    h.nrn_load_dll(mod_lib)
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
    for name, elements in PROTOCOLS.items():
        keep, netcons = [], []
        for kind, sec, x, params, spikes, delay in elements:
            seg = secs[sec](x)
            if kind == "seclamp":
                pp = h.SEClamp(seg)
                pp.rs, pp.amp1, pp.dur1 = params["rs_mohm"], params["amp1"], params["dur1"]
            elif kind == "step":
                pp = h.IClamp(seg)
                pp.amp, pp.delay, pp.dur = (params["amplitude"], params["delay_ms"],
                                            params["duration_ms"])
            else:
                pp = {"exp_syn": h.ExpSyn, "exp2_syn": h.Exp2Syn,
                      "current_exp_syn": h.CurrentExpSyn}[kind](seg)
                for k, v in params.items():
                    if k != "weight":
                        setattr(pp, k, v)
                nc = h.NetCon(None, pp)
                nc.weight[0] = params["weight"]
                netcons.append((nc, [t + delay for t in spikes]))
            keep.append(pp)

        def queue_events(netcons=netcons):
            for nc, arrivals in netcons:
                for t in arrivals:
                    nc.event(t)

        fih = h.FInitializeHandler(1, queue_events)
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
        del fih, netcons, keep
    return out


def compile_mod(mod_file, work):
    d = os.path.join(work, "mod")
    os.makedirs(d)
    shutil.copy(mod_file, d)
    r = subprocess.run(["nrnivmodl", "."], cwd=d, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout + r.stderr)
        raise SystemExit(1)
    for root, _, files in os.walk(d):
        if "libnrnmech.so" in files:
            return os.path.join(root, "libnrnmech.so")
    print("nrnivmodl made no libnrnmech.so")
    raise SystemExit(1)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    cellfit = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as work:
        lib = compile_mod(os.path.abspath(sys.argv[2]), work)
        cfg = os.path.join(work, "synapses.toml")
        out = os.path.join(work, "synapses.h5")
        with open(cfg, "w") as f:
            f.write(config())
        subprocess.run([cellfit, "simulate", cfg, "--out", out, "--quiet"], check=True,
                       stdout=subprocess.DEVNULL)
        with h5py.File(out, "r") as f:
            volt = f["/traces/voltage"][...]
            sites = list(f["/traces/sites"][...])
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["/stimuli/names"][...]]
        ref = neuron_traces(lib)
    if sites != [c for _, _, c in RECORD] or names != list(PROTOCOLS):
        print(f"unexpected sites {sites} or protocols {names}")
        return 1
    ok, worst = True, 0.0
    for k, name in enumerate(PROTOCOLS):
        if ref[name].shape != volt[k].shape:
            print(f"{name}: NEURON {ref[name].shape} samples, cellfit {volt[k].shape}")
            return 1
        for j, (sec, x, _) in enumerate(RECORD):
            diff = volt[k, j] - ref[name][j]
            rms = math.sqrt(float(np.mean(diff * diff)))
            top = float(np.max(np.abs(diff)))
            worst = max(worst, top)
            bad = not top <= MAX_TOL
            ok &= not bad
            swing = float(np.max(ref[name][j]) - np.min(ref[name][j]))
            print(f"{name:8s} {sec}({x}): max |dV| {top:.3e} mV, RMS {rms:.3e} mV, "
                  f"range {swing:.1f} mV" + ("  FAIL" if bad else ""))
    print(f"worst max |dV| {worst:.3e} mV (tolerance {MAX_TOL:g})")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
