"""The phase diagram's measured overlay: measure_member against independent routes, the analysis, bad input."""
from __future__ import annotations

import json
from itertools import product

import numpy as np
import pytest

from interaction.artifacts import to_jsonable
from interaction.cliutil import run_cli
from validation.merger_phase_diagram import PhaseDiagramConfig, analyse, load, summary
from validation.merger_phase_diagram.analysis import CONFUSION, theory_line
from validation.merger_phase_diagram.boundary_fit import fit_rate_ratio
from validation.merger_phase_diagram.cli import PROG, main
from validation.merger_phase_diagram.measured import (
    KIND_CODES,
    MEASURED_ARRAYS,
    measure_member,
    stack_members,
)
from validation.merger_phase_diagram.results import save
from rnn.parity.data import SequenceSet, all_sequences, parity, sample_sequences


# Tiny matmuls: one intra-op thread avoids spin-wait contention on a loaded machine.
pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- hand-made networks

def linear_regime_params(P=4, seed=0):
    """ReLU net that is exactly linear on every reachable state: W_hh >= 0, h >= 0, bias 1 > |W_ih|."""
    rng = np.random.default_rng(seed)
    return {"W_ih": 0.9 * (2 * rng.random((P, 2)) - 1), "b_ih": np.ones(P), "W_hh": 0.8 * rng.random((P, P)) / P,
            "b_hh": np.zeros(P), "W_hy": rng.standard_normal((2, P)), "b_hy": rng.standard_normal(2),
            "h0": np.ones(P)}


def tanh_params(P=5, seed=0):
    rng = np.random.default_rng(seed)
    return {"W_ih": rng.standard_normal((P, 2)), "b_ih": 0.3 * rng.standard_normal(P),
            "W_hh": 1.2 * rng.standard_normal((P, P)) / np.sqrt(P), "b_hh": 0.3 * rng.standard_normal(P),
            "W_hy": rng.standard_normal((2, P)), "b_hy": rng.standard_normal(2), "h0": 0.5 * rng.standard_normal(P)}


def own_run(p, tokens, phi, h=None):
    """Independent forward pass (numpy, one token at a time; not rnn.parity.elman)."""
    h = p["h0"].copy() if h is None else h.copy()
    for tok in tokens:
        h = phi(p["W_hh"] @ h + p["W_ih"][:, tok] + p["b_ih"] + p["b_hh"])
    return h


def own_pair(p, data, targets, p1, p2, phi, delta=1e-5):
    """H0, Y0 (J_i dh by central finite differences), S, N of one pair, by brute force over the data."""
    seqs = {data.sequence(i): int(targets[i]) for i in range(len(data))}
    conts = [s[len(p1):] for s in seqs if s[:len(p1)] == p1 and p2 + s[len(p1):] in seqs]
    h1, h2 = own_run(p, p1, phi), own_run(p, p2, phi)
    dh, mid = h2 - h1, 0.5 * (h1 + h2)

    def y(cont, h):
        return p["W_hy"] @ own_run(p, cont, phi, h) + p["b_hy"]

    dy = [(y(c, mid + delta * dh) - y(c, mid - delta * dh)) / (2 * delta) for c in conts]
    y_tilde = [np.eye(2)[seqs[p2 + c]] - np.eye(2)[seqs[p1 + c]] for c in conts]
    return (float(dh @ dh), float(np.mean([d @ d for d in dy])), float(np.mean([t @ t for t in y_tilde])),
            len(conts))


def own_std(p, L, phi):
    """``‖std‖`` of the states of h_0 and every binary sequence of length 1..L (population std per unit)."""
    states = [p["h0"]] + [own_run(p, s, phi) for n in range(1, L + 1) for s in product((0, 1), repeat=n)]
    return float(np.linalg.norm(np.std(np.array(states), axis=0)))


def _prefix(row: np.ndarray) -> tuple[int, ...]:
    return tuple(int(t) for t in row[row >= 0])


