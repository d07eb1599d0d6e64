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

from .checks import check_choice, check_finite, check_nonnegative, check_positive
from .odesolve import EffectiveRates, HYWResult, OdeResult, check_rates, solve


@njit(cache=True, error_model="numpy")
def rhs_three_scalar(H: float, Y: float, W: float, S: float, a: float, b: float
                     ) -> tuple[float, float, float]:
    """Right-hand side of P25 eq. 20 (spec §2.1); ``a = 1/τ_h``, ``b = 1/(N τ_y)``."""
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
    crossing of the two representations, where eq. 20 is singular but this flow is regular.
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


@dataclass(frozen=True)
class ThreeScalarSystem(EffectiveRates):
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


class ThreeScalarResult(HYWResult):
    """Solution of P25 eq. 20: ``.t``, ``.y`` (rows H, Y, W), ``.H``, ``.Y``, ``.W`` and scipy's fields."""


def _signed_to_public(z: np.ndarray) -> np.ndarray:
    d, q, v = z[0], z[1], z[2]
    return np.stack([d * d, q * d * d, v * d])


def integrate_three_scalar(H0: float, Y0: float, W0: float, *, S: float, N: float, tau_h: float,
                           tau_y: float, t_max: float, method: str = "LSODA", rtol: float = 1e-10,
                           atol: float = 1e-14, merger_tol: float | None = None,
                           events: Sequence[Callable] | Callable | None = None,
                           dense_output: bool = False, t_eval: np.ndarray | None = None,
                           coordinates: str = "signed") -> ThreeScalarResult:
    """Integrate P25 eq. 20 (spec §2.1) from ``(H0, Y0, W0)`` over ``[0, t_max]`` with ``solve_ivp``.

    Coordinates. Eq. 20 is singular at ``H = 0`` and, besides genuine mergers, some
    trajectories reach ``H = 0`` in finite time with ``W/H → +∞``: the two
    representations pass *through* each other (``dh`` changes sign along its
    direction; this happens above the stable manifold of the saddle at the origin,
    e.g. for large ``W0``). In the default ``coordinates='signed'`` the flow is
    integrated in the regular polynomial coordinates of ``rhs_three_scalar_signed``
    (``d = ±sqrt(H)``, ``q = Y/H``, ``v = W/d``), which equal eq. 20 wherever ``H > 0``,
    continue it through crossings (times in ``.t_crossings``) and follow a merger down
    to ``H ~ 1e-30`` without the ``1/H`` stiffness. ``coordinates='direct'``
    integrates eq. 20 literally in ``(H, Y, W)`` (analytic Jacobian); at a crossing
    explicit methods fail (reported), while implicit ones may step over the
    singularity with degraded accuracy. ``atol`` applies to the internal coordinates.

    ``method``: ``'LSODA'`` (default; switches to a stiff method when needed; fastest
    for long runs to equilibrium), ``'Radau'``, ``'BDF'``, ``'DOP853'``, ``'RK45'``,
    ``'RK23'``. In the tail of a merger (``H`` many orders below its start) the merger
    point is non-hyperbolic and LSODA's *relative* error in ``H`` grows to ~100×
    ``rtol``; use ``'DOP853'`` when that tail must be accurate.

    Events: ``merger_tol`` adds a terminal event "``H`` falls to ``merger_tol``" as
    ``t_events[0]`` (``.merged``; note that a crossing also passes through small ``H``,
    so a terminal merger event can stop a crossing trajectory); user ``events`` — scipy's ``event(t, y)`` convention
    with ``y = (H, Y, W)``, optional ``terminal``/``direction`` attributes — follow in
    order. ``status`` follows scipy (``0`` reached ``t_max``, ``1`` terminal event,
    ``-1`` failure); a non-finite solution, or (direct coordinates) ``H <= 0``, is
    reported as a failure (``success = False``), never as a silent number.
    """
    N, tau_h, tau_y = (float(v) for v in check_rates(N, tau_h, tau_y))
    system = ThreeScalarSystem(S=float(check_nonnegative("S", S)), N=N, tau_h=tau_h, tau_y=tau_y)
    H0 = float(check_positive("H0", H0))
    Y0 = float(check_nonnegative("Y0", Y0))
    W0 = float(check_finite("W0", W0))
    check_choice("coordinates", coordinates, ("signed", "direct"))
    common = dict(t_max=t_max, method=method, rtol=rtol, atol=atol, merger_tol=merger_tol,
                  events=events, dense_output=dense_output, t_eval=t_eval,
                  result_type=ThreeScalarResult)
    if coordinates == "direct":
        return solve(system.rhs, system.jac, np.array([H0, Y0, W0]), **common)
    d0 = np.sqrt(H0)
    return solve(system.rhs_signed, system.jac_signed, np.array([d0, Y0 / H0, W0 / d0]),
                 to_public=_signed_to_public, signed_distance=True, **common)


