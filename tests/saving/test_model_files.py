"""Model files through rnnkit.saving: whole models with classes of your own, weights files, wrong files."""
import json
import struct

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.errors import CheckpointError, ConfigError
from rnnkit.layers import GRU, Dense, Layer
from rnnkit.models import Sequential
from rnnkit.saving import (load_file, load_model, load_weights, register_serializable, restore_training_state,
                           save_model, save_weights)


@register_serializable(package="test_model_files")
class Shift(Layer):
    """A layer of the user's own with a weight, registered by package."""

    def __init__(self, size, name=None):
        super().__init__(name=name)
        self.size = size
        self.offset = torch.nn.Parameter(torch.zeros(size))

    def forward(self, x):
        return x + self.offset

    def get_config(self):
        return {**super().get_config(), "size": self.size}


class Unregistered(Shift):
    pass


def _model(extra):
    rnnkit.set_seed(0)
    model = Sequential([GRU(4, input_size=3, return_sequences=True), extra(4), Dense(2)])
    with torch.no_grad():
        model.layers[1].offset.copy_(torch.arange(4.0))
    model(torch.zeros(1, 1, 3))  # builds the Dense layer
    return model


def test_a_registered_class_of_your_own_loads_without_custom_objects(tmp_path):
    model = _model(Shift)
    model.compile(optimizer="adam", loss="mse", device="cpu")
    model.fit(np.zeros((4, 5, 3), np.float32), np.ones((4, 5, 2), np.float32), epochs=1, verbose=0)
    path = tmp_path / "m.safetensors"
    save_model(model, path)
    _, meta = load_file(path)
    assert meta["config"]["layers"][1]["registered_name"] == "test_model_files>Shift"
    loaded = load_model(path)
    x = torch.randn(2, 5, 3)
    assert type(loaded.layers[1]) is Shift
    torch.testing.assert_close(loaded.layers[1].offset, model.layers[1].offset, rtol=0, atol=0)
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    state = loaded.optimizer.state_dict()["state"]
    torch.testing.assert_close(state[0]["exp_avg"], model.optimizer.state_dict()["state"][0]["exp_avg"], rtol=0, atol=0)
    assert load_model(path, compile=False).optimizer is None


def test_an_unregistered_class_needs_custom_objects(tmp_path):
    model = _model(Unregistered)
    path = tmp_path / "m.safetensors"
    save_model(model, path)
    with pytest.raises(ConfigError, match=r"unknown layer class 'Unregistered'; pass custom_objects="):
        load_model(path)
    loaded = load_model(path, custom_objects={"Unregistered": Unregistered})
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_weights_files_and_their_limits(tmp_path):
    model = _model(Shift)
    weights = tmp_path / "w.safetensors"
    save_weights(model, weights)
    # independent reading of the file: safetensors framing, the tensors under their state_dict names
    raw = weights.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    assert sorted(k for k in header if k != "__metadata__") == sorted(model.state_dict())
    fresh = _model(Shift)
    with torch.no_grad():
        fresh.layers[1].offset.zero_()
    load_weights(fresh, weights)
    np.testing.assert_array_equal(fresh.layers[1].offset.detach().numpy(), np.arange(4.0))
    with pytest.raises(CheckpointError, match="holds 'rnnkit.weights', not a whole model"):
        load_model(weights)
    with pytest.raises(CheckpointError, match="is not a training checkpoint"):
        restore_training_state(model, weights)
    with pytest.raises(CheckpointError, match="does not fit this model"):
        load_weights(Sequential([Dense(2, input_size=7)]), weights)


def _regularised_model():
    """An AWD-style classifier: embedding dropout, locked dropout, DropConnect in a BiLSTM (and its padding mask)."""
    from rnnkit.layers import LSTM, Bidirectional, Embedding, GlobalMaxPooling1D, SpatialDropout1D

    rnnkit.set_seed(0)
    model = Sequential([Embedding(20, 6, mask_zero=True, embeddings_dropout=0.2), SpatialDropout1D(0.3),
                        Bidirectional(LSTM(5, recurrent_weight_dropout=0.5, return_sequences=True)),
                        GlobalMaxPooling1D(), Dense(2)])
    ids = torch.tensor([[3, 9, 4, 0, 0], [11, 2, 19, 7, 5]])
    model(ids)
    return model, ids


def test_the_regularisation_options_survive_save_and_load(tmp_path):
    model, ids = _regularised_model()
    save_model(model, tmp_path / "m.safetensors")
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.layers[0].embeddings_dropout == 0.2
    assert type(loaded.layers[1]).__name__ == "SpatialDropout1D" and loaded.layers[1].rate == 0.3
    assert [d.cell.recurrent_weight_dropout for d in (loaded.layers[2].forward_layer, loaded.layers[2].backward_layer)] \
        == [0.5, 0.5]
    with torch.no_grad():
        assert torch.equal(loaded.eval()(ids), model.eval()(ids))
        # in training both draw the same masks from the same seed: the options act the same after loading
        outputs = []
        for m in (model.train(), loaded.train()):
            rnnkit.set_seed(4)
            outputs.append(m(ids))
        assert torch.equal(*outputs)
        assert not torch.equal(outputs[0], model.eval()(ids))


def test_a_model_whose_weights_wait_for_its_first_call_is_not_saved_without_them(tmp_path):
    from rnnkit.errors import NotBuiltError
    from rnnkit.layers import LSTM, Embedding

    model = Sequential([Embedding(30, 5, mask_zero=True), LSTM(4), Dense(3)])  # LSTM and Dense sized at the call
    for save in (lambda p: model.save(str(p)), lambda p: model.save_weights(str(p))):
        with pytest.raises(NotBuiltError, match=r"'lstm\w*', .*have no weights yet .*call the model on a batch"):
            save(tmp_path / "m.safetensors")
        assert not (tmp_path / "m.safetensors").exists()
    x = torch.tensor([[3, 4, 0]])
    want = model(x)
    model.save(str(tmp_path / "m.safetensors"))
    torch.testing.assert_close(load_model(str(tmp_path / "m.safetensors"))(x), want, atol=0, rtol=0)
