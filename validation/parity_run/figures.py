"""Figures of a parity run, drawn from its saved arrays and summary (P25 Fig. 4, 6, 7, 8).

Each ``plot_*`` returns a matplotlib figure; ``make_figures`` returns all of them that
the results support. The backend is left to the caller (a CLI selects a headless one).
"""
from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from rnn.automata.drawing import MAX_STATES, draw_dfa

from validation.parity_run.analysis import minimal_automaton
from validation.parity_run.config import RunConfig


def plot_loss_curves(arrays: dict[str, np.ndarray], config: RunConfig):
    """Training loss per epoch and validation loss per length (P25 Fig. 6)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    loss = arrays["train_loss"]
    ax.plot(np.arange(loss.size), loss, color="black", lw=2, label="training (lengths 1–%d)" % config.L)
    names = sorted((k.split("/", 1)[1] for k in arrays if k.startswith("validation_loss/")),
                   key=lambda k: int(k.split()[-1]))
    colours = plt.cm.viridis(np.linspace(0, 0.9, max(len(names), 1)))
    for colour, name in zip(colours, names):
        ax.plot(arrays["validation_epochs"], arrays[f"validation_loss/{name}"], color=colour, lw=1.2, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{config.train.loss.upper()} loss")
    ax.set_title("Streaming parity: loss by sequence length")
    ax.legend(fontsize=7, ncol=2)
    return fig


def plot_state_counts(arrays: dict[str, np.ndarray], config: RunConfig):
    """Raw and minimised automaton sizes over training, with the training loss (P25 Fig. 4)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    epochs = arrays["tracked_epochs"][: arrays["states_raw"].size]
    ax.plot(epochs, arrays["states_raw"], color="tab:blue", label="extracted automaton")
    ax.plot(epochs, arrays["states_minimal"], color="tab:orange", label="after Hopcroft minimisation")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("number of states")
    ax.set_title(f"Automaton size (eps = {config.eps_factor}·‖std‖, pooled)")
    twin = ax.twinx()
    loss = arrays["train_loss"]
    twin.plot(np.arange(loss.size), loss, color="gray", lw=0.8, ls="--", label="training loss")
    twin.set_yscale("log")
    twin.set_ylabel("training loss", color="gray")
    lines = ax.get_legend_handles_labels()
    extra = twin.get_legend_handles_labels()
    fig.legend(lines[0] + extra[0], lines[1] + extra[1], fontsize=8, loc="lower center", ncol=3)
    fig.subplots_adjust(bottom=0.24)
    return fig


def plot_merged_pairs(arrays: dict[str, np.ndarray], summary: dict[str, Any], config: RunConfig):
    """Fraction of agreeing pairs that merged, per (length, length) cell (P25 Fig. 7)."""
    fraction = arrays["merged_fraction"][1:, 1:]
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    image = ax.imshow(np.ma.masked_invalid(fraction), origin="lower", cmap="magma", vmin=0,
                      extent=(0.5, config.L + 0.5, 0.5, config.L + 0.5))
    ax.set_facecolor("0.85")
    fig.colorbar(image, ax=ax, label="fraction of agreeing pairs that merged")
    ax.set_xlabel("length of sequence 2")
    ax.set_ylabel("length of sequence 1 (grey: no agreeing pair)")
    verdict = "all agree" if summary["all_merged_pairs_agree"] else f"{summary['merged_disagreeing']} disagree"
    ax.set_title(f"Merged pairs: {summary['merged_pairs']} ({verdict})", fontsize=10)
    return fig


def plot_automaton(arrays: dict[str, np.ndarray], summary: dict[str, Any]):
    """The minimised final automaton (P25 Fig. 8), drawn by ``rnn.automata.drawing.draw_dfa``."""
    dfa = minimal_automaton(arrays)
    verdict = "= parity" if summary["minimal_equivalent_to_parity"] else "≠ parity"
    title = (f"Minimised automaton ({summary['final_states_raw']} → "
             f"{summary['final_states_minimal']} states, {verdict})")
    if dfa.n_states > MAX_STATES:  # unreadable as a graph: say so instead of failing after training
        fig, ax = plt.subplots(figsize=(4.2, 4.2))
        ax.text(0.5, 0.5, f"{dfa.n_states} states:\ntoo many to draw", ha="center", va="center")
        ax.axis("off")
        ax.set_title(title, fontsize=10)
        return fig
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    draw_dfa(dfa, ax, output_names=("out 0", "out 1"), title=title + "; arrow = start")
    return fig


def make_figures(arrays: dict[str, np.ndarray], summary: dict[str, Any], config: RunConfig) -> dict[str, Any]:
    """``{stem: figure}``: the loss curves always; the automaton figures when the analysis ran."""
    figures = {"loss_curves": plot_loss_curves(arrays, config)}
    if "merged_fraction" in arrays:
        figures["state_counts"] = plot_state_counts(arrays, config)
        figures["merged_pairs"] = plot_merged_pairs(arrays, summary, config)
        figures["automaton"] = plot_automaton(arrays, summary)
    return figures
