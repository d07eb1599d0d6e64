"""Representation-merger measurements for modular addition (docs/experiments.md §5.2), arrays in, numbers out.

``H`` is a representation matrix ``(N, D)`` (one row per input, e.g. a site at ``=`` for all
``P²`` pairs), ``labels`` the answers ``c_i`` and masks select subsets ``S`` (train, test, all).
The task's equivalence classes at the read-out are the answer classes
``S_c = {(a, b): a + b ≡ c}``: agreeing pairs share ``c``, disagreeing pairs do not.

**Interaction theory** (docs/theory.md §2.3, §2.6; P25 eq. 7). For a pair read out by one
map (``N = 1`` continuation) with one-hot targets, the target difference is
``S = ‖y*_i − y*_j‖² = 2·[c_i ≠ c_j]`` and ``A_low = sqrt(r S)``. A pair merges iff
``A_low = 0`` and ``A_high <= 0``: **same answer ⇒ A_low = 0, the pair may merge** (it does
when ``A_high <= 0``, which depends on the unknown rates and the initial prediction
difference); **different answer ⇒ A_low > 0, it can never merge** (the distance tends to
``H₊ > 0``), whatever the rates. ``theory_permits_merger`` evaluates exactly this with
``interaction.closed_form.will_merge`` at the most favourable ``A_high = 0``. The theory
is derived for squared error; with cross-entropy the same-target pairs still receive
identical target gradients, which is the property the argument uses. Test pairs receive
no target force at all, so their merging with their class (grokking in representation
space) is an indirect, weight-sharing effect outside the 2-point theory.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from scipy import sparse
from scipy.cluster.hierarchy import fcluster, linkage

from interaction.checks import check_int, check_positive
from interaction.closed_form import a_low, will_merge

PAIR_GROUPS = ("agree_train_train", "disagree_train_train", "agree_test_train")
KAPPAS = (0.05, 0.1, 0.3)


def _mask(mask: np.ndarray, labels: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != labels.shape:
        raise ValueError(f"mask must have shape {labels.shape} (got {mask.shape})")
    return mask


def _rows(H: np.ndarray, labels: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    H = np.asarray(H, dtype=np.float64)
    labels = np.asarray(labels)
    if H.ndim != 2 or labels.shape != (H.shape[0],):
        raise ValueError(f"H must be (N, D) and labels (N,) (got {H.shape} and {labels.shape})")
    if mask is not None:
        mask = _mask(mask, labels)
        H, labels = H[mask], labels[mask]
    if H.shape[0] < 2:
        raise ValueError(f"the subset must contain at least 2 rows (got {H.shape[0]})")
    return H, labels


def _class_sums(H: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class row sums ``(n_classes, D)`` and counts, by one sparse indicator product."""
    classes, inverse = np.unique(labels, return_inverse=True)
    indicator = sparse.csr_matrix((np.ones(inverse.size), (inverse, np.arange(inverse.size))),
                                  shape=(classes.size, inverse.size))
    return np.asarray(indicator @ H), np.bincount(inverse, minlength=classes.size).astype(np.float64)


def representation_scale(H: np.ndarray) -> float:
    """``r = sqrt(mean_i ‖h_i − μ‖²)``, the RMS distance to the grand mean (docs/experiments.md §5.2 item 4)."""
    H = np.asarray(H, dtype=np.float64)
    return float(np.sqrt(np.mean(np.sum((H - H.mean(axis=0)) ** 2, axis=1))))


def variance_ratio(H: np.ndarray, labels: np.ndarray, mask: np.ndarray | None = None) -> float:
    """``R_S = Σ_{i∈S} ‖h_i − μ_{c_i}‖² / Σ_{i∈S} ‖h_i − μ‖²``, means over ``S`` (docs/experiments.md §5.2 item 1).

    1: class identity explains nothing (exactly 1 for an additive ``f(a) + g(b)`` on the full
    grid); 0: every class is a single point. A constant representation returns ``nan``.
    """
    H, labels = _rows(H, labels, mask)
    H = H - H.mean(axis=0)
    return _centred_variance_ratio(H, np.sum(H ** 2), labels)


