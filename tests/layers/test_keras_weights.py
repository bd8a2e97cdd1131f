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
