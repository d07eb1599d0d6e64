"""The merger phase diagram (P25 Fig. 9, spec §4.2) with the interaction theory's boundary overlaid.

    python -m validation.merger_phase_diagram                 # quick grid, < 5 min on 2 cores
    python -m validation.merger_phase_diagram --preset paper  # the 20 x 20 grid of P25 Fig. 9

Streaming-parity RNNs (``rnn/parity/elman.py``, ReLU, ``P = 100``) are trained from
Xavier-normal initialisations of gain ``g`` (the "initial weight scale", y axis)
on a fraction ``p`` of all binary sequences of length 1..L (x axis; per length a
``Binomial(2^l, p)`` draw of distinct sequences, ``rnn.parity.data.sample_sequences``)
until the training loss falls below a threshold or an epoch cap is hit. Per
network the results hold: accuracy and loss on random sequences much longer than
any training sequence, the final training loss, epochs used, the status
(``converged``; ``capped`` = not converged, stopped by the epoch cap; ``diverged``:
non-finite loss, whose metrics are NaN rather than a number), the raw and
Hopcroft-minimised state counts of the automaton extracted at
``eps = factor·‖std‖`` of the final hidden states of all 2^1 + … + 2^L sequences
plus ``h_0`` (``rnn.automata.extraction``), whether it is finite and whether its minimised
form is equivalent to the task automaton (parity: the 2-state automaton), and
the contraction factor ``G`` of the initial network (``rnn.measure.contraction``).

Work split. One sweep task is one (data fraction, replicate): one data draw and
one ensemble with every gain as a member, trained as a single batched
computation (``rnn.parity.ensemble.train_ensemble``). Seeds are derived from ``--seed``
and the task's configuration only: the initial weights depend on (seed,
replicate) — so along a row of the diagram only the data change, and different
gains are the same random matrices scaled — the data draw and minibatch order on
(seed, replicate, fraction), and the validation sequences on (seed, replicate).
Tasks run single-threaded so that every executor gives bit-identical numbers;
parallelism comes from running tasks side by side. Finished tasks are written
atomically under ``OUT/tasks/`` and a rerun of the same command resumes
(``validation/sweep.py``); a different configuration (or toolkit version) into
the same ``--out`` is refused. Analysis-only options — ``--generalise-accuracy``,
``--bootstrap``, ``--fit-cells`` — may change freely: they only re-run the analysis
(``--plot-only`` re-runs it too and redraws the figures, without touching the
results files).

Theory overlay (``validation/boundary_fit.py``): each cell's merger score
``S(G, p) = max log N(m1,m2;p) − m1 log G`` over prefix lengths ``1 <= m1 < m2 <= L``
with ``N >= 1`` (eq. 9 with ``n = 0``; the derivation is in that module's
docstring), ``G`` measured on the initial networks and ``N`` the expected number
of shared continuations for the fraction ``p``; the one unknown constant ``C`` is fitted by maximising agreement
between the predicted regime (``S > log C``) and observed generalisation (accuracy
at the longest validation length ``>= --generalise-accuracy``), with a bootstrap
over cells for its spread. The predicted boundary ``S = log C`` is drawn on both
maps; cells where prediction and observation disagree are outlined in red.

Outputs in ``OUT`` (default ``runs/merger_phase_diagram/PRESET``): ``results.npz``
(arrays indexed ``[replicate, gain, fraction(, validation length)]``),
``results.json`` (configuration, seeds, fit, agreement, timings, provenance), and
the figures ``phase_diagram``, ``accuracy_map`` and ``states_map`` as PNG and PDF.
``--plot-only OUT/results.npz`` redraws the figures from a results file.
"""
from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from interaction.artifacts import atomic_savez, atomic_write_json, package_version, provenance, save_figure
from interaction.checks import check_choice, check_int, check_interval, check_positive
from interaction.cliutil import ArgumentParser, run_cli
from validation.boundary_fit import ConstantFit, fit_merger_constant, merger_score, predicted_regime
from validation.sweep import EXECUTORS, run_sweep

PROG = "python -m validation.merger_phase_diagram"
TASKS = ("parity", "random-dfa")
LOSSES = ("ce", "mse")
NONLINEARITIES = ("relu", "tanh")
# Fields that only affect the analysis of finished tasks, not what a task computes.
ANALYSIS_FIELDS = ("generalise_accuracy", "bootstrap", "fit_cells")
FIT_CELLS = ("all", "converged")
_VALIDATION_STREAM = 0x5EED  # spawn key separating the validation draw from the task draws


