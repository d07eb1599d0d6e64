"""Measurement -> fit -> prediction pipeline of validation.pair_dynamics on cases with known answers."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from interaction.cliutil import run_cli
from interaction.closed_form import a_high, will_merge
from interaction.three_scalar import integrate_three_scalar
from rnn.parity import elman
from rnn.parity.ensemble import TrainConfig, train_ensemble
from rnn.measure.pairs import measure_pairs, plan_pairs
from rnn.parity.data import all_sequences, parity
from rnn.parity.snapshots import train_with_snapshots
from validation.pair_dynamics import (PROG, a_high_trajectory, best_threshold, candidate_pairs, confusion,
                                      fit_pair_rates, main, pair_taylor_ratio, roc_auc)


@pytest.mark.parametrize("protocol", ["paper", "full_batch"])
def test_snapshot_trainer_reproduces_train_ensemble(protocol):
    data = all_sequences(4)
    targets = parity(data.tokens)
    config = TrainConfig(hidden=10, max_epochs=6, batch_size=5, protocol=protocol, dtype="float64")
    ens = train_ensemble(data, targets, config=config, seeds=[2], gains=[0.7], track_epochs=[0, 3, 6])
    run = train_with_snapshots(data, targets, config=config, seed=2, gain=0.7, snapshot_epochs=[0, 3, 6])
    assert list(run.snapshot_epochs) == [0, 3, 6] and run.status == ens.status[0] == "capped"
    for key, value in ens.params.items():
        np.testing.assert_allclose(run.snapshots[-1][key].numpy(), value[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(run.train_loss, ens.train_loss[0], rtol=1e-12)
    # hidden states at the tracked epochs agree with the ensemble's tracker
    from rnn.parity.ensemble import hidden_states
    for j, snap in enumerate(run.snapshots):
        np.testing.assert_allclose(hidden_states(snap, data), ens.tracked_hidden[j, 0], atol=1e-12)


def test_identical_prefixes_give_zero_H_Y_W_and_are_not_fitted():
    data = all_sequences(4)
    targets = parity(data.tokens)
    params = elman.init_params(hidden=8, gain=0.8, seed=1, dtype=torch.float64)
    plan = plan_pairs(data, targets, [((0, 1), (0, 1)), ((1,), (1,)), ((0, 1), (1, 0))])
    m = measure_pairs(params, plan)
    np.testing.assert_array_equal(m.H[:2], 0.0)
    np.testing.assert_array_equal(m.Y[:2], 0.0)
    np.testing.assert_array_equal(m.W[:2], 0.0)
    assert m.S[0] == 0 and m.N[0] == 2 ** 3 - 1      # 2^(L - m + 1) - 1 shared continuations
    assert m.H[2] > 0 and m.S[2] == 0                # '01' and '10' have equal parity: agreeing, distinct
    t = np.arange(5.0)
    H = np.zeros((5, 1))
    assert fit_pair_rates(t, H, H, H, np.zeros(1), np.ones(1), fit_initial=False) is None


@pytest.mark.parametrize("S,H0,Y0,W0", [(0.0, 1.0, 0.2, 0.2), (0.0, 0.5, 0.6, 0.6), (2.0, 0.3, 0.1, -0.2)])
def test_synthetic_trajectories_are_fitted_back_and_predict_the_merger(S, H0, Y0, W0):
    N, tau_h, tau_y = 3.0, 4.0, 2.0
    t = np.linspace(0, 150, 31)
    res = integrate_three_scalar(H0, Y0, W0, S=S, N=N, tau_h=tau_h, tau_y=tau_y, t_max=150, t_eval=t)
    assert res.success
    fit = fit_pair_rates(t, res.H[:, None], res.Y[:, None], res.W[:, None], np.array([S]), np.array([N]),
                         fit_initial=False)
    assert fit.success, fit.message
    assert fit.tau_h == pytest.approx(tau_h, rel=1e-3)
    assert fit.tau_y == pytest.approx(tau_y, rel=1e-3)
    kappa = fit.tau_y / fit.tau_h
    A = a_high_trajectory(res.H[:, None], res.Y[:, None], np.array([N]), kappa)[:, 0]
    truth = a_high(H0, Y0, N=N, tau_h=tau_h, tau_y=tau_y)
    np.testing.assert_allclose(A, truth, rtol=1e-4, atol=1e-6)   # eq. 21: conserved along eq. 20
    predicted = will_merge(A[0], 0.0 if S == 0 else 1.0)
    assert bool(predicted) == (S == 0 and truth < 0)
    merged_numerically = res.H[-1] < 1e-3 * H0
    assert bool(predicted) == bool(merged_numerically)


def test_pooled_fit_of_two_pairs_sharing_rates():
    t = np.linspace(0, 40, 21)
    runs = [integrate_three_scalar(*x, S=s, N=n, tau_h=3.0, tau_y=5.0, t_max=40, t_eval=t)
            for x, s, n in (((1.0, 0.3, 0.3), 0.0, 2.0), ((0.4, 0.2, 0.1), 2.0, 1.0))]
    stack = lambda name: np.stack([getattr(r, name) for r in runs], 1)  # noqa: E731
    fit = fit_pair_rates(t, stack("H"), stack("Y"), stack("W"), np.array([0.0, 2.0]), np.array([2.0, 1.0]),
                         fit_initial=False)
    assert fit.success and fit.n_trajectories == 2
    assert fit.tau_h == pytest.approx(3.0, rel=1e-3) and fit.tau_y == pytest.approx(5.0, rel=1e-3)


def test_candidate_pairs_respect_cells_and_are_distinct():
    lengths = all_sequences(4).lengths
    pairs = candidate_pairs(lengths, np.random.default_rng(0), per_cell=3, min_length=2)
    m = lengths[pairs]
    assert np.all(m[:, 0] <= m[:, 1]) and np.all(m >= 2)
    assert np.all(pairs[:, 0] != pairs[:, 1])
    assert len({tuple(p) for p in pairs}) == len(pairs)
    cells, counts = np.unique(m, axis=0, return_counts=True)
    assert len(cells) == 6 and np.all(counts == 3)           # (2,2): C(4,2) = 6 >= 3 pairs available
    assert candidate_pairs(lengths, np.random.default_rng(0), per_cell=50, min_length=1)[:1].size
    one = candidate_pairs(lengths, np.random.default_rng(0), per_cell=50, min_length=1)
    assert np.sum(np.all(lengths[one] == 1, axis=1)) == 1    # only '0'/'1' in the (1,1) cell


def test_pair_taylor_ratio_pools_continuations():
    dy = np.array([[[2.0, 0.0], [0.0, 4.0], [1.0, 0.0], [0.0, 0.0]]])   # first terms ½‖dy‖: 1, 2, 0.5, 0
    tr = np.array([[0.5, 0.25, 2.0, np.nan]])
    pair = np.array([0, 0, 1, 1])
    out = pair_taylor_ratio(tr, dy, pair, 2)
    assert out[0, 0] == pytest.approx(np.sqrt((0.5 ** 2 + 0.5 ** 2) / (1 + 4)))
    assert out[0, 1] == pytest.approx(2.0)


@settings(max_examples=40)
@given(st.lists(st.floats(-5, 5), min_size=2, max_size=12), st.data())
def test_roc_auc_matches_pair_counting(scores, data):
    labels = data.draw(st.lists(st.booleans(), min_size=len(scores), max_size=len(scores)))
    s, y = np.array(scores), np.array(labels)
    auc = roc_auc(s, y)
    if y.all() or not y.any():
        assert np.isnan(auc)
        return
    pairs = [(a, b) for a in s[y] for b in s[~y]]
    assert auc == pytest.approx(np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs]))
    assert roc_auc(-s, y) == pytest.approx(1 - auc)


def test_best_threshold_separates_when_possible():
    z = np.array([0.1, 0.2, 0.5, 3.0, 4.0, np.inf])
    pos = np.array([1, 1, 1, 0, 0, 0], bool)
    k = best_threshold(z, pos)
    assert 0.5 < k < 3.0
    assert np.all((z < k) == pos)


def test_confusion_counts():
    c = confusion(np.array([1, 1, 0, 0, 1], bool), np.array([1, 0, 1, 0, 1], bool))
    assert c == {"tp": 2, "fp": 1, "fn": 1, "tn": 1}


def test_tiny_end_to_end_run_writes_its_files(tmp_path):
    out = tmp_path / "run"
    argv = ["--L", "4", "--hidden", "12", "--gain", "0.5", "--epochs", "16", "--snapshot-every", "4", "--dense-snapshots", "2",
            "--pairs-per-cell", "1", "--fit-pairs", "1", "--pooled-pairs", "2", "--late-epoch", "4",
            "--fe-seeds", "2", "--fe-t-max", "200", "--distance-pairs", "50", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    for stem in ("fig10_right_trajectories", "merger_prediction", "a_high_drift", "taylor_ratio",
                 "mean_distance", "fig10_left_fixed_expansion"):
        assert (out / f"{stem}.png").stat().st_size > 0 and (out / f"{stem}.pdf").stat().st_size > 0
    result = json.loads((out / "results.json").read_text())
    assert result["config"]["epochs"] == 16 and "dependencies" in result["provenance"]
    assert len(result["pairs"]) == result["pairs_total"] > 0
    assert isinstance(result["disagreements"], list)
    npz = np.load(out / "results.npz")
    assert npz["H"].shape == (len(npz["snapshot_epochs"]), result["pairs_total"])
    assert {0, 4, 8, 12, 16} <= set(npz["snapshot_epochs"]) and len(npz["snapshot_epochs"]) <= 7
    # every pair's prediction in the JSON is the closed form applied to its stored A_high, A_low
    for k, p in enumerate(result["pairs"]):
        if p["A_high_start"] is not None:
            assert p["predicted_merge_start"] == bool(will_merge(p["A_high_start"], p["A_low"]))
        assert p["agreeing"] == (p["S"] == 0)
    # a rerun that only changes analysis options reuses the cached training and measurements
    assert main(argv[:-3] + ["--eps-factor", "0.05", "--out", str(out), "--no-progress"]) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["seconds"].get("reused_cache") is True and "reused_cache" not in result["seconds"]
    np.testing.assert_array_equal(np.load(out / "results.npz")["H"], npz["H"])
    assert again["merge_threshold"]["eps"] == pytest.approx(5 * result["merge_threshold"]["eps"])


@pytest.mark.parametrize("argv,needle", [(["--epochs", "-3"], "epochs"), (["--task", "nope"], "task"),
                                         (["--fe-lengths", "1"], "fe-lengths"),
                                         (["--fraction", "0"], "fraction"),
                                         (["--late-epoch", "5000"], "late_epoch")])
def test_bad_arguments_exit_2_with_one_line(argv, needle, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        run_cli(main, PROG, argv + ["--out", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err


def test_linear_regime_network_has_hand_computable_pair_quantities():
    """ReLU kept in its linear regime (positive states): y_i(h) = W_hy c^{n_i} h + const, so dy_i = c^{n_i} W_hy dh."""
    c, P = 0.5, 3
    rng = np.random.default_rng(0)
    params = {"W_ih": torch.tensor(rng.uniform(0.5, 1.5, (P, 2))), "b_ih": torch.full((P,), 0.3, dtype=torch.float64),
              "W_hh": c * torch.eye(P, dtype=torch.float64), "b_hh": torch.zeros(P, dtype=torch.float64),
              "W_hy": torch.tensor(rng.normal(size=(2, P))), "b_hy": torch.zeros(2, dtype=torch.float64),
              "h0": torch.ones(P, dtype=torch.float64)}
    data = all_sequences(4)
    targets = parity(data.tokens)
    p1, p2 = (0, 1), (1, 0)
    m = measure_pairs(params, plan_pairs(data, targets, [(p1, p2)]))

    def state(p):
        u = params["W_ih"].numpy() + 0.3
        return c ** len(p) * np.ones(P) + sum(c ** (len(p) - 1 - t) * u[:, x] for t, x in enumerate(p))

    dh = state(p2) - state(p1)
    n = np.array([0] + [1] * 2 + [2] * 4)                  # the 7 shared continuations of length 0..2
    base = np.sum((params["W_hy"].numpy() @ dh) ** 2)
    assert m.N[0] == 7 and m.S[0] == 0
    assert m.H[0] == pytest.approx(dh @ dh, rel=1e-12)
    assert m.Y[0] == pytest.approx(np.mean(c ** (2 * n)) * base, rel=1e-12)
    assert m.W[0] == pytest.approx(m.Y[0], rel=1e-12)      # agreeing pair: w_i = ‖dy_i‖²
    np.testing.assert_allclose(m.taylor_ratio, 0.0, atol=1e-12)   # linear: no second-order term
