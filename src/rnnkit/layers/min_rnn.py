r"""MinGRU and MinLSTM layers: the minimal RNNs of Feng et al. (2024), trained with a scan.

The gates of :class:`~rnnkit.cells.MinGRUCell` and :class:`~rnnkit.cells.MinLSTMCell`
depend on the input only, so a step is the linear recurrence

.. math::
    h_t = a_t \odot h_{t-1} + b_t

with :math:`a_t, b_t` known for every step before the recurrence starts.  A
layer computes all gate pre-activations of all steps with one matrix product
and then runs the recurrence with one of three scans (``scan=``), each named
in ``last_path`` as the recurrent layers name theirs:

* ``'compiled'``: one pass over time in C (:mod:`rnnkit._kernels`) that applies the
  gate nonlinearities, the recurrence and the mask rule; its backward is one
  reverse pass, followed by the weight (and input) gradients as single matrix
  products.  The fastest on the CPU.
* ``'log'``: the paper's parallel scan in log space, in pure PyTorch:
  :math:`a^*_t = \sum_{k \le t} \log a_k` and
  :math:`h_t = e^{a^*_t} h_0 + \exp\big(a^*_t + \operatorname{logcumsumexp}_{k \le t}(\log b_k - a^*_k)\big)`.
  The :math:`h_0` term is added in linear space, so any initial state works,
  negative ones included.  Used on GPUs.
* ``'reference'``: the cell's own ``recurrence`` stepped over time under autograd
  (the reference path of every recurrent layer), against which the others are tested.
* ``'auto'`` (default): ``'compiled'`` on the CPU when the C kernel is available,
  ``'log'`` otherwise (on CUDA, or with a warning when the kernel could not be
  built).

``last_path`` says which scan the last call used: ``'compiled'``, ``'log'`` or
``'reference'``.  The names of rnnkit 0.1, ``'fused'`` and ``'sequential'``, are
still accepted for ``scan=`` (and in saved configs) and mean ``'compiled'`` and
``'reference'``.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

import torch

from .. import _kernels
from .._validation import check_choice, check_rate
from ..cells.min_rnn import MinGRUCell, MinLSTMCell, MinCell
from ..errors import ConfigError, ShapeError
from ..saving import register_serializable
from .recurrent import RecurrentLayer, input_dropout, make_cell, reference_loop

__all__ = ["MinGRU", "MinLSTM"]

_SCANS = ("auto", "compiled", "log", "reference")
_OLD_SCANS = {"fused": "compiled", "sequential": "reference"}  # rnnkit 0.1's names
_FUSED_DTYPES = (torch.float32, torch.float64)
_fallback_warned = False
#: target size of one chunk of dL/dP in the compiled backward (see _FusedMinScan.backward)
_CHUNK_BYTES = 4 << 20


# --------------------------------------------------------------------------- the compiled scan
class _FusedMinScan(torch.autograd.Function):
    """Projection + C scan as one autograd node.

    forward(x (B,T,F), weight (G*U,F), bias (G*U,) or None, h0 (B,U), mask (B,T) bool or None)
    -> outputs (B,T,U) with the mask rule, final state (B,U).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, h0, mask, kind, zero_output, kernel, keep):  # type: ignore[override]
        batch, steps, features = x.shape
        rows = weight.shape[0]
        units = h0.shape[1]
        dtype = x.dtype
        threads = torch.get_num_threads()
        # Chunks of whole rows: the scan reads each chunk's pre-activations right after
        # the matrix product wrote them, while they are still in cache.  The backward
        # needs all of them; without gradients one chunk-sized buffer is reused.
        chunk = _chunk_rows(batch, steps * rows * x.element_size(), threads)
        pre = kernel.empty(batch if keep else chunk, steps, rows, dtype=dtype)  # x W_ih^T + b_ih  (B, T, G*U)
        states = kernel.empty(batch, steps, units, dtype=dtype)  # (B, T, U)
        outputs = states if mask is None else kernel.empty(batch, steps, units, dtype=dtype)
        final = torch.empty(batch, units, dtype=dtype)
        for r0 in range(0, batch, chunk):
            n = min(chunk, batch - r0)
            pre_rows = pre[r0 : r0 + n] if keep else pre[:n]
            # every gate pre-activation of every step of these rows, x W_ih^T + b_ih   (n*T, G*U)
            x_rows = x[r0 : r0 + n].reshape(n * steps, features)
            if bias is None:
                torch.mm(x_rows, weight.t(), out=pre_rows.view(n * steps, rows))
            else:
                torch.addmm(bias, x_rows, weight.t(), out=pre_rows.view(n * steps, rows))
            status = kernel.forward[dtype](
                kind, n, steps, units, pre_rows.data_ptr(), _row_ptr(h0, r0, units),
                _row_ptr(mask, r0, steps), int(zero_output), _row_ptr(states, r0, steps * units),
                None if mask is None else _row_ptr(outputs, r0, steps * units), _row_ptr(final, r0, units),
                threads,
            )  # fmt: skip
            if status != 0:
                raise RuntimeError(f"minrnn_scan forward failed with status {status}")
        ctx.set_materialize_grads(False)
        ctx.kind, ctx.zero_output, ctx.kernel, ctx.has_bias = kind, zero_output, kernel, bias is not None
        if keep:
            ctx.save_for_backward(x, weight, pre, h0, states, mask)
        return outputs, final

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_outputs, grad_final):  # type: ignore[override]
        x, weight, pre, h0, states, mask = ctx.saved_tensors
        kernel = ctx.kernel
        batch, steps, features = x.shape
        rows, units = weight.shape[0], h0.shape[1]
        need_x, need_w, need_b, need_h0 = ctx.needs_input_grad[:4]
        dtype, size = x.dtype, x.element_size()
        threads = torch.get_num_threads()
        # The reverse scan runs on chunks of whole rows, each followed at once by the
        # matrix products that consume its dL/dP, so dL/dP never exists for the whole
        # batch: a chunk of about _CHUNK_BYTES stays in cache and its buffer is reused.
        chunk = _chunk_rows(batch, steps * rows * size, threads)
        grad_pre = torch.empty(chunk, steps, rows, dtype=dtype)  # dL/dP of one chunk  (b, T, G*U)
        grad_h0 = torch.empty(batch, units, dtype=dtype)
        row_bias = torch.empty(batch, rows, dtype=dtype) if (ctx.has_bias and need_b) else None
        grad_x = torch.empty(batch, steps, features, dtype=dtype) if need_x else None
        grad_w = torch.zeros(rows, features, dtype=dtype) if need_w else None
        sb = st = su = 0
        if grad_outputs is not None:  # any strides: the gradient of out.sum() is a stride-0 expand
            grad_outputs = grad_outputs.to(dtype)
            sb, st, su = grad_outputs.stride()
        if grad_final is not None:
            grad_final = grad_final.to(dtype).contiguous()

        for r0 in range(0, batch, chunk):
            n = min(chunk, batch - r0)
            status = kernel.backward[dtype](
                ctx.kind, n, steps, units, _row_ptr(pre, r0, steps * rows), _row_ptr(h0, r0, units),
                _row_ptr(states, r0, steps * units), _row_ptr(mask, r0, steps), int(ctx.zero_output),
                _row_ptr(grad_outputs, r0, sb), sb, st, su, _row_ptr(grad_final, r0, units),
                grad_pre.data_ptr(), _row_ptr(grad_h0, r0, units), _row_ptr(row_bias, r0, rows), threads,
            )  # fmt: skip
            if status != 0:
                raise RuntimeError(f"minrnn_scan backward failed with status {status}")
            flat = grad_pre[:n].view(n * steps, rows)
            if grad_x is not None:
                # dL/dx = dL/dP W_ih                                        (n*T, F)
                torch.mm(flat, weight, out=grad_x[r0 : r0 + n].view(n * steps, features))
            if grad_w is not None:
                # dL/dW_ih += dL/dP^T x                                     (G*U, F)
                grad_w.addmm_(flat.t(), x[r0 : r0 + n].reshape(n * steps, features))
        grad_b = row_bias.sum(0) if row_bias is not None else None
        return grad_x, grad_w, grad_b, (grad_h0 if need_h0 else None), None, None, None, None, None


