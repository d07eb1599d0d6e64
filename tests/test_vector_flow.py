"""Full vector gradient flow beyond the Ansatz (interaction/vector_flow.py, docs/theory.md §2.8)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interaction.closed_form import a_high, a_low, final_distance
from interaction.vector_flow import (VectorFlowSystem, exact_agreeing_final_distance,
                                     integrate_vector_flow, invariant_matrix, linearised_loss,
                                     loss_gradients, pair_scalars)


def _random_pair(rng, d, N, p, target_scale=1.0):
    return (rng.normal(size=d), 0.7 * rng.normal(size=(N, p, d)),
            target_scale * rng.normal(size=(N, p)))


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    d, N, p = 4, 3, 2
    params = {"h1": rng.normal(size=d), "h2": rng.normal(size=d), "ybar": rng.normal(size=(N, p)),
              "D": rng.normal(size=(N, p, d))}
    ystar1, ystar2 = rng.normal(size=(N, p)), rng.normal(size=(N, p))
    grads = loss_gradients(**params, ystar1=ystar1, ystar2=ystar2)
    eps = 1e-6
    for name, value in params.items():
        fd = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            plus, minus = {k: v.copy() for k, v in params.items()}, {k: v.copy() for k, v in params.items()}
            plus[name][idx] += eps
            minus[name][idx] -= eps
            fd[idx] = (linearised_loss(**plus, ystar1=ystar1, ystar2=ystar2)
                       - linearised_loss(**minus, ystar1=ystar1, ystar2=ystar2)) / (2 * eps)
        np.testing.assert_allclose(grads[name], fd, rtol=1e-7, atol=1e-9)


def test_reduced_flow_is_the_gradient_flow_of_eq15():
    rng = np.random.default_rng(1)
    d, N, p = 3, 2, 2
    h1, h2 = rng.normal(size=d), rng.normal(size=d)
    ybar, D = rng.normal(size=(N, p)), rng.normal(size=(N, p, d))
    ystar1, ystar2 = rng.normal(size=(N, p)), rng.normal(size=(N, p))
    tau_h1, tau_h2, tau_y = 0.7, 2.0, 1.3
    g = loss_gradients(h1, h2, ybar, D, ystar1, ystar2)
    tau_h = 1.0 / (1.0 / tau_h1 + 1.0 / tau_h2)
    system = VectorFlowSystem(targets=ystar2 - ystar1, hidden_dim=d, tau_h=tau_h, tau_y=tau_y)
    rhs = system.rhs(0.0, system.pack(h2 - h1, D))
    d_dh, d_D = system.unpack(rhs)
    np.testing.assert_allclose(d_dh, -g["h2"] / tau_h2 + g["h1"] / tau_h1, rtol=1e-12)
    np.testing.assert_allclose(d_D, -g["D"] / tau_y, rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hidden_dimension_one_reproduces_closed_form(seed):
    rng = np.random.default_rng(seed)
    N, p, tau_h, tau_y = 3, 2, 1.0, 0.8
    dh0, D0, targets = _random_pair(rng, 1, N, p, target_scale=0.5)
    sc = pair_scalars(dh0, D0, targets)
    expected = final_distance(a_high(sc["H"], sc["Y"], N=N, tau_h=tau_h, tau_y=tau_y),
                              a_low(sc["S"], N=N, tau_h=tau_h, tau_y=tau_y))
    res = integrate_vector_flow(dh0, D0, targets, tau_h=tau_h, tau_y=tau_y, t_max=4000.0)
    assert res.success
    np.testing.assert_allclose(res.scalars()["H"][-1], expected, rtol=1e-6)


# Seeds with a clear margin |λ_max| (near λ_max = 0 the approach is arbitrarily slow);
# (3, 7) and (4, 7) merge, the others do not.
@pytest.mark.parametrize("d, seed", [(3, 7), (3, 1), (4, 7), (5, 1), (8, 2)])
def test_exact_agreeing_result_and_conserved_matrix(d, seed):
    rng = np.random.default_rng(seed)
    N, p, tau_h, tau_y = 2, 2, 1.0, 1.5
    dh0, D0, _ = _random_pair(rng, d, N, p)
    targets = np.zeros((N, p))
    M0 = np.mean(np.einsum("ipd,ipe->ide", D0, D0), axis=0)
    exact = exact_agreeing_final_distance(dh0, M0, N * tau_y / tau_h)
    res = integrate_vector_flow(dh0, D0, targets, tau_h=tau_h, tau_y=tau_y, t_max=5000.0)
    assert res.success
    H_end = res.scalars()["H"][-1]
    assert (exact == 0) == (seed == 7)
    np.testing.assert_allclose(H_end, exact, rtol=1e-6, atol=1e-9 * dh0 @ dh0)
    C = invariant_matrix(res.dh, res.D, tau_h=tau_h, tau_y=tau_y)
    np.testing.assert_allclose(C, np.broadcast_to(C[0], C.shape), atol=1e-8 * np.abs(C[0]).max())
    # A_high is the Rayleigh quotient of aC at dh0 and a lower bound of the exact result.
    sc = pair_scalars(dh0, D0, targets)
    A = a_high(sc["H"], sc["Y"], N=N, tau_h=tau_h, tau_y=tau_y)
    np.testing.assert_allclose(dh0 @ (C[0] / tau_h) @ dh0 / (dh0 @ dh0), A, rtol=1e-12)
    assert exact >= max(0.0, A) - 1e-12


def test_negative_a_high_without_merger():
    # dh0 has a component outside range(M0): A_high < 0, yet the pair does not merge.
    dh0 = np.array([1.0, 0.5])
    D0 = np.array([[[2.0, 0.0]]])  # N = p = 1, M0 = diag(4, 0)
    targets = np.zeros((1, 1))
    tau_h = tau_y = 1.0
    sc = pair_scalars(dh0, D0, targets)
    A = a_high(sc["H"], sc["Y"], N=1, tau_h=tau_h, tau_y=tau_y)
    assert A < 0 and final_distance(A, 0.0) == 0.0
    exact = exact_agreeing_final_distance(dh0, np.diag([4.0, 0.0]), 1.0)
    np.testing.assert_allclose(exact, (-2.75 + np.sqrt(2.75**2 + 4.0)) / 2, rtol=1e-12)
    res = integrate_vector_flow(dh0, D0, targets, tau_h=tau_h, tau_y=tau_y, t_max=3000.0)
    np.testing.assert_allclose(res.scalars()["H"][-1], exact, rtol=1e-6)


@settings(max_examples=40)
@given(seed=st.integers(0, 10_000), d=st.integers(1, 6), N=st.integers(1, 4),
       r=st.floats(0.05, 20.0))
def test_exact_result_bounds_a_high(seed, d, N, r):
    rng = np.random.default_rng(seed)
    dh0, D0 = rng.normal(size=d), rng.normal(size=(N, 2, d))
    M0 = np.mean(np.einsum("ipd,ipe->ide", D0, D0), axis=0)
    H0 = dh0 @ dh0
    A = H0 - r * (dh0 @ M0 @ dh0) / H0
    exact = exact_agreeing_final_distance(dh0, M0, r)
    assert exact >= max(0.0, A) - 1e-9 * (1 + abs(A))
    if d == 1:
        np.testing.assert_allclose(exact, max(0.0, A), rtol=1e-9, atol=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="D"):
        integrate_vector_flow(np.ones(3), np.ones((2, 2, 4)), np.zeros((2, 2)), tau_h=1, tau_y=1,
                              t_max=1)
    with pytest.raises(ValueError, match="targets"):
        integrate_vector_flow(np.ones(3), np.ones((2, 2, 3)), np.zeros((2, 3)), tau_h=1, tau_y=1,
                              t_max=1)
    with pytest.raises(ValueError, match="tau_h"):
        integrate_vector_flow(np.ones(3), np.ones((2, 2, 3)), np.zeros((2, 2)), tau_h=0, tau_y=1,
                              t_max=1)
    with pytest.raises(ValueError, match="r"):
        exact_agreeing_final_distance(np.ones(2), np.eye(2), -1.0)
    with pytest.raises(ValueError, match="M0"):
        exact_agreeing_final_distance(np.ones(2), np.eye(3), 1.0)


def test_crossing_of_eq20_is_a_physical_pass_through_in_dimension_one():
    # Eq. 20 reaches H = 0 in finite time here; in d = 1 (where eq. 20 is exact) the vector
    # flow shows dh changing sign at the same time, and the pair still ends at eq. 5's H₊.
    from interaction.batched import integrate_three_scalar_batched
    H0, Y0, W0, S, tau_h, tau_y = 0.4222, 1.0177, 1.6178, 0.7530, 1.3, 0.8
    q = Y0 - W0  # dy·ỹ
    dh0 = np.array([np.sqrt(H0)])
    D0 = (np.array([np.sqrt(Y0), 0.0]) / dh0[0]).reshape(1, 2, 1)
    targets = np.array([[q / np.sqrt(Y0), np.sqrt(S - q * q / Y0)]])
    sc = pair_scalars(dh0, D0, targets)
    np.testing.assert_allclose([sc["H"], sc["Y"], sc["W"], sc["S"]], [H0, Y0, W0, S], rtol=1e-12)
    batched = integrate_three_scalar_batched(H0, Y0, W0, S=S, N=1, tau_h=tau_h, tau_y=tau_y,
                                             t_max=400.0, rtol=1e-11, atol=1e-14)
    assert batched.n_crossings == 1
    res = integrate_vector_flow(dh0, D0, targets, tau_h=tau_h, tau_y=tau_y, t_max=400.0)
    sign_change = np.nonzero(np.diff(np.sign(res.dh[:, 0])))[0]
    assert sign_change.size == 1
    k = sign_change[0]
    assert res.t[k] <= batched.t_first_crossing <= res.t[k + 1]
    np.testing.assert_allclose(res.scalars()["H"][-1], batched.final("H"), rtol=1e-6)
