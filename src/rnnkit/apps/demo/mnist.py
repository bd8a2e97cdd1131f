r"""``rnnkit demo mnist``: an LSTM reads each digit row by row, a small CNN looks at it whole, side by side.

The classic first image example of recurrent networks: a 28 x 28 MNIST digit is
a sequence of 28 time steps, one per row, each a vector of the row's 28 pixels.
``LSTM(128)`` reads the rows top to bottom and its last state goes through
``Dense(10, softmax)``:

.. math::
    x_t = \text{row}_t / 255 \in [0, 1]^{28}, \quad h_t = \mathrm{LSTM}(x_t, h_{t-1}), \quad
    p(\text{digit} \mid \text{image}) = \mathrm{softmax}(W h_{28} + b).

Beside it, a small CNN of the seeds' kind on the same images and split:
``Conv2D(32, 3 x 3, relu)``, ``MaxPooling2D(2 x 2)``, ``Flatten``,
``Dense(128, relu)``, ``Dense(10, softmax)`` (the image as ``(28, 28, 1)``,
channels last).  Both are :class:`rnnkit.models.Sequential` models trained with
``compile``/``fit``: sparse categorical cross-entropy, Adam with the learning
rate cosine-decayed from ``learning_rate`` to ``lr_floor`` times it over each
model's time budget (or its epochs), batches of ``batch_size``.

The split.  With the official training images in the dataset cache
(``rnnkit datasets fetch mnist``), the models train on the 60,000 training
images and are scored on the 10,000 test images (``split='official'``).
Without them (the project's shared cache holds the test images only) they train
on 8,000 of the 10,000 test images and are scored on the other 2,000
(``split='test-images'``: a fixed permutation drawn from ``split_seed``; no image
is in both).  ``split='auto'`` (the default) takes the official split when its
files are in the cache and says which it took.  ``train_size`` / ``test_size``
take fewer (or, from the test images, other counts).

The held-out images are scored after every epoch for the curves in
``metrics.csv`` and ``accuracy.png``; nothing is chosen from those figures (no
early stopping, no best epoch): each model's test accuracy is that of its last
weights.  The settings were tuned on a validation split of the 8,000 training
images (6,500 / 1,500), not on the held-out 2,000.

Time: ``time_budget`` (default 3 minutes) is the LSTM's training time,
``cnn_time_budget`` the CNN's (default a third of it): only training batches
count (:class:`rnnkit.training.callbacks.TimeBudget`), not the scoring after
each epoch.  ``epochs`` trains each model that many epochs instead.  One CPU
thread by default (``threads``): a batch of 64 rows through 128 units is too
small to share between threads, and on a 2-core machine where something else
runs, OpenMP's waiting threads made a training step 5-10x slower with two
threads than with one (17-23 against 85-210 ms, measured for both models).

The run folder (``out``, default ``runs/mnist-<time>``): ``config.json``,
``metrics.csv`` (per model and epoch: seconds, learning rate, loss, accuracy,
test loss, test accuracy), ``metrics.json`` (``lstm_test_accuracy``,
``cnn_test_accuracy``, ``lstm_train_seconds``, ``cnn_train_seconds``, epochs,
parameters, the split and the CPU), ``accuracy.png`` and ``loss.png`` (both
models over their training seconds), ``mistakes_lstm.png`` /
``mistakes_cnn.png`` (held-out images each got wrong) and the whole models,
``lstm.safetensors`` / ``cnn.safetensors`` (:func:`rnnkit.load_model` reopens
them with no demo code).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..._kernels import cpu_level
from ...datasets import in_cache, load
from ...errors import ConfigError
from ...layers import LSTM, Conv2D, Dense, Flatten, MaxPooling2D
from ...models import Sequential
from ...plots import plot_images, plot_series
from ...random import set_seed
from ...runs import new_run_dir, parse_duration, write_config, write_csv, write_json
from ...training.callbacks import Callback
from ..framework import AppConfig, RunClock, cosine_schedule, setting

__all__ = ["MnistConfig", "mnist", "load_split", "lstm_model", "cnn_model", "MODELS", "Split"]

#: the two models, by the name the run folder uses, and how each sees an image
MODELS = ("lstm", "cnn")
_TITLES = {"lstm": "LSTM over 28 rows", "cnn": "small CNN"}
_CLASSES = {"mnist": [str(d) for d in range(10)],
            "fashion-mnist": ["T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                              "boot"]}


@dataclass
class MnistConfig(AppConfig):
    """Settings of ``rnnkit demo mnist`` (saved in the run folder's ``config.json``).

    >>> MnistConfig(models=["rnn"])
    Traceback (most recent call last):
    rnnkit.errors.ConfigError: `models` must hold lstm and/or cnn, got 'rnn'
    >>> MnistConfig(time_budget="2m").time_budget
    120.0
    """

    data: str = setting("mnist", help="the images", choices=("mnist", "fashion-mnist"))
    split: str = setting("auto", help="official: 60,000 training / 10,000 test images; test-images: 8,000 / 2,000 of "
                                      "the test images; auto: official where its files are in the cache",
                         choices=("auto", "official", "test-images"))
    train_size: int | None = setting(None, help="training images (default 8,000 of the test images, or all 60,000)",
                                     min=1)
    test_size: int | None = setting(None, help="held-out images scored (default the other 2,000, or all 10,000)",
                                    min=1)
    models: list[str] = setting(["lstm", "cnn"], help="the models trained, in this order", min=1, max=2)
    time_budget: float | None = setting(180.0, help="the LSTM's training time, e.g. 90s, 3m", gt=0, group="budget",
                                        parse=parse_duration)
    cnn_time_budget: float | None = setting(None, help="the CNN's training time (default a third of --time-budget)",
                                            gt=0, parse=parse_duration)
    epochs: int | None = setting(None, help="train each model this many epochs instead of for a time", min=1,
                                 group="budget")
    units: int = setting(128, help="units of the LSTM", min=1)
    batch_size: int = setting(64, help="images per training step", min=1)
    learning_rate: float = setting(3e-3, help="Adam's learning rate at the start", gt=0, flag="--lr")
    lr_floor: float = setting(0.05, help="the learning rate decays (half a cosine) to this fraction of it", min=0,
                              max=1)
    threads: int | None = setting(1, help="CPU threads (None: PyTorch's default, one per core)", min=1)
    split_seed: int = setting(0, help="seed of the test-images split")
    seed: int = setting(0, help="seed of the weights and the batch order")
    out: str | None = setting(None, help="run folder (default runs/mnist-<time>)")

    def validate(self) -> None:
        for name in self.models:
            if name not in MODELS:
                raise ConfigError(f"{self.option('models')} must hold lstm and/or cnn, got {name!r}")
        if len(set(self.models)) != len(self.models):
            raise ConfigError(f"{self.option('models')} names a model twice: {self.models}")
        if self.epochs is None and self.time_budget is None:
            raise ConfigError(f"give {self.option('time_budget')} or {self.option('epochs')}")

    def budget(self, model: str) -> float | None:
        """The training seconds of ``model`` (None: train ``epochs``)."""
        if self.epochs is not None:
            return None
        if model == "cnn":
            return self.cnn_time_budget or self.time_budget / 3
        return self.time_budget


@dataclass
class Split:
    """Training and held-out images (uint8, ``(N, 28, 28)``) with their labels, and which split they are."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str  # 'official' or 'test-images'

    def describe(self) -> str:
        if self.name == "official":
            return f"{len(self.x_train):,} training images, scored on {len(self.x_test):,} test images"
        return (f"{len(self.x_train):,} of the 10,000 test images for training, the other {len(self.x_test):,} "
                f"held out for scoring")


def load_split(cfg: MnistConfig, print_fn: Callable[[str], None] = print) -> Split:
    """The images ``cfg.split`` names (see the module docstring), from the dataset cache.

    ``'auto'`` takes the official split where its training files are in the cache
    and prints which split it took; ``'official'`` downloads what is missing.
    """
    split = cfg.split
    if split == "auto":
        split = "official" if in_cache(cfg.data, "train") else "test-images"
        if split == "test-images":
            print_fn(f"{cfg.data}: the training images are not in the dataset cache, so the models train on part of "
                     f"the test images (`rnnkit datasets fetch {cfg.data}` gets the official split)")
    x_test, y_test = load(cfg.data, "test")
    rng = np.random.default_rng(cfg.split_seed)
    if split == "official":
        x_train, y_train = load(cfg.data, "train")
        train = _take(rng, len(x_train), cfg.train_size, "train_size", cfg)
        test = _take(rng, len(x_test), cfg.test_size, "test_size", cfg)
        return Split(x_train[train], y_train[train], x_test[test], y_test[test], split)
    n_train, n_test = cfg.train_size or 8_000, cfg.test_size or 2_000
    if n_train + n_test > len(x_test):
        raise ConfigError(f"{cfg.option('train_size')} {n_train:,} and {cfg.option('test_size')} {n_test:,} make more "
                          f"than the {len(x_test):,} test images; lower them")
    order = rng.permutation(len(x_test))
    train, test = np.sort(order[:n_train]), np.sort(order[len(order) - n_test:])
    return Split(x_test[train], y_test[train], x_test[test], y_test[test], split)


def _take(rng: np.random.Generator, n: int, size: int | None, name: str, cfg: MnistConfig) -> np.ndarray:
    if size is None:
        return np.arange(n)
    if size > n:
        raise ConfigError(f"{cfg.option(name)} {size:,} is more than the {n:,} images there are")
    return np.sort(rng.permutation(n)[:size])


def lstm_model(units: int = 128) -> Sequential:
    """``LSTM(units)`` over the 28 rows of 28 pixels, then ``Dense(10, softmax)``: input ``(batch, 28, 28)``.

    >>> lstm_model()(torch.zeros(2, 28, 28)).shape
    torch.Size([2, 10])
    """
    return Sequential([LSTM(units, input_size=28, name="lstm"), Dense(10, activation="softmax", name="digit")])


def cnn_model() -> Sequential:
    """Conv2D(32, 3 x 3, relu), MaxPooling2D(2 x 2), Flatten, Dense(128, relu), Dense(10, softmax): input
    ``(batch, 28, 28, 1)``.

    >>> cnn_model()(torch.zeros(2, 28, 28, 1)).shape
    torch.Size([2, 10])
    """
    return Sequential([Conv2D(32, (3, 3), activation="relu", input_size=1, name="conv"), MaxPooling2D((2, 2), name="pool"),
                       Flatten(name="flatten"), Dense(128, activation="relu", name="hidden"),
                       Dense(10, activation="softmax", name="digit")])


def _inputs(model: str, images: np.ndarray) -> np.ndarray:
    """uint8 images as the model reads them: grey levels / 255, rows as time steps (LSTM) or one channel (CNN)."""
    x = images.astype(np.float32) / 255.0
    return x[..., None] if model == "cnn" else x


class _Epochs(Callback):
    """Keeps each epoch's figures (after the clock has added its seconds) and prints about ten lines per model."""

    _COLUMNS = ("seconds", "lr", "loss", "accuracy", "val_loss", "val_accuracy")

    def __init__(self, name: str, clock: RunClock, budget: float | None, epochs: int, print_fn: Callable[[str], None]):
        super().__init__()
        self.name, self.clock, self.budget, self.epochs, self.print_fn = name, clock, budget, epochs, print_fn
        self.rows: list[list[Any]] = []
        self._next = 0.0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self.rows.append([self.name, epoch + 1, *(logs.get(key, math.nan) for key in self._COLUMNS)])
        done = self.clock.elapsed / self.budget if self.budget else (epoch + 1) / self.epochs
        if done + 1e-9 >= self._next or self.model.stop_training:
            self._next = math.floor(done * 10 + 1e-9) / 10 + 0.1
            self.print_fn(f"  {self.name:<4} epoch {epoch + 1:3d}  loss {logs.get('loss', math.nan):.4f}  "
                          f"accuracy {logs.get('accuracy', math.nan):.2%}  held-out {logs.get('val_accuracy', math.nan):.2%}"
                          f"  ({self.clock.elapsed:.0f} s)")


def _train(name: str, cfg: MnistConfig, split: Split, run: Path, print_fn: Callable[[str], None]) -> dict[str, Any]:
    """Build, train and score one model; returns its figures and per-epoch rows."""
    set_seed(cfg.seed)
    model = lstm_model(cfg.units) if name == "lstm" else cnn_model()
    x_train, x_test = _inputs(name, split.x_train), _inputs(name, split.x_test)
    y_train, y_test = split.y_train.astype(np.int64), split.y_test.astype(np.int64)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], device="cpu")
    model(torch.from_numpy(x_train[:1]))  # builds the layers that size themselves at the first call
    budget = cfg.budget(name)
    epochs = cfg.epochs or 1_000_000
    clock = RunClock(budget, epochs, schedule=cosine_schedule(cfg.learning_rate, cfg.lr_floor))
    parameters = sum(p.numel() for p in model.parameters())
    print_fn(f"{name}: {_TITLES[name]}, {parameters:,} parameters, "
             + (f"{budget:.0f} s of training" if budget else f"{cfg.epochs} epochs"))
    recorder = _Epochs(name, clock, budget, epochs, print_fn)
    began = time.perf_counter()
    model.fit(x_train, y_train, batch_size=cfg.batch_size, epochs=epochs, verbose=0, shuffle=True,
              validation_data=(x_test, y_test), callbacks=[clock, recorder])
    wall = time.perf_counter() - began
    probs = model.predict(x_test, batch_size=500)
    predicted = probs.argmax(axis=1)
    accuracy = float((predicted == y_test).mean())
    model.save(str(run / f"{name}.safetensors"))
    _mistakes(name, cfg, split, predicted, run)
    return {"test_accuracy": accuracy, "train_seconds": round(clock.elapsed, 2), "wall_seconds": round(wall, 2),
            "epochs": len(recorder.rows), "parameters": parameters, "rows": recorder.rows}


