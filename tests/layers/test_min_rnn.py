"""MinGRU and MinLSTM layers: every scan against independent references.

* ``np_run``: a NumPy float64 loop over time of the equations of Feng et al.
  (2024) with Keras' mask rule, written here without rnnkit code;
* ``torch_ref``: the same loop in float64 torch ops, for reference gradients
  by autograd (and the compiled scan is also checked by finite differences);
* the three scans ('compiled' C kernel, 'log' parallel scan, 'reference' loop over the cell)
  must agree with them and with each other.
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

import rnnkit._kernels as kernels

from kernel_support import require_kernel
from rnnkit.errors import ConfigError, ShapeError
from rnnkit.layers import min_rnn
from rnnkit.layers.min_rnn import MinGRU, MinLSTM

SCANS = ["compiled", "log", "reference"]
LAYERS = {"gru": MinGRU, "lstm": MinLSTM}


# ----------------------------------------------------------------------------- references
def np_sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def np_g(v):
    return np.where(v >= 0, v + 0.5, np_sigmoid(np.minimum(v, 0.0)))


def np_run(kind, x, W, b, h0, mask=None, zero_output=False):
    """outputs (B, T, U), last output (B, U), final state (B, U); float64 NumPy."""
    B, T, _ = x.shape
    U = h0.shape[1]
    mask = np.ones((B, T), bool) if mask is None else mask
    outputs = np.zeros((B, T, U))
    last = np.zeros((B, U))
    final = np.zeros((B, U))
    for r in range(B):
        h, prev = h0[r].copy(), np.zeros(U)
        for t in range(T):
            p = W @ x[r, t] + b
            if mask[r, t]:
                if kind == "gru":
                    z, cand = np_sigmoid(p[:U]), np_g(p[U:])
                    h = (1 - z) * h + z * cand
                else:
                    f, i, cand = np_sigmoid(p[:U]), np_sigmoid(p[U : 2 * U]), np_g(p[2 * U :])
                    h = f / (f + i) * h + i / (f + i) * cand
                prev = outputs[r, t] = h
            elif not zero_output:
                outputs[r, t] = prev  # last valid output, zeros before the first
        last[r], final[r] = prev, h
    return outputs, last, final


def torch_ref(kind, x, W, b, h0, mask=None):
    """The same loop in float64 torch ops, differentiable; returns (outputs, last, final)."""
    U = h0.shape[1]
    h, prev, outs = h0, torch.zeros_like(h0), []
    for t in range(x.shape[1]):
        p = x[:, t] @ W.T + b
        g = lambda v: torch.where(v >= 0, v + 0.5, torch.sigmoid(v))  # noqa: E731
        if kind == "gru":
            z = torch.sigmoid(p[:, :U])
            new = (1 - z) * h + z * g(p[:, U:])
        else:
            f, i = torch.sigmoid(p[:, :U]), torch.sigmoid(p[:, U : 2 * U])
            new = f / (f + i) * h + i / (f + i) * g(p[:, 2 * U :])
        if mask is None:
            h = prev = new
        else:
            m = mask[:, t, None]
            h, prev = torch.where(m, new, h), torch.where(m, new, prev)
        outs.append(prev)
    return torch.stack(outs, 1), prev, h


def make(kind, scan, units=5, features=3, dtype=torch.float64, seed=0, **kw):
    if scan == "compiled":
        require_kernel("minrnn")
    torch.manual_seed(seed)
    layer = LAYERS[kind](units, scan=scan, input_size=features, bias_initializer="random_normal", **kw).to(dtype)
    with torch.no_grad():
        layer.cell.weight_ih.mul_(3.0)  # pre-activations on both sides of 0
        layer.cell.bias_ih.mul_(20.0)
    return layer


def weights(layer):
    return layer.cell.weight_ih.detach().double().numpy(), layer.cell.bias_ih.detach().double().numpy()


MASK = np.array(
    [
        [1, 1, 1, 1, 1, 1, 1],  # all valid
        [0, 0, 1, 1, 0, 1, 0],  # leading masked steps and holes
        [0, 0, 0, 0, 0, 0, 0],  # nothing valid
        [1, 1, 1, 1, 0, 0, 0],  # right padded
    ],
    dtype=bool,
)


# ----------------------------------------------------------------------------- tests
def test_reference_loop_is_the_equations():
    # minGRU, one unit: W = [[0], [0]], b = [0, 1] → z = 1/2, h̃ = 1.5 at every step
    x, h0 = np.zeros((1, 3, 1)), np.array([[-2.0]])
    out, last, final = np_run("gru", x, np.zeros((2, 1)), np.array([0.0, 1.0]), h0)
    expected, h = [], -2.0
    for _ in range(3):
        h = 0.5 * h + 0.75
        expected.append(h)
    np.testing.assert_allclose(out[0, :, 0], expected)
    assert last[0, 0] == final[0, 0] == expected[-1]


@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("scan", SCANS)
@pytest.mark.parametrize("zero_output", [False, True])
def test_forward_matches_numpy_reference(kind, scan, zero_output):
    layer = make(kind, scan, return_sequences=True, return_state=True, zero_output_for_mask=zero_output)
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    h0 = torch.randn(4, 5, dtype=torch.float64) * 3  # negative entries included
    W, b = weights(layer)
    for mask in (None, MASK):
        out, h = layer(x, mask=None if mask is None else torch.from_numpy(mask), initial_state=h0)
        ref_out, _, ref_final = np_run(kind, x.numpy(), W, b, h0.numpy(), mask, zero_output)
        assert layer.last_path == scan
        np.testing.assert_allclose(out.detach().numpy(), ref_out, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(h.detach().numpy(), ref_final, rtol=1e-9, atol=1e-10)
    layer.return_sequences = False
    last, _ = layer(x, mask=torch.from_numpy(MASK), initial_state=h0)
    _, ref_last, _ = np_run(kind, x.numpy(), W, b, h0.numpy(), MASK, zero_output)
    np.testing.assert_allclose(last.detach().numpy(), ref_last, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_float32_scans_agree_with_reference(kind):
    """Float32, batch 1 (the kernel splits the units over threads) and a unit count that is no multiple of 16."""
    for batch, units in ((1, 37), (3, 40)):
        x = torch.randn(batch, 50, 3)
        h0 = -torch.rand(batch, units) * 4
        mask = torch.rand(batch, 50) > 0.3
        ref = None
        for scan in SCANS:
            layer = make(kind, scan, units=units, dtype=torch.float32, return_sequences=True, return_state=True)
            out, h = layer(x, mask=mask, initial_state=h0)
            if ref is None:
                W, b = weights(layer)
                ref = np_run(kind, x.double().numpy(), W, b, h0.double().numpy(), mask.numpy())
            np.testing.assert_allclose(out.detach().numpy(), ref[0], rtol=2e-4, atol=2e-5, err_msg=scan)
            np.testing.assert_allclose(h.detach().numpy(), ref[2], rtol=2e-4, atol=2e-5, err_msg=scan)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("masked", [False, True])
def test_gradients_of_all_scans_match_autograd_reference(kind, masked):
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    h0 = torch.randn(4, 5, dtype=torch.float64) * 2
    mask = torch.from_numpy(MASK) if masked else None
    w_out, w_last, w_final = torch.randn(4, 7, 5, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64), 1.7

    base = make(kind, "sequential")
    W = base.cell.weight_ih.detach().clone().requires_grad_()
    b = base.cell.bias_ih.detach().clone().requires_grad_()
    xr, hr = x.clone().requires_grad_(), h0.clone().requires_grad_()
    out, last, final = torch_ref(kind, xr, W, b, hr, mask)
    loss = (out * w_out).sum() + (last * w_last).sum() + w_final * final.sum()
    expected = torch.autograd.grad(loss, (xr, hr, W, b))

    for scan in SCANS:
        layer = make(kind, scan, return_sequences=True, return_state=True)
        xs, hs = x.clone().requires_grad_(), h0.clone().requires_grad_()
        out, final = layer(xs, mask=mask, initial_state=hs)
        layer.return_sequences = False
        last, _ = layer(xs, mask=mask, initial_state=hs)
        loss = (out * w_out).sum() + (last * w_last).sum() + w_final * final.sum()
        got = torch.autograd.grad(loss, (xs, hs, layer.cell.weight_ih, layer.cell.bias_ih))
        for name, g, e in zip(("x", "h0", "weight_ih", "bias_ih"), got, expected):
            torch.testing.assert_close(g, e, rtol=1e-8, atol=1e-9, msg=f"{scan}: d/d{name}")


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_compiled_gradients_by_finite_differences(kind):
    layer = make(kind, "compiled", units=3, features=2, return_sequences=True, return_state=True)
    mask = torch.tensor([[True, False, True, True], [False, True, True, False]])
    x = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    W = layer.cell.weight_ih.detach().clone().requires_grad_()
    b = layer.cell.bias_ih.detach().clone().requires_grad_()

    def run(x, h0, W, b):
        params = {"cell.weight_ih": W, "cell.bias_ih": b}
        return torch.func.functional_call(layer, params, (x,), {"mask": mask, "initial_state": h0})

    assert torch.autograd.gradcheck(run, (x, h0, W, b))
    assert layer.last_path == "compiled"


def test_float32_training_gradients_compiled_vs_log():
    """The benchmark's loss, output.sum(): an expanded (stride-0) output gradient reaches the kernel."""
    grads = {}
    for scan in ("compiled", "log"):
        layer = make("gru", scan, units=20, features=6, dtype=torch.float32, return_sequences=True)
        x = torch.randn(3, 40, 6, generator=torch.Generator().manual_seed(3), requires_grad=True)
        layer(x).sum().backward()
        grads[scan] = (x.grad, layer.cell.weight_ih.grad, layer.cell.bias_ih.grad)
    for g_fused, g_log in zip(grads["compiled"], grads["log"]):
        torch.testing.assert_close(g_fused, g_log, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("scan", SCANS)
def test_padded_batch_equals_each_sequence_alone(scan):
    lengths = [7, 3, 5, 1]
    layer = make("lstm", scan, return_sequences=True, return_state=True)
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    h0 = torch.randn(4, 5, dtype=torch.float64)
    mask = torch.arange(7)[None, :] < torch.tensor(lengths)[:, None]
    x_padded = torch.where(mask[:, :, None], x, torch.full_like(x, 1e3))  # garbage in the padding
    out, h = layer(x_padded, mask=mask, initial_state=h0)
    for r, n in enumerate(lengths):
        out_r, h_r = layer(x[r : r + 1, :n], initial_state=h0[r : r + 1])
        torch.testing.assert_close(out[r : r + 1, :n], out_r)
        torch.testing.assert_close(h[r : r + 1], h_r)
        torch.testing.assert_close(out[r, n:], out_r[0, -1].expand(7 - n, 5))  # repeats the last output


@pytest.mark.parametrize("scan", SCANS)
def test_mask_output_rule(scan):
    x = torch.randn(3, 5, 3, dtype=torch.float64)
    h0 = torch.full((3, 5), -4.0, dtype=torch.float64)  # a nonzero state must not leak into outputs
    mask = torch.tensor([[0, 0, 1, 0, 1], [0, 0, 0, 0, 0], [1, 0, 0, 1, 0]], dtype=torch.bool)
    layer = make("gru", scan, return_sequences=True, return_state=True)
    out, h = layer(x, mask=mask, initial_state=h0)
    assert not out[0, :2].any() and not out[1].any()  # zeros before the first valid step
    torch.testing.assert_close(out[0, 3], out[0, 2])  # repeat the last valid output
    torch.testing.assert_close(out[2, 1], out[2, 0])
    torch.testing.assert_close(out[2, 4], out[2, 3])
    torch.testing.assert_close(h[1], h0[1])  # no valid step: the state is the initial one
    torch.testing.assert_close(h[0], out[0, 4])
    layer.return_sequences = False
    last, _ = layer(x, mask=mask, initial_state=h0)
    assert not last[1].any()  # no valid step: the last output is zeros
    torch.testing.assert_close(last[2], out[2, 3])
    layer.return_sequences, layer.zero_output_for_mask = True, True
    out_z, h_z = layer(x, mask=mask, initial_state=h0)
    torch.testing.assert_close(out_z, torch.where(mask[:, :, None], out, torch.zeros_like(out)))
    torch.testing.assert_close(h_z, h)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_negative_initial_state_in_the_log_scan(kind):
    """The paper's log scan needs h_0 > 0; ours adds exp(a*_t) h_0 in linear space."""
    x = torch.randn(2, 30, 3, dtype=torch.float64)
    h0 = torch.tensor([[-50.0, -1e-3, 0.0, 2.0, -7.0]] * 2, dtype=torch.float64)
    layer = make(kind, "log", return_sequences=True, return_state=True)
    out, h = layer(x, initial_state=h0)
    W, b = weights(layer)
    ref_out, _, ref_final = np_run(kind, x.numpy(), W, b, h0.numpy())
    np.testing.assert_allclose(out.detach().numpy(), ref_out, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(h.detach().numpy(), ref_final, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("scan", SCANS)
def test_go_backwards(scan):
    layer = make("lstm", scan, return_sequences=True, return_state=True, go_backwards=True)
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    h0 = torch.randn(4, 5, dtype=torch.float64)
    out, h = layer(x, mask=torch.from_numpy(MASK), initial_state=h0)
    W, b = weights(layer)
    ref_out, _, ref_final = np_run("lstm", x.flip(1).numpy(), W, b, h0.numpy(), MASK[:, ::-1])
    np.testing.assert_allclose(out.detach().numpy(), ref_out, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(h.detach().numpy(), ref_final, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("scan", SCANS)
def test_stateful_two_chunks_equal_one_run(scan):
    x = torch.randn(2, 10, 3, dtype=torch.float64)
    full = make("gru", scan, return_sequences=True, return_state=True)
    out, h = full(x)
    layer = make("gru", scan, return_sequences=True, return_state=True, stateful=True)
    out1, _ = layer(x[:, :6])
    out2, h2 = layer(x[:, 6:])
    torch.testing.assert_close(torch.cat([out1, out2], 1), out)
    torch.testing.assert_close(h2, h)
    torch.testing.assert_close(layer.states[0], h)
    layer.reset_states()
    torch.testing.assert_close(layer(x[:, :6])[0], out1)


def test_auto_uses_the_compiled_scan_on_cpu_and_float16_falls_back():
    layer = MinGRU(4)
    layer(torch.randn(2, 3, 5))
    assert layer.last_path == ("compiled" if kernels.load_minrnn() is not None else "log")
    with pytest.raises(ConfigError, match="float32 or float64"):
        MinGRU(4, scan="compiled", input_size=5).to(torch.bfloat16)(torch.randn(2, 3, 5, dtype=torch.bfloat16))


def test_dropout_keeps_one_mask_per_sequence():
    """Each unit sees one feature (W_h = 1, W_z = 0): a dropped feature is dropped at every step."""
    units, rate = 64, 0.5
    layer = MinGRU(units, input_size=units, use_bias=False, dropout=rate, return_sequences=True)
    with torch.no_grad():
        layer.cell.weight_ih.zero_()
        layer.cell.weight_ih[units:].copy_(torch.eye(units))  # h̃ = g(x), z = σ(0) = 1/2
    x = torch.full((2, 6, units), 2.0)
    out = layer(x)
    # h_t = h_{t-1}/2 + g_t/2  →  g_t = 2 h_t − h_{t-1}
    prev = torch.cat([torch.zeros(2, 1, units), out[:, :-1]], 1)
    cand = 2 * out - prev
    torch.testing.assert_close(cand, cand[:, :1].expand_as(cand))  # the same at every step
    values = set(np.round(cand[:, 0].detach().numpy().ravel(), 4).tolist())
    assert values == {0.5, 2.0 / (1 - rate) + 0.5}  # dropped: g(0); kept: g(x / keep)
    layer.eval()
    torch.testing.assert_close(2 * layer(x) - torch.cat([torch.zeros(2, 1, units), layer(x)[:, :-1]], 1),
                               torch.full((2, 6, units), 2.5))  # fmt: skip


# ----------------------------------------------------------------------------- the C kernel's loader
def test_without_kernel_auto_falls_back_with_one_warning(monkeypatch, tmp_path):
    monkeypatch.setattr(kernels, "_state", {})
    monkeypatch.setattr(kernels, "_compiler", lambda: None)
    monkeypatch.setenv("RNNKIT_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setattr(min_rnn, "_fallback_warned", False)
    assert kernels.load_minrnn() is None
    assert "no C compiler" in kernels.minrnn_unavailable_reason()

    x = torch.randn(2, 4, 3)
    ref = make("gru", "sequential", dtype=torch.float32, return_sequences=True)(x)
    layer = make("gru", "auto", dtype=torch.float32, return_sequences=True)
    with pytest.warns(RuntimeWarning, match="no C compiler"):
        out = layer(x)
    assert layer.last_path == "log"
    torch.testing.assert_close(out, ref)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer(x)  # only one warning
    with pytest.raises(ConfigError, match="scan='compiled' cannot run: .*no C compiler"):
        MinGRU(5, scan="compiled", input_size=3)(x)  # not make(): it skips when the kernel is missing


def test_loader_compiles_once_into_the_cache(monkeypatch, tmp_path):
    if kernels._compiler() is None:
        pytest.skip("no C compiler")
    monkeypatch.setattr(kernels, "_state", {})
    monkeypatch.setenv("RNNKIT_KERNEL_CACHE", str(tmp_path / "cache"))
    kernel = kernels.load_minrnn()
    assert kernel is not None, kernels.minrnn_unavailable_reason()
    (built,) = (tmp_path / "cache").iterdir()  # no temporary file left behind
    assert built.name.startswith("minrnn_scan-") and built.suffix == ".so"
    stamp = built.stat().st_mtime_ns
    monkeypatch.setattr(kernels, "_state", {})
    assert kernels.load_minrnn() is not None and built.stat().st_mtime_ns == stamp  # reused, not rebuilt


def test_loader_reports_a_failed_compilation(monkeypatch, tmp_path):
    bad = tmp_path / "minrnn_scan.c"
    bad.write_text("this is not C\n")
    monkeypatch.setattr(kernels, "_state", {})
    monkeypatch.setattr(kernels, "_SOURCES", {**kernels._SOURCES, "minrnn": bad})
    monkeypatch.setenv("RNNKIT_KERNEL_CACHE", str(tmp_path / "cache"))
    if kernels._compiler() is None:
        pytest.skip("no C compiler")
    assert kernels.load_minrnn() is None
    assert "compiling minrnn_scan.c failed" in kernels.minrnn_unavailable_reason()
    assert list((tmp_path / "cache").iterdir()) == []


# ----------------------------------------------------------------------------- config and errors
@pytest.mark.parametrize("cls", [MinGRU, MinLSTM])
def test_config_round_trip(cls):
    layer = cls(6, scan="log", dropout=0.25, return_state=True, go_backwards=True, input_size=3, name="m")
    config = json.loads(json.dumps(layer.get_config()))
    assert config["scan"] == "log" and config["dropout"] == 0.25 and config["units"] == 6
    clone = cls.from_config(config)
    assert clone.get_config() == layer.get_config()
    assert clone.cell.weight_ih.shape == layer.cell.weight_ih.shape == (cls._cell_class.num_gates * 6, 3)
    lazy = cls(4)
    assert not lazy.built and cls.from_config(lazy.get_config()).get_config() == lazy.get_config()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"scan": "fast"}, "`scan` must be one of"),
        ({"dropout": 1.0}, "`dropout`"),
        ({"units": 0}, "MinGRU: `units`"),
        ({"return_sequences": 1}, "`return_sequences`"),
        ({"bias_initializer": "nope"}, "unknown initializer"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        MinGRU(**{"units": 3, **kwargs})


def test_bad_inputs():
    layer = MinLSTM(3, input_size=2)
    with pytest.raises(ShapeError, match="3 dims"):
        layer(torch.zeros(4, 2))
    with pytest.raises(ShapeError, match="features"):
        layer(torch.zeros(4, 5, 3))
    with pytest.raises(ShapeError, match="dtype torch.float32"):
        layer(torch.zeros(4, 5, 2, dtype=torch.float64))
    with pytest.raises(ShapeError, match="initial_state"):
        layer(torch.zeros(4, 5, 2), initial_state=torch.zeros(4, 4))
    with pytest.raises(ShapeError, match="mask"):
        layer(torch.zeros(4, 5, 2), mask=torch.ones(4, 6, dtype=torch.bool))
    with pytest.raises(ConfigError, match="stateful"):
        layer.reset_states()


def test_the_scan_names_of_rnnkit_0_1_still_load():
    """A config saved with scan='fused' or 'sequential' (rnnkit 0.1) rebuilds with today's names."""
    assert MinGRU(3, scan="fused").scan == "compiled"
    assert MinLSTM.from_config({**MinLSTM(3).get_config(), "scan": "sequential"}).scan == "reference"
    with pytest.raises(ConfigError, match="scan"):
        MinGRU(3, scan="parallel")