def _measure(initial, final, data, targets, **kw):
    opts = {"n_pairs": 24, "seed": 3, "nonlinearity": "relu", "readout": "linear", "merge_eps": 0.3, **kw}
    return measure_member(initial, final, data, targets, **opts)


# ----------------------------------------------------------------------------- measure_member

@pytest.mark.parametrize("nonlinearity, make, tol", [("relu", linear_regime_params, 1e-8), ("tanh", tanh_params, 1e-6)])
def test_pair_statistics_match_finite_differences_and_final_distances_an_own_forward_pass(nonlinearity, make, tol):
    phi = (lambda x: np.maximum(x, 0.0)) if nonlinearity == "relu" else np.tanh
    data = sample_sequences(4, 0.8, np.random.default_rng(1))
    targets = parity(data.tokens)
    initial, final = make(seed=0), make(seed=1)
    first = _measure(initial, final, data, targets, nonlinearity=nonlinearity)
    live = first["pair_kind"] >= 0
    assert live.sum() == 24 and first["measured_pairs"] == 24 and first["pair_ok"][live].all()
    own_d = []
    z = []
    for k in np.flatnonzero(live):
        p1, p2 = _prefix(first["pair_prefix1"][k]), _prefix(first["pair_prefix2"][k])
        H0, Y0, S, N = own_pair(initial, data, targets, p1, p2, phi)
        np.testing.assert_allclose([first["pair_H0"][k], first["pair_Y0"][k], first["pair_S"][k]], [H0, Y0, S],
                                   rtol=tol, atol=1e-12)
        assert first["pair_N"][k] == N >= 1
        assert (first["pair_m1"][k], first["pair_m2"][k]) == (len(p1), len(p2))
        kind = "disagree" if S > 0 else ("agree_cross" if len(p1) != len(p2) else "agree_equal")
        assert first["pair_kind"][k] == KIND_CODES[kind]
        z.append(H0 ** 2 / (N * Y0))
        np.testing.assert_allclose(first["pair_z"][k], z[-1], rtol=10 * tol)
        own_d.append(np.linalg.norm(own_run(final, p1, phi) - own_run(final, p2, phi)) / own_std(final, 4, phi))
    np.testing.assert_allclose(first["pair_final_distance"][live], own_d, rtol=1e-6)
    cross = first["pair_kind"][live] == KIND_CODES["agree_cross"]
    assert cross.sum() == first["measured_agree_cross"] >= 1
    np.testing.assert_allclose(first["measured_z_min"], min(np.array(z)[cross]), rtol=10 * tol)
    # merged = distance < merge_eps; a threshold at the median gives both outcomes
    eps = float(np.median(own_d))
    again = _measure(initial, final, data, targets, nonlinearity=nonlinearity, merge_eps=eps)
    np.testing.assert_array_equal(again["pair_prefix1"], first["pair_prefix1"])   # same seed, same pairs
    np.testing.assert_array_equal(again["pair_merged"][live], np.array(own_d) < eps)
    assert 0 < again["pair_merged"].sum() < live.sum()


def test_scaling_profile_of_a_scaled_permutation_is_exactly_g_to_the_n():
    """W_hh = c·(permutation), W_hy = w·I, states >= 0: linear and norm-preserving up to c, so
    ‖dy_i‖²/‖dh‖² = w² c^(2n) for every pair and continuation, and G = c² (rnn.measure.contraction)."""
    c, w = 0.7, 1.5
    p = {"W_ih": np.array([[0.2, 0.6], [0.5, 0.1]]), "b_ih": np.ones(2), "W_hh": c * np.array([[0.0, 1.0], [1.0, 0.0]]),
         "b_hh": np.zeros(2), "W_hy": w * np.eye(2), "b_hy": np.zeros(2), "h0": np.ones(2)}
    data = all_sequences(5)
    out = _measure(p, p, data, parity(data.tokens))
    n = np.arange(5)
    finite = np.isfinite(out["scaling_ratio_log_mean"])
    assert finite.sum() >= 4
    np.testing.assert_allclose(out["scaling_ratio_log_mean"][finite], np.log(w ** 2) + 2 * n[finite] * np.log(c),
                               atol=1e-9)
    np.testing.assert_allclose([out["scaling_slope_ratio"], out["scaling_log_G"]], 2 * np.log(c), atol=1e-9)
    assert out["scaling_H_log_mean"].shape == (5,) and np.isfinite(out["scaling_H_log_mean"]).all()


