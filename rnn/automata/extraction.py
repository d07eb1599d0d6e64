"""Automata extracted from RNN hidden states (van Rossem & Saxe 2025, App. A), as array functions.

Everything here takes arrays, not models. The *candidate rows* of one snapshot are
``hidden[0] = h_0`` (the empty prefix) followed by the hidden states of the sequences
of a ``SequenceSet`` in its canonical order (the layout of the ensemble trainer's
``tracked_hidden``). Extraction (P25 App. A):

1. **Greedy leader grouping.** Rows are visited in a fixed order; a row joins the
   first existing group whose *first member* (leader) is closer than ``eps``
   (strict ``<``), else it starts a new group. Groups are the automaton's states.
   ``eps = factor·‖std‖`` (``std_norm``: per-unit std pooled over all tracked epochs —
   the main run, factor 0.01 — or of the final snapshot only — the phase diagram,
   factor 0.1).
2. **Transitions** ``δ(state(s[:-1]), s[-1]) = state(s)`` for every row whose parent
   prefix is a candidate row. Members of one state may disagree (``n_conflicts``);
   ``conflict_rule='first'`` keeps the transition of the member visited first (the
   leader-based choice), ``'reference'`` reproduces the reference code, in which the
   last write wins when iterating destination groups in creation order and their
   members in visiting order.
3. **Outputs.** A state's output is the network's class (argmax) for its first
   visited member; the empty prefix is not a training input, so a state led by
   ``h_0`` takes the output of its next member (as the reference does) and keeps
   ``h_0``'s own output only if it has no other member.
4. **Finite** = every state has every transition. **Minimisation** is Hopcroft's
   algorithm on the part reachable from the start state; a partial automaton is first
   completed with a sink whose output differs from every real output, so two states are
   merged only if they agree on all defined outputs *and* on where they are undefined;
   the sink is removed again afterwards (its transitions become ``-1``).

Visiting order: ``'canonical'`` = ``h_0`` first, then length-major lexicographic
(``SequenceSet`` order); ``'reference'`` = the reference code's order, which groups a
pandas frame by its string labels and so visits them in plain string order
(``'0' < '00' < '000' < … < '1'``) with the label ``'initial'`` (``h_0``) last (for
alphabets of up to 10 symbols, whose labels are single digits).

The per-epoch state-count history (``state_count_history``) runs the grouping in a
numba kernel that prunes leader candidates with buckets along the top principal
direction and a bound from a few more (``|Vᵀ(a−b)| ≤ ‖a−b‖`` for orthonormal ``V``),
so it is exact and far from quadratic; minimal sizes use a vectorised Moore
refinement (checked against Hopcroft in the tests).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numba
import numpy as np

from interaction.checks import check_choice, check_int, check_nonnegative
from rnn.automata.dfa import DFA, UNDEFINED, minimal_size
from rnn.parity.data import SequenceSet

ORDERS = ("canonical", "reference")
CONFLICT_RULES = ("first", "reference")
STD_CONVENTIONS = ("pooled", "final")


# ----------------------------------------------------------------- prefix structure


def string_codes(tokens: np.ndarray, lengths: np.ndarray, n_symbols: int) -> np.ndarray:
    """Bijective integer code of each (``-1``-padded) string: ``offset(len) + value in base n_symbols``.

    ``offset(l) = Σ_{j<l} n_symbols**j``, so codes of different lengths never collide.
    """
    max_len = tokens.shape[1] if tokens.ndim == 2 else 0
    if n_symbols ** (max_len + 1) >= 2**62:
        raise ValueError(f"n_symbols**(max_length+1) must be < 2**62 (got {n_symbols}**{max_len + 1})")
    offsets = np.concatenate([[0], np.cumsum(n_symbols ** np.arange(max_len + 1, dtype=np.int64))])
    value = np.zeros(len(lengths), dtype=np.int64)
    for t in range(max_len):
        active = t < lengths
        value = np.where(active, value * n_symbols + np.maximum(tokens[:, t], 0).astype(np.int64), value)
    return offsets[lengths] + value


def infer_n_symbols(data: SequenceSet) -> int:
    """Alphabet size implied by the tokens (at least 2, the binary alphabet)."""
    return max(2, int(data.tokens.max(initial=0)) + 1)


def prefix_parents(data: SequenceSet, n_symbols: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Parent row and last symbol of every candidate row (row 0 = ``h_0``, row ``i+1`` = sequence ``i``).

    ``parent[r]`` is the candidate row of ``s[:-1]`` (0 for length-1 strings, ``-1`` for
    row 0 or when ``s[:-1]`` is not in ``data``); ``symbol[r] = s[-1]`` (``-1`` for row 0).
    """
    n_symbols = infer_n_symbols(data) if n_symbols is None else check_int("n_symbols", n_symbols, minimum=1)
    tokens = data.tokens.astype(np.int64)
    lengths = data.lengths.astype(np.int64)
    if np.any(lengths < 1):
        raise ValueError("data must not contain the empty sequence (row 0 is h_0)")
    codes = string_codes(tokens, lengths, n_symbols)
    last = tokens[np.arange(len(lengths)), lengths - 1]
    parent_tokens = tokens.copy()
    parent_tokens[np.arange(len(lengths)), lengths - 1] = -1
    parent_codes = string_codes(parent_tokens, lengths - 1, n_symbols)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    if np.any(np.diff(sorted_codes) == 0):
        raise ValueError("data must not contain duplicate sequences")
    pos = np.clip(np.searchsorted(sorted_codes, parent_codes), 0, len(codes) - 1)
    found = sorted_codes[pos] == parent_codes
    parent = np.where(lengths == 1, 0, np.where(found, order[pos] + 1, UNDEFINED))
    return (np.concatenate([[UNDEFINED], parent]).astype(np.int64),
            np.concatenate([[UNDEFINED], last]).astype(np.int64))


