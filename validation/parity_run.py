"""The main streaming-parity run of van Rossem & Saxe (2025, §4, App. C.1; spec §4.1).

    python -m validation.parity_run                    # 1000 epochs, snapshots every 5 epochs (~ minutes)
    python -m validation.parity_run --preset paper     # snapshots and validation every epoch (~0.8 GB of states)

One Elman RNN (``rnn/parity/elman.py``: ReLU, 100 units, Xavier-normal gain 0.1, zero
biases, ``h_0`` = ones) is trained on all 2046 binary sequences of length 1..10 to
output their parity, with the paper protocol (``rnn.parity.ensemble``, ``'paper'``: lengths
1→10, shuffled minibatches of 128 that never mix lengths, SGD lr 0.02, MSE on
one-hot targets), tracking at the start of epochs:

* the training loss (every epoch) and the loss on random validation sequences —
  100 of length 50 and 10 each of lengths 25, 100, 250, 1000, 2500, 10000 (P25 Fig. 6:
  all lengths stay flat and then drop together);
* the hidden states of all 2046 sequences plus ``h_0``, from which the automaton is
  extracted (``rnn.automata.extraction``: greedy leader grouping at ``eps = 0.01·‖std‖``, std
  pooled over all tracked epochs and rows), giving the raw and Hopcroft-minimised
  state counts over training (P25 Fig. 4);

and at the end: the merged-pair analysis of the final grouping (``rnn.measure.merged_pairs``;
P25 §4.2 and Fig. 7: do all merged pairs agree on all futures, and which fraction of
agreeing pairs merged per (length, length) cell), the final automaton, its minimised
form (drawn; P25 Fig. 8: the 2-state parity automaton), whether that is equivalent
to parity, and its fidelity to the network on the validation sequences.

Outputs in ``--out`` (default ``runs/parity_run/PRESET``): ``results.json`` (full
configuration, summary, provenance), ``results.npz`` (curves, state counts,
merged-pair matrices, final parameters and grouping), ``merged_pairs.csv`` and the
figures ``loss_curves``, ``state_counts``, ``merged_pairs``, ``automaton`` (PNG + PDF).

Differences from the reference run, on purpose: the minibatch order and the
validation sequences come from ``--data-seed`` (the reference used torch's global
RNG); the ``quick`` preset keeps snapshots and validation every 5 epochs (the pooled
std of ``eps`` is then taken over those snapshots).
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from interaction.artifacts import atomic_savez, atomic_write_bytes, atomic_write_json, provenance, save_figure
from interaction.checks import check_int, check_positive
from interaction.cliutil import ArgumentParser, run_cli

PROG = "python -m validation.parity_run"


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines the run (defaults: P25 §C.1, quick snapshot spacing)."""

    L: int = 10
    hidden: int = 100
    gain: float = 0.1
    lr: float = 0.02
    batch_size: int = 128
    loss: str = "mse"
    nonlinearity: str = "relu"
    h0: str = "ones"
    epochs: int = 1000
    seed: int = 0
    data_seed: int = 0
    eps_factor: float = 0.01
    track_every: int = 5
    eval_every: int = 5
    val_length: int = 50
    val_count: int = 100
    long_lengths: tuple[int, ...] = (25, 100, 250, 1000, 2500, 10000)
    long_count: int = 10
    dtype: str = "float32"

    def __post_init__(self) -> None:
        check_int("L", self.L, minimum=1, maximum=16)
        check_positive("gain", self.gain)
        check_int("epochs", self.epochs, minimum=1)
        check_int("seed", self.seed, minimum=0)
        check_int("data_seed", self.data_seed, minimum=0)
        check_positive("eps_factor", self.eps_factor)
        check_int("track_every", self.track_every, minimum=1)
        check_int("eval_every", self.eval_every, minimum=1)
        check_int("val_length", self.val_length, minimum=1)
        check_int("val_count", self.val_count, minimum=1)
        check_int("long_count", self.long_count, minimum=1)
        for n in self.long_lengths:
            check_int("long_lengths", n, minimum=1)


PRESETS = {
    "quick": RunConfig(),
    "paper": RunConfig(track_every=1, eval_every=1),
}


