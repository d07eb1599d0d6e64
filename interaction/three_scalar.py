"""The three-scalar interaction system of a representation pair (P25 eq. 4 = eq. 20, docs/theory.md §2.1).

Variables, for a pair of prefixes with ``N`` shared continuations:

* ``H = ‖dh‖²``            squared representational distance,
* ``Y = ⟨‖dy_i‖²⟩_i``      mean squared prediction difference,
* ``W = ⟨w_i⟩_i``          mean alignment variable, ``w_i = dy_iᵀ(dy_i − ỹ_i)``,

with ``S = ⟨‖ỹ_i‖²⟩_i`` the (constant) mean squared target difference and the
rates ``a = 1/τ_h`` (``1/τ_h = 1/τ_h1 + 1/τ_h2``) and ``b = 1/(N τ_y)``::

    dH/dt = −(a/2) W
    dY/dt = −½ (b H + a Y/H) W
    dW/dt = −(b/4)(3W − Y + S) H − (a/4)(W/H)(Y + W)

The per-continuation system (P25 eq. 19, docs/theory.md §1.9) is also provided; with
equal output rates its average over continuations closes exactly onto eq. 20.

Both systems are integrated with ``interaction.integrate`` (default: the regular
signed-distance coordinates ``d = ±sqrt(H)``, docs/theory.md §4.1);
``integrate_three_scalar`` and ``integrate_per_continuation`` are keyword wrappers.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numba import njit

from .checks import check_finite, check_nonnegative, check_positive
from .odesolve import (DEFAULT_ATOL, DEFAULT_MAX_STEPS, DEFAULT_METHOD, DEFAULT_RTOL,
                       EffectiveRates, OdeResult, OdeSystem, check_rates, integrate,
                       store_parameter)


@njit(cache=True, error_model="numpy")
def rhs_three_scalar(H: float, Y: float, W: float, S: float, a: float, b: float
                     ) -> tuple[float, float, float]:
    """Right-hand side of P25 eq. 20 (docs/theory.md §2.1); ``a = 1/τ_h``, ``b = 1/(N τ_y)``."""
    dH = -0.5 * a * W
    dY = -0.5 * (b * H + a * Y / H) * W
    dW = -0.25 * b * (3.0 * W - Y + S) * H - 0.25 * a * (W / H) * (Y + W)
    return dH, dY, dW


@njit(cache=True, error_model="numpy")
def jac_three_scalar(H: float, Y: float, W: float, S: float, a: float, b: float) -> np.ndarray:
    """Jacobian ``∂(dH, dY, dW)/∂(H, Y, W)`` of P25 eq. 20 (rows: equations, columns: variables)."""
    J = np.zeros((3, 3))
    J[0, 2] = -0.5 * a
    J[1, 0] = -0.5 * b * W + 0.5 * a * (Y / H) * (W / H)
    J[1, 1] = -0.5 * a * W / H
    J[1, 2] = -0.5 * (b * H + a * Y / H)
    J[2, 0] = -0.25 * b * (3.0 * W - Y + S) + 0.25 * a * (W / H) * ((Y + W) / H)
    J[2, 1] = 0.25 * b * H - 0.25 * a * W / H
    J[2, 2] = -0.75 * b * H - 0.25 * a * (Y + 2.0 * W) / H
    return J


@njit(cache=True, error_model="numpy")
def rhs_three_scalar_signed(d: float, q: float, v: float, S: float, a: float, b: float
                            ) -> tuple[float, float, float]:
    """P25 eq. 20 in signed-distance coordinates ``d = ±sqrt(H)``, ``q = Y/H``, ``v = W/d``.

    ``H = d²``, ``Y = q d²``, ``W = v d``; for ``d ≠ 0`` this is eq. 20 exactly, and it is
    polynomial (no ``1/H``)::

        dd/dt = −(a/4) v
        dq/dt = −(b/2) v d                    (the conservation law, eq. 21)
        dv/dt = −(b/4)(3 v d − q d² + S) d − (a/4) q v

    ``d`` is the coordinate of ``dh`` along its (Ansatz-fixed) direction; ``d = 0`` is a
    crossing of the two representations, where eq. 20 is singular but this flow is
    regular (docs/theory.md §4.1).
    """
    dd = -0.25 * a * v
    dq = -0.5 * b * v * d
    dv = -0.25 * b * (3.0 * v * d - q * d * d + S) * d - 0.25 * a * q * v
    return dd, dq, dv


@njit(cache=True, error_model="numpy")
def jac_three_scalar_signed(d: float, q: float, v: float, S: float, a: float, b: float
                            ) -> np.ndarray:
    """Jacobian ``∂(dd, dq, dv)/∂(d, q, v)`` of ``rhs_three_scalar_signed``."""
    J = np.zeros((3, 3))
    J[0, 2] = -0.25 * a
    J[1, 0] = -0.5 * b * v
    J[1, 2] = -0.5 * b * d
    J[2, 0] = -0.25 * b * (6.0 * v * d - 3.0 * q * d * d + S)
    J[2, 1] = 0.25 * b * d * d * d - 0.25 * a * v
    J[2, 2] = -0.75 * b * d * d - 0.25 * a * q
    return J


@njit(cache=True, error_model="numpy")
def rhs_per_continuation(H: float, Yi: np.ndarray, Wi: np.ndarray, Si: np.ndarray,
                         a: float, bi: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Right-hand side of the per-continuation system, P25 eq. 19 (docs/theory.md §1.9).

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


@njit(cache=True, error_model="numpy")
def rhs_per_continuation_signed(d: float, qi: np.ndarray, vi: np.ndarray, Si: np.ndarray,
                                a: float, bi: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """P25 eq. 19 in signed-distance coordinates ``d``, ``q_i = ‖dy_i‖²/H``, ``v_i = w_i/d``::

        dd/dt = −(a/4) ⟨v_i⟩,  dq_i/dt = −(b_i/2) v_i d,
        dv_i/dt = −(b_i/4)(3 v_i d − q_i d² + S_i) d − (a/4) ⟨v_i⟩ q_i
    """
    V = vi.mean()
    dd = -0.25 * a * V
    dqi = -0.5 * bi * vi * d
    dvi = -0.25 * bi * (3.0 * vi * d - qi * d * d + Si) * d - 0.25 * a * V * qi
    return dd, dqi, dvi


def signed_from_hyw(y0: np.ndarray) -> np.ndarray:
    """``(H, Y, W) -> (d, q, v) = (sqrt(H), Y/H, W/d)`` at ``t = 0`` (where ``d > 0``)."""
    d0 = np.sqrt(y0[0])
    return np.array([d0, y0[1] / y0[0], y0[2] / d0])


def hyw_from_signed(z: np.ndarray) -> np.ndarray:
    """``(d, q, v) -> (H, Y, W) = (d², q d², v d)``; ``z`` is ``(3,)`` or ``(3, T)``."""
    d, q, v = z[0], z[1], z[2]
    return np.stack([d * d, q * d * d, v * d])


def check_pair_state(y0: Any, names: Sequence[str]) -> np.ndarray:
    """Validate ``(H0, Y0, W0)``-like initial states: ``H0 > 0``, ``Y0 >= 0``, ``W0`` finite."""
    if np.shape(y0) != (3,):
        raise ValueError(f"y0 must have shape (3,) ordered as {tuple(names)} (got {np.shape(y0)})")
    return np.array([check_positive(names[0], y0[0]), check_nonnegative(names[1], y0[1]),
                     check_finite(names[2], y0[2])])


class ThreeScalarResult(OdeResult):
    """Solution of P25 eq. 20: ``.t``, ``.y`` (rows H, Y, W), ``.H``, ``.Y``, ``.W`` and scipy's fields."""


