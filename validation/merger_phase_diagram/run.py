"""Compute the phase diagram: one sweep task per (replicate, fraction), resumable (``validation/sweep.py``).

A task is one ensemble with every gain of the grid as a member, trained as a single batched
computation (``rnn.parity.train_ensemble``). With ``randomness='independent'`` (the default)
each member is its own cell, as in P25's reference code: its own initial weights, data draw,
minibatch order and validation set, trained on its own data (``rnn/parity/ragged.py``), so a
member is the network that cell would give trained alone (up to rounding). With ``'common'``
the members share one data draw, one minibatch order and one validation set, and their
weights are the same random matrices scaled by the gain. Seeds are derived from
``config.seed`` and the cell's configuration only (``task_seeds``), never from execution
order. After training, each member's pair statistics at initialisation and their outcomes
in the trained network are measured in the same task (``measured.py``; off with
``measured_pairs=0``). Tasks run single-threaded (``validation.common.runtime.torch_threads(1)``,
restored afterwards) so that every executor gives bit-identical numbers; parallelism comes from
running tasks side by side. ``run`` checks the output directory first, runs or resumes the
sweep, assembles the arrays ``[replicate, gain, fraction(, validation length)]``, analyses
them (``analysis.py``), writes the results (``results.py``) and figures (``figures.py``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from interaction.artifacts import check_output_dir, package_version
from rnn.automata import equivalent, extract_automaton, minimize, parity_dfa, std_norm
from rnn.automata.random_dfa import random_dfa
from rnn.measure.contraction import estimate_contraction
from rnn.parity import PARAM_NAMES, TrainConfig, evaluate, hidden_states, readout_of, train_ensemble
from rnn.parity.checkpoints import NONE as NO_EPOCH
from rnn.parity.checkpoints import rule_epochs, snap, tracking_epochs
from rnn.parity.data import all_sequences, random_sequences, sample_sequences
from validation.common.keys import compute_config, config_key
from validation.common.runtime import torch_threads
from validation.merger_phase_diagram.analysis import Analysis, analyse
from validation.merger_phase_diagram.config import PhaseDiagramConfig
from validation.merger_phase_diagram.measured import (
    CHECKPOINT_ARRAYS,
    MEASURED_ARRAYS,
    measure_checkpoints,
    measure_member,
    stack_members,
)
from validation.merger_phase_diagram.results import EXPERIMENT, save
from validation.sweep import run_sweep

_VALIDATION_STREAM = 0x5EED  # spawn key separating the validation draw from the task draws


def _seed_int(seq: np.random.SeedSequence) -> int:
    return int(seq.generate_state(1, dtype=np.uint32)[0])


def _code(value: float) -> int:
    return int(round(float(value) * 1e9))


def task_seeds(seed: int, replicate: int, fraction: float, gain: float | None = None) -> dict[str, Any]:
    """Seeds of one task, from the configuration only (never from execution order).

    ``gain=None`` (randomness ``'common'``): ``init`` (weights) and ``validation`` depend on
    (seed, replicate), so along a row of the diagram only the data change and different
    gains are the same random matrices scaled; ``data`` (the draw) and ``shuffle``
    (minibatch order) also on the fraction. With a ``gain`` (randomness ``'independent'``)
    all four depend on (seed, replicate, gain, fraction): every cell is its own draw.
    ``task_automaton`` (the random regular task) depends on (seed, replicate) only.
    """
    per_replicate = np.random.SeedSequence([seed, replicate])
    init, task_automaton = per_replicate.spawn(2)
    if gain is not None:
        init, data, shuffle, validation = np.random.SeedSequence(
            [seed, replicate, _code(gain), _code(fraction), 1]).spawn(4)
        return {"init": _seed_int(init), "task_automaton": _seed_int(task_automaton),
                "shuffle": _seed_int(shuffle), "data": data, "validation": validation}
    data, shuffle = np.random.SeedSequence([seed, replicate, _code(fraction)]).spawn(2)
    return {"init": _seed_int(init), "task_automaton": _seed_int(task_automaton),
            "shuffle": _seed_int(shuffle), "data": data,
            "validation": np.random.SeedSequence([seed, replicate, _VALIDATION_STREAM])}


def task_automaton(task: str, seed: int):
    """The target automaton: parity, or the random regular task of ``seed`` (P25 §D.5)."""
    return parity_dfa() if task == "parity" else random_dfa(seed=seed)


def _measure_automata(hidden: np.ndarray, outputs: np.ndarray, everything, target, eps_factor: float,
                      skip: np.ndarray) -> dict[str, np.ndarray]:
    """State counts of the automaton extracted from each member's final hidden states."""
    n_members = hidden.shape[0]
    out = {"n_states_raw": np.full(n_members, np.nan), "n_states_min": np.full(n_members, np.nan),
           "finite": np.zeros(n_members, dtype=bool), "equivalent": np.zeros(n_members, dtype=bool),
           "eps": np.full(n_members, np.nan)}
    for e in range(n_members):
        if skip[e] or not np.all(np.isfinite(hidden[e])):
            continue
        out["eps"][e] = eps_factor * std_norm(hidden[e], "final")
        dfa = extract_automaton(hidden[e], everything, eps=out["eps"][e], outputs=outputs[e]).dfa
        minimal = minimize(dfa)
        out["n_states_raw"][e], out["n_states_min"][e] = dfa.n_states, minimal.n_states
        out["finite"][e] = dfa.is_finite
        out["equivalent"][e] = equivalent(minimal, target)
    return out


