"""gradient_flow against independent references: the analytic a^(T-t) decay of a linear RNN on every path, an
LSTM whose open forget gate carries dL/dc_t unchanged, a Bidirectional LSTM against autograd over a hand-written
loop, masks (NaN where every example is padding; the same numbers as the unpadded sequence), and its errors."""
import math

import numpy as np
import pytest
import torch

import rnnkit._kernels as kernels
from rnnkit import Model, Sequential
from rnnkit.diagnostics import gradient_flow
from rnnkit.errors import ConfigError
from rnnkit.layers import LSTM, Bidirectional, Dense, Embedding, SimpleRNN

B, T, U = 3, 9, 4


def _sum_of_output(y_true, y_pred):
    """L = Σ y_pred: with y_pred = h_T, ∂L/∂h_T is a vector of ones."""
    return y_pred.sum()


def _linear_rnn(a: float, activation: str, use_fused) -> Sequential:
    layer = SimpleRNN(U, activation=activation, use_bias=False, use_fused=use_fused, input_size=2)
    with torch.no_grad():
        layer.cell.weight_hh.copy_(a * torch.eye(U))
        layer.cell.weight_ih.uniform_(0.1, 1.0)  # positive: with positive inputs a relu never clips
    return Sequential([layer])


# path -> (activation, use_fused): the fused kernel has no linear activation, so it runs relu on positive states
PATHS = {"fused": ("relu", True), "compiled": ("linear", False), "reference": ("linear", "reference")}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("a", [0.5, 1.2])
def test_a_linear_rnn_decays_as_a_to_the_steps_back_on_every_path(path, a):
    if path == "compiled" and kernels.load_rnn_loop() is None:
        pytest.skip("no compiled C loop here (no C compiler)")
    activation, use_fused = PATHS[path]
    model = _linear_rnn(a, activation, use_fused)
    x = torch.rand(B, T, 2) + 0.1
    flow = gradient_flow(model, x, None, loss=_sum_of_output)
    # h_t = a h_{t-1} + W_ih x_t  =>  ∂L/∂h_t = a^(T-t) 1,  ‖∂L/∂h_t‖ = √U a^(T-t)      (t = 1..T)
    expected = math.sqrt(U) * a ** (T - np.arange(1, T + 1))
    np.testing.assert_allclose(flow.dh[flow.layers[0]], expected, rtol=1e-5)
    assert flow.paths[flow.layers[0]] == path
    assert flow.reach() == pytest.approx(a ** (T - 1), rel=1e-5)
    assert flow.deviation[flow.layers[0]] < 1e-5  # the re-run equals the layer's own output on its path


@pytest.mark.parametrize("use_fused", ["auto", False, "reference"])
def test_an_lstm_with_its_forget_gate_open_keeps_dl_dc_constant(use_fused):
    if use_fused is False and kernels.load_rnn_loop() is None:
        pytest.skip("no compiled C loop here (no C compiler)")
    torch.manual_seed(0)
    layer = LSTM(U, use_fused=use_fused, input_size=3, bias_initializer="random_normal")
    with torch.no_grad():
        layer.cell.weight_hh.zero_()  # no path from h_{t-1}: the cell state is the only memory
        layer.cell.bias_ih[U:2 * U] = 60.0  # f_t = σ(≥ 50) = 1 in float32: the forget gate open
    model = Sequential([layer, Dense(1)])
    x = torch.randn(B, T, 3)
    flow = gradient_flow(model, x, torch.zeros(B, 1), loss="mse")
    # c_t = 1 · c_{t-1} + i_t g_t and no other use of c_{t-1}  =>  ∂L/∂c_{t-1} = ∂L/∂c_t
    dc = flow.dc[flow.layers[0]]
    np.testing.assert_allclose(dc, np.full(T, dc[-1]), rtol=1e-6)
    assert dc[-1] > 0
    # h_t for t < T reaches the loss nowhere (no recurrence from h, the output is h_T): zero
    np.testing.assert_allclose(flow.dh[flow.layers[0]][:-1], 0.0, atol=1e-12)


def _hand_lstm(cell, x, reverse):
    """An LSTM step loop written out from the cell's weights (i, f, g, o), keeping every h_t, c_t for autograd."""
    w_ih, w_hh, b = cell.weight_ih, cell.weight_hh, cell.bias_ih + cell.bias_hh
    h = c = torch.zeros(x.shape[0], cell.units, dtype=x.dtype)
    hs, cs = {}, {}
    for t in (reversed(range(x.shape[1])) if reverse else range(x.shape[1])):
        i, f, g, o = (x[:, t] @ w_ih.T + h @ w_hh.T + b).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        h.retain_grad()
        c.retain_grad()
        hs[t], cs[t] = h, c
    return h, hs, cs


