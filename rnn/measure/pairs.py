"""The interaction theory's quantities for prefix pairs of a trained Elman RNN (docs/theory.md §1, §3).

For a pair of prefixes ``(p1, p2)`` with hidden states ``h1 = h(p1)``, ``h2 = h(p2)``
(``rnn.parity.elman``), ``dh = h2 − h1`` and midpoint ``h̄ = (h1 + h2)/2``:

* ``H = ‖dh‖²``;
* the shared continuations ``s_i`` (``n_i = len(s_i) ≥ 0``): both ``p1·s_i`` and
  ``p2·s_i`` are training sequences; ``N`` = their number (unmatched continuations do
  not enter, as the theory assumes);
* ``y_i(h)`` = "read ``s_i`` starting from hidden state ``h``, then output" (readout of the
  final state), and ``J_i = ∂y_i/∂h`` at ``h̄``; ``dy_i = J_i dh`` (docs/theory.md §1, eq. 13),
  computed as a Jacobian–vector product with ``torch.func.jvp``;
* ``ỹ_i = y*_{2,i} − y*_{1,i}`` with one-hot targets (the MSE coding of P25 §C.1);
* ``w_i = dy_iᵀ(dy_i − ỹ_i)`` and the averages ``Y = ⟨‖dy_i‖²⟩``, ``W = ⟨w_i⟩``,
  ``S = ⟨‖ỹ_i‖²⟩`` over the pair's ``N`` continuations (eq. 20's variables);
* ``m1, m2`` prefix lengths and ``n = min_i n_i`` (eq. 8 convention: ``m`` prefix,
  ``n`` continuation);
* the actual output difference ``y_i(h2) − y_i(h1)`` and the Taylor ratio of P25 App. D.2:
  ``‖(y_i(h1) + y_i(h2))/2 − y_i(h̄)‖ / ‖½ dy_i‖``. Expanding both ``y_i(h_α)`` about
  ``h̄``, the first-order term is ``±½ J_i dh`` and the second-order term
  ``⅛ d²y_i[dh, dh]``, which the symmetric second difference in the numerator equals up
  to ``O(‖dh‖⁴)``; unlike the pointwise Hessian (zero almost everywhere for ReLU) it also
  registers the ReLU kinks between ``h1`` and ``h2``.

All network computations run in float64. The continuations of all pairs are arranged as
one trie per pair, so a continuation prefix shared by several continuations (``"01"`` in
``"010"`` and ``"011"``) is stepped once; one ``jvp`` call covers all pairs and
continuations of a snapshot. ``plan_pairs`` does the data-only work once;
``measure_pairs`` / ``measure_pairs_over_training`` evaluate a plan for one or many
parameter snapshots.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import jvp

from interaction.checks import check_choice, check_int
from rnn.parity import elman
from rnn.automata import infer_n_symbols, string_codes
from rnn.parity.data import PAD, SequenceSet


@dataclass(frozen=True)
class PairPlan:
    """Data-only structure of a list of prefix pairs (independent of the network).

    Per pair: ``prefix1``, ``prefix2`` (token tuples), ``m1``, ``m2``, ``N``, ``n_min``
    (``-1`` when ``N = 0``), ``offsets`` (entries of pair ``k`` are
    ``offsets[k]:offsets[k+1]``). Per entry (pair, shared continuation), in pair order and
    canonical continuation order: ``pair`` index, ``cont_tokens`` ``(K, n_max)`` int8
    padded ``-1``, ``cont_lengths``, ``index1``/``index2`` (rows of ``p1·s``/``p2·s`` in
    the data), ``y_tilde`` ``(K, n_out)``. The trie arrays (``trie_parent``,
    ``trie_token`` per depth; ``entry_depth``, ``entry_node``) drive the forward pass.
    """

    prefix1: tuple[tuple[int, ...], ...]
    prefix2: tuple[tuple[int, ...], ...]
    m1: np.ndarray
    m2: np.ndarray
    N: np.ndarray
    n_min: np.ndarray
    offsets: np.ndarray
    pair: np.ndarray
    cont_tokens: np.ndarray
    cont_lengths: np.ndarray
    index1: np.ndarray
    index2: np.ndarray
    y_tilde: np.ndarray
    trie_parent: tuple[np.ndarray, ...]
    trie_token: tuple[np.ndarray, ...]
    entry_node: np.ndarray

    @property
    def n_pairs(self) -> int:
        return int(self.m1.size)

    @property
    def n_entries(self) -> int:
        return int(self.pair.size)


def _continuations(prefix: tuple[int, ...], sorted_codes: np.ndarray, order: np.ndarray,
                   max_len: int, k: int, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Continuation codes and data rows of every data sequence that starts with ``prefix``."""
    m = len(prefix)
    v = 0
    for tok in prefix:
        v = v * k + int(tok)
    conts, rows = [], []
    for length in range(max(m, 1), max_len + 1):
        span = k ** (length - m)
        lo = offsets[length] + v * span
        a, b = np.searchsorted(sorted_codes, [lo, lo + span])
        conts.append(offsets[length - m] + sorted_codes[a:b] - lo)
        rows.append(order[a:b])
    return np.concatenate(conts), np.concatenate(rows)


