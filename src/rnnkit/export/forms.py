"""Export forms: a :class:`~rnnkit.models.Sequential` rewritten into modules the ONNX exporter traces exactly.

A model is not traced as it runs in PyTorch: its recurrent layers choose a path
(``fused``, ``compiled`` — a C loop the exporter cannot see — or ``reference``) from
the data, and some layers do Python arithmetic on shapes, which a trace would freeze.
:func:`sequential_form` maps each layer to a form that computes the same numbers
with a dynamic batch and time axis:

* ``LSTM``, ``GRU``, ``SimpleRNN`` and ``RNN`` over their cells -> :class:`RecurrentForm`:
  ONNX's own recurrent operators (:mod:`.ops`);
* ``Bidirectional`` -> :class:`BidirectionalForm` (two recurrent forms, merged);
* ``StackFrames`` (speech) -> :class:`StackFramesForm`; its ``SpectrogramConv`` is traced;
* the feed-forward layers of :data:`TRACED` are traced as they are (their
  ``forward`` and ``compute_mask`` are tensor operations throughout);
* anything else -> :class:`~rnnkit.errors.ExportError` naming the layer and why.

An :class:`~rnnkit.models.Ensemble` of Sequentials becomes :class:`EnsembleForm`: its
members' forms side by side, their outputs combined by the Ensemble's own
:func:`~rnnkit.models.ensemble.average_outputs`.

Masks flow between forms exactly as :meth:`Sequential.forward_with_mask` passes
them (each layer's ``compute_mask``), as (B, T) bool tensors inside the graph.

Masked steps in a recurrent form (Keras' rule, which every rnnkit path follows: a
masked step keeps the state and repeats the last valid output): the valid steps of
each row are moved to the front in order (a stable compaction, so any mask works,
not only right padding), ONNX's operator runs them with ``sequence_lens`` = their
number, and the outputs are gathered back onto the original time axis:

.. math::
    n_{b,t} = \\sum_{s \\le t} m_{b,s}, \\qquad
    y_{b,t} = \\begin{cases} \\tilde y_{b,\\,n_{b,t}-1} & n_{b,t} > 0 \\\\ 0 & \\text{otherwise} \\end{cases}

where :math:`\\tilde y` are the outputs over the compacted steps.
"""
from __future__ import annotations


import torch
from torch import nn

from ..errors import ExportError
from ..layers import (GRU, LSTM, RNN, Activation, BatchNormalization, Bidirectional, Conv1D, Dense, Dropout, Embedding,
                      GlobalAveragePooling1D, GlobalConcatPooling1D, GlobalMaxPooling1D, HashedNGrams, LayerNormalization,
                      Masking, MaskedMaxPooling1D, NaiveBayesBag, SimpleRNN, SpatialDropout1D)
from ..layers.recurrent import RecurrentLayer
from ..models import Ensemble, Sequential
from ..models.ensemble import average_outputs
from .ops import cell_blocker, onnx_rnn, onnx_weights

__all__ = ["TRACED", "RecurrentForm", "BidirectionalForm", "StackFramesForm", "SequentialForm", "EnsembleForm",
           "sequential_form", "model_form", "require_sequential", "layer_label", "speech_layers"]

#: feed-forward layers whose own forward and compute_mask trace exactly with dynamic axes
TRACED: tuple[type, ...] = (Dense, Dropout, SpatialDropout1D, Activation, Embedding, Masking, GlobalAveragePooling1D,
                            GlobalMaxPooling1D, GlobalConcatPooling1D, MaskedMaxPooling1D, LayerNormalization,
                            BatchNormalization, HashedNGrams, NaiveBayesBag)


def layer_label(layer: nn.Module, index: int | None = None) -> str:
    """``layer 2 'lstm_1' (LSTM)``: how errors name a layer."""
    where = "" if index is None else f"{index} "
    name = getattr(layer, "name", None)
    return f"layer {where}{name!r} ({type(layer).__name__})" if name else f"layer {where}({type(layer).__name__})"


