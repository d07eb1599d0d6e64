"""Train an ensemble of Elman RNNs as a single batched computation, on one shared data set or one per member.

Every member e is the network of ``rnn/parity/elman.py`` (van Rossem & Saxe 2025, §C.1)

    h_t = φ(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   y = W_hy h_T + b_hy,

initialised by ``elman.init_params(seed=seeds[e], gain=gains[e])``; ``h_0`` is fixed
(not trained), as in the reference code where ``init_hidden`` returns ``torch.ones``.
The E members' weights are stacked along a leading axis; forward and backward (BPTT)
are written by hand in ``rnn/parity/kernels.py`` (prefix-shared, batched matmuls), and
the update is plain SGD ``θ ← θ − lr ∇θ L``. Evaluation of trained networks
(``evaluate``, ``outputs``, ``hidden_states``) lives in ``rnn/parity/evaluation.py``;
``rnn.parity`` exports all of them.

Protocols
---------
``'paper'`` (P25 §C.1, docs/experiments.md §1): each epoch visits the lengths present in the data
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

Readouts: ``'linear'`` (``y = W_hy h_T + b_hy``) or ``'discontinuity'`` (P25 §D.9:
``y = W_hy (h_T + 1[h_T > 0]) + b_hy``, as the reference's ``parity/model.py`` did from
2025-04-03 to 2025-07-22; the step has zero derivative almost everywhere, so the
gradient w.r.t. ``h_T`` is that of the linear readout).

Bookkeeping
-----------
The training loss (mean over all training sequences) is measured at the start of
every epoch, before its updates, like the reference's trackers: column k of
``train_loss`` is the loss after k epochs. A member stops when that loss is not
finite ('diverged'), when it is below ``loss_threshold`` ('converged'), when it has
made no progress for ``stall_window`` epochs ('stalled': the loss has not fallen by the
relative ``stall_tolerance`` below a reference, which moves to the loss every time it
does, within that many epochs; ``_StallRule``), or after ``max_epochs`` epochs ('capped'); its parameters are recorded and it is dropped from
the stacked tensors. ``epochs[e]`` counts the epochs of updates it received.
Trackers (hidden states of ``track_data`` with their readout, and named validation
sets) also run at the start of the chosen epochs.

With one data set per member (``data`` a list, per-member ``shuffle_seeds``) each member
follows its own minibatch order on its own data through ``rnn/parity/ragged.py``.

Members never interact, so a member's run does not depend on who else is in the
ensemble (up to floating-point rounding; tested). On a shared machine one thread per
process (``validation.common.runtime.torch_threads(1)``) with ensembles run side by
side in separate processes is usually faster than intra-op threads.
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from interaction.cliutil import help_field
from interaction.checks import check_choice, check_int, check_interval, check_positive
from rnn.parity import elman
from rnn.parity.data import SequenceSet, all_sequences
from rnn.parity.evaluation import _evaluate_sets, _evaluation_tensors
from rnn.parity.kernels import (
    LOSSES,
    READOUTS,
    _gradients,
    _loss_on,
    _plan,
    _plan_for,
    _readout,
    _sgd_update,
    _track,
    _Workspace,
    stack_params,
)
from rnn.parity.prefix_trie import trie_of_valid
from rnn.parity.ragged import RaggedPlan, ragged_backward, ragged_forward, ragged_loss, ragged_plan

__all__ = ["DTYPES", "PROTOCOLS", "STATUSES", "EnsembleResult", "TrainConfig", "paper_minibatches", "train_ensemble"]

PROTOCOLS = ("paper", "full_batch")
DTYPES = {"float32": torch.float32, "float64": torch.float64}
STATUSES = ("converged", "capped", "diverged", "stalled")


@dataclass(frozen=True)
class TrainConfig:
    """Model and optimisation settings shared by all members (defaults: the P25 main run, §C.1).

    ``loss_threshold=None`` never stops early; ``shuffle_seed`` seeds the minibatch
    order of the ``'paper'`` protocol; ``dtype`` is ``'float32'`` or ``'float64'``.
    """

    hidden: int = help_field(100, help="hidden units P")
    nonlinearity: str = help_field("relu", help="recurrent nonlinearity", choices=elman.NONLINEARITIES)
    loss: str = help_field("mse", help="training loss: mse on one-hot targets or ce (cross-entropy)", choices=LOSSES)
    lr: float = help_field(0.02, help="SGD learning rate (> 0)")
    batch_size: int = help_field(128, help="minibatch size (>= 1; batches never mix lengths)")
    protocol: str = help_field("paper", help="minibatch order: paper (per length, ascending) or full_batch",
                               choices=PROTOCOLS)
    max_epochs: int = help_field(1000, help="epoch cap (>= 0); a member that reaches it is recorded as 'capped'")
    loss_threshold: float | None = help_field(None, help="a member stops ('converged') once its training loss is "
                                                         "below this (> 0; none: never)")
    stall_window: int | None = help_field(None, help="a member stops ('stalled') when its training loss has not fallen "
                                                     "by the relative stall tolerance within this many epochs "
                                                     "(>= 1; none: never)")
    stall_tolerance: float = help_field(0.01, help="relative loss decrease that counts as progress for the stall rule "
                                                   "(in (0, 1))")
    readout: str = help_field("linear", help="readout: linear (W_hy h + b_hy) or discontinuity "
                                             "(W_hy (h + 1[h > 0]) + b_hy, P25 §D.9)", choices=READOUTS)
    h0: str = help_field("ones", help="fixed initial hidden state", choices=elman.H0_MODES)
    dtype: str = help_field("float32", help="training precision", choices=tuple(DTYPES))
    shuffle_seed: int = help_field(0, help="seed (>= 0) of the minibatch order")
    n_in: int = help_field(2, help="input tokens (>= 1)")
    n_out: int = help_field(2, help="output classes (>= 1)")

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
        if self.stall_window is not None:
            check_int("stall_window", self.stall_window, minimum=1)
        check_interval("stall_tolerance", self.stall_tolerance, 0.0, 1.0, lo_closed=False, hi_closed=False)
        check_choice("readout", self.readout, READOUTS)
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


class _StallRule:
    """Which running members have stalled: no relative progress of ``tolerance`` within ``window`` epochs.

    Each member keeps a reference loss (initially its loss at epoch 0) and the epoch it
    was set. Whenever the loss falls to ``(1 − tolerance) · reference`` or below, the
    reference moves to that loss and epoch. A member whose reference is ``window`` epochs
    old is stalled. ``window=None`` never stalls. Arrays follow the running members.
    """

    def __init__(self, n_members: int, window: int | None, tolerance: float):
        self.window, self.factor = window, 1.0 - tolerance
        self.reference = np.full(n_members, np.inf)
        self.since = np.zeros(n_members, dtype=np.int64)

    def update(self, epoch: int, loss: np.ndarray) -> np.ndarray:
        if self.window is None:
            return np.zeros(loss.shape, dtype=bool)
        progress = loss <= self.factor * self.reference
        self.reference = np.where(progress, loss, self.reference)
        self.since = np.where(progress, epoch, self.since)
        return epoch - self.since >= self.window

    def keep(self, running: np.ndarray) -> None:
        self.reference, self.since = self.reference[running], self.since[running]


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


def _validate_data(data: SequenceSet, targets: np.ndarray, config: TrainConfig, name: str = "data") -> np.ndarray:
    if not isinstance(data, SequenceSet) or len(data) == 0:
        raise ValueError(f"{name} must be a non-empty SequenceSet")
    if data.lengths.min() < 1:
        raise ValueError(f"{name} must not contain empty sequences (lengths must be >= 1)")
    targets = np.asarray(targets)
    if targets.shape != (len(data),) or not np.issubdtype(targets.dtype, np.integer):
        raise ValueError(f"targets of {name} must be {len(data)} integer class indices "
                         f"(got {targets.dtype} {targets.shape})")
    if targets.min() < 0 or targets.max() >= config.n_out:
        raise ValueError(f"targets of {name} must lie in [0, {config.n_out - 1}]")
    valid = np.arange(data.tokens.shape[1])[None, :] < data.lengths[:, None]
    if np.any(valid & ((data.tokens < 0) | (data.tokens >= config.n_in))):
        raise ValueError(f"tokens of {name} must lie in [0, {config.n_in - 1}]")
    return targets.astype(np.int64)


class _SharedData:
    """One training set and one minibatch order for every member (prefix tries shared by all)."""

    def __init__(self, data: SequenceSet, targets: np.ndarray, config: TrainConfig, workspace: _Workspace):
        self.config, self.workspace = config, workspace
        self.lengths, self.targets = data.lengths, targets
        self.tokens = data.tokens.astype(np.int64)
        self.full_plan = _plan_for(data, config.n_in)
        self.full_targets = torch.from_numpy(targets[self.full_plan.order])
        self.groups = _length_groups(data.lengths)
        self.rng = np.random.default_rng(config.shuffle_seed)

    def full_pass(self, params, want_grad: bool):
        """Loss and accuracy on the whole training set per member, and the gradients if asked."""
        c = self.config
        states, h_final, loss, acc, dy = _loss_on(params, self.full_plan, self.full_targets, c.loss, _relu(c),
                                                  self.workspace, want_grad=want_grad, jump=_jump(c))
        grads = (_gradients(params, self.full_plan, states, h_final, dy, _relu(c), self.workspace, _jump(c))
                 if want_grad else None)
        return loss.numpy().astype(float), acc.numpy().astype(float), grads

    def epoch_gradients(self, params):
        """The gradients of one epoch's minibatches, in order (``paper_minibatches``)."""
        c = self.config
        for batch in _shuffled_batches(self.groups, c.batch_size, self.rng):
            plan = _plan(trie_of_valid(self.tokens[batch], self.lengths[batch], c.n_in), c.n_in)
            batch_targets = torch.from_numpy(self.targets[batch][plan.order])
            states, h_final, _, _, dy = _loss_on(params, plan, batch_targets, c.loss, _relu(c), self.workspace,
                                                 want_grad=True, want_accuracy=False, jump=_jump(c))
            yield _gradients(params, plan, states, h_final, dy, _relu(c), self.workspace, _jump(c))

    def keep(self, kept: np.ndarray) -> None:
        """Members ``kept`` (a boolean mask over the running ones) go on; nothing to do here."""


