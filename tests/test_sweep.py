"""The resumable sweep engine (validation/sweep.py): executors agree, resume reuses, conflicts refused."""
from __future__ import annotations

import json

import numpy as np
import pytest

from validation.sweep import MANIFEST, TASK_DIR, run_sweep


def noisy_square(task: dict) -> dict:
    """Deterministic in its configuration: seeded noise, a string array and a vector."""
    rng = np.random.default_rng(task["seed"])
    return {"value": np.float64(task["x"]) ** 2 + rng.normal(size=3),
            "label": np.array(["even" if task["x"] % 2 == 0 else "odd"])}


TASKS = [{"x": x, "seed": 10 + x} for x in range(4)]
SWEEP = {"experiment": "noisy_square", "version": 1}


def _assert_same(a, b):
    assert len(a.results) == len(b.results)
    for ra, rb in zip(a.results, b.results):
        assert ra.keys() == rb.keys()
        for name in ra:
            np.testing.assert_array_equal(ra[name], rb[name])


def test_serial_results_in_task_order_and_files_written(tmp_path):
    out = run_sweep(noisy_square, TASKS, tmp_path, sweep_config=SWEEP, progress=False)
    assert out.computed == out.keys and out.reused == []
    for task, result in zip(TASKS, out.results):
        expected = noisy_square(task)
        np.testing.assert_array_equal(result["value"], expected["value"])
        assert result["label"].tolist() == expected["label"].tolist()
    assert sorted(p.stem for p in (tmp_path / TASK_DIR).glob("*.npz")) == sorted(out.keys)
    assert json.loads((tmp_path / MANIFEST).read_text())["task_keys"] == out.keys
    assert np.all(out.seconds >= 0)


def test_rerun_reuses_every_finished_task_without_rewriting(tmp_path):
    first = run_sweep(noisy_square, TASKS, tmp_path, sweep_config=SWEEP, progress=False)
    files = sorted((tmp_path / TASK_DIR).glob("*.npz"))
    stamps = {p: p.stat().st_mtime_ns for p in files}
    second = run_sweep(noisy_square, TASKS, tmp_path, sweep_config=SWEEP, progress=False)
    assert second.computed == [] and second.reused == first.keys
    assert {p: p.stat().st_mtime_ns for p in files} == stamps
    _assert_same(first, second)


def test_partial_directory_computes_only_the_missing_tasks(tmp_path):
    full = run_sweep(noisy_square, TASKS, tmp_path / "full", sweep_config=SWEEP, progress=False)
    part = tmp_path / "part"
    run_sweep(noisy_square, TASKS, part, sweep_config=SWEEP, progress=False)
    (part / TASK_DIR / f"{full.keys[1]}.npz").unlink()
    (part / TASK_DIR / f".{full.keys[2]}.npz.abc.tmp").write_bytes(b"half-written")
    resumed = run_sweep(noisy_square, TASKS, part, sweep_config=SWEEP, progress=False)
    assert resumed.computed == [full.keys[1]]
    assert not list((part / TASK_DIR).glob("*.tmp"))
    _assert_same(full, resumed)


def test_processes_executor_matches_serial(tmp_path):
    serial = run_sweep(noisy_square, TASKS, tmp_path / "s", sweep_config=SWEEP, progress=False)
    procs = run_sweep(noisy_square, TASKS, tmp_path / "p", sweep_config=SWEEP, executor="processes",
                      workers=2, progress=False)
    assert procs.keys == serial.keys
    _assert_same(serial, procs)


def test_different_sweep_in_same_directory_is_refused(tmp_path):
    run_sweep(noisy_square, TASKS, tmp_path, sweep_config=SWEEP, progress=False)
    before = sorted(p.name for p in (tmp_path / TASK_DIR).iterdir())
    with pytest.raises(ValueError, match="different sweep"):
        run_sweep(noisy_square, TASKS, tmp_path, sweep_config={**SWEEP, "version": 2}, progress=False)
    assert sorted(p.name for p in (tmp_path / TASK_DIR).iterdir()) == before


def test_same_sweep_with_more_tasks_reuses_the_finished_ones(tmp_path):
    """A grid extended in the same directory: shared tasks are reused untouched, new ones computed."""
    first = run_sweep(noisy_square, TASKS[:2], tmp_path, sweep_config=SWEEP, progress=False)
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / TASK_DIR).glob("*.npz")}
    extended = run_sweep(noisy_square, TASKS, tmp_path, sweep_config=SWEEP, progress=False)
    assert extended.reused == first.keys and len(extended.computed) == len(TASKS) - 2
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    alone = run_sweep(noisy_square, TASKS, tmp_path / "alone", sweep_config=SWEEP, progress=False)
    _assert_same(alone, extended)
    # and back to the smaller grid: everything reused
    assert run_sweep(noisy_square, TASKS[:2], tmp_path, sweep_config=SWEEP, progress=False).computed == []


@pytest.mark.parametrize("kwargs, match", [
    ({"executor": "threads"}, "executor"),
    ({"executor": "dask"}, "scheduler"),
    ({"executor": "serial", "scheduler": "tcp://127.0.0.1:1"}, "scheduler"),
    ({"workers": 0}, "workers"),
])
def test_bad_arguments_raise_before_writing(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_sweep(noisy_square, TASKS, tmp_path / "out", sweep_config=SWEEP, progress=False, **kwargs)
    assert not (tmp_path / "out").exists()


def test_duplicate_tasks_refused(tmp_path):
    with pytest.raises(ValueError, match="distinct"):
        run_sweep(noisy_square, [TASKS[0], TASKS[0]], tmp_path / "out", sweep_config=SWEEP, progress=False)
    assert not (tmp_path / "out").exists()
