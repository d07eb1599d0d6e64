"""Deterministic (Moore) automata as arrays: run, minimise, compare (van Rossem & Saxe 2025, App. A).

A ``DFA`` holds a transition table ``(n_states, n_symbols)`` (``-1`` = missing transition),
an output class per state and a start state. It may be partial, as automata extracted
from hidden states are before training has finished.

* **Finite** = every state has every transition (P25's notion).
* **Minimisation** is Hopcroft's algorithm on the part reachable from the start state; a
  partial automaton is first completed with a sink whose output differs from every real
  output, so two states are merged only if they agree on all defined outputs *and* on
  where they are undefined; the sink is removed again afterwards (its transitions
  become ``-1``). ``minimal_size`` counts the same classes with a vectorised Moore
  refinement (numba), checked against Hopcroft in the tests.
* **Equivalence** is a breadth-first search of the product automaton, which also returns
  a shortest distinguishing string.

This module knows nothing about networks; extraction from hidden states is
``rnn.automata.extraction``.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numba
import numpy as np

from interaction.checks import check_int

UNDEFINED = -1  # missing transition / state

# ----------------------------------------------------------------------------- DFA


@dataclass(frozen=True)
class DFA:
    """A deterministic (Moore) automaton, possibly partial.

    ``transitions`` ``(n_states, n_symbols)`` int64, ``-1`` where a transition is missing;
    ``outputs`` ``(n_states,)`` int64 (output class per state; ``-1`` = no output);
    ``start`` the start state. The output of a string is the output of the state it
    leads to (undefined if it falls off a missing transition).
    """

    transitions: np.ndarray
    outputs: np.ndarray
    start: int = 0

    def __post_init__(self):
        trans = np.asarray(self.transitions, dtype=np.int64)
        outs = np.asarray(self.outputs, dtype=np.int64)
        if trans.ndim != 2:
            raise ValueError(f"transitions must be a 2-D (n_states, n_symbols) array (got shape {trans.shape})")
        if outs.shape != (trans.shape[0],):
            raise ValueError(f"outputs must have shape ({trans.shape[0]},) (got {outs.shape})")
        if trans.shape[0] < 1:
            raise ValueError("transitions must have at least one state (got 0)")
        if trans.size and (trans.min() < -1 or trans.max() >= trans.shape[0]):
            raise ValueError(f"transitions must lie in [-1, {trans.shape[0] - 1}]")
        check_int("start", self.start, minimum=0, maximum=trans.shape[0] - 1)
        object.__setattr__(self, "transitions", trans)
        object.__setattr__(self, "outputs", outs)
        object.__setattr__(self, "start", int(self.start))

    @property
    def n_states(self) -> int:
        return int(self.transitions.shape[0])

    @property
    def n_symbols(self) -> int:
        return int(self.transitions.shape[1])

    @property
    def is_finite(self) -> bool:
        """Every state has every transition (the P25 notion of a 'finite' automaton)."""
        return bool(np.all(self.transitions >= 0))

    def run(self, tokens: np.ndarray) -> np.ndarray:
        """States reached from ``start`` after reading ``tokens`` (``(T,)`` or ``(B, T)``, ``-1`` padding).

        Returns ``-1`` where the string falls off a missing transition.
        """
        toks = np.asarray(tokens)
        single = toks.ndim == 1
        toks = np.atleast_2d(toks)
        if toks.size and toks.max() >= self.n_symbols:
            raise ValueError(f"tokens must lie in [0, {self.n_symbols - 1}] (or -1 padding)")
        state = np.full(toks.shape[0], self.start, dtype=np.int64)
        for t in range(toks.shape[1]):
            tok = toks[:, t].astype(np.int64)
            live = (tok >= 0) & (state >= 0)
            state = np.where(live, self.transitions[np.maximum(state, 0), np.maximum(tok, 0)],
                             np.where(tok >= 0, UNDEFINED, state))
        return state[0] if single else state

    def output(self, tokens: np.ndarray) -> np.ndarray:
        """Output class per string (``-1`` where the automaton is undefined on it)."""
        state = np.asarray(self.run(tokens))
        return np.where(state >= 0, self.outputs[np.maximum(state, 0)], UNDEFINED)


def parity_dfa() -> DFA:
    """The minimal streaming-parity automaton: state = parity so far, output = that parity."""
    return DFA(np.array([[0, 1], [1, 0]]), np.array([0, 1]), 0)


# -------------------------------------------------------------------- minimisation


def reachable_states(dfa: DFA) -> np.ndarray:
    """Boolean mask of the states reachable from ``start``."""
    seen = np.zeros(dfa.n_states, dtype=bool)
    seen[dfa.start] = True
    frontier = np.array([dfa.start])
    while frontier.size:
        nxt = dfa.transitions[frontier].ravel()
        nxt = np.unique(nxt[nxt >= 0])
        frontier = nxt[~seen[nxt]]
        seen[frontier] = True
    return seen


def _completed_reachable(trans: np.ndarray, outputs: np.ndarray, start: int):
    """Restrict to the reachable part and complete with a sink (output below all others) if partial.

    Returns ``(trans, outputs, start, sink)`` with ``sink = -1`` when none was needed.
    """
    dfa = DFA(trans, outputs, start)
    keep = np.nonzero(reachable_states(dfa))[0]
    new_id = np.full(dfa.n_states, UNDEFINED, dtype=np.int64)
    new_id[keep] = np.arange(keep.size)
    t = dfa.transitions[keep]
    t = np.where(t >= 0, new_id[np.maximum(t, 0)], UNDEFINED)
    o = dfa.outputs[keep]
    sink = -1
    if np.any(t < 0):
        sink = keep.size
        t = np.vstack([np.where(t < 0, sink, t), np.full((1, t.shape[1]), sink)])
        o = np.concatenate([o, [o.min() - 1]])
    return t, o, int(new_id[dfa.start]), sink


def _hopcroft_blocks(trans: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Hopcroft's partition refinement for a complete Moore automaton: block id per state."""
    n, k = trans.shape
    inverse = [[[] for _ in range(n)] for _ in range(k)]
    for p in range(n):
        for a in range(k):
            inverse[a][trans[p, a]].append(p)
    _, block_of = np.unique(outputs, return_inverse=True)
    block_of = block_of.astype(np.int64)
    blocks = [set(np.nonzero(block_of == b)[0].tolist()) for b in range(block_of.max() + 1)]
    work = set(range(len(blocks)))
    while work:
        splitter = list(blocks[work.pop()])
        for a in range(k):
            X = {p for q in splitter for p in inverse[a][q]}
            for b in {int(block_of[p]) for p in X}:
                Y = blocks[b]
                inter = Y & X
                if len(inter) == len(Y):
                    continue
                diff = Y - inter
                blocks[b] = inter
                blocks.append(diff)
                new = len(blocks) - 1
                block_of[list(diff)] = new
                if b in work:
                    work.add(new)
                else:
                    work.add(b if len(inter) <= len(diff) else new)
    return block_of