class RecurrentForm(nn.Module):
    """An :class:`~rnnkit.layers.RNN` (LSTM, GRU, SimpleRNN, or a stack of their cells) on ONNX's operators.

    ``forward(x (B, T, F), mask (B, T) bool or None, state=None)`` returns
    ``(outputs (B, T, U) or last (B, U) as the layer's return_sequences says, the next mask)``;
    :meth:`run` also gives the final state (the textgen step graph uses it).
    """

    def __init__(self, layer: RNN) -> None:
        super().__init__()
        self.cells = list(layer.cells)
        self.return_sequences = layer.return_sequences
        self.go_backwards = layer.go_backwards
        self.zero_output_for_mask = layer.zero_output_for_mask
        self.state_size = layer.state_size
        for i, cell in enumerate(self.cells):
            w, r, b = onnx_weights(cell)
            self.register_buffer(f"w{i}", w)
            self.register_buffer(f"r{i}", r)
            self.register_buffer(f"b{i}", b)

    def run(self, x: torch.Tensor, mask: torch.Tensor | None, state: tuple[torch.Tensor, ...] | None = None):
        """(outputs (B, T, U), last output (B, U), final flat state); ``state`` None means zeros."""
        if state is None:
            zeros = torch.zeros_like(x[:, 0, :1])  # (B, 1), traced from x's shape: the batch axis stays dynamic
            state = tuple(zeros.expand(-1, n) for n in self.state_size)
        if self.go_backwards:
            x = x.flip(1)
            mask = None if mask is None else mask.flip(1)
        if mask is None:
            seq = x
            lens = torch.ones_like(x[:, :, 0], dtype=torch.int32).sum(1, dtype=torch.int32)  # (B,) = T
        else:
            m = mask.to(torch.bool)
            count = m.to(torch.int64).cumsum(1)  # n_{b,t}: valid steps up to t   (B, T)
            total = count[:, -1:]  # (B, 1)
            # stable compaction: valid steps to 0..n-1 in order, masked ones after them
            pos = torch.where(m, count - 1, total + (~m).to(torch.int64).cumsum(1) - 1)  # (B, T)
            seq = torch.zeros_like(x).scatter(1, pos[:, :, None].expand_as(x), x)
            lens = total[:, 0].clamp(min=1).to(torch.int32)  # an all-masked row runs one step, discarded below
        finals: list[torch.Tensor] = []
        offset = 0
        for i, cell in enumerate(self.cells):
            n = len(cell.state_size) if isinstance(cell.state_size, (tuple, list)) else 1  # LSTM h, c; else h
            weights = (getattr(self, f"w{i}"), getattr(self, f"r{i}"), getattr(self, f"b{i}"))
            seq, final = onnx_rnn(cell, weights, seq, lens, tuple(state[offset:offset + n]))
            offset += n
            finals.extend(final)
        last = final[0]  # the last cell's h after each row's last valid step: its last output
        if mask is None:
            return seq, last, tuple(finals)
        units = seq.shape[-1]
        # y_t = ỹ_{n_t - 1} where n_t > 0, else 0 (nothing output yet)
        idx = (count - 1).clamp(min=0)[:, :, None].expand(-1, -1, units)
        out = seq.gather(1, idx) * (count > 0)[:, :, None].to(seq.dtype)
        if self.zero_output_for_mask:
            out = out * m[:, :, None].to(seq.dtype)
        empty = total == 0  # (B, 1): a row with no valid step keeps its initial state and outputs zeros
        last = torch.where(empty, torch.zeros_like(last), last)
        finals = [torch.where(empty, s0, s) for s0, s in zip(state, finals)]
        return out, last, tuple(finals)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None):
        out, last, _ = self.run(x, mask)
        return (out, mask) if self.return_sequences else (last, None)


class BidirectionalForm(nn.Module):
    """:class:`~rnnkit.layers.Bidirectional`: its two layers' forms, the backward outputs put back in input order."""

    def __init__(self, layer: Bidirectional, forward_form: RecurrentForm, backward_form: RecurrentForm) -> None:
        super().__init__()
        self.fw, self.bw = forward_form, backward_form
        self.merge_mode = layer.merge_mode
        self.return_sequences = layer.return_sequences

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None):
        fw, _ = self.fw(x, mask)
        bw, _ = self.bw(x, mask)
        if self.return_sequences:
            bw = bw.flip(1)
        mode = self.merge_mode
        if mode == "concat":
            out = torch.cat([fw, bw], dim=-1)
        elif mode == "sum":
            out = fw + bw
        elif mode == "mul":
            out = fw * bw
        else:  # 'ave' (None is refused when the form is made)
            out = (fw + bw) / 2
        return out, (mask if self.return_sequences else None)


class StackFramesForm(nn.Module):
    """The speech app's ``StackFrames(k)`` with the padding to a multiple of ``k`` computed in the graph.

    .. math:: y_{b,s,:} = [x_{b,sk,:}; \\dots; x_{b,sk+k-1,:}], \\quad m'_{b,s} = m_{b,sk}
    """

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None):
        k = self.k
        if mask is not None:
            x = x * mask[:, :, None].to(x.dtype)
        # pad with k - 1 zero frames, then keep the first ceil(T / k) k of them            (B, S k, F)
        pad = torch.zeros_like(x[:, :1]).expand(-1, k - 1, -1)
        padded = torch.cat([x, pad], dim=1)
        steps = x[0, ::k, 0].shape[0]  # ceil(T / k), traced from a slice rather than Python arithmetic
        padded = padded[:, : steps * k]
        out = padded.reshape(padded.shape[0], steps, k * x.shape[2])  # (B, S, k F)
        return out, (None if mask is None else mask[:, ::k])


class _Traced(nn.Module):
    """A feed-forward layer traced as it is, with its mask rule (Sequential's)."""

    def __init__(self, layer: nn.Module, accepts_mask: bool) -> None:
        super().__init__()
        self.layer, self.accepts_mask = layer, accepts_mask

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None):
        layer = self.layer
        next_mask = layer.compute_mask(x, mask) if hasattr(layer, "compute_mask") else None
        out = layer(x, mask=mask) if (self.accepts_mask and mask is not None) else layer(x)
        return out, next_mask


