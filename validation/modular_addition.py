"""Grokking on modular addition: Nanda et al.'s progress measures and representation-merger measurements.

    python -m validation.modular_addition [--preset fast|default|paper] [--seed S] [--out DIR] ...

Trains Nanda et al.'s one-layer transformer on ``(a + b) mod P`` (spec modular.md §1, §3),
measures at every checkpoint the merger quantities of spec §2.2 at the ``=`` sites
``resid_mid``, ``mlp_post``, ``mlp_out``, ``resid_post``, ``logits`` (chance-corrected variance
ratio M, distance ratios ρ and the test→train cross term, nearest-centroid assignment
accuracy, normalised pair distances of agreeing train–train, disagreeing train–train and
agreeing test–train pairs; complete-linkage state counts less often), keeps weight
snapshots, and after training computes the progress measures with the final model's key
frequencies (restricted/excluded loss, Gini of the Fourier norms of W_E and W_L, total
squared weight norm), the automatic phase boundaries and the mechanistic checks.

Writes to ``--out``: ``results.npz`` (all curves and the final weights ``final/<name>``), ``results.json`` (config, provenance,
status, key frequencies under all three rules, phase boundaries, mechanistic checks,
final measurements, the interaction-theory prediction per pair group) and the figures
``progress.png/pdf`` and ``mergers.png/pdf``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from interaction.artifacts import atomic_savez, atomic_write_json, provenance, save_figure
from interaction.checks import check_int
from interaction.cliutil import ArgumentParser, run_cli
from rnn.modular import mergers as mm
from rnn.modular import progress as pm
from rnn.modular.fourier import check_prime
from rnn.modular.data import modular_addition_data
from rnn.modular.train import PRESETS, ModularConfig, TrainResult, checkpoint_epochs, preset_config, train
from rnn.modular.transformer import SITES, model_from_weights

PROG = "python -m validation.modular_addition"
KAPPA = 0.1  # merged-pair threshold reported in results.json (spec §2.2 uses 0.05, 0.1, 0.3)
FIGURE_KAPPA = 0.3  # at 0.1 the fast run's classes stay split into their commuted pairs; 0.3 shows class merging
SCALAR_KEYS = ("r", "M_train", "M_test", "M_all", "R_train", "R_test", "R_all", "rho_train", "rho_test",
               "rho_all", "rho_test_train", "assignment_accuracy")


def site_arrays(model_cache: dict[str, torch.Tensor], P: int) -> dict[str, np.ndarray]:
    """Float64 representation matrices of every site (``logits`` without the ``=`` class)."""
    acts = {s: model_cache[s].detach().double().numpy() for s in SITES}
    acts["logits"] = acts["logits"][:, :P]
    return acts


class MergerRecorder:
    """``on_checkpoint`` callback: merger measurements, Gini and weight norm at every checkpoint."""

    def __init__(self, config: ModularConfig, labels: np.ndarray, train_mask: np.ndarray, test_mask: np.ndarray,
                 *, pairs: dict[str, np.ndarray], n_samples: int, linkage_epochs: set[int], seed: int):
        self.config, self.labels, self.train_mask, self.test_mask = config, labels, train_mask, test_mask
        self.pairs, self.n_samples, self.linkage_epochs, self.seed = pairs, n_samples, linkage_epochs, seed
        self.epochs: list[int] = []
        self.scalars = {s: {k: [] for k in SCALAR_KEYS} for s in SITES}
        self.pair_distances = {s: {g: [] for g in pairs} for s in SITES}
        self.progress = {k: [] for k in ("weight_norm_sq", "gini_embedding", "gini_neuron_logit")}
        self.states = {"epoch": [], **{s: {"n_states": [], "purity": []} for s in SITES}}

    def __call__(self, epoch: int, model, cache: dict[str, torch.Tensor]) -> None:
        P = self.config.P
        weights = {k: v.double().numpy() for k, v in model.weight_dict().items()}
        self.epochs.append(epoch)
        self.progress["weight_norm_sq"].append(pm.squared_weight_norm(weights))
        self.progress["gini_embedding"].append(pm.embedding_fourier_gini(weights["W_E"], P))
        self.progress["gini_neuron_logit"].append(
            pm.neuron_logit_fourier_gini(pm.neuron_logit_map(weights["W_out"], weights["W_U"], P)))
        acts = site_arrays(cache, P)
        for site, H in acts.items():
            out = mm.site_measurements(H, self.labels, self.train_mask, self.test_mask, pairs=self.pairs,
                                       n_samples=self.n_samples, seed=self.seed)
            for k in SCALAR_KEYS:
                self.scalars[site][k].append(out[k])
            for g, d in out["pair_distances"].items():
                self.pair_distances[site][g].append(d.astype(np.float32))
        if epoch in self.linkage_epochs:
            self.record_states(epoch, acts)

    def record_states(self, epoch: int, acts: dict[str, np.ndarray]) -> None:
        self.states["epoch"].append(epoch)
        for site, H in acts.items():
            sc = mm.state_count(H, self.labels, mm.KAPPAS)
            self.states[site]["n_states"].append(sc.n_states)
            self.states[site]["purity"].append(sc.purity)


def progress_curves(result: TrainResult, freqs: np.ndarray, progress: bool = False) -> dict[str, np.ndarray]:
    """Restricted loss (all inputs and test split) and excluded loss (train) at every snapshot."""
    data = result.data
    tokens = torch.as_tensor(data.tokens)
    curves = {k: [] for k in ("restricted_loss", "restricted_loss_test", "excluded_loss")}
    for weights in tqdm(result.snapshots, desc="progress measures", leave=False, disable=not progress):
        with torch.no_grad():
            logits = model_from_weights(weights)(tokens)[:, :data.P].double().numpy()
        res = pm.restricted_logits(logits, freqs)
        curves["restricted_loss"].append(pm.cross_entropy(res, data.labels))
        curves["restricted_loss_test"].append(pm.cross_entropy(res, data.labels, data.test_mask))
        curves["excluded_loss"].append(pm.excluded_loss(logits, data.labels, freqs, data.train_mask))
    return {k: np.asarray(v) for k, v in curves.items()}


def linkage_schedule(epochs: np.ndarray, every: int) -> set[int]:
    """Checkpoints that get a state count: epoch 0, the checkpoints nearest 30, 100 and 300
    (memorisation), and every multiple of ``every``."""
    chosen = {int(e) for e in epochs if e % every == 0}
    chosen |= {int(epochs[np.argmin(np.abs(epochs - t))]) for t in (30, 100, 300)}
    return chosen


def shade_phases(ax, phases: dict) -> None:
    """Shade memorisation (blue), circuit formation (orange) and cleanup (green)."""
    ax.axvspan(0, phases["memorisation_end"], color="tab:blue", alpha=0.08, lw=0)
    if phases["cleanup_start"] is not None:
        ax.axvspan(phases["memorisation_end"], phases["cleanup_start"], color="tab:orange", alpha=0.08, lw=0)
        ax.axvspan(phases["cleanup_start"], phases["cleanup_end"], color="tab:green", alpha=0.12, lw=0)


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_progress(arrays: dict, summary: dict, stem: Path) -> None:
    """Figure 1: losses with restricted/excluded loss, accuracies, Gini, weight norm; phases shaded."""
    plt = _pyplot()
    t, phases, keys = arrays["epochs"], summary["phase_boundaries"], summary["key_frequencies"]
    rule = keys["default_rule"] if keys["fallback_rule"] is None else f"{keys['fallback_rule']}, fallback"
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), constrained_layout=True)
    ax = axes[0, 0]
    ax.semilogy(t, arrays["train_loss"], label="train loss", color="tab:blue")
    ax.semilogy(t, arrays["test_loss"], label="test loss", color="tab:red")
    ax.semilogy(t, arrays["restricted_loss"], label="restricted loss (all pairs)", color="tab:green", ls="--")
    ax.semilogy(t, arrays["excluded_loss"], label="excluded loss (train)", color="tab:purple", ls="--")
    ax.set_title(f"loss; final key frequencies {list(keys['used'])} (rule: {rule})", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    ax.plot(t, arrays["train_acc"], label="train accuracy", color="tab:blue")
    ax.plot(t, arrays["test_acc"], label="test accuracy", color="tab:red")
    ax.plot(t, arrays["resid_post/assignment_accuracy"], label="assignment accuracy (resid_post)", color="k", ls=":")
    ax.set_title("accuracy")
    ax.legend(fontsize=8)
    ax = axes[1, 0]
    ax.plot(t, arrays["gini_embedding"], label="Gini, Fourier norms of $W_E$")
    ax.plot(t, arrays["gini_neuron_logit"], label="Gini, Fourier norms of $W_L$")
    ax.set_title("sparsity in the Fourier basis")
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    ax.plot(t, arrays["weight_norm_sq"], color="k")
    ax.set_title(r"total squared weight norm $\sum\theta^2$")
    for ax in axes.ravel():
        shade_phases(ax, phases)
        ax.set_xlabel("epoch")
    c = summary["config"]
    fig.suptitle(f"P={c['P']}, train frac {c['train_frac']}, wd {c['weight_decay']}, seed {c['seed']}: "
                 f"{summary['status']} (shaded: memorisation | circuit formation | cleanup)")
    save_figure(fig, stem)
    plt.close(fig)


def plot_mergers(arrays: dict, summary: dict, stem: Path) -> None:
    """Figure 2: the merger measurements of spec §2.2 per site over training; phases shaded."""
    plt = _pyplot()
    P, t, phases = summary["config"]["P"], arrays["epochs"], summary["phase_boundaries"]
    k = list(arrays["kappas"]).index(FIGURE_KAPPA)
    colors = dict(zip(SITES, ("tab:gray", "tab:orange", "tab:green", "tab:blue", "tab:red")))
    styles = {"agree_test_train": "-", "agree_train_train": "--", "disagree_train_train": ":"}
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), constrained_layout=True)
    for site, col in colors.items():
        axes[0, 0].plot(t, arrays[f"{site}/M_test"], color=col, label=site)
        axes[0, 0].plot(t, arrays[f"{site}/M_train"], color=col, ls="--")
        axes[0, 1].plot(t, arrays[f"{site}/rho_test"], color=col, label=site)
        axes[0, 1].plot(t, arrays[f"{site}/rho_test_train"], color=col, ls=":")
        axes[0, 2].plot(t, arrays[f"{site}/assignment_accuracy"], color=col, label=site)
        axes[1, 0].semilogy(arrays["state_epochs"], arrays[f"{site}/n_states"][:, k], "o-", color=col, ms=3,
                            label=site)
        for group, ls in styles.items():
            d = arrays[f"{site}/pair_distances_{group}"]
            axes[1, 1].plot(t, np.median(d, axis=1), color=col, ls=ls)
            axes[1, 2].plot(t, mm.merged_fraction(d, FIGURE_KAPPA), color=col, ls=ls)
    axes[0, 2].plot(t, arrays["test_acc"], color="k", ls=":", label="test accuracy")
    for ref, name in ((P, "P"), (P * (P + 1) // 2, "P(P+1)/2"), (P * P, "P²")):
        axes[1, 0].axhline(ref, color="k", lw=0.6, ls=":")
        axes[1, 0].text(0, ref, name, fontsize=7, va="bottom")
    axes[1, 1].axhline(FIGURE_KAPPA, color="k", lw=0.6)
    titles = ("chance-corrected merging score M (solid test, dashed train)",
              "distance ratio ρ (solid test, dotted test→train)",
              "nearest train-centroid assignment accuracy of test points",
              f"state count, complete linkage cut at {FIGURE_KAPPA}·r(t)",
              "median pair distance d/r: agreeing test–train (solid),\nagreeing train–train (dashed), "
              "disagreeing train–train (dotted)",
              f"merged fraction (d/r < {FIGURE_KAPPA}), same line styles; theory (eq. 7):\n"
              "agreeing A_low = 0 may merge, disagreeing A_low > 0 never merge")
    for ax, title in zip(axes.ravel(), titles):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch")
        shade_phases(ax, phases)
    axes[0, 0].legend(fontsize=7)
    c = summary["config"]
    fig.suptitle(f"representation mergers at '=' (P={P}, wd {c['weight_decay']}, seed {c['seed']})")
    save_figure(fig, stem)
    plt.close(fig)


def replot(directory: Path) -> None:
    """Redraw both figures from a finished run's ``results.npz`` and ``results.json``."""
    arrays = dict(np.load(directory / "results.npz"))
    summary = json.loads((directory / "results.json").read_text())
    plot_progress(arrays, summary, directory / "progress")
    plot_mergers(arrays, summary, directory / "mergers")


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0] + " Trains, measures, writes results and figures.")
    p.add_argument("--preset", default="default", choices=sorted(PRESETS),
                   help="fast: P=59, frac 0.3, wd 3 (groks in minutes); default: P=59, frac 0.3, wd 1 "
                        "(the paper's wd); paper: P=113, frac 0.3, wd 1, 40k-epoch cap (Nanda et al.'s mainline)")
    p.add_argument("--seed", type=int, default=0, help="model initialisation seed")
    p.add_argument("--data-seed", type=int, default=0, help="train/test split seed")
    p.add_argument("--P", type=int, default=argparse.SUPPRESS,
                   help="override the modulus (a prime >= 3; preset value if omitted)")
    p.add_argument("--train-frac", type=float, default=argparse.SUPPRESS, help="override the training fraction, in (0, 1)")
    p.add_argument("--weight-decay", type=float, default=argparse.SUPPRESS, help="override the AdamW weight decay")
    p.add_argument("--max-epochs", type=int, default=argparse.SUPPRESS, help="override the epoch cap")
    p.add_argument("--eval-every", type=int, default=argparse.SUPPRESS,
                   help="checkpoint interval in epochs after the dense early phase (presets: 100)")
    p.add_argument("--no-early-stop", action="store_true",
                   help="train to --max-epochs instead of stopping after test accuracy 0.99 plus a cleanup margin "
                        "of 0.5x that epoch")
    p.add_argument("--linkage-every", type=int, default=1000,
                   help="epochs between complete-linkage state counts (seconds each)")
    p.add_argument("--pair-samples", type=int, default=2000, help="pairs per group for the pair trajectories")
    p.add_argument("--distance-samples", type=int, default=15_000,
                   help="same-class pairs (and as many different-class pairs) sampled for the distance ratios "
                        "during training; the final ones are exact for P <= 59")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (0: torch's default). One thread per job is fastest on a shared or "
                        "2-core machine; oversubscribed OpenMP threads can be 10x slower")
    p.add_argument("--save-checkpoints", action="store_true",
                   help="also write every weight snapshot (float32) to checkpoints.npz")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--replot", type=Path, default=None, metavar="DIR",
                   help="only redraw the figures of a finished run in DIR from its results files, then exit")
    p.add_argument("--out", type=Path, default=None,
                   help="output directory (default runs/modular_addition/<preset>_seed<seed>)")
    return p


