"""Batched Dormand–Prince integration of P25 eq. 20 / eq. 23 (interaction/batched.py)."""
import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from interaction.batched import (BatchOutcome, BatchStatus, integrate_batched,
                                 integrate_reduced_batched, integrate_three_scalar_batched)
from interaction.closed_form import a_high, a_low, final_distance
from interaction.three_scalar import ThreeScalarSystem

pos = st.floats(0.2, 5.0)


def _scipy_rk45(H0, Y0, W0, S, N, tau_h, tau_y, t_max, rtol, atol):
    """The corresponding solve_ivp call: RK45 on the signed coordinates, at its own steps."""
    system = ThreeScalarSystem(S=S, N=N, tau_h=tau_h, tau_y=tau_y)
    ref = solve_ivp(system.rhs_signed, (0.0, t_max), system.to_signed(np.array([H0, Y0, W0])),
                    method="RK45", rtol=rtol, atol=atol)
    return ref, system.from_signed(ref.y)


def test_takes_the_steps_of_scipy_rk45():
    # batched.py claims scipy RK45's algorithm step for step. Checked on 60 random points:
    # the accepted-step count (len(sol.t) − 1) and the number of right-hand-side calls
    # (which counts the rejected steps too) must be scipy's, and the states at scipy's step
    # times — read from our dense output — must equal scipy's steps. Had a step time
    # differed, the dense output there would carry an interpolation error of the order of
    # the local error (~rtol = 1e-8); round-off accumulated over ~200 steps in the
    # nonlinear (d, q, v) -> (H, Y, W) map stays below ~2e-11 of each component's scale
    # (measured), hence 1e-10. The stage sums are ordered differently from scipy's np.dot,
    # so a decision whose error norm is within round-off of 1 may flip (measured: about
    # 1 trajectory in 100); such trajectories must still agree within the tolerance.
    rng = np.random.default_rng(20250711)
    rtol, atol, t_max = 1e-8, 1e-12, 30.0
    identical = 0
    n = 60
    for _ in range(n):
        H0, Y0, S = rng.uniform(0.2, 5.0, 3)
        W0 = Y0 - rng.uniform(-1, 1) * np.sqrt(Y0 * S)
        N, (tau_h, tau_y) = int(rng.integers(1, 9)), rng.uniform(0.2, 5.0, 2)
        ref, public = _scipy_rk45(H0, Y0, W0, S, N, tau_h, tau_y, t_max, rtol, atol)
        res = integrate_three_scalar_batched(H0, Y0, W0, S=S, N=N, tau_h=tau_h, tau_y=tau_y,
                                             t_max=t_max, rtol=rtol, atol=atol, t_eval=ref.t)
        assert ref.status == 0 and res.status == 0
        scale = np.max(np.abs(public), axis=1, keepdims=True)
        diff = np.max(np.abs(res.y - public) / scale)
        if res.nsteps == ref.t.size - 1 and res.nfev == ref.nfev:
            identical += 1
            assert diff <= 1e-10
        else:
            assert diff <= 10 * rtol
    assert identical >= 0.95 * n


@settings(max_examples=25)
@given(H0=pos, Y0=st.floats(0.0, 3.0), c=st.floats(-1.0, 1.0), S=st.floats(0.0, 3.0),
       N=st.integers(1, 8), tau_h=pos, tau_y=pos)
def test_matches_scipy_rk45_at_matched_tolerance(H0, Y0, c, S, N, tau_h, tau_y):
    # Hypothesis-drawn parameters: whatever the step sequence, the final states agree with
    # scipy's to the tolerance (relative to the trajectory's scale, since W -> 0).
    W0 = Y0 - c * np.sqrt(Y0 * S)  # Cauchy–Schwarz-consistent alignment variable
    rtol, atol, t_max = 1e-8, 1e-12, 30.0
    ref, public = _scipy_rk45(H0, Y0, W0, S, N, tau_h, tau_y, t_max, rtol, atol)
    res = integrate_three_scalar_batched(H0, Y0, W0, S=S, N=N, tau_h=tau_h, tau_y=tau_y,
                                         t_max=t_max, rtol=rtol, atol=atol)
    assert ref.status == 0 and res.status == 0 and res.message == "reached t_max"
    scale = np.max(np.abs(public), axis=1) + np.abs(public[:, -1])
    assert np.all(np.abs(res.y_final - public[:, -1]) <= 10 * rtol * scale)


