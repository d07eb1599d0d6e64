"""Nanda et al. (2023)'s published values: the reference row of the across-seed comparison (``seeds``).

Every number here is the paper's, as docs/experiments.md records it, and lives only here:
the setting of the mainline run from §4.1 and §4.3 (``P = 113``, training fraction 0.3,
weight decay 1), its phase boundaries, generalisation epoch and final loss from §4.4 (When
things happen), the qualitative behaviour of the restricted and excluded losses in circuit
formation from §4.4, and the key frequencies of the mainline and of three other seeds from
§4.5 (Key frequencies). What the paper does not report (the epochs at which test accuracy
reaches 0.95 or 0.99, the weight norm and Gini coefficients at the start and end, the split
of its final loss) has no field and shows as a missing value in the table, never as an estimate.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperRun:
    """One published run: its setting and the quantities the comparison table has columns for."""

    label: str
    P: int
    train_frac: float
    weight_decay: float
    memorisation_end: int
    cleanup_start: int
    cleanup_end: int
    #: "after around 10 000 epochs the network generalises": no accuracy threshold is given
    generalises_after: int
    key_frequencies: tuple[int, ...]
    #: restricted loss begins to fall during circuit formation, before the test loss falls
    restricted_falls_before_test: bool
    #: excluded loss rises during circuit formation
    excluded_rises_in_circuit_formation: bool
    #: "the paper's final loss is 2.4e-7", without naming the split
    final_loss: float


NANDA_MAINLINE = PaperRun(
    label="Nanda et al. (2023), mainline", P=113, train_frac=0.3, weight_decay=1.0,
    memorisation_end=1_400, cleanup_start=9_400, cleanup_end=14_000, generalises_after=10_000,
    key_frequencies=(14, 35, 41, 42, 52), restricted_falls_before_test=True,
    excluded_rises_in_circuit_formation=True, final_loss=2.4e-7)

#: key frequencies of the paper's other seeds (App. C.2.1; docs/experiments.md §4.5)
NANDA_OTHER_SEEDS_KEY_FREQUENCIES: dict[int, tuple[int, ...]] = {
    1: (2, 9, 19, 31), 2: (40, 44, 53), 3: (31, 45, 49, 52)}
