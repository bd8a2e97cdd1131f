"""Model builders of speech recognition: masked recurrent encoders over feature frames, for words or CTC digits.

Every model takes features ``(batch, frames, features)`` whose padded frames hold
:data:`~rnnkit.apps.speech.data.PAD`; a ``Masking`` layer turns them into the mask
that the recurrent layers (the backward direction of ``bilstm`` starts at each
utterance's last real frame), the pooling and the CTC loss use.  Each is a plain
:class:`rnnkit.Sequential`, so :func:`rnnkit.load_model` reopens a run's model.

* ``bilstm`` (default), ``lstm``, ``gru``: ``Masking -> [StackFrames] -> [recurrent, return_sequences] x layers``;
* ``cnn-bilstm``: ``Masking -> [StackFrames] -> MaskedConv1D(relu, 5, same) -> Dropout -> [BiLSTM] x layers``;

``StackFrames(k)`` (with ``stack`` > 1) joins every ``k`` frames into one, so the
recurrent layers run ``k`` times fewer, ``k`` times wider steps (10 ms frames
become ``10 k`` ms), as low-frame-rate recognisers do;

then, for ``words``, ``GlobalMaxPooling1D -> Dropout -> Dense(classes)`` (logits
``(batch, classes)``); for ``digits``, ``Dropout -> Dense(classes + 1)`` per frame
(logits ``(batch, frames, classes + 1)``, class 0 the CTC blank).

>>> import torch
>>> model = build_model("cnn-bilstm", "digits", num_classes=10, units=4)
>>> x = torch.zeros(2, 7, 40); x[1, 5:] = -1000.0
>>> out, mask = model.forward_with_mask(x)
>>> out.shape, mask.sum(dim=1).tolist()
(torch.Size([2, 7, 11]), [7, 5])
>>> out, mask = build_model("bilstm", "digits", num_classes=10, units=4, stack=3).forward_with_mask(x)
>>> out.shape, mask.sum(dim=1).tolist()
(torch.Size([2, 3, 11]), [3, 2])
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rnnkit import Sequential
from rnnkit._base_layer import Layer
from rnnkit._validation import check_positive_int
from rnnkit.errors import ConfigError, ShapeError
from rnnkit.layers import GRU, LSTM, Bidirectional, Conv1D, Dense, Dropout, GlobalMaxPooling1D, Masking
from rnnkit.saving import register_serializable

from .data import PAD

__all__ = ["MODELS", "TASKS", "build_model", "MaskedConv1D", "StackFrames"]

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


@register_serializable(package="rnnkit.speech")
class StackFrames(Layer):
    r"""Join every ``k`` consecutive frames into one: ``k`` times fewer steps, ``k`` times the features.

    .. math::
        y_{b,s,:} = [x_{b,sk,:};\ x_{b,sk+1,:};\ \dots;\ x_{b,sk+k-1,:}], \qquad
        m'_{b,s} = m_{b,sk}

    The time axis is padded with zero frames to a multiple of ``k``; masked input
    frames come out 0 (as after ``Masking``), and a stacked step is real when its
    first frame is, so an utterance of ``n`` frames keeps ``ceil(n / k)`` steps.

    Shape:
        * input: ``(batch, time, features)``; mask ``(batch, time)``.
        * output: ``(batch, ceil(time / k), k * features)``; mask ``(batch, ceil(time / k))``.

    >>> import torch
    >>> StackFrames(2)(torch.arange(6.0).reshape(1, 3, 2)).tolist()
    [[[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 0.0, 0.0]]]
    """

    def __init__(self, k: int, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.k = check_positive_int(type(self).__name__, "k", k)

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if inputs.dim() != 3:
            raise ShapeError(f"StackFrames: expected (batch, time, features), got shape {tuple(inputs.shape)}")
        x = inputs if mask is None else inputs * mask[:, :, None].to(inputs.dtype)
        batch, time, features = x.shape
        steps = -(-time // self.k)
        x = nn.functional.pad(x, (0, 0, 0, steps * self.k - time))  # (B, S k, F)
        return x.reshape(batch, steps, self.k * features)  # (B, S, k F)

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor | None:
        return None if mask is None else mask[:, :: self.k]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "k": self.k}


def _recurrent(kind: str, units: int) -> nn.Module:
    if kind in ("bilstm", "cnn-bilstm"):
        return Bidirectional(LSTM(units, return_sequences=True))
    if kind == "lstm":
        return LSTM(units, return_sequences=True)
    return GRU(units, return_sequences=True)


def build_model(kind: str, task: str, num_classes: int, *, units: int = 128, layers: int = 2,
                dropout: float = 0.2, filters: int = 64, stack: int = 1) -> Sequential:
    """A ``kind`` model (one of :data:`MODELS`) for ``task`` (words: one label; digits: CTC over frames),
    its recurrent layers over every ``stack`` frames joined into one."""
    if kind not in MODELS:
        raise ConfigError(f"--model must be one of {', '.join(MODELS)}, got {kind!r}")
    if task not in TASKS:
        raise ConfigError(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
    layers_: list[nn.Module] = [Masking(PAD)]  # (B, T, F), mask (B, T)
    if stack > 1:
        layers_.append(StackFrames(stack))  # (B, T', stack F), T' = ceil(T / stack)
    if kind == "cnn-bilstm":
        layers_ += [MaskedConv1D(filters, 5, activation="relu"), Dropout(dropout)]  # (B, T', filters)
    for i in range(layers):
        layers_.append(_recurrent(kind, units))  # (B, T', U) or (B, T', 2U)
        if i < layers - 1:
            layers_.append(Dropout(dropout))
    if task == "words":
        layers_ += [GlobalMaxPooling1D(), Dropout(dropout), Dense(num_classes)]  # logits (B, C)
    else:
        layers_ += [Dropout(dropout), Dense(num_classes + 1)]  # logits (B, T', C + 1), class 0 the blank
    return Sequential(layers_)