def _centred_variance_ratio(H: np.ndarray, total: float, labels: np.ndarray) -> float:
    """``variance_ratio`` of rows ``H`` already centred on their mean, with ``total = Σ ‖h_i − μ‖²``."""
    sums, counts = _class_sums(H, labels)
    between = np.sum(sums ** 2 / counts[:, None])   # Σ_c n_c ‖μ_c − μ‖²; within = total − between
    return float(max(total - between, 0.0) / total) if total > 0 else float("nan")


@dataclass(frozen=True)
class MergingScore:
    """``M = 1 − R / R_perm``: 0 no merging beyond chance, 1 complete; with its ingredients."""

    M: float
    R: float
    R_perm: float


def merging_score(H: np.ndarray, labels: np.ndarray, mask: np.ndarray | None = None, *,
                  n_permutations: int = 5, seed: int = 0) -> MergingScore:
    """Chance-corrected variance ratio (docs/experiments.md §5.2 item 1): ``R_perm`` is the mean ``R`` over
    ``n_permutations`` seeded permutations of the labels within ``S`` (removes the small-subset
    bias ``E[R] ≈ 1 − (n_classes − 1)/(|S| − 1)``)."""
    n_permutations = check_int("n_permutations", n_permutations, minimum=1)
    H, labels = _rows(H, labels, mask)
    return _merging_score(H, labels, n_permutations, seed)


def _merging_score(H: np.ndarray, labels: np.ndarray, n_permutations: int, seed: int) -> MergingScore:
    """``merging_score`` of the rows ``H`` of one subset."""
    rng = np.random.default_rng(seed)
    H = H - H.mean(axis=0)  # permuting the labels changes neither the mean nor the total: centre once
    total = np.sum(H ** 2)
    R = _centred_variance_ratio(H, total, labels)
    R_perm = float(np.mean([_centred_variance_ratio(H, total, rng.permutation(labels))
                            for _ in range(n_permutations)]))
    return MergingScore(M=1.0 - R / R_perm, R=R, R_perm=R_perm)