class SequentialForm(nn.Module):
    """The forms of a Sequential's layers in order; ``forward(x)`` returns the model's output."""

    def __init__(self, forms: list[nn.Module]) -> None:
        super().__init__()
        self.forms = nn.ModuleList(forms)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = None
        for form in self.forms:
            x, mask = form(x, mask)
        return x


class EnsembleForm(nn.Module):
    """The forms of an Ensemble's members; ``forward(x)`` combines their outputs as the Ensemble does."""

    def __init__(self, forms: list[SequentialForm], average: str) -> None:
        super().__init__()
        self.forms, self.average = nn.ModuleList(forms), average

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return average_outputs([form(x) for form in self.forms], self.average)


def recurrent_form(layer: nn.Module, label: str) -> RecurrentForm:
    """The form of a recurrent layer, or an ExportError saying why it has none."""
    if not isinstance(layer, RNN):
        kind = "a recurrent layer without cells (e.g. MinGRU, MinLSTM, whose parallel scan has no ONNX operator)" \
            if isinstance(layer, RecurrentLayer) else "not a recurrent layer"
        raise ExportError(f"{label} cannot be exported to ONNX: {kind}; use LSTM, GRU or SimpleRNN")
    for cell in layer.cells:
        blocker = cell_blocker(cell)
        if blocker is not None:
            raise ExportError(f"{label} cannot be exported to ONNX: {blocker}")
    return RecurrentForm(layer)


def _form(layer: nn.Module, label: str, accepts_mask: bool) -> nn.Module:
    if isinstance(layer, (LSTM, GRU, SimpleRNN, RNN)):
        return recurrent_form(layer, label)
    if isinstance(layer, Bidirectional):
        if layer.merge_mode is None:
            raise ExportError(f"{label} cannot be exported to ONNX: merge_mode=None returns two tensors; "
                              "use 'concat', 'sum', 'mul' or 'ave'")
        return BidirectionalForm(layer, recurrent_form(layer.forward_layer, label + " (forward)"),
                                 recurrent_form(layer.backward_layer, label + " (backward)"))
    if isinstance(layer, RecurrentLayer):
        return recurrent_form(layer, label)
    speech = speech_layers()
    if speech is not None and isinstance(layer, speech[0]):  # StackFrames
        return StackFramesForm(layer.k)
    if speech is not None and isinstance(layer, speech[1]):  # SpectrogramConv: 'same', stride 1 over time
        return _Traced(layer, accepts_mask)
    if isinstance(layer, Conv1D) and layer.strides == (1,) and layer.padding in ("same", "valid", "causal"):
        return _Traced(layer, accepts_mask)
    if type(layer) in TRACED:
        return _Traced(layer, accepts_mask)
    raise ExportError(
        f"{label} cannot be exported to ONNX: rnnkit has no ONNX form for {type(layer).__name__} (exportable: "
        "LSTM, GRU, SimpleRNN, RNN over their cells, Bidirectional, Embedding, Masking, Dense, Dropout, "
        "SpatialDropout1D, Activation, Conv1D and MaskedConv1D with stride 1, MaskedMaxPooling1D, LayerNormalization, "
        "BatchNormalization, global pooling, HashedNGrams, NaiveBayesBag, the speech app's StackFrames and "
        "SpectrogramConv)"
    )


def speech_layers() -> tuple[type, type] | None:
    """The speech app's own layers (StackFrames, SpectrogramConv), which its models hold."""
    try:
        from ..apps.speech.model import SpectrogramConv, StackFrames
    except ImportError:  # pragma: no cover - the app is part of the package
        return None
    return StackFrames, SpectrogramConv


def require_sequential(model: nn.Module) -> None:
    """An ExportError unless ``model`` is a :class:`~rnnkit.models.Sequential`, the one kind of model with an export
    form of its own (an Ensemble's is its members', :func:`model_form`)."""
    if not isinstance(model, Sequential):
        raise ExportError(
            f"{type(model).__name__} cannot be exported to ONNX as one graph: only Sequential models and Ensembles "
            "of them are (a subclassed model's forward is Python that rnnkit cannot rewrite into ONNX's recurrent "
            "operators)"
        )


def sequential_form(model: nn.Module) -> SequentialForm:
    """The export form of ``model`` (a built :class:`~rnnkit.models.Sequential`), or an ExportError."""
    require_sequential(model)
    forms = [_form(layer, layer_label(layer, i), accepts)
             for i, (layer, accepts) in enumerate(zip(model.layers, model._accepts))]
    return SequentialForm(forms).eval()


def model_form(model: nn.Module) -> SequentialForm | EnsembleForm:
    """The export form of a Sequential, or of an :class:`~rnnkit.models.Ensemble` of Sequentials; an ExportError
    naming the member otherwise."""
    if not isinstance(model, Ensemble):
        return sequential_form(model)
    forms = []
    for i, member in enumerate(model.members):
        try:
            forms.append(sequential_form(member))
        except ExportError as exc:
            raise ExportError(f"Ensemble member {i}: {exc}") from None
    return EnsembleForm(forms, model.average).eval()