@dataclass(frozen=True)
class PhaseDiagramConfig:
    """Every knob of the experiment (defaults: the quick preset)."""

    gains: tuple[float, ...] = tuple(np.round(np.linspace(0.1, 1.0, 6), 6))
    fractions: tuple[float, ...] = tuple(np.round(np.linspace(0.1, 1.0, 6), 6))
    seeds: int = 1
    seed: int = 0
    task: str = "parity"
    L: int = 10
    hidden: int = 100
    nonlinearity: str = "relu"
    loss: str = "ce"
    lr: float = 0.02
    batch_size: int = 128
    max_epochs: int = 1000
    loss_threshold: float = 1e-3
    eps_factor: float = 0.1
    val_lengths: tuple[int, ...] = (100,)
    val_count: int = 30
    dtype: str = "float32"
    generalise_accuracy: float = 0.95
    bootstrap: int = 1000
    fit_cells: str = "all"

    def __post_init__(self) -> None:
        for name in ("gains", "fractions", "val_lengths"):
            values = tuple(getattr(self, name))
            if not values:
                raise ValueError(f"{name} must contain at least one value")
            if len(set(values)) != len(values):
                raise ValueError(f"{name} must not repeat values (got {values})")
            object.__setattr__(self, name, values)
        check_positive("gains", np.array(self.gains))
        check_interval("fractions", np.array(self.fractions), 0.0, 1.0, lo_closed=False)
        object.__setattr__(self, "gains", tuple(float(g) for g in self.gains))
        object.__setattr__(self, "fractions", tuple(float(p) for p in self.fractions))
        object.__setattr__(self, "val_lengths", tuple(check_int("val_lengths", v, minimum=1)
                                                      for v in self.val_lengths))
        check_int("seeds", self.seeds, minimum=1)
        check_int("seed", self.seed, minimum=0)
        check_choice("task", self.task, TASKS)
        check_int("L", self.L, minimum=2, maximum=16)
        check_int("hidden", self.hidden, minimum=1)
        check_choice("nonlinearity", self.nonlinearity, NONLINEARITIES)
        check_choice("loss", self.loss, LOSSES)
        check_positive("lr", self.lr)
        check_int("batch_size", self.batch_size, minimum=1)
        check_int("max_epochs", self.max_epochs, minimum=1)
        check_positive("loss_threshold", self.loss_threshold)
        check_positive("eps_factor", self.eps_factor)
        check_int("val_count", self.val_count, minimum=1)
        check_choice("dtype", self.dtype, ("float32", "float64"))
        check_interval("generalise_accuracy", self.generalise_accuracy, 0.0, 1.0)
        check_int("bootstrap", self.bootstrap, minimum=0)
        check_choice("fit_cells", self.fit_cells, FIT_CELLS)

    def compute_config(self) -> dict[str, Any]:
        """The fields that determine what the tasks compute (everything but the analysis knobs)."""
        return {k: v for k, v in asdict(self).items() if k not in ANALYSIS_FIELDS}


PRESETS: dict[str, PhaseDiagramConfig] = {
    "quick": PhaseDiagramConfig(),
    "paper": PhaseDiagramConfig(
        gains=tuple(np.round(np.linspace(0.1, 1.0, 20), 6)),
        fractions=tuple(np.round(np.linspace(0.1, 1.0, 20), 6)),
        max_epochs=3000),
}


# ----------------------------------------------------------------------------- one task

def _seed_int(seq: np.random.SeedSequence) -> int:
    return int(seq.generate_state(1, dtype=np.uint32)[0])


def task_seeds(seed: int, replicate: int, fraction: float) -> dict[str, Any]:
    """Seeds of one task, from the configuration only (never from execution order).

    ``init`` (weights) and ``validation`` depend on (seed, replicate); ``data`` (the draw)
    and ``shuffle`` (minibatch order) also on the fraction.
    """
    fraction_code = int(round(float(fraction) * 1e9))
    per_replicate = np.random.SeedSequence([seed, replicate])
    per_task = np.random.SeedSequence([seed, replicate, fraction_code])
    init, task_automaton = per_replicate.spawn(2)
    data, shuffle = per_task.spawn(2)
    return {"init": _seed_int(init), "task_automaton": _seed_int(task_automaton),
            "shuffle": _seed_int(shuffle), "data": data,
            "validation": np.random.SeedSequence([seed, replicate, _VALIDATION_STREAM])}


def _task_automaton(task: str, seed: int):
    from rnn.automata import parity_dfa
    if task == "parity":
        return parity_dfa()
    from rnn.automata.random_dfa import random_dfa
    return random_dfa(seed=seed)


