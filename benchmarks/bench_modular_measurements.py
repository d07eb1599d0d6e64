"""Benchmark: what the measurements of ``validation.modular_addition`` cost next to training, and what speeds them.

    python -m benchmarks.bench_modular_measurements [--P 59] [--rounds 5] [--theory-pairs 200] [--threads 1]
                                                    [--history DIR]

Every figure is the median over ``--rounds`` of process CPU time (one thread: the figure to
trust on a shared machine), and every comparison is like for like in one process, the two
sides producing the same numbers (checked, and printed):

* **merger measurements of one checkpoint** (five sites: merging scores, sampled distance
  ratios, assignment accuracy, pair distances): drawing the distance ratios' random pairs at
  every call, as ``site_measurements`` alone does, against drawing them once
  (``draw_ratio_samples``, what ``MergerRecorder`` does); the outputs are bit-identical;
* **theory measurements of one checkpoint and site** (``rnn.modular.pair_theory``): one
  ``torch.func.jvp`` per pair against one batched call for all pairs; equal to 1e-12;
* **one checkpoint against one training epoch**: a measured checkpoint (mergers, theory at
  ``resid_mid`` and ``mlp_post``, weight norm and Gini), an unmeasured one (weight norm, Gini,
  the gate's loss check) and a complete-linkage state count, each as a multiple of one
  full-batch AdamW epoch of the same model;
* with ``--history DIR`` (a finished run's results): how many of its checkpoints the
  measurement gate picks (``MeasurementGate.select``) and the estimated measurement cost of
  that run against its training, with and without the gate.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import jvp

from interaction.checks import check_int
from interaction.cliutil import ArgumentParser, run_cli
from rnn.modular import mergers as mm
from rnn.modular.data import modular_addition_data
from rnn.modular.pair_theory import measure_pairs
from rnn.modular.transformer import ModularTransformer
from validation.common.results import read_json
from validation.modular_addition.analysis import MeasurementGate, MergerRecorder, linkage_schedule, site_arrays
from validation.modular_addition.config import ExperimentConfig
from validation.modular_addition.theory import theory_pairs

PROG = "python -m benchmarks.bench_modular_measurements"
THEORY_SITES = ("resid_mid", "mlp_post")


def cpu_ms(fn: Callable[[], object], rounds: int) -> tuple[float, object]:
    """Median process CPU milliseconds of ``fn()`` over ``rounds`` calls, and its last result."""
    times, out = [], None
    for _ in range(rounds):
        start = time.process_time()
        out = fn()
        times.append(1e3 * (time.process_time() - start))
    return float(np.median(times)), out


def pair_by_pair_dy(model: ModularTransformer, cache: dict, pairs: np.ndarray, site: str) -> np.ndarray:
    """The plain baseline: one ``jvp`` of the downstream map per pair (float64, as ``measure_pairs``)."""
    net = ModularTransformer(model.P, d_model=model.d_model, n_heads=model.n_heads, d_head=model.d_head,
                             d_mlp=model.d_mlp, dtype=torch.float64)
    net.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    net.requires_grad_(False)
    h, skip = cache[site].double(), cache["resid_mid"].double()
    out = []
    for i, j in pairs.T:
        s = 0.5 * (skip[i] + skip[j])[None]
        _, dy = jvp(lambda x: net.downstream(site, x, s)[:, :model.P], ((0.5 * (h[i] + h[j]))[None],),
                    ((h[j] - h[i])[None],))
        out.append(dy[0])
    return torch.stack(out).numpy()


def benchmark(P: int, rounds: int, n_theory: int, pair_samples: int = 2000,
              distance_samples: int = 15_000) -> dict[str, float]:
    """CPU ms of the pieces (module docstring) on a freshly initialised model of modulus ``P``."""
    data = modular_addition_data(P, 0.3, 0)
    tokens = torch.as_tensor(data.tokens)
    x, y = tokens[torch.as_tensor(data.train_mask)], torch.as_tensor(data.labels[data.train_mask])
    model = ModularTransformer(P, seed=0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=1.0)

    def epoch() -> None:
        loss = F.cross_entropy(model(x).double(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    out: dict[str, float] = {}
    out["train_epoch"], _ = cpu_ms(epoch, rounds)
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)
    acts = site_arrays(cache, P)
    pairs = mm.sample_pairs(data.labels, data.train_mask, data.test_mask, n=pair_samples, seed=0)
    samples = mm.draw_ratio_samples(data.labels, data.train_mask, data.test_mask, n_samples=distance_samples, seed=0)

    def mergers(drawn: mm.RatioSamples | None) -> list[dict]:
        return [mm.site_measurements(H, data.labels, data.train_mask, data.test_mask, pairs=pairs,
                                     n_samples=distance_samples, seed=0, samples=drawn) for H in acts.values()]

    out["mergers_drawn_each_call"], fresh = cpu_ms(lambda: mergers(None), rounds)
    out["mergers_drawn_once"], reused = cpu_ms(lambda: mergers(samples), rounds)
    out["mergers_identical"] = float(all(
        all(np.array_equal(a[k], b[k]) for k in a if k != "pair_distances")
        and all(np.array_equal(a["pair_distances"][g], b["pair_distances"][g]) for g in a["pair_distances"])
        for a, b in zip(fresh, reused)))

    tp = theory_pairs(pairs, n_theory)
    out["theory_batched"], batched = cpu_ms(lambda: measure_pairs(model, cache, tp, data.labels, "resid_mid"), rounds)
    out["theory_pair_by_pair"], looped = cpu_ms(lambda: pair_by_pair_dy(model, cache, tp, "resid_mid"),
                                                max(1, rounds // 2))
    out["theory_max_abs_difference"] = float(np.max(np.abs(batched.dy - looped)))

    rec = MergerRecorder(P, data.labels, data.train_mask, data.test_mask, pairs=pairs, n_samples=distance_samples,
                         linkage_epochs=set(), seed=0, gate=MeasurementGate(0, 0.0, 1),
                         theory_sites=THEORY_SITES, theory_pairs=tp)
    out["measured_checkpoint"], _ = cpu_ms(lambda: rec(0, model, cache), rounds)
    rec.gate = MeasurementGate(0, 1e9, 10 ** 9)  # every later checkpoint is skipped by the gate
    out["skipped_checkpoint"], _ = cpu_ms(lambda: rec(1, model, cache), rounds)
    out["state_count"], _ = cpu_ms(lambda: rec.record_states(0, acts), max(1, rounds // 2))
    return out


def history_estimate(path: Path, t: dict[str, float], tolerance: float, max_gap: int) -> dict[str, float]:
    """Measured checkpoints of a finished run with and without the gate, and the estimated cost of each."""
    arrays = np.load(path / "results.npz")
    config = read_json(path / "results.json")["config"]
    epochs = arrays["epochs"]
    gate = MeasurementGate(config["train"]["dense_until"], tolerance, max_gap)
    chosen = gate.select(epochs, arrays["train_loss"], arrays["test_loss"], arrays["test_acc"])
    n_linkage = len(linkage_schedule(epochs, config["linkage_every"]))
    training = int(epochs[-1]) * t["train_epoch"]
    linkage = n_linkage * t["state_count"]
    every = epochs.size * t["measured_checkpoint"] + linkage
    gated = chosen.sum() * t["measured_checkpoint"] + (~chosen).sum() * t["skipped_checkpoint"] + linkage
    return {"checkpoints": float(epochs.size), "measured": float(chosen.sum()), "state_counts": float(n_linkage),
            "epochs": float(epochs[-1]), "every_fraction": every / training, "gated_fraction": gated / training}


def main(argv: Sequence[str] | None = None) -> int:
    p = ArgumentParser(prog=PROG, description="CPU cost of the modular-addition measurements against training.")
    p.add_argument("--P", type=int, default=59, help="modulus")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds (median reported)")
    p.add_argument("--theory-pairs", type=int, default=200, help="agreeing and as many disagreeing theory pairs")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--history", type=Path, default=None, metavar="DIR",
                   help="a finished run's directory: replay the measurement gate on its loss curves")
    defaults = ExperimentConfig()
    p.add_argument("--tolerance", type=float, default=defaults.measure_tolerance,
                   help="gate tolerance for --history (the experiment's --measure-tolerance)")
    p.add_argument("--max-gap", type=int, default=defaults.measure_max_gap,
                   help="gate's longest gap for --history (the experiment's --measure-max-gap)")
    args = p.parse_args(argv)
    torch.set_num_threads(check_int("--threads", args.threads, minimum=1))
    P = check_int("--P", args.P, minimum=3)
    rounds = check_int("--rounds", args.rounds, minimum=1)
    n_theory = check_int("--theory-pairs", args.theory_pairs, minimum=1)
    if args.history is not None and not (args.history / "results.npz").is_file():
        raise ValueError(f"--history {str(args.history)!r} holds no results.npz")
    t = benchmark(P, rounds, n_theory)
    e = t["train_epoch"]
    print(f"P={P}, threads={args.threads}; CPU ms, median of {rounds} rounds")
    print(f"one training epoch                          {e:9.1f}")
    print(f"merger measurements, 5 sites: pairs drawn each call {t['mergers_drawn_each_call']:9.1f}   drawn once "
          f"{t['mergers_drawn_once']:9.1f}   ratio {t['mergers_drawn_each_call'] / t['mergers_drawn_once']:5.2f}   "
          f"identical: {bool(t['mergers_identical'])}")
    print(f"theory at resid_mid, {2 * n_theory} pairs: one jvp per pair {t['theory_pair_by_pair']:9.1f}   batched "
          f"{t['theory_batched']:9.1f}   ratio {t['theory_pair_by_pair'] / t['theory_batched']:5.1f}   "
          f"max |difference| {t['theory_max_abs_difference']:.1e}")
    print(f"measured checkpoint (mergers + theory at {', '.join(THEORY_SITES)} + Gini): {t['measured_checkpoint']:9.1f}"
          f" = {t['measured_checkpoint'] / e:6.1f} epochs")
    print(f"checkpoint skipped by the gate (Gini, weight norm, loss check): {t['skipped_checkpoint']:9.1f} = "
          f"{t['skipped_checkpoint'] / e:6.2f} epochs")
    print(f"state count (complete linkage, 5 sites):    {t['state_count']:9.1f} = {t['state_count'] / e:6.1f} epochs")
    if args.history is not None:
        h = history_estimate(args.history, t, args.tolerance, args.max_gap)
        print(f"{args.history}: {h['epochs']:.0f} epochs, {h['checkpoints']:.0f} checkpoints, gate "
              f"(tolerance {args.tolerance}, max gap {args.max_gap}) measures {h['measured']:.0f}, "
              f"{h['state_counts']:.0f} state counts")
        print(f"estimated measurement time / training time: every checkpoint {h['every_fraction']:.2f}, "
              f"gated {h['gated_fraction']:.2f}")
    return 0


if __name__ == "__main__":
    run_cli(main, PROG)
