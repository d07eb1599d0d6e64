"""The three-scalar interaction system of a representation pair (P25 eq. 4 = eq. 20, spec §2.1).

Variables, for a pair of prefixes with ``N`` shared continuations:

* ``H = ‖dh‖²``            squared representational distance,
* ``Y = ⟨‖dy_i‖²⟩_i``      mean squared prediction difference,
* ``W = ⟨w_i⟩_i``          mean alignment variable, ``w_i = dy_iᵀ(dy_i − ỹ_i)``,

with ``S = ⟨‖ỹ_i‖²⟩_i`` the (constant) mean squared target difference and the
rates ``a = 1/τ_h`` (``1/τ_h = 1/τ_h1 + 1/τ_h2``) and ``b = 1/(N τ_y)``::

    dH/dt = −(a/2) W
    dY/dt = −½ (b H + a Y/H) W
    dW/dt = −(b/4)(3W − Y + S) H − (a/4)(W/H)(Y + W)

The per-continuation system (P25 eq. 19, spec §1) is also provided; with equal
output rates its average over continuations closes exactly onto eq. 20.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from .checks import check_finite, check_nonnegative, check_positive
from .odesolve import OdeResult, check_rates, solve


@njit(cache=True)
def rhs_three_scalar(H: float, Y: float, W: float, S: float, a: float, b: float
                     ) -> tuple[float, float, float]:
    """Right-hand side of P25 eq. 20 (spec §2.1); ``a = 1/τ_h``, ``b = 1/(N τ_y)``."""
    dH = -0.5 * a * W
    dY = -0.5 * (b * H + a * Y / H) * W
    dW = -0.25 * b * (3.0 * W - Y + S) * H - 0.25 * a * (W / H) * (Y + W)
    return dH, dY, dW


@njit(cache=True)
def jac_three_scalar(H: float, Y: float, W: float, S: float, a: float, b: float) -> np.ndarray:
    """Jacobian ``∂(dH, dY, dW)/∂(H, Y, W)`` of P25 eq. 20 (rows: equations, columns: variables)."""
    J = np.zeros((3, 3))
    J[0, 2] = -0.5 * a
    J[1, 0] = -0.5 * b * W + 0.5 * a * Y * W / (H * H)
    J[1, 1] = -0.5 * a * W / H
    J[1, 2] = -0.5 * (b * H + a * Y / H)
    J[2, 0] = -0.25 * b * (3.0 * W - Y + S) + 0.25 * a * W * (Y + W) / (H * H)
    J[2, 1] = 0.25 * b * H - 0.25 * a * W / H
    J[2, 2] = -0.75 * b * H - 0.25 * a * (Y + 2.0 * W) / H
    return J


@njit(cache=True)
def rhs_per_continuation(H: float, Yi: np.ndarray, Wi: np.ndarray, Si: np.ndarray,
                         a: float, bi: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Right-hand side of the per-continuation system, P25 eq. 19 (spec §1).

    ``Yi[i] = ‖dy_i‖²``, ``Wi[i] = w_i``, ``Si[i] = ‖ỹ_i‖²`` and ``bi[i] = 1/(N τ_{y_i})``
    (each continuation may have its own output rate; eq. 19 is the equal-rate case)::

        dH/dt      = −(a/2) W,                      W = ⟨w_i⟩
        d‖dy_i‖²/dt = −(b_i/2) w_i H − (a/2) W ‖dy_i‖²/H
        dw_i/dt     = −(b_i/4)(3w_i − ‖dy_i‖² + ‖ỹ_i‖²) H − (a/4)(W/H)(‖dy_i‖² + w_i)
    """
    W = Wi.mean()
    dH = -0.5 * a * W
    dYi = -0.5 * bi * Wi * H - 0.5 * a * W * Yi / H
    dWi = -0.25 * bi * (3.0 * Wi - Yi + Si) * H - 0.25 * a * (W / H) * (Yi + Wi)
    return dH, dYi, dWi


