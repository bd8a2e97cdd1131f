"""The compiled path: SimpleRNN, LSTM and GRU with the loop over time in C (``rnn_loop.c``).

One of the three ways :class:`rnnkit.layers.RNN` runs a cell (see
:mod:`rnnkit.layers.recurrent`): ``fused`` (PyTorch's kernel, :mod:`._fused`),
``compiled`` (this module) and ``reference`` (autograd over the cell's own
annotated :meth:`~rnnkit.cells.RecurrentCell.recurrence`).  The compiled loop is
an optimisation of the reference: it computes the same equations, and the tests
hold it equal to the reference path (outputs, states and every gradient, with
masks and recurrent dropout).

Autograd over ``recurrence`` records about a dozen small operations per time
step and replays them one by one backwards, which costs more than the
arithmetic at RNN sizes.  Here the whole loop — recurrent product, gates, state
update, masks, recurrent dropout, and the reverse loop of the backward — is one
C call each way (:class:`_KernelFn`); ``dL/dW_hh`` is one torch product over all
steps, and in float32 the input projection goes through oneDNN
(:func:`project_inputs`).  Without a backward to come, the kernel keeps one step
of its buffers instead of all.

It runs the built-in cells (exactly ``SimpleRNNCell``, ``LSTMCell``,
``GRUCell`` with either ``reset_after``; a subclass may change the maths, so it
takes the reference path) with the activations the C file knows (linear, tanh,
sigmoid, hard_sigmoid, relu), on the CPU, in float32 and float64, where a C
compiler built the kernel (:func:`rnnkit._kernels.load_rnn_loop`);
:func:`compiled_blocker` says why not otherwise.

Conventions: time-major tensors; ``xp`` (T, B, G*U) is the input projection
with every bias that sits outside a gate product already added; ``rmask``
(B, U) the recurrent-dropout mask or None; ``mask`` (T, B, 1) or None.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.autograd.function import once_differentiable

from .. import _kernels, activations
from ..cells import GRUCell, LSTMCell, SimpleRNNCell

__all__ = ["compiled_blocker", "compiled_preferred", "project_inputs", "run_compiled"]


_ONEDNN_OK: bool | None = None


def _onednn_available() -> bool:
    """Whether oneDNN's packed linear (the op inductor uses on CPU) exists here and computes x W^T + b correctly."""
    global _ONEDNN_OK
    if _ONEDNN_OK is None:
        try:
            ops = torch.ops.mkldnn
            gen = torch.Generator().manual_seed(0)
            x, w, base = (torch.randn(*shape, generator=gen) for shape in ((3, 5), (4, 5), (3, 4)))
            packed = ops._reorder_linear_weight(w, 3)
            got = ops._linear_pointwise.binary(x, base, packed, None, "add")
            _ONEDNN_OK = bool(torch.allclose(got, torch.addmm(base, x, w.t()), atol=1e-5))
        except (AttributeError, RuntimeError):
            _ONEDNN_OK = False
    return _ONEDNN_OK


# activation -> its code in rnn_loop.c
_ACT_CODES = {
    activations.get("linear"): 0,
    activations.get("tanh"): 1,
    activations.get("sigmoid"): 2,
    activations.get("hard_sigmoid"): 3,
    activations.get("relu"): 4,
}
_KERNEL_DTYPES = (torch.float32, torch.float64)
_KIND_SIMPLE, _KIND_LSTM, _KIND_GRU_AFTER, _KIND_GRU_BEFORE = 0, 1, 2, 3


def _activations(cell) -> list[Callable]:
    return [cell.activation] + ([cell.recurrent_activation] if hasattr(cell, "recurrent_activation") else [])


