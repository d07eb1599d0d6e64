"""Command-line plumbing shared by ``python -m interaction`` and ``python -m validation.*``.

Users of the CLIs see bad input as a single line on stderr and exit status 2,
never a traceback: argparse errors and ``ValueError`` raised by the library are
both turned into ``PROG: error: MESSAGE``.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line (no usage dump) and exit 2."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def run_cli(main: Callable[[Sequence[str] | None], int | None], prog: str,
            argv: Sequence[str] | None = None) -> NoReturn:
    """Run ``main(argv)`` and exit with its status; a ``ValueError`` becomes one line and exit 2."""
    try:
        status = main(argv)
    except ValueError as exc:
        message = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        print(f"{prog}: error: {message}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; finished work is saved and a rerun resumes it", file=sys.stderr)
        sys.exit(130)
    sys.exit(0 if status is None else int(status))
