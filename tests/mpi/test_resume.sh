#!/usr/bin/env bash
# `cellfit fit` under mpirun: the same seed gives the same fit on 1, 2 and 4 ranks (both
# engines; the GA as mu + lambda, DE and PSO); a fit on 2 ranks stopped by SIGTERM writes a
# checkpoint and exits 75, and resuming it on 1 rank ends with exactly the uninterrupted
# result; a checkpoint that does not match the problem, or cannot be read, is refused and
# left as it was.
# Usage: test_resume.sh CELLFIT EXAMPLES_DIR MPIEXEC
set -u
cellfit=$1
examples=$2
mpiexec=$3
source "$(dirname "$0")/../cli/expect.sh"
fails=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
run() { local np=$1; shift; "$mpiexec" -np "$np" --oversubscribe "$cellfit" "$@"; }

same() {  # same A B DATASET...: bit-identical datasets
  python3 - "$@" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
for k in sys.argv[3:]:
    x, y = a[k][()], b[k][()]
    assert x.shape == y.shape and x.tobytes() == y.tobytes(), (sys.argv[1], sys.argv[2], k)
print("ok: identical", sys.argv[1], sys.argv[2], len(sys.argv) - 3, "datasets")
PY
}

ga=(fit "$examples/12_ga_ball_and_stick.toml" --set fit.ga.population=12 --set fit.ga.offspring=12
    --set fit.ga.generations=3 --quiet)
de=("${ga[@]}" --set fit.ga.algorithm=de --set fit.ga.de_strategy=currenttobest1bin)
pso=("${ga[@]}" --set fit.ga.algorithm=pso)
grad=(fit "$examples/11_toy_grad_all_all.toml" --set fit.gradient.epochs=12 --quiet)
ga_sets=(/fit/best/params /fit/history/loss /fit/history/median /fit/population/params
         /fit/population/objectives /fit/hall_of_fame/params)
grad_sets=(/fit/best/params /fit/history/loss /fit/history/gt_error /fit/best/voltage)
for np in 1 2 4; do
  expect 0 "" -- run $np "${ga[@]}" --out ga$np.h5
  expect 0 "" -- run $np "${de[@]}" --out de$np.h5
  expect 0 "" -- run $np "${pso[@]}" --out pso$np.h5
  expect 0 "" -- run $np "${grad[@]}" --out grad$np.h5
  expect 0 "" -- run $np "${grad[@]}" --set fit.gradient.optimizer=lbfgsb --out lbfgsb$np.h5
done
for np in 2 4; do
  same ga1.h5 ga$np.h5 "${ga_sets[@]}" || fails=$((fails + 1))
  same de1.h5 de$np.h5 "${ga_sets[@]}" || fails=$((fails + 1))
  same pso1.h5 pso$np.h5 "${ga_sets[@]}" || fails=$((fails + 1))
  same grad1.h5 grad$np.h5 "${grad_sets[@]}" || fails=$((fails + 1))
  same lbfgsb1.h5 lbfgsb$np.h5 "${grad_sets[@]}" || fails=$((fails + 1))
done
python3 -c "
import h5py
f = h5py.File('ga4.h5', 'r')
assert f.attrs['ranks'] == 4 and f['/fit/plan/blocks'].shape[1] == 7, dict(f.attrs)
assert sorted(set(f['/fit/plan/blocks'][:, 0])) == [0, 1, 2, 3]
for k in ['copy_s', 'communicate_s', 'overlap_efficiency']: assert '/fit/history/' + k in f, k
print('ok: /fit/plan and stage timings recorded')" || fails=$((fails + 1))

# SIGTERM mid-run on 2 ranks (to the ranks, as Slurm signals every task), resume on 1.
long=(fit "$examples/12_ga_ball_and_stick.toml" --set fit.ga.population=16 --set fit.ga.offspring=16
      --set fit.ga.generations=40 --set fit.checkpoint_every=2 --quiet)
expect 0 "" -- "$cellfit" "${long[@]}" --out whole.h5
"$mpiexec" -np 2 --oversubscribe "$cellfit" "${long[@]}" --out cut.h5 > cut.log 2>&1 &
launcher=$!
for _ in $(seq 600); do [[ -f cut.h5.ckpt ]] && break; sleep 0.05; done
sleep 0.3
kill -TERM $(pgrep -P $launcher) 2> /dev/null
wait $launcher
rc=$?
if [[ $rc -ne 75 || ! -f cut.h5.ckpt || -f cut.h5 ]]; then
  echo "FAIL: SIGTERM on 2 ranks: exit $rc (expected 75), checkpoint $(ls cut.h5.ckpt 2>&1)"
  tail -5 cut.log; fails=$((fails + 1))
else
  echo "ok: SIGTERM -> exit 75 with $(grep -o 'after [0-9]* generations' cut.log)"
fi
grep -q "continue with: .*--resume cut.h5.ckpt" cut.log || { echo "FAIL: no resume hint"; fails=$((fails + 1)); }
cp cut.h5.ckpt saved.ckpt

# Refused: another problem, another engine, an unreadable file; the checkpoint is untouched.
expect 3 "was written for another problem: there fit.ga.population = 16, here fit.ga.population = 20" -- \
  "$cellfit" "${long[@]}" --set fit.ga.population=20 --out cut.h5 --resume cut.h5.ckpt
expect 3 "checkpoint of a ga fit" -- \
  "$cellfit" fit "$examples/11_toy_grad_all_all.toml" --out cut.h5 --resume cut.h5.ckpt --quiet
echo "not hdf5" > junk.ckpt
expect 5 "cannot resume from junk.ckpt: .*not an HDF5 file" -- \
  "$cellfit" "${long[@]}" --out cut.h5 --resume junk.ckpt --checkpoint other.ckpt
