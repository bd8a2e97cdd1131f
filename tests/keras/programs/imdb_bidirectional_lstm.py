"""Bidirectional LSTM on IMDB sentiment, in the manner of keras.io's example (fchollet).

Written for rnnkit's tests in Keras' style: the keras.io example builds the same layers with
the functional API (keras.Input) and trains 2 epochs on all 25,000 reviews; this program stacks
them in a Sequential, keeps the 10,000 most frequent words, reads 120 words per review and
trains 2 epochs on the first 5,000 training reviews, validated on 5,000 test reviews.
"""
import numpy as np

from rnnkit import keras
from rnnkit.keras import layers

max_features = 10000  # only consider the top 10k words
maxlen = 120  # only consider the first 120 words of each movie review

keras.utils.set_random_seed(0)
model = keras.Sequential([
    # embed each integer in a 64-dimensional vector
    layers.Embedding(max_features, 64),
    # add 2 bidirectional LSTMs
    layers.Bidirectional(layers.LSTM(32, return_sequences=True)),
    layers.Bidirectional(layers.LSTM(32)),
    # add a classifier
    layers.Dense(1, activation="sigmoid"),
])

(x_train, y_train), (x_val, y_val) = keras.datasets.imdb.load_data(num_words=max_features)
print(len(x_train), "Training sequences")
print(len(x_val), "Validation sequences")
x_train, y_train = x_train[:5000], y_train[:5000]
x_val, y_val = x_val[:5000], y_val[:5000]
# pad_sequences pads and cuts at the start by default, so the end of each review is kept
x_train = keras.utils.pad_sequences(x_train, maxlen=maxlen)
x_val = keras.utils.pad_sequences(x_val, maxlen=maxlen)

model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=32, epochs=2, validation_data=(x_val, y_val), verbose=2)
model.summary()
