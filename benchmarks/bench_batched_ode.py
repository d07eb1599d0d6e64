"""Benchmark: batched numba integration of P25 eq. 20 against a loop of ``scipy.integrate.solve_ivp``.

Both sides integrate the *same* K random parameter points (no extrapolation) in one
process, with the same method (Dormand–Prince 5(4), scipy ``RK45``), the same
coordinates (the regular signed-distance form of eq. 20, ``ThreeScalarSystem.rhs_signed``,
the default of both, docs/theory.md §4.1), the same ``rtol``/``atol`` and the same
terminal merger event ``H = merger_tol``; the scipy side is ``interaction.integrate``,
one ``solve_ivp`` call per point. The script

1. checks that both sides report the same outcome per point and agree on the final
   states (and merger times) to the requested tolerance,
2. measures the error of both against a tight ``DOP853`` reference on a subset,
3. prints milliseconds per point for each side and the speed-up ratio.

numba compile time is excluded: the batched integrator is warmed up on a few points
before timing. Run from the repository root::

    python -m benchmarks.bench_batched_ode --points 2000
"""
from __future__ import annotations

import time

import numpy as np

from interaction.artifacts import atomic_write_json, provenance
from interaction.batched import integrate_three_scalar_batched
from interaction.cliutil import ArgumentParser, run_cli
from interaction.odesolve import integrate
from interaction.three_scalar import ThreeScalarSystem


