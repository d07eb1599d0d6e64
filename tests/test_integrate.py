"""Systems and the integration interface (interaction/odesolve.py, three_scalar.py, reduced.py).

Eq. 19 -> eq. 20 closure, eq. 20 -> eq. 23 reduction, the conservation law, Jacobians,
and the contract of ``interaction.integrate``: the same numbers as the direct
``solve_ivp`` routes and the keyword wrappers, scipy's status codes, messages, named
components, events, one set of defaults and parameter validation.
"""
import inspect
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from interaction import (DEFAULT_ATOL, DEFAULT_METHOD, DEFAULT_RTOL, FixedExpansionSystem,
                         OdeSystem, PerContinuationSystem, ReducedSystem, TwoPoint2024System,
                         VectorFlowSystem, integrate)
from interaction import batched, fixed_expansion, reduced, three_scalar, two_point_2024, vector_flow
from interaction.fixed_expansion import integrate_fixed_expansion, random_initial_state
from interaction.two_point_2024 import integrate_two_point_2024
from interaction.vector_flow import integrate_vector_flow
from interaction.reduced import (conserved_a_high, integrate_reduced, jac_reduced,
                                 jac_reduced_signed, rhs_reduced, rhs_reduced_signed, w_nullcline,
                                 y_from_a_high)
from interaction.three_scalar import (ThreeScalarSystem, integrate_per_continuation,
                                      integrate_three_scalar, jac_three_scalar,
                                      jac_three_scalar_signed, rhs_per_continuation,
                                      rhs_three_scalar, rhs_three_scalar_signed)

positive = st.floats(0.2, 5.0)
rate = st.floats(0.5, 4.0)


def _fd_jacobian(f, x, h=1e-6):
    x = np.asarray(x, dtype=float)
    cols = []
    for k in range(x.size):
        step = h * max(1.0, abs(x[k]))
        e = np.zeros_like(x)
        e[k] = step
        cols.append((np.array(f(*(x + e))) - np.array(f(*(x - e)))) / (2 * step))
    return np.array(cols).T


@given(H=positive, seed=st.integers(0, 2**32 - 1), K=st.integers(1, 12), a=rate, tau_y=rate)
def test_per_continuation_average_closes_onto_eq20(H, seed, K, a, tau_y):
    rng = np.random.default_rng(seed)
    Yi = rng.uniform(0.0, 3.0, K)
    Si = rng.uniform(0.0, 3.0, K)  # each continuation its own target difference
    Wi = Yi - rng.uniform(-1.0, 1.0, K) * np.sqrt(Yi * Si)
    b = 1.0 / (K * tau_y)
    dH, dYi, dWi = rhs_per_continuation(H, Yi, Wi, Si, a, np.full(K, b))
    dH3, dY3, dW3 = rhs_three_scalar(H, Yi.mean(), Wi.mean(), Si.mean(), a, b)
    scale = 1.0 + abs(dY3) + abs(dW3) + np.abs(dYi).max() + np.abs(dWi).max()
    assert dH == pytest.approx(dH3, rel=1e-14, abs=1e-15)
    assert abs(dYi.mean() - dY3) <= 1e-13 * scale
    assert abs(dWi.mean() - dW3) <= 1e-13 * scale


def test_per_continuation_integration_averages_to_eq20_and_unequal_rates_do_not():
    rng = np.random.default_rng(3)
    K = 5
    Y0, S = rng.uniform(0, 2, K), rng.uniform(0, 2, K)
    W0 = Y0 - rng.uniform(-1, 1, K) * np.sqrt(Y0 * S)
    t = np.linspace(0.0, 60.0, 13)
    kw = dict(tau_h=1.3, t_max=60.0, t_eval=t, rtol=1e-12, atol=1e-14)
    full = integrate_per_continuation(1.0, Y0, W0, S, tau_y=2.0, **kw)
    avg = integrate_three_scalar(1.0, Y0.mean(), W0.mean(), S=S.mean(), N=K, tau_y=2.0, **kw)
    assert full.success and avg.success
    assert full.Yi.shape == (K, t.size)
    for ours, theirs in ((full.H, avg.H), (full.Y, avg.Y), (full.W, avg.W)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-10)
    # with per-continuation output rates the average is no longer closed
    uneq = integrate_per_continuation(1.0, Y0, W0, S, tau_y=np.array([0.5, 1, 2, 4, 8.0]), **kw)
    assert uneq.success
    assert np.max(np.abs(uneq.H - avg.H)) > 1e-3
    # the direct (literal eq. 19) coordinates agree with the signed ones on this trajectory
    direct = integrate_per_continuation(1.0, Y0, W0, S, tau_y=2.0, coordinates="direct", **kw)
    if full.t_crossings.size == 0:
        np.testing.assert_allclose(direct.H, full.H, rtol=1e-8)


