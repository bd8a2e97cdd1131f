"""The fast path: running a standard cell on PyTorch's fused RNN kernels.

``torch.nn.LSTM``/``GRU``/``RNN`` call ``torch._VF.lstm``/``gru``/``rnn_tanh``/
``rnn_relu`` (oneDNN on CPU, cuDNN on GPU).  A cell whose configuration those
kernels compute exactly is run on them here, with the cell's own parameters,
so gradients flow to the cell as usual.

Masks: the kernels take packed sequences, i.e. each row's valid steps first.
Any mask whose valid steps form one contiguous run per row (right-padded,
left-padded as after ``go_backwards``, or both) is shifted to the front,
packed, run, and shifted back with Keras' output rule for masked steps.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .. import activations
from ..cells import GRUCell, LSTMCell, SimpleRNNCell
from ..cells._base import State

__all__ = ["MaskSegments", "fused_blocker", "mask_segments", "run_fused"]


@dataclass
class MaskSegments:
    """Each row's run of valid steps: it starts at ``first`` and lasts ``lengths`` steps."""

    first: torch.Tensor  # (batch,) long
    lengths: torch.Tensor  # (batch,) long, may be 0
    right_padded: bool  # every run starts at step 0


def mask_segments(mask: torch.Tensor) -> MaskSegments | None:
    """The segments of ``mask`` (batch, time), or None if some row's valid steps are not contiguous."""
    m = mask.to(torch.int8)
    # a run starts wherever a 1 follows a 0 (or opens the row)
    starts = m[:, :1] + (m[:, 1:] - m[:, :-1]).clamp(min=0).sum(1, keepdim=True)
    if bool((starts > 1).any()):
        return None
    lengths = m.sum(1, dtype=torch.long)
    first = torch.where(lengths > 0, m.argmax(1), torch.zeros_like(lengths))
    return MaskSegments(first=first, lengths=lengths, right_padded=not bool(first.any()))


def fused_blocker(cell: torch.nn.Module, training: bool) -> str | None:
    """Why ``cell`` cannot run on a fused kernel (None if it can)."""
    if type(cell) not in (LSTMCell, GRUCell, SimpleRNNCell):
        return f"{type(cell).__name__} is not a built-in cell"
    if training and cell.recurrent_dropout > 0:
        return "recurrent_dropout > 0 while training"
    tanh, sigmoid = activations.get("tanh"), activations.get("sigmoid")
    if isinstance(cell, SimpleRNNCell):
        if cell.activation not in (tanh, activations.get("relu")):
            return "SimpleRNN activation other than tanh or relu"
        return None
    if cell.activation is not tanh or cell.recurrent_activation is not sigmoid:
        return "activation other than tanh or recurrent_activation other than sigmoid"
    if isinstance(cell, GRUCell) and not cell.reset_after:
        return "GRU with reset_after=False"
    return None


def native_bf16() -> bool:
    """Whether oneDNN computes bfloat16 natively on this CPU (AVX-512 BF16 / AMX; not on AVX2-only CPUs)."""
    global _NATIVE_BF16
    if _NATIVE_BF16 is None:
        try:
            _NATIVE_BF16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            _NATIVE_BF16 = False
    return _NATIVE_BF16


_NATIVE_BF16: bool | None = None
_bf16_warned = False


def _float32_fallback(x: torch.Tensor) -> bool:
    """Whether this fused call must leave a bfloat16 autocast region and run in float32.

    oneDNN's RNN primitives have no bfloat16 variant for CPUs without native
    bfloat16 (it fails with "could not create a primitive descriptor"), so under
    ``compile(precision='bf16')`` on such a CPU the recurrent kernel runs in
    float32 while the other layers stay in bfloat16; the first time, a warning
    says so.
    """
    global _bf16_warned
    if x.device.type != "cpu" or not torch.is_autocast_enabled("cpu"):
        return False
    if torch.get_autocast_dtype("cpu") != torch.bfloat16 or native_bf16():
        return False
    if not _bf16_warned:
        _bf16_warned = True
        warnings.warn(
            "precision='bf16': this CPU has no native bfloat16 (no AVX-512 BF16 or AMX), so the fused recurrent "
            "kernels run in float32 and only the other layers in bfloat16; use precision=None for float32 throughout",
            RuntimeWarning,
            stacklevel=2,
        )
    return True


def _kernel_call(cell, x_or_data, batch_sizes, hx: State, training: bool, weight_hh: torch.Tensor):
    """One call of the fused kernel with ``weight_hh`` as the recurrent weight; returns (outputs, final state tuple)."""
    if _float32_fallback(x_or_data):
        with torch.autocast("cpu", enabled=False):
            return _kernel_call(cell, x_or_data.float(), batch_sizes, tuple(s.float() for s in hx), training, weight_hh)
    # the kernel takes the weights as tensors: the recurrent one may be W̃_hh after DropConnect
    weights = [cell.weight_ih, weight_hh]
    if cell.use_bias:
        weights += [cell.bias_ih, cell.bias_hh]
    packed = batch_sizes is not None
    lead = (x_or_data, batch_sizes) if packed else (x_or_data,)
    tail = (cell.use_bias, 1, 0.0, training, False) + (() if packed else (True,))
    hx = tuple(s.unsqueeze(0) for s in hx)  # (1, batch, units): one layer, one direction
    if isinstance(cell, LSTMCell):
        out, h_n, c_n = torch._VF.lstm(*lead, hx, weights, *tail)
        return out, (h_n[0], c_n[0])
    if isinstance(cell, GRUCell):
        fn = torch._VF.gru
    else:
        fn = torch._VF.rnn_tanh if cell.activation is activations.get("tanh") else torch._VF.rnn_relu
    out, h_n = fn(*lead, hx[0], weights, *tail)
    return out, (h_n[0],)


