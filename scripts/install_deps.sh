#!/usr/bin/env bash
# Installs what cellfit needs on Debian 12 (bookworm): the build dependencies from Debian
# and the Python peers used by the validation tests and benchmarks from PyPI.
# Run as root, or as a user with sudo.
set -euo pipefail
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

packages=(
  build-essential cmake git pkg-config
  libtrilinos-kokkos-dev          # Kokkos 3.4 (Serial backend)
  libopenmpi-dev openmpi-bin      # MPI
  libhdf5-openmpi-dev             # parallel HDF5
  libeigen3-dev                   # host-side linear algebra
  liblbfgspp-dev                  # L-BFGS-B (header-only, on Eigen) for the gradient engine
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libtoml11-dev      # command line and config
  nlohmann-json3-dev              # BluePyOpt features.json / protocols.json
  libmuparser-dev                 # expressions of distance-dependent parameter densities
  slurm-wlm                       # slurmctld, slurmd, sbatch, srun: tests/slurm (ctest -L slurm)
  python3 python3-pip python3-dev # python3-dev: the headers the Python module (python/) builds on
)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" > /dev/null 2>&1 || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "install_deps: apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi

# Python peers: NEURON (its NMODL front end is the mechanism translator's parser, at build
# time; validation, benchmarks), sympy (the translator's cnexp solutions), eFEL (feature
# validation), DEAP and BluePyOpt (selection validation and benchmark), h5py and numpy
# (reading results), matplotlib (the PNG plots of `cellfit compare` and
# bench/plot_scaling.py), pytest (the translator's and the Python module's tests), Arbor (the
# L5PC mechanisms against Arbor's bbp catalogue, tests/validation/arbor_l5pc_mechanisms.py),
# nanobind (the Python module's bindings, python/), scikit-build-core (`pip install .`),
# scipy (the Python tests drive the gradient with scipy.optimize), nbclient, nbformat and
# ipykernel (CTest executes examples/notebooks/tour.ipynb), pynwb (the recording tests write
# NWB files with it; cellfit reads them through HDF5) and pyabf (the Python module reads ABF
# recordings with it).
py_missing=$(python3 - <<'PY'
import importlib.util
print(" ".join(m for m, mod in (("neuron", "neuron"), ("efel", "efel"), ("deap", "deap"),
                                     ("bluepyopt", "bluepyopt"),
                                     ("h5py", "h5py"), ("numpy", "numpy"),
                                     ("matplotlib", "matplotlib"), ("sympy", "sympy"),
                                     ("pytest", "pytest"), ("arbor", "arbor"),
                                     ("nanobind", "nanobind"),
                                     ("scikit-build-core", "scikit_build_core"),
                                     ("scipy", "scipy"), ("nbclient", "nbclient"),
                                     ("nbformat", "nbformat"), ("ipykernel", "ipykernel"),
                                     ("pynwb", "pynwb"), ("pyabf", "pyabf"))
               if importlib.util.find_spec(mod) is None))
PY
)
if [[ -n $py_missing ]]; then
  echo "install_deps: pip install $py_missing"
  python3 -m pip install -q $py_missing 2> /dev/null ||
    python3 -m pip install -q --break-system-packages $py_missing
fi
echo "install_deps: done"