def run_task(task: dict[str, Any]) -> dict[str, np.ndarray]:
    """Train and measure one ensemble (one replicate, one fraction, every gain), single-threaded."""
    with torch_threads(1):
        return _run_task(task)


def _task_cells(task: dict[str, Any]) -> tuple[np.ndarray, list[dict[str, Any]], Any]:
    """A task's gains, the seeds of each of its cells (``task_seeds``) and its target automaton."""
    gains = np.asarray(task["gains"], dtype=float)
    independent = task["randomness"] == "independent"
    cells = [task_seeds(task["seed"], task["replicate"], task["fraction"], float(g) if independent else None)
             for g in gains]
    return gains, cells, task_automaton(task["task"], cells[0]["task_automaton"])


def _training_set(task: dict[str, Any], cell: dict[str, Any]):
    """The training sequences of a cell: the ``Binomial(2^L, p)`` draw of its ``data`` seed."""
    return sample_sequences(task["L"], task["fraction"], np.random.default_rng(cell["data"]))


def _run_task(task: dict[str, Any]) -> dict[str, np.ndarray]:
    gains, cells, target = _task_cells(task)
    independent = task["randomness"] == "independent"
    train = TrainConfig(**task["train"])
    started = time.process_time()
    with_checkpoints = bool(task["measured_pairs"] and task["checkpoints"])
    # parameters kept along training for the checkpoints (rnn/parity/checkpoints.py); the tracked
    # states are those of two one-token sequences only, which costs nothing
    tracking = (dict(track_epochs=tracking_epochs(train.max_epochs), track_data=all_sequences(1), track_params=True)
                if with_checkpoints else {})
    if independent:  # every member its own data draw and minibatch order
        data = [_training_set(task, c) for c in cells]
        result = train_ensemble(data, [target.output(d.tokens) for d in data], config=train,
                                seeds=[c["init"] for c in cells], gains=gains,
                                shuffle_seeds=[c["shuffle"] for c in cells], **tracking)
    else:
        shared = _training_set(task, cells[0])
        result = train_ensemble(shared, target.output(shared.tokens),
                                config=replace(train, shuffle_seed=cells[0]["shuffle"]),
                                seeds=[c["init"] for c in cells], gains=gains, **tracking)
        data = [shared] * gains.size
    diverged = result.status == "diverged"
    trained = time.process_time()
    measured = _measure_pairs(task, result, data, target, cells, diverged) if task["measured_pairs"] else {}
    pairs_done = time.process_time()
    if with_checkpoints:
        measured.update(_measure_checkpoints(task, result, data, target, measured))
    checkpoints_done = time.process_time()
    val_loss, val_acc = _validate(result, task, target, [c["validation"] for c in cells], independent)
    val_loss[diverged] = np.nan
    val_acc[diverged] = np.nan

    everything = all_sequences(task["L"])
    hidden = hidden_states(result.params, everything, nonlinearity=train.nonlinearity)
    outputs = readout_of(result.params, hidden, readout=train.readout)
    automata = _measure_automata(hidden, outputs, everything, target, task["eps_factor"], diverged)
    contraction = np.asarray(estimate_contraction(result.initial_params, nonlinearity=train.nonlinearity))
    return {"status": result.status, "epochs": result.epochs, "train_loss": result.final_loss(),
            "val_loss": val_loss, "val_accuracy": val_acc, **automata, "contraction": contraction,
            "n_train": np.array([len(d) for d in data], dtype=np.int64), **measured,
            "init_seed": np.array([c["init"] for c in cells], dtype=np.int64),
            "shuffle_seed": np.array([c["shuffle"] for c in cells], dtype=np.int64),
            # CPU seconds of training, of the pair measurements at initialisation, of the checkpoints
            "phase_cpu_seconds": np.array([trained - started, pairs_done - trained, checkpoints_done - pairs_done]),
            **{f"initial_{k}": v for k, v in result.initial_params.items()},
            **{f"final_{k}": v for k, v in result.params.items()}}


