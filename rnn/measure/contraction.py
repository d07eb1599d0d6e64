"""``G``: how much one application of the recurrent map shrinks representational distances (docs/theory.md §3.2).

The merger boundary (P25 eqs. 8–9) rests on two scalings, ``‖dh(0)‖² ∝ G^m`` and
``⟨‖dy_i(0)‖²/‖dh(0)‖²⟩ ∝ G^n``, so ``G`` is a factor on **squared** distances per step.
We define it as the geometric mean, over pairs of reachable hidden states ``(h, h')`` and
input symbols ``x``, of

    ρ(h, h', x) = ‖f(h, x) − f(h', x)‖² / ‖h − h'‖²,     f(h, x) = φ(W_ih x + b_ih + W_hh h + b_hh).

The geometric mean is the right average for a per-step factor: ``Π_t ρ_t = G^m`` for an
``m``-step product of typical factors, i.e. ``log G`` is the mean log-contraction rate
(a finite-distance analogue of a Lyapunov exponent). Reachable states are the hidden
states of ``h_0`` and all strings of length ``1..depth`` (``Σ k^t`` states); pairs are
all distinct pairs of them, or a seeded random subset of ``max_pairs``. Pairs closer than
``1e-12`` times the states' RMS norm are left out (already merged: the ratio is
numerically meaningless). If some ``ρ = 0`` (both states mapped to the same point, e.g.
all ReLU units off) the geometric mean is honestly 0.

For a linear map ``f(h, x) = c·Q h + u_x`` with ``Q`` orthogonal, ``G = c²`` exactly; for
Xavier-normal ``W_hh`` with gain ``g`` the spectral radius is ≈ ``g`` and ``G`` grows with
``g`` (docs/theory.md §3.5). Works on one parameter dict or on an ensemble's stacked params
(leading axis ``E`` on every array), returning one ``G`` per member.
"""
from __future__ import annotations

import numpy as np
import torch

from interaction.checks import check_choice, check_int
from rnn.parity import elman

AVERAGES = ("geometric", "arithmetic")


def _stacked(params) -> tuple[dict[str, np.ndarray], bool]:
    missing = set(elman.PARAM_NAMES) - set(params)
    if missing:
        raise ValueError(f"params must have the keys {elman.PARAM_NAMES} (missing {sorted(missing)})")
    arrays = {k: (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)).astype(np.float64)
              for k, v in params.items() if k in elman.PARAM_NAMES}
    single = arrays["W_hh"].ndim == 2
    if single:
        arrays = {k: v[None] for k, v in arrays.items()}
    return arrays, single


def _step(p: dict[str, np.ndarray], h: np.ndarray, symbol: int, nonlinearity: str) -> np.ndarray:
    """``f(h, symbol)`` for states ``h`` ``(E, R, P)``."""
    pre = (np.einsum("erq,epq->erp", h, p["W_hh"]) + p["W_ih"][:, None, :, symbol]
           + p["b_ih"][:, None] + p["b_hh"][:, None])
    return np.maximum(pre, 0.0) if nonlinearity == "relu" else np.tanh(pre)


def reachable_states(params, *, nonlinearity: str = "relu", depth: int = 6) -> np.ndarray:
    """Hidden states of ``h_0`` and every string of length ``1..depth``: ``(E, R, P)`` (``E`` = 1 for one network)."""
    check_choice("nonlinearity", nonlinearity, elman.NONLINEARITIES)
    depth = check_int("depth", depth, minimum=1, maximum=16)
    p, _ = _stacked(params)
    n_symbols = p["W_ih"].shape[2]
    level = p["h0"][:, None, :]
    levels = [level]
    for _ in range(depth):
        level = np.concatenate([_step(p, level, a, nonlinearity) for a in range(n_symbols)], axis=1)
        levels.append(level)
    return np.concatenate(levels, axis=1)


def contraction_ratios(params, *, nonlinearity: str = "relu", depth: int = 6, max_pairs: int = 4000,
                       seed: int = 0) -> np.ndarray:
    """Squared-distance ratios ``ρ`` ``(E, n_pairs · n_symbols)``; ``nan`` for left-out (merged) pairs."""
    max_pairs = check_int("max_pairs", max_pairs, minimum=1)
    states = reachable_states(params, nonlinearity=nonlinearity, depth=depth)
    p, _ = _stacked(params)
    R = states.shape[1]
    i, j = np.triu_indices(R, k=1)
    if i.size > max_pairs:
        pick = np.sort(np.random.default_rng(seed).choice(i.size, size=max_pairs, replace=False))
        i, j = i[pick], j[pick]
    dist2 = np.sum((states[:, i] - states[:, j]) ** 2, axis=-1)
    scale2 = np.mean(np.sum(states ** 2, axis=-1), axis=1, keepdims=True)
    valid = dist2 > 1e-24 * scale2
    ratios = []
    for a in range(p["W_ih"].shape[2]):
        nxt = _step(p, states, a, nonlinearity)
        num = np.sum((nxt[:, i] - nxt[:, j]) ** 2, axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios.append(np.where(valid, num / dist2, np.nan))
    return np.concatenate(ratios, axis=1)


def estimate_contraction(params, *, nonlinearity: str = "relu", depth: int = 6, max_pairs: int = 4000,
                         seed: int = 0, average: str = "geometric") -> float | np.ndarray:
    """``G`` (see module docstring): float for one network, ``(E,)`` array for stacked params.

    ``average='arithmetic'`` gives the plain mean of ``ρ`` instead (an upper bound on the
    geometric mean). ``nan`` if a member has no usable pair (all reachable states merged).
    """
    check_choice("average", average, AVERAGES)
    _, single = _stacked(params)
    rho = contraction_ratios(params, nonlinearity=nonlinearity, depth=depth, max_pairs=max_pairs, seed=seed)
    usable = np.isfinite(rho)
    count = usable.sum(axis=1)
    if average == "arithmetic":
        G = np.where(count > 0, np.nansum(rho, axis=1) / np.maximum(count, 1), np.nan)
    else:
        with np.errstate(divide="ignore"):
            logs = np.where(usable, np.log(np.where(usable, rho, 1.0)), 0.0)
        G = np.where(count > 0, np.exp(logs.sum(axis=1) / np.maximum(count, 1)), np.nan)
    return float(G[0]) if single else G
