"""Prefix tries of token sequences: step every distinct prefix of a batch exactly once.

An RNN's state after a prefix depends only on that prefix, so a batch of
sequences that share prefixes (every batch of the streaming parity task does:
all 2^n sequences of length n share the 2^t prefixes of length t < n) needs one
recurrent step per *distinct* prefix, not one per (sequence, time step).
The trie lists, for every depth t, the distinct prefixes of length t and the
index of their parent (the prefix without its last token) at depth t - 1:

    h[t][j] = φ(W_ih[:, token[t][j]] + b_ih + W_hh h[t-1][parent[t][j]] + b_hh)

Nodes are numbered level by level in one flat layout (node 0 is the empty
prefix, whose state is h_0); within a level they are in lexicographic order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from interaction.checks import check_int


@dataclass(frozen=True)
class PrefixTrie:
    """Distinct prefixes of a set of sequences, level by level.

    Attributes
    ----------
    parents, tokens : tuple of ``(n_t,)`` int64 arrays, one per depth ``t = 1..T``
        For each distinct prefix of length ``t``: the level-local index of its parent
        at depth ``t - 1`` and its last token.
    offsets : ``(T + 2,)`` int64
        Flat node numbering: level ``t`` occupies ``offsets[t]:offsets[t+1]`` (level 0 is node 0).
    ends : ``(n,)`` int64
        Flat node index of each sequence's full prefix (``0`` for an empty sequence).
    """

    parents: tuple[np.ndarray, ...]
    tokens: tuple[np.ndarray, ...]
    offsets: np.ndarray
    ends: np.ndarray

    @property
    def depth(self) -> int:
        """Length ``T`` of the longest sequence."""
        return len(self.parents)

    @property
    def n_nodes(self) -> int:
        """Number of distinct prefixes, the empty prefix included."""
        return int(self.offsets[-1])

    def level_sizes(self) -> np.ndarray:
        """Number of distinct prefixes at each depth ``0..T``."""
        return np.diff(self.offsets)


@njit(cache=True)
def _trie_kernel(tokens, lengths, n_tokens):  # pragma: no cover - compiled
    """Flat trie arrays; level t's distinct keys ``parent * n_tokens + token`` in increasing order."""
    n = lengths.shape[0]
    depth = 0
    for i in range(n):
        depth = max(depth, lengths[i])
    capacity = 1 + lengths.sum()
    parents = np.empty(capacity, np.int64)
    last = np.empty(capacity, np.int64)
    parents[0] = -1
    last[0] = -1
    offsets = np.zeros(depth + 2, np.int64)
    offsets[1] = 1
    node = np.zeros(n, np.int64)
    ends = np.zeros(n, np.int64)
    slot = np.full(max(n, 1) * n_tokens, -1, np.int64)
    count, previous = 1, 1
    for t in range(1, depth + 1):
        for i in range(n):
            if lengths[i] >= t:
                slot[node[i] * n_tokens + tokens[i, t - 1]] = 0
        size = 0
        for key in range(previous * n_tokens):
            if slot[key] == 0:
                slot[key] = size
                parents[count + size] = key // n_tokens
                last[count + size] = key % n_tokens
                size += 1
        for i in range(n):
            if lengths[i] >= t:
                node[i] = slot[node[i] * n_tokens + tokens[i, t - 1]]
                if lengths[i] == t:
                    ends[i] = count + node[i]
        for key in range(previous * n_tokens):
            slot[key] = -1
        count += size
        offsets[t + 1] = count
        previous = size
    return parents[:count], last[:count], offsets, ends


def build_trie(tokens: np.ndarray, lengths: np.ndarray, n_tokens: int = 2) -> PrefixTrie:
    """Prefix trie of the sequences ``tokens[i, :lengths[i]]`` over the alphabet ``0..n_tokens-1``.

    At depth ``t`` a sequence's node is the rank of ``parent_node * n_tokens + token``
    among the distinct such keys of that level (hence lexicographic order within a
    level); linear time per level (numba).
    """
    n_tokens = check_int("n_tokens", n_tokens, minimum=1)
    tokens = np.asarray(tokens)
    lengths = np.asarray(lengths, dtype=np.int64)
    if tokens.ndim != 2 or lengths.shape != (tokens.shape[0],):
        raise ValueError(f"tokens must be (n, T) and lengths (n,) (got {tokens.shape} and {lengths.shape})")
    if lengths.size and (lengths.min() < 0 or lengths.max() > tokens.shape[1]):
        raise ValueError(f"lengths must lie in [0, {tokens.shape[1]}] (got range "
                         f"[{lengths.min()}, {lengths.max()}])")
    valid = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
    if np.any(valid & ((tokens < 0) | (tokens >= n_tokens))):
        raise ValueError(f"tokens must lie in [0, {n_tokens - 1}] within each sequence's length")
    return trie_of_valid(tokens, lengths, n_tokens)


def trie_of_valid(tokens: np.ndarray, lengths: np.ndarray, n_tokens: int) -> PrefixTrie:
    """``build_trie`` without input checks, for callers that validated the data once (hot loops)."""
    parents, last, offsets, ends = _trie_kernel(tokens.astype(np.int64), lengths.astype(np.int64), n_tokens)
    levels = range(1, offsets.shape[0] - 1)
    return PrefixTrie(tuple(parents[offsets[t]: offsets[t + 1]] for t in levels),
                      tuple(last[offsets[t]: offsets[t + 1]] for t in levels), offsets, ends)
