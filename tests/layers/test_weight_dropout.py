"""DropConnect on the recurrent weights (``recurrent_weight_dropout``) against torch.nn with the masked weight.

The reference: the mask is reproduced by hand from the seeded generator (the
documented draw, ``torch.rand(weight_hh.shape) >= p``), and ``torch.nn.LSTM``/
``GRU``/``RNN`` with the same weights is run with ``weight_hh`` replaced by
``M ⊙ W_hh / (1 - p)`` through ``torch.func.functional_call``, so autograd
carries the gradient of its ``weight_hh`` back through the mask to the leaf.
Outputs, final states and every gradient must agree, on each path (fused,
compiled, reference), in a Bidirectional layer with a padding mask, and in a
stack of cells; in evaluation mode the layer equals the unmasked module.
"""
import pytest
import torch
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit._kernels as kernels
from rnnkit.cells import GRUCell, LSTMCell
from rnnkit.errors import ConfigError
from rnnkit.layers import GRU, LSTM, RNN, Bidirectional, SimpleRNN, load_torch_state_dict
from rnnkit.random import set_seed

B, T, F, H, P = 3, 6, 4, 5, 0.5
LAYERS = {"lstm": (LSTM, torch.nn.LSTM, 4), "gru": (GRU, torch.nn.GRU, 3), "rnn": (SimpleRNN, torch.nn.RNN, 1)}


def _mask(gates, units, seed_calls=1):
    """The hand-computed DropConnect masks, as ``dropped_recurrent_weight`` documents the draw."""
    return [(torch.rand(gates * units, units, dtype=torch.float64) >= P).double() for _ in range(seed_calls)]


def _torch_masked(module, masks, x, **kwargs):
    """``module(x)`` with each direction's weight_hh (a leaf) replaced by M ⊙ W_hh / (1 - p)."""
    names = ["weight_hh_l0", "weight_hh_l0_reverse"][: len(masks)]
    leaves = {n: getattr(module, n).detach().clone().requires_grad_(True) for n in names}
    out = functional_call(module, {n: leaves[n] * m / (1 - P) for n, m in zip(names, masks)}, (x,), kwargs)
    return out, leaves


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("use_fused", [True, False, "reference"], ids=["fused", "compiled", "reference"])
def test_layer_equals_torch_nn_run_with_the_masked_recurrent_weight(kind, use_fused):
    layer_class, torch_class, gates = LAYERS[kind]
    torch.manual_seed(0)
    module = torch_class(F, H, batch_first=True).double()
    layer = layer_class(H, input_size=F, recurrent_weight_dropout=P, return_sequences=True, return_state=True,
                        use_fused=use_fused).double()
    load_torch_state_dict([layer], module.state_dict())
    x = torch.randn(B, T, F, dtype=torch.float64)
    g = torch.randn(B, T, H, dtype=torch.float64)

    set_seed(11)
    xa = x.clone().requires_grad_(True)
    out, h, *rest = layer.train()(xa)
    expected = ("compiled" if kernels.load_rnn_loop() is not None else "reference") if use_fused is False else \
        ("fused" if use_fused is True else "reference")
    assert layer.last_path == expected
    if use_fused is True:
        assert layer.fast_path_blocker() is None and layer.last_path_reason is None
    ((out * g).sum() + h.sum()).backward()

    set_seed(11)
    (m,) = _mask(gates, H)
    assert 0 < int(m.sum()) < m.numel()  # some entries dropped, some kept
    xb = x.clone().requires_grad_(True)
    (ref_out, ref_hn), leaves = _torch_masked(module, [m], xb)
    ref_h = (ref_hn[0] if kind == "lstm" else ref_hn)[0]
    ((ref_out * g).sum() + ref_h.sum()).backward()

    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(h, ref_h)
    if kind == "lstm":
        torch.testing.assert_close(rest[0], ref_hn[1][0])
    cell = layer.cell
    torch.testing.assert_close(xa.grad, xb.grad)
    torch.testing.assert_close(cell.weight_hh.grad, leaves["weight_hh_l0"].grad)
    assert bool((cell.weight_hh.grad[m == 0] == 0).all())  # a dropped weight gets no gradient
    torch.testing.assert_close(cell.weight_ih.grad, module.weight_ih_l0.grad)
    torch.testing.assert_close(cell.bias_ih.grad, module.bias_ih_l0.grad)
    torch.testing.assert_close(cell.bias_hh.grad, module.bias_hh_l0.grad)

    # evaluation mode: the plain weight, nothing drawn
    state = torch.get_rng_state()
    with torch.no_grad():
        eval_out = layer.eval()(x)[0]
    assert torch.equal(torch.get_rng_state(), state)
    torch.testing.assert_close(eval_out, module(x)[0])


