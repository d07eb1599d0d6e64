"""The 2024 two-point system and its mapping onto P25 eq. 20 (interaction/two_point_2024.py)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interaction.closed_form import a_high, a_low, final_distance
from interaction.three_scalar import integrate_three_scalar, rhs_three_scalar
from interaction.two_point_2024 import (TwoPoint2024System, a_high_2024, a_low_2024, from_p25,
                                        h_final_2024, integrate_two_point_2024, to_p25)

pos = st.floats(0.05, 5.0)


@settings(max_examples=60)
@given(eta_h=pos, eta_y=pos, dx2=pos, dy2=st.floats(0.0, 4.0), h=pos, y=st.floats(0.0, 4.0),
       w=st.floats(-3.0, 3.0))
def test_rhs_and_closed_form_map_onto_p25(eta_h, eta_y, dx2, dy2, h, y, w):
    p = to_p25(eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2)
    a, b = 1.0 / p["tau_h"], 1.0 / (p["N"] * p["tau_y"])
    old = TwoPoint2024System(eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2).rhs(0.0, [h, y, w])
    np.testing.assert_allclose(old, rhs_three_scalar(h, y, w, p["S"], a, b), rtol=1e-12,
                               atol=1e-12)
    A = a_high(h, y, N=p["N"], tau_h=p["tau_h"], tau_y=p["tau_y"])
    L = a_low(p["S"], N=p["N"], tau_h=p["tau_h"], tau_y=p["tau_y"])
    np.testing.assert_allclose(a_high_2024(h, y, eta_h=eta_h, eta_y=eta_y, dx2=dx2), A,
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a_low_2024(eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2), L,
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(h_final_2024(h, y, eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2),
                               final_distance(A, L), rtol=1e-10, atol=1e-12)
    back = from_p25(S=p["S"], N=p["N"], tau_h=p["tau_h"], tau_y=p["tau_y"], dx2=dx2)
    np.testing.assert_allclose([back["eta_h"], back["eta_y"], back["dy2"]], [eta_h, eta_y, dy2],
                               rtol=1e-12)


def test_jacobian_matches_finite_differences():
    system = TwoPoint2024System(eta_h=0.3, eta_y=0.7, dx2=2.0, dy2=0.5)
    z = np.array([0.8, 0.6, -0.2])
    J = system.jac(0.0, z)
    eps = 1e-6
    fd = np.column_stack([(system.rhs(0, z + eps * e) - system.rhs(0, z - eps * e)) / (2 * eps)
                          for e in np.eye(3)])
    np.testing.assert_allclose(J, fd, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("h0, y0, w0, dy2", [(1.0, 0.5, 0.2, 0.3), (0.5, 2.0, 2.0, 0.0),
                                             (2.0, 0.3, 0.1, 1.5)])
def test_trajectories_coincide_under_the_mapping(h0, y0, w0, dy2):
    # The 2024 code's route (its literal der, Radau) against P25 eq. 20 under the mapping.
    eta_h, eta_y, dx2 = 0.02, 0.05, 1.7
    t_eval = np.linspace(0, 400, 41)
    kw = dict(eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2, t_max=400.0, t_eval=t_eval)
    old = integrate_two_point_2024(h0, y0, w0, coordinates="direct", method="Radau", **kw)
    p = to_p25(eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2)
    new = integrate_three_scalar(h0, y0, w0, S=p["S"], N=p["N"], tau_h=p["tau_h"],
                                 tau_y=p["tau_y"], t_max=400.0, t_eval=t_eval)
    assert old.success and new.success
    np.testing.assert_allclose(old.H, new.H, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(old.Y, new.Y, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(old.W, new.W, rtol=1e-6, atol=1e-9)
    # in signed coordinates (the default) the 2024 system *is* eq. 20's signed flow
    signed = integrate_two_point_2024(h0, y0, w0, **kw)
    assert signed.success
    np.testing.assert_allclose(signed.y, new.y, rtol=1e-12, atol=1e-15)


def test_bad_input():
    with pytest.raises(ValueError, match="eta_h"):
        to_p25(eta_h=0.0, eta_y=1.0, dx2=1.0, dy2=0.0)
    with pytest.raises(ValueError, match="dy2"):
        TwoPoint2024System(eta_h=1.0, eta_y=1.0, dx2=1.0, dy2=-1.0)
    with pytest.raises(ValueError, match="h0"):
        integrate_two_point_2024(0.0, 1.0, 1.0, eta_h=1, eta_y=1, dx2=1, dy2=0, t_max=1)
