"""cellfit.Model: building from files, text and dicts; what it lists; simulate."""
import subprocess
import sys

import numpy as np
import pytest

import cellfit
from conftest import toy_config


def test_model_from_file_lists_the_model(examples):
    m = cellfit.Model(examples / "01_ball_and_stick_steps.toml")
    assert m.compartments.names[0] == "soma[0](0.5)"
    assert len(m.compartments) == m.info["n_compartments"]
    assert m.compartments.distance_um[0] == 0.0
    assert np.all(m.compartments.area_um2 > 0)
    assert m.compartments.section_lists[0] == "soma"
    assert len(m.site_names) == 2
    assert list(m.site_compartments) == [0, len(m.compartments) - 1]
    assert len(m.stimuli) == 6
    assert m.stimuli[2]["amplitude_na"] == pytest.approx(0.2)
    assert m.stimuli[2]["start_ms"] == pytest.approx(20.0)
    assert m.stimuli[2]["end_ms"] == pytest.approx(170.0)
    hh = m.mechanisms["hh"]
    assert hh["units"]["gnabar"] == "S/cm2"
    assert np.all(hh["parameters"]["gnabar"] == pytest.approx(0.12))
    assert len(m.parameters) == 0
    assert m.time_ms[-1] == pytest.approx(200.0)


def test_catalogue_and_feature_names():
    cat = cellfit.catalogue()
    assert {"hh", "pas", "jk"} <= set(cat)
    assert cat["hh"]["parameters"]["gnabar"] == (0.12, "S/cm2")
    assert "AP_amplitude" in cellfit.feature_names()


def test_model_from_dict_and_text_agree():
    d = toy_config()
    a = cellfit.Model(d)
    b = cellfit.Model(cellfit._toml_text(d))
    assert a.parameters.names == b.parameters.names
    assert len(a.parameters) == 12
    assert a.parameters.names[0] == "jk.gnabar[0]"
    assert np.all(a.parameters.lower == 1.0) and np.all(a.parameters.upper == 500.0)
    np.testing.assert_array_equal(a.target, b.target)


def test_overrides_are_checked_like_set():
    m = cellfit.Model(toy_config(), overrides={"simulation.t_stop_ms": 2.0})
    assert m.t_stop_ms == 2.0
    with pytest.raises(cellfit.ConfigError, match="no_such_key"):
        cellfit.Model(toy_config(), overrides={"simulation.no_such_key": 1})


def test_bad_config_raises_located_error():
    with pytest.raises(cellfit.ConfigError, match="<string>"):
        cellfit.Model("[model]\nmorphology = \"builtin:chain6\"\nbogus = 1\n")
    with pytest.raises(cellfit.Error):
        cellfit.Model("/no/such/config.toml")


def test_simulate_matches_the_command_line(examples, cellfit_binary, tmp_path):
    cfg = examples / "01_ball_and_stick_steps.toml"
    m = cellfit.Model(cfg, overrides={"simulation.t_stop_ms": 40.0})
    sim = m.simulate()
    assert sim.voltage.shape == (6, 2, len(m.time_ms))
    assert sim.stimulus_names == m.stimulus_names
    assert np.all(sim.failed_step == -1)
    out = tmp_path / "sim.h5"
    subprocess.run([cellfit_binary, "simulate", str(cfg), "--set", "simulation.t_stop_ms=40.0",
                    "--out", str(out), "--quiet"], check=True, capture_output=True)
    r = cellfit.read_result(out)
    assert r.command == "simulate"
    np.testing.assert_array_equal(r.voltage, sim.voltage)
    np.testing.assert_array_equal(r.time_ms, sim.time_ms)
    assert r.site_names == sim.site_names
    feats = tmp_path / "features.h5"
    subprocess.run([cellfit_binary, "features", str(out), "--features", "spike_count",
                    "--out", str(feats)], check=True, capture_output=True)
    f = cellfit.read_result(feats)
    assert f.command == "features"
    assert f["/features/spike_count/mean"].shape == (6,)


