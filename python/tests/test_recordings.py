"""Recordings in: NWB files written by pynwb read by cellfit's HDF5 reader as pynwb reads
them; sweep averages equal to eFEL's features per sweep averaged in numpy (BluePyEfe's
convention); features of NEURON variable-step output (repeated time stamps) equal to eFEL's;
`cellfit features --out-features` and fits whose target is a text or NWB recording."""

import json
import subprocess
from datetime import datetime, timezone

import h5py
import numpy as np
import pytest

import cellfit

NAMES = ["spike_count", "mean_frequency", "time_to_first_spike", "AP_amplitude",
         "voltage_base", "AHP_depth_abs", "ISI_CV", "steady_state_voltage_stimend",
         "ohmic_input_resistance"]
DT_MS = 0.025
STEP_PA = 400.0  # the step of the recorded protocol, pA (stored as pA x 1e-12)


@pytest.fixture(scope="module")
def responses():
    """Three noisy repeats of a cellfit-simulated step response (mV) on a 0.025 ms grid."""
    m = cellfit.Model({
        "model": {"morphology": "builtin:ball_and_stick", "mechanisms": {"hh": {"regions": "all"}}},
        "simulation": {"dt_ms": DT_MS, "t_stop_ms": 150.0, "record_sites": [0]},
        "stimulus": [{"type": "step", "sites": "soma", "amplitude": STEP_PA * 1e-3,
                      "delay_ms": 20.0, "duration_ms": 100.0}],
    })
    v = m.simulate().voltage[0, 0, :]
    rng = np.random.default_rng(20240601)
    return [v + rng.normal(0.0, 0.4, v.size) for _ in range(3)]


def write_nwb(path, responses, protocol="IDrest"):
    pynwb = pytest.importorskip("pynwb")
    from pynwb.icephys import CurrentClampSeries, CurrentClampStimulusSeries

    nwb = pynwb.NWBFile(session_description="recorded repeats", identifier="cellfit-test",
                        session_start_time=datetime(2024, 6, 1, tzinfo=timezone.utc))
    device = nwb.create_device(name="amplifier")
    electrode = nwb.create_icephys_electrode(name="soma_electrode", description="soma",
                                             device=device)
    n = responses[0].size
    i_pa = np.zeros(n)
    i_pa[int(round(20.0 / DT_MS)):int(round(120.0 / DT_MS))] = STEP_PA
    rate = 1e3 / DT_MS
    for k, v in enumerate(responses):
        stim = CurrentClampStimulusSeries(name=f"stimulus_{k:03d}", data=i_pa, rate=rate,
                                          starting_time=0.0, electrode=electrode, gain=1.0,
                                          sweep_number=np.uint32(k), conversion=1e-12)
        resp = CurrentClampSeries(name=f"response_{k:03d}", data=v, rate=rate,
                                  starting_time=0.0, electrode=electrode, gain=1.0,
                                  sweep_number=np.uint32(k), conversion=1e-3,
                                  stimulus_description=protocol)
        nwb.add_stimulus(stim)
        nwb.add_acquisition(resp)
        nwb.add_intracellular_recording(electrode=electrode, stimulus=stim, response=resp)
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def test_nwb_stimulus_linked_by_the_icephys_table(tmp_path):
    """Without sweep numbers the stimulus of a response is the one its row of the
    intracellular_recordings table names (names chosen so that no other order matches)."""
    pynwb = pytest.importorskip("pynwb")
    from pynwb.icephys import CurrentClampSeries, CurrentClampStimulusSeries

    nwb = pynwb.NWBFile(session_description="linked", identifier="cellfit-link",
                        session_start_time=datetime(2024, 6, 1, tzinfo=timezone.utc))
    device = nwb.create_device(name="amplifier")
    electrode = nwb.create_icephys_electrode(name="e", description="soma", device=device)
    t = np.arange(400) * 0.1
    for k, (stim_name, amp_pa) in enumerate([("c", 100.0), ("a", 200.0), ("b", 300.0)]):
        i = np.where((t >= 10) & (t < 30), amp_pa, 0.0)
        stim = CurrentClampStimulusSeries(name=stim_name, data=i, rate=1e4, electrode=electrode,
                                          gain=1.0, conversion=1e-12)
        resp = CurrentClampSeries(name=f"r{k}", data=-65.0 + 0.01 * i, rate=1e4,
                                  electrode=electrode, gain=1.0, conversion=1e-3)
        nwb.add_stimulus(stim)
        nwb.add_acquisition(resp)
        nwb.add_intracellular_recording(electrode=electrode, stimulus=stim, response=resp)
    path = tmp_path / "linked.nwb"
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    rec = cellfit.read_recording(path)
    assert [s.name for s in rec.sweeps] == ["r0", "r1", "r2"]
    assert [s.sweep_number for s in rec.sweeps] == [-1, -1, -1]
    for s, amp_pa in zip(rec.sweeps, [100.0, 200.0, 300.0]):
        assert s.stimulus_current_na == pytest.approx(amp_pa * 1e-3, rel=1e-6)
        assert s.stim_start_ms == pytest.approx(10.0) and s.stim_end_ms == pytest.approx(30.0)


