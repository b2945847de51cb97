#!/usr/bin/env python3
"""BluePyOpt's L5PC optimisation problem in BluePyOpt and in cellfit, side by side in one run:
do the 35 objectives agree on the same random parameter sets, and what does an evaluation
cost?

usage: bluepyopt_l5pc.py [--cellfit BIN] [--sets N] [--seed S] [--jobs J] [--ranks 1 [2]]
                         [--no-cvode] [--quick] [--out-dir DIR]

cellfit evaluates examples/l5pc/l5pc_problem.toml (with l5pc_features.json) through its own
command: `cellfit fit` with a population of N, generation 0 only, so the N parameter sets are
the GA's own uniform random draws within the 20 bounds (seeded) and their objectives are the
GA's own scores (per protocol, location and feature, named as BluePyOpt names them).

BluePyOpt evaluates the same N parameter sets with an evaluator this script builds from the
same facts (the cell of BluePyOpt's examples/l5pc: NrnFileMorphology with the axon replaced,
NrnMODMechanism per section list from mechanisms/l5pc/*.mod compiled here by nrnivmodl, the
fixed section, range and global parameters, the apical Ih NrnSegmentSomaDistanceScaler; the
free parameters and their bounds, the protocols and the feature targets read from the two
example files; one eFELFeature per target with threshold -20 mV at the soma and -55 mV at the
dendrites and the bAP window to the protocol's end, as l5pc_evaluator.py sets them) in
NEURON, once at fixed step dt 0.025 ms (secondorder 0, cellfit's scheme: the agreement) and
once with NEURON's CVODE (BluePyOpt's default simulator: the speed reference). Protocols run
unisolated (isolate_protocols=False: no process per protocol, which favours BluePyOpt) in
--jobs worker processes, each evaluation timed in its worker (NEURON simulation and eFEL
separately).

Agreement: per objective, the worst |cellfit - BluePyOpt| over the N sets. BluePyOpt's
scores are not capped (force_max_score is off in its evaluator) while cellfit caps every score
at 250, so BluePyOpt's are compared as min(score, 250) (the number of capped scores is
printed). Speed: seconds per evaluation (cellfit: its generation-0 wall time per set, all
sets simulated as one batch of at least 2, cellfit's smallest population, on one rank, and
on 2 ranks with --ranks 1 2 through mpirun), with the ratios. --quick: 1 set, protocols
shortened (bAP at 95 ms in 200 ms, steps from 100 to 300 ms in 400 ms), for a smoke run.

Writes OUT_DIR/bluepyopt_l5pc_agreement.csv (objective, worst differences, values) and
OUT_DIR/bluepyopt_l5pc_speed.csv. Exit 0; 1 when an objective differs by more than
--tolerance (fixed step only); 77 when neuron, bluepyopt, efel or h5py is missing.
"""
import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tomllib

import l5pc_bluepyopt_cell as cell_def

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
PROBLEM = os.path.join(ROOT, "examples", "l5pc", "l5pc_problem.toml")
FEATURES = os.path.join(ROOT, "examples", "l5pc", "l5pc_features.json")
MOD_DIR = os.path.join(ROOT, "mechanisms", "l5pc")
PENALTY = 250.0

DEND_THRESHOLD_MV = -55.0
SOMA_THRESHOLD_MV = -20.0
SOMA_DISTANCE_UM = {"dend1": 660.0, "dend2": 800.0}

# --quick: (delay, duration, total) of the shortened protocols.
QUICK_BAP = (95.0, 5.0, 200.0)
QUICK_STEP = (100.0, 200.0, 400.0)


def bluepyopt_name(cellfit_name):
    """cellfit's "NaTs2_t.gNaTs2_tbar@apical" -> BluePyOpt's "gNaTs2_tbar_NaTs2_t.apical"."""
    mech_param, scope = cellfit_name.split("@")
    mech, param = mech_param.split(".")
    return f"{param}_{mech}.{scope}"