def test_fixed_shapes_padding_and_a_network_without_trained_state():
    data = all_sequences(2)                 # 6 sequences: far fewer pairs than asked for
    p = linear_regime_params(P=3)
    out = _measure(p, None, data, parity(data.tokens), n_pairs=200)
    assert set(out) == set(MEASURED_ARRAYS)
    k = int(out["measured_pairs"])
    assert 0 < k < 200
    assert out["pair_kind"].shape == (200,) and out["pair_prefix1"].shape == (200, 2)
    assert np.all(out["pair_kind"][k:] == -1) and not out["pair_ok"][k:].any() and np.isnan(out["pair_H0"][k:]).all()
    assert np.all(out["pair_prefix1"][k:] == -1) and np.all(out["pair_N"][k:] == -1)
    assert np.isnan(out["pair_final_distance"]).all() and not out["pair_merged"].any()   # final=None
    stacked = stack_members([out, out])
    assert stacked["pair_z"].shape == (2, 200) and stacked["measured_z_min"].shape == (2,)


def test_a_failed_measurement_is_recorded_not_dropped():
    """Bit-identical prefix states (H0 = 0, outside eq. 20's domain): the pair keeps its slot, flagged."""
    p = linear_regime_params(P=3)
    p["W_ih"] = np.zeros((3, 2))            # the state ignores the tokens: every equal-length pair has H0 = 0
    data = all_sequences(3)
    out = _measure(p, p, data, parity(data.tokens))
    equal = out["pair_kind"] == KIND_CODES["agree_equal"]
    assert equal.any() and not out["pair_ok"][equal].any()
    assert out["measured_failed_pairs"] >= equal.sum()
    assert out["measured_pairs"] == np.sum(out["pair_kind"] >= 0)


def _bad(name, **change):
    data = all_sequences(3)
    args = {"initial": linear_regime_params(), "final": linear_regime_params(seed=1), "data": data,
            "targets": parity(data.tokens)}
    kw = {}
    for key, value in change.items():
        (args if key in args else kw)[key] = value
    with pytest.raises(ValueError, match=name):
        _measure(args["initial"], args["final"], args["data"], args["targets"], **kw)


def _with(params, key, value):
    return {**params, key: value}


def test_bad_input_names_the_argument():
    good = linear_regime_params()
    _bad(r"initial\['W_hh'\]", initial=_with(good, "W_hh", np.ones((4, 3))))
    _bad(r"initial\['W_hh'\]", initial={k: v[None] for k, v in good.items()})        # a member axis
    _bad(r"initial\['b_ih'\]", initial=_with(good, "b_ih", np.full(4, np.nan)))
    _bad(r"final\['W_hy'\]", final=_with(good, "W_hy", np.full((2, 4), np.inf)))
    _bad(r"final\['W_ih'\] must have the shape of initial", final=linear_regime_params(P=5))
    _bad("initial must have the keys", initial={k: v for k, v in good.items() if k != "h0"})
    _bad(r"initial\['W_ih'\] must have 2 input columns", initial=_with(good, "W_ih", np.ones((4, 3))))
    _bad("targets", targets=np.zeros(3, dtype=np.int64))
    _bad("data", data=SequenceSet(np.array([[0, 1, 1]], dtype=np.int8), np.array([3])),
         targets=np.array([0]))                                                       # one sequence: no pair
    _bad("n_pairs", n_pairs=0)
    _bad("merge_eps", merge_eps=0.0)
    _bad("seed", seed=-1)
    _bad("readout", readout="softmax")
    _bad("nonlinearity", nonlinearity="gelu")


# ----------------------------------------------------------------------------- analysis on synthetic arrays

