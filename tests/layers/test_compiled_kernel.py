"""The compiled path's C loop kernel (``rnn_loop.c``) against the reference path.

With the kernel loaded, ``use_fused=False`` runs SimpleRNN/LSTM/GRU on the compiled
loop (:class:`rnnkit.layers._compiled._KernelFn`); without it, on the reference
path: autograd over the cell's own ``recurrence``.  Both must give the same
outputs, final states and gradients (of the input, the initial state and every
weight) for every cell kind, activation, mask and recurrent-dropout mask (drawn
from the same seed, so the same mask), in float32 and float64.  Both are also
checked against the NumPy reference in ``test_recurrent_reference.py``.
"""
from __future__ import annotations

import pytest
import torch

import rnnkit._kernels as kernels
from rnnkit.layers import GRU, LSTM, SimpleRNN
from rnnkit.layers import _compiled

from kernel_support import require_kernel


@pytest.fixture(autouse=True, scope="module")
def _loop_kernel():
    """Skip without a C compiler; with one, a kernel that does not build fails every test here."""
    return require_kernel("rnn_loop")

CASES = [
    (SimpleRNN, {}),
    (SimpleRNN, {"activation": "relu"}),
    (SimpleRNN, {"activation": "linear"}),
    (SimpleRNN, {"activation": "hard_sigmoid", "use_bias": False}),
    (LSTM, {}),
    (LSTM, {"activation": "relu", "recurrent_activation": "hard_sigmoid"}),
    (LSTM, {"activation": "linear", "recurrent_activation": "tanh", "use_bias": False}),
    (GRU, {}),
    (GRU, {"use_bias": False}),
    (GRU, {"activation": "relu", "recurrent_activation": "hard_sigmoid"}),
    (GRU, {"reset_after": False}),
    (GRU, {"reset_after": False, "activation": "linear", "recurrent_activation": "hard_sigmoid"}),
]
IDS = [f"{cls.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}" for cls, kw in CASES]


def _without_kernel(monkeypatch):
    monkeypatch.setitem(kernels._state, "rnn_loop", {"kernel": None, "reason": "RuntimeError: disabled by the test"})


def _mask(kind: str, batch: int, steps: int) -> torch.Tensor | None:
    gen = torch.Generator().manual_seed(3)
    if kind == "none":
        return None
    m = torch.rand(batch, steps, generator=gen) > 0.35
    m[0] = True  # one full row
    if batch > 2:
        m[2] = False  # one empty row
    if kind == "non-contiguous":
        return torch.rand(steps, batch, generator=gen).t() > 0.35  # (B, T) view of a (T, B) tensor
    return m


def _run(layer, x, h0, mask, seed):
    """Outputs, final states and the gradients of a fixed weighted sum of them."""
    for p in [x, *h0, *layer.parameters()]:
        p.grad = None
    torch.manual_seed(seed)  # the recurrent-dropout mask
    out, *states = layer(x, mask=mask, initial_state=h0)
    weights = torch.linspace(-1, 1, out.numel(), dtype=x.dtype).view_as(out)
    loss = (out * weights).sum() + sum((s * s).sum() for s in states)
    loss.backward()
    grads = [x.grad, *(h.grad for h in h0), *(p.grad for p in layer.parameters())]
    return [out.detach(), *(s.detach() for s in states), *(g.clone() for g in grads)]


