"""Configuration of the modular-addition experiment: one frozen dataclass embedding the trainer's config.

Everything about the task, the model and the optimiser is ``rnn.modular.ModularConfig``,
embedded as ``ExperimentConfig.train`` rather than copied; this file adds only what the
experiment measures during training (pair samples, distance samples, the linkage
schedule) and how often it saves a resume checkpoint. Ranges are checked in the
``__post_init__`` methods; a bad value raises a ``ValueError`` naming it.

Presets (docs/experiments.md §6.2): ``fast`` (P 59, frac 0.4, wd 1), ``default`` (P 59,
frac 0.3, wd 1, the paper's weight decay) and ``paper`` (P 113, frac 0.3, wd 1, 40 k-epoch cap).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from interaction.checks import check_choice, check_int, check_nonnegative, check_positive
from rnn.modular import PRESETS as TRAIN_PRESETS
from rnn.modular import ModularConfig
from rnn.modular.fourier import check_prime
from validation.common.options import help_field

EXPERIMENT = "modular_addition"

#: where the rate fits of the measured theory may start (validation.modular_addition.theory.FIT_STARTS)
FIT_STARTS = ("initialisation", "memorisation_end")
#: merger sites whose map to the logits is not the identity: the theory can be measured there (at
#: ``logits`` dy = dh, so Y = H and the measurement says nothing)
THEORY_SITES = ("resid_mid", "mlp_post", "mlp_out", "resid_post")

_PRESET_PURPOSE = {"fast": "groks in minutes", "default": "the paper's wd",
                   "paper": "40k-epoch cap, Nanda et al.'s mainline"}
# derived from the trainer's presets so that the help cannot drift from the values it describes
PRESET_HELP = "; ".join(f"{name}: P={c.P}, frac {c.train_frac:g}, wd {c.weight_decay:g} ({_PRESET_PURPOSE[name]})"
                        for name, c in TRAIN_PRESETS.items())


@dataclass(frozen=True)
class ExperimentConfig:
    """A modular-addition run: the trainer's config plus the merger measurements' sampling."""

    #: fields that change no number computed during training (how often a resume checkpoint is
    #: written, and the analysis after training): they stay out of the resume key, so changing
    #: them does not invalidate a checkpoint.
    ANALYSIS_FIELDS: ClassVar[tuple[str, ...]] = ("checkpoint_every", "merge_threshold", "theory_fit_from",
                                                  "theory_pooled_pairs", "theory_fit_pairs")

    train: ModularConfig = TRAIN_PRESETS["default"]
    linkage_every: int = help_field(2000, help="epochs between complete-linkage state counts (seconds each; they "
                                              "are flat outside cleanup)")
    pair_samples: int = help_field(2000, help="pairs per group for the pair trajectories")
    distance_samples: int = help_field(15_000, help="same-class pairs (and as many different-class pairs) sampled "
                                                    "for the distance ratios during training; the final ones are "
                                                    "exact for P <= 59")
    checkpoint_every: int = help_field(1000, help="epochs between resume checkpoints in --out (0: none); a rerun of "
                                                  "the same command continues from the last one")
    measure_tolerance: float = help_field(0.2, help="after the dense early phase, measure mergers and theory at a "
                                                     "checkpoint only if log10 train or test loss or test accuracy "
                                                     "moved by at least this since the last measurement (0: at "
                                                     "every checkpoint)")
    measure_max_gap: int = help_field(2000, help="after the dense early phase, the longest gap in epochs between "
                                                 "two merger and theory measurements")
    theory_sites: tuple[str, ...] = help_field(("resid_mid", "mlp_post"),
                                               help="sites where the interaction theory is measured (H, Y, W by "
                                                    "Jacobian-vector products), comma-separated from "
                                                    "resid_mid,mlp_post,mlp_out,resid_post ('': none)")
    theory_pairs: int = help_field(200, help="agreeing and as many disagreeing train-train pairs measured for the "
                                             "theory: the first ones of the pair trajectories (at most pair_samples)")
    merge_threshold: float = help_field(0.3, help="theory check: a pair has merged when its final normalised "
                                                  "distance d/r at the site is below this")
    theory_fit_from: str = help_field("memorisation_end", choices=FIT_STARTS,
                                      help="where the eq. 20 rate fits start: 'initialisation' or 'memorisation_end' "
                                           "(during memorisation every representation grows, which eq. 20 "
                                           "forbids for agreeing pairs)")
    theory_pooled_pairs: int = help_field(16, help="calibration pairs in the pooled fit of the rate ratio "
                                                   "tau_y/tau_h per site (eq. 20)")
    theory_fit_pairs: int = help_field(4, help="pairs per site whose rates are also fitted one by one (>= 0)")

    def __post_init__(self) -> None:
        if not isinstance(self.train, ModularConfig):
            raise ValueError("train must be an rnn.modular.ModularConfig")
        check_prime(self.train.P)  # the key frequencies and restricted/excluded loss need a prime modulus
        check_int("linkage_every", self.linkage_every, minimum=1)
        check_int("pair_samples", self.pair_samples, minimum=1)
        check_int("distance_samples", self.distance_samples, minimum=1)
        check_int("checkpoint_every", self.checkpoint_every, minimum=0)
        check_nonnegative("measure_tolerance", self.measure_tolerance)
        check_int("measure_max_gap", self.measure_max_gap, minimum=1)
        sites = tuple(self.theory_sites)
        for site in sites:
            check_choice("theory_sites", site, THEORY_SITES)
        if len(set(sites)) != len(sites):
            raise ValueError(f"theory_sites must not repeat a site (got {','.join(sites)})")
        object.__setattr__(self, "theory_sites", sites)
        check_int("theory_pairs", self.theory_pairs, minimum=1)
        check_positive("merge_threshold", self.merge_threshold)
        check_choice("theory_fit_from", self.theory_fit_from, FIT_STARTS)
        check_int("theory_pooled_pairs", self.theory_pooled_pairs, minimum=1)
        check_int("theory_fit_pairs", self.theory_fit_pairs, minimum=0)

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