def test_bidirectional_with_padding_draws_one_mask_per_direction_on_the_fused_path():
    torch.manual_seed(1)
    module = torch.nn.LSTM(F, H, batch_first=True, bidirectional=True).double()
    bi = Bidirectional(LSTM(H, recurrent_weight_dropout=P, return_sequences=True, return_state=True,
                            zero_output_for_mask=True))  # final states: the packed-sequence kernel
    bi.build((B, T, F), dtype=torch.float64)
    load_torch_state_dict([bi], module.state_dict())
    x = torch.randn(B, T, F, dtype=torch.float64)
    lengths = torch.tensor([T, 2, 4])
    mask = torch.arange(T)[None, :] < lengths[:, None]

    set_seed(3)
    xa = x.clone().requires_grad_(True)
    out, h_f, c_f, h_b, c_b = bi.train()(xa, mask=mask)
    assert bi.last_path == "fused"
    (out.square().sum() + c_f.sum() + c_b.sum()).backward()

    set_seed(3)
    m_forward, m_backward = _mask(4, H, seed_calls=2)  # the forward layer runs first
    assert not torch.equal(m_forward, m_backward)
    xb = x.clone().requires_grad_(True)
    packed = pack_padded_sequence(xb, lengths, batch_first=True, enforce_sorted=False)
    (ref_packed, (ref_h, ref_c)), leaves = _torch_masked(module, [m_forward, m_backward], packed)
    ref_out, _ = pad_packed_sequence(ref_packed, batch_first=True, total_length=T)
    (ref_out.square().sum() + ref_c.sum()).backward()

    torch.testing.assert_close(out, ref_out)
    for ours, theirs in zip((h_f, c_f, h_b, c_b), (ref_h[0], ref_c[0], ref_h[1], ref_c[1])):
        torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(xa.grad, xb.grad)
    torch.testing.assert_close(bi.forward_layer.cell.weight_hh.grad, leaves["weight_hh_l0"].grad)
    torch.testing.assert_close(bi.backward_layer.cell.weight_hh.grad, leaves["weight_hh_l0_reverse"].grad)


def test_stacked_cells_each_draw_their_own_mask_in_order():
    torch.manual_seed(2)
    lstm, gru = torch.nn.LSTM(F, H, batch_first=True).double(), torch.nn.GRU(H, 3, batch_first=True).double()
    layer = RNN([LSTMCell(H, input_size=F, recurrent_weight_dropout=P), GRUCell(3, input_size=H,
                                                                              recurrent_weight_dropout=P)],
                return_sequences=True).double()
    with torch.no_grad():
        for cell, module in zip(layer.cells, (lstm, gru)):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, name).copy_(getattr(module, name + "_l0"))
    x = torch.randn(B, T, F, dtype=torch.float64)
    set_seed(5)
    out = layer.train()(x)
    assert layer.last_path == ("fused+compiled" if kernels.load_rnn_loop() is not None else "fused+reference")
    set_seed(5)
    m_lstm, = _mask(4, H)
    m_gru = (torch.rand(9, 3, dtype=torch.float64) >= P).double()
    (mid, _), _ = _torch_masked(lstm, [m_lstm], x)
    (ref, _), _ = _torch_masked(gru, [m_gru], mid)
    torch.testing.assert_close(out, ref)