def _epochs(every: int, last: int) -> np.ndarray:
    return np.union1d(np.arange(0, last + 1, every), [last])


def validation_sets(config: RunConfig) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Random validation sequences, seeded by ``data_seed``: ``{"length N": (tokens, parity)}``."""
    from rnn.parity.data import parity, random_sequences

    rng = np.random.default_rng([config.data_seed, 1])
    sets = {config.val_length: random_sequences(config.val_length, config.val_count, rng)}
    for n in config.long_lengths:
        if n not in sets:
            sets[n] = random_sequences(n, config.long_count, rng)
    return {f"length {n}": (tokens, parity(tokens)) for n, tokens in sorted(sets.items())}


def run(config: RunConfig, *, progress: bool = True) -> dict:
    """Train, track and analyse (see module docstring); returns arrays and a JSON-ready summary."""
    from rnn.automata import (equivalent, extract_automaton, fidelity, minimize, parity_dfa,
                               state_count_history, std_norm)
    from rnn.parity.ensemble import TrainConfig, outputs, train_ensemble
    from rnn.measure.merged_pairs import merged_pairs
    from rnn.parity.data import all_sequences, parity

    data = all_sequences(config.L)
    train_config = TrainConfig(hidden=config.hidden, nonlinearity=config.nonlinearity, loss=config.loss,
                               lr=config.lr, batch_size=config.batch_size, protocol="paper",
                               max_epochs=config.epochs, h0=config.h0, dtype=config.dtype,
                               shuffle_seed=config.data_seed)
    val = validation_sets(config)
    started = time.perf_counter()
    result = train_ensemble(data, parity(data.tokens), config=train_config, seeds=[config.seed],
                            gains=[config.gain], track_epochs=_epochs(config.track_every, config.epochs),
                            validation=val, validation_epochs=_epochs(config.eval_every, config.epochs),
                            progress=progress)
    train_seconds = time.perf_counter() - started
    status, stopped = str(result.status[0]), int(result.epochs[0])
    summary = {"status": status, "epochs_trained": stopped, "train_seconds": train_seconds,
               "final_train_loss": float(result.train_loss[0, stopped]),
               "final_validation_loss": {k: float(v[0, np.flatnonzero(result.validation_epochs <= stopped)[-1]])
                                         for k, v in result.validation_loss.items()}}
    arrays = {
        "train_loss": result.train_loss[0], "train_accuracy": result.train_accuracy[0],
        "validation_epochs": result.validation_epochs, "tracked_epochs": result.tracked_epochs,
        **{f"validation_loss/{k}": v[0] for k, v in result.validation_loss.items()},
        **{f"validation_accuracy/{k}": v[0] for k, v in result.validation_accuracy.items()},
        **{f"final/{k}": v[0] for k, v in result.params.items()},
        **{f"initial/{k}": v[0] for k, v in result.initial_params.items()},
    }
    if status == "diverged":
        summary["analysis"] = "skipped: training diverged (non-finite loss)"
        return {"result": result, "summary": summary, "arrays": arrays, "data": data}

    rows = int(np.searchsorted(result.tracked_epochs, stopped, side="right"))  # snapshots up to the stop
    hidden, outs = result.tracked_hidden[:rows, 0], result.tracked_output[:rows, 0]  # views, no copy
    eps = config.eps_factor * std_norm(hidden, "pooled")
    started = time.perf_counter()
    history = state_count_history(hidden, data, eps=eps, outputs=outs, progress=progress)
    final = extract_automaton(hidden[-1], data, eps=eps, outputs=outs[-1])
    minimal = minimize(final.dfa)
    pairs = merged_pairs(final.labels, data)
    final_params = result.member_params(0)
    classes = {int(t.shape[1]): outputs(final_params, t, nonlinearity=config.nonlinearity).argmax(-1)
               for t, _ in val.values()}
    fid = fidelity(minimal, {int(t.shape[1]): t for t, _ in val.values()}, classes)
    summary.update({
        "eps": eps, "analysis_seconds": time.perf_counter() - started,
        "final_states_raw": int(final.dfa.n_states), "final_states_minimal": int(minimal.n_states),
        "final_automaton_finite": bool(final.dfa.is_finite),
        "minimal_equivalent_to_parity": bool(equivalent(minimal, parity_dfa())),
        "transition_conflicts": int(final.n_conflicts),
        "merged_pairs": pairs.merged, "merged_agreeing": pairs.merged_agreeing,
        "merged_disagreeing": pairs.merged_disagreeing, "agreeing_pairs": pairs.agreeing,
        "all_merged_pairs_agree": bool(pairs.all_merged_agree),
        "fidelity_by_length": fid,
    })
    arrays.update({
        "eps": np.float64(eps), "states_raw": history.raw, "states_minimal": history.minimal,
        "finite": history.finite, "final_labels": final.labels,
        "minimal_transitions": minimal.transitions, "minimal_outputs": minimal.outputs,
        "minimal_start": np.int64(minimal.start),
        "agreeing_by_length": pairs.agreeing_by_length,
        "merged_agreeing_by_length": pairs.merged_agreeing_by_length,
        "merged_disagreeing_by_length": pairs.merged_disagreeing_by_length,
        "merged_fraction": pairs.merged_fraction,
    })
    return {"result": result, "summary": summary, "arrays": arrays, "data": data,
            "history": history, "minimal": minimal, "pairs": pairs}


# ----------------------------------------------------------------------------- figures

def plot_loss_curves(arrays: dict, config: RunConfig):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    loss = arrays["train_loss"]
    ax.plot(np.arange(loss.size), loss, color="black", lw=2, label="training (lengths 1–%d)" % config.L)
    names = sorted((k.split("/", 1)[1] for k in arrays if k.startswith("validation_loss/")),
                   key=lambda k: int(k.split()[-1]))
    colours = plt.cm.viridis(np.linspace(0, 0.9, max(len(names), 1)))
    for colour, name in zip(colours, names):
        ax.plot(arrays["validation_epochs"], arrays[f"validation_loss/{name}"], color=colour, lw=1.2, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{config.loss.upper()} loss")
    ax.set_title("Streaming parity: loss by sequence length")
    ax.legend(fontsize=7, ncol=2)
    return fig


def plot_state_counts(arrays: dict, config: RunConfig):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    epochs = arrays["tracked_epochs"][: arrays["states_raw"].size]
    ax.plot(epochs, arrays["states_raw"], color="tab:blue", label="extracted automaton")
    ax.plot(epochs, arrays["states_minimal"], color="tab:orange", label="after Hopcroft minimisation")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("number of states")
    ax.set_title(f"Automaton size (eps = {config.eps_factor}·‖std‖, pooled)")
    twin = ax.twinx()
    loss = arrays["train_loss"]
    twin.plot(np.arange(loss.size), loss, color="gray", lw=0.8, ls="--", label="training loss")
    twin.set_yscale("log")
    twin.set_ylabel("training loss", color="gray")
    lines = ax.get_legend_handles_labels()
    extra = twin.get_legend_handles_labels()
    fig.legend(lines[0] + extra[0], lines[1] + extra[1], fontsize=8, loc="lower center", ncol=3)
    fig.subplots_adjust(bottom=0.24)
    return fig


def plot_merged_pairs(arrays: dict, summary: dict, config: RunConfig):
    import matplotlib.pyplot as plt

    fraction = arrays["merged_fraction"][1:, 1:]
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    image = ax.imshow(np.ma.masked_invalid(fraction), origin="lower", cmap="magma", vmin=0,
                      extent=(0.5, config.L + 0.5, 0.5, config.L + 0.5))
    ax.set_facecolor("0.85")
    fig.colorbar(image, ax=ax, label="fraction of agreeing pairs that merged")
    ax.set_xlabel("length of sequence 2")
    ax.set_ylabel("length of sequence 1 (grey: no agreeing pair)")
    verdict = "all agree" if summary["all_merged_pairs_agree"] else f"{summary['merged_disagreeing']} disagree"
    ax.set_title(f"Merged pairs: {summary['merged_pairs']} ({verdict})", fontsize=10)
    return fig


def draw_automaton(ax, transitions: np.ndarray, state_outputs: np.ndarray, start: int, title: str) -> None:
    """Draw a DFA: states on a circle coloured by output, one arrow per (state, next state) labelled by its symbols."""
    from matplotlib.patches import Circle, FancyArrowPatch

    n = transitions.shape[0]
    angle = np.pi / 2 - 2 * np.pi * np.arange(n) / max(n, 1)
    radius = 0.0 if n == 1 else 1.0
    pos = np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1)
    edges: dict[tuple[int, int], list[str]] = {}
    for q in range(n):
        for symbol, target in enumerate(transitions[q]):
            if target >= 0:
                edges.setdefault((q, int(target)), []).append(str(symbol))
    for (q, target), symbols in edges.items():
        label = ",".join(symbols)
        if target == q:  # self-loop: a small circle on the outer side of the state
            outward = pos[q] / radius if radius else np.array([0.0, 1.0])
            centre = pos[q] + 0.3 * outward
            ax.add_patch(Circle(centre, 0.16, fill=False, lw=1))
            ax.text(*(centre + 0.27 * outward), label, ha="center", va="center", fontsize=9)
            continue
        rad = 0.25
        ax.add_patch(FancyArrowPatch(pos[q], pos[target], connectionstyle=f"arc3,rad={rad}",
                                     arrowstyle="-|>", mutation_scale=12, lw=1, shrinkA=14, shrinkB=14))
        mid = (pos[q] + pos[target]) / 2
        normal = np.array([pos[target][1] - pos[q][1], pos[q][0] - pos[target][0]])
        ax.text(*(mid - rad * 0.55 * normal), label, ha="center", va="center", fontsize=9)
    colours = ("#9ecae1", "#fdae6b", "#a1d99b", "#bcbddc")
    for q in range(n):
        ax.add_patch(Circle(pos[q], 0.17, facecolor=colours[int(state_outputs[q]) % len(colours)],
                            edgecolor="black", lw=2.5 if q == start else 1, zorder=3))
        ax.text(*pos[q], f"{q}\nout {int(state_outputs[q])}", ha="center", va="center", fontsize=7, zorder=4)
    ax.set_xlim(-1.8, 1.8)
    ax.set_ylim(-1.8, 1.8)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=10)


def plot_automaton(arrays: dict, summary: dict):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    verdict = "= parity" if summary["minimal_equivalent_to_parity"] else "≠ parity"
    draw_automaton(ax, arrays["minimal_transitions"], arrays["minimal_outputs"], int(arrays["minimal_start"]),
                   f"Minimised automaton ({summary['final_states_raw']} → "
                   f"{summary['final_states_minimal']} states, {verdict}); bold = start")
    return fig


def write_outputs(out: Path, config: RunConfig, preset: str, outcome: dict) -> list[Path]:
    """Results files and figures; returns the written paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arrays, summary = outcome["arrays"], outcome["summary"]
    written = [atomic_savez(out / "results.npz", **arrays)]
    written.append(atomic_write_json(out / "results.json", {
        "experiment": "parity_run", "preset": preset, "config": asdict(config),
        "train_config": asdict(outcome["result"].config), "summary": summary, "provenance": provenance()}))
    figures = {"loss_curves": plot_loss_curves(arrays, config)}
    if "pairs" in outcome:
        figures["state_counts"] = plot_state_counts(arrays, config)
        figures["merged_pairs"] = plot_merged_pairs(arrays, summary, config)
        figures["automaton"] = plot_automaton(arrays, summary)
        lines = ["length_1,length_2,agreeing,merged_agreeing,merged_disagreeing,merged_fraction"]
        for a in range(1, config.L + 1):
            for b in range(a, config.L + 1):
                lines.append(f"{a},{b},{arrays['agreeing_by_length'][a, b]},"
                             f"{arrays['merged_agreeing_by_length'][a, b]},"
                             f"{arrays['merged_disagreeing_by_length'][a, b]},{arrays['merged_fraction'][a, b]:.6g}")
        written.append(atomic_write_bytes(out / "merged_pairs.csv", ("\n".join(lines) + "\n").encode()))
    for stem, fig in figures.items():
        written.extend(save_figure(fig, out / stem))
        plt.close(fig)
    return written


