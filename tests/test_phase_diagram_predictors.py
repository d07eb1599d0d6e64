"""Predictors of the phase diagram, their out-of-sample scoring and the per-network features they read."""
from __future__ import annotations

from itertools import product

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interaction.cliutil import run_cli
from validation.merger_phase_diagram import PhaseDiagramConfig
from validation.merger_phase_diagram import crossval
from validation.merger_phase_diagram.cli import main
from validation.merger_phase_diagram.crossval import block_folds, evaluate, held_out, replicate_folds
from validation.merger_phase_diagram.features import (
    Features,
    network_features,
    score_stability,
    shared_suffix_length,
    suffix_slope,
)
from validation.merger_phase_diagram.measured import KIND_CODES
from validation.merger_phase_diagram.predictors import BASELINES, PREDICTORS, THEORY, fit
from rnn.parity.data import parity, sample_sequences

from tests.test_phase_diagram_measured import _measure, linear_regime_params, own_pair

pytestmark = pytest.mark.usefixtures("one_thread")

R, G, F = 3, 6, 8
GAINS = np.round(np.linspace(0.1, 1.0, G), 6)
FRACTIONS = np.round(np.linspace(0.1, 1.0, F), 6)


def grid_features(score=None, z_min=None, z_median=None) -> Features:
    r, g, f = np.meshgrid(np.arange(R), np.arange(G), np.arange(F), indexing="ij")
    shape = (R, G, F)
    columns = {"fraction": FRACTIONS[f], "log_gain": np.log(GAINS[g]), "replicate": r, "gain_index": g,
               "fraction_index": f, "cell": g * F + f, "score": np.zeros(shape) if score is None else score,
               "score_suffix": np.zeros(shape), "z_min": np.ones(shape) if z_min is None else z_min,
               "z_median": np.ones(shape) if z_median is None else z_median}
    return Features(**{k: np.asarray(v, dtype=float if k in ("fraction", "log_gain", "score", "score_suffix",
                                                               "z_min", "z_median") else int).ravel()
                       for k, v in columns.items()})


# ----------------------------------------------------------------------------- planted boundaries

def test_the_fraction_threshold_recovers_a_planted_data_threshold():
    x = grid_features()
    observed = x.fraction >= 0.5
    fitted = fit("fraction", x, observed)
    below, above = FRACTIONS[FRACTIONS < 0.5].max(), FRACTIONS[FRACTIONS >= 0.5].min()
    assert below < fitted.params["p_star"] < above
    np.testing.assert_array_equal(fitted.predict(x), observed)


@pytest.mark.parametrize("side", ["below", "above"])
def test_the_gain_threshold_recovers_a_planted_gain_boundary_on_either_side(side):
    x = grid_features()
    observed = np.exp(x.log_gain) <= 0.45 if side == "below" else np.exp(x.log_gain) > 0.45
    fitted = fit("gain", x, observed)
    assert fitted.params["side"] == side
    np.testing.assert_array_equal(fitted.predict(x), observed)


def test_logistic_regression_recovers_a_planted_oblique_boundary_and_its_direction():
    x = grid_features()
    margin = 3.0 * x.fraction + 1.0 * x.log_gain - 1.2          # a straight line in (p, log gain)
    observed = margin > 0
    fitted = fit("logistic", x, observed)
    np.testing.assert_array_equal(fitted.predict(x), observed)
    ratio = fitted.params["log_gain"] / fitted.params["fraction"]
    assert fitted.params["fraction"] > 0 and ratio == pytest.approx(1 / 3, rel=0.35)
    prob = fitted.probability(x)
    assert np.all((prob > 0) & (prob < 1)) and np.all((prob >= 0.5) == observed)


def test_cell_majority_reproduces_each_cell_and_falls_back_to_the_overall_majority():
    x = grid_features()
    rng = np.random.default_rng(0)
    cell_truth = rng.random(G * F) < 0.3
    observed = cell_truth[x.cell].copy()
    observed[x.replicate == 0] = ~observed[x.replicate == 0]       # one replicate in three dissents
    fitted = fit("cell_majority", x, observed)
    np.testing.assert_array_equal(fitted.predict(x), cell_truth[x.cell])
    unseen = x.take(x.cell == 0)
    held = fit("cell_majority", x.take(x.cell != 0), observed[x.cell != 0])
    assert np.all(held.predict(unseen) == (observed[x.cell != 0].mean() >= 0.5))


def test_the_constant_predicts_the_majority_with_the_base_rate():
    x = grid_features()
    observed = x.fraction > 0.3
    fitted = fit("constant", x, observed)
    assert fitted.predict(x).all() and np.allclose(fitted.probability(x), observed.mean())


