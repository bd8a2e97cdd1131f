"""gate_stats against a tiny LSTM and GRU computed by hand in NumPy (means, saturated fractions, mean |h| per
step), masked steps left out, and the plots written from the same traces."""
import numpy as np
import pytest
import torch

from rnnkit import Sequential
from rnnkit.diagnostics import gate_stats, gradient_flow, plot_gradient_flow, plot_states
from rnnkit.layers import GRU, LSTM, Embedding

X = np.array([[[1.0], [-2.0], [0.5]],
              [[0.0], [3.0], [-1.0]]])  # (B=2, T=3, F=1)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _lstm_by_hand(w_ih, w_hh, b):
    """Gates i, f, g, o and h of a 1-unit LSTM over X, step by step: each (B, T)."""
    h = c = np.zeros(2)
    out = {k: [] for k in "ifgoh"}
    for t in range(3):
        z = X[:, t, 0][:, None] * w_ih + h[:, None] * w_hh + b  # (B, 4): i, f, g, o
        i, f, g, o = _sigmoid(z[:, 0]), _sigmoid(z[:, 1]), np.tanh(z[:, 2]), _sigmoid(z[:, 3])
        c = f * c + i * g
        h = o * np.tanh(c)
        for k, v in zip("ifgoh", (i, f, g, o, h)):
            out[k].append(v)
    return {k: np.stack(v, 1) for k, v in out.items()}


def _saturated(values, candidate=False):
    return float(np.mean(np.abs(values) > 0.95)) if candidate else float(np.mean((values < 0.05) | (values > 0.95)))


def test_lstm_gate_stats_match_a_hand_computed_case():
    w_ih, w_hh, b = np.array([1.5, 0.5, 2.0, -1.0]), np.array([0.3, -0.4, 0.8, 0.2]), np.array([0.0, 3.5, 0.1, -0.5])
    layer = LSTM(1, input_size=1, name="tiny").double()
    with torch.no_grad():
        layer.cell.weight_ih.copy_(torch.tensor(w_ih)[:, None])
        layer.cell.weight_hh.copy_(torch.tensor(w_hh)[:, None])
        layer.cell.bias_ih.copy_(torch.tensor(b))
        layer.cell.bias_hh.zero_()
    model = Sequential([layer])
    stats = gate_stats(model, X)
    ref = _lstm_by_hand(w_ih, w_hh, b)
    assert stats.layers == ["tiny"] and sorted(stats.mean["tiny"]) == ["f", "g", "i", "o"]
    for gate in "ifgo":
        assert stats.mean["tiny"][gate] == pytest.approx(ref[gate].mean(), rel=1e-12)
        assert stats.saturated["tiny"][gate] == pytest.approx(_saturated(ref[gate], candidate=gate == "g"))
        np.testing.assert_allclose(stats.per_step["tiny"][gate], ref[gate].mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats.h["tiny"], np.abs(ref["h"]).mean(0), rtol=1e-12)
    assert 0 < stats.saturated["tiny"]["f"] < 1  # the case has saturated and unsaturated forget gates
    assert "tiny: i " in repr(stats) and stats.to_dict()["tiny"]["gates"]["f"]["mean"] == stats.mean["tiny"]["f"]


def test_gru_gate_stats_match_a_hand_computed_case():
    w_ih, w_hh = np.array([1.0, -2.0, 0.7]), np.array([0.5, 0.25, -0.6])
    b_ih, b_hh = np.array([0.2, 0.0, -0.1]), np.array([0.1, 0.3, 0.4])
    layer = GRU(1, input_size=1, name="tiny_gru").double()
    with torch.no_grad():
        for name, v in (("weight_ih", w_ih[:, None]), ("weight_hh", w_hh[:, None]), ("bias_ih", b_ih), ("bias_hh", b_hh)):
            getattr(layer.cell, name).copy_(torch.tensor(v))
    stats = gate_stats(Sequential([layer]), X)
    h = np.zeros(2)
    ref = {k: [] for k in "rznh"}
    for t in range(3):
        x = X[:, t, 0]
        # r, z, n as torch.nn.GRU computes them (reset after the product)
        r = _sigmoid(x * w_ih[0] + b_ih[0] + h * w_hh[0] + b_hh[0])
        z = _sigmoid(x * w_ih[1] + b_ih[1] + h * w_hh[1] + b_hh[1])
        n = np.tanh(x * w_ih[2] + b_ih[2] + r * (h * w_hh[2] + b_hh[2]))
        h = (1 - z) * n + z * h
        for k, v in zip("rznh", (r, z, n, h)):
            ref[k].append(v)
    ref = {k: np.stack(v, 1) for k, v in ref.items()}
    for gate in "rzn":
        assert stats.mean["tiny_gru"][gate] == pytest.approx(ref[gate].mean(), rel=1e-12)
        assert stats.saturated["tiny_gru"][gate] == pytest.approx(_saturated(ref[gate], candidate=gate == "n"))
    np.testing.assert_allclose(stats.h["tiny_gru"], np.abs(ref["h"]).mean(0), rtol=1e-12)


def test_masked_steps_count_nowhere():
    torch.manual_seed(0)
    model = Sequential([Embedding(9, 2, mask_zero=True), LSTM(3, name="masked")])
    tokens = torch.tensor([[3, 4, 0, 0], [5, 0, 0, 0]])
    stats = gate_stats(model, tokens)
    assert np.isnan(stats.h["masked"][2:]).all() and np.isfinite(stats.h["masked"][:2]).all()
    alone = gate_stats(model, tokens[:1, :2])
    both = gate_stats(model, torch.tensor([[3, 4], [5, 0]]))
    # step 2 is real in the first example only; the means over real values ignore the padding
    assert stats.h["masked"][1] == pytest.approx(alone.h["masked"][1], rel=1e-6)
    assert stats.mean["masked"]["f"] == pytest.approx(both.mean["masked"]["f"], rel=1e-6)


@pytest.mark.slow
def test_the_plots_are_written(tmp_path):
    torch.manual_seed(0)
    model = Sequential([LSTM(3, return_sequences=True, input_size=2), GRU(2)])
    x = torch.randn(2, 5, 2)
    flow = gradient_flow(model, x, torch.zeros(2, 2), loss="mse")
    for path in (plot_gradient_flow(flow, tmp_path / "flow.png"), plot_states(model, x, tmp_path / "sub" / "gates.png",
                                                                               example=1)):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
