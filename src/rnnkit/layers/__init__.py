"""Layers: loops over time (RNN, SimpleRNN, LSTM, GRU, Bidirectional) and the others.

Every layer is a ``torch.nn.Module`` whose input size may be inferred at the first call.
"""
from .._base_layer import Layer
from .adaptive_softmax import AdaptiveSoftmax
from ..saving import deserialize, register_serializable, serialize
from .attention import AdditiveAttention, Attention
from .bidirectional import Bidirectional
from .conv import Conv1D, Conv2D, MaskedConv1D
from .core import Activation, Dense, Dropout, Flatten, LockedDropout, Masking, SpatialDropout1D
from .embedding import Embedding
from .input_layer import Input, InputLayer
from .ngrams import HashedNGrams, NaiveBayesBag
from .merge import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from .min_rnn import MinGRU, MinLSTM
from .normalization import BatchNormalization, LayerNormalization
from .pooling import (GlobalAveragePooling1D, GlobalConcatPooling1D, GlobalMaxPooling1D, MaskedMaxPooling1D, MaxPooling1D,
                      MaxPooling2D)
from .wrappers import TimeDistributed
from .convert import from_torch, load_torch_state_dict, to_torch, torch_state_dict
from .recurrent import GRU, LSTM, RNN, RecurrentLayer, SimpleRNN

__all__ = [
    "Layer",
    "Input",
    "InputLayer",
    "RecurrentLayer",
    "RNN",
    "SimpleRNN",
    "LSTM",
    "GRU",
    "MinGRU",
    "MinLSTM",
    "Bidirectional",
    "Dense",
    "AdaptiveSoftmax",
    "Dropout",
    "SpatialDropout1D",
    "LockedDropout",
    "Activation",
    "Flatten",
    "Masking",
    "Embedding",
    "HashedNGrams",
    "NaiveBayesBag",
    "GlobalAveragePooling1D",
    "GlobalMaxPooling1D",
    "GlobalConcatPooling1D",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaskedMaxPooling1D",
    "Conv1D",
    "Conv2D",
    "MaskedConv1D",
    "LayerNormalization",
    "BatchNormalization",
    "Attention",
    "AdditiveAttention",
    "TimeDistributed",
    "Concatenate",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "from_torch",
    "to_torch",
    "torch_state_dict",
    "load_torch_state_dict",
    "serialize",
    "deserialize",
    "register_serializable",
]
