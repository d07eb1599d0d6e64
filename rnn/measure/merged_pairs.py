"""Which prefix pairs merged, and did they agree on all futures? (van Rossem & Saxe 2025, §4.2, Fig. 7)

Given the grouping of a final snapshot (``rnn.automata.extraction``: group id per candidate row,
row 0 = ``h_0``, rows ``1..n`` = the sequences of a ``SequenceSet``), a pair of sequences
*merged* if both lie in the same group. A pair *agrees on all futures* if every
continuation gives both the same target — Myhill–Nerode equivalence — which, for a task
given by a target automaton, means both strings lead to the same state of its *minimal*
automaton (for parity: same parity). The target automaton is minimised first, so any
(also redundant) description of the task may be passed.

Counts are over unordered pairs of distinct sequences (``h_0`` excluded), computed from
a (group × length × target-state) contingency table, so nothing is quadratic:

* ``merged`` = ``Σ_g C(|g|, 2)``, ``merged_agreeing`` = ``Σ_{g,q} C(c_{g,q}, 2)``;
* per (length ``ℓ1``, length ``ℓ2``) cell: agreeing pairs, merged agreeing pairs, merged
  disagreeing pairs, and the merged fraction of agreeing pairs (Fig. 7; ``nan`` where a
  cell has no agreeing pair). Cells are symmetric; the diagonal counts pairs within one
  length.

P25 reports that all 103460 merged pairs of its main run agreed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnn.automata import DFA, minimize, parity_dfa
from rnn.parity.data import SequenceSet


@dataclass(frozen=True)
class MergedPairs:
    """Merged-pair statistics; matrices are indexed ``[ℓ1, ℓ2]`` for lengths ``0..L`` (row 0 unused)."""

    merged: int
    merged_agreeing: int
    merged_disagreeing: int
    agreeing: int
    agreeing_by_length: np.ndarray
    merged_agreeing_by_length: np.ndarray
    merged_disagreeing_by_length: np.ndarray
    merged_fraction: np.ndarray

    @property
    def all_merged_agree(self) -> bool:
        return self.merged_disagreeing == 0


def future_classes(data: SequenceSet, target: DFA | None = None) -> np.ndarray:
    """Myhill–Nerode class of every sequence: its state in the minimised target automaton (default parity)."""
    dfa = minimize(parity_dfa() if target is None else target)
    states = dfa.run(data.tokens)
    if np.any(states < 0):
        raise ValueError("target automaton must be defined on every sequence of data")
    return states


def _pairs_by_length(counts: np.ndarray) -> np.ndarray:
    """Unordered pairs within each cell of a ``(..., L+1, Q)`` count table, summed over leading axes and Q.

    Off-diagonal ``[ℓ1, ℓ2] = Σ c[ℓ1,q] c[ℓ2,q]``; diagonal ``Σ C(c[ℓ,q], 2)``.
    """
    c = counts.reshape(-1, *counts.shape[-2:]).astype(np.int64)
    cross = np.einsum("glq,gmq->lm", c, c)
    diag = np.sum(c * (c - 1) // 2, axis=(0, 2))
    np.fill_diagonal(cross, diag)
    return cross


def merged_pairs(labels: np.ndarray, data: SequenceSet, *, target: DFA | None = None) -> MergedPairs:
    """Merged-pair analysis of one grouping (see module docstring).

    ``labels`` ``(1 + len(data),)``: group id per candidate row (row 0 = ``h_0``, ignored).
    ``target``: the task's automaton (default: parity).
    """
    labels = np.asarray(labels)
    if labels.shape != (len(data) + 1,):
        raise ValueError(f"labels must have shape ({len(data) + 1},) = (1 + len(data),) (got {labels.shape})")
    _, group = np.unique(labels[1:], return_inverse=True)
    q = future_classes(data, target)
    n_groups = int(group.max(initial=-1)) + 1
    n_q = int(q.max(initial=-1)) + 1
    L = data.max_length
    table = np.zeros((n_groups, L + 1, n_q), dtype=np.int64)
    np.add.at(table, (group, data.lengths, q), 1)
    merged_agree = _pairs_by_length(table)
    merged_all = _pairs_by_length(table.sum(axis=2, keepdims=True))
    agreeing = _pairs_by_length(table.sum(axis=0, keepdims=True))
    merged_disagree = merged_all - merged_agree
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(agreeing > 0, merged_agree / agreeing, np.nan)
    upper = np.triu_indices(L + 1)
    return MergedPairs(
        merged=int(merged_all[upper].sum()),
        merged_agreeing=int(merged_agree[upper].sum()),
        merged_disagreeing=int(merged_disagree[upper].sum()),
        agreeing=int(agreeing[upper].sum()),
        agreeing_by_length=agreeing,
        merged_agreeing_by_length=merged_agree,
        merged_disagreeing_by_length=merged_disagree,
        merged_fraction=fraction,
    )


def merged_pair_indices(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All merged pairs ``(i, j)``, ``i < j``, as sequence indices (candidate row − 1; ``h_0`` excluded)."""
    lab = np.asarray(labels)[1:]
    order = np.argsort(lab, kind="stable")
    bounds = np.flatnonzero(np.diff(lab[order])) + 1
    first, second = [], []
    for members in np.split(order, bounds):
        if members.size > 1:
            a, b = np.triu_indices(members.size, k=1)
            first.append(members[a])
            second.append(members[b])
    if not first:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    i, j = np.concatenate(first), np.concatenate(second)
    return np.minimum(i, j), np.maximum(i, j)
