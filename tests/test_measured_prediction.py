"""rnn.measure.prediction: measured A_high / A_low / merger predictions against independent routes."""
import numpy as np
import pytest
import torch

from rnn.measure.prediction import (
    KINDS,
    cell_prediction,
    cell_threshold,
    predict_ensemble_pairs,
    predict_pairs,
    scaling_diagnostics,
)
from rnn.parity import elman
from rnn.parity.data import PAD, SequenceSet, all_sequences, parity
from rnn.parity.kernels import stack_params


# Tiny matmuls: one intra-op thread avoids spin-wait contention on a loaded machine.
pytestmark = pytest.mark.usefixtures("one_thread")


def random_params(P=5, scale=0.8, seed=0, n_out=2):
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return scale * torch.randn(*shape, generator=g, dtype=torch.float64)

    return {"W_ih": r(P, 2), "b_ih": r(P), "W_hh": r(P, P) / np.sqrt(P), "b_hh": r(P),
            "W_hy": r(n_out, P), "b_hy": r(n_out), "h0": r(P)}


def linear_regime_params(P=5, seed=0):
    """ReLU net that is exactly linear on every reachable state: W_hh >= 0, h >= 0, bias 1 > |W_ih|."""
    g = torch.Generator().manual_seed(seed)
    return {"W_ih": 0.9 * (2 * torch.rand(P, 2, generator=g, dtype=torch.float64) - 1),
            "b_ih": torch.ones(P, dtype=torch.float64),
            "W_hh": 0.8 * torch.rand(P, P, generator=g, dtype=torch.float64) / P,
            "b_hh": torch.zeros(P, dtype=torch.float64),
            "W_hy": torch.randn(2, P, generator=g, dtype=torch.float64),
            "b_hy": torch.randn(2, generator=g, dtype=torch.float64),
            "h0": torch.ones(P, dtype=torch.float64)}


def own_step(p, h, tok, phi):
    """Independent Elman step (not rnn.parity.elman): returns the state and the pre-activation."""
    pre = p["W_hh"] @ h + p["W_ih"][:, tok] + p["b_ih"] + p["b_hh"]
    return phi(pre), pre


def own_state(p, tokens, phi, h=None):
    h = p["h0"].clone() if h is None else h
    pres = []
    for tok in tokens:
        h, pre = own_step(p, h, tok, phi)
        pres.append(pre)
    return h, pres


def shared_continuations(data, p1, p2):
    seqs = {data.sequence(i): i for i in range(len(data))}
    out = []
    for s, i in seqs.items():
        if s[:len(p1)] == tuple(p1) and tuple(p2) + s[len(p1):] in seqs:
            out.append((s[len(p1):], i, seqs[tuple(p2) + s[len(p1):]]))
    return out


PAIRS = [((0,), (1, 1)), ((1,), (0, 1)), ((0, 1), (1, 0, 0)), ((1, 1), (0, 1)), ((0,), (1,)), ((1, 0), (0, 0, 1, 1))]


