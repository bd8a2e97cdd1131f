"""The :class:`Layer` base class: a ``torch.nn.Module`` with Keras' conveniences.

What it adds to ``nn.Module``:

* **Lazy building.**  A layer may be created without its input size
  (``LSTM(64)``, ``Dense(10)``); its weights are created by :meth:`Layer.build`
  at the first call, on the input's device, from the input's last dimension.
  Passing ``input_size=`` (or calling ``build`` yourself) creates them at once,
  which you need before handing ``parameters()`` to an optimizer.
* **Masks.**  ``forward(x, mask=None)`` takes an optional ``(batch, time)`` bool
  mask (True = a real step); :meth:`Layer.compute_mask` says which mask flows
  on to the next layer, as in Keras.
* **Config.**  :meth:`Layer.get_config` returns a JSON-safe dict of the
  constructor arguments and :meth:`Layer.from_config` rebuilds the layer.
* **Keras weights.**  :meth:`Layer.get_weights` / :meth:`Layer.set_weights`
  give and take the weights as NumPy arrays in Keras' layout and order (a
  Dense kernel is ``weight.T``), which is how Keras model files are read and written.
* **Names.**  Each layer gets a unique snake-case name (``lstm``, ``lstm_1``).
* **The functional API.**  Called on the symbolic tensor of an ``Input`` (or on
  another layer's symbolic output), a layer records the call and returns
  symbolic outputs (:mod:`rnnkit._symbolic`); ``Model(inputs, outputs)`` runs
  the recorded calls.
* **Keras' call conventions.**  Every layer also takes Keras' construction
  arguments ``input_shape=`` (the shape of one example, without the batch
  axis) and ``input_dim=`` (``input_shape=(input_dim,)``), which build the
  weights at once; ``layer(x, training=True)`` runs that one call in training
  mode (dropout on) whatever the layer's mode; and a subclass may write Keras'
  ``call(self, inputs, training=None)`` instead of ``forward``: ``training``
  then comes from the module's mode (``model.train()``/``eval()``, set by
  ``fit``/``predict``) unless the caller passes it.

>>> import torch
>>> from rnnkit.layers import LSTM, Dropout
>>> LSTM(4, input_shape=(None, 3)).cells[0].weight_ih.shape    # built at construction, as in Keras
torch.Size([16, 3])
>>> class Noisy(Layer):
...     def __init__(self):
...         super().__init__()
...         self.drop = Dropout(0.5)
...     def call(self, inputs, training=None):
...         return self.drop(inputs, training=training)
>>> layer = Noisy().eval()
>>> torch.equal(layer(torch.ones(8)), torch.ones(8)), (layer(torch.ones(1000), training=True) == 0).any().item()
(True, True)
>>> layer.training, layer.drop.training     # the modes are back as they were
(False, False)
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
import numbers
import re
from collections import defaultdict
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from . import _symbolic
from ._validation import as_tensor, check_floating, check_min_ndim, check_positive_int
from .errors import ConfigError, NotBuiltError, ShapeError
from .saving import register_serializable

__all__ = ["Layer"]

_name_counters: dict[str, itertools.count] = defaultdict(itertools.count)


def _auto_name(class_name: str) -> str:
    # GlobalMaxPooling1D -> global_max_pooling1d, SimpleRNN -> simplernn, HashedNGrams -> hashed_n_grams
    base = re.sub(r"(?<!^)(?=[A-Z][a-z])|(?<=[a-z])(?=[A-Z][A-Z][a-z])", "_", class_name).lower()
    index = next(_name_counters[base])
    return base if index == 0 else f"{base}_{index}"


def _input_shape_arg(owner: str, kwargs: dict[str, Any], names: tuple[str, ...]) -> tuple[int | None, ...] | None:
    """Take Keras' ``input_shape`` / ``input_dim`` out of ``kwargs``: the shape of one example, or None."""
    dim = kwargs.pop("input_dim", None) if "input_dim" in names else None
    value = kwargs.pop("input_shape", None) if "input_shape" in names else None
    if dim is not None:  # as in Keras, input_dim=n stands for input_shape=(n,)
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 1:
            raise ConfigError(f"{owner}: `input_dim` must be a positive integer (the size of one input vector), got {dim!r}")
        return (int(dim),)
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    ok = isinstance(value, (tuple, list)) and len(value) > 0 and all(
        d is None or (isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0) for d in value)
    if not ok:
        raise ConfigError(f"{owner}: `input_shape` must be a tuple of sizes (None for any) without the batch axis, "
                          f"e.g. input_shape=(60, 1) for 60 steps of 1 feature, got {value!r}")
    return tuple(None if d is None else int(d) for d in value)


