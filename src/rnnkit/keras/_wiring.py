"""THE ONE PLACE where Keras' functional API and Keras model files are wired into :mod:`rnnkit.keras`.

Issue 19 comes in two parts: the namespace (this package) and the Keras model
files with the functional API (``rnnkit/saving/keras_*``,
``rnnkit/models/functional.py``).  Every name the second part provides reaches
the namespace through this module alone, so wiring it in is a change here and
nowhere else in :mod:`rnnkit.keras`:

* ``Input`` (``keras.Input``, ``keras.layers.Input``) and ``InputLayer``: listed in
  :data:`PENDING` for now, so asking for them is a one-line error; define them here
  and drop them from :data:`PENDING`.
* ``Model`` (``keras.Model``, ``keras.models.Model``): rnnkit's
  :class:`~rnnkit.models.Model`, which subclassing uses (``class MyModel(keras.Model)``
  with ``call`` or ``forward``).  ``Model(inputs=..., outputs=...)`` is the
  functional form; keep ``Model`` a class that subclassing can use when wiring it.
* :func:`load_model` (``keras.models.load_model``, ``keras.saving.load_model``):
  rnnkit's own files load through :func:`rnnkit.models.load_model`; a real Keras
  file (a ``.keras`` zip or an HDF5 ``.h5``, recognised by its first bytes, so an
  rnnkit file saved under such a name still loads) is refused in one line until
  the reader is wired in :func:`_load_keras_file`.
* :func:`save_model` (``keras.models.save_model``, ``keras.saving.save_model``):
  ``model.save(filepath)``, whatever format that writes for the name.
"""
from __future__ import annotations

import os
from typing import Any

from ..errors import CheckpointError, ConfigError
from ..models import Model, load_model as _load_rnnkit_model

__all__ = ["PENDING", "Model", "load_model", "save_model"]

_FUNCTIONAL = ("lands with rnnkit's Keras-file support (issue 19); until then build a keras.Sequential "
               "(layers infer their input size at the first call, or give the first layer input_shape=(...)) "
               "or subclass keras.Model")

#: Keras names that the functional-API / Keras-file work provides; until then each is a one-line error
PENDING: dict[str, str] = {
    "Input": f"the functional API (keras.Input, keras.Model(inputs, outputs)) {_FUNCTIONAL}",
    "InputLayer": f"the functional API (keras.Input, keras.layers.InputLayer) {_FUNCTIONAL}",
}

_ZIP, _HDF5 = b"PK\x03\x04", b"\x89HDF\r\n\x1a\n"


def _is_keras_file(path: str) -> bool:
    """A ``.keras`` zip or an HDF5 file (Keras' formats), told by the first bytes rather than the name."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return False
    return head.startswith(_ZIP) or head == _HDF5


def _load_keras_file(path: str, custom_objects: Any, compile: bool, safe_mode: bool) -> Any:
    raise CheckpointError(
        f"keras.models.load_model: {path!r} is a Keras file; reading .keras and .h5 files lands with rnnkit's "
        "Keras-file support (issue 19); load it in Keras and copy the weights with layer.set_weights meanwhile"
    )


def load_model(filepath: str | os.PathLike, custom_objects: dict[str, type] | None = None, compile: bool = True,
               safe_mode: bool = True) -> Any:
    """Keras' ``load_model``: a model file written by rnnkit (``model.save``, ``ModelCheckpoint``) or a run folder.

    ``safe_mode`` is accepted for Keras' signature: rnnkit's files hold no code, so
    loading one never runs any.  A Keras ``.keras``/``.h5`` file is refused in one
    line for now (see the module docstring).
    """
    path = os.fspath(filepath)
    if _is_keras_file(path):
        return _load_keras_file(path, custom_objects, compile, safe_mode)
    return _load_rnnkit_model(path, custom_objects=custom_objects, compile=compile)


def save_model(model: Any, filepath: str | os.PathLike, overwrite: bool = True) -> None:
    """Keras' ``save_model(model, filepath)``: ``model.save(filepath)``; ``overwrite=False`` refuses an existing file."""
    path = os.fspath(filepath)
    if not overwrite and os.path.exists(path):
        raise ConfigError(f"keras.saving.save_model: {path!r} exists and overwrite=False; pass overwrite=True or another name")
    model.save(path)
