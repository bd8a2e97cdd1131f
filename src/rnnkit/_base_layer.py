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
"""
from __future__ import annotations

import itertools
import re
from collections import defaultdict
from typing import Any

import numpy as np
import torch
from torch import nn

from . import _symbolic
from ._validation import check_positive_int
from .errors import ConfigError, NotBuiltError, ShapeError
from .saving import register_serializable

__all__ = ["Layer"]

_name_counters: dict[str, itertools.count] = defaultdict(itertools.count)


def _auto_name(class_name: str) -> str:
    base = re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", class_name).lower()
    index = next(_name_counters[base])
    return base if index == 0 else f"{base}_{index}"


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

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__()
        self.name = name if name is not None else _auto_name(type(self).__name__)
        self.built = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # until a symbolic tensor exists in the process, one flag test is all this costs a call
        if _symbolic.in_use and _symbolic.contains_symbolic(args, kwargs):
            return _symbolic.call_layer(self, args, kwargs)
        return super().__call__(*args, **kwargs)

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
