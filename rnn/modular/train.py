"""Full-batch training of the grokking transformer on modular addition (Nanda et al. 2023, §3; docs/experiments.md §4.3, §6).

One epoch = one AdamW step on the whole training split (lr 1e-3, betas (0.9, 0.98),
eps 1e-8, weight decay per preset) with the reference code's warm-up
``LambdaLR(lambda step: min(step/10, 1))`` (so the first step has lr 0). The loss is
cross-entropy of the ``P + 1`` logits at ``=`` computed in **float64** (the reference
helper casts to float32, progress-measures-paper issue #2; float32 rounding at
losses ~1e-7 causes spikes). Parameters stay float32 as in the reference.

Evaluation happens only at checkpoints (``checkpoint_epochs``: log-spaced during the
first ``dense_until`` epochs, where memorisation happens, then every ``eval_every``);
each checkpoint runs one cached forward over all ``P²`` inputs, records train/test
loss and accuracy from the explicit masks (``=`` logit dropped), optionally keeps a
weight snapshot (for progress measures that need the final model's key frequencies)
and calls ``on_checkpoint(epoch, model, cache)`` so an experiment can measure the
activations without a second forward pass.

Early stop: once test accuracy first reaches ``stop_test_acc`` at epoch ``e``, training
continues for ``cleanup_margin · e`` more epochs (cleanup keeps changing the weights
after accuracy saturates) and then stops with status ``'grokked'``; otherwise the
status is ``'capped'`` at ``max_epochs``, or ``'diverged'`` on a non-finite loss.

Training has no side effect on the process: the model draws its weights from its own
seeded ``torch.Generator`` and nothing else is random, so torch's global RNG is left alone.
``device='cuda'`` trains on a GPU (activations handed to ``on_checkpoint`` stay there);
``on_state``/``resume`` save and continue a run exactly (see ``train``).
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from interaction.cliutil import help_field, parse_seed
from interaction.checks import check_choice, check_int, check_interval, check_nonnegative, check_positive
from rnn.modular.data import ModularAdditionData, check_modulus, modular_addition_data
from rnn.modular.transformer import ModularTransformer


@dataclass(frozen=True)
class ModularConfig:
    """Everything that determines a modular-addition run (docs/experiments.md §4.2–4.3, §6.2)."""

    P: int = help_field(59, help="modulus: a prime >= 3 (the Fourier progress measures need a prime)")
    train_frac: float = help_field(0.3, help="fraction of the P² pairs used for training, in (0, 1)")
    weight_decay: float = help_field(1.0, help="AdamW weight decay (>= 0)")
    lr: float = help_field(1e-3, help="AdamW learning rate (> 0)")
    betas: tuple[float, float] = help_field((0.9, 0.98), help="AdamW betas, comma-separated, each in [0, 1)")
    eps: float = help_field(1e-8, help="AdamW eps (> 0)")
    warmup_steps: int = help_field(10, help="linear learning-rate warm-up steps (0: none)")
    max_epochs: int = help_field(30_000, help="epoch cap (one epoch = one full-batch step)")
    eval_every: int = help_field(100, help="checkpoint interval in epochs after the dense early phase")
    dense_until: int = help_field(500, help="epochs with log-spaced (dense) checkpoints at the start")
    stop_test_acc: float | None = help_field(0.99, help="test accuracy that starts the cleanup margin before "
                                                        "stopping ('none': train to the cap)")
    cleanup_margin: float = help_field(0.5, help="after stop-test-acc is reached at epoch e, train margin·e more epochs")
    d_model: int = help_field(128, help="residual width")
    n_heads: int = help_field(4, help="attention heads")
    d_head: int = help_field(32, help="width of each head")
    d_mlp: int = help_field(512, help="MLP hidden width")
    seed: int = help_field(0, help="model initialisation seed (>= 0)", parse=parse_seed)
    data_seed: int = help_field(0, help="train/test split seed (>= 0)", parse=parse_seed)

    def __post_init__(self) -> None:
        check_modulus(self.P)
        check_interval("train_frac", self.train_frac, 0.0, 1.0, lo_closed=False, hi_closed=False)
        check_nonnegative("weight_decay", self.weight_decay)
        check_positive("lr", self.lr)
        if len(tuple(self.betas)) != 2:
            raise ValueError(f"betas must be two numbers (got {self.betas!r})")
        for i, beta in enumerate(self.betas):
            check_interval(f"betas[{i}]", beta, 0.0, 1.0, hi_closed=False)
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        check_positive("eps", self.eps)
        check_int("warmup_steps", self.warmup_steps, minimum=0)
        check_int("max_epochs", self.max_epochs, minimum=1)
        check_int("eval_every", self.eval_every, minimum=1)
        check_int("dense_until", self.dense_until, minimum=0)
        if self.stop_test_acc is not None:
            check_interval("stop_test_acc", self.stop_test_acc, 0.0, 1.0, lo_closed=False)
        check_nonnegative("cleanup_margin", self.cleanup_margin)
        for name in ("d_model", "n_heads", "d_head", "d_mlp"):
            check_int(name, getattr(self, name), minimum=1)
        # negative seeds are refused: torch would accept them and numpy would fail later with its own message
        check_int("seed", self.seed, minimum=0)
        check_int("data_seed", self.data_seed, minimum=0)


PRESETS: dict[str, ModularConfig] = {
    # docs/experiments.md §6.2: fast = P 59, frac 0.4, the paper's wd 1 (3/3 seeds reach test acc 0.95 at
    # 3.7k–4.4k epochs; at frac 0.3 seed 0 needs 13k epochs even at wd 3)
    "fast": ModularConfig(P=59, train_frac=0.4, weight_decay=1.0, max_epochs=20_000),
    # docs/experiments.md §6.2: the paper's wd 1 at P 59 (seeds 1, 2 reach 0.95 at ~16k, ~21k; seed 0 not by 30k)
    "default": ModularConfig(P=59, train_frac=0.3, weight_decay=1.0, max_epochs=30_000),
    # Nanda et al.'s mainline: P 113, frac 0.3, wd 1, 40k-epoch cap
    "paper": ModularConfig(P=113, train_frac=0.3, weight_decay=1.0, max_epochs=40_000),
}


def preset_config(name: str, **overrides) -> ModularConfig:
    """The named preset (``fast``, ``default``, ``paper``) with fields replaced by ``overrides``."""
    check_choice("preset", name, PRESETS)
    return dataclasses.replace(PRESETS[name], **overrides)


def checkpoint_epochs(max_epochs: int, eval_every: int, dense_until: int, n_dense: int = 24) -> np.ndarray:
    """Sorted checkpoint epochs: 0, ``n_dense`` log-spaced epochs up to ``dense_until``, every
    ``eval_every``, and ``max_epochs``."""
    max_epochs = check_int("max_epochs", max_epochs, minimum=1)
    eval_every = check_int("eval_every", eval_every, minimum=1)
    dense_until = check_int("dense_until", dense_until, minimum=0)
    dense = np.geomspace(1, max(dense_until, 1), n_dense).round() if dense_until > 0 else np.zeros(0)
    regular = np.arange(0, max_epochs + 1, eval_every)
    epochs = np.unique(np.concatenate([[0, max_epochs], dense, regular]).astype(np.int64))
    return epochs[epochs <= max_epochs]


def loss_and_accuracy(logits: torch.Tensor, labels: torch.Tensor, P: int) -> tuple[float, float]:
    """Float64 cross-entropy and accuracy over the first ``P`` logits (the ``=`` class dropped)."""
    logits = logits[:, :P].double()
    return float(F.cross_entropy(logits, labels)), float((logits.argmax(-1) == labels).double().mean())


@dataclass
class TrainResult:
    """Outcome of ``train``: final model, per-checkpoint history and (optionally) weight snapshots."""

    config: ModularConfig
    data: ModularAdditionData
    model: ModularTransformer
    status: str
    message: str
    epochs_trained: int
    grok_epoch: int | None
    epochs: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    train_acc: np.ndarray
    test_acc: np.ndarray
    snapshots: list[dict[str, np.ndarray]] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.status == "grokked"


STATE_VERSION = 1
"""Format version of the ``train`` state dictionaries (``on_state`` / ``resume``)."""
STATE_KEYS = ("version", "epoch", "next_state", "params", "optimizer", "scheduler", "history", "snapshots",
              "status", "message", "grok_epoch", "stop_at")
HISTORY_KEYS = ("epoch", "train_loss", "test_loss", "train_acc", "test_acc")


def check_state(state: Any, config: ModularConfig) -> None:
    """Refuse a resume state that ``train(config, resume=state)`` could not continue exactly.

    A ``ValueError`` says what is wrong: not a dict, another format version, a missing
    entry, an epoch outside ``[0, max_epochs]``, parameters that are not the model's (names
    or shapes), or histories of different lengths that do not end at the state's epoch.
    Nothing is loaded before the whole state has passed.
    """
    if not isinstance(state, Mapping):
        raise ValueError(f"training state must be a dict (got {type(state).__name__})")
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"training state of version {state.get('version')!r}, expected {STATE_VERSION}")
    missing = [k for k in STATE_KEYS if k not in state]
    if missing:
        raise ValueError(f"training state lacks {missing}")
    epoch = check_int("training state epoch", state["epoch"], minimum=0, maximum=config.max_epochs)
    model = ModularTransformer(config.P, d_model=config.d_model, n_heads=config.n_heads, d_head=config.d_head,
                               d_mlp=config.d_mlp)  # for the parameter names and shapes only
    params = state["params"]
    expected = {name: tuple(p.shape) for name, p in model.named_parameters()}
    if not isinstance(params, Mapping) or set(params) != set(expected) or any(
            not isinstance(params[n], torch.Tensor) or tuple(params[n].shape) != shape
            for n, shape in expected.items()):
        raise ValueError("training state's parameters are not those of the configured model (names or shapes)")
    history = state["history"]
    if (not isinstance(history, Mapping) or set(history) != set(HISTORY_KEYS)
            or len({len(history[k]) for k in HISTORY_KEYS}) != 1 or not history["epoch"]
            or int(history["epoch"][-1]) != epoch):
        raise ValueError(f"training state's history is not one record per checkpoint up to epoch {epoch}")
    optimizer = state["optimizer"]
    if not isinstance(optimizer, Mapping) or not {"state", "param_groups"} <= set(optimizer):
        raise ValueError("training state's optimizer entry is not an AdamW state dict")
    if not isinstance(state["snapshots"], list):
        raise ValueError("training state's snapshots are not a list")


def resolve_device(device: str | torch.device) -> torch.device:
    """``'cpu'`` or ``'cuda'`` (``'cuda:N'``); a CUDA device torch cannot see is refused in one line."""
    device = torch.device(device)
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda' (got {str(device)!r})")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA GPU")
    return device


def train(config: ModularConfig, *,
          on_checkpoint: Callable[[int, ModularTransformer, dict[str, torch.Tensor]], None] | None = None,
          keep_snapshots: bool = True, progress: bool = False, device: str | torch.device = "cpu",
          on_state: Callable[[int, dict[str, Any]], None] | None = None, state_every: int = 0,
          resume: dict[str, Any] | None = None) -> TrainResult:
    """Train Nanda's model on ``(a + b) mod P`` with full-batch AdamW; see the module docstring.

    ``on_checkpoint(epoch, model, cache)`` receives the named activations at ``=`` for all
    ``P²`` inputs (lexicographic order; detached float32 tensors on ``device``).

    The model draws its initial weights from its own seeded generator and training uses no
    other randomness, so torch's global RNG is neither read nor changed.

    **Resume.** With ``state_every = K > 0``, at the first measurement checkpoint at or
    after every multiple of ``K`` epochs (after measuring, before the step) ``on_state(epoch,
    state)`` receives a dict of CPU tensors and lists (parameters, AdamW and scheduler
    state, history, snapshots, early-stop bookkeeping) that ``resume=state`` continues
    from, bit-identically to an uninterrupted run; ``on_checkpoint`` is not called again
    for the epoch the state was taken at.
    """
    device = resolve_device(device)
    state_every = check_int("state_every", state_every, minimum=0)
    data = modular_addition_data(config.P, config.train_frac, config.data_seed)
    model = ModularTransformer(config.P, d_model=config.d_model, n_heads=config.n_heads,
                               d_head=config.d_head, d_mlp=config.d_mlp, seed=config.seed).to(device)
    tokens = torch.as_tensor(data.tokens, device=device)
    labels = torch.as_tensor(data.labels, device=device)
    train_mask = torch.as_tensor(data.train_mask, device=device)
    test_mask = torch.as_tensor(data.test_mask, device=device)
    train_tokens, train_labels = tokens[train_mask], labels[train_mask]
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=config.betas, eps=config.eps,
                                  weight_decay=config.weight_decay)
    warmup = config.warmup_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(step / warmup, 1.0) if warmup > 0 else 1.0)

    schedule = checkpoint_epochs(config.max_epochs, config.eval_every, config.dense_until)
    is_checkpoint = np.zeros(config.max_epochs + 1, dtype=bool)
    is_checkpoint[schedule] = True
    history: dict[str, list[float]] = {k: [] for k in ("epoch", "train_loss", "test_loss", "train_acc", "test_acc")}
    snapshots: list[dict[str, np.ndarray]] = []
    status, message, grok_epoch, stop_at = "capped", f"reached max_epochs={config.max_epochs}", None, None
    first_epoch, next_state = 0, state_every
    if resume is not None:
        check_state(resume, config)
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(resume["params"][name])
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        history = {k: list(v) for k, v in resume["history"].items()}
        snapshots = [dict(s) for s in resume["snapshots"]]
        status, message, grok_epoch, stop_at = resume["status"], resume["message"], resume["grok_epoch"], resume["stop_at"]
        first_epoch, next_state = int(resume["epoch"]), int(resume["next_state"])
    bar = tqdm(total=config.max_epochs, initial=first_epoch, desc=f"P={config.P} wd={config.weight_decay}",
               disable=not progress, unit="epoch", smoothing=0.05)

    def checkpoint(epoch: int) -> float:
        with torch.no_grad():
            logits, cache = model.run_with_cache(tokens)
        losses = [loss_and_accuracy(logits[m], labels[m], config.P) for m in (train_mask, test_mask)]
        for key, value in zip(history, (epoch, losses[0][0], losses[1][0], losses[0][1], losses[1][1])):
            history[key].append(value)
        if keep_snapshots:
            snapshots.append({k: v.cpu().numpy().copy() for k, v in model.weight_dict().items()})
        if on_checkpoint is not None:
            on_checkpoint(epoch, model, cache)
        bar.set_postfix(train=f"{losses[0][0]:.2e}", test=f"{losses[1][0]:.2e}", acc=f"{losses[1][1]:.3f}")
        return losses[1][1]

    def state(epoch: int) -> dict[str, Any]:
        return {"version": STATE_VERSION, "epoch": epoch, "next_state": next_state,
                "params": {k: v.cpu() for k, v in model.weight_dict().items()},
                "optimizer": _to_cpu(optimizer.state_dict()), "scheduler": scheduler.state_dict(),
                "history": {k: list(v) for k, v in history.items()}, "snapshots": list(snapshots),
                "status": status, "message": message, "grok_epoch": grok_epoch, "stop_at": stop_at}

    epoch = first_epoch
    for epoch in range(first_epoch, config.max_epochs + 1):
        if is_checkpoint[epoch] and not (resume is not None and epoch == first_epoch):
            test_acc = checkpoint(epoch)
            if config.stop_test_acc is not None and grok_epoch is None and test_acc >= config.stop_test_acc:
                grok_epoch = epoch
                stop_at = epoch + math.ceil(config.cleanup_margin * epoch)
            if grok_epoch is not None:
                status, message = "grokked", f"test accuracy >= {config.stop_test_acc} at epoch {grok_epoch}"
                if epoch >= stop_at:
                    break
            if state_every and on_state is not None and epoch >= next_state and epoch < config.max_epochs:
                next_state = (epoch // state_every + 1) * state_every
                on_state(epoch, state(epoch))
        if epoch == config.max_epochs:
            break
        loss = F.cross_entropy(model(train_tokens).double(), train_labels)
        if not torch.isfinite(loss):
            status, message = "diverged", f"non-finite training loss at epoch {epoch}"
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        bar.update(1)
    bar.close()
    return TrainResult(config=config, data=data, model=model, status=status, message=message,
                       epochs_trained=epoch, grok_epoch=grok_epoch,
                       **{k: np.asarray(v, dtype=np.int64 if k == "epoch" else float)
                          for k, v in history.items() if k != "epoch"},
                       epochs=np.asarray(history["epoch"], dtype=np.int64), snapshots=snapshots)


def _to_cpu(obj: Any) -> Any:
    """A copy of a (nested) state dict with every tensor moved to the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj
