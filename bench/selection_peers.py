#!/usr/bin/env python3
"""Selection cost of cellfit next to DEAP's selNSGA2 and BluePyOpt's selIBEA, same matrices.

Question: how much faster is cellfit's environmental selection than the Python selectors
the GA peers use, on the same objective matrices, on this machine, in one run?

Runs `selection_cost` (which times cellfit and writes its matrices with --save-matrices),
then times on each matrix up to --max-peer-size, with k = n/2:
  * DEAP tools.selNSGA2(population, k)                   vs cellfit select_nsga2
  * BluePyOpt deapext.tools.selIBEA(population, k)       vs cellfit select_ibea
BluePyOpt's selIBEA computes the fitness of everyone once, keeps all of them (alpha defaults
to the population size) and picks k parents by tournaments; cellfit's default (iterative)
also removes n - k individuals one at a time, and its truncate mode is BluePyOpt's one-shot
computation (docs/ga.md). Both cellfit times are printed; the ratio uses the iterative one.
If bluepyopt is missing, an independent numpy implementation of selIBEA's computation with
the same structure (a row of the N x N indicator matrix per step, exp of the whole matrix,
column sums, a sort) stands in, and the table says so.

usage: bench/selection_peers.py [--selection-cost build/bench/selection_cost]
           [--sizes 500,1000,2000,3000] [--cellfit-sizes 500,...,6000] [--objectives 20]
           [--repeats 5] [--peer-repeats 1] [--csv selection_peers.csv]
"""

import argparse
import csv
import os
import platform
import random
import subprocess
import sys
import tempfile
import time

import numpy as np
from deap import base, creator, tools

try:
    from bluepyopt.deapext.tools import selIBEA as bluepyopt_selIBEA
    IBEA_PEER = "BluePyOpt selIBEA"
except ImportError:  # pragma: no cover - environment dependent
    bluepyopt_selIBEA = None
    IBEA_PEER = "numpy selIBEA (bluepyopt missing)"


def numpy_selIBEA(population, mu, kappa=0.05, tournament_n=4):
    """selIBEA's computation without bluepyopt: same structure, independent code."""
    obj = np.array([[-w for w in ind.fitness.wvalues] for ind in population])
    span = obj.max(axis=0) - obj.min(axis=0)
    span[span == 0] = 1.0
    n = len(population)
    indicator = np.empty((n, n))
    for i in range(n):  # row i: I(x_j, x_i) for every j
        indicator[i] = ((obj - obj[i]) / span).max(axis=1)
    c = np.abs(indicator).max()
    terms = np.exp(-indicator.T / (kappa * c)) if c != 0 else indicator
    fitness = terms.sum(axis=0) - np.diagonal(terms)
    order = np.argsort(fitness, kind="stable")
    parents = []
    for _ in range(mu):
        best = order[int(random.random() * n)]
        for _ in range(tournament_n - 1):
            other = order[int(random.random() * n)]
            if fitness[other] < fitness[best]:
                best = other
        parents.append(population[best])
    return parents


def load_matrix(path):
    raw = np.fromfile(path, dtype="<u8", count=2)
    n, m = int(raw[0]), int(raw[1])
    return np.fromfile(path, dtype="<f8", offset=16).reshape(n, m)


def population(obj):
    m = obj.shape[1]
    fit_name, ind_name = f"FitnessMin{m}", f"Individual{m}"
    if not hasattr(creator, fit_name):
        creator.create(fit_name, base.Fitness, weights=(-1.0,) * m)
        creator.create(ind_name, list, fitness=getattr(creator, fit_name))
    pop = []
    for i, row in enumerate(obj):
        ind = getattr(creator, ind_name)([i])
        ind.fitness.values = tuple(float(v) for v in row)
        pop.append(ind)
    return pop


def best_seconds(repeats, fn):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--selection-cost", default=os.path.join(here, "..", "build", "bench",
                                                             "selection_cost"))
    ap.add_argument("--sizes", default="500,1000,2000,3000", help="sizes the peers run")
    ap.add_argument("--cellfit-sizes", default="500,1000,2000,3000,4000,5000,6000")
    ap.add_argument("--objectives", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5, help="best of, for cellfit")
    ap.add_argument("--peer-repeats", type=int, default=1, help="best of, for the peers")
    ap.add_argument("--csv", default="selection_peers.csv")
    args = ap.parse_args()
    peer_sizes = [int(s) for s in args.sizes.split(",") if s]
    cellfit_sizes = sorted({int(s) for s in args.cellfit_sizes.split(",") if s} | set(peer_sizes))

    commit = subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    with tempfile.TemporaryDirectory() as work:
        cellfit_csv = os.path.join(work, "cellfit.csv")
        subprocess.run([args.selection_cost, "--sizes", ",".join(map(str, cellfit_sizes)),
                        "--objectives", str(args.objectives), "--repeats", str(args.repeats),
                        "--csv", cellfit_csv, "--save-matrices", work], check=True)
        with open(cellfit_csv) as f:
            ours = {(r["matrix"], int(r["n"])): r for r in csv.DictReader(f)}

        print(f"\n# selection_peers: {platform.node()} ({cpu_model()}), commit {commit}, "
              f"{args.objectives} objectives, k = n/2, one thread; cellfit best of "
              f"{args.repeats}, peers best of {args.peer_repeats}; IBEA peer: {IBEA_PEER}")
        head = (f"{'matrix':<10} {'n':>5} {'nsga2_ms':>9} {'deap_ms':>10} {'ratio':>8} "
                f"{'ibea_ms':>8} {'ibea_tr_ms':>10} {'peer_ms':>10} {'ratio':>8}")
        print(head)
        rows = []
        for matrix in ("uniform", "realistic"):
            for n in peer_sizes:
                obj = load_matrix(os.path.join(work, f"{matrix}_{n}.bin"))
                k = n // 2
                pop = population(obj)  # not part of either peer's selection
                t_deap = best_seconds(args.peer_repeats, lambda: tools.selNSGA2(pop, k)) * 1e3
                select = bluepyopt_selIBEA or numpy_selIBEA
                random.seed(1)
                t_ibea = best_seconds(args.peer_repeats, lambda: select(list(pop), k)) * 1e3
                r = ours[(matrix, n)]
                nsga, ibea, ibea_tr = (float(r["nsga2_ms"]), float(r["ibea_ms"]),
                                       float(r["ibea_truncate_ms"]))
                print(f"{matrix:<10} {n:>5} {nsga:>9.2f} {t_deap:>10.1f} {t_deap / nsga:>7.0f}x "
                      f"{ibea:>8.2f} {ibea_tr:>10.2f} {t_ibea:>10.1f} {t_ibea / ibea:>7.0f}x",
                      flush=True)
                rows.append([matrix, n, args.objectives, k, nsga, t_deap, t_deap / nsga, ibea,
                             ibea_tr, t_ibea, t_ibea / ibea, IBEA_PEER, cpu_model(), commit])
    with open(args.csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["matrix", "n", "m", "k", "cellfit_nsga2_ms", "deap_selNSGA2_ms",
                    "nsga2_ratio", "cellfit_ibea_ms", "cellfit_ibea_truncate_ms", "peer_ibea_ms",
                    "ibea_ratio", "ibea_peer", "cpu", "commit"])
        w.writerows(rows)
    print(f"# ratio = peer time / cellfit time (IBEA: cellfit iterative); CSV: {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
