"""Benchmark: the phase-diagram sweep on local processes against the serial baseline.

Runs the same small phase diagram (``validation.merger_phase_diagram``) twice in
fresh temporary directories — ``--executor serial`` (the baseline, one task after
another in this process) and ``--executor processes`` with ``--workers`` processes —
checks that both give identical results, and prints wall time, the summed task
CPU time and the speed-up ratio. The ratio is bounded by the number of free cores
and by the longest task (tasks are whole ensembles, largest data fraction first).
Example::

    python -m benchmarks.bench_phase_diagram_sweep --workers 2 --max-epochs 150
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from interaction.cliutil import ArgumentParser, run_cli
from validation.merger_phase_diagram import PhaseDiagramConfig, run
from validation.merger_phase_diagram.config import PAPER_TRAINING


def _timed_run(config: PhaseDiagramConfig, out: Path, **kwargs) -> tuple[float, dict[str, np.ndarray]]:
    start = time.perf_counter()
    run(config, out, **kwargs)
    seconds = time.perf_counter() - start
    with np.load(out / "results.npz") as data:
        return seconds, {k: data[k] for k in data.files}


def main(argv=None) -> int:
    parser = ArgumentParser(prog="python -m benchmarks.bench_phase_diagram_sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="processes of the parallel run")
    parser.add_argument("--max-epochs", type=int, default=150, help="epoch cap of every network")
    parser.add_argument("--L", type=int, default=10, help="longest training length")
    args = parser.parse_args(argv)
    train = replace(PAPER_TRAINING, max_epochs=args.max_epochs, loss_threshold=1e-12)
    config = PhaseDiagramConfig(gains=(0.2, 0.5, 0.8), fractions=(0.4, 0.6, 0.8, 1.0), L=args.L, train=train,
                                bootstrap=50)
    with tempfile.TemporaryDirectory() as tmp:
        serial_s, serial = _timed_run(config, Path(tmp) / "serial", executor="serial")
        procs_s, procs = _timed_run(config, Path(tmp) / "procs", executor="processes", workers=args.workers)
    for name in serial:
        if name not in ("task_seconds", "task_cpu_seconds"):
            np.testing.assert_array_equal(serial[name], procs[name], err_msg=name)
    print(f"{len(config.fractions)} tasks x {len(config.gains)} networks, L = {args.L}, {args.max_epochs} epochs")
    print(f"serial     {serial_s:8.1f} s wall, task CPU {serial['task_cpu_seconds'].sum():8.1f} s")
    print(f"processes  {procs_s:8.1f} s wall, task CPU {procs['task_cpu_seconds'].sum():8.1f} s ({args.workers} workers)")
    print(f"speed-up (serial / processes wall time): {serial_s / procs_s:.2f}x; results identical")
    return 0


if __name__ == "__main__":
    run_cli(main, "python -m benchmarks.bench_phase_diagram_sweep")
