"""The effective rates ``τ_h, τ_y`` of P25 eq. 20 fitted to measured ``(H, Y, W)`` trajectories.

``fit_pair_rates`` fits one shared pair of rates to the trajectories in the columns of
``H, Y, W`` (``interaction.fit.fit_rates``). ``fit_all`` does what the experiment needs: a
random *calibration* half of the pairs, a pooled fit on up to ``pooled_pairs`` of them (it
sets ``r = N τ_y/τ_h`` for every prediction), per-pair fits for ``fit_pairs`` chosen pairs,
and for agreeing pairs whose ``H`` first rose a second fit of the part after the peak
(eq. 20 cannot raise ``H`` of an agreeing pair).

**Time mapping:** ODE time ``t`` = epoch index, so the fitted τ are in epochs. Any linear
map ``t = c·epoch`` rescales ``τ_h`` and ``τ_y`` by the same ``c`` and leaves ``r``,
``A_high``, ``A_low`` and every merger prediction unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from interaction.fit import RateFit, fit_rates
from interaction.three_scalar import integrate_three_scalar

from validation.pair_dynamics.selection import per_pair_choice


def fit_pair_rates(t: np.ndarray, H: np.ndarray, Y: np.ndarray, W: np.ndarray, S: np.ndarray,
                   N: np.ndarray, *, fit_initial: bool) -> RateFit | None:
    """``fit_rates`` jointly on the trajectories in the columns of ``H, Y, W`` ``(T, n)``; None if some ``H <= 0``.

    ``S``, ``N``: ``(n,)``. A measured ``H = 0`` (two bit-identical states) lies outside
    eq. 20's domain ``H > 0`` and cannot be fitted. Tiny negative ``Y`` cannot occur
    (``Y`` is a mean of squares).
    """
    H, Y, W = (np.asarray(x, dtype=float) for x in (H, Y, W))
    if H.ndim != 2 or not (H.shape == Y.shape == W.shape):
        raise ValueError(f"H, Y, W must be (T, n) arrays of one shape (got {H.shape}, {Y.shape}, {W.shape})")
    if np.any(~(H > 0)):
        return None
    cols = range(H.shape[1])
    if H.shape[1] == 1:
        return fit_rates(t, H[:, 0], Y[:, 0], W[:, 0], S=float(S[0]), N=float(N[0]), fit_initial=fit_initial)
    return fit_rates([t] * H.shape[1], [H[:, k] for k in cols], [Y[:, k] for k in cols],
                     [W[:, k] for k in cols], S=[float(S[k]) for k in cols], N=[float(N[k]) for k in cols],
                     fit_initial=fit_initial)


def theory_curve(H0: float, Y0: float, W0: float, *, S: float, N: float, fit: RateFit | None,
                 t: np.ndarray):
    """``(t, H, W, status)`` of eq. 20 on ``t`` from the measured initial point with the fitted rates; None if unavailable."""
    if fit is None or not np.isfinite(fit.tau_h) or H0 <= 0:
        return None
    res = integrate_three_scalar(H0, max(Y0, 0.0), W0, S=S, N=N, tau_h=fit.tau_h, tau_y=fit.tau_y,
                                 t_max=float(t[-1]), t_eval=t)
    if res.t.size == 0:
        return None
    return res.t, res.H, res.W, res.status


def fit_dict(fit: RateFit | None) -> dict[str, Any]:
    """A fit as JSON (an unfittable pair says why)."""
    if fit is None:
        return {"success": False, "message": "not fitted: H reached 0 (outside eq. 20's domain)"}
    return {"tau_h": fit.tau_h, "tau_y": fit.tau_y, "se_tau_h": fit.se_tau_h, "se_tau_y": fit.se_tau_y,
            "eta_h_2024": fit.eta_h, "eta_y_2024": fit.eta_y, "residual": fit.residual, "success": fit.success,
            "message": fit.message}


@dataclass(frozen=True)
class RateFits:
    """The rate fits of one run: pooled (calibration pairs), per pair, and after the peak of ``H``.

    ``post_peak[k] = (snapshot index of the peak, fit)``.
    """

    calibration: np.ndarray
    pooled: RateFit
    pair: dict[int, RateFit | None]
    post_peak: dict[int, tuple[int, RateFit | None]]

    @property
    def kappa(self) -> float:
        """The pooled rate ratio ``τ_y/τ_h``."""
        return self.pooled.tau_y / self.pooled.tau_h

    def tau_table(self, n_pairs: int) -> np.ndarray:
        """``(n_pairs, 2)`` per-pair ``(τ_h, τ_y)``; nan for pairs not fitted."""
        out = np.full((n_pairs, 2), np.nan)
        for k, f in self.pair.items():
            if f is not None:
                out[k] = f.tau_h, f.tau_y
        return out


def fit_all(epochs: np.ndarray, H: np.ndarray, Y: np.ndarray, W: np.ndarray, S: np.ndarray, N: np.ndarray,
            observed: np.ndarray, diverged_first: np.ndarray, rng: np.random.Generator, *,
            pooled_pairs: int, fit_pairs: int, progress: bool = False) -> RateFits:
    """Calibration split, pooled fit, per-pair and post-peak fits (module docstring); ``H, Y, W`` ``(T, n)``.

    Raises ``RuntimeError`` when the pooled fit cannot be computed (no calibration pair with
    ``H > 0`` throughout): there is then no rate ratio to predict with.
    """
    agreeing = S == 0
    n_pairs = H.shape[1]
    calibration = np.zeros(n_pairs, bool)
    for kind in (agreeing, ~agreeing):
        idx = rng.permutation(np.flatnonzero(kind))
        calibration[idx[: idx.size // 2]] = True
    pool = rng.permutation(np.flatnonzero(calibration & np.all(H > 0, axis=0)))[:pooled_pairs]
    pooled = fit_pair_rates(epochs, H[:, pool], Y[:, pool], W[:, pool], S[pool], N[pool], fit_initial=False) \
        if pool.size else None
    if pooled is None or not np.isfinite(pooled.tau_h):
        raise RuntimeError("the pooled rate fit could not be computed (no calibration pair with H > 0 throughout)")
    fitted = per_pair_choice(rng, agreeing, observed, diverged_first, H, fit_pairs)
    pair: dict[int, RateFit | None] = {}
    post_peak: dict[int, tuple[int, RateFit | None]] = {}
    for k in tqdm(fitted, desc="per-pair rate fits", unit="pair", disable=not progress):
        pair[int(k)] = fit_pair_rates(epochs, H[:, [k]], Y[:, [k]], W[:, [k]], S[[k]], N[[k]], fit_initial=True)
        peak = int(np.argmax(H[:, k]))
        if agreeing[k] and peak > 0 and H.shape[0] - peak >= 5:
            # eq. 20 cannot raise H of an agreeing pair (W = Y >= 0); fit the part after its peak
            w = slice(peak, None)
            post_peak[int(k)] = (peak, fit_pair_rates(epochs[w], H[w, [k]], Y[w, [k]], W[w, [k]], S[[k]],
                                                      N[[k]], fit_initial=True))
    return RateFits(calibration, pooled, pair, post_peak)
