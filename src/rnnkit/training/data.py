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

__all__ = ["ArrayData", "as_data", "iterate_batches", "to_device", "batch_rows", "check_finite"]


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


def _first_bad(t: torch.Tensor, allowed: tuple[float, ...]) -> tuple[int, ...] | None:
    """The index of the first NaN or infinity of ``t`` (C order) that is not one of ``allowed``; None if none."""
    # a finite sum means every element is finite: one reduction, no copy, on the common path
    if torch.isfinite(t.sum()):
        return None
    bad = ~torch.isfinite(t)
    if allowed:
        bad &= ~torch.isin(t, torch.tensor(allowed, dtype=t.dtype, device=t.device))
    found = bad.reshape(-1).nonzero()
    if not len(found):
        return None
    return tuple(int(i) for i in np.unravel_index(int(found[0, 0]), tuple(t.shape)))


def check_finite(value: Any, name: str, what: str, *, batch: int | None = None, allowed: tuple[float, ...] = ()) -> None:
    """Refuse a NaN or an infinity in floating ``value`` (a tensor or a tuple of them), naming the first one's place.

    ``name`` is ``'x'`` or ``'y'``; ``what`` says who checks (``'fit'``, ``'evaluate'`` ...); ``batch`` (from 1)
    when ``value`` is a batch read from an iterable.  Integer tensors (token ids) are not looked at;
    ``allowed`` holds infinities that are meant (a :class:`~rnnkit.layers.Masking` layer's mask value).

    >>> import torch
    >>> x = torch.zeros(4, 6, 2); x[3, 5, 1] = float("nan")
    >>> check_finite(x, "x", "fit")
    Traceback (most recent call last):
    rnnkit.errors.ConfigError: fit: x holds nan at x[3, 5, 1] (sample 3, step 5, feature 1); clean the data first: fix or drop that sample (np.nan_to_num replaces NaN and infinities)
    >>> check_finite(torch.tensor([[1, 2]]), "x", "fit")  # token ids: not looked at
    """
    parts = value if isinstance(value, (tuple, list)) else (value,)
    for k, t in enumerate(parts):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            continue
        index = _first_bad(t, allowed)
        if index is None:
            continue
        label = f"{name}[{k}]" if isinstance(value, (tuple, list)) else name
        row = "row" if batch is not None else "sample"
        # the axes' names: (sample), (sample, feature), (sample, step, feature); targets in place of features for y
        last = "feature" if name == "x" else "target"
        axes = {1: [row], 2: [row, last], 3: [row, "step", last]}.get(len(index))
        place = f" ({', '.join(f'{a} {i}' for a, i in zip(axes, index))})" if axes else ""
        where = f"batch {batch} of {label}" if batch is not None else label
        raise ConfigError(
            f"{what}: {where} holds {float(t[index])} at {label}[{', '.join(map(str, index))}]{place}; clean the data "
            f"first: fix or drop that {'example' if batch is not None else 'sample'} (np.nan_to_num replaces NaN and "
            "infinities)"
        )


def to_device(t: Any, device: torch.device) -> Any:
    """``t`` (a tensor, a tuple of tensors, or None) on ``device``."""
    if isinstance(t, (tuple, list)):
        return tuple(to_device(v, device) for v in t)
    return None if t is None else t.to(device, non_blocking=True)
