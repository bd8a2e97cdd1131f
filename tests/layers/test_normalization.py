"""Tests of LayerNormalization and BatchNormalization against NumPy references, and of BatchNormalization against Keras."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnnkit.errors import ConfigError, ShapeError
from rnnkit.layers.normalization import BatchNormalization, LayerNormalization


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


# ------------------------------------------------------------------------------------------- BatchNormalization
def _np_batch_norm_steps(batches, masks, gamma, beta, momentum, eps):
    """Training steps in NumPy: each batch normalised by its own (masked) statistics; the moving ones followed."""
    mean_hat, var_hat = np.zeros(gamma.shape), np.ones(gamma.shape)
    outputs = []
    for x, mask in zip(batches, masks):
        x = x.astype(np.float64)
        rows = x.reshape(-1, x.shape[-1]) if mask is None else x[mask.astype(bool)]  # (N, F): the real values
        mean, var = rows.mean(axis=0), rows.var(axis=0)  # biased, as Keras
        outputs.append(gamma * (x - mean) / np.sqrt(var + eps) + beta)
        mean_hat = momentum * mean_hat + (1 - momentum) * mean
        var_hat = momentum * var_hat + (1 - momentum) * var
    return outputs, mean_hat, var_hat


@pytest.mark.parametrize("shape, masked", [((5, 4), False), ((3, 6, 4), False), ((3, 6, 4), True)])
def test_batch_norm_training_steps_and_evaluation_match_numpy(shape, masked):
    rng = np.random.default_rng(0)
    batches = [(rng.normal(size=shape) * 3 + 5).astype(np.float32) for _ in range(3)]
    masks = [None] * 3
    if masked:  # ragged texts: the padded steps hold huge values that must not reach the statistics
        lengths = [[6, 2, 4], [1, 6, 3], [5, 5, 2]]
        masks = [np.arange(shape[1])[None, :] < np.array(n)[:, None] for n in lengths]
        for x, m in zip(batches, masks):
            x[~m] = 1e4
    layer = BatchNormalization(momentum=0.9)
    layer(torch.from_numpy(batches[0][:2]), mask=None if masks[0] is None else torch.from_numpy(masks[0][:2]))
    gamma, beta = rng.normal(size=4), rng.normal(size=4)
    layer.set_weights([gamma, beta, np.zeros(4), np.ones(4)])
    outputs, mean_hat, var_hat = _np_batch_norm_steps(batches, masks, gamma, beta, 0.9, 1e-3)
    for x, m, expected in zip(batches, masks, outputs):
        got = layer(torch.from_numpy(x), mask=None if m is None else torch.from_numpy(m)).detach().numpy()
        real = np.ones(x.shape[:-1], bool) if m is None else m
        np.testing.assert_allclose(got[real], expected[real], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.moving_mean.numpy(), mean_hat, rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), var_hat, rtol=1e-4)
    layer.eval()  # the moving statistics, and a single row is fine now
    x = batches[0][:1]
    np.testing.assert_allclose(layer(torch.from_numpy(x)).detach().numpy(),
                               gamma * (x - mean_hat) / np.sqrt(var_hat + 1e-3) + beta, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.moving_mean.numpy(), mean_hat, rtol=1e-5)  # evaluation leaves them


def test_batch_norm_trains_gamma_and_beta_through_the_batch_statistics():
    """The gradient flows through the batch's mean and variance (a normalised batch has zero sum whatever gamma)."""
    x = torch.randn(8, 3, dtype=torch.float64)
    layer = BatchNormalization(input_size=3).double()
    torch.autograd.gradcheck(lambda t: layer(t), (x.requires_grad_(),))
    assert layer(x).sum(dim=0).abs().max() < 1e-9


@pytest.mark.parametrize("masked", [False, True])
def test_batch_norm_matches_keras_in_training_and_inference(keras, masked):
    rng = np.random.default_rng(2)
    x = (rng.normal(size=(4, 5, 3)) * 2 + 1).astype("float32")
    mask = np.arange(5)[None, :] < np.array([5, 3, 1, 4])[:, None]
    theirs = keras.layers.BatchNormalization(momentum=0.8, epsilon=1e-2)
    theirs.build(x.shape)
    weights = [rng.normal(size=w.shape).astype("float32") for w in theirs.get_weights()]
    weights[-1] = np.abs(weights[-1]) + 0.5  # a variance
    theirs.set_weights(weights)
    ours = BatchNormalization(momentum=0.8, epsilon=1e-2)
    ours.set_weights(weights)
    kw_theirs, kw_ours = ({"mask": mask}, {"mask": torch.from_numpy(mask)}) if masked else ({}, {})
    # inference first: the moving statistics as set
    expected = keras.ops.convert_to_numpy(theirs(x, training=False, **kw_theirs))
    np.testing.assert_allclose(ours(torch.from_numpy(x), training=False, **kw_ours).detach().numpy(), expected,
                               rtol=1e-5, atol=1e-5)
    for _ in range(2):  # two training steps: the batch's statistics, and the moving ones updated alike
        expected = keras.ops.convert_to_numpy(theirs(x, training=True, **kw_theirs))
        got = ours(torch.from_numpy(x), training=True, **kw_ours).detach().numpy()
        real = mask if masked else np.ones(mask.shape, bool)
        np.testing.assert_allclose(got[real], expected[real], rtol=1e-4, atol=1e-4)
    for mine, keras_w in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, keras.ops.convert_to_numpy(keras_w), rtol=1e-5, atol=1e-6)


def test_batch_norm_errors_name_the_layer_and_the_fix():
    with pytest.raises(ConfigError, match=r"BatchNormalization: only axis=-1 .* got axis=1"):
        BatchNormalization(axis=1)
    with pytest.raises(ConfigError, match=r"must be in \[0, 1\], got 1.5 \(PyTorch's 0.1 is Keras' 0.9\)"):
        BatchNormalization(momentum=1.5)
    layer = BatchNormalization(input_size=3)
    with pytest.raises(ShapeError, match="at least 2 values per feature .* use batches of 2 or more"):
        layer(torch.ones(1, 3))
    with pytest.raises(ShapeError, match=r"built for input_size=3, got inputs with 4 features"):
        layer(torch.ones(2, 4))
    with pytest.raises(ShapeError, match=r"expected \(batch, features\) or \(batch, time, features\)"):
        layer(torch.ones(2, 2, 2, 3))


def test_batch_norm_config_state_and_mask():
    layer = BatchNormalization(momentum=0.5, center=False, name="bn")
    x = torch.randn(6, 2, 4)
    layer(x)
    assert [w.shape for w in layer.get_weights()] == [(4,), (4,), (4,)]  # gamma, moving mean and variance
    config = json.loads(json.dumps(layer.get_config()))
    clone = BatchNormalization.from_config(config)
    clone.load_state_dict(layer.state_dict())  # builds itself from the stored moving statistics
    assert torch.equal(clone.moving_variance, layer.moving_variance) and clone.bias is None
    layer.eval(), clone.eval()
    assert torch.equal(clone(x), layer(x))
    mask = torch.ones(6, 2, dtype=torch.bool)
    assert layer.compute_mask(x, mask) is mask
