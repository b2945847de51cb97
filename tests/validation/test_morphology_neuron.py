#!/usr/bin/env python3
"""Morphologies read by cellfit against NEURON's Import3d, section by section.

usage: test_morphology_neuron.py CELLFIT_BINARY

For each file (Neurolucida ASC and SWC files written here, and C060114A7.asc from the
installed bluepyopt), NEURON reads it with Import3d (Import3d_Neurolucida3 or Import3d_SWC_read,
then Import3d_GUI(...).instantiate(None), nseg = 1), in a process of its own, and writes per
section: name, parent name, parent x, n3d, L, diam and area (sum of seg.area()); cellfit
writes the same with `cellfit info FILE --nseg 1 --sections-csv`. The test requires the same
sections in the same order as Import3d's section list, the same parents, attachment points and
3-D point counts, and L, diam and area equal to 1e-6 relative; it prints the worst relative
differences. Exit 0 on success, 1 on a mismatch, 77 when bluepyopt (for C060114A7.asc) is
missing and everything else passed.
"""
import csv
import os
import subprocess
import sys
import tempfile

from validation_common import read_rows, rel

TOL = 1e-6

# ---------------------------------------------------------------------------------------
# Test files.

# A soma contour among objects Import3d skips (description, image coordinates, a top-level
# marker, text, a contour that is not a soma), and three trees with colours, markers after
# points, spines, Bezier values, commas, end words and nested splits.
CELL_ASC = """; V3 text file written for MicroBrightField products.
(Description "a test cell"
)  ;  End of description
(ImageCoords Filename "C:\\images\\cell.jpg" Merge 65535 65535 65535 0
 Coords 0.1 0.1 0 0 0)
(Sections)

(Dot (Color Red) (Name "a marker") (5 5 0 1) (6 6 0 1))

("Layer 5"
  (Color Blue)
  (-100 -100 0 1) (100 -100 0 1) (100 100 0 1)
)

("CellBody"
  (Color RGB (255, 255, 128))
  (CellBody)
  (  0.52  11.10   0.00  0.46)  ;  1, 1
  (  4.31   9.88   0.10  0.46)  ;  1, 2
  (  7.95   7.62   0.10  0.46)
  ( 10.80   3.02   0.20  0.46)
  ( 11.72  -1.43   0.20  0.46)
  ( 10.12  -6.20   0.10  0.46)
  (  6.05  -9.71   0.00  0.46)
  (  0.88 -10.64   0.00  0.46)
  ( -3.40  -9.12  -0.10  0.46)
  ( -7.73  -6.63  -0.10  0.46)
  (-10.21  -2.05  -0.20  0.46)
  ( -9.80   2.91  -0.20  0.46)
  ( -7.02   7.05  -0.10  0.46)
  ( -3.21  10.02   0.00  0.46)
)  ;  End of contour

( (Color Yellow) (Font "Arial" 12) (30 30 0 1) "a label")

( (Color Yellow)
  (Axon)
  (  1.20 -10.50  -1.00  1.80)  ; Root
  (  1.50 -20.00  -1.50  1.60)  ; 1, R
  (  2.10 -35.20  -2.00  1.40)
  (Dot
    (Color Yellow)
    (Name "Marker 1")
    (  2.00 -30.00  -2.00  1.40)
  )  ;  End of markers
  (
    (  8.00 -50.00  -2.50  1.00)  ; 1, R-1
    ( 15.00 -70.00  -3.00  0.80)
    Normal
  |
    ( -5.00 -52.00  -2.00  0.90)  ; 1, R-2
    (-12.00 -75.00  -1.00  0.70)
    (
      (-14.00 -90.00  -1.00  0.50)
      (-13.00 -110.00 -1.00  0.50)
      Incomplete
    |
      (-20.00 -85.00  -2.00  0.50)
      (-30.00 -95.00  -2.00  0.50)
      High
    )
  )  ;  End of split
)  ;  End of tree

( (Color Green)
  (Dendrite)
  ( 10.90   2.10   0.00   2.40)  ; Root
  ( 20.00   4.00   1.00   2.20) <(21 6 1 0.3)>
  ( 30.00   6.00,  1.50,  2.00 S1)
  ( 40.00   9.00   2.00   1.80 (41 9 2 1))
  (
    ( 52.00  20.00   2.00   1.20) <(53 22 2 0.3)> <(51 18 2 0.3)>
    ( 60.00  31.00   3.00   1.10)
    Low
  |
    ( 50.00   0.00   1.00   1.30)
    ( 65.00  -8.00   1.00   1.10)
    (OpenCircle (Color Green) (Name "Marker 2") (60 -5 1 1.1))
    (
      ( 80.00 -10.00   0.00   0.90)
      ( 95.00  -9.00   0.00   0.80)
      Generated
    |
      ( 65.00  -8.00   1.00   0.90)
      ( 75.00 -25.00   1.00   0.80)
      Midpoint
    |
      ( 78.00 -20.00   2.00   0.70)
      Origin
    )
  )
)

( (Color Red)
  (Apical)
  ( -1.50  11.00   0.00   3.50)
  ( -2.00  25.00   0.00   3.20)
  ( -2.50  45.00   1.00   3.00)
  (
    ( -2.50  45.00   1.00   2.00)
    ( -3.00  70.00   1.00   1.80)
    ( -4.00  90.00   1.50   1.60)
    (
      ( 10.00 110.00  1.50   1.00)
      Normal
    |
      (-15.00 115.00  1.50   1.00)
      (-20.00 130.00  1.50   0.90)
      Normal
    )
  |
    ( 20.00  55.00   1.00   1.50)
    ( 40.00  60.00   1.00   1.20)
    Normal
  )
)
"""

