"""NaN and infinities: refused in the inputs of fit/evaluate/predict with their exact place, and a loss that explodes
mid-training stops it with the step and the last good checkpoint named, that checkpoint left as it was."""
import math
import re
import warnings

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.errors import ConfigError
from rnnkit.layers import LSTM, Dense, Embedding, Masking
from rnnkit.models import Sequential
from rnnkit.training import data as data_module
from rnnkit.training.callbacks import ModelCheckpoint


def _model(*layers):
    model = Sequential(list(layers) or [LSTM(4), Dense(1)])
    model.compile(optimizer="sgd", loss="mse", device="cpu")
    return model


def _arrays(n=12, steps=5, features=3):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, steps, features)).astype(np.float32), rng.normal(size=(n, 1)).astype(np.float32)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("call", ["fit", "evaluate", "predict"])
def test_a_planted_value_is_named_at_its_sample_step_and_feature(call, bad):
    x, y = _arrays()
    x[7, 3, 2] = bad
    x[9, 0, 0] = np.nan  # a later one: the first is named
    model = _model()
    before = [p.detach().clone() for p in model.parameters()]
    run = {"fit": lambda: model.fit(x, y, epochs=1, verbose=0), "evaluate": lambda: model.evaluate(x, y),
           "predict": lambda: model.predict(x)}[call]
    with pytest.raises(ConfigError) as info:
        run()
    message = str(info.value)
    assert message == (f"{call}: x holds {float(bad)} at x[7, 3, 2] (sample 7, step 3, feature 2); clean the data first: "
                       "fix or drop that sample (np.nan_to_num replaces NaN and infinities)")
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # not one step trained on it


def test_targets_validation_data_and_several_inputs_are_checked_too():
    x, y = _arrays()
    y[4, 0] = np.nan
    with pytest.raises(ConfigError, match=re.escape("fit: y holds nan at y[4, 0] (sample 4, target 0)")):
        _model().fit(x, y, verbose=0)
    y[4, 0] = 0.0
    vx = x.copy()
    vx[2, 1, 0] = np.inf
    with pytest.raises(ConfigError, match=re.escape("fit: validation_data: x holds inf at x[2, 1, 0] (sample 2, step 1,")):
        _model().fit(x, y, validation_data=(vx, y), verbose=0)
    # 2-D features and a tuple of inputs: the input and its index are named
    flat = np.zeros((6, 4), np.float32)
    flat[5, 3] = -np.inf
    with pytest.raises(ConfigError, match=re.escape("predict: x[1] holds -inf at x[1][5, 3] (sample 5, feature 3)")):
        data_module.check_finite((torch.zeros(6, 2), torch.from_numpy(flat)), "x", "predict")


def test_a_batch_of_an_iterable_is_named_by_its_number_and_row():
    x, y = _arrays(16)
    x[13, 4, 1] = np.nan  # batch 4 (of 4 rows), row 1
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                         batch_size=4)
    model = _model()
    model.fit(loader, epochs=1, verbose=0, steps_per_epoch=3)  # the first three batches are clean: trained on
    with pytest.raises(ConfigError, match=re.escape("fit, epoch 1: batch 4 of x holds nan at x[1, 4, 1] (row 1, step 4, "
                                                    "feature 1); clean the data first: fix or drop that example")):
        model.fit(loader, epochs=1, verbose=0)
    with pytest.raises(ConfigError, match=re.escape("evaluate: batch 4 of x holds nan at x[1, 4, 1]")):
        model.evaluate(loader)


def test_integer_token_ids_are_not_looked_at(monkeypatch):
    seen = []
    real = data_module._first_bad
    monkeypatch.setattr(data_module, "_first_bad", lambda t, allowed: seen.append(t.dtype) or real(t, allowed))
    tokens = torch.randint(1, 20, (8, 6))
    model = _model(Embedding(20, 4), LSTM(3), Dense(1))
    model.fit(tokens, torch.zeros(8, 1), epochs=1, verbose=0)
    model.predict(tokens)
    assert seen == [torch.float32]  # y only: the int64 ids were not scanned


def test_infinite_padding_of_a_masking_layer_is_not_bad_data():
    x, y = _arrays()
    x[:, 3:, :] = -np.inf  # every step from 3 on is padding for Masking(-inf)
    model = _model(Masking(mask_value=-np.inf), LSTM(4), Dense(1))
    history = model.fit(x, y, epochs=1, verbose=0)
    assert math.isfinite(history.history["loss"][0])
    x[0, 1, 1] = np.nan  # a NaN is bad data still
    with pytest.raises(ConfigError, match=re.escape("x holds nan at x[0, 1, 1]")):
        model.fit(x, y, verbose=0)


def test_an_exploding_loss_stops_with_the_step_and_the_last_good_checkpoint_named(tmp_path):
    """The loss turns NaN in epoch 3: the warning names epoch 3 and its step and the checkpoint of epoch 2,
    which is left byte for byte (the cut epoch is neither counted nor logged nor saved)."""
    rnnkit.set_seed(0)
    x, y = _arrays(16)
    model = _model(LSTM(4), Dense(1))
    path = tmp_path / "ckpt.safetensors"
    state = {}

    class Explode(rnnkit.training.callbacks.Callback):  # the learning rate jumps at epoch 3, step 2
        def on_train_batch_begin(self, batch, logs=None):
            if self.model.epochs_done == 2 and batch == 1:
                state["good"] = path.read_bytes()
                for group in self.model.optimizer.param_groups:
                    group["lr"] = 1e30

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, epochs=5, batch_size=4, shuffle=False, verbose=0,
                            callbacks=[Explode(), ModelCheckpoint(path, monitor="loss", save_weights_only=False)])
    messages = [str(w.message) for w in caught if "loss became" in str(w.message)]
    assert len(messages) == 1, [str(w.message) for w in caught]
    assert re.match(r"fit: the loss became (nan|inf) at epoch 3, step [34]; training stopped before that step changed the "
                    r"weights, and the epoch was not counted nor saved; the last good checkpoint is "
                    + re.escape(repr(str(path))), messages[0]), messages[0]
    assert model.epochs_done == 2 and len(history.history["loss"]) == 2
    assert path.read_bytes() == state["good"]  # epoch 2's checkpoint, untouched
    assert all(torch.isfinite(p).all() for p in model.parameters())