@dataclass(frozen=True)
class ThreeScalarSystem(EffectiveRates, OdeSystem):
    """P25 eq. 20 (docs/theory.md §2.1): target second moment ``S``, shared continuations ``N``, rates.

    State ``y = (H, Y, W)``. ``N`` may be non-integer (e.g. an expected count); it must
    be ``>= 1``. Fields may be arrays of one broadcast shape for
    ``interaction.integrate_batched``; ``interaction.integrate`` needs scalars.
    """

    S: float
    N: float
    tau_h: float
    tau_y: float

    components: ClassVar[tuple[str, ...]] = ("H", "Y", "W")
    result_type: ClassVar[type[OdeResult]] = ThreeScalarResult
    distance_first: ClassVar[bool] = True
    scalar_parameters: ClassVar[tuple[str, ...]] = ("S", "N", "tau_h", "tau_y")

    def __post_init__(self) -> None:
        store_parameter(self, "S", check_nonnegative("S", self.S))
        for name, value in zip(("N", "tau_h", "tau_y"), check_rates(self.N, self.tau_h, self.tau_y)):
            store_parameter(self, name, value)

    def check_y0(self, y0: Any) -> np.ndarray:
        return check_pair_state(y0, ("H0", "Y0", "W0"))

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        """``d(H, Y, W)/dt`` in ``solve_ivp``'s ``fun(t, y)`` convention."""
        return np.array(rhs_three_scalar(y[0], y[1], y[2], self.S, self.a, self.b))

    def jac(self, t: float, y: np.ndarray) -> np.ndarray:
        """Analytic Jacobian in ``solve_ivp``'s ``jac(t, y)`` convention."""
        return jac_three_scalar(y[0], y[1], y[2], self.S, self.a, self.b)

    def rhs_signed(self, t: float, z: np.ndarray) -> np.ndarray:
        """``d(d, q, v)/dt`` (signed-distance coordinates, ``rhs_three_scalar_signed``)."""
        return np.array(rhs_three_scalar_signed(z[0], z[1], z[2], self.S, self.a, self.b))

    def jac_signed(self, t: float, z: np.ndarray) -> np.ndarray:
        return jac_three_scalar_signed(z[0], z[1], z[2], self.S, self.a, self.b)

    to_signed = staticmethod(signed_from_hyw)
    from_signed = staticmethod(hyw_from_signed)


