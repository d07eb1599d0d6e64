"""Drawing a (small, typically minimised) automaton with matplotlib (P25 Fig. 8 style).

States sit on a circle (start state on the left, marked by an arrow from above), coloured
by output class; transitions are curved arrows labelled by their symbols (parallel
transitions share one arrow, e.g. ``"0,1"``); self-loops are drawn as small loops.
"""
from __future__ import annotations

import numpy as np

from rnn.automata.dfa import DFA

#: Largest automaton ``draw_dfa`` draws by default; beyond it the drawing is unreadable.
MAX_STATES = 40


def draw_dfa(dfa: DFA, ax=None, *, symbol_names: tuple[str, ...] | None = None,
             output_names: tuple[str, ...] | None = None, max_states: int = MAX_STATES,
             title: str | None = None):
    """Draw ``dfa`` on ``ax`` (new figure if ``None``); returns the axes.

    ``symbol_names``/``output_names`` label symbols and output classes (default: their
    indices); ``title`` titles the axes. Refuses automata with more than ``max_states``
    states (unreadable).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, Circle

    if dfa.n_states > max_states:
        raise ValueError(f"dfa must have at most max_states = {max_states} states to be drawn (got {dfa.n_states})")
    names = symbol_names or tuple(str(a) for a in range(dfa.n_symbols))
    if len(names) != dfa.n_symbols:
        raise ValueError(f"symbol_names must have {dfa.n_symbols} entries (got {len(names)})")
    if ax is None:
        _, ax = plt.subplots(figsize=(1.2 + 0.9 * np.sqrt(dfa.n_states) * 2,) * 2)
    n = dfa.n_states
    # start state at angle pi (left), others counter-clockwise
    order = np.r_[dfa.start, np.setdiff1d(np.arange(n), [dfa.start])]
    angles = np.empty(n)
    angles[order] = np.pi + 2 * np.pi * np.arange(n) / n
    radius = 0.0 if n == 1 else 1.0
    pos = np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)
    r_node = 0.3 if n <= 4 else 0.2 if n <= 8 else 0.55 / np.sqrt(n)
    classes = np.unique(dfa.outputs)
    cmap = plt.get_cmap("tab10")
    colour = {c: cmap(i % 10) for i, c in enumerate(classes)}
    for q in range(n):
        ax.add_patch(Circle(pos[q], r_node, facecolor=colour[dfa.outputs[q]], edgecolor="black", lw=1.2,
                            alpha=0.85, zorder=3))
        out = dfa.outputs[q]
        label = output_names[out] if output_names is not None and 0 <= out < len(output_names) else str(out)
        ax.text(*pos[q], f"q{q}\n{label}", ha="center", va="center", fontsize=8, zorder=4)
    start = pos[dfa.start]
    ax.annotate("", xy=start + [0, r_node], xytext=start + [0, r_node + 0.4],  # from above: loops point outward
                arrowprops=dict(arrowstyle="->", lw=1.5))
    for q in range(n):
        targets = {}
        for a in range(dfa.n_symbols):
            t = int(dfa.transitions[q, a])
            if t >= 0:
                targets.setdefault(t, []).append(names[a])
        for t, syms in targets.items():
            text = ",".join(syms)
            if t == q:
                outward = pos[q] / (np.linalg.norm(pos[q]) or 1.0) if n > 1 else np.array([0.0, 1.0])
                centre = pos[q] + outward * r_node * 1.6
                ax.add_patch(Circle(centre, r_node * 0.7, fill=False, lw=1.0, zorder=2))
                ax.text(*(centre + outward * r_node * 1.0), text, ha="center", va="center", fontsize=8)
                continue
            unit = (pos[t] - pos[q]) / np.linalg.norm(pos[t] - pos[q])
            arrow = FancyArrowPatch(pos[q] + r_node * unit, pos[t] - r_node * unit, connectionstyle="arc3,rad=0.2",
                                    arrowstyle="-|>", mutation_scale=12, lw=1.0, shrinkA=0, shrinkB=0, zorder=2)
            ax.add_patch(arrow)
            mid = 0.5 * (pos[q] + pos[t])
            normal = np.array([pos[t, 1] - pos[q, 1], pos[q, 0] - pos[t, 0]])
            normal /= np.linalg.norm(normal) or 1.0
            ax.text(*(mid + 0.12 * normal), text, ha="center", va="center", fontsize=8)
    lim = radius + 4 * r_node + 0.4
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.axis("off")
    if title is not None:
        ax.set_title(title, fontsize=10)
    return ax