@pytest.mark.parametrize("name, column", [("eq9", "score"), ("eq9_suffix", "score_suffix")])
def test_score_predictors_recover_a_planted_log_c(name, column):
    rng = np.random.default_rng(1)
    score = rng.normal(0, 2, (R, G, F))
    x = grid_features(score=score)
    x = Features(**{**vars(x), column: score.ravel()})
    observed = x.score > 0.7 if column == "score" else x.score_suffix > 0.7
    fitted = fit(name, x, observed)
    s = np.sort(score.ravel())
    assert s[s <= 0.7].max() < fitted.params["log_C"] < s[s > 0.7].min()
    np.testing.assert_array_equal(fitted.predict(x), observed)


@pytest.mark.parametrize("name, column", [("measured_min", "z_min"), ("measured_median", "z_median")])
def test_measured_predictors_recover_a_planted_kappa_the_right_way_round(name, column):
    rng = np.random.default_rng(2)
    z = np.exp(rng.uniform(-3, 3, (R, G, F)))
    z[0, 0, 0] = np.nan                                   # no measured pair: never predicted to merge
    x = grid_features(**{column: z})
    observed = np.nan_to_num(getattr(x, column), nan=np.inf) <= 2.0
    fitted = fit(name, x, observed)
    values = np.sort(z[np.isfinite(z)])
    assert np.log(values[values <= 2].max()) < fitted.params["log_kappa"] < np.log(values[values > 2].min())
    np.testing.assert_array_equal(fitted.predict(x), observed)
    assert not fitted.predict(x)[0]
    wrong = fit(name, x, ~observed)                        # the theory's direction is not fitted
    assert np.mean(wrong.predict(x) == ~observed) < 0.75


# ----------------------------------------------------------------------------- folds

def test_block_folds_partition_the_grid_into_contiguous_blocks():
    x = grid_features()
    folds = block_folds(x.gain_index, x.fraction_index, G, F, 3)
    assert set(folds.tolist()) == set(range(9))
    for k in range(9):
        g, f = x.gain_index[folds == k], x.fraction_index[folds == k]
        assert np.unique(g).size == g.max() - g.min() + 1 and np.unique(f).size == f.max() - f.min() + 1
        # a block holds whole cells: every replicate of each of its cells
        assert np.all(np.bincount(x.cell[folds == k]) [np.unique(x.cell[folds == k])] == R)
    for bad in (1, 7, 2.5, True):
        with pytest.raises(ValueError, match="cv_blocks"):
            block_folds(x.gain_index, x.fraction_index, G, F, bad)
    with pytest.raises(ValueError, match="seeds >= 2"):
        replicate_folds(np.zeros(4, int), 1)


@pytest.mark.parametrize("scheme", ["replicates", "blocks"])
def test_folds_never_share_a_network_between_fit_and_test(scheme, monkeypatch):
    x = grid_features(score=np.random.default_rng(3).normal(size=(R, G, F)))
    observed = x.fraction > 0.4
    seen: list[set] = []
    real_fit = crossval.fit

    def spy(name, features, obs):
        seen.append(set(zip(features.replicate.tolist(), features.cell.tolist())))
        return real_fit(name, features, obs)

    monkeypatch.setattr(crossval, "fit", spy)
    folds = replicate_folds(x.replicate, R) if scheme == "replicates" else block_folds(
        x.gain_index, x.fraction_index, G, F, 2)
    predicted, _ = held_out(PREDICTORS, x, observed, folds)
    assert len(seen) == np.unique(folds).size * len(PREDICTORS)
    networks = list(zip(x.replicate.tolist(), x.cell.tolist()))
    for k, fold in enumerate(np.unique(folds)):
        test = {networks[i] for i in np.flatnonzero(folds == fold)}
        for training in seen[k * len(PREDICTORS):(k + 1) * len(PREDICTORS)]:
            assert not training & test and len(training) + len(test) == x.size
    assert set(predicted) == set(PREDICTORS)


def test_evaluation_out_of_sample_is_no_better_than_in_sample_for_a_per_cell_lookup():
    rng = np.random.default_rng(4)
    x = grid_features(score=rng.normal(size=(R, G, F)))
    observed = rng.random(x.size) < 0.5                   # pure noise: nothing generalises out of sample
    e = evaluate(PREDICTORS, x, observed, n_replicates=R, n_gains=G, n_fractions=F, blocks=2, n_bootstrap=200,
                 seed=0)
    assert e.in_sample["cell_majority"].agreement > 0.7
    assert e.out_of_sample["replicates"]["cell_majority"].agreement < 0.62
    for scheme in ("replicates", "blocks"):
        v = e.verdict[scheme]
        assert v.theory in THEORY and v.baseline in BASELINES and not v.meets_goal
        lo, hi = v.interval
        assert lo <= v.difference <= hi
        assert e.out_of_sample[scheme]["logistic"].log_loss is not None
        assert e.out_of_sample[scheme]["fraction"].log_loss is None


