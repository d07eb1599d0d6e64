"""The merger phase-diagram command: executors agree, a killed run resumes, bad input is one line."""
from __future__ import annotations

import dataclasses
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import distributed
import numpy as np
import pytest
import torch

from interaction.cliutil import run_cli
from validation.merger_phase_diagram import PRESETS, run
from validation.merger_phase_diagram.cli import (
    PROG,
    build_parser,
    config_from_options,
    main,
)
from validation.merger_phase_diagram.config import TRAIN_FIXED, PhaseDiagramConfig
from validation.merger_phase_diagram.figures import status_text
from validation.merger_phase_diagram.run import build_tasks, run_task
from validation.sweep import TASK_DIR

# A tiny grid: 2 gains x 4 fractions: 4 tasks (one per fraction), each an ensemble of 2
# networks; with the default independent randomness each network its own cell. Networks run to the epoch cap (threshold far below reach) so that every task
# takes a measurable time.
TINY = ["--gains", "0.3,0.9", "--fractions", "0.4,0.6,0.8,1.0", "--L", "4", "--hidden", "8",
        "--max-epochs", "150", "--loss-threshold", "1e-12", "--val-lengths", "12,20", "--val-count", "8",
        "--bootstrap", "20", "--seed", "3"]
TIMING = ("task_seconds", "task_cpu_seconds")


def _config(extra=()):
    return config_from_options(build_parser().parse_args([*TINY, *extra]))


def _arrays(out: Path) -> dict[str, np.ndarray]:
    with np.load(out / "results.npz") as data:
        return {k: data[k] for k in data.files if k not in TIMING}


def _assert_same_results(a: Path, b: Path) -> None:
    ra, rb = _arrays(a), _arrays(b)
    assert ra.keys() == rb.keys()
    for name in ra:
        np.testing.assert_array_equal(ra[name], rb[name], err_msg=name)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted serial run of TINY."""
    out = tmp_path_factory.mktemp("reference")
    run(_config(), out, executor="serial")
    return out


def test_results_file_carries_grid_metrics_config_and_provenance(reference):
    arrays = _arrays(reference)
    shape = (1, 2, 4)
    for name in ("epochs", "train_loss", "n_states_raw", "n_states_min", "finite", "equivalent",
                 "contraction", "score", "observed", "predicted"):
        assert arrays[name].shape == shape, name
    assert arrays["val_accuracy"].shape == shape + (2,)
    assert set(arrays["status"].ravel()) <= {"converged", "capped", "diverged", "stalled"}
    assert np.all(arrays["status"] == "capped")            # the threshold is unreachable
    assert np.all(arrays["epochs"] == 150)
    ok = arrays["status"] != "diverged"
    assert np.all((arrays["val_accuracy"][ok] >= 0) & (arrays["val_accuracy"][ok] <= 1))
    assert np.all(arrays["n_states_min"][ok] <= arrays["n_states_raw"][ok])
    assert np.all(arrays["n_states_raw"][ok] <= 2 ** 5)    # h0 + 30 sequences of length 1..4
    # independent cells: every cell its own weights (and G of its own initial network), larger for larger gain
    assert np.unique(arrays["init_seed"]).size == 8 and np.unique(arrays["shuffle_seed"]).size == 8
    G = arrays["contraction"][0]
    assert np.unique(G).size == 8 and G[0].max() < G[1].min()
    np.testing.assert_array_equal(arrays["gains"], [0.3, 0.9])
    meta = json.loads((reference / "results.json").read_text())
    assert meta["config"]["gains"] == [0.3, 0.9] and meta["config"]["seed"] == 3
    assert "torch" in meta["provenance"]["dependencies"]
    assert meta["run"]["computed_this_run"] == 4
    assert meta["summary"]["status_counts"] == {"capped": 8}
    assert meta["summary"]["fit"]["status"] in ("fitted", "upper_bound", "lower_bound")
    for stem in ("phase_diagram", "accuracy_map", "states_map"):
        assert (reference / f"{stem}.png").stat().st_size > 0 and (reference / f"{stem}.pdf").exists()


def test_packed_independent_cells_equal_cells_trained_one_by_one():
    """A task packs a column's cells into one ensemble; each cell is what it would be trained alone."""
    packed = run_task(build_tasks(_config(["--max-epochs", "60"]))[0])
    for i, gain in enumerate(("0.3", "0.9")):
        alone = run_task(build_tasks(_config(["--max-epochs", "60", "--gains", gain]))[0])
        for name in ("status", "epochs", "init_seed", "shuffle_seed", "n_train"):
            np.testing.assert_array_equal(packed[name][i], alone[name][0], err_msg=name)
        for name in ("train_loss", "val_loss", "contraction"):
            np.testing.assert_allclose(packed[name][i], alone[name][0], rtol=1e-4, err_msg=name)


