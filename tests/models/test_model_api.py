"""Model API: summary counts, callbacks order, early stopping, save/load round trips, errors."""
import pickle

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.errors import CheckpointError, ConfigError, NotCompiledError, ShapeError
from rnnkit.layers import LSTM, Dense, Embedding
from rnnkit.models import Model, Sequential, load_model
from rnnkit.training.callbacks import Callback, EarlyStopping


def _data(n=64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 6, 3, generator=g)
    y = (x.sum(dim=(1, 2)) > 0).long()
    return x, y


def _model():
    model = Sequential([LSTM(8), Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], device="cpu")
    return model


def test_summary_counts_equal_real_parameter_counts(capsys):
    model = Sequential([Embedding(100, 8), LSTM(16), Dense(4)])
    model(torch.zeros(2, 5, dtype=torch.long))
    model.summary()
    out = capsys.readouterr().out
    # hand-computed: 100*8; 4*16*(8+16) + 2*4*16; 16*4 + 4
    assert f"Total params: {800 + 1536 + 128 + 68:,}" in out
    assert "(None, 5, 8)" in out and "(None, 16)" in out and "(None, 4)" in out
    assert sum(p.numel() for p in model.parameters()) == 800 + 1536 + 128 + 68


def test_callbacks_fire_in_order_and_early_stopping_stops():
    events = []

    class Recorder(Callback):
        def on_train_begin(self, logs=None):
            events.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            events.append(f"epoch_begin {epoch}")

        def on_train_batch_end(self, batch, logs=None):
            events.append(f"batch_end {batch}")

        def on_test_begin(self, logs=None):
            events.append("test_begin")

        def on_epoch_end(self, epoch, logs=None):
            events.append(f"epoch_end {epoch} {sorted(logs)}")

        def on_train_end(self, logs=None):
            events.append("train_end")

    x, y = _data(16)
    model = _model()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[Recorder()], validation_data=(x, y))
    assert events == [
        "train_begin", "epoch_begin 0", "batch_end 0", "batch_end 1", "test_begin",
        "epoch_end 0 ['accuracy', 'grad_norm', 'loss', 'lr', 'val_accuracy', 'val_loss']", "train_end",
    ]
    model = _model()
    model.compile(optimizer=rnnkit.optimizers.SGD(learning_rate=0.0), loss="sparse_categorical_crossentropy", device="cpu")
    history = model.fit(x, y, epochs=20, verbose=0, shuffle=False, callbacks=[EarlyStopping(monitor="loss", patience=2)])
    assert len(history.epoch) == 3  # lr 0: no improvement after the first epoch, patience 2


def test_save_and_load_give_identical_predictions_and_optimizer_state(tmp_path):
    rnnkit.set_seed(0)
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=2, verbose=0)
    path = tmp_path / "model.safetensors"
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    # training continues identically from the restored optimizer state
    rnnkit.set_seed(1)
    model.fit(x, y, epochs=1, verbose=0, shuffle=False)
    rnnkit.set_seed(1)
    loaded.fit(x, y, epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-6, atol=1e-7)
    weights = tmp_path / "weights.safetensors"
    model.save_weights(weights)
    fresh = Sequential([LSTM(8), Dense(2, activation="softmax")])
    fresh.load_weights(weights)
    np.testing.assert_array_equal(fresh.predict(x), model.predict(x))


def test_bad_files_are_refused_with_clear_errors(tmp_path):
    model = _model()
    model(torch.zeros(1, 6, 3))
    path = tmp_path / "m.safetensors"
    model.save(path)
    data = path.read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_model(tmp_path / "truncated.safetensors")
    tampered = bytearray(data)
    tampered[-5] ^= 0xFF
    (tmp_path / "tampered.safetensors").write_bytes(bytes(tampered))
    with pytest.raises(CheckpointError):
        load_model(tmp_path / "tampered.safetensors")
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (tmp_path / "evil.safetensors").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError):
        load_model(tmp_path / "evil.safetensors")
    assert not marker.exists()


def test_errors_before_compile_and_for_subclassed_save(tmp_path):
    with pytest.raises(NotCompiledError, match=r"call compile\(optimizer=..., loss=...\) first"):
        Sequential([Dense(1)]).fit(np.zeros((2, 3)), np.zeros((2, 1)), verbose=0)
    with pytest.raises(ConfigError, match="`loss` is required"):
        Sequential([Dense(1)]).compile(optimizer="adam")

    class Net(Model):
        def __init__(self):
            super().__init__()
            self.dense = Dense(1)

        def forward(self, x):
            return self.dense(x)

    net = Net()
    net.compile(loss="mse", device="cpu")
    net.fit(np.zeros((4, 3), np.float32), np.zeros((4, 1), np.float32), verbose=0)
    with pytest.raises(ConfigError, match="use save_weights"):
        net.save(tmp_path / "net.safetensors")
    net.save_weights(tmp_path / "net.safetensors")
    other = Net()
    other.load_weights(tmp_path / "net.safetensors")
    torch.testing.assert_close(other.dense.weight, net.dense.weight)
    with pytest.raises(ShapeError, match="x has 4 examples but y has 3; they must match"):
        _model().fit(np.zeros((4, 6, 3), np.float32), np.zeros(3, np.int64), verbose=0)


def test_nan_loss_stops_training_with_a_message():
    model = Sequential([Dense(1)])
    model.compile(optimizer=rnnkit.optimizers.SGD(learning_rate=1e30), loss="mse", device="cpu")
    x = np.ones((8, 2), np.float32) * 1e10
    with pytest.warns(RuntimeWarning, match=r"loss became (nan|inf) at epoch \d+, step \d+"):
        history = model.fit(x, np.ones((8, 1), np.float32), epochs=50, batch_size=4, verbose=0)
    assert len(history.epoch) < 50
