#!/usr/bin/env bash
# Command-line behaviour on good and bad input: exit codes per error class, one-line
# messages naming file/line/key, and output files that are either complete or untouched.
# usage: test_cli_errors.sh CELLFIT_BINARY
set -uo pipefail
cellfit=$(realpath "$1")
source "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/expect.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0


expect 2 "" -- "$cellfit"
expect 0 "CONFIG" -- "$cellfit" simulate --help
expect 0 "MORPHOLOGY|morphology" -- "$cellfit" info --help
expect 2 "" -- "$cellfit" simulate --no-such-flag
expect 5 "cannot open '/nonexistent.toml'" -- "$cellfit" simulate /nonexistent.toml --out a.h5
[[ -e a.h5 ]] && { echo "FAIL: a.h5 written after an error"; fails=$((fails + 1)); }

printf '[simulation]\ndt_ms = 0.025\ntstop = 10\n' > unknown_key.toml
expect 3 "unknown_key.toml:3: simulation.tstop: unknown key" -- "$cellfit" simulate unknown_key.toml --out b.h5
printf '[simulation]\ndt_ms = "small"\n' > wrong_type.toml
expect 3 "wrong_type.toml:2: simulation.dt_ms: expected a number" -- "$cellfit" simulate wrong_type.toml --out b.h5
printf '[model.mechanisms.hh]\ngnabar = nan\n' > nan.toml
expect 3 "not finite" -- "$cellfit" simulate nan.toml --out b.h5
expect 3 "simulation.dt_mss" -- "$cellfit" simulate --set simulation.dt_mss=0.1 --out b.h5
expect 2 "section.key=value" -- "$cellfit" simulate --set simulation --out b.h5

# The mechanism catalogue and ions: unknown names are refused naming the catalogue/keys.
printf '[model.mechanisms.NaTs2t]\nregions = "soma"\n' > unknown_mech.toml
expect 3 "unknown_mech.toml:1: model.mechanisms.NaTs2t: unknown mechanism \\(did you mean 'NaTs2_t'\\?\\) \\(the catalogue: hh, pas, jk, CaDynamics_E2" -- "$cellfit" simulate unknown_mech.toml --out b.h5
printf '[model.mechanisms.SK_E2]\nregions = "soma"\nzTau = 2.0\nzTua = 1.0\n' > unknown_global.toml
expect 3 "unknown_global.toml:4: model.mechanisms.SK_E2.zTua: unknown key \\(did you mean 'zTau'\\?\\)" -- "$cellfit" simulate unknown_global.toml --out b.h5
printf '[model.mechanisms.CaDynamics_E2]\nregions = "soma"\n[model.ions.ca]\nci = -1.0\n' > bad_conc.toml
expect 3 "model.ions.ca.ci: a concentration must be > 0 mM" -- "$cellfit" simulate bad_conc.toml --out b.h5
printf '[model.mechanisms.Ca_HVA]\nregions = "soma"\n[model.ions.ca]\nstyle = "ghk"\n' > bad_style.toml
expect 3 "model.ions.ca.style: expected \"auto\", \"nernst\" or \"fixed\"" -- "$cellfit" simulate bad_style.toml --out b.h5
printf '[model.ions.xx]\ne = 1.0\n' > bad_ion.toml
expect 3 "model.ions.xx: no mechanism of the catalogue uses this ion species" -- "$cellfit" simulate bad_ion.toml --out b.h5
expect 0 "SK_E2" -- "$cellfit" info --mechanisms
expect 2 "give a MORPHOLOGY, or --mechanisms" -- "$cellfit" info

