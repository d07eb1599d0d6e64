"""Nanda et al.'s one-layer grokking transformer (2023, §3; docs/experiments.md §4.2), computed at ``=`` only.

Architecture (reference code ``transformers.py``): token embedding ``W_E`` and learned
positions ``W_pos`` (3 positions), one attention layer with 4 heads of size 32
(causal, scores ``/√d_head``, no biases), a ReLU MLP ``d_model → d_mlp → d_model``
with biases ``b_in``, ``b_out`` (the only biases), no LayerNorm, an untied unembedding
``W_U`` with ``P + 1`` outputs (the ``=`` logit exists in training, as in the code,
and is dropped by every metric). Shapes follow TransformerLens::

    W_E (P+1, d)   W_pos (3, d)   W_Q, W_K, W_V (h, d, e)   W_O (h, e, d)
    W_in (d, m)    b_in (m,)      W_out (m, d)   b_out (d,)  W_U (d, P+1)

Initialisation [code]: every matrix ``~ N(0, 1/d_model)`` except ``W_U ~ N(0, 1/(P+1))``;
biases 0; drawn in the order above from one seeded ``torch.Generator``.

**Last-position forward (exact).** The answer is read at position 2 (``=``) only. With a
single layer, position 2 attends causally to positions 0–2 and nothing downstream
reads the other positions, so only keys/values are needed at all three positions and
the query, attention output, MLP and unembedding only at the last. Because nothing
precedes attention, values and attention scores are read from small ``(token, position)``
tables rather than recomputed per input. ``forward_full``
is the reference-style computation (everything at every position); the two agree
exactly up to float rounding (checked in the tests) and the former is what is trained.

Named activations at ``=`` (TransformerLens-like, ``run_with_cache``): ``attn_pattern``
``(B, h, 3)``, ``resid_mid`` (residual after attention), ``mlp_pre``, ``mlp_post``
(ReLU outputs), ``mlp_out = mlp_post W_out + b_out``, ``resid_post`` and ``logits``
(all ``P + 1``; metrics use ``logits[:, :P]``).
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from interaction.checks import check_choice, check_int

SITES = ("resid_mid", "mlp_post", "mlp_out", "resid_post", "logits")
"""The representation sites at ``=`` used by the merger measurements (docs/experiments.md §5.2)."""
DOWNSTREAM_SITES = ("resid_mid", "mlp_pre", "mlp_post", "mlp_out", "resid_post", "logits")
"""The activations at ``=`` after attention, in computation order: each is a function of the previous
one (and of ``resid_mid`` through the residual connection around the MLP); see ``ModularTransformer.downstream``."""


class ModularTransformer(nn.Module):
    """One-layer attention + ReLU-MLP transformer for ``a, b, =`` inputs (Nanda et al. 2023)."""

    def __init__(self, P: int, *, d_model: int = 128, n_heads: int = 4, d_head: int = 32,
                 d_mlp: int = 512, seed: int = 0, dtype: torch.dtype = torch.float32):
        super().__init__()
        P = check_int("P", P, minimum=3)
        d_model = check_int("d_model", d_model, minimum=1)
        n_heads = check_int("n_heads", n_heads, minimum=1)
        d_head = check_int("d_head", d_head, minimum=1)
        d_mlp = check_int("d_mlp", d_mlp, minimum=1)
        self.P, self.d_vocab, self.n_ctx = P, P + 1, 3
        self.d_model, self.n_heads, self.d_head, self.d_mlp = d_model, n_heads, d_head, d_mlp
        gen = torch.Generator().manual_seed(int(seed))

        def normal(*shape: int, std: float) -> nn.Parameter:
            return nn.Parameter((torch.randn(*shape, generator=gen, dtype=torch.float64) * std).to(dtype))

        s = 1.0 / math.sqrt(d_model)
        self.W_E = normal(self.d_vocab, d_model, std=s)
        self.W_pos = normal(self.n_ctx, d_model, std=s)
        self.W_Q = normal(n_heads, d_model, d_head, std=s)
        self.W_K = normal(n_heads, d_model, d_head, std=s)
        self.W_V = normal(n_heads, d_model, d_head, std=s)
        self.W_O = normal(n_heads, d_head, d_model, std=s)
        self.W_in = normal(d_model, d_mlp, std=s)
        self.W_out = normal(d_mlp, d_model, std=s)
        self.W_U = normal(d_model, self.d_vocab, std=1.0 / math.sqrt(self.d_vocab))
        self.b_in = nn.Parameter(torch.zeros(d_mlp, dtype=dtype))
        self.b_out = nn.Parameter(torch.zeros(d_model, dtype=dtype))

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.W_E[tokens] + self.W_pos[: tokens.shape[1]]

    def _last_position(self, tokens: torch.Tensor, cache: dict[str, torch.Tensor] | None) -> torch.Tensor:
        T = tokens.shape[1]
        positions = torch.arange(T, device=tokens.device)
        # No layer precedes attention, so the residual stream at position p is a function of (token, p)
        # only: keys, values and the query are (vocab × position) tables, and so is every attention
        # score, s[w, v, p, h] = q(w, h) · k(v, p, h) / √d_head for last token w and token v at p. An
        # input then only gathers its T scores per head and its T value vectors (exact up to float
        # rounding; this is 1.8× (P = 59) to 2.4× (P = 113) faster per training step than gathering
        # keys and queries per input, because the gathers' backward passes and the per-input
        # (1 × e)·(e × T) products dominated it).
        x_table = self.W_E[:, None, :] + self.W_pos[None, :T, :]                      # (V, T, d)
        k_table = torch.einsum("vpd,hde->vphe", x_table, self.W_K)                   # (V, T, h, e)
        q_table = torch.einsum("vd,hde->vhe", x_table[:, T - 1], self.W_Q)           # (V, h, e)
        s_table = torch.einsum("whe,vphe->wvph", q_table, k_table) / math.sqrt(self.d_head)
        # the last position sees every position, so the causal mask removes nothing here
        pattern = torch.softmax(s_table[tokens[:, -1:], tokens, positions], dim=1)  # (B, T, h)
        v = torch.einsum("vpd,hde->vphe", x_table, self.W_V)[tokens, positions]      # (B, T, h, e)
        z = (pattern[..., None] * v).sum(1)                                          # (B, h, e)
        resid_mid = x_table[tokens[:, -1], T - 1] + z.flatten(1) @ self.W_O.flatten(0, 1)
        if cache is not None:
            cache.update(attn_pattern=pattern.transpose(1, 2), resid_mid=resid_mid)
        return self._after(0, resid_mid, resid_mid, cache)

    def _after(self, stage: int, x: torch.Tensor, resid_mid: torch.Tensor,
               cache: dict[str, torch.Tensor] | None) -> torch.Tensor:
        """Run the layer from ``DOWNSTREAM_SITES[stage]`` (holding ``x``) to the logits; ``resid_mid``
        feeds the residual connection around the MLP."""
        for site in DOWNSTREAM_SITES[stage + 1:]:
            if site == "mlp_pre":
                x = x @ self.W_in + self.b_in
            elif site == "mlp_post":
                x = torch.relu(x)
            elif site == "mlp_out":
                x = x @ self.W_out + self.b_out
            elif site == "resid_post":
                x = resid_mid + x
            else:
                x = x @ self.W_U
            if cache is not None:
                cache[site] = x
        return x

    def downstream(self, site: str, h: torch.Tensor, resid_mid: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(B, P+1)`` at ``=`` as a function of the activation ``h`` ``(B, ·)`` at ``site``.

        The map "from the site to the read-out" of the interaction theory (docs/theory.md §1.4:
        ``y(h)``). For ``mlp_pre``, ``mlp_post`` and ``mlp_out`` the residual connection around
        the MLP also carries ``resid_mid``, which ``h`` does not determine: it must be given and is
        held fixed (it adds a constant to the logits, so the Jacobian does not depend on it). For
        ``resid_mid`` itself, ``resid_post`` and ``logits`` it is not used. The forward pass runs
        through the same code from ``resid_mid``, so the two cannot drift apart.
        """
        check_choice("site", site, DOWNSTREAM_SITES)
        stage = DOWNSTREAM_SITES.index(site)
        needs_skip = 0 < stage < DOWNSTREAM_SITES.index("resid_post")
        if needs_skip and resid_mid is None:
            raise ValueError(f"resid_mid must be given for site {site!r} (the residual connection bypasses it)")
        if site == "resid_mid":
            resid_mid = h
        return self._after(stage, h, resid_mid, None)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, P+1)`` at the last position for integer ``tokens`` ``(B, 3)``."""
        return self._last_position(tokens, None)

    def run_with_cache(self, tokens: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits at ``=`` and a dict of the named activations there (see module docstring)."""
        cache: dict[str, torch.Tensor] = {}
        logits = self._last_position(tokens, cache)
        return logits, cache

    def forward_full(self, tokens: torch.Tensor) -> torch.Tensor:
        """Reference forward at every position (causal attention, MLP, unembed): logits ``(B, T, P+1)``."""
        x = self._embed(tokens)
        T = x.shape[1]
        q = torch.einsum("bpd,hde->bhpe", x, self.W_Q)
        k = torch.einsum("bpd,hde->bhpe", x, self.W_K)
        v = torch.einsum("bpd,hde->bhpe", x, self.W_V)
        scores = torch.einsum("bhqe,bhpe->bhqp", q, k) / math.sqrt(self.d_head)
        causal = torch.ones(T, T, dtype=torch.bool, device=tokens.device).tril()
        pattern = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
        z = torch.einsum("bhqp,bhpe->bhqe", pattern, v)
        resid_mid = x + torch.einsum("bhqe,hed->bqd", z, self.W_O)
        resid_post = resid_mid + torch.relu(resid_mid @ self.W_in + self.b_in) @ self.W_out + self.b_out
        return resid_post @ self.W_U

    def weight_dict(self) -> dict[str, torch.Tensor]:
        """Detached copies of all parameters, by name (a checkpoint)."""
        return {name: p.detach().clone() for name, p in self.named_parameters()}


def model_from_weights(weights: Mapping[str, torch.Tensor | np.ndarray], *,
                       dtype: torch.dtype | None = None) -> ModularTransformer:
    """Rebuild a model from a ``weight_dict()`` (tensors or numpy arrays), shapes inferred."""
    W_E, W_Q, W_in = (torch.as_tensor(weights[n]) for n in ("W_E", "W_Q", "W_in"))
    model = ModularTransformer(W_E.shape[0] - 1, d_model=W_E.shape[1], n_heads=W_Q.shape[0],
                               d_head=W_Q.shape[2], d_mlp=W_in.shape[1],
                               dtype=dtype or W_E.dtype)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.as_tensor(weights[name]))
    return model
