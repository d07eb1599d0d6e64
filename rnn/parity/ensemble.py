"""Train an ensemble of Elman RNNs on one data set as a single batched computation.

Every member e is the network of ``rnn/parity/elman.py`` (van Rossem & Saxe 2025, §C.1)

    h_t = φ(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   y = W_hy h_T + b_hy,

initialised by ``elman.init_params(seed=seeds[e], gain=gains[e])``; ``h_0`` is fixed
(not trained), as in the reference code where ``init_hidden`` returns ``torch.ones``.
The E members' weights are stacked along a leading axis and stepped with batched
matmuls; forward and backward (BPTT) are written by hand, and the update is plain
SGD ``θ ← θ − lr ∇θ L``. Within a minibatch every distinct prefix is stepped once
(``rnn/parity/prefix_trie.py``): the recurrent term ``W_hh h`` is computed once per parent
prefix and shared by its children, and in the backward pass the children's
gradients are summed into the parent before one multiplication by ``W_hh``.

Protocols
---------
``'paper'`` (P25 §C.1, spec §4.1): each epoch visits the lengths present in the data
in increasing order; the sequences of one length are shuffled and cut into
minibatches of ``batch_size`` (21 SGD steps per epoch for all 2046 sequences of
length 1..10), so a batch never mixes lengths. The loss of a minibatch is its mean
(``nn.MSELoss``: mean over batch and outputs of ``(y − onehot)²``;
``nn.CrossEntropyLoss``: mean over the batch). One shuffle, drawn from
``config.shuffle_seed``, is used by every member, so member e reproduces a single
network trained with that seed, gain and that minibatch order (the reference drew
the order from torch's global RNG in a ``DataLoader``; only the order differs).

``'full_batch'``: one gradient-descent step per epoch on the mean loss over the whole
training set (Euler steps of gradient flow with step ``lr``), closest to the theory.

Bookkeeping
-----------
The training loss (mean over all training sequences) is measured at the start of
every epoch, before its updates, like the reference's trackers: column k of
``train_loss`` is the loss after k epochs. A member stops when that loss is not
finite ('diverged'), when it is below ``loss_threshold`` ('converged'), or after
``max_epochs`` epochs ('capped'); its parameters are recorded and it is dropped from
the stacked tensors. ``epochs[e]`` counts the epochs of updates it received.
Trackers (hidden states of ``track_data`` with their readout, and named validation
sets) also run at the start of the chosen epochs.

Performance
-----------
Per epoch of the P25 setting (2046 sequences, P = 100) the prefix-shared pass costs
about 1.75e8 multiply-adds per member (≈ 3.3× fewer than stepping every sequence),
almost all in batched ``(E, n, P) @ (E, P, P)`` matmuls, so large ensembles run near
the matmul throughput of the machine. Members never interact (one matmul per member in
each batched call), so a member's run does not depend on who else is in the ensemble
(up to floating-point rounding; tested).
On a shared machine ``torch.set_num_threads(1)`` with ensembles run side by side
in separate processes is usually faster than intra-op threads.
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from interaction.checks import check_choice, check_int, check_positive
from rnn.parity import elman
from rnn.parity.data import SequenceSet, all_sequences
from rnn.parity.prefix_trie import PrefixTrie, build_trie, trie_of_valid

LOSSES = ("mse", "ce")
PROTOCOLS = ("paper", "full_batch")
DTYPES = {"float32": torch.float32, "float64": torch.float64}
STATUSES = ("converged", "capped", "diverged")


@dataclass(frozen=True)
class TrainConfig:
    """Model and optimisation settings shared by all members (defaults: the P25 main run, §C.1).

    ``loss_threshold=None`` never stops early; ``shuffle_seed`` seeds the minibatch
    order of the ``'paper'`` protocol; ``dtype`` is ``'float32'`` or ``'float64'``.
    """

    hidden: int = 100
    nonlinearity: str = "relu"
    loss: str = "mse"
    lr: float = 0.02
    batch_size: int = 128
    protocol: str = "paper"
    max_epochs: int = 1000
    loss_threshold: float | None = None
    h0: str = "ones"
    dtype: str = "float32"
    shuffle_seed: int = 0
    n_in: int = 2
    n_out: int = 2

    def __post_init__(self) -> None:
        check_int("hidden", self.hidden, minimum=1)
        check_choice("nonlinearity", self.nonlinearity, elman.NONLINEARITIES)
        check_choice("loss", self.loss, LOSSES)
        check_positive("lr", self.lr)
        check_int("batch_size", self.batch_size, minimum=1)
        check_choice("protocol", self.protocol, PROTOCOLS)
        check_int("max_epochs", self.max_epochs, minimum=0)
        if self.loss_threshold is not None:
            check_positive("loss_threshold", self.loss_threshold)
        check_choice("h0", self.h0, elman.H0_MODES)
        check_choice("dtype", self.dtype, tuple(DTYPES))
        check_int("shuffle_seed", self.shuffle_seed, minimum=0)
        check_int("n_in", self.n_in, minimum=1)
        check_int("n_out", self.n_out, minimum=1)

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]


@dataclass(frozen=True)
class EnsembleResult:
    """Outcome of ``train_ensemble``; arrays have a leading member axis of size E.

    ``train_loss``/``train_accuracy`` ``(E, n_columns)``: column k after k epochs, NaN
    after the member stopped. ``tracked_hidden`` ``(n_tracked, E, 1 + n_track, P)``:
    row 0 is ``h_0``, the others follow ``track_data``; ``tracked_output``
    ``(n_tracked, E, 1 + n_track, n_out)`` the readout ``W_hy h + b_hy`` of those states
    (with that epoch's readout); both NaN where the member had already stopped (or the
    run ended) before that epoch. ``validation_loss[name]``/``validation_accuracy[name]``
    ``(E, n_validation_epochs)`` at ``validation_epochs``, NaN after the member stopped.
    ``tracked_params`` (only with ``track_params=True``): ``{name: (n_tracked, E, ...)}``, the
    parameters at the start of each tracked epoch, NaN where the member had already stopped.
    """

    config: TrainConfig
    seeds: np.ndarray
    gains: np.ndarray
    lrs: np.ndarray
    initial_params: dict[str, np.ndarray]
    params: dict[str, np.ndarray]
    status: np.ndarray
    epochs: np.ndarray
    train_loss: np.ndarray
    train_accuracy: np.ndarray
    tracked_epochs: np.ndarray
    tracked_hidden: np.ndarray
    tracked_output: np.ndarray
    validation_epochs: np.ndarray
    validation_loss: dict[str, np.ndarray]
    validation_accuracy: dict[str, np.ndarray]
    seconds: float = field(default=0.0)
    tracked_params: dict[str, np.ndarray] | None = field(default=None)

    def __len__(self) -> int:
        return int(self.seeds.shape[0])

    def member_params(self, i: int, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
        """Final parameters of member ``i`` as an ``rnn/parity/elman.py`` param dict (training dtype by default)."""
        i = check_int("i", i, minimum=0, maximum=len(self) - 1)
        dtype = self.config.torch_dtype if dtype is None else dtype
        return {k: torch.as_tensor(v[i]).to(dtype) for k, v in self.params.items()}

    def final_loss(self) -> np.ndarray:
        """Each member's last recorded training loss (the one that decided its status)."""
        return self.train_loss[np.arange(len(self)), self.epochs]


