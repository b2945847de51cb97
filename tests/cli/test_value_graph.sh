#!/usr/bin/env bash
# A compartment graph given by values (examples/26_value_graph_3comp.toml): cellfit simulate
# writes the three compartments' traces, which reach the steady state of the linear system
# (G v = I, solved here with numpy); cellfit info --compartments lists the graph; a cycle is
# refused with one line naming the file and the edge.
# usage: test_value_graph.sh CELLFIT_BINARY EXAMPLES_DIR
set -uo pipefail
cellfit=$(realpath "$1")
examples=$(realpath "$2")
source "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/expect.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0
cfg="$examples/26_value_graph_3comp.toml"

expect 0 "1 cells?" -- "$cellfit" simulate "$cfg" --out graph.h5 --quiet \
  --set simulation.t_stop_ms=1000 --set stimulus.0.duration_ms=1000
if python3 -c "import h5py" 2> /dev/null; then
  python3 - <<'PY' || fails=$((fails + 1))
import h5py, numpy as np
C = np.array([125.0, 100.0, 50.0])            # pF (soma, apical, basal)
gl = np.array([10.0, 2.0, 5.0])               # nS
K = np.diag(gl) + np.array([[10.0, -5, -5], [-5, 5, 0], [-5, 0, 5]])
v_ss = -65.0 + np.linalg.solve(K, [280.0, 0, 0])   # pA / nS = mV
with h5py.File("graph.h5", "r") as f:
    v = f["/traces/voltage"][...]
    assert v.shape[0] == 1 and v.shape[1] == 3, v.shape
    last = v[0, :, -1]
    assert np.max(np.abs(last - v_ss)) < 1e-6, (last, v_ss)
    print("ok: steady state", last, "analytic", v_ss)
PY
fi
expect 0 "apical +apical +100 +soma +5 +2 +-65" -- "$cellfit" info "$cfg" --compartments
expect 0 "value graph" -- "$cellfit" info "$cfg"

# A cycle: one line naming the file, the line and the edge.
sed 's/^\[simulation\]/[[model.graph.edge]]\nfrom = "apical"\nto = "basal"\ng_ns = 1.0\n[simulation]/' \
  "$cfg" > cycle.toml
out=$("$cellfit" simulate cycle.toml --out cycle.h5 --quiet 2>&1)
rc=$?
if [[ $rc -eq 0 ]] || [[ $(wc -l <<< "$out") -ne 1 ]] ||
   ! grep -qE "cycle.toml:[0-9]+: model.graph.edge\[2\]: edge 2 \(apical -- basal\) closes a cycle" <<< "$out"; then
  echo "FAIL: cycle not refused in one line ($rc): $out"; fails=$((fails + 1))
else
  echo "ok: cycle refused: $out"
fi

echo "$fails failure(s)"
[[ $fails -eq 0 ]]