def make_config(args) -> ModularConfig:
    overrides = {"seed": args.seed, "data_seed": args.data_seed}
    for field in ("P", "train_frac", "weight_decay", "max_epochs", "eval_every"):
        if hasattr(args, field):  # given on the command line; otherwise the preset's value
            overrides[field] = getattr(args, field)
    if args.no_early_stop:
        overrides["stop_test_acc"] = None
    config = preset_config(args.preset, **overrides)
    check_prime(config.P)
    return config


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.replot is not None:
        if not (args.replot / "results.npz").is_file() or not (args.replot / "results.json").is_file():
            raise ValueError(f"--replot needs a run directory with results.npz and results.json (got {args.replot})")
        replot(args.replot)
        return 0
    config = make_config(args)
    check_int("linkage_every", args.linkage_every, minimum=1)
    check_int("pair_samples", args.pair_samples, minimum=1)
    check_int("distance_samples", args.distance_samples, minimum=1)
    check_int("threads", args.threads, minimum=0)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or Path("runs") / "modular_addition" / f"{args.preset}_seed{args.seed}"
    started = time.time()

    data = modular_addition_data(config.P, config.train_frac, config.data_seed)
    pairs = mm.sample_pairs(data.labels, data.train_mask, data.test_mask, n=args.pair_samples, seed=config.seed)
    epochs = checkpoint_epochs(config.max_epochs, config.eval_every, config.dense_until)
    rec = MergerRecorder(config, data.labels, data.train_mask, data.test_mask, pairs=pairs,
                         n_samples=args.distance_samples, linkage_epochs=linkage_schedule(epochs, args.linkage_every),
                         seed=config.seed)
    result = train(config, on_checkpoint=rec, progress=not args.no_progress)

    # final model: one cached forward for the key frequencies, mechanistic checks and final state count
    final = model_from_weights(result.snapshots[-1])
    with torch.no_grad():
        _, cache = final.run_with_cache(torch.as_tensor(data.tokens))
    acts = site_arrays(cache, config.P)
    if rec.states["epoch"][-1:] != [int(result.epochs[-1])]:
        rec.record_states(int(result.epochs[-1]), acts)
    weights = {k: np.asarray(v, dtype=np.float64) for k, v in result.snapshots[-1].items()}
    W_L = pm.neuron_logit_map(weights["W_out"], weights["W_U"], config.P)
    key_freqs = {"neurons": pm.key_frequencies_neurons(acts["mlp_post"]),
                 "neuron_logit": pm.key_frequencies_neuron_logit(W_L),
                 "embedding": pm.key_frequencies_embedding(weights["W_E"], config.P)}
    freqs = key_freqs[pm.DEFAULT_KEY_FREQUENCY_RULE]
    fallback = None
    if freqs.size == 0:  # no neuron is single-frequency (e.g. a run that has not grokked): fall back, say so
        fallback = "neuron_logit"
        freqs = key_freqs[fallback]
    curves = progress_curves(result, freqs, progress=not args.no_progress)
    finite = np.isfinite(result.test_loss)  # a diverged run is read up to its last finite checkpoint
    phases = pm.phase_boundaries(result.epochs[finite], result.test_loss[finite])
    mech = pm.mechanistic_checks(resid_mid=acts["resid_mid"], mlp_post=acts["mlp_post"], weights=weights,
                                 labels=data.labels, train_mask=data.train_mask, test_mask=data.test_mask,
                                 freqs=freqs)
    exact = config.P <= 59
    final_sites = {s: mm.site_measurements(H, data.labels, data.train_mask, data.test_mask,
                                           n_samples=None if exact else args.distance_samples, seed=config.seed)
                   for s, H in acts.items()}
    merged = {s: {g: mm.merged_fraction(np.stack(rec.pair_distances[s][g]), KAPPA) for g in pairs} for s in SITES}
    theory = {g: bool(np.all(mm.theory_permits_merger(data.labels[p[0]], data.labels[p[1]])))
              for g, p in pairs.items()}

    arrays = {"epochs": result.epochs, "train_loss": result.train_loss, "test_loss": result.test_loss,
              "train_acc": result.train_acc, "test_acc": result.test_acc,
              **{k: np.asarray(v) for k, v in rec.progress.items()}, **curves,
              "state_epochs": np.asarray(rec.states["epoch"]), "kappas": np.asarray(mm.KAPPAS),
              "train_mask": data.train_mask, "labels": data.labels}
    for g, p in pairs.items():
        arrays[f"pairs_{g}"] = p
    for name, w in result.snapshots[-1].items():  # the final model, rebuildable with model_from_weights
        arrays[f"final/{name}"] = w
    for s in SITES:
        for k in SCALAR_KEYS:
            arrays[f"{s}/{k}"] = np.asarray(rec.scalars[s][k])
        for g in pairs:
            arrays[f"{s}/pair_distances_{g}"] = np.stack(rec.pair_distances[s][g])
            arrays[f"{s}/merged_fraction_{g}"] = merged[s][g]
        arrays[f"{s}/n_states"] = np.stack(rec.states[s]["n_states"])
        arrays[f"{s}/purity"] = np.stack(rec.states[s]["purity"])
    out.mkdir(parents=True, exist_ok=True)
    atomic_savez(out / "results.npz", **arrays)
    if args.save_checkpoints:
        atomic_savez(out / "checkpoints.npz", epochs=result.epochs,
                     **{f"{k}": np.stack([s[k] for s in result.snapshots]) for k in result.snapshots[0]})
    summary = {
        "command": " ".join([PROG, *(sys.argv[1:] if argv is None else argv)]),
        "config": dataclasses.asdict(config), "provenance": provenance(),
        "status": result.status, "message": result.message, "epochs_trained": result.epochs_trained,
        "grok_epoch": result.grok_epoch, "runtime_s": time.time() - started,
        "final": {"train_loss": result.train_loss[-1], "test_loss": result.test_loss[-1],
                  "train_acc": result.train_acc[-1], "test_acc": result.test_acc[-1],
                  "weight_norm_sq": rec.progress["weight_norm_sq"][-1]},
        "key_frequencies": {"default_rule": pm.DEFAULT_KEY_FREQUENCY_RULE, "used": freqs,
                            "fallback_rule": fallback, **key_freqs},
        "phase_boundaries": dataclasses.asdict(phases),
        "mechanistic_checks": mech,
        "final_site_measurements": {"distance_ratios_exact": exact, **final_sites},
        "final_state_counts": {s: {"kappas": mm.KAPPAS, "n_states": rec.states[s]["n_states"][-1],
                                   "purity": rec.states[s]["purity"][-1]} for s in SITES},
        "theory": {"rule": "P25 eq. 7: merger iff A_low = 0 and A_high <= 0; A_low = sqrt(r S), "
                           "S = 2 [c_i != c_j] for one-hot targets",
                   "permits_merger": theory,
                   f"final_merged_fraction_kappa_{KAPPA}": {s: {g: merged[s][g][-1] for g in pairs} for s in SITES}},
    }
    atomic_write_json(out / "results.json", summary)
    replot(out)
    print(f"{result.status}: {result.message}; final test acc {result.test_acc[-1]:.4f}; "
          f"key frequencies {list(map(int, freqs))}; phases {phases.memorisation_end}/{phases.cleanup_start}/"
          f"{phases.cleanup_end}; wrote {out}")
    return 0 if result.status != "diverged" else 1


if __name__ == "__main__":
    run_cli(main, PROG)