def integrate_three_scalar(H0: float, Y0: float, W0: float, *, S: float, N: float, tau_h: float,
                           tau_y: float, t_max: float, method: str = DEFAULT_METHOD,
                           rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                           merger_tol: float | None = None,
                           events: Sequence[Callable] | Callable | None = None,
                           dense_output: bool = False, t_eval: np.ndarray | None = None,
                           coordinates: str = "signed",
                           max_steps: int = DEFAULT_MAX_STEPS) -> ThreeScalarResult:
    """Integrate P25 eq. 20 (docs/theory.md §2.1) from ``(H0, Y0, W0)`` over ``[0, t_max]``.

    Keyword wrapper of ``integrate(ThreeScalarSystem(S, N, tau_h, tau_y), (H0, Y0, W0),
    t_max, ...)``; see ``interaction.integrate`` for the options and the result contract
    (every argument validated first; a step budget ``max_steps``; a non-finite or
    overflowing state, e.g. ``H0 = 1e308``, ends the run with ``status = -1``).

    Coordinates. Eq. 20 is singular at ``H = 0`` and, besides genuine mergers, some
    trajectories reach ``H = 0`` in finite time with ``W/H → +∞``: the two
    representations pass *through* each other (docs/theory.md §4.1; above the stable
    manifold of the saddle at the origin, e.g. for large ``W0``). The default
    ``coordinates='signed'`` integrates the regular polynomial flow of
    ``rhs_three_scalar_signed`` (``d = ±sqrt(H)``, ``q = Y/H``, ``v = W/d``), which equals
    eq. 20 wherever ``H > 0``, continues it through crossings (``.t_crossings``) and
    follows a merger down to ``H ~ 1e-30`` without the ``1/H`` stiffness.
    ``coordinates='direct'`` integrates eq. 20 literally (analytic Jacobian).

    Method. In the tail of a merger (``H`` many orders below its start) the merger
    point is non-hyperbolic and LSODA's *relative* error in ``H`` grows to ~100×
    ``rtol``; use ``method='DOP853'`` when that tail must be accurate.
    """
    system = ThreeScalarSystem(S=S, N=N, tau_h=tau_h, tau_y=tau_y)
    return integrate(system, (H0, Y0, W0), t_max, method=method, rtol=rtol, atol=atol,
                     merger_tol=merger_tol, events=events, dense_output=dense_output,
                     t_eval=t_eval, coordinates=coordinates, max_steps=max_steps)


