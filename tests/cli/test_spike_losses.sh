#!/usr/bin/env bash
# Spike-train losses end to end (examples/25_fit_spike_times.toml): gradient fits on the
# spike-time and van Rossum losses and GA (CMA-ES) fits on the spike-time loss and the gamma
# factor recover the hh sodium conductance of a synthetic ground truth from its spike trains; bad settings are refused with one line
# naming the key and value, and nothing is written.
# usage: test_spike_losses.sh CELLFIT_BINARY EXAMPLES_DIR
set -uo pipefail
cellfit=$(realpath "$1")
examples=$(realpath "$2")
source "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/expect.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0
cfg="$examples/25_fit_spike_times.toml"

expect 0 "" -- "$cellfit" fit "$cfg" --out grad.h5 --quiet
expect 0 "" -- "$cellfit" fit "$cfg" --set fit.gradient.loss=van_rossum \
  --set fit.gradient.optimizer=lbfgsb --set fit.gradient.epochs=30 --out vr.h5 --quiet
expect 0 "" -- "$cellfit" fit "$cfg" --engine ga --out ga.h5 --quiet
expect 0 "" -- "$cellfit" fit "$cfg" --engine ga --set fit.ga.objective=gamma_factor \
  --out gamma.h5 --quiet
# The gamma factor is 1 (its loss 0) for every conductance whose spikes all fall within the
# 2 ms window of the target's: it pins gnabar to a few percent, the spike times to 1e-3.
python3 - <<'PY' || fails=$((fails + 1))
import h5py, numpy as np
for name, tol in [("grad.h5", 1e-3), ("vr.h5", 1e-3), ("ga.h5", 1e-3), ("gamma.h5", 0.05)]:
    with h5py.File(name, "r") as f:
        best = f["/fit/best/params"][()]
        truth = f["/fit/ground_truth/params"][()]
        rel = np.abs(best - truth) / truth
        print(name, f.attrs["engine"], "best", best, "truth", truth, "relative error", rel,
              "final loss", f.attrs["final_loss"])
        assert np.all(rel < tol), (name, rel)
with h5py.File("grad.h5", "r") as f:
    assert f.attrs["loss"] == "spike_time", f.attrs["loss"]
PY

# Bad input: one line naming the key, exit 3 (config), no output file.
expect 3 "fit.gradient.loss.*gamma_factor.*GA objective" -- \
  "$cellfit" fit "$cfg" --set fit.gradient.loss=gamma_factor --out bad1.h5
expect 3 "fit.ga.gamma_window_ms.*> 0" -- \
  "$cellfit" fit "$cfg" --engine ga --set fit.ga.gamma_window_ms=0 --out bad2.h5
expect 3 "fit.gradient.van_rossum_tau_ms" -- \
  "$cellfit" fit "$cfg" --set fit.gradient.van_rossum_tau_ms=-2 --out bad3.h5
# A threshold above every spike's peak: the target has no spike.
expect 3 "gamma_factor.*stimulus .* has no spike|gamma_factor.*the target has no spike" -- \
  "$cellfit" fit "$cfg" --engine ga --set fit.ga.objective=gamma_factor \
  --set fit.ga.threshold_mv=80 --out bad4.h5
expect 3 "spike_time.*the target traces have no spike" -- \
  "$cellfit" fit "$cfg" --set fit.gradient.spike_threshold_mv=80 --out bad5.h5
for f in bad1.h5 bad2.h5 bad3.h5 bad4.h5 bad5.h5; do
  [[ -e $f ]] && { echo "FAIL: $f written"; fails=$((fails + 1)); }
done
[[ $fails -eq 0 ]] && echo "all passed" || echo "$fails failed"
exit "$fails"
