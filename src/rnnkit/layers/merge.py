"""Merge layers: Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum (Keras' merging layers).

Each takes a list of tensors, the way a functional model joins two branches:
``Concatenate()([h_text, h_numbers])``.  Masks follow Keras: the elementwise
merges keep a step where any input's mask keeps it (no mask when an input has
none); :class:`Concatenate` concatenates the masks, broadcast to the inputs,
and keeps a step where any of them is set (an unmasked input counts as all set).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from .._base_layer import Layer
from .._validation import as_tensor
from ..errors import ConfigError, ShapeError
from ..saving import register_serializable

__all__ = ["Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]


class _Merge(Layer):
    """Shared machinery: a list of at least two tensors in, one out; masks OR-ed as Keras does."""

    supports_masking = True
    _min_inputs = 2
    _max_inputs: int | None = None

    def _tensors(self, inputs: Any) -> list[torch.Tensor]:
        owner = type(self).__name__
        if not isinstance(inputs, (list, tuple)):
            raise ShapeError(f"{owner}: expected a list of tensors, e.g. {owner}()([a, b]), got {type(inputs).__name__}")
        n = len(inputs)
        if n < self._min_inputs or (self._max_inputs is not None and n > self._max_inputs):
            wanted = f"exactly {self._max_inputs}" if self._max_inputs == self._min_inputs else f"at least {self._min_inputs}"
            raise ShapeError(f"{owner}: expected {wanted} tensors, got {n}")
        return [as_tensor(owner, x) for x in inputs]

    def compute_mask(self, inputs: Any, mask: Any = None) -> torch.Tensor | None:
        """The OR of the inputs' masks; None when any input has no mask (Keras' merge rule)."""
        if mask is None or not isinstance(mask, (list, tuple)) or any(m is None for m in mask):
            return None
        out = mask[0]
        for m in mask[1:]:
            out = out | m
        return out

    def _merge(self, xs: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, inputs: Sequence[torch.Tensor], mask: Any = None) -> torch.Tensor:
        """Merge the tensors of ``inputs`` (they broadcast against each other); ``mask`` is not used."""
        xs = self._tensors(inputs)
        try:
            return self._merge(xs)
        except RuntimeError as exc:
            shapes = ", ".join(str(tuple(x.shape)) for x in xs)
            raise ShapeError(f"{type(self).__name__}: cannot merge tensors of shapes {shapes} ({str(exc).splitlines()[0]})") from None


@register_serializable
class Add(_Merge):
    r"""Elementwise sum of the inputs: :math:`y = \sum_i x_i`.

    Example:
        >>> import torch
        >>> Add()([torch.ones(2, 3), torch.full((2, 3), 2.0)])[0].tolist()
        [3.0, 3.0, 3.0]
    """

    def _merge(self, xs: list[torch.Tensor]) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


@register_serializable
class Subtract(_Merge):
    r"""The first input minus the second: :math:`y = x_1 - x_2` (exactly two inputs).

    Example:
        >>> import torch
        >>> Subtract()([torch.ones(1, 2), torch.full((1, 2), 3.0)]).tolist()
        [[-2.0, -2.0]]
    """

    _max_inputs = 2

    def _merge(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return xs[0] - xs[1]


@register_serializable
class Multiply(_Merge):
    r"""Elementwise product of the inputs: :math:`y = \prod_i x_i`.

    Example:
        >>> import torch
        >>> Multiply()([torch.full((1, 2), 2.0), torch.full((1, 2), 3.0)]).tolist()
        [[6.0, 6.0]]
    """

    def _merge(self, xs: list[torch.Tensor]) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


@register_serializable
class Average(_Merge):
    r"""Elementwise mean of the inputs: :math:`y = \frac{1}{n} \sum_i x_i`.

    Example:
        >>> import torch
        >>> Average()([torch.zeros(1, 2), torch.full((1, 2), 3.0)]).tolist()
        [[1.5, 1.5]]
    """

    def _merge(self, xs: list[torch.Tensor]) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out / len(xs)


@register_serializable
class Maximum(_Merge):
    r"""Elementwise maximum of the inputs: :math:`y = \max_i x_i`.

    Example:
        >>> import torch
        >>> Maximum()([torch.tensor([[1.0, 5.0]]), torch.tensor([[4.0, 2.0]])]).tolist()
        [[4.0, 5.0]]
    """

    def _merge(self, xs: list[torch.Tensor]) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = torch.maximum(out, x)
        return out


@register_serializable
class Minimum(_Merge):
    r"""Elementwise minimum of the inputs: :math:`y = \min_i x_i`.

    Example:
        >>> import torch
        >>> Minimum()([torch.tensor([[1.0, 5.0]]), torch.tensor([[4.0, 2.0]])]).tolist()
        [[1.0, 2.0]]
    """

    def _merge(self, xs: list[torch.Tensor]) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = torch.minimum(out, x)
        return out


@register_serializable
class Concatenate(_Merge):
    r"""Join the inputs along ``axis`` (the features, -1, by default): :math:`y = [x_1; x_2; \dots]`.

    Shape:
        * inputs: tensors of equal shape except along ``axis``.
        * output: their sizes along ``axis`` added up.

    A step is masked out only where every input's mask (broadcast to the inputs'
    shape, an unmasked input counting as all valid) masks it, as in Keras.

    Args:
        axis: the axis to join along (default -1).
        name: layer name.

    Example:
        >>> import torch
        >>> Concatenate()([torch.ones(2, 5, 3), torch.zeros(2, 5, 4)]).shape
        torch.Size([2, 5, 7])
        >>> Concatenate(axis=1)([torch.ones(2, 5, 3), torch.zeros(2, 1, 3)]).shape
        torch.Size([2, 6, 3])
    """

    _min_inputs = 1

    def __init__(self, axis: int = -1, *, name: str | None = None) -> None:
        super().__init__(name=name)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ConfigError(f"Concatenate: `axis` must be an int, got {axis!r}")
        self.axis = axis

    def _merge(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs, dim=self.axis)

    def compute_mask(self, inputs: Any, mask: Any = None) -> torch.Tensor | None:
        if mask is None or not isinstance(mask, (list, tuple)) or all(m is None for m in mask):
            return None
        xs = self._tensors(inputs)
        full = []
        for x, m in zip(xs, mask):
            if m is None:
                full.append(torch.ones(x.shape, dtype=torch.bool, device=x.device))
            else:
                m = m.to(torch.bool)
                while m.dim() < x.dim():
                    m = m.unsqueeze(-1)
                full.append(m.expand(x.shape))
        return torch.cat(full, dim=self.axis).any(dim=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}

    def extra_repr(self) -> str:
        return f"axis={self.axis}"
