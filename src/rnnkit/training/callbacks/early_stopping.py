"""EarlyStopping: stop training when the monitored value has stopped improving for ``patience`` epochs."""
from __future__ import annotations

import copy

import torch

from ..._validation import check_bool, check_positive_int, check_real
from .base import check_verbose
from .monitor import MonitorCallback

__all__ = ["EarlyStopping"]


class EarlyStopping(MonitorCallback):
    """Stop training when the monitored value has stopped improving for ``patience`` epochs.

    After each epoch the value is compared with the best so far; an improvement
    must beat it by more than ``min_delta``.  When ``patience`` epochs in a row
    bring none (and it is not the first epoch), ``model.stop_training`` is set.

    Args:
        monitor: the logged value to watch, e.g. ``'val_loss'``.
        min_delta: the smallest change that counts as an improvement (>= 0).
        patience: epochs without improvement tolerated before stopping.
        verbose: 1 prints when training stops and when weights are restored.
        mode: ``'min'``, ``'max'`` or ``'auto'`` (inferred from the name).
        baseline: if set, the patience counter is reset only by values that also
            beat the baseline, so training stops after ``patience`` epochs unless
            it gets past the baseline.
        restore_best_weights: keep an in-memory copy of ``model.state_dict()``
            from the best epoch and load it back when training ends (whether it
            stopped early or ran all epochs); if no epoch was ever monitored,
            nothing is restored.
        start_from_epoch: epochs (counted from 0) before monitoring starts, a warm-up.

    Attributes:
        stopped_epoch: the epoch at which training was stopped (0 if it was not).
        best, best_epoch: the best value seen and its epoch.

    >>> import torch
    >>> net = torch.nn.Linear(1, 1)
    >>> net.stop_training = False
    >>> stopper = EarlyStopping(monitor="val_loss", patience=2)
    >>> stopper.set_model(net)
    >>> stopper.on_train_begin()
    >>> for epoch, val_loss in enumerate([0.5, 0.4, 0.45, 0.41, 0.3]):
    ...     stopper.on_epoch_end(epoch, {"val_loss": val_loss})
    ...     if net.stop_training:
    ...         break
    >>> stopper.stopped_epoch, stopper.best_epoch, stopper.best
    (3, 1, 0.4)
    """

    _state_keys = ("wait", "best", "best_epoch", "stopped_epoch")

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: float | None = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0) -> None:
        owner = "EarlyStopping"
        super().__init__(monitor, mode, min_delta)
        self.patience = check_positive_int(owner, "patience", patience, minimum=0)
        self.verbose = check_verbose(owner, verbose)
        self.baseline = check_real(owner, "baseline", baseline, allow_none=True)
        self.restore_best_weights = check_bool(owner, "restore_best_weights", restore_best_weights)
        self.start_from_epoch = check_positive_int(owner, "start_from_epoch", start_from_epoch, minimum=0)
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.reset_best()
        self.best_epoch = 0
        self.best_weights: dict | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset()

    def _snapshot(self) -> dict:
        return {
            k: (v.detach().clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v))
            for k, v in self.model.state_dict().items()
        }

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch < self.start_from_epoch:
            return
        current = self.get_monitor_value(logs)
        if current is None:
            return
        if self.restore_best_weights and self.best_weights is None:
            # Until some epoch improves, the first monitored weights are the best known.
            self.best_weights = self._snapshot()
            self.best_epoch = epoch
        self.wait += 1
        if self.is_improvement(current):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self._snapshot()
            if self.baseline is None or self.is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping ({self.monitor} did not improve "
                  f"for {self.wait} epochs; best {self.best:.5f} at epoch {self.best_epoch + 1})")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring the weights of epoch {self.best_epoch + 1}, the best for {self.monitor}")
            self.model.load_state_dict(self.best_weights)

    def get_config(self) -> dict:
        return {
            "monitor": self.monitor, "min_delta": self.min_delta, "patience": self.patience,
            "verbose": self.verbose, "mode": self.mode, "baseline": self.baseline,
            "restore_best_weights": self.restore_best_weights, "start_from_epoch": self.start_from_epoch,
        }