def compiled_blocker(cell, x: torch.Tensor) -> str | None:
    """Why the compiled loop cannot run ``cell`` on ``x`` (B, T, F); None if it can.

    Example:
        >>> import torch
        >>> from rnnkit.cells import LSTMCell
        >>> compiled_blocker(LSTMCell(4, activation="softplus"), torch.zeros(2, 3, 5))
        'activation softplus, which the compiled loop does not compute (it has linear, tanh, sigmoid, hard_sigmoid, relu)'
        >>> compiled_blocker(LSTMCell(4), torch.zeros(2, 3, 5, dtype=torch.bfloat16))
        'the compiled loop computes float32 and float64, got torch.bfloat16'
    """
    if type(cell) not in (SimpleRNNCell, LSTMCell, GRUCell):
        return f"{type(cell).__name__} is not a built-in cell"
    if x.device.type != "cpu":
        return f"the compiled loop runs on the CPU, got inputs on {x.device}"
    if x.dtype not in _KERNEL_DTYPES:
        return f"the compiled loop computes float32 and float64, got {x.dtype}"
    if torch.is_autocast_enabled("cpu"):
        return "a CPU autocast region (the compiled loop computes float32 and float64 only)"
    for act in _activations(cell):
        if act not in _ACT_CODES:
            known = ", ".join(activations.serialize(a) for a in _ACT_CODES)
            return f"activation {activations.serialize(act)}, which the compiled loop does not compute (it has {known})"
    if _kernels.load_rnn_loop() is None:
        return f"the compiled loop is not built here ({_kernels.rnn_loop_unavailable_reason()})"
    return None


def compiled_preferred(cell, x: torch.Tensor) -> str | None:
    """Why ``use_fused='auto'`` runs ``cell`` on the compiled loop although the fused kernel could; None: fused.

    The rule comes from ``benchmarks/path_choice.py`` (compiled / fused speed, same
    weights, same run), measured on both CPU kinds these machines come in, AVX-512
    and AVX2 (the kernel built for each by ``-march=native``), at batch 1-128,
    units 64-1024, 100 steps:

    * GRU and SimpleRNN: the compiled loop is faster everywhere measured, training
      1.2-3x and inference 1.0-1.8x; oneDNN's GRU and vanilla RNN kernels are
      slower than its LSTM kernel for the same work.
    * LSTM: oneDNN's kernel is as fast or faster (compiled 0.6-1.3x): fused.

    Only where the compiled loop runs: on the CPU, in float32/float64 (not under
    a bfloat16 autocast, whose kernels are oneDNN's), with the kernel built, and
    for more than one step (a single step is one fused cell op, ~10x faster than
    any sequence set-up).  ``x`` is (B, T, F).
    """
    if type(cell) not in (SimpleRNNCell, GRUCell) or x.shape[1] < 2 or compiled_blocker(cell, x) is not None:
        return None
    return f"use_fused='auto': the compiled loop runs {type(cell).__name__[:-4]} faster than the fused kernel on this CPU"


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