@dataclass(frozen=True)
class ThreeScalarSystem:
    """Parameters of P25 eq. 20: target second moment ``S``, shared continuations ``N`` and the rates.

    ``N`` may be non-integer (e.g. an expected count); it must be ``>= 1``.
    """

    S: float
    N: float
    tau_h: float
    tau_y: float

    def __post_init__(self) -> None:
        check_nonnegative("S", self.S)
        check_rates(self.N, self.tau_h, self.tau_y)

    @property
    def a(self) -> float:
        """``a = 1/τ_h``."""
        return 1.0 / self.tau_h

    @property
    def b(self) -> float:
        """``b = 1/(N τ_y)``."""
        return 1.0 / (self.N * self.tau_y)

    @property
    def r(self) -> float:
        """``r = a/b = N τ_y/τ_h``."""
        return self.N * self.tau_y / self.tau_h

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        """``d(H, Y, W)/dt`` in ``solve_ivp``'s ``fun(t, y)`` convention."""
        return np.array(rhs_three_scalar(y[0], y[1], y[2], self.S, self.a, self.b))

    def jac(self, t: float, y: np.ndarray) -> np.ndarray:
        """Analytic Jacobian in ``solve_ivp``'s ``jac(t, y)`` convention."""
        return jac_three_scalar(y[0], y[1], y[2], self.S, self.a, self.b)


class ThreeScalarResult(OdeResult):
    """Solution of P25 eq. 20: ``.t``, ``.y`` (rows H, Y, W), ``.H``, ``.Y``, ``.W`` and scipy's fields."""

    @property
    def H(self) -> np.ndarray:
        return self.y[0]

    @property
    def Y(self) -> np.ndarray:
        return self.y[1]

    @property
    def W(self) -> np.ndarray:
        return self.y[2]


def integrate_three_scalar(H0: float, Y0: float, W0: float, *, S: float, N: float, tau_h: float,
                           tau_y: float, t_max: float, method: str = "LSODA", rtol: float = 1e-10,
                           atol: float = 1e-14, merger_tol: float | None = None,
                           events: Sequence[Callable] | Callable | None = None,
                           dense_output: bool = False, t_eval: np.ndarray | None = None
                           ) -> ThreeScalarResult:
    """Integrate P25 eq. 20 (spec §2.1) from ``(H0, Y0, W0)`` over ``[0, t_max]`` with ``solve_ivp``.

    The system is stiff close to a merger (the ``1/H`` terms), so the default is LSODA
    with the analytic Jacobian; ``method`` may be any implicit or explicit scipy method
    (``'LSODA'``, ``'Radau'``, ``'BDF'``, ``'DOP853'``, ``'RK45'``).

    Events: ``merger_tol`` adds a terminal event "``H`` falls to ``merger_tol``" as
    ``t_events[0]``; user ``events`` (scipy's ``event(t, y)`` convention, optional
    ``terminal``/``direction`` attributes) follow in order. ``status`` follows
    scipy (``0`` reached ``t_max``, ``1`` a terminal event fired, ``-1`` failure); a
    solution that leaves the domain ``H > 0`` or becomes non-finite is reported as a
    failure with ``success = False``, never returned as a silent number.
    """
    system = ThreeScalarSystem(S=float(check_nonnegative("S", S)), N=float(N),
                               tau_h=float(tau_h), tau_y=float(tau_y))
    H0 = float(check_positive("H0", H0))
    Y0 = float(check_nonnegative("Y0", Y0))
    W0 = float(check_finite("W0", W0))
    return solve(system.rhs, system.jac, np.array([H0, Y0, W0]), t_max=t_max, method=method,
                 rtol=rtol, atol=atol, merger_tol=merger_tol, events=events,
                 dense_output=dense_output, t_eval=t_eval, result_type=ThreeScalarResult)