def _mistakes(name: str, cfg: MnistConfig, split: Split, predicted: np.ndarray, run: Path, shown: int = 30) -> None:
    wrong = np.flatnonzero(predicted != split.y_test)[:shown]
    if len(wrong) == 0:
        return
    classes = _CLASSES[cfg.data]
    plot_images(run / f"mistakes_{name}.png", [split.x_test[i] for i in wrong],
                [f"{classes[split.y_test[i]]} as {classes[predicted[i]]}" for i in wrong],
                title=f"{_TITLES[name]}: held-out images it got wrong (true as predicted), the first {len(wrong)}")


def mnist(config: MnistConfig | None = None, print_fn: Callable[[str], None] = print) -> dict[str, Any]:
    """Train the LSTM and the CNN on the same split, one after the other, and write the run folder.

    Returns ``metrics.json``'s content: ``<model>_test_accuracy``,
    ``<model>_train_seconds``, ``<model>_wall_seconds``, ``<model>_epochs``,
    ``<model>_parameters`` for each model trained, and ``data``, ``split``,
    ``train_size``, ``test_size``, ``cpu``, ``threads``.
    """
    cfg = config or MnistConfig()
    cfg.check()
    threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _run(cfg, print_fn)
    finally:
        torch.set_num_threads(threads)  # the caller's setting back


