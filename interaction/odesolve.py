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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from scipy.integrate import solve_ivp

from .checks import check_choice, check_finite, check_interval, check_positive

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


def check_rates(N: Any, tau_h: Any, tau_y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate the shared-continuation count ``N >= 1`` and the time constants ``τ_h, τ_y > 0``."""
    N = check_finite("N", N)
    if not np.all(N >= 1):
        raise ValueError(f"N must be >= 1 (got {N.item()!r})" if N.ndim == 0
                         else f"N must be >= 1 (got min {float(N.min())!r})")
    return N, check_positive("tau_h", tau_h), check_positive("tau_y", tau_y)


def check_tolerances(rtol: Any, atol: Any) -> tuple[float, float]:
    """Validate ``0 < rtol < 1`` and ``atol > 0``."""
    rtol = float(check_interval("rtol", rtol, 0.0, 1.0, lo_closed=False, hi_closed=False))
    return rtol, float(check_positive("atol", atol))


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
    """Validate an output grid: strictly increasing, 1-D, within ``[0, t_max]``."""
    if t_eval is None:
        return None
    t_eval = check_finite("t_eval", t_eval)
    if t_eval.ndim != 1 or np.any(np.diff(t_eval) <= 0) or t_eval[0] < 0 or t_eval[-1] > t_max:
        raise ValueError("t_eval must be a strictly increasing 1-D array within [0, t_max]")
    return t_eval


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
              coordinates: str | None = None) -> OdeResult:
    """Integrate ``system`` from ``y0`` over ``[0, t_max]`` with ``scipy.integrate.solve_ivp``.

    ``system``: any :class:`OdeSystem` (``ThreeScalarSystem`` eq. 20,
    ``PerContinuationSystem`` eq. 19, ``ReducedSystem`` eq. 23, ``TwoPoint2024System``,
    ``FixedExpansionSystem`` eq. 42, ``VectorFlowSystem``) with scalar parameters.
    ``y0``: one value per entry of ``system.components``.
    ``method``: one of ``METHODS`` (default LSODA); ``rtol``/``atol`` as in scipy
    (in signed coordinates ``atol`` applies to the internal coordinates).
    ``t_eval``: output times within ``[0, t_max]`` (default: the solver's steps).
    ``events``: scipy's ``event(t, y)`` convention with ``y`` in components, optional
    ``terminal``/``direction`` attributes. ``merger_tol``: adds the terminal event
    "``system.distance2(y)`` falls to ``merger_tol``" as ``t_events[0]`` (``merged``);
    for pair systems it must be below ``H0``. Note that a crossing also passes through
    small ``H``, so a terminal merger event can stop a crossing trajectory.
    ``coordinates``: ``'signed'`` (default where available: regular through
    crossings, times in ``t_crossings``) or ``'direct'`` (the equations as printed; at
    a crossing explicit methods fail, implicit ones may step over the singularity with
    degraded accuracy).

    Returns ``system.result_type`` (an :class:`OdeResult`), whose ``status`` is scipy's.
    """
    if not isinstance(system, OdeSystem):
        raise ValueError(f"system must be an OdeSystem such as ThreeScalarSystem "
                         f"(got {type(system).__name__})")
    y0 = system.check_y0(y0)
    t_max = float(check_positive("t_max", t_max))
    check_choice("method", method, METHODS)
    rtol, atol = check_tolerances(rtol, atol)
    t_eval = check_t_eval(t_eval, t_max)
    signed = resolve_coordinates(system, coordinates)
    for name in system.scalar_parameters:
        if np.ndim(getattr(system, name)) != 0:
            raise ValueError(f"{name} must be a scalar for integrate (got an array; "
                             "use interaction.integrate_batched for parameter grids)")
    if signed:
        fun, jac, z0 = system.rhs_signed, system.jac_signed, system.to_signed(y0)
        to_public = system.from_signed
    else:
        fun, jac, z0, to_public = system.rhs, system.jac, y0, _identity
    all_events: list[Callable] = []
    if merger_tol is not None:
        merger_tol = float(check_positive("merger_tol", merger_tol))
        if system.distance_first and merger_tol >= y0[0]:
            raise ValueError(f"merger_tol must be < H0 (got {merger_tol!r} >= {float(y0[0])!r})")
        all_events.append(_merger_event(merger_tol, system.distance2, to_public))
    if events is not None:
        user = [events] if callable(events) else list(events)
        all_events.extend(_in_public(e, to_public) for e in user)
    n_public_events = len(all_events)
    if signed:
        all_events.append(_crossing)
    options: dict[str, Any] = {}
    if method in _IMPLICIT and jac is not None:
        options["jac"] = jac
    raw = solve_ivp(fun, (0.0, t_max), z0, method=method, rtol=rtol, atol=atol,
                    events=all_events or None, dense_output=dense_output, t_eval=t_eval,
                    **options)
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
        sol=_PublicSolution(raw.sol, to_public) if raw.sol is not None else None,
        nfev=int(raw.nfev), njev=int(raw.njev),
        merged=merger_tol is not None and bool(t_events[0].size),
        t_crossings=t_events[n_public_events] if signed else np.empty(0),
        components=tuple(system.components), system=system)
