"""ONNX's own recurrent operators (``LSTM``, ``GRU``, ``RNN``) as traceable torch functions.

Each built-in cell (:class:`~rnnkit.cells.LSTMCell`, :class:`~rnnkit.cells.GRUCell`,
:class:`~rnnkit.cells.SimpleRNNCell`) is exported as one ONNX recurrent node with a
dynamic time axis and a ``sequence_lens`` input, so ONNX Runtime runs its own kernel
(no unrolled loop, no ``Loop`` subgraph).  :func:`onnx_rnn` is called while the
TorchScript-based exporter traces the model: its ``symbolic`` writes the node; its
``forward`` only returns tensors of the right shapes (the numbers are ONNX Runtime's,
checked against PyTorch's in ``tests/export``).

Weight layout (``D`` = 1 direction, ``H`` units, ``F`` input features, ``G`` gates):

* ``W`` (D, G H, F) and ``R`` (D, G H, H): the cell's ``weight_ih`` and ``weight_hh``
  with the gate blocks reordered — PyTorch and rnnkit stack LSTM gates i, f, g, o and
  ONNX i, o, f, c; GRU r, z, n against ONNX z, r, h.
* ``B`` (D, 2 G H): ``[bias_ih; bias_hh]``, reordered the same way (zeros without bias).
* GRU ``reset_after=True`` is ONNX's ``linear_before_reset=1``
  (:math:`n_t = \\phi(W_n x_t + b_{in} + r_t \\odot (R_n h_{t-1} + b_{hn}))`), ``reset_after=False`` is 0.

ONNX semantics relied on: with ``sequence_lens`` = L_b, row b runs steps 0..L_b-1,
``Y`` is zero after them and ``Y_h`` (``Y_c``) hold the state after step L_b-1.
"""
from __future__ import annotations

from typing import Any

import torch

from .. import activations
from ..cells import GRUCell, LSTMCell, SimpleRNNCell
from ..errors import ExportError

__all__ = ["onnx_weights", "onnx_activations", "onnx_rnn", "cell_blocker"]

#: gate blocks of rnnkit's (PyTorch's) stacking, in ONNX's order
_GATE_ORDER = {LSTMCell: [0, 3, 1, 2], GRUCell: [1, 0, 2], SimpleRNNCell: [0]}
#: ONNX op of each built-in cell
_OP = {LSTMCell: "LSTM", GRUCell: "GRU", SimpleRNNCell: "RNN"}
#: rnnkit activations that ONNX's recurrent operators compute (by their ONNX names)
_ACTIVATIONS = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu"}


def _activation_name(fn: Any) -> str | None:
    for name, onnx_name in _ACTIVATIONS.items():
        if fn is activations.get(name):
            return onnx_name
    return None


def cell_blocker(cell: torch.nn.Module) -> str | None:
    """Why ``cell`` has no ONNX recurrent operator (None when it has one)."""
    if type(cell) not in _OP:
        return (f"{type(cell).__name__} is not a built-in cell (LSTMCell, GRUCell, SimpleRNNCell), and only those map "
                "onto ONNX's LSTM/GRU/RNN operators")
    for attr in ("activation", "recurrent_activation"):
        fn = getattr(cell, attr, None)
        if fn is not None and _activation_name(fn) is None:
            return (f"its {attr} {activations.serialize(fn)!r} is not one of ONNX's recurrent activations here "
                    f"({', '.join(_ACTIVATIONS)})")
    return None


def onnx_activations(cell: torch.nn.Module) -> list[str]:
    """The ``activations`` attribute: LSTM [f, g, h] = [σ, φ, φ]; GRU [f, g] = [σ, φ]; RNN [φ]."""
    act = _activation_name(cell.activation)
    if isinstance(cell, LSTMCell):
        return [_activation_name(cell.recurrent_activation), act, act]
    if isinstance(cell, GRUCell):
        return [_activation_name(cell.recurrent_activation), act]
    return [act]


@torch.no_grad()
def onnx_weights(cell: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(W (1, G H, F), R (1, G H, H), B (1, 2 G H))`` of ``cell`` in ONNX's gate order (copies)."""
    order = _GATE_ORDER[type(cell)]

    def reorder(w: torch.Tensor) -> torch.Tensor:
        blocks = w.detach().float().chunk(len(order), dim=0)
        return torch.cat([blocks[i] for i in order], dim=0)

    w, r = reorder(cell.weight_ih), reorder(cell.weight_hh)
    if cell.use_bias:
        b = torch.cat([reorder(cell.bias_ih), reorder(cell.bias_hh)])
    else:
        b = torch.zeros(2 * w.shape[0])
    return w[None].contiguous(), r[None].contiguous(), b[None].contiguous()


class _OnnxRNN(torch.autograd.Function):
    """One ONNX recurrent node; ``forward`` gives shapes only (the tracer needs tensors, not numbers)."""

    @staticmethod
    def forward(ctx, x, w, r, b, lens, h0, c0, op, hidden, acts, linear_before_reset):  # type: ignore[override]
        steps, batch = x.shape[0], x.shape[1]
        y = x.new_zeros(steps, 1, batch, hidden)  # (T, D, B, H)
        y_h = x.new_zeros(1, batch, hidden)  # (D, B, H)
        return (y, y_h, x.new_zeros(1, batch, hidden)) if op == "LSTM" else (y, y_h)

    @staticmethod
    def symbolic(g, x, w, r, b, lens, h0, c0, op, hidden, acts, linear_before_reset):
        attrs: dict[str, Any] = {"hidden_size_i": hidden, "direction_s": "forward", "activations_s": list(acts)}
        if op == "GRU":
            attrs["linear_before_reset_i"] = linear_before_reset
        if op == "LSTM":
            return g.op("LSTM", x, w, r, b, lens, h0, c0, outputs=3, **attrs)
        return g.op(op, x, w, r, b, lens, h0, outputs=2, **attrs)


def onnx_rnn(cell: torch.nn.Module, weights: tuple[torch.Tensor, torch.Tensor, torch.Tensor], x: torch.Tensor,
             lens: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Run ``cell`` as one ONNX node over ``x`` (B, T, F) whose row b has ``lens[b]`` (int32) valid leading steps.

    ``state``: the cell's initial state, (B, H) each.  Returns (outputs (B, T, H), zero after each row's
    steps, and the final state tuple, (B, H) each).
    """
    blocker = cell_blocker(cell)
    if blocker is not None:
        raise ExportError(f"{type(cell).__name__}: {blocker}")
    op = _OP[type(cell)]
    w, r, b = weights
    h0 = state[0][None]  # (1, B, H)
    c0 = state[1][None] if op == "LSTM" else h0
    reset_after = int(bool(getattr(cell, "reset_after", True)))
    outs = _OnnxRNN.apply(x.transpose(0, 1), w, r, b, lens, h0, c0, op, cell.units, tuple(onnx_activations(cell)),
                          reset_after)
    y = outs[0][:, 0].transpose(0, 1)  # (T, 1, B, H) -> (B, T, H)
    return y, tuple(s[0] for s in outs[1:])
