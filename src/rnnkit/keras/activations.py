"""``keras.activations``: rnnkit's activation functions by their Keras names (``keras.activations.relu``).

Each takes and returns a tensor; pass one as ``activation=`` or, as usual, its name as a string.

>>> import torch
>>> from rnnkit.keras import activations
>>> activations.relu(torch.tensor([-1.0, 2.0]))
tensor([0., 2.])
"""
from .. import activations as _activations
from ._missing import absent

get, serialize = _activations.get, _activations.serialize
elu, exponential, gelu, hard_sigmoid = (_activations.get(n) for n in ("elu", "exponential", "gelu", "hard_sigmoid"))
leaky_relu, linear, log_softmax, relu = (_activations.get(n) for n in ("leaky_relu", "linear", "log_softmax", "relu"))
relu6, selu, sigmoid, silu = (_activations.get(n) for n in ("relu6", "selu", "sigmoid", "silu"))
softmax, softplus, softsign = (_activations.get(n) for n in ("softmax", "softplus", "softsign"))
swish, tanh = _activations.get("swish"), _activations.get("tanh")

__all__ = [
    "elu", "exponential", "gelu", "hard_sigmoid", "leaky_relu", "linear", "log_softmax", "relu", "relu6", "selu",
    "sigmoid", "silu", "softmax", "softplus", "softsign", "swish", "tanh", "get", "serialize",
]

__getattr__ = absent(__name__, __all__, {})
