"""``keras.utils``: one-hot labels, padding, the global seed and the registry of custom classes.

>>> from rnnkit.keras import utils
>>> utils.to_categorical([0, 2], num_classes=3)
array([[1., 0., 0.],
       [0., 0., 1.]], dtype=float32)
>>> utils.pad_sequences([[1, 2], [3]], maxlen=3)
array([[0, 1, 2],
       [0, 0, 3]], dtype=int32)
"""
from ..data import pad_sequences, to_categorical
from ..random import set_seed as set_random_seed
from ..saving import custom_object_scope, deserialize, get_registered_name, get_registered_object, serialize
from ..saving import register_serializable as register_keras_serializable
from ._missing import absent

# Keras' names of the registry's functions
CustomObjectScope = custom_object_scope
serialize_keras_object, deserialize_keras_object = serialize, deserialize

__all__ = [
    "to_categorical", "pad_sequences", "set_random_seed",
    "register_keras_serializable", "get_registered_name", "get_registered_object", "custom_object_scope",
    "CustomObjectScope", "serialize_keras_object", "deserialize_keras_object",
]

_BATCHES = "fit takes arrays, or a torch.utils.data.DataLoader or any iterable of (x, y) batches"

HINTS = {
    "get_file": "rnnkit.datasets.load(name) downloads a registered dataset into $RNNKIT_DATA, checked by SHA-256 "
                "(rnnkit.datasets.available() lists them)",
    "timeseries_dataset_from_array": "rnnkit.data.make_windows(series, ...) gives the (x, y) windows as arrays",
    "text_dataset_from_directory": "read the files yourself, or train with `rnnkit classify train --data folder/` "
                                   "(one sub-folder per label)",
    "Sequence": _BATCHES,
    "PyDataset": _BATCHES,
    "split_dataset": "rnnkit.data.chronological_split (series) or stratified_split (labels)",
    "plot_model": "model.summary() prints the layers, shapes and parameter counts",
    "model_to_dot": "model.summary() prints the layers, shapes and parameter counts",
    "normalize": "scale with rnnkit.data.StandardScaler or MinMaxScaler",
    "clear_session": "not needed: each rnnkit model is an ordinary torch.nn.Module, freed like any Python object",
    "get_custom_objects": "register classes with keras.utils.register_keras_serializable (or pass custom_objects=)",
}

__getattr__ = absent(__name__, __all__, HINTS)
