#!/usr/bin/env bash
# Runs every example config (each must succeed and write its traces; a config with a
# [fit] section is also fitted for a few epochs or generations).
# usage: test_examples.sh CELLFIT_BINARY EXAMPLES_DIR
set -euo pipefail
cellfit=$(realpath "$1")
examples=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0
for cfg in "$examples"/*.toml "$examples"/paper000/*.toml; do
  name=$(basename "$cfg" .toml)
  "$cellfit" simulate "$cfg" --out "$work/$name.h5" --quiet > "$work/$name.log"
  [[ -s "$work/$name.h5" ]] || { echo "FAIL: $name wrote no traces"; exit 1; }
  echo "ok: $name ($(head -1 "$work/$name.log"))"
  if grep -q '^\[fit\]' "$cfg"; then
    # Fit examples: a few epochs of the fit itself (the full runs are bench/paper000_tables.py).
    if grep -q '^engine = "ga"' "$cfg"; then
      few=(--set fit.ga.population=6 --set fit.ga.offspring=6 --set fit.ga.generations=1)
    elif grep -q '^engine = "hybrid"' "$cfg"; then
      few=(--set fit.ga.population=6 --set fit.ga.offspring=6 --set fit.ga.generations=1
           --set fit.gradient.epochs=3)
    else
      few=(--set fit.gradient.epochs=3)
    fi
    (cd "$examples" && "$cellfit" fit "$cfg" "${few[@]}" --out "$work/$name.fit.h5" --quiet) \
      > "$work/$name.fit.log"
    result="$work/$name.fit.h5"
    grep -q '^\[fit.ensemble\]' "$cfg" && result="$work/$name.fit.m0.h5"  # one per member
    [[ -s "$result" ]] || { echo "FAIL: $name wrote no fit result"; exit 1; }
    echo "ok: $name fit ($(head -1 "$work/$name.fit.log"))"
  fi
  n=$((n + 1))
done
[[ $n -gt 0 ]] || { echo "no examples found in $examples"; exit 1; }
