"""Pooling layers: mask-aware global pooling over time, channels-last max pooling, and MaskedMaxPooling1D."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .._base_layer import Layer
from .._validation import (as_int_tuple, as_step_mask, as_tensor, check_bool, check_choice, check_floating, check_ndim,
                           check_positive_int)
from ..errors import ConfigError, ShapeError
from ..saving import register_serializable
from .conv import same_padding

__all__ = ["GlobalAveragePooling1D", "GlobalMaxPooling1D", "GlobalConcatPooling1D", "MaxPooling1D", "MaxPooling2D",
           "MaskedMaxPooling1D"]


def _mean(x: torch.Tensor, m: torch.Tensor | None, keepdims: bool = False) -> torch.Tensor:
    """Mean of ``x`` (batch, time, features) over the steps where ``m`` (batch, time) is True; 0 where none is."""
    if m is None:
        return x.mean(dim=1, keepdim=keepdims)
    w = m.to(x.dtype).unsqueeze(-1)  # (batch, time, 1)
    # y = Σ_t m_t x_t / max(1, Σ_t m_t)                          (batch, features)
    total = (x * w).sum(dim=1, keepdim=keepdims)
    count = w.sum(dim=1, keepdim=keepdims).clamp_min(1.0)
    return total / count


def _max(x: torch.Tensor, m: torch.Tensor | None, keepdims: bool = False) -> torch.Tensor:
    """Maximum of ``x`` over the steps where ``m`` is True; 0 (and no gradient) where none is."""
    if m is None:
        return x.amax(dim=1, keepdim=keepdims)
    valid = m.unsqueeze(-1)  # (batch, time, 1)
    # y = max over {t : m_t} of x_t; masked steps become -inf so they never win
    y = x.masked_fill(~valid, float("-inf")).amax(dim=1, keepdim=keepdims)
    any_valid = valid.any(dim=1, keepdim=keepdims)  # (batch, 1) or (batch, 1, 1)
    return torch.where(any_valid, y, torch.zeros((), dtype=x.dtype, device=x.device))


def _last(x: torch.Tensor, m: torch.Tensor | None, keepdims: bool = False) -> torch.Tensor:
    """``x`` at each row's last step where ``m`` is True (the last step without a mask); 0 where none is."""
    if m is None:
        y = x[:, -1]
    else:
        steps = torch.arange(x.shape[1], device=x.device)
        # t_b = max {t : m_{b,t}}: the last real step of row b                 (batch,)
        last = torch.where(m, steps, torch.zeros_like(steps)).amax(dim=1)
        y = x[torch.arange(x.shape[0], device=x.device), last]  # (batch, features)
        y = torch.where(m.any(dim=1, keepdim=True), y, torch.zeros((), dtype=x.dtype, device=x.device))
    return y.unsqueeze(1) if keepdims else y


#: the reductions :class:`GlobalConcatPooling1D` can concatenate
_POOLS = {"max": _max, "mean": _mean, "last": _last}