class PerContinuationResult(OdeResult):
    """Solution of P25 eq. 19: ``.H``; ``.Yi``, ``.Wi`` of shape ``(N, len(t))``; averages ``.Y``, ``.W``."""

    @property
    def Yi(self) -> np.ndarray:
        return self.y[1:1 + (self.y.shape[0] - 1) // 2]

    @property
    def Wi(self) -> np.ndarray:
        return self.y[1 + (self.y.shape[0] - 1) // 2:]

    @property
    def Y(self) -> np.ndarray:
        return self.Yi.mean(axis=0)

    @property
    def W(self) -> np.ndarray:
        return self.Wi.mean(axis=0)


@dataclass(frozen=True, eq=False)
class PerContinuationSystem(OdeSystem):
    """P25 eq. 19 (docs/theory.md §1.9) for ``N = len(S)`` continuations.

    ``S[i] = ‖ỹ_i‖² >= 0`` (each continuation its own target difference); ``tau_y`` is
    one output time constant or one per continuation (``b_i = 1/(N τ_{y_i})``; with
    equal ``tau_y`` the averages obey eq. 20 exactly, docs/theory.md §1.9; with unequal
    ones they do not close). State ``y = (H, Y_1..Y_N, W_1..W_N)`` with
    ``Y_i = ‖dy_i‖²``, ``W_i = w_i``.
    """

    S: np.ndarray
    tau_h: float
    tau_y: Any

    result_type: ClassVar[type[OdeResult]] = PerContinuationResult
    distance_first: ClassVar[bool] = True
    scalar_parameters: ClassVar[tuple[str, ...]] = ("tau_h",)
    jac_signed: ClassVar[Callable | None] = None  # finite differences in the implicit methods

    def __post_init__(self) -> None:
        S = check_nonnegative("S", self.S)
        if S.ndim != 1 or S.size < 1:
            raise ValueError(f"S must be a 1-D array of length N >= 1 (got shape {S.shape})")
        object.__setattr__(self, "S", S)
        store_parameter(self, "tau_h", check_positive("tau_h", self.tau_h))
        tau_y = check_positive("tau_y", self.tau_y)
        if tau_y.ndim > 1 or tau_y.size not in (1, S.size):
            raise ValueError(f"tau_y must be a scalar or have length N = {S.size} (got shape {tau_y.shape})")
        object.__setattr__(self, "tau_y", np.broadcast_to(tau_y, (S.size,)).astype(float))

    @property
    def N(self) -> int:
        return self.S.size

    @property
    def components(self) -> tuple[str, ...]:
        return ("H",) + tuple(f"Y_{i}" for i in range(1, self.N + 1)) \
            + tuple(f"W_{i}" for i in range(1, self.N + 1))

    def check_y0(self, y0: Any) -> np.ndarray:
        y0 = check_finite("y0", y0)
        if y0.shape != (2 * self.N + 1,):
            raise ValueError(f"y0 must have shape ({2 * self.N + 1},) = (H0, Y0_1..Y0_N, W0_1..W0_N) "
                             f"(got {y0.shape})")
        check_positive("H0", y0[0])
        check_nonnegative("Y0", y0[1:1 + self.N])
        return y0

    def _split(self, y: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray]:
        return y[0], y[1:1 + self.N], y[1 + self.N:]

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        dH, dYi, dWi = rhs_per_continuation(*self._split(y), self.S, 1.0 / self.tau_h,
                                            1.0 / (self.N * self.tau_y))
        return np.concatenate(([dH], dYi, dWi))

    def rhs_signed(self, t: float, z: np.ndarray) -> np.ndarray:
        """``d(d, q_i, v_i)/dt`` (``rhs_per_continuation_signed``)."""
        dd, dqi, dvi = rhs_per_continuation_signed(*self._split(z), self.S, 1.0 / self.tau_h,
                                                   1.0 / (self.N * self.tau_y))
        return np.concatenate(([dd], dqi, dvi))

    def to_signed(self, y0: np.ndarray) -> np.ndarray:
        H0, Y0, W0 = self._split(y0)
        d0 = np.sqrt(H0)
        return np.concatenate(([d0], Y0 / H0, W0 / d0))

    def from_signed(self, z: np.ndarray) -> np.ndarray:
        d, q, v = self._split(z)
        return np.concatenate([np.asarray(d * d)[None], q * d * d, v * d])


def integrate_per_continuation(H0: float, Y0: np.ndarray, W0: np.ndarray, S: np.ndarray, *,
                               tau_h: float, tau_y: float | np.ndarray, t_max: float,
                               method: str = DEFAULT_METHOD, rtol: float = DEFAULT_RTOL,
                               atol: float = DEFAULT_ATOL, merger_tol: float | None = None,
                               events: Sequence[Callable] | Callable | None = None,
                               dense_output: bool = False, t_eval: np.ndarray | None = None,
                               coordinates: str = "signed") -> PerContinuationResult:
    """Integrate P25 eq. 19 (docs/theory.md §1.9) for ``N = len(Y0)`` continuations.

    ``Y0[i] = ‖dy_i(0)‖² >= 0``, ``W0[i] = w_i(0)``, ``S[i] = ‖ỹ_i‖² >= 0``. Keyword
    wrapper of ``integrate(PerContinuationSystem(S, tau_h, tau_y), (H0, *Y0, *W0), ...)``;
    coordinates, events, status and failure reporting as ``integrate_three_scalar``.
    """
    Y0 = check_nonnegative("Y0", Y0)
    W0 = check_finite("W0", W0)
    S = check_nonnegative("S", S)
    if Y0.ndim != 1 or Y0.size < 1 or W0.shape != Y0.shape or S.shape != Y0.shape:
        raise ValueError("Y0, W0 and S must be 1-D arrays of equal length N >= 1 "
                         f"(got shapes {Y0.shape}, {W0.shape}, {S.shape})")
    H0 = float(check_positive("H0", H0))
    system = PerContinuationSystem(S=S, tau_h=tau_h, tau_y=tau_y)
    return integrate(system, np.concatenate(([H0], Y0, W0)), t_max, method=method, rtol=rtol,
                     atol=atol, merger_tol=merger_tol, events=events, dense_output=dense_output,
                     t_eval=t_eval, coordinates=coordinates)
