"""Hopcroft minimisation, equivalence, fidelity, random DFAs and the per-epoch state-count history."""
import itertools

import numpy as np
import pytest
from hypothesis import given, strategies as st

from rnn import automata as A
from rnn.parity.data import all_sequences, parity
from rnn.automata.random_dfa import CODE_NEW_STATE_PROBABILITY, dfa_targets, random_dfa


def behaviour_classes(dfa):
    """Brute force Myhill–Nerode: reachable states grouped by their outputs on all strings of length < n+1."""
    n = dfa.n_states
    words = [w for length in range(n + 1) for w in itertools.product(range(dfa.n_symbols), repeat=length)]

    def walk(s, w):
        for a in w:
            if s < 0:
                return -1
            s = dfa.transitions[s, a]
        return s

    reach = {walk(dfa.start, w) for w in words} - {-1}
    signatures = set()
    for s in reach:
        sig = []
        for w in words:
            t = walk(s, w)
            sig.append(None if t < 0 else int(dfa.outputs[t]))
        signatures.add(tuple(sig))
    return len(signatures)


@st.composite
def dfas(draw, partial=True):
    n = draw(st.integers(1, 8))
    k = draw(st.integers(1, 3))
    lo = -1 if partial else 0
    trans = np.array(draw(st.lists(st.lists(st.integers(lo, n - 1), min_size=k, max_size=k), min_size=n, max_size=n)))
    outs = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)))
    return A.DFA(trans, outs, draw(st.integers(0, n - 1)))


@given(dfas())
def test_minimise_is_equivalent_and_minimal(dfa):
    m = A.minimize(dfa)
    assert A.equivalent(dfa, m) and A.equivalent(m, dfa)
    assert m.n_states == behaviour_classes(dfa)
    assert A.minimal_size(dfa) == m.n_states  # vectorised Moore route agrees with Hopcroft
    assert A.minimize(m).n_states == m.n_states
    np.testing.assert_array_equal(A.minimize(m).transitions, m.transitions)  # canonical form is a fixed point


@given(dfas(partial=False), st.data())
def test_changed_output_is_detected_with_a_witness(dfa, data):
    m = A.minimize(dfa)
    q = data.draw(st.integers(0, m.n_states - 1))
    other = A.DFA(m.transitions, np.where(np.arange(m.n_states) == q, m.outputs + 1, m.outputs), m.start)
    word = A.distinguishing_string(dfa, other)
    assert word is not None and not A.equivalent(other, dfa)
    assert dfa.output(np.array(word, dtype=np.int64)) != other.output(np.array(word, dtype=np.int64))


def test_textbook_divisible_by_three_with_duplicates():
    # residue of a binary number mod 3, every state duplicated (copy c switches on each 1)
    trans, outs = [], []
    for r in range(3):
        for c in range(2):
            trans.append([2 * ((2 * r) % 3) + c, 2 * ((2 * r + 1) % 3) + (1 - c)])
            outs.append(int(r == 0))
    dfa = A.DFA(np.array(trans), np.array(outs), 0)
    m = A.minimize(dfa)
    assert m.n_states == 3
    words = np.array(list(itertools.product((0, 1), repeat=7)))
    values = words @ (2 ** np.arange(6, -1, -1))
    np.testing.assert_array_equal(m.output(words), (values % 3 == 0).astype(int))


def test_parity_dfa_is_minimal_and_unequal_to_its_complement():
    p = A.parity_dfa()
    assert A.minimize(p).n_states == 2 and p.is_finite
    flipped = A.DFA(p.transitions, 1 - p.outputs, 0)
    assert A.distinguishing_string(p, flipped) == ()
    # a partial automaton is not equivalent to its completion
    partial = A.DFA(np.array([[0, -1]]), np.array([0]))
    assert not A.equivalent(partial, A.DFA(np.array([[0, 0]]), np.array([0])))


def test_fidelity_by_length():
    rng = np.random.default_rng(0)
    seqs = {n: rng.integers(0, 2, size=(40, n)) for n in (5, 100, 1000)}
    net = {n: parity(s) for n, s in seqs.items()}
    assert A.fidelity(A.parity_dfa(), seqs, net) == {5: 1.0, 100: 1.0, 1000: 1.0}
    net[100] = np.where(np.arange(40) < 10, 1 - net[100], net[100])
    assert A.fidelity(A.parity_dfa(), seqs, net)[100] == pytest.approx(0.75)
    partial = A.DFA(np.array([[0, -1]]), np.array([0]))  # undefined on strings with a 1
    zeros = {3: np.zeros((2, 3), int), 4: np.array([[0, 0, 0, 1], [0, 0, 0, 0]])}
    assert A.fidelity(partial, zeros, {3: np.zeros(2, int), 4: np.zeros(2, int)}) == {3: 1.0, 4: 0.5}


