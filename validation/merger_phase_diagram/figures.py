"""Figures of the phase diagram: accuracy map, state-count map, score panel and the combined figure.

Drawn from arrays and their ``Analysis`` only (no training). The predicted boundary
``S = log C`` is drawn on both maps; cells where prediction and observation disagree are
outlined in red; capped, stalled and diverged networks are marked per cell, and every
figure states the status counts. The
backend is the caller's choice (the command selects Agg).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm, Normalize
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from interaction.artifacts import save_figure
from rnn.parity import STATUSES
from validation.merger_phase_diagram.analysis import Analysis
from validation.merger_phase_diagram.boundary_fit import merger_score
from validation.merger_phase_diagram.config import PhaseDiagramConfig


def _edges(centres: np.ndarray) -> np.ndarray:
    c = np.asarray(centres, dtype=float)
    if c.size == 1:
        return np.array([c[0] - 0.05, c[0] + 0.05])
    mid = 0.5 * (c[1:] + c[:-1])
    return np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])


def _draw_map(ax, values, arrays, analysis, config, *, title, cmap, norm, label, annotate=None):
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
            elif np.any(status[:, i, j] == "stalled"):
                ax.plot(*corner, marker="v", mfc="none", mec=_contrasting(mesh, values[i, j]),
                        markersize=5, mew=1.0)
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
    return [Line2D([], [], color="black", lw=1.5, label="theory: S(G,p) = log C (fit)"),
            Line2D([], [], color="black", lw=0.8, ls="--", label="bootstrap 16-84% of log C"),
            Patch(fill=False, edgecolor="red", lw=1.8, label="prediction ≠ observation"),
            Line2D([], [], marker="o", ls="", mfc="none", mec="grey", label="hit epoch cap (not converged)"),
            Line2D([], [], marker="v", ls="", mfc="none", mec="grey", label="stalled (no progress)"),
            Line2D([], [], marker="x", ls="", color="red", label="diverged")]


def status_text(status: np.ndarray) -> str:
    """``'30 converged, 4 capped, 2 diverged'``: every status present, in ``rnn.parity.STATUSES`` order."""
    counts = {name: int(np.sum(status == name)) for name in STATUSES}
    return ", ".join(f"{n} {name}" for name, n in counts.items() if n) or "no networks"


def make_figures(arrays: dict[str, np.ndarray], analysis: Analysis, config: PhaseDiagramConfig,
                 out_dir: Path) -> list[Path]:
    """Accuracy map, state-count map (both with the predicted boundary) and a combined figure."""

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
    caption += f" (constant guess {analysis.agreement_baseline:.0%})\n{status_text(arrays['status'])}"
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
    fig.suptitle(f"Merger phase diagram ({config.task}, L = {config.L}, {config.train.loss} loss, "
                 f"{config.train.readout} readout, {config.randomness} cells; {arrays['status'].size} networks: "
                 f"{status_text(arrays['status'])})", fontsize=11)
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
