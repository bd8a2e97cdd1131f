"""The registry of serializable classes, and objects to and from ``{"class_name": ..., "config": ...}``.

Every built-in layer, cell and model registers itself where it is defined
(``@register_serializable`` above the class), and so can your own classes; so
:func:`deserialize` finds a class by the name a file holds without importing
any layer or model module itself: this package sits below them all.

A class is known by its name, or by ``"package>Name"`` when registered with
``package=`` (as Keras' ``register_keras_serializable``); :func:`serialize`
writes that name as ``"registered_name"`` when it differs from the class name.

>>> from rnnkit.layers import LSTM
>>> layer = deserialize(serialize(LSTM(8, return_sequences=True)))
>>> type(layer).__name__, layer.units, layer.return_sequences
('LSTM', 8, True)
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Mapping, TypeVar

from ..errors import ConfigError

__all__ = [
    "register_serializable",
    "get_registered_name",
    "get_registered_object",
    "custom_object_scope",
    "serialize",
    "deserialize",
]

T = TypeVar("T", bound=type)

_REGISTRY: dict[str, type] = {}  # registered name -> class
_NAMES: dict[type, str] = {}  # class -> registered name
_SCOPES: list[dict[str, type]] = []  # custom_objects of the deserialize / custom_object_scope calls in progress


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register_serializable(cls: T | str | None = None, *, package: str | None = None,
                          name: str | None = None) -> T | Callable[[T], T]:
    """Make a class known to :func:`deserialize` by name; a decorator, bare or with arguments.

    ``@register_serializable`` registers the class under its own name;
    ``@register_serializable(package="mylib")`` under ``"mylib>ClassName"`` (and
    ``name=`` replaces the class name), which keeps your classes apart from
    rnnkit's and from other libraries'.  A name already taken by a different
    class is refused (the same class, or a module reloaded in a notebook,
    re-registers silently).

    >>> from rnnkit.layers import Layer
    >>> @register_serializable
    ... class Identity(Layer):
    ...     def forward(self, x):
    ...         return x
    >>> type(deserialize({"class_name": "Identity", "config": {"name": "id"}})).__name__
    'Identity'
    >>> @register_serializable(package="mylib")
    ... class Dense(Layer):
    ...     pass
    >>> get_registered_name(Dense), serialize(Dense(name="d"))["registered_name"]
    ('mylib>Dense', 'mylib>Dense')
    >>> @register_serializable
    ... class Dense(Layer):
    ...     pass
    Traceback (most recent call last):
    ...
    rnnkit.errors.ConfigError: register_serializable: the name 'Dense' is taken by rnnkit.layers.core.Dense; register Dense under another name with package='yourlib' (or name='...')
    """
    if isinstance(cls, str):  # register_serializable("mylib"), Keras' positional package
        cls, package = None, cls
    for arg, value in (("package", package), ("name", name)):
        if value is not None and (not isinstance(value, str) or not value or ">" in value):
            raise ConfigError(f"register_serializable: `{arg}` must be a non-empty str without '>', got {value!r}")

    def register(klass: T) -> T:
        if not isinstance(klass, type):
            raise ConfigError(
                f"register_serializable: expected a class, got {klass!r}; put @register_serializable above a class"
            )
        key = name or klass.__name__
        if package:
            key = f"{package}>{key}"
        taken = _REGISTRY.get(key)
        if taken is not None and taken is not klass and _qualified(taken) != _qualified(klass):
            raise ConfigError(
                f"register_serializable: the name {key!r} is taken by {_qualified(taken)}; register "
                f"{klass.__qualname__} under another name with package='yourlib' (or name='...')"
            )
        _REGISTRY[key] = klass
        _NAMES[klass] = key
        return klass

    return register if cls is None else register(cls)


def get_registered_name(cls: type) -> str:
    """The name ``cls`` is registered under (its class name when it is not registered).

    >>> from rnnkit.layers import GRU
    >>> get_registered_name(GRU)
    'GRU'
    """
    return _NAMES.get(cls, cls.__name__)


def get_registered_object(name: str, custom_objects: Mapping[str, type] | None = None) -> type | None:
    """The class known by ``name``: from ``custom_objects``, the scopes in force, then the registry; None if none.

    >>> get_registered_object("LSTMCell").__module__
    'rnnkit.cells.lstm'
    """
    for table in (custom_objects or {}, *reversed(_SCOPES)):
        if name in table:
            return table[name]
    return _REGISTRY.get(name)


@contextlib.contextmanager
def custom_object_scope(custom_objects: Mapping[str, type]) -> Iterator[None]:
    """Within the block, :func:`deserialize` (and ``load_model``) also know the classes of ``custom_objects``.

    >>> from rnnkit.layers import Layer
    >>> class Twice(Layer):
    ...     def forward(self, x):
    ...         return 2 * x
    >>> with custom_object_scope({"Twice": Twice}):
    ...     layer = deserialize({"class_name": "Twice", "config": {}})
    >>> type(layer).__name__
    'Twice'
    """
    if not isinstance(custom_objects, Mapping):
        raise ConfigError(
            f"custom_object_scope: expected a dict of name -> class, got {type(custom_objects).__name__}"
        )
    _SCOPES.append(dict(custom_objects))
    try:
        yield
    finally:
        _SCOPES.pop()


def serialize(obj: Any) -> dict[str, Any]:
    """``{"class_name": <class name>, "config": obj.get_config()}`` (and ``"registered_name"`` if it differs).

    >>> from rnnkit.layers import Dense
    >>> serialize(Dense(2, name="out"))["config"]["units"]
    2
    """
    if not hasattr(obj, "get_config"):
        raise ConfigError(f"cannot serialize {type(obj).__name__}: it has no get_config()")
    data = {"class_name": type(obj).__name__, "config": obj.get_config()}
    registered = get_registered_name(type(obj))
    if registered != data["class_name"]:
        data["registered_name"] = registered
    return data


def deserialize(data: dict[str, Any], custom_objects: Mapping[str, type] | None = None) -> Any:
    """Rebuild an object (a layer, cell or model, without weights) from :func:`serialize`'s output.

    Classes are found in ``custom_objects`` (name -> class), then in the
    :func:`custom_object_scope` blocks in force, then among the registered
    classes (rnnkit's own and those registered with :func:`register_serializable`).
    Nested objects (a Bidirectional's layer, an RNN's cells, a Sequential's
    layers) see the same ``custom_objects``.

    >>> deserialize({"class_name": "GRU", "config": {"units": 3, "reset_after": False}}).cell.reset_after
    False
    """
    if not isinstance(data, Mapping) or "class_name" not in data or "config" not in data:
        raise ConfigError(f"expected a dict with 'class_name' and 'config', got {data!r:.80}")
    class_name = data["class_name"]
    registered = data.get("registered_name") or class_name
    cls = get_registered_object(registered, custom_objects)
    if cls is None and registered != class_name:  # custom_objects may name the class plainly
        cls = next((t[class_name] for t in (custom_objects or {}, *reversed(_SCOPES)) if class_name in t), None)
    if cls is None:
        raise ConfigError(
            f"unknown layer class {registered!r}; pass custom_objects={{{registered!r}: TheClass}} "
            "or register the class with @rnnkit.saving.register_serializable"
        )
    with custom_object_scope(custom_objects or {}):
        return cls.from_config(data["config"])
