#!/usr/bin/env bash
# cellfit fit --engine ga end to end: progress lines, the HDF5 fit contract with
# /fit/population and /fit/hall_of_fame, a run repeated (and scored on one thread) gives the
# same bits, DE and PSO (their output, a resumed run equal to the uninterrupted one),
# BluePyOpt's features.json/protocols.json, and bad input refused with nothing written or
# overwritten.
# usage: test_ga.sh CELLFIT_BINARY EXAMPLES_DIR
set -uo pipefail
cellfit=$(realpath "$1")
examples=$(realpath "$2")
source "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/expect.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0
bas="$examples/12_ga_ball_and_stick.toml"
small=(--set fit.ga.population=16 --set fit.ga.offspring=16 --set fit.ga.generations=3)

expect 0 "gen +3/3 .*best .*median .*sim .*copy .*score .*comm .*select .*overlap .*ETA" -- \
  "$cellfit" fit "$bas" "${small[@]}" --out ga.h5
expect 0 "" -- "$cellfit" fit "$bas" "${small[@]}" --set fit.ga.threads=1 --out ga_again.h5 --quiet
expect 0 "" -- "$cellfit" fit "$bas" "${small[@]}" --set fit.ga.selection=nsga2 \
  --set fit.ga.algorithm=mu_comma_lambda --out ga_nsga2.h5 --quiet
expect 0 "generations" -- "$cellfit" fit "$bas" --set fit.ga.algorithm=cmaes \
  --set fit.ga.generations=2 --out ga_cma.h5 --quiet
# DE and PSO on a config written for IBEA: the selection is not used, and a warning says so.
expect 0 "warning: fit.ga.selection = \"ibea\" is not used: fit.ga.algorithm = \"de\" minimises the summed objective" \
  -- "$cellfit" fit "$bas" --set fit.ga.algorithm=de --set fit.ga.population=8 \
  --set fit.ga.generations=2 --set fit.ga.de_strategy=best1bin --out ga_de.h5 --quiet
expect 0 "GA pso \(summed objective\), population 8, 2 generations" -- "$cellfit" fit "$bas" \
  --set fit.ga.algorithm=pso --set fit.ga.population=8 --set fit.ga.generations=2 \
  --set fit.ga.selection=single --out ga_pso.h5
# Resumed from those results (the log replayed, the state rebuilt) and run to generation 4:
# the runs made with 4 generations from the start.
de_set=(--set fit.ga.algorithm=de --set fit.ga.population=8 --set fit.ga.de_strategy=best1bin)
pso_set=(--set fit.ga.algorithm=pso --set fit.ga.population=8 --set fit.ga.selection=single)
for alg in de pso; do
  sets=("${de_set[@]}")
  [[ $alg == pso ]] && sets=("${pso_set[@]}")
  expect 0 "" -- "$cellfit" fit "$bas" "${sets[@]}" --set fit.ga.generations=4 \
    --resume ga_$alg.h5 --out ga_${alg}_resumed.h5 --quiet
  expect 0 "" -- "$cellfit" fit "$bas" "${sets[@]}" --set fit.ga.generations=4 \
    --out ga_${alg}_whole.h5 --quiet
