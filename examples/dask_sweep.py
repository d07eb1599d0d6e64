"""A sweep sent to a real Dask cluster: a local ``dask scheduler`` and ``dask worker`` processes.

    python examples/dask_sweep.py [--small]

The same as running, in two terminals and then here::

    dask scheduler --host 127.0.0.1 --port 8786
    PYTHONPATH=examples dask worker tcp://127.0.0.1:8786 --nworkers 2 --nthreads 1
    # then validation.sweep.run_sweep(..., executor="dask", scheduler="tcp://127.0.0.1:8786")

The task (the closed-form merger prediction over a grid of ``(H0, S)``,
docs/theory.md §2.6) must live in a module the workers can import, so the workers get
this folder on their ``PYTHONPATH`` and the script imports itself as ``dask_sweep``.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import interaction
from validation.sweep import run_sweep

HERE = Path(__file__).resolve().parent


def merger_task(task):
    """One grid point: the closed form of eqs. 5-7 for a pair with ``H0``, ``Y0 = 0.5``, ``S``."""
    rates = dict(N=4.0, tau_h=1.0, tau_y=1.0)
    A_high = interaction.a_high(task["H0"], 0.5, **rates)
    A_low = interaction.a_low(task["S"], **rates)
    return {"A_high": np.asarray(A_high), "final_distance": np.asarray(interaction.final_distance(A_high, A_low)),
            "will_merge": np.asarray(interaction.will_merge(A_high, A_low))}


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60.0) -> dict:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"dask scheduler exited with status {proc.returncode}")
        if path.exists() and path.stat().st_size:
            try:
                return json.loads(path.read_text())
            except json.JSONDecodeError:
                pass
        time.sleep(0.2)
    raise RuntimeError(f"dask scheduler did not start within {timeout:.0f} s")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a 3x2 grid and one worker process (for the test suite)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    import dask_sweep  # this file as an importable module, so the task pickles by reference for the workers

    grid_h = [0.2, 1.0, 3.0] if args.small else np.linspace(0.1, 4.0, 8).tolist()
    grid_s = [0.0, 0.1] if args.small else [0.0, 0.01, 0.1, 1.0]
    tasks = [{"H0": h, "S": s} for h in grid_h for s in grid_s]
    cli = Path(sys.executable).with_name("dask")  # the `dask` command of this environment
    scheduler_cmd = [str(cli), "scheduler"] if cli.exists() else [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    worker_cmd = [str(cli), "worker"] if cli.exists() else [sys.executable, "-m", "distributed.cli.dask_worker"]
    work = Path(tempfile.mkdtemp(prefix="dask_sweep_"))
    scheduler_file = work / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    procs = [subprocess.Popen([*scheduler_cmd, "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(scheduler_file)], **quiet)]
    try:
        address = _wait_for(scheduler_file, procs[0])["address"]
        n_workers = 1 if args.small else 2
        procs.append(subprocess.Popen([*worker_cmd, address,
                                       "--nworkers", str(n_workers), "--nthreads", "1", "--no-dashboard"], **quiet))
        print(f"scheduler at {address}; workers: dask worker {address} --nworkers {n_workers} --nthreads 1")
        from distributed import Client
        with Client(address) as client:
            client.wait_for_workers(n_workers, timeout=60)
            outcome = run_sweep(dask_sweep.merger_task, tasks, work / "sweep", sweep_config={"Y0": 0.5, "N": 4.0},
                                executor="dask", scheduler=client, progress=False)
        for task, result in zip(tasks, outcome.results):
            print(f"H0 = {task['H0']:.2f}, S = {task['S']:<4g}: A_high = {float(result['A_high']):7.3f}, "
                  f"||dh(inf)||^2 = {float(result['final_distance']):.3f}, merges: {bool(result['will_merge'])}")
        print(f"{len(outcome.computed)} tasks computed on the cluster, {len(outcome.reused)} reused; files in {work}")
    finally:
        for proc in reversed(procs):  # the processes this script started
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