def _canonical_quotient(trans, outputs, start, block_of, sink) -> DFA:
    """Quotient automaton numbered in BFS order from the start (sink block removed)."""
    n_blocks = int(block_of.max()) + 1
    q_trans = np.empty((n_blocks, trans.shape[1]), dtype=np.int64)
    q_trans[block_of] = block_of[trans]
    q_out = np.empty(n_blocks, dtype=np.int64)
    q_out[block_of] = outputs
    sink_block = int(block_of[sink]) if sink >= 0 else -1
    number = np.full(n_blocks, UNDEFINED, dtype=np.int64)
    queue = deque([int(block_of[start])])
    number[queue[0]] = 0
    seen_order = [queue[0]]
    while queue:
        b = queue.popleft()
        for c in q_trans[b]:
            if c != sink_block and number[c] < 0:
                number[c] = len(seen_order)
                seen_order.append(int(c))
                queue.append(int(c))
    blocks = np.array(seen_order)
    t = q_trans[blocks]
    t = np.where(t == sink_block, UNDEFINED, number[t])
    return DFA(t, q_out[blocks], 0)


def minimize(dfa: DFA) -> DFA:
    """Minimal automaton with the same input→output behaviour (Hopcroft; see module docstring).

    The result is in canonical form (states numbered in BFS order from the start, symbols
    in order), so two minimal automata of equivalent DFAs are equal arrays.
    """
    trans, outs, start, sink = _completed_reachable(dfa.transitions, dfa.outputs, dfa.start)
    blocks = _hopcroft_blocks(trans, outs)
    return _canonical_quotient(trans, outs, start, blocks, sink)


