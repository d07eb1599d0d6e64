"""A TransformerLens ``HookedTransformer`` trained on modular addition, analysed with our progress measures.

    python examples/hooked_transformer.py [--small]

Builds a one-layer attention + ReLU-MLP ``HookedTransformer`` from a
``HookedTransformerConfig`` (no download; the configuration of Nanda et al.'s grokking
demo, smaller), trains it full-batch with AdamW in plain torch, converts it with
``rnn.adapters.lens.from_hooked_transformer`` and computes the progress measures of
``rnn.modular.progress`` (docs/experiments.md §4.5-4.8): key frequencies by all three
rules, restricted and excluded loss, Gini coefficients, and the merger metrics of
``rnn.modular.mergers`` at our named sites. Needs the ``lens`` extra
(``pip install '.[lens]'``); without it the script says so and exits.
"""
import argparse
import sys
import warnings

import numpy as np
import torch

from rnn.modular import modular_addition_data
from rnn.modular import mergers, progress


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="small modulus, few steps (for the test suite)")
    args = parser.parse_args(argv)
    try:
        from transformer_lens import HookedTransformer, HookedTransformerConfig

        from rnn.adapters.lens import from_hooked_transformer
    except ImportError as error:
        print(f"skipped: this example needs TransformerLens 2.x-3.x (pip install '.[lens]'): {error}")
        return 0
    warnings.filterwarnings("ignore", "HookedTransformer is deprecated", DeprecationWarning)
    torch.set_num_threads(1)  # a script: small matrices run fastest on one thread
    P, steps = (13, 300) if args.small else (23, 3000)
    cfg = HookedTransformerConfig(n_layers=1, n_heads=4, d_model=32, d_head=8, d_mlp=128, act_fn="relu",
                                  normalization_type=None, d_vocab=P + 1, d_vocab_out=P, n_ctx=3, seed=999)
    model = HookedTransformer(cfg)
    for name, param in model.named_parameters():  # as in Nanda's demo: biases stay at zero
        if "b_" in name:
            param.requires_grad_(False)
    data = modular_addition_data(P, 0.4, seed=0)
    tokens, labels = torch.as_tensor(data.tokens), torch.as_tensor(data.labels)
    train = torch.as_tensor(data.train_mask)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3, weight_decay=1.0,
                            betas=(0.9, 0.98))
    for step in range(steps):
        loss = torch.nn.functional.cross_entropy(model(tokens[train])[:, -1], labels[train])
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"trained HookedTransformer(P={P}) for {steps} steps: train loss {float(loss.detach()):.4f} (a few steps memorise; grokking takes ~10^4)")

    ours = from_hooked_transformer(model)  # our ModularTransformer, '=' logit a zero column
    with torch.no_grad():
        logits, cache = ours.run_with_cache(tokens)
    logits = logits[:, :P].double().numpy()
    cache = {k: v.double().numpy() for k, v in cache.items()}
    weights = {k: v.double().numpy() for k, v in ours.weight_dict().items()}
    y, test = data.labels, data.test_mask
    print(f"test loss {progress.cross_entropy(logits, y, test):.4f}, "
          f"test accuracy {progress.accuracy(logits, y, test):.3f}")
    W_L = progress.neuron_logit_map(weights["W_out"], weights["W_U"], P)
    rules = {"neurons": progress.key_frequencies_neurons(cache["mlp_post"]),
             "neuron_logit": progress.key_frequencies_neuron_logit(W_L),
             "embedding": progress.key_frequencies_embedding(weights["W_E"], P)}
    for rule, freqs in rules.items():
        print(f"key frequencies ({rule}): {freqs.tolist()}")
    freqs = next((f for f in rules.values() if f.size), np.array([1]))
    print(f"restricted loss {progress.restricted_loss(logits, y, freqs):.4f}, "
          f"excluded loss {progress.excluded_loss(logits, y, freqs, data.train_mask):.4f} (frequencies {freqs.tolist()})")
    print(f"Gini: embedding {progress.embedding_fourier_gini(weights['W_E'], P):.3f}, "
          f"neuron-logit map {progress.neuron_logit_fourier_gini(W_L):.3f}")
    for site in ("resid_mid", "mlp_post", "resid_post"):
        m = mergers.site_measurements(cache[site], y, data.train_mask, test, n_samples=2000)
        print(f"site {site}: distance ratio rho_all {m['rho_all']:.3f}, assignment accuracy "
              f"{m['assignment_accuracy']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
