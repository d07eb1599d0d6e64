"""Bring your own TransformerLens model: a one-layer ``HookedTransformer`` as our modular-addition transformer.

Nanda et al.'s grokking model (docs/experiments.md §4.2) is a TransformerLens
``HookedTransformer`` with one attention + ReLU-MLP block and no LayerNorm; its weights
have the shapes of ``rnn.modular.transformer`` already. ``from_hooked_transformer`` gives
a ``ModularTransformer`` (``weights_from_hooked_transformer`` its weight dict) on which
every progress measure of ``rnn.modular.progress`` and merger metric of
``rnn.modular.mergers`` runs; ``to_hooked_transformer`` exports ours as a
``HookedTransformer`` whose ``run_with_cache`` holds the same activations at the hooks of
``SITE_HOOKS`` (read at ``=``, the last position, by ``sites_from_cache``).

Representable configurations: ``n_layers=1``, ``attn_only=False``, ``act_fn='relu'``,
``normalization_type=None``, ``n_ctx=3``, ``d_vocab = P + 1`` with ``d_vocab_out`` ``P + 1``
(ours) or ``P`` (the TransformerLens grokking demo: the missing ``=`` logit becomes a zero
column, which every metric drops anyway), standard positional embeddings, causal
attention scaled by ``√d_head``, and no other architectural option (gated or parallel
MLP, local attention, grouped keys, soft caps, QK norm, ...). The attention biases
``b_Q, b_K, b_V, b_O`` and ``b_U`` must be zero (ours has none); ``b_in``, ``b_out`` are
kept. Anything else is refused with a ``ValueError`` naming the setting, before anything
is copied.

Needs the optional extra ``lens`` (``pip install .[lens]``): TransformerLens 2.x or 3.x
(version 4 removed ``HookedTransformer`` in favour of ``TransformerBridge``).
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np
import torch

from rnn.modular.transformer import ModularTransformer, model_from_weights

try:
    from transformer_lens import HookedTransformer, HookedTransformerConfig
except ImportError as error:  # optional dependency: say how to get it
    raise ImportError("rnn.adapters.lens needs TransformerLens with HookedTransformer (versions 2.x-3.x): "
                      "pip install '.[lens]'") from error

__all__ = ["SITE_HOOKS", "from_hooked_transformer", "sites_from_cache", "to_hooked_transformer",
           "weights_from_hooked_transformer"]

SITE_HOOKS = {
    "attn_pattern": "blocks.0.attn.hook_pattern",
    "resid_mid": "blocks.0.hook_resid_mid",
    "mlp_pre": "blocks.0.mlp.hook_pre",
    "mlp_post": "blocks.0.mlp.hook_post",
    "mlp_out": "blocks.0.hook_mlp_out",
    "resid_post": "blocks.0.hook_resid_post",
    "logits": "unembed.hook_out",
}
"""TransformerLens hook of each named activation of ``ModularTransformer.run_with_cache`` (all of ``SITES``)."""

_WEIGHTS = {  # our name -> HookedTransformer parameter
    "W_E": "embed.W_E", "W_pos": "pos_embed.W_pos", "W_Q": "blocks.0.attn.W_Q", "W_K": "blocks.0.attn.W_K",
    "W_V": "blocks.0.attn.W_V", "W_O": "blocks.0.attn.W_O", "W_in": "blocks.0.mlp.W_in",
    "b_in": "blocks.0.mlp.b_in", "W_out": "blocks.0.mlp.W_out", "b_out": "blocks.0.mlp.b_out",
    "W_U": "unembed.W_U",
}
_ZERO_BIASES = ("blocks.0.attn.b_Q", "blocks.0.attn.b_K", "blocks.0.attn.b_V", "blocks.0.attn.b_O", "unembed.b_U")

# cfg setting -> (value required, what is allowed); a setting absent from an older version passes
_REQUIRED = {
    "n_layers": (1, "1 (one attention + MLP block)"),
    "attn_only": (False, "False (the block has an MLP)"),
    "normalization_type": (None, "None (no LayerNorm)"),
    "act_fn": ("relu", "'relu'"),
    "n_ctx": (3, "3 (the inputs a, b, =)"),
    "positional_embedding_type": ("standard", "'standard' (learned W_pos)"),
    "attention_dir": ("causal", "'causal'"),
    "use_attn_scale": (True, "True (scores divided by sqrt(d_head))"),
    "gated_mlp": (False, "False"),
    "parallel_attn_mlp": (False, "False"),
    "final_rms": (False, "False (no final normalisation)"),
    "post_embedding_ln": (False, "False (no LayerNorm)"),
    "use_normalization_before_and_after": (False, "False (no LayerNorm)"),
    "use_qk_norm": (False, "False (no QK norm)"),
    "use_local_attn": (False, "False (global attention)"),
    "num_experts": (None, "None (a dense MLP)"),
    "use_attention_sinks": (False, "False"),
    "use_logn_attn": (False, "False"),
}


def _check_config(cfg) -> int:
    """The modulus ``P`` of a representable config; ``ValueError`` naming the first setting that is not."""
    for name, (required, allowed) in _REQUIRED.items():
        if hasattr(cfg, name) and getattr(cfg, name) != required:
            raise ValueError(f"HookedTransformer cfg.{name} must be {allowed} (got {getattr(cfg, name)!r})")
    for name in ("attn_scores_soft_cap", "output_logits_soft_cap"):
        if getattr(cfg, name, -1.0) > 0:
            raise ValueError(f"HookedTransformer cfg.{name} must be <= 0, no soft cap (got {getattr(cfg, name)!r})")
    kv = getattr(cfg, "n_key_value_heads", None)
    if kv is not None and kv != cfg.n_heads:
        raise ValueError(f"HookedTransformer cfg.n_key_value_heads must be None or n_heads = {cfg.n_heads} (got {kv})")
    if not math.isclose(float(cfg.attn_scale), math.sqrt(cfg.d_head), rel_tol=1e-12):
        raise ValueError(f"HookedTransformer cfg.attn_scale must be sqrt(d_head) = {math.sqrt(cfg.d_head):g} "
                         f"(got {cfg.attn_scale})")
    P = int(cfg.d_vocab) - 1
    if P < 3:
        raise ValueError(f"HookedTransformer cfg.d_vocab must be P + 1 with P >= 3 (got {cfg.d_vocab})")
    if cfg.d_vocab_out not in (P, P + 1):
        raise ValueError(f"HookedTransformer cfg.d_vocab_out must be d_vocab = {P + 1} or d_vocab - 1 = {P} "
                         f"(got {cfg.d_vocab_out})")
    return P


@torch.no_grad()
def weights_from_hooked_transformer(model: HookedTransformer) -> dict[str, torch.Tensor]:
    """Our weight dict (``rnn.modular.transformer`` names and shapes) of a representable ``HookedTransformer``.

    Detached CPU copies in the model's dtype; with ``d_vocab_out = P`` the ``=`` column of
    ``W_U`` is zero. See the module docstring for what is refused.
    """
    if not isinstance(model, HookedTransformer):
        raise ValueError(f"model must be a transformer_lens.HookedTransformer (got {type(model).__name__})")
    P = _check_config(model.cfg)
    params = dict(model.named_parameters())
    missing = [name for name in _WEIGHTS.values() if name not in params]
    if missing:
        raise ValueError(f"HookedTransformer is missing the parameters {missing}")
    for name in _ZERO_BIASES:
        if name in params and bool(params[name].detach().ne(0).any()):
            raise ValueError(f"HookedTransformer {name} must be zero: the modular-addition transformer has no "
                             "attention or unembedding biases (only b_in and b_out)")
    weights = {ours: params[theirs].detach().cpu().clone() for ours, theirs in _WEIGHTS.items()}
    for ours, value in weights.items():
        if not bool(torch.isfinite(value).all()):
            raise ValueError(f"HookedTransformer {_WEIGHTS[ours]} must be finite (got NaN or infinite entries)")
    if weights["W_U"].shape[1] == P:
        weights["W_U"] = torch.cat([weights["W_U"], weights["W_U"].new_zeros(weights["W_U"].shape[0], 1)], dim=1)
    return weights


def from_hooked_transformer(model: HookedTransformer) -> ModularTransformer:
    """Our ``ModularTransformer`` with the weights of a representable one-layer ``HookedTransformer``."""
    return model_from_weights(weights_from_hooked_transformer(model))


@torch.no_grad()
def to_hooked_transformer(model: ModularTransformer | Mapping[str, torch.Tensor | np.ndarray]) -> HookedTransformer:
    """A ``HookedTransformer`` computing ``model`` (or a ``weight_dict()``) exactly, on CPU, in its dtype.

    ``run_with_cache`` of the result holds our named activations at ``SITE_HOOKS``
    (``sites_from_cache`` reads them at ``=``).
    """
    ours = model if isinstance(model, ModularTransformer) else model_from_weights(model)
    weights = ours.weight_dict()
    cfg = HookedTransformerConfig(
        n_layers=1, d_model=ours.d_model, n_heads=ours.n_heads, d_head=ours.d_head, d_mlp=ours.d_mlp,
        d_vocab=ours.d_vocab, d_vocab_out=ours.d_vocab, n_ctx=ours.n_ctx, act_fn="relu",
        normalization_type=None, attn_only=False, positional_embedding_type="standard",
        init_weights=False, dtype=weights["W_E"].dtype, device="cpu")
    with warnings.catch_warnings():  # TransformerLens 3.x flags HookedTransformer as deprecated (kept until 4.0)
        warnings.simplefilter("ignore", DeprecationWarning)
        hooked = HookedTransformer(cfg)
    params = dict(hooked.named_parameters())
    for p in params.values():
        p.zero_()
    for name, theirs in _WEIGHTS.items():
        params[theirs].copy_(weights[name])
    hooked.eval()
    return hooked


def sites_from_cache(cache) -> dict[str, torch.Tensor]:
    """Our named activations at ``=`` from a ``HookedTransformer`` activation cache.

    ``attn_pattern`` ``(B, h, 3)`` (the last query's row); the others ``(B, ·)`` at the
    last position, with the keys of ``ModularTransformer.run_with_cache``.
    """
    out = {}
    for name, hook in SITE_HOOKS.items():
        value = cache[hook]
        out[name] = value[:, :, -1, :] if name == "attn_pattern" else value[:, -1]
    return out
