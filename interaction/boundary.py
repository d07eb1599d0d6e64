"""The merger boundary in terms of data and architecture (P25 §3.3, eqs. 8–9; docs/theory.md §3).

With small initial weights and a recurrent map that shrinks distances by ``G < 1``
per step, ``‖dh(0)‖² ∝ G^m`` (``m`` = shorter prefix length) and
``⟨‖dy_i(0)‖²/‖dh(0)‖²⟩ ∝ G^n`` (``n`` = shortest continuation length), so
``A_high < 0`` becomes ``C < N G^(n−m)`` with an unknown architecture constant
``C = c₁ τ_h/(c₂ τ_y)``. Convention (eq. 8): ``m`` = prefix length, ``n`` =
continuation length (eqs. 2 and 10 of P25 swap the letters; docs/theory.md §3.4).
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .checks import check_int, check_interval, check_nonnegative, check_positive
from .odesolve import check_rates


def _check_count(name: str, value: ArrayLike) -> np.ndarray:
    arr = check_nonnegative(name, value)
    if not np.all(arr == np.round(arr)):
        raise ValueError(f"{name} must be a non-negative integer (got non-integer entries)")
    return arr


def merger_condition(C: ArrayLike, N: ArrayLike, G: ArrayLike, m: ArrayLike,
                     n: ArrayLike) -> np.ndarray:
    """P25 eq. 9 (docs/theory.md §3.3): ``C < N · G^(n − m)``, the ``A_high < 0`` part of the merger condition.

    Broadcasts over grids of ``C > 0``, ``N >= 1``, ``G > 0``, prefix length ``m >= 0``
    and continuation length ``n >= 0`` (integers). The full merger condition also
    needs every target difference to vanish (``ỹ_i = 0``, i.e. ``A_low = 0``).
    Evaluated in logarithms so that long prefixes do not underflow.
    """
    C = check_positive("C", C)
    N = check_rates(N, 1.0, 1.0)[0]
    G = check_positive("G", G)
    m = _check_count("m", m)
    n = _check_count("n", n)
    return np.log(C) < np.log(N) + (n - m) * np.log(G)


def critical_prefix_length(C: ArrayLike, N: ArrayLike, G: ArrayLike, n: ArrayLike = 0) -> np.ndarray:
    """Spec §3: ``m* = n + log(C/N)/log(1/G)``; for ``0 < G < 1`` eq. 9 holds iff ``m > m*``.

    Broadcasts over ``C > 0``, ``N >= 1``, ``0 < G < 1`` and ``n >= 0``. ``m*`` is real
    (possibly negative: then every prefix length satisfies the condition).
    """
    C = check_positive("C", C)
    N = check_rates(N, 1.0, 1.0)[0]
    G = check_interval("G", G, 0.0, 1.0, lo_closed=False, hi_closed=False)
    n = _check_count("n", n)
    return n + np.log(C / N) / np.log(1.0 / G)


def shared_continuations(m1: ArrayLike, m2: ArrayLike, L: int, p: ArrayLike = 1.0) -> np.ndarray:
    """Expected number ``N`` of shared continuations of two distinct prefixes (docs/theory.md §3.5, §4.3).

    Data: for each length ``l = 1..L`` a ``Binomial(2^l, p)`` number ``K_l`` of distinct
    binary sequences drawn uniformly without replacement (``p = 1``: all sequences;
    this is ``rnn.parity.data.sample_sequences``). Continuation ``s`` of length
    ``n = 0..L − max(m1, m2)`` is shared when both ``p1·s`` and ``p2·s`` are drawn.

    Exact expectation: if ``m1 ≠ m2`` the two sequences lie in independent levels,
    each drawn with probability ``E[K]/2^l = p``, so ``P(both) = p²``. If ``m1 = m2``
    they are two distinct sequences of the same level ``l`` and the inclusions are
    dependent: ``P(both) = E[K(K−1)]/(2^l (2^l − 1)) = p²`` as well, because
    ``E[K(K−1)] = 2^l (2^l − 1) p²`` for a binomial. Hence, exactly,

        E[N] = p² (2^(L − max(m1, m2) + 1) − 1)   for 1 <= m1, m2 <= L, else 0.

    Broadcasts over prefix lengths ``m1, m2 >= 1`` and fractions ``0 <= p <= 1``.
    """
    m1 = _check_count("m1", m1)
    m2 = _check_count("m2", m2)
    if np.any(m1 < 1) or np.any(m2 < 1):
        raise ValueError("m1 and m2 must be >= 1 (prefix lengths)")
    L = check_int("L", L, minimum=1)
    p = check_interval("p", p, 0.0, 1.0)
    longest = np.maximum(m1, m2)
    count = np.where(longest <= L, np.exp2(L - longest + 1) - 1.0, 0.0)
    return p * p * count