def run_task(task: dict[str, Any]) -> dict[str, np.ndarray]:
    """Train and measure one ensemble (one fraction, one replicate, every gain); see module docstring."""
    import torch

    from rnn.automata import equivalent, extract_automaton, minimize, std_norm
    from rnn.measure.contraction import estimate_contraction
    from rnn.parity.ensemble import TrainConfig, evaluate, hidden_states, train_ensemble
    from rnn.parity.data import all_sequences, random_sequences, sample_sequences

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        seeds = task_seeds(task["seed"], task["replicate"], task["fraction"])
        target = _task_automaton(task["task"], seeds["task_automaton"])
        data = sample_sequences(task["L"], task["fraction"], np.random.default_rng(seeds["data"]))
        gains = np.asarray(task["gains"], dtype=float)
        n_members = gains.size
        config = TrainConfig(hidden=task["hidden"], nonlinearity=task["nonlinearity"], loss=task["loss"],
                             lr=task["lr"], batch_size=task["batch_size"], protocol="paper",
                             max_epochs=task["max_epochs"], loss_threshold=task["loss_threshold"],
                             dtype=task["dtype"], shuffle_seed=seeds["shuffle"])
        result = train_ensemble(data, target.output(data.tokens), config=config,
                                seeds=np.full(n_members, seeds["init"]), gains=gains)
        diverged = result.status == "diverged"

        val_rng = np.random.default_rng(seeds["validation"])
        val_loss = np.full((n_members, len(task["val_lengths"])), np.nan)
        val_acc = np.full_like(val_loss, np.nan)
        for k, length in enumerate(task["val_lengths"]):
            tokens = random_sequences(length, task["val_count"], val_rng)
            loss, acc = evaluate(result.params, tokens, target.output(tokens),
                                 nonlinearity=task["nonlinearity"], loss=task["loss"])
            val_loss[:, k], val_acc[:, k] = loss, acc
        val_loss[diverged] = np.nan
        val_acc[diverged] = np.nan

        everything = all_sequences(task["L"])
        hidden = hidden_states(result.params, everything, nonlinearity=task["nonlinearity"])
        outputs = hidden @ np.swapaxes(result.params["W_hy"], 1, 2) + result.params["b_hy"][:, None, :]
        n_raw = np.full(n_members, np.nan)
        n_min = np.full(n_members, np.nan)
        finite = np.zeros(n_members, dtype=bool)
        equiv = np.zeros(n_members, dtype=bool)
        eps = np.full(n_members, np.nan)
        for e in range(n_members):
            if diverged[e] or not np.all(np.isfinite(hidden[e])):
                continue
            eps[e] = task["eps_factor"] * std_norm(hidden[e], "final")
            dfa = extract_automaton(hidden[e], everything, eps=eps[e], outputs=outputs[e]).dfa
            minimal = minimize(dfa)
            n_raw[e], n_min[e] = dfa.n_states, minimal.n_states
            finite[e] = dfa.is_finite
            equiv[e] = equivalent(minimal, target)

        contraction = np.asarray(estimate_contraction(result.initial_params, nonlinearity=task["nonlinearity"]))
        return {
            "status": result.status, "epochs": result.epochs, "train_loss": result.final_loss(),
            "val_loss": val_loss, "val_accuracy": val_acc,
            "n_states_raw": n_raw, "n_states_min": n_min, "finite": finite, "equivalent": equiv,
            "eps": eps, "contraction": contraction, "n_train": np.int64(len(data)),
            "init_seed": np.int64(seeds["init"]), "shuffle_seed": np.int64(seeds["shuffle"]),
        }
    finally:
        torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- sweep and assembly

def build_tasks(config: PhaseDiagramConfig) -> list[dict[str, Any]]:
    """One task per (replicate, fraction); largest fractions first (longest tasks start first)."""
    base = config.compute_config()
    base.pop("fractions")
    base.pop("seeds")
    order = np.argsort(config.fractions)[::-1]
    return [{**base, "fraction": config.fractions[f], "replicate": r}
            for r in range(config.seeds) for f in order]


_PER_MEMBER = ("status", "epochs", "train_loss", "val_loss", "val_accuracy", "n_states_raw",
               "n_states_min", "finite", "equivalent", "eps", "contraction")
_PER_TASK = ("n_train", "init_seed", "shuffle_seed")


def assemble(config: PhaseDiagramConfig, tasks: list[dict[str, Any]], results: list[dict[str, np.ndarray]],
             seconds: np.ndarray, cpu_seconds: np.ndarray) -> dict[str, np.ndarray]:
    """Stack per-task results into arrays ``[replicate, gain, fraction(, val length)]``."""
    S, G, F = config.seeds, len(config.gains), len(config.fractions)
    arrays: dict[str, np.ndarray] = {}
    for task, result, sec, cpu in zip(tasks, results, seconds, cpu_seconds):
        r, f = task["replicate"], config.fractions.index(task["fraction"])
        for name in _PER_MEMBER:
            value = result[name]
            if name not in arrays:
                arrays[name] = np.empty((S, G, F) + value.shape[1:], dtype=value.dtype)
            arrays[name][r, :, f] = value
        for name in _PER_TASK:
            arrays.setdefault(name, np.zeros((S, F), dtype=np.int64))[r, f] = result[name]
        arrays.setdefault("task_seconds", np.zeros((S, F)))[r, f] = sec
        arrays.setdefault("task_cpu_seconds", np.zeros((S, F)))[r, f] = cpu
    arrays["gains"] = np.array(config.gains)
    arrays["fractions"] = np.array(config.fractions)
    arrays["val_lengths"] = np.array(config.val_lengths)
    return arrays


