"""Tests of Dense, Dropout, Activation, Flatten and Masking against NumPy references."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from rnnkit.errors import ConfigError, ShapeError
from rnnkit.layers import LSTM, Embedding
from rnnkit.layers.core import Activation, Dense, Dropout, Flatten, LockedDropout, Masking, SpatialDropout1D
from rnnkit.models import Sequential
from rnnkit.random import set_seed


def _roundtrip(layer):
    config = layer.get_config()
    json.dumps(config)
    clone = type(layer).from_config(json.loads(json.dumps(config)))
    if any(p is not None for p in layer.parameters()):
        clone.load_state_dict(layer.state_dict())
    return clone


# ---------------------------------------------------------------- Dense
def test_dense_matches_numpy_on_3d_input():
    torch.manual_seed(0)
    layer = Dense(5, activation="relu", input_size=3)
    with torch.no_grad():
        layer.bias.uniform_(-1, 1)
    x = torch.randn(2, 4, 3)
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    expected = np.maximum(x.numpy() @ w.T + b, 0.0)
    np.testing.assert_allclose(layer(x).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_dense_without_bias_and_linear_activation():
    layer = Dense(2, use_bias=False, input_size=3)
    assert layer.bias is None
    x = torch.randn(4, 3)
    np.testing.assert_allclose(layer(x).detach().numpy(), x.numpy() @ layer.weight.detach().numpy().T, rtol=1e-5, atol=1e-6)


def test_dense_lazy_build_uses_input_dtype_and_size():
    layer = Dense(6)
    assert layer.weight is None and not layer.built
    assert list(layer.parameters()) == []
    y = layer(torch.randn(2, 7, dtype=torch.float64))
    assert layer.built and layer.input_size == 7
    assert layer.weight.shape == (6, 7) and layer.weight.dtype == torch.float64
    assert y.shape == (2, 6)
    eager = Dense(6, input_size=7)
    assert eager.built and eager.weight.shape == (6, 7) and eager.bias.shape == (6,)


def test_dense_glorot_uniform_limit_uses_keras_fans():
    torch.manual_seed(0)
    layer = Dense(300, input_size=100)
    limit = math.sqrt(6.0 / (100 + 300))
    w = layer.weight.detach().abs()
    assert w.max() <= limit and w.max() > 0.95 * limit
    assert torch.count_nonzero(layer.bias) == 0


def test_dense_errors_name_the_layer():
    layer = Dense(3, input_size=4)
    with pytest.raises(ShapeError, match=r"Dense: built for input_size=4, got inputs with 5 features"):
        layer(torch.randn(2, 5))
    with pytest.raises(ShapeError, match=r"Dense: expected input of at least 2 dims .* got 1 dims with shape \(4,\)"):
        layer(torch.randn(4))
    with pytest.raises(ShapeError, match=r"Dense: expected a floating-point input, got dtype torch.int64"):
        layer(torch.ones(2, 4, dtype=torch.long))
    for bad in (0, -2, 2.5, True, "3"):
        with pytest.raises(ConfigError, match=r"Dense: `units` must be a positive integer"):
            Dense(bad)
    with pytest.raises(ConfigError, match="unknown activation 'relux'"):
        Dense(3, activation="relux")
    with pytest.raises(ConfigError, match="Dense: `input_size`"):
        Dense(3, input_size=0)


def test_dense_config_roundtrip_and_mask_passthrough():
    layer = Dense(4, activation="tanh", kernel_initializer="he_normal", name="head")
    x = torch.randn(3, 2, 5)
    y = layer(x)
    config = layer.get_config()
    assert config == {
        "name": "head", "units": 4, "activation": "tanh", "use_bias": True,
        "kernel_initializer": "he_normal", "bias_initializer": "zeros", "input_size": 5,
    }
    clone = _roundtrip(layer)
    assert torch.equal(clone(x), y)
    mask = torch.tensor([[True, False], [True, True], [False, False]])
    assert layer.compute_mask(x, mask) is mask
    assert torch.equal(layer(x, mask=mask), y)


# ---------------------------------------------------------------- Dropout
def test_dropout_eval_is_identity_and_train_scales_kept_units():
    layer = Dropout(0.25, seed=1)
    x = torch.rand(64, 50) + 0.5
    layer.eval()
    assert layer(x) is x
    layer.train()
    y = layer(x)
    kept = y != 0
    np.testing.assert_allclose(y[kept].numpy(), (x[kept] / 0.75).numpy(), rtol=1e-6)
    frac_dropped = 1.0 - kept.float().mean().item()
    assert abs(frac_dropped - 0.25) < 0.03


def test_dropout_gradient_is_mask_over_keep():
    layer = Dropout(0.5, seed=3)
    x = torch.ones(10, 20, requires_grad=True)
    y = layer(x)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), (y.detach() != 0).float().numpy() * 2.0)


def test_dropout_noise_shape_shares_the_mask_along_time():
    layer = Dropout(0.5, noise_shape=(None, 1, None), seed=0)
    x = torch.ones(4, 6, 30)
    y = layer(x)
    assert torch.equal(y, y[:, :1, :].expand_as(y))
    assert 0 < torch.count_nonzero(y[:, 0, :]) < 4 * 30


def test_dropout_seed_is_reproducible_and_calls_differ():
    x = torch.ones(8, 40)
    a, b = Dropout(0.5, seed=7), Dropout(0.5, seed=7)
    first_a, first_b = a(x), b(x)
    assert torch.equal(first_a, first_b)
    assert not torch.equal(a(x), first_a)


def test_dropout_rate_zero_and_mask_passthrough():
    x = torch.randn(3, 4)
    layer = Dropout(0.0)
    assert torch.equal(layer(x), x)
    mask = torch.ones(3, 4, dtype=torch.bool)
    assert Dropout(0.3).compute_mask(x, mask) is mask


def test_dropout_bad_arguments_and_shapes():
    for bad in (1.0, -0.1, 1.5, "0.5"):
        with pytest.raises(ConfigError, match=r"Dropout: `rate` must be a float in \[0, 1\)"):
            Dropout(bad)
    with pytest.raises(ConfigError, match="Dropout: `noise_shape`"):
        Dropout(0.5, noise_shape=3)
    with pytest.raises(ConfigError, match="Dropout: `noise_shape entry`"):
        Dropout(0.5, noise_shape=(None, 0))
    with pytest.raises(ConfigError, match="Dropout: `seed`"):
        Dropout(0.5, seed=-1)
    with pytest.raises(ShapeError, match=r"Dropout: `noise_shape` \(None, 1\) has 2 entries but the input has 3 dims"):
        Dropout(0.5, noise_shape=(None, 1))(torch.ones(2, 3, 4))
    with pytest.raises(ShapeError, match=r"Dropout: `noise_shape` entry 2 on axis 1 must be None, 1 or the input's size 3"):
        Dropout(0.5, noise_shape=(None, 2, None))(torch.ones(2, 3, 4))


def test_dropout_config_roundtrip():
    layer = Dropout(0.3, noise_shape=(None, 1, None), seed=5)
    clone = _roundtrip(layer)
    assert clone.get_config() == layer.get_config()
    x = torch.ones(2, 3, 10)
    assert torch.equal(clone(x), layer(x))  # same seed, same call count


# ---------------------------------------------------------------- SpatialDropout1D (locked dropout)
def test_spatial_dropout_locks_one_mask_per_sequence_and_channel_across_time():
    p = 0.5
    layer = SpatialDropout1D(p)
    x = torch.ones(4, 9, 20)
    set_seed(2)
    y = layer(x)
    # each (sample, channel) column is all 0 or all 1/(1-p) over the time axis
    column_values = {tuple(sorted(set(y[b, :, c].tolist()))) for b in range(4) for c in range(20)}
    assert column_values == {(0.0,), (2.0,)}
    set_seed(2)
    keep = torch.rand(4, 1, 20) >= p  # by hand: one draw per (sample, channel)
    assert torch.equal(y, (keep.float() / (1 - p)).expand_as(y))
    assert LockedDropout is SpatialDropout1D
    layer.eval()
    assert torch.equal(layer(x), x)


def test_spatial_dropout_passes_the_padding_mask_on_and_checks_its_input():
    torch.manual_seed(0)
    ids = torch.tensor([[4, 2, 7, 0, 0], [5, 0, 0, 0, 0]])
    embedding, lstm = Embedding(9, 3, mask_zero=True), LSTM(4)
    with_drop = Sequential([embedding, SpatialDropout1D(0.3), lstm]).eval()
    # the LSTM must see the mask: its last output is the one at the last real step, as with the mask given by hand
    with torch.no_grad():
        expected = lstm(embedding(ids), mask=ids != 0)
        assert torch.equal(with_drop(ids), expected)
        assert not torch.allclose(lstm(embedding(ids)), expected)  # without the mask the padding would count
    mask = ids != 0
    assert SpatialDropout1D(0.3).compute_mask(torch.ones(2, 5, 3), mask) is mask
    with pytest.raises(ShapeError, match=r"SpatialDropout1D: expected input of 3 dims \(batch, time, channels\)"):
        SpatialDropout1D(0.3)(torch.ones(2, 3))
    for bad in (1.0, -0.5):
        with pytest.raises(ConfigError, match=rf"^SpatialDropout1D: `rate` must be a float in \[0, 1\), got {bad}"):
            SpatialDropout1D(bad)
    layer = SpatialDropout1D(0.25, seed=3, name="locked")
    assert layer.get_config() == {"name": "locked", "rate": 0.25, "seed": 3}
    x = torch.ones(2, 3, 8)
    assert torch.equal(_roundtrip(layer)(x), layer(x))  # same seed, same call count


# ---------------------------------------------------------------- Activation
def test_activation_softmax_matches_numpy():
    x = torch.randn(2, 3, 5)
    e = np.exp(x.numpy() - x.numpy().max(axis=-1, keepdims=True))
    np.testing.assert_allclose(Activation("softmax")(x).numpy(), e / e.sum(-1, keepdims=True), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(Activation("relu")(x).numpy(), np.maximum(x.numpy(), 0))
    assert torch.equal(Activation(None)(x), x)


def test_activation_config_and_errors():
    layer = Activation("sigmoid")
    x = torch.randn(4)
    assert torch.equal(_roundtrip(layer)(x), layer(x))
    assert layer.get_config()["activation"] == "sigmoid"
    mask = torch.ones(2, 3, dtype=torch.bool)
    assert layer.compute_mask(x, mask) is mask
    with pytest.raises(ConfigError, match="unknown activation 'nope'"):
        Activation("nope")
    with pytest.raises(ConfigError, match="register it first"):
        Activation(lambda t: t * 2).get_config()


# ---------------------------------------------------------------- Flatten
def test_flatten_keeps_batch_and_channels_last_order():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    np.testing.assert_array_equal(Flatten()(x).numpy(), x.numpy().reshape(2, 60))
    assert Flatten()(torch.zeros(7)).shape == (7, 1)
    assert Flatten()(torch.zeros(0, 3, 2)).shape == (0, 6)


def test_flatten_consumes_mask_and_rejects_scalars():
    x = torch.zeros(2, 3, 4)
    assert Flatten().compute_mask(x, torch.ones(2, 3, dtype=torch.bool)) is None
    with pytest.raises(ShapeError, match=r"Flatten: expected input of at least 1 dims .* got 0 dims"):
        Flatten()(torch.tensor(1.0))
    assert Flatten.from_config(Flatten(name="f").get_config()).name == "f"


# ---------------------------------------------------------------- Masking
def test_masking_mask_and_output_match_numpy():
    x = np.array(
        [[[1.0, 0.0], [0.0, 0.0], [0.0, -2.0]],
         [[0.0, 0.0], [5.0, 5.0], [0.0, 0.0]]], dtype=np.float32)
    layer = Masking()
    mask = layer.compute_mask(torch.from_numpy(x))
    expected_mask = np.array([[True, False, True], [False, True, False]])
    assert mask.dtype == torch.bool
    np.testing.assert_array_equal(mask.numpy(), expected_mask)
    np.testing.assert_array_equal(layer(torch.from_numpy(x)).numpy(), x * expected_mask[..., None])


def test_masking_nonzero_value_zeroes_masked_steps():
    x = torch.tensor([[[-1.0, -1.0], [2.0, -1.0], [-1.0, -1.0]]])
    layer = Masking(mask_value=-1)
    np.testing.assert_array_equal(layer.compute_mask(x).numpy(), [[False, True, False]])
    np.testing.assert_array_equal(layer(x).numpy(), [[[0.0, 0.0], [2.0, -1.0], [0.0, 0.0]]])
    clone = _roundtrip(layer)
    assert clone.mask_value == -1.0
    assert torch.equal(clone.compute_mask(x), layer.compute_mask(x))


def test_masking_errors():
    with pytest.raises(ShapeError, match=r"Masking: expected input of 3 dims \(batch, time, features\), got 2 dims"):
        Masking()(torch.zeros(4, 7))
    with pytest.raises(ConfigError, match="Masking: `mask_value` must be a number"):
        Masking("0")
