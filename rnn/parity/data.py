"""Binary sequences for the streaming parity task (van Rossem & Saxe 2025, §2.3, §C.1).

A set of variable-length sequences is a ``SequenceSet``: a padded ``int8`` token
matrix (padding ``-1``) and a length vector. Canonical order is length-major,
then lexicographic in the tokens (``0 < 1``), which is also the order in which
automaton extraction visits states.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interaction.checks import check_int, check_interval

PAD = -1


@dataclass(frozen=True)
class SequenceSet:
    """Variable-length token sequences: ``tokens`` ``(n, L_max)`` int8 padded with ``-1``; ``lengths`` ``(n,)``."""

    tokens: np.ndarray
    lengths: np.ndarray

    def __len__(self) -> int:
        return int(self.lengths.shape[0])

    @property
    def max_length(self) -> int:
        return int(self.tokens.shape[1])

    def sequence(self, i: int) -> tuple[int, ...]:
        """Sequence ``i`` as a tuple of ints."""
        return tuple(int(v) for v in self.tokens[i, : self.lengths[i]])

    def labels(self) -> list[str]:
        """Sequences as strings such as ``'0110'``."""
        return ["".join(map(str, self.sequence(i))) for i in range(len(self))]

    def of_length(self, length: int) -> np.ndarray:
        """Token matrix ``(k, length)`` of the sequences of exactly this length."""
        return self.tokens[self.lengths == length, :length]


def _binary_block(length: int) -> np.ndarray:
    """All ``2**length`` binary sequences of one length in lexicographic order, ``(2**length, length)``."""
    codes = np.arange(2**length, dtype=np.int64)
    shifts = np.arange(length - 1, -1, -1, dtype=np.int64)
    return ((codes[:, None] >> shifts[None, :]) & 1).astype(np.int8)


def _assemble(blocks: list[np.ndarray], max_length: int) -> SequenceSet:
    n = sum(b.shape[0] for b in blocks)
    tokens = np.full((n, max_length), PAD, dtype=np.int8)
    lengths = np.empty(n, dtype=np.int64)
    row = 0
    for block in blocks:
        k, length = block.shape
        tokens[row: row + k, :length] = block
        lengths[row: row + k] = length
        row += k
    return SequenceSet(tokens, lengths)


def all_sequences(max_length: int, min_length: int = 1) -> SequenceSet:
    """All binary sequences of lengths ``min_length..max_length`` (2046 for 1..10)."""
    max_length = check_int("L", max_length, minimum=1, maximum=24)
    min_length = check_int("min_length", min_length, minimum=0, maximum=max_length)
    return _assemble([_binary_block(n) for n in range(min_length, max_length + 1)], max_length)


def sample_sequences(max_length: int, fraction: float, rng: np.random.Generator) -> SequenceSet:
    """Per length ``n = 1..L``: ``Binomial(2**n, p)`` distinct sequences drawn without replacement.

    Lengths that draw zero sequences are absent (as in the P25 phase-diagram code,
    whose draw was unseeded; here ``rng`` makes it reproducible). Canonical order.
    """
    max_length = check_int("L", max_length, minimum=1, maximum=24)
    check_interval("p", fraction, 0.0, 1.0, lo_closed=False)
    blocks = []
    for n in range(1, max_length + 1):
        count = int(rng.binomial(2**n, fraction))
        if count == 0:
            continue
        chosen = np.sort(rng.choice(2**n, size=count, replace=False))
        blocks.append(_binary_block(n)[chosen])
    return _assemble(blocks, max_length)


def random_sequences(length: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` uniformly random binary sequences of one ``length``: ``(count, length)`` int8."""
    length = check_int("length", length, minimum=1)
    count = check_int("count", count, minimum=1)
    return rng.integers(0, 2, size=(count, length), dtype=np.int8)


def parity(tokens: np.ndarray) -> np.ndarray:
    """Parity of the number of ones per row of a (possibly ``-1``-padded) token matrix."""
    tokens = np.asarray(tokens)
    return (np.sum(tokens == 1, axis=-1) % 2).astype(np.int64)