def test_common_random_numbers_share_weights_data_and_validation(reference, tmp_path):
    """--randomness common: one ensemble per (replicate, fraction); every gain the same matrices scaled."""
    result = run(_config(["--randomness", "common"]), tmp_path)
    arrays = result.arrays
    assert result.computed == 4
    assert np.unique(arrays["init_seed"]).size == 1                      # one weight draw per replicate
    assert np.all(arrays["n_train"] == arrays["n_train"][:, :1])          # one data draw per fraction column
    G = arrays["contraction"][0]
    assert np.all(G[:, :1] == G) and G[0, 0] < G[1, 0]
    assert not np.array_equal(arrays["contraction"], _arrays(reference)["contraction"])


def test_status_counts_are_printed_and_shown_in_the_figure(reference, tmp_path, capsys):
    assert main([*TINY, "--out", str(reference), "--executor", "serial", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "statuses {'capped': 8}" in out and "4 of 4 tasks reused" in out
    # every predictor's out-of-sample agreement is printed, and the verdict (2 x 4 grid: blocks only)
    predictors = out[out.index("predictors, agreement"):].splitlines()
    for name in PhaseDiagramConfig().predictors:
        assert any(line.split()[:1] == [name] and line.count("%") >= 4 for line in predictors[1:]), name
    assert "verdict (held-out blocks)" in out and "held-out replicates: not run" in out
    assert status_text(_arrays(reference)["status"]) == "8 capped"
    assert status_text(np.array(["converged", "stalled", "converged", "diverged"])) == (
        "2 converged, 1 diverged, 1 stalled")


def test_dask_local_cluster_gives_identical_results(reference, tmp_path):
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        run(_config(), tmp_path, executor="dask", scheduler=cluster.scheduler_address)
    _assert_same_results(reference, tmp_path)


def test_same_seed_same_numbers_other_seed_other_numbers(reference, tmp_path):
    run(_config(), tmp_path / "again", executor="processes", workers=2)
    _assert_same_results(reference, tmp_path / "again")
    run(_config(["--seed", "4"]), tmp_path / "other", executor="serial")
    assert not np.array_equal(_arrays(reference)["train_loss"], _arrays(tmp_path / "other")["train_loss"])


def test_killed_run_resumes_without_recomputing_and_matches_uninterrupted(reference, tmp_path):
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "validation.merger_phase_diagram", *TINY, "--out", str(out),
               "--executor", "serial", "--no-progress"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list((out / TASK_DIR).glob("*.npz")):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no task finished within 120 s"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in (out / TASK_DIR).glob("*.npz")}
    assert 1 <= len(finished) < 4, "the kill must land mid-sweep"
    assert not (out / "results.npz").exists()

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(finished)} of 4 tasks reused, {4 - len(finished)} computed" in rerun.stdout
    assert {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in finished} == finished
    meta = json.loads((out / "results.json").read_text())
    assert meta["run"]["computed_this_run"] == 4 - len(finished)
    _assert_same_results(reference, out)


def test_plot_only_redraws_from_results(reference, tmp_path, capsys):
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("results.npz", "results.json"):
        (copy / name).write_bytes((reference / name).read_bytes())
    before = json.loads((copy / "results.json").read_text())
    del before["summary"]["predictors"]                  # as written before the predictors were scored
    (copy / "results.json").write_text(json.dumps(before))
    assert main(["--plot-only", str(copy / "results.npz")]) == 0
    for stem in ("phase_diagram", "accuracy_map", "states_map", "theory_test"):
        assert (copy / f"{stem}.png").stat().st_size > 0 and (copy / f"{stem}.pdf").stat().st_size > 0
    assert "agreement" in capsys.readouterr().out
    after = json.loads((copy / "results.json").read_text())
    assert after["run"] == before["run"] and after["computed_with"] == before["provenance"]
    assert after["summary"]["predictors"]["in_sample"].keys() == set(after["config"]["predictors"])


def test_fit_on_converged_networks_when_none_converged_is_one_line_error(reference, capsys):
    with pytest.raises(SystemExit) as exc:
        run_cli(main, PROG, ["--plot-only", str(reference), "--fit-cells", "converged"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "converged" in err[0]


def test_changed_config_in_same_out_dir_is_refused_but_analysis_knobs_are_not(reference, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    for item in reference.iterdir():
        if item.is_dir():
            (out / item.name).mkdir()
            for f in item.iterdir():
                (out / item.name / f.name).write_bytes(f.read_bytes())
        else:
            (out / item.name).write_bytes(item.read_bytes())
    with pytest.raises(SystemExit) as exc:
        run_cli(main, PROG, [*TINY, "--lr", "0.03", "--out", str(out), "--executor", "serial", "--no-progress"])
    assert exc.value.code == 2
    assert "different sweep" in capsys.readouterr().err
    run_cli_status = None
    try:
        run_cli(main, PROG, [*TINY, "--generalise-accuracy", "0.6", "--out", str(out), "--executor", "serial",
                             "--no-progress"])
    except SystemExit as stop:
        run_cli_status = stop.code
    assert run_cli_status == 0
    assert "4 of 4 tasks reused, 0 computed" in capsys.readouterr().out


@pytest.mark.parametrize("bad, word", [
    (["--gains", "0,0.5"], "gains"),
    (["--gains", "a,b"], "gains"),
    (["--fractions", "0.5,1.5"], "fractions"),
    (["--max-epochs", "0"], "max_epochs"),
    (["--seeds", "0"], "seeds"),
    (["--loss", "hinge"], "loss"),
    (["--lr", "-1"], "lr"),
    (["--executor", "dask"], "scheduler"),
    (["--scheduler", "tcp://127.0.0.1:9"], "scheduler"),
    (["--workers", "0"], "workers"),
    (["--val-lengths", "0"], "val_lengths"),
    (["--plot-only", "/nonexistent/results.npz"], "results"),
    (["--no-such-option"], "unrecognized"),
    (["--readout", "step"], "readout"),
    (["--randomness", "shared"], "randomness"),
    (["--stall-window", "0"], "stall_window"),
    (["--stall-tolerance", "1.5"], "stall_tolerance"),
])
def test_bad_arguments_one_line_exit_2_nothing_written(tmp_path, capsys, bad, word):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        run_cli(main, PROG, [*TINY, "--out", str(out), *bad])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and word in err and err.startswith(PROG)
    assert not out.exists()


def _leaf_values(config):
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        out.update(_leaf_values(value) if dataclasses.is_dataclass(value) else {f.name: value})
    return out


def _help_entries() -> dict[str, str]:
    """Option -> its help entry (whitespace collapsed), split where a line starts with an option."""
    text = build_parser().format_help()
    parts = re.split(r"\n  (?=-)", text)
    entries = {}
    for part in parts[1:]:
        option = part.split()[0].rstrip(",")
        entries[option] = " ".join(part.split())
    return entries


def test_help_states_every_config_field_with_the_quick_presets_value():
    """Each compute and analysis field has an option whose help gives the value used when it is not given
    (argparse shows no default for options that default to None) and says where the paper preset differs."""
    entries = _help_entries()
    for name, value in _leaf_values(PRESETS["quick"]).items():
        option = f"--{name.replace('_', '-')}"
        if name in TRAIN_FIXED:
            assert option not in entries, name
            continue
        shown = ",".join(str(v) for v in value) if isinstance(value, tuple) else str(value)
        assert f"[default: {shown}]" in entries[option], (name, entries[option])
    for option in ("--gains", "--fractions"):
        assert "paper preset: 0.1:1:20" in entries[option], option
    assert "paper preset" not in entries["--max-epochs"]


@pytest.mark.parametrize("where", ["proc", "file"])
def test_unwritable_or_file_out_is_refused_before_any_work(tmp_path, capsys, where):
    out = Path("/proc/x") if where == "proc" else tmp_path / "a_file"
    if where == "file":
        out.write_text("keep me")
    before = sorted(tmp_path.rglob("*"))
    started = time.perf_counter()
    with pytest.raises(SystemExit) as exc:
        run_cli(main, PROG, [*TINY, "--out", str(out), "--executor", "serial", "--no-progress"])
    assert exc.value.code == 2 and time.perf_counter() - started < 5   # refused, not trained
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0] and str(out) in err[0]
    assert sorted(tmp_path.rglob("*")) == before
    if where == "file":
        assert out.read_text() == "keep me"
    with pytest.raises(ValueError, match="--out"):
        run(_config(), out)


def test_negative_seed_is_refused_naming_the_option(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        run_cli(main, PROG, [*TINY, "--seed", "-1", "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--seed" in err[0] and ">= 0" in err[0]
    assert not (tmp_path / "out").exists()


def test_run_task_restores_the_callers_thread_count():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        task = build_tasks(_config(["--max-epochs", "2"]))[0]
        result = run_task(task)
        assert torch.get_num_threads() == 2
        assert result["status"].shape == (len(task["gains"]),) == (2,)
    finally:
        torch.set_num_threads(before)


def test_discontinuity_readout_reaches_training_and_evaluation():
    tasks = build_tasks(_config(["--readout", "discontinuity", "--max-epochs", "3"]))
    assert all(task["train"]["readout"] == "discontinuity" for task in tasks)
    jumped = run_task(tasks[0])
    linear = run_task(build_tasks(_config(["--max-epochs", "3"]))[0])
    assert jumped["init_seed"][0] == linear["init_seed"][0]          # same network, other readout
    assert not np.array_equal(jumped["val_loss"], linear["val_loss"])


@pytest.mark.parametrize("randomness", ["independent", "common"])
def test_task_networks_rebuild_each_members_data_and_parameters(randomness):
    """The stored final parameters on the redrawn training data give the recorded final training loss."""
    from rnn.parity import loss_and_gradients
    from validation.merger_phase_diagram.run import task_networks
    task = build_tasks(_config(["--max-epochs", "5", "--randomness", randomness]))[-1]
    result = run_task(task)
    networks = task_networks(task, result)
    assert [n["gain"] for n in networks] == task["gains"]
    for e, net in enumerate(networks):
        assert len(net["data"]) == result["n_train"][e]
        loss, _ = loss_and_gradients(net["final"], net["data"], net["targets"], loss="ce")
        np.testing.assert_allclose(loss, result["train_loss"][e], rtol=1e-5)
        assert not np.array_equal(net["initial"]["W_hh"], net["final"]["W_hh"])


def test_more_replicates_in_the_same_directory_reuse_the_finished_ones(reference, tmp_path, capsys):
    """--seeds 2 after --seeds 1 in one --out: replicate 0 is reused untouched, equal to a fresh run."""
    out = tmp_path / "grow"
    assert main([*TINY, "--out", str(out), "--executor", "serial", "--no-progress", "--max-epochs", "20"]) == 0
    stamps = {p: p.stat().st_mtime_ns for p in (out / TASK_DIR).glob("*.npz")}
    assert main([*TINY, "--out", str(out), "--executor", "serial", "--no-progress", "--max-epochs", "20",
                 "--seeds", "2"]) == 0
    assert "4 of 8 tasks reused, 4 computed" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    fresh = run(_config(["--max-epochs", "20", "--seeds", "2"]), tmp_path / "fresh", executor="serial")
    _assert_same_results(out, tmp_path / "fresh")
    assert fresh.arrays["status"].shape == (2, 2, 4)
