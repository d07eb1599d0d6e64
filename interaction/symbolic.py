"""Symbolic derivation (sympy) of the interaction theory from the linearised loss (docs/theory.md §1–§2).

This module is the independent route to the hand-written numeric kernels: it starts
from the linearised loss (P25 eq. 14) and the gradient flow on the effective
parameters (eq. 15), adds the collinearity Ansatz ``d(dh)/dt ∥ dh``, and *derives*

* the per-continuation equations (eq. 19) and their average, the three-scalar
  system (eq. 20) — ``per_continuation_rhs``, ``three_scalar_rhs``;
* the conservation law (eq. 21) and ``Y`` in terms of ``A_high`` (eq. 22) —
  ``conservation_law``;
* the reduced system (eq. 23, with the corrected coefficient ``b²/(4a) =
  τ_h/(4N²τ_y²)``, docs/theory.md §5.1) — ``reduced_rhs``;
* its fixed points (eq. 24) — ``fixed_points_symbolic``.

Two kinds of steps are used, each legitimate for what it claims:

1. *Vector identities in explicit components* (``gradient_flow_residuals``): the loss
   is written out for concrete hidden/output dimensions and ``N``; sympy
   differentiates it and checks eq. 15, ``d(dh)/dt = −(a/4)⟨D_iᵀ(dy_i − ỹ_i)⟩``,
   ``dH/dt = −(a/2)W`` (exact, no Ansatz) and ``Ḋ_i dh = −(b/4)(dy_i − ỹ_i) H``.
2. *Dimension-free scalar algebra*: under the Ansatz ``d(dy_i)/dt`` lies in the span
   of ``dy_i`` and ``ỹ_i``, so every quantity needed is an inner product in that
   span, fixed by the Gram matrix ``[[‖dy_i‖², dy_iᵀỹ_i], [dy_iᵀỹ_i, ‖ỹ_i‖²]]``; the
   per-``i`` equations are derived with scalar symbols only and averaged after
   checking they are linear in the per-``i`` quantities (which is what makes the
   average close, docs/theory.md §1.9 step 5).

Symbols: ``H, Y, W, S`` (the notation of docs/theory.md), ``a = 1/τ_h``, ``b = 1/(N τ_y)``,
``A_high``, ``A_low`` and the per-continuation ``P_i = ‖dy_i‖²``, ``w_i``,
``s_i = ‖ỹ_i‖²``. Expressions are cached; derivation takes about a second.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import sympy as sp

from .checks import check_int

H, Y, W = sp.symbols("H Y W", real=True)
S = sp.Symbol("S", nonnegative=True)
a, b = sp.symbols("a b", positive=True)
A_high = sp.Symbol("A_high", real=True)
A_low = sp.Symbol("A_low", nonnegative=True)
P_i, w_i, s_i = sp.symbols("P_i w_i s_i", real=True)
t = sp.Symbol("t", real=True)


def gradient_flow_residuals(hidden_dim: int = 2, output_dim: int = 2,
                            n_continuations: int = 2) -> dict[str, sp.Matrix]:
    """Check eq. 15 and the exact identities of docs/theory.md §1.6–§1.9 in explicit components.

    Writes the loss of eq. 14,
    ``L = ½ ⟨‖ȳ_i + ½ D_i (h_α − h_¬α) − y*_{α,i}‖²⟩_{α,i}``, for the given sizes,
    forms the gradient flow ``dθ/dt = −(1/τ_θ) ∂L/∂θ`` with rates ``1/τ_h1, 1/τ_h2``,
    ``1/τ_y`` (equal for all ``i``) and ``1/τ_ȳ``, and returns the residuals (claimed
    expression minus derived one), each of which simplifies to zero:

    * ``"dh1"``, ``"dh2"``, ``"D_i"``, ``"ybar_i"``: eq. 15 for every parameter;
    * ``"d(dh)"``: ``d(dh)/dt = −(a/4)⟨D_iᵀ(dy_i − ỹ_i)⟩`` with ``a = 1/τ_h1 + 1/τ_h2``;
    * ``"dH"``: ``dH/dt = −(a/2)⟨w_i⟩`` (exact, no Ansatz);
    * ``"Ddot_i dh"``: ``Ḋ_i dh = −(b/4)(dy_i − ỹ_i) H`` with ``b = 1/(N τ_y)``.
    """
    d = check_int("hidden_dim", hidden_dim, minimum=1)
    p = check_int("output_dim", output_dim, minimum=1)
    N = check_int("n_continuations", n_continuations, minimum=1)
    tau_h1, tau_h2, tau_y, tau_ybar = sp.symbols("tau_h1 tau_h2 tau_y tau_ybar", positive=True)
    h = [sp.Matrix(sp.symbols(f"h{al}_0:{d}", real=True)) for al in (1, 2)]
    ybar = [sp.Matrix(sp.symbols(f"ybar{i}_0:{p}", real=True)) for i in range(N)]
    D = [sp.Matrix(p, d, sp.symbols(f"D{i}_0:{p * d}", real=True)) for i in range(N)]
    ystar = [[sp.Matrix(sp.symbols(f"ystar{al}{i}_0:{p}", real=True)) for i in range(N)]
             for al in (1, 2)]

    def residual(alpha: int, i: int) -> sp.Matrix:
        other = 1 - alpha
        return ybar[i] + D[i] * (h[alpha] - h[other]) / 2 - ystar[alpha][i]

    loss = sp.Rational(1, 2) * sum((residual(al, i).T * residual(al, i))[0]
                                   for al in (0, 1) for i in range(N)) / (2 * N)

    def flow(rate: sp.Expr, params: sp.Matrix) -> sp.Matrix:
        return params.applyfunc(lambda x: -rate * sp.diff(loss, x))

    dh_t = [flow(1 / tau_h1, h[0]), flow(1 / tau_h2, h[1])]
    D_t = [flow(1 / tau_y, D[i]) for i in range(N)]
    ybar_t = [flow(1 / tau_ybar, ybar[i]) for i in range(N)]

    dh = h[1] - h[0]
    ytil = [ystar[1][i] - ystar[0][i] for i in range(N)]
    dy = [D[i] * dh for i in range(N)]
    a_ = 1 / tau_h1 + 1 / tau_h2
    b_ = 1 / (N * tau_y)
    H_ = (dh.T * dh)[0]
    mean = lambda terms: sum(terms, sp.zeros(*terms[0].shape)) / N  # noqa: E731

    out: dict[str, sp.Matrix] = {}
    for alpha, tau in ((0, tau_h1), (1, tau_h2)):
        diff = h[alpha] - h[1 - alpha]
        claimed = -(1 / tau) / 4 * mean([D[i].T * (D[i] * diff - (ystar[alpha][i]
                                                               - ystar[1 - alpha][i]))
                                          for i in range(N)])
        out[f"dh{alpha + 1}"] = claimed - dh_t[alpha]
    for i in range(N):
        out[f"D_{i}"] = -(1 / tau_y) / N / 4 * (D[i] * dh - ytil[i]) * dh.T - D_t[i]
        out[f"ybar_{i}"] = -(1 / tau_ybar) / N * (ybar[i] - (ystar[0][i] + ystar[1][i]) / 2) \
            - ybar_t[i]
        out[f"Ddot_{i} dh"] = -b_ / 4 * (dy[i] - ytil[i]) * H_ - D_t[i] * dh
    ddh_t = dh_t[1] - dh_t[0]
    out["d(dh)"] = -a_ / 4 * mean([D[i].T * (dy[i] - ytil[i]) for i in range(N)]) - ddh_t
    w = [(dy[i].T * (dy[i] - ytil[i]))[0] for i in range(N)]
    out["dH"] = sp.Matrix([-a_ / 2 * sum(w) / N - 2 * (dh.T * ddh_t)[0]])
    return {k: sp.simplify(sp.expand(v)) for k, v in out.items()}


@lru_cache(maxsize=None)
def per_continuation_rhs() -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """Derive ``(dH/dt, d‖dy_i‖²/dt, dw_i/dt)`` (P25 eq. 19) under the collinearity Ansatz.

    Inputs (checked in components by ``gradient_flow_residuals``): ``dH/dt = −(a/2)W``
    and ``Ḋ_i dh = −(b/4)(dy_i − ỹ_i) H``. Ansatz: ``d(dh)/dt = λ dh``; then
    ``dH/dt = 2λH`` fixes ``λ = Ḣ/(2H)`` and ``D_i d(dh)/dt = λ dy_i``, so
    ``d(dy_i)/dt = Ḋ_i dh + D_i d(dh)/dt = α dy_i + β ỹ_i`` with scalar ``α, β``.
    Inner products in span{dy_i, ỹ_i} use the Gram matrix with ``dy_iᵀỹ_i = P_i − w_i``.
    Returned in the symbols ``H, W, P_i, w_i, s_i, a, b``.
    """
    lam = sp.Symbol("lambda", real=True)
    H_dot = -a / 2 * W
    lam_value = sp.solve(sp.Eq(H_dot, 2 * lam * H), lam)[0]
    # d(dy_i)/dt = -(b/4) H (dy_i - ỹ_i) + λ dy_i, as coefficients on (dy_i, ỹ_i).
    coeff = sp.Matrix([-b / 4 * H + lam_value, b / 4 * H])
    q_i = P_i - w_i  # dy_iᵀ ỹ_i, from the definition w_i = ‖dy_i‖² − dy_iᵀỹ_i
    gram = sp.Matrix([[P_i, q_i], [q_i, s_i]])
    dP = 2 * (sp.Matrix([[1, 0]]) * gram * coeff)[0]            # d‖dy‖² = 2 dyᵀ d(dy)
    dw = (sp.Matrix([[2, -1]]) * gram * coeff)[0]               # dw = (2dy − ỹ)ᵀ d(dy)
    return sp.simplify(H_dot), sp.simplify(sp.expand(dP)), sp.simplify(sp.expand(dw))


@lru_cache(maxsize=None)
def three_scalar_rhs() -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """Average eq. 19 over continuations to get P25 eq. 20: ``(dH/dt, dY/dt, dW/dt)``.

    With equal output rates the per-``i`` right-hand sides are affine in
    ``(P_i, w_i, s_i)`` with ``i``-independent coefficients (checked: all second
    derivatives vanish), so averaging replaces ``P_i → Y``, ``w_i → W``, ``s_i → S``.
    """
    dH, dP, dw = per_continuation_rhs()
    per_i = (P_i, w_i, s_i)
    for expr in (dP, dw):
        if any(sp.simplify(sp.diff(expr, u, v)) != 0 for u in per_i for v in per_i):
            raise AssertionError("eq. 19 is not linear in the per-continuation quantities")
    avg = {P_i: Y, w_i: W, s_i: S}
    return dH, sp.factor_terms(sp.expand(dP.subs(avg))), sp.factor_terms(sp.expand(dw.subs(avg)))


@lru_cache(maxsize=None)
def conservation_law() -> dict[str, sp.Expr]:
    """The conservation law (P25 eq. 21) and eq. 22, derived from eq. 20.

    Returns ``"d(Y/H)/dt"`` (simplifies to ``−(b/2) W``), ``"d(Y/H)/dt - (b/a) dH/dt"``
    and ``"dA_high/dt"`` for ``A_high = H − (a/b) Y/H`` (both simplify to 0), the
    invariant ``"A_high"`` and ``"Y"`` solved from it (eq. 22, ``Y = H(H − A_high) b/a``).
    """
    dH, dY, _ = three_scalar_rhs()
    d_ratio = sp.simplify((dY * H - Y * dH) / H**2)
    invariant = H - (a / b) * Y / H
    d_invariant = sp.simplify(sp.diff(invariant, H) * dH + sp.diff(invariant, Y) * dY)
    Y_of_A = sp.solve(sp.Eq(A_high, invariant), Y)[0]
    return {"d(Y/H)/dt": d_ratio, "d(Y/H)/dt - (b/a) dH/dt": sp.simplify(d_ratio - b / a * dH),
            "dA_high/dt": d_invariant, "A_high": invariant, "Y": sp.factor(Y_of_A)}


@lru_cache(maxsize=None)
def reduced_rhs() -> tuple[sp.Expr, sp.Expr]:
    """Derive the reduced system (P25 eq. 23) by substituting eq. 22 and ``A_low² = r S``.

    The result equals ``(b²/(4a)) H (H² − A_high H − A_low²) − b H W + (b A_high/4) W
    − a W²/(4H)``, i.e. coefficient ``τ_h/(4N²τ_y²)`` (docs/theory.md §5.1).
    """
    dH, _, dW = three_scalar_rhs()
    subs = {Y: conservation_law()["Y"], S: A_low**2 * b / a}  # A_low² = r S, r = a/b
    return dH, sp.expand(dW.subs(subs))


def reduced_rhs_printed(coefficient: sp.Expr | None = None) -> sp.Expr:
    """Right-hand side ``dW/dt`` of eq. 23 written in the paper's form with a given coefficient.

    ``coefficient=None`` uses the corrected ``b²/(4a) = τ_h/(4N²τ_y²)``; passing another
    coefficient (e.g. the camera-ready text's ``τ_h/(4N²τ_y)``) shows that it does not
    match ``reduced_rhs()`` (docs/theory.md §5.1).
    """
    c = b**2 / (4 * a) if coefficient is None else coefficient
    return c * H * (H**2 - A_high * H - A_low**2) - b * H * W + b * A_high * W / 4 \
        - a * W**2 / (4 * H)


@lru_cache(maxsize=None)
def fixed_points_symbolic() -> tuple[tuple[sp.Expr, sp.Expr], ...]:
    """Fixed points ``(H, W)`` of the derived reduced system (P25 eq. 24).

    ``dH/dt = 0`` forces ``W = 0``; then ``dW/dt = (b²/(4a)) H (H² − A_high H − A_low²)``
    vanishes at ``H = 0`` (reached only as a limit, docs/theory.md §2.4) and ``H = H₋, H₊``.
    """
    dH, dW = reduced_rhs()
    W_roots = sp.solve(dH, W)
    points = []
    for W0 in W_roots:
        poly = sp.factor(sp.simplify(dW.subs(W, W0)))
        for H0 in sp.solve(poly, H):
            points.append((sp.simplify(H0), W0))
    return tuple(points)


@lru_cache(maxsize=None)
def fixed_point_polynomial() -> sp.Expr:
    """``dW/dt`` of eq. 23 at ``W = 0``, divided by ``(b²/(4a)) H``: ``H² − A_high H − A_low²``."""
    _, dW = reduced_rhs()
    return sp.expand(sp.simplify(dW.subs(W, 0) / (b**2 / (4 * a) * H)))


@lru_cache(maxsize=None)
def signed_coordinates_rhs() -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """Eq. 20 in signed-distance coordinates ``d = sqrt(H)``, ``q = Y/H``, ``v = W/d``.

    Derived by the chain rule from ``three_scalar_rhs()`` and simplified; the result is
    polynomial (no ``1/H``), which is why integrators use it through ``H → 0``::

        dd/dt = −(a/4) v,   dq/dt = −(b/2) v d,
        dv/dt = −(b/4)(3 v d − q d² + S) d − (a/4) q v
    """
    d, q, v = sp.symbols("d q v", real=True)
    dH, dY, dW = three_scalar_rhs()
    public = {H: d**2, Y: q * d**2, W: v * d}
    dd = sp.simplify((dH / (2 * d)).subs(public))                 # d = sqrt(H)
    dq = sp.simplify(((dY * H - Y * dH) / H**2).subs(public))     # q = Y/H
    dv = sp.simplify(dW.subs(public) / d - v * dd / d)            # v = W/d
    return sp.expand(dd), sp.expand(dq), sp.expand(dv)


def lambdified_signed() -> Callable:
    """Numpy callable ``f(d, q, v, S, a, b) -> (dd, dq, dv)`` of ``signed_coordinates_rhs``."""
    d, q, v = sp.symbols("d q v", real=True)
    return sp.lambdify((d, q, v, S, a, b), signed_coordinates_rhs(), "numpy")


def lambdified_three_scalar() -> Callable:
    """Numpy callable ``f(H, Y, W, S, a, b) -> (dH, dY, dW)`` of the derived eq. 20."""
    return sp.lambdify((H, Y, W, S, a, b), three_scalar_rhs(), "numpy")


def lambdified_per_continuation() -> Callable:
    """Numpy callable ``f(H, W, P_i, w_i, s_i, a, b) -> (dH, d‖dy_i‖², dw_i)`` of eq. 19."""
    return sp.lambdify((H, W, P_i, w_i, s_i, a, b), per_continuation_rhs(), "numpy")


def lambdified_reduced() -> Callable:
    """Numpy callable ``f(H, W, A_high, A_low, a, b) -> (dH, dW)`` of the derived eq. 23."""
    return sp.lambdify((H, W, A_high, A_low, a, b), reduced_rhs(), "numpy")
