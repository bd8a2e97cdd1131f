"""The three paths of a recurrent layer: ``reference`` is the cell's own ``recurrence``; the kernels equal it.

* The reference path (``use_fused='reference'``, and wherever no kernel applies)
  runs the cell's annotated ``recurrence``: a cell whose ``recurrence`` is changed
  changes the output there — checked against a step loop over ``torch.nn.LSTMCell``
  — while PyTorch's fused kernel and the compiled C loop never call it.
* ``fused`` and ``compiled`` are optimisations: the same outputs, final states and
  gradients (input, initial state, every weight) as the reference path, in float64,
  with masks and with a fixed recurrent-dropout mask.
* ``last_path`` names what ran, for one cell, a stack of cells and Bidirectional.
"""
from __future__ import annotations

import warnings

import pytest
import torch

import rnnkit._kernels as kernels
from rnnkit.cells import GRUCell, LSTMCell, SimpleRNNCell
from rnnkit.layers import GRU, LSTM, RNN, Bidirectional, SimpleRNN

from kernel_support import require_kernel

B, T, F, U = 4, 7, 3, 5


def _compiled_or_reference() -> str:
    return "compiled" if kernels.load_rnn_loop() is not None else "reference"


# ----------------------------------------------------------------------------- reference = recurrence
class _HalvedLSTMCell(LSTMCell):
    """An LSTM cell whose recurrence halves the hidden state it passes on (a changed equation)."""

    def recurrence(self, xp_t, state, recurrent_mask=None):
        out, (h, c) = super().recurrence(xp_t, state, recurrent_mask)
        return 0.5 * out, (0.5 * h, c)


def _halved_lstm_by_torch(cell: LSTMCell, x: torch.Tensor) -> torch.Tensor:
    """The same changed equations, stepped with torch.nn.LSTMCell given the same weights (independent of rnnkit)."""
    ref = torch.nn.LSTMCell(cell.input_size, cell.units).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ref, name).copy_(getattr(cell, name))
    h = c = torch.zeros(x.shape[0], cell.units, dtype=x.dtype)
    outs = []
    for t in range(x.shape[1]):
        h, c = ref(x[:, t], (h, c))
        h = 0.5 * h
        outs.append(h)
    return torch.stack(outs, 1)


def test_a_changed_recurrence_changes_the_reference_path():
    torch.manual_seed(0)
    layer = RNN(_HalvedLSTMCell(U, input_size=F, bias_initializer="random_normal"), return_sequences=True).double()
    x = torch.randn(B, T, F, dtype=torch.float64)
    out = layer(x)
    assert layer.last_path == "reference"
    assert layer.last_path_reason.startswith("_HalvedLSTMCell is not a built-in cell")
    torch.testing.assert_close(out, _halved_lstm_by_torch(layer.cell, x), rtol=1e-12, atol=1e-12)
    # the unchanged cell with the same weights gives another result
    plain = LSTM(U, input_size=F, return_sequences=True).double()
    plain.load_state_dict(layer.state_dict())
    assert (plain(x) - out).abs().max() > 0.01


@pytest.mark.parametrize("cell_class,layer_class", [(LSTMCell, LSTM), (GRUCell, GRU), (SimpleRNNCell, SimpleRNN)])
def test_the_reference_path_calls_recurrence_at_every_step_and_the_kernels_never(monkeypatch, cell_class, layer_class):
    torch.manual_seed(1)
    x = torch.randn(B, T, F, dtype=torch.float64)
    layers = {use_fused: layer_class(U, input_size=F, return_sequences=True, use_fused=use_fused).double()
              for use_fused in ("reference", True, False)}
    for layer in layers.values():
        layer.load_state_dict(layers["reference"].state_dict())
    before = {k: layer(x).detach() for k, layer in layers.items()}
    calls = []
    original = cell_class.recurrence

    def changed(self, xp_t, state, recurrent_mask=None):
        calls.append(xp_t.shape)
        out, new_state = original(self, xp_t, state, recurrent_mask)
        return out + 1.0, tuple(s + 1.0 for s in new_state)

    monkeypatch.setattr(cell_class, "recurrence", changed)
    after = layers["reference"](x).detach()
    assert calls == [(B, cell_class.num_gates * U)] * T  # once per step
    assert layers["reference"].last_path == "reference"
    assert not torch.allclose(after, before["reference"])
    for use_fused in (True, False):  # fused and compiled: their own implementations of the equations
        calls.clear()
        out = layers[use_fused](x).detach()
        if layers[use_fused].last_path == "reference":
            continue  # use_fused=False without a C compiler is the reference path
        assert calls == []
        torch.testing.assert_close(out, before[use_fused], rtol=0, atol=0)
        torch.testing.assert_close(before[use_fused], before["reference"], rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- kernels = reference
def _run(layer, x, h0, mask):
    """Outputs, final states and the gradients of a weighted sum of them (x, h0 and every parameter)."""
    x = x.clone().requires_grad_()
    h0 = [h.clone().requires_grad_() for h in h0]
    layer.zero_grad(set_to_none=True)
    out, *states = layer(x, mask=mask, initial_state=h0)
    weights = torch.linspace(-1, 1, out.numel(), dtype=x.dtype).view_as(out)
    (out * weights).sum().add(sum((s * s).sum() for s in states)).backward()
    return [out.detach(), *(s.detach() for s in states), x.grad, *(h.grad for h in h0),
            *(p.grad for p in layer.parameters())]


KERNEL_CASES = [(LSTM, {}), (GRU, {}), (SimpleRNN, {}), (SimpleRNN, {"activation": "relu"})]
COMPILED_ONLY = [(GRU, {"reset_after": False}), (LSTM, {"recurrent_activation": "hard_sigmoid"})]
IDS = lambda cases: [f"{c.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}" for c, kw in cases]  # noqa: E731


def _pair(cls, kw, use_fused, **layer_kw):
    torch.manual_seed(2)
    kernel = cls(U, input_size=F, return_sequences=True, return_state=True, use_fused=use_fused,
                 bias_initializer="random_normal", **kw, **layer_kw).double()
    reference = cls(U, input_size=F, return_sequences=True, return_state=True, use_fused="reference", **kw,
                    **layer_kw).double()
    reference.load_state_dict(kernel.state_dict())
    x = torch.randn(B, T, F, dtype=torch.float64)
    h0 = [torch.randn(B, U, dtype=torch.float64) for _ in kernel.state_size]
    return kernel, reference, x, h0


def _assert_same(got, want):
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12, msg=lambda m: f"result {i}: {m}")


