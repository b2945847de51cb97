"""Model.loss_and_gradient: the gradient engine's loss and exact gradient."""
import numpy as np
import pytest

import cellfit
from conftest import toy_config


def central_differences(f, p, rel=1e-6):
    g = np.zeros_like(p)
    for i in range(p.size):
        h = rel * abs(p[i])
        up, down = p.copy(), p.copy()
        up[i] += h
        down[i] -= h
        g[i] = (f(up) - f(down)) / (up[i] - down[i])
    return g


def check_gradient(model, p):
    loss, grad = model.loss_and_gradient(p)
    assert np.isfinite(loss) and loss > 0
    assert grad.shape == p.shape
    fd = central_differences(model.loss, p)
    err = np.max(np.abs(fd - grad)) / np.max(np.abs(grad))
    assert err < 1e-5, (err, grad, fd)


def test_toy_gradient_against_finite_differences():
    m = cellfit.Model(toy_config())
    check_gradient(m, m.parameters.initial.copy())


def test_hh_gradient_against_finite_differences(examples):
    cfg = {
        "model": {"morphology": "builtin:ball_and_stick",
                  "mechanisms": {"hh": {"regions": "all"}}},
        "simulation": {"dt_ms": 0.025, "t_stop_ms": 15.0, "record_sites": [0, -1]},
        "stimulus": [{"type": "step", "sites": "soma", "amplitudes": [0.05, 0.3],
                      "delay_ms": 2.0, "duration_ms": 10.0}],
        "fit": {
            "parameter": [
                {"name": "hh.gnabar", "scope": "all", "bounds": [0.05, 0.3], "transform": "log"},
                {"name": "hh.gkbar", "scope": "all", "bounds": [0.01, 0.1]},
                {"name": "hh.gl", "scope": "all", "bounds": [1e-5, 1e-3]},
            ],
            "target": {"type": "synthetic", "seed": 3},
        },
    }
    m = cellfit.Model(cfg)
    check_gradient(m, m.parameters.initial.copy())


def test_loss_is_zero_at_the_ground_truth_and_matches_the_fit(tmp_path):
    m = cellfit.Model(toy_config())
    loss, grad = m.loss_and_gradient(m.ground_truth)
    assert loss == 0.0
    assert np.all(grad == 0.0)
    r = cellfit.fit(toy_config(epochs=3), out=tmp_path / "fit.h5", quiet=True)
    # The fit's losses are this function's values at its points.
    assert r.history["loss"][0] == m.loss(m.parameters.initial)
    assert r.best_loss == m.loss(r.best_params)


def test_scipy_drives_it():
    scipy_optimize = pytest.importorskip("scipy.optimize")
    m = cellfit.Model(toy_config())
    p = m.parameters
    start = m.loss(p.initial)
    res = scipy_optimize.minimize(m.loss_and_gradient, p.initial, jac=True, method="L-BFGS-B",
                                  bounds=list(zip(p.lower, p.upper)), options={"maxiter": 30})
    assert res.fun < 1e-2 * start


def test_wrong_length_and_no_target():
    m = cellfit.Model(toy_config())
    with pytest.raises(cellfit.ConfigError, match="12"):
        m.loss_and_gradient(np.ones(3))
    plain = cellfit.Model({"model": {"morphology": "builtin:ball_and_stick",
                                     "mechanisms": {"hh": {"regions": "all"}}}})
    with pytest.raises(cellfit.ConfigError, match=r"\[fit\]"):
        plain.loss_and_gradient(np.ones(1))