def task_networks(task: dict[str, Any], result: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Each member of a finished task: its initial and final parameters, training data and targets.

    The parameters come from the task's result file (``initial_*``/``final_*``, kept out of
    ``results.npz``); the data are redrawn from the cell's seeds, exactly as ``run_task`` drew
    them. This is what measurements on the networks of a finished grid start from.
    """
    gains, cells, target = _task_cells(task)
    networks = []
    for e, cell in enumerate(cells):
        data = _training_set(task, cell)
        networks.append({"gain": float(gains[e]), "data": data, "targets": target.output(data.tokens),
                         "initial": {k: result[f"initial_{k}"][e] for k in PARAM_NAMES},
                         "final": {k: result[f"final_{k}"][e] for k in PARAM_NAMES}})
    return networks


def _measure_pairs(task: dict[str, Any], result, data: list, target, cells: list, diverged: np.ndarray
                   ) -> dict[str, np.ndarray]:
    """The measured theory of every member (``measured.measure_member``): pairs at initialisation, outcomes after.

    A diverged member has no trained network to read outcomes from (``final=None``).
    """
    train = result.config
    return stack_members([
        measure_member({k: v[e] for k, v in result.initial_params.items()},
                       None if diverged[e] else {k: v[e] for k, v in result.params.items()},
                       data[e], target.output(data[e].tokens), n_pairs=task["measured_pairs"],
                       seed=cells[e]["init"], nonlinearity=train.nonlinearity, readout=train.readout,
                       merge_eps=task["eps_factor"])
        for e in range(len(result))])


def _checkpoint_params(task: dict[str, Any], result, e: int) -> tuple[np.ndarray, np.ndarray, list]:
    """Member ``e``'s rule epochs, kept epochs and parameters per checkpoint (``None``: no epoch, or not finite)."""
    rules = rule_epochs(result.train_loss[e], int(result.epochs[e]), task["checkpoints"], task["drop_level"])
    kept = snap(rules, result.tracked_epochs)
    params = []
    for rule, epoch in zip(rules, kept):
        if rule == NO_EPOCH:
            params.append(None)
            continue
        if epoch >= result.epochs[e]:        # the final parameters are those after epochs[e] epochs of updates
            chosen = {k: v[e] for k, v in result.params.items()}
        else:
            row = int(np.searchsorted(result.tracked_epochs, epoch))
            chosen = {k: v[row, e] for k, v in result.tracked_params.items()}
        params.append(chosen if all(np.all(np.isfinite(v)) for v in chosen.values()) else None)
    kept = np.where([p is None for p in params], NO_EPOCH, np.minimum(kept, result.epochs[e]))
    return rules, kept, params