S, G, F, V, K, L = 3, 4, 5, 2, 6, 4
CONFIG = PhaseDiagramConfig(gains=(0.2, 0.4, 0.6, 0.8), fractions=(0.2, 0.4, 0.6, 0.8, 1.0), seeds=S, L=L,
                            val_lengths=(12, 20), bootstrap=200, measured_pairs=K)


def base_arrays(observed: np.ndarray, rng) -> dict[str, np.ndarray]:
    shape = (S, G, F)
    accuracy = np.where(observed, 1.0, 0.5)[..., None].repeat(V, axis=-1)
    return {"status": np.full(shape, "converged"), "epochs": np.full(shape, 7), "train_loss": rng.random(shape),
            "val_loss": rng.random(shape + (V,)), "val_accuracy": accuracy, "n_states_raw": np.full(shape, 5.0),
            "n_states_min": np.full(shape, 2.0), "finite": np.ones(shape, bool), "equivalent": observed.copy(),
            "eps": np.ones(shape), "contraction": rng.uniform(0.2, 1.5, shape), "gains": np.array(CONFIG.gains),
            "fractions": np.array(CONFIG.fractions), "val_lengths": np.array(CONFIG.val_lengths)}


def measured_arrays(z_min: np.ndarray, rng, kappa: float = 2.0) -> dict[str, np.ndarray]:
    """Pairs planted around ``kappa``: kinds cycle over the codes, z log-uniform, merged = z <= kappa for agreeing."""
    shape = z_min.shape + (K,)
    kind = np.broadcast_to(np.arange(K) % 3, shape).astype(np.int8)
    z = np.exp(rng.uniform(-4, 4, shape))
    H0, N = rng.uniform(0.1, 2.0, shape), rng.integers(1, 9, shape)
    S_ = np.where(kind == KIND_CODES["disagree"], 0.5, 0.0)
    merged = (z <= kappa) & (S_ == 0)
    merged[..., 0] = ~merged[..., 0]              # one planted miss per network in the agree_cross slot
    out = {"measured_z_min": z_min, "measured_pairs": np.full(z_min.shape, K), "measured_agree_cross":
           np.full(z_min.shape, 2), "measured_failed_pairs": np.zeros(z_min.shape, int),
           "scaling_slope_H": rng.normal(-1, 0.1, z_min.shape), "scaling_slope_ratio": rng.normal(-2, 0.1, z_min.shape),
           "scaling_log_G": rng.normal(-2, 0.1, z_min.shape),
           "scaling_H_log_mean": -0.5 * np.arange(1, L + 1) + rng.normal(0, 0.01, z_min.shape + (L,)),
           "scaling_ratio_log_mean": -1.5 * np.arange(L) + rng.normal(0, 0.01, z_min.shape + (L,)),
           "pair_kind": kind, "pair_m1": np.ones(shape, int), "pair_m2": np.full(shape, 2), "pair_N": N,
           "pair_H0": H0, "pair_Y0": H0 ** 2 / (N * z), "pair_S": S_, "pair_z": z, "pair_ok": np.ones(shape, bool),
           "pair_final_distance": np.where(merged, 0.01, 1.0), "pair_merged": merged,
           "pair_prefix1": np.zeros(shape + (L,), np.int8), "pair_prefix2": np.zeros(shape + (L,), np.int8)}
    out["pair_ok"][..., 5] = False                # one failed measurement per network
    out["measured_failed_pairs"][:] = 1
    return out


@pytest.fixture
def planted():
    rng = np.random.default_rng(0)
    z_min = np.exp(rng.uniform(-3, 3, (S, G, F)))
    z_min[0, 0, 0] = np.nan                       # a network without a measured agreeing cross-length pair
    observed = np.nan_to_num(z_min, nan=np.inf) <= 2.0
    return {**base_arrays(observed, rng), **measured_arrays(z_min, rng)}, observed


