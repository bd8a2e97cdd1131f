"""Stacked LSTM(80)/Dropout/LSTM(100)/Dropout/Dense(1) regressor of the next day's opening price.

The classic Keras seed program (Peking University's TensorFlow course, class 6, p37 LSTM stock
prediction on Kweichow Moutai's daily prices), as a Keras 3 user writes it.  Only import lines
differ from the Keras program, and two stand-ins for packages rnnkit's tests do not need: the
CSV is read through rnnkit's dataset cache instead of pandas (the same 2,426 rows, column
"open"), and the errors are computed with NumPy instead of scikit-learn.  The plots are left out.
"""
import math
import os

import numpy as np

import rnnkit.datasets
from rnnkit import keras
from rnnkit.data import MinMaxScaler
from rnnkit.keras.layers import LSTM, Dense, Dropout

maotai = rnnkit.datasets.load("moutai", split="all")  # the course: pd.read_csv('./SH600519.csv')
open_prices = maotai["open"].reshape(-1, 1)
training_set = open_prices[0:2426 - 300]  # the first 2126 days train (the course: maotai.iloc[0:2426 - 300, 2:3].values)
test_set = open_prices[2426 - 300:]  # the last 300 days test

# scale to [0, 1] with the training days' range
sc = MinMaxScaler(feature_range=(0, 1))
training_set_scaled = sc.fit_transform(training_set)
test_set = sc.transform(test_set)

x_train = []
y_train = []
x_test = []
y_test = []

# 60 days in, the 61st day's opening price out
for i in range(60, len(training_set_scaled)):
    x_train.append(training_set_scaled[i - 60:i, 0])
    y_train.append(training_set_scaled[i, 0])
np.random.seed(7)
np.random.shuffle(x_train)
np.random.seed(7)
np.random.shuffle(y_train)
keras.utils.set_random_seed(7)
x_train, y_train = np.array(x_train), np.array(y_train)
# [samples, time steps, features per step]
x_train = np.reshape(x_train, (x_train.shape[0], 60, 1))

for i in range(60, len(test_set)):
    x_test.append(test_set[i - 60:i, 0])
    y_test.append(test_set[i, 0])
x_test, y_test = np.array(x_test), np.array(y_test)
x_test = np.reshape(x_test, (x_test.shape[0], 60, 1))

model = keras.Sequential([
    LSTM(80, return_sequences=True),
    Dropout(0.2),
    LSTM(100),
    Dropout(0.2),
    Dense(1),
])

model.compile(optimizer=keras.optimizers.Adam(0.001),
              loss="mean_squared_error")  # only the loss is watched: no metrics

checkpoint_save_path = "./checkpoint/LSTM_stock.weights.h5"

if os.path.exists(checkpoint_save_path):
    print("-------------load the model-----------------")
    model.load_weights(checkpoint_save_path)

cp_callback = keras.callbacks.ModelCheckpoint(filepath=checkpoint_save_path,
                                              save_weights_only=True,
                                              save_best_only=True,
                                              monitor="val_loss")

history = model.fit(x_train, y_train, batch_size=64, epochs=50, validation_data=(x_test, y_test), validation_freq=1,
                    callbacks=[cp_callback])

model.summary()

loss = history.history["loss"]
val_loss = history.history["val_loss"]

# predict the test days and go back to prices
predicted_stock_price = model.predict(x_test)
predicted_stock_price = sc.inverse_transform(predicted_stock_price)
real_stock_price = sc.inverse_transform(test_set[60:])

mse = np.mean((predicted_stock_price - real_stock_price) ** 2)  # the course: sklearn.metrics.mean_squared_error
rmse = math.sqrt(mse)
mae = np.mean(np.abs(predicted_stock_price - real_stock_price))  # the course: sklearn.metrics.mean_absolute_error
print("mean squared error: %.6f" % mse)
print("root mean squared error: %.6f" % rmse)
print("mean absolute error: %.6f" % mae)