class _GlobalPooling1D(Layer):
    """Shared checks and config of the global pooling layers over time."""

    def __init__(self, keepdims: bool = False, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.keepdims = check_bool(type(self).__name__, "keepdims", keepdims)

    def _prepare(self, inputs: Any, mask: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        owner = type(self).__name__
        x = as_tensor(owner, inputs)
        check_ndim(owner, x, 3, "(batch, time, features)")
        check_floating(owner, x)
        return x, None if mask is None else as_step_mask(owner, mask, x)

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """The time axis is pooled away, so no mask flows on: returns None."""
        return None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "keepdims": self.keepdims}

    def extra_repr(self) -> str:
        return f"keepdims={self.keepdims}"


@register_serializable
class GlobalAveragePooling1D(_GlobalPooling1D):
    r"""Average over the time axis, counting only the unmasked steps.

    .. math::
        y_{b,f} = \frac{\sum_t m_{b,t}\, x_{b,t,f}}{\max\big(1, \sum_t m_{b,t}\big)}

    With no mask, :math:`m = 1` and this is the plain mean over time.  A row
    whose steps are all masked gives zeros (Keras would divide 0 by 0 and give
    NaN).

    Shape:
        * input: ``(batch, time, features)``, floating point.
        * mask: optional ``(batch, time)`` bool, True = a real step.
        * output: ``(batch, features)``, or ``(batch, 1, features)`` with ``keepdims``.

    Args:
        keepdims: keep the pooled time axis with size 1 (default False).
        name: layer name.

    Example:
        >>> import torch
        >>> x = torch.tensor([[[1.0], [3.0], [100.0]]])
        >>> GlobalAveragePooling1D()(x, mask=torch.tensor([[True, True, False]]))
        tensor([[2.]])
    """

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Mean over the valid steps of ``inputs``."""
        return _mean(*self._prepare(inputs, mask), self.keepdims)


@register_serializable
class GlobalMaxPooling1D(_GlobalPooling1D):
    r"""Maximum over the time axis, taken over the unmasked steps only.

    .. math::
        y_{b,f} = \max_{t \,:\, m_{b,t}} x_{b,t,f}

    With no mask every step counts.  A row whose steps are all masked has no
    maximum; it gives zeros (and no gradient).

    Shape:
        * input: ``(batch, time, features)``, floating point.
        * mask: optional ``(batch, time)`` bool, True = a real step.
        * output: ``(batch, features)``, or ``(batch, 1, features)`` with ``keepdims``.

    Args:
        keepdims: keep the pooled time axis with size 1 (default False).
        name: layer name.

    Example:
        >>> import torch
        >>> x = torch.tensor([[[1.0], [3.0], [100.0]]])
        >>> GlobalMaxPooling1D()(x, mask=torch.tensor([[True, True, False]]))
        tensor([[3.]])
    """

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Maximum over the valid steps of ``inputs``."""
        return _max(*self._prepare(inputs, mask), self.keepdims)


@register_serializable
class GlobalConcatPooling1D(_GlobalPooling1D):
    r"""Several poolings over time side by side: ULMFiT's concat pooling (Howard & Ruder 2018).

    .. math::
        y_b = \big[\max_{t : m_{b,t}} x_{b,t} \;;\; \mathrm{mean}_{t : m_{b,t}} x_{b,t} \;;\; x_{b, t_b}\big],
        \quad t_b = \max\{t : m_{b,t}\}

    in the order of ``pools`` (any of ``"max"``, ``"mean"``, ``"last"``).  A text
    classifier sees the strongest evidence anywhere (max), the tone of the whole
    (mean) and what the recurrent layer concluded (last).  ``"last"`` is the last
    real step, so for a ``Bidirectional`` layer's output it is the forward
    direction's final state but only the backward direction's first step; pool a
    bidirectional output with ``("max", "mean")``.  Masked steps never count; a row
    with no real step gives zeros.

    Shape:
        * input: ``(batch, time, features)``, floating point.
        * mask: optional ``(batch, time)`` bool, True = a real step.
        * output: ``(batch, len(pools) * features)`` (with ``keepdims`` a time axis of 1 after batch).

    Example:
        >>> import torch
        >>> x = torch.tensor([[[1.0], [3.0], [100.0]]])
        >>> GlobalConcatPooling1D()(x, mask=torch.tensor([[True, True, False]]))
        tensor([[3., 2., 3.]])
    """

    def __init__(self, pools: Any = ("max", "mean", "last"), keepdims: bool = False, *, name: str | None = None) -> None:
        super().__init__(keepdims, name=name)
        owner = type(self).__name__
        pools = (pools,) if isinstance(pools, str) else tuple(pools)
        if not pools:
            raise ConfigError(f"{owner}: `pools` is empty; give some of {', '.join(map(repr, _POOLS))}")
        for pool in pools:
            check_choice(owner, "pools", pool, tuple(_POOLS))
        if len(set(pools)) != len(pools):
            raise ConfigError(f"{owner}: `pools` names a pooling twice ({', '.join(pools)}); name each once")
        self.pools = pools

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The pools of ``inputs`` over its valid steps, concatenated along the features."""
        x, m = self._prepare(inputs, mask)
        return torch.cat([_POOLS[p](x, m, self.keepdims) for p in self.pools], dim=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pools": list(self.pools)}

    def extra_repr(self) -> str:
        return f"pools={self.pools}, keepdims={self.keepdims}"


class _MaxPooling(Layer):
    """Shared machinery of the channels-last max pooling layers (``rank`` spatial axes)."""

    rank: int = 1
    _layout: str = ""

    def __init__(self, pool_size: Any, strides: Any, padding: str, name: str | None) -> None:
        super().__init__(name=name)
        owner = type(self).__name__
        self.pool_size = as_int_tuple(owner, "pool_size", pool_size, self.rank)
        self.strides = self.pool_size if strides is None else as_int_tuple(owner, "strides", strides, self.rank)
        self.padding = check_choice(owner, "padding", padding.lower() if isinstance(padding, str) else padding, ("valid", "same"))

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Max over each window; a ``mask`` is accepted and consumed (not used)."""
        owner = type(self).__name__
        x = as_tensor(owner, inputs)
        check_ndim(owner, x, self.rank + 2, self._layout)
        check_floating(owner, x)
        pads = []
        for axis, (size, k, s) in enumerate(zip(x.shape[1:-1], self.pool_size, self.strides)):
            if self.padding == "same":
                pads.append(same_padding(size, k, s))
            elif size < k:
                raise ShapeError(
                    f"{owner}: input of shape {tuple(x.shape)} has size {size} on axis {axis + 1}, smaller than "
                    f"pool_size {k}; with padding='valid' the output would be empty — use padding='same' or a "
                    "smaller pool_size"
                )
            else:
                pads.append((0, 0))
        # channels last -> channels first: (batch, *spatial, ch) -> (batch, ch, *spatial)
        xc = torch.movedim(x, -1, 1)
        if all(before == after for before, after in pads):
            # symmetric padding: max_pool's own padding already ignores the padded positions
            pool_padding = tuple(before for before, _ in pads)
        else:
            # asymmetric 'same': pad with -inf so padded positions never win a window
            flat = [p for pair in reversed(pads) for p in pair]
            xc = F.pad(xc, flat, value=float("-inf"))
            pool_padding = 0
        pool = F.max_pool1d if self.rank == 1 else F.max_pool2d
        # y = max over each window                                    (batch, ch, *out_spatial)
        y = pool(xc, self.pool_size, self.strides, pool_padding)
        return torch.movedim(y, 1, -1)  # (batch, *out_spatial, ch)

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """Pooling changes the number of steps, so no mask flows on: returns None."""
        return None

    def get_config(self) -> dict[str, Any]:
        def out(t: tuple[int, ...]) -> Any:
            return t[0] if self.rank == 1 else list(t)

        return {**super().get_config(), "pool_size": out(self.pool_size), "strides": out(self.strides), "padding": self.padding}

    def extra_repr(self) -> str:
        return f"pool_size={self.pool_size}, strides={self.strides}, padding={self.padding!r}"


@register_serializable
class MaxPooling1D(_MaxPooling):
    r"""Max pooling over the steps of channels-last input ``(batch, steps, channels)``.

    .. math::
        y_{b,i,c} = \max_{0 \le j < p} \tilde x_{b,\, s i + j,\, c}

    with :math:`p` = ``pool_size`` and :math:`s` = ``strides`` (default
    ``pool_size``).  ``'valid'`` gives ``floor((steps - p) / s) + 1`` outputs;
    ``'same'`` gives ``ceil(steps / s)`` with TensorFlow's padding (the odd
    extra position after), where padded positions never count as a maximum.

    Shape:
        * input: ``(batch, steps, channels)``, floating point.
        * output: ``(batch, steps_out, channels)``.

    An incoming mask is consumed: :meth:`compute_mask` returns None.

    Args:
        pool_size: window length (default 2).
        strides: step between windows; None = ``pool_size``.
        padding: ``'valid'`` (default) or ``'same'``.
        name: layer name.

    Example:
        >>> import torch
        >>> x = torch.tensor([[[1.0], [5.0], [2.0], [4.0], [3.0]]])
        >>> MaxPooling1D(2)(x).flatten().tolist()
        [5.0, 4.0]
        >>> MaxPooling1D(2, padding="same")(x).flatten().tolist()
        [5.0, 4.0, 3.0]
    """

    rank = 1
    _layout = "(batch, steps, channels)"

    def __init__(
        self,
        pool_size: int | tuple[int] = 2,
        strides: int | tuple[int] | None = None,
        padding: str = "valid",
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(pool_size, strides, padding, name)


@register_serializable
class MaskedMaxPooling1D(Layer):
    r"""Max pooling over windows of ``pool_size`` real steps of padded sequences, keeping a mask (rnnkit's).

    .. math::
        y_{b,i,c} = \max_{\{j \,:\, 0 \le j < p,\ m_{b,pi+j}\}} x_{b,\, p i + j,\, c},
        \qquad m'_{b,i} = \bigvee_{0 \le j < p} m_{b,pi+j}

    with :math:`p` = ``pool_size`` and :math:`m` the ``(batch, steps)`` mask.
    The windows start at the first step and do not overlap; the last is filled
    out with masked steps (PyTorch's ``ceil_mode``), so ``ceil(steps / p)``
    outputs.  A sequence of ``n`` real steps has ``ceil(n / p)`` real outputs, and
    they do not depend on the padding after it in its batch (``MaxPooling1D``'s
    ``'same'`` centres its windows on the batch's width, so they do).  Windows with
    no real step give 0 and are masked.  Without a mask every step is real.

    Shape:
        * input: ``(batch, steps, channels)``, floating point; mask ``(batch, steps)``.
        * output: ``(batch, ceil(steps / pool_size), channels)``; mask ``(batch, ceil(steps / pool_size))``.

    Args:
        pool_size: steps per window (default 2).
        name: layer name.

    Example:
        >>> import torch
        >>> x = torch.tensor([[[1.0], [5.0], [2.0], [4.0], [3.0]]])
        >>> MaskedMaxPooling1D(2)(x, mask=torch.tensor([[True, True, True, False, False]])).flatten().tolist()
        [5.0, 2.0, 0.0]
    """

    def __init__(self, pool_size: int = 2, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.pool_size = check_positive_int(type(self).__name__, "pool_size", pool_size)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        """Max over windows of ``pool_size`` steps of ``x`` (batch, steps, channels) from the first step, the last one
        short (``ceil_mode``: no padding to build, so an exported graph keeps the steps dynamic)."""
        p = self.pool_size
        return F.max_pool1d(x.transpose(1, 2), p, p, ceil_mode=True).transpose(1, 2)  # (B, ceil(T/p), C)

    def _real(self, m: torch.Tensor) -> torch.Tensor:
        """m'_i: whether window i of the ``(batch, steps)`` mask ``m`` holds a real step   (B, ceil(T/p))."""
        return self._pool(m.float().unsqueeze(-1)).squeeze(-1) > 0

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        owner = type(self).__name__
        x = as_tensor(owner, inputs)
        check_ndim(owner, x, 3, "(batch, steps, channels)")
        check_floating(owner, x)
        if mask is None:
            return self._pool(x)
        m = as_step_mask(owner, mask, x)
        # y_i = max over the real steps of window i; -inf never wins          (B, ceil(T/p), C)
        y = self._pool(x.masked_fill(~m.unsqueeze(-1), float("-inf")))
        return y.masked_fill(~self._real(m).unsqueeze(-1), 0.0)  # no real step: 0

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor | None:
        """m'_i = any real step in window i; None without a mask."""
        if mask is None:
            return None
        owner = type(self).__name__
        return self._real(as_step_mask(owner, mask, as_tensor(owner, inputs)))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pool_size": self.pool_size}

    def extra_repr(self) -> str:
        return f"pool_size={self.pool_size}"


@register_serializable
class MaxPooling2D(_MaxPooling):
    r"""Max pooling over channels-last images ``(batch, height, width, channels)``.

    .. math::
        y_{b,i,j,c} = \max_{0 \le u < p_h,\ 0 \le v < p_w} \tilde x_{b,\, s_h i + u,\, s_w j + v,\, c}

    ``strides`` defaults to ``pool_size``; ``'same'`` padding follows TensorFlow
    on each axis (the odd extra position at the bottom / right), and padded
    positions never count as a maximum.

    Shape:
        * input: ``(batch, height, width, channels)``, floating point.
        * output: ``(batch, height_out, width_out, channels)``.

    An incoming mask is consumed: :meth:`compute_mask` returns None.

    Args:
        pool_size: int or (p_h, p_w) (default (2, 2)).
        strides: int, (s_h, s_w) or None = ``pool_size``.
        padding: ``'valid'`` (default) or ``'same'``.
        name: layer name.

    Example:
        >>> import torch
        >>> MaxPooling2D()(torch.zeros(1, 28, 28, 3)).shape
        torch.Size([1, 14, 14, 3])
    """

    rank = 2
    _layout = "(batch, height, width, channels)"

    def __init__(
        self,
        pool_size: int | tuple[int, int] = (2, 2),
        strides: int | tuple[int, int] | None = None,
        padding: str = "valid",
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(pool_size, strides, padding, name)
