"""The interaction theory measured on the transformer: arrays in, summary out (docs/theory.md §2.1–§2.6).

The recorder measures, at every measured checkpoint and each theory site, ``H``, ``Y``,
``W`` (and the Taylor ratio) of the theory pairs: ``K`` agreeing train–train pairs, then
``K`` disagreeing ones (``rnn.modular.pair_theory``; ``N = 1``). Here, per site, with the
parity pair-dynamics experiment's own functions (``validation.pair_dynamics``):

1. **Observed.** A pair has merged when its final normalised distance ``d/r`` at the site
   (``rnn.modular.mergers.normalised_pair_distances``) is below ``merge_threshold``:
   ``observe`` applied to ``(d/r)²`` (so "diverged first" means ``max_t d/r > 10·threshold``).
   The normalised distance discounts the overall shrinking of every representation by weight
   decay, which ``H`` itself contains.
2. **Rates.** ``fit_all``: a random calibration half of the pairs (agreeing and disagreeing
   alike), one pooled least-squares fit of ``(τ_h, τ_y)`` of eq. 20 (ODE time = epoch = one
   AdamW step) on up to ``pooled_pairs`` calibration pairs, which sets the one global rate
   ratio ``κ = τ_y/τ_h``, and per-pair fits of ``fit_pairs`` pairs. The fitted trajectories
   start at ``fit_from``: by default the end of memorisation, because during memorisation the
   representations of a freshly initialised transformer grow by orders of magnitude, for
   agreeing pairs too, which eq. 20 forbids (``Ḣ = −(a/2) Y <= 0`` when ``W = Y``); the summary
   counts such pairs.
3. **Predictions.** Eq. 7 with ``A_high = H − κ Y/H`` (eq. 6, ``N = 1``) and ``A_low = sqrt(κ S)``
   (eq. 25) evaluated at each measured checkpoint (``predict``), checked against what the
   trained network did on the held-out half: confusion matrices at the checkpoints nearest
   the phases (initialisation, end of memorisation, the middle of circuit formation, start and
   end of cleanup; ``rnn.modular.progress.phase_boundaries``), the accuracy of the prediction
   at every measured checkpoint, and the ROC AUC among agreeing pairs of the rate-free
   statistic ``H²/Y`` (eq. 7 for an agreeing pair is ``H²/Y <= κ``, so the AUC asks whether
   any single rate ratio could separate the pairs that merge, without fitting one).

**Where the theory cannot apply.** Disagreeing pairs have ``A_low > 0`` and are predicted never
to merge, whatever the rates. Test inputs receive no target force, so test–train pairs are
not 2-point interacting pairs at all (``N = 0``): the theory predicts nothing for them and they
are not measured; that held-out inputs nevertheless join their class is the part of grokking
the 2-point theory does not describe. The theory also idealises squared error, free
representations and constant rates; the fits and the drift of ``A_high`` along training show
how far the transformer is from that.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from interaction.checks import check_choice
from interaction.closed_form import will_merge
from rnn.modular.mergers import target_separation
from validation.modular_addition.config import FIT_STARTS
from validation.pair_dynamics.analysis import (Measured, Predictions, calibrated_threshold_summary,
                                               drift_summary, fit_summary, observe, predict, taylor_summary)
from validation.pair_dynamics.fits import RateFits, fit_all
from validation.pair_dynamics.measures import confusion, roc_auc

#: the per-site arrays of ``site_theory`` (saved as ``SITE/theory_NAME``) and their dimensions: ``M``
#: measured checkpoints, ``K`` theory pairs, ``C`` phase checkpoints, integers as they are
THEORY_ARRAYS: dict[str, tuple[str | int, ...]] = {
    "observed": ("K",), "final_distance": ("K",), "auc": ("M",), "A_high": ("M", "K"), "A_low": ("K",),
    "calibration": ("K",), "fit_tau": ("K", 2), "predicted": ("C", "K"), "heldout_accuracy": ("M",)}
MIN_FIT_POINTS = 5  # measured checkpoints a rate fit needs at least
CHECKPOINT_NAMES = ("initialisation", "memorisation_end", "circuit_formation", "cleanup_start", "cleanup_end")
#: every input a, b, = is one training sequence read out once: one shared continuation, the empty one
N_CONTINUATIONS = 1
PREFIX_LENGTH = 3
TIME_MAPPING = ("ODE time t = epoch = one full-batch AdamW step; tau in epochs. Adam rescales its steps, so "
                "tau is no gradient-flow time; kappa = tau_y/tau_h, A_high, A_low and every prediction are "
                "invariant under any rescaling of t")
NOT_APPLICABLE = ("test-train pairs are not measured: a held-out input receives no target force (N = 0 shared "
                  "trained continuations), so the 2-point theory predicts nothing for them; their merging with "
                  "their class is the indirect, weight-sharing part of grokking outside the theory")


def theory_pairs(pairs: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """The theory's pairs ``(2, 2n)``: the first ``n`` agreeing, then the first ``n`` disagreeing train–train
    pairs of ``mergers.sample_pairs``."""
    return np.concatenate([pairs["agree_train_train"][:, :n], pairs["disagree_train_train"][:, :n]], axis=1)


def checkpoint_epochs(measure_epochs: np.ndarray, phases: Mapping[str, Any]) -> dict[str, int]:
    """The measured epochs nearest the phase landmarks of ``CHECKPOINT_NAMES`` (those the run has)."""
    mem, start, end = phases["memorisation_end"], phases["cleanup_start"], phases["cleanup_end"]
    targets = {"initialisation": 0, "memorisation_end": mem,
               "circuit_formation": None if start is None else (mem + start) / 2,
               "cleanup_start": start, "cleanup_end": end}
    epochs = np.asarray(measure_epochs)
    return {name: int(epochs[np.argmin(np.abs(epochs - t))]) for name, t in targets.items() if t is not None}


def _predictions_at(A_high: np.ndarray, A_low: np.ndarray) -> np.ndarray:
    """Eq. 7 at every row of ``A_high`` ``(T, K)``; no prediction (False) where ``A_high`` is not finite."""
    finite = np.isfinite(A_high)
    return finite & will_merge(np.where(finite, A_high, 0.0), A_low[None, :])


def site_theory(epochs: np.ndarray, H: np.ndarray, Y: np.ndarray, W: np.ndarray, S: np.ndarray,
                distance: np.ndarray, taylor: np.ndarray, *, threshold: float, checkpoints: Mapping[str, int],
                fit_start: int, pooled_pairs: int, fit_pairs: int, rng: np.random.Generator,
                commuted: np.ndarray | None = None,
                progress: bool = False) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Observed mergers, rate fits and eq. 7 predictions of one site (module docstring); ``(arrays, summary)``.

    ``H, Y, W, distance`` (normalised ``d/r``) and ``taylor`` are ``(T, K)`` over the measured
    ``epochs``; ``S`` ``(K,)``. The rates are fitted to the trajectories from measured
    checkpoint ``fit_start`` on (at least ``MIN_FIT_POINTS`` of them, else no fit). ``commuted``
    ``(K,)`` marks the pairs ``(a, b)``/``(b, a)``, which a network that learns the symmetry of
    addition makes identical without any interaction; they are counted apart, and the rate-free
    AUC is also given without them. Array names are relative (``A_high``, ``observed``, …).
    """
    K = S.size
    meas = Measured(H=H, Y=Y, W=W, S=S, N=np.full(K, N_CONTINUATIONS), m1=np.full(K, PREFIX_LENGTH),
                    m2=np.full(K, PREFIX_LENGTH), n_min=np.zeros(K, dtype=np.int64))
    obs = observe(distance.astype(np.float64) ** 2, threshold)
    agreeing, merged = meas.agreeing, obs.merged
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(Y > 0, H ** 2 / (N_CONTINUATIONS * Y), np.inf)  # eq. 7 for agreeing pairs: z <= kappa
    commuted = np.zeros(K, dtype=bool) if commuted is None else np.asarray(commuted, dtype=bool)
    auc = np.array([roc_auc(-z[t, agreeing], merged[agreeing]) for t in range(epochs.size)])
    plain = agreeing & ~commuted
    index = {name: int(np.searchsorted(epochs, e)) for name, e in checkpoints.items()}
    window = slice(fit_start, None)
    rose = np.max(H[window], axis=0) > 2.0 * H[fit_start]
    summary: dict[str, Any] = {
        "pairs": {"agreeing": int(agreeing.sum()), "disagreeing": int((~agreeing).sum())},
        "observed_mergers": {"agreeing": int((agreeing & merged).sum()),
                             "disagreeing": int((~agreeing & merged).sum()),
                             "agreeing_commuted": int((commuted & merged).sum()),
                             "commuted_pairs": int(commuted.sum())},
        "rate_free_auc_H2_over_Y": {name: float(auc[i]) for name, i in index.items()},
        "rate_free_auc_H2_over_Y_without_commuted": {name: roc_auc(-z[i, plain], merged[plain])
                                                     for name, i in index.items()},
        "fit_start_epoch": int(epochs[fit_start]),
        # eq. 20 cannot raise H of an agreeing pair (W = Y >= 0): how often the network does
        "agreeing_pairs_whose_H_rose_above_2x_at_fit_start": int(np.sum(agreeing & rose)),
        **taylor_summary(taylor, merged),
    }
    fits: RateFits | None = None
    if epochs.size - fit_start < MIN_FIT_POINTS:
        summary["pooled_fit"] = {"success": False, "message": f"not fitted: only {epochs.size - fit_start} measured "
                                                              f"checkpoints from epoch {epochs[fit_start]} on"}
    else:
        try:
            fits = fit_all((epochs[window] - epochs[fit_start]).astype(np.float64), H[window], Y[window], W[window],
                           S, meas.N.astype(np.float64), merged, obs.diverged_first, rng, pooled_pairs=pooled_pairs,
                           fit_pairs=fit_pairs, progress=progress)
        except RuntimeError as exc:  # no rate ratio: only the rate-free statistic remains
            summary["pooled_fit"] = {"success": False, "message": str(exc)}
    arrays = {"observed": merged, "final_distance": obs.final_distance, "auc": auc}
    if fits is None:
        nan = np.full((epochs.size, K), np.nan)
        arrays.update(A_high=nan, A_low=np.full(K, np.nan), calibration=np.zeros(K, bool),
                      fit_tau=np.full((K, 2), np.nan), predicted=np.zeros((len(index), K), bool),
                      heldout_accuracy=np.full(epochs.size, np.nan))
        summary["kappa_tau_y_over_tau_h"] = None
        return arrays, summary
    late = checkpoints.get("memorisation_end", int(epochs[-1]))  # the "late" epoch of the drift summary
    pred: Predictions = predict(meas, fits, epochs, late, obs)
    held_out = agreeing & ~fits.calibration
    predicted_t = _predictions_at(pred.A_high, pred.A_low)
    accuracy = np.mean(predicted_t[:, held_out] == merged[held_out], axis=1) if held_out.any() \
        else np.full(epochs.size, np.nan)
    summary.update(fit_summary(fits, agreeing, 1.0))
    for key in ("tau_h_sgd_time", "tau_y_sgd_time"):  # AdamW steps are no gradient-flow time (TIME_MAPPING)
        summary["pooled_fit"].pop(key)
    summary["kappa_tau_y_over_tau_h"] = fits.kappa
    summary["checkpoints"] = {
        name: {"epoch": int(epochs[i]),
               "confusion_agreeing_heldout": confusion(predicted_t[i, held_out], merged[held_out]),
               "confusion_disagreeing_heldout": confusion(predicted_t[i, ~agreeing & ~fits.calibration],
                                                          merged[~agreeing & ~fits.calibration]),
               "heldout_agreeing_accuracy": float(accuracy[i]),
               "fraction_agreeing_A_high_negative": float(np.mean(pred.A_high[i, agreeing] < 0))}
        for name, i in index.items()}
    summary.update(calibrated_threshold_summary(pred, fits.kappa, agreeing, merged, fits.calibration))
    summary.update(drift_summary(pred, agreeing))
    arrays.update(A_high=pred.A_high, A_low=pred.A_low, calibration=fits.calibration, fit_tau=fits.tau_table(K),
                  predicted=predicted_t[list(index.values())], heldout_accuracy=accuracy)
    return arrays, summary


