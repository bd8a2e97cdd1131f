"""The Keras call conventions tutorials rely on, each checked against what Keras 3 itself does."""
import os

import numpy as np
import pytest
import torch

from rnnkit import keras

from keras_reference import copy_keras_weights, keras_outputs

RNG = np.random.default_rng(1)


def _pair(real_keras, build):
    """The same Sequential built by ``build(namespace)`` in rnnkit and in Keras, with Keras' weights copied over."""
    ours, theirs = build(keras), build(real_keras)
    x = RNG.normal(size=(6, 4, 3)).astype(np.float32)
    theirs(x)
    ours(torch.from_numpy(x))
    copy_keras_weights(theirs, ours)
    return ours, theirs, x


def _rnn_classifier(ns):
    return ns.Sequential([ns.layers.SimpleRNN(5), ns.layers.Dense(4, activation="softmax")])


def test_predict_takes_a_list_around_the_single_input(real_keras):
    ours, theirs, x = _pair(real_keras, _rnn_classifier)
    expected = theirs.predict([x], verbose=0)
    np.testing.assert_allclose(ours.predict([x]), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.predict(x), expected, rtol=1e-5, atol=1e-6)
    assert ours.predict([x]).shape == (6, 4)


@pytest.mark.parametrize("metric", ["sparse_categorical_accuracy", "accuracy", "acc"])
def test_metric_names_are_logged_as_keras_logs_them(real_keras, metric):
    y = RNG.integers(0, 4, 6)
    keys = []
    for ns in (keras, real_keras):
        model = _rnn_classifier(ns)
        model.compile(optimizer=ns.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=[metric])
        history = model.fit(RNG.normal(size=(6, 4, 3)).astype(np.float32), y, epochs=2, verbose=0)
        assert isinstance(history.history, dict) and all(len(v) == 2 for v in history.history.values())
        keys.append(set(history.history))
    ours, theirs = keys
    assert theirs <= ours and ours - theirs == {"lr", "grad_norm"}  # rnnkit adds the learning rate and gradient norm


def test_validation_freq_validates_every_nth_epoch_as_keras(real_keras):
    x, y = RNG.normal(size=(8, 4, 3)).astype(np.float32), RNG.integers(0, 4, 8)
    for ns in (keras, real_keras):
        model = _rnn_classifier(ns)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        history = model.fit(x, y, epochs=5, validation_data=(x, y), validation_freq=2, verbose=0)
        assert len(history.history["loss"]) == 5 and len(history.history["val_loss"]) == 2, ns.__name__
    with pytest.raises(ValueError, match="validation_freq"):
        model = _rnn_classifier(keras)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, validation_freq=0, verbose=0)


def test_checkpoint_of_weights_is_written_at_the_given_path_and_read_back(tmp_path):
    x, y = RNG.normal(size=(8, 4, 3)).astype(np.float32), RNG.integers(0, 4, 8)
    path = tmp_path / "checkpoint" / "rnn.weights.h5"
    model = _rnn_classifier(keras)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=["sparse_categorical_accuracy"])
    cp = keras.callbacks.ModelCheckpoint(filepath=str(path), save_weights_only=True, save_best_only=True, monitor="loss")
    history = model.fit(x, y, batch_size=32, epochs=4, callbacks=[cp], verbose=0)
    assert os.listdir(tmp_path / "checkpoint") == ["rnn.weights.h5"]
    assert cp.best == min(history.history["loss"])
    fresh = _rnn_classifier(keras)
    fresh.load_weights(str(path))  # builds the lazy layers from the file's shapes
    model.load_weights(str(path))
    np.testing.assert_array_equal(fresh.predict(x), model.predict(x))


