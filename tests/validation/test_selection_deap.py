#!/usr/bin/env python3
"""cellfit's NSGA-II and IBEA selection against DEAP and BluePyOpt on the same matrices.

usage: test_selection_deap.py SELECTION_COST_BINARY

The test makes objective matrices (uniform, few objectives with many fronts, integer-valued
with ties and identical rows, and a GA-like matrix of feature z-scores with 250 penalties and
copies), runs every selection of cellfit on them through `selection_cost --dump`, and
compares with the peers run in this process:

* NSGA-II (DEAP tools.sortNondominated over all individuals, tools.emo.assignCrowdingDist
  per front, tools.selNSGA2): the same front for every individual; crowding distances equal
  to 1e-12 (in practice bit for bit) in the first front, ties and identical rows included,
  and in every later front where DEAP's result does not depend on the order its sort
  reached the front (no tie in the first objective between different rows); the same
  selected set whenever DEAP's choice is so defined and not tied at the cut (DEAP then keeps
  its list order, cellfit the lower index), otherwise the same full fronts and the top
  crowding values at the cut.
* IBEA, BluePyOpt's one-shot reduction (bluepyopt.deapext.tools.selIBEA:
  _calc_fitness_components, _calc_fitnesses, _environmental_selection): the same fitness to
  1e-9 relative, the same survivors when no two fitness values at the cut are within 1e-9.
* IBEA, Zitzler & Kuenzli's iterative reduction (not in BluePyOpt): a numpy loop over
  BluePyOpt's own component matrix that sums every fitness again after each removal; the
  same survivors and the same fitness (value at removal, final value for survivors) to 1e-9.

Exit code 77 (CTest's skip) when deap, bluepyopt or numpy is missing.
"""

import importlib
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    from deap import base, creator, tools
    sel_ibea = importlib.import_module("bluepyopt.deapext.tools.selIBEA")
except ImportError as e:  # pragma: no cover - environment dependent
    print(f"test_selection_deap: SKIPPED, {e.name or e} is not installed "
          "(pip install deap bluepyopt numpy)", file=sys.stderr)
    sys.exit(77)

KAPPA = 0.05
failures = []


def check(cond, message):
    if not cond:
        failures.append(message)
    return cond


def uniform(rng, n, m):
    return rng.random((n, m))


def levels(rng, n, m, count=5):
    return np.floor(rng.random((n, m)) * count)


def realistic(rng, n, m):
    """Feature z-scores: 10% failed features (250), 15% failed individuals, 10% copies."""
    x = np.abs(rng.standard_normal((n, m))) * (0.5 + 5.0 * rng.random((n, 1)))
    x[rng.random((n, m)) < 0.1] = 250.0
    x[rng.random(n) < 0.15] = 250.0
    for i in range(1, n):
        if rng.random() < 0.1:
            x[i] = x[rng.integers(0, i)]
    return x


def run_cellfit(binary, obj, k, work):
    n, m = obj.shape
    path_in = os.path.join(work, "in.bin")
    path_out = os.path.join(work, "out.bin")
    with open(path_in, "wb") as f:
        np.array([n, m], dtype="<u8").tofile(f)
        np.ascontiguousarray(obj, dtype="<f8").tofile(f)
    subprocess.run([binary, "--dump", path_in, path_out, "--k", str(k), "--kappa", str(KAPPA)],
                   check=True)
    raw = open(path_out, "rb").read()
    pos = 0

    def take(dtype, count):
        nonlocal pos
        a = np.frombuffer(raw, dtype=dtype, count=count, offset=pos)
        pos += a.nbytes
        return a

    n_out, k_out = take("<u8", 2)
    assert (n_out, k_out) == (n, k)
    out = {"nsga2_selected": take("<u8", k).astype(int), "front": take("<i8", n).astype(int),
           "crowding": take("<f8", n)}
    for name in ("iterative", "truncate"):
        out[name + "_selected"] = take("<u8", k).astype(int)
        out[name + "_fitness"] = take("<f8", n)
    assert pos == len(raw)
    return out