def test_long_integration_reaches_closed_form_fixed_point():
    rng = np.random.default_rng(3)
    n = 40
    H0, Y0 = rng.uniform(0.3, 3.0, n), rng.uniform(0.1, 3.0, n)
    S = rng.uniform(0.05, 2.0, n)  # disagreeing pairs: a stable node/focus H₊ > 0
    W0 = Y0 - rng.uniform(-1, 1, n) * np.sqrt(Y0 * S)
    N, tau_h, tau_y = rng.integers(1, 5, n), rng.uniform(0.5, 2.0, n), rng.uniform(0.5, 2.0, n)
    res = integrate_three_scalar_batched(H0, Y0, W0, S=S, N=N, tau_h=tau_h, tau_y=tau_y,
                                         t_max=3000.0, rtol=1e-11, atol=1e-14)
    assert np.all(res.status == 0)
    expected = final_distance(a_high(H0, Y0, N=N, tau_h=tau_h, tau_y=tau_y),
                              a_low(S, N=N, tau_h=tau_h, tau_y=tau_y))
    np.testing.assert_allclose(res.final("H"), expected, rtol=1e-7)


def test_merger_time_matches_logistic_closed_form():
    # Agreeing pairs (S = 0, W = Y) follow the logistic law of docs/theory.md §2.7; A_high < 0 merges.
    H0 = np.array([0.5, 1.0, 2.0])
    Y0 = np.array([1.0, 3.0, 9.0])
    N, tau_h, tau_y = 2.0, 1.0, 0.7
    A = a_high(H0, Y0, N=N, tau_h=tau_h, tau_y=tau_y)
    assert np.all(A < 0)
    tol = 1e-6 * H0
    t_eval = np.linspace(0.0, 5.0, 11)
    res = integrate_three_scalar_batched(H0, Y0, Y0, S=0.0, N=N, tau_h=tau_h, tau_y=tau_y,
                                         t_max=1e4, merger_tol=tol, t_eval=t_eval,
                                         rtol=1e-10, atol=1e-16)
    assert np.all(res.status == 1) and np.all(res.merged)
    t_exact = -(2 * N * tau_y / A) * np.log((A / tol - 1) / (A / H0 - 1))
    np.testing.assert_allclose(res.t_merge, t_exact, rtol=1e-8)
    np.testing.assert_allclose(res.final("H"), tol, rtol=1e-9)
    logistic = A[:, None] / (1 + (A[:, None] / H0[:, None] - 1)
                             * np.exp(-A[:, None] * t_eval / (2 * N * tau_y)))
    np.testing.assert_allclose(res.H, logistic, rtol=1e-7)


def test_saved_values_after_merger_are_nan():
    res = integrate_three_scalar_batched(1.0, 4.0, 4.0, S=0.0, N=1, tau_h=1.0, tau_y=1.0,
                                         t_max=1e3, merger_tol=1e-3, t_eval=[0.0, 1.0, 900.0])
    assert res.status == 1 and res.t_merge < 900.0
    assert np.all(np.isfinite(res.H[..., :2])) and np.isnan(res.H[..., 2])


