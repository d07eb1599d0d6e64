"""The nine-variable fixed-expansion-point model of a representation pair (P25 §5.2, App. B.4, eq. 42; docs/theory.md §2.10).

Instead of linearising about the moving midpoint (eq. 13), every continuation map
is expanded about a *fixed* point, ``y_i(h) ≈ b_i + D_i h``, and the pair moves
along a fixed unit vector ``v``: the two representations are ``h_α v`` with scalar
coordinates ``h_α``. The loss over the ``2N`` data points (same normalisation as
eq. 14) is

    L = ½ ⟨ ‖b_i + h_α D_i v − y*_{α,i}‖² ⟩_{α=1,2; i=1..N}

and every effective parameter follows gradient flow with its own rate:
``1/τ_hα`` for ``h_α``, ``1/τ_y`` for the Jacobians ``D_i``, ``1/τ_b`` for the offsets
``b_i``. Only ``u_i := D_i v`` enters the loss and, because ``‖v‖ = 1``,
``du_i/dt = (dD_i/dt) v`` is the gradient flow of ``u_i`` itself. With
``s = h_1 + h_2``, ``q = h_1² + h_2²`` the gradients are::

    dh_α/dt = −(1/(2τ_hα)) ⟨u_iᵀ(b_i + h_α u_i − y*_{α,i})⟩_i
    db_i/dt = −(1/(2Nτ_b)) (2 b_i + s u_i − y*_{1,i} − y*_{2,i})
    du_i/dt = −(1/(2Nτ_y)) (s b_i + q u_i − h_1 y*_{1,i} − h_2 y*_{2,i})

Averaging the needed inner products over ``i`` closes exactly on nine variables
(eq. 42), in this order (``VARIABLES``)::

    h1, h2,  bD = ⟨b_iᵀD_iv⟩,  by1, by2 = ⟨b_iᵀy*_{β,i}⟩,  b2 = ⟨‖b_i‖²⟩,
    D2 = ⟨‖D_iv‖²⟩,  Dy1, Dy2 = ⟨y*_{β,i}ᵀD_iv⟩

with the constant target moments ``y11 = ⟨‖y*_1‖²⟩``, ``y12 = ⟨y*_1ᵀy*_2⟩``,
``y22 = ⟨‖y*_2‖²⟩``. Writing ``h̄ = s/2``, ``h²̄ = q/2``::

    dh_α/dt = −(1/(2τ_hα)) (bD + h_α D2 − Dy_α)
    d bD/dt = −(1/(Nτ_b)) (bD + h̄ D2 − ½(Dy1+Dy2)) − (1/(Nτ_y)) (h²̄ bD + h̄ b2 − ½(h_1 by1 + h_2 by2))
    d byβ/dt = −(1/(Nτ_b)) (byβ + h̄ Dyβ − ½(y1β + y2β))
    d b2/dt = −(2/(Nτ_b)) (b2 + h̄ bD − ½(by1 + by2))
    d D2/dt = −(2/(Nτ_y)) (h²̄ D2 + h̄ bD − ½(h_1 Dy1 + h_2 Dy2))
    d Dyβ/dt = −(1/(Nτ_y)) (h²̄ Dyβ + h̄ byβ − ½(h_1 y1β + h_2 y2β))

This is term by term the right-hand side of the authors' ``der`` (``parity/main.ipynb``)
with ``eta_h_α = 1/τ_hα``, ``eta_a = 1/τ_y``, ``eta_b = 1/τ_b`` (docs/theory.md §2.10).

Why it matters: for an agreeing pair (``y11 = y12 = y22``, so ``Dy1 = Dy2`` when they
start equal) with equal hidden rates, ``d(h_2 − h_1)²/dt = −(1/τ_h1)(h_2 − h_1)² D2 ≤ 0``
(P25 eqs. 48–49; docs/theory.md §5.1 for the printed factor): the distance can only decrease.
An initial divergence followed by a merger (P25 Fig. 10 left) needs unequal hidden
rates, e.g. ``1/τ_h ∝`` prefix length (§D.3).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numba import njit

from .checks import check_finite, check_nonnegative, check_positive
from .odesolve import (DEFAULT_ATOL, DEFAULT_METHOD, DEFAULT_RTOL, OdeResult, OdeSystem,
                       integrate, store_parameter)

VARIABLES = ("h1", "h2", "bD", "by1", "by2", "b2", "D2", "Dy1", "Dy2")


@njit(cache=True)
def rhs_fixed_expansion(z: np.ndarray, a1: float, a2: float, ay: float, ab: float, N: float,
                        y11: float, y12: float, y22: float) -> np.ndarray:
    """Right-hand side of P25 eq. 42 (docs/theory.md §2.10) for the state ``z`` ordered as ``VARIABLES``.

    ``a1 = 1/τ_h1``, ``a2 = 1/τ_h2``, ``ay = 1/τ_y``, ``ab = 1/τ_b``.
    """
    h1, h2, bD, by1, by2, b2, D2, Dy1, Dy2 = z[0], z[1], z[2], z[3], z[4], z[5], z[6], z[7], z[8]
    hm = 0.5 * (h1 + h2)
    h2m = 0.5 * (h1 * h1 + h2 * h2)
    cb = ab / N
    cy = ay / N
    out = np.empty(9)
    out[0] = -0.5 * a1 * (bD + h1 * D2 - Dy1)
    out[1] = -0.5 * a2 * (bD + h2 * D2 - Dy2)
    out[2] = (-cb * (bD + hm * D2 - 0.5 * (Dy1 + Dy2))
              - cy * (h2m * bD + hm * b2 - 0.5 * (h1 * by1 + h2 * by2)))
    out[3] = -cb * (by1 + hm * Dy1 - 0.5 * (y11 + y12))
    out[4] = -cb * (by2 + hm * Dy2 - 0.5 * (y12 + y22))
    out[5] = -2.0 * cb * (b2 + hm * bD - 0.5 * (by1 + by2))
    out[6] = -2.0 * cy * (h2m * D2 + hm * bD - 0.5 * (h1 * Dy1 + h2 * Dy2))
    out[7] = -cy * (h2m * Dy1 + hm * by1 - 0.5 * (h1 * y11 + h2 * y12))
    out[8] = -cy * (h2m * Dy2 + hm * by2 - 0.5 * (h1 * y12 + h2 * y22))
    return out


class FixedExpansionResult(OdeResult):
    """Solution of eq. 42: ``.t``, ``.y`` (rows in ``VARIABLES`` order), named rows and scipy's fields."""

    @property
    def distance2(self) -> np.ndarray:
        """Squared representational distance ``(h_2 − h_1)²`` along the solution (``‖v‖ = 1``)."""
        return self.system.distance2(self.y)


