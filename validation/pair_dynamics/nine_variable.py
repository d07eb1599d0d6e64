"""The nine-variable fixed-expansion-point model (P25 eq. 42, docs/theory.md §2.10) for one agreeing pair.

P25 Fig. 10 left: hidden rates ``lr·m`` for prefix lengths ``m = fe_lengths`` (``1/τ_h ∝``
prefix length, P25 §D.3), ``1/τ_y = lr``, ``1/τ_b = lr/4``, over ``fe_seeds`` random initial
states of scale ``g``; the same with equal hidden rates as the control (its distance can
only decrease). ``g`` defaults to ``measures.gain_from_hidden`` of the epoch-0 hidden states.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from interaction.fixed_expansion import FixedExpansionSystem, integrate_fixed_expansion, random_initial_state

from validation.pair_dynamics.config import PairDynamicsConfig


@dataclass(frozen=True)
class FixedExpansionRuns:
    """Trajectories ``(seeds, times)`` of ``(h2 − h1)²`` (unequal and equal rates) and the loss, with a summary.

    A seed whose integration failed is a row of nan (counted in ``summary["solver_failures"]``);
    ``highlight`` is the seed drawn in the left panel (one that diverged, then merged).
    """

    t: np.ndarray
    distance2: np.ndarray
    loss: np.ndarray
    equal: np.ndarray
    summary: dict[str, Any]
    highlight: int


def fixed_expansion_runs(config: PairDynamicsConfig, g: float) -> FixedExpansionRuns:
    """P25 Fig. 10 left: eq. 42 for an agreeing pair, unequal (``lr·m``) vs equal hidden rates, many seeds.

    Integrated to ``5 t_max`` so that a merger later than the paper's horizon ``t_max`` is seen;
    outcomes are reported at ``t_max`` and at ``5 t_max``.
    """
    lr = config.lr
    m1, m2 = config.fe_lengths
    common = {"N": 1.0, "y11": 1.0, "y12": 1.0, "y22": 1.0}
    unequal = FixedExpansionSystem.from_learning_rates(lr * m1, lr * m2, lr, 0.25 * lr, **common)
    equal = FixedExpansionSystem.from_learning_rates(lr * m1, lr * m1, lr, 0.25 * lr, **common)
    horizon = 5.0 * config.fe_t_max
    t = np.linspace(0.0, horizon, 2501)
    at_t_max = int(np.searchsorted(t, config.fe_t_max))
    dist, loss, dist_eq, status = [], [], [], []
    for k in range(config.fe_seeds):
        z0 = random_initial_state(g, np.random.default_rng([config.seed, 7919, k]))
        res = integrate_fixed_expansion(z0, unequal, t_max=horizon, t_eval=t)
        res_eq = integrate_fixed_expansion(z0, equal, t_max=horizon, t_eval=t)
        status.append(int(min(res.status, res_eq.status)))
        if not (res.success and res_eq.success):
            for arr in (dist, loss, dist_eq):
                arr.append(np.full(t.size, np.nan))
            continue
        dist.append(res.distance2)
        loss.append(unequal.train_loss(res.y))
        dist_eq.append(res_eq.distance2)
    dist, loss, dist_eq = np.array(dist), np.array(loss), np.array(dist_eq)
    ok = np.isfinite(dist[:, -1])

    def outcome(j: int) -> tuple[np.ndarray, np.ndarray]:
        d = dist[:, : j + 1]
        d0, dmax, dend = d[:, 0], np.nanmax(d, axis=1), d[:, -1]
        return ok & (dmax > 2 * d0), ok & (dend < 1e-2 * dmax) & (dend < d0)

    div_t, mer_t = outcome(at_t_max)
    div_h, mer_h = outcome(t.size - 1)
    eq_increase = np.nanmax(np.diff(dist_eq, axis=1) / dist_eq[:, :1], axis=1)
    summary = {
        "gain_g": g, "gain_source": "--fe-gain" if config.fe_gain is not None else
        "estimated from the epoch-0 hidden states (std over units of the per-unit std)",
        "rates": {"eta_h1": lr * m1, "eta_h2": lr * m2, "eta_a": lr, "eta_b": 0.25 * lr},
        "prefix_lengths": [m1, m2], "t_max": config.fe_t_max, "horizon": horizon, "seeds": config.fe_seeds,
        "solver_failures": int(np.sum(np.array(status) < 0)),
        "fraction_diverged_then_merged": float(np.mean(div_t & mer_t)),
        "fraction_diverged": float(np.mean(div_t)), "fraction_merged_by_t_max": float(np.mean(mer_t)),
        "fraction_diverged_then_merged_by_5_t_max": float(np.mean(div_h & mer_h)),
        "equal_rates_max_relative_increase": float(np.nanmax(eq_increase)),
        "equal_rates_never_increase": bool(np.all(eq_increase[np.isfinite(eq_increase)] <= 1e-9)),
        "definitions": "diverged: max (h2-h1)^2 > 2x initial; merged: final < 1% of its maximum and < initial",
    }
    best = div_t & mer_t if np.any(div_t & mer_t) else div_h & mer_h
    return FixedExpansionRuns(t=t, distance2=dist, loss=loss, equal=dist_eq, summary=summary,
                              highlight=int(np.argmax(best)) if np.any(best) else 0)