def deap_population(obj):
    n, m = obj.shape
    fit_name, ind_name = f"FitnessMin{m}", f"Individual{m}"
    if not hasattr(creator, fit_name):
        creator.create(fit_name, base.Fitness, weights=(-1.0,) * m)
        creator.create(ind_name, list, fitness=getattr(creator, fit_name))
    pop = []
    for i in range(n):
        ind = getattr(creator, ind_name)([i])
        ind.fitness.values = tuple(float(v) for v in obj[i])
        pop.append(ind)
    return pop


def defined_by_values(obj, idx, f):
    """Whether DEAP's crowding distances of a front depend only on the values.

    DEAP stable-sorts the front's list by each objective in turn, so ties in the first
    objective between different rows keep the list's initial order: for the first front the
    order of first occurrence, which cellfit reproduces; for later fronts the order in which
    DEAP's non-dominated sort reached them, which it does not.
    """
    if f == 0:
        return True
    rows = np.unique(obj[idx], axis=0)
    return len(np.unique(rows[:, 0])) == len(rows)


def compare_nsga2(name, obj, k, got):
    n, m = obj.shape
    pop = deap_population(obj)
    fronts = tools.sortNondominated(pop, n)
    front = np.empty(n, dtype=int)
    for f, members in enumerate(fronts):
        for ind in members:
            front[ind[0]] = f
    bad = np.flatnonzero(front != got["front"])
    check(bad.size == 0, f"{name}: NSGA-II front differs for {bad.size} individuals, "
                         f"first {bad[:5].tolist()}")

    worst, compared = 0.0, 0
    comparable = set()
    for f, members in enumerate(fronts):
        tools.emo.assignCrowdingDist(members)
        idx = np.array([ind[0] for ind in members])
        if not defined_by_values(obj, idx, f):
            continue
        comparable.add(f)
        compared += len(idx)
        want = np.array([ind.fitness.crowding_dist for ind in members])
        have = got["crowding"][idx]
        same = want == have  # inf == inf
        diff = np.abs(np.where(same, 0.0, have) - np.where(same, 0.0, want))
        worst = max(worst, float(np.max(diff)))
        check(np.all(diff <= 1e-12), f"{name}: crowding distance differs in front {f} "
                                     f"({len(idx)} individuals): max |diff| {np.max(diff):.3g}")
    print(f"  {name}: {len(fronts)} fronts, crowding of {compared} of {n} individuals "
          f"({len(comparable)} fronts) compared, max |diff| to DEAP {worst:.2g}")

    pop = deap_population(obj)
    chosen = tools.selNSGA2(pop, k)
    want_set = {ind[0] for ind in chosen}
    have = got["nsga2_selected"]
    check(len(set(have.tolist())) == k, f"{name}: NSGA-II selected {k} not distinct")
    # DEAP sorts its last front by crowding distance: its choice is unambiguous when the cut
    # falls between two different values.
    last = max(front[i] for i in want_set)
    full = {i for i in range(n) if front[i] < last}
    need = k - len(full)
    cand = sorted((pop[i].fitness.crowding_dist for i in range(n) if front[i] == last),
                  reverse=True)
    unambiguous = last in comparable and (need == len(cand) or cand[need - 1] > cand[need])
    if unambiguous:
        check(set(have.tolist()) == want_set, f"{name}: NSGA-II selected set differs from DEAP's")
    else:
        ours = sorted((got["crowding"][i] for i in range(n) if front[i] == last), reverse=True)
        picked = sorted((got["crowding"][i] for i in have if front[i] == last), reverse=True)
        check(full <= set(have.tolist()) and picked == ours[:need],
              f"{name}: NSGA-II selection differs from DEAP's beyond the tie at the cut")
    print(f"  {name}: NSGA-II k={k}, cut {'unambiguous' if unambiguous else 'tied'}, "
          f"{len(set(have.tolist()) & want_set)} of {k} shared with DEAP")


def close(have, want, rel=1e-9):
    return np.abs(have - want) <= rel * np.abs(want)


