"""Figures of the pair-dynamics experiment: one function per figure, each taking what it shows.

Every function returns a matplotlib ``Figure`` (the caller saves and closes it);
``make_figures`` maps the file stems of the run's six figures to their figures. The
backend is the caller's choice: the command line selects Agg
(``validation.common.runtime.use_headless_matplotlib``), library code never does.
"""
from __future__ import annotations

import warnings
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from validation.pair_dynamics.analysis import Measured, Observed, Predictions
from validation.pair_dynamics.fits import RateFits, theory_curve
from validation.pair_dynamics.nine_variable import FixedExpansionRuns


def _band(ax, x, values, color, label):
    """Median line and inter-quartile band over the columns of ``values`` (rows = x)."""
    with np.errstate(all="ignore"):
        if values.shape[1] == 0 or not np.any(np.isfinite(values)):
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, med, hi = np.nanpercentile(values, [25, 50, 75], axis=1)
    ax.plot(x, med, color=color, label=f"{label} (median, n={values.shape[1]})")
    ax.fill_between(x, lo, hi, color=color, alpha=0.25, lw=0)


def _representatives(fits: RateFits, agreeing: np.ndarray, obs: Observed) -> list[tuple[int, str]]:
    """One agreeing pair (preferably merged after diverging) and one disagreeing pair among the fitted ones."""
    fitted = [k for k, f in fits.pair.items() if f is not None]
    merged, diverged = obs.merged, obs.diverged_first
    pick_agree = [k for k in fitted if agreeing[k] and merged[k] and diverged[k]] or \
        [k for k in fitted if agreeing[k] and merged[k]] or [k for k in fitted if agreeing[k]]
    pick_dis = [k for k in fitted if not agreeing[k] and fits.pair[k].success] or \
        [k for k in fitted if not agreeing[k]]
    reps = [(pick_agree[0], "agreeing") if pick_agree else None, (pick_dis[0], "disagreeing") if pick_dis else None]
    return [r for r in reps if r is not None]


def trajectories_figure(train_loss: np.ndarray, snapshot_epochs: np.ndarray, meas: Measured,
                        labels: tuple[list[str], list[str]], obs: Observed, fits: RateFits):
    """P25 Fig. 10 right: measured vs theoretical ``H(t)``, ``W(t)`` for representative pairs."""
    H, W, Y, S, N = meas.H, meas.W, meas.Y, meas.S, meas.N.astype(float)
    epochs = snapshot_epochs.astype(float)
    loss_epochs = np.arange(train_loss.size)
    loss_norm = train_loss / np.nanmax(train_loss)
    reps = _representatives(fits, meas.agreeing, obs)
    fig, axes = plt.subplots(2, max(1, len(reps)), figsize=(5.2 * max(1, len(reps)), 6.4), squeeze=False)
    for col, (k, kind) in enumerate(reps):
        curves = [(0, fits.pair[k], "--", "C3", "theory, per-pair fit"), (0, fits.pooled, ":", "C2", "theory, pooled fit")]
        if k in fits.post_peak and fits.post_peak[k][1] is not None:
            curves.append((fits.post_peak[k][0], fits.post_peak[k][1], "-.", "C4", "theory, fit after the peak"))
        for row, (name, meas_k) in enumerate((("H", H[:, k]), ("W", W[:, k]))):
            ax = axes[row, col]
            scale = np.max(np.abs(meas_k)) or 1.0
            ax.plot(loss_epochs, loss_norm, color="0.75", lw=1, label="training loss (normalised)")
            ax.plot(epochs, meas_k / scale, "o", ms=3, color="C0", label=f"measured {name}")
            for start, fit, style, color, lab in curves:
                curve = theory_curve(H[start, k], Y[start, k], W[start, k], S=float(S[k]), N=float(N[k]), fit=fit,
                                     t=epochs[start:] - epochs[start])
                if curve is not None:
                    tt, Ht, Wt, st = curve
                    note = "" if fit.success else " [fit failed]"
                    ax.plot(tt + epochs[start], (Ht if name == "H" else Wt) / scale, style, color=color,
                            label=lab + note + ("" if st >= 0 else " (solver stopped)"))
            ax.set_title(f"{kind} pair {labels[0][k]} / {labels[1][k]} (N={int(N[k])}"
                         f"{', merged' if obs.merged[k] else ''})", fontsize=9)
            ax.set_xlabel("epoch (= ODE time)")
            ax.set_ylabel(f"{name} / max|{name}| (measured)")
            if row == 0:
                ax.set_yscale("log")
                ax.legend(fontsize=6)
    fig.suptitle("P25 Fig. 10 (right): measured pair trajectories vs the three-scalar ODE (eq. 20)", fontsize=10)
    fig.tight_layout()
    return fig


