#!/usr/bin/env python3
"""Distance-dependent densities in cellfit against BluePyOpt's scaler in NEURON, segment by
segment.

usage: test_distribution_neuron.py CELLFIT_BINARY

For each morphology (examples/data/branched.swc, and C060114A7.asc from the installed
bluepyopt, the L5PC's), cellfit reads a config with BluePyOpt's L5PC Ih distribution
"(-0.8696 + 2.087*math.exp(({distance})*0.0031))*{value}" on the apical list, its "decay"
"math.exp({distance}*{constant})*{value}" (a dist_param_names parameter) on the basal list,
8e-5 S/cm2 elsewhere, pas.g as a sigmoid shape and pas.e as a linear one of distance, with BluePyOpt's
nseg rule (1 + 2 int(L / 40)), and writes the per-compartment values with `cellfit simulate`
(/parameters/<mech>/<param>, /model/compartments/*). NEURON, in a process of its own, reads
the same file with Import3d, sets the same nseg, and gives every segment the value of
bluepyopt.ephys.parameterscalers.NrnSegmentSomaDistanceScaler.scale(value, seg, sim) (which
measures h.distance from soma[0](0.5) to seg.x), assigned to the segment and read back for
pas (NEURON's own storage) and as computed for Ih (no .mod file needed). The test requires
the same segments and every value equal to 1e-12 relative, and prints the worst difference.
Exit 0 on success, 1 on a mismatch, 77 when bluepyopt or neuron is missing.
"""
import json
import os
import subprocess
import sys
import tempfile

TOL = 1e-12
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

IH = "(-0.8696 + 2.087*math.exp(({distance})*0.0031))*{value}"
# BluePyOpt's L5PC "decay", a distribution with a parameter of its own (dist_param_names).
DECAY = "math.exp({distance}*{constant})*{value}"
DECAY_CONSTANT = -0.0052
# The same distributions in the two spellings: cellfit reads the shape tables, NEURON's side
# evaluates BluePyOpt-style strings of the formulas docs/config.md gives for them.
PAS_G = ("{value}*(0.5 + 1.5/(1 + math.exp((150 - {distance})/40)))",
         '{ shape = "sigmoid", offset = 0.5, scale = 1.5, midpoint = 150, width = 40 }')
PAS_E = ("{value}*(1 + 0.0002*{distance})", '{ shape = "linear", slope = 0.0002 }')
VALUES = {"Ih.gIhbar": 8e-5, "pas.g": 3e-5, "pas.e": -75.0}


def config(morphology):
    return f"""
[model]
morphology = "{morphology}"
nseg_rule = "bluepyopt"
[model.distributions]
exp = "{IH}"
decay = {{ expression = "{DECAY}", constant = {DECAY_CONSTANT!r} }}
[model.mechanisms.pas]
g = {{ value = {VALUES["pas.g"]!r}, distribution = {PAS_G[1]} }}
e = {{ value = {VALUES["pas.e"]!r}, distribution = {PAS_E[1]} }}
[model.mechanisms.Ih]
regions = "all"
gIhbar.all = {VALUES["Ih.gIhbar"]!r}
gIhbar.apical = {{ value = {VALUES["Ih.gIhbar"]!r}, distribution = "exp" }}
gIhbar.basal = {{ value = {VALUES["Ih.gIhbar"]!r}, distribution = "decay" }}
[simulation]
dt_ms = 0.025
t_stop_ms = 0.025
record_sites = [0]
"""


# ---------------------------------------------------------------------------------------
# The NEURON side, run as `test_distribution_neuron.py --neuron FILE OUT.json`.


def neuron_values(path, out):
    import neuron
    from neuron import h
    from bluepyopt.ephys.parameterscalers import NrnSegmentSomaDistanceScaler

    class Sim:  # what the scaler asks of a simulator: sim.neuron.h
        pass

    sim = Sim()
    sim.neuron = neuron
    h.load_file("stdlib.hoc")
    h.load_file("import3d.hoc")
    reader = h.Import3d_Neurolucida3() if path.lower().endswith(".asc") else h.Import3d_SWC_read()
    reader.quiet = 1
    reader.input(path)
    h.Import3d_GUI(reader, 0).instantiate(None)
    ih = NrnSegmentSomaDistanceScaler(distribution=IH)
    ih_decay = NrnSegmentSomaDistanceScaler(distribution=DECAY, dist_param_names=["constant"])
    ih_decay.constant = DECAY_CONSTANT
    pas_g = NrnSegmentSomaDistanceScaler(distribution=PAS_G[0])
    pas_e = NrnSegmentSomaDistanceScaler(distribution=PAS_E[0])
    rows = []
    for sec in h.allsec():
        sec.nseg = 1 + 2 * int(sec.L / 40.0)  # BluePyOpt's NrnFileMorphology.set_nseg
        sec.insert("pas")
    for sec in h.allsec():
        for i, seg in enumerate(sec):
            seg.pas.g = pas_g.scale(VALUES["pas.g"], seg, sim)
            seg.pas.e = pas_e.scale(VALUES["pas.e"], seg, sim)
            gih = VALUES["Ih.gIhbar"]
            if sec.name().startswith("apic"):
                gih = ih.scale(VALUES["Ih.gIhbar"], seg, sim)
            elif sec.name().startswith("dend"):
                gih = ih_decay.scale(VALUES["Ih.gIhbar"], seg, sim)
            h.distance(0, 0.5, sec=h.soma[0])
            rows.append({"section": sec.name(), "index": i, "nseg": sec.nseg,
                         "distance": h.distance(1, seg.x, sec=sec), "pas.g": seg.pas.g,
                         "pas.e": seg.pas.e, "Ih.gIhbar": gih})
    with open(out, "w") as f:
        json.dump(rows, f)