def read_with_pynwb(path):
    """[(t_ms, v_mv, i_na)] per sweep, in SI units converted as NWB defines them."""
    pynwb = pytest.importorskip("pynwb")
    out = []
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        stimuli = {s.sweep_number: s for s in nwb.stimulus.values()}
        for name in sorted(nwb.acquisition):
            r = nwb.acquisition[name]
            s = stimuli[r.sweep_number]
            t = (r.starting_time + np.arange(r.data.shape[0]) / r.rate) * 1e3
            out.append((t, (r.data[:] * r.conversion + 0.0) * 1e3,
                        (s.data[:] * s.conversion + 0.0) * 1e9))
    return out


def efel_sweep_means(efel, sweeps, start, end, current):
    rows = efel.get_feature_values(
        [{"T": t, "V": v, "stim_start": [start], "stim_end": [end],
          "stimulus_current": [current]} for t, v in sweeps], NAMES, raise_warnings=False)
    return [{n: (np.mean(r[n]) if r[n] is not None and len(r[n]) else np.nan) for n in NAMES}
            for r in rows]


def test_nwb_reads_as_pynwb_and_averages_as_efel_in_numpy(tmp_path, responses):
    efel = pytest.importorskip("efel")
    path = tmp_path / "repeats.nwb"
    write_nwb(path, responses)
    ref = read_with_pynwb(path)
    rec = cellfit.read_recording(path)
    assert rec.format == "nwb" and len(rec.sweeps) == 3
    for s, (t, v, i) in zip(rec.sweeps, ref):
        assert s.protocol == "IDrest"
        np.testing.assert_array_equal(s.time_ms, t)
        np.testing.assert_array_equal(s.voltage_mv, v)
        np.testing.assert_array_equal(s.current_na, i)
        assert s.stim_start_ms == t[np.flatnonzero(i)[0]]
        assert s.stim_end_ms == t[np.flatnonzero(i)[-1] + 1]
        assert s.stimulus_current_na == np.median(i[i != 0])

    ours = cellfit.average_features(cellfit.recording_features(rec, NAMES))
    start, end = rec.sweeps[0].stim_start_ms, rec.sweeps[0].stim_end_ms
    # The current as read: 400 pA x 1e-12 (conversion) x 1e9 need not round to 0.4.
    i = ref[0][2]
    per_sweep = efel_sweep_means(efel, [(t, v) for t, v, _ in ref], start, end,
                                 float(np.median(i[i != 0])))
    for n in NAMES:
        x = np.array([row[n] for row in per_sweep])
        x = x[np.isfinite(x)]
        mean, std = np.mean(x), np.std(x)
        std = 1e-3 if std == 0 else std
        assert n in ours, n
        assert ours[n][2] == x.size
        np.testing.assert_allclose(ours[n][:2], [mean, std], rtol=1e-9, atol=1e-12, err_msg=n)
    assert ours["spike_count"][0] >= 3


