"""Theory against observation: the fit of C, agreement, baselines and the JSON summary.

Arrays in (``[replicate, gain, fraction(, validation length)]``, as assembled by
``run.assemble`` or read back by ``results.load``), an ``Analysis`` out. Each cell's merger
score ``S(G, p) = max log N(m1,m2;p) − m1 log G`` over prefix lengths ``1 <= m1 < m2 <= L``
with ``N >= 1`` (eq. 9 with ``n = 0``, docs/theory.md §3; derivation in ``boundary_fit.py``),
``G`` measured on the initial networks and ``N`` the expected number of shared
continuations for the fraction ``p``; the one unknown constant ``C`` is fitted by
maximising agreement between the predicted regime (``S > log C``) and observed
generalisation (accuracy at the longest validation length ``>= generalise_accuracy``),
with a bootstrap over cells for its spread. A new metric is added here (``Analysis``,
``analyse``, ``summary``) and in the figure that shows it (``figures.py``).

The measured overlay (``measured.py``, present when the arrays hold ``MEASURED_ARRAYS``;
``Analysis.measured`` is ``None`` for results written without them) applies eqs. 5–7 to
each network's own pair measurements at initialisation (docs/theory.md §2.3, §2.6): a
network is predicted to generalise iff its cell threshold ``z_min <= κ``, with the one
global rate ratio ``κ = τ_y/τ_h`` fitted as ``C`` is (``boundary_fit.fit_rate_ratio``, on
the same ``fit_cells``). We fit ``κ`` rather than calibrate it on ``pair_dynamics`` runs
because those are full-batch gradient flow of one main-run network, while the phase
diagram trains with SGD minibatches of a different size per fraction: the effective rate
ratio of the two protocols need not be the same, and a fit on the grid itself puts the
measured predictor on the same footing as eq. 9's fitted ``C`` (one constant each).
Three predictors are compared on the same networks: eq. 9 with fitted ``C``, the measured
eqs. 5–7 with fitted ``κ``, and the constant guess (the majority outcome). Their
agreements carry a bootstrap 16–84 % interval over networks with the fitted constants
held fixed (the interval is the sampling spread of the networks, not the optimism of
the fit; each predictor has one fitted constant), and the paired difference
measured − eq. 9 its own interval. At the pair level, every measured pair of every
network is checked in the trained network (``pair_merged``) against eq. 7 with the
fitted ``κ``: a confusion matrix per pair kind. Eq. 9's two scaling steps are summarised
per gain from the same measurements (``ScalingByGain``).

The theory test (docs/theory.md §3.7). Every predictor of ``predictors.py`` — baselines and
theory alike — is fitted and scored in and out of sample (``crossval.py``, ``Analysis.evaluation``);
the measured cell scores are read against the pair sample size (``features.score_stability``)
and ``‖dh(0)‖²`` against the shared-suffix length (``features.suffix_scaling``); the share
generalising per fraction column is set beside P25 Fig. 9's (``replicates.column_shares``);
and, where the checkpoints were measured, the conservation of ``A_high`` and the prediction
horizon (``along_training.py``).
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from rnn.measure.prediction import KINDS, _closed_form, _slope
from validation.merger_phase_diagram.boundary_fit import (
    ConstantFit,
    RateRatioFit,
    fit_merger_constant,
    fit_rate_ratio,
    merger_score,
    predicted_regime,
)
from validation.merger_phase_diagram.config import PhaseDiagramConfig
from validation.merger_phase_diagram.along_training import Conservation, Horizon, conservation, horizon
from validation.merger_phase_diagram.crossval import Evaluation, evaluate, percentile_interval, resample_means
from validation.merger_phase_diagram.features import (
    ScoreStability,
    SuffixScaling,
    network_features,
    score_stability,
    suffix_scaling,
)
from validation.merger_phase_diagram.predictors import available
from validation.merger_phase_diagram import p25_fig9
from validation.merger_phase_diagram.replicates import ReplicateSpread, column_shares, fig9_comparison, replicate_spread
from validation.merger_phase_diagram.measured import KIND_CODES, MEASURED_ARRAYS

#: the three predictors of the comparison, in the order they are reported
PREDICTORS = ("eq9", "measured", "constant")
#: confusion-matrix entries per pair kind: (predicted merge, observed merged)
CONFUSION = {"predicted_and_merged": (True, True), "predicted_not_merged": (True, False),
             "missed_merged": (False, True), "separate_as_predicted": (False, False)}


@dataclass(frozen=True)
class PredictorAgreement:
    """Agreement of one predictor with observed generalisation over every network."""

    agreement: float
    interval: tuple[float, float]     # bootstrap 16-84 % over networks (nan without resamples)
    agreement_converged: float        # over converged networks only (nan if none)


@dataclass(frozen=True)
class ScalingByGain:
    """Eq. 9's two scaling steps measured at initialisation, per gain (docs/theory.md §3.2).

    ``H_log_mean[g, k]``: mean over replicates and fractions of each network's mean
    ``log ‖dh(0)‖²`` at prefix length ``m[k]``; ``ratio_log_mean[g, k]``: the same for
    ``log ‖dy_i‖²/‖dh‖²`` at continuation length ``n[k]``. ``slope_H``, ``slope_ratio``:
    least-squares slopes of those profiles; ``median_network_slope_*``: the median of the
    per-network slopes. The scalings hold where the slopes equal ``log_G``, the log of
    ``Analysis.contraction_by_gain`` (``rnn.measure.contraction``, the ``G`` of eq. 9).
    """

    gains: np.ndarray
    log_G: np.ndarray
    m: np.ndarray
    H_log_mean: np.ndarray
    n: np.ndarray
    ratio_log_mean: np.ndarray
    slope_H: np.ndarray
    slope_ratio: np.ndarray
    median_network_slope_H: np.ndarray
    median_network_slope_ratio: np.ndarray


@dataclass(frozen=True)
class MeasuredAnalysis:
    """The measured overlay against observation (module docstring)."""

    z_min: np.ndarray                  # cell threshold per sample (nan: no measured agreeing cross-length pair)
    fit: RateRatioFit
    predicted: np.ndarray              # z_min <= kappa (the fit's decision value)
    comparison: dict[str, PredictorAgreement]   # PREDICTORS -> agreement over every network
    difference: float                  # agreement(measured) - agreement(eq9)
    difference_interval: tuple[float, float]    # paired bootstrap 16-84 %
    confusion: dict[str, dict[str, int]]        # pair kind -> CONFUSION counts, 'pairs', 'excluded'
    networks_without_pair: int         # networks with no measured agreeing cross-length pair
    failed_pairs: int                  # pairs whose measurement failed (non-finite Jacobian or H0 = 0)
    scaling: ScalingByGain


@dataclass(frozen=True)
class Analysis:
    """Theory against observation for every (replicate, gain, fraction) sample."""

    score: np.ndarray          # merger score S per sample
    observed: np.ndarray       # generalised (accuracy at the longest length >= threshold, not diverged)
    predicted: np.ndarray      # S > log C (all False when C is not fitted two-sided)
    fit: ConstantFit
    contraction_by_gain: np.ndarray   # geometric mean of G over replicates and fractions
    agreement_all: float              # agreement over every network (fit.agreement: over the fitted ones)
    agreement_converged: float        # agreement restricted to converged networks
    agreement_finite: float           # agreement of the prediction with "finite automaton equivalent to the task"
    agreement_baseline: float         # agreement of the best constant prediction (all or none generalise)
    measured: MeasuredAnalysis | None = None   # the measured overlay (None: arrays without MEASURED_ARRAYS)
    replicates: ReplicateSpread | None = None  # per-cell frequencies, per-gain onsets, per-replicate fits
    evaluation: Evaluation | None = None        # every predictor in and out of sample (crossval.py)
    column_shares: dict | None = None           # share generalising per fraction column (replicates.column_shares)
    stability: ScoreStability | None = None     # measured cell scores against the pair sample size
    suffix: SuffixScaling | None = None         # ||dh(0)||^2 against the shared-suffix length and m
    conservation: Conservation | None = None    # A_high(t)/A_high(0) at the checkpoints (along_training.py)
    horizon: Horizon | None = None              # the measured predictors refitted at each checkpoint


def floored_contraction(G: np.ndarray) -> np.ndarray:
    """``G`` with zeros replaced by half the smallest positive value (1e-6 if none).

    ``G = 0`` is a real measurement: a network whose every pair of reachable states merges in
    one step (small gains, few units). Its merger score is then the largest of the grid
    instead of ``+inf``, so the fit of C and the figures stay finite. Negative or non-finite
    estimates are refused.
    """
    G = np.asarray(G, dtype=float)
    if not np.all(np.isfinite(G) & (G >= 0)):
        raise ValueError("contraction estimates must be finite and non-negative to evaluate the theory")
    positive = G[G > 0]
    floor = 0.5 * positive.min() if positive.size else 1e-6
    return np.where(G > 0, G, floor)


def analyse(arrays: dict[str, np.ndarray], config: PhaseDiagramConfig) -> Analysis:
    """Fit ``log C`` and compare predicted with observed regimes (``boundary_fit.py``)."""
    G = floored_contraction(arrays["contraction"])
    p = np.broadcast_to(arrays["fractions"][None, None, :], G.shape)
    score = merger_score(G, p, config.L)
    accuracy = arrays["val_accuracy"][..., -1]
    observed = np.isfinite(accuracy) & (np.nan_to_num(accuracy) >= config.generalise_accuracy)
    converged = arrays["status"] == "converged"
    fitted = converged if config.fit_cells == "converged" else np.ones_like(converged)
    if not fitted.any():
        raise ValueError("fit_cells='converged' needs at least one converged network (none converged)")
    fit = fit_merger_constant(score[fitted], observed[fitted], n_bootstrap=config.bootstrap, seed=config.seed)
    predicted = predicted_regime(score, fit.decision_log_C)
    agree = predicted == observed
    task_solved = arrays["finite"] & arrays["equivalent"]
    contraction_by_gain = np.exp(np.mean(np.log(G), axis=(0, 2)))
    has_pairs = _has_measured(arrays)
    features = network_features(arrays, config.L, score)
    measured = (_analyse_measured(arrays, config, observed, predicted, converged, fitted, contraction_by_gain)
                if has_pairs else None)
    along = {}
    if has_pairs and "ckpt_z" in arrays and config.checkpoints:
        kappa = float(np.exp(measured.fit.decision_log_kappa))
        if np.isfinite(kappa) and kappa > 0:
            along["conservation"] = conservation(arrays, config.checkpoints, kappa)
        along["horizon"] = horizon(arrays, config.checkpoints, features, observed, n_replicates=config.seeds,
                                   n_gains=len(config.gains), n_fractions=len(config.fractions),
                                   blocks=config.cv_blocks, n_bootstrap=config.bootstrap, seed=config.seed)
    shares = column_shares(observed, arrays["gains"], arrays["fractions"], n_bootstrap=config.bootstrap,
                           seed=config.seed)
    evaluation = evaluate(available(config.predictors, features), features, observed,
                          n_replicates=config.seeds, n_gains=len(config.gains), n_fractions=len(config.fractions),
                          blocks=config.cv_blocks, n_bootstrap=config.bootstrap, seed=config.seed)
    return Analysis(
        score=score, observed=observed, predicted=predicted, fit=fit,
        contraction_by_gain=contraction_by_gain,
        agreement_all=float(np.mean(agree)),
        agreement_converged=_mean_over(agree, converged),
        agreement_finite=float(np.mean(predicted == task_solved)),
        agreement_baseline=float(max(observed.mean(), 1.0 - observed.mean())), measured=measured,
        replicates=replicate_spread(score, observed, arrays["n_states_raw"] <= p25_fig9.SMALL_AUTOMATON_STATES,
                                    arrays["fractions"], fit.decision_log_C),
        evaluation=evaluation, column_shares=shares,
        stability=score_stability(arrays, seed=config.seed) if has_pairs else None,
        suffix=suffix_scaling(arrays, contraction_by_gain, config.L) if has_pairs else None, **along)


def _mean_over(values: np.ndarray, where: np.ndarray) -> float:
    return float(np.mean(values[where])) if where.any() else float("nan")


def _has_measured(arrays: dict[str, np.ndarray]) -> bool:
    """Whether the arrays carry the measured overlay: all of ``MEASURED_ARRAYS`` or none of them."""
    present = [name for name in MEASURED_ARRAYS if name in arrays]
    if present and len(present) < len(MEASURED_ARRAYS):
        missing = [name for name in MEASURED_ARRAYS if name not in arrays]
        raise ValueError(f"arrays hold measured arrays {present[:3]}... but lack {missing}")
    return bool(present)


def _pair_confusion(arrays: dict[str, np.ndarray], kappa: float) -> dict[str, dict[str, int]]:
    """Eq. 7 with ``kappa`` against ``pair_merged`` per pair kind, over every measured pair of every network."""
    kind = arrays["pair_kind"].ravel()
    ok = arrays["pair_ok"].ravel() & (kind >= 0)
    observed_ok = np.isfinite(arrays["pair_final_distance"].ravel())
    if np.isfinite(kappa) and kappa > 0:
        predicted = _closed_form(arrays["pair_H0"].ravel(), arrays["pair_Y0"].ravel(), arrays["pair_S"].ravel(),
                                 arrays["pair_N"].ravel(), ok, kappa)["predicted_merge"]
    else:   # unconstrained fit: nothing is predicted to merge
        predicted = np.zeros(kind.shape, dtype=bool)
    merged = arrays["pair_merged"].ravel()
    out = {}
    for name in KINDS:
        this = kind == KIND_CODES[name]
        used = this & ok & observed_ok
        counts = {label: int(np.sum(used & (predicted == p) & (merged == m))) for label, (p, m) in CONFUSION.items()}
        out[name] = {**counts, "pairs": int(used.sum()), "excluded": int(np.sum(this & ~(ok & observed_ok)))}
    return out


def _scaling_by_gain(arrays: dict[str, np.ndarray], contraction_by_gain: np.ndarray) -> ScalingByGain:
    L = arrays["scaling_H_log_mean"].shape[-1]
    m, n = np.arange(1, L + 1), np.arange(L)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)    # all-nan slices: no pair at that length
        H = np.nanmean(arrays["scaling_H_log_mean"], axis=(0, 2))
        ratio = np.nanmean(arrays["scaling_ratio_log_mean"], axis=(0, 2))
        median_H = np.nanmedian(arrays["scaling_slope_H"], axis=(0, 2))
        median_ratio = np.nanmedian(arrays["scaling_slope_ratio"], axis=(0, 2))
    return ScalingByGain(
        gains=np.asarray(arrays["gains"], dtype=float), log_G=np.log(contraction_by_gain), m=m, H_log_mean=H, n=n,
        ratio_log_mean=ratio, slope_H=np.array([_slope(m.astype(float), row) for row in H]),
        slope_ratio=np.array([_slope(n.astype(float), row) for row in ratio]),
        median_network_slope_H=median_H, median_network_slope_ratio=median_ratio)


def _analyse_measured(arrays, config: PhaseDiagramConfig, observed: np.ndarray, predicted_eq9: np.ndarray,
                      converged: np.ndarray, fitted: np.ndarray, contraction_by_gain: np.ndarray) -> MeasuredAnalysis:
    """The measured overlay: fit of kappa, the three-way comparison, the pair confusion, the scalings."""
    z_min = np.asarray(arrays["measured_z_min"], dtype=float)
    fit = fit_rate_ratio(z_min[fitted], observed[fitted], n_bootstrap=config.bootstrap, seed=config.seed)
    kappa = float(np.exp(fit.decision_log_kappa))
    predicted = z_min <= kappa                      # nan (no measured pair) is never <= kappa
    constant = np.full(observed.shape, observed.mean() >= 0.5)
    hits = {"eq9": predicted_eq9 == observed, "measured": predicted == observed, "constant": constant == observed}
    resamples = resample_means(hits, config.bootstrap, config.seed, stream=0xA6EE)   # apart from the fits' resamples
    comparison = {name: PredictorAgreement(float(np.mean(hits[name])), percentile_interval(resamples[name]),
                                           _mean_over(hits[name], converged)) for name in PREDICTORS}
    return MeasuredAnalysis(
        z_min=z_min, fit=fit, predicted=predicted, comparison=comparison,
        difference=comparison["measured"].agreement - comparison["eq9"].agreement,
        difference_interval=percentile_interval(resamples["measured"] - resamples["eq9"]),
        confusion=_pair_confusion(arrays, kappa), networks_without_pair=int(np.sum(np.isnan(z_min))),
        failed_pairs=int(np.sum(~arrays["pair_ok"] & (arrays["pair_kind"] >= 0))),
        scaling=_scaling_by_gain(arrays, contraction_by_gain))


def theory_line(analysis: Analysis) -> str:
    """The theory's verdict (printed by the command): eq. 9's line, then the measured overlay's two lines if present."""
    converged = ("no network converged" if np.isnan(analysis.agreement_converged)
                 else f"converged only {analysis.agreement_converged:.1%}")
    line = (f"theory: {analysis.fit.message} on the fitted networks; over all networks "
            f"{analysis.agreement_all:.1%} (constant guess {analysis.agreement_baseline:.1%}; {converged})")
    lines = [line] if analysis.replicates is None else [line, _replicate_line(analysis.replicates)]
    lines = lines if analysis.measured is None else [*lines, *_measured_lines(analysis.measured)]
    lines = lines if analysis.evaluation is None else [*lines, *predictor_lines(analysis.evaluation)]
    return "\n".join([*lines, *_along_training_lines(analysis)])


