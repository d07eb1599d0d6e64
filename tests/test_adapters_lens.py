"""rnn.adapters.lens: one-layer HookedTransformers as our modular-addition transformer, and back.

Real ``HookedTransformer`` objects built from a ``HookedTransformerConfig`` (no download).
"""
import math

import numpy as np
import pytest
import torch

transformer_lens = pytest.importorskip("transformer_lens")

from rnn.adapters.lens import (SITE_HOOKS, from_hooked_transformer, sites_from_cache,  # noqa: E402
                               to_hooked_transformer, weights_from_hooked_transformer)
from rnn.modular import SITES, ModularTransformer, modular_addition_data  # noqa: E402
from rnn.modular import progress  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:HookedTransformer is deprecated:DeprecationWarning")

HookedTransformer = transformer_lens.HookedTransformer
HookedTransformerConfig = transformer_lens.HookedTransformerConfig

P = 7


def _config(**overrides):
    settings = dict(n_layers=1, d_model=16, n_heads=2, d_head=8, d_mlp=24, d_vocab=P + 1, d_vocab_out=P + 1,
                    n_ctx=3, act_fn="relu", normalization_type=None, attn_only=False, seed=5,
                    dtype=torch.float64, device="cpu")
    settings.update(overrides)
    return HookedTransformerConfig(**settings)


def _hooked(**overrides):
    model = HookedTransformer(_config(**overrides))
    with torch.no_grad():  # nonzero MLP biases: we represent them
        model.blocks[0].mlp.b_in.normal_(generator=torch.Generator().manual_seed(1))
        model.blocks[0].mlp.b_out.normal_(generator=torch.Generator().manual_seed(2))
    return model


def _all_inputs():
    a, b = np.divmod(np.arange(P * P), P)
    return torch.as_tensor(np.stack([a, b, np.full_like(a, P)], axis=1))


def _assert_same_sites(ours_cache, hooked_cache, names):
    theirs = sites_from_cache(hooked_cache)
    for name in names:
        torch.testing.assert_close(ours_cache[name], theirs[name], rtol=1e-10, atol=1e-10)


def test_every_site_of_ours_has_a_hook():
    assert set(SITES) <= set(SITE_HOOKS)
    _, cache = ModularTransformer(P, d_model=8, n_heads=2, d_head=4, d_mlp=8).run_with_cache(_all_inputs())
    assert set(cache) == set(SITE_HOOKS)


def test_hooked_transformer_converts_to_the_same_function():
    hooked = _hooked()
    ours = from_hooked_transformer(hooked)
    tokens = _all_inputs()
    logits, ours_cache = ours.run_with_cache(tokens)
    hooked_logits, hooked_cache = hooked.run_with_cache(tokens)
    torch.testing.assert_close(logits, hooked_logits[:, -1], rtol=1e-10, atol=1e-10)
    _assert_same_sites(ours_cache, hooked_cache, SITE_HOOKS)
    torch.testing.assert_close(ours.forward_full(tokens), hooked_logits, rtol=1e-10, atol=1e-10)


def test_our_model_exports_to_a_hooked_transformer_with_the_same_activations():
    ours = ModularTransformer(P, d_model=12, n_heads=3, d_head=4, d_mlp=20, seed=3, dtype=torch.float64)
    with torch.no_grad():
        ours.b_in.normal_()
        ours.b_out.normal_()
    hooked = to_hooked_transformer(ours)
    assert hooked.cfg.d_vocab == P + 1 and hooked.cfg.n_ctx == 3 and hooked.cfg.normalization_type is None
    tokens = _all_inputs()
    _, ours_cache = ours.run_with_cache(tokens)
    _, hooked_cache = hooked.run_with_cache(tokens)
    _assert_same_sites(ours_cache, hooked_cache, SITE_HOOKS)
    back = weights_from_hooked_transformer(hooked)
    assert all(torch.equal(back[k], v) for k, v in ours.weight_dict().items())
    again = to_hooked_transformer(ours.weight_dict())  # a weight dict works too
    assert all(torch.equal(p, q) for p, q in zip(again.parameters(), hooked.parameters()))


def test_round_trip_from_hooked_is_exact():
    hooked = _hooked()
    back = to_hooked_transformer(from_hooked_transformer(hooked))
    a, b = dict(hooked.named_parameters()), dict(back.named_parameters())
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_grokking_demo_config_with_p_outputs_converts():
    """Nanda's TransformerLens demo: d_vocab_out = P; the '=' logit becomes a zero column."""
    hooked = _hooked(d_vocab_out=P, dtype=torch.float32)
    ours = from_hooked_transformer(hooked)
    tokens = _all_inputs()
    logits = ours(tokens)
    assert torch.equal(logits[:, P], torch.zeros(P * P))
    torch.testing.assert_close(logits[:, :P], hooked(tokens)[:, -1], rtol=1e-5, atol=1e-5)


def test_progress_measures_run_on_a_converted_model():
    ours = from_hooked_transformer(_hooked())
    data = modular_addition_data(P, 0.5, seed=0)
    with torch.no_grad():
        logits, cache = ours.run_with_cache(torch.as_tensor(data.tokens))
    logits = logits[:, :P].numpy()
    labels = np.asarray(data.labels)
    freqs = progress.key_frequencies_neurons(cache["mlp_post"].numpy(), fve_threshold=0.0)
    assert freqs.size >= 1
    restricted = progress.restricted_loss(logits, labels, freqs)
    excluded = progress.excluded_loss(logits, labels, freqs, np.asarray(data.train_mask))
    assert math.isfinite(restricted) and math.isfinite(excluded)


@pytest.mark.parametrize("setting, value, needle", [
    ("normalization_type", "LN", "cfg.normalization_type must be None"),
    ("n_layers", 2, "cfg.n_layers must be 1"),
    ("act_fn", "gelu", "cfg.act_fn must be 'relu'"),
    ("attn_only", True, "cfg.attn_only must be False"),
    ("n_ctx", 4, "cfg.n_ctx must be 3"),
    ("d_vocab_out", P - 1, "cfg.d_vocab_out must be"),
    ("positional_embedding_type", "rotary", "cfg.positional_embedding_type must be 'standard'"),
    ("use_attn_scale", False, "cfg.use_attn_scale must be True"),
])
def test_unrepresentable_configs_are_refused_naming_the_setting(setting, value, needle):
    overrides = {setting: value}
    if setting == "positional_embedding_type":
        overrides["rotary_dim"] = 8
    hooked = HookedTransformer(_config(**overrides))
    with pytest.raises(ValueError, match=needle.replace("(", r"\(")):
        from_hooked_transformer(hooked)


@pytest.mark.parametrize("bias", ["blocks.0.attn.b_Q", "blocks.0.attn.b_K", "blocks.0.attn.b_V",
                                  "blocks.0.attn.b_O", "unembed.b_U"])
def test_nonzero_biases_we_cannot_represent_are_refused(bias):
    hooked = _hooked()
    with torch.no_grad():
        dict(hooked.named_parameters())[bias].fill_(0.1)
    with pytest.raises(ValueError, match=f"{bias} must be zero"):
        from_hooked_transformer(hooked)


def test_non_finite_weights_and_other_objects_are_refused():
    hooked = _hooked()
    with torch.no_grad():
        hooked.blocks[0].mlp.W_in[0, 0] = float("nan")
    with pytest.raises(ValueError, match="blocks.0.mlp.W_in must be finite"):
        from_hooked_transformer(hooked)
    with pytest.raises(ValueError, match="must be a transformer_lens.HookedTransformer"):
        from_hooked_transformer(torch.nn.Linear(2, 2))
