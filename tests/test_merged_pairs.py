"""Merged-pair analysis (P25 §4.2 / Fig. 7) against brute force over all pairs."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from rnn.automata import DFA, parity_dfa
from rnn.measure.merged_pairs import future_classes, merged_pair_indices, merged_pairs
from rnn.parity.data import all_sequences, parity, sample_sequences
from rnn.automata.random_dfa import random_dfa


def brute_force(labels, data, target):
    L = data.max_length
    agreeing = np.zeros((L + 1, L + 1), int)
    merged_agree = np.zeros((L + 1, L + 1), int)
    merged_disagree = np.zeros((L + 1, L + 1), int)

    # the future of a string: outputs on every continuation up to length n_states (long enough to
    # separate any two inequivalent states), tabulated per target state and looked up per string
    conts = [c for n in range(target.n_states + 1) for c in itertools.product(range(target.n_symbols), repeat=n)]

    def future_of_state(q):
        out = []
        for c in conts:
            s = q
            for a in c:
                s = target.transitions[s, a]
            out.append(int(target.outputs[s]))
        return tuple(out)

    table = [future_of_state(q) for q in range(target.n_states)]
    fut = [table[q] for q in target.run(data.tokens)]
    for i, j in itertools.combinations(range(len(data)), 2):
        a, b = sorted((data.lengths[i], data.lengths[j]))
        same_group = labels[i + 1] == labels[j + 1]
        if fut[i] == fut[j]:
            agreeing[a, b] += 1
            merged_agree[a, b] += same_group
        else:
            merged_disagree[a, b] += same_group
    sym = lambda m: m + np.triu(m, 1).T
    return sym(agreeing), sym(merged_agree), sym(merged_disagree)


@settings(max_examples=25)
@given(seed=st.integers(0, 1000), n_groups=st.integers(1, 12), use_random_target=st.booleans())
def test_counts_match_brute_force(seed, n_groups, use_random_target):
    rng = np.random.default_rng(seed)
    data = sample_sequences(5, 0.5, rng)
    target = random_dfa(4, seed=seed) if use_random_target else parity_dfa()
    labels = rng.integers(n_groups, size=len(data) + 1)
    res = merged_pairs(labels, data, target=target)
    agreeing, merged_agree, merged_disagree = brute_force(labels, data, target)
    np.testing.assert_array_equal(res.agreeing_by_length, agreeing)
    np.testing.assert_array_equal(res.merged_agreeing_by_length, merged_agree)
    np.testing.assert_array_equal(res.merged_disagreeing_by_length, merged_disagree)
    upper = np.triu_indices(data.max_length + 1)
    assert res.merged == merged_agree[upper].sum() + merged_disagree[upper].sum()
    i, j = merged_pair_indices(labels)
    assert i.size == res.merged and np.all(labels[i + 1] == labels[j + 1]) and np.all(i < j)


def test_parity_grouping_merges_only_agreeing_pairs():
    data = all_sequences(6)
    par = parity(data.tokens)
    labels = np.concatenate([[0], par])
    res = merged_pairs(labels, data)
    n1 = int(par.sum())
    n0 = len(data) - n1
    assert res.all_merged_agree and res.merged == n0 * (n0 - 1) // 2 + n1 * (n1 - 1) // 2
    has_agreeing = res.agreeing_by_length > 0
    np.testing.assert_array_equal(np.isnan(res.merged_fraction), ~has_agreeing)
    np.testing.assert_allclose(res.merged_fraction[has_agreeing], 1.0)
    # one big group merges every pair, half of them disagree in parity
    res_all = merged_pairs(np.zeros(len(data) + 1, int), data)
    assert res_all.merged == len(data) * (len(data) - 1) // 2
    assert res_all.merged_disagreeing == n0 * n1 and not res_all.all_merged_agree
    # all separate: nothing merged, fractions zero where agreeing pairs exist
    res_none = merged_pairs(np.arange(len(data) + 1), data)
    assert res_none.merged == 0 and np.nanmax(res_none.merged_fraction) == 0.0


def test_redundant_target_description_gives_same_classes():
    data = all_sequences(5)
    redundant = DFA(np.array([[1, 2], [0, 3], [3, 0], [2, 1]]), np.array([0, 0, 1, 1]))  # parity, 4 states
    np.testing.assert_array_equal(future_classes(data, redundant), future_classes(data))


def test_bad_labels_shape():
    data = all_sequences(3)
    with pytest.raises(ValueError, match="labels"):
        merged_pairs(np.zeros(len(data)), data)
