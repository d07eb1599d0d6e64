"""The parity run's results as an ``xarray.Dataset`` (``validation.common.labelled``): the curves over
``epoch``, the validation curves over ``validation_epoch``, the state counts over ``tracked_epoch``, the
merged-pair matrices over ``(length1, length2)``; the configuration and summary in ``attrs``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from validation.common.labelled import to_dataset
from validation.parity_run.run import load

#: dimension names of the arrays that always have the same name; see ``dims`` for the per-length curves.
DIMS: dict[str, tuple[str, ...]] = {
    "train_loss": ("epoch",), "train_accuracy": ("epoch",),
    "validation_epochs": ("validation_epoch",), "tracked_epochs": ("tracked_epoch",),
    "states_raw": ("tracked_epoch",), "states_minimal": ("tracked_epoch",), "finite": ("tracked_epoch",),
    "final_labels": ("sequence",), "minimal_transitions": ("state", "symbol"), "minimal_outputs": ("state",),
    **{name: ("length1", "length2") for name in ("agreeing_by_length", "merged_agreeing_by_length",
                                                  "merged_disagreeing_by_length", "merged_fraction")},
}
#: parameter axes of ``final/<name>`` and ``initial/<name>`` (rnn/parity/elman.py).
PARAM_DIMS = {"W_ih": ("hidden", "input"), "b_ih": ("hidden",), "W_hh": ("hidden", "hidden_from"),
              "b_hh": ("hidden",), "W_hy": ("output", "hidden"), "b_hy": ("output",), "h0": ("hidden",)}


def dims(names) -> dict[str, tuple[str, ...]]:
    """``DIMS`` plus the per-length validation curves and the parameters present in ``names``."""
    out = dict(DIMS)
    for name in names:
        head, _, tail = name.partition("/")
        if head in ("validation_loss", "validation_accuracy"):
            out[name] = ("validation_epoch",)
        elif head in ("final", "initial") and tail in PARAM_DIMS:
            out[name] = PARAM_DIMS[tail]
    return out


def load_dataset(path: str | Path) -> Any:
    """``xarray.Dataset`` of a finished run (a directory or either results file), validated by ``load``."""
    _, results = load(path)
    a = results.arrays
    coords = {"epoch": np.arange(a["train_loss"].shape[0]), "validation_epoch": a["validation_epochs"],
              "tracked_epoch": a["tracked_epochs"]}
    if "merged_fraction" in a:
        coords["length1"] = coords["length2"] = np.arange(a["merged_fraction"].shape[0])
    return to_dataset(results, dims(a), coords)
