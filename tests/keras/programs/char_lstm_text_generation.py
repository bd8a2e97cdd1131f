"""Character-level text generation with one LSTM, in the manner of keras.io's example (fchollet).

Written for rnnkit's tests in Keras' style: the keras.io example reads Nietzsche through
keras.utils.get_file and trains 40 epochs; this program reads the first 100,000 characters of
Shakespeare from rnnkit's dataset cache, trains 3 epochs with a tenth held out, and samples 100
characters at two temperatures after each.
"""
import random
import sys

import numpy as np

import rnnkit.datasets
from rnnkit import keras
from rnnkit.keras import layers

text = rnnkit.datasets.load("tinyshakespeare", split="all")[:100_000].lower()
print("corpus length:", len(text))

chars = sorted(list(set(text)))
print("total chars:", len(chars))
char_indices = dict((c, i) for i, c in enumerate(chars))
indices_char = dict((i, c) for i, c in enumerate(chars))

# cut the text in semi-redundant sequences of maxlen characters
maxlen = 40
step = 3
sentences = []
next_chars = []
for i in range(0, len(text) - maxlen, step):
    sentences.append(text[i: i + maxlen])
    next_chars.append(text[i + maxlen])
print("nb sequences:", len(sentences))

x = np.zeros((len(sentences), maxlen, len(chars)), dtype=bool)
y = np.zeros((len(sentences), len(chars)), dtype=bool)
for i, sentence in enumerate(sentences):
    for t, char in enumerate(sentence):
        x[i, t, char_indices[char]] = 1
    y[i, char_indices[next_chars[i]]] = 1

model = keras.Sequential([
    keras.Input(shape=(maxlen, len(chars))),
    layers.LSTM(128),
    layers.Dense(len(chars), activation="softmax"),
])
optimizer = keras.optimizers.RMSprop(learning_rate=0.01)
model.compile(loss="categorical_crossentropy", optimizer=optimizer)


def sample(preds, temperature=1.0):
    # helper function to sample an index from a probability array
    preds = np.asarray(preds).astype("float64")
    preds = np.log(preds) / temperature
    exp_preds = np.exp(preds)
    preds = exp_preds / np.sum(exp_preds)
    probas = np.random.multinomial(1, preds, 1)
    return np.argmax(probas)


keras.utils.set_random_seed(1)
epochs = 3
batch_size = 128
losses, val_losses, samples = [], [], []

for epoch in range(epochs):
    history = model.fit(x, y, batch_size=batch_size, epochs=1, validation_split=0.1, verbose=2)
    losses += history.history["loss"]
    val_losses += history.history["val_loss"]

    print("Generating text after epoch: %d" % epoch)
    start_index = random.randint(0, len(text) - maxlen - 1)
    for diversity in [0.2, 1.0]:
        print("----- diversity:", diversity)
        generated = ""
        sentence = text[start_index: start_index + maxlen]
        print('----- Generating with seed: "' + sentence + '"')

        for i in range(100):
            x_pred = np.zeros((1, maxlen, len(chars)))
            for t, char in enumerate(sentence):
                x_pred[0, t, char_indices[char]] = 1.0
            preds = model.predict(x_pred, verbose=0)[0]
            next_index = sample(preds, diversity)
            next_char = indices_char[next_index]
            sentence = sentence[1:] + next_char
            generated += next_char
        sys.stdout.write(generated + "\n")
        samples.append(generated)
