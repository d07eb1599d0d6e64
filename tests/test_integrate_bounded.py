"""Nothing lost, nothing hangs: ``interaction.integrate`` and ``python -m interaction integrate``.

Every run ends: a state that is (at ``t = 0``) or becomes non-finite or overflowed is
reported as ``status = -1`` with a message ("state overflowed at t=..."), a step budget
``max_steps`` bounds the work, and every argument is validated before any work. The
batched integrator reports overflow the same way, as its existing ``NON_FINITE`` outcome. A normal
run gives the same numbers as before.
"""
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from interaction import (DEFAULT_METHOD, METHODS, BatchOutcome, OdeSystem, ThreeScalarSystem,
                         a_high, a_low, final_distance, integrate, integrate_batched)
from interaction.__main__ import main
from interaction.cliutil import run_cli
from interaction import odesolve

PROG = "python -m interaction"
MAX_STATE = getattr(odesolve, "MAX_STATE", 1e100)  # read at test time: the tests fail, not the import
RATES = dict(N=2.0, tau_h=1.0, tau_y=1.0)
SYSTEM = ThreeScalarSystem(S=1.0, **RATES)


@contextmanager
def _deadline(seconds):
    """Fail (instead of hanging the test run) when the body takes longer than ``seconds``."""

    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass(frozen=True)
class _Growth(OdeSystem):
    """dx/dt = rate x: x(t) = x0 e^(rate t), which passes MAX_STATE at t = ln(MAX_STATE/x0)/rate."""

    rate: float
    components: ClassVar[tuple[str, ...]] = ("x",)

    def rhs(self, t, y):
        return self.rate * y


def _cli(*args):
    return ["integrate", *args, "--S", "1", "--N", "2", "--tau-h", "1", "--tau-y", "1",
            "--t-max", "10"]


# ---- huge states: a failure status and a message, never a hang ------------------------------

def test_cli_huge_H0_is_one_line_and_exit_2_within_seconds():
    start = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "interaction",
                          *_cli("--H0", "1e308", "--Y0", "1", "--W0", "1")],
                         capture_output=True, text=True, env=dict(os.environ), timeout=60)
    assert time.monotonic() - start < 60
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and "--H0 must lie in" in res.stderr and "1e+308" in res.stderr


@pytest.mark.parametrize("option", ["--W0", "--Y0"])
def test_cli_huge_W0_or_Y0_is_one_line_and_exit_2(option, capsys):
    values = {"--H0": "1", "--Y0": "1", "--W0": "1", option: "1e308"}
    with _deadline(30), pytest.raises(SystemExit) as info:
        run_cli(main, PROG, _cli(*[x for kv in values.items() for x in kv]))
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert f"{option} must lie in [-{MAX_STATE:g}, {MAX_STATE:g}]" in captured.err


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("coordinates", ["signed", "direct"])
@pytest.mark.parametrize("y0", [(1e308, 1.0, 1.0), (1.0, 1e308, 1.0), (1.0, 1.0, 1e308),
                                (1.0, 1.0, -1e308)])
def test_huge_y0_gives_failure_status_and_message(y0, coordinates, method):
    with _deadline(30):
        res = integrate(SYSTEM, y0, 10.0, method=method, coordinates=coordinates)
    assert res.status == -1 and not res.success
    assert res.message.startswith("state overflowed at t=0 ")
    # nothing was integrated: the result holds the initial (last valid) state only
    assert np.array_equal(res.t, [0.0]) and np.array_equal(res.y[:, 0], y0)
    assert res.nfev == 0 and not res.merged


def test_huge_y0_with_t_eval_and_events_keeps_the_result_shape():
    with _deadline(30):
        res = integrate(SYSTEM, (1e308, 1.0, 1.0), 10.0, t_eval=[0.0, 5.0, 10.0],
                        merger_tol=1e-6, events=lambda t, y: y[2])
    assert res.status == -1 and "overflowed" in res.message
    assert np.array_equal(res.t, [0.0]) and res.y.shape == (3, 1)
    assert len(res.t_events) == len(res.y_events) == 2 and all(te.size == 0 for te in res.t_events)


