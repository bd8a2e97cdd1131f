"""``keras.optimizers``: SGD, Adam, AdamW, RMSprop and Adagrad with Keras' arguments and defaults.

The learning rate is the first argument, as in Keras (``Adam(0.01)``); each builds
PyTorch's own optimizer when training starts (see :mod:`rnnkit.training.optimizers`
for where epsilon goes).  ``get`` resolves a name or a config without parameters.

>>> from rnnkit.keras import optimizers
>>> optimizers.Adam(0.01)
Adam(learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-07, amsgrad=False)
>>> optimizers.RMSprop(rho=0.95).rho
0.95
"""
from ..training.optimizers import SGD, Adagrad, Adam, AdamW, RMSprop, deserialize, serialize
from ..training.optimizers import OptimizerSpec as Optimizer
from ..training.optimizers import resolve as get
from ._missing import absent

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "get", "serialize", "deserialize"]

_OTHERS = ("rnnkit has SGD, Adam, AdamW, RMSprop and Adagrad; compile also takes any torch.optim optimizer, "
           "e.g. optimizer=torch.optim.{}(model.parameters()) once the model is built")

HINTS = {
    "Adadelta": _OTHERS.format("Adadelta"),
    "Adamax": _OTHERS.format("Adamax"),
    "Nadam": _OTHERS.format("NAdam"),
    "Adafactor": _OTHERS.format("Adafactor"),
    "Muon": _OTHERS.format("Muon"),
    "schedules": "change the learning rate with keras.callbacks.LearningRateScheduler(fn) or ReduceLROnPlateau",
    "LossScaleOptimizer": "use compile(..., precision='bf16') (bfloat16 needs no loss scaling)",
}

__getattr__ = absent(__name__, __all__, HINTS)
