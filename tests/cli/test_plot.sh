#!/usr/bin/env bash
# cellfit plot on a small gradient fit, a small GA fit and a simulate output (the PNGs exist,
# are images of the expected size and are not blank), refusals of files it cannot plot, and
# the first-day items of the command line: compare --print-config, the help texts, and the
# warnings for values in a surprising unit (printed once, never an error).
# usage: test_plot.sh CELLFIT_BINARY
set -uo pipefail
cellfit=$(realpath "$1")
source "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/expect.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0

cat > small.toml <<'TOML'
[model]
morphology = "builtin:ball_and_stick"
[model.mechanisms.hh]
regions = "all"
[simulation]
dt_ms = 0.025
t_stop_ms = 30.0
record_sites = [0, -1]
[[stimulus]]
type = "step"
sites = "soma"
amplitudes = [0.05, 0.3]
delay_ms = 5.0
duration_ms = 20.0
[fit]
output = "small_fit.h5"
[[fit.parameter]]
name = "hh.gnabar"
bounds = [0.05, 0.3]
[[fit.parameter]]
name = "hh.gkbar"
bounds = [0.01, 0.1]
[fit.target]
type = "synthetic"
low = 0.8
high = 1.2
seed = 5
[fit.gradient]
optimizer = "lbfgsb"
epochs = 5
loss = "mse"
[fit.ga]
population = 8
generations = 3
features = ["spike_count", "voltage_base", "AP_amplitude"]
TOML

# The summary prints the fitted values (with the ground truth of a synthetic target).
expect 0 "^hh.gnabar +S/cm2 +[0-9.e-]+ +[0-9.e-]+ +[0-9.e-]+$" -- "$cellfit" fit small.toml -q
expect 0 "^fitted values +unit +gen 0 best +best +ground truth" -- \
  "$cellfit" fit small.toml -q --engine ga --out ga_fit.h5
expect 0 "" -- "$cellfit" simulate small.toml -q --out sim.h5
# A file target: the fitted values are printed too (there is no ground truth to show).
sed -e '/^low =/d' -e '/^high =/d' -e '/^seed = 5/d' \
  -e 's/^type = "synthetic"/type = "file"\nfile = "sim.h5"/' small.toml > file_target.toml
expect 0 "^hh.gkbar +S/cm2 +[0-9.e-]+ +[0-9.e-]+$" -- "$cellfit" fit file_target.toml -q \
  --out file_fit.h5

expect 0 "^plots: .*small_fit_loss.png .*small_fit_traces.png .*small_fit_params.png" -- \
  "$cellfit" plot small_fit.h5 --out-dir png
expect 0 "ga_fit_population.png" -- "$cellfit" plot ga_fit.h5 --out-dir png
expect 0 "sim_traces.png" -- "$cellfit" plot sim.h5 --out-dir png --dpi 60
python3 - <<'PY' || fails=$((fails + 1))
import os
import numpy as np
from matplotlib import image
names = ["small_fit_loss", "small_fit_traces", "small_fit_params", "ga_fit_loss",
         "ga_fit_traces", "ga_fit_params", "ga_fit_population", "sim_traces"]
for n in names:
    p = os.path.join("png", n + ".png")
    assert os.path.getsize(p) > 5000, (p, os.path.getsize(p))
    img = image.imread(p)
    assert img.ndim == 3 and img.shape[0] > 150 and img.shape[1] > 300, (p, img.shape)
    # Not blank: many distinct colours, and a good share of the pixels drawn on.
    rgb = img[..., :3].reshape(-1, 3)
    assert len(np.unique(np.round(rgb, 2), axis=0)) > 20, p
    assert (rgb.min(axis=1) < 0.9).mean() > 0.02, p
assert not os.path.exists("png/small_fit_population.png")  # the gradient has no population
print("ok: PNGs non-trivial")
PY

# Files it cannot plot: one line naming the file, exit 5.
expect 5 "cellfit::plot: missing.h5: no such file" -- "$cellfit" plot missing.h5
echo "not hdf5" > text.h5
expect 5 "text.h5: not an HDF5 file" -- "$cellfit" plot text.h5
mkdir adir
expect 5 "adir: a directory" -- "$cellfit" plot adir
python3 -c "import h5py; h5py.File('other.h5', 'w')['x'] = 1"
expect 5 "other.h5: not a cellfit fit or simulate result" -- "$cellfit" plot other.h5
expect 2 "" -- "$cellfit" plot
expect 0 "FIT_loss.png" -- "$cellfit" plot --help

# compare: the built-in problem printable, and read back as a config; no {false} in --help.
expect 0 "^\[fit\]" -- "$cellfit" compare --print-config
"$cellfit" compare --print-config > builtin.toml
expect 0 "compartments" -- "$cellfit" info builtin.toml
expect 2 "takes no CONFIG" -- "$cellfit" compare builtin.toml --print-config
if "$cellfit" compare --help | grep -q "{false}"; then
  echo "FAIL: compare --help shows {false}"; fails=$((fails + 1))
else
  echo "ok: compare --help without {false}"
fi
expect 0 "per generation \(GA\)" -- "$cellfit" fit --help

# Values in a surprising unit: one warning each on stderr, the run goes on (exit 0).
warn() {  # warn PATTERN --set ...: exactly one matching warning line
  local pattern=$1
  shift
  local err
  err=$("$cellfit" simulate small.toml -q --out w.h5 "$@" 2>&1 > /dev/null)
  local rc=$?
  local n
  n=$(grep -c -E -- "$pattern" <<< "$err")
  if [[ $rc -ne 0 || $n -ne 1 ]]; then
    echo "FAIL: simulate $* exited $rc with $n warnings /$pattern/"; echo "$err" | tail -3
    fails=$((fails + 1))
  else
    echo "ok: $* warns once"
  fi
}
warn "warning: simulation.dt_ms = 25: .*0.025" --set simulation.dt_ms=25 \
  --set simulation.t_stop_ms=50
warn "warning: model.celsius = 307: .*kelvin" --set model.celsius=307
warn "warning: hh.gnabar = 120: .*0.12 S/cm2" --set model.mechanisms.hh.gnabar=120
warn "warning: a stimulus injects 100 nA: .*0.1 nA" --set "stimulus.0.amplitudes=[100.0, 0.1]"
err=$("$cellfit" simulate small.toml -q --out w.h5 2>&1 > /dev/null)
if grep -q warning <<< "$err"; then
  echo "FAIL: a plausible config warns: $err"; fails=$((fails + 1))
else
  echo "ok: no warning for plausible values"
fi

echo "failures: $fails"
[[ $fails -eq 0 ]]
