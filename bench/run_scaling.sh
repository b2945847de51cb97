#!/bin/bash
# Runs every scaling study of bench/scaling on this machine and plots them: the rank sweeps
# (strong, weak, gradient) in one launch of NP_SWEEP ranks each (default 4: points at 1, 2
# and 4 ranks; on a 2-core machine the 4-rank points are oversubscribed and marked so), the
# fixed-rank studies (population, stimuli, features) on NP ranks (default 2). Writes
# scaling_<study>.csv/.h5, the stdout tables (scaling_<study>.txt) and the PNGs of
# bench/plot_scaling.py (when python3 has matplotlib) into the results directory.
#
#   bench/run_scaling.sh [--out DIR] [--bench PATH] [--mpirun PATH] [--np N] [--np-sweep N]
#                        [--studies "strong weak ..."] [--model CONFIG [--set KEY=VALUE]...
#                        [--l5pc-morphology]]
#                        [--study-args STUDY "ARGS"]... [--no-plots] [--smoke] [-- ARGS...]
#
#   --out DIR       results directory (default scaling_results)
#   --bench PATH    the scaling binary (default build/bench/scaling)
#   --mpirun PATH   MPI launcher (default mpirun)
#   --np N          ranks of the fixed-rank studies (default 2)
#   --np-sweep N    ranks of the launch of a rank sweep (default 4)
#   --studies LIST  which studies (default: population strong weak stimuli features gradient)
#   --model CONFIG  the problem of every study (scaling --model), e.g. paper 004's cell,
#                   examples/l5pc/ttpc_paper004.toml (default: the built-in hh problem)
#   --set KEY=VALUE a config override with --model (repeatable; e.g. model.morphology=...,
#                   shortened stimuli)
#   --l5pc-morphology
#                   with an L5PC config (l5pc_problem.toml, ttpc_paper004.toml): its
#                   C060114A7.asc from python3's bluepyopt wheel; exit 77 (skip) without it
#   --study-args STUDY "ARGS"
#                   driver options for that study only (repeatable), e.g. its sizes:
#                   --study-args population "--sizes 8,16,32" --study-args strong
#                   "--population 32"
#   --no-plots      skip plot_scaling.py
#   --smoke         CTest's check: strong (1 and 2 ranks; the driver exits 2 unless their
#                   results are bit-identical) and features on 2 ranks with --smoke sizes,
#                   then the files are checked (rows, and the HDF5 datasets when h5py exists)
#   -- ARGS         passed to every run of the driver (e.g. -- --generations 5 --repeats 3)
#
# Open MPI as root needs OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1. The ranks
# run with --bind-to none: each rank uses a simulation thread and scoring threads, which a
# one-core binding would squeeze onto one core.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=scaling_results
bench=build/bench/scaling
launcher=mpirun
np=2
np_sweep=4
studies="population strong weak stimuli features gradient"
model=()
label=""
declare -A study_args=()
plots=1
smoke=0
extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --bench) bench=$2; shift 2 ;;
    --mpirun) launcher=$2; shift 2 ;;
    --np) np=$2; shift 2 ;;
    --np-sweep) np_sweep=$2; shift 2 ;;
    --studies) studies=$2; shift 2 ;;
    --model) model+=(--model "$2"); label=$(basename "$2" .toml); shift 2 ;;
    --set) model+=(--set "$2"); shift 2 ;;
    --l5pc-morphology)
      asc=$(python3 -c 'import os, bluepyopt; print(os.path.join(os.path.dirname(bluepyopt.__file__), "tests/test_ephys/testdata/acc/l5pc/C060114A7.asc"))' 2> /dev/null || true)
      if [[ ! -f $asc ]]; then
        echo "run_scaling.sh: skipped: no C060114A7.asc (pip install bluepyopt)" >&2
        exit 77
      fi
      model+=(--set "model.morphology=$asc")
      shift ;;
    --study-args) study_args[$2]="${study_args[$2]:-} $3"; shift 3 ;;
    --no-plots) plots=0; shift ;;
    --smoke) smoke=1; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_scaling.sh: unknown argument $1 (--help)" >&2; exit 1 ;;
  esac
