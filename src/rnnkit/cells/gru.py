"""GRUCell: the gated recurrent unit, one time step, in both of its variants."""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from .. import activations
from ..saving import register_serializable
from ._base import RecurrentCell, State

__all__ = ["GRUCell"]


@register_serializable
class GRUCell(RecurrentCell):
    r"""One step of a GRU (Cho et al. 2014).

    With ``reset_after=True`` (the default; PyTorch's and cuDNN's variant) the
    reset gate multiplies the recurrent product after it is taken:

    .. math::
        \begin{aligned}
        r_t &= \sigma(x_t W_{ir}^T + b_{ir} + h_{t-1} W_{hr}^T + b_{hr}) \\
        z_t &= \sigma(x_t W_{iz}^T + b_{iz} + h_{t-1} W_{hz}^T + b_{hz}) \\
        n_t &= \phi(x_t W_{in}^T + b_{in} + r_t \odot (h_{t-1} W_{hn}^T + b_{hn})) \\
        h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}
        \end{aligned}

    With ``reset_after=False`` (the original paper's and Keras 1's variant) it
    multiplies the state before the product:
    :math:`n_t = \phi(x_t W_{in}^T + b_{in} + b_{hn} + (r_t \odot h_{t-1}) W_{hn}^T)`.

    :math:`\sigma` is ``recurrent_activation`` (sigmoid), :math:`\phi` is
    ``activation`` (tanh).  The output is :math:`h_t`; the state is ``(h_t,)``.

    Gate order: the three blocks of ``weight_ih`` (3*units, input_size),
    ``weight_hh`` (3*units, units), ``bias_ih`` and ``bias_hh`` (3*units,) are
    stacked as **r, z, n** — the order of ``torch.nn.GRU``.  (Keras stacks
    z, r, h; :func:`rnnkit.layers.convert` helpers reorder.)

    Example:
        >>> import torch
        >>> cell = GRUCell(4, input_size=3, reset_after=False)
        >>> out, (h,) = cell(torch.ones(2, 3))
        >>> out.shape
        torch.Size([2, 4])
    """

    num_gates = 3

    def __init__(
        self,
        units: int,
        activation: str | Callable = "tanh",
        recurrent_activation: str | Callable = "sigmoid",
        reset_after: bool = True,
        **kwargs: Any,
    ) -> None:
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)
        super().__init__(units, **kwargs)

    def _input_bias(self) -> torch.Tensor | None:
        if not self.use_bias:
            return None
        if not self.reset_after:
            return self.bias_ih + self.bias_hh
        # b_hn sits inside r_t ⊙ (...), so only the r and z parts of b_hh fold in.
        u = self.units
        return torch.cat([self.bias_ih[: 2 * u] + self.bias_hh[: 2 * u], self.bias_ih[2 * u :]])

    def recurrence(
        self, xp_t: torch.Tensor, state: State, recurrent_mask: torch.Tensor | None = None,
        weight_hh: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        # W_hh, or W̃_hh after DropConnect (one tensor for the whole sequence)      (G*units, units)
        w_hh = self.weight_hh if weight_hh is None else weight_hh
        (h,) = state
        # h_{t-1} ⊙ m as it enters the recurrent products (recurrent dropout; h itself when none)
        hr = h if recurrent_mask is None else h * recurrent_mask
        u = self.units
        x_r, x_z, x_n = xp_t.chunk(3, dim=1)
        if self.reset_after:
            # h_{t-1} W_hh^T for all three gates at once (b_hr, b_hz are in xp_t)   (batch, 3*units)
            bias_hh_n = self.bias_hh[2 * u :] if self.use_bias else None
            hp = F.linear(hr, w_hh)
            h_r, h_z, h_n = hp.chunk(3, dim=1)
            # r_t = σ(x_t W_ir^T + b_ir + h_{t-1} W_hr^T + b_hr)
            r = self.recurrent_activation(x_r + h_r)
            # z_t = σ(x_t W_iz^T + b_iz + h_{t-1} W_hz^T + b_hz)
            z = self.recurrent_activation(x_z + h_z)
            # n_t = φ(x_t W_in^T + b_in + r_t ⊙ (h_{t-1} W_hn^T + b_hn))
            if bias_hh_n is not None:
                h_n = h_n + bias_hh_n
            n = self.activation(torch.addcmul(x_n, r, h_n))
        else:
            w_rz, w_n = w_hh[: 2 * u], w_hh[2 * u :]
            h_r, h_z = F.linear(hr, w_rz).chunk(2, dim=1)
            # r_t = σ(x_t W_ir^T + b_r + h_{t-1} W_hr^T)
            r = self.recurrent_activation(x_r + h_r)
            # z_t = σ(x_t W_iz^T + b_z + h_{t-1} W_hz^T)
            z = self.recurrent_activation(x_z + h_z)
            # n_t = φ(x_t W_in^T + b_n + (r_t ⊙ h_{t-1}) W_hn^T)
            n = self.activation(torch.addmm(x_n, r * hr, w_n.t()))
        # h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}  =  n_t + z_t ⊙ (h_{t-1} - n_t)
        h_new = torch.addcmul(n, z, h - n)
        return h_new, (h_new,)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "reset_after": self.reset_after,
        }
