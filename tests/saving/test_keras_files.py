"""Keras model files: reading what real Keras wrote, refusing what is hostile, and writing what Keras reads.

The references are Keras' own: the fixtures in ``tests/fixtures/keras`` were saved
by Keras 3 (``tests/fixtures/make_keras_models.py``; two Keras 2 ``.h5`` files
written there by hand in Keras 2's layout) together with the inputs and the
outputs Keras computed, and the round trip is checked by loading rnnkit's
``.keras`` files with Keras itself (the ``keras`` fixture: Keras 3 on the torch
backend; skipped with the reason where Keras is not installed).
"""
import io
import json
import os
import re
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit import errors
from rnnkit.apps.classify.model import build_model as build_classifier
from rnnkit.layers import (GRU, LSTM, Add, Bidirectional, Concatenate, Conv1D, Dense, Embedding, GlobalAveragePooling1D,
                           Input, LayerNormalization, Masking, MaxPooling1D, MinGRU, SimpleRNN, SpatialDropout1D,
                           TimeDistributed)
from rnnkit.models import Functional, Model, Sequential
from rnnkit.optimizers import Adam
from rnnkit.saving import load_keras, save_keras

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "keras"
FILES = sorted(p.name for p in FIXTURES.iterdir() if p.suffix in (".keras", ".h5"))


def _data(name):
    data = np.load(FIXTURES / (Path(name).stem + ".npz"))
    xs = [torch.from_numpy(data[k]) for k in sorted(k for k in data.files if k.startswith("x"))]
    ys = [data[k] for k in sorted(k for k in data.files if k.startswith("y"))]
    return xs, ys


def _one_line(exc_info):
    message = str(exc_info.value)
    assert "\n" not in message, message
    return message


# ----------------------------------------------------------------------------- what Keras wrote
def test_the_fixtures_cover_the_issue():
    assert {"masked_simple_rnn.keras", "embedding_lstm.keras", "embedding_lstm.h5", "stacked_gru.keras",
            "bidirectional.keras", "conv_lstm.keras", "stateful.keras", "two_inputs.keras", "two_inputs.h5",
            "encoder_decoder.keras", "keras2_gru.h5", "keras2_functional.h5"} <= set(FILES)


@pytest.mark.parametrize("name", FILES)
def test_predictions_equal_keras_own(name):
    model = load_keras(FIXTURES / name)
    xs, ys = _data(name)
    with torch.no_grad():
        if name.startswith("stateful"):  # the second call goes on from the state the first one left
            outs = [model(xs[0]), model(xs[1])]
        else:
            out = model(xs if len(xs) > 1 else xs[0])
            outs = list(out) if isinstance(out, (list, tuple)) else [out]
    assert len(outs) == len(ys)
    for out, expected in zip(outs, ys):
        np.testing.assert_allclose(out.numpy(), expected, atol=1e-5, rtol=0)


def test_what_is_rebuilt_is_rnnkit_layers_with_keras_names_and_options():
    model = load_keras(FIXTURES / "stacked_gru.keras")
    assert isinstance(model, Sequential)
    assert [type(layer).__name__ for layer in model.layers] == ["Embedding", "GRU", "GRU", "Dense"]
    assert [layer.cell.reset_after for layer in model.layers[1:3]] == [True, False]
    assert model.layers[0].mask_zero
    model = load_keras(FIXTURES / "encoder_decoder.keras")
    assert isinstance(model, Functional) and model.input_names == ["source", "target"]
    assert model.get_layer("encoder").return_state
    model = load_keras(FIXTURES / "keras2_gru.h5")  # Keras 2's 'hard_sigmoid' is clip(0.2 x + 0.5)
    assert model.layers[1].cell.recurrent_activation is rnnkit.activations.get("hard_sigmoid_keras2")


def test_load_model_and_predict_read_keras_files_too():
    model = rnnkit.load_model(FIXTURES / "two_inputs.keras")
    xs, ys = _data("two_inputs.keras")
    np.testing.assert_allclose(model.predict([x.numpy() for x in xs]), ys[0], atol=1e-5)


