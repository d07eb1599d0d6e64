"""Batched adaptive integration of P25 eq. 20 and eq. 23 over many parameter sets at once.

A grid of 10⁴ parameter points is integrated in one numba-compiled loop
(``interaction.batched_kernel``), each element with its own adaptive step-size
control: explicit Dormand–Prince 5(4) with the step-size controller, initial-step
heuristic, quartic dense output and error norm of ``scipy.integrate.solve_ivp``'s
``RK45``. An element therefore takes the steps of the corresponding
``solve_ivp(..., method="RK45")`` call and agrees with it to round-off, except where
an error estimate lies within round-off of the acceptance threshold (then one
accept/reject decision can differ; the results still agree within the tolerance).
The batched loop removes the Python overhead per step.

Interface. ``integrate_batched(system, y0, t_max, ...)`` takes the same system classes
as ``interaction.integrate`` — ``ThreeScalarSystem`` (eq. 20, docs/theory.md §2.1) or
``ReducedSystem`` (eq. 23 with the corrected coefficient ``b²/(4a)``, §2.2) — whose
fields may be arrays, and ``y0`` as one (broadcastable) array per component. The
defaults are ``interaction.odesolve``'s ``DEFAULT_RTOL``/``DEFAULT_ATOL``.
``integrate_three_scalar_batched`` and ``integrate_reduced_batched`` are keyword
wrappers.

Coordinates (docs/theory.md §4.1). By default (``coordinates="signed"``) the flow is
integrated in the regular coordinates ``d = ±sqrt(H)``, ``q = Y/H``, ``v = W/d``
(eq. 23 likewise in ``(d, v)``), which equal the printed equations wherever ``H > 0``
and continue through crossings; crossings are counted (``n_crossings``, first time
``t_first_crossing``). Step-size control then acts on the internal coordinates.
``coordinates="direct"`` integrates the printed equations literally and reports a
crossing as a failure.

Result contract (``BatchedResult``): per element the fields of a single
``interaction.OdeResult`` — ``status`` with scipy's codes (``0`` reached ``t_max``,
``1`` merger event, ``-1`` failure), ``message``, ``t_events`` (the merger times),
named components on the saving grid ``t`` — plus ``outcome`` (``BatchOutcome``), which
names the kind of failure: step limit, step-size underflow, non-finite right-hand side
or overflowed state (``NON_FINITE``: also a component of the integrated state beyond
``interaction.odesolve.MAX_STATE``, at the start or after a step, the rule of
``interaction.integrate``; e.g. ``H0 = 1e308``) or (direct coordinates) left the
domain ``H > 0``. The merger event fires when ``H``
falls to ``merger_tol`` between two step ends (scipy's event semantics; time located
by bisection on the dense-output polynomial). A failed element keeps its last valid
state and is never reported as a success. A crossing whose step ends with
``H <= merger_tol`` also fires the merger event; ``n_crossings`` tells.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .batched_kernel import (OUTCOME_MESSAGES, REDUCED, REDUCED_SIGNED, THREE_SCALAR,
                             THREE_SCALAR_SIGNED, BatchOutcome, integrate_batch)
from .checks import check_finite, check_int, check_nonnegative, check_positive
from .odesolve import (DEFAULT_ATOL, DEFAULT_MAX_STEPS, DEFAULT_RTOL, OdeSystem, ResultBase,
                       check_tolerances, resolve_coordinates)
from .reduced import ReducedSystem
from .three_scalar import ThreeScalarSystem

#: Former name of ``BatchOutcome`` (until the status codes became scipy's); kept for callers.
BatchStatus = BatchOutcome


@dataclass(frozen=True)
class BatchedResult(ResultBase):
    """Outcome of a batched integration; arrays have the broadcast batch shape in front.

    Per element the fields of ``interaction.OdeResult``: ``t`` is the saving grid
    (``t_eval``; empty if none) and ``y`` the saved states, shape
    ``batch + (n_components, len(t))`` (NaN after an element stopped or beyond its
    ``t_max``); ``res.H`` etc. name its rows. ``status`` holds scipy's codes (``0``,
    ``1`` merger, ``-1`` failure), ``message`` a string per element, ``t_events`` one
    batch-shaped array per event (only the merger event: its time, NaN where it did not
    fire). ``outcome`` (``BatchOutcome``) details the failures. ``t_final``/``y_final``
    are where each element stopped. ``n_crossings`` counts passages of the signed
    distance through 0 (signed coordinates; always 0 in direct ones, where a crossing
    is a failure) and ``t_first_crossing`` is the first one's time (NaN if none).
    """

    components: tuple[str, ...]
    t: np.ndarray
    y: np.ndarray
    t_final: np.ndarray
    y_final: np.ndarray
    outcome: np.ndarray
    t_events: list[np.ndarray]
    n_crossings: np.ndarray
    t_first_crossing: np.ndarray
    nsteps: np.ndarray
    nfev: np.ndarray
    nrejected: np.ndarray

    @property
    def status(self) -> np.ndarray:
        """scipy's status code per element: ``0`` reached ``t_max``, ``1`` merged, ``-1`` failed."""
        return np.maximum(self.outcome, -1).astype(np.int8)

    @property
    def merged(self) -> np.ndarray:
        return self.outcome == BatchOutcome.MERGED

    @property
    def t_merge(self) -> np.ndarray:
        """Merger time per element (NaN if none)."""
        return self.t_events[0]

    @property
    def message(self) -> np.ndarray:
        """Human-readable outcome per element."""
        out = np.empty(self.outcome.shape, dtype=object)
        for code in BatchOutcome:
            out[self.outcome == code] = OUTCOME_MESSAGES[code]
        return out

    @property
    def variables(self) -> tuple[str, ...]:
        """Former name of ``components``."""
        return self.components

    def status_counts(self) -> dict[str, int]:
        """Number of elements per outcome, e.g. ``{'FINISHED': 9990, 'MERGED': 10}``."""
        return {code.name: int(np.sum(self.outcome == code)) for code in BatchOutcome
                if np.any(self.outcome == code)}

    def final(self, name: str) -> np.ndarray:
        """Final value of component ``name`` per element."""
        self.component(name)  # validates the name
        return self.y_final[..., self.components.index(name)]

    def trajectory(self, name: str) -> np.ndarray:
        """Saved values of ``name`` on ``t``, shape ``batch + (len(t),)``."""
        return self.component(name)


