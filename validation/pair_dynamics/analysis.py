"""Analysis of the measured pairs: arrays in, summary out (no training, no files).

``observe`` decides which pairs merged (final ``‖dh‖ < ε``); ``predict`` applies eqs. 6, 25
and 7 with the pooled rate ratio at epoch 0 and at the late epoch. The summary is built
from one function per topic (training, threshold, fits, mergers, drift of ``A_high``,
Taylor ratio, mean distance), each taking the few arrays or dataclasses it reports on,
and ``summarise`` puts them together; ``disagreements`` states in plain words where the
theory and the measurements disagree. Adding a metric means adding it to the topic's
function (and to the figure that shows it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from interaction.closed_form import a_low, will_merge

from validation.pair_dynamics.fits import RateFits, fit_dict
from validation.pair_dynamics.measures import a_high_trajectory, best_threshold, confusion, roc_auc


@dataclass(frozen=True)
class Measured:
    """The per-pair measurements the analysis needs (subset of ``rnn.measure.pairs.PairMeasurements``).

    ``H, Y, W`` ``(snapshots, pairs)``; ``S, N, m1, m2, n_min`` ``(pairs,)``.
    """

    H: np.ndarray
    Y: np.ndarray
    W: np.ndarray
    S: np.ndarray
    N: np.ndarray
    m1: np.ndarray
    m2: np.ndarray
    n_min: np.ndarray

    @property
    def agreeing(self) -> np.ndarray:
        return self.S == 0

    @property
    def m_min(self) -> np.ndarray:
        return np.minimum(self.m1, self.m2)


@dataclass(frozen=True)
class Observed:
    """What training did to each pair, judged against the merge threshold ``eps``."""

    eps: float
    final_distance: np.ndarray   # ‖dh‖ at the last snapshot
    merged: np.ndarray           # final_distance < eps
    diverged_first: np.ndarray   # the authors' "diverging merger": at some snapshot farther apart than 10 eps
    rose: np.ndarray             # max_t H > 2 H(0)


def observe(H: np.ndarray, eps: float) -> Observed:
    """Observed mergers of the pairs whose ``H = ‖dh‖²`` trajectories are the columns of ``H``."""
    final = np.sqrt(H[-1])
    return Observed(eps=float(eps), final_distance=final, merged=final < eps,
                    diverged_first=np.sqrt(np.max(H, axis=0)) > 10.0 * eps, rose=np.max(H, axis=0) > 2.0 * H[0])


@dataclass(frozen=True)
class Predictions:
    """Eq. 7's merger predictions and the quantities behind them.

    ``A_high`` ``(snapshots, pairs)`` (eq. 6 with the pooled ``κ``; nan where ``H = 0``),
    ``A_low`` ``(pairs,)`` (eq. 25); ``start``/``late``: predicted from ``A_high`` at epoch 0
    and at snapshot ``late`` (False where ``A_high`` is nan: no prediction, counted in
    ``unpredictable``); ``drift`` = ``(A_high(t) − A_high(0)) / max_t H``; ``z0`` = ``H0²/(N Y0)``;
    ``kappa_best`` the threshold on ``z0`` that best classifies the calibration pairs and
    ``best`` its predictions.
    """

    A_high: np.ndarray
    A_low: np.ndarray
    start: np.ndarray
    late: np.ndarray
    late_index: int
    drift: np.ndarray
    z0: np.ndarray
    kappa_best: float
    best: np.ndarray

    @property
    def unpredictable(self) -> np.ndarray:
        """Pairs without a prediction at epoch 0 (``A_high(0)`` not finite: ``H0 = 0``)."""
        return ~np.isfinite(self.A_high[0])


def predict(meas: Measured, fits: RateFits, snapshot_epochs: np.ndarray, late_epoch: int,
            observed: Observed) -> Predictions:
    """Predictions from ``A_high``, ``A_low`` at the start and at ``late_epoch``, and the rate-free bound."""
    H, Y, S, N = meas.H, meas.Y, meas.S, meas.N.astype(float)
    A_high_t = a_high_trajectory(H, Y, N, fits.kappa)
    late = int(np.searchsorted(snapshot_epochs, late_epoch))
    A_low = a_low(S, N=N, tau_h=fits.pooled.tau_h, tau_y=fits.pooled.tau_y)
    start = np.where(np.isfinite(A_high_t[0]), will_merge(np.nan_to_num(A_high_t[0]), A_low), False)
    late_pred = np.where(np.isfinite(A_high_t[late]), will_merge(np.nan_to_num(A_high_t[late]), A_low), False)
    H_max = np.max(H, axis=0)
    drift = (A_high_t - A_high_t[0]) / np.where(H_max > 0, H_max, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        z0 = np.where(Y[0] > 0, H[0] ** 2 / (N * Y[0]), np.inf)
    cal = meas.agreeing & fits.calibration
    # a rate-free bound: the threshold on H0²/(N Y0) that best separates the calibration pairs
    kappa_best = best_threshold(z0[cal], observed.merged[cal])
    return Predictions(A_high_t, A_low, start.astype(bool), late_pred.astype(bool), late, drift, z0, kappa_best,
                       meas.agreeing & (z0 < kappa_best))


# ----------------------------------------------------------------------------- summary, topic by topic

def steps_per_epoch(protocol: str, batch_size: int, lengths: np.ndarray) -> int:
    """SGD steps per epoch: 1 for full batch, else per length ``ceil(count / batch_size)``."""
    if protocol == "full_batch":
        return 1
    counts = np.unique(lengths, return_counts=True)[1]
    return int(np.sum(-(-counts // batch_size)))


def training_summary(run_: Any, spe: int, lr: float) -> dict[str, Any]:
    """Status and loss of the run (an ``rnn.parity.SnapshotRun``) and the ODE-time convention."""
    sgd_time = lr * spe  # gradient-flow time per epoch
    return {
        "training": {"status": run_.status, "epochs": int(run_.epochs), "final_train_loss": float(run_.train_loss[-1]),
                     "steps_per_epoch": spe, "snapshots": int(run_.snapshot_epochs.size)},
        "time_mapping": ("ODE time t = epoch index; tau in epochs. tau in SGD gradient-flow time "
                         f"(lr x steps/epoch = {sgd_time:g} per epoch) = tau_epochs x {sgd_time:g}; "
                         "r, A_high, A_low and all predictions are invariant under this rescaling"),
    }


def fit_summary(fits: RateFits, agreeing: np.ndarray, sgd_time: float) -> dict[str, Any]:
    """The pooled fit, the per-pair fits (spread of ``κ``) and the fits after the peak of ``H``."""
    ok_fits = [f for f in fits.pair.values() if f is not None and f.success]
    kappas = np.array([f.tau_y / f.tau_h for f in ok_fits])
    pooled = fits.pooled
    ok_post = [f for _, f in fits.post_peak.values() if f is not None and f.success]
    return {
        "pooled_fit": {**fit_dict(pooled), "kappa_tau_y_over_tau_h": fits.kappa,
                       "tau_h_sgd_time": pooled.tau_h * sgd_time, "tau_y_sgd_time": pooled.tau_y * sgd_time,
                       "pairs": int(pooled.n_trajectories)},
        "per_pair_fits": {"attempted": len(fits.pair), "successful": len(ok_fits),
                          "successful_agreeing": sum(1 for k, f in fits.pair.items()
                                                     if f is not None and f.success and agreeing[k]),
                          "attempted_agreeing": sum(1 for k in fits.pair if agreeing[k]),
                          "kappa_median": float(np.median(kappas)) if kappas.size else None,
                          "kappa_iqr": [float(np.percentile(kappas, 25)), float(np.percentile(kappas, 75))]
                          if kappas.size else None,
                          "kappa_min_max": [float(kappas.min()), float(kappas.max())] if kappas.size else None,
                          "median_residual": float(np.median([f.residual for f in ok_fits])) if ok_fits else None},
        "per_pair_fits_after_peak": {"attempted": len(fits.post_peak), "successful": len(ok_post),
                                     "kappa": [f.tau_y / f.tau_h for f in ok_post],
                                     "residuals": [f.residual for f in ok_post]},
    }


def _log_auc(z0: np.ndarray, merged: np.ndarray) -> float:
    """ROC AUC of ``-log z0`` (``z0 = 0``, an identical pair, ranks first) for the merged pairs."""
    with np.errstate(divide="ignore"):
        return roc_auc(-np.log(z0), merged)


def merger_summary(meas: Measured, obs: Observed, pred: Predictions, calibration: np.ndarray,
                   snapshot_epochs: np.ndarray) -> dict[str, Any]:
    """Observed vs predicted mergers: confusion matrices, by shorter prefix length, rate-free checks."""
    A, merged, test = meas.agreeing, obs.merged, ~calibration
    m_min = meas.m_min
    by_length = {}
    for m in np.unique(m_min[A]):
        sel = A & (m_min == m)
        by_length[int(m)] = {"pairs": int(sel.sum()), "observed_merged": int(merged[sel].sum()),
                             "start": confusion(pred.start[sel], merged[sel]),
                             "late": confusion(pred.late[sel], merged[sel])}
    merged_lengths = m_min[A & merged]
    diff_len = np.abs(meas.m1 - meas.m2)
    divergent_by_gap = {}
    for g in np.unique(diff_len[A & merged]):
        sel = A & merged & (diff_len == g)
        divergent_by_gap[int(g)] = {"merged": int(sel.sum()), "diverged_first": int((sel & obs.diverged_first).sum())}
    return {
        "pairs_total": int(A.size), "agreeing_pairs": int(A.sum()), "disagreeing_pairs": int((~A).sum()),
        "pairs_without_prediction": {"count": int(pred.unpredictable.sum()),
                                     "note": "A_high(0) is not finite (H0 = 0: identical initial states); "
                                             "counted as predicted not to merge"},
        "observed_mergers": {"agreeing": int((A & merged).sum()), "disagreeing": int((~A & merged).sum())},
        "confusion_agreeing_heldout": {"start": confusion(pred.start[A & test], merged[A & test]),
                                       "late": confusion(pred.late[A & test], merged[A & test])},
        "confusion_agreeing_all": {"start": confusion(pred.start[A], merged[A]),
                                   "late": confusion(pred.late[A], merged[A])},
        "confusion_disagreeing_all": {"start": confusion(pred.start[~A], merged[~A])},
        "late_epoch": int(snapshot_epochs[pred.late_index]),
        "by_min_prefix_length": by_length,
        "smallest_merging_min_length": int(merged_lengths.min()) if merged_lengths.size else None,
        "rate_free_auc_H0sq_over_NY0": _log_auc(pred.z0[A], merged[A]),
        "divergent_mergers": {"merged_agreeing": int((A & merged).sum()),
                              "diverged_first": int((A & merged & obs.diverged_first).sum()),
                              "by_length_gap": divergent_by_gap},
        "agreeing_pairs_whose_H_rose_above_2x_H0": int(np.sum(A & obs.rose)),
        "merged_agreeing_pairs_whose_H_rose_above_2x_H0": int(np.sum(A & merged & obs.rose)),
    }


def calibrated_threshold_summary(pred: Predictions, kappa: float, agreeing: np.ndarray, merged: np.ndarray,
                                 calibration: np.ndarray) -> dict[str, Any]:
    """The best single threshold on ``H0²/(N Y0)`` (from calibration pairs) on the held-out agreeing pairs."""
    held_out = agreeing & ~calibration
    return {"calibrated_threshold": {
        "kappa": pred.kappa_best, "kappa_pooled_fit": kappa,
        "confusion_agreeing_heldout": confusion(pred.best[held_out], merged[held_out]),
        "note": "merge iff H0^2/(N Y0) < kappa with kappa chosen to classify the calibration pairs best; "
                "what the closed form could achieve with the best single rate ratio"}}


def drift_summary(pred: Predictions, agreeing: np.ndarray) -> dict[str, Any]:
    """How far the "conserved" ``A_high`` drifts along real training, relative to ``max_t H``."""
    def stats(sel):
        if not np.any(sel):
            return {"pairs": 0}
        d = np.abs(pred.drift[:, sel])
        return {"pairs": int(sel.sum()), "median_abs_drift_late": float(np.nanmedian(d[pred.late_index])),
                "median_abs_drift_final": float(np.nanmedian(d[-1])),
                "fraction_sign_change_start_to_final": float(np.mean(
                    np.sign(pred.A_high[0, sel]) != np.sign(pred.A_high[-1, sel])))}

    return {"a_high_drift_relative_to_max_H": {"agreeing": stats(agreeing), "disagreeing": stats(~agreeing)}}


def taylor_summary(taylor: np.ndarray, merged: np.ndarray) -> dict[str, Any]:
    """P25 App. D.2: second- over first-order Taylor term ``(snapshots, pairs)`` for merging and other pairs."""
    finite_t = np.where(np.isfinite(taylor), taylor, np.nan)
    tmax = np.nanmax(np.where(np.isfinite(finite_t), finite_t, -np.inf), axis=0)

    def stats(sel):
        if not np.any(sel):
            return {"pairs": 0}
        vals = finite_t[:, sel]
        return {"pairs": int(sel.sum()), "median_of_max_ratio": float(np.median(tmax[sel])),
                "fraction_snapshots_ratio_above_1": float(np.nanmean(vals > 1)),
                "fraction_pairs_max_ratio_below_0.1": float(np.mean(tmax[sel] < 0.1))}

    return {"taylor_ratio": {"merging": stats(merged), "non_merging": stats(~merged)}}


def distance_summary(mean_distance: np.ndarray) -> dict[str, Any]:
    """P25 App. D.1 (Fig. 12): does the mean pairwise distance ever decrease?"""
    dec = np.diff(mean_distance)
    rel_dec = -dec / mean_distance[:-1]
    return {"mean_distance": {"never_decreases": bool(np.all(dec >= 0)), "n_decreases": int(np.sum(dec < 0)),
                              "max_relative_decrease": float(max(0.0, rel_dec.max())) if rel_dec.size else 0.0,
                              "initial": float(mean_distance[0]), "final": float(mean_distance[-1])}}


def pair_records(meas: Measured, labels: tuple[list[str], list[str]], obs: Observed, fits: RateFits,
                 pred: Predictions, snapshot_epochs: np.ndarray, taylor: np.ndarray) -> list[dict[str, Any]]:
    """Every pair's measured and predicted quantities, as JSON records."""
    H, Y, W, S, N = meas.H, meas.Y, meas.W, meas.S, meas.N
    labels1, labels2 = labels
    records = []
    for k in range(H.shape[1]):
        post = fits.post_peak.get(k)
        records.append({
            "prefix1": labels1[k], "prefix2": labels2[k], "m1": int(meas.m1[k]), "m2": int(meas.m2[k]),
            "N": int(N[k]), "n_min": int(meas.n_min[k]), "S": float(S[k]), "agreeing": bool(S[k] == 0),
            "calibration": bool(fits.calibration[k]), "H0": float(H[0, k]), "Y0": float(Y[0, k]),
            "W0": float(W[0, k]), "H_final": float(H[-1, k]), "final_distance": float(obs.final_distance[k]),
            "diverged_first": bool(obs.diverged_first[k]),
            "A_high_start": float(pred.A_high[0, k]), "A_high_late": float(pred.A_high[pred.late_index, k]),
            "A_low": float(pred.A_low[k]),
            "predicted_merge_start": bool(pred.start[k]), "predicted_merge_late": bool(pred.late[k]),
            "observed_merge": bool(obs.merged[k]),
            "taylor_ratio_max": float(np.nanmax(taylor[:, k])) if np.any(np.isfinite(taylor[:, k])) else None,
            "fit": None if k not in fits.pair else fit_dict(fits.pair[k]),
            "fit_after_peak": None if post is None else
            {"from_epoch": int(snapshot_epochs[post[0]]), **fit_dict(post[1])},
        })
    return records


