"""LSTMCell: the long short-term memory cell, one time step."""
from __future__ import annotations

from typing import Any, Callable

import torch

from .. import activations
from ..saving import register_serializable
from ._base import RecurrentCell, State

__all__ = ["LSTMCell"]


@register_serializable
class LSTMCell(RecurrentCell):
    r"""One step of an LSTM (Hochreiter & Schmidhuber 1997, with forget gate).

    .. math::
        \begin{aligned}
        i_t &= \sigma(x_t W_{ii}^T + b_{ii} + h_{t-1} W_{hi}^T + b_{hi}) \\
        f_t &= \sigma(x_t W_{if}^T + b_{if} + h_{t-1} W_{hf}^T + b_{hf}) \\
        g_t &= \phi(x_t W_{ig}^T + b_{ig} + h_{t-1} W_{hg}^T + b_{hg}) \\
        o_t &= \sigma(x_t W_{io}^T + b_{io} + h_{t-1} W_{ho}^T + b_{ho}) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        h_t &= o_t \odot \phi(c_t)
        \end{aligned}

    :math:`\sigma` is ``recurrent_activation`` (sigmoid by default) and
    :math:`\phi` is ``activation`` (tanh by default).  The output is :math:`h_t`;
    the state is ``(h_t, c_t)``.

    Gate order: the four blocks of ``weight_ih`` (4*units, input_size),
    ``weight_hh`` (4*units, units), ``bias_ih`` and ``bias_hh`` (4*units,) are
    stacked as **i, f, g, o** — the order of ``torch.nn.LSTM`` and of Keras
    (which calls g the cell candidate c).

    ``unit_forget_bias=True`` (the default, as in Keras) starts the forget-gate
    bias at 1 so that early training remembers rather than forgets.

    Example:
        >>> import torch
        >>> cell = LSTMCell(5, input_size=3)
        >>> out, (h, c) = cell(torch.ones(2, 3))
        >>> out.shape, c.shape
        (torch.Size([2, 5]), torch.Size([2, 5]))
    """

    num_gates = 4

    def __init__(
        self,
        units: int,
        activation: str | Callable = "tanh",
        recurrent_activation: str | Callable = "sigmoid",
        unit_forget_bias: bool = True,
        **kwargs: Any,
    ) -> None:
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)
        super().__init__(units, **kwargs)

    @property
    def state_size(self) -> tuple[int, int]:
        return (self.units, self.units)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.use_bias and self.unit_forget_bias:
            self.bias_ih[self.units : 2 * self.units].fill_(1.0)

    def recurrence(
        self, xp_t: torch.Tensor, state: State, recurrent_mask: torch.Tensor | None = None,
        weight_hh: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        # W_hh, or W̃_hh after DropConnect (one tensor for the whole sequence)      (G*units, units)
        w_hh = self.weight_hh if weight_hh is None else weight_hh
        h, c = state
        if recurrent_mask is not None:
            # h_{t-1} ⊙ m: recurrent dropout, one mask per sequence                 (batch, units)
            h = h * recurrent_mask
        # z_t = x_t W_ih^T + b_ih + b_hh + h_{t-1} W_hh^T, the four gates' inputs   (batch, 4*units)
        z = torch.addmm(xp_t, h, w_hh.t())
        z_i, z_f, z_g, z_o = z.chunk(4, dim=1)
        # i_t = σ(z_i)
        i = self.recurrent_activation(z_i)
        # f_t = σ(z_f)
        f = self.recurrent_activation(z_f)
        # g_t = φ(z_g)
        g = self.activation(z_g)
        # o_t = σ(z_o)
        o = self.recurrent_activation(z_o)
        # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        c_new = torch.addcmul(f * c, i, g)
        # h_t = o_t ⊙ φ(c_t)
        h_new = o * self.activation(c_new)
        return h_new, (h_new, c_new)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        }
