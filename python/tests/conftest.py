import os
import pathlib
import shutil

import pytest

ROOT = pathlib.Path(os.environ.get("CELLFIT_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def examples():
    return ROOT / "examples"


@pytest.fixture(scope="session")
def cellfit_binary():
    """The command line of the same build (CTest passes it), else one on PATH."""
    exe = os.environ.get("CELLFIT_BINARY") or shutil.which("cellfit")
    if not exe:
        pytest.skip("no cellfit binary (set CELLFIT_BINARY)")
    return exe


def toy_config(stimuli=4, epochs=5):
    """Paper 000's toy (examples/11_toy_grad_all_all.toml) as a dict, made small."""
    return {
        "model": {"morphology": "builtin:chain6", "axial_weight": 0.5,
                  "mechanisms": {"jk": {"regions": "all"}}},
        "simulation": {"dt_ms": 0.1, "t_stop_ms": 5.0, "record_sites": "all"},
        "stimulus": [{"type": "random_steps", "every": "all", "intervals": 48, "hazard": 0.05,
                      "i_min": 0, "i_max": 20, "count": stimuli, "seed": 20230619}],
        "fit": {
            "engine": "gradient",
            "parameter": [
                {"name": "jk.gnabar", "scope": "per_compartment", "bounds": [1.0, 500.0]},
                {"name": "jk.gkbar", "scope": "per_compartment", "bounds": [1.0, 500.0]},
            ],
            "target": {"type": "synthetic", "low": 0.7, "high": 1.3, "seed": 20230619},
            "gradient": {"optimizer": "adam", "lr": 0.5, "epochs": epochs, "loss": "normalized"},
        },
    }