def _run(cfg: MnistConfig, print_fn: Callable[[str], None]) -> dict[str, Any]:
    split = load_split(cfg, print_fn)
    run = new_run_dir(cfg.data, cfg.out)
    write_config(run, "demo-mnist", cfg.to_dict())
    print_fn(f"rnnkit demo mnist: {' and '.join(_TITLES[m] for m in cfg.models)} on {cfg.data}, side by side: "
             f"{split.describe()}")
    metrics: dict[str, Any] = {"data": cfg.data, "split": split.name, "train_size": len(split.x_train),
                               "test_size": len(split.x_test), "cpu": cpu_level(), "threads": torch.get_num_threads()}
    rows: list[list[Any]] = []
    for name in cfg.models:
        result = _train(name, cfg, split, run, print_fn)
        rows.extend(result.pop("rows"))
        metrics.update({f"{name}_{key}": value for key, value in result.items()})
    write_csv(run / "metrics.csv", ["model", "epoch", "seconds", "lr", "loss", "accuracy", "test_loss", "test_accuracy"],
              rows)
    write_json(run / "metrics.json", metrics)
    _plots(run, cfg, rows)
    for line in summary_table(metrics, cfg.models):
        print_fn(line)
    print_fn(f"run folder: {run}   figures: {run / 'metrics.json'}")
    return metrics


