#!/usr/bin/env bash
# BluePyOpt's L5PC optimisation problem (examples/l5pc/l5pc_problem.toml) runs: a GA of 2
# individuals and 1 generation on shortened protocols (100 ms each, the steps moved to 20 ms;
# the full problem is 9.6 s of biological time per evaluation), all 35 objectives present and
# finite, the 20 parameters inside their bounds. Then paper 004's TTPC
# (examples/l5pc/ttpc_paper004.toml) the same way: 8 steps shortened to 100 ms, its 14
# parameters by name inside their bounds (one tenth to ten times the release values), the
# synthetic ground truth inside them, one summed objective. C060114A7.asc comes from the
# installed bluepyopt wheel (never copied into the project).
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

# Paper 004's TTPC: 8 steps of 70 ms from 20 ms (the config: 1 s from 200 ms).
"$cellfit" fit "$examples/l5pc/ttpc_paper004.toml" --set "model.morphology=$asc" \
  --set simulation.t_stop_ms=100.0 --set stimulus.0.delay_ms=20.0 \
  --set stimulus.0.duration_ms=70.0 --set fit.ga.population=2 --set fit.ga.offspring=2 \
  --set fit.ga.generations=1 --out "$work/ttpc.h5" --quiet > "$work/ttpc.log"
[[ -s "$work/ttpc.h5" ]] || { echo "FAIL: no TTPC fit result"; cat "$work/ttpc.log"; exit 1; }

python3 - "$work/ttpc.h5" << 'EOF'
import sys
import h5py
import numpy as np

def strings(d):
    return [n.decode() if isinstance(n, bytes) else str(n) for n in d[()]]

with h5py.File(sys.argv[1], "r") as f:
    names = strings(f["/fit/param_names"])
    objective_names = strings(f["/fit/objective_names"])
    params = f["/fit/best/params"][()]
    truth = f["/fit/ground_truth/params"][()]
    objectives = f["/fit/population/objectives"][()]
    lower, upper = f["/fit/bounds/lower"][()], f["/fit/bounds/upper"][()]
release = {"pas.g": 3e-5, "NaTa_t.gNaTa_tbar@axonal": 3.137968,
           "K_Tst.gK_Tstbar@axonal": 0.089259, "Nap_Et2.gNap_Et2bar@axonal": 0.006827,
           "K_Pst.gK_Pstbar@axonal": 0.973538, "SKv3_1.gSKv3_1bar@axonal": 1.021945,
           "Ca_LVAst.gCa_LVAstbar@axonal": 0.008752, "Ca_HVA.gCa_HVAbar@axonal": 0.000990,
           "SKv3_1.gSKv3_1bar@somatic": 0.303472, "Ca_HVA.gCa_HVAbar@somatic": 0.000994,
           "NaTs2_t.gNaTs2_tbar@somatic": 0.983955, "Ca_LVAst.gCa_LVAstbar@somatic": 0.000333,
           "Ih.gIhbar@apical": 8e-5}
if len(names) != 14 or set(names) != set(release) | {"pas.e"}:
    sys.exit(f"FAIL: TTPC parameters {names} are not paper 004's 14")
for i, n in enumerate(names):
    lo, hi = (-100.0, -50.0) if n == "pas.e" else (release[n] / 10, release[n] * 10)
    if not (np.isclose(lower[i], lo, rtol=1e-12) and np.isclose(upper[i], hi, rtol=1e-12)):
        sys.exit(f"FAIL: {n}: bounds [{lower[i]}, {upper[i]}], expected [{lo}, {hi}]")
if np.any(params < lower) or np.any(params > upper) or np.any(truth < lower) or np.any(truth > upper):
    sys.exit("FAIL: TTPC best parameters or ground truth outside the bounds")
if len(objective_names) != 1 or not np.all(np.isfinite(objectives)) or np.any(objectives < 0):
    sys.exit(f"FAIL: TTPC objectives {objective_names}: expected one finite summed score")
print(f"ok: ttpc_paper004: 14 parameters within 1/10..10x release, objective {objective_names[0]}")
EOF

# The trace-fitting comparison on the same cell (examples/l5pc/l5pc_compare.toml): the GA and
# the gradient engine on a tiny budget, protocols cut to 30 ms; the gradient starts away from
# the ground truth and lowers the loss.
cmp=(--set "model.morphology=$asc" --set simulation.t_stop_ms=30.0)
for p in 0 1 2 3; do
  cmp+=(--set "protocol.$p.t_stop_ms=30.0" --set "protocol.$p.stimulus.0.delay_ms=5.0")
done
for p in 1 2 3; do cmp+=(--set "protocol.$p.stimulus.0.duration_ms=20.0"); done
"$cellfit" compare "$examples/l5pc/l5pc_compare.toml" "${cmp[@]}" --budget 16 \
  --engines ga,gradient --no-plots --quiet --out-dir "$work/cmp" > "$work/cmp.log" 2>&1 ||
  { echo "FAIL: l5pc_compare"; tail -5 "$work/cmp.log"; exit 1; }
python3 - "$work/cmp/compare.h5" << 'EOF'
import sys
import h5py
import numpy as np

with h5py.File(sys.argv[1], "r") as f:
    loss = f["/compare/gradient/history/loss"][()]
if not (np.isfinite(loss[0]) and loss[0] > 0 and np.nanmin(loss) < loss[0]):
    sys.exit(f"FAIL: l5pc_compare: the gradient engine's loss {loss} did not fall from its start")
print(f"ok: l5pc_compare: gradient loss {loss[0]:.4g} -> {np.nanmin(loss):.4g}")
EOF
