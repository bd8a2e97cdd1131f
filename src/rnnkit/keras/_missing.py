"""The one-line error for a Keras name that rnnkit does not have: each namespace module's ``__getattr__``.

Every module of :mod:`rnnkit.keras` ends with ``__getattr__ = absent(__name__, __all__, HINTS)``:
an unknown public name raises :class:`~rnnkit.errors.UnsupportedNameError` (an
``AttributeError``, so ``hasattr`` answers False) whose one line names the Keras
name and what to use instead: the hint given for it, or the names the module has.
Inside ``from rnnkit.keras.layers import <name>`` the error is
:class:`~rnnkit.errors.UnsupportedImportError` instead, because Python replaces an
``AttributeError`` raised there by its own "cannot import name" and the advice
would be lost.  Names starting with ``_`` get a plain ``AttributeError`` (tools
probe modules for such names).

>>> getattr_ = absent("rnnkit.keras.layers", ["Dense", "LSTM"], {"MultiHeadAttention": "use Attention"})
>>> getattr_("MultiHeadAttention")
Traceback (most recent call last):
...
rnnkit.errors.UnsupportedNameError: keras.layers.MultiHeadAttention is not in rnnkit: use Attention
>>> getattr_("Reshape")
Traceback (most recent call last):
...
rnnkit.errors.UnsupportedNameError: keras.layers.Reshape is not in rnnkit; rnnkit.keras.layers has Dense, LSTM
"""
from __future__ import annotations

import dis
import sys
from typing import Callable, Iterable, Mapping, NoReturn

from ..errors import UnsupportedImportError, UnsupportedNameError

__all__ = ["absent"]


def _in_from_import(frame_depth: int) -> bool:
    """Whether the code that asked for the name is running ``from module import name``."""
    try:
        frame = sys._getframe(frame_depth + 1)
        return dis.opname[frame.f_code.co_code[frame.f_lasti]] == "IMPORT_FROM"
    except (ValueError, IndexError, AttributeError):  # another interpreter: the AttributeError form then
        return False


def absent(module: str, names: Iterable[str], hints: Mapping[str, str], default: str | None = None) -> Callable[[str], NoReturn]:
    """The ``__getattr__`` of namespace ``module``, which has ``names``; ``hints[name]`` says what to use instead.

    A name without a hint gets ``default`` when given, else the list of ``names``.
    """
    label = module.replace("rnnkit.keras", "keras", 1)
    have = ", ".join(sorted(n for n in names if not n.startswith("_")))

    def __getattr__(name: str) -> NoReturn:
        if name.startswith("_"):
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        hint = hints.get(name, default)
        message = f"{label}.{name} is not in rnnkit: {hint}" if hint else f"{label}.{name} is not in rnnkit; {module} has {have}"
        if _in_from_import(1):
            raise UnsupportedImportError(message, name=name, path=None)
        raise UnsupportedNameError(message, name=name, obj=sys.modules.get(module))

    return __getattr__
