"""Core feed-forward layers: Dense, Dropout, SpatialDropout1D (LockedDropout), Activation, Flatten and Masking."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import activations, initializers
from .._base_layer import Layer
from .._validation import (as_tensor, check_bool, check_floating, check_min_ndim, check_ndim, check_positive_int,
                           check_rate, check_real)
from ..errors import ConfigError, ShapeError
from ..saving import register_serializable

__all__ = ["Dense", "Dropout", "SpatialDropout1D", "LockedDropout", "Activation", "Flatten", "Masking"]




class KernelLayer(Layer):
    """A layer with one ``weight`` and an optional ``bias``, created at build time (Dense, Conv)."""

    def _init_kernel(
        self,
        activation: str | Callable | None,
        use_bias: bool,
        kernel_initializer: str | Callable,
        bias_initializer: str | Callable,
        input_size: int | None,
    ) -> None:
        owner = type(self).__name__
        self.activation = activations.get(activation)
        self.use_bias = check_bool(owner, "use_bias", use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.input_size = self._check_input_size(owner, input_size)
        self.register_parameter("weight", None)
        self.register_parameter("bias", None)

    def _input_shape_from_state(self, state_dict: dict[str, torch.Tensor], prefix: str) -> tuple[Any, ...] | None:
        weight = state_dict.get(prefix + "weight")
        # weight (out, in, *kernel) <- input (batch, *spatial, in)
        return None if weight is None else (None,) * (weight.dim() - 1) + (weight.shape[1],)

    def _create_kernel(self, weight_shape: tuple[int, ...], device: Any, dtype: torch.dtype | None) -> None:
        kw = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(*weight_shape, **kw))
        if self.use_bias:
            self.bias = nn.Parameter(torch.empty(weight_shape[0], **kw))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """(Re)initialise the weights with the configured initialisers (fans as Keras computes them)."""
        if self.weight is None:
            self._require_built("reset_parameters")
        self.kernel_initializer(self.weight)
        if self.bias is not None:
            self.bias_initializer(self.bias)

    def get_weights(self) -> list:
        """``[kernel, bias]`` in Keras' layout: the kernel is ``weight`` with the output axis last
        (Dense ``(in, units)``, Conv1D ``(k, in, filters)``, Conv2D ``(kh, kw, in, filters)``)."""
        self._require_built("get_weights")
        perm = list(range(2, self.weight.dim())) + [1, 0]
        out = [self.weight.detach().permute(*perm).cpu().numpy().copy()]
        if self.bias is not None:
            out.append(self.bias.detach().cpu().numpy().copy())
        return out

    @torch.no_grad()
    def set_weights(self, weights: Any) -> None:
        """Load ``[kernel, bias]`` in Keras' layout (see :meth:`get_weights`); builds the layer if needed."""
        weights = list(weights)
        if not self.built and weights and hasattr(weights[0], "shape") and len(weights[0].shape) >= 2:
            self.build((None, int(weights[0].shape[-2])))
        self._require_built("set_weights")
        perm = list(range(2, self.weight.dim())) + [1, 0]
        keras_shape = tuple(self.weight.shape[p] for p in perm)
        expected = [("kernel", keras_shape)] + ([("bias", tuple(self.bias.shape))] if self.bias is not None else [])
        arrays = self._keras_arrays(weights, expected)
        inverse = [perm.index(i) for i in range(len(perm))]
        self.weight.copy_(arrays[0].permute(*inverse).to(self.weight))
        if self.bias is not None:
            self.bias.copy_(arrays[1].to(self.bias))

    def _kernel_config(self) -> dict[str, Any]:
        return {
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "input_size": self.input_size,
        }