def test_features_command_writes_bluepyopt_targets(tmp_path, responses, cellfit_binary):
    path = tmp_path / "repeats.nwb"
    write_nwb(path, responses)
    fj, pj = tmp_path / "features.json", tmp_path / "protocols.json"
    subprocess.run([cellfit_binary, "features", str(path), "--features", ",".join(NAMES),
                    "--out-features", str(fj), "--out-protocols", str(pj)], check=True,
                   capture_output=True, text=True)
    targets = json.loads(fj.read_text())["IDrest"]["soma"]
    ours = cellfit.average_features(cellfit.recording_features(path, NAMES))
    for entry in targets:
        mean, std, n = ours[entry["feature"]]
        assert entry["val"] == pytest.approx([mean, std], rel=1e-12)
        assert entry["n"] == n == 3
        assert entry["stim_start"] == pytest.approx(20.0, abs=1e-9)
        assert entry["stim_end"] == pytest.approx(120.0, abs=1e-9)
    assert {e["feature"] for e in targets} == set(NAMES)
    step = json.loads(pj.read_text())["IDrest"]["stimuli"]
    assert len(step) == 1  # no holding current
    assert step[0]["amp"] == pytest.approx(0.4, rel=1e-12)
    assert step[0]["delay"] == pytest.approx(20.0, abs=1e-9)
    assert step[0]["duration"] == pytest.approx(100.0, abs=1e-9)
    assert step[0]["totduration"] == pytest.approx(150.0, abs=1e-9)

    # The files are a GA fit's targets as BluePyOpt's are.
    cfg = tmp_path / "ga.toml"
    cfg.write_text(f"""
[model]
morphology = "builtin:ball_and_stick"
[model.mechanisms.hh]
regions = "all"
[simulation]
dt_ms = 0.025
record_sites = [0]
[[stimulus]]
sites = "soma"
amplitude = 0.0
[fit]
engine = "ga"
[[fit.parameter]]
name = "hh.gnabar"
bounds = [0.05, 0.3]
[fit.target]
type = "features"
features_file = "{fj}"
protocols_file = "{pj}"
[fit.ga]
population = 4
generations = 1
""")
    r = subprocess.run([cellfit_binary, "fit", str(cfg), "--out", str(tmp_path / "ga.h5")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with h5py.File(tmp_path / "ga.h5", "r") as f:
        assert f["/fit/history/loss"].shape[0] >= 1


@pytest.fixture(scope="module")
def cvode_trace():
    """NEURON's variable-step output of an hh soma under a current step and synaptic events:
    each event's time is recorded twice."""
    h = pytest.importorskip("neuron").h
    h.load_file("stdrun.hoc")
    soma = h.Section(name="soma_rec")
    soma.L = soma.diam = 20.0
    soma.insert("hh")
    clamp = h.IClamp(soma(0.5))
    clamp.delay, clamp.dur, clamp.amp = 20.0, 100.0, 0.15
    syn = h.ExpSyn(soma(0.5))
    stim = h.NetStim()
    stim.start, stim.number, stim.interval, stim.noise = 10.0, 4, 30.0, 0
    con = h.NetCon(stim, syn)
    con.weight[0] = 0.02
    cvode = h.CVode()
    cvode.active(1)
    t = h.Vector().record(h._ref_t)
    v = h.Vector().record(soma(0.5)._ref_v)
    h.tstop = 150.0
    h.run()
    cvode.active(0)
    out = np.array(t), np.array(v)
    del con, stim, syn, clamp, soma
    return out


@pytest.mark.parametrize("jump_mv", [0.0, 5.0])
def test_repeated_time_stamps_match_efel(cvode_trace, jump_mv):
    """As NEURON wrote it (the voltage is the same before and after a synaptic event), and
    with a jump at each repeated stamp (which segment eFEL's resampling takes there)."""
    efel = pytest.importorskip("efel")
    t, v = cvode_trace
    repeats = np.flatnonzero(np.diff(t) == 0) + 1
    assert repeats.size >= 3
    v = v.copy()
    v[repeats] += jump_mv
    names = NAMES[:-1] + ["AP_width", "all_ISI_values", "minimum_voltage", "AHP_depth",
                         "maximum_voltage"]
    ours = cellfit.features(t, v, 20.0, 120.0, names)
    theirs = efel.get_feature_values(
        [{"T": t, "V": v, "stim_start": [20.0], "stim_end": [120.0]}], names,
        raise_warnings=False)[0]
    assert ours["spike_count"][0] >= 2
    for n in names:
        assert (ours[n] is None) == (theirs[n] is None), n
        if ours[n] is not None:
            np.testing.assert_allclose(ours[n], theirs[n], rtol=1e-9, atol=1e-12, err_msg=n)


FIT = """
[model]
morphology = "builtin:ball_and_stick"
[model.mechanisms.hh]
regions = "all"
[simulation]
dt_ms = 0.025
t_stop_ms = 30.0
record_sites = [0]
[[stimulus]]
type = "step"
sites = "soma"
amplitudes = [0.1, 0.3]
delay_ms = 5.0
duration_ms = 20.0
[fit]
engine = "gradient"
[[fit.parameter]]
name = "hh.gnabar"
bounds = [0.05, 0.3]
[[fit.parameter]]
name = "hh.gkbar"
bounds = [0.01, 0.1]
[fit.gradient]
optimizer = "adam"
lr = 0.01
epochs = 3
"""


def test_fit_targets_given_as_text_and_nwb_recordings(tmp_path, cellfit_binary):
    """A fit to recordings equals the fit to the same traces as an HDF5 dataset."""
    cfg = tmp_path / "fit.toml"
    cfg.write_text(FIT)
    sim = tmp_path / "truth.h5"
    subprocess.run([cellfit_binary, "simulate", str(cfg), "--out", str(sim),
                    "--set", "model.mechanisms.hh.gnabar=0.15"], check=True, capture_output=True)
    with h5py.File(sim, "r") as f:
        t, v = f["/traces/time_ms"][:], f["/traces/voltage"][:, 0, :]
    # Text: stimulus 0's sweep with a repeated stamp (the same voltage twice, as NEURON
    # writes an event that does not move V) and non-uniform spacing after 29 ms.
    keep = np.concatenate([np.arange(0, 1161), np.arange(1161, t.size, 3), [t.size - 1]])
    keep = np.unique(keep)
    tt = np.insert(t[keep], 400, t[keep][400])
    vv = np.insert(v[0][keep], 400, v[0][keep][400])
    np.savetxt(tmp_path / "step0.txt", np.column_stack([tt, vv]), fmt="%.17g",
               header="t_ms v_mv")
    write_nwb(tmp_path / "step1.nwb", [v[1]])

    def fit(target, out):
        r = subprocess.run([cellfit_binary, "fit", str(cfg), "--out", str(out), *target],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        with h5py.File(out, "r") as f:
            return f["/fit/history/loss"][:]

    cfg.write_text(FIT + f'[fit.target]\ntype = "file"\nfile = "{sim}"\n')
    reference = fit([], tmp_path / "ref.h5")
    names = cellfit.Model(str(cfg)).stimulus_names

    def recorded_config(first):
        cfg.write_text(FIT + f"""
[fit.target]
type = "file"
[[fit.target.recording]]
stimulus = "{names[0]}"
file = "{first}"
[[fit.target.recording]]
stimulus = "{names[1]}"
file = "step1.nwb"
sweep = "response_000"
""")

    # The same samples as the simulation (plus the repeated one): the same fit, to the
    # rounding of the NWB times (starting_time + k / rate) against k x dt (7e-12 measured).
    np.savetxt(tmp_path / "step0_full.txt", np.column_stack([
        np.insert(t, 400, t[400]), np.insert(v[0], 400, v[0][400])]), fmt="%.17g")
    recorded_config("step0_full.txt")
    np.testing.assert_allclose(fit([], tmp_path / "full.h5"), reference, rtol=1e-10, atol=0)

    recorded_config("step0.txt")
    recorded = fit([], tmp_path / "rec.h5")
    # The last 1 ms of stimulus 0 is read off every third sample (linear interpolation of a
    # smooth tail); the rest are the same samples.
    np.testing.assert_allclose(recorded, reference, rtol=1e-4)
    assert recorded[0] > 0

    # A recording that ends before the simulation does is refused, naming it.
    np.savetxt(tmp_path / "short.txt", np.column_stack([t[:100], v[0][:100]]))
    recorded_config("short.txt")
    r = subprocess.run([cellfit_binary, "fit", str(cfg), "--out", str(tmp_path / "x.h5")],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert "short.txt" in r.stderr and "covers 0 to 2.475 ms" in r.stderr, r.stderr


def test_abf_through_pyabf(tmp_path, cellfit_binary):
    pytest.importorskip("pyabf")
    from pyabf import abfWriter

    rng = np.random.default_rng(7)
    data = (-65.0 + rng.normal(0, 1, (3, 2000))).astype(np.float32)
    path = tmp_path / "sweeps.abf"
    abfWriter.writeABF1(data, str(path), 20000.0, units="mV")
    rec = cellfit.read_recording(path)
    assert rec.format == "abf" and len(rec.sweeps) == 3
    for k, s in enumerate(rec.sweeps):
        assert s.sweep_number == k
        # ABF 1 stores 16-bit integers: the written values to within their resolution.
        np.testing.assert_allclose(s.voltage_mv, data[k], rtol=0, atol=5e-3)
        np.testing.assert_allclose(s.time_ms, np.arange(2000) * 0.05, rtol=0, atol=1e-9)
    csv = tmp_path / "sweeps.csv"
    rec.write_csv(csv)
    again = cellfit.read_recording(csv, sweeps="v2_mv")
    np.testing.assert_array_equal(again.sweeps[0].voltage_mv, rec.sweeps[2].voltage_mv)

    # The command line reads it through the same code (scripts/read_abf.py).
    r = subprocess.run([cellfit_binary, "features", str(path), "--features", "voltage_base",
                        "--stim-start", "50", "--stim-end", "90", "--sweeps", "1"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    row = [line for line in r.stdout.splitlines() if line.startswith("sweep 1")][0]
    ours = cellfit.recording_features(rec.sweeps[1], ["voltage_base"], stim_start_ms=50.0,
                                      stim_end_ms=90.0)[0]["voltage_base"][0]
    assert float(row.split()[-1]) == pytest.approx(ours, rel=1e-5)
    bad = tmp_path / "bad.abf"
    bad.write_text("not an ABF file")
    r = subprocess.run([cellfit_binary, "features", str(bad), "--features", "voltage_base",
                        "--stim-start", "50", "--stim-end", "90"], capture_output=True, text=True)
    assert r.returncode == 5 and "bad.abf" in r.stderr, r.stderr
