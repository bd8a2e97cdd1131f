"""Public home of the Keras-style optimizers: ``rnnkit.optimizers.Adam(learning_rate=0.01)``.

Everything is defined in :mod:`rnnkit.training.optimizers` (see its notes on Keras'
defaults and where epsilon goes); this module re-exports it under the name Keras
users expect.

>>> import torch
>>> from rnnkit import optimizers
>>> optimizers.Adam(learning_rate=0.01).build(torch.nn.Linear(2, 1).parameters()).defaults["lr"]
0.01
"""
from .training.optimizers import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    OptimizerSpec,
    RMSprop,
    available,
    deserialize,
    discriminative_groups,
    get,
    resolve,
    serialize,
)

__all__ = ["OptimizerSpec", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "get", "resolve", "serialize", "deserialize", "available",
           "discriminative_groups"]