def merger_prediction_figure(meas: Measured, obs: Observed, pred: Predictions, *, kappa: float, L: int,
                             late_epoch: int):
    """Fig. 7-style maps of observed and predicted merger fractions, by-length bars, the rate-free scatter."""
    A, observed = meas.agreeing, obs.merged
    m_min = meas.m_min
    obs_map = np.full((L, L), np.nan)
    pred_map = np.full((L, L), np.nan)
    for a in range(1, L + 1):
        for b in range(a, L + 1):
            sel = A & (meas.m1 == a) & (meas.m2 == b)
            if sel.any():
                obs_map[a - 1, b - 1] = obs_map[b - 1, a - 1] = observed[sel].mean()
                pred_map[a - 1, b - 1] = pred_map[b - 1, a - 1] = pred.start[sel].mean()
    fig, axes = plt.subplots(2, 2, figsize=(10, 8.4))
    for ax, mp, title in ((axes[0, 0], obs_map, "observed merger fraction (agreeing pairs)"),
                          (axes[0, 1], pred_map, "predicted (A_high(0) < 0) merger fraction")):
        im = ax.imshow(mp, origin="lower", vmin=0, vmax=1, cmap="viridis", extent=(0.5, L + 0.5, 0.5, L + 0.5))
        ax.set_xlabel("prefix length m2")
        ax.set_ylabel("prefix length m1")
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8)
    ax = axes[1, 0]
    lengths = np.unique(m_min[A])
    width = 0.27
    for j, (vals, lab) in enumerate(((observed, "observed"), (pred.start, "predicted at epoch 0"),
                                     (pred.late, f"predicted at epoch {late_epoch}"))):
        frac = [vals[A & (m_min == m)].mean() for m in lengths]
        ax.bar(lengths + (j - 1) * width, frac, width, label=lab)
    ax.set_xlabel("min(m1, m2)")
    ax.set_ylabel("merger fraction of agreeing pairs")
    ax.set_title("by shorter prefix length (P25 Fig. 7 regime)", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        z0 = meas.H[0] ** 2 / (meas.N * meas.Y[0])
    for sel, color, lab in ((A & observed, "C2", "agreeing, merged"), (A & ~observed, "C1", "agreeing, not merged"),
                            (~A, "C3", "disagreeing")):
        ax.loglog(z0[sel], obs.final_distance[sel], "o", ms=3, color=color, alpha=0.7, label=lab)
    ax.axvline(kappa, color="k", ls="--", lw=1, label=f"κ = τ_y/τ_h = {kappa:.3g} (A_high < 0 left)")
    if obs.eps > 0:
        ax.axhline(obs.eps, color="0.4", ls=":", lw=1, label="merge threshold ε")
    ax.set_xlabel("H0² / (N Y0) at epoch 0")
    ax.set_ylabel("final distance ‖dh‖")
    ax.set_title("theory: merge iff agreeing and H0²/(N Y0) < κ", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def drift_figure(snapshot_epochs: np.ndarray, drift: np.ndarray, agreeing: np.ndarray):
    """Drift of the "conserved" ``A_high = H − rY/H`` along real training, relative to ``max_t H``."""
    fig, ax = plt.subplots(figsize=(6, 4))
    _band(ax, snapshot_epochs, drift[:, agreeing], "C0", "agreeing")
    _band(ax, snapshot_epochs, drift[:, ~agreeing], "C3", "disagreeing")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_yscale("symlog", linthresh=1e-2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("(A_high(t) − A_high(0)) / max_t H")
    ax.set_title("drift of the invariant A_high = H − rY/H along real training (r from pooled fit)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _loss_twin(ax, train_loss: np.ndarray) -> None:
    ax2 = ax.twinx()
    ax2.plot(np.arange(train_loss.size), train_loss, color="0.7", lw=1)
    ax2.set_ylabel("training loss", color="0.5")


def taylor_figure(snapshot_epochs: np.ndarray, taylor: np.ndarray, merged: np.ndarray, train_loss: np.ndarray):
    """P25 App. D.2 (Fig. 13): second- over first-order Taylor term along training."""
    fig, ax = plt.subplots(figsize=(6, 4))
    _band(ax, snapshot_epochs, taylor[:, merged], "C2", "merging pairs")
    _band(ax, snapshot_epochs, taylor[:, ~merged], "C1", "non-merging pairs")
    ax.axhline(1, color="k", ls="--", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("second- / first-order Taylor term")
    _loss_twin(ax, train_loss)
    ax.set_title("P25 Fig. 13: validity of the linearisation along training", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def mean_distance_figure(snapshot_epochs: np.ndarray, mean_distance: np.ndarray, n_pairs: int,
                         train_loss: np.ndarray):
    """P25 App. D.1 (Fig. 12): the mean pairwise distance over random sequence pairs."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(snapshot_epochs, mean_distance, color="C0", label=f"mean ‖h_a − h_b‖ ({n_pairs} random pairs)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean pairwise distance")
    _loss_twin(ax, train_loss)
    ax.set_title("P25 Fig. 12: mergers are not a global contraction", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def fixed_expansion_figure(fe: FixedExpansionRuns):
    """P25 Fig. 10 left: the nine-variable model, one highlighted seed and all seeds normalised."""
    s = fe.summary
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    k = fe.highlight
    ax = axes[0]
    ax.plot(fe.t, fe.loss[k], color="C0", label="training loss")
    ax.plot(fe.t, fe.distance2[k], color="C3", label="(h2 − h1)²")
    ax.plot(fe.t, fe.equal[k], "--", color="0.5", label="(h2 − h1)², equal hidden rates")
    ax.set_ylim(bottom=0)
    ax.axvline(s["t_max"], color="k", lw=0.6, ls=":")
    ax.set_xlabel("t")
    ax.set_title(f"agreeing pair, 1/τ_h ∝ prefix length {s['prefix_lengths']}, g = {s['gain_g']:.3g}", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        for j in range(fe.distance2.shape[0]):
            ax.semilogy(fe.t, fe.distance2[j] / fe.distance2[j, 0], color="C3", lw=0.7, alpha=0.6,
                        label="unequal rates" if j == 0 else None)
            ax.semilogy(fe.t, fe.equal[j] / fe.equal[j, 0], color="0.5", lw=0.7, ls="--", alpha=0.6,
                        label="equal rates" if j == 0 else None)
    ax.axvline(s["t_max"], color="k", lw=0.6, ls=":")
    ax.set_xlabel("t")
    ax.set_ylabel("(h2 − h1)² / initial")
    ax.set_title(f"{s['seeds']} initial states: {100 * s['fraction_diverged_then_merged']:.0f}% diverge then merge by "
                 f"t={s['t_max']:g}, {100 * s['fraction_diverged_then_merged_by_5_t_max']:.0f}% by t={s['horizon']:g}",
                 fontsize=9)
    ax.legend(fontsize=7)
    fig.suptitle("P25 Fig. 10 (left): nine-variable fixed-expansion-point model (eq. 42)", fontsize=10)
    fig.tight_layout()
    return fig


def make_figures(result: Any) -> dict[str, Any]:
    """``{file stem: figure}`` of the six figures of a ``run.PairDynamicsResult``."""
    r = result
    run_, meas = r.stage.run, r.stage.meas
    epochs = run_.snapshot_epochs.astype(float)
    return {
        "fig10_right_trajectories": trajectories_figure(run_.train_loss, run_.snapshot_epochs, meas, r.stage.labels,
                                                        r.observed, r.fits),
        "merger_prediction": merger_prediction_figure(meas, r.observed, r.predictions, kappa=r.fits.kappa,
                                                      L=r.config.L, late_epoch=r.config.late_epoch),
        "a_high_drift": drift_figure(epochs, r.predictions.drift, meas.agreeing),
        "taylor_ratio": taylor_figure(epochs, r.stage.taylor, r.observed.merged, run_.train_loss),
        "mean_distance": mean_distance_figure(epochs, r.mean_distance, r.config.distance_pairs, run_.train_loss),
        "fig10_left_fixed_expansion": fixed_expansion_figure(r.fixed_expansion),
    }
