"""Figures of the phase diagram: accuracy map, state-count map, score panels, the combined figure, scalings.

Drawn from arrays and their ``Analysis`` only (no training). The predicted boundary
``S = log C`` is drawn on both maps; cells where prediction and observation disagree are
outlined in red; capped, stalled and diverged networks are marked per cell, and every
figure states the status counts. With the measured overlay (``Analysis.measured``) the
maps also carry its boundary — the 0.5 contour of the fraction of a cell's replicates
predicted to generalise (``z_min <= κ``) — and a diamond where its prediction disagrees
with observation; the combined figure gains a panel of ``z_min`` against accuracy, and
the figure ``scaling_diagnostics`` shows eq. 9's two scaling steps per gain
(docs/theory.md §3.2); ``theory_test`` (``theory_test_figure.py``) every predictor in and
out of sample. The backend is the caller's choice (the command selects Agg).
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
from validation.merger_phase_diagram.theory_test_figure import along_training_figure, theory_test_figure


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
    measured = analysis.measured
    measured_disagree = None
    if measured is not None:
        share = np.mean(measured.predicted, axis=0)[order_g][:, order_f]
        if gains.size > 1 and fractions.size > 1 and share.min() < 0.5 < share.max():
            ax.contour(fractions, gains, share, levels=[0.5], colors="white", linewidths=2.5)
            ax.contour(fractions, gains, share, levels=[0.5], colors="tab:cyan", linewidths=1.4,
                       linestyles="dashdot")
        measured_disagree = np.any(measured.predicted != analysis.observed, axis=0)[order_g][:, order_f]
    # Honesty layer: disagreements, non-converged and diverged networks, per cell.
    disagree = np.mean(analysis.predicted != analysis.observed, axis=0)[order_g][:, order_f]
    status = arrays["status"][:, order_g][:, :, order_f]
    dx, dy = np.diff(_edges(fractions)), np.diff(_edges(gains))
    for i, g in enumerate(gains):
        for j, p in enumerate(fractions):
            if disagree[i, j] > 0:
                ax.add_patch(plt.Rectangle((p - dx[j] / 2, g - dy[i] / 2), dx[j], dy[i], fill=False,
                                           edgecolor="red", linewidth=1.8, alpha=min(1.0, 0.4 + disagree[i, j])))
            if measured_disagree is not None and measured_disagree[i, j]:
                ax.plot(p - 0.3 * dx[j], g - 0.3 * dy[i], marker="D", mfc="none", mec="tab:cyan",
                        markersize=5, mew=1.2)
            corner = (p + 0.3 * dx[j], g + 0.3 * dy[i])   # keeps the cell centre free for text
            if np.any(status[:, i, j] == "diverged"):
                ax.plot(*corner, marker="x", color="red", markersize=6, mew=2)
            elif np.any(status[:, i, j] == "stalled"):
                ax.plot(*corner, marker="v", mfc="none", mec=_contrasting(mesh, values[i, j]),
                        markersize=5, mew=1.0)
            elif np.any(status[:, i, j] == "capped"):
                ax.plot(*corner, marker="o", mfc="none", mec=_contrasting(mesh, values[i, j]),
                        markersize=5, mew=1.0)
            if annotate is not None and gains.size * fractions.size <= 400:
                text = annotate[order_g][:, order_f][i, j]
                ax.text(p, g, text, ha="center", va="center", fontsize=7 if gains.size * fractions.size <= 144 else 4,
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


def _legend_handles(measured: bool = False):
    handles = [Line2D([], [], color="black", lw=1.5, label="theory: S(G,p) = log C (fit)"),
               Line2D([], [], color="black", lw=0.8, ls="--", label="bootstrap 16-84% of log C"),
               Patch(fill=False, edgecolor="red", lw=1.8, label="prediction ≠ observation")]
    if measured:
        handles += [Line2D([], [], color="tab:cyan", lw=1.4, ls="-.", label="measured: z_min = κ (fit)"),
                    Line2D([], [], marker="D", ls="", mfc="none", mec="tab:cyan", label="measured ≠ observation")]
    return handles + [Line2D([], [], marker="o", ls="", mfc="none", mec="grey", label="hit epoch cap (not converged)"),
                      Line2D([], [], marker="v", ls="", mfc="none", mec="grey", label="stalled (no progress)"),
                      Line2D([], [], marker="x", ls="", color="red", label="diverged")]


def status_text(status: np.ndarray) -> str:
    """``'30 converged, 4 capped, 2 diverged'``: every status present, in ``rnn.parity.STATUSES`` order."""
    counts = {name: int(np.sum(status == name)) for name in STATUSES}
    return ", ".join(f"{n} {name}" for name, n in counts.items() if n) or "no networks"


def make_figures(arrays: dict[str, np.ndarray], analysis: Analysis, config: PhaseDiagramConfig,
                 out_dir: Path) -> list[Path]:
    """Accuracy map, state-count map (both with the predicted boundaries), a combined figure, the scalings."""

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
    measured = analysis.measured
    if measured is not None:
        caption += (f"\nmeasured: log κ = {measured.fit.log_kappa:.2f}" if measured.fit.status == "fitted"
                    else f"\nmeasured: κ not identified ({measured.fit.status})")
        caption += f", agreement {measured.comparison['measured'].agreement:.0%}"
    caption += f"\n{status_text(arrays['status'])}"
    finite_states = states[np.isfinite(states)]
    state_norm = LogNorm(vmin=max(1.0, finite_states.min()), vmax=max(2.0, finite_states.max())) \
        if finite_states.size else Normalize(0, 1)
    minimal_text = np.where(np.isfinite(minimal), np.nan_to_num(minimal).astype(int).astype(str), "–")
    replicates = arrays["status"].shape[0]
    # with replicates, each cell says how many of them generalised (the spread a single run hides)
    generalised_text = (np.char.add(analysis.observed.sum(axis=0).astype(str), f"/{replicates}")
                        if replicates > 1 else None)
    accuracy_title = f"mean accuracy at length {length} over {replicates} replicates (text: generalised)" \
        if replicates > 1 else f"accuracy at length {length}"
    panels = {
        "accuracy_map": dict(values=accuracy, title=f"{accuracy_title}\n{caption}", annotate=generalised_text,
                             cmap="viridis", norm=Normalize(0.4, 1.0), label=f"accuracy (length {length})"),
        "states_map": dict(values=states, title=f"automaton states (raw; text: minimised)\n{caption}",
                           cmap="magma", norm=state_norm, label="raw state count", annotate=minimal_text),
    }
    paths: list[Path] = []
    for stem, kw in panels.items():
        fig, ax = plt.subplots(figsize=(5.6, 4.8), layout="constrained")
        _draw_map(ax, arrays=arrays, analysis=analysis, config=config, **kw)
        fig.legend(handles=_legend_handles(measured is not None), loc="outside lower center", ncol=2, fontsize=7,
                   frameon=False)
        paths += save_figure(fig, out_dir / stem)
        plt.close(fig)

    ratios = [1, 1, 0.9] + ([0.9] if measured is not None else [])
    fig, axes = plt.subplots(1, len(ratios), figsize=(6 * len(ratios), 5.4), layout="constrained",
                             gridspec_kw={"width_ratios": ratios})
    for ax, kw in zip(axes[:2], panels.values()):
        _draw_map(ax, arrays=arrays, analysis=analysis, config=config, **kw)
    _draw_score_panel(axes[2], arrays, analysis, config)
    if measured is not None:
        _draw_measured_panel(axes[3], arrays, analysis, config)
    fig.legend(handles=_legend_handles(measured is not None), loc="outside lower center", ncol=5, fontsize=8,
               frameon=False)
    fig.suptitle(f"Merger phase diagram ({config.task}, L = {config.L}, {config.train.loss} loss, "
                 f"{config.train.readout} readout, {config.randomness} cells; {arrays['status'].size} networks: "
                 f"{status_text(arrays['status'])})", fontsize=11)
    paths += save_figure(fig, out_dir / "phase_diagram")
    plt.close(fig)
    if measured is not None:
        paths += _scaling_figure(analysis, config, out_dir)
    if analysis.evaluation is not None:
        paths += theory_test_figure(analysis, config, out_dir)
    if analysis.conservation is not None or analysis.horizon is not None:
        paths += along_training_figure(analysis, config, out_dir)
    return paths


def _left_edge(ax, values: np.ndarray, text: str) -> np.ndarray:
    """``values`` with their non-finite entries moved to a marked column left of the finite ones."""
    finite = np.isfinite(values)
    if finite.all():
        return values
    left = (values[finite].min() if finite.any() else 0.0) - 2.0
    ax.axvline(left, color="grey", lw=0.6)
    ax.annotate(text, (left, 0.02), xycoords=("data", "axes fraction"), rotation=90, fontsize=7, color="grey",
                ha="right", va="bottom")
    return np.where(finite, values, left)


def _draw_accuracy_scatter(ax, arrays, score: np.ndarray, config) -> None:
    accuracy = arrays["val_accuracy"][..., -1]
    gains = np.broadcast_to(arrays["gains"][None, :, None], accuracy.shape)
    points = ax.scatter(score.ravel(), accuracy.ravel(), c=gains.ravel(), cmap="coolwarm",
                        s=18, edgecolors="k", linewidths=0.3)
    plt.colorbar(points, ax=ax, label="initial weight scale")
    ax.axhline(config.generalise_accuracy, color="grey", lw=0.8, ls=":")
    ax.set_ylabel(f"accuracy at length {int(arrays['val_lengths'][-1])}")


def _draw_measured_panel(ax, arrays, analysis, config) -> None:
    """Observed accuracy against the measured score −log z_min: a threshold at −log κ should separate them."""
    measured = analysis.measured
    with np.errstate(divide="ignore", invalid="ignore"):
        score = -np.log(measured.z_min)
    score = np.where(np.isnan(score), -np.inf, score)   # no measured agreeing cross-length pair
    _draw_accuracy_scatter(ax, arrays, _left_edge(ax, score, "no measured agreeing\ncross-length pair"), config)
    fit = measured.fit
    if fit.status == "fitted":
        ax.axvline(-fit.log_kappa, color="tab:cyan", lw=1.5)
        lo, hi = fit.log_kappa_interval
        if np.isfinite(lo):
            ax.axvspan(-hi, -lo, color="tab:cyan", alpha=0.15, lw=0)
    ax.set_xlabel("measured score −log z_min\n(z_min = min H0²/(N Y0) over agreeing cross-length pairs)")
    ax.set_title("measured eqs. 5–7 vs observation\n(prediction: generalises iff z_min <= κ = τ_y/τ_h)", fontsize=10)


def _scaling_figure(analysis: Analysis, config: PhaseDiagramConfig, out_dir: Path) -> list[Path]:
    """Measured ‖dh(0)‖² vs m and ⟨‖dy‖²/‖dh‖²⟩ vs n per gain next to G^m, G^n; fitted slopes against log G."""
    sc = analysis.measured.scaling
    norm = Normalize(sc.gains.min(), sc.gains.max() if sc.gains.max() > sc.gains.min() else sc.gains.min() + 1)
    cmap = plt.get_cmap("coolwarm")
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.0), layout="constrained")
    for ax, x, profiles, what in ((axes[0], sc.m, sc.H_log_mean, "log ‖dh(0)‖²"),
                                  (axes[1], sc.n, sc.ratio_log_mean, "log ‖dy_i‖²/‖dh‖²")):
        for g, row, log_G in zip(sc.gains, profiles, sc.log_G):
            finite = np.isfinite(row)
            if not finite.any():
                continue
            colour = cmap(norm(g))
            ax.plot(x[finite], row[finite], marker="o", ms=3, color=colour, lw=1.2)
            # G^x through the measured points: fixed slope log G, least-squares intercept
            ax.plot(x, x * log_G + np.mean(row[finite] - x[finite] * log_G), color=colour, lw=0.8, ls="--")
        ax.set_ylabel(f"mean {what} over pairs and networks")
        plt.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="initial weight scale")
    axes[0].set_xlabel("prefix length m")
    axes[0].set_title("‖dh(0)‖² against m (dashed: G^m, eq. 9's first scaling)", fontsize=10)
    axes[1].set_xlabel("continuation length n")
    axes[1].set_title("⟨‖dy_i‖²/‖dh‖²⟩ against n (dashed: G^n, eq. 9's second scaling)", fontsize=10)
    ax = axes[2]
    ax.scatter(sc.log_G, sc.slope_H, c=sc.gains, cmap=cmap, norm=norm, marker="o", edgecolors="k",
               linewidths=0.3, label="slope of log ‖dh(0)‖² vs m")
    ax.scatter(sc.log_G, sc.slope_ratio, c=sc.gains, cmap=cmap, norm=norm, marker="s", edgecolors="k",
               linewidths=0.3, label="slope of log ‖dy‖²/‖dh‖² vs n")
    finite = np.concatenate([v[np.isfinite(v)] for v in (sc.log_G, sc.slope_H, sc.slope_ratio)])
    if finite.size:
        lims = (finite.min() - 0.2, finite.max() + 0.2)
        ax.plot(lims, lims, color="grey", lw=0.8, ls=":", label="slope = log G (eq. 9)")
    ax.set_xlabel("log G of the initial networks (rnn.measure.contraction)")
    ax.set_ylabel("fitted slope")
    ax.set_title("fitted slopes against log G", fontsize=10)
    ax.legend(fontsize=8)
    fig.suptitle(f"Eq. 9's scalings measured at initialisation ({config.task}, L = {config.L}; "
                 f"per gain: mean over replicates and fractions)", fontsize=11)
    paths = save_figure(fig, out_dir / "scaling_diagnostics")
    plt.close(fig)
    return paths


def _draw_score_panel(ax, arrays, analysis, config) -> None:
    """Observed accuracy against the theory's merger score: a threshold at log C should separate them."""
    _draw_accuracy_scatter(ax, arrays, _left_edge(ax, analysis.score, "no pair with E[N] ≥ 1"), config)
    fit = analysis.fit
    if fit.status == "fitted":
        ax.axvline(fit.log_C, color="black", lw=1.5)
        lo, hi = fit.log_C_interval
        if np.isfinite(lo):
            ax.axvspan(lo, hi, color="black", alpha=0.12, lw=0)
    ax.set_xlabel("merger score S = max [log N(m1,m2;p) − m1 log G] over pairs with N ≥ 1")
    ax.set_title("theory score vs observation\n(prediction: generalises iff S > log C)", fontsize=10)