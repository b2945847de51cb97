#!/usr/bin/env python3
"""PNG of a `cellfit identifiability` result: three panels.

  left    the eigen-spectrum of the Fisher information in relative coordinates (log scale,
          smallest first); the right axis reads each eigenvalue l as the relative standard
          deviation 1/sqrt(l) to which the data constrain that direction
  middle  the correlation matrix of the parameter estimates (heat map, -1..1)
  right   the relative standard error of each parameter (log scale)

`cellfit identifiability FIT.h5` runs this script unless --no-plot.

Usage: plot_identifiability.py RESULT.h5 --png OUT.png [--dpi N]
Exit status: 0; 2 for a file that is not a readable identifiability result; 3 when
matplotlib or h5py is missing.
"""

import argparse
import os
import sys


def _text(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--png", required=True)
    ap.add_argument("--dpi", type=int, default=90)
    a = ap.parse_args(argv)
    try:
        import h5py
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.ticker
        import matplotlib.pyplot as plt
        import numpy as np
    except ImportError as e:
        print(f"plot_identifiability.py: {e}", file=sys.stderr)
        return 3
    try:
        f = h5py.File(a.file, "r")
    except OSError as e:
        print(f"plot_identifiability.py: {a.file}: {e}", file=sys.stderr)
        return 2
    with f:
        if "identifiability/eigenvalues" not in f:
            print(f"plot_identifiability.py: {a.file}: not a cellfit identifiability result "
                  "(no /identifiability/eigenvalues)", file=sys.stderr)
            return 2
        g = f["identifiability"]
        names = [_text(s) for s in g["param_names"][()]]
        lam = np.asarray(g["eigenvalues"][()])
        vec = np.asarray(g["eigenvectors"][()])
        corr = np.asarray(g["correlation"][()])
        rse = np.asarray(g["relative_std_error"][()])
        at = _text(f.attrs.get("at", "best"))
        fit = os.path.basename(_text(f.attrs.get("fit", a.file)))
    P = len(names)
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.8), gridspec_kw={"width_ratios": [1, 1.2, 1]})

    # Spectrum: each eigenvalue a bar coloured by the parameter that dominates its direction.
    k = np.arange(P)
    lead = np.argmax(np.abs(vec), axis=1)
    floor = max(lam.max() * 1e-16, np.finfo(float).tiny)
    ax[0].bar(k, np.maximum(lam, floor), color=plt.cm.tab20(lead % 20))
    ax[0].set_yscale("log")
    ax[0].set_xlabel("eigen-direction (smallest first)")
    ax[0].set_ylabel("eigenvalue of the information (relative coordinates)")
    ax[0].set_title("spectrum (colour: leading parameter)")
    for i in range(min(P, 3)):
        ax[0].annotate(names[lead[i]], (i, max(lam[i], floor)), rotation=90, fontsize=7,
                       xytext=(0, 3), textcoords="offset points", ha="center", va="bottom")
    def to_sd(x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1 / np.sqrt(np.maximum(x, 1e-300))

    def from_sd(sd):
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1 / np.maximum(sd, 1e-150) ** 2

    sec = ax[0].secondary_yaxis("right", functions=(to_sd, from_sd))
    sec.set_ylabel("relative s.d. 1/sqrt(eigenvalue)")

    im = ax[1].imshow(corr, cmap="RdBu_r", vmin=-1, vmax=1)
    fig.colorbar(im, ax=ax[1], fraction=0.046, pad=0.04)
    ticks = range(P) if P <= 30 else range(0, P, max(1, P // 30))
    ax[1].set_xticks(list(ticks))
    ax[1].set_yticks(list(ticks))
    ax[1].set_xticklabels([names[i] for i in ticks], rotation=90, fontsize=7)
    ax[1].set_yticklabels([names[i] for i in ticks], fontsize=7)
    ax[1].set_title("correlation of the estimates")

    ax[2].barh(k, rse, color="C0")
    ax[2].set_xscale("log")
    # Labels at the decades only: minor labels of a narrow log range overlap.
    ax[2].xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax[2].set_yticks(list(ticks))
    ax[2].set_yticklabels([names[i] for i in ticks], fontsize=7)
    ax[2].invert_yaxis()
    ax[2].set_xlabel("relative standard error")
    ax[2].set_title("per parameter")
    fig.suptitle(f"identifiability of {fit} at {at}")
    fig.tight_layout()
    fig.savefig(a.png, dpi=a.dpi)
    return 0


if __name__ == "__main__":
    sys.exit(main())
