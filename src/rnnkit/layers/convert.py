"""Moving weights between rnnkit and ``torch.nn.RNN/LSTM/GRU``, and to/from Keras' layout.

PyTorch: an rnnkit cell holds ``weight_ih``, ``weight_hh``, ``bias_ih``,
``bias_hh`` in exactly the layout of one layer and direction of
``torch.nn.LSTM`` (``weight_ih_l0``, ``weight_ih_l0_reverse``, ...).  A
``num_layers=k`` module corresponds to ``k`` rnnkit layers in a row (each a
:class:`~rnnkit.layers.Bidirectional` if the module is bidirectional)::

    layers = from_torch(torch_lstm)          # list of rnnkit layers, weights copied
    module = to_torch(layers)                # and back
    torch_state_dict(layers)                 # {'weight_ih_l0': ..., 'weight_ih_l0_reverse': ...}
    load_torch_state_dict(layers, module.state_dict())

Keras: ``get_weights()`` / ``set_weights()`` on a recurrent layer use Keras'
list ``[kernel, recurrent_kernel, bias]`` per cell (forward then backward for
:class:`~rnnkit.layers.Bidirectional`), with Keras' shapes and gate orders:

=========  ============  ==================  ===============================
layer      kernel        recurrent_kernel    bias
=========  ============  ==================  ===============================
SimpleRNN  (in, U)       (U, U)              (U,)
LSTM       (in, 4U) ifco (U, 4U)             (4U,)
GRU        (in, 3U) zrh  (U, 3U)             (2, 3U) reset_after, else (3U,)
=========  ============  ==================  ===============================

Keras has one bias where PyTorch has two (except GRU with ``reset_after``):
``get_weights`` returns their sum and ``set_weights`` loads it into
``bias_ih`` with ``bias_hh`` zero, which computes the same function.

>>> import torch
>>> from rnnkit.layers import LSTM
>>> torch_lstm = torch.nn.LSTM(3, 5, batch_first=True)
>>> (layer,) = from_torch(torch_lstm)
>>> x = torch.randn(2, 4, 3)
>>> torch.allclose(layer(x), torch_lstm(x)[0], atol=1e-6)
True
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .. import activations
from ..cells import GRUCell, LSTMCell, SimpleRNNCell
from ..errors import ConfigError, ShapeError
from ._fused import fused_blocker
from ._keras_layout import cells_keras_weights, set_cells_keras_weights
from .bidirectional import Bidirectional
from .recurrent import GRU, LSTM, RNN, SimpleRNN

__all__ = [
    "from_torch",
    "to_torch",
    "torch_state_dict",
    "load_torch_state_dict",
    "get_keras_weights",
    "set_keras_weights",
]

_TORCH_KINDS = {nn.LSTM: (LSTM, LSTMCell), nn.GRU: (GRU, GRUCell), nn.RNN: (SimpleRNN, SimpleRNNCell)}


def _as_list(layers: Any) -> list:
    return list(layers) if isinstance(layers, (list, tuple)) else [layers]


def _directions(layer: Any) -> list:
    """The single-cell recurrent layers of one torch 'layer': [forward] or [forward, backward]."""
    if isinstance(layer, Bidirectional):
        return [layer.forward_layer, layer.backward_layer]
    if isinstance(layer, RNN):
        return [layer]
    raise ConfigError(f"expected SimpleRNN/LSTM/GRU/RNN or Bidirectional layers, got {type(layer).__name__}")


def _cells(layers: Any) -> list[list]:
    """Per torch layer index, the cells per direction.  A stacked RNN([c1, c2]) counts as several layers."""
    table: list[list] = []
    for layer in _as_list(layers):
        dirs = _directions(layer)
        depth = len(dirs[0].cells)
        for k in range(depth):
            table.append([d.cells[k] for d in dirs])
    return table


def torch_state_dict(layers: Any) -> dict[str, torch.Tensor]:
    """The weights of ``layers`` named as ``torch.nn.LSTM``/``GRU``/``RNN`` names them.

    >>> from rnnkit.layers import Bidirectional, GRU
    >>> sorted(torch_state_dict([Bidirectional(GRU(4, input_size=3))]))[:3]
    ['bias_hh_l0', 'bias_hh_l0_reverse', 'bias_ih_l0']
    """
    state: dict[str, torch.Tensor] = {}
    for k, cells in enumerate(_cells(layers)):
        for d, cell in enumerate(cells):
            cell._require_built("torch_state_dict")
            suffix = f"_l{k}" + ("_reverse" if d else "")
            state["weight_ih" + suffix] = cell.weight_ih.detach()
            state["weight_hh" + suffix] = cell.weight_hh.detach()
            if cell.use_bias:
                state["bias_ih" + suffix] = cell.bias_ih.detach()
                state["bias_hh" + suffix] = cell.bias_hh.detach()
    return state


@torch.no_grad()
def load_torch_state_dict(layers: Any, state_dict: dict[str, torch.Tensor]) -> None:
    """Copy a ``torch.nn.LSTM``/``GRU``/``RNN`` state dict into ``layers`` (shapes checked, unused keys refused).

    >>> import torch
    >>> from rnnkit.layers import LSTM
    >>> layers = [LSTM(5, input_size=3, return_sequences=True), LSTM(5, input_size=5)]
    >>> load_torch_state_dict(layers, torch.nn.LSTM(3, 5, num_layers=2).state_dict())
    >>> load_torch_state_dict(layers[:1], torch.nn.LSTM(3, 5, num_layers=2).state_dict())
    Traceback (most recent call last):
    ...
    rnnkit.errors.ConfigError: load_torch_state_dict: keys do not match; missing none, unexpected ['bias_hh_l1', 'bias_ih_l1', 'weight_hh_l1', 'weight_ih_l1'] (check num_layers, bidirectional and bias)
    """
    expected = torch_state_dict(layers)
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        raise ConfigError(
            f"load_torch_state_dict: keys do not match; missing {missing or 'none'}, unexpected {unexpected or 'none'} "
            "(check num_layers, bidirectional and bias)"
        )
    for key, target in expected.items():
        source = torch.as_tensor(state_dict[key])
        if source.shape != target.shape:
            raise ShapeError(f"load_torch_state_dict: {key} expected shape {tuple(target.shape)}, got {tuple(source.shape)}")
        target.copy_(source)


def from_torch(module: nn.Module, *, return_sequences: bool = True, use_fused: bool | str = "auto") -> list:
    """rnnkit layers computing what ``module`` (a ``torch.nn.LSTM``, ``GRU`` or ``RNN``) computes.

    Returns one layer per ``num_layers`` (a :class:`Bidirectional` with
    ``merge_mode='concat'`` when the module is bidirectional), weights copied,
    inputs batch-first.  Layers below the last always return sequences.

    >>> import torch
    >>> module = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    >>> layers = from_torch(module)
    >>> [type(layer).__name__ for layer in layers], layers[1].forward_layer.cell.input_size
    (['Bidirectional', 'Bidirectional'], 8)
    """
    kind = next((v for k, v in _TORCH_KINDS.items() if type(module) is k), None)
    if kind is None:
        raise ConfigError(f"from_torch: expected torch.nn.LSTM, GRU or RNN, got {type(module).__name__}")
    if getattr(module, "proj_size", 0):
        raise ConfigError("from_torch: LSTM with proj_size > 0 has no rnnkit equivalent")
    if module.dropout and module.num_layers > 1:
        raise ConfigError(
            f"from_torch: the module drops {module.dropout} between layers; put Dropout layers between the "
            "returned layers yourself, or set module.dropout = 0"
        )
    layer_class, _ = kind
    kwargs: dict[str, Any] = {"use_bias": module.bias, "use_fused": use_fused}
    if layer_class is SimpleRNN:
        kwargs["activation"] = module.nonlinearity
    layers = []
    input_size = module.input_size
    for k in range(module.num_layers):
        rs = return_sequences or k < module.num_layers - 1
        layer = layer_class(module.hidden_size, input_size=input_size, return_sequences=rs, **kwargs)
        if module.bidirectional:
            layer = Bidirectional(layer)
        layers.append(layer)
        input_size = module.hidden_size * (2 if module.bidirectional else 1)
    weight = next(module.parameters())
    for layer in layers:
        layer.to(device=weight.device, dtype=weight.dtype)
    load_torch_state_dict(layers, module.state_dict())
    return layers


def to_torch(layers: Any) -> nn.Module:
    """A ``torch.nn.LSTM``/``GRU``/``RNN`` (batch_first) with the weights of ``layers``.

    >>> import torch
    >>> from rnnkit.layers import SimpleRNN
    >>> layer = SimpleRNN(4, input_size=3, activation="relu", return_sequences=True)
    >>> module = to_torch(layer)
    >>> module.nonlinearity, module.num_layers
    ('relu', 1)
    >>> x = torch.randn(2, 5, 3)
    >>> torch.allclose(module(x)[0], layer(x), atol=1e-6)
    True
    """
    table = _cells(layers)
    first = table[0][0]
    kind = next((k for k, (_, cell_class) in _TORCH_KINDS.items() if type(first) is cell_class), None)
    if kind is None:
        raise ConfigError(f"to_torch: expected SimpleRNN/LSTM/GRU cells, got {type(first).__name__}")
    for cells in table:
        for cell in cells:
            if type(cell) is not type(first) or cell.units != first.units or cell.use_bias != first.use_bias:
                raise ConfigError("to_torch: every layer must have the same cell type, units and use_bias")
            blocker = fused_blocker(cell, training=False)
            if blocker is not None:
                raise ConfigError(f"to_torch: torch.nn cannot compute this configuration: {blocker}")
    bidirectional = len(table[0]) == 2
    kwargs: dict[str, Any] = {}
    if kind is nn.RNN:
        kwargs["nonlinearity"] = "tanh" if first.activation is activations.get("tanh") else "relu"
    module = kind(
        first.input_size,
        first.units,
        num_layers=len(table),
        bias=first.use_bias,
        batch_first=True,
        bidirectional=bidirectional,
        **kwargs,
    )
    module.to(device=first.weight_ih.device, dtype=first.weight_ih.dtype)
    module.load_state_dict(torch_state_dict(layers))
    return module


# --------------------------------------------------------------------------- Keras layout
def get_keras_weights(layer: Any) -> list[np.ndarray]:
    """``[kernel, recurrent_kernel, bias]`` per cell in Keras' layout (see the module docstring).

    >>> from rnnkit.layers import Bidirectional, GRU
    >>> [w.shape for w in get_keras_weights(Bidirectional(GRU(2, input_size=3)))]
    [(3, 6), (2, 6), (2, 6), (3, 6), (2, 6), (2, 6)]
    """
    return cells_keras_weights([c for d in _directions(layer) for c in d.cells])


def set_keras_weights(layer: Any, weights: Sequence[Any]) -> None:
    """Load Keras-layout weights (as ``get_keras_weights`` returns them, NumPy or tensors)."""
    set_cells_keras_weights([c for d in _directions(layer) for c in d.cells], weights, type(layer).__name__)