def _check_grid(t_eval: Any) -> np.ndarray:
    if t_eval is None:
        return np.zeros(0)
    t_eval = check_nonnegative("t_eval", t_eval)
    if t_eval.ndim != 1 or np.any(np.diff(t_eval) <= 0):
        raise ValueError("t_eval must be a strictly increasing 1-D array of times >= 0")
    return t_eval


def integrate_batched(system: OdeSystem, y0: Sequence[Any], t_max: Any, *,
                      rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                      merger_tol: Any = None, t_eval: Any = None, max_steps: int = DEFAULT_MAX_STEPS,
                      coordinates: str = "signed") -> BatchedResult:
    """Integrate every broadcast combination of ``system``'s fields and ``y0`` (docs/theory.md §2.1–§2.2).

    ``system``: ``ThreeScalarSystem`` (``y0 = (H0, Y0, W0)``) or ``ReducedSystem``
    (``y0 = (H0, W0)``) whose fields may be arrays. The fields, the components of
    ``y0``, ``t_max`` and ``merger_tol`` broadcast together (numpy rules) to the batch
    shape. Each element is integrated on ``[0, t_max]`` with Dormand–Prince 5(4)
    (scipy ``RK45``'s algorithm; ``rtol``/``atol`` as in scipy). ``merger_tol``
    (``None`` = no event; else ``< H0``) makes ``H = merger_tol`` a terminal event.
    ``t_eval`` (shared 1-D grid) saves the states by dense output. ``coordinates``:
    ``"signed"`` (regular through crossings; tolerances act on ``(d, q, v)``) or
    ``"direct"`` (the literal equations); see the module docstring.
    """
    if isinstance(system, ThreeScalarSystem):
        codes, params = (THREE_SCALAR_SIGNED, THREE_SCALAR), [system.S, system.a, system.b]
    elif isinstance(system, ReducedSystem):
        codes = (REDUCED_SIGNED, REDUCED)
        params = [system.A_high, system.A_low, system.a, system.b]
    else:
        raise ValueError(f"system must be a ThreeScalarSystem or ReducedSystem "
                         f"(got {type(system).__name__})")
    code = codes[0] if resolve_coordinates(system, coordinates) else codes[1]
    n = len(system.components)
    if len(y0) != n:
        raise ValueError(f"y0 must have {n} components {system.components} (got {len(y0)})")
    names = [f"{c}0" for c in system.components]
    parts = [check_positive(names[0], y0[0])]
    if n == 3:
        parts.append(check_nonnegative(names[1], y0[1]))
    parts.append(check_finite(names[-1], y0[-1]))
    t_max = check_positive("t_max", t_max)
    rtol, atol = check_tolerances(rtol, atol)
    if rtol < 100 * np.finfo(float).eps:
        raise ValueError(f"rtol must be >= {100 * np.finfo(float).eps:.3g} (got {rtol!r})")
    merger_tol = np.zeros(()) if merger_tol is None else check_positive("merger_tol", merger_tol)
    t_eval = _check_grid(t_eval)
    max_steps = check_int("max_steps", max_steps, minimum=1)

    arrays = np.broadcast_arrays(*parts, *params, t_max, merger_tol)
    shape = arrays[0].shape
    flat = [np.ascontiguousarray(x, dtype=float).reshape(-1) for x in arrays]
    z0 = np.stack(flat[:n], axis=1)
    packed = np.zeros((z0.shape[0], 4))
    for k, col in enumerate(flat[n:n + len(params)]):
        packed[:, k] = col
    t_bound, tol = flat[-2], flat[-1]
    if np.any((tol > 0) & (tol >= z0[:, 0])):
        raise ValueError("merger_tol must be < H0 for every element")
    if code in (THREE_SCALAR_SIGNED, REDUCED_SIGNED):
        z0 = system.to_signed(z0.T).T  # (H, Y, W) -> (d, q, v); (H, W) -> (d, v)
    M, n_t = z0.shape[0], t_eval.shape[0]
    y_final = np.empty((M, n))
    t_final = np.empty(M)
    outcome = np.empty(M, dtype=np.int8)
    t_merge = np.empty(M)
    t_cross = np.empty(M)
    saved = np.full((M, n, n_t), np.nan)
    counters = np.zeros((M, 4), dtype=np.int64)
    integrate_batch(code, np.ascontiguousarray(z0), packed, t_bound, tol, t_eval, rtol, atol,
                    max_steps, y_final, t_final, outcome, t_merge, t_cross, saved, counters)
    return BatchedResult(components=tuple(system.components), t=t_eval,
                         y=saved.reshape(shape + (n, n_t)), t_final=t_final.reshape(shape),
                         y_final=y_final.reshape(shape + (n,)), outcome=outcome.reshape(shape),
                         t_events=[t_merge.reshape(shape)],
                         n_crossings=counters[:, 3].reshape(shape),
                         t_first_crossing=t_cross.reshape(shape),
                         nsteps=counters[:, 0].reshape(shape), nfev=counters[:, 1].reshape(shape),
                         nrejected=counters[:, 2].reshape(shape))


