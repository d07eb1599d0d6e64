"""Which sequences and prefix pairs the experiment uses, and which pairs it fits one by one.

``task_data`` draws the training set of the task; ``candidate_pairs`` draws random pairs per
``(m1, m2)`` length cell; ``select_pairs`` keeps, per cell, up to ``pairs_per_cell`` agreeing
pairs (the same target on every shared continuation, ``S = 0``) and as many disagreeing pairs,
all with at least one shared continuation; ``per_pair_choice`` picks the pairs whose rates are
fitted individually.
"""
from __future__ import annotations

import numpy as np

from interaction.checks import check_int
from rnn.automata.random_dfa import dfa_targets, random_dfa
from rnn.measure.pairs import plan_pairs
from rnn.parity.data import SequenceSet, all_sequences, parity, sample_sequences

from validation.pair_dynamics.config import PairDynamicsConfig


def task_data(config: PairDynamicsConfig, rng: np.random.Generator) -> tuple[SequenceSet, np.ndarray, str]:
    """Training sequences, their targets and the task's name (all sequences, or a per-length Binomial draw)."""
    data = all_sequences(config.L) if config.fraction == 1.0 else sample_sequences(config.L, config.fraction, rng)
    if config.task == "parity":
        return data, parity(data.tokens), "parity"
    dfa = random_dfa(seed=config.seed)
    return data, dfa_targets(dfa, data), f"random DFA (seed {config.seed}, {dfa.n_states} states)"


def n_outputs(targets: np.ndarray) -> int:
    """Output classes of the network: at least 2, enough for every target."""
    return int(max(2, targets.max() + 1))


def candidate_pairs(lengths: np.ndarray, rng: np.random.Generator, *, per_cell: int,
                    min_length: int = 1) -> np.ndarray:
    """Random distinct sequence pairs ``(i, j)`` per length cell ``m_i <= m_j``: ``(n, 2)`` int array.

    Up to ``per_cell`` pairs per cell (fewer when the cell has fewer distinct pairs).
    """
    lengths = np.asarray(lengths)
    per_cell = check_int("per_cell", per_cell, minimum=1)
    out = []
    levels = [m for m in np.unique(lengths) if m >= min_length]
    for a, m1 in enumerate(levels):
        rows1 = np.flatnonzero(lengths == m1)
        for m2 in levels[a:]:
            rows2 = np.flatnonzero(lengths == m2)
            n_distinct = rows1.size * rows2.size - (rows1.size if m1 == m2 else 0)
            if m1 == m2:
                n_distinct //= 2
            k = min(per_cell, n_distinct)
            seen: set[tuple[int, int]] = set()
            while len(seen) < k:
                i, j = int(rng.choice(rows1)), int(rng.choice(rows2))
                if i == j:
                    continue
                seen.add((min(i, j), max(i, j)) if m1 == m2 else (i, j))
            out.extend(sorted(seen))
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


def select_pairs(data: SequenceSet, targets: np.ndarray, rng: np.random.Generator,
                 config: PairDynamicsConfig) -> np.ndarray:
    """Per length cell, up to ``pairs_per_cell`` agreeing (``S = 0``) and as many disagreeing pairs with ``N >= 1``."""
    cand = candidate_pairs(data.lengths, rng, per_cell=8 * config.pairs_per_cell, min_length=config.min_length)
    plan = plan_pairs(data, targets, [(data.sequence(i), data.sequence(j)) for i, j in cand],
                      n_out=n_outputs(targets))
    S = np.bincount(plan.pair, weights=np.sum(plan.y_tilde ** 2, axis=1), minlength=plan.n_pairs)
    agree = (S == 0) & (plan.N > 0)
    disagree = (S > 0) & (plan.N > 0)
    m1, m2 = data.lengths[cand[:, 0]], data.lengths[cand[:, 1]]
    keep = []
    for cell in np.unique(np.stack([m1, m2], 1), axis=0):
        in_cell = (m1 == cell[0]) & (m2 == cell[1])
        for kind in (agree, disagree):
            keep.extend(np.flatnonzero(in_cell & kind)[: config.pairs_per_cell])
    return cand[np.sort(np.asarray(keep, dtype=np.int64))]


def per_pair_choice(rng: np.random.Generator, agreeing: np.ndarray, observed: np.ndarray,
                    diverged_first: np.ndarray, H: np.ndarray, n: int) -> np.ndarray:
    """Pairs to fit one by one: merged agreeing pairs that first diverged, then other agreeing, then disagreeing."""
    valid = np.all(H > 0, axis=0)
    groups = [agreeing & observed & diverged_first, agreeing & observed & ~diverged_first,
              agreeing & ~observed, ~agreeing]
    chosen: list[int] = []
    quota = [max(1, n // 4)] * 3 + [n]
    for group, q in zip(groups, quota):
        pool = rng.permutation(np.flatnonzero(group & valid))
        take = [int(k) for k in pool if k not in chosen][: min(q, n - len(chosen))]
        chosen.extend(take)
    # fill up with any remaining valid pair
    for k in rng.permutation(np.flatnonzero(valid)):
        if len(chosen) >= n:
            break
        if int(k) not in chosen:
            chosen.append(int(k))
    return np.asarray(chosen[:n], dtype=np.int64)
