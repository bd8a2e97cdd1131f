"""Training callbacks with Keras semantics: the hooks, History, checkpoints, early stopping, LR control, logs.

The model contract
------------------
Callbacks know no ``Model`` class; the training loop hands them (via
:meth:`Callback.set_model`) any object with:

- ``model.stop_training``: a bool attribute.  The loop sets it to ``False`` when
  training starts and checks it after each epoch (a loop that also checks it after
  each batch lets :class:`TerminateOnNaN` stop in the middle of an epoch);
- ``model.optimizer``: a :class:`torch.optim.Optimizer`; the learning rates are its
  ``param_groups[i]['lr']``;
- ``model.state_dict()`` / ``model.load_state_dict(state)``, as a
  :class:`torch.nn.Module` has them;
- ``model.save(path)`` (the whole model) and ``model.save_weights(path)`` (weights
  only), each writing one file.

The loop's side of the contract
-------------------------------
``logs`` are dicts of floats named as Keras names them: ``'loss'``, the metric
names (``'accuracy'`` ...), ``'val_loss'``, ``'val_<metric>'``, plus ``'lr'`` and
``'grad_norm'`` when the loop adds them.  Epoch and batch numbers passed to the
hooks count from 0 (``ModelCheckpoint`` shows epochs from 1 in file names, as
Keras does).  ``fit`` calls the hooks, through a :class:`CallbackList`, in this
order::

    set_model(model); set_params({'epochs': E, 'steps': S, 'verbose': V, ...})
    on_train_begin()
    for each epoch:
        on_epoch_begin(epoch)
        for each batch: on_train_batch_begin(batch); ...; on_train_batch_end(batch, {'loss': ...})
        if validating:
            on_test_begin()
            for each batch: on_test_batch_begin(batch); on_test_batch_end(batch, {...})
            on_test_end({'loss': ...})
        on_epoch_end(epoch, {'loss': ..., 'val_loss': ...})
        stop if model.stop_training
    on_train_end(last epoch's logs)

``evaluate`` runs the ``on_test_*`` hooks alone and ``predict`` the
``on_predict_*`` ones.  Every callback of a list gets each hook in the list's
order, all sharing the same ``logs`` dict.

>>> import torch
>>> from rnnkit.training.callbacks import CallbackList, EarlyStopping, History
>>> net = torch.nn.Linear(2, 1)                 # a stand-in honouring the contract
>>> net.stop_training = False
>>> net.optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
>>> history, stopper = History(), EarlyStopping(monitor="loss", patience=2)
>>> callbacks = CallbackList([stopper, history], model=net)
>>> callbacks.on_train_begin()
>>> for epoch, loss in enumerate([1.0, 0.5, 0.6, 0.7, 0.4]):
...     callbacks.on_epoch_begin(epoch)
...     callbacks.on_epoch_end(epoch, {"loss": loss})
...     if net.stop_training:
...         break
>>> callbacks.on_train_end()
>>> history.epoch, history.history["loss"]
([0, 1, 2, 3], [1.0, 0.5, 0.6, 0.7])
"""
from __future__ import annotations

import copy
import csv
import inspect
import math
import numbers
import os
import time
import warnings
from typing import Any, Callable, Iterable, Iterator, Mapping

import torch

from .._validation import check_bool, check_choice, check_positive_int
from ..errors import ConfigError
from .tensorboard import EventFileWriter, _as_float

__all__ = [
    "Callback",
    "CallbackList",
    "History",
    "ModelCheckpoint",
    "EarlyStopping",
    "ReduceLROnPlateau",
    "LearningRateScheduler",
    "CSVLogger",
    "TensorBoard",
    "TerminateOnNaN",
    "TimeBudget",
    "LambdaCallback",
]

_HOOKS = (
    "on_train_begin", "on_train_end",
    "on_epoch_begin", "on_epoch_end",
    "on_train_batch_begin", "on_train_batch_end",
    "on_test_begin", "on_test_end",
    "on_test_batch_begin", "on_test_batch_end",
    "on_predict_begin", "on_predict_end",
    "on_predict_batch_begin", "on_predict_batch_end",
)
_EPOCH_OR_BATCH_HOOKS = frozenset(h for h in _HOOKS if "epoch" in h or "batch" in h)