@pytest.mark.parametrize("name, optimizer, config, loss, metrics", [
    ("embedding_lstm.keras", "Adam", {"learning_rate": 0.005}, "binary_crossentropy", ["accuracy"]),
    ("embedding_lstm.h5", "Adam", {"learning_rate": 0.005}, "binary_crossentropy", ["accuracy"]),
    ("stacked_gru.keras", "RMSprop", {"learning_rate": 0.01}, "SparseCategoricalCrossentropy",
     ["sparse_categorical_accuracy"]),
    ("conv_lstm.keras", "SGD", {"learning_rate": 0.01}, "mse", ["mae"]),
    ("keras2_gru.h5", "Adam", {"learning_rate": 0.002}, "categorical_crossentropy", ["categorical_accuracy"]),
    ("keras2_functional.h5", "SGD", {"learning_rate": 0.05, "momentum": 0.9}, "mse", []),
])
def test_compile_settings_come_too(name, optimizer, config, loss, metrics):
    model = load_keras(FIXTURES / name)
    spec = model._optimizer_spec
    assert type(spec).__name__ == optimizer
    for key, value in config.items():
        assert getattr(spec, key) == pytest.approx(value)
    assert loss in (model._compiled["loss"], type(model.loss).__name__)
    assert model._compiled["metrics"] == metrics
    assert load_keras(FIXTURES / name, compile=False)._compiled is None


def test_the_optimizers_moving_average_comes_too(tmp_path):
    def ema_on(config):
        config["compile_config"]["optimizer"]["config"].update(use_ema=True, ema_momentum=0.95,
                                                               ema_overwrite_frequency=20)

    spec = load_keras(_edited(tmp_path, "embedding_lstm.keras", ema_on))._optimizer_spec
    assert (spec.use_ema, spec.ema_momentum, spec.ema_overwrite_frequency) == (True, 0.95, 20)
    assert load_keras(FIXTURES / "embedding_lstm.keras")._optimizer_spec.use_ema is False  # Keras' use_ema=False


def test_a_loaded_model_trains():
    model = load_keras(FIXTURES / "embedding_lstm.keras")
    model.compile(optimizer=Adam(learning_rate=0.05), loss="binary_crossentropy", device="cpu")
    xs, _ = _data("embedding_lstm.keras")
    y = torch.tensor([[1.0], [0.0], [1.0], [0.0], [1.0]])
    before = model.evaluate(xs[0], y)
    model.fit(xs[0], y, epochs=4, batch_size=5, verbose=0)
    assert model.evaluate(xs[0], y) < before


# ----------------------------------------------------------------------------- refused
def _members(path):
    with zipfile.ZipFile(path) as z:
        return {info.filename: z.read(info) for info in z.infolist()}


def _zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _edited(tmp_path, name, edit):
    """A copy of fixture ``name`` whose config.json ``edit(config)`` changed."""
    members = _members(FIXTURES / name)
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    return _zip(tmp_path / name, members)


def test_zip_member_that_climbs_out_is_refused(tmp_path):
    members = _members(FIXTURES / "embedding_lstm.keras")
    members["../../outside.txt"] = b"x"
    with pytest.raises(errors.CheckpointError, match=r"the zip member '../../outside.txt' has an unsafe name") as info:
        load_keras(_zip(tmp_path / "m.keras", members))
    _one_line(info)
    assert not (tmp_path.parent / "outside.txt").exists()


def test_zip_bomb_declared_sizes_are_refused_before_reading(tmp_path):
    path = _zip(tmp_path / "bomb.keras", _members(FIXTURES / "embedding_lstm.keras"))
    raw = bytearray(path.read_bytes())
    # the central directory entry of model.weights.h5 (signature PK\1\2, name at +46, its length at +28):
    # declare 4 GB uncompressed (the size field at +24) from a few KB
    at = raw.index(b"PK\x01\x02")
    while raw[at + 46:at + 46 + struct.unpack_from("<H", raw, at + 28)[0]] != b"model.weights.h5":
        at = raw.index(b"PK\x01\x02", at + 4)
    struct.pack_into("<I", raw, at + 24, 0xFFFFFFF0)
    path.write_bytes(bytes(raw))
    with pytest.raises(errors.CheckpointError, match=r"'model.weights.h5' declares 4,294,967,280 bytes .* zip bomb") as info:
        load_keras(path)
    _one_line(info)


