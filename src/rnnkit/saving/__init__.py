"""Saving: the registry of serializable classes, config (de)serialization, checkpoint files, model files.

This package sits above the ground (errors, validation, random) and below cells,
layers and models: those register their classes here
(``@register_serializable``), so :func:`deserialize` finds any of them by name
without importing them, and nothing here imports a layer or a model.

- :mod:`~rnnkit.saving.registry`: :func:`register_serializable` (as Keras'
  ``register_keras_serializable``), :func:`serialize`, :func:`deserialize`,
  :func:`custom_object_scope`;
- :mod:`~rnnkit.saving.checkpoint`: the crash-safe safetensors file format
  (:func:`save_file`, :func:`load_file`);
- :mod:`~rnnkit.saving.model_files`: :func:`save_model`, :func:`load_model`,
  :func:`save_weights`, :func:`load_weights` (also ``model.save(...)`` and
  ``rnnkit.models.load_model``);
- :mod:`~rnnkit.saving.keras_files`: :func:`load_keras` and :func:`save_keras`,
  Keras' ``.keras`` and ``.h5`` model files (``save_model``/``load_model`` use
  them for those suffixes); :mod:`~rnnkit.saving.keras_layers` translates the
  layer configs.

>>> import rnnkit
>>> from rnnkit.saving import deserialize, serialize
>>> type(deserialize(serialize(rnnkit.layers.GRU(4)))).__name__
'GRU'
"""
from . import checkpoint
from .checkpoint import FORMAT_VERSION, load_file, save_file
from .keras_files import load_keras, save_keras
from .model_files import load_model, load_weights, restore_training_state, save_model, save_weights
from .registry import (custom_object_scope, deserialize, get_registered_name, get_registered_object,
                       register_serializable, serialize)

__all__ = [
    "register_serializable", "get_registered_name", "get_registered_object", "custom_object_scope",
    "serialize", "deserialize",
    "checkpoint", "FORMAT_VERSION", "save_file", "load_file",
    "save_model", "load_model", "save_weights", "load_weights", "restore_training_state",
    "load_keras", "save_keras",
]