# A tree whose first point is its first branch point: the one-point root section is dropped
# by Import3d and its children attach to the soma.
FIRST_SPLIT_ASC = """("CellBody"
  (Color Red)
  (CellBody)
  (0 8 0 1) (6 6 0 1) (9 0 0 1) (6 -6 0 1) (0 -9 0 1) (-6 -6 0 1) (-9 0 0 1) (-6 5 0 1)
)
( (Dendrite)
  (10 0 0 2)
  (
    (20 10 0 1.5)
    (35 15 0 1.2)
    Normal
  |
    (20 -10 0 1.5)
    (30 -30 0 1.2)
    (
      (40 -35 0 1)
      Normal
    |
      (30 -45 0 1)
      Normal
    )
  )
)
( (Color Red) (Apical)
  (0 10 0 3) (1 40 0 2.5)
)
"""

# Three overlapping contours stacked in z: one soma, one point per contour. Also "Cell Body"
# spelled with a space, a tree whose last leading property is not its type (Import3d's
# dend_0), a marker that opens a branch (Import3d takes its points into the branch), a
# property that opens one, and a tree inside a set.
STACK_ASC = """("Cell Body"
  (Color Red)
  (CellBody)
  (7.8 0 0 0.5) (6.755 3.9 0 0.5) (3.9 5.2 0 0.5) (0 6 0 0.5) (-3.9 5.2 0 0.5)
  (-6.755 3.9 0 0.5) (-7.8 0 0 0.5) (-5.5 -4 0 0.5) (0 -6 0 0.5) (5.5 -4 0 0.5)
)
("Cell Body"
  (Color Red)
  (CellBody)
  (10.4 0 2 0.5) (9 5.2 2 0.5) (5.2 7 2 0.5) (0 8 2 0.5) (-5.2 7 2 0.5)
  (-9 5.2 2 0.5) (-10.4 0 2 0.5) (-7.3 -5.4 2 0.5) (0 -8.2 2 0.5) (7.3 -5.4 2 0.5)
)
("Cell Body"
  (Color Red)
  (CellBody)
  (6.5 0.5 4.5 0.5) (5.6 3.5 4.5 0.5) (3.2 4.8 4.5 0.5) (0 5.1 4.5 0.5) (-3.2 4.8 4.5 0.5)
  (-5.6 3.5 4.5 0.5) (-6.5 0 4.5 0.5) (-4.6 -3.4 4.5 0.5) (0 -5 4.5 0.5) (4.6 -3.4 4.5 0.5)
)
( (Axon) (Color Blue)
  (0 -7 2 1.5) (0 -30 2 1.2) (5 -60 3 1)
)
( (Color Yellow) (Dendrite)
  (8 3 2 2) (25 8 2 1.5)
  (
    (Dot (30 10 2 1.2) (32 12 2 1.2))
    (40 20 2 1)
    (50 35 2 0.8)
  |
    (Color Green)
    (35 0 2 1)
    (50 -5 2 0.8)
  )
)
(Set "apical tree"
  ( (Color Red) (Apical)
    (-1 8 3 3) (-2 30 3 2.5)
    (
      (10 50 4 1) (15 70 4 1)
    |
      (-10 50 4 1) (-12 80 4 1)
    )
  )
)
"""

