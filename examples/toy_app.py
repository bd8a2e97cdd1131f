"""A whole app on the framework: next value of a sine wave (config, recipe hooks, data, command)."""
from dataclasses import dataclass

import numpy as np

from rnnkit import Sequential
from rnnkit.apps import App, AppConfig, Command, Recipe, setting, train_run
from rnnkit.layers import LSTM, Dense
from rnnkit.optimizers import Adam


@dataclass
class WaveConfig(AppConfig):  # each setting once: type, default, help, bounds -> checks, config.json, CLI
    lookback: int = setting(16, help="values read per forecast", min=2)
    units: int = setting(8, help="LSTM units", min=1)
    epochs: int | None = setting(3, help="training epochs", min=1, group="budget")
    time_budget: float | None = setting(None, help="training seconds", gt=0, group="budget")
    learning_rate: float = setting(0.01, help="Adam's step", gt=0, flag="--lr")
    seed: int = setting(0, help="seed of every generator")
    out: str | None = setting(None, help="run folder (default runs/wave-<time>)")


class WaveRecipe(Recipe):  # the hooks; train_run does run folder, seed, fit, best weights, metrics, plots
    name, config = "wave", WaveConfig

    def prepare(self, cfg, saved, print_fn):  # the data: windows (N, lookback, 1) -> next value (N, 1)
        wave = np.sin(np.arange(400) * 0.3).astype(np.float32)
        idx = np.arange(len(wave) - cfg.lookback)[:, None] + np.arange(cfg.lookback + 1)
        x, y = wave[idx][:, :-1, None], wave[idx][:, -1:]
        return cfg, {"train": (x[:300], y[:300]), "valid": (x[300:], y[300:])}

    def build(self, cfg, data):
        model = Sequential([LSTM(cfg.units, input_size=1), Dense(1, input_size=cfg.units)])
        model.compile(optimizer=Adam(learning_rate=cfg.learning_rate), loss="mse")
        return model

    def fit_data(self, cfg, data):
        x, y = data["train"]
        return dict(x=x, y=y, batch_size=32, validation_data=data["valid"])

    def evaluate(self, cfg, data, fitted, print_fn):
        x, y = data["valid"]
        return {"val_mse": float(((fitted.model.predict(x) - y) ** 2).mean()), **fitted.figures()}


def train(config=None, **settings):
    return train_run(WaveRecipe(), WaveConfig.of(config, **settings), print_fn=None, verbose=0)


APP = App("wave", "next value of a sine wave", [Command("train", "train into a run folder", WaveConfig, train)])