# ----------------------------------------------------------------------------- small checks
def _check_verbose(owner: str, value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    return check_positive_int(owner, "verbose", value, minimum=0)


def _check_real(owner: str, name: str, value: Any, *, minimum: float | None = None,
                allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)) or (
        minimum is not None and float(value) < minimum
    ):
        want = "a finite number" if minimum is None else f"a finite number >= {minimum:g}"
        raise ConfigError(f"{owner}: `{name}` must be {want}, got {value!r} ({type(value).__name__})")
    return float(value)


def _check_monitor(owner: str, monitor: Any) -> str:
    if not isinstance(monitor, str) or not monitor:
        raise ConfigError(
            f"{owner}: `monitor` must be the name of a logged value such as 'val_loss' or 'accuracy', got {monitor!r}"
        )
    return monitor


_MAXIMISED = ("acc", "auc", "precision", "recall", "f1", "fmeasure")


def _resolve_mode(owner: str, mode: Any, monitor: str) -> str:
    """'min' or 'max'; 'auto' maximises accuracy-, AUC-, precision-, recall- and F1-like names."""
    check_choice(owner, "mode", mode, ("auto", "min", "max"))
    if mode != "auto":
        return mode
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if "loss" in name:
        return "min"
    return "max" if any(word in name for word in _MAXIMISED) else "min"


def _improved(mode: str, current: float, reference: float, min_delta: float = 0.0) -> bool:
    """Whether ``current`` beats ``reference`` by more than ``min_delta`` (NaN never does)."""
    if mode == "min":
        return current < reference - min_delta
    return current > reference + min_delta


