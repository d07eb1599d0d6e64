"""``python -m validation.pair_dynamics``: the command line of the pair-dynamics experiment.

Options come from ``PairDynamicsConfig``'s fields (``validation.common.options``), the
training knobs from the embedded ``rnn.parity.TrainConfig``; ``--epochs`` is this
experiment's name for ``train.max_epochs``. ``--out`` is checked by ``run`` before any work
(one line, exit 2, nothing written); a bad value of any option is one line and exit 2.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from interaction.checks import check_int
from interaction.cliutil import ArgumentParser, run_cli
from rnn.parity import TrainConfig
from validation.common.options import add_alias_options, add_config_options, config_from_args
from validation.common.runtime import use_headless_matplotlib

from validation.pair_dynamics.config import OPTION_ALIASES, OPTION_GROUPS, TRAIN_FIXED, PairDynamicsConfig
from validation.pair_dynamics.run import run

PROG = "python -m validation.pair_dynamics"
DESCRIPTION = "The interaction theory's trajectories against measured representation pairs of a parity RNN."
DEFAULT_OUT = Path("runs/pair_dynamics")
_LEAVES = frozenset({f.name for f in fields(PairDynamicsConfig) if f.name != "train"}
                    | {f.name for f in fields(TrainConfig)})



def build_parser() -> ArgumentParser:
    defaults = PairDynamicsConfig()
    parser = ArgumentParser(prog=PROG, description=DESCRIPTION)
    groups = {title: parser.add_argument_group(title) for title in OPTION_GROUPS}
    first = groups[next(iter(OPTION_GROUPS))]
    add_alias_options(first, OPTION_ALIASES, defaults)
    for title, shown in OPTION_GROUPS.items():
        add_config_options(groups[title], PairDynamicsConfig, exclude=(_LEAVES - set(shown)) | set(TRAIN_FIXED),
                           defaults=defaults)
    execution = groups["execution"]
    execution.add_argument("--threads", type=int, default=1,
                           help="torch threads (1 is fastest on a shared 2-core machine)")
    execution.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    execution.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def config_from(args: argparse.Namespace) -> PairDynamicsConfig:
    """The default config with every option given on the command line replaced."""
    return config_from_args(args, PairDynamicsConfig(), aliases=OPTION_ALIASES)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    threads = check_int("threads", args.threads, minimum=1)
    config = config_from(args)
    use_headless_matplotlib()
    try:
        # run() checks that --out can be written before it trains (one line, exit 2, nothing written)
        result = run(config, args.out, progress=not args.no_progress, threads=threads)
    except RuntimeError as exc:   # diverged training, failed pooled fit: a status, not a traceback
        print(f"{PROG}: failed: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}/results.json, results.npz and 6 figures ({result.summary['seconds']['total']:.0f} s)")
    for line in result.summary["disagreements"]:
        print(f"  theory vs experiment: {line}")
    return 0


if __name__ == "__main__":
    run_cli(main, PROG)
