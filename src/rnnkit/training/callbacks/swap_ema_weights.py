"""SwapEMAWeights: validate (and, optionally, checkpoint) with the moving average of the weights."""
from __future__ import annotations

from ...errors import ConfigError
from ..ema import WeightAverage, moving_average
from .base import Callback

__all__ = ["SwapEMAWeights"]


class SwapEMAWeights(Callback):
    """Swap the optimizer's moving average of the weights (``use_ema=True``) in for evaluation, and back after.

    Validation inside ``fit`` (and ``evaluate`` given this callback) then scores the
    averaged weights :math:`\\bar w` (:mod:`rnnkit.training.ema`) instead of the
    last step's.  The swap exchanges the tensors in place, one at a time: the
    model is never held three times.

    Args:
        swap_on_epoch: also swap the average in when an epoch ends and back when the
            next begins, so that the callbacks after this one in the list
            (``ModelCheckpoint``, ``EarlyStopping``) see and save the averaged
            weights.  Default False.

    A checkpoint written while the average is swapped in records that in the
    optimizer's state; when training resumes from it, the next epoch begins with
    the weights swapped back, so the run goes on as if it had not stopped.

    >>> import torch
    >>> from rnnkit.optimizers import SGD
    >>> net = torch.nn.Linear(1, 1, bias=False)
    >>> net.optimizer = SGD(learning_rate=1.0, use_ema=True, ema_momentum=0.5).build(net.parameters())
    >>> _ = torch.nn.init.zeros_(net.weight)
    >>> for _ in range(2):
    ...     net.weight.grad = torch.tensor([[-1.0]]); net.optimizer.step()   # w: 1, 2; average: 1, 1.5
    >>> swap = SwapEMAWeights(); swap.set_model(net); swap.on_train_begin()
    >>> swap.on_test_begin(); net.weight.item()
    1.5
    >>> swap.on_test_end(); net.weight.item()
    2.0
    """

    def __init__(self, swap_on_epoch: bool = False) -> None:
        super().__init__()
        if not isinstance(swap_on_epoch, bool):
            raise ConfigError(f"SwapEMAWeights: `swap_on_epoch` must be True or False, got {swap_on_epoch!r}")
        self.swap_on_epoch = swap_on_epoch
        self._for_test = False

    def _average(self) -> WeightAverage:
        average = moving_average(getattr(self.model, "optimizer", None))
        if average is None:
            raise ConfigError("SwapEMAWeights needs an optimizer that keeps the moving average of the weights; "
                              "compile with e.g. optimizer=rnnkit.optimizers.Adam(use_ema=True)")
        return average

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._average()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        average = self._average()
        if average.swapped:  # swapped in at the last epoch's end (or in the checkpoint training resumed from)
            average.swap()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        average = self._average()
        if self.swap_on_epoch and not average.swapped and average.steps:
            average.swap()

    def on_test_begin(self, logs: dict | None = None) -> None:
        average = self._average()
        self._for_test = not average.swapped and average.steps > 0
        if self._for_test:
            average.swap()

    def on_test_end(self, logs: dict | None = None) -> None:
        if self._for_test:
            self._average().swap()
            self._for_test = False
