#!/usr/bin/env python3
"""Plots of the scaling studies written by bench/scaling (CSV or HDF5).

One PNG per study (scaling_<study>.png in --out-dir), three panels:
  1. per point, the mean time per generation (epoch) in each stage (simulate, copy, score,
     communicate, select) as stacked bars, with the wall time as a black mark (with
     overlap the stages add up to more than the wall time);
  2. wall time per generation against ranks/nodes (rank sweeps) or the study's size, with
     the ideal: T0 u0 / u (strong), T0 (weak), T0 x / x0 (population, stimuli);
  3. efficiency as the driver computed it (strong T0 u0 / (T u), weak T0 / T, population and
     stimuli (T0/x0) / (T/x)) with the ideal 1 (features: overlap efficiency instead).
Oversubscribed points (more ranks than hardware threads on a node) are hatched bars and
hollow markers, annotated "oversub.".

Examples:
  python3 bench/plot_scaling.py results/scaling_*.csv --out-dir results
  python3 bench/plot_scaling.py results/scaling_strong.h5 --out-dir docs/img --dpi 80
"""

import argparse
import csv
import os
import sys

STAGES = [
    ("simulate_s", "simulate", "#4c72b0"),
    ("copy_s", "copy", "#8172b2"),
    ("score_s", "score", "#dd8452"),
    ("communicate_s", "communicate", "#55a868"),
    ("select_s", "select", "#c44e52"),
]
NUMERIC = [
    "units", "ranks", "nodes", "ranks_per_node", "cores_per_node", "population", "stimuli",
    "score_functions", "objectives", "generations", "simulate_s", "copy_s", "score_s",
    "communicate_s", "select_s", "wall_s", "gen0_wall_s", "efficiency", "overlap_efficiency",
    "oversubscribed", "simulations", "best",
]


def read_csv(path):
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            for k in NUMERIC:
                if k in r:
                    try:
                        r[k] = float(r[k])
                    except ValueError:
                        r[k] = float("nan")
            rows.append(r)
    return rows


def read_h5(path):
    import h5py  # only needed for HDF5 input

    rows = []
    with h5py.File(path, "r") as f:
        g = f["scaling"]
        n = len(g["study"])
        cols = {}
        for k in g.keys():
            v = g[k][()]
            cols[k] = [x.decode() if isinstance(x, bytes) else x for x in v]
        for i in range(n):
            r = {}
            for k, v in cols.items():
                r[k] = float(v[i]) if k in NUMERIC else str(v[i])
            rows.append(r)
    return rows


def read(path):
    if path.endswith((".h5", ".hdf5")):
        return read_h5(path)
    return read_csv(path)


def axis_of(study, rows):
    """The x values of a study's points and the axis label."""
    per = rows[0].get("per", "rank")
    if study in ("strong", "weak", "gradient-strong", "gradient-weak"):
        return [r["units"] for r in rows], ("nodes" if per == "node" else "ranks")
    if study == "population":
        return [r["population"] for r in rows], "population (individuals per generation)"
    if study == "stimuli":
        return [r["stimuli"] for r in rows], "stimuli"
    if study == "features":
        return [r["score_functions"] for r in rows], "score functions (stimulus, feature pairs)"
    return list(range(len(rows))), "point"


def ideal_of(study, xs, walls):
    x0, t0 = xs[0], walls[0]
    if study in ("strong", "gradient-strong"):
        return [t0 * x0 / x for x in xs]
    if study in ("weak", "gradient-weak"):
        return [t0 for _ in xs]
    if study in ("population", "stimuli"):
        return [t0 * x / x0 for x in xs]
    return None


TITLES = {
    "population": "GA, problem size (paper 004: population 500..5000, one node)",
    "strong": "GA strong scaling (paper 004 Table 1: population 3000, 1..16 nodes)",
    "weak": "GA weak scaling (paper 004 Table 2: 250 individuals per node)",
    "stimuli": "GA, stimuli (paper 004: 1..18 stimuli)",
    "features": "GA, score functions (paper 004: 1..180)",
    "gradient-strong": "gradient engine, fixed total stimuli (strong)",
    "gradient-weak": "gradient engine, fixed stimuli per rank (weak)",
}


