"""The batched, prefix-shared ensemble trainer against plain single-network torch autograd."""
from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnn.parity import elman
from rnn.parity.data import (
    SequenceSet,
    all_sequences,
    parity,
    random_sequences,
    sample_sequences,
)
from rnn.parity import (
    EnsembleResult,
    TrainConfig,
    evaluate,
    hidden_states,
    loss_and_gradients,
    paper_minibatches,
    readout_of,
    stack_params,
    train_ensemble,
)

TRAINED = ("W_ih", "b_ih", "W_hh", "b_hh", "W_hy", "b_hy")


def plain_loss(params, data: SequenceSet, targets, index, nonlinearity, loss):
    """Mean loss over ``data[index]`` stepping every sequence separately (no prefix sharing)."""
    index = np.asarray(index)
    outputs, labels = [], []
    for n in np.unique(data.lengths[index]):
        rows = index[data.lengths[index] == n]
        tokens = torch.as_tensor(data.tokens[rows, :n], dtype=torch.long)
        outputs.append(elman.readout(params, elman.run(params, tokens, nonlinearity)))
        labels.append(torch.as_tensor(targets[rows]))
    y, labels = torch.cat(outputs), torch.cat(labels)
    if loss == "mse":
        return torch.nn.functional.mse_loss(y, torch.nn.functional.one_hot(labels, y.shape[1]).to(y.dtype))
    return torch.nn.functional.cross_entropy(y, labels)


def plain_training(seed, gain, lr, data, targets, config: TrainConfig):
    """One network, torch autograd, SGD by hand, the minibatch order of ``paper_minibatches``."""
    params = elman.init_params(hidden=config.hidden, gain=gain, seed=seed, h0=config.h0,
                               dtype=config.torch_dtype)
    rng = np.random.default_rng(config.shuffle_seed)
    everything = np.arange(len(data))
    losses = []
    for epoch in range(config.max_epochs + 1):
        with torch.no_grad():
            losses.append(float(plain_loss(params, data, targets, everything, config.nonlinearity, config.loss)))
        if epoch == config.max_epochs:
            break
        batches = ([everything] if config.protocol == "full_batch"
                   else paper_minibatches(data.lengths, config.batch_size, rng))
        for batch in batches:
            leaves = {k: v.clone().requires_grad_(k in TRAINED) for k, v in params.items()}
            value = plain_loss(leaves, data, targets, batch, config.nonlinearity, config.loss)
            grads = torch.autograd.grad(value, [leaves[k] for k in TRAINED])
            params = dict(params)
            for k, g in zip(TRAINED, grads):
                params[k] = params[k] - lr * g
    return params, np.array(losses)


@pytest.mark.parametrize("protocol, loss, nonlinearity", [
    ("paper", "mse", "relu"), ("paper", "ce", "tanh"), ("full_batch", "ce", "relu")])
def test_member_reproduces_single_network_run(protocol, loss, nonlinearity):
    data = sample_sequences(5, 0.8, np.random.default_rng(3))
    targets = parity(data.tokens)
    config = TrainConfig(hidden=6, loss=loss, nonlinearity=nonlinearity, lr=0.3, batch_size=5,
                         protocol=protocol, max_epochs=4, dtype="float64", shuffle_seed=11)
    seeds, gains = [4, 5, 6], [0.7, 1.0, 1.6]
    result = train_ensemble(data, targets, config=config, seeds=seeds, gains=gains)
    assert list(result.status) == ["capped"] * 3 and list(result.epochs) == [4] * 3
    for i, (seed, gain) in enumerate(zip(seeds, gains)):
        params, losses = plain_training(seed, gain, config.lr, data, targets, config)
        np.testing.assert_allclose(result.train_loss[i], losses, rtol=1e-10)
        for k in TRAINED:
            np.testing.assert_allclose(result.params[k][i], params[k].numpy(), rtol=1e-9, atol=1e-12)
        init = elman.init_params(hidden=6, gain=gain, seed=seed, dtype=torch.float64)
        np.testing.assert_array_equal(result.initial_params["W_hh"][i], init["W_hh"].numpy())
    # the training actually moved the parameters (the comparison is not vacuous)
    assert np.abs(result.params["W_hh"] - result.initial_params["W_hh"]).max() > 1e-3


