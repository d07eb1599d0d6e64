"""The merger phase diagram (P25 Fig. 9, docs/experiments.md §2) with the interaction theory's boundary overlaid.

    python -m validation.merger_phase_diagram                 # quick 4 x 4 grid, trained to convergence
    python -m validation.merger_phase_diagram --preset paper  # the 20 x 20 grid of P25 Fig. 9

Streaming-parity RNNs (``rnn/parity/elman.py``, ReLU, ``P = 100``) are trained from
Xavier-normal initialisations of gain ``g`` (the "initial weight scale", y axis)
on a fraction ``p`` of all binary sequences of length 1..L (x axis; per length a
``Binomial(2^l, p)`` draw of distinct sequences, ``rnn.parity.data.sample_sequences``)
until the training loss falls below P25's threshold (1e-3), with an epoch cap as a
safety net. Per network the results hold: accuracy and loss on random sequences much
longer than any training sequence, the final training loss, epochs used, the status
(``converged``; ``capped`` = not converged, stopped by the epoch cap; ``stalled`` = no
1 % progress of the training loss within ``--stall-window`` epochs, see
``rnn/parity/ensemble.py``; ``diverged``: non-finite loss, whose metrics are NaN rather
than a number; the counts are printed, stored in ``summary.status_counts`` and shown in
every figure), the raw and
Hopcroft-minimised state counts of the automaton extracted at
``eps = factor·‖std‖`` of the final hidden states of all 2^1 + … + 2^L sequences
plus ``h_0`` (``rnn.automata.extraction``), whether it is finite and whether its minimised
form is equivalent to the task automaton (parity: the 2-state automaton), and
the contraction factor ``G`` of the initial network (``rnn.measure.contraction``).

Randomness and work split (``run.py``). ``--randomness independent`` (default, as P25's
reference code): every (replicate, gain, fraction) cell has its own initial weights, data
draw, minibatch order and validation set, all seeded from (seed, replicate, gain,
fraction); one sweep task is one network. ``--randomness common`` (correlated "common
random numbers"): one task is one (fraction, replicate), one data draw and one ensemble
with every gain as a member, trained as a single batched computation
(``rnn.parity.train_ensemble``); the initial weights depend on (seed, replicate) — so
along a row only the data change, and different gains are the same random matrices
scaled — the data draw and minibatch order on (seed, replicate, fraction), and the
validation sequences on (seed, replicate). Seeds never depend on execution order.
``--readout discontinuity`` trains P25 §D.9's readout ``W_hy (h + 1[h > 0]) + b_hy``.
Tasks run single-threaded so that every executor gives bit-identical numbers;
parallelism comes from running tasks side by side. Finished tasks are written
atomically under ``OUT/tasks/`` and a rerun of the same command resumes
(``validation/sweep.py``); a different compute configuration (or toolkit version) into
the same ``--out`` is refused. Analysis-only options — ``--generalise-accuracy``,
``--bootstrap``, ``--fit-cells``, ``--predictors``, ``--cv-blocks`` — may change freely: they
only re-run the analysis (``--plot-only`` re-runs it on a results file, rewrites that file's
analysis and redraws the figures).

Theory overlay (``analysis.py``, ``boundary_fit.py``): each cell's merger score
``S(G, p) = max log N(m1,m2;p) − m1 log G`` over prefix lengths ``1 <= m1 < m2 <= L``
with ``N >= 1`` (eq. 9 with ``n = 0``; the derivation is in that module's
docstring), ``G`` measured on the initial networks and ``N`` the expected number
of shared continuations for the fraction ``p``; the one unknown constant ``C`` is fitted by maximising agreement
between the predicted regime (``S > log C``) and observed generalisation (accuracy
at the longest validation length ``>= --generalise-accuracy``), with a bootstrap
over cells for its spread. The predicted boundary ``S = log C`` is drawn on both
maps; cells where prediction and observation disagree are outlined in red.

Measured overlay (``measured.py``, ``--measured-pairs`` per network, 0: off): at
initialisation, on its own training set, each network's prefix pairs are measured
(``rnn.measure.prediction``: ``H0, Y0, S, N``) and eqs. 5–7 applied with one global rate
ratio ``κ = τ_y/τ_h``, fitted as ``C`` is; a network is predicted to generalise iff its
cell threshold ``z_min = min H0²/(N Y0)`` over agreeing cross-length pairs is ``<= κ``.
Each measured pair is also checked in the trained network (merged within ``eps``): a
confusion matrix per pair kind. The three predictors (eq. 9, measured, constant guess)
are compared with bootstrap intervals, and eq. 9's two scaling steps are measured per
gain (figure ``scaling_diagnostics``). Results written before the overlay analyse and
plot as before, without it.

The theory test (docs/theory.md §3.7; ``features.py``, ``predictors.py``, ``crossval.py``,
``along_training.py``): every predictor — the baselines constant, fraction, gain, logistic
and per-cell majority, and the theory's eq. 9, its shared-suffix form and the measured
minimum and median — is fitted and scored in sample and out of sample (leave one
replicate out; leave one block of cells out), with bootstrap intervals and a verdict: the
best theory predictor against the best baseline. With ``--checkpoints`` (rules on each
network's loss curve, ``rnn/parity/checkpoints.py``) the measured pairs are measured again
along training: the conservation of ``A_high`` and the prediction horizon. Figures
``theory_test`` and ``theory_along_training``.

Outputs in ``OUT`` (default ``runs/merger_phase_diagram/PRESET``): ``results.npz``
(arrays indexed ``[replicate, gain, fraction(, validation length)]``),
``results.json`` (configuration, seeds, fit, agreement, timings, provenance), and
the figures ``phase_diagram``, ``accuracy_map``, ``states_map``, ``theory_test`` (and, with the
measured overlay, ``scaling_diagnostics`` and ``theory_along_training``) as PNG and PDF.
``--plot-only OUT/results.npz`` re-analyses a results file and redraws its figures.

Modules: ``config`` (``PhaseDiagramConfig``, embedding ``rnn.parity.TrainConfig``; presets),
``run`` (tasks, sweep, ``run(config, out_dir)``), ``analysis`` (fit of C, agreement,
summary), ``figures``, ``results`` (files, validated on reading), ``boundary_fit`` (the
merger score, the fits of C and κ), ``measured`` (one network's pair measurements),
``features`` / ``predictors`` / ``crossval`` (the theory test), ``along_training``
(conservation and horizon), ``theory_test_figure``, ``cli`` (the command line).

    from validation.merger_phase_diagram import PRESETS, run, load
    result = run(PRESETS["quick"], "runs/pd")      # Result: arrays, analysis, meta, figures
    arrays, config, files = load("runs/pd/results.npz")
"""
from validation.merger_phase_diagram.analysis import Analysis, analyse, summary
from validation.merger_phase_diagram.config import PRESETS, PhaseDiagramConfig
from validation.merger_phase_diagram.dataset import load_dataset
from validation.merger_phase_diagram.results import load
from validation.merger_phase_diagram.run import Result, run, task_seeds

DESCRIPTION = __doc__.split("\n\n")[0]

__all__ = ["DESCRIPTION", "PRESETS", "Analysis", "PhaseDiagramConfig", "Result", "analyse", "load", "load_dataset", "run",
           "summary", "task_seeds"]
