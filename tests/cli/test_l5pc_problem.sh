#!/usr/bin/env bash
# BluePyOpt's L5PC optimisation problem (examples/l5pc/l5pc_problem.toml) runs: a GA of 2
# individuals and 1 generation on shortened protocols (100 ms each, the steps moved to 20 ms;
# the full problem is 9.6 s of biological time per evaluation), all 35 objectives present and
# finite, the 20 parameters inside their bounds. C060114A7.asc comes from the installed
# bluepyopt wheel (never copied into the project).
# usage: test_l5pc_problem.sh CELLFIT_BINARY EXAMPLES_DIR
# Exit 77 (skipped) when bluepyopt or h5py is missing.
set -euo pipefail
cellfit=$(realpath "$1")
examples=$(realpath "$2")
asc=$(python3 - << 'EOF' 2> /dev/null || true
import os, bluepyopt
print(os.path.join(os.path.dirname(bluepyopt.__file__),
                   "tests/test_ephys/testdata/acc/l5pc/C060114A7.asc"))
EOF
)
if [[ -z "$asc" || ! -f "$asc" ]] || ! python3 -c "import h5py" 2> /dev/null; then
  echo "test_l5pc_problem: skipped (needs bluepyopt's C060114A7.asc and h5py)"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

short=(--set simulation.t_stop_ms=100.0)
for p in 0 1 2 3; do
  short+=(--set "protocol.$p.t_stop_ms=100.0" --set "protocol.$p.stimulus.0.delay_ms=20.0")
done
for p in 1 2 3; do short+=(--set "protocol.$p.stimulus.0.duration_ms=70.0"); done

"$cellfit" fit "$examples/l5pc/l5pc_problem.toml" --set "model.morphology=$asc" "${short[@]}" \
  --set fit.ga.population=2 --set fit.ga.offspring=2 --set fit.ga.generations=1 \
  --out "$work/l5pc.h5" --quiet > "$work/fit.log"
[[ -s "$work/l5pc.h5" ]] || { echo "FAIL: no fit result"; cat "$work/fit.log"; exit 1; }

python3 - "$work/l5pc.h5" << 'EOF'
import sys
import h5py
import numpy as np

with h5py.File(sys.argv[1], "r") as f:
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["/fit/objective_names"][()]]
    params = f["/fit/best/params"][()]
    objectives = f["/fit/population/objectives"][()]
    lower, upper = f["/fit/bounds/lower"][()], f["/fit/bounds/upper"][()]
expected = {f"bAP.soma.{x}" for x in ("AP_width", "AP_height", "Spikecount")}
expected |= {f"bAP.{d}.AP_amplitude_from_voltagebase" for d in ("dend1", "dend2")}
expected |= {f"Step{k}.soma.{x}" for k in (1, 2, 3)
             for x in ("AP_height", "AHP_slow_time", "ISI_CV", "doublet_ISI",
                       "adaptation_index2", "mean_frequency", "AHP_depth_abs_slow", "AP_width",
                       "time_to_first_spike", "AHP_depth_abs")}
if set(names) != expected or len(names) != 35:
    sys.exit(f"FAIL: objectives {sorted(set(names) ^ expected)} differ from BluePyOpt's 35")
if not np.all(np.isfinite(objectives)) or np.any(objectives < 0) or np.any(objectives > 250):
    sys.exit("FAIL: objectives not within [0, 250]")
if len(params) != 20 or np.any(params < lower) or np.any(params > upper):
    sys.exit(f"FAIL: best parameters {params} outside the bounds")
print(f"ok: l5pc_problem: 35 objectives, 20 parameters ({len(names)} names)")
EOF