def test_a_high_matches_finite_differences_of_the_continuation_maps():
    data = all_sequences(5)
    targets = parity(data.tokens)
    p = random_params()
    kappa = 0.37
    pred = predict_pairs(p, data, targets, rate_ratio=kappa, pairs=PAIRS, nonlinearity="tanh")
    assert pred.measurement_ok.all()
    eye = np.eye(2)
    delta = 1e-5
    for k, (p1, p2) in enumerate(pred.pairs()):
        h1, _ = own_state(p, p1, torch.tanh)
        h2, _ = own_state(p, p2, torch.tanh)
        dh, mid = h2 - h1, 0.5 * (h1 + h2)
        shared = shared_continuations(data, p1, p2)
        dys, yts = [], []
        for cont, i1, i2 in shared:
            def y(h, cont=cont):
                return p["W_hy"] @ own_state(p, cont, torch.tanh, h=h)[0] + p["b_hy"]
            dys.append(((y(mid + delta * dh) - y(mid - delta * dh)) / (2 * delta)).numpy())
            yts.append(eye[targets[i2]] - eye[targets[i1]])
        dys, yts = np.array(dys), np.array(yts)
        H0 = float(dh @ dh)
        Y0 = np.mean(np.sum(dys ** 2, axis=1))
        W0 = np.mean(np.sum(dys * (dys - yts), axis=1))
        S = np.mean(np.sum(yts ** 2, axis=1))
        N = len(shared)
        assert pred.N[k] == N
        np.testing.assert_allclose(pred.H0[k], H0, rtol=1e-12)
        np.testing.assert_allclose([pred.Y0[k], pred.W0[k]], [Y0, W0], rtol=1e-7, atol=1e-12)
        np.testing.assert_allclose(pred.A_high[k], H0 - N * kappa * Y0 / H0, rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(pred.A_low[k], np.sqrt(N * kappa * S), rtol=1e-12)
        np.testing.assert_allclose(pred.statistic[k], H0 ** 2 / (N * Y0), rtol=1e-7)


def test_linear_regime_dy_is_an_exact_matrix_product():
    data = all_sequences(5)
    targets = parity(data.tokens)
    p = linear_regime_params()
    kappa = 2.5
    pred = predict_pairs(p, data, targets, rate_ratio=kappa, pairs=PAIRS)
    eye = np.eye(2)
    Whh, Why = p["W_hh"].numpy(), p["W_hy"].numpy()
    for k, (p1, p2) in enumerate(pred.pairs()):
        h1, pres1 = own_state(p, p1, torch.relu)
        h2, pres2 = own_state(p, p2, torch.relu)
        assert all(bool((pre > 0).all()) for pre in pres1 + pres2)  # really the linear regime
        dh = (h2 - h1).numpy()
        shared = shared_continuations(data, p1, p2)
        dys = np.array([Why @ np.linalg.matrix_power(Whh, len(c)) @ dh for c, _, _ in shared])
        yts = np.array([eye[targets[j]] - eye[targets[i]] for _, i, j in shared])
        H0, N = dh @ dh, len(shared)
        Y0 = np.mean(np.sum(dys ** 2, axis=1))
        S = np.mean(np.sum(yts ** 2, axis=1))
        Ah, Al = H0 - N * kappa * Y0 / H0, np.sqrt(N * kappa * S)
        np.testing.assert_allclose([pred.H0[k], pred.Y0[k], pred.S[k]], [H0, Y0, S], rtol=1e-10)
        np.testing.assert_allclose(pred.W0[k], np.mean(np.sum(dys * (dys - yts), axis=1)), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose([pred.A_high[k], pred.A_low[k]], [Ah, Al], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(pred.final_distance[k], Ah / 2 + np.sqrt(Ah ** 2 / 4 + Al ** 2), rtol=1e-9, atol=1e-12)
        assert pred.predicted_merge[k] == (Al == 0 and Ah <= 0)


def test_agreeing_pairs_have_zero_S_and_disagreeing_pairs_never_merge():
    data = all_sequences(7)
    targets = parity(data.tokens)
    pred = predict_pairs(elman.init_params(hidden=12, gain=0.3, seed=1), data, targets, rate_ratio=1e6,
                         n_pairs=60, seed=3)
    agree = np.array([sum(a) % 2 == sum(b) % 2 for a, b in pred.pairs()])
    np.testing.assert_array_equal(pred.kind != "disagree", agree)
    np.testing.assert_array_equal(pred.S[agree], 0.0)
    np.testing.assert_array_equal(pred.S[~agree], 2.0)  # parity: every shared continuation differs, ‖e0 − e1‖² = 2
    np.testing.assert_array_equal(pred.A_low[agree], 0.0)
    assert np.all(pred.A_low[~agree] > 0) and not pred.predicted_merge[~agree].any()
    assert np.all(pred.final_distance[~agree] > 0)
    # a huge rate ratio makes every agreeing pair with Y0 > 0 merge
    assert pred.predicted_merge[agree].all()


def test_sampling_is_stratified_deterministic_and_shares_continuations():
    data = all_sequences(6)
    targets = parity(data.tokens)
    p = elman.init_params(hidden=8, gain=0.5, seed=0)
    pred = predict_pairs(p, data, targets, rate_ratio=1.0, n_pairs=45, seed=7)
    assert pred.n_pairs == 45
    assert [int(np.sum(pred.kind == k)) for k in KINDS] == [15, 15, 15]
    assert np.all(pred.N >= 1) and np.all(pred.m1 >= 1) and np.all(pred.m1 <= pred.m2)
    np.testing.assert_array_equal(pred.kind == "agree_cross", (pred.kind != "disagree") & (pred.m1 != pred.m2))
    pairs = pred.pairs()
    assert len(set(pairs)) == len(pairs) and all(a != b for a, b in pairs)
    assert len(set(zip(pred.m1[pred.kind == "agree_cross"], pred.m2[pred.kind == "agree_cross"]))) == 15
    again = predict_pairs(p, data, targets, rate_ratio=1.0, n_pairs=45, seed=7)
    assert again.pairs() == pairs
    explicit = predict_pairs(p, data, targets, rate_ratio=1.0, pairs=pairs)
    np.testing.assert_array_equal(explicit.kind, pred.kind)
    np.testing.assert_allclose(explicit.A_high, pred.A_high, rtol=0, atol=0)
    only_agree = predict_pairs(p, data, targets, rate_ratio=1.0, n_pairs=30, include_disagreeing=False, min_length=2)
    assert "disagree" not in only_agree.kind and np.all(only_agree.m1 >= 2)
    assert int(np.sum(only_agree.kind == "agree_cross")) == 20


def test_cell_rule_counts_only_agreeing_cross_length_pairs():
    data = all_sequences(6)
    targets = parity(data.tokens)
    p = elman.init_params(hidden=10, gain=0.4, seed=2)
    pred = predict_pairs(p, data, targets, rate_ratio=1.0, n_pairs=30, seed=0)
    z = cell_threshold(pred)
    assert np.isfinite(z) and z > 0
    assert cell_prediction(pred.with_rate_ratio(z * 1.0001))
    assert not cell_prediction(pred.with_rate_ratio(z * 0.9999))
    # with eq. 7 applied by hand: merge iff S = 0 and H0² <= N κ Y0
    q = pred.with_rate_ratio(z * 1.0001)
    np.testing.assert_array_equal(q.predicted_merge, (q.S == 0) & (q.H0 ** 2 <= q.N * q.rate_ratio * q.Y0))
    equal_only = predict_pairs(p, data, targets, rate_ratio=1e9, pairs=[((0, 1), (1, 0)), ((1, 1), (0, 0))])
    assert equal_only.predicted_merge.all() and set(equal_only.kind) == {"agree_equal"}
    assert not cell_prediction(equal_only) and cell_threshold(equal_only) == np.inf


def test_ensemble_members_match_single_network_predictions():
    data = all_sequences(5)
    targets = parity(data.tokens)
    members = [elman.init_params(hidden=6, gain=g, seed=s, dtype=torch.float64) for s, g in ((0, 0.3), (1, 1.2))]
    preds = predict_ensemble_pairs(stack_params(members), data, targets, rate_ratio=0.5, n_pairs=24, seed=4)
    assert len(preds) == 2 and preds[0].pairs() == preds[1].pairs()
    for member, pred in zip(members, preds):
        single = predict_pairs(member, data, targets, rate_ratio=0.5, pairs=pred.pairs())
        np.testing.assert_allclose(single.A_high, pred.A_high, rtol=1e-12)
    assert not np.allclose(preds[0].H0, preds[1].H0)


def test_non_finite_measurements_are_recorded_not_dropped():
    data = all_sequences(5)
    targets = parity(data.tokens)
    p = elman.init_params(hidden=4, gain=0.5, seed=0, dtype=torch.float64)
    p["W_hh"] = torch.eye(4, dtype=torch.float64) * 1e200  # finite weights, states overflow after two steps
    pred = predict_pairs(p, data, targets, rate_ratio=1.0, pairs=PAIRS)
    assert pred.n_pairs == len(PAIRS) and not pred.measurement_ok.all()
    bad = ~pred.measurement_ok
    assert np.isnan(pred.A_high[bad]).all() and np.isnan(pred.final_distance[bad]).all()
    assert not pred.predicted_merge[bad].any()
    # identical input columns: equal-length prefixes reach bit-identical states, H0 = 0 is outside eq. 20
    q = elman.init_params(hidden=4, gain=0.5, seed=0, dtype=torch.float64)
    q["W_ih"][:, 1] = q["W_ih"][:, 0]
    pred = predict_pairs(q, data, targets, rate_ratio=1.0, pairs=PAIRS)
    np.testing.assert_array_equal(pred.measurement_ok, pred.m1 != pred.m2)


def test_scaling_diagnostics_recover_G_for_a_linear_permutation_network():
    P, c = 4, 0.6
    perm = torch.eye(P, dtype=torch.float64)[[1, 2, 3, 0]]
    p = {"W_ih": 0.4 * torch.tensor([[1.0, -1.0], [0.5, 0.2], [-0.3, 0.7], [0.9, -0.6]], dtype=torch.float64),
         "b_ih": torch.ones(P, dtype=torch.float64), "W_hh": c * perm, "b_hh": torch.zeros(P, dtype=torch.float64),
         "W_hy": torch.eye(P, dtype=torch.float64), "b_hy": torch.zeros(P, dtype=torch.float64),
         "h0": torch.ones(P, dtype=torch.float64)}
    d = scaling_diagnostics(p, all_sequences(6), pairs_per_length=6)
    np.testing.assert_allclose(d.G, c ** 2, rtol=1e-10)
    # ‖W_hy (cQ)^n dh‖²/‖dh‖² = c^(2n) exactly, so the log means lie on a line of slope log G
    np.testing.assert_allclose(d.ratio_log_mean, d.n * np.log(c ** 2), atol=1e-10)
    np.testing.assert_allclose(d.slope_ratio, d.log_G, rtol=1e-9)
    assert d.H_count[0] == 1 and np.all(d.H_count[1:] == 6) and d.m[0] == 1
    assert np.isfinite(d.slope_H)


def _bad(data, targets, params, match, **kw):
    with pytest.raises(ValueError, match=match):
        predict_pairs(params, data, targets, **{"rate_ratio": 1.0, "n_pairs": 6, **kw})


def test_bad_input_names_the_argument():
    data = all_sequences(4)
    targets = parity(data.tokens)
    p = elman.init_params(hidden=5, gain=0.5)
    _bad(data, targets, {**p, "W_hh": torch.zeros(5, 4)}, r"params\['W_hh'\]")
    _bad(data, targets, {**p, "W_hy": torch.zeros(2, 3)}, r"params\['W_hy'\]")
    _bad(data, targets, {k: v for k, v in p.items() if k != "h0"}, r"params must have the keys")
    _bad(data, targets, {**p, "b_hh": torch.full((5,), float("nan"))}, r"params\['b_hh'\].*non-finite")
    _bad(data, targets[:-1], p, r"targets must")
    _bad(data, targets + 5, p, r"targets must lie in \[0, 1\]")
    _bad(data.tokens, targets, p, r"data must be an rnn.parity.SequenceSet")
    _bad(SequenceSet(data.tokens, data.lengths[:-1]), targets, p, r"data must hold")
    _bad(SequenceSet(data.tokens + 2, data.lengths), targets, p, r"data.tokens")
    _bad(SequenceSet(np.where(data.tokens >= 0, 2, PAD).astype(np.int8), data.lengths), targets, p, r"data tokens")
    _bad(data, targets, p, r"rate_ratio", rate_ratio=0.0)
    _bad(data, targets, p, r"seed", seed=-1)
    _bad(data, targets, p, r"n_pairs", n_pairs=0)
    _bad(data, targets, p, r"nonlinearity", nonlinearity="sigmoid")
    # '0' continues only with '0', '11' only with '1': no shared continuation
    tokens = np.array([[0, 0, PAD], [1, 1, 1]], dtype=np.int8)
    two = SequenceSet(tokens, np.array([2, 3]))
    _bad(two, np.array([0, 1]), p, r"pairs\[1\] = \(\(0,\), \(1, 1\)\) shares no continuation",
         pairs=[((0, 0), (1, 1, 1)), ((0,), (1, 1))])
    _bad(SequenceSet(np.array([[0]], dtype=np.int8), np.array([1])), np.array([0]), p, r"data: no pair")
    with pytest.raises(ValueError, match=r"params\['W_hh'\] must be \(E, P, P\)"):
        predict_ensemble_pairs(p, data, targets, rate_ratio=1.0)
    with pytest.raises(ValueError, match=r"params\['W_ih'\]"):
        scaling_diagnostics({**p, "W_ih": torch.zeros(4, 2)}, data)


def test_prefixes_need_not_be_training_sequences():
    data = all_sequences(4, min_length=4)  # only length-4 sequences: shorter prefixes are not in the data
    pred = predict_pairs(elman.init_params(hidden=6, gain=0.5), data, parity(data.tokens), rate_ratio=1.0,
                         n_pairs=30, seed=1)
    assert set(pred.m1.tolist()) >= {1, 2, 3} and np.all(pred.N >= 1)
    np.testing.assert_array_equal(pred.N[pred.m2 == 4], 1)  # two length-4 sequences share only the empty continuation
