"""validation.pair_dynamics: measurement -> fit -> prediction on cases with known answers, the command line,
the stage cache and the results files."""
from __future__ import annotations

import importlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from interaction.cliutil import run_cli
from interaction.closed_form import a_high, will_merge
from interaction.three_scalar import integrate_three_scalar
from rnn.parity import elman
from rnn.parity import TrainConfig, hidden_states, train_ensemble
from rnn.measure.pairs import measure_pairs, plan_pairs
from rnn.parity.data import all_sequences, parity
from rnn.parity.snapshots import train_with_snapshots
from validation.pair_dynamics import (Measured, PairDynamicsConfig, RateFits, a_high_trajectory, best_threshold,
                                      candidate_pairs, confusion, fit_pair_rates, load, observe, pair_taylor_ratio,
                                      predict, roc_auc, run)
from validation.pair_dynamics.__main__ import PROG, main
from validation.pair_dynamics.analysis import disagreements, merger_summary
from validation.pair_dynamics.config import PAPER_TRAINING

# the module, not the function ``run`` that the package re-exports under the same name
run_module = importlib.import_module("validation.pair_dynamics.run")


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


TINY = ["--L", "4", "--hidden", "12", "--gain", "0.5", "--epochs", "16", "--snapshot-every", "4",
        "--dense-snapshots", "2", "--pairs-per-cell", "1", "--fit-pairs", "1", "--pooled-pairs", "2",
        "--late-epoch", "4", "--fe-seeds", "2", "--fe-t-max", "200", "--distance-pairs", "50", "--no-progress"]
FIGURES = ("fig10_right_trajectories", "merger_prediction", "a_high_drift", "taylor_ratio", "mean_distance",
           "fig10_left_fixed_expansion")


def tiny_config(**changes) -> PairDynamicsConfig:
    """The configuration of TINY, built in Python."""
    base = PairDynamicsConfig(L=4, gain=0.5, train=replace(PAPER_TRAINING, hidden=12, max_epochs=16),
                              snapshot_every=4, dense_snapshots=2, pairs_per_cell=1, fit_pairs=1, pooled_pairs=2,
                              late_epoch=4, fe_seeds=2, fe_t_max=200.0, distance_pairs=50)
    return replace(base, **changes)


