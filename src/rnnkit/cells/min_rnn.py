r"""MinGRUCell and MinLSTMCell: one step of the minimal RNNs of Feng et al. (2024).

"Were RNNs All We Needed?" strips the GRU and the LSTM down until their gates
depend on the input only.  Each step is then a linear recurrence

.. math::
    h_t = a_t \odot h_{t-1} + b_t

whose coefficients :math:`a_t, b_t` come from :math:`x_t` alone, so a whole
sequence can be computed by a parallel scan (see :class:`rnnkit.layers.MinGRU`).
The cells here are the sequential step: for generation one token at a time, and
as the reference the layers' scans are checked against.

Both use the paper's positive activation for the candidate state,
:math:`g(v) = v + \tfrac12` for :math:`v \ge 0` and :math:`\sigma(v)` for
:math:`v < 0`, which keeps :math:`\tilde h_t > 0` so that the log-space scan
is defined.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..saving import register_serializable
from ._base import RecurrentCell, State

__all__ = ["MinGRUCell", "MinLSTMCell"]


def _positive(v: torch.Tensor) -> torch.Tensor:
    """g(v) = v + 1/2 for v >= 0, sigmoid(v) for v < 0: continuous, increasing, always > 0."""
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


def _log_positive(v: torch.Tensor) -> torch.Tensor:
    """log g(v), computed without taking the log of a small number."""
    # for v < 0, log sigmoid(v) = -softplus(-v); relu keeps the unused branch finite
    return torch.where(v >= 0, torch.log(torch.relu(v) + 0.5), -F.softplus(-v))


class MinCell(RecurrentCell):
    """Shared parts of the two minimal cells: input weights only, a linear recurrence.

    Weights ``weight_ih`` ((G*units, input_size)) and ``bias_ih`` ((G*units,)), no
    recurrent weights.  Subclasses set :attr:`num_gates` and implement
    :meth:`coefficients` and :meth:`log_coefficients`, both from the projected input.
    """

    num_gates = 2
    recurrent_weights = False

    def __init__(
        self,
        units: int,
        *,
        input_size: int | None = None,
        use_bias: bool = True,
        kernel_initializer: str | Callable = "glorot_uniform",
        bias_initializer: str | Callable = "zeros",
        name: str | None = None,
    ) -> None:
        super().__init__(
            units,
            input_size=input_size,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            name=name,
        )

    def coefficients(self, xp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(a, b)`` of ``h_t = a ⊙ h_{t-1} + b`` from the projection ``xp`` (..., G*units)."""
        raise NotImplementedError

    def log_coefficients(self, xp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log a, log b)`` from the projection ``xp``, computed stably (both are > 0)."""
        raise NotImplementedError

    def recurrence(self, xp_t: torch.Tensor, state: State, recurrent_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, State]:
        """One step from the projected input ``xp_t`` (batch, G*units); there are no recurrent weights to drop."""
        (h,) = state
        a, b = self.coefficients(xp_t)
        # h_t = a_t ⊙ h_{t-1} + b_t                                        (batch, units)
        h_new = torch.addcmul(b, a, h)
        return h_new, (h_new,)


@register_serializable
class MinGRUCell(MinCell):
    r"""One step of minGRU: a GRU whose gates see the input only (Feng et al. 2024).

    .. math::
        \begin{aligned}
        z_t &= \sigma(x_t W_z^T + b_z) \\
        \tilde h_t &= g(x_t W_h^T + b_h) \\
        h_t &= (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t
        \end{aligned}

    with :math:`g(v) = v + \tfrac12` for :math:`v \ge 0` and :math:`\sigma(v)`
    for :math:`v < 0`.  The output is :math:`h_t`; the state is ``(h_t,)``.

    Shapes: ``x_t`` (batch, input_size), ``h`` (batch, units).
    Weights: ``weight_ih`` (2*units, input_size) and ``bias_ih`` (2*units,),
    the blocks stacked as **z, h** (update gate, then candidate).

    Args:
        units: size of the hidden state and of the output.
        input_size: features per step; inferred at the first call when None.
        use_bias: whether to add ``bias_ih``.
        kernel_initializer, bias_initializer: names from :mod:`rnnkit.initializers` or callables.
        name: layer name.

    Example:
        >>> import torch
        >>> cell = MinGRUCell(4, input_size=3)
        >>> out, (h,) = cell(torch.ones(2, 3))
        >>> out.shape, cell.weight_ih.shape, torch.equal(out, h)
        (torch.Size([2, 4]), torch.Size([8, 3]), True)
    """

    num_gates = 2

    def coefficients(self, xp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p_z, p_h = xp.chunk(2, dim=-1)
        # z_t = σ(x_t W_z^T + b_z)                                         (..., units)
        z = torch.sigmoid(p_z)
        # h̃_t = g(x_t W_h^T + b_h)
        cand = _positive(p_h)
        # h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ h̃_t, i.e. a_t = 1 − z_t = σ(−p_z), b_t = z_t ⊙ h̃_t
        return torch.sigmoid(-p_z), z * cand

    def log_coefficients(self, xp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p_z, p_h = xp.chunk(2, dim=-1)
        # log a_t = log(1 − σ(p_z)) = −softplus(p_z)
        log_a = -F.softplus(p_z)
        # log b_t = log σ(p_z) + log g(p_h) = −softplus(−p_z) + log g(p_h)
        log_b = -F.softplus(-p_z) + _log_positive(p_h)
        return log_a, log_b


@register_serializable
class MinLSTMCell(MinCell):
    r"""One step of minLSTM: an LSTM whose gates see the input only, normalised (Feng et al. 2024).

    .. math::
        \begin{aligned}
        f_t &= \sigma(x_t W_f^T + b_f), \quad i_t = \sigma(x_t W_i^T + b_i) \\
        \tilde h_t &= g(x_t W_h^T + b_h) \\
        f'_t &= \frac{f_t}{f_t + i_t}, \quad i'_t = \frac{i_t}{f_t + i_t} \\
        h_t &= f'_t \odot h_{t-1} + i'_t \odot \tilde h_t
        \end{aligned}

    with :math:`g(v) = v + \tfrac12` for :math:`v \ge 0` and :math:`\sigma(v)`
    for :math:`v < 0`.  The output is :math:`h_t`; the state is ``(h_t,)``
    (minLSTM has no separate cell state).

    Shapes: ``x_t`` (batch, input_size), ``h`` (batch, units).
    Weights: ``weight_ih`` (3*units, input_size) and ``bias_ih`` (3*units,),
    the blocks stacked as **f, i, h** (forget, input, candidate).

    Args:
        units: size of the hidden state and of the output.
        input_size: features per step; inferred at the first call when None.
        use_bias: whether to add ``bias_ih``.
        kernel_initializer, bias_initializer: names from :mod:`rnnkit.initializers` or callables.
        name: layer name.

    Example:
        >>> import torch
        >>> cell = MinLSTMCell(4, input_size=3)
        >>> out, (h,) = cell(torch.ones(2, 3), (torch.zeros(2, 4),))
        >>> out.shape, cell.weight_ih.shape
        (torch.Size([2, 4]), torch.Size([12, 3]))
    """

    num_gates = 3

    @staticmethod
    def _normalised_forget_logit(p_f: torch.Tensor, p_i: torch.Tensor) -> torch.Tensor:
        """d with σ(d) = f / (f + i): d = log f − log i = softplus(−p_i) − softplus(−p_f)."""
        return F.softplus(-p_i) - F.softplus(-p_f)

    def coefficients(self, xp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p_f, p_i, p_h = xp.chunk(3, dim=-1)
        d = self._normalised_forget_logit(p_f, p_i)
        # f'_t = f_t / (f_t + i_t) = σ(log f_t − log i_t), stable even when both gates underflow
        f_norm = torch.sigmoid(d)
        # i'_t = i_t / (f_t + i_t) = σ(log i_t − log f_t)
        i_norm = torch.sigmoid(-d)
        # h̃_t = g(x_t W_h^T + b_h)
        cand = _positive(p_h)
        # h_t = f'_t ⊙ h_{t−1} + i'_t ⊙ h̃_t
        return f_norm, i_norm * cand

    def log_coefficients(self, xp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p_f, p_i, p_h = xp.chunk(3, dim=-1)
        d = self._normalised_forget_logit(p_f, p_i)
        # log f'_t = log σ(d) = −softplus(−d)
        log_a = -F.softplus(-d)
        # log b_t = log i'_t + log h̃_t = −softplus(d) + log g(p_h)
        log_b = -F.softplus(d) + _log_positive(p_h)
        return log_a, log_b