def visit_order(data: SequenceSet, order: str = "canonical") -> np.ndarray:
    """Candidate rows in the order grouping visits them (see module docstring)."""
    check_choice("order", order, ORDERS)
    n = len(data) + 1
    if order == "canonical":
        return np.arange(n, dtype=np.int64)
    # Plain string order of labels == lexicographic order of the padded token rows
    # when padding sorts before every symbol; 'initial' (h_0) sorts after all digits.
    keys = data.tokens.astype(np.int64)
    seq_order = np.lexsort(keys.T[::-1])
    return np.concatenate([seq_order + 1, [0]]).astype(np.int64)


# ------------------------------------------------------------------------- grouping


def std_norm(hidden: np.ndarray, convention: str = "pooled") -> float:
    """``‖std‖``: Euclidean norm of the per-unit standard deviation of hidden activations.

    ``hidden`` is ``(n_rows, P)`` or ``(n_epochs, n_rows, P)``. ``'pooled'``: std per unit
    over all epochs and rows (P25 main run, ``eps = 0.01‖std‖``); ``'final'``: over the
    rows of the last snapshot only (P25 phase diagram, ``eps = 0.1‖std‖``). Population
    std (``ddof=0``). Accumulated in float64 epoch by epoch (no full-size copy).
    """
    check_choice("convention", convention, STD_CONVENTIONS)
    h = np.asarray(hidden)
    if h.ndim not in (2, 3):
        raise ValueError(f"hidden must have shape (n_rows, P) or (n_epochs, n_rows, P) (got {h.shape})")
    if h.ndim == 2:
        h = h[None]
    if convention == "final":
        h = h[-1:]
    count = h.shape[0] * h.shape[1]
    mean = sum(np.sum(block, axis=0, dtype=np.float64) for block in h) / count
    var = sum(np.sum((block.astype(np.float64) - mean) ** 2, axis=0) for block in h) / count
    return float(np.linalg.norm(np.sqrt(var)))


