"""Runs NEURON on the model of a cellfit simulate output and compares the traces.

The NEURON side is built independently of cellfit's geometry code: SWC files through
NEURON's own Import3d, the ball-and-stick from 3-D points, the config's `hh` and `pas`
placements and parameter values per region (`hh` in its table-free form, usetable_hh = 0;
`hh` everywhere when the config names no mechanism), cm per region, celsius, Ra, and IClamp
electrodes from the config's step stimuli.
Compartments are matched by the 3-D position of their centres.

usage: neuron_reference.py CONFIG.toml CELLFIT_OUTPUT.h5 [--swc FILE] [--spike-tol 0.1]
       [--rms-tol 1.0]
Prints one line per stimulus and exits 1 if a tolerance is exceeded.
"""
import argparse
import math
import sys
import tomllib

import h5py
import numpy as np
from neuron import h


def build_cell(morph, swc):
    h.load_file("stdrun.hoc")
    h.load_file("stdlib.hoc")
    h.load_file("import3d.hoc")
    if morph == "builtin:ball_and_stick":
        soma = h.Section(name="soma")
        dend = h.Section(name="dend")
        h.pt3dadd(0, 0, 0, 20, sec=soma)
        h.pt3dadd(20, 0, 0, 20, sec=soma)
        h.pt3dadd(20, 0, 0, 2, sec=dend)
        h.pt3dadd(520, 0, 0, 2, sec=dend)
        dend.nseg = 5
        dend.connect(soma(1))
        return [soma, dend]
    reader = h.Import3d_SWC_read()
    reader.input(swc or morph)
    gui = h.Import3d_GUI(reader, False)
    gui.instantiate(None)
    return list(h.allsec())


def segment_centre(sec, x):
    n = int(h.n3d(sec=sec))
    arcs = [h.arc3d(i, sec=sec) for i in range(n)]
    target = x * arcs[-1]
    for i in range(1, n):
        if arcs[i] >= target or i == n - 1:
            span = arcs[i] - arcs[i - 1]
            f = (target - arcs[i - 1]) / span if span > 0 else 0.0
            return np.array([h.x3d(i - 1, sec=sec) + f * (h.x3d(i, sec=sec) - h.x3d(i - 1, sec=sec)),
                             h.y3d(i - 1, sec=sec) + f * (h.y3d(i, sec=sec) - h.y3d(i - 1, sec=sec)),
                             h.z3d(i - 1, sec=sec) + f * (h.z3d(i, sec=sec) - h.z3d(i - 1, sec=sec))])
    raise RuntimeError("no 3-D points")


