"""The prefix trie lists every distinct prefix once, in level-major lexicographic order."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnn.parity.data import all_sequences
from rnn.parity.prefix_trie import build_trie


@st.composite
def token_sets(draw):
    n_tokens = draw(st.integers(1, 3))
    width = draw(st.integers(1, 6))
    n = draw(st.integers(1, 25))
    lengths = np.array(draw(st.lists(st.integers(0, width), min_size=n, max_size=n)))
    flat = draw(st.lists(st.integers(0, n_tokens - 1), min_size=n * width, max_size=n * width))
    tokens = np.array(flat, dtype=np.int8).reshape(n, width)
    tokens[np.arange(width)[None, :] >= lengths[:, None]] = -1
    return tokens, lengths, n_tokens


@settings(max_examples=60)
@given(token_sets())
def test_trie_nodes_are_the_distinct_prefixes(case):
    tokens, lengths, n_tokens = case
    trie = build_trie(tokens, lengths, n_tokens)
    prefix = {0: ()}
    for t in range(1, trie.depth + 1):
        for j, (parent, token) in enumerate(zip(trie.parents[t - 1], trie.tokens[t - 1])):
            prefix[int(trie.offsets[t]) + j] = prefix[int(trie.offsets[t - 1]) + int(parent)] + (int(token),)
    # independent route: enumerate all prefixes of all sequences with Python sets
    expected = sorted({tuple(int(v) for v in tokens[i, :m]) for i in range(len(lengths))
                       for m in range(lengths[i] + 1)}, key=lambda s: (len(s), s))
    assert [prefix[k] for k in range(trie.n_nodes)] == expected
    for i in range(len(lengths)):
        assert prefix[int(trie.ends[i])] == tuple(int(v) for v in tokens[i, : lengths[i]])


def test_full_parity_trie_has_one_node_per_sequence():
    data = all_sequences(10)
    trie = build_trie(data.tokens, data.lengths)
    assert list(trie.level_sizes()) == [2**t for t in range(11)]
    np.testing.assert_array_equal(trie.ends, np.arange(1, 2047))


@pytest.mark.parametrize("tokens, lengths, message", [
    (np.zeros((2, 3), np.int8), np.array([1, 4]), "lengths"),
    (np.array([[0, 2]], np.int8), np.array([2]), "tokens"),
    (np.zeros((2, 3), np.int8), np.array([1]), "lengths"),
])
def test_trie_rejects_bad_input(tokens, lengths, message):
    with pytest.raises(ValueError, match=message):
        build_trie(tokens, lengths, 2)
