"""Cell-level prediction of the merger phase diagram from ``C < N G^(n−m)``, and the fit of ``C``.

Theory (P25 eq. 9, docs/theory.md §3). Two prefixes of lengths ``m1, m2`` whose futures
agree on every training continuation (``ỹ_i = 0``) merge when

    C < N(m1, m2; p) · G^(n − m),      m = min(m1, m2),  n = 0,

with ``N`` the expected number of shared continuations for a data fraction
``p`` (``interaction.boundary.shared_continuations``: ``p² (2^(L−max(m1,m2)+1) − 1)``),
``G`` the contraction factor of the recurrent map at initialisation and ``C``
one unknown constant. ``n = 0`` because the shortest shared continuation is the
empty one (both prefixes are themselves training sequences).

From pair mergers to a cell (a whole trained network). A network generalises
to sequences longer than any it was trained on only if its hidden states form a
*finite* automaton, i.e. a cycle: the state of some prefix must merge with the
state of a *longer* prefix that agrees with it on every future (for parity: same
number of ones mod 2). Merging prefixes of equal length only prunes the tree
of states and never closes it. ``N`` counts shared continuations: a pair
interacts (and eq. 9 applies; ``interaction.boundary.merger_condition`` needs
``N >= 1``) only through continuations it shares, and a pair whose *expected*
count is below one typically shares none. So the theory predicts a cell
generalises iff some agreeing pair of different lengths ``1 <= m1 < m2 <= L``
with ``E[N] >= 1`` satisfies eq. 9, i.e.

    log C < S(G, p) := max_{1 <= m1 < m2 <= L, N(m1,m2;p) >= 1} [ log N(m1, m2; p) − m1 log G ]

(``S = −inf`` if no pair qualifies: no mergers are predicted). ``S`` is the
cell's *merger score*. Since ``N`` depends only on ``max(m1, m2)`` and decreases
with it, the maximum is attained at ``m2 = m1 + 1``. For ``G < 1/2`` it sits at
the longest qualifying prefixes, ``m1 <= L − log2(1 + 1/p²)``: less data
shortens the longest interacting prefixes and lowers the score by about
``log(1/G)`` per lost length. For ``G > 1/2`` it sits at ``m1 = 1``. The empty prefix (``m = 0``, the fixed vector ``h_0``)
is excluded: it is not produced by the recurrent map, so step 2 of docs/theory.md §3
(``‖dh(0)‖² ∝ G^m``) does not describe it. Agreement in the future is
guaranteed for such pairs in parity (and assumed for random regular tasks, whose
agreeing pairs exist at every length with high probability).

Fitting ``C``. With the score fixed by theory, ``C`` is a threshold on ``S``:
the predicted regime of a cell is ``S > log C``. ``fit_merger_constant`` picks
``log C`` maximising the fraction of cells whose predicted regime equals the
observed one (generalised or not). This is exact (a sort of the scores); every
``log C`` between the same two consecutive scores is equally good, so the fit
reports the whole optimal range and its midpoint as the estimate, and a
bootstrap over cells (resampled with replacement) for its spread. When every
cell (or no cell) generalised, ``C`` is only bounded on one side and the fit says
so instead of inventing a number. The direction is fixed by the theory (more
data and smaller weights merge more): if the observations run the other way the
agreement is low, which is the honest outcome.

Fitting the rate ratio. The measured overlay (``measured.py``) gives each network a
cell threshold ``z_min`` (the smallest ``H0²/(N Y0)`` over its measured agreeing
cross-length pairs) and predicts it generalises iff ``z_min <= κ``, ``κ = τ_y/τ_h`` one
global constant (eqs. 6–7). ``fit_rate_ratio`` fits ``κ`` with the same machinery, on the
score ``−log z_min`` with threshold ``log C = −log κ`` (the inequality runs the other way:
a *small* ``z_min`` merges).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from interaction.boundary import shared_continuations
from interaction.checks import check_int, check_interval, check_positive


def merger_score(G: ArrayLike, p: ArrayLike, L: int) -> np.ndarray:
    """Merger score ``S = max [log N(m1,m2;p) − m1 log G]`` over ``1<=m1<m2<=L`` with ``N >= 1`` (``n = 0``).

    See the module docstring. Broadcasts ``G > 0`` against ``p`` in ``(0, 1]``; returns an
    array of their broadcast shape, ``-inf`` where no pair shares a continuation in
    expectation. A cell is predicted to generalise iff ``S > log C``.
    """
    G = check_positive("G", G)
    p = check_interval("p", p, 0.0, 1.0, lo_closed=False)
    L = check_int("L", L, minimum=2)
    m1, m2 = np.triu_indices(L, k=1)
    m1, m2 = m1 + 1, m2 + 1
    G_b, p_b = np.broadcast_arrays(G, p)
    N = shared_continuations(m1, m2, L, p_b[..., None])
    with np.errstate(divide="ignore"):
        terms = np.where(N >= 1.0, np.log(N) - m1 * np.log(G_b)[..., None], -np.inf)
    return np.max(terms, axis=-1)


def predicted_regime(score: ArrayLike, log_C: float) -> np.ndarray:
    """``True`` where the theory predicts mergers (hence generalisation): ``score > log C``."""
    return np.asarray(score) > log_C


@dataclass(frozen=True)
class ConstantFit:
    """Result of fitting ``log C`` to observed generalisation.

    ``status``: ``'fitted'`` (two-sided), ``'upper_bound'`` (every optimal ``log C`` lies
    below the lowest score: the data only say ``log C < log_C_range[1]``),
    ``'lower_bound'`` (above the highest score) — then ``log_C`` is ``nan`` — or
    ``'unconstrained'`` (no cell has an interacting pair, every score is ``-inf``).
    ``log_C_range``: hull of all ``log C`` with the maximal agreement.
    ``log_C_interval``: 16th–84th percentile of bootstrap estimates (``nan`` if too few
    two-sided refits). ``agreement``: fraction of cells whose predicted regime equals the
    observed one at the optimum.
    """

    log_C: float
    log_C_range: tuple[float, float]
    log_C_interval: tuple[float, float]
    agreement: float
    n_cells: int
    n_bootstrap: int
    bootstrap_fitted_fraction: float
    status: str
    message: str

    @property
    def decision_log_C(self) -> float:
        """A ``log C`` inside the optimal range (the estimate when two-sided). Every such value
        classifies the fitted cells identically, so a one-sided fit still predicts."""
        if self.status == "fitted":
            return self.log_C
        if self.status == "upper_bound":
            return self.log_C_range[1] - 1.0
        if self.status == "lower_bound":
            return self.log_C_range[0] + 1.0
        return np.inf


def _optimal_threshold(score: np.ndarray, observed: np.ndarray) -> tuple[float, float, float, float, str]:
    """(estimate, range_lo, range_hi, agreement, status) of the agreement-maximising threshold.

    Scores of ``-inf`` (cells where no merger is possible) lie below every real ``log C``.
    """
    values, inverse = np.unique(score, return_inverse=True)
    pos = np.bincount(inverse, weights=observed.astype(float), minlength=values.size)
    neg = np.bincount(inverse, weights=(~observed).astype(float), minlength=values.size)
    # Threshold in interval j (j = 0..k): below values[j], above values[j-1]. Cells with
    # score >= values[j] are predicted to merge; agreement counts positives there and
    # negatives below.
    neg_below = np.concatenate([[0.0], np.cumsum(neg)])
    pos_above = np.concatenate([np.cumsum(pos[::-1])[::-1], [0.0]])
    agree = (neg_below + pos_above) / score.size
    # Interval 0 lies below the lowest score; no real log C lies below -inf.
    candidates = np.arange(1 if np.isneginf(values[0]) else 0, values.size + 1)
    best = candidates[agree[candidates] == agree[candidates].max()]
    agree = agree[candidates]
    edges = np.concatenate([[-np.inf], values, [np.inf]])
    lo, hi = edges[best], edges[best + 1]
    bounded = np.isfinite(lo) & np.isfinite(hi)
    range_lo, range_hi = float(lo.min()), float(hi.max())
    if not bounded.any():
        status = "upper_bound" if np.isneginf(range_lo) else "lower_bound"
        return np.nan, range_lo, range_hi, float(agree.max()), status
    widest = np.argmax(np.where(bounded, hi - lo, -np.inf))
    return 0.5 * (lo[widest] + hi[widest]), range_lo, range_hi, float(agree.max()), "fitted"


def fit_merger_constant(score: ArrayLike, observed: ArrayLike, *, n_bootstrap: int = 1000,
                        seed: int = 0) -> ConstantFit:
    """Fit ``log C`` so that ``score > log C`` best matches ``observed`` (boolean per cell).

    Maximises agreement exactly; the estimate is the midpoint of the widest optimal
    interval between consecutive scores, ``log_C_range`` the hull of all optimal values;
    uncertainty from ``n_bootstrap`` resamplings of the cells (seeded). Scores may be
    ``-inf`` (no merger possible); NaN or ``+inf`` are rejected (``ValueError``).
    """
    score = np.asarray(score, dtype=float).ravel()
    observed = np.asarray(observed).ravel()
    if score.shape != observed.shape or score.size == 0:
        raise ValueError(f"score and observed must be non-empty and of equal size (got {score.size}, {observed.size})")
    if np.any(np.isnan(score) | np.isposinf(score)):
        raise ValueError("score must be finite or -inf for every cell")
    if observed.dtype != bool:
        raise ValueError(f"observed must be a boolean array (got dtype {observed.dtype})")
    n_bootstrap = check_int("n_bootstrap", n_bootstrap, minimum=0)
    if np.all(np.isneginf(score)):
        agree = float(np.mean(~observed))
        return ConstantFit(log_C=np.nan, log_C_range=(-np.inf, np.inf), log_C_interval=(np.nan, np.nan),
                           agreement=agree, n_cells=int(score.size), n_bootstrap=n_bootstrap,
                           bootstrap_fitted_fraction=0.0, status="unconstrained",
                           message=f"no cell has an interacting pair (E[N] >= 1): no mergers predicted for "
                                   f"any C; agreement {agree:.1%}")

    log_C, range_lo, range_hi, agreement, status = _optimal_threshold(score, observed)
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(n_bootstrap):
        idx = rng.integers(0, score.size, score.size)
        estimate = _optimal_threshold(score[idx], observed[idx])[0]
        if np.isfinite(estimate):
            estimates.append(estimate)
    fitted_fraction = len(estimates) / n_bootstrap if n_bootstrap else 0.0
    interval = (tuple(float(q) for q in np.percentile(estimates, [16, 84]))
                if len(estimates) >= max(10, n_bootstrap // 2) else (np.nan, np.nan))
    if status == "fitted":
        message = (f"log C = {log_C:.3g} (optimal range [{range_lo:.3g}, {range_hi:.3g}], "
                   f"bootstrap 16-84% [{interval[0]:.3g}, {interval[1]:.3g}]), agreement {agreement:.1%}")
    elif status == "upper_bound":
        message = (f"every cell with an interacting pair best predicted as merging: only "
                   f"log C < {range_hi:.3g} is determined; "
                   f"agreement {agreement:.1%}")
    else:
        message = (f"no cell best predicted as merging: only log C > {range_lo:.3g} is determined; "
                   f"agreement {agreement:.1%}")
    return ConstantFit(log_C=float(log_C), log_C_range=(range_lo, range_hi), log_C_interval=interval,
                       agreement=agreement, n_cells=int(score.size), n_bootstrap=n_bootstrap,
                       bootstrap_fitted_fraction=fitted_fraction, status=status, message=message)


def agreement(score: ArrayLike, observed: ArrayLike, log_C: float) -> float:
    """Fraction of cells where the predicted regime (``score > log C``) equals ``observed``."""
    return float(np.mean(predicted_regime(score, log_C) == np.asarray(observed, dtype=bool)))


@dataclass(frozen=True)
class RateRatioFit:
    """Result of fitting the rate ratio ``κ = τ_y/τ_h`` to observed generalisation (``fit_rate_ratio``).

    The fields mirror ``ConstantFit`` in ``log κ``: ``status`` ``'fitted'`` (two-sided),
    ``'lower_bound'`` (every optimal ``log κ`` lies above the highest finite
    ``log z_min``: only ``log κ > log_kappa_range[0]`` is determined), ``'upper_bound'``
    (below the lowest: only ``log κ < log_kappa_range[1]``) — then ``log_kappa`` is ``nan``
    — or ``'unconstrained'`` (no network has a measured agreeing cross-length pair).
    ``decision_log_kappa``: a value inside the optimal range that classifies the fitted
    networks as the optimum does (``-inf`` when unconstrained: nothing is predicted to merge).
    """

    log_kappa: float
    log_kappa_range: tuple[float, float]
    log_kappa_interval: tuple[float, float]
    decision_log_kappa: float
    agreement: float
    n_cells: int
    n_bootstrap: int
    bootstrap_fitted_fraction: float
    status: str
    message: str


def rate_ratio_score(z_min: ArrayLike) -> np.ndarray:
    """``−log z_min`` (``-inf`` where ``z_min`` is ``nan`` or ``inf``): the score whose threshold ``−log κ`` is fitted.

    A network is predicted to generalise iff ``z_min <= κ`` (``rnn.measure.prediction``,
    cell rule), i.e. iff ``−log z_min >= −log κ``: the same one-sided threshold as
    ``score > log C`` with ``log C = −log κ``. A network without a measured agreeing
    cross-length pair (``nan``) or whose pairs all have ``Y0 = 0`` (``inf``) has no merger
    predicted for any ``κ``, as a score of ``-inf`` has none for any ``C``.
    """
    z = np.asarray(z_min, dtype=float)
    if np.any(z <= 0) or np.any(np.isneginf(z)):
        raise ValueError("z_min must be > 0 (or nan where no pair was measured)")
    with np.errstate(divide="ignore"):
        return np.where(np.isnan(z), -np.inf, -np.log(z))


_FLIPPED = {"upper_bound": "lower_bound", "lower_bound": "upper_bound"}


def fit_rate_ratio(z_min: ArrayLike, observed: ArrayLike, *, n_bootstrap: int = 1000, seed: int = 0) -> RateRatioFit:
    """Fit ``log κ`` so that ``z_min <= κ`` best matches ``observed`` (boolean per network).

    ``fit_merger_constant`` on ``rate_ratio_score(z_min)`` (optimal range, midpoint of the
    widest optimal interval, seeded bootstrap over networks), read back in ``log κ = −log C``:
    ranges and intervals are negated and swapped, and a bound on ``C`` from above is one
    on ``κ`` from below.
    """
    fit = fit_merger_constant(rate_ratio_score(z_min), observed, n_bootstrap=n_bootstrap, seed=seed)
    lo, hi = -fit.log_C_range[1], -fit.log_C_range[0]
    interval = (-fit.log_C_interval[1], -fit.log_C_interval[0])
    status = _FLIPPED.get(fit.status, fit.status)
    if status == "fitted":
        message = (f"log kappa = {-fit.log_C:.3g} (kappa = tau_y/tau_h = {np.exp(-fit.log_C):.3g}; optimal range "
                   f"[{lo:.3g}, {hi:.3g}], bootstrap 16-84% [{interval[0]:.3g}, {interval[1]:.3g}]), "
                   f"agreement {fit.agreement:.1%}")
    elif status == "lower_bound":
        message = (f"every network with a measured agreeing cross-length pair best predicted as merging: only "
                   f"log kappa > {lo:.3g} is determined; agreement {fit.agreement:.1%}")
    elif status == "upper_bound":
        message = (f"no network best predicted as merging: only log kappa < {hi:.3g} is determined; "
                   f"agreement {fit.agreement:.1%}")
    else:
        message = (f"no network has a measured agreeing cross-length pair: no mergers predicted for any kappa; "
                   f"agreement {fit.agreement:.1%}")
    return RateRatioFit(log_kappa=-fit.log_C, log_kappa_range=(lo, hi), log_kappa_interval=interval,
                        decision_log_kappa=-fit.decision_log_C, agreement=fit.agreement, n_cells=fit.n_cells,
                        n_bootstrap=fit.n_bootstrap, bootstrap_fitted_fraction=fit.bootstrap_fitted_fraction,
                        status=status, message=message)
