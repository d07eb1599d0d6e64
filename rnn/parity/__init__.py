"""The streaming-parity Elman RNN (van Rossem & Saxe 2025, §C.1): data, model, ensemble trainer, evaluation."""
from rnn.parity.data import PAD, SequenceSet, all_sequences, parity, random_sequences, sample_sequences
from rnn.parity.elman import NONLINEARITIES, PARAM_NAMES, init_params
from rnn.parity.ensemble import (LOSSES, PROTOCOLS, STATUSES, EnsembleResult, TrainConfig, evaluate,
                                 hidden_states, loss_and_gradients, outputs, paper_minibatches,
                                 stack_params, train_ensemble)
from rnn.parity.prefix_trie import PrefixTrie, build_trie
from rnn.parity.snapshots import SnapshotRun, train_with_snapshots

__all__ = ["PAD", "SequenceSet", "all_sequences", "parity", "random_sequences", "sample_sequences",
           "NONLINEARITIES", "PARAM_NAMES", "init_params",
           "LOSSES", "PROTOCOLS", "STATUSES", "EnsembleResult", "TrainConfig", "evaluate", "hidden_states",
           "loss_and_gradients", "outputs", "paper_minibatches", "stack_params", "train_ensemble",
           "PrefixTrie", "build_trie", "SnapshotRun", "train_with_snapshots"]