def _along_training_lines(analysis: Analysis) -> list[str]:
    """Conservation of A_high and the prediction horizon, when the checkpoints were measured."""
    lines = []
    c = analysis.conservation
    if c is not None:
        parts = [f"{name} (epoch ~{e:.0f}): median {q[2]:.2f}, sign changed {s:.0%}"
                 for name, e, q, s in zip(c.checkpoints, c.median_epoch, c.quantiles, c.sign_changed)]
        lines.append(f"A_high(t)/A_high(0) of agreeing pairs (kappa = {c.kappa:.3g}): " + "; ".join(parts))
    h = analysis.horizon
    if h is not None:
        for scheme, by_name in h.agreement.items():
            parts = [f"{name} " + ", ".join(f"{cp} {a:.0%}" for cp, a in zip(h.checkpoints, values))
                     for name, values in by_name.items()]
            lines.append(f"prediction horizon (held-out {scheme}): " + "; ".join(parts))
    return lines


def predictor_lines(evaluation: Evaluation) -> list[str]:
    """Every predictor's agreement in and out of sample, then the verdict per scheme (``crossval.py``)."""
    schemes = list(evaluation.out_of_sample)
    head = " | ".join(["in sample", *(f"held-out {s}" for s in schemes)])
    lines = [f"predictors, agreement with the observed regimes ({head}; bootstrap 16-84% over networks):"]
    for name in evaluation.predictors:
        cells = [evaluation.in_sample[name], *(evaluation.out_of_sample[s][name] for s in schemes)]
        text = " | ".join(f"{c.agreement:.1%} [{c.interval[0]:.1%}, {c.interval[1]:.1%}]" for c in cells)
        losses = [c.log_loss for c in cells[1:] if c.log_loss is not None]
        extra = f"; held-out log-loss {', '.join(f'{v:.3f}' for v in losses)}" if losses else ""
        lines.append(f"  {name:<16}{text}{extra}")
    for scheme, v in evaluation.verdict.items():
        oos = evaluation.out_of_sample[scheme]
        lines.append(f"verdict (held-out {scheme}): best theory predictor {v.theory} {oos[v.theory].agreement:.1%} "
                     f"{v.outcome} the best baseline {v.baseline} {oos[v.baseline].agreement:.1%} "
                     f"(difference {100 * v.difference:+.1f} points, bootstrap 16-84% "
                     f"[{100 * v.interval[0]:+.1f}, {100 * v.interval[1]:+.1f}]); goal (>= 90% and beats it) "
                     f"{'met' if v.meets_goal else 'not met'}")
    lines.extend(f"held-out {scheme}: not run ({why})" for scheme, why in evaluation.skipped.items())
    return lines