def test_checkpoint_of_the_whole_model_is_a_keras_file_both_load(real_keras, tmp_path):
    """ModelCheckpoint("best.keras") writes what model.save writes for the name, a Keras 3 file: rnnkit's
    keras.models.load_model and Keras' own load it and predict what the model predicts."""
    x, y = RNG.normal(size=(8, 4, 3)).astype(np.float32), RNG.integers(0, 4, 8)
    model = _rnn_classifier(keras)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    path = str(tmp_path / "best.keras")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[keras.callbacks.ModelCheckpoint(path, monitor="loss")])
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again.predict(x), model.predict(x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(real_keras.models.load_model(path).predict(x, verbose=0), model.predict(x),
                               rtol=1e-5, atol=1e-6)
    keras.saving.save_model(again, tmp_path / "copy.keras")
    with pytest.raises(ValueError, match="overwrite=False"):
        keras.saving.save_model(again, tmp_path / "copy.keras", overwrite=False)


@pytest.mark.parametrize("name", ["keras_made.keras", "keras_made.h5"])
def test_a_keras_made_file_loads_through_keras_models_load_model(real_keras, tmp_path, name):
    theirs = _rnn_classifier(real_keras)
    x = RNG.normal(size=(3, 4, 3)).astype(np.float32)
    expected = np.asarray(theirs.predict(x, verbose=0))
    path = str(tmp_path / name)
    theirs.save(path)
    ours = keras.models.load_model(path)
    np.testing.assert_allclose(ours.predict(x), expected, atol=1e-5)


def test_summary_after_fit_and_parameter_counts_against_keras(real_keras, capsys):
    def build(ns):
        return ns.Sequential([ns.layers.Embedding(50, 8), ns.layers.LSTM(16, return_sequences=True),
                              ns.layers.GRU(6), ns.layers.Dense(3)])
    ours, theirs = build(keras), build(real_keras)
    ids = RNG.integers(1, 50, (4, 7))
    theirs(ids)
    ours.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    ours.fit(ids, RNG.integers(0, 3, 4), epochs=1, verbose=0)
    ours.summary()
    printed = capsys.readouterr().out
    counts = [sum(p.numel() for p in layer.parameters()) for layer in ours.layers]
    expected = [layer.count_params() for layer in theirs.layers]
    # Embedding, GRU (reset_after: both biases in Keras too) and Dense match; rnnkit's LSTM keeps PyTorch's second bias
    assert counts[0] == expected[0] and counts[2:] == expected[2:]
    assert counts[1] == expected[1] + 4 * 16
    assert f"Total params: {sum(counts):,}" in printed and "(None, 7, 16)" in printed and "(None, 3)" in printed


@pytest.mark.parametrize("make", [
    lambda ns: ns.layers.LSTM(8, input_shape=(None, 3)),
    lambda ns: ns.layers.GRU(8, input_shape=(5, 3)),
    lambda ns: ns.layers.SimpleRNN(8, input_shape=(5, 3)),
    lambda ns: ns.layers.Bidirectional(ns.layers.LSTM(4, return_sequences=True), input_shape=(5, 3)),
    lambda ns: ns.layers.Dense(2, input_dim=3),
    lambda ns: ns.layers.Conv1D(4, 3, input_shape=(10, 3)),
])
def test_input_shape_builds_the_weights_at_construction_with_keras_shapes(real_keras, make):
    ours = make(keras)
    assert ours.built
    theirs = real_keras.Sequential([make(real_keras)]).layers[0]  # Keras builds it through the Sequential
    if hasattr(ours, "get_weights"):
        assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    else:
        assert sum(p.numel() for p in ours.parameters()) == theirs.count_params()


def test_bad_input_shapes_are_one_line_errors():
    for kwargs in ({"input_shape": (0, 3)}, {"input_shape": "60x1"}, {"input_dim": 2.5}):
        with pytest.raises(ValueError, match=r"input_(shape|dim)") as info:
            keras.layers.LSTM(4, **kwargs)
        assert "\n" not in str(info.value)
    with pytest.raises(TypeError):
        keras.Sequential([], input_shape=(3,))  # a layer's argument in Keras, not a model's


def _subclassed(ns):
    class Regressor(ns.Model):
        def __init__(self):
            super().__init__()
            self.rnn = ns.layers.LSTM(8)
            self.drop = ns.layers.Dropout(0.5)
            self.head = ns.layers.Dense(1)

        def call(self, inputs, training=False):
            return self.head(self.drop(self.rnn(inputs), training=training))

    return Regressor()


def test_subclassed_keras_model_with_call_and_training(real_keras):
    ours, theirs = _subclassed(keras), _subclassed(real_keras)
    x = RNG.normal(size=(16, 5, 3)).astype(np.float32)
    theirs(x)
    ours(torch.from_numpy(x))
    ours.rnn.set_weights(theirs.rnn.get_weights())
    kernel, bias = theirs.head.get_weights()
    with torch.no_grad():
        ours.head.weight.copy_(torch.from_numpy(kernel.T))
        ours.head.bias.copy_(torch.from_numpy(bias))
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    xt = torch.from_numpy(x)
    ours.eval()
    assert not torch.equal(ours(xt, training=True), ours(xt, training=True))  # dropout on for that call only
    assert not ours.training and not ours.drop.training
    ours.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", device="cpu")
    history = ours.fit(x, RNG.normal(size=(16, 1)).astype(np.float32), epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3
    np.testing.assert_array_equal(ours.predict(x), ours.predict(x))  # predict: training=False


def test_a_layer_called_with_training_runs_that_mode_as_keras_dropout(real_keras):
    x = np.ones((2000,), np.float32)
    ours = keras.layers.Dropout(0.5).eval()
    dropped = ours(torch.from_numpy(x), training=True).numpy()
    theirs = keras_outputs(lambda v: real_keras.layers.Dropout(0.5)(v, training=True), x)
    for out in (dropped, theirs):
        assert set(np.unique(out)) == {0.0, 2.0} and 0.4 < (out == 0).mean() < 0.6
    assert not ours.training
    train_mode = keras.layers.Dropout(0.5).train()
    np.testing.assert_array_equal(train_mode(torch.from_numpy(x), training=False).numpy(), x)