def test_oversized_members_are_refused(tmp_path, monkeypatch):
    from rnnkit.saving import keras_files

    members = _members(FIXTURES / "embedding_lstm.keras")
    members["config.json"] = members["config.json"] + b" " * 300_000  # deflates to almost nothing
    path = _zip(tmp_path / "big.keras", members, zipfile.ZIP_DEFLATED)
    monkeypatch.setitem(keras_files.LIMITS, "config.json", 100_000)
    with pytest.raises(errors.CheckpointError, match=r"'config.json' declares .* bytes uncompressed"):
        load_keras(path)


def test_a_lambda_layer_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran.txt"
    code = compile(f"open({str(marker)!r}, 'w').write('ran')", "<lambda>", "exec")
    import base64
    import marshal

    def add_lambda(config):
        config["config"]["layers"].insert(2, {"module": "keras.layers", "class_name": "Lambda", "config": {
            "name": "evil", "function": {"class_name": "__lambda__", "config": {
                "code": base64.b64encode(marshal.dumps(code)).decode(), "defaults": None, "closure": None}}}})

    with pytest.raises(errors.ConfigError, match=r"layer 'evil' is a Lambda layer.*refused, as Keras' safe_mode") as info:
        load_keras(_edited(tmp_path, "embedding_lstm.keras", add_lambda))
    _one_line(info)
    assert not marker.exists()


def test_a_python_function_in_a_config_is_refused(tmp_path):
    def lambda_activation(config):
        config["config"]["layers"][-1]["config"]["activation"] = {"class_name": "__lambda__", "config": {"code": "AA=="}}

    with pytest.raises(errors.ConfigError, match="holds a Python lambda"):
        load_keras(_edited(tmp_path, "embedding_lstm.keras", lambda_activation))


def _legacy_copy(tmp_path, edit):
    import h5py

    path = tmp_path / "model.h5"
    path.write_bytes((FIXTURES / "keras2_gru.h5").read_bytes())
    with h5py.File(path, "a") as f:
        edit(f, h5py)
    return path


def test_an_h5_dataset_declaring_more_than_the_file_holds_is_refused(tmp_path):
    def huge(f, h5py):
        group = f["model_weights/dense"]
        del group["dense/kernel:0"]
        group.create_dataset("dense/kernel:0", shape=(10**8, 10**3), dtype="float32", chunks=(1, 10))

    path = _legacy_copy(tmp_path, huge)
    assert path.stat().st_size < 100_000
    with pytest.raises(errors.CheckpointError, match=r"declares shape \(100000000, 1000\) \(400,000,000,000 bytes\) "
                                                     r"in a file of") as info:
        load_keras(path)
    _one_line(info)


def test_h5_data_from_elsewhere_is_refused(tmp_path):
    outside = tmp_path / "secret.bin"
    outside.write_bytes(b"\0" * 32)

    def external(f, h5py):
        group = f["model_weights/dense"]
        del group["dense/kernel:0"]
        group.create_dataset("dense/kernel:0", shape=(4, 2), dtype="float32", external=[(str(outside), 0, 32)])

    with pytest.raises(errors.CheckpointError, match="takes its data from other files"):
        load_keras(_legacy_copy(tmp_path, external))

    def soft_link(f, h5py):
        group = f["model_weights/dense/dense"]
        del group["bias:0"]
        group["bias:0"] = h5py.SoftLink("/model_weights/embedding/embedding/embeddings:0")

    with pytest.raises(errors.CheckpointError, match="is a SoftLink to data elsewhere; refused"):
        load_keras(_legacy_copy(tmp_path, soft_link))


