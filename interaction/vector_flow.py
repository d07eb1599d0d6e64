"""The full vector gradient flow of a representation pair, without the collinearity Ansatz (docs/theory.md §2.8).

Beyond the paper. P25 derives eq. 20 from the gradient flow of eqs. 13–15 by assuming
``d(dh)/dt ∥ dh``. Here the flow itself is integrated in any hidden dimension ``d``:
with ``dh = h_2 − h_1 ∈ R^d``, output Jacobians ``D_i ∈ R^{p×d}`` and target
differences ``ỹ_i ∈ R^p`` (``i = 1..N``; the offsets ``ȳ_i`` decouple, docs/theory.md §1.6)::

    d(dh)/dt = −(a/4) ⟨D_iᵀ (D_i dh − ỹ_i)⟩_i,       a = 1/τ_h = 1/τ_h1 + 1/τ_h2
    dD_i/dt  = −(b/4) (D_i dh − ỹ_i) dhᵀ,             b = 1/(N τ_y)

This flow conserves the matrix ``C = dh dhᵀ/a − M/b`` with ``M = ⟨D_iᵀ D_i⟩_i``;
P25's ``A_high`` (eq. 6) is the Rayleigh quotient ``dh₀ᵀ (aC) dh₀ / ‖dh₀‖²``. For
agreeing pairs (all ``ỹ_i = 0``) the exact final distance is
``‖dh(∞)‖² = max(0, λ_max(dh₀dh₀ᵀ − r M₀))`` with ``r = N τ_y/τ_h`` — the paper's closed
form (eq. 5) is exact only while ``dh`` stays an eigenvector of ``M`` (e.g. ``d = 1``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .checks import check_finite, check_int, check_positive
from .odesolve import (DEFAULT_ATOL, DEFAULT_METHOD, DEFAULT_RTOL, EffectiveRates, OdeResult,
                       OdeSystem, integrate, store_parameter)


def _check_pair(dh: Any, D: Any, targets: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dh = check_finite("dh", dh)
    D = check_finite("D", D)
    targets = check_finite("targets", targets)
    if dh.ndim != 1 or dh.size == 0:
        raise ValueError(f"dh must be a non-empty 1-D array (got shape {dh.shape})")
    if D.ndim != 3 or D.shape[2] != dh.size or D.shape[0] == 0 or D.shape[1] == 0:
        raise ValueError(f"D must have shape (N, p, {dh.size}) with N, p >= 1 (got {D.shape})")
    if targets.shape != D.shape[:2]:
        raise ValueError(f"targets must have shape (N, p) = {D.shape[:2]} (got {targets.shape})")
    return dh, D, targets


def linearised_loss(h1: Any, h2: Any, ybar: Any, D: Any, ystar1: Any, ystar2: Any) -> float:
    """The linearised pair loss, P25 eq. 14 (docs/theory.md §1.5).

    ``L = ½ ⟨‖ȳ_i + ½ D_i (h_α − h_¬α) − y*_{α,i}‖²⟩`` averaged over ``α ∈ {1, 2}`` and
    ``i = 1..N``. Shapes: ``h1, h2`` (d,), ``ybar, ystar1, ystar2`` (N, p), ``D`` (N, p, d).
    """
    h1, h2 = np.asarray(h1, float), np.asarray(h2, float)
    ybar, D = np.asarray(ybar, float), np.asarray(D, float)
    r1 = ybar + 0.5 * D @ (h1 - h2) - np.asarray(ystar1, float)
    r2 = ybar + 0.5 * D @ (h2 - h1) - np.asarray(ystar2, float)
    return 0.5 * 0.5 * (np.mean(np.sum(r1**2, axis=1)) + np.mean(np.sum(r2**2, axis=1)))


def loss_gradients(h1: Any, h2: Any, ybar: Any, D: Any, ystar1: Any, ystar2: Any
                   ) -> dict[str, np.ndarray]:
    """Analytic gradients of ``linearised_loss`` (the bracket terms of P25 eq. 15).

    ``∂L/∂h_α = ¼ ⟨D_iᵀ(D_i(h_α − h_¬α) − (y*_{α,i} − y*_{¬α,i}))⟩``,
    ``∂L/∂D_i = (1/(4N)) (D_i dh − ỹ_i) dhᵀ``, ``∂L/∂ȳ_i = (1/N)(ȳ_i − (y*_{1,i} + y*_{2,i})/2)``.
    """
    h1, h2 = np.asarray(h1, float), np.asarray(h2, float)
    ybar, D = np.asarray(ybar, float), np.asarray(D, float)
    ystar1, ystar2 = np.asarray(ystar1, float), np.asarray(ystar2, float)
    N = D.shape[0]
    dh = h2 - h1
    e = D @ dh - (ystar2 - ystar1)               # D_i dh − ỹ_i, shape (N, p)
    g_h2 = 0.25 * np.einsum("ipd,ip->d", D, e) / N
    return {"h1": -g_h2, "h2": g_h2,
            "ybar": (ybar - 0.5 * (ystar1 + ystar2)) / N,
            "D": 0.25 / N * e[:, :, None] * dh[None, None, :]}


class VectorFlowResult(OdeResult):
    """Solution of the vector flow: ``.t``, ``.y`` (packed state), ``.dh`` (T, d), ``.D`` (T, N, p, d)."""

    @property
    def dh(self) -> np.ndarray:
        return self.system.unpack(self.y)[0].T

    @property
    def D(self) -> np.ndarray:
        return np.moveaxis(self.system.unpack(self.y)[1], -1, 0)

    def scalars(self) -> dict[str, np.ndarray]:
        """``H, Y, W, S`` along the solution (``pair_scalars``)."""
        return pair_scalars(self.dh, self.D, self.system.targets)


@dataclass(frozen=True, eq=False)
class VectorFlowSystem(EffectiveRates, OdeSystem):
    """The pair's vector gradient flow in ``(dh, D)`` (docs/theory.md §2.8) for fixed targets ``ỹ_i``.

    ``targets`` has shape (N, p); ``tau_h`` is the combined ``1/τ_h = 1/τ_h1 + 1/τ_h2``.
    The state is packed as ``z = [dh, D.ravel()]`` (``pack``); its components are named
    ``dh[k]`` and ``D[i,o,k]``. The merger event of ``interaction.integrate`` watches ``‖dh‖²``.
    """

    targets: np.ndarray
    hidden_dim: int
    tau_h: float
    tau_y: float

    result_type: ClassVar[type[OdeResult]] = VectorFlowResult
    scalar_parameters: ClassVar[tuple[str, ...]] = ("tau_h", "tau_y")

    def __post_init__(self) -> None:
        targets = check_finite("targets", self.targets)
        if targets.ndim != 2 or 0 in targets.shape:
            raise ValueError(f"targets must have shape (N, p) with N, p >= 1 (got {targets.shape})")
        object.__setattr__(self, "hidden_dim", check_int("hidden_dim", self.hidden_dim, minimum=1))
        store_parameter(self, "tau_h", check_positive("tau_h", self.tau_h))
        store_parameter(self, "tau_y", check_positive("tau_y", self.tau_y))
        object.__setattr__(self, "targets", targets)

    @property
    def N(self) -> int:
        return self.targets.shape[0]

    @property
    def components(self) -> tuple[str, ...]:
        N, p = self.targets.shape
        return tuple(f"dh[{k}]" for k in range(self.hidden_dim)) + tuple(
            f"D[{i},{o},{k}]" for i in range(N) for o in range(p) for k in range(self.hidden_dim))

    def distance2(self, y: np.ndarray) -> Any:
        """``H = ‖dh‖²`` of a packed state ``(n_state,)`` or ``(n_state, T)``."""
        return np.sum(y[:self.hidden_dim] ** 2, axis=0)

    def pack(self, dh: np.ndarray, D: np.ndarray) -> np.ndarray:
        return np.concatenate([np.ravel(dh), np.ravel(D)])

    def unpack(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inverse of ``pack``; ``z`` may carry trailing time axis: (n_state,) or (n_state, T)."""
        d, (N, p) = self.hidden_dim, self.targets.shape
        return z[:d], z[d:].reshape((N, p, d) + z.shape[1:])

    def rhs(self, t: float, z: np.ndarray) -> np.ndarray:
        """``d(dh, D)/dt`` of docs/theory.md §2.8 in ``solve_ivp``'s convention."""
        dh, D = self.unpack(z)
        e = D @ dh - self.targets
        d_dh = -0.25 * self.a * np.einsum("ipd,ip->d", D, e) / self.N
        d_D = -0.25 * self.b * e[:, :, None] * dh[None, None, :]
        return np.concatenate([d_dh, d_D.ravel()])


