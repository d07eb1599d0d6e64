"""The 2024 two-point system (P24, ``source/simulate.py::der``) and its mapping onto P25 eq. 20 (docs/theory.md §2.9).

P24 linearises the encoder too, ``h(x) ≈ h̄ + ½ D_h (x_α − x_¬α)``, so the hidden-side rate
is multiplied by ``dx2 = ‖x_2 − x_1‖²``. The code integrates ``(h, y, w) = (‖dh‖², ‖dy‖², w)``
with ``w = ‖dy‖² − (y*_2 − y*_1)ᵀ dy`` and ``dy2 = ‖y*_2 − y*_1‖²``::

    ḣ = −η_h dx2 · w
    ẏ = −w (η_y h + η_h dx2 · y/h)
    ẇ = −½ η_y (3w − y + dy2) h − ½ η_h dx2 (y + w) w/h

This is P25 eq. 20 with ``N = 1`` under ``1/τ_h ↔ 2 η_h dx2``, ``1/(N τ_y) ↔ 2 η_y`` and
``S ↔ dy2`` (so ``r = N τ_y/τ_h ↔ η_h dx2/η_y``); the 2024 closed form
(``experiments/rich_structure.ipynb``) is P25 eqs. 5–6 under the same mapping.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .checks import check_nonnegative, check_positive
from .odesolve import (DEFAULT_ATOL, DEFAULT_METHOD, DEFAULT_RTOL, OdeResult, OdeSystem,
                       check_rates, integrate, store_parameter)
from .three_scalar import (check_pair_state, hyw_from_signed, jac_three_scalar_signed,
                           rhs_three_scalar_signed, signed_from_hyw)


def _check_etas(eta_h: Any, eta_y: Any, dx2: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return check_positive("eta_h", eta_h), check_positive("eta_y", eta_y), check_positive("dx2", dx2)


def a_high_2024(h0: Any, y0: Any, *, eta_h: Any, eta_y: Any, dx2: Any) -> np.ndarray:
    """``A_high = h0 − (η_h/η_y) dx2 · y0/h0`` (the 2024 code; = P25 eq. 6 mapped); broadcasts."""
    eta_h, eta_y, dx2 = _check_etas(eta_h, eta_y, dx2)
    h0 = check_positive("h0", h0)
    y0 = check_nonnegative("y0", y0)
    return h0 - (eta_h / eta_y) * dx2 * y0 / h0


def a_low_2024(*, eta_h: Any, eta_y: Any, dx2: Any, dy2: Any) -> np.ndarray:
    """``A_low = sqrt(η_h/η_y) ‖dx‖ ‖dy*‖`` (the 2024 code; = P25 eq. 25 mapped); broadcasts."""
    eta_h, eta_y, dx2 = _check_etas(eta_h, eta_y, dx2)
    dy2 = check_nonnegative("dy2", dy2)
    return np.sqrt(eta_h / eta_y * dx2 * dy2)


def h_final_2024(h0: Any, y0: Any, *, eta_h: Any, eta_y: Any, dx2: Any, dy2: Any) -> np.ndarray:
    """``h_final = ½A_high + sqrt(¼A_high² + A_low²)`` (the 2024 code; = P25 eq. 5); broadcasts."""
    A = a_high_2024(h0, y0, eta_h=eta_h, eta_y=eta_y, dx2=dx2)
    L = a_low_2024(eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2)
    return 0.5 * A + np.sqrt(0.25 * A**2 + L**2)


def to_p25(*, eta_h: Any, eta_y: Any, dx2: Any, dy2: Any) -> dict[str, np.ndarray]:
    """P25 eq. 20 parameters of a 2024 system (docs/theory.md §2.9).

    ``tau_h = 1/(2 η_h dx2)``, ``tau_y = 1/(2 η_y)``, ``N = 1``, ``S = dy2``.
    """
    eta_h, eta_y, dx2 = _check_etas(eta_h, eta_y, dx2)
    dy2 = check_nonnegative("dy2", dy2)
    return {"tau_h": 1.0 / (2.0 * eta_h * dx2), "tau_y": 1.0 / (2.0 * eta_y),
            "N": np.ones(np.broadcast(eta_h, eta_y, dx2, dy2).shape), "S": dy2}


def from_p25(*, S: Any, N: Any, tau_h: Any, tau_y: Any, dx2: Any = 1.0) -> dict[str, np.ndarray]:
    """2024 parameters reproducing P25 eq. 20: ``η_h = 1/(2τ_h dx2)``, ``η_y = 1/(2Nτ_y)``, ``dy2 = S``.

    ``N`` is absorbed into ``η_y`` (the 2024 system has a single output map).
    """
    N, tau_h, tau_y = check_rates(N, tau_h, tau_y)
    dx2 = check_positive("dx2", dx2)
    return {"eta_h": 1.0 / (2.0 * tau_h * dx2), "eta_y": 1.0 / (2.0 * N * tau_y), "dx2": dx2,
            "dy2": check_nonnegative("S", S)}


class TwoPoint2024Result(OdeResult):
    """Solution of the 2024 system: ``.t``, ``.y`` (rows h, y, w), named ``.H``, ``.Y``, ``.W`` (= h, y, w)."""


@dataclass(frozen=True)
class TwoPoint2024System(OdeSystem):
    """The 2024 two-point system (docs/theory.md §2.9): ``η_h, η_y > 0``, ``dx2 > 0``, ``dy2 >= 0``.

    State ``(h, y, w) = (‖dh‖², ‖dy‖², w)``; ``rhs`` is exactly the 2024 code's ``der``
    (``coordinates='direct'``). The components carry P25's names ``('H', 'Y', 'W')``
    (``res.y`` is scipy's solution array, so a component named ``y`` could not be reached
    as an attribute). Being eq. 20 under the mapping of the module docstring, it has
    eq. 20's signed-distance coordinates (the default of ``interaction.integrate``),
    with ``a = 2 η_h dx2``, ``b = 2 η_y``, ``S = dy2``: in direct coordinates a merger
    drives ``h`` to ~1e-17, where LSODA's undershoot below 0 is reported as a failure.
    """

    eta_h: float
    eta_y: float
    dx2: float
    dy2: float

    components: ClassVar[tuple[str, ...]] = ("H", "Y", "W")
    result_type: ClassVar[type[OdeResult]] = TwoPoint2024Result
    distance_first: ClassVar[bool] = True
    scalar_parameters: ClassVar[tuple[str, ...]] = ("eta_h", "eta_y", "dx2", "dy2")

    def __post_init__(self) -> None:
        for name, value in zip(("eta_h", "eta_y", "dx2"), _check_etas(self.eta_h, self.eta_y, self.dx2)):
            store_parameter(self, name, value)
        store_parameter(self, "dy2", check_nonnegative("dy2", self.dy2))

    def check_y0(self, y0: Any) -> np.ndarray:
        return check_pair_state(y0, ("h0", "y0", "w0"))

    def rhs(self, t: float, z: np.ndarray) -> np.ndarray:
        """``d(h, y, w)/dt`` exactly as the 2024 code's ``der``."""
        h, y, w = z
        eh = self.eta_h * self.dx2
        return np.array([-eh * w,
                         -w * (self.eta_y * h + eh * y / h),
                         -0.5 * self.eta_y * (3.0 * w - y + self.dy2) * h - 0.5 * eh * (y + w) * w / h])

    def _p25_rates(self) -> tuple[float, float, float]:
        """``(S, a, b)`` of eq. 20 for this system (docs/theory.md §2.9)."""
        return self.dy2, 2.0 * self.eta_h * self.dx2, 2.0 * self.eta_y

    def rhs_signed(self, t: float, z: np.ndarray) -> np.ndarray:
        return np.array(rhs_three_scalar_signed(z[0], z[1], z[2], *self._p25_rates()))

    def jac_signed(self, t: float, z: np.ndarray) -> np.ndarray:
        return jac_three_scalar_signed(z[0], z[1], z[2], *self._p25_rates())

    to_signed = staticmethod(signed_from_hyw)
    from_signed = staticmethod(hyw_from_signed)

    def jac(self, t: float, z: np.ndarray) -> np.ndarray:
        """Analytic Jacobian ``∂(ḣ, ẏ, ẇ)/∂(h, y, w)``."""
        h, y, w = z
        eh, ey = self.eta_h * self.dx2, self.eta_y
        return np.array([
            [0.0, 0.0, -eh],
            [-w * (ey - eh * y / h**2), -w * eh / h, -(ey * h + eh * y / h)],
            [-0.5 * ey * (3.0 * w - y + self.dy2) + 0.5 * eh * (y + w) * w / h**2,
             0.5 * ey * h - 0.5 * eh * w / h,
             -1.5 * ey * h - 0.5 * eh * (y + 2.0 * w) / h],
        ])


def integrate_two_point_2024(h0: float, y0: float, w0: float, *, eta_h: float, eta_y: float,
                             dx2: float, dy2: float, t_max: float, method: str = DEFAULT_METHOD,
                             rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                             merger_tol: float | None = None, t_eval: Any = None,
                             coordinates: str = "signed") -> TwoPoint2024Result:
    """Integrate the 2024 two-point system from ``(h0, y0, w0)`` on ``[0, t_max]``.

    Keyword wrapper of ``integrate(TwoPoint2024System(eta_h, eta_y, dx2, dy2), (h0, y0, w0),
    t_max, ...)``. ``coordinates='direct', method='Radau'`` is what the 2024 code did
    (its ``der`` with Radau); the default signed coordinates follow mergers and crossings
    regularly. Status/events as ``interaction.integrate``.
    """
    system = TwoPoint2024System(eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2)
    return integrate(system, (h0, y0, w0), t_max, method=method, rtol=rtol, atol=atol,
                     merger_tol=merger_tol, t_eval=t_eval, coordinates=coordinates)
