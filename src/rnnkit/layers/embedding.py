"""Embedding: a lookup table from integer token ids to dense vectors."""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .. import initializers
from .._base_layer import Layer
from .._validation import as_tensor, check_bool, check_positive_int, check_rate
from ..errors import ShapeError
from ..saving import register_serializable

__all__ = ["Embedding"]

# Keras calls U(-0.05, 0.05) 'uniform'; rnnkit.initializers calls it 'random_uniform'.
_INITIALIZER_ALIASES = {"uniform": "random_uniform", "normal": "random_normal"}


@register_serializable
class Embedding(Layer):
    r"""Turn integer token ids into dense vectors by table lookup.

    .. math::
        y_{\ldots,:} = W_{x_{\ldots},:}

    Row :math:`i` of ``weight`` (input_dim, output_dim) is the vector of token
    id :math:`i` — the layout of ``torch.nn.Embedding`` and of Keras'
    ``embeddings`` variable.

    With ``mask_zero=True`` id 0 is reserved for padding: :meth:`compute_mask`
    returns ``inputs != 0`` so that later layers (RNNs, masked pooling) skip the
    padded steps.  The vocabulary then needs ``input_dim = vocabulary size + 1``.
    The vector of id 0 is still a trainable row, as in Keras.

    ``embeddings_dropout`` :math:`p` (the embedding dropout of AWD-LSTM, Merity et
    al. 2018; Gal & Ghahramani 2016) drops whole word types while training: one
    draw per call over the vocabulary's rows, so every occurrence of a dropped
    id in the batch becomes the zero vector, and the kept rows are scaled so that
    the expected vector is unchanged:

    .. math::
        y_{\ldots,:} = \frac{m_{x_{\ldots}}}{1 - p} W_{x_{\ldots},:}, \qquad
        m_i = [u_i \ge p], \quad u_i \sim U(0, 1), \quad i < \text{input\_dim}

    with :math:`u` one ``torch.rand(input_dim)`` from PyTorch's global generator
    on the weight's device (seeded by :func:`rnnkit.random.set_seed`).  Off in
    evaluation mode; ``compute_mask`` is unchanged (a dropped padding row is
    masked anyway).

    Ids may also come as floats holding whole numbers (Keras casts float ids, and
    ``keras.Input(shape=(None,))`` is float32 unless given ``dtype="int32"``); a
    fraction, a bool or a complex number is refused.

    Shape:
        * input: ``(*)`` integer ids in ``[0, input_dim)``, typically ``(batch, time)``.
        * output: ``(*, output_dim)``.
        * mask: ``(*)`` bool when ``mask_zero``, else None.

    Args:
        input_dim: vocabulary size (largest id + 1).
        output_dim: size of each vector.
        mask_zero: treat id 0 as padding and emit a mask (default False).
        embeddings_initializer: initialiser of ``weight``; the default
            ``'uniform'`` is Keras' U(-0.05, 0.05) (``'random_uniform'`` here).
            Fans are computed on the Keras layout, fan_in = input_dim.
        input_length: accepted for compatibility with Keras 2 code and ignored.
        embeddings_dropout: fraction of the vocabulary's rows dropped per
            training call, in [0, 1) (default 0: none).
        name: layer name.

    Example:
        >>> import torch
        >>> emb = Embedding(10, 4, mask_zero=True)
        >>> ids = torch.tensor([[3, 7, 0, 0]])
        >>> emb(ids).shape
        torch.Size([1, 4, 4])
        >>> emb.compute_mask(ids)
        tensor([[ True,  True, False, False]])
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        mask_zero: bool = False,
        embeddings_initializer: str | Callable = "uniform",
        input_length: int | None = None,
        *,
        embeddings_dropout: float = 0.0,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        owner = type(self).__name__
        self.input_dim = check_positive_int(owner, "input_dim", input_dim)
        self.output_dim = check_positive_int(owner, "output_dim", output_dim)
        self.mask_zero = check_bool(owner, "mask_zero", mask_zero)
        self.embeddings_dropout = check_rate(owner, "embeddings_dropout", embeddings_dropout)
        if isinstance(embeddings_initializer, str):
            embeddings_initializer = _INITIALIZER_ALIASES.get(embeddings_initializer, embeddings_initializer)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        # input_length (Keras 2) only fixed the model's input shape; nothing here depends on it.
        check_positive_int(owner, "input_length", input_length, allow_none=True)
        self.build((None,))

    def build(self, input_shape: tuple[int, ...], *, device: Any = None, dtype: torch.dtype | None = None) -> None:
        """Create ``weight``; its size is known from the constructor, so this runs at construction."""
        if self.built:
            return
        self.weight = nn.Parameter(torch.empty(self.input_dim, self.output_dim, device=device, dtype=dtype))
        self.reset_parameters()
        super().build(input_shape)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """(Re)initialise ``weight``; the initialiser sees Keras' (input_dim, output_dim) fans."""
        # Initialisers take the PyTorch (out, in) layout; the transpose puts input_dim in the fan_in place.
        self.embeddings_initializer(self.weight.T)

    def _check_ids(self, x: torch.Tensor) -> None:
        owner = type(self).__name__
        whole = x.is_floating_point() and bool(torch.equal(x, x.round()))  # Keras casts float ids; only whole ones here
        if (x.is_floating_point() and not whole) or x.is_complex() or x.dtype == torch.bool:
            raise ShapeError(
                f"{owner}: expected integer token ids, got dtype {x.dtype} with shape {tuple(x.shape)}"
                f"{' holding fractions' if x.is_floating_point() else ''}; convert them with ids.long() "
                "(if these are already vectors, drop the Embedding layer)"
            )
        if x.numel() == 0:
            return
        low, high = int(x.min()), int(x.max())
        if low < 0:
            raise ShapeError(
                f"{owner}: token ids must be >= 0, found {low} (input_dim={self.input_dim}); "
                "map unknown or padding tokens to a valid id such as 0 before the lookup"
            )
        if high >= self.input_dim:
            raise ShapeError(
                f"{owner}: token ids must be < input_dim={self.input_dim}, found max id {high}; "
                f"create the layer with input_dim >= {high + 1} (vocabulary size + 1 when id 0 is padding) "
                "or map out-of-vocabulary ids to a reserved id"
            )

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Look up the vectors of ``inputs``; an incoming ``mask`` is ignored (see :meth:`compute_mask`)."""
        x = as_tensor(type(self).__name__, inputs)
        self._check_ids(x)
        if x.dtype not in (torch.int32, torch.int64):
            x = x.long()
        # y[..., :] = W[x[...], :]                                    (*, output_dim)
        y = F.embedding(x, self.weight)
        p = self.embeddings_dropout
        if not self.training or p <= 0:
            return y
        # m_i = [u_i >= p], u ~ U(0, 1): one draw per row of the vocabulary      (input_dim,)
        keep = torch.rand(self.input_dim, device=self.weight.device, dtype=self.weight.dtype) >= p
        # y = m_x / (1 - p) ⊙ W_x: every occurrence of a dropped id is zero       (*, output_dim)
        return y * (keep.to(y.dtype) / (1.0 - p))[x].unsqueeze(-1)

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor | None:
        """``inputs != 0`` when ``mask_zero``, else None."""
        if not self.mask_zero:
            return None
        return as_tensor(type(self).__name__, inputs) != 0

    def get_weights(self) -> list:
        """``[embeddings]``, the ``(input_dim, output_dim)`` table (Keras' layout is rnnkit's)."""
        return [self.weight.detach().cpu().numpy().copy()]

    @torch.no_grad()
    def set_weights(self, weights: Any) -> None:
        """Load ``[embeddings]`` of shape ``(input_dim, output_dim)``."""
        (table,) = self._keras_arrays(weights, [("embeddings", (self.input_dim, self.output_dim))])
        self.weight.copy_(table.to(self.weight))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "mask_zero": self.mask_zero,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_dropout": self.embeddings_dropout,
        }

    def extra_repr(self) -> str:
        drop = f", embeddings_dropout={self.embeddings_dropout}" if self.embeddings_dropout else ""
        return f"input_dim={self.input_dim}, output_dim={self.output_dim}, mask_zero={self.mask_zero}{drop}"
