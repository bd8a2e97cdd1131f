"""The :class:`Callback` base class, the :class:`CallbackList` that dispatches hooks, and shared argument checks.

:data:`HOOKS` names every hook the loop calls; :class:`CallbackList` dispatches
each of them through one method, :meth:`CallbackList.call`.
"""
from __future__ import annotations

import csv
import numbers
import os
from typing import Any, Callable, Iterable, Iterator, Mapping

from ..._io import atomic_write
from ..._validation import check_positive_int
from ...errors import ConfigError

__all__ = ["Callback", "CallbackList", "HOOKS", "NUMBERED_HOOKS", "drop_rows_from_epoch"]

#: every hook the training, evaluation and prediction loops call
HOOKS = (
    "on_train_begin", "on_train_end",
    "on_epoch_begin", "on_epoch_end",
    "on_train_batch_begin", "on_train_batch_end",
    "on_test_begin", "on_test_end",
    "on_test_batch_begin", "on_test_batch_end",
    "on_predict_begin", "on_predict_end",
    "on_predict_batch_begin", "on_predict_batch_end",
)
#: the hooks whose first argument is an epoch or batch number
NUMBERED_HOOKS = frozenset(h for h in HOOKS if "epoch" in h or "batch" in h)


# ----------------------------------------------------------------------------- checks shared by the callbacks
def check_verbose(owner: str, value: Any) -> int:
    """``verbose`` as an int >= 0 (True/False accepted as 1/0)."""
    if isinstance(value, bool):
        return int(value)
    return check_positive_int(owner, "verbose", value, minimum=0)



def check_path(owner: str, name: str, value: Any, example: str = "") -> str:
    """A non-empty str or os.PathLike, returned as str."""
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        hint = f" such as {example!r}" if example else ""
        raise ConfigError(f"{owner}: `{name}` must be a non-empty str or os.PathLike{hint}, got {value!r}")
    return os.fsdecode(os.fspath(value))


def as_float(value: Any) -> float | None:
    """A float for a real scalar (Python, NumPy or one-element tensor), else ``None``."""
    if isinstance(value, numbers.Real):
        return float(value)
    item = getattr(value, "item", None)
    numel = getattr(value, "numel", None) or getattr(value, "size", None)
    if callable(item):
        try:
            count = numel() if callable(numel) else numel
            if count == 1:
                out = item()
                if isinstance(out, numbers.Real) and not isinstance(out, complex):
                    return float(out)
        except (TypeError, ValueError, RuntimeError):
            return None
    return None


def callable_config(fn: Callable | None) -> dict | None:
    """How a function is recorded in a callback's config: by name, not restorable."""
    if fn is None:
        return None
    module = getattr(fn, "__module__", None) or "?"
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return {"callable": f"{module}.{name}", "restorable": False}


def param_groups(owner: str, model: Any) -> list[dict]:
    """The model's optimizer's ``param_groups``, or a one-line error saying to compile first."""
    optimizer = getattr(model, "optimizer", None)
    groups = getattr(optimizer, "param_groups", None)
    if not groups:
        raise ConfigError(
            f"{owner}: the model has no optimizer with param_groups (got {optimizer!r}); "
            "compile the model with an optimizer before fit()"
        )
    return groups


def drop_rows_from_epoch(path: str | os.PathLike, epoch: int, separator: str = ",") -> int:
    """Remove from a CSV log the rows of epochs ``epoch`` and later (an ``epoch`` column counted from 0) and a last
    line cut short; returns how many lines went.  A resumed fit calls it: those epochs are trained again.

    The kept lines stay byte for byte; the file is rewritten atomically, and only when a line goes.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> _ = open(path, "w").write("epoch,loss\\n0,0.5\\n1,0.25\\n2,0.1")
    >>> drop_rows_from_epoch(path, 1), open(path).read()
    (2, 'epoch,loss\\n0,0.5\\n')
    """
    try:
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
    except FileNotFoundError:
        return 0
    complete, cut = lines[:-1], lines[-1] != b""  # no newline after the last line: a write cut short
    if not complete:
        return 0

    def cells(line: bytes) -> list[str]:
        return next(csv.reader([line.decode("utf-8", "replace")], delimiter=separator), [])

    header = cells(complete[0])
    if "epoch" not in header:
        return 0
    column = header.index("epoch")
    kept = [complete[0]]
    for line in complete[1:]:
        try:
            if int(float(cells(line)[column])) >= epoch:
                continue
        except (IndexError, ValueError):
            pass  # not one of ours to judge: kept
        kept.append(line)
    dropped = len(complete) - len(kept) + cut
    if dropped:
        with atomic_write(path, "wb") as f:
            f.write(b"".join(line + b"\n" for line in kept))
    return dropped


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

    #: whether it writes files or prints: under data-parallel training it then runs on rank 0 only
    writes = False

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

    def call(self, hook: str, *args: Any) -> None:
        """Call ``hook`` (one of :data:`HOOKS`) on every callback, in list order.

        The last positional argument is the hook's ``logs`` (``None`` becomes one
        fresh ``{}`` shared by all callbacks); numbered hooks take the epoch or
        batch number first.  ``callbacks.on_epoch_end(0, logs)`` is the same as
        ``callbacks.call("on_epoch_end", 0, logs)``.
        """
        if hook not in NUMBERED_HOOKS and hook not in HOOKS:
            raise ConfigError(f"CallbackList.call: unknown hook {hook!r}; hooks are {', '.join(HOOKS)}")
        self._dispatch(hook, hook in NUMBERED_HOOKS, args)

    def _dispatch(self, hook: str, numbered: bool, args: tuple) -> None:
        if len(args) == numbered:
            args = (*args, None)
        *head, logs = args
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            getattr(cb, hook)(*head, logs)



def _dispatcher(hook: str) -> Callable[..., None]:
    numbered = hook in NUMBERED_HOOKS

    def dispatch(self: CallbackList, *args: Any) -> None:
        self._dispatch(hook, numbered, args)

    dispatch.__name__ = dispatch.__qualname__ = hook
    dispatch.__doc__ = f"Dispatch :meth:`Callback.{hook}` to every callback."
    return dispatch


for _hook in HOOKS:  # CallbackList.on_train_begin(), .on_epoch_end(epoch, logs) ...: each one line through call()
    setattr(CallbackList, _hook, _dispatcher(_hook))
del _hook