def read_problem(quick):
    """Free parameters, protocols and feature targets from the example's files."""
    with open(PROBLEM, "rb") as f:
        cfg = tomllib.load(f)
    with open(FEATURES) as f:
        features = json.load(f)
    params = [(p["name"], p["bounds"][0], p["bounds"][1]) for p in cfg["fit"]["parameter"]]
    protocols = {}
    for p in cfg["protocol"]:
        step = next(s for s in p["stimulus"] if s.get("type", "step") == "step")
        hold = [s["amplitude"] for s in p["stimulus"] if s.get("type") == "holding"]
        prot = {"amp": step["amplitude"], "delay": step["delay_ms"],
                "duration": step["duration_ms"], "total": p["t_stop_ms"],
                "holding": hold[0] if hold else None}
        if quick:
            prot["delay"], prot["duration"], prot["total"] = (
                QUICK_BAP if p["name"] == "bAP" else QUICK_STEP)
        protocols[p["name"]] = prot
    targets = []
    for prot, locations in features.items():
        for loc, entries in locations.items():
            for e in entries:
                stim_end = e.get("stim_end")
                if stim_end is not None and quick:
                    stim_end = protocols[prot]["total"]  # the bAP window: to the end
                targets.append({"protocol": prot, "location": loc, "feature": e["feature"],
                                "mean": e["val"][0], "std": e["val"][1],
                                "threshold": e.get("threshold"), "stim_end": stim_end})
    return params, protocols, targets


# ---------------------------------------------------------------------------------------
# The BluePyOpt side, run as `bluepyopt_l5pc.py --worker MODE ASC MECH_DIR IN.json OUT.json`.


def bluepyopt_evaluator(mode, asc, mech_dir, params, protocols, targets):
    import bluepyopt.ephys as ephys

    sim = cell_def.simulator(ephys, mech_dir, mode)
    cell, free = cell_def.cell_model(
        ephys, asc, cell_def.FIXED_RANGE_PARAMETERS,
        [(bluepyopt_name(name), lo, hi) for name, lo, hi in params])

    soma = cell_def.soma_location(ephys)
    dends = {n: cell_def.apical_point(ephys, n, d) for n, d in SOMA_DISTANCE_UM.items()}
    sweep = {}
    for pname, p in protocols.items():
        stimuli = [ephys.stimuli.NrnSquarePulse(
            step_amplitude=p["amp"], step_delay=p["delay"], step_duration=p["duration"],
            location=soma, total_duration=p["total"])]
        if p["holding"] is not None:
            stimuli.append(ephys.stimuli.NrnSquarePulse(
                step_amplitude=p["holding"], step_delay=0.0, step_duration=p["total"],
                location=soma, total_duration=p["total"]))
        # BluePyOpt records the dendrites where its features use them (the bAP protocol).
        locs = {"soma"} | {t["location"] for t in targets if t["protocol"] == pname}
        recordings = [ephys.recordings.CompRecording(name=f"{pname}.soma.v", location=soma,
                                                     variable="v")]
        recordings += [ephys.recordings.CompRecording(name=f"{pname}.{n}.v", location=l,
                                                      variable="v")
                       for n, l in dends.items() if n in locs]
        sweep[pname] = ephys.protocols.SweepProtocol(pname, stimuli, recordings)

    objectives = []
    for t in targets:
        p = protocols[t["protocol"]]
        threshold = t["threshold"]
        if threshold is None:
            threshold = SOMA_THRESHOLD_MV if t["location"] == "soma" else DEND_THRESHOLD_MV
        stim_end = t["stim_end"] if t["stim_end"] is not None else p["delay"] + p["duration"]
        name = f"{t['protocol']}.{t['location']}.{t['feature']}"
        feature = ephys.efeatures.eFELFeature(
            name, efel_feature_name=t["feature"],
            recording_names={"": f"{t['protocol']}.{t['location']}.v"},
            stim_start=p["delay"], stim_end=stim_end, exp_mean=t["mean"], exp_std=t["std"],
            threshold=threshold)
        objectives.append(ephys.objectives.SingletonObjective(name, feature))
    calculator = ephys.objectivescalculators.ObjectivesCalculator(objectives)
    evaluator = ephys.evaluators.CellEvaluator(
        cell_model=cell, param_names=free, fitness_protocols=sweep,
        fitness_calculator=calculator, sim=sim, isolate_protocols=False)
    return evaluator


