"""Measurements of a modular-addition run, arrays in, summary out.

* ``MergerRecorder`` — the per-checkpoint measurements (docs/experiments.md §5.2): merger
  scalars per site, pair distances and the interaction theory's pair quantities
  (``rnn.modular.pair_theory``) at the checkpoints that ``MeasurementGate`` selects (every one
  in the dense early phase, elsewhere only where the loss curves move), complete-linkage state
  counts on a sparser schedule, Gini and weight norm at every checkpoint; its history is plain
  lists (``state`` / ``load_state`` for resume).
* ``final_analysis`` — after training, from the final activations and weights: the key
  frequencies under all three rules, restricted/excluded loss at every snapshot, the phase
  boundaries, the mechanistic checks, the final site measurements and the merger summary
  with the interaction theory's prediction per pair group (docs/theory.md §2.6). The theory
  measured on the transformer is analysed by ``validation.modular_addition.theory``.

A new per-checkpoint metric is one more key in ``SCALAR_KEYS`` (computed by
``rnn.modular.mergers.site_measurements``) or one more entry in ``MergerRecorder.progress``;
a new final quantity is one more entry of ``final_analysis``'s summary.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from interaction.checks import check_int, check_nonnegative
from rnn.modular import mergers as mm
from rnn.modular import pair_theory
from rnn.modular import progress as pm
from rnn.modular.data import ModularAdditionData
from rnn.modular.train import loss_and_accuracy
from rnn.modular.transformer import SITES, model_from_weights

KAPPA = 0.1  # merged-pair threshold reported in results.json (docs/experiments.md §5.2 uses 0.05, 0.1, 0.3)
SCALAR_KEYS = ("r", "M_train", "M_test", "M_all", "R_train", "R_test", "R_all", "rho_train", "rho_test",
               "rho_all", "rho_test_train", "assignment_accuracy")
PROGRESS_KEYS = ("weight_norm_sq", "gini_embedding", "gini_neuron_logit")
THEORY_KEYS = ("H", "Y", "W", "taylor_ratio")  # per pair and measured checkpoint (rnn.modular.pair_theory)


def site_arrays(model_cache: Mapping[str, torch.Tensor], P: int) -> dict[str, np.ndarray]:
    """Float64 representation matrices of every site (``logits`` without the ``=`` class)."""
    acts = {s: model_cache[s].detach().cpu().double().numpy() for s in SITES}
    acts["logits"] = acts["logits"][:, :P]
    return acts


def linkage_schedule(epochs: np.ndarray, every: int) -> set[int]:
    """Checkpoints that get a state count: epoch 0, the checkpoints nearest 30, 100 and 300
    (memorisation), and every multiple of ``every``."""
    chosen = {int(e) for e in epochs if e % every == 0}
    chosen |= {int(epochs[np.argmin(np.abs(epochs - t))]) for t in (30, 100, 300)}
    return chosen


def gate_stats(train_loss: float, test_loss: float, test_acc: float) -> tuple[float, float, float]:
    """What ``MeasurementGate`` compares: ``(log10 train loss, log10 test loss, test accuracy)``."""
    tiny = np.finfo(np.float64).tiny  # a loss that rounds to 0 stays finite on the log scale
    return float(np.log10(max(train_loss, tiny))), float(np.log10(max(test_loss, tiny))), float(test_acc)


@dataclass(frozen=True)
class MeasurementGate:
    """Which checkpoints get the merger and theory measurements: a sparser schedule where the curves are flat.

    Every checkpoint up to ``dense_until`` epochs (memorisation happens there) and the first
    one; after that a checkpoint is measured only if, since the last measured one, ``log10``
    of the train or test loss or the test accuracy moved by at least ``tolerance``, or
    ``max_gap`` epochs have passed. ``tolerance = 0`` measures every checkpoint. Training draws
    no random numbers and the losses are a function of the weights, so the schedule is
    reproducible and a resumed run makes the same choices.
    """

    dense_until: int
    tolerance: float
    max_gap: int

    def __post_init__(self) -> None:
        check_int("dense_until", self.dense_until, minimum=0)
        check_nonnegative("tolerance", self.tolerance)
        check_int("max_gap", self.max_gap, minimum=1)

    def due(self, epoch: int, stats: tuple[float, float, float], last: tuple[int, float, float, float] | None) -> bool:
        """``stats = (log10 train loss, log10 test loss, test accuracy)`` now; ``last`` = epoch and stats
        of the last measured checkpoint (None: nothing measured yet)."""
        if last is None or epoch <= self.dense_until or epoch - last[0] >= self.max_gap:
            return True
        return any(abs(now - then) >= self.tolerance for now, then in zip(stats, last[1:]))

    def select(self, epochs: np.ndarray, train_loss: np.ndarray, test_loss: np.ndarray,
               test_acc: np.ndarray) -> np.ndarray:
        """The checkpoints (boolean mask over ``epochs``) that ``due`` picks along a run's history
        (``MergerRecorder`` also measures the last checkpoint, which this does not add)."""
        chosen, last = np.zeros(len(epochs), dtype=bool), None
        for k, epoch in enumerate(epochs):
            stats = gate_stats(train_loss[k], test_loss[k], test_acc[k])
            if self.due(int(epoch), stats, last):
                chosen[k], last = True, (int(epoch), *stats)
        return chosen


class MergerRecorder:
    """``on_checkpoint`` callback of ``rnn.modular.train``: merger and theory measurements, Gini and weight norm.

    At every checkpoint: the weight norm and the Gini coefficients (cheap), and the state
    count at ``linkage_epochs``. At the checkpoints that ``gate`` selects (every checkpoint if
    None): the merger scalars and pair distances of every site and, for ``theory_sites``, the
    pair quantities of the interaction theory (``rnn.modular.pair_theory``) of
    ``theory_pairs`` ``(2, K)`` (agreeing train–train pairs first, then disagreeing ones), all
    from the checkpoint's own forward pass. ``measure`` does the gated part at any checkpoint.
    """

    def __init__(self, P: int, labels: np.ndarray, train_mask: np.ndarray, test_mask: np.ndarray, *,
                 pairs: dict[str, np.ndarray], n_samples: int, linkage_epochs: set[int], seed: int,
                 gate: MeasurementGate | None = None, theory_sites: Sequence[str] = (),
                 theory_pairs: np.ndarray | None = None):
        self.P, self.labels, self.train_mask, self.test_mask = P, labels, train_mask, test_mask
        self.pairs, self.n_samples, self.linkage_epochs, self.seed = pairs, n_samples, linkage_epochs, seed
        self.gate, self.theory_sites = gate, tuple(theory_sites)
        if self.theory_sites and theory_pairs is None:
            raise ValueError("theory_pairs must be given with theory_sites")
        self.theory_pairs = theory_pairs
        # the distance ratios' sampled pairs depend on the labels only: draw them once, not per call
        self.samples = mm.draw_ratio_samples(labels, train_mask, test_mask, n_samples=n_samples, seed=seed)
        self.epochs: list[int] = []
        self.measure_epochs: list[int] = []
        self.last: tuple[int, float, float, float] | None = None
        self.scalars = {s: {k: [] for k in SCALAR_KEYS} for s in SITES}
        self.pair_distances = {s: {g: [] for g in pairs} for s in SITES}
        self.theory = {s: {q: [] for q in THEORY_KEYS} for s in self.theory_sites}
        self.progress = {k: [] for k in PROGRESS_KEYS}
        self.states: dict[str, Any] = {"epoch": [], **{s: {"n_states": [], "purity": []} for s in SITES}}
        self.seconds = 0.0  # wall-clock time spent in the callback (not part of the state)

    def __call__(self, epoch: int, model, cache: Mapping[str, torch.Tensor]) -> None:
        started = time.perf_counter()
        self._record(epoch, model, cache)
        self.seconds += time.perf_counter() - started

    def _record(self, epoch: int, model, cache: Mapping[str, torch.Tensor]) -> None:
        P = self.P
        weights = {k: v.cpu().double().numpy() for k, v in model.weight_dict().items()}
        self.epochs.append(epoch)
        self.progress["weight_norm_sq"].append(pm.squared_weight_norm(weights))
        self.progress["gini_embedding"].append(pm.embedding_fourier_gini(weights["W_E"], P))
        self.progress["gini_neuron_logit"].append(
            pm.neuron_logit_fourier_gini(pm.neuron_logit_map(weights["W_out"], weights["W_U"], P)))
        acts, stats = None, None if self.gate is None else self._stats(cache)
        if stats is None or self.gate.due(epoch, stats, self.last):
            acts = self.measure(epoch, model, cache, stats)
        if epoch in self.linkage_epochs:
            self.record_states(epoch, site_arrays(cache, P) if acts is None else acts)

    def _stats(self, cache: Mapping[str, torch.Tensor]) -> tuple[float, float, float]:
        """``(log10 train loss, log10 test loss, test accuracy)`` from the cached logits, as training computes them."""
        logits = cache["logits"]
        labels = torch.as_tensor(self.labels, device=logits.device)
        (train_loss, _), (test_loss, test_acc) = (
            loss_and_accuracy(logits[m], labels[m], self.P)
            for m in (torch.as_tensor(self.train_mask, device=logits.device),
                      torch.as_tensor(self.test_mask, device=logits.device)))
        return gate_stats(train_loss, test_loss, test_acc)

    def measure(self, epoch: int, model, cache: Mapping[str, torch.Tensor],
                stats: tuple[float, float, float] | None = None) -> dict[str, np.ndarray]:
        """The merger and theory measurements of one checkpoint (``stats``: its ``_stats`` if known);
        returns the site arrays."""
        acts = site_arrays(cache, self.P)
        self.measure_epochs.append(epoch)
        self.last = (epoch, *(self._stats(cache) if stats is None else stats))
        for site, H in acts.items():
            out = mm.site_measurements(H, self.labels, self.train_mask, self.test_mask, pairs=self.pairs,
                                       n_samples=self.n_samples, seed=self.seed, samples=self.samples)
            for k in SCALAR_KEYS:
                self.scalars[site][k].append(out[k])
            for g, d in out["pair_distances"].items():
                self.pair_distances[site][g].append(d.astype(np.float32))
        for site in self.theory_sites:
            q = pair_theory.measure_pairs(model, cache, self.theory_pairs, self.labels, site)
            for k in THEORY_KEYS:
                self.theory[site][k].append(getattr(q, k))
        return acts

    def record_states(self, epoch: int, acts: Mapping[str, np.ndarray]) -> None:
        self.states["epoch"].append(epoch)
        for site, H in acts.items():
            sc = mm.state_count(H, self.labels, mm.KAPPAS)
            self.states[site]["n_states"].append(sc.n_states)
            self.states[site]["purity"].append(sc.purity)

    def state(self) -> dict[str, Any]:
        """The measurement history so far (plain lists and arrays), for a resume checkpoint."""
        return {"epochs": list(self.epochs), "measure_epochs": list(self.measure_epochs),
                "last": None if self.last is None else list(self.last), "scalars": self.scalars,
                "pair_distances": self.pair_distances, "theory": self.theory, "progress": self.progress,
                "states": self.states}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Continue from ``state()`` of an interrupted run of the same configuration.

        The state is checked whole before anything is replaced: a ``ValueError`` says what
        is missing or inconsistent, and the recorder is then left as it was.
        """
        try:
            epochs, measured = [int(e) for e in state["epochs"]], [int(e) for e in state["measure_epochs"]]
            last = None if state["last"] is None else (int(state["last"][0]), *map(float, state["last"][1:]))
            scalars = {s: {k: list(state["scalars"][s][k]) for k in SCALAR_KEYS} for s in SITES}
            distances = {s: {g: list(state["pair_distances"][s][g]) for g in self.pairs} for s in SITES}
            theory = {s: {k: list(state["theory"][s][k]) for k in THEORY_KEYS} for s in self.theory_sites}
            progress = {k: list(state["progress"][k]) for k in PROGRESS_KEYS}
            states = {"epoch": list(state["states"]["epoch"]),
                      **{s: {k: list(state["states"][s][k]) for k in ("n_states", "purity")} for s in SITES}}
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"measurement history incomplete ({exc.__class__.__name__}: {exc})") from None
        lengths = {len(epochs), *(len(v) for v in progress.values())}
        measured_lengths = {len(measured), *(len(v) for d in scalars.values() for v in d.values()),
                            *(len(v) for d in distances.values() for v in d.values()),
                            *(len(v) for d in theory.values() for v in d.values())}
        if len(lengths) != 1 or len(measured_lengths) != 1 or not set(measured) <= set(epochs):
            raise ValueError("measurement history inconsistent (lists of different lengths)")
        self.epochs, self.measure_epochs, self.last = epochs, measured, last
        self.scalars, self.pair_distances, self.theory = scalars, distances, theory
        self.progress, self.states = progress, states

    def arrays(self) -> dict[str, np.ndarray]:
        """The history as named arrays: ``measure_epochs``, ``SITE/KEY``, ``SITE/pair_distances_GROUP``,
        ``SITE/n_states``, … and, per theory site, ``SITE/theory_H`` (and ``_Y``, ``_W``, ``_taylor_ratio``)
        ``(measured checkpoints, K)``."""
        out = {k: np.asarray(v) for k, v in self.progress.items()}
        out["measure_epochs"] = np.asarray(self.measure_epochs, dtype=np.int64)
        out["state_epochs"] = np.asarray(self.states["epoch"])
        for s in SITES:
            for k in SCALAR_KEYS:
                out[f"{s}/{k}"] = np.asarray(self.scalars[s][k])
            for g in self.pairs:
                out[f"{s}/pair_distances_{g}"] = np.stack(self.pair_distances[s][g])
            out[f"{s}/n_states"] = np.stack(self.states[s]["n_states"])
            out[f"{s}/purity"] = np.stack(self.states[s]["purity"])
        for s in self.theory_sites:
            for k in THEORY_KEYS:
                out[f"{s}/theory_{k}"] = np.stack(self.theory[s][k])
        return out


