"""Nanda et al.'s progress measures for grokking (2023, §4–5, App. C; docs/experiments.md §4.5–4.8), on arrays.

Conventions: ``logits`` are ``(P², P)`` at ``=`` for all inputs in lexicographic ``(a, b)``
order with the ``=`` class already dropped; ``labels`` ``(P²,)``; masks are boolean
``(P²,)``. Weight arguments use the shapes of ``rnn.modular.transformer``.

**Key frequencies.** Three rules appear in the paper and its code; none has a published
threshold for rules 1–2:

1. ``key_frequencies_embedding`` — Fourier norms of ``W_E`` (paper §4.1);
2. ``key_frequencies_neuron_logit`` — Fourier norms of the neuron–logit map
   ``W_L = W_out W_U`` over the logit axis (App. C.2);
3. ``key_frequencies_neurons`` — the released code's ``calculate_key_freqs``: each neuron's
   centred activations over all ``P²`` inputs are 2D-transformed; the neuron belongs to
   the frequency whose ``{const, cos k, sin k}²`` block carries the largest variance
   share, if that share is ``>= 0.85``; key frequencies are the set of winners.

Rule 3 is the **default** (``DEFAULT_KEY_FREQUENCY_RULE``): it is what the released code
uses for restricted/excluded loss, it is scale-free (variance fractions, so weight decay
shrinking the weights does not move it) and its one threshold (0.85) is the published
one, whereas rules 1–2 need an ad-hoc cut (here ``threshold · max``, the TransformerLens
demo's ``max/4`` by default).

**Restricted / excluded loss** (docs/experiments.md §4.7). ``Π_k = u_cos u_cosᵀ + u_sin u_sinᵀ`` is the
rank-2 projector on the input axis onto ``cos(w_k(a+b))``, ``sin(w_k(a+b))``. It is
applied as ``U_kᵀ (U_k L)`` — ``O(P³)`` per frequency — never as a ``P²×P²`` matrix and
never as an outer product of 1D masks (which would keep ``(a−b)`` and cross-frequency
terms and make restricted loss look too good)::

    L_res = Σ_{k∈K} Π_k L + (mean_ab L − mean_ab Σ_k Π_k L)          (restricted; all inputs by default)
    L_exc = L − Σ_{k∈K} Π_k L                                        (excluded; training pairs)
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy.special import log_softmax

from interaction.checks import check_interval
from rnn.modular.fourier import (as_grid, check_prime, fourier_basis, fourier_transform, fourier_transform_2d,
                         frequency_norms, sum_directions)

KEY_FREQUENCY_RULES = ("neurons", "neuron_logit", "embedding")
DEFAULT_KEY_FREQUENCY_RULE = "neurons"


# ----------------------------------------------------------------------------- basics
def cross_entropy(logits: np.ndarray, labels: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean float64 cross-entropy of ``logits`` ``(N, C)`` against ``labels`` over the rows in ``mask``."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    if mask is not None:
        logits, labels = logits[mask], labels[mask]
    return float(-log_softmax(logits, axis=1)[np.arange(labels.shape[0]), labels].mean())


def accuracy(logits: np.ndarray, labels: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Fraction of rows in ``mask`` whose arg-max logit is the label."""
    hit = np.asarray(logits).argmax(axis=1) == np.asarray(labels)
    return float(hit[mask].mean() if mask is not None else hit.mean())


def _modulus_of(logits: np.ndarray) -> int:
    logits = np.asarray(logits)
    if logits.ndim != 2 or logits.shape[0] != logits.shape[1] ** 2:
        raise ValueError(f"logits must have shape (P², P) with the '=' class dropped (got {logits.shape})")
    return check_prime(logits.shape[1])


