"""Fixed points of the reduced system and their stability (P25 eqs. 24, 26–32; docs/theory.md §2.4–§2.5).

All fixed points of eq. 23 have ``W = 0`` and solve ``H (H² − A_high H − A_low²) = 0``:

* ``H₋ = ½(A_high − R) <= 0`` (unphysical), ``H₊ = ½(A_high + R)`` (eq. 5) and ``H = 0``,
  with ``R = sqrt(A_high² + 4 A_low²)``.

Stability (docs/theory.md §2.5, which corrects P25, §5.1): the Jacobian of eq. 23 at ``(H₊, 0)`` is
``[[0, −a/2], [(b²/(8a))(A_high² + A_high R + 4A_low²), −(b/4)(A_high + 2R)]]`` with
trace ``−(b/4)(A_high + 2R)`` and determinant ``(b²/8) H₊ R``; P25 eqs. 26–32 use
``J₁₂ = −1/τ_h`` instead of ``−1/(2τ_h)`` and so print a trace and eigenvalues 2× and
a determinant 4× too large (and drop the ``N`` in ``J₂₂``). The discriminant
``tr² − 4 det = b² A_high²/16`` is never negative, so the eigenvalues are real:
``{−b R/4, −b H₊/2}`` at ``H₊`` (a stable node whenever ``H₊ > 0``; P25 allows a focus; docs/theory.md §4.2)
and ``{b R/4, −b H₋/2}`` at ``H₋`` (an unstable node). At ``H = 0`` the ``1/H`` terms
forbid a Jacobian; the linearisation is along the invariant rays ``W = u± H`` with
``u± = −(b/(2a))(A_high ± R)`` (P25 eq. 31, correct) and growth rates
``λ± = (b/4)(A_high ± R) = b H±/2``: a saddle if ``A_low > 0``, non-hyperbolic if
``A_low = 0`` (then attracting, i.e. a merger, iff ``A_high <= 0``; eq. 7).
Equivalently, in the regular signed coordinates ``(d, v) = (±sqrt(H), W/d)`` of
``reduced.rhs_reduced_signed`` the origin is an ordinary fixed point whose Jacobian
eigenvalues are ``λ±/2`` (``H = d²`` doubles the rates). Trajectories on one side of
its stable manifold converge to ``H₊`` directly, those on the other side cross
``d = 0`` (the representations pass through each other) and then converge to ``H₊``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import check_choice, check_finite, check_nonnegative
from .closed_form import final_distance
from .odesolve import check_rates
from .reduced import jac_reduced

STABILITY_CLASSES = ("stable node", "stable focus", "saddle", "unstable node", "unstable focus",
                     "non-hyperbolic")


@dataclass(frozen=True)
class FixedPoint:
    """One fixed point ``(H, W)`` of eq. 23.

    ``eigenvalues``: of the Jacobian of eq. 23 (``None`` at ``H = 0``, where it does
    not exist). ``ray_rates`` ``(λ₊, λ₋)`` and ``rays`` ``(u₊, u₋)``: linearisation along
    invariant rays ``W = u H`` (only at ``H = 0``). ``attracting``: nearby physical
    trajectories converge to it. ``method``: ``'exact'`` (closed forms) or
    ``'numeric'`` (polynomial roots and ``numpy.linalg.eigvals``). ``coincides_with``
    names the point it merges with in degenerate cases (``A_low = 0``).
    """

    name: str
    H: float
    W: float
    physical: bool
    stability: str
    attracting: bool
    eigenvalues: tuple[complex, complex] | None
    ray_rates: tuple[float, float] | None
    rays: tuple[float, float] | None
    method: str
    coincides_with: str | None


def _classify(eigs: np.ndarray, scale: float) -> str:
    # A repeated eigenvalue (A_high = 0) perturbed by rounding splits into a complex pair
    # with imaginary parts ~ sqrt(machine eps) · scale, hence the looser focus threshold.
    re, im = eigs.real, eigs.imag
    focus = np.any(np.abs(im) > 1e-6 * scale)
    if np.any(np.abs(re) <= 1e-12 * scale):
        return "non-hyperbolic"
    if np.all(re < 0):
        return "stable focus" if focus else "stable node"
    if np.all(re > 0):
        return "unstable focus" if focus else "unstable node"
    return "saddle"


def fixed_points(A_high: float, A_low: float, *, N: float, tau_h: float, tau_y: float,
                 method: str = "exact") -> list[FixedPoint]:
    """All three fixed points of P25 eq. 23 (eq. 24) with their stability (docs/theory.md §2.5).

    Returns ``[H₋, H₊, origin]`` (names ``'H_minus'``, ``'H_plus'``, ``'origin'``).
    ``method='exact'`` uses the closed forms of the module docstring;
    ``method='numeric'`` finds the roots of the fixed-point cubic and of the
    ray equation with ``numpy.roots`` and the eigenvalues with
    ``numpy.linalg.eigvals`` of the analytic Jacobian — an independent route.
    """
    A = float(check_finite("A_high", A_high))
    L = float(check_nonnegative("A_low", A_low))
    N, tau_h, tau_y = (float(v) for v in check_rates(N, tau_h, tau_y))
    check_choice("method", method, ("exact", "numeric"))
    a, b = 1.0 / tau_h, 1.0 / (N * tau_y)
    R = float(np.hypot(A, 2.0 * L))
    scale = b * (abs(A) + R) + np.finfo(float).tiny

    if method == "exact":
        H_plus = float(final_distance(A, L))
        H_minus = -L * L / H_plus + 0.0 if H_plus > 0 else min(A, 0.0)  # H₊ H₋ = −A_low²
        u_plus, u_minus = -(b / (2 * a)) * (A + R), -(b / (2 * a)) * (A - R)
        eig_plus = (complex(-b * R / 4), complex(-b * H_plus / 2))
        eig_minus = (complex(b * R / 4), complex(-b * H_minus / 2))
    else:
        roots = np.sort(np.roots([1.0, -A, -L * L]).real) if (A or L) else np.zeros(2)
        H_minus, H_plus = float(min(roots[0], 0.0)), float(max(roots[1], 0.0))
        # Ray W = u H into eq. 23 at leading order in H: a u² + b A u − b² A_low²/a = 0.
        u = np.sort(np.roots([a, b * A, -b * b * L * L / a]).real) if (A or L) else np.zeros(2)
        u_plus, u_minus = float(u[0]), float(u[1])
        eig_plus = tuple(np.linalg.eigvals(jac_reduced(H_plus, 0.0, A, L, a, b))) \
            if H_plus > 0 else None
        eig_minus = tuple(np.linalg.eigvals(jac_reduced(H_minus, 0.0, A, L, a, b))) \
            if H_minus < 0 else None

    u_plus, u_minus = u_plus + 0.0, u_minus + 0.0  # no signed zeros in reports
    rates = (-(a / 2) * u_plus + 0.0, -(a / 2) * u_minus + 0.0)
    origin_stability = _classify(np.array(rates, dtype=complex), scale)
    merges = L == 0 and A <= 0
    origin = FixedPoint("origin", 0.0, 0.0, True, origin_stability, merges, None,
                        (float(rates[0]), float(rates[1])), (float(u_plus), float(u_minus)),
                        method, None)

    def regular(name: str, H: float, eigs, physical: bool) -> FixedPoint:
        if H == 0:  # degenerate (A_low = 0): the point sits on the origin and shares its stability
            return FixedPoint(name, 0.0, 0.0, physical, origin_stability, merges, None, None, None,
                              method, "origin")
        eigs = np.asarray(eigs, dtype=complex)
        stability = _classify(eigs, scale)
        return FixedPoint(name, float(H), 0.0, physical, stability,
                          physical and stability in ("stable node", "stable focus"),
                          (complex(eigs[0]), complex(eigs[1])), None, None, method, None)

    return [regular("H_minus", H_minus, eig_minus, False),
            regular("H_plus", H_plus, eig_plus, H_plus > 0 or merges), origin]
