"""Grokking on modular addition: Nanda et al.'s progress measures and representation-merger measurements.

    python -m validation.modular_addition [--preset fast|default|paper] [--seed S] [--out DIR] ...
    python -m validation.modular_addition --preset fast --seeds 3 [--executor processes --workers 2]

    from validation.modular_addition import ExperimentConfig, PRESETS, run, load, run_seeds
    result = run(PRESETS["fast"], "runs/modular_addition/fast_seed0")
    seeds = run_seeds(PRESETS["fast"], 3, "runs/modular_addition/fast_seeds0-2")

Trains Nanda et al.'s one-layer transformer on ``(a + b) mod P`` (docs/experiments.md §4, §6),
measures the merger quantities of docs/experiments.md §5.2 at the ``=`` sites ``resid_mid``,
``mlp_post``, ``mlp_out``, ``resid_post``, ``logits`` (chance-corrected variance ratio M,
distance ratios ρ and the test→train cross term, nearest-centroid assignment accuracy,
normalised pair distances of agreeing train–train, disagreeing train–train and agreeing
test–train pairs; complete-linkage state counts less often), and at ``--theory-sites`` the
interaction theory's ``H, Y, W`` of agreeing and disagreeing train–train pairs by batched
Jacobian–vector products (``rnn.modular.pair_theory``, ``N = 1``). These run at every
checkpoint of the dense early phase and elsewhere only where the loss curves move
(``--measure-tolerance``, ``--measure-max-gap``; ``measure_epochs`` lists them); weight norm
and Gini at every checkpoint. After training: the progress measures with the final model's
key frequencies (restricted/excluded loss, Gini of the Fourier norms of W_E and W_L, total
squared weight norm), the automatic phase boundaries, the mechanistic checks, and the theory
check (``theory``): one rate ratio ``κ = τ_y/τ_h`` fitted to eq. 20 on a calibration half,
eq. 7 per held-out pair against its observed merger (final ``d/r < --merge-threshold``) at
the phase checkpoints, and the ROC AUC of the rate-free ``H²/Y``.

Writes to ``--out``: ``results.npz`` (all curves, ``SITE/theory_*`` arrays and the final
weights ``final/<name>``), ``results.json`` (config, provenance, status, key frequencies under
all three rules, phase boundaries, mechanistic checks, final measurements, the theory's
verdict per pair group and, under ``measured_theory``, the fits, confusion matrices and
AUCs per theory site, ``seconds`` of training, measurements and analysis) and the figures
``progress``, ``mergers``, ``theory_predictions`` and ``theory_trajectories_SITE`` (PNG + PDF);
while running, a resume checkpoint ``checkpoint.pt`` (see ``run``).

With ``--seeds K > 1`` (``run_seeds``) the seeds run as one resumable sweep
(``validation.sweep``), each into ``OUT/seed_<s>/`` as above, and ``OUT/seeds_summary.json``,
``OUT/comparison.md`` (one row per seed and one for Nanda et al.'s mainline) and
``OUT/seeds_progress`` compare them (``seeds``).

Modules: ``config`` (``ExperimentConfig`` embedding ``rnn.modular.ModularConfig``, presets),
``run`` (``run``, ``load``, ``replot``, resume checkpoints), ``analysis`` (arrays in, summary
out), ``theory`` (the measured theory, arrays in, summary out), ``seeds`` (several seeds, the
comparison table, ``replot_seeds``), ``reference`` (Nanda et al.'s published values), ``figures``,
``__main__`` (the command line).
"""
from validation.modular_addition.config import EXPERIMENT, PRESETS, ExperimentConfig, preset
from validation.modular_addition.dataset import load_dataset
from validation.modular_addition.run import ModularRun, load, replot, run
from validation.modular_addition.seeds import SeedsResult, replot_seeds, run_seeds

__all__ = ["EXPERIMENT", "PRESETS", "ExperimentConfig", "ModularRun", "SeedsResult", "load", "load_dataset", "preset",
           "replot", "replot_seeds", "run", "run_seeds"]