@pytest.mark.parametrize("method", ["RK45", "DOP853", "LSODA"])
def test_state_overflowing_during_the_run_stops_with_a_message(method):
    rate = 1000.0
    t_over = math.log(MAX_STATE) / rate  # x = e^(rate t) passes MAX_STATE here
    with _deadline(30):
        res = integrate(_Growth(rate=rate), [1.0], 1.0, method=method)
    assert res.status == -1 and not res.success
    match = re.fullmatch(r"state overflowed at t=(\S+) \(.*exceeded 1e\+100 in magnitude\)",
                         res.message)
    assert match, res.message
    assert t_over < float(match.group(1)) < 1.0  # the time of the step that overflowed
    # the result keeps the trajectory up to the last valid state
    assert res.t[-1] <= t_over and np.all(np.abs(res.y) <= MAX_STATE)
    np.testing.assert_allclose(res.y[0], np.exp(rate * res.t), rtol=1e-6)


def test_non_finite_state_is_a_failure_with_a_message():
    @dataclass(frozen=True)
    class _Nan(OdeSystem):
        components: ClassVar[tuple[str, ...]] = ("x",)

        def rhs(self, t, y):
            return np.array([np.nan if t > 0.5 else 1.0])

    with _deadline(30):
        res = integrate(_Nan(), [0.0], 1.0, method="LSODA")  # LSODA would carry NaN to t_max
    assert res.status == -1 and re.match(r"state became non-finite at t=", res.message)
    assert np.all(np.isfinite(res.y))


# ---- a bounded budget of steps ----------------------------------------------------------------

def test_step_budget_stops_the_run_with_a_message():
    res = integrate(SYSTEM, (1.0, 1.0, 1.0), 1e3, max_steps=10)
    assert res.status == -1 and not res.success
    assert res.message.startswith("maximum number of steps (10) reached at t=")
    assert res.t.size == 11 and res.t[-1] < 1e3  # t = 0 and the ten steps taken
    assert odesolve.DEFAULT_MAX_STEPS == 100_000


def test_stiff_huge_but_representable_state_is_bounded_by_the_budget():
    # d = 1e25 makes the flow stiff on a 1e-50 time scale: an explicit method cannot reach
    # t_max, and stops at the budget instead of running for hours
    with _deadline(60):
        res = integrate(SYSTEM, (1e50, 1.0, 1e40), 10.0, method="RK45", max_steps=2000)
    assert res.status == -1 and "maximum number of steps (2000)" in res.message


def test_cli_step_budget_is_a_failed_run_exit_1(capsys):
    status = main(_cli("--H0", "1", "--Y0", "1", "--W0", "1", "--max-steps", "5"))
    summary = json.loads(capsys.readouterr().out)
    assert status == 1 and summary["success"] is False and summary["status"] == -1
    assert summary["message"].startswith("maximum number of steps (5)")
    assert summary["config"]["max_steps"] == 5
    with pytest.raises(SystemExit) as info:
        run_cli(main, PROG, _cli("--H0", "1", "--Y0", "1", "--W0", "1", "--max-steps", "0"))
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "--max-steps must be >= 1" in captured.err


# ---- every argument validated before any work ------------------------------------------------

class _Counting(OdeSystem):
    components = ("x",)
    calls = 0

    def rhs(self, t, y):
        type(self).calls += 1
        return -y


def _events_with_a_number():
    return [lambda t, y: y[0], 3]


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(t_max="10"), r"^t_max must be a real number > 0 \(got '10'\)"),
    (dict(t_max=True), r"^t_max must be a real number > 0"),
    (dict(t_max=[1.0, 2.0]), r"^t_max must be a real number > 0"),
    (dict(t_max=10 ** 400), r"^t_max must be finite"),
    (dict(y0=["1"]), r"^y0 must be an array of real numbers"),
    (dict(y0="1"), r"^y0 must be an array of real numbers"),
    (dict(y0=[1j]), r"^y0 must be an array of real numbers"),
    (dict(y0=[[1.0], [1.0, 2.0]]), r"^y0 must be an array of real numbers"),
    (dict(rtol="1e-6"), r"^rtol must be a real number in \(0.0, 1.0\)"),
    (dict(atol=None), r"^atol must be a real number > 0"),
    (dict(atol=np.ones(2)), r"^atol must be a real number > 0"),
    (dict(method=np.array(["RK45"])), r"^method must be one of 'LSODA'"),
    (dict(t_eval=[]), r"^t_eval must be a non-empty, strictly increasing 1-D array within \[0, t_max\]"),
    (dict(t_eval=["0.5"]), r"^t_eval must be an array of real numbers"),
    (dict(events=3), r"^events must be None, a callable or a sequence of callables"),
    (dict(events=_events_with_a_number()), r"^events\[1\] must be a callable"),
    (dict(merger_tol="0.1"), r"^merger_tol must be None or a real number > 0"),
    (dict(dense_output="yes"), r"^dense_output must be True or False"),
    (dict(coordinates=np.array(["direct"])), r"^coordinates must be one of"),
    (dict(max_steps=0), r"^max_steps must be >= 1"),
    (dict(max_steps=2.5), r"^max_steps must be an integer"),
    (dict(max_steps="10"), r"^max_steps must be an integer"),
])
def test_bad_arguments_raise_naming_the_argument_before_any_work(kwargs, pattern):
    args = dict(y0=[1.0], t_max=1.0)
    args.update(kwargs)
    _Counting.calls = 0
    with pytest.raises(ValueError, match=pattern):
        integrate(_Counting(), args.pop("y0"), args.pop("t_max"), **args)
    assert _Counting.calls == 0


