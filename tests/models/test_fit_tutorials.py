"""The tutorials' models train to their known results through compile/fit."""
import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.layers import GRU, LSTM, Dense, Dropout, SimpleRNN
from rnnkit.models import Sequential


def test_next_letter_simple_rnn_reaches_full_accuracy():
    rnnkit.set_seed(0)
    letters = "abcde"
    # every window of 4 letters of the cycle "abcdeabcde..." -> the letter after it
    x = np.zeros((5, 4, 5), np.float32)
    y = np.zeros(5, np.int64)
    for start in range(5):
        for t in range(4):
            x[start, t, (start + t) % 5] = 1.0
        y[start] = (start + 4) % 5
    model = Sequential([SimpleRNN(3), Dense(5, activation="softmax")])
    model.compile(optimizer=rnnkit.optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], device="cpu")
    history = model.fit(x, y, epochs=150, batch_size=5, verbose=0)  # every letter right from epoch 72 on
    assert history.history["accuracy"][-1] == 1.0
    predicted = model.predict(x).argmax(-1)
    assert "".join(letters[i] for i in predicted) == "eabcd"


@pytest.mark.slow
def test_stacked_lstm_regressor_beats_the_naive_baseline_on_a_noisy_sine():
    rnnkit.set_seed(0)
    t = np.arange(600, dtype=np.float32)
    series = np.sin(t * 0.1) + np.random.default_rng(0).normal(0, 0.05, t.shape).astype(np.float32)
    lookback = 20
    x = np.stack([series[i : i + lookback] for i in range(len(series) - lookback)])[:, :, None]
    y = series[lookback:, None]
    model = Sequential([LSTM(80, return_sequences=True), Dropout(0.2), LSTM(100), Dropout(0.2), Dense(1)])
    model.compile(optimizer="adam", loss="mse", device="cpu")
    model.fit(x[:450], y[:450], epochs=8, batch_size=32, verbose=0)
    mse = model.evaluate(x[450:], y[450:])
    naive = float(np.mean((x[450:, -1, 0] - y[450:, 0]) ** 2))
    assert mse < 0.6 * naive, (mse, naive)


def test_stacked_gru_classifier_learns_a_sequence_class_task():
    rnnkit.set_seed(0)
    rng = np.random.default_rng(0)
    # class = which of three frequencies the sequence oscillates at
    n, steps = 240, 24
    labels = rng.integers(0, 3, n)
    freqs = np.array([0.2, 0.6, 1.2])[labels]
    phase = rng.uniform(0, 6.28, n)
    tt = np.arange(steps)
    x = np.sin(freqs[:, None] * tt[None, :] + phase[:, None])[:, :, None].astype(np.float32)
    model = Sequential([GRU(16, return_sequences=True), GRU(16), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], device="cpu")
    model.fit(x[:180], labels[:180], epochs=30, batch_size=30, verbose=0, validation_split=0.0)
    _, accuracy = model.evaluate(x[180:], labels[180:])
    assert accuracy >= 0.9


def test_masked_per_step_loss_averages_valid_steps_only():
    from rnnkit.layers import Embedding, TimeDistributed

    rnnkit.set_seed(0)
    model = Sequential([Embedding(10, 4, mask_zero=True), LSTM(5, return_sequences=True), TimeDistributed(Dense(3))])
    model.compile(optimizer="sgd", loss=rnnkit.training.losses.SparseCategoricalCrossentropy(from_logits=True), device="cpu")
    tokens = torch.tensor([[3, 4, 5, 0, 0], [6, 7, 0, 0, 0]])
    targets = torch.tensor([[1, 2, 0, 0, 0], [2, 1, 1, 1, 1]])
    got = model.evaluate(tokens, targets)
    with torch.no_grad():
        logits = model(tokens)
    valid = tokens != 0
    expect = torch.nn.functional.cross_entropy(logits[valid], targets[valid]).item()
    assert got == pytest.approx(expect, rel=1e-5)


def test_mask_reaches_the_loss_by_forward_with_mask_not_a_tensor_attribute():
    """A padded batch's masked loss equals the loss computed by hand on the unpadded steps, for a
    Sequential and for a subclassed model that overrides forward_with_mask."""
    from rnnkit.layers import Embedding, TimeDistributed
    from rnnkit.models import Model

    rnnkit.set_seed(1)
    seq = Sequential([Embedding(10, 4, mask_zero=True), LSTM(5, return_sequences=True), TimeDistributed(Dense(2))])
    tokens = torch.tensor([[3, 4, 5, 0], [6, 0, 0, 0]])
    targets = torch.tensor([[0.5, 1.0, -1.0, 9.0], [2.0, 9.0, 9.0, 9.0]])
    out, mask = seq.forward_with_mask(tokens)
    assert mask.tolist() == [[True, True, True, False], [True, False, False, False]]
    assert not hasattr(out, "_keras_mask")

    class Tagger(Model):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward_with_mask(self, x):
            return self.inner.forward_with_mask(x)

        def forward(self, x):
            return self.inner(x)

    for model in (seq, Tagger(seq)):
        model.compile(optimizer="sgd", loss="mse", device="cpu")
        got = model.evaluate(tokens, targets[..., None].expand(-1, -1, 2))
        with torch.no_grad():
            pred = seq(tokens)
        # by hand, over the 4 real steps only: rows 0 (3 steps) and 1 (1 step)
        squared = [((pred[0, t] - targets[0, t]) ** 2).mean() for t in range(3)] + [((pred[1, 0] - targets[1, 0]) ** 2).mean()]
        assert got == pytest.approx(float(sum(squared) / 4), rel=1e-5)