def _measure_checkpoints(task: dict[str, Any], result, data: list, target, measured: dict[str, np.ndarray]
                         ) -> dict[str, np.ndarray]:
    """The initial pairs of every member measured again at its checkpoints; the checkpoint parameters are kept.

    The parameters (``ckpt_<param>``, ``(E, C, ...)``, NaN where a checkpoint has none) stay in
    the task file, so the measurements can be redone without training again.
    """
    members, saved = [], {k: [] for k in PARAM_NAMES}
    for e in range(len(result)):
        rules, kept, params = _checkpoint_params(task, result, e)
        own = {k: v[e] for k, v in measured.items()}
        members.append({"ckpt_rule_epoch": rules, "ckpt_epoch": kept,
                        **measure_checkpoints(params, own, data[e], target.output(data[e].tokens),
                                              nonlinearity=result.config.nonlinearity)})
        for k in PARAM_NAMES:
            blank = np.full_like(result.params[k][e], np.nan)
            saved[k].append(np.stack([blank if p is None else p[k] for p in params]))
    return {**stack_members(members, CHECKPOINT_ARRAYS), **{f"ckpt_{k}": np.stack(v) for k, v in saved.items()}}


def _validate(result, task: dict[str, Any], target, streams: list, independent: bool
              ) -> tuple[np.ndarray, np.ndarray]:
    """Loss and accuracy on ``val_count`` random sequences per validation length, per member.

    Independent cells draw their own validation sets (one stream each); common random
    numbers draw one set for every member.
    """
    train = result.config
    n_members, lengths = len(result), task["val_lengths"]
    val_loss = np.full((n_members, len(lengths)), np.nan)
    val_acc = np.full_like(val_loss, np.nan)
    groups = [[e] for e in range(n_members)] if independent else [list(range(n_members))]
    for members in groups:
        rng = np.random.default_rng(streams[members[0]])
        params = {k: v[members] for k, v in result.params.items()}
        for k, length in enumerate(lengths):
            tokens = random_sequences(length, task["val_count"], rng)
            val_loss[members, k], val_acc[members, k] = evaluate(
                params, tokens, target.output(tokens), nonlinearity=train.nonlinearity, loss=train.loss,
                readout=train.readout)
    return val_loss, val_acc


GRID_FIELDS = ("fractions", "seeds", "gains")


def grid_free_config(config: PhaseDiagramConfig) -> dict[str, Any]:
    """The compute configuration without the grid (each task carries its own gains, fraction and replicate)."""
    base = compute_config(config)
    for name in GRID_FIELDS:
        base.pop(name)
    return base


def build_tasks(config: PhaseDiagramConfig) -> list[dict[str, Any]]:
    """The sweep's tasks, one per (replicate, fraction) with every gain as a member, largest fractions first.

    Packing a column's cells into one ensemble keeps the batched matmuls wide in both
    randomness schemes; in ``'independent'`` each member still has its own data.
    """
    base = grid_free_config(config)
    order = np.argsort(config.fractions)[::-1]
    return [{**base, "gains": list(config.gains), "fraction": config.fractions[f], "replicate": r}
            for r in range(config.seeds) for f in order]


PER_MEMBER = ("status", "epochs", "train_loss", "val_loss", "val_accuracy", "n_states_raw",
              "n_states_min", "finite", "equivalent", "eps", "contraction", "n_train", "init_seed", "shuffle_seed")


def assemble(config: PhaseDiagramConfig, tasks: list[dict[str, Any]], results: list[dict[str, np.ndarray]],
             seconds: np.ndarray, cpu_seconds: np.ndarray) -> dict[str, np.ndarray]:
    """Stack per-task results into arrays ``[replicate, gain, fraction(, val length)]``.

    ``task_seconds``/``task_cpu_seconds`` are per task, in the order of ``build_tasks``.
    """
    S, G, F = config.seeds, len(config.gains), len(config.fractions)
    arrays: dict[str, np.ndarray] = {}
    for task, result in zip(tasks, results):
        r, f = task["replicate"], config.fractions.index(task["fraction"])
        g = [config.gains.index(gain) for gain in task["gains"]]
        measured = (MEASURED_ARRAYS + (CHECKPOINT_ARRAYS if config.checkpoints else ())
                    if config.measured_pairs else ())
        for name in PER_MEMBER + measured:
            value = np.asarray(result[name])
            if name not in arrays:
                arrays[name] = np.empty((S, G, F) + value.shape[1:], dtype=value.dtype)
            arrays[name][r, g, f] = value
    arrays["task_seconds"] = np.asarray(seconds, dtype=float)
    arrays["task_cpu_seconds"] = np.asarray(cpu_seconds, dtype=float)
    arrays["gains"] = np.array(config.gains)
    arrays["fractions"] = np.array(config.fractions)
    arrays["val_lengths"] = np.array(config.val_lengths)
    return arrays


