"""Results files of the phase diagram: ``results.npz`` (arrays) and ``results.json`` (config, summary, provenance).

Written and read through ``validation.common.results``. ``load`` validates what it reads
(the ``--plot-only`` path): a corrupt or truncated npz, a JSON that is not one, missing
arrays or metadata keys, a configuration that cannot be rebuilt, or arrays whose shapes
do not fit the configuration's grid are refused with one line naming the file. The measured
overlay's arrays (``measured.MEASURED_ARRAYS``) are optional, so files written before it
still load (their configuration gains ``measured_pairs = 0``: they measured nothing);
when present their shapes are checked too.
"""
from __future__ import annotations

from dataclasses import asdict, fields, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from validation.common import results as common
from validation.common.options import config_from_dict
from validation.merger_phase_diagram.analysis import Analysis, summary
from validation.merger_phase_diagram.config import PhaseDiagramConfig
from validation.merger_phase_diagram.predictors import PREDICTORS
from validation.merger_phase_diagram.measured import (
    CHECKPOINT_EPOCH_ARRAYS,
    CHECKPOINT_PAIR_ARRAYS,
    NETWORK_ARRAYS,
    PAIR_ARRAYS,
    PREFIX_ARRAYS,
    PROFILE_ARRAYS,
)

EXPERIMENT = "merger_phase_diagram"
#: arrays indexed [replicate, gain, fraction]; val_loss/val_accuracy have a validation-length axis more.
GRID_ARRAYS = ("status", "epochs", "train_loss", "n_states_raw", "n_states_min", "finite", "equivalent", "eps",
               "contraction")
VAL_ARRAYS = ("val_loss", "val_accuracy")
AXES = ("gains", "fractions", "val_lengths")
REQUIRED = GRID_ARRAYS + VAL_ARRAYS + AXES
#: arrays that must hold numbers when present (all but ``status``, which holds strings)
NUMERIC_ARRAYS = (tuple(name for name in REQUIRED if name != "status") + NETWORK_ARRAYS + PROFILE_ARRAYS
                  + PAIR_ARRAYS + PREFIX_ARRAYS + CHECKPOINT_EPOCH_ARRAYS + CHECKPOINT_PAIR_ARRAYS)
#: configuration fields added after results files were first written, with the value that describes
#: a file written before them (it measured no pairs; the analysis-only predictor fields take their
#: defaults); any other missing field is refused.
ADDED_FIELDS = {"measured_pairs": 0, "predictors": list(PREDICTORS), "cv_blocks": 2, "checkpoints": [],
                "drop_level": 0.5}

DESCRIPTIONS = {
    "status": "converged | capped (hit the epoch cap: not converged) | diverged | stalled (no progress "
              "over stall_window epochs, rnn/parity/ensemble.py)",
    "epochs": "epochs of updates received", "train_loss": "final training loss",
    "val_loss, val_accuracy": "on val_count random sequences per validation length (NaN if diverged)",
    "n_states_raw, n_states_min": "automaton states at eps (NaN if diverged)",
    "finite": "every state has both transitions", "equivalent": "minimised automaton == task automaton",
    "eps": "eps_factor * ||std|| of the final hidden states", "contraction": "G of the initial network",
    "score": "merger score S (validation/merger_phase_diagram/boundary_fit.py)",
    "observed": "generalised: accuracy at the longest length >= generalise_accuracy",
    "predicted": "S > log C", "n_train": "training sequences of each network",
    "init_seed, shuffle_seed": "weights and minibatch-order seeds of each network (validation.merger_phase_diagram"
                               ".run.task_seeds)",
    "task_seconds, task_cpu_seconds": "wall and CPU time of each task (in build_tasks order) when it was computed",
    "measured_z_min": "cell threshold: smallest H0^2/(N Y0) over the network's measured agreeing cross-length "
                      "pairs at initialisation (nan: none measured; validation/merger_phase_diagram/measured.py)",
    "measured_pairs, measured_agree_cross, measured_failed_pairs": "pairs measured, of them agreeing cross-length "
                                                                   "ones measured, failed measurements",
    "measured_predicted": "z_min <= kappa (fitted rate ratio)",
    "scaling_slope_H, scaling_slope_ratio, scaling_log_G": "fitted slopes of mean log ||dh(0)||^2 vs m and of mean "
                                                           "log ||dy||^2/||dh||^2 vs n at initialisation; log G of "
                                                           "the same diagnostics",
    "scaling_H_log_mean, scaling_ratio_log_mean": "[..., L]: the profiles at m = 1..L and n = 0..L-1 (nan: none)",
    "ckpt_rule_epoch, ckpt_epoch": "[..., checkpoint]: the epoch each checkpoint rule selects (rnn/parity/"
                                   "checkpoints.py) and the kept epoch measured there (-1: none)",
    "ckpt_H, ckpt_Y, ckpt_z": "[..., checkpoint, measured_pairs]: H = ||dh||^2, Y and z = H^2/(N Y) of the "
                              "measured pairs at each checkpoint (nan: no checkpoint or failed measurement)",
    "pair_*": "[..., measured_pairs] per measured pair: kind (0 agree_cross, 1 agree_equal, 2 disagree, -1 empty "
              "slot), m1, m2, N, H0, Y0, S, z = H0^2/(N Y0), ok (finite measurement), final distance / ||std|| "
              "in the trained network, merged (distance < eps_factor); pair_prefix1/2 [..., measured_pairs, L]: "
              "the prefixes (padded -1)",
}


