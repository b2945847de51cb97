#!/usr/bin/env bash
# From a fresh Debian machine: install the dependencies, build, and run the main job on the
# built-in default problem (ball-and-stick hh cell, 4 parameter sets x 6 current steps),
# writing the traces to default_sim.h5.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
mkdir -p build
bash scripts/build.sh
./build/src/cellfit simulate --out default_sim.h5
