"""TimeBudget: count the time spent in training steps and stop once a budget is spent."""
from __future__ import annotations

import time

from ...errors import ConfigError
from .base import Callback

__all__ = ["TimeBudget"]


class TimeBudget(Callback):
    """Count the time spent in training steps and stop training once ``seconds`` are spent.

    Only the training batches count (from ``on_train_batch_begin`` to
    ``on_train_batch_end``): validation, callbacks at epoch ends and checkpoint
    writes do not, so a budget means the same on a fast and a slow disk.  Training
    stops after the batch that spends the budget; ``fit`` then still validates that
    last (partial) epoch.  Each epoch's logs get ``seconds``, the training time so
    far.  ``seconds=None`` only keeps the clock.  The clock is saved with the model
    (``elapsed``), so a resumed run goes on counting where it stopped.

    >>> import torch
    >>> net = torch.nn.Linear(1, 1)
    >>> net.stop_training = False
    >>> clock = TimeBudget(seconds=1e-9)
    >>> clock.set_model(net)
    >>> clock.on_train_batch_begin(0); clock.on_train_batch_end(0)
    >>> net.stop_training, clock.elapsed > 0
    (True, True)
    """

    _state_keys = ("elapsed",)

    def __init__(self, seconds: float | None = None) -> None:
        super().__init__()
        if seconds is not None and not (isinstance(seconds, (int, float)) and seconds > 0):
            raise ConfigError(f"TimeBudget: `seconds` must be a positive number or None, got {seconds!r}")
        self.seconds = seconds
        self.elapsed = 0.0
        self._t0 = 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.elapsed = 0.0

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.elapsed += time.perf_counter() - self._t0
        if self.seconds and self.elapsed >= self.seconds:
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["seconds"] = round(self.elapsed, 2)
