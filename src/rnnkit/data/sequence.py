"""Ragged sequences to one rectangular array: Keras' :func:`pad_sequences`.

>>> pad_sequences([[1, 2], [3]]).tolist()
[[1, 2], [0, 3]]
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .._validation import check_choice, check_fits_memory, check_positive_int
from ..errors import ConfigError, ShapeError, gist

__all__ = ["pad_sequences"]


def pad_sequences(
    sequences: Sequence[Any],
    maxlen: int | None = None,
    dtype: Any = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: Any = 0.0,
) -> np.ndarray:
    """Pad (and cut) sequences to one length, giving a ``(n, maxlen, *feature_shape)`` array.

    Args:
        sequences: a list of sequences; each element may be a number or an
            array (sequences of vectors), all elements sharing one shape.
        maxlen: the output length; ``None`` uses the longest sequence.
        dtype: output dtype (strings and ``object`` work too).
        padding: ``'pre'`` or ``'post'``: where the fill values go.
        truncating: ``'pre'`` or ``'post'``: which end of a long sequence is cut.
        value: the fill value.

    >>> pad_sequences([[1, 2, 3], [4]], maxlen=2).tolist()
    [[2, 3], [0, 4]]
    >>> pad_sequences([[1, 2, 3], [4]], padding="post", truncating="post", value=-1).tolist()
    [[1, 2, 3], [4, -1, -1]]
    """
    check_choice("pad_sequences", "padding", padding, ("pre", "post"))
    check_choice("pad_sequences", "truncating", truncating, ("pre", "post"))
    try:
        maxlen = check_positive_int("pad_sequences", "maxlen", maxlen, allow_none=True)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; pass maxlen=None to pad to the longest sequence") from None
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
        raise ConfigError(
            f"pad_sequences: expected a list of sequences, got {type(sequences).__name__}"
        )
    lengths = []
    feature_shape: tuple = ()
    found = False
    for idx, seq in enumerate(sequences):
        try:
            if isinstance(seq, (str, bytes)):  # a text is not a sequence of tokens here
                raise TypeError
            n = len(seq)
            if n and not found:
                feature_shape = np.asarray(seq[:1]).shape[1:]
                found = True
        except (TypeError, KeyError, ValueError):  # no length, no slicing (a set, a dict), ragged elements
            raise ConfigError(
                f"pad_sequences: sequence at index {idx} is a {type(seq).__name__}, not a list or array of "
                "numbers (or of equal-shaped arrays); split texts into token ids first"
            ) from None
        lengths.append(n)
    if maxlen is None:
        maxlen = max(lengths, default=0)
    try:
        np_dtype = np.dtype(dtype)
    except (TypeError, ValueError):
        raise ConfigError(
            f"pad_sequences: `dtype` {dtype!r} is not a NumPy dtype; try 'int32', 'float32' or object"
        ) from None
    if np_dtype.fields is not None or np_dtype.subdtype is not None:  # a record or sub-array per element
        raise ConfigError(
            f"pad_sequences: `dtype` {dtype!r} is a structured dtype; give one value per step, such as 'int32'"
        )
    is_str = np.issubdtype(np_dtype, np.str_) or np.issubdtype(np_dtype, np.bytes_)
    if isinstance(value, str) and np_dtype != np.dtype(object) and not is_str:
        raise ConfigError(
            f"pad_sequences: `value` is the string {value!r} but `dtype` is {np_dtype}; "
            "use dtype=object or a string dtype, or a numeric value"
        )
    shape = (len(lengths), maxlen) + tuple(feature_shape)  # (n, maxlen, *features)
    check_fits_memory("pad_sequences", shape, np_dtype, "pass a smaller maxlen")
    try:
        out = np.full(shape, value, dtype=np_dtype)
    except MemoryError:
        raise ConfigError(
            f"pad_sequences: an output of shape {shape} and dtype {np_dtype} does not fit in the free memory; pass a "
            "smaller maxlen"
        ) from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise ConfigError(
            f"pad_sequences: `value` {value!r} cannot fill a {np_dtype} array ({gist(exc, 120)}); give a value "
            "of that dtype"
        ) from None
    for idx, seq in enumerate(sequences):
        if not lengths[idx]:
            continue
        try:
            cut = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        except (TypeError, KeyError):  # a dict or set: it has a length but no order
            raise ConfigError(
                f"pad_sequences: sequence at index {idx} is a {type(seq).__name__}, not a list or array"
            ) from None
        try:
            cut = np.asarray(cut, dtype=np_dtype)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ShapeError(
                f"pad_sequences: sequence at index {idx} could not be converted to {np_dtype} "
                f"(elements of differing shapes or bad values: {gist(exc, 120)})"
            ) from None
        if cut.shape[1:] != tuple(feature_shape):
            raise ShapeError(
                f"pad_sequences: sequence at index {idx} has elements of shape {cut.shape[1:]}, "
                f"expected {tuple(feature_shape)} like the first non-empty sequence"
            )
        if padding == "post":
            out[idx, : len(cut)] = cut
        else:
            out[idx, maxlen - len(cut):] = cut
    return out

