"""ReduceLROnPlateau: multiply the learning rate by ``factor`` when the monitored value stops improving."""
from __future__ import annotations

from ..._validation import check_positive_int, check_real
from ...errors import ConfigError
from .base import check_verbose, param_groups
from .monitor import MonitorCallback

__all__ = ["ReduceLROnPlateau"]


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by ``factor`` when the monitored value stops improving.

    After ``patience`` epochs without an improvement larger than ``min_delta``, every
    param group's ``lr`` above ``min_lr`` becomes ``max(lr * factor, min_lr)``.  A
    reduction sets a cooldown counter to ``cooldown``; each later epoch first counts
    it down by one, and while it is above zero the wait counter stays at zero (as in
    Keras: ``cooldown=2`` holds one epoch, and counting resumes in the next).

    Args:
        monitor: the logged value to watch.
        factor: the multiplier, in (0, 1).
        patience: epochs without improvement before a reduction.
        verbose: 1 prints each reduction.
        mode: ``'min'``, ``'max'`` or ``'auto'``.
        min_delta: the smallest change that counts as an improvement (>= 0).
        cooldown: the cooldown counter's start after a reduction (see above).
        min_lr: the floor of the learning rate (>= 0).

    >>> import torch
    >>> net = torch.nn.Linear(1, 1)
    >>> net.optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    >>> plateau = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1)
    >>> plateau.set_model(net)
    >>> plateau.on_train_begin()
    >>> for epoch, loss in enumerate([1.0, 1.0, 1.0]):
    ...     plateau.on_epoch_end(epoch, {"loss": loss})
    ...     print(epoch, net.optimizer.param_groups[0]["lr"])
    0 0.1
    1 0.05
    2 0.025
    """

    _state_keys = ("wait", "best", "cooldown_counter")

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, verbose: int = 0,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0) -> None:
        owner = "ReduceLROnPlateau"
        super().__init__(monitor, mode, min_delta)
        factor = check_real(owner, "factor", factor)
        if not 0.0 < factor < 1.0:
            raise ConfigError(f"{owner}: `factor` must be in (0, 1) to reduce the learning rate, got {factor!r}")
        self.factor = factor
        self.patience = check_positive_int(owner, "patience", patience, minimum=0)
        self.verbose = check_verbose(owner, verbose)
        self.cooldown = check_positive_int(owner, "cooldown", cooldown, minimum=0)
        self.min_lr = check_real(owner, "min_lr", min_lr, minimum=0.0)
        self._reset()

    def _reset(self) -> None:
        self.reset_best()
        self.wait = 0
        self.cooldown_counter = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        current = self.get_monitor_value(logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.is_improvement(current):
            self.best = current
            self.wait = 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait < self.patience:
            return
        reduced = False
        for i, group in enumerate(param_groups("ReduceLROnPlateau", self.model)):
            old = float(group["lr"])
            if old > self.min_lr:
                new = max(old * self.factor, self.min_lr)
                group["lr"] = new
                reduced = True
                if self.verbose:
                    which = "" if i == 0 else f" (param group {i})"
                    print(f"Epoch {epoch + 1}: ReduceLROnPlateau: {self.monitor} has not improved for "
                          f"{self.wait} epochs; learning rate{which} {old:.4g} -> {new:.4g}")
        if reduced:
            self.cooldown_counter = self.cooldown
            self.wait = 0

    def get_config(self) -> dict:
        return {
            "monitor": self.monitor, "factor": self.factor, "patience": self.patience, "verbose": self.verbose,
            "mode": self.mode, "min_delta": self.min_delta, "cooldown": self.cooldown, "min_lr": self.min_lr,
        }
