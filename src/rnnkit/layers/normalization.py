"""LayerNormalization (each sample over its feature axes) and BatchNormalization (each feature over the batch), as in Keras."""
from __future__ import annotations

import numbers
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._base_layer import Layer
from .._validation import as_tensor, check_bool, check_floating, check_real
from ..errors import ConfigError, ShapeError
from ..saving import register_serializable

__all__ = ["LayerNormalization", "BatchNormalization"]


def _set_affine_options(layer: Layer, epsilon: Any, center: Any, scale: Any, input_size: Any) -> None:
    """The options both normalisations share, checked, and their gain and offset slots (made at build)."""
    owner = type(layer).__name__
    layer.epsilon = check_real(owner, "epsilon", epsilon, minimum=0.0)
    layer.center = check_bool(owner, "center", center)
    layer.scale = check_bool(owner, "scale", scale)
    layer.input_size = layer._check_input_size(owner, input_size)
    layer.register_parameter("weight", None)
    layer.register_parameter("bias", None)


@register_serializable
class LayerNormalization(Layer):
    r"""Layer normalisation (Ba et al. 2016): zero mean, unit variance per sample over ``axis``.

    .. math::
        \mu = \operatorname{mean}_{A}(x), \qquad
        \sigma^2 = \operatorname{mean}_{A}\big((x - \mu)^2\big), \qquad
        y = \gamma \odot \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta

    where :math:`A` is the set of axes in ``axis`` (the last one by default),
    the variance is the biased one (divided by the count, as in Keras), and
    :math:`\gamma` (``weight``, only with ``scale``) and :math:`\beta`
    (``bias``, only with ``center``) have one entry per position of the
    normalised axes, initialised to ones and zeros.

    Note Keras' default :math:`\epsilon = 10^{-3}`; ``torch.nn.LayerNorm`` uses
    :math:`10^{-5}`.

    Shape:
        * input: any shape, floating point; ``axis`` must exist in it.
        * output: same as the input.
        * ``weight`` / ``bias``: the sizes of the normalised axes, e.g. ``(features,)``.

    A mask passes through unchanged (``supports_masking``).

    Args:
        axis: int or sequence of ints, the axes to normalise over (default -1).
        epsilon: small number added to the variance (default 1e-3).
        center: learn the offset :math:`\beta` (default True).
        scale: learn the gain :math:`\gamma` (default True).
        input_size: size of the normalised axis, to create the weights at once
            (only for a single ``axis``); when None they are created at the first call.
        name: layer name.

    Example:
        >>> import torch
        >>> ln = LayerNormalization(input_size=4)
        >>> y = ln(torch.tensor([[1.0, 2.0, 3.0, 4.0]]))
        >>> y.detach().round(decimals=3)  # (x - 2.5) / sqrt(1.25 + 1e-3)
        tensor([[-1.3410, -0.4470,  0.4470,  1.3410]])
    """

    supports_masking = True

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        input_size: int | None = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        owner = type(self).__name__
        self.axis = self._check_axis(axis)
        _set_affine_options(self, epsilon, center, scale, input_size)
        self._param_shape: tuple[int, ...] | None = None
        if self.input_size is not None:
            if not isinstance(self.axis, int):
                raise ConfigError(
                    f"{owner}: `input_size` gives the size of one axis, but axis={self.axis} names several; "
                    "leave input_size=None (the weights are created at the first call) or pass a single axis"
                )
            self._create_weights((self.input_size,))
            super().build((self.input_size,))

    def _check_axis(self, axis: Any) -> int | list[int]:
        owner = type(self).__name__
        if isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
            return int(axis)
        if isinstance(axis, (list, tuple)) and axis and all(
            isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axis
        ):
            if len(set(axis)) != len(axis):
                raise ConfigError(f"{owner}: `axis` lists an axis twice: {axis!r}")
            return [int(a) for a in axis]
        raise ConfigError(
            f"{owner}: `axis` must be an int or a non-empty list of ints, got {axis!r} ({type(axis).__name__})"
        )

    def _axes(self, ndim: int, shape: tuple[Any, ...]) -> tuple[int, ...]:
        """The normalised axes as sorted non-negative indices for an input of ``ndim`` dims."""
        owner = type(self).__name__
        axes = [self.axis] if isinstance(self.axis, int) else self.axis
        resolved = []
        for a in axes:
            if not -ndim <= a < ndim:
                raise ShapeError(
                    f"{owner}: axis={a} is out of range for input of {ndim} dims with shape {shape}"
                )
            resolved.append(a % ndim)
        if len(set(resolved)) != len(resolved):
            raise ShapeError(f"{owner}: axis={self.axis} names the same axis twice for input of {ndim} dims")
        return tuple(sorted(resolved))

    def _create_weights(self, param_shape: tuple[int, ...], device: Any = None, dtype: torch.dtype | None = None) -> None:
        self._param_shape = tuple(int(n) for n in param_shape)
        kw = {"device": device, "dtype": dtype}
        if self.scale:
            self.weight = nn.Parameter(torch.ones(self._param_shape, **kw))
        if self.center:
            self.bias = nn.Parameter(torch.zeros(self._param_shape, **kw))

    def _input_shape_from_state(self, state_dict: dict[str, torch.Tensor], prefix: str) -> tuple[Any, ...] | None:
        stored = state_dict.get(prefix + "weight", state_dict.get(prefix + "bias"))
        if stored is None or not isinstance(self.axis, int):
            return None
        size = stored.shape[0]
        # an input shape whose axis `self.axis` has the stored size
        return (None,) * self.axis + (size,) if self.axis >= 0 else (None, size) + (None,) * (-self.axis - 1)

    def build(self, input_shape: tuple[int, ...], *, device: Any = None, dtype: torch.dtype | None = None) -> None:
        axes = self._axes(len(input_shape), tuple(input_shape))
        self._create_weights(tuple(input_shape[a] for a in axes), device=device, dtype=dtype)
        if isinstance(self.axis, int):
            self.input_size = self._param_shape[0]
        super().build(input_shape)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Reset :math:`\\gamma` to ones and :math:`\\beta` to zeros."""
        if self.weight is not None:
            self.weight.fill_(1.0)
        if self.bias is not None:
            self.bias.zero_()

    def get_weights(self) -> list:
        """``[gamma, beta]`` (those of ``scale`` and ``center`` that are on), as Keras orders them."""
        return [p.detach().cpu().numpy().copy() for p in (self.weight, self.bias) if p is not None]

    @torch.no_grad()
    def set_weights(self, weights: Any) -> None:
        """Load ``[gamma, beta]`` (as :meth:`get_weights`); builds the weights from their shape if needed."""
        weights = list(weights)
        if not self.built and weights and isinstance(self.axis, int):
            self._create_weights(tuple(np.shape(weights[0])))
            self.input_size = self._param_shape[0]
            self.built = True
        self._require_built("set_weights")
        params = [(name, p) for name, p in (("gamma", self.weight), ("beta", self.bias)) if p is not None]
        arrays = self._keras_arrays(weights, [(name, tuple(p.shape)) for name, p in params])
        for (_, p), value in zip(params, arrays):
            p.copy_(value.to(p))

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Normalise ``inputs``; ``mask`` is ignored (every position is normalised on its own)."""
        owner = type(self).__name__
        x = as_tensor(owner, inputs)
        check_floating(owner, x)
        axes = self._axes(x.dim(), tuple(x.shape))
        self._maybe_build(x)
        sizes = tuple(x.shape[a] for a in axes)
        if sizes != self._param_shape:
            raise ShapeError(
                f"{owner}: built for normalised axes of sizes {self._param_shape}, got sizes {sizes} "
                f"on axis={self.axis} of input with shape {tuple(x.shape)}"
            )
        if axes == tuple(range(x.dim() - len(axes), x.dim())):
            # trailing axes: the fused kernel computes the same biased-variance formula
            return F.layer_norm(x, sizes, self.weight, self.bias, self.epsilon)
        # μ = mean_A(x), σ² = mean_A((x - μ)²)                         (broadcast over A)
        var, mean = torch.var_mean(x, dim=axes, correction=0, keepdim=True)
        # y = (x - μ) / sqrt(σ² + ε)
        y = (x - mean) * torch.rsqrt(var + self.epsilon)
        broadcast = [1] * x.dim()
        for a in axes:
            broadcast[a] = x.shape[a]
        # y = γ ⊙ y + β
        if self.weight is not None:
            y = y * self.weight.reshape(broadcast)
        if self.bias is not None:
            y = y + self.bias.reshape(broadcast)
        return y

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis if isinstance(self.axis, int) else list(self.axis),
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "input_size": self.input_size,
        }

    def extra_repr(self) -> str:
        return f"axis={self.axis}, epsilon={self.epsilon}, center={self.center}, scale={self.scale}"


