#!/usr/bin/env bash
# cellfit compare and the hybrid engine end to end: the built-in problem on a small budget
# (every engine within it, the table, compare.h5 checked against the traces it holds, the
# PNGs), a wall-time budget, `cellfit fit --engine hybrid` (the polish recovers the ground
# truth from the GA's best), a budget on a single fit, and bad input refused.
# usage: test_compare.sh CELLFIT_BINARY EXAMPLES_DIR
set -uo pipefail
cellfit=$(realpath "$1")
examples=$(realpath "$2")
source "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/expect.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0

# The built-in problem (paper 000's toy, 20 stimuli), 60000 simulations per engine, L-BFGS-B
# (converges within the polish budget; Adam needs more).
expect 0 "^hybrid +1 +[0-9]+" -- "$cellfit" compare --budget 60000 --out-dir out \
  --set fit.gradient.optimizer=lbfgsb
python3 - <<'PY' || fails=$((fails + 1))
import h5py, numpy as np, os
f = h5py.File("out/compare.h5", "r")
engines = [e.decode() for e in f["/compare/engines"][()]]
assert engines == ["ga", "gradient", "hybrid"], engines
assert f.attrs["command"] == "compare" and f.attrs["budget_simulations"] == 60000
target = f["/compare/target/voltage"][()]
truth = f["/fit/ground_truth/params"][()]
n_sites = target.shape[1]
table = {k: f["/compare/table/" + k][()] for k in ("simulations", "final_loss", "gt_error")}
for i, e in enumerate(engines):
    h = f[f"/compare/{e}/history"]
    sims, loss = h["simulations"][()], h["loss"][()]
    # Within the budget (a polish runs at least one evaluation: 2 x 20 passes).
    assert table["simulations"][i] <= 60000 + (3 * 40 if e == "hybrid" else 0), (e, table)
    assert np.all(np.diff(sims) > 0), e
    assert np.all(np.diff(loss) <= 0), (e, "best so far must not rise")
    # The reported loss is the normalised MSE of the best traces against the target.
    v = f[f"/compare/{e}/best/voltage"][()]
    mse = np.mean((v - target) ** 2) / n_sites
    assert abs(mse - table["final_loss"][i]) <= 1e-6 * mse + 1e-12, (e, mse, table["final_loss"][i])
    best = f[f"/compare/{e}/best/params"][()]
    assert abs(np.mean(np.abs(best - truth)) - table["gt_error"][i]) < 1e-9, e
ga, grad, hyb = table["final_loss"]
# On this problem the gradient engines beat the GA by orders of magnitude (paper 000).
assert grad < 1e-3 * ga and hyb < 1e-3 * ga, table
# The hybrid's polish starts where its GA phase ended and improves on it.
ph = f["/compare/hybrid/history/phase"][()]
hl = f["/compare/hybrid/history/loss"][()]
assert set(ph) == {0, 1, 2, 3}, set(ph)
assert hl[-1] < 1e-3 * hl[np.nonzero(ph == 0)[0][-1]], hl
for png in ("out/compare_loss.png", "out/compare_traces.png"):
    assert os.path.getsize(png) > 10000, png
print("ok: compare.h5 consistent, budgets kept, PNGs written")
PY

# A wall-time budget; no plots.
expect 0 "budget 1 s of wall time" -- "$cellfit" compare --budget-seconds 1 --engines gradient,ga \
  --no-plots --out-dir wall --quiet
python3 - <<'PY' || fails=$((fails + 1))
import h5py, os
f = h5py.File("wall/compare.h5", "r")
wall = f["/compare/table/wall_s"][()]
reasons = [r.decode() for r in f["/compare/table/stop_reason"][()]]
assert all(w < 3.0 for w in wall) and reasons == ["budget", "budget"], (wall, reasons)
assert not os.path.exists("wall/compare_loss.png")
print("ok: wall-time budget", wall)
PY

