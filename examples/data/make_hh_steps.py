#!/usr/bin/env python3
"""Writes examples/data/hh_steps.csv, the recording examples/22_fit_recorded_sweeps.toml
fits: that config's cell simulated by cellfit at gnabar 0.14, gkbar 0.03, gl 0.0004 S/cm2,
the soma's voltage every 0.1 ms with Gaussian noise of 0.5 mV (seed 22), one column per
sweep.

usage: make_hh_steps.py [CELLFIT_BINARY]   (default: build/src/cellfit)
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(HERE, "..", "22_fit_recorded_sweeps.toml")
TRUTH = {"hh.gnabar": 0.14, "hh.gkbar": 0.03, "hh.gl": 0.0004}


def main():
    cellfit = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "build",
                                                                    "src", "cellfit")
    with tempfile.TemporaryDirectory() as work:
        out = os.path.join(work, "truth.h5")
        cmd = [cellfit, "simulate", CONFIG, "--out", out, "--quiet",
               "--set", "simulation.record_every=1"]
        for k, v in TRUTH.items():
            cmd += ["--set", f"model.mechanisms.{k.split('.')[0]}.{k.split('.')[1]}={v}"]
        subprocess.run(cmd, check=True)
        with h5py.File(out, "r") as f:
            t = f["/traces/time_ms"][()]
            v = f["/traces/voltage"][()][:, 0, :]  # [sweep][sample] at the soma
    keep = np.arange(0, len(t), 4)  # every 0.1 ms
    rng = np.random.default_rng(22)
    noisy = v[:, keep] + rng.normal(0.0, 0.5, (v.shape[0], len(keep)))
    path = os.path.join(HERE, "hh_steps.csv")
    with open(path, "w") as f:
        f.write("t_ms," + ",".join(f"v_step_{a}" for a in (0.1, 0.2, 0.4)) + "\n")
        for j, k in enumerate(keep):
            f.write(f"{t[k]:.4f}," + ",".join(f"{x:.4f}" for x in noisy[:, j]) + "\n")
    print(f"{path}: {len(keep)} samples x {v.shape[0]} sweeps")


if __name__ == "__main__":
    main()
