"""rnn.adapters.torch_rnn: an nn.RNN and its readout as Elman parameters, and back."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from rnn.adapters import from_torch_rnn, to_torch_rnn
from rnn.parity import PARAM_NAMES, SequenceSet, hidden_states, init_params, outputs
from rnn.parity.elman import readout as elman_readout
from rnn.parity.elman import trajectory


def _torch_forward(rnn, linear, h0, tokens, n_in):
    """nn.RNN's own forward on one-hot inputs: hidden states (B, T, P), final state and readout."""
    x = torch.nn.functional.one_hot(torch.as_tensor(tokens, dtype=torch.long), n_in).to(rnn.weight_ih_l0.dtype)
    if not rnn.batch_first:
        x = x.transpose(0, 1)
    h_init = h0.reshape(1, 1, -1).expand(1, x.shape[0 if rnn.batch_first else 1], -1).contiguous()
    with torch.no_grad():
        out, h_n = rnn(x, h_init)
        if not rnn.batch_first:
            out = out.transpose(0, 1)
        return out, h_n[0], linear(h_n[0])


def _random_module(seed, n_in, hidden, n_out, nonlinearity, bias, readout_bias, batch_first, dtype):
    torch.manual_seed(seed)
    rnn = nn.RNN(n_in, hidden, nonlinearity=nonlinearity, bias=bias, batch_first=batch_first, dtype=dtype)
    linear = nn.Linear(hidden, n_out, bias=readout_bias, dtype=dtype)
    h0 = 0.5 * torch.randn(1, hidden, dtype=dtype)
    return rnn, linear, h0


shapes = st.fixed_dictionaries({
    "seed": st.integers(0, 2**16), "n_in": st.integers(1, 4), "hidden": st.integers(1, 9),
    "n_out": st.integers(1, 3), "nonlinearity": st.sampled_from(["relu", "tanh"]), "bias": st.booleans(),
    "readout_bias": st.booleans(), "batch_first": st.booleans(),
    "dtype": st.sampled_from([torch.float32, torch.float64]),
})


@settings(max_examples=40, deadline=None)
@given(spec=shapes, batch=st.integers(1, 5), length=st.integers(1, 6))
def test_converted_network_matches_nn_rnn_forward(spec, batch, length):
    rnn, linear, h0 = _random_module(**spec)
    params, nonlinearity = from_torch_rnn(rnn, linear, h0)
    assert nonlinearity == spec["nonlinearity"]
    assert set(params) == set(PARAM_NAMES)
    tokens = np.random.default_rng(spec["seed"]).integers(0, spec["n_in"], size=(batch, length))
    out, h_n, y = _torch_forward(rnn, linear, h0[0], tokens, spec["n_in"])
    tol = dict(rtol=1e-5, atol=1e-5) if spec["dtype"] == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    traj = trajectory(params, torch.as_tensor(tokens), nonlinearity)
    torch.testing.assert_close(traj[:, 0], h0.expand(batch, -1))
    torch.testing.assert_close(traj[:, 1:], out, **tol)
    torch.testing.assert_close(elman_readout(params, traj[:, -1]), y, **tol)
    np.testing.assert_allclose(outputs(params, tokens, nonlinearity=nonlinearity), y.numpy(), **tol)
    # the prefix-shared pass over a set of distinct variable-length sequences
    rows = np.unique(tokens, axis=0)
    lengths = np.random.default_rng(spec["seed"] + 1).integers(1, length + 1, size=rows.shape[0])
    padded = np.where(np.arange(length) < lengths[:, None], rows, -1)
    padded = np.unique(padded, axis=0)
    lengths = (padded >= 0).sum(axis=1)
    data = SequenceSet(padded.astype(np.int8), lengths.astype(np.int64))
    hidden = hidden_states(params, data, nonlinearity=nonlinearity)
    np.testing.assert_allclose(hidden[0], h0[0].numpy(), **tol)
    for i in range(len(data)):
        _, h_i, _ = _torch_forward(rnn, linear, h0[0], padded[i:i + 1, :lengths[i]], spec["n_in"])
        np.testing.assert_allclose(hidden[1 + i], h_i[0].numpy(), **tol)


