"""Several seeds of the modular-addition run as one resumable sweep, compared with Nanda et al. (2023)
(docs/experiments.md §6.3).

    python -m validation.modular_addition --preset fast --seeds 3 --executor processes --workers 2

    from validation.modular_addition import PRESETS, run_seeds
    outcome = run_seeds(PRESETS["fast"], 3, "runs/modular_addition/fast_seeds0-2")
    outcome.rows[0]["first_epoch_test_acc"]["0.95"]

**Seeds.** Seed ``i`` of ``n_seeds`` trains with model seed ``config.seed + i`` and data seed
``config.train.data_seed + i``: each seed has its own initialisation *and* its own train/test
split, as independent repetitions of the experiment do, and seed ``i = 0`` is exactly the
single run of the same options. ``fixed_data_seed=True`` (on the command line: giving
``--data-seed``) keeps ``config``'s split for every seed, so that only the initialisation varies.

**Execution.** Each seed is one task of ``validation.sweep.run_sweep``: it runs ``run`` into
``OUT/seed_<s>/`` (that seed's results, figures and resume checkpoints, so a seed killed mid-run
continues from its last checkpoint) and returns its row of the comparison (``seed_row``).
Rerunning the same command reuses the finished seeds and computes only the rest; more seeds
extend the same directory; a directory holding seeds of another configuration (or of another
rule for the data seeds, or another toolkit version) is refused before any work. Execution
settings (threads, device) are not part of a task's key. With ``executor='dask'`` the workers
write ``OUT/seed_<s>/`` themselves: ``OUT`` must be on a file system they share with this process.

Layout of ``OUT``::

    sweep.json, tasks/<key>.npz   the sweep (validation/sweep.py): one finished file per seed
    seed_<s>/                     the run of seed s as ``run`` writes it (results.npz/.json, figures)
    seeds_summary.json            base config, seeds, provenance (package version), the rows, the paper's values
    comparison.md                 the table: one row per seed, one for Nanda et al.'s mainline
    seeds_progress.{png,pdf}      every seed's curves overlaid (``figures.plot_seeds_progress``)

**Row** (``seed_row``; docs/experiments.md §4.4, §4.7, §4.8). ``None`` where a quantity is not
defined in that run (a seed that never reached test accuracy 0.95, a run without a cleanup
phase); the row's ``status`` says why. The columns: the automatic phase boundaries
(``rnn.modular.progress.phase_boundaries``: end of memorisation = test-loss peak, start of
cleanup = knee of the log test loss); the first checkpoint with test accuracy >= 0.95 and >= 0.99;
the final model's key frequencies and the rule that found them; whether the restricted loss
falls before the test loss, comparing their *half-drop epochs* (``half_drop_epoch``); whether the
excluded loss rises during circuit formation (its ratio between the start of cleanup and the end
of memorisation); the total squared weight norm and the Gini coefficients of the Fourier norms of
``W_E`` and ``W_L`` at the first and the last checkpoint; the final train and test loss.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from interaction.artifacts import (atomic_write_bytes, atomic_write_json, check_output_dir, package_version,
                                   provenance, save_figure, to_jsonable)
from interaction.checks import check_int
from rnn.modular.progress import DEFAULT_KEY_FREQUENCY_RULE
from rnn.modular.train import resolve_device
from validation.common.keys import compute_config, config_key
from validation.common.options import config_from_dict
from validation.common.results import Results, read_json
from validation.modular_addition.config import EXPERIMENT, ExperimentConfig
from validation.modular_addition.figures import plot_seeds_progress
from validation.modular_addition.reference import NANDA_MAINLINE, NANDA_OTHER_SEEDS_KEY_FREQUENCIES, PaperRun
from validation.modular_addition.run import CHECKPOINT, load, replot, run
from validation.sweep import TASK_DIR, run_sweep

EXPERIMENT_SEEDS = f"{EXPERIMENT}_seeds"
SUMMARY = "seeds_summary.json"
TABLE = "comparison.md"
FIGURE = "seeds_progress"
#: test accuracies whose first checkpoint the table reports (keys of ``first_epoch_test_acc``)
ACCURACIES = (0.95, 0.99)
#: a curve "falls" only if it drops by at least this factor after memorisation: a flat curve's
#: wiggles have no half-drop epoch (grokking drops the test loss by orders of magnitude)
MIN_FALL = 10.0
MISSING = "–"


def seed_dir(out_dir: str | Path, seed: int) -> Path:
    """Where the run of model seed ``seed`` lives: ``OUT/seed_<seed>``."""
    return Path(out_dir) / f"seed_{seed}"


def seed_configs(config: ExperimentConfig, n_seeds: int, *, fixed_data_seed: bool = False) -> list[ExperimentConfig]:
    """The config of every seed: model seed ``seed + i``, data seed ``data_seed + i`` (or fixed), ``i < n_seeds``."""
    n_seeds = check_int("seeds", n_seeds, minimum=1)
    tc = config.train
    return [replace(config, train=replace(tc, seed=tc.seed + i,
                                          data_seed=tc.data_seed if fixed_data_seed else tc.data_seed + i))
            for i in range(n_seeds)]


def sweep_config(config: ExperimentConfig, *, fixed_data_seed: bool = False) -> dict[str, Any]:
    """What every seed of a directory shares: the compute config without the seeds, the data-seed rule, the version.

    The rule is part of it so that ``seed_<s>/`` always holds the same computation in one
    directory: either the data seed is fixed (and stays in the config) or it is the model seed
    plus a fixed offset.
    """
    shared = compute_config(config)
    varying = ("seed",) if fixed_data_seed else ("seed", "data_seed")
    shared["train"] = {k: v for k, v in shared["train"].items() if k not in varying}
    rule = ({"data_seed": "fixed"} if fixed_data_seed else
            {"data_seed": "model seed + offset", "offset": config.train.data_seed - config.train.seed})
    return {"experiment": EXPERIMENT_SEEDS, "config": shared, "seeding": rule, "version": package_version()}


# --- one seed's row: arrays and summary of a run in, JSON-ready values out ---

def _number(value: Any) -> float | None:
    """A finite float, or ``None`` for a missing or non-finite value (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def first_epoch_at(epochs: np.ndarray, values: np.ndarray, threshold: float) -> int | None:
    """The first checkpoint epoch with ``values >= threshold`` (None if never)."""
    hit = np.flatnonzero(np.asarray(values, dtype=np.float64) >= threshold)
    return int(epochs[hit[0]]) if hit.size else None


def half_drop_epoch(epochs: np.ndarray, loss: np.ndarray, start: int) -> int | None:
    """The first checkpoint at or after ``start`` where ``log loss`` has covered half of its fall from its value
    at ``start`` to its lowest value afterwards; None if it falls by less than ``MIN_FALL`` there.

    Comparing it between two curves says which falls first without a threshold on the scale of
    either loss (the restricted and the test loss start and end at different levels).
    """
    t = np.asarray(epochs)
    with np.errstate(divide="ignore"):
        y = np.log(np.asarray(loss, dtype=np.float64))
    keep = (t >= start) & np.isfinite(y)  # a diverged run is read up to its last finite checkpoint
    t, y = t[keep], y[keep]
    if y.size == 0 or y[0] - y.min() < np.log(MIN_FALL):
        return None
    return int(t[np.argmax(y <= (y[0] + y.min()) / 2)])


def seed_row(arrays: Mapping[str, np.ndarray], summary: Mapping[str, Any]) -> dict[str, Any]:
    """The comparison's row of one run (the module docstring defines every entry); JSON-ready."""
    t = np.asarray(arrays["epochs"])
    phases, keys = summary["phase_boundaries"], summary["key_frequencies"]
    mem, cleanup = phases["memorisation_end"], phases["cleanup_start"]
    restricted = half_drop_epoch(t, arrays["restricted_loss"], mem)
    test = half_drop_epoch(t, arrays["test_loss"], mem)
    excluded = np.asarray(arrays["excluded_loss"], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = None if cleanup is None else _number(excluded[np.searchsorted(t, cleanup)] /
                                                     excluded[np.searchsorted(t, mem)])
    return {
        "status": summary["status"], "message": summary["message"], "epochs_trained": int(summary["epochs_trained"]),
        "memorisation_end": mem, "cleanup_start": cleanup, "cleanup_end": phases["cleanup_end"],
        "phase_status": phases["status"],
        "first_epoch_test_acc": {f"{a}": first_epoch_at(t, arrays["test_acc"], a) for a in ACCURACIES},
        "key_frequencies": [int(k) for k in keys["used"]],
        "key_frequency_rule": keys["fallback_rule"] or keys["default_rule"],
        "restricted_half_drop_epoch": restricted, "test_half_drop_epoch": test,
        "restricted_falls_before_test": None if restricted is None or test is None else restricted < test,
        "excluded_ratio_circuit_formation": ratio,
        "excluded_rises_in_circuit_formation": None if ratio is None else ratio > 1.0,
        **{name: [_number(arrays[name][0]), _number(arrays[name][-1])]
           for name in ("weight_norm_sq", "gini_embedding", "gini_neuron_logit")},
        "final_train_loss": _number(arrays["train_loss"][-1]), "final_test_loss": _number(arrays["test_loss"][-1]),
        "final_test_acc": _number(arrays["test_acc"][-1]),
        "theory": theory_row(summary.get("measured_theory", {})),
    }


def theory_row(measured: Mapping[str, Any]) -> dict[str, Any]:
    """Per theory site: the fitted kappa (and whether its fit succeeded), the observed mergers, and eq. 7's
    held-out accuracy and the AUC of H²/Y at each phase checkpoint (``validation.modular_addition.theory``)."""
    row = {}
    for site, s in measured.get("per_site", {}).items():
        checkpoints = s["checkpoints"]
        row[site] = {"kappa": _number(s["kappa_tau_y_over_tau_h"]), "fit_success": bool(s["pooled_fit"]["success"]),
                     "merged_agreeing": int(s["observed_mergers"]["agreeing"]),
                     "merged_agreeing_commuted": int(s["observed_mergers"]["agreeing_commuted"]),
                     "merged_disagreeing": int(s["observed_mergers"]["disagreeing"]),
                     "pairs_agreeing": int(s["pairs"]["agreeing"]),
                     "heldout_accuracy": {name: _number(c["heldout_agreeing_accuracy"])
                                          for name, c in checkpoints.items()},
                     "auc_H2_over_Y": {name: _number(v) for name, v in s["rate_free_auc_H2_over_Y"].items()}}
    return row


def theory_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The second table of ``comparison.md``: the interaction theory measured per seed and site."""
    phases = ("memorisation_end", "circuit_formation", "cleanup_start")
    head = ["seed", "site", "kappa = tau_y/tau_h", "agreeing pairs merged (commuted)", "disagreeing merged",
            *(f"eq. 7 held-out accuracy / AUC(H²/Y) at {p}" for p in phases)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        for site, s in row.get("theory", {}).items():
            kappa = _cell(s["kappa"], "{:.3g}") + ("" if s["fit_success"] else " (fit flagged)")
            cells = [f"{row['seed']}", site, kappa,
                     f"{s['merged_agreeing']} of {s['pairs_agreeing']} ({s['merged_agreeing_commuted']})",
                     f"{s['merged_disagreeing']}",
                     *(f"{_cell(s['heldout_accuracy'].get(p), '{:.2f}')} / {_cell(s['auc_H2_over_Y'].get(p), '{:.2f}')}"
                       for p in phases)]
            lines.append("| " + " | ".join(cells) + " |")
    return lines if len(lines) > 2 else []


def run_seed_task(task: dict[str, Any], *, root: str, threads: int | None, device: str, save_checkpoints: bool,
                  progress: bool, command: str | None) -> dict[str, np.ndarray]:
    """One sweep task: ``run`` of the task's config into ``root/seed_<s>/``; returns its row as JSON text.

    JSON rather than numeric arrays: the row holds ``None`` for undefined values and a list of
    key frequencies of any length, which arrays could hold only with sentinel values.
    """
    config = config_from_dict(ExperimentConfig, task["config"], source="sweep task")
    directory = seed_dir(root, config.seed)
    finished = finished_run(directory, config)
    if finished is None:
        result = run(config, directory, progress=progress, threads=threads, device=device,
                     save_checkpoints=save_checkpoints, command=command)
        arrays, summary = result.arrays, result.summary
    else:  # this seed finished earlier (killed before its task file, or run alone with the same options)
        arrays, summary = finished.arrays, finished.meta
    row = {**seed_row(arrays, summary), "read_back": finished is not None}
    return {"row": np.asarray(json.dumps(row, allow_nan=False))}


def finished_run(directory: Path, config: ExperimentConfig) -> Results | None:
    """The results in ``directory`` if they are a finished run of exactly ``config``, else ``None``.

    A run that was interrupted leaves its resume checkpoint (removed only after the results
    are written) and is continued by ``run`` instead; results of another configuration are
    refused by ``run`` itself.
    """
    if not (directory / "results.json").exists() or (directory / CHECKPOINT).exists():
        return None
    loaded_config, results = load(directory)
    return results if config_key(loaded_config) == config_key(config) else None


# --- the comparison table ---

def _cell(value: Any, fmt: str = "{}") -> str:
    return MISSING if value is None else fmt.format(value)


def _frequencies(freqs: Sequence[int], rule: str | None = None) -> str:
    text = f"{len(freqs)}: {{{', '.join(map(str, freqs))}}}" if len(freqs) else "0"
    return text if rule in (None, DEFAULT_KEY_FREQUENCY_RULE) else f"{text} (rule {rule})"


def _yes_no(value: bool | None, detail: str = "") -> str:
    return MISSING if value is None else ("yes" if value else "no") + detail


def _start_end(pair: Sequence[float | None], fmt: str) -> str:
    return MISSING if None in pair else f"{fmt.format(pair[0])} → {fmt.format(pair[1])}"


COLUMNS = ("run", "status", "end of memorisation", "start of cleanup", *(f"test acc ≥ {a}" for a in ACCURACIES),
           "key frequencies", "restricted loss falls before test loss", "excluded loss rises in circuit formation",
           "Σθ² start → end", "Gini W_E start → end", "Gini W_L start → end", "final train loss",
           "final test loss")


def seed_cells(row: Mapping[str, Any]) -> list[str]:
    """The table cells of one seed's row, in ``COLUMNS`` order."""
    restricted = ("" if row["restricted_falls_before_test"] is None else
                  f" ({row['restricted_half_drop_epoch']} vs {row['test_half_drop_epoch']})")
    excluded = ("" if row["excluded_ratio_circuit_formation"] is None else
                f" (×{row['excluded_ratio_circuit_formation']:.3g})")
    return [f"seed {row['seed']} (data {row['data_seed']})", row["status"], _cell(row["memorisation_end"]),
            _cell(row["cleanup_start"]), *(_cell(row["first_epoch_test_acc"][f"{a}"]) for a in ACCURACIES),
            _frequencies(row["key_frequencies"], row["key_frequency_rule"]),
            _yes_no(row["restricted_falls_before_test"], restricted),
            _yes_no(row["excluded_rises_in_circuit_formation"], excluded),
            _start_end(row["weight_norm_sq"], "{:.3g}"), _start_end(row["gini_embedding"], "{:.2f}"),
            _start_end(row["gini_neuron_logit"], "{:.2f}"), _cell(row["final_train_loss"], "{:.2g}"),
            _cell(row["final_test_loss"], "{:.2g}")]


def paper_cells(paper: PaperRun) -> list[str]:
    """The table cells of the paper's run; what it does not report is ``MISSING``."""
    return [paper.label, "published", str(paper.memorisation_end), str(paper.cleanup_start),
            *(MISSING for _ in ACCURACIES), _frequencies(paper.key_frequencies),
            _yes_no(paper.restricted_falls_before_test), _yes_no(paper.excluded_rises_in_circuit_formation),
            MISSING, MISSING, MISSING, MISSING, MISSING]


def _setting(P: int, train_frac: float, weight_decay: float) -> str:
    return f"P = {P}, train fraction {train_frac:g}, weight decay {weight_decay:g}"


def comparison_table(config: ExperimentConfig, rows: Sequence[Mapping[str, Any]],
                     paper: PaperRun = NANDA_MAINLINE) -> str:
    """``comparison.md``: one row per seed and one for ``paper``, then the notes that make them comparable."""
    tc = config.train
    lines = [f"# Modular addition: {len(rows)} seeds against {paper.label}", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(seed_cells(row)) + " |" for row in rows]
    lines += ["| " + " | ".join(paper_cells(paper)) + " |", ""]
    ours = (tc.P, tc.train_frac, tc.weight_decay)
    theirs = (paper.P, paper.train_frac, paper.weight_decay)
    notes = [f"Our runs: {_setting(*ours)}, epoch cap {tc.max_epochs}, checkpoints every {tc.eval_every} epochs "
             f"after the first {tc.dense_until}. The paper: {_setting(*theirs)}."]
    if tc.P != paper.P:
        notes.append(f"**Our P ({tc.P}) differs from the paper's ({paper.P}):** the epochs, the key frequencies "
                     f"(of 1..{(tc.P - 1) // 2} here, 1..{(paper.P - 1) // 2} there) and the losses are not "
                     "directly comparable; only the order of the phases and the qualitative columns are.")
    elif ours != theirs:
        notes.append("Our training fraction or weight decay differs from the paper's: the epochs are not "
                     "directly comparable.")
    others = "; ".join(f"seed {s}: {{{', '.join(map(str, f))}}}" for s, f in NANDA_OTHER_SEEDS_KEY_FREQUENCIES.items())
    notes += [
        "Phase boundaries are detected automatically from the test loss (end of memorisation = its peak, start of "
        "cleanup = the knee of its log); the test-accuracy columns give the first checkpoint reaching that "
        f"accuracy. Key frequencies are the final model's (rule {DEFAULT_KEY_FREQUENCY_RULE} unless the cell "
        "names another).",
        "Restricted loss falls before test loss: the cell gives (the half-drop epoch of the restricted loss on "
        "all pairs vs that of the test loss); a half-drop epoch is the first checkpoint after memorisation at "
        "which the log of the loss has covered half of its fall to its later minimum, and a loss that falls by "
        f"less than {MIN_FALL:g}x has none. Excluded loss rises: the cell gives (the excluded loss at the start "
        "of cleanup / at the end of memorisation).",
        f"The paper's row (docs/experiments.md §4.4, §4.5): it reports generalisation after about "
        f"{paper.generalises_after} epochs without an accuracy threshold, a final loss of {paper.final_loss:.2g} "
        "without naming the split, and the weight norm falling and the Gini coefficients jumping in cleanup "
        f"without values at these epochs. Its other seeds use 3-4 key frequencies ({others}).",
        f"{MISSING}: not reached or not defined in that run (its status says why: 'capped' stopped at the epoch "
        "cap, 'diverged' at a non-finite loss); in the paper's row: not reported.",
    ]
    theory = theory_table(rows)
    if theory:
        theory = ["", "## The interaction theory measured per seed (docs/theory.md §2.3, §2.6)", "", *theory, "",
                  "- Merged: final normalised distance d/r below the merge threshold at that site; commuted: "
                  "(a, b) / (b, a) pairs. Eq. 7 predicts a same-answer pair merges iff A_high = H - kappa Y/H <= 0 "
                  "at that checkpoint, with kappa from one pooled fit of eq. 20 on the calibration half; the "
                  "accuracy is over the held-out same-answer pairs. AUC: the rate-free statistic H²/Y ranking "
                  "the held-out same-answer pairs that merged below those that did not ('–' without both)."]
    return "\n".join(lines + [f"- {n}" for n in notes] + theory) + "\n"


# --- the sweep ---

@dataclass(frozen=True)
class SeedsResult:
    """What ``run_seeds`` produced: the rows (seed order), the summary written, the files, the sweep's bookkeeping."""

    config: ExperimentConfig
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    out_dir: Path
    written: list[Path]
    computed: list[int]
    reused: list[int]


def _draw_seeds_progress(config: ExperimentConfig, curves: Sequence[tuple[str, Mapping[str, np.ndarray]]],
                         out_dir: Path) -> list[Path]:
    """``OUT/seeds_progress.{png,pdf}``: every seed's curves overlaid."""
    tc = config.train
    fig = plot_seeds_progress(curves, f"{len(curves)} seeds, {_setting(tc.P, tc.train_frac, tc.weight_decay)}")
    written = save_figure(fig, out_dir / FIGURE)
    plt.close(fig)
    return written


def replot_seeds(path: str | Path) -> list[Path]:
    """Redraw a finished ``--seeds`` directory's figures: every seed's own and the overlaid curves.

    Reads ``OUT/seeds_summary.json`` and each seed's validated results; nothing is retrained and the
    summary and the table are left as they are. A missing or damaged file is named in a one-line
    ``ValueError``.
    """
    out_dir = Path(path)
    summary_path = out_dir / SUMMARY
    summary = read_json(summary_path)
    if summary.get("experiment") != EXPERIMENT_SEEDS or not isinstance(summary.get("rows"), list):
        raise ValueError(f"{summary_path}: not a seeds summary of {EXPERIMENT} (experiment "
                         f"{summary.get('experiment')!r})")
    config = config_from_dict(ExperimentConfig, summary.get("config"), source=str(summary_path))
    written, curves = [], []
    for row in summary["rows"]:
        if not isinstance(row, dict) or not isinstance(row.get("dir"), str) or "seed" not in row:
            raise ValueError(f"{summary_path}: a row without its seed and directory")
        directory = out_dir / row["dir"]
        written += replot(directory)
        curves.append((f"seed {row['seed']}", load(directory)[1].arrays))
    return written + _draw_seeds_progress(config, curves, out_dir)


def run_seeds(config: ExperimentConfig, seeds: int, out_dir: str | Path, *, fixed_data_seed: bool = False,
              executor: str = "serial", workers: int | None = None, scheduler: Any = None,
              threads: int | None = 1, device: str = "cpu", save_checkpoints: bool = False, progress: bool = False,
              command: str | None = None) -> SeedsResult:
    """Run (or resume) ``seeds`` seeds of ``config`` into ``out_dir``; write the summary, the table and the figure.

    ``executor``, ``workers``, ``scheduler``: as ``validation.sweep.run_sweep``. ``threads``: torch threads
    per seed (default 1: seeds run side by side, one thread each, is fastest; docs/experiments.md §6.1).
    ``device``, ``save_checkpoints``, ``command``: as ``run``, for every seed. Nothing is written
    before the inputs and the output directory are checked (one-line ``ValueError``).
    """
    out_dir = check_output_dir(out_dir, option="--out")
    configs = seed_configs(config, seeds, fixed_data_seed=fixed_data_seed)
    resolve_device(device)
    if threads is not None:
        check_int("threads", threads, minimum=1)
    # per-seed progress bars only where the seeds run one after another here: parallel ones would interleave
    task_fn = partial(run_seed_task, root=str(out_dir.resolve()), threads=threads, device=device,
                      save_checkpoints=save_checkpoints, progress=progress and executor == "serial", command=command)
    shared = sweep_config(config, fixed_data_seed=fixed_data_seed)
    outcome = run_sweep(task_fn, [{"config": asdict(c)} for c in configs], out_dir, sweep_config=shared,
                        executor=executor,
                        workers=workers, scheduler=scheduler, progress=progress, desc="seeds")
    rows, curves = [], []
    for c, key, result, seconds in zip(configs, outcome.keys, outcome.results, outcome.seconds):
        rows.append({"seed": c.seed, "data_seed": c.train.data_seed, "dir": seed_dir(out_dir, c.seed).name,
                     **json.loads(str(result["row"])), "task_seconds": _number(seconds)})
        try:
            curves.append((f"seed {c.seed}", load(seed_dir(out_dir, c.seed))[1].arrays))
        except ValueError as exc:
            raise ValueError(f"{exc}; remove {out_dir / TASK_DIR / f'{key}.npz'} to recompute seed {c.seed}") from None
    summary = {"experiment": EXPERIMENT_SEEDS, "command": command, "config": asdict(config),
               "seeds": [c.seed for c in configs], "data_seeds": [c.train.data_seed for c in configs],
               "data_seed_rule": shared["seeding"],
               "rows": rows,
               "reference": {**asdict(NANDA_MAINLINE),
                             "other_seeds_key_frequencies": NANDA_OTHER_SEEDS_KEY_FREQUENCIES,
                             "source": "Nanda et al. (2023), as docs/experiments.md §4.4-§4.5 records it"},
               "provenance": provenance()}
    written = [atomic_write_json(out_dir / SUMMARY, summary),
               atomic_write_bytes(out_dir / TABLE, comparison_table(config, rows).encode())]
    written += _draw_seeds_progress(config, curves, out_dir)
    seed_of = dict(zip(outcome.keys, (c.seed for c in configs)))
    return SeedsResult(config, rows, to_jsonable(summary), out_dir, written,
                       computed=[seed_of[k] for k in outcome.computed], reused=[seed_of[k] for k in outcome.reused])
