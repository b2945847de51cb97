"""Reading cellfit's HDF5 results (``cellfit simulate``, ``fit``, ``compare``, ``features``
outputs; the layout is docs/hdf5.md) into numpy arrays."""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Union

import numpy as np

__all__ = ["Result", "read_result"]


def _decode(x: Any) -> Any:
    if isinstance(x, bytes):
        return x.decode()
    if isinstance(x, np.ndarray) and x.dtype.kind in "SO":
        return [_decode(v) for v in x.tolist()]
    if isinstance(x, np.generic):
        return x.item()
    return x


class Result:
    """One cellfit HDF5 file, read whole into memory.

    Every file:

    * ``command``: ``"simulate"``, ``"fit"``, ``"compare"`` (``"features"`` for a
      ``cellfit features --out`` file, which has no root attribute);
    * ``attrs``: the root attributes (``config``, ``wall_seconds``, ``simulations``,
      ``engine``, ``final_loss``, ``gt_error``, ...);
    * ``datasets``: every dataset by its path (``result["/fit/best/params"]`` is the same);
    * ``path``: the file.

    ``simulate`` files: ``voltage`` [cell][site][sample] (mV; cell = set x stimulus, stimulus
    fastest), ``time_ms``, ``site_names``, ``sites`` (compartments), ``failed_step`` [cell],
    ``stimulus_names``.

    ``fit`` files: ``engine``, ``param_names`` [P], ``best_params``, ``initial_params``,
    ``ground_truth`` (None for a file target) in physical units, ``lower``/``upper`` bounds,
    ``history`` (``loss``, ``wall_s``, ``gt_error``, ... per iteration), ``final_loss``,
    ``best_loss``, ``gt_error`` (None when unknown), ``target_voltage`` and ``best_voltage``
    [stimulus][site][sample] (mV, when written), ``site_names``.

    ``compare`` files: ``engines``, ``table`` (column -> per-engine values), ``histories``
    (engine -> {simulations, wall_s, loss, gt_error, phase}), ``best_params`` (engine ->
    [P]), ``target_voltage``, ``time_ms``.

    A field the file does not have raises ``AttributeError`` naming the file and dataset.
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"]):
        import h5py

        self.path = os.fspath(path)
        self.datasets: Dict[str, Any] = {}
        with h5py.File(self.path, "r") as f:
            self.attrs: Dict[str, Any] = {k: _decode(v) for k, v in f.attrs.items()}
            self.dataset_attrs: Dict[str, Dict[str, Any]] = {}

            def visit(name: str, obj: Any) -> None:
                if isinstance(obj, h5py.Dataset):
                    key = "/" + name
                    self.datasets[key] = _decode(obj[()])
                    if obj.attrs:
                        self.dataset_attrs[key] = {k: _decode(v) for k, v in obj.attrs.items()}

            f.visititems(visit)
        cmd = self.attrs.get("command")
        if cmd is None and any(k.startswith("/features/") for k in self.datasets):
            cmd = "features"
        self.command: Optional[str] = cmd

    def __repr__(self) -> str:
        return f"<cellfit.Result {self.command} {self.path}: {len(self.datasets)} datasets>"

    def __getitem__(self, name: str) -> Any:
        key = name if name.startswith("/") else "/" + name
        if key not in self.datasets:
            raise KeyError(f"{self.path} has no dataset {key}")
        return self.datasets[key]

    def __contains__(self, name: str) -> bool:
        return (name if name.startswith("/") else "/" + name) in self.datasets

    def _get(self, *names: str) -> Any:
        for n in names:
            if n in self.datasets:
                return self.datasets[n]
        raise AttributeError(f"{self.path} ({self.command}) has no {' or '.join(names)}")

    def _opt(self, name: str) -> Any:
        return self.datasets.get(name)

    # -- simulate --

    @property
    def voltage(self) -> np.ndarray:
        """simulate: [cell][site][sample] mV."""
        return self._get("/traces/voltage")

    @property
    def time_ms(self) -> np.ndarray:
        """Sample times, ms (simulate; compare)."""
        return self._get("/traces/time_ms", "/compare/time_ms")

    @property
    def sites(self) -> np.ndarray:
        """Compartment index of each recorded site."""
        return self._get("/traces/sites", "/fit/target/sites", "/compare/target/sites")

    @property
    def site_names(self) -> List[str]:
        return self._get("/traces/site_names", "/fit/target/site_names")

    @property
    def failed_step(self) -> np.ndarray:
        """simulate: [cell] step at which a cell diverged, -1 if it did not."""
        return self._get("/traces/failed_step")

    @property
    def stimulus_names(self) -> List[str]:
        return self._get("/stimuli/names")

    # -- fit --

    @property
    def engine(self) -> Optional[str]:
        return self.attrs.get("engine")

    @property
    def param_names(self) -> List[str]:
        """fit: [P] names of the fitted scalars."""
        return self._get("/fit/param_names")

    @property
    def best_params(self) -> Union[np.ndarray, Dict[str, np.ndarray]]:
        """fit: [P] physical; compare: engine -> [P]."""
        if self.command == "compare":
            return {e: self.datasets[f"/compare/{e}/best/params"] for e in self.engines
                    if f"/compare/{e}/best/params" in self.datasets}
        return self._get("/fit/best/params")

    @property
    def initial_params(self) -> np.ndarray:
        return self._get("/fit/initial/params")

    @property
    def ground_truth(self) -> Optional[np.ndarray]:
        """fit: [P] the synthetic target's parameters; None when the target is a file."""
        return self._opt("/fit/ground_truth/params")

    @property
    def lower(self) -> np.ndarray:
        return self._get("/fit/bounds/lower")

    @property
    def upper(self) -> np.ndarray:
        return self._get("/fit/bounds/upper")

    @property
    def history(self) -> Dict[str, np.ndarray]:
        """fit: per-iteration arrays under /fit/history (loss, wall_s, gt_error, ...)."""
        h = {k[len("/fit/history/"):]: v for k, v in self.datasets.items()
             if k.startswith("/fit/history/")}
        if not h:
            raise AttributeError(f"{self.path} ({self.command}) has no /fit/history")
        return h

    @property
    def final_loss(self) -> Optional[float]:
        return self.attrs.get("final_loss")

    @property
    def best_loss(self) -> Optional[float]:
        return self.attrs.get("best_loss")

    @property
    def gt_error(self) -> Optional[float]:
        """Mean absolute error of the best parameters to the ground truth (paper 000 eq. 17)."""
        return self.attrs.get("gt_error")

    @property
    def target_voltage(self) -> np.ndarray:
        """fit, compare: the target traces [stimulus][site][sample], mV."""
        return self._get("/fit/target/voltage", "/compare/target/voltage")

    @property
    def best_voltage(self) -> np.ndarray:
        """fit: the traces at the best parameters [stimulus][site][sample], mV."""
        return self._get("/fit/best/voltage")

    # -- compare --

    @property
    def engines(self) -> List[str]:
        """compare: the engines run."""
        return self._get("/compare/engines")

    @property
    def table(self) -> Dict[str, Any]:
        """compare: the printed table, column -> per-engine values."""
        t = {k[len("/compare/table/"):]: v for k, v in self.datasets.items()
             if k.startswith("/compare/table/")}
        if not t:
            raise AttributeError(f"{self.path} ({self.command}) has no /compare/table")
        return t

    @property
    def histories(self) -> Dict[str, Dict[str, np.ndarray]]:
        """compare: engine -> {simulations, wall_s, loss, gt_error, phase} per iteration."""
        out: Dict[str, Dict[str, np.ndarray]] = {}
        for e in self.engines:
            prefix = f"/compare/{e}/history/"
            out[e] = {k[len(prefix):]: v for k, v in self.datasets.items() if k.startswith(prefix)}
        return out


def read_result(path: Union[str, "os.PathLike[str]"]) -> Result:
    """Reads a cellfit HDF5 result (simulate, fit, compare or features output) into a
    ``Result`` (see its fields). Raises ``FileNotFoundError`` for a missing file."""
    if not os.path.exists(os.fspath(path)):
        raise FileNotFoundError(f"cellfit.read_result: {os.fspath(path)}: no such file")
    return Result(path)