def _monitor_value(owner: str, monitor: str, logs: Mapping[str, Any] | None) -> float | None:
    """The monitored value as a float, or ``None`` with a one-line warning when it is missing."""
    logs = logs or {}
    if monitor not in logs:
        available = ", ".join(sorted(logs)) or "none"
        hint = "pass validation data to fit() or " if monitor.startswith("val_") else ""
        warnings.warn(
            f"{owner}: monitored value {monitor!r} is not in the logs (available: {available}); "
            f"{hint}set monitor= to one of the available names",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    value = _as_float(logs[monitor])
    if value is None:
        raise ConfigError(f"{owner}: monitored value {monitor!r} must be a number, got {logs[monitor]!r}")
    return value


def _callable_config(fn: Callable | None) -> dict | None:
    if fn is None:
        return None
    module = getattr(fn, "__module__", None) or "?"
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return {"callable": f"{module}.{name}", "restorable": False}


def _param_groups(owner: str, model: Any) -> list[dict]:
    optimizer = getattr(model, "optimizer", None)
    groups = getattr(optimizer, "param_groups", None)
    if not groups:
        raise ConfigError(
            f"{owner}: the model has no optimizer with param_groups (got {optimizer!r}); "
            "compile the model with an optimizer before fit()"
        )
    return groups


# ----------------------------------------------------------------------------- base classes
class Callback:
    """Base class of callbacks: override the hooks you need; each default does nothing.

    ``self.model`` is the model being trained (see the contract in the module
    docstring) and ``self.params`` the dict given by the loop (``epochs``,
    ``steps``, ``verbose`` ...).  As in Keras, the default
    :meth:`on_train_batch_begin`/:meth:`on_train_batch_end` call
    ``on_batch_begin``/``on_batch_end``, so callbacks written for older tutorials work.

    >>> class PrintLoss(Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         print(f"epoch {epoch}: loss {logs['loss']:.2f}")
    >>> PrintLoss().on_epoch_end(0, {"loss": 0.5})
    epoch 0: loss 0.50
    >>> PrintLoss().get_config()
    {}
    """

    #: attributes that make up the callback's progress, saved with training checkpoints
    #: so that fit(resume_from=...) goes on counting where the interrupted run was
    _state_keys: tuple[str, ...] = ()

    def get_state(self) -> dict[str, Any]:
        """The callback's progress (JSON-safe), e.g. EarlyStopping's ``wait`` and ``best``."""
        return {key: getattr(self, key) for key in self._state_keys}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`get_state` returned (keys it does not know are ignored)."""
        for key in self._state_keys:
            if key in state:
                setattr(self, key, state[key])

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict = {}

    def set_model(self, model: Any) -> None:
        """Remember the model the callbacks act on."""
        self.model = model

    def set_params(self, params: Mapping[str, Any] | None) -> None:
        """Remember the loop's parameters (``epochs``, ``steps``, ``verbose`` ...)."""
        self.params = dict(params or {})

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Called once when ``fit`` starts."""

    def on_train_end(self, logs: dict | None = None) -> None:
        """Called once when ``fit`` ends; ``logs`` are the last epoch's."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Called at the start of epoch ``epoch`` (counted from 0)."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Called at the end of epoch ``epoch`` with its training and validation results."""

    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Older Keras name of :meth:`on_train_batch_begin` (which calls it by default)."""

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Older Keras name of :meth:`on_train_batch_end` (which calls it by default)."""

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Called before training batch ``batch`` (counted from 0 in each epoch)."""
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Called after training batch ``batch`` with the running results (``loss`` ...)."""
        self.on_batch_end(batch, logs)

    def on_test_begin(self, logs: dict | None = None) -> None:
        """Called when validation or ``evaluate`` starts."""

    def on_test_end(self, logs: dict | None = None) -> None:
        """Called when validation or ``evaluate`` ends, with its results."""

    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Called before each validation / ``evaluate`` batch."""

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Called after each validation / ``evaluate`` batch."""

    def on_predict_begin(self, logs: dict | None = None) -> None:
        """Called when ``predict`` starts."""

    def on_predict_end(self, logs: dict | None = None) -> None:
        """Called when ``predict`` ends."""

    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Called before each ``predict`` batch."""

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Called after each ``predict`` batch (``logs['outputs']`` may hold its outputs)."""

    def get_config(self) -> dict:
        """The constructor arguments as a JSON-safe dict (``from_config`` rebuilds the callback)."""
        return {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Callback":
        """Rebuild a callback from :meth:`get_config`'s dict."""
        return cls(**dict(config))


class CallbackList:
    """Dispatch every hook to a list of callbacks, in list order.

    Args:
        callbacks: an iterable of :class:`Callback` (or ``None``).
        model: if given, passed to each callback's :meth:`~Callback.set_model`.
        params: if given, passed to each callback's :meth:`~Callback.set_params`.

    ``logs=None`` becomes one fresh ``{}`` shared by all callbacks of the call.

    >>> calls = []
    >>> class Rec(Callback):
    ...     def __init__(self, name):
    ...         super().__init__(); self.name = name
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         calls.append((self.name, epoch))
    >>> cbs = CallbackList([Rec("a"), Rec("b")])
    >>> cbs.on_epoch_end(0, {"loss": 1.0})
    >>> calls
    [('a', 0), ('b', 0)]
    """

    def __init__(self, callbacks: Iterable[Callback] | None = None, *, model: Any = None,
                 params: Mapping[str, Any] | None = None) -> None:
        self.callbacks: list[Callback] = []
        self.model: Any = None
        self.params: dict = {}
        for cb in callbacks or ():
            self.append(cb)
        if model is not None:
            self.set_model(model)
        if params is not None:
            self.set_params(params)

    def append(self, callback: Callback) -> None:
        """Add ``callback`` at the end of the list."""
        if isinstance(callback, type) and issubclass(callback, Callback):
            raise ConfigError(
                f"CallbackList: got the class {callback.__name__}, not an instance; write {callback.__name__}(...)"
            )
        if not isinstance(callback, Callback):
            fix = "; wrap a function in LambdaCallback(on_epoch_end=fn)" if callable(callback) else ""
            raise ConfigError(
                f"CallbackList: every callback must be a rnnkit Callback, got {callback!r} ({type(callback).__name__}){fix}"
            )
        self.callbacks.append(callback)
        if self.model is not None:
            callback.set_model(self.model)
        if self.params:
            callback.set_params(self.params)

    def __iter__(self) -> Iterator[Callback]:
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def set_model(self, model: Any) -> None:
        """Give ``model`` to every callback."""
        self.model = model
        for cb in self.callbacks:
            cb.set_model(model)

    def set_params(self, params: Mapping[str, Any] | None) -> None:
        """Give the loop's ``params`` to every callback."""
        self.params = dict(params or {})
        for cb in self.callbacks:
            cb.set_params(self.params)

    def _call(self, hook: str, *args: Any) -> None:
        *head, logs = args
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            getattr(cb, hook)(*head, logs)

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Dispatch :meth:`Callback.on_train_begin`."""
        self._call("on_train_begin", logs)

    def on_train_end(self, logs: dict | None = None) -> None:
        """Dispatch :meth:`Callback.on_train_end`."""
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Dispatch :meth:`Callback.on_epoch_begin`."""
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Dispatch :meth:`Callback.on_epoch_end`."""
        self._call("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Dispatch :meth:`Callback.on_train_batch_begin`."""
        self._call("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Dispatch :meth:`Callback.on_train_batch_end`."""
        self._call("on_train_batch_end", batch, logs)

    def on_test_begin(self, logs: dict | None = None) -> None:
        """Dispatch :meth:`Callback.on_test_begin`."""
        self._call("on_test_begin", logs)

    def on_test_end(self, logs: dict | None = None) -> None:
        """Dispatch :meth:`Callback.on_test_end`."""
        self._call("on_test_end", logs)

    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Dispatch :meth:`Callback.on_test_batch_begin`."""
        self._call("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Dispatch :meth:`Callback.on_test_batch_end`."""
        self._call("on_test_batch_end", batch, logs)

    def on_predict_begin(self, logs: dict | None = None) -> None:
        """Dispatch :meth:`Callback.on_predict_begin`."""
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs: dict | None = None) -> None:
        """Dispatch :meth:`Callback.on_predict_end`."""
        self._call("on_predict_end", logs)

    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Dispatch :meth:`Callback.on_predict_batch_begin`."""
        self._call("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Dispatch :meth:`Callback.on_predict_batch_end`."""
        self._call("on_predict_batch_end", batch, logs)


# ----------------------------------------------------------------------------- History
class History(Callback):
    """Record each epoch's logs: ``history[name]`` is the list of values, ``epoch`` the epoch numbers.

    ``fit`` returns one; it is cleared when a new training starts.

    >>> h = History()
    >>> h.on_train_begin()
    >>> h.on_epoch_end(0, {"loss": 0.9, "val_loss": 1.1})
    >>> h.on_epoch_end(1, {"loss": 0.7, "val_loss": 1.0})
    >>> h.epoch, h.history
    ([0, 1], {'loss': [0.9, 0.7], 'val_loss': [1.1, 1.0]})
    """

    def __init__(self) -> None:
        super().__init__()
        self.epoch: list[int] = []
        self.history: dict[str, list] = {}

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


# ----------------------------------------------------------------------------- ModelCheckpoint
class ModelCheckpoint(Callback):
    _state_keys = ("best",)

    """Save the model (or its weights) after every epoch, or only when the monitored value improves.

    The file name may hold ``str.format`` fields filled from the epoch's logs:
    ``{epoch}`` (counted from 1, as Keras shows it), any logged name such as
    ``{val_loss:.3f}``, and ``{batch}`` (from 1) when saving every N batches.

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

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False, mode: str = "auto",
                 save_freq: str | int = "epoch") -> None:
        super().__init__()
        owner = "ModelCheckpoint"
        if not isinstance(filepath, (str, os.PathLike)) or not os.fspath(filepath):
            raise ConfigError(
                f"{owner}: `filepath` must be a non-empty str or os.PathLike such as "
                f"'model-{{epoch:02d}}.safetensors', got {filepath!r}"
            )
        self.filepath = os.fsdecode(os.fspath(filepath))
        self.monitor = _check_monitor(owner, monitor)
        self.verbose = _check_verbose(owner, verbose)
        self.save_best_only = check_bool(owner, "save_best_only", save_best_only)
        self.save_weights_only = check_bool(owner, "save_weights_only", save_weights_only)
        self.mode = mode
        self._op = _resolve_mode(owner, mode, self.monitor)
        if save_freq != "epoch":
            if isinstance(save_freq, str):
                raise ConfigError(f"{owner}: `save_freq` must be 'epoch' or a positive int of batches, got {save_freq!r}")
            save_freq = check_positive_int(owner, "save_freq", save_freq)
        self.save_freq = save_freq
        self.best = math.inf if self._op == "min" else -math.inf
        self.last_saved: str | None = None
        self._epoch = 0
        self._batches_since_save = 0

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
            current = _monitor_value("ModelCheckpoint", self.monitor, logs)
            if current is None:
                return
            if not _improved(self._op, current, self.best):
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
            "mode": self.mode, "save_freq": self.save_freq,
        }


# ----------------------------------------------------------------------------- EarlyStopping
class EarlyStopping(Callback):
    _state_keys = ("wait", "best", "best_epoch", "stopped_epoch")

    """Stop training when the monitored value has stopped improving for ``patience`` epochs.

    After each epoch the value is compared with the best so far; an improvement
    must beat it by more than ``min_delta``.  When ``patience`` epochs in a row
    bring none (and it is not the first epoch), ``model.stop_training`` is set.

    Args:
        monitor: the logged value to watch, e.g. ``'val_loss'``.
        min_delta: the smallest change that counts as an improvement (>= 0).
        patience: epochs without improvement tolerated before stopping.
        verbose: 1 prints when training stops and when weights are restored.
        mode: ``'min'``, ``'max'`` or ``'auto'`` (inferred from the name).
        baseline: if set, the patience counter is reset only by values that also
            beat the baseline, so training stops after ``patience`` epochs unless
            it gets past the baseline.
        restore_best_weights: keep an in-memory copy of ``model.state_dict()``
            from the best epoch and load it back when training ends (whether it
            stopped early or ran all epochs); if no epoch was ever monitored,
            nothing is restored.
        start_from_epoch: epochs (counted from 0) before monitoring starts, a warm-up.

    Attributes:
        stopped_epoch: the epoch at which training was stopped (0 if it was not).
        best, best_epoch: the best value seen and its epoch.

    >>> import torch
    >>> net = torch.nn.Linear(1, 1)
    >>> net.stop_training = False
    >>> stopper = EarlyStopping(monitor="val_loss", patience=2)
    >>> stopper.set_model(net)
    >>> stopper.on_train_begin()
    >>> for epoch, val_loss in enumerate([0.5, 0.4, 0.45, 0.41, 0.3]):
    ...     stopper.on_epoch_end(epoch, {"val_loss": val_loss})
    ...     if net.stop_training:
    ...         break
    >>> stopper.stopped_epoch, stopper.best_epoch, stopper.best
    (3, 1, 0.4)
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: float | None = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0) -> None:
        super().__init__()
        owner = "EarlyStopping"
        self.monitor = _check_monitor(owner, monitor)
        self.min_delta = _check_real(owner, "min_delta", min_delta, minimum=0.0)
        self.patience = check_positive_int(owner, "patience", patience, minimum=0)
        self.verbose = _check_verbose(owner, verbose)
        self.mode = mode
        self._op = _resolve_mode(owner, mode, self.monitor)
        self.baseline = _check_real(owner, "baseline", baseline, allow_none=True)
        self.restore_best_weights = check_bool(owner, "restore_best_weights", restore_best_weights)
        self.start_from_epoch = check_positive_int(owner, "start_from_epoch", start_from_epoch, minimum=0)
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self._op == "min" else -math.inf
        self.best_epoch = 0
        self.best_weights: dict | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset()

    def _snapshot(self) -> dict:
        return {
            k: (v.detach().clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v))
            for k, v in self.model.state_dict().items()
        }

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch < self.start_from_epoch:
            return
        current = _monitor_value("EarlyStopping", self.monitor, logs)
        if current is None:
            return
        if self.restore_best_weights and self.best_weights is None:
            # Until some epoch improves, the first monitored weights are the best known.
            self.best_weights = self._snapshot()
            self.best_epoch = epoch
        self.wait += 1
        if _improved(self._op, current, self.best, self.min_delta):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self._snapshot()
            if self.baseline is None or _improved(self._op, current, self.baseline, self.min_delta):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping ({self.monitor} did not improve "
                  f"for {self.wait} epochs; best {self.best:.5f} at epoch {self.best_epoch + 1})")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring the weights of epoch {self.best_epoch + 1}, the best for {self.monitor}")
            self.model.load_state_dict(self.best_weights)

    def get_config(self) -> dict:
        return {
            "monitor": self.monitor, "min_delta": self.min_delta, "patience": self.patience,
            "verbose": self.verbose, "mode": self.mode, "baseline": self.baseline,
            "restore_best_weights": self.restore_best_weights, "start_from_epoch": self.start_from_epoch,
        }