# ---------------------------------------------------------------------------------------


def cellfit_values(cellfit, path, work, label):
    import h5py
    cfg = os.path.join(work, label + ".toml")
    with open(cfg, "w") as f:
        f.write(config(path))
    out = os.path.join(work, label + ".h5")
    r = subprocess.run([cellfit, "simulate", cfg, "--out", out, "--quiet"], capture_output=True,
                       text=True)
    if r.returncode != 0:
        sys.exit(f"{label}: cellfit simulate failed ({r.returncode}): {r.stderr.strip()}")
    with h5py.File(out, "r") as f:
        sections = [s.decode() if isinstance(s, bytes) else s
                    for s in f["/model/compartments/section"][()]]
        x = f["/model/compartments/x"][()]
        dist = f["/model/compartments/distance_um"][()]
        per = {}
        for key in VALUES:
            mech, param = key.split(".")
            comps = f[f"/parameters/{mech}/compartments"][()]
            vals = f[f"/parameters/{mech}/{param}"][()][0]
            per[key] = dict(zip((int(c) for c in comps), vals))
    return sections, x, dist, per


def rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def compare(label, cellfit, path, work):
    nr_json = os.path.join(work, label + ".neuron.json")
    r = subprocess.run([sys.executable, os.path.realpath(__file__), "--neuron", path, nr_json],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{label}: the NEURON side failed: {r.stderr.strip()[-2000:]}")
    with open(nr_json) as f:
        rows = json.load(f)
    sections, x, dist, per = cellfit_values(cellfit, path, work, label)
    by_sec = {}
    for c, (s, xc) in enumerate(zip(sections, x)):
        by_sec.setdefault(s, []).append((float(xc), c))
    failures = 0
    worst = {k: (0.0, "") for k in ["distance"] + list(VALUES)}
    if len(rows) != len(sections):
        print(f"{label}: NEURON has {len(rows)} segments, cellfit {len(sections)} compartments")
        return 1
    for row in rows:
        # cellfit's node of segment i of n lies at (i + 0.5) / n, as NEURON's seg.x.
        key = (row["section"], (row["index"] + 0.5) / row["nseg"])
        near = by_sec.get(row["section"], [])
        c = next((c for xc, c in near if abs(xc - key[1]) < 1e-9), None)
        if c is None:
            print(f"{label}: no cellfit compartment for {key[0]}({key[1]!r}); cellfit has "
                  f"{[xc for xc, _ in near]}")
            failures += 1
            continue
        got = {"distance": dist[c], **{k: per[k][c] for k in VALUES}}
        for k, v in got.items():
            d = rel(float(v), row[k])
            where = f"{row['section']}({key[1]:.6g}) at {row['distance']:.6g} um"
            if d > worst[k][0]:
                worst[k] = (d, where)
            if d > TOL:
                failures += 1
                if failures <= 10:
                    print(f"{label}: {k} at {where}: cellfit {float(v)!r}, NEURON {row[k]!r}")
    print(f"{label}: {len(rows)} segments; worst relative difference: " +
          ", ".join(f"{k} {w[0]:.3g}" + (f" ({w[1]})" if w[1] else "") for k, w in worst.items()))
    return 1 if failures else 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--neuron":
        neuron_values(sys.argv[2], sys.argv[3])
        return 0
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    cellfit = os.path.realpath(sys.argv[1])
    try:
        import bluepyopt  # noqa: F401
        import h5py  # noqa: F401
        import neuron  # noqa: F401
    except ImportError as e:
        print(f"test_distribution_neuron: skipped ({e}; pip install neuron bluepyopt h5py)")
        return 77
    cases = [("branched.swc", os.path.join(ROOT, "examples", "data", "branched.swc"))]
    l5pc = os.path.join(os.path.dirname(bluepyopt.__file__),
                        "tests/test_ephys/testdata/acc/l5pc/C060114A7.asc")
    if os.path.exists(l5pc):
        cases.append(("C060114A7.asc", l5pc))
    else:
        print(f"test_distribution_neuron: C060114A7.asc is not in the installed bluepyopt ({l5pc})")
    status = 0
    with tempfile.TemporaryDirectory() as work:
        for label, path in cases:
            status = max(status, compare(label, cellfit, path, work))
    print("test_distribution_neuron: " + ("FAILED" if status else "ok"))
    return status


if __name__ == "__main__":
    sys.exit(main())