def test_float32_member_matches_float64_run():
    data = all_sequences(4)
    targets = parity(data.tokens)
    runs = [train_ensemble(data, targets, config=TrainConfig(hidden=8, lr=0.1, batch_size=4, max_epochs=5,
                                                             dtype=dt), seeds=[1], gains=[1.0])
            for dt in ("float32", "float64")]
    assert runs[0].params["W_hh"].dtype == np.float32
    np.testing.assert_allclose(runs[0].train_loss, runs[1].train_loss, rtol=1e-4)


@settings(max_examples=15)
@given(seed=st.integers(0, 10_000), fraction=st.floats(0.2, 1.0), nonlinearity=st.sampled_from(["relu", "tanh"]),
       loss=st.sampled_from(["mse", "ce"]))
def test_prefix_shared_gradients_equal_plain_autograd(seed, fraction, nonlinearity, loss):
    data = sample_sequences(5, fraction, np.random.default_rng(seed))
    targets = parity(data.tokens)
    members = [elman.init_params(hidden=5, gain=g, seed=seed + i, dtype=torch.float64)
               for i, g in enumerate([0.6, 1.4])]
    value, grads = loss_and_gradients(stack_params(members), data, targets, nonlinearity=nonlinearity, loss=loss)
    for i, params in enumerate(members):
        leaves = {k: v.clone().requires_grad_(k in TRAINED) for k, v in params.items()}
        plain = plain_loss(leaves, data, targets, np.arange(len(data)), nonlinearity, loss)
        expected = torch.autograd.grad(plain, [leaves[k] for k in TRAINED])
        assert value[i] == pytest.approx(float(plain.detach()), rel=1e-12)
        for k, g in zip(TRAINED, expected):
            np.testing.assert_allclose(grads[k][i].numpy(), g.numpy(), rtol=1e-9, atol=1e-14)


