"""Recurrent cells: one time step each, ``forward(x_t, state) -> (output, new_state)``.

The loop over time lives in :class:`rnnkit.layers.RNN`; a cell is also usable
alone, like ``torch.nn.LSTMCell``.
"""
from ._base import RecurrentCell, State
from .gru import GRUCell
from .lstm import LSTMCell
from .min_rnn import MinGRUCell, MinLSTMCell
from .simple_rnn import SimpleRNNCell

__all__ = ["RecurrentCell", "State", "SimpleRNNCell", "LSTMCell", "GRUCell", "MinGRUCell", "MinLSTMCell"]
