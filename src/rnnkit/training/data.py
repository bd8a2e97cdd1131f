"""Turning what ``fit``/``evaluate``/``predict`` receive into batches of tensors.

Accepted inputs: NumPy arrays or tensors (``x`` and ``y`` with the same first
axis), or any iterable of batches — a ``torch.utils.data.DataLoader`` or a
generator — yielding ``(x, y)`` pairs or bare ``x``.  Arrays are converted to
tensors once, at the edge; floating NumPy arrays become float32 as in Keras.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import numpy as np
import torch

from ..errors import ConfigError, ShapeError

__all__ = ["ArrayData", "as_data", "iterate_batches", "to_device"]


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
        return tensor.float() if tensor.is_floating_point() else tensor
    raise ShapeError(f"{what}: expected a NumPy array, a tensor or an iterable of batches, got {type(value).__name__}")


@dataclass
class ArrayData:
    """In-memory examples: ``x`` and optional ``y`` tensors sharing their first axis."""

    x: torch.Tensor
    y: torch.Tensor | None

    def __len__(self) -> int:
        return self.x.shape[0]

    def split(self, fraction: float) -> tuple["ArrayData", "ArrayData"]:
        """(first part, last ``fraction``) — Keras' ``validation_split`` takes the end, before shuffling."""
        n_val = int(len(self) * fraction)
        if n_val == 0 or n_val == len(self):
            raise ConfigError(
                f"validation_split={fraction} leaves {len(self) - n_val} training and {n_val} validation examples "
                f"out of {len(self)}; use a fraction that keeps both non-empty"
            )
        cut = len(self) - n_val
        y = self.y
        return ArrayData(self.x[:cut], None if y is None else y[:cut]), ArrayData(self.x[cut:], None if y is None else y[cut:])

    def batches(self, batch_size: int, shuffle: bool, generator: torch.Generator | None = None) -> Iterator[tuple]:
        """Batches in a random (or the stored) order, each gathered only when it is needed."""
        order = torch.randperm(len(self), generator=generator) if shuffle else None
        for start in range(0, len(self), batch_size):
            if order is None:  # contiguous slices: views, no copy
                stop = start + batch_size
                yield self.x[start:stop], None if self.y is None else self.y[start:stop]
            else:
                idx = order[start : start + batch_size]
                yield self.x[idx], None if self.y is None else self.y[idx]


def as_data(x: Any, y: Any = None, what: str = "fit") -> ArrayData | Iterable:
    """Arrays/tensors become :class:`ArrayData`; an iterable of batches is returned as it is."""
    if isinstance(x, (np.ndarray, torch.Tensor, list)):
        xt = _to_tensor(x, f"{what}: x")
        yt = None if y is None else _to_tensor(y, f"{what}: y")
        if yt is not None and yt.shape[0] != xt.shape[0]:
            raise ShapeError(f"{what}: x has {xt.shape[0]} examples but y has {yt.shape[0]}; they must match")
        if xt.shape[0] == 0:
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
                yield _to_tensor(item[0], "batch x"), None
            elif len(item) == 2:
                yield _to_tensor(item[0], "batch x"), (None if item[1] is None else _to_tensor(item[1], "batch y"))
            else:
                raise ShapeError(f"a batch must be (x, y) or x, got a {type(item).__name__} of {len(item)} items")
        else:
            yield _to_tensor(item, "batch x"), None


def to_device(t: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if t is None else t.to(device, non_blocking=True)
