"""Evaluation of trained (stacked) Elman RNNs: loss and accuracy, outputs, hidden states.

``evaluate`` and ``outputs`` step equal-length sequences (one batched matmul per time
step for all members and sequences, no autograd, so T = 10000 is cheap);
``hidden_states`` runs one prefix-shared pass over a set of sequences
(``rnn/parity/kernels.py``). ``params`` may be stacked (leading member axis) or a single
``rnn/parity/elman.py`` dict.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from interaction.checks import check_choice
from rnn.parity import elman
from rnn.parity.data import SequenceSet
from rnn.parity.kernels import (
    LOSSES,
    READOUTS,
    _as_stacked,
    _input_table,
    _loss,
    _plan_for,
    _readout,
    _track,
    _Workspace,
)


@torch.no_grad()
def hidden_states(params: dict, data: SequenceSet, *, nonlinearity: str = "relu") -> np.ndarray:
    """``h_0`` and the state after every sequence of ``data``: ``(E, 1 + n, P)`` (no member axis for a single net).

    One pass over the prefix trie of ``data`` (each distinct prefix stepped once).
    """
    check_choice("nonlinearity", nonlinearity, elman.NONLINEARITIES)
    stacked, single = _as_stacked(params)
    plan = _plan_for(data, stacked["W_ih"].shape[2])
    out = _track(stacked, plan, nonlinearity == "relu", _Workspace(stacked["W_hh"].dtype)).numpy()
    return out[0] if single else out


@torch.no_grad()
def evaluate(params: dict, tokens: np.ndarray, targets: np.ndarray, *, nonlinearity: str = "relu",
             loss: str = "mse", readout: str = "linear") -> tuple[np.ndarray, np.ndarray]:
    """Loss and argmax accuracy on equal-length sequences ``tokens`` ``(B, T)`` per member.

    ``params`` stacked (returns ``(E,)`` arrays) or single (returns 0-d arrays). The loss
    is the training loss (MSE on one-hot targets or cross-entropy), mean over the batch.
    One batched matmul per time step for all members and sequences, no autograd, so
    T = 10000 is cheap; the computation uses the dtype of ``params``. ``readout``:
    ``'linear'`` or ``'discontinuity'`` (as trained, ``rnn/parity/kernels.py``).
    """
    check_choice("nonlinearity", nonlinearity, elman.NONLINEARITIES)
    check_choice("loss", loss, LOSSES)
    check_choice("readout", readout, READOUTS)
    stacked, single = _as_stacked(params)
    tokens_t, targets_t = _evaluation_tensors(tokens, targets, stacked["W_ih"].shape[2], stacked["W_hy"].shape[1])
    value, accuracy = _evaluate_sets(stacked, [(tokens_t, targets_t)], nonlinearity == "relu", loss,
                                     jump=readout == "discontinuity")[0]
    return (value[0], accuracy[0]) if single else (value, accuracy)


def _evaluation_tensors(tokens: np.ndarray, targets: np.ndarray, n_in: int, n_out: int,
                        name: str = "tokens") -> tuple[torch.Tensor, torch.Tensor]:
    tokens_t = torch.as_tensor(np.asarray(tokens), dtype=torch.long)
    if tokens_t.dim() != 2 or tokens_t.shape[0] < 1 or tokens_t.shape[1] < 1:
        raise ValueError(f"{name} must be a non-empty (B, T) token matrix (got shape {tuple(tokens_t.shape)})")
    if tokens_t.min() < 0 or tokens_t.max() >= n_in:
        raise ValueError(f"{name} must lie in [0, {n_in - 1}]")
    targets_t = torch.as_tensor(np.asarray(targets), dtype=torch.long)
    if targets_t.shape != (tokens_t.shape[0],) or targets_t.min() < 0 or targets_t.max() >= n_out:
        raise ValueError(f"targets of {name} must be {tokens_t.shape[0]} class indices in [0, {n_out - 1}]")
    return tokens_t, targets_t


def _evaluate_sets(params: dict[str, torch.Tensor], sets: Sequence[tuple[torch.Tensor, torch.Tensor]],
                   relu: bool, loss: str, jump: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
    """Loss and accuracy of several equal-length sets, stepped together (longest set's length in all)."""
    outs = _final_outputs_of_sets(params, [tokens for tokens, _ in sets], relu, jump)
    results = []
    for y, (_, targets) in zip(outs, sets):
        value, accuracy, _ = _loss(y, targets, loss, want_grad=False)
        results.append((value.numpy(), accuracy.numpy()))
    return results


def _final_outputs_of_sets(params: dict[str, torch.Tensor], sets: Sequence[torch.Tensor], relu: bool,
                           jump: bool = False) -> list[torch.Tensor]:
    """Readouts after every sequence of several ``(B_i, T_i)`` token sets, in one loop of ``max T_i`` steps.

    Rows are ordered by decreasing length, so at step t the sequences still running are
    a leading block of rows: one batched matmul per step for all members and sets (no
    autograd, no per-set loop over time). A set's readout is taken when it ends.
    """
    order = sorted(range(len(sets)), key=lambda i: -sets[i].shape[1])
    lengths = [sets[i].shape[1] for i in order]
    sizes = [sets[i].shape[0] for i in order]
    tokens = torch.zeros(sum(sizes), lengths[0], dtype=torch.long)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    for i, start, size in zip(order, starts, sizes):
        tokens[start: start + size, : sets[i].shape[1]] = sets[i]
    columns = tokens.t().contiguous()

    x_table = _input_table(params)
    w_hh_t = params["W_hh"].transpose(1, 2)
    h = params["h0"].unsqueeze(1).expand(-1, tokens.shape[0], -1).contiguous()
    outputs: list[torch.Tensor | None] = [None] * len(sets)
    t = 0
    for j in range(len(order) - 1, -1, -1):  # segments of steps during which sets 0..j run
        k = int(starts[j + 1])
        h = h[:, :k]
        for column in columns[t: lengths[j], :k]:
            h = torch.baddbmm(x_table.index_select(1, column), h, w_hh_t)
            h = h.relu_() if relu else h.tanh_()
        t = lengths[j]
        outputs[order[j]] = _readout(params, h[:, int(starts[j]): k], jump)
    return outputs  # type: ignore[return-value]


@torch.no_grad()
def outputs(params: dict, tokens: np.ndarray, *, nonlinearity: str = "relu", readout: str = "linear"
            ) -> np.ndarray:
    """Network outputs ``W_hy h_T + b_hy`` after equal-length sequences ``tokens`` ``(B, T)``.

    ``(E, B, n_out)`` for stacked ``params``, ``(B, n_out)`` for a single network;
    ``readout='discontinuity'``: ``W_hy (h_T + 1[h_T > 0]) + b_hy``.
    """
    check_choice("nonlinearity", nonlinearity, elman.NONLINEARITIES)
    check_choice("readout", readout, READOUTS)
    stacked, single = _as_stacked(params)
    n_out = stacked["W_hy"].shape[1]
    tokens_t, _ = _evaluation_tensors(tokens, np.zeros(np.shape(tokens)[0], np.int64),
                                      stacked["W_ih"].shape[2], n_out)
    out = _final_outputs_of_sets(stacked, [tokens_t], nonlinearity == "relu", readout == "discontinuity")[0].numpy()
    return out[0] if single else out


@torch.no_grad()
def readout_of(params: dict, hidden: np.ndarray, *, readout: str = "linear") -> np.ndarray:
    """The readout of given hidden states ``(E, n, P)`` (or ``(n, P)`` for a single network): ``(…, n, n_out)``."""
    check_choice("readout", readout, READOUTS)
    stacked, single = _as_stacked(params)
    h = torch.as_tensor(np.asarray(hidden), dtype=stacked["W_hy"].dtype)
    out = _readout(stacked, h.unsqueeze(0) if single else h, readout == "discontinuity").numpy()
    return out[0] if single else out