def summary_table(metrics: dict[str, Any], models: list[str]) -> list[str]:
    """The lines printed at the end: each model's held-out accuracy, training time and size.

    >>> m = {"test_size": 2000, "lstm_test_accuracy": 0.9815, "lstm_train_seconds": 180.0, "lstm_epochs": 80,
    ...      "lstm_parameters": 84234}
    >>> print("\\n".join(summary_table(m, ["lstm"])))
    model               held-out accuracy   training   epochs   parameters
    LSTM over 28 rows   98.15% of 2,000     180 s          80       84,234
    """
    lines = [f"{'model':<19} {'held-out accuracy':<19} {'training':<10} {'epochs':>6}   {'parameters':>10}"]
    for name in models:
        accuracy = f"{metrics[f'{name}_test_accuracy']:.2%} of {metrics['test_size']:,}"
        seconds = f"{metrics[f'{name}_train_seconds']:.0f} s"
        lines.append(f"{_TITLES[name]:<19} {accuracy:<19} {seconds:<10} {metrics[f'{name}_epochs']:>6}   "
                     f"{metrics[f'{name}_parameters']:>10,}")
    return lines


def _plots(run: Path, cfg: MnistConfig, rows: list[list[Any]]) -> None:
    by_model = {name: [r for r in rows if r[0] == name] for name in cfg.models}
    seconds = {_TITLES[n]: [r[2] for r in rs] for n, rs in by_model.items()}
    plot_series(run / "accuracy.png", {_TITLES[n]: [r[7] for r in rs] for n, rs in by_model.items()}, x=seconds,
                title=f"{cfg.data}: held-out accuracy after each epoch", xlabel="training seconds",
                ylabel="held-out accuracy")
    plot_series(run / "loss.png", {_TITLES[n]: [r[4] for r in rs] for n, rs in by_model.items()}, x=seconds,
                title=f"{cfg.data}: training loss per epoch", xlabel="training seconds", ylabel="cross-entropy")
