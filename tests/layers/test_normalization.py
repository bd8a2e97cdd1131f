"""Tests of LayerNormalization against a NumPy reference."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnnkit.errors import ConfigError, ShapeError
from rnnkit.layers.normalization import LayerNormalization


def _np_layer_norm(x, axes, gamma, beta, eps):
    x = x.astype(np.float64)
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    shape = [1] * x.ndim
    for a in axes:
        shape[a] = x.shape[a]
    if gamma is not None:
        y = y * gamma.reshape(shape)
    if beta is not None:
        y = y + beta.reshape(shape)
    return y


def _randomise(layer):
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=g))


def test_last_axis_matches_numpy_with_keras_epsilon():
    # small-variance input: epsilon = 1e-3 (Keras) vs 1e-5 (torch) changes the result a lot
    x = (np.random.default_rng(0).normal(size=(3, 4, 6)) * 0.02).astype(np.float32)
    layer = LayerNormalization()
    assert layer.epsilon == 1e-3
    layer(torch.from_numpy(x))  # builds the weights
    _randomise(layer)
    y = layer(torch.from_numpy(x))
    expected = _np_layer_norm(x, (2,), layer.weight.detach().numpy(), layer.bias.detach().numpy(), 1e-3)
    np.testing.assert_allclose(y.detach().numpy(), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("axis", [1, [1, 3], [-2, -1], [0, 2]])
def test_other_axes_match_numpy(axis):
    x = np.random.default_rng(1).normal(size=(2, 3, 4, 5)).astype(np.float32) * 3 + 1
    layer = LayerNormalization(axis=axis, epsilon=1e-5)
    layer(torch.from_numpy(x))
    _randomise(layer)
    axes = tuple(sorted(a % 4 for a in ([axis] if isinstance(axis, int) else axis)))
    assert layer.weight.shape == tuple(x.shape[a] for a in axes)
    expected = _np_layer_norm(x, axes, layer.weight.detach().numpy(), layer.bias.detach().numpy(), 1e-5)
    np.testing.assert_allclose(layer(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-4, atol=1e-5)


def test_center_and_scale_off():
    x = np.random.default_rng(2).normal(size=(4, 7)).astype(np.float32)
    layer = LayerNormalization(center=False, scale=False)
    y = layer(torch.from_numpy(x))
    assert layer.weight is None and layer.bias is None and list(layer.parameters()) == []
    np.testing.assert_allclose(y.numpy(), _np_layer_norm(x, (1,), None, None, 1e-3), rtol=1e-4, atol=1e-5)
    only_scale = LayerNormalization(center=False, input_size=7)
    assert only_scale.bias is None and only_scale.weight.shape == (7,)


def test_lazy_and_eager_build():
    layer = LayerNormalization()
    assert layer.weight is None and not layer.built
    layer(torch.randn(2, 3, 8, dtype=torch.float64))
    assert layer.weight.shape == (8,) and layer.weight.dtype == torch.float64
    assert torch.equal(layer.weight, torch.ones(8, dtype=torch.float64))
    assert torch.equal(layer.bias, torch.zeros(8, dtype=torch.float64))
    eager = LayerNormalization(input_size=8)
    assert eager.built and eager.weight.shape == (8,)
    with pytest.raises(ShapeError, match=r"LayerNormalization: built for normalised axes of sizes \(8,\), got sizes \(5,\)"):
        eager(torch.randn(2, 5))


def test_errors():
    with pytest.raises(ShapeError, match=r"LayerNormalization: axis=3 is out of range for input of 2 dims with shape \(2, 5\)"):
        LayerNormalization(axis=3)(torch.randn(2, 5))
    with pytest.raises(ShapeError, match="LayerNormalization: expected a floating-point input"):
        LayerNormalization()(torch.ones(2, 5, dtype=torch.long))
    with pytest.raises(ShapeError, match="names the same axis twice"):
        LayerNormalization(axis=[1, -1])(torch.randn(2, 5))
    for bad in ("last", [], [1.0], True):
        with pytest.raises(ConfigError, match="LayerNormalization: `axis` must be an int or a non-empty list of ints"):
            LayerNormalization(axis=bad)
    with pytest.raises(ConfigError, match="lists an axis twice"):
        LayerNormalization(axis=[1, 1])
    with pytest.raises(ConfigError, match="LayerNormalization: `epsilon` must be a finite number >= 0"):
        LayerNormalization(epsilon=-1.0)
    with pytest.raises(ConfigError, match="LayerNormalization: `center` must be True or False"):
        LayerNormalization(center=None)
    with pytest.raises(ConfigError, match="names several"):
        LayerNormalization(axis=[1, 2], input_size=4)


def test_config_roundtrip_and_mask_passthrough():
    for layer in (LayerNormalization(name="ln"), LayerNormalization(axis=(1, 2), epsilon=1e-6, center=False)):
        x = torch.randn(2, 3, 4)
        layer(x)
        _randomise(layer)
        config = json.loads(json.dumps(layer.get_config()))
        clone = LayerNormalization.from_config(config)
        if not clone.built:
            clone(x)
        clone.load_state_dict(layer.state_dict())
        assert torch.equal(clone(x), layer(x))
        mask = torch.ones(2, 3, dtype=torch.bool)
        assert layer.compute_mask(x, mask) is mask
    assert LayerNormalization(axis=(1, 2)).get_config()["axis"] == [1, 2]
