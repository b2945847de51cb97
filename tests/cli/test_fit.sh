#!/usr/bin/env bash
# cellfit fit end to end: the paper-000 toy recovers its ground truth (L-BFGS-B and Adam),
# the HDF5 fit contract, a fit to traces written by cellfit simulate, and bad input refused
# before any simulation with nothing written.
# usage: test_fit.sh CELLFIT_BINARY EXAMPLES_DIR
set -uo pipefail
cellfit=$(realpath "$1")
examples=$(realpath "$2")
source "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/expect.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0
toy="$examples/11_toy_grad_all_all.toml"


# The toy with L-BFGS-B: GT error down by more than 99% for both conductances.
expect 0 "evaluation +[0-9]+ \(at most [0-9]+\)" -- "$cellfit" fit "$toy" --set fit.gradient.optimizer=lbfgsb --out lbfgsb.h5
# Adam, paper settings, 40 epochs, progress lines and ETA.
expect 0 "ETA" -- "$cellfit" fit "$toy" --set fit.gradient.epochs=40 --out adam.h5
# The toy's target spikes: its MSE-only loss is written out (spike_weight = 0), so no warning;
# left to the default, the fit warns once and names the remedy.
out=$("$cellfit" fit "$toy" --set fit.gradient.epochs=1 --out quiet.h5 2>&1)
grep -q "warning" <<< "$out" && { echo "FAIL: warning with spike_weight = 0 written out"; fails=$((fails + 1)); }
grep -v "^spike_weight" "$toy" > toy_default_loss.toml
expect 0 "warning: the target traces spike \\(600 crossings of -20 mV\\).*fit.gradient.spike_weight = 1" -- \
  "$cellfit" fit toy_default_loss.toml --set fit.gradient.epochs=1 --out warned.h5 --quiet
expect 0 "" -- "$cellfit" fit toy_default_loss.toml --set fit.gradient.epochs=1 --set fit.gradient.spike_weight=1 --out spikes.h5 --quiet
python3 - <<'PY' || fails=$((fails + 1))
import h5py, numpy as np
with h5py.File("lbfgsb.h5", "r") as f:
    for k in ["/fit/history/loss", "/fit/history/wall_s", "/fit/history/gt_error",
              "/fit/best/params", "/fit/param_names", "/fit/ground_truth/params"]:
        assert k in f, k
    for a in ["engine", "final_loss", "gt_error", "wall_seconds", "simulations"]:
        assert a in f.attrs, a
    assert f.attrs["engine"] == "gradient"
    names = [n.decode() if isinstance(n, bytes) else n for n in f["/fit/param_names"][...]]
    assert len(names) == 12 and names[0] == "jk.gnabar[0]", names
    best, gt, init = f["/fit/best/params"][...], f["/fit/ground_truth/params"][...], f["/fit/initial/params"][...]
    for group in (slice(0, 6), slice(6, 12)):
        e0 = np.mean(np.abs(init[group] - gt[group])); e1 = np.mean(np.abs(best[group] - gt[group]))
        assert e1 < 0.01 * e0, (e0, e1)
    loss = f["/fit/history/loss"][...]
    assert loss[-1] < 1e-4 * loss[0], loss[[0, -1]]
    assert abs(f.attrs["gt_error"] - np.mean(np.abs(best - gt))) < 1e-12
    # forward + adjoint per evaluation, then one forward pass at the best point (its traces)
    assert f.attrs["simulations"] == 2 * 100 * len(loss) + 100
with h5py.File("adam.h5", "r") as f:
    loss, gte = f["/fit/history/loss"][...], f["/fit/history/gt_error"][...]
    assert len(loss) == 41 and np.all(np.diff(f["/fit/history/wall_s"][...]) >= 0)
    assert loss[-1] < 0.5 * loss[0] and gte[-1] < gte[0], (loss[[0, -1]], gte[[0, -1]])
    # 40 forward + adjoint passes over 100 stimuli, the last point's loss alone, then the
    # traces at the best point
    assert f.attrs["simulations"] == 2 * 100 * 40 + 100 + 100, f.attrs["simulations"]
print("ok: fit HDF5 contract and ground-truth recovery")
PY

