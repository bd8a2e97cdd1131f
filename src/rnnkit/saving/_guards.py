"""Guards for rebuilding a model from a file: :func:`allocation_budget` and :func:`file_errors`.

A model file's config says how large each layer is, and the layers allocate their weights (and run their
shape-inference examples) when they are built, before any weight is read from the file.  A damaged or
hostile config could thus claim a 40 GB layer in a file of a few KB.  Within :func:`allocation_budget`
every PyTorch factory call (``torch.empty``, ``zeros``, ``full``, ``randn``, ``Tensor.new_empty`` ...) is
checked *before* it allocates: no single tensor may exceed ``limit`` numbers and all of them together
``4 * limit``, where ``limit`` comes from the file's size (every weight takes at least one byte there),
with a floor for what any small model needs (its example batches).  A breach is a one-line
:class:`~rnnkit.errors.CheckpointError`.

:func:`file_errors` turns what goes wrong while a file's content is rebuilt into one line naming the file:
rnnkit's own errors keep their class, any other error (a config of the wrong types, HDF5 internals that
h5py cannot read) means the content is not what a model file holds and becomes a CheckpointError.

>>> import torch
>>> with allocation_budget(1000, "model.keras"):
...     torch.zeros(10, 10).shape
torch.Size([10, 10])
>>> with allocation_budget(1000, "model.keras", floor=0):
...     torch.empty(10**6, 10**6)
Traceback (most recent call last):
rnnkit.errors.CheckpointError: model.keras: building its model would create a tensor of 1,000,000,000,000 numbers (shape (1000000, 1000000)), more than the file can hold (1,000); its config is damaged or not a real model's
"""
from __future__ import annotations

import contextlib
import math
import os
from typing import Any, Iterator

import torch
from torch.overrides import TorchFunctionMode

from ..errors import CheckpointError, RnnkitError, gist

__all__ = ["allocation_budget", "file_errors"]

#: factory functions and methods whose first (size) arguments say how many numbers they allocate
_FACTORIES = {"empty", "zeros", "ones", "full", "rand", "randn", "randint", "empty_strided", "new_empty",
              "new_zeros", "new_ones", "new_full", "eye", "randperm"}
#: what any model may create whatever its file's size (its example batches, its states): 16 M numbers
FLOOR = 1 << 24


def _size(name: str, args: tuple, kwargs: dict) -> tuple | None:
    """The shape a factory call asks for (None when it cannot be told from the arguments)."""
    if name.startswith("new_"):
        args = args[1:]  # the tensor the method is called on
    if name in ("eye", "randperm"):
        n = args[0] if args else kwargs.get("n")
        m = args[1] if len(args) > 1 and isinstance(args[1], int) else kwargs.get("m", n if name == "eye" else 1)
        return (n, m)
    size = kwargs.get("size")
    if size is None and args:
        if name == "randint":  # randint(high, size) or randint(low, high, size)
            size = args[-1]
        elif isinstance(args[0], (tuple, list, torch.Size)):
            size = args[0]
        else:
            size = tuple(a for a in args if isinstance(a, int))
    if isinstance(size, int):
        size = (size,)
    if not isinstance(size, (tuple, list, torch.Size)) or not all(isinstance(d, int) for d in size):
        return None
    return tuple(size)


class _Budget(TorchFunctionMode):
    def __init__(self, limit: int, total: int, what: str) -> None:
        super().__init__()
        self.limit, self.total, self.what, self.used = limit, total, what, 0

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in _FACTORIES:
            shape = _size(name, args, kwargs)
            if shape is not None and all(d >= 0 for d in shape):
                count = math.prod(shape)
                self.used += count
                if count > self.limit or self.used > self.total:
                    what = "a tensor of" if count > self.limit else "tensors of, in all,"
                    numbers = count if count > self.limit else self.used
                    raise CheckpointError(
                        f"{self.what}: building its model would create {what} {numbers:,} numbers (shape {shape}), "
                        f"more than the file can hold ({self.limit:,}); its config is damaged or not a real model's")
        return func(*args, **kwargs)


@contextlib.contextmanager
def allocation_budget(size: int, what: str, floor: int = FLOOR) -> Iterator[None]:
    """Within the block, refuse (CheckpointError starting with ``what``) any PyTorch factory call that would
    create more than ``size + floor`` numbers, or more than ``4 * (size + floor)`` in all, before it allocates.

    Args:
        size: the size in bytes of the file (or of its weights) the model is rebuilt from.
        what: the file, as error messages name it.
        floor: numbers any model may create whatever the file's size.
    """
    limit = int(size) + int(floor)
    with _Budget(limit, 4 * limit, what):
        yield


#: what a file's content can make go wrong beyond the checks made on purpose
_CONTENT_ERRORS = (KeyError, IndexError, TypeError, ValueError, AttributeError, RuntimeError, OSError, OverflowError,
                   RecursionError)


@contextlib.contextmanager
def file_errors(owner: str, name: Any) -> Iterator[None]:
    """Within the block, errors become one line starting ``"<owner>: <name>: "``, where ``name`` is the file.

    rnnkit's own errors keep their class (and are left as they are when they name the file already); the
    errors of :data:`_CONTENT_ERRORS` become a :class:`~rnnkit.errors.CheckpointError`.

    >>> with file_errors("load_model", "m.safetensors"):
    ...     {}["class_name"]
    Traceback (most recent call last):
    rnnkit.errors.CheckpointError: load_model: m.safetensors: a damaged or malformed model file (KeyError: 'class_name'); refused
    """
    name = os.fspath(name)
    try:
        yield
    except RnnkitError as exc:
        message = str(exc)
        if name in message:
            raise
        message = message[len(owner) + 2:] if message.startswith(f"{owner}: ") else message
        raise type(exc)(f"{owner}: {name}: {message}") from None
    except _CONTENT_ERRORS as exc:
        detail = gist(exc)
        raise CheckpointError(f"{owner}: {name}: a damaged or malformed model file ({type(exc).__name__}: {detail}); "
                              "refused") from exc
