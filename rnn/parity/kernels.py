"""Batched, prefix-shared forward and backward passes of stacked Elman RNNs (hand-written BPTT).

The package-internal compute layer of ``rnn.parity``: the training loop
(``rnn/parity/ensemble.py``) and the evaluation functions (``rnn/parity/evaluation.py``)
are written on top of these kernels. E members' weights are stacked along a leading
axis and stepped with batched matmuls. Within a set of sequences every distinct prefix
is stepped once (``rnn/parity/prefix_trie.py``): the recurrent term ``W_hh h`` is
computed once per parent prefix and shared by its children, and in the backward pass
the children's gradients are summed into the parent before one multiplication by
``W_hh``. ``loss_and_gradients`` is the public entry point (tested against autograd).

Per epoch of the P25 setting (2046 sequences, P = 100) the prefix-shared pass costs
about 1.75e8 multiply-adds per member (≈ 3.3× fewer than stepping every sequence),
almost all in batched ``(E, n, P) @ (E, P, P)`` matmuls. Members never interact (one
matmul per member in each batched call).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from interaction.checks import check_choice
from rnn.parity import elman
from rnn.parity.data import SequenceSet
from rnn.parity.prefix_trie import PrefixTrie, build_trie

LOSSES = ("mse", "ce")
#: ``linear``: y = W_hy h + b_hy; ``discontinuity`` (P25 §D.9): y = W_hy (h + 1[h > 0]) + b_hy.
READOUTS = ("linear", "discontinuity")


def stack_params(params: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack single-network param dicts (``rnn/parity/elman.py`` keys) along a new leading member axis."""
    return {k: torch.stack([p[k] for p in params]) for k in elman.PARAM_NAMES}


def _as_stacked(params: dict) -> tuple[dict[str, torch.Tensor], bool]:
    """Torch tensors (sharing memory with numpy input) with a leading member axis; and whether
    the input was a single network."""
    missing = [k for k in elman.PARAM_NAMES if k not in params]
    if missing:
        raise ValueError(f"params is missing keys {missing} (expected {elman.PARAM_NAMES})")
    single = np.ndim(params["W_hh"]) == 2
    out = {k: torch.as_tensor(params[k]) for k in elman.PARAM_NAMES}
    return ({k: v.unsqueeze(0) for k, v in out.items()} if single else out), single


@dataclass(frozen=True)
class _Plan:
    """A prefix trie laid out for the batched kernels (flat node numbering of ``PrefixTrie``).

    Level t is *complete* when every parent has all I children; its children are then
    the dense grid ``(parent, token)`` and need no index tensors.
    """

    offsets: tuple[int, ...]
    complete: tuple[bool, ...]            # per depth t = 1..T
    grid_index: tuple[torch.Tensor | None, ...]  # parent * I + token, incomplete levels only
    parents: tuple[torch.Tensor | None, ...]
    tokens: tuple[torch.Tensor | None, ...]
    ends: torch.Tensor | None             # flat end nodes in ``order``; None if they are a contiguous range
    end_range: tuple[int, int]
    end_levels: tuple[tuple[int, int, int, torch.Tensor | None], ...]  # (t, start, stop, local nodes or None)
    order: np.ndarray                     # sequence indices sorted by end node

    @property
    def depth(self) -> int:
        return len(self.complete)

    @property
    def n_nodes(self) -> int:
        return self.offsets[-1]


def _plan(trie: PrefixTrie, n_tokens: int) -> _Plan:
    offsets = tuple(int(o) for o in trie.offsets)
    complete, grid_index, parents, tokens = [], [], [], []
    for t in range(1, len(offsets) - 1):
        full = offsets[t + 1] - offsets[t] == n_tokens * (offsets[t] - offsets[t - 1])
        complete.append(full)
        par, tok = trie.parents[t - 1], trie.tokens[t - 1]
        grid_index.append(None if full else torch.from_numpy(par * n_tokens + tok))
        parents.append(None if full else torch.from_numpy(par))
        tokens.append(None if full else torch.from_numpy(tok))
    order = np.argsort(trie.ends, kind="stable")
    ends = trie.ends[order]
    contiguous = bool(np.all(np.diff(ends) == 1)) if ends.size > 1 else True
    level = np.searchsorted(trie.offsets, ends, side="right") - 1
    end_levels = []
    for t in np.unique(level):
        start, stop = np.searchsorted(level, [t, t + 1])
        local = ends[start:stop] - offsets[t]
        identity = local.size == offsets[t + 1] - offsets[t] and bool(np.all(local == np.arange(local.size)))
        end_levels.append((int(t), int(start), int(stop), None if identity else torch.from_numpy(local)))
    return _Plan(offsets, tuple(complete), tuple(grid_index), tuple(parents), tuple(tokens),
                 None if contiguous else torch.from_numpy(ends), (int(ends[0]), int(ends[-1]) + 1),
                 tuple(end_levels), order)


