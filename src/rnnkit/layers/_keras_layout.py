"""Recurrent weights in Keras' layout: ``[kernel, recurrent_kernel, bias]`` per cell.

Keras keeps a recurrent cell's weights transposed against PyTorch's
(``(in, G*U)`` rather than ``(G*U, in)``), with GRU gates in the order z, r, h
(rnnkit and PyTorch: r, z, n) and one bias where PyTorch has two (except GRU with
``reset_after``, whose bias is ``(2, 3U)``).  These functions work on cells, so
both the layers' ``get_weights`` / ``set_weights`` and
:mod:`rnnkit.layers.convert` use them without either importing the other; the
table of shapes is in :mod:`rnnkit.layers.convert`.

>>> from rnnkit.cells import LSTMCell
>>> cell = LSTMCell(5, input_size=3)
>>> [w.shape for w in cells_keras_weights([cell])]
[(3, 20), (5, 20), (20,)]
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ..cells import GRUCell, LSTMCell, SimpleRNNCell
from ..errors import ConfigError, ShapeError

__all__ = ["cells_keras_weights", "set_cells_keras_weights"]


def _gate_perm(cell: Any) -> list[int] | None:
    """Keras gate order expressed as indices into rnnkit's blocks (None when identical)."""
    return [1, 0, 2] if isinstance(cell, GRUCell) else None  # Keras z, r, h  <-  ours r, z, n


def _blocks_to_keras(w: torch.Tensor, cell: Any) -> np.ndarray:
    """(G*U, n) rnnkit rows -> Keras (n, G*U) columns, gates reordered."""
    perm = _gate_perm(cell)
    if perm is not None:
        w = torch.cat([w.chunk(cell.num_gates, 0)[p] for p in perm], 0)
    return w.detach().cpu().numpy().T.copy()


def _blocks_from_keras(w: np.ndarray, cell: Any) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(w)).T
    perm = _gate_perm(cell)
    if perm is not None:  # the permutation [1, 0, 2] is its own inverse
        t = torch.cat([t.chunk(cell.num_gates, 0)[p] for p in perm], 0)
    return t


def _keras_bias_shape(cell: Any) -> tuple[int, ...]:
    rows = cell.num_gates * cell.units
    return (2, rows) if isinstance(cell, GRUCell) and cell.reset_after else (rows,)


def _cell_keras_weights(cell: Any) -> list[np.ndarray]:
    cell._require_built("get_weights")
    weights = [_blocks_to_keras(cell.weight_ih, cell), _blocks_to_keras(cell.weight_hh, cell)]
    if cell.use_bias:
        if isinstance(cell, GRUCell) and cell.reset_after:
            bias = np.stack([_blocks_to_keras(cell.bias_ih[:, None], cell)[0], _blocks_to_keras(cell.bias_hh[:, None], cell)[0]])
        else:
            bias = _blocks_to_keras((cell.bias_ih + cell.bias_hh)[:, None], cell)[0]
        weights.append(bias)
    return weights


@torch.no_grad()
def _set_cell_keras_weights(cell: Any, weights: Sequence[Any], owner: str) -> None:
    cell._require_built("set_weights")
    rows = cell.num_gates * cell.units
    shapes = [(cell.input_size, rows), (cell.units, rows)] + ([_keras_bias_shape(cell)] if cell.use_bias else [])
    names = ["kernel", "recurrent_kernel", "bias"]
    for i, (w, shape) in enumerate(zip(weights, shapes)):
        if tuple(np.shape(w)) != shape:
            raise ShapeError(f"{owner}.set_weights: {names[i]} expected shape {shape}, got {tuple(np.shape(w))}")
    dev, dt = cell.weight_ih.device, cell.weight_ih.dtype
    cell.weight_ih.copy_(_blocks_from_keras(weights[0], cell).to(dev, dt))
    cell.weight_hh.copy_(_blocks_from_keras(weights[1], cell).to(dev, dt))
    if cell.use_bias:
        bias = np.asarray(weights[2])
        if bias.ndim == 2:
            cell.bias_ih.copy_(_blocks_from_keras(bias[0][None, :], cell)[:, 0].to(dev, dt))
            cell.bias_hh.copy_(_blocks_from_keras(bias[1][None, :], cell)[:, 0].to(dev, dt))
        else:
            cell.bias_ih.copy_(_blocks_from_keras(bias[None, :], cell)[:, 0].to(dev, dt))
            cell.bias_hh.zero_()


def _check_cells(cells: Sequence[Any]) -> list:
    for c in cells:
        if type(c) not in (SimpleRNNCell, LSTMCell, GRUCell):
            raise ConfigError(f"Keras-layout weights are defined for SimpleRNN/LSTM/GRU cells, got {type(c).__name__}")
    return list(cells)


def cells_keras_weights(cells: Sequence[Any]) -> list[np.ndarray]:
    """``[kernel, recurrent_kernel, bias]`` for each of ``cells`` in turn, as NumPy arrays in Keras' layout."""
    return [w for cell in _check_cells(cells) for w in _cell_keras_weights(cell)]


def set_cells_keras_weights(cells: Sequence[Any], weights: Sequence[Any], owner: str) -> None:
    """Load Keras-layout ``weights`` (NumPy or tensors, as :func:`cells_keras_weights` gives them) into ``cells``.

    ``owner`` names the layer in error messages (``'LSTM.set_weights: ...'``).
    """
    cells = _check_cells(cells)
    per_cell = [3 if c.use_bias else 2 for c in cells]
    if len(weights) != sum(per_cell):
        raise ShapeError(f"{owner}.set_weights: expected {sum(per_cell)} arrays (kernel, recurrent_kernel, bias per cell), got {len(weights)}")
    weights = [w.detach().cpu().numpy() if isinstance(w, torch.Tensor) else np.asarray(w) for w in weights]
    start = 0
    for cell, n in zip(cells, per_cell):
        _set_cell_keras_weights(cell, weights[start : start + n], owner)
        start += n
