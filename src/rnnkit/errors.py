"""The one error hierarchy of rnnkit.

Every error that rnnkit raises on purpose derives from :class:`RnnkitError`, so a
caller can catch the whole family with one ``except``.  Each message names the
object that complained, what it received, and what it expected, e.g.::

    LSTM: expected input of 3 dims (batch, time, features), got 2 dims with shape (4, 7)

The narrower classes also derive from the built-in exception a Python user would
expect (``ValueError``/``TypeError``), so ``except ValueError`` keeps working.
"""
from __future__ import annotations

__all__ = ["RnnkitError", "ConfigError", "ShapeError", "NotBuiltError", "CheckpointError", "WriteError", "NotCompiledError",
           "DatasetError", "ExportError", "UnsupportedNameError", "UnsupportedImportError", "one_line", "gist"]


def one_line(text: str) -> str:
    """``text`` with every character that is not printable (a newline or a NUL in a path or in a file's own
    text quoted back, an escape sequence) written as its escape, so that a message is one line and cannot
    drive the terminal.

    >>> one_line("--data a\\nb: no such file\\x1b[2J")
    '--data a\\\\nb: no such file\\\\x1b[2J'
    """
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def gist(exc: BaseException, limit: int | None = 160) -> str:
    """The text of ``exc`` (a library's error, quoted in one of rnnkit's) as one line: runs of whitespace made one
    space, other unprintable characters escaped (:func:`one_line`), cut to ``limit`` characters (None: whole).

    >>> gist(ValueError("bad\\n  value\\x00 here"))
    'bad value\\\\x00 here'
    """
    text = one_line(" ".join(str(exc).split()))
    return text if limit is None else text[:limit]


class RnnkitError(Exception):
    """Base class of every error raised by rnnkit."""


class ConfigError(RnnkitError, ValueError):
    """An argument or configuration value is invalid (wrong type, range or choice)."""


class ShapeError(RnnkitError, ValueError):
    """A tensor has the wrong number of dimensions, size or dtype for the layer it meets."""


class NotBuiltError(RnnkitError, RuntimeError):
    """A layer's weights were asked for before its input size was known."""


class CheckpointError(RnnkitError, OSError):
    """A checkpoint file could not be written, or is missing, truncated, tampered with or not rnnkit's.

    It derives from :class:`OSError` (as a failed file operation does), so
    ``except OSError`` also catches it; ``errno`` is set when an OS error caused it.
    """


class WriteError(RnnkitError, OSError):
    """A file could not be written (a full disk, a quota, a read-only folder, no permission, an I/O error).

    The message names the file, the reason and the free space on its disk; the
    previous file there is untouched.  ``errno`` is the operating system's error
    number and ``reason`` the reason with the free space (an :class:`OSError`, so
    ``except OSError`` also catches it).
    """

    reason: str = ""


class NotCompiledError(RnnkitError, RuntimeError):
    """fit/evaluate was called before compile(): there is no loss or optimizer yet."""


class DatasetError(RnnkitError, OSError):
    """A dataset could not be downloaded, verified, found in the cache or parsed."""


class ExportError(RnnkitError, ValueError):
    """A model (or one of its layers) cannot be exported, e.g. to ONNX; the message names the layer and why."""


class UnsupportedNameError(RnnkitError, AttributeError):
    """A name of Keras' API that :mod:`rnnkit.keras` does not have; the message says what to use instead.

    It derives from :class:`AttributeError`, so ``hasattr(keras.layers, "MultiHeadAttention")`` is simply False.
    """


class UnsupportedImportError(RnnkitError, ImportError):
    """The same as :class:`UnsupportedNameError`, raised by ``from rnnkit.keras.layers import <name>``.

    An ``AttributeError`` there would be replaced by Python's own "cannot import name" and lose the advice.
    """
