"""Process-wide settings, changed only where a caller asked for them and restored afterwards.

Library code never calls ``torch.set_num_threads`` or ``matplotlib.use`` on its own: a CLI
chooses the thread count and the non-interactive backend; a sweep task runs inside
``torch_threads`` so that a worker process, or a notebook that calls ``run(config)``,
gets its setting back.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

from interaction.checks import check_int


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)`` (``None``: unchanged), then restore the old count."""
    if n is None:
        yield
        return
    check_int("threads", n, minimum=1)
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def use_headless_matplotlib() -> None:
    """Select matplotlib's non-interactive Agg backend: for CLI entry points only (a process-wide choice).

    Also sets ``MPLBACKEND`` so that sweep workers this process spawns, which draw figures of
    their own (``validation.modular_addition.seeds``), start headless too.
    """
    import matplotlib  # imported here so that importing this module does not import matplotlib

    os.environ["MPLBACKEND"] = "Agg"
    matplotlib.use("Agg")
