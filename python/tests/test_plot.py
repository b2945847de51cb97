"""cellfit.plot (the code of `cellfit plot`) on small fits and a simulation, its refusals, and
the warnings for values in a surprising unit."""

import os
import warnings

import h5py
import numpy as np
import pytest

import cellfit


def hh_config(**fit):
    return {
        "model": {"morphology": "builtin:ball_and_stick",
                  "mechanisms": {"hh": {"regions": "all"}}},
        "simulation": {"dt_ms": 0.025, "t_stop_ms": 25.0, "record_sites": [0, -1]},
        "stimulus": [{"type": "step", "sites": "soma", "amplitudes": [0.05, 0.3],
                      "delay_ms": 5.0, "duration_ms": 15.0}],
        "fit": {
            "parameter": [{"name": "hh.gnabar", "bounds": [0.05, 0.3]},
                          {"name": "hh.gkbar", "bounds": [0.01, 0.1]}],
            "target": {"type": "synthetic", "low": 0.8, "high": 1.2, "seed": 3},
            "gradient": {"optimizer": "lbfgsb", "epochs": 4, "loss": "mse"},
            "ga": {"population": 6, "generations": 2,
                   "features": ["spike_count", "voltage_base"]},
            **fit,
        },
    }


def non_trivial(path):
    from matplotlib import image

    assert os.path.getsize(path) > 5000, path
    img = image.imread(path)
    rgb = img[..., :3].reshape(-1, 3)
    assert len(np.unique(np.round(rgb, 2), axis=0)) > 20, path
    return img


def test_plot_gradient_fit(tmp_path):
    fit = cellfit.fit(hh_config(), engine="gradient", out=tmp_path / "g.h5", quiet=True)
    assert fit.ground_truth is not None
    pngs = cellfit.plot(tmp_path / "g.h5", out_dir=tmp_path / "png")
    assert [os.path.basename(p) for p in pngs] == ["g_loss.png", "g_traces.png", "g_params.png"]
    for p in pngs:
        non_trivial(p)
    # The fit file carries the time axis of its traces.
    with h5py.File(tmp_path / "g.h5", "r") as f:
        t = f["/fit/time_ms"][()]
        assert t.size == f["/fit/target/voltage"].shape[2]
        assert t[1] == pytest.approx(0.025) and t[-1] == pytest.approx(25.0)
        assert len(f["/fit/stimuli/names"]) == 2


def test_plot_ga_fit_and_simulation(tmp_path):
    cellfit.fit(hh_config(), engine="ga", out=tmp_path / "ga.h5", quiet=True)
    pngs = cellfit.plot(tmp_path / "ga.h5", out_dir=tmp_path, dpi=50)
    assert os.path.join(tmp_path, "ga_population.png") in pngs
    for p in pngs:
        non_trivial(p)
    model = cellfit.Model(hh_config())
    sim = model.simulate(np.stack([model.parameters.lower, model.parameters.upper]))
    with h5py.File(tmp_path / "sim.h5", "w") as f:  # the simulate layout (docs/hdf5.md)
        f.attrs["command"] = "simulate"
        f.attrs["n_stimuli"] = 2
        f["/traces/voltage"] = sim.voltage
        f["/traces/time_ms"] = sim.time_ms
    (png,) = cellfit.plot(tmp_path / "sim.h5", out_dir=tmp_path)
    assert png.endswith("sim_traces.png")
    non_trivial(png)


def test_plot_refusals(tmp_path):
    with pytest.raises(cellfit.FileError, match="no such file"):
        cellfit.plot(tmp_path / "missing.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(cellfit.FileError, match="not a readable HDF5 file"):
        cellfit.plot(tmp_path / "text.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(cellfit.FileError, match="not a cellfit fit or simulate result"):
        cellfit.plot(tmp_path / "other.h5")


@pytest.mark.parametrize("override,pattern", [
    ({"simulation.dt_ms": 25.0, "simulation.t_stop_ms": 50.0}, r"dt_ms = 25: .*0\.025"),
    ({"model.celsius": 307.0}, r"celsius = 307: .*kelvin"),
    ({"model.mechanisms.hh.gnabar": 120.0}, r"hh\.gnabar = 120: .*0\.12 S/cm2"),
    ({"stimulus.0.amplitudes": [100.0, 0.1]}, r"100 nA: .*0\.1 nA"),
])
def test_unit_warnings(override, pattern):
    config = hh_config()
    del config["fit"]  # its bounds would refuse gnabar = 120 before any warning
    with pytest.warns(UserWarning, match=pattern) as record:
        cellfit.Model(config, overrides=override)
    assert len([w for w in record if "cellfit:" in str(w.message)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cellfit.Model(config)  # plausible values: no warning
