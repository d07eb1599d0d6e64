"""Trainers and measurements for the two experimental systems of the toolkit.

* ``rnn.parity`` — the streaming-parity Elman RNN of van Rossem & Saxe (2025): data,
  the single-network reference model, the batched ensemble trainer and evaluation.
* ``rnn.automata`` — deterministic automata: the DFA algebra (``dfa``), extraction from
  hidden states (``extraction``), drawing and random regular tasks.
* ``rnn.measure`` — the interaction theory's quantities measured on trained networks:
  prefix-pair statistics by Jacobian–vector products, the contraction factor G and the
  merged pairs of a final automaton.
* ``rnn.modular`` — Nanda et al.'s (2023) modular-addition transformer, its training,
  progress measures and representation-merger metrics.

Each subpackage re-exports its public names, e.g. ``from rnn.parity import train_ensemble``.
"""
