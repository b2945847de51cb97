#!/usr/bin/env bash
# -DCELLFIT_MECHANISMS=dir compiles a folder of the user's .mod files into the catalogue, the
# way nrnivmodl does for NEURON; a bad .mod file stops the configure step with file:line.
# (Configure only: the translated headers are what the build compiles.)
# usage: test_user_mechanisms.sh SOURCE_DIR
set -euo pipefail
src=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/mods"
cat > "$work/mods/kdr_user.mod" <<'MOD'
NEURON {
  SUFFIX kdr_user
  USEION k READ ek WRITE ik
  RANGE gbar
}
PARAMETER { gbar = 0.01 (S/cm2) }
ASSIGNED { v (mV) ek (mV) ik (mA/cm2) }
STATE { n }
INITIAL { n = ninf(v) }
BREAKPOINT {
  SOLVE states METHOD cnexp
  ik = gbar*n*n*n*n*(v - ek)
}
DERIVATIVE states { n' = (ninf(v) - n)/5 }
FUNCTION ninf(u) { ninf = 1/(1 + exp(-(u + 40)/8)) }
MOD
args=(-S "$src" -B "$work/build" -DCELLFIT_MECHANISMS="$work/mods" -DCELLFIT_ENABLE_TESTS=OFF
      -DCELLFIT_ENABLE_BENCHMARKS=OFF)
cmake "${args[@]}" > "$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
catalogue="$work/build/generated/cellfit_generated/catalogue.hpp"
grep -q "mechanisms::kdr_user" "$catalogue" || { echo "FAIL: kdr_user not in the catalogue"; exit 1; }
grep -q "mechanisms::NaTs2_t" "$catalogue" || { echo "FAIL: the built-in set is missing"; exit 1; }
echo "ok: kdr_user joins the catalogue"
printf 'NEURON { SUFFIX bad }\nKINETIC k { ~ a <-> b (1, 2) }\n' > "$work/mods/bad.mod"
if cmake "${args[@]}" > "$work/configure2.log" 2>&1; then
  echo "FAIL: a KINETIC block was accepted"
  exit 1
fi
grep -q "$work/mods/bad.mod:2: KINETIC: construct not supported" "$work/configure2.log" || {
  cat "$work/configure2.log"
  echo "FAIL: no file:line message"
  exit 1
}
echo "ok: bad.mod:2: KINETIC refused at configure time"