def test_diverging_member_is_reported_and_others_are_unaffected():
    data = all_sequences(4)
    targets = parity(data.tokens)
    config = TrainConfig(hidden=8, batch_size=8, max_epochs=8, dtype="float64")
    both = train_ensemble(data, targets, config=config, seeds=[0, 1, 2], gains=[1.0, 1.0, 1.0],
                          lrs=[0.05, 1e4, 0.05])
    assert list(both.status) == ["capped", "diverged", "capped"]
    assert both.epochs[1] < 8 and not np.isfinite(both.train_loss[1, both.epochs[1]])
    assert np.all(np.isnan(both.train_loss[1, both.epochs[1] + 1:]))
    alone = train_ensemble(data, targets, config=config, seeds=[0, 2], gains=[1.0, 1.0], lrs=[0.05, 0.05])
    for k in TRAINED:
        np.testing.assert_allclose(both.params[k][[0, 2]], alone.params[k], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(both.train_loss[[0, 2]], alone.train_loss, rtol=1e-12)


def test_small_run_learns_parity_and_stops_when_converged():
    data = all_sequences(6)
    targets = parity(data.tokens)
    config = TrainConfig(hidden=32, loss="ce", lr=0.1, batch_size=16, max_epochs=600, loss_threshold=1e-2)
    result = train_ensemble(data, targets, config=config, seeds=[0, 1], gains=[1.0, 1.0])
    assert isinstance(result, EnsembleResult)
    assert list(result.status) == ["converged", "converged"]
    assert np.all(result.final_loss() < 1e-2) and np.all(result.train_loss[:, 0] > 0.5)
    loss, accuracy = evaluate(result.params, data.of_length(6), targets[data.lengths == 6], loss="ce")
    np.testing.assert_array_equal(accuracy, [1.0, 1.0])
    member = result.member_params(1)
    out = elman.readout(member, elman.run(member, torch.as_tensor(data.of_length(6), dtype=torch.long)))
    assert torch.equal(out.argmax(1), torch.as_tensor(targets[data.lengths == 6]))


def test_tracked_hidden_states_match_elman_run():
    data = all_sequences(4)
    targets = parity(data.tokens)
    config = TrainConfig(hidden=7, lr=0.1, batch_size=8, max_epochs=3, dtype="float64")
    track = SequenceSet(np.array([[1, 0, 1], [0, -1, -1], [1, 1, -1]], np.int8), np.array([3, 1, 2]))
    rng = np.random.default_rng(1)
    validation = {name: (t, parity(t)) for name, t in [("short", random_sequences(7, 9, rng)),
                                                       ("long", random_sequences(40, 5, rng)),
                                                       ("also 7", random_sequences(7, 3, rng))]}
    result = train_ensemble(data, targets, config=config, seeds=[0, 1], gains=[0.5, 1.5],
                            track_epochs=[0, 3], track_data=track, validation=validation,
                            validation_epochs=[0, 3])
    assert result.tracked_hidden.shape == (2, 2, 4, 7) and result.tracked_output.shape == (2, 2, 4, 2)
    for row, snapshot in enumerate([result.initial_params, result.params]):
        for name, (tokens, labels) in validation.items():  # sets stepped together = each set alone
            loss, accuracy = evaluate(snapshot, tokens, labels)
            np.testing.assert_allclose(result.validation_loss[name][:, row], loss, rtol=1e-12)
            np.testing.assert_allclose(result.validation_accuracy[name][:, row], accuracy)
        for i in range(2):
            params = {k: torch.as_tensor(v[i]) for k, v in snapshot.items()}
            np.testing.assert_allclose(result.tracked_hidden[row, i, 0], params["h0"].numpy())
            for j in range(len(track)):
                h = elman.run(params, torch.as_tensor(track.sequence(j)))
                np.testing.assert_allclose(result.tracked_hidden[row, i, 1 + j], h.numpy(), rtol=1e-12)
                np.testing.assert_allclose(result.tracked_output[row, i, 1 + j],
                                           elman.readout(params, h).numpy(), rtol=1e-12)
    np.testing.assert_allclose(hidden_states(result.params, track), result.tracked_hidden[1], rtol=1e-12)


def test_evaluate_matches_elman_on_long_sequences():
    members = [elman.init_params(hidden=6, gain=g, seed=i) for i, g in enumerate([0.8, 1.2])]
    tokens = random_sequences(700, 3, np.random.default_rng(0))
    targets = parity(tokens)
    loss, accuracy = evaluate(stack_params(members), tokens, targets, loss="mse")
    for i, params in enumerate(members):
        y = elman.readout(params, elman.run(params, torch.as_tensor(tokens, dtype=torch.long)))
        expected = torch.nn.functional.mse_loss(y, torch.nn.functional.one_hot(torch.as_tensor(targets), 2).float())
        assert loss[i] == pytest.approx(float(expected), rel=1e-5)
        assert accuracy[i] == pytest.approx(float((y.argmax(1).numpy() == targets).mean()))
    single_loss, _ = evaluate(members[1], tokens, targets, loss="mse")
    assert np.ndim(single_loss) == 0 and single_loss == pytest.approx(loss[1], rel=1e-6)


@pytest.mark.parametrize("build, name", [
    (lambda: TrainConfig(hidden=0), "hidden"),
    (lambda: TrainConfig(nonlinearity="sigmoid"), "nonlinearity"),
    (lambda: TrainConfig(loss="l1"), "loss"),
    (lambda: TrainConfig(lr=0.0), "lr"),
    (lambda: TrainConfig(protocol="adam"), "protocol"),
    (lambda: TrainConfig(loss_threshold=-1.0), "loss_threshold"),
    (lambda: all_sequences(0), "L"),
    (lambda: sample_sequences(5, 0.0, np.random.default_rng(0)), "p"),
    (lambda: sample_sequences(5, 1.5, np.random.default_rng(0)), "p"),
    (lambda: train_ensemble(all_sequences(3), parity(all_sequences(3).tokens), seeds=[0], gains=[0.0]), "gains"),
    (lambda: train_ensemble(all_sequences(3), parity(all_sequences(3).tokens), seeds=[0, 1], gains=[1.0]), "gains"),
    (lambda: train_ensemble(all_sequences(3), np.zeros(3, int), seeds=[0], gains=[1.0]), "targets"),
    (lambda: train_ensemble(all_sequences(3), parity(all_sequences(3).tokens), seeds=[0], gains=[1.0],
                            track_epochs=[5000]), "track_epochs"),
])
def test_bad_input_names_the_parameter(build, name):
    with pytest.raises(ValueError, match=name):
        build()


def test_paper_epoch_has_21_steps_that_never_mix_lengths():
    data = all_sequences(10)
    batches = paper_minibatches(data.lengths, 128, np.random.default_rng(0))
    assert len(batches) == 21
    assert [int(data.lengths[b[0]]) for b in batches] == [1, 2, 3, 4, 5, 6, 7, 8, 8] + [9] * 4 + [10] * 8
    for b in batches:
        assert np.unique(data.lengths[b]).size == 1 and b.size <= 128
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(len(data)))