@dataclass(frozen=True)
class FixedExpansionSystem(OdeSystem):
    """Parameters of P25 eq. 42: time constants, shared continuations ``N`` and target moments.

    ``tau_h1, tau_h2`` (hidden), ``tau_y`` (Jacobians ``D_i``), ``tau_b`` (offsets ``b_i``);
    the authors' learning rates are their inverses (``eta_h_α, eta_a, eta_b``).
    ``y11, y12, y22`` are ``⟨‖y*_1‖²⟩, ⟨y*_1ᵀy*_2⟩, ⟨‖y*_2‖²⟩`` and must satisfy
    Cauchy–Schwarz, ``y12² ≤ y11 y22``. State ordered as ``VARIABLES``; the merger
    event of ``interaction.integrate`` watches ``(h_2 − h_1)²``.
    """

    tau_h1: float
    tau_h2: float
    tau_y: float
    tau_b: float
    N: float = 1.0
    y11: float = 1.0
    y12: float = 1.0
    y22: float = 1.0

    components: ClassVar[tuple[str, ...]] = VARIABLES
    result_type: ClassVar[type[OdeResult]] = FixedExpansionResult
    scalar_parameters: ClassVar[tuple[str, ...]] = ("tau_h1", "tau_h2", "tau_y", "tau_b", "N",
                                                    "y11", "y12", "y22")

    def __post_init__(self) -> None:
        for name in ("tau_h1", "tau_h2", "tau_y", "tau_b"):
            store_parameter(self, name, check_positive(name, getattr(self, name)))
        if not float(check_finite("N", self.N)) >= 1:
            raise ValueError(f"N must be >= 1 (got {self.N!r})")
        store_parameter(self, "N", check_finite("N", self.N))
        store_parameter(self, "y11", check_nonnegative("y11", self.y11))
        store_parameter(self, "y22", check_nonnegative("y22", self.y22))
        store_parameter(self, "y12", check_finite("y12", self.y12))
        if self.y12 ** 2 > self.y11 * self.y22 * (1 + 1e-12) + 1e-300:
            raise ValueError(f"y12 must satisfy y12**2 <= y11*y22 (got y12={self.y12!r}, "
                             f"y11={self.y11!r}, y22={self.y22!r})")

    @classmethod
    def from_learning_rates(cls, eta_h1: float, eta_h2: float, eta_a: float, eta_b: float,
                            **kwargs: Any) -> FixedExpansionSystem:
        """Build from the authors' rates ``eta_h_1, eta_h_2, eta_a = 1/τ_y, eta_b = 1/τ_b``."""
        rates = {"eta_h1": eta_h1, "eta_h2": eta_h2, "eta_a": eta_a, "eta_b": eta_b}
        for name, value in rates.items():
            check_positive(name, value)
        return cls(tau_h1=1.0 / eta_h1, tau_h2=1.0 / eta_h2, tau_y=1.0 / eta_a,
                   tau_b=1.0 / eta_b, **kwargs)

    @property
    def agreeing(self) -> bool:
        """True when every target difference vanishes on average: ``y11 − 2 y12 + y22 = 0``."""
        return bool(np.isclose(self.y11 - 2 * self.y12 + self.y22, 0.0,
                               atol=1e-12 * max(1.0, self.y11 + self.y22)))

    def _args(self) -> tuple[float, ...]:
        return (1.0 / self.tau_h1, 1.0 / self.tau_h2, 1.0 / self.tau_y, 1.0 / self.tau_b,
                float(self.N), float(self.y11), float(self.y12), float(self.y22))

    def rhs(self, t: float, z: np.ndarray) -> np.ndarray:
        """``dz/dt`` in ``solve_ivp``'s ``fun(t, y)`` convention (eq. 42)."""
        return rhs_fixed_expansion(np.asarray(z, dtype=float), *self._args())

    def check_y0(self, y0: Any) -> np.ndarray:
        return check_state(y0)

    def distance2(self, y: np.ndarray) -> Any:
        """Squared representational distance ``(h_2 − h_1)²`` (``‖v‖ = 1``)."""
        return (y[1] - y[0]) ** 2

    def train_loss(self, z: np.ndarray) -> np.ndarray:
        """The loss ``L`` of the pair's ``2N`` points from the aggregated state (broadcasts over columns).

        ``L = ½ (b2 + h²̄ D2 + ½(y11 + y22) + 2 h̄ bD − (h_1 Dy1 + h_2 Dy2) − (by1 + by2))``.
        """
        h1, h2, bD, by1, by2, b2, D2, Dy1, Dy2 = np.asarray(z, dtype=float)
        hm, h2m = 0.5 * (h1 + h2), 0.5 * (h1 ** 2 + h2 ** 2)
        return 0.5 * (b2 + h2m * D2 + 0.5 * (self.y11 + self.y22) + 2 * hm * bD
                      - (h1 * Dy1 + h2 * Dy2) - (by1 + by2))


