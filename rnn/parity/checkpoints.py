"""Checkpoints along training chosen by rules on the training-loss curve, and the epochs to keep for them.

The theory can be applied at any moment of training, not only at initialisation: measured
at a checkpoint, a pair's ``H``, ``Y`` and ``z = H²/(N Y)`` say what eqs. 5–7 predict from
there on (docs/theory.md §2.2–2.3). Which moments are comparable across networks is fixed
by rules on each network's own training loss ``ℓ(t)`` (``ℓ(t)``: the mean loss on the whole
training set after ``t`` epochs of updates, as ``train_ensemble`` records it):

* ``init``: ``t = 0``, the initial network;
* ``drop``: the first epoch ``t >= 1`` with ``ℓ(t) <= drop_level · ℓ(0)``, where the training
  loss first drops (``drop_level = ½`` by default); none if it never does;
* ``plateau:q`` (``0 < q < 1``): ``t = round(q · t_drop)``, a point a fraction ``q`` of the way
  through the plateau before the drop (none without a drop);
* ``end``: the last epoch, the trained network.

Rule epochs are exact; the parameters kept for them are not stored at every epoch (that
would cost the whole trajectory). ``tracking_epochs`` lists the epochs whose parameters
are kept while training: every epoch up to ``DENSE_UNTIL``, then a geometric grid with
ratio ``GRID_RATIO``. A checkpoint uses the last kept epoch at or before its rule epoch
(``snap``), at most ``GRID_RATIO − 1`` (10 %) of the epoch earlier; ``end`` uses the final
parameters themselves.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RULES = ("init", "plateau", "drop", "end")
#: every epoch up to this one is kept; beyond it, a geometric grid
DENSE_UNTIL = 20
#: ratio of consecutive kept epochs beyond DENSE_UNTIL
GRID_RATIO = 1.1
#: marks a rule that selects no epoch for a network (no drop)
NONE = -1


def parse_rule(text: str) -> tuple[str, float | None]:
    """``'init'``, ``'drop'``, ``'end'`` or ``'plateau:q'`` with ``0 < q < 1`` -> ``(name, q)``; else ``ValueError``."""
    name, _, arg = str(text).strip().partition(":")
    if name not in RULES:
        raise ValueError(f"checkpoints: unknown rule {text!r}; rules are init, plateau:q (0 < q < 1), drop, end")
    if name != "plateau":
        if arg:
            raise ValueError(f"checkpoints: rule {name!r} takes no argument (got {text!r})")
        return name, None
    try:
        q = float(arg)
    except ValueError:
        raise ValueError(f"checkpoints: 'plateau:q' needs a number q in (0, 1) (got {text!r})") from None
    if not 0.0 < q < 1.0:
        raise ValueError(f"checkpoints: plateau:q must have 0 < q < 1, or it selects the epoch of init or drop "
                         f"(got {text!r})")
    return name, q


def check_rules(rules: Sequence[str]) -> tuple[str, ...]:
    """Every rule parsed (``parse_rule``), none repeated; returns them as given."""
    rules = tuple(str(r).strip() for r in rules)
    for rule in rules:
        parse_rule(rule)
    if len(set(rules)) != len(rules):
        raise ValueError(f"checkpoints must not repeat a rule (got {rules})")
    return rules


def drop_epoch(loss: np.ndarray, drop_level: float) -> int:
    """First ``t >= 1`` with ``loss[t] <= drop_level * loss[0]`` (``NONE`` if there is none); NaN never qualifies."""
    loss = np.asarray(loss, dtype=float)
    if loss.ndim != 1 or loss.size == 0 or not np.isfinite(loss[0]):
        return NONE
    hit = np.flatnonzero(np.nan_to_num(loss[1:], nan=np.inf) <= drop_level * loss[0])
    return int(hit[0]) + 1 if hit.size else NONE


def rule_epochs(loss: np.ndarray, epochs: int, rules: Sequence[str], drop_level: float = 0.5) -> np.ndarray:
    """The epoch each rule selects for one network (``NONE`` where it selects none; module docstring).

    ``loss``: the training-loss curve, ``loss[t]`` after ``t`` epochs (NaN after the run
    stopped); ``epochs``: the epochs of updates the network received (its ``end``).
    """
    if not 0.0 < drop_level < 1.0:
        raise ValueError(f"drop_level must lie in (0, 1) (got {drop_level})")
    t_drop = drop_epoch(loss, drop_level)
    out = []
    for rule in rules:
        name, q = parse_rule(rule)
        if name == "init":
            out.append(0)
        elif name == "end":
            out.append(int(epochs))
        elif name == "drop":
            out.append(t_drop)
        else:
            out.append(NONE if t_drop == NONE else int(round(q * t_drop)))
    return np.asarray(out, dtype=np.int64)


def tracking_epochs(max_epochs: int) -> np.ndarray:
    """Epochs whose parameters are kept while training: ``0..DENSE_UNTIL``, then ratio ``GRID_RATIO`` up to ``max_epochs``."""
    dense = np.arange(0, min(DENSE_UNTIL, max_epochs) + 1)
    if max_epochs <= DENSE_UNTIL:
        return dense
    count = int(np.ceil(np.log(max_epochs / DENSE_UNTIL) / np.log(GRID_RATIO))) + 1
    grid = np.unique(np.floor(DENSE_UNTIL * GRID_RATIO ** np.arange(count)).astype(np.int64))
    return np.unique(np.concatenate([dense, grid[grid <= max_epochs], [max_epochs]]))


def snap(epochs: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Each epoch replaced by the last kept epoch at or before it (``NONE`` stays ``NONE``)."""
    epochs, kept = np.asarray(epochs, dtype=np.int64), np.sort(np.asarray(kept, dtype=np.int64))
    index = np.searchsorted(kept, epochs, side="right") - 1
    return np.where(epochs == NONE, NONE, kept[np.clip(index, 0, kept.size - 1)])
