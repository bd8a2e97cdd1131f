"""Input and InputLayer: where a functional model starts (Keras ``keras.Input``).

``Input(shape=(None, 8))`` returns a symbolic tensor (:mod:`rnnkit._symbolic`):
the batch to come, of shape ``(batch, *shape)``.  Calling layers on it records
the calls, and ``rnnkit.models.Model(inputs, outputs)`` turns them into a model.
The layer behind it, :class:`InputLayer`, passes a real batch through (checking
its rank and fixed sizes) when the model runs.
"""
from __future__ import annotations

from typing import Any

import torch

from .. import _symbolic
from .._base_layer import Layer
from .._validation import as_tensor
from ..errors import ConfigError, ShapeError
from ..saving import register_serializable

__all__ = ["Input", "InputLayer", "torch_dtype", "dtype_name"]

_DTYPES = {
    "float32": torch.float32, "float64": torch.float64, "float16": torch.float16, "bfloat16": torch.bfloat16,
    "int64": torch.int64, "int32": torch.int32, "int16": torch.int16, "int8": torch.int8, "uint8": torch.uint8,
    "bool": torch.bool,
}
_ALIASES = {"float": "float32", "double": "float64", "half": "float16", "int": "int64", "long": "int64"}


def torch_dtype(dtype: Any, owner: str = "Input") -> torch.dtype:
    """The torch dtype for a Keras dtype name ('float32', 'int32', ...), a torch dtype or a NumPy dtype.

    >>> torch_dtype("int32"), torch_dtype(None)
    (torch.int32, torch.float32)
    """
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    name = str(getattr(dtype, "name", dtype)).replace("torch.", "")
    name = _ALIASES.get(name, name)
    if name not in _DTYPES:
        raise ConfigError(f"{owner}: unknown dtype {dtype!r}; expected one of {', '.join(_DTYPES)}")
    return _DTYPES[name]


def dtype_name(dtype: torch.dtype) -> str:
    """The Keras name of a torch dtype (``torch.int32`` -> ``'int32'``)."""
    return str(dtype).replace("torch.", "")


@register_serializable
class InputLayer(Layer):
    """The layer behind :func:`Input`: it makes the input's symbolic tensor and passes real batches through.

    Shape:
        * ``batch_shape``: ``(batch_size, *shape)``, ``None`` for a size that may vary.

    Args:
        shape: the shape of one example (without the batch axis); ``None`` entries vary.
        batch_size: a fixed batch size (stateful recurrent layers need one in Keras); None = any.
        dtype: 'float32' (default), 'int32', 'int64', ... or a torch dtype.
        batch_shape: the whole shape, batch axis included, instead of ``shape`` and ``batch_size``.
        name: the input's name (by default ``input_layer``, ``input_layer_1``, ...).

    Example:
        >>> import torch
        >>> layer = InputLayer(shape=(None, 3), name="frames")
        >>> layer.batch_shape, layer.output
        ((None, None, 3), <SymbolicTensor shape=(None, None, 3) dtype=float32 from 'frames'>)
        >>> layer(torch.ones(2, 7, 3)).shape
        torch.Size([2, 7, 3])
    """

    accepts_input_shape = False  # its own shape= is the input's shape (Layer adds Keras' input_shape= to the others)

    def __init__(self, shape: Any = None, batch_size: int | None = None, dtype: Any = None,
                 batch_shape: Any = None, *, name: str | None = None, **keras_only: Any) -> None:
        super().__init__(name=name)
        owner = type(self).__name__
        ignored = {k: v for k, v in keras_only.items() if k not in ("sparse", "ragged", "optional", "input_tensor")}
        if ignored:
            raise ConfigError(f"{owner}: unknown argument(s) {', '.join(sorted(ignored))}; expected shape, batch_size, "
                              "dtype, batch_shape, name")
        if any(keras_only.get(k) for k in ("sparse", "ragged", "optional", "input_tensor")):
            flag = next(k for k in ("sparse", "ragged", "optional", "input_tensor") if keras_only.get(k))
            raise ConfigError(f"{owner}: {flag} inputs are not supported; rnnkit inputs are dense tensors")
        if batch_shape is not None:
            if shape is not None or batch_size is not None:
                raise ConfigError(f"{owner}: give either batch_shape, or shape (and batch_size), not both")
            batch_shape = tuple(batch_shape)
        else:
            if shape is None:
                raise ConfigError(f"{owner}: `shape` is required, e.g. Input(shape=(None, 8)) for sequences of 8 features")
            if isinstance(shape, int):
                shape = (shape,)
            batch_shape = (batch_size, *tuple(shape))
        for d in batch_shape:
            if d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 1):
                raise ConfigError(f"{owner}: shape sizes must be positive ints or None, got {batch_shape}")
        self.batch_shape: tuple = batch_shape
        self.torch_dtype = torch_dtype(dtype, owner)
        self.built = True
        node = _symbolic.Node(self, (), {})
        values = _symbolic.example_batches(batch_shape, self.torch_dtype)
        node.outputs = [_symbolic.SymbolicTensor(batch_shape, self.torch_dtype, node, 0, values)]
        node.structure = 0
        self._node = node

    @property
    def output(self) -> "_symbolic.SymbolicTensor":
        """The symbolic tensor that stands for this input's batches."""
        return self._node.outputs[0]

    @property
    def dtype(self) -> str:
        return dtype_name(self.torch_dtype)

    def forward(self, inputs: Any) -> torch.Tensor:
        """Pass the batch through, cast to a floating dtype of the input's (as Keras does), after checking its shape."""
        owner = f"{type(self).__name__} {self.name!r}"
        x = as_tensor(owner, inputs)
        expected = self.batch_shape
        if x.dim() != len(expected) or any(e is not None and e != d for e, d in zip(expected, x.shape)):
            shown = tuple("None" if e is None else e for e in expected)
            raise ShapeError(f"{owner}: expected a batch of shape ({', '.join(map(str, shown))}), "
                             f"got {tuple(x.shape)}")
        if self.torch_dtype.is_floating_point and x.dtype != self.torch_dtype:
            x = x.to(self.torch_dtype)
        return x

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "batch_shape": list(self.batch_shape), "dtype": self.dtype}

    def extra_repr(self) -> str:
        return f"batch_shape={self.batch_shape}, dtype={self.dtype}"


def Input(shape: Any = None, batch_size: int | None = None, dtype: Any = None, name: str | None = None,
          batch_shape: Any = None) -> "_symbolic.SymbolicTensor":
    """A symbolic input of a functional model (Keras ``keras.Input``): call layers on it, then ``Model(inputs, outputs)``.

    Args:
        shape: the shape of one example, without the batch axis; ``None`` for a size
            that may vary (``(None, 8)``: sequences of any length with 8 features).
        batch_size: a fixed batch size, or None.
        dtype: 'float32' (default), or 'int32'/'int64' for token ids, ...
        name: the input's name (used to pass inputs as a dict).
        batch_shape: the whole shape with the batch axis, instead of shape and batch_size.

    Example:
        >>> import torch
        >>> from rnnkit.layers import Embedding, LSTM, Dense
        >>> from rnnkit.models import Model
        >>> tokens = Input(shape=(None,), dtype="int64")
        >>> x = Embedding(100, 8, mask_zero=True, name="embed")(tokens)
        >>> x
        <SymbolicTensor shape=(None, None, 8) dtype=float32, masked from 'embed'>
        >>> probs = Dense(1, activation="sigmoid")(LSTM(4)(x))
        >>> model = Model(tokens, probs)
        >>> model(torch.tensor([[5, 7, 0]])).shape
        torch.Size([1, 1])
    """
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name).output