def _compare(monkeypatch, cls, kw, dtype, mask_kind, dropout, batch=5, steps=7, features=3, units=6, threads=None):
    torch.manual_seed(0)
    layer = cls(units, input_size=features, return_sequences=True, return_state=True, use_fused=False,
                recurrent_dropout=dropout, **kw).to(dtype)  # fmt: skip
    layer.train()
    x = torch.randn(batch, steps, features, dtype=dtype, requires_grad=True)
    h0 = [torch.randn(batch, units, dtype=dtype, requires_grad=True) for _ in layer.cell.state_size]
    mask = _mask(mask_kind, batch, steps)
    calls = []
    original = _compiled._KernelFn.apply
    monkeypatch.setattr(_compiled._KernelFn, "apply", lambda *a: calls.append(1) or original(*a))
    if threads is not None:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
    try:
        got = _run(layer, x, h0, mask, seed=11)
    finally:
        if threads is not None:
            torch.set_num_threads(previous)
    assert calls, "the C kernel was not used"
    assert layer.last_path == "compiled"
    with monkeypatch.context() as m:
        _without_kernel(m)
        want = _run(layer, x, h0, mask, seed=11)
    assert len(calls) == 1, "the reference path called the C kernel"
    assert layer.last_path == "reference" and "not built here" in layer.last_path_reason
    # use_fused='reference' is the same path, with the kernel there
    layer.use_fused = "reference"
    assert [torch.equal(a, b) for a, b in zip(_run(layer, x, h0, mask, seed=11), want)] == [True] * len(want)
    assert len(calls) == 1 and layer.last_path == "reference"
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == torch.float64 else dict(rtol=2e-5, atol=2e-5)
    n_weights = len(list(layer.parameters()))
    for i, (a, b) in enumerate(zip(got, want)):
        if dtype == torch.float32 and i >= len(got) - n_weights:
            # the weight gradients in float32: autograd sums them one step at a time, the kernel
            # in one product over all steps, so the two round differently (float64: 1e-12)
            torch.testing.assert_close(a, b, rtol=1e-4, atol=5e-5)
        else:
            torch.testing.assert_close(a, b, **tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("cls,kw", CASES, ids=IDS)
def test_kernel_matches_reference(monkeypatch, cls, kw, dtype):
    _compare(monkeypatch, cls, kw, dtype, "none", 0.0)


@pytest.mark.parametrize("mask_kind", ["random", "non-contiguous"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("cls,kw", CASES, ids=IDS)
def test_kernel_matches_reference_with_masks_and_dropout(monkeypatch, cls, kw, dtype, mask_kind):
    _compare(monkeypatch, cls, kw, dtype, mask_kind, 0.3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("cls,kw", [CASES[0], CASES[4], CASES[7], CASES[10]], ids=[IDS[0], IDS[4], IDS[7], IDS[10]])
def test_kernel_matches_reference_blocked_and_threaded(monkeypatch, cls, kw, dtype):
    """Units over several column blocks with a ragged last one, rows over several register blocks, two threads."""
    _compare(monkeypatch, cls, kw, dtype, "random", 0.2, batch=13, steps=5, features=4, units=150, threads=2)


def test_reference_path_when_the_kernel_is_unavailable(monkeypatch):
    _without_kernel(monkeypatch)
    assert kernels.load_rnn_loop() is None
    assert "disabled by the test" in kernels.rnn_loop_unavailable_reason()
    used = []
    monkeypatch.setattr(_compiled._KernelFn, "apply", lambda *a: used.append(1))
    layer = LSTM(4, input_size=3, use_fused=False)
    out = layer(torch.randn(2, 5, 3))
    assert out.shape == (2, 4) and not used
    assert layer.last_path == "reference"
    assert layer.last_path_reason == "use_fused=False; the compiled loop is not built here (RuntimeError: disabled by the test)"


def test_kernel_not_used_for_other_dtypes_or_activations(monkeypatch):
    used = []
    original = _compiled._KernelFn.apply
    monkeypatch.setattr(_compiled._KernelFn, "apply", lambda *a: used.append(1) or original(*a))
    bf16 = GRU(4, input_size=3, use_fused=False).to(torch.bfloat16)
    bf16(torch.randn(2, 5, 3, dtype=torch.bfloat16))
    assert bf16.last_path == "reference" and "float32 and float64, got torch.bfloat16" in bf16.last_path_reason
    softplus = SimpleRNN(4, input_size=3, use_fused=False, activation="softplus")
    softplus(torch.randn(2, 5, 3))
    assert softplus.last_path == "reference" and "activation softplus" in softplus.last_path_reason
    reference = SimpleRNN(4, input_size=3, use_fused="reference")
    reference(torch.randn(2, 5, 3))
    assert reference.last_path == "reference"
    assert not used
    SimpleRNN(4, input_size=3, use_fused=False)(torch.randn(2, 5, 3))
    assert used


@pytest.mark.slow  # compiles the C kernel into a fresh cache (about 3 s); .ci/run's slow pass runs it
def test_loader_builds_the_loop_kernel_into_the_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(kernels, "_state", {})
    monkeypatch.setenv("RNNKIT_KERNEL_CACHE", str(tmp_path))
    kernel = kernels.load_rnn_loop()
    assert kernel is not None and kernel.abi_version == 1, kernels.rnn_loop_unavailable_reason()
    assert [p.name.split("-")[0] for p in tmp_path.iterdir()] == ["rnn_loop"]
    assert kernels.load_rnn_loop() is kernel


@pytest.mark.parametrize("steps", [6, 7])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("cls,kw", CASES, ids=IDS)
def test_inference_matches_reference(monkeypatch, cls, kw, dtype, steps):
    """Without a backward the kernel keeps one step of its buffers (two cell states): same results."""
    torch.manual_seed(0)
    layer = cls(6, input_size=3, return_sequences=True, return_state=True, use_fused=False, **kw).to(dtype).eval()
    x = torch.randn(5, steps, 3, dtype=dtype)
    h0 = [torch.randn(5, 6, dtype=dtype) for _ in layer.cell.state_size]
    mask = _mask("random", 5, steps)
    with torch.no_grad():
        got = layer(x, mask=mask, initial_state=h0)
        with monkeypatch.context() as m:
            _without_kernel(m)
            want = layer(x, mask=mask, initial_state=h0)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == torch.float64 else dict(rtol=2e-5, atol=2e-5)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, **tol)




def test_no_compiler_means_the_reference_path(monkeypatch, tmp_path):
    x = torch.randn(3, 5, 2, dtype=torch.float64)
    layer = GRU(4, input_size=2, use_fused=False, return_sequences=True).to(torch.float64)
    with_kernel = layer(x)
    monkeypatch.setattr(kernels, "_state", {})
    monkeypatch.setattr(kernels, "_compiler", lambda: None)
    monkeypatch.setenv("RNNKIT_KERNEL_CACHE", str(tmp_path))
    assert kernels.load_rnn_loop() is None
    assert "no C compiler" in kernels.rnn_loop_unavailable_reason()
    assert layer.last_path == "compiled"
    torch.testing.assert_close(layer(x), with_kernel, rtol=1e-12, atol=1e-12)
    assert layer.last_path == "reference" and "no C compiler" in layer.last_path_reason
