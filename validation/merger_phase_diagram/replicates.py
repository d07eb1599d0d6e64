"""Spread over replicates and the per-gain onsets of the phase diagram, compared with P25 Fig. 9.

Arrays in (``[replicate, gain, fraction]``), plain numbers out:

* ``frequency``: per cell, the fraction of replicates that generalised (and the fraction
  whose raw automaton has at most ``p25_fig9.SMALL_AUTOMATON_STATES`` states, ``small``);
* ``onset``: for each gain, the smallest fraction ``p`` of the grid at which a frequency
  reaches ``level`` (½ by default), ``nan`` where it never does. Applied to generalisation
  it is the boundary of the accuracy panel; applied to ``small`` it is the state-count
  boundary, with the criterion used to read P25 Fig. 9 (``p25_fig9.py``);
* ``per_replicate``: each replicate analysed on its own — ``log C`` refitted on its cells
  (``boundary_fit.fit_merger_constant``), the agreement of that fit and of the pooled fit,
  the constant-guess baseline — with their mean, standard deviation and range, which is
  the spread a reader should expect from a single run of the grid;
* ``fig9_comparison``: on P25's own 20 × 20 grid (or a sub-grid of it), both onsets per gain
  beside the values read from the paper's figure (``p25_fig9.py``; there every cell is one
  network). An onset is a first crossing, and it compares unlike readings: the first cell of
  one network (the figure) against a replicate frequency of ½ (ours). So the like-for-like
  reading is
* ``column_shares``: per fraction column and gain band (all gains, the lower and the upper
  half), the share of networks that generalised, ours and the figure's, each with a
  bootstrap 16–84 % band over the networks of that column and band (every cell of the
  figure is one network; ours has ``replicates`` per cell).

Replicates differ in every random draw (weights, data, minibatch order, validation set)
when the cells are independent, so their spread is the run-to-run variation of the map.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from validation.merger_phase_diagram import p25_fig9
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
    small_frequency: np.ndarray         # (gains, fractions): raw automaton <= SMALL_AUTOMATON_STATES states
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

        return {"replicates": int(self.log_C.size),
                "generalisation_onset_by_gain": _listed(self.generalisation_onset),
                "state_count_onset_by_gain": _listed(self.state_count_onset),
                "log_C_per_replicate": _listed(self.log_C), "log_C": spread(self.log_C),
                "agreement_own_fit": spread(self.agreement_own_fit),
                "agreement_pooled_fit": spread(self.agreement_pooled_fit),
                "agreement_constant": spread(self.agreement_constant)}


def replicate_spread(score: np.ndarray, observed: np.ndarray, small: np.ndarray, fractions: np.ndarray,
                     pooled_log_C: float, *, level: float = 0.5) -> ReplicateSpread:
    """``score``, ``observed``, ``small`` ``[replicate, gain, fraction]``; ``pooled_log_C`` the pooled fit's decision value."""
    score, observed, small = np.asarray(score, dtype=float), np.asarray(observed, bool), np.asarray(small, bool)
    if not (score.shape == observed.shape == small.shape) or score.ndim != 3:
        raise ValueError(f"score, observed and small must share a [replicate, gain, fraction] shape "
                         f"(got {score.shape}, {observed.shape}, {small.shape})")
    general, small_freq = observed.mean(axis=0), small.mean(axis=0)
    log_C, own, pooled, constant = (np.full(score.shape[0], np.nan) for _ in range(4))
    for r in range(score.shape[0]):
        fit = fit_merger_constant(score[r], observed[r], n_bootstrap=0)
        log_C[r] = fit.log_C if fit.status == "fitted" else np.nan
        own[r] = fit.agreement
        pooled[r] = np.mean(predicted_regime(score[r], pooled_log_C) == observed[r])
        constant[r] = max(observed[r].mean(), 1.0 - observed[r].mean())
    return ReplicateSpread(general, small_freq, onset(general, fractions, level), onset(small_freq, fractions, level),
                           log_C, own, pooled, constant)


