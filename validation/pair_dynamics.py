"""The interaction theory's trajectories against measured representation pairs of a parity RNN.

    python -m validation.pair_dynamics                      # default run, a few minutes on 2 cores
    python -m validation.pair_dynamics --epochs 1000 --snapshot-every 5 --pairs-per-cell 6

What it does (spec §1–2, §2.8, §2.10, §4.1, P25 §4–5 and App. D):

1. **A training run.** One Elman RNN (``rnn/parity/elman.py``; paper settings by default: ReLU,
   ``P = 100``, Xavier gain 0.1, ``h_0`` = ones, MSE on one-hot targets, SGD lr 0.02,
   batch 128, the per-length minibatch protocol of P25 §C.1, all sequences of length
   1..10) trained by ``rnn.parity.snapshots.train_with_snapshots`` (member-for-member
   ``rnn.parity.ensemble.train_ensemble``), keeping the parameters every ``--snapshot-every``
   epochs. Gain, task (parity or a seeded random regular task, P25 §D.5), data
   fraction, loss and the full-batch protocol (gradient descent, closest to the
   theory's gradient flow) are selectable.
2. **Pairs.** Prefix pairs are drawn per ``(m1, m2)`` length cell (``m1 <= m2``):
   ``--pairs-per-cell`` *agreeing* pairs (the same target on every shared continuation,
   ``S = 0``) and as many *disagreeing* pairs. Along training their ``H = ‖dh‖²``,
   ``Y``, ``W``, ``S``, ``N`` and the App. D.2 Taylor ratio are measured by
   ``rnn.measure.pairs`` (Jacobian–vector products through every shared continuation).
3. **Rates.** The effective rates ``τ_h, τ_y`` of P25 eq. 20 are fitted by least squares
   (``interaction.fit.fit_rates``) to the measured ``(H, Y, W)`` trajectories: pooled over a
   random *calibration* half of the pairs, and pair by pair for ``--fit-pairs`` pairs.
   **Time mapping:** ODE time ``t`` = epoch index, so the fitted τ are in epochs. Any
   linear map ``t = c·epoch`` (e.g. the SGD gradient-flow time ``c = lr × steps per
   epoch``, also reported) rescales ``τ_h`` and ``τ_y`` by the same ``c`` and leaves
   ``r = Nτ_y/τ_h``, ``A_high``, ``A_low`` and every merger prediction unchanged.
   Measured and theoretical ``H(t)``, ``W(t)`` are overlaid for representative pairs
   (P25 Fig. 10 right).
4. **Mergers, predicted vs observed, for every pair.** Prediction: ``will_merge(A_high,
   A_low)`` (eq. 7) with ``A_high = H − rY/H`` (eq. 6) and ``A_low = sqrt(rS)`` (eq. 25)
   measured at epoch 0 and, separately, at ``--late-epoch``, with ``r = N τ_y/τ_h`` from
   the pooled fit. Observation: the final distance ``‖dh‖ < ε`` with ``ε = --eps-factor ·
   ‖std‖``, ``‖std‖`` pooled over all snapshots and all training sequences plus ``h_0``
   (the automaton-extraction threshold of the P25 main run, ``rnn.automata.extraction.std_norm``).
   The confusion matrix is reported on the pairs held out from the pooled fit (and on all
   pairs), broken down by ``min(m1, m2)`` (the Fig. 7 regime), together with a rate-free
   check (how well ``H0²/(N Y0)`` — the quantity the sign of ``A_high`` thresholds —
   ranks merging above non-merging agreeing pairs, as a ROC AUC) and the measured drift of
   the "conserved" ``A_high(t)`` along real training.
5. **App. D checks.** The Taylor ratio (second- over first-order term, P25 Fig. 13) along
   training for merging and non-merging pairs, and the mean pairwise distance over random
   pairs of all training sequences (P25 Fig. 12; the paper reports it never decreases).
6. **The nine-variable fixed-expansion-point model** (``interaction.fixed_expansion``,
   eq. 42) for an agreeing pair with hidden rates ``lr·m`` for prefix lengths ``m = 1, 10``
   (``1/τ_h ∝`` prefix length, §D.3), ``1/τ_y = lr``, ``1/τ_b = lr/4``, initial scale ``g``
   estimated from the epoch-0 hidden states (std over units of the per-unit std), over
   ``--fe-seeds`` random initial states: P25 Fig. 10 left (divergence, then merger).

Where theory and measurement disagree the results say so (``results.json`` →
``disagreements``): the closed form rests on the collinearity Ansatz and is only
approximate in many hidden dimensions (spec §2.8), the rates are assumed constant in
time and equal for every pair, and the real network shares parameters between pairs.

Outputs in ``--out`` (default ``runs/pair_dynamics``): ``results.npz`` (per-pair
trajectories ``H, Y, W, A_high, taylor`` indexed ``[snapshot, pair]`` and per-pair
scalars), ``results.json`` (configuration, provenance, fits, confusion matrices, every
pair's measured and predicted quantities, disagreements) and the figures
``fig10_right_trajectories``, ``merger_prediction``, ``a_high_drift``,
``taylor_ratio``, ``mean_distance``, ``fig10_left_fixed_expansion`` (PNG and PDF), and
``stage.npz``: the measured snapshots' parameters and pair measurements, reused by a rerun
into the same ``--out`` whose training and pair options are unchanged (only the analysis
— fits, thresholds, nine-variable model — is then recomputed).

Measurement grid: the parameters of every epoch are kept in memory; the pairs are measured
every ``--snapshot-every`` epochs plus at the ``--dense-snapshots`` epochs where the training
loss changes fastest, which resolves the sudden loss drop during which pairs merge.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from interaction.artifacts import atomic_savez, atomic_write_json, provenance, save_figure
from interaction.checks import check_choice, check_int, check_interval, check_positive
from interaction.cliutil import ArgumentParser, run_cli
from interaction.closed_form import a_low, will_merge
from interaction.fit import RateFit, fit_rates
from interaction.fixed_expansion import (FixedExpansionSystem, integrate_fixed_expansion,
                                         random_initial_state)
from interaction.three_scalar import integrate_three_scalar

TASKS = ("parity", "random-dfa")
PROG = "python -m validation.pair_dynamics"


# ----------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class PairDynamicsConfig:
    """Every option of the experiment (CLI flags of the same names)."""

    task: str = "parity"
    L: int = 10
    fraction: float = 1.0
    hidden: int = 100
    nonlinearity: str = "relu"
    loss: str = "mse"
    gain: float = 0.1
    lr: float = 0.02
    batch_size: int = 128
    protocol: str = "paper"
    epochs: int = 1000
    snapshot_every: int = 10
    dense_snapshots: int = 60
    dtype: str = "float32"
    pairs_per_cell: int = 3
    min_length: int = 1
    fit_pairs: int = 12
    pooled_pairs: int = 24
    late_epoch: int = 100
    eps_factor: float = 0.01
    distance_pairs: int = 20000
    fe_seeds: int = 20
    fe_lengths: tuple[int, int] = (1, 10)
    fe_t_max: float = 1000.0
    fe_gain: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("task", self.task, TASKS)
        check_int("L", self.L, minimum=2, maximum=16)
        check_interval("fraction", self.fraction, 0.0, 1.0, lo_closed=False)
        check_int("hidden", self.hidden, minimum=1)
        check_choice("nonlinearity", self.nonlinearity, ("relu", "tanh"))
        check_choice("loss", self.loss, ("mse", "ce"))
        check_positive("gain", self.gain)
        check_positive("lr", self.lr)
        check_int("batch_size", self.batch_size, minimum=1)
        check_choice("protocol", self.protocol, ("paper", "full_batch"))
        check_int("epochs", self.epochs, minimum=2)
        check_int("snapshot_every", self.snapshot_every, minimum=1, maximum=self.epochs // 2)
        check_int("dense_snapshots", self.dense_snapshots, minimum=0)
        check_choice("dtype", self.dtype, ("float32", "float64"))
        check_int("pairs_per_cell", self.pairs_per_cell, minimum=1)
        check_int("min_length", self.min_length, minimum=1, maximum=self.L)
        check_int("fit_pairs", self.fit_pairs, minimum=0)
        check_int("pooled_pairs", self.pooled_pairs, minimum=1)
        check_int("late_epoch", self.late_epoch, minimum=1, maximum=self.epochs - 1)
        check_positive("eps_factor", self.eps_factor)
        check_int("distance_pairs", self.distance_pairs, minimum=10)
        check_int("fe_seeds", self.fe_seeds, minimum=1)
        if len(self.fe_lengths) != 2:
            raise ValueError(f"fe_lengths must be two prefix lengths (got {self.fe_lengths!r})")
        for m in self.fe_lengths:
            check_int("fe_lengths", m, minimum=1)
        check_positive("fe_t_max", self.fe_t_max)
        if self.fe_gain is not None:
            check_positive("fe_gain", self.fe_gain)
        check_int("seed", self.seed, minimum=0)

    def snapshot_epochs(self, train_loss: np.ndarray) -> np.ndarray:
        """Epochs at which pairs are measured: a uniform grid plus the fastest-changing epochs of the loss.

        Every ``snapshot_every`` epochs, plus 0, ``late_epoch`` and the last epoch, plus the
        ``dense_snapshots`` epochs ``k`` with the largest ``|log10 L(k) − log10 L(k−1)|``: the
        mergers happen during the sudden drop of the loss (P25 Fig. 4), which a uniform grid
        would resolve with a few points only. ``train_loss[k]`` is the loss after ``k`` epochs.
        """
        last = train_loss.size - 1
        grid = np.arange(0, last + 1, self.snapshot_every)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.abs(np.diff(np.log10(np.maximum(train_loss, 1e-300))))
        fastest = 1 + np.argsort(-np.nan_to_num(rate))[: self.dense_snapshots]
        return np.unique(np.concatenate([grid, fastest, [0, min(self.late_epoch, last), last]])).astype(np.int64)


# ----------------------------------------------------------------------------- array helpers

def gain_from_hidden(hidden: np.ndarray) -> float:
    """Initial scale ``g`` of the nine-variable model: std over units of the per-unit std over rows.

    (The estimate of the authors' ``der`` cell; ``hidden`` is ``(n_rows, P)``.)
    """
    h = np.asarray(hidden, dtype=float)
    if h.ndim != 2 or h.shape[0] < 2:
        raise ValueError(f"hidden must be (n_rows >= 2, P) (got {h.shape})")
    return float(np.std(np.std(h, axis=0, ddof=1), ddof=1))


def candidate_pairs(lengths: np.ndarray, rng: np.random.Generator, *, per_cell: int,
                    min_length: int = 1) -> np.ndarray:
    """Random distinct sequence pairs ``(i, j)`` per length cell ``m_i <= m_j``: ``(n, 2)`` int array.

    Up to ``per_cell`` pairs per cell (fewer when the cell has fewer distinct pairs).
    """
    lengths = np.asarray(lengths)
    per_cell = check_int("per_cell", per_cell, minimum=1)
    out = []
    levels = [m for m in np.unique(lengths) if m >= min_length]
    for a, m1 in enumerate(levels):
        rows1 = np.flatnonzero(lengths == m1)
        for m2 in levels[a:]:
            rows2 = np.flatnonzero(lengths == m2)
            n_distinct = rows1.size * rows2.size - (rows1.size if m1 == m2 else 0)
            if m1 == m2:
                n_distinct //= 2
            k = min(per_cell, n_distinct)
            seen: set[tuple[int, int]] = set()
            while len(seen) < k:
                i, j = int(rng.choice(rows1)), int(rng.choice(rows2))
                if i == j:
                    continue
                seen.add((min(i, j), max(i, j)) if m1 == m2 else (i, j))
            out.extend(sorted(seen))
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


def pair_taylor_ratio(taylor_ratio: np.ndarray, dy: np.ndarray, pair: np.ndarray,
                      n_pairs: int) -> np.ndarray:
    """Per pair and snapshot: ``sqrt(Σ_i ‖second_i‖²) / sqrt(Σ_i ‖first_i‖²)`` (P25 App. D.2).

    ``first_i = ½ J_i dh`` and ``second_i = taylor_ratio_i · ‖first_i‖`` per continuation
    (``rnn.measure.pairs``); continuations with a vanishing first-order term are left out.
    ``taylor_ratio`` ``(S, K)``, ``dy`` ``(S, K, O)``, ``pair`` ``(K,)`` → ``(S, n_pairs)``.
    """
    first = 0.5 * np.linalg.norm(dy, axis=-1)
    ok = np.isfinite(taylor_ratio) & (first > 0)
    second = np.where(ok, taylor_ratio * first, 0.0)
    first = np.where(ok, first, 0.0)
    out = np.empty((taylor_ratio.shape[0], n_pairs))
    for s in range(taylor_ratio.shape[0]):
        num = np.bincount(pair, weights=second[s] ** 2, minlength=n_pairs)
        den = np.bincount(pair, weights=first[s] ** 2, minlength=n_pairs)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[s] = np.where(den > 0, np.sqrt(num / den), np.nan)
    return out


def confusion(predicted: np.ndarray, observed: np.ndarray) -> dict[str, int]:
    """Counts of true/false positives/negatives ("positive" = merger)."""
    p, o = np.asarray(predicted, bool), np.asarray(observed, bool)
    return {"tp": int(np.sum(p & o)), "fp": int(np.sum(p & ~o)), "fn": int(np.sum(~p & o)),
            "tn": int(np.sum(~p & ~o))}


def roc_auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count ½); nan if a class is empty."""
    score, positive = np.asarray(score, float), np.asarray(positive, bool)
    pos, neg = score[positive], score[~positive]
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (pos.size * neg.size))


