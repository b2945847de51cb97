"""cellfit: fit biophysical multi-compartment neuron models to voltage data.

The Python face of cellfit's C++ library (the one the ``cellfit`` command runs): build a
model from a config, simulate batches of parameter sets, evaluate the gradient engine's loss
and its exact gradient, run fits and comparisons, read any cellfit HDF5 result, and compute
eFEL features of numpy traces. Units are NEURON's: mV, ms, nA, uF/cm2, S/cm2, um.

Quick tour (docs/python.md)::

    import cellfit
    model = cellfit.Model("examples/11_toy_grad_all_all.toml")
    sim = model.simulate()                       # sim.voltage [cell][site][sample], mV
    loss, grad = model.loss_and_gradient(model.parameters.initial)
    result = cellfit.fit("examples/11_toy_grad_all_all.toml", out="fit.h5")
    cellfit.plot("fit.h5", out_dir="plots")      # loss, traces, parameters (PNG paths)

Processes: the module runs in one process (no MPI). Under ``mpirun -np N`` with N > 1 the
import is refused; run ``mpirun -np N cellfit fit ...`` for distributed fits.
"""

from __future__ import annotations

import atexit
import math
import os
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core

__all__ = [
    "Model",
    "Simulation",
    "Parameters",
    "Compartments",
    "Features",
    "Result",
    "Identifiability",
    "identifiability",
    "catalogue",
    "feature_names",
    "features",
    "Sweep",
    "Recording",
    "read_recording",
    "recording_features",
    "average_features",
    "fit",
    "compare",
    "read_result",
    "plot",
    "Error",
    "UsageError",
    "ConfigError",
    "MorphologyError",
    "FileError",
]

__version__ = "0.1.0"

Error = _core.Error
UsageError = _core.UsageError
ConfigError = _core.ConfigError
MorphologyError = _core.MorphologyError
FileError = _core.FileError

_ranks = _core.launcher_world_size()
if _ranks > 1:
    raise ImportError(
        f"cellfit: the Python module runs in one process, and this one is one of {_ranks} "
        "ranks started by an MPI launcher; run distributed fits with "
        "`mpirun -np N cellfit fit CONFIG` (each rank of that command runs the same code)"
    )

_core._initialize()
atexit.register(_core._finalize)

ConfigLike = Union[str, "os.PathLike[str]", Mapping[str, Any], "Model"]


# --- TOML text of Python values (configs given as dicts, overrides) -------------------------


def _toml_key(k: str) -> str:
    k = str(k)
    if k and all(c.isalnum() or c in "_-" for c in k):
        return k
    return _toml_string(k)


def _toml_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        x = float(v)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return repr(x)
    if isinstance(v, (str, os.PathLike)):
        return _toml_string(os.fspath(v))
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cellfit: cannot write {type(v).__name__} {v!r} as a TOML value")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) > 0 and all(isinstance(x, Mapping) for x in v)


def _toml_table(d: Mapping[str, Any], prefix: str, out: List[str]) -> None:
    for k, v in d.items():
        if not isinstance(v, Mapping) and not _is_table_array(v):
            out.append(f"{_toml_key(k)} = {_toml_value(v)}")
    for k, v in d.items():
        name = f"{prefix}.{_toml_key(k)}" if prefix else _toml_key(k)
        if isinstance(v, Mapping):
            out.append(f"\n[{name}]")
            _toml_table(v, name, out)
        elif _is_table_array(v):
            for item in v:
                out.append(f"\n[[{name}]]")
                _toml_table(item, name, out)


def _toml_text(config: Mapping[str, Any]) -> str:
    out: List[str] = []
    _toml_table(config, "", out)
    return "\n".join(out) + "\n"


def _override_list(overrides: Optional[Mapping[str, Any]]) -> List[str]:
    """{"fit.gradient.epochs": 10} -> ["fit.gradient.epochs=10"] (values in TOML syntax)."""
    if not overrides:
        return []
    return [f"{k}={_toml_value(v)}" for k, v in overrides.items()]


def _config_source(config: Any) -> Tuple[str, str]:
    """(path, text): a file path, or TOML text (from a string or a dict)."""
    if isinstance(config, Model):
        return config._path, config._text
    if isinstance(config, Mapping):
        return "", _toml_text(config)
    if isinstance(config, os.PathLike):
        return os.fspath(config), ""
    if isinstance(config, str):
        if os.path.isfile(config) or not any(c in config for c in "\n=["):
            return config, ""
        return "", config
    raise TypeError(
        f"cellfit: a config is a file path, TOML text, a dict or a Model, not {type(config).__name__}"
    )


