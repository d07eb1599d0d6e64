"""Closed forms (P25 eqs. 5-7, 25, 34-35) against long integrations of eq. 20 and against each other."""
import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interaction.closed_form import a_high, a_low, agreeing_pair_distance, final_distance, will_merge
from interaction.fixed_points import fixed_points
from interaction.three_scalar import integrate_three_scalar

RTOL = 1e-10  # integration tolerance; the assertions below demand 1e-7 relative (>= 7 digits)

positive = st.floats(0.2, 5.0)
rate = st.floats(0.5, 4.0)
count = st.integers(1, 16)


def _slowest_rate(A, L, N, tau_h, tau_y):
    points = fixed_points(A, L, N=N, tau_h=tau_h, tau_y=tau_y)
    if points[1].eigenvalues is not None:
        return min(abs(e.real) for e in points[1].eigenvalues)
    return -points[2].ray_rates[1]  # merger: H decays at |λ₋| = b|A_high|/2


def _long_run(H0, Y0, W0, S, N, tau_h, tau_y, e_folds=60.0):
    A = float(a_high(H0, Y0, N=N, tau_h=tau_h, tau_y=tau_y))
    L = float(a_low(S, N=N, tau_h=tau_h, tau_y=tau_y))
    t_max = e_folds / _slowest_rate(A, L, N, tau_h, tau_y)
    res = integrate_three_scalar(H0, Y0, W0, S=S, N=N, tau_h=tau_h, tau_y=tau_y, t_max=t_max,
                                 rtol=RTOL, atol=1e-14)
    assert res.success, res.message
    return A, L, res


@settings(max_examples=30)
@given(H0=positive, Y0=st.floats(0.0, 5.0), S=st.floats(0.1, 5.0), c=st.floats(-1.0, 1.0),
       N=count, tau_h=rate, tau_y=rate)
def test_disagreeing_pairs_converge_to_final_distance(H0, Y0, S, c, N, tau_h, tau_y):
    # W0 within the realisable range |W − Y| <= sqrt(Y S) (Cauchy–Schwarz on each dy_iᵀ ỹ_i)
    W0 = Y0 - c * np.sqrt(Y0 * S)
    A, L, res = _long_run(H0, Y0, W0, S, N, tau_h, tau_y)
    H_final = float(final_distance(A, L))
    assert not will_merge(A, L)
    assert abs(res.H[-1] - H_final) <= 1e-7 * H_final
    assert abs(res.W[-1]) <= 1e-7 * H_final * (1 + tau_h / (N * tau_y) * H_final)


@settings(max_examples=30)
@given(H0=positive, excess=st.floats(0.05, 5.0), N=count, tau_h=rate, tau_y=rate)
def test_merging_agreeing_pairs_reach_zero(H0, excess, N, tau_h, tau_y):
    r = N * tau_y / tau_h
    Y0 = H0 * (H0 + excess) / r  # A_high = −excess < 0, agreeing: S = 0, W = Y
    A, L, res = _long_run(H0, Y0, Y0, 0.0, N, tau_h, tau_y, e_folds=40.0)
    assert A == pytest.approx(-excess, rel=1e-10)
    assert will_merge(A, L) and final_distance(A, L) == 0.0
    # 40 e-foldings of |λ₋| = b|A_high|/2. The merger point is non-hyperbolic (λ₊ = 0), so
    # integration error parked in the neutral direction decays only algebraically: require
    # the merger to 1e-12 of the largest distance, far beyond 7 digits.
    assert res.H[-1] <= 1e-12 * np.max(res.H)


@settings(max_examples=30)
@given(H0=positive, A=st.floats(0.05, 5.0), N=count, tau_h=rate, tau_y=rate)
def test_non_merging_agreeing_pairs_settle_at_a_high(H0, A, N, tau_h, tau_y):
    r = N * tau_y / tau_h
    if H0 <= A:  # need Y0 = H0 (H0 − A)/r >= 0, so start outside the attractor
        H0 = A + H0
    Y0 = H0 * (H0 - A) / r
    A_num, L, res = _long_run(H0, Y0, Y0, 0.0, N, tau_h, tau_y)
    assert not will_merge(A_num, L)
    assert abs(res.H[-1] - A_num) <= 1e-7 * A_num
    assert float(final_distance(A_num, 0.0)) == pytest.approx(A_num, rel=1e-15)