def aggregate_state(h1: float, h2: float, b: np.ndarray, u: np.ndarray, y1: np.ndarray,
                    y2: np.ndarray) -> np.ndarray:
    """The nine variables of eq. 42 from explicit per-continuation quantities.

    ``b``, ``u = D_i v``, ``y1``, ``y2`` have shape ``(N, O)`` (row ``i`` = continuation ``i``).
    Returns ``[h1, h2, bD, by1, by2, b2, D2, Dy1, Dy2]``.
    """
    b, u, y1, y2 = (np.atleast_2d(check_finite(n, x)) for n, x in
                    (("b", b), ("u", u), ("y1", y1), ("y2", y2)))
    if not (b.shape == u.shape == y1.shape == y2.shape):
        raise ValueError(f"b, u, y1, y2 must share one shape (N, O) (got {b.shape}, {u.shape}, "
                         f"{y1.shape}, {y2.shape})")

    def mean_dot(x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(np.sum(x * y, axis=1)))

    return np.array([float(h1), float(h2), mean_dot(b, u), mean_dot(b, y1), mean_dot(b, y2),
                     mean_dot(b, b), mean_dot(u, u), mean_dot(y1, u), mean_dot(y2, u)])


def target_moments(y1: np.ndarray, y2: np.ndarray) -> dict[str, float]:
    """``y11, y12, y22`` from explicit targets of shape ``(N, O)``."""
    y1, y2 = np.atleast_2d(check_finite("y1", y1)), np.atleast_2d(check_finite("y2", y2))
    if y1.shape != y2.shape:
        raise ValueError(f"y1 and y2 must share one shape (got {y1.shape}, {y2.shape})")
    dot = lambda x, y: float(np.mean(np.sum(x * y, axis=1)))  # noqa: E731
    return {"y11": dot(y1, y1), "y12": dot(y1, y2), "y22": dot(y2, y2)}