# --- Model -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameters:
    """The fit parameters of a model ([[fit.parameter]]), one entry per scalar the optimiser
    moves, in the order of parameter vectors (``Model.simulate``, ``Model.loss_and_gradient``,
    ``/fit/best/params``). Values are physical (the units of ``units``, e.g. S/cm2)."""

    names: List[str]  #: e.g. ``hh.gnabar@soma``, ``jk.gkbar[3]``
    lower: np.ndarray  #: lower bounds [P], physical units
    upper: np.ndarray  #: upper bounds [P], physical units
    initial: np.ndarray  #: the fit's starting point [P], physical units
    model_values: np.ndarray  #: the model's own values [P], physical units
    units: List[str]  #: NMODL units of each scalar
    transforms: List[str]  #: ``linear``, ``log`` or ``sigmoid`` (optimiser coordinates)
    scopes: List[str]  #: ``all``, a section list or ``per_compartment``
    groups: List[str]  #: the [[fit.parameter]] tables, ``mechanism.param[@scope]``
    group_of: np.ndarray  #: index into ``groups`` of each scalar [P]

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Compartments:
    """The compartments of a model in Hines order (the indices sites and per-compartment
    parameters use)."""

    names: List[str]  #: NEURON's ``section(x)`` of each compartment (a value graph's: its names)
    sections: List[str]  #: section name
    section_lists: List[str]  #: the region (section list) of each: ``soma``, ``axon``, ``dend``, ``apic``, ...
    x: np.ndarray  #: position along the section, 0..1
    distance_um: np.ndarray  #: path distance from soma[0](0.5), um (NaN for point models and value graphs)
    area_um2: np.ndarray  #: membrane area, um2 (NaN for point models; value graphs: nominal, 100 um2 per pF)

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Simulation:
    """Traces of a batch of cells. Cell ``c`` is parameter set ``c // n_stimuli`` with stimulus
    ``c % n_stimuli`` (stimulus fastest), the layout of ``/traces/voltage``."""

    voltage: np.ndarray  #: [cell][site][sample], mV; NaN from a diverged cell's failure on
    time_ms: np.ndarray  #: [sample] sample times, ms
    site_names: List[str]  #: [site] recording names
    stimulus_names: List[str]  #: [stimulus]
    failed_step: np.ndarray  #: [cell] step at which the cell diverged, -1 if it did not
    n_sets: int  #: parameter sets simulated
    kernel_seconds: float  #: time in the simulation kernel, s

    @property
    def n_stimuli(self) -> int:
        return len(self.stimulus_names)

    def trace(self, set: int = 0, stimulus: int = 0, site: int = 0) -> np.ndarray:
        """The voltage of one cell at one site [sample], mV."""
        return self.voltage[set * self.n_stimuli + stimulus, site]


@dataclass(frozen=True)
class Identifiability:
    """What the data can tell about the fit parameters at one point (``cellfit
    identifiability``; docs/identifiability.md has the formulas). ``P`` parameters, ``N``
    residuals ``r = sqrt(w) (V - target)`` over stimuli, sites and samples, weighted as the
    fit's loss weights them (``sum(r**2)`` is the loss). Matrices are ``[P][P]`` in the order of
    ``names``; "relative" coordinates are ``dtheta / |theta|`` (dimensionless)."""

    names: List[str]  #: parameter names [P]
    params: np.ndarray  #: the point analysed [P], physical units
    scale: np.ndarray  #: ``|params|`` (1 where 0): the relative coordinates' unit [P]
    n_residuals: int  #: N
    rss: float  #: sum of squared residuals: the loss at ``params``
    sigma2: float  #: residual variance used: ``RSS/(N-P)``, or ``noise_mv**2`` when given
    noise_mv: float  #: the noise level given, mV (0: estimated from the residuals)
    gauss_newton: np.ndarray  #: ``J^T J`` (half the loss's Gauss-Newton Hessian), physical units
    fisher: np.ndarray  #: Fisher information ``F`` (physical units), whose inverse is ``covariance``
    fisher_relative: np.ndarray  #: ``F`` in relative coordinates
    eigenvalues: np.ndarray  #: of ``fisher_relative``, ascending [P]; ``1/sqrt`` = relative s.d.
    eigenvectors: np.ndarray  #: ``[k][param]``: unit eigenvector of ``eigenvalues[k]``
    covariance: np.ndarray  #: ``F^-1``, physical units
    std_error: np.ndarray  #: ``sqrt(diag(covariance))``, physical units [P]
    relative_std_error: np.ndarray  #: ``std_error / scale`` [P]
    correlation: np.ndarray  #: correlation of the estimates, -1..1
    condition_number: float  #: largest / smallest eigenvalue
    numerically_singular: int  #: eigenvalues at rounding level (1e-16 of the largest)
    residuals: np.ndarray  #: ``r`` [N]
    jacobian: np.ndarray  #: ``dr/dtheta`` [N][P], exact (tangent-linear simulation)
    jacobian_seconds: float  #: time of the tangent-linear passes, s
    at: str = "params"  #: ``best``, ``truth`` or ``initial`` for a fit file
    ground_truth: Optional[np.ndarray] = None  #: [P] when the fit's target was synthetic
    config: str = ""  #: the config the problem was rebuilt from (fit files)
    loss: str = ""  #: ``normalized`` or ``mse``: the residuals' weights (fit files)

    def weakest(self, k: int = 0, threshold: float = 0.1) -> List[Tuple[str, float]]:
        """The parameters of the k-th weakest direction (k = 0: least constrained) whose
        entry exceeds ``threshold`` in magnitude, largest first: ``[(name, entry), ...]``."""
        v = self.eigenvectors[k]
        order = np.argsort(-np.abs(v))
        return [(self.names[i], float(v[i])) for i in order if abs(v[i]) >= threshold]


