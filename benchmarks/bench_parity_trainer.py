"""Ensemble trainer vs a reference-style training loop, like for like, in one process.

Reference loop, as in the authors' ``parity/main.ipynb`` + ``compilation.py``: one
``torch.nn.RNN`` (ReLU, 100 units) and ``nn.Linear`` readout, ``h_0`` = ones, one
shuffled ``DataLoader`` (batch 128) per length present in the data, visited in
ascending order, ``torch.optim.SGD`` (lr 0.02) on ``nn.MSELoss``.

Ours: ``rnn.parity.train_ensemble`` with E members. At full data (the P25 main run)
the members share the data set (seeds 0..E-1, gains spread over [0.1, 1]); at a smaller
fraction p every member draws its own data set and minibatch order, as the independent
cells of the phase diagram do (``rnn/parity/ragged.py``), and the reference loop trains
one such draw.

Both sides are timed on the same schedule, twice:

* **training only**: the reference runs its minibatch steps; ours runs the same steps
  *and* measures the full training loss every epoch (its stopping rule needs it), so
  ours does a little more work;
* **evaluation every epoch**: both also evaluate, at the start of every epoch, the loss
  on every training length and on the validation sets of the main run (100 sequences of
  length 50, 10 each of length 25, 100, 250, 1000, 2500, 10000) and store the hidden
  states of all training sequences plus ``h_0``, as the reference's trackers do.

Prints milliseconds per model-epoch (wall clock and process CPU time: the CPU figure is
the one to trust on a shared machine) and the like-for-like speed-up ratios per fraction.

    python benchmarks/bench_parity_trainer.py [--epochs 20] [--members 20] [--fractions 1.0,0.1] [--threads N]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rnn.parity import TrainConfig, train_ensemble
from rnn.parity.data import SequenceSet, all_sequences, parity, random_sequences, sample_sequences

HIDDEN, LENGTH, LR, BATCH = 100, 10, 0.02, 128
VALIDATION = ((50, 100), (25, 10), (100, 10), (250, 10), (1000, 10), (2500, 10), (10000, 10))


def one_hot_dataset(tokens: np.ndarray) -> TensorDataset:
    x = nn.functional.one_hot(torch.as_tensor(tokens, dtype=torch.long), 2).float()
    y = nn.functional.one_hot(torch.as_tensor(parity(tokens)), 2).float()
    return TensorDataset(x, y)


class ReferenceModel(nn.Module):
    """The P25 model: ``nn.RNN`` + ``nn.Linear`` on the last state, Xavier-normal(gain) weights, zero biases."""

    def __init__(self, gain: float = 0.1):
        super().__init__()
        self.rnn = nn.RNN(2, HIDDEN, batch_first=True, nonlinearity="relu")
        self.fc = nn.Linear(HIDDEN, 2)
        for p in self.parameters():
            nn.init.xavier_normal_(p, gain=gain) if p.dim() == 2 else nn.init.zeros_(p)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        states, _ = self.rnn(x, torch.ones(1, x.shape[0], HIDDEN))
        return self.fc(states[:, -1]), states


def _draws(fraction: float, count: int) -> list[SequenceSet]:
    """``count`` independent training sets at ``fraction`` (all sequences at 1.0), seeded."""
    rng = np.random.default_rng(0)
    return [sample_sequences(LENGTH, fraction, rng) for _ in range(count)]


def _validation_sets() -> dict[int, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return {n: (t := random_sequences(n, k, rng), parity(t)) for n, k in VALIDATION}


def reference_seconds(data: SequenceSet, epochs: int, evaluate_every_epoch: bool) -> tuple[float, float]:
    """(wall, cpu) seconds for ``epochs`` epochs of the reference loop on ``data``."""
    torch.manual_seed(0)
    train_sets = [one_hot_dataset(data.of_length(n)) for n in np.unique(data.lengths)]
    val_sets = [one_hot_dataset(tokens) for tokens, _ in _validation_sets().values()]
    model = ReferenceModel()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    criterion = nn.MSELoss()
    loaders = [DataLoader(d, batch_size=BATCH, shuffle=True) for d in train_sets]
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(epochs):
        if evaluate_every_epoch:
            model.eval()
            with torch.no_grad():
                for dataset in train_sets + val_sets:
                    for x, y in DataLoader(dataset, batch_size=len(dataset)):
                        criterion(model(x)[0], y)
                hidden = [model(x)[1][:, -1].numpy() for d in train_sets
                          for x, _ in DataLoader(d, batch_size=len(d))]
                np.concatenate([np.ones((1, HIDDEN), np.float32)] + hidden)
            model.train()
        for loader in loaders:
            for x, y in loader:
                optimizer.zero_grad()
                criterion(model(x)[0], y).backward()
                optimizer.step()
    return time.perf_counter() - wall, time.process_time() - cpu


def ensemble_seconds(draws: list[SequenceSet], epochs: int, evaluate_every_epoch: bool) -> tuple[float, float]:
    """(wall, cpu) seconds; one shared set (a single draw) or one set per member; with evaluation,
    the reference's validation sets and the hidden states of every training sequence."""
    members = len(draws)
    shared = all(len(d) == 2 ** (LENGTH + 1) - 2 for d in draws)   # full data: every draw is every sequence
    data = draws[0] if shared else draws
    targets = parity(draws[0].tokens) if shared else [parity(d.tokens) for d in draws]
    extra: dict = {}
    if evaluate_every_epoch:
        extra = {"track_epochs": range(epochs + 1), "validation": _validation_sets()}
        if not shared:  # the union of the members' sets: every member's own states are among them
            extra["track_data"] = all_sequences(LENGTH)
    if not shared:
        extra["shuffle_seeds"] = range(members)
    wall, cpu = time.perf_counter(), time.process_time()
    train_ensemble(data, targets, config=TrainConfig(max_epochs=epochs), seeds=range(members),
                   gains=np.linspace(0.1, 1.0, members), **extra)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20, help="epochs per timed run")
    parser.add_argument("--members", type=int, default=20, help="ensemble size E")
    parser.add_argument("--fractions", default="1.0,0.1", help="training data fractions to time")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch intra-op threads (1 is fastest on a loaded machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ensemble_seconds(_draws(0.3, 2), 1, False)  # warm-up: numba compilation, MKL initialisation

    print(f"threads = {args.threads}, epochs = {args.epochs}, E = {args.members}")
    print(f"{'':46s} {'wall ms/model-epoch':>20s} {'cpu ms/model-epoch':>20s}")
    for fraction in (float(f) for f in args.fractions.split(",")):
        draws = _draws(fraction, args.members)
        per = {}
        for evaluate in (False, True):
            label = "evaluation every epoch" if evaluate else "training only"
            w, c = reference_seconds(draws[0], args.epochs, evaluate)
            per[("reference", label)] = (1e3 * w / args.epochs, 1e3 * c / args.epochs)
            w, c = ensemble_seconds(draws, args.epochs, evaluate)
            n = args.epochs * args.members
            per[("ours", label)] = (1e3 * w / n, 1e3 * c / n)
        for (who, label), (w, c) in per.items():
            print(f"{f'p={fraction:g} {who}, {label}':46s} {w:20.2f} {c:20.2f}")
        for label in ("training only", "evaluation every epoch"):
            ref, ours = per[("reference", label)], per[("ours", label)]
            print(f"speed-up like for like, p={fraction:g}, {label}: wall {ref[0] / ours[0]:.1f}x, "
                  f"cpu {ref[1] / ours[1]:.1f}x")


if __name__ == "__main__":
    main()
