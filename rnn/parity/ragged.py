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
level); everything between the matmuls (gathering each child's parent row and input
term, the nonlinearity, and in the backward pass ``φ'``, the readout's gradient at the
sequence ends and the sums over siblings and tokens) is one compiled pass per level
(``_step_children``, ``_children_backward``), which made a training step 1.4–2.3 times
faster than the same computation as separate torch gathers, adds and scatters. Each
sequence carries the weight ``1/n_e`` of its
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

    Index arrays are flat: the ``E·N_t`` children of level ``t`` (member-major) have their
    parent ``parent_index[t-1]`` into ``(E·N_{t-1})`` and their last token ``token_index[t-1]``
    into ``(E·I)``; ``ends`` ``(E·B,)`` index the flattened states ``(E·n_nodes)``, and
    ``ends_at[end_start[n]: end_start[n+1]]`` are the slots of ``ends`` at flat node ``n`` (the
    backward pass injects the readout's gradient there). ``weights`` ``(E, B)`` is ``1/n_e``
    for a member's real sequences and 0 for padding; ``targets`` ``(E, B)`` their classes (0
    for padding).
    """

    offsets: tuple[int, ...]
    parent_index: tuple[np.ndarray, ...]
    token_index: tuple[np.ndarray, ...]
    ends: torch.Tensor
    end_start: np.ndarray
    ends_at: np.ndarray
    weights: torch.Tensor
    targets: torch.Tensor

    @property
    def depth(self) -> int:
        return len(self.parent_index)

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
    padded level offsets, the flat parent/token indices of all levels concatenated
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
    # the slots ending at each flat node (a counting sort of ``ends``; duplicates share a node)
    end_start = np.zeros(n_members * n_nodes + 1, np.int64)
    flat_ends = ends.ravel()
    for slot in range(n_members * batch):
        end_start[flat_ends[slot] + 1] += 1
    for n in range(n_members * n_nodes):
        end_start[n + 1] += end_start[n]
    filled = end_start[:-1].copy()
    ends_at = np.empty(n_members * batch, np.int64)
    for slot in range(n_members * batch):
        node = flat_ends[slot]
        ends_at[filled[node]] = slot
        filled[node] += 1
    return offsets, level_starts, parent, token, ends, end_start, ends_at, weights, classes


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
    offsets, level_starts, parent, token, ends, end_start, ends_at, weights, classes = _ragged_kernel(
        stacked, flat[0], flat[1], starts, n_tokens)
    levels = range(1, len(level_starts))
    return RaggedPlan(tuple(int(o) for o in offsets),
                      tuple(parent[level_starts[t - 1]: level_starts[t]] for t in levels),
                      tuple(token[level_starts[t - 1]: level_starts[t]] for t in levels),
                      torch.from_numpy(ends.ravel()), end_start, ends_at, torch.as_tensor(weights, dtype=dtype),
                      torch.from_numpy(classes))


@njit(cache=True, boundscheck=False)
def _step_children(u, x_table, parent, token, relu, states, first):  # pragma: no cover - compiled
    """``states[e, first + j] = φ(u[e, parent] + x_table[e, token])`` for every child ``j`` of one level.

    ``u`` ``(E, N_{t-1}, P)`` is ``W_hh h`` of the level's parents, ``x_table`` ``(E, I, P)``
    the input terms, ``parent``/``token`` the plan's flat indices (member ``e``'s entries offset
    by ``e·N_{t-1}`` and ``e·I``), ``states`` the whole ``(E, n_nodes, P)`` buffer (passed whole,
    with the level's first node, so that its rows are contiguous and the inner loop vectorises).
    Gather, add and nonlinearity in one pass, where torch ops would write the whole
    ``(parent, token)`` grid and read it back. ReLU keeps a NaN (``0 if v < 0 else v``), so a
    diverged member stays visible.
    """
    n_members, n_parents, hidden = u.shape
    n_tokens = x_table.shape[1]
    width = parent.shape[0] // n_members
    for e in range(n_members):
        for j in range(width):
            u_row = u[e, parent[e * width + j] - e * n_parents]
            x_row = x_table[e, token[e * width + j] - e * n_tokens]
            out = states[e, first + j]
            if relu:
                for i in range(hidden):
                    v = u_row[i] + x_row[i]
                    out[i] = 0.0 if v < 0 else v
            else:
                for i in range(hidden):
                    out[i] = np.tanh(u_row[i] + x_row[i])


@njit(cache=True, boundscheck=False)
def _children_backward(g_children, dh_ends, end_start, ends_at, states, first, parent, token, relu,
                       parent_grads, parent_first, n_parents, d_in):  # pragma: no cover - compiled
    """One level of BPTT: ``d = φ'(h)·∂L/∂h`` per node, summed into its parent and its token.

    ``∂L/∂h`` of the level's nodes ``first .. first + N_t`` is ``g_children`` ``(E, N_t, P)``
    (``d_parent W_hh`` from the level below; empty at the deepest level) plus the readout's
    gradient ``dh_ends`` ``(E·B, P)`` of every sequence ending at the node
    (``end_start``/``ends_at``). Writes the sums of the parents' rows
    ``parent_first .. parent_first + n_parents`` of ``parent_grads`` and adds into ``d_in``
    ``(E, I, P)``. ``φ'`` from the state: ReLU ``1[h > 0]``, tanh ``1 − h²``.
    """
    n_members, n_nodes, hidden = states.shape
    n_tokens = d_in.shape[1]
    width = parent.shape[0] // n_members
    g = np.empty(hidden, states.dtype)
    for e in range(n_members):
        for q in range(n_parents):
            parent_grads[e, parent_first + q] = 0.0
        for j in range(width):
            if g_children.shape[0]:
                g[:] = g_children[e, j]
            else:
                g[:] = 0.0
            node = e * n_nodes + first + j
            for k in range(end_start[node], end_start[node + 1]):
                g += dh_ends[ends_at[k]]
            h = states[e, first + j]
            d_parent = parent_grads[e, parent_first + parent[e * width + j] - e * n_parents]
            d_token = d_in[e, token[e * width + j] - e * n_tokens]
            if relu:
                for i in range(hidden):
                    d = g[i] if h[i] > 0 else 0.0
                    d_parent[i] += d
                    d_token[i] += d
            else:
                for i in range(hidden):
                    d = g[i] * (1.0 - h[i] * h[i])
                    d_parent[i] += d
                    d_token[i] += d


def ragged_forward(params: dict[str, torch.Tensor], plan: RaggedPlan, relu: bool, states: torch.Tensor) -> None:
    """Write every member's prefix states into the contiguous ``states`` ``(E, n_nodes, P)``."""
    x_table = _input_table(params).numpy()
    w_hh_t = params["W_hh"].transpose(1, 2)
    off = plan.offsets
    states[:, 0] = params["h0"]
    buffer = states.numpy()
    for t in range(1, plan.depth + 1):
        u = torch.bmm(states[:, off[t - 1]: off[t]], w_hh_t)
        _step_children(u.numpy(), x_table, plan.parent_index[t - 1], plan.token_index[t - 1], relu, buffer, off[t])


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
    dh_ends = torch.bmm(dy, params["W_hy"]).view(-1, hidden).numpy()
    parent_grads = states.new_empty(n_members, plan.offsets[plan.depth], hidden)
    d_in = states.new_zeros(n_members, params["W_ih"].shape[2], hidden)
    w_hh = params["W_hh"]
    off = plan.offsets
    buffers = states.numpy(), parent_grads.numpy(), d_in.numpy()
    g_children = dh_ends[:0].reshape(0, 0, hidden)
    for t in range(plan.depth, 0, -1):
        _children_backward(g_children, dh_ends, plan.end_start, plan.ends_at, buffers[0], off[t],
                           plan.parent_index[t - 1], plan.token_index[t - 1], relu, buffers[1],
                           off[t - 1], off[t] - off[t - 1], buffers[2])
        if t > 1:
            g_children = torch.bmm(parent_grads[:, off[t - 1]: off[t]], w_hh).numpy()
    inner = off[plan.depth]
    grads["W_hh"] = torch.bmm(parent_grads.transpose(1, 2), states[:, :inner])
    grads["b_hh"] = grads["b_ih"] = d_in.sum(1)
    grads["W_ih"] = d_in.transpose(1, 2)
    return grads