# ----------------------------------------------------------------------------- batched model

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


def _readout(params: dict[str, torch.Tensor], h: torch.Tensor) -> torch.Tensor:
    return torch.baddbmm(params["b_hy"].unsqueeze(1), h, params["W_hy"].transpose(1, 2))


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
              dy: torch.Tensor, relu: bool, parent_grads: torch.Tensor) -> dict[str, torch.Tensor]:
    """BPTT through the prefix trie: gradients of the loss w.r.t. every trained parameter.

    With ``d[t] = ∂L/∂(pre-activation at depth t)``: the children of one parent share
    ``W_hh h_parent``, so their ``d`` are summed into ``parent_grads`` (level t-1) first;
    then ``∂L/∂h[t-1] = parent_grads[t-1] W_hh`` (+ the readout's gradient where a
    sequence ends), ``∂L/∂W_hh = Σ_nodes parent_grads ⊗ h`` (one matmul over all
    levels), ``∂L/∂W_ih[:, k] = Σ_{nodes with token k} d``, ``∂L/∂b = Σ_nodes d``.
    """
    n_members, hidden = states.shape[0], states.shape[2]
    grads = {"W_hy": torch.bmm(dy.transpose(1, 2), h_final), "b_hy": dy.sum(1)}
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
             workspace: _Workspace, want_grad: bool, want_accuracy: bool = True):
    """Forward pass over a trie: (states buffer, final states, loss, accuracy, dL/dy or None)."""
    n_members, hidden = params["W_hh"].shape[0], params["W_hh"].shape[1]
    states = workspace.get("states", n_members, plan.n_nodes, hidden)
    _forward(params, plan, relu, states)
    h_final = _final_states(states, plan)
    value, accuracy, dy = _loss(_readout(params, h_final), targets, loss, want_grad, want_accuracy)
    return states, h_final, value, accuracy, dy


