#!/usr/bin/env python3
"""PNG plots of a cellfit result file (`cellfit fit` or `cellfit simulate` output).

For a fit file FIT.h5 (PNG names start with the file's stem):

  FIT_loss.png        the loss at each iteration/generation (log scale); the GA's median
                      too, the GT error when the target is synthetic, the hybrid's polish
                      starts dotted
  FIT_traces.png      target against best traces, one panel per stimulus x recording
                      (up to 4 stimuli and 3 recordings)
  FIT_params.png      every fitted value within its bounds: initial, best and, when known
                      (/fit/ground_truth/params), the ground truth
  FIT_population.png  GA only: each individual's summed objective per generation, with the
                      best and the median

For a simulate file SIM.h5:

  SIM_traces.png      the traces, one panel per stimulus x recording, one line per
                      parameter set (up to 8)

`cellfit plot FILE.h5 [--out-dir DIR]` runs this script; `cellfit.plot(path, out_dir=...)`
in the Python module is the same code.

Usage: plot_result.py FILE.h5 [--out-dir DIR] [--dpi N]
Exit status: 0; 2 for a file that is not a readable cellfit fit or simulate result; 3 when
matplotlib or h5py is missing.
"""

import argparse
import os
import sys

MAX_STIMULI = 4
MAX_SITES = 3
MAX_SETS = 8


class PlotError(Exception):
    """A file that cannot be plotted (missing, not HDF5, not a cellfit fit/simulate result)."""


def _text(x):
    if isinstance(x, bytes):
        return x.decode()
    return str(x)


def _strings(f, path, n, fallback):
    if path in f:
        names = [_text(s) for s in f[path][()]]
        if len(names) == n:
            return names
    return [f"{fallback} {k}" for k in range(n)]


def _spread(n, most):
    """Up to `most` indices spread over range(n), first and last included."""
    import numpy as np

    return sorted(set(int(round(x)) for x in np.linspace(0, n - 1, min(most, n))))


