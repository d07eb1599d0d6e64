"""Modular addition results as an ``xarray.Dataset`` (``validation.common.labelled``): the curves and the
per-site merger measurements ``<site>/<key>`` over ``checkpoint`` (labelled by epoch), pair distances over
``(checkpoint, <group>_pair)``, state counts over ``(state_checkpoint, kappa)``, per-input arrays over
``input`` (``a·P + b``); the configuration and summary in ``attrs``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rnn.modular import mergers as mm
from rnn.modular.transformer import SITES
from validation.common.labelled import to_dataset
from validation.modular_addition.analysis import SCALAR_KEYS
from validation.modular_addition.run import CURVES, load

DIMS: dict[str, tuple[str, ...]] = {
    **{name: ("checkpoint",) for name in CURVES},
    "state_epochs": ("state_checkpoint",), "kappas": ("kappa",), "labels": ("input",), "train_mask": ("input",),
    **{f"{s}/{k}": ("checkpoint",) for s in SITES for k in SCALAR_KEYS},
    **{f"{s}/merged_fraction_{g}": ("checkpoint",) for s in SITES for g in mm.PAIR_GROUPS},
    **{f"{s}/pair_distances_{g}": ("checkpoint", f"{g}_pair") for s in SITES for g in mm.PAIR_GROUPS},
    **{f"{s}/{k}": ("state_checkpoint", "kappa") for s in SITES for k in ("n_states", "purity")},
}


def load_dataset(path: str | Path) -> Any:
    """``xarray.Dataset`` of a finished run (a directory or either results file), validated by ``load``."""
    _, results = load(path)
    a = results.arrays
    coords = {"checkpoint": a["epochs"], "state_checkpoint": a["state_epochs"], "kappa": a["kappas"]}
    return to_dataset(results, DIMS, coords)
