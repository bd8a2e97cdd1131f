"""The functional API: Input, layers called on symbolic tensors, Model(inputs, outputs).

The reference for every model is the same layers called by hand on real tensors
(masks passed explicitly), so the graph, the mask flow and the input and output
structures are checked against plain calls, not against the model itself.
"""
import numpy as np
import pytest
import torch

from rnnkit import errors
from rnnkit.layers import (GRU, LSTM, Add, Bidirectional, Concatenate, Dense, Embedding, GlobalAveragePooling1D, Input,
                           InputLayer, Masking, SimpleRNN)
from rnnkit.models import Functional, Model, Sequential, load_model
from rnnkit.optimizers import Adam


def _tokens(batch=4, steps=6, vocab=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(1, vocab, (batch, steps), generator=g)
    x[0, 4:] = 0
    x[2, 2:] = 0
    return x


def test_two_inputs_with_a_mask_equal_the_layers_called_by_hand():
    torch.manual_seed(0)
    tokens, numbers = Input(shape=(None,), dtype="int64", name="tokens"), Input(shape=(3,), name="numbers")
    embed, rnn, join, head = Embedding(20, 4, mask_zero=True), LSTM(5), Concatenate(), Dense(2)
    out = head(join([rnn(embed(tokens)), numbers]))
    model = Model(inputs=[tokens, numbers], outputs=out)
    assert isinstance(model, Functional)
    x, z = _tokens(), torch.randn(4, 3)
    with torch.no_grad():
        expected = head(torch.cat([rnn(embed(x), mask=x != 0), z], dim=-1))
        torch.testing.assert_close(model([x, z]), expected, rtol=0, atol=0)
        torch.testing.assert_close(model(x, z), expected, rtol=0, atol=0)
        torch.testing.assert_close(model({"tokens": x, "numbers": z}), expected, rtol=0, atol=0)
    np.testing.assert_allclose(model.predict([x.numpy(), z.numpy()], batch_size=3), expected.numpy(), atol=1e-6)


def test_masks_flow_through_sequences_bidirectional_and_pooling():
    torch.manual_seed(1)
    inp = Input(shape=(None, 3))
    masking, bi, gru, pool = Masking(0.0), Bidirectional(SimpleRNN(4, return_sequences=True)), GRU(3, return_sequences=True), GlobalAveragePooling1D()
    model = Model(inp, pool(gru(bi(masking(inp)))))
    x = torch.randn(3, 7, 3)
    x[0, 5:] = 0.0
    x[1, 1:] = 0.0
    mask = (x != 0).any(-1)
    with torch.no_grad():
        expected = pool(gru(bi(x, mask=mask), mask=mask), mask=mask)
        torch.testing.assert_close(model(x), expected)
        out, out_mask = model.forward_with_mask(x)
    assert out_mask is None  # pooling consumes the mask


def test_states_feed_initial_state_and_a_shared_layer_runs_twice():
    torch.manual_seed(2)
    enc_in, dec_in = Input(shape=(None, 3)), Input(shape=(None, 2))
    encoder, decoder, head = LSTM(4, return_state=True), LSTM(4, return_sequences=True), Dense(4)
    _, h, c = encoder(enc_in)
    seq = decoder(dec_in, initial_state=[h, c])
    out = head(seq)
    twice = head(out)  # the same Dense on its own output: two calls of one layer
    model = Model([enc_in, dec_in], [out, twice])
    a, b = torch.randn(2, 5, 3), torch.randn(2, 4, 2)
    with torch.no_grad():
        _, h_ref, c_ref = encoder(a)
        ref = head(decoder(b, initial_state=[h_ref, c_ref]))
        got = model([a, b])
    assert isinstance(got, list) and len(got) == 2
    torch.testing.assert_close(got[0], ref)
    torch.testing.assert_close(got[1], head(ref))
    assert [type(layer).__name__ for layer in model.layers].count("Dense") == 1


def test_layers_in_keras_order_and_summary_shows_symbolic_shapes(capsys):
    a = Input(shape=(None,), dtype="int64", name="ids")
    e = Embedding(10, 3, mask_zero=True, name="emb_fn")(a)
    x = Add(name="add_fn")([LSTM(2, return_sequences=True, name="l1_fn")(e), GRU(2, return_sequences=True, name="g1_fn")(e)])
    model = Model(a, Dense(1, name="out_fn")(x), name="branches")
    # Keras' order: by depth from the output (deepest first), then as a search from the output meets them
    assert [layer.name for layer in model.layers] == ["ids", "emb_fn", "l1_fn", "g1_fn", "add_fn", "out_fn"]
    model.summary()
    text = capsys.readouterr().out
    assert "l1_fn (LSTM)" in text and "(None, None, 2)" in text and "out_fn (Dense)" in text


def test_compile_fit_evaluate_predict_on_two_inputs_learns():
    torch.manual_seed(3)
    rng = np.random.default_rng(0)
    a, b = Input(shape=(None, 1)), Input(shape=(2,))
    out = Dense(1)(Concatenate()([GRU(8)(a), b]))
    model = Model([a, b], out)
    model.compile(optimizer=Adam(learning_rate=0.02), loss="mse", metrics=["mae"], device="cpu")
    xa = rng.normal(size=(64, 5, 1)).astype("float32")
    xb = rng.normal(size=(64, 2)).astype("float32")
    y = xa.sum(axis=(1, 2))[:, None] + xb[:, :1]
    before = model.evaluate([xa, xb], y, verbose=0)[0]
    history = model.fit([xa, xb], y, epochs=30, batch_size=16, verbose=0, validation_split=0.25)
    after = model.evaluate([xa, xb], y, verbose=0, return_dict=True)
    assert after["loss"] < before / 3, (before, after)
    assert "val_loss" in history.history and "mae" in after
    assert model.predict([xa, xb]).shape == (64, 1)


def test_several_outputs_take_a_loss_each_and_predict_a_list():
    torch.manual_seed(4)
    inp = Input(shape=(4,))
    hidden = Dense(8, activation="tanh")(inp)
    reg, cls = Dense(1, name="reg_out")(hidden), Dense(3, activation="softmax", name="cls_out")(hidden)
    model = Model(inp, {"reg_out": reg, "cls_out": cls})
    model.compile(optimizer="adam", loss={"reg_out": "mse", "cls_out": "sparse_categorical_crossentropy"},
                  loss_weights={"reg_out": 1.0, "cls_out": 0.5}, device="cpu")
    x = torch.randn(32, 4)
    y_reg, y_cls = x[:, :1] * 2, (x[:, 1] > 0).long()
    with torch.no_grad():
        out = model(x)
        expected = torch.mean((out["reg_out"] - y_reg) ** 2) + 0.5 * torch.nn.functional.nll_loss(
            torch.log(out["cls_out"]), y_cls)
    assert model.evaluate(x, [y_reg, y_cls], batch_size=32) == pytest.approx(float(expected), rel=1e-5)
    model.fit(x, [y_reg, y_cls], epochs=2, batch_size=8, verbose=0)
    pred = model.predict(x)
    assert set(pred) == {"reg_out", "cls_out"} and pred["cls_out"].shape == (32, 3)


def test_save_and_load_model_rebuild_the_graph(tmp_path):
    torch.manual_seed(5)
    tokens, numbers = Input(shape=(None,), dtype="int64"), Input(shape=(3,))
    _, h = GRU(4, return_state=True)(Embedding(20, 4, mask_zero=True)(tokens))
    model = Model([tokens, numbers], Dense(1, activation="sigmoid")(Concatenate()([h, numbers])))
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"], device="cpu")
    x, z = _tokens(), torch.randn(4, 3)
    model.fit([x, z], torch.ones(4, 1), epochs=1, verbose=0)
    model.save(tmp_path / "f.safetensors")
    again = load_model(tmp_path / "f.safetensors")
    assert isinstance(again, Functional) and again._compiled["metrics"] == ["accuracy"]
    with torch.no_grad():
        torch.testing.assert_close(again([x, z]), model([x, z]), rtol=0, atol=0)
    clone = Functional.from_config(model.get_config())
    clone.load_state_dict(model.state_dict())
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]


