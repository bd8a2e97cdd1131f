"""THE ONE PLACE where Keras' functional API and Keras model files are wired into :mod:`rnnkit.keras`.

* ``Input`` (``keras.Input``, ``keras.layers.Input``) and ``InputLayer``: rnnkit's
  (:mod:`rnnkit.models.functional`, :mod:`rnnkit.layers`).
* ``Model`` (``keras.Model``, ``keras.models.Model``): rnnkit's
  :class:`~rnnkit.models.Model`; subclassing uses it (``class MyModel(keras.Model)``
  with ``call`` or ``forward``), and ``Model(inputs=..., outputs=...)`` is the
  functional form (a :class:`~rnnkit.models.Functional`).
* :func:`load_model` (``keras.models.load_model``, ``keras.saving.load_model``): a
  Keras file (a ``.keras`` zip or an HDF5 ``.h5``, told by its first bytes) is read
  by :func:`rnnkit.saving.load_keras`; rnnkit's own files by
  :func:`rnnkit.models.load_model`.
* :func:`save_model` (``keras.models.save_model``, ``keras.saving.save_model``):
  ``model.save(filepath)``: a ``.keras`` name writes a file Keras 3 loads, any other
  rnnkit's own format.
"""
from __future__ import annotations

import os
from typing import Any

from ..errors import ConfigError
from ..layers import InputLayer
from ..models import Input, Model, load_model as _load_rnnkit_model
from ..saving import load_keras

__all__ = ["PENDING", "Input", "InputLayer", "Model", "load_model", "save_model"]

#: Keras names still to come, each a one-line error meanwhile (none left)
PENDING: dict[str, str] = {}

_ZIP, _HDF5 = b"PK\x03\x04", b"\x89HDF\r\n\x1a\n"


def _is_keras_file(path: str) -> bool:
    """A ``.keras`` zip or an HDF5 file (Keras' formats), told by the first bytes rather than the name."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return False
    return head.startswith(_ZIP) or head == _HDF5


def load_model(filepath: str | os.PathLike, custom_objects: dict[str, type] | None = None, compile: bool = True,
               safe_mode: bool = True) -> Any:
    """Keras' ``load_model``: a Keras ``.keras``/``.h5`` file, or a model file written by rnnkit, or a run folder.

    ``safe_mode`` is accepted for Keras' signature; loading never runs code from a
    file either way (a Keras file's Lambda layers are refused, as Keras' safe mode does).
    """
    path = os.fspath(filepath)
    if _is_keras_file(path):
        return load_keras(path, compile=compile)
    return _load_rnnkit_model(path, custom_objects=custom_objects, compile=compile)


def save_model(model: Any, filepath: str | os.PathLike, overwrite: bool = True) -> None:
    """Keras' ``save_model(model, filepath)``: ``model.save(filepath)``; ``overwrite=False`` refuses an existing file."""
    path = os.fspath(filepath)
    if not overwrite and os.path.exists(path):
        raise ConfigError(f"keras.saving.save_model: {path!r} exists and overwrite=False; pass overwrite=True or another name")
    model.save(path)
