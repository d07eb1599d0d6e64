"""One adaptive ``solve_ivp`` driver and result type shared by the interaction-theory systems.

Why a wrapper: the systems of P25 (eq. 20, eq. 23) are only defined for ``H > 0``
and are stiff near a merger, so every integration (i) validates its inputs, (ii)
optionally stops at a merger (``H`` reaching a tolerance), and (iii) refuses to
report a trajectory that left the domain or became non-finite as a success.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


@dataclass
class OdeResult:
    """Solution of an initial-value problem, with ``scipy.integrate.solve_ivp``'s fields.

    ``y`` has one row per state variable. ``status``: ``0`` reached ``t_max``, ``1`` a
    terminal event fired, ``-1`` the solver failed or the solution left its domain.
    ``t_events``/``y_events``: one array per event (merger event first when requested).
    ``merged`` is True when the merger event fired.
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

    @property
    def success(self) -> bool:
        return self.status >= 0


def _merger_event(tol: float) -> Callable:
    def merger(t: float, y: np.ndarray) -> float:
        return y[0] - tol

    merger.terminal = True
    merger.direction = -1
    return merger


def solve(rhs: Callable, jac: Callable | None, y0: np.ndarray, *, t_max: float, method: str,
          rtol: float, atol: float, merger_tol: float | None,
          events: Sequence[Callable] | Callable | None, dense_output: bool,
          t_eval: np.ndarray | None, result_type: type[OdeResult] = OdeResult) -> OdeResult:
    """Integrate ``dy/dt = rhs(t, y)`` on ``[0, t_max]``; row 0 of ``y`` is ``H`` and must stay > 0."""
    t_max = float(check_positive("t_max", t_max))
    check_choice("method", method, METHODS)
    check_interval("rtol", rtol, 0.0, 1.0, lo_closed=False, hi_closed=False)
    check_positive("atol", atol)
    all_events: list[Callable] = []
    if merger_tol is not None:
        merger_tol = float(check_positive("merger_tol", merger_tol))
        if merger_tol >= y0[0]:
            raise ValueError(f"merger_tol must be < H0 (got {merger_tol!r} >= {y0[0]!r})")
        all_events.append(_merger_event(merger_tol))
    if events is not None:
        all_events.extend([events] if callable(events) else list(events))
    if t_eval is not None:
        t_eval = check_finite("t_eval", t_eval)
        if t_eval.ndim != 1 or np.any(np.diff(t_eval) <= 0) or t_eval[0] < 0 or t_eval[-1] > t_max:
            raise ValueError("t_eval must be a strictly increasing 1-D array within [0, t_max]")
    options: dict[str, Any] = {}
    if method in _IMPLICIT and jac is not None:
        options["jac"] = jac
    raw = solve_ivp(rhs, (0.0, t_max), y0, method=method, rtol=rtol, atol=atol,
                    events=all_events or None, dense_output=dense_output, t_eval=t_eval, **options)
    status, message = int(raw.status), str(raw.message)
    if status >= 0 and not np.all(np.isfinite(raw.y)):
        status, message = -1, "solution became non-finite"
    elif status >= 0 and raw.y.shape[1] and np.any(raw.y[0] <= 0):
        status, message = -1, "solution left the domain H > 0 (H reached zero in finite time)"
    t_events = list(raw.t_events) if raw.t_events is not None else []
    y_events = list(raw.y_events) if raw.y_events is not None else []
    merged = merger_tol is not None and bool(t_events and t_events[0].size)
    return result_type(t=raw.t, y=raw.y, status=status, message=message, t_events=t_events,
                       y_events=y_events, sol=raw.sol, nfev=int(raw.nfev), njev=int(raw.njev),
                       merged=merged)