# The hybrid as a fit: 20 generations, then L-BFGS-B from the 3 best.
expect 0 "polishes" -- "$cellfit" fit "$examples/14_ga_toy_mse.toml" --engine hybrid \
  --set fit.ga.generations=20 --set fit.gradient.optimizer=lbfgsb --set fit.gradient.epochs=60 \
  --out hybrid.h5
python3 - <<'PY' || fails=$((fails + 1))
import h5py, numpy as np
f = h5py.File("hybrid.h5", "r")
assert f.attrs["engine"] == "hybrid"
best, truth = f["/fit/best/params"][()], f["/fit/ground_truth/params"][()]
starts = f["/fit/hybrid/starts"][()]
assert starts.shape == (3, 12)
k = int(f.attrs["best_polish"])
e0, e1 = np.mean(np.abs(starts[k] - truth)), np.mean(np.abs(best - truth))
assert e1 < 0.01 * e0, (e0, e1)
assert abs(f.attrs["gt_error"] - e1) < 1e-12
phase = f["/fit/history/phase"][()]
assert list(np.unique(phase)) == [0, 1, 2, 3] and np.sum(phase == 0) == 21, np.unique(phase)
loss = f["/fit/history/loss"][()]
assert np.all(np.diff(loss) <= 0) and abs(loss[-1] - f.attrs["final_loss"]) <= 1e-12 * loss[-1] + 1e-30
print("ok: hybrid fit, GT error", e0, "->", e1)
PY

# A budget on one fit: Adam stops before its epochs, within the budget (+ the best traces).
expect 0 "\(stopped: budget\)" -- "$cellfit" fit "$examples/11_toy_grad_all_all.toml" \
  --set fit.max_simulations=4000 --out budget.h5
python3 - <<'PY' || fails=$((fails + 1))
import h5py
f = h5py.File("budget.h5", "r")
assert f.attrs["stop_reason"] == "budget" and f.attrs["simulations"] <= 4000 + 100, dict(f.attrs)
print("ok: fit.max_simulations", f.attrs["simulations"])
PY

expect 3 "less than one evaluation" -- "$cellfit" fit "$examples/11_toy_grad_all_all.toml" \
  --set fit.max_simulations=150 --out budget_small.h5
[[ -e budget_small.h5 ]] && { echo "FAIL: budget_small.h5 written"; fails=$((fails + 1)); }

# Bad input: nothing written, distinct exit codes.
expect 2 "unknown engine 'foo'" -- "$cellfit" compare --engines ga,foo --out-dir bad1
expect 3 "fit.target.type = \"features\"" -- "$cellfit" compare \
  "$examples/15_ga_bluepyopt_features.toml" --out-dir bad2
expect 3 "no \[fit\] section" -- "$cellfit" compare "$examples/01_ball_and_stick_steps.toml" \
  --out-dir bad3
expect 3 "ga_fraction" -- "$cellfit" compare --set fit.hybrid.ga_fraction=1.5 --out-dir bad4
expect 5 "" -- "$cellfit" compare --out-dir /proc/cellfit-compare
expect 5 "cannot open 'missing.toml'" -- "$cellfit" compare missing.toml --out-dir bad5
expect 2 "must be > 0, got -5" -- "$cellfit" compare --budget -5 --out-dir bad6
expect 2 "must be > 0, got nan" -- "$cellfit" compare --budget-seconds nan --out-dir bad7
expect 3 "not finite" -- "$cellfit" compare --set fit.max_simulations=nan --out-dir bad8
expect 2 "not available with --engine hybrid" -- "$cellfit" fit "$examples/14_ga_toy_mse.toml" \
  --engine hybrid --resume x.ckpt
for d in bad1 bad2 bad3 bad4 bad5 bad6 bad7 bad8; do
  if [[ -e $d/compare.h5 ]]; then echo "FAIL: $d/compare.h5 written"; fails=$((fails + 1)); fi
done

echo "test_compare: $fails failure(s)"
exit $((fails > 0))
