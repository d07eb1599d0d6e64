"""Task, model and trainer of the modular-addition experiment (rnn/modular/data.py, transformer.py, train.py)."""
import numpy as np
import pytest
import torch

from rnn.modular import mergers as mm
from rnn.modular.data import modular_addition_data
from rnn.modular.train import ModularConfig, checkpoint_epochs, preset_config, train
from rnn.modular.transformer import SITES, ModularTransformer, model_from_weights


def test_data_split_matches_reference_sizes_and_masks():
    data = modular_addition_data(113, 0.3, 0)
    assert (data.n_train, data.n_test) == (3830, 8939)  # Nanda et al.: 3,830 train / 8,939 test
    assert not np.any(data.train_mask & data.test_mask) and np.all(data.train_mask | data.test_mask)
    np.testing.assert_array_equal(data.labels, (data.a + data.b) % 113)
    assert np.all(data.tokens[:, 2] == 113)
    again = modular_addition_data(113, 0.3, 0)
    np.testing.assert_array_equal(again.train_mask, data.train_mask)
    assert not np.array_equal(modular_addition_data(113, 0.3, 1).train_mask, data.train_mask)


@pytest.mark.parametrize("kwargs, name", [({"P": 2, "train_frac": 0.3}, "P"), ({"P": 11, "train_frac": 0.0}, "train_frac"),
                                          ({"P": 11, "train_frac": 1.0}, "train_frac"),
                                          ({"P": 11, "train_frac": 1.5}, "train_frac")])
def test_data_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        modular_addition_data(**kwargs)


def test_bad_config_and_preset():
    with pytest.raises(ValueError, match="preset"):
        preset_config("huge")
    with pytest.raises(ValueError, match="P"):
        ModularConfig(P=2)
    with pytest.raises(ValueError, match="train_frac"):
        preset_config("fast", train_frac=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        ModularConfig(weight_decay=-0.1)


@pytest.mark.parametrize("name", ["seed", "data_seed"])
def test_negative_seeds_are_refused(name):
    """random.Random(-1) equals Random(1): a negative split seed used to be accepted silently."""
    with pytest.raises(ValueError, match=f"^{name} must be >= 0"):
        ModularConfig(**{name: -1})
    with pytest.raises(ValueError, match="seed must be >= 0"):
        modular_addition_data(11, 0.3, -1)


def test_model_matches_reference_shapes_and_init():
    model = ModularTransformer(113, seed=0).requires_grad_(False)
    assert sum(p.numel() for p in model.parameters()) == 226_816
    assert model.W_U.shape == (128, 114) and model.W_E.shape == (114, 128)
    assert float(model.W_in.std()) == pytest.approx(128 ** -0.5, rel=0.02)
    assert float(model.W_U.std()) == pytest.approx(114 ** -0.5, rel=0.05)
    assert float(model.b_in.abs().sum()) == 0.0
    same = ModularTransformer(113, seed=0)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), same.parameters()))


def test_last_position_forward_equals_full_forward():
    model = ModularTransformer(23, seed=3, dtype=torch.float64).requires_grad_(False)
    with torch.no_grad():
        for p in model.parameters():  # non-trivial biases and sharp attention
            p.add_(0.5 * torch.randn_like(p))
    tokens = torch.as_tensor(modular_addition_data(23, 0.3, 0).tokens)
    last, cache = model.run_with_cache(tokens)
    full = model.forward_full(tokens)
    scale = float(full.abs().max())
    assert scale > 10.0
    torch.testing.assert_close(last, full[:, -1], rtol=0, atol=1e-13 * scale)  # float64 rounding only
    model32 = ModularTransformer(23, seed=3).requires_grad_(False)
    with torch.no_grad():
        full32 = model32.forward_full(tokens)[:, -1]
        torch.testing.assert_close(model32(tokens), full32, rtol=0, atol=1e-6 * float(full32.abs().max()))
    assert set(SITES) <= set(cache)
    torch.testing.assert_close(cache["resid_post"], cache["resid_mid"] + cache["mlp_out"])
    torch.testing.assert_close(cache["logits"], cache["resid_post"] @ model.W_U)
    rebuilt = model_from_weights(model.weight_dict())
    torch.testing.assert_close(rebuilt(tokens), last)


def test_table_attention_gradients_and_pattern_equal_the_full_forward():
    """The score and value tables give the reference computation's gradients for every parameter and its
    attention pattern, also for inputs whose last token is not ``=`` (random tokens everywhere)."""
    model = ModularTransformer(13, seed=4, dtype=torch.float64)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    tokens = torch.randint(0, 14, (200, 3), generator=torch.Generator().manual_seed(0))
    labels = torch.randint(0, 14, (200,), generator=torch.Generator().manual_seed(1))
    grads = []
    for logits in (lambda: model(tokens), lambda: model.forward_full(tokens)[:, -1]):
        model.zero_grad()
        torch.nn.functional.cross_entropy(logits(), labels).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-10, atol=1e-12, msg=name)
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)
        x = model.W_E[tokens] + model.W_pos
        q = torch.einsum("bd,hde->bhe", x[:, -1], model.W_Q)
        k = torch.einsum("bpd,hde->bhpe", x, model.W_K)
        pattern = torch.softmax(torch.einsum("bhe,bhpe->bhp", q, k) / model.d_head ** 0.5, dim=-1)
    torch.testing.assert_close(cache["attn_pattern"], pattern, rtol=0, atol=1e-13)


