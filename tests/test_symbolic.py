"""Symbolic derivation (interaction/symbolic.py) against the hand-written numeric kernels."""
import numpy as np
import pytest
import sympy as sp

from interaction import symbolic as sym
from interaction.closed_form import final_distance
from interaction.reduced import rhs_reduced
from interaction.three_scalar import rhs_per_continuation, rhs_three_scalar


@pytest.mark.parametrize("dims", [(2, 2, 2), (3, 1, 3)])
def test_gradient_flow_and_exact_identities_in_components(dims):
    residuals = sym.gradient_flow_residuals(*dims)
    assert {"dh1", "dh2", "d(dh)", "dH", "Ddot_0 dh", "D_0", "ybar_0"} <= set(residuals)
    for name, res in residuals.items():
        assert sp.simplify(res) == sp.zeros(*res.shape), name


def test_derived_eq20_equals_numeric_kernel():
    f = sym.lambdified_three_scalar()
    rng = np.random.default_rng(0)
    for _ in range(200):
        H, Y, S, a, b = rng.uniform(0.05, 5.0, 5)
        W = rng.uniform(-3, 3)
        np.testing.assert_allclose(f(H, Y, W, S, a, b), rhs_three_scalar(H, Y, W, S, a, b),
                                   rtol=1e-12, atol=1e-14)


def test_derived_eq19_equals_numeric_per_continuation_kernel():
    f = sym.lambdified_per_continuation()
    rng = np.random.default_rng(1)
    for _ in range(50):
        n = rng.integers(1, 6)
        H, a, b = rng.uniform(0.1, 3.0, 3)
        Yi, Si, Wi = rng.uniform(0, 3, n), rng.uniform(0, 3, n), rng.uniform(-2, 2, n)
        dH, dYi, dWi = rhs_per_continuation(H, Yi, Wi, Si, a, np.full(n, b))
        sdH, sdY, sdW = f(H, Wi.mean(), Yi, Wi, Si, a, b)
        np.testing.assert_allclose(sdH, dH, rtol=1e-12)
        np.testing.assert_allclose(sdY, dYi, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(sdW, dWi, rtol=1e-12, atol=1e-14)


def test_derived_per_continuation_form_matches_eq19_exactly():
    dH, dP, dw = sym.per_continuation_rhs()
    H, W, P, w, s, a, b = sym.H, sym.W, sym.P_i, sym.w_i, sym.s_i, sym.a, sym.b
    assert sp.simplify(dP - (-b / 2 * w * H - a / 2 * W * P / H)) == 0
    assert sp.simplify(dw - (-b / 4 * (3 * w - P + s) * H - a / 4 * (W / H) * (P + w))) == 0


def test_conservation_law_and_eq22():
    law = sym.conservation_law()
    assert law["dA_high/dt"] == 0
    assert law["d(Y/H)/dt - (b/a) dH/dt"] == 0
    assert sp.simplify(law["d(Y/H)/dt"] + sym.b * sym.W / 2) == 0
    # eq. 22: Y = H (H − A_high)/r with r = a/b
    assert sp.simplify(law["Y"] - sym.H * (sym.H - sym.A_high) * sym.b / sym.a) == 0


def test_derived_reduced_system_corrected_coefficient():
    _, dW = sym.reduced_rhs()
    assert sp.simplify(dW - sym.reduced_rhs_printed()) == 0
    # The camera-ready coefficient tau_h/(4 N² tau_y) = b² tau_y/(4a) ≠ b²/(4a) in general.
    tau_y = sp.Symbol("tau_y", positive=True)
    wrong = sym.reduced_rhs_printed(sym.b**2 * tau_y / (4 * sym.a))
    assert sp.simplify(dW - wrong) != 0
    f = sym.lambdified_reduced()
    rng = np.random.default_rng(2)
    for _ in range(200):
        H, a, b = rng.uniform(0.05, 5.0, 3)
        W, A = rng.uniform(-3, 3, 2)
        L = rng.uniform(0, 3)
        np.testing.assert_allclose(f(H, W, A, L, a, b), rhs_reduced(H, W, A, L, a, b),
                                   rtol=1e-12, atol=1e-13)


def test_fixed_points_and_closed_form():
    points = sym.fixed_points_symbolic()
    assert len(points) == 3 and all(W == 0 for _, W in points)
    poly = sym.fixed_point_polynomial()
    assert sp.expand(poly - (sym.H**2 - sym.A_high * sym.H - sym.A_low**2)) == 0
    roots = [sp.lambdify((sym.A_high, sym.A_low), H) for H, _ in points]
    g = sp.lambdify((sym.H, sym.A_high, sym.A_low), poly)
    rng = np.random.default_rng(3)
    for A, L in zip(rng.uniform(-4, 4, 100), rng.uniform(0, 3, 100)):
        Hf = final_distance(A, L)
        assert abs(g(Hf, A, L)) <= 1e-12 * max(1.0, Hf**2)
        np.testing.assert_allclose(Hf, max(float(r(A, L)) for r in roots), rtol=1e-12, atol=1e-15)


def test_signed_coordinates_are_polynomial_and_match_kernel():
    from interaction.three_scalar import rhs_three_scalar_signed
    exprs = sym.signed_coordinates_rhs()
    assert all(e.is_polynomial(*e.free_symbols) for e in exprs)
    f = sym.lambdified_signed()
    rng = np.random.default_rng(4)
    for _ in range(100):
        d, q, v = rng.uniform(-2, 2, 3)
        S, a, b = rng.uniform(0.05, 3.0, 3)
        np.testing.assert_allclose(f(d, q, v, S, a, b), rhs_three_scalar_signed(d, q, v, S, a, b),
                                   rtol=1e-12, atol=1e-13)
