"""Forward and backward passes of stacked Elman RNNs when every member has its *own* sequences.

``rnn/parity/kernels.py`` steps one prefix trie with every member's weights: all members
see the same data. Independent cells of a phase diagram (P25 Fig. 9: each cell its own
data draw and minibatch order) would then each need an ensemble of one, and a small
ensemble spends its time in per-step overhead rather than arithmetic. Here each member
keeps its own prefix trie, and the tries are *padded level by level* to a common size:

    level t of member e has n_{e,t} distinct prefixes; every member gets N_t = max_e n_{e,t}
    slots, the first n_{e,t} of them its own prefixes, the rest padding.

A padding slot points at a real parent (slot 0), so its state is finite, and carries
zero loss weight, so it receives exactly zero gradient. The recurrent term is still
computed once per parent prefix (one batched ``(E, N_{t-1}, P) @ (E, P, P)`` matmul per
level); children are gathered from the ``(parent, token)`` grid with one flat
``index_select`` for all members. Each sequence carries the weight ``1/n_e`` of its
member's batch, so a member's loss is exactly the mean over its own batch, as if it were
trained alone. A member with no sequence in a step (its batches of that length are used
up) has all weights zero, hence zero gradient, so plain SGD leaves it exactly unchanged.

Arithmetic per member is that of its own trie padded to the largest member's; members
drawn at the same fraction have tries of nearly equal size, which is how the phase
diagram packs them (``validation/merger_phase_diagram/run.py``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from rnn.parity.kernels import _input_table, _jumped, _readout
from numba import njit

from rnn.parity.prefix_trie import _trie_kernel

__all__ = ["RaggedPlan", "ragged_plan"]


@dataclass(frozen=True)
class RaggedPlan:
    """Every member's prefix trie in one padded flat layout (``offsets`` shared by all members).

    Index tensors are flat: ``child_index[t-1]`` ``(E·N_t,)`` into the flattened grid
    ``(E·N_{t-1}·I)`` of ``(member, parent, token)``; ``parent_index[t-1]`` into
    ``(E·N_{t-1})``; ``token_index[t-1]`` into ``(E·I)``; ``ends`` ``(E·B,)`` into the
    flattened states ``(E·n_nodes)``. ``weights`` ``(E, B)`` is ``1/n_e`` for a member's
    real sequences and 0 for padding; ``targets`` ``(E, B)`` their classes (0 for padding).
    """

    offsets: tuple[int, ...]
    child_index: tuple[torch.Tensor, ...]
    parent_index: tuple[torch.Tensor, ...]
    token_index: tuple[torch.Tensor, ...]
    ends: torch.Tensor
    weights: torch.Tensor
    targets: torch.Tensor

    @property
    def depth(self) -> int:
        return len(self.child_index)

    @property
    def n_nodes(self) -> int:
        return self.offsets[-1]

    @property
    def n_members(self) -> int:
        return int(self.weights.shape[0])


@njit(cache=True)
def _ragged_kernel(tokens, lengths, targets, starts, n_tokens):  # pragma: no cover - compiled
    """Every member's trie (``_trie_kernel``) laid out padded: the index arrays of ``ragged_plan``.

    Member ``e`` owns rows ``starts[e]:starts[e+1]`` of ``tokens``/``lengths``. Returns the
    padded level offsets, the flat child/parent/token indices of all levels concatenated
    (level ``t`` at ``level_starts[t-1]:level_starts[t]``, ``E·N_t`` entries each), and
    ``ends``, ``weights``, ``classes`` ``(E, B)`` (``B`` the largest batch; padding points at
    node 0 with weight 0 and class 0).
    """
    n_members = starts.shape[0] - 1
    depth = 0
    batch = 1
    for e in range(n_members):
        batch = max(batch, starts[e + 1] - starts[e])
        for i in range(starts[e], starts[e + 1]):
            depth = max(depth, lengths[i])
    sizes = np.zeros((n_members, depth + 1), np.int64)
    sizes[:, 0] = 1
    # each member's trie, kept in concatenated buffers: nodes (parents, last) and member offsets
    capacity = n_members + lengths.sum()
    parents_all = np.empty(capacity, np.int64)
    last_all = np.empty(capacity, np.int64)
    node_start = np.zeros(n_members + 1, np.int64)
    offsets_all = np.zeros((n_members, depth + 2), np.int64)
    ends_local = np.zeros(lengths.shape[0], np.int64)
    for e in range(n_members):
        a, b = starts[e], starts[e + 1]
        if b == a:
            node_start[e + 1] = node_start[e]
            continue
        parents, last, offsets, ends = _trie_kernel(tokens[a:b], lengths[a:b], n_tokens)
        count = parents.shape[0]
        parents_all[node_start[e]: node_start[e] + count] = parents
        last_all[node_start[e]: node_start[e] + count] = last
        node_start[e + 1] = node_start[e] + count
        offsets_all[e, : offsets.shape[0]] = offsets
        offsets_all[e, offsets.shape[0]:] = offsets[-1]
        ends_local[a:b] = ends
        for t in range(1, offsets.shape[0] - 1):
            sizes[e, t] = offsets[t + 1] - offsets[t]
    padded = np.zeros(depth + 1, np.int64)
    for t in range(depth + 1):
        for e in range(n_members):
            padded[t] = max(padded[t], sizes[e, t])
    offsets = np.zeros(depth + 2, np.int64)
    for t in range(depth + 1):
        offsets[t + 1] = offsets[t] + padded[t]
    level_starts = np.zeros(depth + 1, np.int64)
    for t in range(1, depth + 1):
        level_starts[t] = level_starts[t - 1] + n_members * padded[t]
    child = np.zeros(level_starts[depth], np.int64)
    parent = np.zeros(level_starts[depth], np.int64)
    token = np.zeros(level_starts[depth], np.int64)
    for t in range(1, depth + 1):
        width, parents_width = padded[t], padded[t - 1]
        for e in range(n_members):
            base = level_starts[t - 1] + e * width
            first = node_start[e] + offsets_all[e, t]
            # padding slots keep parent 0 and token 0 of their own member: finite states, zero weight
            for j in range(width):
                p_local, k_local = 0, 0
                if j < sizes[e, t]:
                    p_local, k_local = parents_all[first + j], last_all[first + j]
                child[base + j] = (p_local + e * parents_width) * n_tokens + k_local
                parent[base + j] = p_local + e * parents_width
                token[base + j] = k_local + e * n_tokens
    n_nodes = offsets[depth + 1]
    ends = np.zeros((n_members, batch), np.int64)
    weights = np.zeros((n_members, batch))
    classes = np.zeros((n_members, batch), np.int64)
    for e in range(n_members):
        for j in range(batch):
            ends[e, j] = e * n_nodes
        for i in range(starts[e], starts[e + 1]):
            weights[e, i - starts[e]] = 1.0 / (starts[e + 1] - starts[e])
            classes[e, i - starts[e]] = targets[i]
            node = ends_local[i]
            level = 0
            while offsets_all[e, level + 1] <= node:
                level += 1
            ends[e, i - starts[e]] = e * n_nodes + offsets[level] + node - offsets_all[e, level]
    return offsets, level_starts, child, parent, token, ends, weights, classes


def ragged_plan(tokens: Sequence[np.ndarray], lengths: Sequence[np.ndarray], targets: Sequence[np.ndarray],
                n_tokens: int, dtype: torch.dtype) -> RaggedPlan:
    """The padded layout of one set of sequences per member (inputs already validated).

    ``tokens[e]`` ``(n_e, T_e)`` int, ``lengths[e]`` ``(n_e,)`` (all >= 1), ``targets[e]``
    ``(n_e,)``; ``n_e = 0`` is allowed (that member then gets zero weight everywhere). One
    compiled pass builds every member's trie and the padded index arrays (``_ragged_kernel``).
    """
    n_members = len(tokens)
    counts = np.array([len(ln) for ln in lengths], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)])
    width = max((tok.shape[1] for tok, n in zip(tokens, counts) if n), default=1)
    stacked = np.zeros((int(starts[-1]), width), dtype=np.int64)
    for e, tok in enumerate(tokens):
        if counts[e]:
            stacked[starts[e]: starts[e + 1], : tok.shape[1]] = tok
    flat = [np.concatenate([np.asarray(x[e], dtype=np.int64).ravel() for e in range(n_members)])
            for x in (lengths, targets)]
    offsets, level_starts, child, parent, token, ends, weights, classes = _ragged_kernel(
        stacked, flat[0], flat[1], starts, n_tokens)
    levels = range(1, len(level_starts))
    child_t, parent_t, token_t = (torch.from_numpy(a) for a in (child, parent, token))
    return RaggedPlan(tuple(int(o) for o in offsets),
                      tuple(child_t[level_starts[t - 1]: level_starts[t]] for t in levels),
                      tuple(parent_t[level_starts[t - 1]: level_starts[t]] for t in levels),
                      tuple(token_t[level_starts[t - 1]: level_starts[t]] for t in levels),
                      torch.from_numpy(ends.ravel()), torch.as_tensor(weights, dtype=dtype),
                      torch.from_numpy(classes))


def ragged_forward(params: dict[str, torch.Tensor], plan: RaggedPlan, relu: bool, states: torch.Tensor) -> None:
    """Write every member's prefix states into the contiguous ``states`` ``(E, n_nodes, P)``."""
    n_members, hidden = states.shape[0], states.shape[2]
    x_table = _input_table(params)
    n_tokens = x_table.shape[1]
    w_hh_t = params["W_hh"].transpose(1, 2)
    off = plan.offsets
    states[:, 0] = params["h0"]
    for t in range(1, plan.depth + 1):
        n_parents = off[t] - off[t - 1]
        u = torch.bmm(states[:, off[t - 1]: off[t]], w_hh_t)
        grid = states.new_empty(n_members, n_parents, n_tokens, hidden)
        for k in range(n_tokens):  # one add per token (see kernels._forward)
            torch.add(u, x_table[:, k: k + 1], out=grid[:, :, k])
        level = grid.view(-1, hidden).index_select(0, plan.child_index[t - 1]).view(n_members, -1, hidden)
        if relu:
            torch.clamp_min(level, 0.0, out=states[:, off[t]: off[t + 1]])
        else:
            torch.tanh(level, out=states[:, off[t]: off[t + 1]])


