"""TensorBoard: write the logs as TensorBoard scalars through the tensorboard package's writer."""
from __future__ import annotations

import os

from ..._validation import check_choice, check_positive_int
from ..tensorboard import EventFileWriter, require_tensorboard
from .base import Callback, as_float, check_path

__all__ = ["TensorBoard"]


class TensorBoard(Callback):
    """Write the logs as TensorBoard scalars (needs the ``tensorboard`` package: ``pip install 'rnnkit[tensorboard]'``).

    As in Keras, training values go to ``<log_dir>/train`` and validation values
    (``val_*``, with the prefix removed) to ``<log_dir>/validation``, tagged
    ``epoch_<name>`` with the epoch (from 0) as step; with ``update_freq`` set to
    ``'batch'`` or an int N, every N-th training batch's logs are also written to
    ``train`` as ``batch_<name>`` against the count of batches seen.
    Run ``tensorboard --logdir <log_dir>`` to watch.

    Args:
        log_dir: the folder of this run's event files.
        update_freq: ``'epoch'``, ``'batch'`` (every batch) or a positive int.

    >>> import os, tempfile
    >>> log_dir = tempfile.mkdtemp()
    >>> tb = TensorBoard(log_dir)
    >>> tb.on_train_begin()
    >>> tb.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.6})
    >>> tb.on_train_end()
    >>> sorted(os.listdir(log_dir))
    ['train', 'validation']
    """

    writes = True  # rank 0 only under data-parallel training

    def __init__(self, log_dir: str | os.PathLike = "logs", update_freq: str | int = "epoch") -> None:
        super().__init__()
        owner = "TensorBoard"
        require_tensorboard(owner)
        self.log_dir = check_path(owner, "log_dir", log_dir)
        if isinstance(update_freq, str):
            check_choice(owner, "update_freq", update_freq, ("epoch", "batch"))
        else:
            check_positive_int(owner, "update_freq", update_freq)
        self.update_freq = update_freq
        self._every = None if update_freq == "epoch" else (1 if update_freq == "batch" else int(update_freq))
        self._writers: dict[str, EventFileWriter] = {}
        self._batches_seen = 0

    def _writer(self, split: str) -> EventFileWriter:
        writer = self._writers.get(split)
        if writer is None:
            writer = self._writers[split] = EventFileWriter(os.path.join(self.log_dir, split))
        return writer

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._close()
        self._batches_seen = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._batches_seen += 1
        if self._every is None or self._batches_seen % self._every:
            return
        writer = self._writer("train")
        for key, value in (logs or {}).items():
            number = as_float(value)
            if number is not None:
                writer.add_scalar(f"batch_{key}", number, step=self._batches_seen)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for key, value in (logs or {}).items():
            number = as_float(value)
            if number is None:
                continue
            split, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            self._writer(split).add_scalar(f"epoch_{name}", number, step=epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        self._close()

    def _close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def get_config(self) -> dict:
        return {"log_dir": self.log_dir, "update_freq": self.update_freq}
