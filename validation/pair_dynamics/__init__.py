"""The interaction theory's trajectories against measured representation pairs of a parity RNN.

    python -m validation.pair_dynamics                      # default run, a few minutes on 2 cores
    python -m validation.pair_dynamics --epochs 1000 --snapshot-every 5 --pairs-per-cell 6

What it does (docs/theory.md §1–2, §2.8, §2.10; docs/experiments.md §1; P25 §4–5 and App. D):

1. **A training run.** One Elman RNN (``rnn/parity/elman.py``; paper settings by default: ReLU,
   ``P = 100``, Xavier gain 0.1, ``h_0`` = ones, MSE on one-hot targets, SGD lr 0.02,
   batch 128, the per-length minibatch protocol of P25 §C.1, all sequences of length
   1..10) trained by ``rnn.parity.snapshots.train_with_snapshots`` (member-for-member
   ``rnn.parity.ensemble.train_ensemble``; the training knobs are ``rnn.parity.TrainConfig``'s,
   embedded in ``PairDynamicsConfig.train``), keeping the parameters every ``--snapshot-every``
   epochs. Gain, task (parity or a seeded random regular task, P25 §D.5), data
   fraction, loss and the full-batch protocol (gradient descent, closest to the
   theory's gradient flow) are selectable.
2. **Pairs.** Prefix pairs are drawn per ``(m1, m2)`` length cell (``m1 <= m2``):
   ``--pairs-per-cell`` *agreeing* pairs (the same target on every shared continuation,
   ``S = 0``) and as many *disagreeing* pairs. Along training their ``H = ‖dh‖²``,
   ``Y``, ``W``, ``S``, ``N`` and the App. D.2 Taylor ratio are measured by
   ``rnn.measure.pairs`` (Jacobian–vector products through every shared continuation).
3. **Rates.** The effective rates ``τ_h, τ_y`` of P25 eq. 20 are fitted by least squares
   (``interaction.fit.fit_rates``) to the measured ``(H, Y, W)`` trajectories: pooled over a
   random *calibration* half of the pairs, and pair by pair for ``--fit-pairs`` pairs.
   **Time mapping:** ODE time ``t`` = epoch index, so the fitted τ are in epochs. Any
   linear map ``t = c·epoch`` (e.g. the SGD gradient-flow time ``c = lr × steps per
   epoch``, also reported) rescales ``τ_h`` and ``τ_y`` by the same ``c`` and leaves
   ``r = Nτ_y/τ_h``, ``A_high``, ``A_low`` and every merger prediction unchanged.
   Measured and theoretical ``H(t)``, ``W(t)`` are overlaid for representative pairs
   (P25 Fig. 10 right).
4. **Mergers, predicted vs observed, for every pair.** Prediction: ``will_merge(A_high,
   A_low)`` (eq. 7) with ``A_high = H − rY/H`` (eq. 6) and ``A_low = sqrt(rS)`` (eq. 25)
   measured at epoch 0 and, separately, at ``--late-epoch``, with ``r = N τ_y/τ_h`` from
   the pooled fit. Observation: the final distance ``‖dh‖ < ε`` with ``ε = --eps-factor ·
   ‖std‖``, ``‖std‖`` pooled over all snapshots and all training sequences plus ``h_0``
   (the automaton-extraction threshold of the P25 main run, ``rnn.automata.extraction.std_norm``).
   The confusion matrix is reported on the pairs held out from the pooled fit (and on all
   pairs), broken down by ``min(m1, m2)`` (the Fig. 7 regime), together with a rate-free
   check (how well ``H0²/(N Y0)`` — the quantity the sign of ``A_high`` thresholds —
   ranks merging above non-merging agreeing pairs, as a ROC AUC) and the measured drift of
   the "conserved" ``A_high(t)`` along real training.
5. **App. D checks.** The Taylor ratio (second- over first-order term, P25 Fig. 13) along
   training for merging and non-merging pairs, and the mean pairwise distance over random
   pairs of all training sequences (P25 Fig. 12; the paper reports it never decreases).
6. **The nine-variable fixed-expansion-point model** (``interaction.fixed_expansion``,
   eq. 42) for an agreeing pair with hidden rates ``lr·m`` for prefix lengths ``m = 1, 10``
   (``1/τ_h ∝`` prefix length, §D.3), ``1/τ_y = lr``, ``1/τ_b = lr/4``, initial scale ``g``
   estimated from the epoch-0 hidden states (std over units of the per-unit std), over
   ``--fe-seeds`` random initial states: P25 Fig. 10 left (divergence, then merger).

Where theory and measurement disagree the results say so (``results.json`` →
``disagreements``): the closed form rests on the collinearity Ansatz and is only
approximate in many hidden dimensions (docs/theory.md §2.8), the rates are assumed constant in
time and equal for every pair, and the real network shares parameters between pairs.

Outputs in ``--out`` (default ``runs/pair_dynamics``): ``results.npz`` (per-pair
trajectories ``H, Y, W, A_high, taylor`` indexed ``[snapshot, pair]`` and per-pair
scalars), ``results.json`` (configuration, provenance, fits, confusion matrices, every
pair's measured and predicted quantities, disagreements) and the figures
``fig10_right_trajectories``, ``merger_prediction``, ``a_high_drift``,
``taylor_ratio``, ``mean_distance``, ``fig10_left_fixed_expansion`` (PNG and PDF), and
``stage.npz``: the measured snapshots' parameters and pair measurements, reused by a rerun
into the same ``--out`` whose training and pair options are unchanged (only the analysis
— fits, thresholds, nine-variable model — is then recomputed).

Measurement grid: the parameters of every epoch are kept in memory; the pairs are measured
every ``--snapshot-every`` epochs plus at the ``--dense-snapshots`` epochs where the training
loss changes fastest, which resolves the sudden loss drop during which pairs merge.

Python use::

    from validation.pair_dynamics import PairDynamicsConfig, run, load
    result = run(PairDynamicsConfig(), "runs/pair_dynamics")   # out_dir=None: compute only, write nothing
    config, results = load("runs/pair_dynamics")              # validated results.npz + results.json

Modules: ``config`` (``PairDynamicsConfig`` embedding ``rnn.parity.TrainConfig``),
``selection`` (task data and pairs), ``measures`` (array statistics), ``fits`` (rates of
eq. 20), ``analysis`` (arrays in, summary out), ``nine_variable`` (eq. 42), ``figures`` (one
function per figure), ``run`` (``run``, the stage cache, ``load``) and ``__main__`` (the
command line; ``--out`` is checked before any work: one line, exit 2, nothing written).
"""
from validation.pair_dynamics.analysis import Measured, Observed, Predictions, observe, predict, summarise
from validation.pair_dynamics.config import PAPER_TRAINING, PairDynamicsConfig
from validation.pair_dynamics.dataset import load_dataset
from validation.pair_dynamics.fits import RateFits, fit_all, fit_pair_rates
from validation.pair_dynamics.measures import (a_high_trajectory, best_threshold, confusion, gain_from_hidden,
                                               mean_pairwise_distance, pair_taylor_ratio, roc_auc)
from validation.pair_dynamics.run import EXPERIMENT, PairDynamicsResult, Stage, load, run
from validation.pair_dynamics.selection import candidate_pairs, select_pairs

__all__ = ["EXPERIMENT", "PAPER_TRAINING", "Measured", "Observed", "PairDynamicsConfig", "PairDynamicsResult",
           "Predictions", "RateFits", "Stage", "a_high_trajectory", "best_threshold", "candidate_pairs", "confusion",
           "fit_all", "fit_pair_rates", "gain_from_hidden", "load", "load_dataset", "mean_pairwise_distance", "observe",
           "pair_taylor_ratio", "predict", "roc_auc", "run", "select_pairs", "summarise"]