@dataclass(frozen=True)
class Analysis:
    """Theory against observation for every (replicate, gain, fraction) sample."""

    score: np.ndarray          # merger score S per sample
    observed: np.ndarray       # generalised (accuracy at the longest length >= threshold, not diverged)
    predicted: np.ndarray      # S > log C (all False when C is not fitted two-sided)
    fit: ConstantFit
    contraction_by_gain: np.ndarray   # geometric mean of G over replicates and fractions
    agreement_all: float              # agreement over every network (fit.agreement: over the fitted ones)
    agreement_converged: float        # agreement restricted to converged networks
    agreement_finite: float           # agreement of the prediction with "finite automaton equivalent to the task"
    agreement_baseline: float         # agreement of the best constant prediction (all or none generalise)


def analyse(arrays: dict[str, np.ndarray], config: PhaseDiagramConfig) -> Analysis:
    """Fit ``log C`` and compare predicted with observed regimes (``validation/boundary_fit.py``)."""
    G = arrays["contraction"]
    if not np.all(np.isfinite(G) & (G > 0)):
        raise ValueError("contraction estimates must be finite and positive to evaluate the theory")
    p = np.broadcast_to(arrays["fractions"][None, None, :], G.shape)
    score = merger_score(G, p, config.L)
    accuracy = arrays["val_accuracy"][..., -1]
    observed = np.isfinite(accuracy) & (np.nan_to_num(accuracy) >= config.generalise_accuracy)
    converged = arrays["status"] == "converged"
    fitted = converged if config.fit_cells == "converged" else np.ones_like(converged)
    if not fitted.any():
        raise ValueError("fit_cells='converged' needs at least one converged network (none converged)")
    fit = fit_merger_constant(score[fitted], observed[fitted], n_bootstrap=config.bootstrap, seed=config.seed)
    predicted = predicted_regime(score, fit.decision_log_C)
    agree = predicted == observed
    task_solved = arrays["finite"] & arrays["equivalent"]
    return Analysis(
        score=score, observed=observed, predicted=predicted, fit=fit,
        contraction_by_gain=np.exp(np.mean(np.log(G), axis=(0, 2))),
        agreement_all=float(np.mean(agree)),
        agreement_converged=float(np.mean(agree[converged])) if converged.any() else float("nan"),
        agreement_finite=float(np.mean(predicted == task_solved)),
        agreement_baseline=float(max(observed.mean(), 1.0 - observed.mean())))


def _theory_line(analysis: Analysis) -> str:
    converged = ("no network converged" if np.isnan(analysis.agreement_converged)
                 else f"converged only {analysis.agreement_converged:.1%}")
    return (f"theory: {analysis.fit.message} on the fitted networks; over all networks "
            f"{analysis.agreement_all:.1%} (constant guess {analysis.agreement_baseline:.1%}; {converged})")


def summary(arrays: dict[str, np.ndarray], analysis: Analysis) -> dict[str, Any]:
    """JSON-ready summary: counts of statuses, fit, agreements."""
    status, counts = np.unique(arrays["status"], return_counts=True)
    fit = analysis.fit
    return {
        "networks": int(arrays["status"].size),
        "status_counts": {str(s): int(c) for s, c in zip(status, counts)},
        "generalised": int(analysis.observed.sum()),
        "fit": {**asdict(fit), "C": float(np.exp(fit.log_C)) if np.isfinite(fit.log_C) else None},
        "agreement": analysis.agreement_all,
        "agreement_fitted_cells": fit.agreement,
        "agreement_constant_baseline": analysis.agreement_baseline,
        "agreement_converged_only": analysis.agreement_converged,
        "agreement_with_finite_task_automaton": analysis.agreement_finite,
        "contraction_by_gain": analysis.contraction_by_gain,
    }


# ----------------------------------------------------------------------------- figures

def _edges(centres: np.ndarray) -> np.ndarray:
    c = np.asarray(centres, dtype=float)
    if c.size == 1:
        return np.array([c[0] - 0.05, c[0] + 0.05])
    mid = 0.5 * (c[1:] + c[:-1])
    return np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])