def test_reduced_system_agrees_with_three_scalar():
    rng = np.random.default_rng(5)
    n = 30
    H0, Y0, S = rng.uniform(0.3, 3, n), rng.uniform(0.1, 3, n), rng.uniform(0, 2, n)
    W0 = Y0 - rng.uniform(-1, 1, n) * np.sqrt(Y0 * S)
    N, tau_h, tau_y = 3.0, 1.3, 0.8
    t_eval = np.linspace(0, 20, 9)
    full = integrate_three_scalar_batched(H0, Y0, W0, S=S, N=N, tau_h=tau_h, tau_y=tau_y,
                                          t_max=20.0, t_eval=t_eval, rtol=1e-10, atol=1e-13)
    red = integrate_reduced_batched(H0, W0, A_high=a_high(H0, Y0, N=N, tau_h=tau_h, tau_y=tau_y),
                                    A_low=a_low(S, N=N, tau_h=tau_h, tau_y=tau_y), N=N,
                                    tau_h=tau_h, tau_y=tau_y, t_max=20.0, t_eval=t_eval,
                                    rtol=1e-10, atol=1e-13)
    assert np.all(full.success) and np.all(red.success)
    np.testing.assert_allclose(red.H, full.H, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(red.W, full.W, rtol=1e-7, atol=1e-9)


def test_broadcasting_shapes():
    res = integrate_three_scalar_batched(np.array([[0.5], [1.0], [2.0], [4.0]]), 0.5, 0.5,
                                         S=np.array([0.0, 0.1, 1.0]), N=2, tau_h=1.0, tau_y=1.0,
                                         t_max=5.0, t_eval=np.linspace(0, 5, 6))
    assert res.status.shape == (4, 3)
    assert res.y.shape == (4, 3, 3, 6) and res.y_final.shape == (4, 3, 3)
    assert res.final("Y").shape == (4, 3) and res.trajectory("W").shape == (4, 3, 6)
    np.testing.assert_allclose(res.H[..., -1], res.final("H"), rtol=1e-12)


def test_direct_coordinates_match_signed_away_from_crossings():
    kw = dict(S=np.array([0.0, 0.4, 2.0]), N=2, tau_h=1.0, tau_y=1.5, t_max=40.0, rtol=1e-10,
              atol=1e-13, t_eval=np.linspace(0, 40, 5))
    direct = integrate_three_scalar_batched(1.0, 0.6, 0.3, coordinates="direct", **kw)
    signed = integrate_three_scalar_batched(1.0, 0.6, 0.3, **kw)
    assert np.all(direct.status == 0) and np.all(signed.n_crossings == 0)
    np.testing.assert_allclose(direct.y, signed.y, rtol=1e-7, atol=1e-10)


def test_crossing_is_continued_in_signed_coordinates():
    # W/H above the origin's stable ray: eq. 20 reaches H = 0 in finite time (the pair
    # passes through itself). Direct coordinates report it; signed ones continue to H₊.
    H0, Y0, W0, S, N, tau_h, tau_y = 0.4222, 1.0177, 1.6178, 0.7530, 1, 1.3, 0.8
    kw = dict(S=S, N=N, tau_h=tau_h, tau_y=tau_y, rtol=1e-11, atol=1e-14)
    direct = integrate_three_scalar_batched(H0, Y0, W0, t_max=50.0, coordinates="direct", **kw)
    assert direct.outcome == BatchOutcome.LEFT_DOMAIN and direct.status == -1 and not direct.success
    signed = integrate_three_scalar_batched(H0, Y0, W0, t_max=3000.0, **kw)
    assert signed.status == 0 and signed.n_crossings == 1
    assert 0 < signed.t_first_crossing < direct.t_final + 1e-6
    expected = final_distance(a_high(H0, Y0, N=N, tau_h=tau_h, tau_y=tau_y),
                              a_low(S, N=N, tau_h=tau_h, tau_y=tau_y))
    np.testing.assert_allclose(signed.final("H"), expected, rtol=1e-7)


def test_failures_are_reported_not_returned_as_numbers():
    res = integrate_three_scalar_batched(
        np.array([1e-3, 1.0, 1.0]), np.array([0.0, 0.0, 0.5]), np.array([5.0, 1e300, 0.5]),
        S=0.0, N=1, tau_h=1.0, tau_y=1.0, t_max=100.0, coordinates="direct")
    # An inconsistent state (Y = 0 but W > 0) drives H through 0; an overflow is non-finite.
    assert list(res.outcome) == [BatchOutcome.LEFT_DOMAIN, BatchOutcome.NON_FINITE,
                                 BatchOutcome.FINISHED]
    assert list(res.status) == [-1, -1, 0]  # scipy's codes, as interaction.integrate
    assert list(res.success) == [False, False, True]
    assert res.final("H")[0] > 0 and np.isfinite(res.y_final[0]).all()
    assert res.status_counts() == {"FINISHED": 1, "NON_FINITE": 1, "LEFT_DOMAIN": 1}
    capped = integrate_three_scalar_batched(1.0, 0.5, 0.5, S=0.0, N=1, tau_h=1.0, tau_y=1.0,
                                            t_max=100.0, max_steps=5)
    assert capped.outcome == BatchOutcome.MAX_STEPS and capped.status == -1
    assert capped.t_final < 100.0
    assert "maximum number of steps" in capped.message.item()


@pytest.mark.parametrize("kwargs, name", [
    (dict(H0=0.0), "H0"), (dict(H0=np.nan), "H0"), (dict(Y0=-1.0), "Y0"), (dict(S=-0.1), "S"),
    (dict(N=0.5), "N"), (dict(tau_h=0.0), "tau_h"), (dict(tau_y=-1.0), "tau_y"),
    (dict(t_max=0.0), "t_max"), (dict(merger_tol=2.0), "merger_tol"),
    (dict(t_eval=[1.0, 0.5]), "t_eval"), (dict(rtol=0.0), "rtol"), (dict(max_steps=0), "max_steps"),
    (dict(coordinates="polar"), "coordinates"),
])
def test_bad_input_names_the_parameter(kwargs, name):
    args = dict(H0=1.0, Y0=0.5, W0=0.5, S=0.0, N=1, tau_h=1.0, tau_y=1.0, t_max=1.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        integrate_three_scalar_batched(args.pop("H0"), args.pop("Y0"), args.pop("W0"), **args)


def test_batched_result_has_the_single_result_contract_per_element():
    # Same system classes, field names and scipy status codes as interaction.integrate;
    # each element equals the single RK45 integration of the same point.
    from interaction import DEFAULT_ATOL, DEFAULT_RTOL, integrate

    S, tau_y = np.array([0.0, 0.5]), np.array([[1.0], [2.0]])
    t_eval = np.linspace(0.0, 4.0, 5)
    res = integrate_batched(ThreeScalarSystem(S=S, N=2.0, tau_h=1.0, tau_y=tau_y),
                            (1.0, 3.0, 3.0), 1e3, merger_tol=1e-6, t_eval=t_eval)
    assert res.status.shape == (2, 2) and res.components == ("H", "Y", "W")
    assert res.variables == res.components and BatchStatus is BatchOutcome
    assert len(res.t_events) == 1 and res.t_events[0].shape == (2, 2)
    for idx in np.ndindex(2, 2):
        single = integrate(ThreeScalarSystem(S=S[idx[1]], N=2.0, tau_h=1.0, tau_y=tau_y[idx[0], 0]),
                           (1.0, 3.0, 3.0), 1e3, method="RK45", merger_tol=1e-6, t_eval=t_eval)
        assert res.status[idx] == single.status and res.merged[idx] == single.merged
        assert res.success[idx] == single.success
        expected_t = single.t_events[0][0] if single.merged else np.nan
        np.testing.assert_allclose(res.t_events[0][idx], expected_t, rtol=1e-8)
        n = single.t.size  # saved values up to the merger, NaN after it
        np.testing.assert_allclose(res.H[idx][:n], single.H, rtol=1e-8, atol=DEFAULT_ATOL)
        assert np.all(np.isnan(res.H[idx][n:]))
        assert res.message[idx] == ("merger event: H reached merger_tol" if single.merged
                                    else "reached t_max")
    assert DEFAULT_RTOL == inspect.signature(integrate_batched).parameters["rtol"].default
    with pytest.raises(AttributeError):
        integrate_reduced_batched(1.0, 0.0, A_high=0.5, A_low=0.1, N=1, tau_h=1, tau_y=1,
                                  t_max=1.0).Y  # noqa: B018
    with pytest.raises(ValueError, match="^system "):
        integrate_batched(object(), (1.0,), 1.0)
