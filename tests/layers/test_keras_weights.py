"""get_weights / set_weights in Keras' layout: Keras' own layers, given the same weights, compute the same."""
import numpy as np
import pytest
import torch

from rnnkit import errors
from rnnkit.layers import (Conv1D, Conv2D, Dense, Embedding, LayerNormalization, TimeDistributed)
from rnnkit.models import Sequential


def _randomize(keras_layer, seed=0):
    rng = np.random.default_rng(seed)
    keras_layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in keras_layer.get_weights()])
    return keras_layer.get_weights()


CASES = [
    ("Dense", dict(units=3, activation="tanh"), lambda: Dense(3, activation="tanh"), (2, 5, 4)),
    ("Conv1D", dict(filters=3, kernel_size=3, padding="causal"), lambda: Conv1D(3, 3, padding="causal"), (2, 7, 4)),
    ("Conv1D", dict(filters=2, kernel_size=2, strides=2, use_bias=False), lambda: Conv1D(2, 2, strides=2, use_bias=False),
     (2, 8, 3)),
    ("Conv2D", dict(filters=3, kernel_size=(3, 2), padding="same"), lambda: Conv2D(3, (3, 2), padding="same"), (2, 6, 5, 2)),
    ("LayerNormalization", dict(epsilon=1e-3), lambda: LayerNormalization(epsilon=1e-3), (2, 4, 6)),
    ("LayerNormalization", dict(center=False), lambda: LayerNormalization(center=False), (2, 6)),
]


@pytest.mark.parametrize("name, kwargs, make, shape", CASES)
def test_keras_weights_give_keras_outputs(keras, name, kwargs, make, shape):
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    theirs = getattr(keras.layers, name)(**kwargs)
    theirs.build(shape)
    weights = _randomize(theirs)
    ours = make()  # not built: set_weights builds it from the kernel's shape
    ours.set_weights(weights)
    expected = keras.ops.convert_to_numpy(theirs(x))
    np.testing.assert_allclose(ours(torch.from_numpy(x)).detach().numpy(), expected, atol=1e-5, rtol=1e-5)
    for mine, keras_w in zip(ours.get_weights(), weights):
        np.testing.assert_array_equal(mine, keras_w)


def test_embedding_and_time_distributed(keras):
    theirs = keras.layers.Embedding(7, 3)
    theirs.build((None, 4))
    ours = Embedding(7, 3)
    ours.set_weights(_randomize(theirs))
    ids = np.array([[1, 6, 0, 3]])
    np.testing.assert_allclose(ours(torch.from_numpy(ids)).detach().numpy(), keras.ops.convert_to_numpy(theirs(ids)))
    td = keras.layers.TimeDistributed(keras.layers.Dense(2))
    td.build((None, 3, 4))
    mine = TimeDistributed(Dense(2))
    mine.set_weights(_randomize(td))
    x = np.ones((1, 3, 4), "float32")
    np.testing.assert_allclose(mine(torch.from_numpy(x)).detach().numpy(), keras.ops.convert_to_numpy(td(x)), atol=1e-6)


def test_model_weights_go_layer_by_layer_and_shapes_are_checked():
    model = Sequential([Embedding(5, 2), Dense(3, input_size=2)])
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(5, 2), (2, 3), (3,)]
    model.set_weights([np.zeros_like(w) for w in weights])
    assert all(not w.any() for w in model.get_weights())
    with pytest.raises(errors.ShapeError, match=r"Dense.set_weights: kernel expected shape \(2, 3\), got \(3, 2\)"):
        model.layers[1].set_weights([np.zeros((3, 2)), np.zeros(3)])
    with pytest.raises(errors.ShapeError, match="the model has 3 weight arrays, got 4"):
        model.set_weights(weights + [weights[-1]])
