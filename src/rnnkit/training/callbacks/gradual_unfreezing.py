"""GradualUnfreezing: train the top layer group first and unfreeze one more group each epoch (ULMFiT)."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from ..._validation import check_positive_int
from ...errors import ConfigError
from .base import Callback

__all__ = ["GradualUnfreezing"]


class GradualUnfreezing(Callback):
    """Freeze every layer group but the top one, then unfreeze one more group from the top every ``every`` epochs.

    Howard & Ruder (2018): fine-tuning all the layers of a pretrained network at
    once lets the new, random top layer's large gradients wreck what the lower
    layers learnt.  Epoch :math:`e` (from 0) trains the top
    :math:`\\min(n, \\lfloor e / \\mathit{every} \\rfloor + 1)` of the :math:`n` groups;
    the others keep ``requires_grad=False``, so the optimizer leaves them as they
    are (no gradient, no step, no weight decay) and backpropagation stops at the
    lowest trainable group.  When training ends every parameter is given back the
    ``requires_grad`` it had before.  Each epoch's logs get ``trainable_groups``.

    Args:
        groups: the layer groups from the top (output) down; each a module or an
            iterable of parameters (the order of
            :func:`~rnnkit.training.optimizers.discriminative_groups`); or a function
            of the model giving them, called when training begins.
        every: epochs between two unfreezings (default 1).

    >>> import torch
    >>> top, bottom = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    >>> unfreeze = GradualUnfreezing([top, bottom])
    >>> unfreeze.on_train_begin(); unfreeze.on_epoch_begin(0)
    >>> top.weight.requires_grad, bottom.weight.requires_grad
    (True, False)
    >>> unfreeze.on_epoch_begin(1); bottom.weight.requires_grad
    True
    """

    def __init__(self, groups: Sequence[Any] | Callable[[Any], Sequence[Any]], every: int = 1) -> None:
        super().__init__()
        self.every = check_positive_int(type(self).__name__, "every", every)
        self._groups = groups
        self.groups: list[list[torch.nn.Parameter]] = [] if callable(groups) else self._resolve(groups)
        self.trainable = len(self.groups)
        self._before: list[list[bool]] | None = None

    def _resolve(self, groups: Sequence[Any]) -> list[list[torch.nn.Parameter]]:
        out = [list(g.parameters() if isinstance(g, torch.nn.Module) else g) for g in groups]
        if not out:
            raise ConfigError(f"{type(self).__name__}: got no layer groups; pass the model's groups from the top down")
        return out

    def _set(self, count: int) -> None:
        """Train the top ``count`` groups, freeze the rest."""
        self.trainable = count
        for k, params in enumerate(self.groups):
            for p, was in zip(params, self._before[k]):
                p.requires_grad_(was and k < count)

    def on_train_begin(self, logs: dict | None = None) -> None:
        if callable(self._groups):
            self.groups = self._resolve(self._groups(self.model))
        self._before = [[p.requires_grad for p in params] for params in self.groups]
        self._set(1)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self._before is None:  # used without on_train_begin (a resumed fit calls both)
            self.on_train_begin()
        self._set(min(len(self.groups), epoch // self.every + 1))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["trainable_groups"] = self.trainable

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._before is not None:
            self._set(len(self.groups))
            self._before = None
