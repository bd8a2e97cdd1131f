"""TerminateOnNaN: stop training as soon as the loss is NaN or infinite, naming the epoch and batch."""
from __future__ import annotations

import math

from .base import Callback, as_float

__all__ = ["TerminateOnNaN"]


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch (or epoch) loss is NaN or infinite, naming where.

    Sets ``model.stop_training`` and prints e.g. ``Epoch 3, batch 17: loss is nan,
    terminating training``; the loop stops after that batch if it checks the flag
    per batch, else at the end of the epoch.

    Attributes:
        stopped_at: ``(epoch, batch)`` counted from 0 (batch ``None`` if found at
            epoch end), or ``None`` if training was not stopped.

    >>> import torch
    >>> net = torch.nn.Linear(1, 1)
    >>> net.stop_training = False
    >>> guard = TerminateOnNaN()
    >>> guard.set_model(net)
    >>> guard.on_epoch_begin(2)
    >>> guard.on_train_batch_end(16, {"loss": float("nan")})
    Epoch 3, batch 17: loss is nan, terminating training
    >>> net.stop_training, guard.stopped_at
    (True, (2, 16))
    """

    def __init__(self) -> None:
        super().__init__()
        self._epoch = 0
        self.stopped_at: tuple[int, int | None] | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.stopped_at = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def _check(self, batch: int | None, logs: dict | None) -> None:
        loss = as_float((logs or {}).get("loss"))
        if loss is None or math.isfinite(loss) or self.stopped_at is not None:
            return
        where = f"Epoch {self._epoch + 1}" + ("" if batch is None else f", batch {batch + 1}")
        print(f"{where}: loss is {loss}, terminating training")
        self.stopped_at = (self._epoch, batch)
        self.model.stop_training = True

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._check(batch, logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        self._check(None, logs)