def _replicate_line(spread: ReplicateSpread) -> str:
    """Per-gain onsets, and the per-replicate spread when there are several replicates."""
    def fmt(values: np.ndarray) -> str:
        return "[" + ", ".join("-" if not np.isfinite(v) else f"{v:.3g}" for v in values) + "]"
    line = (f"onset by gain (smallest p where >= 1/2 of replicates generalise): {fmt(spread.generalisation_onset)}; "
            f"state-count onset (raw states <= {p25_fig9.SMALL_AUTOMATON_STATES}): {fmt(spread.state_count_onset)}")
    if spread.log_C.size > 1:
        s = spread.summary()
        own, pooled = s["agreement_pooled_fit"], s["log_C"]
        line += (f"\nper replicate ({spread.log_C.size}): agreement of the pooled fit {own['mean']:.1%} "
                 f"(range {own['min']:.1%}-{own['max']:.1%}), constant guess {s['agreement_constant']['mean']:.1%}; "
                 + (f"log C refitted per replicate {pooled['mean']:.3g} (range {pooled['min']:.3g}-{pooled['max']:.3g}, "
                    f"{pooled['n']} two-sided fits)" if pooled["n"] else "log C not two-sided in any replicate"))
    return line


def _pct(a: PredictorAgreement) -> str:
    return f"{a.agreement:.1%} [{a.interval[0]:.1%}, {a.interval[1]:.1%}]"


