"""rnnkit demo mnist: its settings, its split of the images, and (slow) a small run that learns.

The full demo (3 minutes for the LSTM) is not run here; its figures are in the README, measured by the demo itself.
References: the images themselves (a split is checked by the bytes of its images, not by the code's indices), and a
model reopened with ``rnnkit.load_model`` and scored with NumPy.
"""
from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit import load_model
from rnnkit.apps.demo.mnist import MnistConfig, load_split, mnist
from rnnkit.datasets import load
from rnnkit.errors import ConfigError
from rnnkit.runs import read_csv

demo_mnist = importlib.import_module("rnnkit.apps.demo.mnist")  # the module (the package's `mnist` is the function)


def _test_images(shared_data):
    root = shared_data("mnist")
    if not (root / "mnist" / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"{root / 'mnist'} lacks t10k-images-idx3-ubyte.gz")
    return load("mnist", "test", download=False)


def _keys(x: np.ndarray, y: np.ndarray) -> set[bytes]:
    return {image.tobytes() + bytes([label]) for image, label in zip(x, y)}


# ---------------------------------------------------------------- settings
def test_settings_are_checked_in_the_callers_words():
    with pytest.raises(ConfigError, match="`models` must hold lstm and/or cnn, got 'gru'"):
        MnistConfig(models=["lstm", "gru"])
    with pytest.raises(ConfigError, match="`models` names a model twice"):
        MnistConfig(models=["cnn", "cnn"])
    with pytest.raises(ConfigError, match="give `time_budget` or `epochs`"):
        MnistConfig(time_budget=None)
    with pytest.raises(ConfigError, match="`lr_floor` must be a number in \\[0, 1\\]"):
        MnistConfig(lr_floor=2.0)
    cfg = MnistConfig(time_budget="90s")
    assert (cfg.budget("lstm"), cfg.budget("cnn")) == (90.0, 30.0)
    assert MnistConfig(cnn_time_budget="1m").budget("cnn") == 60.0
    assert MnistConfig(epochs=2).budget("lstm") is None


def test_command_line_errors_are_one_line(one_line_error):
    assert "--seconds must be positive" in one_line_error(["demo", "mnist", "--seconds", "0"])
    assert "not a duration" in one_line_error(["demo", "mnist", "--time-budget", "soon"])
    assert "not allowed with argument --seconds" in one_line_error(["demo", "mnist", "--seconds", "3", "--time-budget", "3m"])
    assert "must be one of shakespeare, alphabet, sine, vanishing, mnist, fashion-mnist, got 'cifar'" in one_line_error(
        ["demo", "cifar"])


# ---------------------------------------------------------------- the split
def test_test_images_split_is_disjoint_fixed_and_covers_every_digit(shared_data, monkeypatch):
    x, y = _test_images(shared_data)
    monkeypatch.setattr(demo_mnist, "in_cache", lambda name, split: False)  # as where the training images are absent
    said = []
    split = load_split(MnistConfig(), said.append)
    assert split.name == "test-images" and "rnnkit datasets fetch mnist" in said[0]
    assert split.x_train.shape == (8_000, 28, 28) and split.x_test.shape == (2_000, 28, 28)
    assert split.x_train.dtype == np.uint8 and split.y_train.dtype == np.uint8
    train, test = _keys(split.x_train, split.y_train), _keys(split.x_test, split.y_test)
    assert len(train) == 8_000 and len(test) == 2_000 and not train & test  # no image in both
    assert train | test == _keys(x, y)  # together: the 10,000 test images with their own labels
    assert set(np.unique(split.y_test)) == set(range(10)) and np.bincount(split.y_test).min() > 150
    again = load_split(MnistConfig(split="test-images"), said.append)
    other = load_split(MnistConfig(split="test-images", split_seed=1), said.append)
    assert np.array_equal(again.x_test, split.x_test) and not np.array_equal(other.x_test, split.x_test)
    small = load_split(MnistConfig(split="test-images", train_size=300, test_size=100), said.append)
    assert len(small.x_train) == 300 and len(small.x_test) == 100
    assert not _keys(small.x_train, small.y_train) & _keys(small.x_test, small.y_test)
    with pytest.raises(ConfigError, match="`train_size` 9,000 and `test_size` 2,000 make more than the 10,000 test images"):
        load_split(MnistConfig(split="test-images", train_size=9_000))


def test_official_split_trains_on_the_training_images_when_they_are_cached(monkeypatch):
    rng = np.random.default_rng(0)
    fake = {split: (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8))
            for split, n in (("train", 600), ("test", 100))}
    monkeypatch.setattr(demo_mnist, "in_cache", lambda name, split: True)
    monkeypatch.setattr(demo_mnist, "load", lambda name, split: fake[split])
    said = []
    split = load_split(MnistConfig(), said.append)
    assert split.name == "official" and said == []
    assert split.x_train is not fake["train"][0] and np.array_equal(split.x_train, fake["train"][0])
    assert np.array_equal(split.x_test, fake["test"][0]) and np.array_equal(split.y_test, fake["test"][1])
    part = load_split(MnistConfig(split="official", train_size=200), said.append)
    assert len(part.x_train) == 200 and _keys(part.x_train, part.y_train) <= _keys(*fake["train"])
    with pytest.raises(ConfigError, match="`test_size` 500 is more than the 100 images there are"):
        load_split(MnistConfig(split="official", test_size=500))