@register_serializable
class Dense(KernelLayer):
    r"""A fully connected layer on the last axis: ``activation(x W^T + b)``.

    .. math::
        y = \phi(x W^T + b)

    where :math:`\phi` is ``activation`` (identity by default).  Every axis but
    the last is treated as a batch axis, so a ``(batch, time, features)`` input
    gives ``(batch, time, units)`` — the same result as Keras' ``Dense`` (and as
    wrapping it in ``TimeDistributed``).

    Shape:
        * input: ``(*, input_size)``, at least 2 dims, floating point.
        * output: ``(*, units)``.
        * ``weight``: ``(units, input_size)`` and ``bias``: ``(units,)``, the
          layout of ``torch.nn.Linear`` (Keras' kernel is ``weight.T``).

    A mask passes through unchanged (``supports_masking``).

    Args:
        units: size of the output's last axis.
        activation: name from :mod:`rnnkit.activations` or a callable; None = linear.
        use_bias: add the bias ``b`` (default True).
        kernel_initializer: initialiser of ``weight`` (default ``'glorot_uniform'``).
        bias_initializer: initialiser of ``bias`` (default ``'zeros'``).
        input_size: size of the input's last axis; when None the weights are
            created at the first call.
        name: layer name (derived from the class name by default).

    Example:
        >>> import torch
        >>> layer = Dense(3, activation="relu", input_size=4)
        >>> layer.weight.shape
        torch.Size([3, 4])
        >>> layer(torch.ones(2, 5, 4)).shape
        torch.Size([2, 5, 3])
    """

    supports_masking = True

    def __init__(
        self,
        units: int,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        kernel_initializer: str | Callable = "glorot_uniform",
        bias_initializer: str | Callable = "zeros",
        input_size: int | None = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        owner = type(self).__name__
        self.units = check_positive_int(owner, "units", units)
        self._init_kernel(activation, use_bias, kernel_initializer, bias_initializer, input_size)
        if self.input_size is not None:
            self.build((None, self.input_size))

    def build(self, input_shape: tuple[int, ...], *, device: Any = None, dtype: torch.dtype | None = None) -> None:
        input_size = input_shape[-1]
        self._set_input_size(input_size)
        self._create_kernel((self.units, input_size), device, dtype)
        super().build(input_shape)

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Apply the layer; ``mask`` is accepted and ignored (see :meth:`compute_mask`)."""
        x = self._checked_features(inputs)
        # y = φ(x W^T + b)                                            (*, units)
        return self.activation(F.linear(x, self.weight, self.bias))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            **self._kernel_config(),
        }

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, units={self.units}, use_bias={self.use_bias}"


@register_serializable
class Dropout(Layer):
    r"""Inverted dropout: zero a fraction ``rate`` of the inputs while training.

    .. math::
        y = \frac{m \odot x}{1 - p}, \qquad m_i \sim \mathrm{Bernoulli}(1 - p)

    with :math:`p` = ``rate``.  Dividing by :math:`1 - p` keeps the expected
    value of every unit unchanged, so in evaluation mode (``layer.eval()``) the
    layer is the identity.  Training mode is PyTorch's ``module.training`` flag.

    ``noise_shape`` shares one draw along some axes, as in Keras: for inputs of
    shape ``(batch, time, features)``, ``noise_shape=(None, 1, None)`` drops the
    same features at every time step.  ``None`` entries take the input's size;
    an integer entry must be 1 or the input's size on that axis.

    ``seed`` makes the sequence of masks reproducible: the n-th training call of
    a layer created with the same seed draws the same mask on the same device.

    Shape:
        * input: any shape, floating point.
        * output: same as the input.

    A mask passes through unchanged (``supports_masking``).

    Args:
        rate: fraction of units to drop, in [0, 1).
        noise_shape: None (an independent draw per element) or a sequence with
            one entry per input axis, each None, 1 or the axis size.
        seed: optional non-negative integer seed.
        name: layer name.

    Example:
        >>> import torch
        >>> layer = Dropout(0.5, seed=0)
        >>> y = layer(torch.ones(2, 1000))
        >>> sorted(set(y.flatten().tolist()))
        [0.0, 2.0]
        >>> torch.equal(layer.eval()(torch.ones(2, 3)), torch.ones(2, 3))
        True
    """

    supports_masking = True

    def __init__(
        self,
        rate: float,
        noise_shape: Sequence[int | None] | None = None,
        seed: int | None = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        owner = type(self).__name__
        self.rate = check_rate(owner, "rate", rate)
        self.noise_shape = self._check_noise_shape(noise_shape)
        self.seed = check_positive_int(owner, "seed", seed, allow_none=True, minimum=0)
        self._calls = 0

    def _check_noise_shape(self, noise_shape: Any) -> tuple[int | None, ...] | None:
        if noise_shape is None:
            return None
        owner = type(self).__name__
        if isinstance(noise_shape, (str, bytes)) or not isinstance(noise_shape, Sequence):
            raise ConfigError(
                f"{owner}: `noise_shape` must be None or a sequence of positive integers / None, "
                f"got {noise_shape!r} ({type(noise_shape).__name__})"
            )
        return tuple(check_positive_int(owner, "noise_shape entry", n, allow_none=True) for n in noise_shape)

    def _resolve_noise_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        if self.noise_shape is None:
            return tuple(x.shape)
        owner = type(self).__name__
        if len(self.noise_shape) != x.dim():
            raise ShapeError(
                f"{owner}: `noise_shape` {self.noise_shape} has {len(self.noise_shape)} entries but the input has "
                f"{x.dim()} dims with shape {tuple(x.shape)}; give one entry per input axis"
            )
        shape = []
        for axis, (n, size) in enumerate(zip(self.noise_shape, x.shape)):
            if n is None:
                n = size
            elif n not in (1, size):
                raise ShapeError(
                    f"{owner}: `noise_shape` entry {n} on axis {axis} must be None, 1 or the input's size {size} "
                    f"(input shape {tuple(x.shape)})"
                )
            shape.append(n)
        return tuple(shape)

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Drop units in training mode; identity in evaluation mode. ``mask`` is ignored."""
        owner = type(self).__name__
        x = as_tensor(owner, inputs)
        check_floating(owner, x)
        if not self.training or self.rate == 0.0:
            return x
        shape = self._resolve_noise_shape(x)
        generator = None
        if self.seed is not None:
            # One reproducible stream per layer: the n-th call uses a seed derived from (seed, n).
            generator = torch.Generator(device=x.device)
            generator.manual_seed((self.seed * 0x9E3779B97F4A7C15 + self._calls) % (2**63))
        self._calls += 1
        keep = 1.0 - self.rate
        # m ~ Bernoulli(1 - p), broadcast along the axes where noise_shape is 1
        m = torch.rand(shape, generator=generator, device=x.device, dtype=x.dtype) >= self.rate
        # y = m ⊙ x / (1 - p)
        return x * m.to(x.dtype) / keep

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "rate": self.rate,
            "noise_shape": None if self.noise_shape is None else list(self.noise_shape),
            "seed": self.seed,
        }

    def extra_repr(self) -> str:
        return f"rate={self.rate}"


