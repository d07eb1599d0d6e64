"""Ensemble trainer vs a reference-style training loop, in one process (P25 main-run setting).

Reference loop, as in the authors' ``parity/main.ipynb`` + ``compilation.py``: one
``torch.nn.RNN`` (ReLU, 100 units) and ``nn.Linear`` readout, ``h_0`` = ones, one
shuffled ``DataLoader`` (batch 128) per length 1..10 visited in order, ``torch.optim.SGD``
(lr 0.02) on ``nn.MSELoss``; at the start of every epoch the trackers evaluate the
loss on every training length and on the validation sets (100 sequences of length
50, 10 each of length 25, 100, 250, 1000, 2500, 10000) and store the hidden states
of all 2046 training sequences plus ``h_0``.

Ensemble: ``rnn.parity.train_ensemble`` with E members (same data, seeds 0..E-1,
gains spread over [0.1, 1]), which measures the full training loss every epoch;
timed once as a trainer alone and once with the reference's per-epoch work (the
same validation sets evaluated and all hidden states tracked, for every member).

Prints milliseconds per model-epoch (wall clock and process CPU time: the CPU
figure is the one to trust on a shared machine) and the speed-up ratios: the
headline (trainer vs the reference loop as the authors ran it, with evaluation),
like for like with evaluation, and like for like without.

    python benchmarks/bench_parity_trainer.py [--epochs 20] [--members 20] [--threads N]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rnn.parity import TrainConfig, train_ensemble
from rnn.parity.data import all_sequences, parity, random_sequences

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


def reference_seconds(epochs: int, evaluate_every_epoch: bool) -> tuple[float, float]:
    """(wall, cpu) seconds for ``epochs`` epochs of the reference loop."""
    torch.manual_seed(0)
    data = all_sequences(LENGTH)
    train_sets = [one_hot_dataset(data.of_length(n)) for n in range(1, LENGTH + 1)]
    rng = np.random.default_rng(0)
    val_sets = [one_hot_dataset(random_sequences(n, k, rng)) for n, k in VALIDATION]
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


def ensemble_seconds(epochs: int, members: int, evaluate_every_epoch: bool) -> tuple[float, float]:
    """(wall, cpu) seconds; with evaluation, the same validation sets and hidden-state tracking as the reference."""
    data = all_sequences(LENGTH)
    config = TrainConfig(max_epochs=epochs)
    extra = {}
    if evaluate_every_epoch:
        rng = np.random.default_rng(0)
        extra = {"track_epochs": range(epochs + 1),
                 "validation": {n: (t := random_sequences(n, k, rng), parity(t)) for n, k in VALIDATION}}
    wall, cpu = time.perf_counter(), time.process_time()
    train_ensemble(data, parity(data.tokens), config=config, seeds=range(members),
                   gains=np.linspace(0.1, 1.0, members), **extra)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20, help="epochs per timed run")
    parser.add_argument("--members", type=int, default=20, help="ensemble size E")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch intra-op threads (1 is fastest on a loaded machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ensemble_seconds(1, 2, False)  # warm-up: numba compilation of the trie kernel, MKL initialisation

    model_epochs = args.epochs * args.members
    rows = {
        "reference, evaluation every epoch": (reference_seconds(args.epochs, True), args.epochs),
        "reference, training only": (reference_seconds(args.epochs, False), args.epochs),
        f"ensemble E={args.members}, evaluation every epoch": (
            ensemble_seconds(args.epochs, args.members, True), model_epochs),
        f"ensemble E={args.members}, training only": (
            ensemble_seconds(args.epochs, args.members, False), model_epochs),
    }
    per = {name: (1e3 * w / n, 1e3 * c / n) for name, ((w, c), n) in rows.items()}
    print(f"threads = {args.threads}, epochs = {args.epochs}")
    print(f"{'':42s} {'wall ms/model-epoch':>20s} {'cpu ms/model-epoch':>20s}")
    for name, (w, c) in per.items():
        print(f"{name:42s} {w:20.2f} {c:20.2f}")
    names = list(per)
    for ref, ours in ((names[0], names[3]), (names[0], names[2]), (names[1], names[3])):
        print(f"speed-up, {ours} vs {ref}: wall {per[ref][0] / per[ours][0]:.1f}x, "
              f"cpu {per[ref][1] / per[ours][1]:.1f}x")


if __name__ == "__main__":
    main()
