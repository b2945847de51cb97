#!/usr/bin/env python3
"""Question: does cellfit's gradient engine reproduce paper 000 (Jones & Kording 2024),
and how long does it take?

Runs `cellfit fit` on the paper's experiments (examples/11_toy_grad_all_all.toml and
examples/paper000/*.toml): Table 2 (the jk toy, all five recording-limited and all five
stimulation-limited conditions), Table 3 (jk on the 184-compartment tree, 368 parameters,
3 seeds) and the toy with NEURON's hh channel, with the paper's optimiser (Adam, lr 0.5,
200 epochs) and with L-BFGS-B, and prints the tables in the paper's layout (initial/final
normalised loss, decrease, initial/final GT error of gNa and gK, decrease, time). Writes
CSV and Markdown. Times are wall-clock of the whole fit on this machine (the paper: one
A100, 4.5 h per toy condition, 3 h per test-cell seed).

usage: bench/paper000_tables.py [--cellfit build/src/cellfit] [--optimizers adam,lbfgsb]
                                [--tables 2,3,hh] [--epochs 200] [--out-dir bench_out]
"""
import argparse
import csv
import os
import platform
import subprocess
import sys
import time

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EX = os.path.join(ROOT, "examples")
P = os.path.join(EX, "paper000")

TABLE2_RECORD = [("All", "All", "11_toy_grad_all_all.toml", EX)] + [
    ("All", r, f"table2_toy_S-all_R-{t}.toml", P)
    for r, t in [("[0, 1, -1]", "0_1_m1"), ("[0, -1]", "0_m1"), ("[0, 1]", "0_1"), ("[0]", "0")]]
TABLE2_STIM = [("All", "All", "11_toy_grad_all_all.toml", EX)] + [
    (s, "All", f"table2_toy_S-{t}_R-all.toml", P)
    for s, t in [("[0, 1, -1]", "0_1_m1"), ("[0, -1]", "0_m1"), ("[0, 1]", "0_1"), ("[0]", "0")]]
TABLE3 = [(str(s), "", f"table3_tree184_seed{s}.toml", P) for s in (20230619, 20230620, 20230622)]
HH = [("All", "All", "toy_hh_grad_all_all.toml", P)]


def hms(s):
    s = int(round(s))
    return f"{s // 3600}:{(s // 60) % 60:02d}:{s % 60:02d}"


def run(cellfit, cfg, optimizer, epochs, out):
    cmd = [cellfit, "fit", cfg, "--quiet", "--out", out,
           "--set", f"fit.gradient.optimizer={optimizer}", "--set", f"fit.gradient.epochs={epochs}"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    with h5py.File(out, "r") as f:
        h = f["/fit/history"]
        nl = h["normalized_loss"][...]
        by = h["gt_error_by_parameter"][...]
        best = int(np.nanargmin(h["loss"][...]))
        return {
            "initial_loss": nl[0], "final_loss": nl[-1], "best_loss": nl[best],
            "gna0": by[0, 0], "gna1": by[best, 0], "gk0": by[0, 1], "gk1": by[best, 1],
            "iterations": len(nl), "stop": f.attrs["stop_reason"],
            "fit_seconds": float(f.attrs["wall_seconds"]), "wall": wall,
            "seed": int(f.attrs.get("seed", 0)) if "seed" in f.attrs else None,
        }


def pct(a, b):
    return 100.0 * (a - b) / a if a != 0 else 0.0


def table(title, rows, results, first_label):
    lines = [f"### {title}", ""]
    head = [first_label] + [r[0] if first_label == "Seed" else f"{r[0]} / {r[1]}" for r in rows]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    def line(name, key, fmt="{:.4g}"):
        lines.append("| " + name + " | " + " | ".join(fmt.format(key(x)) for x in results) + " |")
    line("Initial normalized loss", lambda x: x["initial_loss"])
    line("Final normalized loss (best iterate)", lambda x: x["best_loss"])
    line("Loss decrease (%)", lambda x: pct(x["initial_loss"], x["best_loss"]), "{:.3f}")
    line("Initial gNa GTE", lambda x: x["gna0"])
    line("Final gNa GTE (best iterate)", lambda x: x["gna1"])
    line("gNa GTE decrease (%)", lambda x: pct(x["gna0"], x["gna1"]), "{:.3f}")
    line("Initial gK GTE", lambda x: x["gk0"])
    line("Final gK GTE (best iterate)", lambda x: x["gk1"])
    line("gK GTE decrease (%)", lambda x: pct(x["gk0"], x["gk1"]), "{:.3f}")
    line("Iterations (stop)", lambda x: f'{x["iterations"]} ({x["stop"]})', "{}")
    line("Optimization time (H:M:S)", lambda x: hms(x["wall"]), "{}")
    line("Optimization time (s)", lambda x: x["wall"], "{:.2f}")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cellfit", default=os.path.join(ROOT, "build", "src", "cellfit"))
    ap.add_argument("--optimizers", default="adam,lbfgsb")
    ap.add_argument("--tables", default="2,3,hh")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--out-dir", default="paper000_out")
    ap.add_argument("--smoke", action="store_true", help="toy All/All only, 5 epochs")
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    header = (f"# paper000_tables: machine {platform.node()} ({cpu}, {os.cpu_count()} cores), "
              f"commit {commit}, epochs {a.epochs}\n")
    groups = []
    tables = a.tables.split(",")
    if a.smoke:
        groups = [("Toy smoke (All/All)", TABLE2_RECORD[:1], "Condition S/R")]
        a.epochs = 5
    else:
        if "2" in tables:
            groups += [("Table 2, toy: limit recording sites, stimulate all sites", TABLE2_RECORD, "Condition S/R"),
                       ("Table 2, toy: limit stimulation sites, record all sites", TABLE2_STIM, "Condition S/R")]
        if "3" in tables:
            groups.append(("Table 3, test cell (tree184, 368 parameters)", TABLE3, "Seed"))
        if "hh" in tables:
            groups.append(("Toy with the hh channel (ball-and-stick, All/All)", HH, "Condition S/R"))
    md = [header]
    rows_csv = []
    cache = {}
    for opt in a.optimizers.split(","):
        for title, rows, label in groups:
            res = []
            for r in rows:
                cfg = os.path.join(r[3], r[2])
                key = (opt, cfg)
                if key not in cache:
                    out = os.path.join(a.out_dir, f"{opt}_{os.path.splitext(r[2])[0]}.h5")
                    print(f"  {opt}: {r[2]} ...", file=sys.stderr, flush=True)
                    cache[key] = run(a.cellfit, cfg, opt, a.epochs, out)
                res.append(cache[key])
                x = cache[key]
                rows_csv.append([title, opt, r[0], r[1], r[2], x["initial_loss"], x["best_loss"],
                                 x["gna0"], x["gna1"], x["gk0"], x["gk1"], x["iterations"],
                                 x["stop"], x["wall"], platform.node(), commit])
            t = table(f"{title} — {opt}", rows, res, label)
            print(t, flush=True)
            md.append(t)
    with open(os.path.join(a.out_dir, "paper000_tables.md"), "w") as f:
        f.write("\n".join(md))
    with open(os.path.join(a.out_dir, "paper000_tables.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["table", "optimizer", "stim", "record", "config", "initial_normalized_loss",
                    "final_normalized_loss", "gna_gte_initial", "gna_gte_final", "gk_gte_initial",
                    "gk_gte_final", "iterations", "stop_reason", "seconds", "machine", "commit"])
        w.writerows(rows_csv)
    print(f"# written {a.out_dir}/paper000_tables.md and .csv", flush=True)


if __name__ == "__main__":
    main()
