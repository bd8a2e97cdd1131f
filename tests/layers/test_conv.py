"""Tests of Conv1D, Conv2D and MaskedConv1D against loop-based NumPy convolutions with TensorFlow's padding."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from rnnkit.errors import ConfigError, ShapeError
from rnnkit.layers.conv import Conv1D, Conv2D, MaskedConv1D


def _tf_pads(size, kernel, stride, dilation, padding):
    """(before, after) for one axis, per TensorFlow: 'same' gives ceil(size / stride) outputs."""
    span = dilation * (kernel - 1) + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return span - 1, 0
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def _np_conv(x, w, b, strides, padding, dilation):
    """Channels-last cross-correlation by explicit loops: x (batch, *spatial, in), w (out, in, *k)."""
    rank = w.ndim - 2
    pads = [_tf_pads(x.shape[1 + i], w.shape[2 + i], strides[i], dilation[i], padding) for i in range(rank)]
    xp = np.pad(x.astype(np.float64), [(0, 0), *pads, (0, 0)])
    spans = [dilation[i] * (w.shape[2 + i] - 1) + 1 for i in range(rank)]
    outs = [(xp.shape[1 + i] - spans[i]) // strides[i] + 1 for i in range(rank)]
    y = np.zeros((x.shape[0], *outs, w.shape[0]))
    for o in np.ndindex(*outs):
        for k in np.ndindex(*w.shape[2:]):
            pos = tuple(o[i] * strides[i] + k[i] * dilation[i] for i in range(rank))
            patch = xp[(slice(None), *pos, slice(None))]  # (batch, in)
            y[(slice(None), *o, slice(None))] += patch @ w[(slice(None), slice(None), *k)].T
    return y + (0 if b is None else b)


def _randomise(layer, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=g))


# ---------------------------------------------------------------- Conv1D
@pytest.mark.parametrize(
    "steps,kernel,strides,padding,dilation",
    [(7, 3, 1, "valid", 1), (8, 3, 2, "valid", 1), (7, 2, 1, "valid", 3),
     (7, 3, 1, "same", 1), (6, 3, 2, "same", 1), (7, 4, 3, "same", 1), (8, 2, 1, "same", 1),
     (9, 3, 1, "same", 2), (5, 1, 2, "same", 1), (7, 3, 2, "same", 2),
     (6, 3, 1, "causal", 1), (8, 2, 1, "causal", 3), (7, 3, 2, "causal", 1)],
)
def test_conv1d_matches_numpy(steps, kernel, strides, padding, dilation):
    x = np.random.default_rng(steps * 7 + kernel).normal(size=(2, steps, 3)).astype(np.float32)
    layer = Conv1D(4, kernel, strides=strides, padding=padding, dilation_rate=dilation, input_size=3)
    _randomise(layer)
    expected = _np_conv(x, layer.weight.detach().numpy(), layer.bias.detach().numpy(), (strides,), padding, (dilation,))
    out = layer(torch.from_numpy(x))
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-4, atol=1e-4)
    if padding == "same":
        assert out.shape[1] == math.ceil(steps / strides)


def test_conv1d_hand_computed_same_padding_with_stride():
    def run(values, kernel_weights, **kw):
        layer = Conv1D(1, len(kernel_weights), use_bias=False, input_size=1, **kw)
        with torch.no_grad():
            layer.weight.copy_(torch.tensor(kernel_weights).reshape(1, 1, -1))
        return layer(torch.tensor(values).reshape(1, -1, 1)).flatten().tolist()

    # 5 steps, k=3, s=2: 3 outputs, 2 zeros of padding, one each side: [0 1 2 3 4 5 0]
    assert run([1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 1.0, 1.0], strides=2, padding="same") == [3.0, 9.0, 9.0]
    # 6 steps, k=3, s=2: 3 outputs, 1 zero of padding, at the end: [1 2 3 4 5 6 0]
    assert run([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [1.0, 1.0, 1.0], strides=2, padding="same") == [6.0, 12.0, 11.0]
    # a cross-correlation, not a flipped convolution: y0 = 1*1 + 0*2 - 1*3
    assert run([1.0, 2.0, 3.0, 4.0], [1.0, 0.0, -1.0]) == [-2.0, -2.0]
    # causal: 2 zeros before, y_t = x_{t-2} + 10 x_{t-1} + 100 x_t
    assert run([1.0, 2.0, 3.0], [1.0, 10.0, 100.0], padding="causal") == [100.0, 210.0, 321.0]


def test_conv1d_causal_output_ignores_the_future():
    layer = Conv1D(2, 3, padding="causal", dilation_rate=2)
    x = torch.randn(1, 10, 3)
    y = layer(x)
    x2 = x.clone()
    x2[:, 6] += 1.0
    y2 = layer(x2)
    assert torch.equal(y[:, :6], y2[:, :6])
    assert not torch.allclose(y[:, 6], y2[:, 6])


def test_conv1d_activation_and_no_bias():
    x = np.random.default_rng(0).normal(size=(2, 6, 3)).astype(np.float32)
    layer = Conv1D(5, 2, activation="relu", use_bias=False, input_size=3)
    assert layer.bias is None
    expected = np.maximum(_np_conv(x, layer.weight.detach().numpy(), None, (1,), "valid", (1,)), 0)
    np.testing.assert_allclose(layer(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-4, atol=1e-5)


def test_conv1d_lazy_build_and_init():
    torch.manual_seed(0)
    layer = Conv1D(40, 5)
    assert layer.weight is None and not layer.built
    layer(torch.zeros(2, 9, 30, dtype=torch.float64))
    assert layer.weight.shape == (40, 30, 5) and layer.weight.dtype == torch.float64
    assert layer.bias.shape == (40,) and torch.count_nonzero(layer.bias) == 0
    limit = math.sqrt(6.0 / (30 * 5 + 40 * 5))  # Keras fans include the kernel's receptive field
    assert layer.weight.abs().max() <= limit and layer.weight.abs().max() > 0.95 * limit
    eager = Conv1D(3, 2, input_size=4)
    assert eager.built and eager.weight.shape == (3, 4, 2)


def test_conv1d_errors():
    layer = Conv1D(4, 3, input_size=5)
    with pytest.raises(ShapeError, match=r"^Conv1D: expected input of 3 dims \(batch, steps, channels\), got 2 dims with shape \(4, 7\)$"):
        layer(torch.zeros(4, 7))
    with pytest.raises(ShapeError, match=r"Conv1D: built for input_size=5, got inputs with 6 channels"):
        layer(torch.zeros(2, 7, 6))
    with pytest.raises(ShapeError, match=r"Conv1D: input of shape \(2, 2, 5\) has size 2 on axis 1, smaller than the kernel's span 3"):
        layer(torch.zeros(2, 2, 5))
    with pytest.raises(ShapeError, match="Conv1D: expected a floating-point input"):
        layer(torch.zeros(2, 7, 5, dtype=torch.long))
    with pytest.raises(ConfigError, match="Conv1D: `padding` must be one of 'valid', 'same', 'causal', got 'full'"):
        Conv1D(4, 3, padding="full")
    with pytest.raises(ConfigError, match=r"Conv1D: `kernel_size` must be a positive integer or a tuple of 1 positive integer, got \(3, 3\)"):
        Conv1D(4, (3, 3))
    with pytest.raises(ConfigError, match="Conv1D: `filters` must be a positive integer"):
        Conv1D(0, 3)
    with pytest.raises(ConfigError, match="Conv1D: `strides` must be a positive integer"):
        Conv1D(2, 3, strides=0)


def test_conv1d_config_roundtrip_and_mask():
    layer = Conv1D(3, 4, strides=2, padding="same", dilation_rate=1, activation="tanh", name="c1")
    x = torch.randn(2, 9, 5)
    y = layer(x)
    config = json.loads(json.dumps(layer.get_config()))
    assert config["kernel_size"] == 4 and config["strides"] == 2 and config["input_size"] == 5
    clone = Conv1D.from_config(config)
    clone.load_state_dict(layer.state_dict())
    assert torch.equal(clone(x), y)
    assert layer.compute_mask(x, torch.ones(2, 9, dtype=torch.bool)) is None


# ---------------------------------------------------------------- MaskedConv1D
_MASK = np.array([[1, 1, 1, 1, 1, 1, 1],
                  [1, 1, 1, 1, 0, 0, 0],  # padded after its end
                  [1, 0, 0, 0, 0, 0, 0],  # one step
                  [1, 1, 0, 1, 1, 0, 0]], dtype=bool)  # a hole inside


@pytest.mark.parametrize("padding, kernel, dilation", [("same", 5, 1), ("same", 4, 1), ("causal", 3, 2)])
def test_masked_conv1d_matches_numpy_with_masked_steps_as_zeros(padding, kernel, dilation):
    rng = np.random.default_rng(kernel)
    x = rng.normal(size=(4, 7, 3)).astype(np.float32)
    layer = MaskedConv1D(5, kernel, padding=padding, dilation_rate=dilation, activation="relu")
    y = layer(torch.from_numpy(x), mask=torch.from_numpy(_MASK))
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    m = _MASK[..., None]
    expected = np.maximum(_np_conv(x * m, w, b, (1,), padding, (dilation,)), 0) * m
    np.testing.assert_allclose(y.detach().numpy(), expected, rtol=1e-5, atol=1e-5)
    # each row padded at its end gives what it gives alone (Conv1D's own zero padding past its end)
    for row, steps in ((1, 4), (2, 1)):
        alone = Conv1D.from_config(layer.get_config())
        alone.load_state_dict(layer.state_dict())
        np.testing.assert_allclose(y[row, :steps].detach().numpy(),
                                   alone(torch.from_numpy(x[row:row + 1, :steps]))[0].detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
    mask = torch.from_numpy(_MASK)
    assert torch.equal(layer.compute_mask(torch.from_numpy(x), mask), mask)  # the mask passes on
    # no mask: every step real, as Conv1D (NumPy on the raw input)
    np.testing.assert_allclose(layer(torch.from_numpy(x)).detach().numpy(),
                               np.maximum(_np_conv(x, w, b, (1,), padding, (dilation,)), 0), rtol=1e-5, atol=1e-5)


def test_masked_conv1d_errors_and_config():
    with pytest.raises(ConfigError, match=r"^MaskedConv1D: strides must be 1 \(each output step is an input step, so "
                                          r"the mask still fits\), got 2; use Conv1D for strided convolutions$"):
        MaskedConv1D(4, 3, strides=2)
    with pytest.raises(ConfigError, match="MaskedConv1D: `padding` must be one of 'same', 'causal', got 'valid'"):
        MaskedConv1D(4, 3, padding="valid")
    layer = MaskedConv1D(3, 3, input_size=2)
    with pytest.raises(ShapeError, match=r"MaskedConv1D: expected a mask of shape \(batch, time\) = \(2, 5\) for input "
                                         r"of shape \(2, 5, 2\), got mask shape \(2, 4\)"):
        layer(torch.zeros(2, 5, 2), mask=torch.ones(2, 4, dtype=torch.bool))
    config = json.loads(json.dumps(layer.get_config()))
    assert config["padding"] == "same" and config["strides"] == 1
    clone = MaskedConv1D.from_config(config)
    clone.load_state_dict(layer.state_dict())
    x, mask = torch.randn(2, 5, 2), torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(clone(x, mask=mask), layer(x, mask=mask))


# ---------------------------------------------------------------- Conv2D
@pytest.mark.parametrize(
    "hw,kernel,strides,padding,dilation",
    [((6, 5), (3, 3), (1, 1), "valid", (1, 1)), ((7, 7), (3, 2), (2, 1), "valid", (1, 2)),
     ((5, 6), (3, 3), (1, 1), "same", (1, 1)), ((6, 6), (3, 3), (2, 2), "same", (1, 1)),
     ((7, 4), (2, 4), (3, 2), "same", (1, 1)), ((6, 7), (3, 2), (1, 1), "same", (2, 3))],
)
def test_conv2d_matches_numpy(hw, kernel, strides, padding, dilation):
    x = np.random.default_rng(sum(hw)).normal(size=(2, *hw, 3)).astype(np.float32)
    layer = Conv2D(4, kernel, strides=strides, padding=padding, dilation_rate=dilation)
    out = layer(torch.from_numpy(x))
    expected = _np_conv(x, layer.weight.detach().numpy(), layer.bias.detach().numpy(), strides, padding, dilation)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-4, atol=1e-5)


def test_conv2d_valid_matches_torch_conv2d_with_copied_weights():
    layer = Conv2D(6, (3, 2), strides=(2, 1), activation="relu", input_size=4)
    _randomise(layer, 1)
    ref = torch.nn.Conv2d(4, 6, (3, 2), stride=(2, 1))
    with torch.no_grad():
        ref.weight.copy_(layer.weight)
        ref.bias.copy_(layer.bias)
    x = torch.randn(3, 9, 8, 4)
    expected = torch.relu(ref(x.permute(0, 3, 1, 2))).permute(0, 2, 3, 1)
    torch.testing.assert_close(layer(x), expected)


def test_conv2d_same_puts_the_extra_row_and_column_at_the_end():
    # 4x4 ones, 2x2 ones kernel, stride 1: padding (0, 1) on each axis, so the last row/column see zeros
    layer = Conv2D(1, 2, padding="same", use_bias=False, kernel_initializer="ones", input_size=1)
    y = layer(torch.ones(1, 4, 4, 1))[0, :, :, 0]
    expected = torch.tensor([[4.0, 4, 4, 2], [4, 4, 4, 2], [4, 4, 4, 2], [2, 2, 2, 1]])
    assert torch.equal(y, expected)


def test_conv2d_errors_config_and_lazy_build():
    with pytest.raises(ConfigError, match="Conv2D: `padding` must be one of 'valid', 'same', got 'causal'"):
        Conv2D(2, 3, padding="causal")
    with pytest.raises(ConfigError, match="Conv2D: `dilation_rate`"):
        Conv2D(2, 3, dilation_rate=(1, 0))
    layer = Conv2D(2, 3)
    assert layer.weight is None
    with pytest.raises(ShapeError, match=r"Conv2D: expected input of 4 dims \(batch, height, width, channels\), got 3 dims"):
        layer(torch.zeros(2, 5, 5))
    with pytest.raises(ShapeError, match=r"Conv2D: input of shape \(1, 5, 2, 1\) has size 2 on axis 2"):
        layer(torch.zeros(1, 5, 2, 1))
    x = torch.randn(2, 5, 6, 3)
    layer = Conv2D(2, (3, 1), strides=2, padding="SAME")
    y = layer(x)
    assert layer.weight.shape == (2, 3, 3, 1) and y.shape == (2, 3, 3, 2)
    config = json.loads(json.dumps(layer.get_config()))
    assert config["kernel_size"] == [3, 1] and config["strides"] == [2, 2] and config["padding"] == "same"
    clone = Conv2D.from_config(config)
    clone.load_state_dict(layer.state_dict())
    assert torch.equal(clone(x), y)
