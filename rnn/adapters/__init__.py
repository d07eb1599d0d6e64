"""Adapters: analyse networks trained elsewhere (docs: README, "Bring your own network").

``rnn.adapters.torch_rnn`` converts a single-layer ``torch.nn.RNN`` and its readout to
the Elman parameters of ``rnn.parity.elman`` and back. ``rnn.adapters.lens`` converts a
one-layer TransformerLens ``HookedTransformer`` to the modular-addition transformer of
``rnn.modular.transformer`` and back; it needs the optional ``lens`` extra
(``pip install .[lens]``) and is therefore imported from its module, not from here.
"""
from rnn.adapters.torch_rnn import from_torch_rnn, to_torch_rnn

__all__ = ["from_torch_rnn", "to_torch_rnn"]
