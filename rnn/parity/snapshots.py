"""Train one Elman RNN and keep its *parameters* at chosen epochs (for measurements along training).

The pair measurements of the interaction theory (``rnn.measure.pairs``:
Jacobian–vector products through every shared continuation) need the whole parameter
set at each snapshot. This is ``train_ensemble`` with one member and
``track_params=True``, unpacked into one ``rnn/parity/elman.py`` param dict per snapshot.

A snapshot at epoch k holds the parameters at the start of epoch k (after k epochs of
updates), matching ``train_ensemble``'s ``track_epochs`` convention.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from interaction.checks import check_int, check_positive
from rnn.parity.data import SequenceSet
from rnn.parity.ensemble import TrainConfig, train_ensemble


@dataclass(frozen=True)
class SnapshotRun:
    """Outcome of ``train_with_snapshots``.

    ``snapshot_epochs[j]`` is the epoch of ``snapshots[j]`` (an ``rnn/parity/elman.py`` param dict in
    the training dtype); requested epochs after the run stopped are absent. ``train_loss[k]``
    is the mean training loss after k epochs; ``status`` is ``'converged'``, ``'capped'``, ``'stalled'`` or
    ``'diverged'`` and ``epochs`` the number of epochs of updates.
    """

    config: TrainConfig
    seed: int
    gain: float
    snapshot_epochs: np.ndarray
    snapshots: tuple[dict[str, torch.Tensor], ...]
    train_loss: np.ndarray
    status: str
    epochs: int


def train_with_snapshots(data: SequenceSet, targets: np.ndarray, *, config: TrainConfig, seed: int,
                         gain: float, snapshot_epochs: Sequence[int],
                         progress: bool = False) -> SnapshotRun:
    """Train ``elman.init_params(seed=seed, gain=gain)`` on ``data`` and keep parameters at ``snapshot_epochs``.

    Same protocol, loss and stopping rule as ``train_ensemble`` (it is a one-member
    ensemble); ``snapshot_epochs`` must lie in ``[0, config.max_epochs]``.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError("config must be a TrainConfig")
    seed = check_int("seed", seed, minimum=0)
    gain = float(check_positive("gain", gain))
    res = train_ensemble(data, targets, config=config, seeds=[seed], gains=[gain],
                         track_epochs=snapshot_epochs, track_data=_no_tracked_sequences(data),
                         track_params=True, progress=progress)
    epochs = int(res.epochs[0])
    kept = np.flatnonzero(res.tracked_epochs <= epochs)
    dtype = config.torch_dtype
    snaps = tuple({k: torch.from_numpy(v[j, 0].copy()).to(dtype) for k, v in res.tracked_params.items()}
                  for j in kept)
    return SnapshotRun(config=config, seed=seed, gain=gain, snapshot_epochs=res.tracked_epochs[kept],
                       snapshots=snaps, train_loss=res.train_loss[0, :epochs + 1].copy(),
                       status=str(res.status[0]), epochs=epochs)


def _no_tracked_sequences(data: SequenceSet) -> SequenceSet:
    """A one-sequence tracking set: only the parameters are wanted, not the hidden states."""
    return SequenceSet(data.tokens[:1], data.lengths[:1])