def worker(mode, asc, mech_dir, job_in, job_out):
    with open(job_in) as f:
        job = json.load(f)
    evaluator = bluepyopt_evaluator(mode, asc, mech_dir, job["params"], job["protocols"],
                                    job["targets"])
    results = []
    for values in job["sets"]:
        param_values = dict(zip(evaluator.param_names, values))
        t0, c0 = time.perf_counter(), time.process_time()
        responses = evaluator.run_protocols(evaluator.fitness_protocols.values(), param_values)
        t1 = time.perf_counter()
        scores = evaluator.fitness_calculator.calculate_scores(responses)
        t2, c2 = time.perf_counter(), time.process_time()
        results.append({"scores": {k: float(v) for k, v in scores.items()},
                        "simulate_s": t1 - t0, "efel_s": t2 - t1, "cpu_s": c2 - c0})
    with open(job_out, "w") as f:
        json.dump(results, f)


# ---------------------------------------------------------------------------------------


def run_bluepyopt(mode, asc, mech_dir, job, sets, jobs, work):
    """Evaluates `sets` in `jobs` worker processes; one result per set, in order."""
    chunks = [list(range(k, len(sets), jobs)) for k in range(jobs)]
    chunks = [c for c in chunks if c]
    run_dir = os.path.join(work, "run")  # empty: NEURON must not load an x86_64/ by itself
    os.makedirs(run_dir, exist_ok=True)
    procs = []
    for k, idx in enumerate(chunks):
        job_in = os.path.join(work, f"{mode}{k}.in.json")
        job_out = os.path.join(work, f"{mode}{k}.out.json")
        with open(job_in, "w") as f:
            json.dump(dict(job, sets=[sets[i] for i in idx]), f)
        procs.append((idx, job_out, subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", mode, asc, mech_dir, job_in,
             job_out], cwd=run_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    results = [None] * len(sets)
    for idx, job_out, proc in procs:
        out, err = proc.communicate()
        if proc.returncode != 0:
            sys.exit(f"BluePyOpt worker ({mode}) failed:\n{err[-3000:]}")
        with open(job_out) as f:
            for i, r in zip(idx, json.load(f)):
                results[i] = r
    return results


def run_cellfit(cellfit, asc, n_sets, seed, quick, ranks, work, mpirun):
    """cellfit's GA generation 0 of max(2, n_sets) individuals (its smallest population is
    2): the first n_sets parameter sets and their objectives, and the times per set."""
    population = max(2, n_sets)
    out = os.path.join(work, f"cellfit_np{ranks}.h5")
    cmd = [cellfit, "fit", PROBLEM, "--set", f"model.morphology={asc}",
           "--set", f"fit.ga.population={population}", "--set", f"fit.ga.offspring={population}",
           "--set", "fit.ga.generations=0", "--set", f"fit.ga.seed={seed}",
           "--out", out, "--quiet"]
    if quick:
        cmd += ["--set", f"simulation.t_stop_ms={QUICK_STEP[2]!r}"]
        for k in range(4):
            d, dur, tot = QUICK_BAP if k == 0 else QUICK_STEP
            cmd += ["--set", f"protocol.{k}.t_stop_ms={tot!r}",
                    "--set", f"protocol.{k}.stimulus.0.delay_ms={d!r}",
                    "--set", f"protocol.{k}.stimulus.0.duration_ms={dur!r}"]
        # The bAP window ends with the (shortened) protocol.
        with open(FEATURES) as f:
            features = json.load(f)
        for entries in features["bAP"].values():
            for e in entries:
                if "stim_end" in e:
                    e["stim_end"] = QUICK_BAP[2]
        quick_features = os.path.join(work, "l5pc_features_quick.json")
        with open(quick_features, "w") as f:
            json.dump(features, f)
        cmd += ["--set", f"fit.target.features_file={quick_features}"]
    if ranks > 1:
        cmd = [mpirun, "-np", str(ranks), "--oversubscribe"] + cmd
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    t0, c0 = time.perf_counter(), children_cpu_s()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=work, env=env)
    wall, cpu = time.perf_counter() - t0, children_cpu_s() - c0
    if r.returncode != 0:
        sys.exit(f"cellfit fit failed ({r.returncode}): {r.stderr.strip()[-3000:]}")
    import h5py
    with h5py.File(out, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else str(n)
                 for n in f["/fit/objective_names"][()]]
        pnames = [n.decode() if isinstance(n, bytes) else str(n)
                  for n in f["/fit/parameters/names"][()]]
        params = f["/fit/population/params"][0][:n_sets].tolist()
        objectives = f["/fit/population/objectives"][0][:n_sets].tolist()
        gen_s = float(f["/fit/history/wall_s"][0])
        simulate_s = float(f["/fit/history/simulate_s"][0])
        score_s = float(f["/fit/history/score_s"][0])
    return {"names": names, "param_names": pnames, "params": params, "objectives": objectives,
            "generation_s": gen_s / population, "simulate_s": simulate_s / population,
            "score_s": score_s / population, "process_s": wall, "population": population,
            # CPU seconds of the generation, estimated as the process's CPU time in the
            # proportion of its wall time that the generation took (the process also reads
            # the model and simulates the best set once more for /fit/best/voltage).
            "cpu_s": cpu * min(1.0, gen_s / wall) / population}