def _subplots(nrows=1, ncols=1, **kw):
    """A figure outside pyplot: no backend is chosen or changed (a notebook's stays), nothing
    stays open after the save."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=kw.pop("figsize", None))
    return fig, fig.subplots(nrows, ncols, **kw)


def _trace_grid(voltage_by_label, t, stim_names, site_names, title, colors=None):
    """voltage_by_label: [(label, array [stimulus][site][sample], style dict)]."""
    n_stim, n_sites = voltage_by_label[0][1].shape[:2]
    stims, sites = _spread(n_stim, MAX_STIMULI), _spread(n_sites, MAX_SITES)
    fig, axes = _subplots(len(sites), len(stims), figsize=(3.6 * len(stims), 2.8 * len(sites)),
                             squeeze=False, sharex=True)
    for i, r in enumerate(sites):
        for j, s in enumerate(stims):
            ax = axes[i][j]
            for label, v, style in voltage_by_label:
                ax.plot(t, v[s, r], label=label, **style)
            if i == 0:
                ax.set_title(stim_names[s], fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{site_names[r]}\nV [mV]", fontsize=8)
            if i == len(sites) - 1:
                ax.set_xlabel("time [ms]")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _time_axis(f, n_samples):
    import numpy as np

    for path in ("/fit/time_ms", "/traces/time_ms"):
        if path in f and f[path].shape[0] == n_samples:
            return f[path][()], "time [ms]"
    t_stop = float(f.attrs.get("t_stop_ms", 0) or 0)
    if t_stop > 0 and n_samples > 1:
        return np.linspace(0.0, t_stop, n_samples), "time [ms]"
    return np.arange(n_samples, dtype=float), "sample"


def _save(fig, out_dir, stem, what, dpi, written):
    path = os.path.join(out_dir, f"{stem}_{what}.png")
    fig.savefig(path, dpi=dpi)
    written.append(path)


def _plot_fit(f, np, out_dir, stem, dpi):
    written = []
    engine = _text(f.attrs.get("engine", "?"))
    h = f["/fit/history"]
    loss = h["loss"][()]
    it = np.arange(loss.size)
    xlabel = "generation" if engine == "ga" else "iteration"
    has_gt = "gt_error" in h
    fig, axes = _subplots(1, 2 if has_gt else 1, figsize=(11 if has_gt else 6, 4), squeeze=False)
    ax = axes[0][0]
    ok = np.isfinite(loss) & (loss > 0)
    ax.plot(it[ok], loss[ok], color="tab:blue", lw=1.6, label="best" if engine == "ga" else "loss")
    if "median" in h:
        med = h["median"][()]
        okm = np.isfinite(med) & (med > 0)
        ax.plot(it[okm], med[okm], color="tab:gray", lw=1.2, label="median")
    if "phase" in h:
        phase = h["phase"][()]
        for k, s in enumerate(np.nonzero(np.diff(phase) != 0)[0] + 1):
            ax.axvline(s, color="tab:green", lw=0.8, ls=":",
                       label="polish starts" if k == 0 else None)
    loss_name = _text(f.attrs.get("loss", "summed objective" if engine == "ga" else "loss"))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(loss_name)
    if ok.any():
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("loss history", fontsize=10)
    if has_gt:
        gt = h["gt_error"][()]
        okg = np.isfinite(gt) & (gt > 0)
        ax = axes[0][1]
        ax.plot(it[okg], gt[okg], color="tab:red", lw=1.6)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("GT error (mean |g* - g|)")
        if okg.any():
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.set_title("distance to the ground truth", fontsize=10)
    final = f.attrs.get("best_loss", f.attrs.get("final_loss", float("nan")))
    fig.suptitle(f"{stem}: {engine} fit, best {float(final):.4g}")
    fig.tight_layout()
    _save(fig, out_dir, stem, "loss", dpi, written)

    if "/fit/target/voltage" in f and "/fit/best/voltage" in f:
        target, best = f["/fit/target/voltage"][()], f["/fit/best/voltage"][()]
        if target.ndim == 3 and target.shape == best.shape and target.size > 0:
            t, _ = _time_axis(f, target.shape[2])
            fig = _trace_grid([("target", target, dict(color="black", lw=2.4, alpha=0.35)),
                                    ("best", best, dict(color="tab:blue", lw=1.1))],
                              t, _strings(f, "/fit/stimuli/names", target.shape[0], "stimulus"),
                              _strings(f, "/fit/target/site_names", target.shape[1], "site"),
                              f"{stem}: target and best traces")
            _save(fig, out_dir, stem, "traces", dpi, written)

    best = f["/fit/best/params"][()]
    P = best.size
    names = _strings(f, "/fit/param_names", P, "parameter")
    lower = f["/fit/bounds/lower"][()] if "/fit/bounds/lower" in f else None
    upper = f["/fit/bounds/upper"][()] if "/fit/bounds/upper" in f else None
    truth = f["/fit/ground_truth/params"][()] if "/fit/ground_truth/params" in f else None
    initial = f["/fit/initial/params"][()] if "/fit/initial/params" in f else None
    if P > 0 and lower is not None and upper is not None:
        span = np.where(upper > lower, upper - lower, 1.0)

        def scaled(v):
            return (v - lower) / span

        shown = np.arange(P) if P <= 40 else np.array(_spread(P, 40))
        y = np.arange(shown.size)
        fig, ax = _subplots(figsize=(7, 1.2 + 0.28 * shown.size))
        ax.axvspan(0, 1, color="tab:gray", alpha=0.08)
        if initial is not None and initial.size == P:
            ax.scatter(scaled(initial)[shown], y, marker="o", facecolors="none",
                       edgecolors="tab:gray", label="initial", zorder=2)
        if truth is not None and truth.size == P:
            ax.scatter(scaled(truth)[shown], y, marker="x", color="black", s=50,
                       label="ground truth", zorder=3)
        ax.scatter(scaled(best)[shown], y, marker="o", color="tab:blue", s=22, label="best",
                   zorder=4)
        ax.set_yticks(y)
        ax.set_yticklabels([names[k] for k in shown], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("position within the bounds ((value - lower) / (upper - lower))")
        ax.set_xlim(-0.05, 1.05)
        ax.grid(alpha=0.3, axis="x")
        ax.legend(fontsize=7, loc="best")
        gt = f.attrs.get("gt_error")
        known = gt is not None and truth is not None
        ax.set_title(f"{stem}: fitted parameters"
                     + (f" (GT error {float(gt):.3g})" if known else ""), fontsize=10)
        fig.tight_layout()
        _save(fig, out_dir, stem, "params", dpi, written)

    if "/fit/population/objectives" in f:
        obj = f["/fit/population/objectives"][()]  # [generation][individual][objective]
        if obj.ndim == 3 and obj.size > 0:
            total = obj.sum(axis=2)
            fig, ax = _subplots(figsize=(7, 4))
            gens = np.repeat(np.arange(total.shape[0]), total.shape[1])
            vals = total.ravel()
            ok = np.isfinite(vals) & (vals > 0)
            ax.scatter(gens[ok], vals[ok], s=5, color="tab:orange", alpha=0.35, label="individual")
            with np.errstate(all="ignore"):
                masked = np.where(np.isfinite(total), total, np.nan)
                ax.plot(np.nanmin(masked, axis=1), color="tab:blue", lw=1.6, label="best")
                ax.plot(np.nanmedian(masked, axis=1), color="tab:gray", lw=1.2, label="median")
            if ok.any():
                ax.set_yscale("log")
            ax.set_xlabel("generation")
            ax.set_ylabel(f"summed objective ({obj.shape[2]} objectives)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
            ax.set_title(f"{stem}: population per generation ({total.shape[1]} individuals)",
                         fontsize=10)
            fig.tight_layout()
            _save(fig, out_dir, stem, "population", dpi, written)
    return written


def _plot_simulate(f, np, out_dir, stem, dpi):
    v = f["/traces/voltage"][()]  # [cell][site][sample], cell = set x stimulus
    n_cells, n_sites, n_samples = v.shape
    n_stim = int(f.attrs.get("n_stimuli", 0) or 0)
    if n_stim <= 0 or n_cells % n_stim != 0:
        n_stim = 1
    n_sets = n_cells // n_stim
    by_set = v.reshape(n_sets, n_stim, n_sites, n_samples)
    t, _ = _time_axis(f, n_samples)
    sets = _spread(n_sets, MAX_SETS)
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    lines = [(f"set {k}" if n_sets > 1 else "V", by_set[k],
              dict(color=cmap(i / max(1, len(sets) - 1)) if len(sets) > 1 else "tab:blue", lw=1.1))
             for i, k in enumerate(sets)]
    fig = _trace_grid(lines, t, _strings(f, "/stimuli/names", n_stim, "stimulus"),
                      _strings(f, "/traces/site_names", n_sites, "site"),
                      f"{stem}: {n_sets} parameter set{'s' if n_sets != 1 else ''} x {n_stim} "
                      f"stimul{'i' if n_stim != 1 else 'us'}")
    written = []
    _save(fig, out_dir, stem, "traces", dpi, written)
    return written


def plot(path, out_dir=".", dpi=90):
    """Draws the PNGs of a cellfit fit or simulate file into out_dir (created if needed) and
    returns their paths. Raises PlotError for a file that is not one, ImportError without
    matplotlib or h5py."""
    import h5py
    import matplotlib  # noqa: F401 (ImportError here, before any file is read)
    import numpy as np

    path = os.fspath(path)
    if not os.path.exists(path):
        raise PlotError(f"{path}: no such file")
    if os.path.isdir(path):
        raise PlotError(f"{path}: a directory, not a cellfit result file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise PlotError(f"{path}: not a readable HDF5 file ({e})") from None
    with f:
        command = _text(f.attrs.get("command", ""))
        stem = os.path.splitext(os.path.basename(path))[0]
        try:
            if command == "fit" or (not command and "/fit/history/loss" in f):
                if "/fit/best/params" not in f or "/fit/history/loss" not in f:
                    raise PlotError(f"{path}: a fit file without /fit/history/loss or "
                                    "/fit/best/params (a checkpoint?)")
                kind = _plot_fit
            elif command == "simulate" or (not command and "/traces/voltage" in f):
                kind = _plot_simulate
            elif command == "compare":
                raise PlotError(f"{path}: a compare result: `cellfit compare` draws its plots "
                                "(scripts/plot_compare.py)")
            else:
                raise PlotError(f"{path}: not a cellfit fit or simulate result (no /fit/history/"
                                "loss, no /traces/voltage, root attribute command = "
                                f"{command or 'none'})")
            os.makedirs(out_dir, exist_ok=True)
            return kind(f, np, out_dir, stem, dpi)
        except KeyError as e:
            raise PlotError(f"{path}: incomplete cellfit {command or 'result'} file ({e})") \
                from None


def main():
    ap = argparse.ArgumentParser(prog="cellfit plot", description=__doc__.split("\n")[0])
    ap.add_argument("h5", help="a file written by cellfit fit or cellfit simulate")
    ap.add_argument("--out-dir", default=".", help="where the PNGs go (.)")
    ap.add_argument("--dpi", type=int, default=90)
    a = ap.parse_args()
    try:
        written = plot(a.h5, a.out_dir, a.dpi)
    except ImportError as e:
        print(f"cellfit plot: {e}: pip install matplotlib h5py numpy", file=sys.stderr)
        return 3
    except PlotError as e:
        print(f"cellfit plot: {e}", file=sys.stderr)
        return 2
    print("plots: " + " ".join(written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