def theory_analysis(recorder_arrays: Mapping[str, np.ndarray], pairs: np.ndarray, labels: np.ndarray,
                    sites: Sequence[str], phases: Mapping[str, Any], *, threshold: float, fit_from: str,
                    pooled_pairs: int, fit_pairs: int, seed: int,
                    progress: bool = False) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """All theory sites: ``SITE/theory_*`` arrays and the ``measured_theory`` block of ``results.json``.

    ``recorder_arrays``: ``MergerRecorder.arrays()`` (``measure_epochs``, ``SITE/theory_H`` …
    and ``SITE/pair_distances_GROUP``); ``pairs`` the theory pairs (``theory_pairs``);
    ``fit_from`` (one of ``FIT_STARTS``) the checkpoint where the fitted trajectories start.
    """
    check_choice("fit_from", fit_from, FIT_STARTS)
    epochs = recorder_arrays["measure_epochs"]
    K = pairs.shape[1] // 2
    S = target_separation(labels[pairs[0]], labels[pairs[1]])
    checkpoints = checkpoint_epochs(epochs, phases)
    fit_start = int(np.searchsorted(epochs, checkpoints[fit_from]))
    P = int(round(np.sqrt(labels.size)))  # rows are a·P + b over all P² inputs
    commuted = (pairs[0] // P == pairs[1] % P) & (pairs[0] % P == pairs[1] // P)
    arrays: dict[str, np.ndarray] = {"theory_pairs": pairs, "theory_S": S, "theory_commuted": commuted,
                                     "theory_checkpoint_epochs": np.asarray(list(checkpoints.values()), np.int64)}
    per_site = {}
    for n, site in enumerate(sites):
        distance = np.concatenate([recorder_arrays[f"{site}/pair_distances_agree_train_train"][:, :K],
                                   recorder_arrays[f"{site}/pair_distances_disagree_train_train"][:, :K]], axis=1)
        q = {k: recorder_arrays[f"{site}/theory_{k}"] for k in ("H", "Y", "W", "taylor_ratio")}
        site_arrays, per_site[site] = site_theory(
            epochs, q["H"], q["Y"], q["W"], S, distance, q["taylor_ratio"], threshold=threshold,
            checkpoints=checkpoints, fit_start=fit_start, pooled_pairs=pooled_pairs, fit_pairs=fit_pairs,
            rng=np.random.default_rng([seed, 5, n]), commuted=commuted, progress=progress)
        arrays.update({f"{site}/theory_{k}": v for k, v in site_arrays.items()})
    summary = {"sites": list(sites), "merge_threshold": threshold, "N": N_CONTINUATIONS,
               "rule": "P25 eq. 7: merge iff A_low = 0 and A_high <= 0, A_high = H - kappa Y/H (eq. 6), "
                       "A_low = sqrt(kappa S) (eq. 25), N = 1, kappa = tau_y/tau_h from one pooled fit of eq. 20",
               "observed_rule": f"merged iff the final normalised distance d/r at the site < {threshold}",
               "fit_from": fit_from, "time_mapping": TIME_MAPPING, "not_applicable": NOT_APPLICABLE,
               "checkpoints": checkpoints, "per_site": per_site}
    return arrays, summary
