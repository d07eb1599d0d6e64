"""The toolkit's one integration interface: ODE systems, ``integrate`` and the result type.

Design (after ``scipy.integrate.solve_ivp`` and diffrax). Every system of the theory
is a frozen dataclass of parameters, a subclass of :class:`OdeSystem`, with its
right-hand side ``rhs(t, y)`` (and, where available, ``jac(t, y)``) and a
``components`` tuple naming the rows of ``y``. One function,
:func:`integrate` ``(system, y0, t_max, ...)``, integrates any of them on
``[0, t_max]`` with one set of defaults (``DEFAULT_METHOD``, ``DEFAULT_RTOL``,
``DEFAULT_ATOL``, defined only here) and returns an :class:`OdeResult`: scipy's
fields ``t, y, status, message, t_events, y_events, sol, nfev, njev`` plus
named components (``res.H`` is the row ``'H'``). The batched integrator
(``interaction.batched``) returns the same fields and status codes per element.

Status codes are scipy's: ``0`` reached ``t_max``, ``1`` a terminal event fired
(e.g. the merger event), ``-1`` failure. A failure is never returned as a number:
a solver failure, a non-finite solution or (for the pair systems, whose row 0 is
``H = ‖dh‖²`` and whose equations carry ``1/H``) a trajectory that reached
``H <= 0`` is reported as ``status = -1`` with a message.

Nothing runs unboundedly. Every step is checked: an integrated state that became
non-finite or overflowed (a component beyond ``MAX_STATE`` in magnitude, where the
cubic right-hand sides leave double precision), from the start or after any step,
stops the run with ``status = -1`` and a message naming the time ("state overflowed
at t=..."); the result keeps the last valid state. At most ``max_steps`` solver steps
are taken (default ``DEFAULT_MAX_STEPS``, the batched integrator's default too); a run
that needs more stops with ``status = -1``. Every argument of ``integrate`` is
validated (type, finiteness, shape, range) before any work, and bad input raises
``ValueError`` naming the argument.

Coordinates. The pair systems of P25 (eq. 19, eq. 20, eq. 23) are singular at
``H = 0``, yet some trajectories reach ``H = 0`` in finite time: the two
representations pass through each other (docs/theory.md §4.1). Those systems also
provide regular *signed-distance* coordinates ``d = ±sqrt(H)`` (``to_signed``,
``from_signed``, ``rhs_signed``, ``jac_signed``); ``integrate`` uses them by default
(``coordinates='signed'``), continues the flow through crossings and records their
times in ``t_crossings``. ``coordinates='direct'`` integrates the printed equations
literally.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from scipy.integrate import BDF, DOP853, LSODA, RK23, RK45, OdeSolution, Radau, solve_ivp

from .checks import (check_choice, check_finite, check_int, check_interval, check_positive,
                     check_real, check_real_array)

METHODS = ("LSODA", "Radau", "BDF", "DOP853", "RK45", "RK23")
_IMPLICIT = ("LSODA", "Radau", "BDF")
COORDINATES = ("signed", "direct")

# The one set of defaults of every integrator in the toolkit (adaptive ones here and the
# batched Dormand–Prince loop). LSODA switches to a stiff method when the 1/H terms of the
# pair systems make the flow stiff near a merger, and is the fastest for long runs to
# equilibrium; rtol 1e-10 keeps the invariant A_high (eq. 21) to ~1e-9 of its scale over
# runs to equilibrium; atol 1e-14 resolves H down to ~1e-12 of an O(1) start.
DEFAULT_METHOD = "LSODA"
DEFAULT_RTOL = 1e-10
DEFAULT_ATOL = 1e-14
#: Budget of solver steps per integration (also ``integrate_batched``'s default): a run to
#: equilibrium at the default tolerances takes a few thousand; ~1 s of LSODA steps.
DEFAULT_MAX_STEPS = 100_000
#: Largest magnitude of a component of an integrated state. The right-hand sides are at
#: most cubic in the state (signed coordinates: ``d³``), so beyond 1e100 they and their
#: Jacobians overflow double precision; such a state is reported as "overflowed".
MAX_STATE = 1e100


def check_rates(N: Any, tau_h: Any, tau_y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate the shared-continuation count ``N >= 1`` and the time constants ``τ_h, τ_y > 0``."""
    N = check_finite("N", N)
    if not np.all(N >= 1):
        raise ValueError(f"N must be >= 1 (got {N.item()!r})" if N.ndim == 0
                         else f"N must be >= 1 (got min {float(N.min())!r})")
    return N, check_positive("tau_h", tau_h), check_positive("tau_y", tau_y)


