"""Per-epoch automaton state counts: ``rnn.automata.extraction.state_count_history`` against plain baselines.

Synthetic hidden-state history of the P25 main-run size (all 2046 sequences of length
1..10 plus ``h_0``, 100 units): the epochs move from the hidden states of a random
Xavier network (gain 1: a near-complete prefix tree) to two parity clusters, with a
little noise, so the run passes through every regime (tree, merging, finite
automaton). Baselines, in the same process on the first epochs:

* ``reference-style``: the P25 code's loop (every row against every group leader with
  ``np.linalg.norm``), without pandas;
* ``numpy-per-row``: the same greedy rule with the distances to all leaders vectorised.

Prints ms per epoch for each and the speed-up ratios. Example::

    python -m benchmarks.bench_automaton_history --epochs 1000
"""
from __future__ import annotations

import time

import numpy as np
import torch

from interaction.checks import check_int
from interaction.cliutil import ArgumentParser, run_cli
from rnn.parity import elman
from rnn.automata import state_count_history, std_norm
from rnn.parity.data import all_sequences, parity


def synthetic_history(n_epochs: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, object]:
    data = all_sequences(10)
    params = elman.init_params(hidden=100, gain=1.0, seed=seed)
    toks = torch.as_tensor(np.maximum(data.tokens, 0).astype(np.int64))
    with torch.no_grad():
        traj = elman.trajectory(params, toks)
    tree = traj[torch.arange(len(data)), torch.as_tensor(data.lengths)].numpy()
    tree = np.concatenate([params["h0"].numpy()[None], tree])
    par = np.concatenate([[0], parity(data.tokens)])
    rng = np.random.default_rng(seed)
    clusters = rng.normal(size=(2, 100)) * tree.std()
    hidden = np.empty((n_epochs, len(par), 100), dtype=np.float32)
    for e, mix in enumerate(np.linspace(0.0, 1.0, n_epochs) ** 2):
        hidden[e] = (1 - mix) * tree + mix * clusters[par] + 1e-3 * tree.std() * rng.normal(size=tree.shape)
    outputs = np.broadcast_to(par, (n_epochs, len(par)))
    return hidden, outputs, data


def reference_style_groups(X: np.ndarray, eps: float) -> int:
    leaders = []
    for x in X:
        for leader in leaders:
            if np.linalg.norm(x - leader) < eps:
                break
        else:
            leaders.append(x)
    return len(leaders)


def numpy_per_row_groups(X: np.ndarray, eps: float) -> int:
    leaders = np.empty_like(X)
    k = 0
    for x in X:
        if k == 0 or not np.any(np.linalg.norm(leaders[:k] - x, axis=1) < eps):
            leaders[k] = x
            k += 1
    return k


def main(argv=None) -> int:
    parser = ArgumentParser(prog="python -m benchmarks.bench_automaton_history", description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=200, help="epochs in the synthetic history (main run: 1000)")
    parser.add_argument("--baseline-epochs", type=int, default=2,
                        help="epochs timed with the baselines (spread over the history)")
    parser.add_argument("--factor", type=float, default=0.01, help="eps = factor * ||std|| (pooled)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic history")
    args = parser.parse_args(argv)
    n_epochs = check_int("epochs", args.epochs, minimum=2)
    n_base = check_int("baseline_epochs", args.baseline_epochs, minimum=1, maximum=n_epochs)
    torch.set_num_threads(1)
    hidden, outputs, data = synthetic_history(n_epochs, args.seed)
    eps = args.factor * std_norm(hidden)
    state_count_history(hidden[:2], data, eps=eps, outputs=outputs[:2])  # compile
    t0 = time.perf_counter()
    hist = state_count_history(hidden, data, eps=eps, outputs=outputs)
    ours = (time.perf_counter() - t0) / n_epochs
    picks = np.linspace(0, n_epochs - 1, n_base).astype(int)
    timings = {}
    for name, fn in (("reference-style", reference_style_groups), ("numpy-per-row", numpy_per_row_groups)):
        t0 = time.perf_counter()
        counts = [fn(hidden[e].astype(np.float64), eps) for e in picks]
        timings[name] = (time.perf_counter() - t0) / n_base
        if not np.array_equal(counts, hist.raw[picks]):
            raise RuntimeError(f"{name} baseline disagrees with state_count_history: {counts} vs {hist.raw[picks]}")
    print(f"history of {n_epochs} epochs x {hidden.shape[1]} rows x {hidden.shape[2]} units "
          f"(raw states {hist.raw.max()} -> {hist.raw[-1]}, minimal at end {hist.minimal[-1]})")
    print(f"state_count_history (grouping + transitions + minimisation): {1e3 * ours:8.2f} ms/epoch, "
          f"total {ours * n_epochs:6.2f} s")
    for name, t in timings.items():
        print(f"{name:>16} grouping only: {1e3 * t:10.1f} ms/epoch   ratio {t / ours:8.1f}x")
    return 0


if __name__ == "__main__":
    run_cli(main, "python -m benchmarks.bench_automaton_history")
