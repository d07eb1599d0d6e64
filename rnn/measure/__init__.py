"""The interaction theory's quantities measured on trained Elman RNNs (P25 §3, §4.2)."""
from rnn.measure.contraction import contraction_ratios, estimate_contraction
from rnn.measure.merged_pairs import MergedPairs, future_classes, merged_pair_indices, merged_pairs
from rnn.measure.prediction import (KINDS, PairPredictions, ScalingDiagnostics, cell_prediction, cell_threshold,
                                    predict_ensemble_pairs, predict_pairs, scaling_diagnostics)
from rnn.measure.pairs import PairMeasurements, PairPlan, measure_pairs, measure_pairs_over_training, plan_pairs

__all__ = ["contraction_ratios", "estimate_contraction", "MergedPairs", "future_classes", "merged_pair_indices",
           "merged_pairs", "PairMeasurements", "PairPlan", "measure_pairs", "measure_pairs_over_training",
           "plan_pairs", "KINDS", "PairPredictions", "ScalingDiagnostics", "cell_prediction", "cell_threshold",
           "predict_ensemble_pairs", "predict_pairs", "scaling_diagnostics"]
