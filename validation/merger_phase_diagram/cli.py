"""The command line of the phase diagram (``python -m validation.merger_phase_diagram``).

Options come from the config dataclasses (``validation.common.options``): one per field
of ``PhaseDiagramConfig`` and of its embedded ``rnn.parity.TrainConfig`` (except the
fields the experiment fixes), each with its help text and the quick preset's value.
The output location is checked before any work; a bad value is one line and exit 2
(``interaction.cliutil.run_cli``).
"""
from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path

from interaction.artifacts import check_output_dir
from interaction.cliutil import ArgumentParser
from validation.common.execution import add_executor_options, check_executor_options
from validation.common.options import (
    HELP,
    add_config_options,
    config_from_args,
    given_options,
    name_option,
)
from validation.common.runtime import use_headless_matplotlib
from validation.merger_phase_diagram import DESCRIPTION
from validation.merger_phase_diagram.analysis import analyse, summary, theory_line
from validation.merger_phase_diagram.compare import compare, comparison_figure, write
from validation.merger_phase_diagram.config import (
    PRESETS,
    TRAIN_FIXED,
    PhaseDiagramConfig,
)
from validation.merger_phase_diagram.results import load, save
from validation.merger_phase_diagram.run import Result, default_out_dir, run

PROG = "python -m validation.merger_phase_diagram"

#: help of TrainConfig fields as this experiment uses them
TRAIN_HELP = {
    "loss": "training loss (P25's grid code: ce)",
    "max_epochs": "epoch cap (>= 1); a network that hits it is recorded as 'capped' (not converged)",
    "loss_threshold": "training stops (converged) once the training loss is below this (> 0)",
}


