"""keras.io's example programs that use only layers rnnkit has, written in Keras' style, learn on real data.

The programs are in ``programs/`` (their docstrings say how they differ from keras.io's:
smaller data, narrower layers and fewer epochs).
"""
import numpy as np
import pytest


@pytest.mark.slow
def test_character_lstm_learns_more_than_letter_frequencies(run_program, shared_data):
    """3 epochs on 100,000 characters of Shakespeare: the held-out loss falls well under the cross-entropy of the
    training text's letter frequencies (about 1.8 against 3.0 nats measured), and sampling writes the alphabet's
    characters."""
    shared_data("tinyshakespeare")
    result, printed = run_program("char_lstm_text_generation")
    y, chars = result["y"], result["chars"]
    cut = int(len(y) * 0.9)  # validation_split=0.1 holds out the last tenth, as in Keras
    freq = y[:cut].sum(0) + 1.0
    unigram = float(-(y[cut:] * np.log(freq / freq.sum())).sum(1).mean())
    val = result["val_losses"]
    assert len(val) == 3 and val[-1] < val[0] and val[-1] < unigram - 0.8, (val, unigram)
    assert len(result["samples"]) == 6 and all(len(s) == 100 and set(s) <= set(chars) for s in result["samples"])
    assert "Generating text after epoch: 2" in printed


@pytest.mark.slow
def test_bidirectional_lstm_on_imdb_word_ids_learns_sentiment(run_program, shared_data):
    """keras.datasets.imdb.load_data and keras.utils.pad_sequences feed keras.io's functional model (keras.Input, two
    stacked Bidirectional LSTMs): 5,000 reviews for 2 epochs reach at least 75% on 5,000 held-out test reviews (81%
    measured; half are positive)."""
    shared_data("imdb")
    result, printed = run_program("imdb_bidirectional_lstm")
    assert result["x_train"].shape == (5000, 120) and result["x_train"].max() < 10000
    assert 0.4 < result["y_val"].mean() < 0.6
    history = result["history"].history
    assert history["val_accuracy"][-1] >= 0.75, history
    assert "25000 Training sequences" in printed and "Total params: 690,241" in printed


@pytest.mark.slow
def test_imdb_load_data_follows_keras_conventions(shared_data):
    """The word ids of keras.datasets.imdb.load_data decode, with get_word_index, back to the review's words, with
    Keras' special ids, the num_words cut, the maxlen filter and the seed-113 shuffle."""
    shared_data("imdb")
    import re

    import rnnkit.datasets
    from rnnkit import keras

    (x_train, y_train), (x_test, y_test) = keras.datasets.imdb.load_data(num_words=5000)
    assert x_train.dtype == object and len(x_train) == len(x_test) == 25000 and isinstance(x_train[0], list)
    assert all(seq[0] == 1 for seq in x_train[:100]) and max(max(s) for s in x_train) == 4999
    assert 3 not in {w for s in x_train[:2000] for w in s} and 2 in {w for s in x_train[:200] for w in s}
    # the shuffle is Keras': RandomState(113) over the training reviews in the dataset's order
    texts, labels = rnnkit.datasets.load("imdb", split="train")
    order = np.arange(25000)
    np.random.RandomState(113).shuffle(order)
    np.testing.assert_array_equal(y_train, labels[order])
    words = {i + 3: w for w, i in keras.datasets.imdb.get_word_index().items()}  # index_from=3
    for k in range(5):
        # Keras' text_to_word_sequence, written again: lower-case, these characters are separators
        original = [w for w in re.split(r"[ !\"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~\t\n]+", texts[order[k]].lower()) if w]
        ids = x_train[k][1:]
        assert len(ids) == len(original)
        assert all(words[i] == w for i, w in zip(ids, original) if i != 2)  # 2: a word past num_words
    (short, _), _ = keras.datasets.imdb.load_data(maxlen=100)
    assert 0 < len(short) < 25000 and max(len(s) for s in short) < 100
