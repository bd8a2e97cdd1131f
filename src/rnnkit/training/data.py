"""Turning what ``fit``/``evaluate``/``predict`` receive into batches of tensors.

Accepted inputs: NumPy arrays or tensors (``x`` and ``y`` with the same first
axis), or any iterable of batches — a ``torch.utils.data.DataLoader`` or a
generator — yielding ``(x, y)`` pairs or bare ``x``.  Arrays are converted to
tensors once, at the edge; floating and boolean NumPy arrays become float32 as in Keras
(one-hot inputs are often built as ``np.zeros(..., dtype=bool)``).

A model with several inputs (or outputs) takes a list or tuple of arrays, as in
Keras (``fit([tokens, numbers], y)``): each batch is then a tuple of tensors.  A
list holding one array is that array (``predict([x])``); a list of numbers is
still one array.

>>> import numpy as np
>>> data = as_data([np.zeros((4, 3)), np.ones((4, 2))], np.zeros(4))
>>> [tuple(t.shape) for t in data.x], len(data)
([(4, 3), (4, 2)], 4)
>>> xb, yb = next(data.batches(3, shuffle=False))
>>> batch_rows(xb), yb.shape
(3, torch.Size([3]))
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import numpy as np
import torch

from ..errors import ConfigError, ShapeError

__all__ = ["ArrayData", "as_data", "iterate_batches", "to_device", "batch_rows"]


def _to_tensor(value: Any, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (list, tuple)):
        try:
            value = np.asarray(value)
        except ValueError:  # NumPy refuses rows of different lengths outright
            raise ShapeError(f"{what}: got sequences of different lengths (a ragged list); pad them first "
                             "(rnnkit.data.pad_sequences), or pass an iterable of (x, y) batches") from None
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise ShapeError(f"{what}: got a ragged or object array; pad the sequences first (rnnkit.data.pad_sequences)")
        tensor = torch.from_numpy(np.ascontiguousarray(value))
        return tensor.float() if tensor.is_floating_point() or tensor.dtype == torch.bool else tensor
    raise ShapeError(f"{what}: expected a NumPy array, a tensor or an iterable of batches, got {type(value).__name__}")


def _is_array(value: Any) -> bool:
    return isinstance(value, (np.ndarray, torch.Tensor))


def _to_structure(value: Any, what: str) -> Any:
    """A tensor, or a tuple of tensors for a list/tuple of arrays (one model input or output each)."""
    if isinstance(value, (list, tuple)) and value and all(_is_array(v) for v in value):
        if len(value) == 1:
            return _to_tensor(value[0], what)
        return tuple(_to_tensor(v, f"{what}[{i}]") for i, v in enumerate(value))
    return _to_tensor(value, what)


def batch_rows(x: Any) -> int:
    """The number of examples in a batch (a tensor, or a tuple of tensors)."""
    return x[0].shape[0] if isinstance(x, (tuple, list)) else x.shape[0]


def _take(value: Any, index: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(v[index] for v in value)
    return value[index]


@dataclass
class ArrayData:
    """In-memory examples: ``x`` and optional ``y`` tensors sharing their first axis."""

    x: Any  # a tensor, or a tuple of tensors (several inputs)
    y: Any

    def __len__(self) -> int:
        return batch_rows(self.x)

    def head(self, n: int) -> Any:
        """The first ``n`` examples' x."""
        return _take(self.x, slice(0, n))

    def split(self, fraction: float) -> tuple["ArrayData", "ArrayData"]:
        """(first part, last ``fraction``) — Keras' ``validation_split`` takes the end, before shuffling."""
        n_val = int(len(self) * fraction)
        if n_val == 0 or n_val == len(self):
            raise ConfigError(
                f"validation_split={fraction} leaves {len(self) - n_val} training and {n_val} validation examples "
                f"out of {len(self)}; use a fraction that keeps both non-empty"
            )
        cut = len(self) - n_val
        first, last = slice(0, cut), slice(cut, None)
        return ArrayData(_take(self.x, first), _take(self.y, first)), ArrayData(_take(self.x, last), _take(self.y, last))

    def batches(self, batch_size: int, shuffle: bool, generator: torch.Generator | None = None) -> Iterator[tuple]:
        """Batches in a random (or the stored) order, each gathered only when it is needed."""
        order = torch.randperm(len(self), generator=generator) if shuffle else None
        for start in range(0, len(self), batch_size):
            if order is None:  # contiguous slices: views, no copy
                rows = slice(start, start + batch_size)
                yield _take(self.x, rows), _take(self.y, rows)
            else:
                idx = order[start : start + batch_size]
                yield _take(self.x, idx), _take(self.y, idx)


def as_data(x: Any, y: Any = None, what: str = "fit") -> ArrayData | Iterable:
    """Arrays/tensors become :class:`ArrayData`; an iterable of batches is returned as it is."""
    if isinstance(x, (np.ndarray, torch.Tensor, list)) or (isinstance(x, tuple) and x and all(map(_is_array, x))):
        xt = _to_structure(x, f"{what}: x")
        yt = None if y is None else _to_structure(y, f"{what}: y")
        for part, name in ((xt, "x"), (yt, "y")):
            if isinstance(part, tuple) and len({t.shape[0] for t in part}) > 1:
                raise ShapeError(f"{what}: the arrays of {name} have {[t.shape[0] for t in part]} examples; they must match")
        if yt is not None and batch_rows(yt) != batch_rows(xt):
            raise ShapeError(f"{what}: x has {batch_rows(xt)} examples but y has {batch_rows(yt)}; they must match")
        if batch_rows(xt) == 0:
            raise ShapeError(f"{what}: x is empty (0 examples)")
        return ArrayData(xt, yt)
    if y is not None:
        raise ConfigError(f"{what}: y must be None when x is an iterable of batches (it yields (x, y) pairs)")
    if not hasattr(x, "__iter__"):
        raise ShapeError(f"{what}: expected arrays, tensors or an iterable of batches, got {type(x).__name__}")
    return x


def iterate_batches(data: Any, batch_size: int, shuffle: bool, generator: torch.Generator | None = None) -> Iterator[tuple]:
    """Yield ``(x, y)`` (``y`` may be None) batches from :class:`ArrayData` or an iterable."""
    if isinstance(data, ArrayData):
        yield from data.batches(batch_size, shuffle, generator)
        return
    for item in data:
        if isinstance(item, (tuple, list)):
            if len(item) == 1:
                yield _to_structure(item[0], "batch x"), None
            elif len(item) == 2:
                yield _to_structure(item[0], "batch x"), (None if item[1] is None else _to_structure(item[1], "batch y"))
            else:
                raise ShapeError(f"a batch must be (x, y) or x, got a {type(item).__name__} of {len(item)} items")
        else:
            yield _to_tensor(item, "batch x"), None


def to_device(t: Any, device: torch.device) -> Any:
    """``t`` (a tensor, a tuple of tensors, or None) on ``device``."""
    if isinstance(t, (tuple, list)):
        return tuple(to_device(v, device) for v in t)
    return None if t is None else t.to(device, non_blocking=True)