# ----------------------------------------------------------------------------- ReduceLROnPlateau
class ReduceLROnPlateau(Callback):
    _state_keys = ("wait", "best", "cooldown_counter")

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

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, verbose: int = 0,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0) -> None:
        super().__init__()
        owner = "ReduceLROnPlateau"
        self.monitor = _check_monitor(owner, monitor)
        factor = _check_real(owner, "factor", factor)
        if not 0.0 < factor < 1.0:
            raise ConfigError(f"{owner}: `factor` must be in (0, 1) to reduce the learning rate, got {factor!r}")
        self.factor = factor
        self.patience = check_positive_int(owner, "patience", patience, minimum=0)
        self.verbose = _check_verbose(owner, verbose)
        self.mode = mode
        self._op = _resolve_mode(owner, mode, self.monitor)
        self.min_delta = _check_real(owner, "min_delta", min_delta, minimum=0.0)
        self.cooldown = check_positive_int(owner, "cooldown", cooldown, minimum=0)
        self.min_lr = _check_real(owner, "min_lr", min_lr, minimum=0.0)
        self._reset()

    def _reset(self) -> None:
        self.best = math.inf if self._op == "min" else -math.inf
        self.wait = 0
        self.cooldown_counter = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        current = _monitor_value("ReduceLROnPlateau", self.monitor, logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if _improved(self._op, current, self.best, self.min_delta):
            self.best = current
            self.wait = 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait < self.patience:
            return
        reduced = False
        for i, group in enumerate(_param_groups("ReduceLROnPlateau", self.model)):
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


# ----------------------------------------------------------------------------- LearningRateScheduler
class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to ``schedule(epoch, lr)``.

    Args:
        schedule: a function ``(epoch, lr) -> new_lr`` with ``epoch`` counted from 0
            and ``lr`` the current rate of the first param group; a one-argument
            ``schedule(epoch)`` is accepted too.  The result is set on every param group.
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
        self.verbose = _check_verbose(owner, verbose)
        self._takes_lr = _accepts_two_args(schedule)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        groups = _param_groups("LearningRateScheduler", self.model)
        old = float(groups[0]["lr"])
        new = self.schedule(epoch, old) if self._takes_lr else self.schedule(epoch)
        value = _as_float(new)
        if value is None or not math.isfinite(value) or value < 0:
            raise ConfigError(
                f"LearningRateScheduler: schedule({epoch}, {old}) returned {new!r}; it must return a finite "
                "number >= 0, the new learning rate"
            )
        for group in groups:
            group["lr"] = value
        if self.verbose and value != old:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {value:.6g}")

    def get_config(self) -> dict:
        return {"schedule": _callable_config(self.schedule), "verbose": self.verbose}

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


# ----------------------------------------------------------------------------- CSVLogger
class CSVLogger(Callback):
    """Write one CSV row per epoch: an ``epoch`` column (counted from 0, as Keras does) then the logs.

    The columns after ``epoch`` are the first epoch's log names, sorted; a later
    epoch missing one writes ``NA``, and names that appear later are left out
    (with a warning).  With ``append=True`` rows go after an existing file's, under
    its header.  The file is flushed after every row, so it can be watched live.

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

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False) -> None:
        super().__init__()
        owner = "CSVLogger"
        if not isinstance(filename, (str, os.PathLike)) or not os.fspath(filename):
            raise ConfigError(f"{owner}: `filename` must be a non-empty str or os.PathLike, got {filename!r}")
        if not isinstance(separator, str) or len(separator) != 1 or separator in "\r\n\"":
            raise ConfigError(f"{owner}: `separator` must be one character such as ',' or '\\t', got {separator!r}")
        self.filename = os.fsdecode(os.fspath(filename))
        self.separator = separator
        self.append = check_bool(owner, "append", append)
        self.keys: list[str] | None = None
        self._file = None
        self._writer = None
        self._warned: set[str] = set()

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._close()
        directory = os.path.dirname(self.filename)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self.keys = None
        self._warned = set()
        self._needs_header = True
        if self.append and os.path.isfile(self.filename) and os.path.getsize(self.filename) > 0:
            with open(self.filename, newline="") as f:
                header = next(csv.reader(f, delimiter=self.separator), None)
            if header and header[0] == "epoch":
                self.keys = header[1:]
                self._needs_header = False
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer = csv.writer(self._file, delimiter=self.separator, lineterminator="\n")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._file is None:
            self.on_train_begin()
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        if self._needs_header:
            self._writer.writerow(["epoch", *self.keys])
            self._needs_header = False
        extra = [k for k in logs if k not in self.keys and k not in self._warned]
        if extra:
            self._warned.update(extra)
            warnings.warn(
                f"CSVLogger: {', '.join(map(repr, extra))} first appeared after the header of "
                f"{self.filename!r} was written and is not logged; start a new file to record it",
                RuntimeWarning,
                stacklevel=2,
            )
        self._writer.writerow([epoch, *(_csv_value(logs[k]) if k in logs else "NA" for k in self.keys)])
        self._file.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        self._close()

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self._writer = None

    def get_config(self) -> dict:
        return {"filename": self.filename, "separator": self.separator, "append": self.append}


def _csv_value(value: Any) -> Any:
    number = _as_float(value)
    if number is not None:
        if isinstance(value, numbers.Integral):
            return int(value)
        return repr(number)
    return value


# ----------------------------------------------------------------------------- TensorBoard
class TensorBoard(Callback):
    """Write the logs as TensorBoard scalars, readable without TensorFlow.

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

    def __init__(self, log_dir: str | os.PathLike = "logs", update_freq: str | int = "epoch") -> None:
        super().__init__()
        owner = "TensorBoard"
        if not isinstance(log_dir, (str, os.PathLike)) or not os.fspath(log_dir):
            raise ConfigError(f"{owner}: `log_dir` must be a non-empty str or os.PathLike, got {log_dir!r}")
        self.log_dir = os.fsdecode(os.fspath(log_dir))
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
            number = _as_float(value)
            if number is not None:
                writer.add_scalar(f"batch_{key}", number, step=self._batches_seen)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for key, value in (logs or {}).items():
            number = _as_float(value)
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


# ----------------------------------------------------------------------------- TerminateOnNaN
class TerminateOnNaN(Callback):
    """Stop training as soon as a batch (or epoch) loss is NaN or infinite, naming where.

    Sets ``model.stop_training`` and prints e.g. ``Epoch 3, batch 17: loss is nan,
    terminating training``; the loop stops after that batch if it checks the flag
    per batch, else at the end of the epoch.

    Attributes:
        stopped_at: ``(epoch, batch)`` counted from 0 (batch ``None`` if found at
            epoch end), or ``None`` if training was not stopped.

    >>> import torch
    >>> net = torch.nn.Linear(1, 1)
    >>> net.stop_training = False
    >>> guard = TerminateOnNaN()
    >>> guard.set_model(net)
    >>> guard.on_epoch_begin(2)
    >>> guard.on_train_batch_end(16, {"loss": float("nan")})
    Epoch 3, batch 17: loss is nan, terminating training
    >>> net.stop_training, guard.stopped_at
    (True, (2, 16))
    """

    def __init__(self) -> None:
        super().__init__()
        self._epoch = 0
        self.stopped_at: tuple[int, int | None] | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.stopped_at = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def _check(self, batch: int | None, logs: dict | None) -> None:
        loss = _as_float((logs or {}).get("loss"))
        if loss is None or math.isfinite(loss) or self.stopped_at is not None:
            return
        where = f"Epoch {self._epoch + 1}" + ("" if batch is None else f", batch {batch + 1}")
        print(f"{where}: loss is {loss}, terminating training")
        self.stopped_at = (self._epoch, batch)
        self.model.stop_training = True

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._check(batch, logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        self._check(None, logs)


# ----------------------------------------------------------------------------- TimeBudget
class TimeBudget(Callback):
    """Count the time spent in training steps and stop training once ``seconds`` are spent.

    Only the training batches count (from ``on_train_batch_begin`` to
    ``on_train_batch_end``): validation, callbacks at epoch ends and checkpoint
    writes do not, so a budget means the same on a fast and a slow disk.  Training
    stops after the batch that spends the budget; ``fit`` then still validates that
    last (partial) epoch.  Each epoch's logs get ``seconds``, the training time so
    far.  ``seconds=None`` only keeps the clock.  The clock is saved with the model
    (``elapsed``), so a resumed run goes on counting where it stopped.

    >>> import torch
    >>> net = torch.nn.Linear(1, 1)
    >>> net.stop_training = False
    >>> clock = TimeBudget(seconds=1e-9)
    >>> clock.set_model(net)
    >>> clock.on_train_batch_begin(0); clock.on_train_batch_end(0)
    >>> net.stop_training, clock.elapsed > 0
    (True, True)
    """

    _state_keys = ("elapsed",)

    def __init__(self, seconds: float | None = None) -> None:
        super().__init__()
        if seconds is not None and not (isinstance(seconds, (int, float)) and seconds > 0):
            raise ConfigError(f"TimeBudget: `seconds` must be a positive number or None, got {seconds!r}")
        self.seconds = seconds
        self.elapsed = 0.0
        self._t0 = 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.elapsed = 0.0

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.elapsed += time.perf_counter() - self._t0
        if self.seconds and self.elapsed >= self.seconds:
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["seconds"] = round(self.elapsed, 2)


# ----------------------------------------------------------------------------- LambdaCallback
class LambdaCallback(Callback):
    """A callback made of plain functions, one per hook you pass.

    Hooks with an epoch or batch number get ``(number, logs)``, the others
    ``(logs)``.  ``on_batch_begin``/``on_batch_end`` are accepted as the older
    names of ``on_train_batch_begin``/``on_train_batch_end``.

    Args:
        on_epoch_begin, on_epoch_end, on_train_begin, on_train_end,
        on_train_batch_begin, on_train_batch_end, on_test_begin, on_test_end,
        on_test_batch_begin, on_test_batch_end, on_predict_begin, on_predict_end,
        on_predict_batch_begin, on_predict_batch_end: functions or ``None``.

    >>> show = LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
    >>> show.on_epoch_end(4, {"loss": 0.125})
    4 0.125
    >>> show.get_config()["on_epoch_end"]["restorable"]
    False
    """

    def __init__(self, on_epoch_begin: Callable | None = None, on_epoch_end: Callable | None = None,
                 on_train_begin: Callable | None = None, on_train_end: Callable | None = None,
                 on_train_batch_begin: Callable | None = None, on_train_batch_end: Callable | None = None,
                 on_test_begin: Callable | None = None, on_test_end: Callable | None = None,
                 on_test_batch_begin: Callable | None = None, on_test_batch_end: Callable | None = None,
                 on_predict_begin: Callable | None = None, on_predict_end: Callable | None = None,
                 on_predict_batch_begin: Callable | None = None, on_predict_batch_end: Callable | None = None,
                 on_batch_begin: Callable | None = None, on_batch_end: Callable | None = None) -> None:
        super().__init__()
        given = dict(locals())
        for old, new in (("on_batch_begin", "on_train_batch_begin"), ("on_batch_end", "on_train_batch_end")):
            if given[old] is not None:
                if given[new] is not None:
                    raise ConfigError(f"LambdaCallback: pass only one of `{old}` and `{new}` (the same hook)")
                given[new] = given[old]
        self._fns: dict[str, Callable | None] = {}
        for hook in _HOOKS:
            fn = given[hook]
            if fn is not None and not callable(fn):
                raise ConfigError(f"LambdaCallback: `{hook}` must be a function or None, got {fn!r}")
            self._fns[hook] = fn
            if fn is not None:
                setattr(self, hook, _bind(fn, hook in _EPOCH_OR_BATCH_HOOKS))

    def get_config(self) -> dict:
        return {hook: _callable_config(fn) for hook, fn in self._fns.items() if fn is not None}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "LambdaCallback":
        """Not possible: the functions are stored by name only; build it again with the functions."""
        raise ConfigError(
            "LambdaCallback.from_config: its functions were stored by name only and cannot be restored; "
            "create LambdaCallback(...) again with the functions"
        )


def _bind(fn: Callable, numbered: bool) -> Callable:
    if numbered:
        def hook(number: int, logs: dict | None = None) -> None:
            fn(number, logs)
    else:
        def hook(logs: dict | None = None) -> None:
            fn(logs)
    return hook