def check_tolerances(rtol: Any, atol: Any) -> tuple[float, float]:
    """Validate the real numbers ``0 < rtol < 1`` and ``atol > 0``."""
    rtol = check_real("rtol", rtol, "a real number in (0.0, 1.0)")
    rtol = float(check_interval("rtol", rtol, 0.0, 1.0, lo_closed=False, hi_closed=False))
    return rtol, float(check_positive("atol", check_real("atol", atol, "a real number > 0")))


def store_parameter(obj: Any, name: str, value: np.ndarray) -> None:
    """Store a validated parameter on a frozen dataclass: a plain float when it is a scalar.

    Scalars are what the numba kernels of ``integrate`` take; arrays are kept as given
    so that the same system classes carry parameter grids for ``integrate_batched``.
    """
    object.__setattr__(obj, name, float(value) if np.ndim(value) == 0 else value)


class EffectiveRates:
    """Mixin for systems with fields ``N``, ``tau_h``, ``tau_y``: the compact rates of docs/theory.md §1.

    ``a = 1/τ_h`` (with ``1/τ_h = 1/τ_h1 + 1/τ_h2``), ``b = 1/(N τ_y)``, ``r = a/b = N τ_y/τ_h``.
    """

    @property
    def a(self) -> Any:
        """``a = 1/τ_h``."""
        return 1.0 / self.tau_h

    @property
    def b(self) -> Any:
        """``b = 1/(N τ_y)``."""
        return 1.0 / (self.N * self.tau_y)

    @property
    def r(self) -> Any:
        """``r = a/b = N τ_y/τ_h``."""
        return self.N * self.tau_y / self.tau_h


