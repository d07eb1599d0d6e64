"""The predictors of the phase diagram: the theory's and the simplest rules that could explain the data.

docs/theory.md §3.7 says why; ``crossval.py`` scores them.

Each predictor is fitted on some networks and predicts the regime (generalises or not) of
others from their ``features.Features`` rows alone. The theory predicts something only if it
beats rules that know nothing of it, so both kinds are here:

==================  ===============================================================  =================
name                rule (fitted on the training networks)                           fitted constants
==================  ===============================================================  =================
``constant``        the majority outcome; probability: the base rate                 1 bit
``fraction``        ``p >= p*`` (more data helps)                                    1
``gain``            the gain on one side of ``g*``, the side chosen by the fit       1 and a side
``logistic``        logistic regression in ``(p, log gain)``, generalise iff ≥ ½     3
``cell_majority``   the majority outcome of the training networks of the same      one per cell
                    (gain, fraction) cell; the overall majority for an unseen cell
``eq9``             ``S(G, p) > log C`` (eq. 9; ``boundary_fit.merger_score``)       1 (``C``)
``eq9_suffix``      eq. 9 with ``log G`` replaced by the network's measured decay    1 (``C``)
                    of ``log ‖dh(0)‖²`` per shared suffix token (``features.py``)
``measured_min``    ``z_min <= κ``: eqs. 5–7 on the network's pairs, cell rule      1 (``κ``)
                    "some agreeing cross-length pair merges" (``measured.py``)
``measured_median`` ``median z <= κ``: at least half of the agreeing cross-length   1 (``κ``)
                    pairs merge (eq. 7), a population score (``features.py``)
==================  ===============================================================  =================

The theory's predictors (``THEORY``) each fit one constant, with the direction fixed by the
theory (a larger score merges; a smaller ``z`` merges). Thresholds are fitted by maximal
agreement (``boundary_fit.fit_merger_constant``, exact over the sorted scores). The logistic
regression carries a ridge penalty of ``RIDGE`` on its standardised slopes, so that a
separable training set still gives finite coefficients; it and ``constant`` give
probabilities, and so a log-loss (``crossval.py``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize

from validation.merger_phase_diagram.boundary_fit import fit_merger_constant, rate_ratio_score
from validation.merger_phase_diagram.features import Features

BASELINES = ("constant", "fraction", "gain", "logistic", "cell_majority")
THEORY = ("eq9", "eq9_suffix", "measured_min", "measured_median")
PREDICTORS = BASELINES + THEORY
#: predictors that need the measured overlay's pair arrays
NEEDS_PAIRS = ("eq9_suffix", "measured_min", "measured_median")
#: ridge penalty on the logistic regression's standardised slopes (not the intercept)
RIDGE = 1e-3


@dataclass(frozen=True)
class Fitted:
    """A predictor fitted on some networks: its parameters, and the rule applied to any others."""

    name: str
    params: dict[str, Any]
    rule: Callable[[Features], tuple[np.ndarray, np.ndarray | None]]

    def predict(self, features: Features) -> np.ndarray:
        """Predicted regime (True: generalises) per network."""
        return self.rule(features)[0]

    def probability(self, features: Features) -> np.ndarray | None:
        """Predicted probability of generalising, for the predictors that give one (else ``None``)."""
        return self.rule(features)[1]


def _threshold(score: np.ndarray, observed: np.ndarray) -> float:
    """The agreement-maximising ``t`` of the rule ``score > t`` (one-sided fits still classify)."""
    return fit_merger_constant(score, observed, n_bootstrap=0).decision_log_C


def _fit_constant(x: Features, y: np.ndarray) -> Fitted:
    rate = float(y.mean())
    majority = rate >= 0.5
    return Fitted("constant", {"majority": bool(majority), "base_rate": rate},
                  lambda f: (np.full(f.size, majority), np.full(f.size, rate)))


def _fit_fraction(x: Features, y: np.ndarray) -> Fitted:
    t = _threshold(x.fraction, y)
    return Fitted("fraction", {"p_star": t}, lambda f: (f.fraction > t, None))


def _fit_gain(x: Features, y: np.ndarray) -> Fitted:
    low, high = _threshold(-x.log_gain, y), _threshold(x.log_gain, y)
    if np.mean((-x.log_gain > low) == y) >= np.mean((x.log_gain > high) == y):   # ties: the theory's side
        return Fitted("gain", {"side": "below", "log_gain_star": -low}, lambda f: (-f.log_gain > low, None))
    return Fitted("gain", {"side": "above", "log_gain_star": high}, lambda f: (f.log_gain > high, None))


def _logistic_design(f: Features, centre: np.ndarray, scale: np.ndarray) -> np.ndarray:
    X = (np.column_stack([f.fraction, f.log_gain]) - centre) / scale
    return np.column_stack([np.ones(f.size), X])


def _sigmoid(u: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * u))


def _fit_logistic(x: Features, y: np.ndarray) -> Fitted:
    raw = np.column_stack([x.fraction, x.log_gain])
    centre = raw.mean(axis=0)
    scale = np.where(raw.std(axis=0) > 0, raw.std(axis=0), 1.0)
    X, t = _logistic_design(x, centre, scale), y.astype(float)
    penalty = np.array([0.0, RIDGE, RIDGE]) * x.size

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        u = X @ w
        nll = np.sum(np.logaddexp(0.0, u) - t * u)
        return nll + 0.5 * np.sum(penalty * w ** 2), X.T @ (_sigmoid(u) - t) + penalty * w

    w = minimize(loss, np.zeros(3), jac=True, method="L-BFGS-B").x
    coef = {"intercept": float(w[0] - np.sum(w[1:] * centre / scale)),
            "fraction": float(w[1] / scale[0]), "log_gain": float(w[2] / scale[1])}

    def rule(f: Features):
        prob = _sigmoid(_logistic_design(f, centre, scale) @ w)
        return prob >= 0.5, prob

    return Fitted("logistic", coef, rule)


def _fit_cell_majority(x: Features, y: np.ndarray) -> Fitted:
    overall = bool(y.mean() >= 0.5)
    cells, inverse = np.unique(x.cell, return_inverse=True)
    rate = np.bincount(inverse, weights=y.astype(float)) / np.bincount(inverse)
    vote = np.where(rate == 0.5, overall, rate > 0.5)
    table = dict(zip(cells.tolist(), vote.tolist()))
    return Fitted("cell_majority", {"cells": int(cells.size), "overall": overall},
                  lambda f: (np.array([table.get(c, overall) for c in f.cell.tolist()], dtype=bool), None))


def _theory(name: str, column: str, to_score: Callable[[np.ndarray], np.ndarray], param: str,
            transform: Callable[[float], float] = float) -> Callable[[Features, np.ndarray], Fitted]:
    """A one-constant theory predictor: ``to_score(column) > t``, with ``param = transform(t)`` reported."""
    def fit(x: Features, y: np.ndarray) -> Fitted:
        t = _threshold(to_score(getattr(x, column)), y)
        return Fitted(name, {param: transform(t)}, lambda f: (to_score(getattr(f, column)) > t, None))
    return fit


FIT: dict[str, Callable[[Features, np.ndarray], Fitted]] = {
    "constant": _fit_constant,
    "fraction": _fit_fraction,
    "gain": _fit_gain,
    "logistic": _fit_logistic,
    "cell_majority": _fit_cell_majority,
    "eq9": _theory("eq9", "score", np.asarray, "log_C"),
    "eq9_suffix": _theory("eq9_suffix", "score_suffix", np.asarray, "log_C"),
    # z <= kappa  <=>  -log z >= -log kappa: the threshold on -log z is -log kappa
    "measured_min": _theory("measured_min", "z_min", rate_ratio_score, "log_kappa", lambda t: -float(t)),
    "measured_median": _theory("measured_median", "z_median", rate_ratio_score, "log_kappa", lambda t: -float(t)),
}


def available(names: tuple[str, ...], features: Features) -> tuple[str, ...]:
    """The predictors of ``names`` that ``features`` can feed (the measured ones need the pair arrays)."""
    return tuple(n for n in names if n not in NEEDS_PAIRS or features.z_min is not None)


def fit(name: str, features: Features, observed: np.ndarray) -> Fitted:
    """Fit predictor ``name`` (one of ``PREDICTORS``) on ``features`` and the observed regimes."""
    if name not in FIT:
        raise ValueError(f"predictor must be one of {PREDICTORS} (got {name!r})")
    observed = np.asarray(observed, dtype=bool)
    if observed.shape != (features.size,) or features.size == 0:
        raise ValueError(f"observed must be a non-empty boolean array of shape ({features.size},)")
    if name in NEEDS_PAIRS and features.z_min is None:
        raise ValueError(f"predictor {name!r} needs the measured overlay (measured_pairs > 0)")
    return FIT[name](features, observed)