@numba.njit(cache=True)
def _relabel(key, out):
    """Dense ids (first-seen order) for int64 ``key`` via an open-addressing hash table; returns the count."""
    n = key.size
    bits = 2
    while (1 << bits) < 4 * n:
        bits += 1
    mask = (1 << bits) - 1
    table_key = np.empty(1 << bits, np.int64)
    table_val = np.full(1 << bits, -1, np.int64)
    count = 0
    for i in range(n):
        h = np.int64((np.uint64(key[i]) * np.uint64(11400714819323198485)) >> np.uint64(64 - bits))
        while table_val[h] != -1 and table_key[h] != key[i]:
            h = (h + 1) & mask
        if table_val[h] == -1:
            table_key[h] = key[i]
            table_val[h] = count
            count += 1
        out[i] = table_val[h]
    return count


@numba.njit(cache=True)
def _moore_block_count(trans, outputs):
    """Number of Myhill–Nerode classes of a complete Moore automaton (Moore's partition refinement).

    Each round refines the class of every state by the classes of its successors
    (``key = class·count + class[δ(q, a)]``, re-densified after every symbol) until the
    number of classes stops growing.
    """
    n, k = trans.shape
    cls = np.empty(n, np.int64)
    count = _relabel(outputs, cls)
    key = np.empty(n, np.int64)
    new = np.empty(n, np.int64)
    while True:
        new[:] = cls
        for a in range(k):
            for i in range(n):
                key[i] = new[i] * count + cls[trans[i, a]]
            _relabel(key, new)
        new_count = _relabel(new, cls)
        if new_count == count:
            return new_count
        count = new_count


def minimal_size(dfa: DFA) -> int:
    """Number of states of ``minimize(dfa)`` (sink excluded), computed by vectorised Moore refinement."""
    trans, outs, _, sink = _completed_reachable(dfa.transitions, dfa.outputs, dfa.start)
    return _moore_block_count(trans, outs) - (1 if sink >= 0 else 0)


# ---------------------------------------------------------------------- comparison


def distinguishing_string(dfa_a: DFA, dfa_b: DFA) -> tuple[int, ...] | None:
    """A shortest string on which the two automata's outputs differ (or ``None`` if equivalent).

    Product-automaton breadth-first search; "undefined" (falling off a missing transition)
    counts as an output of its own.
    """
    if dfa_a.n_symbols != dfa_b.n_symbols:
        raise ValueError(f"automata must share the alphabet size (got {dfa_a.n_symbols} and {dfa_b.n_symbols})")

    def out(dfa, s):
        return ("undefined",) if s < 0 else ("out", int(dfa.outputs[s]))

    def step(dfa, s, a):
        return UNDEFINED if s < 0 else int(dfa.transitions[s, a])

    first = (dfa_a.start, dfa_b.start)
    parent = {first: None}
    queue = deque([first])
    while queue:
        pair = queue.popleft()
        if out(dfa_a, pair[0]) != out(dfa_b, pair[1]):
            word = []
            while parent[pair] is not None:
                pair, a = parent[pair]
                word.append(a)
            return tuple(reversed(word))
        for a in range(dfa_a.n_symbols):
            nxt = (step(dfa_a, pair[0], a), step(dfa_b, pair[1], a))
            if nxt not in parent:
                parent[nxt] = (pair, a)
                queue.append(nxt)
    return None


def equivalent(dfa_a: DFA, dfa_b: DFA) -> bool:
    """Whether two automata produce the same output on every string (product-automaton search)."""
    return distinguishing_string(dfa_a, dfa_b) is None
