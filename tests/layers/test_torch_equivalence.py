"""rnnkit layers against torch.nn.RNN/LSTM/GRU given the same weights: outputs, final states, gradients.

The reference is PyTorch's own module (its fused kernel), loaded through
``from_torch``; every rnnkit path must match it: ``fused`` (use_fused=True),
``compiled`` (use_fused=False: the C loop where it is built, else the reference)
and ``reference`` (use_fused='reference': autograd over the cell's ``recurrence``).
"""
import itertools

import pytest
import torch

import rnnkit._kernels as kernels
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.layers import Bidirectional, from_torch, to_torch, torch_state_dict
from rnnkit.layers.convert import _cells, _directions

B, T, F, H = 3, 6, 4, 5
KINDS = {
    "rnn_tanh": lambda **kw: torch.nn.RNN(F, H, nonlinearity="tanh", **kw),
    "rnn_relu": lambda **kw: torch.nn.RNN(F, H, nonlinearity="relu", **kw),
    "lstm": lambda **kw: torch.nn.LSTM(F, H, **kw),
    "gru": lambda **kw: torch.nn.GRU(F, H, **kw),
}


def _torch_module(kind, bias, bidirectional, num_layers):
    torch.manual_seed(0)
    return KINDS[kind](bias=bias, bidirectional=bidirectional, num_layers=num_layers, batch_first=True).double()


def _final_states_torch(kind, hn):
    """(num_layers*dirs, B, H) tensors -> list of per-(layer, direction) tuples."""
    if kind == "lstm":
        h, c = hn
        return [(h[i], c[i]) for i in range(h.shape[0])]
    return [(hn[i],) for i in range(hn.shape[0])]


def _run_rnnkit(layers, x, mask, use_fused):
    finals = []
    for layer in layers:
        for d in _directions(layer):
            d.return_state = True
            d.zero_output_for_mask = True  # torch's padded outputs are zeros
            d.use_fused = use_fused
        out, *states = layer(x, mask=mask)
        n = len(_directions(layer)[0].state_size)
        finals += [tuple(states[:n])] + ([tuple(states[n:])] if isinstance(layer, Bidirectional) else [])
        x = out
    return x, finals


USE_FUSED, USE_FUSED_IDS = [True, False, "reference"], ["fused", "compiled", "reference"]


def _expected_path(use_fused) -> str:
    if use_fused is True:
        return "fused"
    return "compiled" if use_fused is False and kernels.load_rnn_loop() is not None else "reference"


CASES = list(itertools.product(KINDS, [True, False], [False, True], [1, 2], [False, True], [True, False]))


