"""``python -m validation.parity_run``: the command line of the main streaming-parity run.

Options come from ``RunConfig``'s fields (``validation.common.options``), the training
knobs from the embedded ``rnn.parity.TrainConfig``; ``--epochs`` and ``--data-seed`` are
this run's names for ``train.max_epochs`` and ``train.shuffle_seed``. The output
directory is checked by ``run`` before any work (one line, exit 2, nothing written).
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from interaction.checks import check_int
from interaction.cliutil import ArgumentParser, run_cli
from validation.common.options import add_alias_options, add_config_options, config_from_args
from validation.common.runtime import use_headless_matplotlib

from validation.parity_run.config import OPTION_ALIASES, PRESETS, TRAIN_FIXED, RunConfig
from validation.parity_run.run import run

PROG = "python -m validation.parity_run"
DESCRIPTION = ("The main streaming-parity run of van Rossem & Saxe (2025, §4, App. C.1; docs/experiments.md §1): "
               "one Elman RNN trained on all binary sequences of length 1..L, its automaton tracked over training.")



def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog=PROG, description=DESCRIPTION)
    parser.add_argument("--preset", choices=tuple(PRESETS), default="quick",
                        help="quick: snapshots/validation every 5 epochs; paper: every epoch (P25)")
    knobs = parser.add_argument_group("experiment (default: the quick preset's value)")
    quick = PRESETS["quick"]
    add_alias_options(knobs, OPTION_ALIASES, quick)
    add_config_options(knobs, RunConfig, exclude=TRAIN_FIXED, defaults=quick)
    execution = parser.add_argument_group("execution")
    execution.add_argument("--out", type=Path, default=None, help="output directory [runs/parity_run/PRESET]")
    execution.add_argument("--threads", type=int, default=1,
                           help="torch intra-op threads; the single network's matmuls are too small to gain from more")
    execution.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def config_from(args: argparse.Namespace) -> RunConfig:
    """The preset with every option given on the command line replaced."""
    return config_from_args(args, PRESETS[args.preset], aliases=OPTION_ALIASES)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = args.out if args.out is not None else Path("runs") / "parity_run" / args.preset
    threads = check_int("threads", args.threads, minimum=1)
    config = config_from(args)
    use_headless_matplotlib()
    # run() checks that ``out`` can be written before it trains (one line, exit 2, nothing written)
    result = run(config, out, preset=args.preset, progress=not args.no_progress, threads=threads)
    s = result.summary
    print(f"status {s['status']} after {s['epochs_trained']} epochs ({s['train_seconds']:.1f} s); "
          f"final training loss {s['final_train_loss']:.3g}")
    if "all_merged_pairs_agree" in s:
        print(f"automaton: {s['final_states_raw']} states -> {s['final_states_minimal']} after minimisation "
              f"(equivalent to parity: {s['minimal_equivalent_to_parity']}); merged pairs {s['merged_pairs']}, "
              f"all agree on all futures: {s['all_merged_pairs_agree']}")
        print("fidelity by length: " + ", ".join(f"{k}: {v:.2f}" for k, v in s["fidelity_by_length"].items()))
    else:
        print(s["analysis"])
    print(f"wrote {len(result.written)} files to {out}")
    return 0


if __name__ == "__main__":
    run_cli(main, PROG)