def _gradients(params, plan, states, h_final, dy, relu, workspace) -> dict[str, torch.Tensor]:
    n_members, hidden = states.shape[0], states.shape[2]
    parent_grads = workspace.get("parent_grads", n_members, plan.n_nodes, hidden)
    return _backward(params, plan, states, h_final, dy, relu, parent_grads)


def _sgd_update(params: dict[str, torch.Tensor], grads: dict[str, torch.Tensor], neg_lrs: torch.Tensor) -> None:
    """``θ ← θ − lr_e ∇θ`` for every member e (in place)."""
    for name, grad in grads.items():
        params[name].addcmul_(grad, neg_lrs.view(-1, *([1] * (grad.dim() - 1))))


@torch.no_grad()
def loss_and_gradients(params: dict, data: SequenceSet, targets: np.ndarray, *,
                       nonlinearity: str = "relu", loss: str = "mse"
                       ) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
    """Mean loss over ``data`` and its gradients, by the prefix-shared hand-written BPTT.

    ``params`` stacked (leading member axis) or a single ``rnn/parity/elman.py`` dict (the
    gradients then have no member axis). ``h0`` receives no gradient (it is not trained).
    """
    check_choice("nonlinearity", nonlinearity, elman.NONLINEARITIES)
    check_choice("loss", loss, LOSSES)
    stacked, single = _as_stacked(params)
    plan = _plan_for(data, stacked["W_ih"].shape[2])
    if plan.depth == 0:
        raise ValueError("data must contain a sequence of length >= 1")
    relu = nonlinearity == "relu"
    y_targets = torch.as_tensor(np.asarray(targets)[plan.order], dtype=torch.long)
    workspace = _Workspace(stacked["W_hh"].dtype)
    states, h_final, value, _, dy = _loss_on(stacked, plan, y_targets, loss, relu, workspace, True)
    grads = _gradients(stacked, plan, states, h_final, dy, relu, workspace)
    if single:
        grads = {k: v[0] for k, v in grads.items()}
    return value.numpy(), grads


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


def _track(params: dict[str, torch.Tensor], plan: _Plan, relu: bool, workspace: _Workspace) -> torch.Tensor:
    n_members, hidden = params["W_hh"].shape[0], params["W_hh"].shape[1]
    states = workspace.get("states", n_members, plan.n_nodes, hidden)
    _forward(params, plan, relu, states)
    final = _final_states(states, plan)
    out = final.new_empty(n_members, 1 + final.shape[1], hidden)
    out[:, 0] = params["h0"]
    out[:, 1 + torch.from_numpy(plan.order)] = final
    return out