def _identifiability(d: Dict[str, Any], **extra: Any) -> Identifiability:
    fields = {k: d[k] for k in Identifiability.__dataclass_fields__ if k in d}
    fields["names"] = list(fields["names"])
    fields.update(extra)
    return Identifiability(**fields)


class Model:
    """A cell model, its stimuli and recordings, and (when the config has ``[fit]``) its fit
    problem, built by cellfit's config reader exactly as the ``cellfit`` command builds it.

    Parameters
    ----------
    config:
        A TOML config file path, TOML text, or a dict of the same structure
        (``{"model": {...}, "simulation": {...}, "stimulus": [{...}], ...}``; docs/config.md).
    overrides:
        ``{"section.key": value}``, as ``--set section.key=value`` on the command line
        (e.g. ``{"simulation.t_stop_ms": 50.0, "stimulus.0.amplitude": 0.2}``).

    Raises ``cellfit.ConfigError`` (or another ``cellfit.Error``) for a bad config, with the
    file, line and key.
    """

    def __init__(self, config: ConfigLike, overrides: Optional[Mapping[str, Any]] = None):
        self._path, self._text = _config_source(config)
        self._overrides = _override_list(overrides)
        if isinstance(config, Model) and not overrides:
            self._overrides = list(config._overrides)
        name = "<dict>" if isinstance(config, Mapping) else "<string>"
        self._m = _core.Model(self._path, self._text, name, self._overrides)
        self._info = self._m.info()
        self._parameters: Optional[Parameters] = None
        # Values almost certainly in the wrong unit (dt_ms = 25, celsius = 307, gnabar = 120,
        # a 100 nA step): the command prints them to stderr; here they are warnings.
        for w in self._info.get("warnings", []):
            warnings.warn(f"cellfit: {w}", UserWarning, stacklevel=2)

    def __repr__(self) -> str:
        i = self._info
        return (
            f"<cellfit.Model {i['source']}: {i['morphology']}, {i['n_compartments']} compartments, "
            f"{len(self.stimulus_names)} stimuli, {len(self.site_names)} sites, "
            f"{len(self.parameters)} fit parameters>"
        )

    # -- what the model is --

    @property
    def source(self) -> str:
        """The config's file name (``<string>``/``<dict>`` for text and dicts)."""
        return self._info["source"]

    @property
    def dt_ms(self) -> float:
        """Time step, ms."""
        return self._info["dt_ms"]

    @property
    def t_stop_ms(self) -> float:
        """Simulated time, ms."""
        return self._info["t_stop_ms"]

    @property
    def time_ms(self) -> np.ndarray:
        """Sample times of the recorded traces [sample], ms."""
        i = self._info
        return np.arange(i["n_samples"]) * i["sample_interval_ms"]

    @property
    def info(self) -> Dict[str, Any]:
        """Settings of the run: morphology, compartments, dt_ms, t_stop_ms, record_every,
        sample_interval_ms, precision, celsius (degC), v_init_mv, engine, target, ..."""
        return dict(self._info)

    @property
    def mechanisms(self) -> Dict[str, Dict[str, Any]]:
        """The mechanisms inserted in this model: name -> {``compartments``: indices,
        ``parameters``: {param: per-instance values}, ``units``: {param: unit},
        ``globals``: {name: value}}. ``cellfit.catalogue()`` lists every mechanism."""
        return {d["name"]: d for d in self._m.mechanisms()}

    @property
    def parameters(self) -> Parameters:
        """The fit parameters (empty without [[fit.parameter]])."""
        if self._parameters is None:
            self._parameters = Parameters(**self._m.parameters())
        return self._parameters

    @property
    def compartments(self) -> Compartments:
        """Every compartment: section(x) name, section, section list, distance from the soma
        (um) and membrane area (um2)."""
        return Compartments(**self._m.compartments())

    @property
    def site_names(self) -> List[str]:
        """Recorded sites' names (recording names, or the site's section(x))."""
        return self._m.sites()["names"]

    @property
    def site_compartments(self) -> np.ndarray:
        """Compartment index of each recorded site."""
        return self._m.sites()["compartments"]

    @property
    def stimuli(self) -> List[Dict[str, Any]]:
        """The stimuli / protocols, one simulated cell per parameter set each: name, the window
        eFEL's features use (``start_ms``, ``end_ms``), the step ``amplitude_na`` (NaN when not
        a step), ``t_stop_ms`` and ``n_components``."""
        return self._m.stimuli()

    @property
    def stimulus_names(self) -> List[str]:
        return [s["name"] for s in self._m.stimuli()]

    # -- simulating --

    def simulate(
        self,
        params: Union[None, np.ndarray, Sequence[float], Mapping[str, Any], Sequence[Mapping[str, Any]]] = None,
        *,
        progress: bool = False,
    ) -> Simulation:
        """Simulates parameter sets x stimuli (every stimulus of the config for every set).

        ``params``:

        * ``None``: the config's own parameter sets ([batch], else the model's values);
        * a numpy array ``(n_sets, P)`` (or ``(P,)``) of physical fit parameter values in the
          order of ``model.parameters.names`` (needs [[fit.parameter]]; values inside the
          bounds);
        * a dict, or a list of dicts, one per set: ``{"hh.gnabar": 0.15,
          "hh.gkbar@soma": 0.04, "pas.g": [...per instance...]}`` (S/cm2 etc., NMODL units).

        The GIL is released while the simulation runs (blocks until done). ``progress`` prints
        progress lines on stderr.
        """
        empty = np.zeros((0, 0))
        if params is None:
            r = self._m.simulate(empty, False, [], False, progress)
        elif isinstance(params, Mapping) or (
            isinstance(params, (list, tuple)) and params and isinstance(params[0], Mapping)
        ):
            sets = [params] if isinstance(params, Mapping) else list(params)
            clean = [
                {str(k): np.atleast_1d(np.asarray(v, dtype=np.float64)).tolist() for k, v in s.items()}
                for s in sets
            ]
            r = self._m.simulate(empty, False, clean, True, progress)
        else:
            values = np.ascontiguousarray(np.atleast_2d(np.asarray(params, dtype=np.float64)))
            if values.ndim != 2:
                raise ValueError("cellfit: params must be (n_sets, P) or (P,)")
            r = self._m.simulate(values, True, [], False, progress)
        return Simulation(
            voltage=r["voltage"],
            time_ms=r["time_ms"],
            site_names=self.site_names,
            stimulus_names=self.stimulus_names,
            failed_step=r["failed_step"],
            n_sets=int(r["n_sets"]),
            kernel_seconds=float(r["kernel_seconds"]),
        )

    # -- the gradient engine's loss --

    @property
    def target(self) -> np.ndarray:
        """The fit's target traces [stimulus][site][sample], mV (fit.target: synthetic, simulated
        at the ground truth on first use, or file)."""
        return self._m.target()

    @property
    def ground_truth(self) -> Optional[np.ndarray]:
        """The synthetic target's parameters [P] (physical), None for a file target."""
        return self._m.ground_truth()

    def loss_and_gradient(self, params: Union[np.ndarray, Sequence[float]]) -> Tuple[float, np.ndarray]:
        """The gradient engine's trace loss against the config's target and its exact gradient
        (discrete adjoint), at physical parameter values ``params`` [P] (order of
        ``model.parameters.names``): ``(loss, dloss/dparams)``, the gradient in loss units per
        physical unit. The same evaluation an iteration of ``cellfit fit --engine gradient``
        makes (fit.gradient.loss: ``normalized`` = MSE / sites, mV^2; spike term when
        ``spike_weight`` > 0). A diverged cell gives ``loss = inf``. Releases the GIL; blocks.

        SciPy: ``scipy.optimize.minimize(model.loss_and_gradient, x0, jac=True,
        bounds=list(zip(p.lower, p.upper)), method="L-BFGS-B")``.
        """
        x = np.ascontiguousarray(np.asarray(params, dtype=np.float64).ravel())
        loss, grad, _ = self._m.loss_and_gradient(x, True)
        return float(loss), grad

    def identifiability(
        self, params: Union[np.ndarray, Sequence[float]], *, noise_mv: float = 0.0
    ) -> Identifiability:
        """What the config's target traces can tell about the fit parameters at ``params``
        [P] (physical units): the exact Jacobian of the loss's residuals (tangent-linear
        simulation), the Fisher information, its spectrum, standard errors and correlations.
        ``noise_mv`` > 0: the target's noise (mV per sample); 0: the residual variance
        ``RSS/(N-P)`` (meaningless at an exact synthetic fit, where it is ~0). Releases the
        GIL; blocks."""
        x = np.ascontiguousarray(np.asarray(params, dtype=np.float64).ravel())
        return _identifiability(self._m.identifiability(x, float(noise_mv)), at="params")

    def loss(self, params: Union[np.ndarray, Sequence[float]]) -> float:
        """The loss of ``loss_and_gradient`` without the gradient (one forward pass)."""
        x = np.ascontiguousarray(np.asarray(params, dtype=np.float64).ravel())
        loss, _, _ = self._m.loss_and_gradient(x, False)
        return float(loss)