def fig9_comparison(spread: ReplicateSpread, gains: np.ndarray, fractions: np.ndarray) -> dict[str, Any] | None:
    """Both onsets per gain beside P25 Fig. 9's, on the paper's grid or any sub-grid of it (else ``None``).

    On a sub-grid the paper's onsets are recomputed from its cells (``p25_fig9.CORRECT_READ``,
    ``STATES_READ``) restricted to the same gains and fractions, with the same criteria, so
    both sides answer the same question.
    """
    rows = [_grid_index(p25_fig9.GAINS, g) for g in gains]
    cols = [_grid_index(p25_fig9.FRACTIONS, p) for p in fractions]
    if None in rows or None in cols:
        return None
    accuracy = np.asarray(p25_fig9.CORRECT_READ, dtype=float)[np.ix_(rows, cols)] / p25_fig9.VALIDATION_STRINGS
    states = np.asarray(p25_fig9.STATES_READ, dtype=float)[np.ix_(rows, cols)]
    theirs = onset((accuracy >= p25_fig9.GENERALISE_ACCURACY).astype(float), fractions)
    theirs_states = onset((states <= p25_fig9.SMALL_AUTOMATON_STATES).astype(float), fractions)
    order = np.argsort(gains)
    step = float(np.diff(p25_fig9.FRACTIONS).mean())
    ours, ours_states = spread.generalisation_onset, spread.state_count_onset
    return {"gains": _listed(np.asarray(gains, dtype=float)[order]),
            "generalisation_onset": {"ours": _listed(ours[order]), "p25_fig9": _listed(theirs[order]),
                                     "mean_difference_in_grid_steps": _mean_steps(ours - theirs, step)},
            "state_count_onset": {"ours": _listed(ours_states[order]), "p25_fig9": _listed(theirs_states[order]),
                                  "mean_difference_in_grid_steps": _mean_steps(ours_states - theirs_states, step),
                                  "criterion": f"raw states <= {p25_fig9.SMALL_AUTOMATON_STATES}"},
            "level": "our onset: >= 1/2 of replicates; P25: one network per cell"}


#: gain bands of ``column_shares``: all gains, the lower half, the upper half (by grid index)
GAIN_BANDS = ("all", "lower", "upper")


def _band_rows(n_gains: int) -> dict[str, np.ndarray]:
    rows = np.arange(n_gains)
    return {"all": rows, "lower": rows[: n_gains // 2], "upper": rows[n_gains // 2:]}


def _share_band(networks: np.ndarray, n_bootstrap: int, rng: np.random.Generator) -> tuple[float, float]:
    """16-84 % of the share of ``True`` over ``n_bootstrap`` resamplings of ``networks`` (nan without resamples)."""
    if not n_bootstrap or not networks.size:
        return (float("nan"), float("nan"))
    draws = networks[rng.integers(0, networks.size, (n_bootstrap, networks.size))].mean(axis=1)
    return tuple(float(q) for q in np.percentile(draws, [16, 84]))


def column_shares(observed: np.ndarray, gains: np.ndarray, fractions: np.ndarray, *, n_bootstrap: int,
                  seed: int) -> dict[str, Any]:
    """Share generalising per fraction column and gain band, ours and (on its grid) P25 Fig. 9's (module docstring).

    ``observed`` ``[replicate, gain, fraction]``. Gains are sorted before the bands are cut.
    P25's side is ``None`` off the figure's grid.
    """
    observed = np.asarray(observed, bool)
    gains, fractions = np.asarray(gains, float), np.asarray(fractions, float)
    order_g, order_f = np.argsort(gains), np.argsort(fractions)
    ours = observed[:, order_g][:, :, order_f]
    rows = [_grid_index(p25_fig9.GAINS, g) for g in gains[order_g]]
    cols = [_grid_index(p25_fig9.FRACTIONS, p) for p in fractions[order_f]]
    theirs = None
    if None not in rows and None not in cols:
        correct = np.asarray(p25_fig9.CORRECT_READ, dtype=float)[np.ix_(rows, cols)]
        theirs = correct / p25_fig9.VALIDATION_STRINGS >= p25_fig9.GENERALISE_ACCURACY
    rng = np.random.default_rng((seed, 0xF169))
    out: dict[str, Any] = {"fractions": _listed(fractions[order_f]), "bands": {}}
    for band, band_rows in _band_rows(gains.size).items():
        if not band_rows.size:
            continue
        entry: dict[str, Any] = {"gains": _listed(gains[order_g][band_rows]), "ours": [], "ours_band": [],
                                 "p25_fig9": None if theirs is None else [],
                                 "p25_fig9_band": None if theirs is None else []}
        for f in range(fractions.size):
            networks = ours[:, band_rows, f].ravel()
            entry["ours"].append(float(networks.mean()))
            entry["ours_band"].append(list(_share_band(networks, n_bootstrap, rng)))
            if theirs is not None:
                cells = theirs[band_rows, f]
                entry["p25_fig9"].append(float(cells.mean()))
                entry["p25_fig9_band"].append(list(_share_band(cells, n_bootstrap, rng)))
        if theirs is not None:
            diff = np.asarray(entry["ours"]) - np.asarray(entry["p25_fig9"])
            entry["mean_difference"] = float(diff.mean())
            entry["columns_ours_above"] = int(np.sum(np.asarray(entry["ours_band"])[:, 0] > entry["p25_fig9"]))
            entry["columns_ours_below"] = int(np.sum(np.asarray(entry["ours_band"])[:, 1] < entry["p25_fig9"]))
        out["bands"][band] = entry
    return out


def _grid_index(grid: tuple[float, ...], value: float) -> int | None:
    match = np.flatnonzero(np.isclose(grid, value, rtol=0, atol=5e-7))
    return int(match[0]) if match.size else None


def _listed(x: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in x]


def _mean_steps(difference: np.ndarray, step: float) -> float | None:
    finite = difference[np.isfinite(difference)]
    return float(finite.mean() / step) if finite.size else None