@pytest.mark.parametrize("kind,bias,bidirectional,num_layers,masked,return_sequences", CASES)
@pytest.mark.parametrize("use_fused", USE_FUSED, ids=USE_FUSED_IDS)
def test_matches_torch_module(kind, bias, bidirectional, num_layers, masked, return_sequences, use_fused):
    module = _torch_module(kind, bias, bidirectional, num_layers)
    layers = from_torch(module, return_sequences=return_sequences)
    torch.manual_seed(1)
    x = torch.randn(B, T, F, dtype=torch.float64)
    lengths = torch.tensor([T, 2, 4]) if masked else torch.full((B,), T)
    mask = torch.arange(T)[None, :] < lengths[:, None] if masked else None

    x_ref = x.clone().requires_grad_(True)
    if masked:
        packed = pack_padded_sequence(x_ref, lengths, batch_first=True, enforce_sorted=False)
        out_packed, hn = module(packed)
        ref_seq, _ = pad_packed_sequence(out_packed, batch_first=True, total_length=T)
    else:
        ref_seq, hn = module(x_ref)
    ref_states = _final_states_torch(kind, hn)

    x_ours = x.clone().requires_grad_(True)
    out, states = _run_rnnkit(layers, x_ours, mask, use_fused)
    path = {d.last_path for layer in layers for d in _directions(layer)}
    assert path == {_expected_path(use_fused)}

    if return_sequences:
        torch.testing.assert_close(out, ref_seq, rtol=1e-9, atol=1e-10)
    else:
        # the last valid output: forward direction at step length-1, backward direction at step 0
        if bidirectional:
            fw = ref_seq[torch.arange(B), lengths - 1, :H]
            bw = ref_seq[:, 0, H:]
            expect = torch.cat([fw, bw], dim=-1)
        else:
            expect = ref_seq[torch.arange(B), lengths - 1]
        torch.testing.assert_close(out, expect, rtol=1e-9, atol=1e-10)
    assert len(states) == len(ref_states)
    for ours, ref in zip(states, ref_states):
        for a, b in zip(ours, ref):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)

    # gradients of one scalar built from everything returned
    torch.manual_seed(2)
    weights_out = torch.randn_like(out)
    ref_out = ref_seq if return_sequences else expect
    loss_ref = (ref_out * weights_out).sum() + sum((s * (i + 1)).sum() for i, st in enumerate(ref_states) for s in st)
    loss_ours = (out * weights_out).sum() + sum((s * (i + 1)).sum() for i, st in enumerate(states) for s in st)
    loss_ref.backward()
    loss_ours.backward()
    torch.testing.assert_close(x_ours.grad, x_ref.grad, rtol=1e-8, atol=1e-10)
    ref_grads = {name: p.grad for name, p in module.named_parameters()}
    for k, cells in enumerate(_cells(layers)):
        for d, cell in enumerate(cells):
            suffix = f"_l{k}" + ("_reverse" if d else "")
            for name in ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if bias else ()):
                torch.testing.assert_close(getattr(cell, name).grad, ref_grads[name + suffix], rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("use_fused", USE_FUSED, ids=USE_FUSED_IDS)
def test_go_backwards_is_torch_on_reversed_input(kind, use_fused):
    module = _torch_module(kind, True, False, 1)
    (layer,) = from_torch(module, return_sequences=True, use_fused=use_fused)
    layer.go_backwards = True
    layer.return_state = True
    x = torch.randn(B, T, F, dtype=torch.float64)
    out, *states = layer(x)
    ref, hn = module(x.flip(1))
    torch.testing.assert_close(out, ref)  # outputs in processing order, as Keras returns them
    torch.testing.assert_close(states[0], (hn[0] if kind == "lstm" else hn)[0])
    assert layer.last_path == _expected_path(use_fused)


@pytest.mark.parametrize("kind", list(KINDS))
def test_go_backwards_with_mask_is_torch_on_each_reversed_sequence(kind):
    module = _torch_module(kind, True, False, 1)
    (layer,) = from_torch(module, return_sequences=False)
    layer.go_backwards = True
    x = torch.randn(B, T, F, dtype=torch.float64)
    lengths = [T, 2, 4]
    mask = torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]
    for use_fused in USE_FUSED:
        layer.use_fused = use_fused
        out = layer(x, mask=mask)
        for b, n in enumerate(lengths):
            ref, _ = module(x[b : b + 1, :n].flip(1))
            torch.testing.assert_close(out[b], ref[0, -1])


def test_to_torch_round_trip_and_state_dict_names():
    module = _torch_module("lstm", True, True, 2)
    layers = from_torch(module)
    names = set(torch_state_dict(layers))
    assert names == set(module.state_dict())
    back = to_torch(layers).double()
    x = torch.randn(B, T, F, dtype=torch.float64)
    torch.testing.assert_close(back(x)[0], module(x)[0])


def test_from_torch_refuses_projection_and_to_torch_refuses_a_config_torch_cannot_compute():
    from rnnkit.errors import ConfigError
    from rnnkit.layers import GRU

    with pytest.raises(ConfigError, match="proj_size"):
        from_torch(torch.nn.LSTM(3, 4, proj_size=2))
    with pytest.raises(ConfigError, match="reset_after=False"):
        to_torch([GRU(4, input_size=3, reset_after=False)])
