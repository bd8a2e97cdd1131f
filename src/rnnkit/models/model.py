"""The Model base class: a torch.nn.Module with Keras' compile / fit / evaluate / predict.

A model is any :class:`Model` subclass with a ``forward`` (as in PyTorch), or a
:class:`~rnnkit.models.Sequential`.  ``compile`` picks the optimizer, loss and
metrics by Keras name; ``fit`` runs the training loop with callbacks, validation,
gradient clipping and a progress bar; the model stays a plain ``nn.Module`` that
can also be dropped into a hand-written loop.

How the mask reaches the loss
-----------------------------
``fit``, ``evaluate`` and the train step call :meth:`Model.forward_with_mask`,
which returns ``(outputs, mask)``: the outputs and the ``(batch, time)`` bool mask
of their valid steps (None: every step counts).  The loss and the metrics then
average over valid steps only.  The base class returns ``(self(x), None)``;
:class:`~rnnkit.models.Sequential` threads the mask through its layers'
``compute_mask`` (an ``Embedding(mask_zero=True)`` or ``Masking`` starts it,
``return_sequences`` layers pass it on); a subclassed model whose output is
masked overrides ``forward_with_mask``.  Nothing is attached to tensors.
"""
from __future__ import annotations

import contextlib
import itertools
import math
import os
import warnings
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

import numpy as np
import torch

from .._base_layer import Layer
from .._io import remove_stale_temps
from .._validation import check_positive_int
from ..layers.core import Masking
from ..errors import ConfigError, NotCompiledError, ShapeError
from ..protocols import state_carriers
from ..saving import get_registered_object, model_files, register_serializable
from ..training import distributed as _distributed
from ..training import losses as _losses
from ..training import metrics as _metrics
from ..training import optimizers as _optimizers
from ..training.callbacks import Callback, CallbackList, History, ProgbarLogger
from ..training.ema import moving_average
from ..training.data import ArrayData, as_data, batch_rows, check_finite, iterate_batches, to_device
from ..training.progress import format_logs

__all__ = ["Model", "TrainStep"]


