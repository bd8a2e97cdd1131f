"""Masked batches on the fused kernel without packing (no final state needed) against the other paths.

The compiled loop (``use_fused=False`` where it is built) and the reference path
(``use_fused='reference'``: autograd over the cell's ``recurrence``) must give the
same outputs and gradients as the fused kernel on contiguous masks.
"""
from __future__ import annotations

import pytest
import torch

import rnnkit._kernels as kernels
from rnnkit.layers import GRU, LSTM, Bidirectional, SimpleRNN


def _pair(cls, other=False, **kw):
    """A fused layer and one on path ``other`` (use_fused=False or 'reference') with the same random weights."""
    torch.manual_seed(0)
    fused = cls(5, use_fused=True, bias_initializer="random_normal", **kw)
    generic = cls(5, use_fused=other, **kw)
    x = torch.randn(4, 7, 3)
    fused(x), generic(x)
    generic.load_state_dict(fused.state_dict())
    return fused, generic


def _not_fused(other) -> str:
    if other == "reference":
        return "reference"
    return "compiled" if kernels.load_rnn_loop() is not None else "reference"


MASKS = {
    "right-padded": torch.tensor([[1] * 7, [1] * 5 + [0] * 2, [1] * 2 + [0] * 5, [0] * 7], dtype=torch.bool),
    "left-padded": torch.tensor([[1] * 7, [0] * 2 + [1] * 5, [0] * 6 + [1], [0] * 7], dtype=torch.bool),
}


@pytest.mark.parametrize("other", [False, "reference"], ids=["compiled", "reference"])
@pytest.mark.parametrize("cls", [LSTM, GRU, SimpleRNN])
@pytest.mark.parametrize("mask_name", list(MASKS))
@pytest.mark.parametrize("go_backwards", [False, True])
def test_outputs_and_gradients_match_the_other_paths(cls, mask_name, go_backwards, other):
    fused, generic = _pair(cls, other, return_sequences=True, go_backwards=go_backwards)
    mask = MASKS[mask_name]
    x = torch.randn(4, 7, 3)
    xf, xg = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_f, out_g = fused(xf, mask=mask), generic(xg, mask=mask)
    assert fused.last_path == "fused" and generic.last_path == _not_fused(other)
    torch.testing.assert_close(out_f, out_g, atol=1e-5, rtol=1e-5)
    weights = torch.randn_like(out_f)
    (out_f * weights).sum().backward()
    (out_g * weights).sum().backward()
    torch.testing.assert_close(xf.grad, xg.grad, atol=1e-5, rtol=1e-5)
    for (name, pf), pg in zip(fused.named_parameters(), generic.parameters()):
        torch.testing.assert_close(pf.grad, pg.grad, atol=1e-5, rtol=1e-5, msg=name)


def test_last_output_and_bidirectional_with_padding_equal_each_text_alone():
    torch.manual_seed(1)
    layer = Bidirectional(LSTM(4, return_sequences=False))
    x = torch.randn(2, 6, 3)
    mask = torch.tensor([[1] * 6, [1] * 3 + [0] * 3], dtype=torch.bool)
    both = layer(x, mask=mask)
    alone = layer(x[1:, :3])  # the second text without its padding
    torch.testing.assert_close(both[1:], alone, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("other", [False, "reference"], ids=["compiled", "reference"])
def test_return_state_still_gives_the_state_at_the_last_valid_step(other):
    fused, generic = _pair(LSTM, other, return_state=True)
    mask = MASKS["right-padded"]
    x = torch.randn(4, 7, 3)
    for got, want in zip(fused(x, mask=mask), generic(x, mask=mask)):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