done
python3 - <<'PY' || fails=$((fails + 1))
import h5py, numpy as np
with h5py.File("ga.h5", "r") as f:
    for k in ["/fit/history/loss", "/fit/history/wall_s", "/fit/history/gt_error",
              "/fit/history/median", "/fit/history/simulate_s", "/fit/history/score_s",
              "/fit/history/select_s", "/fit/best/params", "/fit/param_names",
              "/fit/ground_truth/params", "/fit/population/params", "/fit/population/objectives",
              "/fit/hall_of_fame/params", "/fit/hall_of_fame/objectives", "/fit/objective_names",
              "/fit/target/features/name", "/fit/target/features/mean", "/fit/best/voltage"]:
        assert k in f, k
    for a in ["engine", "final_loss", "gt_error", "wall_seconds", "simulations"]:
        assert a in f.attrs, a
    assert f.attrs["engine"] == "ga"
    assert f["/fit/population/params"].shape == (4, 16, 8), f["/fit/population/params"].shape
    assert f["/fit/population/objectives"].shape == (4, 16, 20)
    assert f["/fit/hall_of_fame/params"].shape == (10, 8)
    assert f.attrs["simulations"] == 16 * 8 * 4 + 8, f.attrs["simulations"]
    hof = f["/fit/hall_of_fame/total"][...]
    assert np.all(np.diff(hof) >= 0), hof
    assert np.allclose(f["/fit/best/params"][...], f["/fit/hall_of_fame/params"][0])
    loss = f["/fit/history/loss"][...]
    assert hof[0] <= loss.min(), (hof[0], loss)  # the hall of fame keeps the best ever seen
    lo, hi = f["/fit/bounds/lower"][...], f["/fit/bounds/upper"][...]
    pop = f["/fit/population/params"][...]
    assert np.all(pop >= lo) and np.all(pop <= hi)
    obj = f["/fit/population/objectives"][...]
    assert np.all(np.isfinite(obj)) and np.all(obj <= 250) and np.all(obj >= 0)
    with h5py.File("ga_again.h5", "r") as g:
        for k in ["/fit/population/params", "/fit/population/objectives", "/fit/best/params",
                  "/fit/history/loss"]:
            assert np.array_equal(f[k][...], g[k][...]), k
with h5py.File("ga_cma.h5", "r") as f:
    assert f.attrs["algorithm"] == "cmaes"
    assert f["/fit/population/params"].shape[0] == 3
for name, alg in [("ga_de.h5", "de"), ("ga_pso.h5", "pso")]:
    with h5py.File(name, "r") as f:
        assert f.attrs["algorithm"] == alg and f.attrs["selection"] == "single", dict(f.attrs)
        assert f.attrs["offspring"] == 8 and f.attrs["stop_reason"] == "generations"
        assert f["/fit/population/params"].shape == (3, 8, 8), f["/fit/population/params"].shape
        assert f.attrs["simulations"] == 8 * 8 * 3 + 8, f.attrs["simulations"]
        loss = f["/fit/history/loss"][...]
        assert np.all(np.diff(loss) <= 0), loss  # members / personal bests only improve
        assert np.isclose(f["/fit/hall_of_fame/total"][0], loss[-1]), (f["/fit/hall_of_fame/total"][0], loss)
    with h5py.File(name.replace(".h5", "_resumed.h5"), "r") as f, \
            h5py.File(name.replace(".h5", "_whole.h5"), "r") as g:
        assert f.attrs["replayed"] == 3 and f["/fit/population/params"].shape[0] == 5
        for k in ["/fit/population/params", "/fit/population/objectives", "/fit/history/loss",
                  "/fit/hall_of_fame/params", "/fit/best/params"]:
            assert f[k][...].tobytes() == g[k][...].tobytes(), (name, k)
PY

# BluePyOpt's layout: protocols (steps with a holding current) and features at the soma.
cp -r "$examples/data/bluepyopt" .
cat > bpo.toml <<'TOML'
[model]
morphology = "builtin:ball_and_stick"
celsius = 6.3
[model.mechanisms.hh]
regions = "all"
[simulation]
dt_ms = 0.025
t_stop_ms = 10.0
record_sites = [0]
[[stimulus]]
sites = "soma"
amplitude = 0.0
[fit]
engine = "ga"
[[fit.parameter]]
name = "hh.gnabar"
bounds = [0.05, 0.3]
[[fit.parameter]]
name = "hh.gkbar"
bounds = [0.01, 0.08]
[fit.target]
type = "features"
features_file = "bluepyopt/features.json"
protocols_file = "bluepyopt/protocols.json"
[fit.ga]
population = 8
offspring = 8
generations = 2
TOML
expect 0 "no recording named dend1" -- "$cellfit" fit bpo.toml --out bpo.h5
python3 - <<'PY' || fails=$((fails + 1))
import h5py
with h5py.File("bpo.h5", "r") as f:
    names = [n.decode() if isinstance(n, bytes) else n for n in f["/fit/stimuli/names"][...]]
    assert names == ["Step1", "Step2", "Step3"], names
    assert f["/fit/best/voltage"].shape == (3, 1, 6001), f["/fit/best/voltage"].shape
    assert "/fit/ground_truth/params" not in f