def _cell_step(cell, x_t: torch.Tensor, state: State, weight_hh: torch.Tensor) -> State:
    """One step on PyTorch's fused cell ops (``torch.lstm_cell`` ...); returns the new state tuple."""
    weights = (cell.weight_ih, weight_hh, *((cell.bias_ih, cell.bias_hh) if cell.use_bias else (None, None)))
    if isinstance(cell, LSTMCell):
        return tuple(torch.lstm_cell(x_t, tuple(state), *weights))
    if isinstance(cell, GRUCell):
        return (torch.gru_cell(x_t, state[0], *weights),)
    fn = torch.rnn_tanh_cell if cell.activation is activations.get("tanh") else torch.rnn_relu_cell
    return (fn(x_t, state[0], *weights),)


def run_fused(
    cell, x: torch.Tensor, state: State, segments: MaskSegments | None, zero_output_for_mask: bool, training: bool,
    need_final: bool = True, weight_hh: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, State]:
    """Run ``cell`` over ``x`` (batch, time, in) on the fused kernel.

    Returns ``(outputs (batch, time, units), last_output (batch, units), final_state)``
    with the same semantics as the reference loop of :class:`rnnkit.layers.RNN`.

    With a mask and ``need_final=False`` (no ``return_state``, not ``stateful``) the
    final state is not computed (``()`` is returned for it) and the rows are not
    packed: once each row's valid run is at the front, the plain kernel runs over the
    whole padded batch.  An output at a valid step depends only on the steps before
    it, so it is exact; the steps after each run are computed and then discarded.
    On CPU this is about 3x faster than a packed sequence, whose kernel is not
    oneDNN's, and batches of similar lengths waste little on the padding.

    ``weight_hh`` replaces ``cell.weight_hh`` (the recurrent weight after
    DropConnect, :meth:`~rnnkit.cells.RecurrentCell.dropped_recurrent_weight`);
    the kernel's backward then gives its gradient, which autograd carries on
    through the mask to ``cell.weight_hh``.  None: ``cell.weight_hh``.
    """
    if weight_hh is None:
        weight_hh = cell.weight_hh
    if segments is None and x.shape[1] == 1:
        # one step (generation, a stateful layer fed token by token): the fused cell op skips the
        # sequence kernel's set-up, about 10x faster than a one-step torch._VF.lstm call on CPU
        final = _cell_step(cell, x[:, 0], state, weight_hh)
        return final[0][:, None], final[0], final
    if segments is None:
        out, final = _kernel_call(cell, x, None, state, training, weight_hh)
        return out, out[:, -1], final

    batch, steps = x.shape[:2]
    first, lengths = segments.first, segments.lengths
    time = torch.arange(steps, device=x.device)
    if not segments.right_padded:
        # move each row's valid run to the front: x_front[b, t] = x[b, first_b + t]
        idx = (first[:, None] + time[None, :]).clamp(max=steps - 1)  # (batch, time)
        x = x.gather(1, idx[:, :, None].expand(-1, -1, x.shape[2]))
    empty = lengths == 0
    if need_final:
        packed = pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        hx = tuple(s.index_select(0, packed.sorted_indices) for s in state)
        data, final = _kernel_call(cell, packed.data, packed.batch_sizes, hx, training, weight_hh)
        final = tuple(s.index_select(0, packed.unsorted_indices) for s in final)
        out_front, _ = pad_packed_sequence(
            packed._replace(data=data), batch_first=True, total_length=steps
        )  # (batch, time, units), row b valid for t < lengths_b
    else:
        out_front, _ = _kernel_call(cell, x, None, state, training, weight_hh)  # (batch, time, units), valid for t < lengths_b
        final = ()

    # Back to the original time axis.  Keras' rule for masked steps: zeros before the
    # run (nothing has been output yet), the last valid output after it (or zeros).
    j = (time[None, :] - first[:, None]).clamp(min=0)  # (batch, time)
    j = torch.minimum(j, (lengths - 1).clamp(min=0)[:, None])
    out = out_front.gather(1, j[:, :, None].expand(-1, -1, out_front.shape[2]))
    keep = (time[None, :] >= first[:, None]) & ~empty[:, None]
    if zero_output_for_mask:
        keep &= time[None, :] < (first + lengths)[:, None]
    out = out * keep[:, :, None].to(out.dtype)
    last_idx = (lengths - 1).clamp(min=0)
    last = out_front[torch.arange(batch, device=x.device), last_idx] * (~empty)[:, None].to(out.dtype)
    if final and bool(empty.any()):
        final = tuple(torch.where(empty[:, None], s0, s) for s0, s in zip(state, final))
    return out, last, final
