"""The numba kernel of ``interaction.batched``: Dormand–Prince 5(4) with scipy ``RK45``'s control.

One element is integrated by ``_integrate_one`` with the Butcher tableau, error
weights, quartic dense output, initial-step heuristic (Hairer, Nørsett & Wanner,
*Solving ODEs I*, §II.4) and step-size controller of ``scipy.integrate.RK45``
(scipy 1.17's ``rk.py``), written out as scalar loops so that numba compiles one
tight loop over a whole parameter grid. Because the arithmetic is the same but the
summation order of the stage sums is not (scipy uses ``np.dot``), results agree with
``solve_ivp(..., method="RK45")`` to round-off per step; an accept/reject decision
whose error norm lies within round-off of 1 can flip, after which the two step
sequences differ (still within tolerance) — see ``tests/test_batched.py``.

The systems are P25 eq. 20 and eq. 23, each in direct or signed-distance
coordinates (docs/theory.md §2.1, §2.2, §4.1), selected by an integer code because
numba cannot dispatch on Python objects inside the compiled loop.
"""
from __future__ import annotations

from enum import IntEnum

import numpy as np
from numba import njit

from .odesolve import MAX_STATE
from .reduced import rhs_reduced
from .three_scalar import rhs_three_scalar, rhs_three_scalar_signed


class BatchOutcome(IntEnum):
    """Per-element outcome in detail; ``>= 0`` is a success. ``status`` (scipy's code) is ``max(outcome, -1)``."""

    FINISHED = 0          #: reached t_max
    MERGED = 1            #: terminal merger event H = merger_tol
    MAX_STEPS = -1        #: step limit reached before t_max
    STEP_UNDERFLOW = -2   #: step size fell below 10 ulp of t (stiff / singular)
    NON_FINITE = -3       #: right-hand side non-finite at every trial step size, or the state
    #: non-finite or overflowed (a component beyond MAX_STATE) at the start or after a step
    LEFT_DOMAIN = -4      #: direct coordinates: an accepted step reached H <= 0


OUTCOME_MESSAGES = {
    BatchOutcome.FINISHED: "reached t_max",
    BatchOutcome.MERGED: "merger event: H reached merger_tol",
    BatchOutcome.MAX_STEPS: "maximum number of steps reached before t_max",
    BatchOutcome.STEP_UNDERFLOW: "required step size is less than spacing between numbers",
    BatchOutcome.NON_FINITE: (f"state overflowed or right-hand side became non-finite (a component "
                              f"of the integrated state beyond {MAX_STATE:g} in magnitude, or an "
                              f"infinite derivative)"),
    BatchOutcome.LEFT_DOMAIN: "solution left the domain H > 0",
}

# System codes: eq. 20 / eq. 23, each in direct (H, ...) or signed-distance coordinates.
THREE_SCALAR, REDUCED, THREE_SCALAR_SIGNED, REDUCED_SIGNED = 0, 1, 2, 3

# Dormand–Prince 5(4) tableau, error weights and dense-output matrix, as in scipy's RK45.
_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0])
_A = np.array([
    [0.0, 0.0, 0.0, 0.0, 0.0],
    [1 / 5, 0.0, 0.0, 0.0, 0.0],
    [3 / 40, 9 / 40, 0.0, 0.0, 0.0],
    [44 / 45, -56 / 15, 32 / 9, 0.0, 0.0],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0.0],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
])
_B = np.array([35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84])
_E = np.array([-71 / 57600, 0.0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40])
_P = np.array([
    [1.0, -8048581381 / 2820520608, 8663915743 / 2820520608, -12715105075 / 11282082432],
    [0.0, 0.0, 0.0, 0.0],
    [0.0, 131558114200 / 32700410799, -68118460800 / 10900136933, 87487479700 / 32700410799],
    [0.0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072],
    [0.0, 127303824393 / 49829197408, -318862633887 / 49829197408, 701980252875 / 199316789632],
    [0.0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844],
    [0.0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423],
])
_SAFETY, _MIN_FACTOR, _MAX_FACTOR = 0.9, 0.2, 10.0
_ERROR_EXPONENT = -1.0 / 5.0


