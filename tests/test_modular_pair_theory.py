"""The interaction theory measured on the transformer (rnn/modular/pair_theory.py,
validation/modular_addition/theory.py)."""
import numpy as np
import pytest
import torch

from interaction import ThreeScalarSystem, a_high, a_low, integrate, will_merge
from rnn.modular import mergers as mm
from rnn.modular.data import modular_addition_data
from rnn.modular.pair_theory import measure_pairs
from rnn.modular.transformer import DOWNSTREAM_SITES, ModularTransformer
from validation.modular_addition.analysis import MeasurementGate
from validation.modular_addition.config import ExperimentConfig
from validation.modular_addition.theory import site_theory, theory_analysis, theory_pairs

P = 7


@pytest.fixture(scope="module")
def tiny():
    """A small float64 model on all P² inputs with its activations and agreeing/disagreeing train pairs."""
    data = modular_addition_data(P, 0.6, 0)
    model = ModularTransformer(P, d_model=16, n_heads=2, d_head=8, d_mlp=24, seed=3, dtype=torch.float64)
    with torch.no_grad():
        _, cache = model.run_with_cache(torch.as_tensor(data.tokens))
    pairs = theory_pairs(mm.sample_pairs(data.labels, data.train_mask, data.test_mask, n=12, seed=1), 12)
    return data, model, cache, pairs


