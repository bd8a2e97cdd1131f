"""Weight initialisers by Keras name, applied in place to PyTorch-layout tensors.

Keras stores a dense kernel as (in, out); PyTorch stores ``weight`` as (out, in).
Every initialiser here takes the PyTorch-layout tensor and computes fans the
way Keras does for the transposed kernel, so ``glorot_uniform`` gives the same
distribution in both libraries.  For recurrent weights that stack several gates,
``(gates * units, in)``, Keras' fan_out is ``gates * units`` and so is ours.

>>> import torch
>>> from rnnkit import initializers
>>> w = torch.empty(8, 4)
>>> _ = initializers.get("orthogonal")(w)
>>> torch.allclose(w.T @ w, torch.eye(4), atol=1e-5)
True
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .errors import ConfigError

__all__ = ["get", "serialize", "register", "available"]

Initializer = Callable[[torch.Tensor], torch.Tensor]


def _fans(t: torch.Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a PyTorch-layout weight (out, in, *kernel)."""
    if t.dim() < 2:
        return t.numel(), t.numel()
    receptive = math.prod(t.shape[2:]) if t.dim() > 2 else 1
    return t.shape[1] * receptive, t.shape[0] * receptive


@torch.no_grad()
def zeros(t: torch.Tensor) -> torch.Tensor:
    return t.zero_()


@torch.no_grad()
def ones(t: torch.Tensor) -> torch.Tensor:
    return t.fill_(1.0)


@torch.no_grad()
def glorot_uniform(t: torch.Tensor) -> torch.Tensor:
    """U(-l, l) with l = sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(t)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return t.uniform_(-limit, limit)


@torch.no_grad()
def glorot_normal(t: torch.Tensor) -> torch.Tensor:
    """Truncated normal (at 2 std) with std = sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(t)
    std = math.sqrt(2.0 / (fan_in + fan_out)) / 0.87962566103423978
    return torch.nn.init.trunc_normal_(t, 0.0, std, -2 * std, 2 * std)


@torch.no_grad()
def he_uniform(t: torch.Tensor) -> torch.Tensor:
    fan_in, _ = _fans(t)
    limit = math.sqrt(6.0 / fan_in)
    return t.uniform_(-limit, limit)


@torch.no_grad()
def he_normal(t: torch.Tensor) -> torch.Tensor:
    fan_in, _ = _fans(t)
    std = math.sqrt(2.0 / fan_in) / 0.87962566103423978
    return torch.nn.init.trunc_normal_(t, 0.0, std, -2 * std, 2 * std)


@torch.no_grad()
def lecun_uniform(t: torch.Tensor) -> torch.Tensor:
    fan_in, _ = _fans(t)
    limit = math.sqrt(3.0 / fan_in)
    return t.uniform_(-limit, limit)


@torch.no_grad()
def lecun_normal(t: torch.Tensor) -> torch.Tensor:
    fan_in, _ = _fans(t)
    std = math.sqrt(1.0 / fan_in) / 0.87962566103423978
    return torch.nn.init.trunc_normal_(t, 0.0, std, -2 * std, 2 * std)


@torch.no_grad()
def orthogonal(t: torch.Tensor) -> torch.Tensor:
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian one."""
    return torch.nn.init.orthogonal_(t)


@torch.no_grad()
def random_uniform(t: torch.Tensor) -> torch.Tensor:
    """U(-0.05, 0.05), Keras' RandomUniform default."""
    return t.uniform_(-0.05, 0.05)


@torch.no_grad()
def random_normal(t: torch.Tensor) -> torch.Tensor:
    """N(0, 0.05), Keras' RandomNormal default."""
    return t.normal_(0.0, 0.05)


_REGISTRY: dict[str, Initializer] = {
    "zeros": zeros,
    "ones": ones,
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "lecun_uniform": lecun_uniform,
    "lecun_normal": lecun_normal,
    "orthogonal": orthogonal,
    "random_uniform": random_uniform,
    "random_normal": random_normal,
}
_ALIASES = {"xavier_uniform": "glorot_uniform", "xavier_normal": "glorot_normal", "zero": "zeros", "one": "ones"}


def available() -> list[str]:
    return sorted(_REGISTRY)


def register(name: str, fn: Initializer) -> Initializer:
    """Register a custom initialiser (an in-place function of a tensor) under ``name``."""
    if not callable(fn):
        raise ConfigError(f"initializers.register: `fn` must be callable, got {type(fn).__name__}")
    _REGISTRY[name] = fn
    return fn


def get(identifier: str | Initializer) -> Initializer:
    if callable(identifier):
        return identifier
    key = _ALIASES.get(identifier, identifier)
    if isinstance(key, str) and key in _REGISTRY:
        return _REGISTRY[key]
    raise ConfigError(f"unknown initializer {identifier!r}; expected one of {', '.join(available())} or a callable")


def serialize(fn: Initializer) -> str:
    for name, registered in _REGISTRY.items():
        if registered is fn:
            return name
    raise ConfigError(
        f"cannot save initializer {getattr(fn, '__name__', fn)!r} in a config: register it first with "
        "rnnkit.initializers.register(name, fn)"
    )
