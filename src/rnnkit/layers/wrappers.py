"""TimeDistributed: apply one layer to every time step of a sequence."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .._base_layer import Layer
from .._validation import as_tensor, check_min_ndim
from ..errors import ConfigError, ShapeError
from ..saving import deserialize, register_serializable, serialize

__all__ = ["TimeDistributed"]


@register_serializable
class TimeDistributed(Layer):
    r"""Apply ``layer`` independently to every time step of ``(batch, time, ...)`` input.

    .. math::
        y_{b,t} = f(x_{b,t}) \quad \text{for every } b, t

    where :math:`f` is the wrapped layer, with the *same* weights at every step.
    The time axis is folded into the batch axis, so :math:`f` runs once on
    ``(batch * time, ...)`` and the result is unfolded to ``(batch, time, ...)``.
    Typical uses: ``TimeDistributed(Conv2D(...))`` on video frames, or
    ``TimeDistributed(Dense(...))`` (for which plain :class:`Dense` on 3-D input
    gives the same result).

    The inner layer is built lazily at the first call (or by :meth:`build`),
    from the shape of one step.  Masks: the incoming ``(batch, time)`` mask is
    not given to the inner layer (each step is computed, as in Keras) and passes
    through unchanged; if the inner layer makes a mask of its own (e.g. an
    ``Embedding`` with ``mask_zero``), :meth:`compute_mask` returns that one,
    unfolded to ``(batch, time, ...)``.

    Shape:
        * input: ``(batch, time, *step_shape)``, at least 3 dims.
        * output: ``(batch, time, *inner_output_shape)``.

    Args:
        layer: the layer to apply at each step (a :class:`Layer`; any
            ``torch.nn.Module`` works for the forward pass, but only a
            :class:`Layer` can be saved in a config).
        name: layer name.

    Example:
        >>> import torch
        >>> from rnnkit.layers.core import Dense
        >>> td = TimeDistributed(Dense(8))
        >>> td(torch.zeros(2, 5, 3)).shape
        torch.Size([2, 5, 8])
        >>> td.get_config()["layer"]["class_name"]
        'Dense'
    """

    supports_masking = True

    def __init__(self, layer: nn.Module, *, name: str | None = None) -> None:
        super().__init__(name=name)
        if not isinstance(layer, nn.Module):
            raise ConfigError(
                f"{type(self).__name__}: `layer` must be an rnnkit Layer (a torch.nn.Module), "
                f"got {layer!r} ({type(layer).__name__})"
            )
        self.layer = layer

    def _fold(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, time, *step) -> (batch * time, *step)."""
        owner = type(self).__name__
        check_min_ndim(owner, x, 3, "(batch, time, ...)")
        return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])

    def build(self, input_shape: tuple[int, ...], *, device: Any = None, dtype: torch.dtype | None = None) -> None:
        """Build the inner layer for one step, ``(batch * time, *input_shape[2:])``."""
        if len(input_shape) < 3:
            raise ShapeError(
                f"{type(self).__name__}: expected an input shape of at least 3 dims (batch, time, ...), "
                f"got {tuple(input_shape)}"
            )
        batch, time = input_shape[0], input_shape[1]
        folded = batch * time if isinstance(batch, int) and isinstance(time, int) else None
        if isinstance(self.layer, Layer) and not self.layer.built:
            self.layer.build((folded, *input_shape[2:]), device=device, dtype=dtype)
        super().build(input_shape)

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Run the inner layer on every step; ``mask`` passes through (see :meth:`compute_mask`)."""
        owner = type(self).__name__
        x = as_tensor(owner, inputs)
        folded = self._fold(x)  # (batch * time, *step)
        self._maybe_build(x)
        # y_{b,t} = f(x_{b,t}), all steps in one call                  (batch * time, *out)
        y = self.layer(folded)
        if not isinstance(y, torch.Tensor):
            raise ShapeError(
                f"{owner}: the inner layer {type(self.layer).__name__} returned {type(y).__name__}; "
                "TimeDistributed needs a layer that returns one tensor"
            )
        if y.dim() == 0 or y.shape[0] != folded.shape[0]:
            raise ShapeError(
                f"{owner}: the inner layer {type(self.layer).__name__} changed the batch size from "
                f"{folded.shape[0]} to {tuple(y.shape)[:1]}; it must map (N, ...) to (N, ...)"
            )
        return y.reshape(x.shape[0], x.shape[1], *y.shape[1:])  # (batch, time, *out)

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor | None:
        """The inner layer's own mask unfolded to ``(batch, time, ...)`` if it makes one, else ``mask``."""
        if isinstance(self.layer, Layer):
            x = as_tensor(type(self).__name__, inputs)
            inner = self.layer.compute_mask(self._fold(x), None)
            if inner is not None:
                return inner.reshape(x.shape[0], x.shape[1], *inner.shape[1:])
        return mask

    def get_weights(self) -> list:
        """The inner layer's weights (Keras' layout)."""
        return self.layer.get_weights()

    def set_weights(self, weights: Any) -> None:
        """Load the inner layer's weights (Keras' layout)."""
        self.layer.set_weights(weights)

    def get_config(self) -> dict[str, Any]:
        if not isinstance(self.layer, Layer):
            raise ConfigError(
                f"{type(self).__name__}: cannot save the inner {type(self.layer).__name__} in a config; "
                "only rnnkit Layer subclasses have get_config()"
            )
        return {
            **super().get_config(),
            "layer": serialize(self.layer),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict[str, type] | None = None) -> "TimeDistributed":
        """Rebuild the wrapper and its inner layer (without weights) from :meth:`get_config`'s output.

        ``custom_objects`` maps class names to your own Layer subclasses.
        """
        config = dict(config)
        inner = deserialize(config.pop("layer", None), custom_objects)
        return cls(inner, **config)