def test_pair_state_strings_are_rejected_not_converted():
    with pytest.raises(ValueError, match="^y0 must be an array of real numbers"):
        integrate(SYSTEM, ("1", 1.0, 1.0), 1.0)


# ---- the batched integrator: the same rule for overflowing states ----------------------------

@pytest.mark.parametrize("coordinates", ["signed", "direct"])
def test_batched_reports_overflow_per_element(coordinates):
    H0 = np.array([1e308, 1.0, 1.0, 1.0])
    Y0 = np.array([1.0, 1e308, 1.0, 1.0])
    W0 = np.array([1.0, 1.0, 1e308, 0.5])
    with _deadline(120):
        res = integrate_batched(SYSTEM, (H0, Y0, W0), 10.0, coordinates=coordinates)
    # the existing outcome of a numerical overflow; before, H0 = 1e308 raised ZeroDivisionError
    assert list(res.outcome[:3]) == [BatchOutcome.NON_FINITE] * 3
    assert np.all(res.status[:3] == -1) and not np.any(res.success[:3])
    assert all(m.startswith("state overflowed") for m in res.message[:3])
    assert np.all(res.nsteps[:3] == 0)
    np.testing.assert_array_equal(res.t_final[:3], 0.0)
    np.testing.assert_allclose(res.y_final[:3], np.stack([H0, Y0, W0], axis=1)[:3], rtol=1e-15)
    # the ordinary element is unaffected by its neighbours
    alone = integrate_batched(SYSTEM, (1.0, 1.0, 0.5), 10.0, coordinates=coordinates)
    assert res.outcome[3] == alone.outcome == BatchOutcome.FINISHED
    np.testing.assert_array_equal(res.y_final[3], alone.y_final)


# ---- normal integration: the same numbers as before ------------------------------------------

def test_normal_integration_is_unchanged_and_matches_closed_forms():
    # exponential decay against its closed form, for every method
    for method in METHODS:
        res = integrate(_Growth(rate=-0.5), [2.0], 10.0, method=method, rtol=1e-10, atol=1e-14)
        assert res.status == 0 and res.message.startswith("The solver successfully")
        np.testing.assert_allclose(res.y[0], 2.0 * np.exp(-0.5 * res.t), rtol=1e-7)
    # eq. 20 to equilibrium against eq. 5's final distance (as tests/test_integrate.py)
    H0, Y0, W0, S = 1.0, 0.5, 0.2, 0.3
    system = ThreeScalarSystem(S=S, **RATES)
    res = integrate(system, (H0, Y0, W0), 500.0)
    A, L = float(a_high(H0, Y0, **RATES)), float(a_low(S, **RATES))
    assert res.status == 0 and DEFAULT_METHOD == "LSODA"
    assert res.H[-1] == pytest.approx(float(final_distance(A, L)), rel=1e-7)
    # the budget only stops runs that need it: a larger one gives bit-identical numbers
    big = integrate(system, (H0, Y0, W0), 500.0, max_steps=10 ** 9, dense_output=True)
    np.testing.assert_array_equal(big.t, res.t)
    np.testing.assert_array_equal(big.y, res.y)
    np.testing.assert_allclose(big.sol(res.t), res.y, rtol=1e-12, atol=1e-14)