@pytest.mark.parametrize("n_tokens", [1, 3])
def test_prefix_shared_gradients_for_other_alphabets(n_tokens):
    rng = np.random.default_rng(n_tokens)
    lengths = rng.integers(1, 6, size=40)
    tokens = rng.integers(0, n_tokens, size=(40, 5)).astype(np.int8)
    tokens[np.arange(5)[None, :] >= lengths[:, None]] = -1
    data = SequenceSet(tokens, lengths)
    targets = rng.integers(0, 3, size=40)
    members = [elman.init_params(hidden=4, n_in=n_tokens, n_out=3, gain=1.2, seed=s, dtype=torch.float64)
               for s in (0, 1)]
    _, grads = loss_and_gradients(stack_params(members), data, targets, loss="ce")
    for i, params in enumerate(members):
        leaves = {k: v.clone().requires_grad_(k in TRAINED) for k, v in params.items()}
        expected = torch.autograd.grad(plain_loss(leaves, data, targets, np.arange(40), "relu", "ce"),
                                       [leaves[k] for k in TRAINED])
        for k, g in zip(TRAINED, expected):
            np.testing.assert_allclose(grads[k][i].numpy(), g.numpy(), rtol=1e-9, atol=1e-14)


def test_tracked_params_equal_final_params_of_shorter_runs():
    data = all_sequences(4)
    targets = parity(data.tokens)
    base = dict(hidden=8, max_epochs=6, dtype="float64")
    res = train_ensemble(data, targets, config=TrainConfig(**base), seeds=[1, 2], gains=[0.5, 0.9],
                         track_epochs=[0, 3, 6], track_params=True)
    assert res.tracked_params is not None
    for row, k in enumerate(res.tracked_epochs):
        short = train_ensemble(data, targets, config=TrainConfig(**{**base, "max_epochs": int(k)}),
                               seeds=[1, 2], gains=[0.5, 0.9])
        for name, value in short.params.items():
            np.testing.assert_allclose(res.tracked_params[name][row], value, rtol=0, atol=1e-12)
    untracked = train_ensemble(data, targets, config=TrainConfig(**base), seeds=[1], gains=[0.5])
    assert untracked.tracked_params is None


# ----------------------------------------------------------------------------- stopping rule and readouts

