"""The :class:`RecurrentCell` base: one time step of a recurrent network.

A cell maps ``(x_t, state) -> (output, new_state)``.  ``state`` is always a
tuple of ``(batch, n)`` tensors, one per entry of :attr:`RecurrentCell.state_size`
(``(h,)`` for SimpleRNN, GRU and minGRU, ``(h, c)`` for LSTM).

A step is split in two: :meth:`RecurrentCell.project_inputs` computes
``x W_ih^T + b`` for *all* time steps in one matrix product, and
:meth:`RecurrentCell.recurrence` does the rest of one step from that projection,
written as the equations (one per line, the equation above it).  ``forward`` is
simply the two in a row, so a cell used alone behaves like ``torch.nn.LSTMCell``.

These two methods are the cell's single source of truth: the *reference path*
of :class:`rnnkit.layers.RNN` runs exactly them under autograd, wherever no
kernel applies (a GPU with recurrent dropout, other activations, no C
compiler, a subclass; ``use_fused='reference'`` asks for it).  PyTorch's fused
kernel and rnnkit's compiled C loop are optimisations of the built-in cells,
tested equal to this code; a subclass that overrides ``recurrence`` always
runs its own code.  A user-defined cell only needs ``forward``, ``state_size``
and ``output_size``.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from .. import initializers
from .._validation import as_tensor, check_bool, check_floating, check_ndim, check_positive_int, check_rate
from ..errors import ShapeError
from .._base_layer import Layer
from ..saving import register_serializable

__all__ = ["RecurrentCell", "State"]

State = tuple[torch.Tensor, ...]


@register_serializable
class RecurrentCell(Layer):
    """Base class of the gated cells with PyTorch-layout weights.

    Weights, created at build time (``G`` gates stacked along the first axis in
    the order each subclass documents)::

        weight_ih : (G * units, input_size)
        weight_hh : (G * units, units)
        bias_ih   : (G * units,)     only if use_bias
        bias_hh   : (G * units,)     only if use_bias

    Args:
        units: size of the hidden state.
        input_size: features per step; inferred at the first call when None.
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer:
            as in Keras; initialisers are names from :mod:`rnnkit.initializers` or callables.
        dropout: fraction of the input features dropped (one mask per sequence).
        recurrent_dropout: fraction of the recurrent state dropped before the
            recurrent product (one mask per sequence).
        recurrent_weight_dropout: fraction of the entries of ``weight_hh``
            dropped while training (DropConnect, the "weight drop" of AWD-LSTM):
            see :meth:`dropped_recurrent_weight`.

    Example — what every cell offers:
        >>> import torch
        >>> from rnnkit.cells import LSTMCell
        >>> cell = LSTMCell(4, input_size=3)
        >>> cell.state_size, [tuple(s.shape) for s in cell.initial_state(2)]
        ((4, 4), [(2, 4), (2, 4)])
        >>> out, state = cell(torch.ones(2, 3), cell.initial_state(2))
        >>> tuple(cell.project_inputs(torch.ones(5, 2, 3)).shape)  # all steps at once: (T, B, 4U)
        (5, 2, 16)
    """

    #: number of gate blocks stacked in weight_ih / weight_hh
    num_gates: int = 1
    #: False for cells whose gates see the input only (minGRU, minLSTM): no weight_hh/bias_hh,
    #: and no recurrent_initializer, dropout or recurrent_dropout arguments
    recurrent_weights: bool = True

    def __init__(
        self,
        units: int,
        *,
        input_size: int | None = None,
        use_bias: bool = True,
        kernel_initializer: str | Callable = "glorot_uniform",
        recurrent_initializer: str | Callable = "orthogonal",
        bias_initializer: str | Callable = "zeros",
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        recurrent_weight_dropout: float = 0.0,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        owner = type(self).__name__
        self.units = check_positive_int(owner, "units", units)
        self.input_size = self._check_input_size(owner, input_size)
        self.use_bias = check_bool(owner, "use_bias", use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.dropout = check_rate(owner, "dropout", dropout)
        self.recurrent_dropout = check_rate(owner, "recurrent_dropout", recurrent_dropout)
        self.recurrent_weight_dropout = check_rate(owner, "recurrent_weight_dropout", recurrent_weight_dropout)
        if self.input_size is not None:
            self.build((None, self.input_size))

    # ------------------------------------------------------------ shapes
    @property
    def state_size(self) -> tuple[int, ...]:
        return (self.units,)

    @property
    def output_size(self) -> int:
        return self.units

    def initial_state(self, batch_size: int, *, device: Any = None, dtype: torch.dtype | None = None) -> State:
        """All-zero state: a tuple with one ``(batch_size, n)`` tensor per entry of ``state_size``."""
        if dtype is None and self.built:
            dtype = self.weight_ih.dtype
        if device is None and self.built:
            device = self.weight_ih.device
        return tuple(torch.zeros(batch_size, n, device=device, dtype=dtype) for n in self.state_size)

    # ------------------------------------------------------------ weights
    def build(self, input_shape: tuple[int, ...], *, device: Any = None, dtype: torch.dtype | None = None) -> None:
        input_size = input_shape[-1]
        self._set_input_size(input_size)
        rows = self.num_gates * self.units
        kw = {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size, **kw))
        self.bias_ih = nn.Parameter(torch.empty(rows, **kw)) if self.use_bias else None
        if self.recurrent_weights:
            self.weight_hh = nn.Parameter(torch.empty(rows, self.units, **kw))
            self.bias_hh = nn.Parameter(torch.empty(rows, **kw)) if self.use_bias else None
        self.reset_parameters()
        super().build(input_shape)

    def _input_shape_from_state(self, state_dict: dict[str, torch.Tensor], prefix: str) -> tuple[Any, ...] | None:
        weight = state_dict.get(prefix + "weight_ih")
        return None if weight is None else (None, weight.shape[1])

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """(Re)initialise the weights with the configured initialisers."""
        self.kernel_initializer(self.weight_ih)
        if self.use_bias:
            self.bias_initializer(self.bias_ih)
        if self.recurrent_weights:
            # Keras initialises its (units, G*units) recurrent kernel as one matrix; ours is
            # the transpose, so one call on the whole tensor gives the same distribution.
            self.recurrent_initializer(self.weight_hh)
            if self.use_bias:
                self.bias_hh.zero_()

    # ------------------------------------------------------------ the step
    def project_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """``x W_ih^T`` plus the biases that sit outside any gate product: (..., in) -> (..., G*units)."""
        return torch.nn.functional.linear(x, self.weight_ih, self._input_bias())

    def _input_bias(self) -> torch.Tensor | None:
        """Bias folded into :meth:`project_inputs`; by default both biases add before the activation."""
        if not self.use_bias or not self.recurrent_weights:
            return self.bias_ih
        return self.bias_ih + self.bias_hh

    def recurrence(
        self, xp_t: torch.Tensor, state: State, recurrent_mask: torch.Tensor | None = None,
        weight_hh: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        """One step from the projected input ``xp_t`` (batch, G*units): ``(output, new_state)``.

        ``recurrent_mask`` (batch, units) is the recurrent-dropout mask of the
        sequence, multiplied into the state before the recurrent product.
        ``weight_hh`` replaces ``self.weight_hh`` for this step: the recurrent
        weight after DropConnect (:meth:`dropped_recurrent_weight`), the same
        tensor for every step of a sequence; None uses ``self.weight_hh``.
        Subclasses implement it as the annotated equations; the reference path of
        :class:`rnnkit.layers.RNN` calls it at every step.
        """
        raise NotImplementedError

    def forward(self, x_t: torch.Tensor, state: State | torch.Tensor | None = None) -> tuple[torch.Tensor, State]:
        """One time step: ``x_t`` (batch, input_size), ``state`` a tuple as in ``state_size`` (None = zeros)."""
        owner = type(self).__name__
        x_t = as_tensor(owner, x_t)
        check_ndim(owner, x_t, 2, "(batch, features)")
        check_floating(owner, x_t)
        self._maybe_build(x_t)
        self._check_input_features(x_t)
        if state is None:
            state = self.initial_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
        elif isinstance(state, torch.Tensor):
            state = (state,)
        state = tuple(state)
        self._check_state(state, x_t.shape[0])
        if self.training and self.dropout > 0:
            x_t = torch.nn.functional.dropout(x_t, self.dropout)
        rmask = None
        if self.training and self.recurrent_dropout > 0:
            rmask = self.recurrent_dropout_mask(x_t.shape[0], x_t.device, x_t.dtype)
        weight_hh = self.dropped_recurrent_weight(self.training)
        if weight_hh is None:
            return self.recurrence(self.project_inputs(x_t), state, rmask)
        return self.recurrence(self.project_inputs(x_t), state, rmask, weight_hh)

    def _check_state(self, state: State, batch: int) -> None:
        owner = type(self).__name__
        if len(state) != len(self.state_size):
            shapes = ", ".join(str((batch, n)) for n in self.state_size)
            raise ShapeError(f"{owner}: expected a state of {len(self.state_size)} tensor(s) of shape {shapes}, got {len(state)}")
        for s, n in zip(state, self.state_size):
            if tuple(s.shape) != (batch, n):
                raise ShapeError(f"{owner}: expected a state tensor of shape ({batch}, {n}), got {tuple(s.shape)}")

    def recurrent_dropout_mask(self, batch: int, device: Any, dtype: torch.dtype) -> torch.Tensor:
        """A (batch, units) inverted-dropout mask for the recurrent state, kept for a whole sequence."""
        keep = 1.0 - self.recurrent_dropout
        return torch.empty(batch, self.units, device=device, dtype=dtype).bernoulli_(keep).div_(keep)

    def dropped_recurrent_weight(self, training: bool) -> torch.Tensor | None:
        r"""``weight_hh`` after DropConnect for one call, or None when nothing is dropped.

        In training with ``recurrent_weight_dropout`` :math:`p > 0` (Wan et al.
        2013; the weight drop of AWD-LSTM, Merity et al. 2018), each entry of the
        recurrent weight is kept with probability :math:`1 - p` and scaled by
        :math:`1/(1-p)`:

        .. math::
            \tilde W_{hh} = \frac{M \odot W_{hh}}{1 - p}, \qquad M_{ij} = [u_{ij} \ge p], \quad
            u_{ij} \sim U(0, 1)

        with :math:`u` one ``torch.rand`` of ``weight_hh``'s shape from PyTorch's
        global generator on the weight's device (seeded by
        :func:`rnnkit.random.set_seed`, saved by checkpoints).  :class:`rnnkit.layers.RNN`
        draws one mask per call and cell, shared by every step and every sequence
        of the batch (the two directions of a Bidirectional are two layers: each
        draws its own); a cell called on its own draws one per call (per step).
        Gradients reach ``weight_hh`` through the mask.  Evaluation mode, or
        :math:`p = 0`: None (the weight as it is, nothing drawn).

        >>> import torch
        >>> from rnnkit.cells import LSTMCell
        >>> cell = LSTMCell(3, input_size=2, recurrent_weight_dropout=0.5)
        >>> w = cell.dropped_recurrent_weight(training=True)
        >>> kept = w != 0
        >>> torch.allclose(w[kept], 2 * cell.weight_hh[kept]), cell.dropped_recurrent_weight(training=False)
        (True, None)
        """
        p = self.recurrent_weight_dropout
        if not training or p <= 0 or not self.recurrent_weights:
            return None
        w = self.weight_hh
        # M = [u >= p], u ~ U(0, 1): one draw per entry of W_hh                    (G*units, units)
        keep = torch.rand(w.shape, device=w.device, dtype=w.dtype) >= p
        # W̃_hh = M ⊙ W_hh / (1 - p)
        return w * keep.to(w.dtype) / (1.0 - p)

    # ------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        config = {
            **super().get_config(),
            "units": self.units,
            "input_size": self.input_size,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
        }
        if self.recurrent_weights:
            config.update(
                recurrent_initializer=initializers.serialize(self.recurrent_initializer),
                dropout=self.dropout,
                recurrent_dropout=self.recurrent_dropout,
                recurrent_weight_dropout=self.recurrent_weight_dropout,
            )
        return config

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, units={self.units}, use_bias={self.use_bias}"
