"""Analysis of a finished parity run: arrays in, summary (and derived arrays) out.

``training_summary`` reads the training curves; ``automaton_analysis`` extracts the
automaton from the tracked hidden states (P25 Fig. 4, 7 and 8; docs/experiments.md §1),
minimises it, compares it with parity, measures its fidelity to the network on the
validation sequences, and runs the merged-pair analysis of the final grouping. A new
metric is one more entry in the ``summary``/``arrays`` these functions return (and the
figure that shows it, in ``figures.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rnn.automata import (DFA, equivalent, extract_automaton, fidelity, minimize, parity_dfa,
                          state_count_history, std_norm)
from rnn.measure.merged_pairs import MergedPairs, merged_pairs
from rnn.parity import EnsembleResult, SequenceSet, outputs

from validation.parity_run.config import RunConfig


@dataclass(frozen=True)
class AutomatonAnalysis:
    """What ``automaton_analysis`` found: JSON-ready ``summary``, ``arrays`` to save, and the objects."""

    summary: dict[str, Any]
    arrays: dict[str, np.ndarray]
    minimal: DFA
    pairs: MergedPairs


def tracking_epochs(every: int, last: int) -> np.ndarray:
    """Epochs ``0, every, 2·every, …`` and always ``last``."""
    return np.union1d(np.arange(0, last + 1, every), [last])


def training_summary(result: EnsembleResult, train_seconds: float) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Status, epochs and final losses of the single member, and its curves and parameters as arrays."""
    status, stopped = str(result.status[0]), int(result.epochs[0])
    last_eval = np.flatnonzero(result.validation_epochs <= stopped)[-1]
    summary = {"status": status, "epochs_trained": stopped, "train_seconds": train_seconds,
               "final_train_loss": float(result.train_loss[0, stopped]),
               "final_validation_loss": {k: float(v[0, last_eval]) for k, v in result.validation_loss.items()}}
    arrays = {
        "train_loss": result.train_loss[0], "train_accuracy": result.train_accuracy[0],
        "validation_epochs": result.validation_epochs, "tracked_epochs": result.tracked_epochs,
        **{f"validation_loss/{k}": v[0] for k, v in result.validation_loss.items()},
        **{f"validation_accuracy/{k}": v[0] for k, v in result.validation_accuracy.items()},
        **{f"final/{k}": v[0] for k, v in result.params.items()},
        **{f"initial/{k}": v[0] for k, v in result.initial_params.items()},
    }
    return summary, arrays


def automaton_analysis(result: EnsembleResult, data: SequenceSet,
                       validation: dict[str, tuple[np.ndarray, np.ndarray]], config: RunConfig, *,
                       progress: bool = False) -> AutomatonAnalysis:
    """Automaton extraction over training, the final automaton and the merged-pair analysis.

    ``eps = eps_factor · ‖std‖`` with the std pooled over every snapshot up to the stop
    and every row (``rnn.automata.extraction.std_norm``).
    """
    stopped = int(result.epochs[0])
    rows = int(np.searchsorted(result.tracked_epochs, stopped, side="right"))  # snapshots up to the stop
    hidden, outs = result.tracked_hidden[:rows, 0], result.tracked_output[:rows, 0]  # views, no copy
    eps = config.eps_factor * std_norm(hidden, "pooled")
    history = state_count_history(hidden, data, eps=eps, outputs=outs, progress=progress)
    final = extract_automaton(hidden[-1], data, eps=eps, outputs=outs[-1])
    minimal = minimize(final.dfa)
    pairs = merged_pairs(final.labels, data)
    final_params = result.member_params(0)
    tokens = {int(t.shape[1]): t for t, _ in validation.values()}
    classes = {n: outputs(final_params, t, nonlinearity=config.train.nonlinearity,
                          readout=config.train.readout).argmax(-1)
               for n, t in tokens.items()}
    summary = {
        "eps": eps,
        "final_states_raw": int(final.dfa.n_states), "final_states_minimal": int(minimal.n_states),
        "final_automaton_finite": bool(final.dfa.is_finite),
        "minimal_equivalent_to_parity": bool(equivalent(minimal, parity_dfa())),
        "transition_conflicts": int(final.n_conflicts),
        "merged_pairs": pairs.merged, "merged_agreeing": pairs.merged_agreeing,
        "merged_disagreeing": pairs.merged_disagreeing, "agreeing_pairs": pairs.agreeing,
        "all_merged_pairs_agree": bool(pairs.all_merged_agree),
        "fidelity_by_length": fidelity(minimal, tokens, classes),
    }
    arrays = {
        "eps": np.float64(eps), "states_raw": history.raw, "states_minimal": history.minimal,
        "finite": history.finite, "final_labels": final.labels,
        "minimal_transitions": minimal.transitions, "minimal_outputs": minimal.outputs,
        "minimal_start": np.int64(minimal.start),
        "agreeing_by_length": pairs.agreeing_by_length,
        "merged_agreeing_by_length": pairs.merged_agreeing_by_length,
        "merged_disagreeing_by_length": pairs.merged_disagreeing_by_length,
        "merged_fraction": pairs.merged_fraction,
    }
    return AutomatonAnalysis(summary, arrays, minimal, pairs)


def merged_pairs_table(arrays: dict[str, np.ndarray], L: int) -> str:
    """CSV of the merged-pair counts per (length 1 <= length 2) cell."""
    lines = ["length_1,length_2,agreeing,merged_agreeing,merged_disagreeing,merged_fraction"]
    for a in range(1, L + 1):
        for b in range(a, L + 1):
            lines.append(f"{a},{b},{arrays['agreeing_by_length'][a, b]},"
                         f"{arrays['merged_agreeing_by_length'][a, b]},"
                         f"{arrays['merged_disagreeing_by_length'][a, b]},{arrays['merged_fraction'][a, b]:.6g}")
    return "\n".join(lines) + "\n"


def minimal_automaton(arrays: dict[str, np.ndarray]) -> DFA:
    """The minimised final automaton rebuilt from saved arrays."""
    return DFA(arrays["minimal_transitions"], arrays["minimal_outputs"], int(arrays["minimal_start"]))