def mean_pairwise_distance(hidden: np.ndarray, rng: np.random.Generator, n_pairs: int) -> np.ndarray:
    """Mean ``‖h_a − h_b‖`` over the same ``n_pairs`` random distinct row pairs at every snapshot.

    ``hidden`` ``(S, n_rows, P)`` → ``(S,)`` (P25 Fig. 12 uses 1000 random pairs).
    """
    n = hidden.shape[1]
    a = rng.integers(0, n, size=n_pairs)
    b = (a + rng.integers(1, n, size=n_pairs)) % n
    return np.array([np.mean(np.linalg.norm(h[a] - h[b], axis=-1)) for h in hidden])


def best_threshold(z: np.ndarray, positive: np.ndarray) -> float:
    """The ``κ`` maximising the accuracy of the rule "positive iff ``z < κ``" (geometric midpoints; ties: the middle one).

    ``z > 0`` (``inf`` allowed). Used to calibrate the merger rule ``H0²/(N Y0) < κ`` on
    calibration pairs, as a bound on what any single rate ratio could achieve.
    """
    z, positive = np.asarray(z, float), np.asarray(positive, bool)
    finite = np.unique(z[np.isfinite(z) & (z > 0)])
    if finite.size == 0:
        return float("nan")
    cands = np.concatenate([[finite[0] / 2], np.sqrt(finite[1:] * finite[:-1]), [finite[-1] * 2]])
    acc = np.array([np.mean((z < c) == positive) for c in cands])
    best = np.flatnonzero(acc == acc.max())
    return float(cands[best[best.size // 2]])


def a_high_trajectory(H: np.ndarray, Y: np.ndarray, N: np.ndarray, kappa: float) -> np.ndarray:
    """``A_high(t) = H − r Y/H`` with ``r = N κ``, ``κ = τ_y/τ_h`` (eq. 6 at every snapshot); nan where ``H = 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(H > 0, H - N * kappa * Y / np.where(H > 0, H, 1.0), np.nan)


def fit_pair_rates(t: np.ndarray, H: np.ndarray, Y: np.ndarray, W: np.ndarray, S: np.ndarray,
                   N: np.ndarray, *, fit_initial: bool) -> RateFit | None:
    """``fit_rates`` jointly on the trajectories in the columns of ``H, Y, W`` ``(T, n)``; None if some ``H <= 0``.

    ``S``, ``N``: ``(n,)``. A measured ``H = 0`` (two bit-identical states) lies outside
    eq. 20's domain ``H > 0`` and cannot be fitted. Tiny negative ``Y`` cannot occur
    (``Y`` is a mean of squares).
    """
    H, Y, W = (np.asarray(x, dtype=float) for x in (H, Y, W))
    if H.ndim != 2 or not (H.shape == Y.shape == W.shape):
        raise ValueError(f"H, Y, W must be (T, n) arrays of one shape (got {H.shape}, {Y.shape}, {W.shape})")
    if np.any(~(H > 0)):
        return None
    cols = range(H.shape[1])
    if H.shape[1] == 1:
        return fit_rates(t, H[:, 0], Y[:, 0], W[:, 0], S=float(S[0]), N=float(N[0]), fit_initial=fit_initial)
    return fit_rates([t] * H.shape[1], [H[:, k] for k in cols], [Y[:, k] for k in cols],
                     [W[:, k] for k in cols], S=[float(S[k]) for k in cols], N=[float(N[k]) for k in cols],
                     fit_initial=fit_initial)


# ----------------------------------------------------------------------------- pipeline

def _task_data(config: PairDynamicsConfig, rng: np.random.Generator):
    """Training sequences and targets of the task (all sequences, or a per-length Binomial draw)."""
    from rnn.parity.data import all_sequences, parity, sample_sequences
    data = all_sequences(config.L) if config.fraction == 1.0 else sample_sequences(config.L, config.fraction, rng)
    if config.task == "parity":
        return data, parity(data.tokens), "parity"
    from rnn.automata.random_dfa import dfa_targets, random_dfa
    dfa = random_dfa(seed=config.seed)
    return data, dfa_targets(dfa, data), f"random DFA (seed {config.seed}, {dfa.n_states} states)"


def _select_pairs(data, targets, rng: np.random.Generator, config: PairDynamicsConfig):
    """Per length cell, up to ``pairs_per_cell`` agreeing (``S = 0``) and as many disagreeing pairs with ``N >= 1``."""
    from rnn.measure.pairs import plan_pairs
    cand = candidate_pairs(data.lengths, rng, per_cell=8 * config.pairs_per_cell, min_length=config.min_length)
    plan = plan_pairs(data, targets, [(data.sequence(i), data.sequence(j)) for i, j in cand],
                      n_out=int(max(2, targets.max() + 1)))
    S = np.bincount(plan.pair, weights=np.sum(plan.y_tilde ** 2, axis=1), minlength=plan.n_pairs)
    agree = (S == 0) & (plan.N > 0)
    disagree = (S > 0) & (plan.N > 0)
    m1, m2 = data.lengths[cand[:, 0]], data.lengths[cand[:, 1]]
    keep = []
    for cell in np.unique(np.stack([m1, m2], 1), axis=0):
        in_cell = (m1 == cell[0]) & (m2 == cell[1])
        for kind in (agree, disagree):
            keep.extend(np.flatnonzero(in_cell & kind)[: config.pairs_per_cell])
    return cand[np.sort(np.asarray(keep, dtype=np.int64))]


def _theory_curve(H0: float, Y0: float, W0: float, *, S: float, N: float, fit: RateFit | None,
                  t: np.ndarray):
    """``(H, W)`` of eq. 20 on ``t`` from the measured initial point with the fitted rates; None if unavailable."""
    if fit is None or not np.isfinite(fit.tau_h) or H0 <= 0:
        return None
    res = integrate_three_scalar(H0, max(Y0, 0.0), W0, S=S, N=N, tau_h=fit.tau_h, tau_y=fit.tau_y,
                                 t_max=float(t[-1]), t_eval=t)
    if res.t.size == 0:
        return None
    return res.t, res.H, res.W, res.status


@dataclass(frozen=True)
class _Measured:
    """The per-pair measurements the analysis needs (``rnn.measure.pairs.PairMeasurements`` subset)."""

    H: np.ndarray
    Y: np.ndarray
    W: np.ndarray
    S: np.ndarray
    N: np.ndarray
    m1: np.ndarray
    m2: np.ndarray
    n_min: np.ndarray


@dataclass(frozen=True)
class _Stage:
    run: Any
    meas: _Measured
    taylor: np.ndarray
    labels1: list[str]
    labels2: list[str]
    seconds: dict[str, float]


_STAGE_FIELDS = ("task", "L", "fraction", "hidden", "nonlinearity", "loss", "gain", "lr", "batch_size", "protocol",
                 "epochs", "snapshot_every", "dense_snapshots", "dtype", "pairs_per_cell", "min_length", "late_epoch", "seed")


def _train_and_measure(config: PairDynamicsConfig, data, targets, out: Path, progress: bool) -> _Stage:
    """Train with snapshots, sample pairs and measure them; reuse ``out/stage.npz`` when made with the same options.

    The cache holds the snapshot parameters and the pair measurements, so a rerun that only
    changes the analysis options (fits, thresholds, nine-variable model) skips the expensive part.
    """
    import json

    import torch

    from rnn.parity.ensemble import TrainConfig
    from rnn.measure.pairs import measure_pairs_over_training, plan_pairs
    from rnn.parity.snapshots import SnapshotRun, train_with_snapshots

    key = json.dumps({f: getattr(config, f) for f in _STAGE_FIELDS}, sort_keys=True)
    train_config = TrainConfig(hidden=config.hidden, nonlinearity=config.nonlinearity, loss=config.loss,
                               lr=config.lr, batch_size=config.batch_size, protocol=config.protocol,
                               max_epochs=config.epochs, dtype=config.dtype, shuffle_seed=config.seed,
                               n_out=int(max(2, targets.max() + 1)))
    cache = out / "stage.npz"
    if cache.exists():
        with np.load(cache) as z:
            if str(z["key"]) == key:
                names = [str(n) for n in z["param_names"]]
                snaps = tuple({n: torch.from_numpy(z[f"param_{n}"][j]) for n in names}
                              for j in range(z["snapshot_epochs"].size))
                run_ = SnapshotRun(config=train_config, seed=config.seed, gain=config.gain,
                                   snapshot_epochs=z["snapshot_epochs"], snapshots=snaps, train_loss=z["train_loss"],
                                   status=str(z["status"]), epochs=int(z["epochs"]))
                meas = _Measured(**{f: z[f"meas_{f}"] for f in _Measured.__dataclass_fields__})
                return _Stage(run_, meas, z["taylor"], [str(x) for x in z["labels1"]],
                              [str(x) for x in z["labels2"]], {"training": 0.0, "measurements": 0.0,
                                                               "reused_cache": True})
    t0 = time.perf_counter()
    # keep every epoch's parameters (cheap), then measure on a grid that resolves the loss drop
    every = train_with_snapshots(data, targets, config=train_config, seed=config.seed, gain=config.gain,
                                 snapshot_epochs=range(config.epochs + 1), progress=progress)
    chosen = config.snapshot_epochs(every.train_loss)
    run_ = replace(every, snapshot_epochs=chosen, snapshots=tuple(every.snapshots[k] for k in chosen))
    del every
    seconds = {"training": time.perf_counter() - t0}
    t0 = time.perf_counter()
    pairs = _select_pairs(data, targets, np.random.default_rng([config.seed, 2]), config)
    plan = plan_pairs(data, targets, [(data.sequence(i), data.sequence(j)) for i, j in pairs],
                      n_out=train_config.n_out)
    full = measure_pairs_over_training(run_.snapshots, plan, nonlinearity=config.nonlinearity, progress=progress)
    meas = _Measured(**{f: getattr(full, f) for f in _Measured.__dataclass_fields__})
    taylor = pair_taylor_ratio(full.taylor_ratio, full.dy, full.pair, plan.n_pairs)
    seconds["measurements"] = time.perf_counter() - t0
    labels1 = ["".join(map(str, p)) for p in plan.prefix1]
    labels2 = ["".join(map(str, p)) for p in plan.prefix2]
    out.mkdir(parents=True, exist_ok=True)
    names = list(run_.snapshots[0]) if run_.snapshots else []
    atomic_savez(cache, key=key, snapshot_epochs=run_.snapshot_epochs, train_loss=run_.train_loss,
                 status=run_.status, epochs=run_.epochs, param_names=np.array(names), taylor=taylor,
                 labels1=np.array(labels1), labels2=np.array(labels2),
                 **{f"param_{n}": np.stack([p[n].numpy() for p in run_.snapshots]) for n in names},
                 **{f"meas_{f}": getattr(meas, f) for f in _Measured.__dataclass_fields__})
    return _Stage(run_, meas, taylor, labels1, labels2, seconds)


def run(config: PairDynamicsConfig, out: Path, *, progress: bool = True) -> dict[str, Any]:
    """Run the whole experiment (module docstring) and write its files into ``out``; return the summary."""
    from rnn.automata import std_norm
    from rnn.measure.contraction import estimate_contraction
    from rnn.parity.ensemble import hidden_states

    started = time.perf_counter()
    data, targets, task_name = _task_data(config, np.random.default_rng([config.seed, 1]))
    stage = _train_and_measure(config, data, targets, out, progress)
    run_ = stage.run
    if run_.status == "diverged":
        raise RuntimeError(f"training diverged at epoch {run_.epochs} (non-finite loss); nothing to measure")
    epochs = run_.snapshot_epochs.astype(float)
    t_seconds = dict(stage.seconds)

    # hidden states of every training sequence (and h0) at every snapshot
    hidden = np.stack([hidden_states(p, data, nonlinearity=config.nonlinearity) for p in run_.snapshots])
    eps = config.eps_factor * std_norm(hidden, "pooled")
    mean_distance = mean_pairwise_distance(hidden[:, 1:], np.random.default_rng([config.seed, 4]),
                                           config.distance_pairs)
    G0 = float(estimate_contraction({k: v.double() for k, v in run_.snapshots[0].items()},
                                    nonlinearity=config.nonlinearity))

    meas = stage.meas
    H, Y, W, S, N = meas.H, meas.Y, meas.W, meas.S, meas.N.astype(float)
    n_pairs = H.shape[1]
    agreeing = S == 0
    taylor = stage.taylor
    final_dist = np.sqrt(H[-1])
    observed = final_dist < eps
    rng = np.random.default_rng([config.seed, 3])
    # the authors' criterion for a "diverging merger": at some epoch farther apart than 10 eps
    diverged_first = np.sqrt(np.max(H, axis=0)) > 10.0 * eps
    rose = np.max(H, axis=0) > 2.0 * H[0]

    # rates: pooled fit on a calibration half, per-pair fits on a subset
    t0 = time.perf_counter()
    calibration = np.zeros(n_pairs, bool)
    for kind in (agreeing, ~agreeing):
        idx = rng.permutation(np.flatnonzero(kind))
        calibration[idx[: idx.size // 2]] = True
    pool = rng.permutation(np.flatnonzero(calibration & np.all(H > 0, axis=0)))[: config.pooled_pairs]
    pooled = fit_pair_rates(epochs, H[:, pool], Y[:, pool], W[:, pool], S[pool], N[pool], fit_initial=False) \
        if pool.size else None
    if pooled is None or not np.isfinite(pooled.tau_h):
        raise RuntimeError("the pooled rate fit could not be computed (no calibration pair with H > 0 throughout)")
    kappa = pooled.tau_y / pooled.tau_h
    fitted = _per_pair_choice(rng, agreeing, observed, diverged_first, H, config.fit_pairs)
    pair_fits: dict[int, RateFit | None] = {}
    post_peak_fits: dict[int, tuple[int, RateFit | None]] = {}
    iterator = fitted
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(fitted, desc="per-pair rate fits", unit="pair")
    for k in iterator:
        pair_fits[int(k)] = fit_pair_rates(epochs, H[:, [k]], Y[:, [k]], W[:, [k]], S[[k]], N[[k]],
                                           fit_initial=True)
        peak = int(np.argmax(H[:, k]))
        if agreeing[k] and peak > 0 and H.shape[0] - peak >= 5:
            # eq. 20 cannot raise H of an agreeing pair (W = Y >= 0); fit the part after its peak
            w = slice(peak, None)
            post_peak_fits[int(k)] = (peak, fit_pair_rates(epochs[w], H[w, [k]], Y[w, [k]], W[w, [k]], S[[k]],
                                                           N[[k]], fit_initial=True))
    t_seconds["fits"] = time.perf_counter() - t0

    # predictions from A_high, A_low at the start and at the late epoch
    A_high_t = a_high_trajectory(H, Y, N, kappa)
    late = int(np.searchsorted(run_.snapshot_epochs, config.late_epoch))
    A_low = a_low(S, N=N, tau_h=pooled.tau_h, tau_y=pooled.tau_y)
    pred_start = np.where(np.isfinite(A_high_t[0]), will_merge(np.nan_to_num(A_high_t[0]), A_low), False)
    pred_late = np.where(np.isfinite(A_high_t[late]), will_merge(np.nan_to_num(A_high_t[late]), A_low), False)
    H_max = np.max(H, axis=0)
    drift = (A_high_t - A_high_t[0]) / np.where(H_max > 0, H_max, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        z0 = np.where(Y[0] > 0, H[0] ** 2 / (N * Y[0]), np.inf)

    m_min = np.minimum(meas.m1, meas.m2)
    test = ~calibration
    # a rate-free bound: the threshold on H0²/(N Y0) that best separates the calibration pairs
    kappa_best = best_threshold(z0[agreeing & calibration], observed[agreeing & calibration])
    pred_best = agreeing & (z0 < kappa_best)
    summary = _summarise(config, run_, eps, G0, mean_distance, pooled, kappa, pair_fits, agreeing, observed,
                         pred_start, pred_late, test, m_min, taylor, A_high_t, drift, z0, diverged_first, meas,
                         late, _steps_per_epoch(config, data.lengths))
    summary["calibrated_threshold"] = {
        "kappa": kappa_best, "kappa_pooled_fit": kappa,
        "confusion_agreeing_heldout": confusion(pred_best[agreeing & test], observed[agreeing & test]),
        "note": "merge iff H0^2/(N Y0) < kappa with kappa chosen to classify the calibration pairs best; "
                "what the closed form could achieve with the best single rate ratio"}
    summary["agreeing_pairs_whose_H_rose_above_2x_H0"] = int(np.sum(agreeing & rose))
    summary["merged_agreeing_pairs_whose_H_rose_above_2x_H0"] = int(np.sum(agreeing & observed & rose))
    fe = _fixed_expansion(config, config.fe_gain if config.fe_gain is not None else gain_from_hidden(hidden[0, 1:]))
    summary["fixed_expansion"] = fe["summary"]
    ok_post = [f for _, f in post_peak_fits.values() if f is not None and f.success]
    summary["per_pair_fits_after_peak"] = {
        "attempted": len(post_peak_fits), "successful": len(ok_post),
        "kappa": [f.tau_y / f.tau_h for f in ok_post], "residuals": [f.residual for f in ok_post]}
    summary["disagreements"] = _disagreements(summary)

    # files
    out.mkdir(parents=True, exist_ok=True)
    labels1, labels2 = stage.labels1, stage.labels2
    fit_tau = np.full((n_pairs, 2), np.nan)
    for k, f in pair_fits.items():
        if f is not None:
            fit_tau[k] = f.tau_h, f.tau_y
    per_pair = [{
        "prefix1": labels1[k], "prefix2": labels2[k], "m1": int(meas.m1[k]), "m2": int(meas.m2[k]),
        "N": int(N[k]), "n_min": int(meas.n_min[k]), "S": float(S[k]), "agreeing": bool(agreeing[k]),
        "calibration": bool(calibration[k]), "H0": float(H[0, k]), "Y0": float(Y[0, k]), "W0": float(W[0, k]),
        "H_final": float(H[-1, k]), "final_distance": float(final_dist[k]), "diverged_first": bool(diverged_first[k]),
        "A_high_start": float(A_high_t[0, k]), "A_high_late": float(A_high_t[late, k]), "A_low": float(A_low[k]),
        "predicted_merge_start": bool(pred_start[k]), "predicted_merge_late": bool(pred_late[k]),
        "observed_merge": bool(observed[k]), "taylor_ratio_max": float(np.nanmax(taylor[:, k]))
        if np.any(np.isfinite(taylor[:, k])) else None,
        "fit": None if k not in pair_fits else _fit_dict(pair_fits[k]),
        "fit_after_peak": None if k not in post_peak_fits else
        {"from_epoch": int(run_.snapshot_epochs[post_peak_fits[k][0]]), **_fit_dict(post_peak_fits[k][1])},
    } for k in range(n_pairs)]
    summary["seconds"] = {**t_seconds, "total": time.perf_counter() - started}
    result = {"config": asdict(config), "provenance": provenance(), "task": task_name, **summary,
              "pairs": per_pair}
    atomic_savez(out / "results.npz", snapshot_epochs=run_.snapshot_epochs, train_loss=run_.train_loss,
                 H=H, Y=Y, W=W, S=S, N=N, m1=meas.m1, m2=meas.m2, n_min=meas.n_min, A_high=A_high_t,
                 A_low=A_low, taylor=taylor, agreeing=agreeing, observed=observed, predicted_start=pred_start,
                 predicted_late=pred_late, calibration=calibration, fit_tau=fit_tau,
                 prefix1=np.array(labels1), prefix2=np.array(labels2), mean_distance=mean_distance, eps=eps,
                 fe_t=fe["t"], fe_distance2=fe["distance2"], fe_loss=fe["loss"], fe_equal_distance2=fe["equal"])
    atomic_write_json(out / "results.json", result)
    _figures(out, config, run_, eps, epochs, H, W, Y, S, N, agreeing, observed, pred_start, pred_late, m_min,
             meas, taylor, drift, mean_distance, pooled, pair_fits, post_peak_fits, labels1, labels2, diverged_first,
             fe, test)
    return result


def _fit_dict(fit: RateFit | None) -> dict[str, Any] | None:
    if fit is None:
        return {"success": False, "message": "not fitted: H reached 0 (outside eq. 20's domain)"}
    return {"tau_h": fit.tau_h, "tau_y": fit.tau_y, "se_tau_h": fit.se_tau_h, "se_tau_y": fit.se_tau_y,
            "eta_h_2024": fit.eta_h, "eta_y_2024": fit.eta_y, "residual": fit.residual, "success": fit.success,
            "message": fit.message}


def _per_pair_choice(rng: np.random.Generator, agreeing: np.ndarray, observed: np.ndarray,
                     diverged_first: np.ndarray, H: np.ndarray, n: int) -> np.ndarray:
    """Pairs to fit one by one: merged agreeing pairs that first diverged, then other agreeing, then disagreeing."""
    valid = np.all(H > 0, axis=0)
    groups = [agreeing & observed & diverged_first, agreeing & observed & ~diverged_first,
              agreeing & ~observed, ~agreeing]
    chosen: list[int] = []
    quota = [max(1, n // 4)] * 3 + [n]
    for group, q in zip(groups, quota):
        pool = rng.permutation(np.flatnonzero(group & valid))
        take = [int(k) for k in pool if k not in chosen][: min(q, n - len(chosen))]
        chosen.extend(take)
    # fill up with any remaining valid pair
    for k in rng.permutation(np.flatnonzero(valid)):
        if len(chosen) >= n:
            break
        if int(k) not in chosen:
            chosen.append(int(k))
    return np.asarray(chosen[:n], dtype=np.int64)


def _steps_per_epoch(config: PairDynamicsConfig, lengths: np.ndarray) -> int:
    if config.protocol == "full_batch":
        return 1
    counts = np.unique(lengths, return_counts=True)[1]
    return int(np.sum(-(-counts // config.batch_size)))


def _summarise(config, run_, eps, G0, mean_distance, pooled, kappa, pair_fits, agreeing, observed,
               pred_start, pred_late, test, m_min, taylor, A_high_t, drift, z0, diverged_first, meas, late,
               spe: int) -> dict:
    """Every number the report quotes (see ``results.json``)."""
    sgd_time = config.lr * spe  # gradient-flow time per epoch
    ok_fits = [f for f in pair_fits.values() if f is not None and f.success]
    kappas = np.array([f.tau_y / f.tau_h for f in ok_fits])
    A = agreeing
    by_length = {}
    for m in np.unique(m_min[A]):
        sel = A & (m_min == m)
        by_length[int(m)] = {"pairs": int(sel.sum()), "observed_merged": int(observed[sel].sum()),
                             "start": confusion(pred_start[sel], observed[sel]),
                             "late": confusion(pred_late[sel], observed[sel])}
    merged_lengths = m_min[A & observed]
    finite_t = np.where(np.isfinite(taylor), taylor, np.nan)
    tmax = np.nanmax(np.where(np.isfinite(finite_t), finite_t, -np.inf), axis=0)

    def taylor_stats(sel):
        if not np.any(sel):
            return {"pairs": 0}
        vals = finite_t[:, sel]
        return {"pairs": int(sel.sum()), "median_of_max_ratio": float(np.median(tmax[sel])),
                "fraction_snapshots_ratio_above_1": float(np.nanmean(vals > 1)),
                "fraction_pairs_max_ratio_below_0.1": float(np.mean(tmax[sel] < 0.1))}

    def drift_stats(sel):
        if not np.any(sel):
            return {"pairs": 0}
        d = np.abs(drift[:, sel])
        return {"pairs": int(sel.sum()), "median_abs_drift_late": float(np.nanmedian(d[late])),
                "median_abs_drift_final": float(np.nanmedian(d[-1])),
                "fraction_sign_change_start_to_final": float(np.mean(
                    np.sign(A_high_t[0, sel]) != np.sign(A_high_t[-1, sel])))}

    dec = np.diff(mean_distance)
    rel_dec = -dec / mean_distance[:-1]
    diff_len = np.abs(meas.m1 - meas.m2)
    divergent_by_gap = {}
    for g in np.unique(diff_len[A & observed]):
        sel = A & observed & (diff_len == g)
        divergent_by_gap[int(g)] = {"merged": int(sel.sum()), "diverged_first": int((sel & diverged_first).sum())}
    return {
        "training": {"status": run_.status, "epochs": int(run_.epochs),
                     "final_train_loss": float(run_.train_loss[-1]),
                     "steps_per_epoch": spe, "snapshots": int(run_.snapshot_epochs.size)},
        "merge_threshold": {"eps": float(eps), "eps_factor": config.eps_factor,
                            "std_convention": "pooled over all snapshots and training sequences (+h0)"},
        "contraction_G_initial": G0,
        "time_mapping": ("ODE time t = epoch index; tau in epochs. tau in SGD gradient-flow time "
                         f"(lr x steps/epoch = {sgd_time:g} per epoch) = tau_epochs x {sgd_time:g}; "
                         "r, A_high, A_low and all predictions are invariant under this rescaling"),
        "pooled_fit": {**_fit_dict(pooled), "kappa_tau_y_over_tau_h": kappa,
                       "tau_h_sgd_time": pooled.tau_h * sgd_time, "tau_y_sgd_time": pooled.tau_y * sgd_time,
                       "pairs": int(pooled.n_trajectories)},
        "per_pair_fits": {"attempted": len(pair_fits), "successful": len(ok_fits),
                          "successful_agreeing": sum(1 for k, f in pair_fits.items()
                                                     if f is not None and f.success and agreeing[k]),
                          "attempted_agreeing": sum(1 for k in pair_fits if agreeing[k]),
                          "kappa_median": float(np.median(kappas)) if kappas.size else None,
                          "kappa_iqr": [float(np.percentile(kappas, 25)), float(np.percentile(kappas, 75))]
                          if kappas.size else None,
                          "kappa_min_max": [float(kappas.min()), float(kappas.max())] if kappas.size else None,
                          "median_residual": float(np.median([f.residual for f in ok_fits])) if ok_fits else None},
        "pairs_total": int(A.size), "agreeing_pairs": int(A.sum()), "disagreeing_pairs": int((~A).sum()),
        "observed_mergers": {"agreeing": int((A & observed).sum()), "disagreeing": int((~A & observed).sum())},
        "confusion_agreeing_heldout": {"start": confusion(pred_start[A & test], observed[A & test]),
                                       "late": confusion(pred_late[A & test], observed[A & test])},
        "confusion_agreeing_all": {"start": confusion(pred_start[A], observed[A]),
                                   "late": confusion(pred_late[A], observed[A])},
        "confusion_disagreeing_all": {"start": confusion(pred_start[~A], observed[~A])},
        "late_epoch": int(run_.snapshot_epochs[late]),
        "by_min_prefix_length": by_length,
        "smallest_merging_min_length": int(merged_lengths.min()) if merged_lengths.size else None,
        "rate_free_auc_H0sq_over_NY0": roc_auc(-np.log(z0[A]), observed[A]),
        "a_high_drift_relative_to_max_H": {"agreeing": drift_stats(A), "disagreeing": drift_stats(~A)},
        "taylor_ratio": {"merging": taylor_stats(observed), "non_merging": taylor_stats(~observed)},
        "mean_distance": {"never_decreases": bool(np.all(dec >= 0)), "n_decreases": int(np.sum(dec < 0)),
                          "max_relative_decrease": float(max(0.0, rel_dec.max())) if rel_dec.size else 0.0,
                          "initial": float(mean_distance[0]), "final": float(mean_distance[-1])},
        "divergent_mergers": {"merged_agreeing": int((A & observed).sum()),
                              "diverged_first": int((A & observed & diverged_first).sum()),
                              "by_length_gap": divergent_by_gap},
    }


def _fixed_expansion(config: PairDynamicsConfig, g: float) -> dict[str, Any]:
    """P25 Fig. 10 left: eq. 42 for an agreeing pair, unequal (``lr·m``) vs equal hidden rates, many seeds.

    Integrated to ``5 t_max`` so that a merger later than the paper's horizon ``t_max`` is seen;
    outcomes are reported at ``t_max`` and at ``5 t_max``.
    """
    lr = config.lr
    m1, m2 = config.fe_lengths
    common = {"N": 1.0, "y11": 1.0, "y12": 1.0, "y22": 1.0}
    unequal = FixedExpansionSystem.from_learning_rates(lr * m1, lr * m2, lr, 0.25 * lr, **common)
    equal = FixedExpansionSystem.from_learning_rates(lr * m1, lr * m1, lr, 0.25 * lr, **common)
    horizon = 5.0 * config.fe_t_max
    t = np.linspace(0.0, horizon, 2501)
    at_t_max = int(np.searchsorted(t, config.fe_t_max))
    dist, loss, dist_eq, status = [], [], [], []
    for k in range(config.fe_seeds):
        z0 = random_initial_state(g, np.random.default_rng([config.seed, 7919, k]))
        res = integrate_fixed_expansion(z0, unequal, t_max=horizon, t_eval=t)
        res_eq = integrate_fixed_expansion(z0, equal, t_max=horizon, t_eval=t)
        status.append(int(min(res.status, res_eq.status)))
        if not (res.success and res_eq.success):
            for arr in (dist, loss, dist_eq):
                arr.append(np.full(t.size, np.nan))
            continue
        dist.append(res.distance2)
        loss.append(unequal.train_loss(res.y))
        dist_eq.append(res_eq.distance2)
    dist, loss, dist_eq = np.array(dist), np.array(loss), np.array(dist_eq)
    ok = np.isfinite(dist[:, -1])

    def outcome(j: int) -> tuple[np.ndarray, np.ndarray]:
        d = dist[:, : j + 1]
        d0, dmax, dend = d[:, 0], np.nanmax(d, axis=1), d[:, -1]
        return ok & (dmax > 2 * d0), ok & (dend < 1e-2 * dmax) & (dend < d0)

    div_t, mer_t = outcome(at_t_max)
    div_h, mer_h = outcome(t.size - 1)
    eq_increase = np.nanmax(np.diff(dist_eq, axis=1) / dist_eq[:, :1], axis=1)
    summary = {
        "gain_g": g, "gain_source": "--fe-gain" if config.fe_gain is not None else
        "estimated from the epoch-0 hidden states (std over units of the per-unit std)",
        "rates": {"eta_h1": lr * m1, "eta_h2": lr * m2, "eta_a": lr, "eta_b": 0.25 * lr},
        "prefix_lengths": [m1, m2], "t_max": config.fe_t_max, "horizon": horizon, "seeds": config.fe_seeds,
        "solver_failures": int(np.sum(np.array(status) < 0)),
        "fraction_diverged_then_merged": float(np.mean(div_t & mer_t)),
        "fraction_diverged": float(np.mean(div_t)), "fraction_merged_by_t_max": float(np.mean(mer_t)),
        "fraction_diverged_then_merged_by_5_t_max": float(np.mean(div_h & mer_h)),
        "equal_rates_max_relative_increase": float(np.nanmax(eq_increase)),
        "equal_rates_never_increase": bool(np.all(eq_increase[np.isfinite(eq_increase)] <= 1e-9)),
        "definitions": "diverged: max (h2-h1)^2 > 2x initial; merged: final < 1% of its maximum and < initial",
    }
    best = div_t & mer_t if np.any(div_t & mer_t) else div_h & mer_h
    return {"t": t, "distance2": dist, "loss": loss, "equal": dist_eq, "summary": summary,
            "highlight": int(np.argmax(best)) if np.any(best) else 0}


def _disagreements(s: dict[str, Any]) -> list[str]:
    """Plain statements of where the theory and the measurements disagree (empty if none)."""
    out = []
    for name, key in (("held-out agreeing pairs", "confusion_agreeing_heldout"), ("all agreeing pairs",
                                                                                  "confusion_agreeing_all")):
        for when in ("start", "late"):
            c = s[key][when]
            wrong = c["fp"] + c["fn"]
            total = sum(c.values())
            if wrong:
                out.append(f"merger prediction from A_high at the {when} ({'epoch 0' if when == 'start' else 'epoch ' + str(s['late_epoch'])}) "
                           f"is wrong for {wrong} of {total} {name}: {c['fp']} predicted mergers did not merge, "
                           f"{c['fn']} unpredicted mergers happened")
    if s["observed_mergers"]["disagreeing"]:
        out.append(f"{s['observed_mergers']['disagreeing']} disagreeing pairs ended closer than eps although "
                   "A_low > 0 forbids a merger")
    d = s["a_high_drift_relative_to_max_H"]["agreeing"]
    if d.get("pairs") and d["median_abs_drift_final"] > 0.1:
        out.append(f"A_high is not conserved along real training: median |A_high(T) - A_high(0)| / max_t H = "
                   f"{d['median_abs_drift_final']:.3g} for agreeing pairs; its sign changes for "
                   f"{100 * d['fraction_sign_change_start_to_final']:.0f}% of them")
    pf = s["per_pair_fits"]
    if pf["kappa_min_max"] and pf["kappa_min_max"][1] > 10 * pf["kappa_min_max"][0]:
        out.append(f"the fitted rate ratio tau_y/tau_h is not one constant: per-pair fits span "
                   f"{pf['kappa_min_max'][0]:.3g} to {pf['kappa_min_max'][1]:.3g} (pooled {s['pooled_fit']['kappa_tau_y_over_tau_h']:.3g})")
    if s["agreeing_pairs_whose_H_rose_above_2x_H0"]:
        out.append(f"eq. 20 makes H non-increasing for agreeing pairs (W = Y >= 0), yet the measured H of "
                   f"{s['agreeing_pairs_whose_H_rose_above_2x_H0']} of {s['agreeing_pairs']} agreeing pairs rose above "
                   f"twice its initial value ({s['merged_agreeing_pairs_whose_H_rose_above_2x_H0']} of the "
                   f"{s['observed_mergers']['agreeing']} that merged): the moving-midpoint theory cannot fit that phase "
                   "(the nine-variable fixed-expansion model can, see fixed_expansion)")
    if pf["attempted"] and pf["successful"] < pf["attempted"]:
        out.append(f"{pf['attempted'] - pf['successful']} of {pf['attempted']} per-pair rate fits failed "
                   "(optimum on the search bound, or the model could not be integrated)")
    if not s["pooled_fit"]["success"]:
        out.append(f"the pooled rate fit did not succeed: {s['pooled_fit']['message']}")
    tm = s["taylor_ratio"]["merging"]
    if tm.get("pairs") and tm["fraction_pairs_max_ratio_below_0.1"] < 1:
        out.append(f"for {100 * (1 - tm['fraction_pairs_max_ratio_below_0.1']):.0f}% of merging pairs the second-order "
                   "Taylor term reaches 10% of the first-order term (P25 App. D.2 reports >= 10x dominance)")
    for kind in ("merging", "non_merging"):
        t = s["taylor_ratio"][kind]
        if t.get("pairs") and t["fraction_snapshots_ratio_above_1"] > 0:
            out.append(f"{kind.replace('_', '-')} pairs: the second-order Taylor term exceeds the first-order term in "
                       f"{100 * t['fraction_snapshots_ratio_above_1']:.1f}% of (pair, snapshot) measurements")
    md = s["mean_distance"]
    if not md["never_decreases"]:
        out.append(f"the mean pairwise distance decreases at {md['n_decreases']} snapshots (largest relative "
                   f"decrease {md['max_relative_decrease']:.3g}); P25 Fig. 12 reports it never decreases")
    auc = s["rate_free_auc_H0sq_over_NY0"]
    if np.isfinite(auc) and auc < 0.9:
        out.append(f"the rate-free statistic H0^2/(N Y0) that A_high < 0 thresholds ranks merging above "
                   f"non-merging agreeing pairs only with ROC AUC {auc:.2f}")
    fe = s.get("fixed_expansion")
    if fe and fe["fraction_diverged_then_merged"] < 1:
        out.append(f"nine-variable model (g = {fe['gain_g']:.3g}): only {100 * fe['fraction_diverged_then_merged']:.0f}% "
                   f"of initial states diverge then merge by t = {fe['t_max']:g} "
                   f"({100 * fe['fraction_diverged_then_merged_by_5_t_max']:.0f}% by t = {fe['horizon']:g})")
    return out


# ----------------------------------------------------------------------------- figures

def _band(ax, x, values, color, label):
    """Median line and inter-quartile band over the columns of ``values`` (rows = x)."""
    with np.errstate(all="ignore"):
        if values.shape[1] == 0 or not np.any(np.isfinite(values)):
            return
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, med, hi = np.nanpercentile(values, [25, 50, 75], axis=1)
    ax.plot(x, med, color=color, label=f"{label} (median, n={values.shape[1]})")
    ax.fill_between(x, lo, hi, color=color, alpha=0.25, lw=0)


def _figures(out, config, run_, eps, epochs, H, W, Y, S, N, agreeing, observed, pred_start, pred_late, m_min, meas,
             taylor, drift, mean_distance, pooled, pair_fits, post_peak_fits, labels1, labels2, diverged_first,
             fe, test):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loss_epochs = np.arange(run_.train_loss.size)
    loss_norm = run_.train_loss / np.nanmax(run_.train_loss)

    # --- Fig. 10 right: measured vs theoretical H(t), W(t) for representative pairs
    fitted = [k for k, f in pair_fits.items() if f is not None]
    pick_agree = [k for k in fitted if agreeing[k] and observed[k] and diverged_first[k]] or \
        [k for k in fitted if agreeing[k] and observed[k]] or [k for k in fitted if agreeing[k]]
    pick_dis = [k for k in fitted if not agreeing[k] and pair_fits[k].success] or [k for k in fitted if not agreeing[k]]
    reps = [(pick_agree[0], "agreeing") if pick_agree else None, (pick_dis[0], "disagreeing") if pick_dis else None]
    reps = [r for r in reps if r is not None]
    fig, axes = plt.subplots(2, max(1, len(reps)), figsize=(5.2 * max(1, len(reps)), 6.4), squeeze=False)
    for col, (k, kind) in enumerate(reps):
        curves = [(0, pair_fits[k], "--", "C3", "theory, per-pair fit"), (0, pooled, ":", "C2", "theory, pooled fit")]
        if k in post_peak_fits and post_peak_fits[k][1] is not None:
            curves.append((post_peak_fits[k][0], post_peak_fits[k][1], "-.", "C4", "theory, fit after the peak"))
        for row, (name, meas_k) in enumerate((("H", H[:, k]), ("W", W[:, k]))):
            ax = axes[row, col]
            scale = np.max(np.abs(meas_k)) or 1.0
            ax.plot(loss_epochs, loss_norm, color="0.75", lw=1, label="training loss (normalised)")
            ax.plot(epochs, meas_k / scale, "o", ms=3, color="C0", label=f"measured {name}")
            for start, fit, style, color, lab in curves:
                curve = _theory_curve(H[start, k], Y[start, k], W[start, k], S=float(S[k]), N=float(N[k]), fit=fit,
                                      t=epochs[start:] - epochs[start])
                if curve is not None:
                    tt, Ht, Wt, st = curve
                    note = "" if fit.success else " [fit failed]"
                    ax.plot(tt + epochs[start], (Ht if name == "H" else Wt) / scale, style, color=color,
                            label=lab + note + ("" if st >= 0 else " (solver stopped)"))
            ax.set_title(f"{kind} pair {labels1[k]} / {labels2[k]} (N={int(N[k])}"
                         f"{', merged' if observed[k] else ''})", fontsize=9)
            ax.set_xlabel("epoch (= ODE time)")
            ax.set_ylabel(f"{name} / max|{name}| (measured)")
            if row == 0:
                ax.set_yscale("log")
                ax.legend(fontsize=6)
    fig.suptitle("P25 Fig. 10 (right): measured pair trajectories vs the three-scalar ODE (eq. 20)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, out / "fig10_right_trajectories")
    plt.close(fig)

    # --- merger prediction: Fig. 7 style maps, by-length bars, rate-free scatter
    L = config.L
    A = agreeing
    obs_map = np.full((L, L), np.nan)
    pred_map = np.full((L, L), np.nan)
    for a in range(1, L + 1):
        for b in range(a, L + 1):
            sel = A & (meas.m1 == a) & (meas.m2 == b)
            if sel.any():
                obs_map[a - 1, b - 1] = obs_map[b - 1, a - 1] = observed[sel].mean()
                pred_map[a - 1, b - 1] = pred_map[b - 1, a - 1] = pred_start[sel].mean()
    fig, axes = plt.subplots(2, 2, figsize=(10, 8.4))
    for ax, mp, title in ((axes[0, 0], obs_map, "observed merger fraction (agreeing pairs)"),
                          (axes[0, 1], pred_map, "predicted (A_high(0) < 0) merger fraction")):
        im = ax.imshow(mp, origin="lower", vmin=0, vmax=1, cmap="viridis",
                       extent=(0.5, L + 0.5, 0.5, L + 0.5))
        ax.set_xlabel("prefix length m2")
        ax.set_ylabel("prefix length m1")
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8)
    ax = axes[1, 0]
    lengths = np.unique(m_min[A])
    width = 0.27
    for j, (vals, lab) in enumerate(((observed, "observed"), (pred_start, "predicted at epoch 0"),
                                     (pred_late, f"predicted at epoch {config.late_epoch}"))):
        frac = [vals[A & (m_min == m)].mean() for m in lengths]
        ax.bar(lengths + (j - 1) * width, frac, width, label=lab)
    ax.set_xlabel("min(m1, m2)")
    ax.set_ylabel("merger fraction of agreeing pairs")
    ax.set_title("by shorter prefix length (P25 Fig. 7 regime)", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        z0 = H[0] ** 2 / (N * Y[0])
        final = np.sqrt(H[-1])
    for sel, color, lab in ((A & observed, "C2", "agreeing, merged"), (A & ~observed, "C1", "agreeing, not merged"),
                            (~A, "C3", "disagreeing")):
        ax.loglog(z0[sel], final[sel], "o", ms=3, color=color, alpha=0.7, label=lab)
    kappa = pooled.tau_y / pooled.tau_h
    ax.axvline(kappa, color="k", ls="--", lw=1, label=f"κ = τ_y/τ_h = {kappa:.3g} (A_high < 0 left)")
    if eps > 0:
        ax.axhline(eps, color="0.4", ls=":", lw=1, label="merge threshold ε")
    ax.set_xlabel("H0² / (N Y0) at epoch 0")
    ax.set_ylabel("final distance ‖dh‖")
    ax.set_title("theory: merge iff agreeing and H0²/(N Y0) < κ", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out / "merger_prediction")
    plt.close(fig)

    # --- drift of the "conserved" A_high
    fig, ax = plt.subplots(figsize=(6, 4))
    _band(ax, epochs, drift[:, A], "C0", "agreeing")
    _band(ax, epochs, drift[:, ~A], "C3", "disagreeing")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_yscale("symlog", linthresh=1e-2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("(A_high(t) − A_high(0)) / max_t H")
    ax.set_title("drift of the invariant A_high = H − rY/H along real training (r from pooled fit)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out / "a_high_drift")
    plt.close(fig)

    # --- App. D.2 (Fig. 13): Taylor ratio
    fig, ax = plt.subplots(figsize=(6, 4))
    _band(ax, epochs, taylor[:, observed], "C2", "merging pairs")
    _band(ax, epochs, taylor[:, ~observed], "C1", "non-merging pairs")
    ax.axhline(1, color="k", ls="--", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("second- / first-order Taylor term")
    ax2 = ax.twinx()
    ax2.plot(loss_epochs, run_.train_loss, color="0.7", lw=1)
    ax2.set_ylabel("training loss", color="0.5")
    ax.set_title("P25 Fig. 13: validity of the linearisation along training", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    save_figure(fig, out / "taylor_ratio")
    plt.close(fig)

    # --- App. D.1 (Fig. 12): mean pairwise distance
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, mean_distance, color="C0", label=f"mean ‖h_a − h_b‖ ({config.distance_pairs} random pairs)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean pairwise distance")
    ax2 = ax.twinx()
    ax2.plot(loss_epochs, run_.train_loss, color="0.7", lw=1)
    ax2.set_ylabel("training loss", color="0.5")
    ax.set_title("P25 Fig. 12: mergers are not a global contraction", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out / "mean_distance")
    plt.close(fig)

    # --- Fig. 10 left: nine-variable model
    s = fe["summary"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    k = fe["highlight"]
    ax = axes[0]
    ax.plot(fe["t"], fe["loss"][k], color="C0", label="training loss")
    ax.plot(fe["t"], fe["distance2"][k], color="C3", label="(h2 − h1)²")
    ax.plot(fe["t"], fe["equal"][k], "--", color="0.5", label="(h2 − h1)², equal hidden rates")
    ax.set_ylim(bottom=0)
    ax.axvline(s["t_max"], color="k", lw=0.6, ls=":")
    ax.set_xlabel("t")
    ax.set_title(f"agreeing pair, 1/τ_h ∝ prefix length {s['prefix_lengths']}, g = {s['gain_g']:.3g}", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        for j in range(fe["distance2"].shape[0]):
            ax.semilogy(fe["t"], fe["distance2"][j] / fe["distance2"][j, 0], color="C3", lw=0.7, alpha=0.6,
                        label="unequal rates" if j == 0 else None)
            ax.semilogy(fe["t"], fe["equal"][j] / fe["equal"][j, 0], color="0.5", lw=0.7, ls="--", alpha=0.6,
                        label="equal rates" if j == 0 else None)
    ax.axvline(s["t_max"], color="k", lw=0.6, ls=":")
    ax.set_xlabel("t")
    ax.set_ylabel("(h2 − h1)² / initial")
    ax.set_title(f"{s['seeds']} initial states: {100 * s['fraction_diverged_then_merged']:.0f}% diverge then merge by "
                 f"t={s['t_max']:g}, {100 * s['fraction_diverged_then_merged_by_5_t_max']:.0f}% by t={s['horizon']:g}",
                 fontsize=9)
    ax.legend(fontsize=7)
    fig.suptitle("P25 Fig. 10 (left): nine-variable fixed-expansion-point model (eq. 42)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, out / "fig10_left_fixed_expansion")
    plt.close(fig)


# ----------------------------------------------------------------------------- CLI

def _lengths(text: str) -> tuple[int, int]:
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError("expected two comma-separated prefix lengths, e.g. '1,10'")
    return int(parts[0]), int(parts[1])


def build_parser() -> ArgumentParser:
    d = PairDynamicsConfig()
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    g = p.add_argument_group("training run (defaults: the P25 main run, §C.1)")
    g.add_argument("--task", choices=TASKS, default=d.task, help="targets: streaming parity, or a seeded random "
                   "regular task (P25 §D.5; the automaton is drawn from --seed)")
    g.add_argument("--L", type=int, default=d.L, help="longest training sequence length")
    g.add_argument("--fraction", type=float, default=d.fraction,
                   help="training data fraction p in (0, 1]: per length a Binomial(2^l, p) draw; 1 = all sequences")
    g.add_argument("--hidden", type=int, default=d.hidden, help="hidden units P")
    g.add_argument("--nonlinearity", choices=("relu", "tanh"), default=d.nonlinearity, help="recurrent nonlinearity")
    g.add_argument("--loss", choices=("mse", "ce"), default=d.loss, help="training loss (the theory is derived for mse)")
    g.add_argument("--gain", type=float, default=d.gain, help="Xavier-normal gain of every weight matrix")
    g.add_argument("--lr", type=float, default=d.lr, help="SGD learning rate")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help="minibatch size (batches never mix lengths)")
    g.add_argument("--protocol", choices=("paper", "full_batch"), default=d.protocol,
                   help="'paper': per-length shuffled minibatches; 'full_batch': gradient descent on all data")
    g.add_argument("--epochs", type=int, default=d.epochs, help="training epochs")
    g.add_argument("--snapshot-every", type=int, default=d.snapshot_every,
                   help="measure the pairs every this many epochs (plus epoch 0, --late-epoch and the last)")
    g.add_argument("--dense-snapshots", type=int, default=d.dense_snapshots,
                   help="also measure at this many epochs where log10(training loss) changes fastest "
                        "(resolves the sudden loss drop during which pairs merge)")
    g.add_argument("--dtype", choices=("float32", "float64"), default=d.dtype, help="training precision "
                   "(measurements are always float64)")
    a = p.add_argument_group("pairs, fits and predictions")
    a.add_argument("--pairs-per-cell", type=int, default=d.pairs_per_cell,
                   help="agreeing pairs, and as many disagreeing pairs, per (m1, m2) length cell")
    a.add_argument("--min-length", type=int, default=d.min_length, help="shortest prefix length to sample")
    a.add_argument("--fit-pairs", type=int, default=d.fit_pairs, help="pairs whose rates are fitted one by one")
    a.add_argument("--pooled-pairs", type=int, default=d.pooled_pairs,
                   help="calibration pairs in the pooled rate fit that sets r for all predictions")
    a.add_argument("--late-epoch", type=int, default=d.late_epoch,
                   help="second prediction: A_high, A_low measured at this epoch")
    a.add_argument("--eps-factor", type=float, default=d.eps_factor,
                   help="merge threshold eps = factor * ||std|| (std pooled over snapshots, as in the P25 main run)")
    a.add_argument("--distance-pairs", type=int, default=d.distance_pairs,
                   help="random sequence pairs for the mean pairwise distance (P25 Fig. 12)")
    f = p.add_argument_group("nine-variable model (P25 Fig. 10 left)")
    f.add_argument("--fe-seeds", type=int, default=d.fe_seeds, help="random initial states")
    f.add_argument("--fe-lengths", type=_lengths, default=d.fe_lengths,
                   help="prefix lengths m1,m2 setting the hidden rates lr*m (1/tau_h ∝ length, §D.3)")
    f.add_argument("--fe-t-max", type=float, default=d.fe_t_max,
                   help="the paper's horizon (outcomes are also reported at 5x this, which is integrated and drawn)")
    f.add_argument("--fe-gain", type=float, default=None,
                   help="std g of the random initial h_alpha, sqrt(D2), sqrt(b2) (default: estimated from the "
                        "epoch-0 hidden states)")
    r = p.add_argument_group("execution")
    r.add_argument("--seed", type=int, default=d.seed, help="seed of the initial weights, minibatch order, "
                   "pair sampling, calibration split and the nine-variable model's initial states")
    r.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared 2-core machine)")
    r.add_argument("--out", type=Path, default=Path("runs/pair_dynamics"), help="output directory")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch
    torch.set_num_threads(check_int("threads", args.threads, minimum=1))
    config = PairDynamicsConfig(
        task=args.task, L=args.L, fraction=args.fraction, hidden=args.hidden, nonlinearity=args.nonlinearity,
        loss=args.loss, gain=args.gain, lr=args.lr, batch_size=args.batch_size, protocol=args.protocol,
        epochs=args.epochs, snapshot_every=args.snapshot_every, dense_snapshots=args.dense_snapshots,
        dtype=args.dtype,
        pairs_per_cell=args.pairs_per_cell, min_length=args.min_length, fit_pairs=args.fit_pairs,
        pooled_pairs=args.pooled_pairs, late_epoch=args.late_epoch, eps_factor=args.eps_factor,
        distance_pairs=args.distance_pairs, fe_seeds=args.fe_seeds, fe_lengths=tuple(args.fe_lengths),
        fe_t_max=args.fe_t_max, fe_gain=args.fe_gain, seed=args.seed)
    try:
        result = run(config, args.out, progress=not args.no_progress)
    except RuntimeError as exc:   # diverged training, failed pooled fit: a status, not a traceback
        import sys
        print(f"{PROG}: failed: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}/results.json, results.npz and 6 figures ({result['seconds']['total']:.0f} s)")
    for line in result["disagreements"]:
        print(f"  theory vs experiment: {line}")
    return 0


if __name__ == "__main__":
    run_cli(main, PROG)