def _plan_for(data: SequenceSet, n_tokens: int) -> _Plan:
    return _plan(build_trie(data.tokens, data.lengths, n_tokens), n_tokens)


class _Workspace:
    """Preallocated ``(E, nodes, P)`` buffers for the states and parent-gradients of a trie.

    Writing every level into one flat buffer avoids an allocation per level and a
    concatenation before the weight-gradient matmul; a smaller ensemble (members
    dropped) uses the leading rows.
    """

    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype
        self._buffers: dict[str, torch.Tensor] = {}

    def get(self, name: str, members: int, nodes: int, hidden: int) -> torch.Tensor:
        buf = self._buffers.get(name)
        if buf is None or buf.shape[0] < members or buf.shape[1] < nodes:
            shape = (members if buf is None else max(members, buf.shape[0]),
                     nodes if buf is None else max(nodes, buf.shape[1]), hidden)
            buf = self._buffers[name] = torch.empty(shape, dtype=self.dtype)
        return buf[:members]


def _input_table(params: dict[str, torch.Tensor]) -> torch.Tensor:
    """``W_ih[:, k] + b_ih + b_hh`` for every token k: ``(E, I, P)`` (the input term of a step)."""
    return params["W_ih"].transpose(1, 2) + (params["b_ih"] + params["b_hh"]).unsqueeze(1)


def _forward(params: dict[str, torch.Tensor], plan: _Plan, relu: bool, states: torch.Tensor) -> None:
    """Write the state of every distinct prefix into ``states[:, node]`` (level by level).

    ``h[t] = φ(grid(W_hh h[t-1] (once per parent), x_table)[children])``.
    """
    n_members, hidden = states.shape[0], states.shape[2]
    x_table = _input_table(params)
    n_tokens = x_table.shape[1]
    w_hh_t = params["W_hh"].transpose(1, 2)
    off = plan.offsets
    states[:, 0] = params["h0"]
    for t in range(1, plan.depth + 1):
        u = torch.bmm(states[:, off[t - 1]: off[t]], w_hh_t)
        level = states[:, off[t]: off[t + 1]]
        complete = plan.complete[t - 1]
        grid = level if complete else states.new_empty(n_members, n_tokens * (off[t] - off[t - 1]), hidden)
        grid = grid.view(n_members, off[t] - off[t - 1], n_tokens, hidden)
        for k in range(n_tokens):  # one add per token: far faster than a broadcast over (parent, token)
            torch.add(u, x_table[:, k: k + 1], out=grid[:, :, k])
        if not complete:
            torch.index_select(grid.view(n_members, -1, hidden), 1, plan.grid_index[t - 1], out=level)
        level.clamp_min_(0.0) if relu else level.tanh_()


def _final_states(states: torch.Tensor, plan: _Plan) -> torch.Tensor:
    """States after each sequence, in ``plan.order``: ``(E, n, P)`` (a view when possible)."""
    if plan.ends is None:
        return states[:, plan.end_range[0]: plan.end_range[1]]
    return states.index_select(1, plan.ends)


def _jumped(h: torch.Tensor) -> torch.Tensor:
    """``h + 1[h > 0]``: the discontinuity P25 §D.9 applies before the readout."""
    return h + (h > 0).to(h.dtype)


def _readout(params: dict[str, torch.Tensor], h: torch.Tensor, jump: bool = False) -> torch.Tensor:
    """``W_hy h + b_hy``, or ``W_hy (h + 1[h > 0]) + b_hy`` with ``jump`` (readout ``'discontinuity'``)."""
    return torch.baddbmm(params["b_hy"].unsqueeze(1), _jumped(h) if jump else h, params["W_hy"].transpose(1, 2))