@register_serializable
class BatchNormalization(Layer):
    r"""Batch normalisation (Ioffe & Szegedy 2015) of the last axis, with Keras' defaults and moving statistics.

    In training, each feature is normalised by the statistics of the batch (over
    every axis but the last; with a mask, over the real steps only):

    .. math::
        \mu_B = \operatorname{mean}(x), \qquad
        \sigma_B^2 = \operatorname{mean}\big((x - \mu_B)^2\big), \qquad
        y = \gamma \odot \frac{x - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}} + \beta

    and the moving statistics follow them:

    .. math::
        \hat\mu \leftarrow m \hat\mu + (1 - m)\,\mu_B, \qquad
        \hat\sigma^2 \leftarrow m \hat\sigma^2 + (1 - m)\,\sigma_B^2

    In evaluation (``model.eval()``, ``training=False``) :math:`\hat\mu` and
    :math:`\hat\sigma^2` take the place of the batch's.  As in Keras, the
    variance is the biased one in both places and ``momentum`` :math:`m` is the
    share the moving statistics *keep* (0.99).  PyTorch's ``BatchNorm1d`` differs
    on all three: its ``momentum`` is the share they take (0.1), its running
    variance is the unbiased one, and its :math:`\epsilon` is :math:`10^{-5}`
    (Keras: :math:`10^{-3}`).

    A batch of one row has no spread to learn from: in training it is refused
    (``ShapeError``), since every output would be :math:`\beta`.

    Shape:
        * input: ``(batch, features)`` or ``(batch, time, features)``, floating point.
        * mask (3-D input only): ``(batch, time)``, True at real steps; passed on unchanged.
        * output: same as the input.
        * ``weight`` (:math:`\gamma`), ``bias`` (:math:`\beta`) and the buffers
          ``moving_mean``, ``moving_variance``: ``(features,)``.

    Args:
        axis: the normalised axis; only the last (-1, Keras' default) is supported.
        momentum: share of the moving statistics kept at each training step (default 0.99).
        epsilon: small number added to the variance (default 1e-3).
        center: learn the offset :math:`\beta` (default True).
        scale: learn the gain :math:`\gamma` (default True).
        input_size: number of features, to create the weights at once; None: at the first call.
        name: layer name.

    Example:
        >>> import torch
        >>> bn = BatchNormalization(input_size=2)
        >>> y = bn(torch.tensor([[1.0, 10.0], [3.0, 30.0]]))  # training: the batch's mean and variance
        >>> y.detach().round(decimals=4)  # (x - mean) / sqrt(var + 1e-3): var 1 and 100
        tensor([[-0.9995, -1.0000],
                [ 0.9995,  1.0000]])
        >>> bn.moving_mean  # 0.99 * 0 + 0.01 * (2, 20)
        tensor([0.0200, 0.2000])
    """

    supports_masking = True

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        input_size: int | None = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        owner = type(self).__name__
        if axis != -1 or isinstance(axis, bool):
            raise ConfigError(f"{owner}: only axis=-1 (the features, last) is supported, got axis={axis!r}; put the "
                              "features last (Keras' channels_last)")
        self.axis = -1
        self.momentum = check_real(owner, "momentum", momentum, minimum=0.0)
        if self.momentum > 1:
            raise ConfigError(f"{owner}: `momentum` is the share of the moving statistics kept per step and must be "
                              f"in [0, 1], got {momentum!r} (PyTorch's 0.1 is Keras' 0.9)")
        _set_affine_options(self, epsilon, center, scale, input_size)
        self.register_buffer("moving_mean", None)
        self.register_buffer("moving_variance", None)
        if self.input_size is not None:
            self.build((None, self.input_size))

    def build(self, input_shape: tuple[int, ...], *, device: Any = None, dtype: torch.dtype | None = None) -> None:
        self._set_input_size(int(input_shape[-1]))
        kw = {"device": device, "dtype": dtype}
        if self.scale:
            self.weight = nn.Parameter(torch.ones(self.input_size, **kw))
        if self.center:
            self.bias = nn.Parameter(torch.zeros(self.input_size, **kw))
        self.moving_mean = torch.zeros(self.input_size, **kw)
        self.moving_variance = torch.ones(self.input_size, **kw)
        super().build(input_shape)

    def _input_shape_from_state(self, state_dict: dict[str, torch.Tensor], prefix: str) -> tuple[Any, ...] | None:
        stored = state_dict.get(prefix + "moving_mean")
        return None if stored is None else (None, int(stored.shape[0]))

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """:math:`\\gamma` and the moving variance to ones, :math:`\\beta` and the moving mean to zeros."""
        for tensor, value in ((self.weight, 1.0), (self.bias, 0.0), (self.moving_mean, 0.0),
                              (self.moving_variance, 1.0)):
            if tensor is not None:
                tensor.fill_(value)

    def _weights(self) -> list[tuple[str, torch.Tensor]]:
        """Keras' order: gamma, beta (those that exist), moving_mean, moving_variance."""
        return [(name, t) for name, t in (("gamma", self.weight), ("beta", self.bias), ("moving_mean", self.moving_mean),
                                          ("moving_variance", self.moving_variance)) if t is not None]

    def get_weights(self) -> list:
        """``[gamma, beta, moving_mean, moving_variance]`` (gamma/beta only with scale/center), Keras' order."""
        self._require_built("get_weights")
        return [t.detach().cpu().numpy().copy() for _, t in self._weights()]

    @torch.no_grad()
    def set_weights(self, weights: Any) -> None:
        """Load the arrays of :meth:`get_weights`; builds the layer from their size if needed."""
        weights = list(weights)
        if not self.built and weights:
            self.build((None, int(np.shape(weights[-1])[0])))
        self._require_built("set_weights")
        named = self._weights()
        for (_, t), value in zip(named, self._keras_arrays(weights, [(n, tuple(t.shape)) for n, t in named])):
            t.copy_(value.to(t))

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Normalise ``inputs`` by the batch's statistics (training) or the moving ones (evaluation)."""
        owner = type(self).__name__
        x = self._checked_features(inputs, "(batch, features) or (batch, time, features)")
        if x.dim() > 3:
            raise ShapeError(f"{owner}: expected (batch, features) or (batch, time, features), got shape {tuple(x.shape)}")
        if not self.training:
            mean, var = self.moving_mean, self.moving_variance
        else:
            flat = x.reshape(-1, x.shape[-1])  # (N, F): every row a sample of each feature
            keep = None
            if mask is not None and x.dim() == 3:
                keep = mask.reshape(-1).to(torch.bool)  # (N,)
                flat = flat[keep]
            if flat.shape[0] < 2:
                raise ShapeError(f"{owner}: training needs at least 2 values per feature to normalise by, got "
                                 f"{flat.shape[0]} (input shape {tuple(x.shape)}); use batches of 2 or more")
            # μ_B = mean(x), σ²_B = mean((x - μ_B)²)                                  (F,)
            var, mean = torch.var_mean(flat, dim=0, correction=0)
            with torch.no_grad():
                # μ̂ ← m μ̂ + (1 - m) μ_B;  σ̂² ← m σ̂² + (1 - m) σ²_B
                self.moving_mean.mul_(self.momentum).add_(mean.detach().to(self.moving_mean), alpha=1 - self.momentum)
                self.moving_variance.mul_(self.momentum).add_(var.detach().to(self.moving_variance),
                                                              alpha=1 - self.momentum)
        # y = γ ⊙ (x - μ) / sqrt(σ² + ε) + β
        y = (x - mean) * torch.rsqrt(var + self.epsilon)
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, "input_size": self.input_size}

    def extra_repr(self) -> str:
        return f"{self.input_size}, momentum={self.momentum}, epsilon={self.epsilon}, center={self.center}, scale={self.scale}"