def test_weights_of_the_wrong_shape_are_refused(tmp_path):
    def wrong(f, h5py):
        group = f["model_weights/dense"]
        del group["dense/kernel:0"]
        group.create_dataset("dense/kernel:0", data=np.zeros((2, 4), "float32"))

    with pytest.raises(errors.CheckpointError, match=r"has shape \(2, 4\), but the layer needs \(4, 2\)"):
        load_keras(_legacy_copy(tmp_path, wrong))


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["config"]["layers"][2].update(class_name="FancyRecurrence"),
     r"embedding_lstm.keras: layer 'lstm\w*' is a FancyRecurrence, which rnnkit cannot rebuild"),
    (lambda c: c["config"]["layers"][2]["config"].update(time_major=True), r"has time_major=True"),
    (lambda c: c["config"]["layers"][3]["config"].update(activation="mish"), r"has activation='mish', an activation"),
    (lambda c: c["config"]["layers"][1]["config"].update(dtype={"class_name": "DTypePolicy",
                                                                "config": {"name": "mixed_float16"}}),
     r"computes in dtype policy 'mixed_float16'"),
    (lambda c: c.update(class_name="MyModel"), r"the model is a MyModel \(a subclassed Keras model"),
])
def test_unsupported_layers_and_options_are_one_line_errors_naming_them(tmp_path, edit, message):
    with pytest.raises(errors.ConfigError, match=message) as info:
        load_keras(_edited(tmp_path, "embedding_lstm.keras", edit))
    _one_line(info)


def test_training_only_options_are_left_out_with_a_warning(tmp_path):
    def regularize(config):
        config["config"]["layers"][3]["config"]["kernel_regularizer"] = {"class_name": "L2", "config": {"l2": 0.01}}
        config["config"]["layers"][1]["config"]["trainable"] = False

    with pytest.warns(UserWarning, match=r"kernel_regularizer left out \(they shape training only"):
        model = load_keras(_edited(tmp_path, "embedding_lstm.keras", regularize))
    assert not model.layers[0].weight.requires_grad and model.layers[1].cell.weight_ih.requires_grad


def test_keras_operations_other_than_masks_are_refused(tmp_path):
    def add_op(config):
        layers = config["config"]["layers"]
        score = next(e for e in layers if e["name"] == "score")
        layers.append({"module": "keras.src.ops.numpy", "class_name": "Absolute", "config": {"name": "absolute"},
                       "registered_name": "Absolute", "name": "absolute", "inbound_nodes": [
                           {"args": [score["inbound_nodes"][0]["args"][0]], "kwargs": {}}]})
        score["inbound_nodes"][0]["args"][0] = {"class_name": "__keras_tensor__", "config": {
            "shape": [None, 8], "dtype": "float32", "keras_history": ["absolute", 0, 0]}}

    with pytest.raises(errors.ConfigError, match=r"the input of layer 'score' comes from the operation Absolute"):
        load_keras(_edited(tmp_path, "two_inputs.keras", add_op))


def test_a_mask_keras_did_not_pass_is_noticed(tmp_path):
    def drop_mask(config):
        gru = next(e for e in config["config"]["layers"] if e["name"] == "text_gru")
        gru["inbound_nodes"][0]["kwargs"].pop("mask")

    with pytest.raises(errors.ConfigError, match=r"Keras passes no mask to layer 'text_gru', where rnnkit's mask flow"):
        load_keras(_edited(tmp_path, "two_inputs.keras", drop_mask))


def test_files_that_are_not_keras_models(tmp_path):
    (tmp_path / "notes.keras").write_text("hello")
    with pytest.raises(errors.CheckpointError, match="neither a .keras zip nor an HDF5 .h5 file"):
        load_keras(tmp_path / "notes.keras")
    import h5py

    with h5py.File(tmp_path / "model.weights.h5", "w") as f:
        f.create_group("layers")
    with pytest.raises(errors.ConfigError, match=r"holds weights only \(no model_config\)"):
        load_keras(tmp_path / "model.weights.h5")
    members = _members(FIXTURES / "embedding_lstm.keras")
    del members["model.weights.h5"]
    with pytest.raises(errors.CheckpointError, match="no model.weights.h5 in the zip"):
        load_keras(_zip(tmp_path / "m.keras", members))


