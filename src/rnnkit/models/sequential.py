"""Sequential: a stack of layers applied in order, with masks flowing between them (Keras ``Sequential``).

Each layer's ``compute_mask(inputs, mask)`` gives the mask of the next layer's
input; :meth:`Sequential.forward_with_mask` returns the outputs with the mask of
the last one, which is how ``fit`` and ``evaluate`` mask the loss and metrics.
"""
from __future__ import annotations

import inspect
from typing import Any, Iterable

import torch
from torch import nn

from .. import _symbolic
from .._base_layer import Layer
from ..errors import ConfigError
from ..layers.input_layer import InputLayer
from ..protocols import ScoresTargets
from ..saving import deserialize, register_serializable, serialize
from ..training.losses import SparseCategoricalCrossentropy
from .model import Model

__all__ = ["Sequential"]


def _accepts_mask(layer: nn.Module) -> bool:
    try:
        return "mask" in inspect.signature(layer.forward).parameters
    except (TypeError, ValueError):
        return False


@register_serializable
class Sequential(Model):
    """Layers applied one after the other; each layer's mask goes to the next (Keras ``Sequential``).

    ``Embedding(mask_zero=True)`` or ``Masking`` create a mask, recurrent layers
    and pooling use it, and the mask of the last output reaches the loss through
    :meth:`forward_with_mask`, so padded steps count nowhere.  Plain ``torch.nn`` modules may be stacked too
    (they receive no mask).

    An ``Input(shape=...)`` (or an ``InputLayer``) first fixes the input's shape,
    as in Keras: each layer is then built as it is added, and ``summary()`` shows
    the shapes before any call.

    Example:
        >>> import torch
        >>> from rnnkit.layers import Embedding, Input, LSTM, Dense
        >>> model = Sequential([Embedding(50, 8, mask_zero=True), LSTM(16), Dense(3, activation="softmax")])
        >>> model(torch.tensor([[4, 9, 0, 0], [7, 1, 2, 3]])).shape
        torch.Size([2, 3])
        >>> [layer.name.split("_")[0] for layer in model.layers]
        ['embedding', 'lstm', 'dense']
        >>> built = Sequential([Input(shape=(None, 3)), LSTM(4)])
        >>> built.layers[0].built, built.layers[0]._summary_shape
        (True, (None, 4))
    """

    def __init__(self, layers: Iterable[nn.Module] | None = None, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.layers = nn.ModuleList()
        #: the InputLayer of an ``Input`` given first (not among ``layers``, as in Keras), or None
        self.input_layer: InputLayer | None = None
        self._symbolic_output: Any = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: nn.Module) -> None:
        """Append a layer (first, an ``Input(shape=...)`` may fix the input's shape)."""
        if isinstance(layer, _symbolic.SymbolicTensor):
            if not isinstance(layer.node.layer, InputLayer):
                raise ConfigError(f"Sequential.add: expected a layer or an Input(...), got {layer!r}")
            layer = layer.node.layer
        if isinstance(layer, InputLayer):
            if len(self.layers) or self.input_layer is not None:
                raise ConfigError("Sequential.add: an Input can only come first; build a Model(inputs, outputs) for "
                                  "several inputs")
            self.input_layer = layer
            self._symbolic_output = layer.output
            return
        if not isinstance(layer, nn.Module):
            raise ConfigError(f"Sequential.add: expected a layer (a torch.nn.Module), got {type(layer).__name__}")
        if getattr(layer, "return_state", False):
            raise ConfigError(
                f"Sequential.add: {type(layer).__name__} has return_state=True, which returns several tensors; "
                "a Sequential passes one tensor between layers (subclass Model for states)"
            )
        self.layers.append(layer)
        self._accepts = [_accepts_mask(m) for m in self.layers]
        if self._symbolic_output is not None:  # the input's shape is known: build the layer now, as Keras does
            if isinstance(layer, Layer):
                out = layer(self._symbolic_output)
                self._symbolic_output = out if isinstance(out, _symbolic.SymbolicTensor) else None
                if self._symbolic_output is not None:
                    layer._summary_shape = self._symbolic_output.shape
            else:
                self._symbolic_output = None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self._run_layers(x, mask)[0]

    def forward_with_mask(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The outputs and the mask the last layer passes on (see :meth:`Model.forward_with_mask`).

        >>> import torch
        >>> from rnnkit.layers import Embedding, GRU
        >>> model = Sequential([Embedding(9, 2, mask_zero=True), GRU(3, return_sequences=True)])
        >>> out, mask = model.forward_with_mask(torch.tensor([[1, 2, 0]]))
        >>> out.shape, mask.tolist()
        (torch.Size([1, 3, 3]), [[True, True, False]])
        """
        return self._run_layers(x, mask)

    def _outputs_and_loss(self, x: Any, y: Any) -> tuple[Any, torch.Tensor | None, torch.Tensor]:
        """As :meth:`Model._outputs_and_loss`; a last layer that scores the targets alone
        (:class:`~rnnkit.protocols.ScoresTargets`, e.g. ``AdaptiveSoftmax``) is asked for the loss
        instead of its whole output when the loss is ``SparseCategoricalCrossentropy(from_logits=True)``
        (whose value on log-probabilities is :math:`-\\log p(y)`) and no metric needs the outputs."""
        head = self.layers[-1] if len(self.layers) else None
        if (not isinstance(head, ScoresTargets) or self._metric_ids
                or not (isinstance(self.loss, SparseCategoricalCrossentropy) and self.loss.from_logits)):
            return super()._outputs_and_loss(x, y)
        features, mask = self._run_layers(x, None, stop=len(self.layers) - 1)
        return None, mask, head.target_loss(features, y, mask)

    def _run_layers(self, x: torch.Tensor, mask: torch.Tensor | None,
                    stop: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Each layer in turn (those before index ``stop``), each layer's ``compute_mask`` giving the mask of the next."""
        if not len(self.layers):
            raise ConfigError("Sequential: the model has no layers; add some with .add(layer)")
        if self.input_layer is not None:
            x = self.input_layer(x)
        else:  # the input's shape, which a .keras file must state (rnnkit.saving.keras_files)
            self.__dict__["_seen_input"] = (tuple(x.shape), x.dtype) if isinstance(x, torch.Tensor) else None
        for layer, accepts in zip(self.layers[:stop], self._accepts[:stop]):
            next_mask = layer.compute_mask(x, mask) if hasattr(layer, "compute_mask") else None
            out = layer(x, mask=mask) if (accepts and mask is not None) else layer(x)
            layer._summary_shape = (None, *out.shape[1:]) if isinstance(out, torch.Tensor) else None
            x, mask = out, next_mask
        return x, mask

    def _summary_layers(self):
        return [(layer.name if hasattr(layer, "name") else str(i), layer) for i, layer in enumerate(self.layers)]

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "layers": [serialize(layer) for layer in self.layers]}
        if self.input_layer is not None:
            config["input_layer"] = serialize(self.input_layer)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Sequential":
        config = dict(config)
        layers = [deserialize(c) for c in config.pop("layers")]
        first = config.pop("input_layer", None)
        return cls(([deserialize(first)] if first else []) + layers, **config)
