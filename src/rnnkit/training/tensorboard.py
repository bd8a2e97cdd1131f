"""TensorBoard event files, written by the ``tensorboard`` package's own writer (the optional extra).

``pip install 'rnnkit[tensorboard]'`` installs it.  :class:`EventFileWriter` is a
small checked face over PyTorch's ``torch.utils.tensorboard.SummaryWriter`` (which
encodes through tensorboard's protobuf classes and record writer): scalars only,
the arguments checked with rnnkit's one-line errors.  Without the package,
creating a writer (or the :class:`~rnnkit.training.callbacks.TensorBoard`
callback) raises an ``ImportError`` naming the command that installs it.

>>> import tempfile
>>> from rnnkit.training.tensorboard import EventFileWriter
>>> with EventFileWriter(tempfile.mkdtemp()) as writer:
...     writer.add_scalar("epoch_loss", 0.25, step=0)
"""
from __future__ import annotations

import numbers
import os
from typing import Any

from ..errors import ConfigError

__all__ = ["EventFileWriter", "require_tensorboard"]

_MISSING = "{owner}: the `tensorboard` package is not installed; install it with pip install 'rnnkit[tensorboard]'"


def require_tensorboard(owner: str = "TensorBoard") -> type:
    """PyTorch's ``SummaryWriter`` class, or a one-line ``ImportError`` saying how to install tensorboard."""
    try:
        import tensorboard  # noqa: F401  (torch.utils.tensorboard needs it)
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ImportError(_MISSING.format(owner=owner)) from None
    return SummaryWriter


def _as_float(value: Any) -> float | None:
    if isinstance(value, numbers.Real):
        return float(value)
    numel = getattr(value, "numel", None) or getattr(value, "size", None)
    try:
        if callable(getattr(value, "item", None)) and (numel() if callable(numel) else numel) == 1:
            out = value.item()
            return float(out) if isinstance(out, numbers.Real) else None
    except (TypeError, ValueError, RuntimeError):
        return None
    return None


class EventFileWriter:
    """Write scalars to one new event file in ``log_dir`` (TensorBoard reads it with ``--logdir``).

    Args:
        log_dir: the folder (created if missing); each writer adds a file of its own.

    Attributes:
        log_dir: the folder, as a str.
    """

    def __init__(self, log_dir: str | os.PathLike) -> None:
        summary_writer = require_tensorboard("EventFileWriter")
        if not isinstance(log_dir, (str, os.PathLike)):
            raise ConfigError(f"EventFileWriter: `log_dir` must be a str or os.PathLike, got {log_dir!r}")
        self.log_dir = os.fsdecode(os.fspath(log_dir))
        os.makedirs(self.log_dir, exist_ok=True)
        self._writer = summary_writer(self.log_dir)
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def add_scalar(self, tag: str, value: Any, step: int, wall_time: float | None = None) -> None:
        """Record ``value`` under ``tag`` at ``step`` (written for good by :meth:`flush`).

        Args:
            tag: the chart's name in TensorBoard, e.g. ``'epoch_loss'``.
            value: a real number (int, float, NumPy scalar or one-element tensor),
                stored as TensorBoard's float32 ``simple_value``.
            step: the x coordinate, an int (epoch or batch count).
            wall_time: seconds since the epoch; now if ``None``.
        """
        if not isinstance(tag, str) or not tag:
            raise ConfigError(f"EventFileWriter.add_scalar: `tag` must be a non-empty str, got {tag!r}")
        if isinstance(step, bool) or not isinstance(step, numbers.Integral):
            raise ConfigError(f"EventFileWriter.add_scalar: `step` must be an int, got {step!r}")
        number = _as_float(value)
        if number is None:
            raise ConfigError(
                f"EventFileWriter.add_scalar: `value` for {tag!r} must be a real number, got {value!r} ({type(value).__name__})"
            )
        if self._closed:
            raise ConfigError(f"EventFileWriter.add_scalar: the writer of {self.log_dir!r} is closed; open a new one")
        self._writer.add_scalar(tag, number, global_step=int(step), walltime=wall_time)

    def flush(self) -> None:
        """Write what is buffered so a running TensorBoard sees it."""
        if not self._closed:
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the file; further :meth:`add_scalar` calls raise."""
        if not self._closed:
            self._writer.close()
            self._closed = True

    def __enter__(self) -> "EventFileWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
