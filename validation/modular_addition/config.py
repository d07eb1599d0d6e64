"""Configuration of the modular-addition experiment: one frozen dataclass embedding the trainer's config.

Everything about the task, the model and the optimiser is ``rnn.modular.ModularConfig``,
embedded as ``ExperimentConfig.train`` rather than copied; this file adds only what the
experiment measures during training (pair samples, distance samples, the linkage
schedule) and how often it saves a resume checkpoint. Ranges are checked in the
``__post_init__`` methods; a bad value raises a ``ValueError`` naming it.

Presets (docs/experiments.md §6.2): ``fast`` (P 59, frac 0.3, wd 3), ``default`` (P 59,
frac 0.3, wd 1, the paper's weight decay) and ``paper`` (P 113, frac 0.3, wd 1, 40 k-epoch cap).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from interaction.checks import check_int
from rnn.modular import PRESETS as TRAIN_PRESETS
from rnn.modular import ModularConfig
from rnn.modular.fourier import check_prime
from validation.common.options import help_field

EXPERIMENT = "modular_addition"

PRESET_HELP = ("fast: P=59, frac 0.3, wd 3 (groks in minutes); default: P=59, frac 0.3, wd 1 (the paper's wd); "
               "paper: P=113, frac 0.3, wd 1, 40k-epoch cap (Nanda et al.'s mainline)")


@dataclass(frozen=True)
class ExperimentConfig:
    """A modular-addition run: the trainer's config plus the merger measurements' sampling."""

    #: fields that change no computed number (only how often a resume checkpoint is written):
    #: they stay out of the resume key, so changing them does not invalidate a checkpoint.
    ANALYSIS_FIELDS: ClassVar[tuple[str, ...]] = ("checkpoint_every",)

    train: ModularConfig = TRAIN_PRESETS["default"]
    linkage_every: int = help_field(1000, help="epochs between complete-linkage state counts (seconds each)")
    pair_samples: int = help_field(2000, help="pairs per group for the pair trajectories")
    distance_samples: int = help_field(15_000, help="same-class pairs (and as many different-class pairs) sampled "
                                                    "for the distance ratios during training; the final ones are "
                                                    "exact for P <= 59")
    checkpoint_every: int = help_field(1000, help="epochs between resume checkpoints in --out (0: none); a rerun of "
                                                  "the same command continues from the last one")

    def __post_init__(self) -> None:
        if not isinstance(self.train, ModularConfig):
            raise ValueError("train must be an rnn.modular.ModularConfig")
        check_prime(self.train.P)  # the key frequencies and restricted/excluded loss need a prime modulus
        check_int("linkage_every", self.linkage_every, minimum=1)
        check_int("pair_samples", self.pair_samples, minimum=1)
        check_int("distance_samples", self.distance_samples, minimum=1)
        check_int("checkpoint_every", self.checkpoint_every, minimum=0)

    @property
    def P(self) -> int:
        return self.train.P

    @property
    def seed(self) -> int:
        return self.train.seed


PRESETS: dict[str, ExperimentConfig] = {name: ExperimentConfig(train=cfg) for name, cfg in TRAIN_PRESETS.items()}


def preset(name: str) -> ExperimentConfig:
    """The named preset, or a ``ValueError`` naming ``--preset``."""
    if name not in PRESETS:
        raise ValueError(f"--preset must be one of {sorted(PRESETS)} (got {name!r})")
    return PRESETS[name]