def _pair_distances(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    sq = np.sum(X ** 2, axis=1)[:, None] + np.sum(Y ** 2, axis=1)[None, :] - 2.0 * X @ Y.T
    return np.sqrt(np.maximum(sq, 0.0))


def _exact_means(X: np.ndarray, lx: np.ndarray, Y: np.ndarray, ly: np.ndarray, same_set: bool,
                 chunk: int) -> tuple[float, float]:
    """Mean distance over same-class and different-class pairs of ``X × Y`` (``i ≠ j`` if ``same_set``)."""
    sums, counts = np.zeros(2), np.zeros(2)
    for start in range(0, X.shape[0], chunk):
        d = _pair_distances(X[start:start + chunk], Y)
        same = lx[start:start + chunk, None] == ly[None, :]
        valid = np.ones_like(same)
        if same_set:
            rows = np.arange(start, min(start + chunk, X.shape[0]))
            valid[rows - start, rows] = False
        for g, sel in enumerate((same & valid, ~same & valid)):
            sums[g] += d[sel].sum()
            counts[g] += sel.sum()
    return sums[0] / counts[0], sums[1] / counts[1]


def _paired_distances(X: np.ndarray, i: np.ndarray, Y: np.ndarray, j: np.ndarray) -> np.ndarray:
    """``‖X[i] − Y[j]‖`` row by row (float64 rows, integer indices)."""
    i, j = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
    for name, index, rows in (("first", i, X), ("second", j, Y)):
        if index.size and (index.min() < 0 or index.max() >= rows.shape[0]):  # the kernel does not check
            raise ValueError(f"pair indices ({name} members) must lie in [0, {rows.shape[0]})")
    return _paired_distances_kernel(np.ascontiguousarray(X, dtype=np.float64), i,
                                    np.ascontiguousarray(Y, dtype=np.float64), j)


# Compiled because gathering the rows of 10^5 sampled pairs into temporaries and taking their norms
# was most of a measured checkpoint's cost; the loop reads each row in place. fastmath only lets the
# inner sum be vectorised (reassociated): the result is the same on every call on one machine.
@numba.njit(cache=True, fastmath=True)
def _paired_distances_kernel(X: np.ndarray, i: np.ndarray, Y: np.ndarray, j: np.ndarray) -> np.ndarray:
    out = np.empty(i.size)
    for k in range(i.size):
        a, b = X[i[k]], Y[j[k]]
        total = 0.0
        for c in range(a.size):
            diff = a[c] - b[c]
            total += diff * diff
        out[k] = np.sqrt(total)
    return out


@dataclass(frozen=True)
class SampledPairs:
    """Row pairs of ``X × Y`` drawn by ``_sample_pairs``: same-class ``(i_same, j_same)`` and
    different-class ``(i_diff, j_diff)``, ``n_samples`` each (indices into the subsets' rows)."""

    i_same: np.ndarray
    j_same: np.ndarray
    i_diff: np.ndarray
    j_diff: np.ndarray


def _sample_pairs(lx: np.ndarray, ly: np.ndarray, same_set: bool, n_samples: int,
                  rng: np.random.Generator) -> SampledPairs:
    """``n_samples`` uniform same-class and as many uniform different-class pairs of rows of ``X × Y``
    with labels ``lx``, ``ly`` (stratified: same-class pairs are rare). Depends on the labels only."""
    classes = np.intersect1d(lx, ly)
    order_x, order_y = np.argsort(lx, kind="stable"), np.argsort(ly, kind="stable")
    start_x = np.searchsorted(lx[order_x], classes)
    start_y = np.searchsorted(ly[order_y], classes)
    nx = np.searchsorted(lx[order_x], classes, side="right") - start_x
    ny = np.searchsorted(ly[order_y], classes, side="right") - start_y
    weight = (nx * (ny - 1) if same_set else nx * ny).astype(np.float64)  # same-class pairs per class
    cls = rng.choice(classes.size, size=n_samples, p=weight / weight.sum())
    i_local = rng.integers(nx[cls])
    j_local = rng.integers(ny[cls] - (1 if same_set else 0))
    if same_set:  # X is Y: skip i itself by shifting j past it
        j_local += j_local >= i_local
    i_same, j_same = order_x[start_x[cls] + i_local], order_y[start_y[cls] + j_local]
    i_diff = np.empty(0, dtype=np.int64)
    j_diff = np.empty(0, dtype=np.int64)
    while i_diff.size < n_samples:  # rejection sampling of uniform different-class pairs
        i = rng.integers(lx.size, size=2 * n_samples)
        j = rng.integers(ly.size, size=2 * n_samples)
        ok = lx[i] != ly[j]
        i_diff, j_diff = np.concatenate([i_diff, i[ok]]), np.concatenate([j_diff, j[ok]])
    return SampledPairs(i_same, j_same, i_diff[:n_samples], j_diff[:n_samples])


def _sampled_means(X: np.ndarray, Y: np.ndarray, pairs: SampledPairs) -> tuple[float, float]:
    """Unbiased estimates of the same-class and different-class pair means of ``X × Y`` from sampled pairs."""
    same = _paired_distances(X, pairs.i_same, Y, pairs.j_same).mean()
    diff = _paired_distances(X, pairs.i_diff, Y, pairs.j_diff).mean()
    return same, diff


def distance_ratio(H: np.ndarray, labels: np.ndarray, mask: np.ndarray | None = None, *,
                   n_samples: int | None = None, seed: int = 0, chunk: int = 1024) -> float:
    """``ρ_S = mean_{i≠j∈S, c_i=c_j} ‖h_i − h_j‖ / mean_{i≠j∈S, c_i≠c_j} ‖h_i − h_j‖`` (docs/experiments.md §5.2 item 2).

    Exact (chunked enumeration of all pairs) when ``n_samples`` is None; otherwise estimated
    from ``n_samples`` uniformly drawn same-class and as many different-class pairs (seeded).
    """
    H, labels = _rows(H, labels, mask)
    return _same_over_different(H, labels, H, labels, True, n_samples, seed, chunk)


def cross_distance_ratio(H: np.ndarray, labels: np.ndarray, from_mask: np.ndarray, to_mask: np.ndarray, *,
                         n_samples: int | None = None, seed: int = 0, chunk: int = 1024) -> float:
    """Cross term (docs/experiments.md §5.2 item 2): mean distance from ``from_mask`` points (e.g. test) to ``to_mask``
    points (e.g. train) of their own class over that to points of other classes."""
    X, lx = _rows(H, labels, from_mask)
    Y, ly = _rows(H, labels, to_mask)
    return _same_over_different(X, lx, Y, ly, False, n_samples, seed, chunk)


def _same_over_different(X: np.ndarray, lx: np.ndarray, Y: np.ndarray, ly: np.ndarray, within: bool,
                         n_samples: int | None, seed: int, chunk: int, drawn: SampledPairs | None = None) -> float:
    """Mean same-class over mean different-class distance between rows of X and Y: exact, or sampled
    (from the pairs ``drawn`` in advance by ``draw_ratio_samples`` if given, else drawn now)."""
    if n_samples is None:
        same, diff = _exact_means(X, lx, Y, ly, within, check_int("chunk", chunk, minimum=1))
    else:
        if drawn is None:
            n_samples = check_int("n_samples", n_samples, minimum=1)
            drawn = _sample_pairs(lx, ly, within, n_samples, np.random.default_rng(seed))
        same, diff = _sampled_means(X, Y, drawn)
    return float(same / diff)


#: the subsets of the distance ratios of ``site_measurements``: (within a subset, or test→train)
RATIO_SUBSETS = ("train", "test", "all", "test_train")


@dataclass(frozen=True)
class RatioSamples:
    """The pairs that ``site_measurements`` samples for its distance ratios, drawn once.

    They depend only on the labels, the masks, ``n_samples`` and ``seed`` (not on the
    representation), so a recorder that measures every checkpoint with the same seed draws
    them once (``draw_ratio_samples``) instead of at every call: the ratios are bit-identical.
    ``pairs`` maps each of ``RATIO_SUBSETS`` to its ``SampledPairs``.
    """

    n_samples: int
    seed: int
    n_rows: int
    pairs: dict[str, SampledPairs]


def draw_ratio_samples(labels: np.ndarray, train_mask: np.ndarray, test_mask: np.ndarray, *, n_samples: int,
                       seed: int = 0) -> RatioSamples:
    """The sampled pairs of ``site_measurements(..., n_samples=n_samples, seed=seed)`` for these labels and masks."""
    n_samples = check_int("n_samples", n_samples, minimum=1)
    labels = np.asarray(labels)
    all_mask = np.ones(labels.shape, dtype=bool)
    subsets = {name: labels[_mask(mask, labels)] for name, mask in
               (("train", train_mask), ("test", test_mask), ("all", all_mask))}
    pairs = {name: _sample_pairs(lx, lx, True, n_samples, np.random.default_rng(seed)) for name, lx in subsets.items()}
    pairs["test_train"] = _sample_pairs(subsets["test"], subsets["train"], False, n_samples,
                                        np.random.default_rng(seed))
    return RatioSamples(n_samples=n_samples, seed=int(seed), n_rows=int(labels.size), pairs=pairs)


def assignment_accuracy(H: np.ndarray, labels: np.ndarray, train_mask: np.ndarray, test_mask: np.ndarray) -> float:
    """Fraction of test points whose nearest train-class centroid is their own class (docs/experiments.md §5.2 item 3)."""
    X, lx = _rows(H, labels, train_mask)
    Y, ly = _rows(H, labels, test_mask)
    return _assignment_accuracy(X, lx, Y, ly)


def _assignment_accuracy(X: np.ndarray, lx: np.ndarray, Y: np.ndarray, ly: np.ndarray) -> float:
    """``assignment_accuracy`` of test rows ``Y`` against train rows ``X``."""
    classes = np.unique(lx)
    sums, counts = _class_sums(X, lx)
    means = sums / counts[:, None]
    nearest = classes[np.argmin(_pair_distances(Y, means), axis=1)]
    return float(np.mean(nearest == ly))


@dataclass(frozen=True)
class StateCount:
    """Complete-linkage state counts at ``ε = κ·r`` for each ``κ``, with the purity of the clusters."""

    kappas: np.ndarray
    n_states: np.ndarray
    purity: np.ndarray
    scale: float


def state_count(H: np.ndarray, labels: np.ndarray, kappas=KAPPAS) -> StateCount:
    """Scale-free state count (docs/experiments.md §5.2 item 4): cluster all rows by complete linkage and cut at
    ``κ · r(t)`` (``r`` = ``representation_scale``), so that weight decay shrinking every
    representation is not read as merging. References: P (perfect quotient), P(P+1)/2 (only
    commuted pairs merged), P² (nothing merged). Purity = fraction of clusters whose members
    all share the label."""
    H, labels = _rows(H, labels, None)
    kappas = np.atleast_1d(check_positive("kappas", kappas)).astype(np.float64)
    r = representation_scale(H)
    Z = linkage(H, method="complete")
    n_states, purity = [], []
    for kappa in kappas:
        cluster = fcluster(Z, t=kappa * r, criterion="distance") if r > 0 else np.ones(H.shape[0], int)
        _, inverse = np.unique(cluster, return_inverse=True)
        n = int(inverse.max()) + 1
        lo = np.full(n, np.iinfo(np.int64).max)
        hi = np.full(n, np.iinfo(np.int64).min)
        np.minimum.at(lo, inverse, labels)
        np.maximum.at(hi, inverse, labels)
        n_states.append(n)
        purity.append(float(np.mean(lo == hi)))
    return StateCount(kappas=kappas, n_states=np.asarray(n_states), purity=np.asarray(purity), scale=r)


def sample_pairs(labels: np.ndarray, train_mask: np.ndarray, test_mask: np.ndarray, *, n: int = 2000,
                 seed: int = 0) -> dict[str, np.ndarray]:
    """Fixed random pairs for trajectories (docs/experiments.md §5.2 item 5): ``(2, n)`` index arrays per group in
    ``PAIR_GROUPS`` — agreeing train–train (``i ≠ j``), disagreeing train–train, agreeing test–train
    (first row test). Pairs are drawn uniformly with replacement among all pairs of the group."""
    n = check_int("n", n, minimum=1)
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, test = np.flatnonzero(train_mask), np.flatnonzero(test_mask)

    def draw(first: np.ndarray, second: np.ndarray, agree: bool) -> np.ndarray:
        out_i, out_j = [], []
        while sum(map(len, out_i)) < n:
            i = first[rng.integers(first.size, size=4 * n)]
            j = second[rng.integers(second.size, size=4 * n)]
            ok = (labels[i] == labels[j]) == agree
            ok &= i != j
            out_i.append(i[ok])
            out_j.append(j[ok])
        return np.stack([np.concatenate(out_i)[:n], np.concatenate(out_j)[:n]])

    return {"agree_train_train": draw(train, train, True),
            "disagree_train_train": draw(train, train, False),
            "agree_test_train": draw(test, train, True)}


def normalised_pair_distances(H: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """``d_ij = ‖h_i − h_j‖ / r`` for index pairs ``(2, n)`` (docs/experiments.md §5.2 item 5)."""
    H = np.asarray(H, dtype=np.float64)
    return _paired_distances(H, pairs[0], H, pairs[1]) / representation_scale(H)


def _normalised_pair_distances(H: np.ndarray, pairs: np.ndarray, r: float) -> np.ndarray:
    """``normalised_pair_distances`` of float64 ``H`` whose ``representation_scale`` ``r`` is known."""
    return _paired_distances(H, pairs[0], H, pairs[1]) / r


def merged_fraction(distances: np.ndarray, kappa: float = 0.1) -> np.ndarray:
    """Fraction of pairs with normalised distance ``< κ`` (along the last axis)."""
    check_positive("kappa", kappa)
    return np.mean(np.asarray(distances) < kappa, axis=-1)


def target_separation(label_i: np.ndarray, label_j: np.ndarray) -> np.ndarray:
    """``S = ‖y*_i − y*_j‖²`` for one-hot targets: 0 for the same answer, 2 otherwise."""
    return 2.0 * (np.asarray(label_i) != np.asarray(label_j))


def theory_permits_merger(label_i: np.ndarray, label_j: np.ndarray) -> np.ndarray:
    """P25 eq. 7 per pair at the most favourable ``A_high = 0``: True iff ``A_low = 0`` (same answer).

    ``A_low = sqrt(N τ_y/τ_h · S)`` with ``N = 1``; its zero set does not depend on the unknown
    rates, so unit rates are used. False means the pair can never merge.
    """
    A_low = a_low(target_separation(label_i, label_j), N=1.0, tau_h=1.0, tau_y=1.0)
    return will_merge(np.zeros_like(A_low), A_low)


def site_measurements(H: np.ndarray, labels: np.ndarray, train_mask: np.ndarray, test_mask: np.ndarray, *,
                      pairs: dict[str, np.ndarray] | None = None, n_samples: int | None = 15_000,
                      n_permutations: int = 5, seed: int = 0,
                      samples: RatioSamples | None = None) -> dict[str, object]:
    """All per-checkpoint measurements of one site (docs/experiments.md §5.2 items 1, 2, 3, 5 and r(t)).

    Keys: ``r``; ``M_train``, ``M_test``, ``M_all``, ``R_train``, ``R_test``, ``R_all``;
    ``rho_train``, ``rho_test``, ``rho_all``, ``rho_test_train`` (cross term);
    ``assignment_accuracy``; and ``pair_distances`` (dict group → normalised distances) when
    ``pairs`` is given. Distance ratios are exact if ``n_samples`` is None, else estimated from
    ``n_samples`` same-class plus as many different-class pairs drawn with ``seed`` (the same
    index pairs at every checkpoint when the seed is fixed); ``samples`` (from
    ``draw_ratio_samples`` with the same labels, masks, ``n_samples`` and ``seed``) supplies those
    pairs drawn in advance, with the same result. The state count (item 4) is separate
    (``state_count``) because complete linkage costs seconds.
    """
    n_permutations = check_int("n_permutations", n_permutations, minimum=1)
    H, labels = _rows(H, labels, None)
    if samples is not None and (n_samples is None or (samples.n_samples, samples.seed, samples.n_rows)
                                != (n_samples, seed, labels.size)):
        raise ValueError(f"samples were drawn for n_samples={samples.n_samples}, seed={samples.seed} and "
                         f"{samples.n_rows} rows, not n_samples={n_samples}, seed={seed} and {labels.size} rows")
    drawn = {} if samples is None else samples.pairs
    r = representation_scale(H)
    out: dict[str, object] = {"r": r}
    subsets = {name: _rows(H, labels, mask) for name, mask in
               (("train", train_mask), ("test", test_mask), ("all", np.ones(labels.shape, dtype=bool)))}
    for name, (X, lx) in subsets.items():
        score = _merging_score(X, lx, n_permutations, seed)
        out[f"M_{name}"], out[f"R_{name}"] = score.M, score.R
        out[f"rho_{name}"] = _same_over_different(X, lx, X, lx, True, n_samples, seed, 1024, drawn.get(name))
    (X_test, l_test), (X_train, l_train) = subsets["test"], subsets["train"]
    out["rho_test_train"] = _same_over_different(X_test, l_test, X_train, l_train, False, n_samples, seed, 1024,
                                                 drawn.get("test_train"))
    out["assignment_accuracy"] = _assignment_accuracy(X_train, l_train, X_test, l_test)
    if pairs is not None:
        out["pair_distances"] = {g: _normalised_pair_distances(H, p, r) for g, p in pairs.items()}
    return out