class TrainStep(NamedTuple):
    """The training step ``fit`` just took (``model.last_step``), for callbacks that look inside it."""

    x: torch.Tensor  # the batch's inputs, on the model's device
    y: Any  # its targets
    loss: float  # its loss
    grad_norm: float  # the global gradient norm before clipping


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@register_serializable
class Model(Layer):
    """Base class of rnnkit models: subclass it, write ``forward``, then compile and fit.

    Example:
        >>> import torch
        >>> from rnnkit.layers import LSTM, Dense
        >>> class Regressor(Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.rnn, self.head = LSTM(8), Dense(1)
        ...     def forward(self, x):
        ...         return self.head(self.rnn(x))
        >>> model = Regressor()
        >>> model.compile(optimizer="adam", loss="mse", device="cpu")
        >>> x, y = torch.randn(16, 5, 3), torch.randn(16, 1)
        >>> history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
        >>> sorted(history.history), len(history.epoch)
        (['grad_norm', 'loss', 'lr'], 2)
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> "Model":
        # Model(inputs, outputs) is a functional model, as keras.Model(inputs, outputs) is
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            functional = get_registered_object("Functional")
            return super().__new__(functional)
        return super().__new__(cls)

    accepts_input_shape = False  # a layer's argument in Keras, not a model's

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.stop_training = False
        self.optimizer: torch.optim.Optimizer | None = None
        self.history: History | None = None
        self._compiled: dict[str, Any] | None = None
        #: epochs completed by fit (saved with the model, where fit(resume_from=...) goes on)
        self.epochs_done = 0
        #: while fit runs, the :class:`TrainStep` just taken (read by GradientMonitor); None otherwise
        self.last_step: TrainStep | None = None

    # ------------------------------------------------------------------ compile
    def compile(
        self,
        optimizer: Any = "adam",
        loss: Any = None,
        metrics: Sequence[Any] | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        device: str | torch.device | None = None,
        precision: str | None = None,
    ) -> None:
        """Choose the optimizer, loss and metrics (Keras names or objects) for :meth:`fit`.

        Args:
            optimizer: 'sgd', 'adam', 'adamw', 'rmsprop', 'adagrad' (Keras defaults), an
                ``rnnkit.optimizers`` spec, or a ``torch.optim`` optimizer.
            loss: a name from :mod:`rnnkit.training.losses`, a Loss, or a callable (y_true, y_pred).
            metrics: names ('accuracy' is resolved from the loss and shapes as Keras does) or Metric objects.
            clipnorm: clip the global gradient norm to this value.
            clipvalue: clip each gradient element to [-clipvalue, clipvalue].
            device: 'cuda', 'cpu', ...; CUDA when available by default.
            precision: None (float32) or 'bf16' (bfloat16 autocast, float32 weights).
        """
        if loss is None:
            raise ConfigError(f"{type(self).__name__}.compile: `loss` is required, e.g. loss='mse' or 'sparse_categorical_crossentropy'")
        for name, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise ConfigError(f"{type(self).__name__}.compile: `{name}` must be a positive number or None, got {value!r}")
        if precision not in (None, "float32", "bf16", "bfloat16"):
            raise ConfigError(f"{type(self).__name__}.compile: `precision` must be None, 'float32' or 'bf16', got {precision!r}")
        self.loss = _losses.get(loss)
        self._optimizer_spec = _optimizers.resolve(optimizer)
        self.optimizer = self._optimizer_spec if isinstance(self._optimizer_spec, torch.optim.Optimizer) else None
        self._metric_ids = list(metrics or [])
        self._metrics: list | None = None  # resolved on the first batch
        self.device = torch.device(device) if device is not None else _default_device()
        self.precision = "bf16" if precision in ("bf16", "bfloat16") else None
        self.clipnorm, self.clipvalue = clipnorm, clipvalue
        self._compiled = {
            # a name as given, a spec as its config (its hyper-parameters and use_ema come back with load_model)
            "optimizer": optimizer if isinstance(optimizer, str) else (
                _optimizers.serialize(self._optimizer_spec) if isinstance(self._optimizer_spec, _optimizers.OptimizerSpec)
                else None),
            "loss": loss if isinstance(loss, str) else None,
            "metrics": [m for m in self._metric_ids if isinstance(m, str)],
            "clipnorm": clipnorm,
            "clipvalue": clipvalue,
            "precision": self.precision,
        }

    def _require_compiled(self, what: str) -> None:
        if self._compiled is None:
            raise NotCompiledError(
                f"{type(self).__name__}.{what}: call compile(optimizer=..., loss=...) first"
            )

    # ------------------------------------------------------------------ building
    def _needs_sample(self) -> bool:
        """Whether some layer still has lazy weights, which only a sample batch can create."""
        return any(isinstance(m, Layer) and not m.built for m in self.modules() if m is not self)

    def _prepare(self, x_sample: torch.Tensor | None = None) -> None:
        """Move to the device, create lazy weights from a sample batch, then the optimizer."""
        self.to(self.device)
        if self._needs_sample():
            with torch.no_grad():
                self(to_device(x_sample, self.device))
            for module in self.modules():
                if getattr(module, "stateful", False) and hasattr(module, "reset_states"):
                    module.reset_states()
        self.built = True
        if self.optimizer is None:
            self.optimizer = self._build_optimizer()

    def _build_optimizer(self) -> torch.optim.Optimizer:
        return _optimizers.get(self._optimizer_spec, self.parameters())

    def _prepare_for(self, data: Any, batch_size: int, what: str, *, second_pass: bool = False) -> Iterator[tuple] | None:
        """Build the model for ``data`` without using up any of it.

        Arrays build from their first rows.  An iterable of batches builds from its
        first batch, and the returned iterator yields that batch again before the
        rest, so that it is trained or evaluated on like every other one (a
        generator can be read only once); None means nothing was read.  With
        ``second_pass``, a re-iterable (such as a DataLoader) is read by a pass of
        its own instead, so that the pass that trains starts later (fit's
        ``resume_from`` restores the random generators in between).
        """
        if isinstance(data, ArrayData):
            self._prepare(data.head(batch_size))
            return None
        if not self._needs_sample():
            self._prepare()
            return None
        batches = iterate_batches(data, batch_size, shuffle=False)
        first = next(batches, None)
        if first is None:
            raise ShapeError(f"{what}: x yielded no batches; pass a non-empty iterable of (x, y) batches")
        self._prepare(first[0])
        if second_pass and not isinstance(data, Iterator):
            return None
        return itertools.chain([first], batches)

    def _autocast(self):
        if self.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # ------------------------------------------------------------------ steps
    def forward_with_mask(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The outputs for ``x`` and the mask of their valid steps (None: all count); fit's loss uses it.

        Override it in a subclassed model whose outputs have padded steps:

        >>> import torch
        >>> from rnnkit.layers import Embedding, LSTM, TimeDistributed, Dense
        >>> class Tagger(Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.embed, self.rnn = Embedding(20, 4, mask_zero=True), LSTM(6, return_sequences=True)
        ...         self.head = TimeDistributed(Dense(3))
        ...     def forward_with_mask(self, tokens):
        ...         mask = self.embed.compute_mask(tokens)
        ...         return self.head(self.rnn(self.embed(tokens), mask=mask)), mask
        ...     def forward(self, tokens):
        ...         return self.forward_with_mask(tokens)[0]
        >>> out, mask = Tagger().forward_with_mask(torch.tensor([[5, 6, 0]]))
        >>> out.shape, mask.tolist()
        (torch.Size([1, 3, 3]), [[True, True, False]])
        """
        return self(x), None

    def _loss_value(self, y: torch.Tensor, y_pred: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.loss(y, y_pred, mask=mask)

    def _outputs_and_loss(self, x: Any, y: Any) -> tuple[Any, torch.Tensor | None, torch.Tensor]:
        """One batch's (outputs, their mask, loss): :meth:`forward_with_mask`, then the compiled loss.

        :class:`~rnnkit.models.Sequential` may return None for the outputs when its last
        layer scores the targets alone (:class:`rnnkit.protocols.ScoresTargets`) and no
        metric needs them.
        """
        y_pred, mask = self.forward_with_mask(x)
        return y_pred, mask, self._loss_value(y, y_pred, mask)

    def _update_metrics(self, y: torch.Tensor, y_pred: torch.Tensor, mask: torch.Tensor | None) -> None:
        if self._metrics is None:
            self._metrics = [_metrics.resolve(m, self.loss, y, y_pred) for m in self._metric_ids]
        for metric in self._metrics:
            metric.update_state(y, y_pred.detach(), mask=mask)

    def _train_step(self, x: torch.Tensor, y: torch.Tensor, share: "_distributed.Share | None" = None) -> tuple[float, float]:
        """One optimizer step on ``(x, y)``: (the loss, the global gradient norm before clipping).

        Under data-parallel training ``share`` says which part of the global batch
        this rank holds: the forward goes through DDP (whose backward averages the
        gradients over the ranks) and the loss is weighted by this rank's share
        of the batch's units, so the step is the one a single process takes on
        the whole batch.
        """
        ddp = self.__dict__.get("_ddp")
        with self._autocast():
            if ddp is not None:
                y_pred, mask = ddp(x)
                loss = self._loss_value(y, y_pred, mask)
            else:
                y_pred, mask, loss = self._outputs_and_loss(x, y)
        self.optimizer.zero_grad(set_to_none=True)
        if share is not None:
            # units: what this rank's loss is a mean over (valid steps under a mask, else rows); none for a stand-in row
            per_row = mask is None or getattr(self.loss, "per_example", False)
            units = 0.0 if share.rows == 0 else float(share.rows if per_row else mask.sum())
            share.weight = share.world.loss_weight(units, even=share.even and mask is None)
            (loss * share.weight).backward()
        else:
            loss.backward()
        params = [p for group in self.optimizer.param_groups for p in group["params"] if p.grad is not None]
        # the global gradient norm before clipping, logged each epoch; clipped only when asked
        if self.clipnorm:
            norm = torch.nn.utils.clip_grad_norm_(params, self.clipnorm)
        else:
            norm = torch.nn.utils.get_total_norm([p.grad for p in params])
        if self.clipvalue:
            torch.nn.utils.clip_grad_value_(params, self.clipvalue)
        loss_value = float(loss.detach())
        if share is not None and not math.isfinite(float(norm)):
            loss_value = float("nan")  # another rank's loss failed: every rank skips the step alike
        if not math.isfinite(loss_value):
            return loss_value, float(norm)
        self.optimizer.step()
        if share is None or share.rows:
            self._update_metrics(y, y_pred, mask)
        return loss_value, float(norm)

    def _tbptt_step(self, x: torch.Tensor, y: torch.Tensor, k: int, share: "_distributed.Share | None" = None) -> tuple[float, float]:
        """One batch as k-step chunks, every state carrier (:mod:`rnnkit.protocols`) carrying its detached state."""
        if y is None or y.dim() < 2 or y.shape[1] != x.shape[1]:
            raise ConfigError(
                f"fit: tbptt_steps needs a target per time step, shaped (batch, time, ...) like x's {tuple(x.shape[:2])}, "
                f"got {None if y is None else tuple(y.shape)}"
            )
        with contextlib.ExitStack() as stack:  # the state is carried through this batch's chunks only
            carriers = list(state_carriers(self))
            for layer in carriers:
                try:
                    stack.enter_context(layer.carry_states())
                except ConfigError as exc:
                    raise ConfigError(f"fit: tbptt_steps cannot be used with {type(layer).__name__} layers ({exc})") from None
            total, norms, chunks = 0.0, 0.0, 0
            for start in range(0, x.shape[1], k):
                loss_value, norm = self._train_step(x[:, start : start + k], y[:, start : start + k], share)
                if not math.isfinite(loss_value):
                    return loss_value, norm
                for layer in carriers:
                    layer.detach_states()
                steps = min(k, x.shape[1] - start)
                total, norms, chunks = total + loss_value * steps, norms + norm, chunks + 1
        return total / x.shape[1], norms / chunks

    def _metric_logs(self, prefix: str = "", world: "_distributed.World | None" = None) -> dict[str, float]:
        """The metrics' results; with ``world``, over every rank's batches (their running sums added up)."""
        metrics = self._metrics or []
        if world is None or not metrics:
            return {prefix + m.name: m.result() for m in metrics}
        sums = world.sum([float(v or 0.0) for m in metrics for v in (getattr(m, "_total", None),
                                                                      getattr(m, "_count", None))])
        logs = {}
        for i, m in enumerate(metrics):
            if not hasattr(m, "_total"):  # a metric without running sums: this rank's figure
                logs[prefix + m.name] = m.result()
                continue
            kept = m._total, m._count
            m._total, m._count = torch.tensor(sums[2 * i], dtype=torch.float64), sums[2 * i + 1]
            try:
                logs[prefix + m.name] = m.result()
            finally:
                m._total, m._count = kept
        return logs

    def _reset_metrics(self) -> None:
        for m in self._metrics or []:
            m.reset_state()

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        x: Any,
        y: Any = None,
        batch_size: int = 32,
        epochs: int = 1,
        verbose: int = 1,
        callbacks: Iterable[Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        tbptt_steps: int | None = None,
        resume_from: str | None = None,
        diagnostics: Any = None,
        validation_freq: int = 1,
    ) -> History:
        """Train for ``epochs`` epochs; returns a :class:`~rnnkit.training.callbacks.History`.

        ``x``/``y``: NumPy arrays or tensors, or (with ``y=None``) any iterable of
        ``(x, y)`` batches such as a DataLoader.  A generator is read only once: each
        epoch goes on from where the last one stopped, so give ``steps_per_epoch``
        (or a re-iterable) to train on it for several epochs; an epoch that finds it
        empty stops training with a warning.  ``validation_split`` takes the last
        fraction of the arrays (before shuffling), as Keras does.  Logs per epoch:
        ``loss``, the metrics, ``val_*``, ``lr`` and ``grad_norm`` (mean global
        gradient norm before clipping).  A NaN or an infinity in the arrays (or in
        a batch of an iterable) is refused before training, naming its place
        (sample, step, feature); integer inputs such as token ids are not looked
        at.  A NaN or infinite loss stops training with a warning naming the epoch,
        the step and the last checkpoint written; the weights are not updated by
        that step, and the epoch it cut short is not counted, logged or saved.

        ``tbptt_steps=k``: truncated backpropagation through time.  Each batch's
        sequences (and per-step targets) are cut into k-step chunks, one optimizer
        step per chunk, and every recurrent layer carries its detached state from
        one chunk to the next (and from batch to batch if it is ``stateful``).

        ``resume_from=path``: a file written by :meth:`save` (e.g. by
        ``ModelCheckpoint(save_weights_only=False)``): weights, optimizer state,
        completed epochs and the random generators are restored and training
        goes on from there, ending as an uninterrupted run would (a run killed
        at any moment, even while writing the checkpoint, resumes exactly: the
        file is the old one or the new one, never a part).  Temporary files that
        killed saves of that file left beside it are removed.

        Under ``torchrun`` (or in a process group the caller initialised), fit
        trains data-parallel with no change to the code: ``batch_size`` is the
        global batch, each of N processes takes ``batch_size / N`` rows of every
        batch, DDP averages the gradients, and the run follows the 1-process run
        with the same seed step for step; only rank 0 runs the callbacks that
        write or print (:mod:`rnnkit.training.distributed`).

        ``validation_freq=N``: validate only after every N-th epoch (epochs N, 2N, ...,
        counted from 1 as Keras does); the other epochs log no ``val_*`` values.

        ``diagnostics=N``: after the first training step and every N-th one, record
        each recurrent layer's gradient norm and gradient reach
        (:class:`rnnkit.diagnostics.GradientMonitor`; about 1% of the training time
        at N = 100); the rows are in ``history.diagnostics``.  Pass a
        ``GradientMonitor(N, path="diagnostics.csv")`` instead to also write them to
        a CSV file.
        """
        self._require_compiled("fit")
        monitor = self._diagnostics_monitor(diagnostics)
        check_positive_int("fit", "validation_freq", validation_freq)
        data, val = self._fit_inputs(x, y, batch_size, epochs, validation_split, validation_data, tbptt_steps)
        world = _distributed.current(self.device)  # under torchrun: this rank among the training processes
        sampler = _distributed.distributed_sampler(data)  # a DataLoader's DistributedSampler: set_epoch each epoch
        if world is not None:
            if _distributed.distributed_sampler(val) is not None:
                raise ConfigError("fit: validation_data reads a DistributedSampler, one process's share; pass the "
                                  "whole validation set: fit shares every batch among the processes itself")
            if sampler is None:
                world.check_batch_size(batch_size)
        # the first epoch's batches, when building the model had to read one of them (an iterable of batches)
        pending = self._prepare_for(data, batch_size, "fit", second_pass=resume_from is not None)
        saved_callbacks: list[dict[str, Any]] = []
        if resume_from is not None:
            initial_epoch, saved_callbacks = model_files.restore_training_state(self, resume_from)
            self.epochs_done = initial_epoch  # also when no epoch is left to train
            if world is None or world.rank == 0:  # the temporary files of saves of that file that a kill cut short
                remove_stale_temps(os.path.dirname(os.path.abspath(resume_from)), os.path.basename(resume_from))
        if world is not None:  # before any collective of training: a difference is an error, not a hang
            world.check_same({"batch_size": batch_size, "epochs": epochs, "initial_epoch": initial_epoch,
                              "tbptt_steps": tbptt_steps, "steps_per_epoch": steps_per_epoch, "shuffle": shuffle,
                              "examples": len(data) if hasattr(data, "__len__") else None,
                              "validation": None if val is None else (len(val) if hasattr(val, "__len__") else "given"),
                              "validation_freq": validation_freq,
                              "resume_from": resume_from is not None, "model": type(self).__name__,
                              "parameters": [tuple(p.shape) for p in self.parameters()]})
            self.__dict__["_ddp"] = _distributed.wrap(self, self.device)  # outside the module tree: no cycle
        if isinstance(val, Iterator) and epochs - initial_epoch > 1:
            raise ConfigError(
                "fit: validation_data is a generator or iterator, which the first epoch's validation would use up; "
                "pass a re-iterable such as a DataLoader, or arrays as (x, y)"
            )
        self.history = History()
        user_callbacks = list(callbacks or []) + ([monitor] if monitor is not None else [])
        cbs = self._fit_callbacks(user_callbacks, verbose, epochs, self._epoch_steps(data, batch_size, steps_per_epoch),
                                  rank=world.rank if world is not None else 0)
        self.stop_training = False
        self._active_callbacks = user_callbacks  # their progress is saved with model.save()
        cbs.on_train_begin()
        # on_train_begin resets the callbacks; a resumed run then takes up their saved progress: each callback
        # the next saved state of its class (so a callback added or left out does not shift the others')
        for cb in user_callbacks:
            saved = next((s for s in saved_callbacks if s["class"] == type(cb).__name__), None)
            if saved is not None:
                saved_callbacks.remove(saved)
                cb.set_state(saved["state"])
        logs: dict[str, float] = {}
        try:
            for epoch in range(initial_epoch, epochs):
                cbs.on_epoch_begin(epoch)
                if sampler is not None:
                    sampler.set_epoch(epoch)
                # shuffling draws from torch's global generator, whose state checkpoints keep
                batches = pending if pending is not None else iterate_batches(data, batch_size, shuffle)
                batches = self._checked_batches(data, batches, f"fit, epoch {epoch + 1}")
                pending = None
                if steps_per_epoch:  # islice reads no batch beyond the last one taken: a generator goes on from there
                    batches = itertools.islice(batches, steps_per_epoch)
                train_logs, read = self._train_epoch(batches, cbs, epoch, tbptt_steps, world, sharded=sampler is None)
                if not read:
                    self._ran_out_of_data(epoch, epochs, first=epoch == initial_epoch)
                if train_logs is not None:
                    validate = val is not None and (epoch + 1) % validation_freq == 0
                    logs = self._epoch_logs(train_logs, val if validate else None, batch_size, cbs, world)
                    self.epochs_done = epoch + 1
                    cbs.on_epoch_end(epoch, logs)
                if world is not None:  # rank 0 may be writing a checkpoint; a stop on any rank stops them all
                    world.barrier()
                    self.stop_training = world.sum([float(self.stop_training)])[0] > 0
                if self.stop_training:
                    break
            average = moving_average(self.optimizer)
            if average is not None and self.epochs_done > initial_epoch:
                average.finalize()  # use_ema: training ends on the averaged weights (Keras' finalize_variable_values)
            cbs.on_train_end(logs)
            if world is not None:
                world.barrier()
        finally:
            self.__dict__.pop("_ddp", None)
        self._active_callbacks = []
        self.last_step = None
        if monitor is not None:
            self.history.diagnostics = monitor.rows
        return self.history

    @staticmethod
    def _diagnostics_monitor(diagnostics: Any) -> Any:
        """fit's ``diagnostics``: None, or the GradientMonitor it asks for."""
        if diagnostics is None:
            return None
        from ..diagnostics import GradientMonitor

        if isinstance(diagnostics, GradientMonitor):
            return diagnostics
        if isinstance(diagnostics, bool) or not isinstance(diagnostics, int) or diagnostics < 1:
            raise ConfigError(f"fit: `diagnostics` must be a number of steps >= 1 (e.g. diagnostics=100) or a "
                              f"GradientMonitor, got {diagnostics!r}")
        return GradientMonitor(diagnostics)

    # ------------------------------------------------------------------ fit's parts
    def _fit_inputs(self, x: Any, y: Any, batch_size: int, epochs: int, validation_split: float,
                    validation_data: Any, tbptt_steps: int | None) -> tuple[Any, Any]:
        """Check fit's numbers; the training data and the validation data (or None)."""
        check_positive_int("fit", "batch_size", batch_size)
        check_positive_int("fit", "epochs", epochs)
        check_positive_int("fit", "tbptt_steps", tbptt_steps, allow_none=True)
        data = self._checked_data(as_data(x, y, "fit"), "fit")
        if validation_split:
            if not isinstance(data, ArrayData):
                raise ConfigError("fit: validation_split needs arrays or tensors; with an iterable, pass validation_data")
            return data.split(validation_split)
        val = None if validation_data is None else self._checked_data(_validation(validation_data), "fit: validation_data")
        return data, val

    @staticmethod
    def _epoch_steps(data: Any, batch_size: int, steps_per_epoch: int | None) -> int | None:
        """Batches per epoch for the progress bar (None: unknown)."""
        if isinstance(data, ArrayData):
            steps = len(range(0, len(data), batch_size))
        else:  # a sized iterable of batches (a DataLoader, an LMStream) gives the progress bar its total
            steps = len(data) if hasattr(data, "__len__") else None
        if steps_per_epoch:
            steps = min(steps, steps_per_epoch) if steps else steps_per_epoch
        return steps

    def _meant_infinities(self) -> tuple[float, ...]:
        """Infinities that are padding, not bad data: the mask values of the model's Masking layers that are infinite."""
        values = {m.mask_value for m in self.modules() if isinstance(m, Masking)}
        return tuple(v for v in values if math.isinf(v))

    def _checked_data(self, data: Any, what: str) -> Any:
        """``data``, once its arrays are known to hold no NaN or infinity (an iterable's batches: as they are read)."""
        if isinstance(data, ArrayData):
            check_finite(data.x, "x", what, allowed=self._meant_infinities())
            check_finite(data.y, "y", what)
        return data

    def _checked_batches(self, data: Any, batches: Iterable[tuple], what: str) -> Iterable[tuple]:
        """The batches of an iterable, each refused with its place if it holds a NaN or an infinity (arrays were
        checked whole by :meth:`_checked_data`)."""
        if isinstance(data, ArrayData):
            return batches
        allowed = self._meant_infinities()

        def checked() -> Iterator[tuple]:
            for number, (xb, yb) in enumerate(batches, 1):
                check_finite(xb, "x", what, batch=number, allowed=allowed)
                check_finite(yb, "y", what, batch=number)
                yield xb, yb

        return checked()

    def _fit_callbacks(self, callbacks: list[Callback], verbose: int, epochs: int, steps: int | None,
                       rank: int = 0) -> CallbackList:
        """The progress display (verbose 1 or 2, unless the user gave one), the user's, then History.

        History comes last, as in Keras, so that it records what the other callbacks
        add to an epoch's logs (a ``val_bleu`` computed by a callback, say): the
        monitor of a run's best epoch must be found in it.

        On a rank other than 0 of data-parallel training, the callbacks that write
        files or print (``Callback.writes``) are left out: rank 0 writes for all.
        """
        progress = [ProgbarLogger()] if verbose and not any(isinstance(cb, ProgbarLogger) for cb in callbacks) else []
        if rank != 0:
            progress, callbacks = [], [cb for cb in callbacks if not getattr(cb, "writes", False)]
        return CallbackList([*progress, *callbacks, self.history], model=self,
                            params={"epochs": epochs, "steps": steps, "verbose": verbose if rank == 0 else 0})

    def _train_epoch(self, batches: Iterable[tuple], cbs: CallbackList, epoch: int, tbptt_steps: int | None,
                     world: "_distributed.World | None" = None, sharded: bool = True) -> tuple[dict[str, float] | None, int]:
        """Train on ``batches``: the epoch's logs (loss, metrics, grad_norm; None if no step counted) and batches read.

        With ``world`` (data-parallel training) each global batch is cut to this
        rank's share (unless ``sharded`` is False: a DistributedSampler's batches
        are a share already), the ranks agree at every step whether all still have
        a batch and whether training stopped, and the logs are summed over them.
        """
        self.train()
        self._reset_metrics()
        total, count, norms, done, read = 0.0, 0.0, 0.0, 0, 0
        if world is None:
            items = ((xb, yb, None) for xb, yb in batches)
        elif sharded:
            items = ((xb, yb, _distributed.Share(world, rows, xb_total, even=xb_total % world.size == 0))
                     for xb, yb, rows, xb_total in world.shard(batches))
        else:
            items = ((xb, yb, _distributed.Share(world, batch_rows(xb), batch_rows(xb) * world.size, even=False))
                     for xb, yb in batches)
        items = iter(items)
        step, diverged = 0, False
        while True:
            if world is None:
                if self.stop_training and step > 0:  # checked before reading: a generator goes on from here
                    break
                item = next(items, None)
                if item is None:
                    break
            else:
                item = next(items, None)
                have, stop = world.agree(item is not None, self.stop_training and step > 0, step)
                if stop:
                    self.stop_training = True
                if stop or not have:
                    break
            xb, yb, share = item
            read += 1
            cbs.on_train_batch_begin(step)
            xb, yb = to_device(xb, self.device), to_device(yb, self.device)
            try:
                with _distributed.own_randomness(world, epoch, step, self.device) if world else contextlib.nullcontext():
                    if tbptt_steps:
                        loss_value, norm = self._tbptt_step(xb, yb, tbptt_steps, share)
                    else:
                        loss_value, norm = self._train_step(xb, yb, share)
            except RuntimeError as exc:  # DDP's all-reduce of the gradients, inside backward, lost a rank
                if world is not None and _distributed.is_failure(exc):
                    raise world.failure(exc) from None
                raise
            self.last_step = TrainStep(xb, yb, loss_value, norm)
            if not math.isfinite(loss_value):
                saved = [cb.last_saved for cb in self._active_callbacks if getattr(cb, "last_saved", None)]
                last = (f"the last good checkpoint is {saved[0]!r}" if len(saved) == 1 else
                        f"the last good checkpoints are {', '.join(map(repr, saved))}" if saved else
                        "no checkpoint had been written")
                warnings.warn(
                    f"fit: the loss became {loss_value} at epoch {epoch + 1}, step {step + 1}; training stopped "
                    f"before that step changed the weights, and the epoch was not counted nor saved; {last} (lower "
                    "the learning rate or clip gradients with clipnorm=, then train again from it)",
                    RuntimeWarning,
                    stacklevel=3,
                )
                self.stop_training = diverged = True
                break
            # the batch's weight in the epoch's loss: its rows; a rank's share counts as its weighted part of them
            n = batch_rows(xb) if share is None else share.total / world.size
            value = loss_value if share is None else loss_value * share.weight
            total, count, norms, done = total + value * n, count + n, norms + norm, done + 1
            cbs.on_train_batch_end(step, {"loss": total / count, **self._metric_logs()})
            step += 1
        if world is not None:
            total, count = world.sum([total, count])
        if not count or diverged:  # an epoch cut short by a non-finite loss ends no epoch: no logs, no checkpoint
            return None, read
        # grad_norm: over the steps taken (their losses are in `count`)
        return {"loss": total / count, **self._metric_logs(world=world), "grad_norm": norms / done}, read

    def _epoch_logs(self, train_logs: dict[str, float], val: Any, batch_size: int, cbs: CallbackList,
                    world: "_distributed.World | None" = None) -> dict[str, float]:
        """The epoch's logs in Keras' order: loss, metrics, val_*, lr, grad_norm."""
        grad_norm = train_logs.pop("grad_norm")
        logs = dict(train_logs)
        if val is not None:
            logs.update(self._evaluate_data(val, batch_size, cbs, prefix="val_", world=world))
        logs["lr"] = float(self.optimizer.param_groups[0]["lr"])
        logs["grad_norm"] = grad_norm
        return logs

    def _ran_out_of_data(self, epoch: int, epochs: int, first: bool) -> None:
        if first:
            raise ShapeError("fit: x yielded no batches; pass a non-empty iterable of (x, y) batches")
        warnings.warn(
            f"fit: the input ran out of data at epoch {epoch + 1} of {epochs}, which got no batch; training "
            "stopped there (a generator can be read only once: pass a re-iterable such as a DataLoader, "
            "or set steps_per_epoch to the batches one epoch should take)",
            RuntimeWarning,
            stacklevel=3,
        )
        self.stop_training = True

    # ------------------------------------------------------------------ evaluate / predict
    def _evaluate_data(self, data: Any, batch_size: int, cbs: CallbackList, prefix: str = "",
                       batches: Iterator[tuple] | None = None,
                       world: "_distributed.World | None" = None) -> dict[str, float]:
        """Loss and metrics over ``data`` (or over ``batches``, already read from it, when given).

        With ``world`` (fit's validation under data-parallel training) each rank
        evaluates its share of every batch and the figures are put together as
        one process would compute them: each batch's loss is its ranks' losses
        weighted by their units (rows, or valid steps under a mask).
        """
        self.eval()
        self._reset_metrics()
        cbs.on_test_begin()
        total, count = 0.0, 0
        if batches is None:
            batches = iterate_batches(data, batch_size, shuffle=False)
        batches = self._checked_batches(data, batches, "fit: validation_data" if prefix else "evaluate")
        items = ((xb, yb, None, None) for xb, yb in batches) if world is None else world.shard(batches)
        parts: list[tuple[float, float, int]] = []  # per batch under `world`: (units x loss, units, the batch's rows)
        with torch.no_grad(), self._autocast():
            for step, (xb, yb, rows, global_rows) in enumerate(items):
                cbs.on_test_batch_begin(step)
                xb, yb = to_device(xb, self.device), to_device(yb, self.device)
                y_pred, mask, loss = self._outputs_and_loss(xb, yb)
                loss = float(loss)
                if world is None:
                    n = batch_rows(xb)
                    total, count = total + loss * n, count + n
                    self._update_metrics(yb, y_pred, mask)
                    cbs.on_test_batch_end(step, {"loss": total / count})
                    continue
                per_row = mask is None or getattr(self.loss, "per_example", False)
                units = 0.0 if rows == 0 else float(rows if per_row else mask.sum())
                parts.append((units * loss if units else 0.0, units, global_rows))
                if rows:
                    self._update_metrics(yb, y_pred, mask)
                cbs.on_test_batch_end(step, {"loss": loss})
        if world is not None and parts:
            sums = world.sum([v for weighted, units, _ in parts for v in (weighted, units)])
            for b, (_, _, global_rows) in enumerate(parts):
                units = sums[2 * b + 1]
                total += (sums[2 * b] / units if units else 0.0) * global_rows
                count += global_rows
        if not count:
            what = "fit: validation_data" if prefix else "evaluate: x"
            raise ShapeError(f"{what} yielded no batches; pass a non-empty iterable of (x, y) batches")
        logs = {prefix + "loss": total / count, **self._metric_logs(prefix, world=world)}
        cbs.on_test_end(logs)
        return logs

    def evaluate(self, x: Any, y: Any = None, batch_size: int = 32, verbose: int = 0,
                 callbacks: Iterable[Callback] | None = None, return_dict: bool = False) -> Any:
        """Loss and metrics over ``x``/``y``: a float, ``[loss, *metrics]``, or a dict with ``return_dict``."""
        self._require_compiled("evaluate")
        data = self._checked_data(as_data(x, y, "evaluate"), "evaluate")
        batches = self._prepare_for(data, batch_size, "evaluate")
        logs = self._evaluate_data(data, batch_size, CallbackList(callbacks, model=self), batches=batches)
        if verbose:
            print(format_logs(logs))
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x: Any, batch_size: int = 32, verbose: int = 0, callbacks: Iterable[Callback] | None = None) -> Any:
        """Outputs for ``x`` in batches, as a NumPy array (concatenated along the batch axis).

        A model with several outputs returns them as a list of arrays (a dict for
        a functional model whose outputs were given as a dict), as Keras does.
        """
        device = getattr(self, "device", None) or next(self.parameters(), torch.empty(0)).device
        data = self._checked_data(as_data(x, None, "predict"), "predict")
        cbs = CallbackList(callbacks, model=self)
        self.eval()
        outputs = []
        cbs.on_predict_begin()
        with torch.no_grad():
            batches = self._checked_batches(data, iterate_batches(data, batch_size, shuffle=False), "predict")
            for step, (xb, _) in enumerate(batches):
                cbs.on_predict_batch_begin(step)
                out = self(to_device(xb, device))
                if isinstance(out, dict):
                    outputs.append({k: v.float().cpu() for k, v in out.items()})
                elif isinstance(out, (list, tuple)):
                    outputs.append([v.float().cpu() for v in out])
                else:
                    outputs.append(out.float().cpu())
                cbs.on_predict_batch_end(step, {})
        cbs.on_predict_end()
        first = outputs[0]
        if isinstance(first, dict):
            return {k: torch.cat([o[k] for o in outputs]).numpy() for k in first}
        if isinstance(first, list):
            return [torch.cat([o[i] for o in outputs]).numpy() for i in range(len(first))]
        return torch.cat(outputs).numpy()

    # ------------------------------------------------------------------ Keras weights
    def get_weights(self) -> list:
        """Every layer's weights in Keras' layout, layer after layer (Keras' ``model.get_weights()``).

        For a model with a ``layers`` list (Sequential, functional); a subclassed
        model lists its layers' weights in the order its children were created.
        """
        layers = getattr(self, "layers", None)
        children = list(layers) if layers is not None else [m for m in self.children() if isinstance(m, Layer)]
        return [w for layer in children for w in layer.get_weights()]

    def set_weights(self, weights: Any) -> None:
        """Load weights in the order :meth:`get_weights` gives them."""
        layers = getattr(self, "layers", None)
        children = list(layers) if layers is not None else [m for m in self.children() if isinstance(m, Layer)]
        weights = list(weights)
        start = 0
        for layer in children:
            n = len(layer.get_weights())
            layer.set_weights(weights[start:start + n])
            start += n
        if start != len(weights):
            raise ShapeError(f"{type(self).__name__}.set_weights: the model has {start} weight arrays, got {len(weights)}")

    # ------------------------------------------------------------------ saving
    def get_config(self) -> dict[str, Any]:
        """The architecture, for :meth:`save`; a subclassed model must write its own to be saved whole."""
        if type(self).get_config is Model.get_config:
            raise ConfigError(
                f"{type(self).__name__} is a subclassed model without its own get_config(), so a file cannot "
                "rebuild it; use save_weights(path), and load_weights(path) on a new instance"
            )
        return super().get_config()

    def save(self, path: str) -> None:
        """Write the whole model (weights, architecture, compile settings, optimizer state) to ``path``.

        rnnkit's own format (safetensors and JSON, resumable by ``fit(resume_from=...)``),
        or, for a path ending in ``.keras``, a Keras 3 model file that
        ``keras.models.load_model`` reads (Sequential and functional models).
        """
        model_files.save_model(self, path)

    def save_weights(self, path: str) -> None:
        """Write the weights only to ``path`` (safetensors)."""
        model_files.save_weights(self, path)

    def load_weights(self, path: str) -> None:
        """Load weights written by :meth:`save_weights` or :meth:`save`."""
        model_files.load_weights(self, path)

    # ------------------------------------------------------------------ summary
    def _summary_layers(self):
        return list(self.named_children())

    def summary(self, print_fn=print) -> None:
        """Print a table of layers, output shapes and parameter counts with totals (as Keras)."""
        rows = []
        for name, module in self._summary_layers():
            params = sum(p.numel() for p in module.parameters())
            shape = getattr(module, "_summary_shape", None)
            rows.append((f"{getattr(module, 'name', name)} ({type(module).__name__})", "?" if shape is None else str(shape), params))
        total = sum(p.numel() for p in self.parameters())
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        width = max([len(r[0]) for r in rows] + [20]) + 2
        line = "_" * (width + 40)
        print_fn(f'Model: "{self.name}"')
        print_fn(line)
        print_fn(f"{'Layer (type)':<{width}}{'Output Shape':<26}{'Param #':>12}")
        print_fn("=" * (width + 40))
        for layer, shape, params in rows:
            print_fn(f"{layer:<{width}}{shape:<26}{params:>12,}")
        print_fn("=" * (width + 40))
        print_fn(f"Total params: {total:,}")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {total - trainable:,}")
        print_fn(line)


def _validation(validation_data: Any) -> Any:
    if isinstance(validation_data, (tuple, list)) and len(validation_data) == 2:
        return as_data(validation_data[0], validation_data[1], "fit: validation_data")
    return as_data(validation_data, None, "fit: validation_data")
