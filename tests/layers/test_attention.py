"""Attention and AdditiveAttention: a NumPy reference, cases by hand, Keras 3, gradients, dropout, config, errors."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from rnnkit.errors import ConfigError, ShapeError
from rnnkit.layers import AdditiveAttention, Attention
from rnnkit.random import set_seed
from rnnkit.saving import deserialize, serialize


# ----------------------------------------------------------------------------- the NumPy reference
def np_attention(q, v, k, *, mode, scale=None, concat_weight=None, query_mask=None, value_mask=None, causal=False):
    """Output (batch, Tq, dim_v) and weights (batch, Tq, Tv), the softmax taken over the allowed steps only.

    mode 'dot': s = scale * q·k; 'concat': s = c * Σ_d tanh(scale * (q_d + k_d));
    'additive': s = Σ_d w_d tanh(q_d + k_d).
    Every row must have at least one allowed step (the masked weights are exact zeros, not a lowered score's softmax).
    """
    pairs = q[:, :, None, :] + k[:, None, :, :]  # (batch, Tq, Tv, dim)
    if mode == "dot":
        s = np.einsum("bid,bjd->bij", q, k) * (1.0 if scale is None else scale)
    elif mode == "concat":
        s = concat_weight * np.tanh(pairs * (1.0 if scale is None else scale)).sum(axis=-1)
    else:
        s = (np.tanh(pairs) * (np.ones(q.shape[-1]) if scale is None else scale)).sum(axis=-1)
    allowed = np.ones(s.shape, dtype=bool)
    if value_mask is not None:
        allowed &= value_mask[:, None, :]
    if causal:
        tq, tv = s.shape[1:]
        allowed &= np.arange(tq)[:, None] >= np.arange(tv)[None, :]
    assert allowed.any(axis=-1).all(), "the reference needs an allowed step in every row"
    top = np.where(allowed, s, -np.inf).max(axis=-1, keepdims=True)
    e = np.where(allowed, np.exp(np.where(allowed, s, 0.0) - top), 0.0)
    w = e / e.sum(axis=-1, keepdims=True)
    out = w @ v
    if query_mask is not None:
        out = out * query_mask[:, :, None]
    return out, w


def assert_close(got, want, rtol=1e-6, atol=1e-6):
    """Same dtype and shape, values close (NumPy's check: torch.testing's first call costs ~0.6 s of imports)."""
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype, got.shape, want.shape)
    np.testing.assert_allclose(got.detach().double().numpy(), want.detach().double().numpy(), rtol=rtol, atol=atol)


def _set(layer, **values):
    with torch.no_grad():
        for name, value in values.items():
            getattr(layer, name).copy_(torch.as_tensor(value, dtype=getattr(layer, name).dtype))


CASES = [
    # (mode, use_scale, batch, Tq, Tv, dim, dim_v, with key, query mask, value mask, causal)
    ("dot", False, 2, 3, 4, 5, 5, False, False, False, False),
    ("dot", True, 3, 4, 4, 3, 6, True, True, True, True),
    ("concat", False, 2, 5, 3, 4, 2, True, False, True, False),
    ("concat", True, 1, 4, 6, 2, 2, False, True, False, True),
    ("additive", False, 2, 3, 5, 4, 4, True, True, True, False),
    ("additive", True, 3, 6, 6, 3, 5, True, False, True, True),
]


def _make(mode, use_scale):
    return AdditiveAttention(use_scale=use_scale) if mode == "additive" else Attention(use_scale, score_mode=mode)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_matches_the_numpy_reference_in_float64(case):
    mode, use_scale, b, tq, tv, dim, dim_v, with_key, qmask, vmask, causal = CASES[case]
    rng = np.random.default_rng(case)
    q, v = rng.normal(size=(b, tq, dim)), rng.normal(size=(b, tv, dim_v))
    k = rng.normal(size=(b, tv, dim)) if with_key else v
    query_mask = rng.random((b, tq)) < 0.7 if qmask else None
    value_mask = rng.random((b, tv)) < 0.6 if vmask else None
    if value_mask is not None:
        value_mask[:, 0] = True  # every row keeps an allowed step, also under the causal mask
    layer = _make(mode, use_scale).double()
    inputs = [torch.from_numpy(q), torch.from_numpy(v)] + ([torch.from_numpy(k)] if with_key else [])
    layer(inputs)  # builds AdditiveAttention's scale
    scale = concat_weight = None
    if use_scale:
        scale = rng.uniform(0.3, 2.0, size=(dim,) if mode == "additive" else ())
        _set(layer, scale=scale)
    if mode == "concat":
        concat_weight = -1.7
        _set(layer, concat_score_weight=concat_weight)
    mask = None
    if qmask or vmask:
        mask = [None if m is None else torch.from_numpy(m) for m in (query_mask, value_mask)]
    out, weights = layer(inputs, mask=mask, return_attention_scores=True, use_causal_mask=causal)
    expected_out, expected_w = np_attention(q, v, k, mode=mode, scale=scale, concat_weight=concat_weight,
                                            query_mask=query_mask, value_mask=value_mask, causal=causal)
    assert out.shape == (b, tq, dim_v) and out.dtype == torch.float64 and weights.shape == (b, tq, tv)
    np.testing.assert_allclose(weights.detach().numpy(), expected_w, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(out.detach().numpy(), expected_out, rtol=1e-6, atol=1e-12)


# ----------------------------------------------------------------------------- by hand
def test_one_query_two_values_by_hand():
    # scores q·k = [2, 0] (×0.5 with the scale) -> softmax [e^s0, e^s1] / Σ
    q = torch.tensor([[[1.0, 1.0]]], dtype=torch.float64)
    v = torch.tensor([[[10.0], [20.0]]], dtype=torch.float64)
    k = torch.tensor([[[1.0, 1.0], [1.0, -1.0]]], dtype=torch.float64)
    out, w = Attention()([q, v, k], return_attention_scores=True)
    a = math.e**2 / (math.e**2 + 1)
    np.testing.assert_allclose(w[0, 0].detach().numpy(), [a, 1 - a], rtol=1e-12)
    np.testing.assert_allclose(out[0, 0, 0].item(), 10 * a + 20 * (1 - a), rtol=1e-12)
    scaled = Attention(use_scale=True).double()
    _set(scaled, scale=0.5)
    a = math.e / (math.e + 1)
    w = scaled([q, v, k], return_attention_scores=True)[1]
    np.testing.assert_allclose(w[0, 0].detach().numpy(), [a, 1 - a], rtol=1e-12)


def test_concat_and_additive_by_hand():
    q = torch.tensor([[[0.5, -0.5]]], dtype=torch.float64)
    k = torch.tensor([[[0.5, 0.5], [-1.0, 0.0]]], dtype=torch.float64)
    v = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)
    # q + k: [1, 0] and [-0.5, -0.5]
    concat = Attention(use_scale=True, score_mode="concat").double()
    _set(concat, scale=2.0, concat_score_weight=3.0)
    s = [3 * (math.tanh(2.0) + math.tanh(0.0)), 3 * 2 * math.tanh(-1.0)]
    a = math.exp(s[0]) / (math.exp(s[0]) + math.exp(s[1]))
    out, w = concat([q, v, k], return_attention_scores=True)
    np.testing.assert_allclose(w[0, 0].detach().numpy(), [a, 1 - a], rtol=1e-12)
    np.testing.assert_allclose(out[0, 0].detach().numpy(), [a, 1 - a], rtol=1e-12)
    additive = AdditiveAttention().double()
    additive([q, v, k])
    _set(additive, scale=[1.5, -2.0])
    s = [1.5 * math.tanh(1.0) - 2.0 * math.tanh(0.0), 1.5 * math.tanh(-0.5) - 2.0 * math.tanh(-0.5)]
    a = math.exp(s[0]) / (math.exp(s[0]) + math.exp(s[1]))
    w = additive([q, v, k], return_attention_scores=True)[1]
    np.testing.assert_allclose(w[0, 0].detach().numpy(), [a, 1 - a], rtol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("make", [Attention, lambda: Attention(True, "concat"), AdditiveAttention])
def test_masked_weights_are_exactly_zero_and_rows_sum_to_one(make, dtype):
    g = torch.Generator().manual_seed(3)
    q, v = torch.randn(2, 4, 3, generator=g).to(dtype), torch.randn(2, 5, 3, generator=g).to(dtype)
    value_mask = torch.tensor([[True, False, True, True, False], [False, False, True, False, False]])
    query_mask = torch.tensor([[True, True, False, True], [False, True, True, True]])
    out, w = make()([q, v], mask=[query_mask, value_mask], return_attention_scores=True)
    assert out.dtype == dtype and w.dtype == dtype
    assert (w.masked_select(~value_mask[:, None, :].expand_as(w)) == 0).all()
    assert_close(w.float().sum(-1), torch.ones(2, 4), atol=1e-2 if dtype.itemsize == 2 else 1e-6, rtol=0)
    assert (out[~query_mask] == 0).all() and (out[query_mask] != 0).any()
    # the causal mask: exact zeros above the diagonal
    everything = torch.ones(2, 5, dtype=torch.bool)
    _, w = make()([q, v], mask=[None, everything], return_attention_scores=True, use_causal_mask=True)
    assert (torch.triu(w.float(), diagonal=1) == 0).all() and w[:, 0, 0].float().eq(1).all()


def test_fully_masked_row_follows_keras_lowered_softmax():
    # no special case: the weights are the softmax of s - 1e9 (≈ softmax(s) in float64, ≈ uniform in float32)
    q = torch.tensor([[[1.0, 0.0]]], dtype=torch.float64)
    v = torch.tensor([[[3.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)
    none = torch.tensor([[False, False]])
    w64 = Attention()([q, v], mask=[None, none], return_attention_scores=True)[1]
    np.testing.assert_allclose(w64[0, 0].numpy(), [math.e**3 / (math.e**3 + 1), 1 / (math.e**3 + 1)], rtol=1e-5)
    w32 = Attention()([q.float(), v.float()], mask=[None, none], return_attention_scores=True)[1]
    assert w32[0, 0].tolist() == [0.5, 0.5]
    # float16 lowers by 65504 (its largest value): 3 - 65504 and 0 - 65504 round to the same number, no -inf
    w16 = Attention()([q.half(), v.half()], mask=[None, none], return_attention_scores=True)[1]
    assert w16[0, 0].tolist() == [0.5, 0.5]


def test_key_defaults_to_value_and_compute_mask_is_the_query_mask():
    g = torch.Generator().manual_seed(0)
    q, v = torch.randn(2, 3, 4, generator=g), torch.randn(2, 5, 4, generator=g)
    layer = Attention()
    assert_close(layer([q, v]), layer([q, v, v]))
    query_mask = torch.tensor([[True, False, True], [True, True, False]])
    assert layer.compute_mask([q, v], None) is None
    assert layer.compute_mask([q, v], [None, torch.ones(2, 5, dtype=torch.bool)]) is None
    assert torch.equal(layer.compute_mask([q, v], [query_mask, None]), query_mask)
    assert torch.equal(layer.compute_mask([q, v], [query_mask.int(), None]), query_mask)  # 0/1 masks read as bool


# ----------------------------------------------------------------------------- Keras 3


KERAS_CASES = [(mode, use_scale) for mode in ("dot", "concat", "additive") for use_scale in (False, True)]


@pytest.mark.parametrize("mode,use_scale", KERAS_CASES)
def test_matches_keras(keras, mode, use_scale):
    g = torch.Generator().manual_seed(7)
    q, v, k = torch.randn(3, 4, 5, generator=g), torch.randn(3, 6, 2, generator=g), torch.randn(3, 6, 5, generator=g)
    query_mask = torch.rand(3, 4, generator=g) < 0.7
    value_mask = torch.rand(3, 6, generator=g) < 0.6
    value_mask[1] = False  # a fully masked row: Keras' lowered softmax, not zeros
    if mode == "additive":
        theirs = keras.layers.AdditiveAttention(use_scale=use_scale)
    else:
        theirs = keras.layers.Attention(use_scale=use_scale, score_mode=mode)
    ours = _make(mode, use_scale)
    theirs([q, v, k])
    ours([q, v, k])
    assert sorted(w.name for w in theirs.weights) == sorted(name for name, _ in ours.named_parameters())
    for name, p in ours.named_parameters():
        value = torch.empty(p.shape).uniform_(0.3, 1.5, generator=g) * (-1 if name == "concat_score_weight" else 1)
        getattr(theirs, name).assign(value.numpy())
        _set(ours, **{name: value})
    for causal in (False, True):
        for mask in (None, [query_mask, value_mask], [None, value_mask], [query_mask, None]):
            for inputs in ([q, v, k], [q, k]):
                want_out, want_w = theirs(inputs, mask=mask, return_attention_scores=True, use_causal_mask=causal)
                got_out, got_w = ours(inputs, mask=mask, return_attention_scores=True, use_causal_mask=causal)
                assert_close(got_w, want_w.detach(), rtol=1e-5, atol=1e-5)
                assert_close(got_out, want_out.detach(), rtol=1e-5, atol=1e-5)
    both = [query_mask, value_mask]
    assert torch.equal(ours.compute_mask([q, v, k], both), theirs.compute_mask([q, v, k], both))
    config = theirs.get_config()
    assert {key: config[key] for key in ours.get_config() if key != "name"} == {
        key: value for key, value in ours.get_config().items() if key != "name"}


def test_matches_keras_in_float16_where_a_step_is_allowed(keras):
    # Keras' float16 layer lowers masked scores by 1e9 on the torch backend (-inf); rnnkit by 65504: the same zeros
    g = torch.Generator().manual_seed(5)
    q, v = (torch.randn(2, 4, 3, generator=g) * 3).half(), (torch.randn(2, 5, 3, generator=g) * 3).half()
    value_mask = torch.tensor([[True, False, True, False, True], [False, True, True, True, False]])
    theirs = keras.layers.Attention(dtype="float16")
    want_out, want_w = theirs([q, v], mask=[None, value_mask], return_attention_scores=True)
    got_out, got_w = Attention()([q, v], mask=[None, value_mask], return_attention_scores=True)
    assert got_w.dtype == torch.float16
    assert_close(got_w, want_w.detach(), rtol=1e-3, atol=1e-3)
    assert_close(got_out, want_out.detach(), rtol=1e-3, atol=1e-2)


def test_additive_scale_init_has_keras_glorot_bounds(keras):
    dim = 400
    limit = math.sqrt(3.0 / dim)  # glorot_uniform with fan_in = fan_out = dim for a 1-D weight
    theirs = keras.layers.AdditiveAttention()
    theirs([torch.zeros(1, 1, dim), torch.zeros(1, 2, dim)])
    ours = AdditiveAttention()
    ours([torch.zeros(1, 1, dim), torch.zeros(1, 2, dim)])
    for scale in (theirs.scale.value.detach().cpu(), ours.scale.detach()):
        assert scale.abs().max() <= limit and scale.abs().max() > 0.95 * limit
        assert abs(scale.std().item() - limit / math.sqrt(3)) < 0.15 * limit  # U(-l, l) has std l/√3


# ----------------------------------------------------------------------------- gradients, dropout, dtypes
@pytest.mark.parametrize("make", [lambda: Attention(True), lambda: Attention(True, "concat"), AdditiveAttention])
def test_gradcheck_through_inputs_and_weights(make):
    g = torch.Generator().manual_seed(1)
    q, v, k = (torch.randn(2, 3, 2, generator=g, dtype=torch.float64, requires_grad=True),
               torch.randn(2, 4, 3, generator=g, dtype=torch.float64, requires_grad=True),
               torch.randn(2, 4, 2, generator=g, dtype=torch.float64, requires_grad=True))
    layer = make().double()
    layer([q, v, k])
    names = [name for name, _ in layer.named_parameters()]
    weights = tuple(torch.empty_like(p).uniform_(0.5, 1.5, generator=g).requires_grad_() for p in layer.parameters())
    assert names and all(w.dtype == torch.float64 for w in weights)
    mask = [torch.tensor([[True, False, True], [True, True, True]]),
            torch.tensor([[True, True, False, True], [True, False, True, True]])]  # no row fully masked

    def f(q, v, k, *weights):
        inputs = ([q, v, k],)
        options = {"mask": mask, "use_causal_mask": True}
        return torch.func.functional_call(layer, dict(zip(names, weights)), inputs, options)

    assert torch.autograd.gradcheck(f, (q, v, k, *weights))


def test_dropout_only_in_training_and_reproducible_with_a_seed():
    g = torch.Generator().manual_seed(4)
    q, v = torch.randn(2, 6, 4, generator=g), torch.randn(2, 50, 4, generator=g)
    plain = Attention()([q, v], return_attention_scores=True)[1]
    layer = Attention(dropout=0.5, seed=11)
    layer.eval()
    assert torch.equal(layer([q, v], return_attention_scores=True)[1], plain)
    layer.train()
    out, w = layer([q, v], return_attention_scores=True)
    dropped = w == 0
    assert 0.3 < dropped.float().mean() < 0.7
    assert_close(w[~dropped], 2 * plain[~dropped])  # inverted dropout: kept weights / (1 - rate)
    assert_close(out, w @ v)  # the output uses the dropped weights, which are what is returned
    again = Attention(dropout=0.5, seed=11).train()
    assert torch.equal(again([q, v], return_attention_scores=True)[1], w)  # same seed, same first mask
    assert not torch.equal(layer([q, v], return_attention_scores=True)[1], w)  # the next call draws a new mask
    unseeded = Attention(dropout=0.5).train()  # no seed: PyTorch's global generator, which set_seed seeds
    set_seed(3)
    first = unseeded([q, v], return_attention_scores=True)[1]
    set_seed(3)
    assert torch.equal(unseeded([q, v], return_attention_scores=True)[1], first)


def test_weights_follow_the_module_and_additive_builds_on_the_query():
    attention = Attention(use_scale=True, score_mode="concat")
    assert attention.built and attention.scale.shape == () and attention.concat_score_weight.shape == ()
    assert attention.scale.item() == 1.0 and attention.concat_score_weight.item() == 1.0
    assert dict(attention.named_parameters()).keys() == {"scale", "concat_score_weight"}
    assert list(Attention().parameters()) == []
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    assert attention([x, x]).dtype == torch.float64  # float32 weights, float64 input: the input's dtype
    additive = AdditiveAttention()
    assert not additive.built and additive.scale is None
    additive([x, torch.randn(2, 5, 4, dtype=torch.float64)])
    assert additive.scale.shape == (4,) and additive.scale.dtype == torch.float64
    assert list(AdditiveAttention(use_scale=False).parameters()) == []
    fresh = AdditiveAttention()
    fresh.load_state_dict(additive.state_dict())  # builds from the stored scale
    assert torch.equal(fresh.scale, additive.scale)
    keras_style = AdditiveAttention()
    keras_style.build([(None, 3, 6), (None, 5, 6)])
    assert keras_style.scale.shape == (6,)


# ----------------------------------------------------------------------------- config and saving
@pytest.mark.parametrize("layer", [Attention(), Attention(True, "concat", 0.25, 3, name="att"),
                                   AdditiveAttention(), AdditiveAttention(False, 0.1, 0, name="add")])
def test_config_round_trip_and_serialize(layer):
    config = layer.get_config()
    assert json.loads(json.dumps(config)) == config
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    data = json.loads(json.dumps(serialize(layer)))
    back = deserialize(data)
    assert type(back) is type(layer) and back.get_config() == config
    expected_keys = {"name", "use_scale", "dropout", "seed"}
    if isinstance(layer, Attention):
        expected_keys.add("score_mode")
    assert config.keys() == expected_keys


# ----------------------------------------------------------------------------- errors
def test_bad_arguments_are_config_errors():
    with pytest.raises(ConfigError, match=r"Attention: `score_mode` must be one of 'dot', 'concat', got 'add'"):
        Attention(score_mode="add")
    with pytest.raises(ConfigError, match=r"AdditiveAttention: `dropout` must be a float in \[0, 1\), got 1.0"):
        AdditiveAttention(dropout=1.0)
    with pytest.raises(ConfigError, match=r"Attention: `use_scale` must be True or False, got 'yes'"):
        Attention(use_scale="yes")
    with pytest.raises(ConfigError, match=r"Attention: `seed` must be an integer >= 0, got -1"):
        Attention(seed=-1)


_Q, _V = torch.zeros(2, 3, 4), torch.zeros(2, 5, 4)
_BOOL = torch.bool
BAD_CALLS = [
    (lambda: Attention()(_Q),
     r"Attention: `inputs` must be a list \[query, value\] or \[query, value, key\], got a Tensor; "
     r"call the layer as layer\(\[query, value\]\)"),
    (lambda: Attention()([_Q]), r"`inputs` must hold 2 tensors \[query, value\] or 3 \[query, value, key\], got 1"),
    (lambda: Attention()([_Q, _V[0]]),
     r"Attention: expected value of 3 dims \(batch, Tv, dim_v\), got 2 dims with shape \(5, 4\)"),
    (lambda: Attention()([_Q, _V, torch.zeros(2, 5, 4, dtype=torch.long)]),
     r"expected a floating-point key, got dtype torch.int64"),
    (lambda: Attention()([_Q, torch.zeros(3, 5, 4)]),
     r"the same batch size, got query \(2, 3, 4\), value \(3, 5, 4\), key \(3, 5, 4\)"),
    (lambda: Attention()([_Q, _V, torch.zeros(2, 6, 4)]),
     r"key and value must have the same number of steps Tv .*got key \(2, 6, 4\) with Tv=6 "
     r"and value \(2, 5, 4\) with Tv=5"),
    (lambda: AdditiveAttention()([_Q, _V, torch.zeros(2, 5, 3)]),
     r"AdditiveAttention: query and key must have the same last dim, got query \(2, 3, 4\) with dim=4 "
     r"and key \(2, 5, 3\) with dim=3; .*Dense"),
    (lambda: Attention()([_Q, torch.zeros(2, 5, 6)]),
     r"query and value \(which is also the key\) must have the same last dim, "
     r"got query \(2, 3, 4\) with dim=4 and value \(2, 5, 6\) with dim=6"),
    (lambda: Attention()([_Q, _V.double()]),
     r"the same dtype, got query torch.float32, value torch.float64, key torch.float64; cast them to one"),
    (lambda: Attention()([_Q, _V], mask=torch.ones(2, 5, dtype=_BOOL)),
     r"`mask` must be a list \[query_mask, value_mask\] \(either may be None\), got a Tensor; "
     r"for a value mask alone pass mask=\[None, value_mask\]"),
    (lambda: Attention()([_Q, _V], mask=[None, None, None]),
     r"`mask` must hold 2 entries \[query_mask, value_mask\], got 3; the key has no mask of its own"),
    (lambda: Attention()([_Q, _V], mask=[None, torch.ones(2, 3, dtype=_BOOL)]),
     r"Attention: `value_mask` must have shape \(batch, Tv\) = \(2, 5\), got \(2, 3\)"),
    (lambda: Attention().compute_mask([_Q, _V], [torch.ones(2, 5, dtype=_BOOL), None]),
     r"`query_mask` must have shape \(batch, Tq\) = \(2, 3\), got \(2, 5\)"),
]


@pytest.mark.parametrize("call,message", BAD_CALLS)
def test_bad_inputs_and_masks_are_shape_errors_naming_both_values_and_the_fix(call, message):
    with pytest.raises(ShapeError, match=message):
        call()


def test_a_built_additive_layer_refuses_another_dim():
    additive = AdditiveAttention()
    additive([_Q, _V])
    with pytest.raises(ShapeError, match=r"AdditiveAttention: built for dim=4 \(the size of `scale`\), "
                                         r"got a query with dim=6 \(shape \(2, 3, 6\)\)"):
        additive([torch.zeros(2, 3, 6), torch.zeros(2, 5, 6)])
    with pytest.raises(ConfigError, match=r"`use_causal_mask` must be True or False, got 1"):
        additive([_Q, _V], use_causal_mask=1)
