"""The interaction theory in ten lines: closed form, integration, fixed points, phase portrait.

    python examples/theory_in_ten_lines.py [--small] [--out DIR]

A pair of representations with squared distance ``H0``, output-difference ``Y0`` and
target difference ``S`` over ``N`` shared continuations (docs/theory.md §2): the closed
form says where the pair ends up and whether it merges; integrating eq. 20 agrees.
"""
import argparse
import tempfile

import matplotlib

import interaction


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="shorter integration (for the test suite)")
    parser.add_argument("--out", default=None, help="folder for the phase portrait (default: a temporary one)")
    args = parser.parse_args(argv)
    matplotlib.use("Agg")  # a script: draw without a display
    out = args.out or tempfile.mkdtemp(prefix="phase_portraits_")
    rates = dict(N=4.0, tau_h=0.1, tau_y=0.1)
    pairs = {"agreeing": (1.0, 0.5, 0.0), "disagreeing": (1.0, 0.5, 0.1)}
    for name, (H0, Y0, S) in pairs.items():
        # --- the ten lines -------------------------------------------------------------------------
        A_high = float(interaction.a_high(H0, Y0, **rates))                   # eq. 6
        A_low = float(interaction.a_low(S, **rates))                          # eq. 25
        H_inf = float(interaction.final_distance(A_high, A_low))              # eq. 5
        merges = bool(interaction.will_merge(A_high, A_low))                  # eq. 7
        run = interaction.integrate_three_scalar(H0, Y0, 0.0, S=S, t_max=50.0 if args.small else 500.0, **rates)
        stable = [p.name for p in interaction.fixed_points(A_high, A_low, **rates) if p.attracting]
        files = interaction.save_phase_portrait(f"{out}/{name}", A_high, A_low, grid=12 if args.small else 40, **rates)
        # -------------------------------------------------------------------------------------------
        print(f"{name} pair (S = {S:g}): A_high = {A_high:.3f}, A_low = {A_low:.3f} -> ||dh(inf)||^2 = {H_inf:.4f}, "
              f"will merge: {merges}; integrated H({run.t[-1]:g}) = {run.H[-1]:.4f}; attracting: {stable}; "
              f"portrait: {files[0]}")


if __name__ == "__main__":
    main()
