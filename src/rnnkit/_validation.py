"""Argument and input checks shared by every layer and cell.

Each helper raises a :mod:`rnnkit.errors` exception whose message says who
complained, what was received and what was expected.
"""
from __future__ import annotations

import math
import numbers
import os
from typing import Any, Iterable

import numpy as np
import torch

from .errors import ConfigError, ShapeError


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def check_positive_int(owner: str, name: str, value: Any, *, allow_none: bool = False, minimum: int = 1) -> Any:
    """Return ``value`` if it is an int >= ``minimum`` (bools refused)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ConfigError(f"{owner}: `{name}` must be {what}, got {_describe(value)}")
    return int(value)


def check_rate(owner: str, name: str, value: Any) -> float:
    """Return ``value`` if it is a dropout-style rate in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) < 1.0:
        raise ConfigError(f"{owner}: `{name}` must be a float in [0, 1), got {_describe(value)}")
    return float(value)


def check_choice(owner: str, name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ConfigError(f"{owner}: `{name}` must be one of {options}, got {value!r}")
    return value


def check_bool(owner: str, name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{owner}: `{name}` must be True or False, got {_describe(value)}")
    return bool(value)


def as_tensor(owner: str, x: Any, name: str = "input") -> torch.Tensor:
    """Accept a tensor or a NumPy array; anything else is a clear error."""
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    raise ShapeError(f"{owner}: expected {name} as a torch.Tensor or NumPy array, got {type(x).__name__}")


def check_ndim(owner: str, x: torch.Tensor, ndims: int | tuple[int, ...], layout: str, name: str = "input") -> None:
    """Raise unless ``x.dim()`` is one of ``ndims``; ``layout`` names the axes, e.g. '(batch, time, features)'."""
    allowed = (ndims,) if isinstance(ndims, int) else tuple(ndims)
    if x.dim() not in allowed:
        want = " or ".join(str(n) for n in allowed)
        raise ShapeError(
            f"{owner}: expected {name} of {want} dims {layout}, got {x.dim()} dims with shape {tuple(x.shape)}"
        )


def as_step_mask(owner: str, mask: Any, x: torch.Tensor) -> torch.Tensor:
    """A ``(batch, time)`` bool mask matching ``x`` (batch, time, features); non-bool masks mean ``mask != 0``."""
    m = as_tensor(owner, mask, "mask")
    check_ndim(owner, m, 2, "(batch, time)", name="mask")
    if tuple(m.shape) != tuple(x.shape[:2]):
        raise ShapeError(
            f"{owner}: expected a mask of shape (batch, time) = {tuple(x.shape[:2])} for input of shape "
            f"{tuple(x.shape)}, got mask shape {tuple(m.shape)}"
        )
    if m.dtype != torch.bool:
        m = m != 0
    return m.to(x.device)


def check_floating(owner: str, x: torch.Tensor, name: str = "input") -> None:
    if not x.is_floating_point():
        raise ShapeError(
            f"{owner}: expected a floating-point {name}, got dtype {x.dtype}; "
            "convert it with x.float() (token ids go through an Embedding layer first)"
        )


def as_int_tuple(owner: str, name: str, value: Any, n: int) -> tuple[int, ...]:
    """``value`` as a tuple of ``n`` positive ints; an int is repeated ``n`` times."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,) * n
    if not isinstance(value, (tuple, list)) or len(value) != n:
        plural = "" if n == 1 else "s"
        raise ConfigError(
            f"{owner}: `{name}` must be a positive integer or a tuple of {n} positive integer{plural}, "
            f"got {value!r} ({type(value).__name__})"
        )
    return tuple(check_positive_int(owner, name, v) for v in value)


def check_min_ndim(owner: str, x: torch.Tensor, min_dims: int, layout: str, name: str = "input") -> None:
    """Raise a ShapeError unless ``x`` has at least ``min_dims`` dimensions."""
    if x.dim() < min_dims:
        raise ShapeError(
            f"{owner}: expected {name} of at least {min_dims} dims {layout}, "
            f"got {x.dim()} dims with shape {tuple(x.shape)}"
        )


def check_real(owner: str, name: str, value: Any, *, minimum: float | None = None, maximum: float | None = None,
               positive: bool = False, finite: bool = True, allow_none: bool = False) -> float | None:
    """``value`` as a float: a real number (not a bool), finite unless ``finite=False``, within
    [``minimum``, ``maximum``] where given, > 0 with ``positive``; None passes with ``allow_none``.

    >>> check_real("Huber", "delta", 2)
    2.0
    >>> check_real("Huber", "delta", 0, positive=True)
    Traceback (most recent call last):
    rnnkit.errors.ConfigError: Huber: `delta` must be a finite number > 0, got 0 (int)
    """
    if value is None and allow_none:
        return None
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real)
    if ok:
        x = float(value)
        ok = (math.isfinite(x) or not finite) and not (positive and not x > 0) and not (
            minimum is not None and x < minimum) and not (maximum is not None and x > maximum)
    if not ok:
        want = "a finite number" if finite else "a number"
        if minimum is not None and maximum is not None:
            want += f" in [{minimum:g}, {maximum:g}]"
        elif minimum is not None:
            want += f" >= {minimum:g}"
        elif maximum is not None:
            want += f" <= {maximum:g}"
        if positive:
            want += " > 0"
        raise ConfigError(f"{owner}: `{name}` must be {want}, got {value!r} ({type(value).__name__})")
    return float(value)


def physical_memory() -> int:
    """This machine's memory in bytes (0 where the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 0


def check_fits_memory(owner: str, shape: tuple[int, ...], dtype: Any, fix: str) -> None:
    """Raise a ConfigError, before anything is allocated, when an array of ``shape`` and ``dtype`` needs more
    bytes than this machine has; ``fix`` ends the message.

    >>> check_fits_memory("pad_sequences", (2, 10**12), np.int32, "pass a smaller maxlen")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    rnnkit.errors.ConfigError: pad_sequences: an output of shape (2, 1000000000000) and dtype int32 needs 7,450.6 GiB, more than this machine's ... GiB of memory; pass a smaller maxlen
    """
    dtype = np.dtype(dtype)
    need = math.prod(shape) * max(dtype.itemsize, 1)
    have = physical_memory()
    if have and need > have:
        raise ConfigError(f"{owner}: an output of shape {tuple(shape)} and dtype {dtype} needs {need / 2**30:,.1f} GiB, "
                          f"more than this machine's {have / 2**30:,.1f} GiB of memory; {fix}")