def spike_times(t, v, thr=-20.0):
    up = np.where((v[:-1] < thr) & (v[1:] >= thr))[0]
    return t[up] + (thr - v[up]) / (v[up + 1] - v[up]) * (t[up + 1] - t[up])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("output")
    ap.add_argument("--swc")
    ap.add_argument("--spike-tol", type=float, default=0.1)
    ap.add_argument("--rms-tol", type=float, default=1.0)
    args = ap.parse_args()

    with open(args.config, "rb") as f:
        cfg = tomllib.load(f)
    model = cfg.get("model", {})
    sim = cfg.get("simulation", {})
    dt = sim.get("dt_ms", 0.025)
    tstop = sim.get("t_stop_ms", 100.0)

    with h5py.File(args.output, "r") as f:
        volt = f["/traces/voltage"][...]
        sites = f["/traces/sites"][...]
        centres = f["/model/compartments/centre_um"][...]
        n_stim = int(f.attrs["n_stimuli"])
        if int(f.attrs["n_parameter_sets"]) != 1:
            sys.exit("neuron_reference: expects one parameter set")

    secs = build_cell(model.get("morphology"), args.swc)
    h.celsius = model.get("celsius", 6.3)
    if hasattr(h, "usetable_hh"):
        h.usetable_hh = 0

    def region_of(sec):
        name = sec.name().split(".")[-1]
        for prefix, region in (("soma", "soma"), ("axon", "axon"), ("dend", "basal"), ("apic", "apical")):
            if name.startswith(prefix):
                return region
        return "other"

    def in_regions(region, regions):
        regions = [regions] if isinstance(regions, str) else regions
        return "all" in regions or region in regions or (
            "dend" in regions and region in ("basal", "apical"))

    def region_value(value, region, default):
        """A config value: a number, or a table region -> number (broadest first)."""
        if not isinstance(value, dict):
            return value
        out = value.get("default", value.get("all", default))
        if region in ("basal", "apical") and "dend" in value:
            out = value["dend"]
        return value.get(region, out)

    mechanisms = model.get("mechanisms", {"hh": {"regions": "all"}})
    for mech in mechanisms:
        if mech not in ("hh", "pas"):
            sys.exit(f"neuron_reference: mechanism {mech} is not supported here")
    segs, seg_centres = [], []
    for sec in secs:
        region = region_of(sec)
        # cellfit's nseg rule: model.nseg for all, then odd ceil(L / max_compartment_um).
        if isinstance(model.get("nseg", 0), int) and model.get("nseg", 0) > 0:
            sec.nseg = model["nseg"]
        if model.get("max_compartment_um", 0) > 0:
            k = math.ceil(sec.L / model["max_compartment_um"])
            k += 1 - k % 2
            sec.nseg = max(sec.nseg, k)
        sec.Ra = model.get("ra", 35.4)
        sec.cm = region_value(model.get("cm", 1.0), region, 1.0)
        for mech, spec in mechanisms.items():
            if not in_regions(region, spec.get("regions", "all")):
                continue
            sec.insert(mech)
            for key, value in spec.items():
                if key == "regions":
                    continue
                name = {"hh": {"gnabar": "gnabar_hh", "gkbar": "gkbar_hh", "gl": "gl_hh", "el": "el_hh",
                               "ena": "ena", "ek": "ek"},
                        "pas": {"g": "g_pas", "e": "e_pas"}}[mech][key]
                for seg in sec:
                    setattr(seg, name, region_value(value, region, None))
        for seg in sec:
            segs.append(seg)
            seg_centres.append(segment_centre(sec, seg.x))
    seg_centres = np.array(seg_centres)
    if len(segs) != len(centres):
        sys.exit(f"neuron_reference: NEURON has {len(segs)} segments, cellfit {len(centres)}")
    match = []
    for c in centres:
        d = np.linalg.norm(seg_centres - c, axis=1)
        k = int(np.argmin(d))
        if d[k] > 1e-3:
            sys.exit(f"neuron_reference: no NEURON segment at {c} (nearest {d[k]:.3g} um)")
        match.append(k)
    if len(set(match)) != len(match):
        sys.exit("neuron_reference: compartment matching is not one to one")

    # Stimuli in the config's order, expanded like cellfit expands them.
    stims = []
    for s in cfg.get("stimulus", []):
        if s.get("type", "step") != "step":
            sys.exit("neuron_reference: only step stimuli are supported")
        site_list = s["sites"] if isinstance(s["sites"], list) else [s["sites"]]
        for a in s.get("amplitudes", [s.get("amplitude", 0.0)]):
            stims.append((site_list, a, s.get("delay_ms", 0.0), s.get("duration_ms", tstop)))
    if len(stims) != n_stim:
        sys.exit(f"neuron_reference: {len(stims)} stimuli in the config, {n_stim} in the output")

    worst_rms, worst_abs, worst_spike, ok = 0.0, 0.0, 0.0, True
    n = len(centres)
    for si, (site_list, amp, delay, dur) in enumerate(stims):
        clamps = []
        for site in site_list:
            k = match[site if site >= 0 else n + site]
            ic = h.IClamp(segs[k])
            ic.amp, ic.delay, ic.dur = amp, delay, dur
            clamps.append(ic)
        recs = []
        for site in sites:
            vec = h.Vector()
            vec.record(segs[match[site]]._ref_v)
            recs.append(vec)
        tvec = h.Vector()
        tvec.record(h._ref_t)
        h.dt = dt
        h.steps_per_ms = 1.0 / dt
        h.finitialize(model.get("v_init", -65.0))
        h.continuerun(tstop)
        t = np.array(tvec)
        for j, vec in enumerate(recs):
            vn = np.array(vec)
            vc = volt[si, j, :]
            if len(vn) != len(vc):
                sys.exit(f"neuron_reference: {len(vn)} NEURON samples, {len(vc)} cellfit samples")
            diff = vc - vn
            rms = math.sqrt(float(np.mean(diff * diff)))
            worst_rms = max(worst_rms, rms)
            worst_abs = max(worst_abs, float(np.max(np.abs(diff))))
            sn, sc = spike_times(t, vn), spike_times(t, vc)
            if len(sn) != len(sc):
                print(f"stimulus {si} site {sites[j]}: {len(sc)} spikes in cellfit, {len(sn)} in NEURON")
                ok = False
                continue
            if len(sn):
                worst_spike = max(worst_spike, float(np.max(np.abs(sn - sc))))
            if rms > args.rms_tol:
                ok = False
        print(f"stimulus {si}: amp {amp:g} at {site_list}: spikes {len(spike_times(t, np.array(recs[0])))}"
              f" (first site)")
        del clamps
    print(f"worst RMS difference {worst_rms:.3e} mV, worst |dV| {worst_abs:.3e} mV, "
          f"worst spike-time difference {worst_spike:.3e} ms over {len(stims)} stimuli x {len(sites)} sites")
    if worst_spike > args.spike_tol:
        ok = False
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
