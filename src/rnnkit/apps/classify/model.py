"""Model builders of text classification: recurrent encoders with masked max pooling, a CNN-LSTM, and a bag.

Every model maps token ids ``(batch, time)`` (0 = padding) to class logits
``(batch, classes)`` and is a plain :class:`rnnkit.Sequential` of core layers:

* ``bilstm`` (default), ``lstm``, ``gru``, ``mingru``:
  ``Embedding(mask_zero) -> Dropout -> [recurrent layer, return_sequences] x layers
  -> GlobalMaxPooling1D -> Dropout -> Dense``.  The padding mask reaches the
  recurrent layers (the backward direction of ``bilstm`` starts at each text's last
  real token) and the pooling (padded steps never win the max).  Max pooling over
  all steps beats the last state alone on long reviews: a strong word anywhere
  reaches the output through one step of the graph.
* ``cnn-lstm``: ``Embedding -> Dropout -> Conv1D(relu, 5) -> MaxPooling1D(4) -> LSTM -> Dense``,
  the shape of Keras' IMDB CNN-LSTM example (no mask: the convolution mixes padded steps).
* ``bag``: ``Embedding(mask_zero) -> GlobalAveragePooling1D -> Dropout -> Dense``, the
  tutorials' non-recurrent baseline (word order ignored).

>>> import torch
>>> model = build_model("bilstm", vocab_size=50, num_classes=3, embed_dim=8, units=4)
>>> model(torch.tensor([[5, 9, 2, 0], [7, 1, 0, 0]])).shape
torch.Size([2, 3])
"""
from __future__ import annotations

from torch import nn

from rnnkit import Sequential
from rnnkit.errors import ConfigError
from rnnkit.layers import (GRU, LSTM, Bidirectional, Conv1D, Dense, Dropout, Embedding, GlobalAveragePooling1D,
                           GlobalMaxPooling1D, MaxPooling1D, MinGRU)

__all__ = ["MODELS", "build_model"]

MODELS = ("bilstm", "lstm", "gru", "mingru", "cnn-lstm", "bag")


def _recurrent(kind: str, units: int) -> nn.Module:
    if kind == "bilstm":
        return Bidirectional(LSTM(units, return_sequences=True))
    if kind == "lstm":
        return LSTM(units, return_sequences=True)
    if kind == "gru":
        return GRU(units, return_sequences=True)
    return MinGRU(units, return_sequences=True)


def build_model(kind: str, vocab_size: int, num_classes: int, *, embed_dim: int = 128, units: int = 64,
                layers: int = 1, dropout: float = 0.3) -> Sequential:
    """A classifier of ``kind`` (one of :data:`MODELS`) giving ``num_classes`` logits."""
    if kind not in MODELS:
        raise ConfigError(f"--model must be one of {', '.join(MODELS)}, got {kind!r}")
    for name, value in (("--embed-dim", embed_dim), ("--units", units), ("--layers", layers)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
    if not 0 <= dropout < 1:
        raise ConfigError(f"--dropout must be in [0, 1), got {dropout!r}")
    if kind == "bag":
        return Sequential([
            Embedding(vocab_size, embed_dim, mask_zero=True),  # (B, T, E), mask (B, T)
            GlobalAveragePooling1D(),  # mean over the real tokens: (B, E)
            Dropout(dropout),
            Dense(num_classes),  # logits (B, C)
        ])
    if kind == "cnn-lstm":
        return Sequential([
            Embedding(vocab_size, embed_dim),  # (B, T, E)
            Dropout(dropout),
            Conv1D(units, 5, padding="same", activation="relu"),  # (B, T, U)
            MaxPooling1D(4),  # (B, T/4, U)
            LSTM(units),  # last state (B, U)
            Dropout(dropout),
            Dense(num_classes),
        ])
    stack: list[nn.Module] = [Embedding(vocab_size, embed_dim, mask_zero=True), Dropout(dropout)]  # (B, T, E)
    for i in range(layers):
        stack.append(_recurrent(kind, units))  # (B, T, U) or (B, T, 2U) for bilstm
        if i < layers - 1:
            stack.append(Dropout(dropout))
    stack += [GlobalMaxPooling1D(), Dropout(dropout), Dense(num_classes)]  # (B, U') -> logits (B, C)
    return Sequential(stack)