# ----------------------------------------------------------------------------- written for Keras
def _tokens(batch=4, steps=6, vocab=20):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(1, vocab, (batch, steps), generator=g)
    x[0, 3:] = 0
    x[2, 1:] = 0
    return x


def _keras_predicts_the_same(keras, path, model, xs):
    with torch.no_grad():
        ours = model(*xs)
    theirs = keras.models.load_model(path)(xs[0].numpy() if len(xs) == 1 else [x.numpy() for x in xs])
    ours = list(ours) if isinstance(ours, (list, tuple)) else [ours]
    theirs = list(theirs) if isinstance(theirs, (list, tuple)) else [theirs]
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), keras.ops.convert_to_numpy(b), atol=1e-5, rtol=0)
    again = load_keras(path)  # and rnnkit reads its own .keras file back
    with torch.no_grad():
        back = again(*xs)
    for a, b in zip(ours, list(back) if isinstance(back, (list, tuple)) else [back]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_round_trip_sequential_into_keras(keras, tmp_path):
    torch.manual_seed(0)
    x = _tokens()
    model = Sequential([Embedding(20, 4, mask_zero=True), LSTM(5, return_sequences=True), GRU(3, reset_after=False),
                        Dense(2, activation="softmax")])
    model(x)
    model.compile(optimizer=Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  device="cpu")
    model.save(tmp_path / "seq.keras")
    _keras_predicts_the_same(keras, tmp_path / "seq.keras", model, [x])
    theirs = keras.models.load_model(tmp_path / "seq.keras")
    assert type(theirs.optimizer).__name__ == "Adam"
    assert float(keras.ops.convert_to_numpy(theirs.optimizer.learning_rate)) == pytest.approx(0.01)
    seq = torch.randn(3, 8, 3)
    seq[0, 5:] = 0.0
    model = Sequential([Input(shape=(None, 3)), Masking(0.0), Bidirectional(SimpleRNN(4, return_sequences=True)),
                        TimeDistributed(Dense(2)), LayerNormalization(), GlobalAveragePooling1D(), Dense(1)])
    model.save(tmp_path / "masking.keras")
    _keras_predicts_the_same(keras, tmp_path / "masking.keras", model, [seq])
    model = Sequential([Conv1D(4, 3, padding="causal", activation="relu"), MaxPooling1D(2),
                        Bidirectional(GRU(2), merge_mode="sum"), Dense(2)])
    model(seq)
    model.save(tmp_path / "conv.keras")
    _keras_predicts_the_same(keras, tmp_path / "conv.keras", model, [seq])


def test_keras_reads_the_moving_average_settings_rnnkit_writes(keras, tmp_path):
    model = Sequential([Embedding(20, 4), LSTM(3), Dense(1)])
    model(_tokens())
    model.compile(optimizer=Adam(learning_rate=0.01, use_ema=True, ema_momentum=0.95, ema_overwrite_frequency=7),
                  loss="mse", device="cpu")
    model.save(tmp_path / "ema.keras")
    theirs = keras.models.load_model(tmp_path / "ema.keras").optimizer
    assert (theirs.use_ema, theirs.ema_momentum, theirs.ema_overwrite_frequency) == (True, 0.95, 7)


def test_round_trip_functional_into_keras(keras, tmp_path):
    torch.manual_seed(1)
    a, b = Input(shape=(None,), dtype="int64", name="a"), Input(shape=(None, 3), name="b")
    ea = Embedding(20, 3, mask_zero=True, name="ea")(a)
    joined = Concatenate(name="cat")([ea, Masking(0.0, name="mb")(b)])
    summed = Add(name="twice")([ea, ea])
    out, h, c = LSTM(2, return_state=True, name="enc")(Bidirectional(LSTM(2, return_sequences=True), name="bi")(joined))
    decoded = LSTM(2, name="dec")(summed, initial_state=[h, c])
    model = Model([a, b], [Dense(1, name="head")(Concatenate(name="cat2")([out, decoded])), GRU(2, name="g")(summed)])
    xb = torch.randn(4, 6, 3)
    xb[1, 4:] = 0.0
    model.save(tmp_path / "functional.keras")
    _keras_predicts_the_same(keras, tmp_path / "functional.keras", model, [_tokens(), xb])


def _awd_model():
    """Embedding and DropConnect options Keras lacks, and a SpatialDropout1D, which Keras has."""
    torch.manual_seed(2)
    return Sequential([Input(shape=(None,), dtype="int64"), Embedding(20, 4, mask_zero=True, embeddings_dropout=0.1),
                       SpatialDropout1D(0.2, name="locked"), LSTM(3, recurrent_weight_dropout=0.4, name="lstm"),
                       Dense(1)])


def test_the_writer_leaves_out_training_only_dropout_keras_lacks_with_a_warning(tmp_path):
    model = _awd_model()
    with pytest.warns(UserWarning) as warned:
        model.save(tmp_path / "awd.keras")
    messages = [str(w.message) for w in warned]
    assert any(re.search(r"layer 'lstm' \(LSTM\): recurrent_weight_dropout=0.4 left out .* predicts the same", m)
               for m in messages), messages
    assert any("(Embedding): embeddings_dropout=0.1 left out" in m for m in messages), messages
    layers = json.loads(_members(tmp_path / "awd.keras")["config.json"])["config"]["layers"]
    assert [entry["class_name"] for entry in layers][2] == "SpatialDropout1D"
    assert not any(k in entry["config"] for entry in layers for k in ("embeddings_dropout", "recurrent_weight_dropout"))
    back = load_keras(tmp_path / "awd.keras")
    assert type(back.layers[1]).__name__ == "SpatialDropout1D" and back.layers[1].rate == 0.2
    with torch.no_grad():  # at inference the options changed nothing: the same predictions
        torch.testing.assert_close(back.eval()(_tokens()), model.eval()(_tokens()), rtol=0, atol=0)


def test_spatial_dropout_crosses_to_keras_and_back(keras, tmp_path):
    model = _awd_model()
    with pytest.warns(UserWarning):
        model.save(tmp_path / "awd.keras")
    assert type(keras.models.load_model(tmp_path / "awd.keras").layers[1]).__name__ == "SpatialDropout1D"
    _keras_predicts_the_same(keras, tmp_path / "awd.keras", model.eval(), [_tokens()])
    theirs = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(20, 4),
                               keras.layers.SpatialDropout1D(0.3, seed=1), keras.layers.GRU(2)])
    theirs.save(tmp_path / "theirs.keras")
    ours = load_keras(tmp_path / "theirs.keras")
    assert type(ours.layers[1]).__name__ == "SpatialDropout1D" and ours.layers[1].rate == 0.3


