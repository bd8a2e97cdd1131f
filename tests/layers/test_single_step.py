"""One-step calls (generation, stateful layers fed token by token) take the fused cell ops: same numbers as torch.nn."""
import pytest
import torch

from rnnkit.layers import GRU, LSTM, SimpleRNN, from_torch


@pytest.mark.parametrize("kind, kwargs", [
    ("LSTM", {}), ("GRU", {}), ("RNN", {"nonlinearity": "tanh"}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {"bias": False}),
])
def test_stepwise_stateful_run_equals_torch_nn_over_the_whole_sequence(kind, kwargs):
    torch.manual_seed(0)
    ref = getattr(torch.nn, kind)(5, 7, batch_first=True, **kwargs).double()
    layer = from_torch(ref)
    layer = layer[0] if isinstance(layer, list) else layer
    layer.stateful = True
    layer.return_sequences = True
    x = torch.randn(3, 6, 5, dtype=torch.float64, requires_grad=True)
    expected, _ = ref(x)
    steps = [layer(x[:, t : t + 1]) for t in range(6)]
    assert layer.last_path == "fused"
    got = torch.cat(steps, dim=1)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
    # one step from a given state: gradients reach the input, the state and the weights as in torch.nn
    layer.stateful = False
    x1 = x[:, :1].detach().requires_grad_()
    h0 = [torch.randn(1, 3, 7, dtype=torch.float64, requires_grad=True) for _ in range(2 if kind == "LSTM" else 1)]
    got = layer(x1, initial_state=[h[0] for h in h0])
    assert layer.last_path == "fused"
    expected, _ = ref(x1, tuple(h0) if kind == "LSTM" else h0[0])
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
    names = [n for n, _ in layer.named_parameters()]
    ref_params = dict(ref.named_parameters())
    grads = torch.autograd.grad(got.square().sum(), [x1, *h0, *layer.parameters()])
    ref_grads = torch.autograd.grad(expected.square().sum(), [x1, *h0, *(ref_params[n.split(".")[-1] + "_l0"] for n in names)])
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-10)