done
if [[ ! -x $bench ]]; then
  echo "run_scaling.sh: no scaling binary at $bench (cmake --build build --target scaling, or --bench)" >&2
  exit 1
fi
mkdir -p "$out"

# run NP STUDY ARGS...: one launch of the driver; the table goes to $out/scaling_STUDY.txt.
run() {
  local n=$1 study=$2
  shift 2
  local over=() own=()
  if [[ $n -gt $(nproc) ]]; then over=(--oversubscribe); fi
  # shellcheck disable=SC2206  # (word splitting of --study-args is the point)
  own=(${study_args[$study]:-})
  echo "run_scaling.sh: $(cut -d' ' -f1-3 /proc/loadavg) load; $launcher -np $n ${over[*]} --bind-to none $bench --study $study $* ${model[*]} ${own[*]} ${extra[*]}" >&2
  "$launcher" -np "$n" "${over[@]}" --bind-to none "$bench" --study "$study" \
    --csv "$out/scaling_$study.csv" --h5 "$out/scaling_$study.h5" "$@" "${model[@]}" \
    "${own[@]}" "${extra[@]}" | tee "$out/scaling_$study.txt"
}

if [[ $smoke == 1 ]]; then
  run 2 strong --smoke --ranks 1,2
  run 2 features --smoke
  # Two points per study, one row each.
  for s in strong features; do
    rows=$(($(wc -l < "$out/scaling_$s.csv") - 1))
    if [[ $rows -ne 2 ]]; then
      echo "run_scaling.sh: $out/scaling_$s.csv has $rows rows, expected 2" >&2
      exit 1
    fi
  done
  if python3 -c "import h5py" 2>/dev/null; then
    python3 - "$out" <<'EOF'
import sys, h5py, math
out = sys.argv[1]
with h5py.File(out + "/scaling_strong.h5", "r") as f:
    g = f["scaling"]
    assert list(g["ranks"][()]) == [1, 2], g["ranks"][()]
    assert all(w > 0 for w in g["wall_s"][()]), g["wall_s"][()]
    assert abs(g["efficiency"][0] - 1.0) < 1e-12, g["efficiency"][()]
    for a in ("machine", "commit", "command", "settings", "date"):
        assert a in g.attrs, a
with h5py.File(out + "/scaling_features.h5", "r") as f:
    sf = list(f["scaling/score_functions"][()])
    assert sf == [1, 5], sf
    assert all(math.isnan(e) for e in f["scaling/efficiency"][()])
print("run_scaling.sh: smoke files checked")
EOF
  fi
  if [[ $plots == 1 ]] && python3 -c "import matplotlib" 2>/dev/null; then
    python3 "$here/plot_scaling.py" "$out/scaling_strong.csv" "$out/scaling_features.h5" \
      --out-dir "$out" --label "$label"
  fi
  exit 0
fi

echo "run_scaling.sh: $(uptime)" >&2
for s in $studies; do
  case $s in
    strong|weak|gradient) run "$np_sweep" "$s" ;;
    population|stimuli|features) run "$np" "$s" ;;
    *) echo "run_scaling.sh: unknown study $s" >&2; exit 1 ;;
  esac
done
echo "run_scaling.sh: $(uptime)" >&2
if [[ $plots == 1 ]]; then
  if python3 -c "import matplotlib" 2>/dev/null; then
    csvs=()
    for s in $studies; do csvs+=("$out/scaling_$s.csv"); done
    python3 "$here/plot_scaling.py" "${csvs[@]}" --out-dir "$out" --label "$label"
  else
    echo "run_scaling.sh: python3 with matplotlib not found: no plots" >&2
  fi
fi
echo "run_scaling.sh: results in $out" >&2
