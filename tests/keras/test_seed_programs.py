"""The two classic seed programs, written as Keras users write them, run on rnnkit with only the import lines changed.

The programs are in ``programs/``; each also runs on real Keras 3 (the same text, Keras'
import lines), which shows that it is a Keras program and not one bent to fit rnnkit.
"""
import os

import numpy as np
import pytest


def _final_accuracy(history):
    return history.history["sparse_categorical_accuracy"][-1]


@pytest.mark.slow
def test_next_letter_simple_rnn_learns_and_resumes_from_its_checkpoint(run_program):
    """The "abcde" SimpleRNN reaches 100% in the program's own 100 epochs; the checkpoint is written at the path the
    program gives, and a second run finds it and loads it, as the program's `if os.path.exists` branch expects."""
    first, printed = run_program("next_letter_simple_rnn")
    assert _final_accuracy(first["history"]) == 1.0
    assert first["predictions"] == {"abcd": "e", "bcde": "a", "cdea": "b", "deab": "c", "eabc": "d"}
    assert os.listdir("checkpoint") == ["rnn_onehot_4pre1.weights.h5"]
    assert "load the model" not in printed and "Total params: 50" in printed   # summary() after fit
    assert len(first["history"].history["loss"]) == 100 and first["loss"] == first["history"].history["loss"]

    second, printed = run_program("next_letter_simple_rnn")
    assert "-------------load the model-----------------" in printed
    # it starts where the best (lowest-loss) epoch of the first run ended
    assert second["history"].history["loss"][0] < first["history"].history["loss"][0] / 2
    assert _final_accuracy(second["history"]) == 1.0


@pytest.mark.slow
def test_next_letter_program_is_a_keras_program(run_program, real_keras):
    """The same text with Keras' import lines runs on Keras 3 and learns too."""
    result, printed = run_program("next_letter_simple_rnn", keras_module=real_keras)
    assert _final_accuracy(result["history"]) == 1.0
    assert os.path.isfile("checkpoint/rnn_onehot_4pre1.weights.h5")
    assert "abcd->e" in printed


def _held_out_mse(result, model=None):
    """The held-out MSE, in prices, of ``model`` (default: the program's own predictions)."""
    sc, real = result["sc"], result["real_stock_price"]
    predicted = result["predicted_stock_price"] if model is None else sc.inverse_transform(model.predict(result["x_test"]))
    return float(np.mean((predicted - real) ** 2))


@pytest.mark.slow
def test_stacked_lstm_stock_regressor_learns_the_held_out_prices(run_program, shared_data):
    """The LSTM(80)/Dropout/LSTM(100)/Dropout/Dense(1) regressor on Moutai's opening prices, 60-day windows.

    What it learns: the training loss falls more than 5-fold, and the weights of its best
    validation epoch, which the program's ModelCheckpoint writes at the path it gives, explain
    most of the held-out prices' spread (asserted: MSE below a quarter of their variance,
    10,629; measured about 1,000 on rnnkit and on Keras 3).  The last epoch's weights, which the
    program predicts with, are not asserted on: the validation loss swings 10-fold from one epoch
    to the next, on Keras as on rnnkit (last epoch: MSE 2,128 on rnnkit, 2,167 on Keras).

    What it does not do: beat yesterday's price.  The naive forecast's MSE on these 240 days is
    385, below both frameworks' results, because the test prices (677-1250) lie above the
    training range (80-789) that MinMaxScaler maps to [0, 1], and a day's price is close to a
    random walk.  So the issue's "below naive MSE" is not reachable by this program as written.
    """
    shared_data("moutai")
    result, printed = run_program("stock_lstm_regressor")
    sc, x_test, real = result["sc"], result["x_test"], result["real_stock_price"]
    naive = float(np.mean((sc.inverse_transform(x_test[:, -1, :]) - real) ** 2))
    spread = float(real.var())
    history = result["history"].history
    assert len(history["loss"]) == len(history["val_loss"]) == 50 and history["loss"][-1] < history["loss"][0] / 5
    assert os.listdir("checkpoint") == ["LSTM_stock.weights.h5"]
    assert "Total params: 99,461" in printed and "mean squared error:" in printed
    last = _held_out_mse(result)
    model = result["model"]
    model.load_weights("checkpoint/LSTM_stock.weights.h5")
    best = _held_out_mse(result, model)
    print(f"held-out MSE: last epoch {last:.0f}, best epoch {best:.0f}, yesterday's price {naive:.0f}, "
          f"the period's variance {spread:.0f}")
    assert best <= last + 1e-3 and best < 0.25 * spread, (best, last, naive, spread)
