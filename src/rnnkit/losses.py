"""Public home of the Keras-style losses: ``rnnkit.losses.CTC()``, ``rnnkit.losses.get("mse")``.

Everything is defined in :mod:`rnnkit.training.losses` (how masks reduce the
per-step values) and :mod:`rnnkit.training.ctc` (the CTC conventions); this
module re-exports it under the name Keras users expect.

>>> import torch
>>> from rnnkit import losses
>>> losses.get("mse")(torch.zeros(2), torch.tensor([1.0, 3.0]))
tensor(5.)
>>> losses.CTC().name
'ctc'
"""
from .training.losses import (
    CTC,
    EPSILON,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Huber,
    Loss,
    LossFunctionWrapper,
    MeanAbsoluteError,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
    available,
    binary_crossentropy,
    categorical_crossentropy,
    ctc_loss,
    deserialize,
    get,
    huber,
    mean_absolute_error,
    mean_squared_error,
    register,
    serialize,
    sparse_categorical_crossentropy,
)

__all__ = [
    "Loss", "MeanSquaredError", "MeanAbsoluteError", "Huber", "BinaryCrossentropy", "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy", "CTC", "ctc_loss", "LossFunctionWrapper", "EPSILON",
    "mean_squared_error", "mean_absolute_error", "huber", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "get", "serialize", "deserialize", "register", "available",
]