class ResultBase:
    """What every integration result offers: named components and ``success``.

    ``components`` names the rows of ``y`` (axis ``-2``; the batched results have batch
    axes in front); ``res.component('H')`` or simply ``res.H`` returns that row.
    """

    components: tuple[str, ...]  # set by each result type (a field of the dataclasses)

    def component(self, name: str) -> np.ndarray:
        """The values of component ``name`` on the time grid ``t``."""
        if name not in self.components:
            raise ValueError(f"name must be one of {', '.join(self.components)} (got {name!r})")
        return self.y[..., self.components.index(name), :]

    def __getattr__(self, name: str) -> np.ndarray:
        # Only called when ordinary lookup fails. Reading ``__dict__`` directly (and never
        # resolving private names, e.g. during pickling or copying) avoids recursion.
        if not name.startswith("_") and name in self.__dict__.get("components", ()):
            return self.component(name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute or component {name!r}")

    @property
    def success(self) -> Any:
        """``status >= 0``: reached ``t_max`` or stopped at a terminal event."""
        return self.status >= 0


@dataclass
class OdeResult(ResultBase):
    """Solution of one initial-value problem, with ``scipy.integrate.solve_ivp``'s fields.

    ``y`` has one row per component (``components``; row 0 of the pair systems is
    ``H``). ``status``: ``0`` reached ``t_max``, ``1`` a terminal event fired, ``-1``
    the solver failed or the solution left its domain (``success`` is ``status >= 0``).
    ``t_events``/``y_events``: one array per event, the merger event first when
    requested; ``merged`` is True when it fired. ``sol`` (dense output) returns the
    components. ``t_crossings``: times at which the signed distance passed through
    zero (signed coordinates only). ``system`` is the integrated system.
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
    components: tuple[str, ...] = ()
    system: Any = None


class OdeSystem:
    """Base class of the toolkit's ODE systems (subclasses are frozen dataclasses of parameters).

    A subclass defines ``components`` (names of the rows of ``y``), ``rhs(t, y)`` in
    ``solve_ivp``'s convention and may define ``jac(t, y)`` (passed to the implicit
    methods), ``check_y0`` and ``scalar_parameters``. Pair systems set ``distance_first = True``: row 0 is
    ``H = ‖dh‖² > 0``. ``distance2(y)`` is the squared distance watched by the merger
    event. Systems with regular signed-distance coordinates define ``to_signed``,
    ``from_signed``, ``rhs_signed`` and ``jac_signed`` (may be ``None``).
    """

    components: ClassVar[tuple[str, ...]] = ()
    result_type: ClassVar[type[OdeResult]] = OdeResult
    distance_first: ClassVar[bool] = False
    #: Parameters that must be scalars for ``integrate`` (the batched systems accept grids).
    scalar_parameters: ClassVar[tuple[str, ...]] = ()
    jac: ClassVar[Callable | None] = None

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def check_y0(self, y0: Any) -> np.ndarray:
        """Validate an initial state: finite, one value per component."""
        y0 = check_finite("y0", y0)
        if y0.shape != (len(self.components),):
            raise ValueError(f"y0 must have shape ({len(self.components)},) ordered as "
                             f"{self.components} (got {y0.shape})")
        return y0

    def distance2(self, y: np.ndarray) -> Any:
        """The squared representational distance of a state (``y[0] = H`` for pair systems)."""
        return y[0]

    @property
    def has_signed_coordinates(self) -> bool:
        return hasattr(self, "rhs_signed")


def check_t_eval(t_eval: Any, t_max: float) -> np.ndarray | None:
    """Validate an output grid: real numbers, non-empty, strictly increasing, 1-D, within ``[0, t_max]``."""
    if t_eval is None:
        return None
    t_eval = check_finite("t_eval", check_real_array("t_eval", t_eval))
    if (t_eval.ndim != 1 or t_eval.size == 0 or np.any(np.diff(t_eval) <= 0)
            or t_eval[0] < 0 or t_eval[-1] > t_max):
        raise ValueError("t_eval must be a non-empty, strictly increasing 1-D array within "
                         "[0, t_max]")
    return t_eval


def check_events(events: Any) -> list[Callable]:
    """Validate ``events``: ``None``, one callable or a sequence of callables (returned as a list)."""
    if events is None:
        return []
    if callable(events):
        return [events]
    if isinstance(events, (str, bytes)) or not isinstance(events, Iterable):
        raise ValueError(f"events must be None, a callable or a sequence of callables "
                         f"(got {events!r})")
    user = list(events)
    for k, event in enumerate(user):
        if not callable(event):
            raise ValueError(f"events[{k}] must be a callable event(t, y) (got {event!r})")
    return user


def state_problem(z: np.ndarray) -> str | None:
    """What is wrong with an integrated state, or ``None``: "became non-finite" or "overflowed"."""
    if np.max(np.abs(z), initial=0.0) <= MAX_STATE:
        return None
    if not np.all(np.isfinite(z)):
        return "state became non-finite"
    return "state overflowed"


def _failure_message(problem: str, t: float) -> str:
    detail = "" if problem.endswith("non-finite") else \
        f" (a component of the integrated state exceeded {MAX_STATE:g} in magnitude)"
    return f"{problem} at t={t:.6g}{detail}"


def _bounded(base: type) -> type:
    """``base`` (a scipy ``OdeSolver``) with a step budget and a state check after every step.

    A step that would exceed ``max_steps``, or that ends in a non-finite or overflowed
    state, fails (scipy then stops with ``status = -1`` and keeps the last valid state).
    """

    class Bounded(base):
        def __init__(self, fun, t0, y0, t_bound, *, max_steps: int, **options):
            super().__init__(fun, t0, y0, t_bound, **options)
            self.max_steps = max_steps
            self.n_steps = 0

        def _step_impl(self):
            if self.n_steps >= self.max_steps:
                return False, (f"maximum number of steps ({self.max_steps}) reached at "
                               f"t={self.t:.6g} before t_max (raise max_steps)")
            success, message = super()._step_impl()
            self.n_steps += 1
            if success:
                problem = state_problem(self.y)
                if problem is not None:
                    return False, _failure_message(problem, self.t)
            return success, message

    Bounded.__name__ = Bounded.__qualname__ = f"Bounded{base.__name__}"
    return Bounded


_SOLVERS = {cls.__name__: _bounded(cls) for cls in (LSODA, Radau, BDF, DOP853, RK45, RK23)}


def resolve_coordinates(system: OdeSystem, coordinates: str | None) -> bool:
    """``True`` for signed coordinates: the default where the system has them."""
    if coordinates is None:
        return system.has_signed_coordinates
    check_choice("coordinates", coordinates, COORDINATES)
    if coordinates == "signed" and not system.has_signed_coordinates:
        raise ValueError(f"coordinates must be 'direct' for {type(system).__name__} "
                         f"(got 'signed'; it has no signed-distance coordinates)")
    return coordinates == "signed"


class _PublicSolution:
    """Dense output in components: ``sol(t)`` = ``to_public(internal_sol(t))``."""

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


def _merger_event(tol: float, distance2: Callable, to_public: Callable) -> Callable:
    def merger(t: float, z: np.ndarray) -> float:
        return distance2(to_public(z)) - tol

    merger.terminal = True
    merger.direction = -1
    return merger


def _crossing(t: float, z: np.ndarray) -> float:
    return z[0]


def _identity(z: np.ndarray) -> np.ndarray:
    return z


def integrate(system: OdeSystem, y0: Any, t_max: float, *, method: str = DEFAULT_METHOD,
              rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL, t_eval: Any = None,
              events: Sequence[Callable] | Callable | None = None,
              merger_tol: float | None = None, dense_output: bool = False,
              coordinates: str | None = None, max_steps: int = DEFAULT_MAX_STEPS) -> OdeResult:
    """Integrate ``system`` from ``y0`` over ``[0, t_max]`` with ``scipy.integrate.solve_ivp``.

    ``system``: any :class:`OdeSystem` (``ThreeScalarSystem`` eq. 20,
    ``PerContinuationSystem`` eq. 19, ``ReducedSystem`` eq. 23, ``TwoPoint2024System``,
    ``FixedExpansionSystem`` eq. 42, ``VectorFlowSystem``) with scalar parameters.
    ``y0``: real numbers, one per entry of ``system.components``. ``t_max``: a real
    number ``> 0``.
    ``method``: one of ``METHODS`` (default LSODA); ``rtol``/``atol`` as in scipy
    (real numbers, ``0 < rtol < 1``, ``atol > 0``; in signed coordinates ``atol``
    applies to the internal coordinates).
    ``t_eval``: output times within ``[0, t_max]`` (default: the solver's steps).
    ``events``: scipy's ``event(t, y)`` convention with ``y`` in components, optional
    ``terminal``/``direction`` attributes. ``merger_tol``: adds the terminal event
    "``system.distance2(y)`` falls to ``merger_tol``" as ``t_events[0]`` (``merged``);
    for pair systems it must be below ``H0``. Note that a crossing also passes through
    small ``H``, so a terminal merger event can stop a crossing trajectory.
    ``dense_output``: ``True`` or ``False``.
    ``coordinates``: ``'signed'`` (default where available: regular through
    crossings, times in ``t_crossings``) or ``'direct'`` (the equations as printed; at
    a crossing explicit methods fail, implicit ones may step over the singularity with
    degraded accuracy).
    ``max_steps``: the most solver steps taken (an integer ``>= 1``, default
    ``DEFAULT_MAX_STEPS``).

    Every argument is validated before any work; bad input raises ``ValueError``
    naming the argument and the allowed values. The run always ends: it stops with
    ``status = -1`` and a message when the budget ``max_steps`` is spent before
    ``t_max``, or when the integrated state is (at ``t = 0``) or becomes non-finite or
    overflows (a component beyond ``MAX_STATE``, e.g. ``H0 = 1e308``): "state
    overflowed at t=...". The result then holds the trajectory up to the last valid
    state.

    Returns ``system.result_type`` (an :class:`OdeResult`), whose ``status`` is scipy's.
    """
    if not isinstance(system, OdeSystem):
        raise ValueError(f"system must be an OdeSystem such as ThreeScalarSystem "
                         f"(got {type(system).__name__})")
    y0 = system.check_y0(check_real_array("y0", y0))
    t_max = float(check_positive("t_max", check_real("t_max", t_max, "a real number > 0")))
    if not isinstance(method, str):
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))} (got {method!r})")
    check_choice("method", method, METHODS)
    rtol, atol = check_tolerances(rtol, atol)
    t_eval = check_t_eval(t_eval, t_max)
    user_events = check_events(events)
    if merger_tol is not None:
        merger_tol = check_real("merger_tol", merger_tol, "None or a real number > 0")
        merger_tol = float(check_positive("merger_tol", merger_tol))
        if system.distance_first and merger_tol >= y0[0]:
            raise ValueError(f"merger_tol must be < H0 (got {merger_tol!r} >= {float(y0[0])!r})")
    if not isinstance(dense_output, (bool, np.bool_)):
        raise ValueError(f"dense_output must be True or False (got {dense_output!r})")
    signed = resolve_coordinates(system, coordinates)
    max_steps = check_int("max_steps", max_steps, minimum=1)
    for name in system.scalar_parameters:
        if np.ndim(getattr(system, name)) != 0:
            raise ValueError(f"{name} must be a scalar for integrate (got an array; "
                             "use interaction.integrate_batched for parameter grids)")
    if signed:
        fun, jac, to_public = system.rhs_signed, system.jac_signed, system.from_signed
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            z0 = np.asarray(system.to_signed(y0), dtype=float)  # may overflow: reported below
    else:
        fun, jac, z0, to_public = system.rhs, system.jac, y0, _identity
    all_events: list[Callable] = []
    if merger_tol is not None:
        all_events.append(_merger_event(merger_tol, system.distance2, to_public))
    all_events.extend(_in_public(e, to_public) for e in user_events)
    n_public_events = len(all_events)
    problem = state_problem(z0)
    if problem is not None:  # nothing to integrate: fail at t = 0, keeping the initial state
        t0 = np.zeros(1) if t_eval is None else t_eval[t_eval <= 0.0]
        return system.result_type(
            t=t0, y=np.repeat(y0[:, None], t0.size, axis=1), status=-1,
            message=_failure_message(problem, 0.0),
            t_events=[np.empty(0) for _ in range(n_public_events)],
            y_events=[np.empty(0) for _ in range(n_public_events)], sol=None, nfev=0, njev=0,
            merged=False, components=tuple(system.components), system=system)
    if signed:
        all_events.append(_crossing)
    options: dict[str, Any] = {}
    if method in _IMPLICIT and jac is not None:
        options["jac"] = jac
    raw = solve_ivp(fun, (0.0, t_max), z0, method=_SOLVERS[method], rtol=rtol, atol=atol,
                    events=all_events or None, dense_output=dense_output, t_eval=t_eval,
                    max_steps=max_steps, **options)
    sol = raw.sol
    if sol is not None and method in ("BDF", "LSODA"):
        # solve_ivp picks this segment rule by identity of the class, which is now a subclass
        sol = OdeSolution(sol.ts, sol.interpolants, alt_segment=True)
    y = to_public(raw.y)
    status, message = int(raw.status), str(raw.message)
    if status >= 0 and not np.all(np.isfinite(y)):
        status, message = -1, "solution became non-finite"
    elif status >= 0 and system.distance_first and not signed and y.shape[1] and np.any(y[0] <= 0):
        status, message = -1, "solution left the domain H > 0 (H reached zero in finite time)"
    t_events = list(raw.t_events) if raw.t_events is not None else []
    y_events = [to_public(ye.T).T if ye.size else ye for ye in raw.y_events] \
        if raw.y_events is not None else []
    return system.result_type(
        t=raw.t, y=y, status=status, message=message, t_events=t_events[:n_public_events],
        y_events=y_events[:n_public_events],
        sol=_PublicSolution(sol, to_public) if sol is not None else None,
        nfev=int(raw.nfev), njev=int(raw.njev),
        merged=merger_tol is not None and bool(t_events[0].size),
        t_crossings=t_events[n_public_events] if signed else np.empty(0),
        components=tuple(system.components), system=system)
