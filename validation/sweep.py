"""Resumable parameter sweeps: run a list of tasks serially, on local processes or on a Dask cluster.

A *task* is a JSON-able ``dict`` (its configuration) handed to a module-level
function ``task_fn(task) -> dict[str, array]``. Experiments that sweep a grid
use this engine; one task should be a unit of work worth shipping to a worker
(for the phase diagram: one ensemble of networks, not one network)::

    outcome = run_sweep(my_task, [{"x": x, "seed": 0} for x in grid], "runs/my_sweep",
                        sweep_config={"experiment": "my_sweep", "epochs": 100},
                        executor="processes", workers=2)
    outcome.results[i]["metric"]        # arrays returned by my_task(tasks[i])

(``"processes"`` uses the ``spawn`` start method: a calling *script* must guard its
entry point with ``if __name__ == "__main__":``.)

On-disk layout of an output directory ``OUT``::

    OUT/sweep.json            manifest: the sweep-level configuration, its hash, the task list
    OUT/tasks/<key>.npz       one finished task: its arrays plus its configuration (``__task__``)

``<key>`` is a hash of the task configuration *and* of the sweep configuration,
so a finished file is reused only by exactly the computation that made it.

Guarantees:

- **Atomic**: a task file is written (by the driver, never by a worker, so no
  shared file system is needed) with ``interaction.artifacts.atomic_savez``;
  killing the process at any moment leaves either the complete file or none.
- **Resume**: rerunning the same sweep into the same directory loads finished
  tasks instead of recomputing them and computes only the rest. Tasks must be
  deterministic functions of their configuration (seeds derived from it, never
  from execution order), so the assembled results equal those of an
  uninterrupted run, whichever executor ran which task.
- **Refusal**: an output directory that holds a *different* sweep (a different
  sweep configuration) is refused with a ``ValueError`` naming both hashes; results
  of two configurations are never mixed in one directory. Use a new directory (or
  delete the old one) to run another configuration.
- **Extension**: the same sweep configuration with another task list (a grid with
  more replicates, say) is accepted in the same directory: the finished tasks it
  shares are reused and only the new ones are computed.

Executors:

- ``"serial"``: in this process, one task after another.
- ``"processes"``: ``concurrent.futures.ProcessPoolExecutor`` with the ``spawn``
  start method (safe with torch's thread pools) and ``workers`` processes.
- ``"dask"``: ``dask.distributed.Client(scheduler)`` on an existing cluster
  (``pip install 'representation-mergers[dask]'``; the workers need this
  package installed). Results come back to the driver, which writes them.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from interaction.artifacts import atomic_savez, atomic_write_json, to_jsonable
from interaction.checks import check_choice, check_int

EXECUTORS = ("serial", "processes", "dask")
MANIFEST = "sweep.json"
TASK_DIR = "tasks"
_TASK_CONFIG = "__task__"
_TASK_SECONDS = "__seconds__"
_TASK_CPU_SECONDS = "__cpu_seconds__"

TaskFn = Callable[[dict[str, Any]], Mapping[str, Any]]


def config_hash(obj: Any, length: int = 16) -> str:
    """Hex SHA-256 prefix of the canonical JSON of ``obj`` (sorted keys, numpy values converted)."""
    text = json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


@dataclass(frozen=True)
class SweepOutcome:
    """What a sweep produced: per-task results in task order and what this call computed.

    ``results[i]`` holds the arrays returned for ``tasks[i]``; ``seconds[i]`` and
    ``cpu_seconds[i]`` the wall and CPU time (of the process that ran it; with threaded
    Dask workers this includes other threads) it took when it was computed, possibly
    by an earlier, interrupted run;
    ``computed`` and ``reused`` are the task keys computed by this call and loaded
    from finished files.
    """

    results: list[dict[str, np.ndarray]]
    keys: list[str]
    seconds: np.ndarray
    cpu_seconds: np.ndarray
    computed: list[str]
    reused: list[str]
    out_dir: Path


def _resolve_importable(fn: TaskFn) -> TaskFn:
    """Return ``fn`` as an attribute of an importable module.

    A function defined in a module run as ``python -m pkg.mod`` belongs to ``__main__``,
    which a worker process (or a Dask worker on another machine) cannot import by that
    name; re-import it under the module's real name so it pickles by reference.
    """
    if getattr(fn, "__module__", None) != "__main__":
        return fn
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec is None or not spec.name:
        raise ValueError("task_fn must be defined in an importable module (not a script run by path)")
    return getattr(importlib.import_module(spec.name), fn.__name__)


def _timed_call(task_fn: TaskFn, task: dict[str, Any]) -> tuple[dict[str, Any], float, float]:
    start, start_cpu = time.perf_counter(), time.process_time()
    result = dict(task_fn(task))
    return result, time.perf_counter() - start, time.process_time() - start_cpu


def _task_file(out_dir: Path, key: str) -> Path:
    return out_dir / TASK_DIR / f"{key}.npz"


def _load_finished(path: Path, task_json: str) -> tuple[dict[str, np.ndarray], float, float] | None:
    """Arrays of a finished task file, or ``None`` if absent or unreadable (then it is recomputed)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError):
        return None
    if str(arrays.pop(_TASK_CONFIG, "")) != task_json:
        raise ValueError(f"task file {path} was written for another configuration; remove it")
    seconds = float(arrays.pop(_TASK_SECONDS, np.nan))
    cpu_seconds = float(arrays.pop(_TASK_CPU_SECONDS, np.nan))
    return arrays, seconds, cpu_seconds


