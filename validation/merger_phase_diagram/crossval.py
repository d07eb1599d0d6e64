"""Every predictor scored in sample and out of sample on the same networks, and the verdict.

Out of sample means the networks a predictor is scored on took no part in its fit. Two
ways to split the grid (``SCHEMES``), each predicting every network exactly once:

* ``replicates``: leave one replicate out: fit on the other replicates of the whole grid,
  predict the held-out one (needs at least two replicates). It asks whether the rule
  reproduces on a new run of the same grid.
* ``blocks``: the (gain, fraction) grid is cut into ``blocks × blocks`` contiguous blocks
  (``block_folds``); each block, with all its replicates, is held out in turn and
  predicted from the rest. It asks whether the rule extrapolates to a region of the
  diagram it has not seen, which a per-cell lookup (``cell_majority``) cannot.

Per scheme and predictor: the agreement over all networks, a bootstrap 16–84 % interval
over networks (the held-out predictions resampled), the agreement of each fold, and the
mean log-loss where the predictor gives a probability (clipped to ``[1e-6, 1 − 1e-6]``). In
sample: every predictor fitted and scored on all networks, with the same interval.

**The verdict** (per scheme): the best theory predictor against the best baseline, both
chosen by their out-of-sample agreement; the difference carries a paired bootstrap
16–84 % interval. Choosing the baseline after seeing its held-out score flatters the
baseline slightly, which makes a win of the theory conservative. The theory *beats* the
baseline when the whole interval lies above 0, *loses* when it lies below, and *ties*
otherwise. Whether the theory meets the goal of the test (docs/theory.md §3.7: beats the
best baseline with at least ``GOAL_AGREEMENT`` held out and one fitted constant) is
reported beside it as ``meets_goal``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from validation.merger_phase_diagram.features import Features
from validation.merger_phase_diagram.predictors import BASELINES, THEORY, fit

SCHEMES = ("replicates", "blocks")
#: the agreement a theory predictor must reach out of sample to meet the goal of the test
GOAL_AGREEMENT = 0.9
_CLIP = 1e-6


def block_folds(gain_index: np.ndarray, fraction_index: np.ndarray, n_gains: int, n_fractions: int,
                blocks: int) -> np.ndarray:
    """Fold number per network: contiguous bands of gains × bands of fractions, ``blocks`` of each.

    Band ``b`` of ``n`` indices holds ``floor(b n / blocks) <= i < floor((b + 1) n / blocks)``;
    fold = gain band · ``blocks`` + fraction band. ``blocks`` must be at least 2 and at most
    the smaller grid side, so that every fold holds cells and leaves cells to fit on.
    """
    if not isinstance(blocks, (int, np.integer)) or isinstance(blocks, bool) or not 2 <= blocks <= min(n_gains, n_fractions):
        raise ValueError(f"cv_blocks must be an integer in [2, {min(n_gains, n_fractions)}] for a "
                         f"{n_gains} x {n_fractions} grid (got {blocks!r}): every fold needs cells")
    gain_band = (np.asarray(gain_index) * blocks) // n_gains
    fraction_band = (np.asarray(fraction_index) * blocks) // n_fractions
    return gain_band * blocks + fraction_band


def replicate_folds(replicate: np.ndarray, n_replicates: int) -> np.ndarray:
    """Fold number per network: its replicate (leave one replicate out; needs ``n_replicates >= 2``)."""
    if n_replicates < 2:
        raise ValueError(f"leave-one-replicate-out needs seeds >= 2 (got {n_replicates}): a fold would leave "
                         "nothing to fit on")
    return np.asarray(replicate).copy()


@dataclass(frozen=True)
class Score:
    """Agreement of one predictor's predictions with the observed regimes (module docstring)."""

    agreement: float
    interval: tuple[float, float]
    fold_agreement: tuple[float, ...] = ()
    log_loss: float | None = None


@dataclass(frozen=True)
class Verdict:
    """The best theory predictor against the best baseline, out of sample in one scheme."""

    theory: str
    baseline: str
    difference: float
    interval: tuple[float, float]
    outcome: str                      # 'beats', 'ties' or 'loses'
    meets_goal: bool                  # the theory's agreement >= GOAL_AGREEMENT and it beats the baseline


@dataclass(frozen=True)
class Evaluation:
    """In-sample and out-of-sample scores of every predictor, and the verdict per scheme."""

    predictors: tuple[str, ...]
    in_sample: dict[str, Score]
    params: dict[str, dict]
    out_of_sample: dict[str, dict[str, Score]]          # scheme -> predictor -> score
    predictions: dict[str, dict[str, np.ndarray]]        # scheme -> predictor -> held-out prediction per network
    verdict: dict[str, Verdict]
    skipped: dict[str, str] = field(default_factory=dict)   # scheme -> why it was not run


def resample_means(hits: dict[str, np.ndarray], n_resamples: int, seed: int, stream: int = 0xC0055
                   ) -> dict[str, np.ndarray]:
    """Mean of each boolean array (one entry per network) on ``n_resamples`` common resamplings of the networks.

    The same resampled networks for every array, so differences are paired; ``stream``
    separates this draw from the other seeded draws of the analysis.
    """
    hits = {name: np.asarray(hit).ravel() for name, hit in hits.items()}
    size = next(iter(hits.values())).size
    rng = np.random.default_rng((seed, stream))
    out = {name: np.empty(n_resamples) for name in hits}
    for start in range(0, n_resamples, 256):       # blocks bound the index matrix's memory
        idx = rng.integers(0, size, (min(256, n_resamples - start), size))
        for name, hit in hits.items():
            out[name][start:start + idx.shape[0]] = hit[idx].mean(axis=1)
    return out


