"""Closed-form results of the interaction theory (P25 eqs. 5–7, 25, 34–35; docs/theory.md §2.3, §2.6, §2.7).

Every function broadcasts over numpy arrays (a whole parameter grid in one call),
validates its inputs (``ValueError`` naming the parameter and the allowed range)
and never clips. Scalars in give 0-d arrays out.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .checks import check_finite, check_nonnegative, check_positive
from .odesolve import check_rates


def _a_high(H: np.ndarray, Y: np.ndarray, r: np.ndarray) -> np.ndarray:
    return H - r * Y / H


def a_high(H0: ArrayLike, Y0: ArrayLike, *, N: ArrayLike, tau_h: ArrayLike,
           tau_y: ArrayLike) -> np.ndarray:
    """P25 eq. 6 (docs/theory.md §2.3): ``A_high = H0 − (N τ_y/τ_h) Y0/H0``.

    ``H0 = ‖dh(0)‖² > 0`` and ``Y0 = ⟨‖dy_i(0)‖²⟩_i >= 0``. ``A_high`` is the exact
    invariant ``H − r Y/H`` of eq. 20 (eq. 21), evaluated at ``t = 0``.
    """
    N, tau_h, tau_y = check_rates(N, tau_h, tau_y)
    H0 = check_positive("H0", H0)
    Y0 = check_nonnegative("Y0", Y0)
    return _a_high(H0, Y0, N * tau_y / tau_h)


def a_low(S: ArrayLike, *, N: ArrayLike, tau_h: ArrayLike, tau_y: ArrayLike) -> np.ndarray:
    """P25 eq. 25 (docs/theory.md §2.3): ``A_low = sqrt(N τ_y/τ_h) · sqrt(S)``, so ``A_low² = r S``.

    ``S = ⟨‖y*_{2,i} − y*_{1,i}‖²⟩_i >= 0`` is the second moment of the target
    differences (not their variance). Returns the value, not its square.
    """
    N, tau_h, tau_y = check_rates(N, tau_h, tau_y)
    S = check_nonnegative("S", S)
    return np.sqrt(N * tau_y / tau_h * S)


def final_distance(A_high: ArrayLike, A_low: ArrayLike) -> np.ndarray:
    """P25 eq. 5 (docs/theory.md §2.6): ``‖dh(∞)‖² = H₊ = A_high/2 + sqrt(A_high²/4 + A_low²)``.

    Evaluated without cancellation: for ``A_high < 0`` the equivalent form
    ``2 A_low²/(R − A_high)`` with ``R = sqrt(A_high² + 4 A_low²)`` is used.
    """
    A = check_finite("A_high", A_high)
    L = check_nonnegative("A_low", A_low)
    R = np.hypot(A, 2.0 * L)
    with np.errstate(divide="ignore", invalid="ignore"):
        negative_branch = np.where(R - A > 0, 2.0 * L * (L / (R - A)), 0.0)
    return np.where(A >= 0, 0.5 * (A + R), negative_branch)


def will_merge(A_high: ArrayLike, A_low: ArrayLike) -> np.ndarray:
    """P25 eq. 7 (docs/theory.md §2.6): the pair merges (``‖dh(∞)‖² = 0``) iff ``A_low = 0`` and ``A_high <= 0``.

    ``A_high < 0`` merges exponentially (rate ``|A_high|/(2 N τ_y)``); the boundary
    ``A_high = 0`` merges only algebraically, ``H ≈ 2 N τ_y / t``. ``A_low = 0`` is
    tested exactly: any nonzero target difference prevents a merger.
    """
    A = check_finite("A_high", A_high)
    L = check_nonnegative("A_low", A_low)
    return (L == 0) & (A <= 0)


def agreeing_pair_distance(t: ArrayLike, H0: ArrayLike, A_high: ArrayLike, *, N: ArrayLike,
                           tau_y: ArrayLike) -> np.ndarray:
    """Spec §2.7 (P25 §B.3, eqs. 34–35): ``H(t)`` of an agreeing pair (all ``ỹ_i = 0``, so ``W = Y``).

    Solution of the Bernoulli equation ``dH/dt = (H/(2 N τ_y)) (A_high − H)``::

        H(t) = A_high / (1 + (A_high/H0 − 1) exp(−A_high t/(2 N τ_y)))

    evaluated in an overflow-free form that is continuous through ``A_high = 0``
    (where ``H(t) = H0/(1 + H0 t/(2 N τ_y))``, the algebraic merger).
    """
    t = check_nonnegative("t", t)
    H0 = check_positive("H0", H0)
    A = check_finite("A_high", A_high)
    N, _, tau_y = check_rates(N, 1.0, tau_y)
    s = t / (2.0 * N * tau_y)
    x = A * s
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # (1 − e^{−|x|})/|x| without cancellation, 1 at x = 0.
        phi = np.where(x != 0, -np.expm1(-np.abs(x)) / np.abs(x), 1.0)
        decay = np.exp(-np.abs(x))
        growing = H0 / (decay + H0 * s * phi)        # x >= 0: numerator and denominator / e^{x}
        shrinking = H0 * decay / (1.0 + H0 * s * phi)  # x < 0: expm1(x)/x = φ
    return np.where(x >= 0, growing, shrinking)