def _leaves(config) -> dict[str, object]:
    """Leaf field name -> value, embedded configs flattened (option names are flat)."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        out.update(_leaves(value) if dataclasses.is_dataclass(value) else {f.name: value})
    return out


def _help_texts() -> dict[str, str]:
    """Each field's help, plus the paper preset's value where it differs from the quick one."""
    texts = {}
    for cls in (PhaseDiagramConfig, type(PRESETS["quick"].train)):
        for f in dataclasses.fields(cls):
            if HELP in f.metadata:
                texts[f.name] = TRAIN_HELP.get(f.name, f.metadata[HELP])
    quick, paper = _leaves(PRESETS["quick"]), _leaves(PRESETS["paper"])
    for name, value in paper.items():
        if value != quick[name] and name in texts:
            shown = (f"{value[0]:g}:{value[-1]:g}:{len(value)}" if isinstance(value, tuple) and len(value) > 4
                     else str(value))
            texts[name] += f" (paper preset: {shown})"
    return texts


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog=PROG, description=DESCRIPTION,
                            epilog="Presets set every default; explicit options override them. "
                                   "Rerunning the same command resumes an interrupted run.")
    parser.add_argument("--preset", choices=tuple(PRESETS), default="quick",
                        help="quick: 4 gains x 4 fractions; paper: P25 Fig. 9's 20 x 20 grid. Both train "
                             "every network to convergence (training loss < --loss-threshold, as P25), with "
                             "--max-epochs as a safety net and --stall-window stopping networks without progress")
    analysis_fields = PhaseDiagramConfig.ANALYSIS_FIELDS
    compute_fields = tuple(name for name in _leaves(PRESETS["quick"]) if name not in analysis_fields)
    helps = _help_texts()
    add_config_options(parser.add_argument_group("experiment (default: the quick preset's value)"),
                       PhaseDiagramConfig, exclude=TRAIN_FIXED + analysis_fields, help_overrides=helps,
                       defaults=PRESETS["quick"])
    add_config_options(parser.add_argument_group("analysis (may change between reruns of the same sweep)"),
                       PhaseDiagramConfig, exclude=TRAIN_FIXED + compute_fields, help_overrides=helps,
                       defaults=PRESETS["quick"])
    execution = parser.add_argument_group("execution")
    execution.add_argument("--out", type=Path, help="output directory (default: runs/merger_phase_diagram/PRESET)")
    add_executor_options(execution, unit="ensembles")
    execution.add_argument("--no-progress", action="store_true", help="no progress bar")
    execution.add_argument("--plot-only", type=Path, metavar="RESULTS",
                           help="re-run the analysis on RESULTS (results.npz or its directory), rewrite RESULTS "
                                "with it (the run's record is kept) and redraw the figures; trains nothing")
    execution.add_argument("--compare", type=Path, nargs="+", metavar="RESULTS",
                           help="the theory test of two or more finished runs side by side (for example "
                                "--loss ce against --loss mse): comparison.json and comparison.{png,pdf} in --out "
                                "(default runs/merger_phase_diagram/comparison); trains nothing")
    return parser


def _compare(args: argparse.Namespace) -> int:
    _refuse_ignored(args, "--compare", ())
    out_dir = check_output_dir(args.out if args.out is not None else default_out_dir("comparison"), option="--out")
    result, _, _ = compare(list(args.compare))
    use_headless_matplotlib()
    written = write(result, out_dir)
    for figure in comparison_figure(result, out_dir):
        print(figure)
    for r in result["runs"]:
        v = r["verdict"]
        best = max(r["held_out"], key=lambda n: r["held_out"][n]["agreement"])
        print(f"{r['label']}: {r['generalised']} generalised; held-out ({result['scheme']}) best predictor {best} "
              f"{r['held_out'][best]['agreement']:.1%}"
              + ("" if v is None else f"; best theory {v['theory']} {r['held_out'][v['theory']]['agreement']:.1%} "
                                     f"{v['outcome']} best baseline {v['baseline']}"))
    print(f"comparison: {written}")
    return 0


def config_from_options(args: argparse.Namespace) -> PhaseDiagramConfig:
    """The preset with every explicitly given option applied (checked by the dataclasses)."""
    try:
        return config_from_args(args, PRESETS[args.preset])
    except ValueError as exc:
        raise ValueError(name_option(str(exc), PhaseDiagramConfig)) from None


def _refuse_ignored(args: argparse.Namespace, mode: str, allowed: tuple[str, ...]) -> None:
    """A mode that trains nothing refuses the options it would ignore (one line, before any work)."""
    ignored = [f"--{path[-1].replace('_', '-')}" for path in given_options(args, PhaseDiagramConfig)
               if path[-1] not in allowed]
    defaults = build_parser()
    ignored += [f"--{name}" for name in ("preset", "executor", "workers", "scheduler")
                if getattr(args, name) != defaults.get_default(name)]
    if ignored:
        raise ValueError(f"{mode} trains nothing and would ignore {', '.join(ignored)}: the results file "
                         f"carries the configuration it was computed with")


def _plot_only(args: argparse.Namespace) -> int:
    _refuse_ignored(args, "--plot-only", PhaseDiagramConfig.ANALYSIS_FIELDS)
    path = Path(args.plot_only)
    out_dir = check_output_dir(path if path.is_dir() else path.parent, option="--plot-only")
    arrays, config, loaded = load(path)
    analysis_given = {path[-1]: value for path, value in given_options(args, PhaseDiagramConfig).items()
                      if path[-1] in PhaseDiagramConfig.ANALYSIS_FIELDS}
    try:
        config = config.with_analysis(**analysis_given)
    except ValueError as exc:
        raise ValueError(name_option(str(exc), PhaseDiagramConfig)) from None
    use_headless_matplotlib()
    # imported here: figures import matplotlib, whose backend must be chosen first
    from validation.merger_phase_diagram.figures import make_figures

    analysis = analyse(arrays, config)
    # the results files carry the analysis they were last analysed with; the run's own record is kept
    kept = {key: loaded.meta[key] for key in ("seeds", "task_automata", "run") if key in loaded.meta}
    kept["computed_with"] = loaded.meta.get("computed_with", loaded.meta.get("provenance"))
    written = save(out_dir, arrays, config, analysis, kept)
    for figure in make_figures(arrays, analysis, config, out_dir):
        print(figure)
    print(theory_line(analysis))
    print(f"results rewritten with this analysis: {written.npz} (+ .json)")
    return 0


def report(result: Result) -> list[str]:
    """The lines the command prints after a run."""
    s = summary(result.arrays, result.analysis)
    tasks = result.reused + result.computed
    return [f"{result.reused} of {tasks} tasks reused, {result.computed} computed; "
            f"statuses {s['status_counts']}; {s['generalised']} of {s['networks']} generalised",
            theory_line(result.analysis),
            f"results: {result.out_dir / 'results.npz'} (+ .json); "
            f"figures: {', '.join(str(p) for p in result.figures[::2])}"]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.plot_only is not None and args.compare is not None:
        raise ValueError("--plot-only and --compare are two different modes: give one of them")
    if args.plot_only is not None:
        return _plot_only(args)
    if args.compare is not None:
        return _compare(args)
    config = config_from_options(args)
    check_executor_options(args)
    out_dir = check_output_dir(args.out if args.out is not None else default_out_dir(args.preset), option="--out")
    use_headless_matplotlib()
    result = run(config, out_dir, executor=args.executor, workers=args.workers, scheduler=args.scheduler,
                 progress=not args.no_progress)
    for line in report(result):
        print(line)
    return 0

