"""Configuration of the merger phase diagram: one frozen dataclass, its presets, its option parsers.

The training knobs (hidden units, nonlinearity, loss, learning rate, batch size, epoch cap,
loss threshold, precision) are those of ``rnn.parity.TrainConfig``, embedded as
``PhaseDiagramConfig.train`` rather than copied: ``--lr``, ``--hidden``, … come from its
fields (``validation.common.options``). Every range is checked here, in ``__post_init__``,
or in ``TrainConfig``'s; a bad value raises a ``ValueError`` naming the field.

Fields listed in ``ANALYSIS_FIELDS`` change only the analysis of finished tasks; every
other field (a new one included) enters the sweep's cache key
(``validation.common.keys.config_key``).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from interaction.checks import check_choice, check_int, check_interval, check_positive
from rnn.parity import TrainConfig
from rnn.parity.checkpoints import check_rules
from validation.merger_phase_diagram.predictors import PREDICTORS
from validation.common.options import help_field

TASKS = ("parity", "random-dfa")
RANDOMNESS = ("independent", "common")
FIT_CELLS = ("all", "converged")
DTYPES = ("float32", "float64")
#: measured pairs per network: 600 cost ~0.4 s per P = 100, L = 10 network on one core (0.25–0.5 s over
#: the paper grid's fractions and gains), so the 400 networks of the paper grid take about 80 s on 2 cores.
MEASURED_PAIRS = 600
#: checkpoints of the default run: initialisation, three points through the plateau, the loss drop, the end
CHECKPOINTS = ("init", "plateau:0.25", "plateau:0.5", "plateau:0.75", "drop", "end")
# TrainConfig fields the experiment sets itself (per task, or fixed by P25's protocol): no option.
TRAIN_FIXED = ("protocol", "h0", "shuffle_seed", "n_in", "n_out")


def parse_grid(text: str) -> tuple[float, ...]:
    """``'0.1,0.5,1'`` (a list) or ``'0.1:1.0:20'`` (``linspace(0.1, 1.0, 20)``)."""
    try:
        if ":" in text:
            lo, hi, count = text.split(":")
            return tuple(np.round(np.linspace(float(lo), float(hi), int(count)), 6))
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'a,b,c' or 'lo:hi:count', got {text!r}") from None


def parse_int_list(text: str) -> tuple[int, ...]:
    """``'100,1000'`` -> ``(100, 1000)``."""
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def parse_names(text: str) -> tuple[str, ...]:
    """``'eq9,fraction'`` -> ``('eq9', 'fraction')`` (each name is checked by the config); ``'none'`` -> ``()``."""
    if text.strip().lower() == "none":
        return ()
    names = tuple(v.strip() for v in text.split(",") if v.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return names


def _linspace(lo: float, hi: float, n: int) -> tuple[float, ...]:
    return tuple(float(v) for v in np.round(np.linspace(lo, hi, n), 6))


#: P25's grid code: cross-entropy, SGD 0.02, batch 128, trained to training loss < 1e-3 (P25's cap:
#: 1e6 epochs). Here the cap of 100 000 epochs is a safety net no network of the quick or paper grid
#: is expected to reach (the slowest converged in ~7 400 epochs); a network with no 1 % progress
#: over 10 000 epochs is stopped as 'stalled' (``rnn/parity/ensemble.py``, ``_StallRule``).
PAPER_TRAINING = TrainConfig(loss="ce", lr=0.02, batch_size=128, protocol="paper", max_epochs=100_000,
                             loss_threshold=1e-3, stall_window=10_000, stall_tolerance=0.01)


@dataclass(frozen=True)
class PhaseDiagramConfig:
    """Every knob of the experiment (defaults: the quick preset); see the package docstring."""

    ANALYSIS_FIELDS: ClassVar[tuple[str, ...]] = ("generalise_accuracy", "bootstrap", "fit_cells", "predictors",
                                                  "cv_blocks")

    gains: tuple[float, ...] = help_field(_linspace(0.1, 1.0, 4), parse=parse_grid,
                                          help="initial weight scales (Xavier gain of every matrix, > 0): "
                                               "'a,b,c' or 'lo:hi:count'")
    fractions: tuple[float, ...] = help_field(_linspace(0.25, 1.0, 4), parse=parse_grid,
                                              help="training data fractions p in (0, 1]: 'a,b,c' or 'lo:hi:count'")
    seeds: int = help_field(1, help="replicates per cell (>= 1; each: new weights, data draw, validation set)")
    seed: int = help_field(0, help="base seed (>= 0) from which every task's seeds are derived")
    task: str = help_field("parity", choices=TASKS,
                           help="target: streaming parity or a seeded random regular task (P25 §D.5)")
    L: int = help_field(10, help="longest training sequence length (2..16)")
    randomness: str = help_field("independent", choices=RANDOMNESS,
                                 help="independent: every (replicate, gain, fraction) cell draws its own weights, "
                                      "data, minibatch order and validation set, as P25's reference code does; "
                                      "common: correlated 'common random numbers', every gain the same matrices "
                                      "scaled, one data draw and minibatch order per fraction column and one "
                                      "validation set per replicate")
    train: TrainConfig = PAPER_TRAINING
    eps_factor: float = help_field(0.1, help="automaton merge distance eps = factor * ||std|| of the final "
                                             "hidden states (> 0)")
    val_lengths: tuple[int, ...] = help_field((100,), parse=parse_int_list,
                                              help="lengths (>= 1) of the validation sequences, e.g. '100,1000' "
                                                   "(the last one decides generalisation)")
    val_count: int = help_field(30, help="random validation sequences per length (>= 1)")
    measured_pairs: int = help_field(MEASURED_PAIRS, help="prefix pairs (>= 0) measured per network at "
                                                          "initialisation on its own training set for the measured "
                                                          "overlay (measured.py; 0: none)")
    checkpoints: tuple[str, ...] = help_field(CHECKPOINTS, parse=parse_names,
                                              help="moments at which the measured pairs are measured again, by "
                                                   "rules on each network's training loss (rnn/parity/"
                                                   "checkpoints.py): init, plateau:q (0 < q < 1), drop, end; "
                                                   "'none' for no checkpoint (needs measured_pairs > 0)")
    drop_level: float = help_field(0.5, help="the 'drop' checkpoint: first epoch whose training loss is at most "
                                             "this fraction of the initial loss (in (0, 1))")
    generalise_accuracy: float = help_field(0.95, help="a network generalises if its accuracy at the longest "
                                                       "validation length is at least this (in [0, 1])")
    bootstrap: int = help_field(1000, help="bootstrap resamples (>= 0) for the spread of log C, of log kappa "
                                           "and of the agreements")
    fit_cells: str = help_field("all", choices=FIT_CELLS,
                                help="networks used to fit C and kappa: all, or only those that converged (the "
                                     "theory describes trained networks; capped ones may not have finished learning)")
    predictors: tuple[str, ...] = help_field(PREDICTORS, parse=parse_names,
                                             help="predictors scored in and out of sample (crossval.py): a "
                                                  "comma-separated subset of " + ", ".join(PREDICTORS))
    cv_blocks: int = help_field(2, help="out-of-sample blocks: the grid is cut into cv_blocks x cv_blocks "
                                        "contiguous (gain, fraction) blocks, each held out in turn (2 .. the "
                                        "smaller grid side)")

    def __post_init__(self) -> None:
        for name in ("gains", "fractions", "val_lengths"):
            values = tuple(getattr(self, name))
            if not values:
                raise ValueError(f"{name} must contain at least one value")
            if len(set(values)) != len(values):
                raise ValueError(f"{name} must not repeat values (got {values})")
            object.__setattr__(self, name, values)
        check_positive("gains", np.array(self.gains))
        check_interval("fractions", np.array(self.fractions), 0.0, 1.0, lo_closed=False)
        object.__setattr__(self, "gains", tuple(float(g) for g in self.gains))
        object.__setattr__(self, "fractions", tuple(float(p) for p in self.fractions))
        object.__setattr__(self, "val_lengths", tuple(check_int("val_lengths", v, minimum=1)
                                                      for v in self.val_lengths))
        check_int("seeds", self.seeds, minimum=1)
        check_int("seed", self.seed, minimum=0)
        check_choice("task", self.task, TASKS)
        check_choice("randomness", self.randomness, RANDOMNESS)
        check_int("L", self.L, minimum=2, maximum=16)
        if not isinstance(self.train, TrainConfig):
            raise ValueError("train must be an rnn.parity.TrainConfig")
        check_int("max_epochs", self.train.max_epochs, minimum=1)
        if self.train.loss_threshold is None:
            raise ValueError("loss_threshold must be a positive number (the convergence criterion)")
        check_choice("protocol", self.train.protocol, ("paper",))
        check_positive("eps_factor", self.eps_factor)
        check_int("val_count", self.val_count, minimum=1)
        check_interval("generalise_accuracy", self.generalise_accuracy, 0.0, 1.0)
        check_int("bootstrap", self.bootstrap, minimum=0)
        check_choice("fit_cells", self.fit_cells, FIT_CELLS)
        check_int("measured_pairs", self.measured_pairs, minimum=0)
        names = tuple(self.predictors) if isinstance(self.predictors, (tuple, list)) else (self.predictors,)
        if not names:
            raise ValueError(f"predictors must name at least one of {PREDICTORS}")
        for name in names:
            check_choice("predictors", name, PREDICTORS)
        if len(set(names)) != len(names):
            raise ValueError(f"predictors must not repeat names (got {names})")
        object.__setattr__(self, "predictors", tuple(names))
        object.__setattr__(self, "checkpoints", check_rules(self.checkpoints))
        check_interval("drop_level", self.drop_level, 0.0, 1.0, lo_closed=False, hi_closed=False)
        side = min(len(self.gains), len(self.fractions))   # a one-row grid has no blocks to hold out: skipped
        check_int("cv_blocks", self.cv_blocks, minimum=2, maximum=side if side >= 2 else None)

    def with_analysis(self, **values: Any) -> PhaseDiagramConfig:
        """A copy with analysis-only fields replaced (anything else is refused)."""
        other = set(values) - set(self.ANALYSIS_FIELDS)
        if other:
            raise ValueError(f"only analysis fields {self.ANALYSIS_FIELDS} may change here, not {sorted(other)}")
        return replace(self, **values)


#: quick: 4 x 4 independent cells trained to convergence (a few minutes on 2 cores; 16 networks at
#: ~20 ms per epoch each); paper: P25 Fig. 9's 20 x 20 grid.
PRESETS: dict[str, PhaseDiagramConfig] = {
    "quick": PhaseDiagramConfig(),
    "paper": PhaseDiagramConfig(gains=_linspace(0.1, 1.0, 20), fractions=_linspace(0.1, 1.0, 20)),
}
