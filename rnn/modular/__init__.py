"""Nanda et al.'s (2023) one-layer grokking transformer on modular addition.

``data`` (the task and its train/test split), ``transformer`` (the model, computed at ``=``),
``train`` (full-batch AdamW with checkpoints), ``fourier`` (the real Fourier basis),
``progress`` (key frequencies, restricted/excluded loss, Gini, phases, mechanistic checks),
``mergers`` (representation-merger metrics) and ``pair_theory`` (the interaction theory's pair
quantities ``H, Y, W, S`` at a site, by batched Jacobian–vector products of the map from the
site to the logits; docs/theory.md §1). Analysis functions take arrays.
"""
from rnn.modular.data import ModularAdditionData, is_prime, modular_addition_data
from rnn.modular.train import (PRESETS, ModularConfig, TrainResult, checkpoint_epochs, preset_config, resolve_device,
                               train)
from rnn.modular.transformer import DOWNSTREAM_SITES, SITES, ModularTransformer, model_from_weights

__all__ = ["ModularAdditionData", "is_prime", "modular_addition_data", "PRESETS", "ModularConfig", "TrainResult",
           "checkpoint_epochs", "preset_config", "resolve_device", "train", "DOWNSTREAM_SITES", "SITES",
           "ModularTransformer", "model_from_weights"]