@settings(max_examples=30)
@given(H=positive, A=st.floats(-5.0, 5.0), L=st.floats(0.0, 4.0), W=st.floats(-3.0, 3.0),
       N=st.integers(1, 16), tau_h=rate, tau_y=rate)
def test_reduced_system_equals_eq20_on_the_invariant_surface(H, A, L, W, N, tau_h, tau_y):
    r = N * tau_y / tau_h
    if H <= A:  # Y = H (H − A)/r must be >= 0
        H = A + H
    Y = float(y_from_a_high(H, A, N=N, tau_h=tau_h, tau_y=tau_y))
    assert float(conserved_a_high(H, Y, N=N, tau_h=tau_h, tau_y=tau_y)) == pytest.approx(A, abs=1e-12 * (1 + H + abs(A)))
    S = L * L / r  # A_low² = r S (eq. 25)
    a, b = 1 / tau_h, 1 / (N * tau_y)
    dH, dY, dW = rhs_three_scalar(H, Y, W, S, a, b)
    dH2, dW2 = rhs_reduced(H, W, A, L, a, b)
    scale = 1 + abs(dW) + (b * b / a) * H * (H * H + abs(A) * H + L * L) + b * H * abs(W) + a * W * W / H
    assert dH2 == dH
    assert abs(dW2 - dW) <= 1e-13 * scale
    # Y follows the invariant: dY = (dY/dH) dH with Y(H) = H (H − A)/r
    assert dY == pytest.approx((2 * H - A) / r * dH, rel=1e-11, abs=1e-14 * (1 + abs(dY)))
    # signed coordinates reproduce the same flow: H = d², W = v d
    d = np.sqrt(H)
    dd, dq, dv = rhs_three_scalar_signed(d, Y / H, W / d, S, a, b)
    assert 2 * d * dd == pytest.approx(dH, rel=1e-13, abs=1e-15)
    assert dv * d + (W / d) * dd == pytest.approx(dW, rel=1e-10, abs=1e-12 * scale)
    assert dq == pytest.approx((dY - Y / H * dH) / H, rel=1e-9, abs=1e-12 * scale)
    dd2, dv2 = rhs_reduced_signed(d, W / d, A, L, a, b)
    assert dd2 == pytest.approx(dd, rel=1e-15) and dv2 == pytest.approx(dv, rel=1e-9, abs=1e-12 * scale)


@settings(max_examples=30)
@given(H0=positive, Y0=st.floats(0.0, 5.0), S=st.floats(0.0, 5.0), c=st.floats(-1.0, 1.0),
       N=st.integers(1, 16), tau_h=rate, tau_y=rate)
def test_a_high_is_conserved_along_trajectories_to_solver_tolerance(H0, Y0, S, c, N, tau_h, tau_y):
    W0 = Y0 - c * np.sqrt(Y0 * S)
    r = N * tau_y / tau_h
    A0 = H0 - r * Y0 / H0
    scale = H0 + r * Y0 / H0
    drifts = []
    for rtol in (1e-7, 1e-11):
        res = integrate_three_scalar(H0, Y0, W0, S=S, N=N, tau_h=tau_h, tau_y=tau_y,
                                     t_max=200.0 * N * tau_y, rtol=rtol, atol=rtol * 1e-3)
        assert res.success
        drifts.append(np.max(np.abs(res.H - r * res.Y / res.H - A0)) / scale)
    assert drifts[1] <= 1e-9  # 100 × rtol
    assert drifts[0] <= 1e-5


