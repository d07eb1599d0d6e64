"""Benchmark: ms per full-batch epoch of the last-position trainer vs the reference full-position forward.

    python -m benchmarks.bench_modular [--P 59] [--train-frac 0.3] [--epochs 30] [--rounds 5] [--threads 1]

One epoch = forward on the training split + float64 cross-entropy + backward + AdamW step
(docs/experiments.md §6.1). The baseline is ``ModularTransformer.forward_full`` (attention, MLP
and unembedding at all three positions, logits read at ``=``), the way the reference code
computes it; the same model and optimiser settings are used for both. Rounds alternate
between the two so that load from other processes affects both alike; the reported figures
are medians over rounds of wall-clock and of process CPU time per epoch (with one thread
the CPU figure is the one to trust on a shared machine), and the ratio full/last.

What the measurements of ``validation.modular_addition`` cost on top of training is timed by
``benchmarks.bench_modular_measurements``.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from interaction.checks import check_int
from interaction.cliutil import ArgumentParser, run_cli
from rnn.modular.data import modular_addition_data
from rnn.modular.transformer import ModularTransformer

PROG = "python -m benchmarks.bench_modular"


def ms_per_epoch(P: int, train_frac: float, epochs: int, rounds: int) -> dict[str, float]:
    """Median wall and CPU ms per training epoch and per all-inputs evaluation forward, both forwards."""
    data = modular_addition_data(P, train_frac, 0)
    tokens = torch.as_tensor(data.tokens)
    x, y = tokens[torch.as_tensor(data.train_mask)], torch.as_tensor(data.labels[data.train_mask])
    forwards = {"last_position": lambda m, t: m(t), "full_position": lambda m, t: m.forward_full(t)[:, -1]}
    times: dict[str, list[float]] = {f"{k}_{w}_{c}": [] for k in forwards for w in ("train", "eval")
                                     for c in ("wall", "cpu")}
    models = {k: ModularTransformer(P, seed=0) for k in forwards}
    optims = {k: torch.optim.AdamW(models[k].parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=1.0)
              for k in forwards}
    for _ in range(rounds):
        for name, forward in forwards.items():
            model, opt = models[name], optims[name]
            start, cpu = time.perf_counter(), time.process_time()
            for _ in range(epochs):
                loss = F.cross_entropy(forward(model, x).double(), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            times[f"{name}_train_wall"].append(1e3 * (time.perf_counter() - start) / epochs)
            times[f"{name}_train_cpu"].append(1e3 * (time.process_time() - cpu) / epochs)
            start, cpu = time.perf_counter(), time.process_time()
            with torch.no_grad():
                for _ in range(epochs):
                    forward(model, tokens)
            times[f"{name}_eval_wall"].append(1e3 * (time.perf_counter() - start) / epochs)
            times[f"{name}_eval_cpu"].append(1e3 * (time.process_time() - cpu) / epochs)
    return {k: float(np.median(v)) for k, v in times.items()}


def main(argv: Sequence[str] | None = None) -> int:
    p = ArgumentParser(prog=PROG, description="ms per epoch: last-position trainer vs full-position forward.")
    p.add_argument("--P", type=int, nargs="+", default=[59], help="moduli to time")
    p.add_argument("--train-frac", type=float, default=0.3, help="training fraction")
    p.add_argument("--epochs", type=int, default=30, help="epochs per timed round")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds (median reported)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args(argv)
    torch.set_num_threads(check_int("threads", args.threads, minimum=1))
    epochs = check_int("epochs", args.epochs, minimum=1)
    rounds = check_int("rounds", args.rounds, minimum=1)
    for P in args.P:
        check_int("P", P, minimum=3)
    print(f"threads={args.threads}; ms per epoch, median of {rounds} rounds x {epochs} epochs "
          "(train = forward+backward+AdamW on the train split; eval = forward on all P² inputs)")
    print(f"{'P':>4} {'n_train':>7} {'clock':>5} {'last train':>10} {'full train':>10} {'ratio':>6} "
          f"{'last eval':>9} {'full eval':>9} {'ratio':>6}")
    for P in args.P:
        t = ms_per_epoch(P, args.train_frac, epochs, rounds)
        n_train = modular_addition_data(P, args.train_frac, 0).n_train
        for c in ("cpu", "wall"):
            lt, ft = t[f"last_position_train_{c}"], t[f"full_position_train_{c}"]
            le, fe = t[f"last_position_eval_{c}"], t[f"full_position_eval_{c}"]
            print(f"{P:>4} {n_train:>7} {c:>5} {lt:>10.1f} {ft:>10.1f} {ft / lt:>6.2f} {le:>9.1f} {fe:>9.1f} "
                  f"{fe / le:>6.2f}")
    return 0


if __name__ == "__main__":
    run_cli(main, PROG)
