"""MonitorCallback: the base of callbacks that watch one logged value (checkpoints, early stopping, LR plateaus).

It holds what they share: the value's name (``monitor``), whether lower or higher
is better (``mode``, with ``'auto'`` read from the name), how much counts as an
improvement (``min_delta``), the best value seen (``best``), and reading the value
from the logs with a one-line warning when it is missing.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Mapping

from ..._validation import check_choice, check_real
from ...errors import ConfigError
from .base import Callback, as_float

__all__ = ["MonitorCallback"]

#: names that 'auto' mode maximises (all others are minimised)
MAXIMISED = ("acc", "auc", "precision", "recall", "f1", "fmeasure")


class MonitorCallback(Callback):
    """Base class of callbacks that act when a monitored value improves or stalls.

    Args:
        monitor: the logged value to watch, e.g. ``'val_loss'`` or ``'accuracy'``.
        mode: ``'min'``, ``'max'``, or ``'auto'`` (max for accuracy-, AUC-, precision-,
            recall- and F1-like names, min otherwise).
        min_delta: how much better than ``best`` a value must be to count (>= 0).

    Attributes:
        best: the best value seen (``inf`` for 'min', ``-inf`` for 'max', before any).
        monitor_op: the resolved mode, ``'min'`` or ``'max'``.

    >>> class Best(MonitorCallback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         current = self.get_monitor_value(logs)
    ...         if current is not None and self.is_improvement(current):
    ...             self.best = current
    >>> watcher = Best(monitor="val_accuracy")
    >>> watcher.monitor_op
    'max'
    >>> for acc in (0.5, 0.75, 0.6):
    ...     watcher.on_epoch_end(0, {"val_accuracy": acc})
    >>> watcher.best
    0.75
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", min_delta: float = 0.0) -> None:
        super().__init__()
        owner = type(self).__name__
        if not isinstance(monitor, str) or not monitor:
            raise ConfigError(
                f"{owner}: `monitor` must be the name of a logged value such as 'val_loss' or 'accuracy', got {monitor!r}"
            )
        self.monitor = monitor
        check_choice(owner, "mode", mode, ("auto", "min", "max"))
        self.mode = mode
        self.monitor_op = mode if mode != "auto" else self._auto_mode(monitor)
        self.min_delta = check_real(owner, "min_delta", min_delta, minimum=0.0)
        self.reset_best()

    @staticmethod
    def _auto_mode(monitor: str) -> str:
        name = monitor[4:] if monitor.startswith("val_") else monitor
        if "loss" in name:
            return "min"
        return "max" if any(word in name for word in MAXIMISED) else "min"

    def reset_best(self) -> None:
        """Forget the best value (a new training starts)."""
        self.best = math.inf if self.monitor_op == "min" else -math.inf

    def is_improvement(self, current: float, reference: float | None = None, min_delta: float | None = None) -> bool:
        """Whether ``current`` beats ``reference`` (default ``best``) by more than ``min_delta`` (NaN never does)."""
        reference = self.best if reference is None else reference
        delta = self.min_delta if min_delta is None else min_delta
        if self.monitor_op == "min":
            return current < reference - delta
        return current > reference + delta

    def get_monitor_value(self, logs: Mapping[str, Any] | None) -> float | None:
        """The monitored value as a float, or ``None`` with a one-line warning when it is not logged."""
        logs = logs or {}
        owner = type(self).__name__
        if self.monitor not in logs:
            available = ", ".join(sorted(logs)) or "none"
            hint = "pass validation data to fit() or " if self.monitor.startswith("val_") else ""
            warnings.warn(
                f"{owner}: monitored value {self.monitor!r} is not in the logs (available: {available}); "
                f"{hint}set monitor= to one of the available names",
                RuntimeWarning,
                stacklevel=3,
            )
            return None
        value = as_float(logs[self.monitor])
        if value is None:
            raise ConfigError(f"{owner}: monitored value {self.monitor!r} must be a number, got {logs[self.monitor]!r}")
        return value
