"""The reduced two-dimensional system in ``(H, W)`` (P25 eqs. 21–23, docs/theory.md §2.2).

Along any trajectory of eq. 20 the quantity ``A_high = H − r Y/H`` (``r = N τ_y/τ_h``)
is exactly conserved (eq. 21), so ``Y = H (H − A_high)/r`` (eq. 22) and the flow
reduces to (eq. 23, with the coefficient ``b²/(4a) = τ_h/(4 N² τ_y²)`` — the printed
paper has ``τ_y`` instead of ``τ_y²``, docs/theory.md §5.1)::

    dH/dt = −(a/2) W
    dW/dt = (b²/(4a)) H (H² − A_high H − A_low²) − b H W + (b A_high/4) W − a W²/(4H)

with ``a = 1/τ_h``, ``b = 1/(N τ_y)`` and ``A_low² = r S`` (eq. 25).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numba import njit
from numpy.typing import ArrayLike

from .checks import check_finite, check_nonnegative, check_positive
from .closed_form import _a_high
from .odesolve import (DEFAULT_ATOL, DEFAULT_METHOD, DEFAULT_RTOL, EffectiveRates, OdeResult,
                       OdeSystem, check_rates, integrate, store_parameter)


@njit(cache=True, error_model="numpy")
def rhs_reduced(H: float, W: float, A_high: float, A_low: float, a: float, b: float
                ) -> tuple[float, float]:
    """Right-hand side of P25 eq. 23 (corrected coefficient ``b²/(4a)``, docs/theory.md §2.2)."""
    dH = -0.5 * a * W
    dW = (b * b / (4.0 * a)) * H * (H * H - A_high * H - A_low * A_low) - b * H * W \
        + 0.25 * b * A_high * W - 0.25 * a * W * W / H
    return dH, dW


@njit(cache=True, error_model="numpy")
def jac_reduced(H: float, W: float, A_high: float, A_low: float, a: float, b: float) -> np.ndarray:
    """Jacobian ``∂(dH, dW)/∂(H, W)`` of eq. 23 at any ``H > 0`` (docs/theory.md §2.5 at the fixed points)."""
    J = np.zeros((2, 2))
    J[0, 1] = -0.5 * a
    J[1, 0] = (b * b / (4.0 * a)) * (3.0 * H * H - 2.0 * A_high * H - A_low * A_low) - b * W \
        + 0.25 * a * (W / H) ** 2
    J[1, 1] = -b * H + 0.25 * b * A_high - 0.5 * a * W / H
    return J


@njit(cache=True, error_model="numpy")
def rhs_reduced_signed(d: float, v: float, A_high: float, A_low: float, a: float, b: float
                       ) -> tuple[float, float]:
    """Eq. 23 in signed-distance coordinates ``d = ±sqrt(H)``, ``v = W/d`` (regular at ``H = 0``)::

        dd/dt = −(a/4) v
        dv/dt = (b²/(4a)) d (d⁴ − A_high d² − A_low²) − b d² v + (b A_high/4) v
    """
    dd = -0.25 * a * v
    dv = (b * b / (4.0 * a)) * d * (d ** 4 - A_high * d * d - A_low * A_low) - b * d * d * v \
        + 0.25 * b * A_high * v
    return dd, dv


@njit(cache=True, error_model="numpy")
def jac_reduced_signed(d: float, v: float, A_high: float, A_low: float, a: float, b: float
                       ) -> np.ndarray:
    """Jacobian of ``rhs_reduced_signed``."""
    J = np.zeros((2, 2))
    J[0, 1] = -0.25 * a
    J[1, 0] = (b * b / (4.0 * a)) * (5.0 * d ** 4 - 3.0 * A_high * d * d - A_low * A_low) \
        - 2.0 * b * d * v
    J[1, 1] = -b * d * d + 0.25 * b * A_high
    return J


def conserved_a_high(H: ArrayLike, Y: ArrayLike, *, N: ArrayLike, tau_h: ArrayLike,
                     tau_y: ArrayLike) -> np.ndarray:
    """The invariant ``A_high = H − (N τ_y/τ_h) Y/H`` of eq. 20 at any time (P25 eqs. 6, 21); broadcasts.

    Same formula as ``closed_form.a_high``, validated with the names ``H``, ``Y`` of a
    measured trajectory.
    """
    N, tau_h, tau_y = check_rates(N, tau_h, tau_y)
    return _a_high(check_positive("H", H), check_nonnegative("Y", Y), N * tau_y / tau_h)


def y_from_a_high(H: ArrayLike, A_high: ArrayLike, *, N: ArrayLike, tau_h: ArrayLike,
                  tau_y: ArrayLike) -> np.ndarray:
    """Reconstruct ``Y = H (H − A_high)/r`` from the conserved quantity (P25 eq. 22); broadcasts."""
    N, tau_h, tau_y = check_rates(N, tau_h, tau_y)
    H = check_positive("H", H)
    A_high = check_finite("A_high", A_high)
    return H * (H - A_high) * tau_h / (N * tau_y)


class ReducedResult(OdeResult):
    """Solution of eq. 23: ``.t``, ``.y`` (rows H, W), ``.H``, ``.W`` and scipy's fields."""


def _hw_to_signed(y0: np.ndarray) -> np.ndarray:
    """``(H, W) -> (d, v) = (sqrt(H), W/d)`` at ``t = 0``."""
    d0 = np.sqrt(y0[0])
    return np.array([d0, y0[1] / d0])