def test_kappa_fit_recovers_a_planted_threshold(planted):
    arrays, observed = planted
    m = analyse(arrays, CONFIG).measured
    assert m.fit.status == "fitted" and m.fit.agreement == 1.0
    z = np.sort(arrays["measured_z_min"][np.isfinite(arrays["measured_z_min"])])
    below, above = z[z <= 2.0].max(), z[z > 2.0].min()     # every log kappa in between is optimal
    np.testing.assert_allclose(m.fit.log_kappa_range, np.log([below, above]))
    assert m.fit.log_kappa_range[0] < np.log(2.0) < m.fit.log_kappa_range[1]
    assert m.fit.log_kappa_interval[0] <= m.fit.log_kappa <= m.fit.log_kappa_interval[1]
    np.testing.assert_array_equal(m.predicted, observed)
    assert not m.predicted[0, 0, 0] and m.networks_without_pair == 1
    assert m.comparison["measured"].agreement == 1.0 and m.failed_pairs == S * G * F


def test_kappa_fit_runs_the_right_way_round():
    """Generalisation planted where z_min is *large*: the fitted predictor cannot follow it."""
    rng = np.random.default_rng(1)
    z_min = np.exp(rng.uniform(-3, 3, 40))
    fit = fit_rate_ratio(z_min, z_min > 1.0, n_bootstrap=0)
    assert fit.agreement < 0.75
    right = fit_rate_ratio(z_min, z_min <= 1.0, n_bootstrap=0)
    assert right.agreement == 1.0 and right.log_kappa_range[0] < 0.0 < right.log_kappa_range[1]
    every = fit_rate_ratio(z_min, np.ones(40, bool), n_bootstrap=0)      # kappa only bounded from below
    assert every.status == "lower_bound" and np.isnan(every.log_kappa)
    assert every.decision_log_kappa > np.log(z_min.max())
    none = fit_rate_ratio(np.full(5, np.nan), np.zeros(5, bool), n_bootstrap=0)
    assert none.status == "unconstrained" and none.decision_log_kappa == -np.inf
    with pytest.raises(ValueError, match="z_min"):
        fit_rate_ratio(np.array([1.0, 0.0]), np.array([True, False]))


def test_three_predictors_the_constant_guess_and_their_intervals(planted):
    arrays, observed = planted
    a = analyse(arrays, CONFIG)
    c = a.measured.comparison
    majority = observed.mean() >= 0.5
    assert c["constant"].agreement == pytest.approx(np.mean(observed == majority)) == a.agreement_baseline
    assert c["eq9"].agreement == pytest.approx(a.agreement_all)
    for name in c:
        lo, hi = c[name].interval
        assert lo <= c[name].agreement <= hi or lo == hi == c[name].agreement
    assert a.measured.difference == pytest.approx(c["measured"].agreement - c["eq9"].agreement)
    assert a.measured.difference_interval[0] <= a.measured.difference <= a.measured.difference_interval[1]
    no_bootstrap = analyse(arrays, CONFIG.with_analysis(bootstrap=0)).measured
    assert all(np.isnan(no_bootstrap.comparison[n].interval).all() for n in c)


def test_pair_confusion_counts_against_the_planted_outcomes(planted):
    arrays, _ = planted
    m = analyse(arrays, CONFIG).measured
    kappa = np.exp(m.fit.decision_log_kappa)
    usable = arrays["pair_ok"]
    for name, code in KIND_CODES.items():
        this = (arrays["pair_kind"] == code) & usable
        predicted = this & (arrays["pair_S"] == 0) & (arrays["pair_z"] <= kappa)
        for label, (p, o) in CONFUSION.items():
            expected = np.sum(this & (predicted == p) & (arrays["pair_merged"] == o))
            assert m.confusion[name][label] == expected, (name, label)
        assert m.confusion[name]["pairs"] == this.sum()
        assert m.confusion[name]["excluded"] == np.sum((arrays["pair_kind"] == code) & ~usable)
    cross = m.confusion["agree_cross"]
    assert cross["missed_merged"] + cross["predicted_not_merged"] > 0      # the planted misses show
    assert m.confusion["disagree"]["predicted_and_merged"] == m.confusion["disagree"]["predicted_not_merged"] == 0