class _KernelFn(torch.autograd.Function):
    """Any of the four cell kinds (see rnn_loop.c) with the loop in C, forward and backward.

    Returns ``H`` (T, B, U), and for LSTM also the final cell state.
    """

    @staticmethod
    def forward(ctx, xp, h0, c0, w_hh, b_hn, rmask, mask, kind, act, rec_act, lib, saved):
        xp = xp.detach().contiguous()
        steps, batch, gu = xp.shape
        units = h0.shape[1]
        Hs = xp.new_empty(steps + 1, batch, units)  # (T+1, B, U), Hs[0] = h0
        Hs[0] = h0
        # what the backward needs, for all steps; without a backward (saved False) the
        # kernel keeps only the step at hand of A and E, and two cell states
        kept = steps if saved else 1
        Cs = None
        if kind == _KIND_LSTM:
            Cs = xp.new_empty(steps + 1 if saved else 2, batch, units)  # (T+1, B, U), Cs[0] = c0
            Cs[0] = c0
        A = xp.new_empty(kept, batch, gu)  # (T, B, G*U) activated gates
        E = None if kind == _KIND_SIMPLE else xp.new_empty(kept, batch, units)
        HR = None if rmask is None else xp.new_empty(steps, batch, units)  # h_{t-1} after dropout
        work = xp.new_empty(batch, gu) if kind == _KIND_GRU_AFTER else None
        w = w_hh.detach().contiguous()  # (G*U, U)
        rmask = None if rmask is None else rmask.detach().contiguous()
        b_hn_c = None if b_hn is None else b_hn.detach().contiguous()
        mask_b = None if mask is None else mask.reshape(steps, batch).contiguous()  # (T, B) bool = bytes
        rc = lib.forward[xp.dtype](
            kind, steps, batch, units, _ptr(xp), _ptr(w), _ptr(b_hn_c), _ptr(rmask), _ptr(mask_b), act, rec_act,
            _ptr(Hs), _ptr(Cs), _ptr(A), _ptr(E), _ptr(HR), _ptr(work), int(saved), torch.get_num_threads(),
        )  # fmt: skip
        if rc != 0:
            raise MemoryError(f"rnn_loop.c forward failed with code {rc}")
        ctx.save_for_backward(Hs, Cs, A, E, HR, w_hh, rmask, mask_b)
        ctx.kind, ctx.act, ctx.rec_act, ctx.lib, ctx.has_b_hn = kind, act, rec_act, lib, b_hn is not None
        if kind == _KIND_LSTM:
            return Hs[1:], Cs[steps if saved else steps % 2].clone()
        return Hs[1:]

    @staticmethod
    @once_differentiable
    def backward(ctx, dH, dc_last=None):
        Hs, Cs, A, E, HR, w_hh, rmask, mask_b = ctx.saved_tensors
        kind = ctx.kind
        steps, batch, gu = A.shape
        units = Hs.shape[-1]
        dH = dH.contiguous()
        dh = Hs.new_zeros(batch, units)  # becomes dL/dh_0
        dc = dc_last.contiguous().clone() if kind == _KIND_LSTM else None  # becomes dL/dc_0
        dZ = torch.empty_like(A)  # (T, B, G*U) gradient of xp
        dP = torch.empty_like(A) if kind == _KIND_GRU_AFTER else None  # gradient of the recurrent product
        work = Hs.new_empty(batch, units) if (rmask is not None or kind == _KIND_GRU_BEFORE) else None
        w = w_hh.detach().contiguous()  # (G*U, U)
        rc = ctx.lib.backward[A.dtype](
            kind, steps, batch, units, _ptr(w), _ptr(rmask), _ptr(mask_b), ctx.act, ctx.rec_act,
            _ptr(Hs), _ptr(Cs), _ptr(A), _ptr(E), _ptr(HR), _ptr(dH), _ptr(dh), _ptr(dc), _ptr(dZ), _ptr(dP),
            _ptr(work), torch.get_num_threads(),
        )  # fmt: skip
        if rc != 0:
            raise MemoryError(f"rnn_loop.c backward failed with code {rc}")
        HRf = (Hs[:-1] if HR is None else HR).reshape(-1, units)  # (T*B, U) h_{t-1} after dropout
        db_hn = None
        # dL/dW_hh = Σ_t (gradient of the product's output)_t^T (its input)_t, one product over all steps
        if kind == _KIND_GRU_AFTER:
            dPf = dP.view(-1, gu)
            dW = torch.mm(dPf.t(), HRf)
            db_hn = dPf[:, 2 * units :].sum(0) if ctx.has_b_hn else None
        elif kind == _KIND_GRU_BEFORE:
            dZf = dZ.view(-1, gu)
            dW = torch.cat([torch.mm(dZf[:, : 2 * units].t(), HRf), torch.mm(dZf[:, 2 * units :].t(), E.view(-1, units))])
        else:
            dW = torch.mm(dZ.view(-1, gu).t(), HRf)
        return dZ, dh, dc, dW, db_hn, None, None, None, None, None, None, None


class _OneDNNLinear(torch.autograd.Function):
    """``x W^T + b`` over all steps at once with oneDNN's packed product (CPU, float32).

    At the sizes of RNN layers on AMD CPUs ``torch.mm`` (MKL) runs at well under
    half of oneDNN's speed (B64 T50 512 -> 2048: 784 against 338 us per step), so
    the input projection of the C path goes through oneDNN, forward and for the
    input's gradient; the weight's gradient stays one ``torch.mm``.
    """

    @staticmethod
    def forward(ctx, x, weight, bias):
        lead, features = x.shape[:-1], x.shape[-1]
        x2 = x.reshape(-1, features)
        packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous(), x2.shape[0])
        y = torch.ops.mkldnn._linear_pointwise(x2, packed, None if bias is None else bias.detach(), "none", [], "")
        ctx.save_for_backward(x2, weight)
        ctx.has_bias, ctx.lead = bias is not None, lead
        return y.view(*lead, -1)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy):
        x2, weight = ctx.saved_tensors
        dy2 = dy.reshape(-1, dy.shape[-1])
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            # dL/dx = dy W, as x' W'^T with W' = W^T
            packed_t = torch.ops.mkldnn._reorder_linear_weight(weight.detach().t().contiguous(), dy2.shape[0])
            dx = torch.ops.mkldnn._linear_pointwise(dy2.contiguous(), packed_t, None, "none", [], "").view(*ctx.lead, -1)
        if ctx.needs_input_grad[1]:
            dw = torch.mm(dy2.t(), x2)  # dL/dW = dy^T x
        if ctx.has_bias and ctx.needs_input_grad[2]:
            db = dy2.sum(0)
        return dx, dw, db


