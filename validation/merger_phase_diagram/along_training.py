"""The theory applied along training: is ``A_high`` conserved, and from when on does it predict?

The measured overlay applies eqs. 5–7 at initialisation. The same pairs are measured again
at checkpoints chosen by rules on each network's training loss (``rnn/parity/checkpoints.py``:
``init``, points through the plateau, the loss drop, the end; arrays ``ckpt_*`` of
``measured.py``). Two readings:

* **Conservation** (docs/theory.md §2.2). For an agreeing pair (``S = 0``) the 3-scalar
  system conserves ``A_high = H − N κ Y/H``; ``κ`` is the measured overlay's fitted rate
  ratio. Per checkpoint, over every agreeing pair (both lengths kinds) of every network: the
  quantiles of ``A_high(t)/A_high(0)`` and the share of pairs whose ``A_high`` changed sign
  since initialisation. A conserved quantity keeps the ratio at 1 and never changes sign;
  a sign change flips eq. 7's verdict for that pair.
* **The prediction horizon.** Per checkpoint, the two measured predictors
  (``predictors.py``: ``measured_min``, ``measured_median``) are refitted and scored out of
  sample exactly as at initialisation (``crossval.evaluate``), with each network's ``z`` at
  that checkpoint. A network whose rule selects no epoch (no loss drop) has no ``z`` there
  and is predicted not to generalise. The curve says from which moment on the pair theory
  predicts the outcome, if ever; at ``end`` it reads the trained network itself.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np

from validation.merger_phase_diagram.crossval import evaluate
from validation.merger_phase_diagram.features import Features, agree_cross_z, cell_scores
from validation.merger_phase_diagram.measured import KIND_CODES

#: the predictors followed along training
HORIZON_PREDICTORS = ("measured_min", "measured_median")
#: quantiles of A_high(t)/A_high(0) reported per checkpoint
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


@dataclass(frozen=True)
class Conservation:
    """``A_high(t)/A_high(0)`` of the agreeing pairs per checkpoint (module docstring)."""

    checkpoints: tuple[str, ...]
    median_epoch: np.ndarray          # (C,) median kept epoch over networks that have one
    quantiles: np.ndarray             # (C, len(QUANTILES)) of the ratio
    sign_changed: np.ndarray          # (C,) share of pairs whose A_high changed sign
    pairs: np.ndarray                 # (C,) pairs counted
    kappa: float


@dataclass(frozen=True)
class Horizon:
    """Out-of-sample agreement of the measured predictors with ``z`` taken at each checkpoint."""

    checkpoints: tuple[str, ...]
    median_epoch: np.ndarray                              # (C,)
    agreement: dict[str, dict[str, np.ndarray]]           # scheme -> predictor -> (C,)
    interval: dict[str, dict[str, np.ndarray]]            # scheme -> predictor -> (C, 2), bootstrap 16-84 %
    networks_without_epoch: np.ndarray                    # (C,)


def _median_epoch(epochs: np.ndarray) -> np.ndarray:
    e = epochs.reshape(-1, epochs.shape[-1]).astype(float)
    e[e < 0] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(e, axis=0)


def a_high(H: np.ndarray, Y: np.ndarray, N: np.ndarray, kappa: float) -> np.ndarray:
    """Eq. 6 with ``τ_h = 1``, ``τ_y = κ``: ``A_high = H − N κ Y / H`` (elementwise; nan stays nan)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return H - N * kappa * Y / H


def conservation(arrays: dict[str, np.ndarray], checkpoints: tuple[str, ...], kappa: float) -> Conservation:
    """``Conservation`` from the ``ckpt_*`` and ``pair_*`` arrays and the fitted ``κ``."""
    kind = arrays["pair_kind"]
    agreeing = arrays["pair_ok"] & ((kind == KIND_CODES["agree_cross"]) | (kind == KIND_CODES["agree_equal"]))
    N = arrays["pair_N"].astype(float)
    start = a_high(arrays["pair_H0"], arrays["pair_Y0"], N, kappa)
    C = len(checkpoints)
    quantiles, sign, pairs = np.full((C, len(QUANTILES)), np.nan), np.full(C, np.nan), np.zeros(C, dtype=int)
    for c in range(C):
        now = a_high(arrays["ckpt_H"][..., c, :], arrays["ckpt_Y"][..., c, :], N, kappa)
        use = agreeing & np.isfinite(now) & np.isfinite(start) & (start != 0)
        pairs[c] = int(use.sum())
        if pairs[c]:
            quantiles[c] = np.quantile(now[use] / start[use], QUANTILES)
            sign[c] = float(np.mean(np.sign(now[use]) != np.sign(start[use])))
    return Conservation(tuple(checkpoints), _median_epoch(arrays["ckpt_epoch"]), quantiles, sign, pairs, float(kappa))


def horizon(arrays: dict[str, np.ndarray], checkpoints: tuple[str, ...], features: Features, observed: np.ndarray,
            *, n_replicates: int, n_gains: int, n_fractions: int, blocks: int, n_bootstrap: int,
            seed: int) -> Horizon:
    """``Horizon``: ``crossval.evaluate`` of ``HORIZON_PREDICTORS`` with ``z`` at each checkpoint."""
    C = len(checkpoints)
    agreement: dict[str, dict[str, np.ndarray]] = {}
    interval: dict[str, dict[str, np.ndarray]] = {}
    for c in range(C):
        z_min, z_median = cell_scores(agree_cross_z(arrays, arrays["ckpt_z"][..., c, :]))
        e = evaluate(HORIZON_PREDICTORS, replace(features, z_min=z_min.ravel(), z_median=z_median.ravel()), observed,
                     n_replicates=n_replicates, n_gains=n_gains, n_fractions=n_fractions, blocks=blocks,
                     n_bootstrap=n_bootstrap, seed=seed)
        for scheme, scores in e.out_of_sample.items():
            for name, score in scores.items():
                agreement.setdefault(scheme, {}).setdefault(name, np.full(C, np.nan))[c] = score.agreement
                interval.setdefault(scheme, {}).setdefault(name, np.full((C, 2), np.nan))[c] = score.interval
    without = np.sum(arrays["ckpt_epoch"].reshape(-1, C) < 0, axis=0)
    return Horizon(tuple(checkpoints), _median_epoch(arrays["ckpt_epoch"]), agreement, interval, without)
