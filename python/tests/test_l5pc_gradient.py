"""The gradient engine on BluePyOpt's L5PC (examples/l5pc/l5pc_problem.toml): all 20 free
parameters at once, with a trace target made from BluePyOpt's released values, exact
gradients against finite differences at a random point inside the bounds.

The protocols are shortened to 20 ms (each step from 5 to 15 ms) so that the check runs in
a minute; the cell, its mechanisms, recordings (soma, 660 and 800 um on the apical tree),
parameters and bounds are the example's.
"""
import os
import tomllib

import numpy as np
import pytest

import cellfit

T_STOP_MS = 20.0


def l5pc_gradient_config(examples):
    bluepyopt = pytest.importorskip("bluepyopt")
    asc = os.path.join(os.path.dirname(bluepyopt.__file__),
                       "tests/test_ephys/testdata/acc/l5pc/C060114A7.asc")
    if not os.path.exists(asc):
        pytest.skip("bluepyopt ships no C060114A7.asc")
    with open(examples / "l5pc" / "l5pc_problem.toml", "rb") as f:
        cfg = tomllib.load(f)
    cfg["model"]["morphology"] = asc
    # The example's model values are BluePyOpt's released ones: low = high = 1 makes them the
    # ground truth of the synthetic target.
    cfg["fit"] = {"engine": "gradient", "parameter": cfg["fit"]["parameter"],
                  "target": {"type": "synthetic", "low": 1.0, "high": 1.0},
                  "gradient": {"spike_weight": 0.0}}
    cfg["simulation"]["t_stop_ms"] = T_STOP_MS
    for protocol in cfg["protocol"]:
        protocol["t_stop_ms"] = T_STOP_MS
        protocol["stimulus"][0]["delay_ms"] = 5.0
        protocol["stimulus"][0]["duration_ms"] = T_STOP_MS - 10.0
    return cfg


def test_all_20_l5pc_gradients_match_finite_differences(examples):
    model = cellfit.Model(l5pc_gradient_config(examples))
    p = model.parameters
    assert len(p) == 20
    lower, upper = np.asarray(p.lower), np.asarray(p.upper)
    x = lower + (upper - lower) * np.random.default_rng(7).uniform(0.2, 0.8, len(lower))
    loss, grad = model.loss_and_gradient(x)
    assert np.isfinite(loss) and loss > 0
    # The target spikes and so do the cells at x: the check covers the spiking dynamics.
    assert model.target.max() > 0
    scale = np.abs(grad).max()
    worst = 0.0
    for i in range(len(x)):
        # Richardson's combination of central differences at h and h/2 cancels their h^2
        # error; h = 1e-4 relative keeps the loss's rounding (spikes amplify it) small
        # against the difference.
        def central(h):
            up, down = x.copy(), x.copy()
            up[i] += h
            down[i] -= h
            return (model.loss(up) - model.loss(down)) / (2 * h)

        h = 1e-4 * x[i]
        fd = (4 * central(h / 2) - central(h)) / 3
        # Relative to the component, or to a thousandth of the largest one for the few that
        # are a billionth of it (CaDynamics_E2.decay@axonal).
        err = abs(fd - grad[i]) / max(abs(grad[i]), 1e-3 * scale)
        worst = max(worst, err)
        assert err < 1e-5, f"{p.names[i]}: adjoint {grad[i]:.9e}, finite differences {fd:.9e}"
    print(f"L5PC, 20 parameters: worst relative difference {worst:.2e}")