def _measured_lines(m: MeasuredAnalysis) -> list[str]:
    c, cross = m.comparison, m.confusion["agree_cross"]
    merged = cross["predicted_and_merged"] + cross["missed_merged"]
    scaling = m.scaling
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ratio_H = np.nanmedian(scaling.slope_H / scaling.log_G)
        ratio_y = np.nanmedian(scaling.slope_ratio / scaling.log_G)
    return [f"measured theory (eqs. 5-7 on each network's pairs): {m.fit.message} on the fitted networks; "
            f"over all networks {_pct(c['measured'])} vs eq. 9 {_pct(c['eq9'])} and constant guess "
            f"{_pct(c['constant'])} (bootstrap 16-84%); networks without a measured agreeing cross-length pair: "
            f"{m.networks_without_pair}; failed pair measurements: {m.failed_pairs}",
            f"pairs (trained network, eq. 7 with fitted kappa): agreeing cross-length {cross['predicted_and_merged']} "
            f"of {merged} merged pairs predicted, {cross['predicted_not_merged']} predicted but not merged; "
            f"eq. 9's scalings: median over gains of slope/log G = {ratio_H:.2f} for ||dh(0)||^2 vs m and "
            f"{ratio_y:.2f} for <||dy||^2/||dh||^2> vs n (1 where the scaling holds)"]