def summarise(meas: Measured, obs: Observed, fits: RateFits, pred: Predictions, *, run_: Any, spe: int,
              lr: float, eps_factor: float, taylor: np.ndarray, mean_distance: np.ndarray,
              G0: float) -> dict[str, Any]:
    """Every number the report quotes (``results.json``), topic by topic, then the ``disagreements``.

    ``run_`` is the ``rnn.parity.SnapshotRun`` (status, losses, snapshot epochs); ``spe`` its
    SGD steps per epoch; ``taylor`` ``(snapshots, pairs)``; ``mean_distance`` ``(snapshots,)``;
    ``G0`` the contraction factor of the initial network.
    """
    summary: dict[str, Any] = training_summary(run_, spe, lr)
    summary["merge_threshold"] = {"eps": obs.eps, "eps_factor": eps_factor,
                                  "std_convention": "pooled over all snapshots and training sequences (+h0)"}
    summary["contraction_G_initial"] = G0
    summary.update(fit_summary(fits, meas.agreeing, lr * spe))
    summary.update(merger_summary(meas, obs, pred, fits.calibration, run_.snapshot_epochs))
    summary.update(calibrated_threshold_summary(pred, fits.kappa, meas.agreeing, obs.merged, fits.calibration))
    summary.update(drift_summary(pred, meas.agreeing))
    summary.update(taylor_summary(taylor, obs.merged))
    summary.update(distance_summary(mean_distance))
    return summary


