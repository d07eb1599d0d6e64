"""Nanda et al.'s (2023) one-layer grokking transformer on modular addition.

``data`` (the task and its train/test split), ``transformer`` (the model, computed at ``=``),
``train`` (full-batch AdamW with checkpoints), ``fourier`` (the real Fourier basis),
``progress`` (key frequencies, restricted/excluded loss, Gini, phases, mechanistic checks)
and ``mergers`` (representation-merger metrics). Analysis functions take arrays.
"""
from rnn.modular.data import ModularAdditionData, is_prime, modular_addition_data
from rnn.modular.train import (PRESETS, ModularConfig, TrainResult, checkpoint_epochs, preset_config, resolve_device,
                               train)
from rnn.modular.transformer import SITES, ModularTransformer, model_from_weights

__all__ = ["ModularAdditionData", "is_prime", "modular_addition_data", "PRESETS", "ModularConfig", "TrainResult",
           "checkpoint_epochs", "preset_config", "resolve_device", "train", "SITES", "ModularTransformer",
           "model_from_weights"]