def summary(arrays: dict[str, np.ndarray], analysis: Analysis) -> dict[str, Any]:
    """JSON-ready summary: counts of statuses, fit, agreements."""
    status, counts = np.unique(arrays["status"], return_counts=True)
    fit = analysis.fit
    return {
        "networks": int(arrays["status"].size),
        "status_counts": {str(s): int(c) for s, c in zip(status, counts)},
        "generalised": int(analysis.observed.sum()),
        "fit": {**asdict(fit), "C": float(np.exp(fit.log_C)) if np.isfinite(fit.log_C) else None},
        "agreement": analysis.agreement_all,
        "agreement_fitted_cells": fit.agreement,
        "agreement_constant_baseline": analysis.agreement_baseline,
        "agreement_converged_only": analysis.agreement_converged,
        "agreement_with_finite_task_automaton": analysis.agreement_finite,
        "contraction_by_gain": analysis.contraction_by_gain,
        "measured": None if analysis.measured is None else _measured_summary(analysis.measured),
        "replicates": None if analysis.replicates is None else analysis.replicates.summary(),
        "fig9_comparison": (None if analysis.replicates is None
                            else fig9_comparison(analysis.replicates, arrays["gains"], arrays["fractions"])),
        "column_shares": analysis.column_shares,
        "predictors": None if analysis.evaluation is None else _evaluation_summary(analysis.evaluation),
        "score_stability": None if analysis.stability is None else asdict(analysis.stability),
        "suffix_scaling": None if analysis.suffix is None else asdict(analysis.suffix),
        "conservation": None if analysis.conservation is None else asdict(analysis.conservation),
        "horizon": None if analysis.horizon is None else asdict(analysis.horizon),
    }


def _evaluation_summary(e: Evaluation) -> dict[str, Any]:
    return {"predictors": list(e.predictors), "in_sample": {n: asdict(s) for n, s in e.in_sample.items()},
            "params": e.params,
            "out_of_sample": {scheme: {n: asdict(s) for n, s in scores.items()}
                              for scheme, scores in e.out_of_sample.items()},
            "verdict": {scheme: asdict(v) for scheme, v in e.verdict.items()}, "skipped": e.skipped}


def _measured_summary(m: MeasuredAnalysis) -> dict[str, Any]:
    fit = m.fit
    return {
        "fit": {**asdict(fit), "kappa": float(np.exp(fit.log_kappa)) if np.isfinite(fit.log_kappa) else None},
        "agreement": {name: asdict(a) for name, a in m.comparison.items()},
        "agreement_difference_measured_minus_eq9": {"difference": m.difference, "interval": m.difference_interval},
        "generalisation_predicted": int(m.predicted.sum()),
        "networks_without_measured_pair": m.networks_without_pair,
        "failed_pair_measurements": m.failed_pairs,
        "pair_confusion": m.confusion,
        "scaling_by_gain": asdict(m.scaling),
    }