expect 5 "holds the checkpoint of an earlier run" -- "$cellfit" "${long[@]}" --out cut.h5
cmp -s cut.h5.ckpt saved.ckpt && echo "ok: refused checkpoint unchanged" ||
  { echo "FAIL: the checkpoint changed"; fails=$((fails + 1)); }
[[ -f cut.h5 ]] && { echo "FAIL: a refused resume wrote output"; fails=$((fails + 1)); }

expect 0 "resumed: [0-9]+ generations replayed" -- \
  "$cellfit" "${long[@]:0:${#long[@]}-1}" --out cut.h5 --resume cut.h5.ckpt
same whole.h5 cut.h5 "${ga_sets[@]}" || fails=$((fails + 1))
[[ -f cut.h5.ckpt ]] && { echo "FAIL: checkpoint left after a complete fit"; fails=$((fails + 1)); }

# Interactive iteration: a checkpoint written on Ctrl-C is moved aside by the next fit (with
# a note), even one with another --set; one written on SIGTERM needs --fresh. Neither is lost.
"$cellfit" "${long[@]}" --out int.h5 > int.log 2>&1 &
pid=$!
for _ in $(seq 600); do [[ -f int.h5.ckpt ]] && break; sleep 0.05; done
sleep 0.3
kill -INT $pid
wait $pid
rc=$?
[[ $rc -eq 75 && -f int.h5.ckpt ]] || { echo "FAIL: SIGINT: exit $rc, $(ls int.h5.ckpt 2>&1)"; fails=$((fails + 1)); }
cp int.h5.ckpt int_saved.ckpt
expect 0 "note: int.h5.ckpt held the checkpoint of an earlier run stopped with Ctrl-C; kept as int.h5.ckpt.prev" -- \
  "$cellfit" "${long[@]}" --set fit.ga.generations=2 --out int.h5
cmp -s int.h5.ckpt.prev int_saved.ckpt && echo "ok: the Ctrl-C checkpoint kept as .prev" ||
  { echo "FAIL: int.h5.ckpt.prev differs from the Ctrl-C checkpoint"; fails=$((fails + 1)); }
cp saved.ckpt term.h5.ckpt
expect 5 "holds the checkpoint of an earlier run \\(written on SIGTERM\\): .*--fresh" -- \
  "$cellfit" "${long[@]}" --set fit.ga.generations=2 --out term.h5
expect 0 "kept as term.h5.ckpt.prev" -- \
  "$cellfit" "${long[@]}" --set fit.ga.generations=2 --out term.h5 --fresh
cmp -s term.h5.ckpt.prev saved.ckpt && echo "ok: --fresh kept the SIGTERM checkpoint" ||
  { echo "FAIL: --fresh lost the SIGTERM checkpoint"; fails=$((fails + 1)); }

# A finished fit's output extends to more generations: same as running them at once.
expect 0 "" -- "$cellfit" "${ga[@]}" --set fit.ga.generations=5 --out ga5.h5
expect 0 "" -- run 2 "${ga[@]}" --set fit.ga.generations=5 --out ga1x.h5 --resume ga1.h5
same ga5.h5 ga1x.h5 "${ga_sets[@]}" || fails=$((fails + 1))

# cellfit simulate splits the parameter sets over the ranks; rank 0 writes the same traces.
expect 0 "" -- "$cellfit" simulate --out sim1.h5 --quiet
expect 0 "24 cells" -- run 3 simulate --out sim3.h5 --quiet
same sim1.h5 sim3.h5 /traces/voltage /traces/failed_step /traces/time_ms || fails=$((fails + 1))

# An ensemble on 4 ranks (3 groups): each member equals the same fit run alone.
expect 0 "ensemble: 3 fits" -- run 4 fit "$examples/16_ensemble_toy_conditions.toml" \
  --set fit.gradient.epochs=6 --out ens.h5 --quiet
expect 0 "" -- "$cellfit" fit "$examples/16_ensemble_toy_conditions.toml" --set fit.gradient.epochs=6 \
  --set 'simulation.record_sites=[5]' --set 'fit.ensemble.values=[[5]]' --out alone.h5 --quiet
same ens.m2.h5 alone.m0.h5 "${grad_sets[@]}" || fails=$((fails + 1))

# cellfit compare on 2 ranks: the three engines (the hybrid's GA and polishes included) find
# the same points as on one process, bit for bit.
cmp_args=(compare --budget 12000 --set fit.gradient.optimizer=lbfgsb --no-plots --quiet)
expect 0 "" -- "$cellfit" "${cmp_args[@]}" --out-dir cmp1
expect 0 "^hybrid +2 " -- run 2 "${cmp_args[@]}" --out-dir cmp2
same cmp1/compare.h5 cmp2/compare.h5 /compare/ga/best/params /compare/gradient/best/params \
  /compare/hybrid/best/params /compare/hybrid/history/loss /compare/table/simulations ||
  fails=$((fails + 1))
# The hybrid as a fit on 3 ranks equals one process.
hy=(fit "$examples/14_ga_toy_mse.toml" --engine hybrid --set fit.ga.generations=4
    --set fit.gradient.optimizer=lbfgsb --set fit.gradient.epochs=10 --quiet)
expect 0 "" -- "$cellfit" "${hy[@]}" --out hy1.h5
expect 0 "" -- run 3 "${hy[@]}" --out hy3.h5
same hy1.h5 hy3.h5 /fit/best/params /fit/history/loss /fit/hybrid/starts || fails=$((fails + 1))

echo "$fails failure(s)"
exit $((fails > 0))
