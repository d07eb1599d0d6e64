"""Pair measurements (H, N, dy_i = J_i dh, ỹ_i, w_i, Y, W, S) against independent routes."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from rnn.parity import elman
from rnn.measure.pairs import measure_pairs, measure_pairs_over_training, pair_measurements, plan_pairs
from rnn.parity.data import all_sequences, parity, sample_sequences
from validation.common.runtime import torch_threads


@pytest.fixture(autouse=True)
def single_torch_thread():
    """Tiny matmuls: one intra-op thread avoids spin-wait contention on a loaded 2-core machine."""
    with torch_threads(1):
        yield


def linear_regime_params(P=6, seed=0):
    """ReLU net whose pre-activations stay positive: exactly h' = W_hh h + W_ih x + b."""
    g = torch.Generator().manual_seed(seed)
    return {
        "W_ih": torch.rand(P, 2, generator=g, dtype=torch.float64),
        "b_ih": torch.ones(P, dtype=torch.float64),
        "W_hh": 0.4 * torch.rand(P, P, generator=g, dtype=torch.float64) / P,
        "b_hh": torch.zeros(P, dtype=torch.float64),
        "W_hy": torch.randn(2, P, generator=g, dtype=torch.float64),
        "b_hy": torch.randn(2, generator=g, dtype=torch.float64),
        "h0": torch.ones(P, dtype=torch.float64),
    }


def brute_force_shared(data, targets, p1, p2):
    seqs = {data.sequence(i): i for i in range(len(data))}
    shared = []
    for s, i in seqs.items():
        if s[:len(p1)] == tuple(p1):
            cont = s[len(p1):]
            j = seqs.get(tuple(p2) + cont)
            if j is not None:
                shared.append((cont, i, j))
    return sorted(shared, key=lambda c: (len(c[0]), c[0]))


prefixes = st.lists(st.integers(0, 1), min_size=0, max_size=4).map(tuple)


@settings(max_examples=40)
@given(seed=st.integers(0, 1000), p1=prefixes, p2=prefixes, frac=st.floats(0.2, 1.0))
def test_shared_continuations_match_brute_force(seed, p1, p2, frac):
    data = sample_sequences(6, frac, np.random.default_rng(seed))
    targets = parity(data.tokens)
    plan = plan_pairs(data, targets, [(p1, p2)])
    shared = brute_force_shared(data, targets, p1, p2)
    assert plan.N[0] == len(shared)
    conts = [tuple(int(t) for t in plan.cont_tokens[k, :plan.cont_lengths[k]]) for k in range(plan.n_entries)]
    assert conts == [c for c, _, _ in shared]
    np.testing.assert_array_equal(plan.index1, [i for _, i, _ in shared])
    np.testing.assert_array_equal(plan.index2, [j for _, _, j in shared])
    eye = np.eye(2)
    np.testing.assert_array_equal(plan.y_tilde, [eye[targets[j]] - eye[targets[i]] for _, i, j in shared]
                                  if shared else np.zeros((0, 2)))
    assert plan.n_min[0] == (min(len(c) for c, _, _ in shared) if shared else -1)
    assert (plan.m1[0], plan.m2[0]) == (len(p1), len(p2))


def test_full_data_count_matches_closed_form():
    # docs/theory.md §3: with all sequences up to L, N = 2^(L - max(m1, m2) + 1) - 1
    L = 7
    data = all_sequences(L)
    pairs = [((0,), (1, 1)), ((0, 1, 0), (1, 1, 1)), ((1,) * 5, (0,))]
    plan = plan_pairs(data, parity(data.tokens), pairs)
    expect = [2 ** (L - max(len(a), len(b)) + 1) - 1 for a, b in pairs]
    np.testing.assert_array_equal(plan.N, expect)
    np.testing.assert_array_equal(plan.n_min, 0)


def test_identical_prefixes_have_zero_distance_and_zero_dy():
    data = all_sequences(5)
    params = elman.init_params(hidden=8, gain=1.0, seed=3)
    m = pair_measurements(params, data, parity(data.tokens), [((0, 1), (0, 1)), ((1,), (1,))])
    assert np.all(m.H == 0) and np.all(m.dy == 0) and np.all(m.dy_actual == 0)
    assert np.all(m.Y == 0) and np.all(m.W == 0) and np.all(m.S == 0)