def test_a_theory_that_holds_beats_every_baseline_out_of_sample():
    rng = np.random.default_rng(5)
    score = rng.normal(size=(R, G, F))                    # independent of p and gain
    x = grid_features(score=score)
    e = evaluate(PREDICTORS, x, x.score > 0.2, n_replicates=R, n_gains=G, n_fractions=F, blocks=2,
                 n_bootstrap=200, seed=0)
    for scheme in ("replicates", "blocks"):
        v = e.verdict[scheme]
        assert v.theory == "eq9" and v.outcome == "beats" and v.meets_goal


def test_one_replicate_skips_the_replicate_scheme_and_says_why():
    x = grid_features().take(grid_features().replicate == 0)
    e = evaluate(("constant", "eq9"), x, x.fraction > 0.5, n_replicates=1, n_gains=G, n_fractions=F, blocks=2,
                 n_bootstrap=0, seed=0)
    assert list(e.out_of_sample) == ["blocks"] and "one replicate" in e.skipped["replicates"]
    assert np.isnan(e.in_sample["eq9"].interval).all()


# ----------------------------------------------------------------------------- features

@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 1), max_size=6), st.lists(st.integers(0, 1), max_size=6))
def test_shared_suffix_length_matches_a_direct_count(a, b):
    L = 6
    pad = lambda s: np.array(s + [-1] * (L - len(s)), dtype=np.int8)   # noqa: E731
    k = 0
    while k < min(len(a), len(b)) and a[len(a) - 1 - k] == b[len(b) - 1 - k]:
        k += 1
    assert shared_suffix_length(pad(a), pad(b), np.array(len(a)), np.array(len(b))) == k


def _pair_arrays(prefixes, H0, z, kind):
    n, L = len(prefixes), 5
    p1 = np.full((n, L), -1, np.int8)
    p2 = np.full((n, L), -1, np.int8)
    for i, (a, b) in enumerate(prefixes):
        p1[i, :len(a)], p2[i, :len(b)] = a, b
    lead = (1, 1, 1)
    return {"pair_prefix1": p1.reshape(lead + p1.shape), "pair_prefix2": p2.reshape(lead + p2.shape),
            "pair_m1": np.array([len(a) for a, _ in prefixes]).reshape(lead + (n,)),
            "pair_m2": np.array([len(b) for _, b in prefixes]).reshape(lead + (n,)),
            "pair_H0": np.asarray(H0, float).reshape(lead + (n,)), "pair_z": np.asarray(z, float).reshape(lead + (n,)),
            "pair_kind": np.asarray(kind, np.int8).reshape(lead + (n,)), "pair_ok": np.ones(lead + (n,), bool)}


def test_suffix_slope_recovers_a_planted_decay_per_shared_token():
    rng = np.random.default_rng(6)
    prefixes = [(tuple(rng.integers(0, 2, rng.integers(1, 6))), tuple(rng.integers(0, 2, rng.integers(1, 6))))
                for _ in range(200)]
    L = 5
    pad = lambda s: np.array(list(s) + [-1] * (L - len(s)))    # noqa: E731
    k = np.array([shared_suffix_length(pad(a), pad(b), np.array(len(a)), np.array(len(b))) for a, b in prefixes])
    arrays = _pair_arrays(prefixes, np.exp(0.3 - 0.9 * k), np.ones(200), np.zeros(200))
    slope, k_back = suffix_slope(arrays)
    np.testing.assert_array_equal(k_back.ravel(), k)
    assert slope.item() == pytest.approx(-0.9)


def test_score_stability_the_minimum_drifts_with_sample_size_the_median_does_not():
    rng = np.random.default_rng(7)
    n = 150
    z = np.exp(rng.normal(0, 1.5, (1, 4, 5, n)))
    arrays = {"pair_z": z, "pair_ok": np.ones(z.shape, bool),
              "pair_kind": np.full(z.shape, KIND_CODES["agree_cross"], np.int8)}
    s = score_stability(arrays, repeats=30, seed=0)
    assert np.all(s.shift_min >= 0) and s.shift_min[0] > 1.0          # a small sample's minimum is far higher
    assert np.all(np.diff(s.shift_min) < 0)                            # and falls as the sample grows
    assert np.all(np.abs(s.shift_median) < 0.3) and s.spread_median[-1] < s.spread_min[0]
    assert np.all(s.networks == 20)