def ragged_loss(params: dict[str, torch.Tensor], plan: RaggedPlan, states: torch.Tensor, loss: str,
                want_grad: bool, jump: bool = False):
    """Final states, per-member weighted-mean loss and accuracy, and ``dL/dy`` (or None).

    Weights ``1/n_e`` make each member's loss the mean over its own sequences, as in
    ``kernels._loss``: MSE ``mean_o (y − onehot)²`` per sequence, CE ``−log softmax(y)[target]``.
    """
    n_members, hidden = states.shape[0], states.shape[2]
    h_final = states.view(-1, hidden).index_select(0, plan.ends).view(n_members, -1, hidden)
    y = _readout(params, h_final, jump)
    onehot = torch.zeros_like(y).scatter_(2, plan.targets.unsqueeze(2), 1.0)
    w = plan.weights
    accuracy = ((y.argmax(-1) == plan.targets).to(y.dtype) * w).sum(1)
    if loss == "mse":
        diff = y - onehot
        value = (diff.square().mean(2) * w).sum(1)
        grad = diff.mul_((2.0 / y.shape[2]) * w.unsqueeze(2)) if want_grad else None
    else:
        logp = torch.log_softmax(y, -1)
        value = (-(logp * onehot).sum(-1) * w).sum(1)
        grad = logp.exp_().sub_(onehot).mul_(w.unsqueeze(2)) if want_grad else None
    return h_final, value, accuracy, grad


