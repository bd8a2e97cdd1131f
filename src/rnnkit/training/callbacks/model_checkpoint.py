"""ModelCheckpoint: save the model or its weights every epoch (or N batches), or only when the monitored value improves."""
from __future__ import annotations

import os
from typing import Any, Mapping

from ..._validation import check_bool, check_positive_int, check_real
from ...errors import ConfigError
from .base import check_path, check_verbose
from .monitor import MonitorCallback

__all__ = ["ModelCheckpoint"]


class ModelCheckpoint(MonitorCallback):
    """Save the model (or its weights) after every epoch, or only when the monitored value improves.

    The file name may hold ``str.format`` fields filled from the epoch's logs:
    ``{epoch}`` (counted from 1, as Keras shows it), any logged name such as
    ``{val_loss:.3f}``, and ``{batch}`` (from 1) when saving every N batches.

    It writes where Keras would: at ``filepath`` itself (formatted), the file that
    ``model.save_weights(path)`` (``save_weights_only=True``) or ``model.save(path)``
    writes for that name.  Keras 3 asks for names ending in ``.weights.h5``
    (weights only) or ``.keras`` (whole model); rnnkit takes any name, and
    ``save_weights`` always writes rnnkit's own safetensors format, also under a
    ``.weights.h5`` name (the file is then not HDF5: ``model.load_weights(path)``
    reads it back, Keras itself cannot).  A TensorFlow-style name such as
    ``'ckpt/rnn.ckpt'`` is one file at that very path, with no ``.index`` file
    beside it.

    Args:
        filepath: the file to write, e.g. ``'ckpt/model-{epoch:02d}-{val_loss:.3f}.safetensors'``;
            missing directories are created.
        monitor: the logged value that decides "best".
        verbose: 1 prints a line for each save (and each skipped save with
            ``save_best_only``), 0 is silent.
        save_best_only: save only when ``monitor`` beats the best seen so far
            (a missing value is warned about and nothing is saved).
        save_weights_only: call ``model.save_weights(path)`` instead of ``model.save(path)``.
        mode: ``'min'``, ``'max'``, or ``'auto'`` (max for accuracy/AUC/precision/
            recall/F1-like names, min otherwise).
        save_freq: ``'epoch'``, or an int N to save every N training batches
            (using the running batch logs).
        initial_value_threshold: with ``save_best_only``, the value to beat before
            the first save (Keras' argument; None: any first value is saved).

    Attributes:
        best: the best monitored value seen (``inf`` / ``-inf`` before any).
        last_saved: the path of the latest file written, or ``None``.

    >>> import os, tempfile, torch
    >>> from rnnkit.training.checkpoint import save_file
    >>> net = torch.nn.Linear(2, 1)
    >>> net.save_weights = lambda path: save_file(path, net.state_dict())
    >>> folder = tempfile.mkdtemp()
    >>> ckpt = ModelCheckpoint(os.path.join(folder, "w-{epoch:02d}-{val_loss:.2f}.safetensors"),
    ...                        save_best_only=True, save_weights_only=True)
    >>> ckpt.set_model(net)
    >>> ckpt.on_train_begin()
    >>> for epoch, val_loss in enumerate([0.9, 0.7, 0.8]):
    ...     ckpt.on_epoch_end(epoch, {"loss": 1.0, "val_loss": val_loss})
    >>> sorted(os.listdir(folder))
    ['w-01-0.90.safetensors', 'w-02-0.70.safetensors']
    """

    writes = True  # rank 0 only under data-parallel training

    _state_keys = ("best",)

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False, mode: str = "auto",
                 save_freq: str | int = "epoch", initial_value_threshold: float | None = None) -> None:
        owner = "ModelCheckpoint"
        filepath = check_path(owner, "filepath", filepath, "model-{epoch:02d}.safetensors")
        self.initial_value_threshold = check_real(owner, "initial_value_threshold", initial_value_threshold, allow_none=True)
        super().__init__(monitor, mode)
        self.filepath = filepath
        self.verbose = check_verbose(owner, verbose)
        self.save_best_only = check_bool(owner, "save_best_only", save_best_only)
        self.save_weights_only = check_bool(owner, "save_weights_only", save_weights_only)
        if save_freq != "epoch":
            if isinstance(save_freq, str):
                raise ConfigError(f"{owner}: `save_freq` must be 'epoch' or a positive int of batches, got {save_freq!r}")
            save_freq = check_positive_int(owner, "save_freq", save_freq)
        self.save_freq = save_freq
        self.last_saved: str | None = None
        self._epoch = 0
        self._batches_since_save = 0

    def reset_best(self) -> None:
        super().reset_best()
        if self.initial_value_threshold is not None:
            self.best = self.initial_value_threshold

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._batches_since_save = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._epoch, batch, logs or {})

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    def _format_path(self, epoch: int, batch: int | None, logs: Mapping[str, Any]) -> str:
        fields = dict(logs)
        fields["epoch"] = epoch + 1
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as exc:
            available = ", ".join(sorted(fields))
            raise ConfigError(
                f"ModelCheckpoint: `filepath` {self.filepath!r} names {{{exc.args[0]}}}, which is not in the logs "
                f"(available: {available}); use one of those names"
            ) from None
        except (ValueError, IndexError) as exc:
            raise ConfigError(
                f"ModelCheckpoint: `filepath` {self.filepath!r} cannot be formatted ({exc}); "
                "write fields as {epoch:02d} or {val_loss:.3f} and double literal braces as {{ }}"
            ) from None

    def _save(self, epoch: int, batch: int | None, logs: Mapping[str, Any]) -> None:
        where = f"Epoch {epoch + 1}" + ("" if batch is None else f", batch {batch + 1}")
        if self.save_best_only:
            current = self.get_monitor_value(logs)
            if current is None:
                return
            if not self.is_improvement(current):
                if self.verbose:
                    print(f"{where}: {self.monitor} did not improve from {self.best:.5f}")
                return
            path = self._format_path(epoch, batch, logs)
            if self.verbose:
                print(f"{where}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, saving to {path}")
            self.best = current
        else:
            path = self._format_path(epoch, batch, logs)
            if self.verbose:
                print(f"{where}: saving {'weights' if self.save_weights_only else 'model'} to {path}")
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        self.last_saved = path

    def get_config(self) -> dict:
        return {
            "filepath": self.filepath, "monitor": self.monitor, "verbose": self.verbose,
            "save_best_only": self.save_best_only, "save_weights_only": self.save_weights_only,
            "mode": self.mode, "save_freq": self.save_freq, "initial_value_threshold": self.initial_value_threshold,
        }
