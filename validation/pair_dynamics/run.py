"""Compute the pair-dynamics experiment: train, measure the pairs (cached), fit, analyse, write.

``run(config, out_dir)`` is the Python entry point that ``python -m validation.pair_dynamics``
calls. With ``out_dir`` it first checks that the directory can be written (one-line
``ValueError``, nothing written), reuses ``out_dir/stage.npz`` (the snapshots' parameters and
the pair measurements) when it was made with the same compute configuration, and writes
``results.npz`` + ``results.json`` (``validation.common.results``), ``stage.npz`` and the six
figures. ``load(path)`` reads a results pair back, validated.

The stage key is ``validation.common.keys.config_key(config)``: the whole configuration
except ``PairDynamicsConfig.ANALYSIS_FIELDS``, so a new training field never silently reuses
a stale stage. A corrupt or inconsistent ``stage.npz`` is refused in one line naming it.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from interaction.artifacts import atomic_savez, check_output_dir, save_figure
from rnn.automata import std_norm
from rnn.measure.contraction import estimate_contraction
from rnn.measure.pairs import measure_pairs_over_training, plan_pairs
from rnn.parity import SnapshotRun, hidden_states, train_with_snapshots
from validation.common.keys import config_key
from validation.common.options import config_from_dict
from validation.common.results import Results, check_shapes, load_results, read_npz, save_results
from validation.common.runtime import torch_threads

from validation.pair_dynamics.analysis import (Measured, Observed, Predictions, disagreements, observe,
                                               pair_records, predict, steps_per_epoch, summarise)
from validation.pair_dynamics.config import PairDynamicsConfig
from validation.pair_dynamics.figures import make_figures
from validation.pair_dynamics.fits import RateFits, fit_all
from validation.pair_dynamics.measures import gain_from_hidden, mean_pairwise_distance, pair_taylor_ratio
from validation.pair_dynamics.nine_variable import FixedExpansionRuns, fixed_expansion_runs
from validation.pair_dynamics.selection import n_outputs, select_pairs, task_data

EXPERIMENT = "pair_dynamics"
STAGE_FILE = "stage.npz"
MEASURED = tuple(f.name for f in fields(Measured))
#: arrays of ``results.npz`` and their shapes: S = snapshots, K = pairs, E = epochs + 1, F = nine-variable times.
RESULT_SHAPES: dict[str, tuple[str, ...]] = {
    "snapshot_epochs": ("S",), "train_loss": ("E",), "H": ("S", "K"), "Y": ("S", "K"), "W": ("S", "K"),
    "S": ("K",), "N": ("K",), "m1": ("K",), "m2": ("K",), "n_min": ("K",), "A_high": ("S", "K"), "A_low": ("K",),
    "taylor": ("S", "K"), "agreeing": ("K",), "observed": ("K",), "predicted_start": ("K",),
    "predicted_late": ("K",), "calibration": ("K",), "fit_tau": ("K", 2), "prefix1": ("K",), "prefix2": ("K",),
    "mean_distance": ("S",), "eps": (), "fe_t": ("F",), "fe_distance2": (None, "F"), "fe_loss": (None, "F"),
    "fe_equal_distance2": (None, "F"),
}


@dataclass(frozen=True)
class Stage:
    """The expensive part of a run: the snapshots, the pairs' measurements and Taylor ratios."""

    run: SnapshotRun
    meas: Measured
    taylor: np.ndarray
    labels: tuple[list[str], list[str]]
    seconds: dict[str, Any]


@dataclass(frozen=True)
class PairDynamicsResult:
    """Outcome of ``run``: ``summary`` is the content of ``results.json``, ``arrays`` that of ``results.npz``."""

    config: PairDynamicsConfig
    stage: Stage
    observed: Observed
    fits: RateFits
    predictions: Predictions
    fixed_expansion: FixedExpansionRuns
    mean_distance: np.ndarray
    summary: dict[str, Any]
    arrays: dict[str, np.ndarray]
    written: list[Path] = field(default_factory=list)


# ----------------------------------------------------------------------------- stage cache

def _resolve_shapes(path: Path, arrays: dict[str, np.ndarray], shapes: dict[str, tuple]) -> None:
    """``check_shapes`` with symbolic sizes: every use of one letter must have the same size."""
    sizes: dict[str, int] = {}
    for name, shape in shapes.items():
        actual = arrays[name].shape
        if len(actual) == len(shape):
            for s, a in zip(shape, actual):
                if isinstance(s, str):
                    sizes.setdefault(s, a)
    check_shapes(path, arrays, {name: tuple(sizes.get(s, s) if isinstance(s, str) else s for s in shape)
                                for name, shape in shapes.items()})


def _stage_key(config: PairDynamicsConfig) -> str:
    return config_key(config, EXPERIMENT + "/stage")