@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("cls,kw", KERNEL_CASES, ids=IDS(KERNEL_CASES))
def test_fused_equals_reference(cls, kw, masked):
    kernel, reference, x, h0 = _pair(cls, kw, True)
    lengths = torch.tensor([T, 3, 1, 5])
    mask = (torch.arange(T)[None] < lengths[:, None]) if masked else None
    got = _run(kernel, x, h0, mask)
    want = _run(reference, x, h0, mask)
    assert (kernel.last_path, reference.last_path) == ("fused", "reference")
    _assert_same(got, want)


@pytest.mark.parametrize("dropout", [False, True], ids=["nodropout", "recurrent-dropout"])
@pytest.mark.parametrize("mask_kind", [None, "holes"])
@pytest.mark.parametrize("cls,kw", KERNEL_CASES + COMPILED_ONLY, ids=IDS(KERNEL_CASES + COMPILED_ONLY))
def test_compiled_equals_reference(cls, kw, mask_kind, dropout):
    require_kernel("rnn_loop")
    kernel, reference, x, h0 = _pair(cls, kw, False, recurrent_dropout=0.4 if dropout else 0.0)
    mask = None
    if mask_kind == "holes":  # not contiguous, an empty row and a full one
        mask = torch.tensor([[1, 0, 1, 1, 0, 1, 0], [0] * T, [1] * T, [0, 0, 1, 0, 1, 1, 1]], dtype=torch.bool)
    if dropout:  # one fixed recurrent-dropout mask, given to both
        fixed = torch.tensor([0.0, 1 / 0.6, 1 / 0.6, 0.0, 1 / 0.6], dtype=torch.float64).repeat(B, 1)
        for layer in (kernel, reference):
            layer.cell.recurrent_dropout_mask = lambda batch, device, dtype: fixed.to(device=device, dtype=dtype)
    got = _run(kernel.train(), x, h0, mask)
    want = _run(reference.train(), x, h0, mask)
    assert (kernel.last_path, reference.last_path) == ("compiled", "reference")
    _assert_same(got, want)


# ----------------------------------------------------------------------------- what last_path says
def test_a_stack_joins_its_cells_paths_in_order():
    layer = RNN([LSTMCell(4), GRUCell(3, reset_after=False), SimpleRNNCell(2, activation="softplus")])
    layer(torch.randn(2, 5, 3))
    assert layer.last_path == f"fused+{_compiled_or_reference()}+reference"
    assert "GRU with reset_after=False" in layer.last_path_reason
    assert "activation softplus, which the compiled loop does not compute" in layer.last_path_reason
    same = RNN([LSTMCell(4), LSTMCell(3)], use_fused="reference")
    same(torch.randn(2, 5, 3))
    assert (same.last_path, same.last_path_reason) == ("reference", "use_fused='reference'")


def test_bidirectional_names_both_directions():
    bi = Bidirectional(LSTM(4, return_sequences=True))
    bi(torch.randn(2, 5, 3))
    assert (bi.last_path, bi.last_path_reason) == ("fused", None)
    bi = Bidirectional(LSTM(4, return_sequences=True),
                       backward_layer=LSTM(4, return_sequences=True, go_backwards=True, use_fused="reference"))
    bi(torch.randn(2, 5, 3))
    assert bi.last_path == "fused/reference"
    assert bi.last_path_reason == "backward: use_fused='reference'"


def test_autocast_runs_the_reference_path_where_the_fused_kernel_cannot():
    """Under a CPU bfloat16 autocast the compiled loop (float32/float64) stands aside."""
    torch.manual_seed(3)
    layer = LSTM(4, input_size=3, recurrent_dropout=0.3, return_sequences=True).train()
    x = torch.randn(2, 5, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = layer(x)
    assert layer.last_path == "reference" and "autocast" in layer.last_path_reason
    assert out.shape == (2, 5, 4) and torch.isfinite(out).all()
