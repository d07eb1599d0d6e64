"""Your own ``nn.RNN``: train it on streaming parity with plain torch, then analyse it with the toolkit.

    python examples/own_torch_rnn.py [--small]

1. train a single-layer ReLU ``torch.nn.RNN`` + ``nn.Linear`` readout on parity with plain torch;
2. convert it (``rnn.adapters.from_torch_rnn``) to the toolkit's Elman parameters;
3. extract its automaton from the hidden states (``rnn.automata.extract_automaton``), minimise
   it and compare it with the parity automaton, and measure its fidelity on longer strings;
4. measure prefix pairs (``rnn.measure``: ``H``, ``Y``, ``S``, ``N`` of docs/theory.md §2) and
   predict which pairs merge from the closed form (``interaction.a_high``, ``a_low``, ``will_merge``).
"""
import argparse

import numpy as np
import torch
from torch import nn

import interaction
from rnn.adapters import from_torch_rnn
from rnn.automata import equivalent, extract_automaton, fidelity, minimize, parity_dfa, std_norm
from rnn.measure import measure_pairs, plan_pairs
from rnn.parity import all_sequences, hidden_states, outputs, parity, random_sequences
from rnn.parity.elman import readout


def train_parity_rnn(max_length: int, steps: int, hidden: int = 32, seed: int = 0):
    """Plain torch: a ReLU nn.RNN (batch_first) and readout, cross-entropy at the last token, Adam."""
    torch.manual_seed(seed)
    data = all_sequences(max_length)
    x = nn.functional.one_hot(torch.as_tensor(np.maximum(data.tokens, 0), dtype=torch.long), 2).float()
    last = torch.as_tensor(data.lengths) - 1
    y = torch.as_tensor(parity(data.tokens))
    net, head = nn.RNN(2, hidden, nonlinearity="relu", batch_first=True), nn.Linear(hidden, 2)
    opt = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=3e-3)
    for _ in range(steps):
        states, _ = net(x)
        loss = nn.functional.cross_entropy(head(states[torch.arange(len(data)), last]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net, head, data, float(loss.detach())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="shorter training (for the test suite)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # a script: small matrices run fastest on one thread
    net, head, data, loss = train_parity_rnn(max_length=6 if args.small else 8, steps=200 if args.small else 600)
    print(f"trained nn.RNN(2, {net.hidden_size}, relu): final loss {loss:.4f}")

    params, nonlinearity = from_torch_rnn(net, head)                 # the toolkit's Elman parameters
    hidden = hidden_states(params, data, nonlinearity=nonlinearity)  # h_0 and the state after every sequence
    classes = readout(params, torch.as_tensor(hidden)).argmax(-1).numpy()
    extraction = extract_automaton(hidden, data, eps=0.1 * std_norm(hidden, "final"), outputs=classes)
    dfa = minimize(extraction.dfa)
    print(f"automaton: {extraction.dfa.n_states} raw states, {dfa.n_states} after minimisation, "
          f"finite: {dfa.is_finite}, equivalent to parity: {equivalent(dfa, parity_dfa())}")
    rng = np.random.default_rng(0)
    long = {n: random_sequences(n, 200, rng) for n in (data.max_length + 2, 2 * data.max_length)}
    net_classes = {n: outputs(params, toks, nonlinearity=nonlinearity).argmax(-1) for n, toks in long.items()}
    print("fidelity of the automaton to the network on longer strings:",
          {n: round(f, 3) for n, f in fidelity(dfa, long, net_classes).items()})

    # pairs: agreeing (same parity: S = 0) and disagreeing (S > 0) prefixes
    pairs = [((0,), (0, 0)), ((1,), (0, 1)), ((0, 0), (1, 1)), ((0,), (1,)), ((0, 1), (1, 1))]
    plan = plan_pairs(data, parity(data.tokens), pairs)
    m = measure_pairs(params, plan, nonlinearity=nonlinearity)
    rates = dict(N=m.N, tau_h=1.0, tau_y=1.0)  # a rate ratio of 1 (P25's kappa); see docs/theory.md §2.3
    A_high = interaction.a_high(m.H, m.Y, **rates)
    A_low = interaction.a_low(m.S, **rates)
    merge = interaction.will_merge(A_high, A_low)
    merged = extraction.labels
    row = {data.sequence(i): i + 1 for i in range(len(data))}
    print("pair            N      H        Y       S     A_high   A_low  predicted  same state")
    for k, (p1, p2) in enumerate(pairs):
        same = bool(merged[row[p1]] == merged[row[p2]])
        print(f"{str(p1):>6} {str(p2):>8} {int(m.N[k]):3d} {m.H[k]:8.4f} {m.Y[k]:8.4f} {m.S[k]:5.2f} "
              f"{A_high[k]:8.4f} {A_low[k]:7.3f}  {'merge' if merge[k] else 'apart':>9}  {same}")


if __name__ == "__main__":
    main()