def _hw_from_signed(z: np.ndarray) -> np.ndarray:
    """``(d, v) -> (H, W) = (d², v d)``; ``z`` is ``(2,)`` or ``(2, T)``."""
    return np.stack([z[0] * z[0], z[1] * z[0]])


@dataclass(frozen=True)
class ReducedSystem(EffectiveRates, OdeSystem):
    """P25 eq. 23 (docs/theory.md §2.2): the invariants ``A_high``, ``A_low >= 0`` and the rates.

    State ``y = (H, W)``; ``Y`` follows from eq. 22 (``y_from_a_high``). Fields may be
    arrays for ``interaction.integrate_batched``; ``interaction.integrate`` needs scalars.
    """

    A_high: float
    A_low: float
    N: float
    tau_h: float
    tau_y: float

    components: ClassVar[tuple[str, ...]] = ("H", "W")
    result_type: ClassVar[type[OdeResult]] = ReducedResult
    distance_first: ClassVar[bool] = True
    scalar_parameters: ClassVar[tuple[str, ...]] = ("A_high", "A_low", "N", "tau_h", "tau_y")

    def __post_init__(self) -> None:
        store_parameter(self, "A_high", check_finite("A_high", self.A_high))
        store_parameter(self, "A_low", check_nonnegative("A_low", self.A_low))
        for name, value in zip(("N", "tau_h", "tau_y"), check_rates(self.N, self.tau_h, self.tau_y)):
            store_parameter(self, name, value)

    def check_y0(self, y0: Any) -> np.ndarray:
        y0 = check_finite("y0", y0)
        if y0.shape != (2,):
            raise ValueError(f"y0 must have shape (2,) ordered as ('H0', 'W0') (got {y0.shape})")
        check_positive("H0", y0[0])
        return y0

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        return np.array(rhs_reduced(y[0], y[1], self.A_high, self.A_low, self.a, self.b))

    def jac(self, t: float, y: np.ndarray) -> np.ndarray:
        return jac_reduced(y[0], y[1], self.A_high, self.A_low, self.a, self.b)

    def rhs_signed(self, t: float, z: np.ndarray) -> np.ndarray:
        return np.array(rhs_reduced_signed(z[0], z[1], self.A_high, self.A_low, self.a, self.b))

    def jac_signed(self, t: float, z: np.ndarray) -> np.ndarray:
        return jac_reduced_signed(z[0], z[1], self.A_high, self.A_low, self.a, self.b)

    to_signed = staticmethod(_hw_to_signed)
    from_signed = staticmethod(_hw_from_signed)


def integrate_reduced(H0: float, W0: float, *, A_high: float, A_low: float, N: float,
                      tau_h: float, tau_y: float, t_max: float, method: str = DEFAULT_METHOD,
                      rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                      merger_tol: float | None = None,
                      events: Sequence[Callable] | Callable | None = None,
                      dense_output: bool = False, t_eval: np.ndarray | None = None,
                      coordinates: str = "signed") -> ReducedResult:
    """Integrate P25 eq. 23 (docs/theory.md §2.2) from ``(H0, W0)``.

    Keyword wrapper of ``integrate(ReducedSystem(A_high, A_low, N, tau_h, tau_y),
    (H0, W0), t_max, ...)``. Coordinates, events, status and failure reporting as
    ``integrate_three_scalar`` (default: the regular signed-distance coordinates of
    ``rhs_reduced_signed``, crossings in ``.t_crossings``; ``'direct'``: eq. 23
    literally). ``Y`` along the solution is ``y_from_a_high(result.H, A_high, ...)`` (eq. 22).
    """
    system = ReducedSystem(A_high=A_high, A_low=A_low, N=N, tau_h=tau_h, tau_y=tau_y)
    return integrate(system, (H0, W0), t_max, method=method, rtol=rtol, atol=atol,
                     merger_tol=merger_tol, events=events, dense_output=dense_output,
                     t_eval=t_eval, coordinates=coordinates)


def w_nullcline(H: ArrayLike, *, A_high: float, A_low: float, N: float, tau_h: float,
                tau_y: float) -> tuple[np.ndarray, np.ndarray]:
    """The ``W``-nullcline ``dW/dt = 0`` of eq. 23 as its two branches ``(W₊(H), W₋(H))``.

    ``dW/dt = 0`` is a quadratic in ``W``; with ``k = b/a = 1/r`` its roots are
    ``W± = (k H/2) (−(4H − A_high) ± sqrt(D))``, ``D = 20H² − 12 A_high H + A_high² − 4 A_low²``.
    Where ``D < 0`` there is no real root and both branches are ``nan`` (the
    nullcline does not exist there). The ``H``-nullcline is ``W = 0``.
    """
    N, tau_h, tau_y = check_rates(N, tau_h, tau_y)
    H = check_positive("H", H)
    A = check_finite("A_high", A_high)
    L = check_nonnegative("A_low", A_low)
    k = tau_h / (N * tau_y)
    D = 20.0 * H * H - 12.0 * A * H + A * A - 4.0 * L * L
    root = np.sqrt(np.where(D >= 0, D, np.nan))
    return 0.5 * k * H * (-(4.0 * H - A) + root), 0.5 * k * H * (-(4.0 * H - A) - root)
