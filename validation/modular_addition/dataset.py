"""Modular addition results as an ``xarray.Dataset`` (``validation.common.labelled``): the curves and the
per-site merger measurements ``<site>/<key>`` over ``measured_checkpoint`` (labelled by epoch), pair distances
over ``(measured_checkpoint, <group>_pair)``, the measured theory ``<site>/theory_*`` over ``measured_checkpoint``,
``theory_pair`` and ``theory_checkpoint`` (labelled by phase name), state counts over
``(state_checkpoint, kappa)``, per-input arrays over
``input`` (``a·P + b``); the configuration and summary in ``attrs``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rnn.modular import mergers as mm
from rnn.modular.transformer import SITES
from validation.common.labelled import to_dataset
from validation.modular_addition.analysis import SCALAR_KEYS
from validation.modular_addition.run import CURVES, load, theory_arrays

DIMS: dict[str, tuple[str, ...]] = {
    **{name: ("checkpoint",) for name in CURVES},
    "measure_epochs": ("measured_checkpoint",),
    "state_epochs": ("state_checkpoint",), "kappas": ("kappa",), "labels": ("input",), "train_mask": ("input",),
    **{f"{s}/{k}": ("measured_checkpoint",) for s in SITES for k in SCALAR_KEYS},
    **{f"{s}/merged_fraction_{g}": ("measured_checkpoint",) for s in SITES for g in mm.PAIR_GROUPS},
    **{f"{s}/pair_distances_{g}": ("measured_checkpoint", f"{g}_pair") for s in SITES for g in mm.PAIR_GROUPS},
    **{f"{s}/{k}": ("state_checkpoint", "kappa") for s in SITES for k in ("n_states", "purity")},
    "theory_pairs": ("end", "theory_pair"), "theory_S": ("theory_pair",), "theory_commuted": ("theory_pair",),
    "theory_checkpoint_epochs": ("theory_checkpoint",),
}
#: dimension names of the letters in ``run.theory_arrays``
THEORY_DIMS = {"M": "measured_checkpoint", "K": "theory_pair", "C": "theory_checkpoint", 2: "tau"}


def load_dataset(path: str | Path) -> Any:
    """``xarray.Dataset`` of a finished run (a directory or either results file), validated by ``load``."""
    config, results = load(path)
    a = results.arrays
    coords = {"checkpoint": a["epochs"], "measured_checkpoint": a["measure_epochs"],
              "state_checkpoint": a["state_epochs"], "kappa": a["kappas"],
              "theory_checkpoint": list(results.meta["measured_theory"]["checkpoints"])}
    dims = {**DIMS, **{name: tuple(THEORY_DIMS[d] for d in shape)
                       for name, shape in theory_arrays(config.theory_sites).items()}}
    return to_dataset(results, dims, coords)
