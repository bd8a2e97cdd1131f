"""``keras.models``: Sequential, Model and loading and saving whole models.

``load_model`` reads the files rnnkit writes (``model.save``, ``ModelCheckpoint``)
and run folders; Keras' own ``.keras``/``.h5`` files are wired in
:mod:`rnnkit.keras._wiring`.

>>> from rnnkit.keras import models, layers
>>> model = models.Sequential([layers.LSTM(4), layers.Dense(1)])
>>> isinstance(model, models.Model)
True
"""
from ..models import Sequential
from ._missing import absent
from ._wiring import Model, load_model, save_model

__all__ = ["Sequential", "Model", "load_model", "save_model"]

HINTS = {
    "clone_model": "copy.deepcopy(model) copies layers and weights (or build a new model and "
                   "model.load_weights(path))",
    "model_from_json": "rnnkit.saving.deserialize(config) rebuilds a model from model.get_config()",
}

__getattr__ = absent(__name__, __all__, HINTS)
