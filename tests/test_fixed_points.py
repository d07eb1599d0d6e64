"""Fixed points of eq. 23 (eq. 24) and their stability (docs/theory.md §2.5, the corrected eqs. 26-32)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interaction.closed_form import final_distance
from interaction.fixed_points import STABILITY_CLASSES, fixed_points
from interaction.reduced import integrate_reduced, jac_reduced, jac_reduced_signed, rhs_reduced

# |A_high| >= 1e-3 or exactly 0: the numeric route cannot resolve rates of order 1e-266
A_s = st.one_of(st.just(0.0), st.floats(1e-3, 5.0), st.floats(-5.0, -1e-3))
L_pos = st.floats(0.05, 4.0)
count = st.integers(1, 16)
rate = st.floats(0.5, 4.0)


def _fd_jacobian(A, L, a, b, H, W, h=1e-6):
    f = lambda x, y: np.array(rhs_reduced(x, y, A, L, a, b))  # noqa: E731
    sH, sW = h * max(1, abs(H)), h * max(1, abs(W))
    return np.column_stack([(f(H + sH, W) - f(H - sH, W)) / (2 * sH),
                            (f(H, W + sW) - f(H, W - sW)) / (2 * sW)])


@given(A=st.floats(-5.0, 5.0), L=st.floats(0.0, 4.0), N=count, tau_h=rate, tau_y=rate)
def test_h_plus_is_always_a_node_the_discriminant_is_b2_a_high2_over_16(A, L, N, tau_h, tau_y):
    # docs/theory.md §4.2: tr² − 4 det of eq. 23's Jacobian at (H₊, 0) is b² A_high²/16 >= 0,
    # so H₊ is never a focus (P25 allows one).
    a, b = 1 / tau_h, 1 / (N * tau_y)
    H_plus = float(final_distance(A, L))
    if H_plus <= 0:
        return  # merger case: H₊ coincides with the origin (no Jacobian there)
    J = jac_reduced(H_plus, 0.0, A, L, a, b)
    disc = np.trace(J) ** 2 - 4 * np.linalg.det(J)
    scale = np.trace(J) ** 2 + 4 * abs(np.linalg.det(J))
    # scale can underflow to subnormals (L ~ 1e-160 gives H₊² ~ 1e-320); below the smallest normal
    # float no relative statement is possible, so that is the absolute floor.
    assert disc == pytest.approx(b * b * A * A / 16, abs=1e-12 * scale + np.finfo(float).tiny)
    if H_plus > 1e-8:
        # The label needs eigenvalues clear of the classifier's zero tolerance; as H₊ -> 0 (L -> 0)
        # both eigenvalues shrink with it and the point becomes non-hyperbolic in the limit.
        assert fixed_points(A, L, N=N, tau_h=tau_h, tau_y=tau_y)[1].stability == "stable node"


@given(A=A_s, L=L_pos, N=count, tau_h=rate, tau_y=rate)
def test_fixed_points_solve_rhs_and_match_closed_forms(A, L, N, tau_h, tau_y):
    a, b = 1 / tau_h, 1 / (N * tau_y)
    pts = fixed_points(A, L, N=N, tau_h=tau_h, tau_y=tau_y)
    assert [p.name for p in pts] == ["H_minus", "H_plus", "origin"]
    Hm, Hp, origin = pts
    assert Hp.H == pytest.approx(float(final_distance(A, L)), rel=1e-14)
    assert Hm.H < 0 < Hp.H and not Hm.physical and Hp.physical and origin.H == 0
    R = np.hypot(A, 2 * L)
    for p in (Hm, Hp):
        scale = (b * b / a) * (abs(p.H) ** 3 + abs(A) * p.H ** 2 + L * L * abs(p.H))
        dH, dW = rhs_reduced(p.H, 0.0, A, L, a, b)
        assert dH == 0.0 and abs(dW) <= 1e-13 * scale
    # docs/theory.md §2.5 trace and determinant at H₊ (NOT the paper's 2× / 4× values)
    J = _fd_jacobian(A, L, a, b, Hp.H, 0.0)
    assert np.trace(J) == pytest.approx(-(b / 4) * (A + 2 * R), rel=1e-6)
    assert np.linalg.det(J) == pytest.approx((b * b / 8) * Hp.H * R, rel=1e-6)
    assert J[0, 1] == pytest.approx(-a / 2, rel=1e-8)
    assert J[1, 0] == pytest.approx((b * b / (8 * a)) * (A * A + A * R + 4 * L * L), rel=1e-6)
    # eigenvalues: each analytic eigenvalue is a root of the characteristic polynomial of
    # the finite-difference Jacobian (well conditioned even for the double root at A_high = 0)
    for p in (Hm, Hp):
        J = _fd_jacobian(A, L, a, b, p.H, 0.0)
        tr, det = np.trace(J), np.linalg.det(J)
        for lam in p.eigenvalues:
            assert lam.imag == 0
            residual = lam.real ** 2 - tr * lam.real + det
            assert abs(residual) <= 1e-6 * (lam.real ** 2 + abs(tr * lam.real) + abs(det))
    # the paper's eigenvalues (2× ours) would not match the finite differences
    fd_plus = np.sort(np.linalg.eigvals(_fd_jacobian(A, L, a, b, Hp.H, 0.0)).real)
    assert not np.allclose(2 * np.sort(np.real(Hp.eigenvalues)), fd_plus, rtol=1e-3)
    assert Hp.stability == "stable node" and Hp.attracting
    assert Hm.stability == "unstable node"
    assert origin.stability == "saddle" and not origin.attracting
    lam_p, lam_m = origin.ray_rates
    assert lam_p == pytest.approx(b * Hp.H / 2, rel=1e-9) and lam_m == pytest.approx(b * Hm.H / 2, rel=1e-9)
    assert origin.rays[0] == pytest.approx(-(b / (2 * a)) * (A + R), rel=1e-12)


@given(A=A_s, L=st.one_of(st.just(0.0), L_pos), N=count, tau_h=rate, tau_y=rate)
def test_exact_and_numeric_routes_agree(A, L, N, tau_h, tau_y):
    ex = fixed_points(A, L, N=N, tau_h=tau_h, tau_y=tau_y, method="exact")
    nu = fixed_points(A, L, N=N, tau_h=tau_h, tau_y=tau_y, method="numeric")
    scale = abs(A) + L + 1e-300
    b = 1 / (N * tau_y)
    for e, n in zip(ex, nu):
        assert e.method == "exact" and n.method == "numeric"
        assert n.H == pytest.approx(e.H, abs=1e-12 * scale)
        assert n.stability == e.stability and n.physical == e.physical
        assert n.attracting == e.attracting and n.coincides_with == e.coincides_with
        if e.eigenvalues is not None:
            np.testing.assert_allclose(np.sort(np.real(n.eigenvalues)), np.sort(np.real(e.eigenvalues)),
                                       atol=1e-10 * b * scale)
        if e.ray_rates is not None:
            np.testing.assert_allclose(n.ray_rates, e.ray_rates, atol=1e-12 * b * scale)
            np.testing.assert_allclose(n.rays, e.rays, atol=1e-12 * b * tau_h * scale)
    assert all(p.stability in STABILITY_CLASSES for p in ex)


@pytest.mark.parametrize("A, L, classes, attracting", [
    (-1.0, 0.0, ("unstable node", "non-hyperbolic", "non-hyperbolic"), (False, True, True)),
    (1.0, 0.0, ("non-hyperbolic", "stable node", "non-hyperbolic"), (False, True, False)),
    (0.0, 0.0, ("non-hyperbolic",) * 3, (True, True, True)),
    (0.0, 1.0, ("unstable node", "stable node", "saddle"), (False, True, False)),
])
def test_degenerate_cases(A, L, classes, attracting):
    pts = fixed_points(A, L, N=2, tau_h=1.0, tau_y=1.0)
    assert tuple(p.stability for p in pts) == classes
    assert tuple(p.attracting for p in pts) == attracting
    if L == 0 and A <= 0:  # merger: H₊ sits on the origin
        assert pts[1].H == 0 and pts[1].coincides_with == "origin" and pts[1].physical


@settings(max_examples=20)
@given(A=A_s, L=L_pos, N=count, tau_h=rate, tau_y=rate)
def test_ray_growth_rates_match_integration_near_origin(A, L, N, tau_h, tau_y):
    origin = fixed_points(A, L, N=N, tau_h=tau_h, tau_y=tau_y)[2]
    eps = 1e-9
    spread = origin.ray_rates[0] - origin.ray_rates[1]
    for lam, u in zip(origin.ray_rates, origin.rays):
        # up to one decade along the ray, but short enough that the saddle's repulsion of the
        # stable ray (rate λ₊ − λ₋) amplifies integration error at most e²-fold
        T = min(np.log(10.0) / abs(lam), 2.0 / spread)
        res = integrate_reduced(eps, u * eps, A_high=A, A_low=L, N=N, tau_h=tau_h, tau_y=tau_y,
                                t_max=T, rtol=1e-12, atol=1e-30, method="DOP853")
        assert res.success
        measured = np.log(res.H[-1] / eps) / T
        assert measured == pytest.approx(lam, rel=1e-5)
        # the ray is invariant to leading order: W/H stays at u
        assert res.W[-1] / res.H[-1] == pytest.approx(u, rel=1e-5, abs=1e-6 * abs(origin.rays[0]))


@given(A=A_s, L=L_pos, N=count, tau_h=rate, tau_y=rate)
def test_signed_coordinates_make_the_origin_an_ordinary_saddle(A, L, N, tau_h, tau_y):
    # In (d, v) the origin is a regular fixed point whose eigenvalues are λ±/2 (H = d²).
    a, b = 1 / tau_h, 1 / (N * tau_y)
    origin = fixed_points(A, L, N=N, tau_h=tau_h, tau_y=tau_y)[2]
    mu = np.sort(np.linalg.eigvals(jac_reduced_signed(0.0, 0.0, A, L, a, b)).real)
    np.testing.assert_allclose(2 * mu, np.sort(origin.ray_rates), rtol=1e-9,
                               atol=1e-12 * b * (abs(A) + L))


@pytest.mark.parametrize("kwargs, name", [
    (dict(A_high=np.nan, A_low=1.0), "A_high"),
    (dict(A_high=1.0, A_low=-1.0), "A_low"),
    (dict(A_high=1.0, A_low=1.0, N=0), "N"),
    (dict(A_high=1.0, A_low=1.0, tau_h=-1.0), "tau_h"),
    (dict(A_high=1.0, A_low=1.0, tau_y=0.0), "tau_y"),
    (dict(A_high=1.0, A_low=1.0, method="guess"), "method"),
])
def test_bad_input(kwargs, name):
    full = dict(N=1, tau_h=1.0, tau_y=1.0) | kwargs
    with pytest.raises(ValueError, match=f"^{name} "):
        fixed_points(full.pop("A_high"), full.pop("A_low"), **full)
