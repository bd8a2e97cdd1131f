"""Tests of TimeDistributed: per-step application, lazy build, masks and nested config."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnnkit.errors import ConfigError, ShapeError
from rnnkit.layers.conv import Conv2D
from rnnkit.layers.core import Dense, Flatten
from rnnkit.layers.embedding import Embedding
from rnnkit.layers.normalization import LayerNormalization
from rnnkit.layers.wrappers import TimeDistributed


def test_dense_on_every_step_matches_numpy():
    td = TimeDistributed(Dense(4, activation="relu", input_size=3))
    with torch.no_grad():
        td.layer.bias.uniform_(-1, 1)
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32)
    w, b = td.layer.weight.detach().numpy(), td.layer.bias.detach().numpy()
    expected = np.stack([np.maximum(x[:, t] @ w.T + b, 0) for t in range(5)], axis=1)
    out = td(torch.from_numpy(x))
    assert out.shape == (2, 5, 4)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_conv2d_on_video_frames_matches_a_loop_over_frames():
    conv = Conv2D(3, 3, padding="same")
    td = TimeDistributed(conv)
    x = torch.randn(2, 4, 6, 5, 2)  # (batch, frames, height, width, channels)
    out = td(x)
    assert out.shape == (2, 4, 6, 5, 3)
    for t in range(4):
        torch.testing.assert_close(out[:, t], conv(x[:, t]))
    # a layer that changes the rank per step: (batch, time, h, w, c) -> (batch, time, h*w*c)
    assert TimeDistributed(Flatten())(x).shape == (2, 4, 60)


def test_inner_layer_is_built_lazily():
    td = TimeDistributed(Dense(6))
    assert td.layer.weight is None and not td.built
    assert list(td.parameters()) == []
    td(torch.randn(3, 2, 7, dtype=torch.float64))
    assert td.built and td.layer.weight.shape == (6, 7) and td.layer.weight.dtype == torch.float64
    assert [name for name, _ in td.named_parameters()] == ["layer.weight", "layer.bias"]
    explicit = TimeDistributed(Conv2D(2, 3))
    explicit.build((None, None, 8, 8, 5))
    assert explicit.layer.weight.shape == (2, 5, 3, 3)


def test_mask_passes_through_or_comes_from_the_inner_layer():
    x = torch.randn(2, 3, 4)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    td = TimeDistributed(Dense(2))
    assert td.supports_masking
    assert td.compute_mask(x, mask) is mask
    assert td.compute_mask(x, None) is None
    # the mask is not used by the per-step computation
    assert torch.equal(td(x, mask=mask), td(x))

    ids = torch.tensor([[[4, 2, 0], [0, 0, 0]], [[1, 0, 0], [3, 3, 3]]])  # (batch, sentences, words)
    emb = TimeDistributed(Embedding(5, 2, mask_zero=True))
    assert emb(ids).shape == (2, 2, 3, 2)
    np.testing.assert_array_equal(emb.compute_mask(ids).numpy(), ids.numpy() != 0)


def test_errors():
    with pytest.raises(ConfigError, match=r"TimeDistributed: `layer` must be an rnnkit Layer \(a torch.nn.Module\), got 3"):
        TimeDistributed(3)
    td = TimeDistributed(Dense(2))
    with pytest.raises(ShapeError, match=r"TimeDistributed: expected input of at least 3 dims \(batch, time, \.\.\.\), got 2 dims with shape \(4, 7\)"):
        td(torch.zeros(4, 7))
    with pytest.raises(ShapeError, match="changed the batch size"):
        TimeDistributed(torch.nn.Flatten(0))(torch.zeros(2, 3, 4))
    with pytest.raises(ConfigError, match="only rnnkit Layer subclasses have get_config"):
        TimeDistributed(torch.nn.Linear(3, 2)).get_config()
    with pytest.raises(ConfigError, match=r"unknown layer class 'Nope'.*custom_objects"):
        TimeDistributed.from_config({"name": "td", "layer": {"class_name": "Nope", "config": {}}})
    with pytest.raises(ConfigError, match=r"expected a dict with 'class_name' and 'config'"):
        TimeDistributed.from_config({"name": "td"})


def test_config_roundtrip_rebuilds_the_inner_layer():
    td = TimeDistributed(Dense(3, activation="sigmoid"), name="per_step")
    x = torch.randn(2, 4, 5)
    y = td(x)
    config = td.get_config()
    assert config["name"] == "per_step"
    assert config["layer"]["class_name"] == "Dense"
    assert config["layer"]["config"] == td.layer.get_config()
    clone = TimeDistributed.from_config(json.loads(json.dumps(config)))
    assert type(clone.layer) is Dense and clone.layer.built
    clone.load_state_dict(td.state_dict())
    assert torch.equal(clone(x), y)


def test_nested_and_custom_layers_roundtrip():
    nested = TimeDistributed(TimeDistributed(LayerNormalization(input_size=4)))
    x = torch.randn(2, 3, 5, 4)
    clone = TimeDistributed.from_config(json.loads(json.dumps(nested.get_config())))
    assert type(clone.layer.layer) is LayerNormalization
    assert torch.equal(clone(x), nested(x))

    class Doubler(Dense):
        pass

    custom = TimeDistributed(Doubler(2, input_size=4))
    config = json.loads(json.dumps(custom.get_config()))
    with pytest.raises(ConfigError, match="unknown layer class 'Doubler'"):
        TimeDistributed.from_config(config)
    rebuilt = TimeDistributed.from_config(config, custom_objects={"Doubler": Doubler})
    assert type(rebuilt.layer) is Doubler


def test_recurrent_inner_layer_encodes_each_sentence():
    from rnnkit.layers import LSTM

    lstm = LSTM(4)
    td = TimeDistributed(lstm)
    x = torch.randn(2, 3, 5, 6)  # (batch, sentences, words, features)
    out = td(x)
    assert out.shape == (2, 3, 4)
    for s in range(3):
        torch.testing.assert_close(out[:, s], lstm(x[:, s]))
    clone = TimeDistributed.from_config(json.loads(json.dumps(td.get_config())))
    assert type(clone.layer) is LSTM
    clone.load_state_dict(td.state_dict())
    torch.testing.assert_close(clone(x), out)