def key_frequencies(acts: Mapping[str, np.ndarray], weights: Mapping[str, np.ndarray], P: int) -> dict[str, Any]:
    """The key frequencies under all three rules, the ones used (default rule, else the fallback) and why."""
    W_L = pm.neuron_logit_map(weights["W_out"], weights["W_U"], P)
    rules = {"neurons": pm.key_frequencies_neurons(acts["mlp_post"]),
             "neuron_logit": pm.key_frequencies_neuron_logit(W_L),
             "embedding": pm.key_frequencies_embedding(weights["W_E"], P)}
    used, fallback = rules[pm.DEFAULT_KEY_FREQUENCY_RULE], None
    if used.size == 0:  # no neuron is single-frequency (e.g. a run that has not grokked): fall back, say so
        fallback = "neuron_logit"
        used = rules[fallback]
    return {"default_rule": pm.DEFAULT_KEY_FREQUENCY_RULE, "used": used, "fallback_rule": fallback, **rules}


def progress_curves(snapshots: Sequence[Mapping[str, np.ndarray]], data: ModularAdditionData, freqs: np.ndarray,
                    progress: bool = False) -> dict[str, np.ndarray]:
    """Restricted loss (all inputs and test split) and excluded loss (train) at every weight snapshot."""
    tokens = torch.as_tensor(data.tokens)
    curves = {k: [] for k in ("restricted_loss", "restricted_loss_test", "excluded_loss")}
    for weights in tqdm(snapshots, desc="progress measures", leave=False, disable=not progress):
        with torch.no_grad():
            logits = model_from_weights(weights)(tokens)[:, :data.P].double().numpy()
        res = pm.restricted_logits(logits, freqs)
        curves["restricted_loss"].append(pm.cross_entropy(res, data.labels))
        curves["restricted_loss_test"].append(pm.cross_entropy(res, data.labels, data.test_mask))
        curves["excluded_loss"].append(pm.excluded_loss(logits, data.labels, freqs, data.train_mask))
    return {k: np.asarray(v) for k, v in curves.items()}


