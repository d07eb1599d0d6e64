"""The real Fourier basis of Z_P (rnn/modular/fourier.py)."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from rnn.modular.fourier import basis_names, fourier_basis, fourier_transform_2d, sum_directions

@given(st.integers(1, 30).map(lambda n: 2 * n + 1))
def test_fourier_basis_is_orthonormal_and_matches_definition(P):
    F = fourier_basis(P)
    assert F.shape == (P, P)
    np.testing.assert_allclose(F @ F.T, np.eye(P), atol=1e-12)
    x = np.arange(P)
    k = (P - 1) // 2
    np.testing.assert_allclose(F[2 * k - 1] * np.sqrt(P / 2), np.cos(2 * np.pi * k * x / P), atol=1e-12)
    np.testing.assert_allclose(F[2 * k] * np.sqrt(P / 2), np.sin(2 * np.pi * k * x / P), atol=1e-12)
    assert len(basis_names(P)) == P


def test_2d_transform_round_trip_and_sum_directions():
    P = 13
    rng = np.random.default_rng(0)
    T = rng.normal(size=(P * P, 3))
    F = fourier_basis(P)
    coeffs = fourier_transform_2d(T)
    np.testing.assert_allclose(np.einsum("fa,gb,fgz->abz", F, F, coeffs).reshape(P * P, 3), T, atol=1e-12)
    a, b = np.divmod(np.arange(P * P), P)
    for k in (1, 4, 6):
        U = sum_directions(P, k)
        np.testing.assert_allclose(U @ U.T, np.eye(2), atol=1e-12)
        w = 2 * np.pi * k / P
        for u, f in zip(U, (np.cos, np.sin)):  # u ∝ cos/sin(w(a+b)), unit norm
            target = f(w * (a + b))
            np.testing.assert_allclose(u, target / np.linalg.norm(target), atol=1e-12)