def test_stopping_rule_converges_diverges_and_stalls_in_one_ensemble():
    """Three members, one of each fate: a working lr converges, a huge lr diverges, a tiny lr stalls."""
    data = all_sequences(6)
    targets = parity(data.tokens)
    config = TrainConfig(hidden=32, loss="ce", batch_size=16, max_epochs=2000, loss_threshold=1e-2,
                         stall_window=50, stall_tolerance=0.01)
    result = train_ensemble(data, targets, config=config, seeds=[0, 0, 0], gains=[1.0, 1.0, 1.0],
                            lrs=[0.1, 1e4, 1e-7])
    assert list(result.status) == ["converged", "diverged", "stalled"]
    assert 50 < result.epochs[0] < 2000 and result.final_loss()[0] < 1e-2
    assert not np.isfinite(result.final_loss()[1])
    # stalled exactly when the window has passed without a 1 % improvement on the epoch-0 loss
    assert result.epochs[2] == 50
    losses = result.train_loss[2, :51]
    assert np.all(losses >= 0.99 * losses[0])
    # the converging member made progress within every window, so the rule never fired for it
    path = result.train_loss[0, : result.epochs[0] + 1]
    assert np.all(path[50:] < path[0])


def test_stall_rule_waits_for_its_window_and_is_off_by_default():
    data = all_sequences(4)
    targets = parity(data.tokens)
    off = train_ensemble(data, targets, config=TrainConfig(hidden=8, max_epochs=30), seeds=[0], gains=[1.0],
                         lrs=[1e-9])
    assert list(off.status) == ["capped"] and off.epochs[0] == 30
    on = train_ensemble(data, targets, config=TrainConfig(hidden=8, max_epochs=30, stall_window=10),
                        seeds=[0], gains=[1.0], lrs=[1e-9])
    assert list(on.status) == ["stalled"] and on.epochs[0] == 10
    with pytest.raises(ValueError, match="stall_window"):
        TrainConfig(stall_window=0)
    with pytest.raises(ValueError, match="stall_tolerance"):
        TrainConfig(stall_tolerance=1.0)


def plain_discontinuity_loss(params, data, targets, nonlinearity, loss):
    """Autograd reference of the 'discontinuity' readout: y = W_hy (h + 1[h > 0]) + b_hy (P25 §D.9)."""
    outputs, labels = [], []
    for n in np.unique(data.lengths):
        rows = np.flatnonzero(data.lengths == n)
        h = elman.run(params, torch.as_tensor(data.tokens[rows, :n], dtype=torch.long), nonlinearity)
        jumped = h + (h > 0).to(h.dtype)     # the step contributes no gradient: identity a.e.
        outputs.append(jumped @ params["W_hy"].T + params["b_hy"])
        labels.append(torch.as_tensor(targets[rows]))
    y, labels = torch.cat(outputs), torch.cat(labels)
    if loss == "mse":
        return torch.nn.functional.mse_loss(y, torch.nn.functional.one_hot(labels, y.shape[1]).to(y.dtype))
    return torch.nn.functional.cross_entropy(y, labels)


@pytest.mark.parametrize("nonlinearity, loss", [("relu", "ce"), ("relu", "mse"), ("tanh", "ce")])
def test_discontinuity_readout_gradients_equal_autograd(nonlinearity, loss):
    data = sample_sequences(5, 0.7, np.random.default_rng(1))
    targets = parity(data.tokens)
    members = [elman.init_params(hidden=6, gain=g, seed=3 + i, dtype=torch.float64) for i, g in enumerate([0.8, 1.3])]
    value, grads = loss_and_gradients(stack_params(members), data, targets, nonlinearity=nonlinearity, loss=loss,
                                      readout="discontinuity")
    linear, _ = loss_and_gradients(stack_params(members), data, targets, nonlinearity=nonlinearity, loss=loss)
    assert not np.allclose(value, linear)       # the readout really changed the network
    for i, params in enumerate(members):
        leaves = {k: v.clone().requires_grad_(k in TRAINED) for k, v in params.items()}
        plain = plain_discontinuity_loss(leaves, data, targets, nonlinearity, loss)
        expected = torch.autograd.grad(plain, [leaves[k] for k in TRAINED])
        assert value[i] == pytest.approx(float(plain.detach()), rel=1e-12)
        for k, g in zip(TRAINED, expected):
            np.testing.assert_allclose(grads[k][i].numpy(), g.numpy(), rtol=1e-9, atol=1e-14)


