"""Tests of the pooling layers: masked global pooling, TF-style max pooling and MaskedMaxPooling1D vs NumPy."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from rnnkit.errors import ConfigError, ShapeError
from rnnkit.layers.pooling import (GlobalAveragePooling1D, GlobalConcatPooling1D, GlobalMaxPooling1D,
                                   MaskedMaxPooling1D, MaxPooling1D, MaxPooling2D)


def _x_and_mask(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, 6, 3)).astype(np.float32) - 3.0  # mostly negative: a zero fill would show
    mask = np.array(
        [[1, 1, 1, 0, 0, 0],
         [1, 1, 1, 1, 1, 1],
         [0, 1, 0, 1, 0, 0],
         [1, 0, 0, 0, 0, 0]], dtype=bool)
    return x, mask


# ---------------------------------------------------------------- global pooling
def test_global_average_without_mask():
    x, _ = _x_and_mask()
    np.testing.assert_allclose(GlobalAveragePooling1D()(torch.from_numpy(x)).numpy(), x.mean(axis=1), rtol=1e-5)


def test_global_average_with_mask_uses_valid_steps_only():
    x, mask = _x_and_mask()
    expected = np.stack([x[b, mask[b]].mean(axis=0) for b in range(len(x))])
    out = GlobalAveragePooling1D()(torch.from_numpy(x), mask=torch.from_numpy(mask))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5)
    # a 0/1 float mask means the same
    out01 = GlobalAveragePooling1D()(torch.from_numpy(x), mask=torch.from_numpy(mask.astype(np.float32)))
    np.testing.assert_allclose(out01.numpy(), expected, rtol=1e-5)
    kept = GlobalAveragePooling1D(keepdims=True)(torch.from_numpy(x), mask=torch.from_numpy(mask))
    assert kept.shape == (4, 1, 3)
    np.testing.assert_allclose(kept[:, 0].numpy(), expected, rtol=1e-5)


def test_global_max_with_mask_uses_valid_steps_only():
    x, mask = _x_and_mask(1)
    expected = np.stack([x[b, mask[b]].max(axis=0) for b in range(len(x))])
    out = GlobalMaxPooling1D()(torch.from_numpy(x), mask=torch.from_numpy(mask))
    np.testing.assert_allclose(out.numpy(), expected)
    np.testing.assert_allclose(GlobalMaxPooling1D()(torch.from_numpy(x)).numpy(), x.max(axis=1))
    kept = GlobalMaxPooling1D(keepdims=True)(torch.from_numpy(x), mask=torch.from_numpy(mask))
    assert kept.shape == (4, 1, 3)
    np.testing.assert_allclose(kept[:, 0].numpy(), expected)


def test_all_masked_rows_give_zeros_without_nan_gradients():
    x, mask = _x_and_mask(2)
    mask[2] = False
    for layer in (GlobalAveragePooling1D(), GlobalMaxPooling1D()):
        xt = torch.from_numpy(x).requires_grad_(True)
        out = layer(xt, mask=torch.from_numpy(mask))
        np.testing.assert_array_equal(out[2].detach().numpy(), np.zeros(3, dtype=np.float32))
        assert torch.isfinite(out).all()
        out.sum().backward()
        assert torch.isfinite(xt.grad).all()
        assert torch.count_nonzero(xt.grad[2]) == 0


def test_masked_gradients_go_to_valid_steps_only():
    x, mask = _x_and_mask(3)
    xt = torch.from_numpy(x).requires_grad_(True)
    GlobalAveragePooling1D()(xt, mask=torch.from_numpy(mask)).sum().backward()
    expected = mask[..., None] / mask.sum(axis=1)[:, None, None] * np.ones_like(x)
    np.testing.assert_allclose(xt.grad.numpy(), expected, rtol=1e-6)

    xt = torch.from_numpy(x).requires_grad_(True)
    GlobalMaxPooling1D()(xt, mask=torch.from_numpy(mask)).sum().backward()
    masked = np.where(mask[..., None], x, -np.inf)
    expected = (masked == masked.max(axis=1, keepdims=True)).astype(np.float32)
    np.testing.assert_array_equal(xt.grad.numpy(), expected)


def test_global_pooling_errors_and_mask_consumed():
    x = torch.zeros(2, 5, 3)
    for layer in (GlobalAveragePooling1D(), GlobalMaxPooling1D()):
        name = type(layer).__name__
        assert layer.compute_mask(x, torch.ones(2, 5, dtype=torch.bool)) is None
        with pytest.raises(ShapeError, match=rf"{name}: expected input of 3 dims \(batch, time, features\), got 2 dims"):
            layer(torch.zeros(4, 7))
        with pytest.raises(ShapeError, match=rf"{name}: expected a mask of shape \(batch, time\) = \(2, 5\) .* got mask shape \(2, 4\)"):
            layer(x, mask=torch.ones(2, 4, dtype=torch.bool))
        with pytest.raises(ShapeError, match=rf"{name}: expected mask of 2 dims"):
            layer(x, mask=torch.ones(2, 5, 3, dtype=torch.bool))
        with pytest.raises(ShapeError, match=rf"{name}: expected a floating-point input"):
            layer(torch.zeros(2, 5, 3, dtype=torch.long))
        with pytest.raises(ConfigError, match=rf"{name}: `keepdims` must be True or False"):
            type(layer)(keepdims=1)
        clone = type(layer).from_config(json.loads(json.dumps(type(layer)(keepdims=True).get_config())))
        assert clone.keepdims is True


# ---------------------------------------------------------------- max pooling
def _tf_same_pads(size, window, stride):
    """TensorFlow's rule, written out: out = ceil(size / stride), pad the rest, the odd one at the end."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def _np_maxpool(x, pool, strides, padding):
    """Max pooling of channels-last x (batch, *spatial, ch) with -inf padding, by explicit loops."""
    spatial = x.shape[1:-1]
    pads = [_tf_same_pads(n, p, s) if padding == "same" else (0, 0) for n, p, s in zip(spatial, pool, strides)]
    xp = np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=-np.inf)
    outs = [(xp.shape[1 + i] - pool[i]) // strides[i] + 1 for i in range(len(pool))]
    y = np.empty((x.shape[0], *outs, x.shape[-1]), dtype=x.dtype)
    for idx in np.ndindex(*outs):
        window = tuple(slice(i * s, i * s + p) for i, s, p in zip(idx, strides, pool))
        y[(slice(None), *idx)] = xp[(slice(None), *window)].reshape(x.shape[0], -1, x.shape[-1]).max(axis=1)
    return y


@pytest.mark.parametrize(
    "steps,pool,strides,padding",
    [(8, 2, None, "valid"), (7, 3, 2, "valid"), (5, 2, None, "same"), (6, 3, 2, "same"),
     (4, 4, 1, "same"), (7, 3, 1, "same"), (5, 1, 3, "same"), (9, 2, 3, "same")],
)
def test_maxpool1d_matches_numpy(steps, pool, strides, padding):
    x = np.random.default_rng(steps).normal(size=(2, steps, 3)).astype(np.float32) - 5.0
    layer = MaxPooling1D(pool, strides=strides, padding=padding)
    expected = _np_maxpool(x, (pool,), (strides or pool,), padding)
    out = layer(torch.from_numpy(x))
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out.numpy(), expected)