def read_stage(path: Path, config: PairDynamicsConfig, train_config) -> Stage | None:
    """The cached stage of ``config`` in ``path``; None if absent or made with another configuration.

    A file that cannot be read, or whose arrays are missing or inconsistent, raises a
    one-line ``ValueError`` naming it (delete it to recompute).
    """
    if not path.exists():
        return None
    try:
        z = read_npz(path, ("key",))
        if str(z["key"]) != _stage_key(config):
            return None
        names = [str(n) for n in read_npz(path, ("param_names",))["param_names"]]
        required = ("snapshot_epochs", "train_loss", "status", "epochs", "taylor", "labels1", "labels2",
                    *(f"meas_{f}" for f in MEASURED), *(f"param_{n}" for n in names))
        z = read_npz(path, required)
        shapes = {"snapshot_epochs": ("S",), "taylor": ("S", "K"), "labels1": ("K",), "labels2": ("K",),
                  "meas_H": ("S", "K"), "meas_Y": ("S", "K"), "meas_W": ("S", "K"),
                  **{f"meas_{f}": ("K",) for f in ("S", "N", "m1", "m2", "n_min")}}
        _resolve_shapes(path, z, shapes)
        n_snap = z["snapshot_epochs"].size
        for n in names:
            if z[f"param_{n}"].shape[:1] != (n_snap,):
                raise ValueError(f"{path}: array 'param_{n}' does not have one entry per snapshot")
    except ValueError as exc:
        raise ValueError(f"{exc}; delete it to recompute") from None
    snaps = tuple({n: torch.from_numpy(z[f"param_{n}"][j].copy()) for n in names} for j in range(n_snap))
    run_ = SnapshotRun(config=train_config, seed=config.seed, gain=config.gain, snapshot_epochs=z["snapshot_epochs"],
                       snapshots=snaps, train_loss=z["train_loss"], status=str(z["status"]), epochs=int(z["epochs"]))
    meas = Measured(**{f: z[f"meas_{f}"] for f in MEASURED})
    return Stage(run_, meas, z["taylor"], ([str(x) for x in z["labels1"]], [str(x) for x in z["labels2"]]),
                 {"training": 0.0, "measurements": 0.0, "reused_cache": True})


def write_stage(path: Path, config: PairDynamicsConfig, stage: Stage) -> Path:
    """Save ``stage`` under the key of ``config`` (atomic)."""
    run_ = stage.run
    names = list(run_.snapshots[0]) if run_.snapshots else []
    return atomic_savez(path, key=_stage_key(config), snapshot_epochs=run_.snapshot_epochs,
                        train_loss=run_.train_loss, status=run_.status, epochs=run_.epochs,
                        param_names=np.array(names), taylor=stage.taylor,
                        labels1=np.array(stage.labels[0]), labels2=np.array(stage.labels[1]),
                        **{f"param_{n}": np.stack([p[n].numpy() for p in run_.snapshots]) for n in names},
                        **{f"meas_{f}": getattr(stage.meas, f) for f in MEASURED})


def train_and_measure(config: PairDynamicsConfig, data, targets, *, progress: bool = False) -> Stage:
    """Train with snapshots, sample pairs and measure them along training (no cache)."""
    train_config = config.training(n_outputs(targets))
    t0 = time.perf_counter()
    # keep every epoch's parameters (cheap), then measure on a grid that resolves the loss drop
    every = train_with_snapshots(data, targets, config=train_config, seed=config.seed, gain=config.gain,
                                 snapshot_epochs=range(config.epochs + 1), progress=progress)
    chosen = config.snapshot_epochs(every.train_loss)
    run_ = replace(every, snapshot_epochs=chosen, snapshots=tuple(every.snapshots[k] for k in chosen))
    del every
    seconds: dict[str, Any] = {"training": time.perf_counter() - t0}
    t0 = time.perf_counter()
    pairs = select_pairs(data, targets, np.random.default_rng([config.seed, 2]), config)
    plan = plan_pairs(data, targets, [(data.sequence(i), data.sequence(j)) for i, j in pairs],
                      n_out=train_config.n_out)
    full = measure_pairs_over_training(run_.snapshots, plan, nonlinearity=config.nonlinearity, progress=progress)
    meas = Measured(**{f: getattr(full, f) for f in MEASURED})
    taylor = pair_taylor_ratio(full.taylor_ratio, full.dy, full.pair, plan.n_pairs)
    seconds["measurements"] = time.perf_counter() - t0
    labels = (["".join(map(str, p)) for p in plan.prefix1], ["".join(map(str, p)) for p in plan.prefix2])
    return Stage(run_, meas, taylor, labels, seconds)


# ----------------------------------------------------------------------------- the run

