"""Several seeds of the modular-addition run (validation/modular_addition/seeds.py): sweep, resume, table, bad input."""
import dataclasses
import importlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from interaction.artifacts import package_version
from interaction.cliutil import run_cli
from rnn.modular import progress as pm
from validation.modular_addition import PRESETS
from validation.modular_addition.__main__ import PROG, build_parser, main, make_config
from validation.modular_addition.reference import NANDA_MAINLINE
from validation.modular_addition.seeds import (MISSING, SUMMARY, TABLE, comparison_table, seed_cells, seed_configs,
                                               seed_row, sweep_config)
from validation.sweep import TASK_DIR

ROOT = Path(__file__).resolve().parents[1]
# P = 7, a 16-wide model, 60 epochs, no theory sites: a few seconds per seed; it memorises and never groks.
TINY = ["--P", "7", "--max-epochs", "60", "--eval-every", "20", "--dense-until", "20", "--d-model", "16",
        "--d-mlp", "16", "--n-heads", "1", "--d-head", "8", "--linkage-every", "1000", "--pair-samples", "10",
        "--distance-samples", "100", "--theory-pairs", "4", "--theory-pooled-pairs", "2", "--theory-fit-pairs", "0",
        "--theory-fit-from", "initialisation", "--theory-sites", "", "--no-progress", "--executor", "serial"]