def test_maxpool1d_same_padding_hand_computed():
    # 4 steps, pool 4, stride 1: TF pads 1 before and 2 after
    x = torch.tensor([1.0, 2.0, 3.0, 4.0]).reshape(1, 4, 1)
    assert MaxPooling1D(4, strides=1, padding="same")(x).flatten().tolist() == [3.0, 4.0, 4.0, 4.0]
    # negative values: the padded position must never win (zero padding would give 0)
    x = torch.tensor([-5.0, -3.0, -4.0]).reshape(1, 3, 1)
    assert MaxPooling1D(2, padding="same")(x).flatten().tolist() == [-3.0, -4.0]


@pytest.mark.parametrize(
    "shape,pool,strides,padding",
    [((6, 6), (2, 2), None, "valid"), ((5, 7), (2, 3), (1, 2), "valid"), ((5, 5), (2, 2), None, "same"),
     ((4, 6), (3, 2), (2, 1), "same"), ((3, 4), (4, 4), (1, 1), "same")],
)
def test_maxpool2d_matches_numpy(shape, pool, strides, padding):
    x = np.random.default_rng(sum(shape)).normal(size=(2, *shape, 3)).astype(np.float32) - 5.0
    layer = MaxPooling2D(pool, strides=strides, padding=padding)
    expected = _np_maxpool(x, pool, strides or pool, padding)
    out = layer(torch.from_numpy(x))
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out.numpy(), expected)