@dataclass(frozen=True)
class Result:
    """What ``run`` produced: arrays, their analysis, the metadata written, file paths."""

    config: PhaseDiagramConfig
    arrays: dict[str, np.ndarray]
    analysis: Analysis
    meta: dict[str, Any]
    out_dir: Path
    figures: list[Path]
    reused: int
    computed: int


PHASES = ("training", "pair_measurements", "checkpoint_measurements")


def _phase_totals(results: list[dict[str, np.ndarray]]) -> dict[str, float] | None:
    """CPU seconds per phase summed over tasks (``None`` if a task file predates the record)."""
    if not all("phase_cpu_seconds" in r for r in results):
        return None
    total = np.sum([np.asarray(r["phase_cpu_seconds"], dtype=float) for r in results], axis=0)
    return {name: float(v) for name, v in zip(PHASES, total)}


def default_out_dir(name: str) -> Path:
    """``runs/merger_phase_diagram/NAME`` (the CLI uses the preset's name)."""
    return Path("runs/merger_phase_diagram") / name


def run(config: PhaseDiagramConfig, out_dir: str | Path | None = None, *, executor: str = "serial",
        scheduler: Any = None, workers: int | None = None, progress: bool = False) -> Result:
    """Run (or resume) the sweep into ``out_dir``, analyse it, write results and figures.

    ``out_dir=None``: ``runs/merger_phase_diagram/<config key>``.
    The output directory is checked before any work (``ValueError`` naming ``--out``). A
    directory holding a different sweep (another compute configuration or toolkit
    version) is refused by ``validation.sweep``; analysis-only fields may change freely.
    """
    out_dir = check_output_dir(default_out_dir(config_key(config)) if out_dir is None else out_dir, option="--out")
    tasks = build_tasks(config)
    started = time.perf_counter()
    # Every compute field but the grid, and the toolkit version: a directory written by another
    # configuration or release is refused instead of being resumed, while the same sweep with
    # another grid (more replicates, other gains or fractions) reuses every task it shares.
    sweep_config = {"experiment": EXPERIMENT, "config": grid_free_config(config), "version": package_version()}
    outcome = run_sweep(run_task, tasks, out_dir, sweep_config=sweep_config, executor=executor,
                        workers=workers, scheduler=scheduler, progress=progress, desc="ensembles")
    arrays = assemble(config, tasks, outcome.results, outcome.seconds, outcome.cpu_seconds)
    analysis = analyse(arrays, config)
    automata = [task_automaton(config.task, task_seeds(config.seed, r, 1.0)["task_automaton"])
                for r in range(config.seeds)]
    extra = {"seeds": {"base_seed": config.seed, "replicates": config.seeds,
                       "derivation": "validation.merger_phase_diagram.run.task_seeds"},
             "task_automata": [{"transitions": dfa.transitions, "outputs": dfa.outputs, "start": dfa.start}
                               for dfa in automata],
             "run": {"executor": executor, "workers": workers, "tasks": len(tasks),
                     "computed_this_run": len(outcome.computed), "reused": len(outcome.reused),
                     "wall_seconds_this_run": time.perf_counter() - started,
                     "task_seconds_total": float(np.sum(outcome.seconds)),
                     "task_cpu_seconds_total": float(np.sum(outcome.cpu_seconds)),
                     "cpu_seconds_by_phase": _phase_totals(outcome.results)}}
    written = save(out_dir, arrays, config, analysis, extra)
    # imported here: sweep workers import this module for run_task and need no matplotlib
    from validation.merger_phase_diagram.figures import make_figures

    figures = make_figures(arrays, analysis, config, out_dir)
    return Result(config, arrays, analysis, written.meta, out_dir, figures,
                  reused=len(outcome.reused), computed=len(outcome.computed))