def test_what_the_writer_refuses(tmp_path):
    with pytest.raises(errors.ConfigError, match=r"layer 'min' \(MinGRU\) has no Keras 3 counterpart"):
        save_keras(Sequential([Input(shape=(None, 2)), MinGRU(3, name="min")]), tmp_path / "m.keras")
    cnn = build_classifier("cnn-lstm", vocab_size=20, num_classes=2, embed_dim=4, units=3)
    cnn(torch.ones(1, 3, dtype=torch.long))
    with pytest.raises(errors.ConfigError, match=r"\(MaskedConv1D\) keeps the padding mask, which Keras' convolutions "
                                                 "and pooling drop"):
        save_keras(cnn, tmp_path / "cnn.keras")
    assert not (tmp_path / "cnn.keras").exists()
    nbsvm = build_classifier("nbsvm", vocab_size=20, num_classes=2)
    with pytest.raises(errors.ConfigError, match=r"\(HashedNGrams\) has no Keras 3 counterpart"):
        save_keras(nbsvm, tmp_path / "nbsvm.keras")

    class Custom(rnnkit.Model):
        def forward(self, x):
            return x

    with pytest.raises(errors.ConfigError, match="a Custom .a subclassed model. has no Keras config"):
        save_keras(Custom(), tmp_path / "c.keras")
    with pytest.raises(errors.ConfigError, match="the model's input shape is unknown"):
        Sequential([Dense(2)]).save(tmp_path / "d.keras")
    with pytest.raises(errors.CheckpointError, match=r"rnnkit writes Keras files as .keras"):
        Sequential([Dense(2, input_size=2)]).save(tmp_path / "d.h5")
    model = Sequential([Dense(2, input_size=3)])
    model(torch.ones(1, 3))
    model.save(tmp_path / "plain.safetensors")  # other names keep rnnkit's own format
    assert type(rnnkit.load_model(tmp_path / "plain.safetensors")).__name__ == "Sequential"
    assert not list(tmp_path.glob("*.tmp-*"))