def test_state_count_history_matches_per_epoch_extraction():
    data = all_sequences(5)
    rng = np.random.default_rng(1)
    n = len(data) + 1
    par = np.concatenate([[0], parity(data.tokens)])
    # epochs go from "all distinct" to "two parity clusters" to "noisy clusters with conflicts"
    tree = rng.normal(size=(n, 12))
    clusters = rng.normal(size=(2, 12))[par]
    mix = np.linspace(0, 1, 9)[:, None, None]
    H = ((1 - mix) * tree + mix * clusters + 0.02 * rng.normal(size=(9, n, 12))).astype(np.float32)
    outputs = rng.normal(size=(9, n, 2))
    eps = 0.1 * A.std_norm(H, "pooled")
    for rule in A.CONFLICT_RULES:
        hist = A.state_count_history(H, data, eps=eps, outputs=outputs, conflict_rule=rule, order="reference")
        for e in range(9):
            ex = A.extract_automaton(H[e], data, eps=eps, outputs=outputs[e], conflict_rule=rule, order="reference")
            assert hist.raw[e] == ex.dfa.n_states
            assert hist.minimal[e] == A.minimize(ex.dfa).n_states
            assert hist.finite[e] == ex.dfa.is_finite
            assert hist.n_conflicts[e] == ex.n_conflicts
            np.testing.assert_array_equal(hist.labels[e], ex.labels)
    assert hist.raw[0] == n and hist.raw[-1] <= 4
    assert A.state_count_history(H, data, eps=eps).minimal is None


def test_random_dfa_generator():
    a, b = random_dfa(7, seed=3), random_dfa(7, seed=3)
    np.testing.assert_array_equal(a.transitions, b.transitions)
    np.testing.assert_array_equal(a.outputs, b.outputs)
    sizes = [random_dfa(7, seed=s).n_states for s in range(50)]
    assert max(sizes) <= 7 and min(sizes) >= 1
    # the paper's p_new = 0.75 grows larger automata than the code's 0.6
    assert np.mean(sizes) > np.mean([random_dfa(7, p_new=CODE_NEW_STATE_PROBABILITY, seed=s).n_states
                                     for s in range(50)])
    assert random_dfa(5, p_new=1.0, seed=0).n_states == 5
    assert random_dfa(5, p_new=0.0, seed=0).n_states == 1
    for s in range(20):
        d = random_dfa(6, seed=s, n_symbols=3, n_outputs=3)
        assert d.is_finite and A.reachable_states(d).all()
    with pytest.raises(ValueError, match="p_new"):
        random_dfa(5, p_new=1.5)


def test_dfa_targets_follow_the_automaton():
    data = all_sequences(6)
    d = random_dfa(7, seed=11)
    targets = dfa_targets(d, data)
    for i in range(0, len(data), 7):
        s = d.start
        for tok in data.sequence(i):
            s = d.transitions[s, tok]
        assert targets[i] == d.outputs[s]
    np.testing.assert_array_equal(dfa_targets(A.parity_dfa(), data), parity(data.tokens))


def test_output_classes_per_epoch_readouts():
    rng = np.random.default_rng(5)
    H = rng.normal(size=(3, 7, 4))
    W = rng.normal(size=(3, 2, 4))
    b = rng.normal(size=(3, 2))
    got = A.output_classes(H, W, b)
    for e in range(3):
        np.testing.assert_array_equal(got[e], np.argmax(H[e] @ W[e].T + b[e], axis=1))
    np.testing.assert_array_equal(A.output_classes(H[1], W[1], b[1]), got[1])
    np.testing.assert_array_equal(A.output_classes(H, W[0], b[0])[2], np.argmax(H[2] @ W[0].T + b[0], axis=1))
    with pytest.raises(ValueError, match="W_hy"):
        A.output_classes(H, W[:2], b[:2])


def test_draw_dfa_draws_every_state_and_refuses_huge_automata():
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.patches import Circle

    from rnn.automata.drawing import draw_dfa
    d = A.minimize(random_dfa(6, seed=2))
    ax = draw_dfa(d)
    circles = [p for p in ax.patches if isinstance(p, Circle)]
    # one circle per state plus one per state with a self-loop
    n_loop_states = int(np.sum(np.any(d.transitions == np.arange(d.n_states)[:, None], axis=1)))
    assert len(circles) == d.n_states + n_loop_states
    with pytest.raises(ValueError, match="max_states"):
        draw_dfa(A.DFA(np.zeros((50, 2), int), np.zeros(50, int)))