def test_simulate_parameter_vectors_and_dicts():
    m = cellfit.Model(toy_config())
    truth = m.ground_truth
    sim = m.simulate(truth)
    assert sim.n_sets == 1
    # The synthetic target is the simulation at the ground truth, through the same code.
    np.testing.assert_array_equal(sim.voltage, m.target)
    two = m.simulate(np.stack([truth, m.parameters.initial]))
    assert two.voltage.shape[0] == 2 * sim.n_stimuli
    np.testing.assert_array_equal(two.voltage[: sim.n_stimuli], sim.voltage)
    # The same set as overrides per instance.
    d = {"jk.gnabar": truth[:6], "jk.gkbar": truth[6:]}
    np.testing.assert_array_equal(m.simulate(d).voltage, sim.voltage)
    with pytest.raises(cellfit.ConfigError, match="columns"):
        m.simulate(np.ones((1, 3)))
    with pytest.raises(cellfit.ConfigError, match="bounds"):
        m.simulate(np.full(12, 1e4))


def test_simulate_dict_override(examples):
    m = cellfit.Model(examples / "01_ball_and_stick_steps.toml",
                      overrides={"simulation.t_stop_ms": 60.0})
    spiking = m.simulate().trace(stimulus=4)
    silent = m.simulate({"hh.gnabar": 0.0}).trace(stimulus=4)
    assert spiking.max() > 0.0
    assert silent.max() < -20.0
    with pytest.raises(cellfit.ConfigError):
        m.simulate({"hh.no_such_param": 1.0})


def test_import_refused_in_a_world_of_several_ranks():
    import os

    env = dict(os.environ, OMPI_COMM_WORLD_SIZE="2")
    p = subprocess.run([sys.executable, "-c", "import cellfit"], env=env, capture_output=True,
                       text=True)
    assert p.returncode != 0
    assert "ImportError" in p.stderr and "mpirun -np N cellfit fit" in p.stderr
    env["OMPI_COMM_WORLD_SIZE"] = "1"
    p = subprocess.run([sys.executable, "-c", "import cellfit; print(len(cellfit.catalogue()))"],
                       env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_simulations_from_threads_equal_sequential_ones():
    from concurrent.futures import ThreadPoolExecutor

    m = cellfit.Model(toy_config(stimuli=6))
    points = [m.parameters.initial * f for f in (0.8, 1.0, 1.2, 1.4)]
    alone = [m.simulate(p).voltage for p in points]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda p: m.simulate(p).voltage, points))
        losses = list(pool.map(m.loss, points))
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a, b)
    assert losses == [m.loss(p) for p in points]


def test_synaptic_input_matches_the_command_line(examples, cellfit_binary, tmp_path):
    # Synapses are protocol elements of the config: the module simulates them as the command
    # line does, and their feature window starts at the first input spike.
    cfg = examples / "23_synaptic_input.toml"
    m = cellfit.Model(cfg)
    assert m.stimulus_names == ["figure5", "figure5_conductance", "background"]
    first = m.stimuli[0]
    assert first["start_ms"] == 10.0 and first["end_ms"] == 200.0
    assert m.stimuli[1]["start_ms"] == 11.0  # the connection's 1 ms delay
    sim = m.simulate()
    assert np.all(sim.failed_step == -1)
    assert sim.trace(stimulus=0, site=0).max() > 0.0  # the input fires the soma
    out = tmp_path / "syn.h5"
    subprocess.run([cellfit_binary, "simulate", str(cfg), "--out", str(out), "--quiet"],
                   check=True, capture_output=True)
    r = cellfit.read_result(out)
    np.testing.assert_array_equal(r.voltage, sim.voltage)
    g = r["/stimuli/synaptic_conductance"]
    assert g.shape[0] == 3 and g.max() > 0.0