@torch.no_grad()
def evaluate(params: dict, tokens: np.ndarray, targets: np.ndarray, *, nonlinearity: str = "relu",
             loss: str = "mse") -> tuple[np.ndarray, np.ndarray]:
    """Loss and argmax accuracy on equal-length sequences ``tokens`` ``(B, T)`` per member.

    ``params`` stacked (returns ``(E,)`` arrays) or single (returns 0-d arrays). The loss
    is the training loss (MSE on one-hot targets or cross-entropy), mean over the batch.
    One batched matmul per time step for all members and sequences, no autograd, so
    T = 10000 is cheap; the computation uses the dtype of ``params``.
    """
    check_choice("nonlinearity", nonlinearity, elman.NONLINEARITIES)
    check_choice("loss", loss, LOSSES)
    stacked, single = _as_stacked(params)
    tokens_t, targets_t = _evaluation_tensors(tokens, targets, stacked["W_ih"].shape[2], stacked["W_hy"].shape[1])
    value, accuracy = _evaluate(stacked, tokens_t, targets_t, nonlinearity == "relu", loss)
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


def _evaluate(params: dict[str, torch.Tensor], tokens: torch.Tensor, targets: torch.Tensor, relu: bool,
              loss: str) -> tuple[np.ndarray, np.ndarray]:
    return _evaluate_sets(params, [(tokens, targets)], relu, loss)[0]