@njit(cache=True)
def _rhs(system: int, y: np.ndarray, p: np.ndarray, out: np.ndarray) -> None:
    """Right-hand side in internal coordinates; ``p`` = (S, a, b) or (A_high, A_low, a, b)."""
    if system == THREE_SCALAR:
        out[0], out[1], out[2] = rhs_three_scalar(y[0], y[1], y[2], p[0], p[1], p[2])
    elif system == REDUCED:
        out[0], out[1] = rhs_reduced(y[0], y[1], p[0], p[1], p[2], p[3])
    elif system == THREE_SCALAR_SIGNED:
        out[0], out[1], out[2] = rhs_three_scalar_signed(y[0], y[1], y[2], p[0], p[1], p[2])
    else:
        # Eq. 23 in signed coordinates (d, v): eq. 20's signed flow with q = Y/H and S
        # eliminated by the invariants, q = (d² − A_high) b/a (eq. 22), S = A_low² b/a (eq. 25).
        A, L, a, b = p[0], p[1], p[2], p[3]
        dd, _, dv = rhs_three_scalar_signed(y[0], (y[0] * y[0] - A) * b / a, y[1],
                                            L * L * b / a, a, b)
        out[0] = dd
        out[1] = dv


@njit(cache=True)
def _public(system: int, z: np.ndarray, p: np.ndarray, out: np.ndarray) -> None:
    """Public variables (H, Y, W) or (H, W) from internal coordinates.

    Signed coordinates (``rhs_three_scalar_signed``): ``d = ±sqrt(H)``, ``q = Y/H``,
    ``v = W/d``, so ``H = d²``, ``Y = q d²``, ``W = v d``.
    """
    if system == THREE_SCALAR_SIGNED:
        out[0] = z[0] * z[0]
        out[1] = z[1] * z[0] * z[0]
        out[2] = z[2] * z[0]
    elif system == REDUCED_SIGNED:
        out[0] = z[0] * z[0]
        out[1] = z[1] * z[0]
    else:
        out[:] = z


@njit(cache=True)
def _all_finite(x: np.ndarray) -> bool:
    for v in x:
        if not np.isfinite(v):
            return False
    return True


@njit(cache=True)
def _within_range(x: np.ndarray) -> bool:
    """Every component finite and at most ``MAX_STATE`` in magnitude (``interaction.integrate``'s rule)."""
    for v in x:
        if not abs(v) <= MAX_STATE:
            return False
    return True


@njit(cache=True)
def _rms_scaled(x: np.ndarray, scale: np.ndarray) -> float:
    s = 0.0
    for k in range(x.shape[0]):
        s += (x[k] / scale[k]) ** 2
    return np.sqrt(s / x.shape[0])


@njit(cache=True)
def _dense(y_old: np.ndarray, h: float, Q: np.ndarray, x: float, out: np.ndarray) -> None:
    """Quartic dense output ``y_old + h Σ_k Q[:, k] x^(k+1)`` at ``x = (t − t_old)/h``."""
    for k in range(y_old.shape[0]):
        acc = 0.0
        xp = x
        for j in range(4):
            acc += Q[k, j] * xp
            xp *= x
        out[k] = y_old[k] + h * acc