def test_checkpoint_schedule_is_dense_early():
    e = checkpoint_epochs(2000, 100, 500)
    assert e[0] == 0 and e[-1] == 2000 and np.all(np.diff(e) > 0)
    assert np.sum(e <= 100) >= 10 and np.all(np.isin(np.arange(0, 2001, 100), e))


def test_short_training_memorises_and_train_pairs_merge_first(one_thread):
    """CI-sized run (P = 23, 300 epochs): the training set is memorised, test accuracy stays low, and the
    merger metrics move in the predicted direction: same-answer training pairs merge at the read-out
    sites while held-out pairs do not (yet), and disagreeing pairs never merge."""
    config = ModularConfig(P=23, train_frac=0.3, weight_decay=1.0, max_epochs=300, eval_every=100,
                           dense_until=0, stop_test_acc=None)
    seen = {}

    def record(epoch, model, cache):
        seen[epoch] = {s: cache[s].double().numpy()[:, :23] if s == "logits" else cache[s].double().numpy()
                       for s in SITES}

    result = train(config, on_checkpoint=record)
    assert result.status == "capped" and result.epochs_trained == 300
    assert result.train_acc[-1] == 1.0 and result.train_loss[-1] < 0.05
    assert result.test_acc[-1] < 0.3
    data = result.data
    pairs = mm.sample_pairs(data.labels, data.train_mask, data.test_mask, n=300, seed=0)
    for site in ("mlp_out", "logits"):
        start = mm.site_measurements(seen[0][site], data.labels, data.train_mask, data.test_mask, pairs=pairs)
        end = mm.site_measurements(seen[300][site], data.labels, data.train_mask, data.test_mask, pairs=pairs)
        assert abs(start["M_train"]) < 0.1 and end["M_train"] > 0.2
        assert end["M_train"] > end["M_test"] + 0.2
        assert end["rho_train"] < start["rho_train"] - 0.1
        agree = np.median(end["pair_distances"]["agree_train_train"])
        disagree = np.median(end["pair_distances"]["disagree_train_train"])
        assert agree < disagree
        assert mm.merged_fraction(end["pair_distances"]["disagree_train_train"]) == 0.0
    # the additive-like attention output cannot separate classes on the full grid (docs/experiments.md §5.1)
    assert abs(mm.merging_score(seen[300]["resid_mid"], data.labels).M) < 0.1


TINY = ModularConfig(P=11, train_frac=0.5, weight_decay=1.0, max_epochs=40, eval_every=10, dense_until=0,
                     stop_test_acc=None, d_model=16, n_heads=2, d_head=8, d_mlp=32, seed=3)


def test_training_leaves_the_global_rng_alone_and_is_reproducible(one_thread):
    """The model has its own Generator: training neither reads nor reseeds torch's global RNG."""
    torch.manual_seed(12345)
    before = torch.get_rng_state().clone()
    first = train(TINY)
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(999)  # a different global state must not change the run
    second = train(TINY)
    np.testing.assert_array_equal(first.train_loss, second.train_loss)
    np.testing.assert_array_equal(first.test_loss, second.test_loss)
    for a, b in zip(first.snapshots, second.snapshots):
        assert all(np.array_equal(a[k], b[k]) for k in a)
    other = train(ModularConfig(**{**TINY.__dict__, "seed": 4}))
    assert not np.array_equal(other.train_loss, first.train_loss)


def test_resume_from_a_state_is_bit_identical(one_thread):
    """A run resumed from a state taken mid-training ends exactly where the uninterrupted run ends."""
    states = {}
    full = train(TINY, on_state=lambda epoch, state: states.setdefault(epoch, state), state_every=15)
    assert sorted(states) == [20, 30]  # the first checkpoint at or after each multiple of 15 (not the cap)
    seen = []
    resumed = train(TINY, resume=states[20], on_checkpoint=lambda epoch, model, cache: seen.append(epoch))
    assert seen == [30, 40]  # epoch 20 was measured before the state was taken
    np.testing.assert_array_equal(resumed.epochs, full.epochs)
    np.testing.assert_array_equal(resumed.train_loss, full.train_loss)
    np.testing.assert_array_equal(resumed.test_acc, full.test_acc)
    for name, w in full.model.weight_dict().items():
        assert torch.equal(resumed.model.weight_dict()[name], w)
    with pytest.raises(ValueError, match="version"):
        train(TINY, resume={**states[20], "version": 0})


def test_unknown_device_is_refused():
    with pytest.raises(ValueError, match="device"):
        train(TINY, device="meta")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal applies only where torch sees no GPU")
def test_cuda_device_is_refused_without_a_gpu():
    with pytest.raises(ValueError, match="cuda"):
        train(TINY, device="cuda")
