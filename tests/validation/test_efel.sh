#!/usr/bin/env bash
# cellfit's feature library against eFEL (PyPI `efel`, the version docs/features.md names) on
# traces that cellfit itself simulates: regular spiking, adapting, bursting, subthreshold,
# hyperpolarising with sag, passive, spikes before the stimulus, a trace that starts above
# the threshold, traces that stop in the middle of a spike, no spikes, and recordings whose
# sample interval is finer, coarser and not a divisor of eFEL's 0.1 ms resampling step.
# Every feature cellfit computes is compared on every trace: both fail, or both give arrays
# of the same length equal to 1e-6 relative (in practice they agree to the last bit: the
# library repeats eFEL's arithmetic). Then the `cellfit features` command's bad-input
# handling and its thread-count independence.
# usage: test_efel.sh CELLFIT_BINARY VALIDATION_DIR
set -euo pipefail
cellfit=$(realpath "$1")
here=$(realpath "$2")
python3 -c "import efel, h5py, numpy" 2> /dev/null || {
  echo "test_efel: python3 with efel, h5py and numpy is required (pip install efel h5py numpy)" >&2
  exit 1
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
status=0
summary="$work/summary.jsonl"

# Current waveforms (t_ms, nA); zero outside [20, 170] ms except the bursts.
python3 - << 'PY'
import math
def write(name, f, t0=20.0, t1=170.0):
    with open(name, "w") as out:
        out.write("t_ms,current\n0,0\n%.3f,0\n" % (t0 - 0.001))
        t = t0
        while t <= t1 + 1e-9:
            out.write("%.3f,%.9f\n" % (t, f(t)))
            t += 0.5
        out.write("%.3f,0\n200,0\n" % (t1 + 0.001))
# Adapting: a strong drive that decays, so the firing rate falls.
write("adapting.csv", lambda t: 0.3 + 1.7 * math.exp(-(t - 20.0) / 40.0))
# Sag: a hyperpolarising current stronger at the start of the step, then relaxing.
write("sag.csv", lambda t: -0.3 - 0.5 * math.exp(-(t - 20.0) / 10.0))
# Bursts: four 15 ms pulses of 3 nA, 35 ms apart, each giving a group of spikes.
with open("bursts.csv", "w") as out:
    out.write("t_ms,current\n0,0\n")
    for b in range(4):
        on = 30.0 + 35.0 * b
        out.write("%.3f,0\n%.3f,3\n%.3f,3\n%.3f,0\n" % (on - 0.001, on, on + 15.0, on + 15.001))
    out.write("200,0\n")
PY

# One model, many stimuli; each case differs in recording or initial state.
model_block() {
  local v_init=$1 record_every=$2 t_stop=$3
  cat << TOML
[model]
morphology = "builtin:ball_and_stick"
v_init = $v_init
[simulation]
dt_ms = 0.025
t_stop_ms = $t_stop
record_every = $record_every
record_sites = [0, -1]
TOML
}
step() {  # amplitude delay duration [holding]
  printf '[[stimulus]]\ntype = "step"\nsites = [0]\namplitude = %s\ndelay_ms = %s\nduration_ms = %s\n' "$1" "$2" "$3"
  [[ -n ${4:-} ]] && printf 'holding = %s\n' "$4"
  return 0
}
waveform() {
  printf '[[stimulus]]\ntype = "waveform"\nfile = "%s"\nsites = [0]\n' "$1"
}

run_case() {  # name current-flag efel_reference-args...
  local name=$1
  shift
  "$cellfit" simulate "$name.toml" --out "$name.h5" --quiet > /dev/null
  "$cellfit" features "$name.h5" --features all --out "$name.feat.h5" --threads 2 > "$name.table"
  echo "== $name"
  python3 "$here/efel_reference.py" "$name.h5" "$name.feat.h5" --label "$name" \
    --summary "$summary" "$@" || status=1
}

# Regular spiking, subthreshold, hyperpolarising and no-spike steps; spikes before the
# stimulus (a holding current); a ramp; adapting, bursting and sag waveforms.
{
  model_block -65 1 200
  step 0.0 20 150
  step 0.02 20 150
  step -0.3 20 150
  step 0.3 20 150
  step 1.0 20 150
  step 3.0 20 150
  step 0.3 60 100 0.25
  printf '[[stimulus]]\ntype = "ramp"\nsites = [0]\namplitude_start = 0.0\namplitude_end = 1.5\ndelay_ms = 20\nduration_ms = 150\n'
  waveform adapting.csv
  waveform bursts.csv
  waveform sag.csv
} > kinds.toml
windows=(--window 20 170 --window 20 170 --window 20 170 --window 20 170 --window 20 170
  --window 20 170 --window 60 160 --window 20 170 --window 20 170 --window 30 150
  --window 20 170)
run_case kinds "${windows[@]}"

# The same recordings sampled every 0.05 ms, every 0.2 ms (coarser than eFEL's 0.1 ms
# step) and every 0.075 ms (not a divisor of it).
for every in 2 8 3; do
  sed "s/^record_every = 1$/record_every = $every/" kinds.toml > "kinds_every$every.toml"
  run_case "kinds_every$every" "${windows[@]}"
done

# A trace that starts above the threshold (v_init -10 mV), with and without a stimulus.
{
  model_block -10 1 200
  step 0.0 20 150
  step 0.5 20 150
  step -0.2 20 150
} > above.toml
run_case above --window 20 170

# The second recorded site (distal dendrite) of the same cells, passive cells (decay time
# constant of a clean exponential), explicit windows and current from the command line.
"$cellfit" features kinds.h5 --features all --site 1 --out kinds_site1.feat.h5 > /dev/null
echo "== kinds, site 1"
python3 "$here/efel_reference.py" kinds.h5 kinds_site1.feat.h5 --label kinds_site1 \
  --summary "$summary" || status=1
{
  model_block -70 1 150
  printf '[model.mechanisms.pas]\nregions = "all"\ng = 0.0005\ne = -70.0\n'
  step -0.1 20 80
  step 0.1 20 80
  step 0.05 10 100
} > passive.toml
"$cellfit" simulate passive.toml --out passive.h5 --quiet > /dev/null
"$cellfit" features passive.h5 --features all --stim-start 20 --stim-end 100 --current -0.1 \
  --out passive.feat.h5 > /dev/null
echo "== passive"
python3 "$here/efel_reference.py" passive.h5 passive.feat.h5 --label passive --window 20 100 \
  --current -0.1 --summary "$summary" || status=1

# Other thresholds (the settings reach eFEL through the output's attributes).
"$cellfit" features kinds.h5 --features all --threshold -35 --derivative-threshold 25 \
  --out kinds_thr.feat.h5 > /dev/null
echo "== kinds, threshold -35 mV, derivative threshold 25 mV/ms"
python3 "$here/efel_reference.py" kinds.h5 kinds_thr.feat.h5 --label kinds_thr \
  --summary "$summary" || status=1

# The distal dendrite at -55 mV, the threshold BluePyOpt's L5PC uses at its dendritic bAP
# recordings (spikes that arrive attenuated).
"$cellfit" features kinds.h5 --features all --site 1 --threshold -55 \
  --out kinds_site1_thr.feat.h5 > /dev/null
echo "== kinds, site 1, threshold -55 mV"
python3 "$here/efel_reference.py" kinds.h5 kinds_site1_thr.feat.h5 --label kinds_site1_thr \
  --summary "$summary" || status=1

# Traces that stop in the middle of a spike: at the peak of the 1st, 2nd and 4th spike of a
# 1 nA step, on the rising edge (above the threshold) of the 3rd, and while still falling
# after the 1st and the 2nd (the AHP minimum would be the last sample: eFEL drops it).
{
  model_block -65 1 200
  step 1.0 20 150
} > long.toml
"$cellfit" simulate long.toml --out long.h5 --quiet > /dev/null
stops=$(python3 - << 'PY'
import h5py, numpy as np
with h5py.File("long.h5", "r") as f:
    v = f["/traces/voltage"][0, 0, :]
    t = f["/traces/time_ms"][...]
up = np.where((v[:-1] < -20) & (v[1:] >= -20))[0] + 1
stops = []
for k in (0, 1, 3):  # peaks: the first local maximum after the crossing
    i = up[k]
    while v[i + 1] > v[i]:
        i += 1
    stops.append(t[i])
stops.append(t[up[2] + 1])  # rising, above the threshold
for k in (0, 1):  # repolarising, below the threshold
    i = up[k]
    while v[i] > -40:
        i += 1
    stops.append(t[i])
print(" ".join("%.3f" % s for s in stops))
PY
)
for stop in $stops; do
  name="midspike_${stop/./_}"
  sed "s/^t_stop_ms = 200$/t_stop_ms = $stop/" long.toml > "$name.toml"
  run_case "$name" --window 20 "$stop"
done

# Every feature over every case: agreement counts and the largest relative difference.
python3 - "$summary" << 'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    s = rows.setdefault(r["feature"], {"both_ok": 0, "both_failed": 0, "max_rel": 0.0, "bad": 0})
    s["both_ok"] += r["both_ok"]
    s["both_failed"] += r["both_failed"]
    s["max_rel"] = max(s["max_rel"], r["max_rel"])
    s["bad"] += r["mismatches"]
print("\n== all cases: cellfit features vs eFEL")
print(f"{'feature':34s} {'both ok':>7s} {'both n/a':>8s} {'max rel diff':>12s} {'mismatch':>8s}")
for n, s in rows.items():
    print(f"{n:34s} {s['both_ok']:7d} {s['both_failed']:8d} {s['max_rel']:12.3g} {s['bad']:8d}")
PY

# Thread-count independence of the command's output.
"$cellfit" features kinds.h5 --features all --threads 1 --out t1.h5 > t1.table
"$cellfit" features kinds.h5 --features all --threads 3 --out t3.h5 > t3.table
python3 - << 'PY' || status=1
import h5py, numpy as np
with h5py.File("t1.h5", "r") as a, h5py.File("t3.h5", "r") as b:
    for n in a["/features/names"][...]:
        n = n.decode() if isinstance(n, bytes) else n
        for d in ("mean", "values", "offsets", "ok"):
            x, y = a[f"/features/{n}/{d}"][...], b[f"/features/{n}/{d}"][...]
            assert np.array_equal(x, y, equal_nan=True), (n, d)
print("ok: --threads 1 and --threads 3 give identical output")
PY
cmp -s <(grep -v '^->' t1.table) <(grep -v '^->' t3.table) ||
  { echo "FAIL: tables differ between thread counts"; status=1; }

# Bad input: exit codes and messages (docs/cli.md), and no output file after an error.
set +e
fails=0
source "$here/../cli/expect.sh"
expect 5 "cannot open" -- "$cellfit" features missing.h5 --features spike_count --out e.h5
echo "not hdf5" > text.h5
expect 5 "not an HDF5 file" -- "$cellfit" features text.h5 --features spike_count --out e.h5
python3 -c "import h5py; h5py.File('empty.h5', 'w').create_dataset('/x', data=[1.0])"
expect 5 "no dataset '/traces/voltage'" -- "$cellfit" features empty.h5 --features spike_count --out e.h5
expect 3 "unknown feature 'spikecount'" -- "$cellfit" features kinds.h5 --features spike_count,spikecount --out e.h5
expect 2 "" -- "$cellfit" features kinds.h5
expect 2 "--site 2" -- "$cellfit" features kinds.h5 --features spike_count --site 2 --out e.h5
expect 2 "both --stim-start and --stim-end" -- "$cellfit" features kinds.h5 --features spike_count --stim-start 5
expect 2 "greater than --stim-start" -- "$cellfit" features kinds.h5 --features spike_count --stim-start 50 --stim-end 10
python3 - << 'PY'
import h5py
with h5py.File("kinds.h5", "r") as a, h5py.File("nowindow.h5", "w") as b:
    for d in ("/traces/voltage", "/traces/time_ms"):
        b.create_dataset(d, data=a[d][...])
PY
expect 2 "pass --stim-start MS and --stim-end MS" -- "$cellfit" features nowindow.h5 --features spike_count --out e.h5
expect 0 "spike_count" -- "$cellfit" features nowindow.h5 --features spike_count --stim-start 20 --stim-end 170
expect 5 "cannot write" -- "$cellfit" features kinds.h5 --features spike_count --out /nonexistent-dir/x.h5
[[ -e e.h5 ]] && { echo "FAIL: e.h5 written after an error"; fails=$((fails + 1)); }
ls ./*.tmp.* > /dev/null 2>&1 && { echo "FAIL: temporary left behind"; fails=$((fails + 1)); }
[[ $fails -eq 0 ]] || status=1
exit $status
