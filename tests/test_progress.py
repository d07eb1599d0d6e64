"""Nanda et al.'s progress measures (rnn/modular/progress.py) on planted and brute-force cases."""
import numpy as np
import pytest

from rnn.modular import progress as pm
from rnn.modular.data import modular_addition_data
from rnn.modular.fourier import fourier_basis, fourier_transform, frequency_norms


def test_fourier_input_validation():
    with pytest.raises(ValueError, match="odd"):
        fourier_basis(12)
    with pytest.raises(ValueError, match="P must be >= 3"):
        fourier_basis(1)
    logits = np.zeros((15 * 15, 15))
    with pytest.raises(ValueError, match="prime"):
        pm.restricted_logits(logits, [1])
    with pytest.raises(ValueError, match="freqs"):
        pm.restricted_logits(np.zeros((11 * 11, 11)), [6])


def planted_logits(P, freqs, scale=5.0, const=None):
    """L[(a,b), c] = const[c] + scale Σ_k cos(w_k(a+b−c)): Nanda's final algorithm, exactly."""
    a, b = np.divmod(np.arange(P * P), P)
    c = np.arange(P)
    L = np.zeros((P * P, P)) if const is None else np.tile(const, (P * P, 1))
    for k in freqs:
        L += scale * np.cos(2 * np.pi * k * ((a + b)[:, None] - c[None, :]) / P)
    return L