def test_discontinuity_readout_is_used_in_training_and_evaluation():
    data = all_sequences(4)
    targets = parity(data.tokens)
    config = TrainConfig(hidden=8, max_epochs=3, readout="discontinuity", dtype="float64")
    result = train_ensemble(data, targets, config=config, seeds=[0], gains=[1.0])
    members = [result.member_params(0)]
    tokens = data.of_length(4)
    value, _ = evaluate(result.params, tokens, targets[data.lengths == 4], readout="discontinuity")
    h = elman.run(members[0], torch.as_tensor(tokens, dtype=torch.long), "relu")
    y = (h + (h > 0).double()) @ members[0]["W_hy"].T + members[0]["b_hy"]
    expected = torch.nn.functional.mse_loss(y, torch.nn.functional.one_hot(
        torch.as_tensor(targets[data.lengths == 4]), 2).double())
    assert value[0] == pytest.approx(float(expected), rel=1e-10)
    assert readout_of(result.params, hidden_states(result.params, data), readout="discontinuity").shape == (
        1, 1 + len(data), 2)
    with pytest.raises(ValueError, match="readout"):
        TrainConfig(readout="step")


# ----------------------------------------------------------------------------- one data set per member

@pytest.mark.parametrize("protocol, loss, nonlinearity, readout", [
    ("paper", "ce", "relu", "linear"), ("paper", "mse", "tanh", "discontinuity"), ("full_batch", "ce", "relu", "linear")])
