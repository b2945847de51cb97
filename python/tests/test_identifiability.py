"""Model.identifiability and cellfit.identifiability: the exact residual Jacobian and the
Fisher information built on it."""
import numpy as np
import pytest

import cellfit
from conftest import toy_config


def test_model_identifiability_jacobian_and_fields():
    m = cellfit.Model(toy_config(stimuli=3))
    p = m.ground_truth * 1.01
    r = m.identifiability(p, noise_mv=1.0)
    P = len(m.parameters)
    assert r.names == m.parameters.names
    assert r.jacobian.shape == (r.n_residuals, P)
    assert r.fisher.shape == r.covariance.shape == r.correlation.shape == (P, P)
    assert np.all(np.diff(r.eigenvalues) >= 0)
    np.testing.assert_allclose(r.fisher @ r.covariance, np.eye(P), atol=1e-6)
    # sum r^2 is the loss, and 2 J^T r the adjoint's gradient.
    loss, grad = m.loss_and_gradient(p)
    assert r.rss == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(2 * r.jacobian.T @ r.residuals, grad, rtol=1e-7)
    # The Jacobian against central differences of the residuals (via the loss's traces).
    j = 7
    h = 1e-5 * p[j]
    up, down = p.copy(), p.copy()
    up[j] += h
    down[j] -= h
    ru = m.identifiability(up, noise_mv=1.0).residuals
    rd = m.identifiability(down, noise_mv=1.0).residuals
    fd = (ru - rd) / (2 * h)
    col = r.jacobian[:, j]
    assert np.linalg.norm(fd - col) < 1e-5 * np.linalg.norm(col)
    assert r.weakest()[0][0] in r.names


def test_identifiability_of_a_fit_file(tmp_path):
    out = tmp_path / "fit.h5"
    cellfit.fit(toy_config(stimuli=3, epochs=1), out=out, quiet=True)
    r = cellfit.identifiability(out, at="truth", noise_mv=1.0)
    assert r.at == "truth" and r.ground_truth is not None
    np.testing.assert_allclose(r.params, r.ground_truth)
    assert r.loss == "normalized"
    best = cellfit.identifiability(out)
    assert best.noise_mv == 0 and best.sigma2 > 0
    with pytest.raises(cellfit.UsageError):
        cellfit.identifiability(out, at="elsewhere")
    with pytest.raises(cellfit.FileError):
        cellfit.identifiability(tmp_path / "missing.h5")
