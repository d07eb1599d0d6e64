"""Grokking on modular addition: Nanda et al.'s progress measures and representation-merger measurements.

    python -m validation.modular_addition [--preset fast|default|paper] [--seed S] [--out DIR] ...

    from validation.modular_addition import ExperimentConfig, PRESETS, run, load
    result = run(PRESETS["fast"], "runs/modular_addition/fast_seed0")

Trains Nanda et al.'s one-layer transformer on ``(a + b) mod P`` (docs/experiments.md §4, §6),
measures at every checkpoint the merger quantities of docs/experiments.md §5.2 at the ``=``
sites ``resid_mid``, ``mlp_post``, ``mlp_out``, ``resid_post``, ``logits`` (chance-corrected
variance ratio M, distance ratios ρ and the test→train cross term, nearest-centroid
assignment accuracy, normalised pair distances of agreeing train–train, disagreeing
train–train and agreeing test–train pairs; complete-linkage state counts less often), keeps
weight snapshots, and after training computes the progress measures with the final model's
key frequencies (restricted/excluded loss, Gini of the Fourier norms of W_E and W_L, total
squared weight norm), the automatic phase boundaries and the mechanistic checks.

Writes to ``--out``: ``results.npz`` (all curves and the final weights ``final/<name>``),
``results.json`` (config, provenance, status, key frequencies under all three rules, phase
boundaries, mechanistic checks, final measurements, the interaction-theory prediction per
pair group) and the figures ``progress.png/pdf`` and ``mergers.png/pdf``; while running, a
resume checkpoint ``checkpoint.pt`` (see ``run``).

Modules: ``config`` (``ExperimentConfig`` embedding ``rnn.modular.ModularConfig``, presets),
``run`` (``run``, ``load``, ``replot``, resume checkpoints), ``analysis`` (arrays in, summary
out), ``figures``, ``__main__`` (the command line).
"""
from validation.modular_addition.config import EXPERIMENT, PRESETS, ExperimentConfig, preset
from validation.modular_addition.dataset import load_dataset
from validation.modular_addition.run import ModularRun, load, replot, run

__all__ = ["EXPERIMENT", "PRESETS", "ExperimentConfig", "ModularRun", "load", "load_dataset", "preset", "replot", "run"]
