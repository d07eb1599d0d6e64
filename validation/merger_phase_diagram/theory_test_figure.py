"""The figure of the theory test: every predictor in and out of sample, and the evidence behind the verdict.

Drawn from an ``Analysis`` only. Panels: (a) agreement of every predictor in sample and
held out (``crossval.py``), theory predictors apart from the baselines, with the goal of
90 %; (b) the share of networks that generalised per fraction column, ours with its
bootstrap band beside P25 Fig. 9's cells (``replicates.column_shares``); and, with the
measured overlay, (c) ``log ‖dh(0)‖²`` against the shared-suffix length and against the
prefix length per gain, next to ``G^k`` (``features.suffix_scaling``), and (d) how the two
measured cell scores move with the number of pairs they are computed from
(``features.score_stability``). With the checkpoints measured, a second figure,
``theory_along_training``, shows (a) the conservation of ``A_high`` for the agreeing pairs,
and (b) the prediction horizon: the measured predictors refitted and scored out of sample
at each checkpoint (``along_training.py``), beside the best baseline and eq. 9. The backend
is the caller's choice.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import Normalize

from interaction.artifacts import save_figure
from validation.merger_phase_diagram.analysis import Analysis
from validation.merger_phase_diagram.config import PhaseDiagramConfig
from validation.merger_phase_diagram.crossval import GOAL_AGREEMENT
from validation.merger_phase_diagram.predictors import THEORY

STEM = "theory_test"
ALONG_STEM = "theory_along_training"


def _draw_predictors(ax, analysis: Analysis) -> None:
    e = analysis.evaluation
    columns = [("in sample", e.in_sample), *((f"held-out {s}", e.out_of_sample[s]) for s in e.out_of_sample)]
    y = np.arange(len(e.predictors))[::-1]
    offsets = np.linspace(-0.25, 0.25, len(columns))
    for (label, scores), dy, marker in zip(columns, offsets, "os^"):
        a = np.array([scores[n].agreement for n in e.predictors])
        lo = np.array([scores[n].interval[0] for n in e.predictors])
        hi = np.array([scores[n].interval[1] for n in e.predictors])
        err = np.where(np.isfinite(lo), np.vstack([a - lo, hi - a]), 0.0)
        ax.errorbar(100 * a, y + dy, xerr=100 * err, fmt=marker, ms=5, capsize=2, lw=1, label=label)
    ax.axvline(100 * GOAL_AGREEMENT, color="grey", ls=":", lw=1, label=f"goal {GOAL_AGREEMENT:.0%}")
    ax.set_yticks(y, [f"{n} (theory)" if n in THEORY else n for n in e.predictors], fontsize=8)
    for tick, name in zip(ax.get_yticklabels(), e.predictors):
        tick.set_color("tab:red" if name in THEORY else "black")
    ax.set_xlabel("agreement with the observed regimes (%), bootstrap 16-84 %")
    verdicts = "; ".join(f"{s}: {v.theory} {v.outcome} {v.baseline} ({100 * v.difference:+.1f} pts)"
                         for s, v in e.verdict.items())
    ax.set_title(f"(a) predictors in and out of sample\n{verdicts}", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")


def _draw_shares(ax, analysis: Analysis) -> None:
    shares = analysis.column_shares
    p = np.asarray(shares["fractions"], dtype=float)
    colours = {"all": "k", "lower": "tab:blue", "upper": "tab:orange"}
    for band, entry in shares["bands"].items():
        gains = entry["gains"]
        label = f"gains {gains[0]:.2g}-{gains[-1]:.2g}"
        band_values = np.asarray(entry["ours_band"], dtype=float)
        ax.plot(p, entry["ours"], color=colours[band], lw=1.5, label=f"ours, {label}")
        if np.isfinite(band_values).all():
            ax.fill_between(p, band_values[:, 0], band_values[:, 1], color=colours[band], alpha=0.15, lw=0)
        if entry["p25_fig9"] is not None:
            ax.plot(p, entry["p25_fig9"], color=colours[band], ls="none", marker="x", ms=5,
                    label=f"P25 Fig. 9, {label}")
    ax.set_xlabel("training fraction p")
    ax.set_ylabel("share of networks that generalise")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title("(b) generalisation per fraction column (like for like with Fig. 9)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")


def _draw_suffix(ax, analysis: Analysis) -> None:
    sx = analysis.suffix
    norm = Normalize(sx.gains.min(), sx.gains.max() if sx.gains.max() > sx.gains.min() else sx.gains.min() + 1)
    cmap = plt.get_cmap("coolwarm")
    for g in np.unique(np.linspace(0, sx.gains.size - 1, min(5, sx.gains.size)).round().astype(int)):
        colour = cmap(norm(sx.gains[g]))
        for x, row, style in ((sx.k, sx.H_by_suffix[g], "-"), (sx.m, sx.H_by_length[g], ":")):
            finite = np.isfinite(row)
            ax.plot(x[finite], row[finite], ls=style, marker="o", ms=2.5, color=colour, lw=1.1)
        finite = np.isfinite(sx.H_by_suffix[g])
        if finite.any():
            k = sx.k[finite]
            ax.plot(k, sx.H_by_suffix[g][finite][0] + (k - k[0]) * sx.log_G[g], color=colour, lw=0.7, ls="--")
    ax.plot([], [], "k-", label="against shared-suffix length k")
    ax.plot([], [], "k:", label="against prefix length m")
    ax.plot([], [], "k--", lw=0.7, label="G^k from k = 0")
    ax.set_xlabel("k or m")
    ax.set_ylabel("mean log ‖dh(0)‖² over measured pairs")
    slopes = ", ".join(f"{g:.2g}: {a / b:.2f} vs {c / b:.2f}" for g, a, c, b in
                       zip(sx.gains[:: max(1, sx.gains.size // 4)], sx.slope_suffix[:: max(1, sx.gains.size // 4)],
                           sx.slope_length[:: max(1, sx.gains.size // 4)], sx.log_G[:: max(1, sx.gains.size // 4)]))
    ax.set_title(f"(c) eq. 9's first scaling: slope/log G in k vs in m\n(gain {slopes})", fontsize=9)
    plt.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="initial weight scale")
    ax.legend(fontsize=7)


def _draw_stability(ax, analysis: Analysis) -> None:
    st = analysis.stability
    if not np.isfinite(st.shift_min).any():
        ax.text(0.5, 0.5, f"too few agreeing cross-length pairs per network\n(median {st.full_size_median:.0f})",
                ha="center", va="center", transform=ax.transAxes)
        ax.set_title("(d) the cell score against the pair sample size", fontsize=9)
        return
    for name, colour in (("min", "tab:red"), ("median", "tab:green")):
        shift, spread = getattr(st, f"shift_{name}"), getattr(st, f"spread_{name}")
        ax.errorbar(st.sizes, shift, yerr=spread, color=colour, marker="o", ms=4, capsize=2,
                    label=f"log z_{name}: median shift ± spread")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel(f"agreeing cross-length pairs per network in the subsample (all: median {st.full_size_median:.0f})")
    ax.set_ylabel("subsample score − score on all pairs")
    ax.set_title("(d) the cell score against the pair sample size", fontsize=9)
    ax.legend(fontsize=7)


def theory_test_figure(analysis: Analysis, config: PhaseDiagramConfig, out_dir: Path) -> list[Path]:
    """The figure of the module docstring as ``theory_test.{png,pdf}`` in ``out_dir``."""
    measured = analysis.suffix is not None and analysis.stability is not None
    fig, axes = plt.subplots(1, 4 if measured else 2, figsize=(23 if measured else 12, 5.6), layout="constrained")
    _draw_predictors(axes[0], analysis)
    _draw_shares(axes[1], analysis)
    if measured:
        _draw_suffix(axes[2], analysis)
        _draw_stability(axes[3], analysis)
    fig.suptitle(f"Does the theory predict the phase diagram? ({analysis.observed.size} networks, "
                 f"{config.seeds} replicate(s), {config.train.loss} loss)", fontsize=11)
    paths = save_figure(fig, out_dir / STEM)
    plt.close(fig)
    return paths


def _draw_conservation(ax, analysis: Analysis) -> None:
    c = analysis.conservation
    x = np.arange(len(c.checkpoints))
    q = c.quantiles
    ax.fill_between(x, q[:, 0], q[:, 4], color="tab:blue", alpha=0.15, lw=0, label="10-90 %")
    ax.fill_between(x, q[:, 1], q[:, 3], color="tab:blue", alpha=0.3, lw=0, label="25-75 %")
    ax.plot(x, q[:, 2], "o-", color="tab:blue", label="median")
    ax.axhline(1.0, color="grey", ls=":", lw=1, label="conserved")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_xticks(x, [f"{n}\n~{e:.0f}" for n, e in zip(c.checkpoints, c.median_epoch)], fontsize=7)
    ax.set_ylabel("A_high(t) / A_high(0), agreeing pairs")
    twin = ax.twinx()
    twin.plot(x, 100 * c.sign_changed, "s--", color="tab:red")
    twin.set_ylabel("pairs whose A_high changed sign (%)", color="tab:red")
    ax.set_xlabel("checkpoint (rule) and median epoch")
    ax.set_title(f"(a) is A_high conserved? (docs/theory.md §2.2; kappa = {c.kappa:.3g})", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")


def _draw_horizon(ax, analysis: Analysis) -> None:
    h = analysis.horizon
    x = np.arange(len(h.checkpoints))
    styles = {"replicates": "-", "blocks": "--"}
    colours = {"measured_min": "tab:red", "measured_median": "tab:green"}
    for scheme, by_name in h.agreement.items():
        for name, values in by_name.items():
            band = h.interval[scheme][name]
            ax.plot(x, 100 * values, marker="o", ls=styles.get(scheme, "-"), color=colours.get(name, "k"),
                    label=f"{name}, held-out {scheme}")
            if np.isfinite(band).all():
                ax.fill_between(x, 100 * band[:, 0], 100 * band[:, 1], color=colours.get(name, "k"), alpha=0.1, lw=0)
        e = analysis.evaluation
        if e is not None and scheme in e.verdict:
            v = e.verdict[scheme]
            ax.axhline(100 * e.out_of_sample[scheme][v.baseline].agreement, color="k", ls=styles.get(scheme, "-"),
                       lw=0.8, label=f"best baseline ({v.baseline}), held-out {scheme}")
            if "eq9" in e.out_of_sample[scheme]:
                ax.axhline(100 * e.out_of_sample[scheme]["eq9"].agreement, color="tab:purple",
                           ls=styles.get(scheme, "-"), lw=0.8, label=f"eq. 9, held-out {scheme}")
    ax.set_xticks(x, [f"{n}\n~{e:.0f}" for n, e in zip(h.checkpoints, h.median_epoch)], fontsize=7)
    ax.set_xlabel("checkpoint at which the theory is applied (rule) and median epoch")
    ax.set_ylabel("held-out agreement with the observed regimes (%)")
    ax.set_title("(b) prediction horizon", fontsize=9)
    ax.legend(fontsize=6)


def along_training_figure(analysis: Analysis, config: PhaseDiagramConfig, out_dir: Path) -> list[Path]:
    """``theory_along_training.{png,pdf}``: conservation and horizon (module docstring)."""
    panels = [p for p, present in ((_draw_conservation, analysis.conservation is not None),
                                   (_draw_horizon, analysis.horizon is not None)) if present]
    fig, axes = plt.subplots(1, len(panels), figsize=(7.5 * len(panels), 5.4), layout="constrained", squeeze=False)
    for ax, draw in zip(axes[0], panels):
        draw(ax, analysis)
    fig.suptitle(f"The theory applied along training ({analysis.observed.size} networks, {config.seeds} "
                 f"replicate(s), {config.train.loss} loss)", fontsize=11)
    paths = save_figure(fig, out_dir / ALONG_STEM)
    plt.close(fig)
    return paths
