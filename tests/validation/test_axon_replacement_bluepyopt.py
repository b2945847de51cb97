#!/usr/bin/env python3
"""BluePyOpt's axon replacement and soma-distance locations against cellfit, section by section.

usage: test_axon_replacement_bluepyopt.py CELLFIT_BINARY

For each morphology (C060114A7.asc from the installed bluepyopt, BluePyOpt's L5PC, and small
SWC/ASC files written here with no axon, one axon section, several, and several that all lie
within 60 um of the soma), BluePyOpt builds the cell in NEURON, in a process of its own:
NrnFileMorphology(path, do_replace_axon=True) (its nseg rule 1 + 2 int(L/40), then the
replacement) instantiated by a CellModel without mechanisms, and NrnSomaDistanceCompLocation
finds the section and segment at some path distances. It writes, in the order of the cell's
`all` list, per section: name, parent name and x, n3d, L, diam, area (sum of seg.area()) and
nseg. cellfit reads a config with model.replace_axon = true and model.nseg_rule = "bluepyopt"
and record_sites { section_list = ..., soma_distance_um = ... }, and `cellfit info CONFIG
--sections-csv` writes the same table and prints the record sites.

Required: the same sections in the same order with the same parents, attachment points and
3-D point counts, the same nseg (and total segment count: 699 for the L5PC), L, diam and area
equal to 1e-6 relative, and every location on the same section and the same node.
Exit 0 on success, 1 on a mismatch, 77 when bluepyopt is not installed.
"""
import csv
import json
import os
import re
import subprocess
import sys
import tempfile

from validation_common import read_rows, rel

TOL = 1e-6
L5PC_SEGMENTS = 699  # BluePyOpt's L5PC after axon replacement (docs/morphology.md)

# No axon: BluePyOpt gives the new axon 1 um diameters.
NO_AXON_SWC = """# one-point soma, a basal tree and an apical trunk
1 1 0 0 0 8 -1
2 3 10 0 0 2 1
3 3 60 5 0 1.6 2
4 3 100 30 0 1 3
5 3 100 -20 0 0.9 3
6 4 0 10 0 3 1
7 4 0 90 0 2.5 6
8 4 -20 200 0 1.5 7
"""

# One axon section, tapered and long enough for nseg 3 under BluePyOpt's rule: its diam (the
# middle segment's) is not its mean diameter.
ONE_AXON_ASC = """("CellBody"
  (Color Red)
  (CellBody)
  (0 8 0 1) (6 6 0 1) (9 0 0 1) (6 -6 0 1) (0 -9 0 1) (-6 -6 0 1) (-9 0 0 1) (-6 5 0 1)
)
( (Color Blue) (Axon)
  (0 -9 0 3.0) (0 -20 0 2.6) (2 -45 0 1.4) (3 -90 0 0.6) (3 -130 0 0.5)
)
( (Color Green) (Dendrite)
  (9 0 0 2) (40 5 0 1.5) (80 20 0 1.2)
  (
    (100 40 0 1) (130 60 0 0.8)
  |
    (100 0 0 1) (140 -10 0 0.7)
  )
)
"""

# Several axon sections: a trunk that branches, tapered sections of nseg > 1, and the first
# section whose middle lies beyond 60 um from the soma is neither axon[0] nor the last.
SEVERAL_AXON_SWC = """# soma, axon trunk (2-5), two axon branches, a collateral, a basal dendrite
1 1 0 0 0 6 -1
2 2 0 -6 0 2.2 1
3 2 0 -20 0 2.0 2
4 2 1 -35 0 1.7 3
5 2 1 -42 0 1.6 4
6 2 10 -60 0 1.3 5
7 2 25 -95 0 0.9 6
8 2 30 -140 0 0.6 7
9 2 -8 -55 0 1.2 5
10 2 -20 -80 0 1.0 9
11 2 -35 -90 0 0.8 10
12 3 6 0 0 2 1
13 3 50 10 0 1.5 12
14 3 90 40 0 1 13
"""

# Several axon sections, none of them with its middle beyond 60 um: axon[1] keeps axon[0]'s
# diameter.
SHORT_AXON_SWC = """1 1 0 0 0 5 -1
2 2 0 -5 0 1.5 1
3 2 0 -20 0 1.3 2
4 2 5 -30 0 1.0 3
5 2 -5 -32 0 0.9 3
6 3 5 0 0 2 1
7 3 60 0 0 1.2 6
"""

