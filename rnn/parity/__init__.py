"""The streaming-parity Elman RNN (van Rossem & Saxe 2025, §C.1): data, model, ensemble trainer, evaluation.

``data`` (sequences and parity targets), ``elman`` (one network), ``kernels`` (batched
prefix-shared forward/backward), ``ensemble`` (``TrainConfig`` and the training loop),
``evaluation`` (loss/accuracy, outputs and hidden states of trained networks),
``prefix_trie`` and ``snapshots``.
"""
from rnn.parity.data import (
    PAD,
    SequenceSet,
    all_sequences,
    parity,
    random_sequences,
    sample_sequences,
)
from rnn.parity.elman import NONLINEARITIES, PARAM_NAMES, init_params
from rnn.parity.ensemble import (
    PROTOCOLS,
    STATUSES,
    EnsembleResult,
    TrainConfig,
    paper_minibatches,
    train_ensemble,
)
from rnn.parity.evaluation import evaluate, hidden_states, outputs, readout_of
from rnn.parity.kernels import LOSSES, READOUTS, loss_and_gradients, stack_params
from rnn.parity.prefix_trie import PrefixTrie, build_trie
from rnn.parity.snapshots import SnapshotRun, train_with_snapshots

__all__ = ["LOSSES", "NONLINEARITIES", "PAD", "PARAM_NAMES", "PROTOCOLS", "READOUTS", "STATUSES", "EnsembleResult",
           "PrefixTrie", "SequenceSet", "SnapshotRun", "TrainConfig", "all_sequences", "build_trie", "evaluate",
           "hidden_states", "init_params", "loss_and_gradients", "outputs", "paper_minibatches", "parity",
           "random_sequences", "readout_of", "sample_sequences", "stack_params", "train_ensemble",
           "train_with_snapshots"]