printf '1 1 0 0 0 5 -1\n2 3 10 0 0 1 1\n3 3 20 0 0 1 9\n' > bad_parent.swc
printf '[model]\nmorphology = "bad_parent.swc"\n' > bad_swc.toml
expect 4 "bad_parent.swc:3: sample 3: unknown parent id 9" -- "$cellfit" simulate bad_swc.toml --out b.h5
printf '1 1 0 0 0 5 -1\n2 3 10 0 0 0 1\n' > zero_radius.swc
expect 4 "zero_radius.swc:2: sample 2: non-positive radius" -- "$cellfit" info zero_radius.swc
expect 5 "cannot open" -- "$cellfit" info missing.swc
# Neurolucida files: read by extension; refusals name file, line and the offending text.
printf '("CellBody" (0 8 0 1) (6 6 0 1) (9 0 0 1) (0 -9 0 1) (-9 0 0 1))\n( (Dendrite) (10 0 0 2) (30 0 0 2) )\n' > cell.asc
expect 0 "sections       2" -- "$cellfit" info cell.asc --sections-csv sections.csv
expect 0 "dend\[0\],soma\[0\],0.5,2,20," -- cat sections.csv
printf '("CellBody" (0 8 0 1) (6 6 0 1) (9 0 0 1) (0 -9 0 1))\n( (Dendrite) (10 0 0 2) (30 0 x 2) )\n' > bad.asc
printf '[model]\nmorphology = "bad.asc"\n' > bad_asc.toml
expect 4 "bad.asc:2: expected ')' to close the point opened on line 2, found 'x'" -- "$cellfit" simulate bad_asc.toml --out b.h5
# The compartment table: section(x) of each compartment and its path distance from soma(0.5).
expect 0 " 3  dend\[0\]\(0.5\) +basal +260 +628.319" -- "$cellfit" info builtin:ball_and_stick --compartments
# A config: its model (BluePyOpt's axon replacement here) and its record sites, among them
# one at a path distance from the soma.
printf '[model]\nreplace_axon = true\n[simulation]\nrecord_sites = [0, { section_list = "basal", soma_distance_um = 260 }]\n' > axon.toml
expect 0 "sections       4" -- "$cellfit" info axon.toml
expect 0 "1 +3  dend\[0\]\(0.5\)" -- "$cellfit" info axon.toml
expect 0 "wrote axon.csv" -- "$cellfit" info axon.toml --sections-csv axon.csv --set model.replace_axon=true
expect 0 "axon\[1\],axon\[0\],1,0,30,1," -- cat axon.csv
expect 3 "--set simulation.record_sites: .*soma_distance_um = 600 lies beyond the farthest point of basal \(510 um" -- "$cellfit" info axon.toml --set 'simulation.record_sites=[{ section_list = "basal", soma_distance_um = 600 }]'
expect 2 "--set applies to a TOML config only" -- "$cellfit" info builtin:tree184 --set model.nseg=3
expect 2 "a config sets them in \[model\]" -- "$cellfit" info axon.toml --nseg 3
echo "1 1 0 0 0 5 -1" > cell.txt
expect 4 "unknown file extension '.txt' \\(known: .swc, .asc" -- "$cellfit" info cell.txt
expect 5 "cellfit::morphology: 'none.txt': No such file or directory" -- "$cellfit" info none.txt
expect 5 "cannot write '$work/no/s.csv'" -- "$cellfit" info cell.asc --sections-csv "$work/no/s.csv"
[[ -e b.h5 ]] && { echo "FAIL: b.h5 written after an error"; fails=$((fails + 1)); }