@settings(max_examples=30)
@given(H0=positive, A=st.floats(-3.0, 3.0), N=count, tau_h=rate, tau_y=rate)
def test_logistic_agreeing_pair_matches_integration(H0, A, N, tau_h, tau_y):
    r = N * tau_y / tau_h
    if H0 <= A:
        H0 = A + H0
    Y0 = H0 * (H0 - A) / r
    A_num = float(a_high(H0, Y0, N=N, tau_h=tau_h, tau_y=tau_y))
    t = np.linspace(0.0, 20.0 * N * tau_y, 41)
    # H falls by up to e^{-30} here; LSODA's relative accuracy degrades in such merger tails
    # (non-hyperbolic merger point), so this comparison uses the 8th-order explicit method.
    res = integrate_three_scalar(H0, Y0, Y0, S=0.0, N=N, tau_h=tau_h, tau_y=tau_y, t_max=t[-1],
                                 t_eval=t, rtol=1e-12, atol=1e-16, method="DOP853")
    assert res.success
    expected = agreeing_pair_distance(t, H0, A_num, N=N, tau_y=tau_y)
    # 8 digits relative, down to an absolute floor of 1e-14 H0 deep in a merger tail
    np.testing.assert_allclose(res.H, expected, rtol=1e-8, atol=1e-14 * H0)
    # W = Y is invariant for agreeing pairs; both decay, so compare on the scale of Y0
    assert np.max(np.abs(res.W - res.Y)) <= 1e-9 * max(Y0, 1e-300)


def test_boundary_a_high_zero_merges_algebraically():
    N, tau_y = 3.0, 2.0
    t = np.array([0.0, 1.0, 10.0, 1e3, 1e6])
    H = agreeing_pair_distance(t, 1.5, 0.0, N=N, tau_y=tau_y)
    np.testing.assert_allclose(H, 1.5 / (1 + 1.5 * t / (2 * N * tau_y)), rtol=1e-14)
    assert H[-1] * t[-1] == pytest.approx(2 * N * tau_y, rel=1e-5)  # H ≈ 2 N τ_y / t
    assert will_merge(0.0, 0.0) and not will_merge(0.0, 1e-300) and not will_merge(1e-12, 0.0)
    # integration with A_high = 0 to round-off follows the same algebraic law
    H0, tau_h = 1.5, 1.0
    Y0 = H0 * H0 / (N * tau_y / tau_h)
    res = integrate_three_scalar(H0, Y0, Y0, S=0.0, N=N, tau_h=tau_h, tau_y=tau_y, t_max=1e4,
                                 t_eval=[1e2, 1e3, 1e4], rtol=1e-12, atol=1e-16, method="DOP853")
    A_num = float(a_high(H0, Y0, N=N, tau_h=tau_h, tau_y=tau_y))
    assert abs(A_num) < 1e-14
    np.testing.assert_allclose(res.H, agreeing_pair_distance(res.t, H0, A_num, N=N, tau_y=tau_y),
                               rtol=1e-7)


def test_logistic_is_continuous_through_zero_and_overflow_free():
    t = np.array([0.0, 5.0, 1e3, 1e8])
    for A in (-1e-9, 0.0, 1e-9):
        np.testing.assert_allclose(agreeing_pair_distance(t[:3], 2.0, A, N=1, tau_y=1.0),
                                   agreeing_pair_distance(t[:3], 2.0, 0.0, N=1, tau_y=1.0),
                                   rtol=1e-6)
    H = agreeing_pair_distance(t, 2.0, np.array([[-3.0], [3.0]]), N=1, tau_y=1.0)
    assert H.shape == (2, 4) and np.all(np.isfinite(H))
    assert H[0, -1] == 0.0 and H[1, -1] == pytest.approx(3.0, rel=1e-15)
    assert np.all(H[:, 0] == 2.0)


