"""Channels-last convolutions: Conv1D and Conv2D with Keras' 'valid', 'same' and 'causal' padding, and MaskedConv1D.

Keras' convolutions consume a mask (the steps after them are all real); rnnkit's
``MaskedConv1D`` keeps it, for padded batches of texts or utterances.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from .._validation import (as_int_tuple, as_step_mask, as_tensor, check_choice, check_floating, check_ndim,
                           check_positive_int)
from ..errors import ConfigError, ShapeError
from ..saving import register_serializable
from .core import KernelLayer

__all__ = ["Conv1D", "Conv2D", "MaskedConv1D"]




def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's 'same' padding of one axis: (before, after), the odd extra unit after.

    The output has ``ceil(size / stride)`` positions; the padding is the least
    that makes the last window fit, split with the larger half at the end.
    """
    span = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


class _Conv(KernelLayer):
    """Shared machinery of :class:`Conv1D` and :class:`Conv2D` (``rank`` spatial axes, channels last)."""

    rank: int = 1
    _layout: str = ""
    _paddings: tuple[str, ...] = ("valid", "same")

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, ...],
        strides: int | tuple[int, ...],
        padding: str,
        dilation_rate: int | tuple[int, ...],
        activation: str | Callable | None,
        use_bias: bool,
        kernel_initializer: str | Callable,
        bias_initializer: str | Callable,
        input_size: int | None,
        name: str | None,
    ) -> None:
        super().__init__(name=name)
        owner = type(self).__name__
        self.filters = check_positive_int(owner, "filters", filters)
        self.kernel_size = as_int_tuple(owner, "kernel_size", kernel_size, self.rank)
        self.strides = as_int_tuple(owner, "strides", strides, self.rank)
        self.padding = check_choice(owner, "padding", padding.lower() if isinstance(padding, str) else padding, self._paddings)
        self.dilation_rate = as_int_tuple(owner, "dilation_rate", dilation_rate, self.rank)
        self._init_kernel(activation, use_bias, kernel_initializer, bias_initializer, input_size)
        if self.input_size is not None:
            self.build((None,) * (self.rank + 1) + (self.input_size,))

    # ------------------------------------------------------------ weights
    def build(self, input_shape: tuple[int, ...], *, device: Any = None, dtype: torch.dtype | None = None) -> None:
        in_channels = input_shape[-1]
        self._set_input_size(in_channels, "channels")
        self._create_kernel((self.filters, in_channels, *self.kernel_size), device, dtype)
        super().build(input_shape)

    # ------------------------------------------------------------ the call
    def _pads(self, shape: tuple[int, ...]) -> list[tuple[int, int]]:
        """(before, after) zero padding of each spatial axis of an input of ``shape``, checking that a window fits."""
        owner = type(self).__name__
        pads = []
        for axis, (size, k, s, d) in enumerate(zip(shape[1:-1], self.kernel_size, self.strides, self.dilation_rate)):
            span = (k - 1) * d + 1
            if self.padding == "same":
                pads.append(same_padding(size, k, s, d))
            elif self.padding == "causal":
                pads.append((span - 1, 0))
            else:
                if size < span:
                    raise ShapeError(
                        f"{owner}: input of shape {shape} has size {size} on axis {axis + 1}, smaller "
                        f"than the kernel's span {span} (kernel_size={k}, dilation_rate={d}); with padding='valid' "
                        "the output would be empty — use padding='same' or a longer input"
                    )
                pads.append((0, 0))
        return pads

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Convolve channels-last ``inputs``; a ``mask`` is accepted and consumed (not used)."""
        owner = type(self).__name__
        x = as_tensor(owner, inputs)
        check_ndim(owner, x, self.rank + 2, self._layout)
        check_floating(owner, x)
        self._maybe_build(x)
        self._check_input_features(x, "channels")
        pads = self._pads(tuple(x.shape))
        # channels last -> channels first: (batch, *spatial, in) -> (batch, in, *spatial); the axes counted from the
        # front, as ONNX's Transpose needs them (a -1 here exported an invalid permutation for Conv2D)
        xc = torch.movedim(x, self.rank + 1, 1)
        if all(before == after for before, after in pads):
            conv_padding = tuple(before for before, _ in pads)
        else:
            # F.pad lists the last axis first: (w_before, w_after, h_before, h_after)
            flat = [p for pair in reversed(pads) for p in pair]
            xc = F.pad(xc, flat)
            conv_padding = 0
        conv = F.conv1d if self.rank == 1 else F.conv2d
        # z = x ⋆ W + b, a cross-correlation as in Keras and PyTorch     (batch, filters, *out_spatial)
        z = conv(xc, self.weight, self.bias, stride=self.strides, padding=conv_padding, dilation=self.dilation_rate)
        # y = φ(z), back to channels last                                (batch, *out_spatial, filters)
        return self.activation(torch.movedim(z, 1, self.rank + 1))

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """A convolution consumes the mask: returns None."""
        return None

    def get_config(self) -> dict[str, Any]:
        def out(t: tuple[int, ...]) -> Any:
            return t[0] if self.rank == 1 else list(t)

        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": out(self.kernel_size),
            "strides": out(self.strides),
            "padding": self.padding,
            "dilation_rate": out(self.dilation_rate),
            **self._kernel_config(),
        }

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, filters={self.filters}, kernel_size={self.kernel_size}, "
            f"strides={self.strides}, padding={self.padding!r}, dilation_rate={self.dilation_rate}"
        )


@register_serializable
class Conv1D(_Conv):
    r"""1-D convolution over the steps of channels-last input ``(batch, steps, channels)``.

    .. math::
        y_{b,t,f} = \phi\Big(b_f + \sum_{c} \sum_{j=0}^{k-1}
            W_{f,c,j}\, \tilde x_{b,\, s t + d j,\, c}\Big)

    where :math:`\tilde x` is the padded input, :math:`s` = ``strides``,
    :math:`d` = ``dilation_rate``, :math:`k` = ``kernel_size`` and :math:`\phi`
    is ``activation``.  Padding:

    * ``'valid'``: none; ``steps_out = floor((steps - d (k - 1) - 1) / s) + 1``.
    * ``'same'``: TensorFlow's rule, ``steps_out = ceil(steps / s)``; the padding
      is ``max((steps_out - 1) s + d (k - 1) + 1 - steps, 0)`` zeros, half before
      and the odd one after (so it can be asymmetric, also with strides > 1).
    * ``'causal'``: ``d (k - 1)`` zeros before, none after, so output step t
      sees only inputs up to t.

    Unlike Keras, strides > 1 together with dilation_rate > 1 is allowed.

    Shape:
        * input: ``(batch, steps, input_size)``, floating point.
        * output: ``(batch, steps_out, filters)``.
        * ``weight``: ``(filters, input_size, kernel_size)``, ``bias``: ``(filters,)``
          — the layout of ``torch.nn.Conv1d`` (Keras' kernel is ``weight.permute(2, 1, 0)``).

    An incoming mask is consumed: :meth:`compute_mask` returns None.

    Args:
        filters: number of output channels.
        kernel_size: window length (int or 1-tuple).
        strides: step between windows (default 1).
        padding: ``'valid'`` (default), ``'same'`` or ``'causal'``.
        dilation_rate: spacing between kernel taps (default 1).
        activation: name or callable; None = linear.
        use_bias: add ``bias`` (default True).
        kernel_initializer: default ``'glorot_uniform'``.
        bias_initializer: default ``'zeros'``.
        input_size: input channels; when None the weights are created at the first call.
        name: layer name.

    Example:
        >>> import torch
        >>> conv = Conv1D(8, 3, strides=2, padding="same")
        >>> conv(torch.zeros(2, 7, 5)).shape
        torch.Size([2, 4, 8])
        >>> conv.weight.shape
        torch.Size([8, 5, 3])
    """

    rank = 1
    _layout = "(batch, steps, channels)"
    _paddings = ("valid", "same", "causal")

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int],
        strides: int | tuple[int] = 1,
        padding: str = "valid",
        dilation_rate: int | tuple[int] = 1,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        kernel_initializer: str | Callable = "glorot_uniform",
        bias_initializer: str | Callable = "zeros",
        input_size: int | None = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(
            filters, kernel_size, strides, padding, dilation_rate, activation, use_bias,
            kernel_initializer, bias_initializer, input_size, name,
        )


@register_serializable
class MaskedConv1D(Conv1D):
    r"""A :class:`Conv1D` over padded sequences that uses the mask and keeps it (an rnnkit layer; Keras has none).

    .. math::
        y_{b,t,f} = m_{b,t}\, \phi\Big(b_f + \sum_{c} \sum_{j=0}^{k-1}
            W_{f,c,j}\, \widetilde{(m x)}_{b,\, t + d j,\, c}\Big)

    with :math:`m` the ``(batch, steps)`` mask (1 = a real step).  Masked input
    steps count as zeros, as the ``'same'`` or ``'causal'`` padding does, so a
    sequence's outputs do not depend on the padding after it in its batch: alone
    or padded, it gives the same real steps.  Masked output steps are
    0 and stay masked for the next layer.  Strides are 1, so each output step is
    an input step and the mask still fits.  Without a mask it is :class:`Conv1D`.

    Shape:
        * input: ``(batch, steps, input_size)``; mask ``(batch, steps)``.
        * output: ``(batch, steps, filters)``; the mask passes.
        * ``weight``, ``bias``: as :class:`Conv1D`.

    Args:
        filters, kernel_size: as :class:`Conv1D`.
        dilation_rate, activation, use_bias, kernel_initializer, bias_initializer, input_size, name: as
            :class:`Conv1D`, by keyword.
        padding: ``'same'`` (default) or ``'causal'``.
        strides: 1 only (accepted because a saved config names it).

    Example:
        >>> import torch
        >>> conv = MaskedConv1D(1, 3, use_bias=False, kernel_initializer="ones")
        >>> x = torch.tensor([[[1.0], [2.0], [9.0]]])
        >>> conv(x, mask=torch.tensor([[True, True, False]])).flatten().tolist()
        [3.0, 3.0, 0.0]
    """

    _paddings = ("same", "causal")

    def __init__(self, filters: int, kernel_size: int | tuple[int], strides: int | tuple[int] = 1,
                 padding: str = "same", **kwargs: Any) -> None:
        if as_int_tuple(type(self).__name__, "strides", strides, 1) != (1,):
            raise ConfigError(f"{type(self).__name__}: strides must be 1 (each output step is an input step, so the "
                              f"mask still fits), got {strides!r}; use Conv1D for strided convolutions")
        super().__init__(filters, kernel_size, 1, padding, **kwargs)  # the other arguments are Conv1D's, by keyword

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Convolve ``inputs`` with their masked steps as zeros; masked output steps are 0."""
        if mask is None:
            return super().forward(inputs)
        owner = type(self).__name__
        x = as_tensor(owner, inputs)
        check_ndim(owner, x, 3, self._layout)
        m = as_step_mask(owner, mask, x).unsqueeze(-1).to(x.dtype)  # (B, T, 1), 1 = a real step
        # y = m · φ(W ⋆ (m x) + b)                                       (B, T, filters)
        return super().forward(x * m) * m

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor | None:
        """The steps are the input's, so the mask passes unchanged."""
        return mask


@register_serializable
class Conv2D(_Conv):
    r"""2-D convolution over channels-last images ``(batch, height, width, channels)``.

    .. math::
        y_{b,i,j,f} = \phi\Big(b_f + \sum_{c} \sum_{u=0}^{k_h-1} \sum_{v=0}^{k_w-1}
            W_{f,c,u,v}\, \tilde x_{b,\, s_h i + d_h u,\, s_w j + d_w v,\, c}\Big)

    with :math:`\tilde x` the padded input.  ``padding='same'`` follows
    TensorFlow on each axis: ``out = ceil(size / stride)`` and the needed zeros
    are split half before, the odd one after (bottom / right), also with
    strides > 1.  ``'valid'`` pads nothing.

    Shape:
        * input: ``(batch, height, width, input_size)``, floating point.
        * output: ``(batch, height_out, width_out, filters)``.
        * ``weight``: ``(filters, input_size, k_h, k_w)``, ``bias``: ``(filters,)``
          — the layout of ``torch.nn.Conv2d`` (Keras' kernel is ``weight.permute(2, 3, 1, 0)``).

    An incoming mask is consumed: :meth:`compute_mask` returns None.

    Args:
        filters: number of output channels.
        kernel_size: int or (k_h, k_w).
        strides: int or (s_h, s_w) (default (1, 1)).
        padding: ``'valid'`` (default) or ``'same'``.
        dilation_rate: int or (d_h, d_w) (default (1, 1)).
        activation: name or callable; None = linear.
        use_bias: add ``bias`` (default True).
        kernel_initializer: default ``'glorot_uniform'``.
        bias_initializer: default ``'zeros'``.
        input_size: input channels; when None the weights are created at the first call.
        name: layer name.

    Example:
        >>> import torch
        >>> conv = Conv2D(4, (3, 3), strides=2, padding="same", activation="relu")
        >>> conv(torch.zeros(1, 28, 28, 1)).shape
        torch.Size([1, 14, 14, 4])
    """

    rank = 2
    _layout = "(batch, height, width, channels)"
    _paddings = ("valid", "same")

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, int],
        strides: int | tuple[int, int] = (1, 1),
        padding: str = "valid",
        dilation_rate: int | tuple[int, int] = (1, 1),
        activation: str | Callable | None = None,
        use_bias: bool = True,
        kernel_initializer: str | Callable = "glorot_uniform",
        bias_initializer: str | Callable = "zeros",
        input_size: int | None = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(
            filters, kernel_size, strides, padding, dilation_rate, activation, use_bias,
            kernel_initializer, bias_initializer, input_size, name,
        )