def children_cpu_s():
    """User + system CPU seconds of the waited-for child processes so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def machine_line():
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip() or "?"
    return (f"machine: {cpu}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
            f"commit {commit}")


def main():
    if len(sys.argv) == 7 and sys.argv[1] == "--worker":
        worker(*sys.argv[2:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cellfit", default=os.path.join(ROOT, "build", "src", "cellfit"))
    ap.add_argument("--sets", type=int, default=10, help="random parameter sets (default 10)")
    ap.add_argument("--seed", type=int, default=1, help="cellfit's fit.ga.seed for the draw")
    ap.add_argument("--jobs", type=int, default=1, help="BluePyOpt worker processes")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1],
                    help="cellfit rank counts to time (2: mpirun -np 2)")
    ap.add_argument("--mpirun", default="mpirun")
    ap.add_argument("--no-cvode", action="store_true", help="skip BluePyOpt with CVODE")
    ap.add_argument("--quick", action="store_true", help="1 set, shortened protocols")
    ap.add_argument("--tolerance", type=float, default=1e-3,
                    help="largest accepted |difference| of an objective (fixed step)")
    ap.add_argument("--out-dir", default=".")
    args = ap.parse_args()
    if args.quick:
        args.sets = 1
    try:
        import bluepyopt
        import efel  # noqa: F401
        import h5py  # noqa: F401
        import neuron  # noqa: F401
    except ImportError as e:
        print(f"bluepyopt_l5pc: skipped ({e}; pip install neuron bluepyopt efel h5py)")
        return 77
    asc = cell_def.morphology()
    if asc is None:
        print(f"bluepyopt_l5pc: skipped (bluepyopt {bluepyopt.__version__} ships no C060114A7.asc)")
        return 77
    cellfit = os.path.realpath(args.cellfit)
    params, protocols, targets = read_problem(args.quick)
    bio_ms = sum(p["total"] for p in protocols.values())
    print(f"BluePyOpt's L5PC problem: 20 parameters, {len(protocols)} protocols "
          f"({bio_ms:g} ms of biological time per evaluation{', --quick' if args.quick else ''}), "
          f"{len(targets)} objectives, {args.sets} random parameter sets (seed {args.seed})")
    print(machine_line())
    os.makedirs(args.out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        # cellfit first, alone on the machine, one run per rank count.
        cf = {}
        for ranks in args.ranks:
            cf[ranks] = run_cellfit(cellfit, asc, args.sets, args.seed, args.quick, ranks, work,
                                    args.mpirun)
        ref = cf[args.ranks[0]]
        sets = ref["params"]
        order = {bluepyopt_name(n): k for k, n in enumerate(ref["param_names"])}
        t0 = time.perf_counter()
        mech_dir = cell_def.nrnivmodl(MOD_DIR, work)
        nrnivmodl_s = time.perf_counter() - t0
        job = {"params": params, "protocols": protocols, "targets": targets}
        # The worker's parameter order is the evaluator's (the problem's), as cellfit's.
        assert [bluepyopt_name(n) for n, _, _ in params] == list(order)
        modes = ["fixed"] + ([] if args.no_cvode else ["cvode"])
        bpo = {m: run_bluepyopt(m, asc, mech_dir, job, sets, args.jobs, work) for m in modes}

    # Agreement, per objective.
    names = ref["names"]
    rows, worst_fixed, capped = [], 0.0, 0
    for k, name in enumerate(names):
        row = {"objective": name}
        for m in modes:
            diffs = []
            for s in range(args.sets):
                b = bpo[m][s]["scores"][name]
                capped += m == "fixed" and b > PENALTY
                diffs.append(abs(ref["objectives"][s][k] - min(b, PENALTY)))
            row[f"worst_diff_{m}"] = max(diffs)
            row[f"worst_set_{m}"] = diffs.index(max(diffs))
        row["cellfit_set0"] = ref["objectives"][0][k]
        row["bluepyopt_fixed_set0"] = bpo["fixed"][0]["scores"][name]
        worst_fixed = max(worst_fixed, row["worst_diff_fixed"])
        rows.append(row)
    if set(names) != set(bpo["fixed"][0]["scores"]):
        sys.exit(f"objective names differ: {sorted(set(names) ^ set(bpo['fixed'][0]['scores']))}")

    print(f"\nAgreement: worst |cellfit - BluePyOpt| per objective over {args.sets} sets "
          f"(BluePyOpt capped at {PENALTY:g}; {capped} fixed-step scores were above it)")
    head = f"{'objective':44s} {'fixed dt 0.025':>14s}" + ("" if args.no_cvode else
                                                             f" {'CVODE':>10s}")
    print(head + f" {'cellfit set 0':>14s}")
    for row in rows:
        line = f"{row['objective']:44s} {row['worst_diff_fixed']:14.3g}"
        if not args.no_cvode:
            line += f" {row['worst_diff_cvode']:10.3g}"
        print(line + f" {row['cellfit_set0']:14.5g}")
    print(f"worst over all objectives (fixed step): {worst_fixed:.3g}")

    # Speed.
    speed = []
    for ranks, r in cf.items():
        label = f"cellfit, {ranks} rank{'s' if ranks > 1 else ''} (batch of {r['population']})"
        speed.append((label, r["generation_s"], r["simulate_s"], r["score_s"], r["cpu_s"]))
    for m in modes:
        sim_s = sum(x["simulate_s"] for x in bpo[m]) / args.sets
        efel_s = sum(x["efel_s"] for x in bpo[m]) / args.sets
        label = "BluePyOpt, NEURON fixed dt 0.025" if m == "fixed" else \
            "BluePyOpt, NEURON CVODE (default)"
        cpu_s = sum(x.get("cpu_s", float("nan")) for x in bpo[m]) / args.sets
        speed.append((label, sim_s + efel_s, sim_s, efel_s, cpu_s))
    base = speed[0][1]
    print(f"\nSpeed: seconds per evaluation ({bio_ms:g} ms biological time; BluePyOpt in "
          f"{args.jobs} worker process{'es' if args.jobs > 1 else ''}, one thread each; "
          f"nrnivmodl {nrnivmodl_s:.1f} s not counted)")
    print(f"{'':40s} {'s/eval':>9s} {'simulate':>9s} {'features':>9s} {'x cellfit':>10s} "
          f"{'CPU s/eval':>10s} {'x cellfit':>10s}")
    for label, total, sim_s, feat_s, cpu_s in speed:
        print(f"{label:40s} {total:9.3f} {sim_s:9.3f} {feat_s:9.3f} {total / base:10.1f} "
              f"{cpu_s:10.3f} {cpu_s / speed[0][4]:10.1f}")
    print("(CPU s/eval: BluePyOpt's measured in its worker; cellfit's the process's CPU time "
          "x generation / process wall time, an estimate)")
    for ranks, r in cf.items():
        print(f"cellfit {ranks} rank(s): whole process {r['process_s']:.2f} s for "
              f"{r['population']} evaluations (startup and model building included)")

    with open(os.path.join(args.out_dir, "bluepyopt_l5pc_agreement.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(args.out_dir, "bluepyopt_l5pc_speed.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["run", "s_per_eval", "simulate_s_per_eval", "features_s_per_eval",
                    "cpu_s_per_eval"])
        w.writerows(speed)
    ok = worst_fixed <= args.tolerance
    print(f"\nbluepyopt_l5pc: {'ok' if ok else 'objectives differ beyond'} "
          f"(tolerance {args.tolerance:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