@pytest.mark.parametrize("P, freqs", [(11, [2, 5]), (17, [3, 4, 8]), (23, [1, 7])])
def test_restricted_loss_of_planted_logits_equals_full_and_excluded_is_large(P, freqs):
    data = modular_addition_data(P, 0.3, 0)
    L = planted_logits(P, freqs, scale=10.0, const=np.random.default_rng(P).normal(size=P))
    full = pm.cross_entropy(L, data.labels)
    assert full < 0.1  # the planted algorithm is correct (and confident)
    assert pm.restricted_loss(L, data.labels, freqs) == pytest.approx(full, rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(pm.restricted_logits(L, freqs), L, atol=1e-10)
    # excluded: only the input-independent part is left, which cannot beat chance by much
    assert pm.excluded_loss(L, data.labels, freqs, data.train_mask) > np.log(P) - 0.5
    # keeping fewer key frequencies loses confidence; keeping only non-key ones is chance level
    assert pm.restricted_loss(L, data.labels, freqs[:-1]) > full
    others = [k for k in range(1, (P - 1) // 2 + 1) if k not in freqs]
    assert pm.restricted_loss(L, data.labels, others) > np.log(P) - 0.5


def test_restricted_and_excluded_logits_against_dense_projector():
    """Independent route: the P²×P² projector built from cos/sin(w_k(a+b)) vectors directly."""
    P, freqs = 11, [1, 3]
    rng = np.random.default_rng(1)
    L = rng.normal(size=(P * P, P))
    a, b = np.divmod(np.arange(P * P), P)
    Pi = np.zeros((P * P, P * P))
    for k in freqs:
        for f in (np.cos, np.sin):
            u = f(2 * np.pi * k * (a + b) / P)
            u /= np.linalg.norm(u)
            Pi += np.outer(u, u)
    kept = Pi @ L
    np.testing.assert_allclose(pm.restricted_logits(L, freqs), kept + L.mean(0) - kept.mean(0), atol=1e-12)
    np.testing.assert_allclose(pm.excluded_logits(L, freqs), L - kept, atol=1e-12)
    # the rank-2 projector is not the outer product of 1D masks: it removes much less
    assert np.linalg.matrix_rank(Pi) == 2 * len(freqs)


def test_key_frequency_rules_recover_planted_frequencies():
    P, planted = 23, [3, 7, 10]
    rng = np.random.default_rng(2)
    x = np.arange(P)
    # rule 1: an embedding built from the planted frequencies plus small noise; '=' row appended
    W_E = sum(np.outer(np.cos(2 * np.pi * k * x / P), rng.normal(size=32))
              + np.outer(np.sin(2 * np.pi * k * x / P), rng.normal(size=32)) for k in planted)
    W_E = np.vstack([W_E + 0.05 * rng.normal(size=W_E.shape), rng.normal(size=(1, 32))])
    np.testing.assert_array_equal(pm.key_frequencies_embedding(W_E, P), planted)
    # rule 2: neuron–logit map W_L with rows cos/sin(w_k c + phase) over the logit axis
    ks = rng.choice(planted, size=64)
    W_L = np.cos(2 * np.pi * ks[:, None] * x[None, :] / P + rng.uniform(0, 2 * np.pi, size=(64, 1)))
    np.testing.assert_array_equal(pm.key_frequencies_neuron_logit(W_L + 0.01 * rng.normal(size=W_L.shape)),
                                  planted)
    # rule 3: ReLU neurons of cos(w_k a + φ) + cos(w_k b + ψ) (Nanda's neurons) and a noise neuron
    a, b = np.divmod(np.arange(P * P), P)
    phases = rng.uniform(0, 2 * np.pi, size=(2, 64))
    acts = np.maximum(0, np.cos(2 * np.pi * ks * a[:, None] / P + phases[0])
                      + np.cos(2 * np.pi * ks * b[:, None] / P + phases[1]))
    acts = np.hstack([acts, rng.normal(size=(P * P, 1))])
    cluster, share = pm.neuron_clusters(acts)
    np.testing.assert_array_equal(cluster[:64], ks)
    assert cluster[64] == 0 and share[64] < 0.85
    np.testing.assert_array_equal(pm.key_frequencies_neurons(acts), planted)


def test_polynomial_fit_equals_least_squares():
    """Independent route for the degree-2 fits: numpy lstsq on the nine explicit features."""
    P = 13
    rng = np.random.default_rng(3)
    acts = np.maximum(0, rng.normal(size=(P * P, 4)) + 2 * np.cos(
        2 * np.pi * 2 * np.divmod(np.arange(P * P), P)[0] / P)[:, None])
    freqs = np.array([2, 2, 5, 0])
    fit, fve = pm.neuron_polynomial_fits(acts, freqs)
    a, b = np.divmod(np.arange(P * P), P)
    for n, k in enumerate(freqs):
        w = 2 * np.pi * k / P
        ga = [np.ones(P * P), np.cos(w * a), np.sin(w * a)] if k else [np.ones(P * P)]
        gb = [np.ones(P * P), np.cos(w * b), np.sin(w * b)] if k else [np.ones(P * P)]
        X = np.stack([u * v for u in ga for v in gb], axis=1)
        beta, *_ = np.linalg.lstsq(X, acts[:, n], rcond=None)
        np.testing.assert_allclose(fit[:, n], X @ beta, atol=1e-10)
        resid = np.sum((acts[:, n] - X @ beta) ** 2)
        assert fve[n] == pytest.approx(1 - resid / np.sum((acts[:, n] - acts[:, n].mean()) ** 2), abs=1e-10)
    assert fve[3] == pytest.approx(0.0, abs=1e-12)


def test_gini_and_frequency_norms():
    assert pm.gini(np.ones(10)) == pytest.approx(0.0, abs=1e-12)
    assert pm.gini(np.eye(1, 10).ravel()) == pytest.approx(0.9)
    x = np.random.default_rng(4).exponential(size=200)
    # Hurley & Rickard's formula equals the classical mean-absolute-difference Gini
    mad = np.abs(x[:, None] - x[None, :]).sum() / (2 * x.size ** 2 * x.mean())
    assert pm.gini(x) == pytest.approx(mad, rel=1e-12)
    with pytest.raises(ValueError):
        pm.gini(np.array([1.0, -1.0]))
    coeffs = fourier_transform(np.random.default_rng(5).normal(size=(11, 3)))
    norms = frequency_norms(coeffs)
    assert norms.shape == (5,)
    assert np.sum(norms ** 2) + np.sum(coeffs[0] ** 2) == pytest.approx(np.sum(coeffs ** 2))


def test_logit_ablation_and_neuron_logit_decomposition():
    P, freqs = 17, [2, 6]
    data = modular_addition_data(P, 0.3, 0)
    L = planted_logits(P, freqs)
    assert pm.cross_entropy(pm.ablate_input_frequencies(L, [1, 3, 4]), data.labels) == pytest.approx(
        pm.cross_entropy(L, data.labels))
    assert pm.cross_entropy(pm.ablate_input_frequencies(L, freqs), data.labels) == pytest.approx(np.log(P))
    rng = np.random.default_rng(6)
    x = np.arange(P)
    W_L = rng.normal(size=(40, 1)) * np.cos(2 * np.pi * 2 * x / P) + rng.normal(size=(40, 1)) * np.sin(
        2 * np.pi * 6 * x / P)
    dec = pm.neuron_logit_decomposition(W_L + 3.0, freqs)  # a constant logit shift is irrelevant
    assert dec["key_fraction"] == pytest.approx(1.0)
    assert dec["svd_fraction_same_rank"] == pytest.approx(1.0)
    assert pm.neuron_logit_decomposition(W_L, [2])["key_fraction"] < 0.9


def test_trig_fit_recovers_planted_coefficients():
    P = 13
    L = planted_logits(P, [2, 5], scale=3.0, const=np.arange(P, dtype=float))
    L[:, :] += np.random.default_rng(7).normal(size=(P * P, 1))  # per-input shifts are irrelevant
    alpha, fve = pm.trig_fit(L, [2, 5])
    np.testing.assert_allclose(alpha, [3.0, 3.0], atol=1e-10)
    # the class-dependent constant is not of the form cos(w(a+b−c)): it is the unexplained part
    const = np.arange(P) - np.arange(P).mean()
    expected = 2 * 9.0 * (P ** 3 / 2) / (2 * 9.0 * (P ** 3 / 2) + P * P * np.sum(const ** 2))
    assert fve == pytest.approx(expected, rel=1e-10)
    assert pm.trig_fit(planted_logits(P, [2, 5]), [2, 5])[1] == pytest.approx(1.0)


def test_phase_boundaries_on_a_synthetic_grokking_curve():
    t = np.arange(0, 20_001, 100.0)
    log_loss = np.where(t < 1500, np.log(4) + 2.5 * t / 1500,              # memorisation: test loss rises
                        np.where(t < 9000, np.log(4) + 2.5 - 1e-4 * (t - 1500),   # circuit formation: slow
                                 np.maximum(np.log(4) + 1.75 - 2e-3 * (t - 9000), -12.0)))  # cleanup
    ph = pm.phase_boundaries(t, np.exp(log_loss))
    assert ph.status == "ok"
    assert ph.memorisation_end == 1500
    assert abs(ph.cleanup_start - 9000) <= 200
    assert abs(ph.cleanup_end - (9000 + (np.log(4) + 1.75 + 12) / 2e-3)) <= 300
    flat = pm.phase_boundaries(t, np.exp(np.where(t < 1500, np.log(4) + t / 1500, np.log(4) + 1)))
    assert flat.status == "no_cleanup" and flat.cleanup_start is None

