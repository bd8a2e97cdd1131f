"""The app framework: settings, messages in the caller's vocabulary, the generated CLI, run folders, the README's toy app."""
import argparse
import importlib
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.apps.framework import AppConfig, add_options, cli_vocabulary, options_from_args, setting
from rnnkit.errors import ConfigError

ROOT = Path(__file__).parent.parent.parent


@dataclass
class _Toy(AppConfig):
    seq_len: int = setting(8, help="steps", min=1)
    rate: float = setting(0.1, help="step size", gt=0, lt=1, flag="--lr")
    cell: str = setting("lstm", choices=("lstm", "gru"))
    names: list[str] | None = setting(None, help="comma-separated")
    epochs: int | None = setting(5, min=1, group="budget")
    seconds: float | None = setting(None, gt=0, group="budget", parse=float)
    factors: list[float] = setting([0.5], help="numbers, comma-separated")
    sizes: list[int] | None = setting(None, help="whole numbers, comma-separated")


def test_messages_name_the_field_from_python_and_the_flag_from_the_cli():
    with pytest.raises(ConfigError, match=r"^`seq_len` must be a whole number >= 1, got 0$"):
        _Toy(seq_len=0)
    with pytest.raises(ConfigError, match=r"^`rate` must be a number in \(0, 1\), got 1.5$"):
        _Toy(rate=1.5)
    with cli_vocabulary(), pytest.raises(ConfigError, match=r"^--lr must be a number in \(0, 1\), got 1.5$"):
        _Toy(rate=1.5)
    with cli_vocabulary(), pytest.raises(ConfigError, match=r"^--cell must be one of lstm, gru, got 'rnn'$"):
        _Toy(cell="rnn")
    with pytest.raises(ConfigError, match="`seq_len` must be a whole number"):
        _Toy(seq_len=2.5)  # not silently truncated


def test_generated_options_parse_types_groups_and_defaults():
    parser = argparse.ArgumentParser()
    add_options(parser, _Toy, defaults={"seq_len": 4})
    args = parser.parse_args(["--lr", "0.5", "--names", "a, b", "--seconds", "3"])
    values = options_from_args(_Toy, args, {"epochs": 7})
    assert values == {"epochs": None, "seconds": "3", "rate": 0.5, "names": ["a", "b"]}  # parsed by the config
    cfg = _Toy(**values)
    assert (cfg.seq_len, cfg.rate, cfg.names, cfg.epochs, cfg.seconds) == (8, 0.5, ["a", "b"], None, 3.0)
    with pytest.raises(SystemExit):  # the budget group: one of them
        parser.parse_args(["--epochs", "2", "--seconds", "3"])
    with cli_vocabulary(), pytest.raises(ConfigError, match=r"^--seq-len must be a whole number, got 'x'$"):
        options_from_args(_Toy, parser.parse_args(["--seq-len", "x"]))


def test_cli_refusals_are_one_line(one_line_error):
    assert "--seq-len must be a whole number" in one_line_error(["textgen", "train", "--seq-len", "x"])
    assert "unrecognized arguments: --nope" in one_line_error(["forecast", "predict", "--run", "r", "--nope"])
    # an abbreviation is refused, not taken for the option it starts (--text-column here)
    assert "unrecognized arguments: --text" in one_line_error(["classify", "predict", "--run", "r", "--text", "hi"])


def _readme_app_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Writing an app", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_toy_app_is_the_tested_example_and_its_run_reopens_without_the_app(tmp_path):
    source = (ROOT / "examples" / "toy_app.py").read_text(encoding="utf-8")
    assert _readme_app_block() == source  # the README shows the whole plumbing, verbatim
    spec = importlib.util.spec_from_file_location("toy_app", ROOT / "examples" / "toy_app.py")
    toy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(toy)
    run = tmp_path / "wave"
    metrics = toy.train(out=str(run), epochs=2)
    for name in ("config.json", "run.json", "metrics.csv", "metrics.json", "loss.png", "model.safetensors", "model.json"):
        assert (run / name).is_file(), name
    meta = json.loads((run / "run.json").read_text())
    assert meta["app"] == "wave" and meta["rnnkit"] == rnnkit.__version__ and meta["created"] and meta["command"]
    assert json.loads((run / "config.json").read_text())["config"]["lookback"] == 16
    # the whole model reopens with no app code; its validation error is recomputed with NumPy
    model = rnnkit.load_model(run)
    wave = np.sin(np.arange(400) * 0.3).astype(np.float32)
    idx = np.arange(400 - 16)[:, None] + np.arange(17)
    x, y = wave[idx][300:, :-1, None], wave[idx][300:, -1:]
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).numpy()
    assert float(((pred - y) ** 2).mean()) == pytest.approx(metrics["val_mse"], rel=1e-5)
    assert metrics["epochs"] == 2
    with pytest.raises(ConfigError, match="`lookback` must be a whole number >= 2, got 1"):
        toy.train(out=str(tmp_path / "bad"), lookback=1)


def _toy_app():
    spec = importlib.util.spec_from_file_location("toy_app", ROOT / "examples" / "toy_app.py")
    toy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(toy)
    return toy


