"""Least-squares fit of the effective rates ``τ_h, τ_y`` to measured ``(H, Y, W)`` trajectories.

The rates of P25 eq. 20 (docs/theory.md §1.6: fitted constants absorbing the
architecture, not the SGD learning rate) are estimated as the 2024 code's ``optimize_eta`` does for
``(η_h, η_y)`` (docs/theory.md §2.9): the model is integrated from each trajectory's first
measured point on its measured time grid, and the (log-parameterised) rates minimise
the squared difference to the measurements — first a coarse log-grid search, then
``scipy.optimize.least_squares`` with a stiff integrator (LSODA with the analytic
Jacobian). Several trajectories (pairs) may be fitted jointly; they share ``τ_h`` and
``τ_y`` while each keeps its own ``S`` and ``N`` (``b = 1/(N τ_y)``).

Each variable of each trajectory is divided by its largest measured magnitude, so
``H``, ``Y`` and ``W`` weigh comparably. Standard errors come from the Jacobian at the
optimum, ``cov = s² (JᵀJ)⁻¹`` with ``s² = ‖r‖²/(m − 2)`` (in log space, mapped with the
delta method). The 2024 equivalents are ``η_h = 1/(2 τ_h dx2)`` and ``η_y = 1/(2 τ_y)``
(the 2024 system has ``N = 1``; docs/theory.md §2.9).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import least_squares

from .batched import integrate_three_scalar_batched
from .checks import check_finite, check_int, check_nonnegative, check_positive
from .odesolve import check_rates
from .three_scalar import ThreeScalarSystem

_FAILED_RESIDUAL = 1e3  # residual per point for a failed integration (keeps least_squares finite)


@dataclass(frozen=True)
class RateFit:
    """Fitted rates with standard errors, fit quality and the solver's verdict.

    ``residual`` is the root-mean-square of the scaled residuals (a fraction of each
    variable's largest magnitude). ``success`` is False when the optimiser failed, the
    optimum lies on a search bound, or the model cannot be integrated there.
    """

    tau_h: float
    tau_y: float
    se_tau_h: float
    se_tau_y: float
    eta_h: float
    eta_y: float
    residual: float
    success: bool
    message: str
    n_trajectories: int
    n_residuals: int
    grid_tau_h: float
    grid_tau_y: float
    nfev: int


@dataclass(frozen=True)
class _Trajectory:
    t: np.ndarray
    data: np.ndarray     # (3, T): H, Y, W
    scale: np.ndarray    # (3,)
    S: float
    N: float


def _as_list(x: Any, name: str, n: int | None) -> list:
    if isinstance(x, (list, tuple)):
        if n is not None and len(x) != n:
            raise ValueError(f"{name} must have one entry per trajectory ({n}; got {len(x)})")
        return list(x)
    return [x] * (n if n is not None else 1)


def _trajectories(t, H, Y, W, S, N, pinned: bool) -> list[_Trajectory]:
    """Validate measurements. Noisy ``H``, ``Y`` may dip below 0 (measurement noise), except
    a pinned initial point, which must be a valid state (``H > 0``, ``Y >= 0``)."""
    several = isinstance(H, (list, tuple))
    n = len(H) if several else None
    if several and n == 0:
        raise ValueError("H must contain at least one trajectory")
    ts, Hs, Ys, Ws = (_as_list(x, name, n) for x, name in ((t, "t"), (H, "H"), (Y, "Y"), (W, "W")))
    Ss, Ns = _as_list(S, "S", n), _as_list(N, "N", n)
    out = []
    for k, (tk, Hk, Yk, Wk, Sk, Nk) in enumerate(zip(ts, Hs, Ys, Ws, Ss, Ns)):
        tk = check_finite(f"t[{k}]", tk)
        Hk, Yk, Wk = (check_finite(f"{name}[{k}]", x) for name, x in (("H", Hk), ("Y", Yk),
                                                                        ("W", Wk)))
        if tk.ndim != 1 or tk.size < 3 or not (Hk.shape == Yk.shape == Wk.shape == tk.shape):
            raise ValueError(f"t[{k}], H[{k}], Y[{k}], W[{k}] must be 1-D of equal length >= 3")
        if np.any(np.diff(tk) <= 0):
            raise ValueError(f"t[{k}] must be strictly increasing")
        if pinned:
            check_positive(f"H[{k}][0]", Hk[0])
            check_nonnegative(f"Y[{k}][0]", Yk[0])
        if np.max(Hk) <= 0:
            raise ValueError(f"H[{k}] must have a positive entry (H = ||dh||^2)")
        Sk = float(check_nonnegative(f"S[{k}]", Sk))
        Nk = float(check_rates(Nk, 1.0, 1.0)[0])
        data = np.stack([Hk, Yk, Wk])
        scale = np.max(np.abs(data), axis=1)
        scale = np.where(scale > 0, scale, 1.0)
        out.append(_Trajectory(t=tk - tk[0], data=data, scale=scale, S=Sk, N=Nk))
    return out


def _unpack(theta: np.ndarray, trajs: list[_Trajectory], fit_initial: bool
            ) -> tuple[float, float, list[np.ndarray]]:
    """Rates and initial states from the parameter vector (initial states in units of ``scale``)."""
    tau_h, tau_y = np.exp(theta[:2])
    if not fit_initial:
        return tau_h, tau_y, [tr.data[:, 0] for tr in trajs]
    z = theta[2:].reshape(len(trajs), 3)
    return tau_h, tau_y, [z[k] * tr.scale for k, tr in enumerate(trajs)]


def _residuals_stiff(theta: np.ndarray, trajs: list[_Trajectory], rtol: float,
                     fit_initial: bool) -> np.ndarray:
    tau_h, tau_y, y0s = _unpack(theta, trajs, fit_initial)
    first = 0 if fit_initial else 1  # a measured initial point is reproduced exactly
    parts = []
    for tr, (H0, Y0, W0) in zip(trajs, y0s):
        # Signed-distance coordinates (d, q, v) = (sqrt(H), Y/H, W/d): regular through
        # crossings of the pair, where eq. 20 itself is singular (docs/theory.md §4.1).
        # solve_ivp rather than interaction.integrate, which rejects invalid initial states:
        # the optimiser may try Y0 < 0 (integrated as is) or H0 <= 0 (a non-finite start,
        # scored below as a failed integration) and must get a residual, not an exception.
        system = ThreeScalarSystem(S=tr.S, N=tr.N, tau_h=tau_h, tau_y=tau_y)
        with np.errstate(invalid="ignore", divide="ignore"):
            z0 = system.to_signed(np.array([H0, Y0, W0]))
        sol = solve_ivp(system.rhs_signed, (0.0, tr.t[-1]), z0, method="LSODA",
                        jac=system.jac_signed, t_eval=tr.t, rtol=rtol, atol=rtol * 1e-3)
        model = system.from_signed(sol.y)
        if sol.status != 0 or model.shape[1] != tr.t.size or not np.all(np.isfinite(model)):
            parts.append(np.full(3 * (tr.t.size - first), _FAILED_RESIDUAL))
            continue
        parts.append(((model[:, first:] - tr.data[:, first:]) / tr.scale[:, None]).ravel())
    return np.concatenate(parts)


def _grid_search(trajs: list[_Trajectory], log_tau_h: np.ndarray, log_tau_y: np.ndarray
                 ) -> np.ndarray:
    """Sum of squared scaled residuals on the (τ_h, τ_y) grid, using the batched integrator."""
    th, ty = np.meshgrid(np.exp(log_tau_h), np.exp(log_tau_y), indexing="ij")
    cost = np.zeros(th.shape)
    for tr in trajs:
        H0, Y0 = max(tr.data[0, 0], 1e-12 * tr.scale[0]), max(tr.data[1, 0], 0.0)
        res = integrate_three_scalar_batched(
            H0, Y0, tr.data[2, 0], S=tr.S, N=tr.N, tau_h=th, tau_y=ty,
            t_max=tr.t[-1], t_eval=tr.t, rtol=1e-6, atol=1e-9 * tr.scale.min(), max_steps=20_000)
        diff = (res.y[..., 1:] - tr.data[None, None, :, 1:]) / tr.scale[None, None, :, None]
        c = np.sum(diff**2, axis=(-2, -1))
        cost += np.where(res.success & np.isfinite(c), c, np.inf)
    return cost


def fit_rates(t: Any, H: Any, Y: Any, W: Any, *, S: Any, N: Any, dx2: float = 1.0,
              tau_h0: float | None = None, tau_y0: float | None = None,
              search_decades: float = 3.0, grid_size: int = 13, fit_initial: bool = True,
              rtol: float = 1e-10) -> RateFit:
    """Fit ``(τ_h, τ_y)`` of P25 eq. 20 to measured ``(H, Y, W)`` trajectories by least squares.

    ``t, H, Y, W``: 1-D arrays of one trajectory, or lists of such arrays (one per pair,
    each with its own time grid); ``S`` and ``N`` are scalars or per-trajectory lists.
    The model starts from each trajectory's first measured point. The log-grid spans
    ``±search_decades`` decades around ``tau_h0, tau_y0`` (default: the natural scales
    ``τ_h ~ T·max|W|/max H`` and ``τ_y ~ T·max H/N`` of the first trajectory, ``T`` its
    duration) with ``grid_size`` points per axis; the best grid point starts the
    least-squares refinement (bounded to the grid range). With ``fit_initial`` (default)
    the initial states are fitted too, as nuisance parameters: measurement noise in the
    first point would otherwise bias the rates and make the standard errors too small;
    ``fit_initial=False`` pins them to the first measurement (the 2024 code's choice).
    ``dx2`` only converts to the 2024 rates ``eta_h = 1/(2 τ_h dx2)``, ``eta_y = 1/(2 τ_y)``.
    """
    trajs = _trajectories(t, H, Y, W, S, N, pinned=not fit_initial)
    dx2 = float(check_positive("dx2", dx2))
    search_decades = float(check_positive("search_decades", search_decades))
    grid_size = check_int("grid_size", grid_size, minimum=3)
    rtol = float(check_positive("rtol", rtol))
    first = trajs[0]
    T = first.t[-1]
    if tau_h0 is None:
        tau_h0 = T * max(first.scale[2], 1e-3 * first.scale[0]) / first.scale[0]
    if tau_y0 is None:
        tau_y0 = T * first.scale[0] / first.N
    tau_h0 = float(check_positive("tau_h0", tau_h0))
    tau_y0 = float(check_positive("tau_y0", tau_y0))
    half = search_decades * np.log(10.0)
    center = np.log([tau_h0, tau_y0])
    lo, hi = center - half, center + half
    log_h = np.linspace(lo[0], hi[0], grid_size)
    log_y = np.linspace(lo[1], hi[1], grid_size)
    cost = _grid_search(trajs, log_h, log_y)
    if not np.any(np.isfinite(cost)):
        return RateFit(tau_h=np.nan, tau_y=np.nan, se_tau_h=np.nan, se_tau_y=np.nan,
                       eta_h=np.nan, eta_y=np.nan, residual=np.nan, success=False,
                       message="no grid point could be integrated", n_trajectories=len(trajs),
                       n_residuals=0, grid_tau_h=np.nan, grid_tau_y=np.nan, nfev=0)
    i, j = np.unravel_index(np.argmin(cost), cost.shape)
    theta0 = np.array([log_h[i], log_y[j]])
    lower, upper = lo.copy(), hi.copy()
    if fit_initial:
        z0 = np.concatenate([tr.data[:, 0] / tr.scale for tr in trajs])
        # H0 > 0 and Y0 >= 0 stay physical; W0 is free.
        z_lo = np.tile([1e-8, 0.0, -np.inf], len(trajs))
        z_hi = np.full(z0.size, np.inf)
        theta0 = np.concatenate([theta0, np.clip(z0, z_lo, z_hi)])
        lower, upper = np.concatenate([lo, z_lo]), np.concatenate([hi, z_hi])
    opt = least_squares(_residuals_stiff, theta0, args=(trajs, rtol, fit_initial),
                        bounds=(lower, upper), method="trf", x_scale=1.0, diff_step=1e-6,
                        xtol=1e-12, ftol=1e-12, gtol=1e-12)
    r = opt.fun
    m, n_par = r.size, opt.x.size
    tau_h, tau_y = np.exp(opt.x[:2])
    failed_model = bool(np.any(r == _FAILED_RESIDUAL))
    on_bound = bool(np.any(np.isclose(opt.x[:2], lo, rtol=0, atol=1e-6))
                    or np.any(np.isclose(opt.x[:2], hi, rtol=0, atol=1e-6)))
    se = np.array([np.nan, np.nan])
    if m > n_par:
        JtJ = opt.jac.T @ opt.jac
        if np.linalg.cond(JtJ) < 1e14:
            cov = (r @ r) / (m - n_par) * np.linalg.inv(JtJ)
            se = np.sqrt(np.diag(cov)[:2]) * np.exp(opt.x[:2])
    success = bool(opt.success) and not failed_model and not on_bound
    if failed_model:
        message = "the model could not be integrated at the optimum"
    elif on_bound:
        message = "optimum on the search bound; widen search_decades or set tau_h0/tau_y0"
    else:
        message = str(opt.message)
    return RateFit(tau_h=float(tau_h), tau_y=float(tau_y), se_tau_h=float(se[0]),
                   se_tau_y=float(se[1]), eta_h=float(1.0 / (2.0 * tau_h * dx2)),
                   eta_y=float(1.0 / (2.0 * tau_y)), residual=float(np.sqrt(np.mean(r**2))),
                   success=success, message=message, n_trajectories=len(trajs), n_residuals=m,
                   grid_tau_h=float(np.exp(log_h[i])), grid_tau_y=float(np.exp(log_y[j])),
                   nfev=int(opt.nfev))
