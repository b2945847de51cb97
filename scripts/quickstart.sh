#!/usr/bin/env bash
# From a fresh Debian machine: install the dependencies, build, and run the main job:
# `cellfit compare` on its built-in problem (paper 000's toy), the GA, the gradient engine
# and the hybrid on one budget; the table on stdout, compare.h5 and PNGs in compare/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
mkdir -p build
bash scripts/build.sh
./build/src/cellfit compare --out-dir compare