# (file name, text, [(section list, soma distance um), ...])
SMALL = [
    ("no_axon.swc", NO_AXON_SWC,
     [("basal", 40.5), ("basal", 80.0), ("apical", 150.25), ("axonal", 50.0)]),
    ("one_axon.asc", ONE_AXON_ASC,
     [("basal", 60.0), ("basal", 131.5), ("axonal", 20.0), ("all", 97.0)]),
    ("several_axon.swc", SEVERAL_AXON_SWC, [("basal", 77.7), ("axonal", 50.0)]),
    ("short_axon.swc", SHORT_AXON_SWC, [("basal", 33.3), ("axonal", 40.0)]),
]
L5PC_SITES = [("apical", 660.0), ("apical", 800.0), ("basal", 150.0), ("axonal", 50.0)]

FIELDS = ["name", "parent", "parent_x", "n3d", "length_um", "diam_um", "area_um2", "nseg"]

# ---------------------------------------------------------------------------------------
# The BluePyOpt side: `test_axon_replacement_bluepyopt.py --bluepyopt FILE SITES OUT.csv`
# writes the sections to OUT.csv and the locations as JSON on stdout.


def short(name):
    return name.split(".", 1)[1] if "." in name else name


def bluepyopt_dump(path, sites_json, out):
    import bluepyopt.ephys as ephys

    sim = ephys.simulators.NrnSimulator()
    morph = ephys.morphologies.NrnFileMorphology(path, do_replace_axon=True)
    cell = ephys.models.CellModel("cell", morph=morph, mechs=[], params=[])
    cell.instantiate(sim=sim)
    icell = cell.icell
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(FIELDS)
        for sec in icell.all:
            ps = sec.parentseg()
            w.writerow([short(sec.name()), short(ps.sec.name()) if ps is not None else "",
                        repr(ps.x if ps is not None else 0.0), int(sec.n3d()), repr(sec.L),
                        repr(sec.diam), repr(sum(seg.area() for seg in sec)), sec.nseg])
    found = []
    for seclist, distance in json.loads(sites_json):
        loc = ephys.locations.NrnSomaDistanceCompLocation(
            "site", soma_distance=distance, seclist_name=seclist)
        seg = loc.instantiate(sim=sim, icell=icell)
        # The node NEURON uses for seg: mark it and find the segment centre that carries it.
        sec = seg.sec
        for s in sec:
            s.v = 0.0
        seg.v = 1.0
        centres = [s.x for s in sec if s.v == 1.0]
        found.append({"section": short(sec.name()), "x": seg.x,
                      "node_x": centres[0] if len(centres) == 1 else None})
    print(json.dumps(found))


# ---------------------------------------------------------------------------------------
# The comparison.


def compare_sections(label, cf, bp):
    problems = []
    worst = {"length_um": (0.0, ""), "diam_um": (0.0, ""), "area_um2": (0.0, "")}
    if [r["name"] for r in cf] != [r["name"] for r in bp]:
        problems.append(f"{label}: sections differ:\n  cellfit   {[r['name'] for r in cf]}\n"
                        f"  BluePyOpt {[r['name'] for r in bp]}")
        return problems, worst
    for c, n in zip(cf, bp):
        name = n["name"]
        if c["parent"] != n["parent"] or float(c["parent_x"]) != float(n["parent_x"]):
            problems.append(f"{label}: {name}: parent {c['parent']}({c['parent_x']}) in cellfit, "
                            f"{n['parent']}({n['parent_x']}) in BluePyOpt")
        for q in ("n3d", "nseg"):
            if int(c[q]) != int(n[q]):
                problems.append(f"{label}: {name}: {q} {c[q]} in cellfit, {n[q]} in BluePyOpt")
        for q in worst:
            d = rel(c[q], n[q])
            if d > worst[q][0]:
                worst[q] = (d, name)
            if not d <= TOL:
                problems.append(f"{label}: {name}: {q} {c[q]} in cellfit, {n[q]} in BluePyOpt "
                                f"(relative difference {d:.2e})")
    return problems, worst


SITE_LINE = re.compile(r"^(\d+)\s+(-?\d+)\s+(\S+)\((\S+)\)$")


