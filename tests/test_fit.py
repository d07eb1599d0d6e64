"""Least-squares fit of the effective rates (interaction/fit.py)."""
import numpy as np
import pytest

from interaction.fit import fit_rates
from interaction.three_scalar import integrate_three_scalar

TAU_H, TAU_Y = 1.7, 0.63
PAIRS = [dict(H0=1.0, Y0=0.8, W0=0.5, S=0.3, N=3), dict(H0=0.5, Y0=0.6, W0=0.6, S=0.0, N=2)]
T = np.linspace(0.0, 30.0, 61)


def _synthetic():
    out = []
    for pair in PAIRS:
        r = integrate_three_scalar(pair["H0"], pair["Y0"], pair["W0"], S=pair["S"], N=pair["N"],
                                   tau_h=TAU_H, tau_y=TAU_Y, t_max=T[-1], t_eval=T)
        assert r.success
        out.append(r)
    return out


def test_recovers_rates_from_exact_trajectories():
    trajs = _synthetic()
    fit = fit_rates([T, T], [r.H for r in trajs], [r.Y for r in trajs], [r.W for r in trajs],
                    S=[p["S"] for p in PAIRS], N=[p["N"] for p in PAIRS], dx2=2.0)
    assert fit.success, fit.message
    np.testing.assert_allclose([fit.tau_h, fit.tau_y], [TAU_H, TAU_Y], rtol=1e-6)
    assert fit.residual < 1e-7 and fit.n_trajectories == 2
    np.testing.assert_allclose([fit.eta_h, fit.eta_y], [1 / (2 * TAU_H * 2.0), 1 / (2 * TAU_Y)],
                               rtol=1e-6)


def test_recovers_rates_from_one_trajectory_with_pinned_initial_state():
    r = _synthetic()[0]
    fit = fit_rates(T + 5.0, r.H, r.Y, r.W, S=PAIRS[0]["S"], N=PAIRS[0]["N"], fit_initial=False)
    assert fit.success, fit.message
    np.testing.assert_allclose([fit.tau_h, fit.tau_y], [TAU_H, TAU_Y], rtol=1e-6)


def test_noisy_trajectories_give_consistent_estimates_and_errors():
    rng = np.random.default_rng(0)
    trajs = _synthetic()
    noisy = lambda x: x + 0.005 * np.max(np.abs(x)) * rng.normal(size=x.shape)  # noqa: E731
    fit = fit_rates([T, T], [noisy(r.H) for r in trajs], [noisy(r.Y) for r in trajs],
                    [noisy(r.W) for r in trajs], S=[p["S"] for p in PAIRS],
                    N=[p["N"] for p in PAIRS])
    assert fit.success, fit.message
    for est, se, true in ((fit.tau_h, fit.se_tau_h, TAU_H), (fit.tau_y, fit.se_tau_y, TAU_Y)):
        assert 0 < se < 0.05 * true
        assert abs(est - true) < 4 * se
    # Residual RMS ≈ the injected noise level (0.5% of each variable's scale).
    assert 0.003 < fit.residual < 0.008


def test_bad_input():
    r = _synthetic()[0]
    with pytest.raises(ValueError, match="H"):
        fit_rates(T, -r.H, r.Y, r.W, S=0.3, N=3, fit_initial=False)
    with pytest.raises(ValueError, match="W"):
        fit_rates(T, r.H, r.Y, np.full_like(T, np.nan), S=0.3, N=3)
    with pytest.raises(ValueError, match="t"):
        fit_rates(T[::-1], r.H, r.Y, r.W, S=0.3, N=3)
    with pytest.raises(ValueError, match="S"):
        fit_rates([T, T], [r.H, r.H], [r.Y, r.Y], [r.W, r.W], S=[0.3], N=3)
    with pytest.raises(ValueError, match="N"):
        fit_rates(T, r.H, r.Y, r.W, S=0.3, N=0.5)


def test_optimum_on_search_bound_is_reported_as_failure():
    r = _synthetic()[0]
    fit = fit_rates(T, r.H, r.Y, r.W, S=PAIRS[0]["S"], N=PAIRS[0]["N"], tau_h0=100 * TAU_H,
                    tau_y0=TAU_Y, search_decades=0.5)
    assert not fit.success and "bound" in fit.message
