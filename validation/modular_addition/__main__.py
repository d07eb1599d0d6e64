"""``python -m validation.modular_addition``: the command line of the modular-addition experiment.

Options come from ``ExperimentConfig``'s fields (``validation.common.options``), the task,
model and optimiser knobs from the embedded ``rnn.modular.ModularConfig`` (``--P``,
``--train-frac``, ``--weight-decay``, ``--max-epochs``, ``--eval-every``, ``--seed``,
``--data-seed``, ...). ``run`` checks the output directory before any work (one line,
exit 2, nothing written); ``--replot`` validates the results it reads. ``--seeds K > 1`` runs
``K`` seeds as one resumable sweep (``validation.modular_addition.seeds``) with the sweep
executors' options (``--executor``, ``--workers``, ``--scheduler``; ``validation.common.execution``)
and writes the across-seed comparison with Nanda et al. (2023).
"""
from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from interaction.artifacts import check_output_dir
from interaction.checks import check_int
from interaction.cliutil import ArgumentParser, run_cli
from validation.common.execution import add_executor_options, check_executor_options
from validation.common.options import (add_config_options, config_from_args, given_options, name_option,
                                       replace_paths)
from validation.common.runtime import use_headless_matplotlib

from validation.modular_addition.config import PRESET_HELP, PRESETS, ExperimentConfig, preset
from validation.modular_addition.run import replot, run
from validation.modular_addition.seeds import SUMMARY, TABLE, SeedsResult, replot_seeds, run_seeds

PROG = "python -m validation.modular_addition"
DESCRIPTION = ("Grokking on modular addition: Nanda et al.'s progress measures and representation-merger "
               "measurements (docs/experiments.md §4-§5). Trains, measures, writes results and figures.")


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description=DESCRIPTION)
    p.add_argument("--preset", default="default", choices=sorted(PRESETS), help=PRESET_HELP)
    knobs = p.add_argument_group("experiment (default: the chosen preset's value; shown: the default preset's)")
    add_config_options(knobs, ExperimentConfig, defaults=PRESETS["default"])
    knobs.add_argument("--no-early-stop", action="store_true",
                       help="train to --max-epochs instead of stopping after test accuracy 0.99 plus a cleanup "
                            "margin of 0.5x that epoch (same as --stop-test-acc none)")
    execution = p.add_argument_group("execution")
    execution.add_argument("--threads", type=int, default=1,
                           help="torch CPU threads (0: torch's default). One thread per job is fastest on a shared "
                                "or 2-core machine; oversubscribed OpenMP threads can be 10x slower")
    execution.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                           help="where the transformer is trained and the theory's Jacobian-vector products run "
                                "(the merger metrics run on the CPU)")
    execution.add_argument("--save-checkpoints", action="store_true",
                           help="also write every weight snapshot (float32) to checkpoints.npz")
    execution.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    execution.add_argument("--replot", type=Path, default=None, metavar="DIR",
                           help="only redraw the figures of a finished run in DIR from its results files, then exit (a "
                                "--seeds directory: every seed's figures and the overlaid curves)")
    execution.add_argument("--out", type=Path, default=None,
                           help="output directory (default runs/modular_addition/<preset>_seed<seed>, with "
                                "--seeds K > 1 runs/modular_addition/<preset>_seeds<first>-<last>)")
    seeds = p.add_argument_group("several seeds")
    seeds.add_argument("--seeds", type=int, default=1,
                       help="number of seeds (>= 1). 1: the run of --seed, written to --out. K > 1: seeds S, S+1, "
                            "..., S+K-1 (S = --seed) as one resumable sweep, each a run in OUT/seed_<s>/ with its "
                            "own resume checkpoints; then OUT/seeds_summary.json, OUT/comparison.md (a table "
                            "against Nanda et al.'s mainline) and OUT/seeds_progress.png/.pdf. The data seed "
                            "advances with the seed (D, D+1, ..., D = the preset's data seed: each seed its own "
                            "train/test split) unless --data-seed is given, which fixes the split for every seed")
    add_executor_options(seeds, unit="seeds", when=" (with --seeds > 1; --threads applies to each; with dask the "
                                                    "workers write OUT/seed_<s>/: OUT must be on a shared file "
                                                    "system)")
    return p


