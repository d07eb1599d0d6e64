"""Figures of a modular-addition run, drawn from its saved arrays and summary.

``progress`` (Nanda et al.'s progress measures, phases shaded), ``mergers`` (the merger
measurements of docs/experiments.md §5.2 per site) and, where the theory was measured,
``theory_predictions`` (eq. 7 and the rate-free statistic against the observed mergers) and
``theory_trajectories_SITE`` (measured ``H(t)``, ``W(t)`` against eq. 20, as the parity
pair-dynamics experiment draws P25 Fig. 10 right); ``plot_seeds_progress`` overlays the
progress curves of several seeds (``seeds``). Each ``plot_*`` returns a matplotlib
figure; the backend is left to the caller (a CLI selects a headless one).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from interaction.odesolve import integrate
from interaction.three_scalar import ThreeScalarSystem
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
    ax.plot(arrays["measure_epochs"], arrays["resid_post/assignment_accuracy"], color="k", ls=":",
            label="assignment accuracy (resid_post)")
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
    P, t, phases = c["P"], arrays["measure_epochs"], summary["phase_boundaries"]
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
    axes[0, 2].plot(arrays["epochs"], arrays["test_acc"], color="k", ls=":", label="test accuracy")
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


def representative_pairs(arrays: Mapping[str, np.ndarray], site: str) -> list[tuple[int, str]]:
    """Up to three pairs to draw: a merged and an unmerged agreeing pair and a disagreeing one, preferring
    pairs with their own rate fit."""
    agreeing = arrays["theory_S"] == 0
    merged = arrays[f"{site}/theory_observed"].astype(bool)
    fitted = np.all(np.isfinite(arrays[f"{site}/theory_fit_tau"]), axis=1)
    picks = []
    for kind, sel in (("agreeing, merged", agreeing & merged), ("agreeing, not merged", agreeing & ~merged),
                      ("disagreeing", ~agreeing)):
        candidates = np.flatnonzero(sel & fitted) if np.any(sel & fitted) else np.flatnonzero(sel)
        if candidates.size:
            picks.append((int(candidates[0]), kind))
    return picks


def eq20_curve(H0: float, Y0: float, W0: float, S: float, tau_h: float, tau_y: float, t: np.ndarray):
    """``(t, H, W)`` of eq. 20 (N = 1) from the measured initial point on the grid ``t``; None where the
    rates are unknown or the solver stops at once."""
    if not (np.isfinite(tau_h) and np.isfinite(tau_y) and H0 > 0):
        return None
    res = integrate(ThreeScalarSystem(S=S, N=1.0, tau_h=tau_h, tau_y=tau_y), (H0, max(Y0, 0.0), W0),
                    float(t[-1]), t_eval=t)
    return None if res.t.size == 0 else (res.t, res.y[0], res.y[2])


def plot_theory_trajectories(arrays: Mapping[str, np.ndarray], summary: Mapping[str, Any], site: str):
    """Measured ``H(t)``, ``W(t)`` of representative pairs at ``site`` against eq. 20 (P25 Fig. 10 right)."""
    theory = summary["measured_theory"]
    block = theory["per_site"][site]
    t = arrays["measure_epochs"].astype(np.float64)
    H, W, Y = (arrays[f"{site}/theory_{k}"] for k in ("H", "W", "Y"))
    S, taus = arrays["theory_S"], arrays[f"{site}/theory_fit_tau"]
    pooled = block.get("pooled_fit", {})
    start = int(np.searchsorted(t, block["fit_start_epoch"]))  # the fitted trajectories start here
    reps = representative_pairs(arrays, site)
    fig, axes = plt.subplots(2, max(1, len(reps)), figsize=(5.2 * max(1, len(reps)), 6.6), squeeze=False,
                             constrained_layout=True)
    for col, (k, kind) in enumerate(reps):
        fits = [(pooled.get("tau_h", np.nan), pooled.get("tau_y", np.nan), ":", "C2", "eq. 20, pooled fit"),
                (taus[k, 0], taus[k, 1], "--", "C3", "eq. 20, this pair's fit")]
        for row, (name, values) in enumerate((("H", H[:, k]), ("W", W[:, k]))):
            ax = axes[row, col]
            scale = np.max(np.abs(values)) or 1.0
            ax.plot(t, values / scale, "o", ms=3, color="C0", label=f"measured {name}")
            for tau_h, tau_y, style, color, label in fits:
                curve = eq20_curve(H[start, k], Y[start, k], W[start, k], float(S[k]), tau_h, tau_y,
                                   t[start:] - t[start])
                if curve is not None:
                    ax.plot(curve[0] + t[start], (curve[1] if name == "H" else curve[2]) / scale, style,
                            color=color, label=label)
            ax.axvline(t[start], color="k", lw=0.6, ls="-.", label="fits start")
            shade_phases(ax, summary["phase_boundaries"])
            i, j = arrays["theory_pairs"][:, k]
            P = summary["config"]["train"]["P"]
            ax.set_title(f"{kind}: ({i // P}, {i % P}) / ({j // P}, {j % P}), "
                         f"final d/r = {arrays[f'{site}/theory_final_distance'][k]:.2g}", fontsize=9)
            ax.set_xlabel("epoch (= ODE time)")
            ax.set_ylabel(f"{name} / max|{name}|")
            if row == 0:
                ax.set_yscale("log")
                ax.legend(fontsize=7)
    kappa = block.get("kappa_tau_y_over_tau_h")
    fig.suptitle(f"{site}: measured pair trajectories vs the three-scalar ODE (eq. 20, N = 1); pooled "
                 f"κ = τ_y/τ_h = {'n/a' if kappa is None else f'{kappa:.3g}'}", fontsize=10)
    return fig


def _number(value: float | None) -> str:
    """A score for a table cell; JSON stores an undefined one (nan) as null."""
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.2f}"


def plot_theory_predictions(arrays: Mapping[str, np.ndarray], summary: Mapping[str, Any]):
    """Per theory site: eq. 7's held-out accuracy and the rate-free AUC over training, the rate-free scatter,
    and the confusion matrices at the phase checkpoints."""
    theory = summary["measured_theory"]
    sites, names = theory["sites"], list(theory["checkpoints"])
    t = arrays["measure_epochs"]
    agreeing = arrays["theory_S"] == 0
    threshold = theory["merge_threshold"]
    fig, axes = plt.subplots(len(sites), 3, figsize=(15, 3.9 * len(sites)), squeeze=False, constrained_layout=True)
    for row, site in enumerate(sites):
        block = theory["per_site"][site]
        merged = arrays[f"{site}/theory_observed"].astype(bool)
        kappa = block.get("kappa_tau_y_over_tau_h")
        ax = axes[row, 0]
        ax.plot(t, arrays[f"{site}/theory_auc"], color="C0", label="ROC AUC of H²/Y (agreeing pairs, rate-free)")
        ax.plot(t, arrays[f"{site}/theory_heldout_accuracy"], color="C3",
                label="eq. 7 accuracy, held-out agreeing pairs")
        ax.axhline(0.5, color="k", lw=0.6, ls=":")
        ax.set_ylim(-0.02, 1.02)
        shade_phases(ax, summary["phase_boundaries"])
        ax.set_xlabel("epoch the prediction is made at")
        ax.set_title(f"{site}: predicting the final merger from one checkpoint", fontsize=9)
        ax.legend(fontsize=7)
        ax = axes[row, 1]
        e = theory["checkpoints"].get("memorisation_end", int(t[0]))
        i = int(np.searchsorted(t, e))
        H, Y = arrays[f"{site}/theory_H"][i], arrays[f"{site}/theory_Y"][i]
        with np.errstate(divide="ignore", invalid="ignore"):
            z = H ** 2 / Y
        final = arrays[f"{site}/theory_final_distance"]
        commuted = arrays["theory_commuted"].astype(bool)
        for sel, color, label in ((agreeing & merged, "C2", "agreeing, merged"),
                                  (agreeing & ~merged, "C1", "agreeing, not merged"), (~agreeing, "C3", "disagreeing")):
            ax.loglog(z[sel & ~commuted], final[sel & ~commuted], "o", ms=3, alpha=0.7, color=color, label=label)
            ax.loglog(z[sel & commuted], final[sel & commuted], "x", ms=5, color=color)
        ax.plot([], [], "x", color="k", label="x: (a, b) / (b, a) pairs")
        if kappa is not None:
            ax.axvline(kappa, color="k", ls="--", lw=1, label=f"κ = {kappa:.3g} (eq. 7: merge left of it)")
        ax.axhline(threshold, color="0.4", ls=":", lw=1, label=f"merge threshold d/r = {threshold}")
        ax.set_xlabel(f"H²/Y at epoch {e} (end of memorisation)")
        ax.set_ylabel("final normalised distance d/r")
        ax.set_title("the rate-free statistic against the outcome", fontsize=9)
        ax.legend(fontsize=7)
        ax = axes[row, 2]
        ax.axis("off")
        checkpoints = block.get("checkpoints")
        if checkpoints:
            cells = [[f"{n} ({checkpoints[n]['epoch']})",
                      *(str(checkpoints[n]["confusion_agreeing_heldout"][c]) for c in ("tp", "fp", "fn", "tn")),
                      _number(block["rate_free_auc_H2_over_Y"][n])] for n in names]
            table = ax.table(cellText=cells, colLabels=["checkpoint (epoch)", "TP", "FP", "FN", "TN", "AUC"],
                             loc="center", cellLoc="center", colWidths=[0.4] + [0.12] * 5)
            table.auto_set_font_size(False)
            table.set_fontsize(8)
            table.scale(1.0, 1.4)
            ax.set_title("eq. 7 on held-out agreeing pairs (positive = merges); AUC of H²/Y", fontsize=9)
        else:
            ax.set_title(f"no rate fit: {block['pooled_fit']['message']}", fontsize=9)
    c = summary["config"]["train"]
    fig.suptitle(f"the interaction theory measured on the transformer (P={c['P']}, wd {c['weight_decay']}, "
                 f"seed {c['seed']}): merged = final d/r < {threshold}", fontsize=10)
    return fig


def plot_seeds_progress(runs: Sequence[tuple[str, Mapping[str, np.ndarray]]], title: str):
    """Every seed's progress curves overlaid, one colour per seed (``seeds``): train and test loss, restricted and
    excluded loss, total squared weight norm, Gini of the Fourier norms of ``W_E`` and ``W_L`` against epoch.

    ``runs`` holds ``(label, arrays)`` with the arrays of a run's ``results.npz``.
    """
    panels = (("train and test loss", True, (("test_loss", "-", "test"), ("train_loss", "--", "train"))),
              ("restricted and excluded loss (final key frequencies)", True,
               (("restricted_loss", "-", "restricted (all pairs)"), ("excluded_loss", "--", "excluded (train)"))),
              (r"total squared weight norm $\sum\theta^2$", False, (("weight_norm_sq", "-", None),)),
              ("Gini of the Fourier norms", False,
               (("gini_embedding", "-", "$W_E$"), ("gini_neuron_logit", "--", "$W_L$"))))
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), constrained_layout=True)
    for ax, (name, log, curves) in zip(axes.ravel(), panels):
        for k, (label, arrays) in enumerate(runs):
            for j, (key, style, _) in enumerate(curves):
                ax.plot(arrays["epochs"], arrays[key], style, color=f"C{k % 10}", lw=1.2,
                        label=label if j == 0 else None)
        for _, style, meaning in curves:  # what each line style means, once, in grey
            if meaning is not None:
                ax.plot([], [], style, color="0.4", label=meaning)
        if log:
            ax.set_yscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7, ncol=2)
    fig.suptitle(title)
    return fig


def make_figures(arrays: Mapping[str, np.ndarray], summary: Mapping[str, Any]) -> dict[str, Any]:
    """All figures of a run, by file stem (the theory figures only where theory sites were measured)."""
    figures = {"progress": plot_progress(arrays, summary), "mergers": plot_mergers(arrays, summary)}
    sites = summary["measured_theory"]["sites"]
    if sites:
        figures["theory_predictions"] = plot_theory_predictions(arrays, summary)
        for site in sites:
            figures[f"theory_trajectories_{site}"] = plot_theory_trajectories(arrays, summary, site)
    return figures
