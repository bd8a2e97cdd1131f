"""``keras.saving``: loading and saving models and weights, and the registry of custom classes.

>>> from rnnkit.keras import saving
>>> saving.get_registered_name(saving.get_registered_object("LSTM"))
'LSTM'
"""
from ..models import load_weights, save_weights
from ..saving import custom_object_scope, deserialize, get_registered_name, get_registered_object, serialize
from ..saving import register_serializable as register_keras_serializable
from ._missing import absent
from ._wiring import load_model, save_model

CustomObjectScope = custom_object_scope
serialize_keras_object, deserialize_keras_object = serialize, deserialize

__all__ = [
    "load_model", "save_model", "load_weights", "save_weights",
    "register_keras_serializable", "get_registered_name", "get_registered_object", "custom_object_scope",
    "CustomObjectScope", "serialize_keras_object", "deserialize_keras_object",
]

HINTS = {
    "KerasFileEditor": "rnnkit writes safetensors files: read them with rnnkit.saving.load_file(path)",
}

__getattr__ = absent(__name__, __all__, HINTS)