def test_jacobians_match_finite_differences():
    rng = np.random.default_rng(11)
    for _ in range(20):
        H, Y, S = rng.uniform(0.3, 3, 3)
        W, A, d, q, v = rng.uniform(-2, 2, 5)
        L = rng.uniform(0, 2)
        a, b = rng.uniform(0.2, 2, 2)
        J = jac_three_scalar(H, Y, W, S, a, b)
        Jfd = _fd_jacobian(lambda x, y, z: rhs_three_scalar(x, y, z, S, a, b), [H, Y, W])
        np.testing.assert_allclose(J, Jfd, rtol=1e-6, atol=1e-8)
        J = jac_three_scalar_signed(d, q, v, S, a, b)
        Jfd = _fd_jacobian(lambda x, y, z: rhs_three_scalar_signed(x, y, z, S, a, b), [d, q, v])
        np.testing.assert_allclose(J, Jfd, rtol=1e-6, atol=1e-8)
        J = jac_reduced(H, W, A, L, a, b)
        Jfd = _fd_jacobian(lambda x, y: rhs_reduced(x, y, A, L, a, b), [H, W])
        np.testing.assert_allclose(J, Jfd, rtol=1e-6, atol=1e-8)
        J = jac_reduced_signed(d, v, A, L, a, b)
        Jfd = _fd_jacobian(lambda x, y: rhs_reduced_signed(x, y, A, L, a, b), [d, v])
        np.testing.assert_allclose(J, Jfd, rtol=1e-6, atol=1e-8)