@register_serializable
class SpatialDropout1D(Dropout):
    r"""Dropout of whole channels of a sequence: one mask per sequence and channel, the same at every step.

    .. math::
        y_{b,t,c} = \frac{m_{b,c}}{1 - p}\, x_{b,t,c}, \qquad m_{b,c} \sim \mathrm{Bernoulli}(1 - p)

    Keras' ``SpatialDropout1D``, which is :class:`Dropout` with
    ``noise_shape=(None, 1, None)``.  Between recurrent layers this is the
    *locked* (variational) dropout of Gal & Ghahramani (2016) and AWD-LSTM
    (Merity et al. 2018): a unit dropped at one step is dropped at all of them,
    so the noise does not change from step to step.  Users coming from AWD-LSTM
    may write ``LockedDropout``: it is this same class under a second name (saved
    and exported as ``SpatialDropout1D``).

    The masks come from PyTorch's global generator (seeded by
    :func:`rnnkit.random.set_seed`), or from the layer's own stream when ``seed``
    is given, as for :class:`Dropout`.  The identity in evaluation mode.  A padding
    mask passes through unchanged (``supports_masking``).

    Shape:
        * input: ``(batch, time, channels)``, floating point.
        * output: the same.

    Args:
        rate: fraction of channels to drop, in [0, 1).
        seed: optional non-negative integer seed.
        name: layer name.

    Example:
        >>> import torch
        >>> y = SpatialDropout1D(0.5, seed=0)(torch.ones(2, 4, 3))
        >>> bool((y == y[:, :1]).all()), sorted(set(y.flatten().tolist()))
        (True, [0.0, 2.0])
    """

    def __init__(self, rate: float, seed: int | None = None, *, name: str | None = None) -> None:
        super().__init__(rate, noise_shape=(None, 1, None), seed=seed, name=name)

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Drop whole channels in training mode; identity in evaluation mode. ``mask`` is ignored (passed on)."""
        x = as_tensor(type(self).__name__, inputs)
        check_ndim(type(self).__name__, x, 3, "(batch, time, channels)")
        return super().forward(x, mask)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["noise_shape"]  # always (None, 1, None)
        return config


#: AWD-LSTM's name for :class:`SpatialDropout1D` (the same class)
LockedDropout = SpatialDropout1D


@register_serializable
class Activation(Layer):
    r"""Apply an activation function element-wise: :math:`y = \phi(x)`.

    Shape:
        * input: any shape.
        * output: same as the input (``softmax`` works on the last axis).

    A mask passes through unchanged (``supports_masking``).

    Args:
        activation: name from :mod:`rnnkit.activations` (e.g. ``'relu'``,
            ``'softmax'``) or a callable; None = linear.
        name: layer name.

    Example:
        >>> import torch
        >>> Activation("relu")(torch.tensor([[-1.0, 2.0]]))
        tensor([[0., 2.]])
    """

    supports_masking = True

    def __init__(self, activation: str | Callable | None, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.activation = activations.get(activation)

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``activation(inputs)``; ``mask`` is ignored."""
        x = as_tensor(type(self).__name__, inputs)
        return self.activation(x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}

    def extra_repr(self) -> str:
        try:
            return activations.serialize(self.activation)
        except ConfigError:
            return repr(self.activation)


