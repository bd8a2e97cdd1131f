"""Activation functions by Keras name, and their JSON-safe serialisation.

``get('tanh')`` returns the function; ``get(fn)`` passes a callable through;
``serialize(fn)`` gives back the name (custom callables must be registered with
:func:`register` to be saved in a config).

>>> import torch
>>> from rnnkit import activations
>>> activations.get("relu")(torch.tensor([-1.0, 2.0]))
tensor([0., 2.])
>>> activations.serialize(activations.get("hard_sigmoid"))
'hard_sigmoid'
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .errors import ConfigError

__all__ = ["get", "serialize", "register", "available"]

Activation = Callable[[torch.Tensor], torch.Tensor]


def linear(x: torch.Tensor) -> torch.Tensor:
    """Identity, f(x) = x."""
    return x


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Keras 3 hard sigmoid: relu6(x + 3) / 6, the piecewise-linear sigmoid.

    Written out rather than ``F.hardsigmoid``, whose backward uses a float32 1/6
    even for float64 tensors.
    """
    return F.relu6(x + 3.0) / 6.0


def hard_sigmoid_keras2(x: torch.Tensor) -> torch.Tensor:
    """Keras 2's hard sigmoid, clip(0.2 x + 0.5, 0, 1): what ``'hard_sigmoid'`` means in a Keras 2 model file.

    Keras 3 gave the name to relu6(x + 3) / 6 (:func:`hard_sigmoid`); a GRU or
    LSTM of a Keras 2 ``.h5`` file with ``recurrent_activation='hard_sigmoid'``
    is loaded with this one, so that it computes what it computed in Keras 2.

    >>> hard_sigmoid_keras2(torch.tensor([-3.0, 0.0, 1.0, 3.0]))
    tensor([0.0000, 0.5000, 0.7000, 1.0000])
    """
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


def exponential(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(x)


def softmax(x: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis, as Keras' default."""
    return torch.softmax(x, dim=-1)


def log_softmax(x: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(x, dim=-1)


def leaky_relu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU with Keras' default slope 0.2."""
    return F.leaky_relu(x, 0.2)


_REGISTRY: dict[str, Activation] = {
    "linear": linear,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "relu6": F.relu6,
    "elu": F.elu,
    "selu": F.selu,
    "gelu": F.gelu,
    "silu": F.silu,
    "swish": F.silu,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "hard_sigmoid": hard_sigmoid,
    "hard_sigmoid_keras2": hard_sigmoid_keras2,
    "exponential": exponential,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "leaky_relu": leaky_relu,
}
_ALIASES = {None: "linear", "identity": "linear"}


def available() -> list[str]:
    """The names :func:`get` accepts."""
    return sorted(_REGISTRY)


def register(name: str, fn: Activation) -> Activation:
    """Register a custom activation so layers using it can be saved and rebuilt from config."""
    if not callable(fn):
        raise ConfigError(f"activations.register: `fn` must be callable, got {type(fn).__name__}")
    _REGISTRY[name] = fn
    return fn


def get(identifier: str | Activation | None) -> Activation:
    """Resolve a name (or ``None`` for linear) or pass a callable through."""
    if callable(identifier):
        return identifier
    key = _ALIASES.get(identifier, identifier)
    if isinstance(key, str) and key in _REGISTRY:
        return _REGISTRY[key]
    raise ConfigError(
        f"unknown activation {identifier!r}; expected one of {', '.join(available())} or a callable"
    )


def serialize(fn: Activation) -> str:
    """The registered name of ``fn``, for a JSON config."""
    for name, registered in _REGISTRY.items():
        if registered is fn and name != "swish":
            return name
    raise ConfigError(
        f"cannot save activation {getattr(fn, '__name__', fn)!r} in a config: register it first with "
        "rnnkit.activations.register(name, fn)"
    )