def test_a_stateful_layer_carries_its_state_between_calls():
    torch.manual_seed(6)
    inp = Input(batch_shape=(2, None, 3))
    rnn = LSTM(4, stateful=True)
    model = Model(inp, rnn(inp))
    x1, x2 = torch.randn(2, 3, 3), torch.randn(2, 3, 3)
    with torch.no_grad():
        model(x1)
        second = model(x2)
        rnn.reset_states()
        whole = LSTM.from_config(rnn.get_config())
        whole.load_state_dict(rnn.state_dict())
        torch.testing.assert_close(second, whole(torch.cat([x1, x2], dim=1)))


def test_sequential_with_an_input_builds_as_it_grows(tmp_path):
    model = Sequential([Input(shape=(None,), dtype="int64"), Embedding(20, 4, mask_zero=True), LSTM(3)])
    assert all(layer.built for layer in model.layers) and model.layers[-1]._summary_shape == (None, 3)
    assert isinstance(model.input_layer, InputLayer) and len(model.layers) == 2
    model.save(tmp_path / "s.safetensors")
    again = load_model(tmp_path / "s.safetensors")
    x = _tokens()
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x))
    assert again.input_layer.batch_shape == (None, None)


@pytest.mark.parametrize("build, message", [
    (lambda: Model(Input(shape=(2,)), Dense(1)(Input(shape=(2,)))), "not among `inputs`"),
    (lambda: Model(Input(shape=(2,)), torch.relu(Input(shape=(2,)))), "relu was given a symbolic tensor"),
    (lambda: Model([1, 2], None), "`inputs` must be a symbolic tensor"),
    (lambda: Sequential([Dense(2), Input(shape=(3,))]), "an Input can only come first"),
])
def test_graph_mistakes_are_one_line_errors(build, message):
    with pytest.raises(errors.ConfigError, match=message) as info:
        build()
    assert "\n" not in str(info.value)


def test_duplicate_layer_names_and_wrong_input_counts_are_refused():
    a = Input(shape=(2,))
    with pytest.raises(errors.ConfigError, match="the layer name 'twin' is used by 2 layers"):
        Model(a, Dense(1, name="twin")(Dense(2, name="twin")(a)))
    a, b = Input(shape=(2,)), Input(shape=(2,))
    model = Model([a, b], Add()([a, b]))
    with pytest.raises(errors.ShapeError, match="expected 2 inputs"):
        model(torch.ones(1, 2))
    with pytest.raises(errors.ShapeError, match=r"expected a batch of shape \(None, 2\), got \(1, 3\)"):
        model([torch.ones(1, 3), torch.ones(1, 2)])