class PerContinuationResult(OdeResult):
    """Solution of P25 eq. 19: ``.H``; ``.Yi``, ``.Wi`` of shape ``(N, len(t))``; averages ``.Y``, ``.W``."""

    @property
    def H(self) -> np.ndarray:
        return self.y[0]

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


def integrate_per_continuation(H0: float, Y0: np.ndarray, W0: np.ndarray, S: np.ndarray, *,
                               tau_h: float, tau_y: float | np.ndarray, t_max: float,
                               method: str = "LSODA", rtol: float = 1e-10, atol: float = 1e-14,
                               merger_tol: float | None = None,
                               events: Sequence[Callable] | Callable | None = None,
                               dense_output: bool = False, t_eval: np.ndarray | None = None,
                               coordinates: str = "signed") -> PerContinuationResult:
    """Integrate the per-continuation system, P25 eq. 19 (spec §1), for ``N = len(Y0)`` continuations.

    ``Y0[i] = ‖dy_i(0)‖² >= 0``, ``W0[i] = w_i(0)``, ``S[i] = ‖ỹ_i‖² >= 0`` (each continuation
    its own target difference); ``tau_y`` is one output time constant or one per
    continuation. With equal ``tau_y`` the averages ``Y = ⟨Yi⟩``, ``W = ⟨Wi⟩`` obey eq. 20
    exactly (spec §1 step 5); with unequal ones they do not close.
    Coordinates (``'signed'``: regular, through crossings; ``'direct'``: literal eq. 19),
    events, status and failure reporting as ``integrate_three_scalar``.
    """
    Y0 = check_nonnegative("Y0", Y0)
    W0 = check_finite("W0", W0)
    S = check_nonnegative("S", S)
    if Y0.ndim != 1 or Y0.size < 1 or W0.shape != Y0.shape or S.shape != Y0.shape:
        raise ValueError("Y0, W0 and S must be 1-D arrays of equal length N >= 1 "
                         f"(got shapes {Y0.shape}, {W0.shape}, {S.shape})")
    N = Y0.size
    tau_h = float(check_positive("tau_h", tau_h))
    tau_y = np.broadcast_to(check_positive("tau_y", tau_y), (N,)).astype(float)
    H0 = float(check_positive("H0", H0))
    check_choice("coordinates", coordinates, ("signed", "direct"))
    a, bi = 1.0 / tau_h, 1.0 / (N * tau_y)
    common = dict(t_max=t_max, method=method, rtol=rtol, atol=atol, merger_tol=merger_tol,
                  events=events, dense_output=dense_output, t_eval=t_eval,
                  result_type=PerContinuationResult)
    if coordinates == "direct":
        def rhs(t: float, y: np.ndarray) -> np.ndarray:
            dH, dYi, dWi = rhs_per_continuation(y[0], y[1:1 + N], y[1 + N:], S, a, bi)
            return np.concatenate(([dH], dYi, dWi))

        return solve(rhs, None, np.concatenate(([H0], Y0, W0)), **common)

    def rhs_signed(t: float, z: np.ndarray) -> np.ndarray:
        dd, dqi, dvi = rhs_per_continuation_signed(z[0], z[1:1 + N], z[1 + N:], S, a, bi)
        return np.concatenate(([dd], dqi, dvi))

    def to_public(z: np.ndarray) -> np.ndarray:
        d = z[0]
        return np.concatenate([np.asarray(d * d)[None], z[1:1 + N] * d * d, z[1 + N:] * d])

    d0 = np.sqrt(H0)
    return solve(rhs_signed, None, np.concatenate(([d0], Y0 / H0, W0 / d0)), to_public=to_public,
                 signed_distance=True, **common)
