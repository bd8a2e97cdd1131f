"""The programs of Keras' guide "Working with RNNs" that use only layers rnnkit has, run on rnnkit and on Keras 3.

Each snippet is written once, as a function of the namespace (``keras`` for rnnkit's,
``real_keras`` for Keras' own), the way the guide writes it; Keras' weights are copied
into rnnkit's layers and the outputs must agree within 1e-5.  The guide's functional
encoder-decoder is run as the same layer calls made eagerly (keras.Input is not in
rnnkit yet).  The learning programs of keras.io's examples are in test_example_programs.py.
"""
import numpy as np
import pytest
import torch

from keras_reference import as_numpy, copy_keras_weights, keras_outputs
from rnnkit import keras

RNG = np.random.default_rng(7)


def _close(ours, theirs):
    np.testing.assert_allclose(as_numpy(ours), as_numpy(theirs), rtol=1e-5, atol=1e-5)


def simple_example(ns):
    model = ns.Sequential()
    # an Embedding layer expecting input vocab of size 1000, and output embedding dimension of size 64
    model.add(ns.layers.Embedding(input_dim=1000, output_dim=64))
    # a LSTM layer with 128 internal units
    model.add(ns.layers.LSTM(128))
    # a Dense layer with 10 units
    model.add(ns.layers.Dense(10))
    return model


def outputs_and_states(ns):
    model = ns.Sequential()
    model.add(ns.layers.Embedding(input_dim=1000, output_dim=64))
    # the output of GRU is a 3D tensor of shape (batch_size, timesteps, 256)
    model.add(ns.layers.GRU(256, return_sequences=True))
    # the output of SimpleRNN is a 2D tensor of shape (batch_size, 128)
    model.add(ns.layers.SimpleRNN(128))
    model.add(ns.layers.Dense(10))
    return model


def bidirectional(ns):
    model = ns.Sequential()
    model.add(ns.layers.Bidirectional(ns.layers.LSTM(64, return_sequences=True), input_shape=(5, 10)))
    model.add(ns.layers.Bidirectional(ns.layers.LSTM(32)))
    model.add(ns.layers.Dense(10))
    return model


def cell_in_rnn(ns):
    # the guide's build_model(allow_cudnn_kernel=False), without its BatchNormalization
    return ns.Sequential([ns.layers.RNN(ns.layers.LSTMCell(64), input_shape=(None, 28)), ns.layers.Dense(10)])


@pytest.mark.parametrize("build, x", [
    (simple_example, RNG.integers(0, 1000, (4, 12))),
    (outputs_and_states, RNG.integers(0, 1000, (4, 12))),
    (bidirectional, RNG.normal(size=(4, 5, 10)).astype(np.float32)),
    (cell_in_rnn, RNG.normal(size=(4, 28, 28)).astype(np.float32)),
], ids=["simple_example", "outputs_and_states", "bidirectional", "cell_in_rnn"])
def test_guide_models_give_keras_outputs(real_keras, capsys, build, x):
    ours, theirs = build(keras), build(real_keras)
    expected = keras_outputs(theirs, x)
    ours(torch.from_numpy(x))
    copy_keras_weights(theirs, ours)
    _close(ours.predict(x), expected)
    ours.summary()
    assert f"Total params: {sum(p.numel() for p in ours.parameters()):,}" in capsys.readouterr().out


def test_rnn_of_an_lstm_cell_is_the_lstm_layer():
    """The guide: "Mathematically, RNN(LSTMCell(10)) produces the same result as LSTM(10)"."""
    cell_layer = keras.layers.RNN(keras.layers.LSTMCell(10), input_shape=(None, 4))
    layer = keras.layers.LSTM(10, input_shape=(None, 4))
    layer.set_weights(cell_layer.get_weights())
    x = torch.randn(3, 6, 4)
    torch.testing.assert_close(cell_layer(x), layer(x))


def test_encoder_state_starts_the_decoder_as_in_keras(real_keras):
    encoder_vocab, decoder_vocab = 1000, 2000
    enc_ids, dec_ids = RNG.integers(0, encoder_vocab, (3, 7)), RNG.integers(0, decoder_vocab, (3, 5))

    def run(ns, enc_ids, dec_ids, layers=None):
        made = layers or [ns.layers.Embedding(input_dim=encoder_vocab, output_dim=64),
                          ns.layers.LSTM(64, return_state=True, name="encoder"),
                          ns.layers.Embedding(input_dim=decoder_vocab, output_dim=64),
                          ns.layers.LSTM(64, name="decoder"), ns.layers.Dense(10)]
        enc_embed, encoder, dec_embed, decoder, head = made
        # return states in addition to output
        output, state_h, state_c = encoder(enc_embed(enc_ids))
        encoder_state = [state_h, state_c]
        # pass the 2 states to a new LSTM layer, as initial state
        decoder_output = decoder(dec_embed(dec_ids), initial_state=encoder_state)
        return head(decoder_output), made

    expected, theirs = run(real_keras, enc_ids, dec_ids)
    ours = [keras.layers.Embedding(encoder_vocab, 64), keras.layers.LSTM(64, return_state=True),
            keras.layers.Embedding(decoder_vocab, 64), keras.layers.LSTM(64), keras.layers.Dense(10)]
    run(keras, torch.from_numpy(enc_ids), torch.from_numpy(dec_ids), ours)
    copy_keras_weights(theirs, ours)
    got, _ = run(keras, torch.from_numpy(enc_ids), torch.from_numpy(dec_ids), ours)
    _close(got, expected)


def test_cross_batch_statefulness_and_state_reuse_as_in_keras(real_keras):
    paragraph1, paragraph2, paragraph3 = (RNG.random((20, 10, 50)).astype(np.float32) for _ in range(3))

    theirs = real_keras.layers.LSTM(64, stateful=True)
    ours = keras.layers.LSTM(64, stateful=True)
    expected = [keras_outputs(theirs, p) for p in (paragraph1, paragraph2, paragraph3)]
    theirs.reset_states()
    ours(torch.from_numpy(paragraph1))
    ours.reset_states()
    ours.set_weights(theirs.get_weights())
    for paragraph, want in zip((paragraph1, paragraph2, paragraph3), expected):
        _close(ours(torch.from_numpy(paragraph)), want)  # each call goes on from the last one's state
    # reset_states() forgets the carried state: the next call starts from zeros again
    ours.reset_states()
    theirs.reset_states()
    _close(ours(torch.from_numpy(paragraph1)), keras_outputs(theirs, paragraph1))

    # RNN state reuse: the states of a stateful layer start another layer
    existing_state = ours.states
    their_state = theirs.states
    new_theirs, new_ours = real_keras.layers.LSTM(64), keras.layers.LSTM(64)
    want = keras_outputs(lambda x: new_theirs(x, initial_state=their_state), paragraph3)
    new_ours(torch.from_numpy(paragraph3), initial_state=existing_state)
    new_ours.set_weights(new_theirs.get_weights())
    _close(new_ours(torch.from_numpy(paragraph3), initial_state=existing_state), want)