def ragged_backward(params: dict[str, torch.Tensor], plan: RaggedPlan, states: torch.Tensor,
                    h_final: torch.Tensor, dy: torch.Tensor, relu: bool, jump: bool = False
                    ) -> dict[str, torch.Tensor]:
    """BPTT through every member's padded trie (``kernels._backward`` with per-member indices)."""
    n_members, n_nodes, hidden = states.shape
    grads = {"W_hy": torch.bmm(dy.transpose(1, 2), _jumped(h_final) if jump else h_final), "b_hy": dy.sum(1)}
    node_grads = states.new_zeros(n_members * n_nodes, hidden)
    node_grads.index_add_(0, plan.ends, torch.bmm(dy, params["W_hy"]).view(-1, hidden))
    node_grads = node_grads.view(n_members, n_nodes, hidden)
    parent_grads = states.new_empty(n_members, plan.offsets[plan.depth], hidden)
    n_tokens = params["W_ih"].shape[2]
    d_in = states.new_zeros(n_members * n_tokens, hidden)
    w_hh = params["W_hh"]
    off = plan.offsets
    for t in range(plan.depth, 0, -1):
        h = states[:, off[t]: off[t + 1]]
        g = node_grads[:, off[t]: off[t + 1]]
        d = (torch.ops.aten.threshold_backward(g, h, 0) if relu else torch.ops.aten.tanh_backward(g, h))
        d = d.reshape(-1, hidden)
        d_parent = states.new_zeros(n_members * (off[t] - off[t - 1]), hidden).index_add_(0, plan.parent_index[t - 1], d)
        d_parent = d_parent.view(n_members, -1, hidden)
        parent_grads[:, off[t - 1]: off[t]] = d_parent
        d_in.index_add_(0, plan.token_index[t - 1], d)
        if t > 1:
            node_grads[:, off[t - 1]: off[t]] += torch.bmm(d_parent, w_hh)
    inner = off[plan.depth]
    grads["W_hh"] = torch.bmm(parent_grads.transpose(1, 2), states[:, :inner])
    d_in = d_in.view(n_members, n_tokens, hidden)
    grads["b_hh"] = grads["b_ih"] = d_in.sum(1)
    grads["W_ih"] = d_in.transpose(1, 2)
    return grads