def run_case(cellfit, work, label, path, sites):
    """Returns (problems, table row)."""
    cfg = os.path.join(work, label + ".toml")
    cf_csv = os.path.join(work, label + ".cellfit.csv")
    bp_csv = os.path.join(work, label + ".bluepyopt.csv")
    with open(cfg, "w") as f:
        f.write("[model]\n")
        f.write(f"morphology = {json.dumps(path)}\n")
        f.write('replace_axon = true\nnseg_rule = "bluepyopt"\n\n[simulation]\n')
        f.write("record_sites = [" + ", ".join(
            f'{{ section_list = "{s}", soma_distance_um = {d!r} }}' for s, d in sites) + "]\n")
    r = subprocess.run([cellfit, "info", cfg, "--sections-csv", cf_csv], capture_output=True,
                       text=True)
    if r.returncode != 0:
        return [f"{label}: cellfit info failed ({r.returncode}): {r.stderr.strip()}"], None
    cf_sites = []
    in_sites = False
    for line in r.stdout.splitlines():
        if line.startswith("record site"):
            in_sites = True
            continue
        if in_sites:
            m = SITE_LINE.match(line.strip())
            if not m:
                break
            cf_sites.append((m.group(3), float(m.group(4))))
    r = subprocess.run([sys.executable, os.path.realpath(__file__), "--bluepyopt", path,
                        json.dumps(sites), bp_csv], capture_output=True, text=True, cwd=work)
    if r.returncode != 0:
        return [f"{label}: BluePyOpt failed ({r.returncode}): {r.stderr.strip()[-2000:]}"], None
    bp_sites = json.loads(r.stdout.strip().splitlines()[-1])
    cf, bp = read_rows(cf_csv), read_rows(bp_csv)
    problems, worst = compare_sections(label, cf, bp)
    segments_cf = sum(int(x["nseg"]) for x in cf)
    segments_bp = sum(int(x["nseg"]) for x in bp)
    if segments_cf != segments_bp:
        problems.append(f"{label}: {segments_cf} segments in cellfit, {segments_bp} in BluePyOpt")
    if len(cf_sites) != len(sites):
        problems.append(f"{label}: cellfit printed {len(cf_sites)} record sites for {len(sites)}")
    else:
        for (seclist, d), (cs, cx), b in zip(sites, cf_sites, bp_sites):
            if b["node_x"] is None or cs != b["section"] or abs(cx - b["node_x"]) > 1e-9:
                problems.append(f"{label}: {seclist} at {d} um: cellfit {cs}({cx:.6g}), BluePyOpt "
                                f"{b['section']}({b['x']:.6g}) on the node at {b['node_x']}")
    axon = {x["name"]: x for x in bp if x["name"].startswith("axon[")}
    row = (f"{label:20s} {len(bp):8d} {segments_bp:8d}  "
           f"{float(axon['axon[0]']['diam_um']):9.6g} {float(axon['axon[1]']['diam_um']):9.6g}  "
           + "  ".join(f"{worst[q][0]:9.2e}" for q in ("length_um", "diam_um", "area_um2"))
           + f"  {len(sites)} sites")
    return problems, (row, segments_bp)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--bluepyopt":
        bluepyopt_dump(sys.argv[2], sys.argv[3], sys.argv[4])
        return 0
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    cellfit = os.path.realpath(sys.argv[1])
    try:
        import bluepyopt
        import neuron  # noqa: F401
    except ImportError as e:
        print(f"test_axon_replacement_bluepyopt: skipped ({e}; pip install bluepyopt neuron)")
        return 77
    l5pc = os.path.join(os.path.dirname(bluepyopt.__file__),
                        "tests/test_ephys/testdata/acc/l5pc/C060114A7.asc")
    problems = []
    print(f"{'file':20s} {'sections':>8s} {'segments':>8s}  {'axon0 d':>9s} {'axon1 d':>9s}  "
          f"{'rel. L':>9s}  {'rel. diam':>9s}  {'rel. area':>9s}")
    with tempfile.TemporaryDirectory() as work:
        cases = []
        if os.path.exists(l5pc):
            cases.append(("C060114A7.asc", l5pc, L5PC_SITES))
        else:
            problems.append(f"C060114A7.asc is not in the installed bluepyopt ({l5pc})")
        for name, text, sites in SMALL:
            path = os.path.join(work, name)
            with open(path, "w") as f:
                f.write(text)
            cases.append((name, path, sites))
        for label, path, sites in cases:
            p, result = run_case(cellfit, work, label, path, sites)
            problems += p
            if result is None:
                continue
            row, segments = result
            print(row)
            if label == "C060114A7.asc" and segments != L5PC_SEGMENTS:
                problems.append(f"{label}: {segments} segments, {L5PC_SEGMENTS} expected")
    for p in problems:
        print("MISMATCH " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