def test_maxpool_defaults_and_config():
    layer = MaxPooling2D()
    assert layer.pool_size == (2, 2) and layer.strides == (2, 2) and layer.padding == "valid"
    assert MaxPooling1D(3).strides == (3,)
    assert MaxPooling2D(3, strides=1).strides == (1, 1)
    for layer in (MaxPooling1D(3, 2, "same", name="p1"), MaxPooling2D((2, 3), (1, 2), "same")):
        config = json.loads(json.dumps(layer.get_config()))
        clone = type(layer).from_config(config)
        assert clone.get_config() == layer.get_config()
        x = torch.randn(2, 7, 5, 3)[:, :, 0] if isinstance(layer, MaxPooling1D) else torch.randn(2, 7, 5, 3)
        assert torch.equal(clone(x), layer(x))
        assert layer.compute_mask(x, torch.ones(2, 7, dtype=torch.bool)) is None


def test_maxpool_errors():
    with pytest.raises(ShapeError, match=r"MaxPooling1D: expected input of 3 dims \(batch, steps, channels\), got 2 dims with shape \(4, 7\)"):
        MaxPooling1D()(torch.zeros(4, 7))
    with pytest.raises(ShapeError, match=r"MaxPooling2D: expected input of 4 dims \(batch, height, width, channels\)"):
        MaxPooling2D()(torch.zeros(4, 7, 3))
    with pytest.raises(ShapeError, match=r"MaxPooling1D: input of shape \(1, 2, 3\) has size 2 on axis 1, smaller than pool_size 3"):
        MaxPooling1D(3)(torch.zeros(1, 2, 3))
    with pytest.raises(ConfigError, match="MaxPooling1D: `padding` must be one of 'valid', 'same', got 'causal'"):
        MaxPooling1D(padding="causal")
    with pytest.raises(ConfigError, match=r"MaxPooling2D: `pool_size` must be a positive integer or a tuple of 2"):
        MaxPooling2D((2,))
    with pytest.raises(ConfigError, match=r"MaxPooling1D: `pool_size` must be a positive integer"):
        MaxPooling1D(0)
    with pytest.raises(ConfigError, match=r"MaxPooling2D: `strides`"):
        MaxPooling2D(2, strides=(1, -1))


def test_concat_pooling_matches_numpy_per_row_with_a_mask():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 5, 2)).astype(np.float32)
    lengths = [5, 2, 0]  # a full row, a short row, a row with no real step
    mask = np.arange(5)[None, :] < np.array(lengths)[:, None]
    expected = []
    for b, n in enumerate(lengths):
        if n == 0:
            expected.append(np.zeros(6, np.float32))
            continue
        real = x[b, :n]
        expected.append(np.concatenate([real.max(0), real.mean(0), real[n - 1]]))
    got = GlobalConcatPooling1D()(torch.from_numpy(x), mask=torch.from_numpy(mask))
    np.testing.assert_allclose(got.numpy(), np.stack(expected), rtol=1e-6)
    # order follows `pools`; without a mask, last = the final step
    got = GlobalConcatPooling1D(("last", "max"))(torch.from_numpy(x))
    np.testing.assert_allclose(got.numpy(), np.concatenate([x[:, -1], x.max(1)], axis=1), rtol=1e-6)


