"""Compute a modular-addition run: train, measure, analyse, and (optionally) write its files; resumable.

``run(config, out_dir)`` is the Python entry point that ``python -m validation.modular_addition``
calls. With ``out_dir`` it first checks that the directory can be written (one-line
``ValueError``, nothing written), then trains with the merger measurements at every
checkpoint the gate selects, analyses (``analysis``, ``theory``) and writes ``results.npz`` +
``results.json`` (``validation.common.results``) and the figures (``figures.make_figures``, PNG + PDF).

**Resume.** Every ``config.checkpoint_every`` epochs the run writes ``checkpoint.pt`` in
``out_dir`` atomically: parameters, AdamW and scheduler state, the training history, the
weight snapshots and the measurement history (training draws no random numbers; every
sampled measurement is seeded by the config). Rerunning the same command after a kill
continues from it and ends with the same numbers as an uninterrupted run. A checkpoint of
another configuration (``validation.common.keys.config_key``), of another format version, a
corrupt one, or one whose training state or measurement history is incomplete or inconsistent
is refused in one line naming the file, before anything is loaded; so are finished results of
another configuration in the same directory. The checkpoint is removed once the results are
written.

``load(path)`` reads a results pair back, validated (format, arrays, shapes, config).
"""
from __future__ import annotations

import io
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from interaction.artifacts import atomic_savez, atomic_write_bytes, check_output_dir, save_figure
from rnn.modular import mergers as mm
from rnn.modular.data import ModularAdditionData, modular_addition_data
from rnn.modular.train import ModularConfig, TrainResult, check_state, checkpoint_epochs, resolve_device, train
from rnn.modular.transformer import SITES, model_from_weights
from validation.common.keys import config_key
from validation.common.options import config_from_dict
from validation.common.results import Results, check_shapes, load_results, read_json, save_results
from validation.common.runtime import torch_threads

from validation.modular_addition.analysis import (SCALAR_KEYS, THEORY_KEYS, MeasurementGate, MergerRecorder,
                                                  final_analysis, linkage_schedule, site_arrays)
from validation.modular_addition.theory import THEORY_ARRAYS, theory_analysis, theory_pairs
from validation.modular_addition.config import EXPERIMENT, ExperimentConfig
from validation.modular_addition.figures import make_figures

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_VERSION = 2  # 2: the measurement history gained the gate's epochs and the theory quantities
CURVES = ("epochs", "train_loss", "test_loss", "train_acc", "test_acc", "restricted_loss", "restricted_loss_test",
          "excluded_loss", "weight_norm_sq", "gini_embedding", "gini_neuron_logit")
#: arrays every results file has; ``load`` checks their presence and shapes (and those of ``theory_arrays``).
REQUIRED_ARRAYS = (*CURVES, "measure_epochs", "state_epochs", "kappas", "labels", "train_mask",
                   "theory_pairs", "theory_S", "theory_commuted", "theory_checkpoint_epochs",
                   *(f"{s}/{k}" for s in SITES for k in SCALAR_KEYS),
                   *(f"{s}/{kind}_{g}" for s in SITES for g in mm.PAIR_GROUPS
                     for kind in ("pair_distances", "merged_fraction")),
                   *(f"{s}/{k}" for s in SITES for k in ("n_states", "purity")))