#: multiply-adds of an input projection from which oneDNN's product, weight packing included,
#: beats ``addmm``: packing costs ~0.2 ms, and below about 4e8 multiply-adds addmm wins
#: (104x26 -> 3: 9 us against 250 us; 3200x128 -> 768: 4.0 against 3.8 ms; 6400x512 -> 1536:
#: 82 against 63 ms, on AMD EPYC with 2 threads)
_ONEDNN_MIN_MACS = 3 << 27


def project_inputs(cell, x: torch.Tensor) -> torch.Tensor:
    """``cell.project_inputs(x)`` for the compiled loop: through oneDNN in float32 where the product is
    large enough for oneDNN to pay for packing the weight (the same numbers, computed faster)."""
    macs = x.numel() * cell.weight_ih.shape[0]  # (T*B*F) x (G*U)
    if x.dtype == torch.float32 and macs >= _ONEDNN_MIN_MACS and _onednn_available():
        return _OneDNNLinear.apply(x, cell.weight_ih, cell._input_bias())
    return cell.project_inputs(x)


def run_compiled(cell, x: torch.Tensor, mask: torch.Tensor | None, state: tuple, zero_output_for_mask: bool,
                 rmask: torch.Tensor | None,
                 weight_hh: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, tuple]:
    """Run ``cell`` over ``x`` (B, T, F) on the compiled loop (where :func:`compiled_blocker` is None).

    ``mask`` (B, T) bool or None; ``rmask`` (B, U) the recurrent-dropout mask or
    None (input dropout is already applied to ``x``); ``weight_hh`` the recurrent
    weight after DropConnect, or None for ``cell.weight_hh`` (the kernel's
    ``dL/dW_hh`` is then the gradient of that tensor, and autograd carries it on
    through the mask).  Returns ``(outputs (B, T, U), last output (B, U), final
    state)`` with Keras' rule for masked steps, as the reference loop of
    :mod:`rnnkit.layers.recurrent`.
    """
    lib = _kernels.load_rnn_loop()
    w_hh = cell.weight_hh if weight_hh is None else weight_hh  # W_hh, or W̃_hh after DropConnect  (G*U, U)
    xp = project_inputs(cell, x.transpose(0, 1))  # (T, B, G*U), all steps in one product
    masks = None if mask is None else mask.transpose(0, 1)[:, :, None].contiguous()  # (T, B, 1)
    acts = _activations(cell)
    act, rec_act = _ACT_CODES[acts[0]], _ACT_CODES[acts[-1]]
    tensors = [xp, *state, *cell.parameters()]
    saved = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)  # a backward may follow
    if isinstance(cell, LSTMCell):
        h0, c0 = state
        H, c_last = _KernelFn.apply(xp, h0, c0, w_hh, None, rmask, masks, _KIND_LSTM, act, rec_act, lib, saved)
        final = (H[-1], c_last)
    elif isinstance(cell, GRUCell):
        b_hn = cell.bias_hh[2 * cell.units :] if (cell.use_bias and cell.reset_after) else None
        kind = _KIND_GRU_AFTER if cell.reset_after else _KIND_GRU_BEFORE
        H = _KernelFn.apply(xp, state[0], None, w_hh, b_hn, rmask, masks, kind, act, rec_act, lib, saved)
        final = (H[-1],)
    else:
        H = _KernelFn.apply(xp, state[0], None, w_hh, None, rmask, masks, _KIND_SIMPLE, act, act, lib, saved)
        final = (H[-1],)
    # H (T, B, U) is the state sequence; at a masked step the kernel repeats the previous state
    if masks is None:
        return H.transpose(0, 1), H[-1], final
    # the output shows the state once its row has had a valid step (zeros before), or zeros at masked steps
    seen = masks.cumsum(0) > 0  # (T, B, 1)
    keep = masks if zero_output_for_mask else seen
    return (H * keep).transpose(0, 1), H[-1] * seen[-1], final