@pytest.mark.parametrize("name", [n for n in FILES if n.endswith(".keras")])
def test_layers_are_addressed_as_keras_addresses_them(name):
    """Keras' weights file names each layer's group by class and order; each group also records the layer's name."""
    import h5py

    from rnnkit.saving.keras_files import keras_weight_keys

    members = _members(FIXTURES / name)
    config = json.loads(members["config.json"])
    with h5py.File(io.BytesIO(members["model.weights.h5"]), "r") as f:
        recorded = {f["layers"][key]["vars"].attrs["name"]: key for key in f["layers"]}
    computed = keras_weight_keys(config, config["class_name"] == "Sequential")
    assert computed == recorded


def test_the_hdf5_child_s_answer_is_unpickled_only_as_a_mirror_of_the_file(tmp_path):
    """A subverted child could send a pickle that calls anything: only the mirror's own classes, NumPy arrays and
    plain values are unpickled."""
    import pickle

    h5py = pytest.importorskip("h5py")

    from rnnkit.saving import _h5_isolated

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    with pytest.raises(pickle.UnpicklingError, match="open is not part of an HDF5 mirror"):
        _h5_isolated._MirrorUnpickler(io.BytesIO(pickle.dumps(("ok", Evil())))).load()
    assert not marker.exists()
    raw = (Path(__file__).parents[1] / "fixtures" / "keras" / "keras2_gru.h5").read_bytes()
    root = _h5_isolated.read_tree(raw, len(raw), "keras2_gru.h5")  # the real child's answer still loads
    with h5py.File(io.BytesIO(raw), "r") as f:
        assert set(root) == set(f) and dict(root.attrs).keys() == dict(f.attrs).keys()


def test_batch_normalization_crosses_to_keras_and_back_with_its_moving_statistics(keras, tmp_path):
    """Both ways, in inference, where the moving statistics (not the batch's) normalise: they must travel too."""
    from rnnkit.layers import BatchNormalization

    torch.manual_seed(3)
    seq = torch.randn(4, 6, 3) * 2 + 1
    model = Sequential([Input(shape=(None, 3)), LSTM(4, return_sequences=True), BatchNormalization(momentum=0.5),
                        GlobalAveragePooling1D(), Dense(5, activation="relu"), BatchNormalization(center=False),
                        Dense(1)])
    for _ in range(3):  # training steps move the statistics away from (0, 1)
        model(seq, training=True)
    model.eval()
    assert model.layers[1].moving_mean.abs().sum() > 0
    model.save(tmp_path / "bn.keras")
    _keras_predicts_the_same(keras, tmp_path / "bn.keras", model, [seq])

    theirs = keras.Sequential([keras.Input((None, 3)), keras.layers.GRU(4, return_sequences=True),
                               keras.layers.BatchNormalization(momentum=0.7, epsilon=1e-2),
                               keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1)])
    x = seq.numpy()
    for _ in range(3):
        theirs(x, training=True)
    for name in ("bn_from_keras.keras", "bn_from_keras.h5"):
        theirs.save(tmp_path / name)
        ours = load_keras(tmp_path / name)
        ours.eval()
        bn = [m for m in ours.layers if type(m).__name__ == "BatchNormalization"][0]
        assert (bn.momentum, bn.epsilon) == (0.7, 1e-2)
        with torch.no_grad():
            np.testing.assert_allclose(ours(seq).numpy(), keras.ops.convert_to_numpy(theirs(x, training=False)),
                                       atol=1e-5, rtol=0)
