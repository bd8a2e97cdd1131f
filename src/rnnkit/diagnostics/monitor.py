r"""GradientMonitor: gradient norms and the gradient reach of every recurrent layer, recorded while training.

``fit(..., diagnostics=N)`` adds one (``--diagnostics N`` on every app, which
writes ``diagnostics.csv`` into the run folder).  After the first training step
and every ``N``-th one it records a row:

* ``step`` (training batches since fit began, counted from 1), ``epoch`` (from 0),
  ``loss`` (that batch's training loss);
* for each recurrent unit ``L`` (``lstm``, ``bidirectional/forward`` ...):
  ``grad_norm:L``, the norm of the unit's parameter gradients from that training
  step (free: the step's own backward computed them; taken back to before
  ``clipnorm``'s scaling, as fit's ``grad_norm``; ``clipvalue`` is not undone), and ``reach:L``, the gradient reach
  :math:`\|\partial L/\partial h_1\| / \|\partial L/\partial h_T\|` measured by
  :func:`~rnnkit.diagnostics.gradient_flow` on the batch's first ``examples``
  examples, after the step's update.

The columns are fixed by the first row: ``step,epoch,loss`` then the pairs
``grad_norm:L,reach:L`` in the model's module order.  Rows are kept in
:attr:`GradientMonitor.rows` (``fit`` also hands them to ``history.diagnostics``)
and, with ``path``, written to a CSV flushed after every row.
"""
from __future__ import annotations

import csv
import io
import math
import os
import warnings
from typing import Any

import torch

from .._io import append_text
from .._validation import check_positive_int
from ..errors import ConfigError, RnnkitError
from ..training.callbacks import Callback
from ..training.callbacks.base import drop_rows_from_epoch
from ._trace import recurrent_units, take
from .gradient_flow import measure_flow

__all__ = ["GradientMonitor", "read_diagnostics", "diagnostics_columns"]


def diagnostics_columns(names: list[str]) -> list[str]:
    """The CSV header for units ``names``: ``step,epoch,loss`` then ``grad_norm:L,reach:L`` per unit.

    >>> diagnostics_columns(["lstm", "bidirectional/forward"])
    ['step', 'epoch', 'loss', 'grad_norm:lstm', 'reach:lstm', 'grad_norm:bidirectional/forward', 'reach:bidirectional/forward']
    """
    return ["step", "epoch", "loss", *[f"{kind}:{name}" for name in names for kind in ("grad_norm", "reach")]]