def test_linear_rnn_dy_is_readout_times_matrix_power():
    data = all_sequences(5)
    params = linear_regime_params()
    pairs = [((0,), (1,)), ((0, 0), (1, 1, 0)), ((), (1, 0))]
    m = pair_measurements(params, data, parity(data.tokens), pairs)
    W_hh, W_hy = params["W_hh"].numpy(), params["W_hy"].numpy()
    for k in range(m.pair.size):
        h1 = elman.run(params, torch.tensor(pairs[m.pair[k]][0], dtype=torch.long)) if pairs[m.pair[k]][0] else params["h0"]
        h2 = elman.run(params, torch.tensor(pairs[m.pair[k]][1], dtype=torch.long))
        dh = (h2 - h1).numpy()
        expect = W_hy @ np.linalg.matrix_power(W_hh, int(m.cont_lengths[k])) @ dh
        np.testing.assert_allclose(m.dy[k], expect, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(m.dy_actual[k], expect, rtol=1e-10, atol=1e-14)
    assert np.nanmax(m.taylor_ratio) < 1e-8  # a linear map has no second-order term


def test_jvp_matches_finite_differences_for_tanh():
    data = all_sequences(5)
    params = elman.init_params(hidden=10, gain=1.5, seed=5, dtype=torch.float64)
    pairs = [((0, 1), (1, 1)), ((0,), (1, 0, 1))]
    plan = plan_pairs(data, parity(data.tokens), pairs)
    m = measure_pairs(params, plan, nonlinearity="tanh")
    eps = 1e-6
    for k in range(0, plan.n_entries, 5):
        p1, p2 = pairs[plan.pair[k]]
        h1 = elman.run(params, torch.tensor(p1), "tanh")
        h2 = elman.run(params, torch.tensor(p2), "tanh")
        s = torch.tensor(plan.cont_tokens[k, :plan.cont_lengths[k]], dtype=torch.long)

        def y(h):
            return elman.readout(params, elman.run(params, s, "tanh", h=h) if s.numel() else h)

        mid, dh = 0.5 * (h1 + h2), h2 - h1
        fd = (y(mid + eps * dh) - y(mid - eps * dh)) / (2 * eps)
        np.testing.assert_allclose(m.dy[k], fd.numpy(), rtol=1e-6, atol=1e-10)
        np.testing.assert_allclose(m.dy_actual[k], (y(h2) - y(h1)).numpy(), rtol=1e-10, atol=1e-13)
        second = 0.5 * (y(h1) + y(h2)) - y(mid)
        assert m.taylor_ratio[k] == pytest.approx(float(second.norm() / (0.5 * fd).norm()), rel=1e-5)


def test_averages_and_alignment_per_pair():
    data = sample_sequences(6, 0.8, np.random.default_rng(2))
    targets = parity(data.tokens)
    params = elman.init_params(hidden=12, gain=0.8, seed=1)
    pairs = [((0,), (1,)), ((1, 1), (0, 0)), ((0, 1, 1), (1,))]
    m = pair_measurements(params, data, targets, pairs)
    for j in range(len(pairs)):
        sel = m.pair == j
        dy, yt = m.dy[sel], m.y_tilde[sel]
        w = np.sum(dy * (dy - yt), axis=1)
        np.testing.assert_allclose(m.w[sel], w, rtol=1e-12)
        assert m.Y[j] == pytest.approx(np.mean(np.sum(dy**2, axis=1)), rel=1e-12)
        assert m.W[j] == pytest.approx(np.mean(w), rel=1e-12)
        assert m.S[j] == pytest.approx(np.mean(np.sum(yt**2, axis=1)), rel=1e-12)
    # parities differ, agree, differ; an agreeing pair has ỹ = 0, so w_i = ‖dy_i‖² >= 0
    np.testing.assert_array_equal(m.S, [2.0, 0.0, 2.0])
    assert np.all(m.w[m.pair == 1] >= 0)


def test_tracked_measurements_stack_single_snapshots():
    data = all_sequences(4)
    targets = parity(data.tokens)
    snaps = [elman.init_params(hidden=6, gain=g, seed=0) for g in (0.5, 1.0, 1.5)]
    plan = plan_pairs(data, targets, [((0,), (1,)), ((0, 0), (1, 1))])
    tracked = measure_pairs_over_training(snaps, plan)
    assert tracked.H.shape == (3, 2) and tracked.dy.shape == (3, plan.n_entries, 2)
    for i, p in enumerate(snaps):
        single = measure_pairs(p, plan)
        np.testing.assert_allclose(tracked.H[i], single.H)
        np.testing.assert_allclose(tracked.dy[i], single.dy)
        np.testing.assert_allclose(tracked.W[i], single.W)


def test_bad_input_is_rejected():
    data = all_sequences(3)
    with pytest.raises(ValueError, match="targets"):
        plan_pairs(data, np.zeros(3, int), [((0,), (1,))])
    with pytest.raises(ValueError, match="tokens"):
        plan_pairs(data, parity(data.tokens), [((0, 2), (1,))])
    with pytest.raises(ValueError, match="nonlinearity"):
        measure_pairs(elman.init_params(hidden=4), plan_pairs(data, parity(data.tokens), [((0,), (1,))]),
                      nonlinearity="gelu")
    with pytest.raises(ValueError, match="param_snapshots"):
        measure_pairs_over_training([], plan_pairs(data, parity(data.tokens), [((0,), (1,))]))