def run(config: PairDynamicsConfig, out_dir: str | Path | None = None, *, progress: bool = True,
        threads: int | None = None) -> PairDynamicsResult:
    """Run the whole experiment (package docstring); with ``out_dir``, reuse its stage and write the files.

    ``threads``: torch intra-op threads during training and measurement, restored afterwards
    (``None``: unchanged). Raises ``RuntimeError`` when training diverges or the pooled rate
    fit cannot be computed.
    """
    if out_dir is not None:
        out_dir = check_output_dir(out_dir)
    started = time.perf_counter()
    data, targets, task_name = task_data(config, np.random.default_rng([config.seed, 1]))
    cache = None if out_dir is None else out_dir / STAGE_FILE
    stage = None if cache is None else read_stage(cache, config, config.training(n_outputs(targets)))
    with torch_threads(threads):
        if stage is None:
            stage = train_and_measure(config, data, targets, progress=progress)
            if cache is not None:
                write_stage(cache, config, stage)
        run_ = stage.run
        if run_.status == "diverged":
            raise RuntimeError(f"training diverged at epoch {run_.epochs} (non-finite loss); nothing to measure")
        # hidden states of every training sequence (and h0) at every snapshot
        hidden = np.stack([hidden_states(p, data, nonlinearity=config.nonlinearity) for p in run_.snapshots])
        G0 = float(estimate_contraction({k: v.double() for k, v in run_.snapshots[0].items()},
                                        nonlinearity=config.nonlinearity))
    seconds = dict(stage.seconds)
    eps = config.eps_factor * std_norm(hidden, "pooled")
    mean_distance = mean_pairwise_distance(hidden[:, 1:], np.random.default_rng([config.seed, 4]),
                                           config.distance_pairs)
    meas = stage.meas
    observed = observe(meas.H, eps)
    t0 = time.perf_counter()
    fits = fit_all(run_.snapshot_epochs.astype(float), meas.H, meas.Y, meas.W, meas.S, meas.N.astype(float),
                   observed.merged, observed.diverged_first, np.random.default_rng([config.seed, 3]),
                   pooled_pairs=config.pooled_pairs, fit_pairs=config.fit_pairs, progress=progress)
    seconds["fits"] = time.perf_counter() - t0
    pred = predict(meas, fits, run_.snapshot_epochs, config.late_epoch, observed)
    summary = summarise(meas, observed, fits, pred, run_=run_,
                        spe=steps_per_epoch(config.train.protocol, config.train.batch_size, data.lengths),
                        lr=config.lr, eps_factor=config.eps_factor, taylor=stage.taylor,
                        mean_distance=mean_distance, G0=G0)
    fe = fixed_expansion_runs(config, config.fe_gain if config.fe_gain is not None
                              else gain_from_hidden(hidden[0, 1:]))
    summary["fixed_expansion"] = fe.summary
    summary["disagreements"] = disagreements(summary)
    summary["seconds"] = {**seconds, "total": time.perf_counter() - started}
    meta = {"config": asdict(config), "task": task_name, **summary,
            "pairs": pair_records(meas, stage.labels, observed, fits, pred, run_.snapshot_epochs, stage.taylor)}
    arrays = _result_arrays(stage, observed, fits, pred, fe, mean_distance)
    result = PairDynamicsResult(config, stage, observed, fits, pred, fe, mean_distance, meta, arrays)
    if out_dir is not None:
        result.written.extend(write_outputs(out_dir, result))
    return result


def _result_arrays(stage: Stage, obs: Observed, fits: RateFits, pred: Predictions, fe: FixedExpansionRuns,
                   mean_distance: np.ndarray) -> dict[str, np.ndarray]:
    meas, run_ = stage.meas, stage.run
    arrays = {"snapshot_epochs": run_.snapshot_epochs, "train_loss": run_.train_loss,
              **{f: getattr(meas, f) for f in MEASURED},
              "A_high": pred.A_high, "A_low": pred.A_low, "taylor": stage.taylor, "agreeing": meas.agreeing,
              "observed": obs.merged, "predicted_start": pred.start, "predicted_late": pred.late,
              "calibration": fits.calibration, "fit_tau": fits.tau_table(meas.H.shape[1]),
              "prefix1": np.array(stage.labels[0]), "prefix2": np.array(stage.labels[1]),
              "mean_distance": mean_distance, "eps": np.float64(obs.eps),
              "fe_t": fe.t, "fe_distance2": fe.distance2, "fe_loss": fe.loss, "fe_equal_distance2": fe.equal}
    return {k: np.asarray(v) for k, v in arrays.items()}


def write_outputs(out_dir: Path, result: PairDynamicsResult) -> list[Path]:
    """``results.npz``, ``results.json`` and the figures of ``result`` in ``out_dir``; returns the written paths."""
    saved = save_results(out_dir, EXPERIMENT, result.arrays, result.summary)
    written = [saved.npz, saved.json]
    for stem, fig in make_figures(result).items():
        written.extend(save_figure(fig, out_dir / stem))
        plt.close(fig)
    return written


def load(path: str | Path) -> tuple[PairDynamicsConfig, Results]:
    """The config and the validated results of a finished run (a directory or either results file).

    Refuses, in one line naming the file, a missing or corrupt file, a file of another
    experiment, missing arrays or keys, and arrays whose shapes do not fit together.
    """
    results = load_results(path, EXPERIMENT, arrays=tuple(RESULT_SHAPES), meta_keys=("config", "pairs"))
    _resolve_shapes(results.npz, results.arrays, RESULT_SHAPES)
    config = config_from_dict(PairDynamicsConfig, results.meta["config"], source=str(results.json))
    return config, results
