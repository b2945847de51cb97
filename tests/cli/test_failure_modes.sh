#!/usr/bin/env bash
# Failure never rewarded, and never a crash: diverged cells in the gradient loss, a GA in
# which every cell diverges, full disks (a small tmpfs, when this user may mount one), a
# failed final write, ensembles with a bad member, stale temporaries of killed runs, and the
# small output-path cases. Usage: test_failure_modes.sh CELLFIT EXAMPLES_DIR
set -u
cellfit=$(realpath "$1")
examples=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
source "$here/expect.sh"
fails=0
work=$(mktemp -d)
mnt=""
cleanup() {
  [[ -n $mnt ]] && umount "$mnt" 2> /dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 1

# h5 FILE PYTHON-EXPRESSION: evaluates the expression with `f` the open file; fails unless true.
h5check() {
  local file=$1 expr=$2 what=$3
  if python3 -c "import h5py, numpy as np, sys; f = h5py.File('$file', 'r'); sys.exit(0 if ($expr) else 1)"; then
    echo "ok: $what"
  else
    echo "FAIL: $what ($file: $expr)"
    fails=$((fails + 1))
  fi
}

# 1. A diverged stimulus never lowers the loss: paper 000's toy with a voltage bound that
# spikes cross; the best point must be one where every cell ran.
toy="$examples/paper000/toy_hh_grad_all_all.toml"
common=(--set fit.gradient.epochs=60 --set simulation.v_bound_mv=76 --set fit.target.low=0.2
  --set fit.target.high=1.8)
for opt in adam lbfgsb; do
  expect 0 "" -- "$cellfit" fit "$toy" "${common[@]}" --set fit.gradient.lr=0.1 \
    --set fit.gradient.optimizer=$opt --out div_$opt.h5
  h5check div_$opt.h5 "(f['fit/history/diverged_cells'][:] > 0).any()" \
    "$opt: some evaluations diverged (the case is exercised)"
  h5check div_$opt.h5 \
    "np.isinf(f['fit/history/loss'][:][f['fit/history/diverged_cells'][:] > 0]).all()" \
    "$opt: an evaluation with a diverged cell has an infinite loss"
  h5check div_$opt.h5 \
    "f.attrs['best_loss'] == f['fit/history/loss'][:][f['fit/history/diverged_cells'][:] == 0].min()" \
    "$opt: the best loss is that of an evaluation where every cell ran"
  h5check div_$opt.h5 "f.attrs['gt_error'] <= f.attrs['initial_gt_error']" \
    "$opt: the GT error does not grow (it was 0.030 -> 0.53 when diverged cells counted zero)"
done
# The starting point itself diverges (a strong potassium conductance pulls V below -72 mV;
# the target, recorded from the defaults, is a file): nothing to go back to, exit 6.
"$cellfit" simulate -q "$toy" --out target.h5 > /dev/null
awk '/^\[/{t=($0=="[fit.target]")} !(t && /^seed/)' "$toy" > toy_file_target.toml
for opt in adam lbfgsb; do
  expect 6 "diverge at the starting point" -- "$cellfit" fit toy_file_target.toml \
    --set fit.gradient.optimizer=$opt --set fit.gradient.epochs=3 --set simulation.v_bound_mv=72 \
    --set fit.target.type=file --set fit.target.file=target.h5 --set fit.parameter.0.initial=0.001 \
    --set fit.parameter.1.initial=1.0 --out div_start.h5
done

# 2. A GA in which every cell diverged exits 6 (as simulate does), with CMA-ES too.
for alg in mu_comma_lambda cmaes; do
  expect 6 "every simulated cell diverged" -- "$cellfit" fit \
    "$examples/15_ga_bluepyopt_features.toml" --set fit.ga.population=8 \
    --set fit.ga.offspring=8 --set fit.ga.generations=2 --set model.mechanisms.hh.el=3000.0 \
    --set 'fit.parameter.2.bounds=[1.0,10.0]' --set fit.parameter.2.initial=2.0 \
    --set fit.ga.algorithm=$alg --out ga_div_$alg.h5
done

# 7. Every ensemble member is checked before any runs: nothing is written.
expect 3 "ensemble member 2.*no member was run" -- "$cellfit" fit \
  "$examples/16_ensemble_toy_conditions.toml" --set 'fit.ensemble.values=["all",[0],"nowhere"]' \
  --set fit.gradient.epochs=1 --out ens.h5
if compgen -G "ens*" > /dev/null; then
  echo "FAIL: the ensemble left files: $(ls ens*)"
  fails=$((fails + 1))
else
  echo "ok: no ensemble member ran"
fi

# 8. Temporaries a killed run left (dead pid) are removed; a live process's are kept.
sleep 0 &
dead=$!
wait $dead
touch "stale.h5.tmp.$dead" "stale.h5.ckpt.tmp.$dead" "stale.h5.tmp.probe.$dead" "stale.h5.tmp.$$"
touch "stale.h5.tmpfoo" "other.h5.tmp.$dead"
expect 0 "removed 2 temporaries" -- "$cellfit" fit "$toy" --set fit.gradient.epochs=1 \
  --out stale.h5
left=$(ls stale.h5.* other.h5.* 2> /dev/null | sort | tr '\n' ' ')
if [[ $left == "other.h5.tmp.$dead stale.h5.tmp.$$ stale.h5.tmpfoo " ]]; then
  echo "ok: stale temporaries removed, others kept"
else
  echo "FAIL: after the run: $left"
  fails=$((fails + 1))
fi

# 9. Output paths: an empty name, a checkpoint that is a directory, a reason for an unwritable
# output, a symbolic link followed (the link stays, the file it names is replaced).
expect 2 "empty file name" -- "$cellfit" simulate --out ""
expect 2 "empty file name" -- "$cellfit" fit "$toy" --checkpoint ""
mkdir ckdir
expect 5 "checkpoint 'ckdir' is a directory" -- "$cellfit" fit "$toy" --checkpoint ckdir --out x.h5
expect 5 "cannot write the output 'nodir/x.h5': No such file or directory" -- \
  "$cellfit" simulate --out nodir/x.h5
mkdir results
ln -s results/traces.h5 link.h5
expect 0 "" -- "$cellfit" simulate -q --out link.h5
if [[ -L link.h5 && -f results/traces.h5 && ! -L results/traces.h5 ]]; then
  echo "ok: a symlinked output stays a link to the written file"
else
  echo "FAIL: link.h5 / results/traces.h5 after writing through the link"
  fails=$((fails + 1))
fi

# 3 and 4. Full disks: never a crash, never a temporary left behind; a failed final write
# saves the fit's state, and resuming from it gives the uninterrupted run's result.
mnt="$work/disk"
mkdir -p "$mnt"
if ! mount -t tmpfs -o size=3m tmpfs "$mnt" 2> /dev/null; then
  echo "skip: full-disk cases (cannot mount a tmpfs here)"
  mnt=""
else
  fill_to() {  # leave $1 bytes free on the tmpfs
    rm -f "$mnt"/*
    local avail
    avail=$(df -B1 --output=avail "$mnt" | tail -1)
    if ((avail > $1)); then head -c $((avail - $1)) /dev/zero > "$mnt/fill" 2> /dev/null; fi
  }
  check_run() {  # exit code 0 or 5, no crash, no temporary left
    local rc=$1 what=$2
    if [[ $rc -ne 0 && $rc -ne 5 ]]; then
      echo "FAIL: $what exited $rc"
      fails=$((fails + 1))
    fi
    if compgen -G "$mnt/*.tmp.*" > /dev/null; then
      echo "FAIL: $what left $(ls "$mnt" | grep tmp)"
      fails=$((fails + 1))
    fi
  }
  n=0
  for free in $(seq 0 24576 1300000); do
    fill_to "$free"
    "$cellfit" simulate -q --out "$mnt/s.h5" "$examples/01_ball_and_stick_steps.toml" \
      > /dev/null 2>&1
    check_run $? "simulate with $free bytes free"
    fill_to "$free"
    "$cellfit" fit "$toy" -q --set fit.gradient.epochs=3 --checkpoint-every 1 \
      --out "$mnt/f.h5" > /dev/null 2>&1
    check_run $? "fit with $free bytes free"
    n=$((n + 2))
  done
  echo "ok: $n runs on a nearly full disk (exit 0 or 5, nothing left behind)"

  # The output on the full disk, the checkpoint elsewhere: the state is saved there.
  fill_to 4096
  expect 5 "state is saved in $work/saved.ckpt.*--resume $work/saved.ckpt" -- \
    "$cellfit" fit "$toy" --set fit.gradient.epochs=8 --checkpoint-every 0 \
    --checkpoint "$work/saved.ckpt" --out "$mnt/f.h5"
  expect 0 "" -- "$cellfit" fit "$toy" --set fit.gradient.epochs=8 --resume "$work/saved.ckpt" \
    --checkpoint "$work/saved.ckpt" --out resumed.h5
  expect 0 "" -- "$cellfit" fit "$toy" --set fit.gradient.epochs=8 --out straight.h5
  h5check resumed.h5 \
    "(f['fit/best/params'][:] == h5py.File('straight.h5', 'r')['fit/best/params'][:]).all()" \
    "a fit resumed from the state saved after a failed write equals the uninterrupted fit"
fi

echo "$fails failure(s)"
[[ $fails -eq 0 ]]