def test_bidirectional_lstm_both_directions_match_autograd_over_a_hand_written_loop():
    torch.manual_seed(1)
    bi = Bidirectional(LSTM(U, bias_initializer="random_normal", input_size=3), name="bidirectional")
    head = Dense(1, input_size=2 * U)
    model = Sequential([bi, head])
    x = torch.randn(B, T, 3)
    y = torch.randn(B, 1)
    flow = gradient_flow(model, x, y, loss="mse")
    assert flow.layers == ["bidirectional/forward", "bidirectional/backward"]

    h_f, hs_f, cs_f = _hand_lstm(bi.forward_layer.cell, x, reverse=False)
    h_b, hs_b, cs_b = _hand_lstm(bi.backward_layer.cell, x, reverse=True)
    loss = ((torch.cat([h_f, h_b], 1) @ head.weight.T + head.bias - y) ** 2).mean()
    loss.backward()
    assert flow.loss == pytest.approx(loss.item(), rel=1e-6)
    for name, hs, cs in (("bidirectional/forward", hs_f, cs_f), ("bidirectional/backward", hs_b, cs_b)):
        # indexed by input time t in both directions
        expected_h = np.array([float(hs[t].grad.norm(dim=1).mean()) for t in range(T)])
        expected_c = np.array([float(cs[t].grad.norm(dim=1).mean()) for t in range(T)])
        np.testing.assert_allclose(flow.dh[name], expected_h, rtol=1e-4, atol=1e-9)
        np.testing.assert_allclose(flow.dc[name], expected_c, rtol=1e-4, atol=1e-9)
    # the backward direction reads input time T first and 1 last: its reach is |dL/dh at T| / |dL/dh at 1|
    back = flow.dh["bidirectional/backward"]
    assert flow.reach("bidirectional/backward") == pytest.approx(back[-1] / back[0])


def test_masked_steps_are_nan_and_real_ones_match_the_unpadded_sequence():
    torch.manual_seed(2)
    model = Sequential([Embedding(10, 3, mask_zero=True), LSTM(U, name="lstm"), Dense(1)])
    model.compile(optimizer="adam", loss="mse", device="cpu")
    tokens = torch.tensor([[4, 5, 6, 7, 0, 0], [1, 2, 3, 0, 0, 0]])
    y = torch.tensor([[0.5], [-0.5]])
    flow = gradient_flow(model, tokens, y)
    dh = flow.dh["lstm"]
    assert np.isnan(dh[4:]).all() and np.isfinite(dh[:4]).all()
    # step 4 (index 3) is real in the first example only: the mean over that example
    alone = gradient_flow(model, tokens[:1, :4], y[:1])
    both = gradient_flow(model, tokens[:, :4], y)
    np.testing.assert_allclose(dh[:4], both.dh["lstm"], rtol=1e-5)
    assert dh[3] == pytest.approx(alone.dh["lstm"][3] / 2, rel=1e-5)  # 2 examples in the loss mean, 1 real at t=4
    assert flow.reach("lstm") == pytest.approx(dh[0] / dh[3])


class _Encoder(Model):
    """A subclassed model with two stacked LSTMs, the second on the reference path."""

    def __init__(self):
        super().__init__()
        self.first = LSTM(U, return_sequences=True, name="first")
        self.second = LSTM(U, use_fused="reference", name="second")
        self.head = Dense(2)

    def forward(self, x):
        return self.head(self.second(self.first(x)))


def test_a_subclassed_model_with_stacked_layers_keeps_its_weights_gradients_and_mode():
    torch.manual_seed(3)
    model = _Encoder()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", device="cpu")
    x, y = torch.randn(B, T, 3), torch.tensor([0, 1, 1])
    model(x)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flow = gradient_flow(model, x.numpy(), y.numpy())
    assert flow.layers == ["first", "second"] and flow.paths == {"first": "fused", "second": "reference"}
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters()) and model.training
    # the first layer's gradient reaches its last step through the second layer only
    assert np.isfinite(flow.dh["first"]).all() and set(flow.to_dict()["layers"]) == {"first", "second"}
    assert "first [fused]" in repr(flow)


def test_errors_name_the_problem_and_the_fix():
    with pytest.raises(ConfigError, match=r"gradient_flow: the model has no recurrent layer"):
        gradient_flow(Sequential([Dense(1, input_size=2)]), torch.randn(2, 2), torch.zeros(2, 1), loss="mse")
    model = Sequential([LSTM(2, input_size=1)])
    with pytest.raises(ConfigError, match=r"gradient_flow: the model has no compiled loss; compile it"):
        gradient_flow(model, torch.randn(2, 3, 1), torch.zeros(2, 2))
    flow = gradient_flow(model, torch.randn(2, 3, 1), torch.zeros(2, 2), loss="mse")
    with pytest.raises(ConfigError, match=r"no recurrent unit named 'gru'; the units are lstm"):
        flow.reach("gru")
