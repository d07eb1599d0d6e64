"""What each phase-diagram network offers a predictor: one row of numbers per network.

Arrays in (``[replicate, gain, fraction, …]``, as ``analysis.analyse`` receives them), a
``Features`` table out, flattened over networks in C order. Every predictor of
``predictors.py`` reads its inputs from this table only, so that fitting and testing on
disjoint sets of networks (``crossval.py``) is a matter of indexing rows.

Columns:

* ``fraction``, ``log_gain``: the grid coordinates (the baselines see nothing else);
* ``replicate``, ``gain_index``, ``fraction_index``, ``cell``: where the network sits
  (``cell`` numbers the (gain, fraction) cells; the replicates of a cell share it);
* ``score``: eq. 9's merger score ``S(G, p)`` (``boundary_fit.merger_score``, docs/theory.md §3);
* ``score_suffix``: the same score with ``log G`` replaced by the network's measured slope of
  ``log ‖dh(0)‖²`` against the shared-suffix length ``k`` of its measured pairs
  (``suffix_slope``). Step 2 of docs/theory.md §3.2 writes ``‖dh(0)‖² ∝ G^m``; at
  initialisation the distance of two prefixes is set by how many final tokens they share,
  not by their length (docs/theory.md §3.6), and for the pair that maximises ``S`` (the
  shorter prefix a suffix of the longer one) ``k = m1``. So the corrected score keeps eq. 9's
  form and the one constant ``C``; only the measured decay rate per shared token replaces
  ``G``. ``-inf`` where the slope cannot be measured (fewer than two distinct ``k``);
* ``z_min``: the sample minimum of ``z = H0²/(N Y0)`` over the network's measured agreeing
  cross-length pairs (``measured.py``; ``nan``: none);
* ``z_median``: the median of the same ``z`` (``nan``: none). The sampler of
  ``rnn.measure.prediction`` spreads each pair kind's quota evenly over the length cells
  ``(m1, m2)`` that can supply it, so this is the median over length cells weighted equally.
  ``z_median <= κ`` says that at least half of those pairs are predicted to merge (eq. 7):
  a population score, whose estimate settles as the sample grows, where the minimum keeps
  falling (``score_stability``).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from validation.merger_phase_diagram.boundary_fit import merger_score
from validation.merger_phase_diagram.measured import KIND_CODES

#: sample sizes at which ``score_stability`` reads the cell scores
STABILITY_SIZES = (5, 10, 20, 50, 100)


@dataclass(frozen=True)
class Features:
    """One row per network (module docstring); every column has shape ``(n_networks,)``."""

    fraction: np.ndarray
    log_gain: np.ndarray
    replicate: np.ndarray
    gain_index: np.ndarray
    fraction_index: np.ndarray
    cell: np.ndarray
    score: np.ndarray
    score_suffix: np.ndarray | None = None
    z_min: np.ndarray | None = None
    z_median: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(self.fraction.size)

    def take(self, rows: np.ndarray) -> Features:
        """The networks ``rows`` (an index or boolean array), every column alike."""
        return Features(**{name: None if value is None else value[rows] for name, value in vars(self).items()})


def shared_suffix_length(prefix1: np.ndarray, prefix2: np.ndarray, m1: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """Number of final tokens two prefixes share: ``max k`` with ``prefix1[m1-k:m1] == prefix2[m2-k:m2]``.

    ``prefix1``, ``prefix2``: ``(..., L)`` token arrays padded after their lengths ``m1``, ``m2``
    (``(...,)``). Entries with a negative length (padding slots) give 0.
    """
    prefix1, prefix2 = np.asarray(prefix1), np.asarray(prefix2)
    m1, m2 = np.asarray(m1), np.asarray(m2)
    L = prefix1.shape[-1]
    j = np.arange(L)                                   # j-th token from the end
    i1, i2 = m1[..., None] - 1 - j, m2[..., None] - 1 - j
    live = (i1 >= 0) & (i2 >= 0)
    t1 = np.take_along_axis(prefix1, np.clip(i1, 0, L - 1), axis=-1)
    t2 = np.take_along_axis(prefix2, np.clip(i2, 0, L - 1), axis=-1)
    same = live & (t1 == t2)
    return np.where(same.all(axis=-1), np.minimum(np.maximum(m1, 0), np.maximum(m2, 0)),
                    np.argmin(same, axis=-1))


def _usable(arrays: dict[str, np.ndarray]) -> np.ndarray:
    return arrays["pair_ok"] & (arrays["pair_kind"] >= 0) & (arrays["pair_H0"] > 0)


def suffix_slope(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per network: least-squares slope of ``log ‖dh(0)‖²`` against the shared-suffix length, and ``k`` per pair.

    Over every usable measured pair of the network (all kinds; ``H0 = ‖dh(0)‖²``). Returns
    ``(slope [replicate, gain, fraction], k [..., pairs])``; the slope is ``nan`` where the
    pairs cover fewer than two distinct ``k``.
    """
    k = shared_suffix_length(arrays["pair_prefix1"], arrays["pair_prefix2"], arrays["pair_m1"], arrays["pair_m2"])
    use = _usable(arrays)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(use, np.log(np.where(use, arrays["pair_H0"], 1.0)), 0.0)
    x = np.where(use, k, 0).astype(float)
    n = use.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mx, my = x.sum(-1) / n, y.sum(-1) / n
        sxx = np.sum(np.where(use, (x - mx[..., None]) ** 2, 0.0), axis=-1)
        sxy = np.sum(np.where(use, (x - mx[..., None]) * (y - my[..., None]), 0.0), axis=-1)
        slope = np.where(sxx > 0, sxy / sxx, np.nan)
    return slope, k


