"""Keras 3's public names mapped onto rnnkit: change ``import keras`` to ``from rnnkit import keras`` and run.

A thin namespace, no logic of its own: every name is rnnkit's own class or
function (``keras.layers.LSTM is rnnkit.layers.LSTM``), so what the program builds
is an rnnkit model, a ``torch.nn.Module``.  Modules as in Keras: ``layers``,
``losses``, ``metrics``, ``optimizers``, ``callbacks``, ``models``, ``utils``,
``activations``, ``initializers``, ``saving``, ``preprocessing`` (``sequence``,
``text``) and ``datasets`` (``imdb``).  A Keras name that rnnkit does not have
(``keras.layers.MultiHeadAttention``, ``keras.applications``) is a one-line
:class:`~rnnkit.errors.UnsupportedNameError`, an ``AttributeError`` naming what to
use instead (:class:`~rnnkit.errors.UnsupportedImportError` inside a
``from ... import``).  Keras' functional API and Keras model files are wired in
:mod:`rnnkit.keras._wiring`.

>>> import numpy as np
>>> from rnnkit import keras
>>> keras.utils.set_random_seed(0)
>>> model = keras.Sequential([keras.layers.SimpleRNN(3), keras.layers.Dense(5, activation="softmax")])
>>> model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
...               metrics=["sparse_categorical_accuracy"])
>>> x = keras.utils.to_categorical([[0, 1], [1, 2]], num_classes=5)
>>> history = model.fit(x, np.array([2, 3]), epochs=3, verbose=0)
>>> sorted(history.history)[-1], model.predict([x]).shape
('sparse_categorical_accuracy', (2, 5))
"""
from .._base_layer import Layer
from ..models import Sequential
from ..training.losses import Loss
from ..training.metrics import Metric
from ..training.optimizers import OptimizerSpec as Optimizer
from . import (activations, callbacks, datasets, initializers, layers, losses, metrics, models, optimizers,
               preprocessing, saving, utils)
from ._missing import absent
from ._wiring import PENDING, Input, Model


__all__ = [
    "Sequential", "Model", "Input", "Layer", "Loss", "Metric", "Optimizer",
    "activations", "callbacks", "datasets", "initializers", "layers", "losses", "metrics", "models", "optimizers",
    "preprocessing", "saving", "utils",
]

_TORCH = "rnnkit layers take and return torch tensors: use torch's own operations"

HINTS = {
    **PENDING,
    "applications": "rnnkit has no pretrained image models (it is a toolkit for recurrent networks); use torchvision "
                    "or keras_hub beside it",
    "ops": _TORCH + " (torch.matmul, torch.cat, ...)",
    "backend": _TORCH + "; keras.backend.clear_session() is not needed",
    "random": "keras.utils.set_random_seed(seed) seeds Python, NumPy and torch; draw with torch.rand / torch.randn",
    "Variable": "use torch.nn.Parameter inside a layer, or a plain torch tensor",
    "regularizers": "use weight decay: keras.optimizers.AdamW(weight_decay=...)",
    "constraints": "clip gradients with compile(clipnorm=...) or clipvalue=; rnnkit has no weight constraints",
    "mixed_precision": "use compile(..., precision='bf16')",
    "distribution": "fit trains data-parallel under torchrun with no change to the code (rnnkit.training.distributed)",
    "export": "rnnkit export --format onnx writes an ONNX file of a run's model (rnnkit.export)",
    "config": "rnnkit has no global configuration; the device and precision are compile() arguments",
    "visualization": "model.summary() prints the layers, shapes and parameter counts",
}

__getattr__ = absent(__name__, __all__, HINTS)
