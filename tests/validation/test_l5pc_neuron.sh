#!/usr/bin/env bash
# The L5PC channel set, translated from mechanisms/l5pc/*.mod, against NEURON running the same
# .mod files compiled by nrnivmodl, on a ball-and-stick with calcium dynamics (somatic steps,
# 300 ms, two recording sites). usage: test_l5pc_neuron.sh CELLFIT VALIDATION_DIR MOD_DIR
set -euo pipefail
cellfit=$1
here=$2
mods=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$mods"/*.mod "$work"/
(cd "$work" && nrnivmodl > nrnivmodl.log 2>&1) || { cat "$work/nrnivmodl.log"; exit 1; }
lib=$(find "$work" -name libnrnmech.so | head -1)
"$cellfit" simulate "$here/data/l5pc_ball_and_stick.toml" --out "$work/l5pc.h5" --quiet > /dev/null
python3 "$here/l5pc_neuron_reference.py" "$lib" "$work/l5pc.h5"