def _draw_map(ax, values, arrays, analysis, config, *, title, cmap, norm, label, annotate=None):
    import matplotlib.pyplot as plt
    gains, fractions = arrays["gains"], arrays["fractions"]
    order_g, order_f = np.argsort(gains), np.argsort(fractions)
    gains, fractions = gains[order_g], fractions[order_f]
    values = values[order_g][:, order_f]
    mesh = ax.pcolormesh(_edges(fractions), _edges(gains), values, cmap=cmap, norm=norm, shading="flat")
    plt.colorbar(mesh, ax=ax, label=label)
    fit = analysis.fit
    if fit.status == "fitted" and gains.size > 1 and fractions.size > 1:
        # The boundary S(G(g), p) = log C on a fine grid: N is exact in p, log G is
        # interpolated linearly in log g between the measured gains (G ∝ g to first order).
        g_fine = np.linspace(gains[0], gains[-1], 200)
        p_fine = np.linspace(fractions[0], fractions[-1], 200)
        logG = np.interp(np.log(g_fine), np.log(gains), np.log(analysis.contraction_by_gain[order_g]))
        S = merger_score(np.exp(logG)[:, None], p_fine[None, :], config.L)
        finite = np.isfinite(S)   # -inf: no interacting pair, i.e. below every threshold
        S = np.where(finite, S, (S[finite].min() if finite.any() else fit.log_C) - 10.0)
        ax.contour(p_fine, g_fine, S, levels=[fit.log_C], colors="white", linewidths=2.5)
        ax.contour(p_fine, g_fine, S, levels=[fit.log_C], colors="black", linewidths=1.2)
        lo, hi = fit.log_C_interval
        for level in (lo, hi):
            if np.isfinite(level) and S.min() < level < S.max():
                ax.contour(p_fine, g_fine, S, levels=[level], colors="black", linewidths=0.8,
                           linestyles="dashed")
    # Honesty layer: disagreements, non-converged and diverged networks, per cell.
    disagree = np.mean(analysis.predicted != analysis.observed, axis=0)[order_g][:, order_f]
    status = arrays["status"][:, order_g][:, :, order_f]
    dx, dy = np.diff(_edges(fractions)), np.diff(_edges(gains))
    for i, g in enumerate(gains):
        for j, p in enumerate(fractions):
            if disagree[i, j] > 0:
                ax.add_patch(plt.Rectangle((p - dx[j] / 2, g - dy[i] / 2), dx[j], dy[i], fill=False,
                                           edgecolor="red", linewidth=1.8, alpha=min(1.0, 0.4 + disagree[i, j])))
            corner = (p + 0.3 * dx[j], g + 0.3 * dy[i])   # keeps the cell centre free for text
            if np.any(status[:, i, j] == "diverged"):
                ax.plot(*corner, marker="x", color="red", markersize=6, mew=2)
            elif np.any(status[:, i, j] == "capped"):
                ax.plot(*corner, marker="o", mfc="none", mec=_contrasting(mesh, values[i, j]),
                        markersize=5, mew=1.0)
            if annotate is not None and gains.size * fractions.size <= 144:
                text = annotate[order_g][:, order_f][i, j]
                ax.text(p, g, text, ha="center", va="center", fontsize=7,
                        color=_contrasting(mesh, values[i, j]))
    ax.set_xlabel("training data fraction p")
    ax.set_ylabel("initial weight scale (Xavier gain)")
    ax.set_title(title, fontsize=10)


def _contrasting(mesh, value: float) -> str:
    """Black or white, whichever reads better on the colour ``mesh`` gives ``value``."""
    if not np.isfinite(value):
        return "black"
    r, g, b, _ = mesh.cmap(mesh.norm(value))
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def _legend_handles():
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    return [Line2D([], [], color="black", lw=1.5, label="theory: S(G,p) = log C (fit)"),
            Line2D([], [], color="black", lw=0.8, ls="--", label="bootstrap 16-84% of log C"),
            Patch(fill=False, edgecolor="red", lw=1.8, label="prediction ≠ observation"),
            Line2D([], [], marker="o", ls="", mfc="none", mec="grey", label="hit epoch cap (not converged)"),
            Line2D([], [], marker="x", ls="", color="red", label="diverged")]