@njit(cache=True)
def _initial_step(system, y0, f0, p, t_bound, rtol, atol, work, fwork):
    """scipy's ``select_initial_step`` (Hairer et al. II.4) for order-4 error estimation."""
    n = y0.shape[0]
    scale = np.empty(n)
    for k in range(n):
        scale[k] = atol + abs(y0[k]) * rtol
    d0 = _rms_scaled(y0, scale)
    d1 = _rms_scaled(f0, scale)
    h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    h0 = min(h0, t_bound)
    for k in range(n):
        work[k] = y0[k] + h0 * f0[k]
    _rhs(system, work, p, fwork)
    for k in range(n):
        work[k] = fwork[k] - f0[k]
    # h0 = 0 when d1 overflowed (a huge derivative): then d2 is infinite, not a division by zero.
    d2 = _rms_scaled(work, scale) / h0 if h0 > 0.0 else np.inf
    if not np.isfinite(d2):
        # The trial point left the domain (H <= 0): start small and let control take over.
        h1 = h0 * 1e-3
    elif d1 <= 1e-15 and d2 <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** (1.0 / 5.0)
    return min(100.0 * h0, h1, t_bound)


@njit(cache=True)
def _integrate_one(system, y0, p, t_bound, merger_tol, t_eval, rtol, atol, max_steps,
                   y_out, saved, counters):
    """Integrate one element; returns ``(outcome, t_final, t_merge, t_first_crossing)``.

    ``y0`` is in internal coordinates; ``y_out`` receives the final public state,
    ``saved`` (n, n_t) the public states at ``t_eval`` (NaN where not reached),
    ``counters`` = [steps, rhs evaluations, rejections, crossings].
    """
    signed = system == THREE_SCALAR_SIGNED or system == REDUCED_SIGNED
    n = y0.shape[0]
    n_t = t_eval.shape[0]
    K = np.empty((7, n))
    Q = np.empty((n, 4))
    y = y0.copy()
    y_new = np.empty(n)
    f = np.empty(n)
    tmp = np.empty(n)
    scale = np.empty(n)
    err = np.empty(n)
    pub = np.empty(n)
    t = 0.0
    t_merge = np.nan
    t_cross = np.nan
    _public(system, y0, p, pub)
    j = 0  # next t_eval index to fill
    while j < n_t and t_eval[j] <= 0.0:
        saved[:, j] = pub
        j += 1

    if not _within_range(y):
        y_out[:] = pub
        return BatchOutcome.NON_FINITE, t, t_merge, t_cross
    _rhs(system, y, p, f)
    counters[1] += 1
    if not _all_finite(f):
        y_out[:] = pub
        return BatchOutcome.NON_FINITE, t, t_merge, t_cross
    h_abs = _initial_step(system, y, f, p, t_bound, rtol, atol, tmp, err)
    counters[1] += 1

    outcome = BatchOutcome.FINISHED
    while t < t_bound:
        if counters[0] >= max_steps:
            outcome = BatchOutcome.MAX_STEPS
            break
        min_step = 10.0 * abs(np.nextafter(t, np.inf) - t)
        if h_abs < min_step:
            h_abs = min_step
        accepted = False
        rejected = False
        nonfinite = False
        h = 0.0
        t_new = t
        while not accepted:
            if h_abs < min_step:
                break
            t_new = t + h_abs
            if t_new > t_bound:
                t_new = t_bound
            h = t_new - t
            h_abs = abs(h)
            # Runge-Kutta stages (scipy's rk_step).
            K[0, :] = f
            for s in range(1, 6):
                for k in range(n):
                    acc = 0.0
                    for q in range(s):
                        acc += K[q, k] * _A[s, q]
                    tmp[k] = y[k] + acc * h
                _rhs(system, tmp, p, K[s])
            for k in range(n):
                acc = 0.0
                for q in range(6):
                    acc += K[q, k] * _B[q]
                y_new[k] = y[k] + h * acc
            _rhs(system, y_new, p, K[6])
            counters[1] += 6
            for k in range(n):
                acc = 0.0
                for q in range(7):
                    acc += K[q, k] * _E[q]
                err[k] = acc * h
                scale[k] = atol + max(abs(y[k]), abs(y_new[k])) * rtol
            error_norm = _rms_scaled(err, scale)
            if not np.isfinite(error_norm):
                nonfinite = True
                h_abs *= _MIN_FACTOR
                rejected = True
                counters[2] += 1
            elif error_norm < 1.0:
                if error_norm == 0.0:
                    factor = _MAX_FACTOR
                else:
                    factor = min(_MAX_FACTOR, _SAFETY * error_norm ** _ERROR_EXPONENT)
                if rejected:
                    factor = min(1.0, factor)
                h_abs *= factor
                accepted = True
            else:
                nonfinite = False
                h_abs *= max(_MIN_FACTOR, _SAFETY * error_norm ** _ERROR_EXPONENT)
                rejected = True
                counters[2] += 1
        if not accepted:
            outcome = BatchOutcome.NON_FINITE if nonfinite else BatchOutcome.STEP_UNDERFLOW
            break
        if not _within_range(y_new):  # overflowed: keep the last valid state, as integrate
            outcome = BatchOutcome.NON_FINITE
            break
        counters[0] += 1
        # Dense output Q = Kᵀ P (scipy's RkDenseOutput).
        for k in range(n):
            for c in range(4):
                acc = 0.0
                for q in range(7):
                    acc += K[q, k] * _P[q, c]
                Q[k, c] = acc
        t_end = t_new
        H_old = y[0] * y[0] if signed else y[0]
        H_new = y_new[0] * y_new[0] if signed else y_new[0]
        if signed and y[0] * y_new[0] <= 0.0 and y[0] != 0.0:
            # The signed distance passed through 0: the representations crossed.
            counters[3] += 1
            if counters[3] == 1:
                lo, hi = 0.0, 1.0
                for _ in range(60):
                    mid = 0.5 * (lo + hi)
                    _dense(y, h, Q, mid, tmp)
                    if tmp[0] * y[0] > 0.0:
                        lo = mid
                    else:
                        hi = mid
                t_cross = t + hi * h
        merged = merger_tol > 0.0 and H_old > merger_tol and H_new <= merger_tol
        if merged:
            # Locate H(t) = merger_tol on the dense-output polynomial by bisection in x
            # (scipy's event semantics: sign change of H − merger_tol between step ends).
            lo, hi = 0.0, 1.0
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                _dense(y, h, Q, mid, tmp)
                H_mid = tmp[0] * tmp[0] if signed else tmp[0]
                if H_mid > merger_tol:
                    lo = mid
                else:
                    hi = mid
            t_end = t + hi * h
            t_merge = t_end
            outcome = BatchOutcome.MERGED
        elif not signed and H_new <= 0.0:
            outcome = BatchOutcome.LEFT_DOMAIN
            break
        while j < n_t and t_eval[j] <= t_end:
            _dense(y, h, Q, (t_eval[j] - t) / h, tmp)
            _public(system, tmp, p, pub)
            saved[:, j] = pub
            j += 1
        if merged:
            _dense(y, h, Q, (t_end - t) / h, tmp)
            y[:] = tmp
            t = t_end
            break
        t = t_new
        y[:] = y_new
        f[:] = K[6]
    _public(system, y, p, y_out)
    return outcome, t, t_merge, t_cross


@njit(cache=True)
def integrate_batch(system, y0, params, t_bound, merger_tol, t_eval, rtol, atol, max_steps,
                    y_final, t_final, outcome, t_merge, t_cross, saved, counters):
    """Integrate each row of ``y0`` (one element, its own ``params``, ``t_bound``, ``merger_tol``)
    and write the per-element results into the output arrays in place."""
    for m in range(y0.shape[0]):
        st, tf, tm, tc = _integrate_one(system, y0[m], params[m], t_bound[m], merger_tol[m],
                                        t_eval, rtol, atol, max_steps, y_final[m], saved[m],
                                        counters[m])
        outcome[m] = st
        t_final[m] = tf
        t_merge[m] = tm
        t_cross[m] = tc
