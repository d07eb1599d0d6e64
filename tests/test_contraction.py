"""The contraction factor G of the recurrent map (docs/theory.md §3.2)."""
import numpy as np
import pytest
import torch

from rnn.parity import elman
from rnn.measure.contraction import contraction_ratios, estimate_contraction, reachable_states


def permutation_network(c, P=20, seed=0):
    """ReLU net with non-negative weights (so it acts linearly): f(h, x) = c·Π h + W_ih x + b, Π a permutation."""
    rng = np.random.default_rng(seed)
    return {"W_ih": rng.uniform(0, 1, (P, 2)), "b_ih": np.full(P, 0.5), "W_hh": c * np.eye(P)[rng.permutation(P)],
            "b_hh": np.zeros(P), "W_hy": rng.normal(size=(2, P)), "b_hy": np.zeros(2), "h0": np.ones(P)}


@pytest.mark.parametrize("c", [0.3, 0.9, 1.4])
def test_orthogonal_linear_map_gives_c_squared(c):
    params = permutation_network(c)
    assert estimate_contraction(params) == pytest.approx(c**2, rel=1e-9)
    assert estimate_contraction(params, average="arithmetic") == pytest.approx(c**2, rel=1e-9)


def test_diagonal_linear_map_bounded_by_its_spectrum():
    params = permutation_network(1.0)
    d = np.linspace(0.2, 0.8, 20)
    params["W_hh"] = np.diag(d)
    rho = contraction_ratios(params)
    rho = rho[np.isfinite(rho)]
    # ‖D v‖²/‖v‖² lies between the smallest and largest squared eigenvalue
    assert rho.min() >= d.min() ** 2 * (1 - 1e-12) and rho.max() <= d.max() ** 2 * (1 + 1e-12)
    G = estimate_contraction(params)
    assert d.min() ** 2 < G < d.max() ** 2


def test_G_grows_with_xavier_gain_and_matches_members():
    gains = [0.1, 0.3, 0.6, 1.0]
    nets = [elman.init_params(hidden=40, gain=g, seed=7) for g in gains]
    stacked = {k: np.stack([n[k].numpy() for n in nets]) for k in nets[0]}
    G = estimate_contraction(stacked)
    assert G.shape == (4,) and np.all(np.diff(G) > 0)
    for g_member, net in zip(G, nets):
        assert estimate_contraction(net) == pytest.approx(g_member, rel=1e-10)
    # geometric mean <= arithmetic mean
    assert np.all(G <= estimate_contraction(stacked, average="arithmetic"))


def test_reachable_states_follow_the_network():
    net = elman.init_params(hidden=5, gain=1.0, seed=1, dtype=torch.float64)
    states = reachable_states(net, depth=3)[0]
    assert states.shape == (15, 5)
    np.testing.assert_allclose(states[0], net["h0"].numpy())
    # depth-3 block: symbol-major order of the trie; compare the set with direct runs
    tokens = torch.tensor([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)])
    direct = elman.run(net, tokens).numpy()
    got = states[7:]
    assert all(np.min(np.abs(got - row).sum(axis=1)) < 1e-12 for row in direct)


def test_bad_input_is_rejected():
    net = elman.init_params(hidden=4)
    with pytest.raises(ValueError, match="nonlinearity"):
        estimate_contraction(net, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="average"):
        estimate_contraction(net, average="median")
    with pytest.raises(ValueError, match="depth"):
        estimate_contraction(net, depth=0)
    with pytest.raises(ValueError, match="params"):
        estimate_contraction({"W_hh": np.eye(3)})
