"""Pair dynamics results as an ``xarray.Dataset`` (``validation.common.labelled``): trajectories over
``(snapshot, pair)`` with the snapshot epochs as coordinate, per-pair scalars over ``pair``, the
nine-variable model over ``(fe_run, fe_time)``; the configuration and pair records in ``attrs``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from validation.common.labelled import to_dataset
from validation.pair_dynamics.run import RESULT_SHAPES, load

#: the axis letters of ``RESULT_SHAPES`` (``None``: the nine-variable runs) as dimension names.
AXIS_NAMES = {"S": "snapshot", "K": "pair", "E": "epoch", "F": "fe_time", None: "fe_run", 2: "rate"}
DIMS: dict[str, tuple[str, ...]] = {name: tuple(AXIS_NAMES[axis] for axis in shape)
                                    for name, shape in RESULT_SHAPES.items()}


def load_dataset(path: str | Path) -> Any:
    """``xarray.Dataset`` of a finished run (a directory or either results file), validated by ``load``.

    ``rate`` holds ``("tau_h", "tau_y")`` of ``fit_tau``; ``snapshot`` is labelled by its epoch.
    """
    _, results = load(path)
    a = results.arrays
    coords = {"snapshot": a["snapshot_epochs"], "pair": np.arange(a["S"].shape[0]),
              "epoch": np.arange(a["train_loss"].shape[0]), "fe_time": a["fe_t"],
              "rate": np.array(["tau_h", "tau_y"])}
    return to_dataset(results, DIMS, coords)