# Sections of the second stem come first in the file: Import3d names sections in file order
# of their first sample, not breadth first.
SECOND_STEM_FIRST_SWC = """# soma, stem A (2-3), stem B (4-5), B's children, then A's children
1 1 0 0 0 5 -1
2 3 10 0 0 1 1
3 3 20 0 0 1 2
4 3 -10 0 0 1 1
5 3 -20 0 0 1 4
6 3 -30 10 0 0.8 5
7 3 -30 -10 0 0.8 5
8 3 30 10 0 0.8 3
9 3 30 -10 0 0.8 3
10 4 0 10 0 1.5 1
11 4 0 40 0 1.2 10
12 4 10 60 0 0.8 11
13 4 -10 60 0 0.8 11
14 3 -40 20 1 0.5 6
15 3 -40 0 1 0.5 6
"""

# Three-point soma, axon, basal and apical trees (examples/data/branched.swc, also used by
# tests/validation/test_neuron.sh).
BRANCHED_SWC = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                 "examples", "data", "branched.swc")).read()

# A multi-point soma with neurites at its first, an interior and its last point.
MULTISOMA_SWC = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                                  "multisoma.swc")).read()

# A one-sample section at its parent's last point (zero length: Import3d drops it and its
# children attach to its parent), and types 6 and 7 (dend_6, dend_7).
DROPPED_AND_TYPES_SWC = """1 1 0 0 0 5 -1
2 3 10 0 0 1 1
3 3 20 0 0 1 2
4 3 20 0 0 0.5 3
5 3 30 10 0 0.5 4
6 3 30 -10 0 0.5 4
7 3 20 20 0 1 3
8 7 0 10 0 1 1
9 7 0 20 0 1 8
10 6 0 -10 0 1 1
11 6 0 -20 0 1 10
12 6 5 -30 0 0.7 11
13 6 -5 -30 0 0.7 11
"""

FILES = {
    "cell.asc": CELL_ASC,
    "first_split.asc": FIRST_SPLIT_ASC,
    "stack.asc": STACK_ASC,
    "second_stem_first.swc": SECOND_STEM_FIRST_SWC,
    "branched.swc": BRANCHED_SWC,
    "multisoma.swc": MULTISOMA_SWC,
    "dropped_and_types.swc": DROPPED_AND_TYPES_SWC,
}

FIELDS = ["name", "parent", "parent_x", "n3d", "length_um", "diam_um", "area_um2"]

# ---------------------------------------------------------------------------------------
# The NEURON side, run as `test_morphology_neuron.py --neuron FILE OUT.csv` in its own process
# so that no sections of an earlier file remain.


def neuron_dump(path, out):
    from neuron import h

    h.load_file("stdlib.hoc")
    h.load_file("import3d.hoc")
    if path.lower().endswith(".asc"):
        reader = h.Import3d_Neurolucida3()
    else:
        reader = h.Import3d_SWC_read()
    reader.quiet = 1
    reader.input(path)
    gui = h.Import3d_GUI(reader, 0)
    gui.instantiate(None)
    by_name = {}
    for sec in h.allsec():
        sec.nseg = 1
        by_name[sec.name()] = sec
    # Import3d's section list order (dropped sections are gone from it; stacked soma
    # contours after the first are not sections).
    order = []
    tstr = h.ref("")
    for i in range(int(reader.sections.count())):
        isec = reader.sections.object(i)
        if isec.is_subsidiary:
            continue
        gui.name(isec, tstr)
        name = tstr[0] if "[" in tstr[0] else tstr[0] + "[0]"
        order.append(name)
    if sorted(order) != sorted(by_name):
        sys.exit(f"{path}: Import3d's list {order} does not match the sections {sorted(by_name)}")
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(FIELDS)
        for name in order:
            sec = by_name[name]
            ps = sec.parentseg()
            w.writerow([name, ps.sec.name() if ps is not None else "",
                        repr(ps.x if ps is not None else 0.0), int(sec.n3d()), repr(sec.L),
                        repr(sec.diam), repr(sum(seg.area() for seg in sec))])


# ---------------------------------------------------------------------------------------
# The comparison.


