"""History: the per-epoch logs of a training run (what ``fit`` returns)."""
from __future__ import annotations

from .base import Callback

__all__ = ["History"]


class History(Callback):
    """Record each epoch's logs: ``history[name]`` is the list of values, ``epoch`` the epoch numbers.

    ``fit`` returns one; it is cleared when a new training starts.  With
    ``fit(diagnostics=N)``, ``diagnostics`` holds the rows of gradient norms and
    reach recorded every N steps (:class:`rnnkit.diagnostics.GradientMonitor`).

    >>> h = History()
    >>> h.on_train_begin()
    >>> h.on_epoch_end(0, {"loss": 0.9, "val_loss": 1.1})
    >>> h.on_epoch_end(1, {"loss": 0.7, "val_loss": 1.0})
    >>> h.epoch, h.history
    ([0, 1], {'loss': [0.9, 0.7], 'val_loss': [1.1, 1.0]})
    """

    def __init__(self) -> None:
        super().__init__()
        self.epoch: list[int] = []
        self.history: dict[str, list] = {}
        self.diagnostics: list[dict[str, float]] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.epoch = []
        self.history = {}
        self.diagnostics = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
