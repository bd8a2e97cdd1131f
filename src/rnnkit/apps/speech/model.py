"""Model builders of speech recognition: masked recurrent encoders over feature frames, for words or CTC digits.

Every model takes features ``(batch, frames, features)`` whose padded frames hold
:data:`~rnnkit.apps.speech.data.PAD`; a ``Masking`` layer turns them into the mask
that the recurrent layers (the backward direction of ``bilstm`` starts at each
utterance's last real frame), the pooling and the CTC loss use.  Each is a plain
:class:`rnnkit.Sequential`, so :func:`rnnkit.load_model` reopens a run's model.

* ``bilstm`` (default), ``lstm``, ``gru``: ``Masking -> [StackFrames] -> [recurrent, return_sequences] x layers``;
* ``cnn-bilstm``: ``Masking -> [StackFrames] -> MaskedConv1D(relu, 5, same) -> Dropout -> [BiLSTM] x layers``;
* ``crnn``: ``Masking -> SpectrogramConv(filters / 4, filters / 2) -> [StackFrames] -> [BiLSTM] x layers``: 2-D
  convolutions over time and bands (for log-mel features), pooled over bands only;

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

from typing import Any, Sequence

import torch
from torch import nn

from rnnkit import Sequential
from rnnkit._base_layer import Layer
from rnnkit._validation import check_positive_int
from rnnkit.errors import ConfigError, ShapeError
from rnnkit.layers import (GRU, LSTM, Bidirectional, Conv2D, Dense, Dropout, GlobalMaxPooling1D, MaskedConv1D,
                           Masking)
from rnnkit.saving import register_serializable

from .data import PAD

__all__ = ["MODELS", "TASKS", "build_model", "SpectrogramConv", "StackFrames"]

MODELS = ("bilstm", "gru", "lstm", "cnn-bilstm", "crnn")
TASKS = ("words", "digits")


@register_serializable(package="rnnkit.speech", name="MaskedConv1D")
class _SavedMaskedConv1D(MaskedConv1D):
    """The name that speech runs saved before ``MaskedConv1D`` moved into :mod:`rnnkit.layers` carry in their model
    files, so that they still load; the layer is the core one (their inputs are 0 at masked steps, as it makes
    them, so their outputs do not change)."""


@register_serializable(package="rnnkit.speech")
class SpectrogramConv(Layer):
    r"""2-D convolutions over the (time, band) map of each utterance, each followed by max pooling over bands.

    Block ``i`` (``filters[i]`` channels, ``k x k`` kernels, ``'same'`` padding):

    .. math::
        h^{(i)}_{b,t,f,:} = \max_{0 \le j < p} \mathrm{relu}\big(\mathrm{conv}(h^{(i-1)})\big)_{b,t,pf+j,:}
            \cdot m_{b,t}

    with :math:`h^{(0)}` the features as one channel and :math:`m` the mask, so
    padded frames come out 0 after every block (the next block's kernels then see
    zeros past the end, as at the start).  Pooling over bands, never over time,
    keeps one output frame per input frame: a shift of the voice's formants by a
    band or two (another speaker's vocal tract) moves a pattern the kernels still
    match.

    Shape:
        * input: ``(batch, time, bands)``; mask ``(batch, time)``.
        * output: ``(batch, time, (bands // p^n) * filters[-1])`` for ``n`` blocks; the mask passes.

    >>> import torch
    >>> conv = SpectrogramConv([4, 8], pool=2)
    >>> conv(torch.zeros(2, 5, 40)).shape
    torch.Size([2, 5, 80])
    """

    def __init__(self, filters: Sequence[int] = (16, 32), kernel_size: int = 3, pool: int = 2, *,
                 input_size: int | None = None, name: str | None = None) -> None:
        super().__init__(name=name)
        owner = type(self).__name__
        #: bands per frame, set by the first call when not given (ONNX export reads the model's input width here)
        self.input_size = None if input_size is None else check_positive_int(owner, "input_size", input_size)
        self.filters = [check_positive_int(owner, "filters", f) for f in filters]
        self.kernel_size = check_positive_int(owner, "kernel_size", kernel_size)
        self.pool = check_positive_int(owner, "pool", pool)
        self.blocks = nn.ModuleList(Conv2D(f, self.kernel_size, padding="same", activation="relu")
                                    for f in self.filters)

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if inputs.dim() != 3:
            raise ShapeError(f"SpectrogramConv: expected (batch, time, bands), got shape {tuple(inputs.shape)}")
        batch, time, bands = inputs.shape
        if self.input_size is None:
            self.input_size = bands
        elif bands != self.input_size:
            raise ShapeError(f"SpectrogramConv: built for {self.input_size} bands per frame, got {bands}")
        if bands < self.pool ** len(self.blocks):
            raise ShapeError(f"SpectrogramConv: {bands} bands cannot be pooled by {self.pool} {len(self.blocks)} "
                             f"times; give at least {self.pool ** len(self.blocks)} bands or fewer blocks")
        keep = None if mask is None else mask[:, :, None, None].to(inputs.dtype)  # (B, T, 1, 1)
        x = inputs[..., None]  # (B, T, F, 1)
        for conv in self.blocks:
            x = conv(x if keep is None else x * keep)  # (B, T, F, C)
            f = x.shape[2] // self.pool * self.pool
            x = x[:, :, :f].unflatten(2, (f // self.pool, self.pool)).amax(dim=3)  # (B, T, F / p, C)
        x = x if keep is None else x * keep
        return x.reshape(batch, time, -1)  # (B, T, F' C)

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor | None:
        return mask

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": list(self.filters), "kernel_size": self.kernel_size,
                "pool": self.pool, "input_size": self.input_size}


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
    if kind in ("bilstm", "cnn-bilstm", "crnn"):
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
    if kind == "crnn":
        layers_.append(SpectrogramConv((max(filters // 4, 1), max(filters // 2, 1))))  # (B, T, F / 4 * filters / 2)
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
