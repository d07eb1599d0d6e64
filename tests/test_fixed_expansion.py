"""The nine-variable fixed-expansion-point model (P25 eq. 42) against the explicit vector gradient flow."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from interaction.fixed_expansion import (FixedExpansionSystem, aggregate_state,
                                         integrate_fixed_expansion, random_initial_state,
                                         rhs_fixed_expansion, target_moments)


def explicit_flow(rng: np.random.Generator, *, N: int, O: int, P: int, rates: dict, t_max: float,
                  agreeing: bool = False):
    """Integrate the gradient flow of L = ½⟨‖b_i + D_i v h_α − y*_{α,i}‖²⟩ on explicit b_i, D_i, h_α.

    Gradients come from torch autograd of the loss as written (not from the derivation
    behind eq. 42); D_i is a full O×P matrix and v a random unit vector in R^P.
    """
    v = rng.normal(size=P)
    v /= np.linalg.norm(v)
    y1 = rng.normal(size=(N, O))
    y2 = y1.copy() if agreeing else rng.normal(size=(N, O))
    h0 = rng.normal(size=2)
    b0 = 0.5 * rng.normal(size=(N, O))
    D0 = 0.5 * rng.normal(size=(N, O, P))
    sizes = (2, N * O, N * O * P)
    vt, y1t, y2t = (torch.tensor(x) for x in (v, y1, y2))
    scale = np.concatenate([[rates["h1"], rates["h2"]], np.full(N * O, rates["b"]),
                            np.full(N * O * P, rates["y"])])

    def loss(theta: torch.Tensor) -> torch.Tensor:
        h, b, D = torch.split(theta, sizes)
        b, D = b.reshape(N, O), D.reshape(N, O, P)
        u = D @ vt
        r1 = b + h[0] * u - y1t
        r2 = b + h[1] * u - y2t
        return 0.5 * 0.5 * ((r1 ** 2).sum(1) + (r2 ** 2).sum(1)).mean()

    def rhs(t, theta):
        th = torch.tensor(theta, requires_grad=True)
        (g,) = torch.autograd.grad(loss(th), th)
        return -scale * g.numpy()

    theta0 = np.concatenate([h0, b0.ravel(), D0.ravel()])
    t_eval = np.linspace(0, t_max, 21)
    sol = solve_ivp(rhs, (0, t_max), theta0, method="DOP853", rtol=1e-11, atol=1e-13, t_eval=t_eval)
    assert sol.success

    def aggregate(theta):
        h, b, D = np.split(theta, np.cumsum(sizes)[:-1])
        u = D.reshape(N, O, P) @ v
        return aggregate_state(h[0], h[1], b.reshape(N, O), u, y1, y2)

    Z = np.stack([aggregate(sol.y[:, k]) for k in range(sol.y.shape[1])], axis=1)
    losses = np.array([float(loss(torch.tensor(sol.y[:, k]))) for k in range(sol.y.shape[1])])
    return t_eval, Z, losses, target_moments(y1, y2)


@pytest.mark.parametrize("seed,agreeing", [(0, False), (1, True), (2, False)])
def test_nine_variables_follow_the_explicit_vector_flow(seed, agreeing):
    rng = np.random.default_rng(seed)
    rates = {"h1": 0.7, "h2": 2.3, "y": 1.1, "b": 0.4}
    N = 3
    t, Z, losses, moments = explicit_flow(rng, N=N, O=2, P=4, rates=rates, t_max=6.0,
                                          agreeing=agreeing)
    system = FixedExpansionSystem(tau_h1=1 / rates["h1"], tau_h2=1 / rates["h2"],
                                  tau_y=1 / rates["y"], tau_b=1 / rates["b"], N=N, **moments)
    res = integrate_fixed_expansion(Z[:, 0], system, t_max=6.0, t_eval=t, rtol=1e-11, atol=1e-13)
    assert res.success
    np.testing.assert_allclose(res.y, Z, rtol=1e-6, atol=1e-8)
    # the aggregated loss is the explicit loss
    np.testing.assert_allclose(system.train_loss(res.y), losses, rtol=1e-7, atol=1e-10)
    # and it decreases (gradient flow)
    assert np.all(np.diff(losses) <= 1e-12)


states = st.lists(st.floats(-2, 2), min_size=9, max_size=9)


@settings(max_examples=60)
@given(states, st.floats(0.05, 5), st.floats(0.05, 5), st.floats(0.05, 5), st.floats(1, 8),
       st.floats(0.1, 3))
def test_equal_hidden_rates_agreeing_pair_distance_can_only_decrease(z, a, ay, ab, N, y):
    """P25 eqs. 48-49: d(h2-h1)^2/dt = -(1/τ_h1)(h2-h1)^2 D2 <= 0 when τ_h1 = τ_h2 and Dy1 = Dy2."""
    z = np.array(z)
    z[4], z[8] = z[3], z[7]          # agreeing targets y*_1 = y*_2 give by1 = by2, Dy1 = Dy2
    z[6] = abs(z[6])                 # D2 >= 0
    dz = rhs_fixed_expansion(z, a, a, ay, ab, N, y * y, y * y, y * y)
    d = z[1] - z[0]
    rate = 2 * d * (dz[1] - dz[0])
    assert rate == pytest.approx(-a * d * d * z[6], rel=1e-9, abs=1e-12)
    assert rate <= 1e-15


def test_equal_rates_trajectory_never_diverges_but_unequal_rates_reproduce_fig10_left():
    lr = 0.02
    z0 = random_initial_state(0.1, np.random.default_rng(5))
    t = np.linspace(0, 1000, 2001)
    equal = FixedExpansionSystem.from_learning_rates(lr, lr, lr, 0.25 * lr)
    d_eq = integrate_fixed_expansion(z0, equal, t_max=1000, t_eval=t).distance2
    assert np.all(np.diff(d_eq) <= 1e-12 * d_eq[0])
    fig10 = FixedExpansionSystem.from_learning_rates(lr, 10 * lr, lr, 0.25 * lr)
    res = integrate_fixed_expansion(z0, fig10, t_max=1000, t_eval=t)
    d = res.distance2
    assert res.success
    assert d.max() > 5 * d[0]            # initial divergence
    assert d[-1] < 1e-2 * d[0]           # then merger
    assert np.argmax(d) > 0 and np.all(np.diff(d[np.argmax(d):]) <= 1e-12)


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="tau_h1"):
        FixedExpansionSystem(tau_h1=0, tau_h2=1, tau_y=1, tau_b=1)
    with pytest.raises(ValueError, match="y12"):
        FixedExpansionSystem(tau_h1=1, tau_h2=1, tau_y=1, tau_b=1, y11=1, y12=2, y22=1)
    system = FixedExpansionSystem(tau_h1=1, tau_h2=1, tau_y=1, tau_b=1)
    with pytest.raises(ValueError, match="Cauchy"):
        integrate_fixed_expansion([0, 1, 5, 0, 0, 1, 1, 0, 0], system, t_max=1)
    with pytest.raises(ValueError, match="shape"):
        integrate_fixed_expansion([0, 1], system, t_max=1)