# --- the catalogue and features --------------------------------------------------------------


def catalogue() -> Dict[str, Dict[str, Any]]:
    """Every mechanism compiled in: name -> {``source`` (.mod file), ``parameters``
    {name: (default, unit)}, ``globals`` {name: (default, unit)}, ``states``, ``ions``}."""
    return {d["name"]: d for d in _core.catalogue()}


def feature_names() -> List[str]:
    """The eFEL features cellfit computes (docs/features.md)."""
    return list(_core.feature_names())


class Features(dict):
    """feature name -> ndarray of its values (eFEL returns arrays; scalar features have one
    element), or None where the feature cannot be computed; ``reasons[name]`` says why."""

    def __init__(self, values: Dict[str, Optional[np.ndarray]], reasons: Dict[str, str]):
        super().__init__(values)
        self.reasons = reasons


def features(
    time_ms: Union[np.ndarray, Sequence[float]],
    voltage: Union[np.ndarray, Sequence[float]],
    stim_start_ms: Union[float, Sequence[float]],
    stim_end_ms: Union[float, Sequence[float]],
    names: Sequence[str],
    *,
    stimulus_current_na: Union[float, Sequence[float]] = 0.0,
    threads: int = 0,
    **settings: Any,
) -> Union[Features, List[Features]]:
    """eFEL features of voltage traces, computed by cellfit's feature library (eFEL 5.7's
    definitions and defaults; the traces are resampled at ``interp_step_ms`` as eFEL does).

    ``time_ms`` [sample] non-decreasing times (ms, any spacing; a repeated time, as
    NEURON's variable-step output has at events, is resampled as eFEL does); ``voltage`` [sample]
    (one trace: returns a ``Features``) or [trace][sample] (returns a list, computed on
    ``threads`` host threads, 0: all cores); ``stim_start_ms``/``stim_end_ms`` the stimulus
    window (ms; one value or one per trace); ``stimulus_current_na`` for
    ``ohmic_input_resistance`` (nA). ``settings``: ``threshold_mv`` (-20),
    ``derivative_threshold`` (10 mV/ms), ``down_derivative_threshold`` (-12 mV/ms),
    ``interp_step_ms`` (0.1), ``derivative_window`` (3), ``spike_skipf`` (0.1),
    ``max_spike_skip`` (2), ``voltage_base_start_perc`` (0.9), ``voltage_base_end_perc``
    (1.0), ``voltage_base_mode`` ("mean"), ``precision_threshold`` (1e-10 ms),
    ``sahp_start_ms`` (5), ``ignore_first_isi`` (True), ``strict_stiminterval`` (False),
    ``decay_start_after_stim_ms`` (1), ``decay_end_after_stim_ms`` (10).

    A feature that cannot be computed (no spikes, NaN samples, ...) is None, with the reason
    in ``result.reasons``; an unknown name or setting raises ``cellfit.ConfigError``. The GIL
    is released while the features are computed.
    """
    t = np.ascontiguousarray(np.asarray(time_ms, dtype=np.float64).ravel())
    v = np.asarray(voltage, dtype=np.float64)
    single = v.ndim == 1
    v = np.ascontiguousarray(np.atleast_2d(v))
    if v.ndim != 2:
        raise ValueError("cellfit.features: voltage must be [sample] or [trace][sample]")
    n = v.shape[0]

    def per_trace(x: Any, what: str) -> np.ndarray:
        a = np.asarray(x, dtype=np.float64).ravel()
        if a.size == 1:
            a = np.full(n, a[0])
        if a.size != n:
            raise ValueError(f"cellfit.features: {what} has {a.size} values for {n} traces")
        return np.ascontiguousarray(a)

    if isinstance(names, str):
        names = [names]
    rows = _core.compute_features(
        t,
        v,
        per_trace(stim_start_ms, "stim_start_ms"),
        per_trace(stim_end_ms, "stim_end_ms"),
        per_trace(stimulus_current_na, "stimulus_current_na"),
        list(names),
        dict(settings),
        int(threads),
    )
    out = []
    for row in rows:
        values = {name: val for name, (val, _) in zip(names, row)}
        reasons = {name: why for name, (val, why) in zip(names, row) if val is None}
        out.append(Features(values, reasons))
    return out[0] if single else out


