"""ProgbarLogger: fit's progress display as a callback (Keras' verbose=1 live bar, verbose=2 one line per epoch)."""
from __future__ import annotations

import sys
from typing import TextIO

from ..progress import ProgressBar
from .base import Callback, check_verbose

__all__ = ["ProgbarLogger"]


class ProgbarLogger(Callback):
    """Print ``Epoch i/N`` and the epoch's progress; ``fit`` adds one for ``verbose`` 1 or 2.

    Args:
        verbose: 1 redraws a bar with the running logs after each batch, 2 prints one
            line at the end of each epoch; ``None`` takes fit's ``verbose``.
        stream: where to print (``sys.stdout`` at the time of printing by default).

    The header of an epoch is printed when its first batch starts (after every
    callback's ``on_epoch_begin``), the epoch's line when it ends (before the
    other callbacks' ``on_epoch_end``): ``fit`` puts it first in the list.

    >>> import io
    >>> out = io.StringIO()
    >>> bar = ProgbarLogger(stream=out)
    >>> bar.set_params({"epochs": 2, "steps": 3, "verbose": 2})
    >>> bar.on_train_begin()
    >>> bar.on_epoch_begin(0)
    >>> for step in range(3):
    ...     bar.on_train_batch_begin(step); bar.on_train_batch_end(step, {"loss": 0.5})
    >>> bar.on_epoch_end(0, {"loss": 0.25})
    >>> print(out.getvalue().replace("0s", "Ns"), end="")
    Epoch 1/2
    3/3 [==============================] Ns - loss: 0.25
    """

    writes = True  # rank 0 only under data-parallel training

    def __init__(self, verbose: int | None = None, stream: TextIO | None = None) -> None:
        super().__init__()
        self.verbose = None if verbose is None else check_verbose("ProgbarLogger", verbose)
        self.stream = stream
        self._bar: ProgressBar | None = None
        self._header: str | None = None

    def _out(self) -> TextIO:
        return self.stream or sys.stdout

    def _level(self) -> int:
        return self.params.get("verbose", 1) if self.verbose is None else self.verbose

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if not self._level():
            return
        self._header = f"Epoch {epoch + 1}/{self.params.get('epochs', '?')}"
        self._bar = ProgressBar(self.params.get("steps"), self._level(), stream=self._out())

    def _print_header(self) -> None:
        if self._header is not None:
            print(self._header, file=self._out())
            self._header = None

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._print_header()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._bar is not None:
            self._bar.update(batch + 1, logs or {})

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._print_header()
        if self._bar is not None:
            self._bar.finish(dict(logs or {}))

    def on_train_end(self, logs: dict | None = None) -> None:
        self._print_header()  # an epoch that found no batch still says it began
        self._bar = None
