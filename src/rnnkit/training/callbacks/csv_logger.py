"""CSVLogger: one CSV row of logs per epoch, on disk as it goes."""
from __future__ import annotations

import csv
import io
import numbers
import os
import warnings
from typing import Any

from ..._io import append_text
from ..._validation import check_bool
from ...errors import ConfigError
from .base import Callback, as_float, check_path, drop_rows_from_epoch

__all__ = ["CSVLogger"]


class CSVLogger(Callback):
    """Write one CSV row per epoch: an ``epoch`` column (counted from 0, as Keras does) then the logs.

    The columns after ``epoch`` are the first epoch's log names, sorted; a later
    epoch missing one writes ``NA``, and names that appear later are left out
    (with a warning).  With ``append=True`` rows go after an existing file's, under
    its header.  Each row reaches the file as the epoch ends, so it can be watched
    live; a row the disk refuses (full) is not left half written, and fit stops
    with a :class:`~rnnkit.errors.WriteError` naming the file and the free space.
    A fit resumed from a checkpoint (``fit(resume_from=...)``) first drops the rows
    of the epochs the checkpoint does not hold (logged before the run was killed;
    they are trained and logged again), so the file has one row per epoch.

    Args:
        filename: the CSV file (missing directories are created).
        separator: the one-character field separator.
        append: keep an existing file's rows and add to them; otherwise overwrite.

    >>> import os, pathlib, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> logger = CSVLogger(path)
    >>> logger.on_train_begin()
    >>> logger.on_epoch_end(0, {"val_loss": 0.5, "loss": 0.75})
    >>> logger.on_epoch_end(1, {"val_loss": 0.25, "loss": 0.5})
    >>> logger.on_train_end()
    >>> print(pathlib.Path(path).read_text(), end="")
    epoch,loss,val_loss
    0,0.75,0.5
    1,0.5,0.25
    """

    writes = True  # rank 0 only under data-parallel training

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False) -> None:
        super().__init__()
        owner = "CSVLogger"
        if not isinstance(separator, str) or len(separator) != 1 or separator in "\r\n\"":
            raise ConfigError(f"{owner}: `separator` must be one character such as ',' or '\\t', got {separator!r}")
        self.filename = check_path(owner, "filename", filename)
        self.separator = separator
        self.append = check_bool(owner, "append", append)
        self.keys: list[str] | None = None
        self._started = False
        self._warned: set[str] = set()

    def on_train_begin(self, logs: dict | None = None) -> None:
        directory = os.path.dirname(self.filename)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self.keys = None
        self._warned = set()
        self._needs_header = True
        if self.append and os.path.isfile(self.filename) and os.path.getsize(self.filename) > 0:
            with open(self.filename, newline="", encoding="utf-8", errors="replace") as f:
                header = next(csv.reader(f, delimiter=self.separator), None)
            if header and header[0] == "epoch":
                self.keys = header[1:]
                self._needs_header = False
        if not self.append:
            open(self.filename, "w").close()
        self._started = True

    def set_state(self, state: Any) -> None:
        """Called by a resumed fit: drop the rows of epochs after the checkpoint's (see the class docstring)."""
        done = getattr(self.model, "epochs_done", None)
        if self.append and isinstance(done, int):
            drop_rows_from_epoch(self.filename, done, self.separator)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self._started:
            self.on_train_begin()
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        text = io.StringIO()
        writer = csv.writer(text, delimiter=self.separator, lineterminator="\n")
        if self._needs_header:
            writer.writerow(["epoch", *self.keys])
        extra = [k for k in logs if k not in self.keys and k not in self._warned]
        if extra:
            self._warned.update(extra)
            warnings.warn(
                f"CSVLogger: {', '.join(map(repr, extra))} first appeared after the header of "
                f"{self.filename!r} was written and is not logged; start a new file to record it",
                RuntimeWarning,
                stacklevel=2,
            )
        writer.writerow([epoch, *(_csv_value(logs[k]) if k in logs else "NA" for k in self.keys)])
        append_text(self.filename, text.getvalue())  # the row whole, or nothing
        self._needs_header = False

    def on_train_end(self, logs: dict | None = None) -> None:
        self._started = False

    def get_config(self) -> dict:
        return {"filename": self.filename, "separator": self.separator, "append": self.append}


def _csv_value(value: Any) -> Any:
    number = as_float(value)
    if number is not None:
        if isinstance(value, numbers.Integral):
            return int(value)
        return repr(number)
    return value
