"""Figures of a modular-addition run, drawn from its saved arrays and summary.

``progress`` (Nanda et al.'s progress measures, phases shaded) and ``mergers`` (the merger
measurements of docs/experiments.md §5.2 per site). Each ``plot_*`` returns a matplotlib
figure; the backend is left to the caller (a CLI selects a headless one).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from rnn.modular import mergers as mm
from rnn.modular.transformer import SITES

FIGURE_KAPPA = 0.3  # at 0.1 the fast run's classes stay split into their commuted pairs; 0.3 shows class merging


def shade_phases(ax, phases: Mapping[str, Any]) -> None:
    """Shade memorisation (blue), circuit formation (orange) and cleanup (green)."""
    ax.axvspan(0, phases["memorisation_end"], color="tab:blue", alpha=0.08, lw=0)
    if phases["cleanup_start"] is not None:
        ax.axvspan(phases["memorisation_end"], phases["cleanup_start"], color="tab:orange", alpha=0.08, lw=0)
        ax.axvspan(phases["cleanup_start"], phases["cleanup_end"], color="tab:green", alpha=0.12, lw=0)


def plot_progress(arrays: Mapping[str, np.ndarray], summary: Mapping[str, Any]):
    """Losses with restricted/excluded loss, accuracies, Gini, weight norm; phases shaded."""
    t, phases, keys = arrays["epochs"], summary["phase_boundaries"], summary["key_frequencies"]
    rule = keys["default_rule"] if keys["fallback_rule"] is None else f"{keys['fallback_rule']}, fallback"
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), constrained_layout=True)
    ax = axes[0, 0]
    ax.semilogy(t, arrays["train_loss"], label="train loss", color="tab:blue")
    ax.semilogy(t, arrays["test_loss"], label="test loss", color="tab:red")
    ax.semilogy(t, arrays["restricted_loss"], label="restricted loss (all pairs)", color="tab:green", ls="--")
    ax.semilogy(t, arrays["excluded_loss"], label="excluded loss (train)", color="tab:purple", ls="--")
    ax.set_title(f"loss; final key frequencies {list(keys['used'])} (rule: {rule})", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    ax.plot(t, arrays["train_acc"], label="train accuracy", color="tab:blue")
    ax.plot(t, arrays["test_acc"], label="test accuracy", color="tab:red")
    ax.plot(t, arrays["resid_post/assignment_accuracy"], label="assignment accuracy (resid_post)", color="k", ls=":")
    ax.set_title("accuracy")
    ax.legend(fontsize=8)
    ax = axes[1, 0]
    ax.plot(t, arrays["gini_embedding"], label="Gini, Fourier norms of $W_E$")
    ax.plot(t, arrays["gini_neuron_logit"], label="Gini, Fourier norms of $W_L$")
    ax.set_title("sparsity in the Fourier basis")
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    ax.plot(t, arrays["weight_norm_sq"], color="k")
    ax.set_title(r"total squared weight norm $\sum\theta^2$")
    for ax in axes.ravel():
        shade_phases(ax, phases)
        ax.set_xlabel("epoch")
    c = summary["config"]["train"]
    fig.suptitle(f"P={c['P']}, train frac {c['train_frac']}, wd {c['weight_decay']}, seed {c['seed']}: "
                 f"{summary['status']} (shaded: memorisation | circuit formation | cleanup)")
    return fig


def plot_mergers(arrays: Mapping[str, np.ndarray], summary: Mapping[str, Any]):
    """The merger measurements of docs/experiments.md §5.2 per site over training; phases shaded."""
    c = summary["config"]["train"]
    P, t, phases = c["P"], arrays["epochs"], summary["phase_boundaries"]
    k = list(arrays["kappas"]).index(FIGURE_KAPPA)
    colors = dict(zip(SITES, ("tab:gray", "tab:orange", "tab:green", "tab:blue", "tab:red")))
    styles = {"agree_test_train": "-", "agree_train_train": "--", "disagree_train_train": ":"}
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), constrained_layout=True)
    for site, col in colors.items():
        axes[0, 0].plot(t, arrays[f"{site}/M_test"], color=col, label=site)
        axes[0, 0].plot(t, arrays[f"{site}/M_train"], color=col, ls="--")
        axes[0, 1].plot(t, arrays[f"{site}/rho_test"], color=col, label=site)
        axes[0, 1].plot(t, arrays[f"{site}/rho_test_train"], color=col, ls=":")
        axes[0, 2].plot(t, arrays[f"{site}/assignment_accuracy"], color=col, label=site)
        axes[1, 0].semilogy(arrays["state_epochs"], arrays[f"{site}/n_states"][:, k], "o-", color=col, ms=3,
                            label=site)
        for group, ls in styles.items():
            d = arrays[f"{site}/pair_distances_{group}"]
            axes[1, 1].plot(t, np.median(d, axis=1), color=col, ls=ls)
            axes[1, 2].plot(t, mm.merged_fraction(d, FIGURE_KAPPA), color=col, ls=ls)
    axes[0, 2].plot(t, arrays["test_acc"], color="k", ls=":", label="test accuracy")
    for ref, name in ((P, "P"), (P * (P + 1) // 2, "P(P+1)/2"), (P * P, "P²")):
        axes[1, 0].axhline(ref, color="k", lw=0.6, ls=":")
        axes[1, 0].text(0, ref, name, fontsize=7, va="bottom")
    axes[1, 1].axhline(FIGURE_KAPPA, color="k", lw=0.6)
    titles = ("chance-corrected merging score M (solid test, dashed train)",
              "distance ratio ρ (solid test, dotted test→train)",
              "nearest train-centroid assignment accuracy of test points",
              f"state count, complete linkage cut at {FIGURE_KAPPA}·r(t)",
              "median pair distance d/r: agreeing test–train (solid),\nagreeing train–train (dashed), "
              "disagreeing train–train (dotted)",
              f"merged fraction (d/r < {FIGURE_KAPPA}), same line styles; theory (eq. 7):\n"
              "agreeing A_low = 0 may merge, disagreeing A_low > 0 never merge")
    for ax, title in zip(axes.ravel(), titles):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch")
        shade_phases(ax, phases)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"representation mergers at '=' (P={P}, wd {c['weight_decay']}, seed {c['seed']})")
    return fig


def make_figures(arrays: Mapping[str, np.ndarray], summary: Mapping[str, Any]) -> dict[str, Any]:
    """All figures of a run, by file stem."""
    return {"progress": plot_progress(arrays, summary), "mergers": plot_mergers(arrays, summary)}