def numpy_states(params: dict[str, np.ndarray], prefixes: list[str]) -> np.ndarray:
    """Hidden states after each prefix ('0110'), stepped by hand in numpy: relu(W_ih x + b_ih + W_hh h + b_hh)."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    out = []
    for prefix in prefixes:
        h = p["h0"].copy()
        for ch in prefix:
            h = np.maximum(p["W_ih"][:, int(ch)] + p["b_ih"] + p["W_hh"] @ h + p["b_hh"], 0.0)
        out.append(h)
    return np.array(out)


def test_tiny_end_to_end_run_writes_its_files(tmp_path):
    out = tmp_path / "run"
    assert main(TINY + ["--out", str(out)]) == 0
    for stem in FIGURES:
        assert (out / f"{stem}.png").stat().st_size > 0 and (out / f"{stem}.pdf").stat().st_size > 0
    result = json.loads((out / "results.json").read_text())
    assert result["config"]["train"]["max_epochs"] == 16 and "dependencies" in result["provenance"]
    K = result["pairs_total"]
    assert len(result["pairs"]) == K > 0 and isinstance(result["disagreements"], list)
    npz = np.load(out / "results.npz")
    S = len(npz["snapshot_epochs"])
    assert {0, 4, 8, 12, 16} <= set(npz["snapshot_epochs"]) and S <= 7
    # the documented shapes: [snapshot, pair] trajectories, per-pair scalars, (seeds, times) nine-variable runs
    for name in ("H", "Y", "W", "A_high", "taylor"):
        assert npz[name].shape == (S, K), name
    for name in ("S", "N", "m1", "m2", "agreeing", "observed", "predicted_start", "prefix1", "prefix2"):
        assert npz[name].shape == (K,), name
    assert npz["fit_tau"].shape == (K, 2) and npz["train_loss"].shape == (17,)
    assert npz["fe_distance2"].shape == (2, npz["fe_t"].size)

    # facts independent of the code under test: parity pairs agree on every continuation iff their prefixes have
    # the same parity, and with all sequences up to L they share 2^(L - max(m1, m2) + 1) - 1 continuations
    p1, p2 = [str(x) for x in npz["prefix1"]], [str(x) for x in npz["prefix2"]]
    same_parity = np.array([a.count("1") % 2 == b.count("1") % 2 for a, b in zip(p1, p2)])
    np.testing.assert_array_equal(npz["agreeing"], same_parity)
    np.testing.assert_array_equal(npz["N"], 2 ** (4 - np.maximum(npz["m1"], npz["m2"]) + 1) - 1)
    assert not np.any(npz["predicted_start"] & ~npz["agreeing"])       # A_low > 0 forbids a merger (eq. 7)

    # merged pairs, judged from hidden states recomputed by hand from the saved snapshot parameters
    stage = np.load(out / "stage.npz")
    names = [str(n) for n in stage["param_names"]]
    snaps = [{n: stage[f"param_{n}"][j] for n in names} for j in range(S)]
    every = ["".join(map(str, s)) for m in range(1, 5) for s in np.ndindex(*(2,) * m)]
    hidden = np.stack([np.vstack([s["h0"][None].astype(float), numpy_states(s, every)]) for s in snaps])
    eps = 0.01 * np.linalg.norm(hidden.reshape(-1, 12).std(axis=0))    # pooled std over snapshots and rows
    assert float(npz["eps"]) == pytest.approx(eps, rel=1e-5)
    final = np.linalg.norm(numpy_states(snaps[-1], p1) - numpy_states(snaps[-1], p2), axis=1)
    clear = np.abs(final - eps) > 1e-4 * eps                            # leave float32 ties out
    np.testing.assert_array_equal(npz["observed"][clear], (final < eps)[clear])
    assert all(p["final_distance"] < result["merge_threshold"]["eps"] for p in result["pairs"] if p["observed_merge"])
    # pairs without a prediction (identical initial states) are counted and reported, not skipped
    initial = np.linalg.norm(numpy_states(snaps[0], p1) - numpy_states(snaps[0], p2), axis=1)
    no_prediction = [p for p in result["pairs"] if p["A_high_start"] is None]
    assert len(no_prediction) == result["pairs_without_prediction"]["count"] == int(np.sum(initial == 0))
    assert not any(p["predicted_merge_start"] for p in no_prediction)
    assert sum(result["confusion_agreeing_all"]["start"].values()) == result["agreeing_pairs"] == same_parity.sum()

    # a rerun that only changes analysis options reuses the cached training and measurements
    assert main(TINY + ["--eps-factor", "0.05", "--out", str(out)]) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["seconds"].get("reused_cache") is True and "reused_cache" not in result["seconds"]
    np.testing.assert_array_equal(np.load(out / "results.npz")["H"], npz["H"])
    assert again["merge_threshold"]["eps"] == pytest.approx(5 * result["merge_threshold"]["eps"])
    config, loaded = load(out)
    assert config.eps_factor == 0.05 and config.epochs == 16 and loaded.arrays["H"].shape == (S, K)


def test_stage_cache_key_covers_every_training_field_but_no_analysis_field(tmp_path, monkeypatch):
    monkeypatch.setattr(run_module, "make_figures", lambda result: {})   # figures are tested end to end above
    calls = []
    real = run_module.train_and_measure
    monkeypatch.setattr(run_module, "train_and_measure", lambda *a, **k: calls.append(1) or real(*a, **k))
    config = tiny_config()
    run(config, tmp_path, progress=False)
    assert len(calls) == 1
    # analysis-only fields: the stage is reused
    run(replace(config, eps_factor=0.05, fit_pairs=0, fe_seeds=1), tmp_path, progress=False)
    assert len(calls) == 1
    # h0 was not among the fields of the old hand-written key: a new training knob must invalidate the stage
    changed = replace(config, train=replace(config.train, h0="zeros"))
    result = run(changed, tmp_path, progress=False)
    assert len(calls) == 2 and "reused_cache" not in result.summary["seconds"]
    assert set(PairDynamicsConfig.ANALYSIS_FIELDS) <= {"fit_pairs", "pooled_pairs", "eps_factor", "distance_pairs",
                                                        "fe_seeds", "fe_lengths", "fe_t_max", "fe_gain"}


def test_corrupt_stage_is_refused_in_one_line_naming_it(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    np.savez(out / "stage.npz", key=np.array("x"), taylor=np.zeros((3, 2)))
    data = (out / "stage.npz").read_bytes()
    (out / "stage.npz").write_bytes(data[: len(data) // 2])              # truncated
    with pytest.raises(SystemExit) as exc:
        run_cli(main, PROG, TINY + ["--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "stage.npz" in err and "delete it" in err
    assert sorted(p.name for p in out.iterdir()) == ["stage.npz"]


def test_load_refuses_truncated_or_foreign_results(tmp_path, monkeypatch):
    monkeypatch.setattr(run_module, "make_figures", lambda result: {})
    out = tmp_path / "run"
    run(tiny_config(fe_seeds=1), out, progress=False)
    config, results = load(out / "results.json")
    assert config == tiny_config(fe_seeds=1) and results.arrays["fit_tau"].shape[1] == 2
    data = (out / "results.npz").read_bytes()
    (out / "results.npz").write_bytes(data[:100])
    with pytest.raises(ValueError, match="results.npz") as exc:
        load(out)
    assert "\n" not in str(exc.value)
    meta = json.loads((out / "results.json").read_text())
    (out / "results.json").write_text(json.dumps({**meta, "experiment": "parity_run"}))
    with pytest.raises(ValueError, match="not of 'pair_dynamics'"):
        load(out)


@pytest.mark.parametrize("kind", ["proc", "file"])
def test_unwritable_out_exits_2_before_training(kind, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(run_module, "train_and_measure", lambda *a, **k: pytest.fail("trained before the check"))
    if kind == "proc":
        target = Path("/proc/x")
    else:
        target = tmp_path / "existing_file"
        target.write_text("keep me")
    with pytest.raises(SystemExit) as exc:
        run_cli(main, PROG, TINY + ["--out", str(target)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out" in err
    assert not target.exists() if kind == "proc" else target.read_text() == "keep me"
    assert kind == "proc" or sorted(p.name for p in tmp_path.iterdir()) == ["existing_file"]


def test_a_pair_without_prediction_is_counted_and_reported():
    """Two pairs; the second has identical initial states (H0 = 0): no A_high(0), counted, said in words."""
    H = np.array([[1.0, 0.0], [0.5, 0.2], [0.01, 0.3]])
    meas = Measured(H=H, Y=np.full_like(H, 0.1), W=np.full_like(H, 0.1), S=np.zeros(2), N=np.array([3, 3]),
                    m1=np.array([1, 2]), m2=np.array([2, 2]), n_min=np.zeros(2, int))
    fake_fit = type("Fit", (), {"tau_h": 1.0, "tau_y": 2.0})()
    fits = RateFits(calibration=np.array([True, False]), pooled=fake_fit, pair={}, post_peak={})
    obs = observe(H, eps=0.2)
    pred = predict(meas, fits, np.array([0, 1, 2]), 1, obs)
    assert np.isnan(pred.A_high[0, 1]) and not pred.start[1]
    s = merger_summary(meas, obs, pred, fits.calibration, np.array([0, 1, 2]))
    assert s["pairs_without_prediction"]["count"] == 1
    stub = {**s, "pairs_total": 2, "a_high_drift_relative_to_max_H": {"agreeing": {}},
            "per_pair_fits": {"kappa_min_max": None, "attempted": 0, "successful": 0},
            "pooled_fit": {"success": True}, "taylor_ratio": {"merging": {}, "non_merging": {}},
            "mean_distance": {"never_decreases": True}}
    assert any("1 of 2 pairs have no prediction" in line for line in disagreements(stub))


@pytest.mark.parametrize("argv,needle", [(["--epochs", "-3"], "epochs"), (["--task", "nope"], "task"),
                                         (["--fe-lengths", "1"], "fe-lengths"),
                                         (["--fraction", "0"], "fraction"),
                                         (["--late-epoch", "5000"], "late_epoch"),
                                         (["--seed", "-1"], "seed"), (["--lr", "0"], "lr")])
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
