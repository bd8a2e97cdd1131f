"""Keras-layout get_weights/set_weights: hand-computed steps written in Keras' own variable names and order."""
import math

import numpy as np
import pytest
import torch

from rnnkit.errors import ShapeError
from rnnkit.layers import GRU, LSTM, Bidirectional, SimpleRNN


def sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def test_lstm_two_steps_by_hand():
    # Keras: kernel (in, 4U) columns i, f, c, o; one bias
    k = [0.5, 0.1, -0.3, 0.2]
    u = [0.4, -0.2, 0.6, 0.1]
    b = [0.1, 1.0, 0.0, -0.1]
    layer = LSTM(1, input_size=1, return_sequences=True)
    layer.set_weights([np.array([k]), np.array([u]), np.array(b)])
    h = c = 0.0
    expect = []
    for x in (1.0, 2.0):
        i = sig(x * k[0] + h * u[0] + b[0])
        f = sig(x * k[1] + h * u[1] + b[1])
        g = math.tanh(x * k[2] + h * u[2] + b[2])
        o = sig(x * k[3] + h * u[3] + b[3])
        c = f * c + i * g
        h = o * math.tanh(c)
        expect.append(h)
    out = layer(torch.tensor([[[1.0], [2.0]]]))
    np.testing.assert_allclose(out[0, :, 0].detach().numpy(), expect, rtol=1e-6)
    kernel, recurrent, bias = layer.get_weights()
    np.testing.assert_allclose(kernel, [k])
    np.testing.assert_allclose(recurrent, [u])
    np.testing.assert_allclose(bias, b, rtol=1e-7)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_two_steps_by_hand(reset_after):
    # Keras: kernel (in, 3U) columns z, r, h
    k = [0.3, -0.5, 0.8]
    u = [0.2, 0.4, -0.6]
    if reset_after:
        b_in, b_rec = [0.1, 0.2, 0.3], [-0.1, 0.05, 0.2]
        bias = np.array([b_in, b_rec])
    else:
        b_in, b_rec = [0.1, 0.2, 0.3], [0.0, 0.0, 0.0]
        bias = np.array(b_in)
    layer = GRU(1, input_size=1, reset_after=reset_after, return_sequences=True)
    layer.set_weights([np.array([k]), np.array([u]), bias])
    h = 0.0
    expect = []
    for x in (1.0, -1.0):
        z = sig(x * k[0] + b_in[0] + h * u[0] + b_rec[0])
        r = sig(x * k[1] + b_in[1] + h * u[1] + b_rec[1])
        if reset_after:
            hh = math.tanh(x * k[2] + b_in[2] + r * (h * u[2] + b_rec[2]))
        else:
            hh = math.tanh(x * k[2] + b_in[2] + (r * h) * u[2])
        h = z * h + (1 - z) * hh
        expect.append(h)
    out = layer(torch.tensor([[[1.0], [-1.0]]]))
    np.testing.assert_allclose(out[0, :, 0].detach().numpy(), expect, rtol=1e-6)
    got = layer.get_weights()
    np.testing.assert_allclose(got[0], [k])
    np.testing.assert_allclose(got[1], [u])
    np.testing.assert_allclose(got[2], bias, rtol=1e-7)
    assert got[2].shape == ((2, 3) if reset_after else (3,))


def test_gru_gate_reorder_against_torch_layout():
    # Keras z-block must land in rnnkit's second block (torch order r, z, n)
    layer = GRU(2, input_size=3)
    kernel = np.arange(18, dtype=np.float32).reshape(3, 6)  # columns z z r r h h
    layer.set_weights([kernel, np.zeros((2, 6), np.float32), np.zeros((2, 6), np.float32)])
    w = layer.cell.weight_ih.detach().numpy()
    np.testing.assert_array_equal(w[0:2], kernel[:, 2:4].T)  # r
    np.testing.assert_array_equal(w[2:4], kernel[:, 0:2].T)  # z
    np.testing.assert_array_equal(w[4:6], kernel[:, 4:6].T)  # n / h


def test_simple_rnn_by_hand_and_no_bias():
    layer = SimpleRNN(1, input_size=2, use_bias=False, activation="relu")
    layer.set_weights([np.array([[0.5], [-1.0]]), np.array([[0.9]])])
    x = torch.tensor([[[1.0, 0.2], [0.3, -0.4]]])
    h1 = max(0.0, 1.0 * 0.5 + 0.2 * -1.0)
    h2 = max(0.0, 0.3 * 0.5 + -0.4 * -1.0 + 0.9 * h1)
    assert layer(x).item() == pytest.approx(h2, rel=1e-6)
    assert len(layer.get_weights()) == 2


