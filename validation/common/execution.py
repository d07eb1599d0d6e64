"""Command-line options of the sweep engine's executors (``validation.sweep``), shared by every experiment that sweeps.

``add_executor_options`` adds ``--executor``, ``--workers`` and ``--scheduler`` to a parser
or argument group; ``check_executor_options`` refuses an inconsistent combination before
any work, with a ``ValueError`` naming the option (one line and exit 2 through
``interaction.cliutil.run_cli``). An unknown executor is refused by argparse itself
(``choices``), also in one line.
"""
from __future__ import annotations

import argparse

from interaction.checks import check_int
from validation.sweep import EXECUTORS

__all__ = ["add_executor_options", "check_executor_options"]


def add_executor_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, default: str = "processes",
                         unit: str = "tasks", when: str = "") -> None:
    """``--executor`` (default ``default``), ``--workers``, ``--scheduler``; ``unit`` names what runs side by
    side in the help, ``when`` (e.g. ``" (with --seeds > 1)"``) says when the options apply."""
    parser.add_argument("--executor", choices=EXECUTORS, default=default,
                        help=f"where the {unit} run{when}: serial (this process), processes (local pool), "
                             "dask (existing cluster, needs --scheduler)")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes for --executor processes (>= 1; default: CPU count)")
    parser.add_argument("--scheduler", default=None,
                        help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (--executor dask)")


def check_executor_options(args: argparse.Namespace) -> None:
    """Refuse ``--workers < 1``, ``--executor dask`` without ``--scheduler`` and ``--scheduler`` without dask."""
    if args.workers is not None:
        check_int("--workers", args.workers, minimum=1)
    if args.executor == "dask" and not args.scheduler:
        raise ValueError("--executor dask needs --scheduler ADDRESS (an existing dask.distributed scheduler)")
    if args.executor != "dask" and args.scheduler:
        raise ValueError("--scheduler is only used with --executor dask")