# ---------------------------------------------------------------- a small run (slow)
@pytest.mark.slow
def test_a_small_run_learns_and_writes_its_folder(shared_data, tmp_path, monkeypatch):
    _test_images(shared_data)
    monkeypatch.setattr(demo_mnist, "in_cache", lambda name, split: False)
    out = tmp_path / "run"
    printed: list[str] = []
    cfg = MnistConfig(train_size=500, test_size=300, epochs=15, batch_size=32, learning_rate=1e-2, out=str(out))
    metrics = mnist(cfg, printed.append)

    assert metrics["split"] == "test-images" and (metrics["train_size"], metrics["test_size"]) == (500, 300)
    assert metrics["lstm_test_accuracy"] > 0.8 and metrics["cnn_test_accuracy"] > 0.8  # chance: 0.1
    assert metrics["lstm_epochs"] == metrics["cnn_epochs"] == 15 and metrics["threads"] == 1
    # Keras' counts for LSTM(128) on 28 features + Dense(10), plus PyTorch's second bias vector (4 x 128)
    assert metrics["lstm_parameters"] == 4 * (128 * 28 + 128 * 128 + 128) + 4 * 128 + (128 * 10 + 10)
    assert metrics["cnn_parameters"] == (32 * 9 + 32) + (13 * 13 * 32 * 128 + 128) + (128 * 10 + 10)
    assert json.loads((out / "metrics.json").read_text()) == pytest.approx(metrics)
    assert MnistConfig.from_dict(json.loads((out / "config.json").read_text())["config"]) == cfg
    for name in ("accuracy.png", "loss.png", "lstm.safetensors", "cnn.safetensors", "mistakes_lstm.png"):
        assert (out / name).stat().st_size > 1_000, name

    rows = read_csv(out / "metrics.csv")
    assert rows[0] == ["model", "epoch", "seconds", "lr", "loss", "accuracy", "test_loss", "test_accuracy"]
    assert [r[0] for r in rows[1:]] == ["lstm"] * 15 + ["cnn"] * 15
    lstm_rows = [[float(v) for v in r[1:]] for r in rows[1:16]]
    assert lstm_rows[-1][1] == pytest.approx(metrics["lstm_train_seconds"], abs=0.01)
    assert lstm_rows[0][2] > lstm_rows[-1][2]  # the learning rate decays
    assert lstm_rows[-1][3] < lstm_rows[0][3] / 3  # the training loss falls

    # the saved models, reopened without the demo, score the held-out images as the run said
    split = load_split(cfg, lambda line: None)
    x = split.x_test.astype(np.float32) / 255
    for name, inputs in (("lstm", x), ("cnn", x[..., None])):
        model = load_model(str(out / f"{name}.safetensors"), compile=False)
        with torch.no_grad():
            predicted = model(torch.from_numpy(inputs)).numpy().argmax(axis=1)
        assert np.mean(predicted == split.y_test) == pytest.approx(metrics[f"{name}_test_accuracy"], abs=1e-9)
    assert float(rows[15][-1]) == pytest.approx(metrics["lstm_test_accuracy"], abs=1e-9)  # last epoch = reported
    assert any(line.startswith("LSTM over 28 rows") and "of 300" in line for line in printed)


@pytest.mark.slow
def test_the_command_keeps_each_models_time_budget(shared_data, tmp_path, monkeypatch, capsys):
    from rnnkit.cli import main

    _test_images(shared_data)
    monkeypatch.setattr(demo_mnist, "in_cache", lambda name, split: False)
    assert main(["demo", "mnist", "--time-budget", "3s", "--out", str(tmp_path / "run")]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    # training stops after the step that spends the budget: one step (< 0.5 s) past it at most
    assert 3.0 <= metrics["lstm_train_seconds"] < 3.5 and 1.0 <= metrics["cnn_train_seconds"] < 1.5
    assert (metrics["train_size"], metrics["test_size"]) == (8_000, 2_000)
    out = capsys.readouterr().out
    assert "8,000 of the 10,000 test images for training" in out and "small CNN" in out


@pytest.mark.slow
def test_the_readme_program_runs_as_written_and_reaches_the_goal(shared_data, capsys):
    """The README's Keras-style MNIST program (left out of tests/test_readme.py for its minute of training)."""
    _test_images(shared_data)
    text = (Path(__file__).parents[2] / "README.md").read_text()
    code = next(block for block in re.findall(r"```python\n(.*?)```", text, re.S) if 'load("mnist", "test")' in block)
    exec(compile(code, "README.md (mnist)", "exec"), {})
    accuracy = float(re.search(r"held-out accuracy ([\d.]+)%", capsys.readouterr().out).group(1))
    assert accuracy >= 97.0