def compare_ibea(name, obj, k, got):
    n = obj.shape[0]
    pop = deap_population(obj)
    comp = sel_ibea._calc_fitness_components(pop, kappa=KAPPA)
    sel_ibea._calc_fitnesses(pop, comp)
    want = np.array([ind.ibea_fitness for ind in pop])
    have = got["truncate_fitness"]
    ok = close(have, want)
    check(ok.all(), f"{name}: IBEA fitness differs from BluePyOpt's for {np.sum(~ok)} of {n}, "
                    f"max rel {np.max(np.abs(have - want) / np.abs(want)):.3g}")
    survivors = sel_ibea._environmental_selection(list(pop), k)
    want_set = {ind[0] for ind in survivors}
    ordered = np.sort(want)
    unambiguous = k == n or not close(ordered[k], ordered[k - 1])
    if unambiguous:
        check(set(got["truncate_selected"].tolist()) == want_set,
              f"{name}: IBEA (truncate) survivors differ from BluePyOpt's")
    else:
        check(np.allclose(np.sort(want[got["truncate_selected"]]), ordered[:k], rtol=1e-9, atol=0),
              f"{name}: IBEA (truncate) survivors differ beyond the tie at the cut")
    print(f"  {name}: IBEA fitness max rel diff to BluePyOpt "
          f"{np.max(np.abs(have - want) / np.abs(want)):.2e}, truncate survivors "
          f"{'equal' if set(got['truncate_selected'].tolist()) == want_set else 'tied'}")

    # Zitzler & Kuenzli on BluePyOpt's components, every fitness summed again each time.
    alive = np.ones(n, dtype=bool)
    fit = want.copy()
    diag = np.diagonal(comp)
    removed_order = []
    margins = []
    for _ in range(n - k):
        live = np.flatnonzero(alive)
        cur = comp[np.ix_(live, live)].sum(axis=0) - diag[live]
        fit[live] = cur
        top = np.max(cur)
        worst = live[np.flatnonzero(cur == top)[-1]]  # equal: the higher index leaves
        rest = cur[cur != top]
        margins.append((top - np.max(rest)) / top if rest.size else 1.0)
        alive[worst] = False
        removed_order.append(worst)
    live = np.flatnonzero(alive)
    fit[live] = comp[np.ix_(live, live)].sum(axis=0) - diag[live]
    have = got["iterative_fitness"]
    min_margin = min(margins) if margins else 1.0
    if min_margin > 1e-9:
        check(np.array_equal(got["iterative_selected"], live),
              f"{name}: IBEA (iterative) survivors differ from the reference")
        ok = close(have, fit)
        check(ok.all(), f"{name}: IBEA (iterative) fitness differs for {np.sum(~ok)} of {n}, "
                        f"max rel {np.max(np.abs(have - fit) / np.abs(fit)):.3g}")
    else:
        print(f"  {name}: iterative reference has a near tie ({min_margin:.2g}); "
              "survivors not compared")
    print(f"  {name}: IBEA iterative, smallest decision margin {min_margin:.2e}, max rel diff "
          f"{np.max(np.abs(have - fit) / np.abs(fit)):.2e}")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary = os.path.realpath(sys.argv[1])
    rng = np.random.default_rng(20240611)
    cases = [
        ("uniform n300 m20", uniform(rng, 300, 20), 150),
        ("uniform n400 m3", uniform(rng, 400, 3), 200),
        ("uniform n500 m2", uniform(rng, 500, 2), 100),
        ("uniform n250 m37", uniform(rng, 250, 37), 200),
        ("levels n300 m4", levels(rng, 300, 4), 150),
        ("realistic n400 m20", realistic(rng, 400, 20), 200),
        ("realistic n300 m8", realistic(rng, 300, 8), 60),
    ]
    with tempfile.TemporaryDirectory() as work:
        for name, obj, k in cases:
            print(name)
            got = run_cellfit(binary, obj, k, work)
            compare_nsga2(name, obj, k, got)
            compare_ibea(name, obj, k, got)
    if failures:
        print("\n".join(["FAILED:"] + failures), file=sys.stderr)
        return 1
    print(f"test_selection_deap: {len(cases)} matrices agree with DEAP and BluePyOpt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