PY

# Bad input: refused before any simulation, nothing written, an existing result untouched.
echo "keep" > kept.h5
expect 3 "unknown feature 'AP_heigth'" -- "$cellfit" fit "$bas" --set 'fit.ga.features=["AP_heigth"]' --out kept.h5
expect 3 "fit.ga.selection: expected" -- "$cellfit" fit "$bas" --set fit.ga.selection=spea2 --out kept.h5
expect 3 "needs fit.ga.offspring >= fit.ga.population" -- "$cellfit" fit "$bas" \
  --set fit.ga.algorithm=mu_comma_lambda --set fit.ga.offspring=10 --out kept.h5
expect 3 "fit.ga.crossover_prob: must be in \[0, 1\]" -- "$cellfit" fit "$bas" --set fit.ga.crossover_prob=1.5 --out kept.h5
expect 3 "feature_site 3 is not a recorded site" -- "$cellfit" fit "$bas" --set fit.ga.feature_site=3 --out kept.h5
expect 3 "fit.ga.de_f: must be in \(0, 2\], got 3" -- "$cellfit" fit "$bas" --set fit.ga.algorithm=de --set fit.ga.de_f=3 --out kept.h5
expect 3 "fit.ga.de_cr: must be in \[0, 1\], got 1.2" -- "$cellfit" fit "$bas" --set fit.ga.algorithm=de --set fit.ga.de_cr=1.2 --out kept.h5
expect 3 "fit.ga.de_strategy: expected .*got \"rand2\"" -- "$cellfit" fit "$bas" --set fit.ga.algorithm=de --set fit.ga.de_strategy=rand2 --out kept.h5
expect 3 "fit.ga.pso_vmax: must be > 0, got -0.1" -- "$cellfit" fit "$bas" --set fit.ga.algorithm=pso --set fit.ga.pso_vmax=-0.1 --out kept.h5
expect 5 "cannot read" -- "$cellfit" fit bpo.toml --set fit.target.features_file=missing.json --out kept.h5
printf '{"Step1": {"soma": {"AP_height": [1, 2]' > broken.json
expect 5 "not valid JSON" -- "$cellfit" fit bpo.toml --set fit.target.features_file=broken.json --out kept.h5
printf '{"Step9": {"soma": {"AP_height": [1, 2]}}}' > unknown_protocol.json
expect 3 "Step9: no stimulus of that name" -- "$cellfit" fit bpo.toml --set fit.target.features_file=unknown_protocol.json --out kept.h5
printf '{"Step1": {"soma": {"AP_height": [1, 0]}}}' > zero_std.json
expect 3 "std of AP_height must be > 0" -- "$cellfit" fit bpo.toml --set fit.target.features_file=zero_std.json --out kept.h5
printf '{"Step1": {"soma": {"Spikecont": [1, 1]}}}' > unknown_feature.json
expect 3 "unknown_feature.json: Step1.soma: feature 'Spikecont' is not in cellfit's library" -- "$cellfit" fit bpo.toml --set fit.target.features_file=unknown_feature.json --out kept.h5
printf '{"Step1": {"soma": [{"feature": "AP_height", "val": [20, 5], "min_spike_height": 10}]}}' > unknown_setting.json
expect 3 "unknown_setting.json: Step1.soma\[0\] AP_height: min_spike_height: not a per-feature setting" -- "$cellfit" fit bpo.toml --set fit.target.features_file=unknown_setting.json --out kept.h5
expect 3 "needs fit.ga.objective = \"features\"" -- "$cellfit" fit bpo.toml --set fit.ga.objective=mse --out kept.h5
expect 2 "expected gradient, ga or hybrid" -- "$cellfit" fit "$bas" --engine annealing --out kept.h5
[[ $(cat kept.h5) == keep ]] || { echo "FAIL: kept.h5 was overwritten"; fails=$((fails + 1)); }
ls ./*.tmp* 2> /dev/null && { echo "FAIL: temporary files left"; fails=$((fails + 1)); }

echo "$fails failure(s)"
[[ $fails -eq 0 ]]
