"""rnn.automata's minimisation and equivalence cross-checked against aalpy (an independent, well-kept library).

Our ``minimize`` (Hopcroft), ``minimal_size`` (vectorised Moore refinement) and
``equivalent`` / ``distinguishing_string`` (product BFS) are compared with aalpy's
``MooreMachine.minimize`` / ``Dfa.minimize`` (characterisation-set merging) and
``aalpy.utils.bisimilar`` on random automata, on partial automata and on automata
extracted from networks (an untrained one, and a small ``nn.RNN`` trained on parity,
converted with ``rnn.adapters``).
"""
import numpy as np
import pytest
import torch
from torch import nn

from rnn.adapters import from_torch_rnn
from rnn.automata import (DFA, distinguishing_string, equivalent, extract_automaton, minimal_size, minimize,
                          parity_dfa, random_dfa, std_norm)
from rnn.parity import all_sequences, hidden_states, init_params
from rnn.parity.elman import readout

aalpy_automata = pytest.importorskip("aalpy.automata")
aalpy_utils = pytest.importorskip("aalpy.utils")

SINK_OUTPUT = "undefined"


def _reachable(dfa: DFA) -> list[int]:
    order, seen = [dfa.start], {dfa.start}
    for s in order:
        for t in dfa.transitions[s]:
            if t >= 0 and int(t) not in seen:
                seen.add(int(t))
                order.append(int(t))
    return order


def to_aalpy(dfa: DFA, *, kind: str = "moore", complete: bool = False):
    """The reachable part of ``dfa`` as an aalpy machine (start state first).

    ``complete=True`` sends missing transitions to a sink whose output is ``'undefined'``
    (aalpy minimises only input-complete machines); otherwise they are left out, which
    ``bisimilar`` treats as a difference of its own, as ``rnn.automata.equivalent`` does.
    """
    states = _reachable(dfa)
    setup = {}
    needs_sink = False
    for s in states:
        row = {}
        for a, t in enumerate(dfa.transitions[s]):
            if t >= 0:
                row[a] = f"q{int(t)}"
            elif complete:
                row[a] = "sink"
                needs_sink = True
        out = int(dfa.outputs[s])
        setup[f"q{s}"] = (bool(out) if kind == "dfa" else out, row)
    if needs_sink:
        setup["sink"] = (False if kind == "dfa" else SINK_OUTPUT, {a: "sink" for a in range(dfa.n_symbols)})
    cls = aalpy_automata.Dfa if kind == "dfa" else aalpy_automata.MooreMachine
    return cls.from_state_setup(setup), needs_sink


def aalpy_minimal_size(dfa: DFA, kind: str = "moore") -> int:
    machine, has_sink = to_aalpy(dfa, kind=kind, complete=True)
    machine.minimize()
    return machine.size - (1 if has_sink else 0)


def aalpy_output(machine, word) -> object:
    machine.reset_to_initial()
    state = machine.current_state
    for a in word:
        if a not in state.transitions:
            return SINK_OUTPUT
        state = state.transitions[a]
    return state.output


def _scrambled_copy(dfa: DFA, rng: np.random.Generator) -> DFA:
    """An equivalent, non-minimal automaton: every state duplicated, transitions split at random, ids permuted."""
    n = dfa.n_states
    trans = np.vstack([dfa.transitions, dfa.transitions])
    trans = np.where(trans >= 0, trans + n * rng.integers(0, 2, size=trans.shape), trans)
    perm = rng.permutation(2 * n)
    new_trans = np.empty_like(trans)
    new_trans[perm] = np.where(trans >= 0, perm[np.maximum(trans, 0)], trans)
    outputs = np.empty(2 * n, dtype=np.int64)
    outputs[perm] = np.concatenate([dfa.outputs, dfa.outputs])
    return DFA(new_trans, outputs, int(perm[dfa.start]))


def _punch_holes(dfa: DFA, rng: np.random.Generator, p: float = 0.2) -> DFA:
    trans = np.where(rng.random(dfa.transitions.shape) < p, -1, dfa.transitions)
    return DFA(trans, dfa.outputs, dfa.start)


