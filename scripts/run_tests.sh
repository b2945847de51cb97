#!/usr/bin/env bash
# Builds (if needed) and runs every test: unit, validation against NEURON, examples, CLI
# behaviour and the benchmark smoke run. Extra arguments go to ctest (e.g. -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
bash scripts/build.sh ${CELLFIT_CMAKE_ARGS:-}
cd build
ctest --output-on-failure -j "$(nproc 2> /dev/null || echo 2)" "$@"
