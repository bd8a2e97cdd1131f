"""MinGRUCell and MinLSTMCell against a NumPy (float64) reference of the equations of Feng et al. (2024).

The reference below is written from the equations alone (no rnnkit code):

    minGRU:  z = σ(x W_z^T + b_z), h̃ = g(x W_h^T + b_h), h = (1 − z) h_prev + z h̃
    minLSTM: f = σ(x W_f^T + b_f), i = σ(x W_i^T + b_i), h̃ = g(x W_h^T + b_h),
             h = f/(f+i) h_prev + i/(f+i) h̃
    g(v) = v + 1/2 (v ≥ 0), σ(v) (v < 0);  weight_ih stacks the blocks z, h / f, i, h.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnnkit.cells.min_rnn import MinGRUCell, MinLSTMCell
from rnnkit.errors import ConfigError, NotBuiltError, ShapeError
from rnnkit.layers import RNN


def np_sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def np_g(v):
    return np.where(v >= 0, v + 0.5, np_sigmoid(np.minimum(v, 0.0)))


def np_step(kind, x, h, W, b):
    """One step of the reference, float64: x (B, F), h (B, U), W (G*U, F), b (G*U,)."""
    U = h.shape[1]
    p = x @ W.T + b
    if kind == "gru":
        z, cand = np_sigmoid(p[:, :U]), np_g(p[:, U:])
        return (1.0 - z) * h + z * cand
    f, i, cand = np_sigmoid(p[:, :U]), np_sigmoid(p[:, U : 2 * U]), np_g(p[:, 2 * U :])
    return f / (f + i) * h + i / (f + i) * cand


CELLS = {"gru": MinGRUCell, "lstm": MinLSTMCell}


def _weights(cell):
    b = cell.bias_ih.detach().double().numpy() if cell.use_bias else 0.0
    return cell.weight_ih.detach().double().numpy(), b


def test_reference_matches_the_equations_by_hand():
    # one unit, one feature, W = [[1], [2]] (z, h), b = 0, x = 1, h_prev = -1
    W, b = np.array([[1.0], [2.0]]), np.zeros(2)
    z = 1 / (1 + np.exp(-1.0))
    expected = (1 - z) * -1.0 + z * (2.0 + 0.5)
    assert np.allclose(np_step("gru", np.ones((1, 1)), -np.ones((1, 1)), W, b), expected)
    # g is continuous at 0 and positive
    assert np.allclose(np_g(np.array([-1e-9, 0.0, 1e-9])), 0.5)
    assert (np_g(np.linspace(-30, 30, 101)) > 0).all()


@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_step_matches_reference(kind, use_bias):
    torch.manual_seed(0)
    cell = CELLS[kind](5, input_size=3, use_bias=use_bias, bias_initializer="random_normal")
    assert cell.weight_ih.shape == (cell.num_gates * 5, 3)
    x = torch.randn(4, 3) * 3
    h = torch.randn(4, 5) * 2  # negative entries too
    out, (h_new,) = cell(x, (h,))
    W, b = _weights(cell)
    ref = np_step(kind, x.double().numpy(), h.double().numpy(), W, b)
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-5, atol=1e-6)
    assert out is h_new


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_zero_state_default_and_gate_order(kind):
    cell = CELLS[kind](2, input_size=1, use_bias=True)
    with torch.no_grad():
        cell.weight_ih.zero_()
        # the last block is the candidate: make h̃ = 0.5 + 3 for a zero input via its bias
        cell.bias_ih.zero_()
        cell.bias_ih[-2:] = 3.0
    out, _ = cell(torch.zeros(1, 1))  # zero state by default
    # minGRU: z = σ(0) = 1/2 → h = 3.5 / 2;  minLSTM: f = i → h = 3.5 / 2 as well
    np.testing.assert_allclose(out.detach().numpy(), [[1.75, 1.75]], rtol=1e-6)
    if kind == "gru":
        with torch.no_grad():
            cell.bias_ih[:2] = 50.0  # z → 1: the state is replaced by h̃
        out, _ = cell(torch.zeros(1, 1), torch.full((1, 2), -7.0))
        np.testing.assert_allclose(out.detach().numpy(), [[3.5, 3.5]], rtol=1e-6)
    else:
        with torch.no_grad():
            cell.bias_ih[:2] = 50.0  # f → 1 and i = 1/2: f' = 2/3
        out, _ = cell(torch.zeros(1, 1), torch.full((1, 2), -7.0))
        np.testing.assert_allclose(out.detach().numpy(), [[-7 * 2 / 3 + 3.5 / 3] * 2], rtol=1e-5)


def test_minlstm_is_stable_when_both_gates_underflow():
    cell = MinLSTMCell(1, input_size=1)
    with torch.no_grad():
        cell.weight_ih.zero_()
        cell.bias_ih.copy_(torch.tensor([-200.0, -300.0, 1.0]))  # f ≈ e^-200, i ≈ e^-300 (0 in float32)
    out, _ = cell(torch.zeros(1, 1), torch.full((1, 1), 2.0))
    ref = np_step("lstm", np.zeros((1, 1)), np.full((1, 1), 2.0), np.zeros((3, 1)), np.array([-200.0, -300.0, 1.0]))
    assert torch.isfinite(out).all()
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-6)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_gradients_by_finite_differences(kind):
    torch.manual_seed(1)
    cell = CELLS[kind](3, input_size=2, bias_initializer="random_normal").double()
    x = (torch.randn(2, 2, dtype=torch.float64) * 2).requires_grad_()
    h = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    W = cell.weight_ih.detach().clone().requires_grad_()
    b = cell.bias_ih.detach().clone().requires_grad_()

    def step(x, h, W, b):
        params = {"weight_ih": W, "bias_ih": b}
        return torch.func.functional_call(cell, params, (x, (h,)))[0]

    assert torch.autograd.gradcheck(step, (x, h, W, b))


def test_runs_inside_rnn_like_the_reference():
    torch.manual_seed(2)
    cell = MinGRUCell(4, input_size=3, bias_initializer="random_normal")
    layer = RNN(cell, return_sequences=True, return_state=True)
    x = torch.randn(2, 6, 3)
    out, h = layer(x)
    W, b = _weights(cell)
    ref_h = np.zeros((2, 4))
    for t in range(6):
        ref_h = np_step("gru", x[:, t].double().numpy(), ref_h, W, b)
        np.testing.assert_allclose(out[:, t].detach().numpy(), ref_h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.detach().numpy(), ref_h, rtol=1e-5, atol=1e-6)
    assert layer.last_path == "reference"


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_lazy_build_initial_state_and_config_round_trip(kind):
    cls = CELLS[kind]
    cell = cls(6, kernel_initializer="he_uniform", use_bias=False, name="mini")
    with pytest.raises(NotBuiltError):
        cell._require_built("test")
    assert cell.state_size == (6,) and cell.output_size == 6
    (h0,) = cell.initial_state(3)
    assert h0.shape == (3, 6) and not h0.any()
    out, _ = cell(torch.randn(3, 4).double())
    assert cell.built and cell.input_size == 4 and cell.weight_ih.dtype == torch.float64
    assert cell.bias_ih is None and out.dtype == torch.float64
    config = json.loads(json.dumps(cell.get_config()))
    assert config == {
        "name": "mini",
        "units": 6,
        "input_size": 4,
        "use_bias": False,
        "kernel_initializer": "he_uniform",
        "bias_initializer": "zeros",
    }
    clone = cls.from_config(config)
    assert clone.get_config() == cell.get_config() and clone.weight_ih.shape == cell.weight_ih.shape


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"units": 0}, "units"),
        ({"units": 2.5}, "units"),
        ({"units": True}, "units"),
        ({"units": 3, "input_size": -1}, "input_size"),
        ({"units": 3, "use_bias": "yes"}, "use_bias"),
        ({"units": 3, "kernel_initializer": "nope"}, "initializer"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        MinGRUCell(**kwargs)


def test_bad_inputs_and_states():
    cell = MinLSTMCell(3, input_size=2)
    with pytest.raises(ShapeError, match="2 dims"):
        cell(torch.zeros(2, 5, 2))
    with pytest.raises(ShapeError, match="floating-point"):
        cell(torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ShapeError, match="input_size=2"):
        cell(torch.zeros(2, 4))
    with pytest.raises(ShapeError, match=r"shape \(2, 3\)"):
        cell(torch.zeros(2, 2), (torch.zeros(2, 4),))
    with pytest.raises(ShapeError, match=r"shape \(2, 3\)"):
        cell(torch.zeros(2, 2), (torch.zeros(2, 3), torch.zeros(2, 3)))