def percentile_interval(values: np.ndarray) -> tuple[float, float]:
    """16th and 84th percentiles (``nan`` without values)."""
    return tuple(float(q) for q in np.percentile(values, [16, 84])) if values.size else (np.nan, np.nan)


def _log_loss(prob: np.ndarray, observed: np.ndarray) -> float:
    p = np.clip(prob, _CLIP, 1.0 - _CLIP)
    return float(-np.mean(np.where(observed, np.log(p), np.log1p(-p))))


def held_out(names: tuple[str, ...], features: Features, observed: np.ndarray, folds: np.ndarray
             ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray | None]]:
    """Each network's prediction (and probability) by every predictor fitted without its fold."""
    predicted = {n: np.zeros(features.size, dtype=bool) for n in names}
    prob: dict[str, np.ndarray | None] = {n: np.full(features.size, np.nan) for n in names}
    for fold in np.unique(folds):
        test = folds == fold
        train = ~test
        if not train.any():
            raise ValueError(f"cross-validation fold {fold} holds every network: nothing is left to fit on")
        for name in names:
            fitted = fit(name, features.take(train), observed[train])
            test_rows = features.take(test)
            predicted[name][test] = fitted.predict(test_rows)
            p = fitted.probability(test_rows)
            if p is None:
                prob[name] = None
            elif prob[name] is not None:
                prob[name][test] = p
    return predicted, prob


def _scores(hits: dict[str, np.ndarray], resampled: dict[str, np.ndarray], folds: np.ndarray | None,
            prob: dict[str, np.ndarray | None], observed: np.ndarray) -> dict[str, Score]:
    out = {}
    for name, hit in hits.items():
        per_fold = () if folds is None else tuple(float(hit[folds == k].mean()) for k in np.unique(folds))
        p = prob.get(name)
        out[name] = Score(float(hit.mean()), percentile_interval(resampled[name]), per_fold,
                          None if p is None else _log_loss(p, observed))
    return out


def _verdict(names: tuple[str, ...], scores: dict[str, Score], resampled: dict[str, np.ndarray]) -> Verdict | None:
    theory = [n for n in names if n in THEORY]
    baselines = [n for n in names if n in BASELINES]
    if not theory or not baselines:
        return None
    best_t = max(theory, key=lambda n: scores[n].agreement)        # first listed wins a tie
    best_b = max(baselines, key=lambda n: scores[n].agreement)
    diff = scores[best_t].agreement - scores[best_b].agreement
    lo, hi = percentile_interval(resampled[best_t] - resampled[best_b])
    if not np.isfinite(lo):       # no resamples: the sign of the difference alone
        lo = hi = diff
    outcome = "beats" if lo > 0 else "loses" if hi < 0 else "ties"
    return Verdict(best_t, best_b, diff, (lo, hi), outcome,
                   bool(outcome == "beats" and scores[best_t].agreement >= GOAL_AGREEMENT))


def evaluate(names: tuple[str, ...], features: Features, observed: np.ndarray, *, n_replicates: int,
             n_gains: int, n_fractions: int, blocks: int, n_bootstrap: int, seed: int) -> Evaluation:
    """Fit and score ``names`` in sample and under both schemes (module docstring)."""
    observed = np.asarray(observed, dtype=bool).ravel()
    in_fits = {n: fit(n, features, observed) for n in names}
    hits = {n: in_fits[n].predict(features) == observed for n in names}
    in_prob = {n: in_fits[n].probability(features) for n in names}
    in_sample = _scores(hits, resample_means(hits, n_bootstrap, seed), None, in_prob, observed)
    out, predictions, verdict, skipped = {}, {}, {}, {}
    folds_of = {"replicates": lambda: replicate_folds(features.replicate, n_replicates),
                "blocks": lambda: block_folds(features.gain_index, features.fraction_index, n_gains, n_fractions,
                                              blocks)}
    if n_replicates < 2:
        skipped["replicates"] = "one replicate: nothing to hold out (use --seeds 2 or more)"
    if min(n_gains, n_fractions) < 2:
        skipped["blocks"] = "a single row or column of cells: no block can be held out"
    for scheme in (s for s in SCHEMES if s not in skipped):
        folds = folds_of[scheme]()
        predicted, prob = held_out(names, features, observed, folds)
        oos_hits = {n: predicted[n] == observed for n in names}
        resampled = resample_means(oos_hits, n_bootstrap, seed)
        out[scheme] = _scores(oos_hits, resampled, folds, prob, observed)
        predictions[scheme] = predicted
        v = _verdict(names, out[scheme], resampled)
        if v is not None:
            verdict[scheme] = v
    return Evaluation(predictors=tuple(names), in_sample=in_sample, params={n: f.params for n, f in in_fits.items()},
                      out_of_sample=out, predictions=predictions, verdict=verdict, skipped=skipped)