@numba.njit(cache=True)
def _leader_kernel(X, proj, order, eps):
    """Greedy leader grouping of rows of ``X`` visited in ``order`` (strict ``‖x−leader‖ < eps``).

    ``proj`` holds the rows' coordinates on orthonormal directions. Leaders are bucketed
    by ``proj[:, 0]`` in buckets at least ``eps`` wide, so a row's candidates lie in its own
    and the two neighbouring buckets; each bucket lists its leaders in creation order, so
    the scan stops at the first hit. ``Σ_q (proj_q(x) − proj_q(l))² ≤ ‖x − l‖²`` skips most
    candidates before the full distance is computed.
    """
    n, p = X.shape
    d = proj.shape[1]
    eps2 = eps * eps
    slack = 1e-9 * eps2 + 1e-300
    labels = np.full(n, -1, np.int64)
    leaders = np.empty(n, np.int64)
    lo = np.min(proj[:, 0]) if n else 0.0
    hi = np.max(proj[:, 0]) if n else 0.0
    width = max(eps, (hi - lo) / (4.0 * n + 1.0)) * (1.0 + 1e-9)
    if width <= 0.0:
        width = 1.0
    n_buckets = int((hi - lo) / width) + 3
    head = np.full(n_buckets, -1, np.int64)
    tail = np.full(n_buckets, -1, np.int64)
    nxt = np.full(n, -1, np.int64)
    k = 0
    for t in range(n):
        r = order[t]
        b = int((proj[r, 0] - lo) / width) + 1
        best = -1
        for bb in range(b - 1, b + 2):
            g = head[bb]
            while g != -1 and (best == -1 or g < best):
                ldr = leaders[g]
                bound = 0.0
                for q in range(d):
                    diff = proj[r, q] - proj[ldr, q]
                    bound += diff * diff
                if bound < eps2 + slack:
                    d2 = 0.0
                    for q in range(p):
                        diff = np.float64(X[r, q]) - np.float64(X[ldr, q])
                        d2 += diff * diff
                        if d2 >= eps2:
                            break
                    if d2 < eps2:
                        best = g
                        break
                g = nxt[g]
        if best == -1:
            leaders[k] = r
            if tail[b] == -1:
                head[b] = k
            else:
                nxt[tail[b]] = k
            tail[b] = k
            labels[r] = k
            k += 1
        else:
            labels[r] = best
    return labels, leaders[:k].copy()


@numba.njit(cache=True)
def _project(X, Vt, mean):
    """``(X − mean) @ Vtᵀ`` with plain loops (no BLAS threads: these matrices are small)."""
    n, p = X.shape
    d = Vt.shape[0]
    out = np.zeros((n, d))
    for i in range(n):
        for j in range(d):
            acc = 0.0
            for q in range(p):
                acc += (np.float64(X[i, q]) - mean[q]) * Vt[j, q]
            out[i, j] = acc
    return out


@numba.njit(cache=True)
def _subspace_step(X, Vt, mean):
    """One step of subspace iteration ``V ← orth(Xcᵀ Xc V)`` (rows of ``Vt``; modified Gram–Schmidt)."""
    n, p = X.shape
    d = Vt.shape[0]
    Z = _project(X, Vt, mean)
    W = np.zeros((d, p))
    for i in range(n):
        for j in range(d):
            z = Z[i, j]
            for q in range(p):
                W[j, q] += (np.float64(X[i, q]) - mean[q]) * z
    for j in range(d):
        # Gram–Schmidt; in degenerate cases (rank-deficient data) fall back to the old
        # direction, then to coordinate axes, so the rows stay exactly orthonormal
        for attempt in range(p + 2):
            if attempt == 1:
                W[j] = Vt[j]
            elif attempt >= 2:
                W[j] = 0.0
                W[j, attempt - 2] = 1.0
            scale = np.sqrt(np.sum(W[j] * W[j]))
            for _ in range(2):  # twice is enough (Kahan) for orthogonality to rounding
                for i in range(j):
                    W[j] -= np.sum(W[i] * W[j]) * W[i]
            norm = np.sqrt(np.sum(W[j] * W[j]))
            if norm > 1e-6 * scale:
                W[j] /= norm
                break
    return W