def pair_scalars(dh: Any, D: Any, targets: Any) -> dict[str, np.ndarray]:
    """The scalars of docs/theory.md §1.8–§1.9 from vector quantities: ``H, Y, W, S``.

    ``dh`` (..., d) and ``D`` (..., N, p, d) may carry leading (e.g. time) axes.
    ``H = ‖dh‖²``, ``Y = ⟨‖D_i dh‖²⟩``, ``W = ⟨dy_iᵀ(dy_i − ỹ_i)⟩``, ``S = ⟨‖ỹ_i‖²⟩``.
    """
    dh, D, targets = np.asarray(dh, float), np.asarray(D, float), np.asarray(targets, float)
    dy = np.einsum("...ipd,...d->...ip", D, dh)
    return {"H": np.sum(dh**2, axis=-1), "Y": np.mean(np.sum(dy**2, axis=-1), axis=-1),
            "W": np.mean(np.sum(dy * (dy - targets), axis=-1), axis=-1),
            "S": np.mean(np.sum(targets**2, axis=-1))}


def invariant_matrix(dh: Any, D: Any, *, tau_h: float, tau_y: float) -> np.ndarray:
    """The conserved matrix ``C = dh dhᵀ/a − M/b`` (docs/theory.md §2.8), ``M = ⟨D_iᵀD_i⟩``.

    ``N`` is ``D.shape[-3]``; leading axes of ``dh`` (..., d) and ``D`` (..., N, p, d) broadcast.
    """
    tau_h = float(check_positive("tau_h", tau_h))
    tau_y = float(check_positive("tau_y", tau_y))
    dh, D = np.asarray(dh, float), np.asarray(D, float)
    N = D.shape[-3]
    M = np.mean(np.einsum("...ipd,...ipe->...ide", D, D), axis=-3)
    return tau_h * dh[..., :, None] * dh[..., None, :] - N * tau_y * M