# A fit to traces from cellfit simulate (HDF5 target): same recordings, 2 gK values fitted.
cat > model.toml <<'T'
[model]
morphology = "builtin:chain6"
[model.mechanisms.jk]
regions = "all"
[simulation]
dt_ms = 0.1
t_stop_ms = 5.0
[[stimulus]]
type = "random_steps"
every = "all"
count = 20
seed = 4
T
cp model.toml sim.toml
expect 0 "20 cells" -- "$cellfit" simulate sim.toml --set model.mechanisms.jk.gkbar=40.0 --out target.h5 --quiet
cat model.toml - > fromfile.toml <<'T'
[fit]
[[fit.parameter]]
name = "jk.gkbar"
bounds = [10.0, 100.0]
transform = "log"
[fit.target]
type = "file"
file = "target.h5"
[fit.gradient]
optimizer = "lbfgsb"
epochs = 40
T
expect 0 "" -- "$cellfit" fit fromfile.toml --out fromfile.h5 --quiet
python3 -c "
import h5py
f = h5py.File('fromfile.h5', 'r')
g = f['/fit/best/params'][0]
assert abs(g - 40.0) < 1e-3, g
assert '/fit/ground_truth/params' not in f and 'gt_error' not in f.attrs
print('ok: fitted gK from an HDF5 target', g)" || fails=$((fails + 1))

# Bad input: refused before any simulation, nothing written.
expect 3 "target.h5:/traces/voltage has shape \[20 x 6 x 51\], the fit records \[20 stimuli x 2 sites" -- \
  "$cellfit" fit fromfile.toml --set 'simulation.record_sites=[0, 1]' --out bad.h5
expect 3 "impossible bounds \[5, 1\]" -- "$cellfit" fit "$toy" --set 'fit.parameter.0.bounds=[5.0, 1.0]' --out bad.h5
expect 3 "unknown mechanism 'kdr'" -- "$cellfit" fit "$toy" --set 'fit.parameter.0.name=kdr.gbar' --out bad.h5
expect 3 "'jk' has no parameter 'gbar'" -- "$cellfit" fit "$toy" --set 'fit.parameter.0.name=jk.gbar' --out bad.h5
expect 3 "'jk' has no parameter 'gkbr' \\(did you mean 'gkbar'\\?\\)" -- "$cellfit" fit "$toy" --set 'fit.parameter.0.name=jk.gkbr' --out bad.h5
expect 3 "is set twice" -- "$cellfit" fit "$toy" --set 'fit.parameter.1.name=jk.gnabar' --out bad.h5
expect 3 "initial value 1000 .* outside the bounds" -- "$cellfit" fit "$toy" --set 'fit.parameter.0.initial=1000.0' --out bad.h5
expect 3 "log transform needs lower > 0" -- "$cellfit" fit "$toy" --set 'fit.parameter.0.bounds=[0.0, 300.0]' --set fit.parameter.0.transform=log --out bad.h5
expect 3 "ground truth .* outside its bounds" -- "$cellfit" fit "$toy" --set 'fit.parameter.0.bounds=[100.0, 101.0]' --out bad.h5
expect 3 "not finite" -- "$cellfit" fit "$toy" --set 'fit.parameter.0.initial=nan' --out bad.h5
expect 3 "no \[fit\] section" -- "$cellfit" fit sim.toml --out bad.h5
expect 3 "fit.gradient.optimizer: expected \"adam\" or \"lbfgsb\"" -- "$cellfit" fit "$toy" --set fit.gradient.optimizer=sgd --out bad.h5
expect 5 "cannot open" -- "$cellfit" fit fromfile.toml --set fit.target.file=missing.h5 --out bad.h5
expect 2 "expected gradient, ga or hybrid" -- "$cellfit" fit "$toy" --engine annealing --out bad.h5
expect 2 "" -- "$cellfit" fit
expect 0 "config TEXT REQUIRED" -- "$cellfit" fit --help
[[ -e bad.h5 ]] && { echo "FAIL: a refused fit wrote bad.h5"; fails=$((fails + 1)); }
ls ./*.tmp.* > /dev/null 2>&1 && { echo "FAIL: temporary left behind"; fails=$((fails + 1)); }

echo "$fails failure(s)"
[[ $fails -eq 0 ]]
