"""The Elman RNN of van Rossem & Saxe (2025, §C.1), as plain functions of a parameter dict.

    h_t = φ(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   y = W_hy h_T + b_hy

Parameters live in a ``dict[str, torch.Tensor]`` with the keys of ``PARAM_NAMES``
(shapes for hidden size P, input size I, output size O):

    W_ih (P, I)   b_ih (P,)   W_hh (P, P)   b_hh (P,)   W_hy (O, P)   b_hy (O,)   h0 (P,)

This single-network form is the reference: the batched ensemble trainer must
reproduce it member by member, and the measurements of the theory's quantities
(Jacobian-vector products through continuations) are written against it with
``torch.func``. Tokens are integers in ``[0, I)``; inputs are their one-hot codes.
"""
from __future__ import annotations

import math

import torch

from interaction.checks import check_choice, check_int, check_positive

PARAM_NAMES = ("W_ih", "b_ih", "W_hh", "b_hh", "W_hy", "b_hy", "h0")
NONLINEARITIES = ("relu", "tanh")
H0_MODES = ("ones", "zeros")


def activation(nonlinearity: str):
    """The pointwise nonlinearity φ named ``nonlinearity`` (``'relu'`` or ``'tanh'``)."""
    check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
    return torch.relu if nonlinearity == "relu" else torch.tanh


def xavier_std(fan_out: int, fan_in: int, gain: float) -> float:
    """Standard deviation of Xavier-normal init: ``gain·sqrt(2/(fan_in+fan_out))``."""
    return gain * math.sqrt(2.0 / (fan_in + fan_out))


def init_params(*, hidden: int = 100, n_in: int = 2, n_out: int = 2, gain: float = 0.1,
                seed: int = 0, h0: str = "ones",
                dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Xavier-normal weights with ``gain``, zero biases, ``h0`` all ones (or zeros), seeded.

    Draw order (fixed, so that any trainer reproduces it): ``W_ih``, ``W_hh``, ``W_hy``
    from one ``torch.Generator`` seeded with ``seed``.
    """
    hidden = check_int("hidden", hidden, minimum=1)
    n_in = check_int("n_in", n_in, minimum=1)
    n_out = check_int("n_out", n_out, minimum=1)
    check_positive("gain", gain)
    check_choice("h0", h0, H0_MODES)
    gen = torch.Generator().manual_seed(int(seed))

    def normal(rows: int, cols: int) -> torch.Tensor:
        std = xavier_std(rows, cols, float(gain))
        return (torch.randn(rows, cols, generator=gen, dtype=torch.float64) * std).to(dtype)

    W_ih = normal(hidden, n_in)
    W_hh = normal(hidden, hidden)
    W_hy = normal(n_out, hidden)
    fill = torch.ones if h0 == "ones" else torch.zeros
    return {
        "W_ih": W_ih, "b_ih": torch.zeros(hidden, dtype=dtype),
        "W_hh": W_hh, "b_hh": torch.zeros(hidden, dtype=dtype),
        "W_hy": W_hy, "b_hy": torch.zeros(n_out, dtype=dtype),
        "h0": fill(hidden, dtype=dtype),
    }


def step(params: dict[str, torch.Tensor], h: torch.Tensor, token: torch.Tensor,
         nonlinearity: str = "relu") -> torch.Tensor:
    """One recurrent step ``φ(W_ih x + b_ih + W_hh h + b_hh)`` for integer ``token`` (batched or not).

    ``W_ih x`` for a one-hot ``x`` is column ``token`` of ``W_ih``.
    """
    phi = activation(nonlinearity)
    x_term = params["W_ih"][:, token].movedim(0, -1)
    return phi(x_term + params["b_ih"] + h @ params["W_hh"].T + params["b_hh"])


def run(params: dict[str, torch.Tensor], tokens: torch.Tensor, nonlinearity: str = "relu",
        h: torch.Tensor | None = None) -> torch.Tensor:
    """Final hidden state after reading ``tokens`` (shape ``(T,)`` or ``(B, T)``) from ``h`` (default ``h0``)."""
    tokens = torch.as_tensor(tokens, dtype=torch.long)
    if h is None:
        h = params["h0"].expand(*tokens.shape[:-1], -1) if tokens.dim() > 1 else params["h0"]
    for t in range(tokens.shape[-1]):
        h = step(params, h, tokens[..., t], nonlinearity)
    return h


def trajectory(params: dict[str, torch.Tensor], tokens: torch.Tensor,
               nonlinearity: str = "relu") -> torch.Tensor:
    """Hidden states ``h_0 .. h_T`` for ``tokens`` of shape ``(B, T)``: returns ``(B, T+1, P)``."""
    tokens = torch.as_tensor(tokens, dtype=torch.long)
    h = params["h0"].expand(tokens.shape[0], -1)
    states = [h]
    for t in range(tokens.shape[1]):
        h = step(params, h, tokens[:, t], nonlinearity)
        states.append(h)
    return torch.stack(states, dim=1)


def readout(params: dict[str, torch.Tensor], h: torch.Tensor) -> torch.Tensor:
    """Linear readout ``W_hy h + b_hy``."""
    return h @ params["W_hy"].T + params["b_hy"]