class GradientMonitor(Callback):
    """Record per-layer gradient norms and the gradient reach every ``every`` training steps (see the module docstring).

    Args:
        every: record after step 1 and every ``every``-th step.
        path: a CSV file to write the rows to (None: keep them in :attr:`rows` only).
        examples: how many examples of the current batch the reach is measured on.
        append: add to an existing file (a resumed run) instead of starting it anew; a fit resumed from a
            checkpoint first drops the rows of epochs the checkpoint does not hold.

    It reads ``model.last_step`` (x, y, loss and grad_norm of the step just taken),
    which :meth:`rnnkit.Model.fit` sets; the reach uses the model's compiled loss.

    >>> import torch
    >>> from rnnkit import Sequential
    >>> from rnnkit.layers import GRU, Dense
    >>> model = Sequential([GRU(4, input_size=2, name="gru"), Dense(1)])
    >>> model.compile(optimizer="adam", loss="mse", device="cpu")
    >>> history = model.fit(torch.randn(32, 10, 2), torch.randn(32, 1), batch_size=8, epochs=2, verbose=0,
    ...                     diagnostics=3)
    >>> [row["step"] for row in history.diagnostics], sorted(history.diagnostics[0])
    ([1, 3, 6], ['epoch', 'grad_norm:gru', 'loss', 'reach:gru', 'step'])
    """

    writes = True  # rank 0 only under data-parallel training

    _state_keys = ("step",)

    def __init__(self, every: int = 100, path: str | os.PathLike | None = None, *, examples: int = 8,
                 append: bool = False) -> None:
        super().__init__()
        self.every = check_positive_int("GradientMonitor", "every", every)
        self.examples = check_positive_int("GradientMonitor", "examples", examples)
        self.path = None if path is None else os.fspath(path)
        self.append = bool(append)
        self.step = 0
        self.epoch = 0
        #: the rows recorded, dicts keyed by :func:`diagnostics_columns`
        self.rows: list[dict[str, float]] = []
        self._units: list = []
        self._header = False  # whether the file has its header (this fit's first row decides)
        self._warned = False  # a reach that cannot be measured is said once

    def get_config(self) -> dict:
        return {"every": self.every, "path": self.path, "examples": self.examples, "append": self.append}

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._header = False
        self._units = recurrent_units(self.model, "fit(diagnostics=...)")
        self.step, self.rows = 0, []

    def set_state(self, state: Any) -> None:
        """Called by a resumed fit: the step count goes on, and the file's rows of epochs after the checkpoint's
        (recorded before the run was killed; they are trained again) are dropped."""
        super().set_state(state)
        done = getattr(self.model, "epochs_done", None)
        if self.path is not None and self.append and isinstance(done, int):
            drop_rows_from_epoch(self.path, done)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.step += 1
        if self.step == 1 or self.step % self.every == 0:
            self.record()

    def record(self) -> dict[str, float]:
        """Measure now and add a row (called by the hooks; callable by hand inside a training loop)."""
        last = getattr(self.model, "last_step", None)
        if last is None:
            raise ConfigError("GradientMonitor: the model has no `last_step` (x, y, loss, grad_norm) of a training step; "
                              "use it with rnnkit's Model.fit, or set model.last_step in your own loop")
        row: dict[str, float] = {"step": self.step, "epoch": self.epoch, "loss": float(last.loss)}
        # the norms the step's own backward left in .grad, taken back to before clipnorm's scaling
        clipnorm = getattr(self.model, "clipnorm", None)
        scale = min(1.0, clipnorm / (float(last.grad_norm) + 1e-6)) if clipnorm else 1.0
        norms = {u.name: _grad_norm(u.cell) / scale for u in self._units}
        reach = self._reach(last)
        for unit in self._units:
            row[f"grad_norm:{unit.name}"] = norms[unit.name]
            row[f"reach:{unit.name}"] = reach.get(unit.name, math.nan)
        self.rows.append(row)
        if self.path is not None:
            self._write(row)
        return row

    def _reach(self, last: Any) -> dict[str, float]:
        """Each unit's reach on the step's first examples; on the whole batch where a part cannot stand alone (a
        model that trims its padding to the longest row, as Seq2Seq does, against targets cut for the whole batch);
        NaN, with one warning, where neither can be measured: the diagnostics never stop a training run."""
        tries = [(take(last.x, self.examples), take(last.y, self.examples)), (last.x, last.y)]
        for k, (x, y) in enumerate(tries):
            try:
                # only the reach: no dL/dc_t, no comparison with the layers' own paths
                flow = measure_flow(self.model, x, y, cell_state=False, compare=False, owner="fit(diagnostics=...)")
                return {unit.name: flow.reach(unit.name) for unit in self._units}
            except (RnnkitError, RuntimeError) as exc:
                if k == len(tries) - 1:
                    if not self._warned:
                        warnings.warn(f"fit(diagnostics=...): the gradient reach could not be measured, so it is "
                                      f"recorded as NaN: {str(exc).splitlines()[0]}", RuntimeWarning, stacklevel=2)
                        self._warned = True
                    return {}
        return {}

    def _write(self, row: dict[str, float]) -> None:
        """Append the row to the file (whole or not at all), after the header if the file is new."""
        columns = diagnostics_columns([u.name for u in self._units])
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        if not self._header:
            directory = os.path.dirname(self.path)
            if directory:
                os.makedirs(directory, exist_ok=True)
            if not (self.append and os.path.isfile(self.path) and os.path.getsize(self.path) > 0):
                open(self.path, "w").close()
                writer.writerow(columns)
        writer.writerow([_cell(row.get(c, math.nan)) for c in columns])
        append_text(self.path, text.getvalue())
        self._header = True


def _grad_norm(module: torch.nn.Module) -> float:
    """‖∇θ‖₂ over the module's parameters that have a gradient (0 when none has)."""
    grads = [p.grad.detach() for p in module.parameters() if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.sqrt(sum(g.double().pow(2).sum() for g in grads)))


def _cell(value: float) -> Any:
    if isinstance(value, int):
        return value
    return "nan" if not math.isfinite(value) else repr(float(value))


def read_diagnostics(path: str | os.PathLike) -> dict[str, list[float]]:
    """A ``diagnostics.csv`` as columns: ``{'step': [...], 'epoch': [...], 'loss': [...], 'grad_norm:lstm': [...] ...}``.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "diagnostics.csv")
    >>> _ = open(path, "w").write("step,epoch,loss,grad_norm:lstm,reach:lstm\\n1,0,0.5,2.0,nan\\n")
    >>> read_diagnostics(path)["grad_norm:lstm"], read_diagnostics(path)["step"]
    ([2.0], [1])
    """
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0][:3] != ["step", "epoch", "loss"]:
        raise ConfigError(f"read_diagnostics: {os.fspath(path)!r} is not a diagnostics.csv (its header must start with "
                          "step,epoch,loss); it is written by fit(diagnostics=N) or --diagnostics N")
    header, body = rows[0], rows[1:]
    columns: dict[str, list[float]] = {}
    for k, name in enumerate(header):
        values = [float(row[k]) if k < len(row) and row[k] else math.nan for row in body]
        columns[name] = [int(v) for v in values] if name in ("step", "epoch") else values
    return columns