def _random_automata(n: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield random_dfa(int(rng.integers(1, 12)), p_new=float(rng.uniform(0.3, 0.95)),
                         n_symbols=int(rng.integers(1, 4)), n_outputs=int(rng.integers(1, 4)), seed=rng), rng


def _check_against_aalpy(dfa: DFA, rng: np.random.Generator) -> None:
    ours = minimize(dfa)
    size = aalpy_minimal_size(dfa)
    assert minimal_size(dfa) == size == len(_reachable(ours))
    if dfa.is_finite and set(np.unique(dfa.outputs)) <= {0, 1}:  # aalpy's Dfa: accepting = output 1
        assert aalpy_minimal_size(dfa, kind="dfa") == size
    # our minimal automaton is equivalent to the original in aalpy's eyes, and to aalpy's minimal machine
    machine, _ = to_aalpy(dfa)
    assert aalpy_utils.bisimilar(machine, to_aalpy(ours)[0])
    aalpy_min, _ = to_aalpy(dfa, complete=True)
    aalpy_min.minimize()
    ours_completed, _ = to_aalpy(ours, complete=True)
    assert aalpy_utils.bisimilar(aalpy_min, ours_completed)
    # equivalence with a scrambled copy and with a mutated copy, both routes agreeing
    copy = _scrambled_copy(dfa, rng)
    assert equivalent(dfa, copy) and aalpy_utils.bisimilar(machine, to_aalpy(copy)[0])
    canonical = minimize(copy)
    assert np.array_equal(canonical.transitions, ours.transitions) and np.array_equal(canonical.outputs, ours.outputs)
    assert minimal_size(copy) == size
    mutated_outputs = dfa.outputs.copy()
    mutated_outputs[rng.integers(dfa.n_states)] += 1
    for other in (DFA(dfa.transitions, mutated_outputs, dfa.start), _punch_holes(dfa, rng)):
        other_machine, _ = to_aalpy(other)
        theirs = aalpy_utils.bisimilar(machine, other_machine, return_cex=True)
        word = distinguishing_string(dfa, other)
        assert (word is None) == (theirs is None) == equivalent(dfa, other)
        if word is not None:
            # each route's counterexample distinguishes the automata in the other route, and ours is shortest
            assert aalpy_output(machine, word) != aalpy_output(other_machine, word)
            assert _output_or_undefined(dfa, theirs) != _output_or_undefined(other, theirs)
            assert len(word) <= len(theirs)


def _output_or_undefined(dfa: DFA, word) -> int:
    state = dfa.start
    for a in word:
        state = int(dfa.transitions[state, a])
        if state < 0:
            return -1
    return int(dfa.outputs[state])


def test_random_complete_automata_agree_with_aalpy():
    for dfa, rng in _random_automata(60, seed=1):
        assert dfa.is_finite
        _check_against_aalpy(dfa, rng)


def test_random_partial_automata_agree_with_aalpy():
    for dfa, rng in _random_automata(60, seed=2):
        _check_against_aalpy(_punch_holes(dfa, rng, p=float(rng.uniform(0.05, 0.5))), rng)


def test_cross_check_can_fail():
    """The harness sees a difference: two inequivalent automata are told apart by both routes."""
    parity = parity_dfa()
    constant = DFA(np.array([[0, 0]]), np.array([0]), 0)
    assert not equivalent(parity, constant)
    assert not aalpy_utils.bisimilar(to_aalpy(parity)[0], to_aalpy(constant)[0])
    assert aalpy_minimal_size(parity) == 2 != aalpy_minimal_size(constant)


def _extracted(params, nonlinearity, data, eps_factor):
    hidden = hidden_states(params, data, nonlinearity=nonlinearity)
    out = readout(params, torch.as_tensor(hidden)).numpy()
    return extract_automaton(hidden, data, eps=eps_factor * std_norm(hidden, "final"), outputs=out).dfa


@pytest.mark.parametrize("gain, eps_factor", [(0.5, 0.1), (1.5, 0.1), (1.5, 0.3), (3.0, 0.05)])
def test_automata_extracted_from_untrained_networks_agree_with_aalpy(gain, eps_factor):
    data = all_sequences(6)
    rng = np.random.default_rng(7)
    for seed in range(3):
        params = init_params(hidden=12, n_in=2, n_out=2, gain=gain, seed=seed)
        params["b_ih"] = 0.1 * torch.randn(12, generator=torch.Generator().manual_seed(seed))
        dfa = _extracted(params, "relu", data, eps_factor)
        assert dfa.n_states > 1
        _check_against_aalpy(dfa, rng)


def test_automaton_of_an_nn_rnn_trained_on_parity_agrees_with_aalpy():
    torch.manual_seed(0)
    data = all_sequences(6)
    tokens = torch.as_tensor(np.maximum(data.tokens, 0), dtype=torch.long)
    lengths = torch.as_tensor(data.lengths)
    targets = torch.as_tensor(np.array([sum(data.sequence(i)) % 2 for i in range(len(data))]))
    net, head = nn.RNN(2, 16, batch_first=True), nn.Linear(16, 2)
    opt = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=0.01)
    x = nn.functional.one_hot(tokens, 2).float()
    for _ in range(300):
        states, _ = net(x)
        loss = nn.functional.cross_entropy(head(states[torch.arange(len(data)), lengths - 1]), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.05  # it has learned parity on these strings
    params, nonlinearity = from_torch_rnn(net, head)
    for eps_factor in (0.1, 0.3):
        dfa = _extracted(params, nonlinearity, data, eps_factor)
        _check_against_aalpy(dfa, np.random.default_rng(0))
