"""The real orthonormal Fourier basis of ``R^P`` and the directions used by Nanda's progress measures (docs/experiments.md §4.6).

Rows of ``F = fourier_basis(P)`` (``P`` odd, ``F Fᵀ = I``):

* row 0: ``1/√P`` (constant);
* rows ``2k−1``, ``2k`` for ``k = 1..(P−1)/2``: ``cos(2πkx/P)``, ``sin(2πkx/P)`` divided by ``√(P/2)``.

``w_k = 2πk/P``. Frequencies ``k`` and ``P − k`` are the same real frequency, so
``k ∈ {1, …, (P−1)/2}`` indexes all of them. The Fourier measures that interpret a
frequency as a complete algorithm for ``(a + b) mod P`` (key frequencies, restricted and
excluded loss) need every non-zero ``k`` to generate ``Z_P``, i.e. ``P`` **prime**; they
call ``check_prime``.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from interaction.checks import check_int
from rnn.modular.data import is_prime


def check_odd_modulus(P: int) -> int:
    """``P`` must be an odd integer ``>= 3`` (the real basis has no Nyquist row)."""
    P = check_int("P", P, minimum=3)
    if P % 2 == 0:
        raise ValueError(f"P must be odd for the real Fourier basis (got {P})")
    return P


def check_prime(P: int) -> int:
    """``P`` must be a prime ``>= 3``: a Fourier progress measure reads each frequency as a full solution."""
    P = check_int("P", P, minimum=3)
    if not is_prime(P):
        raise ValueError(f"P must be a prime >= 3 for the Fourier progress measures (got {P}: frequencies "
                         f"sharing a factor with P cannot identify (a + b) mod P)")
    return P


def n_frequencies(P: int) -> int:
    """Number of non-constant real frequencies, ``(P − 1)/2``."""
    return (check_odd_modulus(P) - 1) // 2


@lru_cache(maxsize=16)
def _basis(P: int) -> np.ndarray:
    x = np.arange(P)
    rows = [np.full(P, 1.0)]
    for k in range(1, (P - 1) // 2 + 1):
        rows += [np.cos(2 * np.pi * k * x / P), np.sin(2 * np.pi * k * x / P)]
    F = np.stack(rows)
    F /= np.linalg.norm(F, axis=1, keepdims=True)
    F.setflags(write=False)
    return F


def fourier_basis(P: int) -> np.ndarray:
    """The ``(P, P)`` real orthonormal Fourier basis described in the module docstring (read-only array)."""
    return _basis(check_odd_modulus(P))


def basis_names(P: int) -> list[str]:
    """Row labels ``['const', 'cos 1', 'sin 1', …]``."""
    return ["const"] + [f"{t} {k}" for k in range(1, n_frequencies(P) + 1) for t in ("cos", "sin")]


def fourier_transform(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Coefficients of ``x`` along ``axis`` (length ``P``) in the basis: ``F`` applied along that axis."""
    x = np.asarray(x, dtype=float)
    F = fourier_basis(x.shape[axis])
    return np.moveaxis(np.tensordot(F, np.moveaxis(x, axis, 0), axes=(1, 0)), 0, axis)


def fourier_transform_2d(T: np.ndarray) -> np.ndarray:
    """2D transform over the first two axes: ``T̂[f, g, …] = Σ_{a,b} F[f,a] F[g,b] T[a, b, …]`` (docs/experiments.md §4.6).

    ``T`` may also be given with a flat first axis of length ``P²`` (lexicographic
    ``(a, b)`` rows); it is reshaped to ``(P, P, …)``.
    """
    T = as_grid(T)
    F = fourier_basis(T.shape[0])
    return np.einsum("fa,gb,ab...->fg...", F, F, T, optimize=True)


def as_grid(T: np.ndarray) -> np.ndarray:
    """View a ``(P², …)`` array of lexicographic ``(a, b)`` rows as ``(P, P, …)`` (grids pass through)."""
    T = np.asarray(T, dtype=float)
    n = T.shape[0]
    if T.ndim >= 2 and T.shape[1] == n:
        return T
    P = int(round(np.sqrt(n)))
    if P * P != n:
        raise ValueError(f"first axis must have length P² for lexicographic (a, b) rows (got {n})")
    return T.reshape(P, P, *T.shape[1:])


def frequency_norms(coefficients: np.ndarray, axis: int = 0) -> np.ndarray:
    """Norm of each real frequency ``k = 1..(P−1)/2`` (cos and sin rows together, all other axes).

    ``coefficients`` has the Fourier axis (length ``P``) at ``axis``; the constant row is excluded.
    """
    c = np.moveaxis(np.asarray(coefficients, dtype=float), axis, 0)
    sq = (c[1:] ** 2).reshape(c.shape[0] - 1, -1).sum(axis=1)
    return np.sqrt(sq[0::2] + sq[1::2])


def sum_directions(P: int, k: int) -> np.ndarray:
    """The unit vectors over the ``P²`` inputs ∝ ``cos(w_k(a+b))`` and ``sin(w_k(a+b))``: shape ``(2, P²)``.

    ``u_cos = (F_{2k−1}⊗F_{2k−1} − F_{2k}⊗F_{2k})/√2``, ``u_sin = (F_{2k}⊗F_{2k−1} + F_{2k−1}⊗F_{2k})/√2``
    (docs/experiments.md §4.6), rows lexicographic in ``(a, b)``.
    """
    F = fourier_basis(P)
    k = check_int("k", k, minimum=1, maximum=(P - 1) // 2)
    c, s = F[2 * k - 1], F[2 * k]
    u_cos = (np.outer(c, c) - np.outer(s, s)).ravel() / np.sqrt(2)
    u_sin = (np.outer(s, c) + np.outer(c, s)).ravel() / np.sqrt(2)
    return np.stack([u_cos, u_sin])
