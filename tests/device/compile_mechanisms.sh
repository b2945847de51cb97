#!/usr/bin/env bash
# Compiles tests/device/mechanisms_device.cu with nvcc: every catalogue mechanism must be
# device code. Exit 77 (skipped) when nvcc is not installed.
# usage: compile_mechanisms.sh SOURCE_DIR GENERATED_DIR
set -euo pipefail
src=$1
gen=$2
command -v nvcc > /dev/null || { echo "nvcc not found: skipped"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/shim"
cat > "$work/shim/Kokkos_Core.hpp" <<'HPP'
#pragma once
#define KOKKOS_INLINE_FUNCTION __host__ __device__ inline
#define KOKKOS_FORCEINLINE_FUNCTION __host__ __device__ inline
#define KOKKOS_FUNCTION __host__ __device__
HPP
nvcc -std=c++17 --expt-relaxed-constexpr -I "$work/shim" -I "$src" -I "$gen" \
  -c "$src/tests/device/mechanisms_device.cu" -o "$work/mechanisms_device.o"
echo "every catalogue mechanism compiles as device code"