def _accepting_input_shape(init: Callable[..., None]) -> Callable[..., None]:
    """``init`` that also takes Keras' ``input_shape=`` / ``input_dim=`` (where it has no argument of that name)."""
    own = inspect.signature(init).parameters
    names = tuple(n for n in ("input_shape", "input_dim") if n not in own)
    if not names:
        return init

    @functools.wraps(init)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        shape = _input_shape_arg(type(self).__name__, kwargs, names)
        init(self, *args, **kwargs)
        if shape is not None and not self.built:
            self.build((None, *shape))

    return __init__


def _takes_training(fn: Callable[..., Any]) -> bool:
    try:
        return "training" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


@contextlib.contextmanager
def _training_mode(module: nn.Module, mode: bool) -> Iterator[None]:
    """``module`` and its sub-modules in training mode ``mode`` for the block, each put back as it was after."""
    modes = [(m, m.training) for m in module.modules()]
    if all(was == mode for _, was in modes):
        yield
        return
    module.train(mode)
    try:
        yield
    finally:
        for m, was in modes:
            m.training = was


@register_serializable
class Layer(nn.Module):
    """Base class of every rnnkit layer and cell.

    Subclasses create their weights in :meth:`build` (called once, with the
    shape of the first input) and set ``self.built = True`` through
    ``super().build(...)``.  Layers that need no weights never override it.

    Args:
        name: a unique name for summaries; derived from the class name by default.

    Example — a layer whose weight is sized by its first input:
        >>> import torch
        >>> class Scale(Layer):
        ...     def build(self, input_shape, *, device=None, dtype=None):
        ...         self.weight = torch.nn.Parameter(torch.ones(input_shape[-1], device=device, dtype=dtype))
        ...         super().build(input_shape)
        ...     def forward(self, x):
        ...         self._maybe_build(x)
        ...         return x * self.weight
        >>> layer = Scale()
        >>> layer(torch.ones(2, 3)).shape, layer.weight.shape, layer.built
        (torch.Size([2, 3]), torch.Size([3]), True)
    """

    #: Whether the layer passes an incoming mask on unchanged (see :meth:`compute_mask`).
    supports_masking: bool = False

    #: Whether the constructors of subclasses take Keras' ``input_shape=`` / ``input_dim=`` (models do not)
    accepts_input_shape: bool = True

    #: Whether ``forward`` (or Keras' ``call``) takes ``training=`` itself; per class, found at the first such call
    _forward_takes_training: bool | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and cls.accepts_input_shape:
            cls.__init__ = _accepting_input_shape(init)  # type: ignore[method-assign]
        cls._forward_takes_training = None  # decided at the first call with training=

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__()
        self.name = name if name is not None else _auto_name(type(self).__name__)
        self.built = False

    # ------------------------------------------------------------ Keras' call
    def __call__(self, *args: Any, training: Any = None, **kwargs: Any) -> Any:
        """Run the layer; ``training=True``/``False`` (Keras') runs this call in that mode, then puts the modes back.

        Called on symbolic tensors (the functional API) it records the call instead.
        """
        # until a symbolic tensor exists in the process, one flag test is all this costs a call
        if _symbolic.in_use and _symbolic.contains_symbolic(args, kwargs):
            if training is not None:
                kwargs["training"] = training
            return _symbolic.call_layer(self, args, kwargs)
        if training is None:
            return super().__call__(*args, **kwargs)
        cls = type(self)
        if cls._forward_takes_training is None:
            forward = cls.forward
            cls._forward_takes_training = _takes_training(getattr(cls, "call") if forward is Layer.forward
                                                          and hasattr(cls, "call") else forward)
        if cls._forward_takes_training:
            kwargs["training"] = training
        with _training_mode(self, bool(training)):
            return super().__call__(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Keras' way: a subclass that defines ``call(inputs, ...)`` instead of ``forward`` runs it here.

        ``call`` gets ``training=`` (the module's mode) when it has that argument and the caller gave none.
        """
        call = getattr(self, "call", None)
        if call is None:
            raise NotImplementedError(
                f"{type(self).__name__}: the layer does not say what it computes; define forward(self, inputs) "
                "as in PyTorch, or call(self, inputs) as in Keras"
            )
        if "training" not in kwargs and _takes_training(call):
            kwargs["training"] = self.training
        return call(*args, **kwargs)

    # ----------------------------------------------------------------- building
    def build(self, input_shape: tuple[int, ...], *, device: Any = None, dtype: torch.dtype | None = None) -> None:
        """Create the weights for inputs of ``input_shape``; subclasses extend this."""
        self.built = True

    def _maybe_build(self, x: torch.Tensor) -> None:
        if not self.built:
            dtype = x.dtype if x.is_floating_point() else None
            self.build(tuple(x.shape), device=x.device, dtype=dtype)

    def _input_shape_from_state(self, state_dict: dict[str, torch.Tensor], prefix: str) -> tuple[Any, ...] | None:
        """The input shape for which :meth:`build` creates weights of the stored shapes (None: cannot tell)."""
        return None

    @property
    def weights_pending(self) -> bool:
        """Whether the layer's weights wait for its first call, which gives their input size (a file saved now
        would hold none of them)."""
        return not self.built and type(self)._input_shape_from_state is not Layer._input_shape_from_state

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[no-untyped-def]
        # A layer whose input size was left to the first call builds itself from the
        # stored weights' shapes, so load_state_dict works on a freshly created model.
        if not self.built:
            shape = self._input_shape_from_state(state_dict, prefix)
            if shape is not None:
                stored = next(v for k, v in state_dict.items() if k.startswith(prefix))
                self.build(shape, dtype=stored.dtype if stored.is_floating_point() else None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise NotBuiltError(
                f"{type(self).__name__}: {what} needs the weights, which do not exist yet; "
                "pass `input_size=` when creating the layer, call `.build(input_shape)`, or call it on a batch first"
            )

    def _set_input_size(self, size: int, unit: str = "features") -> None:
        """At build time: record ``input_size``, refusing a size other than the one given at construction."""
        if getattr(self, "input_size", None) is not None and size != self.input_size:
            raise ShapeError(f"{type(self).__name__}: built for input_size={self.input_size}, got inputs with {size} {unit}")
        self.input_size = size

    def _checked_features(self, inputs: Any, layout: str = "(batch, ..., features)") -> torch.Tensor:
        """``inputs`` as a floating-point tensor of 2 dims or more whose last axis is the input size (the layer is
        built from it at the first call): the checks of a layer on the last axis (Dense, AdaptiveSoftmax)."""
        owner = type(self).__name__
        x = as_tensor(owner, inputs)
        check_min_ndim(owner, x, 2, layout)
        check_floating(owner, x)
        self._maybe_build(x)
        self._check_input_features(x)
        return x

    def _check_input_features(self, x: torch.Tensor, unit: str = "features") -> None:
        """At call time: the last axis of ``x`` must be the size the layer was built for."""
        if x.shape[-1] != self.input_size:
            raise ShapeError(
                f"{type(self).__name__}: built for input_size={self.input_size}, got inputs with {x.shape[-1]} {unit} "
                f"(shape {tuple(x.shape)})"
            )

    @staticmethod
    def _check_input_size(owner: str, input_size: Any) -> int | None:
        return check_positive_int(owner, "input_size", input_size, allow_none=True)

    # ----------------------------------------------------------- Keras weights
    def get_weights(self) -> list[np.ndarray]:
        """The weights as NumPy arrays in Keras' layout and order (Keras' ``layer.get_weights()``).

        A layer without weights returns ``[]``; the layers with weights define their layout.
        """
        if next(self.parameters(), None) is not None:
            raise ConfigError(f"{type(self).__name__}.get_weights: no Keras layout is defined for this layer's weights; "
                              "use state_dict()")
        return []

    def set_weights(self, weights: Any) -> None:
        """Load weights given in Keras' layout and order (as :meth:`get_weights` returns them)."""
        if len(list(weights)) or next(self.parameters(), None) is not None:
            raise ConfigError(f"{type(self).__name__}.set_weights: no Keras layout is defined for this layer's weights; "
                              "use load_state_dict()")

    def _keras_arrays(self, weights: Any, expected: list[tuple[str, tuple]]) -> list[torch.Tensor]:
        """``weights`` as tensors, checked against ``[(name, Keras shape), ...]`` (one-line errors)."""
        owner = type(self).__name__
        weights = list(weights)
        if len(weights) != len(expected):
            names = ", ".join(name for name, _ in expected) or "none"
            raise ShapeError(f"{owner}.set_weights: expected {len(expected)} arrays ({names}), got {len(weights)}")
        out = []
        for w, (name, shape) in zip(weights, expected):
            t = w.detach().cpu() if isinstance(w, torch.Tensor) else torch.as_tensor(np.asarray(w))
            if tuple(t.shape) != tuple(shape):
                raise ShapeError(f"{owner}.set_weights: {name} expected shape {tuple(shape)}, got {tuple(t.shape)}")
            out.append(t)
        return out

    # ------------------------------------------------------------------- masks
    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor | None:
        """The mask for the next layer: passed through if the layer supports masking, else dropped."""
        return mask if self.supports_masking else None

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        """A JSON-safe dict of constructor arguments; ``type(self)(**config)`` rebuilds the layer."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Layer":
        """Rebuild a layer (without its weights) from :meth:`get_config`'s output."""
        return cls(**config)