def test_members_with_their_own_data_equal_networks_trained_alone(protocol, loss, nonlinearity, readout):
    """Packed members (own data set, own minibatch order) against each member trained alone (float64).

    The fractions differ a lot, so members have different numbers of minibatches per length
    (a member whose batches are used up takes a zero-weight step) and stop at different epochs.
    """
    rng = np.random.default_rng(3)
    fractions = (0.15, 0.5, 1.0, 0.3)
    data = [sample_sequences(6, p, rng) for p in fractions]
    targets = [parity(d.tokens) for d in data]
    config = TrainConfig(hidden=12, loss=loss, nonlinearity=nonlinearity, readout=readout, protocol=protocol,
                         batch_size=8, lr=0.05, max_epochs=25, dtype="float64")
    seeds, gains, orders = [0, 1, 2, 3], [0.6, 1.0, 0.8, 1.2], [5, 6, 7, 8]
    packed = train_ensemble(data, targets, config=config, seeds=seeds, gains=gains, shuffle_seeds=orders,
                            track_epochs=[0, 10])
    for e in range(4):
        alone = train_ensemble(data[e], targets[e], config=replace(config, shuffle_seed=orders[e]),
                               seeds=[seeds[e]], gains=[gains[e]], track_epochs=[0, 10])
        assert packed.status[e] == alone.status[0] and packed.epochs[e] == alone.epochs[0]
        np.testing.assert_allclose(packed.train_loss[e], alone.train_loss[0], rtol=1e-10, atol=1e-13)
        for k in TRAINED:
            np.testing.assert_allclose(packed.params[k][e], alone.params[k][0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(packed.tracked_hidden[:, e], alone.tracked_hidden[:, 0], rtol=1e-9, atol=1e-12)


def test_ragged_plan_walks_back_to_every_members_own_sequences():
    """The compiled padded layout, checked by walking it: from each real sequence's end node the
    parent and token indices spell that sequence, inside its own member's block; padding has weight 0."""
    from rnn.parity.ragged import ragged_plan
    rng = np.random.default_rng(11)
    for trial in range(40):
        n_members = int(rng.integers(1, 5))
        tokens, lengths, targets = [], [], []
        for _ in range(n_members):
            n, width = int(rng.integers(0, 9)), int(rng.integers(1, 7))
            tokens.append(rng.integers(0, 3, size=(n, width)))
            lengths.append(rng.integers(1, width + 1, size=n))
            targets.append(rng.integers(0, 2, size=n))
        plan = ragged_plan(tokens, lengths, targets, 3, torch.float64)
        off, n_nodes = plan.offsets, plan.n_nodes
        ends = plan.ends.view(n_members, -1)
        for e in range(n_members):
            n = len(lengths[e])
            assert torch.all(plan.weights[e, n:] == 0)
            assert torch.all(plan.weights[e, :n] == 1 / max(n, 1))
            assert plan.targets[e, :n].tolist() == list(targets[e])
            for i in range(n):
                node = int(ends[e, i]) - e * n_nodes
                level = int(np.searchsorted(off, node, side="right")) - 1
                assert level == lengths[e][i]
                spelled = []
                while level > 0:
                    j = node - off[level]
                    width, parents_width = off[level + 1] - off[level], off[level] - off[level - 1]
                    k = int(plan.token_index[level - 1][e * width + j]) - e * 3
                    p_local = int(plan.parent_index[level - 1][e * width + j]) - e * parents_width
                    assert 0 <= k < 3 and 0 <= p_local < parents_width
                    spelled.append(k)
                    node, level = off[level - 1] + p_local, level - 1
                assert spelled[::-1] == list(tokens[e][i, : lengths[e][i]])


def test_packed_members_stop_independently():
    """A diverging and a converging member with their own data: each gets its own status, the others go on."""
    rng = np.random.default_rng(0)
    data = [sample_sequences(5, 1.0, rng), sample_sequences(5, 0.5, rng), sample_sequences(5, 0.8, rng)]
    targets = [parity(d.tokens) for d in data]
    config = TrainConfig(hidden=32, loss="ce", batch_size=16, max_epochs=3000, loss_threshold=1e-2,
                         dtype="float64")
    packed = train_ensemble(data, targets, config=config, seeds=[0, 1, 2], gains=[1.0, 1.0, 1.0],
                            lrs=[0.1, 1e4, 0.1], shuffle_seeds=[1, 2, 3])
    assert list(packed.status) == ["converged", "diverged", "converged"]
    alone = train_ensemble(data[2], targets[2], config=replace(config, shuffle_seed=3), seeds=[2], gains=[1.0],
                           lrs=[0.1])
    assert alone.epochs[0] == packed.epochs[2]


@pytest.mark.parametrize("kwargs, match", [
    (dict(data="shared", shuffle_seeds=[1, 2]), "shuffle_seeds needs one data set per member"),
    (dict(data="one", shuffle_seeds=None), "list of 2 SequenceSets"),
    (dict(data="list", shuffle_seeds=[1]), "shuffle_seeds must have one entry per member"),
    (dict(data="list", shuffle_seeds=[1, -1]), "shuffle_seeds"),
    (dict(data="bad_token", shuffle_seeds=None), r"tokens of data\[1\]"),
])
def test_per_member_data_bad_input_names_the_argument(kwargs, match):
    d = all_sequences(3)
    t = parity(d.tokens)
    bad = SequenceSet(d.tokens.copy(), d.lengths)
    bad.tokens[0, 0] = 5
    data = {"shared": d, "one": [d], "list": [d, d], "bad_token": [d, bad]}[kwargs["data"]]
    targets = t if kwargs["data"] == "shared" else [t] * len(data)
    with pytest.raises(ValueError, match=match):
        train_ensemble(data, targets, config=TrainConfig(hidden=4, max_epochs=1), seeds=[0, 1], gains=[1.0, 1.0],
                       shuffle_seeds=kwargs["shuffle_seeds"])