def _chunk_rows(batch: int, row_bytes: int, threads: int) -> int:
    """Rows per chunk: about _CHUNK_BYTES of pre-activations, and at least one row per thread."""
    return min(batch, max(threads, _CHUNK_BYTES // max(1, row_bytes)))


def _row_ptr(t: torch.Tensor | None, row: int, row_elems: int) -> int | None:
    """Address of row ``row`` of ``t`` whose rows are ``row_elems`` elements apart (None for None)."""
    return None if t is None else t.data_ptr() + row * row_elems * t.element_size()


def _kernel_or_reason() -> tuple[Any, str | None]:
    kernel = _kernels.load_minrnn()
    if kernel is None:
        return None, _kernels.minrnn_unavailable_reason() or "the C kernel could not be loaded"
    return kernel, None


# --------------------------------------------------------------------------- the layers
class _MinRNN(RecurrentLayer):
    """Shared body of :class:`MinGRU` and :class:`MinLSTM`; subclasses set the cell class and kernel kind."""

    _cell_class: type[MinCell]
    _kind: int

    def __init__(
        self,
        units: int,
        *,
        use_bias: bool = True,
        kernel_initializer: str | Callable = "glorot_uniform",
        bias_initializer: str | Callable = "zeros",
        dropout: float = 0.0,
        scan: str = "auto",
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        zero_output_for_mask: bool = False,
        input_size: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            zero_output_for_mask=zero_output_for_mask,
            name=name,
        )
        owner = type(self).__name__
        self.scan = check_choice(owner, "scan", _OLD_SCANS.get(scan, scan) if isinstance(scan, str) else scan, _SCANS)
        self.dropout = check_rate(owner, "dropout", dropout)
        self.cell = make_cell(
            owner,
            self._cell_class,
            units,
            input_size=input_size,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
        )
        if self.cell.built:
            self.built = True

    # ------------------------------------------------------------- shapes and weights
    @property
    def units(self) -> int:
        return self.cell.units

    @property
    def state_size(self) -> tuple[int]:
        return (self.cell.units,)

    def build(self, input_shape: tuple[int, ...], *, device: Any = None, dtype: torch.dtype | None = None) -> None:
        if not self.cell.built:
            self.cell.build((None, input_shape[-1]), device=device, dtype=dtype)
        super().build(input_shape)

    # ------------------------------------------------------------- the scan
    def _fused_blocker(self, x: torch.Tensor) -> tuple[Any, str | None]:
        """(kernel, None) when the compiled scan can run on ``x``, else (None, the reason)."""
        if x.device.type != "cpu":
            return None, f"the compiled scan runs on the CPU only, got inputs on {x.device}"
        if x.dtype not in _FUSED_DTYPES:
            return None, f"the compiled scan takes float32 or float64, got {x.dtype}"
        return _kernel_or_reason()

    def _choose_scan(self, x: torch.Tensor) -> tuple[str, Any]:
        global _fallback_warned
        if self.scan in ("log", "reference"):
            return self.scan, None
        kernel, reason = self._fused_blocker(x)
        if kernel is not None:
            return "compiled", kernel
        if self.scan == "compiled":
            raise ConfigError(f"{type(self).__name__}: scan='compiled' cannot run: {reason}")
        if x.device.type == "cpu" and x.dtype in _FUSED_DTYPES and not _fallback_warned:
            _fallback_warned = True
            warnings.warn(
                f"{type(self).__name__}: the compiled C scan is unavailable ({reason}); using the slower "
                "PyTorch log-space scan (scan='log') instead",
                RuntimeWarning,
                stacklevel=4,
            )
        return "log", None

    def _run(self, x, mask, state):
        owner = type(self).__name__
        cell = self.cell
        if x.dtype != cell.weight_ih.dtype:
            raise ShapeError(
                f"{owner}: expected inputs of dtype {cell.weight_ih.dtype} (the weights' dtype), got {x.dtype}; "
                f"convert the inputs or the layer (layer.to({x.dtype}))"
            )
        x = input_dropout(self, x, self.training)
        (h0,) = state
        path, kernel = self._choose_scan(x)
        self.last_path = path
        if path == "reference":
            return reference_loop(cell, x, mask, (h0,), self.zero_output_for_mask, self.training)
        if path == "compiled":
            mask_c = None if mask is None else mask.contiguous()
            inputs = (x.contiguous(), cell.weight_ih, cell.bias_ih, h0.contiguous())
            # keep what the backward needs only when a gradient will be asked for
            keep = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in inputs)
            outputs, final = _FusedMinScan.apply(*inputs, mask_c, self._kind, self.zero_output_for_mask, kernel, keep)
        else:
            states = self._log_scan(x, mask, h0)
            final = states[:, -1]
            outputs = states if mask is None else states * self._shown(mask)[:, :, None]
        if mask is None:
            return outputs, final, (final,)
        # the last output is the last valid one, zeros in a row without any
        last = torch.where(mask.any(dim=1, keepdim=True), final, torch.zeros_like(final))
        return outputs, last, (final,)

    def _shown(self, mask: torch.Tensor) -> torch.Tensor:
        """Where the output shows the state (B, T): valid steps, and masked ones after a valid step unless zeroed."""
        if self.zero_output_for_mask:
            return mask.to(torch.bool)
        return torch.cumsum(mask, dim=1) > 0

    def _log_scan(self, x: torch.Tensor, mask: torch.Tensor | None, h0: torch.Tensor) -> torch.Tensor:
        """All states (B, T, U) by the log-space parallel scan."""
        # gate pre-activations of all steps in one product                  (B, T, G*U)
        pre = self.cell.project_inputs(x)
        log_a, log_b = self.cell.log_coefficients(pre)  # (B, T, U) each
        if mask is not None:
            # a masked step keeps the state: a_t = 1, b_t = 0 (log b_t: a finite stand-in for −∞)
            skip = ~mask[:, :, None]
            log_a = log_a.masked_fill(skip, 0.0)
            log_b = log_b.masked_fill(skip, torch.finfo(log_b.dtype).min / 4)
        # a*_t = Σ_{k≤t} log a_k
        a_star = torch.cumsum(log_a, dim=1)
        # h_t = exp(a*_t) h_0 + exp(a*_t + logcumsumexp_{k≤t}(log b_k − a*_k))
        from_inputs = torch.exp(a_star + torch.logcumsumexp(log_b - a_star, dim=1))
        return torch.addcmul(from_inputs, torch.exp(a_star), h0[:, None, :])

    # ------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        cell_config = self.cell.get_config()
        cell_config.pop("name", None)
        return {**super().get_config(), **cell_config, "dropout": self.dropout, "scan": self.scan}

    def extra_repr(self) -> str:
        flags = [f for f in ("return_sequences", "return_state", "go_backwards", "stateful") if getattr(self, f)]
        return ", ".join([f"scan={self.scan!r}", *flags])


_ARGS_DOC = """
    Shapes: input ``x`` (batch, time, input_size), ``mask`` (batch, time) bool
    (True at real steps), ``initial_state`` (batch, units) or ``[h0]``.  Output
    (batch, time, units) with ``return_sequences``, else (batch, units), followed
    by the final state ``h`` (batch, units) with ``return_state``.

    Args:
        units: size of the hidden state and of the output.
        use_bias: whether the projection has a bias.
        kernel_initializer ('glorot_uniform'), bias_initializer ('zeros'):
            names from :mod:`rnnkit.initializers` or callables.
        dropout: fraction of input features dropped while training (one mask
            per sequence, shared by its steps, as Keras' RNN dropout).
        scan: 'auto', 'compiled', 'log' or 'reference' (see :mod:`rnnkit.layers.min_rnn`);
            'compiled' raises :class:`~rnnkit.errors.ConfigError` when the C kernel
            cannot run (no compiler, a GPU tensor, a dtype other than float32/64).
        return_sequences: return the output at every step instead of the last one.
        return_state: also return the final state.
        go_backwards: process the sequence in reverse and return the reversed outputs.
        stateful: carry the final state of each call into the next (detached);
            :meth:`reset_states` forgets it.
        zero_output_for_mask: zeros at masked steps instead of the last valid output.
        input_size: features per step; inferred at the first call when None.
        name: layer name.

    Call: ``layer(x, mask=None, initial_state=None)``; masked steps leave the
    state unchanged (see :class:`~rnnkit.layers.RecurrentLayer`).
"""


@register_serializable
class MinGRU(_MinRNN):
    __doc__ = (
        r"""minGRU over a sequence: a GRU whose gates depend on the input only, run as a scan.

    .. math::
        \begin{aligned}
        z_t &= \sigma(x_t W_z^T + b_z), \qquad \tilde h_t = g(x_t W_h^T + b_h) \\
        h_t &= (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t
        \end{aligned}

    with :math:`g(v) = v + \tfrac12` for :math:`v \ge 0` and :math:`\sigma(v)`
    for :math:`v < 0` (Feng et al. 2024).  The cell is
    :class:`rnnkit.cells.MinGRUCell`: ``layer.cell.weight_ih`` (2*units,
    input_size) and ``layer.cell.bias_ih`` (2*units,), blocks stacked z, h.
    """
        + _ARGS_DOC
        + """
    Example:
        >>> import torch
        >>> layer = MinGRU(8, return_sequences=True, return_state=True)
        >>> out, h = layer(torch.randn(2, 6, 3))
        >>> out.shape, h.shape, layer.last_path in ('compiled', 'log')
        (torch.Size([2, 6, 8]), torch.Size([2, 8]), True)
    """
    )
    _cell_class = MinGRUCell
    _kind = 0


@register_serializable
class MinLSTM(_MinRNN):
    __doc__ = (
        r"""minLSTM over a sequence: an LSTM with input-only, normalised gates, run as a scan.

    .. math::
        \begin{aligned}
        f_t &= \sigma(x_t W_f^T + b_f), \quad i_t = \sigma(x_t W_i^T + b_i), \quad
        \tilde h_t = g(x_t W_h^T + b_h) \\
        f'_t &= \frac{f_t}{f_t + i_t}, \quad i'_t = \frac{i_t}{f_t + i_t}, \qquad
        h_t = f'_t \odot h_{t-1} + i'_t \odot \tilde h_t
        \end{aligned}

    with :math:`g` as in :class:`MinGRU` (Feng et al. 2024).  The cell is
    :class:`rnnkit.cells.MinLSTMCell`: ``layer.cell.weight_ih`` (3*units,
    input_size) and ``layer.cell.bias_ih`` (3*units,), blocks stacked f, i, h.
    """
        + _ARGS_DOC
        + """
    Example:
        >>> import torch
        >>> layer = MinLSTM(4, scan="reference")
        >>> x = torch.randn(3, 5, 2)
        >>> mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2, [False] * 5])
        >>> last = layer(x, mask=mask)
        >>> last.shape, layer.last_path, bool(last[2].abs().sum() == 0)
        (torch.Size([3, 4]), 'reference', True)
    """
    )
    _cell_class = MinLSTMCell
    _kind = 1