def exact_agreeing_final_distance(dh0: Any, M0: Any, r: float) -> float:
    """Exact ``‖dh(∞)‖²`` of an agreeing pair under the full vector flow (docs/theory.md §2.8).

    ``max(0, λ_max(dh₀dh₀ᵀ − r M₀))`` with ``M₀ = ⟨D_iᵀD_i⟩`` at ``t = 0`` and
    ``r = N τ_y/τ_h``. The pair merges iff ``dh₀dh₀ᵀ ⪯ r M₀``. This is ``≥ max(0, A_high)``;
    the two agree when ``dh₀`` is an eigenvector of ``M₀`` (e.g. hidden dimension 1).
    """
    dh0 = check_finite("dh0", dh0)
    M0 = check_finite("M0", M0)
    r = float(check_positive("r", r))
    if dh0.ndim != 1 or M0.shape != (dh0.size, dh0.size):
        raise ValueError(f"M0 must have shape ({dh0.size}, {dh0.size}) matching dh0 (got {M0.shape})")
    if not np.allclose(M0, M0.T, rtol=1e-12, atol=1e-12 * np.abs(M0).max(initial=0.0)):
        raise ValueError("M0 must be symmetric (M0 = <D_i^T D_i>)")
    lam = np.linalg.eigvalsh(np.outer(dh0, dh0) - r * 0.5 * (M0 + M0.T))
    return max(0.0, float(lam[-1]))


def integrate_vector_flow(dh0: Any, D0: Any, targets: Any, *, tau_h: float, tau_y: float,
                          t_max: float, method: str = DEFAULT_METHOD, rtol: float = DEFAULT_RTOL,
                          atol: float = DEFAULT_ATOL, t_eval: Any = None,
                          merger_tol: float | None = None) -> VectorFlowResult:
    """Integrate the full vector flow (docs/theory.md §2.8) from ``(dh0, D0)`` on ``[0, t_max]``.

    ``dh0`` (d,), ``D0`` (N, p, d), ``targets`` = ``ỹ_i`` (N, p). Wrapper of
    ``integrate(VectorFlowSystem(...), system.pack(dh0, D0), t_max, ...)``; status
    follows scipy (``0`` reached ``t_max``, ``1`` merger event ``‖dh‖² = merger_tol``,
    ``-1`` failure; a non-finite solution is a failure).
    """
    dh0, D0, targets = _check_pair(dh0, D0, targets)
    system = VectorFlowSystem(targets=targets, hidden_dim=dh0.size, tau_h=tau_h, tau_y=tau_y)
    return integrate(system, system.pack(dh0, D0), t_max, method=method, rtol=rtol, atol=atol,
                     t_eval=t_eval, merger_tol=merger_tol)
