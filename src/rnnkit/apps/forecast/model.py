"""The forecasting network: stacked recurrent layers read the window, a Dense layer emits every step at once.

.. code-block:: text

    x (B, lookback, F) -> (RNN(units_1, sequences) -> [Dropout]) ... -> RNN(units_k) -> [Dropout] -> Dense(H) -> (B, H)

This is the tutorials' stock model (``SimpleRNN(80) -> Dropout(0.2) -> SimpleRNN(100)
-> Dropout(0.2) -> Dense(1)`` with ``cell='rnn', units=(80, 100), dropout=0.2``),
extended to ``H > 1`` by direct multi-output: one Dense unit per future step.
"""
from __future__ import annotations

from typing import Sequence

import torch

from rnnkit.errors import ConfigError
from rnnkit.layers import GRU, LSTM, Dense, Dropout, MinGRU, SimpleRNN
from rnnkit.models import Sequential

__all__ = ["CELLS", "build_model", "parse_units"]

CELLS = {"lstm": LSTM, "gru": GRU, "rnn": SimpleRNN, "mingru": MinGRU}


def parse_units(text: str | int | Sequence[int]) -> tuple[int, ...]:
    """Layer sizes from ``'80,100'``, ``64`` or ``[80, 100]``.

    >>> parse_units("80,100"), parse_units(32)
    ((80, 100), (32,))
    """
    if isinstance(text, str):
        parts = [p.strip() for p in text.split(",") if p.strip()]
        try:
            units = tuple(int(p) for p in parts)
        except ValueError:
            raise ConfigError(f"--units must be whole numbers separated by commas, e.g. 80,100; got {text!r}") from None
    elif isinstance(text, int) and not isinstance(text, bool):
        units = (text,)
    else:
        units = tuple(text)
    if not units or any(isinstance(u, bool) or not isinstance(u, int) or u < 1 for u in units):
        raise ConfigError(f"--units must be one or more whole numbers >= 1 (one per layer), e.g. 64 or 80,100; got {text!r}")
    return units


def build_model(n_features: int, horizon: int, *, cell: str = "lstm", units: Sequence[int] = (64,),
                dropout: float = 0.0) -> Sequential:
    """A built ``Sequential`` forecaster mapping ``(B, lookback, n_features)`` to ``(B, horizon)``.

    >>> m = build_model(3, 12, cell="gru", units=(16, 8), dropout=0.1)
    >>> m(torch.zeros(4, 24, 3)).shape
    torch.Size([4, 12])
    """
    if cell not in CELLS:
        raise ConfigError(f"--model must be one of {', '.join(CELLS)}, got {cell!r}")
    units = parse_units(units)
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"--dropout must be in [0, 1), got {dropout!r}")
    parts: list[torch.nn.Module] = []
    size = n_features
    for k, u in enumerate(units):
        parts.append(CELLS[cell](u, return_sequences=k < len(units) - 1, input_size=size))
        if dropout:
            parts.append(Dropout(dropout))
        size = u
    parts.append(Dense(horizon, input_size=size))
    return Sequential(parts)
