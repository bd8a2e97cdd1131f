"""LambdaCallback: a callback made of plain functions, one per hook."""
from __future__ import annotations

from typing import Any, Callable, Mapping

from ...errors import ConfigError
from .base import HOOKS, NUMBERED_HOOKS, Callback, callable_config

__all__ = ["LambdaCallback"]


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
        for hook in HOOKS:
            fn = given[hook]
            if fn is not None and not callable(fn):
                raise ConfigError(f"LambdaCallback: `{hook}` must be a function or None, got {fn!r}")
            self._fns[hook] = fn
            if fn is not None:
                setattr(self, hook, _bind(fn, hook in NUMBERED_HOOKS))

    def get_config(self) -> dict:
        return {hook: callable_config(fn) for hook, fn in self._fns.items() if fn is not None}

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