# --- recordings ------------------------------------------------------------------------------


@dataclass
class Sweep:
    """One recorded sweep: ``time_ms`` [sample] (non-decreasing; a time may repeat),
    ``voltage_mv`` [sample], ``current_na`` [sample] or None when the file has no stimulus
    current; ``stim_start_ms``/``stim_end_ms``/``stimulus_current_na``/``holding_current_na``
    the step read off the current (NaN without one)."""

    name: str
    protocol: str
    sweep_number: int
    time_ms: np.ndarray
    voltage_mv: np.ndarray
    current_na: Optional[np.ndarray]
    stim_start_ms: float = math.nan
    stim_end_ms: float = math.nan
    stimulus_current_na: float = math.nan
    holding_current_na: float = math.nan


@dataclass
class Recording:
    """The sweeps of one recording file (``format``: "text", "csv", "hdf5", "nwb", "abf")."""

    path: str
    format: str
    sweeps: List[Sweep]

    def write_csv(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Writes the sweeps as the CSV layout ``cellfit features`` and ``[fit.target]`` read
        (one ``t_ms`` column, one voltage column per sweep, the currents when all sweeps have
        them); the sweeps must share their time stamps (ABF episodes do)."""
        from . import _abf

        if not self.sweeps:
            raise ValueError("cellfit.Recording.write_csv: no sweeps")
        try:
            _abf.write_csv([(w.name, w.protocol, w.sweep_number, w.time_ms, w.voltage_mv,
                             w.current_na) for w in self.sweeps], os.fspath(path))
        except _abf.AbfError as e:
            raise ValueError(f"cellfit.Recording.write_csv: {e}") from e


def _read_abf(path: str) -> Recording:
    from . import _abf  # scripts/read_abf.py, the code `cellfit features` runs for ABF

    try:
        rows = _abf.read(path)
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise FileError(f"cellfit::recording: {path}: reading ABF needs pyabf ({e})") from e
    except _abf.AbfError as e:
        raise FileError(str(e)) from e
    sweeps = []
    for name, protocol, number, t, v, i in rows:
        step = (math.nan,) * 4 if i is None else _core.step_of_current(
            np.ascontiguousarray(t), np.ascontiguousarray(i))
        sweeps.append(Sweep(name, protocol, number, t, v, i, *step))
    return Recording(path, "abf", sweeps)


def read_recording(
    path: Union[str, "os.PathLike[str]"], sweeps: Union[None, str, Sequence[Union[int, str]]] = None
) -> Recording:
    """The sweeps of a recording file, read by cellfit's reader (docs/features.md,
    "Recordings"): two-column text (t_ms v_mv [i_na]), CSV with a header, HDF5 (cellfit's
    /traces layout, or ``"file.h5:/group"``), NWB 2.x (CurrentClampSeries with their
    CurrentClampStimulusSeries; read through HDF5, pynwb is not needed), and ABF (through
    pyabf, the code ``cellfit features`` runs for ABF). ``sweeps``: indices or names to keep (all by default). Times in ms,
    voltages in mV, currents in nA. Raises ``cellfit.FileError`` naming the file and the
    line or dataset of a bad value."""
    p = os.fspath(path)
    if p.lower().endswith(".abf"):
        rec = _read_abf(p)
    else:
        rows = _core.read_recording(p)
        rec = Recording(p, rows[0]["format"] if rows else "", [
            Sweep(r["name"], r["protocol"], r["sweep_number"], r["time_ms"], r["voltage_mv"],
                  r["current_na"], r["stim_start_ms"], r["stim_end_ms"],
                  r["stimulus_current_na"], r["holding_current_na"]) for r in rows
        ])
    if sweeps is not None:
        if isinstance(sweeps, (str, int)):
            sweeps = [s for s in str(sweeps).split(",") if s]
        keep = []
        for s in sweeps:
            named = [w for w in rec.sweeps if w.name == str(s)]
            if named:
                keep.append(named[0])
            elif str(s).isdigit() and int(s) < len(rec.sweeps):
                keep.append(rec.sweeps[int(s)])
            else:
                raise UsageError(f"cellfit::recording: {p}: no sweep {str(s)!r} "
                                 f"(it has {len(rec.sweeps)})")
        rec.sweeps = keep
    return rec


def recording_features(
    recording: Union[Recording, Sweep, Sequence[Sweep], str, "os.PathLike[str]"],
    names: Sequence[str],
    *,
    stim_start_ms: Optional[float] = None,
    stim_end_ms: Optional[float] = None,
    stimulus_current_na: Optional[float] = None,
    threads: int = 0,
    **settings: Any,
) -> List[Features]:
    """Features of recorded sweeps (a ``Recording``, a path, a ``Sweep`` or a list of them),
    one ``Features`` per sweep, each on its own time stamps. The stimulus window and current
    default to the step read off each sweep's recorded current; give them when the file has
    none. ``settings`` as for ``features``."""
    if isinstance(recording, (str, os.PathLike)):
        recording = read_recording(recording)
    sweeps = (recording.sweeps if isinstance(recording, Recording)
              else [recording] if isinstance(recording, Sweep) else list(recording))
    out = []
    for s in sweeps:
        start = s.stim_start_ms if stim_start_ms is None else stim_start_ms
        end = s.stim_end_ms if stim_end_ms is None else stim_end_ms
        if math.isnan(start) or math.isnan(end):
            raise UsageError(f"cellfit::recording: sweep {s.name!r} has no recorded step "
                             "current: give stim_start_ms and stim_end_ms")
        cur = stimulus_current_na
        if cur is None:
            cur = 0.0 if math.isnan(s.stimulus_current_na) else s.stimulus_current_na
        out.append(features(s.time_ms, s.voltage_mv, start, end, names,
                            stimulus_current_na=cur, threads=threads, **settings))
    return out


def average_features(
    per_sweep: Sequence[Features],
    *,
    default_std: float = 1e-3,
    min_values: int = 1,
    std_fraction: float = 0.0,
) -> Dict[str, Tuple[float, float, int]]:
    """Feature means and standard deviations over repeated sweeps of one protocol, with
    BluePyEfe's conventions: each sweep gives the mean of its values; sweeps where a
    feature cannot be computed are left out; the population std (numpy.nanstd); a std of 0
    becomes ``default_std``; a feature given by fewer than ``min_values`` sweeps is left out;
    ``std_fraction`` > 0 raises a std below ``std_fraction * |mean|``. Returns name ->
    (mean, std, n sweeps)."""
    if not per_sweep:
        return {}
    names = list(per_sweep[0].keys())
    rows = [[None if f.get(n) is None else [float(x) for x in np.ravel(f[n])] for n in names]
            for f in per_sweep]
    stats = _core.sweep_statistics(rows, names, float(default_std), int(min_values),
                                   float(std_fraction))
    return {n: (m, sd, k) for n, (ok, m, sd, k, _) in zip(names, stats) if ok}


# --- fit, compare, results -------------------------------------------------------------------


class _config_file:
    """A path for the config: the file itself, or a temporary copy of TOML text / a dict."""

    def __init__(self, config: ConfigLike):
        self.path, text = _config_source(config)
        self._tmp = None
        if text:
            fd, self._tmp = tempfile.mkstemp(prefix="cellfit_config_", suffix=".toml")
            with os.fdopen(fd, "w") as f:
                f.write(text)
            self.path = self._tmp

    def __enter__(self) -> str:
        return self.path

    def __exit__(self, *exc: Any) -> None:
        if self._tmp:
            os.unlink(self._tmp)


_INTERRUPTED = 75
_DIVERGED = 6


def fit(
    config: ConfigLike,
    engine: Optional[str] = None,
    overrides: Optional[Mapping[str, Any]] = None,
    out: Optional[Union[str, "os.PathLike[str]"]] = None,
    *,
    quiet: bool = False,
    resume: Optional[Union[str, "os.PathLike[str]"]] = None,
    checkpoint: Optional[Union[str, "os.PathLike[str]"]] = None,
    checkpoint_every: Optional[int] = None,
    fresh: bool = False,
) -> Union["Result", List["Result"]]:
    """Runs ``cellfit fit`` (the same code) and returns its result file read by
    ``read_result``; for a config with ``[fit.ensemble]``, the list of its members' results
    (``fit.m0.h5``, ``fit.m1.h5``, ...), in member order.

    ``engine``: ``"gradient"``, ``"ga"`` or ``"hybrid"`` (default: the config's fit.engine);
    ``overrides``: ``{"fit.gradient.epochs": 50}`` as ``--set``; ``out``: the HDF5 output
    (default: the config's fit.output, ``fit.h5``); ``resume``/``checkpoint``/
    ``checkpoint_every``/``fresh`` as on the command line. Progress goes to stderr (``quiet`` silences
    it), the summary to stdout. The GIL is released while the fit runs; Ctrl-C (SIGINT) stops
    it gracefully as in the CLI: a checkpoint is written and ``KeyboardInterrupt`` is raised
    (``resume=`` continues it; the next fit without ``resume`` moves it to ``CKPT.prev``). A config given as text or a dict runs from a temporary file.
    """
    if isinstance(config, Model) and overrides is None:
        overrides_list = list(config._overrides)
    else:
        overrides_list = _override_list(overrides)
    with _config_file(config) as path:
        # The output the command will write (and a check of the config before it runs).
        info = _core.Model(path, "", "", overrides_list).info()
        result_path = os.fspath(out) if out is not None else info["fit_output"]
        members = int(info["ensemble_members"])
        code = _core.run_fit(
            path,
            engine or "",
            overrides_list,
            os.fspath(out) if out is not None else "",
            quiet,
            os.fspath(resume) if resume is not None else "",
            os.fspath(checkpoint) if checkpoint is not None else "",
            -1 if checkpoint_every is None else int(checkpoint_every),
            bool(fresh),
        )
    if code == _INTERRUPTED:
        raise KeyboardInterrupt("cellfit.fit: stopped by a signal; a checkpoint was written")
    if code == _DIVERGED:
        warnings.warn("cellfit.fit: every cell diverges at the starting point", RuntimeWarning)
    elif code != 0:
        raise Error(f"cellfit.fit: the fit ended with status {code}")
    if members:
        return [
            read_result(_core.ensemble_member_output(result_path, m)) for m in range(members)
        ]
    return read_result(result_path)


def identifiability(
    fit: Union[str, "os.PathLike[str]"],
    *,
    config: Optional[Union[str, "os.PathLike[str]"]] = None,
    overrides: Optional[Mapping[str, Any]] = None,
    at: str = "best",
    noise_mv: float = 0.0,
) -> Identifiability:
    """The analysis ``cellfit identifiability FIT`` makes, without files: the fit's problem
    is rebuilt from the config it recorded (``config=`` overrides it, ``overrides`` apply
    after the recorded ones) and analysed at ``at`` (``"best"``, ``"truth"`` for a synthetic
    target, or ``"initial"``). ``noise_mv``: as in ``Model.identifiability``. A fit to
    features is refused (``ConfigError``). Releases the GIL; blocks."""
    if at not in ("best", "truth", "initial"):
        raise UsageError(f"cellfit.identifiability: at={at!r}: expected best, truth or initial")
    d = _core.analyse_fit(
        os.fspath(fit),
        os.fspath(config) if config is not None else "",
        _override_list(overrides),
        at,
        float(noise_mv),
    )
    return _identifiability(d)


def compare(
    config: Optional[ConfigLike] = None,
    overrides: Optional[Mapping[str, Any]] = None,
    out_dir: Union[str, "os.PathLike[str]"] = ".",
    *,
    budget: float = 0,
    budget_seconds: float = 0,
    engines: Sequence[str] = (),
    plots: bool = True,
    quiet: bool = False,
) -> "Result":
    """Runs ``cellfit compare`` (the GA, the gradient engine and the hybrid on one budget;
    ``config`` None: the built-in problem, paper 000's toy) and returns ``compare.h5`` read by
    ``read_result``. ``budget``: single-cell simulations per engine (0: the config's);
    ``budget_seconds``: wall time per engine instead; ``engines``: a subset of
    ``("ga", "gradient", "hybrid")``; ``plots``: write the PNGs into ``out_dir``."""
    if isinstance(config, Model) and overrides is None:
        overrides_list = list(config._overrides)
    else:
        overrides_list = _override_list(overrides)
    if config is None:
        ctx: Any = None
        path = ""
    else:
        ctx = _config_file(config)
        path = ctx.path
    try:
        code = _core.run_compare(
            path, overrides_list, os.fspath(out_dir), float(budget), float(budget_seconds),
            list(engines), plots, quiet,
        )
    finally:
        if ctx is not None:
            ctx.__exit__()
    if code == _INTERRUPTED:
        raise KeyboardInterrupt("cellfit.compare: stopped by a signal")
    if code != 0:
        raise Error(f"cellfit.compare: ended with status {code}")
    return read_result(os.path.join(os.fspath(out_dir), "compare.h5"))


def plot(
    path: Union[str, "os.PathLike[str]"],
    out_dir: Union[str, "os.PathLike[str]"] = ".",
    *,
    dpi: int = 90,
) -> List[str]:
    """Draws the PNG plots of a cellfit result file, as ``cellfit plot`` does (the same
    code, scripts/plot_result.py), and returns their paths.

    A fit file ``FIT.h5``: ``FIT_loss.png`` (loss per iteration/generation, log scale; the
    GA's median, the GT error when the target is synthetic), ``FIT_traces.png`` (target vs
    best traces per stimulus and recording), ``FIT_params.png`` (the fitted values within
    their bounds, initial and ground truth when known) and, for the GA,
    ``FIT_population.png`` (each individual's summed objective per generation). A simulate
    file ``SIM.h5``: ``SIM_traces.png``. ``out_dir`` is created if needed.

    Raises ``cellfit.FileError`` for a missing file or one that is not a cellfit fit or
    simulate result; ``ImportError`` without matplotlib or h5py. The figures are drawn
    without pyplot: no matplotlib backend is chosen or changed (a notebook's stays), and
    nothing is left open; show them with ``IPython.display.Image(path)``.
    """
    from . import _plot

    try:
        return _plot.plot(os.fspath(path), os.fspath(out_dir), dpi)
    except _plot.PlotError as e:
        raise FileError(f"cellfit::plot: {e}") from None


from ._result import Result, read_result  # noqa: E402