def disagreements(s: dict[str, Any]) -> list[str]:
    """Plain statements of where the theory and the measurements disagree (empty if none)."""
    out = []
    for name, key in (("held-out agreeing pairs", "confusion_agreeing_heldout"), ("all agreeing pairs",
                                                                                  "confusion_agreeing_all")):
        for when in ("start", "late"):
            c = s[key][when]
            wrong = c["fp"] + c["fn"]
            total = sum(c.values())
            if wrong:
                out.append(f"merger prediction from A_high at the {when} ({'epoch 0' if when == 'start' else 'epoch ' + str(s['late_epoch'])}) "
                           f"is wrong for {wrong} of {total} {name}: {c['fp']} predicted mergers did not merge, "
                           f"{c['fn']} unpredicted mergers happened")
    unpredictable = s["pairs_without_prediction"]["count"]
    if unpredictable:
        out.append(f"{unpredictable} of {s['pairs_total']} pairs have no prediction: their initial states are "
                   "identical (H0 = 0, outside eq. 20's domain); they count as predicted not to merge")
    if s["observed_mergers"]["disagreeing"]:
        out.append(f"{s['observed_mergers']['disagreeing']} disagreeing pairs ended closer than eps although "
                   "A_low > 0 forbids a merger")
    d = s["a_high_drift_relative_to_max_H"]["agreeing"]
    if d.get("pairs") and d["median_abs_drift_final"] > 0.1:
        out.append(f"A_high is not conserved along real training: median |A_high(T) - A_high(0)| / max_t H = "
                   f"{d['median_abs_drift_final']:.3g} for agreeing pairs; its sign changes for "
                   f"{100 * d['fraction_sign_change_start_to_final']:.0f}% of them")
    pf = s["per_pair_fits"]
    if pf["kappa_min_max"] and pf["kappa_min_max"][1] > 10 * pf["kappa_min_max"][0]:
        out.append(f"the fitted rate ratio tau_y/tau_h is not one constant: per-pair fits span "
                   f"{pf['kappa_min_max'][0]:.3g} to {pf['kappa_min_max'][1]:.3g} (pooled {s['pooled_fit']['kappa_tau_y_over_tau_h']:.3g})")
    if s["agreeing_pairs_whose_H_rose_above_2x_H0"]:
        out.append(f"eq. 20 makes H non-increasing for agreeing pairs (W = Y >= 0), yet the measured H of "
                   f"{s['agreeing_pairs_whose_H_rose_above_2x_H0']} of {s['agreeing_pairs']} agreeing pairs rose above "
                   f"twice its initial value ({s['merged_agreeing_pairs_whose_H_rose_above_2x_H0']} of the "
                   f"{s['observed_mergers']['agreeing']} that merged): the moving-midpoint theory cannot fit that phase "
                   "(the nine-variable fixed-expansion model can, see fixed_expansion)")
    if pf["attempted"] and pf["successful"] < pf["attempted"]:
        out.append(f"{pf['attempted'] - pf['successful']} of {pf['attempted']} per-pair rate fits failed "
                   "(optimum on the search bound, or the model could not be integrated)")
    if not s["pooled_fit"]["success"]:
        out.append(f"the pooled rate fit did not succeed: {s['pooled_fit']['message']}")
    tm = s["taylor_ratio"]["merging"]
    if tm.get("pairs") and tm["fraction_pairs_max_ratio_below_0.1"] < 1:
        out.append(f"for {100 * (1 - tm['fraction_pairs_max_ratio_below_0.1']):.0f}% of merging pairs the second-order "
                   "Taylor term reaches 10% of the first-order term (P25 App. D.2 reports >= 10x dominance)")
    for kind in ("merging", "non_merging"):
        t = s["taylor_ratio"][kind]
        if t.get("pairs") and t["fraction_snapshots_ratio_above_1"] > 0:
            out.append(f"{kind.replace('_', '-')} pairs: the second-order Taylor term exceeds the first-order term in "
                       f"{100 * t['fraction_snapshots_ratio_above_1']:.1f}% of (pair, snapshot) measurements")
    md = s["mean_distance"]
    if not md["never_decreases"]:
        out.append(f"the mean pairwise distance decreases at {md['n_decreases']} snapshots (largest relative "
                   f"decrease {md['max_relative_decrease']:.3g}); P25 Fig. 12 reports it never decreases")
    auc = s["rate_free_auc_H0sq_over_NY0"]
    if np.isfinite(auc) and auc < 0.9:
        out.append(f"the rate-free statistic H0^2/(N Y0) that A_high < 0 thresholds ranks merging above "
                   f"non-merging agreeing pairs only with ROC AUC {auc:.2f}")
    fe = s.get("fixed_expansion")
    if fe and fe["fraction_diverged_then_merged"] < 1:
        out.append(f"nine-variable model (g = {fe['gain_g']:.3g}): only {100 * fe['fraction_diverged_then_merged']:.0f}% "
                   f"of initial states diverge then merge by t = {fe['t_max']:g} "
                   f"({100 * fe['fraction_diverged_then_merged_by_5_t_max']:.0f}% by t = {fe['horizon']:g})")
    return out
