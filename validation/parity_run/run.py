"""Compute a parity run: train one network, track it, analyse it, and (optionally) write its files.

``run(config, out_dir)`` is the Python entry point that ``python -m validation.parity_run``
calls. With ``out_dir`` it first checks that the directory can be written (one-line
``ValueError``, nothing written), then trains, analyses and writes ``results.npz`` +
``results.json`` (``validation.common.results``), ``merged_pairs.csv`` and the figures.
``load(path)`` reads such a results pair back, validated.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from interaction.artifacts import atomic_write_bytes, check_output_dir, save_figure
from rnn.automata import DFA
from rnn.measure.merged_pairs import MergedPairs
from rnn.parity import EnsembleResult, SequenceSet, all_sequences, parity, random_sequences, train_ensemble
from validation.common.options import config_from_dict
from validation.common.results import Results, load_results, save_results
from validation.common.runtime import torch_threads

from validation.parity_run.analysis import automaton_analysis, merged_pairs_table, tracking_epochs, training_summary
from validation.parity_run.config import RunConfig
from validation.parity_run.figures import make_figures

EXPERIMENT = "parity_run"
#: arrays every results file has (the automaton arrays exist only when training did not diverge).
REQUIRED_ARRAYS = ("train_loss", "train_accuracy", "validation_epochs", "tracked_epochs")


@dataclass(frozen=True)
class RunResult:
    """Outcome of ``run``: the JSON-ready ``summary``, the saved ``arrays`` and the objects behind them."""

    config: RunConfig
    summary: dict[str, Any]
    arrays: dict[str, np.ndarray]
    training: EnsembleResult
    data: SequenceSet
    minimal: DFA | None = None
    pairs: MergedPairs | None = None
    written: list[Path] = field(default_factory=list)


def validation_sets(config: RunConfig) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Random validation sequences, seeded by ``data_seed``: ``{"length N": (tokens, parity)}``."""
    rng = np.random.default_rng([config.data_seed, 1])
    sets = {config.val_length: random_sequences(config.val_length, config.val_count, rng)}
    for n in config.long_lengths:
        if n not in sets:
            sets[n] = random_sequences(n, config.long_count, rng)
    return {f"length {n}": (tokens, parity(tokens)) for n, tokens in sorted(sets.items())}


def run(config: RunConfig, out_dir: str | Path | None = None, *, preset: str | None = None,
        progress: bool = True, threads: int | None = None) -> RunResult:
    """Train, track and analyse (docs/experiments.md §1); write the files to ``out_dir`` if given.

    ``threads``: torch intra-op threads during training, restored afterwards (``None``:
    unchanged). ``preset`` is recorded in ``results.json``.
    """
    if out_dir is not None:
        out_dir = check_output_dir(out_dir)
    data = all_sequences(config.L)
    val = validation_sets(config)
    started = time.perf_counter()
    with torch_threads(threads):
        training = train_ensemble(data, parity(data.tokens), config=config.train, seeds=[config.seed],
                                  gains=[config.gain], track_epochs=tracking_epochs(config.track_every, config.epochs),
                                  validation=val, validation_epochs=tracking_epochs(config.eval_every, config.epochs),
                                  progress=progress)
    summary, arrays = training_summary(training, time.perf_counter() - started)
    minimal = pairs = None
    if summary["status"] == "diverged":
        summary["analysis"] = "skipped: training diverged (non-finite loss)"
    else:
        started = time.perf_counter()
        analysis = automaton_analysis(training, data, val, config, progress=progress)
        summary.update(analysis.summary)
        summary["analysis_seconds"] = time.perf_counter() - started
        arrays.update(analysis.arrays)
        minimal, pairs = analysis.minimal, analysis.pairs
    result = RunResult(config, summary, arrays, training, data, minimal, pairs)
    if out_dir is not None:
        result.written.extend(write_outputs(out_dir, result, preset))
    return result


def write_outputs(out_dir: Path, result: RunResult, preset: str | None = None) -> list[Path]:
    """Results files, ``merged_pairs.csv`` and figures of ``result`` in ``out_dir``; returns the written paths."""
    saved = save_results(out_dir, EXPERIMENT, result.arrays,
                         {"preset": preset, "config": asdict(result.config), "summary": result.summary})
    written = [saved.npz, saved.json]
    if "merged_fraction" in result.arrays:
        table = merged_pairs_table(result.arrays, result.config.L)
        written.append(atomic_write_bytes(out_dir / "merged_pairs.csv", table.encode()))
    for stem, fig in make_figures(result.arrays, result.summary, result.config).items():
        written.extend(save_figure(fig, out_dir / stem))
        plt.close(fig)
    return written


def load(path: str | Path) -> tuple[RunConfig, Results]:
    """The config and the validated results of a finished run (a directory or either results file)."""
    results = load_results(path, EXPERIMENT, arrays=REQUIRED_ARRAYS, meta_keys=("config", "summary"))
    config = config_from_dict(RunConfig, results.meta["config"], source=str(results.json))
    return config, results