def make_config(args: argparse.Namespace) -> ExperimentConfig:
    """The preset with every option given on the command line replaced; a bad value names its option."""
    try:
        config = config_from_args(args, preset(args.preset))
        if args.no_early_stop:
            config = replace_paths(config, {("train", "stop_test_acc"): None})
    except ValueError as exc:
        raise ValueError(name_option(str(exc), ExperimentConfig)) from None
    return config


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    use_headless_matplotlib()
    if args.replot is not None:
        if not args.replot.is_dir():
            raise ValueError(f"--replot {str(args.replot)!r} is not a run directory")
        check_output_dir(args.replot, option="--replot")  # the figures are rewritten there
        # validates the results files: one line naming a bad one
        (replot_seeds if (args.replot / SUMMARY).is_file() else replot)(args.replot)
        return 0
    threads = check_int("--threads", args.threads, minimum=0) or None
    n_seeds = check_int("--seeds", args.seeds, minimum=1)
    check_executor_options(args)
    config = make_config(args)
    command = " ".join([PROG, *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    if n_seeds > 1:
        return main_seeds(args, config, n_seeds, threads, command)
    out = args.out or Path("runs") / "modular_addition" / f"{args.preset}_seed{config.seed}"
    # run() checks that ``out`` can be written before it trains (one line, exit 2, nothing written)
    result = run(config, out, progress=not args.no_progress, threads=threads, device=args.device, command=command,
                 save_checkpoints=args.save_checkpoints)
    s = result.summary
    resumed = "" if result.resumed_from is None else f" (resumed from epoch {result.resumed_from})"
    phases = s["phase_boundaries"]
    print(f"{s['status']}: {s['message']}{resumed}; final test acc {s['final']['test_acc']:.4f}; "
          f"key frequencies {list(map(int, s['key_frequencies']['used']))}; phases {phases['memorisation_end']}/"
          f"{phases['cleanup_start']}/{phases['cleanup_end']}; wrote {out}")
    for line in theory_lines(s["measured_theory"]):
        print(line)
    return 0 if s["status"] != "diverged" else 1


def main_seeds(args: argparse.Namespace, config: ExperimentConfig, n_seeds: int, threads: int | None,
               command: str) -> int:
    """``--seeds K > 1``: the sweep over seeds, one line per seed and where the comparison is."""
    first = config.seed
    out = args.out or Path("runs") / "modular_addition" / f"{args.preset}_seeds{first}-{first + n_seeds - 1}"
    fixed_data_seed = ("train", "data_seed") in given_options(args, ExperimentConfig)
    # run_seeds checks every input and the output directory before it writes (one line, exit 2)
    result = run_seeds(config, n_seeds, out, fixed_data_seed=fixed_data_seed, executor=args.executor,
                       workers=args.workers, scheduler=args.scheduler, threads=threads, device=args.device,
                       save_checkpoints=args.save_checkpoints, progress=not args.no_progress, command=command)
    for line in seeds_lines(result):
        print(line)
    return 0 if all(row["status"] != "diverged" for row in result.rows) else 1


def seeds_lines(result: SeedsResult) -> list[str]:
    """One line per seed, then what the sweep reused and where the comparison is."""
    lines = []
    for row in result.rows:
        acc = ", ".join(f"test acc {a} at epoch {e}" for a, e in row["first_epoch_test_acc"].items() if e is not None)
        lines.append(f"seed {row['seed']} (data {row['data_seed']}): {row['status']}"
                     f"{'; ' + acc if acc else ''}; key frequencies {row['key_frequencies']}; phases "
                     f"{row['memorisation_end']}/{row['cleanup_start']}/{row['cleanup_end']}")
    read_back = sum(bool(row.get("read_back")) for row in result.rows if row["seed"] in result.computed)
    lines.append(f"{len(result.reused)} of {len(result.rows)} seeds reused, {len(result.computed)} computed"
                 f"{f' ({read_back} of them read back from a finished run in OUT/seed_<s>/)' if read_back else ''}; "
                 f"table: {result.out_dir / TABLE}; summary: {result.out_dir / SUMMARY}; "
                 f"runs: {result.out_dir}/seed_<s>/")
    return lines


def theory_lines(theory: dict) -> list[str]:
    """One line per theory site: the rate ratio, the observed mergers, eq. 7 and the rate-free AUC at the phases."""
    lines = []
    names = list(theory["checkpoints"])
    for site in theory["sites"]:
        b = theory["per_site"][site]
        kappa = b["kappa_tau_y_over_tau_h"]
        fit = "no rate fit" if kappa is None else \
            f"kappa=tau_y/tau_h {kappa:.3g}{'' if b['pooled_fit']['success'] else ' (fit flagged)'}"
        accuracy = "" if kappa is None else " eq.7 held-out accuracy " + "/".join(
            f"{b['checkpoints'][n]['heldout_agreeing_accuracy']:.2f}" for n in names) + ";"
        auc = "/".join(f"{b['rate_free_auc_H2_over_Y'][n]:.2f}" for n in names)
        m = b["observed_mergers"]
        lines.append(f"theory at {site}: {fit}; merged {m['agreeing']}/{b['pairs']['agreeing']} agreeing "
                     f"({m['agreeing_commuted']} of them (a,b)/(b,a)), {m['disagreeing']}/{b['pairs']['disagreeing']} "
                     f"disagreeing (d/r < {theory['merge_threshold']});{accuracy} AUC(H^2/Y) {auc} at "
                     f"{'/'.join(names)}")
    return lines


if __name__ == "__main__":
    run_cli(main, PROG)