class _PerMemberData:
    """Each member its own training set and minibatch order (``rnn/parity/ragged.py``).

    Member e draws its epochs from ``default_rng(shuffle_seeds[e])`` exactly as a network
    trained alone on ``data[e]`` with that seed does. Within an epoch the steps of one
    length are aligned across members; a member whose batches of that length are used up
    takes a step with zero weight, which plain SGD turns into no update at all.
    """

    def __init__(self, data: Sequence[SequenceSet], targets: Sequence[np.ndarray], config: TrainConfig,
                 shuffle_seeds: np.ndarray):
        self.config = config
        self.tokens = [d.tokens.astype(np.int64) for d in data]
        self.lengths = [d.lengths.astype(np.int64) for d in data]
        self.targets = list(targets)
        self.groups = [_length_groups(d.lengths) for d in data]
        self.rngs = [np.random.default_rng(int(s)) for s in shuffle_seeds]
        self.running = np.arange(len(data))
        self._full: RaggedPlan | None = None

    def _plan(self, pick) -> RaggedPlan:
        members = self.running
        return ragged_plan([pick(self.tokens[e], e) for e in members], [pick(self.lengths[e], e) for e in members],
                           [pick(self.targets[e], e) for e in members], self.config.n_in, self.config.torch_dtype)

    def _pass(self, params, plan: RaggedPlan, want_grad: bool):
        c = self.config
        states = params["W_hh"].new_empty(plan.n_members, plan.n_nodes, c.hidden)
        ragged_forward(params, plan, _relu(c), states)
        h_final, loss, acc, dy = ragged_loss(params, plan, states, c.loss, want_grad, _jump(c))
        grads = ragged_backward(params, plan, states, h_final, dy, _relu(c), _jump(c)) if want_grad else None
        return loss, acc, grads

    def full_pass(self, params, want_grad: bool):
        if self._full is None:
            self._full = self._plan(lambda array, e: array)
        loss, acc, grads = self._pass(params, self._full, want_grad)
        return loss.numpy().astype(float), acc.numpy().astype(float), grads

    def epoch_gradients(self, params):
        c = self.config
        steps: dict[int, list[dict[int, np.ndarray]]] = {}  # length -> step -> {member: batch}
        for e in self.running:
            count: dict[int, int] = {}
            for batch in _shuffled_batches(self.groups[e], c.batch_size, self.rngs[e]):
                length = int(self.lengths[e][batch[0]])
                j = count[length] = count.get(length, -1) + 1
                per_length = steps.setdefault(length, [])
                if j == len(per_length):
                    per_length.append({})
                per_length[j][e] = batch
        empty = np.zeros(0, dtype=np.int64)
        for length in sorted(steps):
            for step in steps[length]:
                plan = self._plan(lambda array, e: array[step.get(e, empty)])
                yield self._pass(params, plan, want_grad=True)[2]

    def keep(self, kept: np.ndarray) -> None:
        self.running = self.running[kept]
        self._full = None


