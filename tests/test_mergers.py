"""Representation-merger measurements (rnn/modular/mergers.py) against brute force and exact cases."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from rnn.modular import mergers as mm
from rnn.modular.data import modular_addition_data


@given(st.sampled_from([5, 7, 11, 13]), st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_additive_representation_has_R_exactly_one(P, D, seed):
    """h(a, b) = f(a) + g(b): every class mean is the grand mean on the full grid, so R = 1."""
    data = modular_addition_data(P, 0.5, 0)
    rng = np.random.default_rng(seed)
    H = rng.normal(size=(P, D))[data.a] + rng.normal(size=(P, D))[data.b]
    assert mm.variance_ratio(H, data.labels) == pytest.approx(1.0, abs=1e-12)


@given(st.sampled_from([5, 7, 11, 13]), st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_perfectly_merged_representation_has_R_zero_and_full_merging_score(P, D, seed):
    data = modular_addition_data(P, 0.5, 0)
    H = np.random.default_rng(seed).normal(size=(P, D))[data.labels]
    assert mm.variance_ratio(H, data.labels) == pytest.approx(0.0, abs=1e-12)
    for mask in (data.train_mask, data.test_mask, None):
        assert mm.merging_score(H, data.labels, mask).M == pytest.approx(1.0, abs=1e-12)


def test_variance_ratio_against_definition_and_chance_correction():
    data = modular_addition_data(13, 0.3, 1)
    rng = np.random.default_rng(0)
    H = rng.normal(size=(169, 6)) + 0.7 * rng.normal(size=(13, 6))[data.labels]
    m = data.train_mask
    X, y = H[m], data.labels[m]
    mu = np.stack([X[y == c].mean(0) for c in y])
    R = np.sum((X - mu) ** 2) / np.sum((X - X.mean(0)) ** 2)
    assert mm.variance_ratio(H, data.labels, m) == pytest.approx(R, rel=1e-12)
    # unstructured representation: R is biased below 1 on a subset, M removes the bias
    noise = rng.normal(size=(169, 6))
    score = mm.merging_score(noise, data.labels, m, n_permutations=20)
    assert score.R < 0.9 and abs(score.M) < 0.1
    assert mm.merging_score(H, data.labels, m).M > 0.3


def brute_force_ratio(X, lx, Y, ly, same_set):
    d = cdist(X, Y)
    same = lx[:, None] == ly[None, :]
    valid = ~np.eye(len(X), dtype=bool) if same_set else np.ones_like(same)
    return d[same & valid].mean() / d[~same & valid].mean()


def test_distance_ratios_exact_and_sampled_against_brute_force():
    data = modular_addition_data(11, 0.4, 0)
    rng = np.random.default_rng(1)
    H = rng.normal(size=(121, 5)) + 0.8 * rng.normal(size=(11, 5))[data.labels]
    for mask in (None, data.train_mask, data.test_mask):
        X = H if mask is None else H[mask]
        y = data.labels if mask is None else data.labels[mask]
        exact = brute_force_ratio(X, y, X, y, True)
        assert mm.distance_ratio(H, data.labels, mask, chunk=17) == pytest.approx(exact, rel=1e-10)
        assert mm.distance_ratio(H, data.labels, mask, n_samples=40_000, seed=3) == pytest.approx(exact, rel=0.02)
    cross = brute_force_ratio(H[data.test_mask], data.labels[data.test_mask], H[data.train_mask],
                              data.labels[data.train_mask], False)
    assert mm.cross_distance_ratio(H, data.labels, data.test_mask, data.train_mask, chunk=7) == pytest.approx(
        cross, rel=1e-10)
    assert mm.cross_distance_ratio(H, data.labels, data.test_mask, data.train_mask, n_samples=40_000,
                                   seed=4) == pytest.approx(cross, rel=0.02)


def test_assignment_accuracy_and_state_count():
    P = 11
    data = modular_addition_data(P, 0.3, 0)
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(P, 4))
    H = centres[data.labels] + 1e-3 * rng.normal(size=(P * P, 4))
    assert mm.assignment_accuracy(H, data.labels, data.train_mask, data.test_mask) == 1.0
    # a relabelled test set is assigned to the wrong classes
    shifted = data.labels.copy()
    shifted[data.test_mask] = (shifted[data.test_mask] + 1) % P
    assert mm.assignment_accuracy(centres[shifted], data.labels, data.train_mask, data.test_mask) == 0.0
    sc = mm.state_count(H, data.labels)
    np.testing.assert_array_equal(sc.n_states, [P, P, P])
    np.testing.assert_array_equal(sc.purity, [1.0, 1.0, 1.0])
    # symmetric (commuted) pairs merged only: P(P+1)/2 states
    a, b = np.minimum(data.a, data.b), np.maximum(data.a, data.b)
    sym = rng.normal(size=(P, P, 8))[a, b]
    assert mm.state_count(sym, data.labels, [0.01]).n_states[0] == P * (P + 1) // 2
    # an unmerged representation
    assert mm.state_count(rng.normal(size=(P * P, 8)), data.labels, [0.05]).n_states[0] == P * P


def test_pair_samples_trajectories_and_theory_connection():
    data = modular_addition_data(13, 0.3, 0)
    pairs = mm.sample_pairs(data.labels, data.train_mask, data.test_mask, n=500, seed=1)
    y = data.labels
    i, j = pairs["agree_train_train"]
    assert np.all(y[i] == y[j]) and np.all(i != j) and data.train_mask[i].all() and data.train_mask[j].all()
    i, j = pairs["disagree_train_train"]
    assert np.all(y[i] != y[j]) and data.train_mask[i].all() and data.train_mask[j].all()
    i, j = pairs["agree_test_train"]
    assert np.all(y[i] == y[j]) and data.test_mask[i].all() and data.train_mask[j].all()
    # same answer -> A_low = 0 (may merge); different answer -> A_low > 0 (never merges, eq. 7)
    assert mm.theory_permits_merger(*y[pairs["agree_train_train"]]).all()
    assert not mm.theory_permits_merger(*y[pairs["disagree_train_train"]]).any()
    np.testing.assert_array_equal(mm.target_separation(np.array([1, 2]), np.array([1, 3])), [0.0, 2.0])
    # normalised distances of a merged representation: agreeing pairs at 0, disagreeing pairs apart
    H = np.random.default_rng(0).normal(size=(13, 3))[y]
    d = {g: mm.normalised_pair_distances(H, p) for g, p in pairs.items()}
    assert mm.merged_fraction(d["agree_test_train"]) == 1.0
    assert mm.merged_fraction(d["disagree_train_train"]) == 0.0


@given(st.integers(1, 40), st.integers(0, 60), st.integers(0, 2**31 - 1))
def test_normalised_pair_distances_equal_cdist(D, n_pairs, seed):
    """The compiled pair-distance loop against scipy's distances, and out-of-range pairs refused."""
    rng = np.random.default_rng(seed)
    H = rng.normal(size=(17, D)).astype(np.float32)
    pairs = rng.integers(0, 17, size=(2, n_pairs))
    expected = cdist(H.astype(np.float64), H.astype(np.float64))[pairs[0], pairs[1]] / mm.representation_scale(H)
    np.testing.assert_allclose(mm.normalised_pair_distances(H, pairs), expected, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"pair indices \(second members\) must lie in \[0, 17\)"):
        mm.normalised_pair_distances(H, np.array([[0], [17]]))
    with pytest.raises(ValueError, match="first members"):
        mm.normalised_pair_distances(H, np.array([[-1], [0]]))