def compare(label, cellfit_csv, neuron_csv):
    """Returns (problems, worst relative difference per quantity)."""
    cf, nr = read_rows(cellfit_csv), read_rows(neuron_csv)
    problems = []
    worst = {"length_um": (0.0, ""), "diam_um": (0.0, ""), "area_um2": (0.0, "")}
    if [r["name"] for r in cf] != [r["name"] for r in nr]:
        problems.append(f"{label}: section order differs:\n  cellfit {[r['name'] for r in cf]}\n"
                        f"  NEURON  {[r['name'] for r in nr]}")
        return problems, worst
    for c, n in zip(cf, nr):
        name = n["name"]
        if c["parent"] != n["parent"] or float(c["parent_x"]) != float(n["parent_x"]):
            problems.append(f"{label}: {name}: parent {c['parent']}({c['parent_x']}) in cellfit, "
                            f"{n['parent']}({n['parent_x']}) in NEURON")
        if int(c["n3d"]) != int(n["n3d"]):
            problems.append(f"{label}: {name}: {c['n3d']} 3-D points in cellfit, "
                            f"{n['n3d']} in NEURON")
        for q in worst:
            d = rel(c[q], n[q])
            if d > worst[q][0]:
                worst[q] = (d, name)
            if not d <= TOL:
                problems.append(f"{label}: {name}: {q} {c[q]} in cellfit, {n[q]} in NEURON "
                                f"(relative difference {d:.2e})")
    return problems, worst


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--neuron":
        neuron_dump(sys.argv[2], sys.argv[3])
        return 0
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    cellfit = os.path.realpath(sys.argv[1])
    try:
        import neuron  # noqa: F401
    except ImportError:
        print("test_morphology_neuron: python3 with neuron is required (pip install neuron)",
              file=sys.stderr)
        return 1
    cases = []
    with tempfile.TemporaryDirectory() as work:
        for name, text in FILES.items():
            path = os.path.join(work, name)
            with open(path, "w") as f:
                f.write(text)
            cases.append((name, path))
        skipped = None
        try:
            import bluepyopt
            l5pc = os.path.join(os.path.dirname(bluepyopt.__file__),
                                "tests/test_ephys/testdata/acc/l5pc/C060114A7.asc")
            if os.path.exists(l5pc):
                cases.insert(0, ("C060114A7.asc", l5pc))
            else:
                skipped = f"C060114A7.asc (not in the installed bluepyopt: {l5pc})"
        except ImportError:
            skipped = "C060114A7.asc (bluepyopt is not installed)"

        problems = []
        overall = {"length_um": 0.0, "diam_um": 0.0, "area_um2": 0.0}
        print(f"{'file':24s} {'sections':>8s}  {'worst rel. L':>22s}  {'worst rel. diam':>22s}  "
              f"{'worst rel. area':>22s}")
        for label, path in cases:
            cf_csv = os.path.join(work, label + ".cellfit.csv")
            nr_csv = os.path.join(work, label + ".neuron.csv")
            r = subprocess.run([cellfit, "info", path, "--nseg", "1", "--sections-csv", cf_csv],
                               capture_output=True, text=True)
            if r.returncode != 0:
                problems.append(f"{label}: cellfit info failed ({r.returncode}): "
                                f"{r.stderr.strip()}")
                continue
            r = subprocess.run([sys.executable, os.path.realpath(__file__), "--neuron", path,
                                nr_csv], capture_output=True, text=True, cwd=work)
            if r.returncode != 0:
                problems.append(f"{label}: NEURON failed ({r.returncode}): "
                                f"{r.stderr.strip()[-2000:]}")
                continue
            p, worst = compare(label, cf_csv, nr_csv)
            problems += p
            n = len(read_rows(nr_csv))
            cells = [f"{worst[q][0]:9.2e} {worst[q][1]:>12s}"
                     for q in ("length_um", "diam_um", "area_um2")]
            print(f"{label:24s} {n:8d}  " + "  ".join(cells))
            for q in overall:
                overall[q] = max(overall[q], worst[q][0])
        print(f"worst over all files: L {overall['length_um']:.2e}, diam {overall['diam_um']:.2e}, "
              f"area {overall['area_um2']:.2e} (tolerance {TOL:g})")
        for p in problems:
            print("MISMATCH " + p)
        if problems:
            return 1
        if skipped:
            print("skipped " + skipped)
            return 77
        return 0


if __name__ == "__main__":
    sys.exit(main())