def _loss(y: torch.Tensor, targets: torch.Tensor, loss: str, want_grad: bool, want_accuracy: bool = True
          ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Per-member mean loss, (optionally) argmax accuracy and ``dL/dy``.

    MSE (``nn.MSELoss``): ``L = mean_{b,o} (y_bo − onehot_bo)²``, ``dL/dy = 2 (y − onehot)/(B·O)``.
    CE (``nn.CrossEntropyLoss``): ``L = mean_b −log softmax(y_b)[target_b]``, ``dL/dy = (softmax − onehot)/B``.
    """
    n, n_out = y.shape[1], y.shape[2]
    onehot = y.new_zeros(n, n_out).scatter_(1, targets.unsqueeze(1), 1.0)
    accuracy = (y.argmax(-1) == targets).to(y.dtype).mean(1) if want_accuracy else None
    if loss == "mse":
        diff = y - onehot
        value = diff.square().mean((1, 2))
        grad = diff.mul_(2.0 / (n * n_out)) if want_grad else None
    else:
        logp = torch.log_softmax(y, -1)
        value = -(logp * onehot).sum(-1).mean(1)
        grad = logp.exp_().sub_(onehot).div_(n) if want_grad else None
    return value, accuracy, grad


def _backward(params: dict[str, torch.Tensor], plan: _Plan, states: torch.Tensor, h_final: torch.Tensor,
              dy: torch.Tensor, relu: bool, parent_grads: torch.Tensor, jump: bool = False
              ) -> dict[str, torch.Tensor]:
    """BPTT through the prefix trie: gradients of the loss w.r.t. every trained parameter.

    With ``d[t] = ∂L/∂(pre-activation at depth t)``: the children of one parent share
    ``W_hh h_parent``, so their ``d`` are summed into ``parent_grads`` (level t-1) first;
    then ``∂L/∂h[t-1] = parent_grads[t-1] W_hh`` (+ the readout's gradient where a
    sequence ends), ``∂L/∂W_hh = Σ_nodes parent_grads ⊗ h`` (one matmul over all
    levels), ``∂L/∂W_ih[:, k] = Σ_{nodes with token k} d``, ``∂L/∂b = Σ_nodes d``.
    With ``jump`` the readout sees ``h + 1[h > 0]``: ``∂L/∂W_hy`` uses that, and ``∂L/∂h`` is
    unchanged because the step function's derivative is zero almost everywhere.
    """
    n_members, hidden = states.shape[0], states.shape[2]
    grads = {"W_hy": torch.bmm(dy.transpose(1, 2), _jumped(h_final) if jump else h_final), "b_hy": dy.sum(1)}
    dh_final = torch.bmm(dy, params["W_hy"])
    injected = {t: (dh_final[:, a:b], local) for t, a, b, local in plan.end_levels}

    def inject(t: int, g: torch.Tensor | None) -> torch.Tensor:
        part, local = injected[t]
        if g is None:
            g = part if local is None else part.new_zeros(n_members, plan.offsets[t + 1] - plan.offsets[t],
                                                          hidden).index_add_(1, local, part)
        elif local is None:
            g += part
        else:
            g.index_add_(1, local, part)
        return g

    w_hh = params["W_hh"]
    off = plan.offsets
    d_in = states.new_zeros(n_members, params["W_ih"].shape[2], hidden)
    g = inject(plan.depth, None)
    for t in range(plan.depth, 0, -1):
        h = states[:, off[t]: off[t + 1]]
        d = torch.ops.aten.threshold_backward(g, h, 0) if relu else torch.ops.aten.tanh_backward(g, h)
        n_parents = off[t] - off[t - 1]
        d_parent = parent_grads[:, off[t - 1]: off[t]]
        if plan.complete[t - 1]:
            d_grid = d.view(n_members, n_parents, -1, hidden)
            if d_grid.shape[2] == 1:
                d_parent.copy_(d_grid[:, :, 0])
            else:  # sum over the siblings; slice adds are far faster than a reduction over a size-I axis
                torch.add(d_grid[:, :, 0], d_grid[:, :, 1], out=d_parent)
                for k in range(2, d_grid.shape[2]):
                    d_parent += d_grid[:, :, k]
            d_in += d_grid.sum(1)
        else:
            d_parent.zero_().index_add_(1, plan.parents[t - 1], d)
            d_in.index_add_(1, plan.tokens[t - 1], d)
        if t > 1:
            g = torch.bmm(d_parent, w_hh)
            if t - 1 in injected:
                g = inject(t - 1, g)
    inner = off[plan.depth]
    grads["W_hh"] = torch.bmm(parent_grads[:, :inner].transpose(1, 2), states[:, :inner])
    grads["b_hh"] = grads["b_ih"] = d_in.sum(1)
    grads["W_ih"] = d_in.transpose(1, 2)
    return grads


def _loss_on(params: dict[str, torch.Tensor], plan: _Plan, targets: torch.Tensor, loss: str, relu: bool,
             workspace: _Workspace, want_grad: bool, want_accuracy: bool = True, jump: bool = False):
    """Forward pass over a trie: (states buffer, final states, loss, accuracy, dL/dy or None)."""
    n_members, hidden = params["W_hh"].shape[0], params["W_hh"].shape[1]
    states = workspace.get("states", n_members, plan.n_nodes, hidden)
    _forward(params, plan, relu, states)
    h_final = _final_states(states, plan)
    value, accuracy, dy = _loss(_readout(params, h_final, jump), targets, loss, want_grad, want_accuracy)
    return states, h_final, value, accuracy, dy


def _gradients(params, plan, states, h_final, dy, relu, workspace, jump: bool = False) -> dict[str, torch.Tensor]:
    n_members, hidden = states.shape[0], states.shape[2]
    parent_grads = workspace.get("parent_grads", n_members, plan.n_nodes, hidden)
    return _backward(params, plan, states, h_final, dy, relu, parent_grads, jump)


def _sgd_update(params: dict[str, torch.Tensor], grads: dict[str, torch.Tensor], neg_lrs: torch.Tensor) -> None:
    """``θ ← θ − lr_e ∇θ`` for every member e (in place)."""
    for name, grad in grads.items():
        params[name].addcmul_(grad, neg_lrs.view(-1, *([1] * (grad.dim() - 1))))


@torch.no_grad()
def loss_and_gradients(params: dict, data: SequenceSet, targets: np.ndarray, *,
                       nonlinearity: str = "relu", loss: str = "mse", readout: str = "linear"
                       ) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
    """Mean loss over ``data`` and its gradients, by the prefix-shared hand-written BPTT.

    ``params`` stacked (leading member axis) or a single ``rnn/parity/elman.py`` dict (the
    gradients then have no member axis). ``h0`` receives no gradient (it is not trained).
    ``readout``: ``'linear'`` or ``'discontinuity'`` (``READOUTS``).
    """
    check_choice("nonlinearity", nonlinearity, elman.NONLINEARITIES)
    check_choice("loss", loss, LOSSES)
    check_choice("readout", readout, READOUTS)
    jump = readout == "discontinuity"
    stacked, single = _as_stacked(params)
    plan = _plan_for(data, stacked["W_ih"].shape[2])
    if plan.depth == 0:
        raise ValueError("data must contain a sequence of length >= 1")
    relu = nonlinearity == "relu"
    y_targets = torch.as_tensor(np.asarray(targets)[plan.order], dtype=torch.long)
    workspace = _Workspace(stacked["W_hh"].dtype)
    states, h_final, value, _, dy = _loss_on(stacked, plan, y_targets, loss, relu, workspace, True, jump=jump)
    grads = _gradients(stacked, plan, states, h_final, dy, relu, workspace, jump)
    if single:
        grads = {k: v[0] for k, v in grads.items()}
    return value.numpy(), grads


def _track(params: dict[str, torch.Tensor], plan: _Plan, relu: bool, workspace: _Workspace) -> torch.Tensor:
    n_members, hidden = params["W_hh"].shape[0], params["W_hh"].shape[1]
    states = workspace.get("states", n_members, plan.n_nodes, hidden)
    _forward(params, plan, relu, states)
    final = _final_states(states, plan)
    out = final.new_empty(n_members, 1 + final.shape[1], hidden)
    out[:, 0] = params["h0"]
    out[:, 1 + torch.from_numpy(plan.order)] = final
    return out