@pytest.mark.parametrize("site", ["resid_mid", "mlp_pre", "mlp_post", "mlp_out", "resid_post"])
def test_batched_jvp_equals_finite_differences_of_the_downstream_map(tiny, site):
    data, model, cache, pairs = tiny
    q = measure_pairs(model, cache, pairs, data.labels, site)
    i, j = (torch.as_tensor(k) for k in pairs)
    h = cache[site]
    mid, dh = 0.5 * (h[i] + h[j]), h[j] - h[i]
    skip = 0.5 * (cache["resid_mid"][i] + cache["resid_mid"][j])
    eps = 1e-6
    with torch.no_grad():  # central difference of y along dh at the midpoint, pair by pair
        up, down = (model.downstream(site, mid + s * eps * dh, skip)[:, :P] for s in (1, -1))
    fd = ((up - down) / (2 * eps)).numpy()
    np.testing.assert_allclose(q.dy, fd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(q.H, (dh ** 2).sum(-1).numpy(), rtol=1e-12)
    y_tilde = np.eye(P)[data.labels[pairs[1]]] - np.eye(P)[data.labels[pairs[0]]]
    np.testing.assert_allclose(q.Y, (fd ** 2).sum(-1), rtol=1e-5)
    np.testing.assert_allclose(q.W, (fd * (fd - y_tilde)).sum(-1), rtol=1e-5, atol=1e-9)
    np.testing.assert_array_equal(q.S, (y_tilde ** 2).sum(-1))
    agreeing = q.S == 0
    assert agreeing.sum() == 12 and np.all(q.S[~agreeing] == 2)
    np.testing.assert_allclose(q.W[agreeing], q.Y[agreeing], rtol=1e-12)  # ỹ = 0: W = Y (docs/theory.md §1.8)


def test_one_batched_call_equals_pair_by_pair(tiny):
    data, model, cache, pairs = tiny
    batched = measure_pairs(model, cache, pairs, data.labels, "resid_mid")
    for k in (0, 5, 13, 23):
        one = measure_pairs(model, cache, pairs[:, [k]], data.labels, "resid_mid")
        for name in ("H", "Y", "W", "dy"):
            np.testing.assert_allclose(getattr(one, name), getattr(batched, name)[[k]], rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(one.taylor_ratio, batched.taylor_ratio[[k]], rtol=1e-9, atol=1e-12)


def test_linear_downstream_maps_give_dy_exactly(tiny):
    data, model, cache, pairs = tiny
    i, j = pairs
    W = {k: v.detach().numpy() for k, v in model.weight_dict().items()}
    for site, A in (("resid_post", W["W_U"][:, :P]), ("mlp_out", W["W_U"][:, :P]),
                    ("mlp_post", W["W_out"] @ W["W_U"][:, :P])):
        h = cache[site].numpy()
        q = measure_pairs(model, cache, pairs, data.labels, site)
        np.testing.assert_allclose(q.dy, (h[j] - h[i]) @ A, rtol=1e-10, atol=1e-12, err_msg=site)
        assert np.nanmax(q.taylor_ratio) < 1e-8  # a linear map has no second-order term
    # a constant MLP (W_in = 0, b_in > 0) makes even the map from resid_mid linear: dy = dh W_U
    flat = ModularTransformer(P, d_model=16, n_heads=2, d_head=8, d_mlp=24, seed=4, dtype=torch.float64)
    with torch.no_grad():
        flat.W_in.zero_()
        flat.b_in.fill_(1.0)
        _, flat_cache = flat.run_with_cache(torch.as_tensor(data.tokens))
    h = flat_cache["resid_mid"].numpy()
    q = measure_pairs(flat, flat_cache, pairs, data.labels, "resid_mid")
    np.testing.assert_allclose(q.dy, (h[j] - h[i]) @ flat.W_U.detach().numpy()[:, :P], rtol=1e-10, atol=1e-12)


def test_float32_activations_are_measured_in_float64(tiny):
    data, model, cache, pairs = tiny
    model32 = ModularTransformer(P, d_model=16, n_heads=2, d_head=8, d_mlp=24, seed=3)
    with torch.no_grad():
        _, cache32 = model32.run_with_cache(torch.as_tensor(data.tokens))
    q32 = measure_pairs(model32, cache32, pairs, data.labels, "resid_mid")
    q64 = measure_pairs(model, cache, pairs, data.labels, "resid_mid")
    assert q32.dy.dtype == np.float64 and next(model32.parameters()).dtype == torch.float32  # the model is untouched
    np.testing.assert_allclose(q32.Y, q64.Y, rtol=1e-4)


@pytest.mark.parametrize("change, name", [
    (dict(site="logits_x"), "site"), (dict(pairs=np.zeros((3, 2), int)), "pairs"),
    (dict(pairs=np.array([[0], [P * P]])), "pairs"), (dict(pairs=np.zeros((2, 0), int)), "pairs"),
    (dict(pairs=np.zeros((2, 2))), "pairs"), (dict(labels=np.zeros(3, int)), "labels"),
    (dict(labels=np.full(P * P, P)), "labels"), (dict(cache={}), "cache"),
])
def test_bad_arguments_name_the_argument(tiny, change, name):
    data, model, cache, pairs = tiny
    kwargs = dict(model=model, cache=cache, pairs=pairs, labels=data.labels, site="resid_mid", **{})
    kwargs.update(change)
    with pytest.raises(ValueError, match=rf"^{name}"):
        measure_pairs(**kwargs)
    with pytest.raises(ValueError, match="^resid_mid"):
        model.downstream("mlp_post", cache["mlp_post"])
    with pytest.raises(ValueError, match="^site"):
        model.downstream("attn_pattern", cache["resid_mid"])
    assert DOWNSTREAM_SITES[0] == "resid_mid" and DOWNSTREAM_SITES[-1] == "logits"


def synthetic_pairs(kappa_true: float, tau_h: float, t: np.ndarray):
    """Eq. 20 trajectories (N = 1) of agreeing pairs on both sides of A_high = 0 and of disagreeing pairs."""
    tau_y = kappa_true * tau_h
    H0 = np.array([1.0, 0.8, 1.2, 0.9, 1.0, 0.7, 1.1, 1.0])
    Y0 = np.array([4.0, 0.2, 3.0, 0.3, 2.5, 0.1, 1.0, 1.0])
    S = np.array([0, 0, 0, 0, 0, 0, 2, 2], dtype=float)
    W0 = np.where(S == 0, Y0, Y0 - 0.5)
    cols = []
    for k in range(H0.size):
        res = integrate(ThreeScalarSystem(S=S[k], N=1.0, tau_h=tau_h, tau_y=tau_y), (H0[k], Y0[k], W0[k]),
                        float(t[-1]), t_eval=t)
        assert res.success and res.t.size == t.size
        cols.append(res.y)
    H, Y, W = (np.stack([c[n] for c in cols], axis=1) for n in range(3))
    # a measured Y is a sum of squares; the solver's Y of a merging pair may round to -1e-16
    return H, np.maximum(Y, 0.0), W, S, a_high(H0, Y0, N=1.0, tau_h=tau_h, tau_y=tau_y)


def test_site_theory_recovers_the_rates_and_the_mergers_of_eq20_trajectories():
    kappa_true, tau_h = 0.5, 40.0
    t = np.concatenate([[0.0], np.geomspace(1, 3000, 40)])
    H, Y, W, S, A_true = synthetic_pairs(kappa_true, tau_h, t)
    distance = np.sqrt(H)  # the scale r is constant here
    arrays, summary = site_theory(t, H, Y, W, S, distance, np.zeros_like(H), threshold=0.05,
                                  checkpoints={"initialisation": 0, "memorisation_end": int(t[10])}, fit_start=0,
                                  pooled_pairs=8, fit_pairs=0, rng=np.random.default_rng(0))
    fit = summary["pooled_fit"]
    assert fit["success"]
    assert summary["kappa_tau_y_over_tau_h"] == pytest.approx(kappa_true, rel=1e-3)
    # the pipeline's A_high and A_low are interaction's eqs. 6 and 25 at the fitted rates, N = 1
    assert np.all(H > 0)
    np.testing.assert_allclose(arrays["A_high"], a_high(H, Y, N=1.0, tau_h=fit["tau_h"], tau_y=fit["tau_y"]),
                               rtol=1e-12)
    np.testing.assert_allclose(arrays["A_low"], a_low(S, N=1.0, tau_h=fit["tau_h"], tau_y=fit["tau_y"]), rtol=1e-12)
    np.testing.assert_allclose(arrays["A_high"][0], A_true, rtol=1e-3)
    expected = will_merge(A_true, a_low(S, N=1.0, tau_h=1.0, tau_y=kappa_true))
    assert expected.sum() == 3  # the planted outcomes: agreeing pairs with A_high < 0 merge, nothing else
    np.testing.assert_array_equal(arrays["observed"], expected)
    np.testing.assert_array_equal(arrays["predicted"][0], expected)
    c = summary["checkpoints"]["initialisation"]["confusion_agreeing_heldout"]
    assert c["fp"] == c["fn"] == 0 and c["tp"] + c["tn"] == int((~arrays["calibration"] & (S == 0)).sum())
    assert summary["rate_free_auc_H2_over_Y"]["initialisation"] == 1.0
    assert summary["observed_mergers"] == {"agreeing": 3, "disagreeing": 0, "agreeing_commuted": 0, "commuted_pairs": 0}


def test_theory_analysis_refuses_an_unknown_fit_start():
    with pytest.raises(ValueError, match="^fit_from"):
        theory_analysis({"measure_epochs": np.arange(3)}, np.zeros((2, 2), int), np.zeros(4, int), (),
                        {"memorisation_end": 1, "cleanup_start": None, "cleanup_end": None}, threshold=0.1,
                        fit_from="cleanup", pooled_pairs=1, fit_pairs=0, seed=0)


def test_measurement_gate_is_sparse_only_where_the_curves_are_flat():
    gate = MeasurementGate(dense_until=100, tolerance=0.05, max_gap=500)
    flat = (-6.0, 1.4, 0.05)
    assert gate.due(0, flat, None)                              # nothing measured yet
    assert gate.due(90, flat, (80, *flat))                      # dense early phase
    assert not gate.due(300, flat, (200, *flat))                # flat curves
    assert gate.due(700, flat, (200, *flat))                    # the longest gap
    assert gate.due(300, (-6.0, 1.3, 0.05), (200, *flat))       # test loss moved by 0.1 decade
    assert gate.due(300, (-6.0, 1.4, 0.11), (200, *flat))       # test accuracy moved
    assert MeasurementGate(100, 0.0, 500).due(300, flat, (200, *flat))  # tolerance 0: every checkpoint
    with pytest.raises(ValueError, match="^tolerance"):
        MeasurementGate(100, -0.1, 500)
    with pytest.raises(ValueError, match="^max_gap"):
        MeasurementGate(100, 0.1, 0)


@pytest.mark.parametrize("kwargs, name", [
    ({"theory_sites": ("logits",)}, "theory_sites"), ({"theory_sites": ("resid_mid", "resid_mid")}, "theory_sites"),
    ({"theory_pairs": 0}, "theory_pairs"), ({"merge_threshold": 0.0}, "merge_threshold"),
    ({"measure_tolerance": -1.0}, "measure_tolerance"), ({"measure_max_gap": 0}, "measure_max_gap"),
    ({"theory_fit_from": "cleanup"}, "theory_fit_from"), ({"theory_pooled_pairs": 0}, "theory_pooled_pairs"),
    ({"theory_fit_pairs": -1}, "theory_fit_pairs"),
])
def test_experiment_config_refuses_bad_theory_options(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        ExperimentConfig(**kwargs)
