"""Benchmark: integrating the nine-variable model (eq. 42) with the numba kernel against a plain-Python right-hand side.

Both integrate the same ``--states`` random initial states of the Fig. 10 (left) setting
with the same scipy solver; the baseline evaluates eq. 42 with scalar Python arithmetic
(the authors' ``der`` transcription style), the toolkit with the ``@njit`` kernel
``rhs_fixed_expansion``. Checks that both give the same trajectories and prints the
wall times and their ratio. Example::

    python -m benchmarks.bench_fixed_expansion --states 20
"""
from __future__ import annotations

import time

import numpy as np
from scipy.integrate import solve_ivp

from interaction.cliutil import ArgumentParser, run_cli
from interaction.fixed_expansion import FixedExpansionSystem, random_initial_state


def _plain_rhs(t, z, a1, a2, ay, ab, N, y11, y12, y22):
    h1, h2, bD, by1, by2, b2, D2, Dy1, Dy2 = z
    hm, h2m = (h1 + h2) / 2, (h1 * h1 + h2 * h2) / 2
    return [-a1 / 2 * (bD + h1 * D2 - Dy1), -a2 / 2 * (bD + h2 * D2 - Dy2),
            -ab / N * (bD + hm * D2 - (Dy1 + Dy2) / 2) - ay / N * (h2m * bD + hm * b2 - (h1 * by1 + h2 * by2) / 2),
            -ab / N * (by1 + hm * Dy1 - (y11 + y12) / 2), -ab / N * (by2 + hm * Dy2 - (y12 + y22) / 2),
            -2 * ab / N * (b2 + hm * bD - (by1 + by2) / 2), -2 * ay / N * (h2m * D2 + hm * bD - (h1 * Dy1 + h2 * Dy2) / 2),
            -ay / N * (h2m * Dy1 + hm * by1 - (h1 * y11 + h2 * y12) / 2),
            -ay / N * (h2m * Dy2 + hm * by2 - (h1 * y12 + h2 * y22) / 2)]


def main(argv=None) -> int:
    parser = ArgumentParser(prog="python -m benchmarks.bench_fixed_expansion", description=__doc__.split("\n\n")[0])
    parser.add_argument("--states", type=int, default=20, help="random initial states to integrate")
    parser.add_argument("--t-max", type=float, default=5000.0, help="integration time")
    args = parser.parse_args(argv)
    lr = 0.02
    system = FixedExpansionSystem.from_learning_rates(lr, 10 * lr, lr, 0.25 * lr)
    args_ = (lr, 10 * lr, lr, 0.25 * lr, 1.0, 1.0, 1.0, 1.0)   # a1, a2, ay, ab, N, y11, y12, y22
    states = [random_initial_state(0.1, np.random.default_rng(k)) for k in range(args.states)]
    t_eval = np.linspace(0, args.t_max, 501)
    system.rhs(0.0, states[0])  # compile outside the timing
    timings, finals = {}, {}
    for name, fun, fargs in (("plain Python rhs", _plain_rhs, args_), ("numba rhs", system.rhs, None)):
        start = time.perf_counter()
        finals[name] = [solve_ivp(fun, (0, args.t_max), z0, method="LSODA", rtol=1e-10, atol=1e-13,
                                  t_eval=t_eval, args=fargs).y[:, -1] for z0 in states]
        timings[name] = time.perf_counter() - start
    np.testing.assert_allclose(finals["numba rhs"], finals["plain Python rhs"], rtol=1e-6, atol=1e-10)
    for name, seconds in timings.items():
        print(f"{name:>18}: {seconds:.3f} s for {args.states} trajectories")
    print(f"speed-up (plain / numba): {timings['plain Python rhs'] / timings['numba rhs']:.2f}x")
    return 0


if __name__ == "__main__":
    run_cli(main, "python -m benchmarks.bench_fixed_expansion")