def sample_points(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random, physically consistent initial conditions and rates (half agreeing pairs).

    ``W0 = Y0 − ⟨dy·ỹ⟩`` with the cross term drawn within the Cauchy–Schwarz bound
    ``|⟨dy·ỹ⟩| ≤ sqrt(Y0 S)``; agreeing pairs (``S = 0``) have ``W0 = Y0``.
    """
    def log_uniform(lo: float, hi: float) -> np.ndarray:
        return np.exp(rng.uniform(np.log(lo), np.log(hi), n))

    H0 = log_uniform(0.1, 10.0)
    Y0 = log_uniform(0.01, 10.0)
    S = np.where(rng.random(n) < 0.5, 0.0, log_uniform(0.01, 10.0))
    W0 = Y0 - rng.uniform(-1.0, 1.0, n) * np.sqrt(Y0 * S)
    N = rng.integers(1, 33, n).astype(float)
    tau_h = log_uniform(0.5, 5.0)
    tau_y = log_uniform(0.5, 5.0)
    return dict(H0=H0, Y0=Y0, W0=W0, S=S, N=N, tau_h=tau_h, tau_y=tau_y)


def scipy_loop(points: dict[str, np.ndarray], *, t_max: float, rtol: float, atol: float,
               merger_tol: np.ndarray, method: str = "RK45"
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One ``interaction.integrate`` (``solve_ivp``) call per point.

    Returns final (H, Y, W), final times, merger times (NaN if none) and scipy's status.
    """
    K = points["H0"].shape[0]
    y_final, t_final = np.empty((K, 3)), np.empty(K)
    t_merge, status = np.full(K, np.nan), np.empty(K, dtype=int)
    for k in range(K):
        system = ThreeScalarSystem(S=points["S"][k], N=points["N"][k], tau_h=points["tau_h"][k],
                                   tau_y=points["tau_y"][k])
        y0 = (points["H0"][k], points["Y0"][k], points["W0"][k])
        res = integrate(system, y0, t_max, method=method, rtol=rtol, atol=atol,
                        merger_tol=merger_tol[k])
        status[k], y_final[k], t_final[k] = res.status, res.y[:, -1], res.t[-1]
        if res.merged:
            t_merge[k] = res.t_events[0][0]
    return y_final, t_final, t_merge, status


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m benchmarks.bench_batched_ode",
                            description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=2000,
                        help="number K of parameter points integrated by BOTH sides")
    parser.add_argument("--t-max", type=float, default=200.0, help="integration horizon")
    parser.add_argument("--rtol", type=float, default=1e-8, help="relative tolerance of both sides")
    parser.add_argument("--atol", type=float, default=1e-12, help="absolute tolerance of both sides")
    parser.add_argument("--merger-rel-tol", type=float, default=1e-6,
                        help="terminal merger event at H = this × H0")
    parser.add_argument("--reference-points", type=int, default=100,
                        help="points checked against a DOP853 rtol=1e-12 reference")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the parameter points")
    parser.add_argument("--json", default=None, help="optional path for a JSON record of the run")
    args = parser.parse_args(argv)
    if args.points < 1:
        raise ValueError(f"--points must be >= 1 (got {args.points})")
    if not 0 < args.merger_rel_tol < 1:
        raise ValueError(f"--merger-rel-tol must lie in (0, 1) (got {args.merger_rel_tol})")
    if args.reference_points < 0:
        raise ValueError(f"--reference-points must be >= 0 (got {args.reference_points})")

    rng = np.random.default_rng(args.seed)
    points = sample_points(args.points, rng)
    merger_tol = args.merger_rel_tol * points["H0"]
    kwargs = dict(t_max=args.t_max, rtol=args.rtol, atol=args.atol)

    def batched():
        return integrate_three_scalar_batched(
            points["H0"], points["Y0"], points["W0"], S=points["S"], N=points["N"],
            tau_h=points["tau_h"], tau_y=points["tau_y"], merger_tol=merger_tol, **kwargs)

    # Warm-up: triggers (or loads the cached) numba compilation, excluded from timing.
    integrate_three_scalar_batched(1.0, 0.5, 0.5, S=0.0, N=1, tau_h=1.0, tau_y=1.0,
                                   merger_tol=1e-6, **kwargs)
    t0 = time.perf_counter()
    res = batched()
    t_batched = time.perf_counter() - t0

    t0 = time.perf_counter()
    y_sp, t_sp, tm_sp, st_sp = scipy_loop(points, merger_tol=merger_tol, **kwargs)
    t_scipy = time.perf_counter() - t0

    # Agreement at matched accuracy: same outcome, final states within the tolerance, measured
    # relative to each trajectory's scale |y| + |y0| (W -> 0 at the fixed point).
    same_status = np.array_equal(res.status, st_sp)  # both scipy's codes
    y0_all = np.abs(np.stack([points["H0"], points["Y0"], points["W0"]], axis=1))
    state_err = float(np.max(np.abs(res.y_final - y_sp) / (np.abs(y_sp) + y0_all + args.atol))) / args.rtol
    merged = res.merged & (st_sp == 1)
    tm_err = float(np.max(np.abs(res.t_merge[merged] - tm_sp[merged]) / (1 + tm_sp[merged]))) \
        if merged.any() else 0.0

    # Independent accuracy check of both sides against a tight DOP853 reference.
    n_ref = min(args.reference_points, args.points)
    ref_pts = {k: v[:n_ref] for k, v in points.items()}
    y_ref, _, _, st_ref = scipy_loop(ref_pts, merger_tol=merger_tol[:n_ref], t_max=args.t_max,
                                     rtol=1e-12, atol=1e-15, method="DOP853")
    ok_ref = (st_ref == st_sp[:n_ref]) & res.success.reshape(-1)[:n_ref]

    y0_ref = np.abs(np.stack([ref_pts["H0"], ref_pts["Y0"], ref_pts["W0"]], axis=1))

    def rel_err(y: np.ndarray) -> float | None:
        # Relative to the trajectory's scale |y_ref| + |y0|: W -> 0 at the fixed point, so a
        # pure relative error of W would measure round-off, not accuracy.
        d = np.abs(y[:n_ref] - y_ref) / (np.abs(y_ref) + y0_ref + args.atol)
        return float(d[ok_ref].max()) if ok_ref.any() else None

    ms_batched = 1e3 * t_batched / args.points
    ms_scipy = 1e3 * t_scipy / args.points
    record = {
        "points": args.points, "t_max": args.t_max, "rtol": args.rtol, "atol": args.atol,
        "seed": args.seed, "status_counts": res.status_counts(),
        "same_status_as_scipy": bool(same_status),
        "max_state_diff_in_rtol_units": state_err, "max_merger_time_rel_diff": tm_err,
        "reference_points": n_ref, "max_rel_err_vs_reference_batched": rel_err(res.y_final),
        "max_rel_err_vs_reference_scipy": rel_err(y_sp),
        "ms_per_point_scipy": ms_scipy, "ms_per_point_batched": ms_batched,
        "speedup": ms_scipy / ms_batched, "mean_steps_per_point": float(res.nsteps.mean()),
    }
    print(f"points: {args.points} (same points on both sides), method RK45 / Dormand-Prince 5(4), "
          f"rtol={args.rtol:g}, atol={args.atol:g}, t_max={args.t_max:g}")
    print(f"outcomes (batched): {res.status_counts()}; identical to solve_ivp: {same_status}; "
          f"points whose representations cross: {int(np.sum(res.n_crossings > 0))}")
    print(f"max |final-state difference| / (|y| + |y0|) in units of rtol: {state_err:.3g}; "
          f"max merger-time difference / (1 + t): {tm_err:.3g}")
    fmt = lambda x: "n/a" if x is None else f"{x:.3g}"  # noqa: E731
    print(f"vs DOP853 rtol=1e-12 reference on {n_ref} points: max error / (|y_ref| + |y0|): "
          f"batched {fmt(record['max_rel_err_vs_reference_batched'])}, "
          f"solve_ivp {fmt(record['max_rel_err_vs_reference_scipy'])}")
    print(f"solve_ivp loop : {ms_scipy:10.4f} ms/point  ({t_scipy:.2f} s total)")
    print(f"batched (numba): {ms_batched:10.4f} ms/point  ({t_batched:.4f} s total; "
          f"compile time excluded, warmed up first)")
    print(f"speed-up: {ms_scipy / ms_batched:.0f}x")
    if args.json:
        atomic_write_json(args.json, {"benchmark": "bench_batched_ode", **record,
                                      "provenance": provenance()})
    agree = same_status and state_err <= 10.0 and tm_err <= 10 * args.rtol
    if not agree:
        print("DISAGREEMENT between batched integrator and solve_ivp (see above)")
    return 0 if agree else 1


if __name__ == "__main__":
    run_cli(main, "python -m benchmarks.bench_batched_ode")