RUN = importlib.import_module("validation.modular_addition.run")
SEEDS = importlib.import_module("validation.modular_addition.seeds")


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """Two seeds through the command line (the per-seed figures skipped: they are tested with the single run)."""
    out = tmp_path_factory.mktemp("seeds") / "out"
    patch = pytest.MonkeyPatch()
    patch.setattr(RUN, "draw", lambda *a, **k: [])
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main([*TINY, "--seeds", "2", "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(previous)
        patch.undo()
    return out


def test_two_seeds_write_their_runs_the_summary_the_table_and_the_figure(swept):
    summary = json.loads((swept / SUMMARY).read_text())
    assert summary["experiment"] == "modular_addition_seeds" and summary["provenance"]["version"] == package_version()
    assert summary["seeds"] == [0, 1] and summary["data_seeds"] == [0, 1]  # the split advances with the seed
    assert summary["config"]["train"]["P"] == 7 and summary["config"]["train"]["seed"] == 0
    rows = summary["rows"]
    for row in rows:
        run_meta = json.loads((swept / f"seed_{row['seed']}" / "results.json").read_text())
        arrays = np.load(swept / f"seed_{row['seed']}" / "results.npz")
        assert run_meta["config"]["train"]["seed"] == run_meta["config"]["train"]["data_seed"] == row["seed"]
        phases = run_meta["phase_boundaries"]
        assert (row["memorisation_end"], row["cleanup_start"]) == (phases["memorisation_end"], phases["cleanup_start"])
        assert row["key_frequencies"] == run_meta["key_frequencies"]["used"]
        assert row["final_test_loss"] == arrays["test_loss"][-1]
        assert row["weight_norm_sq"] == [arrays["weight_norm_sq"][0], arrays["weight_norm_sq"][-1]]
        # 60 epochs memorise but never generalise: no grokking epoch, and the status says why
        assert row["status"] == "capped" and row["first_epoch_test_acc"] == {"0.95": None, "0.99": None}
    assert len(list((swept / TASK_DIR).glob("*.npz"))) == 2
    table = (swept / TABLE).read_text()
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    assert len(lines) == 1 + 2 + 1  # header, two seeds, the paper
    for line, row in zip(lines[1:3], rows):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[:2] == [f"seed {row['seed']} (data {row['data_seed']})", "capped"]
        assert cells[4] == cells[5] == MISSING  # never grokked: shown as missing, not as a number
    assert "Our P (7) differs from the paper's (113)" in table
    assert all((swept / f"seeds_progress.{ext}").stat().st_size > 0 for ext in ("png", "pdf"))


def test_rerun_reuses_the_finished_seeds(swept, monkeypatch, capsys):
    before = {name: (swept / name).read_bytes() for name in (SUMMARY, TABLE)}

    def refuse(*args, **kwargs):
        raise AssertionError("a finished seed was recomputed")
    monkeypatch.setattr(SEEDS, "run", refuse)
    assert main([*TINY, "--seeds", "2", "--out", str(swept)]) == 0
    assert "2 of 2 seeds reused, 0 computed" in capsys.readouterr().out
    assert {name: (swept / name).read_bytes() for name in (SUMMARY, TABLE)} == before


def test_a_seed_finished_without_its_task_file_is_reused_not_retrained(swept, tmp_path, monkeypatch, capsys):
    """A seed whose run finished but whose sweep file is missing (killed in between, or the seed
    run alone with the same options into OUT/seed_<s>) is read back, not trained again."""
    import shutil
    out = tmp_path / "out"
    shutil.copytree(swept, out)
    for task_file in (out / TASK_DIR).glob("*.npz"):
        task_file.unlink()
    before = (out / SUMMARY).read_bytes()

    def refuse(*args, **kwargs):
        raise AssertionError("a finished seed was retrained")
    monkeypatch.setattr(SEEDS, "run", refuse)
    assert main([*TINY, "--seeds", "2", "--out", str(out)]) == 0
    assert "2 computed (2 of them read back from a finished run" in capsys.readouterr().out

    def rows(text):  # everything but the task's own timing, which reading back does not repeat
        return [{k: v for k, v in row.items() if k not in ("task_seconds", "read_back")}
                for row in json.loads(text)["rows"]]
    assert rows((out / SUMMARY).read_text()) == rows(before)


def test_an_interrupted_seed_is_continued_by_run(swept, tmp_path, monkeypatch):
    """A resume checkpoint beside the results means the run did not finish: the task calls ``run``."""
    import shutil
    out = tmp_path / "out"
    shutil.copytree(swept, out)
    (out / "seed_0" / RUN.CHECKPOINT).write_bytes(b"")
    assert SEEDS.finished_run(out / "seed_0", SEEDS.seed_configs(make_config(build_parser().parse_args(TINY)), 1)[0]) is None
    assert SEEDS.finished_run(out / "seed_1", SEEDS.seed_configs(make_config(build_parser().parse_args(TINY)), 2)[1]) is not None


def test_replot_of_a_seeds_directory_redraws_every_seed_and_the_overlay(swept, tmp_path, monkeypatch):
    """``--replot OUT`` of a ``--seeds`` directory redraws each seed's figures and the overlaid curves,
    from the results files alone: nothing is trained and the summary and table stay as they are."""
    import shutil
    out = tmp_path / "out"
    shutil.copytree(swept, out)
    for figure in out.glob("seeds_progress.*"):
        figure.unlink()
    before = {name: (out / name).read_bytes() for name in (SUMMARY, TABLE)}
    redrawn = []
    monkeypatch.setattr(RUN, "draw", lambda arrays, meta, directory: redrawn.append(Path(directory).name) or [])

    def refuse(*args, **kwargs):
        raise AssertionError("replot trained a seed")
    monkeypatch.setattr(SEEDS, "run", refuse)
    assert main(["--replot", str(out)]) == 0
    assert redrawn == ["seed_0", "seed_1"]
    assert all((out / f"seeds_progress.{ext}").stat().st_size > 0 for ext in ("png", "pdf"))
    assert {name: (out / name).read_bytes() for name in (SUMMARY, TABLE)} == before


@pytest.mark.parametrize("damage, needle", [
    (lambda out: (out / SUMMARY).write_text("{not json"), "not a readable JSON file"),
    (lambda out: (out / SUMMARY).write_text(json.dumps({"experiment": "merger_phase_diagram", "rows": []})),
     "not a seeds summary"),
    (lambda out: (out / "seed_1" / "results.npz").write_bytes(b"truncated"), "seed_1/results.npz"),
])
def test_replot_of_a_damaged_seeds_directory_is_one_line(swept, tmp_path, capsys, damage, needle):
    import shutil
    out = tmp_path / "out"
    shutil.copytree(swept, out)
    damage(out)
    with pytest.raises(SystemExit) as exc:
        run_cli(main, PROG, ["--replot", str(out)])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and needle in err


def test_the_paper_row_comes_from_the_reference_constants(swept):
    paper = [line for line in (swept / TABLE).read_text().splitlines() if line.startswith(f"| {NANDA_MAINLINE.label}")]
    assert len(paper) == 1
    cells = [c.strip() for c in paper[0].strip("|").split("|")]
    assert cells[2:4] == [str(NANDA_MAINLINE.memorisation_end), str(NANDA_MAINLINE.cleanup_start)]
    freqs = NANDA_MAINLINE.key_frequencies
    assert cells[6] == f"{len(freqs)}: {{{', '.join(map(str, freqs))}}}"
    assert cells[4:6] == [MISSING, MISSING] and cells[9:] == [MISSING] * 5  # not reported by the paper
    # the table reads the constants, so other constants give another row
    config = make_config(build_parser().parse_args(TINY))
    rows = json.loads((swept / SUMMARY).read_text())["rows"]
    other = comparison_table(config, rows, dataclasses.replace(NANDA_MAINLINE, memorisation_end=1234, P=7))
    assert "| 1234 |" in other and "differs from the paper's" not in other
    # and the constants are those docs/experiments.md §4.4-§4.5 gives
    docs = (ROOT / "docs" / "experiments.md").read_text()
    assert "{" + ", ".join(map(str, NANDA_MAINLINE.key_frequencies)) + "}" in docs
    assert "phase lines at 1 400, 9 400 and 14 000" in docs and "`P = 113`" in docs


def _log_linear(t, knots, values):
    return np.exp(np.interp(t, knots, np.log(values)))


def _synthetic_grokking():
    """Curves of a run that memorises by epoch 1000 and groks near 6000: restricted loss falls (log-linearly)
    from 2000 to 3000, so its half-drop epoch is 2500; test loss falls from 5500 to 6500 (half-drop 6000)."""
    t = np.arange(0, 10_001, 100)
    test_loss = _log_linear(t, [0, 1000, 5500, 6500, 10_000], [1.0, 4.0, 4.0, 1e-6, 1e-6])
    arrays = {"epochs": t, "test_loss": test_loss, "train_loss": _log_linear(t, [0, 1000, 10_000], [5, 1e-7, 1e-7]),
              "test_acc": np.interp(t, [0, 5500, 6500, 10_000], [0.05, 0.05, 1.0, 1.0]),
              "restricted_loss": _log_linear(t, [0, 2000, 3000, 10_000], [4.0, 4.0, 1e-5, 1e-5]),
              "excluded_loss": np.where(t < 1000, 1.0, 1.0 + t / 1000), "weight_norm_sq": np.linspace(40, 20, t.size),
              "gini_embedding": np.linspace(0.1, 0.8, t.size), "gini_neuron_logit": np.linspace(0.2, 0.9, t.size)}
    summary = {"status": "grokked", "message": "", "epochs_trained": 10_000,
               "phase_boundaries": dataclasses.asdict(pm.phase_boundaries(t, test_loss)),
               "key_frequencies": {"used": np.array([3, 7]), "fallback_rule": None, "default_rule": "neurons"}}
    return arrays, summary


def test_seed_row_of_a_grokking_run():
    arrays, summary = _synthetic_grokking()
    row = seed_row(arrays, summary)
    assert row["memorisation_end"] == 1000 and 1000 < row["cleanup_start"] <= 6500
    # test accuracy 0.05 + 0.95 (t - 5500) / 1000 between the knots: 0.95 at 6447, 0.99 at 6489
    assert row["first_epoch_test_acc"] == {"0.95": 6500, "0.99": 6500}
    assert (row["restricted_half_drop_epoch"], row["test_half_drop_epoch"]) == (2500, 6000)
    assert row["restricted_falls_before_test"] is True and row["excluded_rises_in_circuit_formation"] is True
    json.dumps(row, allow_nan=False)  # JSON-ready
    cells = seed_cells({"seed": 4, "data_seed": 4, **row})
    assert cells[6] == "2: {3, 7}" and cells[7] == "yes (2500 vs 6000)" and cells[9] == "40 → 20"
    assert MISSING not in cells


def test_a_flat_loss_has_no_half_drop_epoch():
    arrays, summary = _synthetic_grokking()
    arrays["restricted_loss"] = np.full(arrays["epochs"].size, 2.0)
    row = seed_row(arrays, summary)
    assert row["restricted_half_drop_epoch"] is None and row["restricted_falls_before_test"] is None
    assert seed_cells({"seed": 0, "data_seed": 0, **row})[7] == MISSING


def test_seed_configs_advance_or_fix_the_data_seed():
    base = dataclasses.replace(PRESETS["fast"], train=dataclasses.replace(PRESETS["fast"].train, seed=5, data_seed=2))
    advancing = seed_configs(base, 3)
    assert [(c.seed, c.train.data_seed) for c in advancing] == [(5, 2), (6, 3), (7, 4)] and advancing[0] == base
    fixed = seed_configs(base, 3, fixed_data_seed=True)
    assert [(c.seed, c.train.data_seed) for c in fixed] == [(5, 2), (6, 2), (7, 2)]
    # the rule is part of the sweep: a directory never mixes the two
    assert sweep_config(base) != sweep_config(base, fixed_data_seed=True)
    assert sweep_config(base) == sweep_config(advancing[2])  # the seeds themselves are the tasks


def test_giving_data_seed_fixes_the_split(monkeypatch, tmp_path):
    calls = []

    def record(config, n_seeds, out, **kwargs):
        calls.append(kwargs["fixed_data_seed"])
        raise ValueError("recorded")
    monkeypatch.setattr(importlib.import_module("validation.modular_addition.__main__"), "run_seeds", record)
    for extra in ([], ["--data-seed", "0"]):
        with pytest.raises(ValueError, match="recorded"):
            main([*TINY, "--seeds", "2", "--out", str(tmp_path / "x"), *extra])
    assert calls == [False, True]


@pytest.mark.parametrize("argv, needle", [
    (["--seeds", "0"], "--seeds must be >= 1"), (["--seeds", "-2"], "--seeds must be >= 1"),
    (["--seeds", "x"], "--seeds"), (["--executor", "threads"], "--executor"),
    (["--executor", "dask"], "--scheduler"), (["--executor", "processes", "--scheduler", "tcp://127.0.0.1:9"],
                                              "--scheduler"),
    (["--workers", "0"], "--workers"),
])
def test_bad_seed_options_are_one_line_exit_2_and_write_nothing(argv, needle, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the default --out is relative: it must not be created either

    def refuse(*args, **kwargs):
        raise AssertionError("training started before the input was checked")
    monkeypatch.setattr(RUN, "train", refuse)
    with pytest.raises(SystemExit) as exc:
        run_cli(main, PROG, [*TINY, "--seeds", "2", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and err.startswith(PROG)
    assert list(tmp_path.iterdir()) == []


def test_the_theory_table_reports_each_seed_and_site_from_the_run_summary():
    checkpoint = {"heldout_agreeing_accuracy": 0.83}
    site = {"kappa_tau_y_over_tau_h": 2.5, "pooled_fit": {"success": False},
            "observed_mergers": {"agreeing": 4, "agreeing_commuted": 3, "disagreeing": 0},
            "pairs": {"agreeing": 200, "disagreeing": 200},
            "checkpoints": {"memorisation_end": checkpoint, "circuit_formation": checkpoint},
            "rate_free_auc_H2_over_Y": {"memorisation_end": 0.91, "circuit_formation": None}}
    row = {"seed": 1, "theory": SEEDS.theory_row({"per_site": {"mlp_post": site}})}
    assert row["theory"]["mlp_post"]["kappa"] == 2.5 and not row["theory"]["mlp_post"]["fit_success"]
    lines = SEEDS.theory_table([row])
    assert lines[2] == "| 1 | mlp_post | 2.5 (fit flagged) | 4 of 200 (3) | 0 | 0.83 / 0.91 | 0.83 / – | – / – |"
    assert SEEDS.theory_table([{"seed": 0, "theory": {}}]) == []  # no theory sites: no table
