"""Command line of the theory core: ``python -m interaction SUBCOMMAND ...`` (prints JSON).

Subcommands: ``closed-form`` (P25 eqs. 5–7, 25), ``fixed-points`` (eq. 24 with
stability, docs/theory.md §2.5), ``integrate`` (eq. 20, optional ``.npz``),
``portrait`` (eq. 23 phase portrait as PNG + PDF). Bad input — including an output
location that cannot be written, checked before any computation — is one line on
stderr and exit status 2. For ``integrate`` that includes an initial value that the
integrator cannot represent (``|H0|``, ``|Y0|`` or ``|W0|`` above
``interaction.odesolve.MAX_STATE``, e.g. ``--H0 1e308``) and a ``--max-steps`` below 1.
A failed integration (a state that overflowed during the run, the step budget
``--max-steps`` spent before ``--t-max``, a solver failure) prints its JSON summary
with ``"success": false`` and the message, and exits with 1.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .artifacts import atomic_savez, check_output_file, provenance, to_jsonable
from .cliutil import ArgumentParser, run_cli
from .closed_form import a_high, a_low, final_distance, will_merge
from .fixed_points import fixed_points
from .checks import check_int, check_interval
from .odesolve import (COORDINATES, DEFAULT_ATOL, DEFAULT_MAX_STEPS, DEFAULT_METHOD, DEFAULT_RTOL,
                       MAX_STATE, METHODS)
from .phase_portrait import save_phase_portrait
from .three_scalar import integrate_three_scalar

PROG = "python -m interaction"


def _print(obj: Any) -> None:
    print(json.dumps(to_jsonable(obj), indent=2, allow_nan=False))


def _add_rates(p: ArgumentParser, required: bool = True) -> None:
    p.add_argument("--N", type=float, required=required,
                   help="number of shared continuations of the pair (>= 1)")
    p.add_argument("--tau-h", type=float, required=required,
                   help="hidden time constant tau_h, 1/tau_h = 1/tau_h1 + 1/tau_h2 (> 0)")
    p.add_argument("--tau-y", type=float, required=required,
                   help="output-Jacobian time constant tau_y (> 0)")


def _add_invariants(p: ArgumentParser) -> None:
    p.add_argument("--a-high", type=float, required=True, help="A_high (P25 eq. 6)")
    p.add_argument("--a-low", type=float, required=True, help="A_low >= 0 (P25 eq. 25)")


def _merger_kind(A: float, L: float) -> str | None:
    if not will_merge(A, L):
        return None
    return "exponential" if A < 0 else "algebraic"


def _closed_form(args) -> int:
    invariants = args.a_high is not None or args.a_low is not None
    raw = [args.H0, args.Y0, args.S, args.N, args.tau_h, args.tau_y]
    if invariants == any(v is not None for v in raw):
        raise ValueError("give either --a-high and --a-low, or all of --H0 --Y0 --S --N --tau-h --tau-y")
    if invariants:
        if args.a_high is None or args.a_low is None:
            raise ValueError("--a-high and --a-low must be given together")
        A, L = args.a_high, args.a_low
        inputs = {"A_high": A, "A_low": L}
    else:
        if any(v is None for v in raw):
            raise ValueError("raw measurements need all of --H0 --Y0 --S --N --tau-h --tau-y")
        rates = dict(N=args.N, tau_h=args.tau_h, tau_y=args.tau_y)
        A = float(a_high(args.H0, args.Y0, **rates))
        L = float(a_low(args.S, **rates))
        inputs = {"H0": args.H0, "Y0": args.Y0, "S": args.S, **rates}
    _print({"inputs": inputs, "A_high": A, "A_low": L,
            "final_distance": float(final_distance(A, L)),
            "will_merge": bool(will_merge(A, L)), "merger": _merger_kind(A, L),
            "equations": "P25 eqs. 5-7, 25 (docs/theory.md 2.3, 2.6)"})
    return 0


def _complex_pair(values) -> list[list[float]] | None:
    return None if values is None else [[float(np.real(v)), float(np.imag(v))] for v in values]


def _fixed_points(args) -> int:
    points = fixed_points(args.a_high, args.a_low, N=args.N, tau_h=args.tau_h,
                          tau_y=args.tau_y, method=args.method)
    out = []
    for p in points:
        d = to_jsonable(p)
        d["eigenvalues"] = _complex_pair(p.eigenvalues)  # [[re, im], [re, im]]
        out.append(d)
    _print({"inputs": {"A_high": args.a_high, "A_low": args.a_low, "N": args.N,
                       "tau_h": args.tau_h, "tau_y": args.tau_y, "method": args.method},
            "fixed_points": out, "equations": "P25 eq. 24; stability per docs/theory.md 2.5 (corrected eqs. 26-32)"})
    return 0


def _integrate(args) -> int:
    for option, value in (("--H0", args.H0), ("--Y0", args.Y0), ("--W0", args.W0)):
        # Input the integrator cannot represent is bad input (exit 2), not a failed run.
        check_interval(option, value, -MAX_STATE, MAX_STATE)
    check_int("--max-steps", args.max_steps, minimum=1)
    if args.output:
        check_output_file(args.output, "--output")
    config = {"H0": args.H0, "Y0": args.Y0, "W0": args.W0, "S": args.S, "N": args.N,
              "tau_h": args.tau_h, "tau_y": args.tau_y, "t_max": args.t_max,
              "method": args.method, "rtol": args.rtol, "atol": args.atol,
              "merger_tol": args.merger_tol, "coordinates": args.coordinates,
              "max_steps": args.max_steps}
    res = integrate_three_scalar(args.H0, args.Y0, args.W0, S=args.S, N=args.N,
                                 tau_h=args.tau_h, tau_y=args.tau_y, t_max=args.t_max,
                                 method=args.method, rtol=args.rtol, atol=args.atol,
                                 merger_tol=args.merger_tol, coordinates=args.coordinates,
                                 max_steps=args.max_steps)
    rates = dict(N=args.N, tau_h=args.tau_h, tau_y=args.tau_y)
    A, L = float(a_high(args.H0, args.Y0, **rates)), float(a_low(args.S, **rates))
    summary: dict[str, Any] = {
        "config": config, "status": res.status, "message": res.message, "success": res.success,
        "merged": res.merged, "crossings": res.t_crossings, "n_points": int(res.t.size),
        "nfev": res.nfev,
        "A_high": A, "A_low": L, "predicted_final_distance": float(final_distance(A, L)),
        "predicted_merge": bool(will_merge(A, L)),
    }
    if res.success:
        r = args.N * args.tau_y / args.tau_h  # eq. 21 invariant H − r Y/H along the solution
        drift = res.H - r * res.Y / res.H - A
        summary.update({"t_final": float(res.t[-1]), "H_final": float(res.H[-1]),
                        "Y_final": float(res.Y[-1]), "W_final": float(res.W[-1]),
                        "max_abs_A_high_drift": float(np.max(np.abs(drift)))})
    if args.output:
        atomic_savez(args.output, t=res.t, H=res.H, Y=res.Y, W=res.W,
                     summary=json.dumps(to_jsonable(summary)), provenance=json.dumps(provenance()))
        summary["output"] = args.output
    _print(summary)
    return 0 if res.success else 1


def _portrait(args) -> int:
    for ext in (".png", ".pdf"):  # the two files save_phase_portrait writes for STEM
        check_output_file(Path(args.out).with_suffix(ext), "--out")
    starts = None
    if args.start:
        starts = []
        for text in args.start:
            try:
                h, w = (float(v) for v in text.split(","))
            except ValueError:
                raise ValueError(f"--start must be 'H0,W0' (got {text!r})") from None
            starts.append((h, w))
    paths = save_phase_portrait(args.out, args.a_high, args.a_low, N=args.N, tau_h=args.tau_h,
                                tau_y=args.tau_y, starts=starts, H_max=args.H_max,
                                W_max=args.W_max, t_max=args.t_max)
    _print({"figures": [str(p) for p in paths]})
    return 0


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog=PROG, description=(
        "Interaction theory of representation mergers (van Rossem & Saxe, ICML 2025): closed "
        "forms, fixed points, integration and phase portraits. Output is JSON on stdout."))
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    p = sub.add_parser("closed-form", help="final distance and merger verdict (P25 eqs. 5-7)",
                       description="Final distance H+ (eq. 5) and merger verdict (eq. 7), from "
                       "--a-high/--a-low or from raw measurements --H0 --Y0 --S --N --tau-h --tau-y.")
    p.add_argument("--a-high", type=float, help="A_high (P25 eq. 6)")
    p.add_argument("--a-low", type=float, help="A_low >= 0 (P25 eq. 25)")
    p.add_argument("--H0", type=float, help="initial squared distance ||dh(0)||^2 (> 0)")
    p.add_argument("--Y0", type=float, help="initial mean squared prediction difference (>= 0)")
    p.add_argument("--S", type=float, help="mean squared target difference (>= 0)")
    _add_rates(p, required=False)
    p.set_defaults(func=_closed_form)

    p = sub.add_parser("fixed-points", help="fixed points of eq. 23 with stability",
                       description="All three fixed points (P25 eq. 24) with eigenvalues or ray "
                       "growth rates and stability class (docs/theory.md 2.5).")
    _add_invariants(p)
    _add_rates(p)
    p.add_argument("--method", choices=("exact", "numeric"), default="exact",
                   help="closed forms, or polynomial roots + numerical eigenvalues")
    p.set_defaults(func=_fixed_points)

    p = sub.add_parser("integrate", help="integrate the three-scalar system (P25 eq. 20)",
                       description="One integration of P25 eq. 20 with solve_ivp; prints a summary.")
    p.add_argument("--H0", type=float, required=True, help="initial H = ||dh||^2 (> 0)")
    p.add_argument("--Y0", type=float, required=True, help="initial Y = <||dy_i||^2> (>= 0)")
    p.add_argument("--W0", type=float, required=True, help="initial W = <w_i>")
    p.add_argument("--S", type=float, required=True, help="S = <||y~_i||^2> (>= 0)")
    _add_rates(p)
    p.add_argument("--t-max", type=float, required=True, help="end time (> 0)")
    p.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD, help="solve_ivp method")
    p.add_argument("--rtol", type=float, default=DEFAULT_RTOL, help="relative tolerance")
    p.add_argument("--atol", type=float, default=DEFAULT_ATOL, help="absolute tolerance")
    p.add_argument("--merger-tol", type=float, default=None,
                   help="stop when H falls to this value (terminal merger event)")
    p.add_argument("--coordinates", choices=COORDINATES, default="signed",
                   help="signed-distance coordinates (regular through crossings) or eq. 20 literally")
    p.add_argument("--max-steps", type=int, default=DEFAULT_MAX_STEPS,
                   help="most solver steps; a run needing more fails (exit 1)")
    p.add_argument("--output", default=None, help="write t, H, Y, W and the summary to this .npz")
    p.set_defaults(func=_integrate)

    p = sub.add_parser("portrait", help="save a phase portrait of eq. 23 (PNG + PDF)",
                       description="Phase portrait of the reduced (H, W) system, P25 eq. 23.")
    _add_invariants(p)
    _add_rates(p)
    p.add_argument("--out", required=True, help="output stem; writes STEM.png and STEM.pdf")
    p.add_argument("--start", action="append", metavar="H0,W0",
                   help="trajectory start (repeatable); default: a fan of 9 starts")
    p.add_argument("--H-max", type=float, default=None, help="right edge of the plot")
    p.add_argument("--W-max", type=float, default=None, help="half-height of the plot")
    p.add_argument("--t-max", type=float, default=None,
                   help="integration time of each trajectory (default: 40 slowest e-foldings)")
    p.set_defaults(func=_portrait)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    run_cli(main, PROG)