@settings(max_examples=30, deadline=None)
@given(spec=shapes)
def test_round_trip_is_exact(spec):
    rnn, linear, h0 = _random_module(**spec)
    params, nonlinearity = from_torch_rnn(rnn, linear, h0)
    rnn2, linear2, h0_2 = to_torch_rnn(params, nonlinearity=nonlinearity, batch_first=spec["batch_first"],
                                       bias=spec["bias"], readout_bias=spec["readout_bias"])
    assert rnn2.batch_first == spec["batch_first"] and rnn2.nonlinearity == nonlinearity
    for a, b in ((rnn, rnn2), (linear, linear2)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert torch.equal(h0_2, h0)
    again, _ = from_torch_rnn(rnn2, linear2, h0_2)
    assert all(torch.equal(params[k], again[k]) and params[k].dtype == again[k].dtype for k in PARAM_NAMES)


def test_missing_biases_and_state_become_zeros():
    rnn = nn.RNN(2, 3, bias=False)
    params, nonlinearity = from_torch_rnn(rnn, nn.Linear(3, 2, bias=False))
    assert nonlinearity == "tanh"
    for name in ("b_ih", "b_hh", "b_hy", "h0"):
        assert torch.equal(params[name], torch.zeros_like(params[name]))


def test_toolkit_params_go_to_torch_and_back():
    params = init_params(hidden=6, n_in=2, n_out=2, gain=1.0, seed=3)
    params["b_ih"] = torch.randn(6)
    rnn, linear, h0 = to_torch_rnn(params, nonlinearity="relu", batch_first=True)
    back, _ = from_torch_rnn(rnn, linear, h0.unsqueeze(1).expand(1, 4, -1))
    assert all(torch.equal(params[k], back[k]) for k in PARAM_NAMES)


@pytest.mark.parametrize("module, needle", [
    (nn.RNN(2, 3, num_layers=2), "rnn.num_layers must be 1"),
    (nn.RNN(2, 3, bidirectional=True), "rnn.bidirectional must be False"),
    (nn.LSTM(2, 3), "got LSTM"),
    (nn.GRU(2, 3), "got GRU"),
    (nn.Linear(2, 3), "got Linear"),
])
def test_unsupported_modules_are_refused_with_what_is_supported(module, needle):
    with pytest.raises(ValueError, match=needle) as info:
        from_torch_rnn(module, nn.Linear(3, 2))
    assert "single-layer" in str(info.value) or "must be 1" in str(info.value)


def test_lstm_with_projection_is_refused():
    with pytest.raises(ValueError, match="LSTM"):
        from_torch_rnn(nn.LSTM(2, 4, proj_size=3), nn.Linear(3, 2))


def test_bad_readout_state_and_weights_are_refused():
    rnn = nn.RNN(2, 3)
    with pytest.raises(ValueError, match=r"readout.in_features must equal rnn.hidden_size = 3 \(got 4\)"):
        from_torch_rnn(rnn, nn.Linear(4, 2))
    with pytest.raises(ValueError, match="readout must be a torch.nn.Linear"):
        from_torch_rnn(rnn, nn.Conv1d(3, 2, 1))
    with pytest.raises(ValueError, match=r"h0 must have shape \(3,\)"):
        from_torch_rnn(rnn, nn.Linear(3, 2), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="same initial state in every batch row"):
        from_torch_rnn(rnn, nn.Linear(3, 2), torch.randn(1, 2, 3))
    with pytest.raises(ValueError, match="readout.weight must have the dtype"):
        from_torch_rnn(rnn, nn.Linear(3, 2, dtype=torch.float64))
    with torch.no_grad():
        rnn.weight_hh_l0[1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"rnn.weight_hh_l0 must be finite"):
        from_torch_rnn(rnn, nn.Linear(3, 2))
    linear = nn.Linear(3, 2)
    with torch.no_grad():
        linear.bias[0] = float("inf")
    with pytest.raises(ValueError, match=r"readout.bias must be finite"):
        from_torch_rnn(nn.RNN(2, 3), linear)


def test_bad_params_are_refused_and_nothing_is_built():
    good = init_params(hidden=4, n_in=2, n_out=2)
    with pytest.raises(ValueError, match=r"missing \['h0'\]"):
        to_torch_rnn({k: v for k, v in good.items() if k != "h0"})
    with pytest.raises(ValueError, match=r"params\['W_hh'\] must have shape \(4, 4\)"):
        to_torch_rnn({**good, "W_hh": torch.zeros(4, 3)})
    with pytest.raises(ValueError, match=r"params\['b_hy'\] must have shape \(2,\)"):
        to_torch_rnn({**good, "b_hy": torch.zeros(3)})
    with pytest.raises(ValueError, match=r"params\['W_ih'\] must be finite"):
        to_torch_rnn({**good, "W_ih": torch.full((4, 2), float("nan"))})
    with pytest.raises(ValueError, match="nonlinearity"):
        to_torch_rnn(good, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="bias=False needs"):
        to_torch_rnn({**good, "b_hh": torch.ones(4)}, bias=False)
    with pytest.raises(ValueError, match="readout_bias=False needs"):
        to_torch_rnn({**good, "b_hy": torch.ones(2)}, readout_bias=False)
