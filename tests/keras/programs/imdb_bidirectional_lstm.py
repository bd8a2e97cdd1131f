"""Bidirectional LSTM on IMDB sentiment, in the manner of keras.io's example (fchollet).

Written for rnnkit's tests in Keras' style, with keras.io's functional model; keras.io keeps
20,000 words, reads 200 per review, uses 128-wide embeddings and 64-unit LSTMs and trains 2 epochs
on all 25,000 reviews; this program keeps the 10,000 most frequent words, reads 120 per review,
halves the widths and trains 2 epochs on the first 5,000 training reviews, validated on 5,000
test reviews.
"""
from rnnkit import keras
from rnnkit.keras import layers

max_features = 10000  # only consider the top 10k words
maxlen = 120  # only consider 120 words of each movie review

keras.utils.set_random_seed(0)
# input for variable-length sequences of integers
inputs = keras.Input(shape=(None,), dtype="int32")
# embed each integer in a 64-dimensional vector
x = layers.Embedding(max_features, 64)(inputs)
# add 2 bidirectional LSTMs
x = layers.Bidirectional(layers.LSTM(32, return_sequences=True))(x)
x = layers.Bidirectional(layers.LSTM(32))(x)
# add a classifier
outputs = layers.Dense(1, activation="sigmoid")(x)
model = keras.Model(inputs, outputs)
model.summary()

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
