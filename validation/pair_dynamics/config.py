"""Configuration of the pair-dynamics experiment: one frozen dataclass embedding ``rnn.parity.TrainConfig``.

The training knobs (hidden units, nonlinearity, loss, learning rate, batch size, protocol,
precision) are the fields of ``rnn.parity.TrainConfig``, embedded as
``PairDynamicsConfig.train`` rather than copied: ``--lr``, ``--hidden``, … come from its
fields (``validation.common.options``). ``--epochs`` is this experiment's name for
``train.max_epochs`` (``OPTION_ALIASES``); the minibatch order is seeded by ``seed``
(``training()`` sets ``train.shuffle_seed`` to it), as every other random choice of the run.

Every range is checked here, in ``__post_init__``, or in ``TrainConfig``'s; a bad value
raises a ``ValueError`` naming the field. Fields listed in ``ANALYSIS_FIELDS`` change only
the analysis (fits, thresholds, nine-variable model); every other field (a new one
included) enters the key of the cached training and measurements ``stage.npz``
(``validation.common.keys.config_key``).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from interaction.checks import check_choice, check_int, check_interval, check_positive
from rnn.parity import TrainConfig
from validation.common.options import help_field

TASKS = ("parity", "random-dfa")

#: TrainConfig fields the experiment fixes (the measurements assume a linear readout and a fixed
#: number of epochs), sets itself (``shuffle_seed`` from ``seed``, ``n_in``/``n_out`` from the task)
#: or exposes under another name (``OPTION_ALIASES``): no option of their own.
TRAIN_FIXED = ("max_epochs", "loss_threshold", "stall_window", "stall_tolerance", "readout", "h0",
               "shuffle_seed", "n_in", "n_out")

#: option -> (path of the field it sets, help text): the experiment's historical name for a TrainConfig field.
OPTION_ALIASES = {"--epochs": (("train", "max_epochs"), "training epochs (>= 2)")}

#: P25 §C.1 (docs/experiments.md §1): ReLU, 100 units, MSE on one-hot targets, SGD 0.02, batches of 128,
#: the per-length minibatch protocol, 1000 epochs, h_0 = ones.
PAPER_TRAINING = TrainConfig(hidden=100, nonlinearity="relu", loss="mse", lr=0.02, batch_size=128,
                             protocol="paper", max_epochs=1000, loss_threshold=None, h0="ones", dtype="float32")


def parse_lengths(text: str) -> tuple[int, int]:
    """``'1,10'`` -> ``(1, 10)``: exactly two comma-separated prefix lengths."""
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        return int(parts[0]), int(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two comma-separated prefix lengths, e.g. '1,10' "
                                         f"(got {text!r})") from None


@dataclass(frozen=True)
class PairDynamicsConfig:
    """Every knob of the experiment (CLI options of the same names; see the package docstring)."""

    ANALYSIS_FIELDS: ClassVar[tuple[str, ...]] = ("fit_pairs", "pooled_pairs", "eps_factor", "distance_pairs",
                                                  "fe_seeds", "fe_lengths", "fe_t_max", "fe_gain")

    task: str = help_field("parity", choices=TASKS,
                           help="targets: streaming parity, or a seeded random regular task (P25 §D.5; the "
                                "automaton is drawn from --seed)")
    L: int = help_field(10, help="longest training sequence length (2..16)")
    fraction: float = help_field(1.0, help="training data fraction p in (0, 1]: per length a Binomial(2^l, p) "
                                           "draw; 1 = all sequences")
    gain: float = help_field(0.1, help="Xavier-normal gain of every weight matrix (> 0)")
    train: TrainConfig = PAPER_TRAINING
    snapshot_every: int = help_field(10, help="measure the pairs every this many epochs (plus epoch 0, "
                                              "--late-epoch and the last; 1..epochs/2)")
    dense_snapshots: int = help_field(60, help="also measure at this many epochs where log10(training loss) "
                                               "changes fastest (resolves the sudden loss drop during which "
                                               "pairs merge; >= 0)")
    pairs_per_cell: int = help_field(3, help="agreeing pairs, and as many disagreeing pairs, per (m1, m2) "
                                             "length cell (>= 1)")
    min_length: int = help_field(1, help="shortest prefix length to sample (1..L)")
    fit_pairs: int = help_field(12, help="pairs whose rates are fitted one by one (>= 0)")
    pooled_pairs: int = help_field(24, help="calibration pairs in the pooled rate fit that sets r for all "
                                            "predictions (>= 1)")
    late_epoch: int = help_field(100, help="second prediction: A_high, A_low measured at this epoch "
                                           "(1..epochs-1)")
    eps_factor: float = help_field(0.01, help="merge threshold eps = factor * ||std|| (std pooled over "
                                              "snapshots, as in the P25 main run; > 0)")
    distance_pairs: int = help_field(20000, help="random sequence pairs for the mean pairwise distance "
                                                 "(P25 Fig. 12; >= 10)")
    fe_seeds: int = help_field(20, help="nine-variable model: random initial states (>= 1)")
    fe_lengths: tuple[int, int] = help_field((1, 10), parse=parse_lengths,
                                             help="nine-variable model: prefix lengths m1,m2 setting the hidden "
                                                  "rates lr*m (1/tau_h ∝ length, P25 §D.3)")
    fe_t_max: float = help_field(1000.0, help="nine-variable model: the paper's horizon (outcomes are also "
                                              "reported at 5x this, which is integrated and drawn)")
    fe_gain: float | None = help_field(None, help="nine-variable model: std g of the random initial h_alpha, "
                                                  "sqrt(D2), sqrt(b2) (none: estimated from the epoch-0 "
                                                  "hidden states)")
    seed: int = help_field(0, help="seed (>= 0) of the initial weights, minibatch order, pair sampling, "
                                   "calibration split and the nine-variable model's initial states")

    def __post_init__(self) -> None:
        check_choice("task", self.task, TASKS)
        check_int("L", self.L, minimum=2, maximum=16)
        check_interval("fraction", self.fraction, 0.0, 1.0, lo_closed=False)
        check_positive("gain", self.gain)
        if not isinstance(self.train, TrainConfig):
            raise ValueError("train must be an rnn.parity.TrainConfig")
        check_int("epochs", self.epochs, minimum=2)
        if self.train.loss_threshold is not None or self.train.stall_window is not None:
            raise ValueError("loss_threshold and stall_window must be None: the pairs are measured over a "
                             "fixed number of epochs")
        check_choice("readout", self.train.readout, ("linear",))   # rnn.measure.pairs differentiates W_hy h + b_hy
        check_int("snapshot_every", self.snapshot_every, minimum=1, maximum=self.epochs // 2)
        check_int("dense_snapshots", self.dense_snapshots, minimum=0)
        check_int("pairs_per_cell", self.pairs_per_cell, minimum=1)
        check_int("min_length", self.min_length, minimum=1, maximum=self.L)
        check_int("fit_pairs", self.fit_pairs, minimum=0)
        check_int("pooled_pairs", self.pooled_pairs, minimum=1)
        check_int("late_epoch", self.late_epoch, minimum=1, maximum=self.epochs - 1)
        check_positive("eps_factor", self.eps_factor)
        check_int("distance_pairs", self.distance_pairs, minimum=10)
        check_int("fe_seeds", self.fe_seeds, minimum=1)
        if len(self.fe_lengths) != 2:
            raise ValueError(f"fe_lengths must be two prefix lengths (got {self.fe_lengths!r})")
        object.__setattr__(self, "fe_lengths", tuple(check_int("fe_lengths", m, minimum=1) for m in self.fe_lengths))
        check_positive("fe_t_max", self.fe_t_max)
        if self.fe_gain is not None:
            check_positive("fe_gain", self.fe_gain)
        check_int("seed", self.seed, minimum=0)

    @property
    def epochs(self) -> int:
        """Training epochs (``train.max_epochs``)."""
        return self.train.max_epochs

    @property
    def nonlinearity(self) -> str:
        return self.train.nonlinearity

    @property
    def lr(self) -> float:
        return self.train.lr

    def training(self, n_out: int) -> TrainConfig:
        """The trainer's config: ``train`` with the minibatch order seeded by ``seed`` and ``n_out`` classes."""
        return replace(self.train, shuffle_seed=self.seed, n_out=n_out)

    def snapshot_epochs(self, train_loss: np.ndarray) -> np.ndarray:
        """Epochs at which pairs are measured: a uniform grid plus the fastest-changing epochs of the loss.

        Every ``snapshot_every`` epochs, plus 0, ``late_epoch`` and the last epoch, plus the
        ``dense_snapshots`` epochs ``k`` with the largest ``|log10 L(k) − log10 L(k−1)|``: the
        mergers happen during the sudden drop of the loss (P25 Fig. 4), which a uniform grid
        would resolve with a few points only. ``train_loss[k]`` is the loss after ``k`` epochs.
        """
        last = train_loss.size - 1
        grid = np.arange(0, last + 1, self.snapshot_every)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.abs(np.diff(np.log10(np.maximum(train_loss, 1e-300))))
        fastest = 1 + np.argsort(-np.nan_to_num(rate))[: self.dense_snapshots]
        return np.unique(np.concatenate([grid, fastest, [0, min(self.late_epoch, last), last]])).astype(np.int64)


#: the option groups of ``--help``: title -> the leaf fields shown in it (the TrainConfig knobs included).
OPTION_GROUPS = {
    "training run (defaults: the P25 main run, §C.1)": (
        "task", "L", "fraction", "hidden", "nonlinearity", "loss", "gain", "lr", "batch_size", "protocol",
        "snapshot_every", "dense_snapshots", "dtype"),
    "pairs, fits and predictions": (
        "pairs_per_cell", "min_length", "fit_pairs", "pooled_pairs", "late_epoch", "eps_factor", "distance_pairs"),
    "nine-variable model (P25 Fig. 10 left)": ("fe_seeds", "fe_lengths", "fe_t_max", "fe_gain"),
    "execution": ("seed",),
}
