"""Train one Elman RNN and keep its *parameters* at chosen epochs (for measurements along training).

``rnn.ensemble.train_ensemble`` records hidden states at tracked epochs; the pair
measurements of the interaction theory (``rnn.pair_measurements``: Jacobian–vector
products through every shared continuation) need the whole parameter set at each
snapshot. This loop is member-for-member the same training as ``train_ensemble`` —
the same initialisation (``elman.init_params``), the same minibatch order
(``ensemble.paper_minibatches`` driven by ``default_rng(config.shuffle_seed)``), the
same prefix-shared hand-written gradients (``ensemble.loss_and_gradients``) and the
same stopping rule — so its final parameters equal ``train_ensemble``'s for that
(seed, gain); ``tests/test_pair_dynamics_pipeline.py`` checks this.

A snapshot at epoch k holds the parameters at the start of epoch k (after k epochs of
updates), matching ``train_ensemble``'s ``track_epochs`` convention.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from interaction.checks import check_int, check_positive
from rnn import elman
from rnn.ensemble import TrainConfig, loss_and_gradients, paper_minibatches
from rnn.parity_data import SequenceSet


@dataclass(frozen=True)
class SnapshotRun:
    """Outcome of ``train_with_snapshots``.

    ``snapshot_epochs[j]`` is the epoch of ``snapshots[j]`` (an ``rnn/elman.py`` param dict in
    the training dtype); requested epochs after the run stopped are absent. ``train_loss[k]``
    is the mean training loss after k epochs; ``status`` is ``'converged'``, ``'capped'`` or
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


def _subset(data: SequenceSet, rows: np.ndarray) -> SequenceSet:
    return SequenceSet(data.tokens[rows], data.lengths[rows])


def train_with_snapshots(data: SequenceSet, targets: np.ndarray, *, config: TrainConfig, seed: int,
                         gain: float, snapshot_epochs: Sequence[int],
                         progress: bool = False) -> SnapshotRun:
    """Train ``elman.init_params(seed=seed, gain=gain)`` on ``data`` and keep parameters at ``snapshot_epochs``.

    Same protocol, loss and stopping rule as ``train_ensemble`` (see module docstring);
    ``snapshot_epochs`` must lie in ``[0, config.max_epochs]``.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError("config must be a TrainConfig")
    seed = check_int("seed", seed, minimum=0)
    gain = float(check_positive("gain", gain))
    wanted = np.unique(np.asarray(snapshot_epochs, dtype=np.int64))
    if wanted.size and (wanted.min() < 0 or wanted.max() > config.max_epochs):
        raise ValueError(f"snapshot_epochs must lie in [0, max_epochs={config.max_epochs}]")
    targets = np.asarray(targets, dtype=np.int64)
    if targets.shape != (len(data),):
        raise ValueError(f"targets must have shape ({len(data)},) (got {targets.shape})")
    params = elman.init_params(hidden=config.hidden, n_in=config.n_in, n_out=config.n_out, gain=gain,
                               seed=seed, h0=config.h0, dtype=config.torch_dtype)
    lr = torch.tensor(config.lr, dtype=config.torch_dtype)
    rng = np.random.default_rng(config.shuffle_seed)
    kw = {"nonlinearity": config.nonlinearity, "loss": config.loss}
    losses, snaps, snap_epochs = [], [], []
    status = "capped"

    from tqdm.auto import tqdm
    bar = tqdm(total=config.max_epochs, disable=not progress, unit="epoch", desc="training")
    epoch = 0
    for epoch in range(config.max_epochs + 1):
        loss, grads = loss_and_gradients(params, data, targets, **kw)
        losses.append(float(np.asarray(loss).ravel()[0]))
        if epoch in wanted:
            snaps.append({k: v.clone() for k, v in params.items()})
            snap_epochs.append(epoch)
        if not np.isfinite(losses[-1]):
            status = "diverged"
            break
        if config.loss_threshold is not None and losses[-1] < config.loss_threshold:
            status = "converged"
            break
        if epoch == config.max_epochs:
            break
        if config.protocol == "full_batch":
            for name, grad in grads.items():
                params[name] -= grad * lr
        else:
            for batch in paper_minibatches(data.lengths, config.batch_size, rng):
                _, grads = loss_and_gradients(params, _subset(data, batch), targets[batch], **kw)
                for name, grad in grads.items():
                    params[name] -= grad * lr
        bar.update(1)
        if progress and epoch % 10 == 0:
            bar.set_postfix(loss=f"{losses[-1]:.2e}")
    bar.close()
    return SnapshotRun(config=config, seed=seed, gain=gain, snapshot_epochs=np.asarray(snap_epochs, np.int64),
                       snapshots=tuple(snaps), train_loss=np.asarray(losses), status=status, epochs=epoch)
