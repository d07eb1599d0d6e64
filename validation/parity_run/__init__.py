"""The main streaming-parity run of van Rossem & Saxe (2025, §4, App. C.1; docs/experiments.md §1).

    python -m validation.parity_run                    # 1000 epochs, snapshots every 5 epochs (~ minutes)
    python -m validation.parity_run --preset paper     # snapshots and validation every epoch (~0.8 GB of states)

    from validation.parity_run import RunConfig, run, load
    result = run(RunConfig(), "runs/parity_run/quick")

One Elman RNN (``rnn/parity/elman.py``: ReLU, 100 units, Xavier-normal gain 0.1, zero
biases, ``h_0`` = ones) is trained on all 2046 binary sequences of length 1..10 to
output their parity, with the paper protocol (``rnn.parity.ensemble``, ``'paper'``: lengths
1→10, shuffled minibatches of 128 that never mix lengths, SGD lr 0.02, MSE on
one-hot targets), tracking at the start of epochs:

* the training loss (every epoch) and the loss on random validation sequences —
  100 of length 50 and 10 each of lengths 25, 100, 250, 1000, 2500, 10000 (P25 Fig. 6:
  all lengths stay flat and then drop together);
* the hidden states of all 2046 sequences plus ``h_0``, from which the automaton is
  extracted (``rnn.automata.extraction``: greedy leader grouping at ``eps = 0.01·‖std‖``, std
  pooled over all tracked epochs and rows), giving the raw and Hopcroft-minimised
  state counts over training (P25 Fig. 4);

and at the end: the merged-pair analysis of the final grouping (``rnn.measure.merged_pairs``;
P25 §4.2 and Fig. 7: do all merged pairs agree on all futures, and which fraction of
agreeing pairs merged per (length, length) cell), the final automaton, its minimised
form (drawn by ``rnn.automata.drawing.draw_dfa``; P25 Fig. 8: the 2-state parity
automaton), whether that is equivalent to parity, and its fidelity to the network on
the validation sequences.

Outputs in ``--out`` (default ``runs/parity_run/PRESET``): ``results.json`` (full
configuration, summary, provenance), ``results.npz`` (curves, state counts,
merged-pair matrices, final parameters and grouping), ``merged_pairs.csv`` and the
figures ``loss_curves``, ``state_counts``, ``merged_pairs``, ``automaton`` (PNG + PDF).

Modules: ``config`` (``RunConfig`` embedding ``rnn.parity.TrainConfig``, presets),
``run`` (``run``, ``load``), ``analysis`` (arrays in, summary out), ``figures``,
``__main__`` (the command line).

Differences from the reference run, on purpose (docs/experiments.md §1): the minibatch
order and the validation sequences come from ``--data-seed`` (the reference used
torch's global RNG); the ``quick`` preset keeps snapshots and validation every 5
epochs (the pooled std of ``eps`` is then taken over those snapshots).
"""
from validation.parity_run.config import PRESETS, RunConfig
from validation.parity_run.dataset import load_dataset
from validation.parity_run.run import EXPERIMENT, RunResult, load, run, validation_sets

__all__ = ["EXPERIMENT", "PRESETS", "RunConfig", "RunResult", "load", "load_dataset", "run", "validation_sets"]
