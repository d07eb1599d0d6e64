"""The interaction theory's pair quantities measured on the modular-addition transformer (docs/theory.md §1, §2.3).

The 2-point theory follows two representations and the map that reads them out. Here a
*pair* is two inputs ``i = (a, b, =)`` and ``j = (a', b', =)``, a *site* one of the
activations at ``=`` after attention (``rnn.modular.transformer.DOWNSTREAM_SITES``), and:

* ``h1 = h_site(i)``, ``h2 = h_site(j)``, ``dh = h2 − h1``, midpoint ``h̄ = (h1 + h2)/2`` and
  ``H = ‖dh‖²`` (docs/theory.md notation);
* ``y(h)`` is the downstream map from the site to the answer logits at ``=``
  (``ModularTransformer.downstream``, the ``=`` logit dropped as by every metric); where the
  residual connection around the MLP bypasses the site (``mlp_pre``, ``mlp_post``,
  ``mlp_out``) its ``resid_mid`` is held at the pair's midpoint, which shifts ``y`` by a
  constant and leaves its Jacobian ``J`` unchanged;
* ``dy = J(h̄)·dh`` (docs/theory.md §1.4, eq. 13), a Jacobian–vector product by
  ``torch.func.jvp``, **one batched call for all pairs** (the map acts row by row, so the
  product of the batched Jacobian with the stacked ``dh`` is every pair's own ``J dh``);
* ``ỹ = y*_2 − y*_1`` with one-hot targets over the ``P`` answers (the MSE coding of P25
  §C.1), ``S = ‖ỹ‖²`` (0 for the same answer, 2 otherwise; ``mergers.target_separation``),
  ``Y = ‖dy‖²`` and ``W = dy·(dy − ỹ)`` (the alignment variable of §1.8);
* the Taylor ratio of P25 App. D.2, ``‖(y(h1) + y(h2))/2 − y(h̄)‖ / ‖½ dy‖`` (as
  ``rnn.measure.pairs``): how far the linearisation about the midpoint is from exact.

**N = 1.** Every input ``a, b, =`` is one training sequence, read out once at ``=`` (the
empty continuation), so each pair shares exactly one continuation: ``N = 1`` in eqs. 6
and 25 (``interaction.a_high``, ``interaction.a_low``), and ``Y``, ``W``, ``S`` are single
terms rather than averages.

**Where the 2-point theory does not apply.** It needs both points of the pair to be
trained: each receives the force of its own target (matched data, docs/theory.md §1.2). A
held-out (test) input receives no target force at all; a test–train pair has ``N = 0``
shared trained continuations, and the theory then predicts nothing (no interaction), so
such pairs are not measured here. Their merging with their class, grokking seen in
representation space, is an indirect effect of weight sharing outside the 2-point theory.
The theory is also derived for squared error and free representations (§1.3, §1.5); the
transformer is trained with cross-entropy and its representations are tied by shared
weights: the measured ``H, Y, W`` test that idealisation, they do not assume it.

All quantities are computed in float64 (``dtype``) from the activations of the checkpoint's
forward pass (no second forward over the inputs), on the device of those activations.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import jvp

from interaction.checks import check_choice
from rnn.modular.mergers import target_separation
from rnn.modular.transformer import DOWNSTREAM_SITES, ModularTransformer


@dataclass(frozen=True)
class PairQuantities:
    """The theory's variables of each pair at one site and one checkpoint, float64.

    ``(n_pairs,)``: ``H = ‖dh‖²``, ``Y = ‖dy‖²``, ``W = dy·(dy − ỹ)``, ``S = ‖ỹ‖²`` and the
    Taylor ratio (``nan`` where ``dy = 0``); ``dy = J(h̄) dh`` itself ``(n_pairs, P)``. See the
    module docstring.
    """

    H: np.ndarray
    Y: np.ndarray
    W: np.ndarray
    S: np.ndarray
    taylor_ratio: np.ndarray
    dy: np.ndarray


def check_pairs(pairs: np.ndarray, n_rows: int) -> np.ndarray:
    """``pairs`` as a ``(2, n)`` int64 array of row indices in ``[0, n_rows)``, ``n >= 1``."""
    arr = np.asarray(pairs)
    if arr.ndim != 2 or arr.shape[0] != 2 or arr.shape[1] < 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"pairs must be a (2, n) integer array with n >= 1 (got shape {arr.shape}, "
                         f"dtype {arr.dtype})")
    if arr.min() < 0 or arr.max() >= n_rows:
        raise ValueError(f"pairs must index rows in [0, {n_rows - 1}] (got {arr.min()}..{arr.max()})")
    return arr.astype(np.int64)


def measure_pairs(model: ModularTransformer, cache: Mapping[str, torch.Tensor], pairs: np.ndarray,
                  labels: np.ndarray, site: str, *, dtype: torch.dtype = torch.float64) -> PairQuantities:
    """``H, Y, W, S`` and the Taylor ratio of the pairs ``(i, j)`` = columns of ``pairs`` at ``site``.

    ``cache``: the named activations of ``model.run_with_cache`` over the inputs that
    ``pairs`` and ``labels`` (their answers) index. ``h1`` is row ``i`` and ``h2`` row ``j``.
    """
    site = check_choice("site", site, DOWNSTREAM_SITES)
    for name in (site, "resid_mid"):
        if name not in cache:
            raise ValueError(f"cache must hold the activation {name!r} (a run_with_cache dict)")
    n_rows = cache[site].shape[0]
    labels = np.asarray(labels)
    if labels.shape != (n_rows,):
        raise ValueError(f"labels must have shape ({n_rows},), one answer per cached input (got {labels.shape})")
    if np.any((labels < 0) | (labels >= model.P)):
        raise ValueError(f"labels must lie in [0, {model.P - 1}]")
    pairs = check_pairs(pairs, n_rows)
    device = cache[site].device
    net = copy.deepcopy(model).to(device=device, dtype=dtype)
    for p in net.parameters():
        p.requires_grad_(False)
    i, j = (torch.as_tensor(k, device=device) for k in pairs)
    h, skip = (cache[name].detach().to(dtype) for name in (site, "resid_mid"))
    h1, h2 = h[i], h[j]
    dh, mid = h2 - h1, 0.5 * (h1 + h2)
    skip_mid = 0.5 * (skip[i] + skip[j])
    P = model.P

    def readout(x: torch.Tensor) -> torch.Tensor:
        return net.downstream(site, x, skip_mid)[:, :P]

    y_mid, dy = jvp(readout, (mid,), (dh,))
    second = 0.5 * (readout(h1) + readout(h2)) - y_mid
    eye = torch.eye(P, dtype=dtype, device=device)
    y_tilde = eye[torch.as_tensor(labels[pairs[1]], device=device)] - eye[torch.as_tensor(labels[pairs[0]],
                                                                                            device=device)]
    H = (dh * dh).sum(-1)
    Y = (dy * dy).sum(-1)
    W = (dy * (dy - y_tilde)).sum(-1)
    first = 0.5 * torch.linalg.vector_norm(dy, dim=-1)
    taylor = torch.where(first > 0, torch.linalg.vector_norm(second, dim=-1) / first, torch.nan)
    S = target_separation(labels[pairs[0]], labels[pairs[1]])
    return PairQuantities(H=H.cpu().numpy(), Y=Y.cpu().numpy(), W=W.cpu().numpy(), S=S,
                          taylor_ratio=taylor.cpu().numpy(), dy=dy.cpu().numpy())