def make_figures(arrays: dict[str, np.ndarray], analysis: Analysis, config: PhaseDiagramConfig,
                 out_dir: Path) -> list[Path]:
    """Accuracy map, state-count map (both with the predicted boundary) and a combined figure."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm, Normalize

    with np.errstate(all="ignore"):
        accuracy = np.nanmean(arrays["val_accuracy"][..., -1], axis=0)
        states = np.nanmedian(arrays["n_states_raw"], axis=0)
        minimal = np.nanmedian(arrays["n_states_min"], axis=0)
    length = int(arrays["val_lengths"][-1])
    fit = analysis.fit
    fitted_on = "" if config.fit_cells == "all" else ", fitted on converged"
    caption = (f"log C = {fit.log_C:.2f}{fitted_on}, agreement {analysis.agreement_all:.0%}"
               if fit.status == "fitted"
               else f"C not identified ({fit.status}){fitted_on}; agreement {analysis.agreement_all:.0%}")
    caption += f" (constant guess {analysis.agreement_baseline:.0%})"
    finite_states = states[np.isfinite(states)]
    state_norm = LogNorm(vmin=max(1.0, finite_states.min()), vmax=max(2.0, finite_states.max())) \
        if finite_states.size else Normalize(0, 1)
    minimal_text = np.where(np.isfinite(minimal), np.nan_to_num(minimal).astype(int).astype(str), "–")
    panels = {
        "accuracy_map": dict(values=accuracy, title=f"accuracy at length {length}\n{caption}",
                             cmap="viridis", norm=Normalize(0.4, 1.0), label=f"accuracy (length {length})"),
        "states_map": dict(values=states, title=f"automaton states (raw; text: minimised)\n{caption}",
                           cmap="magma", norm=state_norm, label="raw state count", annotate=minimal_text),
    }
    paths: list[Path] = []
    for stem, kw in panels.items():
        fig, ax = plt.subplots(figsize=(5.6, 4.8), layout="constrained")
        _draw_map(ax, arrays=arrays, analysis=analysis, config=config, **kw)
        fig.legend(handles=_legend_handles(), loc="outside lower center", ncol=2, fontsize=7, frameon=False)
        paths += save_figure(fig, out_dir / stem)
        plt.close(fig)

    fig, axes = plt.subplots(1, 3, figsize=(18, 5.4), layout="constrained",
                             gridspec_kw={"width_ratios": [1, 1, 0.9]})
    for ax, kw in zip(axes[:2], panels.values()):
        _draw_map(ax, arrays=arrays, analysis=analysis, config=config, **kw)
    _draw_score_panel(axes[2], arrays, analysis, config)
    fig.legend(handles=_legend_handles(), loc="outside lower center", ncol=5, fontsize=8, frameon=False)
    fig.suptitle(f"Merger phase diagram ({config.task}, L = {config.L}, {config.loss} loss, "
                 f"{arrays['status'].size} networks)", fontsize=11)
    paths += save_figure(fig, out_dir / "phase_diagram")
    plt.close(fig)
    return paths


def _draw_score_panel(ax, arrays, analysis, config) -> None:
    """Observed accuracy against the theory's merger score: a threshold at log C should separate them."""
    accuracy = arrays["val_accuracy"][..., -1]
    gains = np.broadcast_to(arrays["gains"][None, :, None], accuracy.shape)
    score = analysis.score
    finite = np.isfinite(score)
    if not finite.all():   # cells with no interacting pair, drawn at the left edge
        left = (score[finite].min() if finite.any() else 0.0) - 2.0
        score = np.where(finite, score, left)
        ax.axvline(left, color="grey", lw=0.6)
        ax.annotate("no pair with E[N] ≥ 1", (left, 0.02), xycoords=("data", "axes fraction"),
                    rotation=90, fontsize=7, color="grey", ha="right", va="bottom")
    points = ax.scatter(score.ravel(), accuracy.ravel(), c=gains.ravel(), cmap="coolwarm",
                        s=18, edgecolors="k", linewidths=0.3)
    import matplotlib.pyplot as plt
    plt.colorbar(points, ax=ax, label="initial weight scale")
    ax.axhline(config.generalise_accuracy, color="grey", lw=0.8, ls=":")
    fit = analysis.fit
    if fit.status == "fitted":
        ax.axvline(fit.log_C, color="black", lw=1.5)
        lo, hi = fit.log_C_interval
        if np.isfinite(lo):
            ax.axvspan(lo, hi, color="black", alpha=0.12, lw=0)
    ax.set_xlabel("merger score S = max [log N(m1,m2;p) − m1 log G] over pairs with N ≥ 1")
    ax.set_ylabel(f"accuracy at length {int(arrays['val_lengths'][-1])}")
    ax.set_title("theory score vs observation\n(prediction: generalises iff S > log C)", fontsize=10)


# ----------------------------------------------------------------------------- results files

def save_results(out_dir: Path, arrays: dict[str, np.ndarray], config: PhaseDiagramConfig,
                 analysis: Analysis, extra: dict[str, Any]) -> tuple[Path, Path]:
    """``results.npz`` (all arrays plus the analysis arrays) and ``results.json`` (config, fit, provenance)."""
    npz = atomic_savez(out_dir / "results.npz", **arrays, score=analysis.score,
                       observed=analysis.observed, predicted=analysis.predicted,
                       contraction_by_gain=analysis.contraction_by_gain)
    meta = {
        "experiment": "merger_phase_diagram",
        "description": "P25 Fig. 9 (spec §4.2) with the eq. 9 boundary; arrays are indexed "
                       "[replicate, gain, fraction(, validation length)]",
        "config": asdict(config),
        "arrays": {
            "status": "converged | capped (hit the epoch cap: not converged) | diverged",
            "epochs": "epochs of updates received", "train_loss": "final training loss",
            "val_loss, val_accuracy": "on val_count random sequences per validation length (NaN if diverged)",
            "n_states_raw, n_states_min": "automaton states at eps (NaN if diverged)",
            "finite": "every state has both transitions", "equivalent": "minimised automaton == task automaton",
            "eps": "eps_factor * ||std|| of the final hidden states", "contraction": "G of the initial network",
            "score": "merger score S (validation/boundary_fit.py)",
            "observed": "generalised: accuracy at the longest length >= generalise_accuracy",
            "predicted": "S > log C", "n_train": "training sequences per [replicate, fraction]",
            "task_seconds, task_cpu_seconds": "wall and CPU time of each task when it was computed",
        },
        "summary": summary(arrays, analysis),
        **extra,
        "provenance": provenance(),
    }
    return npz, atomic_write_json(out_dir / "results.json", meta)


