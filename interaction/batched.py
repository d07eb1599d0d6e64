"""Batched adaptive integration of P25 eq. 20 and eq. 23 over many parameter sets at once.

A grid of 10⁴ parameter points is integrated in one numba-compiled loop, each
element with its own adaptive step-size control. The method is the explicit
Dormand–Prince 5(4) pair with exactly the step-size controller, initial-step
heuristic, quartic dense output and error norm of ``scipy.integrate.solve_ivp``'s
``RK45`` (Hairer, Nørsett & Wanner, *Solving ODEs I*, §II.4), so an element and the
corresponding ``solve_ivp(..., method="RK45")`` call take the same steps and agree
to round-off; the batched loop only removes the Python overhead per step.

Systems (both from spec §2; ``a = 1/τ_h``, ``b = 1/(N τ_y)``):

* ``integrate_three_scalar_batched`` — P25 eq. 20 in ``(H, Y, W)``;
* ``integrate_reduced_batched`` — P25 eq. 23 in ``(H, W)`` with the invariants
  ``A_high``, ``A_low`` (corrected coefficient ``b²/(4a)``).

Coordinates. Eq. 20 is singular at ``H = 0``: besides genuine mergers, trajectories
with ``W/H`` above the stable ray of the origin reach ``H = 0`` in finite time with
``W/H → +∞`` — the two representations pass *through* each other. By default
(``coordinates="signed"``) the flow is integrated in T1's regular polynomial
coordinates ``d = ±sqrt(H)``, ``q = Y/H``, ``v = W/d`` (``rhs_three_scalar_signed``;
eq. 23 likewise in ``(d, v)``), which equal the printed equations wherever ``H > 0``
and continue through crossings; crossings are counted (``n_crossings``, first time
``t_first_crossing``). Step-size control then acts on the internal coordinates.
``coordinates="direct"`` integrates the printed ``(H, Y, W)`` / ``(H, W)`` equations
literally and reports a crossing as the failure ``LEFT_DOMAIN``.

Per element the result carries a status (``BatchStatus``): reached ``t_max``, merged
(terminal event: ``H`` falls to ``merger_tol`` between two step ends — scipy's event
semantics — time located by bisection on the dense-output polynomial), or one of the
failures "step limit", "step size underflow", "non-finite right-hand side" and
"left the domain ``H > 0``" (direct coordinates only). A failed element keeps its
last valid state and is never reported as a success. Note that a crossing whose step
ends with ``H <= merger_tol`` also fires the merger event; ``n_crossings`` tells.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np
from numba import njit

from .checks import check_choice, check_finite, check_int, check_interval, check_nonnegative, check_positive
from .odesolve import check_rates
from .reduced import rhs_reduced
from .three_scalar import rhs_three_scalar, rhs_three_scalar_signed


class BatchStatus(IntEnum):
    """Per-element outcome; ``>= 0`` is a success (scipy's convention)."""

    FINISHED = 0          #: reached t_max
    MERGED = 1            #: terminal merger event H = merger_tol
    MAX_STEPS = -1        #: step limit reached before t_max
    STEP_UNDERFLOW = -2   #: step size fell below 10 ulp of t (stiff / singular)
    NON_FINITE = -3       #: right-hand side non-finite at every trial step size
    LEFT_DOMAIN = -4      #: direct coordinates: an accepted step reached H <= 0


_MESSAGES = {
    BatchStatus.FINISHED: "reached t_max",
    BatchStatus.MERGED: "merger event: H reached merger_tol",
    BatchStatus.MAX_STEPS: "maximum number of steps reached before t_max",
    BatchStatus.STEP_UNDERFLOW: "required step size is less than spacing between numbers",
    BatchStatus.NON_FINITE: "right-hand side became non-finite",
    BatchStatus.LEFT_DOMAIN: "solution left the domain H > 0",
}

# System codes: eq. 20 / eq. 23, each in direct (H, ...) or signed-distance coordinates.
_THREE_SCALAR, _REDUCED, _THREE_SCALAR_SIGNED, _REDUCED_SIGNED = 0, 1, 2, 3

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
    if system == _THREE_SCALAR:
        out[0], out[1], out[2] = rhs_three_scalar(y[0], y[1], y[2], p[0], p[1], p[2])
    elif system == _REDUCED:
        out[0], out[1] = rhs_reduced(y[0], y[1], p[0], p[1], p[2], p[3])
    elif system == _THREE_SCALAR_SIGNED:
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
    if system == _THREE_SCALAR_SIGNED:
        out[0] = z[0] * z[0]
        out[1] = z[1] * z[0] * z[0]
        out[2] = z[2] * z[0]
    elif system == _REDUCED_SIGNED:
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
    d2 = _rms_scaled(work, scale) / h0
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
    """Integrate one element; returns ``(status, t_final, t_merge, t_first_crossing)``.

    ``y0`` is in internal coordinates; ``y_out`` receives the final public state,
    ``saved`` (n, n_t) the public states at ``t_eval`` (NaN where not reached),
    ``counters`` = [steps, rhs evaluations, rejections, crossings].
    """
    signed = system == _THREE_SCALAR_SIGNED or system == _REDUCED_SIGNED
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

    _rhs(system, y, p, f)
    counters[1] += 1
    if not _all_finite(f):
        y_out[:] = pub
        return BatchStatus.NON_FINITE, t, t_merge, t_cross
    h_abs = _initial_step(system, y, f, p, t_bound, rtol, atol, tmp, err)
    counters[1] += 1

    status = BatchStatus.FINISHED
    while t < t_bound:
        if counters[0] >= max_steps:
            status = BatchStatus.MAX_STEPS
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
            status = BatchStatus.NON_FINITE if nonfinite else BatchStatus.STEP_UNDERFLOW
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
            status = BatchStatus.MERGED
        elif not signed and H_new <= 0.0:
            status = BatchStatus.LEFT_DOMAIN
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
    return status, t, t_merge, t_cross


@njit(cache=True)
def _integrate_batch(system, y0, params, t_bound, merger_tol, t_eval, rtol, atol, max_steps,
                     y_final, t_final, status, t_merge, t_cross, saved, counters):
    for m in range(y0.shape[0]):
        st, tf, tm, tc = _integrate_one(system, y0[m], params[m], t_bound[m], merger_tol[m],
                                        t_eval, rtol, atol, max_steps, y_final[m], saved[m],
                                        counters[m])
        status[m] = st
        t_final[m] = tf
        t_merge[m] = tm
        t_cross[m] = tc


@dataclass(frozen=True)
class BatchedResult:
    """Outcome of a batched integration; arrays have the broadcast batch shape in front.

    ``t`` is the saving grid (``t_eval``; empty if none) and ``y`` the saved states with
    shape ``batch + (n_variables, len(t))`` (NaN after an element stopped or beyond its
    ``t_max``). ``t_final``/``y_final`` are where each element stopped; ``t_merge`` is the
    merger time (NaN if none). ``status`` holds ``BatchStatus`` codes. ``n_crossings``
    counts passages of the signed distance through 0 (signed coordinates; always 0 in
    direct coordinates, where a crossing is the failure ``LEFT_DOMAIN``) and
    ``t_first_crossing`` is the first one's time (NaN if none).
    """

    variables: tuple[str, ...]
    t: np.ndarray
    y: np.ndarray
    t_final: np.ndarray
    y_final: np.ndarray
    t_merge: np.ndarray
    status: np.ndarray
    n_crossings: np.ndarray
    t_first_crossing: np.ndarray
    nsteps: np.ndarray
    nfev: np.ndarray
    nrejected: np.ndarray

    @property
    def success(self) -> np.ndarray:
        """True where the element reached ``t_max`` or merged."""
        return self.status >= 0

    @property
    def merged(self) -> np.ndarray:
        return self.status == BatchStatus.MERGED

    @property
    def message(self) -> np.ndarray:
        """Human-readable status per element."""
        out = np.empty(self.status.shape, dtype=object)
        for code in BatchStatus:
            out[self.status == code] = _MESSAGES[code]
        return out

    def status_counts(self) -> dict[str, int]:
        """Number of elements per outcome, e.g. ``{'FINISHED': 9990, 'MERGED': 10}``."""
        return {code.name: int(np.sum(self.status == code)) for code in BatchStatus
                if np.any(self.status == code)}

    def _index(self, name: str) -> int:
        if name not in self.variables:
            raise ValueError(f"name must be one of {', '.join(self.variables)} (got {name!r})")
        return self.variables.index(name)

    def final(self, name: str) -> np.ndarray:
        """Final value of variable ``name`` per element."""
        return self.y_final[..., self._index(name)]

    def trajectory(self, name: str) -> np.ndarray:
        """Saved values of ``name`` on ``t``, shape ``batch + (len(t),)``."""
        return self.y[..., self._index(name), :]

    @property
    def H(self) -> np.ndarray:
        """Saved ``H`` on the grid ``t``."""
        return self.trajectory("H")

    @property
    def Y(self) -> np.ndarray:
        """Saved ``Y`` on the grid ``t`` (eq. 20 only; for eq. 23 use eq. 22)."""
        return self.trajectory("Y")

    @property
    def W(self) -> np.ndarray:
        """Saved ``W`` on the grid ``t``."""
        return self.trajectory("W")


def _check_common(t_max: Any, rtol: float, atol: float, merger_tol: Any, t_eval: Any,
                  max_steps: int) -> tuple[np.ndarray, float, float, np.ndarray, np.ndarray, int]:
    t_max = check_positive("t_max", t_max)
    rtol = float(check_interval("rtol", rtol, 0.0, 1.0, lo_closed=False, hi_closed=False))
    if rtol < 100 * np.finfo(float).eps:
        raise ValueError(f"rtol must be >= {100 * np.finfo(float).eps:.3g} (got {rtol!r})")
    atol = float(check_positive("atol", atol))
    merger_tol = np.zeros(()) if merger_tol is None else check_positive("merger_tol", merger_tol)
    if t_eval is None:
        t_eval = np.zeros(0)
    else:
        t_eval = check_nonnegative("t_eval", t_eval)
        if t_eval.ndim != 1 or np.any(np.diff(t_eval) <= 0):
            raise ValueError("t_eval must be a strictly increasing 1-D array of times >= 0")
    max_steps = check_int("max_steps", max_steps, minimum=1)
    return t_max, rtol, atol, merger_tol, t_eval, max_steps


def _run(system: int, variables: tuple[str, ...], y0_parts: list[np.ndarray],
         param_parts: list[np.ndarray], t_max: np.ndarray, merger_tol: np.ndarray,
         t_eval: np.ndarray, rtol: float, atol: float, max_steps: int) -> BatchedResult:
    arrays = np.broadcast_arrays(*y0_parts, *param_parts, t_max, merger_tol)
    shape = arrays[0].shape
    n = len(y0_parts)
    flat = [np.ascontiguousarray(x, dtype=float).reshape(-1) for x in arrays]
    y0 = np.stack(flat[:n], axis=1)
    params = np.zeros((y0.shape[0], 4))
    for k, col in enumerate(flat[n:n + len(param_parts)]):
        params[:, k] = col
    t_bound, tol = flat[-2], flat[-1]
    if np.any((tol > 0) & (tol >= y0[:, 0])):
        raise ValueError("merger_tol must be < H0 for every element")
    if system in (_THREE_SCALAR_SIGNED, _REDUCED_SIGNED):
        # (H, Y, W) -> (d, q, v) = (sqrt(H), Y/H, W/d); (H, W) -> (d, v).
        d0 = np.sqrt(y0[:, 0])
        y0 = np.stack([d0, y0[:, 1] / y0[:, 0], y0[:, 2] / d0], axis=1) if n == 3 \
            else np.stack([d0, y0[:, 1] / d0], axis=1)
    M, n_t = y0.shape[0], t_eval.shape[0]
    y_final = np.empty((M, n))
    t_final = np.empty(M)
    status = np.empty(M, dtype=np.int8)
    t_merge = np.empty(M)
    t_cross = np.empty(M)
    saved = np.full((M, n, n_t), np.nan)
    counters = np.zeros((M, 4), dtype=np.int64)
    _integrate_batch(system, y0, params, t_bound, tol, t_eval, rtol, atol, max_steps,
                     y_final, t_final, status, t_merge, t_cross, saved, counters)
    return BatchedResult(variables=variables, t=t_eval, y=saved.reshape(shape + (n, n_t)),
                         t_final=t_final.reshape(shape), y_final=y_final.reshape(shape + (n,)),
                         t_merge=t_merge.reshape(shape), status=status.reshape(shape),
                         n_crossings=counters[:, 3].reshape(shape),
                         t_first_crossing=t_cross.reshape(shape),
                         nsteps=counters[:, 0].reshape(shape), nfev=counters[:, 1].reshape(shape),
                         nrejected=counters[:, 2].reshape(shape))


def integrate_three_scalar_batched(H0: Any, Y0: Any, W0: Any, *, S: Any, N: Any, tau_h: Any,
                                   tau_y: Any, t_max: Any, rtol: float = 1e-8,
                                   atol: float = 1e-12, merger_tol: Any = None,
                                   t_eval: Any = None, max_steps: int = 100_000,
                                   coordinates: str = "signed") -> BatchedResult:
    """Integrate P25 eq. 20 (spec §2.1) for every broadcast combination of the arguments.

    ``H0, Y0, W0, S, N, tau_h, tau_y, t_max`` and ``merger_tol`` broadcast together
    (numpy rules) to the batch shape. Each element is integrated on ``[0, t_max]``
    with Dormand–Prince 5(4) (scipy ``RK45``'s algorithm, tolerances ``rtol``/``atol``
    as in scipy). ``merger_tol`` (``None`` = no event) makes ``H = merger_tol`` a
    terminal event. ``t_eval`` (shared 1-D grid) saves the states by dense output.
    ``coordinates``: ``"signed"`` (regular through crossings; tolerances act on
    ``(d, q, v)``) or ``"direct"`` (literal eq. 20 in ``(H, Y, W)``); see the module doc.

    Returns a ``BatchedResult`` with variables ``('H', 'Y', 'W')``.
    """
    check_choice("coordinates", coordinates, ("signed", "direct"))
    H0 = check_positive("H0", H0)
    Y0 = check_nonnegative("Y0", Y0)
    W0 = check_finite("W0", W0)
    S = check_nonnegative("S", S)
    N, tau_h, tau_y = check_rates(N, tau_h, tau_y)
    t_max, rtol, atol, merger_tol, t_eval, max_steps = _check_common(
        t_max, rtol, atol, merger_tol, t_eval, max_steps)
    system = _THREE_SCALAR_SIGNED if coordinates == "signed" else _THREE_SCALAR
    return _run(system, ("H", "Y", "W"), [H0, Y0, W0],
                [S, 1.0 / tau_h, 1.0 / (N * tau_y)], t_max, merger_tol, t_eval, rtol, atol,
                max_steps)


def integrate_reduced_batched(H0: Any, W0: Any, *, A_high: Any, A_low: Any, N: Any, tau_h: Any,
                              tau_y: Any, t_max: Any, rtol: float = 1e-8, atol: float = 1e-12,
                              merger_tol: Any = None, t_eval: Any = None,
                              max_steps: int = 100_000, coordinates: str = "signed"
                              ) -> BatchedResult:
    """Integrate the reduced system P25 eq. 23 (spec §2.2, coefficient ``b²/(4a)``) in batch.

    Arguments broadcast as in ``integrate_three_scalar_batched``; ``A_low >= 0`` is the
    value of eq. 25 (not its square). Returns variables ``('H', 'W')``; ``Y`` follows
    from eq. 22, ``Y = H (H − A_high)/r``. ``coordinates``: ``"signed"`` integrates
    ``(d, v) = (±sqrt(H), W/d)`` (regular through crossings), ``"direct"`` the literal eq. 23.
    """
    check_choice("coordinates", coordinates, ("signed", "direct"))
    H0 = check_positive("H0", H0)
    W0 = check_finite("W0", W0)
    A_high = check_finite("A_high", A_high)
    A_low = check_nonnegative("A_low", A_low)
    N, tau_h, tau_y = check_rates(N, tau_h, tau_y)
    t_max, rtol, atol, merger_tol, t_eval, max_steps = _check_common(
        t_max, rtol, atol, merger_tol, t_eval, max_steps)
    system = _REDUCED_SIGNED if coordinates == "signed" else _REDUCED
    return _run(system, ("H", "W"), [H0, W0], [A_high, A_low, 1.0 / tau_h, 1.0 / (N * tau_y)],
                t_max, merger_tol, t_eval, rtol, atol, max_steps)
