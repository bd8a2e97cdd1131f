"""LearningRateScheduler: set the learning rate at the start of each epoch from a function of the epoch."""
from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Mapping

from ...errors import ConfigError
from .base import Callback, as_float, callable_config, check_verbose, param_groups

__all__ = ["LearningRateScheduler"]


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to ``schedule(epoch, lr)``.

    Args:
        schedule: a function ``(epoch, lr) -> new_lr`` with ``epoch`` counted from 0
            and ``lr`` the current rate of the first param group; a one-argument
            ``schedule(epoch)`` is accepted too.  The result is set on every param group
            (times its ``lr_scale`` where it has one: :func:`~rnnkit.training.optimizers.discriminative_groups`).
        verbose: 1 prints each change.

    >>> import torch
    >>> net = torch.nn.Linear(1, 1)
    >>> net.optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    >>> sched = LearningRateScheduler(lambda epoch, lr: lr if epoch < 2 else lr / 2)
    >>> sched.set_model(net)
    >>> for epoch in range(4):
    ...     sched.on_epoch_begin(epoch)
    ...     print(epoch, net.optimizer.param_groups[0]["lr"])
    0 0.1
    1 0.1
    2 0.05
    3 0.025
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        super().__init__()
        owner = "LearningRateScheduler"
        if not callable(schedule):
            raise ConfigError(f"{owner}: `schedule` must be a function (epoch, lr) -> new lr, got {schedule!r}")
        self.schedule = schedule
        self.verbose = check_verbose(owner, verbose)
        self._takes_lr = _accepts_two_args(schedule)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        groups = param_groups("LearningRateScheduler", self.model)
        old = float(groups[0]["lr"])
        new = self.schedule(epoch, old) if self._takes_lr else self.schedule(epoch)
        value = as_float(new)
        if value is None or not math.isfinite(value) or value < 0:
            raise ConfigError(
                f"LearningRateScheduler: schedule({epoch}, {old}) returned {new!r}; it must return a finite "
                "number >= 0, the new learning rate"
            )
        for group in groups:  # a discriminative group (optimizers.discriminative_groups) keeps its share
            group["lr"] = value * group.get("lr_scale", 1.0)
        if self.verbose and value != old:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {value:.6g}")

    def get_config(self) -> dict:
        return {"schedule": callable_config(self.schedule), "verbose": self.verbose}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "LearningRateScheduler":
        """Not possible: the schedule function is stored by name only; build it again with the function."""
        name = (config.get("schedule") or {}).get("callable", "?") if isinstance(config.get("schedule"), dict) else "?"
        raise ConfigError(
            f"LearningRateScheduler.from_config: the schedule {name!r} was stored by name only and cannot be "
            "restored; create LearningRateScheduler(your_function) again"
        )


def _accepts_two_args(fn: Callable) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return True
    positional = 0
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            return True
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional >= 2
