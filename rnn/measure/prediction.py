"""Per-network predictions of eqs. 5–7 from the network's own pair measurements (docs/theory.md §2.3, §2.6, §3).

Given an Elman network (``rnn.parity.elman`` parameter dict) and its training set,
``predict_pairs`` samples prefix pairs that share at least one continuation in that
training set, measures ``H0, Y0, W0, S, N`` for each through ``rnn.measure.pairs``
(Jacobian–vector products, one batched ``jvp`` for all pairs) and applies the closed
form of ``interaction.closed_form``:

* ``A_high = H0 − r Y0/H0`` (eq. 6) and ``A_low = sqrt(r S)`` (eq. 25), ``r = N κ``;
* the predicted merger ``A_low = 0 and A_high <= 0`` (eq. 7) and the final distance
  ``H₊`` (eq. 5);
* the rate-free statistic ``z = H0²/(N Y0)``.

**The rate ratio.** ``rate_ratio`` is ``κ = τ_y/τ_h``, one global constant (the same
convention as ``validation.pair_dynamics``). ``interaction.a_high`` / ``a_low`` take
``N``, ``tau_h`` and ``tau_y`` separately and use only ``r = N τ_y/τ_h``; this module
calls them with ``tau_h = 1``, ``tau_y = κ`` and the measured ``N`` of each pair. For
an agreeing pair (``S = 0``) ``A_high <= 0`` is the same as ``z <= κ``: the statistic
needs no rate, and ``κ`` is a threshold on it. ``PairPredictions.with_rate_ratio``
re-applies eqs. 5–7 for another ``κ`` without measuring again (for fitting ``κ``).

**Pair kinds.** ``'agree_cross'``: agreeing pairs (``ỹ_i = 0`` on every shared
continuation, i.e. ``S = 0`` under one-hot coding) of different lengths; ``'agree_equal'``:
agreeing pairs of equal length; ``'disagree'``: ``S > 0`` (the control; eq. 7 says
they never merge). Prefixes are the distinct prefixes of the training sequences with
lengths ``min_length..max_length``. Pairs are drawn stratified by length cell
``(m1, m2)``, ``m1 <= m2``: each kind's quota is spread evenly over the cells that can
supply it, so that short prefixes (few of them, many shared continuations) are as well
represented as long ones. The empty prefix (``h_0``, not produced by the recurrent map)
is excluded by default (``min_length = 1``), as in the eq.-9 score.

**The cell rule** (``cell_prediction``). A network generalises beyond its training
lengths only if its states close into a finite automaton, i.e. some prefix merges with
a *longer* prefix that agrees with it on every future: a merger of equal-length
prefixes only prunes the tree of states and never closes a cycle. So a network is
predicted to generalise iff **some measured agreeing cross-length pair is predicted to
merge** (eq. 7). Equivalently ``cell_threshold(pred) <= κ``, where ``cell_threshold``
is the smallest ``z`` over the measured agreeing cross-length pairs: the measured
analogue of the eq.-9 merger score, so ``κ`` can be fitted across networks exactly as
``C`` is (a threshold on one number per network). It is the same argument as
``validation.merger_phase_diagram.boundary_fit``, with measured pairs in place of the
scaling of docs/theory.md §3.2.

**Failed measurements.** A pair whose measured ``H0``, ``Y0`` or ``W0`` is not finite, or
whose ``H0 = 0`` (bit-identical states: outside eq. 20's domain), has
``measurement_ok = False``; its ``A_high``, ``A_low``, ``final_distance`` are ``nan`` and
``predicted_merge`` is ``False``. It stays in the result. Non-finite *parameters* are a
``ValueError``.

``scaling_diagnostics`` measures the two scalings of docs/theory.md §3.2 directly:
``‖dh(0)‖²`` against the prefix length ``m`` and ``‖dy_i‖²/‖dh‖²`` against the
continuation length ``n``, with fitted log-slopes next to ``log G`` from
``rnn.measure.contraction.estimate_contraction``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from interaction.checks import check_choice, check_int, check_positive
from interaction.closed_form import a_high, a_low, final_distance, will_merge
from rnn.automata import infer_n_symbols
from rnn.measure.contraction import estimate_contraction
from rnn.measure.pairs import PairPlan, measure_pairs, plan_pairs
from rnn.parity import elman
from rnn.parity.data import PAD, SequenceSet

KINDS = ("agree_cross", "agree_equal", "disagree")
_MAX_ROUNDS = 8


# ----------------------------------------------------------------------------- validation

def _check_seed(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(check_int("seed", seed, minimum=0))


def _check_data(data, targets) -> tuple[SequenceSet, np.ndarray | None]:
    if not isinstance(data, SequenceSet):
        raise ValueError(f"data must be an rnn.parity.SequenceSet (got {type(data).__name__})")  # noqa: TRY004 - one error type for every bad argument
    tok, lengths = np.asarray(data.tokens), np.asarray(data.lengths)
    if tok.ndim != 2 or lengths.ndim != 1 or tok.shape[0] != lengths.shape[0] or lengths.size == 0:
        raise ValueError(f"data must hold a (n, L) token matrix and (n,) lengths with n >= 1 "
                         f"(got tokens {tok.shape}, lengths {lengths.shape})")
    if not (np.issubdtype(tok.dtype, np.integer) and np.issubdtype(lengths.dtype, np.integer)):
        raise ValueError("data.tokens and data.lengths must be integer arrays")
    if np.any((lengths < 0) | (lengths > tok.shape[1])):
        raise ValueError(f"data.lengths must lie in [0, {tok.shape[1]}]")
    live = np.arange(tok.shape[1])[None, :] < lengths[:, None]
    if np.any(live & (tok < 0)) or np.any(~live & (tok != PAD)):
        raise ValueError(f"data.tokens must be >= 0 inside each sequence and {PAD} (padding) after it")
    if targets is None:
        return data, None
    t = np.asarray(targets)
    if t.shape != (len(data),) or not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"targets must be an integer array of shape ({len(data)},) (got {t.dtype} {t.shape})")
    if np.any(t < 0):
        raise ValueError("targets must be >= 0 (class indices)")
    return data, t.astype(np.int64)


def _check_params(params, data: SequenceSet, targets: np.ndarray | None, *, stacked: bool = False,
                  name: str = "params") -> dict:
    """``params`` as float64 tensors, checked against the data; messages name the argument ``name``."""
    if not isinstance(params, Mapping):
        raise ValueError(  # noqa: TRY004 - one error type for every bad argument
            f"{name} must be a dict of tensors with keys {elman.PARAM_NAMES} (got {type(params).__name__})")
    missing = [k for k in elman.PARAM_NAMES if k not in params]
    if missing:
        raise ValueError(f"{name} must have the keys {elman.PARAM_NAMES} (missing {missing})")
    p = {k: torch.as_tensor(np.asarray(params[k]) if not isinstance(params[k], torch.Tensor) else params[k])
         .detach().to(torch.float64) for k in elman.PARAM_NAMES}
    lead = 1 if stacked else 0
    if p["W_hh"].dim() != 2 + lead:
        raise ValueError(f"{name}['W_hh'] must be {'(E, P, P)' if stacked else '(P, P)'} "
                         f"(got {tuple(p['W_hh'].shape)})")
    E = (p["W_hh"].shape[0],) if stacked else ()
    P = p["W_hh"].shape[-2]
    I = p["W_ih"].shape[-1] if p["W_ih"].dim() >= 1 else -1
    O = p["W_hy"].shape[-2] if p["W_hy"].dim() >= 2 else -1
    want = {"W_hh": (P, P), "W_ih": (P, I), "b_ih": (P,), "b_hh": (P,), "W_hy": (O, P), "b_hy": (O,), "h0": (P,)}
    for k, shape in want.items():
        if tuple(p[k].shape) != E + shape:
            raise ValueError(f"{name}['{k}'] must have shape {E + shape} for hidden size {P} (got {tuple(p[k].shape)})")
    for k in elman.PARAM_NAMES:
        if not torch.isfinite(p[k]).all():
            raise ValueError(f"{name}['{k}'] contains non-finite values (NaN or inf)")
    if int(np.max(data.tokens, initial=0)) >= I:
        raise ValueError(f"data tokens must lie in [0, {I - 1}] for {name}['W_ih'] with {I} input columns")
    if targets is not None and targets.size and int(targets.max()) >= O:
        raise ValueError(f"targets must lie in [0, {O - 1}] for {name}['W_hy'] with {O} outputs")
    return p


# ----------------------------------------------------------------------------- pair sampling

def _prefix_table(data: SequenceSet, min_length: int, max_length: int) -> list[np.ndarray]:
    """Distinct prefixes of the training sequences per length: ``table[m]`` ``(k_m, m)`` int64, lexicographic."""
    tok, lengths = np.asarray(data.tokens, dtype=np.int64), np.asarray(data.lengths)
    table = []
    for m in range(max_length + 1):
        rows = tok[lengths >= m, :m]
        table.append(np.unique(rows, axis=0) if (m >= min_length and rows.shape[0]) else np.zeros((0, m), np.int64))
    return table


def _cell_size(table, m1: int, m2: int) -> int:
    a, b = table[m1].shape[0], table[m2].shape[0]
    return a * (a - 1) // 2 if m1 == m2 else a * b


def _decode(table, m1: int, m2: int, code: int) -> tuple[int, int]:
    """Row indices ``(i, j)`` of pair number ``code`` of a cell (``i < j`` on the diagonal)."""
    if m1 != m2:
        return divmod(code, table[m2].shape[0])
    a = table[m1].shape[0]
    i = int(np.floor((2 * a - 1 - np.sqrt((2 * a - 1) ** 2 - 8 * code)) / 2))
    while code >= (i + 1) * (2 * a - i - 2) // 2:  # guard the float inversion
        i += 1
    while i > 0 and code < i * (2 * a - i - 1) // 2:
        i -= 1
    return i, int(i + 1 + code - i * (2 * a - i - 1) // 2)


def _draw(rng, size: int, tried: set, count: int) -> list[int]:
    """Up to ``count`` new pair numbers in ``[0, size)`` not in ``tried`` (uniform, without replacement)."""
    free = size - len(tried)
    count = min(count, free)
    if count <= 0:
        return []
    if free <= 4 * count:
        pool = np.setdiff1d(np.arange(size), np.fromiter(tried, np.int64, len(tried)))
        return [int(c) for c in rng.choice(pool, size=count, replace=False)]
    out: list[int] = []
    while len(out) < count:
        c = int(rng.integers(size))
        if c not in tried:
            tried.add(c)
            out.append(c)
    for c in out:
        tried.discard(c)
    return out


def _sample_pairs(data, targets, n_out: int, quotas: dict[str, int], rng, min_length: int,
                  max_length: int) -> tuple[list, list]:
    """Stratified rejection sampling of prefix pairs (module docstring); returns pairs and kinds."""
    table = _prefix_table(data, min_length, max_length)
    cells = [(a, b) for a in range(min_length, max_length + 1) for b in range(a, max_length + 1)
             if _cell_size(table, a, b) > 0]
    kind_cells = {"agree_cross": [c for c in cells if c[0] != c[1]],
                  "agree_equal": [c for c in cells if c[0] == c[1]], "disagree": list(cells)}
    tried = {c: set() for c in cells}
    got = {k: [] for k in quotas}
    for _ in range(_MAX_ROUNDS):
        wants: dict[tuple, dict[str, int]] = {}
        for kind, quota in quotas.items():
            rem = quota - len(got[kind])
            open_cells = [c for c in kind_cells[kind] if len(tried[c]) < _cell_size(table, *c)]
            if rem > 0 and open_cells:
                per = -(-rem // len(open_cells))
                for c in open_cells:
                    wants.setdefault(c, {})[kind] = per
        if not wants:
            break
        cand, cand_cell = [], []
        for c, want in sorted(wants.items()):
            for code in _draw(rng, _cell_size(table, *c), tried[c], 2 * sum(want.values()) + 2):
                tried[c].add(code)
                i, j = _decode(table, c[0], c[1], code)
                cand.append((tuple(table[c[0]][i]), tuple(table[c[1]][j])))
                cand_cell.append(c)
        if not cand:
            break
        plan = plan_pairs(data, targets, cand, n_out=n_out, n_symbols=infer_n_symbols(data))
        S = np.bincount(plan.pair, weights=np.sum(plan.y_tilde ** 2, axis=1), minlength=plan.n_pairs)
        cand_kind = np.where(plan.N == 0, "", np.where(S > 0, "disagree",
                             np.where(np.array([a != b for a, b in cand_cell]), "agree_cross", "agree_equal")))
        for kind, quota in quotas.items():
            by_cell: dict[tuple, list[int]] = {}
            for idx in np.flatnonzero(cand_kind == kind):
                by_cell.setdefault(cand_cell[idx], []).append(int(idx))
            order = list(by_cell)
            rng.shuffle(order)
            for c in order:
                take = min(wants.get(c, {}).get(kind, 0), quota - len(got[kind]))
                got[kind].extend(cand[idx] for idx in by_cell[c][:max(take, 0)])
    pairs = [p for k in KINDS if k in got for p in got[k]]
    kinds = [k for k in KINDS if k in got for _ in got[k]]
    return pairs, kinds


# ----------------------------------------------------------------------------- predictions

@dataclass(frozen=True)
class PairPredictions:
    """Per-pair measurements at the given network and the predictions of eqs. 5–7 (module docstring).

    ``prefix_tokens`` ``(n_prefixes, L)`` (padded ``-1``) and ``prefix_lengths`` list the
    distinct prefixes; pair ``k`` is ``(prefix index1[k], prefix index2[k])`` with
    ``m1 <= m2``. Per pair: ``kind`` (one of ``KINDS``), ``m1``, ``m2``, ``N``, ``n_min``,
    ``H0``, ``Y0``, ``W0``, ``S``, ``A_high``, ``A_low``, ``predicted_merge``,
    ``final_distance``, ``statistic`` (``H0²/(N·Y0)``; ``inf`` where ``Y0 = 0``) and
    ``measurement_ok``. ``rate_ratio`` is ``κ = τ_y/τ_h``.
    """

    prefix_tokens: np.ndarray
    prefix_lengths: np.ndarray
    index1: np.ndarray
    index2: np.ndarray
    kind: np.ndarray
    m1: np.ndarray
    m2: np.ndarray
    N: np.ndarray
    n_min: np.ndarray
    H0: np.ndarray
    Y0: np.ndarray
    W0: np.ndarray
    S: np.ndarray
    A_high: np.ndarray
    A_low: np.ndarray
    predicted_merge: np.ndarray
    final_distance: np.ndarray
    statistic: np.ndarray
    measurement_ok: np.ndarray
    rate_ratio: float

    @property
    def n_pairs(self) -> int:
        return int(self.m1.size)

    def prefix(self, i: int) -> tuple[int, ...]:
        """Prefix number ``i`` as a token tuple."""
        return tuple(int(t) for t in self.prefix_tokens[i, : self.prefix_lengths[i]])

    def pairs(self) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        """The pairs as token tuples (to measure them again, e.g. in the trained network)."""
        return [(self.prefix(i), self.prefix(j)) for i, j in zip(self.index1, self.index2)]

    def with_rate_ratio(self, rate_ratio: float) -> PairPredictions:
        """The same measurements with eqs. 5–7 re-applied for another ``κ = τ_y/τ_h``."""
        return replace(self, rate_ratio=float(check_positive("rate_ratio", rate_ratio)),
                       **_closed_form(self.H0, self.Y0, self.S, self.N, self.measurement_ok, rate_ratio))


def _closed_form(H0, Y0, S, N, ok, rate_ratio) -> dict[str, np.ndarray]:
    """Eqs. 6, 25, 7, 5 on the pairs with ``ok`` (``tau_h = 1``, ``tau_y = κ``: ``r = N κ``)."""
    kappa = float(check_positive("rate_ratio", rate_ratio))
    out = {k: np.full(H0.shape, np.nan) for k in ("A_high", "A_low", "final_distance")}
    out["predicted_merge"] = np.zeros(H0.shape, dtype=bool)
    if ok.any():
        Ah = a_high(H0[ok], Y0[ok], N=N[ok], tau_h=1.0, tau_y=kappa)
        Al = a_low(S[ok], N=N[ok], tau_h=1.0, tau_y=kappa)
        out["A_high"][ok], out["A_low"][ok] = Ah, Al
        out["final_distance"][ok] = final_distance(Ah, Al)
        out["predicted_merge"][ok] = will_merge(Ah, Al)
    return out


def _predict_from_plan(p64: dict, plan: PairPlan, kinds: np.ndarray, table: tuple, rate_ratio: float,
                       nonlinearity: str) -> PairPredictions:
    with np.errstate(all="ignore"):
        meas = measure_pairs(p64, plan, nonlinearity=nonlinearity)
        H0, Y0, W0, S = meas.H, meas.Y, meas.W, meas.S
        ok = np.isfinite(H0) & (H0 > 0) & np.isfinite(Y0) & np.isfinite(W0)
        statistic = np.where(ok, H0 ** 2 / (plan.N * np.where(ok, Y0, 1.0)), np.nan)
    prefix_tokens, prefix_lengths, index1, index2 = table
    return PairPredictions(prefix_tokens, prefix_lengths, index1, index2, kinds, plan.m1, plan.m2, plan.N,
                           plan.n_min, H0, Y0, W0, S, statistic=statistic, measurement_ok=ok,
                           rate_ratio=float(rate_ratio), **_closed_form(H0, Y0, S, plan.N, ok, rate_ratio))


def _index_prefixes(pairs, max_len: int) -> tuple:
    uniq = sorted({p for pair in pairs for p in pair}, key=lambda s: (len(s), s))
    pos = {p: i for i, p in enumerate(uniq)}
    tokens = np.full((len(uniq), max_len), PAD, dtype=np.int8)
    for i, p in enumerate(uniq):
        tokens[i, :len(p)] = p
    return (tokens, np.array([len(p) for p in uniq], dtype=np.int64),
            np.array([pos[a] for a, _ in pairs], dtype=np.int64), np.array([pos[b] for _, b in pairs], dtype=np.int64))


def _plan(data, targets, n_out, *, pairs, n_pairs, seed, include_disagreeing, min_length, max_length):
    """The pairs (sampled or given), their kinds, plan and prefix table."""
    L = data.max_length
    min_length = check_int("min_length", min_length, minimum=0, maximum=L)
    max_length = L if max_length is None else check_int("max_length", max_length, minimum=min_length, maximum=L)
    k = infer_n_symbols(data)
    if pairs is None:
        n_pairs = check_int("n_pairs", n_pairs, minimum=1)
        shares = (1, 1, 1) if include_disagreeing else (2, 1, 0)
        quotas = {kind: (n_pairs * s) // sum(shares) for kind, s in zip(KINDS, shares) if s}
        quotas["agree_cross"] += n_pairs - sum(quotas.values())
        pairs, kinds = _sample_pairs(data, targets, n_out, quotas, _check_seed(seed), min_length, max_length)
        if not pairs:
            raise ValueError(f"data: no pair of prefixes of lengths {min_length}..{max_length} shares a continuation")
    else:
        pairs = [tuple(tuple(int(t) for t in np.asarray(p, dtype=np.int64).ravel()) for p in pair) for pair in pairs]
        if not pairs or any(len(pair) != 2 for pair in pairs):
            raise ValueError("pairs must be a non-empty sequence of (prefix1, prefix2) token sequences")
        pairs = [(a, b) if (len(a), a) <= (len(b), b) else (b, a) for a, b in pairs]
        kinds = None
    plan = plan_pairs(data, targets, pairs, n_out=n_out, n_symbols=k)
    if np.any(plan.N == 0):
        bad = int(np.flatnonzero(plan.N == 0)[0])
        raise ValueError(f"pairs[{bad}] = {pairs[bad]} shares no continuation in data")
    if kinds is None:
        S = np.bincount(plan.pair, weights=np.sum(plan.y_tilde ** 2, axis=1), minlength=plan.n_pairs)
        kinds = np.where(S > 0, "disagree", np.where(plan.m1 != plan.m2, "agree_cross", "agree_equal"))
    return plan, np.asarray(kinds, dtype="<U11"), _index_prefixes(pairs, max(L, 1))


def predict_pairs(params: dict[str, torch.Tensor], data: SequenceSet, targets: np.ndarray, *, rate_ratio: float,
                  n_pairs: int = 200, seed: int | np.random.Generator = 0, include_disagreeing: bool = True,
                  nonlinearity: str = "relu", min_length: int = 1, max_length: int | None = None,
                  pairs: Sequence[tuple[Sequence[int], Sequence[int]]] | None = None) -> PairPredictions:
    """Sample (or take) prefix pairs, measure them in ``params`` and predict their fate (module docstring).

    ``n_pairs`` is split evenly over the three kinds (or 2:1 over the agreeing kinds when
    ``include_disagreeing=False``); fewer are returned when the data cannot supply them.
    ``pairs`` (explicit ``(p1, p2)`` token sequences) replaces the sampling; each must
    share a continuation in ``data``. ``seed``: int >= 0 or a ``numpy`` Generator.
    """
    check_choice("nonlinearity", nonlinearity, elman.NONLINEARITIES)
    check_positive("rate_ratio", rate_ratio)
    data, targets = _check_data(data, targets)
    p64 = _check_params(params, data, targets)
    plan, kinds, table = _plan(data, targets, p64["W_hy"].shape[0], pairs=pairs, n_pairs=n_pairs, seed=seed,
                               include_disagreeing=include_disagreeing, min_length=min_length,
                               max_length=max_length)
    return _predict_from_plan(p64, plan, kinds, table, rate_ratio, nonlinearity)


def predict_ensemble_pairs(params: dict[str, torch.Tensor], data: SequenceSet, targets: np.ndarray, *,
                           rate_ratio: float, nonlinearity: str = "relu", **sampling) -> tuple[PairPredictions, ...]:
    """``predict_pairs`` for every member of stacked params (leading axis ``E``), on one shared pair sample.

    ``sampling``: ``n_pairs``, ``seed``, ``include_disagreeing``, ``min_length``, ``max_length``,
    ``pairs`` as in ``predict_pairs``. Members are measured one after another.
    """
    check_choice("nonlinearity", nonlinearity, elman.NONLINEARITIES)
    check_positive("rate_ratio", rate_ratio)
    data, targets = _check_data(data, targets)
    p64 = _check_params(params, data, targets, stacked=True)
    opts = {"pairs": None, "n_pairs": 200, "seed": 0, "include_disagreeing": True, "min_length": 1, "max_length": None}
    unknown = set(sampling) - set(opts)
    if unknown:
        raise ValueError(f"unknown sampling options {sorted(unknown)} (allowed: {sorted(opts)})")
    plan, kinds, table = _plan(data, targets, p64["W_hy"].shape[1], **{**opts, **sampling})
    return tuple(_predict_from_plan({k: v[e] for k, v in p64.items()}, plan, kinds, table, rate_ratio, nonlinearity)
                 for e in range(p64["W_hh"].shape[0]))


def cell_threshold(pred: PairPredictions) -> float:
    """Smallest ``H0²/(N Y0)`` over the measured agreeing cross-length pairs (``inf`` if there is none).

    The network is predicted to generalise iff this is ``<= κ`` (module docstring).
    """
    use = (pred.kind == "agree_cross") & pred.measurement_ok
    return float(pred.statistic[use].min()) if use.any() else float("inf")


def cell_prediction(pred: PairPredictions) -> bool:
    """True iff some measured agreeing cross-length pair is predicted to merge (eq. 7): the network generalises."""
    return bool(np.any(pred.predicted_merge & (pred.kind == "agree_cross") & pred.measurement_ok))


# ----------------------------------------------------------------------------- eq. 9's scalings

@dataclass(frozen=True)
class ScalingDiagnostics:
    """Measured scalings of docs/theory.md §3.2 next to ``G``.

    ``m`` prefix lengths; ``H_log_mean`` / ``H_mean``: mean of ``log ‖dh(0)‖²`` / of
    ``‖dh(0)‖²`` over pairs of distinct prefixes of length ``m`` (``H_count`` of them,
    ``H = 0`` pairs left out of the log mean). ``n`` continuation lengths;
    ``ratio_log_mean`` / ``ratio_mean``: the same for ``‖dy_i‖²/‖dh‖²`` over all
    (pair, continuation of length ``n``) entries. ``slope_H`` and ``slope_ratio``: least-
    squares slopes of the log means against ``m`` and ``n`` (``nan`` with fewer than two
    finite points); the scalings hold when both are close to ``log_G = log G``.
    """

    m: np.ndarray
    H_log_mean: np.ndarray
    H_mean: np.ndarray
    H_count: np.ndarray
    n: np.ndarray
    ratio_log_mean: np.ndarray
    ratio_mean: np.ndarray
    ratio_count: np.ndarray
    slope_H: float
    slope_ratio: float
    G: float
    log_G: float


def _log_stats(x: np.ndarray, group: np.ndarray, levels: np.ndarray):
    log_mean, mean, count = (np.full(levels.size, np.nan) for _ in range(3))
    for k, v in enumerate(levels):
        sel = x[(group == v) & np.isfinite(x)]
        count[k] = sel.size
        pos = sel[sel > 0]
        if sel.size:
            mean[k] = sel.mean()
        if pos.size:
            log_mean[k] = np.log(pos).mean()
    return log_mean, mean, count.astype(np.int64)


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    fin = np.isfinite(y)
    return float(np.polyfit(x[fin], y[fin], 1)[0]) if np.unique(x[fin]).size >= 2 else float("nan")


def scaling_diagnostics(params: dict[str, torch.Tensor], data: SequenceSet, *, pairs_per_length: int = 16,
                        seed: int | np.random.Generator = 0, nonlinearity: str = "relu", min_length: int = 1,
                        contraction_depth: int = 6) -> ScalingDiagnostics:
    """Measured ``‖dh(0)‖²`` against ``m`` and ``‖dy_i‖²/‖dh‖²`` against ``n``, with ``G`` (see ``ScalingDiagnostics``).

    Pairs: up to ``pairs_per_length`` random pairs of distinct equal-length prefixes per
    length ``m = min_length..L``, with all their shared continuations (targets play no role).
    """
    check_choice("nonlinearity", nonlinearity, elman.NONLINEARITIES)
    per = check_int("pairs_per_length", pairs_per_length, minimum=1)
    data, _ = _check_data(data, None)
    p64 = _check_params(params, data, None)
    L = data.max_length
    min_length = check_int("min_length", min_length, minimum=0, maximum=L)
    rng = _check_seed(seed)
    table = _prefix_table(data, min_length, L)
    pairs = []
    for m in range(min_length, L + 1):
        for code in _draw(rng, _cell_size(table, m, m), set(), per):
            i, j = _decode(table, m, m, code)
            pairs.append((tuple(table[m][i]), tuple(table[m][j])))
    if not pairs:
        raise ValueError("data: needs two distinct prefixes of some length >= min_length")
    plan = plan_pairs(data, np.zeros(len(data), np.int64), pairs, n_out=p64["W_hy"].shape[0],
                      n_symbols=infer_n_symbols(data))
    with np.errstate(all="ignore"):
        meas = measure_pairs(p64, plan, nonlinearity=nonlinearity)
        ratio = np.sum(meas.dy ** 2, axis=-1) / meas.H[plan.pair]
    ms = np.arange(min_length, L + 1)
    ns = np.arange(0, int(plan.cont_lengths.max(initial=0)) + 1)
    H_log, H_mean, H_count = _log_stats(meas.H, plan.m1, ms)
    r_log, r_mean, r_count = _log_stats(ratio, plan.cont_lengths, ns)
    G = float(estimate_contraction({k: v.numpy() for k, v in p64.items()}, nonlinearity=nonlinearity,
                                   depth=contraction_depth, seed=int(rng.integers(2**31))))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_G = float(np.log(G))
    return ScalingDiagnostics(ms, H_log, H_mean, H_count, ns, r_log, r_mean, r_count,
                              _slope(ms.astype(float), H_log), _slope(ns.astype(float), r_log), G, log_G)
