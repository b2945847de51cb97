"""Runs NEURON on the model of a cellfit simulate output and compares the traces.

The NEURON side is built independently of cellfit's geometry code: SWC files through
NEURON's own Import3d, the ball-and-stick from 3-D points. Every mechanism of the config's
`[model.mechanisms]` is inserted by region (`hh` everywhere when the config names none),
every RANGE parameter set per region (`seg.<param>_<mech>`, a number or a table region ->
number, broadest first), every GLOBAL once (`h.<name>_<mech>`); `[model.ions.<ion>]` e, ci,
co (a number or a table, broadest first, as for parameters) and style; cm per
region, celsius, Ra, nseg; IClamp electrodes from the config's step and holding currents
([[stimulus]] tables and [[protocol]]s of several elements; sites as indices, "soma" =
soma[0](0.5), section(x) placed by NEURON's own node rule, or `every` region); recordings at
the recorded compartments or at the [[simulation.recording]] points. Mechanisms
other than NEURON's built-in hh and pas come from `--mechlib PATH/libnrnmech.so`
(the same .mod files compiled by nrnivmodl). TABLEs are switched off (usetable_<mech> = 0):
cellfit evaluates rate functions exactly. The config's `hh` is NEURON's hh (its `ena`/`ek`
are the na/k ions' reversal potentials); `jk` has no NEURON counterpart.
Compartments are matched by the 3-D position of their centres, and their regions checked.

usage: neuron_reference.py CONFIG.toml CELLFIT_OUTPUT.h5 [--swc FILE] [--mechlib LIB]
       [--spike-tol 0.1] [--rms-tol 1.0] [--save NEURON_TRACES.npy]
Prints one line per stimulus (and per site when at most 8 are recorded) and exits 1 if a
tolerance is exceeded at any recorded site.
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
    path = swc or morph
    if path.lower().endswith(".asc"):
        reader = h.Import3d_Neurolucida3()
        reader.quiet = 1
    else:
        reader = h.Import3d_SWC_read()
    reader.input(path)
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


def mechanism_names(mech, vartype):
    """NEURON's names (`<name>_<mech>`) of a mechanism's RANGE PARAMETERs (1) or GLOBALs (-1)."""
    ms = h.MechanismStandard(mech, vartype)
    name = h.ref("")
    out = []
    for i in range(int(ms.count())):
        ms.name(name, i)
        out.append(name[0])
    return out


def ion_style(sec, ion):
    """(c_style, cinit, e_style, einit, eadvance) of an ion in a section."""
    st = int(h.ion_style(f"{ion}_ion", sec=sec))
    return st & 3, (st >> 2) & 1, (st >> 3) & 3, (st >> 5) & 1, (st >> 6) & 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("output")
    ap.add_argument("--swc")
    ap.add_argument("--mechlib", action="append", default=[],
                    help="an nrnivmodl libnrnmech.so (may be repeated)")
    ap.add_argument("--spike-tol", type=float, default=0.1)
    ap.add_argument("--rms-tol", type=float, default=1.0)
    ap.add_argument("--save", help="write NEURON's traces ([stimulus][site][sample]) to this .npy file")
    args = ap.parse_args()

    for lib in args.mechlib:
        if not h.nrn_load_dll(lib):
            sys.exit(f"neuron_reference: cannot load {lib}")

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
        cf_regions = [r.decode() if isinstance(r, bytes) else str(r)
                      for r in f["/model/compartments/region"][...]]
        n_stim = int(f.attrs["n_stimuli"])
        if int(f.attrs["n_parameter_sets"]) != 1:
            sys.exit("neuron_reference: expects one parameter set")

    secs = build_cell(model.get("morphology"), args.swc)
    h.celsius = model.get("celsius", 6.3)

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
        """A config value: a number, or a table of section lists -> number, broadest first
        (cellfit's region names beside BluePyOpt's list names)."""
        if not isinstance(value, dict):
            return value
        out = default
        for names in (("default", "all", "allsect"), ("dend", "alldend") if region in
                      ("basal", "apical") else (),
                      (region, {"soma": "somatic", "axon": "axonal"}.get(region, region))):
            for name in names:
                if name in value:
                    out = value[name]
        return out

    mechanisms = model.get("mechanisms", {"hh": {"regions": "all"}})
    # Which config key is which NEURON variable: RANGE PARAMETERs per segment, GLOBALs once.
    ranges, globals_ = {}, {}
    for mech, spec in mechanisms.items():
        if mech == "jk":
            sys.exit("neuron_reference: jk (paper 000's point model) has no NEURON counterpart")
        try:
            rnames = mechanism_names(mech, 1)
            gnames = mechanism_names(mech, -1)
        except RuntimeError:
            sys.exit(f"neuron_reference: NEURON has no mechanism {mech}"
                     " (compile its .mod file with nrnivmodl and pass --mechlib)")
        for key, value in spec.items():
            if key == "regions":
                continue
            full = f"{key}_{mech}"
            if mech == "hh" and key in ("ena", "ek"):
                ranges[(mech, key)] = key  # cellfit's hh parameters; NEURON's ion reversal potentials
            elif full in rnames:
                ranges[(mech, key)] = full
            elif full in gnames:
                if isinstance(value, dict):
                    values = set(value.values())
                    if len(values) != 1:
                        sys.exit(f"neuron_reference: {mech}.{key} is a GLOBAL: one value per model")
                    value = values.pop()
                globals_[full] = value
            else:
                sys.exit(f"neuron_reference: {mech} has no RANGE parameter or GLOBAL {key} in NEURON")
    ions = model.get("ions", {})

    segs, seg_centres, seg_regions = [], [], []
    ion_values = []  # (segment, attribute, value): restored before every run
    for sec in secs:
        region = region_of(sec)
        sec.Ra = region_value(model.get("ra", 35.4), region, 35.4)
        sec.cm = region_value(model.get("cm", 1.0), region, 1.0)
        # The nseg rules as a NEURON user writes them: the CellBuilder's d_lambda rule with
        # NEURON's own lambda_f, BluePyOpt's 1 + 2 int(L/40), a plain ceil(L / max); then
        # model.nseg (a number, or section lists, most specific first), then cellfit's
        # odd ceil(L / max_compartment_um).
        rule = model.get("nseg_rule", "fixed")
        if rule == "d_lambda":
            lam = h.lambda_f(model.get("d_lambda_freq_hz", 100.0), sec=sec)
            sec.nseg = int((sec.L / (model.get("d_lambda", 0.1) * lam) + 0.999) / 2) * 2 + 1
        elif rule == "bluepyopt":
            sec.nseg = 1 + 2 * int(sec.L / model.get("nseg_length_um", 40.0))
        elif rule == "max_length":
            sec.nseg = math.ceil(sec.L / model["max_length_um"])
        nseg_spec = model.get("nseg", 0)
        if isinstance(nseg_spec, dict):
            lists = {"allsect": 0, "all": 0, "alldend": 1, "dend": 1, "somatic": 2, "axonal": 2}
            covers = {"somatic": "soma", "axonal": "axon"}
            best = -1
            for key, value in nseg_spec.items():
                rank = lists.get(key, 2)
                name = covers.get(key, key)
                hit = (rank == 0 or (rank == 1 and region in ("basal", "apical"))
                       or name == region)
                if hit and rank > best:
                    best, nseg = rank, value
            if best >= 0:
                sec.nseg = int(nseg)
        elif nseg_spec > 0:
            sec.nseg = int(nseg_spec)
        if model.get("max_compartment_um", 0) > 0:
            k = math.ceil(sec.L / model["max_compartment_um"])
            k += 1 - k % 2
            sec.nseg = max(sec.nseg, k)
        for mech, spec in mechanisms.items():
            if not in_regions(region, spec.get("regions", "all")):
                continue
            sec.insert(mech)
            for key, value in spec.items():
                name = ranges.get((mech, key))
                if name is None:
                    continue
                for seg in sec:
                    setattr(seg, name, region_value(value, region, None))
        for ion, spec in ions.items():
            if not h.ismembrane(f"{ion}_ion", sec=sec):
                continue
            c_style, cinit, e_style, einit, eadvance = ion_style(sec, ion)
            style = spec.get("style", "auto")
            if style == "nernst":
                e_style, einit, eadvance = 2, 1, 1
            elif style == "fixed":
                e_style, einit, eadvance = 1, 0, 0
            for key, attr in (("ci", f"{ion}i"), ("co", f"{ion}o")):
                if key in spec:
                    # The config's concentrations, not the ion's global initial ones: set before
                    # every run, so finitialize must not reset them.
                    cinit = 0
                    for seg in sec:
                        ion_values.append((seg, attr, region_value(spec[key], region, getattr(seg, attr))))
            h.ion_style(f"{ion}_ion", c_style, e_style, einit, eadvance, cinit, sec=sec)
            if "e" in spec:
                for seg in sec:
                    ion_values.append((seg, f"e{ion}", region_value(spec["e"], region, getattr(seg, f"e{ion}"))))
        for seg in sec:
            segs.append(seg)
            seg_centres.append(segment_centre(sec, seg.x))
            seg_regions.append(region)
    for name, value in globals_.items():
        setattr(h, name, value)
    for mech in mechanisms:
        if hasattr(h, f"usetable_{mech}"):
            setattr(h, f"usetable_{mech}", 0)
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
    for c, k in enumerate(match):
        if cf_regions[c] != seg_regions[k]:
            sys.exit(f"neuron_reference: compartment {c} is {cf_regions[c]} in cellfit, "
                     f"{seg_regions[k]} in NEURON")
    # Path distances from soma[0](0.5), NEURON's distance() (BluePyOpt's origin).
    with h5py.File(args.output, "r") as f:
        cf_distance = f["model/compartments/distance_um"][:]
    origin = secs[0](0.5)
    worst_distance = max(abs(h.distance(origin, segs[k]) - cf_distance[c])
                         / max(1.0, h.distance(origin, segs[k])) for c, k in enumerate(match))
    print(f"path distance from soma[0](0.5): worst relative difference {worst_distance:.3e}")
    if worst_distance > 1e-6:
        sys.exit("neuron_reference: path distances differ from NEURON's distance()")

    # Sections by name: Import3d's names; the ball-and-stick built here is soma[0], dend[0].
    by_name = {sec.name(): sec for sec in secs}
    if model.get("morphology") == "builtin:ball_and_stick":
        by_name = {"soma[0]": secs[0], "dend[0]": secs[1]}

    def point(site):
        """A point as NEURON names it: soma[0](0.5) for "soma", sec(x) for "sec(x)", or the
        NEURON segment of a cellfit compartment index. Section(x) points are resolved by
        NEURON's own node rule, independently of cellfit's."""
        if isinstance(site, int):
            return segs[match[site if site >= 0 else len(centres) + site]]
        if site in ("soma", "somatic"):
            return secs[0](0.5)
        if "(" in site:
            name, x = site[:-1].split("(")
            return by_name[name](float(x))
        sys.exit(f"neuron_reference: {site!r} is not a point")

    def every(site):
        if isinstance(site, str) and "(" not in site:
            return [segs[match[c]] for c, r in enumerate(cf_regions) if in_regions(r, site)]
        return [point(site)]

    def electrodes(table):
        """(segment list, kind) of a [[stimulus]] table or a protocol element."""
        if "every" in table:
            sites = table["every"] if isinstance(table["every"], list) else [table["every"]]
            segl = [seg for site in sites for seg in every(site)]
        else:
            sites = table["sites"] if isinstance(table["sites"], list) else [table["sites"]]
            segl = [point(site) for site in sites]
        unique = []
        for seg in segl:
            if not any(seg.sec == u.sec and seg.x == u.x for u in unique):
                unique.append(seg)
        return unique

    def clamps_of(table, amp=None):
        """IClamp settings (segments, amp, delay, dur) of one current and its holding."""
        kind = table.get("type", "step")
        segl = electrodes(table)
        if kind == "holding":
            return [(segl, table.get("amplitude", 0.0), 0.0, 1e9)]
        if kind != "step":
            sys.exit("neuron_reference: only step and holding currents are supported")
        out = [(segl, table.get("amplitude", 0.0) if amp is None else amp,
                table.get("delay_ms", 0.0), table.get("duration_ms", tstop - table.get("delay_ms", 0.0)))]
        if table.get("holding", 0.0) != 0.0:
            out.append((segl, table["holding"], 0.0, 1e9))
        return out

    # Protocols in cellfit's order: [[stimulus]] tables (expanded by amplitude), then
    # [[protocol]]s with their elements acting together.
    stims = []  # (label, [(segments, amp, delay, dur)])
    for s in cfg.get("stimulus", []):
        for a in s.get("amplitudes", [s.get("amplitude", 0.0)]):
            stims.append((f"amp {a:g} at {s.get('sites', s.get('every'))}", clamps_of(s, a)))
    for p in cfg.get("protocol", []):
        elements = [c for e in p.get("stimulus", []) for c in clamps_of(e)]
        stims.append((f"protocol {p['name']} ({len(p.get('stimulus', []))} elements)", elements))
    if len(stims) != n_stim:
        sys.exit(f"neuron_reference: {len(stims)} stimuli in the config, {n_stim} in the output")

    # Recordings: named points by NEURON's node rule, or the recorded compartments.
    named = sim.get("recording", [])
    if named:
        rec_points = [point(r["site"]) for r in named]
        rec_labels = [r["name"] for r in named]
    else:
        rec_points = [segs[match[site]] for site in sites]
        rec_labels = [str(site) for site in sites]

    worst_rms, worst_abs, worst_spike, ok = 0.0, 0.0, 0.0, True
    per_site = len(sites) <= 8
    saved = []
    for si, (label, settings) in enumerate(stims):
        clamps = []
        for segl, amp, delay, dur in settings:
            for seg in segl:
                ic = h.IClamp(seg)
                ic.amp, ic.delay, ic.dur = amp, delay, dur
                clamps.append(ic)
        recs = []
        for seg in rec_points:
            vec = h.Vector()
            vec.record(seg._ref_v)
            recs.append(vec)
        tvec = h.Vector()
        tvec.record(h._ref_t)
        for seg, attr, value in ion_values:
            setattr(seg, attr, value)
        h.dt = dt
        h.steps_per_ms = 1.0 / dt
        h.finitialize(model.get("v_init", -65.0))
        h.continuerun(tstop)
        t = np.array(tvec)
        if args.save:
            saved.append([np.array(vec) for vec in recs])
        s_rms, s_abs, s_spike, lines = 0.0, 0.0, 0.0, []
        for j, vec in enumerate(recs):
            vn = np.array(vec)
            vc = volt[si, j, :]
            if len(vn) != len(vc):
                sys.exit(f"neuron_reference: {len(vn)} NEURON samples, {len(vc)} cellfit samples")
            diff = vc - vn
            rms = math.sqrt(float(np.mean(diff * diff)))
            dmax = float(np.max(np.abs(diff)))
            s_rms, s_abs = max(s_rms, rms), max(s_abs, dmax)
            sn, sc = spike_times(t, vn), spike_times(t, vc)
            shift = float(np.max(np.abs(sn - sc))) if len(sn) == len(sc) and len(sn) else 0.0
            s_spike = max(s_spike, shift)
            bad = rms > args.rms_tol or shift > args.spike_tol or len(sn) != len(sc)
            ok &= not bad
            if len(sn) != len(sc):
                print(f"stimulus {si} site {rec_labels[j]}: {len(sc)} spikes in cellfit, {len(sn)} in NEURON")
            if per_site:
                lines.append(f"  site {rec_labels[j]:>12s} ({cf_regions[sites[j]]:6s}): spikes {len(sn):3d}, "
                             f"RMS {rms:.3e} mV, max |dV| {dmax:.3e} mV, spike shift {shift:.3e} ms"
                             + ("  FAIL" if bad else ""))
        worst_rms, worst_abs, worst_spike = max(worst_rms, s_rms), max(worst_abs, s_abs), max(worst_spike, s_spike)
        print(f"stimulus {si}: {label}: spikes {len(spike_times(t, np.array(recs[0])))}"
              f" (first site); RMS {s_rms:.3e} mV, max |dV| {s_abs:.3e} mV, spike shift {s_spike:.3e} ms")
        for line in lines:
            print(line)
        del clamps
    print(f"worst RMS difference {worst_rms:.3e} mV, worst |dV| {worst_abs:.3e} mV, "
          f"worst spike-time difference {worst_spike:.3e} ms over {len(stims)} stimuli x {len(sites)} sites")
    if worst_spike > args.spike_tol:
        ok = False
    if args.save:
        np.save(args.save, np.array(saved))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