def _write_task(path: Path, task_json: str, result: Mapping[str, Any], seconds: float,
                cpu_seconds: float) -> None:
    for reserved in (_TASK_CONFIG, _TASK_SECONDS, _TASK_CPU_SECONDS):
        if reserved in result:
            raise ValueError(f"task_fn returned the reserved name {reserved!r}")
    arrays = {name: np.asarray(value) for name, value in result.items()}
    for name, arr in arrays.items():
        if arr.dtype == object:
            raise ValueError(f"task_fn result {name!r} is not a numeric or string array")
    atomic_savez(path, **arrays, **{_TASK_CONFIG: np.asarray(task_json),
                                    _TASK_SECONDS: np.asarray(seconds),
                                    _TASK_CPU_SECONDS: np.asarray(cpu_seconds)})


def _claim_directory(out_dir: Path, sweep_config: Mapping[str, Any], keys: list[str]) -> None:
    """Write the manifest, or check that the existing one describes a sweep of the same configuration.

    The task list may differ (a grid extended by more replicates or points): every task file
    is keyed by its own configuration and the sweep's, so a file is only ever reused by exactly
    the computation that made it, and the manifest is rewritten for the new task list.
    """
    config_hash_now = config_hash(sweep_config)
    manifest = {"sweep_hash": config_hash_now, "sweep_config": sweep_config, "task_keys": keys}
    path = out_dir / MANIFEST
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not a sweep manifest ({exc}); use another output directory") from None
        if old.get("sweep_hash") != config_hash_now:
            raise ValueError(
                f"{out_dir} already holds a different sweep (hash {old.get('sweep_hash')} != "
                f"{config_hash_now}); use another output directory or delete it")
        if old.get("task_keys") == keys:
            return
    atomic_write_json(path, manifest)


def _clean_stale_temporaries(task_dir: Path) -> None:
    # An atomic write killed between mkstemp and os.replace leaves ".<name>.<random>.tmp".
    for tmp in task_dir.glob(".*.npz.*.tmp"):
        tmp.unlink(missing_ok=True)


def run_sweep(task_fn: TaskFn, tasks: Sequence[Mapping[str, Any]], out_dir: str | os.PathLike, *,
              sweep_config: Mapping[str, Any], executor: str = "serial", workers: int | None = None,
              scheduler: Any = None, progress: bool = True, desc: str = "tasks") -> SweepOutcome:
    """Run every task not already finished in ``out_dir``; return all results in task order.

    Parameters
    ----------
    task_fn : module-level function ``task -> {name: array}`` (numeric or string arrays).
    tasks : task configurations (JSON-able mappings), each fully determining its result.
    out_dir : output directory (created); see the module docstring for its layout.
    sweep_config : configuration shared by all tasks (mixed into every key, stored in the manifest).
    executor : ``"serial"``, ``"processes"`` or ``"dask"``.
    workers : process count for ``"processes"`` (default: ``os.cpu_count()``).
    scheduler : for ``"dask"``: a scheduler address (``"tcp://host:8786"``) or a ``distributed.Client``.
    progress : show a tqdm bar over tasks.
    """
    check_choice("executor", executor, EXECUTORS)
    if workers is not None:
        workers = check_int("workers", workers, minimum=1)
    if executor == "dask" and scheduler is None:
        raise ValueError("scheduler must be given for executor 'dask' (a scheduler address such as tcp://host:8786)")
    if executor != "dask" and scheduler is not None:
        raise ValueError("scheduler is only used with executor 'dask'")
    if not tasks:
        raise ValueError("tasks must contain at least one task")
    task_fn = _resolve_importable(task_fn)
    task_list = [to_jsonable(dict(t)) for t in tasks]
    sweep_config = to_jsonable(dict(sweep_config))
    keys = [config_hash({"sweep": sweep_config, "task": t}) for t in task_list]
    if len(set(keys)) != len(keys):
        raise ValueError("tasks must be distinct (two tasks have the same configuration)")
    task_jsons = [json.dumps(t, sort_keys=True) for t in task_list]

    # Connect before touching the output directory: an unreachable scheduler writes nothing.
    client, own_client = _connect_dask(scheduler) if executor == "dask" else (None, False)
    try:
        return _run(task_fn, task_list, task_jsons, keys, Path(out_dir), sweep_config, executor,
                    workers, client, progress, desc)
    finally:
        if own_client:
            client.close()