def _relu(config: TrainConfig) -> bool:
    return config.nonlinearity == "relu"


def _jump(config: TrainConfig) -> bool:
    return config.readout == "discontinuity"


def _training_data(data, targets, config: TrainConfig, n_members: int, shuffle_seeds, workspace: _Workspace):
    """The data layout of ``train_ensemble``: one shared set, or one set per member."""
    if isinstance(data, SequenceSet):
        if shuffle_seeds is not None:
            raise ValueError("shuffle_seeds needs one data set per member (pass data as a list); with one "
                             "shared data set every member uses config.shuffle_seed")
        return _SharedData(data, _validate_data(data, targets, config), config, workspace), data.max_length
    data = list(data) if isinstance(data, Sequence) else None
    if data is None or len(data) != n_members:
        raise ValueError(f"data must be a SequenceSet or a list of {n_members} SequenceSets (one per member)")
    if not isinstance(targets, Sequence) or len(targets) != n_members:
        raise ValueError(f"targets must be a list of {n_members} arrays when data is one set per member")
    checked = [_validate_data(d, t, config, name=f"data[{e}]") for e, (d, t) in enumerate(zip(data, targets))]
    if shuffle_seeds is None:
        shuffle_seeds = np.full(n_members, config.shuffle_seed)
    shuffle_seeds = np.atleast_1d(np.asarray(shuffle_seeds))
    if shuffle_seeds.shape != (n_members,):
        raise ValueError(f"shuffle_seeds must have one entry per member ({n_members}) (got shape {shuffle_seeds.shape})")
    for s in shuffle_seeds:
        check_int("shuffle_seeds", s, minimum=0)
    return _PerMemberData(data, checked, config, shuffle_seeds), max(d.max_length for d in data)


