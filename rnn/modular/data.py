"""The modular-addition task of Nanda et al. (2023, §3; docs/experiments.md §4.1).

Every ordered pair ``(a, b)`` in ``Z_P × Z_P`` is one example ``a, b, =`` with answer
``c = (a + b) mod P``. Token ``P`` is ``=``, so the vocabulary has ``P + 1`` entries.
Rows are always in lexicographic ``(a, b)`` order (row ``a·P + b``), so that every
measurement on "all P² inputs" can reshape a per-row quantity to a ``(P, P)`` grid.

The train/test split is the reference code's (``gen_train_test``): the list of
pairs in lexicographic order is shuffled by ``random.Random(seed).shuffle`` and the
first ``int(frac · P²)`` are the training set. It is returned as explicit boolean
masks over the lexicographic rows, and every metric of the toolkit takes these masks
(test = every pair not in train; a known bug elsewhere computed "test" accuracy over
all pairs).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from interaction.checks import check_int, check_interval


def check_modulus(P: int) -> int:
    """Validate the modulus: an integer ``P >= 3``."""
    return check_int("P", P, minimum=3)


def is_prime(n: int) -> bool:
    """Trial-division primality test (``n`` is at most a few thousand here)."""
    if n < 2:
        return False
    return all(n % d for d in range(2, int(n ** 0.5) + 1))


@dataclass(frozen=True)
class ModularAdditionData:
    """All ``P²`` examples of ``(a + b) mod P`` in lexicographic order, with the train/test split.

    Attributes: ``P``; ``tokens`` ``(P², 3)`` int64 rows ``(a, b, P)``; ``labels`` ``(P²,)``
    int64 answers; ``train_mask`` / ``test_mask`` complementary boolean masks; the
    ``train_frac`` and ``seed`` that produced the split.
    """

    P: int
    train_frac: float
    seed: int
    tokens: np.ndarray
    labels: np.ndarray
    train_mask: np.ndarray
    test_mask: np.ndarray

    @property
    def a(self) -> np.ndarray:
        return self.tokens[:, 0]

    @property
    def b(self) -> np.ndarray:
        return self.tokens[:, 1]

    @property
    def n_train(self) -> int:
        return int(self.train_mask.sum())

    @property
    def n_test(self) -> int:
        return int(self.test_mask.sum())


def modular_addition_data(P: int, train_frac: float, seed: int = 0) -> ModularAdditionData:
    """Build the task for modulus ``P`` with a seeded split keeping ``int(train_frac·P²)`` pairs for training.

    ``train_frac`` must lie in the open interval (0, 1) and leave at least one pair
    on each side of the split.
    """
    P = check_modulus(P)
    train_frac = float(check_interval("train_frac", train_frac, 0.0, 1.0,
                                      lo_closed=False, hi_closed=False))
    seed = check_int("seed", seed, minimum=0)  # random.Random(-s) would silently equal Random(s)
    n_train = int(train_frac * P * P)
    if not 0 < n_train < P * P:
        raise ValueError(f"train_frac must leave at least one train and one test pair "
                         f"(got train_frac={train_frac} -> {n_train} of {P * P} pairs)")
    a, b = np.divmod(np.arange(P * P), P)
    tokens = np.stack([a, b, np.full_like(a, P)], axis=1).astype(np.int64)
    labels = ((a + b) % P).astype(np.int64)
    rows = list(range(P * P))
    random.Random(seed).shuffle(rows)  # the reference code's split: shuffle, take the first int(frac·P²)
    train_mask = np.zeros(P * P, dtype=bool)
    train_mask[rows[:n_train]] = True
    return ModularAdditionData(P=P, train_frac=train_frac, seed=seed, tokens=tokens, labels=labels,
                               train_mask=train_mask, test_mask=~train_mask)