def integrate_three_scalar_batched(H0: Any, Y0: Any, W0: Any, *, S: Any, N: Any, tau_h: Any,
                                   tau_y: Any, t_max: Any, rtol: float = DEFAULT_RTOL,
                                   atol: float = DEFAULT_ATOL, merger_tol: Any = None,
                                   t_eval: Any = None, max_steps: int = DEFAULT_MAX_STEPS,
                                   coordinates: str = "signed") -> BatchedResult:
    """Integrate P25 eq. 20 (docs/theory.md §2.1) for every broadcast combination of the arguments.

    Keyword wrapper of ``integrate_batched(ThreeScalarSystem(S, N, tau_h, tau_y),
    (H0, Y0, W0), t_max, ...)``. Returns a ``BatchedResult`` with components ``('H', 'Y', 'W')``.
    """
    return integrate_batched(ThreeScalarSystem(S=S, N=N, tau_h=tau_h, tau_y=tau_y),
                             (H0, Y0, W0), t_max, rtol=rtol, atol=atol, merger_tol=merger_tol,
                             t_eval=t_eval, max_steps=max_steps, coordinates=coordinates)


def integrate_reduced_batched(H0: Any, W0: Any, *, A_high: Any, A_low: Any, N: Any, tau_h: Any,
                              tau_y: Any, t_max: Any, rtol: float = DEFAULT_RTOL,
                              atol: float = DEFAULT_ATOL, merger_tol: Any = None,
                              t_eval: Any = None, max_steps: int = DEFAULT_MAX_STEPS,
                              coordinates: str = "signed") -> BatchedResult:
    """Integrate the reduced system P25 eq. 23 (docs/theory.md §2.2, coefficient ``b²/(4a)``) in batch.

    Keyword wrapper of ``integrate_batched(ReducedSystem(A_high, A_low, N, tau_h, tau_y),
    (H0, W0), t_max, ...)``; ``A_low >= 0`` is the value of eq. 25 (not its square).
    Returns components ``('H', 'W')``; ``Y`` follows from eq. 22, ``Y = H (H − A_high)/r``.
    """
    return integrate_batched(ReducedSystem(A_high=A_high, A_low=A_low, N=N, tau_h=tau_h,
                                           tau_y=tau_y),
                             (H0, W0), t_max, rtol=rtol, atol=atol, merger_tol=merger_tol,
                             t_eval=t_eval, max_steps=max_steps, coordinates=coordinates)
