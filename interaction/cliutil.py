"""Command-line plumbing shared by ``python -m interaction`` and ``python -m validation.*``.

Users of the CLIs see bad input as a single line on stderr and exit status 2,
never a traceback: argparse errors and ``ValueError`` raised by the library are
both turned into ``PROG: error: MESSAGE``.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import textwrap
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn


#: Metadata keys of a config field that command-line builders read (``validation.common.options``).
HELP, PARSE, CHOICES, CLI = "help", "parse", "choices", "cli"


def help_field(default: Any = dataclasses.MISSING, *, help: str, parse: Callable[[str], Any] | None = None,
               choices: Iterable[Any] | None = None, cli: bool = True, **kwargs: Any) -> Any:
    """``dataclasses.field`` that also declares the field's command-line help (and parser, choices) once.

    Config dataclasses in every layer use it, so an option's text lives beside the field it sets.
    """
    meta: dict[str, Any] = {HELP: help, CLI: cli}
    if parse is not None:
        meta[PARSE] = parse
    if choices is not None:
        meta[CHOICES] = tuple(choices)
    if default is not dataclasses.MISSING:
        kwargs["default"] = default
    return dataclasses.field(metadata=meta, **kwargs)


def parse_seed(text: str) -> int:
    """Command-line parser of a seed: an integer ``>= 0`` (argparse then names the option in its error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a seed must be >= 0, got {value}")
    return value


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default, except ``None``: options generated from configs default to
    ``None`` ("not given") and state the value actually used in their own help text."""

    def _get_help_string(self, action):
        if action.default is None:
            return action.help
        return super()._get_help_string(action)

    def _split_lines(self, text, width):
        # a long value (a default list of names) stays whole, so it can be copied back as an option
        text = self._whitespace_matcher.sub(" ", text).strip()
        return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line (no usage dump) and exit 2."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
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
