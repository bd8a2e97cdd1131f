"""The "abcde" next-letter SimpleRNN: four one-hot letters in, the letter that follows out.

The classic Keras seed program (Peking University's TensorFlow course, rnn_onehot_4pre1),
as a Keras 3 user writes it; only the two import lines differ from the Keras program.
The course reads the test letters with input(); here they are listed.
"""
import os

import numpy as np

from rnnkit import keras
from rnnkit.keras.layers import Dense, SimpleRNN

input_word = "abcde"
w_to_id = {"a": 0, "b": 1, "c": 2, "d": 3, "e": 4}  # letters to ids

x_train = [
    [w_to_id["a"], w_to_id["b"], w_to_id["c"], w_to_id["d"]],
    [w_to_id["b"], w_to_id["c"], w_to_id["d"], w_to_id["e"]],
    [w_to_id["c"], w_to_id["d"], w_to_id["e"], w_to_id["a"]],
    [w_to_id["d"], w_to_id["e"], w_to_id["a"], w_to_id["b"]],
    [w_to_id["e"], w_to_id["a"], w_to_id["b"], w_to_id["c"]],
]
y_train = [w_to_id["e"], w_to_id["a"], w_to_id["b"], w_to_id["c"], w_to_id["d"]]

np.random.seed(7)
np.random.shuffle(x_train)
np.random.seed(7)
np.random.shuffle(y_train)
keras.utils.set_random_seed(7)

# one-hot letters; SimpleRNN wants [samples, time steps, features per step]
x_train = keras.utils.to_categorical(x_train, num_classes=5)
x_train = np.reshape(x_train, (len(x_train), 4, 5))
y_train = np.array(y_train)

model = keras.Sequential([
    SimpleRNN(3),
    Dense(5, activation="softmax"),
])

model.compile(optimizer=keras.optimizers.Adam(0.01),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=False),
              metrics=["sparse_categorical_accuracy"])

checkpoint_save_path = "./checkpoint/rnn_onehot_4pre1.weights.h5"

if os.path.exists(checkpoint_save_path):
    print("-------------load the model-----------------")
    model.load_weights(checkpoint_save_path)

cp_callback = keras.callbacks.ModelCheckpoint(filepath=checkpoint_save_path,
                                              save_weights_only=True,
                                              save_best_only=True,
                                              monitor="loss")  # no test set: keep the weights with the lowest loss

history = model.fit(x_train, y_train, batch_size=32, epochs=100, callbacks=[cp_callback])

model.summary()

acc = history.history["sparse_categorical_accuracy"]
loss = history.history["loss"]

predictions = {}
for alphabet1 in ["abcd", "bcde", "cdea", "deab", "eabc"]:
    alphabet = [w_to_id[a] for a in alphabet1]
    alphabet = keras.utils.to_categorical(alphabet, num_classes=5)
    alphabet = np.reshape(alphabet, (1, 4, 5))
    result = model.predict([alphabet])
    pred = int(np.argmax(result, axis=1)[0])
    predictions[alphabet1] = input_word[pred]
    print(alphabet1 + "->" + input_word[pred])
