"""The interaction theory of representation mergers (van Rossem & Saxe, ICML 2025; ICML 2024).

The theory, its derivation and the corrections of the paper's printed errors are in
``docs/theory.md``; each function's docstring names the P25 equation it implements
and the section there.

Quick reference::

    from interaction import a_high, a_low, final_distance, will_merge
    A, L = a_high(H0, Y0, N=N, tau_h=1.0, tau_y=1.0), a_low(S, N=N, tau_h=1.0, tau_y=1.0)
    final_distance(A, L)      # eq. 5: ||dh(inf)||^2
    will_merge(A, L)          # eq. 7

    from interaction import ThreeScalarSystem, integrate
    res = integrate(ThreeScalarSystem(S=S, N=N, tau_h=1.0, tau_y=1.0), (H0, Y0, W0), 500.0)
    res.status, res.message, res.H[-1]   # scipy's codes: 0 t_max, 1 event, -1 failure
"""
from interaction.artifacts import check_output_dir, check_output_file, package_version
from interaction.batched import (BatchedResult, BatchOutcome, BatchStatus, integrate_batched,
                                 integrate_reduced_batched, integrate_three_scalar_batched)
from interaction.boundary import critical_prefix_length, merger_condition, shared_continuations
from interaction.closed_form import (a_high, a_low, agreeing_pair_distance, final_distance,
                                     will_merge)
from interaction.fit import RateFit, fit_rates
from interaction.fixed_expansion import (FixedExpansionResult, FixedExpansionSystem,
                                         integrate_fixed_expansion)
from interaction.fixed_points import STABILITY_CLASSES, FixedPoint, fixed_points
from interaction.odesolve import (DEFAULT_ATOL, DEFAULT_METHOD, DEFAULT_RTOL, METHODS, OdeResult,
                                  OdeSystem, integrate)
from interaction.phase_portrait import phase_portrait, save_phase_portrait
from interaction.reduced import (ReducedResult, ReducedSystem, conserved_a_high, integrate_reduced,
                                 rhs_reduced, w_nullcline, y_from_a_high)
from interaction.three_scalar import (PerContinuationResult, PerContinuationSystem,
                                      ThreeScalarResult, ThreeScalarSystem,
                                      integrate_per_continuation, integrate_three_scalar,
                                      rhs_per_continuation, rhs_three_scalar)
from interaction.two_point_2024 import (TwoPoint2024Result, TwoPoint2024System, a_high_2024,
                                        a_low_2024, h_final_2024, integrate_two_point_2024)
from interaction.vector_flow import (VectorFlowResult, VectorFlowSystem,
                                     exact_agreeing_final_distance, integrate_vector_flow,
                                     invariant_matrix)

__version__ = package_version()

__all__ = [
    "BatchOutcome", "BatchStatus", "BatchedResult", "DEFAULT_ATOL", "DEFAULT_METHOD",
    "DEFAULT_RTOL", "FixedExpansionResult", "FixedExpansionSystem", "FixedPoint", "METHODS",
    "OdeResult", "OdeSystem", "PerContinuationResult", "PerContinuationSystem", "RateFit",
    "ReducedResult", "ReducedSystem", "STABILITY_CLASSES", "ThreeScalarResult",
    "ThreeScalarSystem", "TwoPoint2024Result", "TwoPoint2024System", "VectorFlowResult",
    "VectorFlowSystem", "__version__", "a_high", "a_high_2024", "a_low", "a_low_2024",
    "agreeing_pair_distance", "check_output_dir", "check_output_file", "conserved_a_high",
    "critical_prefix_length", "exact_agreeing_final_distance", "final_distance", "fit_rates",
    "fixed_points", "h_final_2024", "integrate", "integrate_batched",
    "integrate_fixed_expansion", "integrate_per_continuation", "integrate_reduced",
    "integrate_reduced_batched", "integrate_three_scalar", "integrate_three_scalar_batched",
    "integrate_two_point_2024", "integrate_vector_flow", "invariant_matrix", "merger_condition",
    "phase_portrait", "rhs_per_continuation", "rhs_reduced", "rhs_three_scalar",
    "save_phase_portrait", "shared_continuations", "w_nullcline", "will_merge", "y_from_a_high",
]