def test_concat_pooling_refuses_unknown_or_repeated_pools():
    with pytest.raises(ConfigError, match="pools"):
        GlobalConcatPooling1D(("max", "median"))
    with pytest.raises(ConfigError, match="twice"):
        GlobalConcatPooling1D(("max", "max"))
    layer = GlobalConcatPooling1D(("mean", "max"))
    assert type(layer).from_config(layer.get_config()).pools == ("mean", "max")


# ---------------------------------------------------------------- MaskedMaxPooling1D
@pytest.mark.parametrize("pool", [1, 2, 4, 7])
def test_masked_max_pooling_matches_numpy_windows_from_the_first_step(pool):
    x, mask = _x_and_mask(pool)  # 6 steps; rows padded at the end, with holes, and of one step
    layer = MaskedMaxPooling1D(pool)
    y = layer(torch.from_numpy(x), mask=torch.from_numpy(mask)).numpy()
    out_mask = layer.compute_mask(torch.from_numpy(x), torch.from_numpy(mask)).numpy()
    windows = math.ceil(6 / pool)
    assert y.shape == (4, windows, 3) and out_mask.shape == (4, windows)
    for b in range(4):
        for i in range(windows):
            steps = [t for t in range(i * pool, min((i + 1) * pool, 6)) if mask[b, t]]
            assert out_mask[b, i] == bool(steps)
            expected = x[b, steps].max(axis=0) if steps else np.zeros(3)
            np.testing.assert_allclose(y[b, i], expected)
    # without a mask: every step, the last window short
    plain = layer(torch.from_numpy(x)).numpy()
    for i in range(windows):
        np.testing.assert_allclose(plain[:, i], x[:, i * pool:(i + 1) * pool].max(axis=1))
    assert layer.compute_mask(torch.from_numpy(x), None) is None


def test_masked_max_pooling_of_a_padded_text_is_the_text_alone():
    x = torch.randn(1, 5, 3)
    padded = torch.cat([x, torch.randn(1, 6, 3)], dim=1)  # 11 steps, the last 6 padding
    mask = torch.tensor([[True] * 5 + [False] * 6])
    layer = MaskedMaxPooling1D(4)
    y, m = layer(padded, mask=mask), layer.compute_mask(padded, mask)
    assert m.tolist() == [[True, True, False]]
    torch.testing.assert_close(y[:, :2], layer(x))  # MaxPooling1D(4, 'same') would centre 11 steps' windows otherwise
    assert torch.equal(y[:, 2], torch.zeros(1, 3))


def test_masked_max_pooling_gradients_reach_real_steps_only_and_errors():
    x = torch.randn(2, 5, 3, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 0, 0], [0, 0, 0, 0, 0]], dtype=torch.bool)
    MaskedMaxPooling1D(2)(x, mask=mask).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad[~mask].abs().sum() == 0 and x.grad[mask].abs().sum() > 0
    layer = MaskedMaxPooling1D(3, name="p")
    assert MaskedMaxPooling1D.from_config(json.loads(json.dumps(layer.get_config()))).pool_size == 3
    with pytest.raises(ConfigError, match="MaskedMaxPooling1D: `pool_size` must be a positive integer"):
        MaskedMaxPooling1D(0)
    with pytest.raises(ShapeError, match=r"MaskedMaxPooling1D: expected input of 3 dims \(batch, steps, channels\)"):
        layer(torch.zeros(2, 5))
    with pytest.raises(ShapeError, match="MaskedMaxPooling1D: expected a floating-point input"):
        layer(torch.zeros(2, 5, 3, dtype=torch.long))
    with pytest.raises(ShapeError, match=r"MaskedMaxPooling1D: expected a mask of shape \(batch, time\) = \(2, 5\)"):
        layer(torch.zeros(2, 5, 3), mask=torch.ones(2, 6, dtype=torch.bool))
