"""Measurements of a modular-addition run, arrays in, summary out.

* ``MergerRecorder`` — the per-checkpoint measurements (docs/experiments.md §5.2): merger
  scalars per site, pair distances, complete-linkage state counts on a sparser schedule,
  Gini and weight norm; its history is plain lists (``state`` / ``load_state`` for resume).
* ``final_analysis`` — after training, from the final activations and weights: the key
  frequencies under all three rules, restricted/excluded loss at every snapshot, the phase
  boundaries, the mechanistic checks, the final site measurements and the merger summary
  with the interaction theory's prediction per pair group (docs/theory.md §2.6).

A new per-checkpoint metric is one more key in ``SCALAR_KEYS`` (computed by
``rnn.modular.mergers.site_measurements``) or one more entry in ``MergerRecorder.progress``;
a new final quantity is one more entry of ``final_analysis``'s summary.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from rnn.modular import mergers as mm
from rnn.modular import progress as pm
from rnn.modular.data import ModularAdditionData
from rnn.modular.transformer import SITES, model_from_weights

KAPPA = 0.1  # merged-pair threshold reported in results.json (docs/experiments.md §5.2 uses 0.05, 0.1, 0.3)
SCALAR_KEYS = ("r", "M_train", "M_test", "M_all", "R_train", "R_test", "R_all", "rho_train", "rho_test",
               "rho_all", "rho_test_train", "assignment_accuracy")
PROGRESS_KEYS = ("weight_norm_sq", "gini_embedding", "gini_neuron_logit")


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


class MergerRecorder:
    """``on_checkpoint`` callback of ``rnn.modular.train``: merger measurements, Gini and weight norm."""

    def __init__(self, P: int, labels: np.ndarray, train_mask: np.ndarray, test_mask: np.ndarray, *,
                 pairs: dict[str, np.ndarray], n_samples: int, linkage_epochs: set[int], seed: int):
        self.P, self.labels, self.train_mask, self.test_mask = P, labels, train_mask, test_mask
        self.pairs, self.n_samples, self.linkage_epochs, self.seed = pairs, n_samples, linkage_epochs, seed
        self.epochs: list[int] = []
        self.scalars = {s: {k: [] for k in SCALAR_KEYS} for s in SITES}
        self.pair_distances = {s: {g: [] for g in pairs} for s in SITES}
        self.progress = {k: [] for k in PROGRESS_KEYS}
        self.states: dict[str, Any] = {"epoch": [], **{s: {"n_states": [], "purity": []} for s in SITES}}

    def __call__(self, epoch: int, model, cache: Mapping[str, torch.Tensor]) -> None:
        P = self.P
        weights = {k: v.cpu().double().numpy() for k, v in model.weight_dict().items()}
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

    def record_states(self, epoch: int, acts: Mapping[str, np.ndarray]) -> None:
        self.states["epoch"].append(epoch)
        for site, H in acts.items():
            sc = mm.state_count(H, self.labels, mm.KAPPAS)
            self.states[site]["n_states"].append(sc.n_states)
            self.states[site]["purity"].append(sc.purity)

    def state(self) -> dict[str, Any]:
        """The measurement history so far (plain lists and arrays), for a resume checkpoint."""
        return {"epochs": list(self.epochs), "scalars": self.scalars, "pair_distances": self.pair_distances,
                "progress": self.progress, "states": self.states}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Continue from ``state()`` of an interrupted run."""
        self.epochs = list(state["epochs"])
        self.scalars = {s: {k: list(v) for k, v in d.items()} for s, d in state["scalars"].items()}
        self.pair_distances = {s: {g: list(v) for g, v in d.items()} for s, d in state["pair_distances"].items()}
        self.progress = {k: list(v) for k, v in state["progress"].items()}
        self.states = {"epoch": list(state["states"]["epoch"]),
                       **{s: {k: list(v) for k, v in state["states"][s].items()} for s in SITES}}

    def arrays(self) -> dict[str, np.ndarray]:
        """The history as named arrays (``SITE/KEY``, ``SITE/pair_distances_GROUP``, ``SITE/n_states``, …)."""
        out = {k: np.asarray(v) for k, v in self.progress.items()}
        out["state_epochs"] = np.asarray(self.states["epoch"])
        for s in SITES:
            for k in SCALAR_KEYS:
                out[f"{s}/{k}"] = np.asarray(self.scalars[s][k])
            for g in self.pairs:
                out[f"{s}/pair_distances_{g}"] = np.stack(self.pair_distances[s][g])
            out[f"{s}/n_states"] = np.stack(self.states[s]["n_states"])
            out[f"{s}/purity"] = np.stack(self.states[s]["purity"])
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
