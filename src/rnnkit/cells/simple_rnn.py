"""SimpleRNNCell: the Elman recurrent cell, one time step."""
from __future__ import annotations

from typing import Any, Callable

import torch

from .. import activations
from ..saving import register_serializable
from ._base import RecurrentCell, State

__all__ = ["SimpleRNNCell"]


@register_serializable
class SimpleRNNCell(RecurrentCell):
    r"""One step of an Elman network (Keras ``SimpleRNNCell``, PyTorch ``RNNCell``).

    .. math::
        h_t = \phi(x_t W_{ih}^T + b_{ih} + h_{t-1} W_{hh}^T + b_{hh})

    where :math:`\phi` is ``activation`` (tanh by default; also 'relu', 'sigmoid',
    'linear' or any callable).  The output is :math:`h_t`; the state is ``(h_t,)``.

    Shapes: ``x_t`` (batch, input_size), ``h`` (batch, units).
    Weights: ``weight_ih`` (units, input_size), ``weight_hh`` (units, units),
    ``bias_ih``/``bias_hh`` (units,) — the layout of ``torch.nn.RNNCell``.

    Example:
        >>> import torch
        >>> cell = SimpleRNNCell(4, input_size=3)
        >>> out, (h,) = cell(torch.zeros(2, 3))
        >>> out.shape, torch.equal(out, h)
        (torch.Size([2, 4]), True)
    """

    num_gates = 1

    def __init__(self, units: int, activation: str | Callable = "tanh", **kwargs: Any) -> None:
        self.activation = activations.get(activation)
        super().__init__(units, **kwargs)

    def recurrence(
        self, xp_t: torch.Tensor, state: State, recurrent_mask: torch.Tensor | None = None,
        weight_hh: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        # W_hh, or W̃_hh after DropConnect (one tensor for the whole sequence)      (G*units, units)
        w_hh = self.weight_hh if weight_hh is None else weight_hh
        (h,) = state
        if recurrent_mask is not None:
            # h_{t-1} ⊙ m: recurrent dropout, one mask per sequence                 (batch, units)
            h = h * recurrent_mask
        # h_t = φ(x_t W_ih^T + b_ih + b_hh + h_{t-1} W_hh^T)          (batch, units)
        h_new = self.activation(torch.addmm(xp_t, h, w_hh.t()))
        return h_new, (h_new,)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}
