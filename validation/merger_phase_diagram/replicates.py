"""Spread over replicates and the per-gain onsets of the phase diagram, compared with P25 Fig. 9.

Arrays in (``[replicate, gain, fraction]``), plain numbers out:

* ``frequency``: per cell, the fraction of replicates that generalised (and the fraction
  whose minimised automaton is the task's own, ``solved``);
* ``onset``: for each gain, the smallest fraction ``p`` of the grid at which a frequency
  reaches ``level`` (½ by default), ``nan`` where it never does. Applied to generalisation
  it is the boundary of the accuracy panel; applied to ``solved`` it is the state-count
  boundary (the minimised automaton is parity: 2 states);
* ``per_replicate``: each replicate analysed on its own — ``log C`` refitted on its cells
  (``boundary_fit.fit_merger_constant``), the agreement of that fit and of the pooled fit,
  the constant-guess baseline — with their mean, standard deviation and range, which is
  the spread a reader should expect from a single run of the grid.

Replicates differ in every random draw (weights, data, minibatch order, validation set)
when the cells are independent, so their spread is the run-to-run variation of the map.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from validation.merger_phase_diagram.boundary_fit import fit_merger_constant, predicted_regime


def onset(frequency: np.ndarray, fractions: np.ndarray, level: float = 0.5) -> np.ndarray:
    """Per gain (row), the smallest fraction whose ``frequency`` is at least ``level`` (nan if none).

    ``frequency`` ``(gains, fractions)``; ``fractions`` need not be sorted.
    """
    frequency = np.asarray(frequency, dtype=float)
    fractions = np.asarray(fractions, dtype=float)
    if frequency.ndim != 2 or frequency.shape[1] != fractions.size:
        raise ValueError(f"frequency must be (gains, {fractions.size}) (got {frequency.shape})")
    order = np.argsort(fractions)
    reached = frequency[:, order] >= level
    first = np.argmax(reached, axis=1)
    return np.where(reached.any(axis=1), fractions[order][first], np.nan)


@dataclass(frozen=True)
class ReplicateSpread:
    """Per-cell frequencies, per-gain onsets and per-replicate fits (module docstring)."""

    generalised_frequency: np.ndarray   # (gains, fractions)
    solved_frequency: np.ndarray        # (gains, fractions): minimised automaton equals the task's
    generalisation_onset: np.ndarray    # (gains,)
    state_count_onset: np.ndarray       # (gains,)
    log_C: np.ndarray                   # (replicates,) refitted per replicate (nan unless two-sided)
    agreement_own_fit: np.ndarray       # (replicates,)
    agreement_pooled_fit: np.ndarray    # (replicates,)
    agreement_constant: np.ndarray      # (replicates,)

    def summary(self) -> dict[str, Any]:
        """JSON-ready: onsets per gain, and mean/sd/min/max of every per-replicate number."""
        def spread(x: np.ndarray) -> dict[str, float | int | None]:
            finite = x[np.isfinite(x)]
            if not finite.size:
                return {"n": 0, "mean": None, "sd": None, "min": None, "max": None}
            return {"n": int(finite.size), "mean": float(finite.mean()),
                    "sd": float(finite.std(ddof=1)) if finite.size > 1 else None,
                    "min": float(finite.min()), "max": float(finite.max())}

        def listed(x: np.ndarray) -> list[float | None]:
            return [float(v) if np.isfinite(v) else None for v in x]

        return {"replicates": int(self.log_C.size),
                "generalisation_onset_by_gain": listed(self.generalisation_onset),
                "state_count_onset_by_gain": listed(self.state_count_onset),
                "log_C_per_replicate": listed(self.log_C), "log_C": spread(self.log_C),
                "agreement_own_fit": spread(self.agreement_own_fit),
                "agreement_pooled_fit": spread(self.agreement_pooled_fit),
                "agreement_constant": spread(self.agreement_constant)}


def replicate_spread(score: np.ndarray, observed: np.ndarray, solved: np.ndarray, fractions: np.ndarray,
                     pooled_log_C: float, *, level: float = 0.5) -> ReplicateSpread:
    """``score``, ``observed``, ``solved`` ``[replicate, gain, fraction]``; ``pooled_log_C`` the pooled fit's decision value."""
    score, observed, solved = np.asarray(score, dtype=float), np.asarray(observed, bool), np.asarray(solved, bool)
    if not (score.shape == observed.shape == solved.shape) or score.ndim != 3:
        raise ValueError(f"score, observed and solved must share a [replicate, gain, fraction] shape "
                         f"(got {score.shape}, {observed.shape}, {solved.shape})")
    general, solved_freq = observed.mean(axis=0), solved.mean(axis=0)
    log_C, own, pooled, constant = (np.full(score.shape[0], np.nan) for _ in range(4))
    for r in range(score.shape[0]):
        fit = fit_merger_constant(score[r], observed[r], n_bootstrap=0)
        log_C[r] = fit.log_C if fit.status == "fitted" else np.nan
        own[r] = fit.agreement
        pooled[r] = np.mean(predicted_regime(score[r], pooled_log_C) == observed[r])
        constant[r] = max(observed[r].mean(), 1.0 - observed[r].mean())
    return ReplicateSpread(general, solved_freq, onset(general, fractions, level), onset(solved_freq, fractions, level),
                           log_C, own, pooled, constant)
