#!/usr/bin/env python3
"""PNG plots of a `cellfit compare` result (compare.h5).

  compare_loss.png    best loss so far against single-cell simulations and against wall
                      time, one line per engine (the hybrid's polish phases marked)
  compare_traces.png  target against each engine's fitted traces at the soma (the first
                      recorded site at compartment 0, else the first recorded site) for
                      up to four stimuli

Usage: plot_compare.py compare.h5 [--out-dir DIR] [--stimuli 0,1,2,3]
Exit status: 0; 2 for a bad file; 3 when matplotlib or h5py is missing.
"""

import argparse
import os
import sys

COLORS = {"ga": "tab:orange", "gradient": "tab:blue", "hybrid": "tab:green"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("h5", help="compare.h5 written by cellfit compare")
    ap.add_argument("--out-dir", default=".", help="where the PNGs go (.)")
    ap.add_argument("--stimuli", default="", help="stimulus indices to draw (default: 4 spread)")
    ap.add_argument("--dpi", type=int, default=90)
    a = ap.parse_args()
    try:
        import h5py
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
    except ImportError as e:
        print(f"plot_compare.py: {e}: pip install matplotlib h5py numpy", file=sys.stderr)
        return 3
    try:
        f = h5py.File(a.h5, "r")
        engines = [e.decode() if isinstance(e, bytes) else str(e) for e in f["/compare/engines"][()]]
        loss_kind = f.attrs.get("loss", "normalized")
        if isinstance(loss_kind, bytes):
            loss_kind = loss_kind.decode()
    except (OSError, KeyError) as e:
        print(f"plot_compare.py: {a.h5}: not a cellfit compare result ({e})", file=sys.stderr)
        return 2
    os.makedirs(a.out_dir, exist_ok=True)
    budget = float(f.attrs.get("budget_simulations", 0))
    budget_s = float(f.attrs.get("budget_seconds", 0))
    title = (f"budget {budget:.3g} simulations per engine" if budget > 0
             else f"budget {budget_s:.3g} s per engine")

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for e in engines:
        h = f[f"/compare/{e}/history"]
        sims, wall, loss = h["simulations"][()], h["wall_s"][()], h["loss"][()]
        phase = h["phase"][()]
        ok = np.isfinite(loss) & (loss > 0)
        for ax, x in ((axes[0], sims), (axes[1], wall)):
            ax.plot(x[ok], loss[ok], color=COLORS.get(e), label=e, lw=1.6)
            starts = np.nonzero(np.diff(phase) != 0)[0] + 1
            for s in starts:
                ax.axvline(x[s], color=COLORS.get(e), lw=0.6, ls=":")
    for ax, xl in ((axes[0], "single-cell simulations"), (axes[1], "wall time [s]")):
        ax.set_xlabel(xl)
        ax.set_ylabel(f"best loss so far ({loss_kind})")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"cellfit compare: {title} (dotted: hybrid polish starts)")
    fig.tight_layout()
    loss_png = os.path.join(a.out_dir, "compare_loss.png")
    fig.savefig(loss_png, dpi=a.dpi)
    plt.close(fig)

    target = f["/compare/target/voltage"][()]
    sites = list(f["/compare/target/sites"][()])
    site = sites.index(0) if 0 in sites else 0
    t = f["/compare/time_ms"][()]
    n_stim = target.shape[0]
    if a.stimuli:
        stims = [int(s) for s in a.stimuli.split(",") if int(s) < n_stim]
    else:
        stims = sorted(set(int(round(x)) for x in np.linspace(0, n_stim - 1, min(4, n_stim))))
    names = [s.decode() if isinstance(s, bytes) else str(s)
             for s in f["/compare/stimuli/names"][()]]
    fig, axes = plt.subplots(1, len(stims), figsize=(3.4 * len(stims), 3.4), squeeze=False)
    for ax, k in zip(axes[0], stims):
        ax.plot(t, target[k, site], color="black", lw=2.4, alpha=0.35, label="target")
        for e in engines:
            v = f[f"/compare/{e}/best/voltage"][()]
            ax.plot(t, v[k, site], color=COLORS.get(e), lw=1.2, label=e)
        ax.set_title(names[k] if k < len(names) else f"stimulus {k}", fontsize=9)
        ax.set_xlabel("time [ms]")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"V at compartment {sites[site]} [mV]")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("target and fitted traces")
    fig.tight_layout()
    traces_png = os.path.join(a.out_dir, "compare_traces.png")
    fig.savefig(traces_png, dpi=a.dpi)
    plt.close(fig)
    print(f"plots: {loss_png} {traces_png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