def test_bidirectional_weights_forward_then_backward_and_shape_errors():
    bi = Bidirectional(LSTM(2, input_size=3))
    weights = bi.get_weights()
    assert [w.shape for w in weights] == [(3, 8), (2, 8), (8,)] * 2
    weights[3] = weights[3] + 1.0
    bi.set_weights(weights)
    np.testing.assert_allclose(bi.backward_layer.get_weights()[0], weights[3])
    with pytest.raises(ShapeError, match=r"kernel expected shape \(3, 8\), got \(8, 3\)"):
        bi.forward_layer.set_weights([weights[0].T, weights[1], weights[2]])
    with pytest.raises(ShapeError, match="expected 3 arrays"):
        LSTM(2, input_size=3).set_weights(weights[:2])


def _random_parameters(layer, seed):
    """Fill every torch-layout parameter with distinct random values, so that a swapped block or a transpose shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=g))


def _expected_keras_weights(cell, kind):
    """Keras' [kernel, recurrent_kernel, bias] written out gate by gate from the torch-layout parameters.

    torch stacks per-gate (units, n) row blocks: LSTM i, f, g, o; GRU r, z, n; SimpleRNN one block.
    Keras puts per-gate (n, units) column blocks side by side: LSTM i, f, c, o; GRU z, r, h.
    """
    u = cell.units

    def block(w, k):
        return w.detach().numpy()[k * u : (k + 1) * u]

    if kind == "lstm":
        gates = [0, 1, 2, 3]  # i, f, c (torch's g), o: the same order
    elif kind == "gru":
        gates = [1, 0, 2]  # z (torch's 2nd block), r (1st), h (torch's n, 3rd)
    else:
        gates = [0]
    kernel = np.hstack([block(cell.weight_ih, k).T for k in gates])
    recurrent = np.hstack([block(cell.weight_hh, k).T for k in gates])
    bias_ih = np.concatenate([block(cell.bias_ih, k) for k in gates])
    bias_hh = np.concatenate([block(cell.bias_hh, k) for k in gates])
    if kind == "gru" and cell.reset_after:
        bias = np.stack([bias_ih, bias_hh])  # (2, 3U): input bias row, then recurrent bias row
    else:
        bias = bias_ih + bias_hh  # one bias computes the same function
    return [kernel, recurrent, bias]


LAYOUTS = {
    "simple_rnn": lambda: SimpleRNN(3, input_size=4),
    "lstm": lambda: LSTM(3, input_size=4),
    "gru_reset_after": lambda: GRU(3, input_size=4),
    "gru_reset_before": lambda: GRU(3, input_size=4, reset_after=False),
    "bidirectional_gru": lambda: Bidirectional(GRU(3, input_size=4)),
}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_get_and_set_weights_against_the_keras_layout_built_by_hand(name):
    layer = LAYOUTS[name]()
    _random_parameters(layer, seed=len(name))
    kind = "gru" if "gru" in name else name
    directions = [layer.forward_layer, layer.backward_layer] if name.startswith("bidirectional") else [layer]
    expected = [w for d in directions for w in _expected_keras_weights(d.cell, kind)]
    got = layer.get_weights()
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected)):
        what = ["kernel", "recurrent_kernel", "bias"][i % 3]
        assert g.shape == e.shape, (what, g.shape, e.shape)
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-7, err_msg=what)
    units, features, gates = 3, 4, {"simple_rnn": 1, "lstm": 4, "gru": 3}[kind]
    assert got[0].shape == (features, gates * units) and got[1].shape == (units, gates * units)
    # and back: a fresh layer loaded with the hand-built arrays holds the same torch parameters
    fresh = LAYOUTS[name]()
    fresh.set_weights(expected)
    for d_old, d_new in zip(directions, [fresh.forward_layer, fresh.backward_layer] if len(directions) == 2 else [fresh]):
        old, new = d_old.cell, d_new.cell
        torch.testing.assert_close(new.weight_ih, old.weight_ih)
        torch.testing.assert_close(new.weight_hh, old.weight_hh)
        if kind == "gru" and old.reset_after:
            torch.testing.assert_close(new.bias_ih, old.bias_ih)
            torch.testing.assert_close(new.bias_hh, old.bias_hh)
        else:
            torch.testing.assert_close(new.bias_ih + new.bias_hh, old.bias_ih + old.bias_hh)