def agree_cross_z(arrays: dict[str, np.ndarray], z: np.ndarray | None = None) -> np.ndarray:
    """``z`` (default ``pair_z``; e.g. a checkpoint's) of each measured agreeing cross-length pair, ``nan`` elsewhere."""
    use = arrays["pair_ok"] & (arrays["pair_kind"] == KIND_CODES["agree_cross"])
    return np.where(use, arrays["pair_z"] if z is None else z, np.nan)


def cell_scores(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per network, the minimum and the median of ``z`` over its pairs (last axis); ``nan`` without a pair."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # networks without a pair: nan, as documented
        return np.nanmin(z, axis=-1), np.nanmedian(z, axis=-1)


def network_features(arrays: dict[str, np.ndarray], L: int, score: np.ndarray) -> Features:
    """The table of the module docstring from the assembled arrays and eq. 9's score (same grid shape)."""
    shape = score.shape
    R, G, F = shape
    r, g, f = np.meshgrid(np.arange(R), np.arange(G), np.arange(F), indexing="ij")
    columns = {"fraction": np.broadcast_to(np.asarray(arrays["fractions"], float)[None, None, :], shape),
               "log_gain": np.broadcast_to(np.log(np.asarray(arrays["gains"], float))[None, :, None], shape),
               "replicate": r, "gain_index": g, "fraction_index": f, "cell": g * F + f, "score": score}
    if "pair_z" in arrays:
        slope, _ = suffix_slope(arrays)
        decay = np.exp(np.where(np.isfinite(slope), slope, 0.0))
        p = columns["fraction"]
        columns["score_suffix"] = np.where(np.isfinite(slope), merger_score(decay, p, L), -np.inf)
        z = agree_cross_z(arrays)
        columns["z_min"], columns["z_median"] = cell_scores(z)
    return Features(**{name: np.asarray(value).ravel().copy() for name, value in columns.items()})


@dataclass(frozen=True)
class ScoreStability:
    """How the two measured cell scores move with the number of pairs they are computed from.

    For each sample size ``n`` in ``sizes``, ``repeats`` random subsamples (without
    replacement) of each network's measured agreeing cross-length pairs give a subsample
    ``log z_min`` and ``log z_median``. ``shift_*[k]``: the median over networks of (mean
    over subsamples − value on all pairs); ``spread_*[k]``: the median over networks of the
    standard deviation over subsamples. Only networks with more than ``n`` pairs enter size
    ``n`` (``networks[k]``). A score that describes the network, not the sample, has both
    near 0 well before the full sample size.
    """

    sizes: np.ndarray
    networks: np.ndarray
    full_size_median: float
    shift_min: np.ndarray
    spread_min: np.ndarray
    shift_median: np.ndarray
    spread_median: np.ndarray


def score_stability(arrays: dict[str, np.ndarray], *, repeats: int = 20, seed: int = 0,
                    sizes: tuple[int, ...] = STABILITY_SIZES) -> ScoreStability:
    """``ScoreStability`` from the measured pairs (seeded subsampling)."""
    z = agree_cross_z(arrays)
    z = z.reshape(-1, z.shape[-1])
    rng = np.random.default_rng((seed, 0x5CA1E))
    counts = np.sum(np.isfinite(z), axis=1)
    out = {key: np.full(len(sizes), np.nan) for key in ("shift_min", "spread_min", "shift_median", "spread_median")}
    networks = np.zeros(len(sizes), dtype=int)
    with np.errstate(divide="ignore"):
        for k, n in enumerate(sizes):
            rows = np.flatnonzero(counts > n)
            networks[k] = rows.size
            if not rows.size:
                continue
            stats = {"min": [], "median": []}
            for row in rows:
                values = np.log(z[row][np.isfinite(z[row])])
                draws = np.stack([rng.choice(values, n, replace=False) for _ in range(repeats)])
                stats["min"].append((draws.min(1).mean() - values.min(), draws.min(1).std()))
                stats["median"].append((np.median(draws, 1).mean() - np.median(values), np.median(draws, 1).std()))
            for name, pairs in stats.items():
                pairs = np.asarray(pairs)
                out[f"shift_{name}"][k], out[f"spread_{name}"][k] = np.median(pairs[:, 0]), np.median(pairs[:, 1])
    return ScoreStability(sizes=np.asarray(sizes), networks=networks,
                          full_size_median=float(np.median(counts)) if counts.size else float("nan"), **out)


@dataclass(frozen=True)
class SuffixScaling:
    """``log ‖dh(0)‖²`` against the shared-suffix length ``k`` and against the prefix length ``m1``, per gain.

    ``H_by_suffix[g, k]``/``H_by_length[g, m-1]``: mean over every usable measured pair of
    the gain's networks (all replicates and fractions, all kinds); ``slope_suffix``,
    ``slope_length``: least-squares slopes over the pairs themselves. Step 2 of eq. 9 holds
    in the variable whose slope equals ``log_G`` (docs/theory.md §3.2).
    """

    gains: np.ndarray
    log_G: np.ndarray
    k: np.ndarray
    H_by_suffix: np.ndarray
    m: np.ndarray
    H_by_length: np.ndarray
    slope_suffix: np.ndarray
    slope_length: np.ndarray
    median_network_slope_suffix: np.ndarray


def suffix_scaling(arrays: dict[str, np.ndarray], contraction_by_gain: np.ndarray, L: int) -> SuffixScaling:
    """``SuffixScaling`` from the measured pairs of every network."""
    slope, k = suffix_slope(arrays)
    use = _usable(arrays)
    gains = np.asarray(arrays["gains"], float)
    ks, ms = np.arange(0, L + 1), np.arange(1, L + 1)
    by_k, by_m = np.full((gains.size, ks.size), np.nan), np.full((gains.size, ms.size), np.nan)
    slope_k, slope_m, median = (np.full(gains.size, np.nan) for _ in range(3))
    for g in range(gains.size):
        sel = use[:, g]
        logH = np.log(arrays["pair_H0"][:, g][sel])
        kg, mg = k[:, g][sel].astype(float), arrays["pair_m1"][:, g][sel].astype(float)
        for row, x, levels in ((by_k, kg, ks), (by_m, mg, ms)):
            for j, v in enumerate(levels):
                if np.any(x == v):
                    row[g, j] = logH[x == v].mean()
        if np.unique(kg).size >= 2:
            slope_k[g] = np.polyfit(kg, logH, 1)[0]
        if np.unique(mg).size >= 2:
            slope_m[g] = np.polyfit(mg, logH, 1)[0]
        finite = slope[:, g][np.isfinite(slope[:, g])]
        median[g] = np.median(finite) if finite.size else np.nan
    return SuffixScaling(gains=gains, log_G=np.log(contraction_by_gain), k=ks, H_by_suffix=by_k, m=ms,
                         H_by_length=by_m, slope_suffix=slope_k, slope_length=slope_m,
                         median_network_slope_suffix=median)