def _run(task_fn: TaskFn, task_list: list[dict[str, Any]], task_jsons: list[str], keys: list[str],
         out_dir: Path, sweep_config: dict[str, Any], executor: str, workers: int | None, client: Any,
         progress: bool, desc: str) -> SweepOutcome:
    (out_dir / TASK_DIR).mkdir(parents=True, exist_ok=True)
    _claim_directory(out_dir, sweep_config, keys)
    _clean_stale_temporaries(out_dir / TASK_DIR)

    loaded: dict[int, tuple[dict[str, np.ndarray], float, float]] = {}
    for i, key in enumerate(keys):
        finished = _load_finished(_task_file(out_dir, key), task_jsons[i])
        if finished is not None:
            loaded[i] = finished
    reused = [keys[i] for i in sorted(loaded)]
    pending = [i for i in range(len(keys)) if i not in loaded]

    bar = tqdm(total=len(keys), initial=len(loaded), desc=desc, unit="task", disable=not progress)

    def finish(i: int, result: dict[str, Any], seconds: float, cpu_seconds: float) -> None:
        _write_task(_task_file(out_dir, keys[i]), task_jsons[i], result, seconds, cpu_seconds)
        # Reload what was written so that every result (fresh or resumed) has the same dtypes.
        loaded[i] = _load_finished(_task_file(out_dir, keys[i]), task_jsons[i])
        bar.update(1)

    try:
        if pending:
            _EXECUTE[executor](task_fn, [(i, task_list[i]) for i in pending], finish, workers, client)
    finally:
        bar.close()
    return SweepOutcome(results=[loaded[i][0] for i in range(len(keys))], keys=keys,
                        seconds=np.array([loaded[i][1] for i in range(len(keys))]),
                        cpu_seconds=np.array([loaded[i][2] for i in range(len(keys))]),
                        computed=[keys[i] for i in pending], reused=reused, out_dir=out_dir)


def _execute_serial(task_fn, pending, finish, workers, client) -> None:
    for i, task in pending:
        finish(i, *_timed_call(task_fn, task))


def _execute_processes(task_fn, pending, finish, workers, client) -> None:
    workers = min(workers or os.cpu_count() or 1, len(pending))
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    try:
        futures = {pool.submit(_timed_call, task_fn, task): i for i, task in pending}
        for future in as_completed(futures):
            finish(futures[future], *future.result())
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _connect_dask(scheduler: Any) -> tuple[Any, bool]:
    """``(client, created_here)`` for a scheduler address or an existing ``distributed.Client``."""
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("executor 'dask' needs dask.distributed: pip install 'representation-mergers[dask]'") from None
    if isinstance(scheduler, Client):
        return scheduler, False
    try:
        return Client(scheduler), True
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"cannot connect to the Dask scheduler at {scheduler!r}: {exc}") from None


def _execute_dask(task_fn, pending, finish, workers, client) -> None:
    from distributed import as_completed as dask_as_completed
    futures = client.map(_timed_call, [task_fn] * len(pending), [task for _, task in pending], pure=False)
    index = {future.key: i for future, (i, _) in zip(futures, pending)}
    try:
        for future in dask_as_completed(futures):
            finish(index[future.key], *future.result())
    except BaseException:
        client.cancel(futures)
        raise


_EXECUTE = {"serial": _execute_serial, "processes": _execute_processes, "dask": _execute_dask}
