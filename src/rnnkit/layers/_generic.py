"""The generic path for built-in cells: the loop over time with a hand-written BPTT.

Autograd records about a dozen small operations per time step and replays them
one by one backwards, which costs more than the arithmetic at RNN sizes.  Here
each cell kind is one ``torch.autograd.Function``: the forward loop keeps the
gate activations, and the backward loop applies the chain rule step by step
(one matrix product per step for the recurrent gradient), then forms
``dL/dW_hh`` for all steps in one large matrix product.

Covers SimpleRNNCell, LSTMCell and GRUCell (both ``reset_after``) with
activations whose derivative is a function of their output (tanh, sigmoid,
hard_sigmoid, relu, linear), recurrent dropout and any mask.  Anything else
(custom callables, user cells) runs on the autograd loop in ``recurrent.py``.

On the CPU in float32 and float64, when the C kernel ``rnn_loop.c`` loaded
(:func:`rnnkit._kernels.load_rnn_loop`), the whole loop — recurrent product,
gates, state update, masks, dropout, and the reverse loop of the backward — is
one C call each way (:class:`_KernelFn`); ``dL/dW_hh`` is still one torch
product, and in float32 the input projection goes through oneDNN
(:func:`project_inputs`).  Without a backward to come, the kernel keeps one step
of its buffers instead of all.  Elsewhere (GPU, other dtypes, no C compiler) the
Functions below loop in Python.

Conventions: time-major tensors; ``xp`` (T, B, G*U) is the input projection
with every bias that sits outside a gate product already added; ``rmask``
(B, U) the recurrent-dropout mask or None; ``mask`` (T, B, 1) or None.  The
Functions return the state sequence ``H`` (T, B, U) — with masks, a masked step
repeats the previous state — and the final cell state for LSTM.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.autograd.function import once_differentiable

from .. import _kernels, activations
from ..cells import GRUCell, LSTMCell, SimpleRNNCell

__all__ = ["supports_manual_bptt", "project_inputs", "run_manual_bptt", "compiled_preferred"]


def _grad_table() -> dict[Callable, Callable[[torch.Tensor], torch.Tensor]]:
    """activation -> derivative expressed through the activation's output y."""
    return {
        activations.get("tanh"): lambda y: 1.0 - y * y,
        activations.get("sigmoid"): lambda y: y * (1.0 - y),
        activations.get("hard_sigmoid"): lambda y: ((y > 0) & (y < 1)).to(y.dtype) / 6.0,
        activations.get("relu"): lambda y: (y > 0).to(y.dtype),
        activations.get("linear"): lambda y: torch.ones_like(y),
    }


_DERIVATIVES = _grad_table()


def supports_manual_bptt(cell: object) -> bool:
    if type(cell) not in (SimpleRNNCell, LSTMCell, GRUCell):
        return False
    acts = [cell.activation] + ([cell.recurrent_activation] if hasattr(cell, "recurrent_activation") else [])
    return all(a in _DERIVATIVES for a in acts)


