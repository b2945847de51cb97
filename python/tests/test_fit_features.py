"""cellfit.fit, cellfit.compare, cellfit.read_result and cellfit.features."""
import os
import subprocess

import numpy as np
import pytest

import cellfit
from conftest import toy_config


def test_gradient_fit_writes_and_reads_the_contract(tmp_path):
    out = tmp_path / "fit.h5"
    r = cellfit.fit(toy_config(epochs=5), engine="gradient", out=out, quiet=True)
    assert r.command == "fit" and r.engine == "gradient"
    assert len(r.param_names) == 12
    assert r.best_params.shape == (12,) and r.ground_truth.shape == (12,)
    assert r.history["loss"].shape == (6,)
    assert r.history["loss"][-1] < r.history["loss"][0]
    assert r.gt_error == pytest.approx(np.mean(np.abs(r.best_params - r.ground_truth)))
    assert r.target_voltage.shape == (4, 6, 51)
    assert r["/fit/best/params"] is r.best_params
    with pytest.raises(AttributeError, match="compare"):
        r.engines


def test_overrides_and_engines(tmp_path):
    r = cellfit.fit(toy_config(), engine="ga", out=tmp_path / "ga.h5", quiet=True,
                    overrides={"fit.ga.population": 8, "fit.ga.offspring": 8,
                               "fit.ga.generations": 2, "fit.ga.objective": "mse",
                               "fit.ga.algorithm": "mu_plus_lambda", "fit.ga.selection": "single",
                               "fit.ga.grouping": "sum"})
    assert r.engine == "ga"
    assert r["/fit/population/params"].shape[1:] == (8, 12)
    with pytest.raises(cellfit.UsageError, match="engine"):
        cellfit.fit(toy_config(), engine="bogus", out=tmp_path / "x.h5", quiet=True)
    assert not (tmp_path / "x.h5").exists()


def test_fit_matches_the_command_line(examples, cellfit_binary, tmp_path):
    cfg = examples / "11_toy_grad_all_all.toml"
    sets = {"fit.gradient.epochs": 4, "stimulus.0.count": 3}
    py = cellfit.fit(cfg, out=tmp_path / "py.h5", overrides=sets, quiet=True)
    cmd = [cellfit_binary, "fit", str(cfg), "--out", str(tmp_path / "cli.h5"), "--quiet"]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    subprocess.run(cmd, check=True, capture_output=True)
    cli = cellfit.read_result(tmp_path / "cli.h5")
    np.testing.assert_array_equal(py.best_params, cli.best_params)
    np.testing.assert_array_equal(py.history["loss"], cli.history["loss"])


def test_compare_result(tmp_path):
    r = cellfit.compare(toy_config(), out_dir=tmp_path, engines=["gradient"], budget=200,
                        plots=False, quiet=True)
    assert r.command == "compare"
    assert r.engines == ["gradient"]
    assert r.best_params["gradient"].shape == (12,)
    assert "loss" in r.histories["gradient"]


def test_read_result_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        cellfit.read_result(tmp_path / "none.h5")


@pytest.fixture(scope="module")
def spiking_trace():
    m = cellfit.Model({
        "model": {"morphology": "builtin:ball_and_stick", "mechanisms": {"hh": {"regions": "all"}}},
        "simulation": {"dt_ms": 0.025, "t_stop_ms": 150.0, "record_sites": [0]},
        "stimulus": [{"type": "step", "sites": "soma", "amplitudes": [0.4, 0.0],
                      "delay_ms": 20.0, "duration_ms": 100.0}],
    })
    sim = m.simulate()
    return sim.time_ms, sim.voltage[:, 0, :]


def test_features_against_efel(spiking_trace):
    efel = pytest.importorskip("efel")
    t, v = spiking_trace
    names = ["spike_count", "mean_frequency", "AP_amplitude", "voltage_base", "ISI_CV",
             "time_to_first_spike"]
    ours = cellfit.features(t, v[0], 20.0, 120.0, names)
    theirs = efel.get_feature_values(
        [{"T": t, "V": v[0], "stim_start": [20.0], "stim_end": [120.0]}], names)[0]
    assert ours["spike_count"][0] >= 3
    for n in names:
        np.testing.assert_allclose(ours[n], theirs[n], rtol=1e-12, atol=0, err_msg=n)


def test_features_that_cannot_be_computed(spiking_trace):
    t, v = spiking_trace
    both = cellfit.features(t, v, [20.0, 20.0], 120.0, ["AP_amplitude", "voltage_base"],
                            threshold_mv=-20.0)
    assert len(both) == 2
    silent = both[1]
    assert silent["AP_amplitude"] is None
    assert silent.reasons["AP_amplitude"]
    assert silent["voltage_base"][0] == pytest.approx(-65.0, abs=0.5)
    with pytest.raises(cellfit.ConfigError):
        cellfit.features(t, v[0], 20.0, 120.0, ["no_such_feature"])
    with pytest.raises(cellfit.ConfigError, match="no_such_setting"):
        cellfit.features(t, v[0], 20.0, 120.0, ["spike_count"], no_such_setting=1)


def test_sigint_stops_a_fit_gracefully_and_python_keeps_its_handler(tmp_path):
    import os
    import signal
    import threading
    import time

    out = tmp_path / "long.h5"
    ckpt = tmp_path / "long.h5.ckpt"

    def interrupt_once_fitting():
        # The first checkpoint is written from inside the fit loop (where a signal is a stop
        # request), then the signal comes.
        deadline = time.monotonic() + 120
        while not ckpt.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    sender = threading.Thread(target=interrupt_once_fitting)
    sender.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            cellfit.fit(toy_config(epochs=200000), out=out, quiet=True, checkpoint_every=1)
    finally:
        sender.join()
    assert ckpt.exists()
    assert not out.exists()
    # After the fit, SIGINT reaches Python again as KeyboardInterrupt.
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):
            pass
    # Iterating after a Ctrl-C: a fit with other settings starts; the checkpoint is kept aside.
    r = cellfit.fit(toy_config(epochs=2), out=out, quiet=True)
    assert r.history["loss"].shape == (3,)
    assert (tmp_path / "long.h5.ckpt.prev").exists() and not ckpt.exists()


def test_an_ensemble_fit_returns_its_members(examples, tmp_path):
    rs = cellfit.fit(examples / "16_ensemble_toy_conditions.toml", out=tmp_path / "ens.h5",
                     overrides={"fit.gradient.epochs": 2, "stimulus.0.count": 3}, quiet=True)
    assert isinstance(rs, list) and len(rs) == 3
    assert [os.path.basename(r.path) for r in rs] == ["ens.m0.h5", "ens.m1.h5", "ens.m2.h5"]
    assert all(r.engine == "gradient" and r.best_params.shape == (12,) for r in rs)
