"""Layers: loops over time (RNN, SimpleRNN, LSTM, GRU, Bidirectional) and the others.

Every layer is a ``torch.nn.Module`` whose input size may be inferred at the first call.
"""
from .._base_layer import Layer
from .bidirectional import Bidirectional
from .convert import from_torch, load_torch_state_dict, to_torch, torch_state_dict
from .recurrent import GRU, LSTM, RNN, RecurrentLayer, SimpleRNN
from .serialization import deserialize, register_serializable, serialize

__all__ = [
    "Layer",
    "RecurrentLayer",
    "RNN",
    "SimpleRNN",
    "LSTM",
    "GRU",
    "Bidirectional",
    "from_torch",
    "to_torch",
    "torch_state_dict",
    "load_torch_state_dict",
    "serialize",
    "deserialize",
    "register_serializable",
]