def _mix(m: torch.Tensor | None, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """m ? new : old (m is (B, 1) or None = all valid)."""
    return new if m is None else torch.where(m, new, old)


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


class _StepMatmul:
    """``base + x W^T`` for one weight ``W`` (out, in) reused at every time step.

    On CPU in float32 the weight is packed once for oneDNN, whose small-batch
    products run about twice as fast as ``addmm`` at RNN sizes; elsewhere (GPU,
    float64, no oneDNN) it is ``addmm``.
    """

    def __init__(self, weight: torch.Tensor, batch: int) -> None:
        self.weight_t = weight.t()
        self.packed = None
        if weight.device.type == "cpu" and weight.dtype == torch.float32 and _onednn_available():
            self.packed = torch.ops.mkldnn._reorder_linear_weight(weight.contiguous(), batch)

    def __call__(self, x: torch.Tensor, base: torch.Tensor | None = None) -> torch.Tensor:
        if self.packed is not None:
            if base is None:
                return torch.ops.mkldnn._linear_pointwise(x, self.packed, None, "none", [], "")
            return torch.ops.mkldnn._linear_pointwise.binary(x, base, self.packed, None, "add")
        return torch.mm(x, self.weight_t) if base is None else torch.addmm(base, x, self.weight_t)


def _apply_into(fn: Callable, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """out = fn(x), without a temporary for the common activations; returns out."""
    if fn is torch.sigmoid or fn is torch.tanh:
        return fn(x, out=out)
    return out.copy_(fn(x))


def _split_grad(m: torch.Tensor | None, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Gradient w.r.t. a masked-mixed state: (part for the new value, part passed to the old one)."""
    if m is None:
        return g, None
    return g * m, g * ~m


class _LSTMFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xp, h0, c0, w_hh, rmask, mask, act, rec_act):
        steps, (batch, units) = xp.shape[0], h0.shape
        Hs = xp.new_empty(steps + 1, batch, units)  # (T+1, B, U) states, Hs[0] = h0
        Cs = xp.new_empty(steps + 1, batch, units)  # (T+1, B, U) cell states, Cs[0] = c0
        TC = xp.new_empty(steps, batch, units)  # (T, B, U) φ(c_t) of the unmasked update
        gates = torch.empty_like(xp)  # (T, B, 4U) activated i, f, g, o
        HR = Hs[:-1] if rmask is None else xp.new_empty(steps, batch, units)  # h_{t-1} after dropout
        Hs[0], Cs[0] = h0, c0
        recurrent = _StepMatmul(w_hh, batch)
        for t in range(steps):
            hr = Hs[t] if rmask is None else torch.mul(Hs[t], rmask, out=HR[t])
            # z_t = x_t W_ih^T + b + h_{t-1} W_hh^T        (B, 4U)
            z = recurrent(hr, xp[t])
            # i_t = σ(z_i), f_t = σ(z_f), o_t = σ(z_o), g_t = φ(z_g)
            _apply_into(rec_act, z, gates[t])
            i, f, g, o = gates[t].chunk(4, 1)
            _apply_into(act, z[:, 2 * units : 3 * units], g)
            if mask is None:
                # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t;  h_t = o_t ⊙ φ(c_t)
                c_new = torch.addcmul(f * Cs[t], i, g, out=Cs[t + 1])
                torch.mul(o, _apply_into(act, c_new, TC[t]), out=Hs[t + 1])
            else:
                c_new = torch.addcmul(f * Cs[t], i, g)
                h_new = o * _apply_into(act, c_new, TC[t])
                torch.where(mask[t], c_new, Cs[t], out=Cs[t + 1])
                torch.where(mask[t], h_new, Hs[t], out=Hs[t + 1])
        ctx.save_for_backward(gates, Cs, TC, HR, w_hh, rmask, mask)
        ctx.act, ctx.rec_act = act, rec_act
        return Hs[1:], Cs[steps].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dH, dc_last):
        gates, Cs, TC, HR, w_hh, rmask, mask = ctx.saved_tensors
        d_act, d_rec = _DERIVATIVES[ctx.act], _DERIVATIVES[ctx.rec_act]
        steps, batch, units = TC.shape
        g4 = gates.view(steps, batch, 4, units)
        i, f, g, o = g4.unbind(2)
        # Every factor of the chain rule that does not depend on the incoming gradient,
        # for all steps at once:  dz_i = dc ⊙ g ⊙ σ'(i),  dz_f = dc ⊙ c_{t-1} ⊙ σ'(f),
        # dz_g = dc ⊙ i ⊙ φ'(g),  dz_o = dh ⊙ φ(c) ⊙ σ'(o),  dc += dh ⊙ o ⊙ φ'(c)
        P = torch.stack([g * d_rec(i), Cs[:-1] * d_rec(f), i * d_act(g), TC * d_rec(o)], dim=2)  # (T, B, 4, U)
        Q = o * d_act(TC)  # (T, B, U)
        dZ = torch.empty_like(gates)  # (T, B, 4U) gradient of the gate pre-activations
        dZ4 = dZ.view(steps, batch, 4, units)
        dh = torch.zeros_like(TC[0])
        dc = dc_last.clone()
        back = _StepMatmul(w_hh.t(), batch)  # dL/dh_{t-1} = dz_t W_hh
        for t in range(steps - 1, -1, -1):
            dh = dh + dH[t]
            if mask is not None:
                m = mask[t]
                dh_pass, dc_pass = dh * ~m, dc * ~m
                dh, dc = dh * m, dc * m
            dc = torch.addcmul(dc, dh, Q[t])
            torch.mul(dc[:, None, :], P[t, :, :3], out=dZ4[t, :, :3])
            torch.mul(dh, P[t, :, 3], out=dZ4[t, :, 3])
            dc = dc * f[t]
            dh = back(dZ[t])  # (B, U)
            if rmask is not None:
                dh = dh * rmask
            if mask is not None:
                dh = dh + dh_pass
                dc = dc + dc_pass
        # dL/dW_hh = Σ_t dz_t^T h_{t-1}, one product over all steps
        dW = torch.mm(dZ.view(-1, 4 * units).t(), HR.reshape(-1, units))
        return dZ, dh, dc, dW, None, None, None, None


class _GRUFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xp, h0, w_hh, b_hn, rmask, mask, act, rec_act, reset_after):
        steps, units = xp.shape[0], h0.shape[1]
        H = xp.new_empty(steps, *h0.shape)
        Hprev = xp.new_empty(steps, *h0.shape)  # h_{t-1} (undropped)
        gates = xp.new_empty(steps, h0.shape[0], 3 * units)  # r, z, n activated
        extra = xp.new_empty(steps, *h0.shape)  # reset_after: h W_hn^T + b_hn; else r ⊙ h_r
        h = h0
        batch = h0.shape[0]
        if reset_after:
            recurrent = _StepMatmul(w_hh, batch)
        else:
            recurrent_rz, recurrent_n = _StepMatmul(w_hh[: 2 * units], batch), _StepMatmul(w_hh[2 * units :], batch)
        for t in range(steps):
            m = None if mask is None else mask[t]
            Hprev[t] = h
            hr = h if rmask is None else h * rmask
            x_r, x_z, x_n = xp[t].chunk(3, 1)
            r, z, n = gates[t].chunk(3, 1)
            if reset_after:
                hp = recurrent(hr)  # (B, 3U)
                h_r, h_z, h_n = hp.chunk(3, 1)
                r.copy_(rec_act(x_r + h_r))
                z.copy_(rec_act(x_z + h_z))
                hn = h_n if b_hn is None else h_n + b_hn
                extra[t] = hn
                n.copy_(act(torch.addcmul(x_n, r, hn)))
            else:
                h_r, h_z = recurrent_rz(hr).chunk(2, 1)
                r.copy_(rec_act(x_r + h_r))
                z.copy_(rec_act(x_z + h_z))
                rh = torch.mul(r, hr, out=extra[t])
                n.copy_(act(recurrent_n(rh, x_n)))
            h_new = torch.addcmul(n, z, h - n)
            H[t] = h = _mix(m, h_new, h)
        ctx.save_for_backward(gates, Hprev, extra, w_hh, rmask, mask)
        ctx.act, ctx.rec_act, ctx.reset_after = act, rec_act, reset_after
        ctx.has_b_hn = b_hn is not None
        return H

    @staticmethod
    @once_differentiable
    def backward(ctx, dH):
        gates, Hprev, extra, w_hh, rmask, mask = ctx.saved_tensors
        d_act, d_rec = _DERIVATIVES[ctx.act], _DERIVATIVES[ctx.rec_act]
        steps, units = gates.shape[0], Hprev.shape[-1]
        dXP = torch.empty_like(gates)  # (T, B, 3U)
        dHP = torch.empty_like(gates)  # gradient w.r.t. the recurrent products
        dh = torch.zeros_like(Hprev[0])
        batch = dh.shape[0]
        if ctx.reset_after:
            back = _StepMatmul(w_hh.t(), batch)
        else:
            back_rz, back_n = _StepMatmul(w_hh[: 2 * units].t(), batch), _StepMatmul(w_hh[2 * units :].t(), batch)
        for t in range(steps - 1, -1, -1):
            m = None if mask is None else mask[t]
            dh = dh + dH[t]
            dh_new, dh_pass = _split_grad(m, dh)
            r, z, n = gates[t].chunk(3, 1)
            h = Hprev[t]
            dxr, dxz, dxn = dXP[t].chunk(3, 1)
            dhr_, dhz_, dhn_ = dHP[t].chunk(3, 1)
            # h_t = n + z ⊙ (h_{t-1} - n)
            torch.mul(dh_new * (1 - z), d_act(n), out=dxn)
            torch.mul(dh_new * (h - n), d_rec(z), out=dxz)
            dh_direct = dh_new * z
            if ctx.reset_after:
                # n = φ(x_n + r ⊙ (h W_hn^T + b_hn))
                torch.mul(dxn * extra[t], d_rec(r), out=dxr)
                torch.mul(dxn, r, out=dhn_)
                dhr_.copy_(dxr)
                dhz_.copy_(dxz)
                dhr = back(dHP[t])
            else:
                # n = φ(x_n + (r ⊙ h) W_hn^T)
                drh = back_n(dxn)
                hr = h if rmask is None else h * rmask
                torch.mul(drh * hr, d_rec(r), out=dxr)
                dhr_.copy_(dxr)
                dhz_.copy_(dxz)
                dhr = back_rz(dHP[t, :, : 2 * units]) + drh * r
            dh = dh_direct + (dhr if rmask is None else dhr * rmask)
            if dh_pass is not None:
                dh = dh + dh_pass
        HR = Hprev if rmask is None else Hprev * rmask
        flat = lambda a: a.reshape(-1, a.shape[-1])  # noqa: E731
        if ctx.reset_after:
            dW = torch.mm(flat(dHP).t(), flat(HR))
        else:
            dW = torch.cat([torch.mm(flat(dHP[..., : 2 * units]).t(), flat(HR)), torch.mm(flat(dXP[..., 2 * units :]).t(), flat(extra))])
        db_hn = flat(dHP[..., 2 * units :]).sum(0) if (ctx.reset_after and ctx.has_b_hn) else None
        return dXP, dh, dW, db_hn, None, None, None, None, None


class _SimpleRNNFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xp, h0, w_hh, rmask, mask, act):
        steps = xp.shape[0]
        H = xp.new_empty(steps, *h0.shape)
        H_new = xp.new_empty(steps, *h0.shape)
        HR = xp.new_empty(steps, *h0.shape)
        h = h0
        recurrent = _StepMatmul(w_hh, h0.shape[0])
        for t in range(steps):
            m = None if mask is None else mask[t]
            hr = h if rmask is None else h * rmask
            HR[t] = hr
            H_new[t] = act(recurrent(hr, xp[t]))
            H[t] = h = _mix(m, H_new[t], h)
        ctx.save_for_backward(H_new, HR, w_hh, rmask, mask)
        ctx.act = act
        return H

    @staticmethod
    @once_differentiable
    def backward(ctx, dH):
        H_new, HR, w_hh, rmask, mask = ctx.saved_tensors
        d_act = _DERIVATIVES[ctx.act]
        dXP = torch.empty_like(H_new)
        dh = torch.zeros_like(HR[0])
        back = _StepMatmul(w_hh.t(), dh.shape[0])
        for t in range(H_new.shape[0] - 1, -1, -1):
            m = None if mask is None else mask[t]
            dh = dh + dH[t]
            dh_new, dh_pass = _split_grad(m, dh)
            # h_t = φ(z_t)
            torch.mul(dh_new, d_act(H_new[t]), out=dXP[t])
            dhr = back(dXP[t])
            dh = dhr if rmask is None else dhr * rmask
            if dh_pass is not None:
                dh = dh + dh_pass
        units = HR.shape[-1]
        dW = torch.mm(dXP.reshape(-1, units).t(), HR.reshape(-1, units))
        return dXP, dh, dW, None, None, None


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


def _loop_kernel(xp: torch.Tensor, acts: list[Callable]) -> _kernels.RNNLoopKernel | None:
    """The C loop kernel when it can run this case (CPU, float32/64, known activations), else None."""
    if xp.device.type != "cpu" or xp.dtype not in _KERNEL_DTYPES or xp.shape[0] == 0:
        return None
    if not all(a in _ACT_CODES for a in acts):
        return None
    return _kernels.load_rnn_loop()


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
    if type(cell) not in (SimpleRNNCell, GRUCell) or x.shape[1] < 2:
        return None
    if x.device.type != "cpu" or x.dtype not in _KERNEL_DTYPES or torch.is_autocast_enabled("cpu"):
        return None
    acts = [cell.activation] + ([cell.recurrent_activation] if hasattr(cell, "recurrent_activation") else [])
    if not all(a in _ACT_CODES for a in acts) or _kernels.load_rnn_loop() is None:
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
    """``cell.project_inputs(x)`` for the generic path: through oneDNN where the C loop will run in float32
    and the product is large enough for oneDNN to pay for packing the weight."""
    acts = [cell.activation] + ([cell.recurrent_activation] if hasattr(cell, "recurrent_activation") else [])
    macs = x.numel() * cell.weight_ih.shape[0]  # (T*B*F) x (G*U)
    if (x.dtype == torch.float32 and macs >= _ONEDNN_MIN_MACS and _onednn_available()
            and _loop_kernel(x, acts) is not None):
        return _OneDNNLinear.apply(x, cell.weight_ih, cell._input_bias())
    return cell.project_inputs(x)


def run_manual_bptt(cell, xp: torch.Tensor, state: tuple, rmask, mask) -> tuple[torch.Tensor, tuple]:
    """Run ``cell`` over the projected inputs ``xp`` (T, B, G*U).

    Returns the state sequence ``H`` (T, B, U) and the final state tuple.
    """
    mask = None if mask is None else mask.contiguous()
    acts = [cell.activation] + ([cell.recurrent_activation] if hasattr(cell, "recurrent_activation") else [])
    lib = _loop_kernel(xp, acts)
    if lib is not None:
        act, rec_act = _ACT_CODES[acts[0]], _ACT_CODES[acts[-1]]
        tensors = [xp, *state, *cell.parameters()]
        saved = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)  # a backward may follow
        if isinstance(cell, LSTMCell):
            h0, c0 = state
            H, c_last = _KernelFn.apply(xp, h0, c0, cell.weight_hh, None, rmask, mask, _KIND_LSTM, act, rec_act, lib, saved)
            return H, (H[-1], c_last)
        if isinstance(cell, GRUCell):
            b_hn = cell.bias_hh[2 * cell.units :] if (cell.use_bias and cell.reset_after) else None
            kind = _KIND_GRU_AFTER if cell.reset_after else _KIND_GRU_BEFORE
            H = _KernelFn.apply(xp, state[0], None, cell.weight_hh, b_hn, rmask, mask, kind, act, rec_act, lib, saved)
            return H, (H[-1],)
        H = _KernelFn.apply(xp, state[0], None, cell.weight_hh, None, rmask, mask, _KIND_SIMPLE, act, act, lib, saved)
        return H, (H[-1],)
    if isinstance(cell, LSTMCell):
        h0, c0 = state
        H, c_last = _LSTMFn.apply(xp, h0, c0, cell.weight_hh, rmask, mask, cell.activation, cell.recurrent_activation)
        return H, (H[-1], c_last)
    if isinstance(cell, GRUCell):
        b_hn = cell.bias_hh[2 * cell.units :] if (cell.use_bias and cell.reset_after) else None
        H = _GRUFn.apply(xp, state[0], cell.weight_hh, b_hn, rmask, mask, cell.activation, cell.recurrent_activation, cell.reset_after)
        return H, (H[-1],)
    H = _SimpleRNNFn.apply(xp, state[0], cell.weight_hh, rmask, mask, cell.activation)
    return H, (H[-1],)
