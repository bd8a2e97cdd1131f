"""Where the serialization functions used to live; they belong to :mod:`rnnkit.saving` now (kept importable here).

>>> from rnnkit.layers.serialization import deserialize
>>> from rnnkit import saving
>>> deserialize is saving.deserialize
True
"""
from ..saving.registry import deserialize, register_serializable, serialize

__all__ = ["serialize", "deserialize", "register_serializable"]