def test_merger_metric_input_validation():
    with pytest.raises(ValueError, match="labels"):
        mm.variance_ratio(np.zeros((4, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="mask"):
        mm.variance_ratio(np.zeros((4, 2)), np.zeros(4), np.ones(3, bool))
    with pytest.raises(ValueError, match="n_samples"):
        mm.distance_ratio(np.ones((4, 2)), np.array([0, 0, 1, 1]), n_samples=0)
    with pytest.raises(ValueError, match="kappas"):
        mm.state_count(np.ones((4, 2)), np.array([0, 0, 1, 1]), [-0.1])


def test_ratio_pairs_drawn_once_give_bit_identical_measurements():
    """What MergerRecorder does (draw the ratios' pairs once) equals drawing them at every call, and each
    sampled ratio equals the standalone function with the same seed; the drawn pairs have the right classes."""
    data = modular_addition_data(13, 0.4, 2)
    y = data.labels
    samples = mm.draw_ratio_samples(y, data.train_mask, data.test_mask, n_samples=500, seed=4)
    pairs = mm.sample_pairs(y, data.train_mask, data.test_mask, n=30, seed=1)
    for H in (np.random.default_rng(5).normal(size=(169, 6)), np.eye(13)[y] + 0.1 * np.arange(169)[:, None]):
        fresh = mm.site_measurements(H, y, data.train_mask, data.test_mask, pairs=pairs, n_samples=500, seed=4)
        drawn = mm.site_measurements(H, y, data.train_mask, data.test_mask, pairs=pairs, n_samples=500, seed=4,
                                     samples=samples)
        assert {k: v for k, v in fresh.items() if k != "pair_distances"} == \
            {k: v for k, v in drawn.items() if k != "pair_distances"}
        for g in pairs:
            np.testing.assert_array_equal(fresh["pair_distances"][g], drawn["pair_distances"][g])
            np.testing.assert_array_equal(drawn["pair_distances"][g], mm.normalised_pair_distances(H, pairs[g]))
        assert drawn["rho_train"] == mm.distance_ratio(H, y, data.train_mask, n_samples=500, seed=4)
        assert drawn["rho_test_train"] == mm.cross_distance_ratio(H, y, data.test_mask, data.train_mask,
                                                                  n_samples=500, seed=4)
        assert drawn["M_test"] == mm.merging_score(H, y, data.test_mask, seed=4).M
        assert drawn["assignment_accuracy"] == mm.assignment_accuracy(H, y, data.train_mask, data.test_mask)
    test, train = y[data.test_mask], y[data.train_mask]
    cross = samples.pairs["test_train"]
    assert np.all(test[cross.i_same] == train[cross.j_same]) and np.all(test[cross.i_diff] != train[cross.j_diff])
    within = samples.pairs["train"]
    assert np.all(within.i_same != within.j_same) and np.all(train[within.i_same] == train[within.j_same])
    with pytest.raises(ValueError, match="samples"):
        mm.site_measurements(H, y, data.train_mask, data.test_mask, n_samples=400, seed=4, samples=samples)
    with pytest.raises(ValueError, match="n_samples"):
        mm.draw_ratio_samples(y, data.train_mask, data.test_mask, n_samples=0)