def load_results(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays and metadata of a results file (``results.npz``, ``results.json`` or their directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.npz"
    npz, meta = path.with_suffix(".npz"), path.with_suffix(".json")
    if not npz.exists() or not meta.exists():
        raise ValueError(f"plot-only needs {npz} and {meta} (written by a finished run)")
    with np.load(npz, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return arrays, json.loads(meta.read_text())


def _config_from_json(config: dict[str, Any]) -> PhaseDiagramConfig:
    names = {f.name for f in fields(PhaseDiagramConfig)}
    return PhaseDiagramConfig(**{k: tuple(v) if isinstance(v, list) else v
                                 for k, v in config.items() if k in names})


# ----------------------------------------------------------------------------- command line

def _grid(text: str) -> tuple[float, ...]:
    """``'0.1,0.5,1'`` (a list) or ``'0.1:1.0:20'`` (``linspace(0.1, 1.0, 20)``)."""
    try:
        if ":" in text:
            lo, hi, count = text.split(":")
            return tuple(np.round(np.linspace(float(lo), float(hi), int(count)), 6))
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'a,b,c' or 'lo:hi:count', got {text!r}") from None


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults except ``None`` (options whose default comes from the preset say so themselves)."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def _preset_value(value: Any) -> str:
    if isinstance(value, tuple):
        if len(value) > 4 and np.allclose(np.diff(value), value[1] - value[0], rtol=0, atol=1e-5):
            return f"{value[0]:g}:{value[-1]:g}:{len(value)}"
        return ",".join(f"{v:g}" for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _annotate_presets(parser: argparse.ArgumentParser) -> None:
    """Append each preset's value to the help of every experiment/analysis option."""
    names = {f.name for f in fields(PhaseDiagramConfig)}
    for action in parser._actions:
        if action.dest in names and action.help:
            values = {name: _preset_value(getattr(cfg, action.dest)) for name, cfg in PRESETS.items()}
            shown = (next(iter(values.values())) if len(set(values.values())) == 1
                     else "; ".join(f"{name}: {v}" for name, v in values.items()))
            action.help += f" [{shown}]"


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0], formatter_class=_HelpFormatter,
                            epilog="Presets set every default; explicit options override them. "
                                   "Rerunning the same command resumes an interrupted run.")
    parser.add_argument("--preset", choices=tuple(PRESETS), default="quick",
                        help="quick: 6 gains x 6 fractions, epoch cap 1000 (< 5 min on 2 cores); "
                             "paper: P25 Fig. 9's 20 x 20 grid, epoch cap 3000 (P25 trained to convergence, up to 1e6 epochs)")
    knobs = parser.add_argument_group("experiment (default: the preset's value, in brackets)")
    knobs.add_argument("--gains", type=_grid, help="initial weight scales (Xavier gain of every matrix): "
                       "'a,b,c' or 'lo:hi:count'")
    knobs.add_argument("--fractions", type=_grid, help="training data fractions p in (0, 1]: 'a,b,c' or 'lo:hi:count'")
    knobs.add_argument("--seeds", type=int, help="replicates per cell (each: new weights, data draw, validation set)")
    knobs.add_argument("--seed", type=int, help="base seed from which every task's seeds are derived")
    knobs.add_argument("--task", choices=TASKS, help="target: streaming parity or a seeded random regular task (P25 §D.5)")
    knobs.add_argument("--L", type=int, help="longest training sequence length")
    knobs.add_argument("--hidden", type=int, help="hidden units P")
    knobs.add_argument("--nonlinearity", choices=NONLINEARITIES, help="recurrent nonlinearity")
    knobs.add_argument("--loss", choices=LOSSES, help="training loss (P25's grid code: ce)")
    knobs.add_argument("--lr", type=float, help="SGD learning rate")
    knobs.add_argument("--batch-size", type=int, help="minibatch size (batches never mix lengths)")
    knobs.add_argument("--max-epochs", type=int, help="epoch cap; a network that hits it is recorded as 'capped' (not converged)")
    knobs.add_argument("--loss-threshold", type=float, help="training stops (converged) once the training loss is below this")
    knobs.add_argument("--eps-factor", type=float, help="automaton merge distance eps = factor * ||std|| of the final hidden states")
    knobs.add_argument("--val-lengths", type=_int_list, help="lengths of the validation sequences, e.g. '100,1000' "
                       "(the last one decides generalisation)")
    knobs.add_argument("--val-count", type=int, help="random validation sequences per length")
    knobs.add_argument("--dtype", choices=("float32", "float64"), help="training precision")
    analysis = parser.add_argument_group("analysis (may change between reruns of the same sweep)")
    analysis.add_argument("--generalise-accuracy", type=float,
                          help="a network generalises if its accuracy at the longest validation length is at least this")
    analysis.add_argument("--bootstrap", type=int, help="bootstrap resamples for the spread of log C")
    analysis.add_argument("--fit-cells", choices=FIT_CELLS,
                          help="networks used to fit C: all, or only those that converged (the theory "
                               "describes trained networks; capped ones may not have finished learning)")
    run = parser.add_argument_group("execution")
    run.add_argument("--out", type=Path, help="output directory (default: runs/merger_phase_diagram/PRESET)")
    run.add_argument("--executor", choices=EXECUTORS, default="processes",
                     help="serial (this process), processes (local pool), dask (existing cluster, needs --scheduler)")
    run.add_argument("--workers", type=int, default=None, help="processes for --executor processes (default: CPU count)")
    run.add_argument("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (--executor dask)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--plot-only", type=Path, metavar="RESULTS",
                     help="redraw the figures (and re-run the analysis) from RESULTS (results.npz or its directory); trains nothing")
    _annotate_presets(parser)
    return parser


def config_from_args(args: argparse.Namespace) -> PhaseDiagramConfig:
    """The preset with every explicitly given option applied (validated)."""
    overrides = {f.name: getattr(args, f.name) for f in fields(PhaseDiagramConfig)
                 if getattr(args, f.name, None) is not None}
    return replace(PRESETS[args.preset], **overrides)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.plot_only is not None:
        arrays, meta = load_results(args.plot_only)
        config = _config_from_json(meta["config"])
        overrides = {k: getattr(args, k) for k in ANALYSIS_FIELDS if getattr(args, k) is not None}
        config = replace(config, **overrides)
        out_dir = Path(args.plot_only) if Path(args.plot_only).is_dir() else Path(args.plot_only).parent
        analysis = analyse(arrays, config)
        for path in make_figures(arrays, analysis, config, out_dir):
            print(path)
        print(_theory_line(analysis))
        return 0

    config = config_from_args(args)
    if args.workers is not None:
        check_int("workers", args.workers, minimum=1)
    if args.executor == "dask" and not args.scheduler:
        raise ValueError("--executor dask needs --scheduler ADDRESS (an existing dask.distributed scheduler)")
    if args.executor != "dask" and args.scheduler:
        raise ValueError("--scheduler is only used with --executor dask")
    out_dir = args.out if args.out is not None else Path("runs/merger_phase_diagram") / args.preset
    return run_experiment(config, out_dir, executor=args.executor, workers=args.workers,
                          scheduler=args.scheduler, progress=not args.no_progress)


def run_experiment(config: PhaseDiagramConfig, out_dir: str | Path, *, executor: str = "serial",
                   workers: int | None = None, scheduler: Any = None, progress: bool = True,
                   verbose: bool = True) -> int:
    """Run (or resume) the sweep, analyse it, write results and figures into ``out_dir``."""
    out_dir = Path(out_dir)
    tasks = build_tasks(config)
    started = time.perf_counter()
    # The toolkit version is part of the sweep: a directory written by another release is
    # refused instead of being resumed with different code.
    sweep_config = {**config.compute_config(), "toolkit_version": package_version()}
    outcome = run_sweep(run_task, tasks, out_dir, sweep_config=sweep_config, executor=executor,
                        workers=workers, scheduler=scheduler, progress=progress, desc="ensembles")
    arrays = assemble(config, tasks, outcome.results, outcome.seconds, outcome.cpu_seconds)
    analysis = analyse(arrays, config)
    automata = [_task_automaton(config.task, task_seeds(config.seed, r, config.fractions[0])["task_automaton"])
                for r in range(config.seeds)]
    extra = {"seeds": {"base_seed": config.seed, "replicates": config.seeds,
                       "derivation": "validation.merger_phase_diagram.task_seeds"},
             "task_automata": [{"transitions": dfa.transitions, "outputs": dfa.outputs, "start": dfa.start}
                               for dfa in automata],
             "run": {"executor": executor, "workers": workers, "tasks": len(tasks),
                     "computed_this_run": len(outcome.computed), "reused": len(outcome.reused),
                     "wall_seconds_this_run": time.perf_counter() - started,
                     "task_seconds_total": float(np.sum(outcome.seconds)),
                     "task_cpu_seconds_total": float(np.sum(outcome.cpu_seconds))}}
    save_results(out_dir, arrays, config, analysis, extra)
    figures = make_figures(arrays, analysis, config, out_dir)
    if verbose:
        s = summary(arrays, analysis)
        print(f"{len(outcome.reused)} of {len(tasks)} tasks reused, {len(outcome.computed)} computed; "
              f"statuses {s['status_counts']}; {s['generalised']} of {s['networks']} generalised")
        print(_theory_line(analysis))
        print(f"results: {out_dir / 'results.npz'} (+ .json); figures: {', '.join(str(p) for p in figures[::2])}")
    return 0


if __name__ == "__main__":
    run_cli(main, PROG)