def merger_summary(pair_distances: Mapping[str, Mapping[str, np.ndarray]], pairs: Mapping[str, np.ndarray],
                   labels: np.ndarray, kappa: float = KAPPA) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Merged fractions over time (``SITE/merged_fraction_GROUP`` arrays) and the theory block of the summary.

    ``pair_distances[site][group]`` is ``(n_checkpoints, n_pairs)``. The theory (P25 eq. 7 at
    the most favourable ``A_high = 0``, docs/theory.md §2.6) is evaluated per pair from the labels.
    """
    arrays, final = {}, {}
    for s, groups in pair_distances.items():
        final[s] = {}
        for g, d in groups.items():
            arrays[f"{s}/merged_fraction_{g}"] = mm.merged_fraction(np.asarray(d), kappa)
            final[s][g] = arrays[f"{s}/merged_fraction_{g}"][-1]
    permits = {g: bool(np.all(mm.theory_permits_merger(labels[p[0]], labels[p[1]]))) for g, p in pairs.items()}
    theory = {"rule": "P25 eq. 7: merger iff A_low = 0 and A_high <= 0; A_low = sqrt(r S), "
                      "S = 2 [c_i != c_j] for one-hot targets",
              "permits_merger": permits, f"final_merged_fraction_kappa_{kappa}": final}
    return arrays, theory


def final_analysis(*, data: ModularAdditionData, epochs: np.ndarray, test_loss: np.ndarray,
                   snapshots: Sequence[Mapping[str, np.ndarray]], acts: Mapping[str, np.ndarray],
                   recorder: MergerRecorder, distance_samples: int, seed: int,
                   progress: bool = False) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Everything computed after training: ``(arrays, summary)`` (see the module docstring)."""
    P = data.P
    weights = {k: np.asarray(v, dtype=np.float64) for k, v in snapshots[-1].items()}
    keys = key_frequencies(acts, weights, P)
    freqs = keys["used"]
    curves = progress_curves(snapshots, data, freqs, progress=progress)
    finite = np.isfinite(test_loss)  # a diverged run is read up to its last finite checkpoint
    phases = pm.phase_boundaries(epochs[finite], test_loss[finite])
    mech = pm.mechanistic_checks(resid_mid=acts["resid_mid"], mlp_post=acts["mlp_post"], weights=weights,
                                 labels=data.labels, train_mask=data.train_mask, test_mask=data.test_mask,
                                 freqs=freqs)
    exact = P <= 59
    final_sites = {s: mm.site_measurements(H, data.labels, data.train_mask, data.test_mask,
                                           n_samples=None if exact else distance_samples, seed=seed)
                   for s, H in acts.items()}
    merged, theory = merger_summary(recorder.pair_distances, recorder.pairs, data.labels)
    summary = {
        "key_frequencies": keys,
        "phase_boundaries": dataclasses.asdict(phases),
        "mechanistic_checks": mech,
        "final_site_measurements": {"distance_ratios_exact": exact, **final_sites},
        "final_state_counts": {s: {"kappas": mm.KAPPAS, "n_states": recorder.states[s]["n_states"][-1],
                                   "purity": recorder.states[s]["purity"][-1]} for s in SITES},
        "theory": theory,
    }
    return {**curves, **merged}, summary
