"""The measured theory of one phase-diagram network: pair statistics at initialisation, outcomes after training.

``measure_member`` is called once per trained network (docs/theory.md §2.3, §2.6, §3). At
the **initial** parameters, on the network's own training set, it samples prefix pairs
that share at least one continuation and measures ``H0, Y0, S, N`` for each with
``rnn.measure.prediction.predict_pairs`` (one batched Jacobian–vector product): agreeing
pairs of different lengths (``'agree_cross'``, the mergers that close the automaton into
a cycle), agreeing pairs of equal length and, as the control, disagreeing pairs (split
evenly, stratified by length cell; see that module). Per pair it keeps the rate-free
statistic ``z = H0²/(N Y0)``: for an agreeing pair eqs. 6–7 predict a merger iff
``A_high = H0 − N κ Y0/H0 <= 0``, i.e. ``z <= κ`` with ``κ = τ_y/τ_h`` the one global rate
ratio, which ``analysis.py`` fits across networks. The network's **cell threshold**
``z_min`` is ``rnn.measure.prediction.cell_threshold``: the smallest ``z`` over its
measured agreeing cross-length pairs. The cell rule of that module (a network generalises
iff some agreeing cross-length pair merges) makes ``z_min <= κ`` the measured prediction
of the phase diagram, the analogue of eq. 9's ``S > log C``.

The observed outcome of each pair is read in the **trained** network, as the phase
diagram's automaton extraction sees it (``run.py``, ``rnn.automata.extraction``): the
distance of the two prefixes' final hidden states divided by ``‖std‖`` (``std_norm`` with
the ``'final'`` convention) of the trained network's states of ``h_0`` and every binary
sequence of length ``1..L``; the pair counts as merged iff that distance is ``< merge_eps``
(the extraction's strict ``‖x − leader‖ < eps`` with ``eps = eps_factor·‖std‖``, so
``merge_eps`` is the phase diagram's ``eps_factor``). The extraction's greedy leader
grouping can still put a pair within ``eps`` of each other into different states, so this
is the pairwise reading of its criterion.

``scaling_diagnostics`` (same module) measures eq. 9's two scalings in the same initial
network: mean ``log ‖dh(0)‖²`` against the prefix length ``m`` and mean
``log ‖dy_i‖²/‖dh‖²`` against the continuation length ``n``, with their fitted slopes
(docs/theory.md §3.2: both should equal ``log G``).

Everything is returned in fixed shapes so that ``run.py`` can stack the networks into
arrays ``[replicate, gain, fraction, …]`` (``MEASURED_ARRAYS``, ``stack_members``). Pair
arrays have ``n_pairs`` entries, padded (kind ``-1``, ``pair_ok = False``, floats ``nan``,
integers ``-1``) when the data supply fewer pairs. A pair whose Jacobian is not finite (or
whose ``H0 = 0``) keeps its slot with ``pair_ok = False`` and counts in
``measured_failed_pairs``; ``measured_z_min`` is ``nan`` when no agreeing cross-length pair
was measured. The readout does not enter: ``'discontinuity'``'s step has zero derivative
almost everywhere, so its ``J_i dh`` is the linear readout's.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from interaction.checks import check_choice, check_int, check_positive
from rnn.automata import std_norm, string_codes
from rnn.measure.prediction import (
    KINDS,
    _check_data,
    _check_params,
    cell_threshold,
    predict_ensemble_pairs,
    predict_pairs,
    scaling_diagnostics,
)
from rnn.parity import PARAM_NAMES, READOUTS, hidden_states
from rnn.parity.data import PAD, SequenceSet, all_sequences
from rnn.parity.elman import NONLINEARITIES

#: per-pair kind codes (``-1``: padding, no pair in this slot)
KIND_CODES = {kind: code for code, kind in enumerate(KINDS)}
#: scaling-diagnostic pairs per prefix length (``rnn.measure.prediction.scaling_diagnostics``)
SCALING_PAIRS_PER_LENGTH = 16

#: per network, 0-d: cell threshold, counts and fitted slopes (``log_G``: the diagnostics' own estimate of G)
NETWORK_ARRAYS = ("measured_z_min", "measured_pairs", "measured_agree_cross", "measured_failed_pairs",
                  "scaling_slope_H", "scaling_slope_ratio", "scaling_log_G")
#: per network, ``(L,)``: mean log ‖dh(0)‖² at m = 1..L; mean log ‖dy_i‖²/‖dh‖² at n = 0..L−1 (nan: none)
PROFILE_ARRAYS = ("scaling_H_log_mean", "scaling_ratio_log_mean")
#: per network, ``(n_pairs,)``
PAIR_ARRAYS = ("pair_kind", "pair_m1", "pair_m2", "pair_N", "pair_H0", "pair_Y0", "pair_S", "pair_z", "pair_ok",
               "pair_final_distance", "pair_merged")
#: per network, ``(n_pairs, L)`` int8: the two prefixes of each pair (``m1 <= m2``), padded ``-1``
PREFIX_ARRAYS = ("pair_prefix1", "pair_prefix2")
MEASURED_ARRAYS = NETWORK_ARRAYS + PROFILE_ARRAYS + PAIR_ARRAYS + PREFIX_ARRAYS
#: per network, ``(C,)``: each checkpoint rule's epoch and the kept epoch measured (``-1``: the rule selects none)
CHECKPOINT_EPOCH_ARRAYS = ("ckpt_rule_epoch", "ckpt_epoch")
#: per network, ``(C, n_pairs)``: ``H = ‖dh‖²``, ``Y`` and ``z = H²/(N Y)`` of the same pairs at each checkpoint
CHECKPOINT_PAIR_ARRAYS = ("ckpt_H", "ckpt_Y", "ckpt_z")
CHECKPOINT_ARRAYS = CHECKPOINT_EPOCH_ARRAYS + CHECKPOINT_PAIR_ARRAYS


def _padded(values: np.ndarray, size: int, fill, dtype) -> np.ndarray:
    out = np.full(size, fill, dtype=dtype)
    out[: values.size] = values
    return out


def _final_distances(final: Mapping, prefix_tokens: np.ndarray, prefix_lengths: np.ndarray, index1: np.ndarray,
                     index2: np.ndarray, L: int, nonlinearity: str, merge_eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Normalised distances ``‖h(p1) − h(p2)‖/‖std‖`` in the trained network and ``merged`` (module docstring).

    The states are those the extraction uses: ``hidden_states`` of ``h_0`` and all binary
    sequences of length ``1..L`` in canonical order, in the parameters' own precision; for
    a binary prefix that row is its ``string_codes`` code (code 0 is the empty prefix, ``h_0``).
    """
    hidden = hidden_states({k: final[k] for k in PARAM_NAMES}, all_sequences(L), nonlinearity=nonlinearity)
    std = std_norm(hidden, "final")
    rows = string_codes(prefix_tokens, prefix_lengths, 2)
    distance = np.linalg.norm(hidden[rows[index1]].astype(np.float64) - hidden[rows[index2]], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        normalised = distance / std
    return normalised, distance < merge_eps * std


def measure_member(initial: Mapping[str, np.ndarray], final: Mapping[str, np.ndarray] | None, data: SequenceSet,
                   targets: np.ndarray, *, n_pairs: int, seed: int, nonlinearity: str, readout: str,
                   merge_eps: float, scaling_pairs_per_length: int = SCALING_PAIRS_PER_LENGTH
                   ) -> dict[str, np.ndarray]:
    """Pair statistics of one network at ``initial`` on its training set, outcomes at ``final`` (module docstring).

    ``initial``/``final``: ``rnn.parity.elman`` parameter dicts without a member axis
    (numpy arrays or tensors, same shapes, binary input); ``final=None`` for a network
    without a usable trained state (diverged): its outcomes are ``nan``/``False``.
    ``data``/``targets``: the network's training set and its classes. ``n_pairs`` (>= 1)
    pairs are sampled with ``seed`` (>= 0); ``merge_eps`` (> 0) is the extraction's
    ``eps_factor``. Returns ``MEASURED_ARRAYS``: 0-d float64/int64 ``NETWORK_ARRAYS``,
    ``(L,)`` float64 ``PROFILE_ARRAYS``, ``(n_pairs,)`` ``PAIR_ARRAYS`` (``pair_kind`` int8
    ``KIND_CODES``, ``pair_m1/m2/N`` int64, ``pair_ok``/``pair_merged`` bool, the rest float64)
    and ``(n_pairs, L)`` int8 ``PREFIX_ARRAYS``.
    A ``ValueError`` names the bad argument (shapes, non-finite parameters, data that share
    no continuation between any two prefixes).
    """
    check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
    check_choice("readout", readout, READOUTS)
    n_pairs = check_int("n_pairs", n_pairs, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    merge_eps = float(check_positive("merge_eps", merge_eps))
    data, targets = _check_data(data, targets)
    if targets is None:
        raise ValueError("targets must be an integer array of classes, one per training sequence (got None)")
    p0 = _check_params(initial, data, targets, name="initial")
    if p0["W_ih"].shape[1] != 2:
        raise ValueError(f"initial['W_ih'] must have 2 input columns, the phase diagram's binary alphabet "
                         f"(got {p0['W_ih'].shape[1]})")
    if final is not None:
        p1 = _check_params(final, data, targets, name="final")
        for k in PARAM_NAMES:
            if p1[k].shape != p0[k].shape:
                raise ValueError(f"final['{k}'] must have the shape of initial['{k}'], {tuple(p0[k].shape)} "
                                 f"(got {tuple(p1[k].shape)})")
    L = data.max_length
    rng = np.random.default_rng(seed)
    pred = predict_pairs(p0, data, targets, rate_ratio=1.0, n_pairs=n_pairs, seed=rng, nonlinearity=nonlinearity)
    diag = scaling_diagnostics(p0, data, pairs_per_length=scaling_pairs_per_length, seed=rng,
                               nonlinearity=nonlinearity)
    k = pred.n_pairs
    if final is None:
        distance, merged = np.full(k, np.nan), np.zeros(k, dtype=bool)
    else:
        as_numpy = {key: (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v))
                    for key, v in final.items() if key in PARAM_NAMES}
        distance, merged = _final_distances(as_numpy, pred.prefix_tokens, pred.prefix_lengths, pred.index1,
                                            pred.index2, L, nonlinearity, merge_eps)
    agree_cross = (pred.kind == "agree_cross") & pred.measurement_ok
    # diag.m = 1..L; diag.n = 0..(longest shared continuation), at most L − 1
    H_profile = _padded(diag.H_log_mean, L, np.nan, np.float64)
    ratio_profile = _padded(diag.ratio_log_mean[:L], L, np.nan, np.float64)
    out = {
        "measured_z_min": np.float64(cell_threshold(pred) if agree_cross.any() else np.nan),
        "measured_pairs": np.int64(k),
        "measured_agree_cross": np.int64(agree_cross.sum()),
        "measured_failed_pairs": np.int64(np.sum(~pred.measurement_ok)),
        "scaling_slope_H": np.float64(diag.slope_H),
        "scaling_slope_ratio": np.float64(diag.slope_ratio),
        "scaling_log_G": np.float64(diag.log_G),
        "scaling_H_log_mean": H_profile,
        "scaling_ratio_log_mean": ratio_profile,
        "pair_kind": _padded(np.array([KIND_CODES[c] for c in pred.kind], dtype=np.int8), n_pairs, -1, np.int8),
        "pair_m1": _padded(pred.m1, n_pairs, -1, np.int64),
        "pair_m2": _padded(pred.m2, n_pairs, -1, np.int64),
        "pair_N": _padded(pred.N, n_pairs, -1, np.int64),
        "pair_H0": _padded(pred.H0, n_pairs, np.nan, np.float64),
        "pair_Y0": _padded(pred.Y0, n_pairs, np.nan, np.float64),
        "pair_S": _padded(pred.S, n_pairs, np.nan, np.float64),
        "pair_z": _padded(pred.statistic, n_pairs, np.nan, np.float64),
        "pair_ok": _padded(pred.measurement_ok, n_pairs, False, bool),
        "pair_final_distance": _padded(distance, n_pairs, np.nan, np.float64),
        "pair_merged": _padded(merged, n_pairs, False, bool),
    }
    for name, index in (("pair_prefix1", pred.index1), ("pair_prefix2", pred.index2)):
        out[name] = np.full((n_pairs, L), PAD, dtype=np.int8)
        out[name][:k] = pred.prefix_tokens[index, :L]
    return {name: np.asarray(out[name]) for name in MEASURED_ARRAYS}


def measure_checkpoints(checkpoints: Sequence[Mapping[str, np.ndarray] | None], measured: Mapping[str, np.ndarray],
                        data: SequenceSet, targets: np.ndarray, *, nonlinearity: str) -> dict[str, np.ndarray]:
    """``H``, ``Y`` and ``z`` at each checkpoint of the pairs ``measure_member`` sampled at initialisation.

    ``checkpoints``: one parameter dict per checkpoint (``None``: the rule selected no epoch;
    its row stays ``nan``); ``measured``: that network's ``measure_member`` result, whose
    ``pair_prefix1/2`` name the pairs (the same pairs at every checkpoint, so ``A_high(t)``
    can be followed pair by pair). Returns ``CHECKPOINT_PAIR_ARRAYS``, each ``(C, n_pairs)``.
    """
    n_pairs = measured["pair_kind"].shape[-1]
    out = {name: np.full((len(checkpoints), n_pairs), np.nan) for name in CHECKPOINT_PAIR_ARRAYS}
    live = np.flatnonzero(measured["pair_kind"] >= 0)
    present = [c for c, params in enumerate(checkpoints) if params is not None]
    if not live.size or not present:
        return out
    pairs = [(tuple(int(t) for t in measured["pair_prefix1"][k] if t >= 0),
              tuple(int(t) for t in measured["pair_prefix2"][k] if t >= 0)) for k in live]
    stacked = {key: np.stack([np.asarray(checkpoints[c][key], dtype=np.float64) for c in present])
               for key in PARAM_NAMES}
    for c, pred in zip(present, predict_ensemble_pairs(stacked, data, targets, rate_ratio=1.0, pairs=pairs,
                                                       nonlinearity=nonlinearity)):
        ok = pred.measurement_ok
        out["ckpt_H"][c, live] = np.where(ok, pred.H0, np.nan)
        out["ckpt_Y"][c, live] = np.where(ok, pred.Y0, np.nan)
        out["ckpt_z"][c, live] = np.where(ok, pred.statistic, np.nan)
    return out


def stack_members(members: Sequence[dict[str, np.ndarray]], names: Sequence[str] = MEASURED_ARRAYS
                  ) -> dict[str, np.ndarray]:
    """``measure_member`` (or ``measure_checkpoints``) results of an ensemble's members stacked along a member axis."""
    if not members:
        raise ValueError("members must hold at least one measure_member result (got none)")
    return {name: np.stack([m[name] for m in members]) for name in names}