def random_initial_state(gain: float, rng: np.random.Generator) -> np.ndarray:
    """The initial state of P25 Fig. 10 (left): small random weights, no cross-correlations.

    ``h_α ~ 𝒩(0, g)``, ``D2 = ξ²``, ``b2 = ζ²`` with ``ξ, ζ ~ 𝒩(0, g)`` (``g`` = ``gain``,
    a standard deviation), and all cross terms ``bD, by_β, Dy_β`` zero.
    """
    g = float(check_positive("gain", gain))
    h1, h2, xi, zeta = rng.normal(0.0, g, size=4)
    return np.array([h1, h2, 0.0, 0.0, 0.0, zeta ** 2, xi ** 2, 0.0, 0.0])


def check_state(z0: Any) -> np.ndarray:
    """Validate an initial state: 9 finite values with ``b2, D2 ≥ 0`` and ``bD² ≤ b2·D2``."""
    z0 = check_finite("z0", z0)
    if z0.shape != (9,):
        raise ValueError(f"z0 must have shape (9,) ordered as {VARIABLES} (got {z0.shape})")
    check_nonnegative("z0[b2]", z0[5])
    check_nonnegative("z0[D2]", z0[6])
    if z0[2] ** 2 > z0[5] * z0[6] * (1 + 1e-9) + 1e-300:
        raise ValueError("z0 must satisfy Cauchy-Schwarz bD**2 <= b2*D2 "
                         f"(got bD={z0[2]!r}, b2={z0[5]!r}, D2={z0[6]!r})")
    return z0


def integrate_fixed_expansion(z0: Any, system: FixedExpansionSystem, *, t_max: float,
                              method: str = DEFAULT_METHOD, rtol: float = DEFAULT_RTOL,
                              atol: float = DEFAULT_ATOL, t_eval: np.ndarray | None = None,
                              dense_output: bool = False,
                              merger_tol: float | None = None) -> FixedExpansionResult:
    """Integrate P25 eq. 42 (docs/theory.md §2.10) from ``z0`` (ordered as ``VARIABLES``) over ``[0, t_max]``.

    Wrapper of ``integrate(system, z0, t_max, ...)`` keeping the historical argument
    order. ``merger_tol`` adds a terminal event "the squared distance ``(h_2 − h_1)²``
    falls to ``merger_tol``" (``t_events[0]``; ``merged``). It may exceed the initial
    squared distance: the event then fires when a pair that first moved apart comes
    back (P25 Fig. 10). A failure is reported as ``status = -1`` (``success = False``).
    """
    return integrate(system, z0, t_max, method=method, rtol=rtol, atol=atol, t_eval=t_eval,
                     dense_output=dense_output, merger_tol=merger_tol)