def save(out_dir: Path, arrays: dict[str, np.ndarray], config: PhaseDiagramConfig, analysis: Analysis,
         extra: dict[str, Any]) -> common.Results:
    """``results.npz`` (all arrays plus the analysis arrays) and ``results.json`` (config, fit, provenance)."""
    everything = {**arrays, "score": analysis.score, "observed": analysis.observed,
                  "predicted": analysis.predicted, "contraction_by_gain": analysis.contraction_by_gain}
    if analysis.measured is not None:
        everything["measured_predicted"] = analysis.measured.predicted
    meta = {"description": "P25 Fig. 9 (docs/experiments.md §2) with the eq. 9 boundary; arrays are indexed "
                           "[replicate, gain, fraction(, validation length)]",
            "config": asdict(config), "arrays": DESCRIPTIONS, "summary": summary(arrays, analysis), **extra}
    return common.save_results(out_dir, EXPERIMENT, everything, meta)


def _check_complete(source: Path, data: Any, cls: type, where: str = "config") -> None:
    """Every field of ``cls`` (embedded configs too) is present: a results file never falls back to defaults."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: {where} must be an object, found {type(data).__name__}")
    missing = [f.name for f in fields(cls) if f.init and f.name not in data]
    if missing:
        raise ValueError(f"{source}: {where} lacks field(s) {missing}")
    for f in fields(cls):
        value = getattr(cls, f.name, None)
        if is_dataclass(value):
            _check_complete(source, data[f.name], type(value), f"{where}.{f.name}")


def load(path: str | Path) -> tuple[dict[str, np.ndarray], PhaseDiagramConfig, common.Results]:
    """Arrays and configuration of a results file (``results.npz``, ``results.json`` or their directory)."""
    loaded = common.load_results(path, EXPERIMENT, arrays=REQUIRED, meta_keys=("config",), numeric=NUMERIC_ARRAYS)
    stored = loaded.meta["config"]
    if isinstance(stored, dict):
        stored = {**ADDED_FIELDS, **stored}
    _check_complete(loaded.json, stored, PhaseDiagramConfig)
    try:
        config = config_from_dict(PhaseDiagramConfig, stored, source=str(loaded.json))
    except ValueError as exc:
        message = str(exc)
        raise ValueError(message if message.startswith(str(loaded.json))
                         else f"{loaded.json}: bad config ({message})") from None
    arrays = loaded.arrays
    S, G, F, V = config.seeds, len(config.gains), len(config.fractions), len(config.val_lengths)
    common.check_shapes(loaded.npz, arrays, {**{name: (S, G, F) for name in GRID_ARRAYS},
                                             **{name: (S, G, F, V) for name in VAL_ARRAYS},
                                             "gains": (G,), "fractions": (F,), "val_lengths": (V,)})
    kinds = arrays.get("pair_kind")
    n_pairs = kinds.shape[3] if kinds is not None and kinds.ndim == 4 else None   # the others must match it
    measured = {**{name: (S, G, F) for name in NETWORK_ARRAYS},
                **{name: (S, G, F, config.L) for name in PROFILE_ARRAYS},
                **{name: (S, G, F, n_pairs) for name in PAIR_ARRAYS},
                **{name: (S, G, F, n_pairs, config.L) for name in PREFIX_ARRAYS}}
    C = len(config.checkpoints)
    measured.update({**{name: (S, G, F, C) for name in CHECKPOINT_EPOCH_ARRAYS},
                     **{name: (S, G, F, C, n_pairs) for name in CHECKPOINT_PAIR_ARRAYS}})
    common.check_shapes(loaded.npz, arrays, {name: shape for name, shape in measured.items() if name in arrays})
    if arrays["status"].dtype.kind != "U":
        raise ValueError(f"{loaded.npz}: array 'status' must hold strings, found dtype {arrays['status'].dtype}")
    return arrays, config, loaded
