"""Merger boundary (P25 eq. 9, docs/theory.md §3) and the expected number of shared continuations."""
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from interaction.boundary import critical_prefix_length, merger_condition, shared_continuations
from interaction.closed_form import a_high


@given(C=st.floats(0.01, 100.0), N=st.floats(1.0, 1000.0), G=st.floats(0.05, 0.95),
       m=st.integers(0, 30), n=st.integers(0, 10))
def test_condition_matches_critical_prefix_length_and_a_high_sign(C, N, G, m, n):
    m_star = float(critical_prefix_length(C, N, G, n))
    if abs(m - m_star) > 1e-9 * (1 + abs(m_star)):  # away from the tie
        assert bool(merger_condition(C, N, G, m, n)) == (m > m_star)
    # eq. 9 is A_high < 0 under the scalings ||dh||² = c1 G^m, <||dy||²/||dh||²> = c2 G^n,
    # C = c1 τ_h/(c2 τ_y): build such an A_high directly (c2 = 1, τ_y = 1, τ_h = C/c1, c1 = 1)
    H0 = G ** m
    Y0 = H0 * G ** n
    A = float(a_high(H0, Y0, N=N, tau_h=C, tau_y=1.0))
    if abs(A) > 1e-9 * H0:
        assert bool(merger_condition(C, N, G, m, n)) == (A < 0)


def test_grid_broadcasting_and_no_underflow():
    G = np.linspace(0.1, 0.9, 9)[:, None, None]
    N = np.array([1, 7, 2047])[None, :, None]
    m = np.arange(0, 11)[None, None, :]
    grid = merger_condition(2.0, N, G, m, 0)
    assert grid.shape == (9, 3, 11) and grid.dtype == bool
    # monotone: longer prefixes and more data make mergers easier
    assert np.all(np.diff(grid.astype(int), axis=2) >= 0)
    assert np.all(np.diff(grid.astype(int), axis=1) >= 0)
    assert bool(merger_condition(1e300, 1.0, 1e-5, 1000, 0))  # G^-1000 is far beyond float range


def _prefix_pairs(L):
    for m1, m2 in itertools.product(range(1, L + 1), repeat=2):
        yield m1, m2


def test_full_data_count_by_enumeration():
    L = 6
    data = {tuple(s) for l in range(1, L + 1) for s in itertools.product((0, 1), repeat=l)}
    for m1, m2 in _prefix_pairs(L):
        p1, p2 = (0,) * m1, (1,) * m2  # two distinct prefixes of the given lengths
        shared = sum(1 for n in range(0, L + 1) for s in itertools.product((0, 1), repeat=n)
                     if p1 + s in data and p2 + s in data)
        assert shared_continuations(m1, m2, L) == shared
        assert shared == 2 ** (L - max(m1, m2) + 1) - 1


@pytest.mark.parametrize("m1, m2, p", [(2, 2, 0.3), (1, 3, 0.5), (3, 3, 0.8), (2, 4, 0.15)])
def test_binomial_draw_expectation_against_monte_carlo(m1, m2, p):
    # data: for each length l, K ~ Binomial(2^l, p) distinct sequences drawn without replacement
    L, trials = 6, 20000
    rng = np.random.default_rng(12345)
    v1, v2 = 0, 2 ** m2 - 1  # prefixes 00..0 and 11..1 as integers (first token = top bit)
    counts = np.zeros(trials)
    for n in range(0, L - max(m1, m2) + 1):
        chosen = {}
        for level in {m1 + n, m2 + n}:
            size = 2 ** level
            K = rng.binomial(size, p, trials)
            rank = np.argsort(rng.random((trials, size)), axis=1).argsort(axis=1)
            chosen[level] = rank < K[:, None]  # a uniformly random K-subset per trial
        for s in range(2 ** n):
            counts += chosen[m1 + n][:, v1 * 2 ** n + s] & chosen[m2 + n][:, v2 * 2 ** n + s]
    expected = float(shared_continuations(m1, m2, L, p))
    assert expected == pytest.approx(p * p * (2 ** (L - max(m1, m2) + 1) - 1), rel=1e-15)
    stderr = counts.std(ddof=1) / np.sqrt(trials)
    assert abs(counts.mean() - expected) < 4 * stderr


def test_shared_continuations_broadcast_and_validate():
    out = shared_continuations(np.array([1, 2, 11]), 3, 10, np.array([[1.0], [0.5]]))
    np.testing.assert_allclose(out, [[255, 255, 0], [63.75, 63.75, 0]])
    for call, name in [(lambda: shared_continuations(0, 1, 5), "m1"),
                       (lambda: shared_continuations(1, 1.5, 5), "m2"),
                       (lambda: shared_continuations(1, 1, 0), "L"),
                       (lambda: shared_continuations(1, 1, 5, 1.5), "p"),
                       (lambda: merger_condition(0.0, 1, 0.5, 1, 0), "C"),
                       (lambda: merger_condition(1.0, 0.5, 0.5, 1, 0), "N"),
                       (lambda: merger_condition(1.0, 1, -0.5, 1, 0), "G"),
                       (lambda: merger_condition(1.0, 1, 0.5, -1, 0), "m"),
                       (lambda: critical_prefix_length(1.0, 1, 1.0), "G")]:
        with pytest.raises(ValueError, match=f"^{name}"):
            call()
