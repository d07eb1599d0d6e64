"""One adaptive ``solve_ivp`` driver and result type shared by the interaction-theory systems.

Why a wrapper: the systems of P25 (eq. 20, eq. 23) live on ``H > 0`` and have ``1/H``
terms. Every integration here (i) validates its inputs, (ii) may integrate in
regular internal coordinates and report the public variables (``H`` first),
(iii) optionally stops at a merger (``H`` falling to a tolerance) and (iv) refuses
to report a trajectory that left its domain or became non-finite as a success.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.integrate import solve_ivp

from .checks import check_choice, check_finite, check_interval, check_positive

METHODS = ("LSODA", "Radau", "BDF", "DOP853", "RK45", "RK23")
_IMPLICIT = ("LSODA", "Radau", "BDF")


def check_rates(N: Any, tau_h: Any, tau_y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate the shared-continuation count ``N >= 1`` and the time constants ``τ_h, τ_y > 0``."""
    N = check_finite("N", N)
    if not np.all(N >= 1):
        raise ValueError(f"N must be >= 1 (got {N.item()!r})" if N.ndim == 0
                         else f"N must be >= 1 (got min {float(N.min())!r})")
    return N, check_positive("tau_h", tau_h), check_positive("tau_y", tau_y)


class EffectiveRates:
    """Mixin for systems with fields ``N``, ``tau_h``, ``tau_y``: the compact rates of the spec.

    ``a = 1/τ_h`` (with ``1/τ_h = 1/τ_h1 + 1/τ_h2``), ``b = 1/(N τ_y)``, ``r = a/b = N τ_y/τ_h``.
    """

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


@dataclass
class OdeResult:
    """Solution of an initial-value problem, with ``scipy.integrate.solve_ivp``'s fields.

    ``y`` has one row per public state variable (row 0 is ``H``). ``status``: ``0``
    reached ``t_max``, ``1`` a terminal event fired, ``-1`` the solver failed or the
    solution left its domain (``success`` is ``status >= 0``). ``t_events``/``y_events``:
    one array per event, the merger event first when requested; ``merged`` is True
    when it fired. ``sol`` (dense output) returns public variables. ``t_crossings``:
    times at which the signed distance passed through zero (see ``integrate_three_scalar``).
    """

    t: np.ndarray
    y: np.ndarray
    status: int
    message: str
    t_events: list[np.ndarray]
    y_events: list[np.ndarray]
    sol: Any
    nfev: int
    njev: int
    merged: bool
    t_crossings: np.ndarray = field(default_factory=lambda: np.empty(0))

    @property
    def success(self) -> bool:
        return self.status >= 0


class HYWResult(OdeResult):
    """An :class:`OdeResult` whose rows are ``(H, Y, W)``: ``.H``, ``.Y``, ``.W`` name them."""

    @property
    def H(self) -> np.ndarray:
        return self.y[0]

    @property
    def Y(self) -> np.ndarray:
        return self.y[1]

    @property
    def W(self) -> np.ndarray:
        return self.y[2]


class _PublicSolution:
    """Dense output in public variables: ``sol(t)`` = ``to_public(internal_sol(t))``."""

    def __init__(self, internal: Any, to_public: Callable[[np.ndarray], np.ndarray]):
        self.internal = internal
        self.to_public = to_public
        self.t_min, self.t_max = internal.t_min, internal.t_max

    def __call__(self, t: Any) -> np.ndarray:
        return self.to_public(self.internal(t))


def _in_public(event: Callable, to_public: Callable) -> Callable:
    def wrapped(t: float, z: np.ndarray) -> float:
        return event(t, to_public(z))

    for attr in ("terminal", "direction"):
        if hasattr(event, attr):
            setattr(wrapped, attr, getattr(event, attr))
    return wrapped


def _merger_event(tol: float, to_public: Callable) -> Callable:
    def merger(t: float, z: np.ndarray) -> float:
        return to_public(z)[0] - tol

    merger.terminal = True
    merger.direction = -1
    return merger


def _crossing(t: float, z: np.ndarray) -> float:
    return z[0]


def solve(rhs: Callable, jac: Callable | None, z0: np.ndarray, *, t_max: float, method: str,
          rtol: float, atol: float, merger_tol: float | None,
          events: Sequence[Callable] | Callable | None, dense_output: bool,
          t_eval: np.ndarray | None, result_type: type[OdeResult] = OdeResult,
          to_public: Callable[[np.ndarray], np.ndarray] | None = None,
          signed_distance: bool = False) -> OdeResult:
    """Integrate ``dz/dt = rhs(t, z)`` on ``[0, t_max]`` and report ``y = to_public(z)``.

    ``to_public`` maps internal states (``(n,)`` or ``(n, k)``) to public variables whose
    row 0 is ``H`` (identity if ``None``). If ``signed_distance``, ``z[0]`` is a signed
    distance whose zeros are recorded as crossings (``H = z[0]²`` touches 0 and
    rebounds); otherwise ``H`` must stay ``> 0``.
    """
    to_public = to_public or (lambda z: z)
    t_max = float(check_positive("t_max", t_max))
    check_choice("method", method, METHODS)
    check_interval("rtol", rtol, 0.0, 1.0, lo_closed=False, hi_closed=False)
    check_positive("atol", atol)
    H0 = float(to_public(z0)[0])
    all_events: list[Callable] = []
    if merger_tol is not None:
        merger_tol = float(check_positive("merger_tol", merger_tol))
        if merger_tol >= H0:
            raise ValueError(f"merger_tol must be < H0 (got {merger_tol!r} >= {H0!r})")
        all_events.append(_merger_event(merger_tol, to_public))
    if events is not None:
        user = [events] if callable(events) else list(events)
        all_events.extend(_in_public(e, to_public) for e in user)
    n_public_events = len(all_events)
    if signed_distance:
        all_events.append(_crossing)
    if t_eval is not None:
        t_eval = check_finite("t_eval", t_eval)
        if t_eval.ndim != 1 or np.any(np.diff(t_eval) <= 0) or t_eval[0] < 0 or t_eval[-1] > t_max:
            raise ValueError("t_eval must be a strictly increasing 1-D array within [0, t_max]")
    options: dict[str, Any] = {}
    if method in _IMPLICIT and jac is not None:
        options["jac"] = jac
    raw = solve_ivp(rhs, (0.0, t_max), z0, method=method, rtol=rtol, atol=atol,
                    events=all_events or None, dense_output=dense_output, t_eval=t_eval, **options)
    y = to_public(raw.y)
    status, message = int(raw.status), str(raw.message)
    if status >= 0 and not np.all(np.isfinite(y)):
        status, message = -1, "solution became non-finite"
    elif status >= 0 and not signed_distance and y.shape[1] and np.any(y[0] <= 0):
        status, message = -1, "solution left the domain H > 0 (H reached zero in finite time)"
    t_events = list(raw.t_events) if raw.t_events is not None else []
    y_events = [to_public(ye.T).T if ye.size else ye for ye in raw.y_events] \
        if raw.y_events is not None else []
    t_crossings = t_events[n_public_events] if signed_distance else np.empty(0)
    merged = merger_tol is not None and bool(t_events[0].size)
    sol = _PublicSolution(raw.sol, to_public) if raw.sol is not None else None
    return result_type(t=raw.t, y=y, status=status, message=message,
                       t_events=t_events[:n_public_events], y_events=y_events[:n_public_events],
                       sol=sol, nfev=int(raw.nfev), njev=int(raw.njev), merged=merged,
                       t_crossings=t_crossings)
