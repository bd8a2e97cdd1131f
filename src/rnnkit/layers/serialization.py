"""Layers and cells to and from JSON-safe dicts: ``{"class_name": ..., "config": ...}``.

>>> from rnnkit.layers import LSTM, serialize, deserialize
>>> layer = deserialize(serialize(LSTM(8, return_sequences=True)))
>>> type(layer).__name__, layer.units, layer.return_sequences
('LSTM', 8, True)
"""
from __future__ import annotations

from typing import Any

from ..errors import ConfigError

__all__ = ["serialize", "deserialize", "register_serializable"]

_CUSTOM: dict[str, type] = {}
_SCOPES: list[dict[str, type]] = []


def register_serializable(cls: type) -> type:
    """Make a user-defined layer or cell class known to :func:`deserialize` (usable as a decorator).

    >>> from rnnkit.layers import Layer
    >>> @register_serializable
    ... class Identity(Layer):
    ...     def forward(self, x):
    ...         return x
    >>> type(deserialize({"class_name": "Identity", "config": {"name": "id"}})).__name__
    'Identity'
    """
    _CUSTOM[cls.__name__] = cls
    return cls


def _known_classes() -> dict[str, type]:
    from .. import cells, layers, models

    known = {name: getattr(cells, name) for name in cells.__all__}
    known.update({name: getattr(models, name) for name in models.__all__ if isinstance(getattr(models, name), type)})
    known.update({name: getattr(layers, name) for name in layers.__all__ if isinstance(getattr(layers, name), type)})
    known.update(_CUSTOM)
    return known


def serialize(obj: Any) -> dict[str, Any]:
    """``{"class_name": <class name>, "config": obj.get_config()}``.

    >>> from rnnkit.layers import Dense
    >>> serialize(Dense(2, name="out"))["config"]["units"]
    2
    """
    if not hasattr(obj, "get_config"):
        raise ConfigError(f"cannot serialize {type(obj).__name__}: it has no get_config()")
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


def deserialize(data: dict[str, Any], custom_objects: dict[str, type] | None = None) -> Any:
    """Rebuild a layer or cell (without weights) from :func:`serialize`'s output.

    Classes are found in ``custom_objects`` (name -> class), then among rnnkit's
    public layers and cells, then those registered with :func:`register_serializable`.

    >>> deserialize({"class_name": "GRU", "config": {"units": 3, "reset_after": False}}).cell.reset_after
    False
    """
    if not isinstance(data, dict) or "class_name" not in data or "config" not in data:
        raise ConfigError(f"expected a dict with 'class_name' and 'config', got {data!r:.80}")
    known = _known_classes()
    for scope in _SCOPES:
        known.update(scope)
    known.update(custom_objects or {})
    cls = known.get(data["class_name"])
    if cls is None:
        raise ConfigError(
            f"unknown layer class {data['class_name']!r}; pass custom_objects={{{data['class_name']!r}: TheClass}} "
            "or register the class with rnnkit.layers.register_serializable"
        )
    # nested layers (Bidirectional, RNN cells, TimeDistributed) see the same custom_objects
    _SCOPES.append(dict(custom_objects or {}))
    try:
        return cls.from_config(data["config"])
    finally:
        _SCOPES.pop()