# Hostile input files: a directory is an I/O error, not an empty file; classic Mac OS line
# ends (a lone CR) are line ends; extra fields, absurd TOML nesting (also through --set)
# and overlong config lines are refused naming the line.
mkdir -p a_dir
expect 5 "cellfit::morphology: 'a_dir': is a directory" -- "$cellfit" info a_dir
mkdir -p b_dir.swc
expect 5 "cellfit::swc: b_dir.swc: is a directory" -- "$cellfit" info b_dir.swc
expect 5 "cellfit::config: a_dir: is a directory" -- "$cellfit" simulate a_dir --out b.h5
printf '1 1 0 0 0 5 -1\r2 3 10 0 0 1 1\r3 3 20 0 0 1 2\r' > cr_only.swc
expect 0 "sections +2" -- "$cellfit" info cr_only.swc
printf '1 1 0 0 0 5 -1\n2 3 10 0 0 1 1 0.5 extra\n' > nine_fields.swc
expect 4 "nine_fields.swc:2: expected 7 fields \\(id type x y z radius parent\\), found 9" -- "$cellfit" info nine_fields.swc
printf '1 1 0 0 0 5 -1\n2 3 10 0 0 1e-50 1\n' > tiny_radius.swc
expect 4 "tiny_radius.swc:2: sample 2: radius '1e-50' out of range" -- "$cellfit" info tiny_radius.swc
printf 'x = %s\n' "$(printf '[%.0s' {1..6000})" > deep.toml
expect 3 "deep.toml:1: nesting deeper than 64 levels" -- "$cellfit" simulate deep.toml --out b.h5
expect 3 "--set simulation.dt_ms: nesting deeper than 64 levels" -- "$cellfit" simulate --set "simulation.dt_ms=$(printf '{a=%.0s' {1..100})" --out b.h5
printf '[model]\n# %s\n' "$(printf 'x%.0s' {1..5000})" > wide.toml
expect 3 "wide.toml:2: line longer than 4096 bytes" -- "$cellfit" simulate wide.toml --out b.h5
[[ -e b.h5 ]] && { echo "FAIL: b.h5 written after an error"; fails=$((fails + 1)); }

# An exported SWC reads back (here a dendrite hangs from the first sample of a soma run).
printf '1 1 0 0 0 5 -1\n2 3 0 10 0 1 1\n3 1 0 20 0 2 2\n4 1 0 25 0 2 3\n5 1 0 30 0 2 4\n6 3 0 30 0 1 3\n' > run_child.swc
expect 0 "wrote exported.swc" -- "$cellfit" info run_child.swc --export-swc exported.swc
expect 0 "sections +4" -- "$cellfit" info exported.swc

# An existing result is never replaced by a failed run.
echo "precious" > keep.h5
expect 3 "" -- "$cellfit" simulate unknown_key.toml --out keep.h5
[[ $(cat keep.h5) == precious ]] || { echo "FAIL: keep.h5 was modified"; fails=$((fails + 1)); }
expect 5 "cannot write" -- "$cellfit" simulate --out /nonexistent-dir/x.h5 --quiet

# Every cell diverging is reported with its own exit code; the traces are still written.
printf '[simulation]\nt_stop_ms = 5\n[[stimulus]]\nsites = [0]\namplitude = 1e308\n' > diverge.toml
expect 6 "every cell diverged" -- "$cellfit" simulate diverge.toml --out diverged.h5 --quiet
[[ -s diverged.h5 ]] || { echo "FAIL: diverged.h5 missing"; fails=$((fails + 1)); }

# A good run: the default problem, HDF5 contract present, no temporary left behind.
expect 0 "24 cells" -- "$cellfit" simulate --out good.h5 --quiet
ls good.h5.tmp.* > /dev/null 2>&1 && { echo "FAIL: temporary left behind"; fails=$((fails + 1)); }
if python3 -c "import h5py" 2> /dev/null; then
  python3 - <<'PY' || fails=$((fails + 1))
import h5py, numpy as np
with h5py.File("good.h5", "r") as f:
    v = f["/traces/voltage"]
    assert v.shape == (24, 2, 8001), v.shape
    assert v.attrs["dt_ms"] == 0.025 and v.attrs["units"] == "mV"
    assert list(f["/traces/sites"][...]) == [0, 5]
    t = f["/traces/time_ms"][...]
    assert t.shape == (8001,) and abs(t[-1] - 200.0) < 1e-9
    assert np.all(np.isfinite(v[...]))
    assert f["/parameters/hh/gnabar"].shape == (4, 6)
    print("ok: HDF5 contract")
PY
fi
# cellfit features: names and files (the rest: tests/validation/test_efel.sh).
expect 3 "unknown feature 'nope'" -- "$cellfit" features good.h5 --features spike_count,nope
expect 5 "unknown recording format \".toml\"" -- "$cellfit" features unknown_key.toml --features spike_count
expect 0 "AP_amplitude" -- "$cellfit" features good.h5 --features spike_count,AP_amplitude

echo "$fails failure(s)"
[[ $fails -eq 0 ]]
