"""``keras.layers``: every rnnkit layer and cell under its Keras 3 name (and rnnkit's MinGRU/MinLSTM, LockedDropout,
AdaptiveSoftmax and GlobalConcatPooling1D).

Keras' aliases are here too (``Convolution1D``, ``MaxPool1D``, ``GlobalAvgPool1D`` ...).
Every layer also takes Keras' ``input_shape=`` / ``input_dim=`` and
``layer(x, training=...)`` (see :class:`rnnkit.layers.Layer`).  A Keras layer that
rnnkit does not have is a one-line error saying what to use instead.

>>> import torch
>>> from rnnkit.keras import layers
>>> rnn = layers.RNN(layers.LSTMCell(8), input_shape=(None, 3))
>>> rnn(torch.zeros(2, 5, 3)).shape
torch.Size([2, 8])
>>> hasattr(layers, "MultiHeadAttention")
False
"""
from ..cells import GRUCell, LSTMCell, MinGRUCell, MinLSTMCell, SimpleRNNCell
from ..layers import (GRU, LSTM, RNN, Activation, AdaptiveSoftmax, Add, AdditiveAttention, Attention, Average,
                      BatchNormalization, Bidirectional, Concatenate, Conv1D, Conv2D, Dense, Dropout, Embedding,
                      Flatten, GlobalAveragePooling1D, GlobalConcatPooling1D, GlobalMaxPooling1D, HashedNGrams, Layer,
                      LayerNormalization, NaiveBayesBag,
                      LockedDropout, MaskedConv1D, MaskedMaxPooling1D, Masking, Maximum, MaxPooling1D, MaxPooling2D,
                      MinGRU, Minimum, MinLSTM, Multiply, SimpleRNN, SpatialDropout1D,
                      Subtract, TimeDistributed, deserialize, serialize)
from ._missing import absent
from ._wiring import PENDING, Input, InputLayer

# Keras' second names for the same layers
Convolution1D, Convolution2D = Conv1D, Conv2D
MaxPool1D, MaxPool2D = MaxPooling1D, MaxPooling2D
GlobalAvgPool1D, GlobalMaxPool1D = GlobalAveragePooling1D, GlobalMaxPooling1D

__all__ = [
    "Layer", "RNN", "SimpleRNN", "LSTM", "GRU", "SimpleRNNCell", "LSTMCell", "GRUCell", "Bidirectional",
    "Dense", "Dropout", "SpatialDropout1D", "LockedDropout", "Activation", "Flatten", "Masking", "Embedding", "TimeDistributed",
    "Conv1D", "Conv2D", "Convolution1D", "Convolution2D", "MaxPooling1D", "MaxPooling2D", "MaxPool1D", "MaxPool2D",
    "GlobalAveragePooling1D", "GlobalMaxPooling1D", "GlobalAvgPool1D", "GlobalMaxPool1D", "GlobalConcatPooling1D",
    "MaskedConv1D", "MaskedMaxPooling1D", "LayerNormalization", "BatchNormalization", "Attention", "AdditiveAttention",
    "MinGRU", "MinLSTM", "MinGRUCell", "MinLSTMCell", "AdaptiveSoftmax", "HashedNGrams", "NaiveBayesBag",
    "Input", "InputLayer", "Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
    "serialize", "deserialize",
]

_MERGE = "call the merge layer instead: keras.layers.{}()([a, b])"
_DOT = "no Dot layer in rnnkit; in a subclassed keras.Model write (a * b).sum(-1, keepdim=True) in call()"
_ACTIVATION = "use keras.layers.Activation('{}') or the activation= argument of Dense"
_DROPOUT = "use keras.layers.Dropout, or the dropout=/recurrent_dropout= arguments of the recurrent layers"
_IN_CALL = "subclass keras.Model and write it in call() with torch operations ({})"
_POOL = ("rnnkit has GlobalAveragePooling1D, GlobalMaxPooling1D, GlobalConcatPooling1D, MaxPooling1D, MaxPooling2D and "
         "MaskedMaxPooling1D")
_LOOKUP = "turn text into ids before the model with keras.preprocessing.text.Tokenizer (or rnnkit.data.Vocab)"
_SCALE = "scale the data before fit with rnnkit.data.MinMaxScaler or StandardScaler"

HINTS = {
    **PENDING,
    "MultiHeadAttention": "use keras.layers.Attention (dot-product) or AdditiveAttention (Bahdanau), one head each",
    "GroupQueryAttention": "use keras.layers.Attention (dot-product) or AdditiveAttention (Bahdanau), one head each",
    "GroupNormalization": "use keras.layers.LayerNormalization",
    "RMSNormalization": "use keras.layers.LayerNormalization",
    "UnitNormalization": "use keras.layers.LayerNormalization",
    "StackedRNNCells": "give keras.layers.RNN a list of cells: RNN([LSTMCell(64), LSTMCell(64)])",
    "ConvLSTM1D": "no convolutional LSTM in rnnkit; use TimeDistributed(Conv1D(...)) then LSTM",
    "ConvLSTM2D": "no convolutional LSTM in rnnkit; use TimeDistributed(Conv2D(...)), TimeDistributed(Flatten()) then LSTM",
    "ConvLSTM3D": "no convolutional LSTM in rnnkit",
    "Lambda": _IN_CALL.format("any function of the inputs"),
    "Reshape": _IN_CALL.format("x.reshape(x.shape[0], ...)"),
    "Permute": _IN_CALL.format("x.permute(0, 2, 1)"),
    "RepeatVector": _IN_CALL.format("x[:, None, :].expand(-1, n, -1)"),
    "Cropping1D": _IN_CALL.format("x[:, a:-b]"),
    "ZeroPadding1D": _IN_CALL.format("torch.nn.functional.pad"),
    "UpSampling1D": _IN_CALL.format("x.repeat_interleave(n, dim=1)"),
    "Identity": "leave it out (a Sequential applies only the layers it holds)",
    "ReLU": _ACTIVATION.format("relu"),
    "LeakyReLU": _ACTIVATION.format("leaky_relu"),
    "ELU": _ACTIVATION.format("elu"),
    "Softmax": _ACTIVATION.format("softmax"),
    "PReLU": _ACTIVATION.format("relu"),
    "GaussianDropout": _DROPOUT,
    "GaussianNoise": _DROPOUT,
    "AlphaDropout": _DROPOUT,
    "AveragePooling1D": _POOL,
    "AvgPool1D": _POOL,
    "AveragePooling2D": _POOL,
    "AvgPool2D": _POOL,
    "GlobalAveragePooling2D": _POOL,
    "GlobalAvgPool2D": _POOL,
    "GlobalMaxPooling2D": _POOL,
    "GlobalMaxPool2D": _POOL,
    "TextVectorization": _LOOKUP,
    "StringLookup": _LOOKUP,
    "IntegerLookup": _LOOKUP,
    "Normalization": _SCALE,
    "Rescaling": _SCALE,
    "EinsumDense": "use keras.layers.Dense (on the last axis, any number of leading axes)",
    "TorchModuleWrapper": "not needed: any torch.nn.Module goes into a keras.Sequential or a subclassed keras.Model as it is",
    **{name.lower(): _MERGE.format(name) for name in ("Concatenate", "Add", "Subtract", "Multiply", "Average",
                                                       "Maximum", "Minimum")},
    "Dot": _DOT,
    "dot": _DOT,
}

__getattr__ = absent(__name__, __all__, HINTS)
