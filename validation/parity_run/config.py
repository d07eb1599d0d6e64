"""Configuration of the main streaming-parity run: one frozen dataclass and its presets.

The training knobs (hidden units, nonlinearity, loss, learning rate, batch size,
``h_0``, precision, the epoch count and the minibatch-order seed) are those of
``rnn.parity.TrainConfig``, embedded as ``RunConfig.train`` rather than copied. Two of
them keep this experiment's historical option names: ``--epochs`` sets
``train.max_epochs`` and ``--data-seed`` sets ``train.shuffle_seed`` (which also seeds
the validation sequences); see ``OPTION_ALIASES``. Ranges are checked here, in
``__post_init__``, or in ``TrainConfig``'s; a bad value raises a ``ValueError`` naming it.

Defaults: P25 §C.1 (docs/experiments.md §1), with the quick preset's snapshot spacing.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

from interaction.checks import check_choice, check_int, check_positive
from rnn.parity import TrainConfig
from validation.common.options import help_field, parse_seed

#: TrainConfig fields that the run fixes (P25's protocol, a fixed number of epochs, binary parity) or
#: exposes under another name (``OPTION_ALIASES``): no option of their own.
TRAIN_FIXED = ("protocol", "loss_threshold", "n_in", "n_out", "max_epochs", "shuffle_seed")

#: option -> (path of the field it sets, help text): the run's historical names for two TrainConfig fields.
OPTION_ALIASES = {
    "--epochs": (("train", "max_epochs"), "training epochs (>= 1)"),
    "--data-seed": (("train", "shuffle_seed"), "seed (>= 0) of the minibatch order and of the validation sequences", parse_seed),
}


def parse_lengths(text: str) -> tuple[int, ...]:
    """``'25,100'`` -> ``(25, 100)``; at least one length."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers (got {text!r})") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one length")
    return values


#: P25 §C.1: ReLU, 100 units, MSE on one-hot targets, SGD 0.02, batches of 128, 1000 epochs, h_0 = ones.
PAPER_TRAINING = TrainConfig(hidden=100, nonlinearity="relu", loss="mse", lr=0.02, batch_size=128,
                             protocol="paper", max_epochs=1000, loss_threshold=None, h0="ones",
                             dtype="float32", shuffle_seed=0)


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines the run (see the module docstring)."""

    L: int = help_field(10, help="longest training sequence; all 2^1 + ... + 2^L sequences are used (1..16)")
    gain: float = help_field(0.1, help="Xavier-normal gain of every weight matrix (> 0)")
    seed: int = help_field(0, parse=parse_seed, help="weight-initialisation seed (>= 0)")
    train: TrainConfig = PAPER_TRAINING
    eps_factor: float = help_field(0.01, help="automaton merge distance eps = factor * ||std|| "
                                              "(std pooled over all snapshots; > 0)")
    track_every: int = help_field(5, help="epochs between hidden-state snapshots (1 = every epoch)")
    eval_every: int = help_field(5, help="epochs between validation-loss evaluations (>= 1)")
    val_length: int = help_field(50, help="length of the main validation sequences (>= 1)")
    val_count: int = help_field(100, help="number of main validation sequences (>= 1)")
    long_lengths: tuple[int, ...] = help_field((25, 100, 250, 1000, 2500, 10000), parse=parse_lengths,
                                               help="comma-separated lengths of the long validation sets")
    long_count: int = help_field(10, help="sequences per long validation length (>= 1)")

    def __post_init__(self) -> None:
        check_int("L", self.L, minimum=1, maximum=16)
        check_positive("gain", self.gain)
        check_int("seed", self.seed, minimum=0)
        if not isinstance(self.train, TrainConfig):
            raise ValueError("train must be an rnn.parity.TrainConfig")
        check_int("epochs", self.train.max_epochs, minimum=1)
        check_choice("protocol", self.train.protocol, ("paper",))
        if self.train.loss_threshold is not None:
            raise ValueError("loss_threshold must be None: the main run trains for a fixed number of epochs")
        if (self.train.n_in, self.train.n_out) != (2, 2):
            raise ValueError(f"n_in and n_out must be 2 for binary parity (got {self.train.n_in}, {self.train.n_out})")
        check_positive("eps_factor", self.eps_factor)
        check_int("track_every", self.track_every, minimum=1)
        check_int("eval_every", self.eval_every, minimum=1)
        check_int("val_length", self.val_length, minimum=1)
        check_int("val_count", self.val_count, minimum=1)
        check_int("long_count", self.long_count, minimum=1)
        lengths = tuple(self.long_lengths)
        if not lengths:
            raise ValueError("long_lengths must contain at least one length")
        object.__setattr__(self, "long_lengths", tuple(check_int("long_lengths", n, minimum=1) for n in lengths))

    @property
    def epochs(self) -> int:
        """Training epochs (``train.max_epochs``)."""
        return self.train.max_epochs

    @property
    def data_seed(self) -> int:
        """Seed of the minibatch order and of the validation sequences (``train.shuffle_seed``)."""
        return self.train.shuffle_seed


PRESETS = {
    "quick": RunConfig(),
    "paper": RunConfig(track_every=1, eval_every=1),
}
