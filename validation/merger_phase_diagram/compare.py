"""Several finished phase diagrams side by side: the theory test of each (for example cross-entropy against MSE).

    python -m validation.merger_phase_diagram --compare RUN_CE RUN_MSE --out runs/merger_phase_diagram/ce_vs_mse

Each results file is loaded and analysed with its own configuration (``analysis.analyse``);
the comparison keeps, per run, its label (loss, readout, networks), every predictor's
held-out agreement in the scheme all runs share (``replicates`` when every run has two or
more, else ``blocks``), the verdict, and, where the checkpoints were measured, the
conservation of ``A_high`` and the prediction horizon. It writes ``comparison.json`` and the
figure ``comparison.{png,pdf}``: (a) held-out agreement per predictor and run, (b) the median
``A_high(t)/A_high(0)`` and (c) the horizon of ``measured_median`` per run.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from interaction.artifacts import atomic_write_json, save_figure, to_jsonable
from validation.merger_phase_diagram.analysis import Analysis, analyse
from validation.merger_phase_diagram.config import PhaseDiagramConfig
from validation.merger_phase_diagram.results import load

STEM = "comparison"


def label(config: PhaseDiagramConfig, networks: int) -> str:
    """What tells the runs apart: loss, readout, grid size."""
    return (f"{config.train.loss} loss, {config.train.readout} readout, {len(config.gains)}x{len(config.fractions)}"
            f"x{config.seeds} ({networks} networks)")


def _scheme(analyses: list[Analysis]) -> str:
    shared = set.intersection(*(set(a.evaluation.out_of_sample) for a in analyses))
    if not shared:
        raise ValueError("--compare: the runs share no out-of-sample scheme (each needs a grid of at least 2 x 2)")
    return "replicates" if "replicates" in shared else "blocks"


def compare(paths: list[Path]) -> tuple[dict[str, Any], list[Analysis], list[PhaseDiagramConfig]]:
    """Load and analyse each run; the JSON-ready comparison (module docstring)."""
    if len(paths) < 2:
        raise ValueError(f"--compare needs at least two results files (got {len(paths)})")
    loaded = [load(p) for p in paths]            # every file is validated before any analysis
    analyses = [analyse(arrays, config) for arrays, config, _ in loaded]
    configs = [config for _, config, _ in loaded]
    scheme = _scheme(analyses)
    runs = []
    for path, a, config in zip(paths, analyses, configs):
        e = a.evaluation
        runs.append({"path": str(path), "label": label(config, a.observed.size), "loss": config.train.loss,
                     "generalised": int(a.observed.sum()), "networks": int(a.observed.size),
                     "held_out": {n: asdict(s) for n, s in e.out_of_sample[scheme].items()},
                     "verdict": asdict(e.verdict[scheme]) if scheme in e.verdict else None,
                     "conservation": None if a.conservation is None else asdict(a.conservation),
                     "horizon": None if a.horizon is None else asdict(a.horizon)})
    return {"scheme": scheme, "runs": runs}, analyses, configs


def comparison_figure(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """``comparison.{png,pdf}`` from ``compare``'s result."""
    import matplotlib.pyplot as plt     # here: the caller chooses the backend first

    runs, scheme = result["runs"], result["scheme"]
    names = list(runs[0]["held_out"])
    along = any(r["conservation"] is not None for r in runs)
    fig, axes = plt.subplots(1, 3 if along else 1, figsize=(20 if along else 8, 5.4), layout="constrained",
                             squeeze=False)
    ax = axes[0, 0]
    width = 0.8 / len(runs)
    for i, r in enumerate(runs):
        a = np.array([r["held_out"][n]["agreement"] if n in r["held_out"] else np.nan for n in names])
        lo = np.array([r["held_out"][n]["interval"][0] if n in r["held_out"] else np.nan for n in names])
        hi = np.array([r["held_out"][n]["interval"][1] if n in r["held_out"] else np.nan for n in names])
        err = np.where(np.isfinite(lo), np.vstack([a - lo, hi - a]), 0.0)
        ax.barh(np.arange(len(names)) + (i - (len(runs) - 1) / 2) * width, 100 * a, height=width,
                xerr=100 * err, capsize=2, label=r["label"])
    ax.set_yticks(np.arange(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"held-out agreement ({scheme}), %, bootstrap 16-84 %")
    ax.set_title("(a) every predictor out of sample", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    if along:
        for r in runs:
            c, h = r["conservation"], r["horizon"]
            if c is not None:
                axes[0, 1].plot(c["checkpoints"], np.asarray(c["quantiles"])[:, 2], "o-", label=r["label"])
            if h is not None and scheme in h["agreement"]:
                axes[0, 2].plot(h["checkpoints"], 100 * np.asarray(h["agreement"][scheme]["measured_median"]),
                                "o-", label=r["label"])
        axes[0, 1].axhline(1.0, color="grey", ls=":")
        axes[0, 1].set_yscale("symlog", linthresh=1.0)
        axes[0, 1].set_ylabel("median A_high(t)/A_high(0), agreeing pairs")
        axes[0, 1].set_title("(b) conservation of A_high (1: conserved)", fontsize=9)
        axes[0, 2].set_ylabel(f"held-out agreement of measured_median ({scheme}), %")
        axes[0, 2].set_title("(c) prediction horizon", fontsize=9)
        for ax in axes[0, 1:]:
            ax.tick_params(axis="x", labelsize=7, rotation=20)
            ax.set_xlabel("checkpoint")
            ax.legend(fontsize=7)
    fig.suptitle("The theory test, run against run", fontsize=11)
    paths = save_figure(fig, out_dir / STEM)
    plt.close(fig)
    return paths


def write(result: dict[str, Any], out_dir: Path) -> Path:
    """``comparison.json`` in ``out_dir`` (atomic)."""
    return atomic_write_json(out_dir / f"{STEM}.json", to_jsonable(result))
