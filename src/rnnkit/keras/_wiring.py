"""THE ONE PLACE where Keras' functional API and Keras model files meet :mod:`rnnkit.keras`.

Issue 19 came in two parts: this namespace, and the Keras model files with the
functional API (:mod:`rnnkit.saving.keras_files`, :mod:`rnnkit.models.functional`,
:mod:`rnnkit.layers.input_layer`).  Every name of the second part reaches the
namespace through this module alone:

* ``Input`` (``keras.Input``, ``keras.layers.Input``) and ``InputLayer``: rnnkit's own.
* ``Model`` (``keras.Model``, ``keras.models.Model``): :class:`rnnkit.models.Model`.
  ``Model(inputs, outputs)`` is a functional model; ``class MyModel(keras.Model)``
  with ``call`` or ``forward`` is a subclassed one.
* :func:`load_model` (``keras.models.load_model``, ``keras.saving.load_model``):
  Keras' signature over :func:`rnnkit.models.load_model`, which reads rnnkit's own
  files and run folders, and Keras' ``.keras`` and ``.h5`` files by their suffix.
* :func:`save_model` (``keras.models.save_model``, ``keras.saving.save_model``):
  ``model.save(filepath)``, a Keras 3 file for a ``.keras`` name, rnnkit's format otherwise.

>>> from rnnkit import keras
>>> inputs = keras.Input(shape=(None, 3))
>>> model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.LSTM(4)(inputs)))
>>> type(model).__name__, isinstance(model, keras.Model)
('Functional', True)
"""
from __future__ import annotations

import os
from typing import Any

from ..errors import ConfigError
from ..layers import Input, InputLayer
from ..models import Model
from ..models import load_model as _load_model

__all__ = ["Input", "InputLayer", "Model", "load_model", "save_model"]


def load_model(filepath: str | os.PathLike, custom_objects: dict[str, type] | None = None, compile: bool = True,
               safe_mode: bool = True) -> Any:
    """Keras' ``load_model``: a Keras ``.keras``/``.h5`` file, or a model file or run folder rnnkit wrote.

    ``safe_mode`` is accepted for Keras' signature: rnnkit never runs code from a
    file (a Keras file with a Lambda layer is refused whatever ``safe_mode`` says).
    """
    return _load_model(os.fspath(filepath), custom_objects=custom_objects, compile=compile)


def save_model(model: Any, filepath: str | os.PathLike, overwrite: bool = True) -> None:
    """Keras' ``save_model(model, filepath)``: ``model.save(filepath)``; ``overwrite=False`` refuses an existing file."""
    path = os.fspath(filepath)
    if not overwrite and os.path.exists(path):
        raise ConfigError(f"keras.saving.save_model: {path!r} exists and overwrite=False; pass overwrite=True or another name")
    model.save(path)