def _frequency_list(P: int, freqs: Iterable[int]) -> list[int]:
    freqs = sorted({int(k) for k in freqs})
    bad = [k for k in freqs if not 1 <= k <= (P - 1) // 2]
    if bad:
        raise ValueError(f"freqs must lie in [1, {(P - 1) // 2}] for P={P} (got {bad})")
    return freqs


# ----------------------------------------------------------------------------- restricted / excluded loss
def sum_frequency_component(logits: np.ndarray, k: int) -> np.ndarray:
    """``Π_k L``: the part of ``L`` along ``cos(w_k(a+b))`` and ``sin(w_k(a+b))`` on the input axis, ``(P², P)``."""
    P = _modulus_of(logits)
    U = sum_directions(P, k)                        # (2, P²)
    return U.T @ (U @ np.asarray(logits, dtype=np.float64))


def _key_component(logits: np.ndarray, freqs: Iterable[int]) -> np.ndarray:
    P = _modulus_of(logits)
    total = np.zeros(np.shape(logits))
    for k in _frequency_list(P, freqs):
        total += sum_frequency_component(logits, k)
    return total


def restricted_logits(logits: np.ndarray, freqs: Iterable[int]) -> np.ndarray:
    """``L_res = Σ_{k∈K} Π_k L + (mean_ab L − mean_ab Σ_k Π_k L)`` (docs/experiments.md §4.7; code ``calculate_trig_loss``)."""
    logits = np.asarray(logits, dtype=np.float64)
    kept = _key_component(logits, freqs)
    return kept + (logits.mean(axis=0) - kept.mean(axis=0))


def excluded_logits(logits: np.ndarray, freqs: Iterable[int]) -> np.ndarray:
    """``L_exc = L − Σ_{k∈K} Π_k L`` (docs/experiments.md §4.7; code ``calculate_excluded_loss``, all key frequencies at once)."""
    logits = np.asarray(logits, dtype=np.float64)
    return logits - _key_component(logits, freqs)


def restricted_loss(logits: np.ndarray, labels: np.ndarray, freqs: Iterable[int],
                    mask: np.ndarray | None = None) -> float:
    """Cross-entropy of ``restricted_logits`` (default over all ``P²`` inputs, the code's ``mode='all'``)."""
    return cross_entropy(restricted_logits(logits, freqs), labels, mask)


def excluded_loss(logits: np.ndarray, labels: np.ndarray, freqs: Iterable[int], train_mask: np.ndarray) -> float:
    """Cross-entropy of ``excluded_logits`` on the training pairs only (paper §5.1)."""
    return cross_entropy(excluded_logits(logits, freqs), labels, train_mask)


# ----------------------------------------------------------------------------- key frequencies
def _select(norms: np.ndarray, threshold: float) -> np.ndarray:
    check_interval("threshold", threshold, 0.0, 1.0, lo_closed=False)
    return np.flatnonzero(norms >= threshold * norms.max()) + 1


def embedding_frequency_norms(W_E: np.ndarray, P: int) -> np.ndarray:
    """Norm over ``d_model`` of each frequency ``k = 1..(P−1)/2`` of ``W_E`` (first ``P`` rows; ``=`` dropped)."""
    return frequency_norms(fourier_transform(np.asarray(W_E)[:check_prime(P)], axis=0), axis=0)


def neuron_logit_map(W_out: np.ndarray, W_U: np.ndarray, P: int) -> np.ndarray:
    """``W_L = W_out W_U[:, :P]``, shape ``(d_mlp, P)``: the direct effect of each neuron on each logit."""
    return np.asarray(W_out, dtype=np.float64) @ np.asarray(W_U, dtype=np.float64)[:, :P]


def neuron_logit_frequency_norms(W_L: np.ndarray) -> np.ndarray:
    """Norm over neurons of each frequency of ``W_L`` along the logit axis."""
    W_L = np.asarray(W_L)
    check_prime(W_L.shape[1])
    return frequency_norms(fourier_transform(W_L, axis=1), axis=1)


def key_frequencies_embedding(W_E: np.ndarray, P: int, threshold: float = 0.25) -> np.ndarray:
    """Rule 1: frequencies whose ``W_E`` Fourier norm is ``>= threshold · max`` (sorted, 1-based)."""
    return _select(embedding_frequency_norms(W_E, P), threshold)


def key_frequencies_neuron_logit(W_L: np.ndarray, threshold: float = 0.25) -> np.ndarray:
    """Rule 2: frequencies whose ``W_L`` Fourier norm (logit axis) is ``>= threshold · max``."""
    return _select(neuron_logit_frequency_norms(W_L), threshold)


def neuron_frequency_fractions(mlp_post: np.ndarray) -> np.ndarray:
    """Per neuron and frequency, the share of the neuron's variance over all inputs in the block
    ``{const, cos k, sin k} × {const, cos k, sin k}`` of its 2D transform: ``((P−1)/2, d_mlp)``.

    This is also the fraction of variance explained by the least-squares fit of the neuron by a
    degree-2 polynomial in ``cos/sin(w_k a)``, ``cos/sin(w_k b)`` (the nine block functions are
    orthonormal), see ``neuron_polynomial_fits``.
    """
    acts = as_grid(mlp_post)
    check_prime(acts.shape[0])
    energy = fourier_transform_2d(acts - acts.mean(axis=(0, 1))) ** 2      # (P, P, m)
    P = acts.shape[0]
    ks = np.arange(1, (P - 1) // 2 + 1)
    idx = np.stack([np.zeros_like(ks), 2 * ks - 1, 2 * ks], axis=1)          # (K, 3)
    block = energy[idx[:, :, None], idx[:, None, :]].sum(axis=(1, 2))        # (K, m)
    total = energy.sum(axis=(0, 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, block / total, 0.0)


def neuron_clusters(mlp_post: np.ndarray, fve_threshold: float = 0.85) -> tuple[np.ndarray, np.ndarray]:
    """Each neuron's frequency (``0`` = none: best share ``< fve_threshold``) and its best share."""
    check_interval("fve_threshold", fve_threshold, 0.0, 1.0)
    frac = neuron_frequency_fractions(mlp_post)
    best = frac.argmax(axis=0) + 1
    share = frac.max(axis=0)
    return np.where(share >= fve_threshold, best, 0), share


def key_frequencies_neurons(mlp_post: np.ndarray, fve_threshold: float = 0.85) -> np.ndarray:
    """Rule 3 (the default): the set of frequencies that some neuron belongs to (code ``calculate_key_freqs``)."""
    freq, _ = neuron_clusters(mlp_post, fve_threshold)
    return np.unique(freq[freq > 0])


# ----------------------------------------------------------------------------- Gini, weight norm
def gini(x: np.ndarray) -> float:
    """Gini coefficient of a non-negative vector (Hurley & Rickard 2009; docs/experiments.md §4.8).

    ``G = 1 − 2 Σ_i (x_(i)/‖x‖₁)(n − i + 1/2)/n`` with ``x`` sorted ascending, ``i = 1..n``:
    0 for a constant vector, ``1 − 1/n`` for a one-hot vector.
    """
    x = np.sort(np.asarray(x, dtype=np.float64).ravel())
    if x.size == 0 or np.any(x < 0) or not np.all(np.isfinite(x)):
        raise ValueError("x must be a non-empty vector of finite non-negative numbers")
    total = x.sum()
    if total == 0:
        return 0.0
    n = x.size
    i = np.arange(1, n + 1)
    return float(1.0 - 2.0 * np.sum((x / total) * (n - i + 0.5) / n))


def embedding_fourier_gini(W_E: np.ndarray, P: int) -> float:
    """Gini of the norms of the ``P`` Fourier components of ``W_E`` (rows of ``F W_E[:P]``)."""
    coeffs = fourier_transform(np.asarray(W_E)[:P], axis=0)
    return gini(np.linalg.norm(coeffs, axis=1))


def neuron_logit_fourier_gini(W_L: np.ndarray) -> float:
    """Gini of the norms of the ``P`` Fourier components of ``W_L`` along the logit axis."""
    return gini(np.linalg.norm(fourier_transform(np.asarray(W_L), axis=1), axis=0))


def squared_weight_norm(weights: Mapping[str, np.ndarray]) -> float:
    """Total sum of squared parameters ``Σ ‖θ‖²`` (docs/experiments.md §4.8)."""
    return float(sum(np.sum(np.asarray(w, dtype=np.float64) ** 2) for w in weights.values()))


# ----------------------------------------------------------------------------- phase boundaries
@dataclass(frozen=True)
class PhaseBoundaries:
    """Epochs separating memorisation | circuit formation | cleanup | (post-)cleanup, read from test loss.

    ``status``: ``'ok'``, or ``'no_cleanup'`` when the test loss never falls below its
    initial value after its peak (no grokking yet; ``cleanup_start``/``cleanup_end`` None).
    """

    memorisation_end: int
    cleanup_start: int | None
    cleanup_end: int | None
    status: str
    message: str


def _knee(t: np.ndarray, y: np.ndarray, sign: int) -> int:
    """Index of the point farthest above (``sign=+1``) or below (−1) the chord from first to last point."""
    if t.size < 3:
        return 0 if sign > 0 else t.size - 1
    chord = y[0] + (y[-1] - y[0]) * (t - t[0]) / (t[-1] - t[0])
    return int(np.argmax(sign * (y - chord)))


def phase_boundaries(epochs: np.ndarray, test_loss: np.ndarray) -> PhaseBoundaries:
    """Automatic phase boundaries (paper §5.2: memorisation, circuit formation, cleanup).

    * end of memorisation = epoch of the test-loss maximum (memorising the training set
      drives the held-out loss up; the TransformerLens run peaks at 1.4k, its boundary is 1.5k);
    * start of cleanup = the knee of ``log(test loss)`` between that peak and its minimum:
      the point farthest *above* the straight chord joining them, where the slow decline of
      circuit formation turns into the sudden drop;
    * end of cleanup = the point farthest *below* the chord from the start of cleanup to the
      minimum, where the drop flattens out.

    Knees are parameter-free, so no threshold hides in the definition; they are read on a
    linear epoch axis, as the paper plots them.
    """
    t = np.asarray(epochs, dtype=np.float64)
    y = np.log(np.asarray(test_loss, dtype=np.float64))
    if t.shape != y.shape or t.ndim != 1 or t.size < 2 or not np.all(np.isfinite(y)):
        raise ValueError("epochs and test_loss must be 1D arrays of equal length >= 2 with finite positive losses")
    peak = int(np.argmax(y))
    low = peak + int(np.argmin(y[peak:]))
    if y[low] >= y[0]:
        return PhaseBoundaries(int(t[peak]), None, None, "no_cleanup",
                               "test loss never fell below its initial value after its peak")
    start = peak + _knee(t[peak:low + 1], y[peak:low + 1], +1)
    end = start + _knee(t[start:low + 1], y[start:low + 1], -1)
    return PhaseBoundaries(int(t[peak]), int(t[start]), int(t[end]), "ok", "")


# ----------------------------------------------------------------------------- mechanistic checks
def neuron_logit_decomposition(W_L: np.ndarray, freqs: Iterable[int]) -> dict[str, object]:
    """Low-rank structure of ``W_L`` over the key frequencies (paper §4.2, App. C.2).

    ``W_L ≈ Σ_{k∈K} (W_L c_k) c_kᵀ + (W_L s_k) s_kᵀ`` with ``c_k``, ``s_k`` the basis rows: a rank
    ``2|K|`` approximation. Returns the fraction of ``‖W_L‖²`` (constant logit direction removed,
    since it does not change the softmax) carried by the key frequencies, per key frequency, and
    for comparison by the best rank-``2|K|`` approximation (SVD) of the same centred matrix.
    """
    W_L = np.asarray(W_L, dtype=np.float64)
    P = check_prime(W_L.shape[1])
    freqs = _frequency_list(P, freqs)
    coeffs = fourier_transform(W_L, axis=1)[:, 1:]                      # constant direction dropped
    per_freq_sq = (coeffs ** 2).sum(axis=0).reshape(-1, 2).sum(axis=1)  # index k−1
    total = per_freq_sq.sum()
    singular = np.linalg.svd(W_L - W_L.mean(axis=1, keepdims=True), compute_uv=False)
    rank = 2 * len(freqs)
    return {
        "key_fraction": float(per_freq_sq[np.asarray(freqs) - 1].sum() / total),
        "per_frequency_fraction": {k: float(per_freq_sq[k - 1] / total) for k in freqs},
        "svd_fraction_same_rank": float((singular[:rank] ** 2).sum() / (singular ** 2).sum()),
        "rank": rank,
    }


def neuron_polynomial_fits(mlp_post: np.ndarray, neuron_freqs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares fit of each neuron by ``Σ_{i,j} β_ij g_i(w_k a) g_j(w_k b)``, ``g ∈ {1, cos, sin}``
    (the degree-2 polynomial in ``cos/sin(w_k a)``, ``cos/sin(w_k b)`` of paper §4.2), ``k`` its frequency.

    The nine products are orthonormal basis functions of the 2D transform, so the fit keeps
    the ``{0, 2k−1, 2k}²`` block of the neuron's coefficients. Neurons with frequency ``0``
    are fitted by their mean. Returns the fitted activations ``(P², d_mlp)`` and the fraction
    of variance explained per neuron.
    """
    acts = as_grid(mlp_post)
    P, _, m = acts.shape
    neuron_freqs = np.asarray(neuron_freqs, dtype=np.int64)
    if neuron_freqs.shape != (m,) or np.any(neuron_freqs < 0) or np.any(neuron_freqs > (P - 1) // 2):
        raise ValueError(f"neuron_freqs must have shape ({m},) with values in [0, {(P - 1) // 2}]")
    F = fourier_basis(check_prime(P))
    coeffs = fourier_transform_2d(acts)                                  # (P, P, m)
    keep = np.zeros((P, P, m), dtype=bool)
    keep[0, 0, :] = True
    for k in np.unique(neuron_freqs[neuron_freqs > 0]):
        idx = np.array([0, 2 * k - 1, 2 * k])
        cols = neuron_freqs == k
        keep[np.ix_(idx, idx, np.flatnonzero(cols))] = True
    fit = np.einsum("fa,gb,fgn->abn", F, F, np.where(keep, coeffs, 0.0), optimize=True)
    centred = acts - acts.mean(axis=(0, 1))
    var = (centred ** 2).sum(axis=(0, 1))
    resid = ((acts - fit) ** 2).sum(axis=(0, 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        fve = np.where(var > 0, 1.0 - resid / var, 1.0)
    return fit.reshape(P * P, m), fve


def logits_from_mlp(resid_mid: np.ndarray, mlp_post: np.ndarray, W_out: np.ndarray, b_out: np.ndarray,
                    W_U: np.ndarray, P: int) -> np.ndarray:
    """``(resid_mid + mlp_post W_out + b_out) W_U[:, :P]``: the model's logits downstream of the MLP."""
    resid = np.asarray(resid_mid, np.float64) + np.asarray(mlp_post, np.float64) @ np.asarray(W_out, np.float64)
    return (resid + np.asarray(b_out, np.float64)) @ np.asarray(W_U, np.float64)[:, :P]


def ablate_input_frequencies(logits: np.ndarray, freqs: Iterable[int]) -> np.ndarray:
    """Remove from ``logits`` every 2D-transform component (over ``a``, ``b``) that involves one of
    ``freqs`` on either input axis (the logits' 2D DFT ablation of paper §5.1/App. C)."""
    L = as_grid(logits)
    P = check_prime(L.shape[0])
    F = fourier_basis(P)
    coeffs = fourier_transform_2d(L)
    rows = np.zeros(P, dtype=bool)
    for k in _frequency_list(P, freqs):
        rows[[2 * k - 1, 2 * k]] = True
    coeffs[rows, :] = 0.0
    coeffs[:, rows] = 0.0
    return np.einsum("fa,gb,fg...->ab...", F, F, coeffs, optimize=True).reshape(P * P, *L.shape[2:])


def trig_fit(logits: np.ndarray, freqs: Iterable[int]) -> tuple[np.ndarray, float]:
    """Least-squares fit ``L[(a,b), c] ≈ Σ_{k∈K} α_k cos(w_k(a + b − c))`` and its fraction of variance
    explained (paper §4.2: 95 % for the mainline model).

    The logits are centred per input (softmax is shift-invariant and each ``cos(w_k(a+b−c))`` has
    zero mean over ``c``); the regressors for distinct ``k`` are orthogonal over the full cube, so
    ``α_k = ⟨L, v_k⟩ / ⟨v_k, v_k⟩``. Returns ``(α, FVE)``.
    """
    L = np.asarray(logits, dtype=np.float64)
    P = _modulus_of(L)
    freqs = _frequency_list(P, freqs)
    L = L - L.mean(axis=1, keepdims=True)
    a, b = np.divmod(np.arange(P * P), P)
    phase = (a + b)[:, None] - np.arange(P)[None, :]
    alpha, explained = [], 0.0
    for k in freqs:
        v = np.cos(2 * np.pi * k * phase / P)
        vv = np.sum(v * v)
        alpha.append(np.sum(L * v) / vv)
        explained += alpha[-1] ** 2 * vv
    total = np.sum(L ** 2)
    return np.asarray(alpha), float(explained / total) if total > 0 else float("nan")


def mechanistic_checks(*, resid_mid: np.ndarray, mlp_post: np.ndarray, weights: Mapping[str, np.ndarray],
                       labels: np.ndarray, train_mask: np.ndarray, test_mask: np.ndarray,
                       freqs: Iterable[int], fve_threshold: float = 0.85) -> dict[str, object]:
    """The seed's mechanistic checks on a final model, as numbers (paper §4–5, App. C).

    * ``neuron_logit``: ``neuron_logit_decomposition`` of ``W_L`` over ``freqs``;
    * ``neurons``: neurons per frequency cluster, fraction clustered, median FVE of the
      degree-2 fits of clustered neurons;
    * ``replace_by_fits``: test loss before/after replacing every clustered neuron by its fit
      (unclustered neurons are left as they are);
    * ``logit_ablation``: test loss of the logits with the key frequencies removed from their
      2D transform, and with all *other* frequencies removed;
    * ``trig_fit``: coefficients and fraction of logit variance explained by
      ``Σ_k α_k cos(w_k(a+b−c))``, and the test loss of that fit used as the logits.
    """
    P = check_prime(as_grid(mlp_post).shape[0])
    freqs = _frequency_list(P, freqs)
    W = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    logits = logits_from_mlp(resid_mid, mlp_post, W["W_out"], W["b_out"], W["W_U"], P)
    W_L = neuron_logit_map(W["W_out"], W["W_U"], P)
    cluster, _ = neuron_clusters(mlp_post, fve_threshold)
    fit, fve = neuron_polynomial_fits(mlp_post, cluster)
    clustered = cluster > 0
    replaced = np.where(clustered, fit, np.asarray(mlp_post, np.float64))
    others = [k for k in range(1, (P - 1) // 2 + 1) if k not in freqs]
    base = cross_entropy(logits, labels, test_mask)
    alpha, fve_trig = trig_fit(logits, freqs)
    a, b = np.divmod(np.arange(P * P), P)
    trig_logits = sum(al * np.cos(2 * np.pi * k * ((a + b)[:, None] - np.arange(P)[None, :]) / P)
                      for al, k in zip(alpha, freqs))
    return {
        "key_frequencies": freqs,
        "neuron_logit": neuron_logit_decomposition(W_L, freqs),
        "neurons": {
            "per_frequency": {int(k): int(np.sum(cluster == k)) for k in np.unique(cluster[clustered])},
            "fraction_clustered": float(clustered.mean()),
            "median_fve_clustered": float(np.median(fve[clustered])) if clustered.any() else float("nan"),
        },
        "replace_by_fits": {
            "test_loss": base,
            "test_loss_fitted": cross_entropy(
                logits_from_mlp(resid_mid, replaced, W["W_out"], W["b_out"], W["W_U"], P), labels, test_mask),
        },
        "logit_ablation": {
            "test_loss": base,
            "key_removed": cross_entropy(ablate_input_frequencies(logits, freqs), labels, test_mask),
            "others_removed": cross_entropy(ablate_input_frequencies(logits, others), labels, test_mask),
            "train_loss": cross_entropy(logits, labels, train_mask),
        },
        "trig_fit": {"alpha": dict(zip(freqs, map(float, alpha))), "fraction_of_variance": fve_trig,
                     "test_loss_of_fit": cross_entropy(trig_logits, labels, test_mask)},
    }