def test_a_run_folder_that_failed_before_saving_weights_is_removed_so_its_out_starts_afresh(tmp_path, monkeypatch):
    toy = _toy_app()
    built = toy.WaveRecipe.build

    def broken(self, cfg, data):  # a model that cannot be built (the cnn-lstm's old pooling refused one-word batches)
        raise ConfigError("the model cannot be built")

    monkeypatch.setattr(toy.WaveRecipe, "build", broken)
    run = tmp_path / "wave"
    with pytest.raises(ConfigError, match="the model cannot be built"):
        toy.train(out=str(run), epochs=1)
    assert not run.exists()  # made by that call, holding no weights: gone
    existing = tmp_path / "mine"
    existing.mkdir()
    (existing / "notes.txt").write_text("keep")
    with pytest.raises(ConfigError, match="the model cannot be built"):
        toy.train(out=str(existing), epochs=1)
    assert (existing / "notes.txt").read_text() == "keep"  # a folder the user made stays, with what it held

    def after_weights(self, cfg, data):  # --pretrain-lm trains a language model into RUN/lm before the classifier
        (Path(cfg.out) / "lm").mkdir()
        (Path(cfg.out) / "lm" / "model.safetensors").write_bytes(b"weights")
        raise ConfigError("the classifier cannot be built")

    monkeypatch.setattr(toy.WaveRecipe, "build", after_weights)
    with pytest.raises(ConfigError, match="the classifier cannot be built"):
        toy.train(out=str(tmp_path / "lm-run"), epochs=1)
    assert (tmp_path / "lm-run" / "lm" / "model.safetensors").read_bytes() == b"weights"  # kept for --resume
    monkeypatch.setattr(toy.WaveRecipe, "build", built)
    assert toy.train(out=str(run), epochs=1)["epochs"] == 1  # the same --out again, no --resume needed


def test_any_app_with_an_ensemble_setting_and_hook_averages_its_members(tmp_path):
    from rnnkit.apps.framework import train_run
    from rnnkit.models import Ensemble

    toy = _toy_app()

    @dataclass
    class Config(toy.WaveConfig):
        ensemble: int = setting(1, help="models averaged", min=1)
        member: int | None = setting(None, cli=False, min=1)

    class NoHook(toy.WaveRecipe):
        config = Config

    with pytest.raises(ConfigError, match="wave models cannot be averaged as an ensemble"):
        train_run(NoHook(), Config(out=str(tmp_path / "refused"), ensemble=2), print_fn=None, verbose=0)
    assert not (tmp_path / "refused").exists()  # refused before any work

    class Averaged(NoHook):
        def ensemble(self, cfg, members):
            model = Ensemble(members)  # values: their plain mean
            model.compile(loss="mse")
            return model

    run = tmp_path / "wave"
    metrics = train_run(Averaged(), Config(out=str(run), ensemble=3, epochs=2), print_fn=None, verbose=0)
    x, y = toy.WaveRecipe().prepare(Config(), None, print)[1]["valid"]
    with torch.no_grad():
        each = np.stack([rnnkit.load_model(run / "members" / str(k))(torch.from_numpy(x)).numpy() for k in (1, 2, 3)])
        whole = rnnkit.load_model(run)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(whole, each.mean(axis=0), atol=1e-6)
    assert metrics["val_mse"] == pytest.approx(float(((each.mean(axis=0) - y) ** 2).mean()), rel=1e-5)
    assert [m["seed"] for m in metrics["members"]] == [0, 1, 2] and metrics["epochs"] == 6
    assert [m["val_mse"] for m in metrics["members"]] == [
        json.loads((run / "members" / str(k) / "metrics.json").read_text())["val_mse"] for k in (1, 2, 3)]


@pytest.mark.parametrize("app", ["classify", "forecast"])
def test_every_app_is_callable_with_keyword_settings_that_name_the_field(app):
    module = importlib.import_module(f"rnnkit.apps.{app}")
    with pytest.raises(ConfigError, match="`batch_size` must be a whole number >= 1, got 0"):
        module.train(batch_size=0)
    with pytest.raises(ConfigError, match="`learning_rate` must be positive"):
        module.train(learning_rate=-1.0)



def test_typed_lists_parse_their_items_and_refuse_others_in_one_line():
    parser = argparse.ArgumentParser()
    add_options(parser, _Toy)
    values = options_from_args(_Toy, parser.parse_args(["--factors", "0.9, 1.1", "--sizes", "64,32"]))
    assert values == {"factors": [0.9, 1.1], "sizes": [64, 32]}
    with cli_vocabulary(), pytest.raises(ConfigError, match=r"^--factors must be a number, got 'fast'$"):
        options_from_args(_Toy, parser.parse_args(["--factors", "0.9,fast"]))
    with cli_vocabulary(), pytest.raises(ConfigError, match=r"^--sizes must be a whole number, got '1.5'$"):
        options_from_args(_Toy, parser.parse_args(["--sizes", "1.5"]))
    for bad, match in ((["x"], "`factors` must hold numbers, got 'x'"), ([True], "got True"),
                       ([float("inf")], "got inf")):
        with pytest.raises(ConfigError, match=match):
            _Toy(factors=bad)
    with pytest.raises(ConfigError, match="`sizes` must hold whole numbers, got 2.5"):
        _Toy(sizes=[2.5])
    assert _Toy(factors=[1, 2.5]).factors == [1, 2.5]
