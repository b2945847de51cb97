#!/usr/bin/env bash
# Traces of cellfit against NEURON (PyPI `neuron`) on the same morphologies, hh everywhere,
# current steps at soma and dendrites, dt 0.025 ms, 200 ms. Tolerances are far tighter than
# the 0.1 ms / 1 mV acceptance level: both simulators run the same discretisation, so in
# FP64 they agree to rounding (about 1e-10 mV), and any drift in geometry, scheme or
# channel shows. The FP32 kernels are checked against the same NEURON run.
# Then the L5PC channel set by region (mechanisms/l5pc, translated by cellfit; in NEURON the
# same .mod files compiled here by nrnivmodl) on the branched cell and tree184, 1000 ms.
# usage: test_neuron.sh CELLFIT_BINARY VALIDATION_DIR
set -euo pipefail
cellfit=$(realpath "$1")
here=$(realpath "$2")
python3 -c "import neuron, h5py, numpy" 2>/dev/null || {
  echo "test_neuron: python3 with neuron, h5py and numpy is required (pip install neuron h5py numpy)" >&2
  exit 1
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# A branched cell with a three-point soma, axon, basal and apical trees.
cp "$here/../../examples/data/branched.swc" branched.swc
# A multi-point soma with neurites at its first, an interior and its last point.
cp "$here/data/multisoma.swc" multisoma.swc
"$cellfit" info builtin:tree184 --export-swc tree184.swc > /dev/null
# A Neurolucida cell: a soma contour (Import3d's 21-point centroid), an axon, a dendrite that
# branches twice and an apical dendrite, all wired to the soma's middle.
cat > contour.asc <<'ASC'
("CellBody"
  (Color RGB (255, 255, 128))
  (CellBody)
  (  0.52  11.10  0.00 0.46) (  4.31   9.88  0.10 0.46) (  7.95   7.62  0.10 0.46)
  ( 10.80   3.02  0.20 0.46) ( 11.72  -1.43  0.20 0.46) ( 10.12  -6.20  0.10 0.46)
  (  6.05  -9.71  0.00 0.46) (  0.88 -10.64  0.00 0.46) ( -3.40  -9.12 -0.10 0.46)
  ( -7.73  -6.63 -0.10 0.46) (-10.21  -2.05 -0.20 0.46) ( -9.80   2.91 -0.20 0.46)
  ( -7.02   7.05 -0.10 0.46) ( -3.21  10.02  0.00 0.46)
)
( (Color Yellow) (Axon)
  (1.2 -10.5 -1.0 1.0) (1.5 -60.0 -1.5 0.8) (2.1 -200.0 -2.0 0.6)
)
( (Color Green) (Dendrite)
  (10.9 2.1 0.0 2.4) (40.0 9.0 2.0 1.8)
  (
    (52.0 20.0 2.0 1.2) (90.0 61.0 3.0 1.0) Normal
  |
    (50.0 0.0 1.0 1.3) (65.0 -8.0 1.0 1.1)
    ( (95.0 -9.0 0.0 0.8) Normal | (75.0 -45.0 1.0 0.8) Normal )
  )
)
( (Color Red) (Apical)
  (-1.5 11.0 0.0 3.5) (-2.5 80.0 1.0 3.0) (-4.0 150.0 1.5 2.0)
  ( (10.0 210.0 1.5 1.0) Normal | (-20.0 230.0 1.5 0.9) Normal )
)
ASC

run_case() {
  local name=$1 morph=$2 extra=$3 sites_b=$4 precision=${5:-fp64} tolerances=${6:-"--rms-tol 1e-6 --spike-tol 1e-6"}
  cat > "$name.toml" <<TOML
[model]
morphology = "$morph"
$extra
[simulation]
dt_ms = 0.025
t_stop_ms = 200.0
precision = "$precision"
[[stimulus]]
type = "step"
sites = [0]
amplitudes = [0.05, 0.3, 1.0, 4.0]
delay_ms = 20.0
duration_ms = 150.0
[[stimulus]]
type = "step"
sites = $sites_b
amplitude = 0.2
delay_ms = 10.0
duration_ms = 120.0
TOML
  "$cellfit" simulate "$name.toml" --out "$name.h5" --quiet > /dev/null
  echo "== $name"
  # shellcheck disable=SC2086
  python3 "$here/neuron_reference.py" "$name.toml" "$name.h5" $tolerances 2>&1 \
    | grep -v -i -E "display|graphics"
}

status=0
run_case ball_and_stick builtin:ball_and_stick "" "[-1]" || status=1
run_case branched "$work/branched.swc" "max_compartment_um = 20.0" "[-1, 7]" || status=1
run_case multisoma "$work/multisoma.swc" "max_compartment_um = 15.0" "[-1, 9]" || status=1
run_case tree184 "$work/tree184.swc" "" "[100, -1]" || status=1
run_case contour "$work/contour.asc" "max_compartment_um = 20.0" "[-1, 27]" || status=1
# Mixed membrane: hh with a hotter axon in soma and axon, pas in the dendrites, a larger cm
# in the dendrites, celsius 16.3 (q10 = 3), Ra per section list (NEURON's sec.Ra).
run_case mixed "$work/branched.swc" "max_compartment_um = 25.0
ra = {default = 150.0, somatic = 80.0, apical = 220.0}
celsius = 16.3
cm = {default = 1.0, basal = 2.0, apical = 1.5}
[model.mechanisms.hh]
regions = [\"soma\", \"axon\"]
gnabar = {soma = 0.12, axon = 0.3}
[model.mechanisms.pas]
regions = \"dend\"
g = 0.0002
e = -65.0" "[-1, 7]" || status=1
# Discretisation rules, applied in NEURON as a NEURON user would (CellBuilder's d_lambda rule
# with NEURON's lambda_f, BluePyOpt's 1 + 2 int(L/40), ceil(L / max)), with explicit nseg
# per section list overriding the rule.
run_case d_lambda "$work/branched.swc" "nseg_rule = \"d_lambda\"
d_lambda = 0.02
d_lambda_freq_hz = 1000.0
ra = 100.0
cm = {default = 1.0, dend = 2.0}" "[-1, 7]" || status=1
run_case nseg_bluepyopt "$work/tree184.swc" "nseg_rule = \"bluepyopt\"
nseg_length_um = 10.0
nseg = {somatic = 3, axonal = 5}" "[100, -1]" || status=1
run_case nseg_max_length "$work/branched.swc" "nseg_rule = \"max_length\"
max_length_um = 7.3
nseg = {alldend = 2, apical = 4}" "[-1, 7]" || status=1
# Protocols: several IClamps with different amplitudes and timings acting together in one
# cell at section(x) points (placed in NEURON by its own sec(x) node rule), a holding
# current, "soma" as soma[0](0.5) with a soma of nseg 3, every compartment of a list
# (`every`), and named recordings at section(x) points.
cat > protocols.toml <<TOML
[model]
morphology = "$work/branched.swc"
max_compartment_um = 20.0
nseg = { somatic = 3 }
[simulation]
dt_ms = 0.025
t_stop_ms = 200.0
[[simulation.recording]]
name = "soma"
site = "soma"
[[simulation.recording]]
name = "basal_tip"
site = "dend[2](0.9)"
[[simulation.recording]]
name = "apical"
site = "apic[0](0.3)"
[[simulation.recording]]
name = "axon"
site = "axon[0](0.75)"
[[stimulus]]
sites = "soma"
amplitudes = [0.15, 0.6]
delay_ms = 20.0
duration_ms = 150.0
[[protocol]]
name = "three_clamps"
[[protocol.stimulus]]
sites = "soma"
amplitude = 0.25
delay_ms = 30.0
duration_ms = 60.0
[[protocol.stimulus]]
sites = "dend[1](0.5)"
amplitude = 0.4
delay_ms = 60.0
duration_ms = 100.0
[[protocol.stimulus]]
sites = "apic[2](0.7)"
amplitude = -0.2
delay_ms = 10.0
duration_ms = 170.0
[[protocol.stimulus]]
type = "holding"
sites = "axon[0](0.2)"
amplitude = 0.05
[[protocol]]
name = "every_basal"
[[protocol.stimulus]]
every = "basal"
amplitude = 0.12
delay_ms = 40.0
duration_ms = 120.0
holding = -0.01
TOML
"$cellfit" simulate protocols.toml --out protocols.h5 --quiet > /dev/null
echo "== protocols"
python3 "$here/neuron_reference.py" protocols.toml protocols.h5 --rms-tol 1e-6 --spike-tol 1e-6 2>&1 \
  | grep -v -i -E "display|graphics" || status=1
# Single precision: rounding differences grow through spikes; still far inside the
# acceptance level (measured: ~1e-3 mV RMS, ~1e-4 ms spike times).
run_case tree184_fp32 "$work/tree184.swc" "" "[100, -1]" fp32 "--rms-tol 0.02 --spike-tol 0.005" || status=1

# The Blue Brain L5PC distribution by region (BluePyOpt's l5pc release densities; gIhbar
# constant), pas everywhere, celsius 34, ena 50, ek -85, cm 2 in the dendrites, Ra 100;
# GLOBALs and calcium concentrations given explicitly (their defaults) so that those paths
# are exercised. Somatic steps (one subthreshold), 1000 ms, recorded at the soma, the axon's
# far end, a basal and an apical tip. Acceptance: spike times within 0.01 ms and RMS under
# 0.01 mV at every site; measured ~1e-10..1e-8 mV RMS, growing spike by spike with the
# model's own sensitivity (NEURON against itself with the amplitude changed by one ulp
# differs as much).
command -v nrnivmodl > /dev/null || { echo "test_neuron: nrnivmodl (from the neuron wheel) is required" >&2; exit 1; }
mkdir mods
cp "$here/../../mechanisms/l5pc/"*.mod mods/
(cd mods && nrnivmodl > nrnivmodl.log 2>&1) || { cat mods/nrnivmodl.log; exit 1; }
mechlib=$(find "$work" -name libnrnmech.so | head -1)
[ -n "$mechlib" ] || { echo "test_neuron: nrnivmodl made no libnrnmech.so" >&2; exit 1; }

run_l5pc_case() {
  local name=$1 morph=$2 extra=$3 sites=$4 amplitudes=$5
  cat > "$name.toml" <<TOML
[model]
morphology = "$morph"
$extra
celsius = 34.0
ra = 100.0
cm = { default = 1.0, dend = 2.0 }
v_init = -65.0
[model.mechanisms.pas]
regions = "all"
g = 3e-5
e = -75.0
[model.mechanisms.NaTs2_t]
regions = ["soma", "apical"]
gNaTs2_tbar = { soma = 0.983955, apical = 0.026145 }
[model.mechanisms.NaTa_t]
regions = "axon"
gNaTa_tbar = 3.137968
[model.mechanisms.Nap_Et2]
regions = "axon"
gNap_Et2bar = 0.006827
[model.mechanisms.K_Pst]
regions = "axon"
gK_Pstbar = 0.973538
[model.mechanisms.K_Tst]
regions = "axon"
gK_Tstbar = 0.089259
[model.mechanisms.SKv3_1]
regions = ["soma", "axon", "apical"]
gSKv3_1bar = { soma = 0.303472, axon = 1.021945, apical = 0.004226 }
[model.mechanisms.SK_E2]
regions = ["soma", "axon"]
gSK_E2bar = { soma = 0.008407, axon = 0.007104 }
zTau = 1.0
[model.mechanisms.Ca_HVA]
# also on the apical tree, without CaDynamics_E2 there (as in Hay et al.'s full model):
# eca stays fixed there while it follows Nernst at the soma and axon
regions = ["soma", "axon", "apical"]
gCa_HVAbar = { soma = 0.000994, axon = 0.00099, apical = 0.000555 }
[model.mechanisms.Ca_LVAst]
regions = ["soma", "axon"]
gCa_LVAstbar = { soma = 0.000333, axon = 0.008752 }
[model.mechanisms.CaDynamics_E2]
regions = ["soma", "axon"]
gamma = { soma = 0.000609, axon = 0.00291 }
decay = { soma = 210.485291, axon = 287.198731 }
[model.mechanisms.Im]
regions = "apical"
gImbar = 0.000143
[model.mechanisms.Ih]
regions = ["soma", "basal", "apical"]
gIhbar = 8e-5
ehcn = -45.0
[model.ions.na]
e = 50.0
[model.ions.k]
e = -85.0
[model.ions.ca]
ci = 5e-5
co = 2.0
[simulation]
dt_ms = 0.025
t_stop_ms = 1000.0
record_sites = $sites
[[stimulus]]
type = "step"
sites = [0]
amplitudes = $amplitudes
delay_ms = 100.0
duration_ms = 700.0
TOML
  "$cellfit" simulate "$name.toml" --out "$name.h5" --quiet > /dev/null
  echo "== $name"
  # The recording sites are where they are meant to be.
  python3 -c "import h5py, sys
f = h5py.File(sys.argv[1], 'r')
got = [f['/model/compartments/region'][k].decode() for k in f['/traces/sites'][...]]
sys.exit(0 if got == ['soma', 'axon', 'basal', 'apical'] else f'{sys.argv[1]}: sites in {got}')" "$name.h5"
  python3 "$here/neuron_reference.py" "$name.toml" "$name.h5" --mechlib "$mechlib" \
    --rms-tol 0.01 --spike-tol 0.01 2>&1 | grep -v -i -E "display|graphics"
}

# branched (max 20 um; sections in Import3d's order: soma, basal, apical, axon): 0 soma,
# 37 axon's far end, 8 basal tip, 26 apical tip.
run_l5pc_case l5pc_branched "$work/branched.swc" "max_compartment_um = 20.0" "[0, 37, 8, 26]" \
  "[0.05, 0.1, 0.2, 0.4]" || status=1
# tree184 with a 21-segment axon: 0 soma, 21 axon's far end, 121 and 200 the farthest basal
# and apical compartments.
run_l5pc_case l5pc_tree184 "$work/tree184.swc" "nseg = { axon = 21 }" "[0, 21, 121, 200]" \
  "[0.1, 0.3, 1.0, 2.0]" || status=1
exit $status
