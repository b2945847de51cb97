#!/usr/bin/env bash
# The Slurm job templates in jobs/ on a real one-node Slurm cluster (tests/slurm/cluster.sh):
# each template is submitted with sbatch at a small size and its output is checked, against
# the same fit run directly (`cellfit fit` outside Slurm) bit for bit where there is one:
#   fit_ga.sbatch        2 tasks under mpirun, and under srun --mpi=pmix
#   fit_gradient.sbatch  2 tasks under mpirun
#   simulate.sbatch      1 task
#   fit_ga.sbatch        as an array job over seeds (--array=1-3)
#   l5pc_ga.sbatch       BluePyOpt's L5PC problem through fit_ga.sbatch, 2 individuals, 1
#                        generation, protocols shortened to 100 ms (needs bluepyopt's
#                        C060114A7.asc; left out with a note without it)
#   fit_array.sbatch     over seeds, and over paper 000's recording conditions (KEY/VALUES)
#   fit_gpu.sbatch       on pretend GPUs (--gpus-per-task=1 and the --gres=gpu:4 variant),
#                        checking which GPUs each rank is given
#   requeue              a running GA job is sent SIGUSR1 as Slurm's --signal=B:USR1@120
#                        does: it checkpoints, requeues itself, resumes and ends with exactly
#                        the uninterrupted result
#   strong_scaling.sbatch, weak_scaling.sbatch (bench/scaling beside the build's cellfit, or
#                        CELLFIT_BENCH), also strong_scaling.sbatch with MODEL=ttpc (paper
#                        004's cell, shortened steps; with bluepyopt), compare.sbatch
#                        (checked against a direct run)
# Fails (does not skip) when Slurm is not installed: CI installs slurm-wlm. Skips (77) when
# not run as root: slurmd must run as root.
# Usage: test_jobs.sh CELLFIT SOURCE_DIR   (as root; ctest -L slurm)
set -uo pipefail
if [[ $# -ne 2 ]]; then
  echo "usage: $0 CELLFIT SOURCE_DIR" >&2
  exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "skip: the one-node Slurm cluster needs root (slurmd); run ctest -L slurm as root"
  exit 77
fi
cellfit=$(readlink -f "$1")
src=$(readlink -f "$2")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
examples=$src/examples
t_start=$SECONDS
fails=0
fail() {
  echo "FAIL: $*"
  fails=$((fails + 1))
}
ok() { echo "ok: $*"; }
# check WHAT COMMAND...: ok or FAIL by the command's status.
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}

# A test started from inside a Slurm job must not inherit that job's settings.
for v in $(compgen -e); do
  case $v in
    SLURM_CLUSTER_*) ;;
    SLURM_* | SBATCH_* | SRUN_* | SALLOC_*) unset "$v" ;;
  esac
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# shellcheck disable=SC1091  # (tests/slurm/cluster.sh)
source "$here/cluster.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/cellfit-slurm-jobs.XXXXXX")
# shellcheck disable=SC2317  # (called by the trap)
cleanup() {
  slurm_cluster_stop
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
cd "$work" || exit 1

if [[ ! -x $cellfit ]]; then
  echo "FAIL: no cellfit binary at $1"
  exit 1
fi
# Four pretend GPUs for fit_gpu.sbatch (cluster.sh); every other job ignores them.
if ! SLURM_CLUSTER_GPUS=4 slurm_cluster_start; then
  echo "FAIL: could not start the one-node Slurm cluster (see above)"
  exit 1
fi
echo "cluster up after $((SECONDS - t_start)) s"
if srun --mpi=list 2>&1 | grep -qw pmix; then have_pmix=1; else have_pmix=0; fi
echo "srun --mpi=list: $(srun --mpi=list 2>&1 | tr -s '\n\t ' ' ')"

# ---- helpers ---------------------------------------------------------------------------

# same A B DATASET...: the datasets are bit-identical in the two files.
same() {
  python3 - "$@" << 'PY'
import sys, h5py
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
for k in sys.argv[3:]:
    x, y = a[k][()], b[k][()]
    assert x.shape == y.shape and x.tobytes() == y.tobytes(), (sys.argv[1], sys.argv[2], k)
print("ok: %s is bit-identical to %s (%s)" % (sys.argv[1], sys.argv[2], ", ".join(sys.argv[3:])))
PY
}

# fit_result FILE ENGINE RANKS: a complete fit result of that engine on that many ranks.
fit_result() {
  python3 - "$@" << 'PY'
import sys, h5py
path, engine, ranks = sys.argv[1], sys.argv[2], int(sys.argv[3])
f = h5py.File(path, "r")
assert "/fit/best/params" in f and f["/fit/best/params"].size > 0, path + ": no /fit/best/params"
attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
assert attrs.get("engine") == engine, (path, "engine", attrs.get("engine"))
assert int(attrs.get("ranks", -1)) == ranks, (path, "ranks", attrs.get("ranks"))
print("ok: %s: engine %s, %d rank(s), %d best parameters" % (path, engine, ranks, f["/fit/best/params"].size))
PY
}

# job_field ID FIELD: the first value of FIELD in `scontrol show job ID` (e.g. JobState).
job_field() {
  scontrol -o show job "$1" 2> /dev/null | grep -o -m 1 "\b$2=[^ ]*" | head -n 1 | cut -d= -f2-
}

# tail_logs LOG: the end of a job's log (LOG may name an array's logs, NAME-%a.out).
tail_logs() {
  local f
  for f in ${1//%a/*}; do
    [[ -f $f ]] && { echo "----- $f"; tail -n 30 "$f"; }
  done
  return 0
}

# wait_job ID TIMEOUT LOG: waits until the job (every task of an array) has ended; 0 when all
# COMPLETED with exit code 0. Prints the states, and the log, otherwise; cancels on timeout.
wait_job() {
  local id=$1 timeout=$2 log=$3 t=0 states
  while true; do
    states=$(scontrol -o show job "$id" 2> /dev/null | grep -oE '\b(JobState|Reason)=[^ ]*' | paste -d ' ' - - | sort | uniq -c | tr -s ' \n' ' ')
    if [[ -n $states ]] && ! grep -qE 'PENDING|RUNNING|CONFIGURING|COMPLETING|REQUEUE|SUSPENDED|RESIZING|SIGNALING|STAGE_OUT' <<< "$states"; then
      break
    fi
    if ((t >= timeout * 4)); then
      echo "job $id still not finished after ${timeout}s: ${states:-unknown}"
      scancel "$id" 2> /dev/null
      tail_logs "$log"
      return 1
    fi
    sleep 0.25
    t=$((t + 1))
  done
  local bad
  bad=$(scontrol -o show job "$id" | grep -v 'JobState=COMPLETED .*ExitCode=0:0' | grep -o '\bJobId=[0-9]*\|\bJobState=[A-Z_]*\|\bExitCode=[0-9:]*' | tr '\n' ' ')
  if [[ -n $bad ]]; then
    echo "job $id: $bad"
    tail_logs "$log"
    return 1
  fi
  return 0
}

# submit NAME TEMPLATE [VAR=value ...] [-- SBATCH_OPTION ...]: submits jobs/TEMPLATE (or the
# script at TEMPLATE when it is a path) from the
# work directory with the variables in its environment (--export=ALL) and CELLFIT set; the log
# is NAME.out (NAME-<task>.out for an array). Sets JOB (the job id) and LOG.
submit() {
  local name=$1 template=$2
  shift 2
  local vars=("CELLFIT=$cellfit") opts=()
  while (($#)) && [[ $1 != -- ]]; do
    vars+=("$1")
    shift
  done
  (($#)) && shift
  opts=("$@")
  LOG=$work/$name.out
  local o
  for o in "${opts[@]}"; do
    [[ $o == --array=* ]] && LOG=$work/$name-%a.out
  done
  local path=$template
  [[ $template == */* ]] || path=$src/jobs/$template
  JOB=$(env "${vars[@]}" sbatch --parsable --export=ALL --job-name="$name" --output="$LOG" \
    "${opts[@]}" "$path" 2>&1)
  if ! [[ $JOB =~ ^[0-9]+$ ]]; then
    fail "$name: sbatch $template: $JOB"
    JOB=""
    return 1
  fi
  echo "submitted $name: job $JOB ($template ${vars[*]:1} ${opts[*]})"
}

# run_job NAME TIMEOUT TEMPLATE [VAR=value ...] [-- SBATCH_OPTION ...]: submit and wait.
# Adding a job to this test: one run_job line, then checks of its output files.
run_job() {
  local name=$1 timeout=$2
  shift 2
  submit "$name" "$@" || return 1
  if wait_job "$JOB" "$timeout" "$LOG"; then
    ok "$name: job $JOB COMPLETED, exit 0 ($((SECONDS - t_start)) s)"
  else
    fail "$name: job $JOB did not complete"
    return 1
  fi
}

# ---- references: the same fits run directly, outside Slurm ------------------------------

ga_small=("fit.ga.population=12" "fit.ga.offspring=12" "fit.ga.generations=3")
sets_args() { local s; for s in "$@"; do printf -- '--set\n%s\n' "$s"; done; }
direct() {  # direct OUT ARGS...: cellfit run outside Slurm
  local out=$1
  shift
  "$cellfit" "$@" --out "$out" --quiet > /dev/null || fail "direct run: cellfit $* --out $out"
}
mapfile -t ga_small_args < <(sets_args "${ga_small[@]}")
direct ref_ga.h5 fit "$examples/12_ga_ball_and_stick.toml" --engine ga "${ga_small_args[@]}"
for seed in 1 2 3; do
  direct "ref_ga_seed$seed.h5" fit "$examples/12_ga_ball_and_stick.toml" --engine ga \
    "${ga_small_args[@]}" --set "fit.ga.seed=$seed"
done
direct ref_grad.h5 fit "$examples/11_toy_grad_all_all.toml" --engine gradient --set fit.gradient.epochs=12
direct ref_sim.h5 simulate
for sites in all '[0]' '[0,-1]'; do
  direct "ref_rec_$sites.h5" fit "$examples/11_toy_grad_all_all.toml" --engine gradient \
    --set fit.gradient.epochs=4 --set "simulation.record_sites=$sites"
done
# BluePyOpt's L5PC (l5pc_ga.sbatch) on protocols shortened to 100 ms, as
# tests/cli/test_l5pc_problem.sh runs it; the morphology from the bluepyopt wheel.
asc=$(python3 -c 'import os, bluepyopt; print(os.path.join(os.path.dirname(bluepyopt.__file__), "tests/test_ephys/testdata/acc/l5pc/C060114A7.asc"))' 2> /dev/null || true)
l5pc_short=("simulation.t_stop_ms=100.0")
for p in 0 1 2 3; do
  l5pc_short+=("protocol.$p.t_stop_ms=100.0" "protocol.$p.stimulus.0.delay_ms=20.0")
done
for p in 1 2 3; do l5pc_short+=("protocol.$p.stimulus.0.duration_ms=70.0"); done
if [[ -f $asc ]]; then
  mapfile -t l5pc_args < <(sets_args "model.morphology=$asc" "${l5pc_short[@]}" \
    fit.ga.population=2 fit.ga.offspring=2 fit.ga.generations=1)
  direct ref_l5pc.h5 fit "$examples/l5pc/l5pc_problem.toml" --engine ga "${l5pc_args[@]}"
fi
ga_sets=(/fit/best/params /fit/history/loss)
grad_sets=(/fit/best/params /fit/history/loss)
echo "reference runs done ($((SECONDS - t_start)) s)"

# ---- requeue: SIGUSR1 before the time limit, checkpoint, requeue, resume ---------------

# A GA long enough to be stopped in the middle (about 4 s on 2 ranks), checkpointing every
# 5 generations. Slurm's --signal=B:USR1@120 signals the batch shell only, exactly what
# `scancel --batch --signal=USR1` does now; the script passes it on to the launcher (mpirun
# or srun), which passes it on to the ranks; the fit checkpoints and exits 75, the script
# requeues the job; Slurm holds it for cred_expire (5 s here) and starts it again, and it
# resumes from the checkpoint. The uninterrupted run is computed while the first job runs.
long=("fit.ga.population=16" "fit.ga.offspring=16" "fit.ga.generations=80" "fit.checkpoint_every=5")
mapfile -t long_args < <(sets_args "${long[@]}")
ref_long_pid=""

# requeue_test NAME LAUNCH: the whole cycle for one launcher.
requeue_test() {
  local name=$1 launch=$2 job log out=$1.h5 t gen
  submit "$name" fit_ga.sbatch "CONFIG=$examples/12_ga_ball_and_stick.toml" "SETS=${long[*]}" \
    "LAUNCH=$launch" "OUT=$out" -- --ntasks=2 --cpus-per-task=1 || return 1
  job=$JOB
  log=$LOG
  if [[ -z $ref_long_pid ]]; then
    direct ref_long.h5 fit "$examples/12_ga_ball_and_stick.toml" --engine ga "${long_args[@]}" &
    ref_long_pid=$!
  fi
  # Running, and a few generations done: the first periodic checkpoint exists.
  for ((t = 0; t < 600; t++)); do
    [[ $(job_field "$job" JobState) == RUNNING && -f $out.ckpt ]] &&
      grep -qE 'gen +(1[0-9]|[2-9][0-9])/80' "$log" 2> /dev/null && break
    sleep 0.1
  done
  gen=$(grep -oE 'gen +[0-9]+/80' "$log" 2> /dev/null | tail -n 1 | tr -s ' ')
  if [[ $(job_field "$job" JobState) != RUNNING || -z $gen ]]; then
    fail "$name: job $job not running with progress after 60 s ($(job_field "$job" JobState))"
    tail_logs "$log"
    scancel "$job"
    return 1
  fi
  echo "$name: job $job RUNNING at $gen, checkpoint present: scancel --batch --signal=USR1 $job"
  scancel --batch --signal=USR1 "$job"
  # The script reports the signal, the exit 75 and the requeue; then Slurm restarts the job.
  for ((t = 0; t < 300; t++)); do
    grep -q "requeueing job $job" "$log" && break
    sleep 0.1
  done
  if grep -q "requeueing job $job" "$log"; then
    check "$name: checkpoint written, no output yet" test -f "$out.ckpt" -a ! -f "$out"
    for pattern in "SIGUSR1: passing it on to the ranks" "stopped by a signal after [0-9]+ generations" \
      "requeueing job $job"; do
      check "$name: the log says '$pattern'" grep -qE "$pattern" "$log"
    done
  else
    fail "$name: the job did not requeue itself within 30 s of SIGUSR1"
    tail_logs "$log"
  fi
  # Slurm holds a requeued job until its BeginTime (now + cred_expire), then starts it.
  for ((t = 0; t < 200; t++)); do
    [[ $(job_field "$job" Restarts) -ge 1 ]] && break
    sleep 0.1
  done
  echo "$name: $(scontrol -o show job "$job" | grep -oE '\b(JobState|Reason|Restarts)=[^ ]*' | tr '\n' ' ')"
  if wait_job "$job" 120 "$log"; then
    ok "$name: job $job COMPLETED after $(job_field "$job" Restarts) restart(s) ($((SECONDS - t_start)) s)"
  else
    fail "$name: job $job did not complete after the requeue"
  fi
  check "$name: Restarts=1 in scontrol show job" test "$(job_field "$job" Restarts)" == 1
  check "$name: the second start (restart 1) resumes from the checkpoint" \
    grep -qE "${launch%% *} .* --resume $out.ckpt .*restart 1" "$log"
  check "$name: cellfit says 'resumed: N generations replayed'" \
    grep -qE "resumed: [0-9]+ generations replayed" "$log"
  check "$name: no checkpoint left after the complete fit" test ! -f "$out.ckpt"
  wait "$ref_long_pid"
  if [[ -f $out ]]; then
    fit_result "$out" ga 2 || fail "$name: result"
    same ref_long.h5 "$out" "${ga_sets[@]}" /fit/population/params ||
      fail "$name: result differs from the uninterrupted run"
  else
    fail "$name: no $out"
  fi
}
requeue_test requeue_mpirun mpirun
if [[ $have_pmix == 1 ]]; then
  requeue_test requeue_srun "srun --mpi=pmix"
fi

# ---- one job per template ---------------------------------------------------------------

# GA on 2 ranks under mpirun inside the allocation.
if run_job ga_mpirun 120 fit_ga.sbatch "CONFIG=$examples/12_ga_ball_and_stick.toml" \
  "SETS=${ga_small[*]}" LAUNCH=mpirun OUT=ga_mpirun.h5 -- --ntasks=2 --cpus-per-task=1; then
  fit_result ga_mpirun.h5 ga 2 || fail "ga_mpirun: result"
  same ref_ga.h5 ga_mpirun.h5 "${ga_sets[@]}" || fail "ga_mpirun: differs from the direct run"
fi

# GA on 2 ranks started by srun: needs Slurm's PMIx plugin for Debian's Open MPI (the
# cluster's MpiDefault is none, as on many sites: plain srun would start two separate
# one-process fits).
if [[ $have_pmix == 1 ]]; then
  if run_job ga_srun 120 fit_ga.sbatch "CONFIG=$examples/12_ga_ball_and_stick.toml" \
    "SETS=${ga_small[*]}" "LAUNCH=srun --mpi=pmix" OUT=ga_srun.h5 -- --ntasks=2 --cpus-per-task=1; then
    fit_result ga_srun.h5 ga 2 || fail "ga_srun: result"
    same ref_ga.h5 ga_srun.h5 "${ga_sets[@]}" || fail "ga_srun: differs from the direct run"
  fi
else
  echo "note: srun has no pmix plugin here: srun cannot start Open MPI ranks, jobs use mpirun"
fi

# BluePyOpt's L5PC with BluePyOpt's GA settings (l5pc_ga.sbatch hands over to fit_ga.sbatch,
# FIT_GA here as the job does not start in the source directory), at a tiny size.
if [[ -f $asc ]]; then
  if run_job l5pc_ga 180 l5pc_ga.sbatch "CONFIG=$examples/l5pc/l5pc_problem.toml" \
    "FIT_GA=$src/jobs/fit_ga.sbatch" OFFSPRING=2 GENERATIONS=1 "SETS=${l5pc_short[*]}" \
    LAUNCH=mpirun OUT=l5pc_ga.h5 -- --ntasks=2 --cpus-per-task=1; then
    fit_result l5pc_ga.h5 ga 2 || fail "l5pc_ga: result"
    same ref_l5pc.h5 l5pc_ga.h5 "${ga_sets[@]}" || fail "l5pc_ga: differs from the direct run"
    check "l5pc_ga: the log shows the handed-over run" grep -q "cellfit-ga: mpirun .* --set fit.ga.offspring=2 " "$LOG"
  fi
else
  echo "note: no bluepyopt C060114A7.asc: l5pc_ga.sbatch and MODEL=ttpc not run"
fi

# Gradient engine on 2 ranks.
if run_job grad_mpirun 120 fit_gradient.sbatch "CONFIG=$examples/11_toy_grad_all_all.toml" \
  "SETS=fit.gradient.epochs=12" LAUNCH=mpirun OUT=grad.h5 -- --ntasks=2; then
  fit_result grad.h5 gradient 2 || fail "grad_mpirun: result"
  same ref_grad.h5 grad.h5 "${grad_sets[@]}" || fail "grad_mpirun: differs from the direct run"
fi

# simulate: the built-in problem, default output name sim_<job>.h5.
if run_job simulate 120 simulate.sbatch; then
  same ref_sim.h5 "sim_$JOB.h5" /traces/voltage /traces/time_ms || fail "simulate: differs from the direct run"
fi

# An array job over seeds with fit_ga.sbatch (default names ga_<array job>_<task>.h5).
if run_job ga_array 120 fit_ga.sbatch "CONFIG=$examples/12_ga_ball_and_stick.toml" \
  "SETS=${ga_small[*]} fit.ga.seed=\$SLURM_ARRAY_TASK_ID" LAUNCH=mpirun -- --array=1-3 --ntasks=1 --cpus-per-task=1; then
  for seed in 1 2 3; do
    same "ref_ga_seed$seed.h5" "ga_${JOB}_$seed.h5" "${ga_sets[@]}" || fail "ga_array: task $seed"
  done
  python3 - "ga_${JOB}_1.h5" "ga_${JOB}_2.h5" "ga_${JOB}_3.h5" << 'PY' || fail "ga_array: seeds"
import sys, h5py
fs = [h5py.File(p, "r") for p in sys.argv[1:]]
seeds = [int(f.attrs["seed"]) for f in fs]
assert seeds == [1, 2, 3], seeds
pop = [f["/fit/population/params"][()].tobytes() for f in fs]
assert len(set(pop)) == 3, "two seeds gave the same populations"
print("ok: ga_array: seeds", seeds, "give three different fits")
PY
fi

# fit_array.sbatch: GA seeds (the default key), then paper 000's recording conditions.
if run_job array_seeds 120 fit_array.sbatch "CONFIG=$examples/12_ga_ball_and_stick.toml" \
  "SETS=${ga_small[*]}" LAUNCH=mpirun -- --array=2-3 --ntasks=1 --cpus-per-task=1; then
  for seed in 2 3; do
    same "ref_ga_seed$seed.h5" "fit_${JOB}_$seed.h5" "${ga_sets[@]}" || fail "array_seeds: task $seed"
  done
fi
if run_job array_conditions 120 fit_array.sbatch "CONFIG=$examples/11_toy_grad_all_all.toml" \
  ENGINE=gradient KEY=simulation.record_sites "VALUES=all [0] [0,-1]" "SETS=fit.gradient.epochs=4" \
  LAUNCH=mpirun -- --array=0-2 --ntasks=1 --cpus-per-task=1; then
  i=0
  for sites in all '[0]' '[0,-1]'; do
    same "ref_rec_$sites.h5" "fit_${JOB}_$i.h5" "${grad_sets[@]}" || fail "array_conditions: record_sites=$sites"
    i=$((i + 1))
  done
fi

# fit_gpu.sbatch on the pretend GPUs, with its header as written except for the size (2
# ranks on this 2-core node). A wrapper in front of cellfit records what each rank was given.
cat > gpu_wrap.sh << EOF
#!/bin/bash
echo "rank \${PMIX_RANK:-\${OMPI_COMM_WORLD_RANK:-?}} CUDA_VISIBLE_DEVICES=\${CUDA_VISIBLE_DEVICES:-unset} CELLFIT_GPUS_PER_NODE=\${CELLFIT_GPUS_PER_NODE:-unset}" >> "\$GPU_ENV_LOG"
exec "$cellfit" "\$@"
EOF
chmod +x gpu_wrap.sh
# gpu_ranks LOGFILE EXPECTED_GPUS_PER_NODE DISTINCT: each of 2 ranks' GPU view.
gpu_ranks() {
  local n
  n=$(grep -c "CELLFIT_GPUS_PER_NODE=$2\$" "$1" 2> /dev/null)
  if [[ $n -ne 2 ]]; then
    fail "$1: expected 2 ranks with CELLFIT_GPUS_PER_NODE=$2:"
    cat "$1"
    return 1
  fi
  if [[ $3 == one-each ]]; then
    # One GPU per rank, a different one for each.
    [[ $(grep -oE 'CUDA_VISIBLE_DEVICES=[0-9]+ ' "$1" | sort -u | wc -l) -eq 2 ]] ||
      { fail "$1: ranks do not see one distinct GPU each"; cat "$1"; return 1; }
  else
    [[ $(grep -c "CUDA_VISIBLE_DEVICES=$3 " "$1") -eq 2 ]] ||
      { fail "$1: ranks do not both see GPUs $3"; cat "$1"; return 1; }
  fi
  ok "$1: $(tr '\n' ';' < "$1")"
}
gpu_launch=srun
[[ $have_pmix == 1 ]] || gpu_launch=mpirun
if [[ $gpu_launch == srun ]]; then
  # The template's own launcher (srun --gpu-bind=single:1); SLURM_MPI_TYPE is srun's --mpi.
  gpu_env=(SLURM_MPI_TYPE=pmix)
else
  gpu_env=("LAUNCH=mpirun")
fi
if run_job gpu 120 fit_gpu.sbatch "CONFIG=$examples/12_ga_ball_and_stick.toml" ENGINE=ga \
  "SETS=${ga_small[*]}" "CELLFIT=$work/gpu_wrap.sh" GPU_ENV_LOG=gpu_env.txt OUT=gpu.h5 \
  "${gpu_env[@]}" -- --ntasks-per-node=2 --cpus-per-task=1; then
  fit_result gpu.h5 ga 2 || fail "gpu: result"
  same ref_ga.h5 gpu.h5 "${ga_sets[@]}" || fail "gpu: differs from the direct run"
  if [[ $gpu_launch == srun ]]; then gpu_ranks gpu_env.txt 1 one-each; else gpu_ranks gpu_env.txt 2 0,1; fi
fi
# The template's --gres=gpu:4 alternative without --gpu-bind (GPU_BIND empty): every rank
# sees all four and takes its own by node-local rank.
sed -e 's/^#SBATCH --gpus-per-task=1/##SBATCH --gpus-per-task=1/' -e 's/^##SBATCH --gres=gpu:4/#SBATCH --gres=gpu:4/' \
  "$src/jobs/fit_gpu.sbatch" > "$work/fit_gpu_gres.sbatch"
grep -q '^#SBATCH --gres=gpu:4' "$work/fit_gpu_gres.sbatch" || fail "fit_gpu.sbatch has no '##SBATCH --gres=gpu:4' line"
if run_job gpu_gres 120 "$work/fit_gpu_gres.sbatch" "CONFIG=$examples/11_toy_grad_all_all.toml" \
  ENGINE=gradient "SETS=fit.gradient.epochs=12" "CELLFIT=$work/gpu_wrap.sh" GPU_ENV_LOG=gpu_gres_env.txt \
  OUT=gpu_gres.h5 GPU_BIND= "${gpu_env[@]}" -- --ntasks-per-node=2 --cpus-per-task=1; then
  fit_result gpu_gres.h5 gradient 2 || fail "gpu_gres: result"
  same ref_grad.h5 gpu_gres.h5 "${grad_sets[@]}" || fail "gpu_gres: differs from the direct run"
  gpu_ranks gpu_gres_env.txt 4 0,1,2,3
fi

# ---- the scaling studies (need bench/ built) and cellfit compare ----------------------------

bench=${CELLFIT_BENCH:-$(dirname "$cellfit")/../bench/scaling}
if [[ -f $src/jobs/strong_scaling.sbatch && -x $bench ]]; then
  if run_job strong 180 strong_scaling.sbatch "CELLFIT_BENCH=$bench" POPULATION=24 GENERATIONS=2 \
    LAUNCH=mpirun OUTDIR=strong -- --nodes=1 --ntasks=2 --cpus-per-task=1; then
    check "strong: strong/scaling_strong.csv written" test -s strong/scaling_strong.csv
  fi
else
  fail "strong_scaling.sbatch not run: $bench missing (build with CELLFIT_ENABLE_BENCHMARKS=ON or set CELLFIT_BENCH)"
fi
# Paper 004's TTPC in the strong sweep (the driver exits 2 unless 1 and 2 ranks agree bit for
# bit), 8 steps shortened to 100 ms. MODEL is the config's path: MODEL=ttpc names it relative
# to the submit directory, the source tree, which this test's is not.
if [[ -f $asc && -x $bench ]]; then
  if run_job strong_ttpc 240 strong_scaling.sbatch "CELLFIT_BENCH=$bench" POPULATION=8 \
    GENERATIONS=1 "MODEL=$examples/l5pc/ttpc_paper004.toml" "MORPHOLOGY=$asc" \
    "MODEL_SETS=simulation.t_stop_ms=100.0 stimulus.0.delay_ms=20.0 stimulus.0.duration_ms=70.0" \
    LAUNCH=mpirun OUTDIR=strong_ttpc -- --nodes=1 --ntasks=2 --cpus-per-task=1; then
    check "strong_ttpc: strong_ttpc/scaling_strong.csv written" test -s strong_ttpc/scaling_strong.csv
    check "strong_ttpc: the run used the TTPC config" grep -q "model=.*ttpc_paper004.toml" strong_ttpc/scaling_strong.txt
  fi
fi
if [[ -f $src/jobs/weak_scaling.sbatch && -x $bench ]]; then
  if run_job weak 180 weak_scaling.sbatch "CELLFIT_BENCH=$bench" PER_NODE=12 GENERATIONS=2 \
    LAUNCH=mpirun OUTDIR=weak -- --nodes=1 --ntasks=2 --cpus-per-task=1; then
    check "weak: weak/scaling_weak.csv written" test -s weak/scaling_weak.csv
  fi
else
  fail "weak_scaling.sbatch not run: $bench missing (build with CELLFIT_ENABLE_BENCHMARKS=ON or set CELLFIT_BENCH)"
fi
if [[ -f $src/jobs/compare.sbatch ]] && "$cellfit" compare --help 2>&1 | grep -q -- --budget; then
  if run_job compare 180 compare.sbatch BUDGET=20000 \
    LAUNCH=mpirun OUTDIR=cmp -- --ntasks=2 --cpus-per-task=1; then
    check "compare: cmp/compare.h5 written" test -s cmp/compare.h5
    # The same comparison on one process, outside Slurm: the same points bit for bit.
    if "$cellfit" compare --budget 20000 --out-dir cmp_ref --no-plots --quiet > /dev/null; then
      python3 - cmp_ref/compare.h5 cmp/compare.h5 << 'PY' || fail "compare: differs from the direct run"
import sys, h5py
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
engines = [e.decode() if isinstance(e, bytes) else e for e in b["/compare/engines"][()]]
assert engines == ["ga", "gradient", "hybrid"], engines
assert int(b.attrs["ranks"]) == 2, b.attrs["ranks"]
for e in engines:
    for k in ("best/params", "history/loss"):
        x, y = a["/compare/%s/%s" % (e, k)][()], b["/compare/%s/%s" % (e, k)][()]
        assert x.shape == y.shape and x.tobytes() == y.tobytes(), (e, k)
print("ok: compare: ga, gradient, hybrid on 2 ranks bit-identical to the direct run")
PY
    else
      fail "compare: direct run failed"
    fi
  fi
else
  fail "compare.sbatch not run (template or 'cellfit compare' missing)"
fi

echo "$fails failure(s), $((SECONDS - t_start)) s"
exit $((fails > 0))
