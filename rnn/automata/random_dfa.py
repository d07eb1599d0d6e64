"""Random regular tasks: seeded random automata and their targets (van Rossem & Saxe 2025, §D.5).

P25 trains on the outputs of random automata with at most ``k`` states (paper: 7 states,
new-state probability 0.75; the authors' notebook calls its generator with 0.6 —
docs/experiments.md §3). We default to the paper's 0.75. Construction (our reading of §D.5, stated here
so it is reproducible): states are created breadth-first from the start state; for each
state in creation order and each symbol in order, with probability ``p_new`` — and only
while fewer than ``max_states`` exist — the transition goes to a newly created state,
otherwise to a uniformly chosen existing state. Every state gets a uniformly random
output class. The result is complete (finite) and every state is reachable, but it need
not be minimal; ``rnn.automata.dfa.minimize`` gives its minimal form.
"""
from __future__ import annotations

import numpy as np

from interaction.checks import check_int, check_interval
from rnn.automata.dfa import DFA
from rnn.parity.data import SequenceSet

PAPER_NEW_STATE_PROBABILITY = 0.75
CODE_NEW_STATE_PROBABILITY = 0.6


def random_dfa(max_states: int = 7, *, p_new: float = PAPER_NEW_STATE_PROBABILITY, n_symbols: int = 2,
               n_outputs: int = 2, seed: int | np.random.Generator = 0) -> DFA:
    """A seeded random complete automaton with at most ``max_states`` states (see module docstring)."""
    max_states = check_int("max_states", max_states, minimum=1)
    check_interval("p_new", p_new, 0.0, 1.0)
    n_symbols = check_int("n_symbols", n_symbols, minimum=1)
    n_outputs = check_int("n_outputs", n_outputs, minimum=1)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(check_int("seed", seed, minimum=0))
    rows: list[list[int]] = [[-1] * n_symbols]
    state = 0
    while state < len(rows):
        for a in range(n_symbols):
            if len(rows) < max_states and rng.random() < p_new:
                rows.append([-1] * n_symbols)
                rows[state][a] = len(rows) - 1
            else:
                rows[state][a] = int(rng.integers(len(rows)))
        state += 1
    outputs = rng.integers(n_outputs, size=len(rows))
    return DFA(np.array(rows, dtype=np.int64), outputs, 0)


def dfa_targets(dfa: DFA, data: SequenceSet) -> np.ndarray:
    """Target class of every sequence: the output of the state it leads to."""
    if data.tokens.size and int(data.tokens.max()) >= dfa.n_symbols:
        raise ValueError(f"data tokens must lie in [0, {dfa.n_symbols - 1}] for this automaton")
    out = dfa.output(data.tokens)
    if np.any(out < 0):
        raise ValueError("dfa must be defined on every sequence of data (it has missing transitions)")
    return out