def plot_study(plt, ticker, study, rows, out_dir, dpi, prefix, problem=""):
    rows = sorted(rows, key=lambda r: axis_of(study, [r])[0][0])
    xs, xlabel = axis_of(study, rows)
    walls = [r["wall_s"] for r in rows]
    over = [r.get("oversubscribed", 0) > 0 for r in rows]
    engine = rows[0].get("engine", "ga")
    unit = "epoch" if engine == "gradient" else "generation"
    fig, axes = plt.subplots(1, 3, figsize=(12.5, 3.8))

    # 1. stacked stages per point
    ax = axes[0]
    pos = list(range(len(rows)))
    bottom = [0.0] * len(rows)
    for key, label, color in STAGES:
        vals = [max(0.0, r.get(key, 0.0)) for r in rows]
        if engine == "gradient" and key == "simulate_s":
            label = "forward + adjoint + update"
        if not any(v > 0 for v in vals):
            continue
        bars = ax.bar(pos, vals, bottom=bottom, color=color, label=label, width=0.7)
        for b, o in zip(bars, over):
            if o:
                b.set_hatch("//")
                b.set_edgecolor("white")
        bottom = [a + b for a, b in zip(bottom, vals)]
    ax.scatter(pos, walls, marker="_", s=500, color="black", zorder=3, label="wall")
    ax.set_xticks(pos)
    ax.set_xticklabels(
        [("%g" % x) + ("\n(oversub.)" if o else "") for x, o in zip(xs, over)], fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("seconds per %s" % unit)
    ax.set_title("stages per %s" % unit, fontsize=10)
    top = max(bottom + walls)
    ax.set_ylim(0, top * 1.4)
    ax.legend(fontsize=7, loc="upper center", ncol=3, frameon=False)

    # 2. wall time vs x, with the ideal
    ax = axes[1]
    ideal = ideal_of(study, xs, walls)
    ax.plot(xs, walls, "-", color="#4c72b0", zorder=1, label="wall")
    for x, w, o in zip(xs, walls, over):
        ax.plot([x], [w], "o", color="#4c72b0", mfc="white" if o else "#4c72b0", zorder=2)
        if o:
            ax.annotate("oversub.", (x, w), textcoords="offset points", xytext=(4, 6),
                        fontsize=7)
    if ideal:
        ax.plot(xs, ideal, "--", color="gray", label="ideal")
    if study == "features":
        # What the study scales: the scoring time (the slowest rank's), next to the wall.
        ax.plot(xs, [r["score_s"] for r in rows], "-^", color="#dd8452", label="score")
    ax.legend(fontsize=8)
    if study in ("strong", "gradient-strong") and len(xs) > 1:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(ticker.FormatStrFormatter("%g"))
        ax.tick_params(axis="y", which="minor", labelsize=7)
    else:
        ax.set_ylim(bottom=0)
    if study == "features":
        ax.set_xscale("log")
    ax.set_xticks(xs)
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.set_xticklabels(["%g" % x for x in xs], fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("seconds per %s" % unit)
    ax.set_title("wall time" + (" and scoring time" if study == "features" else ""), fontsize=10)

    # 3. efficiency (features: overlap efficiency)
    ax = axes[2]
    if study == "features":
        effs = [r.get("overlap_efficiency", float("nan")) for r in rows]
        ylabel = "overlap efficiency (sim + copy + score) / wall"
        ax.axhline(1.0, ls="--", color="gray", label="no overlap")
    else:
        effs = [r.get("efficiency", float("nan")) for r in rows]
        ylabel = "efficiency"
        ax.axhline(1.0, ls="--", color="gray", label="ideal")
    ax.plot(xs, effs, "-", color="#dd8452", zorder=1)
    for x, e, o in zip(xs, effs, over):
        ax.plot([x], [e], "s", color="#dd8452", mfc="white" if o else "#dd8452", zorder=2)
        if o:
            ax.annotate("oversub.", (x, e), textcoords="offset points", xytext=(4, 6), fontsize=7)
    if study in ("strong", "gradient-strong") and len(xs) > 1:
        ax.set_xscale("log", base=2)
    if study == "features":
        ax.set_xscale("log")
    ax.set_xticks(xs)
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.set_xticklabels(["%g" % x for x in xs], fontsize=8)
    finite = [e for e in effs if e == e]
    ax.set_ylim(0, max([1.15] + [e * 1.1 for e in finite]))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title("efficiency", fontsize=10)
    ax.legend(fontsize=8, loc="lower left")

    r0 = rows[0]
    sub = "population %d, %d stimuli, %d score functions" % (
        r0["population"], r0["stimuli"], r0["score_functions"])
    if study in ("population", "weak"):
        sub = "%d stimuli, %d score functions" % (r0["stimuli"], r0["score_functions"])
    elif study == "stimuli":
        sub = "population %d" % r0["population"]
    elif study == "features":
        sub = "population %d, %d stimuli" % (r0["population"], r0["stimuli"])
    elif engine == "gradient":
        sub = "Adam, forward + adjoint per epoch"
    if study in ("population", "stimuli", "features"):
        sub += ", %d rank(s) on %d node(s)" % (r0["ranks"], r0["nodes"])
    title = TITLES.get(study, study) + (" - " + problem if problem else "")
    fig.suptitle("%s\n%s; %s" % (title, sub, r0.get("cpu", "")), fontsize=10)
    fig.tight_layout()
    path = os.path.join(out_dir, "%s%s.png" % (prefix, study.replace("-", "_")))
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+", help="CSV or HDF5 files written by bench/scaling")
    ap.add_argument("--out-dir", default=".", help="where the PNGs go (default: .)")
    ap.add_argument("--dpi", type=float, default=80, help="resolution (default 80)")
    ap.add_argument("--prefix", default="scaling_", help="file name prefix (default scaling_)")
    ap.add_argument("--label", default="",
                    help="the problem, added to every title (e.g. \"paper 004's TTPC\")")
    args = ap.parse_args()
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import ticker
    except ImportError as e:
        print("plot_scaling.py: matplotlib is needed: %s" % e, file=sys.stderr)
        return 1
    studies = {}
    for p in args.inputs:
        try:
            rows = read(p)
        except (OSError, KeyError, ImportError) as e:
            print("plot_scaling.py: cannot read %s: %s" % (p, e), file=sys.stderr)
            return 1
        for r in rows:
            studies.setdefault(r["study"], []).append(r)
    if not studies:
        print("plot_scaling.py: no rows in %s" % " ".join(args.inputs), file=sys.stderr)
        return 1
    os.makedirs(args.out_dir, exist_ok=True)
    for study, rows in studies.items():
        print(plot_study(plt, ticker, study, rows, args.out_dir, args.dpi, args.prefix,
                         args.label))
    return 0


if __name__ == "__main__":
    sys.exit(main())