def test_the_population_score_equals_a_brute_force_enumeration_on_a_tiny_network():
    """Every agreeing cross-length pair of a length-4 training set is measured; z by finite differences."""
    phi = lambda x: np.maximum(x, 0.0)    # noqa: E731
    data = sample_sequences(4, 0.8, np.random.default_rng(1))
    targets = parity(data.tokens)
    initial = linear_regime_params(seed=0)
    measured = _measure(initial, None, data, targets, n_pairs=3000)
    prefixes = sorted({data.sequence(i)[:m] for i in range(len(data)) for m in range(1, len(data.sequence(i)) + 1)})
    z = []
    for p1, p2 in product(prefixes, prefixes):
        if not len(p1) < len(p2):
            continue
        seqs = {data.sequence(i) for i in range(len(data))}
        if not any(s[:len(p1)] == p1 and p2 + s[len(p1):] in seqs for s in seqs):
            continue                                                   # no shared continuation
        H0, Y0, S, N = own_pair(initial, data, targets, p1, p2, phi)
        if S == 0:
            z.append(H0 ** 2 / (N * Y0))
    cross = measured["pair_kind"] == KIND_CODES["agree_cross"]
    assert cross.sum() == len(z) > 10                                   # the whole population was measured
    lead = {k: np.asarray(v)[None, None, None] for k, v in measured.items()}
    x = network_features({**lead, "fractions": np.array([0.8]), "gains": np.array([1.0])}, 4, np.zeros((1, 1, 1)))
    assert x.z_median[0] == pytest.approx(np.median(z), rel=1e-6)
    assert x.z_min[0] == pytest.approx(np.min(z), rel=1e-6)


# ----------------------------------------------------------------------------- configuration and CLI

def test_predictor_options_are_checked_before_any_work(capsys, tmp_path):
    with pytest.raises(ValueError, match="predictors"):
        PhaseDiagramConfig(predictors=("eq9", "oracle"))
    with pytest.raises(ValueError, match="predictors"):
        PhaseDiagramConfig(predictors=())
    with pytest.raises(ValueError, match="cv_blocks"):
        PhaseDiagramConfig(cv_blocks=5)                     # the quick grid is 4 x 4
    assert PhaseDiagramConfig(gains=(0.5,), cv_blocks=3).cv_blocks == 3   # one row: the blocks are skipped
    for argv in (["--predictors", "eq9,oracle"], ["--cv-blocks", "9"], ["--predictors", ","]):
        with pytest.raises(SystemExit) as exit_info:
            run_cli(main, "prog", [*argv, "--out", str(tmp_path / "never")])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and ("predictors" in err or "cv-blocks" in err or "cv_blocks" in err)
        assert not (tmp_path / "never").exists()


def test_compare_puts_two_runs_side_by_side_and_refuses_a_single_one(tmp_path, capsys):
    from dataclasses import replace
    import json

    from validation.merger_phase_diagram import analyse
    from validation.merger_phase_diagram.results import save
    from tests.test_phase_diagram_measured import CONFIG, base_arrays, measured_arrays

    rng = np.random.default_rng(8)
    z_min = np.exp(rng.uniform(-3, 3, (CONFIG.seeds, len(CONFIG.gains), len(CONFIG.fractions))))
    arrays = {**base_arrays(z_min <= 2.0, rng), **measured_arrays(z_min, rng)}
    runs = []
    for loss in ("ce", "mse"):
        config = replace(CONFIG, train=replace(CONFIG.train, loss=loss))
        runs.append(tmp_path / loss)
        save(runs[-1], arrays, config, analyse(arrays, config), {})
    out = tmp_path / "cmp"
    assert main(["--compare", *map(str, runs), "--out", str(out)]) == 0
    result = json.loads((out / "comparison.json").read_text())
    assert result["scheme"] == "replicates" and [r["loss"] for r in result["runs"]] == ["ce", "mse"]
    assert set(result["runs"][0]["held_out"]) == set(CONFIG.predictors)
    assert (out / "comparison.png").stat().st_size > 0 and (out / "comparison.pdf").exists()
    assert "best theory" in capsys.readouterr().out
    for argv in (["--compare", str(runs[0])], ["--compare", str(runs[0]), str(tmp_path / "nothing")],
                 ["--compare", *map(str, runs), "--plot-only", str(runs[0])]):
        with pytest.raises(SystemExit) as exit_info:
            run_cli(main, "prog", [*argv, "--out", str(tmp_path / "never")])
        assert exit_info.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize("extra", [["--lr", "0.1"], ["--preset", "paper"], ["--workers", "3"], ["--checkpoints", "none"]])
def test_modes_that_train_nothing_refuse_the_options_they_would_ignore(extra, tmp_path, capsys):
    for mode in (["--plot-only", str(tmp_path)], ["--compare", str(tmp_path), str(tmp_path)]):
        with pytest.raises(SystemExit) as exit_info:
            run_cli(main, "prog", [*mode, *extra])
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 2 and len(err.splitlines()) == 1 and "would ignore" in err, err
    with pytest.raises(SystemExit) as exit_info:                  # analysis options are what --plot-only is for
        run_cli(main, "prog", ["--plot-only", str(tmp_path / "missing"), "--bootstrap", "10"])
    assert "would ignore" not in capsys.readouterr().err
