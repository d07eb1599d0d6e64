"""Array statistics of the pair-dynamics experiment: plain functions of numpy arrays, no I/O.

The Taylor ratio of P25 App. D.2 pooled over a pair's continuations, the initial scale of
the nine-variable model, the eq. 6 invariant along training, the mean pairwise distance
of P25 Fig. 12, and the classification scores (confusion counts, ROC AUC, the best
threshold on the rate-free statistic ``H0²/(N Y0)``).
"""
from __future__ import annotations

import numpy as np


def gain_from_hidden(hidden: np.ndarray) -> float:
    """Initial scale ``g`` of the nine-variable model: std over units of the per-unit std over rows.

    (The estimate of the authors' ``der`` cell; ``hidden`` is ``(n_rows, P)``.)
    """
    h = np.asarray(hidden, dtype=float)
    if h.ndim != 2 or h.shape[0] < 2:
        raise ValueError(f"hidden must be (n_rows >= 2, P) (got {h.shape})")
    return float(np.std(np.std(h, axis=0, ddof=1), ddof=1))


def pair_taylor_ratio(taylor_ratio: np.ndarray, dy: np.ndarray, pair: np.ndarray,
                      n_pairs: int) -> np.ndarray:
    """Per pair and snapshot: ``sqrt(Σ_i ‖second_i‖²) / sqrt(Σ_i ‖first_i‖²)`` (P25 App. D.2).

    ``first_i = ½ J_i dh`` and ``second_i = taylor_ratio_i · ‖first_i‖`` per continuation
    (``rnn.measure.pairs``); continuations with a vanishing first-order term are left out.
    ``taylor_ratio`` ``(S, K)``, ``dy`` ``(S, K, O)``, ``pair`` ``(K,)`` → ``(S, n_pairs)``.
    """
    first = 0.5 * np.linalg.norm(dy, axis=-1)
    ok = np.isfinite(taylor_ratio) & (first > 0)
    second = np.where(ok, taylor_ratio * first, 0.0)
    first = np.where(ok, first, 0.0)
    out = np.empty((taylor_ratio.shape[0], n_pairs))
    for s in range(taylor_ratio.shape[0]):
        num = np.bincount(pair, weights=second[s] ** 2, minlength=n_pairs)
        den = np.bincount(pair, weights=first[s] ** 2, minlength=n_pairs)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[s] = np.where(den > 0, np.sqrt(num / den), np.nan)
    return out


def confusion(predicted: np.ndarray, observed: np.ndarray) -> dict[str, int]:
    """Counts of true/false positives/negatives ("positive" = merger)."""
    p, o = np.asarray(predicted, bool), np.asarray(observed, bool)
    return {"tp": int(np.sum(p & o)), "fp": int(np.sum(p & ~o)), "fn": int(np.sum(~p & o)),
            "tn": int(np.sum(~p & ~o))}


def roc_auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count ½); nan if a class is empty."""
    score, positive = np.asarray(score, float), np.asarray(positive, bool)
    pos, neg = score[positive], score[~positive]
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (pos.size * neg.size))


def mean_pairwise_distance(hidden: np.ndarray, rng: np.random.Generator, n_pairs: int) -> np.ndarray:
    """Mean ``‖h_a − h_b‖`` over the same ``n_pairs`` random distinct row pairs at every snapshot.

    ``hidden`` ``(S, n_rows, P)`` → ``(S,)`` (P25 Fig. 12 uses 1000 random pairs).
    """
    n = hidden.shape[1]
    a = rng.integers(0, n, size=n_pairs)
    b = (a + rng.integers(1, n, size=n_pairs)) % n
    return np.array([np.mean(np.linalg.norm(h[a] - h[b], axis=-1)) for h in hidden])


def best_threshold(z: np.ndarray, positive: np.ndarray) -> float:
    """The ``κ`` maximising the accuracy of the rule "positive iff ``z < κ``" (geometric midpoints; ties: the middle one).

    ``z > 0`` (``inf`` allowed). Used to calibrate the merger rule ``H0²/(N Y0) < κ`` on
    calibration pairs, as a bound on what any single rate ratio could achieve.
    """
    z, positive = np.asarray(z, float), np.asarray(positive, bool)
    finite = np.unique(z[np.isfinite(z) & (z > 0)])
    if finite.size == 0:
        return float("nan")
    cands = np.concatenate([[finite[0] / 2], np.sqrt(finite[1:] * finite[:-1]), [finite[-1] * 2]])
    acc = np.array([np.mean((z < c) == positive) for c in cands])
    best = np.flatnonzero(acc == acc.max())
    return float(cands[best[best.size // 2]])


def a_high_trajectory(H: np.ndarray, Y: np.ndarray, N: np.ndarray, kappa: float) -> np.ndarray:
    """``A_high(t) = H − r Y/H`` with ``r = N κ``, ``κ = τ_y/τ_h`` (eq. 6 at every snapshot); nan where ``H = 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(H > 0, H - N * kappa * Y / np.where(H > 0, H, 1.0), np.nan)
