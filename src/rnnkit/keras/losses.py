"""``keras.losses``: rnnkit's losses as classes and as Keras' functions (one value per example).

>>> import torch
>>> from rnnkit.keras import losses
>>> losses.SparseCategoricalCrossentropy(from_logits=False)(torch.tensor([1]), torch.tensor([[0.5, 0.5]]))
tensor(0.6931)
>>> losses.mean_squared_error(torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 4.0]]))
tensor([2.])
"""
from ..training.losses import (CTC, BinaryCrossentropy, CategoricalCrossentropy, Huber, Loss, MeanAbsoluteError,
                               MeanSquaredError, SparseCategoricalCrossentropy, binary_crossentropy,
                               categorical_crossentropy, deserialize, get, huber, mean_absolute_error,
                               mean_squared_error, serialize, sparse_categorical_crossentropy)
from ._missing import absent

# Keras 2's short names of the same functions
mse, mae = mean_squared_error, mean_absolute_error

__all__ = [
    "Loss", "MeanSquaredError", "MeanAbsoluteError", "Huber", "BinaryCrossentropy", "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy", "CTC",
    "mean_squared_error", "mean_absolute_error", "huber", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "mse", "mae",
    "get", "serialize", "deserialize",
]

HINTS = {
    "ctc": "use keras.losses.CTC() in compile (rnnkit.losses.ctc_loss gives the per-utterance values)",
    "LogCosh": "use keras.losses.Huber, the other loss that is quadratic near 0 and linear far from it",
    "log_cosh": "use keras.losses.huber",
}

__getattr__ = absent(__name__, __all__, HINTS)