def test_scaling_summary_per_gain(planted):
    arrays, _ = planted
    sc = analyse(arrays, CONFIG).measured.scaling
    np.testing.assert_allclose(sc.slope_H, -0.5, atol=0.02)
    np.testing.assert_allclose(sc.slope_ratio, -1.5, atol=0.02)
    np.testing.assert_allclose(sc.median_network_slope_H, np.median(arrays["scaling_slope_H"], axis=(0, 2)))
    assert sc.H_log_mean.shape == (G, L) and sc.ratio_log_mean.shape == (G, L)


def test_summary_save_load_and_figures_with_the_measured_overlay(planted, tmp_path, capsys):
    arrays, _ = planted
    a = analyse(arrays, CONFIG)
    s = json.loads(json.dumps(to_jsonable(summary(arrays, a)), allow_nan=False))
    assert s["measured"]["generalisation_predicted"] == int(a.measured.predicted.sum())
    lines = theory_line(a).splitlines()
    assert lines[0].startswith("theory:") and lines[1].startswith("onset by gain")
    assert lines[2].startswith("per replicate")                          # 3 replicates: a spread line too
    assert lines[3].startswith("measured theory") and lines[4].startswith("pairs")
    assert lines[5].startswith("predictors") and sum(line.startswith("verdict") for line in lines) == 2
    save(tmp_path, arrays, CONFIG, a, {})
    back, config, _ = load(tmp_path)
    assert config == CONFIG and back["pair_z"].shape == (S, G, F, K)
    assert "measured_predicted" in back
    assert main(["--plot-only", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "measured theory" in out
    for stem in ("phase_diagram", "accuracy_map", "states_map", "scaling_diagnostics"):
        assert (tmp_path / f"{stem}.png").stat().st_size > 0 and (tmp_path / f"{stem}.pdf").exists()


def test_results_with_a_measured_array_of_the_wrong_shape_are_refused(planted, tmp_path, capsys):
    arrays, _ = planted
    save(tmp_path, arrays, CONFIG, analyse(arrays, CONFIG), {})
    with np.load(tmp_path / "results.npz") as data:
        stored = {k: data[k] for k in data.files}
    stored["pair_Y0"] = stored["pair_Y0"][..., :2]
    np.savez(tmp_path / "results.npz", **stored)
    with pytest.raises(SystemExit) as exc:
        run_cli(main, PROG, ["--plot-only", str(tmp_path)])
    assert exc.value.code == 2 and "pair_Y0" in capsys.readouterr().err


def test_old_results_without_measured_arrays_still_analyse_and_plot(tmp_path, capsys):
    rng = np.random.default_rng(2)
    observed = rng.random((S, G, F)) < 0.5
    arrays = base_arrays(observed, rng)
    a = analyse(arrays, CONFIG)
    assert a.measured is None and summary(arrays, a)["measured"] is None
    assert not any(line.startswith("measured") for line in theory_line(a).splitlines())
    save(tmp_path, arrays, CONFIG, a, {})
    meta = json.loads((tmp_path / "results.json").read_text())
    del meta["config"]["measured_pairs"]          # written before the field existed
    (tmp_path / "results.json").write_text(json.dumps(meta))
    _, config, _ = load(tmp_path)
    assert config.measured_pairs == 0
    assert main(["--plot-only", str(tmp_path)]) == 0
    assert "measured" not in capsys.readouterr().out
    assert (tmp_path / "phase_diagram.png").exists() and not (tmp_path / "scaling_diagnostics.png").exists()


def test_some_but_not_all_measured_arrays_is_an_error(planted):
    arrays, _ = planted
    del arrays["pair_merged"]
    with pytest.raises(ValueError, match="pair_merged"):
        analyse(arrays, CONFIG)


def test_measured_pairs_option_is_range_checked():
    with pytest.raises(ValueError, match="measured_pairs"):
        PhaseDiagramConfig(measured_pairs=-1)
    assert "measured_pairs" not in PhaseDiagramConfig.ANALYSIS_FIELDS     # changes what is computed
