"""Cell-level merger prediction and the fit of C (validation/merger_phase_diagram/boundary_fit.py) on data with a known C."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from interaction.boundary import merger_condition, shared_continuations
from rnn.parity.data import all_sequences
from validation.merger_phase_diagram.boundary_fit import (
    agreement,
    fit_merger_constant,
    merger_score,
    predicted_regime,
)


def _shared_by_enumeration(m1: int, m2: int, L: int) -> int:
    """Count continuations s with both p1·s and p2·s in the full data set (p = 1), by listing them."""
    data = set(all_sequences(L).labels())
    p1, p2 = "0" * m1, "1" * m2   # any two distinct prefixes of these lengths
    n = 0
    for k in range(0, L - max(m1, m2) + 1):
        for tail in itertools.product("01", repeat=k):
            s = "".join(tail)
            n += (p1 + s in data) and (p2 + s in data)
    return n


@pytest.mark.parametrize("G", [0.2, 0.45, 0.55, 0.9])
def test_score_matches_brute_force_over_prefix_pairs_at_full_data(G):
    L = 6
    best = max(np.log(_shared_by_enumeration(m1, m2, L)) - m1 * np.log(G)
               for m1 in range(1, L + 1) for m2 in range(m1 + 1, L + 1))
    np.testing.assert_allclose(merger_score(G, 1.0, L), best, rtol=1e-12)


@given(G=st.floats(0.05, 0.95), p=st.floats(0.05, 1.0), log_C=st.floats(-3.0, 12.0))
def test_prediction_equals_eq9_for_some_interacting_pair_of_different_lengths(G, p, log_C):
    """score > log C  <=>  eq. 9 (interaction.boundary.merger_condition) holds for some m1 < m2 with E[N] >= 1."""
    L = 7
    pairs = [(m1, m2) for m1 in range(1, L + 1) for m2 in range(m1 + 1, L + 1)]
    N = np.array([shared_continuations(m1, m2, L, p) for m1, m2 in pairs])
    m = np.array([m1 for m1, _ in pairs])
    usable = N >= 1
    via_eq9 = bool(usable.any()) and bool(np.any(merger_condition(np.exp(log_C), N[usable], G, m[usable], 0)))
    assert bool(predicted_regime(merger_score(G, p, L), log_C)) == via_eq9


def test_score_is_minus_infinity_when_no_pair_shares_a_continuation():
    # L = 3, p = 0.3: the best pair (1, 2) expects p^2 (2^2 - 1) = 0.27 < 1 shared continuations.
    assert merger_score(0.3, 0.3, 3) == -np.inf
    assert np.isfinite(merger_score(0.3, 0.6, 3))   # 0.36 * 3 = 1.08 >= 1


def test_score_monotone_in_data_and_weight_scale():
    G = np.linspace(0.1, 0.95, 12)[:, None]
    p = np.linspace(0.1, 1.0, 10)[None, :]
    S = merger_score(G, p, 10)
    assert S.shape == (12, 10) and np.all(np.isfinite(S))
    assert np.all(np.diff(S, axis=1) > 0)   # more data: more mergers
    assert np.all(np.diff(S, axis=0) < 0)   # larger G (weights): fewer mergers


def test_less_data_shortens_the_longest_interacting_prefix():
    """For G < 1/2 the best pair is (m, m+1) with the largest m having E[N] >= 1: m <= L - log2(1 + 1/p^2)."""
    L, G = 10, 0.01
    for p in (1.0, 0.5, 0.2, 0.1):
        m = int(np.floor(L - np.log2(1 + 1 / p**2)))
        expected = np.log(p * p * (2.0 ** (L - m) - 1)) - m * np.log(G)
        np.testing.assert_allclose(merger_score(G, p, L), expected, rtol=1e-12)


def test_fit_recovers_known_C_from_separable_cells():
    rng = np.random.default_rng(1)
    score = rng.uniform(0.0, 20.0, 400)
    log_C_true = 7.3
    fit = fit_merger_constant(score, score > log_C_true, n_bootstrap=200, seed=0)
    assert fit.status == "fitted" and fit.agreement == 1.0
    below, above = score[score <= log_C_true].max(), score[score > log_C_true].min()
    assert fit.log_C_range == (below, above)
    assert below < fit.log_C < above
    assert fit.log_C_interval[0] <= log_C_true <= fit.log_C_interval[1] + 0.5


def test_fit_with_label_noise_stays_near_true_C_and_reports_spread():
    rng = np.random.default_rng(2)
    score = rng.uniform(0.0, 20.0, 2000)
    log_C_true = 11.0
    # Logistic noise around the true boundary: cells near it are often misclassified.
    observed = rng.random(score.size) < 1 / (1 + np.exp(-(score - log_C_true) / 0.7))
    fit = fit_merger_constant(score, observed, n_bootstrap=300, seed=0)
    assert fit.status == "fitted"
    assert abs(fit.log_C - log_C_true) < 0.6
    lo, hi = fit.log_C_interval
    assert lo < hi and hi - lo < 2.0
    assert 0.85 < fit.agreement < 1.0
    assert fit.agreement == agreement(score, observed, fit.log_C)


def test_one_sided_data_give_a_bound_not_a_number():
    score = np.linspace(1.0, 5.0, 9)
    every = fit_merger_constant(score, np.ones(9, bool), n_bootstrap=50)
    assert every.status == "upper_bound" and np.isnan(every.log_C)
    assert every.log_C_range == (-np.inf, 1.0) and every.agreement == 1.0
    none = fit_merger_constant(score, np.zeros(9, bool), n_bootstrap=50)
    assert none.status == "lower_bound" and none.log_C_range == (5.0, np.inf)


def test_cells_without_possible_mergers_sit_below_every_threshold():
    score = np.array([-np.inf, -np.inf, 2.0, 3.0, 4.0, 5.0])
    observed = np.array([False, False, False, True, True, True])
    fit = fit_merger_constant(score, observed, n_bootstrap=50)
    assert fit.status == "fitted" and fit.log_C_range == (2.0, 3.0) and fit.agreement == 1.0
    # If every finite-score cell generalised, only an upper bound on log C is known, and the
    # -inf cells are still predicted not to generalise.
    only_finite = fit_merger_constant(score, np.isfinite(score), n_bootstrap=0)
    assert only_finite.status == "upper_bound" and only_finite.log_C_range == (-np.inf, 2.0)
    assert only_finite.agreement == 1.0
    np.testing.assert_array_equal(predicted_regime(score, only_finite.decision_log_C), np.isfinite(score))


def test_no_interacting_pair_anywhere_leaves_C_unconstrained():
    fit = fit_merger_constant(np.full(4, -np.inf), np.array([False, False, True, False]), n_bootstrap=10)
    assert fit.status == "unconstrained" and np.isnan(fit.log_C) and fit.agreement == 0.75
    assert not predicted_regime(np.full(4, -np.inf), fit.decision_log_C).any()


def test_anti_theory_data_give_low_agreement():
    """If observations run against the theory's direction the fit cannot hide it."""
    score = np.linspace(0.0, 10.0, 50)
    fit = fit_merger_constant(score, score < 5.0, n_bootstrap=0)
    assert fit.agreement <= 0.52


@pytest.mark.parametrize("kwargs, match", [
    ({"score": [1.0, np.nan], "observed": np.array([True, False])}, "finite"),
    ({"score": [1.0, np.inf], "observed": np.array([True, False])}, "finite"),
    ({"score": [1.0, 2.0], "observed": np.array([1, 0])}, "boolean"),
    ({"score": [1.0], "observed": np.array([True, False])}, "equal size"),
])
def test_fit_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_merger_constant(**kwargs)


def test_score_rejects_bad_input():
    with pytest.raises(ValueError, match="G"):
        merger_score(0.0, 0.5, 10)
    with pytest.raises(ValueError, match="p"):
        merger_score(0.5, 0.0, 10)
    with pytest.raises(ValueError, match="L"):
        merger_score(0.5, 0.5, 1)
