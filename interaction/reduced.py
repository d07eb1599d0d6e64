"""The reduced two-dimensional system in ``(H, W)`` (P25 eqs. 21–23, spec §2.2).

Along any trajectory of eq. 20 the quantity ``A_high = H − r Y/H`` (``r = N τ_y/τ_h``)
is exactly conserved (eq. 21), so ``Y = H (H − A_high)/r`` (eq. 22) and the flow
reduces to (eq. 23, with the coefficient ``b²/(4a) = τ_h/(4 N² τ_y²)`` — the printed
paper has ``τ_y`` instead of ``τ_y²``, spec §6a.3)::

    dH/dt = −(a/2) W
    dW/dt = (b²/(4a)) H (H² − A_high H − A_low²) − b H W + (b A_high/4) W − a W²/(4H)

with ``a = 1/τ_h``, ``b = 1/(N τ_y)`` and ``A_low² = r S`` (eq. 25).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import ArrayLike

from .checks import check_choice, check_finite, check_nonnegative, check_positive
from .closed_form import _a_high
from .odesolve import EffectiveRates, OdeResult, check_rates, solve


@njit(cache=True, error_model="numpy")
def rhs_reduced(H: float, W: float, A_high: float, A_low: float, a: float, b: float
                ) -> tuple[float, float]:
    """Right-hand side of P25 eq. 23 (corrected coefficient ``b²/(4a)``, spec §2.2)."""
    dH = -0.5 * a * W
    dW = (b * b / (4.0 * a)) * H * (H * H - A_high * H - A_low * A_low) - b * H * W \
        + 0.25 * b * A_high * W - 0.25 * a * W * W / H
    return dH, dW


@njit(cache=True, error_model="numpy")
def jac_reduced(H: float, W: float, A_high: float, A_low: float, a: float, b: float) -> np.ndarray:
    """Jacobian ``∂(dH, dW)/∂(H, W)`` of eq. 23 at any ``H > 0`` (spec §2.5 at the fixed points)."""
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


@dataclass(frozen=True)
class ReducedSystem(EffectiveRates):
    """Parameters of P25 eq. 23: the invariants ``A_high``, ``A_low >= 0`` and the rates."""

    A_high: float
    A_low: float
    N: float
    tau_h: float
    tau_y: float

    def __post_init__(self) -> None:
        check_finite("A_high", self.A_high)
        check_nonnegative("A_low", self.A_low)
        check_rates(self.N, self.tau_h, self.tau_y)

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        return np.array(rhs_reduced(y[0], y[1], self.A_high, self.A_low, self.a, self.b))

    def jac(self, t: float, y: np.ndarray) -> np.ndarray:
        return jac_reduced(y[0], y[1], self.A_high, self.A_low, self.a, self.b)

    def rhs_signed(self, t: float, z: np.ndarray) -> np.ndarray:
        return np.array(rhs_reduced_signed(z[0], z[1], self.A_high, self.A_low, self.a, self.b))

    def jac_signed(self, t: float, z: np.ndarray) -> np.ndarray:
        return jac_reduced_signed(z[0], z[1], self.A_high, self.A_low, self.a, self.b)


class ReducedResult(OdeResult):
    """Solution of eq. 23: ``.t``, ``.y`` (rows H, W), ``.H``, ``.W`` and scipy's fields."""

    @property
    def H(self) -> np.ndarray:
        return self.y[0]

    @property
    def W(self) -> np.ndarray:
        return self.y[1]


def _signed_to_public(z: np.ndarray) -> np.ndarray:
    return np.stack([z[0] * z[0], z[1] * z[0]])


def integrate_reduced(H0: float, W0: float, *, A_high: float, A_low: float, N: float,
                      tau_h: float, tau_y: float, t_max: float, method: str = "LSODA",
                      rtol: float = 1e-10, atol: float = 1e-14, merger_tol: float | None = None,
                      events: Sequence[Callable] | Callable | None = None,
                      dense_output: bool = False, t_eval: np.ndarray | None = None,
                      coordinates: str = "signed") -> ReducedResult:
    """Integrate P25 eq. 23 (spec §2.2) from ``(H0, W0)``.

    Coordinates, events, status and failure reporting as ``integrate_three_scalar``
    (default: regular signed-distance coordinates ``rhs_reduced_signed``, crossings in
    ``.t_crossings``; ``'direct'``: eq. 23 literally). ``Y`` along the solution is
    ``y_from_a_high(result.H, A_high, ...)`` (eq. 22).
    """
    N, tau_h, tau_y = (float(v) for v in check_rates(N, tau_h, tau_y))
    system = ReducedSystem(A_high=float(check_finite("A_high", A_high)),
                           A_low=float(check_nonnegative("A_low", A_low)), N=N,
                           tau_h=tau_h, tau_y=tau_y)
    H0 = float(check_positive("H0", H0))
    W0 = float(check_finite("W0", W0))
    check_choice("coordinates", coordinates, ("signed", "direct"))
    common = dict(t_max=t_max, method=method, rtol=rtol, atol=atol, merger_tol=merger_tol,
                  events=events, dense_output=dense_output, t_eval=t_eval,
                  result_type=ReducedResult)
    if coordinates == "direct":
        return solve(system.rhs, system.jac, np.array([H0, W0]), **common)
    d0 = np.sqrt(H0)
    return solve(system.rhs_signed, system.jac_signed, np.array([d0, W0 / d0]),
                 to_public=_signed_to_public, signed_distance=True, **common)


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
