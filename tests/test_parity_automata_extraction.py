"""Automaton extraction (P25 App. A) against slow, literal reference implementations."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from rnn import automata as A
from rnn.parity.data import all_sequences, parity, sample_sequences


def slow_grouping(X, eps, order):
    """The definition, literally: join the first group whose first member is closer than eps."""
    groups = []  # lists of rows; groups[g][0] is the leader
    labels = np.full(len(X), -1)
    for r in order:
        for g, members in enumerate(groups):
            if np.linalg.norm(X[r] - X[members[0]]) < eps:
                members.append(r)
                labels[r] = g
                break
        else:
            groups.append([r])
            labels[r] = len(groups) - 1
    return labels


def slow_extract(X, data, eps, out_cls, order, rule):
    """Transitions/outputs from string labels with dicts, as App. A describes them."""
    strings = [""] + data.labels()
    visit = A.visit_order(data, order)
    labels = slow_grouping(X, eps, visit)
    row_of = {s: r for r, s in enumerate(strings)}
    rank = {r: i for i, r in enumerate(visit)}
    n_states = labels.max() + 1
    members = {g: sorted((r for r in range(len(strings)) if labels[r] == g), key=rank.get) for g in range(n_states)}
    trans = -np.ones((n_states, 2), int)
    dests = {}
    if rule == "first":
        for g in range(n_states):
            for r in members[g]:  # source members in visiting order
                for a in (0, 1):
                    child = row_of.get(strings[r] + str(a))
                    if child is not None and trans[g, a] < 0:
                        trans[g, a] = labels[child]
    else:
        for g in range(n_states):  # destination groups, members in visiting order; last write wins
            for r in members[g]:
                if r == 0:
                    continue
                parent = row_of.get(strings[r][:-1])
                if parent is not None:
                    trans[labels[parent], int(strings[r][-1])] = g
    for r in range(1, len(strings)):
        parent = row_of.get(strings[r][:-1])
        if parent is not None:
            dests.setdefault((labels[parent], strings[r][-1]), set()).add(labels[r])
    conflicts = sum(len(v) > 1 for v in dests.values())
    outputs = []
    for g in range(n_states):
        m = [r for r in members[g] if r != 0] or [0]
        outputs.append(out_cls[m[0]])
    return labels, trans, np.array(outputs), conflicts


@given(seed=st.integers(0, 10_000), scale=st.floats(0.05, 2.0), order=st.sampled_from(A.ORDERS),
       rule=st.sampled_from(A.CONFLICT_RULES))
def test_extraction_matches_literal_reference(seed, scale, order, rule):
    rng = np.random.default_rng(seed)
    data = sample_sequences(5, 0.7, rng)
    n = len(data) + 1
    # few random cluster centres plus noise of the order of eps: many merges, some conflicts
    centres = rng.normal(size=(6, 8))
    X = centres[rng.integers(6, size=n)] + scale * rng.normal(size=(n, 8))
    out_cls = rng.integers(2, size=n)
    eps = 1.5
    ex = A.extract_automaton(X, data, eps=eps, outputs=out_cls, order=order, conflict_rule=rule)
    labels, trans, outs, conflicts = slow_extract(X, data, eps, out_cls, order, rule)
    np.testing.assert_array_equal(ex.labels, labels)
    np.testing.assert_array_equal(ex.dfa.transitions, trans)
    np.testing.assert_array_equal(ex.dfa.outputs, outs)
    assert ex.n_conflicts == conflicts
    assert ex.dfa.start == labels[0]


@given(seed=st.integers(0, 10_000), n=st.integers(1, 300), dim=st.integers(1, 12),
       eps=st.floats(0.0, 3.0))
def test_leader_grouping_matches_definition(seed, n, dim, eps):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, dim)) * rng.uniform(0.1, 3.0, size=dim)
    order = rng.permutation(n)
    labels, leaders = A.leader_grouping(X, eps, order)
    np.testing.assert_array_equal(labels, slow_grouping(X, eps, order))
    np.testing.assert_array_equal(labels[leaders], np.arange(leaders.size))


def test_known_clusters_are_recovered():
    rng = np.random.default_rng(0)
    centres = 10 * rng.normal(size=(5, 50))
    truth = rng.integers(5, size=400)
    X = centres[truth] + 1e-3 * rng.normal(size=(400, 50))
    labels, leaders = A.leader_grouping(X, 0.5)
    assert leaders.size == len(np.unique(truth))
    # same partition, ids in order of first appearance
    _, first = np.unique(truth, return_index=True)
    relabel = {t: i for i, t in enumerate(truth[np.sort(first)])}
    np.testing.assert_array_equal(labels, [relabel[t] for t in truth])


def test_parity_like_hidden_states_give_the_parity_automaton():
    data = all_sequences(8)
    par = np.concatenate([[0], parity(data.tokens)])
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2, 30))[par] + 1e-4 * rng.normal(size=(len(par), 30))
    ex = A.extract_automaton(X, data, eps=0.01, outputs=np.eye(2)[par])
    assert ex.dfa.n_states == 2 and ex.dfa.is_finite and ex.n_conflicts == 0
    assert A.equivalent(ex.dfa, A.parity_dfa()) and A.equivalent(A.parity_dfa(), ex.dfa)
    np.testing.assert_array_equal(A.minimize(ex.dfa).transitions, A.parity_dfa().transitions)


def test_distinct_states_give_the_prefix_tree():
    data = all_sequences(4)
    X = np.random.default_rng(2).normal(size=(len(data) + 1, 10))
    ex = A.extract_automaton(X, data, eps=1e-6, outputs=np.zeros(len(data) + 1, int))
    assert ex.dfa.n_states == 31 and not ex.dfa.is_finite
    # the tree reads every string of length <= 4 to its own state; constant output minimises to
    # a chain 'depth d' (states differ only in how far they stay defined): 5 states
    assert A.minimize(ex.dfa).n_states == 5
    np.testing.assert_array_equal(ex.dfa.run(data.tokens), np.arange(1, 31))


def test_reference_visit_order_is_string_order_with_initial_last():
    data = all_sequences(3)
    order = A.visit_order(data, "reference")
    labels = ["initial"] + data.labels()
    assert [labels[r] for r in order] == sorted(labels)


def test_prefix_parents_of_a_sampled_set():
    rng = np.random.default_rng(3)
    data = sample_sequences(6, 0.5, rng)
    parent, symbol = A.prefix_parents(data)
    strings = [""] + data.labels()
    index = {s: r for r, s in enumerate(strings)}
    for r in range(1, len(strings)):
        assert parent[r] == index.get(strings[r][:-1], -1)
        assert symbol[r] == int(strings[r][-1])
    assert parent[0] == -1


def test_std_norm_conventions():
    rng = np.random.default_rng(4)
    H = rng.normal(size=(5, 40, 7)) * np.arange(1, 6)[:, None, None]
    pooled = np.linalg.norm(H.reshape(-1, 7).std(axis=0))
    final = np.linalg.norm(H[-1].std(axis=0))
    assert A.std_norm(H, "pooled") == pytest.approx(pooled, rel=1e-12)
    assert A.std_norm(H, "final") == pytest.approx(final, rel=1e-12)
    assert A.std_norm(H[-1]) == pytest.approx(final, rel=1e-12)


def test_bad_input_is_rejected():
    data = all_sequences(2)
    X = np.zeros((len(data) + 1, 3))
    with pytest.raises(ValueError, match="eps"):
        A.extract_automaton(X, data, eps=-1.0, outputs=np.zeros(len(data) + 1, int))
    with pytest.raises(ValueError, match="hidden"):
        A.extract_automaton(X[1:], data, eps=1.0, outputs=np.zeros(len(data) + 1, int))
    with pytest.raises(ValueError, match="order"):
        A.extract_automaton(X, data, eps=1.0, outputs=np.zeros(len(data) + 1, int), order="random")
    with pytest.raises(ValueError, match="conflict_rule"):
        A.extract_automaton(X, data, eps=1.0, outputs=np.zeros(len(data) + 1, int), conflict_rule="last")
    with pytest.raises(ValueError, match="convention"):
        A.std_norm(X, "mean")
    with pytest.raises(ValueError, match="transitions"):
        A.DFA(np.array([[0, 2]]), np.array([0]))


def test_non_finite_hidden_states_are_rejected():
    data = all_sequences(2)
    X = np.zeros((len(data) + 1, 3))
    X[2, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        A.extract_automaton(X, data, eps=1.0, outputs=np.zeros(len(data) + 1, int))
    with pytest.raises(ValueError, match="finite"):
        A.state_count_history(np.stack([np.zeros_like(X), X]), data, eps=1.0)