def _directions(X: np.ndarray, start: np.ndarray | None, n_dir: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """A few orthonormal high-variance directions (rows; warm-started subspace iteration) and the row mean.

    Any orthonormal directions keep the grouping exact; good ones only make it faster.
    """
    mean = X.mean(axis=0, dtype=np.float64)
    iters = 1
    if start is None:
        var = np.einsum("ij,ij->j", X, X, dtype=np.float64) / X.shape[0] - mean**2
        start = np.eye(X.shape[1])[np.argsort(-var)[:min(n_dir, X.shape[1])]]
        iters = 3
    Vt = start
    for _ in range(iters):
        Vt = _subspace_step(X, Vt, mean)
    return Vt, mean


def _group(X: np.ndarray, order: np.ndarray, eps: float, Vt: np.ndarray | None, refresh: bool = True):
    """Grouping of one snapshot; ``Vt`` (pruning directions) is re-fitted only if ``refresh``."""
    X = np.ascontiguousarray(X)
    if not np.all(np.isfinite(X)):
        raise ValueError("hidden must be finite (got non-finite activations: a diverged network has no automaton)")
    if refresh or Vt is None:
        Vt, mean = _directions(X, Vt)
    else:
        mean = X.mean(axis=0, dtype=np.float64)
    labels, leaders = _leader_kernel(X, _project(X, Vt, mean), order, float(eps))
    return labels, leaders, Vt


def leader_grouping(hidden: np.ndarray, eps: float, order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Greedy leader grouping (P25 App. A) of the rows of ``hidden`` ``(n_rows, P)``.

    Rows are visited in ``order`` (default ``0..n-1``); a row joins the first group (in
    creation order) whose first member is closer than ``eps`` (strict), else starts a new
    group. Returns ``(labels, leaders)``: group id per row (ids in creation order) and the
    row index of each group's first member.
    """
    X = np.asarray(hidden)
    if X.ndim != 2:
        raise ValueError(f"hidden must have shape (n_rows, P) (got {X.shape})")
    eps = float(check_nonnegative("eps", eps))
    order = np.arange(X.shape[0], dtype=np.int64) if order is None else np.asarray(order, dtype=np.int64)
    if order.shape != (X.shape[0],) or not np.array_equal(np.sort(order), np.arange(X.shape[0])):
        raise ValueError(f"order must be a permutation of 0..{X.shape[0] - 1}")
    labels, leaders, _ = _group(X, order, eps, None)
    return labels, leaders


def output_classes(hidden: np.ndarray, W_hy: np.ndarray, b_hy: np.ndarray) -> np.ndarray:
    """Network output class ``argmax(W_hy h + b_hy)`` of every row, epoch by epoch.

    ``hidden`` ``(n_rows, P)`` or ``(n_epochs, n_rows, P)``; ``W_hy`` ``(n_out, P)`` or
    ``(n_epochs, n_out, P)`` (a readout per tracked epoch), ``b_hy`` likewise. Returns int64
    classes of shape ``hidden.shape[:-1]`` (the ``outputs`` argument of the extraction).
    """
    H = np.asarray(hidden)
    W = np.asarray(W_hy, dtype=np.float64)
    b = np.asarray(b_hy, dtype=np.float64)
    if H.ndim == 2 and W.ndim == 2:
        return output_classes(H[None], W, b)[0]
    if H.ndim != 3:
        raise ValueError(f"hidden must have shape (n_rows, P) or (n_epochs, n_rows, P) (got {H.shape})")
    if W.ndim == 2:
        W, b = np.broadcast_to(W, (H.shape[0],) + W.shape), np.broadcast_to(b, (H.shape[0],) + b.shape)
    if W.shape[0] != H.shape[0] or W.shape[2] != H.shape[2] or b.shape != W.shape[:2]:
        raise ValueError(f"W_hy must have shape (n_out, {H.shape[2]}) or ({H.shape[0]}, n_out, {H.shape[2]}) "
                         f"and b_hy the matching (n_out,) or ({H.shape[0]}, n_out) (got {W.shape}, {b.shape})")
    return np.stack([np.argmax(H[e] @ W[e].T + b[e], axis=-1) for e in range(H.shape[0])]).astype(np.int64)


# ---------------------------------------------------------------------- extraction


@dataclass(frozen=True)
class Extraction:
    """An automaton extracted from one snapshot: ``dfa`` plus the grouping behind it.

    ``labels[r]`` = state of candidate row ``r``; ``leaders[q]`` = first member (row) of
    state ``q``; ``n_conflicts`` = number of (state, symbol) pairs whose members lead to
    different states; ``eps`` the merge distance used.
    """

    dfa: DFA
    labels: np.ndarray
    leaders: np.ndarray
    n_conflicts: int
    eps: float


def _output_classes(outputs: np.ndarray, n_rows: int) -> np.ndarray:
    out = np.asarray(outputs)
    if out.ndim == 2:
        out = np.argmax(out, axis=1)
    if out.shape != (n_rows,):
        raise ValueError(f"outputs must have shape ({n_rows},) classes or ({n_rows}, n_out) values (got {np.asarray(outputs).shape})")
    return out.astype(np.int64)


def _assemble(labels, n_states, parent, symbol, rank, out_cls, n_symbols, conflict_rule):
    """Transition table, conflict count and state outputs from a grouping (vectorised)."""
    rows = np.nonzero(parent >= 0)[0]
    src = labels[parent[rows]]
    dst = labels[rows]
    key = src * n_symbols + symbol[rows]
    trans = np.full(n_states * n_symbols, UNDEFINED, dtype=np.int64)
    n_conflicts = 0
    if rows.size:
        # conflicts: keys with more than one distinct destination
        pair_sorted = np.unique(key * n_states + dst)
        keys_of_pairs = pair_sorted // n_states
        n_conflicts = int(np.sum(np.bincount(keys_of_pairs - keys_of_pairs.min()) > 1))
        if conflict_rule == "first":
            sel = np.lexsort((rank[parent[rows]], key))
            _, first = np.unique(key[sel], return_index=True)
            chosen = sel[first]
        else:  # last write in (destination group, member visiting rank) order
            sel = np.lexsort((rank[rows], dst, key))
            last = np.r_[np.nonzero(np.diff(key[sel]))[0], sel.size - 1]
            chosen = sel[last]
        trans[key[chosen]] = dst[chosen]
    # output of each state: first visited member that is not h_0, else h_0 itself
    visit_rank = np.where(np.arange(labels.size) == 0, labels.size + rank, rank)
    first_member = np.full(n_states, np.iinfo(np.int64).max)
    np.minimum.at(first_member, labels, visit_rank)
    inverse = np.empty(2 * labels.size, dtype=np.int64)
    inverse[visit_rank] = np.arange(labels.size)
    outputs = out_cls[inverse[first_member]]
    return trans.reshape(n_states, n_symbols), outputs, n_conflicts


def extract_automaton(hidden: np.ndarray, data: SequenceSet, *, eps: float, outputs: np.ndarray,
                      order: str = "canonical", conflict_rule: str = "first",
                      n_symbols: int | None = None) -> Extraction:
    """Extract the automaton of one snapshot (P25 App. A; see module docstring).

    ``hidden`` ``(1 + len(data), P)``: row 0 = ``h_0``, then ``data`` in canonical order.
    ``outputs``: network output class per row ``(1+n,)``, or output values ``(1+n, n_out)``
    (argmax taken).
    """
    check_choice("conflict_rule", conflict_rule, CONFLICT_RULES)
    X = np.asarray(hidden)
    n_rows = len(data) + 1
    if X.ndim != 2 or X.shape[0] != n_rows:
        raise ValueError(f"hidden must have shape ({n_rows}, P) = (1 + len(data), P) (got {X.shape})")
    out_cls = _output_classes(outputs, n_rows)
    n_symbols = infer_n_symbols(data) if n_symbols is None else check_int("n_symbols", n_symbols, minimum=1)
    parent, symbol = prefix_parents(data, n_symbols)
    visit = visit_order(data, order)
    labels, leaders = leader_grouping(X, eps, visit)
    rank = np.empty(n_rows, dtype=np.int64)
    rank[visit] = np.arange(n_rows)
    trans, outs, n_conflicts = _assemble(labels, leaders.size, parent, symbol, rank, out_cls,
                                         n_symbols, conflict_rule)
    return Extraction(DFA(trans, outs, int(labels[0])), labels, leaders, n_conflicts, float(eps))


def fidelity(dfa: DFA, sequences_by_length: Mapping[int, np.ndarray],
             network_classes_by_length: Mapping[int, np.ndarray]) -> dict[int, float]:
    """Fraction of strings, per length, on which automaton and network output the same class.

    ``sequences_by_length[n]`` is an ``(B, n)`` token matrix and
    ``network_classes_by_length[n]`` the network's ``(B,)`` argmax classes on it. A string
    on which the automaton is undefined counts as a disagreement.
    """
    result = {}
    for length, toks in sequences_by_length.items():
        net = np.asarray(network_classes_by_length[length])
        toks = np.asarray(toks)
        if toks.ndim != 2 or net.shape != (toks.shape[0],):
            raise ValueError(f"network_classes_by_length[{length}] must have shape ({toks.shape[0]},) "
                             f"matching sequences_by_length[{length}] of shape (B, n)")
        result[int(length)] = float(np.mean(dfa.output(toks) == net))
    return result


# ---------------------------------------------------------------- history over epochs


@dataclass(frozen=True)
class StateCountHistory:
    """State counts of the automata extracted at each tracked epoch.

    ``raw`` number of groups (states) per epoch; ``minimal`` size of the minimised
    automaton (``None`` if no outputs were given); ``finite`` whether every state has every
    transition; ``n_conflicts`` disagreeing (state, symbol) pairs; ``labels``
    ``(n_epochs, n_rows)`` group id of every candidate row; ``eps`` the merge distance.
    """

    raw: np.ndarray
    minimal: np.ndarray | None
    finite: np.ndarray
    n_conflicts: np.ndarray
    labels: np.ndarray
    eps: float


def state_count_history(hidden: np.ndarray, data: SequenceSet, *, eps: float,
                        outputs: np.ndarray | None = None, order: str = "canonical",
                        conflict_rule: str = "first", n_symbols: int | None = None,
                        progress: bool = False) -> StateCountHistory:
    """Raw and minimised state counts of the automaton at every tracked epoch.

    ``hidden`` ``(n_epochs, 1 + len(data), P)`` (float32 is used as is; no copy of the
    whole array); ``outputs`` ``(n_epochs, 1+n)`` classes or ``(n_epochs, 1+n, n_out)``
    values, needed for the minimal counts (``readout`` of the tracked hidden states).
    Same rules as ``extract_automaton``, at fixed ``eps`` for all epochs.
    """
    check_choice("conflict_rule", conflict_rule, CONFLICT_RULES)
    eps = float(check_nonnegative("eps", eps))
    H = np.asarray(hidden)
    n_rows = len(data) + 1
    if H.ndim != 3 or H.shape[1] != n_rows:
        raise ValueError(f"hidden must have shape (n_epochs, {n_rows}, P) (got {H.shape})")
    n_epochs = H.shape[0]
    if outputs is not None:
        outputs = np.asarray(outputs)
        if outputs.shape[:2] != (n_epochs, n_rows):
            raise ValueError(f"outputs must have leading shape ({n_epochs}, {n_rows}) (got {outputs.shape})")
    n_symbols = infer_n_symbols(data) if n_symbols is None else check_int("n_symbols", n_symbols, minimum=1)
    parent, symbol = prefix_parents(data, n_symbols)
    visit = visit_order(data, order)
    rank = np.empty(n_rows, dtype=np.int64)
    rank[visit] = np.arange(n_rows)
    raw = np.empty(n_epochs, dtype=np.int64)
    finite = np.empty(n_epochs, dtype=bool)
    conflicts = np.empty(n_epochs, dtype=np.int64)
    minimal = None if outputs is None else np.empty(n_epochs, dtype=np.int64)
    labels_all = np.empty((n_epochs, n_rows), dtype=np.int32)
    dummy = np.zeros(n_rows, dtype=np.int64)
    V = None
    epochs = range(n_epochs)
    if progress:
        from tqdm import tqdm
        epochs = tqdm(epochs, desc="automata", unit="epoch")
    for e in epochs:
        labels, leaders, V = _group(H[e], visit, eps, V, refresh=e % 10 == 0)
        out_cls = dummy if outputs is None else _output_classes(outputs[e], n_rows)
        trans, outs, n_conf = _assemble(labels, leaders.size, parent, symbol, rank, out_cls,
                                        n_symbols, conflict_rule)
        labels_all[e] = labels
        raw[e] = leaders.size
        finite[e] = bool(np.all(trans >= 0))
        conflicts[e] = n_conf
        if minimal is not None:
            minimal[e] = minimal_size(DFA(trans, outs, int(labels[0])))
    return StateCountHistory(raw, minimal, finite, conflicts, labels_all, eps)
