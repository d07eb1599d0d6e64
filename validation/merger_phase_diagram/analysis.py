"""Theory against observation: the fit of C, agreement, baselines and the JSON summary.

Arrays in (``[replicate, gain, fraction(, validation length)]``, as assembled by
``run.assemble`` or read back by ``results.load``), an ``Analysis`` out. Each cell's merger
score ``S(G, p) = max log N(m1,m2;p) − m1 log G`` over prefix lengths ``1 <= m1 < m2 <= L``
with ``N >= 1`` (eq. 9 with ``n = 0``, docs/theory.md §3; derivation in ``boundary_fit.py``),
``G`` measured on the initial networks and ``N`` the expected number of shared
continuations for the fraction ``p``; the one unknown constant ``C`` is fitted by
maximising agreement between the predicted regime (``S > log C``) and observed
generalisation (accuracy at the longest validation length ``>= generalise_accuracy``),
with a bootstrap over cells for its spread. A new metric is added here (``Analysis``,
``analyse``, ``summary``) and in the figure that shows it (``figures.py``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from validation.merger_phase_diagram.boundary_fit import (
    ConstantFit,
    fit_merger_constant,
    merger_score,
    predicted_regime,
)
from validation.merger_phase_diagram.config import PhaseDiagramConfig


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


def floored_contraction(G: np.ndarray) -> np.ndarray:
    """``G`` with zeros replaced by half the smallest positive value (1e-6 if none).

    ``G = 0`` is a real measurement: a network whose every pair of reachable states merges in
    one step (small gains, few units). Its merger score is then the largest of the grid
    instead of ``+inf``, so the fit of C and the figures stay finite. Negative or non-finite
    estimates are refused.
    """
    G = np.asarray(G, dtype=float)
    if not np.all(np.isfinite(G) & (G >= 0)):
        raise ValueError("contraction estimates must be finite and non-negative to evaluate the theory")
    positive = G[G > 0]
    floor = 0.5 * positive.min() if positive.size else 1e-6
    return np.where(G > 0, G, floor)


def analyse(arrays: dict[str, np.ndarray], config: PhaseDiagramConfig) -> Analysis:
    """Fit ``log C`` and compare predicted with observed regimes (``boundary_fit.py``)."""
    G = floored_contraction(arrays["contraction"])
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


def theory_line(analysis: Analysis) -> str:
    """The theory's verdict in one line (printed by the command)."""
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
