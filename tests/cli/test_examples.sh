#!/usr/bin/env bash
# Runs every example config (each must succeed and write its traces).
# usage: test_examples.sh CELLFIT_BINARY EXAMPLES_DIR
set -euo pipefail
cellfit=$(realpath "$1")
examples=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0
for cfg in "$examples"/*.toml; do
  name=$(basename "$cfg" .toml)
  "$cellfit" simulate "$cfg" --out "$work/$name.h5" --quiet > "$work/$name.log"
  [[ -s "$work/$name.h5" ]] || { echo "FAIL: $name wrote no traces"; exit 1; }
  echo "ok: $name ($(head -1 "$work/$name.log"))"
  n=$((n + 1))
done
[[ $n -gt 0 ]] || { echo "no examples found in $examples"; exit 1; }
