"""The phase diagram's results as an ``xarray.Dataset`` (``validation.common.labelled``): dimensions
``replicate, gain, fraction(, val_length)`` with the grid's values as coordinates, the configuration in ``attrs``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from validation.common.labelled import to_dataset
from validation.merger_phase_diagram.measured import CHECKPOINT_EPOCH_ARRAYS, CHECKPOINT_PAIR_ARRAYS
from validation.merger_phase_diagram.results import GRID_ARRAYS, VAL_ARRAYS, load

GRID = ("replicate", "gain", "fraction")
#: dimension names of every array of ``results.npz``; the rest get default names (``<name>_dim0``, …).
DIMS: dict[str, tuple[str, ...]] = {
    **{name: GRID for name in (*GRID_ARRAYS, "n_train", "init_seed", "shuffle_seed", "score", "observed",
                               "predicted")},
    **{name: (*GRID, "val_length") for name in VAL_ARRAYS},
    "gains": ("gain",), "fractions": ("fraction",), "val_lengths": ("val_length",),
    "contraction_by_gain": ("gain",), "task_seconds": ("task",), "task_cpu_seconds": ("task",),
    **{name: (*GRID, "checkpoint") for name in CHECKPOINT_EPOCH_ARRAYS},
    **{name: (*GRID, "checkpoint", "pair") for name in CHECKPOINT_PAIR_ARRAYS},
}


def load_dataset(path: str | Path) -> Any:
    """``xarray.Dataset`` of a validated results file (``results.npz``, ``results.json`` or their directory)."""
    arrays, config, loaded = load(path)
    coords = {"replicate": np.arange(config.seeds), "gain": arrays["gains"], "fraction": arrays["fractions"],
              "val_length": arrays["val_lengths"], "checkpoint": list(config.checkpoints)}
    return to_dataset(loaded, DIMS, coords)