def _as_prefix(p, n_symbols: int, name: str) -> tuple[int, ...]:
    tup = tuple(int(t) for t in np.asarray(p, dtype=np.int64).ravel())
    if any(t < 0 or t >= n_symbols for t in tup):
        raise ValueError(f"{name} tokens must lie in [0, {n_symbols - 1}] (got {tup})")
    return tup


def plan_pairs(data: SequenceSet, targets: np.ndarray, pairs: Sequence[tuple[Sequence[int], Sequence[int]]],
               *, n_out: int | None = None, n_symbols: int | None = None) -> PairPlan:
    """Shared continuations, target differences and the continuation trie for prefix pairs.

    ``pairs``: ``(p1, p2)`` token sequences (any prefixes, also the empty one). ``targets``:
    class per data sequence; ``n_out`` (default ``max(targets)+1``, at least 2) fixes the
    one-hot coding of ``ỹ_i``.
    """
    targets = np.asarray(targets, dtype=np.int64)
    if targets.shape != (len(data),):
        raise ValueError(f"targets must have shape ({len(data)},) (got {targets.shape})")
    n_out = max(2, int(targets.max(initial=0)) + 1) if n_out is None else check_int("n_out", n_out, minimum=1)
    if np.any((targets < 0) | (targets >= n_out)):
        raise ValueError(f"targets must lie in [0, {n_out - 1}]")
    k = infer_n_symbols(data) if n_symbols is None else check_int("n_symbols", n_symbols, minimum=2)
    max_len = data.max_length
    codes = string_codes(data.tokens, data.lengths, k)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    offsets_by_len = np.concatenate([[0], np.cumsum(k ** np.arange(max_len + 1, dtype=np.int64))])

    p1s, p2s, m1, m2, N, n_min = [], [], [], [], [], []
    ent_pair, ent_code, ent_i1, ent_i2 = [], [], [], []
    for j, (a, b) in enumerate(pairs):
        p1, p2 = _as_prefix(a, k, "pairs[..][0]"), _as_prefix(b, k, "pairs[..][1]")
        c1, r1 = _continuations(p1, sorted_codes, order, max_len, k, offsets_by_len)
        c2, r2 = _continuations(p2, sorted_codes, order, max_len, k, offsets_by_len)
        shared, i1, i2 = np.intersect1d(c1, c2, assume_unique=True, return_indices=True)
        p1s.append(p1)
        p2s.append(p2)
        m1.append(len(p1))
        m2.append(len(p2))
        N.append(shared.size)
        ent_pair.append(np.full(shared.size, j, dtype=np.int64))
        ent_code.append(shared)
        ent_i1.append(r1[i1])
        ent_i2.append(r2[i2])
    pair = np.concatenate(ent_pair) if ent_pair else np.zeros(0, np.int64)
    code = np.concatenate(ent_code) if ent_code else np.zeros(0, np.int64)
    index1 = np.concatenate(ent_i1) if ent_i1 else np.zeros(0, np.int64)
    index2 = np.concatenate(ent_i2) if ent_i2 else np.zeros(0, np.int64)
    # decode continuation codes: length = largest l with offsets[l] <= code
    cont_len = np.searchsorted(offsets_by_len, code, side="right") - 1
    value = code - offsets_by_len[cont_len]
    n_max = int(cont_len.max(initial=0))
    cont_tokens = np.full((code.size, n_max), PAD, dtype=np.int8)
    for t in range(n_max):  # digit t of a length-n string is value // k**(n-1-t) % k
        live = t < cont_len
        digit = (value // k ** np.maximum(cont_len - 1 - t, 0)) % k
        cont_tokens[live, t] = digit[live]
    N = np.asarray(N, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(N)])
    n_min = np.array([int(cont_len[offsets[j]:offsets[j + 1]].min()) if N[j] else -1
                      for j in range(N.size)], dtype=np.int64)
    eye = np.eye(n_out)
    y_tilde = eye[targets[index2]] - eye[targets[index1]]

    # trie: depth-0 nodes are the pairs' start states; a depth-t node is a distinct
    # (pair, continuation prefix of length t); key = pair * k**t + value(prefix)
    trie_parent, trie_token = [], []
    entry_node = np.empty(code.size, dtype=np.int64)
    entry_node[cont_len == 0] = pair[cont_len == 0]
    prev_keys = np.arange(len(pairs), dtype=np.int64)
    prefix_val = np.zeros(code.size, dtype=np.int64)
    for t in range(1, n_max + 1):
        live = cont_len >= t
        prefix_val = np.where(live, prefix_val * k + np.maximum(cont_tokens[:, t - 1], 0), prefix_val)
        keys = pair[live] * k ** t + prefix_val[live]
        uniq, inv = np.unique(keys, return_inverse=True)
        parent_keys = (uniq // k ** t) * k ** (t - 1) + (uniq % k ** t) // k
        trie_parent.append(np.searchsorted(prev_keys, parent_keys))
        trie_token.append(uniq % k)
        ends = np.nonzero(live)[0]
        done = cont_len[ends] == t
        entry_node[ends[done]] = inv[done]
        prev_keys = uniq
    return PairPlan(tuple(p1s), tuple(p2s), np.asarray(m1, np.int64), np.asarray(m2, np.int64), N, n_min,
                    offsets, pair, cont_tokens, cont_len, index1, index2, y_tilde,
                    tuple(trie_parent), tuple(trie_token), entry_node)


@dataclass(frozen=True)
class PairMeasurements:
    """Measured quantities for the pairs of a ``PairPlan`` (leading snapshot axis if tracked).

    Per pair: ``H``, ``Y``, ``W``, ``S`` (``nan`` where ``N = 0``), and the plan's ``m1``,
    ``m2``, ``N``, ``n_min``. Per entry: ``dy`` (``J_i dh``), ``dy_actual``
    (``y_i(h2) − y_i(h1)``), ``w``, ``taylor_ratio``; ``y_tilde`` and ``pair``,
    ``cont_lengths`` from the plan. ``dh`` ``(…, n_pairs, P)`` is kept for direction analyses.
    """

    H: np.ndarray
    Y: np.ndarray
    W: np.ndarray
    S: np.ndarray
    dh: np.ndarray
    dy: np.ndarray
    dy_actual: np.ndarray
    w: np.ndarray
    taylor_ratio: np.ndarray
    y_tilde: np.ndarray
    m1: np.ndarray
    m2: np.ndarray
    N: np.ndarray
    n_min: np.ndarray
    pair: np.ndarray
    cont_lengths: np.ndarray


def _prefix_states(params, prefixes: Sequence[tuple[int, ...]], nonlinearity: str) -> torch.Tensor:
    """Hidden states of the given prefixes (batched per length), ``(len(prefixes), P)``."""
    P = params["h0"].shape[-1]
    out = torch.empty(len(prefixes), P, dtype=params["h0"].dtype)
    lengths = np.array([len(p) for p in prefixes])
    for m in np.unique(lengths):
        idx = np.nonzero(lengths == m)[0]
        toks = torch.as_tensor(np.array([prefixes[i] for i in idx], dtype=np.int64).reshape(idx.size, m))
        h = params["h0"].expand(idx.size, P)
        out[torch.as_tensor(idx)] = elman.run(params, toks, nonlinearity, h=h) if m else h
    return out


def _trie_outputs(params, plan: PairPlan, nonlinearity: str):
    """The function ``(n_pairs, P) start states ↦ (K, n_out) outputs y_i`` over the trie."""
    parents = [torch.as_tensor(p) for p in plan.trie_parent]
    tokens = [torch.as_tensor(t) for t in plan.trie_token]
    depth = torch.as_tensor(plan.cont_lengths)
    node = torch.as_tensor(plan.entry_node)
    n_depths = len(parents) + 1
    by_depth = [torch.nonzero(depth == t).squeeze(1) for t in range(n_depths)]
    perm = torch.argsort(torch.cat(by_depth))

    def outputs(h_start: torch.Tensor) -> torch.Tensor:
        states = [h_start]
        for parent, tok in zip(parents, tokens):
            states.append(elman.step(params, states[-1][parent], tok, nonlinearity))
        finals = torch.cat([states[t][node[by_depth[t]]] for t in range(n_depths)])
        return elman.readout(params, finals[perm])

    return outputs


def measure_pairs(params: dict[str, torch.Tensor], plan: PairPlan, *, nonlinearity: str = "relu") -> PairMeasurements:
    """Evaluate the theory's pair quantities for one parameter snapshot (see module docstring)."""
    check_choice("nonlinearity", nonlinearity, elman.NONLINEARITIES)
    p64 = {key: torch.as_tensor(val).detach().to(torch.float64) for key, val in params.items()}
    missing = set(elman.PARAM_NAMES) - set(p64)
    if missing:
        raise ValueError(f"params must have the keys {elman.PARAM_NAMES} (missing {sorted(missing)})")
    n_out = p64["W_hy"].shape[0]
    if plan.y_tilde.shape[1] != n_out:
        raise ValueError(f"plan's one-hot width {plan.y_tilde.shape[1]} must equal the network's n_out = {n_out}")
    with torch.no_grad():
        states = _prefix_states(p64, plan.prefix1 + plan.prefix2, nonlinearity)
    h1, h2 = states[: plan.n_pairs], states[plan.n_pairs:]
    dh = h2 - h1
    h_mid = 0.5 * (h1 + h2)
    H = (dh * dh).sum(-1).numpy()
    f = _trie_outputs(p64, plan, nonlinearity)
    y_mid, dy = jvp(f, (h_mid,), (dh,))
    with torch.no_grad():
        y1, y2 = f(h1), f(h2)
    dy = dy.detach().numpy()
    dy_actual = (y2 - y1).numpy()
    second = (0.5 * (y1 + y2) - y_mid.detach()).numpy()
    first_norm = np.linalg.norm(0.5 * dy, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        taylor_ratio = np.linalg.norm(second, axis=-1) / first_norm
    w = np.sum(dy * (dy - plan.y_tilde), axis=-1)
    dy2 = np.sum(dy * dy, axis=-1)
    yt2 = np.sum(plan.y_tilde ** 2, axis=-1)

    def mean_per_pair(v: np.ndarray) -> np.ndarray:
        sums = np.bincount(plan.pair, weights=v, minlength=plan.n_pairs)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(plan.N > 0, sums / np.maximum(plan.N, 1), np.nan)

    return PairMeasurements(H, mean_per_pair(dy2), mean_per_pair(w), mean_per_pair(yt2), dh.numpy(), dy,
                            dy_actual, w, taylor_ratio, plan.y_tilde, plan.m1, plan.m2, plan.N, plan.n_min,
                            plan.pair, plan.cont_lengths)


def measure_pairs_over_training(param_snapshots: Sequence[dict[str, torch.Tensor]], plan: PairPlan, *,
                                nonlinearity: str = "relu", progress: bool = False) -> PairMeasurements:
    """``measure_pairs`` for every snapshot; network-dependent fields gain a leading snapshot axis."""
    if len(param_snapshots) == 0:
        raise ValueError("param_snapshots must contain at least one parameter dict (got 0)")
    snaps = param_snapshots
    if progress:
        from tqdm import tqdm
        snaps = tqdm(snaps, desc="pair measurements", unit="snapshot")
    results = [measure_pairs(p, plan, nonlinearity=nonlinearity) for p in snaps]
    stacked = {name: np.stack([getattr(r, name) for r in results])
               for name in ("H", "Y", "W", "dh", "dy", "dy_actual", "w", "taylor_ratio")}
    r0 = results[0]
    return PairMeasurements(S=r0.S, y_tilde=r0.y_tilde, m1=r0.m1, m2=r0.m2, N=r0.N, n_min=r0.n_min,
                            pair=r0.pair, cont_lengths=r0.cont_lengths, **stacked)


def pair_measurements(params: dict[str, torch.Tensor], data: SequenceSet, targets: np.ndarray,
                      pairs: Sequence[tuple[Sequence[int], Sequence[int]]], *,
                      nonlinearity: str = "relu") -> PairMeasurements:
    """One-call convenience: ``measure_pairs(params, plan_pairs(data, targets, pairs))``."""
    n_out = int(torch.as_tensor(params["W_hy"]).shape[0])
    plan = plan_pairs(data, targets, pairs, n_out=n_out)
    return measure_pairs(params, plan, nonlinearity=nonlinearity)