def theory_arrays(sites: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """The measured-theory arrays of the theory ``sites`` with their dimensions: ``M`` measured checkpoints,
    ``K`` theory pairs, ``C`` phase checkpoints."""
    dims = {**{k: ("M", "K") for k in THEORY_KEYS}, **THEORY_ARRAYS}
    return {f"{s}/theory_{name}": shape for s in sites for name, shape in dims.items()}
META_KEYS = ("config", "status", "phase_boundaries", "key_frequencies", "measured_theory")


@dataclass
class ModularRun:
    """Outcome of ``run``: the JSON-ready ``summary``, the saved ``arrays`` and the training result."""

    config: ExperimentConfig
    summary: dict[str, Any]
    arrays: dict[str, np.ndarray]
    training: TrainResult
    resumed_from: int | None = None
    written: list[Path] = field(default_factory=list)


def run(config: ExperimentConfig, out_dir: str | Path | None = None, *, progress: bool = False,
        threads: int | None = None, device: str = "cpu", save_checkpoints: bool = False,
        command: str | None = None) -> ModularRun:
    """Train, measure and analyse (docs/experiments.md §4–§5); write the files to ``out_dir`` if given.

    ``threads``: torch intra-op threads during the run, restored afterwards (``None``:
    unchanged). ``save_checkpoints`` also writes every weight snapshot to ``checkpoints.npz``.
    ``command`` is recorded in ``results.json``. Resumes from ``out_dir/checkpoint.pt`` if present.
    """
    if out_dir is not None:
        out_dir = check_output_dir(out_dir)
    resolve_device(device)
    key = config_key(config)
    resume = None
    if out_dir is not None:
        check_finished(out_dir, key)
        resume = read_checkpoint(out_dir / CHECKPOINT, key, config.train)
    tc = config.train
    started = time.time()
    data = modular_addition_data(tc.P, tc.train_frac, tc.data_seed)
    pairs = mm.sample_pairs(data.labels, data.train_mask, data.test_mask, n=config.pair_samples, seed=tc.seed)
    epochs = checkpoint_epochs(tc.max_epochs, tc.eval_every, tc.dense_until)
    rec = MergerRecorder(tc.P, data.labels, data.train_mask, data.test_mask, pairs=pairs,
                         n_samples=config.distance_samples,
                         linkage_epochs=linkage_schedule(epochs, config.linkage_every), seed=tc.seed,
                         gate=MeasurementGate(tc.dense_until, config.measure_tolerance, config.measure_max_gap),
                         theory_sites=config.theory_sites, theory_pairs=theory_pairs(pairs, config.theory_pairs))
    if resume is not None:
        try:
            rec.load_state(resume["recorder"])
        except ValueError as exc:
            raise ValueError(f"{out_dir / CHECKPOINT}: {exc}; delete it to start afresh") from None
        if rec.epochs != [int(e) for e in resume["train"]["history"]["epoch"]]:
            raise ValueError(f"{out_dir / CHECKPOINT}: measurement and training histories disagree; "
                             "delete it to start afresh")

    def save_state(epoch: int, state: dict[str, Any]) -> None:
        write_checkpoint(out_dir / CHECKPOINT, {"version": CHECKPOINT_VERSION, "key": key, "train": state,
                                                "recorder": rec.state()})

    save = out_dir is not None and config.checkpoint_every > 0
    with torch_threads(threads):
        loop = time.perf_counter()
        result = train(tc, on_checkpoint=rec, progress=progress, device=device,
                       on_state=save_state if save else None, state_every=config.checkpoint_every if save else 0,
                       resume=None if resume is None else resume["train"])
        loop = time.perf_counter() - loop
        analysed = time.perf_counter()
        arrays, summary = analyse(config, data, result, rec, pairs, progress=progress, device=device)
        analysed = time.perf_counter() - analysed
    # wall-clock seconds of this process (a resumed run counts only its own part)
    summary["seconds"] = {"training": loop - rec.seconds, "measurements_during_training": rec.seconds,
                          "analysis_after_training": analysed}
    summary["runtime_s"] = time.time() - started
    out = ModularRun(config, summary, arrays, result, None if resume is None else int(resume["train"]["epoch"]))
    if out_dir is not None:
        out.written.extend(write_outputs(out_dir, out, command=command, save_checkpoints=save_checkpoints))
        (out_dir / CHECKPOINT).unlink(missing_ok=True)
    return out


def analyse(config: ExperimentConfig, data: ModularAdditionData, result: TrainResult, rec: MergerRecorder,
            pairs: dict[str, np.ndarray], *, progress: bool = False,
            device: str = "cpu") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The results arrays and summary of a finished training (one cached forward of the final model,
    on ``device`` like the checkpoints' forward passes)."""
    final = model_from_weights(result.snapshots[-1]).to(device)
    with torch.no_grad():
        _, cache = final.run_with_cache(torch.as_tensor(data.tokens, device=device))
    last = int(result.epochs[-1])
    # the gate does not know which checkpoint is the last: measure it now if it was skipped
    acts = rec.measure(last, final, cache) if rec.measure_epochs[-1:] != [last] else site_arrays(cache, data.P)
    if rec.states["epoch"][-1:] != [last]:
        rec.record_states(last, acts)
    extra, analysis = final_analysis(data=data, epochs=result.epochs, test_loss=result.test_loss,
                                     snapshots=result.snapshots, acts=acts, recorder=rec,
                                     distance_samples=config.distance_samples, seed=config.seed, progress=progress)
    recorded = rec.arrays()
    measured, analysis["measured_theory"] = theory_analysis(
        recorded, rec.theory_pairs, data.labels, config.theory_sites, analysis["phase_boundaries"],
        threshold=config.merge_threshold, fit_from=config.theory_fit_from, pooled_pairs=config.theory_pooled_pairs,
        fit_pairs=config.theory_fit_pairs, seed=config.seed, progress=progress)
    arrays = {"epochs": result.epochs, "train_loss": result.train_loss, "test_loss": result.test_loss,
              "train_acc": result.train_acc, "test_acc": result.test_acc, **recorded, **extra, **measured,
              "kappas": np.asarray(mm.KAPPAS), "train_mask": data.train_mask, "labels": data.labels}
    for g, p in pairs.items():
        arrays[f"pairs_{g}"] = p
    for name, w in result.snapshots[-1].items():  # the final model, rebuildable with model_from_weights
        arrays[f"final/{name}"] = w
    summary = {"status": result.status, "message": result.message, "epochs_trained": result.epochs_trained,
               "grok_epoch": result.grok_epoch,
               "final": {"train_loss": result.train_loss[-1], "test_loss": result.test_loss[-1],
                         "train_acc": result.train_acc[-1], "test_acc": result.test_acc[-1],
                         "weight_norm_sq": rec.progress["weight_norm_sq"][-1]},
               **analysis}
    return arrays, summary


def write_outputs(out_dir: Path, result: ModularRun, *, command: str | None = None,
                  save_checkpoints: bool = False) -> list[Path]:
    """Results files, optional weight snapshots and figures of ``result`` in ``out_dir``; returns the paths."""
    meta = {"command": command, "config": asdict(result.config), "key": config_key(result.config), **result.summary}
    saved = save_results(out_dir, EXPERIMENT, result.arrays, meta)
    written = [saved.npz, saved.json]
    if save_checkpoints:
        snaps = result.training.snapshots
        written.append(atomic_savez(out_dir / "checkpoints.npz", epochs=result.training.epochs,
                                    **{k: np.stack([s[k] for s in snaps]) for k in snaps[0]}))
    written.extend(draw(saved.arrays, saved.meta, out_dir))
    return written


def draw(arrays: dict[str, np.ndarray], summary: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write every figure of a run to ``out_dir`` (PNG + PDF)."""
    written = []
    for stem, fig in make_figures(arrays, summary).items():
        written.extend(save_figure(fig, out_dir / stem))
        plt.close(fig)
    return written


def load(path: str | Path) -> tuple[ExperimentConfig, Results]:
    """The config and the validated results of a finished run (a directory or either results file)."""
    results = load_results(path, EXPERIMENT, arrays=REQUIRED_ARRAYS, meta_keys=META_KEYS)
    config = config_from_dict(ExperimentConfig, results.meta["config"], source=str(results.json))
    theory = theory_arrays(config.theory_sites)
    missing = sorted(set(theory) - set(results.arrays))
    if missing:
        raise ValueError(f"{results.npz}: missing array(s) {missing}")
    a = results.arrays
    n, m, n_states = a["epochs"].shape[0], a["measure_epochs"].shape[0], a["state_epochs"].shape[0]
    sizes = {"M": m, "K": a["theory_S"].shape[0], "C": a["theory_checkpoint_epochs"].shape[0]}
    shapes: dict[str, tuple[int | None, ...]] = {k: (n,) for k in CURVES}
    shapes["measure_epochs"] = (m,)
    shapes["labels"] = shapes["train_mask"] = (config.P ** 2,)
    shapes["kappas"] = (None,)
    shapes["theory_pairs"] = (2, sizes["K"])
    shapes["theory_commuted"] = (sizes["K"],)
    for s in SITES:
        shapes.update({f"{s}/{k}": (m,) for k in SCALAR_KEYS})
        shapes.update({f"{s}/pair_distances_{g}": (m, None) for g in mm.PAIR_GROUPS})
        shapes.update({f"{s}/merged_fraction_{g}": (m,) for g in mm.PAIR_GROUPS})
        shapes.update({f"{s}/{k}": (n_states, a["kappas"].shape[0]) for k in ("n_states", "purity")})
    shapes.update({name: tuple(sizes.get(d, d) for d in dims) for name, dims in theory.items()})
    check_shapes(results.npz, a, shapes)
    return config, results


def replot(path: str | Path) -> list[Path]:
    """Redraw the figures of a finished run from its validated results files."""
    _, results = load(path)
    return draw(results.arrays, results.meta, results.npz.parent)


# --- resume checkpoints: torch.save of tensors, lists and dicts only, read back with weights_only=True ---

def _to_torch(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj).copy())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: _to_torch(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_torch(v) for v in obj)
    return obj


def _to_numpy(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.numpy()
    if isinstance(obj, dict):
        return {k: _to_numpy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_numpy(v) for v in obj]
    return obj


def write_checkpoint(path: Path, payload: dict[str, Any]) -> Path:
    """Write a resume checkpoint atomically (a kill leaves the previous one intact)."""
    buffer = io.BytesIO()
    torch.save(_to_torch(payload), buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def check_finished(out_dir: Path, key: str) -> None:
    """Refuse an ``out_dir`` whose ``results.json`` was written for another configuration (one line)."""
    path = out_dir / "results.json"
    if path.exists():
        written = read_json(path).get("key")
        if written is not None and written != key:
            raise ValueError(f"{path}: results of another configuration (key {written}, this run {key}); "
                             "use another --out or delete the results")


def read_checkpoint(path: Path, key: str, train_config: ModularConfig) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if there is one, validated; ``None`` if there is none.

    Refuses (one-line ``ValueError`` naming the file) a file that torch cannot read, one
    of another format version (of the file or of its training state), one written for
    another configuration, or one whose training state ``train`` could not continue
    (``rnn.modular.train.check_state``); the measurement history is checked when the
    recorder loads it (``run``).
    """
    if not path.exists():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, EOFError, UnpicklingError, ... for a damaged file
        raise ValueError(f"{path}: not a readable resume checkpoint (corrupt or truncated: "
                         f"{exc.__class__.__name__}); delete it to start afresh") from None
    if not isinstance(payload, dict) or payload.get("version") != CHECKPOINT_VERSION:
        version = payload.get("version") if isinstance(payload, dict) else None
        raise ValueError(f"{path}: resume checkpoint of format version {version!r}, expected {CHECKPOINT_VERSION}; "
                         "delete it to start afresh")
    if payload.get("key") != key:
        raise ValueError(f"{path}: resume checkpoint of another configuration (key {payload.get('key')}, this run "
                         f"{key}); use another --out or delete the checkpoint")
    try:
        check_state(payload.get("train"), train_config)
        payload["train"]["snapshots"] = _to_numpy(payload["train"]["snapshots"])
        payload["recorder"] = _to_numpy(payload["recorder"])
    except ValueError as exc:
        raise ValueError(f"{path}: unusable resume checkpoint ({exc}); delete it to start afresh") from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: incomplete resume checkpoint (missing {exc}); delete it to start afresh") from None
    return payload