@register_serializable
class Flatten(Layer):
    r"""Flatten every axis but the batch axis: ``(batch, d1, ..., dn) -> (batch, d1 * ... * dn)``.

    Elements keep their row-major (channels-last) order, as in Keras.  A 1-D
    input ``(batch,)`` becomes ``(batch, 1)``.

    Shape:
        * input: ``(batch, *)``, at least 1 dim.
        * output: ``(batch, prod(*))``.

    An incoming mask is consumed: :meth:`compute_mask` returns None.

    Args:
        name: layer name.

    Example:
        >>> import torch
        >>> Flatten()(torch.zeros(2, 3, 4)).shape
        torch.Size([2, 12])
    """

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name)

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Flatten all axes after the first; ``mask`` is ignored."""
        owner = type(self).__name__
        x = as_tensor(owner, inputs)
        check_min_ndim(owner, x, 1, "(batch, ...)")
        if x.dim() == 1:
            return x.unsqueeze(1)  # (batch, 1)
        return torch.flatten(x, start_dim=1)  # (batch, d1 * ... * dn)


@register_serializable
class Masking(Layer):
    r"""Mark time steps whose features all equal ``mask_value`` as padding.

    .. math::
        m_{b,t} = \exists f : x_{b,t,f} \neq v, \qquad
        y_{b,t,:} = \begin{cases} x_{b,t,:} & m_{b,t} \\ 0 & \text{otherwise} \end{cases}

    with :math:`v` = ``mask_value``.  :meth:`compute_mask` returns :math:`m`
    (True = a real step) for the layers that follow, e.g. an RNN that skips the
    padded steps.  As in Keras, the masked steps of the output are zeros (even
    when ``mask_value`` is not 0), and an incoming mask is replaced, not combined.

    Shape:
        * input: ``(batch, time, features)``, floating point.
        * output: same as the input.
        * mask: ``(batch, time)`` bool.

    Args:
        mask_value: the padding value (default 0.0).
        name: layer name.

    Example:
        >>> import torch
        >>> x = torch.tensor([[[1.0, 0.0], [0.0, 0.0], [0.0, 3.0]]])
        >>> Masking().compute_mask(x)
        tensor([[ True, False,  True]])
    """

    def __init__(self, mask_value: float = 0.0, *, name: str | None = None) -> None:
        super().__init__(name=name)
        check_real(type(self).__name__, "mask_value", mask_value, finite=False)
        self.mask_value = float(mask_value)

    def _mask(self, x: torch.Tensor) -> torch.Tensor:
        owner = type(self).__name__
        check_ndim(owner, x, 3, "(batch, time, features)")
        # m_{b,t} = any_f (x_{b,t,f} != v)                            (batch, time)
        return (x != self.mask_value).any(dim=-1)

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(batch, time)`` bool: True where at least one feature differs from ``mask_value``."""
        return self._mask(as_tensor(type(self).__name__, inputs))

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Zero the masked steps; the incoming ``mask`` is ignored (see :meth:`compute_mask`)."""
        owner = type(self).__name__
        x = as_tensor(owner, inputs)
        check_floating(owner, x)
        m = self._mask(x)
        # y = x where m, else 0                                        (batch, time, features)
        return torch.where(m.unsqueeze(-1), x, torch.zeros((), dtype=x.dtype, device=x.device))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mask_value": self.mask_value}

    def extra_repr(self) -> str:
        return f"mask_value={self.mask_value}"
