"""Phase portrait of the reduced ``(H, W)`` system (P25 eq. 23, docs/theory.md §2.2, §2.4–§2.5)."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .artifacts import save_figure
from .fixed_points import fixed_points
from .odesolve import check_rates
from .reduced import integrate_reduced, rhs_reduced, w_nullcline
from .checks import check_finite, check_nonnegative, check_positive

_MARKERS = {  # stability class -> (marker, filled)
    "stable node": ("o", True), "stable focus": ("o", True), "saddle": ("s", False),
    "unstable node": ("X", False), "unstable focus": ("X", False), "non-hyperbolic": ("D", False),
}


def _default_starts(H_max: float, W_max: float) -> list[tuple[float, float]]:
    return [(h * H_max, w * W_max) for h in (0.15, 0.5, 0.9) for w in (-0.8, 0.0, 0.8)]


def phase_portrait(A_high: float, A_low: float, *, N: float, tau_h: float, tau_y: float,
                   starts: Sequence[tuple[float, float]] | None = None,
                   H_max: float | None = None, W_max: float | None = None,
                   t_max: float | None = None, grid: int = 40, ax=None):
    """Draw the ``(H, W)`` plane of eq. 23 and return the matplotlib figure.

    Without ``ax`` the figure is a bare ``matplotlib.figure.Figure``, not registered
    with pyplot: it needs no backend and nothing has to be closed.

    Shows streamlines of the vector field, the nullclines (``W = 0`` for ``H``; both
    branches of the ``W``-nullcline), trajectories from ``starts`` (``(H0, W0)``
    pairs; a default fan when ``None``) integrated with ``integrate_reduced``, and
    the fixed points with ``H >= 0`` marked by stability class (filled circle:
    stable node; square: saddle; diamond: non-hyperbolic; cross: unstable).
    A trajectory whose solve failed is drawn dashed and labelled as failed.
    Trajectories above the saddle's stable manifold run into the origin and out again:
    the representations cross (``integrate_three_scalar``, signed coordinates;
    docs/theory.md §4.1).
    """
    A = float(check_finite("A_high", A_high))
    L = float(check_nonnegative("A_low", A_low))
    N, tau_h, tau_y = (float(v) for v in check_rates(N, tau_h, tau_y))
    grid = int(grid)
    if grid < 5:
        raise ValueError(f"grid must be >= 5 (got {grid})")
    # Imported on use: matplotlib is heavy and only drawing needs it. A bare Figure (not
    # pyplot) needs no backend and joins no global figure list: no process-wide state.
    from matplotlib.figure import Figure

    a, b = 1.0 / tau_h, 1.0 / (N * tau_y)
    points = fixed_points(A, L, N=N, tau_h=tau_h, tau_y=tau_y)
    H_plus = points[1].H
    scale = max(H_plus, abs(A), L, 1e-12)
    if starts is not None:
        starts = [(float(check_positive("start H0", h)), float(check_finite("start W0", w)))
                  for h, w in starts]
    H_max = float(check_positive("H_max", H_max)) if H_max is not None else \
        1.6 * max([scale] + [h for h, _ in starts or []])
    W_max = float(check_positive("W_max", W_max)) if W_max is not None else \
        max([1.2 * (b / a) * (abs(A) + np.hypot(A, 2 * L)) * H_max / 2]
            + [1.2 * abs(w) for _, w in starts or []])
    if starts is None:
        starts = _default_starts(H_max, W_max)
    if t_max is None:  # ~40 e-foldings of the slowest rate at the fixed points
        rates = [abs(e.real) for p in points if p.eigenvalues for e in p.eigenvalues]
        rates += [abs(r) for r in points[2].ray_rates]
        t_max = 40.0 / max(min(r for r in rates if r > 0), 1e-12) if any(rates) else 1e3
    t_max = float(check_positive("t_max", t_max))

    if ax is None:
        fig = Figure(figsize=(6.4, 4.8))
        ax = fig.subplots()
    else:
        fig = ax.figure
    Hs = np.linspace(H_max / grid / 4, H_max, grid)
    Ws = np.linspace(-W_max, W_max, grid)
    HH, WW = np.meshgrid(Hs, Ws)
    dH = np.empty_like(HH)
    dW = np.empty_like(WW)
    for idx in np.ndindex(HH.shape):
        dH[idx], dW[idx] = rhs_reduced(HH[idx], WW[idx], A, L, a, b)
    ax.streamplot(HH, WW, dH, dW, color="0.75", density=1.0, linewidth=0.6, arrowsize=0.7)

    Hn = np.linspace(H_max / 400, H_max, 400)
    ax.axhline(0.0, color="tab:blue", lw=1.2, label="H-nullcline (W = 0)")
    W_up, W_down = w_nullcline(Hn, A_high=A, A_low=L, N=N, tau_h=tau_h, tau_y=tau_y)
    ax.plot(Hn, W_up, color="tab:orange", lw=1.2, label="W-nullcline")
    ax.plot(Hn, W_down, color="tab:orange", lw=1.2)

    for k, (h0, w0) in enumerate(starts):
        res = integrate_reduced(h0, w0, A_high=A, A_low=L, N=N, tau_h=tau_h, tau_y=tau_y,
                                t_max=t_max)
        style = "-" if res.success else "--"
        label = ("trajectories" if k == 0 else None) if res.success else f"failed: {res.message}"
        ax.plot(res.H, res.W, style, color="k", lw=0.9, label=label)
        ax.plot([h0], [w0], ".", color="k", ms=4)

    for p in points:
        if p.H < 0 or p.coincides_with:
            continue
        marker, filled = _MARKERS[p.stability]
        face = "tab:red" if filled or p.attracting else "white"
        ax.plot([p.H], [p.W], marker, ms=9, mec="tab:red", mfc=face, zorder=5,
                label=f"{p.name}: {p.stability}" + (" (attracting)" if p.attracting and not filled else ""))
    ax.set_xlim(0.0, H_max)
    ax.set_ylim(-W_max, W_max)
    ax.set_xlabel(r"$H = \|dh\|^2$")
    ax.set_ylabel(r"$W = \langle w_i \rangle$")
    ax.set_title(rf"P25 eq. 23: $A_{{high}}={A:g}$, $A_{{low}}={L:g}$, $N={N:g}$, "
                 rf"$\tau_h={tau_h:g}$, $\tau_y={tau_y:g}$", fontsize=9)
    ax.legend(fontsize=7, loc="best")
    return fig


def save_phase_portrait(stem: str | os.PathLike, A_high: float, A_low: float, **kwargs) -> list[Path]:
    """Draw ``phase_portrait(A_high, A_low, **kwargs)`` and save it as ``stem.png`` and ``stem.pdf``."""
    return save_figure(phase_portrait(A_high, A_low, **kwargs), stem)