def train_ensemble(data: SequenceSet | Sequence[SequenceSet], targets: np.ndarray | Sequence[np.ndarray], *,
                   config: TrainConfig = TrainConfig(),
                   seeds: Sequence[int], gains: Sequence[float], lrs: Sequence[float] | None = None,
                   shuffle_seeds: Sequence[int] | None = None,
                   track_epochs: Sequence[int] = (), track_data: SequenceSet | None = None,
                   validation: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
                   validation_epochs: Sequence[int] | None = None,
                   track_params: bool = False, progress: bool = False) -> EnsembleResult:
    """Train one network per ``(seeds[e], gains[e])`` on ``data`` as one batched computation.

    Parameters
    ----------
    data, targets : training sequences and their class indices (parity: ``rnn.parity.parity``): one
        set shared by every member, or a list with one set (and one target array) per member.
    config : shared settings; ``config.protocol`` selects the minibatch order (module docstring).
    seeds, gains : per member, passed to ``elman.init_params``.
    lrs : optional per-member learning rates (default ``config.lr`` for all).
    shuffle_seeds : with one data set per member, each member's minibatch-order seed (default
        ``config.shuffle_seed`` for all): member e is then the network trained alone on ``data[e]``
        with ``shuffle_seed=shuffle_seeds[e]`` (``rnn/parity/ragged.py``; equal up to rounding).
    track_epochs : epochs k in ``[0, max_epochs]`` at whose start (after k epochs of updates)
        the states of ``h_0`` and of every ``track_data`` sequence are stored.
    track_data : sequences to track (default: all sequences of length 1..L, L the longest training length).
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
    dtype = config.torch_dtype
    workspace = _Workspace(dtype)
    training, max_length = _training_data(data, targets, config, seeds.shape[0], shuffle_seeds, workspace)
    track_epochs = np.unique(np.asarray(track_epochs, dtype=np.int64))
    if track_epochs.size and (track_epochs.min() < 0 or track_epochs.max() > config.max_epochs):
        raise ValueError(f"track_epochs must lie in [0, max_epochs={config.max_epochs}]")
    if track_data is None:
        track_data = all_sequences(max_length)
    validation = {} if validation is None else dict(validation)
    val_sets = {name: _evaluation_tensors(tok, tgt, config.n_in, config.n_out, name=f"validation[{name!r}]")
                for name, (tok, tgt) in validation.items()}
    val_epochs = (np.arange(config.max_epochs + 1) if validation_epochs is None
                  else np.unique(np.asarray(validation_epochs, dtype=np.int64)))
    if not val_sets:
        val_epochs = val_epochs[:0]
    if val_epochs.size and (val_epochs.min() < 0 or val_epochs.max() > config.max_epochs):
        raise ValueError(f"validation_epochs must lie in [0, max_epochs={config.max_epochs}]")
    relu, jump = _relu(config), _jump(config)
    n_members, started = seeds.shape[0], time.perf_counter()

    members = [elman.init_params(hidden=config.hidden, n_in=config.n_in, n_out=config.n_out,
                                 gain=float(g), seed=int(s), h0=config.h0, dtype=dtype)
               for s, g in zip(seeds, gains)]
    params = stack_params(members)
    initial = {k: v.numpy().copy() for k, v in params.items()}
    final = {k: np.empty_like(v) for k, v in initial.items()}
    neg_lrs = -torch.as_tensor(lrs_np, dtype=dtype)

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

    history = _History(n_members, config.max_epochs + 1)
    status = np.full(n_members, "capped", dtype="<U9")
    epochs = np.zeros(n_members, dtype=np.int64)
    alive = np.arange(n_members)
    full_batch = config.protocol == "full_batch"
    stall = _StallRule(n_members, config.stall_window, config.stall_tolerance)

    from tqdm.auto import tqdm
    bar = tqdm(total=config.max_epochs, disable=not progress, unit="epoch", desc="train_ensemble")
    with torch.no_grad():
        for epoch in range(config.max_epochs + 1):
            # trackers run at the start of the epoch, before its updates (as in the reference)
            loss, acc, full_grads = training.full_pass(params, want_grad=full_batch)
            history.record(epoch, alive, loss, acc)
            if epoch in val_row:
                for name, (value, accuracy) in zip(val_sets, _evaluate_sets(params, list(val_sets.values()),
                                                                              relu, config.loss, jump)):
                    val_loss[name][alive, val_row[epoch]], val_acc[name][alive, val_row[epoch]] = value, accuracy
            if epoch in track_row:
                snapshot = _track(params, track_plan, relu, workspace)
                tracked[track_row[epoch], alive] = snapshot.numpy()
                tracked_out[track_row[epoch], alive] = _readout(params, snapshot, jump).numpy()
                if tracked_params is not None:
                    for k, v in params.items():
                        tracked_params[k][track_row[epoch], alive] = v.numpy()

            diverged = ~np.isfinite(loss)
            converged = (loss < config.loss_threshold if config.loss_threshold is not None
                         else np.zeros_like(diverged))
            stalled = stall.update(epoch, loss) & ~diverged & ~converged
            stop = diverged | converged | stalled | (epoch == config.max_epochs)
            if stop.any():
                done = alive[stop]
                status[done] = np.select([diverged[stop], converged[stop], stalled[stop]],
                                         ["diverged", "converged", "stalled"], "capped")
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
                stall.keep(~stop)
                training.keep(~stop)
                if full_grads is not None:
                    full_grads = {k: v.index_select(0, keep) for k, v in full_grads.items()}

            if full_batch:
                _sgd_update(params, full_grads, neg_lrs)
            else:
                for grads in training.epoch_gradients(params):
                    _sgd_update(params, grads, neg_lrs)
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