# ----------------------------------------------------------------------------- CLI

def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers (got {text!r})") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one length")
    return values


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=tuple(PRESETS), default="quick",
                        help="quick: snapshots/validation every 5 epochs; paper: every epoch (P25)")
    knobs = parser.add_argument_group("experiment (default: the preset's value; shown for quick/paper)")

    def knob(flag: str, help: str, **kwargs) -> None:
        field = flag.lstrip("-").replace("-", "_")
        shown = [",".join(map(str, v)) if isinstance(v, tuple) else str(v)
                 for v in (getattr(preset, field) for preset in PRESETS.values())]
        shown = shown[0] if len(set(shown)) == 1 else "/".join(shown)
        knobs.add_argument(flag, help=f"{help} [{shown}]", default=argparse.SUPPRESS, **kwargs)

    knob("--epochs", "training epochs", type=int)
    knob("--seed", "weight-initialisation seed", type=int)
    knob("--data-seed", "seed of the minibatch order and of the validation sequences", type=int)
    knob("--gain", "Xavier-normal gain of every weight matrix", type=float)
    knob("--lr", "SGD learning rate", type=float)
    knob("--hidden", "hidden units P", type=int)
    knob("--L", "longest training sequence; all 2^1 + ... + 2^L sequences are used", type=int)
    knob("--batch-size", "minibatch size; batches never mix lengths", type=int)
    knob("--loss", "training loss", choices=("mse", "ce"))
    knob("--nonlinearity", "recurrent nonlinearity", choices=("relu", "tanh"))
    knob("--h0", "initial hidden state", choices=("ones", "zeros"))
    knob("--eps-factor", "automaton merge distance eps = factor * ||std|| (std pooled over all snapshots)",
         type=float)
    knob("--track-every", "epochs between hidden-state snapshots (1 = every epoch)", type=int)
    knob("--eval-every", "epochs between validation-loss evaluations", type=int)
    knob("--val-length", "length of the main validation sequences", type=int)
    knob("--val-count", "number of main validation sequences", type=int)
    knob("--long-lengths", "comma-separated lengths of the long validation sets", type=_int_list)
    knob("--long-count", "sequences per long validation length", type=int)
    knob("--dtype", "training precision", choices=("float32", "float64"))
    run_group = parser.add_argument_group("execution")
    run_group.add_argument("--out", type=Path, default=argparse.SUPPRESS,
                           help="output directory [runs/parity_run/PRESET]")
    run_group.add_argument("--threads", type=int, default=1,
                           help="torch intra-op threads; the single network's matmuls are too small to gain from more")
    run_group.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def config_from_args(args: argparse.Namespace) -> RunConfig:
    overrides = {f: getattr(args, f) for f in RunConfig.__dataclass_fields__
                 if getattr(args, f, None) is not None}
    return replace(PRESETS[args.preset], **overrides)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(check_int("threads", args.threads, minimum=1))
    out = getattr(args, "out", Path("runs") / "parity_run" / args.preset)
    try:
        outcome = run(config, progress=not args.no_progress)
    finally:
        torch.set_num_threads(threads)
    written = write_outputs(out, config, args.preset, outcome)
    s = outcome["summary"]
    print(f"status {s['status']} after {s['epochs_trained']} epochs ({s['train_seconds']:.1f} s); "
          f"final training loss {s['final_train_loss']:.3g}")
    if "all_merged_pairs_agree" in s:
        print(f"automaton: {s['final_states_raw']} states -> {s['final_states_minimal']} after minimisation "
              f"(equivalent to parity: {s['minimal_equivalent_to_parity']}); merged pairs {s['merged_pairs']}, "
              f"all agree on all futures: {s['all_merged_pairs_agree']}")
        print("fidelity by length: " + ", ".join(f"{k}: {v:.2f}" for k, v in s["fidelity_by_length"].items()))
    else:
        print(s["analysis"])
    print(f"wrote {len(written)} files to {out}")
    return 0


if __name__ == "__main__":
    run_cli(main, PROG)
