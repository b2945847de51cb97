#!/usr/bin/env bash
# cellfit import-bluepyopt end to end: BluePyOpt's config layout (the files of its L5PC
# example in miniature, on a small cell) becomes a config that `cellfit fit` runs (2
# individuals, 1 generation), and bad input is refused with one line naming the file and
# key, exit code 3 (config) or 5 (I/O), and nothing written or overwritten.
# usage: test_import_bluepyopt.sh CELLFIT_BINARY
set -uo pipefail
cellfit=$(realpath "$1")
source "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/expect.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0

mkdir bpo
cat > cell.swc << 'SWC'
1 1 0 0 0 10 -1
2 2 0 -10 0 0.5 1
3 2 0 -70 0 0.5 2
4 3 10 0 0 1 1
5 3 110 0 0 1 4
6 4 0 10 0 1.5 1
7 4 0 160 0 1.2 6
8 4 0 310 0 1 7
SWC
cat > bpo/mechanisms.json << 'JSON'
{"all": ["pas"], "somatic": ["NaTs2_t", "SKv3_1"], "axonal": ["NaTa_t", "SKv3_1"],
 "apical": ["Ih"]}
JSON
cat > bpo/parameters.json << 'JSON'
[{"param_name": "g_pas", "sectionlist": "all", "type": "section", "value": 3e-05},
 {"param_name": "e_pas", "sectionlist": "all", "type": "section", "value": -75},
 {"param_name": "Ra", "sectionlist": "all", "type": "section", "value": 100},
 {"param_name": "celsius", "type": "global", "value": 34},
 {"param_name": "ena", "sectionlist": "somatic", "type": "section", "value": 50},
 {"param_name": "ek", "sectionlist": "somatic", "type": "section", "value": -85},
 {"param_name": "gIhbar_Ih", "mech": "Ih", "mech_param": "gIhbar", "sectionlist": "apical",
  "type": "range", "dist_type": "exp", "value": 8e-05,
  "dist": "(-0.8696 + 2.087*math.exp(({distance})*0.0031))*{value}"},
 {"param_name": "gNaTs2_tbar_NaTs2_t", "mech": "NaTs2_t", "mech_param": "gNaTs2_tbar",
  "sectionlist": "somatic", "type": "range", "bounds": [0, 1]},
 {"param_name": "gSKv3_1bar_SKv3_1", "mech": "SKv3_1", "mech_param": "gSKv3_1bar",
  "sectionlist": "somatic", "type": "range", "bounds": [0, 1]},
 {"param_name": "gNaTa_tbar_NaTa_t", "mech": "NaTa_t", "mech_param": "gNaTa_tbar",
  "sectionlist": "axonal", "type": "range", "value": 3.1}]
JSON
cat > bpo/protocols.json << 'JSON'
{"bAP": {"stimuli": [{"delay": 20, "amp": 1.9, "duration": 5, "totduration": 60}],
         "extra_recordings": [{"var": "v", "somadistance": 150, "type": "somadistance",
                               "name": "dend1", "seclist_name": "apical"}]},
 "Step1": {"stimuli": [{"delay": 10, "amp": 0.458, "duration": 50, "totduration": 80},
                       {"delay": 0, "amp": -0.126, "duration": 80, "totduration": 80}]}}
JSON
cat > bpo/features.json << 'JSON'
{"bAP": {"soma": {"Spikecount": [1.0, 0.01]},
         "dend1": [{"feature": "AP_amplitude_from_voltagebase", "val": [45, 10],
                    "threshold": -55}]},
 "Step1": {"soma": {"AP_height": [25.0, 3.1], "mean_frequency": [20, 5]}}}
JSON

expect 0 "wrote model.toml" -- "$cellfit" import-bluepyopt --config-dir bpo --morphology cell.swc \
  --out model.toml
expect 0 "4 objectives from 4 feature targets" -- "$cellfit" fit model.toml \
  --set fit.ga.population=2 --set fit.ga.offspring=2 --set fit.ga.generations=1 --out fit.h5
python3 - << 'PY' || fails=$((fails + 1))
import h5py
with h5py.File("fit.h5", "r") as f:
    names = [n.decode() if isinstance(n, bytes) else n for n in f["/fit/param_names"][...]]
    assert names == ["NaTs2_t.gNaTs2_tbar@somatic", "SKv3_1.gSKv3_1bar@somatic"], names
    stims = [n.decode() if isinstance(n, bytes) else n for n in f["/fit/stimuli/names"][...]]
    assert stims == ["bAP", "Step1"], stims
    own = [n.decode() if isinstance(n, bytes) else n for n in f["/fit/target/features/settings"][...]]
    assert own == ["", "Threshold=-55", "", ""], own
PY

# Bad input: one line naming file and key; an existing output is left as it was.
echo "keep" > kept.toml
bad() {  # file sed-expression code pattern
  rm -rf badcfg && cp -r bpo badcfg
  sed -i "$2" "badcfg/$1"
  expect "$3" "$4" -- "$cellfit" import-bluepyopt --config-dir badcfg --morphology cell.swc \
    --out kept.toml
}
bad mechanisms.json 's/"Ih"/"Ihh"/' 3 "mechanisms.json: apical: unknown mechanism 'Ihh'"
bad mechanisms.json 's/"axonal"/"myelinated"/' 3 "mechanisms.json: myelinated: unknown section list"
bad parameters.json 's/"sectionlist": "axonal"/"sectionlist": "basal"/' 3 \
  "parameters.json: \[9\] \(gNaTa_tbar_NaTa_t\): mechanism 'NaTa_t' is not inserted on basal"
bad protocols.json 's/"seclist_name": "apical"/"seclist_name": "tuft"/' 3 \
  "protocols.json: bAP.extra_recordings\[0\].seclist_name: unknown section list 'tuft'"
bad features.json 's/"dend1"/"dend2"/' 3 "features.json: bAP.dend2: names a recording not defined"
bad features.json 's/mean_frequency/mean_freq/' 3 \
  "features.json: Step1.soma: feature 'mean_freq' is not in cellfit's library"
bad features.json 's/"threshold": -55/"min_spike_height": 10/' 3 \
  "AP_amplitude_from_voltagebase: min_spike_height: not a per-feature setting"
bad parameters.json 's/\]$/,/' 5 "parameters.json is not valid JSON"
expect 5 "nope.asc: no such morphology file" -- "$cellfit" import-bluepyopt --config-dir bpo \
  --morphology nope.asc --out kept.toml
expect 5 "missing: no such directory" -- "$cellfit" import-bluepyopt --config-dir missing \
  --morphology cell.swc --out kept.toml
expect 2 "" -- "$cellfit" import-bluepyopt --config-dir bpo --out kept.toml
[[ $(cat kept.toml) == keep ]] || { echo "FAIL: kept.toml was overwritten"; fails=$((fails + 1)); }
ls ./*.tmp* 2> /dev/null && { echo "FAIL: temporary files left"; fails=$((fails + 1)); }

echo "$fails failure(s)"
[[ $fails -eq 0 ]]
