"""Model builders of speech recognition: masked recurrent encoders over feature frames, for words or CTC digits.

Every model takes features ``(batch, frames, features)`` whose padded frames hold
:data:`~rnnkit.apps.speech.data.PAD`; a ``Masking`` layer turns them into the mask
that the recurrent layers (the backward direction of ``bilstm`` starts at each
utterance's last real frame), the pooling and the CTC loss use.  Each is a plain
:class:`rnnkit.Sequential`, so :func:`rnnkit.load_model` reopens a run's model.

* ``bilstm`` (default), ``lstm``, ``gru``: ``Masking -> [recurrent, return_sequences] x layers``;
* ``cnn-bilstm``: ``Masking -> MaskedConv1D(relu, 5, same) -> Dropout -> [BiLSTM] x layers``;

then, for ``words``, ``GlobalMaxPooling1D -> Dropout -> Dense(classes)`` (logits
``(batch, classes)``); for ``digits``, ``Dropout -> Dense(classes + 1)`` per frame
(logits ``(batch, frames, classes + 1)``, class 0 the CTC blank).

>>> import torch
>>> model = build_model("cnn-bilstm", "digits", num_classes=10, units=4)
>>> x = torch.zeros(2, 7, 40); x[1, 5:] = -1000.0
>>> out, mask = model.forward_with_mask(x)
>>> out.shape, mask.sum(dim=1).tolist()
(torch.Size([2, 7, 11]), [7, 5])
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rnnkit import Sequential
from rnnkit.errors import ConfigError
from rnnkit.layers import GRU, LSTM, Bidirectional, Conv1D, Dense, Dropout, GlobalMaxPooling1D, Masking
from rnnkit.saving import register_serializable

from .data import PAD

__all__ = ["MODELS", "TASKS", "build_model", "MaskedConv1D"]

MODELS = ("bilstm", "gru", "lstm", "cnn-bilstm")
TASKS = ("words", "digits")


@register_serializable(package="rnnkit.speech")
class MaskedConv1D(Conv1D):
    """A ``Conv1D`` with ``padding='same'`` and stride 1 that keeps the mask: padded steps come out 0 and stay masked."""

    def __init__(self, filters: int, kernel_size: int, activation: Any = None, **kwargs: Any) -> None:
        kwargs.pop("padding", None), kwargs.pop("strides", None)
        super().__init__(filters, kernel_size, padding="same", activation=activation, **kwargs)

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        y = super().forward(inputs)
        return y if mask is None else y * mask[:, :, None].to(y.dtype)

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor | None:
        return mask


def _recurrent(kind: str, units: int) -> nn.Module:
    if kind in ("bilstm", "cnn-bilstm"):
        return Bidirectional(LSTM(units, return_sequences=True))
    if kind == "lstm":
        return LSTM(units, return_sequences=True)
    return GRU(units, return_sequences=True)


def build_model(kind: str, task: str, num_classes: int, *, units: int = 128, layers: int = 2,
                dropout: float = 0.2, filters: int = 64) -> Sequential:
    """A ``kind`` model (one of :data:`MODELS`) for ``task`` (words: one label; digits: CTC over frames)."""
    if kind not in MODELS:
        raise ConfigError(f"--model must be one of {', '.join(MODELS)}, got {kind!r}")
    if task not in TASKS:
        raise ConfigError(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
    stack: list[nn.Module] = [Masking(PAD)]  # (B, T, F), mask (B, T)
    if kind == "cnn-bilstm":
        stack += [MaskedConv1D(filters, 5, activation="relu"), Dropout(dropout)]  # (B, T, filters)
    for i in range(layers):
        stack.append(_recurrent(kind, units))  # (B, T, U) or (B, T, 2U)
        if i < layers - 1:
            stack.append(Dropout(dropout))
    if task == "words":
        stack += [GlobalMaxPooling1D(), Dropout(dropout), Dense(num_classes)]  # logits (B, C)
    else:
        stack += [Dropout(dropout), Dense(num_classes + 1)]  # logits (B, T, C + 1), class 0 the blank
    return Sequential(stack)
