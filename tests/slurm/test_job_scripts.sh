#!/usr/bin/env bash
# The job templates without Slurm, for any user (tests/slurm/test_jobs.sh runs them on a real
# cluster, as root): every template parses (bash -n); l5pc_ga.sbatch builds the run it hands
# over to fit_ga.sbatch (a stand-in for fit_ga.sbatch prints CONFIG, OUT and SETS), and
# refuses a missing morphology; strong_scaling.sbatch with MODEL=ttpc passes the TTPC config,
# its morphology and MODEL_SETS to bench/scaling (a stand-in prints its arguments).
# usage: test_job_scripts.sh SOURCE_DIR
set -euo pipefail
src=$(readlink -f "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*"
  exit 1
}

n=0
for f in "$src"/jobs/*.sbatch; do
  bash -n "$f" || fail "$f does not parse"
  n=$((n + 1))
done
echo "ok: $n templates parse"

# A job's environment: no Slurm variables but those given.
job() { (cd "$src" && env -i PATH="$PATH" HOME="$HOME" SLURM_SUBMIT_DIR="$src" "$@"); }

cat > "$work/fit_ga_stand_in.sh" << 'EOF'
echo "CONFIG=$CONFIG"
echo "OUT=$OUT"
echo "SETS=$SETS"
EOF
touch "$work/C060114A7.asc"
asc=$work/C060114A7.asc
got=$(job SLURM_JOB_ID=42 FIT_GA="$work/fit_ga_stand_in.sh" MORPHOLOGY="$asc" SEED=3 \
  SETS="simulation.t_stop_ms=100.0" bash jobs/l5pc_ga.sbatch)
want="CONFIG=examples/l5pc/l5pc_problem.toml
OUT=l5pc_ga_42.h5
SETS=model.morphology=$asc fit.ga.population=100 fit.ga.offspring=100 fit.ga.generations=100 fit.ga.seed=3 fit.checkpoint_every=5 simulation.t_stop_ms=100.0"
[[ $(grep -v '^cellfit-l5pc:' <<< "$got") == "$want" ]] ||
  fail "l5pc_ga.sbatch hands over"$'\n'"$got"$'\n'"expected"$'\n'"$want"
echo "ok: l5pc_ga.sbatch: BluePyOpt's sizes, the seed, the morphology and SETS, in that order"

got=$(job SLURM_JOB_ID=43 SLURM_ARRAY_JOB_ID=7 SLURM_ARRAY_TASK_ID=2 FIT_GA="$work/fit_ga_stand_in.sh" \
  MORPHOLOGY="$asc" OFFSPRING=4 GENERATIONS=2 bash jobs/l5pc_ga.sbatch)
grep -qx "OUT=l5pc_ga_7_2.h5" <<< "$got" || fail "l5pc_ga.sbatch array output name: $got"
grep -q "fit.ga.population=4 fit.ga.offspring=4 fit.ga.generations=2 " <<< "$got" ||
  fail "l5pc_ga.sbatch OFFSPRING/GENERATIONS: $got"
echo "ok: l5pc_ga.sbatch: array task output name, OFFSPRING and GENERATIONS"

if err=$(job FIT_GA="$work/fit_ga_stand_in.sh" MORPHOLOGY="$work/none.asc" bash jobs/l5pc_ga.sbatch 2>&1); then
  fail "l5pc_ga.sbatch ran without a morphology: $err"
fi
grep -q "no C060114A7.asc at $work/none.asc" <<< "$err" || fail "l5pc_ga.sbatch: message '$err'"
echo "ok: l5pc_ga.sbatch refuses a missing morphology"

cat > "$work/scaling_stand_in.sh" << 'EOF'
#!/bin/bash
printf '%s\n' "$@"
EOF
chmod +x "$work/scaling_stand_in.sh"
got=$(job SLURM_JOB_ID=44 CELLFIT_BENCH="$work/scaling_stand_in.sh" LAUNCH=env LAUNCH_ARGS= \
  OUTDIR="$work/strong" MODEL=ttpc MORPHOLOGY="$asc" POPULATION=8 PLOT=none \
  MODEL_SETS="simulation.t_stop_ms=100.0 stimulus.0.duration_ms=70.0" bash jobs/strong_scaling.sbatch)
args=$(sed -n '/^--study$/,$p' <<< "$got" | tr '\n' ' ')
for want in "--model examples/l5pc/ttpc_paper004.toml" "--set model.morphology=$asc" \
  "--set simulation.t_stop_ms=100.0 --set stimulus.0.duration_ms=70.0" "--population 8"; do
  [[ $args == *"$want"* ]] || fail "strong_scaling.sbatch MODEL=ttpc: '$want' not in: $args"
done
echo "ok: strong_scaling.sbatch MODEL=ttpc: the TTPC config, its morphology and MODEL_SETS"