def test_reduced_and_three_scalar_trajectories_agree_and_direct_matches_signed():
    kw = dict(N=3, tau_h=0.7, tau_y=1.5)
    H0, Y0, W0, S = 1.2, 0.8, 0.5, 0.6
    r = 3 * 1.5 / 0.7
    A, L = H0 - r * Y0 / H0, np.sqrt(r * S)
    t = np.linspace(0, 40, 9)
    full = integrate_three_scalar(H0, Y0, W0, S=S, t_max=40, t_eval=t, rtol=1e-12, atol=1e-14, **kw)
    red = integrate_reduced(H0, W0, A_high=A, A_low=L, t_max=40, t_eval=t, rtol=1e-12, atol=1e-14, **kw)
    direct = integrate_three_scalar(H0, Y0, W0, S=S, t_max=40, t_eval=t, rtol=1e-12, atol=1e-14,
                                    coordinates="direct", **kw)
    assert full.t_crossings.size == 0 and full.success and red.success and direct.success
    for other in (red, direct):
        np.testing.assert_allclose(other.H, full.H, rtol=1e-8)
        np.testing.assert_allclose(other.W, full.W, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(y_from_a_high(red.H, A, **kw), full.Y, rtol=1e-8, atol=1e-10)


def test_crossing_is_continued_in_signed_coordinates_and_is_a_failure_in_direct_ones():
    # W0 large: above the saddle's stable manifold, H reaches 0 in finite time (the pair crosses)
    kw = dict(S=1.0, N=2, tau_h=1.0, tau_y=1.0, t_max=200.0, rtol=1e-10, atol=1e-14)
    signed = integrate_three_scalar(1.0, 1.0, 2.0, **kw)
    assert signed.success and signed.t_crossings.size == 1
    r = 2.0
    A, L = 1.0 - r * 1.0, np.sqrt(r * 1.0)
    H_plus = A / 2 + np.sqrt(A * A / 4 + L * L)
    assert signed.H[-1] == pytest.approx(H_plus, rel=1e-7)  # still converges to eq. 5
    # at the crossing H = d² touches 0 and W = v d changes sign
    t_c = signed.t_crossings[0]
    dense = integrate_three_scalar(1.0, 1.0, 2.0, dense_output=True, **kw)
    before, after = dense.sol(t_c - 1e-3), dense.sol(t_c + 1e-3)
    assert before[2] > 0 > after[2] and before[0] < 1e-4 and after[0] < 1e-4
    # literal eq. 20 cannot pass the singularity with an explicit method: reported as failure
    direct = integrate_three_scalar(1.0, 1.0, 2.0, coordinates="direct", method="DOP853", **kw)
    assert not direct.success and direct.status == -1


def test_events_dense_output_and_status():
    kw = dict(S=0.0, N=2, tau_h=1.0, tau_y=1.0, rtol=1e-10, atol=1e-14)
    H0, Y0 = 1.0, 3.0  # A_high = 1 − 2·3 = −5 < 0: merger
    res = integrate_three_scalar(H0, Y0, Y0, t_max=1e3, merger_tol=1e-6, dense_output=True, **kw)
    assert res.status == 1 and res.merged and res.success
    assert res.t_events[0].size == 1 and res.y_events[0][0, 0] == pytest.approx(1e-6, rel=1e-8)
    assert res.H[-1] == pytest.approx(1e-6, rel=1e-8)
    t_mid = res.t_events[0][0] / 2
    assert res.sol(t_mid).shape == (3,)
    assert res.sol(t_mid)[2] == pytest.approx(res.sol(t_mid)[1], rel=1e-7)  # W = Y (agreeing)
    assert res.sol(t_mid)[0] == pytest.approx(
        -5 / (1 + (-5 / H0 - 1) * np.exp(5 * t_mid / (2 * 2))), rel=1e-6)

    def halfway(t, y):
        return y[0] - 0.5

    halfway.terminal = True
    res = integrate_three_scalar(H0, Y0, Y0, t_max=1e3, events=[halfway], **kw)
    assert res.status == 1 and not res.merged and res.H[-1] == pytest.approx(0.5, rel=1e-8)
    res = integrate_three_scalar(H0, Y0, Y0, t_max=1.0, **kw)
    assert res.status == 0 and res.t[-1] == 1.0


@dataclass(frozen=True)
class _Shrinking(OdeSystem):
    """A user-defined pair system: dH/dt = −rate, which leaves H > 0 at t = 1/rate."""

    rate: float
    components: ClassVar[tuple[str, ...]] = ("H",)
    distance_first: ClassVar[bool] = True

    def rhs(self, t, y):
        return np.array([-self.rate])


@dataclass(frozen=True)
class _Blowup(OdeSystem):
    components: ClassVar[tuple[str, ...]] = ("x",)

    def rhs(self, t, y):
        return np.array([y[0] ** 2])  # x(t) = 1/(1 − t): infinite at t = 1


def test_solver_reports_leaving_the_domain_as_failure():
    # leaving H > 0 must be reported as status -1 with a message, not returned as a number
    res = integrate(_Shrinking(rate=1.0), [1.0], 2.0, method="RK45")
    assert res.status == -1 and not res.success and "H > 0" in res.message
    assert integrate(_Shrinking(rate=1.0), [1.0], 0.5).status == 0
    res = integrate(_Blowup(), [1.0], 2.0, method="RK45")
    assert res.status == -1 and not res.success and res.message


def test_w_nullcline_zeroes_dW_and_system_properties():
    A, L, kw = -1.0, 0.7, dict(N=2, tau_h=1.5, tau_y=0.8)
    a, b = 1 / 1.5, 1 / 1.6
    H = np.linspace(0.01, 3.0, 50)
    up, down = w_nullcline(H, A_high=A, A_low=L, **kw)
    ok = np.isfinite(up)
    assert ok.sum() > 10 and np.array_equal(ok, np.isfinite(down))
    for h, w1, w2 in zip(H[ok], up[ok], down[ok]):
        scale = 1 + (b * b / a) * h ** 3 + b * h * abs(w1) + a * w1 * w1 / h
        assert abs(rhs_reduced(h, w1, A, L, a, b)[1]) <= 1e-12 * scale
        assert abs(rhs_reduced(h, w2, A, L, a, b)[1]) <= 1e-12 * scale
    # where the discriminant is negative, dW/dt has one sign for every W (no nullcline)
    for h in H[~ok]:
        signs = {np.sign(rhs_reduced(h, w, A, L, a, b)[1]) for w in np.linspace(-5, 5, 41)}
        assert len(signs) == 1
    sys = ThreeScalarSystem(S=0.3, N=4, tau_h=2.0, tau_y=0.5)
    assert (sys.a, sys.b, sys.r) == (0.5, 0.5, 1.0)
    with pytest.raises(ValueError, match="^N "):
        ThreeScalarSystem(S=0.3, N=0, tau_h=2.0, tau_y=0.5)
    with pytest.raises(ValueError, match="^Y0 "):
        integrate_per_continuation(1.0, np.array([-1.0]), np.array([0.0]), np.array([0.0]),
                                   tau_h=1, tau_y=1, t_max=1)
    with pytest.raises(ValueError, match="^merger_tol "):
        integrate_three_scalar(1.0, 1.0, 0.0, S=0, N=1, tau_h=1, tau_y=1, t_max=1, merger_tol=2.0)


# ---- the one integration interface -------------------------------------------------------

def _systems():
    """One instance of every system with a valid initial state."""
    rng = np.random.default_rng(7)
    Y0, S = rng.uniform(0.1, 2, 4), rng.uniform(0, 2, 4)
    W0 = Y0 - 0.4 * np.sqrt(Y0 * S)
    vf = VectorFlowSystem(targets=rng.normal(size=(2, 2)), hidden_dim=3, tau_h=1.0, tau_y=0.8)
    return [
        (ThreeScalarSystem(S=0.6, N=3, tau_h=0.7, tau_y=1.5), np.array([1.2, 0.8, 0.5])),
        (ReducedSystem(A_high=-1.0, A_low=0.5, N=3, tau_h=0.7, tau_y=1.5), np.array([1.2, 0.5])),
        (PerContinuationSystem(S=S, tau_h=1.3, tau_y=2.0), np.concatenate(([1.0], Y0, W0))),
        (TwoPoint2024System(eta_h=0.02, eta_y=0.05, dx2=1.7, dy2=0.3), np.array([1.0, 0.5, 0.2])),
        (FixedExpansionSystem.from_learning_rates(0.02, 0.2, 0.02, 0.005),
         random_initial_state(0.1, np.random.default_rng(0))),
        (vf, vf.pack(rng.normal(size=3), 0.7 * rng.normal(size=(2, 2, 3)))),
    ]


@pytest.mark.parametrize("index", range(6))
def test_integrate_gives_the_numbers_of_the_direct_solve_ivp_route(index):
    # The interface adds validation, coordinates and reporting, but not a single changed
    # number: its trajectory is bit-identical to the bare solve_ivp call it stands for.
    system, y0 = _systems()[index]
    t_eval = np.linspace(0.0, 30.0, 7)
    res = integrate(system, y0, 30.0, t_eval=t_eval)
    assert res.status == 0 and res.success and res.system is system
    assert res.components == tuple(system.components) and res.y.shape == (len(y0), 7)
    if system.has_signed_coordinates:
        fun, z0, jac, back = system.rhs_signed, system.to_signed(y0), system.jac_signed, system.from_signed
    else:
        fun, z0, jac, back = system.rhs, y0, system.jac, (lambda z: z)
    ref = solve_ivp(fun, (0.0, 30.0), z0, method=DEFAULT_METHOD, rtol=DEFAULT_RTOL,
                    atol=DEFAULT_ATOL, t_eval=t_eval, **({"jac": jac} if jac else {}))
    np.testing.assert_array_equal(res.y, back(ref.y))
    if system.has_signed_coordinates and not isinstance(system, PerContinuationSystem):
        direct = integrate(system, y0, 30.0, t_eval=t_eval, coordinates="direct")
        ref = solve_ivp(system.rhs, (0.0, 30.0), y0, method=DEFAULT_METHOD, rtol=DEFAULT_RTOL,
                        atol=DEFAULT_ATOL, t_eval=t_eval, jac=system.jac)
        np.testing.assert_array_equal(direct.y, ref.y)


def test_keyword_wrappers_are_integrate():
    t = np.linspace(0, 20, 5)
    (s3, y3), (sr, yr), (sp, yp), (s24, y24), (sfe, yfe), (svf, yvf) = _systems()
    pairs = [
        (three_scalar.integrate_three_scalar(*y3, S=s3.S, N=s3.N, tau_h=s3.tau_h, tau_y=s3.tau_y,
                                             t_max=20.0, t_eval=t), integrate(s3, y3, 20.0, t_eval=t)),
        (reduced.integrate_reduced(*yr, A_high=sr.A_high, A_low=sr.A_low, N=sr.N, tau_h=sr.tau_h,
                                   tau_y=sr.tau_y, t_max=20.0, t_eval=t), integrate(sr, yr, 20.0, t_eval=t)),
        (three_scalar.integrate_per_continuation(yp[0], yp[1:5], yp[5:], sp.S, tau_h=sp.tau_h,
                                                 tau_y=2.0, t_max=20.0, t_eval=t),
         integrate(sp, yp, 20.0, t_eval=t)),
        (integrate_two_point_2024(*y24, eta_h=0.02, eta_y=0.05, dx2=1.7, dy2=0.3, t_max=20.0,
                                  t_eval=t), integrate(s24, y24, 20.0, t_eval=t)),
        (integrate_fixed_expansion(yfe, sfe, t_max=20.0, t_eval=t), integrate(sfe, yfe, 20.0, t_eval=t)),
        (integrate_vector_flow(*svf.unpack(yvf), svf.targets, tau_h=1.0, tau_y=0.8, t_max=20.0,
                               t_eval=t), integrate(svf, yvf, 20.0, t_eval=t)),
    ]
    for old, new in pairs:
        assert type(old) is type(new) and old.status == new.status == 0
        np.testing.assert_array_equal(old.y, new.y)


def test_one_set_of_defaults():
    wrappers = [three_scalar.integrate_three_scalar, three_scalar.integrate_per_continuation,
                reduced.integrate_reduced, two_point_2024.integrate_two_point_2024,
                fixed_expansion.integrate_fixed_expansion, vector_flow.integrate_vector_flow,
                integrate, batched.integrate_batched, batched.integrate_three_scalar_batched,
                batched.integrate_reduced_batched]
    expected = {"method": DEFAULT_METHOD, "rtol": DEFAULT_RTOL, "atol": DEFAULT_ATOL}
    for f in wrappers:
        params = inspect.signature(f).parameters
        for name, value in expected.items():
            if name in params:  # the batched integrators have one method (Dormand–Prince)
                assert params[name].default == value, (f.__name__, name)


def test_result_contract_status_message_components_events():
    system = ThreeScalarSystem(S=0.0, N=2, tau_h=1.0, tau_y=1.0)  # A_high = 1 − 2·3 < 0
    done = integrate(system, (1.0, 3.0, 3.0), 1.0)
    assert done.status == 0 and done.success and "end of the integration" in done.message
    np.testing.assert_array_equal(done.H, done.y[0])
    np.testing.assert_array_equal(done.component("W"), done.y[2])
    with pytest.raises(ValueError, match="name must be one of H, Y, W"):
        done.component("Q")
    with pytest.raises(AttributeError, match="Q"):
        done.Q  # noqa: B018
    merged = integrate(system, (1.0, 3.0, 3.0), 1e3, merger_tol=1e-6)
    assert merged.status == 1 and merged.merged and "termination event" in merged.message
    assert merged.t_events[0].size == 1 and merged.H[-1] == pytest.approx(1e-6, rel=1e-8)

    def quarter(t, y):
        return y[0] - 0.25

    quarter.terminal = False
    both = integrate(system, (1.0, 3.0, 3.0), 1e3, merger_tol=1e-6, events=quarter)
    assert len(both.t_events) == 2 and both.t_events[1].size == 1
    assert both.t_events[1][0] < both.t_events[0][0]
    assert both.y_events[1][0, 0] == pytest.approx(0.25, rel=1e-8)
    failed = integrate(system, (1.0, 1.0, 2.0), 200.0, coordinates="direct", method="DOP853")
    assert failed.status == -1 and not failed.success and failed.message
    fe_system, z0 = _systems()[4]
    fe = integrate(fe_system, z0, 10.0)
    np.testing.assert_array_equal(fe.h2, fe.y[1])
    np.testing.assert_allclose(fe.distance2, (fe.y[1] - fe.y[0]) ** 2)
    # the nine-variable model may start closer than merger_tol: a pair that first moves
    # apart and then comes back fires the event on the way down (P25 Fig. 10)
    assert integrate(fe_system, z0, 10.0, merger_tol=10.0).status in (0, 1)


@settings(max_examples=25)
@given(H0=st.floats(0.1, 5.0), Y0=st.floats(0.0, 5.0), S=st.floats(0.0, 5.0),
       c=st.floats(-1.0, 1.0), N=st.floats(1.0, 20.0), tau_h=st.floats(0.2, 5.0),
       tau_y=st.floats(0.2, 5.0))
def test_three_scalar_and_reduced_systems_agree_through_integrate(H0, Y0, S, c, N, tau_h, tau_y):
    W0 = Y0 - c * np.sqrt(Y0 * S)
    full = ThreeScalarSystem(S=S, N=N, tau_h=tau_h, tau_y=tau_y)
    A = H0 - full.r * Y0 / H0
    red = ReducedSystem(A_high=A, A_low=np.sqrt(full.r * S), N=N, tau_h=tau_h, tau_y=tau_y)
    t = np.linspace(0.0, 5.0 * N * tau_y, 6)
    a = integrate(full, (H0, Y0, W0), t[-1], t_eval=t)
    b = integrate(red, (H0, W0), t[-1], t_eval=t)
    assert a.status == 0 and b.status == 0 and a.t_crossings.size == b.t_crossings.size
    scale = H0 + abs(A) + red.A_low
    np.testing.assert_allclose(b.H, a.H, rtol=1e-6, atol=1e-8 * scale)
    np.testing.assert_allclose(a.H - full.r * a.Y / a.H, A, atol=1e-6 * (scale + full.r * Y0 / H0))


@pytest.mark.parametrize("call, name", [
    (lambda: integrate("not a system", [1.0], 1.0), "^system "),
    (lambda: integrate(ThreeScalarSystem(S=0, N=1, tau_h=1, tau_y=1), [1.0, 1.0], 1.0), "^y0 "),
    (lambda: integrate(ThreeScalarSystem(S=0, N=1, tau_h=1, tau_y=1), [0.0, 1.0, 0.0], 1.0), "^H0 "),
    (lambda: integrate(ThreeScalarSystem(S=np.ones(2), N=1, tau_h=1, tau_y=1), [1, 1, 0], 1.0), "^S "),
    (lambda: integrate(FixedExpansionSystem(1, 1, 1, 1), np.zeros(9), 1.0, coordinates="signed"),
     "^coordinates "),
    (lambda: integrate(ReducedSystem(0, 1, 1, 1, 1), [1, 0], 1.0, coordinates="polar"), "^coordinates "),
    (lambda: integrate(ReducedSystem(0, 1, 1, 1, 1), [1, 0], 1.0, method="Euler"), "^method "),
    (lambda: integrate(ReducedSystem(0, 1, 1, 1, 1), [1, 0], 1.0, rtol=1.0), "^rtol "),
    (lambda: integrate(ReducedSystem(0, 1, 1, 1, 1), [1, 0], 1.0, t_eval=[0.5, 2.0]), "^t_eval "),
    (lambda: integrate(ReducedSystem(0, 1, 1, 1, 1), [1, 0], 1.0, merger_tol=1.0), "^merger_tol "),
    (lambda: PerContinuationSystem(S=np.ones(3), tau_h=1.0, tau_y=np.ones(2)), "^tau_y "),
])
def test_integrate_rejects_bad_input_naming_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()