def _evaluate_sets(params: dict[str, torch.Tensor], sets: Sequence[tuple[torch.Tensor, torch.Tensor]],
                   relu: bool, loss: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Loss and accuracy of several equal-length sets, stepped together (longest set's length in all)."""
    outs = _final_outputs_of_sets(params, [tokens for tokens, _ in sets], relu)
    results = []
    for y, (_, targets) in zip(outs, sets):
        value, accuracy, _ = _loss(y, targets, loss, want_grad=False)
        results.append((value.numpy(), accuracy.numpy()))
    return results


def _final_outputs(params: dict[str, torch.Tensor], tokens: torch.Tensor, relu: bool) -> torch.Tensor:
    """Readout after equal-length sequences ``(B, T)``: ``(E, B, n_out)``."""
    return _final_outputs_of_sets(params, [tokens], relu)[0]


def _final_outputs_of_sets(params: dict[str, torch.Tensor], sets: Sequence[torch.Tensor], relu: bool
                           ) -> list[torch.Tensor]:
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
        outputs[order[j]] = _readout(params, h[:, int(starts[j]): k])
    return outputs  # type: ignore[return-value]


@torch.no_grad()
def outputs(params: dict, tokens: np.ndarray, *, nonlinearity: str = "relu") -> np.ndarray:
    """Network outputs ``W_hy h_T + b_hy`` after equal-length sequences ``tokens`` ``(B, T)``.

    ``(E, B, n_out)`` for stacked ``params``, ``(B, n_out)`` for a single network.
    """
    check_choice("nonlinearity", nonlinearity, elman.NONLINEARITIES)
    stacked, single = _as_stacked(params)
    n_out = stacked["W_hy"].shape[1]
    tokens_t, _ = _evaluation_tensors(tokens, np.zeros(np.shape(tokens)[0], np.int64),
                                      stacked["W_ih"].shape[2], n_out)
    out = _final_outputs(stacked, tokens_t, nonlinearity == "relu").numpy()
    return out[0] if single else out


# ----------------------------------------------------------------------------- data order

def paper_minibatches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of the ``'paper'`` protocol: index arrays of the minibatches, in order.

    Lengths in increasing order; each length's sequences shuffled by ``rng`` and cut
    into consecutive chunks of ``batch_size`` (the last may be smaller), as a
    ``DataLoader(shuffle=True)`` per length does. ``train_ensemble`` draws its epochs
    from ``np.random.default_rng(config.shuffle_seed)`` through this function.
    """
    return _shuffled_batches(_length_groups(lengths), batch_size, rng)


def _length_groups(lengths: np.ndarray) -> list[np.ndarray]:
    lengths = np.asarray(lengths)
    return [np.flatnonzero(lengths == n) for n in np.unique(lengths)]


def _shuffled_batches(groups: list[np.ndarray], batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    batches = []
    for group in groups:
        order = rng.permutation(group)
        batches.extend(order[i: i + batch_size] for i in range(0, order.shape[0], batch_size))
    return batches


# ----------------------------------------------------------------------------- training loop

class _History:
    """Per-epoch arrays that grow by doubling (the epoch cap may be huge, the run short)."""

    def __init__(self, n_members: int, max_columns: int):
        self.max_columns = max_columns
        size = min(max_columns, 1024)
        self.loss = np.full((n_members, size), np.nan)
        self.accuracy = np.full((n_members, size), np.nan)

    def record(self, epoch: int, members: np.ndarray, loss: np.ndarray, accuracy: np.ndarray) -> None:
        if epoch >= self.loss.shape[1]:
            grow = min(self.max_columns, 2 * self.loss.shape[1]) - self.loss.shape[1]
            pad = np.full((self.loss.shape[0], grow), np.nan)
            self.loss = np.concatenate([self.loss, pad], 1)
            self.accuracy = np.concatenate([self.accuracy, pad.copy()], 1)
        self.loss[members, epoch] = loss
        self.accuracy[members, epoch] = accuracy


def _validate_members(seeds: Sequence[int], gains: Sequence[float], lrs: Sequence[float] | None,
                      default_lr: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    seeds = np.atleast_1d(np.asarray(seeds))
    gains = np.atleast_1d(np.asarray(gains, dtype=float))
    if seeds.ndim != 1 or seeds.size == 0:
        raise ValueError("seeds must be a non-empty 1-D sequence of integers")
    for s in seeds:
        check_int("seeds", s, minimum=0)
    if gains.shape != seeds.shape:
        raise ValueError(f"gains must have one entry per seed ({seeds.size}) (got shape {gains.shape})")
    check_positive("gains", gains)
    lrs = np.full(seeds.shape, default_lr) if lrs is None else np.atleast_1d(np.asarray(lrs, dtype=float))
    if lrs.shape != seeds.shape:
        raise ValueError(f"lrs must have one entry per seed ({seeds.size}) (got shape {lrs.shape})")
    check_positive("lrs", lrs)
    return seeds.astype(np.int64), gains, lrs


def _validate_data(data: SequenceSet, targets: np.ndarray, config: TrainConfig) -> np.ndarray:
    if not isinstance(data, SequenceSet) or len(data) == 0:
        raise ValueError("data must be a non-empty SequenceSet")
    if data.lengths.min() < 1:
        raise ValueError("data must not contain empty sequences (lengths must be >= 1)")
    targets = np.asarray(targets)
    if targets.shape != (len(data),) or not np.issubdtype(targets.dtype, np.integer):
        raise ValueError(f"targets must be {len(data)} integer class indices (got {targets.dtype} {targets.shape})")
    if targets.min() < 0 or targets.max() >= config.n_out:
        raise ValueError(f"targets must lie in [0, {config.n_out - 1}]")
    return targets.astype(np.int64)


def train_ensemble(data: SequenceSet, targets: np.ndarray, *, config: TrainConfig = TrainConfig(),
                   seeds: Sequence[int], gains: Sequence[float], lrs: Sequence[float] | None = None,
                   track_epochs: Sequence[int] = (), track_data: SequenceSet | None = None,
                   validation: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
                   validation_epochs: Sequence[int] | None = None,
                   track_params: bool = False, progress: bool = False) -> EnsembleResult:
    """Train one network per ``(seeds[e], gains[e])`` on ``data`` as one batched computation.

    Parameters
    ----------
    data, targets : training sequences and their class indices (parity: ``parity_data.parity``).
    config : shared settings; ``config.protocol`` selects the minibatch order (module docstring).
    seeds, gains : per member, passed to ``elman.init_params``.
    lrs : optional per-member learning rates (default ``config.lr`` for all).
    track_epochs : epochs k in ``[0, max_epochs]`` at whose start (after k epochs of updates)
        the states of ``h_0`` and of every ``track_data`` sequence are stored.
    track_data : sequences to track (default: all sequences of length 1..L, L = ``data.max_length``).
    track_params : also store every parameter at the tracked epochs (``tracked_params``), for
        measurements that need the network itself along training (Jacobian-vector products).
    validation : named validation sets ``{name: (tokens (B, T), targets (B,))}`` of equal-length
        sequences, evaluated (loss and accuracy, as ``evaluate``) at the start of the epochs
        ``validation_epochs`` (default: every epoch).
    progress : show a tqdm bar over epochs.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError("config must be a TrainConfig")
    seeds, gains, lrs_np = _validate_members(seeds, gains, lrs, config.lr)
    targets = _validate_data(data, targets, config)
    track_epochs = np.unique(np.asarray(track_epochs, dtype=np.int64))
    if track_epochs.size and (track_epochs.min() < 0 or track_epochs.max() > config.max_epochs):
        raise ValueError(f"track_epochs must lie in [0, max_epochs={config.max_epochs}]")
    if track_data is None:
        track_data = all_sequences(data.max_length)
    validation = {} if validation is None else dict(validation)
    val_sets = {name: _evaluation_tensors(tok, tgt, config.n_in, config.n_out, name=f"validation[{name!r}]")
                for name, (tok, tgt) in validation.items()}
    val_epochs = (np.arange(config.max_epochs + 1) if validation_epochs is None
                  else np.unique(np.asarray(validation_epochs, dtype=np.int64)))
    if not val_sets:
        val_epochs = val_epochs[:0]
    if val_epochs.size and (val_epochs.min() < 0 or val_epochs.max() > config.max_epochs):
        raise ValueError(f"validation_epochs must lie in [0, max_epochs={config.max_epochs}]")
    dtype, relu = config.torch_dtype, config.nonlinearity == "relu"
    n_members, started = seeds.shape[0], time.perf_counter()

    members = [elman.init_params(hidden=config.hidden, n_in=config.n_in, n_out=config.n_out,
                                 gain=float(g), seed=int(s), h0=config.h0, dtype=dtype)
               for s, g in zip(seeds, gains)]
    params = stack_params(members)
    initial = {k: v.numpy().copy() for k, v in params.items()}
    final = {k: np.empty_like(v) for k, v in initial.items()}
    neg_lrs = -torch.as_tensor(lrs_np, dtype=dtype)
    workspace = _Workspace(dtype)

    full_plan = _plan_for(data, config.n_in)
    full_targets = torch.from_numpy(targets[full_plan.order])
    track_plan = _plan_for(track_data, config.n_in) if track_epochs.size else None
    tracked = np.full((track_epochs.size, n_members, 1 + len(track_data), config.hidden), np.nan,
                      dtype=initial["W_hh"].dtype)
    tracked_out = np.full(tracked.shape[:3] + (config.n_out,), np.nan, dtype=tracked.dtype)
    track_row = {int(k): i for i, k in enumerate(track_epochs)}
    tracked_params = ({k: np.full((track_epochs.size,) + v.shape, np.nan, dtype=v.dtype)
                       for k, v in initial.items()} if track_params else None)
    val_row = {int(k): i for i, k in enumerate(val_epochs)}
    val_loss = {name: np.full((n_members, val_epochs.size), np.nan) for name in val_sets}
    val_acc = {name: np.full((n_members, val_epochs.size), np.nan) for name in val_sets}
    groups = _length_groups(data.lengths)
    tokens_i64 = data.tokens.astype(np.int64)

    history = _History(n_members, config.max_epochs + 1)
    status = np.full(n_members, "capped", dtype="<U9")
    epochs = np.zeros(n_members, dtype=np.int64)
    alive = np.arange(n_members)
    rng = np.random.default_rng(config.shuffle_seed)
    full_batch = config.protocol == "full_batch"

    from tqdm.auto import tqdm
    bar = tqdm(total=config.max_epochs, disable=not progress, unit="epoch", desc="train_ensemble")
    with torch.no_grad():
        for epoch in range(config.max_epochs + 1):
            # trackers run at the start of the epoch, before its updates (as in the reference)
            states, h_final, loss_t, acc_t, dy = _loss_on(params, full_plan, full_targets, config.loss,
                                                          relu, workspace, want_grad=full_batch)
            loss, acc = loss_t.numpy().astype(float), acc_t.numpy().astype(float)
            history.record(epoch, alive, loss, acc)
            if epoch in val_row:
                for name, (value, accuracy) in zip(val_sets, _evaluate_sets(params, list(val_sets.values()),
                                                                              relu, config.loss)):
                    val_loss[name][alive, val_row[epoch]], val_acc[name][alive, val_row[epoch]] = value, accuracy
            if epoch in track_row:
                snapshot = _track(params, track_plan, relu, workspace)
                tracked[track_row[epoch], alive] = snapshot.numpy()
                tracked_out[track_row[epoch], alive] = _readout(params, snapshot).numpy()
                if tracked_params is not None:
                    for k, v in params.items():
                        tracked_params[k][track_row[epoch], alive] = v.numpy()
                if full_batch:  # the tracking pass reused the state buffer
                    states, h_final, _, _, dy = _loss_on(params, full_plan, full_targets, config.loss,
                                                         relu, workspace, want_grad=True)

            diverged = ~np.isfinite(loss)
            converged = (loss < config.loss_threshold if config.loss_threshold is not None
                         else np.zeros_like(diverged))
            stop = diverged | converged | (epoch == config.max_epochs)
            if stop.any():
                done = alive[stop]
                status[done] = np.where(diverged[stop], "diverged",
                                        np.where(converged[stop], "converged", "capped"))
                epochs[done] = epoch
                stopped = torch.from_numpy(np.flatnonzero(stop))
                for k in final:
                    final[k][done] = params[k].index_select(0, stopped).numpy()
                alive = alive[~stop]
                if alive.size == 0:
                    break
                keep = torch.from_numpy(np.flatnonzero(~stop))
                params = {k: v.index_select(0, keep) for k, v in params.items()}
                neg_lrs = neg_lrs.index_select(0, keep)
                if full_batch:  # recompute the (cheap) forward for the remaining members
                    states, h_final, _, _, dy = _loss_on(params, full_plan, full_targets, config.loss,
                                                         relu, workspace, want_grad=True)

            if full_batch:
                _sgd_update(params, _gradients(params, full_plan, states, h_final, dy, relu, workspace), neg_lrs)
            else:
                for batch in _shuffled_batches(groups, config.batch_size, rng):
                    plan = _plan(trie_of_valid(tokens_i64[batch], data.lengths[batch], config.n_in), config.n_in)
                    batch_targets = torch.from_numpy(targets[batch][plan.order])
                    states, h_final, _, _, dy = _loss_on(params, plan, batch_targets, config.loss, relu,
                                                         workspace, want_grad=True, want_accuracy=False)
                    _sgd_update(params, _gradients(params, plan, states, h_final, dy, relu, workspace), neg_lrs)
            bar.update(1)
            if progress and epoch % 10 == 0:
                bar.set_postfix(alive=int(alive.size), loss=f"{np.nanmin(loss):.2e}")
    bar.close()

    n_columns = int(epochs.max()) + 1
    return EnsembleResult(
        config=config, seeds=seeds, gains=gains, lrs=lrs_np, initial_params=initial, params=final,
        status=status, epochs=epochs, train_loss=history.loss[:, :n_columns].copy(),
        train_accuracy=history.accuracy[:, :n_columns].copy(), tracked_epochs=track_epochs,
        tracked_hidden=tracked, tracked_output=tracked_out, validation_epochs=val_epochs,
        validation_loss=val_loss, validation_accuracy=val_acc, seconds=time.perf_counter() - started,
        tracked_params=tracked_params)