def test_rate_zero_draws_nothing_and_bad_rates_name_the_layer_and_value():
    layer = LSTM(H, input_size=F, recurrent_weight_dropout=0.0, return_sequences=True).train()
    x = torch.randn(B, T, F)
    state = torch.get_rng_state()
    layer(x)
    assert torch.equal(torch.get_rng_state(), state)  # the generator moves exactly as before the option existed
    assert layer.cell.dropped_recurrent_weight(training=True) is None
    for cls in (LSTM, GRU, SimpleRNN):
        for bad in (1.0, -0.1, 2):
            with pytest.raises(ConfigError, match=rf"^{cls.__name__}: `recurrent_weight_dropout` must be a float in "
                                                  rf"\[0, 1\), got {bad}"):
                cls(4, recurrent_weight_dropout=bad)
    with pytest.raises(ConfigError, match=r"^LSTMCell: `recurrent_weight_dropout` must be a float in \[0, 1\), got 1.5"):
        LSTMCell(4, recurrent_weight_dropout=1.5)


def test_the_option_survives_config_and_bidirectional_copies():
    layer = GRU(4, recurrent_weight_dropout=0.3, return_sequences=True)
    config = layer.get_config()
    assert config["recurrent_weight_dropout"] == 0.3
    assert GRU.from_config(config).cell.recurrent_weight_dropout == 0.3
    bi = Bidirectional(layer)
    assert bi.backward_layer.cell.recurrent_weight_dropout == 0.3
    stacked = RNN([LSTMCell(3, recurrent_weight_dropout=0.2), LSTMCell(3)])
    again = RNN.from_config(stacked.get_config())
    assert [c.recurrent_weight_dropout for c in again.cells] == [0.2, 0.0]


def test_one_step_calls_use_the_masked_weight_too():
    """A one-step call (generation) runs the fused cell op: it must take the masked weight as well."""
    torch.manual_seed(3)
    module = torch.nn.LSTM(F, H, batch_first=True).double()
    layer = LSTM(H, input_size=F, recurrent_weight_dropout=P, return_state=True).double().train()
    load_torch_state_dict([layer], module.state_dict())
    x, h0, c0 = (torch.randn(B, 1, F, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64),
                 torch.randn(B, H, dtype=torch.float64))
    set_seed(4)
    out, h, c = layer(x, initial_state=[h0, c0])
    assert layer.last_path == "fused"
    set_seed(4)
    (m,) = _mask(4, H)
    (ref, (ref_h, ref_c)), _ = _torch_masked(module, [m], x, hx=(h0[None], c0[None]))
    torch.testing.assert_close(out, ref[:, -1])
    torch.testing.assert_close(c, ref_c[0])


@pytest.mark.parametrize("use_fused", [False, "reference"], ids=["compiled", "reference"])
def test_gru_reset_before_drops_the_weight_it_multiplies(use_fused):
    """GRU(reset_after=False) has no torch.nn twin: the reference is the same layer at rate 0 holding M ⊙ W_hh / (1-p)."""
    torch.manual_seed(4)
    layer = GRU(H, input_size=F, reset_after=False, recurrent_weight_dropout=P, return_sequences=True,
                use_fused=use_fused).double().train()
    plain = GRU.from_config({**layer.get_config(), "recurrent_weight_dropout": 0.0}).double().train()
    plain.load_state_dict(layer.state_dict())
    x = torch.randn(B, T, F, dtype=torch.float64)
    set_seed(6)
    out = layer(x)
    out.sum().backward()
    set_seed(6)
    (m,) = _mask(3, H)
    with torch.no_grad():
        plain.cell.weight_hh.mul_(m / (1 - P))
    ref = plain(x)
    ref.sum().backward()
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(layer.cell.weight_hh.grad, plain.cell.weight_hh.grad * m / (1 - P))
    torch.testing.assert_close(layer.cell.weight_ih.grad, plain.cell.weight_ih.grad)
