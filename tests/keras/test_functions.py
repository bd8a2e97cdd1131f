"""keras.losses and keras.metrics, classes and functions, against Keras 3's own on the same numbers."""
import numpy as np
import pytest
import torch

from rnnkit import keras

RNG = np.random.default_rng(0)


def _probs(*shape):
    p = RNG.uniform(0.05, 1.0, shape).astype(np.float32)
    return p / p.sum(-1, keepdims=True)


def _cases():
    ids = RNG.integers(0, 4, (6, 3))
    onehot = np.eye(4, dtype=np.float32)[ids]
    binary = RNG.integers(0, 2, (6, 3)).astype(np.float32)
    real = RNG.normal(size=(6, 3)).astype(np.float32)
    return [
        ("mean_squared_error", {}, real, RNG.normal(size=(6, 3)).astype(np.float32)),
        ("mean_absolute_error", {}, real, RNG.normal(size=(6, 3)).astype(np.float32)),
        ("huber", {"delta": 0.7}, real, 2 * RNG.normal(size=(6, 3)).astype(np.float32)),
        ("binary_crossentropy", {}, binary, RNG.uniform(0.01, 0.99, (6, 3)).astype(np.float32)),
        ("binary_crossentropy", {"from_logits": True, "label_smoothing": 0.1}, binary,
         RNG.normal(size=(6, 3)).astype(np.float32)),
        ("categorical_crossentropy", {}, onehot, _probs(6, 3, 4)),
        ("categorical_crossentropy", {"from_logits": True}, onehot, RNG.normal(size=(6, 3, 4)).astype(np.float32)),
        ("sparse_categorical_crossentropy", {}, ids, _probs(6, 3, 4)),
        ("sparse_categorical_crossentropy", {"from_logits": True}, ids, RNG.normal(size=(6, 3, 4)).astype(np.float32)),
    ]


CASES = _cases()


def _np(value):
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


@pytest.mark.parametrize("name, kwargs, y_true, y_pred", CASES, ids=[f"{c[0]}{sorted(c[1])}" for c in CASES])
def test_loss_functions_give_keras_per_example_values(real_keras, name, kwargs, y_true, y_pred):
    ours = getattr(keras.losses, name)(y_true, y_pred, **kwargs)
    theirs = getattr(real_keras.losses, name)(y_true, y_pred, **kwargs)
    assert tuple(ours.shape) == tuple(_np(theirs).shape)
    np.testing.assert_allclose(_np(ours), _np(theirs), rtol=1e-5, atol=1e-6)
    # the metric namespace holds the same functions, as in Keras
    assert getattr(keras.metrics, name) is getattr(keras.losses, name)


CLASSES = [("MeanSquaredError", "mean_squared_error"), ("MeanAbsoluteError", "mean_absolute_error"),
           ("Huber", "huber"), ("BinaryCrossentropy", "binary_crossentropy"),
           ("CategoricalCrossentropy", "categorical_crossentropy"),
           ("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy")]


@pytest.mark.parametrize("class_name, function", CLASSES)
def test_loss_classes_reduce_as_keras(real_keras, class_name, function):
    for name, kwargs, y_true, y_pred in CASES:
        if name != function:
            continue
        ours = getattr(keras.losses, class_name)(**kwargs)(y_true, y_pred)
        theirs = getattr(real_keras.losses, class_name)(**kwargs)(y_true, y_pred)
        np.testing.assert_allclose(float(ours), float(_np(theirs)), rtol=1e-5)


def test_keras_2_short_names_are_the_functions():
    assert keras.losses.mse is keras.losses.mean_squared_error and keras.losses.mae is keras.losses.mean_absolute_error


def test_a_target_without_the_trailing_unit_axis_is_accepted_as_in_keras(real_keras):
    y_true, y_pred = RNG.normal(size=(5,)).astype(np.float32), RNG.normal(size=(5, 1)).astype(np.float32)
    np.testing.assert_allclose(_np(keras.losses.mean_squared_error(y_true, y_pred)),
                               _np(real_keras.losses.mean_squared_error(y_true, y_pred)), rtol=1e-6)


def test_metric_functions_give_keras_per_example_values(real_keras):
    ids = RNG.integers(0, 4, (8,))
    probs = _probs(8, 4)
    onehot = np.eye(4, dtype=np.float32)[RNG.integers(0, 4, (8,))]
    binary, scores = RNG.integers(0, 2, (8, 3)).astype(np.float32), RNG.uniform(size=(8, 3)).astype(np.float32)
    for name, args in [("sparse_categorical_accuracy", (ids, probs)), ("categorical_accuracy", (onehot, probs)),
                       ("binary_accuracy", (binary, scores))]:
        ours, theirs = getattr(keras.metrics, name)(*args), getattr(real_keras.metrics, name)(*args)
        np.testing.assert_allclose(_np(ours), _np(theirs), err_msg=name)
    np.testing.assert_allclose(_np(keras.metrics.binary_accuracy(binary, scores, threshold=0.3)),
                               _np(real_keras.metrics.binary_accuracy(binary, scores, threshold=0.3)))


@pytest.mark.parametrize("name", ["SparseCategoricalAccuracy", "CategoricalAccuracy", "BinaryAccuracy",
                                  "MeanSquaredError", "MeanAbsoluteError", "RootMeanSquaredError"])
def test_metric_classes_stream_as_keras(real_keras, name):
    if "Accuracy" in name and name != "BinaryAccuracy":
        batches = [(RNG.integers(0, 4, (5,)), _probs(5, 4)) for _ in range(3)]
        if name == "CategoricalAccuracy":
            batches = [(np.eye(4, dtype=np.float32)[y], p) for y, p in batches]
    elif name == "BinaryAccuracy":
        batches = [(RNG.integers(0, 2, (5, 1)).astype(np.float32), RNG.uniform(size=(5, 1)).astype(np.float32))
                   for _ in range(3)]
    else:
        batches = [(RNG.normal(size=(4, 2)).astype(np.float32), RNG.normal(size=(4, 2)).astype(np.float32))
                   for _ in range(3)]
    ours, theirs = getattr(keras.metrics, name)(), getattr(real_keras.metrics, name)()
    for y_true, y_pred in batches:
        ours.update_state(torch.as_tensor(y_true), torch.as_tensor(y_pred))
        theirs.update_state(y_true, y_pred)
    assert ours.result() == pytest.approx(float(_np(theirs.result())), rel=1e-5)