@given(A=st.floats(-1e3, 1e3), L=st.floats(0.0, 1e3))
def test_final_distance_solves_fixed_point_equation_without_cancellation(A, L):
    H = float(final_distance(A, L))
    assert H >= 0
    # H (H² − A H − L²) = 0 with the nonzero root when L > 0, checked in relative terms
    assert abs(H * H - A * H - L * L) <= 1e-12 * (H * H + abs(A) * H + L * L) + 1e-300
    # against 800-digit arithmetic (enough to survive the cancellation the naive formula has)
    with mpmath.workdps(800):
        exact = mpmath.mpf(A) / 2 + mpmath.sqrt(mpmath.mpf(A) ** 2 / 4 + mpmath.mpf(L) ** 2)
        assert abs(H - float(exact)) <= 4e-16 * float(exact) + 1e-300


def test_broadcasting_over_grids():
    H0 = np.linspace(0.5, 2.0, 4)[:, None]
    Y0 = np.linspace(0.0, 3.0, 5)[None, :]
    A = a_high(H0, Y0, N=4, tau_h=2.0, tau_y=0.5)
    assert A.shape == (4, 5)
    np.testing.assert_allclose(A, H0 - (4 * 0.5 / 2.0) * Y0 / H0, rtol=1e-15)
    L = a_low(np.array([0.0, 1.0, 4.0]), N=np.array([1, 2, 8]), tau_h=1.0, tau_y=2.0)
    np.testing.assert_allclose(L, np.sqrt([0.0, 4.0, 64.0]), rtol=1e-15)
    assert final_distance(A, 0.0).shape == (4, 5)
    assert will_merge(A, np.zeros((4, 5))).dtype == bool


@pytest.mark.parametrize("call, name", [
    (lambda: a_high(0.0, 1.0, N=1, tau_h=1, tau_y=1), "H0"),
    (lambda: a_high(1.0, -1.0, N=1, tau_h=1, tau_y=1), "Y0"),
    (lambda: a_high(1.0, 1.0, N=0.5, tau_h=1, tau_y=1), "N"),
    (lambda: a_high(1.0, 1.0, N=1, tau_h=0.0, tau_y=1), "tau_h"),
    (lambda: a_high(1.0, 1.0, N=1, tau_h=1, tau_y=-2), "tau_y"),
    (lambda: a_high(np.array([1.0, np.inf]), 1.0, N=1, tau_h=1, tau_y=1), "H0"),
    (lambda: a_low(-0.1, N=1, tau_h=1, tau_y=1), "S"),
    (lambda: a_low(1.0, N=np.nan, tau_h=1, tau_y=1), "N"),
    (lambda: final_distance(np.nan, 1.0), "A_high"),
    (lambda: final_distance(1.0, -1.0), "A_low"),
    (lambda: will_merge(1.0, -1e-300), "A_low"),
    (lambda: agreeing_pair_distance(-1.0, 1.0, 1.0, N=1, tau_y=1), "t"),
    (lambda: agreeing_pair_distance(1.0, 0.0, 1.0, N=1, tau_y=1), "H0"),
    (lambda: integrate_three_scalar(1.0, 1.0, 0.0, S=-1.0, N=1, tau_h=1, tau_y=1, t_max=1), "S"),
    (lambda: integrate_three_scalar(-1.0, 1.0, 0.0, S=1.0, N=1, tau_h=1, tau_y=1, t_max=1), "H0"),
    (lambda: integrate_three_scalar(1.0, 1.0, np.nan, S=1.0, N=1, tau_h=1, tau_y=1, t_max=1), "W0"),
    (lambda: integrate_three_scalar(1.0, 1.0, 0.0, S=1.0, N=1, tau_h=1, tau_y=1, t_max=0), "t_max"),
    (lambda: integrate_three_scalar(1.0, 1.0, 0.0, S=1.0, N=1, tau_h=1, tau_y=1, t_max=1,
                                    method="Euler"), "method"),
])
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert message.startswith(name + " ")
    assert any(word in message for word in (">", "finite", "one of", "must lie"))
