"""Runs eFEL (PyPI `efel`) on the traces of a `cellfit simulate` output and compares every
feature with what `cellfit features --out` wrote for the same traces.

eFEL gets the raw recorded time and voltage arrays (it does its own 0.1 ms resampling), the
stimulus window and current that cellfit used (checked against --window/--current when
given), and the settings cellfit recorded. Each feature is computed in its own
get_feature_values call: eFEL re-runs its resampling for every C++ feature it computes in a
call, on the already resampled trace, which moves voltages by rounding; one feature per call
resamples once, as cellfit does.

A feature agrees when both sides fail (eFEL: None, an empty array, or a value that is not
finite; cellfit: ok == 0), or both succeed with arrays of the same length whose elements
agree to --rtol relative (1e-12 absolute near zero).

usage: efel_reference.py TRACES.h5 FEATURES.h5 [--rtol 1e-6] [--window START END]
       [--current NA] [--label NAME] [--summary FILE]
Prints one line per feature and exits 1 on any disagreement.
"""
import argparse
import json
import math
import sys
import warnings

import efel
import h5py
import numpy as np


def efel_value(trace, name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = efel.get_feature_values([trace], [name], raise_warnings=False)[0][name]
    if out is None:
        return None
    arr = np.atleast_1d(np.asarray(out, dtype=float))
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        return None
    return arr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("traces")
    ap.add_argument("features")
    ap.add_argument("--rtol", type=float, default=1e-6)
    ap.add_argument("--window", type=float, nargs=2, action="append", default=None,
                    help="expected stim_start stim_end of every cell, or one per cell")
    ap.add_argument("--current", type=float, default=None)
    ap.add_argument("--label", default="")
    ap.add_argument("--summary", default=None, help="append per-feature results (JSON lines)")
    a = ap.parse_args()

    with h5py.File(a.traces, "r") as f:
        voltage = f["/traces/voltage"][...]
        t = f["/traces/time_ms"][...]
    with h5py.File(a.features, "r") as g:
        feats = g["/features"]
        names = [n.decode() if isinstance(n, bytes) else n for n in feats["names"][...]]
        attrs = dict(feats.attrs)
        site = int(attrs["site_index"])
        start = feats["stim_start_ms"][...]
        end = feats["stim_end_ms"][...]
        current = feats["stimulus_current_na"][...]
        ours = {}
        for n in names:
            grp = feats[n]
            ours[n] = (grp["ok"][...], grp["values"][...], grp["offsets"][...], grp["mean"][...])

    n_cells = voltage.shape[0]
    status = 0
    if a.window:
        want = a.window if len(a.window) == n_cells else a.window * n_cells
        for c in range(n_cells):
            if (start[c], end[c]) != tuple(want[c]):
                print(f"FAIL: cell {c}: window ({start[c]}, {end[c]}), expected {tuple(want[c])}")
                status = 1
    if a.current is not None and not np.all(current == a.current):
        print(f"FAIL: stimulus currents {current}, expected {a.current}")
        status = 1

    efel.reset()
    for key, setting in [("Threshold", "Threshold"), ("DerivativeThreshold", "DerivativeThreshold"),
                         ("DownDerivativeThreshold", "DownDerivativeThreshold"),
                         ("interp_step", "interp_step"), ("spike_skipf", "spike_skipf"),
                         ("voltage_base_start_perc", "voltage_base_start_perc"),
                         ("voltage_base_end_perc", "voltage_base_end_perc"),
                         ("precision_threshold", "precision_threshold"),
                         ("sahp_start", "sahp_start")]:
        efel.set_setting(setting, float(attrs[key]))
    for key in ["DerivativeWindow", "max_spike_skip"]:
        efel.set_setting(key, int(attrs[key]))
    efel.set_setting("ignore_first_ISI", bool(attrs["ignore_first_ISI"]))
    efel.set_setting("strict_stiminterval", bool(attrs["strict_stiminterval"]))
    base_mode = attrs["voltage_base_mode"]
    efel.set_setting("voltage_base_mode",
                     base_mode.decode() if isinstance(base_mode, bytes) else base_mode)

    rows = []
    for n in names:
        ok, flat, offsets, means = ours[n]
        worst, both_ok, both_failed, bad = 0.0, 0, 0, []
        for c in range(n_cells):
            trace = {"T": t, "V": voltage[c, site, :], "stim_start": [start[c]],
                     "stim_end": [end[c]], "stimulus_current": [current[c]],
                     "decay_start_after_stim": [float(attrs["decay_start_after_stim"])],
                     "decay_end_after_stim": [float(attrs["decay_end_after_stim"])]}
            ref = efel_value(trace, n)
            mine = flat[offsets[c]:offsets[c + 1]] if ok[c] else None
            if ok[c] and not (math.isclose(means[c], float(np.mean(mine)), rel_tol=1e-12,
                                           abs_tol=1e-12)):
                bad.append(f"cell {c}: mean {means[c]} is not the mean of its values")
            if not ok[c] and not math.isnan(means[c]):
                bad.append(f"cell {c}: mean {means[c]} of a feature that is not ok")
            if ref is None and mine is None:
                both_failed += 1
                continue
            if ref is None or mine is None:
                bad.append(f"cell {c}: eFEL {'fails' if ref is None else ref.tolist()}, "
                           f"cellfit {'fails' if mine is None else mine.tolist()}")
                continue
            if ref.size != mine.size:
                bad.append(f"cell {c}: eFEL {ref.size} values {ref.tolist()[:6]}, "
                           f"cellfit {mine.size} {mine.tolist()[:6]}")
                continue
            both_ok += 1
            diff = np.abs(ref - mine)
            scale = np.maximum(np.abs(ref), np.abs(mine))
            rel = np.where(scale > 0, diff / np.where(scale > 0, scale, 1.0), 0.0)
            worst = max(worst, float(rel.max()))
            out_of_tol = (rel > a.rtol) & (diff > 1e-12)
            if out_of_tol.any():
                k = int(np.argmax(np.where(out_of_tol, rel, -1.0)))
                bad.append(f"cell {c}: value {k}: eFEL {ref[k]!r}, cellfit {mine[k]!r}, "
                           f"rel diff {rel[k]:.3g}")
        rows.append((n, both_ok, both_failed, worst, bad))
        if a.summary:
            with open(a.summary, "a") as s:
                s.write(json.dumps({"case": a.label, "feature": n, "both_ok": both_ok,
                                    "both_failed": both_failed, "max_rel": worst,
                                    "mismatches": len(bad)}) + "\n")

    print(f"{'feature':34s} {'both ok':>7s} {'both n/a':>8s} {'max rel diff':>12s}")
    for n, both_ok, both_failed, worst, bad in rows:
        flag = "" if not bad else "  MISMATCH"
        print(f"{n:34s} {both_ok:7d} {both_failed:8d} {worst:12.3g}{flag}")
        for b in bad:
            print(f"    {b}")
        if bad:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
