"""Bring your own ``torch.nn.RNN``: convert it to the toolkit's Elman parameters and back.

A single-layer ``nn.RNN`` computes ``h_t = φ(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh)``,
which is the Elman step of ``rnn.parity.elman`` with one-hot inputs ``x_t`` (token
``k`` selects column ``k`` of ``W_ih``). With its readout ``nn.Linear`` (``y = W_hy h + b_hy``)
and its initial state, the network becomes the parameter dict of
``rnn.parity.elman.PARAM_NAMES``::

    params, nonlinearity = from_torch_rnn(rnn, readout, h0)
    hidden = rnn.parity.hidden_states(params, data, nonlinearity=nonlinearity)

and every analysis in ``rnn.automata`` and ``rnn.measure`` applies. Missing biases
(``bias=False``, ``nn.Linear(..., bias=False)``) become zeros; a missing ``h0`` is the
zero state that ``nn.RNN`` itself uses by default. ``to_torch_rnn`` goes back.

Supported: ``nn.RNN`` with ``num_layers=1``, ``bidirectional=False``, ``nonlinearity``
``'relu'`` or ``'tanh'``, with or without biases, ``batch_first`` either way (it only
changes the layout of the input, not the weights). Everything else (several layers,
bidirectional, ``nn.LSTM`` / ``nn.GRU``, ``proj_size``, mismatched shapes, non-finite
weights) is refused with a ``ValueError`` naming the attribute and what is allowed;
every check runs before anything is copied, so nothing is converted half-way.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from interaction.checks import check_choice
from rnn.parity.elman import NONLINEARITIES, PARAM_NAMES

__all__ = ["from_torch_rnn", "to_torch_rnn"]

_SUPPORTED = ("a single-layer, unidirectional torch.nn.RNN (nonlinearity 'relu' or 'tanh', "
              "with or without biases, batch_first either way)")


def _finite(name: str, value: torch.Tensor) -> torch.Tensor:
    if not torch.is_floating_point(value):
        raise ValueError(f"{name} must be a floating-point tensor (got dtype {value.dtype})")
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} must be finite (got NaN or infinite entries)")
    return value


def _check_rnn(rnn: nn.Module) -> None:
    if not isinstance(rnn, nn.RNN):
        kind = type(rnn).__name__
        raise ValueError(f"rnn must be {_SUPPORTED} (got {kind}"
                         + (": LSTM and GRU cells have gates that the Elman RNN does not" if
                            isinstance(rnn, nn.RNNBase) else "") + ")")
    if rnn.num_layers != 1:
        raise ValueError(f"rnn.num_layers must be 1 (got {rnn.num_layers}); supported: {_SUPPORTED}")
    if rnn.bidirectional:
        raise ValueError(f"rnn.bidirectional must be False (got True); supported: {_SUPPORTED}")
    if getattr(rnn, "proj_size", 0):
        raise ValueError(f"rnn.proj_size must be 0 (got {rnn.proj_size}); supported: {_SUPPORTED}")
    if rnn.nonlinearity not in NONLINEARITIES:
        raise ValueError(f"rnn.nonlinearity must be one of {NONLINEARITIES} (got {rnn.nonlinearity!r})")


def _initial_state(h0, hidden: int, dtype: torch.dtype) -> torch.Tensor:
    if h0 is None:
        return torch.zeros(hidden, dtype=dtype)
    h = torch.as_tensor(h0).detach()
    if h.dim() == 3 and h.shape[0] == 1 and h.shape[2] == hidden and h.shape[1] >= 1:
        if not bool((h[0] == h[0, :1]).all()):
            raise ValueError("h0 of shape (1, B, hidden) must have the same initial state in every batch row "
                             "(the Elman parameters hold one h0)")
        h = h[0, 0]
    elif h.dim() == 2 and h.shape == (1, hidden):
        h = h[0]
    if h.shape != (hidden,):
        raise ValueError(f"h0 must have shape ({hidden},), (1, {hidden}) or (1, B, {hidden}) for hidden_size "
                         f"{hidden} (got {tuple(h.shape)})")
    return _finite("h0", h).to(dtype).clone()


@torch.no_grad()
def from_torch_rnn(rnn: nn.RNN, readout: nn.Linear, h0: torch.Tensor | None = None
                   ) -> tuple[dict[str, torch.Tensor], str]:
    """The Elman parameter dict and nonlinearity of ``rnn`` with ``readout`` and initial state ``h0``.

    Returns ``(params, nonlinearity)``: ``params`` has the keys of
    ``rnn.parity.elman.PARAM_NAMES`` (detached copies in the weights' dtype; zeros for
    missing biases; ``h0 = 0`` when ``h0`` is None, as in ``nn.RNN``); pass
    ``nonlinearity`` to the analyses. ``h0`` may have shape ``(hidden,)``, ``(1, hidden)``
    or ``(1, B, hidden)`` with equal rows.
    """
    _check_rnn(rnn)
    if not isinstance(readout, nn.Linear):
        raise ValueError(f"readout must be a torch.nn.Linear (got {type(readout).__name__})")
    P = rnn.hidden_size
    if readout.in_features != P:
        raise ValueError(f"readout.in_features must equal rnn.hidden_size = {P} (got {readout.in_features})")
    W_ih = _finite("rnn.weight_ih_l0", rnn.weight_ih_l0.detach())
    dtype = W_ih.dtype
    W_hh = _finite("rnn.weight_hh_l0", rnn.weight_hh_l0.detach())
    W_hy = _finite("readout.weight", readout.weight.detach())
    if W_hy.dtype != dtype:
        raise ValueError(f"readout.weight must have the dtype of rnn.weight_ih_l0, {dtype} (got {W_hy.dtype})")
    zeros_p = torch.zeros(P, dtype=dtype)
    b_ih = _finite("rnn.bias_ih_l0", rnn.bias_ih_l0.detach()) if rnn.bias else zeros_p
    b_hh = _finite("rnn.bias_hh_l0", rnn.bias_hh_l0.detach()) if rnn.bias else zeros_p
    b_hy = (_finite("readout.bias", readout.bias.detach()) if readout.bias is not None
            else torch.zeros(readout.out_features, dtype=dtype))
    h = _initial_state(h0, P, dtype)
    params = {"W_ih": W_ih, "b_ih": b_ih, "W_hh": W_hh, "b_hh": b_hh, "W_hy": W_hy, "b_hy": b_hy, "h0": h}
    return {name: params[name].to(dtype).clone() for name in PARAM_NAMES}, str(rnn.nonlinearity)


def _check_params(params: Mapping) -> dict[str, torch.Tensor]:
    missing = [name for name in PARAM_NAMES if name not in params]
    if missing:
        raise ValueError(f"params must have the keys {PARAM_NAMES} (missing {missing})")
    tensors = {}
    for name in PARAM_NAMES:
        value = params[name]
        tensors[name] = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value).detach()
        _finite(f"params[{name!r}]", tensors[name])
    W_ih = tensors["W_ih"]
    if W_ih.dim() != 2:
        raise ValueError(f"params['W_ih'] must have shape (hidden, n_in) (got {tuple(W_ih.shape)})")
    P, I = W_ih.shape
    n_out = tensors["W_hy"].shape[0] if tensors["W_hy"].dim() == 2 else -1
    expected = {"b_ih": (P,), "W_hh": (P, P), "b_hh": (P,), "W_hy": (n_out, P), "b_hy": (n_out,), "h0": (P,)}
    for name, shape in expected.items():
        if tuple(tensors[name].shape) != shape or n_out < 1:
            raise ValueError(f"params[{name!r}] must have shape {shape if n_out >= 1 else '(n_out, hidden)'} "
                             f"for W_ih of shape {(P, I)} (got {tuple(tensors[name].shape)})")
    return tensors


@torch.no_grad()
def to_torch_rnn(params: Mapping, *, nonlinearity: str = "relu", batch_first: bool = False,
                 bias: bool = True, readout_bias: bool = True) -> tuple[nn.RNN, nn.Linear, torch.Tensor]:
    """An ``nn.RNN``, its readout ``nn.Linear`` and initial state ``h0`` ``(1, hidden)`` from Elman ``params``.

    Weights are copied in the dtype of ``params['W_ih']``. ``bias=False`` (or
    ``readout_bias=False``) builds modules without biases and is refused unless the
    corresponding biases are zero. For a batch of ``B`` sequences pass
    ``h0.unsqueeze(1).expand(1, B, -1)`` to the module. ``from_torch_rnn`` of the result
    gives ``params`` back exactly.
    """
    check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
    p = _check_params(params)
    dtype = p["W_ih"].dtype
    if not bias and (p["b_ih"].any() or p["b_hh"].any()):
        raise ValueError("bias=False needs params['b_ih'] and params['b_hh'] to be zero (got nonzero biases)")
    if not readout_bias and p["b_hy"].any():
        raise ValueError("readout_bias=False needs params['b_hy'] to be zero (got nonzero entries)")
    P, I = p["W_ih"].shape
    rnn = nn.RNN(I, P, num_layers=1, nonlinearity=nonlinearity, bias=bias, batch_first=batch_first, dtype=dtype)
    readout = nn.Linear(P, p["W_hy"].shape[0], bias=readout_bias, dtype=dtype)
    rnn.weight_ih_l0.copy_(p["W_ih"])
    rnn.weight_hh_l0.copy_(p["W_hh"])
    if bias:
        rnn.bias_ih_l0.copy_(p["b_ih"])
        rnn.bias_hh_l0.copy_(p["b_hh"])
    readout.weight.copy_(p["W_hy"])
    if readout_bias:
        readout.bias.copy_(p["b_hy"])
    return rnn, readout, p["h0"].to(dtype).clone().unsqueeze(0)
