"""Layers: loops over time (RNN, SimpleRNN, LSTM, GRU, Bidirectional) and the others.

Every layer is a ``torch.nn.Module`` whose input size may be inferred at the first call.
"""
from .._base_layer import Layer
from .recurrent import GRU, LSTM, RNN, RecurrentLayer, SimpleRNN
from .serialization import deserialize, register_serializable, serialize

__all__ = [
    "Layer",
    "RecurrentLayer",
    "RNN",
    "SimpleRNN",
    "LSTM",
    "GRU",
    "serialize",
    "deserialize",
    "register_serializable",
]
